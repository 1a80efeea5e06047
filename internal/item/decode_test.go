package item

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// decodeSeeds are items as Marshal writes them, and variations that
// encoding/json reads and decodeFast must read alike or leave to it.
func decodeSeeds(t testing.TB) [][]byte {
	now := time.Date(2026, 12, 6, 23, 4, 5, 123e6, time.UTC)
	var out [][]byte
	for i, title := range []string{"Zebra Bank", `quote " back \ slash`, "<a & b>", "tab\tnew\nline\u2028é😀", "\u0000\u001f\u007f"} {
		it := New(Types[i%len(Types)], title, now)
		it.Set("username", "zed@example.org", Text)
		it.Set("password", "pw-"+title, Hidden)
		it.Set("Recovery "+title, "https://x.example/?a=1&b=<2>", URL)
		it.URLs = []string{"https://zebra-bank.example", "https://x.example/&"}
		it.Tags = []string{"work", title}
		it.Notes = "notes\r\n" + title
		it.Favorite = i%2 == 0
		it.Match = []string{"", MatchDomain, MatchHost}[i%3]
		if i == 3 {
			tr := now.Add(time.Hour)
			it.Trashed = &tr
		}
		b, err := it.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	for _, s := range []string{
		`{"v":1,"type":"login","title":"x","created":"2026-01-02T03:04:05Z","modified":"2026-01-02T03:04:05+02:00"}`,
		` { "v" : 1 , "type" : "note" , "title" : "x" , "fields" : [ ] , "urls" : [ ] , "tags" : [ ] , "trashed" : null , "created" : "2026-01-02T03:04:05Z" , "modified" : "2026-01-02T03:04:05Z" } `,
		`{"v":1,"Title":"x","type":"note","created":"2026-01-02T03:04:05Z","modified":"2026-01-02T03:04:05Z"}`,
		`{"v":1,"title":"x","title":"y","type":"note","created":"2026-01-02T03:04:05Z","modified":"2026-01-02T03:04:05Z"}`,
		`{"v":1,"type":"note","title":"x","attachments":[{"name":"a","data":"YQ=="}],"created":"2026-01-02T03:04:05Z","modified":"2026-01-02T03:04:05Z"}`,
		`{"v":1.0,"type":"note","title":"\ud83d\ude00","created":"2026-01-02T03:04:05Z","modified":"2026-01-02T03:04:05Z"}`,
		`{"v":1,"type":"note","title":"\u00e9\/","fields":[{"name":"a","kind":"text","value":"b","custom":true},{}],"created":"2026-01-02T03:04:05Z","modified":"2026-01-02T03:04:05Z"}`,
		`{"v":-0,"type":"note","title":"x"}x`,
		`{"v":01}`, `{}`, `{"unknown":1}`, `{"v":1,}`, `{"title":"\xff"}`, `{"created":null}`,
	} {
		out = append(out, []byte(s))
	}
	return out
}

// Whatever decodeFast accepts, encoding/json decodes to the same Item.
func checkDecodeFast(t *testing.T, b []byte) bool {
	var fast Item
	if !decodeFast(b, &fast) {
		return false
	}
	var ref Item
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatalf("decodeFast accepted what encoding/json refuses (%v): %q", err, b)
	}
	if !reflect.DeepEqual(fast, ref) {
		t.Fatalf("decodeFast and encoding/json differ on %q:\n%#v\n%#v", b, fast, ref)
	}
	return true
}

func TestDecodeFast(t *testing.T) {
	seeds := decodeSeeds(t)
	for i, b := range seeds {
		ok := checkDecodeFast(t, b)
		// What Marshal writes is all taken by the fast path.
		if i < 5 && !ok {
			t.Errorf("decodeFast left an item Marshal wrote to encoding/json: %s", b)
		}
		if strings.Contains(string(b), "attachments") && ok {
			t.Errorf("decodeFast took attachments: %s", b)
		}
	}
	for _, b := range seeds[:5] {
		it, err := Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if out, _ := it.Marshal(); string(out) != string(b) {
			t.Errorf("round trip through the fast path: %s\n%s", b, out)
		}
	}
}

func FuzzDecodeFast(f *testing.F) {
	for _, b := range decodeSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkDecodeFast(t, b) })
}
