//go:build unix

package webtest

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/keyhold/keyhold/internal/browsertest"
)

// signedInUnremembered opens a desktop browser signed in to the shared
// security account with the typed setup code, not remembered, its vault
// unlocked: where most of these tests start.
func signedInUnremembered(t *testing.T) *Vault {
	t.Helper()
	e := env(t)
	d := securityAccount(t, e)
	v := e.Open(t, browsertest.Desktop)
	v.SignInWithCode(d.Kit, Password, false)
	v.WaitUnlocked()
	return v
}

// securityAccount is the one account the tests of this file share: the
// server limits how many accounts one address creates. Each test signs
// in from a browser context of its own (a device of its own), revoked
// when the test ends, since the account's plan limits its devices.
func securityAccount(t *testing.T, e *Env) *Device {
	t.Helper()
	secAccount.Do(func() { secAccount.d = account(t, e, "security") })
	d := secAccount.d
	if d == nil {
		t.Fatal("the shared account could not be made")
	}
	t.Cleanup(func() {
		// Devices() cannot read a list with a revoked device in it (its
		// "revoked" is a time), so the list is read here.
		var devs []struct {
			ID      string          `json:"id"`
			Name    string          `json:"name"`
			Revoked json.RawMessage `json:"revoked"`
		}
		if err := json.Unmarshal([]byte(d.Run(t, "devices", "list", "--json")), &devs); err != nil {
			t.Fatalf("devices list --json: %v", err)
		}
		for _, x := range devs {
			if x.Name != "security" && (len(x.Revoked) == 0 || string(x.Revoked) == "null" || string(x.Revoked) == "false") {
				d.Run(t, "devices", "revoke", x.ID)
			}
		}
	})
	return d
}

var secAccount struct {
	sync.Once
	d *Device
}

// evalIn evaluates js in a tab and returns its result.
func evalIn[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// waitIn waits until js is true in a tab.
func waitIn(t *testing.T, ctx context.Context, what, js string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !evalIn[bool](t, ctx, js) {
		if time.Now().After(deadline) {
			text := evalIn[string](t, ctx, `document.body.innerText`)
			t.Fatalf("timed out waiting for %s; the tab shows:\n%s", what, text)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Two tabs of one remembered browser never hold the vault at once (each
// would append its own change records to the one stored vault): the
// second tab says so and offers "Use this tab", which locks the first at
// once; a tab without the vault may not write the store.
func TestOneUnlockedTabPerBrowser(t *testing.T) {
	e := env(t)
	d := securityAccount(t, e)
	v := e.Open(t, browsertest.Desktop)
	v.SignInWithCode(d.Kit, Password, true)
	v.WaitUnlocked()
	v.Item("Zebra Bank")

	// A second tab of the same browser profile (same browser context).
	tab2, cancel := chromedp.NewContext(v.Ctx)
	defer cancel()
	if _, err := chromedp.Run(tab2, chromedp.Navigate(v.Origin+"/")); err != nil {
		t.Fatal(err)
	}
	waitIn(t, tab2, "the unlock screen", `document.body.dataset.screen === 'unlock'`)
	waitIn(t, tab2, "the other-tab notice", `!document.getElementById('other-tab').hidden`)
	if s := evalIn[string](t, tab2, `document.getElementById('other-tab').innerText`); !strings.Contains(s, "Keyhold is open in another tab of this browser") || !strings.Contains(s, "Use this tab") {
		t.Fatalf("the second tab says %q", s)
	}
	// Unlocking there without taking the vault over is refused.
	evalIn[bool](t, tab2, `(() => { document.getElementById('unlock-password').value = `+jsString(Password)+`; document.getElementById('unlock-form').requestSubmit(); return true; })()`)
	time.Sleep(500 * time.Millisecond)
	if evalIn[string](t, tab2, `document.body.dataset.screen`) != "unlock" {
		t.Fatal("a second tab unlocked while the first holds the vault")
	}
	v.Item("Zebra Bank")

	// "Use this tab": the first tab locks at once and says why.
	evalIn[bool](t, tab2, `(() => { document.getElementById('use-this-tab').click(); return true; })()`)
	v.WaitGone("searchbox", "Search")
	v.WaitText("another tab")
	if strings.Contains(v.Text(), "Zebra Bank") {
		t.Error("the tab that lost the vault still shows item titles")
	}
	if got := evalIn[string](t, v.Ctx, `keyholdHost.store.put('probe', new Uint8Array([1])).then(() => 'stored', (e) => e.code || String(e))`); got != "locked" {
		t.Errorf("a tab without the vault wrote the store: %s", got)
	}

	// The second tab now unlocks.
	evalIn[bool](t, tab2, `(() => { document.getElementById('unlock-password').value = `+jsString(Password)+`; document.getElementById('unlock-form').requestSubmit(); return true; })()`)
	waitIn(t, tab2, "the second tab to unlock", `document.body.dataset.screen === 'vault' && document.body.innerText.includes('Zebra Bank')`)
	v.ExpectClean(t)
}

// The clipboard holding a copied password is cleared on Lock.
func TestClipboardClearedOnLock(t *testing.T) {
	v := signedInUnremembered(t)
	v.Item("Zebra Bank").Click()
	v.Button("Copy password").Click()
	waitFor(t, "the clipboard to hold the password", func() bool { return v.Clipboard() == "zebra-secret-Pa55" })
	v.Button("Lock").Click()
	waitFor(t, "the clipboard to be cleared on Lock", func() bool { return v.Clipboard() == "" })
	v.ExpectClean(t)
}

// Downloading the recovery kit (a blob: link) works under the policy,
// with no violation.
func TestKitDownloadUnderPolicy(t *testing.T) {
	v := signedInUnremembered(t)
	v.FindAny("Account", "link").Click()
	v.Button("Download recovery kit").Click()
	// The first kit download loads the kit module and renders the PDF in
	// WebAssembly: on a loaded 2-core machine that has taken over 20 s.
	v.Timeout = 90 * time.Second
	v.WaitText("Recovery kit downloaded")
	v.ExpectClean(t)
}

// The 30 s clearing happens only while the page is in front: when another
// tab is in front then, the clipboard is cleared as soon as the page is
// again.
func TestClipboardClearedWhenBack(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the clipboard is cleared after 30 s")
	}
	v := signedInUnremembered(t)
	v.Item("Zebra Bank").Click()
	v.Button("Copy password").Click()
	waitFor(t, "the clipboard to hold the password", func() bool { return v.Clipboard() == "zebra-secret-Pa55" })

	// Headless Chromium reports every tab as focused, so the page is
	// told it is behind (document.hasFocus) and then that it is back (a
	// focus event), as a browser with windows tells it.
	evalIn[bool](t, v.Ctx, `(document.hasFocus = () => false, true)`)
	v.Timeout = time.Minute
	v.WaitText("cleared when you come back")
	if got := v.Clipboard(); got != "zebra-secret-Pa55" {
		t.Fatalf("the clipboard holds %q while the page is behind", got)
	}
	evalIn[bool](t, v.Ctx, `(delete document.hasFocus, window.dispatchEvent(new Event('focus')), true)`)
	waitFor(t, "the clipboard to be cleared when the page is back", func() bool { return v.Clipboard() == "" })
	v.ExpectClean(t)
}

// A lock time in localStorage that the page does not offer (0 minutes
// idle would lock within 5 s) is ignored: the default applies.
func TestLockSettingClamped(t *testing.T) {
	e := env(t)
	d := securityAccount(t, e)
	v := e.Open(t, browsertest.Desktop)
	evalIn[bool](t, v.Ctx, `(localStorage.setItem('keyhold.idleMinutes', '0'), localStorage.setItem('keyhold.hiddenMinutes', '-3'), true)`)
	v.SignInWithCode(d.Kit, Password, false)
	v.WaitUnlocked()
	v.FindAny("Account", "link").Click()
	if got := v.Find("combobox", "Lock after no activity for").Value(); got != "15" {
		t.Errorf("idle lock time shown as %q, want the default 15", got)
	}
	if got := v.Find("combobox", "Lock when this tab has been hidden for").Value(); got != "5" {
		t.Errorf("hidden lock time shown as %q, want the default 5", got)
	}
	v.FindAny("Items", "link").Click()
	time.Sleep(7 * time.Second) // past the 5 s idle check
	v.SearchField()
	v.Item("Zebra Bank")
	v.ExpectClean(t)
}

// The service worker caches only the page and the hashed files under /a/.
func TestServiceWorkerCachesOnlyHashedFiles(t *testing.T) {
	v := signedInUnremembered(t)
	waitIn(t, v.Ctx, "the service worker to cache the app", `caches.keys().then(async (ks) => { let n = 0; for (const k of ks) n += (await (await caches.open(k)).keys()).length; return n > 3; })`)
	paths := evalIn[[]string](t, v.Ctx, `caches.keys().then(async (ks) => { const out = []; for (const k of ks) for (const r of await (await caches.open(k)).keys()) out.push(new URL(r.url).pathname); return out; })`)
	for _, p := range paths {
		if p != "/" && !strings.HasPrefix(p, "/a/") {
			t.Errorf("the service worker cached %s", p)
		}
	}
	v.ExpectClean(t)
}

func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`)
	return "'" + r.Replace(s) + "'"
}
