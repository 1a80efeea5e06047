package webcore

import (
	"context"

	"github.com/keyhold/keyhold/internal/keys"
)

// unpublish undoes what unlocked published when storing failed: the
// vault is closed and its items dropped, so that the session is locked
// (Unlock) or signed out (SignIn, with undoSignIn) and the user can try
// again, rather than half open (unlocked, not syncing, not stored).
func (c *Core) unpublish() {
	c.mu.Lock()
	v := c.v
	c.v = nil
	c.mu.Unlock()
	c.persistMu.Lock()
	c.stored = storedVault{}
	c.persistMu.Unlock()
	if v != nil {
		v.Close()
	}
	c.ix.reset(nil)
}

// undoSignIn rolls back a sign-in that failed after the vault opened
// (storing it failed): the device dropped, the login key wiped and what
// the browser stored of it cleared. The kit stays read, for a retry.
func (c *Core) undoSignIn(ctx context.Context, d *deviceRecord, login *keys.Key32) {
	c.forget()
	d.wipe()
	login.Wipe()
	_ = c.o.Store.Clear(ctx)
}
