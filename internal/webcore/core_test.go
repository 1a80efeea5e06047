package webcore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/kit"
	"github.com/keyhold/keyhold/internal/kit/kittext"
	"github.com/keyhold/keyhold/internal/replica"
	"github.com/keyhold/keyhold/internal/server"
	"github.com/keyhold/keyhold/internal/server/store"
	"github.com/keyhold/keyhold/internal/syncclient"
	"github.com/keyhold/keyhold/internal/testenv"
	"github.com/keyhold/keyhold/internal/vault"
	"github.com/keyhold/keyhold/internal/webcore"
	"github.com/keyhold/keyhold/internal/webcore/webextras"
)

func TestMain(m *testing.M) { os.Exit(testenv.RunIsolatedXDG(m)) }

var testPW = []byte("correct horse battery staple")

// memStore is keyholdHost.store in memory.
type memStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

func newMemStore() *memStore { return &memStore{m: map[string][]byte{}} }

func (s *memStore) Get(_ context.Context, name string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.m[name]), nil
}

func (s *memStore) Put(_ context.Context, name string, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[name] = slices.Clone(b)
	return nil
}

func (s *memStore) Delete(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, name)
	return nil
}

func (s *memStore) Clear(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.m)
	return nil
}

func (s *memStore) names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// event is one keyholdHost.event call.
type event struct {
	name   string
	detail any
}

type eventLog struct {
	mu  sync.Mutex
	evs []event
}

func (l *eventLog) add(name string, detail any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, event{name, detail})
}

// wait waits until an event satisfies ok.
func (l *eventLog) wait(t *testing.T, what string, ok func(event) bool) event {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		for _, e := range l.evs {
			if ok(e) {
				l.mu.Unlock()
				return e
			}
		}
		l.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Fatalf("no %s event came; the events: %+v", what, l.evs)
	return event{}
}

// world is a real keyhold-server with an account that a CLI vault
// created, and that vault.
type world struct {
	url   string
	hs    *httptest.Server
	kit   kit.Kit
	login keys.Key32 // the CLI's login key, for its fresh proofs
	cli   *syncclient.Syncer
	cfg   *syncclient.Config
	s     *vault.Session
	id    string // the CLI's item "mail"
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close(); st.Close() })

	dir := filepath.Join(t.TempDir(), "cli")
	opts := []vault.Option{vault.WithSecretKeyDir(filepath.Join(t.TempDir(), "secret-keys"))}
	created, err := vault.Create(dir, testPW, vault.CreateOptions{KDF: keys.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	if err := v.EnableSync(ctx); err != nil {
		t.Fatal(err)
	}
	cfg, err := syncclient.NewConfig(hs.URL, "", "cli")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := cfg.Client()
	if err != nil {
		t.Fatal(err)
	}
	w := &world{url: hs.URL, hs: hs, login: *created.Login, cfg: cfg}
	if err := syncclient.Register(ctx, cl, cfg, v, created.Login, "alice@example.org"); err != nil {
		t.Fatal(err)
	}
	if cl, err = cfg.Client(); err != nil {
		t.Fatal(err)
	}
	s, err := v.Unlock(testPW)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	w.s = s
	w.cli = &syncclient.Syncer{C: cl, S: s}
	it := item.New(item.Login, "mail", time.Now())
	it.Set("username", "alice", item.Text)
	it.Set("password", "first password", item.Hidden)
	added, err := s.Add(ctx, it)
	if err != nil {
		t.Fatal(err)
	}
	w.id = added[0].ID.String()
	w.sync(t)
	w.kit = kit.Kit{AccountID: created.AccountID, SecretKey: *created.SecretKey, SyncLocation: hs.URL}
	return w
}

func (w *world) sync(t *testing.T) *syncclient.Report {
	t.Helper()
	rep, err := w.cli.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

type browserTab struct {
	*webcore.Core
	store *memStore
	ev    *eventLog
}

func (w *world) browser(t *testing.T, st *memStore, hc *http.Client) *browserTab {
	t.Helper()
	return browserAt(t, w.url, st, hc)
}

// browserAt is a page served from origin.
func browserAt(t *testing.T, origin string, st *memStore, hc *http.Client) *browserTab {
	t.Helper()
	ev := &eventLog{}
	c := webcore.New(webcore.Options{Store: st, Event: ev.add, Vaults: webcore.MemVaults(nil), Extras: webextras.Local{}, HTTP: hc, Poll: 50 * time.Millisecond})
	t.Cleanup(func() { c.Lock(context.Background()) })
	if _, err := c.Start(context.Background(), origin); err != nil {
		t.Fatal(err)
	}
	return &browserTab{Core: c, store: st, ev: ev}
}

// signIn signs a new browser in with the setup code.
func (w *world) signIn(t *testing.T, remember bool) *browserTab {
	t.Helper()
	b := w.browser(t, newMemStore(), nil)
	if _, err := b.ReadKit(context.Background(), w.kit.Text(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SignIn(context.Background(), testPW, remember, "test browser"); err != nil {
		t.Fatal(err)
	}
	return b
}

func titles(t *testing.T, b *browserTab, q webcore.ListQuery) []string {
	t.Helper()
	rows, err := b.List(q)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows.Items() {
		out = append(out, r.Title)
	}
	return out
}

// TestSignInWithKit: the setup code, the kit PDF and a PNG of its QR code
// each sign a browser in as a new device that holds the account's items;
// a remembered browser stores its device and vault, another nothing.
func TestSignInWithKit(t *testing.T) {
	w := newWorld(t)
	pdf, err := kit.PDF(w.kit.Sheet("alice@example.org", time.Now(), "K1-TEST"))
	if err != nil {
		t.Fatal(err)
	}
	png, err := kit.QRPNG(w.kit.Text(), kit.QRImageSize)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		code     string
		file     []byte
		remember bool
	}{
		{"code", w.kit.Text(), nil, true},
		{"pdf", "", pdf, true},
		{"png", "", png, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := w.browser(t, newMemStore(), nil)
			info, err := b.ReadKit(context.Background(), tc.code, tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if info.Server != w.url || info.AccountID != api.FormatID(w.kit.AccountID) {
				t.Fatalf("the kit read as %+v", info)
			}
			res, err := b.SignIn(context.Background(), testPW, tc.remember, "test browser")
			if err != nil {
				t.Fatal(err)
			}
			if res.Items != 1 {
				t.Errorf("signed in with %d items, want 1", res.Items)
			}
			if got := titles(t, b, webcore.ListQuery{}); !slices.Equal(got, []string{"mail"}) {
				t.Errorf("list: %q", got)
			}
			st := b.Status()
			if st.State != webcore.StateUnlocked || st.Remembered != tc.remember || st.Email != "alice@example.org" || st.DeviceName != "test browser" {
				t.Errorf("status %+v", st)
			}
			want := []string(nil)
			if tc.remember {
				want = []string{webcore.RecordDevice, webcore.RecordVault}
			}
			if got := b.store.names(); !slices.Equal(got, want) {
				t.Errorf("the browser stored %q, want %q", got, want)
			}
		})
	}
}

// TestRefusedSignInStoresNothing: a wrong password and a kit of another
// account (a Secret Key that does not match) are told apart, and nothing
// is stored, though "remember" was ticked.
func TestRefusedSignInStoresNothing(t *testing.T) {
	w := newWorld(t)
	foreign := w.kit
	foreign.SecretKey[0] ^= 1
	for _, tc := range []struct {
		name string
		kit  kit.Kit
		pw   []byte
		code string
	}{
		{"wrong password", w.kit, []byte("not the password"), webcore.CodeWrongPassword},
		{"foreign kit", foreign, testPW, webcore.CodeForeignKit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := w.browser(t, newMemStore(), nil)
			if _, err := b.ReadKit(context.Background(), tc.kit.Text(), nil); err != nil {
				t.Fatal(err)
			}
			_, err := b.SignIn(context.Background(), tc.pw, true, "test browser")
			if webcore.Code(err) != tc.code {
				t.Fatalf("sign-in: %v (code %q), want code %q", err, webcore.Code(err), tc.code)
			}
			if names := b.store.names(); len(names) != 0 {
				t.Errorf("the browser stored %q after a refused sign-in", names)
			}
			if st := b.Status(); st.State != webcore.StateSignedOut {
				t.Errorf("status %+v", st)
			}
			if _, err := b.List(webcore.ListQuery{}); !errors.Is(err, webcore.ErrSignedOut) {
				t.Errorf("list after a refused sign-in: %v", err)
			}
		})
	}
}

// TestReadKitCarriesKDF: reading a kit asks its server for the account's
// key derivation settings (its login parameters), so that the page can
// warn before deriving with a heavy one; when the server cannot be asked,
// or answers for another account, the kit is read all the same, without
// settings (the page then warns nothing).
func TestReadKitCarriesKDF(t *testing.T) {
	w := newWorld(t)
	b := w.browser(t, newMemStore(), nil)
	info, err := b.ReadKit(context.Background(), w.kit.Text(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (webcore.KDFInfo{Time: 1, MemoryKiB: 1024, Threads: 1}); info.KDF == nil || *info.KDF != want {
		t.Fatalf("the kit of a t=1, 1 MiB account read with kdf %+v, want %+v", info.KDF, want)
	}
	// The page may sign in with the kit it read.
	if _, err := b.SignIn(context.Background(), testPW, false, "test browser"); err != nil {
		t.Fatal(err)
	}

	heavy := keys.KDFParams{Time: 3, MemoryKiB: 1 << 20, Threads: 4}
	var answerFor keys.AccountID
	params := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/login/params" {
			http.NotFound(rw, r)
			return
		}
		env := format.Envelope{AccountID: answerFor, KeyVersion: 1, Epoch: 1, KDF: heavy}
		rw.Header().Set("Content-Type", "application/json")
		json.NewEncoder(rw).Encode(api.LoginParamsResponse{Header: env.Header()})
	}))
	defer params.Close()
	heavyKit := w.kit
	heavyKit.SyncLocation = params.URL
	answerFor = keys.AccountID(heavyKit.AccountID)
	info, err = browserAt(t, params.URL, newMemStore(), nil).ReadKit(context.Background(), heavyKit.Text(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (webcore.KDFInfo{Time: 3, MemoryKiB: 1 << 20, Threads: 4, Heavy: true}); info.KDF == nil || *info.KDF != want {
		t.Errorf("the kit of a 1 GiB account read with kdf %+v, want %+v", info.KDF, want)
	}

	answerFor[0] ^= 1
	info, err = browserAt(t, params.URL, newMemStore(), nil).ReadKit(context.Background(), heavyKit.Text(), nil)
	if err != nil || info.KDF != nil {
		t.Errorf("parameters answered for another account: kdf %+v, %v; want none, no error", info.KDF, err)
	}

	params.Close()
	info, err = browserAt(t, params.URL, newMemStore(), nil).ReadKit(context.Background(), heavyKit.Text(), nil)
	if err != nil || info.KDF != nil || info.Server != params.URL {
		t.Errorf("a kit whose server is unreachable: %+v, %v; want it read, without kdf", info, err)
	}
}

// TestBadKits: what is not a kit is refused with the codes the page
// shows, and a picture without a QR code says so.
func TestBadKits(t *testing.T) {
	c := webcore.New(webcore.Options{Store: newMemStore(), Vaults: webcore.MemVaults(nil), Extras: webextras.Local{}})
	if _, err := c.ReadKit(context.Background(), "KH1-AAAAA-BBBBB", nil); webcore.Code(err) != webcore.CodeBadKit {
		t.Errorf("a truncated code: %v", err)
	}
	if _, err := c.ReadKit(context.Background(), "", []byte("%PDF-1.4\nnothing here")); webcore.Code(err) != webcore.CodeBadKit && webcore.Code(err) != webcore.CodeNoQR {
		t.Errorf("a broken PDF: %v (%s)", err, webcore.Code(err))
	}
	gray := make([]byte, 64*48)
	for i := range gray {
		gray[i] = byte(i)
	}
	if _, found, err := c.ReadQRFrame(context.Background(), gray, 64, 48); err != nil || found {
		t.Errorf("a frame without a QR code: found %v, %v", found, err)
	}
	if _, _, err := c.ReadQRFrame(context.Background(), gray, 65, 48); webcore.Code(err) != webcore.CodeInvalid {
		t.Errorf("a frame of the wrong size: %v", err)
	}
}

// offline is an HTTP client that reaches nothing.
var offline = &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
	return nil, errors.New("offline")
})}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestRememberedUnlockOffline: a remembered browser opens with the
// password alone from what it stored, with no server to reach; a wrong
// password does not open it; Lock drops the items.
func TestRememberedUnlockOffline(t *testing.T) {
	w := newWorld(t)
	b := w.signIn(t, true)
	ctx := context.Background()
	it := item.New(item.Note, "added in the browser", time.Now())
	it.Notes = "kept offline"
	if _, err := b.Save(ctx, "", 0, mustJSON(t, it)); err != nil {
		t.Fatal(err)
	}
	if err := b.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.List(webcore.ListQuery{}); !errors.Is(err, webcore.ErrLocked) {
		t.Fatalf("list while locked: %v", err)
	}

	// A new tab, the server out of reach.
	tab := w.browser(t, b.store, offline)
	st := tab.Status()
	if st.State != webcore.StateLocked || !st.Remembered || st.KDF == nil || st.KDF.Heavy {
		t.Fatalf("status of a remembered browser: %+v", st)
	}
	if _, err := tab.Unlock(ctx, []byte("wrong")); webcore.Code(err) != webcore.CodeWrongPassword {
		t.Fatalf("unlock with a wrong password: %v", err)
	}
	res, err := tab.Unlock(ctx, testPW)
	if err != nil {
		t.Fatal(err)
	}
	if res.Items != 2 {
		t.Errorf("unlocked with %d items, want 2", res.Items)
	}
	if got := titles(t, tab, webcore.ListQuery{Query: "OFFLINE"}); !slices.Equal(got, []string{"added in the browser"}) {
		t.Errorf("search after an offline unlock: %q", got)
	}
	tab.ev.wait(t, "offline sync", func(e event) bool {
		s, ok := e.detail.(webcore.SyncEvent)
		return e.name == "sync" && ok && s.State == "offline"
	})
}

// TestNotRememberedKeepsNothing: without "remember", the tab can lock and
// unlock, but a new tab finds nothing.
func TestNotRememberedKeepsNothing(t *testing.T) {
	w := newWorld(t)
	b := w.signIn(t, false)
	ctx := context.Background()
	if err := b.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if res, err := b.Unlock(ctx, testPW); err != nil || res.Items != 1 {
		t.Fatalf("unlock in the same tab: %+v %v", res, err)
	}
	if names := b.store.names(); len(names) != 0 {
		t.Fatalf("stored %q without remember", names)
	}
	tab := w.browser(t, b.store, nil)
	if st := tab.Status(); st.State != webcore.StateSignedOut {
		t.Fatalf("a new tab: %+v", st)
	}
}

func mustJSON(t *testing.T, it *item.Item) []byte {
	t.Helper()
	b, err := it.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestItems: add, edit, trash, restore and history, a field and a TOTP
// code, attachments; the CLI device gets every change by sync.
func TestItems(t *testing.T) {
	w := newWorld(t)
	b := w.signIn(t, true)
	ctx := context.Background()
	it := item.New(item.Login, "bank", time.Now())
	it.Set("username", "bob", item.Text)
	it.Set("password", "s3cr3t-one", item.Hidden)
	it.Set("totp", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", item.TOTP)
	it.Tags = []string{"Money"}
	added, err := b.Save(ctx, "", 0, mustJSON(t, it))
	if err != nil {
		t.Fatal(err)
	}
	if rows, _ := b.List(webcore.ListQuery{Tag: "money", Type: "login"}); rows.Len() != 1 || rows.Items()[0].Subtitle != "bob" {
		t.Fatalf("list by tag and type: %+v", rows.Items())
	}
	if rows, _ := b.List(webcore.ListQuery{Query: "s3cr3t"}); rows.Len() != 0 {
		t.Fatalf("a search found a hidden value: %+v", rows.Items())
	}
	got, err := b.Get(added.ID)
	if err != nil {
		t.Fatal(err)
	}
	got.Item.Set("password", "two", item.Hidden)
	edited, err := b.Save(ctx, got.ID, got.Rev, mustJSON(t, &got.Item))
	if err != nil {
		t.Fatal(err)
	}
	if edited.Rev != 2 {
		t.Fatalf("edit at revision %d", edited.Rev)
	}
	if v, err := b.Field(added.ID, "password"); err != nil || v != "two" {
		t.Fatalf("field: %q %v", v, err)
	}
	if code, err := b.TOTP(added.ID); err != nil || len(code.Code) != 6 || code.Period != 30 {
		t.Fatalf("totp: %+v %v", code, err)
	}
	if _, err := b.Attach(ctx, added.ID, "key.txt", []byte("attached")); err != nil {
		t.Fatal(err)
	}
	if data, err := b.Attachment(added.ID, "key.txt"); err != nil || string(data) != "attached" {
		t.Fatalf("attachment: %q %v", data, err)
	}
	if v, _ := b.Get(added.ID); len(v.Attachments) != 1 || v.Attachments[0].Size != 8 {
		t.Fatalf("attachments listed as %+v", v.Attachments)
	}
	if _, err := b.Trash(ctx, added.ID); err != nil {
		t.Fatal(err)
	}
	if got := titles(t, b, webcore.ListQuery{}); !slices.Equal(got, []string{"mail"}) {
		t.Fatalf("list after trash: %q", got)
	}
	if got := titles(t, b, webcore.ListQuery{Trash: true}); !slices.Equal(got, []string{"bank"}) {
		t.Fatalf("trash view: %q", got)
	}
	if _, err := b.Restore(ctx, added.ID); err != nil {
		t.Fatal(err)
	}
	if got := titles(t, b, webcore.ListQuery{}); !slices.Equal(got, []string{"bank", "mail"}) {
		t.Fatalf("list after restore: %q", got)
	}
	hist, err := b.History(ctx, added.ID)
	if err != nil {
		t.Fatal(err)
	}
	var pws []string
	for _, h := range hist {
		v, _ := h.Item.Item.Get("password")
		pws = append(pws, v)
	}
	if len(hist) != 4 || hist[0].Rev != 4 || !slices.Equal(pws, []string{"two", "two", "two", "s3cr3t-one"}) {
		t.Fatalf("history: %d revisions, passwords %q", len(hist), pws)
	}
	if _, err := b.Get("00000000-0000-0000-0000-000000000000"); webcore.Code(err) != webcore.CodeNotFound {
		t.Fatalf("get of no item: %v", err)
	}

	// The CLI device gets it all.
	deadline := time.Now().Add(20 * time.Second)
	for {
		w.sync(t)
		e, err := w.s.Resolve(context.Background(), added.ID, vault.Active)
		if err == nil && e.Revision == 5 {
			if v, _ := e.Item.Get("password"); v != "two" || len(e.Item.Attachments) != 1 {
				t.Fatalf("the CLI holds %+v", e.Item)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the browser's edits did not reach the CLI: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLiveUpdates: an item the CLI adds appears in the browser without
// asking (the event stream wakes the sync loop), and the page is told.
func TestLiveUpdates(t *testing.T) {
	w := newWorld(t)
	b := w.signIn(t, true)
	b.ev.wait(t, "online", func(e event) bool { s, ok := e.detail.(webcore.SyncEvent); return ok && s.State == "online" })
	it := item.New(item.Note, "from the CLI", time.Now())
	if _, err := w.s.Add(context.Background(), it); err != nil {
		t.Fatal(err)
	}
	w.sync(t)
	b.ev.wait(t, "changed", func(e event) bool {
		c, ok := e.detail.(webcore.ChangedEvent)
		return e.name == "changed" && ok && c.Added == 1
	})
	if got := titles(t, b, webcore.ListQuery{}); !slices.Equal(got, []string{"from the CLI", "mail"}) {
		t.Fatalf("list after the live update: %q", got)
	}
	// What the sync brought is stored too.
	tab := w.browser(t, b.store, offline)
	if res, err := tab.Unlock(context.Background(), testPW); err != nil || res.Items != 2 {
		t.Fatalf("the stored vault after a live update: %+v %v", res, err)
	}
}

// TestConcurrentEditsMerge: the browser and the CLI change different
// fields of one item apart; both end with both changes.
func TestConcurrentEditsMerge(t *testing.T) {
	w := newWorld(t)
	b := w.signIn(t, false)
	ctx := context.Background()
	// The CLI changes the password, not synced yet.
	e, err := w.s.Resolve(ctx, w.id, vault.Active)
	if err != nil {
		t.Fatal(err)
	}
	ci := e.Item.Clone()
	ci.Set("password", "from the CLI", item.Hidden)
	if _, err := w.s.Put(ctx, e.ID, e.Revision, ci); err != nil {
		t.Fatal(err)
	}
	// The browser changes the username; its sync loop pushes it.
	v, err := b.Get(w.id)
	if err != nil {
		t.Fatal(err)
	}
	v.Item.Set("username", "alice@browser", item.Text)
	if _, err := b.Save(ctx, v.ID, v.Rev, mustJSON(t, &v.Item)); err != nil {
		t.Fatal(err)
	}
	// Whichever syncs second merges; both end with both edits.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		w.sync(t)
		e, err := w.s.Resolve(ctx, w.id, vault.Active)
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.Get(w.id)
		if err != nil {
			t.Fatal(err)
		}
		cu, _ := e.Item.Get("username")
		cp, _ := e.Item.Get("password")
		bu, _ := got.Item.Get("username")
		bp, _ := got.Item.Get("password")
		if cu == "alice@browser" && cp == "from the CLI" && bu == cu && bp == cp && got.Rev == e.Revision {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the browser never got the merge of both edits")
}

// TestStaleEditMerges: an edit the page made on a revision a sync has
// since replaced is merged field by field, not lost and not refused.
func TestStaleEditMerges(t *testing.T) {
	w := newWorld(t)
	b := w.signIn(t, false)
	ctx := context.Background()
	old, err := b.Get(w.id)
	if err != nil {
		t.Fatal(err)
	}
	e, err := w.s.Resolve(ctx, w.id, vault.Active)
	if err != nil {
		t.Fatal(err)
	}
	ci := e.Item.Clone()
	ci.Set("password", "from the CLI", item.Hidden)
	if _, err := w.s.Put(ctx, e.ID, e.Revision, ci); err != nil {
		t.Fatal(err)
	}
	w.sync(t)
	if _, err := b.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	old.Item.Set("username", "alice@browser", item.Text)
	res, err := b.Save(ctx, old.ID, old.Rev, mustJSON(t, &old.Item))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := b.Get(w.id)
	u, _ := got.Item.Get("username")
	p, _ := got.Item.Get("password")
	if u != "alice@browser" || p != "from the CLI" || res.Rev != got.Rev || len(res.Conflicts) != 0 {
		t.Fatalf("stale edit: %+v, item username %q password %q", res, u, p)
	}
}

// TestRevokedBrowserWipes: revoked from the CLI, the browser's next
// contact wipes what it stored, drops the items and tells the page.
func TestRevokedBrowserWipes(t *testing.T) {
	w := newWorld(t)
	b := w.signIn(t, true)
	b.ev.wait(t, "online", func(e event) bool { s, ok := e.detail.(webcore.SyncEvent); return ok && s.State == "online" })
	ctx := context.Background()
	acct, err := b.Account(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var browserID string
	for _, d := range acct.Devices {
		if d.Current {
			browserID = d.ID
		}
	}
	if browserID == "" || len(acct.Devices) != 2 || acct.Email != "alice@example.org" {
		t.Fatalf("account: %+v", acct)
	}
	if err := syncclient.Reauth(ctx, w.cli.C, w.cfg, keys.AccountID(w.kit.AccountID), &w.login); err != nil {
		t.Fatal(err)
	}
	w.cli.C.SetToken(w.cfg.Token)
	if err := w.cli.C.RevokeDevice(ctx, browserID); err != nil {
		t.Fatal(err)
	}
	// Nudge: a change wakes the loop even if the stream were slow.
	if _, err := w.s.Add(ctx, item.New(item.Note, "after the revocation", time.Now())); err != nil {
		t.Fatal(err)
	}
	w.sync(t)
	b.ev.wait(t, "locked", func(e event) bool {
		l, ok := e.detail.(webcore.LockedEvent)
		return e.name == "locked" && ok && l.Reason == "revoked"
	})
	if names := b.store.names(); len(names) != 0 {
		t.Fatalf("a revoked browser still stores %q", names)
	}
	if st := b.Status(); st.State != webcore.StateSignedOut {
		t.Fatalf("status after revocation: %+v", st)
	}
	if _, err := b.List(webcore.ListQuery{}); err == nil {
		t.Fatal("a revoked browser still lists items")
	}
}

// TestPasswordChangedElsewhere: after the CLI changes the password, the
// remembered browser unlocks with the new one (the server's envelope
// becomes its own), offline too from then on, and the old one no longer
// opens it.
func TestPasswordChangedElsewhere(t *testing.T) {
	w := newWorld(t)
	b := w.signIn(t, true)
	ctx := context.Background()
	if err := b.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	newPW := []byte("a brand new passphrase for the vault")
	login := w.login
	w.cli.Prove = func(ctx context.Context) error {
		return syncclient.Reauth(ctx, w.cli.C, w.cfg, keys.AccountID(w.kit.AccountID), &login)
	}
	if err := w.s.ChangePassword(ctx, newPW, keys.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}, w.cli.PublishPassword(ctx)); err != nil {
		t.Fatal(err)
	}
	if res, err := b.Unlock(ctx, newPW); err != nil || res.Items != 1 {
		t.Fatalf("unlock with the new password: %+v %v", res, err)
	}
	if err := b.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	tab := w.browser(t, b.store, offline)
	if _, err := tab.Unlock(ctx, testPW); webcore.Code(err) != webcore.CodeWrongPassword {
		t.Fatalf("the old password: %v", err)
	}
	if res, err := tab.Unlock(ctx, newPW); err != nil || res.Items != 1 {
		t.Fatalf("the new password, offline: %+v %v", res, err)
	}
}

// TestChangePassword: the browser changes the account's password with a
// fresh proof of the current one; the new password then unlocks it and
// signs a new browser in, and a wrong current password changes nothing.
func TestChangePassword(t *testing.T) {
	w := newWorld(t)
	b := w.signIn(t, true)
	ctx := context.Background()
	newPW := []byte("another long passphrase, changed in the browser")
	if err := b.ChangePassword(ctx, []byte("not the password"), newPW); webcore.Code(err) != webcore.CodeWrongPassword {
		t.Fatalf("change with a wrong current password: %v", err)
	}
	if err := b.ChangePassword(ctx, testPW, newPW); err != nil {
		t.Fatal(err)
	}
	if err := b.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if res, err := b.Unlock(ctx, newPW); err != nil || res.Items != 1 {
		t.Fatalf("unlock with the new password: %+v %v", res, err)
	}
	other := w.browser(t, newMemStore(), nil)
	if _, err := other.ReadKit(context.Background(), w.kit.Text(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := other.SignIn(ctx, testPW, false, "second"); webcore.Code(err) != webcore.CodeWrongPassword {
		t.Fatalf("sign-in with the old password: %v", err)
	}
	if _, err := other.ReadKit(context.Background(), w.kit.Text(), nil); err != nil {
		t.Fatal(err)
	}
	if res, err := other.SignIn(ctx, newPW, false, "second"); err != nil || res.Items != 1 {
		t.Fatalf("sign-in with the new password: %+v %v", res, err)
	}
}

// TestDamagedStoreRefused: a vault record changed at rest is refused at
// unlock, and nothing of it is shown.
func TestDamagedStoreRefused(t *testing.T) {
	w := newWorld(t)
	b := w.signIn(t, true)
	ctx := context.Background()
	if err := b.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	rec, _ := b.store.Get(ctx, webcore.RecordVault)
	rec[len(rec)/2] ^= 1
	b.store.Put(ctx, webcore.RecordVault, rec)
	tab := w.browser(t, b.store, offline)
	if _, err := tab.Unlock(ctx, testPW); !errors.Is(err, webcore.ErrDamagedStore) {
		t.Fatalf("unlock of a damaged vault: %v", err)
	}
	if st := tab.Status(); st.State != webcore.StateLocked {
		t.Fatalf("status after a refused unlock: %+v", st)
	}
	// A change that keeps the snapshot's checksum right (an attacker
	// with the store, not a bit flip) is refused: inside an item's sealed
	// box, and in the signed manifest's counters and item digest.
	rec[len(rec)/2] ^= 1 // as stored before
	const head = len("KHWV\x02\n") + 8
	body := rec[head : len(rec)-sha256.Size]
	itemAt, manifestAt := bytes.Index(body, []byte("KHIT")), bytes.Index(body, []byte("KHMF\x02"))
	if itemAt < 0 || manifestAt < 0 {
		t.Fatalf("no item box or manifest in the snapshot: %q", body)
	}
	for _, at := range []int{itemAt + 40, itemAt + 100, manifestAt + 8, manifestAt + 20, manifestAt + 40} {
		bad := slices.Clone(rec)
		bad[head+at] ^= 1
		sum := sha256.Sum256(bad[head : len(bad)-sha256.Size])
		copy(bad[len(bad)-sha256.Size:], sum[:])
		b.store.Put(ctx, webcore.RecordVault, bad)
		tab := w.browser(t, b.store, offline)
		res, err := tab.Unlock(ctx, testPW)
		if err == nil {
			_, lerr := tab.List(webcore.ListQuery{})
			t.Fatalf("a vault changed at byte %d with its checksum recomputed opened: %+v (list: %v)", at, res, lerr)
		}
		if !errors.Is(err, webcore.ErrDamagedStore) && !errors.Is(err, replica.ErrDamaged) {
			t.Fatalf("a vault changed at byte %d with its checksum recomputed: %v", at, err)
		}
		if _, err := tab.List(webcore.ListQuery{}); !errors.Is(err, webcore.ErrLocked) {
			t.Fatalf("a refused vault changed at byte %d lists items: %v", at, err)
		}
	}
}

// TestEditPushedAtOnce: an edit goes to the server at once, not at the
// sync loop's next look for local changes (here an hour away).
func TestEditPushedAtOnce(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	ev := &eventLog{}
	b := webcore.New(webcore.Options{Store: newMemStore(), Vaults: webcore.MemVaults(nil), Event: ev.add, Poll: time.Hour})
	t.Cleanup(func() { b.Lock(ctx) })
	if _, err := b.Start(ctx, w.url); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReadKit(context.Background(), w.kit.Text(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SignIn(ctx, testPW, false, "browser"); err != nil {
		t.Fatal(err)
	}
	// The loop's first sync is over: from here only a push sends.
	ev.wait(t, "online", func(e event) bool { s, ok := e.detail.(webcore.SyncEvent); return ok && s.State == "online" })
	added, err := b.Save(ctx, "", 0, mustJSON(t, item.New(item.Note, "pushed at once", time.Now())))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		w.sync(t)
		if _, err := w.s.Resolve(ctx, added.ID, vault.Active); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the browser's new item did not reach the CLI within 5 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRememberedStoresChanges: a remembered browser stores an edit as a
// small change record after the vault record, not the whole vault again;
// after maxChangeRecords of them the next write stores a whole vault
// record again and the change records go. Either way a new tab opens
// every edit, offline.
func TestRememberedStoresChanges(t *testing.T) {
	w := newWorld(t)
	b := w.signIn(t, true)
	ctx := context.Background()
	first, _ := b.store.Get(ctx, webcore.RecordVault)
	save := func(title string) {
		t.Helper()
		if _, err := b.Save(ctx, "", 0, mustJSON(t, item.New(item.Note, title, time.Now()))); err != nil {
			t.Fatal(err)
		}
	}
	for _, title := range []string{"one", "two", "three"} {
		save(title)
	}
	if rec, _ := b.store.Get(ctx, webcore.RecordVault); !slices.Equal(rec, first) {
		t.Error("an edit stored the whole vault record again")
	}
	if c, _ := b.store.Get(ctx, webcore.RecordChange(1)); c == nil || len(c) >= len(first) {
		t.Errorf("after three edits the first change record holds %d bytes (the vault record %d)", len(c), len(first))
	}
	reopen := func(want int) {
		t.Helper()
		if err := b.Lock(ctx); err != nil {
			t.Fatal(err)
		}
		tab := w.browser(t, b.store, offline)
		res, err := tab.Unlock(ctx, testPW)
		if err != nil || res.Items != want {
			t.Fatalf("a new tab, offline: %+v %v; want %d items", res, err, want)
		}
		tab.Lock(ctx)
		if _, err := b.Unlock(ctx, testPW); err != nil {
			t.Fatal(err)
		}
	}
	reopen(4)

	for i := range 40 {
		save(fmt.Sprintf("note %d", i))
	}
	if rec, _ := b.store.Get(ctx, webcore.RecordVault); slices.Equal(rec, first) {
		t.Error("after 40 edits the vault record was never stored again")
	}
	for _, n := range b.store.names() {
		var i int
		if _, err := fmt.Sscanf(n, "vault-change-%d", &i); err == nil && i > 32 {
			t.Errorf("the browser keeps %s", n)
		}
	}
	reopen(44)
	if got := titles(t, b, webcore.ListQuery{Query: "note 39"}); !slices.Equal(got, []string{"note 39"}) {
		t.Errorf("the last edit after reopening: %q", got)
	}
}

// TestKitForAnotherServer: a kit naming a server other than the page's
// origin is refused at once, naming that server, and nothing is asked of
// either server; the same server written with its default port is not
// another one.
func TestKitForAnotherServer(t *testing.T) {
	var asked []string
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		asked = append(asked, r.URL.String())
		return nil, errors.New("offline")
	})}
	c := webcore.New(webcore.Options{Store: newMemStore(), Vaults: webcore.MemVaults(nil), Extras: webextras.Local{}, HTTP: hc})
	if _, err := c.Start(context.Background(), "https://vault.example.org"); err != nil {
		t.Fatal(err)
	}
	k := kittext.Kit{AccountID: [16]byte{1, 2, 3}, SecretKey: [16]byte{4, 5, 6}}
	for _, tc := range []struct {
		server string
		other  bool
	}{
		{"https://other.example.org", true},
		{"https://vault.example.org:8443", true},
		{"http://127.0.0.1:8443", true},
		{"https://vault.example.org", false},
		{"https://VAULT.example.org:443", false},
	} {
		asked = nil
		k.SyncLocation = tc.server
		_, err := c.ReadKit(context.Background(), k.Text(), nil)
		var oe *webcore.OtherServerError
		if got := errors.As(err, &oe); got != tc.other {
			t.Errorf("kit for %s: refused as another server's %v, want %v (%v)", tc.server, got, tc.other, err)
			continue
		}
		if tc.other {
			if webcore.Code(err) != webcore.CodeForeignKit || !strings.Contains(webcore.Message(err), tc.server) {
				t.Errorf("kit for %s: code %q, message %q", tc.server, webcore.Code(err), webcore.Message(err))
			}
			if len(asked) != 0 {
				t.Errorf("kit for %s: the page asked %v", tc.server, asked)
			}
		} else if err != nil {
			t.Errorf("kit for %s: %v", tc.server, err)
		}
	}
}
