// Ported from zxcvbn 4.4.2 (https://github.com/dropbox/zxcvbn), feedback.coffee,
// Copyright (c) 2012-2016 Dan Wheeler and Dropbox, Inc., MIT licence.
// See THIRD_PARTY.md at the repository root.

package strength

import (
	"math"
	"strings"

	"github.com/trustelem/zxcvbn/match"
)

// This file ports feedback.coffee from zxcvbn 4.4.2 (the Go port leaves it
// out), with one addition: a warning when the password contains the user's
// own details, which upstream passes over in silence. The messages never
// quote the password or any part of it.

type advice struct {
	warning     string
	suggestions []string
}

const (
	tipDefaultWords  = "Use a few words, avoid common phrases."
	tipDefaultNoNeed = "No need for symbols, digits, or uppercase letters."
	tipAddWord       = "Add another word or two. Uncommon words are better."
)

// startsUpper reports whether word is a capital followed by no other: the
// upstream expression ^[A-Z][^A-Z]+$, written out so that nothing is
// compiled at program start.
func startsUpper(word string) bool {
	return len(word) >= 2 && 'A' <= word[0] && word[0] <= 'Z' &&
		!strings.ContainsFunc(word[1:], func(r rune) bool { return 'A' <= r && r <= 'Z' })
}

// allUpper reports whether word has no lower-case ASCII letter: the
// upstream expression ^[^a-z]+$.
func allUpper(word string) bool {
	return word != "" && !strings.ContainsFunc(word, func(r rune) bool { return 'a' <= r && r <= 'z' })
}

func feedback(score int, seq []*match.Match) advice {
	if len(seq) == 0 {
		return advice{suggestions: []string{tipDefaultWords, tipDefaultNoNeed}}
	}
	if score >= MinScore {
		return advice{}
	}
	longest := seq[0]
	for _, m := range seq[1:] {
		if len(m.Token) > len(longest.Token) {
			longest = m
		}
	}
	a := matchAdvice(longest, len(seq) == 1)
	a.suggestions = append([]string{tipAddWord}, a.suggestions...)
	return a
}

func matchAdvice(m *match.Match, sole bool) advice {
	switch m.Pattern {
	case "dictionary":
		return dictionaryAdvice(m, sole)
	case "spatial":
		w := "Short keyboard patterns are easy to guess."
		if m.Turns == 1 {
			w = "Straight rows of keys are easy to guess."
		}
		return advice{w, []string{"Use a longer keyboard pattern with more turns."}}
	case "repeat":
		w := `Repeats like "abcabcabc" are only slightly harder to guess than "abc".`
		if len([]rune(m.BaseToken)) == 1 {
			w = `Repeats like "aaa" are easy to guess.`
		}
		return advice{w, []string{"Avoid repeated words and characters."}}
	case "sequence":
		return advice{"Sequences like abc or 6543 are easy to guess.", []string{"Avoid sequences."}}
	case "regex":
		if m.RegexName == "recent_year" {
			return advice{"Recent years are easy to guess.",
				[]string{"Avoid recent years.", "Avoid years that are associated with you."}}
		}
	case "date":
		return advice{"Dates are often easy to guess.",
			[]string{"Avoid dates and years that are associated with you."}}
	}
	return advice{}
}

func dictionaryAdvice(m *match.Match, sole bool) advice {
	var a advice
	switch m.DictionaryName {
	case "passwords":
		switch {
		case sole && !m.L33t && !m.Reversed && m.Rank <= 10:
			a.warning = "This is a top-10 common password."
		case sole && !m.L33t && !m.Reversed && m.Rank <= 100:
			a.warning = "This is a top-100 common password."
		case sole && !m.L33t && !m.Reversed:
			a.warning = "This is a very common password."
		case math.Log10(m.Guesses) <= 4:
			a.warning = "This is similar to a commonly used password."
		}
	case "english_wikipedia":
		if sole {
			a.warning = "A word by itself is easy to guess."
		}
	case "surnames", "male_names", "female_names":
		if sole {
			a.warning = "Names and surnames by themselves are easy to guess."
		} else {
			a.warning = "Common names and surnames are easy to guess."
		}
	case "user_inputs":
		a.warning = "This contains your own details (such as your email address or account id)."
		a.suggestions = append(a.suggestions, "Avoid your email address, name and account id.")
	}
	switch word := m.Token; {
	case startsUpper(word):
		a.suggestions = append(a.suggestions, "Capitalization doesn't help very much.")
	case allUpper(word) && strings.ToLower(word) != word:
		a.suggestions = append(a.suggestions, "All-uppercase is almost as easy to guess as all-lowercase.")
	}
	if m.Reversed && len([]rune(m.Token)) >= 4 {
		a.suggestions = append(a.suggestions, "Reversed words aren't much harder to guess.")
	}
	if m.L33t {
		a.suggestions = append(a.suggestions, "Predictable substitutions like '@' instead of 'a' don't help very much.")
	}
	return a
}
