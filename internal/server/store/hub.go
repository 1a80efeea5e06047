package store

import (
	"context"
	"sync"
)

// hub hands new heads to the subscribers of each account in this process.
// Each subscriber has a one-slot channel holding the newest head not yet
// read: a slow reader misses intermediate heads, never the latest, and
// never holds up the writer.
type hub struct {
	mu   sync.Mutex
	subs map[ID]map[*sub]struct{}
}

type sub struct {
	ch    chan uint64
	last  uint64
	owner any           // the Store that made it, so Close can end it
	done  chan struct{} // closed when the subscription ends
}

func newHub() *hub { return &hub{subs: make(map[ID]map[*sub]struct{})} }

// publish offers head to the account's subscribers. A head older than one
// already offered is dropped, so a reader never goes backwards.
func (h *hub) publish(account ID, head uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[account] {
		if head < s.last {
			continue
		}
		s.last = head
		select { // replace an unread older head
		case <-s.ch:
		default:
		}
		s.ch <- head // cannot block: the slot is empty and only we send
	}
}

// subscribe registers a subscriber until ctx ends or its owner closes.
func (h *hub) subscribe(ctx context.Context, account ID, owner any) <-chan uint64 {
	s := &sub{ch: make(chan uint64, 1), owner: owner, done: make(chan struct{})}
	h.mu.Lock()
	if h.subs[account] == nil {
		h.subs[account] = make(map[*sub]struct{})
	}
	h.subs[account][s] = struct{}{}
	h.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
			h.mu.Lock()
			h.remove(account, s)
			h.mu.Unlock()
		case <-s.done:
		}
	}()
	return s.ch
}

// remove ends one subscription; h.mu is held.
func (h *hub) remove(account ID, s *sub) {
	if _, ok := h.subs[account][s]; !ok {
		return
	}
	delete(h.subs[account], s)
	if len(h.subs[account]) == 0 {
		delete(h.subs, account)
	}
	close(s.ch)
	close(s.done)
}

// closeOwner ends every subscription made through owner.
func (h *hub) closeOwner(owner any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for account, set := range h.subs {
		for s := range set {
			if s.owner == owner {
				h.remove(account, s)
			}
		}
	}
}

// accounts lists the accounts someone listens to.
func (h *hub) accounts() []ID {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]ID, 0, len(h.subs))
	for id := range h.subs {
		ids = append(ids, id)
	}
	return ids
}
