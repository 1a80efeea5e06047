package webcore

import (
	"fmt"

	"github.com/keyhold/keyhold/internal/gen"
	"github.com/keyhold/keyhold/internal/health"
	"github.com/keyhold/keyhold/internal/strength"
)

// GenerateRequest is what the page's generator asks for.
type GenerateRequest struct {
	Kind        string  `json:"kind"` // "password" (default) or "passphrase"
	Length      int     `json:"length"`
	Words       int     `json:"words"`
	Symbols     *bool   `json:"symbols"`
	Digits      *bool   `json:"digits"`
	Upper       *bool   `json:"upper"`
	Lower       *bool   `json:"lower"`
	NoAmbiguous bool    `json:"noAmbiguous"`
	Separator   *string `json:"separator"`
	Capitalize  bool    `json:"capitalize"`
	Digit       bool    `json:"digit"`
}

// Strength is the strength meter's reading.
type Strength struct {
	Score       int      `json:"score"`
	Guesses     float64  `json:"guesses"`
	CrackTime   string   `json:"crackTime"`
	Warning     string   `json:"warning"`
	Suggestions []string `json:"suggestions"`
}

// Generated is a new password with its strength.
type Generated struct {
	Value    string   `json:"value"`
	Strength Strength `json:"strength"`
}

// Generate makes a password or passphrase as `keyhold generate` does,
// with the command's defaults for what the page leaves out.
func Generate(r GenerateRequest) (Generated, error) {
	or := func(p *bool, d bool) bool {
		if p == nil {
			return d
		}
		return *p
	}
	var b []byte
	var err error
	switch r.Kind {
	case "", "password":
		s := gen.DefaultPasswordSpec
		if r.Length != 0 {
			s.Length = r.Length
		}
		s.Upper, s.Lower, s.Digits, s.Symbols = or(r.Upper, s.Upper), or(r.Lower, s.Lower), or(r.Digits, s.Digits), or(r.Symbols, s.Symbols)
		s.NoAmbiguous = r.NoAmbiguous
		b, err = gen.Password(s)
	case "passphrase":
		s := gen.DefaultPassphraseSpec
		if r.Words != 0 {
			s.Words = r.Words
		}
		if r.Separator != nil {
			s.Separator = *r.Separator
		}
		s.Capitalize, s.Digit = r.Capitalize, r.Digit
		b, err = gen.Passphrase(s)
	default:
		return Generated{}, fmt.Errorf("%w: kind %q is neither password nor passphrase", ErrInvalid, r.Kind)
	}
	if err != nil {
		return Generated{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	defer clear(b)
	return Generated{Value: string(b), Strength: Estimate(b)}, nil
}

// Estimate is the strength meter's reading of pw.
func Estimate(pw []byte, userInputs ...string) Strength {
	e := strength.Evaluate(pw, userInputs...)
	s := Strength{Score: e.Score, Guesses: e.Guesses, CrackTime: e.CrackTimeOffline, Warning: e.Warning, Suggestions: e.Suggestions}
	if s.Suggestions == nil {
		s.Suggestions = []string{}
	}
	return s
}

// HealthItem names an item of the health report: never a value.
type HealthItem struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Score int    `json:"score,omitempty"`
}

// HealthReport lists weak passwords, and groups of items sharing one.
type HealthReport struct {
	Checked int            `json:"checked"`
	Weak    []HealthItem   `json:"weak"`
	Reused  [][]HealthItem `json:"reused"`
}

// Health checks the password of every item out of the trash with the
// rules of `keyhold audit` (package health): weak and reused.
func (c *Core) Health() (HealthReport, error) {
	if _, err := c.open(); err != nil {
		return HealthReport{}, err
	}
	reuse, err := health.NewReuse[HealthItem]()
	if err != nil {
		return HealthReport{}, err
	}
	defer reuse.Wipe()
	rep := HealthReport{Weak: []HealthItem{}, Reused: [][]HealthItem{}}
	for _, e := range c.ix.all() {
		it := e.Item
		pw, ok := it.Get("password")
		if it.Trashed != nil || !ok || pw == "" {
			continue
		}
		rep.Checked++
		b := []byte(pw)
		hi := HealthItem{ID: e.ID.String(), Title: it.Title}
		if est, weak := health.Weak(b, it.Title, it.Username()); weak {
			w := hi
			w.Score = est.Score
			rep.Weak = append(rep.Weak, w)
		}
		reuse.Add(b, hi)
		clear(b)
	}
	rep.Reused = append(rep.Reused, reuse.Groups()...)
	return rep, nil
}
