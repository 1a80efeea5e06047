// Package kitmail is what a recovery kit mail says and how the device
// seals it before it leaves (docs/MAILER.md). The device renders the kit
// (internal/kit) and seals it here: for OpenPGP the whole inner MIME body
// (texts and attachments) is encrypted (PGP/MIME, RFC 3156), so the
// mailer can neither read the kit nor change what the user reads; for age
// the kit PDF becomes one age file, sent with a fixed text the mailer
// holds (Body). keyhold-mailer uses the same texts and MIME writers to
// wrap a payload with outer headers; nothing here reads a kit, so the
// mailer may import it.
package kitmail

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
)

// Attachment names. With age the attachment is the age file of the PDF.
const (
	PDFName = "kit.pdf"
	PNGName = "kit.png"
	AgeName = PDFName + ".age"
	// Subject is the subject of every kit mail. It is neutral on purpose:
	// it travels in the clear even when the body is encrypted.
	Subject = "Your Keyhold recovery kit"
)

// Kinds of kit mail, as the API names them (mailticket.Kind's names).
const (
	KindPlain = "plain"
	KindPGP   = "pgp"
	KindAge   = "age"
)

// Header is one header field, written in order.
type Header struct{ Key, Value string }

// WriteHeaders writes hs and the blank line that ends a header.
func WriteHeaders(w io.Writer, hs []Header) error {
	var b strings.Builder
	for _, h := range hs {
		b.WriteString(h.Key + ": " + h.Value + "\r\n")
	}
	b.WriteString("\r\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// Attachment is a file of the mail.
type Attachment struct {
	Name, Type string
	Data       []byte
}

// WriteMixed writes a multipart/mixed entity: head (plus its Content-Type),
// then a multipart/alternative of the text and HTML bodies, then the
// attachments, base64-encoded.
func WriteMixed(w io.Writer, head []Header, b Body, atts []Attachment) error {
	mw := multipart.NewWriter(w)
	ct := mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": mw.Boundary()})
	if err := WriteHeaders(w, append(head[:len(head):len(head)], Header{"Content-Type", ct})); err != nil {
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
	for _, t := range []struct{ ctype, text string }{{"text/plain", b.Text()}, {"text/html", b.HTML()}} {
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
			"Content-Type":              {mime.FormatMediaType(a.Type, map[string]string{"name": a.Name})},
			"Content-Disposition":       {mime.FormatMediaType("attachment", map[string]string{"filename": a.Name})},
			"Content-Transfer-Encoding": {"base64"},
		})
		if err != nil {
			return err
		}
		if err := WriteBase64(ap, a.Data); err != nil {
			return err
		}
	}
	return mw.Close()
}

// WriteBase64 writes data in base64, 76 characters a line (RFC 2045).
func WriteBase64(w io.Writer, data []byte) error {
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
// signature, since the device has no OpenPGP key of its own whose signature
// would mean anything to the reader.
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

// Body is the mail's text, written once and shown as plain text and as
// HTML. It is fixed in the code for each kind: no request chooses it.
type Body struct{ blocks []block }

// block is a paragraph, a heading, a command or a list item.
type block struct {
	kind byte // 'h' heading, 'p' paragraph, 'c' command, 'l' list item
	text string
}

// BodyFor is the text of a kit mail of kind (KindPlain, KindPGP or
// KindAge).
func BodyFor(kind string) Body {
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
	case KindPGP:
		bs = append(bs,
			p("This email was encrypted to your OpenPGP key on your device: only that key's holder can read it, not the mailer or the mail servers in between. Attached:"),
			l(PDFName+": the printable kit (account id, Secret Key, and the setup code with its QR code);"),
			l(PNGName+": the QR code alone."))
	case KindAge:
		bs = append(bs,
			p("The kit is attached encrypted with age on your device, to the recipient you gave: the mailer and the mail servers in between cannot read it. Attached:"),
			l(AgeName+": the printable kit (account id, Secret Key, and the setup code with its QR code)."),
			p("Decrypt it with the identity (private key) that matches that recipient:"),
			c("age --decrypt -i YOUR-IDENTITY-FILE -o "+PDFName+" "+AgeName))
	default:
		bs = append(bs,
			p("This email is NOT encrypted: it was sent this way because it was asked for with keyhold kit --unencrypted. Attached:"),
			l(PDFName+": the printable kit (account id, Secret Key, and the setup code with its QR code)."))
	}
	bs = append(bs,
		p("Your password is NOT in this kit. The kit alone does not open your vault: it takes the kit and your password together. "+
			"Never keep your password with the kit, and never send it by email."),
	)
	if kind == KindPlain {
		bs = append(bs, p("Print the PDF and keep it somewhere safe, such as a locked drawer. Then delete this email and empty the trash: "+
			"anyone who can read this mailbox can read the kit."))
	} else {
		bs = append(bs, p("Print the PDF and keep it somewhere safe, such as a locked drawer. Then delete the decrypted files."))
	}
	bs = append(bs,
		p("To set up a new device, run:"),
		c("keyhold setup --kit "+PDFName),
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
	return Body{bs}
}

// Text renders the body as plain text, wrapped at 72 columns.
func (b Body) Text() string {
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

// HTML renders the body as a small self-contained HTML page.
func (b Body) HTML() string {
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

// MaxPGPKey bounds an OpenPGP public key file (--encrypt-to): a key with
// a few subkeys and signatures.
const MaxPGPKey = 96 << 10

// ReadPGPKey reads one OpenPGP public key, armored or binary, that can
// encrypt at now. Errors describe the problem without repeating the key.
func ReadPGPKey(b []byte, now time.Time) (*openpgp.Entity, error) {
	if len(b) > MaxPGPKey {
		return nil, fmt.Errorf("the OpenPGP key file is larger than %d KiB; export only the public key (gpg --export ADDRESS)", MaxPGPKey>>10)
	}
	if bytes.Contains(b, []byte("PRIVATE KEY")) {
		return nil, errors.New("this is a private key: give the public key (gpg --armor --export ADDRESS), and keep the private key to yourself")
	}
	var el openpgp.EntityList
	var err error
	if bytes.Contains(b, []byte("-----BEGIN PGP")) {
		if n := bytes.Count(b, []byte("-----BEGIN PGP")); n > 1 {
			return nil, fmt.Errorf("the file holds %d armored blocks; give exactly one public key", n)
		}
		el, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(b))
	} else {
		el, err = openpgp.ReadKeyRing(bytes.NewReader(b))
	}
	if err != nil {
		return nil, errors.New("not an OpenPGP public key (gpg --armor --export ADDRESS makes one)")
	}
	if len(el) != 1 {
		return nil, fmt.Errorf("the file holds %d keys; give exactly one", len(el))
	}
	e := el[0]
	if e.PrivateKey != nil {
		return nil, errors.New("this is a private key: give the public key (gpg --armor --export ADDRESS)")
	}
	if _, ok := e.EncryptionKey(now); !ok {
		return nil, errors.New("the OpenPGP key has no valid encryption key (is it expired or revoked?)")
	}
	return e, nil
}

// Fingerprint is the key id a mail ticket binds for an OpenPGP key: its
// primary key's v4 (20 bytes) or v6 (32 bytes) fingerprint.
func Fingerprint(e *openpgp.Entity) []byte {
	return append([]byte(nil), e.PrimaryKey.Fingerprint...)
}

// SealPGP is the payload of a PGP/MIME kit mail: the whole inner MIME
// entity (BodyFor(KindPGP) as text and HTML, the kit PDF and its QR code
// PNG) encrypted to e and armored. The mailer puts it, unchanged but for
// line ends, into the application/octet-stream part of RFC 3156's
// multipart/encrypted.
func SealPGP(e *openpgp.Entity, pdf, png []byte) ([]byte, error) {
	atts := []Attachment{
		{Name: PDFName, Type: "application/pdf", Data: pdf},
		{Name: PNGName, Type: "image/png", Data: png},
	}
	size := 24<<10 + (len(pdf)+len(png))*140/100
	inner := new(bytes.Buffer)
	inner.Grow(size)
	defer func() { clear(inner.Bytes()[:inner.Cap()]) }()
	if err := WriteMixed(inner, nil, BodyFor(KindPGP), atts); err != nil {
		return nil, err
	}
	armored := new(bytes.Buffer)
	armored.Grow(inner.Len()*140/100 + 1024)
	if err := pgpEncrypt(armored, e, inner.Bytes()); err != nil {
		return nil, err
	}
	return armored.Bytes(), nil
}

// SealAge is the payload of an age kit mail: the kit PDF as an age file
// for r. The PDF holds the QR code too, so one file is all the user
// decrypts; the mailer attaches it as AgeName.
func SealAge(r age.Recipient, pdf []byte) ([]byte, error) {
	return ageEncrypt(r, pdf)
}

// Payload shapes the mailer checks before it relays anything, so that a
// payload of one kind is never sent as another.
var (
	pgpBegin = []byte("-----BEGIN PGP MESSAGE-----")
	pgpEnd   = []byte("-----END PGP MESSAGE-----")
	ageMagic = []byte("age-encryption.org/v1\n")
	pdfMagic = []byte("%PDF-")
)

// ErrPayload is a payload that is not of the shape its kind needs.
var ErrPayload = errors.New("the payload is not of its kind's shape")

// CheckPayload checks that payload has the shape of kind: an armored
// OpenPGP message (ASCII lines of at most 76 characters), an age file,
// or a PDF.
func CheckPayload(kind string, payload []byte) error {
	switch kind {
	case KindPGP:
		t := bytes.TrimRight(payload, "\r\n")
		if !bytes.HasPrefix(t, pgpBegin) || !bytes.HasSuffix(t, pgpEnd) {
			return fmt.Errorf("%w: an OpenPGP payload must be one armored message", ErrPayload)
		}
		for line := range bytes.SplitSeq(t, []byte("\n")) {
			line = bytes.TrimSuffix(line, []byte("\r"))
			if len(line) > 76 {
				return fmt.Errorf("%w: an armored line is longer than 76 characters", ErrPayload)
			}
			for _, c := range line {
				if c < ' ' || c > '~' {
					return fmt.Errorf("%w: an armored message holds only printable ASCII", ErrPayload)
				}
			}
		}
		return nil
	case KindAge:
		if !bytes.HasPrefix(payload, ageMagic) {
			return fmt.Errorf("%w: an age payload must be an age file", ErrPayload)
		}
		return nil
	case KindPlain:
		if !bytes.HasPrefix(payload, pdfMagic) {
			return fmt.Errorf("%w: a plain payload must be the kit PDF", ErrPayload)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown kind", ErrPayload)
}
