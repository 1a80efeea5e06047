package gen

import (
	"bytes"
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"
)

func wordSet(t testing.TB) map[string]bool {
	t.Helper()
	set := make(map[string]bool)
	for _, w := range effLarge() {
		set[w] = true
	}
	return set
}

// TestWordList checks the properties the entropy claim rests on: 7776
// distinct lower-case words, and hyphenated words that cannot be confused
// with two words joined by a "-" separator.
func TestWordList(t *testing.T) {
	words := effLarge()
	set := wordSet(t)
	if len(words) != 7776 || len(set) != 7776 {
		t.Fatalf("word list has %d words, %d distinct; want 7776", len(words), len(set))
	}
	if words[0] != "abacus" || words[7775] != "zoom" {
		t.Errorf("word list in wrong order: first %q, last %q", words[0], words[7775])
	}
	shape := regexp.MustCompile(`^[a-z]+(-[a-z]+)?$`)
	for _, w := range words {
		if !shape.MatchString(w) {
			t.Errorf("word %q is not lower-case letters with at most one inner hyphen", w)
		}
		if len(w) > 9 {
			t.Errorf("word %q is longer than the 9 letters Passphrase sizes its buffer for", w)
		}
		// "drop-down" must not also read as "drop" + "-" + "down".
		if head, _, ok := strings.Cut(w, "-"); ok && set[head] {
			t.Errorf("hyphenated word %q starts with the word %q", w, head)
		}
	}
}

func TestPassphrase(t *testing.T) {
	set := wordSet(t)
	for _, tc := range []struct {
		name string
		spec PassphraseSpec
	}{
		{"default", DefaultPassphraseSpec},
		{"space", PassphraseSpec{Words: 4, Separator: " "}},
		{"capitalized no separator", PassphraseSpec{Words: 20, Capitalize: true}},
		{"digit", PassphraseSpec{Words: 5, Separator: ".", Digit: true}},
		{"all options", PassphraseSpec{Words: 7, Separator: "·", Capitalize: true, Digit: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 200 {
				pp, err := Passphrase(tc.spec)
				if err != nil {
					t.Fatal(err)
				}
				words := splitPassphrase(pp, tc.spec, set)
				if len(words) != tc.spec.Words {
					t.Fatalf("%q has %d words, want %d", pp, len(words), tc.spec.Words)
				}
				digits := 0
				for _, w := range words {
					if tc.spec.Capitalize {
						if w[0] < 'A' || w[0] > 'Z' {
							t.Fatalf("%q: word %q is not capitalized", pp, w)
						}
						w = strings.ToLower(w[:1]) + w[1:]
					}
					if n := len(w); n > 0 && w[n-1] >= '0' && w[n-1] <= '9' {
						digits++
						w = w[:n-1]
					}
					if !set[w] {
						t.Fatalf("%q: %q is not in the EFF large word list", pp, w)
					}
				}
				if want := map[bool]int{false: 0, true: 1}[tc.spec.Digit]; digits != want {
					t.Fatalf("%q has %d digits, want %d", pp, digits, want)
				}
			}
		})
	}
}

// splitPassphrase splits pp into words by the separator, or before each
// capital when there is none. With a "-" separator, a piece that is not a
// word is joined to the next ("drop" + "down" is "drop-down").
func splitPassphrase(pp []byte, spec PassphraseSpec, set map[string]bool) []string {
	s := string(pp)
	if spec.Separator != "" {
		var words []string
		pieces := strings.Split(s, spec.Separator)
		for i := 0; i < len(pieces); i++ {
			if head := strings.ToLower(pieces[i]); !set[head] && i+1 < len(pieces) &&
				set[strings.TrimRight(head+"-"+pieces[i+1], "0123456789")] {
				words = append(words, pieces[i]+"-"+pieces[i+1])
				i++
				continue
			}
			words = append(words, pieces[i])
		}
		return words
	}
	var words []string
	start := 0
	for i := 1; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			words = append(words, s[start:i])
			start = i
		}
	}
	return append(words, s[start:])
}

// TestPassphraseUniform checks that word choice is uniform: 120,000 words
// fall evenly into 36 buckets of 216 consecutive words (by their first two
// dice), enough to catch a 16-bit modulo bias (3328 words 12.5% likelier
// than the rest); and the digit's value and position are uniform.
func TestPassphraseUniform(t *testing.T) {
	index := make(map[string]int)
	for i, w := range effLarge() {
		index[w] = i
	}
	buckets := make(map[byte]int)
	digitVals := make(map[byte]int)
	digitPos := make(map[byte]int)
	spec := PassphraseSpec{Words: 6, Separator: " ", Digit: true}
	for range 20000 {
		pp, err := Passphrase(spec)
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range strings.Split(string(pp), " ") {
			if c := w[len(w)-1]; c >= '0' && c <= '9' {
				digitVals[c]++
				digitPos[byte('0'+i)]++
				w = w[:len(w)-1]
			}
			buckets[byte(index[w]/216)]++
		}
	}
	bucketNames := make([]byte, 36)
	for i := range bucketNames {
		bucketNames[i] = byte(i)
	}
	for _, tc := range []struct {
		name   string
		counts map[byte]int
		keys   string
	}{
		{"word buckets", buckets, string(bucketNames)},
		{"digit values", digitVals, digitChars},
		{"digit positions", digitPos, "012345"},
	} {
		if x, limit := chiSquare(tc.counts, tc.keys), chiSquareLimit(len(tc.keys)-1); x > limit {
			t.Errorf("%s: chi-square %.1f exceeds %.1f: not uniform", tc.name, x, limit)
		}
	}
}

func TestPassphraseSpecErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec PassphraseSpec
		want string
	}{
		{"too few words", PassphraseSpec{Words: 3, Separator: "-"}, "between 4 and 20 words"},
		{"too many words", PassphraseSpec{Words: 21, Separator: "-"}, "between 4 and 20 words"},
		{"letter separator", PassphraseSpec{Words: 6, Separator: "x"}, "may not contain letters"},
		{"digit separator", PassphraseSpec{Words: 6, Separator: "-1-"}, "may not contain letters"},
		{"newline separator", PassphraseSpec{Words: 6, Separator: "\n"}, "control characters"},
		{"long separator", PassphraseSpec{Words: 6, Separator: strings.Repeat("-", 17)}, "at most 16 bytes"},
		{"bad utf-8", PassphraseSpec{Words: 6, Separator: "\xff"}, "not valid UTF-8"},
		{"empty separator", PassphraseSpec{Words: 6}, "capitalize"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pp, err := Passphrase(tc.spec)
			if err == nil || pp != nil {
				t.Fatalf("Passphrase(%+v) = %q, %v; want an error", tc.spec, pp, err)
			}
			if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q: want ErrInvalidSpec mentioning %q", err, tc.want)
			}
			if bits := PassphraseEntropyBits(tc.spec); bits != 0 {
				t.Errorf("PassphraseEntropyBits = %v for an invalid spec, want 0", bits)
			}
		})
	}
}

func TestPassphraseEntropyBits(t *testing.T) {
	perWord := math.Log2(7776) // 12.925
	for _, tc := range []struct {
		spec PassphraseSpec
		want float64
	}{
		{DefaultPassphraseSpec, 77.55},
		{PassphraseSpec{Words: 4, Separator: " "}, 4 * perWord},
		{PassphraseSpec{Words: 6, Separator: "-", Capitalize: true}, 6 * perWord},
		{PassphraseSpec{Words: 6, Separator: "-", Digit: true}, 6*perWord + math.Log2(60)},
	} {
		if got := PassphraseEntropyBits(tc.spec); math.Abs(got-tc.want) > 0.01 {
			t.Errorf("PassphraseEntropyBits(%+v) = %.3f, want %.3f", tc.spec, got, tc.want)
		}
	}
}

func TestFormatBits(t *testing.T) {
	for bits, want := range map[float64]string{157.21: "~157 bits", 77.55: "~77 bits", 0: "~0 bits"} {
		if got := FormatBits(bits); got != want {
			t.Errorf("FormatBits(%v) = %q, want %q", bits, got, want)
		}
	}
}

func TestPassphraseDistinct(t *testing.T) {
	a, err := Passphrase(DefaultPassphraseSpec)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Passphrase(DefaultPassphraseSpec)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) {
		t.Errorf("two default passphrases are equal")
	}
}

func BenchmarkPassphraseDefault(b *testing.B) {
	effLarge() // build the list outside the timed loop
	for b.Loop() {
		if _, err := Passphrase(DefaultPassphraseSpec); err != nil {
			b.Fatal(err)
		}
	}
}
