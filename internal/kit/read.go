package kit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"unicode/utf8"
)

// maxInput bounds what ReadFrom reads: a kit PDF is a few kilobytes and a
// phone photo a few megabytes; anything larger is not a kit. A variable
// only so that a test can lower it.
var maxInput int64 = 64 << 20

// Read reads a kit the way `keyhold setup --kit ARG` takes it:
//
//   - "-" reads the kit from standard input;
//   - the name of an existing file reads that file, which may be a PDF
//     (the printed kit), a PNG, JPEG or GIF image of its QR code (a photo
//     or a screenshot), or a text file holding the setup code;
//   - anything else is taken as the setup code itself.
//
// Text (given, or in a file) may also be the account id and the Secret
// Key as printed on the kit (ParsePrinted); such a kit names no sync
// location.
//
// Errors name the file but never show its content.
func Read(arg string) (Kit, error) {
	if arg == "-" {
		return ReadFrom(os.Stdin, "standard input")
	}
	fi, err := os.Stat(arg)
	switch {
	case err == nil && fi.IsDir():
		return Kit{}, fmt.Errorf("%s is a folder; give the kit file (PDF, image or text) or the setup code", arg)
	case err == nil && fi.Mode().IsRegular() && fi.Size() > maxInput:
		return Kit{}, fmt.Errorf("%s is larger than %d MiB, too large to be a recovery kit", arg, maxInput>>20)
	case err == nil:
		f, err := os.Open(arg)
		if err != nil {
			return Kit{}, fmt.Errorf("cannot open %s: %v", arg, unwrapPath(err))
		}
		defer f.Close()
		return ReadFrom(f, arg)
	case looksLikePath(arg):
		// A setup code never contains '.', '/' or '\', so this was meant
		// as a file name, and showing it reveals nothing secret.
		if errors.Is(err, fs.ErrNotExist) {
			return Kit{}, fmt.Errorf("cannot read the kit: %s does not exist", arg)
		}
		return Kit{}, fmt.Errorf("cannot read the kit from %s: %v", arg, unwrapPath(err))
	}
	return parseTyped(arg)
}

// looksLikePath reports whether s has characters that a setup code never
// has but a file name usually does.
func looksLikePath(s string) bool {
	return strings.ContainsAny(s, `./\`)
}

// unwrapPath drops the *fs.PathError wrapper, whose message repeats the
// path we already show.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// ReadFrom reads a kit from r, sniffing what it holds: a PDF, a PNG, JPEG
// or GIF image of the QR code, or the setup code as text. name is used in
// errors, never the content.
func ReadFrom(r io.Reader, name string) (Kit, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	defer clear(data)
	if err != nil {
		return Kit{}, fmt.Errorf("cannot read %s: %v", name, unwrapPath(err))
	}
	if int64(len(data)) > maxInput {
		return Kit{}, fmt.Errorf("%s is larger than %d MiB, too large to be a recovery kit", name, maxInput>>20)
	}

	var text string
	switch {
	case bytes.HasPrefix(bytes.TrimLeft(data[:min(len(data), 1024)], "\x00\t\n\r "), []byte("%PDF")):
		text, err = DecodePDF(data)
		switch {
		case errors.Is(err, ErrNoQRCode):
			return Kit{}, fmt.Errorf("%w in %s: found neither a QR code nor a setup code; open it and type the setup code printed under the QR code", ErrNoQRCode, name)
		case err != nil:
			return Kit{}, fmt.Errorf("%s: %w", name, err)
		}
	case sniffImage(data):
		text, err = DecodePNG(data)
		switch {
		case errors.Is(err, ErrNoQRCode):
			return Kit{}, fmt.Errorf("%w in %s; try a sharper, well-lit photo or type the kit text", ErrNoQRCode, name)
		case err != nil:
			return Kit{}, fmt.Errorf("%s: %w", name, err)
		}
	default:
		if !utf8.Valid(data) {
			return Kit{}, fmt.Errorf("%s: %w (it is neither a PDF, an image, nor text)", name, ErrNotKit)
		}
		text = string(data)
	}

	k, err := parseTyped(text)
	if err != nil {
		return Kit{}, fmt.Errorf("%s: %w", name, err)
	}
	return k, nil
}
