// Ported from zxcvbn 4.4.2 (https://github.com/dropbox/zxcvbn),
// Copyright (c) 2012-2016 Dan Wheeler and Dropbox, Inc., MIT licence,
// by way of its Go port github.com/trustelem/zxcvbn v1.0.1,
// Copyright (c) 2018 Vincent Vanackere and Trustelem, MIT licence.
// See THIRD_PARTY.md at the repository root.

package zxcvbn

import (
	"bytes"
	"sort"
	"strings"

	"github.com/trustelem/zxcvbn/match"
)

// omnimatch finds every pattern in password: dictionary words (plain,
// reversed, l33t), keyboard walks, repeats, sequences, recent years and
// dates. The matches overlap; scoring picks the cheapest cover.
func (e *estimator) omnimatch(password string) []*match.Match {
	var matches []*match.Match
	matches = append(matches, e.dictionaryMatches(password)...)
	matches = append(matches, e.reverseDictionaryMatches(password)...)
	matches = append(matches, e.l33tMatches(password)...)
	matches = append(matches, spatialMatches(password)...)
	matches = append(matches, e.repeatMatches(password)...)
	matches = append(matches, sequenceMatches(password)...)
	matches = append(matches, regexMatches(password)...)
	matches = append(matches, dateMatches(password, e.referenceYear)...)
	match.Sort(matches)
	return matches
}

// dictionaryMatches finds the substrings of password that are, lower-cased,
// words of a ranked list or user inputs.
//
// Like trustelem's port, the substrings run from the start of one rune to
// the first byte of another (so a token may end in half a rune), and are
// lower-cased one by one; only an ASCII password, where that is the same as
// slicing the lower-cased password, takes the shortcut.
func (e *estimator) dictionaryMatches(password string) []*match.Match {
	var results []*match.Match
	ascii := isASCII(password)
	lower := password
	if ascii {
		lower = strings.ToLower(password)
	}
	for i := range password {
		runes := 0
		for delta := range password[i:] {
			// strings.ToLower maps rune to rune (and a stray byte to one
			// U+FFFD), so a substring of more runes than the longest word
			// cannot match.
			if runes++; runes > e.maxRunes {
				break
			}
			j := i + delta
			var word string
			if ascii {
				word = lower[i : j+1]
			} else {
				word = strings.ToLower(password[i : j+1])
			}
			e.dicts.lookup(word, func(list, rank int) {
				results = append(results, &match.Match{
					Pattern:        "dictionary",
					I:              i,
					J:              j,
					Token:          password[i : j+1],
					MatchedWord:    word,
					Rank:           rank,
					DictionaryName: e.dicts.names[list],
				})
			})
			if rank, ok := e.user[word]; ok {
				results = append(results, &match.Match{
					Pattern:        "dictionary",
					I:              i,
					J:              j,
					Token:          password[i : j+1],
					MatchedWord:    word,
					Rank:           rank,
					DictionaryName: "user_inputs",
				})
			}
		}
	}
	match.Sort(results)
	return results
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// reverseDictionaryMatches finds dictionary words written backwards.
func (e *estimator) reverseDictionaryMatches(password string) []*match.Match {
	matches := e.dictionaryMatches(reverse(password))
	for _, m := range matches {
		m.Token = reverse(m.Token)
		m.Reversed = true
		m.I, m.J = len(password)-1-m.J, len(password)-1-m.I
	}
	match.Sort(matches)
	return matches
}

// reverse reverses s rune by rune (a stray byte becomes U+FFFD).
func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

// l33tTable lists the characters commonly substituted for each letter.
// A slice rather than a map: constant data, nothing to build at start-up.
var l33tTable = []struct {
	letter string
	subs   []string
}{
	{"a", []string{"4", "@"}},
	{"b", []string{"8"}},
	{"c", []string{"(", "{", "[", "<"}},
	{"e", []string{"3"}},
	{"g", []string{"6", "9"}},
	{"i", []string{"1", "!", "|"}},
	{"l", []string{"1", "|", "7"}},
	{"o", []string{"0"}},
	{"s", []string{"$", "5"}},
	{"t", []string{"+", "7"}},
	{"x", []string{"%"}},
	{"z", []string{"2"}},
}

// l33tMatches finds dictionary words written with substitutions, such as
// "p4ssw0rd": it undoes each plausible set of substitutions and matches the
// result against the dictionaries.
func (e *estimator) l33tMatches(password string) []*match.Match {
	matches := []*match.Match{}
	for _, sub := range enumerateL33tSubs(relevantL33tSubtable(password)) {
		if len(sub) == 0 {
			break
		}
		subbed := translate(password, sub)
		for _, m := range e.dictionaryMatches(subbed) {
			token := password[m.I : m.J+1]
			if len(token) <= 1 {
				// Single-character l33t matches are noise: "1" would
				// match "i", "4" would match "a", both common words.
				continue
			}
			if strings.ToLower(token) == m.MatchedWord {
				continue // only matches with an actual substitution
			}
			m.Sub = make(map[string]string)
			for subbedChr, chr := range sub {
				if strings.Contains(token, subbedChr) {
					m.Sub[subbedChr] = chr
				}
			}
			m.L33t = true
			m.Token = token
			matches = append(matches, m)
		}
	}
	match.Sort(matches)
	return matches
}

// translate replaces the characters of password that are keys of sub.
func translate(password string, sub map[string]string) string {
	var b strings.Builder
	b.Grow(len(password))
	for _, r := range password {
		if v, ok := sub[string(r)]; ok {
			b.WriteString(v)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// relevantL33tSubtable is l33tTable cut down to the substitutes that occur
// in password.
func relevantL33tSubtable(password string) map[string][]string {
	chars := make(map[rune]bool)
	for _, r := range password {
		chars[r] = true
	}
	relevant := make(map[string][]string)
	for _, t := range l33tTable {
		for _, s := range t.subs {
			if chars[rune(s[0])] {
				relevant[t.letter] = append(relevant[t.letter], s)
			}
		}
	}
	return relevant
}

type kv struct{ k, v string }

// enumerateL33tSubs returns every way of undoing the substitutions in table
// (substitute to letter), where a substitute maps to one letter at a time.
//
// This is trustelem's version of upstream's enumerate_l33t_subs, kept
// statement for statement: it extends a substitution list with append,
// which can share a backing array between two extensions of the same list
// (the later one wins), and sorts lists in place while deduplicating. For
// passwords with four or more kinds of substitute this drops some of the
// combinations upstream tries; reproducing it keeps scores identical to
// trustelem's.
func enumerateL33tSubs(table map[string][]string) []map[string]string {
	keys := make([]string, 0, len(table))
	for k := range table {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	subs := [][]kv{{}}
	for _, firstKey := range keys {
		var nextSubs [][]kv
		for _, l33tChr := range table[firstKey] {
			for _, sub := range subs {
				dup := -1
				for i := range sub {
					if sub[i].k == l33tChr {
						dup = i
						break
					}
				}
				if dup == -1 {
					nextSubs = append(nextSubs, append(sub, kv{l33tChr, firstKey}))
				} else {
					alt := make([]kv, 0, len(sub))
					alt = append(alt, sub[:dup]...)
					alt = append(alt, sub[dup+1:]...)
					alt = append(alt, kv{l33tChr, firstKey})
					nextSubs = append(nextSubs, sub, alt)
				}
			}
		}
		subs = dedupL33tSubs(nextSubs)
	}
	dicts := make([]map[string]string, 0, len(subs))
	for _, sub := range subs {
		d := make(map[string]string, len(sub))
		for _, x := range sub {
			d[x.k] = x.v
		}
		dicts = append(dicts, d)
	}
	return dicts
}

func dedupL33tSubs(subs [][]kv) [][]kv {
	var res [][]kv
	var b bytes.Buffer
	seen := make(map[string]bool)
	for _, sub := range subs {
		sort.SliceStable(sub, func(i, j int) bool { return sub[i].k < sub[j].k })
		b.Reset()
		for _, x := range sub {
			b.WriteString(x.k)
			b.WriteString(",")
			b.WriteString(x.v)
		}
		if key := b.String(); !seen[key] {
			res = append(res, sub)
			seen[key] = true
		}
	}
	return res
}

// regexMatches finds recent years, upstream's one regex pattern
// (19\d\d|200\d|201\d), leftmost first and without overlap.
func regexMatches(password string) []*match.Match {
	var matches []*match.Match
	isDigit := func(c byte) bool { return '0' <= c && c <= '9' }
	for i := 0; i+4 <= len(password); {
		t := password[i : i+4]
		if (t[:2] == "19" && isDigit(t[2]) || t[:3] == "200" || t[:3] == "201") && isDigit(t[3]) {
			matches = append(matches, &match.Match{
				Pattern:   "regex",
				Token:     t,
				I:         i,
				J:         i + 3,
				RegexName: "recent_year",
			})
			i += 4
			continue
		}
		i++
	}
	match.Sort(matches)
	return matches
}

// sequenceMatches finds runs of characters with a constant step, such as
// "abcd", "9753" or "zyx". Like trustelem's port it steps through bytes.
func sequenceMatches(password string) []*match.Match {
	const maxDelta = 5
	matches := []*match.Match{}
	if len(password) == 1 {
		return matches
	}
	update := func(i, j, delta int) {
		absDelta := delta
		if absDelta < 0 {
			absDelta = -absDelta
		}
		if (j-i > 1 || absDelta == 1) && absDelta > 0 && absDelta <= maxDelta {
			token := password[i : j+1]
			// Conservatively stick with the roman alphabet's size.
			name, space := "unicode", 26
			switch {
			case allBytesIn(token, 'a', 'z'):
				name = "lower"
			case allBytesIn(token, 'A', 'Z'):
				name = "upper"
			case allBytesIn(token, '0', '9'):
				name, space = "digits", 10
			}
			matches = append(matches, &match.Match{
				Pattern:       "sequence",
				I:             i,
				J:             j,
				Token:         token,
				SequenceName:  name,
				SequenceSpace: space,
				Ascending:     delta > 0,
			})
		}
	}
	i, lastDelta := 0, 0
	for k := 1; k < len(password); k++ {
		delta := int(password[k]) - int(password[k-1])
		if k == 1 {
			lastDelta = delta
		}
		if delta == lastDelta {
			continue
		}
		j := k - 1
		update(i, j, lastDelta)
		i, lastDelta = j, delta
	}
	update(i, len(password)-1, lastDelta)
	return matches
}

// allBytesIn reports whether s is non-empty and all its bytes are in lo..hi
// (an ASCII range, so the same as checking its runes).
func allBytesIn(s string, lo, hi byte) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < lo || s[i] > hi {
			return false
		}
	}
	return true
}
