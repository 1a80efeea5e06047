package browserhost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/agent"
	"github.com/keyhold/keyhold/internal/clip"
	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/nativemsg"
	"github.com/keyhold/keyhold/internal/testenv"
	"github.com/keyhold/keyhold/internal/vault"
)

// TestMain keeps the Secret Key files the tests' vaults write out of the
// user's own state directory.
func TestMain(m *testing.M) { os.Exit(testenv.RunIsolatedXDG(m)) }

const testPassword = "correct horse battery 9"

func testOpts() []vault.Option {
	return []vault.Option{vault.WithSecretKeyDir(filepath.Join(os.Getenv("XDG_STATE_HOME"), "keyhold", "secret-keys"))}
}

// localKeyhold is a real vault with a real agent, served in this process:
// Unlock opens the vault with the password and starts an agent.Server on
// a socket, as `keyhold unlock` does in its own process. Only the
// clipboard is recorded instead of written (the command's test copies to
// a real one).
type localKeyhold struct {
	t    *testing.T
	dir  string
	sock string

	mu      sync.Mutex
	stop    func()
	copied  []string
	unlocks int
	noClip  bool
	writes  int
}

func newLocalKeyhold(t *testing.T) *localKeyhold {
	dir := filepath.Join(t.TempDir(), "vault")
	if _, err := vault.Create(dir, []byte(testPassword), vault.CreateOptions{KDF: keys.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}}, testOpts()...); err != nil {
		t.Fatal(err)
	}
	sockDir := t.TempDir()
	os.Chmod(sockDir, 0o700)
	k := &localKeyhold{t: t, dir: dir, sock: filepath.Join(sockDir, "agent.sock")}
	t.Cleanup(func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.stop != nil {
			k.stop()
		}
	})
	return k
}

func (k *localKeyhold) Agent(ctx context.Context) (Agent, *agent.Status, error) {
	if !vault.Exists(k.dir) {
		return nil, nil, vault.ErrNoVault
	}
	if !agent.Listening(k.sock) {
		return nil, nil, agent.ErrNoAgent
	}
	cl, st, err := agent.Dial(k.sock)
	if err != nil {
		return nil, nil, err
	}
	return cl, st, nil
}

func (k *localKeyhold) Unlock(ctx context.Context, password []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.unlocks++
	v, err := vault.Open(k.dir, testOpts()...)
	if err != nil {
		return err
	}
	s, err := v.Unlock(password)
	if errors.Is(err, format.ErrWrongPassword) {
		v.Close()
		return ErrWrongPassword
	}
	if err != nil {
		v.Close()
		return err
	}
	srv := agent.NewServer(s, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, k.sock, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		return err
	}
	k.stop = func() { cancel(); <-done; v.Close() }
	return nil
}

func (k *localKeyhold) Copy(value []byte, after time.Duration) error {
	if k.noClip {
		return clip.ErrNoClipboard
	}
	if after != ClearAfter {
		k.t.Errorf("copied to be cleared after %v, want %v", after, ClearAfter)
	}
	k.copied = append(k.copied, string(value))
	return nil
}

func (k *localKeyhold) Wrote() { k.writes++ }

// session talks to a Host as the extension does, through Handle.
type session struct {
	t  *testing.T
	h  *Host
	id int
}

func (s *session) call(req map[string]any) map[string]any {
	s.t.Helper()
	s.id++
	req["v"], req["id"] = 1, s.id
	if _, ok := req["top_origin"]; req["op"] == "fill" && !ok {
		// A fill into a top-level page: the page is its own top.
		req["top_origin"] = req["origin"]
	}
	b, err := json.Marshal(req)
	if err != nil {
		s.t.Fatal(err)
	}
	out := s.h.Handle(context.Background(), b)
	var resp map[string]any
	if err := json.Unmarshal(out, &resp); err != nil {
		s.t.Fatalf("%s: the answer is not JSON: %v", req["op"], err)
	}
	if resp["v"] != float64(1) || resp["id"] != float64(s.id) {
		s.t.Errorf("%s: answer with v=%v id=%v, want 1 and %d", req["op"], resp["v"], resp["id"], s.id)
	}
	return resp
}

// ok calls and fails unless the answer is ok.
func (s *session) ok(req map[string]any) map[string]any {
	s.t.Helper()
	resp := s.call(req)
	if resp["ok"] != true {
		s.t.Fatalf("%v: %v", req["op"], resp["error"])
	}
	return resp
}

// fails calls and checks the error kind; the message must not carry
// any of the secrets.
func (s *session) fails(kind string, req map[string]any, secrets ...string) map[string]any {
	s.t.Helper()
	resp := s.call(req)
	e, _ := resp["error"].(map[string]any)
	if resp["ok"] != false || e == nil || e["kind"] != kind {
		s.t.Fatalf("%v: %v, want an error of kind %s", req["op"], resp, kind)
	}
	raw, _ := json.Marshal(resp)
	for _, sec := range secrets {
		if sec != "" && bytes.Contains(raw, []byte(sec)) {
			s.t.Errorf("%v: the error answer carries a secret: %s", req["op"], raw)
		}
	}
	return resp
}

func newSession(t *testing.T) (*session, *localKeyhold) {
	k := newLocalKeyhold(t)
	return &session{t: t, h: &Host{K: k, Version: "test"}}, k
}

func unlocked(t *testing.T) (*session, *localKeyhold, *agent.Client) {
	s, k := newSession(t)
	s.ok(map[string]any{"op": "unlock", "password": testPassword})
	ag, _, err := k.Agent(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s, k, ag.(*agent.Client)
}

func addLogin(t *testing.T, ag *agent.Client, title, user, pw string, urls ...string) string {
	t.Helper()
	it := item.New(item.Login, title, vault.Now())
	it.URLs = urls
	if user != "" {
		it.Set("username", user, item.Text)
	}
	if pw != "" {
		it.Set("password", pw, item.Hidden)
	}
	es, err := ag.Add(context.Background(), it)
	if err != nil {
		t.Fatal(err)
	}
	return es[0].ID.String()
}

func titles(resp map[string]any) []string {
	var out []string
	items, _ := resp["items"].([]any)
	for _, x := range items {
		m := x.(map[string]any)
		out = append(out, fmt.Sprint(m["title"]))
	}
	return out
}

// TestLockState: status follows the vault from no vault to locked to
// unlocked and back; a wrong password changes nothing, and an unlock of an
// unlocked vault is not a second unlock.
func TestLockState(t *testing.T) {
	s, k := newSession(t)
	if got := s.ok(map[string]any{"op": "status"}); got["state"] != "locked" || got["version"] != "test" {
		t.Errorf("status of a locked vault: %v", got)
	}
	s.fails("locked", map[string]any{"op": "candidates", "origin": "https://example.com"})
	s.fails("wrong_password", map[string]any{"op": "unlock", "password": "Correct horse battery 9"}, "Correct horse")
	if got := s.ok(map[string]any{"op": "status"}); got["state"] != "locked" {
		t.Errorf("status after a wrong password: %v", got)
	}
	s.ok(map[string]any{"op": "unlock", "password": testPassword})
	got := s.ok(map[string]any{"op": "status"})
	if got["state"] != "unlocked" || got["expires_at"] == nil {
		t.Errorf("status after unlock: %v", got)
	}
	// Unlocked already: a wrong password does not lock it, and nothing
	// is started again.
	s.ok(map[string]any{"op": "unlock", "password": "anything"})
	if k.unlocks != 2 {
		t.Errorf("%d unlocks, want 2 (the wrong one and the right one)", k.unlocks)
	}
	if got := s.ok(map[string]any{"op": "lock"}); got["state"] != "locked" {
		t.Errorf("lock: %v", got)
	}
	waitLocked(t, s)
	s.ok(map[string]any{"op": "lock"}) // locked already: still fine

	os.RemoveAll(k.dir)
	if got := s.ok(map[string]any{"op": "status"}); got["state"] != "no_vault" {
		t.Errorf("status without a vault: %v", got)
	}
	s.fails("no_vault", map[string]any{"op": "search", "query": ""})
}

func waitLocked(t *testing.T, s *session) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.ok(map[string]any{"op": "status"})["state"] != "locked" {
		if time.Now().After(deadline) {
			t.Fatal("still unlocked 10s after lock")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFillOnlyForItsOrigin: a fill hands out a login's secrets for a page
// its URLs name, and for no other: not a lookalike, not http for an https
// login, not a sibling subdomain in exact-host mode, not a trashed item.
func TestFillOnlyForItsOrigin(t *testing.T) {
	s, _, ag := unlocked(t)
	gh := addLogin(t, ag, "GitHub", "alice", "gh-Secret-1", "https://github.com")
	mail := addLogin(t, ag, "Mail", "bob", "mail-Secret-2", "https://mail.example.com")
	totp := addLogin(t, ag, "With TOTP", "carol", "totp-Secret-3", "https://app.example.org")
	e, err := ag.Resolve(context.Background(), totp, vault.Active)
	if err != nil {
		t.Fatal(err)
	}
	e.Item.Set("totp", "JBSWY3DPEHPK3PXP", item.Hidden)
	if _, err := ag.Put(context.Background(), e.ID, e.Revision, e.Item); err != nil {
		t.Fatal(err)
	}
	s.h.Now = func() time.Time { return time.Unix(59, 0) }

	got := s.ok(map[string]any{"op": "fill", "item": gh, "origin": "https://github.com", "exact": false})
	if got["username"] != "alice" || got["password"] != "gh-Secret-1" || got["totp"] != nil {
		t.Errorf("fill: %v", got)
	}
	got = s.ok(map[string]any{"op": "fill", "item": totp, "origin": "https://app.example.org"})
	if got["password"] != "totp-Secret-3" || got["totp"] != "996554" {
		t.Errorf("fill with TOTP: %v", got)
	}
	// The same registrable domain fills unless exact host is asked for.
	s.ok(map[string]any{"op": "fill", "item": mail, "origin": "https://login.example.com"})
	s.fails("origin", map[string]any{"op": "fill", "item": mail, "origin": "https://login.example.com", "exact": true}, "mail-Secret-2")

	for _, page := range []string{"https://github.com.evil.test", "https://gíthub.com", "https://xn--github-2ua.com", "http://github.com",
		"https://github.com:8443", "https://gist.github.com.evil.test", "https://evil.test", "https://githubusercontent.com"} {
		s.fails("origin", map[string]any{"op": "fill", "item": gh, "origin": page}, "gh-Secret-1", "alice")
	}
	for _, page := range []string{"data:text/html,<form>", "file:///tmp/x.html", "null", "about:blank", "chrome://settings", ""} {
		s.fails("origin", map[string]any{"op": "fill", "item": gh, "origin": page}, "gh-Secret-1")
	}
	// An id that is not a full item id is refused; a title never names an
	// item here.
	s.fails("invalid", map[string]any{"op": "fill", "item": "GitHub", "origin": "https://github.com"}, "gh-Secret-1")
	s.fails("invalid", map[string]any{"op": "fill", "item": gh[:8], "origin": "https://github.com"}, "gh-Secret-1")
	s.fails("not_found", map[string]any{"op": "fill", "item": "00000000-0000-4000-8000-000000000000", "origin": "https://github.com"})

	// A frame fills only inside a page of its own site: not inside
	// another site's page (clickjacking), not inside a browser page or an
	// opaque one.
	s.ok(map[string]any{"op": "fill", "item": mail, "origin": "https://mail.example.com", "top_origin": "https://www.example.com:8443"})
	for _, top := range []string{"https://evil.test", "https://example.com.evil.test", "null", "chrome-extension://abcdefghijklmnopabcdefghijklmnop", "chrome://newtab", ""} {
		resp := s.fails("origin", map[string]any{"op": "fill", "item": mail, "origin": "https://mail.example.com", "top_origin": top}, "mail-Secret-2")
		if msg := resp["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "Open https://mail.example.com itself to fill.") {
			t.Errorf("framed by %q: %q", top, msg)
		}
	}
	// Every frame around it counts (bank → evil → bank), and an https
	// login is not filled inside an http page, even of its own site.
	for _, c := range []struct {
		top       string
		ancestors []string
		msg       string
	}{
		{"https://www.example.com", []string{"https://www.example.com", "https://evil.test"}, "inside a page from https://evil.test"},
		{"https://www.example.com", []string{"https://www.example.com", "null"}, "not a web site"},
		{"http://www.example.com", []string{"http://www.example.com"}, "unencrypted page (http://www.example.com)"},
		{"https://www.example.com", []string{"https://www.example.com", "http://login.example.com"}, "unencrypted page"},
	} {
		resp := s.fails("origin", map[string]any{"op": "fill", "item": mail, "origin": "https://mail.example.com", "top_origin": c.top, "ancestor_origins": c.ancestors}, "mail-Secret-2")
		if msg := resp["error"].(map[string]any)["message"].(string); !strings.Contains(msg, c.msg) {
			t.Errorf("framed by %q: %q, want it to say %q", c.ancestors, msg, c.msg)
		}
		got := s.ok(map[string]any{"op": "candidates", "origin": "https://mail.example.com", "top_origin": c.top, "ancestor_origins": c.ancestors})
		if got["fillable"] != false {
			t.Errorf("candidates framed by %q: %v", c.ancestors, got)
		}
		s.fails("origin", map[string]any{"op": "generate", "origin": "https://mail.example.com", "top_origin": c.top, "ancestor_origins": c.ancestors})
	}
	s.ok(map[string]any{"op": "fill", "item": mail, "origin": "https://mail.example.com", "top_origin": "https://www.example.com",
		"ancestor_origins": []string{"https://www.example.com", "https://login.example.com"}})
	s.ok(map[string]any{"op": "fill", "item": mail, "origin": "https://mail.example.com", "top_origin": "https://mail.example.com", "ancestor_origins": []string{}})
	if got := s.ok(map[string]any{"op": "generate", "origin": "https://mail.example.com", "top_origin": "https://www.example.com", "ancestor_origins": []string{"https://www.example.com"}}); len(fmt.Sprint(got["password"])) != 24 {
		t.Errorf("generate for a frame of its own site: %v", got)
	}

	got = s.ok(map[string]any{"op": "candidates", "origin": "https://mail.example.com", "top_origin": "https://evil.test"})
	if got["fillable"] != false || !strings.Contains(fmt.Sprint(got["message"]), "This login form is inside a page from https://evil.test. Open") || len(titles(got)) != 1 {
		t.Errorf("candidates of a framed login: %v", got)
	}
	got = s.ok(map[string]any{"op": "candidates", "origin": "https://mail.example.com", "top_origin": "https://login.example.com"})
	if got["fillable"] != true || got["message"] != nil {
		t.Errorf("candidates of a frame of the same site: %v", got)
	}

	if _, err := ag.Trash(context.Background(), gh); err != nil {
		t.Fatal(err)
	}
	s.fails("not_found", map[string]any{"op": "fill", "item": gh, "origin": "https://github.com"}, "gh-Secret-1")
}

// lyingAgent answers a match with every item as a host match, as a
// broken or hostile agent might: the host's own check must still refuse.
type lyingAgent struct{ *agent.Client }

func (l lyingAgent) Resolve(ctx context.Context, ref string, f vault.Filter) (*vault.Entry, error) {
	return l.Client.Resolve(ctx, ref, vault.All)
}

type lyingKeyhold struct{ *localKeyhold }

func (l lyingKeyhold) Agent(ctx context.Context) (Agent, *agent.Status, error) {
	ag, st, err := l.localKeyhold.Agent(ctx)
	if err != nil {
		return nil, nil, err
	}
	return lyingAgent{ag.(*agent.Client)}, st, nil
}

// TestFillRechecksTheOrigin: the host checks the item's URLs itself; it
// does not take the agent's ranking, or the extension's choice of item,
// as the answer.
func TestFillRechecksTheOrigin(t *testing.T) {
	s, k, ag := unlocked(t)
	bank := addLogin(t, ag, "Bank", "alice", "bank-Secret", "https://bank.example")
	s.h.K = lyingKeyhold{k}
	s.fails("origin", map[string]any{"op": "fill", "item": bank, "origin": "https://evil.example"}, "bank-Secret")
	s.fails("origin", map[string]any{"op": "update", "item": bank, "origin": "https://evil.example", "username": "x", "password": "y"})
}

// TestCandidatesAndSearch: candidates carry no secret and only logins for
// the page; a search finds any item and says which fill.
func TestCandidatesAndSearch(t *testing.T) {
	s, _, ag := unlocked(t)
	addLogin(t, ag, "GitHub", "alice", "gh-Secret-1", "https://github.com")
	addLogin(t, ag, "GitHub work", "alice-corp", "gh-Secret-2", "github.com")
	addLogin(t, ag, "Gist", "alice", "gist-Secret", "https://gist.github.com")
	addLogin(t, ag, "Elsewhere", "e", "else-Secret", "https://gitlab.com")

	got := s.ok(map[string]any{"op": "candidates", "origin": "https://github.com", "top_origin": "https://github.com", "exact": false})
	if want := []string{"GitHub", "GitHub work", "Gist"}; fmt.Sprint(titles(got)) != fmt.Sprint(want) {
		t.Errorf("candidates: %q, want %q", titles(got), want)
	}
	raw, _ := json.Marshal(got)
	if bytes.Contains(raw, []byte("Secret")) {
		t.Errorf("candidates carry a secret: %s", raw)
	}
	if got["origin_display"] != "https://github.com" {
		t.Errorf("origin_display %v", got["origin_display"])
	}
	first := got["items"].([]any)[0].(map[string]any)
	if first["match"] != "host" || first["username"] != "alice" || first["password"] != true || first["totp"] != false {
		t.Errorf("first candidate: %v", first)
	}
	got = s.ok(map[string]any{"op": "candidates", "origin": "https://xn--bcher-kva.example"})
	if got["origin_display"] != "https://bücher.example (xn--bcher-kva.example)" || len(titles(got)) != 0 {
		t.Errorf("candidates for a punycode host: %v", got)
	}

	got = s.ok(map[string]any{"op": "search", "query": "github", "origin": "https://gitlab.com"})
	if want := []string{"Gist", "GitHub", "GitHub work"}; fmt.Sprint(titles(got)) != fmt.Sprint(want) {
		t.Errorf("search: %q, want %q", titles(got), want)
	}
	for _, x := range got["items"].([]any) {
		if x.(map[string]any)["fillable"] != false {
			t.Errorf("a GitHub login is fillable on gitlab.com: %v", x)
		}
	}
	got = s.ok(map[string]any{"op": "search", "query": "elsewhere", "origin": "https://gitlab.com", "exact": true})
	if it := got["items"].([]any)[0].(map[string]any); it["fillable"] != true {
		t.Errorf("search result for its own site: %v", it)
	}
	// From a page nothing fills into, or with no page, search still works.
	got = s.ok(map[string]any{"op": "search", "query": "", "origin": "chrome://newtab"})
	if len(titles(got)) != 4 {
		t.Errorf("search on a browser page: %q", titles(got))
	}
	raw, _ = json.Marshal(got)
	if bytes.Contains(raw, []byte("Secret")) {
		t.Errorf("search carries a secret: %s", raw)
	}
}

// TestCopy: copy hands the value to the clipboard (never to the
// extension), to be cleared after the CLI's delay.
func TestCopy(t *testing.T) {
	s, k, ag := unlocked(t)
	id := addLogin(t, ag, "GitHub", "alice", "gh-Secret-1", "https://github.com")
	got := s.ok(map[string]any{"op": "copy", "item": id, "field": "password"})
	if got["clear_after_s"] != float64(45) {
		t.Errorf("copy: %v", got)
	}
	raw, _ := json.Marshal(got)
	if bytes.Contains(raw, []byte("gh-Secret-1")) {
		t.Errorf("copy's answer carries the secret: %s", raw)
	}
	s.ok(map[string]any{"op": "copy", "item": id, "field": "username"})
	s.fails("not_found", map[string]any{"op": "copy", "item": id, "field": "totp"})
	s.fails("invalid", map[string]any{"op": "copy", "item": id, "field": "notes"})
	if fmt.Sprint(k.copied) != "[gh-Secret-1 alice]" {
		t.Errorf("copied %q", k.copied)
	}
	k.noClip = true
	s.fails("unavailable", map[string]any{"op": "copy", "item": id, "field": "password"}, "gh-Secret-1")
}

// TestSaveAndUpdate: after a form submission the host says whether to
// save, update or do nothing; a save makes a login for the page, and an
// update keeps the old password in the item's history and refuses a
// stale base revision.
func TestSaveAndUpdate(t *testing.T) {
	ctx := context.Background()
	s, k, ag := unlocked(t)
	page := "https://www.shop.example"
	got := s.ok(map[string]any{"op": "save_check", "origin": page, "username": "alice", "password": "first-Pass-1"})
	if got["action"] != "save" || got["title"] != "shop.example" {
		t.Errorf("save_check of a new login: %v", got)
	}
	got = s.ok(map[string]any{"op": "save", "origin": page, "username": "alice", "password": "first-Pass-1"})
	id, _ := got["item"].(string)
	e, err := ag.Resolve(ctx, id, vault.Active)
	if err != nil {
		t.Fatal(err)
	}
	if pw, _ := e.Item.Get("password"); e.Item.Title != "shop.example" || e.Item.Username() != "alice" || pw != "first-Pass-1" ||
		fmt.Sprint(e.Item.URLs) != "[https://www.shop.example]" || e.Item.Type != item.Login {
		t.Errorf("saved %+v", e.Item)
	}
	if k.writes != 1 {
		t.Errorf("after a save the host asked for %d syncs, want 1", k.writes)
	}
	got = s.ok(map[string]any{"op": "save_check", "origin": page, "username": "alice", "password": "first-Pass-1"})
	if got["action"] != "none" || got["item"] != id {
		t.Errorf("save_check of a saved login: %v", got)
	}
	got = s.ok(map[string]any{"op": "save_check", "origin": page, "username": "alice", "password": "second-Pass-2"})
	if got["action"] != "update" || got["item"] != id || got["title"] != "shop.example" {
		t.Errorf("save_check of a changed password: %v", got)
	}
	// From a sibling host of the domain: the login there is not offered
	// for an update (the page chose the values), a new login is.
	got = s.ok(map[string]any{"op": "save_check", "origin": "https://login.shop.example", "username": "alice", "password": "second-Pass-2", "exact": false})
	if got["action"] != "save" {
		t.Errorf("save_check on a sibling host: %v", got)
	}
	got = s.ok(map[string]any{"op": "save_check", "origin": "https://login.shop.example", "username": "alice", "password": "first-Pass-1"})
	if got["action"] != "none" {
		t.Errorf("save_check on a sibling host with the saved password: %v", got)
	}
	got = s.ok(map[string]any{"op": "save_check", "origin": page, "username": "bob", "password": "first-Pass-1"})
	if got["action"] != "save" {
		t.Errorf("save_check of another username: %v", got)
	}
	// The password step of a two-step login: no username.
	got = s.ok(map[string]any{"op": "save_check", "origin": page, "password": "first-Pass-1"})
	if got["action"] != "none" || got["item"] != id {
		t.Errorf("save_check without a username, same password: %v", got)
	}
	got = s.ok(map[string]any{"op": "save_check", "origin": page, "password": "other-Pass"})
	if got["action"] != "update" || got["item"] != id {
		t.Errorf("save_check without a username, the page's only login: %v", got)
	}
	// Another site's login is never offered for an update.
	got = s.ok(map[string]any{"op": "save_check", "origin": "https://shop.example.net", "username": "alice", "password": "x"})
	if got["action"] != "save" {
		t.Errorf("save_check on another site: %v", got)
	}

	s.ok(map[string]any{"op": "update", "item": id, "origin": page, "username": "alice", "password": "second-Pass-2"})
	e2, err := ag.Resolve(ctx, id, vault.Active)
	if err != nil {
		t.Fatal(err)
	}
	if pw, _ := e2.Item.Get("password"); pw != "second-Pass-2" || e2.Revision == e.Revision {
		t.Errorf("after update: %q at revision %d", pw, e2.Revision)
	}
	revs, err := ag.History(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	var kept bool
	for _, r := range revs {
		if pw, _ := r.Item.Get("password"); pw == "first-Pass-1" {
			kept = true
		}
	}
	if !kept {
		t.Errorf("the old password is not in the history (%d revisions)", len(revs))
	}
	s.fails("origin", map[string]any{"op": "update", "item": id, "origin": "https://shop.example.net", "username": "x", "password": "third-Pass"}, "third-Pass")
	if k.writes != 2 {
		t.Errorf("after a save, an update and a refused update the host asked for %d syncs, want 2", k.writes)
	}

	// A title the user typed wins over the host name.
	got = s.ok(map[string]any{"op": "save", "origin": "https://b.example", "title": "  My B ", "password": "pw-only"})
	if got["title"] != "My B" {
		t.Errorf("save with a title: %v", got)
	}
	// With two logins for the page, a form without a username updates
	// neither: it offers a new login.
	s.ok(map[string]any{"op": "save", "origin": page, "username": "bob", "password": "bob-Pass"})
	got = s.ok(map[string]any{"op": "save_check", "origin": page, "password": "yet-another"})
	if got["action"] != "save" {
		t.Errorf("save_check without a username, two logins: %v", got)
	}
}

// TestRequestsRefused: malformed requests get kind invalid, with the
// request's id when it could be read, and never echo a value.
func TestRequestsRefused(t *testing.T) {
	s, _, _ := unlocked(t)
	for _, raw := range []string{
		`{"v":1,"id":7,"op":"unlock","password":"hunter2-Secret","password":"x"}`,
		`{"v":1,"id":7,"op":"status","password":"hunter2-Secret"}`,
		`{"v":2,"id":7,"op":"status"}`,
		`{"v":1,"id":7,"op":"fill","item":"x","origin":"https://a.example","extra":"hunter2-Secret"}`,
		`{"v":1,"id":7,"op":"unlock","password":["hunter2-Secret"]}`,
		`{"v":1,"id":7,"op":"unlock","password":"hunter2-Secret"} x`,
		`{"v":1,"id":7,"op":"nope"}`,
	} {
		out := s.h.Handle(context.Background(), []byte(raw))
		var resp map[string]any
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatal(err)
		}
		e, _ := resp["error"].(map[string]any)
		if resp["ok"] != false || e["kind"] != "invalid" {
			t.Errorf("%s: %s", raw, out)
		}
		if bytes.Contains(out, []byte("hunter2")) {
			t.Errorf("%s: the answer echoes a value: %s", raw, out)
		}
		if resp["id"] != float64(7) && !strings.Contains(raw, `"v":2`) && !strings.Contains(raw, "password\":[") {
			t.Errorf("%s: answered with id %v", raw, resp["id"])
		}
	}
	if out := s.h.Handle(context.Background(), []byte(`not json`)); !bytes.Contains(out, []byte(`"kind":"invalid"`)) || !bytes.Contains(out, []byte(`"id":0`)) {
		t.Errorf("garbage: %s", out)
	}
}

// TestServe: the host answers framed requests, each answer with its
// request's id, and exits cleanly when the browser closes its stdin; a
// cut-short stream is an error.
func TestServe(t *testing.T) {
	s, _ := newSession(t)
	var in bytes.Buffer
	for i, op := range []string{"status", "generate", "status"} {
		nativemsg.Write(&in, []byte(fmt.Sprintf(`{"v":1,"id":%d,"op":%q}`, i+1, op)))
	}
	nativemsg.Write(&in, []byte(`{"id":4,"op":"status","v":1,"v":1}`))
	var out bytes.Buffer
	if err := s.h.Serve(context.Background(), &in, &out); err != nil {
		t.Fatal(err)
	}
	r := nativemsg.NewReader(&out)
	seen := map[int]bool{}
	for range 4 {
		b, err := r.Read()
		if err != nil {
			t.Fatal(err)
		}
		var resp struct {
			ID       int    `json:"id"`
			OK       bool   `json:"ok"`
			Password string `json:"password"`
		}
		json.Unmarshal(b, &resp)
		seen[resp.ID] = true
		if resp.OK != (resp.ID != 4) || (resp.ID == 2 && len(resp.Password) != 24) {
			t.Errorf("answer %s", b)
		}
	}
	if len(seen) != 4 {
		t.Errorf("answers for ids %v, want 1 to 4", seen)
	}
	if _, err := r.Read(); err != io.EOF {
		t.Errorf("more answers than requests: %v", err)
	}
	cut := []byte{10, 0, 0, 0, '{'}
	if err := s.h.Serve(context.Background(), bytes.NewReader(cut), io.Discard); err == nil {
		t.Error("a request cut short ended the host without an error")
	}
}

// slowUnlock holds every unlock until released, as a key derivation does.
type slowUnlock struct {
	*localKeyhold
	release chan struct{}
}

func (k slowUnlock) Unlock(ctx context.Context, pw []byte) error {
	<-k.release
	return k.localKeyhold.Unlock(ctx, pw)
}

// TestUnlockDoesNotHoldUp: while an unlock runs, status and lock are
// answered; a second unlock waits for the first and starts nothing.
func TestUnlockDoesNotHoldUp(t *testing.T) {
	k := newLocalKeyhold(t)
	slow := slowUnlock{k, make(chan struct{})}
	h := &Host{K: slow, Version: "test"}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- h.Serve(context.Background(), inR, outW); outW.Close() }()
	send := func(s string) {
		if err := nativemsg.Write(inW, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	answers := nativemsg.NewReader(outR)
	next := func() map[string]any {
		b, err := answers.Read()
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		json.Unmarshal(b, &m)
		return m
	}
	send(`{"v":1,"id":1,"op":"unlock","password":"` + testPassword + `"}`)
	send(`{"v":1,"id":2,"op":"unlock","password":"` + testPassword + `"}`)
	send(`{"v":1,"id":3,"op":"status"}`)
	if got := next(); got["id"] != float64(3) || got["state"] != "locked" {
		t.Fatalf("first answer while unlocking: %v, want the status (locked)", got)
	}
	close(slow.release)
	for range 2 {
		if got := next(); got["ok"] != true || got["state"] != "unlocked" {
			t.Errorf("unlock: %v", got)
		}
	}
	if k.unlocks != 1 {
		t.Errorf("%d unlocks ran, want 1", k.unlocks)
	}
	inW.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
