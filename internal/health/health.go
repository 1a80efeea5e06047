// Package health holds the password reuse rule every client applies the
// same way: `keyhold audit` and the web vault's Health screen group items
// that hold the same password. (Weak passwords are strength.Evaluate's
// verdict for the item's title and username; this package does not link
// the estimator, whose word lists the web vault loads only on demand.)
package health

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
)

// Reuse groups items by their password. Passwords are compared by a
// keyed hash, HMAC-SHA-256 under a key drawn at random for this Reuse
// and dropped with it, so the grouping key is useless outside the
// process and is never shown.
type Reuse[T any] struct {
	key    [32]byte
	groups map[[sha256.Size]byte][]T
	order  [][sha256.Size]byte
}

// NewReuse returns an empty grouping with a fresh key.
func NewReuse[T any]() (*Reuse[T], error) {
	r := &Reuse[T]{groups: map[[sha256.Size]byte][]T{}}
	if _, err := rand.Read(r.key[:]); err != nil {
		return nil, err
	}
	return r, nil
}

// Add records that v holds the password pw.
func (r *Reuse[T]) Add(pw []byte, v T) {
	m := hmac.New(sha256.New, r.key[:])
	m.Write(pw)
	var sum [sha256.Size]byte
	m.Sum(sum[:0])
	if _, seen := r.groups[sum]; !seen {
		r.order = append(r.order, sum)
	}
	r.groups[sum] = append(r.groups[sum], v)
}

// Groups returns the groups of two or more items sharing one password,
// in the order their password was first added.
func (r *Reuse[T]) Groups() [][]T {
	var out [][]T
	for _, k := range r.order {
		if g := r.groups[k]; len(g) > 1 {
			out = append(out, g)
		}
	}
	return out
}

// Wipe drops the key.
func (r *Reuse[T]) Wipe() { clear(r.key[:]) }
