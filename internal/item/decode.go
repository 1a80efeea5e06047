package item

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// decodeFast decodes b into it when b is an item in the form Marshal
// writes (encoding/json's output for Item): an object of the Item's own
// keys, exactly spelt, each once, of the expected JSON types, with no
// attachments. It reports false for anything else, leaving it partly
// filled; the caller then decodes with encoding/json, whose result is the
// reference: whatever decodeFast accepts, json.Unmarshal decodes to the
// same Item (FuzzDecodeFast). Opening a vault decodes every item, and in
// a browser's WebAssembly encoding/json's reflection takes most of that.
func decodeFast(b []byte, it *Item) bool {
	d := decoder{b: b}
	if !d.byte('{') {
		return false
	}
	var seen uint16
	if d.peek('}') {
		d.i++
		return d.end()
	}
	for {
		key, ok := d.key()
		if !ok {
			return false
		}
		var bit uint16
		switch key {
		case "v":
			bit = 1 << 0
			it.V, ok = d.int()
		case "type":
			bit = 1 << 1
			var s string
			s, ok = d.str()
			it.Type = Type(s)
		case "title":
			bit = 1 << 2
			it.Title, ok = d.str()
		case "fields":
			bit = 1 << 3
			it.Fields, ok = d.fields()
		case "urls":
			bit = 1 << 4
			it.URLs, ok = d.strs()
		case "notes":
			bit = 1 << 5
			it.Notes, ok = d.str()
		case "tags":
			bit = 1 << 6
			it.Tags, ok = d.strs()
		case "favorite":
			bit = 1 << 7
			it.Favorite, ok = d.bool()
		case "match":
			bit = 1 << 11
			it.Match, ok = d.str()
		case "created":
			bit = 1 << 8
			ok = d.time(&it.Created)
		case "modified":
			bit = 1 << 9
			ok = d.time(&it.Modified)
		case "trashed":
			bit = 1 << 10
			if d.literal("null") {
				it.Trashed = nil
			} else {
				it.Trashed = new(time.Time)
				ok = d.time(it.Trashed)
			}
		default:
			// attachments, other spellings (encoding/json matches keys
			// without regard to case), unknown keys.
			return false
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		if d.peek(',') {
			d.i++
			continue
		}
		if !d.byte('}') {
			return false
		}
		return d.end()
	}
}

// decoder reads JSON from b at i; every method skips the white space
// before what it reads and reports false for anything it does not take.
type decoder struct {
	b []byte
	i int
}

func (d *decoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) peek(c byte) bool {
	d.space()
	return d.i < len(d.b) && d.b[d.i] == c
}

func (d *decoder) byte(c byte) bool {
	if !d.peek(c) {
		return false
	}
	d.i++
	return true
}

// end: nothing but white space is left.
func (d *decoder) end() bool {
	d.space()
	return d.i == len(d.b)
}

func (d *decoder) literal(s string) bool {
	d.space()
	if len(d.b)-d.i < len(s) || string(d.b[d.i:d.i+len(s)]) != s {
		return false
	}
	d.i += len(s)
	return true
}

func (d *decoder) key() (string, bool) {
	k, ok := d.str()
	if !ok || !d.byte(':') {
		return "", false
	}
	return k, true
}

func (d *decoder) bool() (bool, bool) {
	if d.literal("true") {
		return true, true
	}
	return false, d.literal("false")
}

// int reads an integer as encoding/json reads one into an int: no
// fraction, no exponent.
func (d *decoder) int() (int, bool) {
	d.space()
	start := d.i
	if d.i < len(d.b) && d.b[d.i] == '-' {
		d.i++
	}
	digits := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	n := d.i - digits
	if n == 0 || (n > 1 && d.b[digits] == '0') {
		return 0, false
	}
	if d.i < len(d.b) {
		switch d.b[d.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	v, err := strconv.Atoi(string(d.b[start:d.i]))
	return v, err == nil
}

// str reads a string: valid UTF-8, no control characters, escapes other
// than \u of a surrogate (which encoding/json pairs or replaces).
func (d *decoder) str() (string, bool) {
	if !d.byte('"') {
		return "", false
	}
	start := d.i
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			if !utf8.Valid(s) {
				return "", false
			}
			return string(s), true
		case c == '\\':
			return d.escaped(start)
		case c < 0x20:
			return "", false
		}
		d.i++
	}
	return "", false
}

// escaped goes on reading a string that has an escape at d.i.
func (d *decoder) escaped(start int) (string, bool) {
	out := append(make([]byte, 0, d.i-start+16), d.b[start:d.i]...)
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			if !utf8.Valid(out) {
				return "", false
			}
			return string(out), true
		case c < 0x20:
			return "", false
		case c != '\\':
			out = append(out, c)
			d.i++
			continue
		}
		if d.i+1 >= len(d.b) {
			return "", false
		}
		e := d.b[d.i+1]
		d.i += 2
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
			if len(d.b)-d.i < 4 {
				return "", false
			}
			r, err := strconv.ParseUint(string(d.b[d.i:d.i+4]), 16, 32)
			if err != nil || (r >= 0xd800 && r < 0xe000) {
				return "", false
			}
			d.i += 4
			out = utf8.AppendRune(out, rune(r))
		default:
			return "", false
		}
	}
	return "", false
}

func (d *decoder) strs() ([]string, bool) {
	if !d.byte('[') {
		return nil, false
	}
	out := []string{}
	if d.byte(']') {
		return out, true
	}
	for {
		s, ok := d.str()
		if !ok {
			return nil, false
		}
		out = append(out, s)
		if d.byte(',') {
			continue
		}
		return out, d.byte(']')
	}
}

// time reads a time as encoding/json does: the string, quotes included,
// given to time.Time's UnmarshalJSON.
func (d *decoder) time(t *time.Time) bool {
	if !d.peek('"') {
		return false
	}
	start := d.i
	d.i++
	for d.i < len(d.b) && d.b[d.i] != '"' {
		if d.b[d.i] == '\\' || d.b[d.i] < 0x20 {
			return false
		}
		d.i++
	}
	if d.i == len(d.b) {
		return false
	}
	d.i++
	return t.UnmarshalJSON(d.b[start:d.i]) == nil
}

func (d *decoder) fields() ([]Field, bool) {
	if !d.byte('[') {
		return nil, false
	}
	out := []Field{}
	if d.byte(']') {
		return out, true
	}
	for {
		f, ok := d.field()
		if !ok {
			return nil, false
		}
		out = append(out, f)
		if d.byte(',') {
			continue
		}
		return out, d.byte(']')
	}
}

func (d *decoder) field() (Field, bool) {
	var f Field
	if !d.byte('{') {
		return f, false
	}
	if d.byte('}') {
		return f, true
	}
	var seen uint8
	for {
		key, ok := d.key()
		if !ok {
			return f, false
		}
		var bit uint8
		switch key {
		case "name":
			bit = 1
			f.Name, ok = d.str()
		case "kind":
			bit = 2
			var s string
			s, ok = d.str()
			f.Kind = Kind(s)
		case "value":
			bit = 4
			f.Value, ok = d.str()
		case "custom":
			bit = 8
			f.Custom, ok = d.bool()
		default:
			return f, false
		}
		if !ok || seen&bit != 0 {
			return f, false
		}
		seen |= bit
		if d.byte(',') {
			continue
		}
		return f, d.byte('}')
	}
}
