// Ported from zxcvbn 4.4.2 (https://github.com/dropbox/zxcvbn),
// Copyright (c) 2012-2016 Dan Wheeler and Dropbox, Inc., MIT licence,
// by way of its Go port github.com/trustelem/zxcvbn v1.0.1,
// Copyright (c) 2018 Vincent Vanackere and Trustelem, MIT licence.
// See THIRD_PARTY.md at the repository root.

package zxcvbn

import (
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	_ "embed"
)

//go:generate go run ../gendata -lists frequency_lists.txt.gz -graphs adjacency_graphs.go

// frequencyLists is the gzipped text written by ../gendata: for each ranked
// list, a line "= NAME COUNT" and then COUNT words, one per line, most
// common first. A string rather than a []byte: it stays in read-only data.
//
//go:embed frequency_lists.txt.gz
var frequencyLists string

// rankedDicts are the ranked word lists in one hash table keyed by word,
// an entry per (word, list). The table holds offsets into the decoded text
// rather than strings: it is built with a handful of allocations, and holds
// no pointers for the garbage collector to scan, which keeps the first
// estimate in a process fast.
type rankedDicts struct {
	// names are the lists' names (the dictionary_name of a match).
	names []string
	// text is the decoded file; words are substrings of it.
	text string
	// entries are the (word, list, rank) triples.
	entries []dictEntry
	// slots is an open-addressing table with linear probing, its size a
	// power of two. A slot holds the index of an entry plus one (zero is
	// an empty slot) in its low 32 bits and the top 32 bits of the word's
	// hash in its high ones, so that probing rarely reads an entry that
	// does not match.
	slots []uint64
	seed  maphash.Seed
	// maxRunes is the length of the longest word.
	maxRunes int
}

type dictEntry struct {
	off  uint32 // word is text[off : off+n]
	n    uint8
	list uint8
	rank int32 // 1-based
}

func (d *rankedDicts) word(e *dictEntry) string { return d.text[e.off : e.off+uint32(e.n)] }

// lookup calls f with the list and rank of each entry for word.
func (d *rankedDicts) lookup(word string, f func(list, rank int)) {
	h := maphash.String(d.seed, word)
	mask, tag := uint64(len(d.slots)-1), h>>32
	for i := h & mask; d.slots[i] != 0; i = (i + 1) & mask {
		if s := d.slots[i]; s>>32 == tag {
			if e := &d.entries[uint32(s)-1]; d.word(e) == word {
				f(int(e.list), int(e.rank))
			}
		}
	}
}

// insert ranks word in list; as in trustelem's buildRankedDict, a word
// listed twice in the same list keeps its later rank.
func (d *rankedDicts) insert(off, n, list, rank int) {
	word := d.text[off : off+n]
	h := maphash.String(d.seed, word)
	mask, tag := uint64(len(d.slots)-1), h>>32
	i := h & mask
	for ; d.slots[i] != 0; i = (i + 1) & mask {
		if s := d.slots[i]; s>>32 == tag {
			if e := &d.entries[uint32(s)-1]; int(e.list) == list && d.word(e) == word {
				e.rank = int32(rank)
				return
			}
		}
	}
	d.entries = append(d.entries, dictEntry{off: uint32(off), n: uint8(n), list: uint8(list), rank: int32(rank)})
	d.slots[i] = tag<<32 | uint64(len(d.entries))
}

// load decodes the embedded word lists the first time it is called and
// returns them every time. A sync.Once and a variable rather than
// sync.OnceValue, which would be a function call at package initialisation:
// this package runs no code at all until PasswordStrength is called.
func load() *rankedDicts {
	loadOnce.Do(func() {
		d, err := decodeDicts(frequencyLists)
		if err != nil {
			// The file is generated and embedded at build time, and the
			// tests decode it: this is a broken build, not a runtime
			// condition.
			panic("zxcvbn: embedded word lists: " + err.Error())
		}
		loaded = d
	})
	return loaded
}

var (
	loadOnce sync.Once
	loaded   *rankedDicts
)

func decodeDicts(gz string) (*rankedDicts, error) {
	zr, err := gzip.NewReader(strings.NewReader(gz))
	if err != nil {
		return nil, err
	}
	// A gzip file ends with the decoded size (modulo 2^32), which lets the
	// text be read into one buffer of the right size.
	var b strings.Builder
	if len(gz) >= 4 {
		if n := binary.LittleEndian.Uint32([]byte(gz[len(gz)-4:])); n <= 64<<20 {
			b.Grow(int(n))
		}
	}
	if _, err := io.Copy(&b, zr); err != nil {
		return nil, err
	}
	text := b.String()
	if len(text) > math.MaxUint32 {
		return nil, fmt.Errorf("malformed word list file: %d bytes is too large", len(text))
	}

	// Count the lines first, to size the table: at most half full, probes
	// stay short.
	total := strings.Count(text, "\n")
	size := 1
	for size < 2*total {
		size *= 2
	}
	d := &rankedDicts{
		text:    text,
		entries: make([]dictEntry, 0, total),
		slots:   make([]uint64, size),
		seed:    maphash.MakeSeed(),
	}
	pos := 0
	line := func() (string, bool) {
		i := strings.IndexByte(text[pos:], '\n')
		if i < 0 {
			return "", false
		}
		l := text[pos : pos+i]
		pos += i + 1
		return l, true
	}
	for pos < len(text) {
		header, _ := line()
		name, count, ok := strings.Cut(strings.TrimPrefix(header, "= "), " ")
		n, err := strconv.Atoi(count)
		if !ok || !strings.HasPrefix(header, "= ") || err != nil || n < 0 || len(d.names) > math.MaxUint8 {
			return nil, fmt.Errorf("malformed word list file: bad header %q", header)
		}
		list := len(d.names)
		d.names = append(d.names, name)
		for i := range n {
			start := pos
			w, ok := line()
			if !ok {
				return nil, fmt.Errorf("malformed word list file: list %s ends after %d of %d words", name, i, n)
			}
			// trustelem lower-cases words; the generator writes them
			// lower-case already, so that they can be used in place.
			if w == "" || len(w) > math.MaxUint8 || strings.ToLower(w) != w || i+1 > math.MaxInt32 {
				return nil, fmt.Errorf("malformed word list file: list %s: word %d is empty, too long or not lower-case", name, i+1)
			}
			d.insert(start, len(w), list, i+1)
			d.maxRunes = max(d.maxRunes, utf8.RuneCountInString(w))
		}
	}
	return d, nil
}

// buildRankedDict ranks a list of words from 1, lower-cased; a repeated word
// keeps its later rank.
func buildRankedDict(words []string) map[string]int {
	d := make(map[string]int, len(words))
	for i, w := range words {
		d[strings.ToLower(w)] = i + 1
	}
	return d
}
