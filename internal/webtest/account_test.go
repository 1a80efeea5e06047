//go:build unix

package webtest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"

	"github.com/keyhold/keyhold/internal/browsertest"
)

// second is a second server, and a browser trusting it, for the tests of
// this file: a server lets one address create 10 accounts an hour before
// it throttles (doubling waits), and the other tests of the package
// already make more than that on the first. Started by the first test
// that needs it, closed by TestMain.
var second struct {
	once    sync.Once
	server  *Server
	browser *browsertest.Browser
	err     error
}

// secondServer returns the shared Env, the second server and its browser.
func secondServer(t *testing.T) (*Env, *Server, *browsertest.Browser) {
	t.Helper()
	e := env(t)
	second.once.Do(func() {
		second.server, second.err = e.StartServer(filepath.Join(e.Dir, "server-2"))
		if second.err == nil {
			second.browser, second.err = e.LaunchBrowser(browsertest.Options{TrustSPKI: []string{second.server.SPKI}})
		}
	})
	if second.err != nil {
		t.Fatal(second.err)
	}
	return e, second.server, second.browser
}

// closeSecond stops the second server and its browser, if started.
func closeSecond() error {
	var errs []error
	if second.browser != nil {
		errs = append(errs, second.browser.Close())
	}
	if second.server != nil {
		errs = append(errs, second.server.Stop())
	}
	return errors.Join(errs...)
}

// newAccount makes an account on the second server with two items (as
// account does), with small key-derivation settings unless kdf says.
func newAccount(t *testing.T, name string, kdf ...string) (*Device, *browsertest.Browser, string) {
	t.Helper()
	e, s, b := secondServer(t)
	if kdf == nil {
		kdf = []string{"--kdf-memory", "8", "--kdf-time", "1", "--kdf-threads", "1"}
	}
	d := e.NewAccountOn(t, s, name, kdf...)
	d.RunStdin(t, "zebra-secret-Pa55\n", "add", "login", "Zebra Bank", "--username", "zed@example.org", "--password-stdin", "--url", "https://zebra-bank.example")
	d.Run(t, "add", "note", "Quokka plans", "--notes", "the quokka ate the marmalade")
	d.Run(t, "sync")
	return d, b, s.URL
}

// signedIn opens the vault of a fresh account (two items) in a fresh
// browser context, signed in with the typed code.
func signedIn(t *testing.T, name string, remember bool) (*Device, *Vault) {
	t.Helper()
	d, b, origin := newAccount(t, name)
	v := OpenIn(t, b, origin, browsertest.Desktop)
	v.SignInWithCode(d.Kit, Password, remember)
	v.WaitUnlocked()
	return d, v
}

// exitCode is the exit status of a finished keyhold, -1 when it did not
// run or exit.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// An attachment uploaded in the browser is listed, downloads as the same
// bytes, and reaches the CLI.
func TestAttachmentUploadDownload(t *testing.T) {
	d, v := signedIn(t, "attach", false)
	content := []byte("ssh-ed25519 AAAAC3Nz quokka@example\x00\x01\x02\xff binary tail\n")
	src := filepath.Join(t.TempDir(), "quokka-key.pub")
	if err := os.WriteFile(src, content, 0o600); err != nil {
		t.Fatal(err)
	}
	v.Item("Zebra Bank").Click()
	v.FileInput("Add attachment").SetFiles(src)
	dl := v.Button("Download quokka-key.pub")

	// The download, as the browser saves it.
	dir := t.TempDir()
	c := chromedp.FromContext(v.Ctx)
	if err := chromedp.Do(v.Ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir, BrowserContextID: c.BrowserContextID})
		return err
	})); err != nil {
		t.Fatal(err)
	}
	dl.Click()
	var got []byte
	waitFor(t, "the download", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "quokka-key.pub"))
		got = b
		return err == nil && len(b) == len(content)
	})
	if !bytes.Equal(got, content) {
		t.Errorf("downloaded %q, uploaded %q", got, content)
	}

	// The CLI sees it after a sync.
	waitFor(t, "the CLI to see the attachment", func() bool {
		d.Run(t, "sync")
		out, _, err := d.RunErr(nil, "attachment", "list", "Zebra Bank")
		return err == nil && strings.Contains(out, "quokka-key.pub\t"+strconv.Itoa(len(content)))
	})
	if out := d.Run(t, "attachment", "save", "Zebra Bank", "quokka-key.pub", "--out", "-"); out != string(content) {
		t.Errorf("the CLI's copy is %q, uploaded %q", out, content)
	}
	v.ExpectClean(t)
}

// The password changed in the browser is the one the CLI and the
// browser's next unlock need; the old one is refused.
func TestPasswordChangeInBrowser(t *testing.T) {
	d, v := signedIn(t, "passwd", true)
	const newPassword = "otter velvet canyon 77 parsnip beacon"
	v.FindAny("Account", "link").Click()
	v.Field("Current password").Fill(Password)
	v.Field("New password").Fill(newPassword)
	v.Field("Repeat new password").Fill(newPassword)
	v.Button("Change password").Click()
	old := v.Timeout
	v.Timeout = time.Minute
	v.WaitText("Password changed")
	v.Timeout = old

	// The CLI: its old password is refused at the next sync, the new
	// one works.
	_, errOut, err := d.RunErr(nil, "sync")
	if err == nil {
		t.Fatal("the CLI synced with the old password after the browser changed it")
	}
	if code := exitCode(err); code != 3 {
		t.Errorf("sync with the old password: exit %d, want 3 (wrong password): %s", code, errOut)
	}
	if strings.Contains(errOut, Password) {
		t.Errorf("the error shows the password: %q", errOut)
	}
	if err := os.WriteFile(filepath.Join(d.Dir, "password"), []byte(newPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.Run(t, "sync")
	if got := strings.TrimSpace(d.Run(t, "show", "Zebra Bank", "--field", "username")); got != "zed@example.org" {
		t.Errorf("the CLI shows %q after the password change", got)
	}

	// The remembered browser: the old password does not unlock it, the
	// new one does.
	v.Button("Lock").Click()
	v.PasswordField().Fill(Password)
	v.Button("Unlock").Click()
	v.Alert()
	if v.Has("searchbox", "Search") {
		t.Fatal("the old password unlocked the browser")
	}
	v.PasswordField().Fill(newPassword)
	v.Button("Unlock").Click()
	v.WaitUnlocked()
	v.Item("Zebra Bank")
	v.ExpectClean(t)
}

// Revoking another device from the browser asks for the password: a
// wrong one revokes nothing and says so; the right one revokes, and that
// device can no longer sync.
func TestRevokeOtherDeviceFromBrowser(t *testing.T) {
	d, v := signedIn(t, "revokecli", false)
	v.FindAny("Account", "link").Click()
	v.Button("Revoke").Click()
	v.Field("Your password").Fill(Password + " typo")
	v.Find("button", "Revoke").Click() // the dialog's
	if msg := v.Alert(); strings.Contains(msg, Password) {
		t.Errorf("the error shows the password: %q", msg)
	} else if !strings.Contains(strings.ToLower(msg), "password") {
		t.Errorf("a wrong password is refused without saying so: %q", msg)
	}
	d.Run(t, "sync") // not revoked
	for _, x := range d.Devices(t) {
		if x.Revoked {
			t.Errorf("a wrong password revoked %+v", x)
		}
	}

	v.Button("Revoke").Click()
	v.Field("Your password").Fill(Password)
	v.Find("button", "Revoke").Click()
	v.WaitText("revokecli revoked.")
	v.WaitText("Revoked") // the device list says so
	_, errOut, err := d.RunErr(nil, "sync")
	if err == nil {
		t.Fatal("the revoked CLI device still syncs")
	}
	if code := exitCode(err); code != 3 {
		t.Errorf("sync on the revoked device: exit %d, want 3 (%s)", code, errOut)
	}
	if !strings.Contains(strings.ToLower(errOut), "revoked") {
		t.Errorf("sync on the revoked device does not say it was revoked: %q", errOut)
	}
	v.ExpectClean(t)
}

// The same field changed on the CLI and in an editor open in the browser:
// the browser's save keeps its value, tells the user which field both
// changed, and keeps the CLI's value in the History. A field only one
// side changed merges.
func TestConflictShownInPage(t *testing.T) {
	d, v := signedIn(t, "conflict", false)
	v.Item("Zebra Bank").Click()
	v.Button("Edit").Click()
	v.Field("Username")
	d.Run(t, "edit", "Zebra Bank", "--username", "cli@example.org", "--notes", "from the cli")
	d.Run(t, "sync")
	v.Field("Username").Fill("browser@example.org")
	v.Field("Website").Fill("https://browser.example")
	v.Button("Save").Click()
	msg := v.Alert()
	if !strings.Contains(msg, "changed on another device") {
		t.Errorf("the page does not say another device changed the item: %q", msg)
	}
	// Named as the form names it, not by the merge's internal name.
	if strings.Contains(msg, "field:") || !strings.Contains(msg, "Username") {
		t.Errorf("the page does not name the field both changed: %q", msg)
	}
	if strings.Contains(msg, "Website") || strings.Contains(msg, "field:url") || strings.Contains(msg, "urls") {
		t.Errorf("the page names a field only the browser changed: %q", msg)
	}
	v.WaitText("browser@example.org")
	v.WaitText("from the cli")
	v.Button("History").Click()
	v.Find("combobox", "Field").Select("Username")
	v.WaitText("cli@example.org")

	waitFor(t, "the CLI to see the merged item", func() bool {
		d.Run(t, "sync")
		j := d.Run(t, "show", "Zebra Bank", "--json")
		return strings.Contains(j, "browser@example.org") && strings.Contains(j, "https://browser.example") && strings.Contains(j, "from the cli")
	})
	if h := d.Run(t, "history", "Zebra Bank", "--field", "username"); !strings.Contains(h, "cli@example.org") {
		t.Errorf("the CLI's history of the username lost its value:\n%s", h)
	}
	v.ExpectClean(t)
}

var (
	codeRE = regexp.MustCompile(`\b(\d{6})\b`)
	leftRE = regexp.MustCompile(`(\d+) s left`)
)

// An item's one-time code in the page is the CLI's for the same moment,
// counting down.
func TestTOTPMatchesCLI(t *testing.T) {
	d, b, origin := newAccount(t, "totp")
	d.RunStdin(t, "otp-Pa55-word\nJBSWY3DPEHPK3PXPJBSWY3DP\n", "add", "login", "Otter Git", "--username", "otter", "--password-stdin", "--totp-secret-stdin")
	d.Run(t, "sync")
	v := OpenIn(t, b, origin, browsertest.Desktop)
	v.SignInWithCode(d.Kit, Password, false)
	v.WaitUnlocked()
	v.Item("Otter Git").Click()
	v.Button("Copy one-time code")
	var page, left string
	waitFor(t, "the one-time code", func() bool {
		txt := v.Text()
		i := strings.Index(txt, "s left")
		if i < 0 {
			return false
		}
		m := leftRE.FindStringSubmatch(txt)
		c := codeRE.FindStringSubmatch(txt[max(0, i-40):i])
		if m == nil || c == nil {
			return false
		}
		page, left = c[1], m[1]
		return true
	})
	before := strings.TrimSpace(d.Run(t, "otp", "Otter Git"))
	if page != before {
		// Across a 30 s boundary: the page's code is the next one.
		time.Sleep(time.Second)
		if after := strings.TrimSpace(d.Run(t, "otp", "Otter Git")); page != after {
			t.Errorf("the page shows %s, the CLI %s then %s", page, before, after)
		}
	}
	n, _ := strconv.Atoi(left)
	if n < 1 || n > 30 {
		t.Errorf("%s s left", left)
	}
	// It counts down.
	waitFor(t, "the countdown to move", func() bool {
		m := leftRE.FindStringSubmatch(v.Text())
		return m != nil && m[1] != left
	})
	v.ExpectClean(t)
}

// An account whose key derivation needs more than a browser can carry
// (above 256 MiB): the page warns before deriving, and Cancel stores
// nothing and adds no device.
func TestHeavyKDFWarning(t *testing.T) {
	d, b, origin := newAccount(t, "heavy", "--kdf-memory", "257", "--kdf-time", "1", "--kdf-threads", "1")
	v := OpenIn(t, b, origin, browsertest.Desktop)
	v.SignInWithCode(d.Kit, Password, true)
	v.WaitText("257 MiB")
	v.Find("heading", "Heavy key derivation")
	v.Button("Cancel").Click()
	v.WaitGone("heading", "Heavy key derivation")
	time.Sleep(time.Second) // a derivation, had it started, would store soon
	if v.Has("searchbox", "Search") {
		t.Error("the vault opened after Cancel")
	}
	if s := v.StoredData(v.Origin); len(s) != 0 {
		t.Errorf("Cancel stored %v", s)
	}
	if n := len(browserDevices(t, d, "heavy")); n != 0 {
		t.Errorf("Cancel added %d devices", n)
	}
	v.Button("Sign in") // still there, to try again
	v.ExpectClean(t)
}

// minimize minimizes (or restores) the window of v's tab: the way that
// makes headless Chromium hide a page (document.visibilityState "hidden",
// a visibilitychange event); another tab in front does not.
func minimize(t *testing.T, v *Vault, on bool) {
	t.Helper()
	state := browser.WindowStateNormal
	if on {
		state = browser.WindowStateMinimized
	}
	err := chromedp.Do(v.Ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		w, err := cdp.Call(ctx, tg, browser.GetWindowForTarget, browser.GetWindowForTargetParams{})
		if err != nil {
			return err
		}
		_, err = cdp.Call(ctx, tg, browser.SetWindowBounds, browser.SetWindowBoundsParams{WindowID: w.WindowID, Bounds: &browser.Bounds{WindowState: state}})
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := map[bool]string{true: "hidden", false: "visible"}[on]
	waitFor(t, "the page to be "+want, func() bool {
		return browsertest.Eval[string](v.Page, "document.visibilityState") == want
	})
}

// "Lock when this tab has been hidden for": hidden briefly under the
// default setting the vault stays open; set to "At once" (Account), the
// next time the tab is hidden locks it.
func TestHiddenTabLock(t *testing.T) {
	_, v := signedIn(t, "hidden", true)
	minimize(t, v, true)
	time.Sleep(time.Second)
	minimize(t, v, false)
	v.SearchField()
	if v.Has("button", "Unlock") {
		t.Fatal("the default setting locked a tab hidden for a second")
	}

	v.FindAny("Account", "link").Click()
	v.Find("combobox", "Lock when this tab has been hidden for").Select("At once")
	v.FindAny("Items", "link").Click()
	v.Item("Zebra Bank")
	minimize(t, v, true)
	minimize(t, v, false)
	v.Button("Unlock")
	v.WaitGone("searchbox", "Search")
	if strings.Contains(v.Text(), "Zebra Bank") {
		t.Error("the page locked when hidden still shows item titles")
	}
	v.PasswordField().Fill(Password)
	v.Button("Unlock").Click()
	v.WaitUnlocked()
	v.Item("Zebra Bank")
	v.ExpectClean(t)
}
