package vault

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/keyhold/keyhold/internal/folder"
	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/ledger"
)

// FolderSource is a shared folder holding an account's vault, checked
// against a recovery kit but not yet opened. As with PrepareSetup, the
// cheap checks (the account is there, the Secret Key fits its newest
// envelope) answer before the password is asked for.
type FolderSource struct {
	path string
	sc   *folder.Scan
	id   keys.AccountID
	sk   *keys.SecretKey
	kfs  []*folder.KeyFile // candidates, newest first, whose envelope fits the Secret Key
	all  []*folder.KeyFile // every key file of the account
	opts []Option
}

// maxSetupEnvelopes bounds how many distinct envelopes setup opens with
// the password (each costs a key derivation) before it gives up.
const maxSetupEnvelopes = 3

// PrepareFolderSetup finds account id's key files in the folder at path
// and keeps, newest first, those whose envelope fits the kit's Secret Key.
// A file that is not genuine (anyone who can write to the folder can put
// one there) must not block setup: the newest file that fits is tried
// first, and Complete moves on to the next if it does not authenticate.
func PrepareFolderSetup(path string, id keys.AccountID, sk *keys.SecretKey, o ...Option) (*FolderSource, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	sc, err := folder.ScanFolder(abs)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %v", ErrNoVault, err)
	}
	if err != nil {
		return nil, err
	}
	kfs, err := keyFilesOf(sc, id)
	if errors.Is(err, ErrFolderAccount) || (err == nil && len(kfs) == 0) {
		return nil, fmt.Errorf("%w: the folder %s holds no vault of account %s", ErrNoVault, abs, id)
	}
	if err != nil {
		return nil, err
	}
	var cands, all []*folder.KeyFile
	var firstErr error
	for _, k := range kfs {
		all = append(all, k.kf)
		if err := k.kf.Envelope.CheckSecretKey(sk); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		cands = append(cands, k.kf)
	}
	if len(cands) == 0 {
		return nil, firstErr
	}
	k := new(keys.SecretKey)
	*k = *sk
	return &FolderSource{path: abs, sc: sc, id: id, sk: k, kfs: cands, all: all, opts: o}, nil
}

// Close wipes the Secret Key copy.
func (f *FolderSource) Close() { f.sk.Wipe() }

// Complete opens the newest envelope with the password, verifies the key
// check and the key file's authentication, replays the folder, and only
// then builds the vault in dest (under a temporary name, renamed into
// place) with this device's folder settings. On any failure nothing is
// left in dest. It then syncs once, so this device's first snapshot is in
// the folder; a failure of that sync leaves the vault in place and is
// returned with it.
func (f *FolderSource) Complete(ctx context.Context, dest string, pw []byte) (*FolderReport, error) {
	if Exists(dest) {
		return nil, fmt.Errorf("%w: %s", ErrVaultExists, dest)
	}
	kf, ak, ring, err := f.openKeyFile(pw)
	if err != nil {
		return nil, err
	}
	defer ak.Wipe()
	defer ring.Wipe()
	rp := &folder.Replayer{Account: f.id, Ring: ring}
	res, err := rp.Replay(f.sc)
	if err != nil {
		return nil, err
	}
	if !res.Complete {
		return nil, fmt.Errorf("%w; nothing was written", ErrFolderWaiting)
	}
	s := &Session{v: &Vault{meta: meta{accountID: f.id}}, ak: ak, kv: kf.Envelope.KeyVersion, mk: format.ManifestKey(ak)}
	defer s.mk.Wipe()
	rows, err := s.sealReplayed(res)
	if err != nil {
		return nil, err
	}
	if err := f.build(dest, s, kf, rows, res.Lamport); err != nil {
		return nil, err
	}
	rep := &FolderReport{Added: len(rows.cur), Devices: len(f.sc.Devices)}
	// The vault is in place; a first sync writes this device's snapshot.
	if err := f.firstSync(ctx, dest, ak, kf.Envelope.KeyVersion); err != nil {
		return rep, err
	}
	return rep, nil
}

// replayedRows are the rows of a vault made from a replay: current and
// past revisions sealed, and each item's row of the folder table.
type replayedRows struct {
	cur, hist []newRow
	folder    []replayedFolderRow
}

type replayedFolderRow struct {
	id     ItemID
	rev    uint64
	digest []byte
}

// sealReplayed seals every item of a replay, its history as revisions
// 1..n and its current state as n+1.
func (s *Session) sealReplayed(res *folder.Result) (*replayedRows, error) {
	rows := &replayedRows{}
	for _, st := range res.Sorted() {
		id := ItemID(st.ID)
		for i, h := range st.Hist {
			box, err := s.seal(id, uint64(i)+1, h)
			if err != nil {
				return nil, err
			}
			rows.hist = append(rows.hist, newRow{id, uint64(i) + 1, box, nil})
		}
		rev := uint64(len(st.Hist)) + 1
		box, err := s.seal(id, rev, st.Cur)
		if err != nil {
			return nil, err
		}
		rows.cur = append(rows.cur, newRow{id, rev, box, st.Cur})
		rows.folder = append(rows.folder, replayedFolderRow{id, rev, s.folderDigest(st)})
	}
	return rows, nil
}

// build writes the vault in dest (under a temporary name, renamed into
// place) with this device's folder settings: the replayed rows, the key
// file's envelope, key check and transition, and the replay's Lamport
// clock. On failure nothing is left in dest.
func (f *FolderSource) build(dest string, s *Session, kf *folder.KeyFile, rows *replayedRows, lamport uint64) (err error) {
	cfg, err := newFolderConfig(f.path)
	if err != nil {
		return err
	}
	env := kf.Envelope
	metas := map[string][]byte{
		"schema": []byte(SchemaVersion), "account_id": f.id[:], "envelope": env.Marshal(),
		"keycheck": kf.KeyCheck.Marshal(),
	}
	if kf.Transition != nil {
		metas[metaFolderTransition] = kf.Transition
	}
	createdDir := false
	if _, err := os.Stat(dest); errors.Is(err, os.ErrNotExist) {
		createdDir = true
	}
	if err := os.MkdirAll(dest, 0o700); err != nil {
		return err
	}
	cfgPath := filepath.Join(dest, FolderConfigFile)
	defer func() {
		if err != nil && !Exists(dest) {
			os.Remove(cfgPath)
			if createdDir {
				os.Remove(dest)
			}
		}
	}()
	if err := saveFolderConfig(dest, cfg); err != nil {
		return err
	}
	di := &DeviceInfo{AccountID: f.id, SecretKey: f.sk, SyncLocation: cfg.Path, KDFFloor: env.KDF}
	return buildVault(dest, func(tx *sql.Tx, l *ledger.Ledger) error {
		ctx := context.Background()
		if err := putMetas(tx, metas); err != nil {
			return err
		}
		for _, q := range []string{folderSchema, folderLogSchema} {
			if _, err := tx.Exec(q); err != nil {
				return err
			}
		}
		if err := s.addRows(ctx, tx, l, rows.cur, rows.hist); err != nil {
			return err
		}
		for _, r := range rows.folder {
			if _, err := tx.Exec(`INSERT INTO folder (id, rev, logged, digest) VALUES (?, ?, ?, ?)`, r.id[:], r.rev, r.rev, r.digest); err != nil {
				return err
			}
		}
		return putU64(ctx, tx, metaFolderLamport, lamport)
	}, s.keys(), env.KeyVersion, 1, di, newOptions(f.opts).sec)
}

// firstSync opens the new vault in dest with the account key and syncs it
// with the folder once.
func (f *FolderSource) firstSync(ctx context.Context, dest string, ak *keys.AccountKey, kv uint32) error {
	v, err := Open(dest, f.opts...)
	if err != nil {
		return err
	}
	defer v.Close()
	sess, err := v.UnlockWithKey(ak, kv)
	if err != nil {
		return err
	}
	defer sess.Close()
	if _, err := sess.FolderSync(ctx); err != nil {
		return fmt.Errorf("the first sync with the folder: %w", err)
	}
	return nil
}

// openKeyFile returns the newest candidate key file whose envelope opens
// with the password and the Secret Key and which then authenticates
// (key check and box), with its account key and ring. Envelopes already
// tried are not derived again.
func (f *FolderSource) openKeyFile(pw []byte) (*folder.KeyFile, *keys.AccountKey, folder.Ring, error) {
	type tried struct {
		env []byte
		ak  *keys.AccountKey
		err error
	}
	var done []tried
	defer func() {
		for _, t := range done {
			if t.ak != nil {
				t.ak.Wipe()
			}
		}
	}()
	var firstErr error
	for _, kf := range f.kfs {
		eb := kf.Envelope.Marshal()
		var t *tried
		for i := range done {
			if bytes.Equal(done[i].env, eb) {
				t = &done[i]
			}
		}
		if t == nil {
			if len(done) == maxSetupEnvelopes {
				break
			}
			ak, d, err := kf.Envelope.Open(pw, f.sk)
			if err == nil {
				d.Wipe()
			}
			done = append(done, tried{env: eb, ak: ak, err: err})
			t = &done[len(done)-1]
		}
		if t.err != nil {
			if firstErr == nil {
				firstErr = t.err
			}
			continue
		}
		ring, err := kf.Open(t.ak)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("the folder's key file: %w; nothing was written", err)
			}
			continue
		}
		if f.rotatedSince(kf, t.ak) {
			ring.Wipe()
			return nil, nil, nil, fmt.Errorf("%w: this recovery kit is from before the account key was rotated; use the newest kit (keyhold kit on a device that has synced since)", format.ErrWrongSecretKey)
		}
		ak := new(keys.AccountKey)
		*ak = *t.ak
		return kf, ak, ring, nil
	}
	return nil, nil, nil, firstErr
}

// rotatedSince reports whether the folder holds a genuine rotation from
// kf's key version: a key file of the next version whose transition opens
// under ak and which then authenticates under the key it hands over. A
// file merely claiming a newer version proves nothing.
func (f *FolderSource) rotatedSince(kf *folder.KeyFile, ak *keys.AccountKey) bool {
	for _, n := range f.all {
		if n.KeyVersion != kf.KeyVersion+1 || n.Transition == nil {
			continue
		}
		nsk, nak, err := format.OpenTransition(n.Transition, ak, f.id, n.KeyVersion)
		if err != nil {
			continue
		}
		nsk.Wipe()
		ok := keyFileOpens(n, folder.Ring{n.KeyVersion: nak})
		nak.Wipe()
		if ok {
			return true
		}
	}
	return false
}
