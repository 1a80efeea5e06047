package kit

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"codeberg.org/go-pdf/fpdf"

	"github.com/keyhold/keyhold/internal/kit/pdfin"
	"github.com/keyhold/keyhold/internal/kit/pdfin/pdftest"
)

// fpdfImagePDF makes a PDF, with the fpdf library, that shows only an
// image, which fpdf embeds its own way for each image type.
func fpdfImagePDF(t testing.TB, imageType string, img []byte, protect bool) []byte {
	t.Helper()
	pdf := fpdf.New("P", "mm", "A4", "")
	if protect {
		pdf.SetProtection(fpdf.CnProtectPrint, "", "owner password")
	}
	pdf.AddPage()
	opts := fpdf.ImageOptions{ImageType: imageType}
	pdf.RegisterImageOptionsReader("qr", opts, bytes.NewReader(img))
	pdf.ImageOptions("qr", 20, 20, 80, 80, false, opts, 0, "")
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// protectedTextPDF is textOnlyPDF protected with an owner password, and
// a user password if user is not empty.
func protectedTextPDF(t testing.TB, user, text string) []byte {
	t.Helper()
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetProtection(fpdf.CnProtectPrint, user, "owner password")
	pdf.AddPage()
	pdf.SetFont("Courier", "", 10)
	pdf.CellFormat(0, 8, text, "", 1, "L", false, 0, "")
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestDecodePDFOtherWriters reads kits from PDFs not made by PDF: images
// of the QR code as fpdf embeds them, encrypted PDFs that open without a
// password, and hand-made files with incremental updates and object
// streams.
func TestDecodePDFOtherWriters(t *testing.T) {
	k := testKits()[1]
	txt := k.Text()
	qr, err := qrGray(txt, 4)
	if err != nil {
		t.Fatal(err)
	}
	qrPNG, err := QRPNG(txt, 300) // paletted
	if err != nil {
		t.Fatal(err)
	}
	rgb := image.NewRGBA(qr.Rect)
	for i, v := range qr.Pix {
		copy(rgb.Pix[4*i:], []byte{v, v / 2, v, 255})
	}
	n := qr.Rect.Dx()
	dims := fmt.Sprintf("/Width %d /Height %d ", n, n)

	otherQR, err := qrGray("https://example.com/not-a-kit", 4)
	if err != nil {
		t.Fatal(err)
	}
	m := otherQR.Rect.Dx()
	update := func(base []byte, objs ...string) []byte {
		// An incremental update: objects redefined after the first
		// %%EOF, with a new trailer.
		var b bytes.Buffer
		b.Write(base)
		for _, o := range objs {
			b.WriteString(o + "\n")
		}
		b.WriteString("xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 7 /Root 1 0 R /Prev 1 >>\nstartxref\n1\n%%EOF\n")
		return b.Bytes()
	}
	kitImage := "4 0 obj\n" + pdftest.Stream("/Type /XObject /Subtype /Image "+dims+"/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode", pdftest.Zlib(t, qr.Pix)) + "\nendobj"
	otherPDF := pdftest.ImagePDF(fmt.Sprintf("/Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode", m, m), pdftest.Zlib(t, otherQR.Pix))
	kitPDF := pdftest.ImagePDF(dims+"/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode", pdftest.Zlib(t, qr.Pix))
	otherImage := "4 0 obj\n" + pdftest.Stream(fmt.Sprintf("/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8", m, m), otherQR.Pix) + "\nendobj"

	// Object stream: the page tree is stored in a compressed object
	// stream, replacing earlier null objects; the page shows the kit as
	// text, so that it is found only through the object stream.
	objStm := func() []byte {
		objs := "2 0 3 50 "
		body := fmt.Sprintf("%-10s<< /Type /Pages /Kids [3 0 R] /Count 1 >>", objs)
		body += strings.Repeat(" ", 10+50-len(body))
		body += "<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>"
		return pdftest.HandPDF(
			"<< /Type /Catalog /Pages 2 0 R >>",
			"null", "null", // replaced by the object stream
			pdftest.Stream("", []byte("BT /F1 10 Tf 72 700 Td ("+txt+") Tj ET")),
			pdftest.Stream("/Type /ObjStm /N 2 /First 10 /Filter /FlateDecode", pdftest.Zlib(t, []byte(body))),
		)
	}()

	inline := func(dict string, data []byte) []byte {
		content := fmt.Appendf(nil, "q 200 0 0 200 0 0 cm\nBI %s ID\n%s\nEI Q", dict, data)
		return pdftest.HandPDF(
			"<< /Type /Catalog /Pages 2 0 R >>",
			"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
			"<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>",
			pdftest.Stream("/Filter /FlateDecode", pdftest.Zlib(t, content)),
		)
	}

	for _, tc := range []struct {
		name string
		pdf  []byte
		want string
	}{
		{"fpdf, paletted PNG", fpdfImagePDF(t, "PNG", qrPNG, false), txt},
		{"fpdf, colour PNG", fpdfImagePDF(t, "PNG", encodePNGT(t, rgb), false), txt},
		{"fpdf, JPEG", fpdfImagePDF(t, "JPG", encodeJPEG(t, qr, 80), false), txt},
		{"encrypted, no user password (RC4 40), image", fpdfImagePDF(t, "PNG", qrPNG, true), txt},
		{"encrypted, no user password (RC4 40), text", protectedTextPDF(t, "", txt), txt},
		{"incremental update adds the kit", update(otherPDF, kitImage), txt},
		{"incremental update removes the kit", update(kitPDF, otherImage), "https://example.com/not-a-kit"},
		{"object stream", objStm, txt},
		{"inline image, raw", inline(dims+"/BPC 8 /CS /G", qr.Pix), txt},
		{"inline image, Flate", inline(dims+"/BPC 1 /CS /G /F /Fl", pdftest.Zlib(t, pdftest.PackBits(qr, false))), txt},
	} {
		got, err := DecodePDF(tc.pdf)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}

	_, err = DecodePDF(protectedTextPDF(t, "user password", txt))
	if !errors.Is(err, ErrPDF) || !strings.Contains(err.Error(), "protected with a password") {
		t.Errorf("PDF with a user password: got %v, want a password error", err)
	}
}

// ghostscript converts a PostScript program to PDF with Ghostscript's
// pdfwrite, the PDF writer behind ps2pdf and most Linux print-to-file.
func ghostscript(t *testing.T, dir, ps string, opts ...string) []byte {
	t.Helper()
	gs := needProgram(t, "gs", "ghostscript")
	in, out := filepath.Join(dir, "in.ps"), filepath.Join(dir, "out.pdf")
	if err := os.WriteFile(in, []byte(ps), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", "--permit-file-read=" + dir + "/",
		"-sDEVICE=pdfwrite", "-sOutputFile=" + out}, opts...)
	if msg, err := exec.Command(gs, append(args, in)...).CombinedOutput(); err != nil {
		t.Fatalf("gs: %v\n%s", err, msg)
	}
	pdf, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return pdf
}

// psImage is a PostScript program that draws a gray image filling a page
// of its size, reading its samples from source.
func psImage(w, h, bpc int, source string) string {
	return fmt.Sprintf(`%%!PS
<< /PageSize [%[1]d %[2]d] >> setpagedevice
%[1]d %[2]d scale
/DeviceGray setcolorspace
<< /ImageType 1 /Width %[1]d /Height %[2]d /BitsPerComponent %[3]d /Decode [0 1]
   /ImageMatrix [%[1]d 0 0 -%[2]d 0 %[2]d] /DataSource %[4]s >> image
showpage
`, w, h, bpc, source)
}

// TestDecodePDFGhostscript reads the QR code from PDFs written by
// Ghostscript, which stores images differently from fpdf: a JPEG as it
// is, gray samples with PNG predictors, and one-bit images compressed
// with Flate or, by default, CCITT Group 4 as scanners do.
func TestDecodePDFGhostscript(t *testing.T) {
	txt := testKits()[0].Text()
	qr, err := qrGray(txt, 6)
	if err != nil {
		t.Fatal(err)
	}
	n := qr.Rect.Dx()
	dir := t.TempDir()
	jpg := filepath.Join(dir, "qr.jpg")
	if err := os.WriteFile(jpg, encodeJPEG(t, qr, 75), 0o600); err != nil {
		t.Fatal(err)
	}
	// The data source must be the last thing before "image"; move the
	// inline data after the operator.
	inlinePS := func(bpc int, data []byte) string {
		ps := psImage(n, n, bpc, "currentfile /ASCIIHexDecode filter")
		return strings.Replace(ps, ">> image\n", ">> image\n"+hex.EncodeToString(data)+">\n", 1)
	}

	for _, tc := range []struct {
		name string
		ps   string
		opts []string
		want []string // in the PDF, so that the test reads what it means to
	}{
		{"JPEG", psImage(n, n, 8, fmt.Sprintf("(%s) (r) file /DCTDecode filter", jpg)),
			[]string{"-dPassThroughJPEGImages=true"}, []string{"/DCTDecode"}},
		{"8-bit gray, Flate", inlinePS(8, qr.Pix),
			[]string{"-dAutoFilterGrayImages=false", "-dGrayImageFilter=/FlateEncode"}, []string{"/FlateDecode", "/BitsPerComponent 8"}},
		{"1-bit, Flate", inlinePS(1, pdftest.PackBits(qr, false)),
			[]string{"-dMonoImageFilter=/FlateEncode"}, []string{"/FlateDecode", "/BitsPerComponent 1"}},
		{"1-bit, CCITT Group 4", inlinePS(1, pdftest.PackBits(qr, false)),
			nil, []string{"/CCITTFaxDecode", "/K -1", "/BitsPerComponent 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pdf := ghostscript(t, t.TempDir(), tc.ps, tc.opts...)
			for _, w := range tc.want {
				if !bytes.Contains(pdf, []byte(w)) {
					t.Fatalf("Ghostscript's PDF has no %s; the test does not test what it means to", w)
				}
			}
			if got, err := DecodePDF(pdf); err != nil || got != txt {
				t.Errorf("DecodePDF = %q, %v; want the kit", got, err)
			}
		})
	}
}

// qpdf rewrites a PDF with qpdf, which makes object streams and AES
// encryption.
func qpdf(t *testing.T, pdf []byte, args ...string) []byte {
	t.Helper()
	q := needProgram(t, "qpdf", "qpdf")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.pdf"), filepath.Join(dir, "out.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(q, append(append([]string{in}, args...), out)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("qpdf: %v\n%s", err, msg)
	}
	out2, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return out2
}

// TestDecodePDFQpdf reads kits from PDFs rewritten by qpdf with object
// streams and with each kind of encryption that opens without a password.
func TestDecodePDFQpdf(t *testing.T) {
	k := testKits()[1]
	txt := k.Text()
	qrPNG, err := QRPNG(txt, 300)
	if err != nil {
		t.Fatal(err)
	}
	image := fpdfImagePDF(t, "PNG", qrPNG, false)
	text := textOnlyPDF(t, txt)
	for _, tc := range []struct {
		name string
		args []string
		want string // in the output
	}{
		{"object streams", []string{"--object-streams=generate"}, "/ObjStm"},
		{"RC4 128", []string{"--allow-weak-crypto", "--encrypt", "", "owner", "128", "--use-aes=n", "--"}, "/V 2"},
		{"AES 128", []string{"--encrypt", "", "owner", "128", "--use-aes=y", "--"}, "/AESV2"},
		{"AES 256", []string{"--encrypt", "", "owner", "256", "--"}, "/AESV3"},
		{"AES 256, object streams", []string{"--object-streams=generate", "--encrypt", "", "owner", "256", "--"}, "/ObjStm"},
	} {
		for _, in := range []struct {
			name string
			pdf  []byte
		}{{"image", image}, {"text", text}} {
			pdf := qpdf(t, in.pdf, tc.args...)
			if !bytes.Contains(pdf, []byte(tc.want)) {
				t.Fatalf("%s: qpdf's PDF has no %s; the test does not test what it means to", tc.name, tc.want)
			}
			if got, err := DecodePDF(pdf); err != nil || got != txt {
				t.Errorf("%s, %s: DecodePDF = %q, %v; want the kit", tc.name, in.name, got, err)
			}
		}
	}

	for _, bits := range []string{"40", "128", "256"} {
		pdf := qpdf(t, image, "--allow-weak-crypto", "--encrypt", "user", "owner", bits, "--")
		_, err := DecodePDF(pdf)
		if !errors.Is(err, ErrPDF) || !strings.Contains(err.Error(), "protected with a password") {
			t.Errorf("%s-bit PDF with a user password: got %v, want a password error", bits, err)
		}
	}
}

func FuzzDecodePDF(f *testing.F) {
	k := testKits()[0]
	f.Add(mustPDF(f, testSheet(k)))
	f.Add(textOnlyPDF(f, k.Text()))
	f.Add(protectedTextPDF(f, "", k.Text()))
	qr, err := qrGray(k.Text(), 1)
	if err != nil {
		f.Fatal(err)
	}
	n := qr.Rect.Dx()
	f.Add(pdftest.ImagePDF(fmt.Sprintf("/Width %d /Height %d /ImageMask true /Decode [1 0]", n, n), pdftest.PackBits(qr, true)))
	var buf bytes.Buffer
	png.Encode(&buf, qr)
	f.Add(fpdfImagePDF(f, "PNG", buf.Bytes(), false))
	f.Add(pdftest.HandPDF("<< /Type /Catalog /Pages 2 0 R >>", "<< /Kids [2 0 R] >>", "[[[[[ 1 0 R"))

	// Keep images small (128×128 at most) and streams short, so that each
	// input is quick: searching a large garbage image for a QR code is
	// slow, and FuzzDecodePNG's to test. decodePDF, unlike DecodePDF,
	// does not recover panics, so the fuzzer sees them.
	lim := pdfin.DefaultLimits()
	lim.Pixels, lim.Stream, lim.Total = 1<<14, 4<<20, 16<<20
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := decodePDF(data, lim)
		if err != nil && s != "" {
			t.Fatalf("decodePDF returned text with an error")
		}
	})
}
