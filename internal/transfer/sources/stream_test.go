package sources

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/transfertest"
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
			read := Streamed(c.format)
			var before runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			h := &heapPeak{r: c.src, base: before.HeapAlloc}
			res, err := read(h, transfer.ImportOptions{Now: transfertest.SrcNow})
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
