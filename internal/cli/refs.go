package cli

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/secretref"
	"github.com/keyhold/keyhold/internal/vault"
)

// refResolver resolves secret references for run, inject and read. It
// opens the store (the agent, else the vault with the password) once, on
// the first reference, so a command asks for the password at most once
// however many references it holds.
//
// References name their item more strictly than interactive commands do:
// the exact title (case and all) or the id, never a fuzzy or
// case-insensitive match, so that a reference in a file never silently
// changes target when items are added. A title several items share is
// refused, naming them.
type refResolver struct {
	c       *cmdEnv
	st      store
	closers int // len(c.closers) before the store was opened
	now     time.Time
	items   map[string]*vault.Entry // by Ref.Item, once resolved
}

func (c *cmdEnv) newRefResolver() *refResolver {
	return &refResolver{c: c, now: time.Now(), items: map[string]*vault.Entry{}}
}

// load opens the store, once.
func (r *refResolver) load() error {
	if r.st != nil {
		return nil
	}
	r.closers = len(r.c.closers)
	st, err := r.c.open()
	if err != nil {
		return err
	}
	r.st = st
	return nil
}

// close wipes the unlocked session's keys now rather than when the
// command ends: run keeps going as long as its child does.
func (r *refResolver) close() {
	if r.st == nil {
		return
	}
	for _, f := range r.c.closers[r.closers:] {
		f()
	}
	r.c.closers = r.c.closers[:r.closers]
	r.st = nil
}

// entry finds the item a reference names and returns it whole.
//
// Candidates come from a search for the title's words, which every item
// of that exact title matches (titles are searched, and never empty):
// through the agent that moves summaries of a few items, not every item
// of the vault. Only a reference that looks like an id (a full one that is
// not found, or a prefix) lists every item.
func (r *refResolver) entry(ref secretref.Ref) (*vault.Entry, error) {
	if e := r.items[ref.Item]; e != nil {
		return e, nil
	}
	if err := r.load(); err != nil {
		return nil, err
	}
	ctx := r.c.ctx
	var cands []*vault.Entry
	var err error
	if u, perr := uuid.Parse(ref.Item); perr == nil {
		e, rerr := r.st.Resolve(ctx, vault.ItemID(u).String(), vault.Active)
		if rerr == nil && e.ID == vault.ItemID(u) {
			r.items[ref.Item] = e
			return e, nil
		}
		if rerr != nil && !errors.Is(rerr, vault.ErrNotFound) && !errors.Is(rerr, vault.ErrAmbiguous) {
			return nil, rerr
		}
	}
	if looksLikeID(ref.Item) {
		cands, err = r.st.List(ctx, vault.Active)
	} else {
		cands, err = r.st.Search(ctx, ref.Item, vault.Active)
	}
	if err != nil {
		return nil, err
	}
	e, err := pickRef(ref, cands)
	if err != nil {
		return nil, err
	}
	// Search gives summaries: fetch the whole item by its full id.
	full, err := r.st.Resolve(ctx, e.ID.String(), vault.Active)
	if err != nil {
		return nil, err
	}
	if full.ID != e.ID {
		return nil, fmt.Errorf("%s: the vault answered with another item", ref)
	}
	r.items[ref.Item] = full
	return full, nil
}

// looksLikeID reports an id or id prefix: at least 8 hex digits and dashes.
func looksLikeID(s string) bool {
	l := strings.ToLower(s)
	return len(l) >= 8 && strings.Trim(l, "0123456789abcdef-") == ""
}

// refItemError is a reference whose item is missing (wrapping
// vault.ErrNotFound, exit 4) or shared by several items (wrapping
// vault.ErrAmbiguous, exit 5).
type refItemError struct {
	ref     secretref.Ref
	matches []*vault.Entry // several items: the candidates
	nearby  []*vault.Entry // none exactly: titles equal but for case
}

func (e *refItemError) Error() string {
	var b strings.Builder
	if len(e.matches) > 1 {
		fmt.Fprintf(&b, "%s: %d items are titled %q; name one by its id in the reference:", e.ref, len(e.matches), e.ref.Item)
		for _, m := range e.matches {
			b.WriteString("\n  " + describeEntry(m))
			fmt.Fprintf(&b, "  keyhold://%s/%s", m.ID, secretref.Escape(e.ref.Field))
		}
		return b.String()
	}
	fmt.Fprintf(&b, "%s: no item is titled %q or has that id", e.ref, e.ref.Item)
	if len(e.nearby) > 0 {
		b.WriteString(" (titles are compared exactly; did you mean ")
		for i, m := range e.nearby {
			if i > 0 {
				b.WriteString(" or ")
			}
			b.WriteString(secretref.Ref{Item: m.Item.Title, Field: e.ref.Field}.String())
		}
		b.WriteString("?)")
	}
	return b.String()
}

func (e *refItemError) Unwrap() error {
	if len(e.matches) > 1 {
		return vault.ErrAmbiguous
	}
	return vault.ErrNotFound
}

// describeEntry is how an item is told apart from others of the same
// title: title, username, first URL and short id. Never a secret.
func describeEntry(e *vault.Entry) string {
	parts := []string{fmt.Sprintf("%q", e.Item.Title)}
	if u := e.Item.Username(); u != "" {
		parts = append(parts, "user "+u)
	}
	if len(e.Item.URLs) > 0 {
		parts = append(parts, e.Item.URLs[0])
	}
	parts = append(parts, "id "+e.ID.String()[:8])
	return strings.Join(parts, ", ")
}

// pickRef picks the one item among cands that a reference names: the
// item with that full id, else the items with exactly that title, else
// (for an id prefix of at least 8 characters, as elsewhere in keyhold)
// the items whose id begins with it.
func pickRef(ref secretref.Ref, cands []*vault.Entry) (*vault.Entry, error) {
	if u, err := uuid.Parse(ref.Item); err == nil {
		for _, e := range cands {
			if e.ID == vault.ItemID(u) {
				return e, nil
			}
		}
	}
	var exact, prefix, nearby []*vault.Entry
	lp := strings.ToLower(ref.Item)
	isPrefix := looksLikeID(ref.Item)
	for _, e := range cands {
		switch {
		case e.Item.Title == ref.Item:
			exact = append(exact, e)
		case isPrefix && strings.HasPrefix(e.ID.String(), lp):
			prefix = append(prefix, e)
		case strings.EqualFold(e.Item.Title, ref.Item):
			nearby = append(nearby, e)
		}
	}
	if len(exact) == 0 {
		exact = prefix
	}
	if len(exact) == 1 {
		return exact[0], nil
	}
	if len(exact) == 0 {
		return nil, &refItemError{ref: ref, nearby: nearby}
	}
	return nil, &refItemError{ref: ref, matches: exact}
}

// value resolves one reference to its value. The field "otp" is the
// item's current TOTP code, as with `keyhold copy --field otp`.
func (r *refResolver) value(ref secretref.Ref) (string, error) {
	e, err := r.entry(ref)
	if err != nil {
		return "", err
	}
	if strings.EqualFold(ref.Field, "otp") {
		secret, ok := e.Item.Get("totp")
		if !ok || secret == "" {
			return "", exitError{fmt.Errorf("%s: %s has no TOTP secret", ref, describeEntry(e)), ExitNoField}
		}
		code, _, err := totpCode(secret, r.now)
		return code, err
	}
	v, ok := e.Item.Get(ref.Field)
	if !ok {
		return "", exitError{fmt.Errorf("%s: %s has no field %q (it has: %s)", ref, describeEntry(e), ref.Field, strings.Join(fieldNames(e.Item), ", ")), ExitNoField}
	}
	return v, nil
}

// fieldNames lists the names a reference can use for an item's values.
func fieldNames(it *item.Item) []string {
	out := []string{"title"}
	for _, f := range it.Fields {
		out = append(out, f.Name)
		if f.Kind == item.TOTP {
			out = append(out, "otp")
		}
	}
	if len(it.URLs) > 0 {
		out = append(out, "url")
	}
	if it.Notes != "" {
		out = append(out, "notes")
	}
	return out
}

// parseRef parses a reference given on the command line or in a file;
// a malformed one is a usage error.
func parseRef(s string) (secretref.Ref, error) {
	r, err := secretref.Parse(s)
	if err != nil {
		return r, usageError{err}
	}
	return r, nil
}
