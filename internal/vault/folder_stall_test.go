package vault

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyhold/keyhold/internal/folder"
)

// A header-only forgery of key version 99 in A's own directory, at A's
// next log number, must not stall A's line: A removes it and every
// device gets every change.
func TestFolderForgedFutureKeyOwnLogRemoved(t *testing.T) {
	w := newSimWorld(t, 4, 2)
	A, B := w.devs[0], w.devs[1]
	w.sync(A)
	w.copyFiles(A.folder, B.folder, false)
	w.sync(B)
	w.copyFiles(B.folder, A.folder, false)
	setPw(t, A.sess, "Shared 0", "a1")
	w.sync(A)
	logSeq, _ := getU64(ctx, A.sess.v.db, metaFolderLogSeq)
	acct := acctOf(t, A)
	me := A.sess.folderDev(t)
	b := binary.BigEndian.AppendUint32(append([]byte("KHFL\x01"), acct[:]...), 99)
	b = append(b, me[:]...)
	b = binary.BigEndian.AppendUint64(b, logSeq+1)
	b = binary.BigEndian.AppendUint64(b, 1)
	b = binary.BigEndian.AppendUint64(b, 0) // prev
	b = append(b, make([]byte, 64)...)
	for _, d := range w.devs {
		p := filepath.Join(d.folder, folder.Dir, folder.DeviceDir(me), folder.FileName(folder.KindLog, logSeq+1))
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	setPw(t, B.sess, "Shared 1", "b1")
	setPw(t, A.sess, "Shared 2", "a2")
	var ra, rb *FolderReport
	for range 4 {
		ra = w.sync(A)
		w.copyFiles(A.folder, B.folder, false)
		rb = w.sync(B)
		w.copyFiles(B.folder, A.folder, false)
	}
	if ra.Waiting || rb.Waiting {
		t.Fatalf("still waiting after 4 rounds: A %v, B %v", ra.Waiting, rb.Waiting)
	}
	if _, _, v := pwOf(t, A.sess, "Shared 1"); v != "b1" {
		t.Errorf("A has Shared 1 = %q, want b1", v)
	}
	if _, _, v := pwOf(t, B.sess, "Shared 2"); v != "a2" {
		t.Errorf("B has Shared 2 = %q, want a2", v)
	}
}

// A fake device directory holding only junk makes the devices wait (its
// log name raises the high-water mark); forget-device --force removes
// it, and the devices go on.
func TestFolderFakeDeviceForgotten(t *testing.T) {
	w := newSimWorld(t, 5, 2)
	A, B := w.devs[0], w.devs[1]
	w.sync(A)
	w.copyFiles(A.folder, B.folder, false)
	w.sync(B)
	w.copyFiles(B.folder, A.folder, false)
	var fake folder.DeviceID
	fake[0] = 0x42
	for _, d := range w.devs {
		dir := filepath.Join(d.folder, folder.Dir, folder.DeviceDir(fake))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, folder.FileName(folder.KindLog, 1)), []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	setPw(t, A.sess, "Shared 0", "a1")
	if err := A.sess.ForgetFolderDevice(ctx, fake.String(), false); err == nil {
		t.Fatal("forget-device without --force went ahead for a device no snapshot covers")
	}
	if err := A.sess.ForgetFolderDevice(ctx, fake.String(), true); err != nil {
		t.Fatalf("forget-device --force of a junk directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(A.folder, folder.Dir, folder.DeviceDir(fake))); !os.IsNotExist(err) {
		t.Fatalf("the junk directory is still there: %v", err)
	}
	os.RemoveAll(filepath.Join(B.folder, folder.Dir, folder.DeviceDir(fake))) // the sync client carries the removal
	ra := w.sync(A)
	w.copyFiles(A.folder, B.folder, false)
	rb := w.sync(B)
	if ra.Waiting || rb.Waiting {
		t.Fatalf("still waiting once the junk directory is gone: A %v, B %v", ra.Waiting, rb.Waiting)
	}
	if _, _, v := pwOf(t, B.sess, "Shared 0"); v != "a1" {
		t.Errorf("B has Shared 0 = %q, want a1", v)
	}
}

// A device whose lost log is covered by its own newest snapshot still
// writes that log's changes again, declaring it void from where its line
// of logs breaks, not from that snapshot's frontier. Here A compacts
// while its copy of the folder does not show B yet, so A's early logs are
// in A's snapshot only, which does not cover B; B's snapshot covers B's
// lost log but not A's compacted ones. Each snapshot then lacks logs the
// other one needs, and unless B's line is whole from the start, no
// device can ever replay the folder again.
func TestFolderLostLogCoveredByOwnSnapshotNoStall(t *testing.T) {
	w := newSimWorld(t, 8, 2)
	A, B := w.devs[0], w.devs[1]
	for _, d := range w.devs {
		d.sess.SetFolderSnapshotEvery(1)
	}
	for _, v := range []string{"b1", "b2", "b3"} {
		setPw(t, B.sess, "Shared 0", v)
		if rep := w.sync(B); rep.Waiting || !rep.Snapshot {
			t.Fatalf("B: %+v", *rep)
		}
	}
	for i, v := range []string{"a1", "a2"} {
		setPw(t, A.sess, fmt.Sprintf("Shared %d", i+1), v)
		if rep := w.sync(A); rep.Waiting || !rep.Snapshot {
			t.Fatalf("A: %+v", *rep)
		}
	}
	if logs := A.folderFiles(t, A, folder.KindLog); len(logs) != 1 {
		t.Fatalf("A did not compact its logs while it saw no other device: %v", logs)
	}
	w.rollback(B) // B's third log; B's newest snapshot covers it
	w.copyFiles(A.folder, B.folder, false)
	w.converge()
	for _, d := range w.devs {
		for i, want := range []string{"b3", "a1", "a2"} {
			if _, _, v := pwOf(t, d.sess, fmt.Sprintf("Shared %d", i)); v != want {
				t.Errorf("%s: Shared %d has %q, want %q", d.dir, i, v, want)
			}
		}
	}
}

// folderFiles lists the numbers of d's own files of kind k in o's copy of
// the folder.
func (d *simDevice) folderFiles(t *testing.T, o *simDevice, k folder.Kind) []uint64 {
	t.Helper()
	sc, err := folder.ScanFolder(o.folder)
	if err != nil {
		t.Fatal(err)
	}
	return sc.Device(d.sess.folderDev(t)).Sorted(k)
}
