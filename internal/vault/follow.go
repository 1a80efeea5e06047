package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/ledger"
	"github.com/keyhold/keyhold/internal/ledger/sqlitestore"
)

// AdoptEnvelope records an envelope that another device made when the
// password was changed there (same account key, same key version). It
// cannot be opened here without the new password, and a server could
// serve anything that merely looks right, so it never replaces the
// working envelope: it is kept as pending, and Unlock promotes it the
// first time the new password opens it (until then the old password still
// works on this device). It is checked as far as possible first: same
// account and key version, this device's Secret Key, KDF settings no
// weaker than this device's floor, and a password epoch no lower than
// the working envelope's (an *OldEnvelopeError otherwise: the server may
// be replaying an old password); from the server, not equal to it
// either. A pending envelope kept earlier does not raise that floor (its
// epoch is not authenticated until it opens): the newer arrival replaces
// it. The previous-version envelope this vault was migrated from is
// nothing new. It reports whether anything changed.
func (s *Session) AdoptEnvelope(ctx context.Context, b []byte) (bool, error) {
	return s.adoptEnvelope(ctx, b, fromServer)
}

func (s *Session) adoptEnvelope(ctx context.Context, b []byte, from string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	env, err := format.ParseEnvelope(b)
	if err != nil {
		return false, fmt.Errorf("the server's account key envelope: %w", err)
	}
	if bytes.Equal(env.Marshal(), s.v.meta.envelope.Marshal()) {
		return false, nil
	}
	if pend, err := s.v.pendingEnvelope(); err == nil && pend != nil && bytes.Equal(pend.Marshal(), env.Marshal()) {
		return false, nil
	}
	leg := s.v.legacyEnvelope()
	if leg != nil && bytes.Equal(leg.Marshal(), env.Marshal()) {
		return false, nil // the envelope this vault was migrated from
	}
	if env.AccountID != s.v.meta.accountID || env.KeyVersion != s.kv {
		return false, fmt.Errorf("%w (the server's envelope is for another account or key version)", ErrServerMismatch)
	}
	if err := checkEpoch(env, s.v.epochFloor(), from); err != nil {
		return false, err
	}
	di, err := s.v.Device()
	if err != nil {
		return false, err
	}
	defer di.SecretKey.Wipe()
	if err := env.CheckSecretKey(di.SecretKey); err != nil {
		return false, fmt.Errorf("%w (the server's envelope does not match this device's Secret Key)", ErrServerMismatch)
	}
	if env.KDF.Weaker(di.KDFFloor) {
		return false, fmt.Errorf("%w (its envelope's %w: %s, this device last used %s)", ErrServerMismatch, keys.ErrKDFDowngrade, env.KDF, di.KDFFloor)
	}
	// The server never held this vault's migration (epoch.go), so an
	// envelope it serves at the migration's epoch is another device's
	// first change since epochs (made before that device migrated), not
	// a second one of an epoch the server already held.
	if from == fromServer && leg == nil {
		if err := checkServerEpoch(env, s.v.epochFloor()); err != nil {
			return false, err
		}
	}
	if _, err := s.v.db.ExecContext(ctx, `INSERT INTO meta (k, v) VALUES ('envelope/pending', ?)
		ON CONFLICT (k) DO UPDATE SET v = excluded.v`, env.Marshal()); err != nil {
		return false, s.damaged(err)
	}
	return true, nil
}

// pendingEnvelope returns the envelope AdoptEnvelope kept, or nil. One
// older than the working envelope (kept before password epochs were
// checked) is never promoted.
func (v *Vault) pendingEnvelope() (*format.Envelope, error) {
	var b []byte
	err := v.db.QueryRow(`SELECT v FROM meta WHERE k = 'envelope/pending'`).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	env, err := format.ParseEnvelope(b)
	if err != nil || env.AccountID != v.meta.accountID || env.KeyVersion != v.meta.envelope.KeyVersion || env.Epoch < v.meta.envelope.Epoch {
		return nil, nil
	}
	return env, nil
}

// promotePending makes the pending envelope, which the password just
// opened, the vault's envelope, and raises the KDF floor to it.
func (v *Vault) promotePending(env *format.Envelope, di *DeviceInfo) error {
	tx, err := v.db.Begin()
	if err != nil {
		return dbError(v.path(), err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`UPDATE meta SET v = ? WHERE k = 'envelope'`, env.Marshal()); err != nil {
		return dbError(v.path(), err)
	}
	if _, err := tx.Exec(`DELETE FROM meta WHERE k = 'envelope/pending'`); err != nil {
		return dbError(v.path(), err)
	}
	if err := tx.Commit(); err != nil {
		return dbError(v.path(), err)
	}
	v.meta.envelope = env
	if env.KDF.Time > di.KDFFloor.Time || env.KDF.MemoryKiB > di.KDFFloor.MemoryKiB {
		ndi := *di
		ndi.KDFFloor = keys.KDFParams{Time: max(env.KDF.Time, di.KDFFloor.Time), MemoryKiB: max(env.KDF.MemoryKiB, di.KDFFloor.MemoryKiB), Threads: env.KDF.Threads}
		return v.opts.sec.writeDevice(filepath.Join(v.Dir, DeviceFile), &ndi)
	}
	return nil
}

// FollowRotation moves this device to the account key another device
// rotated to. The transition gives the new Secret Key and account key
// under the current one; both are checked against the new envelope and key
// check. fetch must return every revision the server holds (all sealed
// under the new key) and the server's head. The local vault is rebuilt
// from them in one transaction; edits this device had not pushed are
// re-encrypted and stacked on top, merged field by field, to be pushed
// next. The new Secret Key replaces the old one in the device file as a
// rotation made here would.
//
// fetch also returns the server's manifest for that head (the rotating
// device always stores one); the download must match it, and must hold
// every item this device knows the server had, at a revision no older,
// before anything local is touched.
//
// fetch is handed a check to run on every revision as its page arrives
// (DownloadCheck under the new key), so that a bad download stops early.
func (s *Session) FollowRotation(ctx context.Context, rk *RotatedKeys, fetch func(check func(Incoming) error) ([]Incoming, uint64, []byte, error)) (*ApplyReport, *keys.SecretKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	nk, err := s.openRotation(rk)
	if err != nil {
		return nil, nil, err
	}
	defer nk.ak.Wipe()
	di, err := s.v.Device()
	if err != nil {
		return nil, nil, err
	}
	defer di.SecretKey.Wipe()
	if nk.env.KDF.Weaker(di.KDFFloor) {
		return nil, nil, fmt.Errorf("%w (vault: %s, this device last used %s)", keys.ErrKDFDowngrade, nk.env.KDF, di.KDFFloor)
	}
	all, head, manifest, err := fetch(NewDownloadCheck(s.v.meta.accountID, nk.ak, rk.KeyVersion).Check)
	if err != nil {
		return nil, nil, err
	}
	if manifest == nil {
		return nil, nil, fmt.Errorf("%w (it holds no manifest for the rotated vault)", ErrServerMismatch)
	}
	ns := s.v.session(nk.ak, rk.KeyVersion)
	rep, committed, err := s.followIn(ctx, ns, nk, di, all, head, manifest)
	if err != nil {
		if !committed {
			ns.ak.Wipe()
			ns.mk.Wipe()
		}
		return nil, nil, err
	}
	s.switchKey(ns, nk.env, nk.kc)
	return rep, nk.sk, nil
}

// rotationKeys are a rotation's new envelope, key check, Secret Key and
// account key, each checked against the others.
type rotationKeys struct {
	env *format.Envelope
	kc  *format.KeyCheck
	sk  *keys.SecretKey
	ak  *keys.AccountKey
}

// openRotation opens the transition of a rotation made on another device
// with the session's key and checks what it holds against the new
// envelope and key check.
func (s *Session) openRotation(rk *RotatedKeys) (*rotationKeys, error) {
	id := s.v.meta.accountID
	if rk.KeyVersion <= s.kv {
		return nil, fmt.Errorf("%w (the server names key version %d, this device has %d)", ErrServerMismatch, rk.KeyVersion, s.kv)
	}
	env, err := format.ParseEnvelope(rk.Envelope)
	if err != nil {
		return nil, fmt.Errorf("the server's account key envelope: %w", err)
	}
	kc, err := format.ParseKeyCheck(rk.KeyCheck)
	if err != nil {
		return nil, fmt.Errorf("the server's key check: %w", err)
	}
	if env.AccountID != id || env.KeyVersion != rk.KeyVersion {
		return nil, fmt.Errorf("%w (the new envelope is for another account or key version)", ErrServerMismatch)
	}
	if err := checkEpoch(env, s.v.meta.envelope.Epoch, fromServer); err != nil {
		return nil, err
	}
	nsk, nak, err := format.OpenTransition(rk.Transition, s.ak, id, rk.KeyVersion)
	if err != nil {
		if rk.KeyVersion > s.kv+1 {
			return nil, fmt.Errorf("the server says the account key was rotated %d times since this device last synced, and its rotation record does not open with this device's key; if that is so, set this device up again from the newest recovery kit (keyhold setup --kit)", rk.KeyVersion-s.kv)
		}
		return nil, fmt.Errorf("%w (%v)", ErrServerMismatch, err)
	}
	if err := env.CheckSecretKey(nsk); err != nil {
		nak.Wipe()
		return nil, fmt.Errorf("%w (the rotation's Secret Key does not match the new envelope)", ErrServerMismatch)
	}
	if err := kc.Verify(nak, id, rk.KeyVersion); err != nil {
		nak.Wipe()
		return nil, fmt.Errorf("%w (the rotation's account key fails the key check: %v)", ErrServerMismatch, err)
	}
	return &rotationKeys{env: env, kc: kc, sk: nsk, ak: nak}, nil
}

// session returns a session of v under account key ak (copied into
// locked memory).
func (v *Vault) session(ak *keys.AccountKey, kv uint32) *Session {
	k := new(keys.AccountKey)
	keys.LockMemory(k[:])
	*k = *ak
	mk := format.ManifestKey(k)
	keys.LockMemory(mk[:])
	return &Session{v: v, ak: k, kv: kv, mk: mk}
}

// unpushed is an item's edits this device had not pushed: the server's
// revision r0 they were made on, and their content, oldest first.
type unpushed struct {
	r0    uint64
	local []*item.Item
}

// unpushedEdits decrypts every revision the server has not seen.
func (s *Session) unpushedEdits(ctx context.Context, tx *sql.Tx) (map[ItemID]*unpushed, error) {
	pend := map[ItemID]*unpushed{}
	prows, err := sqlitestore.Wrap(tx).Unsynced(ctx, -1)
	if err != nil {
		return nil, s.damaged(err)
	}
	for _, p := range prows {
		pe := &unpushed{r0: p.Base}
		for rev := p.Base + 1; rev <= p.Cur; rev++ {
			box, err := s.boxAt(ctx, tx, p.ID, rev, p.Cur)
			if err != nil {
				return nil, err
			}
			it, err := s.open(p.ID, rev, box)
			if err != nil {
				return nil, s.damaged(err)
			}
			pe.local = append(pe.local, it)
		}
		pend[p.ID] = pe
	}
	return pend, nil
}

// followIn rebuilds the vault under the new key in one transaction, as
// docs/SYNC.md's rotation steps say: the unpushed edits are read with
// the old key, everything local is cleared, the download is checked
// against what the rotating device signed, the server's items are
// stored with this device's edits stacked on top, items only this
// device has are re-encrypted as they are, and the transaction commits
// with the new keys (commitRotated). committed reports whether it did.
func (s *Session) followIn(ctx context.Context, ns *Session, nk *rotationKeys, di *DeviceInfo, all []Incoming, head uint64, manifest []byte) (*ApplyReport, bool, error) {
	tx, err := s.v.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, s.damaged(err)
	}
	defer tx.Rollback()
	old, err := s.readManifest(ctx, tx)
	if err != nil {
		return nil, false, err
	}
	pend, err := s.unpushedEdits(ctx, tx)
	if err != nil {
		return nil, false, err
	}
	// What the server held, read before anything local is cleared: the
	// download is checked against it below.
	known, err := remoteSet(ctx, tx)
	if err != nil {
		return nil, false, s.damaged(err)
	}
	l := ledger.Fresh(sqlitestore.Wrap(tx), ns.keys(), ns.kv, old.Seq+1)
	if err := l.Clear(ctx); err != nil {
		return nil, false, s.damaged(err)
	}
	for _, q := range []string{`DELETE FROM remote`, `DELETE FROM meta WHERE k LIKE 'index/%'`, `DELETE FROM meta WHERE k = 'envelope/pending'`} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return nil, false, s.damaged(err)
		}
	}
	if err := ns.checkDownload(known, all, head, manifest); err != nil {
		return nil, false, err
	}
	rep := &ApplyReport{}
	order, groups := groupIncoming(all)
	for _, iid := range order {
		pe := pend[iid]
		delete(pend, iid)
		if err := ns.followItem(ctx, tx, l, iid, groups[iid], pe, rep); err != nil {
			return nil, false, err
		}
	}
	for iid, pe := range pend {
		if err := ns.keepLocalOnly(ctx, l, iid, pe); err != nil {
			return nil, false, err
		}
	}
	if err := l.Commit(ctx); err != nil {
		return nil, false, s.damaged(err)
	}
	for k, val := range map[string][]byte{"envelope": nk.env.Marshal(), "keycheck": nk.kc.Marshal()} {
		if _, err := tx.ExecContext(ctx, `UPDATE meta SET v = ? WHERE k = ?`, val, k); err != nil {
			return nil, false, s.damaged(err)
		}
	}
	for _, k := range []string{"sync/cursor", "sync/verified"} {
		if err := putU64(ctx, tx, k, head); err != nil {
			return nil, false, s.damaged(err)
		}
	}
	committed, err := s.commitRotated(tx, di, nk.sk, nk.env.KDF)
	return rep, committed, err
}

// checkDownload checks a rotation's download: nothing the server had
// before it (known, this device's record of the server's items) may be
// missing or older in it — a server that dropped or rolled back items
// while a rotation was made must not take them from this device — and it
// must be what the rotating device signed (manifest, for sequence head).
func (ns *Session) checkDownload(known map[ItemID]serverEntry, all []Incoming, head uint64, manifest []byte) error {
	server := map[ItemID]serverEntry{}
	for _, c := range all {
		if c.Rev > server[c.ID].Rev {
			server[c.ID] = serverEntry{Rev: c.Rev, Hash: sha256.Sum256(c.Box)}
		}
	}
	for id, k := range known {
		if server[id].Rev < k.Rev {
			return fmt.Errorf("%w (item %s is missing or older after the rotation); nothing was changed", ErrServerMismatch, id)
		}
	}
	if err := ns.checkServerManifest(manifest, server, head); err != nil {
		return fmt.Errorf("the rotated vault: %w; nothing was changed", err)
	}
	return nil
}

// groupIncoming groups revisions by item, in the order of each item's
// first appearance.
func groupIncoming(all []Incoming) ([]ItemID, map[ItemID][]Incoming) {
	groups := map[ItemID][]Incoming{}
	var order []ItemID
	for _, c := range all {
		if _, ok := groups[c.ID]; !ok {
			order = append(order, c.ID)
		}
		groups[c.ID] = append(groups[c.ID], c)
	}
	return order, groups
}

// followItem stores one item of a rotation's download, revisions 1..last
// under the new key, with this device's unpushed edits pe (if any) on
// top: continuing the line if nobody else changed the item, merged field
// by field otherwise.
func (ns *Session) followItem(ctx context.Context, tx *sql.Tx, l *ledger.Ledger, iid ItemID, g []Incoming, pe *unpushed, rep *ApplyReport) error {
	var items []*item.Item
	for i, c := range g {
		if c.Rev != uint64(i)+1 {
			return fmt.Errorf("%w (item %s: revision %d arrived without revision %d)", ErrServerMismatch, iid, c.Rev, i+1)
		}
		it, err := ns.open(iid, c.Rev, c.Box)
		if err != nil {
			return fmt.Errorf("%w (%v)", ErrServerMismatch, err)
		}
		items = append(items, it)
	}
	last := uint64(len(g))
	if err := ns.setRemote(ctx, tx, iid, last); err != nil {
		return err
	}
	if pe == nil {
		for _, c := range g[:len(g)-1] {
			if err := l.AddPast(ctx, iid, c.Rev, c.Box); err != nil {
				return ns.damaged(err)
			}
		}
		if _, err := l.Add(ctx, iid, last, g[len(g)-1].Box); err != nil {
			return ns.damaged(err)
		}
		rep.Added++
		return nil
	}
	for _, c := range g {
		if err := l.AddPast(ctx, iid, c.Rev, c.Box); err != nil {
			return ns.damaged(err)
		}
	}
	if pe.r0 > last {
		return fmt.Errorf("%w (item %s lost revisions in the rotation)", ErrServerMismatch, iid)
	}
	if pe.r0 == last {
		// Nobody else changed it: the local edits continue the line.
		return ns.addSealedLine(ctx, l, iid, last, pe.local)
	}
	var base *item.Item
	if pe.r0 >= 1 {
		base = items[pe.r0-1]
	}
	_, err := ns.stackLocal(ctx, l, iid, base, pe.local, last, items[len(items)-1], rep)
	return err
}

// keepLocalOnly re-encrypts an item only this device has, as it is.
func (ns *Session) keepLocalOnly(ctx context.Context, l *ledger.Ledger, iid ItemID, pe *unpushed) error {
	if pe.r0 != 0 {
		return fmt.Errorf("%w (item %s is missing after the rotation)", ErrServerMismatch, iid)
	}
	return ns.addSealedLine(ctx, l, iid, 0, pe.local)
}

// addSealedLine seals its as revisions after+1, after+2, … of item id:
// all but the last into the history, the last current.
func (s *Session) addSealedLine(ctx context.Context, l *ledger.Ledger, id ItemID, after uint64, its []*item.Item) error {
	for i, it := range its[:len(its)-1] {
		if err := s.addSealedPast(ctx, l, id, after+1+uint64(i), it); err != nil {
			return err
		}
	}
	rev := after + uint64(len(its))
	box, err := s.seal(id, rev, its[len(its)-1])
	if err != nil {
		return err
	}
	if _, err := l.Add(ctx, id, rev, box); err != nil {
		return s.damaged(err)
	}
	return nil
}
