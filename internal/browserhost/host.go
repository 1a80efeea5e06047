// Package browserhost is the native messaging host of the browser
// extension: it answers the extension's requests (protocol v1, decoded by
// DecodeRequest) from the local Keyhold agent.
//
// The host gives the extension only what it needs: candidates for a page
// origin (title, username, an id), and one item's secrets for one fill,
// only when the item matches the origin the browser reported for the
// frame. The agent ranks the candidates, and the host checks the match
// again before it hands out a secret, so that a fill never rests on the
// extension's word or on one check alone. Copies go to the system
// clipboard from the host itself; the secret never enters the browser.
// The host logs nothing of what it is sent or answers.
package browserhost

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/keyhold/keyhold/internal/agent"
	"github.com/keyhold/keyhold/internal/clip"
	"github.com/keyhold/keyhold/internal/gen"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/nativemsg"
	"github.com/keyhold/keyhold/internal/origin"
	"github.com/keyhold/keyhold/internal/otpcode"
	"github.com/keyhold/keyhold/internal/vault"
)

// Agent is what the host asks of the running agent (agent.Client).
type Agent interface {
	Match(ctx context.Context, o origin.Origin, defaultExact bool) ([]agent.Candidate, error)
	MatchSearch(ctx context.Context, q string, o origin.Origin, defaultExact bool) ([]agent.Candidate, bool, error)
	Resolve(ctx context.Context, ref string, f vault.Filter) (*vault.Entry, error)
	Add(ctx context.Context, its ...*item.Item) ([]*vault.Entry, error)
	Put(ctx context.Context, id vault.ItemID, baseRev uint64, it *item.Item) (*vault.Entry, error)
	Lock(ctx context.Context) error
}

// Keyhold is the local Keyhold as the host sees it: the command line
// implements it with the agent's socket, a `keyhold unlock` child and
// internal/clip.
type Keyhold interface {
	// Agent returns the running agent and its status; agent.ErrNoAgent
	// when the vault is locked, vault.ErrNoVault when there is none.
	Agent(ctx context.Context) (Agent, *agent.Status, error)
	// Unlock starts the agent with the password; ErrWrongPassword when
	// it does not open the vault. It must not keep the password.
	Unlock(ctx context.Context, password []byte) error
	// Copy puts value on the system clipboard, cleared after clearAfter
	// if it still holds it (clip.Copy); clip.ErrNoClipboard without one.
	Copy(value []byte, clearAfter time.Duration) error
	// Wrote is told after the host saved or updated an item. It starts a
	// sync in the background, as the user would run keyhold sync, when
	// the vault syncs with a server or a folder: a browser user never
	// types that command. It must not delay the answer, and a failed sync
	// is not the write's failure.
	Wrote()
}

// ErrWrongPassword is what Keyhold.Unlock returns for a password that
// does not open the vault.
var ErrWrongPassword = errors.New("wrong password")

// ClearAfter is how long a copied value stays on the clipboard: the
// default of `keyhold copy`.
const ClearAfter = 45 * time.Second

// Error kinds of protocol v1: the extension acts on the kind, and shows
// the message.
const (
	KindLocked        = "locked"
	KindNoVault       = "no_vault"
	KindWrongPassword = "wrong_password"
	KindNotFound      = "not_found"
	KindOrigin        = "origin"
	KindInvalid       = "invalid"
	KindConflict      = "conflict"
	KindUnavailable   = "unavailable"
	KindInternal      = "internal"
)

// Error is an error answer.
type Error struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

// errOrigin refuses a secret or a change for a page the item does not
// belong to.
var errOrigin = &Error{Kind: KindOrigin, Message: "This login is not for this site: Keyhold fills and updates a login only on the sites its URLs name."}

// Host answers the extension's requests.
type Host struct {
	K Keyhold
	// Version is keyhold's version, reported by status.
	Version string
	// Now is the clock for TOTP codes.
	Now func() time.Time

	unlockMu sync.Mutex // one unlock at a time
}

// maxInFlight bounds the requests answered at once: enough that a status,
// a lock or a fill is not held up by an unlock (a key derivation), few
// enough that a flood of requests cannot make the host grow.
const maxInFlight = 4

// Serve answers the requests read from in (the browser's end of the
// pipe) on out until in ends: the browser closes the host's stdin when the
// extension disconnects. Requests are answered concurrently (each answer
// carries its request's id), up to maxInFlight at once; answers are
// written whole, one at a time. A request cut short or larger than
// nativemsg.MaxMessage ends it with an error, since the stream is then
// out of step.
func (h *Host) Serve(ctx context.Context, in io.Reader, out io.Writer) error {
	r := nativemsg.NewReader(in)
	var (
		wg   sync.WaitGroup
		wmu  sync.Mutex
		werr error
	)
	sem := make(chan struct{}, maxInFlight)
	for {
		msg, err := r.Read()
		if err != nil {
			wg.Wait()
			if err == io.EOF {
				return werr
			}
			return err
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			resp := h.Handle(ctx, msg)
			clear(msg)
			wmu.Lock()
			if err := nativemsg.Write(out, resp); err != nil && werr == nil {
				werr = err
			}
			wmu.Unlock()
			clear(resp)
		}()
	}
}

// Handle answers one request with one response, both JSON. It never
// fails: a request it cannot read gets an error of kind invalid.
func (h *Host) Handle(ctx context.Context, msg []byte) []byte {
	req, err := DecodeRequest(msg)
	if err != nil {
		var de *DecodeError
		errors.As(err, &de)
		return encode(de.ID, nil, &Error{Kind: KindInvalid, Message: err.Error()})
	}
	defer req.Wipe()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	body, err := h.dispatch(ctx, req)
	return encode(req.ID, body, err)
}

// encode writes a response: v, id and ok (which no member of body can
// replace), the error if any, and body's members.
func encode(id int64, body map[string]any, err error) []byte {
	m := make(map[string]any, len(body)+4)
	for k, v := range body {
		m[k] = v
	}
	m["v"], m["id"], m["ok"] = Version, id, err == nil
	if err != nil {
		m["error"] = toError(err)
	}
	b, merr := json.Marshal(m)
	if merr != nil {
		b, _ = json.Marshal(map[string]any{"v": Version, "id": id, "ok": false,
			"error": &Error{Kind: KindInternal, Message: "keyhold could not encode its answer"}})
	}
	return b
}

// toError maps an error to its kind, by type, never by its text.
func toError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var nf *origin.NotFillableError
	switch {
	case errors.As(err, &nf):
		return &Error{Kind: KindOrigin, Message: nf.Error()}
	case errors.Is(err, agent.ErrNoAgent):
		return &Error{Kind: KindLocked, Message: "Keyhold is locked: enter your password to unlock it."}
	case errors.Is(err, vault.ErrNoVault):
		return &Error{Kind: KindNoVault, Message: "There is no Keyhold vault on this computer: run `keyhold init` (a new vault) or `keyhold setup` (from your recovery kit) in a terminal."}
	case errors.Is(err, ErrWrongPassword):
		return &Error{Kind: KindWrongPassword, Message: "Wrong password. Passwords are case-sensitive: check Caps Lock and the keyboard layout."}
	case errors.Is(err, vault.ErrNotFound):
		return &Error{Kind: KindNotFound, Message: "No such item (was it deleted?)."}
	case errors.Is(err, vault.ErrConflict):
		return &Error{Kind: KindConflict, Message: "The item was changed meanwhile; nothing was written. Try again."}
	case errors.Is(err, item.ErrInvalid):
		return &Error{Kind: KindInvalid, Message: err.Error()}
	case errors.Is(err, clip.ErrNoClipboard):
		return &Error{Kind: KindUnavailable, Message: err.Error()}
	}
	return &Error{Kind: KindInternal, Message: "keyhold: " + err.Error()}
}

func invalid(format string, a ...any) error {
	return &Error{Kind: KindInvalid, Message: fmt.Sprintf(format, a...)}
}

func (h *Host) dispatch(ctx context.Context, r *Request) (map[string]any, error) {
	switch r.Op {
	case OpStatus:
		return h.status(ctx)
	case OpUnlock:
		return h.unlock(ctx, r)
	case OpGenerate:
		return h.generate(r)
	}
	ag, _, err := h.K.Agent(ctx)
	if r.Op == OpLock {
		if err == nil {
			err = ag.Lock(ctx)
		}
		if err != nil && !errors.Is(err, agent.ErrNoAgent) {
			return nil, err
		}
		return map[string]any{"state": "locked"}, nil
	}
	if err != nil {
		return nil, err
	}
	switch r.Op {
	case OpCandidates:
		return h.candidates(ctx, ag, r)
	case OpSearch:
		return h.search(ctx, ag, r)
	case OpFill:
		return h.fill(ctx, ag, r)
	case OpCopy:
		return h.copy(ctx, ag, r)
	case OpSaveCheck:
		return h.saveCheck(ctx, ag, r)
	case OpSave:
		return h.save(ctx, ag, r)
	case OpUpdate:
		return h.update(ctx, ag, r)
	}
	return nil, invalid("unknown op %q", r.Op)
}

func (h *Host) status(ctx context.Context) (map[string]any, error) {
	resp := map[string]any{"version": h.Version}
	_, st, err := h.K.Agent(ctx)
	switch {
	case err == nil:
		resp["state"] = "unlocked"
		if st != nil && !st.ExpiresAt.IsZero() {
			resp["expires_at"] = st.ExpiresAt.UTC().Format(time.RFC3339)
		}
	case errors.Is(err, agent.ErrNoAgent):
		resp["state"] = "locked"
	case errors.Is(err, vault.ErrNoVault):
		resp["state"] = "no_vault"
	default:
		return nil, err
	}
	return resp, nil
}

// unlock starts the agent with the password. An agent that already runs
// is left alone (its timeout too): the password is not checked against
// it, and a wrong one must not lock it.
func (h *Host) unlock(ctx context.Context, r *Request) (map[string]any, error) {
	if len(r.Password) == 0 {
		return nil, invalid("Enter the password.")
	}
	// A second unlock waits for the first, then finds the agent running.
	h.unlockMu.Lock()
	defer h.unlockMu.Unlock()
	_, _, err := h.K.Agent(ctx)
	if errors.Is(err, agent.ErrNoAgent) {
		err = h.K.Unlock(ctx, r.Password)
	}
	r.Wipe()
	if err != nil {
		return nil, err
	}
	return map[string]any{"state": "unlocked"}, nil
}

// generate makes a password for a sign-up form. Given the form's frame
// (origin, with top_origin and ancestor_origins), it refuses a frame
// inside another site's page as fill does: the password goes into that
// form next.
func (h *Host) generate(r *Request) (map[string]any, error) {
	if r.Origin != "" {
		o, err := pageOrigin(r.Origin)
		if err != nil {
			return nil, err
		}
		if err := framed(o, r.TopOrigin, r.AncestorOrigins); err != nil {
			return nil, err
		}
	} else if r.TopOrigin != "" || r.AncestorOrigins != nil {
		return nil, invalid("generate takes top_origin and ancestor_origins only with origin")
	}
	pw, err := gen.Password(gen.DefaultPasswordSpec)
	if err != nil {
		return nil, err
	}
	s := string(pw)
	clear(pw)
	return map[string]any{"password": s}, nil
}

// pageOrigin parses an origin the browser reported.
func pageOrigin(s string) (origin.Origin, error) {
	return origin.Parse(s)
}

// candidateJSON is a candidate as the extension gets it.
type candidateJSON struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Type     string `json:"type"`
	Username string `json:"username"`
	URL      string `json:"url"`
	Match    string `json:"match,omitempty"`
	TOTP     bool   `json:"totp"`
	Password bool   `json:"password"`
	Fillable *bool  `json:"fillable,omitempty"`
}

func toCandidateJSON(c agent.Candidate, search bool) candidateJSON {
	j := candidateJSON{ID: c.ID.String(), Title: c.Title, Type: string(c.Type), Username: c.Username, URL: c.URL,
		TOTP: c.TOTP, Password: c.Password}
	if c.Match != origin.NoMatch {
		j.Match = c.Match.String()
	}
	if search {
		f := c.Match != origin.NoMatch
		j.Fillable = &f
	}
	return j
}

func (h *Host) candidates(ctx context.Context, ag Agent, r *Request) (map[string]any, error) {
	o, err := pageOrigin(r.Origin)
	if err != nil {
		return nil, err
	}
	cs, err := ag.Match(ctx, o, r.Exact)
	if err != nil {
		return nil, err
	}
	items := make([]candidateJSON, 0, len(cs))
	for _, c := range cs {
		if c.Match == origin.NoMatch {
			continue
		}
		items = append(items, toCandidateJSON(c, false))
	}
	resp := map[string]any{"origin": o.String(), "origin_display": o.Display(), "items": items, "fillable": true}
	// The candidates of a frame inside another site's page are listed
	// (the user may copy from them) but fill refuses them; say so now.
	if err := framed(o, r.TopOrigin, r.AncestorOrigins); err != nil {
		resp["fillable"], resp["message"] = false, err.Error()
	}
	return resp, nil
}

func (h *Host) search(ctx context.Context, ag Agent, r *Request) (map[string]any, error) {
	var o origin.Origin
	if r.Origin != "" {
		var err error
		if o, err = pageOrigin(r.Origin); err != nil {
			// A page no login fills into: the search still works,
			// nothing is fillable.
			o = origin.Origin{}
		}
	}
	cs, more, err := ag.MatchSearch(ctx, r.Query, o, r.Exact)
	if err != nil {
		return nil, err
	}
	items := make([]candidateJSON, 0, len(cs))
	for _, c := range cs {
		items = append(items, toCandidateJSON(c, true))
	}
	return map[string]any{"items": items, "more": more}, nil
}

// itemFor resolves the item a request names by its full id (never a title
// or prefix: the extension always has the id), not in the trash.
func itemFor(ctx context.Context, ag Agent, id string) (*vault.Entry, error) {
	u, err := uuid.Parse(id)
	if err != nil || len(id) != 36 {
		return nil, invalid("item must be an item id")
	}
	return ag.Resolve(ctx, u.String(), vault.Active)
}

// matchingItem resolves the item and checks, here in the host, that it is
// a login that fills into the page o: the agent ranked it, but a secret
// leaves only on this check.
func matchingItem(ctx context.Context, ag Agent, id string, o origin.Origin, exact bool) (*vault.Entry, error) {
	e, err := itemFor(ctx, ag, id)
	if err != nil {
		return nil, err
	}
	if e.Item.Type != item.Login || origin.Best(e.Item.URLs, o, origin.ItemMode(e.Item.Match, exact)) == origin.NoMatch {
		return nil, errOrigin
	}
	return e, nil
}

// framed refuses a frame whose surrounding pages are not of its own site:
// a login page framed by another site's page is where clickjacking
// happens (the outer page can cover, fade or move the frame under the
// pointer while the user thinks they act on it). Every frame around it
// counts, not only the top page (bank → evil → bank is framed by evil),
// and an https frame inside an http page is refused too: whoever can
// rewrite the http page can frame the login. topOrigin ("" when not
// given) and ancestors are as the browser reported them; one that is not
// a web origin (a browser page, an opaque "null" page) is another site.
func framed(o origin.Origin, topOrigin string, ancestors []string) error {
	check := func(s string) error {
		a, err := origin.Parse(s)
		if err != nil {
			return &Error{Kind: KindOrigin, Message: fmt.Sprintf("This login form is inside a page that is not a web site. Open %s itself to fill.", o.Display())}
		}
		if !origin.SameSite(o, a) {
			return &Error{Kind: KindOrigin, Message: fmt.Sprintf("This login form is inside a page from %s. Open %s itself to fill.", a.Display(), o.Display())}
		}
		if o.Scheme == "https" && a.Scheme != "https" {
			return &Error{Kind: KindOrigin, Message: fmt.Sprintf("This login form is inside an unencrypted page (%s). Open %s itself to fill.", a.Display(), o.Display())}
		}
		return nil
	}
	if topOrigin != "" {
		if err := check(topOrigin); err != nil {
			return err
		}
	}
	for _, a := range ancestors {
		if err := check(a); err != nil {
			return err
		}
	}
	return nil
}

func (h *Host) fill(ctx context.Context, ag Agent, r *Request) (map[string]any, error) {
	o, err := pageOrigin(r.Origin)
	if err != nil {
		return nil, err
	}
	top := r.TopOrigin
	if top == "" {
		top = "null" // a fill always names its top page: none is no web page
	}
	if err := framed(o, top, r.AncestorOrigins); err != nil {
		return nil, err
	}
	e, err := matchingItem(ctx, ag, r.Item, o, r.Exact)
	if err != nil {
		return nil, err
	}
	resp := map[string]any{"username": e.Item.Username(), "password": ""}
	if pw, ok := e.Item.Get("password"); ok {
		resp["password"] = pw
	}
	if secret, ok := e.Item.Get("totp"); ok && secret != "" {
		// A TOTP secret that does not make a code leaves the rest of
		// the fill alone.
		if code, _, _, err := otpcode.Code(secret, h.now()); err == nil {
			resp["totp"] = code
		}
	}
	return resp, nil
}

func (h *Host) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Host) copy(ctx context.Context, ag Agent, r *Request) (map[string]any, error) {
	e, err := itemFor(ctx, ag, r.Item)
	if err != nil {
		return nil, err
	}
	var v string
	var ok bool
	switch r.Field {
	case "username":
		v = e.Item.Username()
		ok = v != ""
	case "password":
		v, ok = e.Item.Get("password")
	case "totp":
		var secret string
		if secret, ok = e.Item.Get("totp"); ok && secret != "" {
			if v, _, _, err = otpcode.Code(secret, h.now()); err != nil {
				return nil, &Error{Kind: KindNotFound, Message: fmt.Sprintf("the TOTP secret of %q does not make a code: fix it with keyhold edit", e.Item.Title)}
			}
		}
	default:
		return nil, invalid("field must be username, password or totp")
	}
	if !ok || v == "" {
		return nil, &Error{Kind: KindNotFound, Message: fmt.Sprintf("%q has no %s", e.Item.Title, r.Field)}
	}
	b := []byte(v)
	err = h.K.Copy(b, ClearAfter)
	clear(b)
	if err != nil {
		return nil, err
	}
	return map[string]any{"clear_after_s": int(ClearAfter / time.Second)}, nil
}

// saveCheck tells the extension what to offer after a form was submitted
// with username and password on the page o: nothing when a login for the
// page has that username and password already; an update when a login of
// this exact host has that username; else saving a new login. A login of
// another host of the domain is never offered for an update: the page
// chose the values, and a sibling subdomain may be someone else's. A form
// without a username (the password step of a two-step login) matches any
// login for the page, and is offered as an update only when the page has
// one login. Passwords are compared in constant time.
func (h *Host) saveCheck(ctx context.Context, ag Agent, r *Request) (map[string]any, error) {
	o, err := pageOrigin(r.Origin)
	if err != nil {
		return nil, err
	}
	cs, err := ag.Match(ctx, o, r.Exact)
	if err != nil {
		return nil, err
	}
	var update *vault.Entry
	for _, c := range cs {
		if c.Match == origin.NoMatch || (r.Username != "" && c.Username != r.Username) {
			continue
		}
		e, err := itemFor(ctx, ag, c.ID.String())
		if errors.Is(err, vault.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		pw, _ := e.Item.Get("password")
		b := []byte(pw)
		same := subtle.ConstantTimeCompare(b, r.Password) == 1
		clear(b)
		if same {
			return map[string]any{"action": "none", "item": e.ID.String(), "title": e.Item.Title}, nil
		}
		if update == nil && c.Match == origin.HostMatch && (r.Username != "" || len(cs) == 1) {
			update = e
		}
	}
	if update != nil {
		return map[string]any{"action": "update", "item": update.ID.String(), "title": update.Item.Title}, nil
	}
	return map[string]any{"action": "save", "title": defaultTitle(o)}, nil
}

// defaultTitle is a new login's title: the page's host without "www.".
func defaultTitle(o origin.Origin) string {
	return strings.TrimPrefix(o.Host, "www.")
}

func (h *Host) save(ctx context.Context, ag Agent, r *Request) (map[string]any, error) {
	o, err := pageOrigin(r.Origin)
	if err != nil {
		return nil, err
	}
	title := strings.TrimSpace(r.Title)
	if title == "" {
		title = defaultTitle(o)
	}
	it := item.New(item.Login, title, vault.Now())
	it.URLs = []string{o.String()}
	if r.Username != "" {
		it.Set("username", r.Username, item.Text)
	}
	it.Set("password", string(r.Password), item.Hidden)
	r.Wipe()
	if err := it.Validate(); err != nil {
		return nil, err
	}
	es, err := ag.Add(ctx, it)
	if err != nil {
		return nil, err
	}
	if len(es) != 1 {
		return nil, errors.New("the agent did not add the item")
	}
	h.K.Wrote()
	return map[string]any{"item": es[0].ID.String(), "title": title}, nil
}

// update changes the username and password of a login that fills into
// the page o; the revision it replaces stays in the item's history, and
// a change made meanwhile elsewhere is a conflict, not overwritten. Like
// save, it then has the vault synced in the background.
func (h *Host) update(ctx context.Context, ag Agent, r *Request) (map[string]any, error) {
	o, err := pageOrigin(r.Origin)
	if err != nil {
		return nil, err
	}
	e, err := matchingItem(ctx, ag, r.Item, o, r.Exact)
	if err != nil {
		return nil, err
	}
	it := e.Item.Clone()
	if r.Username != "" {
		it.Set("username", r.Username, item.Text)
	}
	it.Set("password", string(r.Password), item.Hidden)
	r.Wipe()
	ne, err := ag.Put(ctx, e.ID, e.Revision, it)
	if err != nil {
		return nil, err
	}
	h.K.Wrote()
	return map[string]any{"item": ne.ID.String(), "title": ne.Item.Title}, nil
}
