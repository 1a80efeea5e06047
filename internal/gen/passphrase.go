package gen

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/sethvargo/go-diceware/diceware"
)

// Passphrase length limits, in words. Four EFF words (51.7 bits) is the
// least that still resists an offline attack on a slow hash; twenty (258
// bits) is more than any key the passphrase could protect.
const (
	MinPassphraseWords = 4
	MaxPassphraseWords = 20
)

// maxSeparatorLen bounds PassphraseSpec.Separator, in bytes.
const maxSeparatorLen = 16

// PassphraseSpec says what a generated passphrase looks like.
type PassphraseSpec struct {
	// Words is the number of words, MinPassphraseWords to MaxPassphraseWords.
	Words int
	// Separator goes between words. It may not contain letters, digits or
	// control characters, so that the words (and the digit) can always be
	// told apart; that is what makes PassphraseEntropyBits exact. It may be
	// empty only together with Capitalize, whose capitals then mark where
	// each word starts.
	Separator string
	// Capitalize upper-cases the first letter of every word. It adds no
	// entropy; it is for sites that insist on an upper-case letter.
	Capitalize bool
	// Digit appends one random digit to one randomly chosen word, for sites
	// that insist on a digit. It adds log2(10 × Words) bits.
	Digit bool
}

// DefaultPassphraseSpec is six words joined by "-": about 77.5 bits.
var DefaultPassphraseSpec = PassphraseSpec{Words: 6, Separator: "-"}

// effLarge is the EFF large word list (7776 words, one per roll of five dice),
// in dice order. We take the words from go-diceware but do the picking
// ourselves: its generator refuses to repeat a word within a passphrase,
// which makes the distribution non-uniform and its entropy awkward to state.
// Ours picks each word independently and uniformly.
var effLarge = sync.OnceValue(func() []string {
	list := diceware.WordListEffLarge()
	words := make([]string, 0, 7776)
	for roll := range 7776 {
		// Write roll in base 6 as five dice, 1 to 6 each: 0 -> 11111.
		key := 0
		for d := 4; d >= 0; d-- {
			key = key*10 + (roll/pow6[d])%6 + 1
		}
		words = append(words, list.WordAt(key))
	}
	return words
})

var pow6 = [5]int{1, 6, 36, 216, 1296}

func (spec PassphraseSpec) validate() error {
	if spec.Words < MinPassphraseWords || spec.Words > MaxPassphraseWords {
		return fmt.Errorf("%w: a passphrase must have between %d and %d words, not %d",
			ErrInvalidSpec, MinPassphraseWords, MaxPassphraseWords, spec.Words)
	}
	if len(spec.Separator) > maxSeparatorLen {
		return fmt.Errorf("%w: the word separator may be at most %d bytes long", ErrInvalidSpec, maxSeparatorLen)
	}
	if !utf8.ValidString(spec.Separator) {
		return fmt.Errorf("%w: the word separator is not valid UTF-8", ErrInvalidSpec)
	}
	for _, r := range spec.Separator {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsControl(r) {
			return fmt.Errorf("%w: the word separator %q may not contain letters, digits or control characters", ErrInvalidSpec, spec.Separator)
		}
	}
	if spec.Separator == "" && !spec.Capitalize {
		return fmt.Errorf("%w: with no word separator, capitalize the words so they can be told apart", ErrInvalidSpec)
	}
	return nil
}

// Passphrase returns a new random passphrase of words from the EFF large
// word list, each chosen independently and uniformly with crypto/rand.
func Passphrase(spec PassphraseSpec) ([]byte, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	words := effLarge()
	s := newSampler()
	defer s.wipe()

	digitAfter, digit := -1, 0
	if spec.Digit {
		var err error
		if digitAfter, err = s.intn(spec.Words); err != nil {
			return nil, err
		}
		if digit, err = s.intn(10); err != nil {
			return nil, err
		}
	}

	// Size the buffer up front so append never reallocates and leaves a
	// stray copy of a partial passphrase behind. EFF words are at most 9
	// letters long.
	out := make([]byte, 0, spec.Words*(9+len(spec.Separator))+1)
	for i := range spec.Words {
		k, err := s.intn(len(words))
		if err != nil {
			clear(out[:cap(out)])
			return nil, err
		}
		if i > 0 {
			out = append(out, spec.Separator...)
		}
		start := len(out)
		out = append(out, words[k]...)
		if spec.Capitalize {
			out[start] -= 'a' - 'A' // EFF words are lower-case ASCII
		}
		if i == digitAfter {
			out = append(out, byte('0'+digit))
		}
	}
	return out, nil
}

// PassphraseEntropyBits returns the entropy, in bits, of the passphrases
// that Passphrase generates for spec: Words × log2(7776), plus log2(10 ×
// Words) for the digit. It is exact because every choice is uniform and
// independent, and the separator rules make distinct choices give distinct
// passphrases. It returns 0 for an invalid spec.
func PassphraseEntropyBits(spec PassphraseSpec) float64 {
	if spec.validate() != nil {
		return 0
	}
	bits := float64(spec.Words) * math.Log2(float64(len(effLarge())))
	if spec.Digit {
		bits += math.Log2(10 * float64(spec.Words))
	}
	return bits
}

// FormatBits renders an entropy for people: "~157 bits".
func FormatBits(bits float64) string {
	return "~" + strconv.Itoa(int(math.Floor(bits))) + " bits"
}
