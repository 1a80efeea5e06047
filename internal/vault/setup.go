package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/keyhold/keyhold/internal/atomicfile"
	"github.com/keyhold/keyhold/internal/keys"
)

// SetupSource is another device's vault, checked against a recovery kit
// but not yet unlocked. Setting up a new device is two steps so that the
// cheap checks (right account, right Secret Key) answer before the user is
// asked for the password.
type SetupSource struct {
	src   *Vault
	id    keys.AccountID
	sk    *keys.SecretKey
	email string
	sync  string
	opts  options
}

// PrepareSetup opens the vault at srcDir (read-only) and checks that the
// kit's account id and Secret Key belong to it.
func PrepareSetup(srcDir string, id keys.AccountID, sk *keys.SecretKey, syncLocation string, o ...Option) (*SetupSource, error) {
	opts := newOptions(o)
	path := srcDir
	if st, err := os.Stat(srcDir); err == nil && st.IsDir() {
		path = filepath.Join(srcDir, DBFile)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrNoVault, srcDir)
	}
	src, err := openPath(filepath.Dir(path), path, true, opts)
	if err != nil {
		return nil, err
	}
	if src.meta.accountID != id {
		src.Close()
		return nil, fmt.Errorf("the recovery kit is for account %s but the vault at %s is account %s: %w",
			id, srcDir, src.meta.accountID, ErrWrongAccount)
	}
	if err := src.meta.envelope.CheckSecretKey(sk); err != nil {
		src.Close()
		return nil, err
	}
	k := new(keys.SecretKey)
	*k = *sk
	return &SetupSource{src: src, id: id, sk: k, sync: syncLocation, opts: opts}, nil
}

// Close releases the source vault and wipes the Secret Key copy.
func (s *SetupSource) Close() {
	s.sk.Wipe()
	s.src.Close()
}

// Complete unlocks the source with the password, proves the account key
// with the key check, copies the vault to dest, verifies every item and
// the manifest in the copy, and only then writes the device file and puts
// the vault in place. On any failure nothing is left in dest.
func (s *SetupSource) Complete(ctx context.Context, dest string, pw []byte) (err error) {
	if Exists(dest) {
		return fmt.Errorf("%w: %s", ErrVaultExists, dest)
	}
	env := s.src.meta.envelope
	ak, d, err := env.Open(pw, s.sk)
	if err != nil {
		return err
	}
	d.Wipe()
	defer ak.Wipe()
	if err := s.src.meta.keyCheck.Verify(ak, s.id, env.KeyVersion); err != nil {
		return err
	}
	createdDir := false
	if _, err := os.Stat(dest); errors.Is(err, os.ErrNotExist) {
		createdDir = true
	}
	if err := os.MkdirAll(dest, 0o700); err != nil {
		return err
	}
	tmp := filepath.Join(dest, ".setup-"+DBFile)
	cleanup := func() {
		for _, suf := range []string{"", "-wal", "-shm"} {
			os.Remove(tmp + suf)
		}
	}
	cleanup()
	defer func() {
		if err != nil {
			cleanup()
			_ = s.opts.sec.forgetDevice(dest)
			os.Remove(filepath.Join(dest, DeviceFile))
			if createdDir {
				os.Remove(dest)
			}
		}
	}()
	// VACUUM INTO writes a consistent snapshot even while another process
	// writes to the source.
	if _, err := s.src.db.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		return s.srcDamaged(err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	cp, err := openPath(dest, tmp, false, s.opts)
	if err != nil {
		return err
	}
	sess, err := cp.UnlockWithKey(ak, env.KeyVersion)
	if err == nil {
		var r *Report
		r, err = sess.Verify(ctx)
		if err == nil && len(r.Problems) > 0 {
			err = fmt.Errorf("%w: %s: %s", ErrDamaged, s.src.path(), r.Problems[0])
		}
		sess.Close()
	}
	cp.Close()
	if err != nil {
		return err
	}
	di := &DeviceInfo{AccountID: s.id, SecretKey: s.sk, Email: s.email, SyncLocation: s.sync, KDFFloor: env.KDF}
	if err := s.opts.sec.writeDevice(filepath.Join(dest, DeviceFile), di); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dest, DBFile)); err != nil {
		return err
	}
	return atomicfile.SyncDir(dest)
}

func (s *SetupSource) srcDamaged(err error) error {
	if e := dbError(s.src.path(), err); e != err {
		return e
	}
	return err
}
