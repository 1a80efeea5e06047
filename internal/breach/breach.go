// Package breach tells whether a password appears in Have I Been Pwned's
// Pwned Passwords list, by its SHA-1 hash, without sending the password or
// its whole hash anywhere.
//
// Two sources answer the same question:
//
//   - File: the downloaded list, one "HASH:COUNT" line per password (40
//     hex digits of SHA-1, a colon, how often it was seen), sorted by hash,
//     as the PwnedPasswordsDownloader writes it and as the "ordered by
//     hash" archives were published. It is tens of gigabytes, so it is
//     searched in place by binary search over byte offsets (ReadAt): about
//     log2(size/4 KiB) small reads per password, no index, nothing loaded.
//   - Range: the k-anonymity range API. Only the first 5 hex digits of the
//     hash are sent; the answer lists every suffix with that prefix
//     ("SUFFIX35:COUNT" lines), and the match happens here. Padding
//     (the Add-Padding header) hides how many real suffixes there are;
//     padding lines have count 0 and count as absent.
package breach

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Hash is a password's SHA-1.
type Hash [sha1.Size]byte

// Sum returns the SHA-1 of a password.
func Sum(password []byte) Hash { return sha1.Sum(password) }

// String is the upper-case hex form the list uses.
func (h Hash) String() string {
	const hexd = "0123456789ABCDEF"
	var b [2 * sha1.Size]byte
	for i, c := range h {
		b[2*i], b[2*i+1] = hexd[c>>4], hexd[c&15]
	}
	return string(b[:])
}

// Checker answers how often a hash was seen in breaches (0: not at all).
type Checker interface {
	Count(ctx context.Context, h Hash) (uint64, error)
}

// ErrMalformed reports a list file or range answer that breaks the format.
var ErrMalformed = errors.New("not a Pwned Passwords list")

// maxLine bounds one line: 40 hex digits, a colon, a count of at most 20
// digits and a CR. Real lines are under 55 bytes.
const maxLine = 128

// ParseLine reads one "HEX:COUNT" line with hexLen hex digits (40 in the
// file, 35 in a range answer), without its LF; a trailing CR is allowed.
// Hex digits may be of either case. It returns the decoded hex bytes
// (for 35 digits, the last nibble of the last byte is zero and half is
// true) and the count.
func ParseLine(line []byte, hexLen int) (digits []byte, count uint64, err error) {
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) < hexLen+2 || len(line) > maxLine || line[hexLen] != ':' {
		return nil, 0, fmt.Errorf("%w: line %.60q is not HASH:COUNT", ErrMalformed, line)
	}
	hx := line[:hexLen]
	if hexLen%2 == 1 {
		hx = append(append(make([]byte, 0, hexLen+1), hx...), '0')
	}
	digits = make([]byte, len(hx)/2)
	if _, err := hex.Decode(digits, hx); err != nil {
		return nil, 0, fmt.Errorf("%w: line %.60q: the hash is not hex", ErrMalformed, line)
	}
	num := line[hexLen+1:]
	for _, c := range num {
		if c < '0' || c > '9' { // strconv would accept "+1"
			return nil, 0, fmt.Errorf("%w: line %.60q: the count is not a number", ErrMalformed, line)
		}
	}
	count, err = strconv.ParseUint(string(num), 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: line %.60q: the count is not a number", ErrMalformed, line)
	}
	return digits, count, nil
}

// File searches a sorted list file in place.
type File struct {
	r    io.ReaderAt
	size int64
}

// NewFile checks that r (size bytes) looks like a list sorted by hash: its
// first lines and those in its last 256 bytes parse and are in order. (A
// list ordered by count, the other published form, fails this at once.)
func NewFile(r io.ReaderAt, size int64) (*File, error) {
	// Trailing line breaks and blank lines are not lines: search up to
	// the end of the last one.
	var tail [64]byte
	for size > 0 {
		n := int64(len(tail))
		if n > size {
			n = size
		}
		if _, err := r.ReadAt(tail[:n], size-n); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		t := bytes.TrimRight(tail[:n], "\r\n")
		size -= n - int64(len(t))
		if len(t) > 0 {
			break
		}
	}
	f := &File{r: r, size: size}
	if size == 0 {
		return nil, fmt.Errorf("%w: the file is empty", ErrMalformed)
	}
	if err := f.checkSorted(0, 3); err != nil {
		return nil, err
	}
	if size > 2*maxLine {
		s, err := f.lineStartAfter(size - 2*maxLine)
		if err != nil {
			return nil, err
		}
		if err := f.checkSorted(s, 2*maxLine); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// checkSorted reads up to n lines from off and checks they are in order.
func (f *File) checkSorted(off int64, n int) error {
	var prev Hash
	for i := 0; i < n && off < f.size; i++ {
		h, next, err := f.lineAt(off)
		if err != nil {
			return err
		}
		if i > 0 && bytes.Compare(prev[:], h[:]) >= 0 {
			return fmt.Errorf("%w: the lines are not sorted by hash (use the list ordered by hash, not by count)", ErrMalformed)
		}
		prev, off = h, next
	}
	return nil
}

// lineAt parses the line starting at off and returns its hash and the
// offset of the next line.
func (f *File) lineAt(off int64) (Hash, int64, error) {
	h, _, next, err := f.entryAt(off)
	return h, next, err
}

func (f *File) entryAt(off int64) (Hash, uint64, int64, error) {
	var buf [maxLine + 1]byte
	n, err := f.r.ReadAt(buf[:], off)
	if err != nil && !errors.Is(err, io.EOF) {
		return Hash{}, 0, 0, err
	}
	line := buf[:n]
	next := off + int64(n)
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line, next = line[:i], off+int64(i)+1
	} else if next < f.size {
		return Hash{}, 0, 0, fmt.Errorf("%w: a line at byte %d is longer than %d bytes", ErrMalformed, off, maxLine)
	}
	d, count, err := ParseLine(line, 2*sha1.Size)
	if err != nil {
		return Hash{}, 0, 0, fmt.Errorf("at byte %d: %w", off, err)
	}
	var h Hash
	copy(h[:], d)
	return h, count, next, nil
}

// lineStartAfter returns the offset of the first line that starts at or
// after off (size if none); off > 0.
func (f *File) lineStartAfter(off int64) (int64, error) {
	var buf [maxLine + 1]byte
	n, err := f.r.ReadAt(buf[:], off-1)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
		return off + int64(i), nil
	}
	if off-1+int64(n) >= f.size {
		return f.size, nil
	}
	return 0, fmt.Errorf("%w: no line break within %d bytes of byte %d", ErrMalformed, maxLine, off)
}

// scanBelow is where binary search gives way to reading the remaining
// range whole.
const scanBelow = 4 << 10

// Count returns how often h was seen, 0 if it is not in the list.
//
// Invariants: every line that starts before lo has a smaller hash; every
// line that starts at or after hi has a greater one; lo is a line start.
func (f *File) Count(_ context.Context, h Hash) (uint64, error) {
	lo, hi := int64(0), f.size
	for hi-lo > scanBelow {
		mid := lo + (hi-lo)/2
		s, err := f.lineStartAfter(mid)
		if err != nil {
			return 0, err
		}
		if s >= hi {
			hi = mid
			continue
		}
		got, count, next, err := f.entryAt(s)
		if err != nil {
			return 0, err
		}
		switch c := bytes.Compare(got[:], h[:]); {
		case c == 0:
			return count, nil
		case c < 0:
			lo = next
		default:
			hi = s
		}
	}
	// The rest of the range, with the line that straddles hi, in one read.
	end := min(hi+maxLine, f.size)
	buf := make([]byte, end-lo)
	if _, err := f.r.ReadAt(buf, lo); err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	for off := 0; int64(off)+lo < hi && off < len(buf); {
		line := buf[off:]
		next := len(buf)
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line, next = line[:i], off+i+1
		} else if end < f.size {
			return 0, fmt.Errorf("%w: a line at byte %d is longer than %d bytes", ErrMalformed, lo+int64(off), maxLine)
		}
		d, count, err := ParseLine(line, 2*sha1.Size)
		if err != nil {
			return 0, fmt.Errorf("at byte %d: %w", lo+int64(off), err)
		}
		switch c := bytes.Compare(d, h[:]); {
		case c == 0:
			return count, nil
		case c > 0:
			return 0, nil
		}
		off = next
	}
	return 0, nil
}
