package kit

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRead checks every form `keyhold setup --kit ARG` accepts, from real
// files.
func TestRead(t *testing.T) {
	k := testKits()[1]
	txt := k.Text()
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	qr, err := QRPNG(txt, 300)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(qr))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		arg  string
	}{
		{"text argument", txt},
		{"lower-case text argument", strings.ToLower(txt)},
		{"PDF", write("kit.pdf", mustPDF(t, testSheet(k)))},
		{"PNG", write("qr.png", qr)},
		// Names lie; the content decides.
		{"JPEG photo named .png", write("photo.png", encodeJPEG(t, photo(img, 3), 70))},
		{"text file", write("kit.txt", []byte("\n"+txt+"\n"))},
		{"text file without extension", write("kit", []byte("KH1-"+strings.ReplaceAll(strings.TrimPrefix(txt, "KH1-"), "-", " ")))},
	} {
		got, err := Read(tc.arg)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got != k {
			t.Errorf("%s: read a different kit", tc.name)
		}
	}

	// "-" is standard input.
	stdin := write("stdin", []byte(txt+"\n"))
	f, err := os.Open(stdin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	old := os.Stdin
	os.Stdin = f
	got, err := Read("-")
	os.Stdin = old
	if err != nil || got != k {
		t.Errorf(`Read("-") = %v, %v`, got, err)
	}
}

// TestReadErrors checks that errors name the file and say what to do, and
// never show the kit.
func TestReadErrors(t *testing.T) {
	k := testKits()[0]
	txt := k.Text()
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	blank := image.NewGray(image.Rect(0, 0, 200, 200))
	for i := range blank.Pix {
		blank.Pix[i] = 0xff
	}
	typo := []byte(txt)
	typo[20] = alphabet[(strings.IndexByte(alphabet, typo[20])+1)%len(alphabet)]
	pdf := mustPDF(t, testSheet(k))

	for _, tc := range []struct {
		name string
		arg  string
		err  error // nil: checked by message only
		msg  []string
	}{
		{"typo in argument", string(typo), ErrKitChecksum, []string{"typo"}},
		{"typo in file", write("typo.txt", typo), ErrKitChecksum, []string{"typo.txt: ", "typo"}},
		{"photo without QR", write("photo.png", encodePNGT(t, blank)), ErrNoQRCode,
			[]string{"no QR code found in " + filepath.Join(dir, "photo.png"), "sharper, well-lit photo", "type the kit text"}},
		{"damaged image", write("broken.jpg", []byte("\xff\xd8\xff\xe0garbage")), ErrImage, []string{"broken.jpg"}},
		{"damaged PDF", write("broken.pdf", pdf[:len(pdf)/3]), ErrPDF, []string{"broken.pdf"}},
		{"PDF without kit", write("other.pdf", textOnlyPDF(t, "no kit here")), ErrNoQRCode, []string{"other.pdf"}},
		{"binary file", write("data.bin", []byte{0x00, 0xff, 0xfe, 0x80}), ErrNotKit, []string{"data.bin"}},
		{"other text file", write("notes.txt", []byte("remember the milk")), ErrNotKit, []string{"notes.txt"}},
		{"missing file", filepath.Join(dir, "missing.pdf"), nil, []string{"missing.pdf does not exist"}},
		{"folder", dir, nil, []string{"is a folder"}},
		{"huge file", sparse(t, filepath.Join(dir, "huge.pdf"), maxInput+1), nil, []string{"huge.pdf is larger than 64 MiB"}},
		{"not a kit", "hello", ErrNotKit, nil},
	} {
		_, err := Read(tc.arg)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if tc.err != nil && !errors.Is(err, tc.err) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.err)
		}
		for _, m := range tc.msg {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("%s: error %q does not contain %q", tc.name, err, m)
			}
		}
		assertNoSecret(t, err.Error(), txt)
	}
}

func TestReadFromLimit(t *testing.T) {
	defer func(old int64) { maxInput = old }(maxInput)
	maxInput = 1 << 20
	_, err := ReadFrom(io.LimitReader(zeros{}, maxInput+1), "huge")
	if err == nil || !strings.Contains(err.Error(), "huge is larger than 1 MiB") {
		t.Errorf("got %v, want a too-large error", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// sparse creates a file of the given size without writing it.
func sparse(t testing.TB, path string, size int64) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return path
}
