package strength

import (
	"strings"
	"testing"
)

func TestEvaluateScores(t *testing.T) {
	for _, tc := range []struct {
		password string
		min, max int
		warning  string // substring of the expected warning, or ""
	}{
		{"password", 0, 0, "top-10 common password"},
		{"123456", 0, 0, "top-10 common password"},
		{"qwertyuiop", 0, 0, "top-10"},
		{"aaaaaaaaaaaa", 0, 1, `Repeats like "aaa"`},
		{"P@ssw0rd", 0, 1, "similar to a commonly used password"},
		{"correct horse battery staple", 4, 4, ""},
		{"spinach-anagram-bucket-mossy-dutiful-scorer", 4, 4, ""},
		{`k7#Qm2!vRx9&Lp4@Wz8^`, 4, 4, ""}, // 20 random characters
		{"", 0, 0, ""},
	} {
		t.Run(tc.password, func(t *testing.T) {
			e := Evaluate([]byte(tc.password))
			if e.Score < tc.min || e.Score > tc.max {
				t.Errorf("score %d, want %d..%d", e.Score, tc.min, tc.max)
			}
			if tc.warning != "" && !strings.Contains(e.Warning, tc.warning) {
				t.Errorf("warning %q, want it to mention %q", e.Warning, tc.warning)
			}
			if e.OK() != (e.Score >= MinScore) {
				t.Errorf("OK() = %v with score %d", e.OK(), e.Score)
			}
			if e.Score < MinScore && len(e.Suggestions) == 0 {
				t.Errorf("score %d below MinScore but no suggestions", e.Score)
			}
			if e.Score >= MinScore && (e.Warning != "" || len(e.Suggestions) > 0) {
				t.Errorf("score %d: unexpected advice %q %q", e.Score, e.Warning, e.Suggestions)
			}
		})
	}
}

// TestUserInputs checks that a password built from the user's own details
// scores lower once those details are given, and says why.
func TestUserInputs(t *testing.T) {
	for _, tc := range []struct {
		password string
		inputs   []string
	}{
		{"zelda.quarrington1987", []string{"zelda.quarrington1987@example.org"}},
		{"Kh7w2QpZ9x", []string{"kh7w2qpz9x", "alice@example.org"}},
		{"zquarrington!", []string{"", "zquarrington"}},
	} {
		t.Run(tc.password, func(t *testing.T) {
			without := Evaluate([]byte(tc.password))
			with := Evaluate([]byte(tc.password), tc.inputs...)
			if with.Guesses >= without.Guesses || with.Score > without.Score {
				t.Errorf("with user inputs: score %d, %.3g guesses; without: score %d, %.3g guesses; want fewer",
					with.Score, with.Guesses, without.Score, without.Guesses)
			}
			if with.Score >= MinScore {
				t.Errorf("password made of the user's details scores %d, want below %d", with.Score, MinScore)
			}
			if !strings.Contains(with.Warning, "your own details") {
				t.Errorf("warning %q does not mention the user's details", with.Warning)
			}
		})
	}
}

func TestSummary(t *testing.T) {
	for _, pw := range []string{"qwerty123", "Tr0ub4dor&3", "correct horse battery staple", "hunter2hunter2", "zelda1987"} {
		e := Evaluate([]byte(pw))
		s := e.Summary()
		if strings.Contains(s, pw) {
			t.Errorf("summary %q contains the password", s)
		}
		for _, advice := range append([]string{e.Warning}, e.Suggestions...) {
			if advice != "" && strings.Contains(strings.ToLower(advice), strings.ToLower(pw)) {
				t.Errorf("advice %q contains the password", advice)
			}
		}
		if !strings.HasPrefix(s, "strength: ") || !strings.Contains(s, "/4 (") || strings.Contains(s, "\n") {
			t.Errorf("summary %q is not one line in the expected form", s)
		}
	}

	for _, tc := range []struct {
		e    Estimate
		want string
	}{
		{Estimate{Score: 2, CrackTimeOffline: "3 hours"}, "strength: 2/4 (weak) — about 3 hours to crack offline at 10k guesses/s"},
		{Estimate{Score: 0, CrackTimeOffline: "less than a second"}, "strength: 0/4 (very weak) — less than a second to crack offline at 10k guesses/s"},
		{Estimate{Score: 4, CrackTimeOffline: "centuries"}, "strength: 4/4 (strong) — centuries to crack offline at 10k guesses/s"},
	} {
		if got := tc.e.Summary(); got != tc.want {
			t.Errorf("Summary() = %q, want %q", got, tc.want)
		}
	}
}

func TestCrackTimeOffline(t *testing.T) {
	for _, tc := range []struct {
		guesses float64
		want    string
	}{
		{1, "less than a second"},
		{1e4, "1 second"},
		{3e5, "30 seconds"},
		{1.08e8, "3 hours"},
		{1e10, "12 days"},
		{1e11, "4 months"},
		{1e13, "31 years"},
		{1e20, "centuries"},
	} {
		if got := displayTime(tc.guesses / offlineGuessesPerSecond); got != tc.want {
			t.Errorf("%g guesses: %q, want %q", tc.guesses, got, tc.want)
		}
	}
	if e := Evaluate([]byte("password")); e.CrackTimeOffline != "less than a second" {
		t.Errorf(`"password": crack time %q`, e.CrackTimeOffline)
	}
}

// TestLongInput checks that a huge paste is cut to MaxRunes before zxcvbn
// sees it: the estimate equals that of the first MaxRunes runes.
func TestLongInput(t *testing.T) {
	unit := "ab€d" // 4 runes, 6 bytes: a cut mid-rune would show
	long := strings.Repeat(unit, 50_000)
	head := strings.Repeat(unit, MaxRunes/4)
	got, want := Evaluate([]byte(long)), Evaluate([]byte(head))
	if got.Guesses != want.Guesses || got.Score != want.Score {
		t.Errorf("long input: %v guesses, score %d; first %d runes: %v, %d",
			got.Guesses, got.Score, MaxRunes, want.Guesses, want.Score)
	}
	if n := len(truncateRunes([]byte(long), MaxRunes)); n != len(head) {
		t.Errorf("truncated to %d bytes, want %d", n, len(head))
	}
}

// TestInvalidUTF8 checks that a password of arbitrary bytes is scored on its
// merits rather than as 0, which is what zxcvbn does with invalid UTF-8.
func TestInvalidUTF8(t *testing.T) {
	pw := []byte("\xffk7#Qm2!vRx9&Lp4@Wz8^")
	orig := string(pw)
	if e := Evaluate(pw); e.Score != 4 {
		t.Errorf("random password with a stray byte scores %d, want 4", e.Score)
	}
	if string(pw) != orig {
		t.Errorf("Evaluate modified its input")
	}
}

// BenchmarkEvaluate measures warm calls: the word lists are loaded before
// the clock starts (internal/zxcvbn's BenchmarkLoad measures that load).
func BenchmarkEvaluate(b *testing.B) {
	Evaluate([]byte("warm up"))
	for _, pw := range []string{"correct horse battery staple", strings.Repeat("x9!Lq", 20), strings.Repeat("x9!Lq", 2000)} {
		b.Run(pw[:min(len(pw), 12)]+"…", func(b *testing.B) {
			for b.Loop() {
				Evaluate([]byte(pw), "alice@example.org")
			}
		})
	}
}
