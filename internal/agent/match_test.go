package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/origin"
	"github.com/keyhold/keyhold/internal/vault"
)

func mustOrigin(t testing.TB, s string) origin.Origin {
	t.Helper()
	o, err := origin.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func site(title, user string, urls ...string) *item.Item {
	it := login(title, user)
	it.URLs = urls
	return it
}

func matched(cs []Candidate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Title + "|" + c.Match.String()
	}
	return out
}

// TestMatch: the agent offers, for a page, the logins that fill into it:
// the exact host first, then the same registrable domain, each by title;
// never a trashed item, another item type, an https login on an http page,
// a lookalike or another site; and an item's own exact-host setting or
// the default decide between host and domain.
func TestMatch(t *testing.T) {
	ctx := context.Background()
	cl, _, _ := startAgent(t)
	hostOnly := site("Exact Only", "e", "https://accounts.example.com")
	hostOnly.Match = "host"
	domainAlways := site("Domain Always", "d", "https://accounts.example.com")
	domainAlways.Match = "domain"
	note := item.New(item.Note, "A note", vault.Now())
	note.URLs = []string{"https://www.example.com"}
	totp := site("b-Main", "alice", "example.com/login", "https://other.test")
	totp.Set("totp", "JBSWY3DPEHPK3PXP", item.Hidden)
	its := []*item.Item{
		totp,
		site("a-Sub", "bob", "https://accounts.example.com:443/signin"),
		site("C-main-again", "carol", "https://WWW.Example.COM./x"),
		site("Http saved", "h", "http://www.example.com"),
		site("Lookalike", "l", "https://www.examp1e.com", "https://www.example.com.evil.test", "https://xn--exmple-cua.com"),
		site("Other port", "p", "https://www.example.com:8443"),
		site("No URL", "n"),
		hostOnly, domainAlways, note,
	}
	trashed := site("Trashed", "t", "https://www.example.com")
	its = append(its, trashed)
	if _, err := cl.Add(ctx, its...); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Trash(ctx, "Trashed"); err != nil {
		t.Fatal(err)
	}

	page := mustOrigin(t, "https://www.example.com/login?next=/")
	cs, err := cl.Match(ctx, page, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"C-main-again|host", "Http saved|host", "a-Sub|domain", "b-Main|domain", "Domain Always|domain"}
	if got := matched(cs); !slices.Equal(got, want) {
		t.Errorf("candidates for %s:\n got %q\nwant %q", page, got, want)
	}
	for _, c := range cs {
		if c.Title == "b-Main" && (!c.TOTP || !c.Password || c.Username != "alice" || c.URL != "example.com/login") {
			t.Errorf("b-Main's candidate: %+v", c)
		}
	}

	// Exact host by default: only the same host, and the item that asks
	// for domain matching.
	cs, err = cl.Match(ctx, page, true)
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"C-main-again|host", "Http saved|host", "Domain Always|domain"}
	if got := matched(cs); !slices.Equal(got, want) {
		t.Errorf("candidates with exact host by default:\n got %q\nwant %q", got, want)
	}

	// The exact host of the items with their own setting.
	cs, err = cl.Match(ctx, mustOrigin(t, "https://accounts.example.com"), false)
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"a-Sub|host", "Domain Always|host", "Exact Only|host", "b-Main|domain", "C-main-again|domain", "Http saved|domain"}
	if got := matched(cs); !slices.Equal(got, want) {
		t.Errorf("candidates for accounts.example.com:\n got %q\nwant %q", got, want)
	}

	// An http page gets only the login saved for http.
	cs, err = cl.Match(ctx, mustOrigin(t, "http://www.example.com"), false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := matched(cs), []string{"Http saved|host"}; !slices.Equal(got, want) {
		t.Errorf("candidates for an http page: %q, want %q", got, want)
	}

	// Lookalikes and other sites get nothing.
	for _, s := range []string{"https://www.examp1e.com", "https://example.com.evil.test", "https://www.exämple.com", "https://www.example.com:8444"} {
		cs, err := cl.Match(ctx, mustOrigin(t, s), false)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c.Title != "Lookalike" && c.Title != "Other port" {
				t.Errorf("%s is offered %q", s, c.Title)
			}
		}
	}
}

// TestMatchCap: a site with more logins than a popup can show gets
// MaxCandidates, exact hosts first.
func TestMatchCap(t *testing.T) {
	ctx := context.Background()
	cl, _, _ := startAgent(t)
	var its []*item.Item
	for i := range 60 {
		its = append(its, site(fmt.Sprintf("domain-%02d", i), "u", "https://a.example.org"))
	}
	its = append(its, site("zz-host", "u", "https://www.example.org"))
	if _, err := cl.Add(ctx, its...); err != nil {
		t.Fatal(err)
	}
	cs, err := cl.Match(ctx, mustOrigin(t, "https://www.example.org"), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != MaxCandidates || cs[0].Title != "zz-host" || cs[1].Title != "domain-00" || cs[len(cs)-1].Title != "domain-48" {
		t.Errorf("%d candidates, first %q, then %q, last %q", len(cs), cs[0].Title, cs[1].Title, cs[len(cs)-1].Title)
	}
}

// TestMatchSearch: a search from the popup finds any item as `keyhold
// search` does, in title order, and says which of them fill into the page.
func TestMatchSearch(t *testing.T) {
	ctx := context.Background()
	cl, _, _ := startAgent(t)
	note := item.New(item.Note, "mail notes", vault.Now())
	if _, err := cl.Add(ctx, site("Mail", "m", "https://mail.example.net"), site("Mail other", "o", "https://mail.other.test"), note,
		site("Bank", "b", "https://bank.example.net")); err != nil {
		t.Fatal(err)
	}
	cs, more, err := cl.MatchSearch(ctx, "mail", mustOrigin(t, "https://mail.example.net"), true)
	if err != nil || more {
		t.Fatal(more, err)
	}
	if got, want := matched(cs), []string{"Mail|host", "mail notes|none", "Mail other|none"}; !slices.Equal(got, want) {
		t.Errorf("search: %q, want %q", got, want)
	}
	// Without a page (the popup on a browser page), nothing fills.
	cs, _, err = cl.MatchSearch(ctx, "", origin.Origin{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := matched(cs), []string{"Bank|none", "Mail|none", "mail notes|none", "Mail other|none"}; !slices.Equal(got, want) {
		t.Errorf("search without a page: %q, want %q", got, want)
	}

	var its []*item.Item
	for i := range MaxCandidates + 1 {
		its = append(its, site(fmt.Sprintf("many-%02d", i), "u"))
	}
	if _, err := cl.Add(ctx, its...); err != nil {
		t.Fatal(err)
	}
	cs, more, err = cl.MatchSearch(ctx, "many", origin.Origin{}, false)
	if err != nil || !more || len(cs) != MaxCandidates {
		t.Errorf("a search of %d items: %d results, more %v, %v", MaxCandidates+1, len(cs), more, err)
	}
}

// TestMatchRefusesPages: the agent parses the origin again and refuses
// one no login fills into, with the typed error.
func TestMatchRefusesPages(t *testing.T) {
	ctx := context.Background()
	cl, _, _ := startAgent(t)
	for _, s := range []string{"data:text/html,x", "file:///etc/passwd", "", "null", "javascript:alert(1)"} {
		_, err := cl.call(ctx, &request{Op: opMatch, Origin: s})
		var nf *origin.NotFillableError
		if !errors.As(err, &nf) {
			t.Errorf("match for %q: %v, want a NotFillableError", s, err)
		}
	}
}

// TestPrefilterNeverHidesAMatch: whatever the prefilter skips, origin.Match
// would have refused, for tricky saved URLs and pages.
func TestPrefilterNeverHidesAMatch(t *testing.T) {
	saved := []string{
		"example.com", "EXAMPLE.COM", "https://Www.Example.Com./path", "http://www.example.com:80", "https://www.example.com:443",
		"www.example.com:8443", "//www.example.com", "https://user@www.example.com", "https://%65xample.com", "https://ex%41mple.com",
		"https://xn--bcher-kva.example", "https://bücher.example", "https://BÜCHER.example", "https://ｅxample.com", "https://example。com",
		"https://127.0.0.1", "https://127.0.0.1:8443", "https://[::1]", "https://[0:0::1]", "localhost", "localhost:8080", "http://localhost",
		"https://a.github.io", "https://github.io", "https://b.co.uk", "https://co.uk", "https://sub.b.co.uk", "javascript:alert(1)",
		"https://example.com.evil.test", "https://evil.test/example.com", "https://example.com@evil.test", "intranet", "https://INTRANET",
		"https://xn--e1afmkfd.xn--p1ai", "https://пример.рф", "https://WWW.XN--BCHER-KVA.EXAMPLE", "",
	}
	pages := []string{
		"https://www.example.com", "https://example.com", "http://www.example.com", "https://www.example.com:8443",
		"https://bücher.example", "https://127.0.0.1", "https://[::1]", "http://localhost", "http://localhost:8080",
		"https://a.github.io", "https://github.io", "https://sub.b.co.uk", "https://co.uk", "https://intranet", "https://пример.рф",
		"https://evil.test",
	}
	for _, p := range pages {
		o := mustOrigin(t, p)
		f, hf := newPrefilter(o), newHostPrefilter(o)
		for _, s := range saved {
			for _, mode := range []origin.Mode{origin.ModeDomain, origin.ModeHost} {
				r := origin.Match(s, o, mode)
				if r != origin.NoMatch && !f.may(s) {
					t.Errorf("the prefilter for %s skips %q, which matches (%s, %s)", p, s, r, mode)
				}
				if r == origin.HostMatch && !hf.may(s) {
					t.Errorf("the host prefilter for %s skips %q, which matches its host (%s)", p, s, mode)
				}
			}
		}
	}
}

// BenchmarkAgentMatch is the agent's part of a fill on a 10,000-item
// vault: the request for the candidates of a page, the agent's answer and
// decoding it.
func BenchmarkAgentMatch(b *testing.B) {
	ctx := context.Background()
	cl, _, _ := startAgent(b)
	its := make([]*item.Item, 10000)
	for i := range its {
		its[i] = site(fmt.Sprintf("g%d/entry-%05d", i%10, i), fmt.Sprintf("user%05d@example.com", i),
			fmt.Sprintf("https://login.site-%05d.com/signin", i), fmt.Sprintf("app-%05d.example.com", i))
	}
	if _, err := cl.Add(ctx, its...); err != nil {
		b.Fatal(err)
	}
	// One site's page; a page no item is for; a host of the domain every
	// item has a URL on (10,000 domain matches, 50 kept); and the worst
	// case, that domain itself, whose name every URL contains.
	for _, p := range []string{"https://www.site-04242.com", "https://nowhere.test", "https://www.example.com", "https://example.com"} {
		o := mustOrigin(b, p)
		b.Run(o.Host, func(b *testing.B) {
			for b.Loop() {
				if _, err := cl.Match(ctx, o, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
