package jsonscan

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		err  error
	}{
		{`""`, "", nil},
		{`"abc"`, "abc", nil},
		{`"é☃𝄞"`, "é☃𝄞", nil},
		{`"a\"b\\c\/d"`, `a"b\c/d`, nil},
		{`"\b\f\n\r\t"`, "\b\f\n\r\t", nil},
		{`"\u0041\u00e9\u2603"`, "Aé☃", nil},
		{`"\uD834\uDD1E"`, "𝄞", nil},
		{`"\ud834\udd1ex"`, "𝄞x", nil},
		{`"x\u0000y"`, "x\x00y", nil},
		{`"ab" trailing`, "ab", nil},
		{`abc`, "", ErrNotString},
		{``, "", ErrNotString},
		{`"abc`, "", ErrUnterminated},
		{`"abc\"`, "", ErrUnterminated},
		{`"abc\`, "", ErrUnterminated},
		{"\"a\nb\"", "", ErrControl},
		{"\"a\x1fb\"", "", ErrControl},
		{`"\x"`, "", ErrEscape},
		{`"\'"`, "", ErrEscape},
		{`"\u12"`, "", ErrUEscape},
		{`"\u12g4"`, "", ErrUEscape},
		{`"\uD834"`, "", ErrSurrogate},
		{`"\uDD1E\uD834"`, "", ErrSurrogate},
		{`"\uD834\u0041"`, "", ErrSurrogate},
		{`"\uD834\uD834"`, "", ErrSurrogate},
		{`"\uD834x"`, "", ErrSurrogate},
		{`"\uD834\uzzzz"`, "", ErrSurrogate},
		{"\"\xff\"", "", ErrUTF8},
		{"\"\xc3\"", "", ErrUTF8},
		{"\"\xc3\\u00a9\"", "", ErrUTF8},
		{"\"\\u00a9\xa9\"", "", ErrUTF8},
		{"\"\xed\xa0\x80\"", "", ErrUTF8}, // an encoded surrogate
	} {
		s, next, err := String([]byte(tc.in), 0)
		if !errors.Is(err, tc.err) || s != tc.want {
			t.Errorf("String(%q) = %q, %v; want %q, %v", tc.in, s, err, tc.want, tc.err)
		}
		b, next2, err := Bytes([]byte(tc.in), 0)
		if !errors.Is(err, tc.err) || string(b) != tc.want || next2 != next {
			t.Errorf("Bytes(%q) = %q, %d, %v; want %q, %d, %v", tc.in, b, next2, err, tc.want, next, tc.err)
		}
		if err == nil && tc.in[next-1] != '"' {
			t.Errorf("String(%q): next %d is not past the closing quote", tc.in, next)
		}
		if err != nil && b != nil {
			t.Errorf("Bytes(%q) returned %q with an error", tc.in, b)
		}
	}
}

// Bytes allocates once, at the string's length as written, so that a
// password is never copied by a growing slice.
func TestBytesCapacity(t *testing.T) {
	for _, in := range []string{`""`, `"abc"`, `"a\nb"`, `"\u00e9\ud834\udd1e"`, `"\"\"\""`} {
		b, _, err := Bytes([]byte(in), 0)
		if err != nil {
			t.Fatal(err)
		}
		if cap(b) != len(in)-2 {
			t.Errorf("Bytes(%q): capacity %d, want %d", in, cap(b), len(in)-2)
		}
	}
	b := []byte(` "abc" `)
	if s, next, err := Bytes(b, 1); err != nil || string(s) != "abc" || next != 6 {
		t.Errorf("Bytes at an offset = %q, %d, %v", s, next, err)
	}
	if allocs := testing.AllocsPerRun(100, func() { Bytes([]byte(`"a\tb\u00e9c"`), 0) }); allocs > 2 {
		t.Errorf("Bytes: %v allocations", allocs)
	}
}

func TestInteger(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      error
	}{
		{"0", "0", nil},
		{"7", "7", nil},
		{"-0", "-0", nil},
		{"-12", "-12", nil},
		{"123,", "123", nil},
		{"9007199254740993}", "9007199254740993", nil},
		{"123456789012345678901234567890", "123456789012345678901234567890", nil},
		{"", "", ErrNoDigits},
		{"-", "", ErrNoDigits},
		{"+1", "", ErrNoDigits},
		{"x", "", ErrNoDigits},
		{"01", "", ErrLeadingZero},
		{"-00", "", ErrLeadingZero},
		{"1.0", "", ErrNotInteger},
		{"1e3", "", ErrNotInteger},
		{"0E1", "", ErrNotInteger},
	} {
		got, next, err := Integer([]byte(tc.in), 0)
		if !errors.Is(err, tc.err) || string(got) != tc.want {
			t.Errorf("Integer(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
		if err == nil && next != len(tc.want) {
			t.Errorf("Integer(%q): next %d", tc.in, next)
		}
	}
}

// FuzzString checks String, Bytes and Integer against encoding/json:
// whatever they accept, encoding/json reads to the same value.
func FuzzString(f *testing.F) {
	for _, s := range []string{`"abc"`, `"a\"\\\/\b\f\n\r\t"`, `"\u00e9\ud834\udd1e"`, `"\ud834"`,
		"\"\xff\"", `"\u12"`, "0", "-12", "01", "1.5", "1e3", `"é☃"`, `"\uDD1E\uD834"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, next, err := String(b, 0)
		bs, next2, err2 := Bytes(b, 0)
		if (err == nil) != (err2 == nil) || s != string(bs) || next != next2 {
			t.Fatalf("String = %q, %d, %v; Bytes = %q, %d, %v", s, next, err, bs, next2, err2)
		}
		if err == nil {
			var want string
			if jerr := json.Unmarshal(b[:next], &want); jerr != nil {
				t.Fatalf("String accepted %q, encoding/json: %v", b[:next], jerr)
			}
			if s != want {
				t.Fatalf("String(%q) = %q, encoding/json %q", b[:next], s, want)
			}
			if !utf8.ValidString(s) || cap(bs) != next-2 {
				t.Fatalf("String(%q): invalid UTF-8 or capacity %d", b, cap(bs))
			}
		} else if json.Valid(b) && len(b) > 0 && b[0] == '"' {
			// encoding/json accepts it; then it must have repaired it.
			var got string
			json.Unmarshal(b, &got)
			if !bytes.ContainsRune([]byte(got), utf8.RuneError) && err != ErrUTF8 && err != ErrSurrogate {
				t.Fatalf("String refused %q (%v), encoding/json reads %q", b, err, got)
			}
		}
		digits, end, err := Integer(b, 0)
		if err == nil {
			var n json.Number
			if jerr := json.Unmarshal(b[:end], &n); jerr != nil || string(n) != string(digits) {
				t.Fatalf("Integer accepted %q, encoding/json: %q, %v", b[:end], n, jerr)
			}
			if _, perr := strconv.ParseFloat(string(digits), 64); perr != nil && !errors.Is(perr, strconv.ErrRange) {
				t.Fatalf("Integer(%q) = %q", b, digits)
			}
		} else if len(b) > 0 && json.Valid(b) && (b[0] == '-' || b[0] >= '0' && b[0] <= '9') {
			if err != ErrNotInteger {
				t.Fatalf("Integer refused the number %q: %v", b, err)
			}
		}
	})
}
