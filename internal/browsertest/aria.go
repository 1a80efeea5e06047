//go:build unix

package browsertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Element is a node found by its ARIA role and accessible name, as a
// screen reader (and the scripts that drive the web vault) find it.
type Element struct {
	p       *Page
	Role    string
	Name    string
	backend cdp.BackendNodeID
}

// jsError is an exception thrown by a function run on an element.
type jsError string

func (e jsError) Error() string { return string(e) }

// errNotFound: nothing matched (yet).
var errNotFound = errors.New("no such element")

// Query returns the elements that are exposed to assistive technology
// (not hidden) with the role and the accessible name. An empty role
// matches any role; an empty name any name.
func (p *Page) Query(role, name string) ([]*Element, error) {
	nodes, err := QueryAX(p.Ctx, 0, role, name)
	if err != nil {
		return nil, err
	}
	var out []*Element
	for _, n := range nodes {
		out = append(out, &Element{p: p, Role: n.Role, Name: n.Name, backend: n.Backend})
	}
	return out, nil
}

// AXNode is a node of the accessibility tree that stands for a DOM node.
type AXNode struct {
	Role, Name string
	Backend    cdp.BackendNodeID
}

// QueryAX lists the nodes under root (the document when root is 0) in
// the target of ctx that are exposed to assistive technology (not
// hidden) with the role and the accessible name. An empty role matches
// any role; an empty name any name. Page.Query is built on it; it serves
// harnesses that drive targets of their own (exttest).
func QueryAX(ctx context.Context, root cdp.BackendNodeID, role, name string) ([]AXNode, error) {
	return chromedp.Run(ctx, func(ctx context.Context, t *chromedp.Target) ([]AXNode, error) {
		if root == 0 {
			doc, err := cdp.Call(ctx, t, dom.GetDocument, dom.GetDocumentParams{Depth: ptr[int64](0)})
			if err != nil {
				return nil, err
			}
			root = doc.Root.BackendNodeID
		}
		// With a role, match the name here: Chromium's name filter misses
		// some controls whose computed name is the one shown (a file
		// input's).
		params := accessibility.QueryAXTreeParams{BackendNodeID: root, Role: role}
		if role == "" {
			params.AccessibleName = name
		}
		res, err := cdp.Call(ctx, t, accessibility.QueryAXTree, params)
		if err != nil {
			return nil, err
		}
		var out []AXNode
		for _, n := range res.Nodes {
			if n.Ignored || n.BackendDOMNodeID == 0 {
				continue
			}
			a := AXNode{Role: axString(n.Role), Name: axString(n.Name), Backend: n.BackendDOMNodeID}
			if name != "" && a.Name != name {
				continue
			}
			out = append(out, a)
		}
		return out, nil
	})
}

func axString(v *accessibility.Value) string {
	if v == nil || len(v.Value) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(v.Value, &s) != nil {
		return string(v.Value)
	}
	return s
}

func ptr[T any](v T) *T { return &v }

// Find waits until exactly one element has the role and name and returns
// it; the test fails when none (or several) appear within the page's
// timeout. Roles are Chromium's computed roles: "button", "link",
// "textbox", "searchbox", "checkbox", "heading", "region", "status",
// "alert", "navigation", …
func (p *Page) Find(role, name string) *Element {
	p.t.Helper()
	e, err := p.wait(role, name)
	if err != nil {
		p.t.Fatal(err)
	}
	return e
}

// FindAny is Find for an element that may have one of several roles
// (a search field is a "searchbox" or a "textbox").
func (p *Page) FindAny(name string, roles ...string) *Element {
	p.t.Helper()
	deadline := time.Now().Add(p.timeout())
	for {
		for _, r := range roles {
			if els, err := p.Query(r, name); err == nil && len(els) == 1 {
				return els[0]
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no element named %q with a role in %v appeared within %s; the page shows:\n%s", name, roles, p.timeout(), p.bodyText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Has reports whether an element with the role and name is there now.
func (p *Page) Has(role, name string) bool {
	els, err := p.Query(role, name)
	return err == nil && len(els) > 0
}

// WaitGone waits until no element has the role and name.
func (p *Page) WaitGone(role, name string) {
	p.t.Helper()
	deadline := time.Now().Add(p.timeout())
	for p.Has(role, name) {
		if time.Now().After(deadline) {
			p.t.Fatalf("%s %q is still there after %s", role, name, p.timeout())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *Page) wait(role, name string) (*Element, error) {
	deadline := time.Now().Add(p.timeout())
	var last []*Element
	var lastErr error
	for {
		els, err := p.Query(role, name)
		if err == nil && len(els) == 1 {
			return els[0], nil
		}
		last, lastErr = els, err
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if lastErr != nil {
		return nil, fmt.Errorf("finding %s %q: %w", role, name, lastErr)
	}
	if len(last) > 1 {
		return nil, fmt.Errorf("%d elements are %s %q, want one", len(last), role, name)
	}
	return nil, fmt.Errorf("%w: no %s named %q appeared within %s; the page shows:\n%s", errNotFound, role, name, p.timeout(), p.bodyText())
}

// Text is the visible text of the whole page.
func (p *Page) Text() string {
	p.t.Helper()
	return p.bodyText()
}

func (p *Page) bodyText() string { return VisibleText(p.Ctx) }

// VisibleText is the visible text of the page in the target of ctx (or
// why it could not be read).
func VisibleText(ctx context.Context) string {
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}

// WaitText waits until the page's visible text contains s.
func (p *Page) WaitText(s string) {
	p.t.Helper()
	if err := WaitVisibleText(p.Ctx, s, p.timeout()); err != nil {
		p.t.Fatal(err)
	}
}

// WaitVisibleText waits at most timeout until the VisibleText of the page
// in the target of ctx contains s; the error says what it shows instead.
func WaitVisibleText(ctx context.Context, s string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		text := VisibleText(ctx)
		if strings.Contains(text, s) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the page did not show %q within %s; it shows:\n%s", s, timeout, text)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// call runs fn (a JavaScript function declaration) with this set to the
// element and returns its JSON value.
// call runs fn on the element. A page that redraws (a list re-rendered
// after a live change) replaces the node between finding and using it:
// then the element is found again by its role and name, until the page's
// timeout.
func (e *Element) call(fn string, args ...any) (runtime.RemoteObject, error) {
	r, err := e.callOnce(fn, args...)
	var jsErr jsError
	if err == nil || errors.As(err, &jsErr) {
		return r, err
	}
	deadline := time.Now().Add(e.p.timeout())
	for time.Now().Before(deadline) {
		if els, qerr := e.p.Query(e.Role, e.Name); qerr == nil && len(els) == 1 {
			if els[0].backend != e.backend {
				e.backend = els[0].backend
				return e.callOnce(fn, args...)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return r, err
}

func (e *Element) callOnce(fn string, args ...any) (runtime.RemoteObject, error) {
	return CallOn(e.p.Ctx, e.backend, fn, args...)
}

// CallOn runs fn (a JavaScript function declaration) in the target of
// ctx with this set to the DOM node and args (JSON values) as its
// arguments, awaiting a promise, and returns its result by value. An
// exception fn throws is the error.
func CallOn(ctx context.Context, node cdp.BackendNodeID, fn string, args ...any) (runtime.RemoteObject, error) {
	var cargs []*runtime.CallArgument
	for _, a := range args {
		b, err := json.Marshal(a)
		if err != nil {
			return runtime.RemoteObject{}, err
		}
		cargs = append(cargs, &runtime.CallArgument{Value: b})
	}
	return chromedp.Run(ctx, func(ctx context.Context, t *chromedp.Target) (runtime.RemoteObject, error) {
		obj, err := cdp.Call(ctx, t, dom.ResolveNode, dom.ResolveNodeParams{BackendNodeID: node})
		if err != nil {
			return runtime.RemoteObject{}, err
		}
		res, err := cdp.Call(ctx, t, runtime.CallFunctionOn, runtime.CallFunctionOnParams{
			FunctionDeclaration: fn, ObjectID: obj.Object.ObjectID, Arguments: cargs, ReturnByValue: ptr(true), AwaitPromise: ptr(true),
		})
		if err != nil {
			return runtime.RemoteObject{}, err
		}
		if res.ExceptionDetails != nil {
			return runtime.RemoteObject{}, jsError(exceptionText(res.ExceptionDetails))
		}
		if res.Result == nil {
			return runtime.RemoteObject{}, nil
		}
		return *res.Result, nil
	})
}

func (e *Element) fail(what string, err error) {
	e.p.t.Helper()
	e.p.t.Fatalf("%s %s %q: %v", what, e.Role, e.Name, err)
}

// Click scrolls the element into view and clicks its centre with the
// mouse, as a person would (a covered or disabled control does not react).
func (e *Element) Click() {
	e.p.t.Helper()
	r, err := e.call(`function() {
		this.scrollIntoView({block: "center", inline: "center"});
		const r = this.getBoundingClientRect();
		return [r.left + r.width / 2, r.top + r.height / 2];
	}`)
	if err != nil {
		e.fail("clicking", err)
	}
	var xy [2]float64
	if err := jsonUnmarshal(r.Value, &xy); err != nil {
		e.fail("clicking", err)
	}
	if err := chromedp.Do(e.p.Ctx, chromedp.MouseClickXY(xy[0], xy[1])); err != nil {
		e.fail("clicking", err)
	}
}

// Focus gives the element the keyboard focus.
func (e *Element) Focus() {
	e.p.t.Helper()
	if _, err := e.call(`function() { this.focus(); }`); err != nil {
		e.fail("focusing", err)
	}
}

// Fill replaces the field's text with s, as pasting it would: one input
// event.
func (e *Element) Fill(s string) {
	e.p.t.Helper()
	if _, err := e.call(`function() { this.focus(); if (this.select) this.select(); }`); err != nil {
		e.fail("filling", err)
	}
	if s == "" {
		if err := chromedp.Do(e.p.Ctx, chromedp.KeyEvent("\b")); err != nil {
			e.fail("clearing", err)
		}
		return
	}
	if _, err := chromedp.Call(e.p.Ctx, input.InsertText, input.InsertTextParams{Text: s}); err != nil {
		e.fail("filling", err)
	}
}

// Type focuses the field and types s key by key at the end of what it
// holds (one input event per character, as a person typing).
func (e *Element) Type(s string) {
	e.p.t.Helper()
	if _, err := e.call(`function() { this.focus(); const n = (this.value || "").length; if (this.setSelectionRange) this.setSelectionRange(n, n); }`); err != nil {
		e.fail("typing into", err)
	}
	if err := chromedp.Do(e.p.Ctx, chromedp.KeyEvent(s)); err != nil {
		e.fail("typing into", err)
	}
}

// Press sends one key (chromedp/kb names, e.g. kb.Enter) to the focused
// element.
func (p *Page) Press(key string) {
	p.t.Helper()
	if err := chromedp.Do(p.Ctx, chromedp.KeyEvent(key)); err != nil {
		p.t.Fatalf("pressing %q: %v", key, err)
	}
}

// SetFiles chooses files (paths on this machine) in a file input, as the
// file picker would.
func (e *Element) SetFiles(paths ...string) {
	e.p.t.Helper()
	_, err := chromedp.Call(e.p.Ctx, dom.SetFileInputFiles, dom.SetFileInputFilesParams{Files: paths, BackendNodeID: e.backend})
	if err != nil {
		e.fail("choosing files in", err)
	}
}

// Value is the field's current value (or the element's text).
func (e *Element) Value() string {
	e.p.t.Helper()
	r, err := e.call(`function() { return "value" in this ? String(this.value) : this.innerText; }`)
	if err != nil {
		e.fail("reading", err)
	}
	var s string
	if err := jsonUnmarshal(r.Value, &s); err != nil {
		e.fail("reading", err)
	}
	return s
}

// Text is the element's visible text.
func (e *Element) Text() string {
	e.p.t.Helper()
	r, err := e.call(`function() { return this.innerText || this.textContent || ""; }`)
	if err != nil {
		e.fail("reading", err)
	}
	var s string
	if err := jsonUnmarshal(r.Value, &s); err != nil {
		e.fail("reading", err)
	}
	return s
}

// Checked says whether a checkbox is ticked.
func (e *Element) Checked() bool {
	e.p.t.Helper()
	r, err := e.call(`function() { return !!this.checked || this.getAttribute("aria-checked") === "true"; }`)
	if err != nil {
		e.fail("reading", err)
	}
	var b bool
	if err := jsonUnmarshal(r.Value, &b); err != nil {
		e.fail("reading", err)
	}
	return b
}

// FileInput waits for the file input (<input type=file>) whose accessible
// name is name, whatever role Chromium gives it.
func (p *Page) FileInput(name string) *Element {
	p.t.Helper()
	deadline := time.Now().Add(p.timeout())
	for {
		// Chromium gives a file input the button role.
		var els []*Element
		for _, role := range []string{"button"} {
			found, _ := p.Query(role, name)
			els = append(els, found...)
		}
		for _, e := range els {
			r, err := e.call(`function() { return this.tagName === "INPUT" && this.type === "file"; }`)
			var ok bool
			if err == nil && jsonUnmarshal(r.Value, &ok) == nil && ok {
				return e
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no file input named %q appeared within %s; the page shows:\n%s", name, p.timeout(), p.bodyText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Select chooses the option whose text is label in a <select> (role
// combobox or listbox), as choosing it with the keyboard would: the
// select's input and change events fire.
func (e *Element) Select(label string) {
	e.p.t.Helper()
	r, err := e.call(`function(label) {
		const o = Array.from(this.options || []).find((o) => o.text.trim() === label);
		if (!o) return false;
		this.focus();
		this.value = o.value;
		this.dispatchEvent(new Event("input", {bubbles: true}));
		this.dispatchEvent(new Event("change", {bubbles: true}));
		return true;
	}`, label)
	var ok bool
	if err == nil {
		err = jsonUnmarshal(r.Value, &ok)
	}
	if err != nil || !ok {
		e.fail("choosing "+label+" in", fmt.Errorf("no such option (%v)", err))
	}
}

// Call runs fn, a JavaScript function declaration, with this set to the
// element and args (JSON values) as its arguments, awaiting a promise, and
// returns its JSON result. For measurements (bench/web) that must hook
// into the element itself; tests drive the page through its controls.
func (e *Element) Call(fn string, args ...any) []byte {
	e.p.t.Helper()
	r, err := e.call(fn, args...)
	if err != nil {
		e.fail("calling a function on", err)
	}
	return r.Value
}
