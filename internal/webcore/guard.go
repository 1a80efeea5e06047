package webcore

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// ErrUnusable is every call's answer once a call failed unexpectedly (a
// panic): the session's state may be half changed and a lock may still
// be held, so carrying on could hang the page or show wrong data. A
// reload starts a fresh session from what the browser stored.
var ErrUnusable = errors.New("the web vault stopped after an unexpected failure; reload the page")

// Guard runs the page's calls and stops the session for good at the first
// one that panics (ErrUnusable, code "internal").
type Guard struct {
	broken atomic.Bool
}

// Run runs fn, unless an earlier call panicked; a panic in fn is
// recovered, reported as ErrUnusable and marks the session unusable.
func (g *Guard) Run(fn func() (any, error)) (v any, err error) {
	if g.broken.Load() {
		return nil, ErrUnusable
	}
	defer func() {
		if r := recover(); r != nil {
			g.broken.Store(true)
			v, err = nil, fmt.Errorf("%w (%v)", ErrUnusable, r)
		}
	}()
	return fn()
}
