package breach

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// list builds a list file of n generated passwords, sorted by hash as
// published, and returns it with the hashes in file order.
func list(n int, eol string) ([]byte, []Hash) {
	hs := make([]Hash, n)
	for i := range hs {
		hs[i] = Sum([]byte(fmt.Sprintf("password-%d", i)))
	}
	slices.SortFunc(hs, func(a, b Hash) int { return bytes.Compare(a[:], b[:]) })
	var b bytes.Buffer
	for i, h := range hs {
		hx := h.String()
		if i%3 == 1 {
			hx = strings.ToLower(hx) // either case is accepted
		}
		fmt.Fprintf(&b, "%s:%d%s", hx, i+1, eol)
	}
	return b.Bytes(), hs
}

// countingReader counts the bytes read, to show the file is not read whole.
type countingReader struct {
	r *bytes.Reader
	n atomic.Int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

// between returns a hash strictly between a and b (which differ in their
// last byte by at least 2), or next to a.
func plusOne(h Hash) Hash {
	for i := len(h) - 1; i >= 0; i-- {
		h[i]++
		if h[i] != 0 {
			break
		}
	}
	return h
}

func TestFileCount(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		n    int
		eol  string
		tail string
	}{
		{"one line", 1, "\n", ""},
		{"small LF", 7, "\n", ""},
		{"small CRLF", 7, "\r\n", ""},
		{"large LF", 5000, "\n", ""},
		{"large CRLF", 5000, "\r\n", ""},
		{"blank lines at the end", 5000, "\n", "\n\r\n\n"},
		{"small, blank lines at the end", 3, "\r\n", "\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, hs := list(tc.n, tc.eol)
			data = append(data, tc.tail...)
			cr := &countingReader{r: bytes.NewReader(data)}
			f, err := NewFile(cr, int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			for i, h := range hs { // first, last and every line between
				got, err := f.Count(ctx, h)
				if err != nil || got != uint64(i+1) {
					t.Fatalf("line %d of %d: Count = %d, %v; want %d", i, len(hs), got, err, i+1)
				}
			}
			absent := []Hash{{}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
			for _, h := range hs {
				absent = append(absent, plusOne(h)) // between two lines, or after the last
			}
			for _, h := range absent {
				if slices.Contains(hs, h) {
					continue
				}
				if got, err := f.Count(ctx, h); err != nil || got != 0 {
					t.Fatalf("absent %s: Count = %d, %v", h, got, err)
				}
			}
			if tc.n >= 5000 {
				cr.n.Store(0)
				f.Count(ctx, hs[tc.n/3])
				if read := cr.n.Load(); read > 16<<10 {
					t.Errorf("one lookup read %d bytes of a %d-byte file", read, len(data))
				}
			}
		})
	}
}

func TestNewFileRefuses(t *testing.T) {
	data, _ := list(3000, "\n")
	lines := bytes.SplitAfter(data, []byte("\n"))
	byCount := bytes.Join([][]byte{lines[5], lines[1], lines[2]}, nil)
	reversedTail := append(bytes.Join(lines[:len(lines)-3], nil), append(lines[len(lines)-2], lines[len(lines)-3]...)...)
	for name, b := range map[string][]byte{
		"empty":            {},
		"not a list":       []byte("hello world\n"),
		"ordered by count": byCount,
		"unsorted end":     reversedTail,
		"no count":         []byte(strings.Repeat("A", 40) + ":\n"),
		"signed count":     []byte(strings.Repeat("A", 40) + ":+1\n"),
		"long line":        []byte(strings.Repeat("A", 40) + ":" + strings.Repeat("1", 200) + "\n"),
	} {
		if _, err := NewFile(bytes.NewReader(b), int64(len(b))); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: NewFile = %v, want ErrMalformed", name, err)
		}
	}
}

// TestFileDamagedMiddle: a bad line in the middle is reported when the
// search reaches it, never taken for an answer.
func TestFileDamagedMiddle(t *testing.T) {
	data, hs := list(5000, "\n")
	i := bytes.Index(data, []byte(hs[2499].String()))
	copy(data[i:], "ZZ")
	f, err := NewFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Count(context.Background(), hs[2499]); !errors.Is(err, ErrMalformed) {
		t.Errorf("Count over a damaged line = %v, want ErrMalformed", err)
	}
}

func TestParseLine(t *testing.T) {
	for _, tc := range []struct {
		line  string
		n     int
		count uint64
		bad   bool
	}{
		{line: "000000005AD76BD555C1D6D771DE417A4B87E4B4:4", n: 40, count: 4},
		{line: "000000005ad76bd555c1d6d771de417a4b87e4b4:10\r", n: 40, count: 10},
		{line: "0018A45C4D1DEF81644B54AB7F969B88D65:21", n: 35, count: 21},
		{line: "0018A45C4D1DEF81644B54AB7F969B88D65:0", n: 35, count: 0},
		{line: "000000005AD76BD555C1D6D771DE417A4B87E4B4", n: 40, bad: true},
		{line: "000000005AD76BD555C1D6D771DE417A4B87E4B:4", n: 40, bad: true},
		{line: "000000005AD76BD555C1D6D771DE417A4B87E4BG:4", n: 40, bad: true},
		{line: "000000005AD76BD555C1D6D771DE417A4B87E4B4:-4", n: 40, bad: true},
		{line: "000000005AD76BD555C1D6D771DE417A4B87E4B4:99999999999999999999999", n: 40, bad: true},
		{line: "", n: 40, bad: true},
	} {
		_, count, err := ParseLine([]byte(tc.line), tc.n)
		if tc.bad != (err != nil) || count != tc.count {
			t.Errorf("ParseLine(%q) = %d, %v", tc.line, count, err)
		}
	}
}

// TestRange runs the range client against a local stand-in that serves
// the range API's documented format (GET /range/{first 5 hex digits},
// "SUFFIX:COUNT" lines, padding lines of count 0 when asked for with
// Add-Padding). The real service cannot be reached from tests; this is the
// one place a stand-in server is right, since the client talks to a
// third party's published interface, not to our own server.
func TestRange(t *testing.T) {
	pw := Sum([]byte("password"))
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.Header.Get("Add-Padding") != "true" {
			t.Errorf("request without Add-Padding: true")
		}
		if r.URL.Path != "/range/"+pw.String()[:5] {
			fmt.Fprint(w, "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n")
			return
		}
		fmt.Fprintf(w, "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n%s:9545824\r\n", pw.String()[5:])
		fmt.Fprintf(w, "%s:0\r\n", plusOne(pw).String()[5:]) // padding
	}))
	defer srv.Close()
	r := &Range{BaseURL: srv.URL, Client: srv.Client()}
	ctx := context.Background()
	if n, err := r.Count(ctx, pw); err != nil || n != 9545824 {
		t.Errorf("Count(password) = %d, %v", n, err)
	}
	if n, err := r.Count(ctx, plusOne(pw)); err != nil || n != 0 {
		t.Errorf("padding line counted: %d, %v", n, err)
	}
	if n, err := r.Count(ctx, Sum([]byte("correct horse battery staple 7"))); err != nil || n != 0 {
		t.Errorf("Count(absent) = %d, %v", n, err)
	}
	if got := requests.Load(); got != 2 {
		t.Errorf("%d requests for two prefixes", got)
	}

	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<html>not the API</html>\n")
	}))
	defer bad.Close()
	if _, err := (&Range{BaseURL: bad.URL, Client: bad.Client()}).Count(ctx, pw); !errors.Is(err, ErrMalformed) {
		t.Errorf("an HTML answer: %v, want ErrMalformed", err)
	}
}

func FuzzParseLine(f *testing.F) {
	for _, s := range []string{"000000005AD76BD555C1D6D771DE417A4B87E4B4:4", "0018A45C4D1DEF81644B54AB7F969B88D65:21\r", "x:1", ":", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		for _, n := range []int{35, 40} {
			d, count, err := ParseLine(line, n)
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("error not ErrMalformed: %v", err)
				}
				continue
			}
			if len(d) != (n+1)/2 {
				t.Fatalf("%d hex digits gave %d bytes", n, len(d))
			}
			// What parsed, printed again, parses to the same.
			again := fmt.Sprintf("%X", d)[:n] + ":" + fmt.Sprint(count)
			d2, c2, err := ParseLine([]byte(again), n)
			if err != nil || !bytes.Equal(d, d2) || c2 != count {
				t.Fatalf("%q re-read as %q: %x %d %v", line, again, d2, c2, err)
			}
		}
	})
}

// FuzzFileCount searches a file made of fuzzed hashes: every hash in it
// is found with its count, whatever the line endings.
func FuzzFileCount(f *testing.F) {
	f.Add([]byte("abcdefghijklmnopqrstuvwxyz0123456789"), uint8(3), false)
	f.Fuzz(func(t *testing.T, seed []byte, n uint8, crlf bool) {
		hs := make([]Hash, 0, int(n)+1)
		for i := 0; i <= int(n); i++ {
			hs = append(hs, Sum(append(seed, byte(i))))
		}
		slices.SortFunc(hs, func(a, b Hash) int { return bytes.Compare(a[:], b[:]) })
		hs = slices.Compact(hs)
		eol := "\n"
		if crlf {
			eol = "\r\n"
		}
		var b bytes.Buffer
		for i, h := range hs {
			fmt.Fprintf(&b, "%s:%d%s", h, i+1, eol)
		}
		file, err := NewFile(bytes.NewReader(b.Bytes()), int64(b.Len()))
		if err != nil {
			t.Fatal(err)
		}
		for i, h := range hs {
			if c, err := file.Count(context.Background(), h); err != nil || c != uint64(i+1) {
				t.Fatalf("hash %d: %d, %v", i, c, err)
			}
		}
		if c, err := file.Count(context.Background(), Sum(seed)); err != nil || (c != 0 && !slices.Contains(hs, Sum(seed))) {
			t.Fatalf("absent: %d, %v", c, err)
		}
	})
}

// BenchmarkFileCount looks up hashes in a list of 200,000 lines (about
// 9 MB) held in memory: the cost of the search itself, without the disk.
func BenchmarkFileCount(b *testing.B) {
	data, hs := list(200000, "\n")
	f, err := NewFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		if _, err := f.Count(ctx, hs[(i*7919)%len(hs)]); err != nil {
			b.Fatal(err)
		}
	}
}
