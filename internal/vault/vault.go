// Package vault is the local encrypted vault: a SQLite database (pure Go,
// WAL, every change one transaction, one writer at a time across
// processes) holding the account key envelope, the key check, the
// manifest, and one sealed box per item revision. Nothing in it is
// readable without the account key but ids, sizes and revision numbers.
package vault

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyhold/keyhold/internal/atomicfile"
	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/ledger"
	"github.com/keyhold/keyhold/internal/ledger/sqlitestore"
	"github.com/keyhold/keyhold/internal/replica"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// DBFile is the vault database's name inside the vault directory.
const DBFile = "vault.db"

// SchemaVersion is the version of the database layout (docs/SPEC.md).
const SchemaVersion = "1"

// Errors a user can act on.
var (
	ErrNoVault     = errors.New("no vault here")
	ErrVaultExists = errors.New("a vault already exists here")
	ErrDamaged     = errors.New("the vault file is damaged")
	// ErrNotFound and ErrConflict are the sync rules' (package replica),
	// which the vault's item writes go through.
	ErrNotFound     = replica.ErrNotFound
	ErrAmbiguous    = errors.New("several items match")
	ErrConflict     = replica.ErrConflict
	ErrWrongAccount = errors.New("belongs to another account")
	ErrRotated      = ledger.ErrRotated
)

// schema is the database layout: the ledger's tables (meta, items,
// history); sync and folder sync add theirs when enabled.
const schema = sqlitestore.Schema

// Vault is an open vault directory. It holds no key; Unlock gives a
// Session that does.
type Vault struct {
	Dir  string
	db   *sql.DB
	meta meta
	opts options
}

type meta struct {
	accountID keys.AccountID
	envelope  *format.Envelope
	keyCheck  *format.KeyCheck
}

func dsn(path string, readOnly bool) string {
	// busy_timeout lets a second writer wait for the first instead of
	// failing; _txlock=immediate takes the write lock at BEGIN, so two
	// read-modify-write transactions cannot deadlock on lock upgrade.
	// synchronous(FULL) makes a returned commit durable.
	q := "_pragma=busy_timeout(30000)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_txlock=immediate"
	// journal_mode is not in the DSN: WAL is a persistent property of
	// the file, set when the vault is built (buildVault), and asking for
	// it on every open takes a lock that can fail with SQLITE_BUSY
	// without waiting while another process is checkpointing.
	if readOnly {
		q += "&mode=ro"
	}
	return "file:" + filepath.ToSlash(path) + "?" + q
}

func openDB(path string, readOnly bool) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn(path, readOnly))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, dbError(path, err)
	}
	if !readOnly {
		if err := ensureWAL(db); err != nil {
			db.Close()
			return nil, dbError(path, err)
		}
	}
	return db, nil
}

// ensureWAL switches a database that is not yet in WAL mode (one copied
// by an older version, or by VACUUM INTO) to it. The switch needs a moment
// alone with the file; if another process holds it, SQLite answers BUSY at
// once rather than waiting, so the switch is retried for a while.
func ensureWAL(db *sql.DB) error {
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if strings.EqualFold(mode, "wal") {
		return nil
	}
	var err error
	for delay := 5 * time.Millisecond; delay < 5*time.Second; delay *= 2 {
		if err = db.QueryRow("PRAGMA journal_mode=WAL").Scan(&mode); err == nil {
			return nil
		}
		if !strings.Contains(err.Error(), "SQLITE_BUSY") && !strings.Contains(err.Error(), "database is locked") {
			return err
		}
		time.Sleep(delay)
	}
	return err
}

// dbError turns SQLite's corruption messages into ErrDamaged with a hint.
func dbError(path string, err error) error {
	if err == nil {
		return nil
	}
	s := err.Error()
	if strings.Contains(s, "not a database") || strings.Contains(s, "malformed") ||
		strings.Contains(s, "SQLITE_CORRUPT") || strings.Contains(s, "SQLITE_NOTADB") || strings.Contains(s, "disk I/O error") {
		return fmt.Errorf("%w: %s (%v)", ErrDamaged, path, err)
	}
	return err
}

// Exists reports whether dir holds a vault database.
func Exists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, DBFile))
	return err == nil
}

// Open opens the vault in dir and reads its public metadata (account id,
// envelope, key check). It checks the formats but needs no key.
func Open(dir string, o ...Option) (*Vault, error) {
	path := filepath.Join(dir, DBFile)
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrNoVault, dir)
		}
		return nil, err
	}
	return openPath(dir, path, false, newOptions(o))
}

func openPath(dir, path string, readOnly bool, opts options) (*Vault, error) {
	db, err := openDB(path, readOnly)
	if err != nil {
		return nil, err
	}
	v := &Vault{Dir: dir, db: db, opts: opts}
	if err := v.loadMeta(context.Background()); err != nil {
		db.Close()
		return nil, err
	}
	return v, nil
}

// Close closes the database.
func (v *Vault) Close() error { return v.db.Close() }

// AccountID returns the vault's account id.
func (v *Vault) AccountID() keys.AccountID { return v.meta.accountID }

// Envelope returns the vault's current account key envelope.
func (v *Vault) Envelope() *format.Envelope { return v.meta.envelope }

// KeyVersion returns the current account key version.
func (v *Vault) KeyVersion() uint32 { return v.meta.keyCheck.KeyVersion }

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// readTx starts a read transaction: in WAL mode it reads one consistent
// snapshot, so a manifest and the rows it describes are never read from
// two different commits of a concurrent writer.
func (v *Vault) readTx(ctx context.Context) (*sql.Tx, error) {
	tx, err := v.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, dbError(v.path(), err)
	}
	return tx, nil
}

func getMeta(ctx context.Context, q querier, k string) ([]byte, error) {
	var b []byte
	err := q.QueryRowContext(ctx, `SELECT v FROM meta WHERE k = ?`, k).Scan(&b)
	return b, err
}

func (v *Vault) loadMeta(ctx context.Context) error {
	path := filepath.Join(v.Dir, DBFile)
	damaged := func(what string, err error) error {
		return fmt.Errorf("%w: %s: %s: %v", ErrDamaged, path, what, err)
	}
	sv, err := getMeta(ctx, v.db, "schema")
	if err != nil {
		if err2 := dbError(path, err); err2 != err {
			return err2
		}
		return damaged("no schema version", err)
	}
	if string(sv) != SchemaVersion {
		return fmt.Errorf("%s: vault layout version %q is not supported by this keyhold (upgrade keyhold)", path, sv)
	}
	idb, err := getMeta(ctx, v.db, "account_id")
	if err != nil || len(idb) != 16 {
		return damaged("account id", err)
	}
	copy(v.meta.accountID[:], idb)
	eb, err := getMeta(ctx, v.db, "envelope")
	if err != nil {
		return damaged("envelope", err)
	}
	if v.meta.envelope, err = format.ParseEnvelope(eb); err != nil {
		return damaged("envelope", err)
	}
	kb, err := getMeta(ctx, v.db, "keycheck")
	if err != nil {
		return damaged("key check", err)
	}
	if v.meta.keyCheck, err = format.ParseKeyCheck(kb); err != nil {
		return damaged("key check", err)
	}
	if v.meta.envelope.AccountID != v.meta.accountID || v.meta.keyCheck.AccountID != v.meta.accountID {
		return damaged("account id", errors.New("envelope, key check and vault name different accounts"))
	}
	if v.meta.envelope.KeyVersion != v.meta.keyCheck.KeyVersion {
		return damaged("key version", errors.New("the envelope and the key check name different key versions"))
	}
	return nil
}

// CreateOptions configure a new vault.
type CreateOptions struct {
	Email string
	KDF   keys.KDFParams
}

// Create makes a new account and vault in dir: a fresh account id, account
// key and Secret Key; the envelope under the password; the key check; an
// empty manifest. The database is built under a temporary name and renamed
// into place, so a failed create leaves nothing.
func Create(dir string, pw []byte, opts CreateOptions, o ...Option) (*Created, error) {
	if Exists(dir) {
		return nil, fmt.Errorf("%w: %s", ErrVaultExists, dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	id, err := keys.NewAccountID()
	if err != nil {
		return nil, err
	}
	ak, err := keys.NewAccountKey()
	if err != nil {
		return nil, err
	}
	defer ak.Wipe()
	sk, err := keys.NewSecretKey()
	if err != nil {
		return nil, err
	}
	env, d, err := format.NewEnvelope(ak, id, 1, 1, pw, sk, opts.KDF)
	if err != nil {
		return nil, err
	}
	login := new(keys.Key32)
	*login = d.Login
	d.Wipe()
	kc, err := format.NewKeyCheck(ak, id, 1)
	if err != nil {
		return nil, err
	}
	idx := &Session{v: &Vault{meta: meta{accountID: id}}, ak: ak, kv: 1, mk: format.ManifestKey(ak)}
	defer idx.mk.Wipe()
	di := &DeviceInfo{AccountID: id, SecretKey: sk, Email: opts.Email, KDFFloor: opts.KDF}
	if err := buildVault(dir, func(tx *sql.Tx, l *ledger.Ledger) error {
		if err := putMetas(tx, map[string][]byte{
			"schema": []byte(SchemaVersion), "account_id": id[:], "envelope": env.Marshal(),
			"keycheck": kc.Marshal(),
		}); err != nil {
			return err
		}
		return idx.writeIndex(context.Background(), tx, nil)
	}, idx.keys(), 1, 0, di, newOptions(o).sec); err != nil {
		return nil, err
	}
	return &Created{AccountID: id, SecretKey: sk, Login: login}, nil
}

// putMetas inserts meta values into a vault being built.
func putMetas(tx *sql.Tx, vals map[string][]byte) error {
	for k, val := range vals {
		if _, err := tx.Exec(`INSERT INTO meta (k, v) VALUES (?, ?)`, k, val); err != nil {
			return err
		}
	}
	return nil
}

// buildVault creates the database under a temporary name in dir, fills it
// with fill (items through a fresh ledger for key version kv, whose
// manifest is stored at sequence seq), writes the device file, and
// renames the database into place last: until that rename there is no
// vault, and on failure both are removed.
func buildVault(dir string, fill func(*sql.Tx, *ledger.Ledger) error, k ledger.Keys, kv uint32, seq uint64, di *DeviceInfo, sc secrets) (err error) {
	tmp := filepath.Join(dir, ".new-"+DBFile)
	for _, suf := range []string{"", "-wal", "-shm"} {
		os.Remove(tmp + suf)
	}
	devPath := filepath.Join(dir, DeviceFile)
	defer func() {
		if err != nil {
			for _, suf := range []string{"", "-wal", "-shm"} {
				os.Remove(tmp + suf)
			}
			sc.removeDeviceFile(devPath) // and its Secret Key file or key store entry
		}
	}()
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(tmp)+"?_pragma=synchronous(FULL)&_pragma=journal_mode(DELETE)&_txlock=immediate")
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(1)
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	if _, err := tx.Exec(schema); err != nil {
		tx.Rollback()
		return err
	}
	l := ledger.Fresh(sqlitestore.Wrap(tx), k, kv, seq)
	if err := fill(tx, l); err != nil {
		tx.Rollback()
		return err
	}
	if err := l.Commit(context.Background()); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	// WAL is recorded in the file header; closing the only connection
	// checkpoints and removes the -wal file, so the rename below moves
	// everything.
	if _, err := db.Exec("PRAGMA journal_mode=WAL"); err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	if err := sc.writeDevice(devPath, di); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, DBFile)); err != nil {
		return err
	}
	return atomicfile.SyncDir(dir)
}

// staleNext is how old a device.json.next that does not fit the vault's
// envelope must be before it is taken for the leftover of a rotation
// that never committed. A key rotation commits in well under this.
const staleNext = 15 * time.Minute

// Device reads this device's secrets for the vault.
func (v *Vault) Device() (*DeviceInfo, error) {
	path := filepath.Join(v.Dir, DeviceFile)
	// Finish a key rotation that was interrupted between writing the new
	// Secret Key and renaming it into place: keep whichever Secret Key
	// matches the committed envelope.
	if next, err := v.opts.sec.readDevice(path + ".next"); err == nil {
		if v.meta.envelope.CheckSecretKey(next.SecretKey) == nil {
			if err := os.Rename(path+".next", path); err != nil {
				return nil, err
			}
		} else if st, err := os.Stat(path + ".next"); err == nil && time.Since(st.ModTime()) > staleNext {
			// A rotation that never committed. A younger file may be
			// one that another process is committing right now (this
			// process may hold the envelope from before it): leave it.
			v.opts.sec.removeDeviceFile(path + ".next")
		}
		next.SecretKey.Wipe()
	}
	di, err := v.opts.sec.readDevice(path)
	if err != nil {
		return nil, err
	}
	if di.AccountID != v.meta.accountID {
		return nil, fmt.Errorf("%s names account %s but the vault is account %s: %w", DeviceFile, di.AccountID, v.meta.accountID, ErrWrongAccount)
	}
	return di, nil
}

// KeyCheckBytes returns the encoded key check (SPEC §8).
func (v *Vault) KeyCheckBytes() []byte { return v.meta.keyCheck.Marshal() }
