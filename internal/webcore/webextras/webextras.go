// Package webextras is the web vault's second module, loaded on demand:
// it reads a recovery kit from a PDF, an image or a camera frame, renders
// the kit PDF, estimates password strength and generates passwords, for
// package webcore (webcore.Extras). It is what cmd/keyhold-web-kit
// exposes to the page, and what native tests plug in directly. It holds
// no state and never sees the vault.
package webextras

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/png"

	"github.com/keyhold/keyhold/internal/gen"
	"github.com/keyhold/keyhold/internal/kit"
	"github.com/keyhold/keyhold/internal/kit/kittext"
	"github.com/keyhold/keyhold/internal/strength"
	"github.com/keyhold/keyhold/internal/webcore"
)

// Local is webcore.Extras computed in this process.
type Local struct{}

var _ webcore.Extras = Local{}

// kitError gives kit's errors the contract's codes: the page tells "no QR
// code here" apart from "not a kit".
func kitError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kit.ErrNoQRCode):
		return &webcore.CodeError{Code: webcore.CodeNoQR, Msg: err.Error()}
	case errors.Is(err, kit.ErrPDF), errors.Is(err, kit.ErrImage), webcore.Code(err) == webcore.CodeBadKit:
		return &webcore.CodeError{Code: webcore.CodeBadKit, Msg: err.Error()}
	}
	return err
}

// ReadKitFile finds the setup code in a kit PDF or an image of its QR
// code.
func (Local) ReadKitFile(file []byte) (string, error) {
	if len(file) > webcore.MaxKitFile {
		return "", kitError(fmt.Errorf("%w: the file is too large to be a recovery kit", kittext.ErrNotKit))
	}
	k, err := kit.ReadFrom(bytes.NewReader(file), "the kit file")
	if err != nil {
		return "", kitError(err)
	}
	defer k.Wipe()
	return k.Text(), nil
}

// ReadQRFrame looks for a QR code in a camera frame.
func (Local) ReadQRFrame(gray []byte, width, height int) (string, bool, error) {
	if width <= 0 || height <= 0 || width*height > webcore.MaxFramePixels || len(gray) != width*height {
		return "", false, fmt.Errorf("%w: a camera frame of %d×%d pixels must have %d bytes", webcore.ErrInvalid, width, height, max(width*height, 0))
	}
	img := &image.Gray{Pix: gray, Stride: width, Rect: image.Rect(0, 0, width, height)}
	// The kit package reads images, not bare pixels; PNG without
	// compression is a cheap way to hand it one.
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.NoCompression}).Encode(&buf, img); err != nil {
		return "", false, err
	}
	text, err := kit.DecodePNG(buf.Bytes())
	if errors.Is(err, kit.ErrNoQRCode) {
		return "", false, nil
	}
	if err != nil {
		return "", false, kitError(err)
	}
	return text, true, nil
}

// KitPDF renders the printable kit.
func (Local) KitPDF(s kittext.Sheet) ([]byte, error) { return kit.PDF(s) }

// Strength estimates pw.
func (Local) Strength(pw []byte, userInputs ...string) (webcore.Strength, error) {
	e := strength.Evaluate(pw, userInputs...)
	s := webcore.Strength{Score: e.Score, Guesses: e.Guesses, CrackTime: e.CrackTimeOffline, Warning: e.Warning,
		Suggestions: e.Suggestions, OK: e.OK()}
	if s.Suggestions == nil {
		s.Suggestions = []string{}
	}
	return s, nil
}

// Generate makes a password or passphrase as `keyhold generate` does,
// with the command's defaults for what the page leaves out.
func (l Local) Generate(r webcore.GenerateRequest) (webcore.Generated, error) {
	or := func(p *bool, d bool) bool {
		if p == nil {
			return d
		}
		return *p
	}
	var b []byte
	var err error
	switch r.Kind {
	case "", "password":
		s := gen.DefaultPasswordSpec
		if r.Length != 0 {
			s.Length = r.Length
		}
		s.Upper, s.Lower, s.Digits, s.Symbols = or(r.Upper, s.Upper), or(r.Lower, s.Lower), or(r.Digits, s.Digits), or(r.Symbols, s.Symbols)
		s.NoAmbiguous = r.NoAmbiguous
		b, err = gen.Password(s)
	case "passphrase":
		s := gen.DefaultPassphraseSpec
		if r.Words != 0 {
			s.Words = r.Words
		}
		if r.Separator != nil {
			s.Separator = *r.Separator
		}
		s.Capitalize, s.Digit = r.Capitalize, r.Digit
		b, err = gen.Passphrase(s)
	default:
		return webcore.Generated{}, fmt.Errorf("%w: kind %q is neither password nor passphrase", webcore.ErrInvalid, r.Kind)
	}
	if err != nil {
		return webcore.Generated{}, fmt.Errorf("%w: %w", webcore.ErrInvalid, err)
	}
	defer clear(b)
	st, _ := l.Strength(b)
	return webcore.Generated{Value: string(b), Strength: st}, nil
}
