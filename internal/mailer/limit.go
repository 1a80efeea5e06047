package mailer

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxLimiterKeys bounds the keys (accounts, addresses) a limiter tracks.
const maxLimiterKeys = 100_000

// limiter is a token bucket per key: perHour events an hour, at most
// perHour at once. Keys whose bucket is full again are forgotten when the
// map fills up, since a full bucket is what a new key gets anyway.
type limiter struct {
	mu      sync.Mutex
	perHour int
	max     int
	keys    map[string]*rate.Limiter
}

func newLimiter(perHour, max int) *limiter {
	return &limiter{perHour: perHour, max: max, keys: make(map[string]*rate.Limiter)}
}

// allow takes one token from key's bucket. If there is none it takes
// nothing and returns how long until there is.
func (l *limiter) allow(key string, now time.Time) (wait time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.keys[key]
	if lim == nil {
		if len(l.keys) >= l.max {
			l.sweep(now)
		}
		if len(l.keys) >= l.max {
			// Every tracked key is still throttled: refusing newcomers
			// for a while is better than forgetting a throttled key.
			return time.Minute, false
		}
		lim = rate.NewLimiter(rate.Every(time.Hour/time.Duration(l.perHour)), l.perHour)
		l.keys[key] = lim
	}
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}

// sweep forgets the keys whose bucket is full again.
func (l *limiter) sweep(now time.Time) {
	for k, lim := range l.keys {
		if lim.TokensAt(now) >= float64(l.perHour) {
			delete(l.keys, k)
		}
	}
}
