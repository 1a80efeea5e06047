package transfer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"filippo.io/age"
	"github.com/google/uuid"

	"github.com/keyhold/keyhold/internal/item"
)

// The keyhold export format; docs/SPEC.md §13 is its specification.
const (
	// ExportFormat is the "format" member of the plaintext JSON.
	ExportFormat = "keyhold-export"
	// ExportVersion is the only "version" this package writes and reads.
	ExportVersion = 1
	// MaxExportSize caps the decrypted JSON. A vault of 100,000 items with
	// a long history is a few hundred MiB; a hostile file claiming more is
	// refused before it fills memory.
	MaxExportSize = 1 << 30
	// MaxExportItems caps the number of items in an export.
	MaxExportItems = 1_000_000
	// MaxExportRevisions caps the number of item revisions (current ones
	// and history) in an export.
	MaxExportRevisions = 10_000_000
)

// The caps as variables, so that tests can lower them.
var (
	maxExportSize  = MaxExportSize
	maxExportItems = MaxExportItems
)

// ageIntro is how every binary age file starts ("age-encryption.org/v1"
// and a newline, per the age specification).
const ageIntro = "age-encryption.org/v1\n"

// ageFamily starts the intro line of every age version; a file that
// starts with it but not with ageIntro is treated as damaged, not foreign.
const ageFamily = "age-encryption.org/"

// ageArmorBegin starts an ASCII-armored age file, which exports are not.
const ageArmorBegin = "-----BEGIN AGE ENCRYPTED FILE-----"

// Errors ReadExport returns; each is wrapped with detail, so test with
// errors.Is.
var (
	// ErrWrongExportKey means no passphrase or identity given opens the
	// export. A damaged recipient stanza in the file's header looks the
	// same to age as a wrong key, so it is reported this way too.
	ErrWrongExportKey = errors.New("wrong passphrase or key for this export")
	// ErrCorruptExport means the file fails age's authentication or ends
	// early: it was damaged or cut short after it was written.
	ErrCorruptExport = errors.New("the export file is damaged or truncated; nothing was imported")
	// ErrNotExport means the input is not a keyhold export at all: not an
	// age file, an armored one, or an age file holding something else.
	ErrNotExport = errors.New("this is not a keyhold export file")
	// ErrExportVersion means the export is of a version this Keyhold does
	// not read, usually one written by a newer Keyhold.
	ErrExportVersion = errors.New("unsupported keyhold export version")
	// ErrInvalidExport means the export decrypted and authenticated but
	// breaks a rule of the format (an invalid item, a duplicate id, too
	// large). Only a faulty or hostile writer produces such a file.
	ErrInvalidExport = errors.New("the export file is invalid; nothing was imported")
)

// Export is a whole account's items with their history.
type Export struct {
	// Version is the format version; WriteExport writes ExportVersion
	// whether this is zero or ExportVersion.
	Version int
	// Exported is when the export was made.
	Exported time.Time
	// AccountID is the exporting account's id, a UUID.
	AccountID string
	Items     []ExportItem
}

// ExportItem is one item: its current content and its earlier revisions.
type ExportItem struct {
	// ID is the item's id, a UUID in canonical lower-case form.
	ID string
	// Revision is the current revision, at least 1.
	Revision uint64
	Current  *item.Item
	// History holds earlier revisions, oldest first, each below Revision.
	// ReadExport returns nil for an item without history.
	History []ExportRevision
}

// ExportRevision is one earlier revision of an item.
type ExportRevision struct {
	Revision uint64
	Item     *item.Item
}

// The plaintext JSON. Items are json.RawMessage so that what is written is
// byte for byte item.Marshal's output, and what is read goes through
// item.Unmarshal's validation.
type (
	wireExport struct {
		Format    string     `json:"format"`
		Version   int        `json:"version"`
		Exported  time.Time  `json:"exported"`
		AccountID string     `json:"account_id"`
		Items     []wireItem `json:"items"`
	}
	wireItem struct {
		ID       string          `json:"id"`
		Revision uint64          `json:"revision"`
		Current  json.RawMessage `json:"current"`
		History  []wireRevision  `json:"history"`
	}
	wireRevision struct {
		Revision uint64          `json:"revision"`
		Item     json.RawMessage `json:"item"`
	}
)

// WriteExport encrypts e to the recipients and writes it to w: to a
// passphrase (a single recipient from PassphraseRecipient) or to one or
// more age keys (ParseRecipient). It checks e first, so it never writes a
// file ReadExport would refuse; on error, w may hold a partial file the
// caller must discard.
func WriteExport(w io.Writer, e *Export, recipients ...age.Recipient) error {
	if len(recipients) == 0 {
		return errors.New("cannot export: no passphrase or recipient given")
	}
	for _, r := range recipients {
		if r == nil {
			return errors.New("cannot export: a recipient is nil")
		}
		if _, ok := r.(*age.ScryptRecipient); ok && len(recipients) > 1 {
			return errors.New("cannot export: a passphrase cannot be combined with other passphrases or recipients; pick one")
		}
	}
	if e.Version != 0 && e.Version != ExportVersion {
		return fmt.Errorf("cannot export: this Keyhold writes export version %d, not %d", ExportVersion, e.Version)
	}
	if err := e.check(); err != nil {
		return fmt.Errorf("cannot export: %w", err)
	}

	aw, err := age.Encrypt(w, recipients...)
	if err != nil {
		return fmt.Errorf("cannot export: %w", err)
	}
	bw := bufio.NewWriterSize(aw, 64<<10)
	head, err := json.Marshal(struct {
		Format    string    `json:"format"`
		Version   int       `json:"version"`
		Exported  time.Time `json:"exported"`
		AccountID string    `json:"account_id"`
	}{ExportFormat, ExportVersion, e.Exported.UTC(), e.AccountID})
	if err != nil {
		return err
	}
	// Items are streamed one by one rather than marshaled as one value,
	// so that a large vault is not held twice in memory.
	bw.Write(head[:len(head)-1])
	bw.WriteString(`,"items":[`)
	for i, ei := range e.Items {
		wi := wireItem{ID: ei.ID, Revision: ei.Revision, History: make([]wireRevision, len(ei.History))}
		if wi.Current, err = ei.Current.Marshal(); err != nil {
			return err
		}
		for j, h := range ei.History {
			wi.History[j].Revision = h.Revision
			if wi.History[j].Item, err = h.Item.Marshal(); err != nil {
				return err
			}
		}
		b, err := json.Marshal(wi)
		if err != nil {
			return err
		}
		if i > 0 {
			bw.WriteByte(',')
		}
		if _, err := bw.Write(b); err != nil {
			return fmt.Errorf("cannot write the export: %w", err)
		}
	}
	bw.WriteString("]}")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("cannot write the export: %w", err)
	}
	if err := aw.Close(); err != nil {
		return fmt.Errorf("cannot write the export: %w", err)
	}
	return nil
}

// ReadExport decrypts and checks an export. Give the passphrase
// (PassphraseIdentity) or the age identities it was encrypted to.
//
// age authenticates the whole file, so a file that decrypts is exactly
// what its writer wrote; ReadExport still validates every item, since the
// writer need not be Keyhold. It returns an error wrapping one of
// ErrWrongExportKey, ErrCorruptExport, ErrNotExport, ErrExportVersion or
// ErrInvalidExport, and no partial result.
func ReadExport(r io.Reader, identities ...age.Identity) (*Export, error) {
	if len(identities) == 0 {
		return nil, errors.New("cannot read the export: no passphrase or identity given")
	}
	br := bufio.NewReaderSize(r, 64<<10)
	peek, _ := br.Peek(len(ageIntro))
	switch {
	case len(peek) == 0:
		return nil, fmt.Errorf("%w (the file is empty)", ErrCorruptExport)
	case bytes.HasPrefix(peek, []byte(ageArmorBegin[:len(ageIntro)])):
		return nil, fmt.Errorf("%w: it is an ASCII-armored age file; keyhold exports are binary", ErrNotExport)
	case !bytes.HasPrefix(peek, []byte(ageFamily)) && !bytes.HasPrefix([]byte(ageIntro), peek):
		return nil, fmt.Errorf("%w: it is not age-encrypted", ErrNotExport)
	case len(peek) < len(ageIntro):
		return nil, fmt.Errorf("%w (the file ends inside its header)", ErrCorruptExport)
	}
	// From here on, age's errors mean damage: the file started like an
	// age file, and a change anywhere after that fails age's checks.

	dec, err := age.Decrypt(br, identities...)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return nil, wrongKeyError(nm)
		}
		return nil, fmt.Errorf("%w (%v)", ErrCorruptExport, err)
	}
	plain, err := io.ReadAll(io.LimitReader(dec, int64(maxExportSize)+1))
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrCorruptExport, err)
	}
	if len(plain) > maxExportSize {
		return nil, fmt.Errorf("%w: its content is larger than %d bytes", ErrInvalidExport, maxExportSize)
	}
	return parseExport(plain)
}

// wrongKeyError says which kind of key the file wants, which age knows
// from the header's stanza types.
func wrongKeyError(nm *age.NoIdentityMatchError) error {
	if slices.Contains(nm.StanzaTypes, "scrypt") {
		return fmt.Errorf("%w: it is protected by a passphrase; check the passphrase", ErrWrongExportKey)
	}
	return fmt.Errorf("%w: it is encrypted to age keys, none of which was given; use the identity file of one of its recipients", ErrWrongExportKey)
}

// parseExport decodes and checks the plaintext.
func parseExport(plain []byte) (*Export, error) {
	// Format and version are read first and on their own, so that a file
	// of another format or a newer version gets that error rather than a
	// confusing one about its structure.
	var probe struct {
		Format  any `json:"format"`
		Version any `json:"version"`
	}
	if err := json.NewDecoder(bytes.NewReader(plain)).Decode(&probe); err != nil || probe.Format != ExportFormat {
		return nil, fmt.Errorf("%w: it decrypted, but holds something else", ErrNotExport)
	}
	if v, ok := probe.Version.(float64); !ok || v != ExportVersion {
		if ok && v > ExportVersion {
			return nil, fmt.Errorf("%w: the file is version %v and this Keyhold reads version %d; upgrade Keyhold", ErrExportVersion, v, ExportVersion)
		}
		return nil, fmt.Errorf("%w: the file's version is not %d", ErrExportVersion, ExportVersion)
	}

	var we wireExport
	d := json.NewDecoder(bytes.NewReader(plain))
	d.DisallowUnknownFields()
	if err := d.Decode(&we); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidExport, err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the end of the export", ErrInvalidExport)
	}
	if len(we.Items) > maxExportItems {
		return nil, fmt.Errorf("%w: more than %d items", ErrInvalidExport, maxExportItems)
	}
	e := &Export{Version: we.Version, Exported: we.Exported, AccountID: we.AccountID,
		Items: make([]ExportItem, len(we.Items))}
	for i, wi := range we.Items {
		ei := &e.Items[i]
		ei.ID, ei.Revision = wi.ID, wi.Revision
		var err error
		if ei.Current, err = decodeItem(wi.Current); err != nil {
			return nil, fmt.Errorf("%w: item %d (%s): %w", ErrInvalidExport, i+1, safeID(wi.ID), err)
		}
		if len(wi.History) > 0 {
			ei.History = make([]ExportRevision, len(wi.History))
		}
		for j, wr := range wi.History {
			ei.History[j].Revision = wr.Revision
			if ei.History[j].Item, err = decodeItem(wr.Item); err != nil {
				return nil, fmt.Errorf("%w: item %d (%s), revision %d: %w", ErrInvalidExport, i+1, safeID(wi.ID), wr.Revision, err)
			}
		}
	}
	if err := e.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidExport, err)
	}
	return e, nil
}

func decodeItem(b json.RawMessage) (*item.Item, error) {
	if len(b) == 0 || string(b) == "null" {
		return nil, errors.New("the item is missing")
	}
	return item.Unmarshal(b)
}

// safeID returns id for an error message if it is a well-formed UUID, so
// that a hostile file cannot put arbitrary text into messages.
func safeID(id string) string {
	if canonicalUUID(id) {
		return id
	}
	return "malformed id"
}

func canonicalUUID(s string) bool {
	u, err := uuid.Parse(s)
	return err == nil && u.String() == s
}

// check enforces the rules of the format on an export, before writing and
// after reading. Its errors name items by position and id, never by
// title, and wrap item.ErrInvalid for an invalid item.
func (e *Export) check() error {
	if e.Exported.IsZero() {
		return errors.New("the export time is missing")
	}
	if !canonicalUUID(e.AccountID) {
		return errors.New("the account id is not a UUID")
	}
	if len(e.Items) > maxExportItems {
		return fmt.Errorf("more than %d items", maxExportItems)
	}
	ids := make(map[string]bool, len(e.Items))
	revisions := 0
	for i := range e.Items {
		ei := &e.Items[i]
		if !canonicalUUID(ei.ID) {
			return fmt.Errorf("item %d: the id is not a lower-case UUID", i+1)
		}
		if ids[ei.ID] {
			return fmt.Errorf("item %d: the id %s appears twice", i+1, ei.ID)
		}
		ids[ei.ID] = true
		if ei.Revision == 0 {
			return fmt.Errorf("item %d (%s): revision 0; revisions start at 1", i+1, ei.ID)
		}
		if ei.Current == nil {
			return fmt.Errorf("item %d (%s): the item is missing", i+1, ei.ID)
		}
		if err := ei.Current.Validate(); err != nil {
			return fmt.Errorf("item %d (%s): %w", i+1, ei.ID, err)
		}
		revisions += 1 + len(ei.History)
		if revisions > MaxExportRevisions {
			return fmt.Errorf("more than %d revisions", MaxExportRevisions)
		}
		var prev uint64
		for _, h := range ei.History {
			if h.Revision <= prev || h.Revision >= ei.Revision {
				return fmt.Errorf("item %d (%s): history revision %d is out of order (history must be oldest first, below the current revision %d)",
					i+1, ei.ID, h.Revision, ei.Revision)
			}
			prev = h.Revision
			if h.Item == nil {
				return fmt.Errorf("item %d (%s), revision %d: the item is missing", i+1, ei.ID, h.Revision)
			}
			if err := h.Item.Validate(); err != nil {
				return fmt.Errorf("item %d (%s), revision %d: %w", i+1, ei.ID, h.Revision, err)
			}
		}
	}
	return nil
}
