package strength

import (
	"errors"
	"strings"
	"testing"
)

func TestAcceptNewPassword(t *testing.T) {
	for _, tc := range []struct {
		pw     string
		inputs []string
		ok     bool
	}{
		{"correct horse battery staple 7", nil, true},
		{"hunter2", nil, false},
		{"P@ssw0rd!", nil, false},
		{"a brand new passphrase for the account 9", nil, true},
		// A password built from the user's own email is weak.
		{"zoe.kestrel@example.org", []string{"zoe.kestrel@example.org"}, false},
	} {
		err := AcceptNewPassword([]byte(tc.pw), tc.inputs...)
		if (err == nil) != tc.ok {
			t.Errorf("%q: got %v, want ok=%v", tc.pw, err, tc.ok)
			continue
		}
		if err == nil {
			continue
		}
		var we *WeakPasswordError
		if !errors.As(err, &we) {
			t.Fatalf("%q: error %T is not a *WeakPasswordError", tc.pw, err)
		}
		if we.Estimate.Score >= MinScore {
			t.Errorf("%q: refused with score %d", tc.pw, we.Estimate.Score)
		}
		if strings.Contains(err.Error(), tc.pw) {
			t.Errorf("%q: the error repeats the password: %v", tc.pw, err)
		}
	}
}
