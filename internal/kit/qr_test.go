package kit

import (
	"bytes"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	xdraw "golang.org/x/image/draw"

	"github.com/keyhold/keyhold/internal/kit/grayimg"
	"github.com/keyhold/keyhold/internal/testenv"
)

// needProgram returns the path of an external program the test runs, or
// skips the test (fails it under CI) naming the Debian package to install.
func needProgram(t testing.TB, name, debianPackage string) string {
	t.Helper()
	return testenv.NeedProgram(t, name, debianPackage)
}

// zbar decodes the QR code in the image file with zbarimg, an independent
// decoder.
func zbar(t testing.TB, file string) string {
	t.Helper()
	zbarimg := needProgram(t, "zbarimg", "zbar-tools")
	cmd := exec.Command(zbarimg, "--nodbus", "--raw", "-q", "-Sdisable", "-Sqrcode.enable", file)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("zbarimg %s: %v", filepath.Base(file), err)
	}
	return strings.TrimSuffix(string(out), "\n")
}

// testKits are the kits the rendering tests draw: the common short one
// and the longest one allowed.
func testKits() []Kit {
	r := rand.New(rand.NewPCG(21, 22))
	return []Kit{
		randomKit(r, ""),
		randomKit(r, "https://keyhold.example/"),
		randomKit(r, "https://"+strings.Repeat("k", MaxSyncLocation-len("https://"))),
	}
}

func TestQRPNGZbar(t *testing.T) {
	dir := t.TempDir()
	for i, k := range testKits() {
		txt := k.Text()
		data, err := QRPNG(txt, 512)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("QRPNG output is not a PNG: %v", err)
		}
		if b := img.Bounds(); b.Dx() != b.Dy() || b.Dx() < 512 {
			t.Errorf("QRPNG(…, 512) is %v", b)
		}
		file := filepath.Join(dir, "qr.png")
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if got := zbar(t, file); got != txt {
			t.Errorf("kit %d: zbarimg read %q, want %q", i, got, txt)
		}
	}
}

func TestQRPNGSize(t *testing.T) {
	for _, size := range []int{0, -5, maxQRSize + 1} {
		if _, err := QRPNG("KH1-22222", size); err == nil {
			t.Errorf("QRPNG size %d: no error", size)
		}
	}
}

// TestTerminalQR turns the half-block drawing back into pixels and checks
// that an independent decoder reads the kit from it, as a phone would from
// a screenshot.
func TestTerminalQR(t *testing.T) {
	k := testKits()[0]
	txt := k.Text()
	s := TerminalQR(txt)
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	width := len([]rune(lines[0]))
	for _, l := range lines {
		if len([]rune(l)) != width {
			t.Fatalf("ragged terminal QR")
		}
		if strings.Trim(l, " ▀▄█") != "" {
			t.Fatalf("unexpected characters in %q", l)
		}
	}
	// The quiet zone: the first line is all light (full blocks).
	if strings.Trim(lines[0], "█") != "" {
		t.Errorf("first line %q is not quiet zone", lines[0])
	}

	// Draw it as a dark terminal shows it: blocks are light foreground.
	const px = 6
	img := image.NewGray(image.Rect(0, 0, width*px, len(lines)*2*px))
	for y, l := range lines {
		for x, c := range []rune(l) {
			top := c == '█' || c == '▀'
			bottom := c == '█' || c == '▄'
			for dy := range 2 * px {
				light := top
				if dy >= px {
					light = bottom
				}
				if light {
					for dx := range px {
						img.SetGray(x*px+dx, y*2*px+dy, color.Gray{Y: 0xff})
					}
				}
			}
		}
	}
	file := filepath.Join(t.TempDir(), "terminal.png")
	writePNG(t, file, img)
	if got := zbar(t, file); got != txt {
		t.Errorf("zbarimg read %q from the terminal drawing, want %q", got, txt)
	}
	data, _ := os.ReadFile(file)
	if got, err := DecodePNG(data); err != nil || got != txt {
		t.Errorf("DecodePNG of the terminal drawing = %q, %v", got, err)
	}
}

func writePNG(t testing.TB, file string, img image.Image) {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func encodeJPEG(t testing.TB, img image.Image, quality int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encodePNGT(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// scale resizes img by f with bilinear filtering, as a screenshot or
// photo does.
func scale(img image.Image, f float64) *image.Gray {
	src := grayimg.From(img) // a source type x/image/draw has a fast path for
	b := src.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, int(float64(b.Dx())*f), int(float64(b.Dy())*f)))
	xdraw.BiLinear.Scale(dst, dst.Rect, src, b, xdraw.Src, nil)
	return grayimg.From(dst)
}

// photo makes a poor photo of img: placed on a gray background, low
// contrast, blurred and noisy.
func photo(img image.Image, seed uint64) *image.Gray {
	r := rand.New(rand.NewPCG(seed, seed))
	src := grayimg.From(img)
	b := src.Bounds()
	pad := 60
	g := image.NewGray(image.Rect(0, 0, b.Dx()+2*pad, b.Dy()+2*pad))
	for i := range g.Pix {
		g.Pix[i] = 150
	}
	for y := range b.Dy() {
		for x := range b.Dx() {
			// Low contrast: black prints as 70, white paper as 200.
			g.Pix[(y+pad)*g.Stride+x+pad] = 70 + byte(int(src.Pix[y*src.Stride+x])*130/255)
		}
	}
	// 3×3 box blur, then noise.
	out := image.NewGray(g.Rect)
	w, h := g.Rect.Dx(), g.Rect.Dy()
	for y := range h {
		for x := range w {
			s, n := 0, 0
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					if xx, yy := x+dx, y+dy; xx >= 0 && yy >= 0 && xx < w && yy < h {
						s += int(g.Pix[yy*g.Stride+xx])
						n++
					}
				}
			}
			v := s/n + r.IntN(41) - 20
			out.Pix[y*out.Stride+x] = byte(min(max(v, 0), 255))
		}
	}
	return out
}

// TestDecodePNG reads the kit back from its own QR image and from
// degraded copies of it, like the photos and screenshots people take.
func TestDecodePNG(t *testing.T) {
	for i, k := range testKits()[:2] {
		txt := k.Text()
		clean, err := QRPNG(txt, 400)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(clean))
		if err != nil {
			t.Fatal(err)
		}
		onePx, err := QRPNG(txt, 1)
		if err != nil {
			t.Fatal(err)
		}
		onePxImg, err := png.Decode(bytes.NewReader(onePx))
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			data []byte
		}{
			{"clean", clean},
			{"scaled down", encodePNGT(t, scale(img, 0.55))},
			{"scaled up", encodePNGT(t, scale(img, 1.7))},
			{"JPEG quality 60", encodeJPEG(t, img, 60)},
			{"poor photo", encodeJPEG(t, photo(scale(img, 1.37), uint64(i)+1), 60)},
			{"inverted", encodePNGT(t, invert(img))},
			{"small screenshot", encodePNGT(t, scale(img, 0.3))},
			{"one pixel per module", onePx},
			{"large photo", encodeJPEG(t, photo(scale(img, 3.5), uint64(i)+7), 80)},
			// These two are not read on the first try: they need the
			// contrast stretch and the scaled-down retries.
			{"low contrast", encodePNGT(t, lowContrast(img))},
			{"large screenshot", encodePNGT(t, scale(onePxImg, 30))},
		} {
			got, err := DecodePNG(tc.data)
			if err != nil {
				t.Errorf("kit %d, %s: %v", i, tc.name, err)
				continue
			}
			if got != txt {
				t.Errorf("kit %d, %s: read %q, want %q", i, tc.name, got, txt)
			}
		}
	}
}

// lowContrast maps black to 120 and white to 141, as in a dim photo of a
// faded print.
func lowContrast(img image.Image) *image.Gray {
	g := grayimg.From(scale(img, 1.1))
	for i, v := range g.Pix {
		g.Pix[i] = 120 + v/12
	}
	return g
}

func invert(img image.Image) *image.Gray {
	b := img.Bounds()
	g := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := range b.Dy() {
		for x := range b.Dx() {
			c := color.GrayModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.Gray).Y
			g.Pix[y*g.Stride+x] = 255 - c
		}
	}
	return g
}

func TestDecodePNGErrors(t *testing.T) {
	blank := image.NewGray(image.Rect(0, 0, 300, 300))
	for i := range blank.Pix {
		blank.Pix[i] = 0xff
	}
	noise := image.NewGray(image.Rect(0, 0, 300, 300))
	r := rand.New(rand.NewPCG(23, 24))
	for i := range noise.Pix {
		noise.Pix[i] = byte(r.Uint32())
	}
	for _, tc := range []struct {
		name string
		data []byte
		err  error
	}{
		{"empty", nil, ErrImage},
		{"text", []byte("KH1-22222-22222"), ErrImage},
		{"truncated PNG", encodePNGT(t, blank)[:60], ErrImage},
		{"huge PNG header", hugePNG(t, 100000, 100000), ErrImage},
		{"blank", encodePNGT(t, blank), ErrNoQRCode},
		{"noise", encodePNGT(t, noise), ErrNoQRCode},
		{"one pixel", encodePNGT(t, image.NewGray(image.Rect(0, 0, 1, 1))), ErrNoQRCode},
	} {
		_, err := DecodePNG(tc.data)
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.err)
		}
	}
}

// hugePNG returns a PNG header declaring a w×h image, with no pixel data:
// DecodePNG must refuse it from the header alone.
func hugePNG(t testing.TB, w, h int) []byte {
	small := encodePNGT(t, image.NewGray(image.Rect(0, 0, 1, 1)))
	// IHDR starts at byte 8: length(4) "IHDR"(4) width(4) height(4) ...;
	// patch the dimensions and recompute the CRC.
	b := bytes.Clone(small)
	put := func(off, v int) {
		b[off], b[off+1], b[off+2], b[off+3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	}
	put(16, w)
	put(20, h)
	put(29, int(crc32.ChecksumIEEE(b[12:29])))
	return b
}

func FuzzDecodePNG(f *testing.F) {
	k := testKits()[0]
	clean, err := QRPNG(k.Text(), 100)
	if err != nil {
		f.Fatal(err)
	}
	img, _ := png.Decode(bytes.NewReader(clean))
	f.Add(clean)
	f.Add(encodeJPEG(f, img, 50))
	f.Add(hugePNG(f, 50000, 50000))
	f.Add([]byte("GIF89a"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// DecodePNG accepts up to MaxImagePixels; a valid huge image is
		// slow rather than wrong, so keep the fuzzer on small ones.
		if cfg, _, err := image.DecodeConfig(bytes.NewReader(data)); err == nil && cfg.Width*cfg.Height > 1<<20 {
			t.Skip()
		}
		s, err := DecodePNG(data)
		if err != nil && s != "" {
			t.Fatalf("DecodePNG returned text with an error")
		}
	})
}

func BenchmarkQRPNG(b *testing.B) {
	txt := testKits()[1].Text()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := QRPNG(txt, 512); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodePNG(b *testing.B) {
	data, err := QRPNG(testKits()[1].Text(), 512)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := DecodePNG(data); err != nil {
			b.Fatal(err)
		}
	}
}
