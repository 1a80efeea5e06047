// Package origin decides whether a saved login may fill into a web page.
//
// It is the one place that rule lives: the browser extension never decides
// on its own, it asks the native host, which asks this package. A password
// manager that fills into the wrong page is a phishing tool, so every rule
// here errs towards not filling; the user can always copy a password by
// hand, but cannot take back one that a lookalike page has received.
//
// The rules, each explained where it is applied:
//
//   - Only http and https pages are fillable (Parse).
//   - https never fills into http; an http login may fill into https
//     (schemeAllows).
//   - Ports must agree, the default port counting as its scheme's
//     (Match).
//   - Hosts are compared in their ASCII (punycode) form, so a lookalike
//     written in another script is simply a different host (canonHost).
//   - In ModeDomain the page must share the saved URL's registrable domain
//     by the Public Suffix List; in ModeHost, or for IP addresses,
//     single-label names and hosts that are themselves public suffixes,
//     the host must be the same (Match).
//   - A frame fills only inside a top-level page of its own site
//     (SameSite), so that another site cannot frame a login page and
//     steer the user's clicks on it.
package origin

import (
	"errors"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// Origin is a web origin that logins may fill into: http or https, a host
// in ASCII (IDNA lookup mapping, lower case, no trailing dot; an IPv6
// address without brackets), and a port (0 = the scheme's default).
type Origin struct {
	Scheme string
	Host   string
	Port   int
}

// NotFillableError says that a page is not one a login may fill into, and
// why. It never carries the page's address, which may hold a token in its
// path or query.
type NotFillableError struct {
	// Reason is a short, lower-case explanation for the user.
	Reason string
}

func (e *NotFillableError) Error() string {
	return "keyhold does not fill logins into this page: " + e.Reason
}

func notFillable(reason string) error { return &NotFillableError{Reason: reason} }

// maxInput bounds what Parse and Match read. URLs longer than this are
// not addresses people save logins for, and a bound keeps a hostile
// import or page from making matching slow.
const maxInput = 8192

// Parse reads a page's origin, as the browser reports it ("https://host",
// "https://host:8443") or as a full URL whose path, query and fragment it
// drops. Every error it returns is a *NotFillableError.
//
// Pages without a network origin of their own (data:, blob:, file:,
// about:blank, javascript:, extension pages, and the opaque origin "null"
// of sandboxed frames) are refused: their content can come from any site,
// so no saved login can belong to them. An address with user information
// ("https://good.com@evil.com") is refused too: the text before the "@"
// exists to make a reader believe the page is another site.
func Parse(s string) (Origin, error) {
	if len(s) > maxInput {
		return Origin{}, notFillable("the address is too long")
	}
	s = strings.TrimSpace(s)
	if s == "" || s == "null" {
		return Origin{}, notFillable("the page has no origin of its own (an opaque or sandboxed frame)")
	}
	u, err := url.Parse(s)
	if err != nil {
		return Origin{}, notFillable("the address is not a valid URL")
	}
	switch u.Scheme {
	case "http", "https":
	case "":
		return Origin{}, notFillable("the address has no scheme")
	default:
		return Origin{}, notFillable("a " + safeScheme(u.Scheme) + ": page has no web origin of its own")
	}
	if u.Opaque != "" {
		return Origin{}, notFillable("the address has no host")
	}
	if u.User != nil {
		return Origin{}, notFillable("the address names a user before its host, a trick to disguise the site")
	}
	o, reason := fromURL(u)
	if reason != "" {
		return Origin{}, notFillable(reason)
	}
	return o, nil
}

// safeScheme returns the scheme if it is short and plain, for an error
// message; anything else is summarised, so an error never echoes a long or
// odd string from a page.
func safeScheme(s string) string {
	if len(s) > 20 {
		return "non-web"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.') {
			return "non-web"
		}
	}
	return s
}

// fromURL builds an Origin from a parsed http(s) URL, or says why it
// cannot.
func fromURL(u *url.URL) (Origin, string) {
	host, ok := canonHost(u.Hostname())
	if !ok {
		return Origin{}, "the address has no valid host"
	}
	port := 0
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Origin{}, "the address has an invalid port"
		}
		if n != defaultPort(u.Scheme) {
			port = n
		}
	}
	return Origin{Scheme: u.Scheme, Host: host, Port: port}, ""
}

func defaultPort(scheme string) int {
	if scheme == "http" {
		return 80
	}
	return 443
}

// String returns the origin as a browser writes it: "https://host" with
// ":port" only when it is not the scheme's default, and IPv6 addresses in
// brackets.
func (o Origin) String() string {
	var b strings.Builder
	b.WriteString(o.Scheme)
	b.WriteString("://")
	if strings.Contains(o.Host, ":") {
		b.WriteString("[" + o.Host + "]")
	} else {
		b.WriteString(o.Host)
	}
	if o.Port != 0 {
		b.WriteString(":" + strconv.Itoa(o.Port))
	}
	return b.String()
}

// Display returns the origin for a person to read: the host in Unicode,
// followed by its ASCII form in parentheses when the two differ, as in
// "https://bücher.example (xn--bcher-kva.example)". Showing both is what
// lets a user notice a lookalike: "аpple.com" written with a Cyrillic "а"
// reads like the real site, its punycode "xn--pple-43d.com" does not.
func (o Origin) Display() string {
	s := o.String()
	if !strings.Contains(o.Host, "xn--") {
		return s
	}
	u, err := displayProfile.ToUnicode(o.Host)
	if err != nil || u == o.Host {
		return s
	}
	return strings.Replace(s, o.Host, u, 1) + " (" + o.Host + ")"
}

// lookupProfile maps a host to its ASCII form as browsers do (UTS #46
// non-transitional processing with the Bidi and joiner rules). It differs
// from idna.Lookup in two places, both to match what browsers accept for
// real sites: it allows "--" in the third and fourth position of a label
// (video CDNs use hosts such as "r3---sn-abc.example.com") and the
// underscore, which browsers allow in host names. Characters that no
// browser allows in a host are rejected afterwards by canonHost.
var lookupProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.Transitional(false),
	idna.CheckHyphens(false),
	idna.StrictDomainName(false),
)

// displayProfile turns an ASCII host back into Unicode for display, with
// the same leniency as lookupProfile.
var displayProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.CheckHyphens(false),
	idna.StrictDomainName(false),
)

// canonHost returns the canonical ASCII form of a host: an IP address in
// its standard text form, or a domain name mapped by IDNA, in lower case,
// without its trailing dot. Comparing these forms, never the text a page
// shows, is what makes a homoglyph lookalike a different host.
func canonHost(h string) (string, bool) {
	if h == "" || len(h) > maxInput {
		return "", false
	}
	if strings.Contains(h, ":") {
		// Only an IPv6 literal has a colon in its host.
		a, err := netip.ParseAddr(h)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", false
		}
		return a.String(), true
	}
	if a, err := netip.ParseAddr(h); err == nil && a.Is4() {
		return a.String(), true
	}
	// One trailing dot names the same host (the DNS root): "example.com."
	h = strings.TrimSuffix(h, ".")
	if h == "" {
		return "", false
	}
	ascii := strings.ToLower(h)
	if needsIDNA(ascii) {
		if !utf8.ValidString(h) {
			return "", false
		}
		var err error
		ascii, err = lookupProfile.ToASCII(h)
		if err != nil {
			return "", false
		}
		// The mapping must be stable: a host whose ASCII form maps to
		// something else again (a label that only decodes to an
		// invalid character) is not one canonical name, and refusing
		// it keeps "same host" an equivalence.
		if again, err := lookupProfile.ToASCII(ascii); err != nil || again != ascii {
			return "", false
		}
	}
	if ascii == "" || len(ascii) > 253 {
		return "", false
	}
	for _, label := range strings.Split(ascii, ".") {
		if label == "" || len(label) > 63 {
			return "", false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", false
			}
		}
	}
	// A name whose last label is a number is an IPv4 address in another
	// spelling ("0x7f.1", "2130706433"), which browsers would turn into
	// a dotted address; such spellings are refused rather than guessed at.
	last := ascii[strings.LastIndexByte(ascii, '.')+1:]
	if isNumeric(last) {
		return "", false
	}
	return ascii, true
}

// needsIDNA reports whether a lower-cased host is anything other than
// plain letters, digits, hyphens, underscores and dots with no punycode
// label; plain hosts are already in canonical form, and skipping the IDNA
// tables for them keeps matching a large vault fast.
func needsIDNA(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return true
		}
	}
	return strings.HasPrefix(h, "xn--") || strings.Contains(h, ".xn--")
}

func isNumeric(label string) bool {
	if label == "" {
		return false
	}
	if strings.HasPrefix(label, "0x") {
		return true
	}
	for i := 0; i < len(label); i++ {
		if label[i] < '0' || label[i] > '9' {
			return false
		}
	}
	return true
}

// isIP reports whether a canonical host is an IP address.
func isIP(h string) bool {
	_, err := netip.ParseAddr(h)
	return err == nil
}

// Mode says how much of a host must agree for a login to fill.
type Mode string

const (
	// ModeDomain fills into any host of the saved URL's registrable
	// domain ("login.example.com" for a login saved on
	// "www.example.com"), because many sites sign in on one subdomain
	// and use another.
	ModeDomain Mode = "domain"
	// ModeHost fills only into the saved URL's exact host, for domains
	// whose subdomains belong to different people (a university, a
	// hosting provider not on the Public Suffix List).
	ModeHost Mode = "host"
)

// ItemMode returns the mode for one item: the item's own setting
// ("domain" or "host") wins over the extension's default, and "" uses the
// default (exact host when defaultExact). Any other value, which item
// validation never lets in, is read as ModeHost: an unknown setting must
// not widen where a login fills.
func ItemMode(itemMatch string, defaultExact bool) Mode {
	switch itemMatch {
	case "domain":
		return ModeDomain
	case "host":
		return ModeHost
	case "":
		if defaultExact {
			return ModeHost
		}
		return ModeDomain
	default:
		return ModeHost
	}
}

// Result is how well a saved URL matches a page; a larger value ranks
// first.
type Result int

const (
	// NoMatch: the login must not fill into the page.
	NoMatch Result = iota
	// DomainMatch: same registrable domain, another host.
	DomainMatch
	// HostMatch: the same host (and port).
	HostMatch
)

func (r Result) String() string {
	switch r {
	case NoMatch:
		return "none"
	case DomainMatch:
		return "domain"
	case HostMatch:
		return "host"
	}
	return "Result(" + strconv.Itoa(int(r)) + ")"
}

// errSaved is the internal signal that a saved URL names no web page.
var errSaved = errors.New("origin: saved URL is not a web address")

// parseSaved reads a URL as items store it: often without a scheme
// ("github.com", "github.com/login", "localhost:8080"), which is read as
// https, since that is what a site that asks for a password serves today
// and reading it as http would let the login fill into an unencrypted
// page. A URL with user information, or of any scheme other than http or
// https (an app link, "javascript:", "data:"), matches no page.
func parseSaved(s string) (Origin, error) {
	if len(s) > maxInput {
		return Origin{}, errSaved
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return Origin{}, errSaved
	}
	if scheme, rest, ok := splitScheme(s); ok {
		switch {
		case strings.HasPrefix(rest, "//"):
			// A real scheme: parsed as written below.
		case rest != "" && rest[0] >= '0' && rest[0] <= '9', strings.Contains(scheme, "."):
			// "localhost:8080", "example.com:8443/x": a host and port.
			s = "https://" + s
		default:
			// "javascript:…", "data:…", "about:blank", "mailto:…".
			return Origin{}, errSaved
		}
	} else if strings.HasPrefix(s, "//") {
		s = "https:" + s
	} else {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return Origin{}, errSaved
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "http" && u.Scheme != "https" || u.Opaque != "" || u.User != nil {
		return Origin{}, errSaved
	}
	o, reason := fromURL(u)
	if reason != "" {
		return Origin{}, errSaved
	}
	return o, nil
}

// splitScheme splits "scheme:rest" when s starts with something shaped
// like a URL scheme (RFC 3986: a letter, then letters, digits, "+", "-",
// ".").
func splitScheme(s string) (scheme, rest string, ok bool) {
	i := strings.IndexByte(s, ':')
	if i <= 0 {
		return "", "", false
	}
	for j := 0; j < i; j++ {
		c := s[j]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (j == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return "", "", false
		}
	}
	return strings.ToLower(s[:i]), s[i+1:], true
}

// valid reports whether o is in the form Parse returns, so that Match
// never trusts an Origin built by hand with upper case, a trailing dot or
// a non-web scheme.
func (o Origin) valid() bool {
	if o.Scheme != "http" && o.Scheme != "https" || o.Port < 0 || o.Port > 65535 {
		return false
	}
	if o.Port == defaultPort(o.Scheme) {
		return false
	}
	c, ok := canonHost(o.Host)
	return ok && c == o.Host
}

// schemeAllows reports whether a login saved for savedScheme may fill into
// a page of pageScheme. A login saved on https was only ever sent
// encrypted: filling it into http would hand it to anyone on the network,
// and an http page of the same name is exactly what such an attacker can
// forge. The other way is safe: a site that moved to https keeps its
// logins.
func schemeAllows(savedScheme, pageScheme string) bool {
	return savedScheme == pageScheme || savedScheme == "http" && pageScheme == "https"
}

// Match reports whether a login saved with URL saved (as stored: perhaps
// without a scheme, perhaps with a path, query or port) may fill into the
// page origin o under mode, and how closely. An o that is not in Parse's
// form, or a mode other than ModeDomain, which is read as ModeHost, never
// widens a match.
func Match(saved string, o Origin, mode Mode) Result {
	if !o.valid() {
		return NoMatch
	}
	return match(saved, o, mode)
}

func match(saved string, o Origin, mode Mode) Result {
	s, err := parseSaved(saved)
	if err != nil || !schemeAllows(s.Scheme, o.Scheme) {
		return NoMatch
	}
	// Ports are compared as numbers with the default spelled as 0. On an
	// upgrade from http to https both defaults are 0, so
	// "http://example.com" still fills into "https://example.com"; an
	// explicit port is another service on the same host and must agree.
	if s.Port != o.Port {
		return NoMatch
	}
	if s.Host == o.Host {
		return HostMatch
	}
	if mode != ModeDomain {
		return NoMatch
	}
	if !sameDomain(s.Host, o.Host) {
		return NoMatch
	}
	return DomainMatch
}

// sameDomain reports whether two different canonical hosts share a
// registrable domain by the Public Suffix List.
func sameDomain(x, y string) bool {
	// IP addresses have no registrable domain ("10.0.0.1" and
	// "10.0.0.2" are unrelated machines), and single-label names
	// ("localhost", "router", an intranet name) are resolved by whatever
	// network the browser is on: only the exact host is trusted. (The
	// Public Suffix List refuses IP addresses too; the check here does
	// not rely on it.)
	if isIP(x) || isIP(y) || !strings.Contains(x, ".") || !strings.Contains(y, ".") {
		return false
	}
	dx, err := publicsuffix.EffectiveTLDPlusOne(x)
	if err != nil {
		// x is itself a public suffix ("github.io", "co.uk"): every
		// site under it belongs to someone else.
		return false
	}
	dy, err := publicsuffix.EffectiveTLDPlusOne(y)
	return err == nil && dx == dy
}

// SameSite reports whether two origins belong to the same site: the same
// host, or hosts of the same registrable domain by the Public Suffix List
// (its private section included, so "a.github.io" and "b.github.io" are
// two sites). IP addresses, single-label names such as "localhost", and
// hosts that are themselves public suffixes are the same site only as
// themselves. Scheme and port are not compared: "http://example.com" and
// "https://example.com:8443" are one site. A caller that also needs the
// schemes to agree — an https frame is filled only inside https pages,
// since an http page around it can be forged by anyone on the network —
// compares Scheme itself; SameSite answers only the question of whose
// site it is.
//
// It decides whether a frame may be filled inside the page that embeds
// it: a login page framed by another site's page is the setting of
// clickjacking (the outer page can cover, fade or move the frame under
// the pointer while the user thinks they act on it), so a frame is filled
// only when its top-level page is of the same site. An origin not in
// Parse's form is of no site.
func SameSite(a, b Origin) bool {
	if !a.valid() || !b.valid() {
		return false
	}
	return a.Host == b.Host || sameDomain(a.Host, b.Host)
}

// Best returns the best Result of an item's saved URLs for o: a login
// fills if any one of its URLs allows it, and ranks by its closest one.
func Best(saved []string, o Origin, mode Mode) Result {
	if !o.valid() {
		return NoMatch
	}
	best := NoMatch
	for _, s := range saved {
		if r := match(s, o, mode); r > best {
			best = r
			if best == HostMatch {
				break
			}
		}
	}
	return best
}
