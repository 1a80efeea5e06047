package kittext

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/keyhold/keyhold/internal/keys"
)

// findAccountID returns where the first account id as the kit prints it
// is in s: a UUID in its usual hyphenated form, in either case (the
// regular expression (?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}),
// or -1. It is written out rather than a regexp so that a client reading
// only typed codes (the web vault) does not link package regexp.
func findAccountID(s string) int {
	const shape = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
	for i := 0; i+len(shape) <= len(s); i++ {
		ok := true
		for j := 0; j < len(shape) && ok; j++ {
			c := s[i+j]
			if shape[j] == '-' {
				ok = c == '-'
			} else {
				ok = '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
			}
		}
		if ok {
			return i
		}
	}
	return -1
}

// findSecretKeyStart returns where a Secret Key's "K1" prefix begins (in
// either case): at the start of the text or after a character that is
// not an ASCII letter or digit, so that it is not the end of a word such
// as a label (the regular expression (?i)(?:^|[^0-9a-z])(k1)); or -1.
func findSecretKeyStart(s string) int {
	for j := 0; j+2 <= len(s); j++ {
		if s[j] != 'k' && s[j] != 'K' || s[j+1] != '1' {
			continue
		}
		if j == 0 {
			return 0
		}
		r, _ := utf8.DecodeLastRuneInString(s[:j])
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
			return j
		}
	}
	return -1
}

// ErrNoSecretKey means the text holds an account id but no Secret Key.
var ErrNoSecretKey = errors.New("found the account id but no Secret Key (it starts with K1-, in the box below the account id)")

// ParsePrinted reads the other thing a person can copy from the printed
// kit besides the setup code: the account id and the Secret Key as shown
// in their boxes, in any order, on one line or two, with or without their
// labels ("Account ID:", "Secret Key:"), hyphens, spaces or upper case.
// The Secret Key's own check characters catch typos.
//
// Such a kit names no sync location: the caller must be told where the
// vault lives (a server or a folder). Errors wrap ErrNotKit (no account
// id), ErrNoSecretKey, keys.ErrSecretKeyFormat or
// keys.ErrSecretKeyChecksum, and never contain the Secret Key.
func ParsePrinted(s string) (Kit, error) {
	at := findAccountID(s)
	if at < 0 {
		return Kit{}, ErrNotKit
	}
	loc := [2]int{at, at + 36}
	id, err := keys.ParseAccountID(s[loc[0]:loc[1]])
	if err != nil {
		return Kit{}, ErrNotKit
	}
	// The Secret Key runs from its "K1" to the end of its line; the
	// account id is cut out first, in case both share a line.
	rest := s[:loc[0]] + "\n" + s[loc[1]:]
	ks := findSecretKeyStart(rest)
	if ks < 0 {
		return Kit{}, ErrNoSecretKey
	}
	line := rest[ks:]
	if i := strings.IndexAny(line, "\r\n"); i >= 0 {
		line = line[:i]
	}
	sk, err := keys.ParseSecretKey(line)
	if err != nil {
		return Kit{}, fmt.Errorf("the Secret Key next to the account id: %w", err)
	}
	defer sk.Wipe()
	k := Kit{AccountID: id}
	copy(k.SecretKey[:], sk[:])
	return k, nil
}

// ParseTyped reads what a person typed or pasted: the setup code, else
// the account id and the Secret Key (ParsePrinted). An error about the
// setup code is kept when the text has no account id either.
func ParseTyped(s string) (Kit, error) {
	k, err := Parse(s)
	if err == nil || !errors.Is(err, ErrNotKit) {
		return k, err
	}
	k, perr := ParsePrinted(s)
	if perr == nil {
		return k, nil
	}
	if errors.Is(perr, ErrNotKit) {
		return Kit{}, fmt.Errorf("%w; give the setup code (KH1-…), or the account id and the Secret Key (K1-…) as printed on the kit", err)
	}
	return Kit{}, perr
}
