package store

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// notifyChannel carries "account-id-hex:head" after every change, to every
// replica that listens.
const notifyChannel = "keyhold_head"

// migrationLock is the pg_advisory_lock key that serialises schema
// migrations of replicas starting at once ("keyhold" in ASCII).
const migrationLock = 0x6b6579686f6c64

// OpenPostgres connects to the PostgreSQL database at url (a postgres://
// URL as libpq and pgx accept it) and brings its schema up to date. Every
// replica of keyhold-server may open the same database.
func OpenPostgres(ctx context.Context, url string) (Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err) // pgconn hides the password
	}
	where := cfg.ConnConfig.Host + ":" + strconv.Itoa(int(cfg.ConnConfig.Port)) + "/" + cfg.ConnConfig.Database
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL at %s: %w", where, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL at %s: %w (is the server running, and the URL right?)", where, err)
	}
	life, cancel := context.WithCancel(context.Background())
	b := &pgBackend{pool: pool, url: url, hub: newHub(), life: life, cancel: cancel}
	d := &db{b: b}
	if err := b.migrate(ctx, d); err != nil {
		b.close()
		return nil, fmt.Errorf("PostgreSQL database %s: %w", where, err)
	}
	return d, nil
}

type pgBackend struct {
	pool *pgxpool.Pool
	url  string // for pg_dump; never printed
	hub  *hub

	life   context.Context // ends at close, and with it the listener
	cancel context.CancelFunc

	mu        sync.Mutex
	listening bool
	closed    bool
	done      chan struct{} // closed when the listener has stopped
}

func (b *pgBackend) dialect() string   { return "postgres" }
func (b *pgBackend) reads() querier    { return pgQ{b.pool} }
func (b *pgBackend) writes() querier   { return pgQ{b.pool} }
func (b *pgBackend) forUpdate() string { return " FOR UPDATE" }

func (b *pgBackend) begin(ctx context.Context, write bool) (tx, error) {
	opts := pgx.TxOptions{IsoLevel: pgx.ReadCommitted}
	if !write {
		// One snapshot, so that the head and the revisions agree.
		opts = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	}
	t, err := b.pool.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return pgTx{pgQ{t}, t}, nil
}

func (b *pgBackend) migrate(ctx context.Context, d *db) error {
	// The advisory lock lives on a connection of its own, closed at the
	// end, so it can never stay behind in the pool.
	conn, err := pgx.ConnectConfig(ctx, b.pool.Config().ConnConfig)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLock)); err != nil {
		return fmt.Errorf("wait for other replicas' schema migration: %w", err)
	}
	return migrate(ctx, d)
}

// notifyInTx does nothing on PostgreSQL: a NOTIFY inside the change's
// transaction makes the whole instance commit such transactions one at a
// time (a global lock held across each one's WAL flush), which capped
// pushes under load. The notification is sent right after the commit
// instead (notifyAfter).
func (b *pgBackend) notifyInTx(context.Context, tx, ID, uint64) error { return nil }

// notifyAfter announces a committed change to every replica's listener
// (ours included). It is a hint: if it is lost (a crash right after the
// commit), devices still see the change on their next sync or reconnect.
// Its own transaction need not wait for a disk flush.
func (b *pgBackend) notifyAfter(account ID, head uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	t, err := b.pool.Begin(ctx)
	if err != nil {
		return
	}
	defer t.Rollback(ctx)
	if _, err := t.Exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
		return
	}
	if _, err := t.Exec(ctx, `SELECT pg_notify($1, $2)`, notifyChannel, formatHead(account, head)); err != nil {
		return
	}
	t.Commit(ctx)
}

func (b *pgBackend) subscribe(ctx context.Context, account ID) (<-chan uint64, error) {
	if err := b.listen(ctx); err != nil {
		return nil, err
	}
	return b.hub.subscribe(ctx, account, b), nil
}

// listen starts the listener on first use. It returns once LISTEN is in
// effect, so a change committed after Subscribe returns is never missed.
func (b *pgBackend) listen(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("subscribe: the store is closed")
	}
	if b.listening {
		return nil
	}
	conn, err := b.connectListener(ctx)
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	b.listening = true
	b.done = make(chan struct{})
	go b.listenLoop(conn)
	return nil
}

func (b *pgBackend) connectListener(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, b.pool.Config().ConnConfig)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

func (b *pgBackend) listenLoop(conn *pgx.Conn) {
	defer close(b.done)
	for {
		n, err := conn.WaitForNotification(b.life)
		if err == nil {
			b.deliver(n.Payload)
			continue
		}
		conn.Close(context.Background())
		if b.life.Err() != nil {
			return
		}
		// The connection broke: reconnect, then tell every subscriber the
		// head now, since notifications sent meanwhile are lost.
		for delay := 100 * time.Millisecond; ; delay = min(2*delay, 10*time.Second) {
			select {
			case <-b.life.Done():
				return
			case <-time.After(delay):
			}
			if conn, err = b.connectListener(b.life); err == nil {
				break
			}
		}
		for _, id := range b.hub.accounts() {
			var head int64
			if err := b.pool.QueryRow(b.life, `SELECT head FROM accounts WHERE id = $1`, id[:]).Scan(&head); err == nil {
				b.hub.publish(id, uint64(head))
			}
		}
	}
}

func (b *pgBackend) deliver(payload string) {
	if account, head, ok := parseHead(payload); ok {
		b.hub.publish(account, head)
	}
}

// formatHead and parseHead are the notification payload: the account id in
// hex, a colon, the head in decimal.
func formatHead(account ID, head uint64) string {
	return hex.EncodeToString(account[:]) + ":" + strconv.FormatUint(head, 10)
}

func parseHead(payload string) (account ID, head uint64, ok bool) {
	acct, h, found := strings.Cut(payload, ":")
	if !found || len(acct) != 2*len(account) {
		return ID{}, 0, false
	}
	if _, err := hex.Decode(account[:], []byte(acct)); err != nil {
		return ID{}, 0, false
	}
	head, err := strconv.ParseUint(h, 10, 64)
	if err != nil {
		return ID{}, 0, false
	}
	return account, head, true
}

func (b *pgBackend) ping(ctx context.Context) error { return b.pool.Ping(ctx) }

func (b *pgBackend) close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	listening := b.listening
	b.mu.Unlock()
	b.cancel()
	if listening {
		<-b.done
	}
	b.hub.closeOwner(b)
	b.pool.Close()
	return nil
}

func (b *pgBackend) classify(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return errUnique
		case "23503":
			return errForeignKey
		}
	}
	return nil
}

// backup runs pg_dump, which reads one snapshot by itself, into a new file
// of plain SQL (restore it with psql). The password travels in the
// environment, never on the command line where other users could see it.
func (b *pgBackend) backup(ctx context.Context, path string) error {
	bin, err := b.findPgDump(ctx)
	if err != nil {
		return err
	}
	env, err := libpqEnv(b.url)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("backup: %s already exists: choose a new file name", path)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--no-password", "--format=plain", "--no-owner", "--no-privileges")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, &stderr
	err = cmd.Run()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("backup with %s: %w: %s", bin, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// findPgDump prefers the pg_dump of the server's major version (an older
// one refuses to dump a newer server), then the one on PATH.
func (b *pgBackend) findPgDump(ctx context.Context) (string, error) {
	var num int
	if err := b.pool.QueryRow(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&num); err == nil {
		p := filepath.Join("/usr/lib/postgresql", strconv.Itoa(num/10000), "bin", "pg_dump")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("pg_dump"); err == nil {
		return p, nil
	}
	return "", errors.New("backup: pg_dump not found: install the PostgreSQL client (Debian: postgresql-client) or put pg_dump on PATH")
}

// libpqEnv turns a connection URL into libpq environment variables, on top
// of this process's environment (whose PG* settings pgx honours too).
func libpqEnv(connURL string) ([]string, error) {
	cfg, err := pgconn.ParseConfig(connURL)
	if err != nil {
		return nil, err
	}
	env := append(os.Environ(),
		"PGHOST="+cfg.Host,
		"PGPORT="+strconv.Itoa(int(cfg.Port)),
		"PGUSER="+cfg.User,
		"PGDATABASE="+cfg.Database,
	)
	if cfg.Password != "" {
		env = append(env, "PGPASSWORD="+cfg.Password)
	}
	if u, err := url.Parse(connURL); err == nil {
		names := map[string]string{
			"sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT",
			"sslkey": "PGSSLKEY", "sslcrl": "PGSSLCRL", "sslsni": "PGSSLSNI",
			"channel_binding": "PGCHANNELBINDING", "connect_timeout": "PGCONNECT_TIMEOUT",
			"target_session_attrs": "PGTARGETSESSIONATTRS", "passfile": "PGPASSFILE",
			"service": "PGSERVICE", "options": "PGOPTIONS",
		}
		for k, vs := range u.Query() {
			if name, ok := names[k]; ok && len(vs) > 0 {
				env = append(env, name+"="+vs[len(vs)-1])
			}
		}
	}
	return env, nil
}

// pgQ runs the shared queries on a pool or a transaction.
type pgQ struct {
	q interface {
		Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
		QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	}
}

func (p pgQ) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := p.q.Exec(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (p pgQ) query(ctx context.Context, q string, args ...any) (rows, error) {
	return p.q.Query(ctx, q, args...)
}

func (p pgQ) queryRow(ctx context.Context, q string, args ...any) row {
	return pgRow{p.q.QueryRow(ctx, q, args...)}
}

type pgRow struct{ r pgx.Row }

func (r pgRow) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return errNoRows
	}
	return err
}

type pgTx struct {
	pgQ
	t pgx.Tx
}

func (t pgTx) commit(ctx context.Context) error { return t.t.Commit(ctx) }
func (t pgTx) rollback(ctx context.Context)     { t.t.Rollback(context.WithoutCancel(ctx)) }
