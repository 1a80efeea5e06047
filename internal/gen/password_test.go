package gen

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

// chiSquareLimit returns a threshold that a chi-square statistic with df
// degrees of freedom exceeds with probability around 10^-15 (8 standard
// deviations, by the Wilson–Hilferty approximation). A uniform generator
// essentially never fails it; a modulo-biased one (some characters 50% more
// likely) exceeds it many times over with the sample sizes used here.
func chiSquareLimit(df int) float64 {
	k := float64(df)
	v := 2 / (9 * k)
	return k * math.Pow(1-v+8*math.Sqrt(v), 3)
}

func chiSquare(counts map[byte]int, chars string) float64 {
	total := 0
	for i := 0; i < len(chars); i++ {
		total += counts[chars[i]]
	}
	want := float64(total) / float64(len(chars))
	x := 0.0
	for i := 0; i < len(chars); i++ {
		d := float64(counts[chars[i]]) - want
		x += d * d / want
	}
	return x
}

func without(chars, drop string) string {
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(drop, r) {
			return -1
		}
		return r
	}, chars)
}

func TestPasswordSpecErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec PasswordSpec
		want string
	}{
		{"too short", PasswordSpec{Length: 7, Lower: true}, "between 8 and 256"},
		{"too long", PasswordSpec{Length: 257, Lower: true}, "between 8 and 256"},
		{"zero", PasswordSpec{Lower: true}, "between 8 and 256"},
		{"no class", PasswordSpec{Length: 20}, "at least one character class"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pw, err := Password(tc.spec)
			if err == nil || pw != nil {
				t.Fatalf("Password(%+v) = %q, %v; want an error", tc.spec, pw, err)
			}
			if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q: want ErrInvalidSpec mentioning %q", err, tc.want)
			}
			if bits := PasswordEntropyBits(tc.spec); bits != 0 {
				t.Errorf("PasswordEntropyBits = %v for an invalid spec, want 0", bits)
			}
		})
	}
}

// TestPasswordUniform draws 256-character passwords, for which the class
// guarantee rejects a candidate with probability below 10^-12, so every
// character of the alphabet must be equally frequent.
func TestPasswordUniform(t *testing.T) {
	all := upperChars + lowerChars + digitChars + symbolChars
	for _, tc := range []struct {
		name  string
		spec  PasswordSpec
		chars string
	}{
		{"all classes", PasswordSpec{Length: 256, Upper: true, Lower: true, Digits: true, Symbols: true}, all},
		{"no ambiguous", PasswordSpec{Length: 256, Upper: true, Lower: true, Digits: true, Symbols: true, NoAmbiguous: true}, without(all, Ambiguous)},
		{"digits", PasswordSpec{Length: 256, Digits: true}, digitChars},
		{"lower and symbols", PasswordSpec{Length: 256, Lower: true, Symbols: true}, lowerChars + symbolChars},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counts := make(map[byte]int)
			for range 200 { // 51,200 characters
				pw, err := Password(tc.spec)
				if err != nil {
					t.Fatal(err)
				}
				if len(pw) != tc.spec.Length {
					t.Fatalf("got %d characters, want %d", len(pw), tc.spec.Length)
				}
				for _, c := range pw {
					if !strings.ContainsRune(tc.chars, rune(c)) {
						t.Fatalf("character %q is not in the alphabet %q", c, tc.chars)
					}
					counts[c]++
				}
			}
			for i := 0; i < len(tc.chars); i++ {
				if counts[tc.chars[i]] == 0 {
					t.Errorf("character %q never appeared", tc.chars[i])
				}
			}
			if x, limit := chiSquare(counts, tc.chars), chiSquareLimit(len(tc.chars)-1); x > limit {
				t.Errorf("chi-square %.1f over %d characters exceeds %.1f: not uniform", x, len(tc.chars), limit)
			}
		})
	}
}

// TestPasswordShortClasses checks 8-character passwords, where more than
// half of the candidates are rejected: every enabled class is present,
// ambiguous characters are absent when asked, and within each class the
// characters stay uniform (rejection favours no character of a class over
// another).
func TestPasswordShortClasses(t *testing.T) {
	for _, noAmb := range []bool{false, true} {
		spec := PasswordSpec{Length: 8, Upper: true, Lower: true, Digits: true, Symbols: true, NoAmbiguous: noAmb}
		classes := []string{upperChars, lowerChars, digitChars, symbolChars}
		if noAmb {
			for i := range classes {
				classes[i] = without(classes[i], Ambiguous)
			}
		}
		counts := make(map[byte]int)
		for range 6000 { // 48,000 characters
			pw, err := Password(spec)
			if err != nil {
				t.Fatal(err)
			}
			for _, class := range classes {
				if !bytes.ContainsAny(pw, class) {
					t.Fatalf("NoAmbiguous=%v: password lacks a character of %q", noAmb, class)
				}
			}
			if noAmb && bytes.ContainsAny(pw, Ambiguous) {
				t.Fatalf("password contains an ambiguous character")
			}
			for _, c := range pw {
				counts[c]++
			}
		}
		for _, class := range classes {
			if x, limit := chiSquare(counts, class), chiSquareLimit(len(class)-1); x > limit {
				t.Errorf("NoAmbiguous=%v: chi-square %.1f within %q exceeds %.1f", noAmb, x, class, limit)
			}
		}
	}
}

func TestPasswordDefault(t *testing.T) {
	pw, err := Password(DefaultPasswordSpec)
	if err != nil {
		t.Fatal(err)
	}
	if len(pw) != 24 {
		t.Errorf("default password has %d characters, want 24", len(pw))
	}
	other, err := Password(DefaultPasswordSpec)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(pw, other) {
		t.Error("two default passwords are equal")
	}
}

func TestPasswordEntropyBits(t *testing.T) {
	lg := math.Log2
	for _, tc := range []struct {
		name string
		spec PasswordSpec
		want float64
	}{
		// One class: nothing is ever rejected.
		{"10 digits", PasswordSpec{Length: 10, Digits: true}, 10 * lg(10)},
		{"8 lower", PasswordSpec{Length: 8, Lower: true}, 8 * lg(26)},
		{"8 lower no ambiguous", PasswordSpec{Length: 8, Lower: true, NoAmbiguous: true}, 8 * lg(24)},
		// Two classes: all strings minus those of only one class.
		{"8 upper+digits", PasswordSpec{Length: 8, Upper: true, Digits: true},
			lg(math.Pow(36, 8) - math.Pow(26, 8) - math.Pow(10, 8))},
		// Default: 24·log2(94) = 157.31 minus about 0.1 for the guarantee.
		{"default", DefaultPasswordSpec, 157.21},
		{"256 of 94", PasswordSpec{Length: 256, Upper: true, Lower: true, Digits: true, Symbols: true}, 256 * lg(94)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := PasswordEntropyBits(tc.spec); math.Abs(got-tc.want) > 0.01 {
				t.Errorf("PasswordEntropyBits = %.4f, want %.4f", got, tc.want)
			}
		})
	}
	// The class guarantee can only cost entropy, never add it.
	d := DefaultPasswordSpec
	if got, free := PasswordEntropyBits(d), 24*lg(94); got >= free || got < free-0.2 {
		t.Errorf("default: %.3f bits, want a little below %.3f", got, free)
	}
}

func BenchmarkPasswordDefault(b *testing.B) {
	for b.Loop() {
		if _, err := Password(DefaultPasswordSpec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPasswordShortAllClasses(b *testing.B) {
	spec := PasswordSpec{Length: 8, Upper: true, Lower: true, Digits: true, Symbols: true, NoAmbiguous: true}
	for b.Loop() {
		if _, err := Password(spec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPasswordEntropyBits(b *testing.B) {
	spec := PasswordSpec{Length: 256, Upper: true, Lower: true, Digits: true, Symbols: true}
	for b.Loop() {
		PasswordEntropyBits(spec)
	}
}
