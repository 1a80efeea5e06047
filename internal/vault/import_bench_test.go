package vault

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/item"
)

// benchItems makes n logins shaped like benchVault's.
func benchItems(n int) []*item.Item {
	now := time.Now().UTC().Truncate(time.Millisecond)
	its := make([]*item.Item, n)
	for i := range its {
		it := item.New(item.Login, fmt.Sprintf("g%d/entry-%05d", i%10, i), now)
		it.Set("username", fmt.Sprintf("user%05d@example.com", i), item.Text)
		it.Set("password", fmt.Sprintf("pw-%05d-abcdefghijkl", i), item.Hidden)
		it.URLs = []string{fmt.Sprintf("https://site%05d.example.com/login", i)}
		it.Notes = fmt.Sprintf("note for entry %d", i)
		its[i] = it
	}
	return its
}

// benchEmpty makes an empty vault and unlocks it, off the clock.
func benchEmpty(b *testing.B) *Session {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	dir := filepath.Join(b.TempDir(), "v")
	if _, err := Create(dir, []byte("pw"), CreateOptions{KDF: testKDF}, testOpts()...); err != nil {
		b.Fatal(err)
	}
	v, err := Open(dir, testOpts()...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { v.Close() })
	s, err := v.Unlock([]byte("pw"))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkAdd10k is an import of 10k new items (keyhold import): one
// transaction that seals and stores each.
func BenchmarkAdd10k(b *testing.B) {
	its := benchItems(10_000)
	for b.Loop() {
		s := benchEmpty(b)
		if _, err := s.Add(context.Background(), its...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkImportExact10k restores an export of 10k items, each with one
// past revision (keyhold import of a keyhold export).
func BenchmarkImportExact10k(b *testing.B) {
	its := benchItems(10_000)
	var ims []Imported
	for i, it := range its {
		id := ItemID{byte(i >> 8), byte(i), 0x70, 7}
		ims = append(ims, Imported{ID: id, Revision: 2, Item: it, History: []Revision{{Revision: 1, Item: it}}})
	}
	for b.Loop() {
		s := benchEmpty(b)
		if added, _, err := s.ImportExact(context.Background(), ims); err != nil || added != len(ims) {
			b.Fatal(added, err)
		}
	}
}
