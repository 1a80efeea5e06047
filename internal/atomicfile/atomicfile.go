// Package atomicfile writes files so that no reader, crash or concurrent
// writer ever sees a partial file under its final name.
//
// Replace and CreateNew write the data to a temporary file with a unique name
// in the destination's directory (so two processes writing the same file
// at once never share a temporary), sync it, move it into place and sync
// the directory. Temporary names start with TempPrefix, which is what a
// folder-sync reader skips and what a clean-up may remove.
package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// TempPrefix starts the name of every temporary file this package writes.
const TempPrefix = ".tmp-"

// ExistsError is returned by CreateNew when the destination exists. It
// matches fs.ErrExist with errors.Is.
type ExistsError struct{ Path string }

func (e *ExistsError) Error() string { return e.Path + " exists already; nothing was overwritten" }

// Is makes errors.Is(err, fs.ErrExist) hold.
func (e *ExistsError) Is(target error) bool { return target == fs.ErrExist }

// Replace writes data to path with mode perm, replacing any file there.
// A failure leaves the old file whole; the new file never takes the old
// one's (perhaps wider) mode.
func Replace(path string, data []byte, perm fs.FileMode) error {
	tmp, err := writeTemp(path, data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return renamed(err, path)
	}
	return SyncDir(filepath.Dir(path))
}

// CreateNew writes data to path with mode perm; path must not exist. It
// fails with an *ExistsError rather than replace a file, even one that
// appears while the data is written: the complete temporary file is
// hard-linked to the final name, which fails if that name is taken.
// Where hard links are not supported, it checks for the name and
// renames, which narrows that guarantee to the moment of the check.
func CreateNew(path string, data []byte, perm fs.FileMode) error {
	if _, err := os.Lstat(path); err == nil {
		return &ExistsError{Path: path}
	}
	tmp, err := writeTemp(path, data, perm)
	if err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil {
		defer os.Remove(tmp)
		if errors.Is(err, fs.ErrExist) {
			return &ExistsError{Path: path}
		}
		if _, serr := os.Lstat(path); serr == nil {
			return &ExistsError{Path: path}
		}
		if err := os.Rename(tmp, path); err != nil {
			return renamed(err, path)
		}
		return SyncDir(filepath.Dir(path))
	}
	// The temporary name is a second link to the same data. The file is
	// in place, so a failure to remove it is not a failure to write: the
	// name starts with TempPrefix, which readers skip and clean-ups
	// (folder.RemoveStaleTemps) remove.
	_ = os.Remove(tmp)
	return SyncDir(filepath.Dir(path))
}

// WriteNew writes data to path with mode perm; path must not exist. It
// is for a file the user names (an export, a printed kit): the data goes
// straight to that name, created exclusively, and a failure removes it.
// If the process is killed midway, what is left is a partial file under
// the name the user chose, where they will see it, never a hidden
// complete copy beside it; readers of such files are people, who are
// told of the failure.
func WriteNew(path string, data []byte, perm fs.FileMode) error {
	if err := writeExclusive(path, path, data, perm); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return &ExistsError{Path: path}
		}
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// renamed gives an error of a temporary file the destination's name, so
// the user reads of the file they asked for.
func renamed(err error, path string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: pe.Op, Path: path, Err: pe.Err}
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return &fs.PathError{Op: le.Op, Path: path, Err: le.Err}
	}
	return err
}

// writeTemp writes data to a new, uniquely named, synced file beside
// path and returns its name.
func writeTemp(path string, data []byte, perm fs.FileMode) (string, error) {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", err
	}
	tmp := filepath.Join(filepath.Dir(path), TempPrefix+filepath.Base(path)+"-"+hex.EncodeToString(rnd[:]))
	if err := writeExclusive(tmp, path, data, perm); err != nil {
		return "", err
	}
	return tmp, nil
}

// writeExclusive creates name, which must not exist, writes data to it
// and syncs it; on any failure it removes name. Errors speak of path,
// the file the caller asked for.
func writeExclusive(name, path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return renamed(err, path)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(name)
		}
	}()
	// OpenFile's mode is filtered by the umask; set it exactly.
	if err := f.Chmod(perm); err != nil {
		return renamed(err, path)
	}
	if _, err := f.Write(data); err != nil {
		return renamed(err, path)
	}
	if err := f.Sync(); err != nil {
		return renamed(err, path)
	}
	if err := f.Close(); err != nil {
		return renamed(err, path)
	}
	ok = true
	return nil
}

// SyncDir syncs a directory so that a rename or link in it survives a
// crash. Some systems cannot sync a directory; that is not an error.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	_ = d.Sync()
	return nil
}
