package syncclient

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/server"
	"github.com/keyhold/keyhold/internal/server/store"
	"github.com/keyhold/keyhold/internal/vault"
)

// startHostile runs a real keyhold-server behind feed: while feed.on is
// set, GET /v1/sync/changes is answered by feed.serve instead.
type hostileFeed struct {
	on    atomic.Bool
	real  http.Handler
	serve func(w http.ResponseWriter, r *http.Request, real http.Handler)
	pages atomic.Int64
}

func (h *hostileFeed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.on.Load() && r.Method == http.MethodGet && r.URL.Path == "/v1/sync/changes" {
		h.pages.Add(1)
		h.serve(w, r, h.real)
		return
	}
	h.real.ServeHTTP(w, r)
}

func startHostile(t testing.TB, h *hostileFeed) *testServer {
	t.Helper()
	st, err := store.OpenSQLite(filepath.Join(t.TempDir(), "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	h.real = srv
	hs := httptest.NewServer(h)
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
		st.Close()
	})
	return &testServer{url: hs.URL, st: st}
}

// realPage is the real server's answer to r.
func realPage(t testing.TB, real http.Handler, r *http.Request) *api.ChangesResponse {
	rec := httptest.NewRecorder()
	real.ServeHTTP(rec, r)
	var page api.ChangesResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
		t.Errorf("real page: %v", err)
	}
	return &page
}

// peakHeap runs f and returns how far the heap grew above where it was
// before, sampled every few milliseconds.
func peakHeap(f func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	})
	f()
	close(done)
	wg.Wait()
	if p := peak.Load(); p > base {
		return p - base
	}
	return 0
}

// maxSetupGrowth is how much a setup against a hostile server may grow the
// heap (issue: ~100 MiB above its normal peak, which for this small
// account is a few MiB).
const maxSetupGrowth = 100 << 20

// TestSetupHostileFeed: a new device set up from a server whose changes
// feed is endless — junk boxes, genuine revisions replayed, or one page
// that never ends — stops at the first bad page with a message that blames
// the server, leaves no vault behind, and stays within its memory bound.
func TestSetupHostileFeed(t *testing.T) {
	junkBox := make([]byte, 6<<10)
	rand.Read(junkBox)
	cases := []struct {
		name  string
		serve func(t *testing.T) func(w http.ResponseWriter, r *http.Request, real http.Handler)
		want  error
	}{
		{"junk boxes", func(t *testing.T) func(http.ResponseWriter, *http.Request, http.Handler) {
			return func(w http.ResponseWriter, r *http.Request, real http.Handler) {
				since, _ := strconv.ParseUint(r.URL.Query().Get("since"), 10, 64)
				page := api.ChangesResponse{Head: 1 << 62, More: true, KeyVersion: 1}
				for i := range api.MaxPageSize {
					page.Changes = append(page.Changes, api.Change{ItemID: uuid.NewString(), Seq: since + uint64(i) + 1, Rev: 1, Box: junkBox})
				}
				json.NewEncoder(w).Encode(page)
			}
		}, vault.ErrServerMismatch},
		{"replayed revisions", func(t *testing.T) func(http.ResponseWriter, *http.Request, http.Handler) {
			return func(w http.ResponseWriter, r *http.Request, real http.Handler) {
				since, _ := strconv.ParseUint(r.URL.Query().Get("since"), 10, 64)
				q := r.Clone(r.Context())
				q.URL.RawQuery = "since=0"
				page := realPage(t, real, q)
				for i := range page.Changes {
					page.Changes[i].Seq = since + uint64(i) + 1
				}
				page.Head, page.More = 1<<62, true
				json.NewEncoder(w).Encode(page)
			}
		}, vault.ErrServerMismatch},
		{"a page without end", func(t *testing.T) func(http.ResponseWriter, *http.Request, http.Handler) {
			return func(w http.ResponseWriter, r *http.Request, real http.Handler) {
				io.WriteString(w, `{"head":4611686018427387904,"more":true,"key_version":1,"changes":[`)
				chunk := []byte(strings.Repeat(`{"item_id":"0190c5e4-6a1b-7cde-8f00-000000000001","seq":1,"rev":1,"box":"`+strings.Repeat("A", 4096)+`"},`, 64))
				for r.Context().Err() == nil {
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
			}
		}, api.ErrAnswerTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &hostileFeed{serve: tc.serve(t)}
			ts := startHostile(t, h)
			root := t.TempDir()
			d0, created := newAccount(t, ts, root)
			ctx := context.Background()
			for i := range 5 {
				it := item.New(item.Login, fmt.Sprintf("item %d", i), vault.Now())
				it.Set("username", strings.Repeat("u", 100), item.Text)
				if _, err := d0.s.Add(ctx, it); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := d0.y.Sync(ctx); err != nil {
				t.Fatal(err)
			}

			h.on.Store(true)
			dir := filepath.Join(root, "new")
			cfg, err := NewConfig(ts.url, "", hostName())
			if err != nil {
				t.Fatal(err)
			}
			sk := *created.SecretKey
			ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			var setupErr error
			grew := peakHeap(func() {
				_, setupErr = Setup(ctx, &SetupOptions{AccountID: created.AccountID, SecretKey: &sk, Config: cfg, Password: testPassword, Create: joinedVault(dir, cfg)})
			})
			if !errors.Is(setupErr, tc.want) {
				t.Fatalf("setup: %v, want %v", setupErr, tc.want)
			}
			if !strings.Contains(setupErr.Error(), "server") || strings.Contains(setupErr.Error(), "another device") {
				t.Errorf("the message does not blame the server: %v", setupErr)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("setup left %s behind: %v", dir, err)
			}
			if grew > maxSetupGrowth {
				t.Errorf("the heap grew by %d MiB, more than %d MiB", grew>>20, maxSetupGrowth>>20)
			}
			if n := h.pages.Load(); n > 2 {
				t.Errorf("setup asked for %d pages of a feed that was bad from the first", n)
			}
			t.Logf("heap growth %d KiB; %v", grew>>10, setupErr)

			// The same server, honest again, sets the device up.
			h.on.Store(false)
			if _, err := Setup(context.Background(), &SetupOptions{AccountID: created.AccountID, SecretKey: &sk, Config: cfg, Password: testPassword, Create: joinedVault(dir, cfg)}); err != nil {
				t.Fatalf("setup from the honest server: %v", err)
			}
		})
	}
}

// TestSetupNeedsManifestAtHead: a server that withholds the manifest
// signed at the head it sent (or offers an older one) cannot make a new
// device accept, and sign as its own, whatever it was given.
func TestSetupNeedsManifestAtHead(t *testing.T) {
	for name, edit := range map[string]func(p *api.ChangesResponse){
		"no manifest":  func(p *api.ChangesResponse) { p.Manifest, p.ManifestSeq = nil, 0 },
		"older one":    func(p *api.ChangesResponse) { p.ManifestSeq = p.Head - 1 },
		"item dropped": func(p *api.ChangesResponse) { p.Changes = p.Changes[1:] },
		"more changes than its head": func(p *api.ChangesResponse) {
			p.Head, p.ManifestSeq = 1, 1
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := &hostileFeed{serve: func(w http.ResponseWriter, r *http.Request, real http.Handler) {
				page := realPage(t, real, r)
				edit(page)
				json.NewEncoder(w).Encode(page)
			}}
			ts := startHostile(t, h)
			root := t.TempDir()
			d0, created := newAccount(t, ts, root)
			ctx := context.Background()
			d0.addNotesAndSync(t, 3)
			h.on.Store(true)
			dir := filepath.Join(root, "new")
			cfg, _ := NewConfig(ts.url, "", hostName())
			sk := *created.SecretKey
			_, err := Setup(ctx, &SetupOptions{AccountID: created.AccountID, SecretKey: &sk, Config: cfg, Password: testPassword, Create: joinedVault(dir, cfg)})
			if !errors.Is(err, ErrNoManifest) && !errors.Is(err, vault.ErrServerMismatch) {
				t.Fatalf("setup: %v, want a refusal of the server's download", err)
			}
			if !strings.Contains(err.Error(), "server") {
				t.Errorf("the message does not blame the server: %v", err)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("setup left %s behind: %v", dir, err)
			}
		})
	}
}

// TestFollowRotationHostileFeed: a device following a key rotation from a
// server whose feed is endless junk stops at the first bad page, blames
// the server, keeps its vault as it was, and stays within its memory
// bound; from the honest server it then follows.
func TestFollowRotationHostileFeed(t *testing.T) {
	junkBox := make([]byte, 6<<10)
	rand.Read(junkBox)
	h := &hostileFeed{serve: func(w http.ResponseWriter, r *http.Request, real http.Handler) {
		since, _ := strconv.ParseUint(r.URL.Query().Get("since"), 10, 64)
		page := realPage(t, real, r) // the real key version
		page.Changes, page.Head, page.More = nil, 1<<62, true
		for i := range api.MaxPageSize {
			page.Changes = append(page.Changes, api.Change{ItemID: uuid.NewString(), Seq: since + uint64(i) + 1, Rev: 1, Box: junkBox})
		}
		json.NewEncoder(w).Encode(page)
	}}
	ts := startHostile(t, h)
	root := t.TempDir()
	d0, created := newAccount(t, ts, root)
	ctx := context.Background()
	d0.addNotesAndSync(t, 3)
	d1 := joinDevice(t, ts, root, 1, created)
	if _, err := d0.y.Rotate(ctx, testPassword); err != nil {
		t.Fatal(err)
	}

	h.on.Store(true)
	var syncErr error
	grew := peakHeap(func() { _, syncErr = d1.y.Sync(ctx) })
	if !errors.Is(syncErr, vault.ErrServerMismatch) || !strings.Contains(syncErr.Error(), "server") {
		t.Fatalf("following a rotation from a junk feed: %v", syncErr)
	}
	if grew > maxSetupGrowth {
		t.Errorf("the heap grew by %d MiB, more than %d MiB", grew>>20, maxSetupGrowth>>20)
	}
	if n := h.pages.Load(); n > 2 {
		t.Errorf("%d pages read of a feed that was bad from the first", n)
	}
	if _, kv := d1.s.AccountKey(); kv != 1 {
		t.Errorf("the refused rotation changed the key version to %d", kv)
	}
	if es, err := d1.s.List(ctx, vault.All); err != nil || len(es) != 3 {
		t.Errorf("after the refusal: %d items, %v", len(es), err)
	}

	h.on.Store(false)
	if _, err := d1.y.Sync(ctx); err != nil {
		t.Fatalf("following from the honest server: %v", err)
	}
	if _, kv := d1.s.AccountKey(); kv != 2 {
		t.Errorf("key version %d after following", kv)
	}
}

// TestFollowRotationServerRollback: the server loses what one device
// pushed (its database put back, or the item dropped) and another device
// rotates the key over what is left — a rotation all its own, with a
// manifest its device signed. The first device, following it, must not
// let the rotation take from it the item or revision it knows the server
// held: it refuses, blames the server, and keeps its vault at the old key
// as it was (verify passes, the item and revision are there).
func TestFollowRotationServerRollback(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, d *device) // what the server then loses
		check  func(t *testing.T, es []*vault.Entry)
	}{
		{"older revision", func(t *testing.T, d *device) {
			e := findTitle(t, d, "note 0")
			it := e.Item.Clone()
			it.Notes = "the second revision"
			it.Modified = vault.Now()
			if _, err := d.s.Put(context.Background(), e.ID, e.Revision, it); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, es []*vault.Entry) {
			for _, e := range es {
				if e.Item.Title == "note 0" && (e.Revision != 2 || e.Item.Notes != "the second revision") {
					t.Errorf("note 0 after the refusal: revision %d, notes %q", e.Revision, e.Item.Notes)
				}
			}
		}},
		{"item dropped", func(t *testing.T, d *device) {
			if _, err := d.s.Add(context.Background(), item.New(item.Note, "note 3", vault.Now())); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, es []*vault.Entry) {
			if !slices.ContainsFunc(es, func(e *vault.Entry) bool { return e.Item.Title == "note 3" }) {
				t.Error("note 3 is gone after the refusal")
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			ts := startServer(t)
			root := t.TempDir()
			d0, created := newAccount(t, ts, root)
			d0.addNotesAndSync(t, 3)
			d1 := joinDevice(t, ts, root, 1, created)
			id := store.ID(created.AccountID)
			var head, manifestSeq uint64
			var manifest []byte
			queryRaw(t, ts.db, `SELECT head, manifest, manifest_seq FROM accounts WHERE id = ?`, []any{id[:]}, &head, &manifest, &manifestSeq)

			tc.change(t, d1)
			if _, err := d1.y.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			before, err := d1.s.List(ctx, vault.All)
			if err != nil {
				t.Fatal(err)
			}
			// The server loses d1's push: its rows and head as they were.
			setRaw(t, ts.db, `DELETE FROM revisions WHERE account = ? AND seq > ?`, id[:], head)
			setRaw(t, ts.db, `UPDATE accounts SET head = ?, manifest = ?, manifest_seq = ? WHERE id = ?`, head, manifest, manifestSeq, id[:])
			if _, err := d0.y.Rotate(ctx, testPassword); err != nil {
				t.Fatalf("rotating over the rolled-back server: %v", err)
			}

			_, syncErr := d1.y.Sync(ctx)
			if !errors.Is(syncErr, vault.ErrServerMismatch) || !strings.Contains(syncErr.Error(), "server") {
				t.Fatalf("following a rotation that lost an item: %v, want a refusal that blames the server", syncErr)
			}
			if _, kv := d1.s.AccountKey(); kv != 1 {
				t.Errorf("the refused rotation changed the key version to %d", kv)
			}
			after, err := d1.s.List(ctx, vault.All)
			if err != nil || len(after) != len(before) {
				t.Fatalf("after the refusal: %d items (%d before), %v", len(after), len(before), err)
			}
			tc.check(t, after)
			if r, err := d1.s.Verify(ctx); err != nil || len(r.Problems) > 0 {
				t.Errorf("verify after the refusal: %v %v", err, r)
			}
		})
	}
}

// findTitle is d's entry titled title.
func findTitle(t *testing.T, d *device, title string) *vault.Entry {
	t.Helper()
	es, err := d.s.List(context.Background(), vault.All)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Item.Title == title {
			return e
		}
	}
	t.Fatalf("no item %q", title)
	return nil
}

// queryRaw reads one row of the server's SQLite file into dest.
func queryRaw(t *testing.T, path, query string, args []any, dest ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(30000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow(query, args...).Scan(dest...); err != nil {
		t.Fatal(err)
	}
}
