package browser

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/transfertest"
)

func TestReadChromeCSV(t *testing.T) {
	transfertest.Golden(t, ReadChrome, []transfertest.GoldenCase{
		{"testdata/browser/chrome.csv", `login "github.com" source="github.com" urls=["https://github.com/login"]
  username (text) = "alice"
  password (hidden) = "p,w \"1\""
  notes = "line 1\nline 2, with comma"
login "mail.example.com" source="mail.example.com" urls=["https://mail.example.com/"]
  username (text) = "bob@example.com"
  password (hidden) = "secret2"
login "Bücherei" source="Bücherei" urls=["https://bücherei.example/"]
  username (text) = "jürgen"
  password (hidden) = "pässwörd"
  notes = "Öffnungszeiten: Mo–Fr"
login "github.com" source="github.com" urls=["https://github.com/login"]
  username (text) = "alice"
  password (hidden) = "p,w \"1\""
  notes = "the same login again"
login "com.example.app" source="com.example.app" urls=["android://aGFzaA==@com.example.app/"]
  username (text) = "carol"
  password (hidden) = "pw3"
skipped 1
`},
		// Edge and Chrome before 2023: no note column; BOM and CRLF.
		{"testdata/browser/edge-old.csv", `login "intranet" source="intranet" urls=["https://intranet.example.org/"]
  username (text) = "dana"
  password (hidden) = "a \"quoted\", word"
login "nameless.example.com" source="nameless.example.com" urls=["https://nameless.example.com/login?x=1"]
  username (text) = "erin"
  password (hidden) = "pw"
skipped 1
`},
	})
}

// Columns Chrome does not write are kept as custom fields, secrets hidden;
// columns are found by name in any order and case.
func TestReadChromeCSVColumns(t *testing.T) {
	in := "Password,USERNAME,Url,Name,PIN code,Comment\nS3CRET,u,https://a.example,A,1234,hello\n"
	res, err := transfertest.ReadCSV(t, ReadChrome, []byte(in), transfer.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := `login "A" source="A" urls=["https://a.example"]
  username (text) = "u"
  password (hidden) = "S3CRET"
  PIN code (hidden custom) = "1234"
  Comment (text custom) = "hello"
skipped 0
`
	if got := transfertest.Dump(res); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestReadChromeCSVBad(t *testing.T) {
	transfertest.Bad(t, ReadChrome, []transfertest.BadCase{
		{"empty", "", "empty"},
		{"bom only", "\uFEFF", "empty"},
		{"no header", "github.com,https://github.com,alice,S3CRET\n", "not the header"},
		{"missing column", "name,url,username\nA,https://a,u\n", "not the header"},
		{"lastpass file", "url,username,password,extra,name,grouping,fav\n", "--format lastpass-csv"},
		{"firefox file", "\"url\",\"username\",\"password\",\"httpRealm\",\"formActionOrigin\"\n", "--format firefox-csv"},
		{"duplicate column", "name,url,username,password,Password\n", "two columns"},
		{"too few cells", "name,url,username,password\nA,https://a,u,p\nB,https://b,S3CRET\n", "line 3"},
		{"too many cells", "name,url,username,password\nA,https://a,u,p,S3CRET\n", "line 2"},
		{"truncated in quotes", "name,url,username,password,note\nA,https://a,u,p,\"S3CRET note\nthat never ends", "not closed"},
		{"bare quote", "name,url,username,password\nA,https://a,u,S3\"CRET\n", "line 2"},
		{"latin-1", "name,url,username,password\nB\xfccherei,https://a,u,S3CRET\n", "line 2 is not valid UTF-8"},
		{"nul byte", "name,url,username,password\nA,https://a,u,p\n\x00S3CRET\n", "line 3 contains a NUL"},
	})
}

func TestReadFirefoxCSV(t *testing.T) {
	transfertest.Golden(t, ReadFirefox, []transfertest.GoldenCase{
		{"testdata/browser/firefox.csv", `login "example.com" source="example.com" urls=["https://example.com"] created=2020-01-01T00:00:00Z modified=2020-02-01T00:00:00Z
  username (text) = "alice"
  password (hidden) = "pa,ss"
login "intranet.example.org" source="intranet.example.org" urls=["https://intranet.example.org:8443"] created=2020-01-01T00:00:00Z modified=2020-01-01T00:00:00Z
  username (text) = "bob"
  password (hidden) = "pw"
  HTTP realm (text custom) = "Intranet Realm ünd Co"
login "login.example.net" source="login.example.net" urls=["https://login.example.net"]
  password (hidden) = "only\npass"
  form action (url custom) = "https://auth.example.net"
login "xn--bcherei-d1a.example" source="xn--bcherei-d1a.example" urls=["https://xn--bcherei-d1a.example"] created=2020-09-13T12:26:40Z modified=2020-09-13T12:26:40Z
  username (text) = "jürgen"
  password (hidden) = "pässwörd"
skipped 1
unmapped: column "guid": Firefox's own id of each login means nothing outside Firefox; not imported
unmapped: column "timeLastUsed": an item keeps no last-use time; not imported
`},
	})
}

func TestReadFirefoxCSVTimes(t *testing.T) {
	const head = "url,username,password,httpRealm,formActionOrigin,guid,timeCreated,timeLastUsed,timePasswordChanged\n"
	tests := []struct {
		name, created, changed string
		wantC, wantM           time.Time
		unmapped               string
	}{
		{"both", "1577836800000", "1580515200123", time.UnixMilli(1577836800000), time.UnixMilli(1580515200123), ""},
		{"created only", "1577836800000", "", time.UnixMilli(1577836800000), time.UnixMilli(1577836800000), ""},
		{"changed only", "", "1577836800000", time.UnixMilli(1577836800000), time.UnixMilli(1577836800000), ""},
		{"changed before created", "1580515200000", "1577836800000", time.UnixMilli(1580515200000), time.UnixMilli(1580515200000), ""},
		{"none", "", "", transfertest.Now, transfertest.Now, ""},
		{"not a number", "yesterday", "", transfertest.Now, transfertest.Now, `column "timeCreated": 1 rows`},
		{"negative", "-5", "", transfertest.Now, transfertest.Now, `column "timeCreated": 1 rows`},
		{"far future", "", "99999999999999999", transfertest.Now, transfertest.Now, `column "timePasswordChanged": 1 rows`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := head + "https://a.example,u,p,,,," + tc.created + ",," + tc.changed + "\n"
			res, err := transfertest.ReadCSV(t, ReadFirefox, []byte(in), transfer.ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			it := res.Items[0].Item
			if !it.Created.Equal(tc.wantC) || !it.Modified.Equal(tc.wantM) {
				t.Errorf("created %v modified %v; want %v %v", it.Created, it.Modified, tc.wantC, tc.wantM)
			}
			joined := strings.Join(res.Unmapped, "\n")
			if tc.unmapped == "" && joined != "" || !strings.Contains(joined, tc.unmapped) {
				t.Errorf("Unmapped = %q, want %q", res.Unmapped, tc.unmapped)
			}
		})
	}
}

func TestReadFirefoxCSVBad(t *testing.T) {
	transfertest.Bad(t, ReadFirefox, []transfertest.BadCase{
		{"empty", "", "empty"},
		{"chrome file", "name,url,username,password,note\nA,https://a,u,S3CRET,\n", "--format chrome-csv"},
		{"no header", "\"https://a\",\"u\",\"S3CRET\"\n", "not the header"},
		{"wrong cell count", "\"url\",\"username\",\"password\",\"httpRealm\"\n\"https://a\",\"u\",\"S3CRET\"\n", "line 2"},
		{"truncated", "\"url\",\"username\",\"password\"\n\"https://a\",\"u\",\"S3CR", "not closed"},
	})
}

// What an item cannot hold goes to the notes, or for secrets to Unmapped,
// and is never cut silently.
func TestPMCSVLimits(t *testing.T) {
	var head, row strings.Builder
	head.WriteString("name,url,username,password,note,big text,big secret")
	long := strings.Repeat("x", item.MaxFieldValue+1)
	fmt.Fprintf(&row, "%s,https://a.example,u,p,n,%s,%s", strings.Repeat("T", item.MaxTitle+5), long, long)
	for i := range item.MaxFields + 5 {
		fmt.Fprintf(&head, ",c%d", i)
		fmt.Fprintf(&row, ",v%d", i)
	}
	in := head.String() + ",api secret 2\n" + row.String() + ",S3CRET\n"
	res, err := transfertest.ReadCSV(t, ReadChrome, []byte(in), transfer.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	transfertest.CheckValid(t, res)
	it := res.Items[0].Item
	if len(it.Title) != item.MaxTitle || !strings.Contains(it.Notes, "Full title:\n"+strings.Repeat("T", item.MaxTitle+5)) {
		t.Errorf("long title: got %d bytes, and the notes do not hold the full title", len(it.Title))
	}
	if !strings.Contains(it.Notes, "big text:\n"+long) {
		t.Error("an oversize text field is not in the notes")
	}
	if strings.Contains(it.Notes, "big secret") || strings.Contains(it.Notes, "S3CRET") {
		t.Error("a secret went into the notes")
	}
	if len(it.Fields) != item.MaxFields {
		t.Errorf("%d fields, want %d", len(it.Fields), item.MaxFields)
	}
	// username, password and 254 of the cN columns fit; the rest are in the notes.
	if !strings.Contains(it.Notes, fmt.Sprintf("c%d: v%d", item.MaxFields+4, item.MaxFields+4)) {
		t.Error("fields over the limit are not in the notes")
	}
	un := strings.Join(res.Unmapped, "\n")
	for _, want := range []string{`field "big secret" is larger than 64 KiB`, `field "api secret 2" is over the 256 fields`, "title is longer than 1024 bytes"} {
		if !strings.Contains(un, want) {
			t.Errorf("Unmapped %q does not say %q", res.Unmapped, want)
		}
	}
}

func TestPMCSVProgress(t *testing.T) {
	var b strings.Builder
	b.WriteString("name,url,username,password\n")
	for i := range 2500 {
		fmt.Fprintf(&b, "n%d,https://a.example,u,p\n", i)
	}
	var calls [][2]int
	res, err := transfertest.ReadCSV(t, ReadChrome, []byte(b.String()), transfer.ImportOptions{Progress: func(d, n int) { calls = append(calls, [2]int{d, n}) }})
	if err != nil {
		t.Fatal(err)
	}
	// The file is streamed: the total is known only at the end.
	want := [][2]int{{1000, 0}, {2000, 0}, {2500, 2500}}
	if fmt.Sprint(calls) != fmt.Sprint(want) || len(res.Items) != 2500 {
		t.Errorf("progress calls %v, want %v (%d items)", calls, want, len(res.Items))
	}
}

func FuzzReadChromeCSV(f *testing.F) {
	transfertest.FuzzCSV(f, ReadChrome, []string{
		"name,url,username,password,note\nA,https://a.example,u,p,\"n\nn\"\n",
		"\uFEFFname,url,username,password\r\n,,,\r\n,https://%ff/,u,p\r\n",
		"name,url,username,password,extra col,pin\nA,b,c,d,e,f\n",
		"name,url,username,password\nA,\"unclosed\n",
	}, []string{"testdata/browser/chrome.csv", "testdata/browser/edge-old.csv"})
}

func FuzzReadFirefoxCSV(f *testing.F) {
	transfertest.FuzzCSV(f, ReadFirefox, []string{
		"url,username,password,httpRealm,formActionOrigin,guid,timeCreated,timeLastUsed,timePasswordChanged\nhttps://a,u,p,r,https://b,g,1,2,3\n",
		"url,username,password,timeCreated\nhttps://a,u,p,-1\n",
		"url,username,password\n,,\n",
	}, []string{"testdata/browser/firefox.csv"})
}
