package api

import (
	"reflect"
	"strings"
	"unicode/utf8"
)

// Every string a server (or a mailer) sends reaches the terminal through
// Printable: the client applies it to every string of every decoded answer
// (sanitizeAnswer), and to error messages, so that no command has to
// remember to. What it removes could otherwise act on the terminal or
// mislead the reader: escape sequences (colours, cursor moves, window
// titles, hyperlinks, terminal queries), C0 and C1 control characters,
// and the bidirectional overrides and marks that can make text read in
// another order than it is stored.

// Printable returns s with escape sequences, control characters (line
// breaks included), bidirectional controls and invalid UTF-8 removed.
func Printable(s string) string { return printable(s, false) }

// PrintableText is Printable that keeps line breaks and tabs, for
// messages of several lines.
func PrintableText(s string) string { return printable(s, true) }

func printable(s string, keepLines bool) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == 0x1b:
			i += size + escapeLen(s[i+size:])
			continue
		case r == utf8.RuneError && size == 1:
		case keepLines && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case unsafeRune(r):
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// escapeLen is the length of the rest of an escape sequence whose ESC was
// just read: a CSI sequence up to its final byte; an OSC, DCS, SOS, PM or
// APC string up to its terminator (BEL or ESC \) or the end; else one
// character.
func escapeLen(rest string) int {
	if rest == "" {
		return 0
	}
	switch rest[0] {
	case '[':
		for i := 1; i < len(rest); i++ {
			if c := rest[i]; c >= 0x40 && c <= 0x7e {
				return i + 1
			} else if c < 0x20 || c >= 0x7f {
				return i // not a well-formed sequence: end it here
			}
		}
		return len(rest)
	case ']', 'P', 'X', '^', '_':
		for i := 1; i < len(rest); i++ {
			if rest[i] == 0x07 {
				return i + 1
			}
			if rest[i] == 0x1b && i+1 < len(rest) && rest[i+1] == '\\' {
				return i + 2
			}
		}
		return len(rest)
	}
	_, size := utf8.DecodeRuneInString(rest)
	return size
}

// unsafeRune reports control characters and invisible direction controls.
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r < 0xa0:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069,
		r == 0x2028, r == 0x2029:
		return true
	}
	return false
}

// sanitizeAnswer applies Printable to every string in the decoded answer
// v (a pointer): struct fields, slice and map elements, map keys. Byte
// fields ([]byte) are data, not text, and are left alone.
func sanitizeAnswer(v any) {
	sanitizeValue(reflect.ValueOf(v))
}

func sanitizeValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			sanitizeValue(v.Elem())
		}
	case reflect.String:
		if v.CanSet() {
			if s := v.String(); Printable(s) != s {
				v.SetString(Printable(s))
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				sanitizeValue(f)
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		for i := range v.Len() {
			sanitizeValue(v.Index(i))
		}
	case reflect.Map:
		if v.IsNil() {
			return
		}
		clean := reflect.MakeMapWithSize(v.Type(), v.Len())
		iter := v.MapRange()
		for iter.Next() {
			k := reflect.New(v.Type().Key()).Elem()
			k.Set(iter.Key())
			sanitizeValue(k)
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(iter.Value())
			sanitizeValue(e)
			clean.SetMapIndex(k, e)
		}
		if v.CanSet() {
			v.Set(clean)
		}
	}
}
