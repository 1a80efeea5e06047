//go:build unix

package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/audits"
	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/performance"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// WebVaultCSP is the web vault's Content-Security-Policy, exactly as
// docs/WEB.md gives it; the tests serve their own pages under it too.
const WebVaultCSP = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' blob: data:; " +
	"connect-src 'self'; worker-src 'self'; manifest-src 'self'; media-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// Viewport is the size of the page's window in CSS pixels.
type Viewport struct {
	Width, Height int64
	Scale         float64 // device pixels per CSS pixel
	Mobile        bool    // a phone: touch, mobile layout rules
}

// The two sizes the web vault is looked at in.
var (
	Desktop = Viewport{Width: 1280, Height: 800, Scale: 1}
	Phone   = Viewport{Width: 390, Height: 844, Scale: 3, Mobile: true}
)

// cspBinding is the function the injected listener reports CSP violations
// through (a DevTools binding: no network, no page script involved).
const cspBinding = "__keyholdTestCSPViolation"

// cspListener runs in every document before the page's own scripts. It is
// injected through the DevTools protocol, which the page's CSP does not
// govern.
const cspListener = `(() => {
  const report = (e) => {
    try {
      globalThis.` + cspBinding + `(JSON.stringify({
        directive: e.effectiveDirective || e.violatedDirective || "",
        blocked: e.blockedURI || "",
        source: e.sourceFile || "",
        line: e.lineNumber || 0,
        sample: e.sample || "",
        disposition: e.disposition || "",
      }));
    } catch (_) {}
  };
  addEventListener("securitypolicyviolation", report, true);
})();`

// Page is one tab in a fresh browser context (its own storage: IndexedDB,
// cookies, cache, service workers), with everything it does recorded.
type Page struct {
	Ctx     context.Context
	cancel  context.CancelFunc
	b       *Browser
	t       testing.TB
	Timeout time.Duration // how long the Wait and find helpers wait (default 20 s)

	mu         sync.Mutex
	violations []string // CSP, from the listener, the log and the issues
	console    []string // console.error and error entries of the browser log
	exceptions []string
	requests   []string // every URL requested
	dialogs    []string // alert/confirm/prompt messages, each accepted
	apiErrors  []string // error statuses under apiPrefix
	apiPrefix  string
}

// NewPage opens a tab in a new browser context, sized as vp, and closes it
// (discarding the context's storage) when the test ends.
func (b *Browser) NewPage(t testing.TB, vp Viewport) *Page {
	t.Helper()
	p := &Page{b: b, t: t, Timeout: 20 * time.Second}
	p.Ctx, p.cancel = chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext(), chromedp.WithListener(p.listen))
	t.Cleanup(p.Close)
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(vp.Scale)}
	if vp.Mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
	}
	err := chromedp.Do(p.Ctx,
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if _, err := cdp.Call(ctx, tg, audits.Enable, cdp.Empty{}); err != nil {
				return err
			}
			if _, err := cdp.Call(ctx, tg, performance.Enable, performance.EnableParams{}); err != nil {
				return err
			}
			if _, err := cdp.Call(ctx, tg, runtime.AddBinding, runtime.AddBindingParams{Name: cspBinding}); err != nil {
				return err
			}
			_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspListener})
			return err
		}),
		chromedp.EmulateViewport(vp.Width, vp.Height, opts...),
	)
	if err != nil {
		t.Fatalf("opening a tab: %v\n%s", err, b.Output())
	}
	return p
}

// Close closes the tab and discards its browser context.
func (p *Page) Close() {
	if p.cancel != nil {
		p.cancel()
	}
}

func (p *Page) listen(ev any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventBindingCalled:
		if ev.Name == cspBinding {
			p.violations = append(p.violations, "securitypolicyviolation: "+ev.Payload)
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			p.console = append(p.console, "console."+string(ev.Type)+": "+argsText(ev.Args))
		}
	case *runtime.EventExceptionThrown:
		p.exceptions = append(p.exceptions, exceptionText(ev.ExceptionDetails))
	case *log.EventEntryAdded:
		e := ev.Entry
		if e == nil {
			return
		}
		line := fmt.Sprintf("%s %s: %s (%s)", e.Source, e.Level, e.Text, e.URL)
		switch {
		case e.Source == log.EntrySourceSecurity || strings.Contains(e.Text, "Content Security Policy"):
			p.violations = append(p.violations, "log: "+line)
		case e.Source == log.EntrySourceNetwork && p.apiPrefix != "" && strings.HasPrefix(pathOf(e.URL), p.apiPrefix):
			// An error status of the API (401 for a wrong password) is an
			// answer the page handles itself; Chromium logs it anyway.
			p.apiErrors = append(p.apiErrors, line)
		case e.Level == log.EntryLevelError:
			p.console = append(p.console, "log: "+line)
		}
	case *audits.EventIssueAdded:
		if ev.Issue != nil && ev.Issue.Code == audits.InspectorIssueCodeContentSecurityPolicyIssue {
			d := ev.Issue.Details
			s := "issue: Content-Security-Policy"
			if d != nil && d.ContentSecurityPolicyIssueDetails != nil {
				c := d.ContentSecurityPolicyIssueDetails
				s = fmt.Sprintf("issue: %s blocked %q (%s)", c.ViolatedDirective, c.BlockedURL, c.ContentSecurityPolicyViolationType)
			}
			p.violations = append(p.violations, s)
		}
	case *page.EventJavascriptDialogOpening:
		// A confirm() ("Move to trash?") is answered yes, as the person
		// clicking would; the listener may not send commands itself.
		p.dialogs = append(p.dialogs, ev.Message)
		go chromedp.Call(p.Ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
	case *network.EventRequestWillBeSent:
		if ev.Request != nil {
			p.requests = append(p.requests, ev.Request.URL)
		}
	}
}

func argsText(args []*runtime.RemoteObject) string {
	var parts []string
	for _, a := range args {
		switch {
		case a == nil:
		case len(a.Value) > 0:
			var s string
			if json.Unmarshal(a.Value, &s) == nil {
				parts = append(parts, s)
			} else {
				parts = append(parts, string(a.Value))
			}
		case a.Description != "":
			parts = append(parts, a.Description)
		default:
			parts = append(parts, string(a.Type))
		}
	}
	return strings.Join(parts, " ")
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d == nil {
		return "exception"
	}
	s := d.Text
	if d.Exception != nil && d.Exception.Description != "" {
		s += " " + d.Exception.Description
	}
	return fmt.Sprintf("%s (%s:%d)", s, d.URL, d.LineNumber+1)
}

// CSPViolations are the Content-Security-Policy violations seen so far
// (each may be reported up to three times: by the page's event, the
// browser log and the DevTools issue).
func (p *Page) CSPViolations() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.violations...)
}

// ConsoleErrors are console.error calls and error entries of the browser
// log seen so far.
func (p *Page) ConsoleErrors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.console...)
}

// Exceptions are the uncaught exceptions (and unhandled rejections) so far.
func (p *Page) Exceptions() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.exceptions...)
}

// Dialogs are the messages of the JavaScript dialogs the page opened
// (each was accepted).
func (p *Page) Dialogs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.dialogs...)
}

// Requests are the URLs of every request the page made so far, in order.
func (p *Page) Requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...)
}

// ForeignRequests are the requests to anything but origin (scheme, host
// and port); data: and blob: URLs are local and not counted.
func (p *Page) ForeignRequests(origin string) []string {
	var out []string
	for _, u := range p.Requests() {
		if strings.HasPrefix(u, "data:") || strings.HasPrefix(u, "blob:") {
			continue
		}
		if Origin(u) != strings.TrimSuffix(origin, "/") {
			out = append(out, u)
		}
	}
	return out
}

// SetAPIPrefix says under which path error statuses are answers of an
// API the page handles itself (a 401 for a wrong password, shown to the
// user), not failures to load the page: they are kept out of
// ConsoleErrors (see APIErrors).
func (p *Page) SetAPIPrefix(prefix string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.apiPrefix = prefix
}

// APIErrors are the error statuses the API answered (SetAPIPrefix).
func (p *Page) APIErrors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.apiErrors...)
}

func pathOf(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return pu.Path
}

// Origin is scheme://host[:port] of u.
func Origin(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return u
	}
	return pu.Scheme + "://" + pu.Host
}

// ExpectClean fails the test for any CSP violation, uncaught exception or
// console error, and for any request to another origin than origin or
// (when allowed is not nil) to a path allowed does not accept.
func (p *Page) ExpectClean(t testing.TB, origin string, allowed func(path string) bool) {
	t.Helper()
	if v := p.CSPViolations(); len(v) > 0 {
		t.Errorf("%d Content-Security-Policy violations, want none:\n\t%s", len(v), strings.Join(v, "\n\t"))
	}
	if e := p.Exceptions(); len(e) > 0 {
		t.Errorf("uncaught exceptions:\n\t%s", strings.Join(e, "\n\t"))
	}
	if c := p.ConsoleErrors(); len(c) > 0 {
		t.Errorf("console errors:\n\t%s", strings.Join(c, "\n\t"))
	}
	if f := p.ForeignRequests(origin); len(f) > 0 {
		t.Errorf("requests to other origins than %s:\n\t%s", origin, strings.Join(f, "\n\t"))
	}
	if allowed != nil {
		for _, u := range p.Requests() {
			if Origin(u) != strings.TrimSuffix(origin, "/") {
				continue
			}
			pu, err := url.Parse(u)
			if err != nil || !allowed(pu.Path) {
				t.Errorf("the page fetched %s, which is neither the API nor a file of the app", u)
			}
		}
	}
}

// Navigate loads u and waits for its load event. Clipboard access (and the
// camera, for a browser with one) is granted to u's origin first.
func (p *Page) Navigate(u string) {
	p.t.Helper()
	p.Grant(Origin(u))
	ctx, cancel := context.WithTimeout(p.Ctx, p.timeout())
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(u)); err != nil {
		p.t.Fatalf("loading %s: %v", u, err)
	}
}

// Reload reloads the page and waits for its load event.
func (p *Page) Reload() {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, p.timeout())
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		p.t.Fatalf("reloading: %v", err)
	}
}

// Grant gives origin the clipboard permissions (reading back what Copy
// wrote) and the camera, in this page's browser context only.
func (p *Page) Grant(origin string) {
	p.t.Helper()
	c := chromedp.FromContext(p.Ctx)
	var bctx cdp.BrowserContextID
	if c != nil && c.Target != nil {
		bctx = c.BrowserContextID
	}
	for _, name := range []string{"clipboard-read", "clipboard-write", "camera"} {
		_, err := chromedp.CallBrowser(p.Ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission:       &browser.PermissionDescriptor{Name: name, AllowWithoutSanitization: name == "clipboard-write"},
			Setting:          browser.PermissionSettingGranted,
			Origin:           origin,
			BrowserContextID: bctx,
		})
		if err != nil {
			p.t.Fatalf("granting %s to %s: %v", name, origin, err)
		}
	}
}

// Clipboard reads the clipboard's text as the page would.
func (p *Page) Clipboard() string {
	p.t.Helper()
	s, err := chromedp.Run(p.Ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("reading the clipboard: %v", err)
	}
	return s
}

// Eval evaluates a JavaScript expression (awaiting a promise) and decodes
// its JSON value into T. For inspection by tests only: tests drive the
// page through its controls.
func Eval[T any](p *Page, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.Ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// Screenshot saves a PNG of the whole page to path.
func (p *Page) Screenshot(path string) {
	p.t.Helper()
	buf, err := chromedp.Run(p.Ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// Metrics returns the DevTools performance metrics of the tab
// (JSHeapUsedSize, JSHeapTotalSize, Nodes, …).
func (p *Page) Metrics() map[string]float64 {
	p.t.Helper()
	res, err := chromedp.Call(p.Ctx, performance.GetMetrics, cdp.Empty{})
	if err != nil {
		p.t.Fatalf("performance metrics: %v", err)
	}
	m := map[string]float64{}
	for _, x := range res.Metrics {
		m[x.Name] = x.Value
	}
	return m
}

func (p *Page) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return 20 * time.Second
}

func jsonUnmarshal(b []byte, v any) error {
	if len(b) == 0 {
		return fmt.Errorf("no value")
	}
	return json.Unmarshal(b, v)
}
