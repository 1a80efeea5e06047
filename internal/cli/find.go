package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/keyhold/keyhold/internal/vault"
)

// Naming items. Commands that only read an item (show, copy, otp,
// history, attachment list and save) accept what a gopass user types: an
// exact title or id first, else a title that starts with the name, else a
// title holding the name's characters in order ("ghb" for "GitHub"), as
// long as one item alone matches. Commands that change or remove an item,
// and secret references, take an exact title or id only (c.resolve), so
// that an item added later can never silently become their target.

// resolveRead opens the store and finds one item by exact title or id,
// else by an unambiguous title prefix, else by an unambiguous subsequence
// of the title, among the items f selects. A match that is not exact is
// named on stderr, so the user sees which item was taken.
func (c *cmdEnv) resolveRead(ref string, f vault.Filter) (store, *vault.Entry, error) {
	st, err := c.open()
	if err != nil {
		return nil, nil, err
	}
	e, err := st.Resolve(c.ctx, ref, f)
	if err == nil {
		return st, e, nil
	}
	if !errors.Is(err, vault.ErrNotFound) {
		return nil, nil, c.explainAmbiguous(st, ref, err, f)
	}
	all, serr := st.Search(c.ctx, "", f)
	if serr != nil {
		return nil, nil, serr
	}
	cands := fuzzyMatches(all, ref)
	switch len(cands) {
	case 0:
		return nil, nil, err
	case 1:
		e, err := st.Resolve(c.ctx, cands[0].ID.String(), f)
		if err != nil {
			return nil, nil, err
		}
		c.infof("%q matches %q", ref, e.Item.Title)
		return st, e, nil
	}
	return nil, nil, &ambiguousError{ref: ref, matches: cands, all: all}
}

// fuzzyMatches returns the entries whose title starts with ref (case
// ignored) or, if none does, whose title holds ref's characters in order.
func fuzzyMatches(es []*vault.Entry, ref string) []*vault.Entry {
	l := strings.ToLower(strings.TrimSpace(ref))
	if l == "" {
		return nil
	}
	var prefix, subseq []*vault.Entry
	for _, e := range es {
		t := strings.ToLower(e.Item.Title)
		if strings.HasPrefix(t, l) {
			prefix = append(prefix, e)
		} else if isSubsequence(l, t) {
			subseq = append(subseq, e)
		}
	}
	if len(prefix) > 0 {
		return prefix
	}
	return subseq
}

// isSubsequence reports whether every rune of s occurs in t, in order.
func isSubsequence(s, t string) bool {
	rs := []rune(s)
	i := 0
	for _, r := range t {
		if i < len(rs) && r == rs[i] {
			i++
		}
	}
	return i == len(rs)
}

// ambiguousError is a name that matches several items. printErr lists
// them (title, username, first URL, a short id to choose by); it is
// vault.ErrAmbiguous to errors.Is, so the exit code stays 5.
type ambiguousError struct {
	ref     string
	matches []*vault.Entry
	all     []*vault.Entry // every item, to make the short ids unique
}

func (e *ambiguousError) Error() string {
	return fmt.Sprintf("%d items match %q; name one by its id:", len(e.matches), e.ref)
}

func (e *ambiguousError) Unwrap() error { return vault.ErrAmbiguous }

// rows returns one line per match, aligned in columns.
func (e *ambiguousError) rows() []string {
	var b strings.Builder
	writeColumns(&b, len(e.matches), 4, func(i, j int) string {
		m := e.matches[i]
		switch j {
		case 0:
			return m.Item.Title
		case 1:
			return orDash(m.Item.Username())
		case 2:
			if len(m.Item.URLs) > 0 {
				return m.Item.URLs[0]
			}
			return "-"
		}
		return shortID(m, e.all)
	})
	return strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// shortID is the shortest prefix of e's id, at least 8 characters, that
// no other item's id starts with: what Resolve accepts as an id.
func shortID(e *vault.Entry, all []*vault.Entry) string {
	id := e.ID.String()
	for n := 8; n < len(id); n++ {
		p := id[:n]
		if p[n-1] == '-' {
			continue
		}
		unique := true
		for _, o := range all {
			if o.ID != e.ID && strings.HasPrefix(o.ID.String(), p) {
				unique = false
				break
			}
		}
		if unique {
			return p
		}
	}
	return id
}

// explainAmbiguous turns the vault's ambiguity error (which carries ids
// only) into an ambiguousError that lists the items; other errors pass
// through.
func (c *cmdEnv) explainAmbiguous(st store, ref string, err error, f vault.Filter) error {
	var ae *vault.AmbiguousError
	if !errors.As(err, &ae) || len(ae.IDs) == 0 {
		return err
	}
	all, serr := st.Search(c.ctx, "", f)
	if serr != nil {
		return err
	}
	want := make(map[string]bool, len(ae.IDs))
	for _, id := range ae.IDs {
		want[id] = true
	}
	var ms []*vault.Entry
	for _, e := range all {
		if want[e.ID.String()] {
			ms = append(ms, e)
		}
	}
	if len(ms) != len(ae.IDs) {
		return err
	}
	return &ambiguousError{ref: ref, matches: ms, all: all}
}
