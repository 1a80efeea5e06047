package cli

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyhold/keyhold/internal/breach"
	"github.com/keyhold/keyhold/internal/health"
	"github.com/keyhold/keyhold/internal/strength"
	"github.com/keyhold/keyhold/internal/vault"
)

// defaultMaxAgeDays is when audit calls a password old: a year without a
// change. Long enough not to nag about passwords that are strong and
// unique, short enough to catch the ones set long ago and forgotten.
const defaultMaxAgeDays = 365

// auditItem names an item in the report: never a value.
type auditItem struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Username string `json:"username"`
	URL      string `json:"url"`
}

type auditWeak struct {
	auditItem
	Score     int    `json:"score"`      // zxcvbn 0..4; weak is below strength.MinScore
	CrackTime string `json:"crack_time"` // at 10^4 guesses a second
	Warning   string `json:"warning,omitempty"`
}

type auditOld struct {
	auditItem
	Changed time.Time `json:"changed"` // when the current password was set
	AgeDays int       `json:"age_days"`
}

type auditBreached struct {
	auditItem
	Count uint64 `json:"count"` // times seen in breaches
}

// auditReport is audit's --json document.
type auditReport struct {
	Checked        int             `json:"checked"` // items with a password
	Weak           []auditWeak     `json:"weak"`
	Reused         [][]auditItem   `json:"reused"` // groups of items sharing one password
	Old            []auditOld      `json:"old"`
	MaxAgeDays     int             `json:"max_age_days"`
	Breached       []auditBreached `json:"breached"`
	BreachedSource string          `json:"breached_source"` // "file", "api" or "" (not checked)
	Found          bool            `json:"found"`
}

func (c *cmdEnv) auditCmd() *cobra.Command {
	var breachedFile, breachedAPI string
	var maxAgeDays int
	cmd := &cobra.Command{
		Use:   "audit [--breached-file FILE] [--json]",
		Short: "Report weak, reused, old and breached passwords",
		Long: `Check the password of every item: weak (the strength estimate below
3 of 4), reused (the same password in several items), old (unchanged for
more than --max-age-days, default 365) and, with --breached-file or
--breached-api, breached (in Have I Been Pwned's Pwned Passwords list).
Only titles, usernames, URLs and ids are printed, never a password.

--breached-file takes the downloaded list, sorted by hash ("HASH:COUNT"
lines); it is searched in place, not loaded. --breached-api URL asks the
k-anonymity range API at URL (https://api.pwnedpasswords.com): only the
first 5 hex digits of each password's SHA-1 leave the device.

Exit 0: nothing found; 14: something found (the report says what).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if breachedFile != "" && breachedAPI != "" {
				return usageError{errors.New("--breached-file and --breached-api: choose one")}
			}
			if maxAgeDays < 1 {
				return usageError{errors.New("--max-age-days must be at least 1")}
			}
			var checker breach.Checker
			rep := auditReport{MaxAgeDays: maxAgeDays, Weak: []auditWeak{}, Reused: [][]auditItem{}, Old: []auditOld{}, Breached: []auditBreached{}}
			switch {
			case breachedFile != "":
				f, err := os.Open(breachedFile)
				if err != nil {
					return usageError{fmt.Errorf("--breached-file: %w", err)}
				}
				defer f.Close()
				fi, err := f.Stat()
				if err != nil {
					return err
				}
				bf, err := breach.NewFile(f, fi.Size())
				if err != nil {
					return exitError{fmt.Errorf("%s: %w", breachedFile, err), ExitDamaged}
				}
				checker, rep.BreachedSource = bf, "file"
			case breachedAPI != "":
				u, err := url.Parse(breachedAPI)
				if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
					return usageError{fmt.Errorf("--breached-api takes an http(s) URL such as https://api.pwnedpasswords.com")}
				}
				checker, rep.BreachedSource = &breach.Range{BaseURL: breachedAPI, Client: &http.Client{Timeout: 30 * time.Second}, UserAgent: "keyhold-audit"}, "api"
			}
			st, err := c.open()
			if err != nil {
				return err
			}
			if err := c.audit(st, checker, &rep); err != nil {
				return err
			}
			rep.Found = len(rep.Weak)+len(rep.Reused)+len(rep.Old)+len(rep.Breached) > 0
			if c.jsonOut {
				if err := c.printJSON(rep); err != nil {
					return err
				}
			} else {
				c.printAudit(&rep)
			}
			if rep.Found {
				return quietExit{ExitFindings}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&breachedFile, "breached-file", "", "the Pwned Passwords list (SHA-1, sorted by hash) to check passwords against, offline")
	cmd.Flags().StringVar(&breachedAPI, "breached-api", "", "check passwords with the k-anonymity range API at this URL (https://api.pwnedpasswords.com)")
	cmd.Flags().IntVar(&maxAgeDays, "max-age-days", defaultMaxAgeDays, "call a password old after this many days unchanged")
	return cmd
}

func auditItemOf(e *vault.Entry) auditItem {
	a := auditItem{ID: e.ID.String(), Title: e.Item.Title, Username: e.Item.Username()}
	if len(e.Item.URLs) > 0 {
		a.URL = e.Item.URLs[0]
	}
	return a
}

// audit fills rep from the active items' "password" fields.
//
// Reuse is found by a keyed hash: HMAC-SHA-256 of each password under a
// key drawn at random for this run and dropped after it, so the grouping
// key is useless outside the process and never printed.
func (c *cmdEnv) audit(st store, checker breach.Checker, rep *auditReport) error {
	es, err := st.List(c.ctx, vault.Active)
	if err != nil {
		return err
	}
	reuse, err := health.NewReuse[auditItem]()
	if err != nil {
		return err
	}
	defer reuse.Wipe()
	now := time.Now()
	cutoff := now.AddDate(0, 0, -rep.MaxAgeDays)
	for _, e := range es {
		pw, ok := e.Item.Get("password")
		if !ok || pw == "" {
			continue
		}
		rep.Checked++
		ai := auditItemOf(e)
		b := []byte(pw)

		if est := strength.Evaluate(b, e.Item.Title, e.Item.Username()); !est.OK() {
			rep.Weak = append(rep.Weak, auditWeak{auditItem: ai, Score: est.Score, CrackTime: est.CrackTimeOffline, Warning: est.Warning})
		}
		reuse.Add(b, ai)

		if checker != nil {
			n, err := checker.Count(c.ctx, breach.Sum(b))
			if err != nil {
				clear(b)
				return fmt.Errorf("checking for breached passwords: %w", err)
			}
			if n > 0 {
				rep.Breached = append(rep.Breached, auditBreached{auditItem: ai, Count: n})
			}
		}
		clear(b)

		changed, err := passwordSince(c, st, e, cutoff)
		if err != nil {
			return err
		}
		if changed.Before(cutoff) {
			rep.Old = append(rep.Old, auditOld{auditItem: ai, Changed: changed.UTC(), AgeDays: int(now.Sub(changed).Hours() / 24)})
		}
	}
	rep.Reused = append(rep.Reused, reuse.Groups()...)
	return nil
}

// passwordSince returns when the item's current password was set: the
// time of the oldest revision in the unbroken run of revisions, ending at
// the current one, that hold the same password (the item's creation if
// every revision does). An item created after the cutoff needs no history.
func passwordSince(c *cmdEnv, st store, e *vault.Entry, cutoff time.Time) (time.Time, error) {
	it := e.Item
	if !it.Created.Before(cutoff) {
		return it.Created, nil
	}
	revs, err := st.History(c.ctx, e.ID)
	if err != nil {
		return time.Time{}, err
	}
	cur, _ := it.Get("password")
	since := it.Modified
	for _, r := range slices.Backward(revs) {
		if v, _ := r.Item.Get("password"); v != cur {
			return since, nil
		}
		since = r.Item.Modified
	}
	if it.Created.Before(since) {
		since = it.Created
	}
	return since, nil
}

func (c *cmdEnv) printAudit(rep *auditReport) {
	w := c.stdout
	line := func(a auditItem, extra string) {
		parts := []string{a.Title}
		if a.Username != "" {
			parts = append(parts, a.Username)
		}
		if a.URL != "" {
			parts = append(parts, a.URL)
		}
		parts = append(parts, "id "+a.ID[:8])
		fmt.Fprintf(w, "  %s%s\n", strings.Join(parts, "  "), extra)
	}
	if len(rep.Breached) > 0 {
		fmt.Fprintf(w, "breached (%d): in the Pwned Passwords list; change these first\n", len(rep.Breached))
		for _, b := range rep.Breached {
			line(b.auditItem, fmt.Sprintf("  (seen %d times)", b.Count))
		}
	}
	if len(rep.Reused) > 0 {
		fmt.Fprintf(w, "reused (%d groups): each group shares one password\n", len(rep.Reused))
		for i, g := range rep.Reused {
			fmt.Fprintf(w, " group %d:\n", i+1)
			for _, a := range g {
				line(a, "")
			}
		}
	}
	if len(rep.Weak) > 0 {
		fmt.Fprintf(w, "weak (%d): easy to guess\n", len(rep.Weak))
		for _, x := range rep.Weak {
			line(x.auditItem, fmt.Sprintf("  (score %d of 4, cracked in %s)", x.Score, x.CrackTime))
		}
	}
	if len(rep.Old) > 0 {
		fmt.Fprintf(w, "old (%d): unchanged for more than %d days\n", len(rep.Old), rep.MaxAgeDays)
		for _, o := range rep.Old {
			line(o.auditItem, fmt.Sprintf("  (set %s, %d days ago)", o.Changed.Local().Format(time.DateOnly), o.AgeDays))
		}
	}
	if rep.BreachedSource == "" {
		c.infof("breached passwords not checked: pass --breached-file FILE (or --breached-api URL)")
	}
	switch {
	case rep.Found:
		c.infof("checked %d password%s", rep.Checked, plural(rep.Checked))
	case rep.BreachedSource == "":
		c.infof("checked %d password%s: none weak, reused or old", rep.Checked, plural(rep.Checked))
	default:
		c.infof("checked %d password%s: none weak, reused, old or breached", rep.Checked, plural(rep.Checked))
	}
}
