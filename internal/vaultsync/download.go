package vaultsync

import (
	"errors"
	"fmt"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
)

// MaxDownloadBytes is the most item data (sealed boxes) a download of a
// whole account may bring: a new device's setup or a rotation follow.
// An honest account is far below it (items are at most about 1 MiB each);
// a server sending more is refused, whatever its feed claims.
const MaxDownloadBytes = 4 << 30

// DownloadCheck verifies the revisions of a whole-account download as
// they arrive, page by page, so that a broken or hostile server cannot
// make a device hold more than the account's real data: every box must
// open with the account key, bound to its item and revision; each item's
// revisions must come once each, in order from 1; and the total stays
// under MaxDownloadBytes. Junk fails at its first box.
type DownloadCheck struct {
	ak    *keys.AccountKey
	kv    uint32
	id    keys.AccountID
	next  map[ItemID]uint64
	bytes int64
	max   int64 // MaxDownloadBytes; tests lower it
}

// NewDownloadCheck checks revisions sealed under ak (key version kv) for
// the account id.
func NewDownloadCheck(id keys.AccountID, ak *keys.AccountKey, kv uint32) *DownloadCheck {
	return &DownloadCheck{
		ak:   ak,
		kv:   kv,
		id:   id,
		next: make(map[ItemID]uint64),
		max:  MaxDownloadBytes,
	}
}

// ErrDownloadTooLarge means a server's download passed MaxDownloadBytes.
var ErrDownloadTooLarge = errors.New("the server sent more item data than any account holds")

// Check verifies one revision; its errors wrap ErrServerMismatch (or
// ErrDownloadTooLarge) and say that the server sent it.
func (c *DownloadCheck) Check(in Incoming) error {
	c.bytes += int64(len(in.Box))
	if c.bytes > c.max {
		return fmt.Errorf("%w (over %d MiB); nothing was written", ErrDownloadTooLarge, c.max>>20)
	}
	want := c.next[in.ID] + 1
	if in.Rev != want {
		if in.Rev < want {
			return fmt.Errorf("%w (it sent item %s revision %d twice); nothing was written", ErrServerMismatch, in.ID, in.Rev)
		}
		return fmt.Errorf("%w (it sent item %s revision %d without revision %d); nothing was written", ErrServerMismatch, in.ID, in.Rev, want)
	}
	if _, err := OpenItem(c.ak, c.kv, c.id, in.ID, in.Rev, in.Box); err != nil {
		return fmt.Errorf("%w (it sent a revision that does not open with the account key: %v); nothing was written", ErrServerMismatch, err)
	}
	c.next[in.ID] = in.Rev
	return nil
}

// OpenItem opens revision rev of item id, sealed under ak (key version
// kv) for account acct, and decodes it. Its errors name the item and
// revision.
func OpenItem(ak *keys.AccountKey, kv uint32, acct keys.AccountID, id ItemID, rev uint64, box []byte) (*item.Item, error) {
	pt, err := format.OpenItem(ak, kv, format.ItemRef{AccountID: acct, ItemID: id, Revision: rev}, box)
	if err != nil {
		return nil, fmt.Errorf("item %s revision %d: %w", id, rev, err)
	}
	defer clear(pt)
	it, err := item.Unmarshal(pt)
	if err != nil {
		return nil, fmt.Errorf("item %s revision %d: %w", id, rev, err)
	}
	return it, nil
}
