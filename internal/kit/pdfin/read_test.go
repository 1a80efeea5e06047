package pdfin

import (
	"bytes"
	"compress/lzw"
	"encoding/ascii85"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"strings"
	"testing"

	"github.com/keyhold/keyhold/internal/kit/pdfin/pdftest"
)

// testText is what the test QR codes hold: a kit text's length and
// alphabet, though not a valid kit.
const testText = "KH1-ABCDE-FGHJK-LMNPQ-RSTUV-WXYZ2-34567-89ABC-DEFGH-JKLMN-PQRST-UVWXY-Z2345-6789A"

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
	r, err := newPDFReader(pdf, DefaultLimits())
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
	qr := pdftest.QR(t, testText, 2)
	n := qr.Rect.Dx()
	dims := fmt.Sprintf("/Width %d /Height %d ", n, n)
	gray8 := qr.Pix
	bits := pdftest.PackBits(qr, false)
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
	ae.Write(pdftest.Zlib(t, gray8))
	ae.Close()
	alpha := mapPix(qr, func(v byte) []byte { return []byte{255 - v} })

	for _, tc := range []struct {
		name  string
		dict  string
		data  []byte
		extra []string
	}{
		{"gray, raw", "/ColorSpace /DeviceGray /BitsPerComponent 8", gray8, nil},
		{"gray, Flate", "/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode", pdftest.Zlib(t, gray8), nil},
		{"gray, Flate, every PNG predictor", fmt.Sprintf("/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode /DecodeParms << /Predictor 15 /Colors 1 /BitsPerComponent 8 /Columns %d >>", n),
			pdftest.Zlib(t, pngPredict(gray8, n, 1, 5)), nil},
		{"RGB, Flate, Paeth predictor", fmt.Sprintf("/ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter [/FlateDecode] /DecodeParms [<< /Predictor 14 /Colors 3 /Columns %d >>]", n),
			pdftest.Zlib(t, pngPredict(mapPix(qr, func(v byte) []byte { return []byte{v, v, v} }), 3*n, 3, 4)), nil},
		{"gray, TIFF predictor", fmt.Sprintf("/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode /DecodeParms << /Predictor 2 /Columns %d >>", n),
			pdftest.Zlib(t, tiff), nil},
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
		{"gray, 1 bit, Decode [1 0]", "/ColorSpace /DeviceGray /BitsPerComponent 1 /Decode [1 0]", pdftest.PackBits(qr, true), nil},
		{"image mask", "/ImageMask true", bits, nil},
		{"image mask, Decode [1 0]", "/ImageMask true /Decode [1 0]", pdftest.PackBits(qr, true), nil},
		{"CMYK", "/ColorSpace /DeviceCMYK /BitsPerComponent 8", mapPix(qr, func(v byte) []byte { return []byte{0, 0, 0, 255 - v} }), nil},
		{"Separation", "/ColorSpace [/Separation /Black /DeviceGray 6 0 R] /BitsPerComponent 8",
			mapPix(qr, func(v byte) []byte { return []byte{255 - v} }), []string{"<< /FunctionType 2 /Domain [0 1] /N 1 >>"}},
		{"ICC, N 3", "/ColorSpace [/ICCBased 6 0 R] /BitsPerComponent 8", mapPix(qr, func(v byte) []byte { return []byte{v, v, v} }),
			[]string{pdftest.Stream("/N 3", []byte("not really a profile"))}},
		{"ICC, no N, gray alternate", "/ColorSpace [/ICCBased 6 0 R] /BitsPerComponent 8", gray8,
			[]string{pdftest.Stream("/Alternate /DeviceGray", nil)}},
		{"colour space in its own object", "/ColorSpace 6 0 R /BitsPerComponent 8", gray8, []string{"/DeviceGray"}},
		{"no colour space, gray data", "/BitsPerComponent 8", gray8, nil},
		{"no colour space, RGB data", "/BitsPerComponent 8", mapPix(qr, func(v byte) []byte { return []byte{v, v, v} }), nil},
		{"indexed, lookup string, 1 bit", "/ColorSpace [/Indexed /DeviceRGB 1 <000000FFFFFF>] /BitsPerComponent 1", bits, nil},
		{"indexed, lookup stream, 8 bits", "/ColorSpace [/I /DeviceGray 255 6 0 R] /BitsPerComponent 8",
			mapPix(qr, func(v byte) []byte { return []byte{^v} }),
			[]string{pdftest.Stream("/Filter /FlateDecode", pdftest.Zlib(t, func() []byte {
				lut := make([]byte, 256)
				for i := range lut {
					lut[i] = ^byte(i)
				}
				return lut
			}()))}},
		{"RGB all black, soft mask", "/ColorSpace /DeviceRGB /BitsPerComponent 8 /SMask 6 0 R", make([]byte, 3*n*n),
			[]string{pdftest.Stream(dims+"/Type /XObject /Subtype /Image /ColorSpace /DeviceGray /BitsPerComponent 8", alpha)}},
		{"indirect length after the stream", "/ColorSpace /DeviceGray /BitsPerComponent 8 /Length 6 0 R", gray8,
			[]string{fmt.Sprint(len(gray8))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pdf := pdftest.ImagePDF(dims+tc.dict, tc.data, tc.extra...)
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

// TestPDFLimits checks that a hostile PDF is stopped by each limit.
func TestPDFLimits(t *testing.T) {
	zeros := make([]byte, 3<<20)
	bomb := pdftest.Stream("/Filter /FlateDecode", pdftest.Zlib(t, zeros))
	lim := DefaultLimits()
	lim.Stream, lim.Total = 2<<20, 5<<20

	t.Run("stream", func(t *testing.T) {
		r, err := newPDFReader(pdftest.HandPDF("<< /Type /Catalog >>", bomb), lim)
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
		small := pdftest.Stream("/Filter /FlateDecode", pdftest.Zlib(t, zeros[:2<<20]))
		r, err := newPDFReader(pdftest.HandPDF("<< /Type /Catalog >>", small, small, small, small), lim)
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
		r, err := newPDFReader(pdftest.HandPDF("<< /Type /Catalog >>", deep, "<< /Ok true >>"), lim)
		if err != nil {
			t.Fatal(err)
		}
		if r.object(2) != nil || r.dict(pdfRef{3, 0})["Ok"] != true {
			t.Errorf("too deep an array was kept, or stopped the reading of the next object")
		}
	})
	t.Run("values", func(t *testing.T) {
		l := lim
		l.Values = 1000
		r, err := newPDFReader(pdftest.HandPDF("<< /Type /Catalog >>", "["+strings.Repeat("0 ", 2000)+"]"), l)
		if err != nil {
			t.Fatal(err)
		}
		if r.object(2) != nil {
			t.Errorf("an array of 2000 values was read with a limit of 1000")
		}
	})
	t.Run("objects", func(t *testing.T) {
		l := lim
		l.Objects = 10
		objs := make([]string, 20)
		for i := range objs {
			objs[i] = "42"
		}
		r, err := newPDFReader(pdftest.HandPDF(objs...), l)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.objs) != 10 {
			t.Errorf("kept %d objects, want the limit of 10", len(r.objs))
		}
	})
	t.Run("pixels", func(t *testing.T) {
		// 60000×60000 one-bit pixels compress to almost nothing.
		pdf := pdftest.ImagePDF("/Width 60000 /Height 60000 /ColorSpace /DeviceGray /BitsPerComponent 1 /Filter /FlateDecode", pdftest.Zlib(t, []byte{0xff}))
		if _, err := decodeOnlyImage(t, pdf); !errors.Is(err, errPDFImage) {
			t.Errorf("3.6 gigapixel image: %v, want errPDFImage", err)
		}
	})
}

// FuzzRead checks that no file makes the reader panic or spend more than
// its limits allow, doing all that package kit asks of it: the pages'
// content and text, and every image decoded to gray. Its corpus holds the
// files that once found bugs, as FuzzDecodePDF's does in package kit.
func FuzzRead(f *testing.F) {
	qr := pdftest.QR(f, testText, 1)
	n := qr.Rect.Dx()
	f.Add(pdftest.ImagePDF(fmt.Sprintf("/Width %d /Height %d /ImageMask true /Decode [1 0]", n, n), pdftest.PackBits(qr, true)))
	f.Add(pdftest.ImagePDF(fmt.Sprintf("/Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode", n, n), pdftest.Zlib(f, qr.Pix)))
	f.Add(pdftest.HandPDF("<< /Type /Catalog /Pages 2 0 R >>", "<< /Kids [2 0 R] >>", "[[[[[ 1 0 R"))

	// Small images and short streams keep each input quick.
	lim := DefaultLimits()
	lim.Pixels, lim.Stream, lim.Total = 1<<14, 4<<20, 16<<20
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Open(data, lim)
		if err != nil {
			return
		}
		contents := doc.ContentStreams()
		for _, c := range contents {
			if len(c) > maxContent {
				t.Fatalf("a content stream of %d bytes, over the %d allowed", len(c), maxContent)
			}
			ContentStrings(c)
		}
		for _, img := range doc.Images(contents) {
			g, err := doc.Gray(img)
			if err == nil && int64(g.Rect.Dx())*int64(g.Rect.Dy()) > lim.Pixels {
				t.Fatalf("an image of %v, over the %d pixels allowed", g.Rect, lim.Pixels)
			}
		}
	})
}

// TestInlineImages checks where the data of inline images ends: by size
// when unfiltered, since the data may hold "EI", and at "EI" otherwise.
func TestInlineImages(t *testing.T) {
	r, err := newPDFReader(pdftest.HandPDF("<< /Type /Catalog >>"), DefaultLimits())
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
