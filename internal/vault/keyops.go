package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/keyhold/keyhold/internal/atomicfile"
	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/ledger"
	"github.com/keyhold/keyhold/internal/ledger/sqlitestore"
)

// ChangePassword re-wraps the account key under a new password. It builds
// the new envelope, proves it opens to the same account key, and only then
// replaces the old one, in one transaction: there is never a moment without
// a working envelope. Old key files still open with the old password; see
// RotateKey.
//
// If publish is not nil it is called with the new envelope and login key
// before anything changes here, so a sync server learns of the new
// password first; if it fails, nothing changes.
func (s *Session) ChangePassword(ctx context.Context, newPw []byte, p keys.KDFParams, publish func(env []byte, login *keys.Key32) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	di, err := s.v.Device()
	if err != nil {
		return err
	}
	defer di.SecretKey.Wipe()
	epoch, err := s.v.nextEpoch()
	if err != nil {
		return err
	}
	env, d, err := format.NewEnvelope(s.ak, s.v.meta.accountID, s.kv, epoch, newPw, di.SecretKey, p)
	if err != nil {
		return err
	}
	defer d.Wipe()
	// Verify: decode what will be stored and open it.
	env2, err := format.ParseEnvelope(env.Marshal())
	if err != nil {
		return err
	}
	ak2, d2, err := env2.Open(newPw, di.SecretKey)
	if err != nil {
		return fmt.Errorf("the new envelope does not open; nothing was changed: %w", err)
	}
	d2.Wipe()
	same := subtle.ConstantTimeCompare(ak2[:], s.ak[:]) == 1
	ak2.Wipe()
	if !same {
		return errors.New("the new envelope holds another key; nothing was changed")
	}
	if publish != nil {
		if err := publish(env.Marshal(), &d.Login); err != nil {
			return err
		}
	}
	if _, err := s.v.db.ExecContext(ctx, `UPDATE meta SET v = ? WHERE k = 'envelope'`, env.Marshal()); err != nil {
		return s.damaged(err)
	}
	// A password change from another device that had not been used here
	// yet is superseded by this one.
	if _, err := s.v.db.ExecContext(ctx, `DELETE FROM meta WHERE k = 'envelope/pending'`); err != nil {
		return s.damaged(err)
	}
	s.v.meta.envelope = env
	if p.Time > di.KDFFloor.Time || p.MemoryKiB > di.KDFFloor.MemoryKiB {
		di.KDFFloor = keys.KDFParams{Time: max(p.Time, di.KDFFloor.Time), MemoryKiB: max(p.MemoryKiB, di.KDFFloor.MemoryKiB), Threads: p.Threads}
		return s.v.opts.sec.writeDevice(filepath.Join(s.v.Dir, DeviceFile), di)
	}
	return nil
}

// RotateKey replaces the account key and the Secret Key: every item and
// every past revision is re-encrypted under a new account key, in one
// transaction, with a new envelope (same password) and a new key check for
// the next key version. Old recovery kits and key files stop working.
//
// The new Secret Key is written to a side file before the commit and moved
// into place after it; Device finishes an interrupted rotation either way,
// so a crash never leaves the device without the Secret Key that opens the
// committed envelope.
//
// If publish is not nil, it is given the whole rotated account (every
// revision re-encrypted, the new envelope, key check, login key and the
// transition for devices that follow later) before the local commit; if
// it fails, nothing changes here. A sync server thus rotates first, in one
// transaction of its own.
func (s *Session) RotateKey(ctx context.Context, pw []byte, publish func(*Rotation) error) (*Created, error) {
	return s.rotateKey(ctx, pw, publish, publish != nil)
}

// rotateKey is RotateKey; server says whether publish hands the rotation
// to a sync server, whose state (remote, cursor) then restarts from it.
func (s *Session) rotateKey(ctx context.Context, pw []byte, publish func(*Rotation) error, server bool) (*Created, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	di, err := s.v.Device()
	if err != nil {
		return nil, err
	}
	defer di.SecretKey.Wipe()
	// Prove the password first: the new envelope is made with it.
	if ak, d, err := s.v.meta.envelope.Open(pw, di.SecretKey); err != nil {
		return nil, err
	} else {
		ak.Wipe()
		d.Wipe()
	}
	nk, d, err := s.newKeys(pw)
	if err != nil {
		return nil, err
	}
	defer d.Wipe()
	ns := &Session{v: s.v, ak: nk.ak, kv: s.kv + 1, mk: format.ManifestKey(nk.ak)}
	tx, err := s.v.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.damaged(err)
	}
	defer tx.Rollback()
	revs, current, err := s.resealUnder(ctx, tx, ns, nk)
	if err != nil {
		return nil, err
	}
	if publish != nil {
		rot, err := ns.rotation(s.ak, nk.env, nk.kc, &d.Login, nk.sk, revs, current)
		if err != nil {
			return nil, err
		}
		rot.AccountKey = nk.ak
		if err := publish(rot); err != nil {
			return nil, err
		}
		if err := ns.recordPublished(ctx, tx, rot, current, server); err != nil {
			return nil, err
		}
	}
	if _, err := s.commitRotated(tx, di, nk.sk, nk.env.KDF); err != nil {
		return nil, err
	}
	s.switchKey(ns, nk.env, nk.kc)
	return &Created{AccountID: s.v.meta.accountID, SecretKey: nk.sk}, nil
}

// newKeys makes the next key version's account key and Secret Key, with
// its envelope under pw (the KDF settings kept, the next password epoch)
// and key check. d holds the login key derived on the way; the caller
// wipes it.
func (s *Session) newKeys(pw []byte) (*rotationKeys, *keys.Derived, error) {
	id, nkv := s.v.meta.accountID, s.kv+1
	nak, err := keys.NewAccountKey()
	if err != nil {
		return nil, nil, err
	}
	nsk, err := keys.NewSecretKey()
	if err != nil {
		return nil, nil, err
	}
	epoch, err := s.v.nextEpoch()
	if err != nil {
		return nil, nil, err
	}
	env, d, err := format.NewEnvelope(nak, id, nkv, epoch, pw, nsk, s.v.meta.envelope.KDF)
	if err != nil {
		return nil, nil, err
	}
	kc, err := format.NewKeyCheck(nak, id, nkv)
	if err != nil {
		d.Wipe()
		return nil, nil, err
	}
	return &rotationKeys{env: env, kc: kc, sk: nsk, ak: nak}, d, nil
}

// resealUnder re-encrypts every revision under ns's key in tx (reseal),
// with a fresh manifest at the next sequence number, and stores the new
// envelope and key check. The title index, sealed under the old key, is
// dropped; the next full load rebuilds it under the new one.
func (s *Session) resealUnder(ctx context.Context, tx *sql.Tx, ns *Session, nk *rotationKeys) (map[ItemID][]OutRev, map[ItemID]uint64, error) {
	old, err := s.readManifest(ctx, tx)
	if err != nil {
		return nil, nil, err
	}
	l := ledger.Fresh(sqlitestore.Wrap(tx), ns.keys(), ns.kv, old.Seq+1)
	revs, current, err := s.reseal(ctx, l, ns, old)
	if err != nil {
		return nil, nil, err
	}
	if err := l.Commit(ctx); err != nil {
		return nil, nil, s.damaged(err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM meta WHERE k LIKE 'index/%'`); err != nil {
		return nil, nil, s.damaged(err)
	}
	for k, val := range map[string][]byte{"envelope": nk.env.Marshal(), "keycheck": nk.kc.Marshal()} {
		if _, err := tx.ExecContext(ctx, `UPDATE meta SET v = ? WHERE k = ?`, val, k); err != nil {
			return nil, nil, s.damaged(err)
		}
	}
	return revs, current, nil
}

// recordPublished records in tx that the rotation was published: a sync
// server (server true) now holds exactly this state (every item at its
// current revision, pulled and verified to rot.Head); a sync folder
// keeps the transition for devices that follow.
func (ns *Session) recordPublished(ctx context.Context, tx *sql.Tx, rot *Rotation, current map[ItemID]uint64, server bool) error {
	if !server {
		return ns.damaged0(putMeta(ctx, tx, metaFolderTransition, rot.Transition))
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM remote`); err != nil {
		return ns.damaged(err)
	}
	for id, rev := range current {
		if err := ns.setRemote(ctx, tx, id, rev); err != nil {
			return err
		}
	}
	for _, k := range []string{"sync/cursor", "sync/verified"} {
		if err := putU64(ctx, tx, k, rot.Head); err != nil {
			return ns.damaged(err)
		}
	}
	return nil
}

// switchKey moves the session, once a rotation committed, to ns's key
// and the new envelope and key check; its cache reloads.
func (s *Session) switchKey(ns *Session, env *format.Envelope, kc *format.KeyCheck) {
	s.v.meta.envelope, s.v.meta.keyCheck = env, kc
	s.ak.Wipe()
	s.mk.Wipe()
	s.ak, s.kv, s.mk = ns.ak, ns.kv, ns.mk
	s.loaded, s.entries, s.sorted = false, nil, nil
}

// reseal opens every current and past revision with the session's key
// and stores it sealed under ns's key (same id and revision) through l, a
// fresh ledger for the new key: the rows are read, cleared, and added
// again. It returns every revision's new box by item and each item's
// current revision.
func (s *Session) reseal(ctx context.Context, l *ledger.Ledger, ns *Session, old *format.Manifest) (map[ItemID][]OutRev, map[ItemID]uint64, error) {
	var cur, past []ledger.Row
	var sums ledger.Sums
	if err := l.Tx().ScanCurrent(ctx, func(r ledger.Row) error {
		cur = append(cur, r)
		sums.Add(s.keys(), r, false)
		return nil
	}); err != nil {
		return nil, nil, s.damaged(err)
	}
	if err := l.Tx().ScanPast(ctx, func(r ledger.Row) error {
		past = append(past, r)
		sums.Add(s.keys(), r, true)
		return nil
	}); err != nil {
		return nil, nil, s.damaged(err)
	}
	// The new manifest is signed over what is re-sealed: the rows must be
	// the ones the old manifest signed, or a deleted or rolled-back row
	// would come out of the rotation looking authentic.
	if items, history := sums.Matches(old); !items || !history {
		return nil, nil, s.damaged(errors.New("the items or their history do not match the manifest"))
	}
	if err := l.Clear(ctx); err != nil {
		return nil, nil, s.damaged(err)
	}
	revs := map[ItemID][]OutRev{}
	current := map[ItemID]uint64{}
	for i, rows := range [][]ledger.Row{cur, past} {
		for _, r := range rows {
			id := ItemID(r.ID)
			it, err := s.open(id, r.Rev, r.Box)
			if err != nil {
				return nil, nil, s.damaged(err)
			}
			nbox, err := ns.seal(id, r.Rev, it)
			if err != nil {
				return nil, nil, err
			}
			if i == 0 {
				_, err = l.Add(ctx, id, r.Rev, nbox)
				current[id] = r.Rev
			} else {
				err = l.AddPast(ctx, id, r.Rev, nbox)
			}
			if err != nil {
				return nil, nil, s.damaged(err)
			}
			revs[id] = append(revs[id], OutRev{Rev: r.Rev, Box: nbox})
		}
	}
	return revs, current, nil
}

// rotation builds the Rotation of a session under the new key.
func (ns *Session) rotation(prev *keys.AccountKey, env *format.Envelope, kc *format.KeyCheck, login *keys.Key32, nsk *keys.SecretKey, revs map[ItemID][]OutRev, current map[ItemID]uint64) (*Rotation, error) {
	tr, err := format.SealTransition(prev, ns.v.meta.accountID, ns.kv, nsk, ns.ak)
	if err != nil {
		return nil, err
	}
	rot := &Rotation{KeyVersion: ns.kv, Envelope: env.Marshal(), KeyCheck: kc.Marshal(), Transition: tr, Login: login}
	ids := make([]ItemID, 0, len(revs))
	for id := range revs {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b ItemID) int { return bytes.Compare(a[:], b[:]) })
	for _, id := range ids {
		rs := revs[id]
		slices.SortFunc(rs, func(a, b OutRev) int { return cmpU64(a.Rev, b.Rev) })
		for i, r := range rs {
			if r.Rev != uint64(i)+1 {
				return nil, fmt.Errorf("item %s: its history lacks revision %d, so the server cannot keep it whole; run keyhold verify", id, i+1)
			}
		}
		rot.Items = append(rot.Items, Outgoing{ID: id, Revs: rs})
	}
	state := make(map[ItemID]serverEntry, len(current))
	for id, rev := range current {
		for _, r := range revs[id] {
			if r.Rev == rev {
				state[id] = serverEntry{Rev: rev, Hash: sha256.Sum256(r.Box)}
			}
		}
	}
	rot.Manifest = func(seq uint64) []byte { return ns.serverManifest(state, seq).Marshal() }
	return rot, nil
}

// commitRotated commits tx, which switches the vault to a new account key
// whose envelope needs the Secret Key nsk, together with this device's
// secrets: the device file for nsk is written beside the current one
// first, the transaction commits, and the file is renamed into place.
// A crash in between is finished when the vault is next opened (Device).
// committed reports whether tx was committed; before that, nothing has
// changed and the caller rolls back.
func (s *Session) commitRotated(tx *sql.Tx, di *DeviceInfo, nsk *keys.SecretKey, kdf keys.KDFParams) (committed bool, err error) {
	devPath := filepath.Join(s.v.Dir, DeviceFile)
	ndi := *di
	ndi.SecretKey = nsk
	if kdf.Time > ndi.KDFFloor.Time || kdf.MemoryKiB > ndi.KDFFloor.MemoryKiB {
		ndi.KDFFloor = kdf
	}
	if err := s.v.opts.sec.writeDevice(devPath+".next", &ndi); err != nil {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		s.v.opts.sec.removeDeviceFile(devPath + ".next") // and its key store entry
		return false, s.damaged(err)
	}
	if err := os.Rename(devPath+".next", devPath); err != nil {
		return true, err
	}
	atomicfile.SyncDir(s.v.Dir)
	return true, nil
}
