package item

import (
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
	d := decoder{jsonscan.Cursor{B: b}}
	if !d.Byte('{') {
		return false
	}
	var seen uint16
	if d.Peek('}') {
		d.I++
		return d.End()
	}
	for {
		key, ok := d.Key()
		if !ok {
			return false
		}
		var bit uint16
		switch key {
		case "v":
			bit = 1 << 0
			it.V, ok = d.Int()
		case "type":
			bit = 1 << 1
			var s string
			s, ok = d.String()
			it.Type = Type(s)
		case "title":
			bit = 1 << 2
			it.Title, ok = d.String()
		case "fields":
			bit = 1 << 3
			it.Fields, ok = d.fields()
		case "urls":
			bit = 1 << 4
			it.URLs, ok = d.strs()
		case "notes":
			bit = 1 << 5
			it.Notes, ok = d.String()
		case "tags":
			bit = 1 << 6
			it.Tags, ok = d.strs()
		case "favorite":
			bit = 1 << 7
			it.Favorite, ok = d.Bool()
		case "match":
			bit = 1 << 11
			it.Match, ok = d.String()
		case "created":
			bit = 1 << 8
			ok = d.time(&it.Created)
		case "modified":
			bit = 1 << 9
			ok = d.time(&it.Modified)
		case "trashed":
			bit = 1 << 10
			if d.Literal("null") {
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
		if d.Peek(',') {
			d.I++
			continue
		}
		if !d.Byte('}') {
			return false
		}
		return d.End()
	}
}

// decoder is the shared cursor with what only an item needs: times,
// fields and lists of strings.
type decoder struct {
	jsonscan.Cursor
}

func (d *decoder) strs() ([]string, bool) {
	if !d.Byte('[') {
		return nil, false
	}
	out := []string{}
	if d.Byte(']') {
		return out, true
	}
	for {
		s, ok := d.String()
		if !ok {
			return nil, false
		}
		out = append(out, s)
		if d.Byte(',') {
			continue
		}
		return out, d.Byte(']')
	}
}

// time reads a time as encoding/json does: the string, quotes included,
// given to time.Time's UnmarshalJSON.
func (d *decoder) time(t *time.Time) bool {
	if !d.Peek('"') {
		return false
	}
	start := d.I
	d.I++
	for d.I < len(d.B) && d.B[d.I] != '"' {
		if d.B[d.I] == '\\' || d.B[d.I] < 0x20 {
			return false
		}
		d.I++
	}
	if d.I == len(d.B) {
		return false
	}
	d.I++
	return t.UnmarshalJSON(d.B[start:d.I]) == nil
}

func (d *decoder) fields() ([]Field, bool) {
	if !d.Byte('[') {
		return nil, false
	}
	out := []Field{}
	if d.Byte(']') {
		return out, true
	}
	for {
		f, ok := d.field()
		if !ok {
			return nil, false
		}
		out = append(out, f)
		if d.Byte(',') {
			continue
		}
		return out, d.Byte(']')
	}
}

func (d *decoder) field() (Field, bool) {
	var f Field
	if !d.Byte('{') {
		return f, false
	}
	if d.Byte('}') {
		return f, true
	}
	var seen uint8
	for {
		key, ok := d.Key()
		if !ok {
			return f, false
		}
		var bit uint8
		switch key {
		case "name":
			bit = 1
			f.Name, ok = d.String()
		case "kind":
			bit = 2
			var s string
			s, ok = d.String()
			f.Kind = Kind(s)
		case "value":
			bit = 4
			f.Value, ok = d.String()
		case "custom":
			bit = 8
			f.Custom, ok = d.Bool()
		default:
			return f, false
		}
		if !ok || seen&bit != 0 {
			return f, false
		}
		seen |= bit
		if d.Byte(',') {
			continue
		}
		return f, d.Byte('}')
	}
}
