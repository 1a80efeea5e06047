//go:build unix

package exttest

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// storedOffers lists the offers to save or update the extension holds
// (its session storage, read from its own popup page): a save_check the
// host answered for a new login leaves one there.
func storedOffers(t *testing.T, pop *Tab) []string {
	t.Helper()
	return Eval[[]string](pop, `chrome.storage.session.get(null).then((o) => Object.keys(o).filter((k) => k.startsWith("offer:")))`)
}

// TestPageSentFormsOfferNothing: a page that sends its own login form
// from script, with a username and password it chose, raises no offer
// to save, and the extension asks the host nothing about it — whether it
// calls requestSubmit() or clicks its submit button as it loads, or does
// so while the user is active (a click on an unrelated button). The same
// page, typed into and sent by the user, is offered for saving.
func TestPageSentFormsOfferNothing(t *testing.T) {
	e := env(t)
	s := e.Server
	for _, how := range []string{"request", "click", "afterclick"} {
		t.Run(how, func(t *testing.T) {
			username, password := secret("chosen")+"@example.org", secret("Chosen")
			q := url.Values{"how": {how}, "u": {username}, "p": {password}}
			mark := s.Mark()
			p := e.open(t, s.URL("evil.test", "/autosubmit.html?"+q.Encode()))
			if how == "afterclick" {
				p.Find("OK", "button").Click()
			}
			if _, ok := s.WaitFor(mark, 10*time.Second, func(r Report) bool { return r.Kind == "ready" && r.Path == "/done" }); !ok {
				t.Fatal("the page did not send its form")
			}
			time.Sleep(700 * time.Millisecond) // what the extension does with the submit
			pop := e.Browser.OpenPopup(t)
			pop.CandidatesLoaded()
			if pop.Has("Save", "button") || pop.Has("Update", "button") || strings.Contains(pop.Text(), username) {
				t.Errorf("the popup offers to save a login the page sent by itself; it shows:\n%s", pop.Text())
			}
			// The values are new: had the host been asked, it would have
			// answered "save" and the extension would hold an offer.
			if got := storedOffers(t, pop); len(got) > 0 {
				t.Errorf("the extension asked the host about a form the page sent by itself (offers held: %v)", got)
			}
			e.Browser.ClosePopups()
		})
	}
	t.Run("sent by the user", func(t *testing.T) {
		username, password := secret("typed")+"@example.org", secret("Typed")
		p := e.open(t, s.URL("evil.test", "/autosubmit.html?how=none"))
		p.Find("Email", "textbox").Type(username)
		p.Find("Password", "textbox").Type(password)
		mark := s.Mark()
		p.Find("Sign in", "button").Click()
		if _, ok := s.WaitFor(mark, 10*time.Second, func(r Report) bool { return r.Kind == "ready" && r.Path == "/done" }); !ok {
			t.Fatal("the form was not sent")
		}
		pop := e.Browser.OpenPopup(t)
		pop.Find("Save", "button")
		// The offer names the site that sent the form.
		pop.WaitText(username + " on evil.test")
		// The focus stays in Search: an Enter does not answer the offer.
		if !Eval[bool](pop, `document.activeElement && document.activeElement.id === "search"`) {
			t.Errorf("the popup put the focus on %s, not in Search", Eval[string](pop, `document.activeElement ? document.activeElement.textContent || document.activeElement.id : "nothing"`))
		}
		e.Browser.ClosePopups()
		// The user goes on to another site: the offer, and the password it
		// holds, are dropped.
		e.open(t, s.URL("bank-test.test", "/login.html"))
		pop = e.Browser.OpenPopup(t)
		pop.CandidatesLoaded()
		if pop.Has("Save", "button") || strings.Contains(pop.Text(), username) {
			t.Errorf("the offer is still open on another site; the popup shows:\n%s", pop.Text())
		}
		if got := storedOffers(t, pop); len(got) > 0 {
			t.Errorf("the extension still holds an offer after the tab went to another site: %v", got)
		}
		e.Browser.ClosePopups()
	})
}

// TestUnlockPasswordTooLong: a password longer than Keyhold takes (in
// UTF-8 bytes, as the host counts them: here fewer characters than bytes)
// is refused with a message saying so, not sent as an empty one.
func TestUnlockPasswordTooLong(t *testing.T) {
	e := env(t)
	if err := e.Keyhold.Lock(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Keyhold.Unlock() }) // the next tests want the agent
	e.open(t, e.Server.URL("locked.test", "/login.html"))
	pop := e.Browser.OpenPopup(t)
	pop.Find("Password", "textbox").Click()
	pop.InsertText(strings.Repeat("é", 2100)) // 2,100 characters, 4,200 bytes
	pop.Find("Unlock", "button").Click()
	pop.WaitText("The password is too long")
	if pop.Has("Search", "searchbox") {
		t.Error("the popup unlocked with an overlong password")
	}
}

// TestHiddenByTricksGetsNothing: a login form hidden from the user by
// CSS tricks that leave its fields sized, enabled and in place (or fixed
// beyond the viewport's far edges) is not filled, and nothing reaches the
// page; the same form, shown (with the small controls login forms lay over
// their fields), is filled.
func TestHiddenByTricksGetsNothing(t *testing.T) {
	e := env(t)
	s := e.Server
	l := e.addLogin(t, "Covered", s.Origin("hidden.test"))
	origin := s.Origin("hidden.test")
	for _, c := range []string{"fixed-right", "fixed-below", "clip-path", "filter", "inert-cover", "tiles"} {
		t.Run(c, func(t *testing.T) {
			mark := s.Mark()
			e.open(t, s.URL("hidden.test", "/covers.html?case="+c))
			pop := e.Browser.OpenPopup(t)
			pop.Candidate(l.Title).Find("Fill", "button").Click()
			pop.WaitText("no visible login field")
			time.Sleep(300 * time.Millisecond)
			e.expectNothing(t, mark, l.Username, l.Password)
			e.Browser.ClosePopups()
		})
	}
	for _, c := range []string{"none", "controls"} {
		// Shown as it is, or with a show-password button and an icon
		// laid over the ends of its fields: filled.
		t.Run("shown/"+c, func(t *testing.T) {
			mark := s.Mark()
			e.open(t, s.URL("hidden.test", "/covers.html?case="+c))
			e.fillFromPopup(t, l)
			e.waitLoginFilled(t, mark, origin, l)
		})
	}
}

// TestFillGoesToTheFocusedForm: on a page with two login forms, the
// login goes to the form the user is in, not to the first one.
func TestFillGoesToTheFocusedForm(t *testing.T) {
	e := env(t)
	s := e.Server
	l := e.addLogin(t, "Two forms", s.Origin("hidden.test"))
	origin := s.Origin("hidden.test")
	mark := s.Mark()
	p := e.open(t, s.URL("hidden.test", "/twoforms.html"))
	p.Find("Email (second form)", "textbox").Click()
	e.fillFromPopup(t, l)
	e.waitFilled(t, mark, origin, "user2", l.Username)
	e.waitFilled(t, mark, origin, "pass2", l.Password)
	time.Sleep(300 * time.Millisecond)
	for _, r := range s.Containing(mark, l.Username, l.Password) {
		if r.Field == "user1" || r.Field == "pass1" {
			t.Errorf("the first form, which the user was not in, got a secret:\n%s", summary([]Report{r}, l.Username, l.Password))
		}
	}
}

// TestNestedFrames: a login page of the login's own site, framed by
// another site's frame inside a page of the login's site (bank → evil →
// bank), gets nothing, although its own origin and the top page's both
// match; framed by its own site all the way down, it is filled.
func TestNestedFrames(t *testing.T) {
	e := env(t)
	s := e.Server
	l := e.addLogin(t, "Bank nested", s.Origin("bank.test"))
	nest := func(outer, inner string) string {
		return s.URL(outer, "/frame.html?src=") + url.QueryEscape(s.URL(inner, "/frame.html?src=")+url.QueryEscape(s.URL("bank.test", "/login.html")))
	}
	t.Run("through another site", func(t *testing.T) {
		mark := s.Mark()
		e.open(t, nest("bank.test", "evil.test"))
		waitReady(t, s, mark, 3)
		e.tryEveryGesture(t, l, true)
		e.expectNothing(t, mark, l.Username, l.Password)
	})
	t.Run("its own site all the way", func(t *testing.T) {
		mark := s.Mark()
		e.open(t, nest("bank.test", "bank.test"))
		waitReady(t, s, mark, 3)
		e.fillFromPopup(t, l)
		e.waitFilled(t, mark, s.Origin("bank.test"), "pass", l.Password)
	})
}

// waitReady waits until n documents (the page and its frames) reported
// that they are ready.
func waitReady(t *testing.T, s *Server, mark, n int) {
	t.Helper()
	seen := 0
	if _, ok := s.WaitFor(mark, 10*time.Second, func(r Report) bool {
		if r.Kind == "ready" {
			seen++
		}
		return seen == n
	}); !ok {
		t.Fatalf("only %d of %d documents reported that they were ready", seen, n)
	}
}

// TestNoUpdateFromASiblingHost: a form sent from another host of the
// login's domain, with the login's username and a new password, is
// offered as a new login for that host — never as an update of the saved
// password — and the offer names the host that sent it.
func TestNoUpdateFromASiblingHost(t *testing.T) {
	e := env(t)
	s := e.Server
	l := e.addLogin(t, "Sibling", s.Origin("login.bank.test"))
	p := e.open(t, s.URL("other.bank.test", "/login.html"))
	p.Find("Email", "textbox").Type(l.Username)
	p.Find("Password", "textbox").Type(secret("Sibling"))
	mark := s.Mark()
	p.Find("Sign in", "button").Click()
	if _, ok := s.WaitFor(mark, 10*time.Second, func(r Report) bool { return r.Kind == "ready" && r.Path == "/done" }); !ok {
		t.Fatal("the form was not sent")
	}
	pop := e.Browser.OpenPopup(t)
	pop.Find("Save", "button")
	pop.WaitText(l.Username + " on other.bank.test")
	if pop.Has("Update", "button") {
		t.Errorf("the popup offers to update %q from another host; it shows:\n%s", l.Title, pop.Text())
	}
	pop.Find("Not now", "button").Click()
	pop.WaitGone("Save", "button")
	e.Browser.ClosePopups()
	if got, err := e.Keyhold.Field(l.Title, "password"); err != nil || got != l.Password {
		t.Errorf("the saved password changed (err %v)", err)
	}
}
