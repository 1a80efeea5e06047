package webextras

import (
	"bytes"
	"image"
	"image/draw"
	"image/png"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/kit"
	"github.com/keyhold/keyhold/internal/webcore"
)

var testKit = kit.Kit{AccountID: [16]byte{1, 2, 3}, SecretKey: [16]byte{4, 5, 6}, SyncLocation: "https://vault.example.org"}

// TestReadKit: the kit PDF, a PNG of its QR code and a camera frame of it
// (luminance bytes, the QR code off-centre in a larger picture) all give
// back the setup code; a frame without one finds nothing.
func TestReadKit(t *testing.T) {
	var x Local
	pdf, err := x.KitPDF(testKit.Sheet("a@example.org", time.Now(), "K1-TEST"))
	if err != nil {
		t.Fatal(err)
	}
	qr, err := kit.QRPNG(testKit.Text(), 256)
	if err != nil {
		t.Fatal(err)
	}
	for name, file := range map[string][]byte{"pdf": pdf, "png": qr} {
		if code, err := x.ReadKitFile(file); err != nil || code != testKit.Text() {
			t.Errorf("%s: %q %v", name, code, err)
		}
	}
	img, err := png.Decode(bytes.NewReader(qr))
	if err != nil {
		t.Fatal(err)
	}
	frame := image.NewGray(image.Rect(0, 0, 640, 480))
	draw.Draw(frame, frame.Rect, image.White, image.Point{}, draw.Src)
	draw.Draw(frame, image.Rect(300, 150, 556, 406), img, image.Point{}, draw.Src)
	code, found, err := x.ReadQRFrame(frame.Pix, 640, 480)
	if err != nil || !found || code != testKit.Text() {
		t.Fatalf("camera frame: %q %v %v", code, found, err)
	}
	blank := make([]byte, 640*480)
	if _, found, err := x.ReadQRFrame(blank, 640, 480); found || err != nil {
		t.Fatalf("blank frame: %v %v", found, err)
	}
	if _, err := x.ReadKitFile([]byte("%PDF-1.4 junk")); webcore.Code(err) != webcore.CodeBadKit && webcore.Code(err) != webcore.CodeNoQR {
		t.Errorf("junk PDF: %v (%s)", err, webcore.Code(err))
	}
	blankPNG := new(bytes.Buffer)
	png.Encode(blankPNG, image.NewGray(image.Rect(0, 0, 50, 50)))
	if _, err := x.ReadKitFile(blankPNG.Bytes()); webcore.Code(err) != webcore.CodeNoQR {
		t.Errorf("a picture without a QR code: %v (%s)", err, webcore.Code(err))
	}
}

// TestGenerateAndStrength: the generator's defaults are the command's,
// and the meter tells a weak password from a strong one.
func TestGenerateAndStrength(t *testing.T) {
	var x Local
	g, err := x.Generate(webcore.GenerateRequest{})
	if err != nil || len(g.Value) != 24 || !g.Strength.OK {
		t.Fatalf("default password: %d chars, %+v, %v", len(g.Value), g.Strength, err)
	}
	p, err := x.Generate(webcore.GenerateRequest{Kind: "passphrase", Words: 5})
	if err != nil || len(bytes.Split([]byte(p.Value), []byte("-"))) != 5 {
		t.Fatalf("passphrase %q %v", p.Value, err)
	}
	if _, err := x.Generate(webcore.GenerateRequest{Length: 3}); webcore.Code(err) != webcore.CodeInvalid {
		t.Errorf("a 3-character password: %v", err)
	}
	if s, _ := x.Strength([]byte("password1")); s.OK || s.Score > 1 {
		t.Errorf("password1: %+v", s)
	}
	if s, _ := x.Strength([]byte("examplebank2024"), "examplebank"); s.OK {
		t.Errorf("the title plus a year: %+v", s)
	}
}
