package item

import (
	"strconv"
	"time"

	"github.com/keyhold/keyhold/internal/jsonscan"
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
	digits, next, err := jsonscan.Integer(d.b, d.i)
	if err != nil {
		return 0, false
	}
	d.i = next
	v, err := strconv.Atoi(string(digits))
	return v, err == nil
}

// str reads a string as encoding/json does, refusing what it would
// repair rather than read (invalid UTF-8, a lone surrogate escape).
func (d *decoder) str() (string, bool) {
	d.space()
	s, next, err := jsonscan.String(d.b, d.i)
	if err != nil {
		return "", false
	}
	d.i = next
	return s, true
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
