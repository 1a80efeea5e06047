package vault

import (
	"crypto/rand"
	"errors"
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
	v, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Unlock([]byte("correct horse")); !errors.Is(err, format.ErrWrongPassword) {
		t.Fatalf("the old password after the replay: %v, want ErrWrongPassword", err)
	}
	s = unlock(t, dir, "battery staple")
	if es, err := s.List(ctx, Active); err != nil || len(es) != 1 {
		t.Fatalf("items after the refused replay: %d, %v", len(es), err)
	}
}

// A password change received but not yet used here is not undone by an
// older envelope either.
func TestOldEnvelopeBelowPendingRefused(t *testing.T) {
	dir, _ := newVault(t)
	s := unlock(t, dir, "correct horse")
	other := unlock(t, copyDevice(t, dir), "correct horse")
	if err := other.ChangePassword(ctx, []byte("second"), testKDF, nil); err != nil {
		t.Fatal(err)
	}
	second := other.Vault().Envelope().Marshal()
	if err := other.ChangePassword(ctx, []byte("third"), testKDF, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AdoptEnvelope(ctx, other.Vault().Envelope().Marshal()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AdoptEnvelope(ctx, second); !errors.Is(err, ErrOldEnvelope) {
		t.Fatalf("an envelope older than the pending one: %v, want ErrOldEnvelope", err)
	}
	v, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Unlock([]byte("second")); !errors.Is(err, format.ErrWrongPassword) {
		t.Fatalf("the refused password opens the vault: %v", err)
	}
	unlock(t, dir, "third")
}

// A vault made before password epochs holds a previous-version envelope:
// it opens (epoch 0), its first password change writes the current
// version, and from then on the previous envelope is refused.
func TestPreviousVersionEnvelope(t *testing.T) {
	dir, c := newVault(t)
	s := unlock(t, dir, "correct horse")
	ak, kv := s.AccountKey()
	env1, d, err := format.NewEnvelopeV1WithRand(rand.Reader, ak, c.AccountID, kv, []byte("correct horse"), c.SecretKey, testKDF)
	if err != nil {
		t.Fatal(err)
	}
	d.Wipe()
	if _, err := s.Vault().db.Exec(`UPDATE meta SET v = ? WHERE k = 'envelope'`, env1.Marshal()); err != nil {
		t.Fatal(err)
	}
	s = unlock(t, dir, "correct horse")
	if e := s.Vault().Envelope(); e.Version != format.Version1 || e.Epoch != 0 {
		t.Fatalf("old vault's envelope: version %d epoch %d", e.Version, e.Epoch)
	}
	if err := s.ChangePassword(ctx, []byte("battery staple"), testKDF, nil); err != nil {
		t.Fatal(err)
	}
	if e := s.Vault().Envelope(); e.Version != format.Version2 || e.Epoch != 1 {
		t.Fatalf("after the password change: version %d epoch %d", e.Version, e.Epoch)
	}
	if _, err := s.AdoptEnvelope(ctx, env1.Marshal()); !errors.Is(err, ErrOldEnvelope) {
		t.Fatalf("the previous-version envelope after a change: %v, want ErrOldEnvelope", err)
	}
	unlock(t, dir, "battery staple")
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
	v, err := Open(B.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Unlock([]byte(w.pw)); !errors.Is(err, format.ErrWrongPassword) {
		t.Fatalf("the old password on B after the rewind: %v, want ErrWrongPassword", err)
	}
	unlock(t, B.dir, "a new password")
}
