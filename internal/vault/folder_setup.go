package vault

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/keyhold/keyhold/internal/folder"
	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
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
	kf   *folder.KeyFile
}

// PrepareFolderSetup finds account id's newest key file in the folder at
// path and checks the kit's Secret Key against its envelope.
func PrepareFolderSetup(path string, id keys.AccountID, sk *keys.SecretKey) (*FolderSource, error) {
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
	kf := kfs[0].kf
	if err := kf.Envelope.CheckSecretKey(sk); err != nil {
		return nil, err
	}
	k := new(keys.SecretKey)
	*k = *sk
	return &FolderSource{path: abs, sc: sc, id: id, sk: k, kf: kf}, nil
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
func (f *FolderSource) Complete(ctx context.Context, dest string, pw []byte) (rep *FolderReport, err error) {
	if Exists(dest) {
		return nil, fmt.Errorf("%w: %s", ErrVaultExists, dest)
	}
	env, kc := f.kf.Envelope, f.kf.KeyCheck
	ak, d, err := env.Open(pw, f.sk)
	if err != nil {
		return nil, err
	}
	d.Wipe()
	defer ak.Wipe()
	ring, err := f.kf.Open(ak)
	if err != nil {
		return nil, fmt.Errorf("the folder's key file: %w; nothing was written", err)
	}
	defer ring.Wipe()
	rp := &folder.Replayer{Account: f.id, Ring: ring}
	res, err := rp.Replay(f.sc)
	if err != nil {
		return nil, err
	}
	if !res.Complete {
		return nil, fmt.Errorf("%w; nothing was written", ErrFolderWaiting)
	}
	cfg, err := newFolderConfig(f.path)
	if err != nil {
		return nil, err
	}
	s := &Session{v: &Vault{meta: meta{accountID: f.id}}, ak: ak, kv: env.KeyVersion, mk: format.ManifestKey(ak)}
	defer s.mk.Wipe()
	type rowT struct {
		id  ItemID
		rev uint64
		box []byte
	}
	var cur, hist []rowT
	m := &format.Manifest{KeyVersion: env.KeyVersion, Seq: 1}
	bks := make([]*bucket, indexBuckets)
	for b := range bks {
		bks[b] = &bucket{}
	}
	type frow struct {
		id     ItemID
		rev    uint64
		digest []byte
	}
	var frows []frow
	for _, st := range res.Sorted() {
		id := ItemID(st.ID)
		for i, h := range st.Hist {
			box, err := s.seal(id, uint64(i)+1, h)
			if err != nil {
				return nil, err
			}
			hist = append(hist, rowT{id, uint64(i) + 1, box})
			format.XorInto(&m.HAcc, format.HistoryEntry(s.mk, id, uint64(i)+1))
			m.HCount++
		}
		rev := uint64(len(st.Hist)) + 1
		box, err := s.seal(id, rev, st.Cur)
		if err != nil {
			return nil, err
		}
		cur = append(cur, rowT{id, rev, box})
		e := s.newEntry(id, rev, st.Cur)
		format.XorInto(&m.Acc, e.prf)
		m.Count++
		b := bks[bucketOf(id)]
		b.entries = append(b.entries, indexEntry{id: id, rev: rev, title: st.Cur.Title, trashed: st.Cur.Trashed != nil})
		format.XorInto(&b.acc, e.prf)
		frows = append(frows, frow{id, rev, s.folderDigest(st)})
	}
	m.Sign(s.mk, f.id)
	idxRows := map[string][]byte{}
	for b := range bks {
		box, err := s.sealBucket(b, bks[b])
		if err != nil {
			return nil, err
		}
		idxRows[indexKey(b)] = box
	}
	createdDir := false
	if _, err := os.Stat(dest); errors.Is(err, os.ErrNotExist) {
		createdDir = true
	}
	if err := os.MkdirAll(dest, 0o700); err != nil {
		return nil, err
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
		return nil, err
	}
	di := &DeviceInfo{AccountID: f.id, SecretKey: f.sk, SyncLocation: cfg.Path, KDFFloor: env.KDF}
	err = buildVault(dest, func(tx *sql.Tx) error {
		ctx := context.Background()
		for k, val := range map[string][]byte{
			"schema": []byte(SchemaVersion), "account_id": f.id[:], "envelope": env.Marshal(),
			"keycheck": kc.Marshal(), "manifest": m.Marshal(),
		} {
			idxRows[k] = val
		}
		if f.kf.Transition != nil {
			idxRows[metaFolderTransition] = f.kf.Transition
		}
		for k, val := range idxRows {
			if _, err := tx.Exec(`INSERT INTO meta (k, v) VALUES (?, ?)`, k, val); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(folderSchema); err != nil {
			return err
		}
		for _, r := range cur {
			if _, err := tx.Exec(`INSERT INTO items (id, rev, box) VALUES (?, ?, ?)`, r.id[:], r.rev, r.box); err != nil {
				return err
			}
		}
		for _, r := range hist {
			if _, err := tx.Exec(`INSERT INTO history (id, rev, box) VALUES (?, ?, ?)`, r.id[:], r.rev, r.box); err != nil {
				return err
			}
		}
		for _, r := range frows {
			if _, err := tx.Exec(`INSERT INTO folder (id, rev, logged, digest) VALUES (?, ?, ?, ?)`, r.id[:], r.rev, r.rev, r.digest); err != nil {
				return err
			}
		}
		return putU64(ctx, tx, metaFolderLamport, res.Lamport)
	}, di)
	if err != nil {
		return nil, err
	}
	rep = &FolderReport{Added: len(cur), Devices: len(f.sc.Devices)}
	// The vault is in place; a first sync writes this device's snapshot.
	v, err := Open(dest)
	if err != nil {
		return rep, err
	}
	defer v.Close()
	sess, err := v.UnlockWithKey(ak, env.KeyVersion)
	if err != nil {
		return rep, err
	}
	defer sess.Close()
	if _, err := sess.FolderSync(ctx); err != nil {
		return rep, fmt.Errorf("the first sync with the folder: %w", err)
	}
	return rep, nil
}
