package folder

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/keyhold/keyhold/internal/atomicfile"
	"github.com/keyhold/keyhold/internal/keys"
)

// Files are one device's files in the folder, by number.
type Files struct {
	Logs  map[uint64]string
	Snaps map[uint64]string
	Keys  map[uint64]string
}

func (f *Files) of(k Kind) map[uint64]string {
	switch k {
	case KindLog:
		return f.Logs
	case KindSnapshot:
		return f.Snaps
	}
	return f.Keys
}

// Max returns the highest number of the device's files of kind k, 0 if
// none.
func (f *Files) Max(k Kind) uint64 {
	var m uint64
	for s := range f.of(k) {
		m = max(m, s)
	}
	return m
}

// Sorted returns the numbers of the device's files of kind k, ascending.
func (f *Files) Sorted(k Kind) []uint64 {
	var out []uint64
	for s := range f.of(k) {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Scan is what a listing of the folder found.
type Scan struct {
	// Root is the folder's keyhold directory.
	Root    string
	Devices map[DeviceID]*Files
	// Ignored counts names that are not folder files: temporary files,
	// sync clients' conflicted copies and duplicates.
	Ignored int
	// prevs are the logs' Prev, per device and number, once a replay has
	// read their heads.
	prevs map[DeviceID]map[uint64]uint64
}

// Root returns the keyhold directory inside a shared folder.
func Root(path string) string { return filepath.Join(path, Dir) }

// ScanFolder lists the folder at path (the shared folder, not its keyhold
// directory). A folder without a keyhold directory is empty.
func ScanFolder(path string) (*Scan, error) {
	root := Root(path)
	sc := &Scan{Root: root, Devices: map[DeviceID]*Files{}}
	des, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("the sync folder %s: %w", path, err)
		}
		return sc, nil
	}
	if err != nil {
		return nil, err
	}
	for _, de := range des {
		dev, ok := parseDeviceDir(de.Name())
		if !ok || !de.IsDir() {
			sc.Ignored++
			continue
		}
		dir := filepath.Join(root, de.Name())
		fs, err := os.ReadDir(dir)
		if err != nil {
			continue // removed meanwhile, or unreadable: next round
		}
		f := &Files{Logs: map[uint64]string{}, Snaps: map[uint64]string{}, Keys: map[uint64]string{}}
		for _, fe := range fs {
			k, seq, ok := ParseFileName(fe.Name())
			if !ok || !fe.Type().IsRegular() {
				sc.Ignored++
				continue
			}
			f.of(k)[seq] = filepath.Join(dir, fe.Name())
		}
		sc.Devices[dev] = f
	}
	return sc, nil
}

// Device returns a device's files (empty if it has none).
func (sc *Scan) Device(d DeviceID) *Files {
	if f := sc.Devices[d]; f != nil {
		return f
	}
	return &Files{Logs: map[uint64]string{}, Snaps: map[uint64]string{}, Keys: map[uint64]string{}}
}

// ReadLimited reads a file of at most limit bytes (for key files and other
// small files read before they are authenticated).
func ReadLimited(path string, limit int64) ([]byte, error) { return readLimited(path, limit) }

// readLimited reads a file of at most limit bytes; a larger file is
// refused before anything is read.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > limit {
		return nil, fmt.Errorf("%w: %s is too large", ErrMalformed, filepath.Base(path))
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %s is too large", ErrMalformed, filepath.Base(path))
	}
	return b, nil
}

// ReadSnapshotHead reads only a snapshot file's head (header, frontier
// and head MAC): a bounded read of exactly the bytes the frontier's
// length says, never the whole file. The head is not yet verified
// (VerifySnapshotHead).
func ReadSnapshotHead(path string) (*SnapshotHead, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, headerSize+4)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("%w: too short", ErrMalformed)
	}
	n := binary.BigEndian.Uint32(b[headerSize:])
	if n > maxFrontier {
		return nil, fmt.Errorf("%w: bad frontier", ErrMalformed)
	}
	rest := make([]byte, int(n)*24+headMACSize)
	if _, err := io.ReadFull(f, rest); err != nil {
		return nil, fmt.Errorf("%w: too short", ErrMalformed)
	}
	sh, _, err := ParseSnapshotHead(append(b, rest...))
	return sh, err
}

// ReadLogHead reads only a log file's head (a bounded read). It is not
// yet verified (VerifyLogHead).
func ReadLogHead(path string) (*LogHead, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, logHeadSize)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("%w: too short", ErrMalformed)
	}
	return ParseLogHead(b)
}

// VerifiedHeads returns, per device, the heads of its snapshots that
// verify under ring (VerifySnapshotHead), newest first. Heads that do not
// verify — damaged, half-copied, forged, or of a key version ring lacks —
// are left out: nothing a reader decides rests on them.
func (sc *Scan) VerifiedHeads(ring Ring, acct keys.AccountID) map[DeviceID][]*SnapshotHead {
	out := map[DeviceID][]*SnapshotHead{}
	for dev, f := range sc.Devices {
		seqs := f.Sorted(KindSnapshot)
		for i := len(seqs) - 1; i >= 0; i-- {
			sh, err := ReadSnapshotHead(f.Snaps[seqs[i]])
			if err != nil || VerifySnapshotHead(sh, ring, acct, dev, seqs[i]) != nil {
				continue
			}
			out[dev] = append(out[dev], sh)
		}
	}
	return out
}

// Write stores data as device dev's file name, never over an existing
// file: it is written under a temporary name in the same directory,
// synced, and renamed into place, so a sync client never copies a file
// with its final name before it is complete (and a reader that still
// sees a partial copy fails to authenticate it and retries later).
func Write(root string, dev DeviceID, name string, data []byte) error {
	dir := filepath.Join(root, DeviceDir(dev))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return atomicfile.CreateNew(filepath.Join(dir, name), data, 0o600)
}

// RemoveStaleTemps removes this device's own temporary files older than
// an hour (left by a crash while writing). Other devices' directories are
// never touched.
func RemoveStaleTemps(root string, dev DeviceID, olderThan func(os.FileInfo) bool) {
	dir := filepath.Join(root, DeviceDir(dev))
	des, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, de := range des {
		if !strings.HasPrefix(de.Name(), TempPrefix) {
			continue
		}
		if fi, err := de.Info(); err == nil && olderThan(fi) {
			os.Remove(filepath.Join(dir, de.Name()))
		}
	}
}
