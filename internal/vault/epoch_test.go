package vault

import (
	"crypto/rand"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyhold/keyhold/internal/format"
)

// After this device used a new password, a server that serves the
// envelope of the old password again is refused with a message that
// names the server, and the old password stays dead here; the items are
// kept.
func TestOldEnvelopeAfterPasswordChangeRefused(t *testing.T) {
	dir, _ := newVault(t)
	s := unlock(t, dir, "correct horse")
	if _, err := s.Add(ctx, login("A", "a", "p")); err != nil {
		t.Fatal(err)
	}
	old := s.Vault().Envelope().Marshal()
	if e := s.Vault().Envelope().Epoch; e != 1 {
		t.Fatalf("a new vault's epoch is %d, want 1", e)
	}

	// The password changes on another device; this one adopts it and
	// the new password opens it.
	other := unlock(t, copyDevice(t, dir), "correct horse")
	if err := other.ChangePassword(ctx, []byte("battery staple"), testKDF, nil); err != nil {
		t.Fatal(err)
	}
	if e := other.Vault().Envelope().Epoch; e != 2 {
		t.Fatalf("epoch after a password change: %d, want 2", e)
	}
	if _, err := s.AdoptEnvelope(ctx, other.Vault().Envelope().Marshal()); err != nil {
		t.Fatal(err)
	}
	s = unlock(t, dir, "battery staple")

	// The server replays the old envelope.
	changed, err := s.AdoptEnvelope(ctx, old)
	var oe *OldEnvelopeError
	if !errors.Is(err, ErrOldEnvelope) || !errors.As(err, &oe) || changed {
		t.Fatalf("AdoptEnvelope(old) = %v, %v; want ErrOldEnvelope", changed, err)
	}
	if oe.Epoch != 1 || oe.Adopted != 2 || !strings.HasPrefix(err.Error(), "the server sent") {
		t.Fatalf("message %q (epochs %d, %d)", err, oe.Epoch, oe.Adopted)
	}
	assertPasswordRefused(t, dir, "correct horse", "the old password after the replay")
	s = unlock(t, dir, "battery staple")
	if es, err := s.List(ctx, Active); err != nil || len(es) != 1 {
		t.Fatalf("items after the refused replay: %d, %v", len(es), err)
	}
}

// A pending envelope is not authenticated until its password opens it,
// so its epoch does not hold the device: a server that once served a
// forged envelope with a huge epoch (its box opens with nothing) cannot
// make the device refuse a later honest password change, nor exhaust the
// epochs of a change made here. An envelope older than the working one
// is still refused.
func TestForgedPendingDoesNotBlock(t *testing.T) {
	dir, _ := newVault(t)
	s := unlock(t, dir, "correct horse")
	first := s.Vault().Envelope().Marshal()
	forge := func(epoch uint32) []byte {
		env, err := format.ParseEnvelope(first)
		if err != nil {
			t.Fatal(err)
		}
		env.Epoch = epoch
		return env.Marshal()
	}
	if _, err := s.AdoptEnvelope(ctx, forge(1<<30)); err != nil {
		t.Fatalf("a forged envelope at a high epoch (kept pending, as any unopened one): %v", err)
	}
	other := unlock(t, copyDevice(t, dir), "correct horse")
	if err := other.ChangePassword(ctx, []byte("battery staple"), testKDF, nil); err != nil {
		t.Fatal(err)
	}
	if changed, err := s.AdoptEnvelope(ctx, other.Vault().Envelope().Marshal()); err != nil || !changed {
		t.Fatalf("an honest password change after the forged envelope: %v, %v; want it adopted", changed, err)
	}
	s = unlock(t, dir, "battery staple")
	if e := s.Vault().Envelope().Epoch; e != 2 {
		t.Fatalf("epoch after the honest change: %d, want 2", e)
	}

	if _, err := s.AdoptEnvelope(ctx, forge(math.MaxUint32)); err != nil {
		t.Fatal(err)
	}
	if err := s.ChangePassword(ctx, []byte("third"), testKDF, nil); err != nil {
		t.Fatalf("a password change here after a forged last epoch: %v", err)
	}
	if e := s.Vault().Envelope().Epoch; e != 3 {
		t.Fatalf("epoch after the change here: %d, want 3", e)
	}
	if _, err := s.RotateKey(ctx, []byte("third"), nil); err != nil {
		t.Fatalf("a rotation after a forged envelope: %v", err)
	}
	if _, err := s.AdoptEnvelope(ctx, forge(1<<30)); err == nil {
		t.Fatal("an envelope of the previous key version was kept")
	}
	s = unlock(t, dir, "third")
	changed, err := s.AdoptEnvelope(ctx, other.Vault().Envelope().Marshal())
	if err == nil || changed {
		t.Fatalf("an envelope older than the working one: %v, %v; want a refusal", changed, err)
	}
}

// A vault made before password epochs holds a previous-version envelope.
// The first unlock migrates it: the same password and login key, now the
// current version at epoch 1, and the previous envelope (which the
// server still holds) is nothing new. A password change then writes
// epoch 2, and the previous envelope is refused like any older one.
func TestPreviousVersionEnvelope(t *testing.T) {
	dir, c := newVault(t)
	s := unlock(t, dir, "correct horse")
	ak, kv := s.AccountKey()
	env1, d, err := format.NewEnvelopeV1WithRand(rand.Reader, ak, c.AccountID, kv, []byte("correct horse"), c.SecretKey, testKDF)
	if err != nil {
		t.Fatal(err)
	}
	login := d.Login
	d.Wipe()
	if _, err := s.Vault().db.Exec(`UPDATE meta SET v = ? WHERE k = 'envelope'`, env1.Marshal()); err != nil {
		t.Fatal(err)
	}
	v, err := Open(dir, testOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	if e := v.Envelope(); e.Version != format.Version1 || e.Epoch != 0 {
		t.Fatalf("old vault's envelope: version %d epoch %d", e.Version, e.Epoch)
	}
	s, l, err := v.UnlockLogin([]byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if *l != login {
		t.Fatal("the migration changed the login key")
	}
	if e := s.Vault().Envelope(); e.Version != format.Version2 || e.Epoch != 1 || e.Salt != env1.Salt {
		t.Fatalf("after the first unlock: version %d epoch %d", e.Version, e.Epoch)
	}
	if h := s.Vault().LegacyHeader(); string(h) != string(env1.Header()) {
		t.Fatal("the migrated vault does not remember the previous envelope's header")
	}
	for _, from := range []string{fromServer, fromFolder} {
		if changed, err := s.adoptEnvelope(ctx, env1.Marshal(), from); err != nil || changed {
			t.Fatalf("the envelope the vault was migrated from, from %s: %v, %v; want nothing new", from, changed, err)
		}
	}
	unlock(t, dir, "correct horse")
	if err := s.ChangePassword(ctx, []byte("battery staple"), testKDF, nil); err != nil {
		t.Fatal(err)
	}
	if e := s.Vault().Envelope(); e.Version != format.Version2 || e.Epoch != 2 {
		t.Fatalf("after the password change: version %d epoch %d", e.Version, e.Epoch)
	}
	if s.Vault().LegacyHeader() != nil {
		t.Fatal("the previous envelope's header is still honoured after a password change")
	}
	if _, err := s.AdoptEnvelope(ctx, env1.Marshal()); !errors.Is(err, ErrOldEnvelope) {
		t.Fatalf("the previous-version envelope after a change: %v, want ErrOldEnvelope", err)
	}
	unlock(t, dir, "battery staple")
}

// A device that migrated its previous-version vault never published the
// migration, so another device's first password change since epochs
// (made before that one migrated) arrives at the same epoch 1: it is
// kept aside and opens with the new password, not refused as a second
// envelope of one epoch.
func TestMigratedVaultAdoptsFirstChangeElsewhere(t *testing.T) {
	dir, c := newVault(t)
	s := unlock(t, dir, "correct horse")
	ak, kv := s.AccountKey()
	env1, d, err := format.NewEnvelopeV1WithRand(rand.Reader, ak, c.AccountID, kv, []byte("correct horse"), c.SecretKey, testKDF)
	if err != nil {
		t.Fatal(err)
	}
	d.Wipe()
	elsewhere, d, err := format.NewEnvelope(ak, c.AccountID, kv, 1, []byte("battery staple"), c.SecretKey, testKDF)
	if err != nil {
		t.Fatal(err)
	}
	d.Wipe()
	if _, err := s.Vault().db.Exec(`UPDATE meta SET v = ? WHERE k = 'envelope'`, env1.Marshal()); err != nil {
		t.Fatal(err)
	}
	s = unlock(t, dir, "correct horse")
	if changed, err := s.AdoptEnvelope(ctx, elsewhere.Marshal()); err != nil || !changed {
		t.Fatalf("another device's first change at epoch 1: %v, %v; want it kept aside", changed, err)
	}
	s = unlock(t, dir, "battery staple")
	if e := s.Vault().Envelope(); e.Epoch != 1 || e.Salt != elsewhere.Salt {
		t.Fatalf("after unlocking with the new password: epoch %d", e.Epoch)
	}
	if _, err := s.AdoptEnvelope(ctx, env1.Marshal()); !errors.Is(err, ErrOldEnvelope) {
		t.Fatalf("the previous-version envelope after the change: %v, want ErrOldEnvelope", err)
	}
}

// A vault made before password epochs cannot be rolled back once it has
// been unlocked: a server serving another previous-version envelope (the
// one of an older password, made before epochs) is refused with a message
// naming the server, and that older password does not open the vault.
func TestPreviousVersionRollbackRefused(t *testing.T) {
	dir, c := newVault(t)
	s := unlock(t, dir, "correct horse")
	ak, kv := s.AccountKey()
	older, d, err := format.NewEnvelopeV1WithRand(rand.Reader, ak, c.AccountID, kv, []byte("correct horse"), c.SecretKey, testKDF)
	if err != nil {
		t.Fatal(err)
	}
	d.Wipe()
	current, d, err := format.NewEnvelopeV1WithRand(rand.Reader, ak, c.AccountID, kv, []byte("battery staple"), c.SecretKey, testKDF)
	if err != nil {
		t.Fatal(err)
	}
	d.Wipe()
	if _, err := s.Add(ctx, login("A", "a", "p")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Vault().db.Exec(`UPDATE meta SET v = ? WHERE k = 'envelope'`, current.Marshal()); err != nil {
		t.Fatal(err)
	}
	s = unlock(t, dir, "battery staple")

	changed, err := s.AdoptEnvelope(ctx, older.Marshal())
	var oe *OldEnvelopeError
	if !errors.As(err, &oe) || changed || oe.Epoch != 0 || oe.Adopted != 1 ||
		!strings.HasPrefix(err.Error(), "the server sent an account key envelope older than one this device already adopted") {
		t.Fatalf("an older previous-version envelope after the migration: %v, %v; want ErrOldEnvelope from the server", changed, err)
	}
	if changed, err := s.adoptEnvelope(ctx, older.Marshal(), fromFolder); !errors.Is(err, ErrOldEnvelope) || changed {
		t.Fatalf("the same from a sync folder: %v, %v; want ErrOldEnvelope", changed, err)
	}
	assertPasswordRefused(t, dir, "correct horse", "the older password after the refused rollback")
	s = unlock(t, dir, "battery staple")
	if es, err := s.List(ctx, Active); err != nil || len(es) != 1 {
		t.Fatalf("items after the refused rollback: %d, %v", len(es), err)
	}
}

// A vault made before password epochs that holds another device's
// password change aside (also of the previous version) does not migrate
// over it: the old password still opens it without losing the change,
// the new one then opens it, and only then does it migrate.
func TestMigrationWaitsForPendingPreviousVersion(t *testing.T) {
	dir, c := newVault(t)
	s := unlock(t, dir, "correct horse")
	ak, kv := s.AccountKey()
	working, d, err := format.NewEnvelopeV1WithRand(rand.Reader, ak, c.AccountID, kv, []byte("correct horse"), c.SecretKey, testKDF)
	if err != nil {
		t.Fatal(err)
	}
	d.Wipe()
	changed, d, err := format.NewEnvelopeV1WithRand(rand.Reader, ak, c.AccountID, kv, []byte("battery staple"), c.SecretKey, testKDF)
	if err != nil {
		t.Fatal(err)
	}
	d.Wipe()
	db := s.Vault().db
	if _, err := db.Exec(`UPDATE meta SET v = ? WHERE k = 'envelope'`, working.Marshal()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO meta (k, v) VALUES ('envelope/pending', ?)`, changed.Marshal()); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// The old password still works and leaves the change aside.
	s = unlock(t, dir, "correct horse")
	if v := s.Vault().Envelope().Version; v != format.Version1 {
		t.Fatalf("migrated over a pending change of the previous version (version %d)", v)
	}
	s.Close()
	// The new password opens it; that unlock promotes and migrates.
	s = unlock(t, dir, "battery staple")
	if env := s.Vault().Envelope(); env.Version == format.Version1 || env.Epoch != 1 {
		t.Fatalf("after the new password: version %d epoch %d, want migrated to epoch 1", env.Version, env.Epoch)
	}
	s.Close()
	assertPasswordRefused(t, dir, "correct horse", "the old password after the change was used")
}

// A rotation raises the epoch too.
func TestRotationRaisesEpoch(t *testing.T) {
	dir, _ := newVault(t)
	s := unlock(t, dir, "correct horse")
	before := s.Vault().Envelope().Epoch
	if _, err := s.RotateKey(ctx, []byte("correct horse"), nil); err != nil {
		t.Fatal(err)
	}
	if after := s.Vault().Envelope().Epoch; after != before+1 {
		t.Fatalf("epoch %d after a rotation from %d", after, before)
	}
}

// A sync folder put back to a copy from before a password change (a
// backup restored, a sync client's rewind) does not bring the old
// password back on a device that has used the new one: the old envelope
// is not adopted, and the device keeps syncing.
func TestFolderRewindKeepsNewPassword(t *testing.T) {
	w := newSimWorld(t, 3, 2)
	A, B := w.devs[0], w.devs[1]
	w.sync(A)
	w.copyFiles(A.folder, B.folder, false)
	w.sync(B)
	old := filepath.Join(t.TempDir(), "old-folder")
	if err := os.MkdirAll(old, 0o700); err != nil {
		t.Fatal(err)
	}
	w.copyFiles(B.folder, old, false)

	if err := A.sess.ChangePassword(ctx, []byte("a new password"), testKDF, A.sess.FolderPasswordPublisher(ctx)); err != nil {
		t.Fatal(err)
	}
	w.sync(A)
	w.copyFiles(A.folder, B.folder, false)
	if rep := w.sync(B); !rep.EnvelopeUpdated {
		t.Fatalf("B did not pick up the password change: %+v", *rep)
	}
	B.sess = unlock(t, B.dir, "a new password")
	epoch := B.sess.Vault().Envelope().Epoch

	// B's copy of the folder goes back to the old one.
	if err := os.RemoveAll(B.folder); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(B.folder, 0o700); err != nil {
		t.Fatal(err)
	}
	w.copyFiles(old, B.folder, false)
	if rep := w.sync(B); rep.EnvelopeUpdated {
		t.Fatalf("B adopted the rewound folder's envelope: %+v", *rep)
	}
	if e := B.sess.Vault().Envelope().Epoch; e != epoch {
		t.Fatalf("B's epoch went from %d to %d", epoch, e)
	}
	assertPasswordRefused(t, B.dir, w.pw, "the old password on B after the rewind")
	unlock(t, B.dir, "a new password")
}

// assertPasswordRefused checks that pw no longer opens the vault in dir
// (what says when, for the failure message).
func assertPasswordRefused(t *testing.T, dir, pw, what string) {
	t.Helper()
	v, err := Open(dir, testOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Unlock([]byte(pw)); !errors.Is(err, format.ErrWrongPassword) {
		t.Fatalf("%s: %v, want ErrWrongPassword", what, err)
	}
}
