package vault

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/ledger"
	"github.com/keyhold/keyhold/internal/ledger/sqlitestore"
)

// Entry is one item's current revision, decrypted.
type Entry struct {
	ID       ItemID
	Revision uint64
	Item     *item.Item
	prf      [32]byte // manifest entry of (ID, Revision)
	ltitle   string   // lower-case title, for lookups
	search   string   // item.SearchText, for searches
}

// Session is an unlocked vault: it holds the account key. The agent keeps
// one open for its idle timeout; a command without an agent makes one and
// drops it on exit. A Session caches decrypted items and refreshes the
// cache when the manifest's sequence number shows another process wrote.
type Session struct {
	v  *Vault
	ak *keys.AccountKey
	kv uint32
	mk *keys.Key32

	mu      sync.Mutex
	closed  bool
	loaded  bool
	seq     uint64
	entries map[ItemID]*Entry
	// sorted is entries sorted by title then id, kept between requests
	// so that an agent's listings do not sort 10k items each time. Every
	// change to entries drops it (nil), and the next Search sorts again.
	sorted []*Entry
	// folderSnapEvery is the folder sync's snapshot interval
	// (SetFolderSnapshotEvery); 0 means DefaultFolderSnapshotEvery.
	folderSnapEvery int
}

// Unlock derives the keys from the password and this device's Secret Key,
// opens the envelope and proves the account key with the key check.
func (v *Vault) Unlock(pw []byte) (*Session, error) {
	s, login, err := v.UnlockLogin(pw)
	if err != nil {
		return nil, err
	}
	login.Wipe()
	return s, nil
}

// UnlockLogin is Unlock that also returns the login key derived on the
// way (SPEC §3), so a device can log in to its sync server without a
// second derivation. The caller wipes it.
func (v *Vault) UnlockLogin(pw []byte) (*Session, *keys.Key32, error) {
	di, err := v.Device()
	if err != nil {
		return nil, nil, err
	}
	defer di.SecretKey.Wipe()
	env := v.meta.envelope
	if env.KDF.Weaker(di.KDFFloor) {
		return nil, nil, fmt.Errorf("%w (vault: %s, this device last used %s); someone may have replaced the vault file", keys.ErrKDFDowngrade, env.KDF, di.KDFFloor)
	}
	ak, d, err := env.Open(pw, di.SecretKey)
	if errors.Is(err, format.ErrWrongPassword) {
		// A password changed on another device arrives as a pending
		// envelope; it replaces the current one only once it opens.
		if pend, perr := v.pendingEnvelope(); perr == nil && pend != nil && !pend.KDF.Weaker(di.KDFFloor) {
			if pak, pd, oerr := pend.Open(pw, di.SecretKey); oerr == nil && v.meta.keyCheck.Verify(pak, v.meta.accountID, pend.KeyVersion) == nil {
				if perr := v.promotePending(pend, di); perr != nil {
					pak.Wipe()
					pd.Wipe()
					return nil, nil, perr
				}
				env, ak, d, err = pend, pak, pd, nil
			}
		}
	}
	if err != nil {
		return nil, nil, err
	}
	if env.Version == format.Version1 && !v.pendingPreviousVersion() && v.meta.keyCheck.Verify(ak, v.meta.accountID, env.KeyVersion) == nil {
		// A vault made before password epochs: the password is at hand,
		// so it moves to the current version now (epoch.go), and from
		// here on any other epoch-0 envelope is below its floor. Not
		// while it holds another device's password change of the previous
		// version aside: that change, at epoch 0 too, would be lost, and
		// the new password refused; it migrates once that one is used.
		if env, err = v.migrateEnvelope(env, ak, d); err != nil {
			ak.Wipe()
			d.Wipe()
			return nil, nil, err
		}
	}
	login := new(keys.Key32)
	*login = d.Login
	d.Wipe()
	s, err := v.UnlockWithKey(ak, env.KeyVersion)
	ak.Wipe()
	if err != nil {
		login.Wipe()
		if errors.Is(err, ErrDamaged) {
			return nil, nil, err // the manifest migration's finding
		}
		// The envelope opened (it is authenticated), so the account key
		// is right: a key check that fails to open it is damaged.
		return nil, nil, fmt.Errorf("%w: %s: key check: %v", ErrDamaged, v.path(), err)
	}
	return s, login, nil
}

// UnlockWithKey checks ak against the key check and returns a session. ak
// is copied; the caller keeps ownership of its copy.
func (v *Vault) UnlockWithKey(ak *keys.AccountKey, keyVersion uint32) (*Session, error) {
	if err := v.meta.keyCheck.Verify(ak, v.meta.accountID, keyVersion); err != nil {
		return nil, err
	}
	k := new(keys.AccountKey)
	keys.LockMemory(k[:])
	*k = *ak
	mk := format.ManifestKey(k)
	keys.LockMemory(mk[:])
	s := &Session{v: v, ak: k, kv: keyVersion, mk: mk}
	if err := s.migrateManifest(context.Background()); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Vault returns the session's vault.
func (s *Session) Vault() *Vault { return s.v }

// AccountKey returns the session's account key (for the agent to hand to
// its owner). The caller must not keep it beyond its use.
func (s *Session) AccountKey() (*keys.AccountKey, uint32) { return s.ak, s.kv }

// Close wipes the keys. The vault stays open.
func (s *Session) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ak.Wipe()
	s.mk.Wipe()
	s.entries = nil
	s.sorted = nil
	s.loaded = false
	s.closed = true
}

func (s *Session) ref(id ItemID, rev uint64) format.ItemRef {
	return format.ItemRef{AccountID: s.v.meta.accountID, ItemID: id, Revision: rev}
}

func (s *Session) open(id ItemID, rev uint64, box []byte) (*item.Item, error) {
	pt, err := format.OpenItem(s.ak, s.kv, s.ref(id, rev), box)
	if err != nil {
		return nil, fmt.Errorf("item %s revision %d: %w", id, rev, err)
	}
	defer clear(pt)
	it, err := item.Unmarshal(pt)
	if err != nil {
		return nil, fmt.Errorf("item %s revision %d: %w", id, rev, err)
	}
	return it, nil
}

func (s *Session) seal(id ItemID, rev uint64, it *item.Item) ([]byte, error) {
	pt, err := it.Marshal()
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	return format.SealItem(s.ak, s.kv, s.ref(id, rev), pt)
}

func (s *Session) readManifest(ctx context.Context, q querier) (*format.Manifest, error) {
	b, err := getMeta(ctx, q, ledger.ManifestKey)
	if err != nil {
		return nil, s.damaged(err)
	}
	m, err := ledger.CheckManifest(b, s.keys(), s.kv)
	if errors.Is(err, ledger.ErrRotated) {
		return nil, err
	}
	if err != nil {
		return nil, s.damaged(err)
	}
	return m, nil
}

func (s *Session) damaged(err error) error {
	if errors.Is(err, ErrDamaged) {
		return err
	}
	if e := dbError(s.v.path(), err); e != err {
		return e
	}
	return fmt.Errorf("%w: %s: %v", ErrDamaged, s.v.path(), err)
}

func (v *Vault) path() string { return filepath.Join(v.Dir, DBFile) }

// refresh brings the cache up to date: nothing to do if the manifest's
// sequence number is unchanged; a full load decrypts every row (in
// parallel); later refreshes scan ids and revisions and decrypt only the
// rows that changed. Every refresh checks that the items present are
// exactly those the manifest authenticates.
func (s *Session) refresh(ctx context.Context) error {
	if s.closed {
		return errors.New("the vault session is closed")
	}
	m, full, err := s.refreshTx(ctx)
	if err == nil && full {
		s.rebuildIndex(ctx, m)
	}
	return err
}

func (s *Session) refreshTx(ctx context.Context) (*format.Manifest, bool, error) {
	tx, err := s.v.readTx(ctx)
	if err != nil {
		return nil, false, err
	}
	defer tx.Rollback()
	m, err := s.readManifest(ctx, tx)
	if err != nil {
		return nil, false, err
	}
	if s.loaded && m.Seq == s.seq {
		return m, false, nil
	}
	var next map[ItemID]*Entry
	if !s.loaded {
		next, err = s.loadAll(ctx, tx)
	} else {
		next, err = s.loadChanged(ctx, tx)
	}
	if err != nil {
		return nil, false, err
	}
	var acc [32]byte
	for _, e := range next {
		format.XorInto(&acc, e.prf)
	}
	if uint64(len(next)) != m.Count || subtle.ConstantTimeCompare(acc[:], m.Acc[:]) != 1 {
		return nil, false, s.damaged(errors.New("the items do not match the manifest: an item was deleted, swapped or rolled back"))
	}
	full := !s.loaded
	s.entries = next
	s.sorted = nil
	s.seq = m.Seq
	s.loaded = true
	return m, full, nil
}

type row struct {
	id  ItemID
	rev uint64
	box []byte
}

// loadAll reads every item row in one query and decrypts them on all
// cores.
func (s *Session) loadAll(ctx context.Context, q querier) (map[ItemID]*Entry, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, rev, box FROM items`)
	if err != nil {
		return nil, s.damaged(err)
	}
	var all []row
	for rows.Next() {
		var idb []byte
		var r row
		if err := rows.Scan(&idb, &r.rev, &r.box); err != nil || len(idb) != 16 {
			rows.Close()
			return nil, s.damaged(fmt.Errorf("bad item row: %v", err))
		}
		r.id = ItemID(idb)
		all = append(all, r)
	}
	if err := rows.Close(); err != nil {
		return nil, s.damaged(err)
	}
	if err := rows.Err(); err != nil {
		return nil, s.damaged(err)
	}
	out := make([]*Entry, len(all))
	errs := make([]error, len(all))
	workers := min(runtime.GOMAXPROCS(0), 1+len(all)/256)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(all); i += workers {
				r := all[i]
				it, err := s.open(r.id, r.rev, r.box)
				if err != nil {
					errs[i] = err
					continue
				}
				out[i] = s.newEntry(r.id, r.rev, r.box, it)
			}
		}()
	}
	wg.Wait()
	next := make(map[ItemID]*Entry, len(all))
	for i, e := range out {
		if errs[i] != nil {
			return nil, s.damaged(errs[i])
		}
		next[e.ID] = e
	}
	return next, nil
}

// loadChanged scans ids and revisions and decrypts only what changed
// since the cache was filled.
func (s *Session) loadChanged(ctx context.Context, q querier) (map[ItemID]*Entry, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, rev FROM items`)
	if err != nil {
		return nil, s.damaged(err)
	}
	var cur []row
	for rows.Next() {
		var idb []byte
		var r row
		if err := rows.Scan(&idb, &r.rev); err != nil || len(idb) != 16 {
			rows.Close()
			return nil, s.damaged(fmt.Errorf("bad item row: %v", err))
		}
		r.id = ItemID(idb)
		cur = append(cur, r)
	}
	if err := rows.Close(); err != nil {
		return nil, s.damaged(err)
	}
	next := make(map[ItemID]*Entry, len(cur))
	for _, r := range cur {
		e := s.entries[r.id]
		if e == nil || e.Revision != r.rev {
			var box []byte
			if err := q.QueryRowContext(ctx, `SELECT box FROM items WHERE id = ?`, r.id[:]).Scan(&box); err != nil {
				return nil, s.damaged(err)
			}
			it, err := s.open(r.id, r.rev, box)
			if err != nil {
				return nil, s.damaged(err)
			}
			e = s.newEntry(r.id, r.rev, box, it)
		}
		next[r.id] = e
	}
	return next, nil
}

// newEntry wraps a decrypted item with what lookups need precomputed: its
// manifest entry (bound to the box it was stored as), its lower-case
// title, and its searchable text.
func (s *Session) newEntry(id ItemID, rev uint64, box []byte, it *item.Item) *Entry {
	return s.entryOf(id, rev, format.Entry(s.mk, id, rev, box), it)
}

// entryOf is newEntry with the manifest entry at hand (a ledger's).
func (s *Session) entryOf(id ItemID, rev uint64, prf [32]byte, it *item.Item) *Entry {
	return &Entry{ID: id, Revision: rev, Item: it, prf: prf,
		ltitle: strings.ToLower(it.Title), search: it.SearchText()}
}

// Filter selects items by their trash state.
type Filter int

// Filters.
const (
	Active Filter = iota // not in the trash
	Trash                // in the trash
	All
)

func (f Filter) keep(e *Entry) bool {
	switch f {
	case Active:
		return e.Item.Trashed == nil
	case Trash:
		return e.Item.Trashed != nil
	}
	return true
}

// List returns the items selected by f, sorted by title then id.
func (s *Session) List(ctx context.Context, f Filter) ([]*Entry, error) {
	return s.Search(ctx, "", f)
}

// Search returns the items matching q (see item.Matches), sorted by title.
func (s *Session) Search(ctx context.Context, q string, f Filter) ([]*Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refresh(ctx); err != nil {
		return nil, err
	}
	if s.sorted == nil {
		s.sorted = make([]*Entry, 0, len(s.entries))
		for _, e := range s.entries {
			s.sorted = append(s.sorted, e)
		}
		sortEntries(s.sorted)
	}
	words := item.QueryWords(q)
	var out []*Entry
	for _, e := range s.sorted {
		if f.keep(e) && (q == "" || item.MatchText(e.search, words)) {
			out = append(out, e)
		}
	}
	return out, nil
}

func sortEntries(es []*Entry) {
	slices.SortFunc(es, func(a, b *Entry) int {
		if c := strings.Compare(a.ltitle, b.ltitle); c != 0 {
			return c
		}
		return strings.Compare(a.ID.String(), b.ID.String())
	})
}

// AmbiguousError lists the ids of the items a title matched.
type AmbiguousError struct {
	Ref string
	IDs []string
}

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("%d items match %q; name one by its full id: %s", len(e.IDs), e.Ref, strings.Join(e.IDs, ", "))
}

func (e *AmbiguousError) Unwrap() error { return ErrAmbiguous }

// Resolve finds one item by id, id prefix (at least 8 characters) or exact
// title (case-insensitive), among those selected by f.
func (s *Session) Resolve(ctx context.Context, ref string, f Filter) (*Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loaded && !s.closed {
		e, err := s.resolveByIndex(ctx, ref, f)
		if !errors.Is(err, errIndex) {
			return e, err
		}
	}
	if err := s.refresh(ctx); err != nil {
		return nil, err
	}
	return s.resolveLocked(ref, f)
}

func (s *Session) resolveLocked(ref string, f Filter) (*Entry, error) {
	if u, err := uuid.Parse(ref); err == nil {
		if e := s.entries[ItemID(u)]; e != nil && f.keep(e) {
			return e, nil
		}
	}
	var byTitle, byPrefix []*Entry
	lref := strings.ToLower(strings.TrimSpace(ref))
	prefix := len(lref) >= 8 && strings.Trim(lref, "0123456789abcdef-") == ""
	for _, e := range s.entries {
		if !f.keep(e) {
			continue
		}
		if e.ltitle == lref {
			byTitle = append(byTitle, e)
		} else if prefix && strings.HasPrefix(e.ID.String(), lref) {
			byPrefix = append(byPrefix, e)
		}
	}
	if len(byTitle) == 0 {
		byTitle = byPrefix
	}
	switch len(byTitle) {
	case 0:
		where := ""
		if f == Trash {
			where = " in the trash"
		}
		return nil, fmt.Errorf("%w%s: %q", ErrNotFound, where, ref)
	case 1:
		return byTitle[0], nil
	}
	sortEntries(byTitle)
	ids := make([]string, len(byTitle))
	for i, e := range byTitle {
		ids[i] = e.ID.String()
	}
	return nil, &AmbiguousError{Ref: ref, IDs: ids}
}

// write runs fn in one immediate transaction with a ledger over the
// verified manifest; the ledger stores the manifest with the next
// sequence number. The cache is updated by fn through the returned
// entries only after commit.
func (s *Session) write(ctx context.Context, fn func(tx *sql.Tx, l *ledger.Ledger) ([]*Entry, error)) error {
	tx, err := s.v.db.BeginTx(ctx, nil)
	if err != nil {
		return s.damaged(err)
	}
	defer tx.Rollback()
	m, err := s.readManifest(ctx, tx)
	if err != nil {
		return err
	}
	l := ledger.Continue(sqlitestore.Wrap(tx), s.keys(), m)
	changed, err := fn(tx, l)
	if err != nil {
		return err
	}
	if err := s.updateIndex(ctx, tx, changed); err != nil {
		return s.damaged(err)
	}
	if err := l.Commit(ctx); err != nil {
		return s.damaged(err)
	}
	if err := tx.Commit(); err != nil {
		return s.damaged(err)
	}
	// Keep the cache coherent without a rescan when nobody else wrote in
	// between (the manifest we read was the one the cache reflects).
	if s.loaded && m.Seq == s.seq+uint64(1) {
		for _, e := range changed {
			s.entries[e.ID] = e
		}
		s.sorted = nil
		s.seq = m.Seq
	}
	return nil
}

// keys are what the session's ledgers sign the manifest with.
func (s *Session) keys() ledger.Keys {
	return ledger.Keys{MK: s.mk, Account: s.v.meta.accountID}
}

// Add stores new items in one transaction and returns their entries.
func (s *Session) Add(ctx context.Context, its ...*item.Item) ([]*Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Entry
	err := s.write(ctx, func(_ *sql.Tx, l *ledger.Ledger) ([]*Entry, error) {
		cs, err := s.rules().AddTx(ctx, l, its...)
		if err != nil {
			return nil, err
		}
		out = s.entries0(cs)
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Put stores a new revision of an existing item. baseRev is the revision
// the caller edited; if the item has moved on since, Put returns
// ErrConflict and changes nothing, so no edit is lost. The old revision
// goes to the history.
func (s *Session) Put(ctx context.Context, id ItemID, baseRev uint64, it *item.Item) (*Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out *Entry
	err := s.write(ctx, func(_ *sql.Tx, l *ledger.Ledger) ([]*Entry, error) {
		c, err := s.rules().PutTx(ctx, l, id, baseRev, it)
		if err != nil {
			return nil, err
		}
		out = s.entryOf(c.ID, c.Revision, c.Entry, c.Item)
		return []*Entry{out}, nil
	})
	return out, err
}

// Revision is one past revision of an item.
type Revision struct {
	Revision uint64
	Item     *item.Item
}

// History returns an item's past revisions, oldest first.
func (s *Session) History(ctx context.Context, id ItemID) ([]Revision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rows, err := s.v.db.QueryContext(ctx, `SELECT rev, box FROM history WHERE id = ? ORDER BY rev`, id[:])
	if err != nil {
		return nil, s.damaged(err)
	}
	defer rows.Close()
	var out []Revision
	for rows.Next() {
		var rev uint64
		var box []byte
		if err := rows.Scan(&rev, &box); err != nil {
			return nil, s.damaged(err)
		}
		it, err := s.open(id, rev, box)
		if err != nil {
			return nil, s.damaged(err)
		}
		out = append(out, Revision{Revision: rev, Item: it})
	}
	return out, rows.Err()
}

// Trash moves an item to the trash (a new revision with Trashed set).
func (s *Session) Trash(ctx context.Context, ref string) (*Entry, error) {
	e, err := s.Resolve(ctx, ref, Active)
	if err != nil {
		return nil, err
	}
	it := e.Item.Clone()
	t := s.v.now()
	it.Trashed = &t
	it.Modified = t
	return s.Put(ctx, e.ID, e.Revision, it)
}

// Restore takes an item out of the trash.
func (s *Session) Restore(ctx context.Context, ref string) (*Entry, error) {
	e, err := s.Resolve(ctx, ref, Trash)
	if err != nil {
		return nil, err
	}
	it := e.Item.Clone()
	it.Trashed = nil
	it.Modified = s.v.now()
	return s.Put(ctx, e.ID, e.Revision, it)
}

// Imported is an item restored from an export, with its id and revisions.
type Imported struct {
	ID       ItemID
	Revision uint64
	Item     *item.Item
	History  []Revision // oldest first, each with a revision below Revision
}

// ImportExact stores items exactly as exported: same ids, same revision
// numbers, same history, in one transaction. Items whose id the vault
// already holds are skipped and returned, so a re-import duplicates
// nothing.
func (s *Session) ImportExact(ctx context.Context, its []Imported) (added int, skipped []ItemID, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	err = s.write(ctx, func(_ *sql.Tx, l *ledger.Ledger) ([]*Entry, error) {
		var out []*Entry
		added, skipped = 0, nil
		for _, im := range its {
			_, _, err := l.Tx().Current(ctx, im.ID)
			if err == nil {
				skipped = append(skipped, im.ID)
				continue
			} else if !errors.Is(err, ledger.ErrMissing) {
				return nil, s.damaged(err)
			}
			e, err := s.importOne(ctx, l, im)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
			added++
		}
		return out, nil
	})
	return added, skipped, err
}

// importOne stores one exported item, its history first.
func (s *Session) importOne(ctx context.Context, l *ledger.Ledger, im Imported) (*Entry, error) {
	for _, h := range im.History {
		if h.Revision >= im.Revision || h.Revision == 0 {
			return nil, fmt.Errorf("%w: item %s: history revision %d is not below the current %d", item.ErrInvalid, im.ID, h.Revision, im.Revision)
		}
		box, err := s.seal(im.ID, h.Revision, h.Item)
		if err != nil {
			return nil, err
		}
		if err := l.AddPast(ctx, im.ID, h.Revision, box); err != nil {
			return nil, fmt.Errorf("item %s: %w", im.ID, err)
		}
	}
	if im.Revision == 0 {
		return nil, fmt.Errorf("%w: item %s has revision 0", item.ErrInvalid, im.ID)
	}
	box, err := s.seal(im.ID, im.Revision, im.Item)
	if err != nil {
		return nil, err
	}
	prf, err := l.Add(ctx, im.ID, im.Revision, box)
	if err != nil {
		return nil, s.damaged(err)
	}
	return s.entryOf(im.ID, im.Revision, prf, im.Item.Clone()), nil
}
