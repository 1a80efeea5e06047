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
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/keyhold/keyhold/internal/atomicfile"
	"github.com/keyhold/keyhold/internal/folder"
	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/ledger"
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

// folderLogSchema records, per item and own log file, that the log holds
// an entry of the item and the revision that entry used as its base, so
// that the entries of own logs the folder lost (a sync client rolled the
// folder back, a file was deleted) can be written again from the first
// lost one's base (SPEC §16.7). Rows of compacted logs are dropped.
const folderLogSchema = `CREATE TABLE IF NOT EXISTS folder_log (id BLOB NOT NULL, seq INTEGER NOT NULL, base INTEGER NOT NULL, PRIMARY KEY (id, seq)) WITHOUT ROWID`

// Meta keys of folder sync.
const (
	metaFolderLamport    = "folder/lamport"
	metaFolderLogSeq     = "folder/seq/log"
	metaFolderSnapSeq    = "folder/seq/snap"
	metaFolderKeySeq     = "folder/seq/keys"
	metaFolderTransition = "folder/transition"
	// metaFolderLogPrev, when present, is the log this device's next log
	// follows: its logs after it are gone from the folder, and the next
	// log declares them void (folder.Log.Prev).
	metaFolderLogPrev = "folder/log/prev"
	// metaFolderLogPruned is the highest own log whose folder_log rows
	// were dropped (logs compacted and covered by every snapshot).
	metaFolderLogPruned = "folder/log/pruned"
	// metaFolderLogCompacted is the highest own log this device removed
	// in compaction: its line of logs in the folder starts above it.
	metaFolderLogCompacted = "folder/log/compacted"
)

// DefaultFolderSnapshotEvery is how many log files a replay must have
// beyond those the device's newest snapshot covers before the device
// writes a new snapshot (docs/FOLDER.md, Snapshots and compaction).
const DefaultFolderSnapshotEvery = 100

// SetFolderSnapshotEvery sets this session's snapshot interval for folder
// sync: a new snapshot once a replay has n more log files than this
// device's newest snapshot covers. n ≤ 0 restores the default. Tests use
// a short interval to exercise snapshots and compaction; a device's
// interval decides only how often it writes snapshots, never what any
// device replays.
func (s *Session) SetFolderSnapshotEvery(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.folderSnapEvery = max(n, 0)
}

func (s *Session) snapshotEvery() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.folderSnapEvery > 0 {
		return s.folderSnapEvery
	}
	return DefaultFolderSnapshotEvery
}

// Errors of folder sync.
var (
	ErrFolderNotEnabled = errors.New("this vault does not sync with a folder")
	ErrFolderAccount    = errors.New("the folder holds another account's vault")
	ErrFolderWaiting    = errors.New("the folder is still receiving files from other devices (or one is damaged); try again when the sync client is done")
	ErrFolderCounter    = errors.New("this device's file counter or clock in the folder is exhausted; nothing was written (stop syncing this vault with the folder, remove folder.json and enable it again to start a new device line)")
)

// nextLamport is one more than the highest clock seen, refusing to wrap.
func nextLamport(l uint64) (uint64, error) {
	if l == math.MaxUint64 {
		return 0, ErrFolderCounter
	}
	return l + 1, nil
}

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
	return atomicfile.Replace(filepath.Join(dir, FolderConfigFile), append(b, '\n'), 0o600)
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
	// Relogged counts items whose entries were in this device's own logs
	// that are gone from the folder (rolled back or deleted) and covered
	// by no snapshot: they are written again at the next sync, and
	// nothing is taken from the folder meanwhile.
	Relogged int `json:"relogged,omitempty"`
	// UnknownKeyVersion is a key version newer than this device's that the
	// folder's key files name but this device cannot follow (two or more
	// rotations behind, or files that are not genuine).
	UnknownKeyVersion uint32 `json:"unknown_key_version,omitempty"`
	// DroppedPassword is set when following a key rotation dropped a
	// password change made elsewhere that this device had not applied yet:
	// the rotation's envelope, with the password it was made under, wins.
	DroppedPassword bool `json:"password_change_dropped,omitempty"`
	// RotationLost is set when this device's key came from a rotation
	// that raced another rotation to the same key version and lost: the
	// vault now holds the winner's key (and opens with the password that
	// rotation was made under); the recovery kit of the losing rotation
	// no longer works.
	RotationLost bool `json:"rotation_lost,omitempty"`
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
	for _, q := range []string{folderSchema, folderLogSchema, `DELETE FROM folder`, `DELETE FROM folder_log`, `DELETE FROM meta WHERE k LIKE 'folder/%'`} {
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
// first (key version, then password epoch, then folder.Newer), and
// refuses a folder that holds another account's.
func (s *Session) folderKeyFiles(sc *folder.Scan) ([]keyFile, error) {
	return keyFilesOf(sc, s.v.meta.accountID)
}

func keyFilesOf(sc *folder.Scan, acct keys.AccountID) ([]keyFile, error) {
	var out []keyFile
	other := false
	for dev, f := range sc.Devices {
		for seq, p := range f.Keys {
			b, err := folder.ReadLimited(p, folder.MaxKeyFileSize)
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
		// Within one key version, the higher password epoch first (SPEC
		// §16.5): of concurrent password changes every device takes the
		// same one, and never one older than a change it has seen.
		if a.kf.KeyVersion == b.kf.KeyVersion && a.kf.Envelope.Epoch != b.kf.Envelope.Epoch {
			if a.kf.Envelope.Epoch > b.kf.Envelope.Epoch {
				return -1
			}
			return 1
		}
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
	return s.folderRingOnce(ctx, cfg, sc, rep, false)
}

// folderRingOnce is folderRing; lostOnce says this device's rotation has
// already lost to a rival one in this sync (the keys are settled again
// once, with the winner's).
func (s *Session) folderRingOnce(ctx context.Context, cfg *FolderConfig, sc *folder.Scan, rep *FolderReport, lostOnce bool) (folder.Ring, error) {
	kfs, err := s.folderKeyFiles(sc)
	if err != nil {
		return nil, err
	}
	if err := s.followNewerKeyFile(ctx, kfs, rep); err != nil {
		return nil, err
	}
	// Key files of a newer key version this device cannot follow: either
	// it is two or more rotations behind, or they are not genuine (nothing
	// authenticates them for this device). Sync goes on with the files it
	// can read; the report names the version, so that a replay that then
	// waits can say why.
	for _, k := range kfs {
		if k.kf.KeyVersion > s.kv {
			rep.UnknownKeyVersion = max(rep.UnknownKeyVersion, k.kf.KeyVersion)
		}
	}
	ring, mine, lost, err := s.currentKeyRing(ctx, cfg, sc, kfs, rep, lostOnce)
	if err != nil {
		return nil, err
	}
	if lost {
		if sc, err = folder.ScanFolder(cfg.Path); err != nil {
			return nil, err
		}
		return s.folderRingOnce(ctx, cfg, sc, rep, true)
	}
	if ring == nil && mine > 0 {
		// Key files of this key version that do not open yet (a sync
		// client still copying them): wait for them rather than publish
		// an envelope that may be older than theirs. Files of earlier key
		// versions cannot be read meanwhile; the replay then waits too.
		return folder.Ring{s.kv: s.akCopy()}, nil
	}
	if ring == nil {
		// No key file of this key version: this device's envelope is the
		// account's; publish it.
		return s.publishKeyFile(ctx, cfg, sc, kfs)
	}
	return ring, nil
}

// followNewerKeyFile follows a newer key version with its transition,
// sealed under the current key. A key file whose transition does not
// open is passed over (damaged, half-copied or forged); only a weaker
// key derivation stops the sync.
func (s *Session) followNewerKeyFile(ctx context.Context, kfs []keyFile, rep *FolderReport) error {
	for _, k := range kfs {
		if k.kf.KeyVersion <= s.kv {
			return nil
		}
		if k.kf.KeyVersion > s.kv+1 || k.kf.Transition == nil {
			continue
		}
		pend, _ := s.v.pendingEnvelope()
		if err := s.followFolderRotation(ctx, k.kf, s.ak); err != nil {
			if errors.Is(err, keys.ErrKDFDowngrade) {
				return err
			}
			continue
		}
		rep.Rotated = true
		rep.DroppedPassword = pend != nil && !bytes.Equal(pend.Marshal(), k.kf.Envelope.Marshal())
		return nil
	}
	return nil
}

// currentKeyRing opens the newest key file of the current key version
// that opens, adopts its envelope, and returns its ring and how many key
// files of this key version there are. lost reports that two rotations
// went to this key version and the other one won (unless lostOnce):
// this device has taken the winner's keys, and its ring is to be read
// again.
func (s *Session) currentKeyRing(ctx context.Context, cfg *FolderConfig, sc *folder.Scan, kfs []keyFile, rep *FolderReport, lostOnce bool) (ring folder.Ring, mine int, lost bool, err error) {
	for _, k := range kfs {
		if k.kf.KeyVersion != s.kv {
			continue
		}
		mine++
		r, err := k.kf.Open(s.ak)
		if err != nil {
			continue // damaged, half-copied or forged: passed over
		}
		if win, prev := s.rivalRotation(kfs, k.kf, r); win != nil && !lostOnce {
			r.Wipe()
			if err := s.lostRotation(ctx, cfg, sc, win, prev); err != nil {
				return nil, 0, false, err
			}
			rep.Rotated, rep.RotationLost = true, true
			return nil, mine, true, nil
		}
		if err := s.adoptKeyFileEnvelope(ctx, k.kf, rep); err != nil {
			r.Wipe()
			return nil, 0, false, err
		}
		return r, mine, false, nil
	}
	return nil, mine, false, nil
}

// adoptKeyFileEnvelope adopts the envelope of kf if it is not this
// device's. An envelope older than this device's (a folder put back from
// a backup, or a device that changed the password less often while
// offline) is not adopted: it must not bring an old password back. The
// key file's ring is still good.
func (s *Session) adoptKeyFileEnvelope(ctx context.Context, kf *folder.KeyFile, rep *FolderReport) error {
	if bytes.Equal(kf.Envelope.Marshal(), s.v.meta.envelope.Marshal()) {
		return nil
	}
	changed, err := s.adoptEnvelope(ctx, kf.Envelope.Marshal(), fromFolder)
	if err != nil && !errors.Is(err, ErrOldEnvelope) {
		return err
	}
	rep.EnvelopeUpdated = changed
	return nil
}

// publishKeyFile writes this device's key file for the current key
// version, with the previous keys of every key file that opens, and
// returns that ring.
func (s *Session) publishKeyFile(ctx context.Context, cfg *FolderConfig, sc *folder.Scan, kfs []keyFile) (folder.Ring, error) {
	ring := folder.Ring{}
	for _, k := range kfs {
		if r, err := k.kf.Open(s.ak); err == nil {
			for v, key := range r {
				if ring[v] != nil {
					ring[v].Wipe()
				}
				ring[v] = key
			}
		}
	}
	if ring[s.kv] == nil {
		ring[s.kv] = s.akCopy()
	}
	if err := s.writeKeyFile(ctx, cfg, sc, s.v.meta.envelope, ring); err != nil {
		ring.Wipe()
		return nil, err
	}
	return ring, nil
}

// akCopy is a copy of the session's account key, for a ring the caller
// wipes.
func (s *Session) akCopy() *keys.AccountKey {
	k := new(keys.AccountKey)
	*k = *s.ak
	return k
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
	lamport, seq, err := s.nextKeyFile(ctx, cfg, sc, ring)
	if err != nil {
		return err
	}
	if err := s.putKeyFile(cfg, sc, lamport, seq, ak, kv, env, kc, tr, ring); err != nil {
		return err
	}
	return s.keyFileWritten(ctx, cfg, sc, lamport, seq)
}

// nextKeyFile returns the Lamport clock and number of this device's next
// key file. Both come from the vault's own state and from key files that
// authenticate under ring, never from a name or header alone: a forged
// file cannot push them to the end of their range.
func (s *Session) nextKeyFile(ctx context.Context, cfg *FolderConfig, sc *folder.Scan, ring folder.Ring) (lamport, seq uint64, err error) {
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
			if keyFileOpens(k.kf, ring) {
				lamport = max(lamport, k.kf.Lamport)
			}
		}
	}
	if lamport, err = nextLamport(lamport); err != nil {
		return 0, 0, err
	}
	if seq, err = s.nextOwnSeq(folder.KindKeys, seq, sc, cfg.Device(), ring); err != nil {
		return 0, 0, err
	}
	return lamport, seq, nil
}

// keyFileOpens reports whether a key file authenticates under the key of
// its key version in ring.
func keyFileOpens(kf *folder.KeyFile, ring folder.Ring) bool {
	ak := ring[kf.KeyVersion]
	if ak == nil {
		return false
	}
	r, err := kf.Open(ak)
	if err != nil {
		return false
	}
	r.Wipe()
	return true
}

// nextOwnSeq returns the number of this device's next file of kind k,
// after last (from the vault's state). A file already in the way is
// passed over if it authenticates as this device's (a vault restored
// from an older backup) or is of an older key version this device lacks,
// and removed if it does not (it is not this device's: a forged or
// damaged file in its own directory would otherwise block its line; a
// log or snapshot of a key version above the device's own is never its
// own, futureKey). The number never wraps.
func (s *Session) nextOwnSeq(k folder.Kind, last uint64, sc *folder.Scan, me folder.DeviceID, ring folder.Ring) (uint64, error) {
	f := sc.Device(me)
	files := map[folder.Kind]map[uint64]string{folder.KindLog: f.Logs, folder.KindSnapshot: f.Snaps, folder.KindKeys: f.Keys}[k]
	n := last
	for {
		if n == math.MaxUint64 {
			return 0, ErrFolderCounter
		}
		n++
		p, ok := files[n]
		if !ok {
			return n, nil
		}
		err := s.ownFileOpens(k, p, me, n, ring, s.namedKeyVersions(sc))
		if err == nil || errors.Is(err, folder.ErrNoKey) {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, err
		}
		return n, nil
	}
}

// sweepOwn removes from this device's own directory the files whose head
// does not authenticate as its own: this device writes every file
// complete under its final name, so such a file is not one of its own —
// forged, damaged, or one it wrote under a key that lost a rotation race
// and that a sync client brought back — and left there it would hold a
// number of this device's line: a gap every replay would wait on. Only
// the heads are read (and key files, which are small). Files of an
// older key version this device lacks are left alone; logs and
// snapshots of a key version above its own are removed (futureKey).
func (s *Session) sweepOwn(ctx context.Context, me folder.DeviceID, sc *folder.Scan, ring folder.Ring) error {
	f := sc.Device(me)
	named := s.namedKeyVersions(sc)
	for _, k := range []struct {
		kind  folder.Kind
		files map[uint64]string
	}{{folder.KindLog, f.Logs}, {folder.KindSnapshot, f.Snaps}, {folder.KindKeys, f.Keys}} {
		for n, p := range k.files {
			if err := s.ownFileOpens(k.kind, p, me, n, ring, named); err != nil && !errors.Is(err, folder.ErrNoKey) && !errors.Is(err, os.ErrNotExist) {
				if err := os.Remove(p); err == nil {
					delete(k.files, n)
				}
			}
		}
	}
	return nil
}

// errFutureKey is the verdict on a log or snapshot in this device's own
// directory of a key version above the device's current one that its
// ring lacks.
var errFutureKey = errors.New("file of a key version above this device's current one")

// futureKey returns errFutureKey when kv, a log's or snapshot's key
// version, is above this device's current key version, not in ring, and
// named by no key file in the folder (named, from namedKeyVersions). A
// version a key file names may be a rotation in flight, whose files this
// device must not touch. This device writes its logs and snapshots under its current key version
// only, so such a file in its own directory can never be one of its own:
// anyone who can write to the folder could put one at this device's next
// number and, left alone, it would hold that number for ever. Key files
// are not judged so: a rotation writes its key file under the new version
// before the vault takes it, and other devices may already follow it.
// Files of an older version missing from the ring stay (a key this
// device never had).
func (s *Session) futureKey(kv uint32, ring folder.Ring, named map[uint32]bool) error {
	if kv > s.kv && ring[kv] == nil && !named[kv] {
		return errFutureKey
	}
	return nil
}

// namedKeyVersions returns the key versions the folder's key files name
// (read, not authenticated): a version a key file names may be a
// rotation this device has not followed yet.
func (s *Session) namedKeyVersions(sc *folder.Scan) map[uint32]bool {
	out := map[uint32]bool{}
	if kfs, err := s.folderKeyFiles(sc); err == nil {
		for _, k := range kfs {
			out[k.kf.KeyVersion] = true
		}
	}
	return out
}

// ownFileOpens authenticates this device's file p of kind k, number n: a
// log's or snapshot's head, a key file whole.
func (s *Session) ownFileOpens(k folder.Kind, p string, me folder.DeviceID, n uint64, ring folder.Ring, named map[uint32]bool) error {
	acct := s.v.meta.accountID
	switch k {
	case folder.KindLog:
		lh, err := folder.ReadLogHead(p)
		if err != nil {
			return err
		}
		if err := s.futureKey(lh.KeyVersion, ring, named); err != nil {
			return err
		}
		return folder.VerifyLogHead(lh, ring, acct, me, n)
	case folder.KindSnapshot:
		sh, err := folder.ReadSnapshotHead(p)
		if err != nil {
			return err
		}
		if err := s.futureKey(sh.KeyVersion, ring, named); err != nil {
			return err
		}
		return folder.VerifySnapshotHead(sh, ring, acct, me, n)
	default:
		b, err := folder.ReadLimited(p, folder.MaxKeyFileSize)
		if err != nil {
			return err
		}
		kf, err := folder.ParseKeyFile(b, me, n)
		if err != nil {
			return err
		}
		if kf.AccountID != acct {
			return folder.ErrMisplaced
		}
		if ring[kf.KeyVersion] == nil {
			return folder.ErrNoKey
		}
		if !keyFileOpens(kf, ring) {
			return keys.ErrOpen
		}
		return nil
	}
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

// folderSync is one sync with the folder, in the steps of docs/FOLDER.md
// "How a sync works". forceSnapshot writes a snapshot even when none is
// due.
func (s *Session) folderSync(ctx context.Context, forceSnapshot bool) (*FolderReport, error) {
	cfg, err := LoadFolderConfig(s.v.Dir)
	if err != nil {
		return nil, err
	}
	rep := &FolderReport{}
	sc, err := folder.ScanFolder(cfg.Path)
	if err != nil {
		return nil, err
	}
	// 1. Keys.
	ring, err := s.folderRing(ctx, cfg, sc, rep)
	if err != nil {
		return rep, err
	}
	defer ring.Wipe()
	// 2. Write this device's changes.
	mine, err := s.folderWriteOwn(ctx, cfg, sc, ring, rep)
	if err != nil {
		return rep, err
	}
	// 3. Replay.
	sc, res, err := s.folderReplay(ctx, cfg, ring, rep)
	if err != nil || !res.Complete {
		return rep, err
	}
	// 4. Apply.
	if err := s.folderApply(ctx, res, mine, rep); err != nil {
		return rep, err
	}
	// 5. Snapshot and compaction, when due.
	if sc, err = s.folderSnapshotIfDue(ctx, cfg, sc, res, ring, rep, forceSnapshot); err != nil {
		return rep, err
	}
	return rep, s.folderCompact(ctx, cfg.Device(), sc, ring, rep)
}

// folderWriteOwn tidies this device's directory (stale temporary files,
// files of its own that no longer open) and logs its unseen edits; it
// returns the items it logged. A rotation that lost to another device's
// changed the folder, so it is scanned again first.
func (s *Session) folderWriteOwn(ctx context.Context, cfg *FolderConfig, sc *folder.Scan, ring folder.Ring, rep *FolderReport) (map[ItemID]bool, error) {
	me := cfg.Device()
	if rep.RotationLost {
		var err error
		if sc, err = folder.ScanFolder(cfg.Path); err != nil {
			return nil, err
		}
	}
	folder.RemoveStaleTemps(sc.Root, me, func(fi os.FileInfo) bool { return time.Since(fi.ModTime()) > time.Hour })
	if err := s.sweepOwn(ctx, me, sc, ring); err != nil {
		return nil, err
	}
	if _, err := s.v.db.ExecContext(ctx, folderLogSchema); err != nil {
		return nil, s.damaged(err)
	}
	return s.folderLog(ctx, me, sc, ring, rep)
}

// folderReplay scans the folder again (with this device's new logs) and
// replays it. A replay that cannot reach this device's own last log
// waits (rep.Waiting); if that is because its logs are lost, their items
// are marked to be written again (folderOwnLogsLost).
func (s *Session) folderReplay(ctx context.Context, cfg *FolderConfig, ring folder.Ring, rep *FolderReport) (*folder.Scan, *folder.Result, error) {
	me := cfg.Device()
	sc, err := folder.ScanFolder(cfg.Path)
	if err != nil {
		return nil, nil, err
	}
	rep.Devices = len(sc.Devices)
	logSeq, err := getU64(ctx, s.v.db, metaFolderLogSeq)
	if err != nil {
		return nil, nil, s.damaged(err)
	}
	// The replay must reach this device's own last log: the vault knows it
	// wrote it, whatever the folder's files say.
	rp := &folder.Replayer{Account: s.v.meta.accountID, Ring: ring, Known: folder.Frontier{me: logSeq}}
	res, err := rp.Replay(sc)
	if err != nil {
		return nil, nil, err
	}
	rep.Replayed = res.Applied
	rep.Skipped = len(res.Skipped)
	if !res.Complete {
		rep.Waiting = true
		n, err := s.folderOwnLogsLost(ctx, me, sc, ring, res, logSeq)
		rep.Relogged = n
		return sc, res, err
	}
	return sc, res, nil
}

// folderSnapshotIfDue writes a snapshot when enough changes piled up on
// top of the newest one this device wrote (or it has none, or it is under
// an older key, or force), so replays stay short and logs can go. It
// returns the folder as it is afterwards.
func (s *Session) folderSnapshotIfDue(ctx context.Context, cfg *FolderConfig, sc *folder.Scan, res *folder.Result, ring folder.Ring, rep *FolderReport, force bool) (*folder.Scan, error) {
	me := cfg.Device()
	var covered uint64
	if hs := sc.VerifiedHeads(ring, s.v.meta.accountID)[me]; len(hs) > 0 {
		covered = hs[0].Frontier.Sum()
		if hs[0].KeyVersion != s.kv {
			force = true
		}
	} else {
		force = true
	}
	if !force && res.Frontier.Sum() < covered+uint64(s.snapshotEvery()) {
		return sc, nil
	}
	if err := s.writeSnapshot(ctx, me, sc, res, ring); err != nil {
		return nil, err
	}
	rep.Snapshot = true
	return folder.ScanFolder(cfg.Path)
}

// folderCompact removes this device's logs that every snapshot covers,
// and records how far: the entries of compacted logs will never need
// writing again (any replay starts above them), and the local log of
// entries below every snapshot's frontier is pruned.
func (s *Session) folderCompact(ctx context.Context, me folder.DeviceID, sc *folder.Scan, ring folder.Ring, rep *FolderReport) error {
	var gone uint64
	for _, seq := range sc.Compactable(me, ring, s.v.meta.accountID) {
		if os.Remove(sc.Device(me).Logs[seq]) == nil {
			rep.Compacted++
			gone = max(gone, seq)
		}
	}
	if gone == 0 {
		return nil
	}
	if err := s.raiseFolderMark(ctx, metaFolderLogCompacted, gone, ""); err != nil {
		return err
	}
	low := gone
	for _, hs := range sc.VerifiedHeads(ring, s.v.meta.accountID) {
		for _, h := range hs {
			low = min(low, h.Frontier[me])
		}
	}
	return s.raiseFolderMark(ctx, metaFolderLogPruned, low, `DELETE FROM folder_log WHERE seq <= ?`)
}

// raiseFolderMark sets the counter k to v if v is above it, in one
// transaction with prune (if given), which is run with v.
func (s *Session) raiseFolderMark(ctx context.Context, k string, v uint64, prune string) error {
	old, err := getU64(ctx, s.v.db, k)
	if err != nil {
		return s.damaged(err)
	}
	if v <= old {
		return nil
	}
	tx, err := s.v.db.BeginTx(ctx, nil)
	if err != nil {
		return s.damaged(err)
	}
	defer tx.Rollback()
	if prune != "" {
		if _, err := tx.ExecContext(ctx, prune, v); err != nil {
			return s.damaged(err)
		}
	}
	if err := putU64(ctx, tx, k, v); err != nil {
		return s.damaged(err)
	}
	if err := tx.Commit(); err != nil {
		return s.damaged(err)
	}
	return nil
}

// folderOwnLogsLost handles a replay that cannot reach this device's own
// last log (logSeq). If logs of this device's line, from the last one it
// compacted, are gone from the folder — a sync client rolled it back, or
// they were deleted — the changes they carried exist only in this vault
// as far as it can rely on: the items whose last
// entry was in them are marked as not yet written (their entries are
// written again, against the same base, by the next sync), and the next
// log declares the lost numbers void (it follows the last log the folder
// still shows), so that this device's line has no gap; numbers are never
// reused. Nothing is taken from the folder meanwhile, so no older content
// is applied over these edits. It returns how many items were marked.
func (s *Session) folderOwnLogsLost(ctx context.Context, me folder.DeviceID, sc *folder.Scan, ring folder.Ring, res *folder.Result, logSeq uint64) (int, error) {
	// Where this device's line breaks off, from the last log it removed
	// itself in compaction (every log below is gone on purpose), not from
	// the replay's frontier: no snapshot that covers missing logs is
	// relied on. The chosen one may never become usable (it can lack
	// other devices' lost logs in turn, and theirs this device's), and
	// another device may start from a snapshot below it, whose replay
	// would then wait for ever on the gap. Declaring the missing logs
	// void is safe: the items of every entry after the break are written
	// again, so a replay that jumps over them holds all they held.
	pruned, err := getU64(ctx, s.v.db, metaFolderLogPruned)
	if err != nil {
		return 0, s.damaged(err)
	}
	compacted, err := getU64(ctx, s.v.db, metaFolderLogCompacted)
	if err != nil {
		return 0, s.damaged(err)
	}
	reach := sc.LineEnd(me, max(pruned, compacted))
	if reach >= logSeq {
		// This device's line is whole: wait for other files (or, if the
		// replay started below the logs it compacted, for a newer
		// snapshot).
		return 0, nil
	}
	if _, ok := sc.Device(me).Logs[reach+1]; ok {
		return 0, nil // present but unreadable this round: wait
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.v.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, s.damaged(err)
	}
	defer tx.Rollback()
	r, err := tx.ExecContext(ctx, `UPDATE folder SET rev = l.base, logged = l.base, digest = x''
		FROM (SELECT id, min(base) AS base FROM folder_log WHERE seq > ? GROUP BY id) AS l WHERE folder.id = l.id`, reach)
	if err != nil {
		return 0, s.damaged(err)
	}
	n, _ := r.RowsAffected()
	if _, err := tx.ExecContext(ctx, `DELETE FROM folder_log WHERE seq > ?`, reach); err != nil {
		return 0, s.damaged(err)
	}
	if err := putU64(ctx, tx, metaFolderLogPrev, reach); err != nil {
		return 0, s.damaged(err)
	}
	if err := tx.Commit(); err != nil {
		return 0, s.damaged(err)
	}
	return int(n), nil
}

// folderPending is an item with edits the folder has not seen. Its
// entry's base is the newest revision already told to the folder: the one
// the folder last gave it (folder.rev) or the one last written to a log
// (folder.logged), whichever is higher. Taking the older one after a sync
// that wrote its log but could not replay would make an edit that goes
// back to an earlier value look like no change at all.
type folderPending struct {
	id           ItemID
	cur, base    uint64
	hasFolderRow bool
}

func folderUnseen(ctx context.Context, q querier) ([]folderPending, error) {
	rows, err := q.QueryContext(ctx, `SELECT i.id, i.rev, max(COALESCE(f.rev, 0), COALESCE(f.logged, 0)), f.id IS NOT NULL
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
		if err := rows.Scan(&idb, &p.cur, &p.base, &p.hasFolderRow); err != nil || len(idb) != 16 {
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
func (s *Session) folderLog(ctx context.Context, me folder.DeviceID, sc *folder.Scan, ring folder.Ring, rep *FolderReport) (map[ItemID]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps, entries, st, err := s.folderUnlogged(ctx)
	if err != nil {
		return nil, err
	}
	mine := map[ItemID]bool{}
	if len(entries) == 0 {
		return mine, nil
	}
	// The number goes on from the vault's counter, and past any of this
	// device's logs a verified snapshot covers (a vault restored from an
	// older backup): a log at or below a snapshot's frontier is never read.
	seq := st.seq
	for _, hs := range sc.VerifiedHeads(ring, s.v.meta.accountID) {
		if len(hs) > 0 {
			seq = max(seq, hs[0].Frontier[me])
		}
	}
	lamport, err := nextLamport(st.lamport)
	if err != nil {
		return nil, err
	}
	prev := uint64(math.MaxUint64)
	if st.hasVoid {
		prev = st.voidPrev
	}
	seqOf, seq, err := s.sealLogs(me, sc, ring, entries, seq, lamport, prev)
	if err != nil {
		return nil, err
	}
	if err := s.folderLogged(ctx, ps, seqOf, seq, lamport); err != nil {
		return nil, err
	}
	for _, p := range ps {
		mine[p.id] = true
	}
	rep.Written = len(entries)
	return mine, nil
}

// folderLogState is where this device's logs stand: the Lamport clock,
// the last log number, and lost logs to declare void (folderOwnLogsLost)
// after the log numbered voidPrev.
type folderLogState struct {
	lamport, seq uint64
	hasVoid      bool
	voidPrev     uint64
}

// folderUnlogged reads, in one snapshot, the items with edits the folder
// has not seen, their log entries, and the log state. After lost logs
// the next log must be written even with nothing new, to declare them
// void: an entry that changes nothing (base and new the item's current
// content) carries it.
func (s *Session) folderUnlogged(ctx context.Context) ([]folderPending, []folder.Entry, *folderLogState, error) {
	tx, err := s.v.readTx(ctx)
	if err != nil {
		return nil, nil, nil, s.damaged(err)
	}
	defer tx.Rollback()
	ps, err := folderUnseen(ctx, tx)
	if err != nil {
		return nil, nil, nil, s.damaged(err)
	}
	var entries []folder.Entry
	for i := range ps {
		e, err := s.folderEntry(ctx, tx, &ps[i])
		if err != nil {
			return nil, nil, nil, err
		}
		entries = append(entries, e)
	}
	st := &folderLogState{}
	if st.lamport, err = getU64(ctx, tx, metaFolderLamport); err != nil {
		return nil, nil, nil, s.damaged(err)
	}
	if st.seq, err = getU64(ctx, tx, metaFolderLogSeq); err != nil {
		return nil, nil, nil, s.damaged(err)
	}
	if st.hasVoid = s.metaBytes(ctx, tx, metaFolderLogPrev) != nil; st.hasVoid {
		if st.voidPrev, err = getU64(ctx, tx, metaFolderLogPrev); err != nil {
			return nil, nil, nil, s.damaged(err)
		}
	}
	if st.hasVoid && len(entries) == 0 {
		e, ok, err := s.folderVoidEntry(ctx, tx)
		if err != nil {
			return nil, nil, nil, err
		}
		if ok {
			entries = append(entries, e)
		}
	}
	return ps, entries, st, nil
}

// folderEntry makes the log entry of an item with edits the folder has
// not seen: its current content, the revisions made here since the last
// logged one (before the current: the folder keeps them in the history),
// and the base the edits were made on.
func (s *Session) folderEntry(ctx context.Context, q querier, p *folderPending) (folder.Entry, error) {
	e := folder.Entry{ID: p.id}
	histFrom := p.base + 1
	if p.base == 0 && p.hasFolderRow {
		// An item first written in a log the folder lost
		// (folderOwnLogsLost) is written again from its first
		// revision, not as new: a replay that holds it already (from
		// a snapshot that covered the lost log, or from another
		// device's later entry, based on it) then merges the
		// changes made here since, rather than taking, field by
		// field, whichever side was modified last (MERGE.md rule 2),
		// which would undo this device's later edits of fields no
		// other device touched. The first revision goes in the
		// history as well: the replay keeps an entry's base only for
		// an item it does not hold yet, and the lost log may have
		// been the only place that carried this value.
		var first sql.NullInt64
		if err := q.QueryRowContext(ctx, `SELECT min(rev) FROM history WHERE id = ?`, p.id[:]).Scan(&first); err != nil {
			return e, s.damaged(err)
		}
		if first.Valid && first.Int64 > 0 && uint64(first.Int64) < p.cur {
			p.base = uint64(first.Int64)
			histFrom = p.base
		}
	}
	var err error
	if e.New, err = s.openAt(ctx, q, p.id, p.cur, p.cur); err != nil {
		return e, err
	}
	// The revisions made here since the last logged one, before the
	// current: the folder keeps them in the history.
	for rev := histFrom; rev < p.cur; rev++ {
		h, err := s.openAt(ctx, q, p.id, rev, p.cur)
		if err != nil {
			return e, err
		}
		e.Hist = append(e.Hist, h)
	}
	if p.base > 0 {
		if e.Base, err = s.openAt(ctx, q, p.id, p.base, p.cur); err != nil {
			return e, err
		}
	}
	return e, nil
}

// openAt opens revision rev of an item whose current revision is cur.
func (s *Session) openAt(ctx context.Context, q querier, id ItemID, rev, cur uint64) (*item.Item, error) {
	box, err := s.boxAt(ctx, q, id, rev, cur)
	if err != nil {
		return nil, err
	}
	it, err := s.open(id, rev, box)
	if err != nil {
		return nil, s.damaged(err)
	}
	return it, nil
}

// folderVoidEntry is an entry that changes nothing, of the first item
// (ok false in an empty vault).
func (s *Session) folderVoidEntry(ctx context.Context, q querier) (folder.Entry, bool, error) {
	var idb []byte
	var cur uint64
	var box []byte
	err := q.QueryRowContext(ctx, `SELECT id, rev, box FROM items ORDER BY id LIMIT 1`).Scan(&idb, &cur, &box)
	if err != nil || len(idb) != 16 {
		return folder.Entry{}, false, nil
	}
	id := ItemID(idb)
	it, err := s.open(id, cur, box)
	if err != nil {
		return folder.Entry{}, false, s.damaged(err)
	}
	return folder.Entry{ID: id, Base: it, New: it}, true, nil
}

// folderLogged records, once the logs are written, what they hold: each
// item's logged revision and the log (seqOf) and base of its entry, the
// last log number and the clock; lost logs are no longer to be voided.
func (s *Session) folderLogged(ctx context.Context, ps []folderPending, seqOf []uint64, seq, lamport uint64) error {
	tx, err := s.v.db.BeginTx(ctx, nil)
	if err != nil {
		return s.damaged(err)
	}
	defer tx.Rollback()
	for i, p := range ps {
		if _, err := tx.ExecContext(ctx, `INSERT INTO folder (id, rev, logged, digest) VALUES (?, 0, ?, x'')
			ON CONFLICT (id) DO UPDATE SET logged = max(logged, excluded.logged)`, p.id[:], p.cur); err != nil {
			return s.damaged(err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO folder_log (id, seq, base) VALUES (?, ?, ?)
			ON CONFLICT (id, seq) DO NOTHING`, p.id[:], seqOf[i], p.base); err != nil {
			return s.damaged(err)
		}
	}
	if err := putU64(ctx, tx, metaFolderLogSeq, seq); err != nil {
		return s.damaged(err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM meta WHERE k = ?`, metaFolderLogPrev); err != nil {
		return s.damaged(err)
	}
	if err := putU64(ctx, tx, metaFolderLamport, lamport); err != nil {
		return s.damaged(err)
	}
	return s.damaged0(tx.Commit())
}

// sealLogs writes entries to this device's next logs after number seq,
// as many as they need, all with clock lamport; the first follows log
// prev if that is below the number before it (declaring the numbers in
// between void). It returns each entry's log number and the last number
// written.
func (s *Session) sealLogs(me folder.DeviceID, sc *folder.Scan, ring folder.Ring, entries []folder.Entry, seq, lamport, prev uint64) ([]uint64, uint64, error) {
	seqOf := make([]uint64, len(entries))
	var err error
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
		if seq, err = s.nextOwnSeq(folder.KindLog, seq, sc, me, ring); err != nil {
			return nil, 0, err
		}
		h := folder.Header{AccountID: s.v.meta.accountID, KeyVersion: s.kv, Device: me, Seq: seq, Lamport: lamport}
		p := seq - 1
		if start == 0 {
			p = min(prev, p)
		}
		b, err := folder.SealLogAfter(s.ak, h, p, entries[start:end])
		if err != nil {
			return nil, 0, err
		}
		if err := folder.Write(sc.Root, me, folder.FileName(folder.KindLog, seq), b); err != nil {
			return nil, 0, err
		}
		for i := start; i < end; i++ {
			seqOf[i] = seq
		}
		start = end
	}
	return seqOf, seq, nil
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
	return s.write(ctx, func(tx *sql.Tx, l *ledger.Ledger) ([]*Entry, error) {
		rep.Added, rep.Updated, rep.Conflicts = 0, 0, nil
		var changed []*Entry
		for _, st := range items {
			id := ItemID(st.ID)
			e, took, err := s.folderApplyItem(ctx, tx, l, st, rep)
			if err != nil {
				return nil, err
			}
			if e != nil {
				changed = append(changed, e)
			}
			if cs := res.Conflicts[st.ID]; took && len(cs) > 0 && mine[id] {
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

// folderApplyItem brings one item to its replayed state st, unless the
// vault already took that state or the item was edited here since its
// changes were logged (took false). The values of st's history the vault
// does not hold yet become revisions, then st's content: each moves the
// one before it to the history. It returns the item's new entry if any
// revision was added.
func (s *Session) folderApplyItem(ctx context.Context, tx *sql.Tx, l *ledger.Ledger, st *folder.ItemState, rep *FolderReport) (*Entry, bool, error) {
	id := ItemID(st.ID)
	dg := s.folderDigest(st)
	var frev, flogged uint64
	var fdig []byte
	err := tx.QueryRowContext(ctx, `SELECT rev, logged, digest FROM folder WHERE id = ?`, id[:]).Scan(&frev, &flogged, &fdig)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, false, s.damaged(err)
	}
	cur, curBox, err := l.Tx().Current(ctx, id)
	if errors.Is(err, ledger.ErrMissing) {
		cur, curBox = 0, nil
	} else if err != nil {
		return nil, false, s.damaged(err)
	}
	if cur > max(frev, flogged) {
		return nil, false, nil // edited here meanwhile: logged and merged next time
	}
	if cur > 0 && cur == frev && bytes.Equal(fdig, dg) {
		return nil, false, nil
	}
	add, err := s.folderNew(ctx, tx, id, cur, curBox, st)
	if err != nil {
		return nil, false, err
	}
	rev := cur
	var prf [32]byte
	for _, it := range add {
		rev++
		box, err := s.seal(id, rev, it)
		if err != nil {
			return nil, false, err
		}
		if rev == 1 {
			prf, err = l.Add(ctx, id, rev, box)
		} else {
			prf, err = l.Advance(ctx, id, rev, box)
		}
		if err != nil {
			return nil, false, s.damaged(err)
		}
	}
	var e *Entry
	if len(add) > 0 {
		e = s.entryOf(id, rev, prf, st.Cur.Clone())
		if cur == 0 {
			rep.Added++
		} else {
			rep.Updated++
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO folder (id, rev, logged, digest) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET rev = excluded.rev, logged = excluded.logged, digest = excluded.digest`, id[:], rev, rev, dg); err != nil {
		return nil, false, s.damaged(err)
	}
	return e, true, nil
}

// folderNew returns the values of st the vault does not hold yet for
// item id (current revision cur, box curBox): those of its history, in
// order, then its current content if anything is new or it differs from
// the vault's current one.
func (s *Session) folderNew(ctx context.Context, q querier, id ItemID, cur uint64, curBox []byte, st *folder.ItemState) ([]*item.Item, error) {
	have := map[[32]byte]bool{}
	var curItem *item.Item
	if cur > 0 {
		var err error
		if curItem, err = s.open(id, cur, curBox); err != nil {
			return nil, s.damaged(err)
		}
		have[itemHash(curItem)] = true
		rows, err := q.QueryContext(ctx, `SELECT rev, box FROM history WHERE id = ?`, id[:])
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
	return add, nil
}

func itemHash(it *item.Item) [32]byte {
	b, _ := it.Marshal()
	defer clear(b)
	return sha256.Sum256(b)
}

// writeSnapshot writes the replayed state as this device's next
// snapshot and removes its older ones.
func (s *Session) writeSnapshot(ctx context.Context, me folder.DeviceID, sc *folder.Scan, res *folder.Result, ring folder.Ring) error {
	seq, err := getU64(ctx, s.v.db, metaFolderSnapSeq)
	if err != nil {
		return s.damaged(err)
	}
	if seq, err = s.nextOwnSeq(folder.KindSnapshot, seq, sc, me, ring); err != nil {
		return err
	}
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
