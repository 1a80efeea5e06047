package store

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// An opener opens a Store on one database; each call opens another Store
// (another replica) on the same database.
type opener func() (Store, error)

// openT opens a Store that is closed when the test ends.
func openT(t testing.TB, open opener) Store {
	t.Helper()
	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// dialects make a fresh, empty database for each test.
var dialects = []struct {
	name  string
	newDB func(t testing.TB) opener
}{
	{"sqlite", func(t testing.TB) opener {
		path := filepath.Join(t.TempDir(), SQLiteFile)
		return func() (Store, error) { return OpenSQLite(path) }
	}},
	{"postgres", func(t testing.TB) opener {
		url := pgtest.New(t)
		return func() (Store, error) { return OpenPostgres(context.Background(), url) }
	}},
}

// TestStore runs the one suite against every dialect.
func TestStore(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			storetest(t, d.newDB)
		})
	}
}

var ctx = context.Background()

func newID(testing.TB) ID { return randomID() }

func randomID() ID {
	var id ID
	rand.Read(id[:]) // never fails
	return id
}

// now is a time the store keeps exactly (it keeps microseconds).
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// fixture is an account with one device on a fresh database.
type fixture struct {
	s       Store
	open    opener
	account ID
	device  ID
}

func newFixture(t *testing.T, newDB func(testing.TB) opener) *fixture {
	open := newDB(t)
	f := &fixture{s: openT(t, open), open: open}
	f.account, f.device = createAccount(t, f.s)
	return f
}

func createAccount(t testing.TB, s Store) (account, device ID) {
	account, device = newID(t), newID(t)
	err := s.CreateAccount(ctx,
		&Account{ID: account, Email: "a@example.org", Created: now()},
		&Keys{Envelope: []byte("env1"), KeyCheck: []byte("kc1"), KeyVersion: 1, Record: []byte("rec1")},
		&Device{ID: device, AccountID: account, Name: "laptop", Platform: "linux"})
	if err != nil {
		t.Fatal(err)
	}
	return account, device
}

// box is the content a test stores for one revision of one item, so that
// Changes can be checked against what was pushed.
func box(item ID, rev uint64) []byte { return []byte(fmt.Sprintf("box-%x-%d", item[:4], rev)) }

// newRevs makes revisions base+1 … base+n of item.
func newRevs(item ID, base uint64, n int) PushItem {
	it := PushItem{ItemID: item, BaseRev: base}
	for i := 1; i <= n; i++ {
		r := base + uint64(i)
		it.Revs = append(it.Revs, Revision{Rev: r, Box: box(item, r)})
	}
	return it
}

func push(t testing.TB, s Store, account ID, cursor uint64, items ...PushItem) *PushResult {
	t.Helper()
	res, err := s.Push(ctx, account, cursor, items, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func changes(t testing.TB, s Store, account ID, since uint64, limit int) ([]Revision, uint64, *Manifest) {
	t.Helper()
	revs, head, m, err := s.Changes(ctx, account, since, limit)
	if err != nil {
		t.Fatal(err)
	}
	return revs, head, m
}
