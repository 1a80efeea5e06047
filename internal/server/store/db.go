package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/keyhold/keyhold/internal/api"
)

// db implements Store on a backend.
type db struct {
	b backend
}

var _ Store = (*db)(nil)

func (d *db) Dialect() string                { return d.b.dialect() }
func (d *db) Ping(ctx context.Context) error { return d.b.ping(ctx) }
func (d *db) Close() error                   { return d.b.close() }

func (d *db) Subscribe(ctx context.Context, account ID) (<-chan uint64, error) {
	return d.b.subscribe(ctx, account)
}

func (d *db) Backup(ctx context.Context, path string) error { return d.b.backup(ctx, path) }

// write runs fn in a read-write transaction, committing if it returns nil.
func (d *db) write(ctx context.Context, fn func(t tx) error) error {
	t, err := d.b.begin(ctx, true)
	if err != nil {
		return err
	}
	if err := fn(t); err != nil {
		t.rollback(ctx)
		return err
	}
	return t.commit(ctx)
}

// read runs fn in a read-only transaction that sees one snapshot.
func (d *db) read(ctx context.Context, fn func(t tx) error) error {
	t, err := d.b.begin(ctx, false)
	if err != nil {
		return err
	}
	defer t.rollback(ctx)
	return fn(t)
}

// nn keeps a nil slice out of a NOT NULL column.
func nn(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// lockAccount reads the account's head and key version, locking its row
// until the transaction ends (PostgreSQL; SQLite has one writer anyway).
func (d *db) lockAccount(ctx context.Context, t tx, id ID) (head uint64, keyVersion uint32, err error) {
	var h, kv int64
	err = t.queryRow(ctx, `SELECT head, key_version FROM accounts WHERE id = $1`+d.b.forUpdate(), b16(id)).Scan(&h, &kv)
	if errors.Is(err, errNoRows) {
		return 0, 0, ErrNotFound
	}
	if err != nil {
		return 0, 0, err
	}
	return uint64(h), uint32(kv), nil
}

// epochRises returns ErrOldEpoch unless next, the envelope about to be
// stored, carries a password epoch above the one the account holds now.
// It runs inside the write transaction, after lockAccount, so the check
// and the write see the same envelope: a change that raced another one
// past the handler's earlier check (server.epochRises) is still refused.
// An envelope of no known version is refused too, once the account holds
// one whose epoch can be read.
func (d *db) epochRises(ctx context.Context, t tx, id ID, next []byte) error {
	var cur []byte
	err := t.queryRow(ctx, `SELECT envelope FROM accounts WHERE id = $1`, b16(id)).Scan(&cur)
	if errors.Is(err, errNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("read envelope: %w", err)
	}
	ce, cok := api.EnvelopeEpoch(cur)
	ne, nok := api.EnvelopeEpoch(next)
	if cok && (!nok || ne <= ce) {
		return ErrOldEpoch
	}
	return nil
}

func (d *db) Secret(ctx context.Context, name string, gen func() ([]byte, error)) ([]byte, error) {
	get := func() ([]byte, error) {
		var v []byte
		err := d.b.reads().queryRow(ctx, `SELECT value FROM secrets WHERE name = $1`, name).Scan(&v)
		return v, err
	}
	v, err := get()
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, errNoRows) {
		return nil, fmt.Errorf("read server secret %s: %w", name, err)
	}
	if gen == nil {
		return nil, ErrNotFound
	}
	nv, err := gen()
	if err != nil {
		return nil, fmt.Errorf("generate server secret %s: %w", name, err)
	}
	// Two replicas may get here at once: the first insert wins and both
	// return its value.
	if _, err := d.b.writes().exec(ctx, `INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, nn(nv)); err != nil {
		return nil, fmt.Errorf("store server secret %s: %w", name, err)
	}
	v, err = get()
	if err != nil {
		return nil, fmt.Errorf("read server secret %s: %w", name, err)
	}
	return v, nil
}

func (d *db) DeleteSecret(ctx context.Context, name string) error {
	if _, err := d.b.writes().exec(ctx, `DELETE FROM secrets WHERE name = $1`, name); err != nil {
		return fmt.Errorf("delete server secret %s: %w", name, err)
	}
	return nil
}

func (d *db) CreateAccount(ctx context.Context, a *Account, k *Keys, dev *Device) error {
	now := time.Now()
	created := a.Created
	if created.IsZero() {
		created = now
	}
	plan := a.Plan.Name
	if plan == "" {
		plan = PlanFree
	}
	return d.write(ctx, func(t tx) error {
		_, err := t.exec(ctx, `INSERT INTO accounts (id, email, plan, trial_ends, payment_date, paid_until, plan_label,
			created, disabled, head, envelope, key_check, key_version, record, transition)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11, $12, $13, $14)`,
			b16(a.ID), a.Email, plan, ts(a.Plan.TrialEnds), ts(a.Plan.PaymentDate), ts(a.Plan.PaidUntil), a.Plan.Label,
			ts(created), a.Disabled, nn(k.Envelope), nn(k.KeyCheck), int64(k.KeyVersion), nn(k.Record), k.Transition)
		if d.b.classify(err) == errUnique {
			return ErrExists
		}
		if err != nil {
			return fmt.Errorf("create account: %w", err)
		}
		added, seen := dev.Added, dev.LastSeen
		if added.IsZero() {
			added = created
		}
		if seen.IsZero() {
			seen = added
		}
		if _, err := t.exec(ctx, `INSERT INTO devices (account, id, name, platform, added, last_seen) VALUES ($1, $2, $3, $4, $5, $6)`,
			b16(a.ID), b16(dev.ID), dev.Name, dev.Platform, ts(added), ts(seen)); err != nil {
			return fmt.Errorf("create account: add device: %w", err)
		}
		if err := addEvent(ctx, t, a.ID, &Event{Time: now, Kind: api.EventAccountCreated, DeviceID: dev.ID}); err != nil {
			return err
		}
		return addEvent(ctx, t, a.ID, &Event{Time: now, Kind: api.EventDeviceAdded, DeviceID: dev.ID, Detail: dev.Name})
	})
}

const accountCols = `id, email, plan, trial_ends, payment_date, paid_until, plan_label, created, disabled, key_version, head`

func scanAccount(r row) (*Account, error) {
	var (
		a                        Account
		id                       []byte
		te, pd, pu, cr, kv, head int64
	)
	if err := r.Scan(&id, &a.Email, &a.Plan.Name, &te, &pd, &pu, &a.Plan.Label, &cr, &a.Disabled, &kv, &head); err != nil {
		return nil, err
	}
	a.ID = idFrom(id)
	a.Plan.TrialEnds, a.Plan.PaymentDate, a.Plan.PaidUntil = tm(te), tm(pd), tm(pu)
	a.Created = tm(cr)
	a.KeyVersion = uint32(kv)
	a.Head = uint64(head)
	return &a, nil
}

func (d *db) Account(ctx context.Context, id ID) (*Account, error) {
	a, err := scanAccount(d.b.reads().queryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = $1`, b16(id)))
	if errors.Is(err, errNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read account: %w", err)
	}
	return a, nil
}

func (d *db) ListAccounts(ctx context.Context) ([]*Account, error) {
	rs, err := d.b.reads().query(ctx, `SELECT `+accountCols+` FROM accounts ORDER BY created, id`)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	defer rs.Close()
	var out []*Account
	for rs.Next() {
		a, err := scanAccount(rs)
		if err != nil {
			return nil, fmt.Errorf("list accounts: %w", err)
		}
		out = append(out, a)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	return out, nil
}

// updateOne runs an UPDATE that must match one row.
func (d *db) updateOne(ctx context.Context, what, q string, args ...any) error {
	n, err := d.b.writes().exec(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

func (d *db) SetPlan(ctx context.Context, id ID, p Plan) error {
	return d.updateOne(ctx, "set plan", `UPDATE accounts SET plan = $2, trial_ends = $3, payment_date = $4, paid_until = $5, plan_label = $6 WHERE id = $1`,
		b16(id), p.Name, ts(p.TrialEnds), ts(p.PaymentDate), ts(p.PaidUntil), p.Label)
}

func (d *db) SetDisabled(ctx context.Context, id ID, disabled bool) error {
	return d.updateOne(ctx, "set disabled", `UPDATE accounts SET disabled = $2 WHERE id = $1`, b16(id), disabled)
}

func (d *db) CountItems(ctx context.Context, id ID) (int, error) {
	var n int64
	err := d.read(ctx, func(t tx) error {
		var one int64
		if err := t.queryRow(ctx, `SELECT 1 FROM accounts WHERE id = $1`, b16(id)).Scan(&one); err != nil {
			return err
		}
		// An item counts if its newest revision is not a tombstone.
		return t.queryRow(ctx, `SELECT COUNT(*) FROM revisions r
			WHERE r.account = $1 AND NOT r.deleted
			AND r.rev = (SELECT MAX(r2.rev) FROM revisions r2 WHERE r2.account = r.account AND r2.item = r.item)`,
			b16(id)).Scan(&n)
	})
	if errors.Is(err, errNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("count items: %w", err)
	}
	return int(n), nil
}

func (d *db) Keys(ctx context.Context, id ID) (*Keys, error) {
	var (
		k  Keys
		kv int64
	)
	err := d.b.reads().queryRow(ctx, `SELECT envelope, key_check, key_version, record, transition FROM accounts WHERE id = $1`, b16(id)).
		Scan(&k.Envelope, &k.KeyCheck, &kv, &k.Record, &k.Transition)
	if errors.Is(err, errNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read keys: %w", err)
	}
	k.KeyVersion = uint32(kv)
	return &k, nil
}

func (d *db) SetPassword(ctx context.Context, id ID, keyVersion uint32, envelope, record []byte, dev ID) error {
	return d.write(ctx, func(t tx) error {
		_, kv, err := d.lockAccount(ctx, t, id)
		if err != nil {
			return err
		}
		if kv != keyVersion {
			return ErrStale
		}
		if err := d.epochRises(ctx, t, id, envelope); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `UPDATE accounts SET envelope = $2, record = $3 WHERE id = $1`, b16(id), nn(envelope), nn(record)); err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		return addEvent(ctx, t, id, &Event{Time: time.Now(), Kind: api.EventPasswordChanged, DeviceID: dev})
	})
}

func (d *db) Rotate(ctx context.Context, id ID, cursor uint64, k *Keys, items []PushItem, manifest []byte, dev ID) (uint64, error) {
	seen := make(map[ID]bool, len(items))
	for _, it := range items {
		if seen[it.ItemID] {
			return 0, fmt.Errorf("rotate: item %x is given twice: send each item once with all its revisions", it.ItemID[:])
		}
		seen[it.ItemID] = true
		if !consecutive(it) {
			return 0, fmt.Errorf("rotate: item %x: revisions must be %d, %d, … in order", it.ItemID[:], it.BaseRev+1, it.BaseRev+2)
		}
	}
	var head uint64
	err := d.write(ctx, func(t tx) error {
		h, kv, err := d.lockAccount(ctx, t, id)
		if err != nil {
			return err
		}
		// The key version check also stops a second rotation made from
		// the same cursor, which moves no head if there are no items.
		if h != cursor || k.KeyVersion != kv+1 {
			return ErrStale
		}
		if err := d.epochRises(ctx, t, id, k.Envelope); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `DELETE FROM revisions WHERE account = $1`, b16(id)); err != nil {
			return fmt.Errorf("rotate: %w", err)
		}
		var rs []Revision
		for _, it := range items {
			for _, r := range it.Revs {
				h++
				r.ItemID, r.Seq = it.ItemID, h
				rs = append(rs, r)
			}
		}
		if err := insertRevisions(ctx, t, id, rs); err != nil {
			return fmt.Errorf("rotate: %w", err)
		}
		var mseq uint64
		if len(manifest) > 0 {
			mseq = h
		} else {
			manifest = nil
		}
		if _, err := t.exec(ctx, `UPDATE accounts SET envelope = $2, key_check = $3, key_version = $4, record = $5, transition = $6,
			manifest = $7, manifest_seq = $8, head = $9 WHERE id = $1`,
			b16(id), nn(k.Envelope), nn(k.KeyCheck), int64(k.KeyVersion), nn(k.Record), k.Transition,
			manifest, int64(mseq), int64(h)); err != nil {
			return fmt.Errorf("rotate: %w", err)
		}
		if err := addEvent(ctx, t, id, &Event{Time: time.Now(), Kind: api.EventKeyRotated, DeviceID: dev,
			Detail: "key version " + strconv.FormatUint(uint64(k.KeyVersion), 10)}); err != nil {
			return err
		}
		head = h
		return d.b.notifyInTx(ctx, t, id, h)
	})
	if err != nil {
		return 0, err
	}
	d.b.notifyAfter(id, head)
	return head, nil
}

// consecutive reports whether an item's revisions are BaseRev+1, +2, ….
func consecutive(it PushItem) bool {
	if len(it.Revs) == 0 {
		return false
	}
	for i, r := range it.Revs {
		if r.Rev != it.BaseRev+1+uint64(i) {
			return false
		}
	}
	return true
}

// Limits on one multi-row statement: SQLite allows 32766 parameters,
// PostgreSQL 65535; the byte limit keeps one statement's memory modest.
const (
	insertRows  = 500
	insertBytes = 8 << 20
	inListIDs   = 500
)

// insertRevisions stores revisions whose Seq is set, several per statement.
func insertRevisions(ctx context.Context, t tx, account ID, rs []Revision) error {
	for len(rs) > 0 {
		n, size := 0, 0
		for n < len(rs) && n < insertRows && (n == 0 || size+len(rs[n].Box) <= insertBytes) {
			size += len(rs[n].Box)
			n++
		}
		var q strings.Builder
		q.WriteString(`INSERT INTO revisions (account, seq, item, rev, box, deleted) VALUES `)
		args := make([]any, 1, 1+5*n)
		args[0] = b16(account)
		for i, r := range rs[:n] {
			if i > 0 {
				q.WriteString(", ")
			}
			p := 2 + 5*i
			fmt.Fprintf(&q, "($1, $%d, $%d, $%d, $%d, $%d)", p, p+1, p+2, p+3, p+4)
			box := r.Box
			if r.Deleted {
				box = nil
			} else {
				box = nn(box)
			}
			args = append(args, int64(r.Seq), b16(r.ItemID), int64(r.Rev), box, r.Deleted)
		}
		if _, err := t.exec(ctx, q.String(), args...); err != nil {
			return err
		}
		rs = rs[n:]
	}
	return nil
}

// currentRevs returns the newest revision of each of the given items that
// has any.
func currentRevs(ctx context.Context, t tx, account ID, items []PushItem) (map[ID]uint64, error) {
	cur := make(map[ID]uint64, len(items))
	ids := make([]ID, 0, len(items))
	seen := make(map[ID]bool, len(items))
	for _, it := range items {
		if !seen[it.ItemID] {
			seen[it.ItemID] = true
			ids = append(ids, it.ItemID)
		}
	}
	for len(ids) > 0 {
		n := min(len(ids), inListIDs)
		var q strings.Builder
		q.WriteString(`SELECT item, MAX(rev) FROM revisions WHERE account = $1 AND item IN (`)
		args := make([]any, 1, 1+n)
		args[0] = b16(account)
		for i, id := range ids[:n] {
			if i > 0 {
				q.WriteString(", ")
			}
			fmt.Fprintf(&q, "$%d", i+2)
			args = append(args, b16(id))
		}
		q.WriteString(`) GROUP BY item`)
		rs, err := t.query(ctx, q.String(), args...)
		if err != nil {
			return nil, err
		}
		for rs.Next() {
			var (
				item []byte
				rev  int64
			)
			if err := rs.Scan(&item, &rev); err != nil {
				rs.Close()
				return nil, err
			}
			cur[idFrom(item)] = uint64(rev)
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return nil, err
		}
		ids = ids[n:]
	}
	return cur, nil
}

func (d *db) Push(ctx context.Context, account ID, cursor uint64, items []PushItem, manifest []byte) (*PushResult, error) {
	var res *PushResult
	var moved bool
	err := d.write(ctx, func(t tx) error {
		res = &PushResult{}
		head, _, err := d.lockAccount(ctx, t, account)
		if err != nil {
			return err
		}
		start := head
		cur, err := currentRevs(ctx, t, account, items)
		if err != nil {
			return fmt.Errorf("push: %w", err)
		}
		var rs []Revision
		for _, it := range items {
			c := cur[it.ItemID]
			if it.BaseRev != c || !consecutive(it) {
				res.Rejected = append(res.Rejected, Rejected{ItemID: it.ItemID, CurrentRev: c})
				continue
			}
			for _, r := range it.Revs {
				head++
				r.ItemID, r.Seq = it.ItemID, head
				rs = append(rs, r)
			}
			last := it.Revs[len(it.Revs)-1].Rev
			cur[it.ItemID] = last
			res.Accepted = append(res.Accepted, Accepted{ItemID: it.ItemID, Rev: last, Seq: head})
		}
		if err := insertRevisions(ctx, t, account, rs); err != nil {
			return fmt.Errorf("push: %w", err)
		}
		res.Head = head
		keep := len(manifest) > 0 && len(res.Rejected) == 0 && cursor == start
		switch {
		case keep:
			_, err = t.exec(ctx, `UPDATE accounts SET head = $2, manifest = $3, manifest_seq = $2 WHERE id = $1`, b16(account), int64(head), manifest)
			res.ManifestStored = true
		case head != start:
			_, err = t.exec(ctx, `UPDATE accounts SET head = $2 WHERE id = $1`, b16(account), int64(head))
		}
		if err != nil {
			return fmt.Errorf("push: %w", err)
		}
		if moved = head != start; moved {
			return d.b.notifyInTx(ctx, t, account, head)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if moved {
		d.b.notifyAfter(account, res.Head)
	}
	return res, nil
}

func (d *db) Changes(ctx context.Context, account ID, since uint64, limit int) ([]Revision, uint64, *Manifest, error) {
	if limit <= 0 {
		limit = math.MaxInt64
	}
	var (
		revs []Revision
		head uint64
		m    *Manifest
	)
	err := d.read(ctx, func(t tx) error {
		var (
			h, mseq int64
			blob    []byte
		)
		err := t.queryRow(ctx, `SELECT head, manifest, manifest_seq FROM accounts WHERE id = $1`, b16(account)).Scan(&h, &blob, &mseq)
		if errors.Is(err, errNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		head = uint64(h)
		if blob != nil {
			m = &Manifest{Seq: uint64(mseq), Blob: blob}
		}
		rs, err := t.query(ctx, `SELECT item, rev, seq, box, deleted FROM revisions WHERE account = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
			b16(account), int64(min(since, math.MaxInt64)), int64(limit))
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var (
				r        Revision
				item     []byte
				rev, seq int64
			)
			if err := rs.Scan(&item, &rev, &seq, &r.Box, &r.Deleted); err != nil {
				return err
			}
			r.ItemID, r.Rev, r.Seq = idFrom(item), uint64(rev), uint64(seq)
			revs = append(revs, r)
		}
		return rs.Err()
	})
	if errors.Is(err, ErrNotFound) {
		return nil, 0, nil, err
	}
	if err != nil {
		return nil, 0, nil, fmt.Errorf("read changes: %w", err)
	}
	return revs, head, m, nil
}

func (d *db) PutDevice(ctx context.Context, dev *Device, maxDevices int) (bool, error) {
	var added bool
	now := time.Now()
	err := d.write(ctx, func(t tx) error {
		// Lock the account so that two replicas adding devices at once
		// cannot both pass the plan's limit.
		if _, _, err := d.lockAccount(ctx, t, dev.AccountID); err != nil {
			return err
		}
		seen := dev.LastSeen
		if seen.IsZero() {
			seen = now
		}
		var revoked int64
		err := t.queryRow(ctx, `SELECT revoked FROM devices WHERE account = $1 AND id = $2`, b16(dev.AccountID), b16(dev.ID)).Scan(&revoked)
		switch {
		case err == nil:
			if revoked != 0 {
				return ErrRevoked
			}
			_, err = t.exec(ctx, `UPDATE devices SET name = $3, platform = $4, last_seen = $5 WHERE account = $1 AND id = $2`,
				b16(dev.AccountID), b16(dev.ID), dev.Name, dev.Platform, ts(seen))
			return err
		case !errors.Is(err, errNoRows):
			return err
		}
		if maxDevices > 0 {
			var n int64
			if err := t.queryRow(ctx, `SELECT COUNT(*) FROM devices WHERE account = $1 AND revoked = 0`, b16(dev.AccountID)).Scan(&n); err != nil {
				return err
			}
			if n >= int64(maxDevices) {
				return ErrPlanLimit
			}
		}
		add := dev.Added
		if add.IsZero() {
			add = now
		}
		if _, err := t.exec(ctx, `INSERT INTO devices (account, id, name, platform, added, last_seen) VALUES ($1, $2, $3, $4, $5, $6)`,
			b16(dev.AccountID), b16(dev.ID), dev.Name, dev.Platform, ts(add), ts(seen)); err != nil {
			return err
		}
		added = true
		return nil
	})
	if err != nil && !isSentinel(err) {
		return false, fmt.Errorf("put device: %w", err)
	}
	return added, err
}

func isSentinel(err error) bool {
	for _, s := range []error{ErrNotFound, ErrExists, ErrStale, ErrRevoked, ErrPlanLimit} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

const deviceCols = `id, account, name, platform, added, last_seen, revoked`

func scanDevice(r row) (*Device, error) {
	var (
		dv                   Device
		id, acct             []byte
		added, seen, revoked int64
	)
	if err := r.Scan(&id, &acct, &dv.Name, &dv.Platform, &added, &seen, &revoked); err != nil {
		return nil, err
	}
	dv.ID, dv.AccountID = idFrom(id), idFrom(acct)
	dv.Added, dv.LastSeen, dv.Revoked = tm(added), tm(seen), tm(revoked)
	return &dv, nil
}

func (d *db) Devices(ctx context.Context, account ID) ([]*Device, error) {
	rs, err := d.b.reads().query(ctx, `SELECT `+deviceCols+` FROM devices WHERE account = $1 ORDER BY added, id`, b16(account))
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	defer rs.Close()
	var out []*Device
	for rs.Next() {
		dv, err := scanDevice(rs)
		if err != nil {
			return nil, fmt.Errorf("list devices: %w", err)
		}
		out = append(out, dv)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return out, nil
}

func (d *db) RevokeDevice(ctx context.Context, account, device ID) error {
	err := d.write(ctx, func(t tx) error {
		n, err := t.exec(ctx, `UPDATE devices SET revoked = $3 WHERE account = $1 AND id = $2 AND revoked = 0`,
			b16(account), b16(device), ts(time.Now()))
		if err != nil {
			return err
		}
		if n == 0 { // unknown, or revoked before: then there is nothing to do
			var revoked int64
			err := t.queryRow(ctx, `SELECT revoked FROM devices WHERE account = $1 AND id = $2`, b16(account), b16(device)).Scan(&revoked)
			if errors.Is(err, errNoRows) {
				return ErrNotFound
			}
			if err != nil {
				return err
			}
		}
		_, err = t.exec(ctx, `DELETE FROM sessions WHERE account = $1 AND device = $2`, b16(account), b16(device))
		return err
	})
	if err != nil && !isSentinel(err) {
		return fmt.Errorf("revoke device: %w", err)
	}
	return err
}

func (d *db) TouchDevice(ctx context.Context, account, device ID, t time.Time) error {
	// Never move last-seen backwards: replicas may report out of order.
	return d.updateOne(ctx, "touch device",
		`UPDATE devices SET last_seen = CASE WHEN last_seen < $3 THEN $3 ELSE last_seen END WHERE account = $1 AND id = $2`,
		b16(account), b16(device), ts(t))
}

func (d *db) CreateSession(ctx context.Context, s *Session) error {
	err := d.write(ctx, func(t tx) error {
		// Sweep the device's expired sessions while we are here.
		if _, err := t.exec(ctx, `DELETE FROM sessions WHERE account = $1 AND device = $2 AND expires <= $3`,
			b16(s.AccountID), b16(s.DeviceID), ts(time.Now())); err != nil {
			return err
		}
		created := s.Created
		if created.IsZero() {
			created = time.Now()
		}
		_, err := t.exec(ctx, `INSERT INTO sessions (token_hash, account, device, created, expires) VALUES ($1, $2, $3, $4, $5)`,
			s.TokenHash[:], b16(s.AccountID), b16(s.DeviceID), ts(created), ts(s.Expires))
		switch d.b.classify(err) {
		case errUnique:
			return ErrExists
		case errForeignKey:
			return ErrNotFound
		}
		return err
	})
	if err != nil && !isSentinel(err) {
		return fmt.Errorf("create session: %w", err)
	}
	return err
}

func (d *db) Session(ctx context.Context, tokenHash [32]byte, now time.Time) (*Session, error) {
	s := Session{TokenHash: tokenHash}
	var (
		acct, dev                []byte
		created, expires, reauth int64
		narrowed                 int64
	)
	err := d.b.reads().queryRow(ctx, `SELECT s.account, s.device, s.created, s.expires, s.reauth_until, s.narrowed
		FROM sessions s JOIN devices d ON d.account = s.account AND d.id = s.device
		WHERE s.token_hash = $1 AND s.expires > $2 AND d.revoked = 0`, tokenHash[:], ts(now)).
		Scan(&acct, &dev, &created, &expires, &reauth, &narrowed)
	if errors.Is(err, errNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	s.AccountID, s.DeviceID = idFrom(acct), idFrom(dev)
	s.Created, s.Expires = tm(created), tm(expires)
	s.ReauthUntil, s.Narrowed = tm(reauth), narrowed != 0
	return &s, nil
}

func (d *db) DeleteSession(ctx context.Context, tokenHash [32]byte) error {
	if _, err := d.b.writes().exec(ctx, `DELETE FROM sessions WHERE token_hash = $1`, tokenHash[:]); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

func (d *db) PutLoginState(ctx context.Context, l *LoginState) error {
	err := d.write(ctx, func(t tx) error {
		// Sweep abandoned logins.
		if _, err := t.exec(ctx, `DELETE FROM login_states WHERE expires <= $1`, ts(time.Now())); err != nil {
			return err
		}
		_, err := t.exec(ctx, `INSERT INTO login_states (id, account, known, device_id, device_name, device_platform,
			device_added, device_last_seen, state, expires) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			b16(l.ID), b16(l.AccountID), l.Known, b16(l.Device.ID), l.Device.Name, l.Device.Platform,
			ts(l.Device.Added), ts(l.Device.LastSeen), nn(l.State), ts(l.Expires))
		if d.b.classify(err) == errUnique {
			return ErrExists
		}
		return err
	})
	if err != nil && !isSentinel(err) {
		return fmt.Errorf("store pending login: %w", err)
	}
	return err
}

func (d *db) TakeLoginState(ctx context.Context, id ID, now time.Time) (*LoginState, error) {
	l := LoginState{ID: id}
	var (
		acct, devID          []byte
		added, seen, expires int64
	)
	// DELETE … RETURNING: of two replicas taking the same login at once,
	// only one gets the row.
	err := d.b.writes().queryRow(ctx, `DELETE FROM login_states WHERE id = $1
		RETURNING account, known, device_id, device_name, device_platform, device_added, device_last_seen, state, expires`, b16(id)).
		Scan(&acct, &l.Known, &devID, &l.Device.Name, &l.Device.Platform, &added, &seen, &l.State, &expires)
	if errors.Is(err, errNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("take pending login: %w", err)
	}
	l.Expires = tm(expires)
	if !now.Before(l.Expires) {
		return nil, ErrNotFound
	}
	l.AccountID = idFrom(acct)
	l.Device.ID, l.Device.AccountID = idFrom(devID), l.AccountID
	l.Device.Added, l.Device.LastSeen = tm(added), tm(seen)
	return &l, nil
}

func (d *db) Failures(ctx context.Context, key string) (int, time.Time, error) {
	var n, until int64
	err := d.b.reads().queryRow(ctx, `SELECT failed, locked_until FROM failures WHERE throttle_key = $1`, key).Scan(&n, &until)
	if errors.Is(err, errNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("read failures: %w", err)
	}
	return int(n), tm(until), nil
}

func (d *db) RecordFailure(ctx context.Context, key string, until time.Time) (int, error) {
	var n int64
	// One statement, so concurrent failures on several replicas all count.
	// The lockout only ever grows: an attempt that read an older count
	// (and so computed a shorter lockout) must not shorten the one a
	// concurrent attempt set, or a burst of parallel starts slips past it.
	err := d.b.writes().queryRow(ctx, `INSERT INTO failures (throttle_key, failed, locked_until) VALUES ($1, 1, $2)
		ON CONFLICT (throttle_key) DO UPDATE SET failed = failures.failed + 1,
			locked_until = CASE WHEN excluded.locked_until > failures.locked_until THEN excluded.locked_until ELSE failures.locked_until END
		RETURNING failed`, key, ts(until)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("record failure: %w", err)
	}
	return int(n), nil
}

func (d *db) ClearFailures(ctx context.Context, key string) error {
	if _, err := d.b.writes().exec(ctx, `DELETE FROM failures WHERE throttle_key = $1`, key); err != nil {
		return fmt.Errorf("clear failures: %w", err)
	}
	return nil
}

func (d *db) ExpireFailures(ctx context.Context, before time.Time) (int64, error) {
	n, err := d.b.writes().exec(ctx, `DELETE FROM failures WHERE locked_until < $1`, ts(before))
	if err != nil {
		return 0, fmt.Errorf("expire failures: %w", err)
	}
	return n, nil
}

func addEvent(ctx context.Context, q querier, account ID, e *Event) error {
	at := e.Time
	if at.IsZero() {
		at = time.Now()
	}
	if _, err := q.exec(ctx, `INSERT INTO events (account, at, kind, device, source, detail) VALUES ($1, $2, $3, $4, $5, $6)`,
		b16(account), ts(at), e.Kind, nullID(e.DeviceID), e.Source, e.Detail); err != nil {
		return fmt.Errorf("log event %s: %w", e.Kind, err)
	}
	return nil
}

func (d *db) AddEvent(ctx context.Context, account ID, e *Event) error {
	return addEvent(ctx, d.b.writes(), account, e)
}

func (d *db) Events(ctx context.Context, account ID, limit int) ([]*Event, error) {
	if limit <= 0 {
		limit = math.MaxInt64
	}
	rs, err := d.b.reads().query(ctx, `SELECT at, kind, device, source, detail FROM events WHERE account = $1
		ORDER BY at DESC, id DESC LIMIT $2`, b16(account), int64(limit))
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rs.Close()
	var out []*Event
	for rs.Next() {
		var (
			e   Event
			at  int64
			dev []byte
		)
		if err := rs.Scan(&at, &e.Kind, &dev, &e.Source, &e.Detail); err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		e.Time, e.DeviceID = tm(at), idFrom(dev)
		out = append(out, &e)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return out, nil
}

func (d *db) SyncSettings(ctx context.Context, account ID) (*SyncSettings, error) {
	var (
		s        SyncSettings
		settings string
		updated  int64
	)
	err := d.b.reads().queryRow(ctx, `SELECT method, settings, secret, updated FROM sync_settings WHERE account = $1`, b16(account)).
		Scan(&s.Method, &settings, &s.Secret, &updated)
	if errors.Is(err, errNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read sync settings: %w", err)
	}
	if err := json.Unmarshal([]byte(settings), &s.Settings); err != nil {
		return nil, fmt.Errorf("read sync settings: damaged settings column: %w", err)
	}
	s.Updated = tm(updated)
	return &s, nil
}

func (d *db) PutSyncSettings(ctx context.Context, account ID, s *SyncSettings) error {
	settings, err := json.Marshal(s.Settings)
	if err != nil {
		return fmt.Errorf("store sync settings: %w", err)
	}
	updated := s.Updated
	if updated.IsZero() {
		updated = time.Now()
	}
	_, err = d.b.writes().exec(ctx, `INSERT INTO sync_settings (account, method, settings, secret, updated) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (account) DO UPDATE SET method = excluded.method, settings = excluded.settings,
		secret = excluded.secret, updated = excluded.updated`,
		b16(account), s.Method, string(settings), s.Secret, ts(updated))
	if d.b.classify(err) == errForeignKey {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("store sync settings: %w", err)
	}
	return nil
}
