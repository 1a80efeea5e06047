package vault

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyhold/keyhold/internal/item"
)

// BenchmarkFolderSync10k is one sync of a 10,000-item vault with its
// folder: nothing new (the common case), and one edited item.
func BenchmarkFolderSync10k(b *testing.B) {
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
	var its []*item.Item
	for i := range 10000 {
		its = append(its, login(fmt.Sprintf("Site %d", i), "user", fmt.Sprintf("pw-%d", i)))
	}
	es, err := s.Add(ctx, its...)
	if err != nil {
		b.Fatal(err)
	}
	f := filepath.Join(b.TempDir(), "folder")
	os.MkdirAll(f, 0o700)
	s.SetFolderSnapshotEvery(1000000)
	if _, err := s.EnableFolder(ctx, f); err != nil {
		b.Fatal(err)
	}
	b.Run("unchanged", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.FolderSync(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("one-edit", func(b *testing.B) {
		i := 0
		for b.Loop() {
			e, err := s.Resolve(ctx, es[i%len(es)].ID.String(), All)
			if err != nil {
				b.Fatal(err)
			}
			it := e.Item.Clone()
			it.Notes = fmt.Sprintf("edit %d", i)
			if _, err := s.Put(ctx, e.ID, e.Revision, it); err != nil {
				b.Fatal(err)
			}
			if _, err := s.FolderSync(ctx); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
