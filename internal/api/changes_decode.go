package api

import (
	"encoding/base64"

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
	d := jsonReader{jsonscan.Cursor{B: b}}
	if !d.Byte('{') {
		return false
	}
	var seen uint8
	for first := true; ; first = false {
		if first && d.Byte('}') {
			return d.End()
		}
		key, ok := d.Key()
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
			r.Head, ok = d.Uint(64)
		case "more":
			bit = 4
			r.More, ok = d.Bool()
		case "key_version":
			bit = 8
			var v uint64
			v, ok = d.Uint(32)
			r.KeyVersion = uint32(v)
		case "manifest":
			bit = 16
			r.Manifest, ok = d.bytes()
		case "manifest_seq":
			bit = 32
			r.ManifestSeq, ok = d.Uint(64)
		default:
			return false
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		if d.Byte(',') {
			continue
		}
		return d.Byte('}') && d.End()
	}
}

func (d *jsonReader) changes() ([]Change, bool) {
	if !d.Byte('[') {
		return nil, false
	}
	out := []Change{}
	if d.Byte(']') {
		return out, true
	}
	for {
		c, ok := d.change()
		if !ok {
			return nil, false
		}
		out = append(out, c)
		if d.Byte(',') {
			continue
		}
		return out, d.Byte(']')
	}
}

func (d *jsonReader) change() (Change, bool) {
	var c Change
	if !d.Byte('{') {
		return c, false
	}
	var seen uint8
	for first := true; ; first = false {
		if first && d.Byte('}') {
			return c, true
		}
		key, ok := d.Key()
		if !ok {
			return c, false
		}
		var bit uint8
		switch key {
		case "item_id":
			bit = 1
			c.ItemID, ok = d.String()
		case "seq":
			bit = 2
			c.Seq, ok = d.Uint(64)
		case "rev":
			bit = 4
			c.Rev, ok = d.Uint(64)
		case "box":
			bit = 8
			c.Box, ok = d.bytes()
		case "deleted":
			bit = 16
			c.Deleted, ok = d.Bool()
		default:
			return c, false
		}
		if !ok || seen&bit != 0 {
			return c, false
		}
		seen |= bit
		if d.Byte(',') {
			continue
		}
		return c, d.Byte('}')
	}
}

// jsonReader is the shared cursor with what only a page of changes
// needs: raw strings and base64.
type jsonReader struct {
	jsonscan.Cursor
}

// raw reads a string without escapes or control characters and returns
// its bytes (in b).
func (d *jsonReader) raw() ([]byte, bool) {
	if !d.Byte('"') {
		return nil, false
	}
	start := d.I
	for d.I < len(d.B) {
		switch c := d.B[d.I]; {
		case c == '"':
			d.I++
			return d.B[start : d.I-1], true
		case c == '\\' || c < 0x20:
			return nil, false
		}
		d.I++
	}
	return nil, false
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
