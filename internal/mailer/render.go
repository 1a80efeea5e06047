package mailer

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"strings"
	"time"

	"github.com/keyhold/keyhold/internal/kitmail"
)

// compose makes the whole mail from a payload the device sealed: the
// mailer adds only the outer headers (From, To, the fixed Subject, Date,
// Message-ID) and the MIME structure the kind needs. It never reads or
// changes what is inside the payload:
//
//   - pgp: the payload is the armored PGP/MIME ciphertext of the whole
//     inner body, put as it is (with CRLF line ends) into the
//     application/octet-stream part of RFC 3156's multipart/encrypted.
//   - age: the fixed text kitmail.BodyFor("age") and the payload
//     attached as kit.pdf.age.
//   - plain: the fixed text kitmail.BodyFor("plain") and the payload,
//     the kit PDF, attached as kit.pdf.
//
// The caller owns the result and wipes it.
func (s *Server) compose(to, kind string, payload []byte, now time.Time) ([]byte, error) {
	out := new(bytes.Buffer)
	// Base64 grows data by 4/3 and line breaks add 2 in 76. Growing the
	// buffer once leaves no stray copies of a smaller one behind.
	out.Grow(24<<10 + len(payload)*140/100)
	head := s.headers(to, now)
	var err error
	switch kind {
	case kitmail.KindPGP:
		err = writeEncrypted(out, head, payload)
	case kitmail.KindAge:
		err = kitmail.WriteMixed(out, head, kitmail.BodyFor(kitmail.KindAge),
			[]kitmail.Attachment{{Name: kitmail.AgeName, Type: "application/octet-stream", Data: payload}})
	case kitmail.KindPlain:
		err = kitmail.WriteMixed(out, head, kitmail.BodyFor(kitmail.KindPlain),
			[]kitmail.Attachment{{Name: kitmail.PDFName, Type: "application/pdf", Data: payload}})
	default:
		err = errors.New("unknown kind")
	}
	if err != nil {
		clear(out.Bytes())
		return nil, err
	}
	return out.Bytes(), nil
}

// headers are the outer headers of every kit mail. None says anything
// about the kit or the account.
func (s *Server) headers(to string, now time.Time) []kitmail.Header {
	var id [16]byte
	rand.Read(id[:])
	domain := s.cfg.From[strings.LastIndexByte(s.cfg.From, '@')+1:]
	return []kitmail.Header{
		{Key: "From", Value: s.cfg.From},
		{Key: "To", Value: to},
		{Key: "Subject", Value: Subject},
		{Key: "Date", Value: now.Format(time.RFC1123Z)},
		{Key: "Message-ID", Value: "<" + hex.EncodeToString(id[:]) + "@" + domain + ">"},
		{Key: "Auto-Submitted", Value: "auto-generated"},
		{Key: "MIME-Version", Value: "1.0"},
	}
}

// writeEncrypted writes the outer PGP/MIME message of RFC 3156 §4: a
// multipart/encrypted with the version part and the armored ciphertext
// the device made.
func writeEncrypted(w io.Writer, head []kitmail.Header, armored []byte) error {
	mw := multipart.NewWriter(w)
	ct := mime.FormatMediaType("multipart/encrypted", map[string]string{
		"protocol": "application/pgp-encrypted", "boundary": mw.Boundary()})
	if err := kitmail.WriteHeaders(w, append(head[:len(head):len(head)], kitmail.Header{Key: "Content-Type", Value: ct})); err != nil {
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
	// Armor may end lines in LF or CRLF; a mail's lines end in CRLF.
	a := bytes.ReplaceAll(armored, []byte("\r\n"), []byte("\n"))
	if _, err := p.Write(bytes.ReplaceAll(a, []byte("\n"), []byte("\r\n"))); err != nil {
		return err
	}
	return mw.Close()
}
