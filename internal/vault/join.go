package vault

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"os"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/ledger"
)

// CreateJoined builds the vault of a new device from j. Nothing is written
// until the key check verifies and every revision opens, bound to its item
// and revision; the vault is built under a temporary name and renamed into
// place, so a failure leaves nothing behind.
func CreateJoined(dir string, j *Join, o ...Option) error {
	if Exists(dir) {
		return fmt.Errorf("%w: %s", ErrVaultExists, dir)
	}
	env, kc, err := checkJoinKeys(j)
	if err != nil {
		return err
	}
	s := &Session{v: &Vault{meta: meta{accountID: j.AccountID}}, ak: j.AccountKey, kv: env.KeyVersion, mk: format.ManifestKey(j.AccountKey)}
	defer s.mk.Wipe()
	cur, hist, err := s.joinRows(j.Revisions)
	if err != nil {
		return err
	}
	if j.Manifest != nil {
		state := make(map[ItemID]serverEntry, len(cur))
		for _, r := range cur {
			state[r.id] = serverEntry{Rev: r.rev, Hash: sha256.Sum256(r.box)}
		}
		if err := s.checkServerManifest(j.Manifest, state, j.Head); err != nil {
			return fmt.Errorf("%w; nothing was written", err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	di := &DeviceInfo{AccountID: j.AccountID, SecretKey: j.SecretKey, Email: j.Email, SyncLocation: j.Server, KDFFloor: env.KDF}
	return buildVault(dir, func(tx *sql.Tx, l *ledger.Ledger) error {
		ctx := context.Background()
		if err := putMetas(tx, map[string][]byte{
			"schema": []byte(SchemaVersion), "account_id": j.AccountID[:], "envelope": env.Marshal(),
			"keycheck": kc.Marshal(),
		}); err != nil {
			return err
		}
		if err := s.addRows(ctx, tx, l, cur, hist); err != nil {
			return err
		}
		// The server holds every item at its current revision, up to
		// the head pulled (verified if its manifest came along).
		if _, err := tx.Exec(syncSchema); err != nil {
			return err
		}
		for _, r := range cur {
			if _, err := tx.Exec(`INSERT INTO remote (id, rev) VALUES (?, ?)`, r.id[:], r.rev); err != nil {
				return err
			}
		}
		marks := map[string]uint64{"sync/cursor": j.Head}
		if j.Manifest != nil {
			marks["sync/verified"] = j.Head
		}
		for k, n := range marks {
			if err := putU64(ctx, tx, k, n); err != nil {
				return err
			}
		}
		return nil
	}, s.keys(), env.KeyVersion, 1, di, newOptions(o).sec)
}

// checkJoinKeys checks a new device's envelope and key check from the
// server against each other, the kit's Secret Key and the account key.
func checkJoinKeys(j *Join) (*format.Envelope, *format.KeyCheck, error) {
	env, err := format.ParseEnvelope(j.Envelope)
	if err != nil {
		return nil, nil, fmt.Errorf("the server's account key envelope: %w", err)
	}
	kc, err := format.ParseKeyCheck(j.KeyCheck)
	if err != nil {
		return nil, nil, fmt.Errorf("the server's key check: %w", err)
	}
	if env.AccountID != j.AccountID || env.KeyVersion != kc.KeyVersion {
		return nil, nil, fmt.Errorf("%w (the server's envelope and key check disagree)", ErrServerMismatch)
	}
	if err := env.CheckSecretKey(j.SecretKey); err != nil {
		return nil, nil, err
	}
	if err := kc.Verify(j.AccountKey, j.AccountID, env.KeyVersion); err != nil {
		return nil, nil, fmt.Errorf("the recovered account key fails the key check; nothing was written: %w", err)
	}
	return env, kc, nil
}

// joinRows sorts a download into each item's current revision and its
// past ones, checking that every item's revisions run 1, 2, … and that
// each opens.
func (s *Session) joinRows(revs []Incoming) (cur, hist []newRow, err error) {
	order, groups := groupIncoming(revs)
	for _, id := range order {
		g := groups[id]
		for i, c := range g {
			if c.Rev != uint64(i)+1 {
				return nil, nil, fmt.Errorf("%w (item %s: revision %d arrived without revision %d)", ErrServerMismatch, id, c.Rev, i+1)
			}
			it, err := s.open(id, c.Rev, c.Box)
			if err != nil {
				return nil, nil, fmt.Errorf("%w (%v); nothing was written", ErrServerMismatch, err)
			}
			if i == len(g)-1 {
				cur = append(cur, newRow{c.ID, c.Rev, c.Box, it})
			} else {
				hist = append(hist, newRow{c.ID, c.Rev, c.Box, nil})
			}
		}
	}
	return cur, hist, nil
}

// newRow is one revision of a vault being built; a current one carries
// its content, for the title index.
type newRow struct {
	id  ItemID
	rev uint64
	box []byte
	it  *item.Item
}

// addRows stores a new vault's current and past revisions through l and
// writes its title index, so that the first command is fast.
func (s *Session) addRows(ctx context.Context, tx *sql.Tx, l *ledger.Ledger, cur, hist []newRow) error {
	idx := make(map[ItemID]*Entry, len(cur))
	for _, r := range cur {
		prf, err := l.Add(ctx, r.id, r.rev, r.box)
		if err != nil {
			return err
		}
		idx[r.id] = s.entryOf(r.id, r.rev, prf, r.it)
	}
	for _, r := range hist {
		if err := l.AddPast(ctx, r.id, r.rev, r.box); err != nil {
			return err
		}
	}
	return s.writeIndex(ctx, tx, idx)
}

// CreateJoinedOpen is CreateJoined, then save (the device's sync
// settings, written once the vault is in place; nil: none), then Open
// and UnlockWithKey with j.AccountKey at key version kv: a new device's
// vault ready for its first sync. done closes the session and the vault.
func CreateJoinedOpen(dir string, j *Join, kv uint32, save func() error, o ...Option) (s *Session, done func(), err error) {
	if err := CreateJoined(dir, j, o...); err != nil {
		return nil, nil, err
	}
	if save != nil {
		if err := save(); err != nil {
			return nil, nil, err
		}
	}
	v, err := Open(dir, o...)
	if err != nil {
		return nil, nil, err
	}
	if s, err = v.UnlockWithKey(j.AccountKey, kv); err != nil {
		v.Close()
		return nil, nil, err
	}
	return s, func() { s.Close(); v.Close() }, nil
}
