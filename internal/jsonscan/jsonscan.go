// Package jsonscan reads the two JSON tokens that hand-written decoders
// get wrong most easily: strings (escapes, surrogate pairs, UTF-8) and
// integers (leading zeros, fractions, exponents). It works on a byte
// slice at an offset and knows nothing of objects or arrays: each caller
// keeps its own rules for those, and its own limits.
//
// What it accepts it decodes as encoding/json does (FuzzString); what
// encoding/json would repair rather than refuse (invalid UTF-8, a lone
// surrogate escape, both replaced with U+FFFD) it refuses, so that a
// fast path never decodes a value differently from the reference.
package jsonscan

import (
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

// Reasons a token is refused. They never quote the input, which may be
// a password.
var (
	ErrNotString    = errors.New("not a string")
	ErrUnterminated = errors.New("unterminated string")
	ErrControl      = errors.New("control character in a string")
	ErrEscape       = errors.New("unknown escape in a string")
	ErrUEscape      = errors.New(`malformed \u escape`)
	ErrSurrogate    = errors.New("lone surrogate in a string")
	ErrUTF8         = errors.New("invalid UTF-8 in a string")
	ErrNoDigits     = errors.New("not a number")
	ErrLeadingZero  = errors.New("leading zero")
	ErrNotInteger   = errors.New("not an integer")
)

// scan checks the string whose opening quote is at b[off] without
// decoding it. It returns the offset of the closing quote and whether
// the string has an escape.
func scan(b []byte, off int) (end int, escaped bool, err error) {
	if off >= len(b) || b[off] != '"' {
		return 0, false, ErrNotString
	}
	for i := off + 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i, escaped, nil
		case c == '\\':
			escaped = true
			i++
		case c < 0x20:
			return 0, false, ErrControl
		}
	}
	return 0, false, ErrUnterminated
}

// Bytes decodes the string whose opening quote is at b[off] into a new
// slice and returns it with the offset just past the closing quote. The
// slice is allocated once, at the length of the string as written (its
// decoded form is never longer), and never grows: a password read with
// it leaves no stale copy behind, and clearing the slice wipes it. On an
// error the partial result is cleared and nil is returned.
func Bytes(b []byte, off int) ([]byte, int, error) {
	end, _, err := scan(b, off)
	if err != nil {
		return nil, off, err
	}
	out, err := decode(make([]byte, 0, end-off-1), b[off+1:end])
	if err != nil {
		clear(out[:cap(out)])
		return nil, off, err
	}
	return out, end + 1, nil
}

// String is Bytes for a Go string. A string without escapes is copied
// straight from b.
func String(b []byte, off int) (string, int, error) {
	end, escaped, err := scan(b, off)
	if err != nil {
		return "", off, err
	}
	raw := b[off+1 : end]
	if !escaped {
		if !utf8.Valid(raw) {
			return "", off, ErrUTF8
		}
		return string(raw), end + 1, nil
	}
	out, err := decode(make([]byte, 0, len(raw)), raw)
	if err != nil {
		return "", off, err
	}
	return string(out), end + 1, nil
}

// decode appends to out the decoding of raw, the inside of a string that
// scan accepted. out has the capacity for it: append never reallocates.
func decode(out, raw []byte) ([]byte, error) {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		e := raw[i+1] // scan saw the escape's second byte
		i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(raw[i:])
			if !ok {
				return out, ErrUEscape
			}
			i += 4
			if utf16.IsSurrogate(r) {
				// Only a high surrogate followed by an escaped low one
				// makes a character.
				var r2 rune
				ok = r < 0xdc00 && len(raw)-i >= 2 && raw[i] == '\\' && raw[i+1] == 'u'
				if ok {
					r2, ok = hex4(raw[i+2:])
				}
				if r = utf16.DecodeRune(r, r2); !ok || r == utf8.RuneError {
					return out, ErrSurrogate
				}
				i += 6
			}
			out = utf8.AppendRune(out, r)
		default:
			return out, ErrEscape
		}
	}
	// An escape's encoding never starts with a continuation byte, so the
	// whole is valid exactly when every unescaped run is.
	if !utf8.Valid(out) {
		return out, ErrUTF8
	}
	return out, nil
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}

// Integer reads the JSON integer at b[off]: an optional minus sign and
// digits without a leading zero, not followed by a fraction or an
// exponent ("1.0" and "1e3" are numbers but not integers). It returns its
// text, for strconv to convert within the caller's range, and the offset
// just past it. What follows the digits is otherwise the caller's to read.
func Integer(b []byte, off int) ([]byte, int, error) {
	i := off
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	switch n := i - digits; {
	case n == 0:
		return nil, off, ErrNoDigits
	case n > 1 && b[digits] == '0':
		return nil, off, ErrLeadingZero
	}
	if i < len(b) {
		switch b[i] {
		case '.', 'e', 'E':
			return nil, off, ErrNotInteger
		}
	}
	return b[off:i], i, nil
}
