package vault

import (
	"encoding/binary"
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
