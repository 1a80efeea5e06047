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
	// Another envelope at the epoch the device holds is refused outright:
	// the server never stores two of one epoch.
	same := s.Vault().Envelope().Marshal()
	same[len(same)-1] ^= 1
	if changed, err := s.AdoptEnvelope(ctx, same); !errors.Is(err, ErrOldEnvelope) || changed {
		t.Fatalf("AdoptEnvelope of a changed envelope at the same epoch = %v, %v; want ErrOldEnvelope", changed, err)
	}
	// One of a higher epoch whose box does not open is kept aside.
	raised := *s.Vault().Envelope()
	raised.Epoch++
	bogus := raised.Marshal()
	changed, err := s.AdoptEnvelope(ctx, bogus)
	if err != nil || !changed {
		t.Fatalf("AdoptEnvelope = %v, %v; want it kept aside", changed, err)
	}
	unlock(t, dir, "correct horse") // still opens
	v, err := Open(dir, testOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Unlock([]byte("another password")); !errors.Is(err, format.ErrWrongPassword) {
		t.Fatalf("Unlock with a wrong password = %v, want ErrWrongPassword", err)
	}

	// A real password change elsewhere: the same account key under a new
	// password, made here on a copy of the vault.
	copyDir := copyDevice(t, dir)
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
	v2, err := Open(dir, testOpts()...)
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

// A pull must not skip a revision, even among revisions the device
// already holds byte for byte (its own pushes coming back).
func TestApplyIncomingRefusesAGap(t *testing.T) {
	dir, _ := newVault(t)
	s := unlock(t, dir, "correct horse")
	if err := s.Vault().EnableSync(ctx); err != nil {
		t.Fatal(err)
	}
	es, err := s.Add(ctx, login("A", "a", "p1"))
	if err != nil {
		t.Fatal(err)
	}
	e := es[0]
	for _, pw := range []string{"p2", "p3"} {
		it := e.Item.Clone()
		it.Set("password", pw, "hidden")
		if e, err = s.Put(ctx, e.ID, e.Revision, it); err != nil {
			t.Fatal(err)
		}
	}
	out, err := s.Outgoing(ctx, 10)
	if err != nil || len(out) != 1 || len(out[0].Revs) != 3 {
		t.Fatalf("Outgoing = %v, %v", out, err)
	}
	revs := out[0].Revs
	gap := []Incoming{{ID: e.ID, Rev: 1, Box: revs[0].Box}, {ID: e.ID, Rev: 3, Box: revs[2].Box}}
	if _, err := s.ApplyIncoming(ctx, gap, 2); !errors.Is(err, ErrServerMismatch) {
		t.Fatalf("ApplyIncoming with revision 2 missing = %v, want ErrServerMismatch", err)
	}
	// The same three in full are the device's own pushes: nothing changes
	// but what the server is known to hold.
	all := []Incoming{{ID: e.ID, Rev: 1, Box: revs[0].Box}, {ID: e.ID, Rev: 2, Box: revs[1].Box}, {ID: e.ID, Rev: 3, Box: revs[2].Box}}
	rep, err := s.ApplyIncoming(ctx, all, 3)
	if err != nil || rep.Merged+rep.Updated+rep.Added != 0 {
		t.Fatalf("ApplyIncoming of its own pushes = %+v, %v", rep, err)
	}
	if n, _ := s.Vault().Pending(ctx); n != 0 {
		t.Fatalf("pending = %d after its own pushes came back", n)
	}
}

// copyDevice copies a vault directory: another device of the same account.
func copyDevice(t *testing.T, dir string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{DBFile, DBFile + "-wal", DeviceFile} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if os.IsNotExist(err) && f != DeviceFile && f != DBFile {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// The server manifest binds each item's newest box, not only its
// revision number: a server that serves a genuine box from a refused push
// in place of the accepted one for the same revision is caught.
func TestServerManifestBindsTheBox(t *testing.T) {
	dir, _ := newVault(t)
	s := unlock(t, dir, "correct horse")
	if err := s.Vault().EnableSync(ctx); err != nil {
		t.Fatal(err)
	}
	es, err := s.Add(ctx, login("Bank", "me", "old"))
	if err != nil {
		t.Fatal(err)
	}
	id := es[0].ID
	if err := s.MarkPushed(ctx, []Pushed{{ID: id, Rev: 1}}); err != nil {
		t.Fatal(err)
	}
	// Three devices at revision 1; two edit it offline.
	d2 := unlock(t, copyDevice(t, dir), "correct horse")
	d3 := unlock(t, copyDevice(t, dir), "correct horse")
	edit := func(sess *Session, pw string) Outgoing {
		e, err := sess.Resolve(ctx, id.String(), All)
		if err != nil {
			t.Fatal(err)
		}
		it := e.Item.Clone()
		it.Set("password", pw, "hidden")
		if _, err := sess.Put(ctx, id, e.Revision, it); err != nil {
			t.Fatal(err)
		}
		o, err := sess.Outgoing(ctx, 10)
		if err != nil || len(o) != 1 {
			t.Fatalf("Outgoing = %v, %v", o, err)
		}
		return o[0]
	}
	accepted := edit(s, "new")
	refused := edit(d2, "stale")
	// The server accepts the first device's revision 2 and keeps the
	// manifest it signs for head 2.
	manifest, err := s.ServerManifest(ctx, 2, []Outgoing{accepted})
	if err != nil {
		t.Fatal(err)
	}
	// A third device pulls revision 2: the refused box opens too, but the
	// manifest check catches it.
	if _, err := d3.ApplyIncoming(ctx, []Incoming{{ID: id, Rev: 2, Box: refused.Revs[0].Box}}, 2); err != nil {
		t.Fatal(err)
	}
	if err := d3.CheckServerManifest(ctx, manifest, 2); !errors.Is(err, ErrServerMismatch) {
		t.Fatalf("CheckServerManifest after a swapped box = %v, want ErrServerMismatch", err)
	}
	// With the accepted box it verifies.
	d4 := unlock(t, copyDevice(t, dir), "correct horse")
	if _, err := d4.ApplyIncoming(ctx, []Incoming{{ID: id, Rev: 2, Box: accepted.Revs[0].Box}}, 2); err != nil {
		t.Fatal(err)
	}
	if err := d4.CheckServerManifest(ctx, manifest, 2); err != nil {
		t.Fatalf("CheckServerManifest with the accepted box = %v", err)
	}
}
