package store

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// benchBox is the size of a typical sealed item revision.
const benchBox = 1024

func benchRevs(item ID, base uint64, n int) PushItem {
	it := PushItem{ItemID: item, BaseRev: base}
	for i := 1; i <= n; i++ {
		it.Revs = append(it.Revs, Revision{Rev: base + uint64(i), Box: make([]byte, benchBox)})
	}
	return it
}

// BenchmarkPush measures one push of new items (1 and 100 per push, one
// revision each) on each dialect; each push is one transaction.
func BenchmarkPush(b *testing.B) {
	for _, d := range dialects {
		for _, n := range []int{1, 100} {
			b.Run(d.name+"/items="+strconv.Itoa(n), func(b *testing.B) {
				s := openT(b, d.newDB(b))
				acct, _ := createAccount(b, s)
				items := make([]PushItem, n)
				b.SetBytes(int64(n * benchBox))
				for b.Loop() {
					for i := range items {
						items[i] = benchRevs(randomID(), 0, 1)
					}
					res, err := s.Push(ctx, acct, 0, items, nil)
					if err != nil || len(res.Accepted) != n {
						b.Fatalf("push: %v, %+v", err, res)
					}
				}
			})
		}
	}
}

// BenchmarkChanges measures reading a page of 100 changes from a random
// point of an account with 10 000 revisions.
func BenchmarkChanges(b *testing.B) {
	const total, page = 10000, 100
	for _, d := range dialects {
		b.Run(d.name, func(b *testing.B) {
			s := openT(b, d.newDB(b))
			acct, _ := createAccount(b, s)
			items := make([]PushItem, 0, 1000)
			for len(items) < cap(items) {
				items = append(items, benchRevs(randomID(), 0, total/cap(items)))
			}
			if _, err := s.Push(ctx, acct, 0, items, nil); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(page * benchBox)
			for b.Loop() {
				since := rand.Uint64N(total - page)
				revs, head, _, err := s.Changes(ctx, acct, since, page)
				if err != nil || len(revs) != page || head != total {
					b.Fatalf("changes: %v, %d revisions, head %d", err, len(revs), head)
				}
			}
		})
	}
}
