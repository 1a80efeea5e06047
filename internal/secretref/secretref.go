// Package secretref parses secret references, the keyhold://ITEM/FIELD
// strings that `keyhold run`, `keyhold inject` and `keyhold read` replace
// with a value from the vault.
//
// A reference names a value, never holds one, so it may sit in an
// environment file, a template or a CI configuration checked into a
// repository. The grammar (docs/CLI.md, "Secret references") is:
//
//	reference = "keyhold://" segment "/" segment
//	segment   = 1*( plain / pct-encoded )
//	plain     = any UTF-8 character except the reserved ones below
//	reserved  = C0 controls (U+0000–U+001F), U+007F, space,
//	            " # % ' / < > ? \ ` { | }
//	pct-encoded = "%" HEXDIG HEXDIG        ; either case
//
// The first segment is the item (its exact title, or its id), the second
// the field name. A reserved character in a title or field name is
// written percent-encoded, so "a/b" is "a%2Fb"; any other byte may be
// percent-encoded too. The decoded segment must be valid UTF-8 and not
// empty. Reserved characters are chosen so that a bare reference ends at
// white space, a quote, a brace or a bracket in a template or shell file,
// and "?" and "#" stay free for later extensions.
package secretref

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Scheme begins every reference.
const Scheme = "keyhold://"

// MaxLen bounds a reference's text: titles are at most 1 KiB
// (item.MaxTitle), percent-encoding at most triples that, and a field
// name is short.
const MaxLen = 8 << 10

// ErrSyntax reports a string that begins like a reference but breaks the
// grammar.
var ErrSyntax = errors.New("malformed secret reference")

// Ref is a parsed reference.
type Ref struct {
	Item  string // the item's exact title or its id
	Field string // the field name (matched without regard to case)
}

// String returns the canonical text of r: reserved characters
// percent-encoded, everything else literal. Parse(r.String()) == r.
func (r Ref) String() string {
	return Scheme + Escape(r.Item) + "/" + Escape(r.Field)
}

// IsRef reports whether s is meant as a reference: it begins with the
// scheme. Such a string that does not Parse is an error, not a value.
func IsRef(s string) bool { return strings.HasPrefix(s, Scheme) }

// reserved reports the characters a segment must percent-encode.
func reserved(c rune) bool {
	if c < 0x20 || c == 0x7f {
		return true
	}
	return strings.ContainsRune(" \"#%'/<>?\\`{|}", c)
}

// Escape percent-encodes the reserved characters of a title or field name.
func Escape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); {
		c, n := utf8.DecodeRuneInString(s[i:])
		if (c == utf8.RuneError && n == 1) || reserved(c) {
			for j := 0; j < n; j++ {
				b.WriteByte('%')
				b.WriteByte(hex[s[i+j]>>4])
				b.WriteByte(hex[s[i+j]&15])
			}
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// Parse reads one whole reference.
func Parse(s string) (Ref, error) {
	if len(s) > MaxLen {
		return Ref{}, fmt.Errorf("%w: longer than %d bytes", ErrSyntax, MaxLen)
	}
	if !IsRef(s) {
		return Ref{}, fmt.Errorf("%w: it must begin with %s", ErrSyntax, Scheme)
	}
	rest := s[len(Scheme):]
	it, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return Ref{}, fmt.Errorf("%w %q: it needs the form %sITEM/FIELD", ErrSyntax, s, Scheme)
	}
	item, err := unescape(it)
	if err != nil {
		return Ref{}, fmt.Errorf("%w %q: item: %v", ErrSyntax, s, err)
	}
	if strings.Contains(rest, "/") {
		return Ref{}, fmt.Errorf("%w %q: more than ITEM/FIELD (a \"/\" in a title is written %%2F)", ErrSyntax, s)
	}
	field, err := unescape(rest)
	if err != nil {
		return Ref{}, fmt.Errorf("%w %q: field: %v", ErrSyntax, s, err)
	}
	return Ref{Item: item, Field: field}, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// unescape decodes one segment.
func unescape(seg string) (string, error) {
	if seg == "" {
		return "", errors.New("empty")
	}
	if !utf8.ValidString(seg) {
		return "", errors.New("not valid UTF-8")
	}
	var b strings.Builder
	for i := 0; i < len(seg); {
		c := seg[i]
		if c == '%' {
			if i+3 > len(seg) {
				return "", fmt.Errorf("%%%s is not a percent-encoded byte", seg[i+1:])
			}
			hi, ok1 := unhex(seg[i+1])
			lo, ok2 := unhex(seg[i+2])
			if !ok1 || !ok2 {
				return "", fmt.Errorf("%s is not a percent-encoded byte", seg[i:i+3])
			}
			b.WriteByte(hi<<4 | lo)
			i += 3
			continue
		}
		r, n := utf8.DecodeRuneInString(seg[i:])
		if reserved(r) {
			return "", fmt.Errorf("%q must be percent-encoded (%s)", r, Escape(string(r)))
		}
		b.WriteString(seg[i : i+n])
		i += n
	}
	out := b.String()
	if !utf8.ValidString(out) {
		return "", errors.New("percent-encoded bytes are not valid UTF-8")
	}
	return out, nil
}

// Span is where a reference sits in a template.
type Span struct {
	Start, End int // text[Start:End] is the whole match, braces included
	Ref        Ref
}

// Find returns the references in a template, in order. Two forms are
// recognised:
//
//	{{ keyhold://ITEM/FIELD }}   braces, spaces or tabs inside optional
//	keyhold://ITEM/FIELD         bare: it ends at the first reserved character
//
// The braced form is for a value followed directly by text that could be
// read as part of a reference ("keyhold://DB/password.txt" is the field
// "password.txt"). Anything that begins with the scheme but does not
// parse is an error with its line number: a template that meant a
// secret must not be written out half-resolved.
func Find(text string) ([]Span, error) {
	var out []Span
	i := 0
	for {
		j := strings.Index(text[i:], Scheme)
		if j < 0 {
			return out, nil
		}
		start := i + j
		end := start + len(Scheme)
		for end < len(text) {
			r, n := utf8.DecodeRuneInString(text[end:])
			if r == '/' || r == '%' || !reserved(r) {
				end += n
				continue
			}
			break
		}
		ref, err := Parse(text[start:end])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", 1+strings.Count(text[:start], "\n"), err)
		}
		sp := Span{Start: start, End: end, Ref: ref}
		// Widen to the braces if the reference sits inside {{ }}.
		before := strings.TrimRight(text[:start], " \t")
		after := strings.TrimLeft(text[end:], " \t")
		if strings.HasSuffix(before, "{{") && strings.HasPrefix(after, "}}") {
			sp.Start = len(before) - 2
			sp.End = len(text) - len(after) + 2
		}
		out = append(out, sp)
		i = end
	}
}
