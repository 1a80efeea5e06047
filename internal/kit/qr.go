package kit

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/gif"  // screenshots are sometimes GIFs
	_ "image/jpeg" // photos
	"image/png"
	"slices"

	"github.com/keyhold/keyhold/internal/kit/pdfin"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/keyhold/keyhold/internal/kit/grayimg"
)

// qrLevel is the QR error correction level of every kit QR code. Quartile
// (about 25% of the code may be damaged) rather than Medium because the
// printed kit is meant to last years in a drawer and be read back from a
// phone photo; it costs only a slightly denser code (41×41 modules for a
// kit without sync location).
const qrLevel = qrcode.High // go-qrcode calls level Q "High"

// MaxImagePixels bounds the images DecodePNG accepts, as it bounds one
// image of a PDF: a 40-megapixel photo is larger than phone cameras
// produce; anything bigger is refused before it is decoded, so a hostile
// file cannot exhaust memory.
const MaxImagePixels = pdfin.MaxImagePixels

// maxQRSize bounds the pixel size QRPNG accepts.
const maxQRSize = 8192

var (
	// ErrNoQRCode means an image was read but no QR code was found in it.
	ErrNoQRCode = errors.New("no QR code found")

	// ErrImage means the data is not an image DecodePNG can read (PNG,
	// JPEG or GIF), is damaged, or is too large.
	ErrImage = errors.New("not a readable PNG or JPEG image")
)

// QRPNG returns a PNG image, sizePx pixels square, of a QR code holding
// text, with the quiet zone the QR standard requires around it. If sizePx
// is smaller than the code needs, the image is made larger.
func QRPNG(text string, sizePx int) ([]byte, error) {
	if sizePx <= 0 || sizePx > maxQRSize {
		return nil, fmt.Errorf("kit: QR image size %d is out of range (1 to %d pixels)", sizePx, maxQRSize)
	}
	q, err := qrcode.New(text, qrLevel)
	if err != nil {
		return nil, fmt.Errorf("kit: cannot make a QR code of the kit: %v", err)
	}
	return q.PNG(sizePx)
}

// qrGray draws the QR code of text as a grayscale image with pxPerModule
// pixels per module, quiet zone included. The PDF embeds this rather than
// QRPNG's paletted image: 8-bit gray is the image type every PDF reader
// and extractor handles the same way.
func qrGray(text string, pxPerModule int) (*image.Gray, error) {
	q, err := qrcode.New(text, qrLevel)
	if err != nil {
		return nil, fmt.Errorf("kit: cannot make a QR code of the kit: %v", err)
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
	return img, nil
}

// TerminalQR draws a QR code of text with Unicode half blocks ("▀", "▄",
// "█"), two module rows per line, quiet zone included. It is drawn for the
// usual light-on-dark terminal: light modules are printed as blocks in the
// foreground colour. It returns "" if text is too long for a QR code,
// which cannot happen for a valid kit's Text.
func TerminalQR(text string) string {
	q, err := qrcode.New(text, qrLevel)
	if err != nil {
		return ""
	}
	return q.ToSmallString(false)
}

// DecodePNG finds a QR code in a PNG, JPEG or GIF image — a photo of a
// printed kit or a screenshot — and returns the text it holds, unchecked.
//
// A clean image is read on the first try. If that fails, DecodePNG tries
// again on copies that are contrast-stretched, scaled down (large photos)
// or up (tiny screenshots), and inverted (a light-on-dark screenshot).
func DecodePNG(data []byte) (string, error) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return "", ErrImage
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return "", ErrImage
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxImagePixels {
		return "", fmt.Errorf("%w: it is %d×%d pixels, more than %d megapixels", ErrImage, cfg.Width, cfg.Height, MaxImagePixels>>20)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return "", ErrImage
	}
	return decodeImage(img)
}

// decodeImage finds a QR code in img; see DecodePNG.
func decodeImage(img image.Image) (string, error) {
	g := grayimg.From(img)
	if s, ok := scanGray(g); ok {
		return s, nil
	}
	stretched := stretch(g)
	if stretched != nil {
		if s, ok := scanGray(stretched); ok {
			return s, nil
		}
		g = stretched
	}
	// Large photos: the finder patterns can be lost in noise and texture
	// at full resolution; halving averages them away.
	for d := shrink(g); d != nil && max(d.Rect.Dx(), d.Rect.Dy()) >= 100; d = shrink(d) {
		if s, ok := scanGray(d); ok {
			return s, nil
		}
	}
	// Tiny screenshots (one or two pixels per module): give the detector
	// room to work.
	if max(g.Rect.Dx(), g.Rect.Dy()) < 400 {
		if s, ok := scanGray(grow(g, 4)); ok {
			return s, nil
		}
	}
	return "", ErrNoQRCode
}

// scanGray runs the QR reader over g with several binarizers, on the
// image and on its negative.
func scanGray(g *image.Gray) (text string, ok bool) {
	// gozxing is a port of ZXing and not hardened against every image;
	// treat a panic inside it as "not found" rather than crash the caller.
	defer func() {
		if recover() != nil {
			text, ok = "", false
		}
	}()
	w, h := g.Rect.Dx(), g.Rect.Dy()
	src, err := gozxing.NewPlanarYUVLuminanceSource(g.Pix, g.Stride, h, 0, 0, w, h, false)
	if err != nil {
		return "", false
	}
	hints := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true}
	reader := zxqr.NewQRCodeReader()
	for _, s := range []gozxing.LuminanceSource{src, gozxing.NewInvertedLuminanceSource(src)} {
		for _, bin := range []gozxing.Binarizer{gozxing.NewHybridBinarizer(s), gozxing.NewGlobalHistgramBinarizer(s)} {
			bmp, err := gozxing.NewBinaryBitmap(bin)
			if err != nil {
				continue
			}
			res, err := reader.Decode(bmp, hints)
			if err == nil {
				return res.GetText(), true
			}
		}
	}
	return "", false
}

// stretch returns a copy of g whose levels are stretched so that the
// darkest 1% become black and the brightest 1% white, or nil if g has no
// contrast to stretch or is already full range.
func stretch(g *image.Gray) *image.Gray {
	var hist [256]int
	w, h := g.Rect.Dx(), g.Rect.Dy()
	for y := range h {
		for _, v := range g.Pix[y*g.Stride : y*g.Stride+w] {
			hist[v]++
		}
	}
	total := w * h
	cut := total / 100
	lo, hi := 0, 255
	for n := 0; lo < 255 && n+hist[lo] <= cut; lo++ {
		n += hist[lo]
	}
	for n := 0; hi > 0 && n+hist[hi] <= cut; hi-- {
		n += hist[hi]
	}
	if hi <= lo || (lo == 0 && hi == 255) {
		return nil
	}
	var lut [256]byte
	for i := range lut {
		v := (i - lo) * 255 / (hi - lo)
		lut[i] = byte(min(max(v, 0), 255))
	}
	out := image.NewGray(g.Rect)
	for y := range h {
		for x, v := range g.Pix[y*g.Stride : y*g.Stride+w] {
			out.Pix[y*out.Stride+x] = lut[v]
		}
	}
	return out
}

// shrink returns g at half size, each pixel the mean of a 2×2 block, or
// nil if g is too small to halve.
func shrink(g *image.Gray) *image.Gray {
	w, h := g.Rect.Dx()/2, g.Rect.Dy()/2
	if w < 1 || h < 1 {
		return nil
	}
	out := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		r0 := g.Pix[(2*y)*g.Stride:]
		r1 := g.Pix[(2*y+1)*g.Stride:]
		for x := range w {
			s := int(r0[2*x]) + int(r0[2*x+1]) + int(r1[2*x]) + int(r1[2*x+1])
			out.Pix[y*out.Stride+x] = byte((s + 2) / 4)
		}
	}
	return out
}

// grow returns g scaled up by factor f, nearest neighbour, with a white
// margin in case the screenshot was cropped to the code's edge.
func grow(g *image.Gray, f int) *image.Gray {
	const margin = 16
	w, h := g.Rect.Dx(), g.Rect.Dy()
	out := image.NewGray(image.Rect(0, 0, w*f+2*margin, h*f+2*margin))
	for i := range out.Pix {
		out.Pix[i] = 0xff
	}
	for y := range h * f {
		src := g.Pix[(y/f)*g.Stride:]
		dst := out.Pix[(y+margin)*out.Stride+margin:]
		for x := range w * f {
			dst[x] = src[x/f]
		}
	}
	return out
}

// encodePNG encodes img as PNG; used for the QR image embedded in the PDF.
func encodePNG(img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// sniffImage reports whether data starts like an image DecodePNG reads.
func sniffImage(data []byte) bool {
	return slices.ContainsFunc([]string{"\x89PNG\r\n\x1a\n", "\xff\xd8\xff", "GIF87a", "GIF89a"},
		func(magic string) bool { return bytes.HasPrefix(data, []byte(magic)) })
}
