package mailertest

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
)

// Part is a leaf of a mail's MIME tree, transfer-decoded.
type Part struct {
	Type     string // media type, lower case
	Params   map[string]string
	Filename string // from Content-Disposition
	Body     []byte
}

// Parse reads a mail (or a bare MIME entity) and returns its headers, the
// media types of its multiparts in the order met, and its leaf parts in
// order.
func Parse(t testing.TB, raw []byte) (mail.Header, []string, []Part) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not a mail message: %v", err)
	}
	var multis []string
	var leaves []Part
	walk(t, m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), "", m.Body, &multis, &leaves)
	return m.Header, multis, leaves
}

func walk(t testing.TB, ctype, cte, disp string, r io.Reader, multis *[]string, leaves *[]Part) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		t.Fatalf("bad Content-Type %q: %v", ctype, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		*multis = append(*multis, mt)
		mr := multipart.NewReader(r, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatalf("reading %s: %v", mt, err)
			}
			walk(t, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p.Header.Get("Content-Disposition"), p, multis, leaves)
		}
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	switch strings.ToLower(cte) {
	case "base64":
		b, err = io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(b)))
	case "quoted-printable":
		b, err = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(b)))
	}
	if err != nil {
		t.Fatalf("decoding a %s part: %v", mt, err)
	}
	p := Part{Type: mt, Params: params, Body: b}
	if _, dp, err := mime.ParseMediaType(disp); err == nil {
		p.Filename = dp["filename"]
	}
	*leaves = append(*leaves, p)
}
