package webcore_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/vaultsync"
	"github.com/keyhold/keyhold/internal/webcore"
	"github.com/keyhold/keyhold/internal/webcore/webextras"
)

// gatedArgon2 is the browser's Argon2 Worker, which a test can hold on
// its next derivation (arm) to act while it runs.
type gatedArgon2 struct {
	mu      sync.Mutex
	gate    chan struct{}
	entered chan struct{}
}

// arm holds the next derivation: entered closes when it starts, and it
// goes on once release is closed.
func (g *gatedArgon2) arm() (entered, release chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gate, g.entered = make(chan struct{}), make(chan struct{})
	return g.entered, g.gate
}

func (g *gatedArgon2) run(pw, salt []byte, t, m uint32, p uint8) ([]byte, error) {
	g.mu.Lock()
	gate, entered := g.gate, g.entered
	g.gate, g.entered = nil, nil
	g.mu.Unlock()
	if gate != nil {
		close(entered)
		<-gate
	}
	return keys.Argon2ID(pw, salt, t, m, p)
}

// signInWith signs a new browser in with these options (Store, Vaults,
// Event and Extras filled in where nil).
func (w *world) signInWith(t *testing.T, o webcore.Options, remember bool) (*webcore.Core, error) {
	t.Helper()
	ctx := context.Background()
	if o.Store == nil {
		o.Store = newMemStore()
	}
	if o.Vaults == nil {
		o.Vaults = webcore.MemVaults(nil)
	}
	if o.Extras == nil {
		o.Extras = webextras.Local{}
	}
	if o.Poll == 0 {
		o.Poll = 50 * time.Millisecond
	}
	c := webcore.New(o)
	t.Cleanup(func() { c.Lock(context.Background()) })
	if _, err := c.Start(ctx, w.url); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadKit(ctx, w.kit.Text(), nil); err != nil {
		t.Fatal(err)
	}
	_, err := c.SignIn(ctx, testPW, remember, "test browser")
	return c, err
}

// TestSignOutDuringPasswordChange: a sign-out (or a revocation's wipe)
// while a password change derives its keys ends the change with "signed
// out", and the session goes on answering.
func TestSignOutDuringPasswordChange(t *testing.T) {
	w := newWorld(t)
	g := &gatedArgon2{}
	b, err := w.signInWith(t, webcore.Options{Argon2: g.run}, true)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	entered, release := g.arm()
	errc := make(chan error, 1)
	go func() { errc <- b.ChangePassword(ctx, testPW, []byte("a new passphrase that never lands")) }()
	<-entered
	if err := b.SignOut(ctx); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-errc; !errors.Is(err, webcore.ErrSignedOut) {
		t.Fatalf("a password change the browser was signed out during: %v", err)
	}
	if st := b.Status(); st.State != webcore.StateSignedOut {
		t.Fatalf("status: %+v", st)
	}
}

// TestGuardStopsAfterPanic: a call that panics is refused with code
// "internal" and a request to reload, and so is every call after it.
func TestGuardStopsAfterPanic(t *testing.T) {
	var g webcore.Guard
	if v, err := g.Run(func() (any, error) { return 1, nil }); err != nil || v != 1 {
		t.Fatalf("a call: %v %v", v, err)
	}
	_, err := g.Run(func() (any, error) {
		var d *struct{ x int }
		return d.x, nil
	})
	if !errors.Is(err, webcore.ErrUnusable) || webcore.Code(err) != webcore.CodeInternal {
		t.Fatalf("a call that panicked: %v (code %q)", err, webcore.Code(err))
	}
	ran := false
	if _, err := g.Run(func() (any, error) { ran = true; return nil, nil }); !errors.Is(err, webcore.ErrUnusable) || ran {
		t.Fatalf("a call after the panic ran (%v) or answered %v", ran, err)
	}
}

// gatedVaults makes vaults whose next Snapshot, once armed, stops after
// it is taken until released: a Lock held in the middle of storing.
type gatedVaults struct {
	webcore.Vaults
	g *gatedArgon2 // its gate, reused
}

type gatedVault struct {
	webcore.Vault
	g *gatedArgon2
}

func (v gatedVaults) Create(ctx context.Context, j *vaultsync.Join, kv uint32) (webcore.Vault, error) {
	in, err := v.Vaults.Create(ctx, j, kv)
	if err != nil {
		return nil, err
	}
	return gatedVault{in, v.g}, nil
}

func (v gatedVaults) Open(ctx context.Context, snap []byte, changes [][]byte, id keys.AccountID, ak *keys.AccountKey, kv uint32) (webcore.Vault, error) {
	in, err := v.Vaults.Open(ctx, snap, changes, id, ak, kv)
	if err != nil {
		return nil, err
	}
	return gatedVault{in, v.g}, nil
}

func (v gatedVault) Snapshot() ([]byte, error) {
	b, err := v.Vault.Snapshot()
	v.g.mu.Lock()
	gate, entered := v.g.gate, v.g.entered
	v.g.gate, v.g.entered = nil, nil
	v.g.mu.Unlock()
	if gate != nil {
		close(entered)
		<-gate
	}
	return b, err
}

// TestWriteDuringLock: an edit that comes while Lock stores the vault
// is either kept (it is there after unlocking) or refused as locked;
// never reported saved and then lost.
func TestWriteDuringLock(t *testing.T) {
	w := newWorld(t)
	g := &gatedArgon2{}
	b, err := w.signInWith(t, webcore.Options{Vaults: gatedVaults{webcore.MemVaults(nil), g}}, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	entered, release := g.arm()
	lockErr := make(chan error, 1)
	go func() { lockErr <- b.Lock(ctx) }()
	<-entered // Lock has taken the snapshot it keeps, and not closed yet
	type saved struct {
		res webcore.SaveResult
		err error
	}
	savec := make(chan saved, 1)
	go func() {
		res, err := b.Save(ctx, "", 0, mustJSON(t, item.New(item.Note, "written while locking", time.Now())))
		savec <- saved{res, err}
	}()
	time.Sleep(200 * time.Millisecond) // let the edit go as far as it can
	close(release)
	if err := <-lockErr; err != nil {
		t.Fatal(err)
	}
	s := <-savec
	if _, err := b.List(webcore.ListQuery{}); !errors.Is(err, webcore.ErrLocked) {
		t.Fatalf("a locked session lists items: %v", err)
	}
	if _, err := b.Unlock(ctx, testPW); err != nil {
		t.Fatal(err)
	}
	_, getErr := b.Get(s.res.ID)
	switch {
	case s.err == nil && getErr != nil:
		t.Fatalf("the edit was reported saved (%+v) but is not in the vault after unlocking: %v", s.res, getErr)
	case s.err != nil && !errors.Is(s.err, webcore.ErrLocked):
		t.Fatalf("an edit during Lock: %v", s.err)
	}
	if s.err == nil {
		t.Fatalf("an edit that came after Lock began was not refused as locked")
	}
}

// failingStore is a browser store whose writes fail while fail is set
// (a full disk, a private window's quota).
type failingStore struct {
	*memStore
	fail atomic.Bool
}

var errStoreFull = errors.New("the store is full")

func (s *failingStore) Put(ctx context.Context, name string, b []byte) error {
	if s.fail.Load() {
		return errStoreFull
	}
	return s.memStore.Put(ctx, name, b)
}

// TestSignInStoreFails: a remembered sign-in whose store write fails
// reports it and leaves the browser signed out with nothing stored, and
// a retry (the kit still read) signs in.
func TestSignInStoreFails(t *testing.T) {
	w := newWorld(t)
	st := &failingStore{memStore: newMemStore()}
	st.fail.Store(true)
	b, err := w.signInWith(t, webcore.Options{Store: st}, true)
	if !errors.Is(err, errStoreFull) {
		t.Fatalf("a sign-in whose store write failed: %v", err)
	}
	if s := b.Status(); s.State != webcore.StateSignedOut {
		t.Fatalf("status after a failed sign-in: %+v", s)
	}
	if _, err := b.List(webcore.ListQuery{}); err == nil {
		t.Fatal("a failed sign-in lists items")
	}
	if names := st.names(); len(names) != 0 {
		t.Fatalf("a failed sign-in left %q stored", names)
	}
	st.fail.Store(false)
	ctx := context.Background()
	if res, err := b.SignIn(ctx, testPW, true, "test browser"); err != nil || res.Items != 1 {
		t.Fatalf("the retry: %+v %v", res, err)
	}
	if s := b.Status(); s.State != webcore.StateUnlocked || !s.Remembered {
		t.Fatalf("status after the retry: %+v", s)
	}
}

// TestUnlockStoreFails: an unlock whose store write fails reports it and
// leaves the browser locked and remembered, and the next unlock works.
func TestUnlockStoreFails(t *testing.T) {
	w := newWorld(t)
	st := &failingStore{memStore: newMemStore()}
	b, err := w.signInWith(t, webcore.Options{Store: st}, true)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	st.fail.Store(true)
	if _, err := b.Unlock(ctx, testPW); !errors.Is(err, errStoreFull) {
		t.Fatalf("an unlock whose store write failed: %v", err)
	}
	if s := b.Status(); s.State != webcore.StateLocked || !s.Remembered {
		t.Fatalf("status after a failed unlock: %+v", s)
	}
	if _, err := b.List(webcore.ListQuery{}); !errors.Is(err, webcore.ErrLocked) {
		t.Fatalf("a failed unlock lists items: %v", err)
	}
	st.fail.Store(false)
	if res, err := b.Unlock(ctx, testPW); err != nil || res.Items != 1 {
		t.Fatalf("the next unlock: %+v %v", res, err)
	}
}

// TestWorkerArgon2Limits: the Worker's derivation refuses parameters out
// of range (256 threads, negative or huge numbers from JavaScript) and
// derives what keys.Argon2ID derives for the rest.
func TestWorkerArgon2Limits(t *testing.T) {
	pw, salt := []byte("pw"), make([]byte, 16)
	for _, c := range []struct{ t, m, p int }{{1, 1024, 256}, {1, 1024, 257}, {1, 1024, -1}, {-1, 1024, 1}, {1, -5, 1}, {1 << 33, 1024, 1}, {1, 1<<32 + 1024, 1}} {
		if _, err := webcore.WorkerArgon2(pw, salt, c.t, c.m, c.p); !errors.Is(err, keys.ErrKDFTooCostly) && !errors.Is(err, keys.ErrKDFTooWeak) {
			t.Errorf("t=%d m=%d p=%d: %v", c.t, c.m, c.p, err)
		}
	}
	got, err := webcore.WorkerArgon2(pw, salt, 1, 1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := keys.Argon2ID(pw, salt, 1, 1024, 1)
	if !bytes.Equal(got, want) {
		t.Fatal("the Worker's derivation differs from keys.Argon2ID")
	}
}

// TestLockDropsKit: a kit read and not used is dropped by Lock with the
// keys: a sign-in after it asks for the kit again.
func TestLockDropsKit(t *testing.T) {
	w := newWorld(t)
	b := w.browser(t, newMemStore(), nil)
	ctx := context.Background()
	if _, err := b.ReadKit(ctx, w.kit.Text(), nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SignIn(ctx, testPW, false, "test browser"); !errors.Is(err, webcore.ErrNoKit) {
		t.Fatalf("a sign-in after Lock with the kit read before: %v", err)
	}
}
