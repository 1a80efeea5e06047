package agent

import (
	"context"
	"errors"
	"slices"

	"github.com/google/uuid"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/origin"
	"github.com/keyhold/keyhold/internal/vault"
)

// MaxCandidates bounds the items one match or match search answers with:
// more logins than this for one site, or more search results than this,
// is more than a popup can show, and a bound keeps the answer small.
const MaxCandidates = 50

// Candidate is a login offered for a page: what the browser extension
// shows (title, username, one URL) and how well it matches, but no
// secret. A fill asks for the item's secrets separately, by ID.
type Candidate struct {
	ID       vault.ItemID
	Revision uint64
	Type     item.Type
	Title    string
	Username string
	// URL is the item's URL that matched best, or its first URL when none
	// did (a search result that does not fill into the page).
	URL string
	// Match is how well the item fills into the page; NoMatch for a search
	// result that does not.
	Match origin.Result
	// Password and TOTP report whether the item has a password and a TOTP
	// secret, so the extension knows which buttons to offer.
	Password, TOTP bool
}

type wireCandidate struct {
	ID       string `json:"id"`
	Revision uint64 `json:"revision"`
	Type     string `json:"type"`
	Title    string `json:"title"`
	Username string `json:"username,omitempty"`
	URL      string `json:"url,omitempty"`
	Match    int    `json:"match,omitempty"`
	Password bool   `json:"password,omitempty"`
	TOTP     bool   `json:"totp,omitempty"`
}

// matchOrigin parses the origin a match request names. An empty one is
// allowed for a search (a popup opened on a page no login fills into):
// every result is then NoMatch.
func matchOrigin(s string, optional bool) (origin.Origin, error) {
	if s == "" && optional {
		return origin.Origin{}, nil
	}
	return origin.Parse(s)
}

// candidate describes e for the page o under the default exact-host
// setting exact.
func candidate(e *vault.Entry, o origin.Origin, exact bool) Candidate {
	it := e.Item
	c := Candidate{ID: e.ID, Revision: e.Revision, Type: it.Type, Title: it.Title, Username: it.Username()}
	if pw, ok := it.Get("password"); ok && pw != "" {
		c.Password = true
	}
	if s, ok := it.Get("totp"); ok && s != "" {
		c.TOTP = true
	}
	if it.Type == item.Login {
		mode := origin.ItemMode(it.Match, exact)
		for _, u := range it.URLs {
			if r := origin.Match(u, o, mode); r > c.Match {
				c.Match, c.URL = r, u
				if r == origin.HostMatch {
					break
				}
			}
		}
	}
	if c.URL == "" && len(it.URLs) > 0 {
		c.URL = it.URLs[0]
	}
	return c
}

// match returns the logins (not in the trash) that fill into the page
// origin o: those whose exact host matches first, then those of the same
// registrable domain, each group by title (the session's order), at most
// MaxCandidates. A URL is checked only if it could name the page's
// registrable domain (prefilter), and only its exact host once there are
// enough domain matches: with 10,000 items, parsing every saved URL for
// every request would take most of the time of a fill.
func (s *Server) match(ctx context.Context, originStr string, exact bool) ([]Candidate, error) {
	o, err := matchOrigin(originStr, false)
	if err != nil {
		return nil, err
	}
	es, err := s.sess.List(ctx, vault.Active)
	if err != nil {
		return nil, err
	}
	domainF, hostF := newPrefilter(o), newHostPrefilter(o)
	var host, domain []Candidate
	for _, e := range es {
		f := domainF
		if len(domain) == MaxCandidates {
			f = hostF // only a host match can still make the list
		}
		if e.Item.Type != item.Login || !f.any(e.Item.URLs) {
			continue
		}
		c := candidate(e, o, exact)
		switch {
		case c.Match == origin.HostMatch:
			host = append(host, c)
		case c.Match == origin.DomainMatch && len(domain) < MaxCandidates:
			domain = append(domain, c)
		}
		if len(host) == MaxCandidates {
			break // the rest ranks after these
		}
	}
	out := append(host, domain...)
	return out[:min(len(out), MaxCandidates)], nil
}

// matchSearch returns the items (not in the trash) that match the query
// q as `keyhold search` does, in title order, each with how well it fills
// into o (which may be empty), at most MaxCandidates; more reports that
// there were more.
func (s *Server) matchSearch(ctx context.Context, q, originStr string, exact bool) (out []Candidate, more bool, err error) {
	o, err := matchOrigin(originStr, true)
	if err != nil {
		return nil, false, err
	}
	es, err := s.sess.Search(ctx, q, vault.Active)
	if err != nil {
		return nil, false, err
	}
	for _, e := range es[:min(len(es), MaxCandidates)] {
		out = append(out, candidate(e, o, exact))
	}
	return out, len(es) > MaxCandidates, nil
}

func toWireCandidates(cs []Candidate) []wireCandidate {
	out := make([]wireCandidate, len(cs))
	for i, c := range cs {
		out[i] = wireCandidate{ID: c.ID.String(), Revision: c.Revision, Type: string(c.Type), Title: c.Title,
			Username: c.Username, URL: c.URL, Match: int(c.Match), Password: c.Password, TOTP: c.TOTP}
	}
	return out
}

var errMalformedCandidates = errors.New("the agent sent a malformed answer; run `keyhold lock` and `keyhold unlock`")

func fromWireCandidates(ws []wireCandidate) ([]Candidate, error) {
	if len(ws) > MaxCandidates {
		return nil, errMalformedCandidates
	}
	out := make([]Candidate, len(ws))
	for i, w := range ws {
		u, err := uuid.Parse(w.ID)
		r := origin.Result(w.Match)
		if err != nil || (r != origin.NoMatch && r != origin.DomainMatch && r != origin.HostMatch) {
			return nil, errMalformedCandidates
		}
		out[i] = Candidate{ID: vault.ItemID(u), Revision: w.Revision, Type: item.Type(w.Type), Title: w.Title,
			Username: w.Username, URL: w.URL, Match: r, Password: w.Password, TOTP: w.TOTP}
	}
	return out, nil
}

// Match returns the logins that may fill into the page origin o, best
// first (exact host, then the same registrable domain, each by title), at
// most MaxCandidates. defaultExact is the exact-host default for items
// without their own setting. The agent decides: the items never leave it,
// only these summaries.
func (c *Client) Match(ctx context.Context, o origin.Origin, defaultExact bool) ([]Candidate, error) {
	resp, err := c.call(ctx, &request{Op: opMatch, Origin: o.String(), Exact: defaultExact})
	if err != nil {
		return nil, err
	}
	cs, err := fromWireCandidates(resp.Candidates)
	if err != nil {
		return nil, err
	}
	// A candidate that does not match came from an agent that broke the
	// rule above; drop it rather than offer it.
	return slices.DeleteFunc(cs, func(c Candidate) bool { return c.Match == origin.NoMatch }), nil
}

// MatchSearch returns the items that match the search q (as `keyhold
// search`), in title order, each with how well it fills into o (a zero
// Origin: none fills), at most MaxCandidates; more reports that the search
// found more.
func (c *Client) MatchSearch(ctx context.Context, q string, o origin.Origin, defaultExact bool) (cs []Candidate, more bool, err error) {
	var page string
	if o != (origin.Origin{}) {
		page = o.String()
	}
	resp, err := c.call(ctx, &request{Op: opMatchSearch, Query: q, Origin: page, Exact: defaultExact})
	if err != nil {
		return nil, false, err
	}
	cs, err = fromWireCandidates(resp.Candidates)
	return cs, resp.More, err
}
