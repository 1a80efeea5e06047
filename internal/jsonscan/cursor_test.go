package jsonscan

import "testing"

func TestCursorPunctuation(t *testing.T) {
	for _, tc := range []struct {
		in     string
		b      byte
		peek   bool
		taken  bool
		offset int // after Byte
	}{
		{`{`, '{', true, true, 1},
		{" \t\n\r{x", '{', true, true, 5},
		{`x{`, '{', false, false, 0},
		{``, '{', false, false, 0},
		{"  ", ',', false, false, 2},
		{"\v,", ',', false, false, 0}, // not JSON white space
	} {
		c := Cursor{B: []byte(tc.in)}
		if got := c.Peek(tc.b); got != tc.peek {
			t.Errorf("Peek(%q) in %q = %v, want %v", tc.b, tc.in, got, tc.peek)
		}
		c = Cursor{B: []byte(tc.in)}
		if got := c.Byte(tc.b); got != tc.taken || c.I != tc.offset {
			t.Errorf("Byte(%q) in %q = %v at %d, want %v at %d", tc.b, tc.in, got, c.I, tc.taken, tc.offset)
		}
	}
}

func TestCursorEnd(t *testing.T) {
	for _, tc := range []struct {
		in  string
		at  int
		end bool
	}{
		{``, 0, true},
		{"} \n\t\r", 1, true},
		{"}  x", 1, false},
		{"}\x00", 1, false},
	} {
		c := Cursor{B: []byte(tc.in), I: tc.at}
		if got := c.End(); got != tc.end {
			t.Errorf("End() in %q at %d = %v, want %v", tc.in, tc.at, got, tc.end)
		}
	}
}

func TestCursorLiteralBool(t *testing.T) {
	for _, tc := range []struct {
		in     string
		val    bool
		ok     bool
		offset int
	}{
		{`true`, true, true, 4},
		{` false,`, false, true, 6},
		{`tru`, false, false, 0},
		{`True`, false, false, 0},
		{`fals`, false, false, 0},
		{`null`, false, false, 0},
		{`"true"`, false, false, 0},
	} {
		c := Cursor{B: []byte(tc.in)}
		v, ok := c.Bool()
		if v != tc.val || ok != tc.ok || (ok && c.I != tc.offset) {
			t.Errorf("Bool() in %q = %v, %v at %d, want %v, %v at %d", tc.in, v, ok, c.I, tc.val, tc.ok, tc.offset)
		}
	}
	c := Cursor{B: []byte(" null}")}
	if !c.Literal("null") || c.I != 5 {
		t.Errorf("Literal(null) at %d", c.I)
	}
	if c.Literal("}}") {
		t.Error("Literal past the end")
	}
}

func TestCursorKeyString(t *testing.T) {
	for _, tc := range []struct {
		in  string
		key string
		ok  bool
	}{
		{`"v":1`, "v", true},
		{` "a\nb" : 1`, "a\nb", true},
		{`"v"`, "", false},
		{`"v",`, "", false},
		{`v:1`, "", false},
		{`"\uD834":1`, "", false},
		{"\"\xff\":1", "", false},
	} {
		c := Cursor{B: []byte(tc.in)}
		k, ok := c.Key()
		if k != tc.key || ok != tc.ok {
			t.Errorf("Key() in %q = %q, %v, want %q, %v", tc.in, k, ok, tc.key, tc.ok)
		}
	}
	c := Cursor{B: []byte(` "ab" x`)}
	if s, ok := c.String(); s != "ab" || !ok || c.I != 5 {
		t.Errorf("String() = %q, %v at %d", s, ok, c.I)
	}
}

func TestCursorIntegers(t *testing.T) {
	for _, tc := range []struct {
		in    string
		i     int
		iok   bool
		u64   uint64
		u64ok bool
		u32ok bool
	}{
		{`0`, 0, true, 0, true, true},
		{` 42,`, 42, true, 42, true, true},
		{`-7`, -7, true, 0, false, false},
		{`4294967296`, 4294967296, true, 4294967296, true, false},
		{`18446744073709551615`, 0, false, 18446744073709551615, true, false},
		{`18446744073709551616`, 0, false, 0, false, false},
		{`01`, 0, false, 0, false, false},
		{`1.0`, 0, false, 0, false, false},
		{`1e3`, 0, false, 0, false, false},
		{`-`, 0, false, 0, false, false},
		{`"1"`, 0, false, 0, false, false},
		{``, 0, false, 0, false, false},
	} {
		c := Cursor{B: []byte(tc.in)}
		if v, ok := c.Int(); ok != tc.iok || (ok && v != tc.i) {
			t.Errorf("Int() in %q = %d, %v, want %d, %v", tc.in, v, ok, tc.i, tc.iok)
		}
		c = Cursor{B: []byte(tc.in)}
		if v, ok := c.Uint(64); ok != tc.u64ok || (ok && v != tc.u64) {
			t.Errorf("Uint(64) in %q = %d, %v, want %d, %v", tc.in, v, ok, tc.u64, tc.u64ok)
		}
		c = Cursor{B: []byte(tc.in)}
		if _, ok := c.Uint(32); ok != tc.u32ok {
			t.Errorf("Uint(32) in %q ok = %v, want %v", tc.in, ok, tc.u32ok)
		}
	}
}
