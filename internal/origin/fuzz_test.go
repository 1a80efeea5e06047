package origin

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that everything it refuses is
// a *NotFillableError, and that what it accepts is canonical: printing
// and parsing again gives the same origin, and the page's own origin,
// saved as a login's URL, matches it exactly.
func FuzzParse(f *testing.F) {
	for _, c := range matchCases {
		f.Add(c.page)
	}
	f.Add("null")
	f.Add("data:text/html,x")
	f.Add("https://good.com@evil.com")
	f.Fuzz(func(t *testing.T, s string) {
		o, err := Parse(s)
		if err != nil {
			var nf *NotFillableError
			if !errors.As(err, &nf) {
				t.Fatalf("Parse(%q) error %v is not a *NotFillableError", s, err)
			}
			return
		}
		if !o.valid() {
			t.Fatalf("Parse(%q) = %#v, not canonical", s, o)
		}
		again, err := Parse(o.String())
		if err != nil || again != o {
			t.Fatalf("Parse(%q) = %#v; reparsing %q gives %#v, %v", s, o, o.String(), again, err)
		}
		for _, m := range []Mode{ModeDomain, ModeHost} {
			if r := Match(o.String(), o, m); r != HostMatch {
				t.Fatalf("origin %q saved as a URL: Match = %v in mode %q", o, r, m)
			}
		}
		if !SameSite(o, o) {
			t.Fatalf("origin %q is not of its own site", o)
		}
		if d := o.Display(); !strings.Contains(d, o.Host) {
			t.Fatalf("Display %q hides the ASCII host %q", d, o.Host)
		}
	})
}

// FuzzMatch checks the properties every answer of Match must have,
// whatever the saved URL and page:
//   - it never panics, and Best of one URL is Match;
//   - ModeHost never answers more than ModeDomain, and only HostMatch or
//     NoMatch;
//   - HostMatch means the saved URL's host and port are the page's;
//   - an http page never receives a login saved for https (or without a
//     scheme);
//   - a DomainMatch between two origins of the same scheme holds the other
//     way round too, and a NoMatch as well;
//   - a login fills only within its URL's site (SameSite), and SameSite
//     is symmetric.
func FuzzMatch(f *testing.F) {
	for _, c := range matchCases {
		f.Add(c.saved, c.page)
	}
	f.Fuzz(func(t *testing.T, saved, page string) {
		o, err := Parse(page)
		if err != nil {
			// Match must still refuse whatever a careless caller
			// builds from text Parse refused.
			hand := Origin{Scheme: "https", Host: page}
			if !hand.valid() && Match(saved, hand, ModeDomain) != NoMatch {
				t.Fatalf("hand-built origin %q matched %q", page, saved)
			}
			return
		}
		d := Match(saved, o, ModeDomain)
		h := Match(saved, o, ModeHost)
		if Best([]string{saved}, o, ModeDomain) != d || Best([]string{saved}, o, ModeHost) != h {
			t.Fatalf("Best differs from Match for %q on %q", saved, o)
		}
		if h > d || h == DomainMatch {
			t.Fatalf("%q on %q: host mode %v, domain mode %v", saved, o, h, d)
		}
		if (d == HostMatch) != (h == HostMatch) {
			t.Fatalf("%q on %q: modes disagree on the exact host: %v, %v", saved, o, d, h)
		}
		s, serr := parseSaved(saved)
		if d != NoMatch {
			if serr != nil {
				t.Fatalf("%q matched %q but does not parse: %v", saved, o, serr)
			}
			if s.Port != o.Port {
				t.Fatalf("%q matched %q on another port", saved, o)
			}
			if o.Scheme == "http" && s.Scheme != "http" {
				t.Fatalf("login saved for %q filled into http page %q", saved, o)
			}
		}
		if d == HostMatch && s.Host != o.Host {
			t.Fatalf("HostMatch of %q on %q with hosts %q and %q", saved, o, s.Host, o.Host)
		}
		if d == DomainMatch && s.Host == o.Host {
			t.Fatalf("DomainMatch of %q on %q with equal hosts", saved, o)
		}
		if serr == nil {
			if SameSite(s, o) != SameSite(o, s) {
				t.Fatalf("SameSite not symmetric for %q and %q", s, o)
			}
			if d != NoMatch && !SameSite(s, o) {
				t.Fatalf("%q fills into %q, which is not of its site", saved, o)
			}
		}
		if serr == nil && s.Scheme == o.Scheme {
			if back := Match(o.String(), s, ModeDomain); back != d {
				t.Fatalf("not symmetric: %q on %q is %v, the reverse is %v", saved, o, d, back)
			}
		}
	})
}
