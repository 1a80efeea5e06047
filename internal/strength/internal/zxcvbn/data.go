// Ported from zxcvbn 4.4.2 (https://github.com/dropbox/zxcvbn),
// Copyright (c) 2012-2016 Dan Wheeler and Dropbox, Inc., MIT licence,
// by way of its Go port github.com/trustelem/zxcvbn v1.0.1,
// Copyright (c) 2018 Vincent Vanackere and Trustelem, MIT licence.
// See THIRD_PARTY.md at the repository root.

package zxcvbn

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
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

// rankedDicts are the ranked word lists, merged into one map so that each
// substring of a password costs one lookup rather than one per list.
type rankedDicts struct {
	// names are the lists' names (the dictionary_name of a match).
	names []string
	// index maps a lower-cased word to its row in ranks.
	index map[string]int32
	// ranks holds len(names) ranks per word: ranks[row*len(names)+d] is
	// the word's 1-based rank in list d, or 0 if it is not in that list.
	ranks []int32
	// maxRunes is the length of the longest word.
	maxRunes int
}

// Load decodes the embedded word lists the first time it is called and
// returns them every time. PasswordStrength calls it; a program can call it
// in the background to take the cost (some tens of milliseconds) off the
// first estimate.
var Load = sync.OnceValue(func() *rankedDicts {
	d, err := decodeDicts(frequencyLists)
	if err != nil {
		// The file is generated and embedded at build time, and the tests
		// decode it: this is a broken build, not a runtime condition.
		panic("zxcvbn: embedded word lists: " + err.Error())
	}
	return d
})

var errFormat = errors.New("malformed word list file")

func decodeDicts(gz string) (*rankedDicts, error) {
	zr, err := gzip.NewReader(strings.NewReader(gz))
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(bufio.NewReaderSize(zr, 64<<10))
	if err != nil {
		return nil, err
	}
	// One string for all the words: the map keys are substrings of it, not
	// one allocation each.
	text := string(raw)

	type list struct {
		name  string
		words []string
	}
	var lists []list
	total := 0
	for len(text) > 0 {
		header, rest, ok := strings.Cut(text, "\n")
		name, count, ok2 := strings.Cut(strings.TrimPrefix(header, "= "), " ")
		n, err := strconv.Atoi(count)
		if !ok || !ok2 || !strings.HasPrefix(header, "= ") || err != nil || n < 0 {
			return nil, fmt.Errorf("%w: bad header %q", errFormat, header)
		}
		words := make([]string, n)
		for i := range words {
			w, r, ok := strings.Cut(rest, "\n")
			if !ok {
				return nil, fmt.Errorf("%w: list %s ends after %d of %d words", errFormat, name, i, n)
			}
			words[i], rest = w, r
		}
		lists = append(lists, list{name, words})
		total += n
		text = rest
	}

	d := &rankedDicts{
		names: make([]string, len(lists)),
		index: make(map[string]int32, total),
	}
	stride := len(lists)
	d.ranks = make([]int32, 0, total*stride)
	for li, l := range lists {
		d.names[li] = l.name
		for i, w := range l.words {
			// As trustelem's buildRankedDict: keys are lower-cased, and a
			// word listed twice keeps its later rank.
			w = strings.ToLower(w)
			row, ok := d.index[w]
			if !ok {
				row = int32(len(d.ranks) / stride)
				d.index[w] = row
				d.ranks = append(d.ranks, make([]int32, stride)...)
			}
			d.ranks[int(row)*stride+li] = int32(i + 1)
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
