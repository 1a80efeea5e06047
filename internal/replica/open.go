package replica

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/ledger"
)

// Account is what a store Join filled says of its account, readable
// without a key: enough to ask for the password, derive, and Open.
type Account struct {
	ID       keys.AccountID
	Envelope *format.Envelope
	KeyCheck *format.KeyCheck
}

// ReadAccount reads the account id, envelope and key check Join stored
// in st (a remembered browser's store, rebuilt from its snapshot). Each
// is parsed; none is trusted until Open has checked the account key
// against the key check.
func ReadAccount(ctx context.Context, st Store) (*Account, error) {
	tx, err := st.BeginSync(ctx, false)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	get := func(k string) ([]byte, error) {
		v, err := tx.Meta(ctx, k)
		if errors.Is(err, ledger.ErrMissing) {
			return nil, fmt.Errorf("%w: no %s", ErrDamaged, k)
		}
		return v, err
	}
	idb, err := get(AccountIDKey)
	if err != nil {
		return nil, err
	}
	if len(idb) != 16 {
		return nil, fmt.Errorf("%w: an account id of %d bytes", ErrDamaged, len(idb))
	}
	eb, err := get(EnvelopeKey)
	if err != nil {
		return nil, err
	}
	kb, err := get(KeyCheckKey)
	if err != nil {
		return nil, err
	}
	a := &Account{ID: keys.AccountID(idb)}
	if a.Envelope, err = format.ParseEnvelope(eb); err != nil {
		return nil, fmt.Errorf("%w: envelope: %v", ErrDamaged, err)
	}
	if a.KeyCheck, err = format.ParseKeyCheck(kb); err != nil {
		return nil, fmt.Errorf("%w: key check: %v", ErrDamaged, err)
	}
	if a.Envelope.AccountID != a.ID || a.KeyCheck.AccountID != a.ID || a.Envelope.KeyVersion != a.KeyCheck.KeyVersion {
		return nil, fmt.Errorf("%w: the envelope, key check and account id disagree", ErrDamaged)
	}
	return a, nil
}

// Open returns the replica in st (filled by Join, and perhaps persisted
// and rebuilt since) unlocked with ak, which must pass the stored key
// check, and whose stored manifest must verify. The Replica keeps its
// own copy of ak, which Close wipes.
func Open(ctx context.Context, st Store, ak *keys.AccountKey, opts ...Option) (*Replica, error) {
	a, err := ReadAccount(ctx, st)
	if err != nil {
		return nil, err
	}
	kv := a.KeyCheck.KeyVersion
	if err := a.KeyCheck.Verify(ak, a.ID, kv); err != nil {
		return nil, err
	}
	k := new(keys.AccountKey)
	keys.LockMemory(k[:])
	*k = *ak
	r := New(st, k, kv, a.ID, opts...)
	r.ownAK = true
	if err := r.read(ctx, func(tx Tx) error {
		_, err := r.ReadManifest(ctx, tx)
		return err
	}); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// Meta returns a meta value a client keeps in the store beside the
// vault (ledger.ErrMissing if unset).
func (r *Replica) Meta(ctx context.Context, k string) ([]byte, error) {
	var v []byte
	err := r.read(ctx, func(tx Tx) error {
		var err error
		v, err = tx.Meta(ctx, k)
		return err
	})
	return v, err
}

// ErrReservedKey is returned by PutMeta for a key the ledger or the sync
// rules own.
var ErrReservedKey = errors.New("this meta key is the vault's own")

// PutMeta sets a meta value a client keeps in the store beside the vault
// (say, an envelope it adopted): not the manifest, the account id or the
// sync bookkeeping, which only the rules write. The manifest does not
// cover it; the value should authenticate itself, as an envelope does.
func (r *Replica) PutMeta(ctx context.Context, k string, v []byte) error {
	switch k {
	case ledger.ManifestKey, CursorKey, VerifiedKey, AccountIDKey:
		return fmt.Errorf("%w: %q", ErrReservedKey, k)
	}
	return r.update(ctx, func(tx Tx) error { return tx.PutMeta(ctx, k, v) })
}
