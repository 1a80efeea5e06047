// Package pdftest makes the PDF files that the tests of package pdfin and
// of package kit read: hand-made files, images stored in their many ways,
// and QR codes.
package pdftest

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"image"
	"testing"

	qrcode "github.com/skip2/go-qrcode"
)

// HandPDF builds a one-page PDF the way a careless program or a person
// with a text editor might: objects numbered from 1 in the order given,
// and a cross-reference table whose offsets are all wrong, which the
// reader must not need. Object 1 must be the catalog.
func HandPDF(objs ...string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	for i, o := range objs {
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for range objs {
		b.WriteString("0000000001 00000 n \n")
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n1\n%%%%EOF\n", len(objs)+1)
	return b.Bytes()
}

// Stream is a stream object with a correct direct /Length.
func Stream(dict string, data []byte) string {
	return fmt.Sprintf("<< %s /Length %d >>\nstream\n%s\nendstream", dict, len(data), data)
}

// ImagePDF is a hand-made PDF whose page shows one image, object 4;
// extra objects are numbered from 6.
func ImagePDF(imageDict string, data []byte, extra ...string) []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Resources << /XObject << /Im0 4 0 R >> >> /Contents 5 0 R >>",
		Stream("/Type /XObject /Subtype /Image "+imageDict, data),
		Stream("", []byte("q 200 0 0 200 0 0 cm /Im0 Do Q")),
	}
	return HandPDF(append(objs, extra...)...)
}

// Zlib compresses b with zlib, as PDF's /FlateDecode filter stores it.
func Zlib(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// PackBits packs a black and white gray image at one bit a pixel, 1 for
// white unless invert.
func PackBits(g *image.Gray, invert bool) []byte {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	stride := (w + 7) / 8
	out := make([]byte, stride*h)
	for y := range h {
		for x := range w {
			if (g.Pix[y*g.Stride+x] >= 128) != invert {
				out[y*stride+x/8] |= 0x80 >> (x % 8)
			}
		}
	}
	return out
}

// QR draws a QR code of text as a black and white gray image, pxPerModule
// pixels a module, as package kit draws the kit's.
func QR(t testing.TB, text string, pxPerModule int) *image.Gray {
	t.Helper()
	q, err := qrcode.New(text, qrcode.High)
	if err != nil {
		t.Fatal(err)
	}
	bits := q.Bitmap()
	n := len(bits) * pxPerModule
	img := image.NewGray(image.Rect(0, 0, n, n))
	for y := range n {
		row := bits[y/pxPerModule]
		for x := range n {
			if !row[x/pxPerModule] {
				img.Pix[y*img.Stride+x] = 0xff
			}
		}
	}
	return img
}
