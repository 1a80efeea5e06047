// Ported from zxcvbn 4.4.2 (https://github.com/dropbox/zxcvbn),
// Copyright (c) 2012-2016 Dan Wheeler and Dropbox, Inc., MIT licence,
// by way of its Go port github.com/trustelem/zxcvbn v1.0.1,
// Copyright (c) 2018 Vincent Vanackere and Trustelem, MIT licence.
// See THIRD_PARTY.md at the repository root.

package zxcvbn

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn/match"
)

const (
	dateMaxYear = 2050
	dateMinYear = 1000
)

type split struct{ k, l int }

// dateSplits gives, for a digit string of each length, the ways to cut it
// into day, month and year: the second part starts at k, the third at l.
func dateSplits(n int) []split {
	switch n {
	case 4:
		return []split{{1, 2}, {2, 3}} // 1 1 91, 91 1 1
	case 5:
		return []split{{1, 3}, {2, 3}} // 1 11 91, 11 1 91
	case 6:
		return []split{{1, 2}, {2, 4}, {4, 5}} // 1 1 1991, 11 11 91, 1991 1 1
	case 7:
		return []split{{1, 3}, {2, 3}, {4, 5}, {4, 6}} // 1 11 1991, 11 1 1991, 1991 1 11, 1991 11 1
	case 8:
		return []split{{2, 4}, {4, 6}} // 11 11 1991, 1991 11 11
	}
	return nil
}

type dmy struct{ day, month, year int }

// dateMatches finds dates: three numbers that can be read as day, month and
// year (with a two- or four-digit year first or last), either run together
// ("1191", "13061987") or with the same separator twice ("1.1.91",
// "1987-06-13"). Feb 31st passes; this is not real date parsing.
//
// Upstream tests every substring against anchored regular expressions;
// trustelem uses a .NET-style engine, where \d is any Unicode digit, \s
// any Unicode space, and "$" also matches before a final "\n". Those
// details are kept, with offsets in bytes, as trustelem has them.
func dateMatches(password string, referenceYear int) []*match.Match {
	matches := []*match.Match{}

	// Dates without separators are 4 ("1191") to 8 ("11111991") long.
	for i := 0; i <= len(password)-4; i++ {
		for j := i + 3; j <= i+7 && j < len(password); j++ {
			token := password[i : j+1]
			if !maybeDateNoSeparator(token) {
				continue
			}
			var best *dmy
			bestDistance := 0
			for _, s := range dateSplits(len(token)) {
				d := mapIntsToDMY(token[:s.k], token[s.k:s.l], token[s.l:])
				if d == nil {
					continue
				}
				// Prefer the reading with the year closest to the
				// reference year: "111504" is 11-15-04, not 1-1-1504.
				if dist := abs(d.year - referenceYear); best == nil || dist < bestDistance {
					best, bestDistance = d, dist
				}
			}
			if best == nil {
				continue
			}
			matches = append(matches, &match.Match{
				Pattern: "date",
				Token:   token,
				I:       i,
				J:       j,
				Year:    best.year,
				Month:   best.month,
				Day:     best.day,
			})
		}
	}

	// Dates with separators are 6 ("1/1/91") to 10 ("11/11/1991") long.
	for i := 0; i <= len(password)-6; i++ {
		for j := i + 5; j <= i+9 && j < len(password); j++ {
			token := password[i : j+1]
			g1, sep, g3, g4, ok := maybeDateWithSeparator(token)
			if !ok {
				continue
			}
			if d := mapIntsToDMY(g1, g3, g4); d != nil {
				matches = append(matches, &match.Match{
					Pattern:   "date",
					Token:     token,
					I:         i,
					J:         j,
					Separator: sep,
					Year:      d.year,
					Month:     d.month,
					Day:       d.day,
				})
			}
		}
	}

	// Drop matches inside others: "2015_06_04" also holds 15_06_04,
	// 5_06_04 and more, even 2015 (as 5/1/2020).
	var filtered []*match.Match
	for _, m := range matches {
		sub := false
		for _, o := range matches {
			if m != o && o.I <= m.I && o.J >= m.J {
				sub = true
				break
			}
		}
		if !sub {
			filtered = append(filtered, m)
		}
	}
	match.Sort(filtered)
	return filtered
}

// maybeDateNoSeparator is the anchored expression \d{4,8}$ in trustelem's
// engine: 4 to 8 Unicode digits, optionally followed by a final "\n".
func maybeDateNoSeparator(token string) bool {
	token = strings.TrimSuffix(token, "\n")
	n := 0
	for _, r := range token {
		// A stray byte decodes as U+FFFD, which is not a digit.
		if !unicode.IsDigit(r) {
			return false
		}
		n++
	}
	return n >= 4 && n <= 8
}

// maybeDateWithSeparator is the anchored expression
// (\d{1,4})([\s/\\_.-])(\d{1,2})\2(\d{1,4})$ in trustelem's engine. It
// returns the three numbers and the separator.
func maybeDateWithSeparator(token string) (g1, sep, g3, g4 string, ok bool) {
	// Digits cannot be separators, so the only reading is: the longest
	// run of digits, a separator, digits, the same separator, digits, and
	// the end or a final "\n".
	digits := func(s string) int {
		n := 0
		for n < len(s) {
			r, size := utf8.DecodeRuneInString(s[n:])
			if !unicode.IsDigit(r) {
				break
			}
			n += size
		}
		return n
	}
	runeCount := func(s string) int { return utf8.RuneCountInString(s) }
	separator := func(s string) int {
		r, size := utf8.DecodeRuneInString(s)
		if size == 0 || !(unicode.IsSpace(r) || strings.ContainsRune(`/\_.-`, r)) {
			return 0
		}
		return size
	}

	rest := token
	n1 := digits(rest)
	if g1 = rest[:n1]; n1 == 0 || runeCount(g1) > 4 {
		return "", "", "", "", false
	}
	rest = rest[n1:]
	ns := separator(rest)
	if sep = rest[:ns]; ns == 0 {
		return "", "", "", "", false
	}
	rest = rest[ns:]
	n3 := digits(rest)
	if g3 = rest[:n3]; n3 == 0 || runeCount(g3) > 2 {
		return "", "", "", "", false
	}
	rest = rest[n3:]
	if !strings.HasPrefix(rest, sep) {
		return "", "", "", "", false
	}
	rest = rest[len(sep):]
	n4 := digits(rest)
	if g4 = rest[:n4]; n4 == 0 || runeCount(g4) > 4 {
		return "", "", "", "", false
	}
	if rest = rest[n4:]; rest != "" && rest != "\n" {
		return "", "", "", "", false
	}
	return g1, sep, g3, g4, true
}

// mapIntsToDMY reads three numbers as a date, or returns nil. It discards
// triples where the middle number is over 31 or zero (years are never in
// the middle), any number is over the max year or has three digits, two
// numbers are over 31 or zero, or all are over 12. Numbers that do not
// parse (other digits than 0-9) count as 0, as in trustelem.
func mapIntsToDMY(s1, s2, s3 string) *dmy {
	i1, _ := strconv.Atoi(s1)
	i2, _ := strconv.Atoi(s2)
	i3, _ := strconv.Atoi(s3)
	if i2 > 31 || i2 <= 0 {
		return nil
	}
	over12, over31, under1 := 0, 0, 0
	for _, i := range [3]int{i1, i2, i3} {
		if (i > 99 && i < dateMinYear) || i > dateMaxYear {
			return nil
		}
		if i > 31 {
			over31++
		}
		if i > 12 {
			over12++
		}
		if i <= 0 {
			under1++
		}
	}
	if over31 >= 2 || over12 == 3 || under1 >= 2 {
		return nil
	}

	// First look for a four-digit year, last or first; if there is one
	// and the other two are not a day and month, it is not a date.
	yearSplits := [2][3]int{
		{i3, i1, i2}, // year last
		{i1, i2, i3}, // year first
	}
	for _, s := range yearSplits {
		if y := s[0]; dateMinYear <= y && y <= dateMaxYear {
			return mapIntsToDM(s[1], s[2], y)
		}
	}
	// With no four-digit year, a two-digit year is the most flexible
	// number, so try a day and month in the other two.
	for _, s := range yearSplits {
		if d := mapIntsToDM(s[1], s[2], s[0]); d != nil {
			d.year = twoToFourDigitYear(d.year)
			return d
		}
	}
	return nil
}

func mapIntsToDM(i1, i2, year int) *dmy {
	if i1 <= 31 && i2 <= 12 {
		return &dmy{day: i1, month: i2, year: year}
	}
	if i2 <= 31 && i1 <= 12 {
		return &dmy{day: i2, month: i1, year: year}
	}
	return nil
}

func twoToFourDigitYear(year int) int {
	switch {
	case year > 99:
		return year
	case year > 50:
		return year + 1900 // 87 -> 1987
	default:
		return year + 2000 // 15 -> 2015
	}
}

func abs(a int) int {
	if a < 0 {
		return -a
	}
	return a
}
