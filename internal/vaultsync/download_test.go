package vaultsync

import (
	"errors"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
)

// TestDownloadCheck: a download is verified revision by revision as it
// arrives: genuine revisions in order pass; junk, a revision of another
// item, key version or account, a repeat, a gap, and more data than the
// cap are refused, each blaming the server.
func TestDownloadCheck(t *testing.T) {
	ak, err := keys.NewAccountKey()
	if err != nil {
		t.Fatal(err)
	}
	var acct keys.AccountID
	acct[0], acct[6], acct[8] = 1, 0x70, 0x80
	id, other := ItemID{1}, ItemID{2}
	seal := func(kv uint32, a keys.AccountID, id ItemID, rev uint64) Incoming {
		pt, err := item.New(item.Note, "note", time.Unix(0, 0)).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		box, err := format.SealItem(ak, kv, format.ItemRef{AccountID: a, ItemID: id, Revision: rev}, pt)
		if err != nil {
			t.Fatal(err)
		}
		return Incoming{ID: id, Rev: rev, Box: box}
	}
	good := []Incoming{seal(1, acct, id, 1), seal(1, acct, other, 1), seal(1, acct, id, 2)}
	c := NewDownloadCheck(acct, ak, 1)
	for _, in := range good {
		if err := c.Check(in); err != nil {
			t.Fatalf("genuine revision %s/%d: %v", in.ID, in.Rev, err)
		}
	}
	var otherAcct keys.AccountID
	otherAcct[0] = 2
	moved := seal(1, acct, other, 2)
	moved.ID = ItemID{3}
	for name, tc := range map[string]struct {
		in   Incoming
		want error
	}{
		"junk":              {Incoming{ID: id, Rev: 3, Box: []byte("junk")}, ErrServerMismatch},
		"repeat":            {seal(1, acct, id, 2), ErrServerMismatch},
		"gap":               {seal(1, acct, id, 4), ErrServerMismatch},
		"other key version": {seal(2, acct, id, 3), ErrServerMismatch},
		"other account":     {seal(1, otherAcct, id, 3), ErrServerMismatch},
		"other item":        {moved, ErrServerMismatch},
	} {
		if err := c.Check(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	small := NewDownloadCheck(acct, ak, 1)
	small.max = int64(len(good[0].Box)) + 10
	if err := small.Check(good[0]); err != nil {
		t.Fatal(err)
	}
	if err := small.Check(good[1]); !errors.Is(err, ErrDownloadTooLarge) {
		t.Errorf("over the cap: %v", err)
	}
}
