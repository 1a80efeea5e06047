//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/syncclient"
	"github.com/keyhold/keyhold/internal/syncfile"
	"github.com/keyhold/keyhold/internal/vault"
)

// The large vault

// bigVault adds o.items items to a new vault, uploads them with the real
// sync, downloads them raw once, and sets up o.setupRuns new devices from
// the server with syncclient.Setup.
func bigVault(ctx context.Context, o *options, url, dir string) (*bigStats, error) {
	b := &bigStats{Items: o.items}
	vdir := filepath.Join(dir, "big-0")
	created, err := vault.Create(vdir, password, vault.CreateOptions{KDF: benchKDF}, vaultOpts()...)
	if err != nil {
		return nil, err
	}
	defer created.Login.Wipe()
	v, err := vault.Open(vdir, vaultOpts()...)
	if err != nil {
		return nil, err
	}
	defer v.Close()
	if err := v.EnableSync(ctx); err != nil {
		return nil, err
	}
	cfg, err := syncclient.NewConfig(url, "", syncfile.DeviceName())
	if err != nil {
		return nil, err
	}
	cl, err := newClient(url, "127.2.0.1")
	if err != nil {
		return nil, err
	}
	if err := syncclient.Register(ctx, cl, cfg, v, created.Login, ""); err != nil {
		return nil, err
	}
	s, err := v.Unlock(password)
	if err != nil {
		return nil, err
	}
	defer s.Close()

	t0 := time.Now()
	const batch = 1000
	for i := 0; i < o.items; i += batch {
		var its []*item.Item
		for j := i; j < min(i+batch, o.items); j++ {
			pt, err := typicalItem(j)
			if err != nil {
				return nil, err
			}
			it, err := item.Unmarshal(pt)
			if err != nil {
				return nil, err
			}
			it.Title = fmt.Sprintf("g%d/entry-%05d", j%10, j)
			its = append(its, it)
		}
		if _, err := s.Add(ctx, its...); err != nil {
			return nil, err
		}
	}
	b.AddSeconds = time.Since(t0).Seconds()

	t0 = time.Now()
	rep, err := (&syncclient.Syncer{C: cl, S: s}).Sync(ctx)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	b.UploadSeconds = time.Since(t0).Seconds()
	b.Pushes = rep.Pushed
	if rep.Pushed != o.items || !rep.Verified {
		return nil, fmt.Errorf("upload pushed %d of %d items (verified: %v)", rep.Pushed, o.items, rep.Verified)
	}
	logf("large vault: %d items added in %.2f s, uploaded in %.2f s", o.items, b.AddSeconds, b.UploadSeconds)

	// The download alone, without opening or storing anything.
	t0 = time.Now()
	var since uint64
	for {
		page, err := cl.Changes(ctx, since, syncclient.PageSize)
		if err != nil {
			return nil, err
		}
		for _, c := range page.Changes {
			b.RawBytes += int64(len(c.Box))
			since = c.Seq
		}
		if !page.More {
			break
		}
	}
	b.RawDownload = time.Since(t0).Seconds()
	if b.RawBytes > 0 {
		b.BoxBytes = int(b.RawBytes / int64(o.items))
	}

	for r := range o.setupRuns {
		ndir := filepath.Join(dir, fmt.Sprintf("big-%d", r+1))
		ncfg, err := syncclient.NewConfig(url, "", syncfile.DeviceName())
		if err != nil {
			return nil, err
		}
		ncfg.DeviceName = fmt.Sprintf("bench new device %d", r+1)
		sk := *created.SecretKey
		t0 := time.Now()
		rep, err := syncclient.Setup(ctx, &syncclient.SetupOptions{AccountID: created.AccountID, SecretKey: &sk, Config: ncfg, Password: password, Create: joinedVault(ndir, ncfg)})
		d := time.Since(t0).Seconds()
		if err != nil {
			return nil, fmt.Errorf("setup: %w", err)
		}
		if !rep.Verified {
			return nil, errors.New("setup: the download did not verify against the manifest")
		}
		if n, err := countItems(ndir); err != nil || n != o.items {
			return nil, fmt.Errorf("setup: the new vault holds %d items, not %d (%v)", n, o.items, err)
		}
		b.Setups = append(b.Setups, d)
		logf("large vault: new device %d set up in %.3f s", r+1, d)
	}
	if len(b.Setups) > 0 {
		s := slices.Clone(b.Setups)
		slices.Sort(s)
		b.SetupMedian = s[len(s)/2]
	}
	return b, nil
}

func countItems(dir string) (int, error) {
	v, err := vault.Open(dir, vaultOpts()...)
	if err != nil {
		return 0, err
	}
	defer v.Close()
	s, err := v.Unlock(password)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	es, err := s.List(context.Background(), vault.All)
	return len(es), err
}

// joinedVault writes a new device's vault and sync settings in dir and
// opens it, for syncclient.Setup.
func joinedVault(dir string, cfg *syncclient.Config) func(*vault.Join, uint32) (syncclient.Local, func(), error) {
	return func(j *vault.Join, kv uint32) (syncclient.Local, func(), error) {
		s, done, err := vault.CreateJoinedOpen(dir, j, kv, func() error { return syncfile.Save(dir, cfg) }, vaultOpts()...)
		if err != nil {
			return nil, nil, err
		}
		return s, done, nil
	}
}
