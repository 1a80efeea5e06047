package vault

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyhold/keyhold/internal/format"
)

// An envelope from the server never replaces the working one until the
// password opens it: a server that serves a well-formed header with a
// garbage box cannot lock the device out.
func TestAdoptEnvelopeKeepsTheWorkingOne(t *testing.T) {
	dir, _ := newVault(t)
	s := unlock(t, dir, "correct horse")
	bogus := s.Vault().Envelope().Marshal()
	bogus[len(bogus)-1] ^= 1
	changed, err := s.AdoptEnvelope(ctx, bogus)
	if err != nil || !changed {
		t.Fatalf("AdoptEnvelope = %v, %v; want it kept aside", changed, err)
	}
	unlock(t, dir, "correct horse") // still opens
	v, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Unlock([]byte("another password")); !errors.Is(err, format.ErrWrongPassword) {
		t.Fatalf("Unlock with a wrong password = %v, want ErrWrongPassword", err)
	}

	// A real password change elsewhere: the same account key under a new
	// password, made here on a copy of the vault.
	copyDir := filepath.Join(t.TempDir(), "copy")
	if err := os.MkdirAll(copyDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{DBFile, DeviceFile} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(copyDir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	other := unlock(t, copyDir, "correct horse")
	if err := other.ChangePassword(ctx, []byte("battery staple"), testKDF, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AdoptEnvelope(ctx, other.Vault().Envelope().Marshal()); err != nil {
		t.Fatal(err)
	}
	// The new password opens the pending envelope and promotes it; from
	// then on the old one no longer works.
	unlock(t, dir, "battery staple")
	v2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	if _, err := v2.Unlock([]byte("correct horse")); !errors.Is(err, format.ErrWrongPassword) {
		t.Fatalf("the old password after the new one was used: %v, want ErrWrongPassword", err)
	}
}

// EnableSync for a new server forgets what the previous one held.
func TestEnableSyncForgetsTheOldServer(t *testing.T) {
	dir, _ := newVault(t)
	s := unlock(t, dir, "correct horse")
	es, err := s.Add(ctx, login("A", "a", "p"))
	if err != nil {
		t.Fatal(err)
	}
	v := s.Vault()
	if err := v.EnableSync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkPushed(ctx, []Pushed{{ID: es[0].ID, Rev: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyIncoming(ctx, nil, 7); err != nil {
		t.Fatal(err)
	}
	if n, _ := v.Pending(ctx); n != 0 {
		t.Fatalf("pending = %d after the push", n)
	}
	if err := v.EnableSync(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := v.Pending(ctx); n != 1 {
		t.Fatalf("pending = %d for a new server, want 1", n)
	}
	if st, _ := v.SyncState(ctx); st.Cursor != 0 {
		t.Fatalf("cursor = %d for a new server, want 0", st.Cursor)
	}
}
