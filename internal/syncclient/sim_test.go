package syncclient

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/server"
	"github.com/keyhold/keyhold/internal/server/store"
	"github.com/keyhold/keyhold/internal/vault"
)

// The simulation runs a real keyhold-server (in-process, over loopback
// HTTP, on SQLite) and several devices, each a real vault in its own
// directory. Devices edit offline at random and sync in random order; at
// the end every device must hold the same vault, every value ever written
// must be in an item or its history, and every vault must verify.

var testKDF = keys.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}

var testPassword = []byte("correct horse battery staple")

type device struct {
	dir string
	v   *vault.Vault
	s   *vault.Session
	y   *Syncer
}

// addNotesAndSync adds n notes titled "note 0" … and syncs them to the
// server.
func (d *device) addNotesAndSync(t testing.TB, n int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		if _, err := d.s.Add(ctx, item.New(item.Note, fmt.Sprintf("note %d", i), vault.Now())); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.y.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

type testServer struct {
	url string
	st  store.Store
	db  string // the server's SQLite file, for tests that put back old rows
}

func startServer(t testing.TB) *testServer {
	t.Helper()
	db := filepath.Join(t.TempDir(), "server.db")
	st, err := store.OpenSQLite(db)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
		st.Close()
	})
	return &testServer{url: hs.URL, st: st, db: db}
}

func openDevice(t testing.TB, dir string, pw []byte, opts ...vault.Option) *device {
	t.Helper()
	v, err := vault.Open(dir, append(testOpts(), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	s, login, err := v.UnlockLogin(pw)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := cfg.Client()
	if err != nil {
		t.Fatal(err)
	}
	// Password changes and rotations prove the password the device was
	// opened with, as the CLI does (docs/LOGIN.md "Fresh proof").
	prove := func(ctx context.Context) error { return Reauth(ctx, cl, cfg, v.AccountID(), login) }
	d := &device{dir: dir, v: v, s: s, y: &Syncer{C: cl, S: s, Prove: prove}}
	t.Cleanup(func() { s.Close(); v.Close() })
	return d
}

// newAccount creates an account on the server from a new vault and
// returns its first device and what other devices need to join.
func newAccount(t testing.TB, ts *testServer, root string, opts ...vault.Option) (*device, *vault.Created) {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(root, "dev0")
	created, err := vault.Create(dir, testPassword, vault.CreateOptions{KDF: testKDF}, testOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(dir, testOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.EnableSync(ctx); err != nil {
		t.Fatal(err)
	}
	cfg, err := NewConfig(ts.url, "", hostName())
	if err != nil {
		t.Fatal(err)
	}
	cl, err := cfg.Client()
	if err != nil {
		t.Fatal(err)
	}
	if err := Register(ctx, cl, cfg, v, created.Login, ""); err != nil {
		t.Fatal(err)
	}
	if err := saveConfig(dir, cfg); err != nil {
		t.Fatal(err)
	}
	v.Close()
	return openDevice(t, dir, testPassword, opts...), created
}

func joinDevice(t testing.TB, ts *testServer, root string, n int, created *vault.Created, opts ...vault.Option) *device {
	t.Helper()
	dir := filepath.Join(root, fmt.Sprintf("dev%d", n))
	cfg, err := NewConfig(ts.url, "", hostName())
	if err != nil {
		t.Fatal(err)
	}
	cfg.DeviceName = fmt.Sprintf("device %d", n)
	sk := *created.SecretKey
	if _, err := Setup(context.Background(), &SetupOptions{AccountID: created.AccountID, SecretKey: &sk, Config: cfg, Password: testPassword, Create: joinedVault(dir, cfg)}); err != nil {
		t.Fatal(err)
	}
	return openDevice(t, dir, testPassword, opts...)
}

// written records every value a device wrote to a field of an item.
type written struct {
	id    vault.ItemID
	field string
	value string
}

func TestSimulation(t *testing.T) {
	steps := 3000
	if testing.Short() {
		steps = 300
	}
	runSimulation(t, 5, steps, 1)
}

func runSimulation(t *testing.T, ndev, steps int, seed uint64) {
	ctx := context.Background()
	ts := startServer(t)
	root := t.TempDir()
	// One simulated clock for the test's edits and the vaults' own
	// (trash, restore): every reading is a second after the one before.
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time {
		clock = clock.Add(time.Second)
		return clock
	}
	d0, created := newAccount(t, ts, root, vault.WithClock(now))
	devs := []*device{d0}
	for i := 1; i < ndev; i++ {
		devs = append(devs, joinDevice(t, ts, root, i, created, vault.WithClock(now)))
	}
	rng := rand.New(rand.NewPCG(seed, 42))
	var log []written
	fields := []string{"username", "password", "website-note", "pin"}
	conflicts := 0
	for step := range steps {
		d := devs[rng.IntN(len(devs))]
		es, err := d.s.List(ctx, vault.All)
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		switch r := rng.IntN(10); {
		case r < 2 || len(es) == 0:
			it := item.New(item.Login, fmt.Sprintf("item %d", step), now())
			v := fmt.Sprintf("user-%d", step)
			it.Set("username", v, item.Text)
			added, err := d.s.Add(ctx, it)
			if err != nil {
				t.Fatalf("step %d: add: %v", step, err)
			}
			log = append(log, written{added[0].ID, "username", v})
		case r < 7:
			e := es[rng.IntN(len(es))]
			it := e.Item.Clone()
			f := fields[rng.IntN(len(fields))]
			v := fmt.Sprintf("%s-%d", f, step)
			if f == "website-note" {
				it.Notes = v
				f = "notes"
			} else {
				it.Set(f, v, item.Hidden)
			}
			it.Modified = now()
			if _, err := d.s.Put(ctx, e.ID, e.Revision, it); err != nil {
				t.Fatalf("step %d: edit: %v", step, err)
			}
			log = append(log, written{e.ID, f, v})
		case r < 8:
			e := es[rng.IntN(len(es))]
			if e.Item.Trashed == nil {
				if _, err := d.s.Trash(ctx, e.ID.String()); err != nil {
					t.Fatalf("step %d: trash: %v", step, err)
				}
			} else if _, err := d.s.Restore(ctx, e.ID.String()); err != nil {
				t.Fatalf("step %d: restore: %v", step, err)
			}
		default:
			rep, err := d.y.Sync(ctx)
			if err != nil {
				t.Fatalf("step %d: sync: %v", step, err)
			}
			conflicts += len(rep.Conflicts)
		}
	}
	// Sync everyone until nothing moves.
	for round := 0; ; round++ {
		if round > 10 {
			t.Fatal("devices did not converge in 10 rounds")
		}
		moved := false
		for _, d := range devs {
			rep, err := d.y.Sync(ctx)
			if err != nil {
				t.Fatalf("final sync: %v", err)
			}
			if !rep.Verified {
				t.Fatalf("final sync did not verify the server's manifest")
			}
			moved = moved || rep.Pulled > 0 || rep.Pushed > 0
		}
		if !moved {
			break
		}
	}
	t.Logf("%d steps, %d devices, %d field conflicts resolved", steps, ndev, conflicts)
	want := snapshot(t, devs[0])
	for i, d := range devs[1:] {
		got := snapshot(t, d)
		if got != want {
			t.Fatalf("device %d differs from device 0", i+1)
		}
		r, err := d.s.Verify(ctx)
		if err != nil || len(r.Problems) > 0 {
			t.Fatalf("device %d: verify: %v %v", i+1, err, r)
		}
	}
	// Every value written is in the item or its history.
	for _, w := range log {
		if !valueKept(t, devs[0], w) {
			t.Errorf("lost: item %s field %s value %q", w.id, w.field, w.value)
		}
	}
}

// snapshot is a canonical text of a device's items with their revisions.
func snapshot(t testing.TB, d *device) string {
	es, err := d.s.List(context.Background(), vault.All)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range es {
		b, _ := json.Marshal(e.Item)
		lines = append(lines, fmt.Sprintf("%s %d %s", e.ID, e.Revision, b))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func fieldValue(it *item.Item, f string) string {
	if f == "notes" {
		return it.Notes
	}
	v, _ := it.Get(f)
	return v
}

func valueKept(t testing.TB, d *device, w written) bool {
	ctx := context.Background()
	e, err := d.s.Resolve(ctx, w.id.String(), vault.All)
	if err != nil {
		t.Fatalf("item %s: %v", w.id, err)
	}
	if fieldValue(e.Item, w.field) == w.value {
		return true
	}
	hist, err := d.s.History(ctx, w.id)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hist {
		if fieldValue(h.Item, w.field) == w.value {
			return true
		}
	}
	return false
}
