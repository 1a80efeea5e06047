package origin

import (
	"errors"
	"strings"
	"testing"
)

// matchCase is one row of the matcher's table: a login saved with URL
// saved, a page at page, and what each mode must answer. The table is the
// specification of where a login fills; docs/BROWSER.md lists the same
// rows.
type matchCase struct {
	name   string
	saved  string
	page   string
	domain Result // under ModeDomain
	host   Result // under ModeHost
}

const (
	no  = NoMatch
	dom = DomainMatch
	hst = HostMatch
)

var matchCases = []matchCase{
	// The ordinary cases.
	{"same origin", "https://github.com", "https://github.com", hst, hst},
	{"saved without scheme", "github.com", "https://github.com", hst, hst},
	{"saved with path and query", "github.com/login?return_to=%2F#top", "https://github.com", hst, hst},
	{"saved full URL, page full URL", "https://github.com/login", "https://github.com/session?x=1", hst, hst},
	{"saved www, page apex", "https://www.github.com/login", "https://github.com", dom, no},
	{"saved apex, page subdomain", "https://github.com", "https://gist.github.com", dom, no},
	{"sibling subdomains", "https://a.example.com", "https://b.example.com", dom, no},
	{"deep subdomain", "example.com", "https://deep.sub.example.com", dom, no},
	{"saved scheme-relative", "//example.com/login", "https://example.com", hst, hst},

	// Lookalikes: other registrable domains, whatever they look like.
	{"suffix trick", "paypal.com", "https://paypal.com.evil.com", no, no},
	{"prefix trick", "paypal.com", "https://evilpaypal.com", no, no},
	{"digit for letter", "paypal.com", "https://paypa1.com", no, no},
	{"hyphenated lookalike", "paypal.com", "https://paypal-login.com", no, no},
	{"Cyrillic a, Unicode page", "paypal.com", "https://pаypal.com", no, no},
	{"Cyrillic a, punycode page", "paypal.com", "https://xn--pypal-4ve.com", no, no},
	{"all-Cyrillic apple", "apple.com", "https://xn--80ak6aa92e.com", no, no},
	{"page path names the site", "paypal.com", "https://evil.com/paypal.com", no, no},
	{"saved path names the page", "https://evil.com/paypal.com", "https://paypal.com", no, no},
	{"real IDN saved in Unicode", "https://bücher.example", "https://xn--bcher-kva.example", hst, hst},
	{"real IDN saved upper case", "BÜCHER.example", "https://xn--bcher-kva.example", hst, hst},
	{"real IDN saved in punycode", "xn--bcher-kva.example", "https://bücher.example", hst, hst},
	{"ideographic full stop maps to dot", "https://paypal。com", "https://paypal.com", hst, hst},

	// Userinfo: the part before "@" is not the host.
	{"userinfo saved, page is the real host", "https://paypal.com@evil.com", "https://evil.com", no, no},
	{"userinfo saved, page is the decoy", "https://paypal.com@evil.com", "https://paypal.com", no, no},
	{"credentials in saved URL", "https://user:pw@example.com", "https://example.com", no, no},
	{"backslash before @ saved, page after it", `https://paypal.com\@evil.com`, "https://evil.com", no, no},
	{"backslash before @ saved, page before it", `https://paypal.com\@evil.com`, "https://paypal.com", no, no},
	{"fragment hides a host", "https://evil.com#@paypal.com", "https://paypal.com", no, no},

	// Case and trailing dots.
	{"upper case saved", "HTTPS://GitHub.COM/Login", "https://github.com", hst, hst},
	{"upper case page", "github.com", "HTTPS://GITHUB.COM", hst, hst},
	{"trailing dot on page", "example.com", "https://example.com.", hst, hst},
	{"trailing dot saved", "https://example.com./login", "https://example.com", hst, hst},
	{"two trailing dots saved", "example.com..", "https://example.com", no, no},
	{"surrounding spaces saved", "  https://example.com  ", "https://example.com", hst, hst},

	// Schemes: https never fills into http; http may fill into https.
	{"https login, http page", "https://example.com", "http://example.com", no, no},
	{"login without scheme, http page", "example.com", "http://example.com", no, no},
	{"https login, http sibling page", "https://a.example.com", "http://b.example.com", no, no},
	{"http login, http page", "http://example.com", "http://example.com", hst, hst},
	{"http login, https page", "http://example.com", "https://example.com", hst, hst},
	{"http login, https subdomain", "http://www.example.com", "https://login.example.com", dom, no},
	{"http login upper case", "HTTP://EXAMPLE.COM", "http://example.com", hst, hst},
	{"ftp login", "ftp://example.com", "https://example.com", no, no},
	{"websocket URL", "wss://example.com", "https://example.com", no, no},

	// Ports: an explicit port must agree; none means the default.
	{"same explicit port", "https://example.com:8443", "https://example.com:8443", hst, hst},
	{"saved port, page default", "https://example.com:8443", "https://example.com", no, no},
	{"saved default, page port", "https://example.com", "https://example.com:8443", no, no},
	{"other explicit port", "https://example.com:8443", "https://example.com:9443", no, no},
	{"explicit default port saved", "https://example.com:443", "https://example.com", hst, hst},
	{"explicit default port on page", "example.com", "https://example.com:443", hst, hst},
	{"host:port saved without scheme", "example.com:8443/login", "https://example.com:8443", hst, hst},
	{"http default port, upgraded", "http://example.com:80", "https://example.com", hst, hst},
	{"http port 443 is not https's default", "http://example.com:443", "https://example.com", no, no},
	{"same explicit port, upgraded", "http://example.com:8080", "https://example.com:8080", hst, hst},
	{"sibling with the same port", "https://a.example.com:8443", "https://b.example.com:8443", dom, no},
	{"sibling with another port", "https://a.example.com:8443", "https://b.example.com", no, no},
	{"invalid saved port", "https://example.com:99999", "https://example.com", no, no},

	// IP addresses: exact address only.
	{"same IPv4", "https://192.168.1.1", "https://192.168.1.1", hst, hst},
	{"IPv4 without scheme, with port", "192.168.1.1:8443", "https://192.168.1.1:8443", hst, hst},
	{"neighbouring IPv4", "https://192.168.1.1", "https://192.168.1.2", no, no},
	{"IPv4 sharing last octets", "https://10.0.0.1", "https://11.0.0.1", no, no},
	{"IPv4 spelled in hex", "https://0x7f.0.0.1", "https://127.0.0.1", no, no},
	{"same IPv6", "https://[2001:db8::1]", "https://[2001:db8::1]", hst, hst},
	{"IPv6 spelled longer", "https://[2001:db8:0:0::1]:8443", "https://[2001:db8::1]:8443", hst, hst},
	{"IPv6 without scheme", "[::1]:8443", "https://[::1]:8443", hst, hst},
	{"neighbouring IPv6", "https://[2001:db8::1]", "https://[2001:db8::2]", no, no},
	{"IPv6 loopback is not IPv4 loopback", "https://[::1]", "https://127.0.0.1", no, no},
	{"IP is not localhost", "https://127.0.0.1", "https://localhost", no, no},

	// Single-label hosts: exact host only.
	{"localhost http", "http://localhost:8080", "http://localhost:8080", hst, hst},
	{"localhost without scheme is https", "localhost:8080", "http://localhost:8080", no, no},
	{"localhost https", "localhost:8080", "https://localhost:8080", hst, hst},
	{"localhost, other port", "http://localhost:8080", "http://localhost:8081", no, no},
	{"subdomain of localhost", "https://localhost", "https://app.localhost", no, no},
	{"intranet name", "https://router", "https://router", hst, hst},
	{"other intranet name", "https://router", "https://printer", no, no},
	{"under an intranet name", "https://intranet", "https://wiki.intranet", no, no},

	// Public suffixes, the private section included.
	{"public suffix itself", "https://github.io", "https://github.io", hst, hst},
	{"public suffix, page below it", "https://github.io", "https://someone.github.io", no, no},
	{"two sites on github.io", "https://a.github.io", "https://b.github.io", no, no},
	{"inside one github.io site", "https://a.github.io", "https://www.a.github.io", dom, no},
	{"country suffix saved", "co.uk", "https://bbc.co.uk", no, no},
	{"two sites on co.uk", "https://bbc.co.uk", "https://evil.co.uk", no, no},
	{"inside one co.uk site", "https://www.bbc.co.uk", "https://news.bbc.co.uk", dom, no},
	{"two sites on blogspot", "https://alice.blogspot.com", "https://bob.blogspot.com", no, no},
	{"two sites on a wildcard suffix", "https://a.foo.ck", "https://b.foo.ck", no, no},
	{"unlisted top-level domain", "https://a.example.internal", "https://b.example.internal", dom, no},
	{"hosts browsers accept", "https://r3---sn-abc.googlevideo.com", "https://r3---sn-abc.googlevideo.com", hst, hst},
	{"underscore host", "https://my_host.example.com", "https://other.example.com", dom, no},

	// Saved URLs that name no web page.
	{"empty", "", "https://example.com", no, no},
	{"javascript", "javascript:alert(1)", "https://example.com", no, no},
	{"data", "data:text/html,<form>", "https://example.com", no, no},
	{"about:blank", "about:blank", "https://example.com", no, no},
	{"mailto", "mailto:me@example.com", "https://example.com", no, no},
	{"app link", "android://hash@com.example.app/", "https://example.com", no, no},
	{"blob", "blob:https://example.com/1b2c", "https://example.com", no, no},
	{"file", "file:///home/me/login.html", "https://example.com", no, no},
	{"view-source", "view-source:https://example.com", "https://example.com", no, no},
	{"chrome-extension", "chrome-extension://dcefochpojkbelobkomknnhojhpichcd/popup.html", "https://example.com", no, no},
	{"invalid host", "https://exa mple.com", "https://example.com", no, no},
	{"invalid punycode", "https://xn--abc-.com", "https://example.com", no, no},
	{"only a scheme", "https://", "https://example.com", no, no},
	{"very long", "https://example.com/" + strings.Repeat("a", maxInput), "https://example.com", no, no},
}

func TestMatchTable(t *testing.T) {
	for _, c := range matchCases {
		t.Run(c.name, func(t *testing.T) {
			o, err := Parse(c.page)
			if err != nil {
				t.Fatalf("Parse(%q): %v", c.page, err)
			}
			if got := Match(c.saved, o, ModeDomain); got != c.domain {
				t.Errorf("domain mode: Match(%q, %q) = %v, want %v", c.saved, o, got, c.domain)
			}
			if got := Match(c.saved, o, ModeHost); got != c.host {
				t.Errorf("host mode: Match(%q, %q) = %v, want %v", c.saved, o, got, c.host)
			}
		})
	}
}

// TestNotFillable lists pages no login may fill into, whatever is saved:
// Parse refuses them with a *NotFillableError, which the host turns into a
// refusal the user can read.
func TestNotFillable(t *testing.T) {
	pages := []string{
		"",
		"null",
		"data:text/html,<form><input type=password></form>",
		"blob:https://example.com/0b6c8f8e-1a2b-4c3d-9e8f-001122334455",
		"file:///home/me/login.html",
		"about:blank",
		"about:srcdoc",
		"javascript:alert(1)",
		"chrome-extension://dcefochpojkbelobkomknnhojhpichcd/popup.html",
		"moz-extension://4b9a0f0e-0000-4000-8000-000000000000/popup.html",
		"chrome://settings",
		"view-source:https://example.com",
		"ftp://example.com",
		"wss://example.com",
		"example.com",
		"https://good.com@evil.com",
		"https://user:pw@example.com",
		"https://",
		"https:///login",
		"https://exa mple.com",
		"https://ex%41mple.com",
		"https://example.com:0",
		"https://example.com:65536",
		"https://example.com:port",
		"https://[fe80::1%25eth0]",
		"https://0x7f.1",
		"https://2130706433",
		"https://xn--abc-.com",
		"https://a\u200db.com",
		"https://example..com",
		"https://" + strings.Repeat("a", 64) + ".com",
		"https://example.com/" + strings.Repeat("a", maxInput),
	}
	for _, p := range pages {
		o, err := Parse(p)
		var nf *NotFillableError
		if !errors.As(err, &nf) {
			t.Errorf("Parse(%q) = %v, %v; want a *NotFillableError", p, o, err)
			continue
		}
		if nf.Reason == "" {
			t.Errorf("Parse(%q): empty reason", p)
		}
	}
}

// TestNotFillableKeepsAddressOut checks that the error for a refused page
// does not repeat the page's address, whose query may hold a token.
func TestNotFillableKeepsAddressOut(t *testing.T) {
	for _, p := range []string{
		"https://user:hunter2@example.com/?token=s3cr3t",
		"data:text/html;s3cr3t",
		"s3cr3t-scheme-that-is-far-too-long-to-show://x",
		"https://s3cr3t.example.com:99999",
	} {
		_, err := Parse(p)
		if err == nil {
			t.Fatalf("Parse(%q) accepted", p)
		}
		if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Parse(%q) error repeats the address: %v", p, err)
		}
	}
}

func TestParseCanonical(t *testing.T) {
	cases := []struct{ in, want string }{
		{"https://example.com", "https://example.com"},
		{"HTTPS://Example.COM:443/path?q=1#frag", "https://example.com"},
		{"http://example.com:80/", "http://example.com"},
		{"http://example.com:443", "http://example.com:443"},
		{"https://example.com:8443", "https://example.com:8443"},
		{"https://example.com.", "https://example.com"},
		{"https://bücher.example/", "https://xn--bcher-kva.example"},
		{"https://ℂ.com", "https://c.com"},
		{"https://[2001:DB8:0:0::1]:8443/x", "https://[2001:db8::1]:8443"},
		{"https://[::1]", "https://[::1]"},
		{"https://192.168.001.1", ""}, // leading zeros: refused, not guessed
		{"https://10.0.0.1:443", "https://10.0.0.1"},
		{"https://my_host.example.com", "https://my_host.example.com"},
	}
	for _, c := range cases {
		o, err := Parse(c.in)
		if c.want == "" {
			if err == nil {
				t.Errorf("Parse(%q) = %v, want an error", c.in, o)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if got := o.String(); got != c.want {
			t.Errorf("Parse(%q).String() = %q, want %q", c.in, got, c.want)
		}
		again, err := Parse(o.String())
		if err != nil || again != o {
			t.Errorf("Parse(%q) not stable: %v, %v", o.String(), again, err)
		}
	}
	o, _ := Parse("https://[::1]:8443")
	if o.Host != "::1" || o.Port != 8443 {
		t.Errorf("IPv6 origin fields: %+v", o)
	}
}

// TestDisplay checks that a user sees a punycode host in Unicode, with its
// ASCII form beside it, so that a lookalike shows what it really is.
func TestDisplay(t *testing.T) {
	cases := []struct{ in, want string }{
		{"https://example.com", "https://example.com"},
		{"https://example.com:8443", "https://example.com:8443"},
		{"https://xn--bcher-kva.example", "https://bücher.example (xn--bcher-kva.example)"},
		{"https://pаypal.com", "https://pаypal.com (xn--pypal-4ve.com)"},
		{"http://xn--80ak6aa92e.com:8080", "http://аррӏе.com:8080 (xn--80ak6aa92e.com)"},
		{"https://[::1]", "https://[::1]"},
	}
	for _, c := range cases {
		o, err := Parse(c.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.in, err)
		}
		if got := o.Display(); got != c.want {
			t.Errorf("Display(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestMatchRefusesHandBuiltOrigins checks that an Origin not in Parse's
// form never matches, so that a caller who skips Parse cannot widen a
// match with upper case, a trailing dot or a non-web scheme.
func TestMatchRefusesHandBuiltOrigins(t *testing.T) {
	for _, o := range []Origin{
		{},
		{Scheme: "https", Host: "Example.com"},
		{Scheme: "https", Host: "example.com."},
		{Scheme: "https", Host: "example.com", Port: 443},
		{Scheme: "https", Host: "example.com", Port: -1},
		{Scheme: "https", Host: "example.com", Port: 70000},
		{Scheme: "HTTPS", Host: "example.com"},
		{Scheme: "ftp", Host: "example.com"},
		{Scheme: "data", Host: "example.com"},
		{Scheme: "https", Host: "bücher.example"},
		{Scheme: "https", Host: "[::1]"},
		{Scheme: "https", Host: ""},
	} {
		for _, saved := range []string{"https://example.com", "ftp://example.com", "https://bücher.example", "https://[::1]", ""} {
			if r := Match(saved, o, ModeDomain); r != NoMatch {
				t.Errorf("Match(%q, %#v) = %v, want none", saved, o, r)
			}
			if r := Best([]string{saved}, o, ModeDomain); r != NoMatch {
				t.Errorf("Best(%q, %#v) = %v, want none", saved, o, r)
			}
		}
	}
}

// TestUnknownModeIsExact checks that a mode other than the two named ones
// never fills into a sibling subdomain.
func TestUnknownModeIsExact(t *testing.T) {
	o, _ := Parse("https://b.example.com")
	for _, m := range []Mode{"", "Domain", "any", "host"} {
		if r := Match("https://a.example.com", o, m); r != NoMatch {
			t.Errorf("mode %q: sibling matched (%v)", m, r)
		}
	}
}

func TestItemMode(t *testing.T) {
	cases := []struct {
		item         string
		defaultExact bool
		want         Mode
	}{
		{"", false, ModeDomain},
		{"", true, ModeHost},
		{"domain", false, ModeDomain},
		{"domain", true, ModeDomain},
		{"host", false, ModeHost},
		{"host", true, ModeHost},
		{"anything else", false, ModeHost},
		{"DOMAIN", false, ModeHost},
	}
	for _, c := range cases {
		if got := ItemMode(c.item, c.defaultExact); got != c.want {
			t.Errorf("ItemMode(%q, %v) = %q, want %q", c.item, c.defaultExact, got, c.want)
		}
	}
}

func TestBest(t *testing.T) {
	o, _ := Parse("https://login.example.com")
	cases := []struct {
		saved []string
		mode  Mode
		want  Result
	}{
		{nil, ModeDomain, NoMatch},
		{[]string{"https://evil.com", "javascript:x"}, ModeDomain, NoMatch},
		{[]string{"https://evil.com", "https://www.example.com"}, ModeDomain, DomainMatch},
		{[]string{"https://www.example.com", "login.example.com", "https://evil.com"}, ModeDomain, HostMatch},
		{[]string{"https://www.example.com", "login.example.com"}, ModeHost, HostMatch},
		{[]string{"https://www.example.com"}, ModeHost, NoMatch},
		{[]string{"https://login.example.com:8443", "http://login.example.com"}, ModeHost, HostMatch},
	}
	for _, c := range cases {
		if got := Best(c.saved, o, c.mode); got != c.want {
			t.Errorf("Best(%q, %v) = %v, want %v", c.saved, c.mode, got, c.want)
		}
	}
}

func TestResultOrder(t *testing.T) {
	if !(HostMatch > DomainMatch && DomainMatch > NoMatch) {
		t.Fatal("HostMatch must rank above DomainMatch above NoMatch")
	}
	for r, s := range map[Result]string{NoMatch: "none", DomainMatch: "domain", HostMatch: "host"} {
		if r.String() != s {
			t.Errorf("%d.String() = %q, want %q", int(r), r.String(), s)
		}
	}
}

func BenchmarkBest(b *testing.B) {
	o, _ := Parse("https://login.example.com")
	saved := []string{"https://www.example.org/login", "example.net", "https://bücher.example"}
	for b.Loop() {
		Best(saved, o, ModeDomain)
	}
}

func TestSameSite(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{"https://example.com", "https://example.com", true},
		{"https://www.example.com", "https://login.example.com", true},
		{"https://example.com", "https://deep.sub.example.com", true},
		{"http://example.com", "https://example.com", true},
		{"https://example.com", "https://example.com:8443", true},
		{"https://EXAMPLE.com.", "https://example.com", true},
		{"https://bücher.example", "https://www.xn--bcher-kva.example", true},
		{"https://example.com", "https://example.org", false},
		{"https://paypal.com", "https://paypal.com.evil.test", false},
		{"https://paypal.com", "https://evilpaypal.com", false},
		{"https://paypal.com", "https://xn--pypal-4ve.com", false},
		{"https://a.github.io", "https://b.github.io", false},
		{"https://a.github.io", "https://www.a.github.io", true},
		{"https://github.io", "https://a.github.io", false},
		{"https://github.io", "https://github.io", true},
		{"https://bbc.co.uk", "https://evil.co.uk", false},
		{"https://co.uk", "https://bbc.co.uk", false},
		{"https://news.bbc.co.uk", "https://www.bbc.co.uk", true},
		{"https://alice.blogspot.com", "https://bob.blogspot.com", false},
		{"https://192.168.1.1", "https://192.168.1.1:8443", true},
		{"https://192.168.1.1", "https://192.168.1.2", false},
		{"https://10.0.0.1", "https://11.0.0.1", false},
		{"https://[2001:db8::1]", "https://[2001:db8:0::1]", true},
		{"https://[2001:db8::1]", "https://[2001:db8::2]", false},
		{"https://127.0.0.1", "https://localhost", false},
		{"http://localhost", "http://localhost:8080", true},
		{"http://localhost", "http://app.localhost", false},
		{"https://router", "https://printer", false},
		{"https://intranet", "https://wiki.intranet", false},
	}
	for _, c := range cases {
		a, err := Parse(c.a)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.a, err)
		}
		b, err := Parse(c.b)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.b, err)
		}
		if got := SameSite(a, b); got != c.want {
			t.Errorf("SameSite(%s, %s) = %v, want %v", a, b, got, c.want)
		}
		if got := SameSite(b, a); got != c.want {
			t.Errorf("SameSite(%s, %s) = %v, want %v (reversed)", b, a, got, c.want)
		}
	}
	good, _ := Parse("https://example.com")
	for _, o := range []Origin{{}, {Scheme: "https", Host: "Example.com"}, {Scheme: "data", Host: "example.com"}, {Scheme: "https", Host: "example.com."}} {
		if SameSite(good, o) || SameSite(o, good) || SameSite(o, o) {
			t.Errorf("hand-built origin %#v is of a site", o)
		}
	}
}
