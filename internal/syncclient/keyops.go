package syncclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/uuid"
	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/vaultsync"
)

// errOldEpoch is the server's refusal of an envelope whose password epoch
// does not rise above its own: this device missed a password change.
var errOldEpoch = errors.New("the password was changed on another device meanwhile; nothing was changed: run keyhold sync, unlock with the newest password, then try again")

// PublishPassword returns the callback vault.Session.ChangePassword calls
// before it changes anything locally: the server gets the new envelope and
// a PAKE record for the new login key in one request, so the password
// changes everywhere at once or nowhere.
func (y *Syncer) PublishPassword(ctx context.Context) func(env []byte, login *keys.Key32) error {
	return func(env []byte, login *keys.Key32) error {
		id := y.S.AccountID()
		_, kv := y.S.AccountKey()
		if err := y.prove(ctx); err != nil {
			return err
		}
		record, err := NewRecord(ctx, y.C, id, login)
		if err != nil {
			return authError(err)
		}
		if err := y.C.SetPassword(ctx, &api.PasswordRequest{KeyVersion: kv, Envelope: env, Record: record}); err != nil {
			if api.IsCode(err, api.CodeStale) {
				return errors.New("the account key was rotated on another device; run keyhold sync, then change the password")
			}
			if api.IsCode(err, api.CodeOldEpoch) {
				return errOldEpoch
			}
			return authError(err)
		}
		return nil
	}
}

// Rotate rotates the account key through the server: the device must be
// fully synced (it syncs first); then every revision re-encrypted under
// the new key, the new envelope, key check, PAKE record and the transition
// for other devices replace the server's in one transaction, and only
// then the local vault commits.
func (y *Syncer) Rotate(ctx context.Context, pw []byte) (*vaultsync.Created, error) {
	if _, err := y.Sync(ctx); err != nil {
		return nil, err
	}
	v := y.S
	n, err := v.Pending(ctx)
	if err != nil {
		return nil, err
	}
	st, err := v.SyncState(ctx)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		return nil, vaultsync.ErrNotSynced
	}
	id := v.AccountID()
	return y.S.RotateKey(ctx, pw, func(rot *vaultsync.Rotation) error {
		if err := y.prove(ctx); err != nil {
			return err
		}
		record, err := NewRecord(ctx, y.C, id, rot.Login)
		if err != nil {
			return authError(err)
		}
		req := &api.RotateRequest{Cursor: st.Cursor, KeyVersion: rot.KeyVersion, Envelope: rot.Envelope,
			KeyCheck: rot.KeyCheck, Record: record, Transition: rot.Transition, Items: make([]api.PushItem, len(rot.Items))}
		var nrevs uint64
		for i, o := range rot.Items {
			pi := api.PushItem{ItemID: uuid.UUID(o.ID).String(), Revs: make([]api.Revision, len(o.Revs))}
			for j, r := range o.Revs {
				pi.Revs[j] = api.Revision{Rev: r.Rev, Box: r.Box}
			}
			nrevs += uint64(len(o.Revs))
			req.Items[i] = pi
		}
		req.Manifest = rot.Manifest(st.Cursor + nrevs)
		resp, err := y.C.Rotate(ctx, req)
		if err != nil {
			if api.IsCode(err, api.CodeStale) {
				return errors.New("another device changed the vault meanwhile; run keyhold sync, then rotate again")
			}
			if api.IsCode(err, api.CodeOldEpoch) {
				return errOldEpoch
			}
			return authError(err)
		}
		if resp.Head != st.Cursor+nrevs {
			return fmt.Errorf("%w (after the rotation it reports sequence %d, expected %d)", vaultsync.ErrServerMismatch, resp.Head, st.Cursor+nrevs)
		}
		rot.Head = resp.Head
		return nil
	})
}

// SetupOptions describe a new device joining an account on a server.
type SetupOptions struct {
	AccountID keys.AccountID
	SecretKey *keys.SecretKey
	Config    *Config // server, fingerprint, device id and name
	Password  []byte
	Email     string
	// Create writes the new device's vault from the verified download j
	// (account key version kv), keeps the device's settings (Config, as
	// Setup left it: logged in), and returns the vault unlocked with
	// j.AccountKey, and a function that closes it. The CLI's writes the
	// vault directory (vaultsync.CreateJoined, Config.Save, vaultsync.Open,
	// UnlockWithKey).
	Create func(j *vaultsync.Join, kv uint32) (Local, func(), error)
	// Argon2 computes the Argon2id step of the key derivation (nil:
	// keys.Argon2ID); the web vault runs it in a Web Worker.
	Argon2 keys.Argon2
	// HTTP, if not nil, is the HTTP client the server is reached with
	// (Config.ClientHTTP): a browser's, whose requests are fetches.
	HTTP *http.Client
	// Login, if not nil, receives the login key once the login
	// succeeded: a client that logs in again by itself when the server
	// ends its session (the web vault, while unlocked) keeps it. The
	// caller wipes it.
	Login *keys.Key32
	// Mark, if not nil, is told the steps Setup reached ("logged-in",
	// "opened-keys"), for a client that measures where setup time goes
	// (bench/web). Names only.
	Mark func(step string)
}

func (o *SetupOptions) mark(step string) {
	if o.Mark != nil {
		o.Mark(step)
	}
}

func (o *SetupOptions) client() (*api.Client, error) {
	if o.HTTP != nil {
		return o.Config.ClientHTTP(o.HTTP)
	}
	return o.Config.Client()
}

// Setup makes a new device's vault from the server (the kit's steps 7–9):
// it derives the login key from the password and the kit's Secret Key,
// logs in, fetches the envelope and key check, unwraps and checks the
// account key, and only then downloads every item, has the vault and the
// device's settings written (Create), and syncs once, which checks the
// download against the manifest the devices signed. On any failure
// before Create nothing is written.
func Setup(ctx context.Context, o *SetupOptions) (*Report, error) {
	cl, err := o.client()
	if err != nil {
		return nil, err
	}
	sid := uuid.UUID(o.AccountID).String()
	params, err := cl.LoginParams(ctx, sid)
	if err != nil {
		return nil, err
	}
	hdr, err := format.ParseEnvelopeHeader(params.Header)
	if err != nil {
		return nil, fmt.Errorf("%w (its envelope header: %v)", vaultsync.ErrServerMismatch, err)
	}
	if hdr.AccountID != o.AccountID {
		return nil, fmt.Errorf("%w (it answered for another account)", vaultsync.ErrServerMismatch)
	}
	d, err := hdr.DeriveWith(o.Argon2, o.Password, o.SecretKey)
	if err != nil {
		if errors.Is(err, format.ErrWrongSecretKey) {
			return nil, fmt.Errorf("%w, or the account does not exist on %s", err, cl.URL())
		}
		return nil, err
	}
	defer d.Wipe()
	if err := Login(ctx, cl, o.Config, o.AccountID, &d.Login); err != nil {
		return nil, err
	}
	o.mark("logged-in")
	if o.Login != nil {
		*o.Login = d.Login
	}
	k, err := cl.Keys(ctx)
	if err != nil {
		return nil, authError(err)
	}
	env, err := format.ParseEnvelope(k.Envelope)
	if err != nil {
		return nil, fmt.Errorf("the server's account key envelope: %w", err)
	}
	if env.AccountID != o.AccountID || env.KeyVersion != hdr.KeyVersion {
		return nil, fmt.Errorf("%w (it sent an envelope of another account or key version); nothing was written", vaultsync.ErrServerMismatch)
	}
	if string(env.Header()) != string(hdr.Header()) {
		return nil, fmt.Errorf("the server at %s sent an envelope other than the one it gave the login parameters of (the password may have changed during setup); run the setup again", cl.URL())
	}
	ak, err := env.OpenDerived(d)
	if err != nil {
		// The login just proved that this password and Secret Key are
		// the account's, with this very header: an envelope that does
		// not open was changed by the server.
		return nil, fmt.Errorf("%w (its envelope does not open with the password and Secret Key its login accepted); nothing was written", vaultsync.ErrServerMismatch)
	}
	defer ak.Wipe()
	o.mark("opened-keys")
	y := &Syncer{C: cl}
	// Every box is opened as it arrives; joining reuses what the current
	// revisions opened to rather than opening them again.
	dc := vaultsync.NewDownloadCheck(o.AccountID, ak, k.KeyVersion)
	dc.KeepOpened()
	all, last, manifest, err := y.fetchJoin(ctx, o.AccountID, ak, env.KeyVersion, k.KeyVersion, dc)
	if err != nil {
		return nil, err
	}
	s, done, err := o.Create(&vaultsync.Join{AccountID: o.AccountID, SecretKey: o.SecretKey, AccountKey: ak,
		Envelope: k.Envelope, KeyCheck: k.KeyCheck, Email: o.Email, Server: o.Config.Server, Revisions: all, Head: last.Head, Manifest: manifest,
		Opened: dc.Opened()}, env.KeyVersion)
	if err != nil {
		return nil, err
	}
	defer done()
	// Check the download against the manifest the devices signed.
	y.S = s
	return y.Sync(ctx)
}
