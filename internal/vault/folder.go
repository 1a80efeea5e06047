package vault

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/keyhold/keyhold/internal/folder"
	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
)

// Folder sync (docs/FOLDER.md): the vault shared through a directory that
// a file-sync client copies between devices. The vault remembers, per
// item, which local revision holds what the folder's replay last gave it
// (table folder, column rev) and up to which revision it has written the
// item's changes to its log (logged). An item whose current revision is
// above both has edits the folder has not seen; they are logged before
// anything is read back, so a replay never overwrites them.

// FolderConfigFile is the name, in the vault directory, of the file that
// says which folder the vault syncs with and this device's id there.
const FolderConfigFile = "folder.json"

const folderSchema = `CREATE TABLE IF NOT EXISTS folder (id BLOB PRIMARY KEY, rev INTEGER NOT NULL, logged INTEGER NOT NULL, digest BLOB NOT NULL) WITHOUT ROWID`

// Meta keys of folder sync.
const (
	metaFolderLamport    = "folder/lamport"
	metaFolderLogSeq     = "folder/seq/log"
	metaFolderSnapSeq    = "folder/seq/snap"
	metaFolderKeySeq     = "folder/seq/keys"
	metaFolderTransition = "folder/transition"
)

// SnapshotEvery is how many replayed changes make a device write a new
// snapshot; KEYHOLD_FOLDER_SNAPSHOT_EVERY overrides it (tests).
var SnapshotEvery = 100

func snapshotEvery() int {
	if s := os.Getenv("KEYHOLD_FOLDER_SNAPSHOT_EVERY"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n
		}
	}
	return SnapshotEvery
}

// Errors of folder sync.
var (
	ErrFolderNotEnabled = errors.New("this vault does not sync with a folder")
	ErrFolderAccount    = errors.New("the folder holds another account's vault")
	ErrFolderWaiting    = errors.New("the folder is still receiving files from other devices (or one is damaged); try again when the sync client is done")
)

// FolderConfig is folder.json.
type FolderConfig struct {
	Version  int    `json:"version"`
	Path     string `json:"folder"`
	DeviceID string `json:"device_id"`
}

// Device returns the device id.
func (c *FolderConfig) Device() folder.DeviceID {
	d, _ := folder.ParseDeviceID(c.DeviceID)
	return d
}

// LoadFolderConfig reads the folder sync settings of the vault in dir.
func LoadFolderConfig(dir string) (*FolderConfig, error) {
	b, err := os.ReadFile(filepath.Join(dir, FolderConfigFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrFolderNotEnabled
	}
	if err != nil {
		return nil, err
	}
	var c FolderConfig
	if err := json.Unmarshal(b, &c); err != nil || c.Version != 1 || c.Path == "" || !filepath.IsAbs(c.Path) {
		return nil, fmt.Errorf("%s is damaged; remove it and run keyhold sync enable --folder PATH again", filepath.Join(dir, FolderConfigFile))
	}
	if _, err := folder.ParseDeviceID(c.DeviceID); err != nil {
		return nil, fmt.Errorf("%s is damaged: %v", filepath.Join(dir, FolderConfigFile), err)
	}
	return &c, nil
}

func saveFolderConfig(dir string, c *FolderConfig) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, FolderConfigFile), append(b, '\n'), 0o600)
}

func newFolderConfig(path string) (*FolderConfig, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	var d folder.DeviceID
	if _, err := rand.Read(d[:]); err != nil {
		return nil, err
	}
	return &FolderConfig{Version: 1, Path: abs, DeviceID: d.String()}, nil
}

// FolderReport says what one folder sync did.
type FolderReport struct {
	Written         int             `json:"written"`  // changes this device logged
	Replayed        int             `json:"replayed"` // changes replayed on top of the snapshot
	Added           int             `json:"added"`
	Updated         int             `json:"updated"`
	Conflicts       []MergeConflict `json:"conflicts,omitempty"`
	Waiting         bool            `json:"waiting"` // a file was missing or unreadable: nothing applied
	Skipped         int             `json:"skipped"`
	Snapshot        bool            `json:"snapshot"`  // this device wrote a snapshot
	Compacted       int             `json:"compacted"` // own files removed
	Devices         int             `json:"devices"`
	EnvelopeUpdated bool            `json:"password_changed"`
	Rotated         bool            `json:"key_rotated"`
}

func putMeta(ctx context.Context, tx *sql.Tx, k string, v []byte) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`, k, v)
	return err
}

// folderDigest is a keyed digest of a replayed item (current content and
// history), so the vault can tell cheaply that the folder's item did not
// change, without storing anything readable about it.
func (s *Session) folderDigest(st *folder.ItemState) []byte {
	dk := keys.SubKey(s.ak[:], "keyhold v1 folder digest key")
	defer dk.Wipe()
	h := hmac.New(sha256.New, dk[:])
	write := func(it *item.Item) {
		b, _ := it.Marshal()
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
		clear(b)
	}
	write(st.Cur)
	for _, x := range st.Hist {
		write(x)
	}
	return h.Sum(nil)
}

// EnableFolder starts syncing the vault through the shared folder at
// path: it records a new device id, writes the account's key file if the
// folder has none, and syncs once. A folder that already holds another
// account's vault is refused.
func (s *Session) EnableFolder(ctx context.Context, path string) (*FolderReport, error) {
	if _, err := LoadFolderConfig(s.v.Dir); err == nil {
		return nil, fmt.Errorf("this vault already syncs with a folder (%s)", filepath.Join(s.v.Dir, FolderConfigFile))
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("the sync folder: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("the sync folder %s is not a directory", path)
	}
	cfg, err := newFolderConfig(path)
	if err != nil {
		return nil, err
	}
	sc, err := folder.ScanFolder(cfg.Path)
	if err != nil {
		return nil, err
	}
	if _, err := s.folderKeyFiles(sc); err != nil {
		return nil, err
	}
	tx, err := s.v.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.damaged(err)
	}
	defer tx.Rollback()
	for _, q := range []string{folderSchema, `DELETE FROM folder`, `DELETE FROM meta WHERE k LIKE 'folder/%'`} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return nil, s.damaged(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, s.damaged(err)
	}
	if err := saveFolderConfig(s.v.Dir, cfg); err != nil {
		return nil, err
	}
	if err := s.v.SetSyncLocation(cfg.Path); err != nil {
		return nil, err
	}
	return s.FolderSync(ctx)
}

// keyFile is a key file of the folder, parsed but not yet authenticated.
type keyFile struct {
	kf   *folder.KeyFile
	path string
}

// folderKeyFiles returns the folder's key files of this account, newest
// first (folder.Newer), and refuses a folder that holds another
// account's.
func (s *Session) folderKeyFiles(sc *folder.Scan) ([]keyFile, error) {
	return keyFilesOf(sc, s.v.meta.accountID)
}

func keyFilesOf(sc *folder.Scan, acct keys.AccountID) ([]keyFile, error) {
	var out []keyFile
	other := false
	for dev, f := range sc.Devices {
		for seq, p := range f.Keys {
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			kf, err := folder.ParseKeyFile(b, dev, seq)
			if err != nil {
				continue
			}
			if kf.AccountID != acct {
				other = true
				continue
			}
			out = append(out, keyFile{kf: kf, path: p})
		}
	}
	if other && len(out) == 0 {
		return nil, fmt.Errorf("%w; use another folder for this vault", ErrFolderAccount)
	}
	slices.SortFunc(out, func(a, b keyFile) int {
		if folder.Newer(&a.kf.Header, &b.kf.Header) {
			return -1
		}
		if folder.Newer(&b.kf.Header, &a.kf.Header) {
			return 1
		}
		return 0
	})
	return out, nil
}

func (s *Session) metaBytes(ctx context.Context, q querier, k string) []byte {
	b, err := getMeta(ctx, q, k)
	if err != nil {
		return nil
	}
	return b
}

// folderRing settles the keys with the folder: it follows a key rotation
// made on another device, adopts (as pending) a password changed on
// another device, writes this device's key file if the folder has none
// for the current key version, and returns the ring of account keys that
// opens the folder's files.
func (s *Session) folderRing(ctx context.Context, cfg *FolderConfig, sc *folder.Scan, rep *FolderReport) (folder.Ring, error) {
	kfs, err := s.folderKeyFiles(sc)
	if err != nil {
		return nil, err
	}
	// A newer key version: follow it with the transition, sealed under
	// the current key. A key file whose transition does not open is
	// passed over (damaged, half-copied or forged).
	for _, k := range kfs {
		if k.kf.KeyVersion <= s.kv {
			break
		}
		if k.kf.KeyVersion > s.kv+1 || k.kf.Transition == nil {
			continue
		}
		if err := s.followFolderRotation(ctx, k.kf); err != nil {
			if errors.Is(err, keys.ErrKDFDowngrade) {
				return nil, err
			}
			continue
		}
		rep.Rotated = true
		break
	}
	if len(kfs) > 0 && kfs[0].kf.KeyVersion > s.kv {
		return nil, fmt.Errorf("the account key was rotated %d times since this device last synced with the folder; set it up again from the newest recovery kit (keyhold setup --kit KIT --folder PATH)", kfs[0].kf.KeyVersion-s.kv)
	}
	var ring folder.Ring
	mine := 0 // key files of this key version
	for _, k := range kfs {
		if k.kf.KeyVersion != s.kv {
			continue
		}
		mine++
		r, err := k.kf.Open(s.ak)
		if err != nil {
			continue // damaged, half-copied or forged: passed over
		}
		ring = r
		if !bytes.Equal(k.kf.Envelope.Marshal(), s.v.meta.envelope.Marshal()) {
			changed, err := s.AdoptEnvelope(ctx, k.kf.Envelope.Marshal())
			if err != nil {
				return nil, err
			}
			rep.EnvelopeUpdated = changed
		}
		break
	}
	if ring == nil && mine > 0 {
		// Key files of this key version that do not open yet (a sync
		// client still copying them): wait for them rather than publish
		// an envelope that may be older than theirs. Files of earlier key
		// versions cannot be read meanwhile; the replay then waits too.
		k := new(keys.AccountKey)
		*k = *s.ak
		ring = folder.Ring{s.kv: k}
	}
	if ring == nil {
		// No key file of this key version: this device's envelope is the
		// account's; publish it.
		ring = folder.Ring{}
		for _, k := range kfs {
			if r, err := k.kf.Open(s.ak); err == nil {
				for v, key := range r {
					ring[v] = key
				}
			}
		}
		if err := s.writeKeyFile(ctx, cfg, sc, s.v.meta.envelope, ring); err != nil {
			ring.Wipe()
			return nil, err
		}
		k := new(keys.AccountKey)
		*k = *s.ak
		ring[s.kv] = k
	}
	return ring, nil
}

// writeKeyFile writes this device's key file for the current key version
// with envelope env and the previous keys of ring, then removes its older
// key files.
func (s *Session) writeKeyFile(ctx context.Context, cfg *FolderConfig, sc *folder.Scan, env *format.Envelope, ring folder.Ring) error {
	tr := s.metaBytes(ctx, s.v.db, metaFolderTransition)
	if tr != nil {
		if prev := ring[s.kv-1]; prev == nil {
			tr = nil
		} else if _, _, err := format.OpenTransition(tr, prev, s.v.meta.accountID, s.kv); err != nil {
			tr = nil
		}
	}
	return s.writeKeyFileWith(ctx, cfg, sc, s.ak, s.kv, env, s.v.meta.keyCheck, tr, ring)
}

// writeKeyFileWith writes a key file for key version kv sealed with ak.
func (s *Session) writeKeyFileWith(ctx context.Context, cfg *FolderConfig, sc *folder.Scan, ak *keys.AccountKey, kv uint32, env *format.Envelope, kc *format.KeyCheck, tr []byte, ring folder.Ring) error {
	lamport, seq, err := s.nextKeyFile(ctx, cfg, sc)
	if err != nil {
		return err
	}
	if err := s.putKeyFile(cfg, sc, lamport, seq, ak, kv, env, kc, tr, ring); err != nil {
		return err
	}
	return s.keyFileWritten(ctx, cfg, sc, lamport, seq)
}

// nextKeyFile returns the Lamport clock and number of this device's next
// key file.
func (s *Session) nextKeyFile(ctx context.Context, cfg *FolderConfig, sc *folder.Scan) (lamport, seq uint64, err error) {
	if lamport, err = getU64(ctx, s.v.db, metaFolderLamport); err != nil {
		return 0, 0, s.damaged(err)
	}
	if seq, err = getU64(ctx, s.v.db, metaFolderKeySeq); err != nil {
		return 0, 0, s.damaged(err)
	}
	// A new key file must be the newest one (folder.Newer), even if
	// this device has not replayed the others' latest files.
	if kfs, err := s.folderKeyFiles(sc); err == nil {
		for _, k := range kfs {
			lamport = max(lamport, k.kf.Lamport)
		}
	}
	return lamport + 1, max(seq, sc.Device(cfg.Device()).Max(folder.KindKeys)) + 1, nil
}

// putKeyFile writes the key file; it touches nothing in the vault.
func (s *Session) putKeyFile(cfg *FolderConfig, sc *folder.Scan, lamport, seq uint64, ak *keys.AccountKey, kv uint32, env *format.Envelope, kc *format.KeyCheck, tr []byte, ring folder.Ring) error {
	me := cfg.Device()
	h := folder.Header{AccountID: s.v.meta.accountID, KeyVersion: kv, Device: me, Seq: seq, Lamport: lamport}
	b, err := folder.SealKeyFile(ak, h, env, kc, tr, ring)
	if err != nil {
		return err
	}
	return folder.Write(sc.Root, me, folder.FileName(folder.KindKeys, seq), b)
}

// keyFileWritten records the key file's number and clock and removes
// this device's older key files.
func (s *Session) keyFileWritten(ctx context.Context, cfg *FolderConfig, sc *folder.Scan, lamport, seq uint64) error {
	tx, err := s.v.db.BeginTx(ctx, nil)
	if err != nil {
		return s.damaged(err)
	}
	defer tx.Rollback()
	if err := putU64(ctx, tx, metaFolderKeySeq, seq); err != nil {
		return s.damaged(err)
	}
	old, err := getU64(ctx, tx, metaFolderLamport)
	if err != nil {
		return s.damaged(err)
	}
	if err := putU64(ctx, tx, metaFolderLamport, max(old, lamport)); err != nil {
		return s.damaged(err)
	}
	if err := tx.Commit(); err != nil {
		return s.damaged(err)
	}
	for o, p := range sc.Device(cfg.Device()).Keys {
		if o < seq {
			os.Remove(p)
		}
	}
	return nil
}

// FolderSync syncs the vault with its folder once: settle the keys, log
// this device's unseen edits, replay every device's files, apply the
// result, and write a snapshot and compact when due.
func (s *Session) FolderSync(ctx context.Context) (*FolderReport, error) {
	unlock, err := LockSync(s.v.Dir, 2*time.Minute)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return s.folderSync(ctx, false)
}

func (s *Session) folderSync(ctx context.Context, forceSnapshot bool) (*FolderReport, error) {
	cfg, err := LoadFolderConfig(s.v.Dir)
	if err != nil {
		return nil, err
	}
	me := cfg.Device()
	rep := &FolderReport{}
	sc, err := folder.ScanFolder(cfg.Path)
	if err != nil {
		return nil, err
	}
	ring, err := s.folderRing(ctx, cfg, sc, rep)
	if err != nil {
		return rep, err
	}
	defer ring.Wipe()
	folder.RemoveStaleTemps(sc.Root, me, func(fi os.FileInfo) bool { return time.Since(fi.ModTime()) > time.Hour })
	mine, err := s.folderLog(ctx, me, sc, rep)
	if err != nil {
		return rep, err
	}
	if sc, err = folder.ScanFolder(cfg.Path); err != nil {
		return rep, err
	}
	rep.Devices = len(sc.Devices)
	rp := &folder.Replayer{Account: s.v.meta.accountID, Ring: ring}
	res, err := rp.Replay(sc)
	if err != nil {
		return rep, err
	}
	rep.Replayed = res.Applied
	rep.Skipped = len(res.Skipped)
	if !res.Complete {
		rep.Waiting = true
		return rep, nil
	}
	if err := s.folderApply(ctx, res, mine, rep); err != nil {
		return rep, err
	}
	// A snapshot when enough changes piled up on top of the newest one
	// this device wrote (or it has none), so replays stay short and logs
	// can go.
	var covered uint64
	if seqs := sc.Device(me).Sorted(folder.KindSnapshot); len(seqs) > 0 {
		if sh, err := readHead(sc.Device(me).Snaps[seqs[len(seqs)-1]]); err == nil {
			covered = sh.Frontier.Sum()
			if sh.KeyVersion != s.kv {
				forceSnapshot = true
			}
		}
	} else {
		forceSnapshot = true
	}
	if forceSnapshot || res.Frontier.Sum() >= covered+uint64(snapshotEvery()) {
		if err := s.writeSnapshot(ctx, me, sc, res); err != nil {
			return rep, err
		}
		rep.Snapshot = true
		if sc, err = folder.ScanFolder(cfg.Path); err != nil {
			return rep, err
		}
	}
	for _, seq := range sc.Compactable(me) {
		if os.Remove(sc.Device(me).Logs[seq]) == nil {
			rep.Compacted++
		}
	}
	return rep, nil
}

func readHead(path string) (*folder.SnapshotHead, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, 64<<10)
	n, _ := f.Read(b)
	sh, _, err := folder.ParseSnapshotHead(b[:n])
	return sh, err
}

// folderPending is an item with edits the folder has not seen.
type folderPending struct {
	id            ItemID
	cur, base     uint64
	logged        uint64
	hasFolderRow  bool
	prevFolderRev uint64
}

func folderUnseen(ctx context.Context, q querier) ([]folderPending, error) {
	rows, err := q.QueryContext(ctx, `SELECT i.id, i.rev, COALESCE(f.rev, 0), COALESCE(f.logged, 0), f.id IS NOT NULL
		FROM items i LEFT JOIN folder f ON f.id = i.id
		WHERE i.rev > max(COALESCE(f.rev, 0), COALESCE(f.logged, 0)) ORDER BY i.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []folderPending
	for rows.Next() {
		var idb []byte
		var p folderPending
		if err := rows.Scan(&idb, &p.cur, &p.base, &p.logged, &p.hasFolderRow); err != nil || len(idb) != 16 {
			return nil, fmt.Errorf("bad item row: %v", err)
		}
		p.id = ItemID(idb)
		out = append(out, p)
	}
	return out, rows.Err()
}

// folderLog writes this device's edits the folder has not seen to new
// log files, each entry with the item as the folder last gave it (the
// base of the merge) and as it is now. It returns the ids logged.
func (s *Session) folderLog(ctx context.Context, me folder.DeviceID, sc *folder.Scan, rep *FolderReport) (map[ItemID]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.v.readTx(ctx)
	if err != nil {
		return nil, s.damaged(err)
	}
	ps, err := folderUnseen(ctx, tx)
	if err != nil {
		tx.Rollback()
		return nil, s.damaged(err)
	}
	var entries []folder.Entry
	for _, p := range ps {
		box, err := s.boxAt(ctx, tx, p.id, p.cur, p.cur)
		if err != nil {
			tx.Rollback()
			return nil, err
		}
		e := folder.Entry{ID: p.id}
		if e.New, err = s.open(p.id, p.cur, box); err != nil {
			tx.Rollback()
			return nil, s.damaged(err)
		}
		// The revisions made here since the last logged one, before the
		// current: the folder keeps them in the history.
		for rev := max(p.base, p.logged) + 1; rev < p.cur; rev++ {
			hb, err := s.boxAt(ctx, tx, p.id, rev, p.cur)
			if err != nil {
				tx.Rollback()
				return nil, err
			}
			h, err := s.open(p.id, rev, hb)
			if err != nil {
				tx.Rollback()
				return nil, s.damaged(err)
			}
			e.Hist = append(e.Hist, h)
		}
		if p.base > 0 {
			bb, err := s.boxAt(ctx, tx, p.id, p.base, p.cur)
			if err != nil {
				tx.Rollback()
				return nil, err
			}
			if e.Base, err = s.open(p.id, p.base, bb); err != nil {
				tx.Rollback()
				return nil, s.damaged(err)
			}
		}
		entries = append(entries, e)
	}
	lamport, err := getU64(ctx, tx, metaFolderLamport)
	if err != nil {
		tx.Rollback()
		return nil, s.damaged(err)
	}
	seq, err := getU64(ctx, tx, metaFolderLogSeq)
	tx.Rollback()
	if err != nil {
		return nil, s.damaged(err)
	}
	mine := map[ItemID]bool{}
	if len(entries) == 0 {
		return mine, nil
	}
	seq = max(seq, sc.Device(me).Max(folder.KindLog))
	lamport++
	for start := 0; start < len(entries); {
		end := min(start+folder.MaxEntriesPerLog, len(entries))
		// Keep a file well below the size limit: items are at most 1 MiB
		// each, twice (base and new).
		size := 0
		for i := start; i < end; i++ {
			size += 2 << 20
			if size > folder.MaxLogSize/2 && i > start {
				end = i
				break
			}
		}
		seq++
		h := folder.Header{AccountID: s.v.meta.accountID, KeyVersion: s.kv, Device: me, Seq: seq, Lamport: lamport}
		b, err := folder.SealLog(s.ak, h, entries[start:end])
		if err != nil {
			return nil, err
		}
		if err := folder.Write(sc.Root, me, folder.FileName(folder.KindLog, seq), b); err != nil {
			return nil, err
		}
		start = end
	}
	wtx, err := s.v.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.damaged(err)
	}
	defer wtx.Rollback()
	for _, p := range ps {
		if _, err := wtx.ExecContext(ctx, `INSERT INTO folder (id, rev, logged, digest) VALUES (?, 0, ?, x'')
			ON CONFLICT (id) DO UPDATE SET logged = max(logged, excluded.logged)`, p.id[:], p.cur); err != nil {
			return nil, s.damaged(err)
		}
		mine[p.id] = true
	}
	if err := putU64(ctx, wtx, metaFolderLogSeq, seq); err != nil {
		return nil, s.damaged(err)
	}
	if err := putU64(ctx, wtx, metaFolderLamport, lamport); err != nil {
		return nil, s.damaged(err)
	}
	if err := wtx.Commit(); err != nil {
		return nil, s.damaged(err)
	}
	rep.Written = len(entries)
	return mine, nil
}

// folderApply brings the vault to the replayed state, in one
// transaction. For each item whose replayed state differs from what the
// vault last took from the folder, the values of its folder history that
// the vault does not hold yet are appended as revisions, then the
// replayed content as the current revision: the vault's own history keeps
// every value, and its current content is the replay's. An item edited
// here since its changes were logged is left alone; the next sync logs
// and merges it.
func (s *Session) folderApply(ctx context.Context, res *folder.Result, mine map[ItemID]bool, rep *FolderReport) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	items := res.Sorted()
	return s.write(ctx, func(tx *sql.Tx, m *format.Manifest) ([]*Entry, error) {
		rep.Added, rep.Updated, rep.Conflicts = 0, 0, nil
		var changed []*Entry
		for _, st := range items {
			id := ItemID(st.ID)
			dg := s.folderDigest(st)
			var frev, flogged uint64
			var fdig []byte
			err := tx.QueryRowContext(ctx, `SELECT rev, logged, digest FROM folder WHERE id = ?`, id[:]).Scan(&frev, &flogged, &fdig)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return nil, s.damaged(err)
			}
			var cur uint64
			var curBox []byte
			err = tx.QueryRowContext(ctx, `SELECT rev, box FROM items WHERE id = ?`, id[:]).Scan(&cur, &curBox)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return nil, s.damaged(err)
			}
			if cur > max(frev, flogged) {
				continue // edited here meanwhile: logged and merged next time
			}
			if cur > 0 && cur == frev && bytes.Equal(fdig, dg) {
				continue
			}
			// What the vault holds of this item, to add only what is new.
			have := map[[32]byte]bool{}
			var curItem *item.Item
			if cur > 0 {
				if curItem, err = s.open(id, cur, curBox); err != nil {
					return nil, s.damaged(err)
				}
				have[itemHash(curItem)] = true
				rows, err := tx.QueryContext(ctx, `SELECT rev, box FROM history WHERE id = ?`, id[:])
				if err != nil {
					return nil, s.damaged(err)
				}
				for rows.Next() {
					var rev uint64
					var box []byte
					if err := rows.Scan(&rev, &box); err != nil {
						rows.Close()
						return nil, s.damaged(err)
					}
					it, err := s.open(id, rev, box)
					if err != nil {
						rows.Close()
						return nil, s.damaged(err)
					}
					have[itemHash(it)] = true
				}
				rows.Close()
			}
			var add []*item.Item
			for _, h := range st.Hist {
				if !have[itemHash(h)] {
					add = append(add, h)
					have[itemHash(h)] = true
				}
			}
			if len(add) > 0 || curItem == nil || itemHash(curItem) != itemHash(st.Cur) {
				add = append(add, st.Cur)
			}
			rev := cur
			for _, it := range add {
				if rev > 0 {
					if _, err := tx.ExecContext(ctx, `INSERT INTO history (id, rev, box) SELECT id, rev, box FROM items WHERE id = ?`, id[:]); err != nil {
						return nil, s.damaged(err)
					}
					format.XorInto(&m.Acc, format.Entry(s.mk, id, rev))
					format.XorInto(&m.HAcc, format.HistoryEntry(s.mk, id, rev))
					m.HCount++
				}
				rev++
				box, err := s.seal(id, rev, it)
				if err != nil {
					return nil, err
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO items (id, rev, box) VALUES (?, ?, ?)
					ON CONFLICT (id) DO UPDATE SET rev = excluded.rev, box = excluded.box`, id[:], rev, box); err != nil {
					return nil, s.damaged(err)
				}
				format.XorInto(&m.Acc, format.Entry(s.mk, id, rev))
				if rev == 1 {
					m.Count++
				}
			}
			if len(add) > 0 {
				changed = append(changed, s.newEntry(id, rev, st.Cur.Clone()))
				if cur == 0 {
					rep.Added++
				} else {
					rep.Updated++
				}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO folder (id, rev, logged, digest) VALUES (?, ?, ?, ?)
				ON CONFLICT (id) DO UPDATE SET rev = excluded.rev, logged = excluded.logged, digest = excluded.digest`, id[:], rev, rev, dg); err != nil {
				return nil, s.damaged(err)
			}
			if cs := res.Conflicts[st.ID]; len(cs) > 0 && mine[id] {
				rep.Conflicts = append(rep.Conflicts, MergeConflict{ID: id, Title: st.Cur.Title, Fields: cs})
			}
		}
		lamport, err := getU64(ctx, tx, metaFolderLamport)
		if err != nil {
			return nil, s.damaged(err)
		}
		if err := putU64(ctx, tx, metaFolderLamport, max(lamport, res.Lamport)); err != nil {
			return nil, s.damaged(err)
		}
		return changed, nil
	})
}

func itemHash(it *item.Item) [32]byte {
	b, _ := it.Marshal()
	defer clear(b)
	return sha256.Sum256(b)
}

// writeSnapshot writes the replayed state as this device's next
// snapshot and removes its older ones.
func (s *Session) writeSnapshot(ctx context.Context, me folder.DeviceID, sc *folder.Scan, res *folder.Result) error {
	seq, err := getU64(ctx, s.v.db, metaFolderSnapSeq)
	if err != nil {
		return s.damaged(err)
	}
	seq = max(seq, sc.Device(me).Max(folder.KindSnapshot)) + 1
	h := folder.Header{AccountID: s.v.meta.accountID, KeyVersion: s.kv, Device: me, Seq: seq, Lamport: res.Lamport}
	b, err := folder.SealSnapshot(s.ak, h, res.Frontier, res.Sorted())
	if err != nil {
		return err
	}
	if err := folder.Write(sc.Root, me, folder.FileName(folder.KindSnapshot, seq), b); err != nil {
		return err
	}
	tx, err := s.v.db.BeginTx(ctx, nil)
	if err != nil {
		return s.damaged(err)
	}
	defer tx.Rollback()
	if err := putU64(ctx, tx, metaFolderSnapSeq, seq); err != nil {
		return s.damaged(err)
	}
	if err := tx.Commit(); err != nil {
		return s.damaged(err)
	}
	for old, p := range sc.Device(me).Snaps {
		if old < seq {
			os.Remove(p)
		}
	}
	return nil
}

// FolderStatus is what status shows of folder sync.
type FolderStatus struct {
	Path     string `json:"folder"`
	DeviceID string `json:"device_id"`
	Pending  int    `json:"pending"` // items with edits not yet logged
	Lamport  uint64 `json:"clock"`
	Devices  int    `json:"devices"`
}

// FolderStatus reports the folder sync state, or ErrFolderNotEnabled.
func (v *Vault) FolderStatus(ctx context.Context) (*FolderStatus, error) {
	cfg, err := LoadFolderConfig(v.Dir)
	if err != nil {
		return nil, err
	}
	st := &FolderStatus{Path: cfg.Path, DeviceID: cfg.DeviceID}
	ps, err := folderUnseen(ctx, v.db)
	if err != nil {
		return nil, dbError(v.path(), err)
	}
	st.Pending = len(ps)
	st.Lamport, _ = getU64(ctx, v.db, metaFolderLamport)
	if sc, err := folder.ScanFolder(cfg.Path); err == nil {
		st.Devices = len(sc.Devices)
	}
	return st, nil
}

// FolderPending counts the items with edits the folder has not seen (for
// a watcher).
func (v *Vault) FolderPending(ctx context.Context) (int, error) {
	ps, err := folderUnseen(ctx, v.db)
	return len(ps), dbError(v.path(), err)
}
