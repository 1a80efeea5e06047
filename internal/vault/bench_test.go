package vault

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/keyhold/keyhold/internal/item"
)

// benchVault makes a vault of n generated logins, shaped like the peer
// benchmarks' entries (bench/): title g{i%10}/entry-{i:05d}, a username, a
// URL, a 20-character password and a note.
func benchVault(b *testing.B, n int) string {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "v")
	if _, err := Create(dir, []byte("pw"), CreateOptions{KDF: testKDF}, testOpts()...); err != nil {
		b.Fatal(err)
	}
	v, err := Open(dir, testOpts()...)
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	s, err := v.Unlock([]byte("pw"))
	if err != nil {
		b.Fatal(err)
	}
	its := make([]*item.Item, n)
	for i := range its {
		it := item.New(item.Login, fmt.Sprintf("g%d/entry-%05d", i%10, i), Now())
		it.Set("username", fmt.Sprintf("user%05d@example.com", i), item.Text)
		it.Set("password", fmt.Sprintf("pw-%05d-abcdefghijkl", i), item.Hidden)
		it.URLs = []string{fmt.Sprintf("https://site%05d.example.com/login", i)}
		it.Notes = fmt.Sprintf("note for entry %d", i)
		its[i] = it
	}
	if _, err := s.Add(context.Background(), its...); err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkOpenSearch measures what a command without the agent pays after
// the key derivation: open the vault, decrypt every item (checking the
// manifest) and search titles.
func BenchmarkOpenSearch(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("%dk", n/1000), func(b *testing.B) {
			dir := benchVault(b, n)
			v, err := Open(dir, testOpts()...)
			if err != nil {
				b.Fatal(err)
			}
			defer v.Close()
			s, err := v.Unlock([]byte("pw"))
			if err != nil {
				b.Fatal(err)
			}
			ak, kv := s.AccountKey()
			b.ResetTimer()
			for b.Loop() {
				s2, err := v.UnlockWithKey(ak, kv)
				if err != nil {
					b.Fatal(err)
				}
				es, err := s2.Search(context.Background(), "entry-0424", Active)
				if err != nil || len(es) != 10 {
					b.Fatalf("%v, %d results", err, len(es))
				}
				s2.Close()
			}
		})
	}
}

// BenchmarkSearchWarm is what the agent pays per search: the cache is
// loaded; only the manifest is read to see that nothing changed.
func BenchmarkSearchWarm(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("%dk", n/1000), func(b *testing.B) {
			dir := benchVault(b, n)
			v, _ := Open(dir, testOpts()...)
			defer v.Close()
			s, _ := v.Unlock([]byte("pw"))
			s.List(context.Background(), All)
			b.ResetTimer()
			for b.Loop() {
				if es, err := s.Search(context.Background(), "entry-0424", Active); err != nil || len(es) != 10 {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAdd is one item added in its own transaction (durable commit).
func BenchmarkAdd(b *testing.B) {
	dir := benchVault(b, 10_000)
	v, _ := Open(dir, testOpts()...)
	defer v.Close()
	s, _ := v.Unlock([]byte("pw"))
	s.List(context.Background(), All)
	i := 0
	for b.Loop() {
		it := item.New(item.Login, fmt.Sprintf("new-%d", i), Now())
		it.Set("password", "x", item.Hidden)
		if _, err := s.Add(context.Background(), it); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkResolveWarm is a show through the agent, less the process and
// socket costs.
func BenchmarkResolveWarm(b *testing.B) {
	dir := benchVault(b, 10_000)
	v, _ := Open(dir, testOpts()...)
	defer v.Close()
	s, _ := v.Unlock([]byte("pw"))
	s.List(context.Background(), All)
	for b.Loop() {
		if _, err := s.Resolve(context.Background(), "g2/entry-04242", Active); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResolveCold is a show without the agent, less the key
// derivation and process start: a fresh session finds one item by title
// through the title index and decrypts only it.
func BenchmarkResolveCold(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("%dk", n/1000), func(b *testing.B) {
			dir := benchVault(b, n)
			v, _ := Open(dir, testOpts()...)
			defer v.Close()
			s, _ := v.Unlock([]byte("pw"))
			ak, kv := s.AccountKey()
			for b.Loop() {
				s2, err := v.UnlockWithKey(ak, kv)
				if err != nil {
					b.Fatal(err)
				}
				e, err := s2.Resolve(context.Background(), "g2/entry-04242", Active)
				if err != nil || e.Item.Username() != "user04242@example.com" {
					b.Fatal(err)
				}
				if s2.loaded {
					b.Fatal("took the slow path")
				}
				s2.Close()
			}
		})
	}
}
