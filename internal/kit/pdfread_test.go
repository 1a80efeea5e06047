package kit

import (
	"bytes"
	"compress/lzw"
	"compress/zlib"
	"encoding/ascii85"
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
)

// handPDF builds a one-page PDF the way a careless program or a person
// with a text editor might: objects numbered from 1 in the order given,
// and a cross-reference table whose offsets are all wrong, which the
// reader must not need. Object 1 must be the catalog.
func handPDF(objs ...string) []byte {
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

// stream is a stream object with a correct direct /Length.
func stream(dict string, data []byte) string {
	return fmt.Sprintf("<< %s /Length %d >>\nstream\n%s\nendstream", dict, len(data), data)
}

// imagePDF is a hand-made PDF whose page shows one image, object 4;
// extra objects are numbered from 6.
func imagePDF(imageDict string, data []byte, extra ...string) []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Resources << /XObject << /Im0 4 0 R >> >> /Contents 5 0 R >>",
		stream("/Type /XObject /Subtype /Image "+imageDict, data),
		stream("", []byte("q 200 0 0 200 0 0 cm /Im0 Do Q")),
	}
	return handPDF(append(objs, extra...)...)
}

func zlibBytes(t testing.TB, b []byte) []byte {
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

// pngPredict applies PNG predictor ft to every row, as an encoder would
// (type 5 cycles through all five).
func pngPredict(data []byte, rowLen, bpp int, ft byte) []byte {
	var out []byte
	prev := make([]byte, rowLen)
	for y := 0; y*rowLen < len(data); y++ {
		row := data[y*rowLen : (y+1)*rowLen]
		f := ft
		if ft == 5 {
			f = byte(y % 5)
		}
		out = append(out, f)
		for i, v := range row {
			var a, c int
			if i >= bpp {
				a, c = int(row[i-bpp]), int(prev[i-bpp])
			}
			b := int(prev[i])
			var p byte
			switch f {
			case 1:
				p = byte(a)
			case 2:
				p = byte(b)
			case 3:
				p = byte((a + b) / 2)
			case 4:
				p = paeth(a, b, c)
			}
			out = append(out, v-p)
		}
		prev = row
	}
	return out
}

// packBits packs a black and white gray image at one bit a pixel, 1 for
// white unless invert.
func packBits(g *image.Gray, invert bool) []byte {
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

// mapPix returns the samples of g, each turned into n bytes by f.
func mapPix(g *image.Gray, f func(v byte) []byte) []byte {
	var out []byte
	for _, v := range g.Pix {
		out = append(out, f(v)...)
	}
	return out
}

func decodeOnlyImage(t *testing.T, pdf []byte) (*image.Gray, error) {
	t.Helper()
	r, err := newPDFReader(pdf, defaultPDFLimits)
	if err != nil {
		return nil, err
	}
	imgs := r.pdfImages()
	if len(imgs) != 1 {
		t.Fatalf("found %d images, want 1", len(imgs))
	}
	return r.image(imgs[0], 0)
}

// TestPDFImageEncodings decodes the same black and white QR code stored
// in each way PDF writers store images, and checks every pixel.
func TestPDFImageEncodings(t *testing.T) {
	qr, err := qrGray(testKits()[0].Text(), 2)
	if err != nil {
		t.Fatal(err)
	}
	n := qr.Rect.Dx()
	dims := fmt.Sprintf("/Width %d /Height %d ", n, n)
	gray8 := qr.Pix
	bits := packBits(qr, false)
	var lzwData bytes.Buffer
	lw := lzw.NewWriter(&lzwData, lzw.MSB, 8)
	lw.Write(gray8)
	lw.Close()
	tiff := bytes.Clone(gray8)
	for y := range n {
		for x := n - 1; x > 0; x-- {
			tiff[y*n+x] -= tiff[y*n+x-1]
		}
	}
	rle := func(b []byte) []byte { // literal runs of up to 128 bytes
		var out []byte
		for len(b) > 0 {
			k := min(len(b), 128)
			out = append(append(out, byte(k-1)), b[:k]...)
			b = b[k:]
		}
		return append(out, 128)
	}
	var a85 bytes.Buffer
	ae := ascii85.NewEncoder(&a85)
	ae.Write(zlibBytes(t, gray8))
	ae.Close()
	alpha := mapPix(qr, func(v byte) []byte { return []byte{255 - v} })

	for _, tc := range []struct {
		name  string
		dict  string
		data  []byte
		extra []string
	}{
		{"gray, raw", "/ColorSpace /DeviceGray /BitsPerComponent 8", gray8, nil},
		{"gray, Flate", "/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode", zlibBytes(t, gray8), nil},
		{"gray, Flate, every PNG predictor", fmt.Sprintf("/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode /DecodeParms << /Predictor 15 /Colors 1 /BitsPerComponent 8 /Columns %d >>", n),
			zlibBytes(t, pngPredict(gray8, n, 1, 5)), nil},
		{"RGB, Flate, Paeth predictor", fmt.Sprintf("/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter [/FlateDecode] /DecodeParms [<< /Predictor 14 /Colors 3 /Columns %d >>]", n),
			zlibBytes(t, pngPredict(mapPix(qr, func(v byte) []byte { return []byte{v, v, v} }), 3*n, 3, 4)), nil},
		{"gray, TIFF predictor", fmt.Sprintf("/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode /DecodeParms << /Predictor 2 /Columns %d >>", n),
			zlibBytes(t, tiff), nil},
		{"gray, LZW", "/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /LZWDecode /DecodeParms << /EarlyChange 0 >>", lzwData.Bytes(), nil},
		{"gray, ASCII85 then Flate", "/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter [/ASCII85Decode /FlateDecode]", append(a85.Bytes(), "~>"...), nil},
		{"gray, ASCIIHex", "/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /AHx", []byte(hex.EncodeToString(gray8) + ">"), nil},
		{"gray, RunLength", "/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /RunLengthDecode", rle(gray8), nil},
		{"gray, 16 bits", "/ColorSpace /DeviceGray /BitsPerComponent 16", mapPix(qr, func(v byte) []byte { return []byte{v, 0x55} }), nil},
		{"gray, 4 bits", "/ColorSpace /DeviceGray /BitsPerComponent 4", func() []byte {
			var out []byte
			for y := range n {
				row := make([]byte, (n+1)/2)
				for x := range n {
					row[x/2] |= (qr.Pix[y*n+x] >> 4) << (4 * (1 - x%2))
				}
				out = append(out, row...)
			}
			return out
		}(), nil},
		{"gray, 1 bit", "/ColorSpace /DeviceGray /BitsPerComponent 1", bits, nil},
		{"gray, 1 bit, Decode [1 0]", "/ColorSpace /DeviceGray /BitsPerComponent 1 /Decode [1 0]", packBits(qr, true), nil},
		{"image mask", "/ImageMask true", bits, nil},
		{"image mask, Decode [1 0]", "/ImageMask true /Decode [1 0]", packBits(qr, true), nil},
		{"CMYK", "/ColorSpace /DeviceCMYK /BitsPerComponent 8", mapPix(qr, func(v byte) []byte { return []byte{0, 0, 0, 255 - v} }), nil},
		{"Separation", "/ColorSpace [/Separation /Black /DeviceGray 6 0 R] /BitsPerComponent 8",
			mapPix(qr, func(v byte) []byte { return []byte{255 - v} }), []string{"<< /FunctionType 2 /Domain [0 1] /N 1 >>"}},
		{"ICC, N 3", "/ColorSpace [/ICCBased 6 0 R] /BitsPerComponent 8", mapPix(qr, func(v byte) []byte { return []byte{v, v, v} }),
			[]string{stream("/N 3", []byte("not really a profile"))}},
		{"ICC, no N, gray alternate", "/ColorSpace [/ICCBased 6 0 R] /BitsPerComponent 8", gray8,
			[]string{stream("/Alternate /DeviceGray", nil)}},
		{"colour space in its own object", "/ColorSpace 6 0 R /BitsPerComponent 8", gray8, []string{"/DeviceGray"}},
		{"no colour space, gray data", "/BitsPerComponent 8", gray8, nil},
		{"no colour space, RGB data", "/BitsPerComponent 8", mapPix(qr, func(v byte) []byte { return []byte{v, v, v} }), nil},
		{"indexed, lookup string, 1 bit", "/ColorSpace [/Indexed /DeviceRGB 1 <000000FFFFFF>] /BitsPerComponent 1", bits, nil},
		{"indexed, lookup stream, 8 bits", "/ColorSpace [/I /DeviceGray 255 6 0 R] /BitsPerComponent 8",
			mapPix(qr, func(v byte) []byte { return []byte{^v} }),
			[]string{stream("/Filter /FlateDecode", zlibBytes(t, func() []byte {
				lut := make([]byte, 256)
				for i := range lut {
					lut[i] = ^byte(i)
				}
				return lut
			}()))}},
		{"RGB all black, soft mask", "/ColorSpace /DeviceRGB /BitsPerComponent 8 /SMask 6 0 R", make([]byte, 3*n*n),
			[]string{stream(dims+"/Type /XObject /Subtype /Image /ColorSpace /DeviceGray /BitsPerComponent 8", alpha)}},
		{"indirect length after the stream", "/ColorSpace /DeviceGray /BitsPerComponent 8 /Length 6 0 R", gray8,
			[]string{fmt.Sprint(len(gray8))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pdf := imagePDF(dims+tc.dict, tc.data, tc.extra...)
			if tc.name == "indirect length after the stream" {
				// Replace the direct length: only the indirect one is left.
				pdf = bytes.Replace(pdf, fmt.Appendf(nil, " /Length %d >>", len(gray8)), []byte(" >>      "), 1)
			}
			g, err := decodeOnlyImage(t, pdf)
			if err != nil {
				t.Fatal(err)
			}
			if g.Rect != qr.Rect {
				t.Fatalf("image is %v, want %v", g.Rect, qr.Rect)
			}
			for i := range qr.Pix {
				if g.Pix[i] != qr.Pix[i] {
					t.Fatalf("pixel (%d, %d) is %d, want %d", i%n, i/n, g.Pix[i], qr.Pix[i])
				}
			}
		})
	}
}

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
	kitImage := "4 0 obj\n" + stream("/Type /XObject /Subtype /Image "+dims+"/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode", zlibBytes(t, qr.Pix)) + "\nendobj"
	otherPDF := imagePDF(fmt.Sprintf("/Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode", m, m), zlibBytes(t, otherQR.Pix))
	kitPDF := imagePDF(dims+"/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode", zlibBytes(t, qr.Pix))
	otherImage := "4 0 obj\n" + stream(fmt.Sprintf("/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8", m, m), otherQR.Pix) + "\nendobj"

	// Object stream: the page tree is stored in a compressed object
	// stream, replacing earlier null objects; the page shows the kit as
	// text, so that it is found only through the object stream.
	objStm := func() []byte {
		objs := "2 0 3 50 "
		body := fmt.Sprintf("%-10s<< /Type /Pages /Kids [3 0 R] /Count 1 >>", objs)
		body += strings.Repeat(" ", 10+50-len(body))
		body += "<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>"
		return handPDF(
			"<< /Type /Catalog /Pages 2 0 R >>",
			"null", "null", // replaced by the object stream
			stream("", []byte("BT /F1 10 Tf 72 700 Td ("+txt+") Tj ET")),
			stream("/Type /ObjStm /N 2 /First 10 /Filter /FlateDecode", zlibBytes(t, []byte(body))),
		)
	}()

	inline := func(dict string, data []byte) []byte {
		content := fmt.Appendf(nil, "q 200 0 0 200 0 0 cm\nBI %s ID\n%s\nEI Q", dict, data)
		return handPDF(
			"<< /Type /Catalog /Pages 2 0 R >>",
			"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
			"<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>",
			stream("/Filter /FlateDecode", zlibBytes(t, content)),
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
		{"inline image, Flate", inline(dims+"/BPC 1 /CS /G /F /Fl", zlibBytes(t, packBits(qr, false))), txt},
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
		{"1-bit, Flate", inlinePS(1, packBits(qr, false)),
			[]string{"-dMonoImageFilter=/FlateEncode"}, []string{"/FlateDecode", "/BitsPerComponent 1"}},
		{"1-bit, CCITT Group 4", inlinePS(1, packBits(qr, false)),
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

// TestPDFLimits checks that a hostile PDF is stopped by each limit.
func TestPDFLimits(t *testing.T) {
	zeros := make([]byte, 3<<20)
	bomb := stream("/Filter /FlateDecode", zlibBytes(t, zeros))
	lim := defaultPDFLimits
	lim.stream, lim.total = 2<<20, 5<<20

	t.Run("stream", func(t *testing.T) {
		r, err := newPDFReader(handPDF("<< /Type /Catalog >>", bomb), lim)
		if err != nil {
			t.Fatal(err)
		}
		s := r.streamObj(pdfRef{2, 0})
		if _, err := r.decode(s, 1<<30); !errors.Is(err, errPDFTooLarge) {
			t.Errorf("decoding 3 MiB with a 2 MiB limit: %v, want errPDFTooLarge", err)
		}
		// What the caller wants is cut short without an error.
		if b, err := r.decode(s, 1000); err != nil || len(b) != 1000 {
			t.Errorf("decoding 1000 bytes: %d bytes, %v", len(b), err)
		}
	})
	t.Run("total", func(t *testing.T) {
		small := stream("/Filter /FlateDecode", zlibBytes(t, zeros[:2<<20]))
		r, err := newPDFReader(handPDF("<< /Type /Catalog >>", small, small, small, small), lim)
		if err != nil {
			t.Fatal(err)
		}
		var errs []error
		for i := 2; i <= 5; i++ {
			_, err := r.decode(r.streamObj(pdfRef{i, 0}), 1<<30)
			errs = append(errs, err)
		}
		if errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], errPDFTooLarge) || !errors.Is(errs[3], errPDFTooLarge) {
			t.Errorf("four 2 MiB streams within 5 MiB: %v, want two to decode", errs)
		}
	})
	t.Run("depth", func(t *testing.T) {
		deep := strings.Repeat("[", 1e6) + strings.Repeat("]", 1e6)
		r, err := newPDFReader(handPDF("<< /Type /Catalog >>", deep, "<< /Ok true >>"), lim)
		if err != nil {
			t.Fatal(err)
		}
		if r.object(2) != nil || r.dict(pdfRef{3, 0})["Ok"] != true {
			t.Errorf("too deep an array was kept, or stopped the reading of the next object")
		}
	})
	t.Run("values", func(t *testing.T) {
		l := lim
		l.values = 1000
		r, err := newPDFReader(handPDF("<< /Type /Catalog >>", "["+strings.Repeat("0 ", 2000)+"]"), l)
		if err != nil {
			t.Fatal(err)
		}
		if r.object(2) != nil {
			t.Errorf("an array of 2000 values was read with a limit of 1000")
		}
	})
	t.Run("objects", func(t *testing.T) {
		l := lim
		l.objects = 10
		objs := make([]string, 20)
		for i := range objs {
			objs[i] = "42"
		}
		r, err := newPDFReader(handPDF(objs...), l)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.objs) != 10 {
			t.Errorf("kept %d objects, want the limit of 10", len(r.objs))
		}
	})
	t.Run("pixels", func(t *testing.T) {
		// 60000×60000 one-bit pixels compress to almost nothing.
		pdf := imagePDF("/Width 60000 /Height 60000 /ColorSpace /DeviceGray /BitsPerComponent 1 /Filter /FlateDecode", zlibBytes(t, []byte{0xff}))
		if _, err := decodeOnlyImage(t, pdf); !errors.Is(err, errPDFImage) {
			t.Errorf("3.6 gigapixel image: %v, want errPDFImage", err)
		}
	})
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
	f.Add(imagePDF(fmt.Sprintf("/Width %d /Height %d /ImageMask true /Decode [1 0]", n, n), packBits(qr, true)))
	var buf bytes.Buffer
	png.Encode(&buf, qr)
	f.Add(fpdfImagePDF(f, "PNG", buf.Bytes(), false))
	f.Add(handPDF("<< /Type /Catalog /Pages 2 0 R >>", "<< /Kids [2 0 R] >>", "[[[[[ 1 0 R"))

	// Keep images small (128×128 at most) and streams short, so that each
	// input is quick: searching a large garbage image for a QR code is
	// slow, and FuzzDecodePNG's to test. decodePDF, unlike DecodePDF,
	// does not recover panics, so the fuzzer sees them.
	lim := defaultPDFLimits
	lim.pixels, lim.stream, lim.total = 1<<14, 4<<20, 16<<20
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := decodePDF(data, lim)
		if err != nil && s != "" {
			t.Fatalf("decodePDF returned text with an error")
		}
	})
}

// TestInlineImages checks where the data of inline images ends: by size
// when unfiltered, since the data may hold "EI", and at "EI" otherwise.
func TestInlineImages(t *testing.T) {
	r, err := newPDFReader(handPDF("<< /Type /Catalog >>"), defaultPDFLimits)
	if err != nil {
		t.Fatal(err)
	}
	content := "q BI /W 4 /H 1 /BPC 8 /CS /G ID  EI EI Q (BI) Tj\n" +
		"BI /W 2 /H 2 /IM true /F /AHx ID 4>\nEI\n" +
		"BI /Width 2 /Height 1 /ColorSpace /DeviceRGB ID abcdefEI Q"
	var got []string
	for _, s := range r.inlineImages([]byte(content), nil) {
		got = append(got, fmt.Sprintf("%v=%q", s.dict["Width"], s.raw))
	}
	want := []string{`4=" EI "`, `2="4>"`, `2="abcdef"`}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("inline images %q, want %q", got, want)
	}
}
