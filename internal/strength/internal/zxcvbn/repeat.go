// Ported from zxcvbn 4.4.2 (https://github.com/dropbox/zxcvbn),
// Copyright (c) 2012-2016 Dan Wheeler and Dropbox, Inc., MIT licence,
// by way of its Go port github.com/trustelem/zxcvbn v1.0.1,
// Copyright (c) 2018 Vincent Vanackere and Trustelem, MIT licence.
// See THIRD_PARTY.md at the repository root.

package zxcvbn

import (
	"slices"

	"github.com/trustelem/zxcvbn/match"
)

// repeatMatches finds repeated strings such as "aaaa" or "abcabcabc".
//
// Upstream (and trustelem) use the backtracking regular expressions
// /(.+)\1+/ (greedy), /(.+?)\1+/ (lazy) and /^(.+?)\1+$/; this is the same
// search written out on runes, with "." not matching "\n" as in those
// engines. Offsets and the repeat count follow trustelem: I is the byte
// offset of the first rune, J that of the last rune's first byte, the
// count is the match's length in runes divided by the base token's length
// in bytes, and the search stops after a match whose last rune is not
// ASCII (trustelem restarts its regexp in the middle of that rune, which
// fails).
func (e *estimator) repeatMatches(password string) []*match.Match {
	var matches []*match.Match
	runes := []rune(password)
	// byteAt[k] is the byte offset of runes[k]; byteAt[len(runes)] is
	// len(password).
	byteAt := make([]int, 0, len(runes)+1)
	for i := range password {
		byteAt = append(byteAt, i)
	}
	byteAt = append(byteAt, len(password))

	last := 0 // byte offset where the next search starts
	for last < len(password) {
		start, ok := slices.BinarySearch(byteAt, last)
		if !ok {
			break // in the middle of a rune
		}
		s, greedyL, lazyL := findRepeat(runes, start)
		if s < 0 {
			break
		}
		greedyLen := repeatLen(runes, s, greedyL)
		lazyLen := repeatLen(runes, s, lazyL)
		var length int
		var base []rune
		if greedyLen > lazyLen {
			// Greedy beats lazy for "aabaab" (greedy "aabaab" of "aab",
			// lazy "aa" of "a"). Greedy's repeated string may itself be a
			// repeat, as "aabaab" in "aabaabaabaab": take the shortest
			// base that makes up the whole match.
			length = greedyLen
			base = runes[s : s+shortestPeriod(runes[s:s+greedyLen])]
		} else {
			// Lazy beats greedy for "aaaaa" (greedy "aaaa" of "aa", lazy
			// "aaaaa" of "a").
			length = lazyLen
			base = runes[s : s+lazyL]
		}
		baseToken := string(base)
		i, j := byteAt[s], byteAt[s+length-1]
		// Match and score the base token on its own, without the user's
		// inputs as upstream.
		sub := e.withoutUserInputs()
		baseAnalysis := sub.mostGuessableMatchSequence(baseToken, sub.omnimatch(baseToken), false)
		matches = append(matches, &match.Match{
			Pattern:     "repeat",
			I:           i,
			J:           j,
			Token:       string(runes[s : s+length]),
			BaseToken:   baseToken,
			BaseGuesses: baseAnalysis.guesses,
			BaseMatches: baseAnalysis.sequence,
			RepeatCount: length / len(baseToken),
		})
		last = j + 1
	}
	return matches
}

// findRepeat returns the first rune offset s >= from where some string of
// L runes is immediately repeated, with the largest and the smallest such
// L; s is -1 if there is none. Neither copy may hold a '\n'.
func findRepeat(r []rune, from int) (s, largest, smallest int) {
	for s := from; s < len(r); s++ {
		end := s
		for end < len(r) && r[end] != '\n' {
			end++
		}
		largest, smallest = 0, 0
		for l := 1; s+2*l <= end; l++ {
			if slices.Equal(r[s:s+l], r[s+l:s+2*l]) {
				if smallest == 0 {
					smallest = l
				}
				largest = l
			}
		}
		if smallest > 0 {
			return s, largest, smallest
		}
	}
	return -1, 0, 0
}

// repeatLen is the length in runes of the longest run of whole copies of
// r[s:s+l] starting at s (at least two, as findRepeat found).
func repeatLen(r []rune, s, l int) int {
	n := 2 * l
	for s+n+l <= len(r) && slices.Equal(r[s:s+l], r[s+n:s+n+l]) {
		n += l
	}
	return n
}

// shortestPeriod is the length of the shortest string that, repeated at
// least twice, makes up r (r is itself such a repeat).
func shortestPeriod(r []rune) int {
	for l := 1; 2*l <= len(r); l++ {
		if len(r)%l != 0 {
			continue
		}
		ok := true
		for k := l; k < len(r) && ok; k += l {
			ok = slices.Equal(r[:l], r[k:k+l])
		}
		if ok {
			return l
		}
	}
	return len(r)
}
