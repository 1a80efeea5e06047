//go:build unix

package webtest

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/browsertest"
	"github.com/keyhold/keyhold/internal/testenv"
)

// shared is the one server and browser of this test binary, set up by
// the first test that needs them and closed by TestMain.
var shared struct {
	once sync.Once
	env  *Env
	err  error // set up failed: every test fails with it
	skip string
}

func setupShared() {
	goCmd, err1 := testenv.HaveProgram("go", "golang-go")
	chromium, err2 := testenv.HaveProgram("chromium", "chromium")
	switch {
	case err1 != nil || err2 != nil:
		shared.err = errors.Join(err1, err2)
	case goCmd == "" || chromium == "":
		shared.skip = "go or chromium is not installed; install the Debian package chromium (scripts/deps.sh does)"
	case testing.Short():
		shared.skip = "-short: the web vault's end-to-end tests build and start the server and a browser"
	default:
		shared.env, shared.err = Setup(goCmd, chromium)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if err := closeSecond(); err != nil {
		fmt.Fprintln(os.Stderr, "webtest:", err)
		code = 1
	}
	if shared.env != nil {
		if err := shared.env.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "webtest:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// env returns the shared Env after checking that the server serves the
// web vault at all, so that a build without it fails with one clear line.
func env(t *testing.T) *Env {
	t.Helper()
	shared.once.Do(setupShared)
	if shared.skip != "" {
		t.Skip(shared.skip)
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	e := shared.env
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	res, err := cl.Get(e.Server.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(strings.ToLower(res.Header.Get("Content-Type")), "text/html") {
		t.Fatalf("keyhold-server does not serve the web vault at / (status %d, %s): %.200s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	return e
}

// account makes an account with two items on the server, from the CLI.
func account(t *testing.T, e *Env, name string) *Device {
	t.Helper()
	d := e.NewAccount(t, name)
	d.RunStdin(t, "zebra-secret-Pa55\n", "add", "login", "Zebra Bank", "--username", "zed@example.org", "--password-stdin", "--url", "https://zebra-bank.example")
	d.Run(t, "add", "note", "Quokka plans", "--notes", "the quokka ate the marmalade")
	d.Run(t, "sync")
	return d
}

// browserDevices are the account's devices that are not the CLI devices
// named in cli.
func browserDevices(t *testing.T, d *Device, cli ...string) []DeviceInfo {
	var out []DeviceInfo
	for _, x := range d.Devices(t) {
		isCLI := false
		for _, n := range cli {
			isCLI = isCLI || x.Name == n
		}
		if !isCLI && !x.Revoked {
			out = append(out, x)
		}
	}
	return out
}

func TestSignInWithTypedCode(t *testing.T) {
	e := env(t)
	d := account(t, e, "typed")
	for _, vp := range []browsertest.Viewport{browsertest.Desktop, browsertest.Phone} {
		t.Run(fmt.Sprintf("%dx%d", vp.Width, vp.Height), func(t *testing.T) {
			v := e.Open(t, vp)
			v.Screenshot(fmt.Sprintf("sign-in-%d", vp.Width))
			// Reading the kit (when the code field loses the focus, with
			// a request to the server) shows which server it names: that
			// must not move "Sign in", or a click on it while the kit is
			// read lands beside it and is lost.
			signIn := v.Button("Sign in")
			before := buttonTop(t, signIn)
			v.SetupCodeField().Fill(d.Kit)
			v.PasswordField().Focus()
			v.WaitKitRead()
			if after := buttonTop(t, signIn); after != before {
				t.Errorf("reading the kit moved \"Sign in\" from y=%v to y=%v", before, after)
			}
			v.SubmitPassword(Password, false)
			v.WaitUnlocked()
			v.Item("Zebra Bank")
			v.Item("Quokka plans")
			v.Screenshot(fmt.Sprintf("list-%d", vp.Width))
			// Not remembered: nothing of the account outlives the tab.
			if s := v.StoredData(v.Origin); len(s) != 0 {
				t.Errorf("a browser that is not remembered stored %v", s)
			}
			v.ExpectClean(t)
		})
	}
	// The browser became a device of the account, listed by the CLI.
	if got := browserDevices(t, d, "typed"); len(got) != 2 {
		t.Errorf("the CLI lists %d browser devices after two sign-ins, want 2: %+v", len(got), d.Devices(t))
	}
}

// buttonTop is the top of el on the page (not the window: scrolling
// does not change it).
func buttonTop(t *testing.T, el *browsertest.Element) float64 {
	t.Helper()
	var y float64
	if err := json.Unmarshal(el.Call(`function() { return this.getBoundingClientRect().top + window.scrollY; }`), &y); err != nil {
		t.Fatal(err)
	}
	return y
}

func TestSignInWithKitPDF(t *testing.T) {
	e := env(t)
	d := account(t, e, "pdf")
	v := e.Open(t, browsertest.Desktop)
	v.SignInWithFile(d.KitFile(t, "pdf"), Password, false)
	v.WaitUnlocked()
	v.Item("Zebra Bank")
	v.ExpectClean(t)
}

func TestSignInWithKitPNG(t *testing.T) {
	e := env(t)
	d := account(t, e, "png")
	v := e.Open(t, browsertest.Phone)
	v.SignInWithFile(d.KitFile(t, "png"), Password, false)
	v.WaitUnlocked()
	v.Item("Zebra Bank")
	v.ExpectClean(t)
}

// The camera: Chromium's fake capture device plays a video of the kit's
// QR code (the PNG keyhold kit makes, as if held up to the camera); the
// page decodes it locally and asks for the password.
func TestSignInWithCamera(t *testing.T) {
	e := env(t)
	d := account(t, e, "camera")
	f, err := os.Open(d.KitFile(t, "png"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	video := filepath.Join(t.TempDir(), "kit.y4m")
	if err := browsertest.WriteY4MFile(video, img, 640, 480, 10, 10); err != nil {
		t.Fatal(err)
	}
	b, err := e.LaunchBrowser(browsertest.Options{Camera: video})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	v := OpenIn(t, b, e.Server.URL, browsertest.Phone)
	v.Button("Scan QR code").Click()
	v.Screenshot("scan-390")
	v.WaitKitRead()
	v.SubmitPassword(Password, false)
	v.WaitUnlocked()
	v.Item("Zebra Bank")
	v.ExpectClean(t)
}

// A wrong password stores nothing, even with "Remember this browser".
func TestWrongPasswordStoresNothing(t *testing.T) {
	e := env(t)
	d := account(t, e, "wrongpw")
	v := e.Open(t, browsertest.Desktop)
	v.SignInWithCode(d.Kit, Password+" typo", true)
	msg := v.Alert()
	if strings.Contains(msg, Password) {
		t.Errorf("the error shows the password: %q", msg)
	}
	if v.Has("searchbox", "Search") || v.HasItem("Zebra Bank") {
		t.Error("a wrong password opened the vault")
	}
	if s := v.StoredData(v.Origin); len(s) != 0 {
		t.Errorf("a failed sign-in stored %v", s)
	}
	if n := len(browserDevices(t, d, "wrongpw")); n != 0 {
		t.Errorf("a failed sign-in added %d devices", n)
	}
	v.ExpectClean(t)
}

// A kit of an account on another server is refused and stores nothing.
func TestForeignKitStoresNothing(t *testing.T) {
	e := env(t)
	other, err := e.StartServer(filepath.Join(t.TempDir(), "other"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Stop() })
	d := e.NewAccountOn(t, other, "foreign", "--kdf-memory", "8", "--kdf-time", "1", "--kdf-threads", "1")
	v := e.Open(t, browsertest.Desktop)
	v.SetupCodeField().Fill(d.Kit)
	// The page may refuse the kit at once or only after the password.
	if els, _ := v.Query("alert", ""); len(els) == 0 || strings.TrimSpace(els[0].Text()) == "" {
		if v.Has("textbox", "Password") {
			v.PasswordField().Fill(Password)
			v.Remember(true)
			v.Button("Sign in").Click()
		}
	}
	v.Alert()
	if v.Has("searchbox", "Search") {
		t.Error("a foreign kit opened a vault")
	}
	if s := v.StoredData(v.Origin); len(s) != 0 {
		t.Errorf("a foreign kit stored %v", s)
	}
	v.ExpectClean(t)
}

// list, search, reveal, copy, add, edit, trash, restore, history.
func TestItems(t *testing.T) {
	e := env(t)
	d := account(t, e, "items")
	v := e.Open(t, browsertest.Desktop)
	v.SignInWithCode(d.Kit, Password, false)
	v.WaitUnlocked()

	// Search narrows the list as one types.
	v.SearchField().Type("zeb")
	v.Item("Zebra Bank")
	v.WaitGone("link", "Quokka plans")
	v.WaitGone("button", "Quokka plans")
	v.SearchField().Fill("")
	v.Item("Quokka plans")

	// Reveal and copy.
	v.Item("Zebra Bank").Click()
	v.Button("Reveal")
	v.Screenshot("item-1280")
	if strings.Contains(v.Text(), "zebra-secret-Pa55") {
		t.Fatal("the password is shown before Reveal")
	}
	v.Button("Reveal").Click()
	v.WaitText("zebra-secret-Pa55")
	v.Button("Copy password").Click()
	waitFor(t, "the clipboard to hold the password", func() bool { return v.Clipboard() == "zebra-secret-Pa55" })

	// Edit: the old username stays in the history.
	v.Button("Edit").Click()
	v.Screenshot("edit-1280")
	v.Field("Username").Fill("zed2@example.org")
	v.Button("Save").Click()
	v.WaitText("zed2@example.org")
	v.Button("History").Click()
	v.Find("combobox", "Field").Select("Username")
	v.WaitText("zed@example.org")

	// Add.
	v.AddLogin("Aardvark Mail", "aard@example.org", "aardvark-Pa55-word", "https://mail.example")
	v.Item("Aardvark Mail") // in the list, on a wide screen

	// Trash and restore.
	v.Item("Aardvark Mail").Click()
	v.Button("Move to trash").Click()
	v.WaitGone("link", "Aardvark Mail")
	v.WaitGone("button", "Aardvark Mail")
	v.FindAny("Trash", "link", "button").Click()
	v.Item("Aardvark Mail").Click()
	v.Button("Restore").Click()
	v.FindAny("Items", "link", "button").Click()
	v.Item("Aardvark Mail")

	// All of it reaches the server (the page pushes in the background):
	// the CLI device sees it.
	field := func(title, name string) string {
		out, _, err := d.RunErr(nil, "show", title, "--field", name)
		if err != nil {
			return ""
		}
		return strings.TrimSpace(out)
	}
	waitFor(t, "the CLI to see the browser's changes", func() bool {
		d.Run(t, "sync")
		return field("Zebra Bank", "username") == "zed2@example.org" &&
			field("Aardvark Mail", "password") == "aardvark-Pa55-word" &&
			!strings.Contains(d.Run(t, "list", "--trash"), "Aardvark Mail")
	})
	v.ExpectClean(t)
}

// An item added in the browser appears on a CLI device after keyhold sync.
func TestBrowserItemReachesCLI(t *testing.T) {
	e := env(t)
	d := account(t, e, "tocli")
	v := e.Open(t, browsertest.Desktop)
	v.SignInWithCode(d.Kit, Password, false)
	v.WaitUnlocked()
	v.AddLogin("Capybara Shop", "capy@example.org", "capybara-Pa55", "https://shop.example")
	cli := d.SetupDevice(t, "tocli-2")
	waitFor(t, "the CLI to see the item", func() bool {
		cli.Run(t, "sync")
		out, _, err := cli.RunErr(nil, "show", "Capybara Shop", "--field", "username")
		return err == nil && strings.TrimSpace(out) == "capy@example.org"
	})
	v.ExpectClean(t)
}

// An item added on the CLI appears in the open browser without a reload.
func TestCLIItemAppearsLive(t *testing.T) {
	e := env(t)
	d := account(t, e, "live")
	v := e.Open(t, browsertest.Desktop)
	v.SignInWithCode(d.Kit, Password, false)
	v.WaitUnlocked()
	loads := countPath(v.Requests(), v.Origin+"/")
	d.Run(t, "add", "note", "Wombat notes", "--notes", "live")
	d.Run(t, "sync")
	old := v.Timeout
	v.Timeout = 30 * time.Second
	v.Item("Wombat notes")
	v.Timeout = old
	if countPath(v.Requests(), v.Origin+"/") != loads {
		t.Error("the page was reloaded to show the change")
	}
	v.ExpectClean(t)
}

func countPath(reqs []string, u string) int {
	n := 0
	for _, r := range reqs {
		if r == u {
			n++
		}
	}
	return n
}

// Concurrent edits of different fields merge: the browser saves on top of
// the revision it opened, after the CLI changed another field.
func TestConcurrentEditsMerge(t *testing.T) {
	e := env(t)
	d := account(t, e, "merge")
	v := e.Open(t, browsertest.Desktop)
	v.SignInWithCode(d.Kit, Password, false)
	v.WaitUnlocked()
	v.Item("Zebra Bank").Click()
	v.Button("Edit").Click()
	v.Field("Website")
	d.Run(t, "edit", "Zebra Bank", "--username", "cli-edit@example.org")
	d.Run(t, "sync")
	v.Field("Website").Fill("https://browser-edit.example")
	v.Button("Save").Click()
	waitFor(t, "the CLI to see both edits", func() bool {
		d.Run(t, "sync")
		j := d.Run(t, "show", "Zebra Bank", "--json")
		return strings.Contains(j, "cli-edit@example.org") && strings.Contains(j, "https://browser-edit.example")
	})
	// The browser shows both too.
	v.Item("Zebra Bank").Click()
	v.WaitText("cli-edit@example.org")
	v.WaitText("https://browser-edit.example")
	v.ExpectClean(t)
}

// Revoking the browser from the CLI locks it and wipes what it stored.
func TestRevokeLocksAndWipes(t *testing.T) {
	e := env(t)
	d := account(t, e, "revoke")
	v := e.Open(t, browsertest.Desktop)
	v.SignInWithCode(d.Kit, Password, true)
	v.WaitUnlocked()
	if len(v.StoredData(v.Origin)) == 0 {
		t.Fatal("a remembered browser stored nothing")
	}
	devs := browserDevices(t, d, "revoke")
	if len(devs) != 1 {
		t.Fatalf("want one browser device, have %+v", d.Devices(t))
	}
	d.Run(t, "devices", "revoke", devs[0].ID)
	old := v.Timeout
	v.Timeout = 60 * time.Second
	v.WaitGone("searchbox", "Search")
	v.WaitGone("textbox", "Search")
	v.Timeout = old
	waitFor(t, "the browser to wipe its store", func() bool { return len(v.StoredData(v.Origin)) == 0 })
	if v.HasItem("Zebra Bank") || strings.Contains(v.Text(), "zed@example.org") {
		t.Error("the revoked browser still shows the vault")
	}
	v.Reload()
	v.SetupCodeField() // not "Unlock": nothing is remembered any more
	if v.Has("button", "Unlock") {
		t.Error("the revoked browser still offers to unlock")
	}
	v.ExpectClean(t)
}

// A remembered browser asks only for the password; Lock locks it.
func TestRememberedBrowserAndLock(t *testing.T) {
	e := env(t)
	d := account(t, e, "remember")
	v := e.Open(t, browsertest.Desktop)
	v.SignInWithCode(d.Kit, Password, true)
	v.WaitUnlocked()
	if len(v.StoredData(v.Origin)) == 0 {
		t.Fatal("a remembered browser stored nothing")
	}
	v.Reload()
	v.Button("Unlock")
	if v.Has("textbox", "Setup code") {
		t.Error("a remembered browser asks for the setup code again")
	}
	v.Screenshot("unlock-1280")
	v.PasswordField().Fill(Password)
	v.Button("Unlock").Click()
	v.WaitUnlocked()
	v.Item("Zebra Bank")

	// Lock: the list and its data go, the password is asked again.
	v.Button("Lock").Click()
	v.WaitGone("searchbox", "Search")
	v.Button("Unlock")
	if strings.Contains(v.Text(), "Zebra Bank") {
		t.Error("the locked page still shows item titles")
	}
	v.PasswordField().Fill(Password)
	v.Button("Unlock").Click()
	v.WaitUnlocked()
	v.Item("Zebra Bank")
	v.ExpectClean(t)
}

// Idle lock: set to one minute in the page's own settings (Account,
// "Lock after no activity for"), the vault locks by itself.
func TestIdleLock(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the shortest idle lock is one minute")
	}
	e := env(t)
	d := account(t, e, "idle")
	v := e.Open(t, browsertest.Desktop)
	v.SignInWithCode(d.Kit, Password, true)
	v.WaitUnlocked()
	v.FindAny("Account", "link").Click()
	v.Find("combobox", "Lock after no activity for").Select("1 minute")
	v.FindAny("Items", "link").Click()
	v.SearchField()
	v.Timeout = 2 * time.Minute
	v.Button("Unlock")
	v.WaitGone("searchbox", "Search")
	if strings.Contains(v.Text(), "Zebra Bank") {
		t.Error("the page locked by idleness still shows item titles")
	}
	v.ExpectClean(t)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// The harness itself, without the web vault: an account made by the CLI
// on the real server, its kit as text, PDF and PNG, a second CLI device
// set up from the kit, and the device list.
func TestHarness(t *testing.T) {
	shared.once.Do(setupShared)
	if shared.skip != "" {
		t.Skip(shared.skip)
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	e := shared.env
	d := account(t, e, "harness")
	if !strings.HasPrefix(d.Kit, "KH1-") || d.AccountID == "" || d.SecretKey == "" {
		t.Fatalf("kit %q account %q", d.Kit, d.AccountID)
	}
	for _, kind := range []string{"pdf", "png"} {
		fi, err := os.Stat(d.KitFile(t, kind))
		if err != nil || fi.Size() < 500 {
			t.Errorf("kit %s: %v", kind, err)
		}
	}
	d2 := d.SetupDevice(t, "harness-2")
	if got := strings.TrimSpace(d2.Run(t, "show", "Zebra Bank", "--field", "username")); got != "zed@example.org" {
		t.Errorf("second device sees %q", got)
	}
	if n := len(d.Devices(t)); n != 2 {
		t.Errorf("%d devices, want 2", n)
	}
	if got := browserDevices(t, d, "harness", "harness-2"); len(got) != 0 {
		t.Errorf("browser devices before any browser: %+v", got)
	}
}

// The page is served under the policy docs/WEB.md gives, with the other
// security headers.
func TestPageHeaders(t *testing.T) {
	e := env(t)
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	res, err := cl.Get(e.Server.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	want := map[string]string{
		"Content-Security-Policy":    browsertest.WebVaultCSP,
		"Referrer-Policy":            "no-referrer",
		"Cross-Origin-Opener-Policy": "same-origin",
		"X-Content-Type-Options":     "nosniff",
	}
	for h, w := range want {
		if got := res.Header.Get(h); got != w {
			t.Errorf("%s: %q, want %q", h, got, w)
		}
	}
	if !strings.HasPrefix(res.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("no HSTS header: %q", res.Header.Get("Strict-Transport-Security"))
	}
}

// TestScreenshots saves each main screen at desktop and phone width into
// $KEYHOLD_WEB_SCREENSHOTS, for a person to look at (docs/WEB.md); it
// runs only when that is set. It checks nothing but that each screen can
// be reached by its controls.
func TestScreenshots(t *testing.T) {
	if os.Getenv("KEYHOLD_WEB_SCREENSHOTS") == "" {
		t.Skip("set KEYHOLD_WEB_SCREENSHOTS=DIR to save screenshots of the main screens")
	}
	e := env(t)
	d := account(t, e, "shots")
	for _, vp := range []browsertest.Viewport{browsertest.Desktop, browsertest.Phone} {
		t.Run(fmt.Sprint(vp.Width), func(t *testing.T) {
			w := fmt.Sprint(vp.Width)
			v := e.Open(t, vp)
			v.SetupCodeField()
			v.Screenshot("1-sign-in-" + w)
			v.SignInWithCode(d.Kit, Password, true)
			v.WaitUnlocked()
			v.Item("Zebra Bank")
			v.Screenshot("2-list-" + w)
			v.Item("Zebra Bank").Click()
			v.Button("Reveal").Click()
			v.WaitText("zebra-secret-Pa55")
			v.Screenshot("3-item-" + w)
			v.Button("Edit").Click()
			v.Field("Title")
			v.Screenshot("4-edit-" + w)
			v.Button("Cancel").Click()
			v.Button("History").Click()
			v.Screenshot("5-history-" + w)
			v.FindAny("Account", "link").Click()
			v.Button("Download recovery kit")
			v.Screenshot("6-account-" + w)
			v.FindAny("Health", "link").Click()
			v.Screenshot("7-health-" + w)
			v.Button("Lock").Click()
			v.Button("Unlock")
			v.Screenshot("8-unlock-" + w)
			v.ExpectClean(t)
		})
	}
}
