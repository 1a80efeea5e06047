package jsonscan

import "strconv"

// Cursor reads JSON from B at I for a hand-written decoder that takes
// only the exact form our code writes. Every method skips the white
// space before what it reads and reports false for anything it does not
// take; the caller then falls back to encoding/json. It knows nothing of
// objects or arrays beyond their punctuation: each caller keeps its own
// rules for those.
type Cursor struct {
	B []byte
	I int
}

// Space skips JSON white space.
func (c *Cursor) Space() {
	for c.I < len(c.B) {
		switch c.B[c.I] {
		case ' ', '\t', '\n', '\r':
			c.I++
		default:
			return
		}
	}
}

// Peek reports whether the next byte after white space is b, without
// taking it.
func (c *Cursor) Peek(b byte) bool {
	c.Space()
	return c.I < len(c.B) && c.B[c.I] == b
}

// Byte takes b, the next byte after white space.
func (c *Cursor) Byte(b byte) bool {
	if !c.Peek(b) {
		return false
	}
	c.I++
	return true
}

// End reports whether nothing but white space is left.
func (c *Cursor) End() bool {
	c.Space()
	return c.I == len(c.B)
}

// Literal takes s, exactly as written.
func (c *Cursor) Literal(s string) bool {
	c.Space()
	if len(c.B)-c.I < len(s) || string(c.B[c.I:c.I+len(s)]) != s {
		return false
	}
	c.I += len(s)
	return true
}

// Key reads an object's key and the colon after it.
func (c *Cursor) Key() (string, bool) {
	k, ok := c.String()
	if !ok || !c.Byte(':') {
		return "", false
	}
	return k, true
}

// Bool reads true or false.
func (c *Cursor) Bool() (bool, bool) {
	if c.Literal("true") {
		return true, true
	}
	return false, c.Literal("false")
}

// String reads a string as encoding/json does, refusing what it would
// repair rather than read (invalid UTF-8, a lone surrogate escape).
func (c *Cursor) String() (string, bool) {
	c.Space()
	s, next, err := String(c.B, c.I)
	if err != nil {
		return "", false
	}
	c.I = next
	return s, true
}

// Int reads an integer as encoding/json reads one into an int: no
// fraction, no exponent, within int's range.
func (c *Cursor) Int() (int, bool) {
	c.Space()
	digits, next, err := Integer(c.B, c.I)
	if err != nil {
		return 0, false
	}
	c.I = next
	v, err := strconv.Atoi(string(digits))
	return v, err == nil
}

// Uint reads an unsigned integer as encoding/json reads one into a uint
// of bits: digits only, no leading zero, no fraction or exponent, within
// the range.
func (c *Cursor) Uint(bits int) (uint64, bool) {
	c.Space()
	digits, next, err := Integer(c.B, c.I)
	if err != nil {
		return 0, false
	}
	c.I = next
	// ParseUint refuses the minus sign.
	v, err := strconv.ParseUint(string(digits), 10, bits)
	return v, err == nil
}
