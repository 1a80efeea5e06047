package kittext

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/keyhold/keyhold/internal/keys"
)

// TestParsePrinted reads the account id and Secret Key the ways a person
// copies them from the printed kit.
func TestParsePrinted(t *testing.T) {
	var sk keys.SecretKey
	for i := range sk {
		sk[i] = byte(7*i + 3)
	}
	id := keys.AccountID{0x6f, 0x1c, 0x2a, 0x9e, 0x3b, 0x7d, 0x4e, 0x08, 0xa5, 0xc3, 0xf2, 0xd1, 0xe0, 0xb9, 0xa8, 0x76}
	disp := sk.Display()
	nodash := strings.ReplaceAll(disp, "-", "")
	spaced := strings.ReplaceAll(disp, "-", " ")
	for _, in := range []string{
		id.String() + "\n" + disp + "\n",
		"Account ID:  " + id.String() + "\nSecret Key:  " + disp,
		strings.ToUpper(id.String()) + " " + strings.ToLower(nodash),
		disp + "\r\n" + id.String(),
		"account id " + id.String() + "\nsecret key " + spaced,
	} {
		k, err := ParseTyped(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if k.AccountID != id || k.SecretKey != [16]byte(sk) || k.SyncLocation != "" {
			t.Errorf("%q: got %s, want the account id and Secret Key", in, k)
		}
	}

	typo := []byte(disp)
	if typo[5] == 'A' {
		typo[5] = 'B'
	} else {
		typo[5] = 'A'
	}
	for _, tc := range []struct {
		in   string
		want error
	}{
		{id.String(), ErrNoSecretKey},
		{id.String() + "\n" + string(typo), keys.ErrSecretKeyChecksum},
		{id.String() + "\n" + disp[:len(disp)-5], keys.ErrSecretKeyFormat},
		{disp, ErrNotKit},
		{"hello", ErrNotKit},
	} {
		_, err := ParseTyped(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("%q: got %v, want %v", tc.in, err, tc.want)
		}
		if err != nil && strings.Contains(strings.ToUpper(err.Error()), disp[3:12]) {
			t.Errorf("%q: the error shows the Secret Key: %v", tc.in, err)
		}
	}
}

// FuzzParsePrinted checks that reading an account id and Secret Key never
// panics, that an error never carries a kit, and that whatever is
// accepted reads back the same from the printed form.
func FuzzParsePrinted(f *testing.F) {
	var sk keys.SecretKey
	for i := range sk {
		sk[i] = byte(11*i + 5)
	}
	id := "0190a3c4-d5e6-7f81-a2b3-c4d5e6f70819"
	f.Add(id + "\n" + sk.Display())
	f.Add("Account ID:  " + id + "\nSecret Key:  " + strings.ToLower(sk.Display()))
	f.Add(sk.Display() + " " + strings.ToUpper(id))
	f.Add(id + " K1-")
	f.Add(id + "\nk1" + strings.Repeat("Z", 40))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParsePrinted(s)
		if err != nil {
			if k != (Kit{}) {
				t.Fatalf("ParsePrinted returned a kit with an error")
			}
			return
		}
		if k.SyncLocation != "" {
			t.Fatalf("a printed account id and Secret Key named a sync location")
		}
		sk := keys.SecretKey(k.SecretKey)
		again, err := ParsePrinted(k.accountString() + "\n" + sk.Display())
		if err != nil || again != k {
			t.Fatalf("the printed form of %s reads back as %s, %v", k, again, err)
		}
	})
}

// The regular expressions ParsePrinted's finders are written out from.
var (
	accountIDPattern = regexp.MustCompile(`(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	secretKeyStart   = regexp.MustCompile(`(?i)(?:^|[^0-9a-z])(k1)`)
)

// FuzzFindersMatchRegexps: the written-out finders find exactly what the
// regular expressions find.
func FuzzFindersMatchRegexps(f *testing.F) {
	for _, s := range []string{"", "Account ID: 0195f3c2-7a1b-7c3d-8e4f-a1b2c3d4e5f6\nSecret Key: K1-ABCDEF",
		"xk1 k1", "K1", "é K1-", "\xffk1", "0195F3C2-7A1B-7C3D-8E4F-A1B2C3D4E5F6", "abk1 -k1", "0195f3c2-7a1b-7c3d-8e4f-a1b2c3d4e5f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := -1
		if loc := accountIDPattern.FindStringIndex(s); loc != nil {
			want = loc[0]
		}
		if got := findAccountID(s); got != want {
			t.Fatalf("findAccountID(%q) = %d, the regexp %d", s, got, want)
		}
		want = -1
		if m := secretKeyStart.FindStringSubmatchIndex(s); m != nil {
			want = m[2]
		}
		if got := findSecretKeyStart(s); got != want {
			t.Fatalf("findSecretKeyStart(%q) = %d, the regexp %d", s, got, want)
		}
	})
}
