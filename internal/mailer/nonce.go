package mailer

import (
	"errors"
	"sync"
	"time"
)

// maxNonces bounds the nonces remembered. A ticket lives at most
// mailticket.MaxLifetime (an hour), so this is room for a hundred thousand
// mails an hour, far beyond any queue this mailer holds.
const maxNonces = 100_000

var (
	errNonceUsed  = errors.New("mailer: ticket already used")
	errNoncesFull = errors.New("mailer: too many unexpired tickets to remember another")
)

// nonceSet remembers the nonce of every ticket used, until the ticket
// expires: after that the ticket is refused as expired anyway. When full
// of unexpired nonces it refuses new tickets rather than forget one that
// could then be replayed.
type nonceSet struct {
	mu   sync.Mutex
	max  int
	seen map[[16]byte]time.Time // nonce → its ticket's expiry
}

func newNonceSet(max int) *nonceSet {
	return &nonceSet{max: max, seen: make(map[[16]byte]time.Time)}
}

// use records nonce, valid until expires, unless it was seen before. The
// returned release forgets it again, for a request that failed after the
// check through no fault of the ticket (a full queue), so that the client
// can try again with the same ticket.
func (n *nonceSet) use(nonce [16]byte, expires, now time.Time) (release func(), err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.seen[nonce]; ok {
		return nil, errNonceUsed
	}
	if len(n.seen) >= n.max {
		for k, exp := range n.seen {
			if !now.Before(exp) {
				delete(n.seen, k)
			}
		}
		if len(n.seen) >= n.max {
			return nil, errNoncesFull
		}
	}
	n.seen[nonce] = expires
	var once sync.Once
	return func() {
		once.Do(func() {
			n.mu.Lock()
			delete(n.seen, nonce)
			n.mu.Unlock()
		})
	}, nil
}

func (n *nonceSet) len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.seen)
}
