package pdfin

import "strings"

// maxContent bounds the content stream bytes read per page for the text
// fallback.
const maxContent = 16 << 20

// ContentStrings returns the strings shown by a PDF content stream, in
// order: each literal "(…)" or hex "<…>" string, with the strings of one
// TJ array "[…]" joined into one. It understands just enough of the
// content stream syntax to find them; it never fails.
func ContentStrings(c []byte) []string {
	var out []string
	var inArray bool
	var arr strings.Builder
	emit := func(s string) {
		if inArray {
			arr.WriteString(s)
		} else {
			out = append(out, s)
		}
	}
	for i := 0; i < len(c); i++ {
		switch c[i] {
		case '%': // comment to end of line
			for i < len(c) && c[i] != '\n' && c[i] != '\r' {
				i++
			}
		case '(':
			s, end := literalString(c, i+1)
			emit(s)
			i = end
		case '<':
			if i+1 < len(c) && c[i+1] == '<' {
				i++
				continue
			}
			s, end := hexString(c, i+1)
			emit(s)
			i = end
		case '[':
			inArray = true
			arr.Reset()
		case ']':
			if inArray {
				out = append(out, arr.String())
				inArray = false
			}
		}
	}
	return out
}

// literalString decodes a PDF literal string starting at c[i] (after the
// opening parenthesis) and returns it with the index of its closing
// parenthesis.
func literalString(c []byte, i int) (string, int) {
	var b strings.Builder
	depth := 1
	for ; i < len(c); i++ {
		ch := c[i]
		switch ch {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return b.String(), i
			}
		case '\\':
			i++
			if i >= len(c) {
				return b.String(), i
			}
			switch e := c[i]; e {
			case 'n':
				ch = '\n'
			case 'r':
				ch = '\r'
			case 't':
				ch = '\t'
			case 'b':
				ch = '\b'
			case 'f':
				ch = '\f'
			case '\r', '\n': // line continuation
				if e == '\r' && i+1 < len(c) && c[i+1] == '\n' {
					i++
				}
				continue
			default:
				if e >= '0' && e <= '7' {
					v := 0
					for n := 0; n < 3 && i < len(c) && c[i] >= '0' && c[i] <= '7'; n++ {
						v = v*8 + int(c[i]-'0')
						i++
					}
					i--
					ch = byte(v)
				} else {
					ch = e
				}
			}
		}
		b.WriteByte(ch)
	}
	return b.String(), i
}

// hexString decodes a PDF hex string starting at c[i] (after "<") and
// returns it with the index of the closing ">".
func hexString(c []byte, i int) (string, int) {
	var b strings.Builder
	var hi byte
	half := false
	for ; i < len(c) && c[i] != '>'; i++ {
		var v byte
		switch ch := c[i]; {
		case ch >= '0' && ch <= '9':
			v = ch - '0'
		case ch >= 'a' && ch <= 'f':
			v = ch - 'a' + 10
		case ch >= 'A' && ch <= 'F':
			v = ch - 'A' + 10
		default:
			continue
		}
		if half {
			b.WriteByte(hi<<4 | v)
		} else {
			hi = v
		}
		half = !half
	}
	if half {
		b.WriteByte(hi << 4)
	}
	return b.String(), i
}
