package syncclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"io"
	"path/filepath"
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
	cfg, err := loadConfig(b.dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := Relogin(ctx, b.y.C, cfg, b.v, newPw); err != nil {
		t.Fatal(err)
	}
	if err := saveConfig(b.dir, cfg); err != nil {
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
	v, err := vault.Open(b.dir, testOpts()...)
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
	setRaw(t, ts.db, `UPDATE accounts SET envelope = ?, record = ? WHERE id = ?`, k.Envelope, k.Record, id[:])
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

// setRaw writes the account key envelope into a SQLite file behind its
// owner's back: the server's accounts table, or a vault's meta table.
func setRaw(t *testing.T, path, query string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(30000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatal(err)
	}
}

// An account made before password epochs (a previous-version envelope
// on the server and on the device) keeps working after the device's
// first unlock migrates its envelope: syncing, logging in again with the
// password, and changing it (the server takes the epoch-2 envelope over
// its epoch-0 one). A server that then serves another previous-version
// envelope (an older password's) is refused with a message naming it.
func TestPreviousVersionAccountMigrates(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t)
	a, created := newAccount(t, ts, t.TempDir())
	id := store.ID(created.AccountID)
	ak, kv := a.s.AccountKey()
	cur := a.v.Envelope()
	// The previous version of the same envelope: same salt, so the
	// server's login record still matches.
	legacy, d, err := format.NewEnvelopeV1WithRand(io.MultiReader(bytes.NewReader(cur.Salt[:]), rand.Reader), ak, created.AccountID, kv, testPassword, created.SecretKey, cur.KDF)
	if err != nil {
		t.Fatal(err)
	}
	d.Wipe()
	older, d, err := format.NewEnvelopeV1WithRand(rand.Reader, ak, created.AccountID, kv, []byte("an older password"), created.SecretKey, cur.KDF)
	if err != nil {
		t.Fatal(err)
	}
	d.Wipe()
	a.s.Close()
	a.v.Close()
	setRaw(t, ts.db, `UPDATE accounts SET envelope = ? WHERE id = ?`, legacy.Marshal(), id[:])
	setRaw(t, filepath.Join(a.dir, vault.DBFile), `UPDATE meta SET v = ? WHERE k = 'envelope'`, legacy.Marshal())

	a = openDevice(t, a.dir, testPassword) // migrates
	if e := a.v.Envelope(); e.Version != format.Version2 || e.Epoch != 1 {
		t.Fatalf("after the first unlock: version %d epoch %d, want 2 and 1", e.Version, e.Epoch)
	}
	if rep, err := a.y.Sync(ctx); err != nil || rep.EnvelopeUpdated {
		t.Fatalf("sync against the server's previous-version envelope: %+v, %v; want nothing new", rep, err)
	}
	cfg, err := loadConfig(a.dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := Relogin(ctx, a.y.C, cfg, a.v, []byte("a typo")); !errors.Is(err, ErrLoginFailed) {
		t.Fatalf("logging in again with a wrong password: %v, want ErrLoginFailed", err)
	}
	if err := Relogin(ctx, a.y.C, cfg, a.v, testPassword); err != nil {
		t.Fatalf("logging in again with the server's previous-version parameters: %v", err)
	}
	if err := saveConfig(a.dir, cfg); err != nil {
		t.Fatal(err)
	}

	// The server serves an older password's previous-version envelope.
	setRaw(t, ts.db, `UPDATE accounts SET envelope = ? WHERE id = ?`, older.Marshal(), id[:])
	_, err = a.y.Sync(ctx)
	if !errors.Is(err, vault.ErrOldEnvelope) || !strings.HasPrefix(err.Error(), "the server sent an account key envelope older than one this device already adopted (epoch 0 < 1)") {
		t.Fatalf("sync against another previous-version envelope: %v", err)
	}
	if err := Relogin(ctx, a.y.C, cfg, a.v, []byte("an older password")); !errors.Is(err, vault.ErrOldEnvelope) {
		t.Fatalf("logging in with the older envelope's parameters: %v, want ErrOldEnvelope", err)
	}

	// Back to the honest state: a password change goes through.
	setRaw(t, ts.db, `UPDATE accounts SET envelope = ? WHERE id = ?`, legacy.Marshal(), id[:])
	if err := a.s.ChangePassword(ctx, []byte("a new password"), testKDF, a.y.PublishPassword(ctx)); err != nil {
		t.Fatal(err)
	}
	k, err := ts.st.Keys(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := format.ParseEnvelope(k.Envelope); e == nil || e.Epoch != 2 || !bytes.Equal(k.Envelope, a.v.Envelope().Marshal()) {
		t.Fatal("the server does not hold the device's epoch-2 envelope after the password change")
	}
}
