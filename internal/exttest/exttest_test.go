//go:build unix

package exttest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/testenv"
)

var shared struct {
	once sync.Once
	env  *Env
	err  error
	skip string
}

func setupShared() {
	shared.env, shared.skip, shared.err = setupEnv(nil)
}

// setupEnv finds the programs and starts an Env, or says why the tests
// skip (a missing program outside CI, -short).
func setupEnv(prepare func(*Keyhold) error) (env *Env, skip string, err error) {
	var p Programs
	var errs []error
	missing := []string{}
	for _, prog := range []struct {
		dst       *string
		name, pkg string
	}{{&p.Go, "go", "golang-go"}, {&p.Chromium, "chromium", "chromium"}, {&p.Xvfb, "Xvfb", "xvfb"}, {&p.Xdotool, "xdotool", "xdotool"}, {new(string), "xclip", "xclip"}} {
		path, err := testenv.HaveProgram(prog.name, prog.pkg)
		errs = append(errs, err)
		if path == "" {
			missing = append(missing, prog.pkg)
		}
		*prog.dst = path
	}
	switch {
	case errors.Join(errs...) != nil:
		return nil, "", errors.Join(errs...)
	case len(missing) > 0:
		return nil, "missing programs; install the Debian packages " + strings.Join(missing, " ") + " (scripts/deps.sh does)", nil
	case testing.Short():
		return nil, "-short: the extension's end-to-end tests build keyhold and start Xvfb and a browser", nil
	}
	env, err = Setup(p, "../../extension", prepare)
	return env, "", err
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.env != nil {
		if err := shared.env.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "exttest:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// env returns the shared environment: one vault with its agent unlocked,
// one browser, one page server.
func env(t *testing.T) *Env {
	t.Helper()
	shared.once.Do(setupShared)
	if shared.skip != "" {
		t.Skip(shared.skip)
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chromium output (last 3000 bytes):\n%s", tail(shared.env.Browser.Output(), 3000))
		}
	})
	return shared.env
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// login is a login the test saved with the CLI.
type login struct {
	Title, Username, Password string
}

// secret is a fresh random value, so that a report can only contain it
// if the extension put it there.
func secret(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// addLogin saves a login for the URLs with the CLI.
func (e *Env) addLogin(t *testing.T, title string, urls ...string) login {
	t.Helper()
	l := login{Title: title, Username: secret("user") + "@example.org", Password: secret("Pw")}
	var extra []string
	for _, u := range urls {
		extra = append(extra, "--url", u)
	}
	if _, err := e.Keyhold.AddLogin(l.Title, l.Username, l.Password, extra...); err != nil {
		t.Fatal(err)
	}
	return l
}

// open loads the page and waits until its recorder reported it ready.
func (e *Env) open(t *testing.T, u string) *Tab {
	t.Helper()
	e.Browser.ClosePopups()
	mark := e.Server.Mark()
	p := e.Page(t)
	p.Navigate(u)
	if _, ok := e.Server.WaitFor(mark, 10*time.Second, func(r Report) bool { return r.Kind == "ready" }); !ok {
		t.Fatalf("%s never reported that it was ready: the page recorder does not work", u)
	}
	return p
}

// waitFilled waits until field (its id) on a page of origin reported
// value (by an input event, or by polling).
func (e *Env) waitFilled(t *testing.T, mark int, origin, field, value string) Report {
	t.Helper()
	r, ok := e.Server.WaitFor(mark, 10*time.Second, func(r Report) bool {
		return r.Origin == origin && r.Field == field && r.Value == value && (r.Kind == "input" || r.Kind == "poll")
	})
	if !ok {
		t.Fatalf("the field %q of %s never held the expected value; the page saw:\n%s", field, origin, summary(e.Server.Since(mark), value))
	}
	return r
}

// waitLoginFilled waits until the page of origin held l's username in its
// field "user" and l's password in its field "pass": a whole login filled.
func (e *Env) waitLoginFilled(t *testing.T, mark int, origin string, l login) {
	t.Helper()
	e.waitFilled(t, mark, origin, "user", l.Username)
	e.waitFilled(t, mark, origin, "pass", l.Password)
}

// waitAnyValue waits until field on a page of origin got a value, and
// returns the report.
func (e *Env) waitAnyValue(t *testing.T, mark int, origin, field string) Report {
	t.Helper()
	r, ok := e.Server.WaitFor(mark, 10*time.Second, func(r Report) bool {
		return r.Origin == origin && r.Field == field && r.Value != "" && (r.Kind == "input" || r.Kind == "poll")
	})
	if !ok {
		t.Fatalf("the field %q of %s got no value; the page saw:\n%s", field, origin, summary(e.Server.Since(mark)))
	}
	return r
}

// summary lists reports (with the secrets named, never printed), the
// last 40 of them that are not attribute changes.
func summary(rs []Report, secrets ...string) string {
	var b strings.Builder
	rs = slices.DeleteFunc(slices.Clone(rs), func(r Report) bool { return r.Kind == "attr" })
	if len(rs) > 40 {
		fmt.Fprintf(&b, "\t(%d earlier reports left out)\n", len(rs)-40)
		rs = rs[len(rs)-40:]
	}
	for _, r := range rs {
		v := r.Value
		for i, s := range secrets {
			if s != "" {
				v = strings.ReplaceAll(v, s, fmt.Sprintf("<secret %d>", i))
			}
		}
		if len(v) > 60 {
			v = v[:60] + "…"
		}
		fmt.Fprintf(&b, "\t%s %s %s trusted=%v %q\n", r.Origin+r.Path, r.Kind, r.Field, r.Trusted, v)
	}
	return b.String()
}

// expectNothing fails the test when any report after mark carries one of
// the secrets (their position in secrets is named, never the value).
func (e *Env) expectNothing(t *testing.T, mark int, secrets ...string) {
	t.Helper()
	if leaked := e.Server.Containing(mark, secrets...); len(leaked) > 0 {
		t.Errorf("a secret reached a page:\n%s", summary(leaked, secrets...))
	}
}

// fillFromPopup opens the popup, picks the login's group and presses its
// Fill button.
func (e *Env) fillFromPopup(t *testing.T, l login) {
	t.Helper()
	pop := e.Browser.OpenPopup(t)
	pop.Candidate(l.Title).Find("Fill", "button").Click()
}

// tryEveryGesture makes every fill gesture a user could make on the
// current page, for a login that must not fill there: the fill shortcut,
// and the popup (where the login must not be offered unless mayOffer; if
// it is offered anyway, its Fill button is pressed). Then it waits a
// moment for anything the extension might still do.
func (e *Env) tryEveryGesture(t *testing.T, l login, mayOffer bool) {
	t.Helper()
	e.Browser.ClosePopups()
	if err := e.Browser.Key("alt+shift+l"); err != nil {
		t.Fatal(err)
	}
	// With nothing to fill, the extension opens its popup to say so;
	// otherwise the user opens it.
	pop, err := e.Browser.AttachPopup(t, 3*time.Second)
	if err != nil {
		pop = e.Browser.OpenPopup(t)
	}
	if pop.Has("Unlock", "button") {
		t.Fatalf("the popup asks to unlock, but the agent is unlocked")
	}
	pop.CandidatesLoaded()
	if pop.Has(l.Title, "group") {
		if !mayOffer {
			t.Errorf("the popup offers %q on a page it must not fill", l.Title)
		}
		g := pop.Candidate(l.Title)
		if g.Has("Fill", "button") {
			g.Find("Fill", "button").Click()
		}
	}
	time.Sleep(700 * time.Millisecond)
	e.Browser.ClosePopups()
}

// expectNoOffer opens the popup once more and fails if it still offers
// to save or update (an answered offer is closed for good).
func (e *Env) expectNoOffer(t *testing.T) {
	t.Helper()
	time.Sleep(500 * time.Millisecond) // anything the extension still does with the submit
	pop := e.Browser.OpenPopup(t)
	pop.CandidatesLoaded()
	if pop.Has("Save", "button") || pop.Has("Update", "button") {
		t.Errorf("the popup still offers to save or update after the offer was answered; it shows:\n%s", pop.Text())
	}
	e.Browser.ClosePopups()
}

// TestCopyButtons: Copy username and Copy password put the value on the
// display's clipboard (the host copies, as keyhold copy does), and the
// clipboard is cleared 45 s later. The test waits out those 45 s in
// parallel with the rest of the package (it comes first for that).
func TestCopyButtons(t *testing.T) {
	e := env(t)
	s := e.Server
	l := e.addLogin(t, "Copy", s.Origin("copy.test"))
	mark := s.Mark()
	e.open(t, s.URL("copy.test", "/login.html"))
	var copied time.Time
	for _, c := range []struct{ button, want string }{{"Copy username", l.Username}, {"Copy password", l.Password}} {
		pop := e.Browser.OpenPopup(t)
		pop.Candidate(l.Title).Find(c.button, "button").Click()
		copied = time.Now()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := clipboard(t, e)
			if got == c.want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the clipboard does not hold the value (it holds %d bytes)", c.button, len(got))
			}
			time.Sleep(50 * time.Millisecond)
		}
		e.Browser.ClosePopups()
	}
	// Copying is not filling: the page got nothing.
	e.expectNothing(t, mark, l.Username, l.Password)

	// The password was copied last; the clearer of the username finds the
	// clipboard changed and leaves it alone. Nothing else in this package
	// copies.
	t.Parallel()
	const clearAfter = 45 * time.Second
	time.Sleep(time.Until(copied.Add(clearAfter)))
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := clipboard(t, e)
		if got == "" {
			break
		}
		if time.Now().After(deadline) {
			what := fmt.Sprintf("%d other bytes", len(got))
			if got == l.Password {
				what = "the password"
			}
			t.Fatalf("the clipboard still holds %s %s after the password was copied", what, time.Since(copied).Round(time.Second))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestFillPlainLogin: popup, the login's group, Fill: both fields filled
// with the events frameworks listen for.
func TestFillPlainLogin(t *testing.T) {
	e := env(t)
	s := e.Server
	l := e.addLogin(t, "Plain", s.Origin("plain.test"))
	mark := s.Mark()
	e.open(t, s.URL("plain.test", "/login.html"))
	e.fillFromPopup(t, l)
	origin := s.Origin("plain.test")
	e.waitLoginFilled(t, mark, origin, l)
	// Frameworks listen for input and change events: both fired.
	for _, kind := range []string{"input", "change"} {
		if _, ok := s.WaitFor(mark, 5*time.Second, func(r Report) bool { return r.Kind == kind && r.Field == "pass" && r.Value == l.Password }); !ok {
			t.Errorf("no %s event carried the password; the page saw:\n%s", kind, summary(s.Since(mark), l.Password))
		}
	}
}

// TestFillShortcut: the fill shortcut (Alt+Shift+L, a real key press on
// the display) fills the site's login without opening the popup.
func TestFillShortcut(t *testing.T) {
	e := env(t)
	s := e.Server
	l := e.addLogin(t, "Keys", s.Origin("keys.test"))
	origin := s.Origin("keys.test")
	mark := s.Mark()
	e.open(t, s.URL("keys.test", "/login.html"))
	if err := e.Browser.Key("alt+shift+l"); err != nil {
		t.Fatal(err)
	}
	e.waitLoginFilled(t, mark, origin, l)
}

// TestKeyboardOnly: with the keyboard alone (real key presses), the
// popup opens, Tab reaches the login's Fill button and Enter fills.
func TestKeyboardOnly(t *testing.T) {
	e := env(t)
	s := e.Server
	l := e.addLogin(t, "Keyboard", s.Origin("kbd.test"))
	origin := s.Origin("kbd.test")
	mark := s.Mark()
	e.open(t, s.URL("kbd.test", "/login.html"))
	pop := e.Browser.OpenPopup(t)
	pop.Candidate(l.Title)
	const onFill = `(() => { const a = document.activeElement; const g = a && a.closest("[role=group]");
		return !!a && a.textContent.trim() === "Fill" && !!g && g.getAttribute("aria-label") === ` + "`Keyboard`" + `; })()`
	for i := 0; !Eval[bool](pop, onFill); i++ {
		if i == 15 {
			t.Fatalf("15 presses of Tab did not reach the Fill button of %q", l.Title)
		}
		if err := e.Browser.KeyFocused("Tab"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := e.Browser.KeyFocused("Return"); err != nil {
		t.Fatal(err)
	}
	e.waitLoginFilled(t, mark, origin, l)
}

// TestFillTwoStepLogin: the username on the first page, the password on
// the second, each from the popup.
func TestFillTwoStepLogin(t *testing.T) {
	e := env(t)
	s := e.Server
	l := e.addLogin(t, "Steps", s.Origin("steps.test"))
	origin := s.Origin("steps.test")
	mark := s.Mark()
	p := e.open(t, s.URL("steps.test", "/step1.html"))
	e.fillFromPopup(t, l)
	e.waitFilled(t, mark, origin, "user", l.Username)
	// Step 1 has no password field: the password went nowhere.
	e.expectNothing(t, mark, l.Password)
	p.Find("Next", "button").Click()
	mark2 := s.Mark()
	if _, ok := s.WaitFor(mark2, 10*time.Second, func(r Report) bool { return r.Kind == "ready" && r.Path == "/step2.html" }); !ok {
		t.Fatal("step 2 did not load")
	}
	e.fillFromPopup(t, l)
	e.waitFilled(t, mark2, origin, "pass", l.Password)
}

// TestFillShadowDOM: forms inside open shadow roots are filled.
func TestFillShadowDOM(t *testing.T) {
	e := env(t)
	s := e.Server
	l := e.addLogin(t, "Shadow", s.Origin("shadow.test"))
	origin := s.Origin("shadow.test")
	for _, c := range []struct{ name, page string }{
		{"a form in a shadow root", "/shadow.html"},
		// Component libraries give each input a shadow root of its own.
		{"each field in a shadow root of its own", "/shadow.html?nested=1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			mark := s.Mark()
			e.open(t, s.URL("shadow.test", c.page))
			e.fillFromPopup(t, l)
			e.waitLoginFilled(t, mark, origin, l)
		})
	}
}

// TestFillOneTimeCode: the one-time-code field gets the code keyhold otp
// prints (the one before or after, should the 30 s step turn between).
func TestFillOneTimeCode(t *testing.T) {
	e := env(t)
	s := e.Server
	l := login{Title: "OTP", Username: secret("otpuser"), Password: secret("Pw")}
	if _, err := e.Keyhold.AddLoginTOTP(l.Title, l.Username, l.Password, "JBSWY3DPEHPK3PXP", "--url", s.Origin("otp.test")); err != nil {
		t.Fatal(err)
	}
	origin := s.Origin("otp.test")
	before, err := e.Keyhold.Run(nil, "otp", l.Title)
	if err != nil {
		t.Fatal(err)
	}
	mark := s.Mark()
	e.open(t, s.URL("otp.test", "/otp.html"))
	e.fillFromPopup(t, l)
	r := e.waitAnyValue(t, mark, origin, "code")
	after, err := e.Keyhold.Run(nil, "otp", l.Title)
	if err != nil {
		t.Fatal(err)
	}
	if r.Value != strings.TrimSpace(before) && r.Value != strings.TrimSpace(after) {
		t.Errorf("the one-time-code field got %q, but keyhold otp printed %q then %q", r.Value, strings.TrimSpace(before), strings.TrimSpace(after))
	}
	// The code page has no password field: the password went nowhere.
	e.expectNothing(t, mark, l.Password)
}

// TestHiddenFieldsGetNothing: only the visible fields are filled; the
// hidden, transparent, zero-size and off-page decoys get nothing.
func TestHiddenFieldsGetNothing(t *testing.T) {
	e := env(t)
	s := e.Server
	l := e.addLogin(t, "Hidden", s.Origin("hidden.test"))
	origin := s.Origin("hidden.test")
	mark := s.Mark()
	e.open(t, s.URL("hidden.test", "/hidden.html"))
	e.fillFromPopup(t, l)
	e.waitLoginFilled(t, mark, origin, l)
	time.Sleep(300 * time.Millisecond)
	var wrong []Report
	for _, r := range s.Containing(mark, l.Username, l.Password) {
		if r.Field != "user" && r.Field != "pass" { // a decoy-… field
			wrong = append(wrong, r)
		}
	}
	if len(wrong) > 0 {
		t.Errorf("hidden or zero-size fields got a secret:\n%s", summary(wrong, l.Username, l.Password))
	}
}

// TestNoFillWhereTheLoginDoesNotBelong: the login is saved for
// https://bank.test:PORT; none of these pages (nor the frames in them)
// may get anything, whatever the user presses.
func TestNoFillWhereTheLoginDoesNotBelong(t *testing.T) {
	e := env(t)
	s := e.Server
	l := e.addLogin(t, "Bank", s.Origin("bank.test"))
	ghA := e.addLogin(t, "Pages A", s.Origin("a.github.io"))
	for _, c := range []struct {
		name     string
		l        login
		url      string
		mayOffer bool // a frame is involved: the popup may list the login (Fill must then do nothing)
	}{
		{"lookalike with a hyphen", l, s.URL("bank-test.test", "/login.html"), false},
		{"lookalike in punycode", l, s.URL("xn--bnk-6cd.test", "/login.html"), false},
		{"http page for an https login", l, s.HTTPURL("bank.test", "/login.html"), false},
		{"another site under a public suffix", ghA, s.URL("b.github.io", "/login.html"), false},
		{"cross-origin frame in the login's site", l, s.URL("bank.test", "/frame.html?src=") + s.URL("evil.test", "/login.html"), true},
		// The frame is the login's own site, but the page around it is
		// not: a page could frame the real login form to have it filled
		// under its own overlay.
		{"the login's site framed by another", l, s.URL("evil.test", "/frame.html?src=") + s.URL("bank.test", "/login.html"), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			mark := s.Mark()
			p := e.open(t, c.url)
			if strings.Contains(c.url, "frame.html") {
				waitFrameReady(t, s, mark)
				// The user clicks into the frame's password field first.
				clickFrameField(t, p)
			}
			e.tryEveryGesture(t, c.l, c.mayOffer)
			e.expectNothing(t, mark, c.l.Username, c.l.Password)
			if strings.Contains(c.url, "xn--") {
				// The popup names the site with its punycode too, so the
				// lookalike shows for what it is.
				e.Browser.OpenPopup(t).WaitText("xn--bnk-6cd.test")
			}
		})
	}
}

func waitFrameReady(t *testing.T, s *Server, mark int) {
	t.Helper()
	n := 0
	if _, ok := s.WaitFor(mark, 10*time.Second, func(r Report) bool {
		if r.Kind == "ready" {
			n++
		}
		return n == 2
	}); !ok {
		t.Fatal("the frame never reported that it was ready")
	}
}

// clickFrameField clicks where the frame's password field is (the
// frame's box plus the field's offset in it).
func clickFrameField(t *testing.T, p *Tab) {
	t.Helper()
	xy := Eval[[]float64](p, `(() => { const r = document.getElementById("frame").getBoundingClientRect(); return [r.left, r.top]; })()`)
	// login.html lays out heading, label, field, label, field: the
	// password field sits about 190 px down at 16 px type.
	p.ClickAt(xy[0]+60, xy[1]+190)
}

// TestExactHost: a login that matches its exact host only, per login or
// by the options' default, is not offered or filled on a sibling
// subdomain.
func TestExactHost(t *testing.T) {
	e := env(t)
	s := e.Server
	host := e.addLogin(t, "Login host only", s.Origin("login.bank.test"))
	if _, err := e.Keyhold.Run(nil, "edit", host.Title, "--match", "host"); err != nil {
		t.Fatal(err)
	}
	site := e.addLogin(t, "Login whole site", s.Origin("login.bank.test"))
	sibling := s.URL("other.bank.test", "/login.html")

	t.Run("per login", func(t *testing.T) {
		mark := s.Mark()
		e.open(t, sibling)
		pop := e.Browser.OpenPopup(t)
		// The login without a setting follows the default (whole site):
		// offered on a sibling subdomain; the one set to the exact host
		// is not.
		pop.Candidate(site.Title)
		if pop.Has(host.Title, "group") {
			t.Errorf("%q, set to match its exact host, is offered on a sibling subdomain", host.Title)
		}
		e.Browser.ClosePopups()
		e.tryEveryGesture(t, host, false)
		e.expectNothing(t, mark, host.Username, host.Password)
	})
	t.Run("default from the options page", func(t *testing.T) {
		e.Browser.SetOption(t, "Match the exact host by default", true)
		defer e.Browser.SetOption(t, "Match the exact host by default", false)
		mark := s.Mark()
		e.open(t, sibling)
		e.tryEveryGesture(t, site, false)
		e.expectNothing(t, mark, site.Username, site.Password, host.Username, host.Password)
	})
}

// TestClickjackingGetsNothing: a page on the login's own site that tries
// every trick it has (clickjack.js) gets nothing while the user clicks and
// types on it.
func TestClickjackingGetsNothing(t *testing.T) {
	e := env(t)
	s := e.Server
	// The page is on the login's own site: a fill on its behalf would
	// reach it.
	l := e.addLogin(t, "Click", s.Origin("click.test"))
	mark := s.Mark()
	p := e.open(t, s.URL("click.test", "/clickjack.html?ext="+ExtensionID))
	// The user does what the page asks: clicks the bait (over which the
	// page laid the extension's popup, invisibly, if it could), clicks
	// around, and types.
	for i := 0; i < 5; i++ {
		p.ClickAt(120, 310)
		p.ClickAt(400, 200)
		time.Sleep(100 * time.Millisecond)
	}
	p.InsertText("hello")
	time.Sleep(1500 * time.Millisecond)
	e.expectNothing(t, mark, l.Username, l.Password)
	// The extension's pages cannot be framed or fetched by the page.
	for _, r := range s.Since(mark) {
		if r.Kind == "note" && r.Field == "fetch-ext" {
			t.Errorf("the page fetched the extension's manifest (status %s)", r.Value)
		}
	}
	// With the tricks stopped, a fill the user asks for reaches the page:
	// it got nothing before for want of the user's gesture alone.
	Eval[any](p, "globalThis.__stopTricks()")
	e.fillFromPopup(t, l)
	e.waitFilled(t, mark, s.Origin("click.test"), "pass", l.Password)
}

// TestSaveOnSubmit: a new login sent by a form is offered for saving in
// the popup; saved, the CLI shows it.
func TestSaveOnSubmit(t *testing.T) {
	e := env(t)
	s := e.Server
	username, password := secret("newuser")+"@example.org", secret("NewPw")
	p := e.open(t, s.URL("new.test", "/login.html"))
	p.Find("Email", "textbox").Type(username)
	p.Find("Password", "textbox").Type(password)
	mark := s.Mark()
	p.Find("Sign in", "button").Click()
	if _, ok := s.WaitFor(mark, 10*time.Second, func(r Report) bool { return r.Kind == "ready" && r.Path == "/done" }); !ok {
		t.Fatal("the form was not sent")
	}
	pop := e.Browser.OpenPopup(t)
	pop.Find("Save", "button").Click()
	pop.WaitGone("Save", "button")
	e.Browser.ClosePopups()
	e.expectNoOffer(t)
	got, err := e.Keyhold.Field("new.test", "password")
	if err != nil {
		t.Fatalf("the CLI does not show the saved login: %v", err)
	}
	if got != password {
		t.Errorf("the saved login's password differs from the one sent")
	}
	if u, _ := e.Keyhold.Field("new.test", "username"); u != username {
		t.Errorf("the saved login's username is %q, want %q", u, username)
	}
}

// TestGenerateIntoSignUp: on a sign-up form, the popup's Generate fills
// one new strong password into both new-password fields and offers to
// save the login; saved, the CLI shows it.
func TestGenerateIntoSignUp(t *testing.T) {
	e := env(t)
	s := e.Server
	origin := s.Origin("signup.test")
	username := secret("signup") + "@example.org"
	mark := s.Mark()
	p := e.open(t, s.URL("signup.test", "/signup.html"))
	p.Find("Email", "textbox").Type(username)
	pop := e.Browser.OpenPopup(t)
	pop.Find("Generate", "button").Click()
	gen := e.waitAnyValue(t, mark, origin, "new")
	e.waitFilled(t, mark, origin, "confirm", gen.Value)
	if len(gen.Value) < 16 {
		t.Errorf("the generated password has %d characters, want at least 16", len(gen.Value))
	}
	pop.Find("Save", "button").Click()
	pop.WaitGone("Save", "button")
	e.Browser.ClosePopups()
	e.expectNoOffer(t)
	if got, err := e.Keyhold.Field("signup.test", "password"); err != nil || got != gen.Value {
		t.Errorf("the CLI does not show the generated password for signup.test (err %v)", err)
	}
	if u, _ := e.Keyhold.Field("signup.test", "username"); u != username {
		t.Errorf("the saved login's username is %q, want %q", u, username)
	}
}

// TestNoOfferWhenSavingIsOff: with "Offer to save logins" unticked in
// the options, sending a new login offers nothing.
func TestNoOfferWhenSavingIsOff(t *testing.T) {
	e := env(t)
	s := e.Server
	e.Browser.SetOption(t, "Offer to save logins", false)
	defer e.Browser.SetOption(t, "Offer to save logins", true)
	p := e.open(t, s.URL("nosave.test", "/login.html"))
	username := secret("quiet") + "@example.org"
	p.Find("Email", "textbox").Type(username)
	p.Find("Password", "textbox").Type(secret("Quiet"))
	mark := s.Mark()
	p.Find("Sign in", "button").Click()
	if _, ok := s.WaitFor(mark, 10*time.Second, func(r Report) bool { return r.Kind == "ready" && r.Path == "/done" }); !ok {
		t.Fatal("the form was not sent")
	}
	time.Sleep(500 * time.Millisecond) // what the extension does with the submit
	pop := e.Browser.OpenPopup(t)
	pop.CandidatesLoaded()
	// (The offer names the username; other offers are other tests' to
	// catch.)
	if text := pop.Text(); strings.Contains(text, username) {
		t.Errorf("the popup offers to save although saving is turned off; it shows:\n%s", text)
	}
	e.Browser.ClosePopups()
	if _, err := e.Keyhold.Field("nosave.test", "password"); err == nil {
		t.Error("a login for nosave.test was saved although saving is turned off")
	}
}

// TestSaveReachesOtherDevices: with folder sync, a login saved from the
// browser is synced as a CLI write is: a second device set up from the
// recovery kit on the same folder sees it after keyhold sync.
func TestSaveReachesOtherDevices(t *testing.T) {
	e := env(t)
	s := e.Server
	k := e.Keyhold
	folder := filepath.Join(k.Dir, "sync-folder")
	if err := os.MkdirAll(folder, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Run(nil, "sync", "enable", "--folder", folder); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := k.Run(nil, "sync", "disable"); err != nil {
			t.Error(err)
		}
		// Turning sync off may stop the agent (it runs with the vault's
		// sync settings); the next tests want it unlocked.
		if out, _ := k.Run(nil, "status"); !strings.Contains(out, "unlocked") {
			if err := k.Unlock(); err != nil {
				t.Error(err)
			}
		}
	})
	kit := filepath.Join(k.Dir, "kit.png")
	if _, err := k.Run(nil, "kit", "--png", kit); err != nil {
		t.Fatal(err)
	}
	other := *k
	other.Vault = filepath.Join(k.Dir, "other-device")
	if _, err := other.Run(nil, "setup", "--kit", kit, "--folder", folder, "--device-name", "other"); err != nil {
		t.Fatal(err)
	}

	username, password := secret("synced")+"@example.org", secret("Synced")
	p := e.open(t, s.URL("synced.test", "/login.html"))
	p.Find("Email", "textbox").Type(username)
	p.Find("Password", "textbox").Type(password)
	mark := s.Mark()
	p.Find("Sign in", "button").Click()
	if _, ok := s.WaitFor(mark, 10*time.Second, func(r Report) bool { return r.Kind == "ready" && r.Path == "/done" }); !ok {
		t.Fatal("the form was not sent")
	}
	pop := e.Browser.OpenPopup(t)
	pop.Find("Save", "button").Click()
	pop.WaitGone("Save", "button")
	e.Browser.ClosePopups()

	// The host syncs in the background after the save: the other device
	// syncs until the login arrives.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := other.Run(nil, "sync"); err != nil {
			t.Fatal(err)
		}
		got, err := other.Field("synced.test", "password")
		if err == nil && got == password {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other device does not show the login saved in the browser (err %v)", err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// TestUpdateOnSubmit: a changed password sent by a form is offered as an
// update; the CLI then shows the new password and keeps the old in the
// history.
func TestUpdateOnSubmit(t *testing.T) {
	e := env(t)
	s := e.Server
	l := e.addLogin(t, "Shop", s.Origin("shop.test"))
	newPassword := secret("Changed")
	p := e.open(t, s.URL("shop.test", "/login.html"))
	p.Find("Email", "textbox").Type(l.Username)
	p.Find("Password", "textbox").Type(newPassword)
	mark := s.Mark()
	p.Find("Sign in", "button").Click()
	if _, ok := s.WaitFor(mark, 10*time.Second, func(r Report) bool { return r.Kind == "ready" && r.Path == "/done" }); !ok {
		t.Fatal("the form was not sent")
	}
	pop := e.Browser.OpenPopup(t)
	pop.Find("Update", "button").Click()
	pop.WaitGone("Update", "button")
	e.Browser.ClosePopups()
	e.expectNoOffer(t)
	if got, err := e.Keyhold.Field(l.Title, "password"); err != nil || got != newPassword {
		t.Errorf("after Update the CLI shows another password (err %v)", err)
	}
	hist, err := e.Keyhold.Run(nil, "history", l.Title, "--field", "password", "--reveal")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(hist, l.Password) || !strings.Contains(hist, newPassword) {
		t.Errorf("the password's history does not hold the old and the new password:\n%s", strings.ReplaceAll(strings.ReplaceAll(hist, l.Password, "<old>"), newPassword, "<new>"))
	}
}

// TestLockedAsksForPassword: after keyhold lock the popup asks for the
// password; it unlocks the agent (for the CLI too) and then fills.
func TestLockedAsksForPassword(t *testing.T) {
	e := env(t)
	s := e.Server
	l := e.addLogin(t, "Locked", s.Origin("locked.test"))
	if err := e.Keyhold.Lock(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Keyhold.Unlock() }) // the next tests want the agent
	mark := s.Mark()
	e.open(t, s.URL("locked.test", "/login.html"))
	pop := e.Browser.OpenPopup(t)
	// A wrong password is refused, and the form stays.
	pop.Find("Password", "textbox").Type("not the password")
	pop.Find("Unlock", "button").Click()
	pop.WaitText("Wrong password")
	if out, err := e.Keyhold.Run(nil, "status"); err != nil || strings.Contains(out, "unlocked") {
		t.Errorf("a wrong password in the popup unlocked the vault (%v):\n%s", err, out)
	}
	// Type the right one over whatever the field still holds.
	pop.Find("Password", "textbox").Click()
	Eval[any](pop, `document.activeElement.select()`)
	pop.InsertText(Password)
	pop.Find("Unlock", "button").Click()
	pop.Candidate(l.Title).Find("Fill", "button").Click()
	origin := s.Origin("locked.test")
	e.waitLoginFilled(t, mark, origin, l)
	e.expectNothing(t, mark, Password)
	if out, err := e.Keyhold.Run(nil, "status"); err != nil || !strings.Contains(out, "unlocked") {
		t.Errorf("after unlocking in the browser the CLI's status is not unlocked (%v):\n%s", err, out)
	}
}

// clipboard reads the Xvfb display's clipboard with xclip.
func clipboard(t *testing.T, e *Env) string {
	t.Helper()
	cmd := exec.Command("xclip", "-o", "-selection", "clipboard")
	cmd.Env = e.Keyhold.Env
	out, err := cmd.Output()
	if err != nil {
		return "" // nothing on the clipboard yet
	}
	return string(out)
}
