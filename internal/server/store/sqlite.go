package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// OpenSQLite opens (creating it if needed, with mode 0600) the SQLite
// database at path and brings its schema up to date.
//
// Writes go through one connection and take the write lock when they
// begin (BEGIN IMMEDIATE), so SQLite serialises them without lock-upgrade
// deadlocks; reads use a separate pool and see WAL snapshots, so they do
// not wait for writers. Commits are durable (synchronous FULL).
func OpenSQLite(path string) (Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	f.Close()

	b := &sqliteBackend{path: abs}
	if b.w, err = openSQLitePool(abs, true); err != nil {
		return nil, err
	}
	d := &db{b: b}
	if err := migrate(context.Background(), d); err != nil {
		b.w.Close()
		return nil, fmt.Errorf("database %s: %w", abs, err)
	}
	if b.r, err = openSQLitePool(abs, false); err != nil {
		b.w.Close()
		return nil, err
	}
	b.hub = acquireHub(abs)
	return d, nil
}

func openSQLitePool(path string, write bool) (*sql.DB, error) {
	// busy_timeout makes a writer in another process wait rather than
	// fail; foreign_keys is off by default in SQLite.
	q := "_pragma=busy_timeout(30000)&_pragma=foreign_keys(1)"
	if write {
		q += "&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate"
	} else {
		q += "&_pragma=query_only(1)&_txlock=deferred"
	}
	p, err := sql.Open("sqlite", "file:"+sqliteURIPath(path)+"?"+q)
	if err != nil {
		return nil, err
	}
	if write {
		p.SetMaxOpenConns(1)
	} else {
		n := max(4, runtime.GOMAXPROCS(0))
		p.SetMaxOpenConns(n)
		p.SetMaxIdleConns(n)
	}
	if err := p.Ping(); err != nil {
		p.Close()
		return nil, fmt.Errorf("open database %s: %w (is it a keyhold-server database?)", path, err)
	}
	return p, nil
}

// sqliteURIPath escapes what SQLite's URI parser would misread in a path.
func sqliteURIPath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(p))
}

type sqliteBackend struct {
	path      string
	w, r      *sql.DB
	hub       *hub
	closeOnce sync.Once
	closeErr  error
}

func (b *sqliteBackend) dialect() string   { return "sqlite" }
func (b *sqliteBackend) reads() querier    { return sqliteQ{b.r} }
func (b *sqliteBackend) writes() querier   { return sqliteQ{b.w} }
func (b *sqliteBackend) forUpdate() string { return "" }

func (b *sqliteBackend) begin(ctx context.Context, write bool) (tx, error) {
	p := b.r
	if write {
		p = b.w
	}
	t, err := p.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return sqliteTx{sqliteQ{t}, t}, nil
}

func (b *sqliteBackend) notifyInTx(context.Context, tx, ID, uint64) error { return nil }

func (b *sqliteBackend) notifyAfter(account ID, head uint64) { b.hub.publish(account, head) }

func (b *sqliteBackend) subscribe(ctx context.Context, account ID) (<-chan uint64, error) {
	return b.hub.subscribe(ctx, account, b), nil
}

func (b *sqliteBackend) ping(ctx context.Context) error {
	if err := b.w.PingContext(ctx); err != nil {
		return err
	}
	return b.r.PingContext(ctx)
}

func (b *sqliteBackend) close() error {
	b.closeOnce.Do(func() {
		b.hub.closeOwner(b)
		releaseHub(b.path)
		b.closeErr = errors.Join(b.r.Close(), b.w.Close())
	})
	return b.closeErr
}

func (b *sqliteBackend) classify(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return errUnique
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return errForeignKey
		}
	}
	return nil
}

// backup writes a compacted, consistent copy with VACUUM INTO, which reads
// one snapshot and does not stop writers.
func (b *sqliteBackend) backup(ctx context.Context, path string) error {
	// Create the file ourselves: O_EXCL refuses to overwrite anything, and
	// the copy holds what the database holds, so it gets mode 0600.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("backup: %s already exists: choose a new file name", path)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	f.Close()
	// A connection of its own: the readers are query_only, and the writer
	// must stay free for writes while the copy is made.
	c, err := sql.Open("sqlite", "file:"+sqliteURIPath(b.path)+"?_pragma=busy_timeout(30000)")
	if err == nil {
		defer c.Close()
		_, err = c.ExecContext(ctx, `VACUUM INTO ?1`, path)
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	return nil
}

// sqliteQ runs the shared queries, rewriting PostgreSQL's $N placeholders
// as SQLite's ?N (both number their parameters the same way).
type sqliteQ struct {
	q interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
}

var placeholder = regexp.MustCompile(`\$([0-9]+)`)

// rewritten caches the rewriting of the fixed, short queries.
var rewritten sync.Map

func sqliteSQL(q string) string {
	if v, ok := rewritten.Load(q); ok {
		return v.(string)
	}
	s := placeholder.ReplaceAllString(q, "?${1}")
	if len(q) < 2048 {
		rewritten.Store(q, s)
	}
	return s
}

func (s sqliteQ) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := s.q.ExecContext(ctx, sqliteSQL(q), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (s sqliteQ) query(ctx context.Context, q string, args ...any) (rows, error) {
	rs, err := s.q.QueryContext(ctx, sqliteSQL(q), args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rs}, nil
}

func (s sqliteQ) queryRow(ctx context.Context, q string, args ...any) row {
	return sqlRow{s.q.QueryRowContext(ctx, sqliteSQL(q), args...)}
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

type sqlRow struct{ r *sql.Row }

func (r sqlRow) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return errNoRows
	}
	return err
}

type sqliteTx struct {
	sqliteQ
	t *sql.Tx
}

func (t sqliteTx) commit(context.Context) error { return t.t.Commit() }
func (t sqliteTx) rollback(context.Context)     { t.t.Rollback() }

// One hub per database file, so that two Stores open on one file in this
// process (as in tests) see each other's changes.
var sqliteHubs = struct {
	sync.Mutex
	m map[string]*sharedHub
}{m: make(map[string]*sharedHub)}

type sharedHub struct {
	h    *hub
	refs int
}

func acquireHub(path string) *hub {
	sqliteHubs.Lock()
	defer sqliteHubs.Unlock()
	s := sqliteHubs.m[path]
	if s == nil {
		s = &sharedHub{h: newHub()}
		sqliteHubs.m[path] = s
	}
	s.refs++
	return s.h
}

func releaseHub(path string) {
	sqliteHubs.Lock()
	defer sqliteHubs.Unlock()
	if s := sqliteHubs.m[path]; s != nil {
		if s.refs--; s.refs == 0 {
			delete(sqliteHubs.m, path)
		}
	}
}
