package kit

import (
	"errors"
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
		k, err := parseTyped(in)
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
		_, err := parseTyped(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("%q: got %v, want %v", tc.in, err, tc.want)
		}
		if err != nil && strings.Contains(strings.ToUpper(err.Error()), disp[3:12]) {
			t.Errorf("%q: the error shows the Secret Key: %v", tc.in, err)
		}
	}
}
