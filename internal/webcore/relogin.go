package webcore

import (
	"context"
	"fmt"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/vaultsync"
)

// browserAccount is the device record as syncclient.Relogin needs it: a
// password changed on another device reaches a browser that was not
// online when it happened through the server's login parameters.
type browserAccount struct {
	c *Core
	d *deviceRecord
}

func (a browserAccount) AccountID() keys.AccountID { return a.d.accountID() }

func (a browserAccount) Envelope() *format.Envelope {
	a.c.mu.Lock()
	defer a.c.mu.Unlock()
	return a.d.envelope()
}

func (a browserAccount) KeyCheckBytes() []byte { return a.d.KeyCheck }
func (a browserAccount) KeyVersion() uint32    { return a.d.KeyVersion }

// LegacyHeader is nil: the web vault never held an envelope of the
// previous version.
func (a browserAccount) LegacyHeader() []byte { return nil }

func (a browserAccount) DeviceSecret() (*keys.SecretKey, keys.KDFParams, error) {
	a.c.mu.Lock()
	defer a.c.mu.Unlock()
	return a.d.secretKey(), a.d.KDFFloor, nil
}

// AdoptServerEnvelope makes the server's newer envelope, which the
// password just typed opened to ak, the working one: it must be of this
// account and key version, open the key check, and have a password epoch
// above the working envelope's.
func (a browserAccount) AdoptServerEnvelope(ctx context.Context, ak *keys.AccountKey, kv uint32, b []byte) error {
	env, err := format.ParseEnvelope(b)
	if err != nil {
		return fmt.Errorf("%w (its account key envelope: %v)", vaultsync.ErrServerMismatch, err)
	}
	kc, err := format.ParseKeyCheck(a.d.KeyCheck)
	if err != nil {
		return fmt.Errorf("%w (key check: %v)", ErrDamagedStore, err)
	}
	if env.AccountID != a.d.accountID() || kv != a.d.KeyVersion || kc.Verify(ak, env.AccountID, kv) != nil {
		return fmt.Errorf("%w (its envelope does not open this vault's key check)", vaultsync.ErrServerMismatch)
	}
	a.c.mu.Lock()
	cur := a.d.envelope()
	if env.Epoch <= cur.Epoch {
		a.c.mu.Unlock()
		return &vaultsync.OldEnvelopeError{From: "the server", Epoch: env.Epoch, Adopted: cur.Epoch, Same: env.Epoch == cur.Epoch}
	}
	a.d.Envelope, a.d.Pending, a.d.KDFFloor = append([]byte(nil), b...), nil, maxKDF(a.d.KDFFloor, env.KDF)
	a.c.mu.Unlock()
	return nil
}
