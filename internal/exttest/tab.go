//go:build unix

package exttest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/keyhold/keyhold/internal/browsertest"
)

// Tab drives one page (a tab, the popup, the options page) the way a
// person with a screen reader finds things: by ARIA role and accessible
// name, which is also the contract the popup promises.
//
// browsertest.Page does the same for pages in fresh browser contexts;
// extensions do not run there, so the harness drives targets of the
// default profile with browsertest's finders (QueryAX, CallOn).
type Tab struct {
	Ctx     context.Context
	T       testing.TB
	Timeout time.Duration
}

// Element is a node found by role and name.
type Element struct {
	tab     *Tab
	Role    string
	Name    string
	backend cdp.BackendNodeID
}

func (p *Tab) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return 15 * time.Second
}

// query lists the unignored nodes with role and name under root (the
// document when root is 0).
func (p *Tab) query(root cdp.BackendNodeID, role, name string) ([]*Element, error) {
	nodes, err := browsertest.QueryAX(p.Ctx, root, role, name)
	if err != nil {
		return nil, err
	}
	var out []*Element
	for _, n := range nodes {
		out = append(out, &Element{tab: p, Role: n.Role, Name: n.Name, backend: n.Backend})
	}
	return out, nil
}

// Has reports whether an element with one of the roles and the name is
// there now.
func (p *Tab) Has(name string, roles ...string) bool {
	for _, r := range roles {
		if els, err := p.query(0, r, name); err == nil && len(els) > 0 {
			return true
		}
	}
	return false
}

// Find waits until exactly one element has one of the roles and the name.
func (p *Tab) Find(name string, roles ...string) *Element {
	p.T.Helper()
	return p.find(0, name, roles...)
}

func (p *Tab) find(root cdp.BackendNodeID, name string, roles ...string) *Element {
	p.T.Helper()
	deadline := time.Now().Add(p.timeout())
	var last string
	for {
		for _, r := range roles {
			els, err := p.query(root, r, name)
			if err == nil && len(els) == 1 {
				return els[0]
			}
			last = fmt.Sprintf("%d found, err %v", len(els), err)
		}
		if time.Now().After(deadline) {
			p.T.Fatalf("no single element named %q with a role in %v within %s (%s); the page shows:\n%s", name, roles, p.timeout(), last, p.Text())
		}
		time.Sleep(40 * time.Millisecond)
	}
}

// WaitGone waits until no element has the role and name.
func (p *Tab) WaitGone(name string, roles ...string) {
	p.T.Helper()
	deadline := time.Now().Add(p.timeout())
	for p.Has(name, roles...) {
		if time.Now().After(deadline) {
			p.T.Fatalf("%v %q is still there after %s", roles, name, p.timeout())
		}
		time.Sleep(40 * time.Millisecond)
	}
}

// Text is the page's visible text.
func (p *Tab) Text() string { return browsertest.VisibleText(p.Ctx) }

// WaitText waits until the page's visible text contains s.
func (p *Tab) WaitText(s string) {
	p.T.Helper()
	if err := browsertest.WaitVisibleText(p.Ctx, s, p.timeout()); err != nil {
		p.T.Fatal(err)
	}
}

// Navigate loads u and waits for its load event.
func (p *Tab) Navigate(u string) {
	p.T.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, p.timeout())
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(u)); err != nil {
		p.T.Fatalf("loading %s: %v", u, err)
	}
}

// Eval evaluates a JavaScript expression in the page (awaiting a
// promise), for what a test inspects, never to drive the extension.
func Eval[T any](p *Tab, expr string) T {
	p.T.Helper()
	v, err := chromedp.Run(p.Ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.T.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// ClickAt clicks the mouse at x, y (CSS pixels of the page's viewport):
// to the page, a real click.
func (p *Tab) ClickAt(x, y float64) {
	p.T.Helper()
	if err := chromedp.Do(p.Ctx, chromedp.MouseClickXY(x, y)); err != nil {
		p.T.Fatalf("clicking at %v,%v: %v", x, y, err)
	}
}

// InsertText types s into the focused element, as an input method does
// (one trusted input event).
func (p *Tab) InsertText(s string) {
	p.T.Helper()
	if _, err := chromedp.Call(p.Ctx, input.InsertText, input.InsertTextParams{Text: s}); err != nil {
		p.T.Fatalf("typing: %v", err)
	}
}

// Find finds a descendant of e by name and role (a button inside a
// candidate's group).
func (e *Element) Find(name string, roles ...string) *Element {
	e.tab.T.Helper()
	return e.tab.find(e.backend, name, roles...)
}

// Has reports whether e has a descendant with the name and one of roles.
func (e *Element) Has(name string, roles ...string) bool {
	for _, r := range roles {
		if els, err := e.tab.query(e.backend, r, name); err == nil && len(els) > 0 {
			return true
		}
	}
	return false
}

// call runs fn (a JavaScript function declaration) with this = the
// element and returns its JSON value.
func (e *Element) call(fn string) (json.RawMessage, error) {
	r, err := browsertest.CallOn(e.tab.Ctx, e.backend, fn)
	return json.RawMessage(r.Value), err
}

// Center scrolls the element into view and returns its centre.
func (e *Element) Center() (x, y float64) {
	e.tab.T.Helper()
	v, err := e.call(`function() {
		this.scrollIntoView({block: "center", inline: "center"});
		const r = this.getBoundingClientRect();
		return [r.left + r.width / 2, r.top + r.height / 2];
	}`)
	var xy [2]float64
	if err == nil {
		err = json.Unmarshal(v, &xy)
	}
	if err != nil {
		e.tab.T.Fatalf("locating %s %q: %v", e.Role, e.Name, err)
	}
	return xy[0], xy[1]
}

// Click clicks the element's centre with the mouse, as a person would.
func (e *Element) Click() {
	e.tab.T.Helper()
	x, y := e.Center()
	e.tab.ClickAt(x, y)
}

// Type focuses the field (by clicking it) and types s.
func (e *Element) Type(s string) {
	e.tab.T.Helper()
	e.Click()
	e.tab.InsertText(s)
}

// Checked says whether a checkbox is ticked.
func (e *Element) Checked() bool {
	e.tab.T.Helper()
	v, err := e.call(`function() { return !!this.checked; }`)
	var b bool
	if err == nil {
		err = json.Unmarshal(v, &b)
	}
	if err != nil {
		e.tab.T.Fatalf("reading %s %q: %v", e.Role, e.Name, err)
	}
	return b
}
