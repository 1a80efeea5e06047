package store

import (
	"context"
	"errors"
	"time"
)

// One implementation of Store (db.go) runs on both databases; a backend
// supplies what differs: transactions, locking, notification, backup and
// the meaning of driver errors. Queries are written once, with $N
// placeholders and SQL both dialects accept.

// querier runs statements in a transaction or on a pool.
type querier interface {
	exec(ctx context.Context, q string, args ...any) (rowsAffected int64, err error)
	query(ctx context.Context, q string, args ...any) (rows, error)
	queryRow(ctx context.Context, q string, args ...any) row
}

type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// row.Scan returns errNoRows when the query found nothing.
type row interface {
	Scan(dest ...any) error
}

type tx interface {
	querier
	commit(ctx context.Context) error
	rollback(ctx context.Context)
}

type backend interface {
	dialect() string
	// reads runs single reading statements that need no transaction;
	// writes runs single writing statements, each its own transaction.
	reads() querier
	writes() querier
	// begin starts a read-write transaction (write) or a read-only one
	// that sees one snapshot.
	begin(ctx context.Context, write bool) (tx, error)
	// forUpdate is appended to the account row's SELECT in write
	// transactions, to serialise writers of one account.
	forUpdate() string
	// notify announces the account's new head: inside the transaction
	// for PostgreSQL (delivered on commit), after it for SQLite.
	notifyInTx(ctx context.Context, t tx, account ID, head uint64) error
	notifyAfter(account ID, head uint64)
	subscribe(ctx context.Context, account ID) (<-chan uint64, error)
	backup(ctx context.Context, path string) error
	ping(ctx context.Context) error
	close() error
	// classify maps a driver error to errUnique, errForeignKey or nil.
	classify(err error) error
}

var (
	errNoRows     = errors.New("no rows")
	errUnique     = errors.New("unique violation")
	errForeignKey = errors.New("foreign key violation")
)

// Times are stored as microseconds since 1970 UTC, 0 for the zero time:
// one representation both dialects index and compare alike.
func ts(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func tm(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

// b16 passes an ID to the database.
func b16(id ID) []byte { return id[:] }

// idFrom reads an ID back; a NULL or short column gives the zero ID.
func idFrom(b []byte) ID {
	var id ID
	if len(b) == len(id) {
		copy(id[:], b)
	}
	return id
}

// nullID stores the zero ID as NULL.
func nullID(id ID) []byte {
	if id == (ID{}) {
		return nil
	}
	return id[:]
}
