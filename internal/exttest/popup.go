//go:build unix

package exttest

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// PopupURL is the extension's toolbar popup.
const PopupURL = "chrome-extension://" + ExtensionID + "/popup.html"

// OptionsURL is the extension's options page.
const OptionsURL = "chrome-extension://" + ExtensionID + "/options.html"

// Page is the window's tab, driven for test t.
func (e *Env) Page(t testing.TB) *Tab {
	return &Tab{Ctx: e.Browser.Ctx(), T: t}
}

// ClosePopups closes any open popup (a popup left by an earlier step
// would be found instead of the next one).
func (b *Browser) ClosePopups() {
	ts, _ := b.Targets()
	for _, t := range ts {
		if t.Type == "page" && strings.HasPrefix(t.URL, PopupURL) {
			chromedp.CallBrowser(b.ctx, target.CloseTarget, target.CloseTargetParams{TargetID: t.TargetID})
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		ts, _ := b.Targets()
		open := false
		for _, t := range ts {
			open = open || (t.Type == "page" && strings.HasPrefix(t.URL, PopupURL))
		}
		if !open {
			return
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// OpenPopup opens the toolbar popup the way a keyboard user does: the
// extension's shortcut (Alt+Shift+K, chrome.commands' _execute_action),
// pressed on the display. The popup is closed when the test ends.
func (b *Browser) OpenPopup(t testing.TB) *Tab {
	t.Helper()
	b.ClosePopups()
	if err := b.Key("alt+shift+k"); err != nil {
		t.Fatal(err)
	}
	p, err := b.AttachPopup(t, 15*time.Second)
	if err != nil {
		t.Fatalf("the shortcut Alt+Shift+K opened no popup: %v", err)
	}
	return p
}

// AttachPopup waits for the popup to be open (opened by the user, or by
// the extension itself) and for it to show a state, and drives it. It is
// closed when the test ends.
func (b *Browser) AttachPopup(t testing.TB, timeout time.Duration) (*Tab, error) {
	t.Helper()
	info, err := b.WaitTarget(PopupURL, timeout)
	if err != nil {
		return nil, err
	}
	ctx, cancel := b.Attach(info.TargetID)
	t.Cleanup(func() {
		cancel()
		b.ClosePopups()
	})
	p := &Tab{Ctx: ctx, T: t}
	// Wait until the popup has asked the host and shows a state.
	deadline := time.Now().Add(p.timeout())
	for !p.Has("Search", "searchbox", "textbox") && !p.Has("Unlock", "button") {
		if time.Now().After(deadline) {
			t.Fatalf("the popup shows neither the search field nor the unlock form; it shows:\n%s", p.Text())
		}
		time.Sleep(40 * time.Millisecond)
	}
	return p, nil
}

// Candidate waits for the candidate group named title in the popup.
func (p *Tab) Candidate(title string) *Element {
	p.T.Helper()
	return p.Find(title, "group")
}

// CandidatesLoaded waits until the popup's list for the site is filled
// in: a group, or the line that says no login matches.
func (p *Tab) CandidatesLoaded() {
	p.T.Helper()
	deadline := time.Now().Add(p.timeout())
	for {
		if strings.Contains(p.Text(), "No login matches this site") || p.Has("", "group") {
			return
		}
		if time.Now().After(deadline) {
			p.T.Fatalf("the popup listed no candidates and did not say none match; it shows:\n%s", p.Text())
		}
		time.Sleep(40 * time.Millisecond)
	}
}

// SetOption opens the options page in a tab of its own, sets the checkbox
// named name to on, and closes the tab.
func (b *Browser) SetOption(t testing.TB, name string, on bool) {
	t.Helper()
	res, err := chromedp.CallBrowser(b.ctx, target.CreateTarget, target.CreateTargetParams{URL: OptionsURL})
	if err != nil {
		t.Fatalf("opening the options page: %v", err)
	}
	ctx, cancel := b.Attach(res.TargetID)
	defer func() {
		cancel()
		chromedp.CallBrowser(b.ctx, target.CloseTarget, target.CloseTargetParams{TargetID: res.TargetID})
	}()
	p := &Tab{Ctx: ctx, T: t}
	box := p.Find(name, "checkbox")
	if box.Checked() != on {
		box.Click()
	}
	deadline := time.Now().Add(p.timeout())
	for box.Checked() != on {
		if time.Now().After(deadline) {
			t.Fatalf("the option %q did not become %v", name, on)
		}
		time.Sleep(40 * time.Millisecond)
	}
	// The page saves to chrome.storage on change; give it a moment to land.
	time.Sleep(300 * time.Millisecond)
}
