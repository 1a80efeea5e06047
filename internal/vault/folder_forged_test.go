package vault

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyhold/keyhold/internal/folder"
	"github.com/keyhold/keyhold/internal/keys"
)

// forgedKey is an account key nobody holds: files sealed with it are what
// someone who can write to the folder, but has no key, can make.
func forgedKey() *keys.AccountKey {
	k := new(keys.AccountKey)
	for i := range k {
		k[i] = byte(i) + 0x40
	}
	return k
}

func acctOf(t *testing.T, d *simDevice) keys.AccountID {
	return d.sess.v.meta.accountID
}

// newestKeyFile returns the newest key file in d's copy of the folder.
func newestKeyFile(t *testing.T, d *simDevice) *folder.KeyFile {
	sc, err := folder.ScanFolder(d.folder)
	if err != nil {
		t.Fatal(err)
	}
	kfs, err := keyFilesOf(sc, acctOf(t, d))
	if err != nil || len(kfs) == 0 {
		t.Fatalf("no key file: %v", err)
	}
	return kfs[0].kf
}

// Files forged by someone who can write to the folder but holds no key —
// a key file with the highest clock and key version, a log at the end of
// the device's own number range, a snapshot head claiming to cover every
// log — change nothing: sync goes on, the password can still be changed,
// no log is compacted because of them, and a new device sets up from the
// genuine key file.
func TestFolderForgedFilesIgnored(t *testing.T) {
	w := newSimWorld(t, 21, 2)
	A, B := w.devs[0], w.devs[1]
	acct := acctOf(t, A)
	genuine := newestKeyFile(t, A)
	stranger, _ := folder.ParseDeviceID(strings.Repeat("ee", 16))
	fk := forgedKey()
	for _, kv := range []uint32{genuine.KeyVersion, genuine.KeyVersion + 3} {
		env, kc := *genuine.Envelope, *genuine.KeyCheck
		env.KeyVersion, kc.KeyVersion = kv, kv
		h := folder.Header{AccountID: acct, KeyVersion: kv, Device: stranger, Seq: uint64(kv), Lamport: math.MaxUint64}
		b, err := folder.SealKeyFile(fk, h, &env, &kc, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := folder.Write(folder.Root(A.folder), stranger, folder.FileName(folder.KindKeys, uint64(kv)), b); err != nil {
			t.Fatal(err)
		}
	}
	me, _ := LoadFolderConfig(A.dir)
	lb, err := folder.SealLog(fk, folder.Header{AccountID: acct, KeyVersion: genuine.KeyVersion, Device: me.Device(), Seq: math.MaxUint64, Lamport: math.MaxUint64},
		[]folder.Entry{{ID: [16]byte{1}, New: login("forged", "x", "y")}})
	if err != nil {
		t.Fatal(err)
	}
	folder.Write(folder.Root(A.folder), me.Device(), folder.FileName(folder.KindLog, math.MaxUint64), lb)
	sb, err := folder.SealSnapshot(fk, folder.Header{AccountID: acct, KeyVersion: genuine.KeyVersion, Device: stranger, Seq: 0x7fffffffffffffff, Lamport: 1},
		folder.Frontier{me.Device(): math.MaxUint64 - 1, B.sess.folderDev(t): math.MaxUint64 - 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	folder.Write(folder.Root(A.folder), stranger, folder.FileName(folder.KindSnapshot, 0x7fffffffffffffff), sb)

	setPw(t, A.sess, "Shared 0", "after-forgery")
	rep := w.sync(A)
	if rep.Written != 1 {
		t.Fatalf("A's edit was not written: %+v", *rep)
	}
	if rep.Compacted != 0 {
		t.Errorf("a forged snapshot head made A delete %d logs", rep.Compacted)
	}
	// The password change writes a key file with a clock above every
	// genuine one, not past the end of the range.
	pub := A.sess.FolderPasswordPublisher(ctx)
	if err := A.sess.ChangePassword(ctx, []byte("new pw"), testKDF, pub); err != nil {
		t.Fatalf("passwd with a forged key file in the folder: %v", err)
	}
	// B gets everything, forgeries included, and follows.
	w.copyFiles(A.folder, B.folder, false)
	rep = w.sync(B)
	if rep.Waiting || !rep.EnvelopeUpdated {
		t.Fatalf("B: %+v", *rep)
	}
	if _, _, v := pwOf(t, B.sess, "Shared 0"); v != "after-forgery" {
		t.Errorf("B has %q", v)
	}
	// A new device sets up from the genuine newest key file.
	c := &simDevice{dir: filepath.Join(t.TempDir(), "dev-new"), folder: B.folder}
	src, err := PrepareFolderSetup(c.folder, acct, A.sess.secretKey(t), testOpts()...)
	if err != nil {
		t.Fatalf("setup with a forged newest key file: %v", err)
	}
	defer src.Close()
	if _, err := src.Complete(ctx, c.dir, []byte("new pw")); err != nil {
		t.Fatalf("setup with a forged newest key file: %v", err)
	}
}

func (s *Session) folderDev(t *testing.T) folder.DeviceID {
	cfg, err := LoadFolderConfig(s.v.Dir)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Device()
}

func (s *Session) secretKey(t *testing.T) *keys.SecretKey {
	di, err := s.v.Device()
	if err != nil {
		t.Fatal(err)
	}
	return di.SecretKey
}

// A rotation must not undo a password change made on another device that
// this device has not applied yet.
func TestFolderRotateRefusesUnappliedPasswordChange(t *testing.T) {
	w := newSimWorld(t, 22, 2)
	A, B := w.devs[0], w.devs[1]
	if err := A.sess.ChangePassword(ctx, []byte("changed on A"), testKDF, A.sess.FolderPasswordPublisher(ctx)); err != nil {
		t.Fatal(err)
	}
	w.copyFiles(A.folder, B.folder, false)
	_, err := B.sess.FolderRotate(ctx, []byte(w.pw))
	if err == nil || !strings.Contains(err.Error(), "password was changed on another device") {
		t.Fatalf("rotate with a pending password change: %v", err)
	}
	if B.sess.kv != 1 {
		t.Fatalf("B rotated anyway")
	}
}

// Two devices rotate the account key at the same time: the newer key file
// wins on both, the losing device moves to the winning key, and its edits
// made under the losing key reach the other device.
func TestFolderRotationRace(t *testing.T) {
	w := newSimWorld(t, 23, 2)
	A, B := w.devs[0], w.devs[1]
	if _, err := A.sess.FolderRotate(ctx, []byte(w.pw)); err != nil {
		t.Fatal(err)
	}
	if _, err := B.sess.FolderRotate(ctx, []byte(w.pw)); err != nil {
		t.Fatal(err)
	}
	setPw(t, A.sess, "Shared 1", "edit-on-A-after-rotation")
	setPw(t, B.sess, "Shared 2", "edit-on-B-after-rotation")
	w.sync(A)
	w.sync(B)
	lost := 0
	for range 4 {
		w.copyFiles(A.folder, B.folder, false)
		w.copyFiles(B.folder, A.folder, false)
		for _, d := range []*simDevice{A, B} {
			rep, err := d.sess.FolderSync(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rep.RotationLost {
				lost++
			}
		}
	}
	if lost != 1 {
		t.Errorf("%d devices reported losing the rotation race, want 1", lost)
	}
	for _, d := range []*simDevice{A, B} {
		if _, _, v := pwOf(t, d.sess, "Shared 1"); v != "edit-on-A-after-rotation" {
			t.Errorf("%s: Shared 1 is %q", d.dir, v)
		}
		if _, _, v := pwOf(t, d.sess, "Shared 2"); v != "edit-on-B-after-rotation" {
			t.Errorf("%s: Shared 2 is %q", d.dir, v)
		}
	}
	// Both hold the same key: each opens the other's newest key file.
	ka, kb := newestKeyFile(t, A), newestKeyFile(t, B)
	if ka.Device != kb.Device || ka.Seq != kb.Seq {
		t.Errorf("the devices disagree on the newest key file")
	}
	if _, err := ka.Open(B.sess.ak); err != nil {
		t.Errorf("B does not hold the winning key: %v", err)
	}
	if _, err := kb.Open(A.sess.ak); err != nil {
		t.Errorf("A does not hold the winning key: %v", err)
	}
}

// forget-device refuses while some remaining device's newest snapshot
// lacks the forgotten device's changes, and goes ahead once every one
// covers them.
func TestFolderForgetDeviceNeedsEveryDevice(t *testing.T) {
	w := newSimWorld(t, 24, 3)
	A, B, C := w.devs[0], w.devs[1], w.devs[2]
	for _, d := range w.devs {
		for _, o := range w.devs {
			if d != o {
				w.copyFiles(d.folder, o.folder, false)
			}
		}
	}
	for _, d := range w.devs {
		w.sync(d)
	}
	setPw(t, C.sess, "Shared 0", "from-C")
	w.sync(C)
	// A gets C's change and snapshots it; B has not seen it yet.
	w.copyFiles(C.folder, A.folder, false)
	for _, d := range w.devs {
		d.sess.SetFolderSnapshotEvery(1)
	}
	w.sync(A)
	cid := C.sess.folderDev(t).String()
	err := A.sess.ForgetFolderDevice(ctx, cid, false)
	if err == nil || !strings.Contains(err.Error(), B.sess.folderDev(t).String()) {
		t.Fatalf("forget-device with B behind: %v", err)
	}
	w.copyFiles(C.folder, B.folder, false)
	w.sync(B)
	w.copyFiles(B.folder, A.folder, false)
	if err := A.sess.ForgetFolderDevice(ctx, cid, false); err != nil {
		t.Fatalf("forget-device once every device covers C: %v", err)
	}
	if _, _, v := pwOf(t, A.sess, "Shared 0"); v != "from-C" {
		t.Errorf("A has %q", v)
	}
}
