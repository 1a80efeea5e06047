package api

import (
	"encoding/base64"
	"strconv"

	"github.com/keyhold/keyhold/internal/jsonscan"
)

// decodeChangesFast decodes a page of changes when it is in the form the
// server writes (encoding/json's output for ChangesResponse): objects of
// the types' own keys, exactly spelt, each once, of the expected JSON
// types, base64 without escapes, nothing after the page but white
// space. It reports false for anything else, leaving r partly filled;
// the caller then decodes with encoding/json, the reference: whatever
// decodeChangesFast accepts, a json.Decoder decodes to the same value
// (FuzzDecodeChangesFast). A whole account is downloaded as such pages,
// and in a browser's WebAssembly encoding/json takes a large share of it.
func decodeChangesFast(b []byte, r *ChangesResponse) bool {
	d := jsonReader{b: b}
	if !d.byte('{') {
		return false
	}
	var seen uint8
	for first := true; ; first = false {
		if first && d.byte('}') {
			return d.end()
		}
		key, ok := d.key()
		if !ok {
			return false
		}
		var bit uint8
		switch key {
		case "changes":
			bit = 1
			r.Changes, ok = d.changes()
		case "head":
			bit = 2
			r.Head, ok = d.uint(64)
		case "more":
			bit = 4
			r.More, ok = d.bool()
		case "key_version":
			bit = 8
			var v uint64
			v, ok = d.uint(32)
			r.KeyVersion = uint32(v)
		case "manifest":
			bit = 16
			r.Manifest, ok = d.bytes()
		case "manifest_seq":
			bit = 32
			r.ManifestSeq, ok = d.uint(64)
		default:
			return false
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		if d.byte(',') {
			continue
		}
		return d.byte('}') && d.end()
	}
}

func (d *jsonReader) changes() ([]Change, bool) {
	if !d.byte('[') {
		return nil, false
	}
	out := []Change{}
	if d.byte(']') {
		return out, true
	}
	for {
		c, ok := d.change()
		if !ok {
			return nil, false
		}
		out = append(out, c)
		if d.byte(',') {
			continue
		}
		return out, d.byte(']')
	}
}

func (d *jsonReader) change() (Change, bool) {
	var c Change
	if !d.byte('{') {
		return c, false
	}
	var seen uint8
	for first := true; ; first = false {
		if first && d.byte('}') {
			return c, true
		}
		key, ok := d.key()
		if !ok {
			return c, false
		}
		var bit uint8
		switch key {
		case "item_id":
			bit = 1
			c.ItemID, ok = d.str()
		case "seq":
			bit = 2
			c.Seq, ok = d.uint(64)
		case "rev":
			bit = 4
			c.Rev, ok = d.uint(64)
		case "box":
			bit = 8
			c.Box, ok = d.bytes()
		case "deleted":
			bit = 16
			c.Deleted, ok = d.bool()
		default:
			return c, false
		}
		if !ok || seen&bit != 0 {
			return c, false
		}
		seen |= bit
		if d.byte(',') {
			continue
		}
		return c, d.byte('}')
	}
}

// jsonReader reads JSON from b at i; every method skips the white space
// before what it reads and reports false for anything it does not take.
type jsonReader struct {
	b []byte
	i int
}

func (d *jsonReader) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *jsonReader) byte(c byte) bool {
	d.space()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

func (d *jsonReader) end() bool {
	d.space()
	return d.i == len(d.b)
}

func (d *jsonReader) literal(s string) bool {
	d.space()
	if len(d.b)-d.i < len(s) || string(d.b[d.i:d.i+len(s)]) != s {
		return false
	}
	d.i += len(s)
	return true
}

func (d *jsonReader) bool() (bool, bool) {
	if d.literal("true") {
		return true, true
	}
	return false, d.literal("false")
}

// uint reads an unsigned integer as encoding/json reads one into a
// uint of bits: digits only, no leading zero, no fraction or exponent.
func (d *jsonReader) uint(bits int) (uint64, bool) {
	d.space()
	digits, next, err := jsonscan.Integer(d.b, d.i)
	if err != nil {
		return 0, false
	}
	d.i = next
	// ParseUint refuses the minus sign.
	v, err := strconv.ParseUint(string(digits), 10, bits)
	return v, err == nil
}

// raw reads a string without escapes or control characters and returns
// its bytes (in b).
func (d *jsonReader) raw() ([]byte, bool) {
	if !d.byte('"') {
		return nil, false
	}
	start := d.i
	for d.i < len(d.b) {
		switch c := d.b[d.i]; {
		case c == '"':
			d.i++
			return d.b[start : d.i-1], true
		case c == '\\' || c < 0x20:
			return nil, false
		}
		d.i++
	}
	return nil, false
}

// str reads a string as encoding/json does, refusing what it would
// repair rather than read (invalid UTF-8, a lone surrogate escape).
func (d *jsonReader) str() (string, bool) {
	d.space()
	s, next, err := jsonscan.String(d.b, d.i)
	if err != nil {
		return "", false
	}
	d.i = next
	return s, true
}

func (d *jsonReader) key() (string, bool) {
	k, ok := d.str()
	if !ok || !d.byte(':') {
		return "", false
	}
	return k, true
}

// bytes reads a []byte as encoding/json does: standard base64 in a
// string.
func (d *jsonReader) bytes() ([]byte, bool) {
	s, ok := d.raw()
	if !ok {
		return nil, false
	}
	b := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Decode(b, s)
	return b[:n], err == nil
}
