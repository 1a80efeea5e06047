//go:build !unix

package vault

import "time"

// LockSync does nothing where flock is not available; concurrent syncs of
// one vault then fail safely (a server sync reports a rollback or a
// mismatch; a folder sync writes files under distinct names).
func LockSync(dir string, wait time.Duration) (func(), error) { return func() {}, nil }
