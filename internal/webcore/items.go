package webcore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/otpcode"
	"github.com/keyhold/keyhold/internal/vaultsync"
)

// List returns the rows of the item list q selects, sorted as the
// command line sorts them (title, then id).
func (c *Core) List(q ListQuery) (Rows, error) {
	if _, err := c.open(); err != nil {
		return Rows{}, err
	}
	return c.ix.list(q), nil
}

// Tags returns every tag in use out of the trash.
func (c *Core) Tags() ([]string, error) {
	if _, err := c.open(); err != nil {
		return nil, err
	}
	return c.ix.tags(), nil
}

// TypeInfo is one item type and its standard fields.
type TypeInfo struct {
	Type   string       `json:"type"`
	Fields []item.Field `json:"fields"`
}

// Types lists the item types and their standard fields, in the order the
// command line knows them.
func Types() []TypeInfo {
	out := make([]TypeInfo, 0, len(item.Types))
	for _, t := range item.Types {
		fs := slices.Clone(item.StandardFields[t])
		if fs == nil {
			fs = []item.Field{}
		}
		out = append(out, TypeInfo{Type: string(t), Fields: fs})
	}
	return out
}

func parseID(s string) (vaultsync.ItemID, error) {
	u, err := uuid.Parse(s)
	if err != nil {
		return vaultsync.ItemID{}, fmt.Errorf("%w: %q is not an item id", ErrInvalid, s)
	}
	return vaultsync.ItemID(u), nil
}

// entry returns an item's current revision.
func (c *Core) entry(id string) (Vault, Entry, error) {
	v, err := c.open()
	if err != nil {
		return nil, Entry{}, err
	}
	iid, err := parseID(id)
	if err != nil {
		return nil, Entry{}, err
	}
	e, ok := c.ix.get(iid)
	if !ok {
		return nil, Entry{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return v, e, nil
}

// AttachmentInfo names an attachment: the page gets its data by asking.
type AttachmentInfo struct {
	Name string `json:"name"`
	Size int    `json:"size"`
}

// ItemView is an item as the page shows it: the item's own JSON (its
// fields with their values), its id and revision, and its attachments by
// name and size only.
type ItemView struct {
	item.Item
	ID          string           `json:"id"`
	Rev         uint64           `json:"rev"`
	Attachments []AttachmentInfo `json:"attachments"`
}

func viewOf(e Entry) ItemView {
	v := ItemView{Item: *e.Item, ID: e.ID.String(), Rev: e.Rev, Attachments: []AttachmentInfo{}}
	v.Item.Attachments = nil
	for _, a := range e.Item.Attachments {
		v.Attachments = append(v.Attachments, AttachmentInfo{Name: a.Name, Size: len(a.Data)})
	}
	return v
}

// Get returns one item with its values.
func (c *Core) Get(id string) (ItemView, error) {
	_, e, err := c.entry(id)
	if err != nil {
		return ItemView{}, err
	}
	return viewOf(e), nil
}

// SaveResult is an item's id and new revision.
type SaveResult struct {
	ID  string `json:"id"`
	Rev uint64 `json:"rev"`
	// Conflicts names the fields an edit of an older revision changed
	// that the current one had changed too: the edit's value won, and
	// both are in the history.
	Conflicts []string `json:"conflicts,omitempty"`
}

// Save adds an item (id "") or stores an edit of item id made on top of
// revision rev (0: the current one). The page sends the item without
// attachment data: an edit keeps the item's attachments, which attach
// and detach change. An edit of a revision that is no longer current
// (a sync brought another device's edit meanwhile) is merged field by
// field (replica.PutMerge); ErrConflict only for a revision the item
// never had.
func (c *Core) Save(ctx context.Context, id string, rev uint64, raw []byte) (SaveResult, error) {
	c.op.RLock() // a Lock or a wipe waits for the write to be stored
	defer c.op.RUnlock()
	v, err := c.open()
	if err != nil {
		return SaveResult{}, err
	}
	var in item.Item
	if err := json.Unmarshal(raw, &in); err != nil {
		return SaveResult{}, fmt.Errorf("%w: the item does not decode: %v", ErrInvalid, err)
	}
	now := c.o.Now().UTC().Truncate(time.Millisecond)
	in.V = item.SchemaVersion
	in.Modified = now
	in.Attachments = nil
	if id == "" {
		in.Created, in.Trashed = now, nil
		if err := in.Validate(); err != nil {
			return SaveResult{}, err
		}
		e, err := v.Add(ctx, &in)
		if err != nil {
			return SaveResult{}, err
		}
		return c.written(ctx, e)
	}
	_, cur, err := c.entry(id)
	if err != nil {
		return SaveResult{}, err
	}
	in.Created, in.Trashed = cur.Item.Created, cur.Item.Trashed
	in.Attachments = cur.Item.Clone().Attachments
	if rev == 0 {
		rev = cur.Rev
	}
	if err := in.Validate(); err != nil {
		return SaveResult{}, err
	}
	// An edit of a revision a sync has since moved past is merged with
	// the current one, field by field, as the command line merges.
	e, conflicts, err := v.PutMerge(ctx, cur.ID, rev, &in)
	if err != nil {
		return SaveResult{}, err
	}
	res, err := c.written(ctx, e)
	for _, f := range conflicts {
		res.Conflicts = append(res.Conflicts, f.Field)
	}
	return res, err
}

func (c *Core) put(ctx context.Context, v Vault, cur Entry, it *item.Item) (SaveResult, error) {
	if err := it.Validate(); err != nil {
		return SaveResult{}, err
	}
	e, _, err := v.PutMerge(ctx, cur.ID, cur.Rev, it)
	if err != nil {
		return SaveResult{}, err
	}
	return c.written(ctx, e)
}

// written updates the list and the stored vault after a write, and
// pushes the change at once (with c.op held shared by the write).
func (c *Core) written(ctx context.Context, e Entry) (SaveResult, error) {
	c.ix.put(e)
	c.mu.Lock()
	push := c.push
	c.mu.Unlock()
	if push != nil {
		push() // while the vault is stored: the server need not wait for that
	}
	err := c.persist(ctx, false)
	if err != nil {
		return SaveResult{}, err
	}
	return SaveResult{ID: e.ID.String(), Rev: e.Rev}, nil
}

// Trash moves an item to the trash; Restore takes it out.
func (c *Core) Trash(ctx context.Context, id string) (SaveResult, error) {
	return c.setTrashed(ctx, id, true)
}

// Restore takes an item out of the trash.
func (c *Core) Restore(ctx context.Context, id string) (SaveResult, error) {
	return c.setTrashed(ctx, id, false)
}

func (c *Core) setTrashed(ctx context.Context, id string, trash bool) (SaveResult, error) {
	c.op.RLock() // a Lock or a wipe waits for the write to be stored
	defer c.op.RUnlock()
	v, cur, err := c.entry(id)
	if err != nil {
		return SaveResult{}, err
	}
	if (cur.Item.Trashed != nil) == trash {
		if trash {
			return SaveResult{}, fmt.Errorf("%w: the item is in the trash already", ErrInvalid)
		}
		return SaveResult{}, fmt.Errorf("%w: the item is not in the trash", ErrInvalid)
	}
	it := cur.Item.Clone()
	now := c.o.Now().UTC().Truncate(time.Millisecond)
	it.Modified = now
	it.Trashed = nil
	if trash {
		it.Trashed = &now
	}
	return c.put(ctx, v, cur, it)
}

// HistoryEntry is one past revision's content.
type HistoryEntry struct {
	Rev      uint64    `json:"rev"`
	Modified time.Time `json:"modified"`
	Item     ItemView  `json:"item"`
}

// History returns an item's past revisions, newest first.
func (c *Core) History(ctx context.Context, id string) ([]HistoryEntry, error) {
	v, cur, err := c.entry(id)
	if err != nil {
		return nil, err
	}
	revs, err := v.History(ctx, cur.ID)
	if err != nil {
		return nil, err
	}
	out := make([]HistoryEntry, 0, len(revs))
	for _, r := range slices.Backward(revs) {
		out = append(out, HistoryEntry{Rev: r.Rev, Modified: r.Item.Modified, Item: viewOf(r)})
	}
	return out, nil
}

// Field returns one field's value, by name as item.Get takes it.
func (c *Core) Field(id, name string) (string, error) {
	_, e, err := c.entry(id)
	if err != nil {
		return "", err
	}
	v, ok := e.Item.Get(name)
	if !ok {
		return "", fmt.Errorf("%w: the item has no field %q", ErrNotFound, name)
	}
	return v, nil
}

// TOTPCode is an item's current one-time code.
type TOTPCode struct {
	Code      string `json:"code"`
	Period    int    `json:"period"`
	Remaining int    `json:"remaining"`
}

// TOTP returns the item's current TOTP code (RFC 6238), from a bare
// base32 secret (30 s, 6 digits, SHA-1) or an otpauth:// URI.
func (c *Core) TOTP(id string) (TOTPCode, error) {
	_, e, err := c.entry(id)
	if err != nil {
		return TOTPCode{}, err
	}
	stored, ok := e.Item.Get("totp")
	if !ok || stored == "" {
		return TOTPCode{}, fmt.Errorf("%w: the item has no TOTP secret", ErrNotFound)
	}
	code, period, remaining, err := otpcode.Code(stored, c.o.Now())
	if err != nil {
		return TOTPCode{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return TOTPCode{Code: code, Period: period, Remaining: remaining}, nil
}

// Attachment returns an attachment's data.
func (c *Core) Attachment(id, name string) ([]byte, error) {
	_, e, err := c.entry(id)
	if err != nil {
		return nil, err
	}
	for _, a := range e.Item.Attachments {
		if a.Name == name {
			return slices.Clone(a.Data), nil
		}
	}
	return nil, fmt.Errorf("%w: the item has no attachment %q", ErrNotFound, name)
}

// Attach adds a file to an item, or replaces the one of that name.
func (c *Core) Attach(ctx context.Context, id, name string, data []byte) (SaveResult, error) {
	c.op.RLock() // a Lock or a wipe waits for the write to be stored
	defer c.op.RUnlock()
	v, cur, err := c.entry(id)
	if err != nil {
		return SaveResult{}, err
	}
	it := cur.Item.Clone()
	it.Attachments = slices.DeleteFunc(it.Attachments, func(a item.Attachment) bool { return a.Name == name })
	it.Attachments = append(it.Attachments, item.Attachment{Name: name, Data: slices.Clone(data)})
	it.Modified = c.o.Now().UTC().Truncate(time.Millisecond)
	return c.put(ctx, v, cur, it)
}

// Detach removes a file from an item.
func (c *Core) Detach(ctx context.Context, id, name string) (SaveResult, error) {
	c.op.RLock() // a Lock or a wipe waits for the write to be stored
	defer c.op.RUnlock()
	v, cur, err := c.entry(id)
	if err != nil {
		return SaveResult{}, err
	}
	it := cur.Item.Clone()
	n := len(it.Attachments)
	it.Attachments = slices.DeleteFunc(it.Attachments, func(a item.Attachment) bool { return a.Name == name })
	if len(it.Attachments) == n {
		return SaveResult{}, fmt.Errorf("%w: the item has no attachment %q", ErrNotFound, name)
	}
	it.Modified = c.o.Now().UTC().Truncate(time.Millisecond)
	return c.put(ctx, v, cur, it)
}
