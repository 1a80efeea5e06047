package syncclient

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/keyhold/keyhold/internal/keys"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/server/store"
	"github.com/keyhold/keyhold/internal/vault"
)

// A server that, after a password change every device adopted, serves
// the previous envelope again (its database put back, or a hostile
// operator) is refused by the device with a message naming the server:
// the old password does not come back and nothing is lost.
func TestServerReplaysOldEnvelope(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	root := t.TempDir()
	a, created := newAccount(t, ts, root)
	b := joinDevice(t, ts, root, 1, created)
	if _, err := b.s.Add(ctx, item.New(item.Login, "kept", vault.Now())); err != nil {
		t.Fatal(err)
	}
	if _, err := b.y.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	id := store.ID(created.AccountID)
	old, err := ts.st.Keys(ctx, id)
	if err != nil {
		t.Fatal(err)
	}

	newPw := []byte("a new password")
	if err := a.s.ChangePassword(ctx, newPw, testKDF, a.y.PublishPassword(ctx)); err != nil {
		t.Fatal(err)
	}
	// The change ended B's session: B logs in again with the new password.
	if _, err := b.y.Sync(ctx); !errors.Is(err, ErrLoginNeeded) {
		t.Fatalf("device B's sync after the change elsewhere: %v, want ErrLoginNeeded", err)
	}
	cfg, err := Load(b.dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := Relogin(ctx, b.y.C, cfg, b.v, newPw); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Save(b.dir); err != nil {
		t.Fatal(err)
	}
	if _, err := b.y.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	b.s.Close()
	b.v.Close()
	b = openDevice(t, b.dir, newPw) // adopts the new envelope
	if e := b.v.Envelope().Epoch; e != 2 {
		t.Fatalf("device B's epoch after adopting the change: %d, want 2", e)
	}

	// The server's database goes back to the old envelope and login
	// record (the store itself never writes an older epoch).
	if err := ts.st.SetPassword(ctx, id, old.KeyVersion, old.Envelope, old.Record, store.ID{}); !errors.Is(err, store.ErrOldEpoch) {
		t.Fatalf("the store writing the older envelope: %v, want ErrOldEpoch", err)
	}
	rollBackKeys(t, ts, id, old)
	_, err = b.y.Sync(ctx)
	if !errors.Is(err, vault.ErrOldEnvelope) || !strings.HasPrefix(err.Error(), "the server sent an account key envelope older than one this device already adopted (epoch 1 < 2)") {
		t.Fatalf("sync against the replayed envelope: %v", err)
	}
	v, err := vault.Open(b.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Unlock(testPassword); !errors.Is(err, format.ErrWrongPassword) {
		t.Fatalf("the old password on device B after the replay: %v, want ErrWrongPassword", err)
	}
	s, err := v.Unlock(newPw)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if es, err := s.List(ctx, vault.Active); err != nil || len(es) != 1 {
		t.Fatalf("device B's items after the refused replay: %d, %v", len(es), err)
	}
}

// rollBackKeys puts the account's envelope and login record back to k
// behind the store's back, as restoring an old backup of the server's
// database would.
func rollBackKeys(t *testing.T, ts *testServer, id store.ID, k *store.Keys) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+ts.db+"?_pragma=busy_timeout(30000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE accounts SET envelope = ?, record = ? WHERE id = ?`, k.Envelope, k.Record, id[:]); err != nil {
		t.Fatal(err)
	}
}

// A device that missed a password change made elsewhere cannot publish
// its own change over it: the server refuses an epoch that does not rise
// and nothing changes on the device. (Normally the other device's change
// ends this device's session first; here it lands on the server without
// doing so, as a change racing this one would.)
func TestServerRefusesEpochThatDoesNotRise(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	root := t.TempDir()
	a, created := newAccount(t, ts, root)
	b := joinDevice(t, ts, root, 1, created)
	id := store.ID(created.AccountID)
	old, err := ts.st.Keys(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	direct := func(env []byte, _ *keys.Key32) error {
		return ts.st.SetPassword(ctx, id, old.KeyVersion, env, old.Record, store.ID{})
	}
	if err := a.s.ChangePassword(ctx, []byte("first change"), testKDF, direct); err != nil {
		t.Fatal(err)
	}
	before := b.v.Envelope().Marshal()
	err = b.s.ChangePassword(ctx, []byte("second change"), testKDF, b.y.PublishPassword(ctx))
	if !errors.Is(err, errOldEpoch) {
		t.Fatalf("a password change over a missed one: %v, want errOldEpoch", err)
	}
	if string(b.v.Envelope().Marshal()) != string(before) {
		t.Fatal("the refused change changed the device's envelope")
	}
	k, err := ts.st.Keys(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if string(k.Envelope) != string(a.v.Envelope().Marshal()) {
		t.Fatal("the server's envelope is not the first change's")
	}
}
