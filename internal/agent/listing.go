package agent

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/vault"
)

// A listing is how the agent answers a search or list: item summaries in
// a compact binary form that follows the JSON response on the connection
// (response.Listing gives its length). Encoding and decoding 10,000
// summaries as JSON took most of the time of `keyhold list`; this form is
// read with one pass and a few allocations.
//
//	listing  = version:byte(1) count:uvarint entry*count
//	entry    = id:16 bytes  revision:uvarint  flags:byte
//	           type:str  title:str  username:str
//	           urls:list  tags:list
//	           created:time  modified:time  [trashed:time if flags&2]
//	flags    = 1 favorite, 2 trashed
//	list     = n:uvarint str*n
//	str      = len:uvarint bytes
//	time     = len:uvarint bytes of time.Time.MarshalBinary
//
// A summary is an item's title, type, URLs, tags, favorite mark, times and
// username: what listings show, and no secret. The listing never leaves the
// machine (the agent talks to processes of the same user only), so it is
// not part of the vault's formats.
const listingVersion = 1

const (
	flagFavorite = 1 << iota
	flagTrashed
)

// maxListing bounds the listing a client reads: a million summaries of a
// few hundred bytes each.
const maxListing = 512 << 20

// errListing is returned for a listing that does not decode.
var errListing = errors.New("the agent sent a malformed listing; run `keyhold lock` and `keyhold unlock`")

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	n := len(b)
	b = append(b, 0) // the length, set below (a time's binary form is under 128 bytes)
	b, err := t.AppendBinary(b)
	if err != nil {
		// Only an offset outside ±32767 minutes fails, which a parsed or
		// generated time never has: send the instant in UTC.
		b, _ = t.UTC().AppendBinary(b[:n+1])
	}
	b[n] = byte(len(b) - n - 1)
	return b
}

// encodeListing writes the summaries of es.
func encodeListing(es []*vault.Entry) []byte {
	b := make([]byte, 0, 64+len(es)*160)
	b = append(b, listingVersion)
	b = binary.AppendUvarint(b, uint64(len(es)))
	for _, e := range es {
		it := e.Item
		b = append(b, e.ID[:]...)
		b = binary.AppendUvarint(b, e.Revision)
		var fl byte
		if it.Favorite {
			fl |= flagFavorite
		}
		if it.Trashed != nil {
			fl |= flagTrashed
		}
		b = append(b, fl)
		b = appendStr(b, string(it.Type))
		b = appendStr(b, it.Title)
		b = appendStr(b, it.Username())
		b = binary.AppendUvarint(b, uint64(len(it.URLs)))
		for _, u := range it.URLs {
			b = appendStr(b, u)
		}
		b = binary.AppendUvarint(b, uint64(len(it.Tags)))
		for _, t := range it.Tags {
			b = appendStr(b, t)
		}
		b = appendTime(b, it.Created)
		b = appendTime(b, it.Modified)
		if it.Trashed != nil {
			b = appendTime(b, *it.Trashed)
		}
	}
	return b
}

// listingReader reads a listing. The summaries' strings are slices of
// the listing, so decoding allocates per item, not per string.
type listingReader struct {
	s   string
	off int
	err bool
}

func (r *listingReader) uvarint() uint64 {
	if r.err {
		return 0
	}
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if r.off >= len(r.s) {
			break
		}
		c := r.s[r.off]
		r.off++
		if shift == 63 && c > 1 {
			break
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
	r.err = true
	return 0
}

func (r *listingReader) bytes(n uint64) string {
	if r.err || n > uint64(len(r.s)-r.off) {
		r.err = true
		return ""
	}
	s := r.s[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

func (r *listingReader) str() string { return r.bytes(r.uvarint()) }

func (r *listingReader) strs() []string {
	n := r.uvarint()
	// Each string takes at least one byte: a count beyond what is left is
	// malformed, and checking it first bounds the allocation.
	if r.err || n > uint64(len(r.s)-r.off) {
		r.err = true
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = r.str()
	}
	return out
}

func (r *listingReader) time() time.Time {
	b := r.str()
	if r.err {
		return time.Time{}
	}
	var t time.Time
	if err := t.UnmarshalBinary([]byte(b)); err != nil {
		r.err = true
	}
	return t
}

// minEntry is the fewest bytes an entry takes: id, revision, flags, three
// empty strings, two empty lists and two times of at least one byte each.
const minEntry = 16 + 1 + 1 + 3 + 2 + 2*2

// decodeListing reads a listing into summary entries: the username is the
// item's only field, and notes and attachments are empty.
func decodeListing(b string) ([]*vault.Entry, error) {
	r := &listingReader{s: b}
	if len(r.s) == 0 || r.s[0] != listingVersion {
		return nil, errListing
	}
	r.off = 1
	n := r.uvarint()
	if r.err || n > uint64(len(r.s)-r.off)/minEntry {
		return nil, errListing
	}
	out := make([]*vault.Entry, n)
	es := make([]vault.Entry, n)
	its := make([]item.Item, n)
	var users []item.Field
	for i := range out {
		it := &its[i]
		var id vault.ItemID
		copy(id[:], r.bytes(16))
		rev := r.uvarint()
		fl := r.bytes(1)
		it.V = item.SchemaVersion
		it.Type = item.Type(r.str())
		it.Title = r.str()
		if u := r.str(); u != "" {
			if len(users) == 0 {
				users = make([]item.Field, min(n-uint64(i), 1024))
			}
			users[0] = item.Field{Name: "username", Kind: item.Text, Value: u}
			it.Fields, users = users[:1:1], users[1:]
		}
		it.URLs = r.strs()
		it.Tags = r.strs()
		it.Created = r.time()
		it.Modified = r.time()
		if r.err || fl[0]&^(flagFavorite|flagTrashed) != 0 {
			return nil, errListing
		}
		it.Favorite = fl[0]&flagFavorite != 0
		if fl[0]&flagTrashed != 0 {
			t := r.time()
			it.Trashed = &t
		}
		if r.err {
			return nil, errListing
		}
		es[i] = vault.Entry{ID: id, Revision: rev, Item: it}
		out[i] = &es[i]
	}
	if r.off != len(r.s) {
		return nil, errListing
	}
	return out, nil
}
