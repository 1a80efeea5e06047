// Ported from zxcvbn 4.4.2 (https://github.com/dropbox/zxcvbn),
// Copyright (c) 2012-2016 Dan Wheeler and Dropbox, Inc., MIT licence,
// by way of its Go port github.com/trustelem/zxcvbn v1.0.1,
// Copyright (c) 2018 Vincent Vanackere and Trustelem, MIT licence.
// See THIRD_PARTY.md at the repository root.

// Package zxcvbn is zxcvbn's password strength estimator with nothing built
// at program start.
//
// github.com/trustelem/zxcvbn builds its ranked dictionaries (about 10 MB),
// keyboard graphs and regular expressions in package initialisation, which
// Go runs in every program that links it: every keyhold command paid some
// 60 ms for it, including those that never look at a password. This package
// is a port of the same algorithm that gives the same guesses and scores
// (tests check it against trustelem's), but reads its word lists from an
// embedded file on the first call to PasswordStrength and holds everything
// else in constant data.
//
// The port keeps trustelem's behaviour where it departs from upstream
// zxcvbn (byte rather than rune offsets in several matchers, a slice
// aliasing quirk in the l33t substitution enumeration, the ".NET" meaning
// of "$" in its regular expressions), because matching trustelem exactly is
// what lets keyhold switch without changing a single score.
package zxcvbn

import (
	"time"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn/match"
)

// Result is the verdict on one password.
type Result struct {
	// Guesses is the estimated number of guesses an attacker needs.
	Guesses float64
	// Score is 0 (too guessable) to 4 (very unguessable).
	Score int
	// Sequence is the cheapest way found to guess the password, as
	// non-overlapping matches covering it.
	Sequence []*match.Match
}

// PasswordStrength estimates how hard password is to guess. userInputs are
// words (matched whole, lower-cased) that an attacker knows about the user.
// Invalid UTF-8 scores 0, as in trustelem's port. The first call in a
// process decodes the embedded word lists.
func PasswordStrength(password string, userInputs []string) Result {
	if !utf8.ValidString(password) {
		return Result{}
	}
	e := newEstimator(userInputs)
	matches := e.omnimatch(password)
	seq := e.mostGuessableMatchSequence(password, matches, false)
	return Result{
		Guesses:  seq.guesses,
		Score:    guessesToScore(seq.guesses),
		Sequence: seq.sequence,
	}
}

// estimator holds what one PasswordStrength call matches against.
type estimator struct {
	dicts *rankedDicts
	// user is the user_inputs dictionary: lower-cased word to rank.
	user map[string]int
	// maxRunes bounds the length of any dictionary word or user input, so
	// that longer substrings need not be looked up.
	maxRunes int
	// referenceYear is the current year: dates and years close to it are
	// the most likely.
	referenceYear int
}

func newEstimator(userInputs []string) *estimator {
	d := load()
	e := &estimator{
		dicts:         d,
		user:          buildRankedDict(userInputs),
		maxRunes:      d.maxRunes,
		referenceYear: time.Now().Year(),
	}
	for w := range e.user {
		e.maxRunes = max(e.maxRunes, utf8.RuneCountInString(w))
	}
	return e
}

// withoutUserInputs is e for the recursive analysis of a repeated base
// token, which upstream matches without the user's inputs.
func (e *estimator) withoutUserInputs() *estimator {
	e2 := *e
	e2.user = nil
	e2.maxRunes = e.dicts.maxRunes
	return &e2
}

// guessesToScore maps guesses to zxcvbn's 0-4 scale.
func guessesToScore(guesses float64) int {
	const delta = 5
	switch {
	case guesses < 1e3+delta:
		return 0 // risky password: "too guessable"
	case guesses < 1e6+delta:
		return 1 // modest protection from throttled online attacks
	case guesses < 1e8+delta:
		return 2 // modest protection from unthrottled online attacks
	case guesses < 1e10+delta:
		return 3 // modest protection from offline attacks on a slow hash
	default:
		return 4 // strong protection from offline attacks, same scenario
	}
}
