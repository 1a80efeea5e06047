package syncclient

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/vaultsync"
)

// fetchJoin downloads a whole account for a new device. Every revision is
// verified with the account key as its page arrives (vaultsync.DownloadCheck),
// so a server sending junk, replays or an endless feed is refused at the
// first bad page, and memory stays within the account's real data. The
// download must end with a manifest the account's devices signed for the
// head it downloaded: without one, nothing shows that the server sent
// everything, and the device would sign whatever it was given as its own.
func (y *Syncer) fetchJoin(ctx context.Context, id keys.AccountID, ak *keys.AccountKey, envKV, kv uint32, dc *vaultsync.DownloadCheck) ([]vaultsync.Incoming, *api.ChangesResponse, []byte, error) {
	if envKV != kv {
		return nil, nil, nil, fmt.Errorf("%w (its envelope has key version %d, its keys %d); nothing was written", vaultsync.ErrServerMismatch, envKV, kv)
	}
	all, last, err := y.fetchAll(ctx, kv, dc.Check)
	if err != nil {
		return nil, nil, nil, err
	}
	switch {
	case last.ManifestSeq > last.Head:
		return nil, nil, nil, fmt.Errorf("%w (the server at %s sent a manifest ahead of its head); nothing was written", vaultsync.ErrServerMismatch, y.C.URL())
	case last.Head == 0 && len(all) == 0:
		// A new account that no device has pushed to yet: nothing to
		// verify, nothing to sign.
		return all, last, nil, nil
	case last.ManifestSeq != last.Head || len(last.Manifest) == 0:
		return nil, nil, nil, fmt.Errorf("%w: the server at %s offers no manifest signed at the sequence it sent (%d; its manifest is for %d), so nothing shows the download is complete; nothing was written. If another device is syncing right now, run setup again in a moment", ErrNoManifest, y.C.URL(), last.Head, last.ManifestSeq)
	}
	return all, last, last.Manifest, nil
}

// ErrNoManifest means the server sent a download without the signed
// manifest that shows it complete.
var ErrNoManifest = errors.New("the server's download cannot be verified")
