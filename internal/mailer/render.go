package mailer

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/kit"
)

// Attachment names. With age the attachments are the age files of these.
const (
	pdfName = "kit.pdf"
	pngName = "kit.png"
	ageExt  = ".age"
)

// encryption is how a kit mail is protected end to end, if at all.
type encryption struct {
	pgp *openpgp.Entity // PGP/MIME (RFC 3156) to this key
	age age.Recipient   // age-encrypted attachments
}

func (e encryption) kind() string {
	switch {
	case e.pgp != nil:
		return "pgp"
	case e.age != nil:
		return "age"
	}
	return "none"
}

// parseEncryption reads the request's OpenPGP public key or age
// recipient. Errors describe the problem without repeating the key.
func parseEncryption(req *api.MailSendRequest, now time.Time) (encryption, error) {
	switch {
	case req.PGPKey != "":
		if strings.Contains(req.PGPKey, "PRIVATE KEY") {
			return encryption{}, errors.New("pgp_key is a private key: send the public key (gpg --armor --export ADDRESS), and keep the private key to yourself")
		}
		if n := strings.Count(req.PGPKey, "-----BEGIN PGP"); n > 1 {
			return encryption{}, fmt.Errorf("pgp_key holds %d armored blocks; give exactly one public key", n)
		}
		el, err := openpgp.ReadArmoredKeyRing(strings.NewReader(req.PGPKey))
		if err != nil {
			return encryption{}, errors.New("pgp_key is not an armored OpenPGP public key (gpg --armor --export ADDRESS)")
		}
		if len(el) != 1 {
			return encryption{}, fmt.Errorf("pgp_key holds %d keys; give exactly one", len(el))
		}
		e := el[0]
		if e.PrivateKey != nil {
			return encryption{}, errors.New("pgp_key is a private key: send the public key (gpg --armor --export ADDRESS)")
		}
		if _, ok := e.EncryptionKey(now); !ok {
			return encryption{}, errors.New("pgp_key has no valid encryption key (is it expired or revoked?)")
		}
		return encryption{pgp: e}, nil
	case req.AgeRecipient != "":
		rs, err := age.ParseRecipients(strings.NewReader(req.AgeRecipient))
		if err != nil || len(rs) != 1 {
			return encryption{}, errors.New("age_recipient is not an age recipient (age1…; age-keygen -y prints it)")
		}
		return encryption{age: rs[0]}, nil
	}
	return encryption{}, nil
}

// render makes the whole mail for k: headers, text and HTML bodies, the
// kit PDF and QR PNG as the client makes them (internal/kit), protected
// as enc says. The caller owns the result and wipes it; render wipes its
// own intermediate buffers.
func (s *Server) render(k *kit.Kit, to, email string, enc encryption, now time.Time) ([]byte, error) {
	sheet := k.Sheet(email, now, secretKeyDisplay(k.SecretKey))
	pdf, err := kit.PDF(sheet)
	if err != nil {
		return nil, err
	}
	defer clear(pdf)
	png, err := kit.QRPNG(sheet.KitText, kit.QRImageSize)
	if err != nil {
		return nil, err
	}
	defer clear(png)

	atts := []attachment{
		{name: pdfName, ctype: "application/pdf", data: pdf},
		{name: pngName, ctype: "image/png", data: png},
	}
	if enc.age != nil {
		for i := range atts {
			c, err := ageEncrypt(enc.age, atts[i].data)
			if err != nil {
				return nil, err
			}
			atts[i] = attachment{name: atts[i].name + ageExt, ctype: "application/octet-stream", data: c}
		}
	}
	// Base64 grows data by 4/3 and line breaks add 2 in 76; armor the
	// same again. Growing the buffer once leaves no stray copies of a
	// smaller one behind.
	size := 24<<10 + (len(pdf)+len(png))*140/100

	out := new(bytes.Buffer)
	out.Grow(size)
	head := s.headers(to, now)
	if enc.pgp == nil {
		if err := writeMixed(out, head, bodyFor(enc.kind()), atts); err != nil {
			clear(out.Bytes())
			return nil, err
		}
		return out.Bytes(), nil
	}

	// PGP/MIME: the whole inner entity (bodies and attachments) is
	// encrypted; outside there is only the RFC 3156 structure.
	inner := new(bytes.Buffer)
	inner.Grow(size)
	defer func() { clear(inner.Bytes()[:inner.Cap()]) }()
	if err := writeMixed(inner, nil, bodyFor("pgp"), atts); err != nil {
		return nil, err
	}
	armored := new(bytes.Buffer)
	armored.Grow(inner.Len()*140/100 + 1024)
	if err := pgpEncrypt(armored, enc.pgp, inner.Bytes()); err != nil {
		return nil, err
	}
	if err := writeEncrypted(out, head, armored.Bytes()); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// header is one header field, written in order.
type header struct{ key, value string }

// headers are the outer headers of every kit mail. None says anything
// about the kit or the account.
func (s *Server) headers(to string, now time.Time) []header {
	var id [16]byte
	rand.Read(id[:])
	domain := s.cfg.From[strings.LastIndexByte(s.cfg.From, '@')+1:]
	return []header{
		{"From", s.cfg.From},
		{"To", to},
		{"Subject", Subject},
		{"Date", now.Format(time.RFC1123Z)},
		{"Message-ID", "<" + hex.EncodeToString(id[:]) + "@" + domain + ">"},
		{"Auto-Submitted", "auto-generated"},
		{"MIME-Version", "1.0"},
	}
}

func writeHeaders(w io.Writer, hs []header) error {
	var b strings.Builder
	for _, h := range hs {
		b.WriteString(h.key + ": " + h.value + "\r\n")
	}
	b.WriteString("\r\n")
	_, err := io.WriteString(w, b.String())
	return err
}

type attachment struct {
	name, ctype string
	data        []byte
}

// writeMixed writes a multipart/mixed entity: head (plus its Content-Type),
// then a multipart/alternative of the text and HTML bodies, then the
// attachments, base64-encoded.
func writeMixed(w io.Writer, head []header, b body, atts []attachment) error {
	mw := multipart.NewWriter(w)
	ct := mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": mw.Boundary()})
	if err := writeHeaders(w, append(head[:len(head):len(head)], header{"Content-Type", ct})); err != nil {
		return err
	}
	altBoundary := newBoundary()
	p, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type": {mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": altBoundary})},
	})
	if err != nil {
		return err
	}
	aw := multipart.NewWriter(p)
	if err := aw.SetBoundary(altBoundary); err != nil {
		return err
	}
	for _, t := range []struct{ ctype, text string }{{"text/plain", b.text()}, {"text/html", b.html()}} {
		tp, err := aw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {mime.FormatMediaType(t.ctype, map[string]string{"charset": "utf-8"})},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return err
		}
		qw := quotedprintable.NewWriter(tp)
		if _, err := io.WriteString(qw, t.text); err != nil {
			return err
		}
		if err := qw.Close(); err != nil {
			return err
		}
	}
	if err := aw.Close(); err != nil {
		return err
	}
	for _, a := range atts {
		ap, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {mime.FormatMediaType(a.ctype, map[string]string{"name": a.name})},
			"Content-Disposition":       {mime.FormatMediaType("attachment", map[string]string{"filename": a.name})},
			"Content-Transfer-Encoding": {"base64"},
		})
		if err != nil {
			return err
		}
		if err := writeBase64(ap, a.data); err != nil {
			return err
		}
	}
	return mw.Close()
}

// writeEncrypted writes the outer PGP/MIME message of RFC 3156 §4: a
// multipart/encrypted with the version part and the armored ciphertext.
func writeEncrypted(w io.Writer, head []header, armored []byte) error {
	mw := multipart.NewWriter(w)
	ct := mime.FormatMediaType("multipart/encrypted", map[string]string{
		"protocol": "application/pgp-encrypted", "boundary": mw.Boundary()})
	if err := writeHeaders(w, append(head[:len(head):len(head)], header{"Content-Type", ct})); err != nil {
		return err
	}
	if _, err := io.WriteString(w, "This is an OpenPGP/MIME encrypted message (RFC 3156).\r\n"); err != nil {
		return err
	}
	p, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":        {"application/pgp-encrypted"},
		"Content-Description": {"PGP/MIME version identification"},
	})
	if err != nil {
		return err
	}
	if _, err := io.WriteString(p, "Version: 1\r\n"); err != nil {
		return err
	}
	p, err = mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":        {mime.FormatMediaType("application/octet-stream", map[string]string{"name": "encrypted.asc"})},
		"Content-Description": {"OpenPGP encrypted message"},
		"Content-Disposition": {mime.FormatMediaType("inline", map[string]string{"filename": "encrypted.asc"})},
	})
	if err != nil {
		return err
	}
	// Armor uses bare LF; a mail's lines end in CRLF.
	if _, err := p.Write(bytes.ReplaceAll(armored, []byte("\n"), []byte("\r\n"))); err != nil {
		return err
	}
	return mw.Close()
}

// writeBase64 writes data in base64, 76 characters a line (RFC 2045).
func writeBase64(w io.Writer, data []byte) error {
	var line [78]byte
	defer clear(line[:])
	for len(data) > 0 {
		chunk := data[:min(57, len(data))]
		n := base64.StdEncoding.EncodedLen(len(chunk))
		base64.StdEncoding.Encode(line[:], chunk)
		line[n], line[n+1] = '\r', '\n'
		if _, err := w.Write(line[:n+2]); err != nil {
			return err
		}
		data = data[len(chunk):]
	}
	return nil
}

func newBoundary() string {
	var b [24]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// pgpEncrypt writes plaintext encrypted to e, armored: SEIPD version 1
// (no AEAD is configured, so every OpenPGP implementation reads it) with
// the AES variant e prefers, without compression and without a
// signature, since the mailer has no key whose signature would mean
// anything to the reader.
func pgpEncrypt(w io.Writer, e *openpgp.Entity, plaintext []byte) error {
	aw, err := armor.Encode(w, "PGP MESSAGE", nil)
	if err != nil {
		return err
	}
	pw, err := openpgp.Encrypt(aw, []*openpgp.Entity{e}, nil, &openpgp.FileHints{IsBinary: true}, nil)
	if err != nil {
		return fmt.Errorf("encrypting to the OpenPGP key: %w", err)
	}
	if _, err := pw.Write(plaintext); err != nil {
		return err
	}
	if err := pw.Close(); err != nil {
		return err
	}
	return aw.Close()
}

// ageEncrypt returns data as an age file (binary) for r.
func ageEncrypt(r age.Recipient, data []byte) ([]byte, error) {
	var out bytes.Buffer
	out.Grow(len(data) + len(data)/64<<4 + 4096)
	w, err := age.Encrypt(&out, r)
	if err != nil {
		return nil, fmt.Errorf("encrypting to the age recipient: %w", err)
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// body is the mail's text, written once and shown as plain text and as
// HTML. kind is "none", "age" or "pgp".
type body struct{ blocks []block }

// block is a paragraph, a heading, a command or a list item.
type block struct {
	kind byte // 'h' heading, 'p' paragraph, 'c' command, 'l' list item
	text string
}

func bodyFor(kind string) body {
	p := func(s string) block { return block{'p', s} }
	c := func(s string) block { return block{'c', s} }
	l := func(s string) block { return block{'l', s} }
	h := func(s string) block { return block{'h', s} }
	bs := []block{
		h("Your Keyhold recovery kit"),
		p("This email carries the recovery kit of your Keyhold account, sent because it was asked for from one of your devices. " +
			"With your password, the kit sets up Keyhold on a new device, or again on one that was reset."),
	}
	switch kind {
	case "pgp":
		bs = append(bs,
			p("This email was encrypted to your OpenPGP key: only that key's holder can read it, not the mail servers in between. Attached:"),
			l(pdfName+": the printable kit (account id, Secret Key, and the setup code with its QR code);"),
			l(pngName+": the QR code alone."))
	case "age":
		bs = append(bs,
			p("The kit is attached encrypted with age, to the recipient you gave: the mail servers in between cannot read it. Attached:"),
			l(pdfName+ageExt+": the printable kit (account id, Secret Key, and the setup code with its QR code);"),
			l(pngName+ageExt+": the QR code alone."),
			p("Decrypt them with the identity (private key) that matches that recipient:"),
			c("age --decrypt -i YOUR-IDENTITY-FILE -o "+pdfName+" "+pdfName+ageExt),
			c("age --decrypt -i YOUR-IDENTITY-FILE -o "+pngName+" "+pngName+ageExt))
	default:
		bs = append(bs,
			p("Attached:"),
			l(pdfName+": the printable kit (account id, Secret Key, and the setup code with its QR code);"),
			l(pngName+": the QR code alone."))
	}
	bs = append(bs,
		p("Your password is NOT in this kit. The kit alone does not open your vault: it takes the kit and your password together. "+
			"Never keep your password with the kit, and never send it by email."),
	)
	if kind == "none" {
		bs = append(bs, p("Print the PDF and keep it somewhere safe, such as a locked drawer. Then delete this email and empty the trash: "+
			"anyone who can read this mailbox can read the kit."))
	} else {
		bs = append(bs, p("Print the PDF and keep it somewhere safe, such as a locked drawer. Then delete the decrypted files."))
	}
	bs = append(bs,
		p("To set up a new device, run:"),
		c("keyhold setup --kit "+pdfName),
		h("Did you not expect this email?"),
		p("If you do not use Keyhold, or this is not your account: the kit was sent to you by mistake. Do not use it. "+
			"Delete this email, and if you know whose account it is, tell them."),
		p("If it is your account and you did not ask for this email, then someone with access to one of your devices, "+
			"with Keyhold unlocked, asked for it. On a device you trust, at once:"),
		l("keyhold account log: see when the kit was requested;"),
		l("keyhold devices list, then keyhold devices revoke DEVICE_ID for every device you do not recognise;"),
		l("keyhold passwd: change your password;"),
		l("keyhold rotate-key: make a new Secret Key, so that this kit stops working."),
	)
	return body{bs}
}

// text renders the body as plain text, wrapped at 72 columns.
func (b body) text() string {
	var sb strings.Builder
	for i, bl := range b.blocks {
		if i > 0 && !(bl.kind == 'l' && b.blocks[i-1].kind == 'l') && !(bl.kind == 'c' && b.blocks[i-1].kind == 'c') {
			sb.WriteString("\n")
		}
		switch bl.kind {
		case 'h':
			sb.WriteString(bl.text + "\n" + strings.Repeat("=", len([]rune(bl.text))) + "\n")
		case 'c':
			sb.WriteString("    " + bl.text + "\n")
		case 'l':
			sb.WriteString(wrap(bl.text, 72, "  - ", "    "))
		default:
			sb.WriteString(wrap(bl.text, 72, "", ""))
		}
	}
	return sb.String()
}

// html renders the body as a small self-contained HTML page.
func (b body) html() string {
	var sb strings.Builder
	sb.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + html.EscapeString(Subject) + "</title></head>\n")
	sb.WriteString("<body style=\"font-family: sans-serif; max-width: 40em; line-height: 1.4\">\n")
	inList := false
	for _, bl := range b.blocks {
		if inList && bl.kind != 'l' {
			sb.WriteString("</ul>\n")
			inList = false
		}
		t := html.EscapeString(bl.text)
		switch bl.kind {
		case 'h':
			sb.WriteString("<h2>" + t + "</h2>\n")
		case 'c':
			sb.WriteString("<pre>" + t + "</pre>\n")
		case 'l':
			if !inList {
				sb.WriteString("<ul>\n")
				inList = true
			}
			sb.WriteString("<li>" + t + "</li>\n")
		default:
			sb.WriteString("<p>" + t + "</p>\n")
		}
	}
	if inList {
		sb.WriteString("</ul>\n")
	}
	sb.WriteString("</body></html>\n")
	return sb.String()
}

// wrap breaks s into lines of at most width columns (longer words stay
// whole), the first prefixed with first and the rest with rest.
func wrap(s string, width int, first, rest string) string {
	var sb strings.Builder
	line := first
	empty := true
	for _, w := range strings.Fields(s) {
		if !empty && len([]rune(line))+1+len([]rune(w)) > width {
			sb.WriteString(line + "\n")
			line, empty = rest, true
		}
		if !empty {
			line += " "
		}
		line += w
		empty = false
	}
	sb.WriteString(line + "\n")
	return sb.String()
}

// secretKeyDisplay is the Secret Key's human form (SPEC §2), as the
// printed kit shows it.
func secretKeyDisplay(b [16]byte) string {
	sk := keys.SecretKey(b)
	defer sk.Wipe()
	return sk.Display()
}
