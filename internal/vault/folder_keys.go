package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/keyhold/keyhold/internal/folder"
	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/ledger"
	"github.com/keyhold/keyhold/internal/ledger/sqlitestore"
)

// followFolderRotation moves this device to the key version of kf, a key
// file written by the device that rotated the account key: its transition
// opens with the current account key and gives the new Secret Key and
// account key, checked against kf's envelope and key check (and kf's own
// authentication) before anything changes. Every revision is re-sealed
// under the new key in one transaction; the new Secret Key replaces the
// old one in the device file as a local rotation does. The folder table is
// kept: contents do not change with the key.
//
// from is the account key the transition is sealed under: the current one
// when following a newer key version, the previous one when this device
// lost a race between two rotations to the same key version (lostRotation).
func (s *Session) followFolderRotation(ctx context.Context, kf *folder.KeyFile, from *keys.AccountKey) error {
	id := s.v.meta.accountID
	nsk, nak, err := format.OpenTransition(kf.Transition, from, id, kf.KeyVersion)
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
	l := ledger.Fresh(sqlitestore.Wrap(tx), ns.keys(), kf.KeyVersion, old.Seq+1)
	if _, _, err := s.reseal(ctx, l, ns, old); err != nil {
		return fail(err)
	}
	if err := l.Commit(ctx); err != nil {
		return fail(s.damaged(err))
	}
	for _, q := range []string{`DELETE FROM meta WHERE k LIKE 'index/%'`, `DELETE FROM meta WHERE k = 'envelope/pending'`} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fail(s.damaged(err))
		}
	}
	for k, val := range map[string][]byte{"envelope": env.Marshal(), "keycheck": kc.Marshal(), metaFolderTransition: kf.Transition} {
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
	s.switchKey(ns, env, kc)
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
	// A password changed on another device that this one has not applied
	// yet (its key file of this key version is newer than this device's
	// envelope): rotating now would publish the old password's envelope
	// under the new key and undo that change everywhere.
	if env := newestEnvelope(s, sc, ring); env != nil && !bytes.Equal(env.Marshal(), s.v.meta.envelope.Marshal()) {
		return nil, errors.New("the password was changed on another device and this device has not taken the new password yet; unlock this vault with the new password (keyhold sync, then keyhold unlock), then run keyhold rotate-key again")
	}
	lamport, seq, err := s.nextKeyFile(ctx, cfg, sc, ring)
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
// yet: its last changes would be lost. With force it removes the device
// even then, with whatever changes of it no snapshot has merged (also the
// way to remove a directory of junk named like a device's, whose log
// names raise its high-water mark). The sync client carries the removal to the
// other devices.
func (s *Session) ForgetFolderDevice(ctx context.Context, id string, force bool) error {
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
	if _, ok := sc.Devices[dev]; !ok {
		return fmt.Errorf("no device %s in the folder %s (the device ids are the d-… directory names under it)", id, sc.Root)
	}
	ring, err := s.currentRing(sc)
	if err != nil {
		return err
	}
	defer ring.Wipe()
	// Every remaining device's newest snapshot that verifies must cover
	// the device's last log (as far as any verified file shows it):
	// otherwise a device would replay from a snapshot that lacks its
	// changes, with the logs that carried them gone.
	heads := sc.VerifiedHeads(ring, s.v.meta.accountID)
	need := sc.HighWater(heads, nil)[dev]
	for other := range sc.Devices {
		if force {
			break
		}
		if other == dev {
			continue
		}
		var covered uint64
		if hs := heads[other]; len(hs) > 0 {
			covered = hs[0].Frontier[dev]
		}
		if covered < need {
			who := "device " + other.String()
			if other == cfg.Device() {
				who = "this device"
			}
			return fmt.Errorf("device %s has changes (up to log %d) that the newest snapshot of %s does not cover (it covers up to %d); run keyhold sync on every device once the folder has all of that device's files, then try again (or, to lose those changes, keyhold sync forget-device --force %s)", id, need, who, covered, id)
		}
	}
	return os.RemoveAll(filepath.Join(sc.Root, folder.DeviceDir(dev)))
}

// newestEnvelope returns the envelope of the newest key file of the
// current key version that authenticates under ring, or nil.
func newestEnvelope(s *Session, sc *folder.Scan, ring folder.Ring) *format.Envelope {
	kfs, err := s.folderKeyFiles(sc)
	if err != nil {
		return nil
	}
	for _, k := range kfs {
		if k.kf.KeyVersion == s.kv && keyFileOpens(k.kf, ring) {
			return k.kf.Envelope
		}
	}
	return nil
}

// rivalRotation looks, among the folder's key files of the current key
// version, for one that does not open under this device's key but whose
// transition opens under the previous key: another device rotated the
// account key at the same time as this one's key came about, and the two
// hold different keys of one key version. The newer of the two key files
// (folder.Newer: Lamport clock, then device id) wins on every device. It
// returns the winning rival and the previous key, if this device lost;
// nil if there is no rival or this device's rotation won.
func (s *Session) rivalRotation(kfs []keyFile, ours *folder.KeyFile, ring folder.Ring) (*folder.KeyFile, *keys.AccountKey) {
	prev := ring[s.kv-1]
	if ours == nil || prev == nil {
		return nil, nil
	}
	for _, k := range kfs {
		kf := k.kf
		if kf.KeyVersion != s.kv || kf.Transition == nil || !folder.Newer(&kf.Header, &ours.Header) {
			continue
		}
		if r, err := kf.Open(s.ak); err == nil {
			r.Wipe()
			continue // one of ours
		}
		nsk, nak, err := format.OpenTransition(kf.Transition, prev, s.v.meta.accountID, s.kv)
		if err != nil {
			continue
		}
		nsk.Wipe()
		ok := keyFileOpens(kf, folder.Ring{s.kv: nak})
		nak.Wipe()
		if ok {
			p := new(keys.AccountKey)
			*p = *prev
			return kf, p
		}
	}
	return nil, nil
}

// lostRotation moves this device from the losing to the winning key of a
// rotation race (rivalRotation): the vault is re-sealed under the winner's
// key, and this device's own files sealed under the losing key — which no
// device on the winning key can read — are removed from its directory.
// The edits they carried are then written again (folderOwnLogsLost) at the
// next syncs.
func (s *Session) lostRotation(ctx context.Context, cfg *FolderConfig, sc *folder.Scan, win *folder.KeyFile, prev *keys.AccountKey) error {
	defer prev.Wipe()
	kv := s.kv
	if err := s.followFolderRotation(ctx, win, prev); err != nil {
		return fmt.Errorf("two devices rotated the account key at the same time and this device could not follow the winning rotation (device %s): %w", win.Device, err)
	}
	me := cfg.Device()
	f := sc.Device(me)
	for _, p := range f.Logs {
		if b, err := folder.ReadLimited(p, folder.MaxLogSize); err == nil {
			if h, err := folder.LogHeader(b); err == nil && h.KeyVersion == kv {
				os.Remove(p)
			}
		}
	}
	for _, p := range f.Snaps {
		if sh, err := folder.ReadSnapshotHead(p); err == nil && sh.KeyVersion == kv {
			os.Remove(p)
		}
	}
	for seq, p := range f.Keys {
		if b, err := folder.ReadLimited(p, folder.MaxKeyFileSize); err == nil {
			if kf, err := folder.ParseKeyFile(b, me, seq); err == nil && kf.KeyVersion == kv {
				os.Remove(p)
			}
		}
	}
	return nil
}
