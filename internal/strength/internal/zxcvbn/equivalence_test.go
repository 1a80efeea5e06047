package zxcvbn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	tz "github.com/trustelem/zxcvbn"
	"github.com/trustelem/zxcvbn/frequency"
	"github.com/trustelem/zxcvbn/match"
)

// userInputs is the set of user details the corpus is also scored with.
var userInputs = []string{"zelda.quarrington@example.org", "zelda", "quarrington", "example", "KH7W2QPZ9X", "Ünïcødé"}

// corpus returns the passwords the equivalence tests compare on: common
// passwords, l33t and capitalised words, dates, keyboard walks, repeats,
// sequences, names with years, passphrases, user details and random
// strings of every length up to 100 runes, ASCII and not. It is
// deterministic.
func corpus() []string {
	rng := rand.New(rand.NewPCG(1, 2))
	seen := make(map[string]bool)
	var out []string
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	pick := func(list []string) string { return list[rng.IntN(len(list))] }
	lists := frequency.FrequencyLists
	passwords, words := lists["passwords"], lists["english_wikipedia"]
	names := append(append(append([]string(nil), lists["female_names"]...), lists["male_names"]...), lists["surnames"]...)

	// The most common passwords, and a sample of the rest.
	for _, p := range passwords[:1000] {
		add(p)
	}
	for i := 1000; i < len(passwords); i += 100 {
		add(passwords[i])
	}

	// Words and names capitalised, reversed, l33t and suffixed.
	l33t := strings.NewReplacer("a", "4", "e", "3", "i", "1", "o", "0", "s", "$", "t", "7", "l", "|", "g", "9", "b", "8", "z", "2")
	l33tAlt := strings.NewReplacer("a", "@", "i", "!", "s", "5", "t", "+", "c", "(", "x", "%", "l", "1", "e", "3")
	suffixes := []string{"", "1", "!", "123", "2019", "1987", "_", "?", "69"}
	for range 500 {
		w := pick(words)
		if rng.IntN(2) == 0 {
			w = pick(names)
		}
		switch rng.IntN(7) {
		case 0:
			w = strings.ToUpper(w[:1]) + w[1:]
		case 1:
			w = strings.ToUpper(w)
		case 2:
			w = reverse(w)
		case 3:
			w = l33t.Replace(w)
		case 4:
			w = l33tAlt.Replace(w)
		case 5:
			w = strings.ToUpper(l33t.Replace(w)[:1]) + l33tAlt.Replace(w)[1:]
		case 6:
			b := []byte(w)
			for i := range b {
				if rng.IntN(3) == 0 && 'a' <= b[i] && b[i] <= 'z' {
					b[i] -= 'a' - 'A'
				}
			}
			w = string(b)
		}
		add(w + pick(suffixes))
	}
	// Passwords with many kinds of substitutes at once.
	for _, w := range []string{"p4$$w0rd", "1l0v3y0u!", "@dm1n1$7r@70r", "<0mpu73r$", "8a$3ba||!", "|3|_|33|", "$7r0n9|>@$$", "7h3q|_|1(k8r0wnf0%"} {
		add(w)
	}

	// Dates in many layouts, alone and inside other text.
	seps := []string{"", "/", "-", ".", "_", " ", "\\", "\t", "\u3000"}
	for range 400 {
		d, m, y := 1+rng.IntN(31), 1+rng.IntN(12), 1900+rng.IntN(151)
		sep := pick(seps)
		var s string
		switch rng.IntN(5) {
		case 0:
			s = fmt.Sprintf("%02d%s%02d%s%04d", d, sep, m, sep, y)
		case 1:
			s = fmt.Sprintf("%04d%s%02d%s%02d", y, sep, m, sep, d)
		case 2:
			s = fmt.Sprintf("%d%s%d%s%02d", m, sep, d, sep, y%100)
		case 3:
			s = fmt.Sprintf("%d%s%d%s%d", d, sep, m, sep, y)
		case 4:
			s = fmt.Sprintf("%s%d%s%d%s%d", pick(names), d, sep, m, sep, y%100)
		}
		if rng.IntN(8) == 0 {
			s += "\n"
		}
		add(s)
	}
	for _, s := range []string{"1234\n", "13061987\n", "1\n2\n3\n", "١٢٣٤1231", "١1231", "12١3", "2015_06_04", "111504", "1/1/1991", "31.12.2049", "0/0/0000"} {
		add(s)
	}

	// Keyboard walks, shifted and not, on all four layouts.
	rows := []string{
		"`1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./",
		"~!@#$%^&*()_+", "QWERTYUIOP{}|", "ASDFGHJKL:\"", "ZXCVBNM<>?",
		"',.pyfgcrl/=", "aoeuidhtns-", ";qjkxbmwvz",
		"789456123", "741852963", "/*-+", "0.",
	}
	for range 300 {
		r := pick(rows)
		i := rng.IntN(len(r))
		j := i + 1 + rng.IntN(len(r)-i)
		s := r[i:j]
		if rng.IntN(3) == 0 {
			r2 := pick(rows)
			s += r2[:1+rng.IntN(len(r2))]
		}
		add(s)
	}
	for _, s := range []string{"1qaz2wsx3edc", "!QAZ@WSX#EDC", "zaq12wsx", "qazwsxedc", "1q2w3e4r5t", "poiuytrewq", "mnbvcxz", "qWeRtY", "asdfjkl;", "147258369", "9632147"} {
		add(s)
	}

	// Repeats, including non-ASCII ones and ones cut by newlines.
	bases := []string{"a", "ab", "abc", "123", "xyz!", "aab", "é", "€x", "日本", "hello", "\n", "a\n", "Zz"}
	for range 300 {
		b := pick(bases)
		if rng.IntN(3) == 0 {
			b = randomString(rng, 1+rng.IntN(4), asciiPrintable)
		}
		s := strings.Repeat(b, 2+rng.IntN(6))
		if rng.IntN(2) == 0 {
			s = randomString(rng, rng.IntN(4), asciiPrintable) + s + randomString(rng, rng.IntN(4), mixed)
		}
		add(s)
	}

	// Sequences, up and down, with steps up to 6.
	alphabets := []string{"abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", "αβγδεζηθικλμ", "!\"#$%&'()*+,-./"}
	for range 300 {
		a := []rune(pick(alphabets))
		step := 1 + rng.IntN(6)
		start := rng.IntN(len(a))
		var b strings.Builder
		for k := start; k < len(a) && b.Len() < 12; k += step {
			b.WriteRune(a[k])
		}
		s := b.String()
		if rng.IntN(2) == 0 {
			s = reverse(s)
		}
		if rng.IntN(3) == 0 {
			s = pick(words) + s
		}
		add(s)
	}

	// Names with years, and passphrases.
	for range 300 {
		y := 1940 + rng.IntN(90)
		switch rng.IntN(4) {
		case 0:
			add(fmt.Sprintf("%s%d", pick(names), y))
		case 1:
			add(fmt.Sprintf("%s%02d", strings.ToUpper(pick(names)[:1])+pick(names), y%100))
		case 2:
			add(fmt.Sprintf("%d%s!", y, pick(names)))
		case 3:
			n := 2 + rng.IntN(5)
			ws := make([]string, n)
			for i := range ws {
				ws[i] = pick(words)
			}
			add(strings.Join(ws, pick([]string{"", " ", "-", ".", "_"})))
		}
	}

	// Built from the user's details.
	for _, s := range []string{"zelda1987", "Zelda.Quarrington", "quarrington!", "adlez", "gnitnirrauq", "kh7w2qpz9x", "example123", "z3ld4", "ünïcødé2020", "zeldazelda", "QUARRINGTON1987",
		"Zelda!2020", "quarrington.zelda", "example.org", "zelda_q_1987", "Quarrington-Zelda", "9x2zq7wh7k", "ZeldaQuarrington1", "Ü1nïcødé"} {
		add(s)
	}

	// Random strings of every length, from several alphabets; fewer of the
	// long ones full of symbols, which take trustelem a second each.
	for n := 1; n <= 100; n++ {
		for _, alphabet := range []string{lowerAlpha, alnum, asciiPrintable, mixed} {
			count := 3
			switch {
			case n <= 30:
			case n <= 40:
				count = 1
			case alphabet == asciiPrintable || alphabet == mixed:
				count = 1 - min(n%20, 1) // lengths 60, 80 and 100
			default:
				count = 1 - n%2 // even lengths
			}
			for range count {
				add(randomString(rng, n, alphabet))
			}
		}
	}
	return out
}

const (
	lowerAlpha     = "abcdefghijklmnopqrstuvwxyz"
	alnum          = lowerAlpha + "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	asciiPrintable = alnum + " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
	// mixed has multi-byte runes, including some that lower-case to ASCII
	// (Kelvin sign, dotted I), Unicode digits and spaces, and newlines.
	mixed = "ab1!éßÉ€日本語😀\u212a\u0130٣\u3000\n\tZ9"
)

func randomString(rng *rand.Rand, n int, alphabet string) string {
	runes := []rune(alphabet)
	var b strings.Builder
	for range n {
		b.WriteRune(runes[rng.IntN(len(runes))])
	}
	return b.String()
}

// sameGuesses reports whether two guess estimates agree to floating-point
// rounding.
func sameGuesses(a, b float64) bool {
	return a == b || math.Abs(a-b) <= 1e-12*math.Max(math.Abs(a), math.Abs(b))
}

// TestEquivalence checks that this port gives exactly trustelem's score,
// and its guesses, for every password of the corpus, with and without user
// inputs.
func TestEquivalence(t *testing.T) {
	passwords := corpus()
	if len(passwords) < 3000 {
		t.Fatalf("corpus has %d passwords, want at least 3000", len(passwords))
	}
	compared, exact := 0, 0
	covered := make(map[string]int)
	for _, inputs := range [][]string{nil, userInputs} {
		for _, pw := range passwords {
			if inputs != nil && utf8.RuneCountInString(pw) > 20 {
				continue // long ones only once: trustelem is slow on them
			}
			got := PasswordStrength(pw, inputs)
			want := tz.PasswordStrength(pw, inputs)
			compared++
			if got.Score != want.Score || !sameGuesses(got.Guesses, want.Guesses) {
				t.Errorf("%q (inputs %q): score %d, %v guesses; trustelem: score %d, %v guesses",
					pw, inputs, got.Score, got.Guesses, want.Score, want.Guesses)
				continue
			}
			if got.Guesses == want.Guesses {
				exact++
			}
			for _, m := range got.Sequence {
				covered[kind(m)]++
			}
		}
	}
	// The corpus must exercise every matcher: each kind of match must be
	// part of some password's cheapest sequence.
	for _, k := range []string{"dictionary", "dictionary/reversed", "dictionary/l33t", "dictionary/user_inputs",
		"spatial", "repeat", "sequence", "regex", "date", "bruteforce"} {
		if covered[k] == 0 {
			t.Errorf("no password in the corpus is scored as %s", k)
		}
	}
	t.Logf("matches in the optimal sequences: %v", covered)
	nonASCII := 0
	for _, pw := range passwords {
		if !isASCII(pw) {
			nonASCII++
		}
	}
	t.Logf("%d estimates compared (%d passwords, %d of them not ASCII; those up to 20 runes also with user inputs); guesses bit-identical in %d",
		compared, len(passwords), nonASCII, exact)
}

func kind(m *match.Match) string {
	switch {
	case m.Pattern != "dictionary":
		return m.Pattern
	case m.Reversed:
		return "dictionary/reversed"
	case m.L33t:
		return "dictionary/l33t"
	case m.DictionaryName == "user_inputs":
		return "dictionary/user_inputs"
	}
	return "dictionary"
}

// FuzzEquivalence compares this port with trustelem on arbitrary strings.
func FuzzEquivalence(f *testing.F) {
	for _, s := range []string{"", "password", "P@ssw0rd", "1234\n", "ééé€€€", "aabaabaab", "1qaz2wsx", "13.06.1987", "4@8(3|7$+%2"} {
		f.Add(s, "")
		f.Add(s, "zelda")
	}
	f.Fuzz(func(t *testing.T, pw, input string) {
		if utf8.RuneCountInString(pw) > 40 {
			t.Skip() // keep each run quick; lengths up to 100 are in the corpus
		}
		var inputs []string
		if input != "" {
			inputs = strings.Split(input, ",")
		}
		got := PasswordStrength(pw, inputs)
		want := tz.PasswordStrength(pw, inputs)
		if got.Score != want.Score || !sameGuesses(got.Guesses, want.Guesses) {
			t.Errorf("%q (inputs %q): score %d, %v guesses; trustelem: score %d, %v guesses",
				pw, inputs, got.Score, got.Guesses, want.Score, want.Guesses)
		}
	})
}
