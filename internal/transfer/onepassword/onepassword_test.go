package onepassword

import (
	"archive/zip"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/transfertest"
)

// opZipEntry is one file of a test archive.
type opZipEntry struct {
	name string
	data []byte
}

// opZip writes a ZIP archive of the entries, in order.
func opZip(t testing.TB, entries []opZipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, e := range entries {
		fw, err := w.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: transfertest.SrcNow})
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(e.data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// op1PUXFixture zips testdata/onepassword/1pux the way 1Password lays
// out a .1pux file, plus any extra entries.
func op1PUXFixture(t testing.TB, extra ...opZipEntry) []byte {
	t.Helper()
	root := "testdata/onepassword/1pux"
	var entries []opZipEntry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		entries = append(entries, opZipEntry{filepath.ToSlash(rel), b})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(entries, func(a, b opZipEntry) int { return strings.Compare(a.name, b.name) })
	return opZip(t, append(entries, extra...))
}

func read1PUXBytes(t testing.TB, data []byte) (*transfer.ImportResult, error) {
	t.Helper()
	r := Read1PUX
	return r(data, transfer.ImportOptions{Now: transfertest.SrcNow})
}

func Test1PUXFields(t *testing.T) {
	res, err := read1PUXBytes(t, op1PUXFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	transfertest.Check(t, res)
	transfertest.CheckFields(t, res, []transfertest.FieldCase{
		{"Café Zürich", "username", "jörg@example.ch", item.Text, false},
		{"Café Zürich", "password", "correct hörse", item.Hidden, false},
		{"Café Zürich", "totp", "otpauth://totp/Example:jorg?secret=JBSWY3DPEHPK3PXP&issuer=Example", item.TOTP, false},
		{"Café Zürich", "memberId", "A-42", item.Text, true},
		{"Café Zürich", "PIN", "9876", item.Hidden, true},
		{"Café Zürich", "Mitglied seit", "2020-01-01", item.Text, true},
		{"Visa Gold", "cardholder", "Jörg Müller", item.Text, false},
		{"Visa Gold", "brand", "visa", item.Text, false},
		{"Visa Gold", "number", "4111111111111111", item.Hidden, false},
		{"Visa Gold", "cvv", "321", item.Hidden, false},
		{"Visa Gold", "expiry", "12/2030", item.Text, false},
		{"Visa Gold", "valid from", "01/2020", item.Text, true},
		{"Jörg Müller", "first_name", "Jörg", item.Text, false},
		{"Jörg Müller", "initial", "K", item.Text, true},
		{"Jörg Müller", "last_name", "Müller", item.Text, false},
		{"Jörg Müller", "sex", "male", item.Text, true},
		{"Jörg Müller", "birthdate", "1980-01-01", item.Text, false},
		{"Jörg Müller", "company", "Example AG", item.Text, false},
		{"Jörg Müller", "address", "Bahnhofstrasse 1\nZürich ZH 8001\nch", item.Text, false},
		{"Jörg Müller", "phone", "+41 44 000 00 00", item.Text, false},
		{"Jörg Müller", "email", "jorg@example.ch", item.Text, false},
		{"Jörg Müller", "website", "https://jorg.example.ch", item.URL, true},
		{"Bankkonto", "bank_name", "Kantonalbank", item.Text, false},
		{"Bankkonto", "account_name", "Jörg Müller", item.Text, false},
		{"Bankkonto", "type", "checking", item.Text, true},
		{"Bankkonto", "account_number", "12-345678-9", item.Hidden, false},
		{"Bankkonto", "iban", "CH93 0076 2011 6238 5295 7", item.Hidden, false},
		{"Bankkonto", "swift", "KBZHCHZZ", item.Text, false},
		{"Bankkonto", "pin", "4321", item.Hidden, false},
		{"Reisepass", "passport", "X1234567", item.Hidden, false},
		{"Reisepass", "issuing country", "Schweiz", item.Text, true},
		{"Reisepass", "full name", "Jörg Karl Müller", item.Text, true},
		{"Reisepass", "expiry date", "2034-01-01", item.Text, true},
		{"Generated password", "password", "generated-Pw-9!", item.Hidden, false},
	})
}

func Test1PUXItems(t *testing.T) {
	res, err := read1PUXBytes(t, op1PUXFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 8 {
		t.Fatalf("got %d items, want 8", len(res.Items))
	}
	login := transfertest.ByTitle(t, res, "Café Zürich")
	it := login.Item
	if it.Type != item.Login || !it.Favorite || login.Source != "Personal/Café Zürich" {
		t.Errorf("login: %s favorite %v source %q", it.Type, it.Favorite, login.Source)
	}
	if !slices.Equal(it.URLs, []string{"https://www.example.ch/login", "https://app.example.ch"}) {
		t.Errorf("URLs %q", it.URLs)
	}
	// Two vaults: each item is tagged with its vault.
	if !slices.Equal(it.Tags, []string{"Personal", "Finanzen", "travel/2024"}) {
		t.Errorf("tags %q", it.Tags)
	}
	if it.Notes != "Zweizeilige Notiz\nmit \"Anführungszeichen\", und Komma" {
		t.Errorf("notes %q", it.Notes)
	}
	if !it.Created.Equal(time.Unix(1619465969, 0)) || !it.Modified.Equal(time.Unix(1619466052, 0)) {
		t.Errorf("times %v %v", it.Created, it.Modified)
	}
	if len(it.Attachments) != 1 || it.Attachments[0].Name != "codes.txt" || string(it.Attachments[0].Data) != "recovery codes:\n1111-2222\n3333-4444\n" {
		t.Errorf("file field attachment: %+v", it.Attachments)
	}
	if len(login.History) != 2 {
		t.Fatalf("history: %d revisions, want 2", len(login.History))
	}
	for i, pw := range []string{"oldest-pässword", "older-password"} {
		if p, _ := login.History[i].Get("password"); p != pw {
			t.Errorf("history %d password %q, want %q", i, p, pw)
		}
	}
	if !login.History[0].Modified.Equal(time.Unix(1619460000, 0)) {
		t.Errorf("history 0 dated %v", login.History[0].Modified)
	}

	arch := transfertest.ByTitle(t, res, "Archived note").Item
	if arch.Type != item.Note || arch.Trashed == nil || arch.Notes != "Alte Notiz\n古いメモ" {
		t.Errorf("archived note: %s trashed %v notes %q", arch.Type, arch.Trashed, arch.Notes)
	}
	doc := transfertest.ByTitle(t, res, "Passport scan").Item
	if doc.Type != item.Note || len(doc.Attachments) != 1 || doc.Attachments[0].Name != "passport-scan.pdf" {
		t.Errorf("document: %s %+v", doc.Type, doc.Attachments)
	}
	for title, typ := range map[string]item.Type{"Visa Gold": item.Card, "Jörg Müller": item.Identity, "Bankkonto": item.Bank, "Reisepass": item.Identity, "Generated password": item.Login} {
		if got := transfertest.ByTitle(t, res, title).Item.Type; got != typ {
			t.Errorf("%s: type %s, want %s", title, got, typ)
		}
	}
	for _, want := range [][]string{
		{`"Personal/Café Zürich"`, "Related", "links to another"},
		{`"Family/Reisepass"`, "mystery", "hologram"},
	} {
		if !transfertest.HasLine(res.Unmapped, want...) {
			t.Errorf("no Unmapped line with %q in:\n%s", want, strings.Join(res.Unmapped, "\n"))
		}
	}
}

func Test1PUXBounds(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), (item.MaxAttachmentBytes/16)+100)
	data := strings.Replace(string(transfertest.File(t, "testdata/onepassword/1pux/export.data")),
		`"fileName": "passport-scan.pdf",
                  "documentId": "ddyjvkkxxdd6uevkrusqkaiihy"`,
		`"fileName": "huge.bin",
                  "documentId": "bigbigbigbigbigbigbigbigbi"`, 1)
	arc := opZip(t, []opZipEntry{
		{"export.attributes", []byte(`{"version":3}`)},
		{"export.data", []byte(data)},
		{"files/bigbigbigbigbigbigbigbigbi__huge.bin", big},
		{"files/pm6c5dfkzjpkcjwmqnv4mkvcfi__codes.txt", []byte("x")},
		{"../evil.txt", []byte("x")},
	})
	res, err := read1PUXBytes(t, arc)
	if err != nil {
		t.Fatal(err)
	}
	transfertest.Check(t, res)
	if doc := transfertest.ByTitle(t, res, "Passport scan").Item; len(doc.Attachments) != 0 {
		t.Errorf("an oversize attachment was imported")
	}
	if !transfertest.HasLine(res.Unmapped, `"Family/Passport scan"`, "huge.bin", "larger than an item can hold") {
		t.Errorf("oversize attachment not reported: %q", res.Unmapped)
	}
	if !transfertest.HasLine(res.Unmapped, "../evil.txt", "unsafe path") {
		t.Errorf("unsafe path not reported: %q", res.Unmapped)
	}
}

func Test1PUXRefused(t *testing.T) {
	good := op1PUXFixture(t)
	// A flipped byte inside export.data's compressed bytes fails its CRC
	// or its inflation.
	corrupt := slices.Clone(good)
	at := bytes.Index(corrupt, []byte("export.data")) + len("export.data") + 40
	corrupt[at] ^= 0xff

	cases := []struct {
		name string
		in   []byte
		hint string
	}{
		{"empty", nil, "not a ZIP"},
		{"not zip", []byte("Title,Url\n"), "not a ZIP"},
		{"truncated", good[:len(good)-30], "not a ZIP"},
		{"half", good[:len(good)/2], "not a ZIP"},
		{"corrupt entry", corrupt, "export.data"},
		{"no export.data", opZip(t, []opZipEntry{{"export.attributes", []byte(`{}`)}}), "no export.data"},
		{"data not json", opZip(t, []opZipEntry{{"export.data", []byte(`{"accounts":[`)}}), "truncated"},
		{"data wrong shape", opZip(t, []opZipEntry{{"export.data", []byte(`{"accounts":{}}`)}}), "wrong type"},
		{"no accounts", opZip(t, []opZipEntry{{"export.data", []byte(`{}`)}}), "accounts"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := read1PUXBytes(t, c.in)
			if !errors.Is(err, transfer.ErrSourceFormat) || res != nil {
				t.Fatalf("got %v, %v; want ErrSourceFormat and no result", res, err)
			}
			if !strings.Contains(err.Error(), c.hint) {
				t.Fatalf("error %q does not say %q", err, c.hint)
			}
		})
	}
}

// opLowLimits lowers the archive bounds so that tests of them stay fast.
func opLowLimits(t testing.TB) {
	e, tot, d := opMaxEntries, opMaxTotal, opMaxData
	opMaxEntries, opMaxTotal, opMaxData = 50, 64<<20, 1<<20
	t.Cleanup(func() { opMaxEntries, opMaxTotal, opMaxData = e, tot, d })
}

// Test1PUXZipBomb checks that archives that inflate to more than the
// bounds, or claim to, are refused without inflating them.
func Test1PUXZipBomb(t *testing.T) {
	opLowLimits(t)
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	fw, _ := w.Create("export.data")
	fw.Write(bytes.Repeat([]byte(" "), int(opMaxData)+1))
	w.Close()
	res, err := read1PUXBytes(t, buf.Bytes())
	if !errors.Is(err, transfer.ErrSourceFormat) || res != nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("inflating bomb: got %v, %v; want a refusal", res, err)
	}

	// A directory that claims more than the total bound.
	buf.Reset()
	w = zip.NewWriter(&buf)
	raw, _ := w.CreateRaw(&zip.FileHeader{Name: "files/a", Method: zip.Store, UncompressedSize64: opMaxTotal + 1, CompressedSize64: 1})
	raw.Write([]byte("x"))
	fw, _ = w.Create("export.data")
	fw.Write([]byte(`{"accounts":[]}`))
	w.Close()
	res, err = read1PUXBytes(t, buf.Bytes())
	if !errors.Is(err, transfer.ErrSourceFormat) || res != nil || !strings.Contains(err.Error(), "inflate to more than") {
		t.Fatalf("declared bomb: got %v, %v; want a refusal", res, err)
	}

	var many []opZipEntry
	for i := range opMaxEntries + 1 {
		many = append(many, opZipEntry{name: "files/" + strconv.Itoa(i)})
	}
	res, err = read1PUXBytes(t, opZip(t, many))
	if !errors.Is(err, transfer.ErrSourceFormat) || res != nil || !strings.Contains(err.Error(), "holds") {
		t.Fatalf("too many entries: got %v, %v; want a refusal", res, err)
	}
}

func Test1PasswordCSV8(t *testing.T) {
	res := transfertest.MustRead(t, ReadCSV, "testdata/onepassword/1password8.csv", nil)
	if len(res.Items) != 3 || res.Skipped != 1 {
		t.Fatalf("got %d items, %d skipped; want 3 and 1", len(res.Items), res.Skipped)
	}
	transfertest.CheckFields(t, res, []transfertest.FieldCase{
		{"Café Zürich", "username", "jörg@example.ch", item.Text, false},
		{"Café Zürich", "password", "correct, hörse", item.Hidden, false},
		{"Café Zürich", "totp", "otpauth://totp/Example:jorg?secret=JBSWY3DPEHPK3PXP", item.TOTP, false},
		{"Old router", "password", "r0uter!", item.Hidden, false},
	})
	c := transfertest.ByTitle(t, res, "Café Zürich").Item
	if !c.Favorite || c.Trashed != nil || !slices.Equal(c.Tags, []string{"Finanzen", "travel/2024"}) ||
		!slices.Equal(c.URLs, []string{"https://www.example.ch/login"}) || c.Notes != "Zwei Zeilen\nmit \"Zitat\"" {
		t.Errorf("Café Zürich: %+v", c)
	}
	if r := transfertest.ByTitle(t, res, "Old router").Item; r.Trashed == nil || r.Favorite {
		t.Errorf("archived row: trashed %v favorite %v", r.Trashed, r.Favorite)
	}
	if n := transfertest.ByTitle(t, res, "Nur Notiz").Item; n.Type != item.Note || n.Notes != "日本語のメモ\nsecond line" {
		t.Errorf("note row: %s %q", n.Type, n.Notes)
	}
}

func Test1PasswordCSV7(t *testing.T) {
	res := transfertest.MustRead(t, ReadCSV, "testdata/onepassword/1password7.csv", nil)
	transfertest.CheckFields(t, res, []transfertest.FieldCase{
		{"Bank", "username", "jdoe", item.Text, false},
		{"Bank", "password", "s3cret", item.Hidden, false},
		{"Bank", "Security question", "Pet name?", item.Text, true},
		{"Bank", "PIN code", "1234", item.Hidden, true},
	})
	b := transfertest.ByTitle(t, res, "Bank").Item
	if !slices.Equal(b.URLs, []string{"https://bank.example"}) || b.Notes != "multi\nline" {
		t.Errorf("Bank: %q %q", b.URLs, b.Notes)
	}
	if v := transfertest.ByTitle(t, res, "Visa").Item; v.Type != item.Card {
		t.Errorf("Type column: Visa is a %s", v.Type)
	}
}

func Test1PasswordCSVRefused(t *testing.T) {
	transfertest.Bad(t, ReadCSV, []transfertest.BadCase{
		{"empty", "", "empty"},
		{"unknown header", "foo,bar\n1,2\n", "none of the columns"},
		{"short row", "Title,Url,Username\nA,b\n", "line 2 has 2 cells"},
		{"unclosed", "Title,Notes\nA,\"unclosed\n", "not closed"},
		{"latin1", "Title,Notes\nCaf\xe9,x\n", "UTF-8"},
		{"nul", "Title,Notes\nA,\x00\n", "NUL"},
	})
}

// TestSourceLimits checks that values beyond the item limits are
// reported, never cut short or dropped silently.
func TestSourceLimits(t *testing.T) {
	long := strings.Repeat("x", item.MaxFieldValue+1)
	var hdr, row []string
	for i := range item.MaxFields + 2 {
		hdr = append(hdr, "extra"+strconv.Itoa(i))
		row = append(row, "v")
	}
	in := "Title,Password," + strings.Join(hdr, ",") + "\nBig,\"" + long + "\"," + strings.Join(row, ",") + "\n"
	r := ReadCSV
	res, err := r([]byte(in), transfer.ImportOptions{Now: transfertest.SrcNow})
	if err != nil {
		t.Fatal(err)
	}
	transfertest.Check(t, res)
	if !transfertest.HasLine(res.Unmapped, `"Big"`, `field "password"`, "larger than a field can hold") {
		t.Errorf("oversize value not reported: %q", res.Unmapped)
	}
	if !transfertest.HasLine(res.Unmapped, `"Big"`, "at most 256 fields") {
		t.Errorf("field overflow not reported")
	}
}

func FuzzRead1PUX(f *testing.F) {
	f.Add(op1PUXFixture(f))
	f.Add(opZip(f, []opZipEntry{{"export.data", []byte(`{"accounts":[{"vaults":[{"items":[{"categoryUuid":"002","details":{"sections":[{"fields":[{"id":"expiry","value":{"monthYear":1}}]}]},"overview":{"title":"x"}}]}]}]}`)}}))
	opLowLimits(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		transfertest.Fuzz(t, Read1PUX, in, nil)
	})
}

func FuzzRead1PasswordCSV(f *testing.F) {
	transfertest.AddFiles(f, "testdata/onepassword/1password8.csv", "testdata/onepassword/1password7.csv")
	f.Add([]byte("Title,Tags,Archived,OTPAuth\nA,\"a;b,c\",yes,steam://x\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		transfertest.Fuzz(t, ReadCSV, in, nil)
	})
}

// 1Password 7 for Mac names card and identity columns "label(key)",
// prints tags as a set ("{(\n    a,\n    \"b c\"\n)}") and writes a quote
// inside a value as \": cards and identities get their standard fields,
// hidden where secret.
func Test1PasswordCSV7Mac(t *testing.T) {
	res := transfertest.MustRead(t, ReadCSV, "testdata/onepassword/1password7-mac.csv", nil)
	if len(res.Items) != 2 || len(res.Unmapped) != 0 {
		t.Fatalf("got %d items, unmapped %q", len(res.Items), res.Unmapped)
	}
	transfertest.CheckFields(t, res, []transfertest.FieldCase{
		{"My Visa", "cardholder", "Jane Doe", item.Text, false},
		{"My Visa", "number", "4111 1111 1111 1111", item.Hidden, false},
		{"My Visa", "cvv", "123", item.Hidden, false},
		{"My Visa", "expiry", "12/2030", item.Text, false},
		{"My Visa", "brand", "Visa", item.Text, false},
		{"My Visa", "pin", "4321", item.Hidden, false},
		{"My Visa", "valid from", "01/2024", item.Text, true},
		{"My Visa", "issuing bank", "Big Bank", item.Text, true},
		{"Jane Doe", "first_name", "Jane", item.Text, false},
		{"Jane Doe", "last_name", "Doe", item.Text, false},
		{"Jane Doe", "email", "jane@example.com", item.Text, false},
		{"Jane Doe", "phone", "+1 555 0100", item.Text, false},
		{"Jane Doe", "address", "1 Main St, Springfield", item.Text, false},
		{"Jane Doe", "birthdate", "1990-01-02", item.Text, false},
		{"Jane Doe", "company", "ACME", item.Text, false},
	})
	v := transfertest.ByTitle(t, res, "My Visa").Item
	if v.Type != item.Card || v.Notes != `paid off "monthly"` || !slices.Equal(v.Tags, []string{"finance", "travel card"}) {
		t.Errorf("My Visa: %s, notes %q, tags %q", v.Type, v.Notes, v.Tags)
	}
	if j := transfertest.ByTitle(t, res, "Jane Doe").Item; j.Type != item.Identity || len(j.Tags) != 0 {
		t.Errorf("Jane Doe: %s, tags %q", j.Type, j.Tags)
	}
}

// 1Password 7 for Windows numbers its field columns ("2: NUMBER").
func Test1PasswordCSV7Windows(t *testing.T) {
	res := transfertest.MustRead(t, ReadCSV, "testdata/onepassword/1password7-windows.csv", nil)
	if len(res.Items) != 3 || len(res.Unmapped) != 0 {
		t.Fatalf("got %d items, unmapped %q", len(res.Items), res.Unmapped)
	}
	transfertest.CheckFields(t, res, []transfertest.FieldCase{
		{"Work Mastercard", "cardholder", "Max Muster", item.Text, false},
		{"Work Mastercard", "number", "5555 4444 3333 2222", item.Hidden, false},
		{"Work Mastercard", "cvv", "987", item.Hidden, false},
		{"Work Mastercard", "expiry", "01/2029", item.Text, false},
		{"Work Mastercard", "brand", "Mastercard", item.Text, false},
		{"Max", "first_name", "Max", item.Text, false},
		{"Max", "last_name", "Muster", item.Text, false},
		{"Max", "email", "max@example.org", item.Text, false},
		{"Mail", "username", "max", item.Text, false},
		{"Mail", "password", "pw ä", item.Hidden, false},
	})
	for title, want := range map[string]item.Type{"Work Mastercard": item.Card, "Max": item.Identity, "Mail": item.Login} {
		if got := transfertest.ByTitle(t, res, title).Item.Type; got != want {
			t.Errorf("%s is a %s, want %s", title, got, want)
		}
	}
}

func TestOPSplitHeader(t *testing.T) {
	for in, want := range map[string][3]string{
		"number(ccnum)":             {"number", "number", "ccnum"},
		"phone (local)(phoneLocal)": {"phone (local)", "phone (local)", "phonelocal"},
		"2: NUMBER":                 {"NUMBER", "number", ""},
		"Notes (private)":           {"Notes (private)", "notes (private)", ""},
		"Title":                     {"Title", "title", ""},
		"Time: 12":                  {"Time: 12", "time: 12", ""},
	} {
		l, lo, k := opSplitHeader(in)
		if [3]string{l, lo, k} != want {
			t.Errorf("opSplitHeader(%q) = %q %q %q, want %q", in, l, lo, k, want)
		}
	}
}

func TestOPTags(t *testing.T) {
	for in, want := range map[string][]string{
		"":                            nil,
		"{(\n)}":                      nil,
		"{(\n    a,\n    \"b c\"\n)}": {"a", "b c"},
		"x, y;z":                      {"x", "y", "z"},
	} {
		if got := opTags(in); !slices.Equal(got, want) {
			t.Errorf("opTags(%q) = %q, want %q", in, got, want)
		}
	}
}

// What a 1PUX brings in attachments is bounded in all: past the bound
// each attachment is reported by name, and the items still come in.
func Test1PUXAttachmentsBoundedInAll(t *testing.T) {
	all, err := read1PUXBytes(t, op1PUXFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for _, im := range all.Items {
		for _, a := range im.Item.Attachments {
			sizes = append(sizes, len(a.Data))
		}
	}
	if len(sizes) == 0 {
		t.Fatal("the fixture has no attachments to bound")
	}
	res, err := Read1PUX(op1PUXFixture(t), transfer.ImportOptions{Now: transfertest.SrcNow, MaxAttachments: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != len(all.Items) {
		t.Fatalf("%d items imported under the bound, %d without it: items must not be dropped", len(res.Items), len(all.Items))
	}
	for _, im := range res.Items {
		if len(im.Item.Attachments) != 0 {
			t.Errorf("%q kept an attachment past the bound", im.Item.Title)
		}
	}
	reported := 0
	for _, u := range res.Unmapped {
		if strings.Contains(u, "attachments exceed") {
			reported++
		}
	}
	if reported != len(sizes) {
		t.Errorf("%d attachments reported past the bound, want %d: %q", reported, len(sizes), res.Unmapped)
	}
}
