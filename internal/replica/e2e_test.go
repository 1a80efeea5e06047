package replica_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/ledger/memstore"
	"github.com/keyhold/keyhold/internal/replica"
	"github.com/keyhold/keyhold/internal/server"
	"github.com/keyhold/keyhold/internal/server/store"
	"github.com/keyhold/keyhold/internal/syncclient"
	"github.com/keyhold/keyhold/internal/testenv"
	"github.com/keyhold/keyhold/internal/vault"
	"github.com/keyhold/keyhold/internal/vaultsync"
)

func TestMain(m *testing.M) { os.Exit(testenv.RunIsolatedXDG(m)) }

// browser is what a browser client adds to a Replica to make it a
// syncclient.Local: the device-specific methods. This test's browser
// never changes its password or key.
type browser struct {
	*replica.Replica
}

var errNotHere = errors.New("not supported by this test's browser")

func (browser) LockSync() (func(), error) { return func() {}, nil }
func (browser) AdoptEnvelope(context.Context, []byte) (bool, error) {
	return false, nil
}
func (browser) FollowRotation(context.Context, *vaultsync.RotatedKeys, func(func(vaultsync.Incoming) error) ([]vaultsync.Incoming, uint64, []byte, error)) (*vaultsync.ApplyReport, *keys.SecretKey, error) {
	return nil, nil, errNotHere
}
func (browser) RotateKey(context.Context, []byte, func(*vaultsync.Rotation) error) (*vaultsync.Created, error) {
	return nil, errNotHere
}

var _ syncclient.Local = browser{}

// TestBrowserAndCLI: a device whose vault is a Replica in memory and a
// CLI vault sync one account through a real keyhold server; edits of
// different fields of one item, made on both while apart, merge field
// by field, and both end up with the same item at the same revision.
func TestBrowserAndCLI(t *testing.T) {
	ctx := context.Background()
	// The server, in-process, on SQLite.
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close(); st.Close() })

	// The CLI's first device creates the account.
	pw := []byte("correct horse battery staple")
	dir := filepath.Join(t.TempDir(), "cli")
	opts := []vault.Option{vault.WithSecretKeyDir(filepath.Join(t.TempDir(), "secret-keys"))}
	created, err := vault.Create(dir, pw, vault.CreateOptions{KDF: keys.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	if err := v.EnableSync(ctx); err != nil {
		t.Fatal(err)
	}
	cfg, err := syncclient.NewConfig(hs.URL, "", "cli")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := cfg.Client()
	if err != nil {
		t.Fatal(err)
	}
	if err := syncclient.Register(ctx, cl, cfg, v, created.Login, ""); err != nil {
		t.Fatal(err)
	}
	if cl, err = cfg.Client(); err != nil {
		t.Fatal(err)
	}
	s, err := v.Unlock(pw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	cli := &syncclient.Syncer{C: cl, S: s}
	it := item.New(item.Login, "mail", clock)
	it.Set("username", "alice", item.Text)
	it.Set("password", "first", item.Hidden)
	added, err := s.Add(ctx, it)
	if err != nil {
		t.Fatal(err)
	}
	id := added[0].ID
	if _, err := cli.Sync(ctx); err != nil {
		t.Fatal(err)
	}

	// The browser joins with the kit's Secret Key and the password, its
	// vault a Replica in memory.
	bcfg, err := syncclient.NewConfig(hs.URL, "", "browser")
	if err != nil {
		t.Fatal(err)
	}
	mem := memstore.New()
	var b browser
	sk := *created.SecretKey
	if _, err := syncclient.Setup(ctx, &syncclient.SetupOptions{AccountID: created.AccountID, SecretKey: &sk, Config: bcfg, Password: pw,
		Create: func(j *vaultsync.Join, kv uint32) (syncclient.Local, func(), error) {
			r, err := replica.Join(ctx, mem.Sync(), j, kv)
			if err != nil {
				return nil, nil, err
			}
			b = browser{r}
			return b, func() {}, nil
		}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	bcl, err := bcfg.Client()
	if err != nil {
		t.Fatal(err)
	}
	web := &syncclient.Syncer{C: bcl, S: b}
	got, err := b.Get(ctx, id)
	if err != nil {
		t.Fatalf("the browser did not get the CLI's item: %v", err)
	}
	if v, _ := got.Item.Get("password"); v != "first" || got.Revision != 1 {
		t.Fatalf("the browser holds revision %d with password %q", got.Revision, v)
	}

	// Apart, the browser changes the password and the CLI the username.
	bi := got.Item.Clone()
	bi.Set("password", "from the browser", item.Hidden)
	bi.Modified = clock.Add(1e9)
	if _, err := b.Put(ctx, id, got.Revision, bi); err != nil {
		t.Fatal(err)
	}
	e, err := s.Resolve(ctx, id.String(), vault.Active)
	if err != nil {
		t.Fatal(err)
	}
	ci := e.Item.Clone()
	ci.Set("username", "alice@cli", item.Text)
	ci.Modified = clock.Add(2e9)
	if _, err := s.Put(ctx, id, e.Revision, ci); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := web.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Merged != 1 || len(rep.Conflicts) != 0 || !rep.Verified {
		t.Fatalf("the browser's sync: %+v", rep)
	}
	if rep, err := cli.Sync(ctx); err != nil || !rep.Verified {
		t.Fatalf("the CLI's last sync: %+v %v", rep, err)
	}

	// Both hold the merge, the same revision, the same content.
	bg, err := b.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	ce, err := s.Resolve(ctx, id.String(), vault.Active)
	if err != nil {
		t.Fatal(err)
	}
	for name, it := range map[string]*item.Item{"browser": bg.Item, "cli": ce.Item} {
		u, _ := it.Get("username")
		p, _ := it.Get("password")
		if u != "alice@cli" || p != "from the browser" {
			t.Errorf("%s: username %q, password %q: not merged field by field", name, u, p)
		}
	}
	bj, _ := json.Marshal(bg.Item)
	cj, _ := json.Marshal(ce.Item)
	if bg.Revision != ce.Revision || string(bj) != string(cj) {
		t.Fatalf("browser and CLI differ: %d %s / %d %s", bg.Revision, bj, ce.Revision, cj)
	}
	bh, err := b.History(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := s.History(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(bh) != len(ch) || len(bh) != 3 {
		t.Fatalf("history: browser %d revisions, CLI %d", len(bh), len(ch))
	}
	for i := range bh {
		x, _ := json.Marshal(bh[i].Item)
		y, _ := json.Marshal(ch[i].Item)
		if bh[i].Revision != ch[i].Revision || string(x) != string(y) {
			t.Fatalf("past revision %d differs", bh[i].Revision)
		}
	}
	for name, p := range map[string]func(context.Context) (int, error){"browser": b.Pending, "cli": s.Pending} {
		if n, err := p(ctx); err != nil || n != 0 {
			t.Fatalf("%s: %d pending, %v", name, n, err)
		}
	}

	// A remembered browser: its store's bytes, read back in a new tab,
	// open with the password and the Secret Key alone, and sync on from
	// where they were.
	snap, err := mem.SnapshotBytes()
	if err != nil {
		t.Fatal(err)
	}
	mem2, err := memstore.FromSnapshot(snap)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := replica.ReadAccount(ctx, mem2.Sync())
	if err != nil {
		t.Fatal(err)
	}
	ak, d, err := acct.Envelope.Open(pw, created.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	d.Wipe()
	b2, err := replica.Open(ctx, mem2.Sync(), ak)
	ak.Wipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b2.Close)
	if _, err := s.Add(ctx, item.New(item.Note, "later", clock)); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err = (&syncclient.Syncer{C: bcl, S: browser{b2}}).Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Pulled != 1 || rep.Added != 1 || !rep.Verified {
		t.Fatalf("the reopened browser's sync: %+v", rep)
	}
	all, err := b2.Items(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("the reopened browser holds %d items, %v", len(all), err)
	}
	// Another account key does not open it; the rules' own meta values
	// are not the client's to write.
	other, err := keys.NewAccountKey()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := replica.Open(ctx, mem2.Sync(), other); err == nil {
		t.Fatal("a store opened with another account key")
	}
	for _, k := range []string{"manifest", replica.CursorKey, replica.VerifiedKey, replica.AccountIDKey} {
		if err := b2.PutMeta(ctx, k, []byte("9")); !errors.Is(err, replica.ErrReservedKey) {
			t.Errorf("PutMeta(%q): %v", k, err)
		}
	}
	if err := b2.PutMeta(ctx, "web/device", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if v, err := b2.Meta(ctx, "web/device"); err != nil || string(v) != "x" {
		t.Fatalf("Meta: %q %v", v, err)
	}
}
