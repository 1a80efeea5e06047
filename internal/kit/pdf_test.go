package kit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"codeberg.org/go-pdf/fpdf"

	"github.com/keyhold/keyhold/internal/kit/pdfin"
)

var testCreated = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func testSheet(k Kit) Sheet {
	return Sheet{
		KitText:      k.Text(),
		AccountID:    "K1-" + strings.ToUpper(k.AccountIDString()),
		SecretKey:    "A3-7KQ9PX-M2WZRT-4HJ8NB-D6FVGC-E5YLSA-3UQ",
		Email:        "zoë@example.com",
		SyncLocation: k.SyncLocation,
		Created:      testCreated,
	}
}

// render writes pdf to dir and renders its page with pdftoppm at 150 dpi,
// returning the path of the page image.
func render(t testing.TB, dir string, pdf []byte) (pdfFile, pngFile string) {
	t.Helper()
	pdftoppm := needProgram(t, "pdftoppm", "poppler-utils")
	pdfFile = filepath.Join(dir, "kit.pdf")
	if err := os.WriteFile(pdfFile, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(pdftoppm, "-png", "-r", "150", "-singlefile", pdfFile, filepath.Join(dir, "page")).CombinedOutput()
	if err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
	return pdfFile, filepath.Join(dir, "page.png")
}

func popplerText(t testing.TB, pdfFile string) string {
	t.Helper()
	pdftotext := needProgram(t, "pdftotext", "poppler-utils")
	out, err := exec.Command(pdftotext, "-layout", pdfFile, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

// TestPDF renders the printable kit with poppler and checks what a person
// and a phone see on the page: the QR code holds the kit, and the text has
// the Secret Key, the details and the instructions.
func TestPDF(t *testing.T) {
	for i, k := range testKits() {
		t.Run(fmt.Sprint("kit ", i), func(t *testing.T) {
			t.Parallel()
			testPDF(t, i, k)
		})
	}
}

func testPDF(t *testing.T, i int, k Kit) {
	{
		sheet := testSheet(k)
		if i == 0 {
			sheet.Email = "" // the optional lines must be optional
		}
		pdf, err := PDF(sheet)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		pdfFile, page := render(t, dir, pdf)

		if got := zbar(t, page); got != sheet.KitText {
			t.Errorf("kit %d: zbarimg read %q from the page, want the kit text", i, got)
		}
		if i < 2 { // the densest code is read by zbarimg above; this saves time
			data, err := os.ReadFile(page)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := DecodePNG(data); err != nil || got != sheet.KitText {
				t.Errorf("kit %d: DecodePNG of the page = %q, %v", i, got, err)
			}
		}

		text := popplerText(t, pdfFile)
		// pdftotext may break lines and collapse spaces; compare words.
		flat := strings.Join(strings.Fields(text), " ")
		want := []string{
			"Keyhold Recovery Kit",
			"Created 14 March 2026",
			sheet.AccountID,
			sheet.SecretKey,
			"Password",
			"keep this sheet somewhere safe",
			"in a safe",
			"password is NOT in this kit",
			"still needs your password",
			"keyhold setup --kit <this file or the scanned QR code>",
			"rotate your account key, this kit stops working",
			"print the new kit",
		}
		if sheet.Email != "" {
			want = append(want, sheet.Email)
		}
		if sheet.SyncLocation != "" && len(sheet.SyncLocation) < 60 {
			want = append(want, sheet.SyncLocation)
		}
		for _, w := range want {
			if !strings.Contains(strings.ToLower(flat), strings.ToLower(w)) {
				t.Errorf("kit %d: page text does not contain %q:\n%s", i, w, text)
			}
		}
		if i == 0 && strings.Contains(flat, "Email") {
			t.Errorf("kit %d: page shows an Email line without an email", i)
		}
		// The printed setup code, once separators are removed, is the kit.
		squash := strings.NewReplacer("-", "", " ", "")
		if !strings.Contains(squash.Replace(flat), squash.Replace(sheet.KitText)) {
			t.Errorf("kit %d: page text does not show the setup code", i)
		}

		got, err := DecodePDF(pdf)
		if err != nil || got != sheet.KitText {
			t.Errorf("kit %d: DecodePDF = %q, %v", i, got, err)
		}
	}
}

func TestPDFDeterministic(t *testing.T) {
	sheet := testSheet(testKits()[1])
	a, err := PDF(sheet)
	if err != nil {
		t.Fatal(err)
	}
	b, err := PDF(sheet)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("PDF is not byte-stable for the same sheet")
	}
	if !bytes.Contains(a, []byte("/CreationDate (D:20260314150926)")) {
		t.Error("PDF creation date is not the sheet's")
	}
	sheet.Created = sheet.Created.Add(time.Hour)
	c, err := PDF(sheet)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, c) {
		t.Error("PDF does not depend on the creation date")
	}
}

func TestPDFInvalidSheet(t *testing.T) {
	good := testSheet(testKits()[0])
	for name, mutate := range map[string]func(*Sheet){
		"no kit text":   func(s *Sheet) { s.KitText = "" },
		"no secret key": func(s *Sheet) { s.SecretKey = "" },
		"no date":       func(s *Sheet) { s.Created = time.Time{} },
	} {
		s := good
		mutate(&s)
		if _, err := PDF(s); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// textOnlyPDF makes a PDF, as another program might, that prints a kit
// text over several lines and has no QR image.
func textOnlyPDF(t testing.TB, lines ...string) []byte {
	t.Helper()
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCreationDate(testCreated)
	pdf.AddPage()
	pdf.SetFont("Courier", "", 12)
	pdf.CellFormat(0, 8, "Your (secret) setup code:", "", 1, "L", false, 0, "")
	for _, l := range lines {
		pdf.CellFormat(0, 8, l, "", 1, "L", false, 0, "")
	}
	// Upper case like a line of groups: must not be taken for one.
	pdf.CellFormat(0, 8, "KEEPSAFE", "", 1, "L", false, 0, "")
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecodePDF(t *testing.T) {
	long := testKits()[1].Text()
	groups := strings.Split(long, "-")
	short := testKits()[0].Text()
	other, err := PDF(Sheet{KitText: "https://example.com/not-a-kit", AccountID: "x", SecretKey: "y", Created: testCreated})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		pdf  []byte
		want string
		err  error
	}{
		{"kit PDF", mustPDF(t, testSheet(testKits()[0])), short, nil},
		{"text, one line", textOnlyPDF(t, short), short, nil},
		{"text, three lines", textOnlyPDF(t,
			strings.Join(groups[:9], "-"),
			strings.Join(groups[9:17], "-")+"-",
			strings.Join(groups[17:], "-")), long, nil},
		{"text, no kit", textOnlyPDF(t, "nothing here"), "", ErrNoQRCode},
		// A QR code that is not a kit is returned so that Parse can say so.
		{"other QR code", other, "https://example.com/not-a-kit", nil},
		{"not a PDF", []byte("hello"), "", ErrPDF},
		{"truncated PDF", mustPDF(t, testSheet(testKits()[0]))[:400], "", ErrPDF},
	} {
		got, err := DecodePDF(tc.pdf)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s: got %q, %v; want %v", tc.name, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
		if _, err := Parse(got); tc.want == short && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func mustPDF(t testing.TB, s Sheet) []byte {
	t.Helper()
	pdf, err := PDF(s)
	if err != nil {
		t.Fatal(err)
	}
	return pdf
}

func TestContentStrings(t *testing.T) {
	in := `BT /F1 12 Tf (KH1-\(a\)b\\c) Tj [(AB) -20 (CD)] TJ <4b48 31> Tj (oct\101\12x) Tj
	% comment (not a string)
	(nested (parens) ok) Tj (line\
continued) Tj ET`
	got := pdfin.ContentStrings([]byte(in))
	want := []string{"KH1-(a)b\\c", "ABCD", "KH1", "octA\nx", "nested (parens) ok", "linecontinued"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("contentStrings = %q, want %q", got, want)
	}
}

func BenchmarkPDF(b *testing.B) {
	sheet := testSheet(testKits()[1])
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PDF(sheet); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodePDF(b *testing.B) {
	pdf := mustPDF(b, testSheet(testKits()[1]))
	for b.Loop() {
		if _, err := DecodePDF(pdf); err != nil {
			b.Fatal(err)
		}
	}
}
