package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/keyhold/keyhold/internal/folder"
	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
)

// followFolderRotation moves this device to the key version of kf, a key
// file written by the device that rotated the account key: its transition
// opens with the current account key and gives the new Secret Key and
// account key, checked against kf's envelope and key check (and kf's own
// authentication) before anything changes. Every revision is re-sealed
// under the new key in one transaction; the new Secret Key replaces the
// old one in the device file as a local rotation does. The folder table is
// kept: contents do not change with the key.
func (s *Session) followFolderRotation(ctx context.Context, kf *folder.KeyFile) error {
	id := s.v.meta.accountID
	nsk, nak, err := format.OpenTransition(kf.Transition, s.ak, id, kf.KeyVersion)
	if err != nil {
		return err
	}
	defer nak.Wipe()
	defer nsk.Wipe()
	if err := kf.Envelope.CheckSecretKey(nsk); err != nil {
		return fmt.Errorf("the folder's key rotation does not match its envelope: %w", err)
	}
	ring, err := kf.Open(nak)
	if err != nil {
		return err
	}
	ring.Wipe()
	di, err := s.v.Device()
	if err != nil {
		return err
	}
	defer di.SecretKey.Wipe()
	env, kc := kf.Envelope, kf.KeyCheck
	if env.KDF.Weaker(di.KDFFloor) {
		return fmt.Errorf("%w (the folder's envelope: %s, this device last used %s)", keys.ErrKDFDowngrade, env.KDF, di.KDFFloor)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := new(keys.AccountKey)
	keys.LockMemory(k[:])
	*k = *nak
	nmk := format.ManifestKey(k)
	keys.LockMemory(nmk[:])
	ns := &Session{v: s.v, ak: k, kv: kf.KeyVersion, mk: nmk}
	fail := func(err error) error {
		ns.ak.Wipe()
		ns.mk.Wipe()
		return err
	}
	tx, err := s.v.db.BeginTx(ctx, nil)
	if err != nil {
		return fail(s.damaged(err))
	}
	defer tx.Rollback()
	old, err := s.readManifest(ctx, tx)
	if err != nil {
		return fail(err)
	}
	m := &format.Manifest{KeyVersion: kf.KeyVersion, Seq: old.Seq + 1}
	if _, _, err := s.reseal(ctx, tx, ns, m); err != nil {
		return fail(err)
	}
	m.Sign(nmk, id)
	for _, q := range []string{`DELETE FROM meta WHERE k LIKE 'index/%'`, `DELETE FROM meta WHERE k = 'envelope/pending'`} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fail(s.damaged(err))
		}
	}
	for k, val := range map[string][]byte{"envelope": env.Marshal(), "keycheck": kc.Marshal(), "manifest": m.Marshal(), metaFolderTransition: kf.Transition} {
		if err := putMeta(ctx, tx, k, val); err != nil {
			return fail(s.damaged(err))
		}
	}
	if committed, err := s.commitRotated(tx, di, nsk, env.KDF); err != nil {
		if !committed {
			return fail(err)
		}
		return err
	}
	s.v.meta.envelope, s.v.meta.keyCheck = env, kc
	s.ak.Wipe()
	s.mk.Wipe()
	s.ak, s.kv, s.mk = ns.ak, ns.kv, ns.mk
	s.loaded, s.entries = false, nil
	return nil
}

// currentRing returns the previous keys the folder's key files of the
// current key version carry, with the current key.
func (s *Session) currentRing(sc *folder.Scan) (folder.Ring, error) {
	kfs, err := s.folderKeyFiles(sc)
	if err != nil {
		return nil, err
	}
	ring := folder.Ring{}
	for _, k := range kfs {
		if k.kf.KeyVersion != s.kv {
			continue
		}
		if r, err := k.kf.Open(s.ak); err == nil {
			for v, key := range r {
				if ring[v] == nil {
					ring[v] = key
				} else {
					key.Wipe()
				}
			}
		}
	}
	if ring[s.kv] == nil {
		k := new(keys.AccountKey)
		*k = *s.ak
		ring[s.kv] = k
	}
	return ring, nil
}

// FolderPasswordPublisher returns, for a vault that syncs with a folder,
// the publish function of ChangePassword: it writes the new envelope to
// the folder as this device's newest key file before the vault changes,
// so other devices adopt it (as pending, until the new password opens
// it). It returns nil if the vault does not sync with a folder.
func (s *Session) FolderPasswordPublisher(ctx context.Context) func(env []byte, login *keys.Key32) error {
	cfg, err := LoadFolderConfig(s.v.Dir)
	if err != nil {
		return nil
	}
	return func(eb []byte, _ *keys.Key32) error {
		unlock, err := LockSync(s.v.Dir, 2*time.Minute)
		if err != nil {
			return err
		}
		defer unlock()
		env, err := format.ParseEnvelope(eb)
		if err != nil {
			return err
		}
		sc, err := folder.ScanFolder(cfg.Path)
		if err != nil {
			return err
		}
		ring, err := s.currentRing(sc)
		if err != nil {
			return err
		}
		defer ring.Wipe()
		tr := s.metaBytes(ctx, s.v.db, metaFolderTransition)
		if prev := ring[s.kv-1]; tr != nil && (prev == nil || func() bool { _, _, err := format.OpenTransition(tr, prev, s.v.meta.accountID, s.kv); return err != nil }()) {
			tr = nil
		}
		if err := s.writeKeyFileWith(ctx, cfg, sc, s.ak, s.kv, env, s.v.meta.keyCheck, tr, ring); err != nil {
			return fmt.Errorf("writing the new password's key file to the folder: %w; nothing was changed", err)
		}
		return nil
	}
}

// FolderRotate rotates the account key of a vault that syncs with a
// folder: it syncs first (and refuses unless the folder's changes are
// all in and this device's all out), then rotates locally with RotateKey,
// writing before the local commit a key file for the new key version that
// holds the transition (the new Secret Key and account key sealed under
// the previous account key, SPEC §14.2) so that the other devices follow,
// and the previous account keys sealed under the new one, so that a
// device set up from the new kit reads files written before. It then
// writes a snapshot under the new key.
func (s *Session) FolderRotate(ctx context.Context, pw []byte) (*Created, error) {
	unlock, err := LockSync(s.v.Dir, 2*time.Minute)
	if err != nil {
		return nil, err
	}
	defer unlock()
	cfg, err := LoadFolderConfig(s.v.Dir)
	if err != nil {
		return nil, err
	}
	rep, err := s.folderSync(ctx, false)
	if err != nil {
		return nil, err
	}
	if rep.Waiting {
		return nil, fmt.Errorf("%w; the key was not rotated", ErrFolderWaiting)
	}
	if n, err := s.v.FolderPending(ctx); err != nil {
		return nil, err
	} else if n > 0 {
		return nil, errors.New("items changed while syncing with the folder; run keyhold rotate-key again")
	}
	sc, err := folder.ScanFolder(cfg.Path)
	if err != nil {
		return nil, err
	}
	ring, err := s.currentRing(sc)
	if err != nil {
		return nil, err
	}
	defer ring.Wipe()
	// The rotation's transaction holds the vault's one connection while
	// publish runs: everything read from the vault is read before.
	lamport, seq, err := s.nextKeyFile(ctx, cfg, sc)
	if err != nil {
		return nil, err
	}
	created, err := s.rotateKey(ctx, pw, func(rot *Rotation) error {
		env, err := format.ParseEnvelope(rot.Envelope)
		if err != nil {
			return err
		}
		kc, err := format.ParseKeyCheck(rot.KeyCheck)
		if err != nil {
			return err
		}
		if err := s.putKeyFile(cfg, sc, lamport, seq, rot.AccountKey, rot.KeyVersion, env, kc, rot.Transition, ring); err != nil {
			return fmt.Errorf("writing the rotated key file to the folder: %w; nothing was changed", err)
		}
		return nil
	}, false)
	if err != nil {
		return nil, err
	}
	if err := s.keyFileWritten(ctx, cfg, sc, lamport, seq); err != nil {
		return created, err
	}
	if _, err := s.folderSync(ctx, true); err != nil {
		return created, fmt.Errorf("the key was rotated, but writing the snapshot under the new key failed (keyhold sync retries): %w", err)
	}
	return created, nil
}

// ForgetFolderDevice removes a device that will never sync again (lost,
// wiped) from the folder: its directory, which otherwise keeps every
// device from compacting its logs (a device's logs stay until every
// device's newest snapshot covers them). It refuses this device itself,
// and a device whose logs this device's newest snapshot does not cover
// yet: its last changes would be lost. The sync client carries the
// removal to the other devices.
func (s *Session) ForgetFolderDevice(ctx context.Context, id string) error {
	unlock, err := LockSync(s.v.Dir, 2*time.Minute)
	if err != nil {
		return err
	}
	defer unlock()
	cfg, err := LoadFolderConfig(s.v.Dir)
	if err != nil {
		return err
	}
	dev, err := folder.ParseDeviceID(id)
	if err != nil {
		return err
	}
	if dev == cfg.Device() {
		return errors.New("that is this device; to stop syncing it, remove " + filepath.Join(s.v.Dir, FolderConfigFile))
	}
	if _, err := s.folderSync(ctx, true); err != nil {
		return err
	}
	sc, err := folder.ScanFolder(cfg.Path)
	if err != nil {
		return err
	}
	files, ok := sc.Devices[dev]
	if !ok {
		return fmt.Errorf("no device %s in the folder %s (the device ids are the d-… directory names under it)", id, sc.Root)
	}
	var covered uint64
	if seqs := sc.Device(cfg.Device()).Sorted(folder.KindSnapshot); len(seqs) > 0 {
		if sh, err := readHead(sc.Device(cfg.Device()).Snaps[seqs[len(seqs)-1]]); err == nil {
			covered = sh.Frontier[dev]
		}
	}
	if m := files.Max(folder.KindLog); m > covered {
		return fmt.Errorf("device %s has changes this device has not merged yet (log %d, merged up to %d); run keyhold sync once its files have arrived", id, m, covered)
	}
	return os.RemoveAll(filepath.Join(sc.Root, folder.DeviceDir(dev)))
}
