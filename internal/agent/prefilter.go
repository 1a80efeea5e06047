package agent

import (
	"net/netip"
	"strings"

	"golang.org/x/net/publicsuffix"

	"github.com/keyhold/keyhold/internal/origin"
)

// prefilter rules out, cheaply, the saved URLs that cannot match a page,
// so that origin.Match parses only the few that might. It never decides
// that a URL matches: that is origin.Match's alone.
//
// A URL can match the page only if its host is the page's host or shares
// its registrable domain, so the canonical host ends with needle (the
// page's registrable domain, or its host when it has none). For a saved
// URL in plain ASCII without percent-escapes or punycode, the canonical
// host is the lower-cased text of its host part, so the lower-cased URL
// must contain needle. Anything else (non-ASCII text, "%", "xn--", or a
// page on an IP address, whose spellings vary) goes to origin.Match.
type prefilter struct {
	needle string // "" checks every URL
}

func newPrefilter(o origin.Origin) prefilter {
	if _, err := netip.ParseAddr(o.Host); err != nil && o.Host != "" {
		if d, err := publicsuffix.EffectiveTLDPlusOne(o.Host); err == nil {
			return prefilter{needle: d}
		}
		return prefilter{needle: o.Host}
	}
	return prefilter{}
}

// newHostPrefilter rules out the URLs that cannot name the page's exact
// host, by the same reasoning with the host as needle.
func newHostPrefilter(o origin.Origin) prefilter {
	if _, err := netip.ParseAddr(o.Host); err != nil && o.Host != "" {
		return prefilter{needle: o.Host}
	}
	return prefilter{}
}

// may reports whether saved might match the page.
func (f prefilter) may(saved string) bool {
	if f.needle == "" {
		return true
	}
	for i := 0; i < len(saved); i++ {
		if c := saved[i]; c >= 0x80 || c == '%' {
			return true
		}
	}
	l := strings.ToLower(saved) // no copy unless saved has upper case
	return strings.Contains(l, f.needle) || strings.Contains(l, "xn--")
}

// any reports whether any of urls might match the page.
func (f prefilter) any(urls []string) bool {
	for _, u := range urls {
		if f.may(u) {
			return true
		}
	}
	return false
}
