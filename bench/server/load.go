//go:build linux

package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/syncclient"
	"github.com/keyhold/keyhold/internal/syncfile"
	"github.com/keyhold/keyhold/internal/vault"
)

// Clients

// Every account connects from its own loopback address (127.1.x.y), as
// households do from theirs: the server throttles account creation per
// address, and one address creating hundreds of accounts would be refused.
// api.NewClient copies http.DefaultTransport, so the dialer is swapped in
// for the moment of the copy.
var (
	dialMu  sync.Mutex
	connsMu sync.Mutex
	conns   = map[net.Conn]struct{}{}
)

func newClient(url, src string) (*api.Client, error) {
	dialMu.Lock()
	defer dialMu.Unlock()
	tr := http.DefaultTransport.(*http.Transport)
	saved := tr.DialContext
	defer func() { tr.DialContext = saved }()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err == nil {
			connsMu.Lock()
			conns[c] = struct{}{}
			connsMu.Unlock()
		}
		return c, err
	}
	return api.NewClient(url, "")
}

// closeConns closes every connection the clients made so far, so that the
// server holds only what the next phase opens.
func closeConns() {
	connsMu.Lock()
	defer connsMu.Unlock()
	for c := range conns {
		c.Close()
	}
	clear(conns)
}

func accountAddr(i int) string { return fmt.Sprintf("127.1.%d.%d", i/250, i%250+1) }

type account struct {
	idx     int
	id      keys.AccountID
	ak      keys.AccountKey
	login   keys.Key32
	src     string
	pt      []byte // the plaintext of a typical item, sealed anew for each revision
	devices []*device
}

type device struct {
	acct   *account
	cl     *api.Client
	token  string
	item   [16]byte // the item this device edits
	rev    uint64   // its revision on the server
	cursor uint64   // the account head this device last saw
	heads  chan uint64
}

// seal makes a real box for one revision of one item.
func (a *account) seal(id [16]byte, rev uint64) ([]byte, error) {
	return format.SealItem(&a.ak, 1, format.ItemRef{AccountID: a.id, ItemID: id, Revision: rev}, a.pt)
}

// typicalItem is a login item whose box is about boxSize bytes.
func typicalItem(i int) ([]byte, error) {
	it := item.New(item.Login, fmt.Sprintf("Example service %05d", i), time.Now())
	it.Set("username", fmt.Sprintf("user%05d@example.com", i), item.Text)
	it.Set("password", "kX9#mQ2$vL7@pR4!wT8&zN3^", item.Hidden)
	it.URLs = []string{fmt.Sprintf("https://login.example-%05d.com/signin", i)}
	it.Tags = []string{"work"}
	const overhead = 9 + keys.SealOverhead
	for {
		b, err := it.Marshal()
		if err != nil {
			return nil, err
		}
		if len(b)+overhead >= boxSize {
			return b, nil
		}
		it.Notes += strings.Repeat("n", boxSize-overhead-len(b))
	}
}

func workers(n, par int, fn func(i int) error) error {
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		mu   sync.Mutex
		err1 error
	)
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if err1 == nil {
						err1 = err
					}
					mu.Unlock()
					next.Store(int64(n))
					return
				}
			}
		}()
	}
	wg.Wait()
	return err1
}

// createAccounts makes devices/perAccount accounts, each from a real vault
// (syncclient.Register: OPAQUE registration, account creation, the first
// device's login), then logs in the other devices (syncclient.Login).
func createAccounts(ctx context.Context, o *options, url, dir string, st *backendStats) ([]*account, error) {
	n := o.devices / o.perAccount
	accts := make([]*account, n)
	var mu sync.Mutex
	var regLat, loginLat []time.Duration
	par := 4
	t0 := time.Now()
	err := workers(n, par, func(i int) error {
		a := &account{idx: i, src: accountAddr(i)}
		vdir := filepath.Join(dir, fmt.Sprintf("acct-%04d", i))
		created, err := vault.Create(vdir, password, vault.CreateOptions{KDF: benchKDF}, vaultOpts()...)
		if err != nil {
			return err
		}
		defer created.Login.Wipe()
		a.id, a.login = created.AccountID, *created.Login
		v, err := vault.Open(vdir, vaultOpts()...)
		if err != nil {
			return err
		}
		defer v.Close()
		if err := v.EnableSync(ctx); err != nil {
			return err
		}
		cfg, err := syncclient.NewConfig(url, "", syncfile.DeviceName())
		if err != nil {
			return err
		}
		cfg.DeviceName = fmt.Sprintf("bench %d/0", i)
		cl, err := newClient(url, a.src)
		if err != nil {
			return err
		}
		t := time.Now()
		if err := syncclient.Register(ctx, cl, cfg, v, created.Login, ""); err != nil {
			return fmt.Errorf("register account %d: %w", i, err)
		}
		d := time.Since(t)
		s, err := v.Unlock(password)
		if err != nil {
			return err
		}
		ak, _ := s.AccountKey()
		a.ak = *ak
		s.Close()
		if a.pt, err = typicalItem(i); err != nil {
			return err
		}
		a.devices = append(a.devices, &device{acct: a, cl: cl, token: cfg.Token})
		mu.Lock()
		regLat = append(regLat, d)
		mu.Unlock()
		accts[i] = a
		return nil
	})
	if err != nil {
		return nil, err
	}
	st.CreateSeconds = time.Since(t0).Seconds()
	st.Register = summarize(regLat)
	st.Accounts = n
	logf("%d accounts in %.1f s (register p50 %.1f ms)", n, st.CreateSeconds, st.Register.P50)

	// The other devices log in one after another per account, several
	// accounts at a time, as devices of one household set up one by one.
	t0 = time.Now()
	err = workers(n, par, func(i int) error {
		a := accts[i]
		login1 := func(k int) error {
			cfg, err := syncclient.NewConfig(url, "", syncfile.DeviceName())
			if err != nil {
				return err
			}
			cfg.DeviceName = fmt.Sprintf("bench %d/%d", a.idx, k)
			cl, err := newClient(url, a.src)
			if err != nil {
				return err
			}
			login := a.login
			t := time.Now()
			if err := syncclient.Login(ctx, cl, cfg, a.id, &login); err != nil {
				return fmt.Errorf("log in device %d of account %d: %w", k, a.idx, err)
			}
			d := time.Since(t)
			mu.Lock()
			defer mu.Unlock()
			loginLat = append(loginLat, d)
			a.devices = append(a.devices, &device{acct: a, cl: cl, token: cfg.Token})
			return nil
		}
		if !o.parallelLogins {
			for k := 1; k < o.perAccount; k++ {
				if err := login1(k); err != nil {
					return err
				}
			}
			return nil
		}
		errs := make(chan error, o.perAccount)
		for k := 1; k < o.perAccount; k++ {
			go func() { errs <- login1(k) }()
		}
		var first error
		for k := 1; k < o.perAccount; k++ {
			if err := <-errs; err != nil && first == nil {
				first = err
			}
		}
		return first
	})
	if err != nil {
		return nil, err
	}
	st.LoginSeconds = time.Since(t0).Seconds()
	st.Login = summarize(loginLat)
	st.Devices = n * o.perAccount
	logf("%d more devices logged in in %.1f s (login p50 %.1f ms)", len(loginLat), st.LoginSeconds, st.Login.P50)
	return accts, nil
}

// preload gives each account o.preload items and each device the item it
// will edit, in one push per account (what a first sync does).
func preload(ctx context.Context, o *options, accts []*account, st *backendStats) error {
	t0 := time.Now()
	var total atomic.Int64
	err := workers(len(accts), 4, func(i int) error {
		a := accts[i]
		req := &api.PushRequest{KeyVersion: 1}
		add := func() ([16]byte, error) {
			u, err := uuid.NewV7()
			if err != nil {
				return u, err
			}
			box, err := a.seal(u, 1)
			if err != nil {
				return u, err
			}
			req.Items = append(req.Items, api.PushItem{ItemID: u.String(), BaseRev: 0, Revs: []api.Revision{{Rev: 1, Box: box}}})
			return u, nil
		}
		for _, d := range a.devices {
			id, err := add()
			if err != nil {
				return err
			}
			d.item, d.rev = id, 1
		}
		for range o.preload {
			if _, err := add(); err != nil {
				return err
			}
		}
		resp, err := a.devices[0].cl.Push(ctx, req)
		if err != nil {
			return fmt.Errorf("preload account %d: %w", a.idx, err)
		}
		if len(resp.Rejected) > 0 || len(resp.Accepted) != len(req.Items) {
			return fmt.Errorf("preload account %d: %d of %d items refused", a.idx, len(resp.Rejected), len(req.Items))
		}
		for _, d := range a.devices {
			d.cursor = resp.Head
		}
		total.Add(int64(len(req.Items)))
		return nil
	})
	st.PreloadRevs = int(total.Load())
	logf("preloaded %d revisions in %.1f s", st.PreloadRevs, time.Since(t0).Seconds())
	return err
}

// pushOne sends the device's next revision of its item, as a device does
// after an edit: base_rev is the revision it had, the box is sealed for
// the new one. It returns the request's latency (sealing not included).
func pushOne(ctx context.Context, d *device) (time.Duration, error) {
	rev := d.rev + 1
	box, err := d.acct.seal(d.item, rev)
	if err != nil {
		return 0, err
	}
	req := &api.PushRequest{Cursor: d.cursor, KeyVersion: 1, Items: []api.PushItem{{
		ItemID: uuid.UUID(d.item).String(), BaseRev: d.rev, Revs: []api.Revision{{Rev: rev, Box: box}},
	}}}
	t := time.Now()
	resp, err := d.cl.Push(ctx, req)
	lat := time.Since(t)
	if err != nil {
		return lat, err
	}
	if len(resp.Accepted) != 1 {
		return lat, fmt.Errorf("push refused: %+v", resp.Rejected)
	}
	d.rev, d.cursor = rev, resp.Head
	return lat, nil
}

// idleSync is what a device's periodic sync costs when nothing changed
// (syncclient.Syncer.Sync: the keys, one page of changes, nothing to
// push). The first one of a device may bring its account's other devices'
// pushes; it returns the time of both requests.
func idleSync(ctx context.Context, d *device) (time.Duration, error) {
	t := time.Now()
	k, err := d.cl.Keys(ctx)
	if err != nil {
		return 0, err
	}
	if k.KeyVersion != 1 {
		return 0, fmt.Errorf("key version %d", k.KeyVersion)
	}
	page, err := d.cl.Changes(ctx, d.cursor, syncclient.PageSize)
	lat := time.Since(t)
	if err != nil {
		return lat, err
	}
	if page.Head < d.cursor {
		return lat, fmt.Errorf("head %d below the cursor %d", page.Head, d.cursor)
	}
	if !page.More {
		d.cursor = page.Head
	}
	return lat, nil
}

// pushLoad runs op (a push, or an idle sync) for dur. Closed: inFlight workers push back to back,
// each taking the next idle device. Open: a push starts every 1/rate
// seconds whatever the server's pace, on an idle device.
func pushLoad(ctx context.Context, devs []*device, mode string, op func(context.Context, *device) (time.Duration, error), inFlight int, rate float64, dur time.Duration) (*pushStats, error) {
	idle := make(chan *device, len(devs))
	for _, d := range devs {
		idle <- d
	}
	ps := &pushStats{Mode: mode}
	var (
		mu       sync.Mutex
		lats     []time.Duration
		errs     int
		firstErr error
		wg       sync.WaitGroup
	)
	one := func(d *device) {
		lat, err := op(ctx, d)
		idle <- d
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs++
			if firstErr == nil {
				firstErr = err
			}
			return
		}
		lats = append(lats, lat)
	}
	start := time.Now()
	end := start.Add(dur)
	switch mode {
	case "closed":
		ps.InFlight = inFlight
		for range inFlight {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(end) {
					one(<-idle)
				}
			}()
		}
	case "open":
		ps.Rate = rate
		interval := time.Duration(float64(time.Second) / rate)
		for i := 0; ; i++ {
			at := start.Add(time.Duration(i) * interval)
			if !at.Before(end) {
				break
			}
			time.Sleep(time.Until(at))
			if time.Since(at) > interval {
				ps.Late++
			}
			select {
			case d := <-idle:
				wg.Add(1)
				go func() { defer wg.Done(); one(d) }()
			default:
				ps.Late++
			}
		}
	}
	wg.Wait()
	ps.Seconds = time.Since(start).Seconds()
	ps.Pushes = len(lats)
	ps.PerSecond = float64(len(lats)) / ps.Seconds
	ps.Latency = summarize(lats)
	ps.Errors = errs
	if errs > len(lats)/100 {
		return ps, fmt.Errorf("%d of %d pushes failed, the first with: %v", errs, errs+len(lats), firstErr)
	}
	if firstErr != nil {
		logf("%d pushes failed, the first with: %v", errs, firstErr)
	}
	return ps, nil
}

// vaultOpts are the options the simulated devices' vaults are opened
// with: their Secret Key files in the run's state directory, where the
// keyhold commands it starts put theirs too (XDG_STATE_HOME).
func vaultOpts() []vault.Option {
	return []vault.Option{vault.WithSecretKeyDir(filepath.Join(os.Getenv("XDG_STATE_HOME"), "keyhold", "secret-keys"))}
}
