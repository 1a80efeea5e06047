// Ported from zxcvbn 4.4.2 (https://github.com/dropbox/zxcvbn),
// Copyright (c) 2012-2016 Dan Wheeler and Dropbox, Inc., MIT licence,
// by way of its Go port github.com/trustelem/zxcvbn v1.0.1,
// Copyright (c) 2018 Vincent Vanackere and Trustelem, MIT licence.
// See THIRD_PARTY.md at the repository root.

package zxcvbn

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn/match"
)

const (
	bruteforceCardinality           = 10
	minGuessesBeforeGrowingSequence = 10000
	minSubmatchGuessesSingleChar    = 10
	minSubmatchGuessesMultiChar     = 50
	minYearSpace                    = 20
)

type searchResult struct {
	guesses  float64
	sequence []*match.Match
}

// optimalEntry is, for a password prefix ending at some k, the best
// sequence of l matches found so far covering it: its last match m, the
// product pi of its matches' guesses, and the overall metric g.
type optimalEntry struct {
	l     int
	m     *match.Match
	pi, g float64
}

// optimalTable holds the entries for each k, sorted by l. trustelem keeps
// three maps per k; the few entries per k fit a short slice better. A
// missing entry reads as zero, as a missing map key does there.
type optimalTable [][]optimalEntry

func (t optimalTable) get(k, l int) (optimalEntry, bool) {
	for _, e := range t[k] {
		if e.l == l {
			return e, true
		}
	}
	return optimalEntry{}, false
}

func (t optimalTable) set(k int, e optimalEntry) {
	row := t[k]
	i := sort.Search(len(row), func(i int) bool { return row[i].l >= e.l })
	if i < len(row) && row[i].l == e.l {
		row[i] = e
		return
	}
	t[k] = append(row[:i], append([]optimalEntry{e}, row[i:]...)...)
}

// mostGuessableMatchSequence returns the non-overlapping sequence of
// matches (with bruteforce filling the gaps) that minimises
//
//	g = l! * Product(m.guesses for m in sequence) + D^(l - 1)
//
// where l is the sequence's length: the l! term counts the orders of l
// patterns, and D^(l-1) approximates the shorter sequences an attacker
// would try first. It is upstream's O(l_max * (n + m)) dynamic programme,
// with trustelem's byte offsets.
func (e *estimator) mostGuessableMatchSequence(password string, matches []*match.Match, excludeAdditive bool) searchResult {
	n := len(password)
	validIndexes := make([]bool, n)
	for i := range password {
		validIndexes[i] = true
	}

	// Partition the matches by ending index j, each list sorted by i.
	matchesByJ := make([][]*match.Match, n)
	for _, m := range matches {
		if m.J < 0 || m.J > n {
			continue
		}
		matchesByJ[m.J] = append(matchesByJ[m.J], m)
	}
	for _, ms := range matchesByJ {
		sort.SliceStable(ms, func(a, b int) bool { return ms[a].I < ms[b].I })
	}

	optimal := make(optimalTable, n)

	// update considers whether a length-l sequence ending with m is better
	// (fewer guesses) than those seen so far, and records it if so.
	update := func(m *match.Match, l int) {
		k := m.J
		pi := e.estimateGuesses(m, password)
		if l > 1 {
			// The product term of the length-(l-1) sequence ending just
			// before m.
			prev, _ := optimal.get(m.I-1, l-1)
			pi *= prev.pi
		}
		g := factorial(l) * pi
		if !excludeAdditive {
			g += math.Pow(minGuessesBeforeGrowingSequence, float64(l-1))
		}
		// Skip it if a sequence of l or fewer matches covering this
		// prefix does as well.
		if k >= 0 && k < n {
			for _, c := range optimal[k] {
				if c.l <= l && c.g <= g {
					return
				}
			}
		}
		optimal.set(k, optimalEntry{l: l, m: m, pi: pi, g: g})
	}

	// bruteforceUpdate evaluates the bruteforce matches ending at k.
	bruteforceUpdate := func(k int) {
		// A single bruteforce match spanning the whole k-prefix.
		update(makeBruteforceMatch(0, k, password), 1)
		previous := 0
		for i := 1; i <= k; i++ {
			if !validIndexes[i] {
				continue
			}
			// As in trustelem, prev is the start of the previous rune,
			// while update reads its product at i-1.
			prev := previous
			previous = i
			m := makeBruteforceMatch(i, k, password)
			for _, last := range optimal[prev] {
				if last.l >= n {
					break
				}
				// An optimal sequence never has two adjacent bruteforce
				// matches: one spanning both is strictly better.
				if last.m.Pattern == "bruteforce" {
					continue
				}
				update(m, last.l+1)
			}
		}
	}

	// unwind steps back from the end, building the optimal sequence.
	unwind := func(n int) []*match.Match {
		var seq []*match.Match
		k := n - 1
		l, g := -1, -1.0
		if k >= 0 && k < n {
			first := true
			for _, c := range optimal[k] {
				if first || c.g < g || c.g == g && c.l > l {
					l, g, first = c.l, c.g, false
				}
			}
			for k >= 0 {
				c, ok := optimal.get(k, l)
				l--
				if !ok {
					// Lengths may be missing: skip to the next shorter.
					// (trustelem would loop forever once none is left.)
					if l < 1 {
						break
					}
					continue
				}
				seq = append(seq, c.m)
				k = c.m.I - 1
			}
		}
		for a, b := 0, len(seq)-1; a < b; a, b = a+1, b-1 {
			seq[a], seq[b] = seq[b], seq[a]
		}
		return seq
	}

	for k := range n {
		for _, m := range matchesByJ[k] {
			if m.I > 0 {
				for _, prev := range optimal[m.I-1] {
					if prev.l >= n {
						break
					}
					update(m, prev.l+1)
				}
			} else {
				update(m, 1)
			}
		}
		bruteforceUpdate(k)
	}

	seq := unwind(n)
	guesses := 1.0 // corner: empty password
	if n > 0 {
		last, _ := optimal.get(n-1, len(seq))
		guesses = last.g
	}
	return searchResult{guesses: guesses, sequence: seq}
}

func makeBruteforceMatch(i, j int, password string) *match.Match {
	return &match.Match{
		Pattern: "bruteforce",
		Token:   password[i : j+1],
		I:       i,
		J:       j,
	}
}

// estimateGuesses returns (and caches in m) the guesses needed for m.
func (e *estimator) estimateGuesses(m *match.Match, password string) float64 {
	if m.Guesses > 0 {
		return m.Guesses
	}
	minGuesses := 1.0
	if len(m.Token) < len(password) {
		if len(m.Token) == 1 {
			minGuesses = minSubmatchGuessesSingleChar
		} else {
			minGuesses = minSubmatchGuessesMultiChar
		}
	}
	var guesses float64
	switch m.Pattern {
	case "bruteforce":
		guesses = bruteforceGuesses(m)
	case "dictionary":
		guesses = dictionaryGuesses(m)
	case "spatial":
		guesses = spatialGuesses(m)
	case "repeat":
		guesses = m.BaseGuesses * float64(m.RepeatCount)
	case "sequence":
		guesses = sequenceGuesses(m)
	case "regex":
		guesses = e.regexGuesses(m)
	case "date":
		guesses = e.dateGuesses(m)
	}
	m.Guesses = max(guesses, minGuesses)
	return m.Guesses
}

func bruteforceGuesses(m *match.Match) float64 {
	runes := utf8.RuneCountInString(m.Token)
	guesses := math.Pow(bruteforceCardinality, float64(runes))
	// At least one more than the smallest submatch guesses, so that other
	// matches over the same span take precedence.
	minGuesses := float64(minSubmatchGuessesMultiChar + 1)
	if runes == 1 {
		minGuesses = minSubmatchGuessesSingleChar + 1
	}
	return max(guesses, minGuesses)
}

func dictionaryGuesses(m *match.Match) float64 {
	m.BaseGuesses = float64(m.Rank)
	m.UppercaseVariations = uppercaseVariations(m.Token)
	m.L33tVariations = l33tVariations(m)
	reversed := 1.0
	if m.Reversed {
		reversed = 2
	}
	return m.BaseGuesses * m.UppercaseVariations * m.L33tVariations * reversed
}

// uppercaseVariations counts the capitalisations an attacker tries before
// reaching that of word.
func uppercaseVariations(word string) float64 {
	hasUpper := strings.ContainsFunc(word, func(r rune) bool { return 'A' <= r && r <= 'Z' })
	if !hasUpper || strings.ToLower(word) == word {
		return 1
	}
	// Capitalised, all-caps and end-capitalised words are common: count
	// them as doubling the search space.
	last := len(word) - 1
	startUpper := isUpperASCII(word[0]) && last > 0 && !containsUpperASCII(word[1:])
	endUpper := isUpperASCII(word[last]) && last > 0 && !containsUpperASCII(word[:last])
	allUpper := !strings.ContainsFunc(word, func(r rune) bool { return 'a' <= r && r <= 'z' })
	if startUpper || endUpper || allUpper {
		return 2
	}
	// Otherwise the ways to capitalise U+L letters with at most U upper
	// case (or to lower-case them with at most L lower case).
	u, l := 0, 0
	for _, c := range word {
		switch {
		case 'A' <= c && c <= 'Z':
			u++
		case 'a' <= c && c <= 'z':
			l++
		}
	}
	variations := 0.0
	for i := 1; i <= u && i <= l; i++ {
		variations += nCk(u+l, i)
	}
	return variations
}

func isUpperASCII(c byte) bool { return 'A' <= c && c <= 'Z' }

func containsUpperASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if isUpperASCII(s[i]) {
			return true
		}
	}
	return false
}

// l33tVariations counts the substitution patterns an attacker tries before
// reaching that of m.
func l33tVariations(m *match.Match) float64 {
	if !m.L33t {
		return 1
	}
	// Capitalisation does not affect the count.
	chrs := strings.ToLower(m.Token)
	variations := 1.0
	for subbed, unsubbed := range m.Sub {
		s, u := 0, 0 // substituted and plain characters
		for _, c := range chrs {
			if string(c) == subbed {
				s++
			}
			if string(c) == unsubbed {
				u++
			}
		}
		if s == 0 || u == 0 {
			// Fully substituted (444) or fully plain (aaa): treat as
			// doubling the space.
			variations *= 2
			continue
		}
		// As with capitalisation: for aa44a, U = 3 and S = 2, the
		// attacker tries the plain word, one substitution and two.
		possibilities := 0.0
		for i := 1; i <= min(u, s); i++ {
			possibilities += nCk(u+s, i)
		}
		variations *= possibilities
	}
	return variations
}

func spatialGuesses(m *match.Match) float64 {
	g := &keypadGraph
	if m.Graph == "qwerty" || m.Graph == "dvorak" {
		g = &qwertyGraph
	}
	s, d := float64(g.keys), g.avgDegree
	runes := utf8.RuneCountInString(m.Token)
	guesses := 0.0
	// The patterns of length runes or less with m.Turns turns or less.
	for i := 2; i <= runes; i++ {
		possibleTurns := min(m.Turns, i-1)
		for j := 1; j <= possibleTurns; j++ {
			guesses += nCk(i-1, j-1) * s * math.Pow(d, float64(j))
		}
	}
	// Extra guesses for shifted keys (% instead of 5, A instead of a), as
	// for l33t substitutions.
	if m.ShiftedCount > 0 {
		s := m.ShiftedCount
		u := runes - m.ShiftedCount
		if u == 0 {
			guesses *= 2
		} else {
			variations := 0.0
			for i := 1; i <= min(s, u); i++ {
				variations += nCk(s+u, i)
			}
			guesses *= variations
		}
	}
	return guesses
}

func sequenceGuesses(m *match.Match) float64 {
	var base int
	switch first := m.Token[0]; {
	case strings.IndexByte("aAzZ019", first) >= 0:
		base = 4 // obvious starting points
	case '0' <= first && first <= '9':
		base = 10 // digits
	default:
		// Upper case could get a higher base; 26 for both is more
		// conservative.
		base = 26
	}
	if !m.Ascending {
		base *= 2 // descending sequences are tried as well
	}
	return float64(base * len(m.Token))
}

func (e *estimator) regexGuesses(m *match.Match) float64 {
	switch m.RegexName {
	case "alpha_lower", "alpha_upper":
		return math.Pow(26, float64(len(m.Token)))
	case "alpha":
		return math.Pow(52, float64(len(m.Token)))
	case "alphanumeric":
		return math.Pow(62, float64(len(m.Token)))
	case "digits":
		return math.Pow(10, float64(len(m.Token)))
	case "symbols":
		return math.Pow(33, float64(len(m.Token)))
	case "recent_year":
		// The years between this one and the reference year, at least
		// minYearSpace.
		year, _ := strconv.Atoi(m.Token)
		return float64(max(abs(year-e.referenceYear), minYearSpace))
	}
	return 0
}

func (e *estimator) dateGuesses(m *match.Match) float64 {
	// The year's distance from the reference year, times days in a year.
	guesses := max(abs(m.Year-e.referenceYear), minYearSpace) * 365
	if m.Separator != "" {
		guesses *= 4 // one of about four separators
	}
	return float64(guesses)
}

// nCk is the binomial coefficient, computed as trustelem does
// (http://blog.plover.com/math/choose.html).
func nCk(n, k int) float64 {
	if k > n {
		return 0
	}
	if k == 0 {
		return 1
	}
	r := 1.0
	for d := 1; d <= k; d++ {
		r *= float64(n)
		r /= float64(d)
		n--
	}
	return r
}

func factorial(n int) float64 {
	f := 1.0
	for i := 2; i <= n; i++ {
		f *= float64(i)
	}
	return f
}
