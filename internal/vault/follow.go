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
		return writeDevice(filepath.Join(v.Dir, DeviceFile), &ndi)
	}
	return nil
}

// RotatedKeys is what the server keeps after a key rotation made on
// another device.
type RotatedKeys struct {
	KeyVersion uint32
	Envelope   []byte
	KeyCheck   []byte
	Transition []byte
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
	id := s.v.meta.accountID
	if rk.KeyVersion <= s.kv {
		return nil, nil, fmt.Errorf("%w (the server names key version %d, this device has %d)", ErrServerMismatch, rk.KeyVersion, s.kv)
	}
	env, err := format.ParseEnvelope(rk.Envelope)
	if err != nil {
		return nil, nil, fmt.Errorf("the server's account key envelope: %w", err)
	}
	kc, err := format.ParseKeyCheck(rk.KeyCheck)
	if err != nil {
		return nil, nil, fmt.Errorf("the server's key check: %w", err)
	}
	if env.AccountID != id || env.KeyVersion != rk.KeyVersion {
		return nil, nil, fmt.Errorf("%w (the new envelope is for another account or key version)", ErrServerMismatch)
	}
	if err := checkEpoch(env, s.v.meta.envelope.Epoch, fromServer); err != nil {
		return nil, nil, err
	}
	nsk, nak, err := format.OpenTransition(rk.Transition, s.ak, id, rk.KeyVersion)
	if err != nil {
		if rk.KeyVersion > s.kv+1 {
			return nil, nil, fmt.Errorf("the server says the account key was rotated %d times since this device last synced, and its rotation record does not open with this device's key; if that is so, set this device up again from the newest recovery kit (keyhold setup --kit)", rk.KeyVersion-s.kv)
		}
		return nil, nil, fmt.Errorf("%w (%v)", ErrServerMismatch, err)
	}
	defer nak.Wipe()
	if err := env.CheckSecretKey(nsk); err != nil {
		return nil, nil, fmt.Errorf("%w (the rotation's Secret Key does not match the new envelope)", ErrServerMismatch)
	}
	if err := kc.Verify(nak, id, rk.KeyVersion); err != nil {
		return nil, nil, fmt.Errorf("%w (the rotation's account key fails the key check: %v)", ErrServerMismatch, err)
	}
	di, err := s.v.Device()
	if err != nil {
		return nil, nil, err
	}
	defer di.SecretKey.Wipe()
	if env.KDF.Weaker(di.KDFFloor) {
		return nil, nil, fmt.Errorf("%w (vault: %s, this device last used %s)", keys.ErrKDFDowngrade, env.KDF, di.KDFFloor)
	}
	all, head, manifest, err := fetch(NewDownloadCheck(id, nak, rk.KeyVersion).Check)
	if err != nil {
		return nil, nil, err
	}
	if manifest == nil {
		return nil, nil, fmt.Errorf("%w (it holds no manifest for the rotated vault)", ErrServerMismatch)
	}
	k := new(keys.AccountKey)
	keys.LockMemory(k[:])
	*k = *nak
	nmk := format.ManifestKey(k)
	keys.LockMemory(nmk[:])
	ns := &Session{v: s.v, ak: k, kv: rk.KeyVersion, mk: nmk}
	fail := func(err error) (*ApplyReport, *keys.SecretKey, error) {
		ns.ak.Wipe()
		ns.mk.Wipe()
		return nil, nil, err
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
	// This device's unpushed edits, decrypted with the old key.
	type pending struct {
		r0    uint64
		local []*item.Item
	}
	pend := map[ItemID]*pending{}
	prows, err := unsynced(ctx, tx, -1)
	if err != nil {
		return fail(s.damaged(err))
	}
	for _, p := range prows {
		pe := &pending{r0: p.base}
		for rev := p.base + 1; rev <= p.cur; rev++ {
			box, err := s.boxAt(ctx, tx, p.id, rev, p.cur)
			if err != nil {
				return fail(err)
			}
			it, err := s.open(p.id, rev, box)
			if err != nil {
				return fail(s.damaged(err))
			}
			pe.local = append(pe.local, it)
		}
		pend[p.id] = pe
	}
	for _, q := range []string{`DELETE FROM items`, `DELETE FROM history`, `DELETE FROM remote`, `DELETE FROM meta WHERE k LIKE 'index/%'`, `DELETE FROM meta WHERE k = 'envelope/pending'`} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fail(s.damaged(err))
		}
	}
	// Nothing the server had may be missing or older in the download, and
	// the download must be what the rotating device signed.
	known, err := remoteSet(ctx, tx)
	if err != nil {
		return fail(s.damaged(err))
	}
	server := map[ItemID]serverEntry{}
	for _, c := range all {
		if c.Rev > server[c.ID].rev {
			server[c.ID] = serverEntry{rev: c.Rev, hash: sha256.Sum256(c.Box)}
		}
	}
	for id, k := range known {
		if server[id].rev < k.rev {
			return fail(fmt.Errorf("%w (item %s is missing or older after the rotation); nothing was changed", ErrServerMismatch, id))
		}
	}
	if err := ns.checkServerManifest(manifest, server, head); err != nil {
		return fail(fmt.Errorf("the rotated vault: %w; nothing was changed", err))
	}
	m := &format.Manifest{KeyVersion: rk.KeyVersion, Seq: old.Seq + 1}
	rep := &ApplyReport{}
	// The server's state, every box opened under the new key.
	groups := map[ItemID][]Incoming{}
	var order []ItemID
	for _, c := range all {
		if _, ok := groups[c.ID]; !ok {
			order = append(order, c.ID)
		}
		groups[c.ID] = append(groups[c.ID], c)
	}
	for _, iid := range order {
		g := groups[iid]
		var items []*item.Item
		for i, c := range g {
			if c.Rev != uint64(i)+1 {
				return fail(fmt.Errorf("%w (item %s: revision %d arrived without revision %d)", ErrServerMismatch, iid, c.Rev, i+1))
			}
			it, err := ns.open(iid, c.Rev, c.Box)
			if err != nil {
				return fail(fmt.Errorf("%w (%v)", ErrServerMismatch, err))
			}
			items = append(items, it)
		}
		last := uint64(len(g))
		pe := pend[iid]
		delete(pend, iid)
		hist := g
		if pe == nil {
			hist = g[:len(g)-1]
		}
		for _, c := range hist {
			if _, err := tx.ExecContext(ctx, `INSERT INTO history (id, rev, box) VALUES (?, ?, ?)`, iid[:], c.Rev, c.Box); err != nil {
				return fail(s.damaged(err))
			}
			format.XorInto(&m.HAcc, format.HistoryEntry(nmk, iid, c.Rev, c.Box))
			m.HCount++
		}
		m.Count++
		if err := ns.setRemote(ctx, tx, iid, last); err != nil {
			return fail(err)
		}
		if pe == nil {
			if _, err := tx.ExecContext(ctx, `INSERT INTO items (id, rev, box) VALUES (?, ?, ?)`, iid[:], last, g[len(g)-1].Box); err != nil {
				return fail(s.damaged(err))
			}
			format.XorInto(&m.Acc, format.Entry(nmk, iid, last, g[len(g)-1].Box))
			rep.Added++
			continue
		}
		if pe.r0 > last {
			return fail(fmt.Errorf("%w (item %s lost revisions in the rotation)", ErrServerMismatch, iid))
		}
		var base *item.Item
		if pe.r0 >= 1 {
			base = items[pe.r0-1]
		}
		if pe.r0 == last {
			// Nobody else changed it: the local edits continue the line.
			for i, it := range pe.local[:len(pe.local)-1] {
				if err := ns.insertSealed(ctx, tx, m, "history", iid, last+1+uint64(i), it); err != nil {
					return fail(err)
				}
			}
			if err := ns.insertSealed(ctx, tx, m, "items", iid, last+uint64(len(pe.local)), pe.local[len(pe.local)-1]); err != nil {
				return fail(err)
			}
			continue
		}
		if _, err := ns.stackLocal(ctx, tx, m, iid, base, pe.local, last, items[len(items)-1], rep); err != nil {
			return fail(err)
		}
	}
	// Items only this device has: re-encrypted as they are.
	for iid, pe := range pend {
		if pe.r0 != 0 {
			return fail(fmt.Errorf("%w (item %s is missing after the rotation)", ErrServerMismatch, iid))
		}
		for i, it := range pe.local {
			table := "history"
			if i == len(pe.local)-1 {
				table = "items"
				m.Count++
			}
			if err := ns.insertSealed(ctx, tx, m, table, iid, uint64(i)+1, it); err != nil {
				return fail(err)
			}
		}
	}
	m.Sign(nmk, id)
	for k, val := range map[string][]byte{"envelope": env.Marshal(), "keycheck": kc.Marshal(), "manifest": m.Marshal()} {
		if _, err := tx.ExecContext(ctx, `UPDATE meta SET v = ? WHERE k = ?`, val, k); err != nil {
			return fail(s.damaged(err))
		}
	}
	if err := putU64(ctx, tx, "sync/cursor", head); err != nil {
		return fail(s.damaged(err))
	}
	if err := putU64(ctx, tx, "sync/verified", head); err != nil {
		return fail(s.damaged(err))
	}
	if committed, err := s.commitRotated(tx, di, nsk, env.KDF); err != nil {
		if !committed {
			return fail(err)
		}
		return nil, nil, err
	}
	s.v.meta.envelope, s.v.meta.keyCheck = env, kc
	s.ak.Wipe()
	s.mk.Wipe()
	s.ak, s.kv, s.mk = ns.ak, ns.kv, ns.mk
	s.loaded, s.entries, s.sorted = false, nil, nil
	return rep, nsk, nil
}

// insertSealed seals it as revision rev of item id into table (items or
// history) and accounts for it in the manifest (not Count).
func (s *Session) insertSealed(ctx context.Context, tx *sql.Tx, m *format.Manifest, table string, id ItemID, rev uint64, it *item.Item) error {
	box, err := s.seal(id, rev, it)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (id, rev, box) VALUES (?, ?, ?)`, id[:], rev, box); err != nil {
		return s.damaged(err)
	}
	if table == "items" {
		format.XorInto(&m.Acc, format.Entry(s.mk, id, rev, box))
	} else {
		format.XorInto(&m.HAcc, format.HistoryEntry(s.mk, id, rev, box))
		m.HCount++
	}
	return nil
}
