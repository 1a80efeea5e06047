package server

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/server/store"
)

// Login throttling. With OPAQUE, a client learns whether its password
// guess was right from KE2 alone, so every login start is a guess, whether
// or not the login is finished. Starts are therefore counted against the
// account when they are made, and a successful finish clears the count.
// Failed finishes (which honest clients send) and replayed or expired ones
// are counted against the source address (an IPv6 /64, which one client
// usually holds whole); the address's count is left to expire, so that one
// account an attacker owns cannot reset it.
//
// The first few attempts cost nothing, so a user who mistypes is not
// slowed; each further one locks the key out for twice as long as the one
// before, up to maxLockout. For one account that lets about ten guesses
// through in the first minute and fewer each minute after. A count is
// forgotten once its key has been quiet for forgetAfter.
const (
	freeAccountFailures = 5
	freeAddrFailures    = 20
	firstLockout        = time.Second
	maxLockout          = 15 * time.Minute
	forgetAfter         = time.Hour
)

// lockout is how long a key stays locked after its count-th failure.
func lockout(count, free int) time.Duration {
	if count <= free {
		return 0
	}
	n := count - free - 1
	if n > 20 {
		return maxLockout
	}
	return min(firstLockout<<n, maxLockout)
}

type throttleKey struct {
	key  string
	free int
}

func accountKey(id store.ID) throttleKey {
	return throttleKey{"account:" + api.FormatID(id), freeAccountFailures}
}

func addrKey(a netip.Addr) throttleKey {
	if !a.IsValid() {
		return throttleKey{"addr:unknown", freeAddrFailures}
	}
	if a.Is6() {
		p, _ := a.Prefix(64)
		return throttleKey{"addr:" + p.String(), freeAddrFailures}
	}
	return throttleKey{"addr:" + a.String(), freeAddrFailures}
}

// createKey counts accounts created from one address: creating accounts
// is open to anyone, so this keeps one client from filling the database.
// The first freeCreates in an hour are free; after that the same doubling
// lockout as for failed logins applies.
func createKey(a netip.Addr) throttleKey {
	k := addrKey(a)
	return throttleKey{"create:" + k.key, freeCreates}
}

const freeCreates = 10

// throttled returns how long the caller must wait before the next attempt
// under any of keys (0: go ahead), and until when.
func (s *Server) throttled(ctx context.Context, keys ...throttleKey) (time.Duration, time.Time, error) {
	now := s.now()
	var wait time.Duration
	var latest time.Time
	for _, k := range keys {
		count, until, err := s.st.Failures(ctx, k.key)
		if err != nil {
			return 0, time.Time{}, err
		}
		// Within the free attempts "until" is only when the last attempt
		// was recorded (by another replica's clock, possibly a moment
		// ahead of this one): it is not a lockout.
		if d := until.Sub(now); count > k.free && d > wait {
			wait, latest = d, until
		}
	}
	return wait, latest, nil
}

// auditedLockouts remembers, per account, the lockout this replica last
// recorded a login_throttled event for: refused attempts cost an attacker
// nothing, so recording each one would let them fill the audit log.
type auditedLockouts struct {
	mu   sync.Mutex
	last map[store.ID]time.Time
}

// first reports whether this is the first refusal seen for account's
// lockout ending at until.
func (a *auditedLockouts) first(account store.ID, until time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.last == nil || len(a.last) > 100_000 {
		a.last = make(map[store.ID]time.Time)
	}
	if a.last[account].Equal(until) {
		return false
	}
	a.last[account] = until
	return true
}

// fail records one failed attempt under each key.
func (s *Server) fail(ctx context.Context, keys ...throttleKey) error {
	now := s.now()
	for _, k := range keys {
		count, until, err := s.st.Failures(ctx, k.key)
		if err != nil {
			return err
		}
		// until is the last failure's time plus its lockout: past it by
		// forgetAfter, the key has been quiet that long.
		if count > 0 && now.Sub(until) > forgetAfter {
			if err := s.st.ClearFailures(ctx, k.key); err != nil {
				return err
			}
			count = 0
		}
		if _, err := s.st.RecordFailure(ctx, k.key, now.Add(lockout(count+1, k.free))); err != nil {
			return err
		}
	}
	return nil
}

// attempt counts one login start against k (an account key) if k is not
// locked out. Concurrent attempts are counted atomically and only the
// first of them may use a slot past the free ones: a burst of parallel
// starts gets no more guesses through than a sequence. wait > 0 means
// refused.
func (s *Server) attempt(ctx context.Context, k throttleKey) (wait time.Duration, until time.Time, err error) {
	now := s.now()
	count, until, err := s.st.Failures(ctx, k.key)
	if err != nil {
		return 0, time.Time{}, err
	}
	if d := until.Sub(now); d > 0 && count > k.free {
		return d, until, nil
	}
	if count > 0 && now.Sub(until) > forgetAfter {
		if err := s.st.ClearFailures(ctx, k.key); err != nil {
			return 0, time.Time{}, err
		}
		count = 0
	}
	next := now.Add(lockout(count+1, k.free))
	n, err := s.st.RecordFailure(ctx, k.key, next)
	if err != nil {
		return 0, time.Time{}, err
	}
	if n > count+1 && n > k.free {
		// Another attempt took this slot between our read and our count.
		return max(next.Sub(now), time.Second), next, nil
	}
	return 0, time.Time{}, nil
}

// retryAfter rounds a wait up to whole seconds for Retry-After.
func retryAfter(d time.Duration) int {
	secs := int((d + time.Second - 1) / time.Second)
	return max(secs, 1)
}
