// Package webcore is the web vault's session: what the page's
// `keyhold.*` calls do (docs/WEB.md, the contract between the page's
// JavaScript and the WebAssembly module). It reads a recovery kit, signs
// a browser in as a new device of the account, unlocks a remembered
// browser (offline too), lists and searches and edits items, keeps the
// vault in sync with live updates, and locks. It is plain Go over
// interfaces (the browser's store, its events, its fetch through
// net/http, the Argon2 it runs in a Worker), so it is tested natively
// against a real keyhold-server; cmd/keyhold-web only converts values
// between JavaScript and these calls.
package webcore

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/kit/kittext"
	"github.com/keyhold/keyhold/internal/syncclient"
	"github.com/keyhold/keyhold/internal/vaultsync"
)

// Store is the browser's persistent store (keyholdHost.store). Get
// returns nil, nil for a name it does not hold.
type Store interface {
	Get(ctx context.Context, name string) ([]byte, error)
	Put(ctx context.Context, name string, b []byte) error
	Delete(ctx context.Context, name string) error
	Clear(ctx context.Context) error
}

// Options are what the program hands a Core: no package state.
type Options struct {
	Store Store
	// Event tells the page something happened (keyholdHost.event).
	Event func(name string, detail any)
	// Argon2 runs the key derivation's Argon2id (nil: in this process).
	Argon2 keys.Argon2
	// HTTP reaches the server (nil: http.DefaultClient, whose requests
	// are fetches under js/wasm).
	HTTP   *http.Client
	Vaults Vaults
	// Extras are the parts loaded on demand (nil: kit files, camera
	// frames, the kit PDF, strength, generator and health are not
	// available).
	Extras Extras
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Poll is how often the sync loop looks for local changes to push
	// (0: 2 seconds).
	Poll time.Duration
	// Mark notes that a step of signing in was reached (nil: nothing),
	// so that bench/web can say where the time goes; the page makes
	// each a performance.mark. Names carry no data.
	Mark func(step string)
}

// States of a browser.
const (
	StateSignedOut = "signed-out"
	StateLocked    = "locked"
	StateUnlocked  = "unlocked"
)

// heavyKiB is the Argon2 memory above which a browser takes noticeably
// longer than about 2 s to derive (docs/WEB.md): the page warns first.
const heavyKiB = 256 << 10

// KDFInfo is the account's key derivation, for the page's warning.
type KDFInfo struct {
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memoryKiB"`
	Threads   uint8  `json:"threads"`
	Heavy     bool   `json:"heavy"`
}

// Status is what the page shows of the session.
type Status struct {
	State      string   `json:"state"`
	Remembered bool     `json:"remembered"`
	Email      string   `json:"email"`
	Server     string   `json:"server"`
	DeviceName string   `json:"deviceName"`
	KDF        *KDFInfo `json:"kdf,omitempty"`
}

// Core is one browser tab's session. Its methods are safe for concurrent
// use: the page may call while a sync runs.
type Core struct {
	o Options

	// op serialises the calls that change the state (sign in, unlock,
	// lock, sign out, the revocation's wipe); item writes hold it shared
	// across write and store, so that none lands between a Lock's last
	// store and its close. mu guards the fields below for quick reads.
	op sync.RWMutex
	mu sync.Mutex

	origin string

	pending   *kittext.Kit // read by ReadKit, kept until SignIn or ForgetKit
	kitServer string

	dev        *deviceRecord // nil: signed out
	remembered bool
	snapshot   []byte // the sealed vault while locked (not remembered)

	v Vault // nil unless unlocked
	// login is the login key while unlocked: with it the sync loop logs
	// in again when the server ends the session (a token that expired, a
	// revocation, which only a login reveals). It never proves anything
	// for an account change: those ask for the password.
	login *keys.Key32
	ix    *index
	stop  context.CancelFunc
	done  chan struct{}
	// push syncs at once, outside the loop's schedule: after an edit, so
	// that it reaches the other devices within a moment rather than at
	// the loop's next look for local changes. nil unless syncing.
	push   func()
	pushes *sync.WaitGroup // the pushes running, which Lock waits for

	syncMu sync.Mutex // LockSync: one sync at a time

	// persistMu orders the writes of the sealed vault (persist), and
	// guards stored.
	persistMu sync.Mutex
	stored    storedVault
}

// storedVault is what a remembered browser's store holds of the vault:
// the vault record's generation (0: none this session, or a write
// failed; the next write stores a whole snapshot) and how many change
// records follow it.
type storedVault struct {
	gen     uint64
	changes int
}

// New returns a signed-out session; Start loads what the browser keeps.
func New(o Options) *Core {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HTTP == nil {
		o.HTTP = http.DefaultClient
	}
	if o.Poll == 0 {
		o.Poll = 2 * time.Second
	}
	if o.Event == nil {
		o.Event = func(string, any) {}
	}
	return &Core{o: o, ix: newIndex()}
}

// Start loads a remembered browser's device record (the vault stays
// sealed until Unlock). origin is the page's origin: the server a kit
// without a sync location signs in to.
func (c *Core) Start(ctx context.Context, origin string) (Status, error) {
	c.op.Lock()
	defer c.op.Unlock()
	c.mu.Lock()
	c.origin = origin
	c.mu.Unlock()
	b, err := c.o.Store.Get(ctx, RecordDevice)
	if err != nil {
		return c.Status(), err
	}
	if b != nil {
		d, err := parseDevice(b)
		clear(b)
		if err != nil {
			// Start signed out, and say so. The record is left as it is
			// (it may be a newer web vault's, read by an older page
			// still cached): a sign-in replaces it.
			return c.Status(), err
		}
		c.mu.Lock()
		c.dev, c.remembered = d, true
		c.mu.Unlock()
	}
	return c.Status(), nil
}

// Status reports the session's state.
func (c *Core) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dev == nil {
		return Status{State: StateSignedOut}
	}
	st := Status{State: StateLocked, Remembered: c.remembered, Email: c.dev.Email,
		Server: c.dev.Sync.Server, DeviceName: c.dev.Sync.DeviceName}
	if c.v != nil {
		st.State = StateUnlocked
	}
	st.KDF = kdfInfo(c.dev.envelope().KDF)
	return st
}

// ReadKit reads a typed setup code or a kit file and keeps the kit in
// Go until SignIn, ForgetKit or Lock (the code the user typed, or read
// from a file by the kit module, passed through JavaScript as text). The answer
// carries the account's key derivation settings when its server could
// be asked (KitInfo.KDF).
func (c *Core) ReadKit(ctx context.Context, code string, file []byte) (KitInfo, error) {
	k, err := c.readKit(code, file)
	if err != nil {
		return KitInfo{}, err
	}
	return c.keepKit(ctx, k)
}

// ReadQRFrame looks for the kit's QR code in one camera frame; found is
// false when there is none in it.
func (c *Core) ReadQRFrame(ctx context.Context, gray []byte, width, height int) (info KitInfo, found bool, err error) {
	k, found, err := c.readQRFrame(gray, width, height)
	if err != nil || !found {
		return KitInfo{}, false, err
	}
	info, err = c.keepKit(ctx, k)
	return info, err == nil, err
}

// keepKit keeps k for SignIn, and asks its server for the account's key
// derivation settings (without holding the lock: that is a request).
func (c *Core) keepKit(ctx context.Context, k kittext.Kit) (KitInfo, error) {
	c.mu.Lock()
	server := k.SyncLocation
	if server == "" {
		server = c.origin
	}
	if _, err := api.CheckURL(server); err != nil {
		c.mu.Unlock()
		k.Wipe()
		return KitInfo{}, fmt.Errorf("%w: this kit names %q as its server, which is not a keyhold server's address; use a kit made for a server", kittext.ErrNotKit, api.PrintableText(server))
	}
	if c.origin != "" && !sameOrigin(server, c.origin) {
		here := c.origin
		c.mu.Unlock()
		k.Wipe()
		return KitInfo{}, &OtherServerError{Kit: server, Here: here}
	}
	if c.pending != nil {
		c.pending.Wipe()
	}
	c.pending, c.kitServer = &k, server
	info := kitInfo(k, server)
	c.mu.Unlock()
	info.KDF = c.loginKDF(ctx, server, keys.AccountID(k.AccountID))
	return info, nil
}

// ForgetKit drops a kit read but not used.
func (c *Core) ForgetKit() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending != nil {
		c.pending.Wipe()
		c.pending = nil
	}
}

// SignInResult says how many items the vault holds.
type SignInResult struct {
	Items int `json:"items"`
}

// SignIn makes this browser a new device of the kit's account: derive,
// log in, check the account key, download and verify every item, then
// sync once. Nothing is stored before all of that passed, and only when
// remember is set; a wrong password or a kit of another account stores
// nothing. The kit is forgotten once signed in.
func (c *Core) SignIn(ctx context.Context, pw []byte, remember bool, deviceName string) (SignInResult, error) {
	c.op.Lock()
	defer c.op.Unlock()
	c.mu.Lock()
	k, server, dev := c.pending, c.kitServer, c.dev
	c.mu.Unlock()
	if k == nil {
		return SignInResult{}, ErrNoKit
	}
	if dev != nil {
		return SignInResult{}, fmt.Errorf("%w: this browser is signed in already; sign out first", ErrInvalid)
	}
	if deviceName == "" {
		deviceName = "web browser"
	}
	cfg, err := syncclient.NewConfig(server, "", deviceName)
	if err != nil {
		return SignInResult{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	sk := new(keys.SecretKey)
	copy(sk[:], k.SecretKey[:])
	defer sk.Wipe()
	var v Vault
	var nd *deviceRecord
	login := new(keys.Key32)
	_, err = syncclient.Setup(ctx, &syncclient.SetupOptions{
		AccountID: keys.AccountID(k.AccountID), SecretKey: sk, Config: cfg, Password: pw,
		Argon2: c.o.Argon2, HTTP: c.o.HTTP, Login: login, Mark: c.o.Mark,
		Create: func(j *vaultsync.Join, kv uint32) (syncclient.Local, func(), error) {
			c.mark("downloaded")
			env, err := format.ParseEnvelope(j.Envelope)
			if err != nil {
				return nil, nil, err
			}
			nd = &deviceRecord{Sync: cfg, AccountID: api.FormatID(j.AccountID), SecretKey: append([]byte(nil), sk[:]...),
				Envelope: j.Envelope, KeyCheck: j.KeyCheck, KeyVersion: kv, KDFFloor: env.KDF}
			v, err = c.o.Vaults.Create(ctx, j, kv)
			if err != nil {
				return nil, nil, err
			}
			c.mark("joined")
			return &deviceLocal{SyncLocal: v, c: c, dev: nd}, func() {}, nil
		},
	})
	if err != nil {
		if v != nil {
			v.Close()
		}
		nd.wipe()
		login.Wipe()
		return SignInResult{}, err
	}
	c.mark("synced")
	// The browser is a device of the account now.
	if cl, err := cfg.ClientHTTP(c.o.HTTP); err == nil {
		if a, err := cl.Account(ctx); err == nil {
			nd.Email = a.Email
		}
	}
	if err := c.unlocked(ctx, nd, v, remember); err != nil {
		c.undoSignIn(ctx, nd, login)
		return SignInResult{}, err
	}
	c.ForgetKit()
	c.startSync(login)
	return SignInResult{Items: c.ix.count()}, nil
}

// unlocked makes v the session's open vault, and, for a browser to be
// remembered, stores the device record and the sealed vault.
func (c *Core) unlocked(ctx context.Context, d *deviceRecord, v Vault, remember bool) error {
	es, err := v.Items(ctx)
	if err != nil {
		v.Close()
		return err
	}
	c.mark("opened")
	c.ix.reset(es)
	c.mark("indexed")
	c.mu.Lock()
	c.dev, c.v, c.remembered = d, v, remember
	c.mu.Unlock()
	// Remembered: stores the device record and the vault (a browser that
	// is not only drops the changes opening the vault made).
	if err := c.persist(ctx, remember); err != nil {
		c.unpublish() // nothing half open: locked again, or signed out
		return err
	}
	c.mark("stored")
	return nil
}

// mark notes a step of signing in or unlocking (Options.Mark).
func (c *Core) mark(step string) {
	if c.o.Mark != nil {
		c.o.Mark(step)
	}
}

// persist stores the device record (with device) and the sealed vault of
// a remembered browser: the changes committed since the last write as a
// change record, or a whole snapshot as a new vault record (the first
// write of a session, after maxChangeRecords change records or a failed
// write, or for a large change). Another browser keeps the sealed vault
// in memory only, for Unlock after Lock, and takes its snapshot then
// (with device).
func (c *Core) persist(ctx context.Context, device bool) error {
	c.persistMu.Lock()
	defer c.persistMu.Unlock()
	c.mu.Lock()
	d, v, remember := c.dev, c.v, c.remembered
	var db []byte
	var err error
	if d != nil && device && remember {
		db, err = d.marshal()
	}
	c.mu.Unlock()
	if err != nil || v == nil {
		return err
	}
	if !remember {
		if !device {
			v.DropChanges() // the snapshot at Lock holds them
			return nil
		}
		snap, err := v.Snapshot()
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.snapshot = snap
		c.mu.Unlock()
		return nil
	}
	if db != nil {
		err = c.o.Store.Put(ctx, RecordDevice, db)
		clear(db)
		if err != nil {
			return err
		}
	}
	return c.storeVault(ctx, v)
}

// storeVault writes what changed in v since the last write (persist,
// with persistMu held).
func (c *Core) storeVault(ctx context.Context, v Vault) error {
	if c.stored.gen != 0 && c.stored.changes < maxChangeRecords {
		batches, err := v.Changes()
		if err != nil {
			c.stored.gen = 0
			return err
		}
		if len(batches) == 0 {
			return nil
		}
		size := 0
		for _, b := range batches {
			size += len(b)
		}
		if size <= maxChangeBytes {
			i := c.stored.changes + 1
			if err := c.o.Store.Put(ctx, RecordChange(i), changeRecord(c.stored.gen, i, batches)); err != nil {
				c.stored.gen = 0 // the batches are lost: a snapshot next
				return err
			}
			c.stored.changes = i
			return nil
		}
	}
	snap, err := v.Snapshot()
	if err != nil {
		c.stored.gen = 0
		return err
	}
	gen, old := newGeneration(c.stored.gen), c.stored.changes
	if err := c.o.Store.Put(ctx, RecordVault, vaultRecord(gen, snap)); err != nil {
		c.stored.gen = 0
		return err
	}
	c.stored = storedVault{gen: gen}
	// The change records of the generation before are of no use now;
	// one left behind (a failed delete) is never read as one of this
	// generation.
	for i := 1; i <= old; i++ {
		_ = c.o.Store.Delete(ctx, RecordChange(i))
	}
	return nil
}

// readVault reads a remembered browser's vault record and the change
// records of its generation that follow it.
func (c *Core) readVault(ctx context.Context) (snap []byte, changes [][]byte, st storedVault, err error) {
	b, err := c.o.Store.Get(ctx, RecordVault)
	if err != nil {
		return nil, nil, st, err
	}
	if b == nil {
		return nil, nil, st, fmt.Errorf("%w (the vault record is missing)", ErrDamagedStore)
	}
	gen, snap, err := parseVaultRecord(b)
	if err != nil || gen == 0 {
		return snap, nil, st, err
	}
	st.gen = gen
	for i := 1; i <= maxChangeRecords; i++ {
		b, err := c.o.Store.Get(ctx, RecordChange(i))
		if err != nil {
			return nil, nil, st, err
		}
		if b == nil {
			break
		}
		g, n, bs, err := parseChangeRecord(b)
		if err != nil {
			return nil, nil, st, err
		}
		if g != gen {
			break // left from another generation: this one ends here
		}
		if n != i {
			return nil, nil, st, fmt.Errorf("%w (change record %d is numbered %d)", ErrDamagedStore, i, n)
		}
		changes = append(changes, bs...)
		st.changes = i
	}
	return snap, changes, st, nil
}

// Unlock opens the vault with the password: a remembered browser's from
// what it stored (this works offline), or the one this tab locked. It
// then syncs in the background, logging in again if the server ended the
// session.
func (c *Core) Unlock(ctx context.Context, pw []byte) (SignInResult, error) {
	c.op.Lock()
	defer c.op.Unlock()
	c.mu.Lock()
	d, v, remembered, snap := c.dev, c.v, c.remembered, c.snapshot
	c.mu.Unlock()
	switch {
	case d == nil:
		return SignInResult{}, ErrNotRemembered
	case v != nil:
		return SignInResult{Items: c.ix.count()}, nil
	}
	var changes [][]byte
	var stored storedVault
	if remembered {
		var err error
		if snap, changes, stored, err = c.readVault(ctx); err != nil {
			return SignInResult{}, err
		}
	}
	sk := d.secretKey()
	defer sk.Wipe()
	id := d.accountID()
	env := d.envelope()
	if env.KDF.Weaker(d.KDFFloor) {
		return SignInResult{}, fmt.Errorf("%w (%s, this browser last used %s)", keys.ErrKDFDowngrade, env.KDF, d.KDFFloor)
	}
	dk, err := env.DeriveWith(c.o.Argon2, pw, sk)
	if err != nil {
		return SignInResult{}, err
	}
	defer func() { dk.Wipe() }()
	ak, err := env.OpenDerived(dk)
	if errors.Is(err, format.ErrWrongPassword) && d.Pending != nil {
		// A password changed on another device: its envelope replaces
		// the working one once the new password opens it.
		pend, perr := format.ParseEnvelope(d.Pending)
		if perr == nil && !pend.KDF.Weaker(d.KDFFloor) {
			if pd, derr := pend.DeriveWith(c.o.Argon2, pw, sk); derr == nil {
				if pak, oerr := pend.OpenDerived(pd); oerr == nil {
					c.mu.Lock()
					d.Envelope, d.Pending, d.KDFFloor = d.Pending, nil, maxKDF(d.KDFFloor, pend.KDF)
					c.mu.Unlock()
					dk.Wipe()
					*dk = *pd
					ak, err = pak, nil
				}
				pd.Wipe()
			}
		}
	}
	if errors.Is(err, format.ErrWrongPassword) {
		// The password may have been changed on another device while
		// this browser was away: the server's login parameters tell, and
		// its envelope, once this password logs in, becomes the working
		// one (syncclient.Relogin, as the command line does).
		if nk, rerr := c.relogin(ctx, d, pw); rerr == nil {
			dk.Wipe()
			dk = nk
			ak, err = d.envelope().OpenDerived(dk)
		} else if Code(rerr) != CodeNetwork {
			err = rerr
		}
	}
	if err != nil {
		return SignInResult{}, err
	}
	defer ak.Wipe()
	kc, err := format.ParseKeyCheck(d.KeyCheck)
	if err != nil {
		return SignInResult{}, fmt.Errorf("%w (key check: %v)", ErrDamagedStore, err)
	}
	if err := kc.Verify(ak, id, d.KeyVersion); err != nil {
		return SignInResult{}, fmt.Errorf("%w (the key check does not open with the account key)", ErrDamagedStore)
	}
	nv, err := c.o.Vaults.Open(ctx, snap, changes, id, ak, d.KeyVersion)
	if err != nil {
		return SignInResult{}, err
	}
	c.persistMu.Lock()
	c.stored = stored
	c.persistMu.Unlock()
	if err := c.unlocked(ctx, d, nv, remembered); err != nil {
		return SignInResult{}, err
	}
	login := new(keys.Key32)
	*login = dk.Login
	c.startSync(login)
	return SignInResult{Items: c.ix.count()}, nil
}

// relogin logs in with a password that does not open the working
// envelope, from the server's login parameters; if the server's envelope
// is a newer one that the password opens, it becomes the working one and
// relogin returns the keys derived from it.
func (c *Core) relogin(ctx context.Context, d *deviceRecord, pw []byte) (*keys.Derived, error) {
	c.mu.Lock()
	cfg := *d.Sync
	before := d.envelope()
	c.mu.Unlock()
	cl, err := cfg.ClientHTTP(c.o.HTTP)
	if err != nil {
		return nil, err
	}
	if err := syncclient.ReloginWith(ctx, c.o.Argon2, cl, &cfg, browserAccount{c: c, d: d}, pw); err != nil {
		return nil, err
	}
	c.mu.Lock()
	d.Sync.Token, d.Sync.Expires = cfg.Token, cfg.Expires
	env := d.envelope()
	c.mu.Unlock()
	if env.Epoch == before.Epoch {
		return nil, format.ErrWrongPassword
	}
	sk := d.secretKey()
	defer sk.Wipe()
	return env.DeriveWith(c.o.Argon2, pw, sk)
}

func maxKDF(a, b keys.KDFParams) keys.KDFParams {
	return keys.KDFParams{Time: max(a.Time, b.Time), MemoryKiB: max(a.MemoryKiB, b.MemoryKiB), Threads: max(a.Threads, b.Threads)}
}

// Lock stops syncing and drops the keys and every decrypted item. A
// remembered browser keeps its sealed vault in the store; another keeps
// it in memory until the tab closes.
func (c *Core) Lock(ctx context.Context) error {
	c.op.Lock()
	defer c.op.Unlock()
	c.ForgetKit() // a kit read and not used goes with the keys
	return c.lockLocked(ctx)
}

func (c *Core) lockLocked(ctx context.Context) error {
	c.stopSync()
	err := c.persist(ctx, true)
	c.mu.Lock()
	v, login := c.v, c.login
	c.v, c.login = nil, nil
	c.mu.Unlock()
	if v != nil {
		v.Close()
	}
	if login != nil {
		login.Wipe()
	}
	c.ix.reset(nil)
	return err
}

// SignOut forgets this browser: it locks, wipes what the browser stored
// and drops the device's settings. The device stays in the account's
// list until revoked (signing out does not need the server).
func (c *Core) SignOut(ctx context.Context) error {
	c.op.Lock()
	defer c.op.Unlock()
	c.stopSync()
	c.forget()
	return c.o.Store.Clear(ctx)
}

// forget drops every key and item, and the device.
func (c *Core) forget() {
	c.mu.Lock()
	v, d, login := c.v, c.dev, c.login
	c.v, c.dev, c.snapshot, c.remembered, c.login = nil, nil, nil, false, nil
	c.mu.Unlock()
	c.persistMu.Lock()
	c.stored = storedVault{}
	c.persistMu.Unlock()
	if v != nil {
		v.Close()
	}
	if login != nil {
		login.Wipe()
	}
	d.wipe()
	c.ix.reset(nil)
}

// open returns the open vault, or ErrLocked.
func (c *Core) open() (Vault, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.v == nil {
		if c.dev == nil {
			return nil, ErrSignedOut
		}
		return nil, ErrLocked
	}
	return c.v, nil
}

// client returns an API client with the device's session.
func (c *Core) client() (*api.Client, *syncclient.Config, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dev == nil {
		return nil, nil, ErrSignedOut
	}
	cl, err := c.dev.Sync.ClientHTTP(c.o.HTTP)
	return cl, c.dev.Sync, err
}
