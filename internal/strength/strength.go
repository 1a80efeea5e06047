// Package strength estimates how hard a password is to guess, with zxcvbn.
//
// zxcvbn models how crackers actually work (common passwords, words, names,
// dates, keyboard walks, repeats, l33t) rather than counting character
// classes, so "P@ssw0rd!" scores as badly as it deserves and a long
// passphrase of plain words scores well.
//
// The estimator is internal/zxcvbn, a port of github.com/trustelem/zxcvbn
// that gives the same scores but builds nothing until the first Evaluate:
// trustelem's package initialisation cost every keyhold command some 60 ms
// and 10 MB, password or not. The first Evaluate in a process decodes the
// embedded word lists (tens of milliseconds); later ones reuse them. Neither
// port produces upstream's advice, so this package supplies that
// (feedback.go), following upstream zxcvbn 4.4.2's wording.
package strength

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/keyhold/keyhold/internal/strength/internal/zxcvbn"
)

// MinScore is the lowest score keyhold accepts for an account password
// without an explicit override.
//
// Score 3 means zxcvbn expects an attacker to need at least 10^8 guesses.
// Keyhold's key derivation mixes the password with the device-held 128-bit
// Secret Key, so whoever steals only the server database or a vault file
// cannot guess the password at all; the password has to hold out against
// someone who also has a device or a recovery kit, guessing offline through
// Argon2id. At the 10^4 guesses per second that zxcvbn assumes for a slow
// hash, 10^8 guesses is at least three hours of one machine's work per
// account, which is zxcvbn's own bar for "safely unguessable". Demanding 4
// (10^10) would reject most passwords people can remember and push them to
// write passwords down; the generated six-word passphrase scores 4 anyway.
const MinScore = 3

// MaxRunes is how much of a password is shown to zxcvbn. Its matching grows
// faster than linearly with length, so a huge accidental paste could stall
// the CLI for seconds. Guesses for a longer password are those of its first
// MaxRunes runes, which only underestimates it: 100 random characters are
// far beyond score 4 anyway.
const MaxRunes = 100

// Guess rate of the offline attack reported in CrackTimeOffline: zxcvbn's
// "offline, slow hashing" scenario (bcrypt, scrypt, Argon2 at sane cost).
const offlineGuessesPerSecond = 1e4

// Estimate is zxcvbn's verdict on a password. It holds no part of the
// password: the advice strings are fixed sentences that quote nothing.
type Estimate struct {
	// Score is 0 (too guessable) to 4 (very unguessable); see MinScore.
	Score int
	// Guesses is zxcvbn's estimate of the guesses an attacker needs.
	Guesses float64
	// CrackTimeOffline is how long Guesses takes at 10^4 guesses per second,
	// in words: "less than a second", "3 hours", "centuries".
	CrackTimeOffline string
	// Warning explains the main weakness, or is empty.
	Warning string
	// Suggestions are things to do about it; empty when Score >= 3.
	Suggestions []string
}

// Evaluate estimates the strength of password. userInputs are strings an
// attacker would try first because they are known about the user (email
// address, account id, name, the site's name); passwords containing them
// score lower.
//
// (The function is not called Estimate because the result type is.)
//
// zxcvbn works on Go strings, so the password is copied into one for the
// duration of the call; the copy cannot be wiped, but nothing keeps a
// reference to it afterwards. Invalid UTF-8, which zxcvbn would refuse and
// score 0, is scored with each bad byte replaced by U+FFFD, which can only
// make the estimate more cautious.
func Evaluate(password []byte, userInputs ...string) Estimate {
	pw := truncateRunes(password, MaxRunes)
	if !utf8.Valid(pw) {
		fixed := bytes.ToValidUTF8(pw, []byte("\uFFFD"))
		defer clear(fixed)
		pw = fixed
	}
	r := zxcvbn.PasswordStrength(string(pw), expandInputs(userInputs))
	fb := feedback(r.Score, r.Sequence)
	return Estimate{
		Score:            r.Score,
		Guesses:          r.Guesses,
		CrackTimeOffline: displayTime(r.Guesses / offlineGuessesPerSecond),
		Warning:          fb.warning,
		Suggestions:      fb.suggestions,
	}
}

// expandInputs turns user inputs into the words zxcvbn should penalise.
// zxcvbn only matches each input whole, so "zelda.quarrington@example.org"
// alone would not catch the password "quarrington1987"; we add the local
// part of an email address and every piece of three or more letters or
// digits, lower-cased (zxcvbn lower-cases the password before matching).
func expandInputs(userInputs []string) []string {
	var out []string
	seen := make(map[string]bool)
	add := func(s string) {
		s = strings.ToLower(s)
		if utf8.RuneCountInString(s) >= 3 && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, in := range userInputs {
		add(in)
		if local, _, ok := strings.Cut(in, "@"); ok {
			add(local)
		}
		for _, piece := range strings.FieldsFunc(in, func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsDigit(r)
		}) {
			add(piece)
		}
	}
	return out
}

// truncateRunes returns the prefix of b holding its first n runes (an
// invalid byte counts as one rune).
func truncateRunes(b []byte, n int) []byte {
	i := 0
	for range n {
		if i >= len(b) {
			break
		}
		_, size := utf8.DecodeRune(b[i:])
		i += size
	}
	return b[:i]
}

// scoreLabels name the scores. Everything below MinScore is called weak,
// since keyhold refuses it.
var scoreLabels = [5]string{"very weak", "weak", "weak", "good", "strong"}

// Label names e's score: "very weak", "weak", "good" or "strong".
func (e Estimate) Label() string {
	if e.Score < 0 || e.Score >= len(scoreLabels) {
		return "unknown"
	}
	return scoreLabels[e.Score]
}

// OK reports whether the score reaches MinScore.
func (e Estimate) OK() bool { return e.Score >= MinScore }

// Summary is a one-line verdict for the CLI, such as
// "strength: 2/4 (weak) — about 3 hours to crack offline at 10k guesses/s".
// It never contains the password.
func (e Estimate) Summary() string {
	t := e.CrackTimeOffline
	switch t {
	case "less than a second", "centuries":
	default:
		t = "about " + t
	}
	return fmt.Sprintf("strength: %d/4 (%s) — %s to crack offline at 10k guesses/s", e.Score, e.Label(), t)
}

// displayTime renders a duration in seconds the way zxcvbn does (its Go port
// does not export this): one unit, rounded, months of 31 days.
func displayTime(seconds float64) string {
	const (
		minute  = 60.0
		hour    = 60 * minute
		day     = 24 * hour
		month   = 31 * day
		year    = 12 * month
		century = 100 * year
	)
	count := func(n float64, unit string) string {
		c := int64(n + 0.5)
		if c == 1 {
			return fmt.Sprintf("1 %s", unit)
		}
		return fmt.Sprintf("%d %ss", c, unit)
	}
	switch {
	case seconds < 1:
		return "less than a second"
	case seconds < minute:
		return count(seconds, "second")
	case seconds < hour:
		return count(seconds/minute, "minute")
	case seconds < day:
		return count(seconds/hour, "hour")
	case seconds < month:
		return count(seconds/day, "day")
	case seconds < year:
		return count(seconds/month, "month")
	case seconds < century:
		return count(seconds/year, "year")
	default:
		return "centuries"
	}
}
