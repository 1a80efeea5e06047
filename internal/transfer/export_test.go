package transfer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/google/uuid"

	"github.com/keyhold/keyhold/internal/item"
)

// testWorkFactor keeps scrypt to about a millisecond in tests. Real
// exports use age's default (DefaultWorkFactor).
const testWorkFactor = 10

// testNow dates the items of the test exports.
var testNow = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

var testPass = []byte("correct horse battery staple")

// testExport builds an export of n items, every third with history.
func testExport(t testing.TB, n int) *Export {
	t.Helper()
	e := &Export{Version: ExportVersion, Exported: time.Date(2025, 1, 2, 3, 4, 5, 600_000_000, time.UTC),
		AccountID: uuid.NewString()}
	for i := range n {
		created := testNow.Add(time.Duration(i) * time.Minute)
		cur := item.New(item.Login, fmt.Sprintf("entry-%05d", i+1), created)
		cur.Set("username", fmt.Sprintf("user%d@example.com", i), item.Text)
		cur.Set("password", fmt.Sprintf("pw-%016d<&>", i), item.Hidden)
		cur.Set("Security answer", "ünïcödé \u2028 \"quoted\"", item.Hidden)
		cur.URLs = []string{fmt.Sprintf("https://site%d.example/login?a=1&b=2", i)}
		cur.Notes = "note\nwith lines"
		cur.Tags = []string{"work", "a/b"}
		ei := ExportItem{ID: uuid.NewString(), Revision: 1, Current: cur}
		if i%3 == 0 {
			ei.Revision = 7
			for _, rev := range []uint64{2, 5, 6} {
				old := cur.Clone()
				old.Set("password", fmt.Sprintf("old-%d", rev), item.Hidden)
				old.Modified = created.Add(-time.Duration(10-rev) * time.Hour)
				if rev == 5 {
					trashed := old.Modified
					old.Trashed = &trashed
				}
				ei.History = append(ei.History, ExportRevision{Revision: rev, Item: old})
			}
		}
		e.Items = append(e.Items, ei)
	}
	return e
}

func passRecipient(t testing.TB) age.Recipient {
	t.Helper()
	r, err := PassphraseRecipient(testPass, testWorkFactor)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func passIdentity(t testing.TB, pass []byte) age.Identity {
	t.Helper()
	id, err := PassphraseIdentity(pass)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func writeExport(t testing.TB, e *Export, rs ...age.Recipient) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteExport(&buf, e, rs...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// checkSame asserts got is e, deep-equal and item JSON byte for byte.
func checkSame(t *testing.T, e, got *Export) {
	t.Helper()
	if !reflect.DeepEqual(got, e) {
		t.Fatalf("read back a different export")
	}
	for i := range e.Items {
		a, _ := e.Items[i].Current.Marshal()
		b, _ := got.Items[i].Current.Marshal()
		if !bytes.Equal(a, b) {
			t.Errorf("item %d JSON:\n got %s\nwant %s", i, b, a)
		}
		for j := range e.Items[i].History {
			a, _ := e.Items[i].History[j].Item.Marshal()
			b, _ := got.Items[i].History[j].Item.Marshal()
			if !bytes.Equal(a, b) {
				t.Errorf("item %d revision %d JSON:\n got %s\nwant %s", i, e.Items[i].History[j].Revision, b, a)
			}
		}
	}
}

func TestExportPassphraseRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 300} { // 300 items span several 64 KiB age chunks
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			e := testExport(t, n)
			file := writeExport(t, e, passRecipient(t))
			if !bytes.HasPrefix(file, []byte(ageIntro)) {
				t.Fatalf("the export is not a binary age file: %q", file[:min(len(file), 40)])
			}
			if bytes.Contains(file, []byte("entry-0")) || bytes.Contains(file, []byte("keyhold-export")) {
				t.Fatalf("the export holds plaintext")
			}
			got, err := ReadExport(bytes.NewReader(file), passIdentity(t, testPass))
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				e.Items = []ExportItem{}
			}
			checkSame(t, e, got)
		})
	}
}

// The plaintext is the JSON the spec describes, with items exactly as
// item.Marshal encodes them.
func TestExportPlaintext(t *testing.T) {
	e := testExport(t, 1)
	e.Items[0].History = nil
	e.Items[0].Revision = 1
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	file := writeExport(t, e, id.Recipient())
	dec, err := age.Decrypt(bytes.NewReader(file), id)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(dec)
	if err != nil {
		t.Fatal(err)
	}
	cur, _ := e.Items[0].Current.Marshal()
	want := `{"format":"keyhold-export","version":1,"exported":"2025-01-02T03:04:05.6Z","account_id":"` + e.AccountID +
		`","items":[{"id":"` + e.Items[0].ID + `","revision":1,"current":` + string(cur) + `,"history":[]}]}`
	if string(plain) != want {
		t.Errorf("plaintext:\n got %s\nwant %s", plain, want)
	}
}

func TestExportX25519RoundTrip(t *testing.T) {
	id1, _ := age.GenerateX25519Identity()
	id2, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()
	var rs []age.Recipient
	for _, id := range []*age.X25519Identity{id1, id2} {
		r, err := ParseRecipient("  " + id.Recipient().String() + "\n")
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	e := testExport(t, 10)
	file := writeExport(t, e, rs...)
	for i, id := range []age.Identity{id1, id2} {
		got, err := ReadExport(bytes.NewReader(file), other, id)
		if err != nil {
			t.Fatalf("identity %d: %v", i+1, err)
		}
		checkSame(t, e, got)
	}
}

func TestExportWrongKey(t *testing.T) {
	e := testExport(t, 2)
	passFile := writeExport(t, e, passRecipient(t))
	id, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()
	keyFile := writeExport(t, e, id.Recipient())
	tests := []struct {
		name string
		file []byte
		ids  []age.Identity
		want string
	}{
		{"wrong passphrase", passFile, []age.Identity{passIdentity(t, []byte("Correct horse battery staple"))}, "check the passphrase"},
		{"identity for a passphrase file", passFile, []age.Identity{id}, "protected by a passphrase"},
		{"wrong identity", keyFile, []age.Identity{other}, "encrypted to age keys"},
		{"passphrase for a key file", keyFile, []age.Identity{passIdentity(t, testPass)}, "encrypted to age keys"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadExport(bytes.NewReader(tc.file), tc.ids...)
			if !errors.Is(err, ErrWrongExportKey) || got != nil {
				t.Fatalf("got %v, %v; want ErrWrongExportKey", got, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), string(testPass)) {
				t.Errorf("error %q contains the passphrase", err)
			}
		})
	}
}

// headerEnd returns the offset just after an age file's header (after the
// "--- MAC" line).
func headerEnd(t *testing.T, file []byte) int {
	t.Helper()
	i := bytes.Index(file, []byte("\n--- "))
	if i < 0 {
		t.Fatal("no header MAC line")
	}
	return i + 1 + bytes.IndexByte(file[i+1:], '\n') + 1
}

func TestExportTruncated(t *testing.T) {
	e := testExport(t, 300)
	file := writeExport(t, e, passRecipient(t))
	hdr := headerEnd(t, file)
	const chunk = 64<<10 + 16 // age STREAM: 64 KiB plaintext plus a Poly1305 tag
	if len(file) < hdr+16+2*chunk {
		t.Fatalf("test export too small (%d bytes) to cut at a chunk boundary", len(file))
	}
	for _, n := range []int{0, 1, 10, len(ageIntro), hdr / 2, hdr - 5, hdr, hdr + 8, hdr + 16, hdr + 17,
		hdr + 16 + chunk, hdr + 16 + chunk + 1, hdr + 16 + 2*chunk, len(file) / 2, len(file) - 17, len(file) - 1} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			got, err := ReadExport(bytes.NewReader(file[:n]), passIdentity(t, testPass))
			if !errors.Is(err, ErrCorruptExport) || got != nil {
				t.Fatalf("cut at %d of %d: got %v; want ErrCorruptExport", n, len(file), err)
			}
		})
	}
	t.Run("trailing data", func(t *testing.T) {
		_, err := ReadExport(bytes.NewReader(append(bytes.Clone(file), 0)), passIdentity(t, testPass))
		if !errors.Is(err, ErrCorruptExport) {
			t.Fatalf("got %v; want ErrCorruptExport", err)
		}
	})
}

func TestExportFlipped(t *testing.T) {
	e := testExport(t, 300)
	file := writeExport(t, e, passRecipient(t))
	hdr := headerEnd(t, file)
	stanza := bytes.Index(file, []byte("-> scrypt "))
	body := stanza + bytes.IndexByte(file[stanza:], '\n') + 1 // the wrapped file key
	tests := []struct {
		name string
		off  int
		want error
	}{
		{"magic", 0, ErrNotExport},
		{"version line", len(ageIntro) - 2, ErrCorruptExport},
		{"stanza type", stanza + 4, ErrWrongExportKey}, // age cannot tell a damaged stanza from a wrong key
		{"wrapped key", body + 3, ErrWrongExportKey},
		{"header MAC", hdr - 10, ErrCorruptExport},
		{"payload nonce", hdr + 3, ErrCorruptExport},
		{"first chunk", hdr + 16 + 100, ErrCorruptExport},
		{"first chunk tag", hdr + 16 + 64<<10 + 3, ErrCorruptExport},
		{"middle", len(file) / 2, ErrCorruptExport},
		{"last byte", len(file) - 1, ErrCorruptExport},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := bytes.Clone(file)
			// Swap one base64 letter for another rather than flipping a
			// bit, so that the header still parses where it is text.
			if bad[tc.off] == 'A' {
				bad[tc.off] = 'B'
			} else {
				bad[tc.off] = 'A'
			}
			got, err := ReadExport(bytes.NewReader(bad), passIdentity(t, testPass))
			if !errors.Is(err, tc.want) || got != nil {
				t.Fatalf("flip at %d: got %v; want %v", tc.off, err, tc.want)
			}
		})
	}
}

// sealPlain encrypts a hand-built plaintext with the test passphrase.
func sealPlain(t *testing.T, plain string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, passRecipient(t))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, plain)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestExportBadPlaintext(t *testing.T) {
	okItem, _ := item.New(item.Login, "A", testNow).Marshal()
	noTitle := strings.Replace(string(okItem), `"title":"A"`, `"title":" "`, 1)
	acct, id1, id2 := uuid.NewString(), uuid.NewString(), uuid.NewString()
	doc := func(version, items string) string {
		return `{"format":"keyhold-export","version":` + version + `,"exported":"2025-01-02T03:04:05Z","account_id":"` + acct + `","items":[` + items + `]}`
	}
	entry := func(id string, rev int, cur string, hist string) string {
		return fmt.Sprintf(`{"id":%q,"revision":%d,"current":%s,"history":[%s]}`, id, rev, cur, hist)
	}
	good := entry(id1, 1, string(okItem), "")
	tests := []struct {
		name, plain string
		want        error
		msg         string
	}{
		{"newer version", doc("2", good), ErrExportVersion, "upgrade Keyhold"},
		{"version zero", doc("0", good), ErrExportVersion, "not 1"},
		{"version missing", `{"format":"keyhold-export","items":[]}`, ErrExportVersion, "not 1"},
		{"other format", `{"format":"something-else","version":1}`, ErrNotExport, "holds something else"},
		{"not JSON", "hello, world\n", ErrNotExport, "holds something else"},
		{"invalid item", doc("1", entry(id1, 1, noTitle, "")), ErrInvalidExport, "item 1 (" + id1 + "): invalid item: the title is empty"},
		{"missing item", doc("1", entry(id1, 1, "null", "")), ErrInvalidExport, "the item is missing"},
		{"duplicate id", doc("1", good+","+entry(id1, 2, string(okItem), "")), ErrInvalidExport, "item 2: the id " + id1 + " appears twice"},
		{"upper-case id", doc("1", entry(strings.ToUpper(id2), 1, string(okItem), "")), ErrInvalidExport, "not a lower-case UUID"},
		{"revision zero", doc("1", entry(id1, 0, string(okItem), "")), ErrInvalidExport, "revision 0"},
		{"history not below current", doc("1", entry(id1, 2, string(okItem), `{"revision":2,"item":`+string(okItem)+`}`)), ErrInvalidExport, "out of order"},
		{"history out of order", doc("1", entry(id1, 9, string(okItem), `{"revision":3,"item":`+string(okItem)+`},{"revision":2,"item":`+string(okItem)+`}`)), ErrInvalidExport, "out of order"},
		{"history revision twice", doc("1", entry(id1, 9, string(okItem), `{"revision":3,"item":`+string(okItem)+`},{"revision":3,"item":`+string(okItem)+`}`)), ErrInvalidExport, "out of order"},
		{"invalid history item", doc("1", entry(id1, 9, string(okItem), `{"revision":3,"item":`+noTitle+`}`)), ErrInvalidExport, "revision 3: invalid item"},
		{"unknown member", strings.Replace(doc("1", good), `"items"`, `"extra":1,"items"`, 1), ErrInvalidExport, "unknown field"},
		{"trailing data", doc("1", good) + " {}", ErrInvalidExport, "after the end"},
		{"bad account id", strings.Replace(doc("1", good), acct, "me", 1), ErrInvalidExport, "account id"},
		{"no export time", strings.Replace(doc("1", good), `"2025-01-02T03:04:05Z"`, `"0001-01-01T00:00:00Z"`, 1), ErrInvalidExport, "export time"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadExport(bytes.NewReader(sealPlain(t, tc.plain)), passIdentity(t, testPass))
			if !errors.Is(err, tc.want) || got != nil {
				t.Fatalf("got %v; want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q, want it to contain %q", err, tc.msg)
			}
		})
	}
	// The same document with a good item reads, so the cases above fail
	// for the reason they name.
	if _, err := ReadExport(bytes.NewReader(sealPlain(t, doc("1", good))), passIdentity(t, testPass)); err != nil {
		t.Fatalf("the well-formed hand-built export: %v", err)
	}
}

func TestExportNotAnExport(t *testing.T) {
	var armored bytes.Buffer
	aw := armor.NewWriter(&armored)
	w, _ := age.Encrypt(aw, passRecipient(t))
	w.Close()
	aw.Close()
	for name, in := range map[string][]byte{
		"CSV":     []byte("title,username,password\nA,b,c\n"),
		"armored": armored.Bytes(),
		"garbage": {0x89, 'P', 'N', 'G', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ReadExport(bytes.NewReader(in), passIdentity(t, testPass))
			if !errors.Is(err, ErrNotExport) || got != nil {
				t.Fatalf("got %v; want ErrNotExport", err)
			}
		})
	}
}

func TestExportSizeCaps(t *testing.T) {
	e := testExport(t, 20)
	file := writeExport(t, e, passRecipient(t))
	defer func(n int) { maxExportSize = n }(maxExportSize)
	maxExportSize = 1000
	if _, err := ReadExport(bytes.NewReader(file), passIdentity(t, testPass)); !errors.Is(err, ErrInvalidExport) ||
		!strings.Contains(err.Error(), "larger than 1000 bytes") {
		t.Fatalf("got %v; want the size cap", err)
	}
	maxExportSize = MaxExportSize
	defer func(n int) { maxExportItems = n }(maxExportItems)
	maxExportItems = 19
	if _, err := ReadExport(bytes.NewReader(file), passIdentity(t, testPass)); !errors.Is(err, ErrInvalidExport) ||
		!strings.Contains(err.Error(), "more than 19 items") {
		t.Fatalf("got %v; want the item cap", err)
	}
}

func TestWriteExportRefuses(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	dup := testExport(t, 2)
	dup.Items[1].ID = dup.Items[0].ID
	noHist := testExport(t, 1)
	noHist.Items[0].History[1].Item = nil
	v2 := testExport(t, 1)
	v2.Version = 2
	tests := []struct {
		name string
		e    *Export
		rs   []age.Recipient
		want string
	}{
		{"duplicate ids", dup, []age.Recipient{id.Recipient()}, "appears twice"},
		{"missing history item", noHist, []age.Recipient{id.Recipient()}, "revision 5: the item is missing"},
		{"other version", v2, []age.Recipient{id.Recipient()}, "version 1, not 2"},
		{"no recipient", testExport(t, 1), nil, "no passphrase or recipient"},
		{"passphrase and key", testExport(t, 1), []age.Recipient{passRecipient(t), id.Recipient()}, "cannot be combined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := WriteExport(&buf, tc.e, tc.rs...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v; want an error containing %q", err, tc.want)
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes before refusing", buf.Len())
			}
		})
	}
}

func TestPassphraseAndRecipientErrors(t *testing.T) {
	if _, err := PassphraseRecipient(nil, 0); err == nil {
		t.Error("PassphraseRecipient accepted an empty passphrase")
	}
	if _, err := PassphraseIdentity([]byte{}); err == nil {
		t.Error("PassphraseIdentity accepted an empty passphrase")
	}
	for _, wf := range []int{-1, MaxWorkFactor + 1} {
		if _, err := PassphraseRecipient(testPass, wf); err == nil {
			t.Errorf("PassphraseRecipient accepted work factor %d", wf)
		}
	}
	// The default work factor is age's: the stanza records it.
	r, err := PassphraseRecipient(testPass, 0)
	if err != nil {
		t.Fatal(err)
	}
	stanzas, err := r.Wrap(make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	if got := stanzas[0].Args[1]; got != fmt.Sprint(DefaultWorkFactor) {
		t.Errorf("default work factor %s, want %d", got, DefaultWorkFactor)
	}

	id, _ := age.GenerateX25519Identity()
	for _, s := range []string{"", "age1", "not a key", id.String(), "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", "age1pq1xyz",
		strings.Replace(id.Recipient().String(), "age1", "age2", 1)} {
		_, err := ParseRecipient(s)
		if err == nil {
			t.Errorf("ParseRecipient(%q) succeeded", s)
			continue
		}
		if len(s) > 10 && strings.Contains(err.Error(), s) {
			t.Errorf("error %q repeats the input", err)
		}
	}
}

// testdata/export-v1.age is a version 1 export made once and committed:
// the passphrase is testPass and the scrypt work factor 4. Reading it
// checks that today's reader still reads yesterday's files.
func TestExportFixture(t *testing.T) {
	file, err := os.ReadFile("testdata/export-v1.age")
	if err != nil {
		t.Fatal(err)
	}
	e, err := ReadExport(bytes.NewReader(file), passIdentity(t, testPass))
	if err != nil {
		t.Fatal(err)
	}
	if e.Version != 1 || e.AccountID != "0190c5e4-6a1b-7cde-8f00-112233445566" ||
		!e.Exported.Equal(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)) || len(e.Items) != 2 {
		t.Fatalf("got %+v", e)
	}
	gh := e.Items[0]
	pw, _ := gh.Current.Get("password")
	if gh.ID != "0190c5e4-7b2c-7def-8a11-223344556677" || gh.Revision != 2 || gh.Current.Title != "GitHub" ||
		gh.Current.Username() != "alice" || pw != "new-password" || len(gh.History) != 1 {
		t.Errorf("first item: %+v", gh)
	} else if old, _ := gh.History[0].Item.Get("password"); gh.History[0].Revision != 1 || old != "old-password" {
		t.Errorf("history: revision %d password %q", gh.History[0].Revision, old)
	}
	if n := e.Items[1]; n.Current.Type != item.Note || n.Current.Notes != "ssid: home" || n.History != nil {
		t.Errorf("second item: %+v", n)
	}
	// Re-encrypting gives a different file (fresh salt, nonce and file
	// key), but the same plaintext: the fixture is a canonical encoding.
	var buf bytes.Buffer
	if err := WriteExport(&buf, e, passRecipient(t)); err != nil {
		t.Fatal(err)
	}
	want, _ := io.ReadAll(mustDecrypt(t, file))
	got, _ := io.ReadAll(mustDecrypt(t, buf.Bytes()))
	if !bytes.Equal(got, want) {
		t.Errorf("re-export plaintext differs:\n got %s\nwant %s", got, want)
	}
}

func mustDecrypt(t *testing.T, file []byte) io.Reader {
	t.Helper()
	r, err := age.Decrypt(bytes.NewReader(file), passIdentity(t, testPass))
	if err != nil {
		t.Fatal(err)
	}
	return r
}
