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
	// opened keeps each item's latest revision opened (KeepOpened).
	opened map[ItemID]Opened
}

// Opened is an item revision a DownloadCheck opened: its box, and what
// the box opened to.
type Opened struct {
	Rev  uint64
	Box  []byte
	Item *item.Item
}

// KeepOpened makes c keep, for each item, the latest revision it opened
// and what it opened to (Opened), so that joining the download need not
// open those boxes again (Join.Opened).
func (c *DownloadCheck) KeepOpened() { c.opened = make(map[ItemID]Opened) }

// Opened returns what KeepOpened kept (nil without it).
func (c *DownloadCheck) Opened() map[ItemID]Opened { return c.opened }

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
	it, err := OpenItem(c.ak, c.kv, c.id, in.ID, in.Rev, in.Box)
	if err != nil {
		return fmt.Errorf("%w (it sent a revision that does not open with the account key: %v); nothing was written", ErrServerMismatch, err)
	}
	if c.opened != nil {
		c.opened[in.ID] = Opened{Rev: in.Rev, Box: in.Box, Item: it}
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
