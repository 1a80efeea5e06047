package transfer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/keyhold/keyhold/internal/item"
)

// padCSV writes a CSV export row by row as it is read, so that the test
// itself holds no copy of the file: a header, then rows whose every cell
// is short but one, which holds pad bytes in a column the reader ignores.
type padCSV struct {
	header string
	row    func(i int, pad string) string
	rows   int
	pad    string
	i      int
	buf    []byte
	size   int64
}

func (p *padCSV) Read(b []byte) (int, error) {
	for len(p.buf) == 0 {
		switch {
		case p.i == 0:
			p.buf = []byte(p.header + "\n")
		case p.i <= p.rows:
			p.buf = []byte(p.row(p.i, p.pad) + "\n")
		default:
			return 0, io.EOF
		}
		p.i++
	}
	n := copy(b, p.buf)
	p.buf = p.buf[n:]
	p.size += int64(n)
	return n, nil
}

// heapPeak passes a stream through and, every MiB, collects garbage and
// notes the live heap: the most the reader holds while reading.
type heapPeak struct {
	r          io.Reader
	base, peak uint64
	since      int
}

func (h *heapPeak) sample() {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	if m.HeapAlloc > h.base && m.HeapAlloc-h.base > h.peak {
		h.peak = m.HeapAlloc - h.base
	}
}

func (h *heapPeak) Read(b []byte) (int, error) {
	n, err := h.r.Read(b)
	if h.since += n; h.since >= 1<<20 {
		h.since = 0
		h.sample()
	}
	return n, err
}

// A CSV export of 20 MB, nearly all of it one column the reader ignores,
// is imported holding a small part of that: memory follows the items
// made, not the file.
func TestCSVSourceStreamMemory(t *testing.T) {
	const rows, padLen = 500, 40 << 10
	pad := strings.Repeat("x", padLen)
	cases := []struct {
		format string
		src    *padCSV
	}{
		{"firefox-csv", &padCSV{
			header: "url,username,password,httpRealm,formActionOrigin,guid,timeCreated,timeLastUsed,timePasswordChanged",
			row: func(i int, pad string) string {
				return fmt.Sprintf("https://site%d.example,user%d,pw%d,,,{%s},1700000000000,1700000000000,1700000000000", i, i, i, pad)
			}}},
		{"bitwarden-csv", &padCSV{
			header: "folder,favorite,type,name,notes,fields,reprompt,login_uri,login_username,login_password,login_totp",
			row: func(i int, pad string) string {
				return fmt.Sprintf(",,login,site %d,,,%s,https://site%d.example,user%d,pw%d,", i, pad, i, i, i)
			}}},
	}
	for _, c := range cases {
		t.Run(c.format, func(t *testing.T) {
			c.src.rows, c.src.pad = rows, pad
			read := StreamedSource(c.format)
			var before runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			h := &heapPeak{r: c.src, base: before.HeapAlloc}
			res, err := read(h, ImportOptions{Now: srcTestNow})
			h.sample()
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Items) != rows {
				t.Fatalf("%d items, want %d", len(res.Items), rows)
			}
			if v, _ := res.Items[rows-1].Item.Get("password"); v != fmt.Sprintf("pw%d", rows) {
				t.Errorf("last item's password is %q", v)
			}
			t.Logf("%s: %d-byte file, peak live heap %d bytes, %d bytes allocated in all (this test's row generator included)",
				c.format, c.src.size, h.peak, after.TotalAlloc-before.TotalAlloc)
			if h.peak > uint64(c.src.size)/8 {
				t.Errorf("held %d bytes at most while reading a %d-byte file; want under an eighth of it", h.peak, c.src.size)
			}
			runtime.KeepAlive(res)
		})
	}
}

// A 1Password 7 for Mac export too large to be parsed twice is streamed
// with its \" read as a quote, picked from the start of the file: it
// imports as the same file does when small.
func Test1PasswordCSV7MacStreamed(t *testing.T) {
	data, err := os.ReadFile("testdata/onepassword/1password7-mac.csv")
	if err != nil {
		t.Fatal(err)
	}
	header, _, _ := bytes.Cut(data, []byte("\n"))
	var big bytes.Buffer
	big.Write(data)
	if !bytes.HasSuffix(data, []byte("\n")) {
		big.WriteByte('\n')
	}
	for i := 0; big.Len() <= csvPrefixSize; i++ {
		fmt.Fprintf(&big, "Login %d", i)
		for range bytes.Count(header, []byte(",")) {
			big.WriteString(",")
		}
		big.WriteString("\n")
	}
	small, err := read1PasswordCSVStream(bytes.NewReader(data), ImportOptions{Now: srcTestNow})
	if err != nil {
		t.Fatal(err)
	}
	res, err := read1PasswordCSVStream(iotest.OneByteReader(bytes.NewReader(big.Bytes())), ImportOptions{Now: srcTestNow})
	if err != nil {
		t.Fatal(err)
	}
	v := srcByTitle(t, res, "My Visa").Item
	if v.Notes != `paid off "monthly"` || v.Type != item.Card {
		t.Errorf("My Visa: %s, notes %q", v.Type, v.Notes)
	}
	for i, im := range small.Items {
		if got, want := fmt.Sprint(res.Items[i].Item), fmt.Sprint(im.Item); got != want {
			t.Errorf("item %d streamed:\n%s\nwant\n%s", i, got, want)
		}
	}
}

// The text check names the line of a NUL byte or of invalid UTF-8 however
// the stream is cut, and a UTF-8 sequence split between two reads, in a
// cell longer than any buffer, is whole.
func TestCSVSourceStreamText(t *testing.T) {
	note := strings.Repeat("é€𝄞", 30000)
	file := "name,url,username,password,note\nA,https://a.example,u,p,\"" + note + "\"\n"
	for _, r := range []io.Reader{strings.NewReader(file), iotest.OneByteReader(strings.NewReader(file)), iotest.HalfReader(strings.NewReader(file))} {
		res, err := readChromeCSV(r, ImportOptions{Now: srcTestNow})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Items) != 1 || res.Items[0].Item.Notes != note {
			t.Fatalf("the long note did not come through whole")
		}
	}
	for bad, want := range map[string]string{
		"B,https://b.example,u,p,x\x00y\n":  "line 3 contains a NUL byte",
		"B,https://b.example,u,p,x\xffy\n":  "line 3 is not valid UTF-8",
		"B,https://b.example,u,p,x\xe2\x82": "line 3 is not valid UTF-8",
	} {
		for _, r := range []io.Reader{strings.NewReader(file + bad), iotest.OneByteReader(strings.NewReader(file + bad))} {
			_, err := readChromeCSV(r, ImportOptions{Now: srcTestNow})
			if !errors.Is(err, ErrSourceFormat) || !strings.Contains(err.Error(), want) {
				t.Errorf("%q: got %v, want %q", bad, err, want)
			}
		}
	}
}

// The streamed \" rewrite gives what the whole-file one does, however the
// stream is cut, and the dialect check never panics.
func FuzzOpUnescapeReader(f *testing.F) {
	for _, s := range []string{`a,"b \"c\" d",e` + "\n", `"\"",""""`, `"a\`, `\"x"`, "\"a\\\"\n\"", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want := opUnescape(data)
		for _, r := range []io.Reader{bytes.NewReader(data), iotest.OneByteReader(bytes.NewReader(data))} {
			got, err := io.ReadAll(&stagedReader{r: &opUnescapeReader{r: bufio.NewReaderSize(r, 16)}})
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("streamed %q, whole %q (%v)", got, want, err)
			}
		}
		opMacDialect(data)
	})
}
