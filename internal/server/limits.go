package server

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/server/store"
	"github.com/keyhold/keyhold/internal/svc"
)

// Bounds on the work one client can cause. Throttle counts live in the
// database, shared by replicas; the bounds on concurrent large requests
// are per replica, since they protect its memory.
const (
	// freeAddrStarts is how many login starts one source address (an
	// IPv6 /64) may make before the doubling lockout applies. Each start
	// costs an OPAQUE response and a database write whether or not the
	// account exists, so without this an address could make unlimited
	// starts against made-up account ids, each under a fresh account's
	// free attempts. It is counted whatever the outcome: a successful
	// login does not reset it, or one account an attacker owns would.
	// Honest devices log in rarely (sessions last weeks), so many users
	// behind one address still fit; see docs/SERVER.md.
	freeAddrStarts = 60

	// expireEvery is how often a replica deletes throttle counts that
	// have been quiet for forgetAfter.
	expireEvery = 10 * time.Minute

	// DefaultMaxLargeRequests is how many large requests (push, rotate)
	// one replica serves at once; more get 503 with Retry-After.
	DefaultMaxLargeRequests = 8
	// maxLargePerAccount is how many large requests of one account one
	// replica serves at once; more get 429 with Retry-After.
	maxLargePerAccount = 2

	// authReadTimeout bounds reading a request until it is authorised:
	// its headers and, for the small requests that need no session, its
	// body. Large bodies get longer only once the session and the
	// declared key version are checked.
	authReadTimeout = 30 * time.Second
)

// startAddrKey counts login starts from one address.
func startAddrKey(k throttleKey) throttleKey {
	return throttleKey{"start:" + k.key, freeAddrStarts}
}

// expireThrottles deletes quiet throttle counts, at most once every
// expireEvery per replica. Keys are made up by clients (any account id,
// any address of a large IPv6 range), so the table would otherwise grow
// with every attempt ever made. Failure is logged: throttling goes on.
func (s *Server) expireThrottles(ctx context.Context) {
	now := s.now()
	last := s.lastExpiry.Load()
	if last != 0 && now.Sub(time.Unix(0, last)) < expireEvery && !now.Before(time.Unix(0, last)) {
		return
	}
	if !s.lastExpiry.CompareAndSwap(last, now.UnixNano()) {
		return // another request of this replica is doing it
	}
	// A count's "until" is its last attempt plus its lockout; quiet for
	// forgetAfter past that, fail and attempt would reset it anyway.
	if _, err := s.st.ExpireFailures(ctx, now.Add(-forgetAfter)); err != nil {
		s.log.Warn("expiring old throttle counts failed", "error", err.Error())
	}
}

// largeRequests bounds the large requests one replica serves at once, in
// total and per account.
type largeRequests struct {
	total chan struct{}

	mu        sync.Mutex
	byAccount map[store.ID]int
}

func (l *largeRequests) init(max int) {
	l.total = make(chan struct{}, max)
	l.byAccount = make(map[store.ID]int)
}

// acquire takes a slot for account, or answers 429 (the account has
// enough in flight) or 503 (the replica has) and reports false.
func (l *largeRequests) acquire(w http.ResponseWriter, account store.ID) bool {
	l.mu.Lock()
	if l.byAccount[account] >= maxLargePerAccount {
		l.mu.Unlock()
		svc.WriteError(w, http.StatusTooManyRequests, api.CodeThrottled, "this account has other large requests in progress; wait for them to finish", 5)
		return false
	}
	l.byAccount[account]++
	l.mu.Unlock()
	select {
	case l.total <- struct{}{}:
		return true
	default:
		l.release(account, false)
		svc.WriteError(w, http.StatusServiceUnavailable, api.CodeBusy, "the server is busy with other large requests; try again shortly", 10)
		return false
	}
}

func (l *largeRequests) release(account store.ID, total bool) {
	if total {
		<-l.total
	}
	l.mu.Lock()
	if l.byAccount[account]--; l.byAccount[account] <= 0 {
		delete(l.byAccount, account)
	}
	l.mu.Unlock()
}

// large wraps the handler of an endpoint whose body may be up to max bytes
// (push, rotate). Until the request is authorised it may send only
// api.MaxBody bytes within authReadTimeout; a larger declared length is
// refused before anything is read. It is authorised when its session is
// valid, it declares (api.KeyVersionHeader) the key version that want
// gives for the session's account, and a large-request slot is free; then
// the body may be up to max bytes, read within d.
func (s *Server) large(max int64, d time.Duration, want func(*authed) uint32, h authHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// The server's read deadline (authReadTimeout from the start of
		// the request) holds until the request is authorised below.
		body := r.Body
		if r.ContentLength > max {
			tooLarge(w, max)
			return
		}
		r.Body = http.MaxBytesReader(w, body, api.MaxBody)
		a, ok := s.authenticate(w, r)
		if !ok {
			return
		}
		v := r.Header.Get(api.KeyVersionHeader)
		if v == "" {
			if r.ContentLength > api.MaxBody {
				w.Header().Set("Connection", "close")
				svc.WriteError(w, http.StatusRequestEntityTooLarge, api.CodeTooLarge,
					"a body over "+strconv.Itoa(api.MaxBody)+" bytes needs the "+api.KeyVersionHeader+" header", 0)
				return
			}
			h(w, r, a) // small: as any other request
			return
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			badRequest(w, api.KeyVersionHeader+" must be a key version (a number)")
			return
		}
		if uint32(n) != want(a) {
			w.Header().Set("Connection", "close")
			svc.WriteError(w, http.StatusConflict, api.CodeStale, "the body is sealed under another key version than the account's; pull first", 0)
			return
		}
		if !s.bigReqs.acquire(w, a.account.ID) {
			w.Header().Set("Connection", "close")
			return
		}
		defer s.bigReqs.release(a.account.ID, true)
		r.Body = http.MaxBytesReader(w, body, max)
		extendDeadlines(w, d)
		h(w, r, a)
	}
}

// tooLarge refuses a body whose declared length is over max, unread.
func tooLarge(w http.ResponseWriter, max int64) {
	w.Header().Set("Connection", "close")
	svc.WriteError(w, http.StatusRequestEntityTooLarge, api.CodeTooLarge, (&api.TooLargeError{Limit: max}).Error(), 0)
}

// pushVersion is the key version a push must be sealed under.
func pushVersion(a *authed) uint32 { return a.account.KeyVersion }

// rotateVersion is the key version a rotation must be sealed under.
func rotateVersion(a *authed) uint32 { return a.account.KeyVersion + 1 }

// countStart counts one login start against the request's source address
// (see freeAddrStarts) and answers 429 itself if the address is locked
// out; it reports whether the start may go on. No audit event is written:
// the account named may be anyone's, chosen by whoever is making starts.
func (s *Server) countStart(w http.ResponseWriter, r *http.Request) bool {
	ctx := r.Context()
	s.expireThrottles(ctx)
	wait, _, err := s.attempt(ctx, startAddrKey(addrKey(svc.ClientAddr(r, s.cfg.TrustProxy))))
	if err != nil {
		s.internal(w, r, err)
		return false
	}
	if wait > 0 {
		s.metrics.logins.WithLabelValues("throttled").Inc()
		secs := retryAfter(wait)
		svc.WriteError(w, http.StatusTooManyRequests, api.CodeThrottled, "too many logins from this address; wait before trying again", secs)
		return false
	}
	return true
}
