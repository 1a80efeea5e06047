package webcore

import (
	"github.com/keyhold/keyhold/internal/health"
)

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

// Health checks the password of every item out of the trash as `keyhold
// audit` does: weak (the strength estimate for the item's title and
// username, through the extras) and reused (package health).
func (c *Core) Health() (HealthReport, error) {
	if _, err := c.open(); err != nil {
		return HealthReport{}, err
	}
	x, err := c.extras()
	if err != nil {
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
		est, err := x.Strength(b, it.Title, it.Username())
		if err != nil {
			clear(b)
			return HealthReport{}, err
		}
		if !est.OK {
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
