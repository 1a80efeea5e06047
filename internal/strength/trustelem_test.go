package strength

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	tz "github.com/trustelem/zxcvbn"
)

// TestSameAsTrustelem checks that Evaluate scores as it did when it called
// github.com/trustelem/zxcvbn directly (internal/zxcvbn compares the two
// estimators at length; this checks how Evaluate feeds its port: the cut
// at MaxRunes, the repair of invalid UTF-8, the expanded user inputs).
func TestSameAsTrustelem(t *testing.T) {
	inputs := []string{"zelda.quarrington@example.org", "Kh7w2QpZ9x"}
	for _, pw := range []string{
		"password", "P@ssw0rd", "correct horse battery staple", "zelda.quarrington1987",
		"quarrington!", "Kh7w2QpZ9x", "gnitnirrauq", "13.06.1987", "1qaz2wsx", "aaaaaaaaaaaa",
		"\xffk7#Qm2!vRx9&Lp4@Wz8^", "ab\xc3", strings.Repeat("ab€d", 40), strings.Repeat("x9!Lq", 30),
		"", "1234\n", "ééé€€€",
	} {
		want := trustelemEstimate([]byte(pw), inputs)
		got := Evaluate([]byte(pw), inputs...)
		if got.Score != want.Score || got.Guesses != want.Guesses {
			t.Errorf("%q: score %d, %v guesses; trustelem: score %d, %v guesses", pw, got.Score, got.Guesses, want.Score, want.Guesses)
		}
	}
}

// trustelemEstimate is what Evaluate computed with trustelem's package.
func trustelemEstimate(password []byte, userInputs []string) tz.Result {
	pw := truncateRunes(password, MaxRunes)
	if !utf8.Valid(pw) {
		pw = bytes.ToValidUTF8(pw, []byte("\uFFFD"))
	}
	return tz.PasswordStrength(string(pw), expandInputs(userInputs))
}
