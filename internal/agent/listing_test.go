package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/vault"
)

var testKDF = keys.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}

func login(title, user string) *item.Item {
	it := item.New(item.Login, title, time.Now())
	if user != "" {
		it.Set("username", user, item.Text)
	}
	it.Set("password", "pw-"+title, item.Hidden)
	it.Notes = "notes of " + title
	return it
}

// summaryOf is what a listing keeps of an entry.
func summaryOf(e *vault.Entry) *vault.Entry {
	it := *e.Item
	it.Notes, it.Fields, it.Attachments = "", nil, nil
	if u := e.Item.Username(); u != "" {
		it.Fields = []item.Field{{Name: "username", Kind: item.Text, Value: u}}
	}
	return &vault.Entry{ID: e.ID, Revision: e.Revision, Item: &it}
}

func sampleEntries() []*vault.Entry {
	trashed := time.Date(2026, 3, 4, 5, 6, 7, 8, time.FixedZone("x", 3600))
	a := login("GitHub", "alice")
	a.URLs = []string{"https://github.com", "https://gist.github.com"}
	a.Tags = []string{"work", "code"}
	a.Favorite = true
	b := login("Ünïcödé 名前\twith tab", "")
	b.Trashed = &trashed
	b.Attachments = []item.Attachment{{Name: "key", Data: []byte("secret file")}}
	c := item.New(item.Note, "", time.Time{})
	return []*vault.Entry{
		{ID: vault.ItemID{1}, Revision: 1, Item: a},
		{ID: vault.ItemID{2, 0xff}, Revision: 1 << 40, Item: b},
		{ID: vault.ItemID{3}, Revision: 7, Item: c},
	}
}

func TestListingRoundTrip(t *testing.T) {
	es := sampleEntries()
	got, err := decodeListing(string(encodeListing(es)))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(es) {
		t.Fatalf("decoded %d entries, want %d", len(got), len(es))
	}
	for i, e := range es {
		want := summaryOf(e)
		g := got[i]
		// Times compare by instant and offset; time.Time's location
		// pointer differs after a round trip.
		if !g.Item.Created.Equal(want.Item.Created) || !g.Item.Modified.Equal(want.Item.Modified) ||
			(want.Item.Trashed == nil) != (g.Item.Trashed == nil) ||
			(want.Item.Trashed != nil && g.Item.Trashed.Format(time.RFC3339Nano) != want.Item.Trashed.Format(time.RFC3339Nano)) {
			t.Errorf("entry %d: times %v/%v/%v, want %v/%v/%v", i, g.Item.Created, g.Item.Modified, g.Item.Trashed,
				want.Item.Created, want.Item.Modified, want.Item.Trashed)
		}
		g.Item.Created, g.Item.Modified, g.Item.Trashed = want.Item.Created, want.Item.Modified, want.Item.Trashed
		if !reflect.DeepEqual(g, want) {
			t.Errorf("entry %d:\n got %+v %+v\nwant %+v %+v", i, g, g.Item, want, want.Item)
		}
		if g.Item.Notes != "" || g.Item.Attachments != nil {
			t.Errorf("entry %d: the listing carries notes or attachments", i)
		}
	}
}

// TestListingDamaged: a listing cut short, with a byte changed in its
// framing, or with bytes after its end is refused, never read wrong or
// allowed to panic.
func TestListingDamaged(t *testing.T) {
	b := encodeListing(sampleEntries())
	for n := range len(b) {
		if _, err := decodeListing(string(b[:n])); err == nil {
			t.Errorf("a listing cut to %d of %d bytes was accepted", n, len(b))
		}
	}
	if _, err := decodeListing(string(append(slices.Clone(b), 0))); err == nil {
		t.Error("a listing with a trailing byte was accepted")
	}
	bad := slices.Clone(b)
	bad[0] = listingVersion + 1
	if _, err := decodeListing(string(bad)); err == nil {
		t.Error("a listing of another version was accepted")
	}
	for i := range b {
		c := slices.Clone(b)
		c[i] ^= 0x80
		decodeListing(string(c)) // must not panic
	}
}

func FuzzDecodeListing(f *testing.F) {
	f.Add(encodeListing(sampleEntries()))
	f.Add(encodeListing(nil))
	f.Add([]byte{listingVersion, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := decodeListing(string(b))
		if err != nil {
			return
		}
		again, err := decodeListing(string(encodeListing(es)))
		if err != nil {
			t.Fatalf("re-encoded listing does not decode: %v", err)
		}
		if len(again) != len(es) {
			t.Fatalf("re-encoded listing has %d entries, want %d", len(again), len(es))
		}
		for i := range es {
			if again[i].ID != es[i].ID || again[i].Item.Title != es[i].Item.Title || again[i].Item.Username() != es[i].Item.Username() {
				t.Fatalf("entry %d changed in a round trip", i)
			}
		}
	})
}

// startAgent serves an unlocked session of a new vault and returns a
// client, the vault directory and its password.
func startAgent(t testing.TB) (*Client, string, []byte) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "v")
	pw := []byte("correct horse battery")
	if _, err := vault.Create(dir, pw, vault.CreateOptions{KDF: testKDF}, testOpts()...); err != nil {
		t.Fatal(err)
	}
	sess := openSession(t, dir, pw)
	sockDir := t.TempDir()
	if err := os.Chmod(sockDir, 0o700); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(sockDir, "agent.sock")
	ctx, cancel := context.WithCancel(context.Background())
	srv := NewServer(sess, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, sock, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-done })
	cl, _, err := Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	return cl, dir, pw
}

// openSession opens the vault as a command without the agent does.
func openSession(t testing.TB, dir string, pw []byte) *vault.Session {
	t.Helper()
	v, err := vault.Open(dir, testOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	s, err := v.Unlock(pw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); v.Close() })
	return s
}

// listed is what `keyhold list` shows of the agent's listing.
func listed(t *testing.T, cl *Client, f vault.Filter) []string {
	t.Helper()
	es, err := cl.Search(context.Background(), "", f)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Item.Title + "|" + e.Item.Username()
	}
	return out
}

func wantListed(t *testing.T, step string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("after %s the listing is %q, want %q", step, got, want)
	}
}

// TestListingFollowsWrites: the agent keeps its sorted listing between
// requests; every change, made through the agent or by another process
// that opened the vault itself (a command run without the agent, an
// import, a sync), shows in the next listing.
func TestListingFollowsWrites(t *testing.T) {
	ctx := context.Background()
	cl, dir, pw := startAgent(t)
	wantListed(t, "nothing", listed(t, cl, vault.Active))

	// Through the agent.
	if _, err := cl.Add(ctx, login("Mail", "bob"), login("Bank", "alice")); err != nil {
		t.Fatal(err)
	}
	wantListed(t, "an add through the agent", listed(t, cl, vault.Active), "Bank|alice", "Mail|bob")
	e, err := cl.Resolve(ctx, "Mail", vault.Active)
	if err != nil {
		t.Fatal(err)
	}
	e.Item.Title = "Anmail"
	e.Item.Set("username", "carol", item.Text)
	if _, err := cl.Put(ctx, e.ID, e.Revision, e.Item); err != nil {
		t.Fatal(err)
	}
	wantListed(t, "an edit through the agent", listed(t, cl, vault.Active), "Anmail|carol", "Bank|alice")
	if _, err := cl.Trash(ctx, "Bank"); err != nil {
		t.Fatal(err)
	}
	wantListed(t, "a delete through the agent", listed(t, cl, vault.Active), "Anmail|carol")
	wantListed(t, "a delete through the agent (trash)", listed(t, cl, vault.Trash), "Bank|alice")
	if _, err := cl.Restore(ctx, "Bank"); err != nil {
		t.Fatal(err)
	}
	wantListed(t, "a restore through the agent", listed(t, cl, vault.Active), "Anmail|carol", "Bank|alice")

	// By another process's session, which the agent's cache knows nothing of.
	other := openSession(t, dir, pw)
	if _, err := other.Add(ctx, login("Chat", "dave")); err != nil {
		t.Fatal(err)
	}
	wantListed(t, "an add without the agent", listed(t, cl, vault.Active), "Anmail|carol", "Bank|alice", "Chat|dave")
	oe, err := other.Resolve(ctx, "Bank", vault.Active)
	if err != nil {
		t.Fatal(err)
	}
	it := oe.Item.Clone()
	it.Title = "Zbank"
	if _, err := other.Put(ctx, oe.ID, oe.Revision, it); err != nil {
		t.Fatal(err)
	}
	wantListed(t, "an edit without the agent", listed(t, cl, vault.Active), "Anmail|carol", "Chat|dave", "Zbank|alice")
	if _, err := other.Trash(ctx, "Chat"); err != nil {
		t.Fatal(err)
	}
	wantListed(t, "a delete without the agent", listed(t, cl, vault.Active), "Anmail|carol", "Zbank|alice")
	wantListed(t, "a delete without the agent (trash)", listed(t, cl, vault.Trash), "Chat|dave")

	// And the other way round: the agent's writes reach the other session.
	if _, err := cl.Add(ctx, login("Blog", "erin")); err != nil {
		t.Fatal(err)
	}
	es, err := other.Search(ctx, "", vault.Active)
	if err != nil {
		t.Fatal(err)
	}
	var titles []string
	for _, e := range es {
		titles = append(titles, e.Item.Title)
	}
	if want := []string{"Anmail", "Blog", "Zbank"}; !slices.Equal(titles, want) {
		t.Errorf("the other session lists %q, want %q", titles, want)
	}
}

// TestListingSearch: a search through the agent answers with the matching
// summaries only, in title order.
func TestListingSearch(t *testing.T) {
	ctx := context.Background()
	cl, _, _ := startAgent(t)
	var its []*item.Item
	for i := range 30 {
		its = append(its, login(fmt.Sprintf("entry-%02d", 29-i), fmt.Sprintf("user%d", i)))
	}
	if _, err := cl.Add(ctx, its...); err != nil {
		t.Fatal(err)
	}
	es, err := cl.Search(ctx, "entry-1", vault.Active)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Item.Title)
		if e.Item.Notes != "" || len(e.Item.Fields) != 1 {
			t.Errorf("%s: a summary carries notes or fields beyond the username: %+v", e.Item.Title, e.Item)
		}
	}
	want := []string{"entry-10", "entry-11", "entry-12", "entry-13", "entry-14", "entry-15", "entry-16", "entry-17", "entry-18", "entry-19"}
	if !slices.Equal(got, want) {
		t.Errorf("search lists %q, want %q", got, want)
	}
}

// BenchmarkAgentList is `keyhold list` of 10,000 items less the process:
// the request, the agent's answer and decoding it.
func BenchmarkAgentList(b *testing.B) {
	ctx := context.Background()
	cl, _, _ := startAgent(b)
	its := make([]*item.Item, 10000)
	for i := range its {
		its[i] = login(fmt.Sprintf("g%d/entry-%05d", i%10, i), fmt.Sprintf("user%05d@example.com", i))
		its[i].URLs = []string{fmt.Sprintf("https://site-%05d.example.com/login", i)}
	}
	if _, err := cl.Add(ctx, its...); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		es, err := cl.Search(ctx, "", vault.Active)
		if err != nil || len(es) != len(its) {
			b.Fatal(len(es), err)
		}
	}
}

// TestJSONListingSummaries: the JSON listing that older clients ask for
// carries no notes, hidden fields or attachments either.
func TestJSONListingSummaries(t *testing.T) {
	ctx := context.Background()
	cl, _, _ := startAgent(t)
	it := login("Keys", "alice")
	it.Attachments = []item.Attachment{{Name: "id_ed25519", Data: []byte("attached-secret")}}
	if _, err := cl.Add(ctx, it); err != nil {
		t.Fatal(err)
	}
	resp, err := cl.call(ctx, &request{Op: opList, Filter: vault.Active})
	if err != nil {
		t.Fatal(err)
	}
	es, err := toEntries(resp.Entries)
	if err != nil || len(es) != 1 {
		t.Fatal(len(es), err)
	}
	got := es[0].Item
	if got.Notes != "" || len(got.Attachments) != 0 || len(got.Fields) != 1 || got.Username() != "alice" {
		t.Errorf("JSON summary carries more than a summary: %+v", got)
	}
}
