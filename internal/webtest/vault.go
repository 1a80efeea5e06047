//go:build unix

package webtest

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/browsertest"
)

// Vault is the web vault open in a tab, driven by the accessible names
// docs/WEB.md keeps stable (the same ones scripts use).
type Vault struct {
	*browsertest.Page
	Origin string
	t      testing.TB
	b      *browsertest.Browser
}

// Open opens the web vault of the Env's server in a fresh browser context
// of the shared browser.
func (e *Env) Open(t testing.TB, vp browsertest.Viewport) *Vault {
	t.Helper()
	return OpenIn(t, e.Browser, e.Server.URL, vp)
}

// OpenIn opens the web vault at origin in a fresh browser context of b.
func OpenIn(t testing.TB, b *browsertest.Browser, origin string, vp browsertest.Viewport) *Vault {
	t.Helper()
	v := &Vault{Page: b.NewPage(t, vp), Origin: origin, t: t, b: b}
	v.SetAPIPrefix("/v1/")
	v.Navigate(origin + "/")
	return v
}

// AppPath says whether the page may fetch path: the API, or a file of
// the app (index, service worker, manifest, hashed assets).
func AppPath(path string) bool {
	switch {
	case path == "/", path == "/sw.js", path == "/manifest.webmanifest", path == "/favicon.ico":
		return true
	case strings.HasPrefix(path, "/a/"), strings.HasPrefix(path, "/v1/"):
		return true
	}
	return false
}

// ExpectClean checks what every test of the web vault checks at its end:
// no CSP violation, exception or console error, no request to another
// origin (from the page, or from any worker: the browser's proxy log),
// and nothing fetched but the API and the app's files.
func (v *Vault) ExpectClean(t testing.TB) {
	t.Helper()
	v.Page.ExpectClean(t, v.Origin, AppPath)
	if f := v.b.ForeignHosts(v.Host()); len(f) > 0 {
		t.Errorf("the browser connected to other hosts than %s: %q", v.Host(), f)
	}
}

// SetupCodeField is the sign-in form's "Setup code" field.
func (v *Vault) SetupCodeField() *browsertest.Element {
	v.t.Helper()
	return v.FindAny("Setup code", "textbox")
}

// PasswordField is the "Password" field (sign-in, unlock, item form).
func (v *Vault) PasswordField() *browsertest.Element {
	v.t.Helper()
	return v.FindAny("Password", "textbox")
}

// SearchField is the unlocked vault's "Search" field.
func (v *Vault) SearchField() *browsertest.Element {
	v.t.Helper()
	return v.FindAny("Search", "searchbox", "textbox", "combobox")
}

// Item is the list entry (link or button) named title.
func (v *Vault) Item(title string) *browsertest.Element {
	v.t.Helper()
	return v.FindAny(title, "link", "button")
}

// HasItem says whether the list shows an entry named title now.
func (v *Vault) HasItem(title string) bool {
	return v.Has("link", title) || v.Has("button", title)
}

// Button is the button named name.
func (v *Vault) Button(name string) *browsertest.Element {
	v.t.Helper()
	return v.FindAny(name, "button", "link")
}

// Field is the text field named name.
func (v *Vault) Field(name string) *browsertest.Element {
	v.t.Helper()
	return v.FindAny(name, "textbox", "searchbox", "combobox", "spinbutton")
}

// Remember sets the "Remember this browser" checkbox.
func (v *Vault) Remember(on bool) {
	v.t.Helper()
	c := v.Find("checkbox", "Remember this browser")
	if c.Checked() != on {
		c.Click()
	}
	if c.Checked() != on {
		v.t.Fatalf("Remember this browser: could not set it to %v", on)
	}
}

// SignInWithCode signs in with the typed setup code and the password.
func (v *Vault) SignInWithCode(code, password string, remember bool) {
	v.t.Helper()
	v.SetupCodeField().Fill(code)
	v.SubmitPassword(password, remember)
}

// SignInWithFile signs in with a kit file (PDF or PNG) chosen in the
// "Recovery kit" file input and the password.
func (v *Vault) SignInWithFile(path, password string, remember bool) {
	v.t.Helper()
	v.FileInput("Recovery kit").SetFiles(path)
	v.WaitKitRead()
	v.SubmitPassword(password, remember)
}

// WaitKitRead waits until the page shows that it read a kit: it names the
// kit's server (this origin). Reading a PDF or a camera frame takes a
// moment; pressing "Sign in" before would be refused.
// It fails at once when an error shows in the alert region instead.
func (v *Vault) WaitKitRead() {
	v.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(v.Text(), v.Origin) {
		if msg := v.alertText(); msg != "" {
			v.t.Fatalf("the kit was not read: the page says %q", msg)
		}
		if time.Now().After(deadline) {
			v.t.Fatalf("the page did not show the kit's server %s within a minute; it shows:\n%s", v.Origin, v.Text())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// SubmitPassword fills the password, sets "Remember this browser" and
// presses "Sign in".
func (v *Vault) SubmitPassword(password string, remember bool) {
	v.t.Helper()
	v.PasswordField().Fill(password)
	v.Remember(remember)
	v.Button("Sign in").Click()
}

// WaitUnlocked waits for the item list (its "Search" field), allowing for
// the key derivation and the download.
// It fails at once when an error shows in the alert region instead.
func (v *Vault) WaitUnlocked() {
	v.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		for _, role := range []string{"searchbox", "textbox", "combobox"} {
			if v.Has(role, "Search") {
				return
			}
		}
		if msg := v.alertText(); msg != "" {
			v.t.Fatalf("the vault did not open: the page says %q", msg)
		}
		if time.Now().After(deadline) {
			v.t.Fatalf("the vault did not open within 2 minutes; the page shows:\n%s", v.Text())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (v *Vault) alertText() string {
	els, _ := v.Query("alert", "")
	for _, e := range els {
		if s := strings.TrimSpace(e.Text()); s != "" {
			return s
		}
	}
	return ""
}

// Alert waits for an error in the role="alert" region and returns its
// text. It allows for a key derivation and a login first.
func (v *Vault) Alert() string {
	v.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if s := v.alertText(); s != "" {
			return s
		}
		if time.Now().After(deadline) {
			v.t.Fatalf("no error appeared in a role=alert region within 2 minutes; the page shows:\n%s", v.Text())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// AddLogin adds a login with "New item": Title, Username, Password,
// Website, then "Save"; it waits until the list shows it.
func (v *Vault) AddLogin(title, username, password, website string) {
	v.t.Helper()
	v.Button("New item").Click()
	v.Field("Title").Fill(title)
	v.Field("Username").Fill(username)
	v.PasswordField().Fill(password)
	v.Field("Website").Fill(website)
	v.Button("Save").Click()
	// Saved: the list shows it, or (narrow screens) the item itself is
	// shown with its "Edit" button.
	deadline := time.Now().Add(v.Timeout)
	for !v.HasItem(title) && !v.Has("button", "Edit") {
		if msg := v.alertText(); msg != "" {
			v.t.Fatalf("saving %q: the page says %q", title, msg)
		}
		if time.Now().After(deadline) {
			v.t.Fatalf("saving %q: neither the list nor the item showed it within %s; the page shows:\n%s", title, v.Timeout, v.Text())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Screenshot saves a screenshot named name under $KEYHOLD_WEB_SCREENSHOTS
// when that is set (docs/WEB.md: screenshots of each main screen).
func (v *Vault) Screenshot(name string) {
	v.t.Helper()
	dir := os.Getenv("KEYHOLD_WEB_SCREENSHOTS")
	if dir == "" {
		return
	}
	v.Page.Screenshot(filepath.Join(dir, name+".png"))
}

// Host is the host:port of the vault's origin.
func (v *Vault) Host() string {
	u, err := url.Parse(v.Origin)
	if err != nil {
		return v.Origin
	}
	return u.Host
}
