// Package gen generates random passwords and passphrases.
//
// Everything comes from crypto/rand, every choice is uniform (rejection
// sampling, never a biased modulo), and results are returned as []byte so the
// caller can wipe them; this package never turns a generated secret into a Go
// string. The entropy functions report the exact entropy of what the
// generators output, so the number the CLI prints is a fact about the
// distribution, not an estimate of how a cracker would fare (that is
// package strength's job).
package gen

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
)

// Password length limits. Below 8 characters no alphabet gives a password
// worth storing; above 256 the password stops fitting in the fields of some
// sites and apps, and nothing is gained (256 characters of 10 digits is
// already 850 bits).
const (
	MinPasswordLength = 8
	MaxPasswordLength = 256
)

// Character classes. Symbols are the 32 printable ASCII punctuation
// characters; space is left out because it is trimmed or lost when a
// password is pasted.
const (
	upperChars  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	lowerChars  = "abcdefghijklmnopqrstuvwxyz"
	digitChars  = "0123456789"
	symbolChars = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
)

// Ambiguous lists the characters dropped by PasswordSpec.NoAmbiguous, for
// passwords that will be read aloud or typed from a screen or a printout:
// zero and the round letters (0 O o), one and the thin letters and bar
// (1 I l |), and the three quote marks that many fonts draw alike (' " `).
const Ambiguous = "0Oo1Il|'\"`"

// PasswordSpec says what a generated password looks like.
type PasswordSpec struct {
	// Length in bytes (every character is ASCII), MinPasswordLength to
	// MaxPasswordLength.
	Length int
	// Character classes to draw from. At least one must be enabled, and the
	// password contains at least one character of each enabled class, since
	// many sites require that.
	Upper, Lower, Digits, Symbols bool
	// NoAmbiguous drops the characters in Ambiguous.
	NoAmbiguous bool
}

// DefaultPasswordSpec is 24 characters from all 94 printable ASCII
// characters other than space: about 157 bits.
var DefaultPasswordSpec = PasswordSpec{Length: 24, Upper: true, Lower: true, Digits: true, Symbols: true}

// ErrInvalidSpec is wrapped by every error about an unusable PasswordSpec or
// PassphraseSpec, so that the CLI can tell a usage mistake from a failure of
// the random number generator.
var ErrInvalidSpec = errors.New("invalid generator settings")

// alphabet is a PasswordSpec's character set, with each character's class.
type alphabet struct {
	chars   []byte
	class   []uint8 // class[i] is the index in sizes of chars[i]'s class
	sizes   []int   // number of characters of each enabled class
	classes int
}

func (spec PasswordSpec) alphabet() (*alphabet, error) {
	if spec.Length < MinPasswordLength || spec.Length > MaxPasswordLength {
		return nil, fmt.Errorf("%w: password length must be between %d and %d, not %d",
			ErrInvalidSpec, MinPasswordLength, MaxPasswordLength, spec.Length)
	}
	a := new(alphabet)
	for _, c := range []struct {
		on    bool
		chars string
	}{
		{spec.Upper, upperChars},
		{spec.Lower, lowerChars},
		{spec.Digits, digitChars},
		{spec.Symbols, symbolChars},
	} {
		if !c.on {
			continue
		}
		n := 0
		for i := 0; i < len(c.chars); i++ {
			if spec.NoAmbiguous && strings.IndexByte(Ambiguous, c.chars[i]) >= 0 {
				continue
			}
			a.chars = append(a.chars, c.chars[i])
			a.class = append(a.class, uint8(a.classes))
			n++
		}
		a.sizes = append(a.sizes, n)
		a.classes++
	}
	if a.classes == 0 {
		return nil, fmt.Errorf("%w: enable at least one character class (upper, lower, digits, symbols)", ErrInvalidSpec)
	}
	return a, nil
}

// maxAttempts bounds the rejection loop in Password. The worst case allowed
// by the limits (8 characters, all classes, no ambiguous characters) accepts
// about 40% of candidates, so 1000 rejections in a row means the random
// source is broken, not unlucky (odds below 10^-200).
const maxAttempts = 1000

// Password returns a new random password.
//
// Each character is drawn uniformly and independently from the enabled
// classes; candidates that miss an enabled class are thrown away whole and
// drawn again. That makes the result uniform over all passwords of the
// alphabet that contain every class, with no bias towards any position or
// class. (Inserting one character of each class at random positions, as many
// generators do, is not uniform.)
func Password(spec PasswordSpec) ([]byte, error) {
	a, err := spec.alphabet()
	if err != nil {
		return nil, err
	}
	s := newSampler()
	defer s.wipe()
	out := make([]byte, spec.Length)
	for range maxAttempts {
		var seen uint8
		for i := range out {
			k, err := s.intn(len(a.chars))
			if err != nil {
				clear(out)
				return nil, err
			}
			out[i] = a.chars[k]
			seen |= 1 << a.class[k]
		}
		if seen == 1<<a.classes-1 {
			return out, nil
		}
	}
	clear(out)
	return nil, errors.New("the system random number generator looks broken: it failed to produce an acceptable password in 1000 attempts")
}

// PasswordEntropyBits returns the entropy, in bits, of the passwords that
// Password generates for spec: log2 of the number of passwords it can
// produce, since all are equally likely. That number is counted exactly, by
// inclusion–exclusion over the classes that a candidate may lack (for the
// default spec the class guarantee costs about 0.1 bit of the 157.3 that 24
// free characters would have). It returns 0 for an invalid spec.
func PasswordEntropyBits(spec PasswordSpec) float64 {
	a, err := spec.alphabet()
	if err != nil {
		return 0
	}
	// count = Σ over subsets S of classes of (-1)^|S| (N - |S's chars|)^L.
	count := new(big.Int)
	term := new(big.Int)
	for subset := 0; subset < 1<<a.classes; subset++ {
		base, missing := len(a.chars), 0
		for c := range a.classes {
			if subset&(1<<c) != 0 {
				base -= a.sizes[c]
				missing++
			}
		}
		term.Exp(big.NewInt(int64(base)), big.NewInt(int64(spec.Length)), nil)
		if missing%2 == 1 {
			count.Sub(count, term)
		} else {
			count.Add(count, term)
		}
	}
	return log2(count)
}

// log2 returns log2(x) for a positive x of any size (94^256 overflows a
// float64).
func log2(x *big.Int) float64 {
	if x.Sign() <= 0 {
		return 0
	}
	// x = frac × 2^exp with frac in [0.5, 1).
	mant := new(big.Float)
	exp := new(big.Float).SetInt(x).MantExp(mant)
	frac, _ := mant.Float64()
	return float64(exp) + math.Log2(frac)
}
