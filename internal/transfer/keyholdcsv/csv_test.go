package keyholdcsv

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/transfer/transfertest"
)

func readCSV(t *testing.T, in string) *Result {
	t.Helper()
	res, err := Read(strings.NewReader(in), Options{Now: transfertest.Now})
	if err != nil {
		t.Fatalf("ReadCSV: %v", err)
	}
	return res
}

func TestReadCSVGeneric(t *testing.T) {
	res := readCSV(t, "Title,USERNAME,password,url,notes\nGitHub,alice,hunter2,https://github.com,\"line 1\nline 2, with comma\"\n")
	if len(res.Items) != 1 || res.Skipped != 0 || len(res.Warnings) != 0 {
		t.Fatalf("got %d items, %d skipped, warnings %q; want 1, 0, none", len(res.Items), res.Skipped, res.Warnings)
	}
	it := res.Items[0]
	want := &item.Item{V: item.SchemaVersion, Type: item.Login, Title: "GitHub",
		Fields: []item.Field{{Name: "username", Kind: item.Text, Value: "alice"}, {Name: "password", Kind: item.Hidden, Value: "hunter2"}},
		URLs:   []string{"https://github.com"}, Notes: "line 1\nline 2, with comma", Created: transfertest.Now, Modified: transfertest.Now}
	got, _ := it.Marshal()
	exp, _ := want.Marshal()
	if !bytes.Equal(got, exp) {
		t.Errorf("item:\n got %s\nwant %s", got, exp)
	}
	for _, c := range []string{"Title", "USERNAME", "password", "url", "notes"} {
		if res.Columns[c] != strings.ToLower(c) {
			t.Errorf("Columns[%q] = %q, want %q", c, res.Columns[c], strings.ToLower(c))
		}
	}
}

// Each header name, Keyhold's and the aliases, lands where it should.
func TestReadCSVHeaderAliases(t *testing.T) {
	get := func(name string) func(*item.Item) string {
		return func(it *item.Item) string { v, _ := it.Get(name); return v }
	}
	tagsOf := func(it *item.Item) string { return strings.Join(it.Tags, "|") }
	favOf := func(it *item.Item) string {
		if it.Favorite {
			return "fav"
		}
		return "no"
	}
	tests := []struct {
		header, cell string
		got          func(*item.Item) string
		want         string
	}{
		{"title", "T", get("title"), "T"},
		{"Name", "T", get("title"), "T"},
		{"username", "u", get("username"), "u"},
		{"login_username", "u", get("username"), "u"},
		{"password", "p", get("password"), "p"},
		{"Login_Password", "p", get("password"), "p"},
		{"url", " https://a.example/x ", get("url"), "https://a.example/x"},
		{"uri", "https://a.example", get("url"), "https://a.example"},
		{"login_uri", "https://a.example", get("url"), "https://a.example"},
		{"urls", "https://a.example https://b.example", func(it *item.Item) string { return strings.Join(it.URLs, "|") }, "https://a.example|https://b.example"},
		{"notes", "n", get("notes"), "n"},
		{"note", "n", get("notes"), "n"},
		{"extra", "n", get("notes"), "n"},
		{"totp", "JBSWY3DPEHPK3PXP", get("totp"), "JBSWY3DPEHPK3PXP"},
		{"OTP", "JBSWY3DPEHPK3PXP", get("totp"), "JBSWY3DPEHPK3PXP"},
		{"login_totp", "otpauth://totp/x?secret=AB", get("totp"), "otpauth://totp/x?secret=AB"},
		{"tags", "a, b;c ,,a", tagsOf, "a|b|c"},
		{"folder", "Work/Email, old", tagsOf, "Work/Email, old"},
		{"grouping", "Personal/Bank", tagsOf, "Personal/Bank"},
		{"favorite", "TRUE", favOf, "fav"},
		{"fav", "1", favOf, "fav"},
		{"favorite", "yes", favOf, "fav"},
		{"favorite", "0", favOf, "no"},
		{"type", "Card", func(it *item.Item) string { return string(it.Type) }, "card"},
	}
	for _, tc := range tests {
		t.Run(tc.header+"="+tc.cell, func(t *testing.T) {
			in := "title," + tc.header + "\nT,\"" + tc.cell + "\"\n"
			if tc.header == "title" || strings.EqualFold(tc.header, "name") {
				in = tc.header + ",username\n" + tc.cell + ",u\n"
			}
			res := readCSV(t, in)
			if len(res.Items) != 1 {
				t.Fatalf("got %d items, want 1", len(res.Items))
			}
			if got := tc.got(res.Items[0]); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if res.Columns[tc.header] == "" || strings.HasPrefix(res.Columns[tc.header], "custom") {
				t.Errorf("Columns[%q] = %q, want a known column", tc.header, res.Columns[tc.header])
			}
		})
	}
}

func TestReadCSVExtraColumns(t *testing.T) {
	res := readCSV(t, "title,Security question,API Secret,PIN code,Recovery Password,url:Homepage,hidden:Member no,text:passport,\n"+
		"Bank,first pet?,s3cret,1234,rp,https://bank.example,42,X123,\n")
	it := res.Items[0]
	want := map[string]item.Kind{
		"Security question": item.Text, "API Secret": item.Hidden, "PIN code": item.Hidden,
		"Recovery Password": item.Hidden, "Homepage": item.URL, "Member no": item.Hidden, "passport": item.Text,
	}
	for name, k := range want {
		f, ok := transfertest.Field(it, name)
		if !ok {
			t.Errorf("field %q missing; fields %+v", name, it.Fields)
			continue
		}
		if f.Kind != k || !f.Custom {
			t.Errorf("field %q: kind %q custom %v, want kind %q custom", name, f.Kind, f.Custom, k)
		}
	}
	if len(it.Fields) != len(want) {
		t.Errorf("got %d fields, want %d: %+v", len(it.Fields), len(want), it.Fields)
	}
	wantCols := map[string]string{
		"title":             "title",
		"Security question": `custom text field "Security question"`,
		"API Secret":        `custom hidden field "API Secret"`,
		"url:Homepage":      `custom url field "Homepage"`,
		"hidden:Member no":  `custom hidden field "Member no"`,
		"column 9":          "",
	}
	for c, d := range wantCols {
		if got, ok := res.Columns[c]; !ok || got != d {
			t.Errorf("Columns[%q] = %q (present %v), want %q", c, got, ok, d)
		}
	}
	if len(res.Columns) != 9 {
		t.Errorf("Columns has %d entries, want one per column (9): %q", len(res.Columns), res.Columns)
	}
}

func TestReadCSVRows(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		items    int
		skipped  int
		warnings []string // substrings, one per warning
		check    func(t *testing.T, items []*item.Item)
	}{
		{
			name:  "empty rows skipped and counted",
			in:    "title,username,password\n,,\nA,a,p\n  , ,\t\n\n",
			items: 1, skipped: 2,
		},
		{
			name:  "BOM and CRLF",
			in:    "\uFEFFtitle,username\r\nA,alice\r\nB,bob\r\n",
			items: 2,
			check: func(t *testing.T, items []*item.Item) {
				if items[1].Title != "B" || items[1].Username() != "bob" {
					t.Errorf("second item: %q/%q", items[1].Title, items[1].Username())
				}
			},
		},
		{
			name:  "BOM before a quoted header",
			in:    "\uFEFF\"title\",\"notes\"\r\n\"A\",\"x\r\ny\"\r\n",
			items: 1,
			check: func(t *testing.T, items []*item.Item) {
				if items[0].Notes != "x\ny" {
					t.Errorf("notes %q, want CRLF inside quotes read as \\n", items[0].Notes)
				}
			},
		},
		{
			name: "missing titles are made up with a warning",
			in: "title,username,url,notes\n" +
				",alice,https://login.example.com:8443/path,\n" +
				",alice,,\n" +
				",,,\"  Wifi at home  \nssid: x\"\n" +
				" ,,example.org/login,\n",
			items:    4,
			warnings: []string{"line 2: the title is empty; named the item after its URL's host", "line 3:", "line 4:", "line 6:"},
			check: func(t *testing.T, items []*item.Item) {
				for i, want := range []string{"login.example.com", "alice", "Wifi at home", "example.org"} {
					if items[i].Title != want {
						t.Errorf("item %d title %q, want %q", i, items[i].Title, want)
					}
				}
			},
		},
		{
			name: "row with only a password is titled Untitled",
			in:   "title,password\n,s3cret\n", items: 1, warnings: []string{"line 2:"},
			check: func(t *testing.T, items []*item.Item) {
				if items[0].Title != "Untitled" {
					t.Errorf("title %q", items[0].Title)
				}
			},
		},
		{
			name:  "notes only makes a secure note, otherwise a login",
			in:    "title,username,notes,totp\nN,,some text,\nL,,some text,JBSWY3DPEHPK3PXP\nE,,,\n",
			items: 3,
			check: func(t *testing.T, items []*item.Item) {
				for i, want := range []item.Type{item.Note, item.Login, item.Login} {
					if items[i].Type != want {
						t.Errorf("item %d type %q, want %q", i, items[i].Type, want)
					}
				}
			},
		},
		{
			name:  "type column: standard fields get their kinds, unknown type warns",
			in:    "title,type,hidden:number,expiry,username\nVisa,card,4111111111111111,12/30,\nX,Secure Note,,,u\n",
			items: 2, warnings: []string{"line 3: the type column names no Keyhold item type"},
			check: func(t *testing.T, items []*item.Item) {
				f, ok := transfertest.Field(items[0], "number")
				if items[0].Type != item.Card || !ok || f.Kind != item.Hidden || f.Custom {
					t.Errorf("card: type %q number %+v", items[0].Type, f)
				}
				if items[1].Type != item.Login {
					t.Errorf("unknown type imported as %q, want login", items[1].Type)
				}
			},
		},
		{
			name: "favorite not understood warns",
			in:   "title,fav\nA,maybe\n", items: 1, warnings: []string{"line 2: the favorite column"},
		},
		{
			name: "unnamed empty column is allowed",
			in:   "title,username,\nA,a,\n", items: 1,
		},
		{
			name: "values kept exactly",
			in:   "title,username,password\n\" A \", bob ,\"=1+2 \"\"x\"\" \"\n", items: 1,
			check: func(t *testing.T, items []*item.Item) {
				it := items[0]
				if p, _ := it.Get("password"); it.Title != " A " || it.Username() != " bob " || p != `=1+2 "x" ` {
					t.Errorf("got %q %q %q", it.Title, it.Username(), p)
				}
			},
		},
		{
			name: "header only",
			in:   "title,username,password\n", items: 0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := readCSV(t, tc.in)
			if len(res.Items) != tc.items || res.Skipped != tc.skipped {
				t.Fatalf("got %d items, %d skipped; want %d, %d", len(res.Items), res.Skipped, tc.items, tc.skipped)
			}
			if len(res.Warnings) != len(tc.warnings) {
				t.Fatalf("warnings %q, want %d", res.Warnings, len(tc.warnings))
			}
			for i, w := range tc.warnings {
				if !strings.Contains(res.Warnings[i], w) {
					t.Errorf("warning %d = %q, want it to contain %q", i, res.Warnings[i], w)
				}
			}
			for i, it := range res.Items {
				if err := it.Validate(); err != nil {
					t.Errorf("item %d invalid: %v", i, err)
				}
				if !it.Created.Equal(transfertest.Now) || !it.Modified.Equal(transfertest.Now) {
					t.Errorf("item %d times %v %v, want %v", i, it.Created, it.Modified, transfertest.Now)
				}
			}
			if tc.check != nil {
				tc.check(t, res.Items)
			}
		})
	}
}

func TestReadCSVFixtures(t *testing.T) {
	type want struct {
		title, user, pass, url, totp, tags string
		typ                                item.Type
		fav                                bool
	}
	tests := []struct {
		file    string
		skipped int
		items   []want
	}{
		{"lastpass.csv", 0, []want{
			{"GitHub", "alice", "gh-pass-1", "https://github.com/login", "JBSWY3DPEHPK3PXP", "Work/Dev", item.Login, true},
			{"Mail", "alice@example.com", `p,w "2"`, "https://mail.example.com", "", "", item.Login, false},
			{"Office door", "", "", "", "", "Work", item.Note, false},
		}},
		{"bitwarden.csv", 1, []want{
			{"Twitter", "bob", "tw-pass", "https://twitter.com", "otpauth://totp/Twitter:bob?secret=JBSWY3DPEHPK3PXP", "Social", item.Login, true},
			{"Wifi", "", "", "", "", "", item.Note, false},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			b := transfertest.File(t, "testdata/"+tc.file)
			res := readCSV(t, string(b))
			if len(res.Items) != len(tc.items) || res.Skipped != tc.skipped {
				t.Fatalf("got %d items, %d skipped; want %d, %d", len(res.Items), res.Skipped, len(tc.items), tc.skipped)
			}
			for i, w := range tc.items {
				it := res.Items[i]
				pass, _ := it.Get("password")
				url, _ := it.Get("url")
				totp, _ := it.Get("totp")
				got := want{it.Title, it.Username(), pass, url, totp, strings.Join(it.Tags, "|"), it.Type, it.Favorite}
				if got != w {
					t.Errorf("item %d:\n got %+v\nwant %+v", i, got, w)
				}
			}
			if tc.file == "lastpass.csv" && res.Items[0].Notes != "recovery codes:\naaaa-bbbb\ncccc-dddd" {
				t.Errorf("multi-line notes %q", res.Items[0].Notes)
			}
		})
	}
}

func TestReadCSVMalformed(t *testing.T) {
	big := strings.Repeat("x", item.MaxFieldValue+1)
	tests := []struct {
		name string
		in   string
		opts Options
		want string // substring of the error
	}{
		{"empty", "", Options{}, "empty"},
		{"wrong field count", "title,username\nA,b\nC\n", Options{}, "line 3 has 1 cells but the header has 2"},
		{"too many cells", "title,username\nA,b\n\"C\nD\",e,s3cret\n", Options{}, "line 3 has 3 cells"},
		{"unterminated quote", "title,notes\nA,b\nB,\"unclosed s3cret\nmore\n", Options{}, "starts on line 3"},
		{"bare quote", "title,password\nA,s3c\"ret\n", Options{}, "line 2, column"},
		{"binary garbage", "\x00\x01\x02\xff\xfe title\x00,\x89PNG\r\n\x1a\n", Options{}, "NUL byte"},
		{"invalid UTF-8", "title,password\nA,s3cret\xff\n", Options{}, "line 2: column \"password\" is not valid UTF-8"},
		{"no known column", "foo,bar\n1,2\n", Options{}, "not a header"},
		{"headerless data", "GitHub,alice,s3cret\n", Options{}, "not a header"},
		{"duplicate column", "title,Password,password\nA,s3cret,x\n", Options{}, "two columns named"},
		{"two title columns", "title,name\nA,B\n", Options{}, "both hold the title"},
		{"two columns set one field", "title,username,text:Username\nA,s3cret,b\n", Options{}, "line 2: the columns \"username\" and \"text:Username\" both set"},
		{"unnamed column with a value", "title,\nA,s3cret\n", Options{}, "line 2: column 2 has no name"},
		{"value too long", "title,password\nA,s3cret\nB," + big + "\n", Options{}, "line 3: the value in column \"password\" is longer than"},
		{"title too long", "title\n" + strings.Repeat("t", item.MaxTitle+1) + "\n", Options{}, "line 2: the value in column \"title\""},
		{"too many URLs", "title,urls\nA," + strings.Repeat("https://x.example ", item.MaxURLs+1) + "\n", Options{}, "line 2: the row has 65 URLs"},
		{"too many tags", "title,tags\nA," + strings.Repeat("t,", 0) + manyTags(item.MaxTags+1) + "\n", Options{}, "line 2: the row has 65 tags"},
		{"too many fields for an item", "title," + manyColumns(item.MaxFields+1) + "\nA," + strings.Repeat("v,", item.MaxFields) + "v\n", Options{}, "line 2: the row has 257 fields"},
		{"oversized input", "title,password\nA,s3cret\n" + strings.Repeat("B,x\n", 100), Options{MaxBytes: 200}, "larger than 200 bytes"},
		{"too many rows", "title\nA\nB\nC\n", Options{MaxRows: 2}, "more than 2 rows"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Now = transfertest.Now
			res, err := Read(strings.NewReader(tc.in), tc.opts)
			if err == nil {
				t.Fatalf("ReadCSV succeeded with %d items; want an error", len(res.Items))
			}
			if res != nil {
				t.Errorf("got a result with an error; want nothing imported")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalidCSV", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q quotes a cell value", err)
			}
		})
	}
}

func manyColumns(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("c%d", i)
	}
	return strings.Join(s, ",")
}

func manyTags(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = "t" + strings.Repeat("x", i)
	}
	return `"` + strings.Join(s, ";") + `"`
}

func TestReadCSVExactlyMaxBytes(t *testing.T) {
	in := "title\nA\n"
	res, err := Read(strings.NewReader(in), Options{MaxBytes: int64(len(in))})
	if err != nil || len(res.Items) != 1 {
		t.Fatalf("input of exactly MaxBytes: %v", err)
	}
}

func TestReadCSVProgress(t *testing.T) {
	var b strings.Builder
	b.WriteString("title\n")
	for i := range 2500 {
		b.WriteString("entry-")
		b.WriteString(strings.Repeat("x", i%7+1))
		b.WriteString("\n")
	}
	var calls []int
	res, err := Read(strings.NewReader(b.String()), Options{Progress: func(n int) { calls = append(calls, n) }})
	if err != nil || len(res.Items) != 2500 {
		t.Fatalf("ReadCSV: %v", err)
	}
	if !slices.Equal(calls, []int{1000, 2000, 2500}) {
		t.Errorf("progress calls %v, want [1000 2000 2500]", calls)
	}
	if res.Items[0].Created.IsZero() {
		t.Errorf("zero Now did not default to the current time")
	}
}

// roundTripItems covers every column WriteCSV writes, awkward field names
// included.
func roundTripItems() []*item.Item {
	login := item.New(item.Login, "GitHub, Inc. \"main\"", transfertest.Now)
	login.Set("username", " alice ", item.Text)
	login.Set("password", "=HYPERLINK(\"x\"),\n+-@", item.Hidden)
	login.Set("totp", "otpauth://totp/GitHub:alice?secret=JBSWY3DPEHPK3PXP", item.TOTP)
	login.Set("Recovery codes", "aaaa bbbb", item.Hidden)        // hidden, name does not say so
	login.Set("API secret", "k", item.Hidden)                    // hidden, name says so
	login.Set("notes", "a field named notes", item.Text)         // collides with a column
	login.Set("Name", "a field named Name", item.Text)           // collides with an alias
	login.Set("hidden:x", "looks like a prefix", item.Text)      // looks like the kind syntax
	login.Set(" padded ", "outer spaces in the name", item.Text) // trimmed by a plain header
	login.Set("Homepage", "https://github.com/alice", item.URL)
	login.URLs = []string{"https://github.com/login", "https://gist.github.com", "https://api.github.com"}
	login.Notes = "line 1\nline 2, \"quoted\"\n\nend"
	login.Tags = []string{"Work/Dev", "code"}
	login.Favorite = true

	note := item.New(item.Note, "Wifi", transfertest.Now)
	note.Notes = "ssid: home"

	card := item.New(item.Card, "Visa", transfertest.Now)
	card.Set("number", "4111 1111 1111 1111", "")
	card.Set("cvv", "123", "")
	card.Set("expiry", "12/30", "")
	card.Set("recovery codes", "on a card", item.Text) // same name as a hidden login field, other kind

	plain := item.New(item.Login, "Only notes but a login", transfertest.Now)
	plain.Notes = "type column keeps it a login"
	return []*item.Item{login, note, card, plain}
}

func TestCSVRoundTrip(t *testing.T) {
	items := roundTripItems()
	var buf bytes.Buffer
	if err := Write(&buf, items); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"=HYPERLINK(""x""),`+"\n"+`+-@"`) {
		t.Errorf("the password was altered on export:\n%s", buf.String())
	}
	res := readCSV(t, buf.String())
	if len(res.Warnings) != 0 || res.Skipped != 0 {
		t.Errorf("re-import warned %q, skipped %d", res.Warnings, res.Skipped)
	}
	if len(res.Items) != len(items) {
		t.Fatalf("re-imported %d items, want %d", len(res.Items), len(items))
	}
	sortFields := func(fs []item.Field) []item.Field {
		fs = slices.Clone(fs)
		slices.SortFunc(fs, func(a, b item.Field) int { return strings.Compare(a.Name, b.Name) })
		return fs
	}
	for i, want := range items {
		got := res.Items[i]
		if got.Title != want.Title || got.Type != want.Type || got.Notes != want.Notes || got.Favorite != want.Favorite ||
			!slices.Equal(got.URLs, want.URLs) || !slices.Equal(got.Tags, want.Tags) {
			t.Errorf("item %d:\n got %+v\nwant %+v", i, got, want)
		}
		if g, w := sortFields(got.Fields), sortFields(want.Fields); !slices.Equal(g, w) {
			t.Errorf("item %d fields:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

func TestWriteCSVHeader(t *testing.T) {
	a := item.New(item.Login, "A", transfertest.Now)
	a.Set("Zeta", "z", item.Text)
	a.Set("alpha", "a", item.Text)
	b := item.New(item.Login, "B", transfertest.Now)
	b.Set("ALPHA", "A", item.Text) // same column as "alpha"
	b.Set("pin", "1", item.Text)   // a pin that is not hidden
	var buf bytes.Buffer
	if err := Write(&buf, []*item.Item{a, b}); err != nil {
		t.Fatal(err)
	}
	want := "title,username,password,url,notes,type,tags,totp,favorite,urls,ALPHA,text:pin,Zeta\n" +
		"A,,,,,login,,,,,a,,z\n" +
		"B,,,,,login,,,,,A,1,\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestWriteCSVRefuses(t *testing.T) {
	dup := item.New(item.Login, "A", transfertest.Now)
	dup.Fields = []item.Field{{Name: "code", Kind: item.Text, Value: "1"}, {Name: "Code", Kind: item.Hidden, Value: "2"}}
	invalid := item.New(item.Login, "", transfertest.Now)
	for name, items := range map[string][]*item.Item{
		"two fields with one name": {dup},
		"invalid item":             {invalid},
		"nil item":                 {nil},
	} {
		t.Run(name, func(t *testing.T) {
			if err := Write(&bytes.Buffer{}, items); err == nil {
				t.Errorf("WriteCSV succeeded; want an error")
			}
		})
	}
}
