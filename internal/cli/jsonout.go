package cli

import (
	"time"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/merge"
	"github.com/keyhold/keyhold/internal/vault"
)

// The documents keyhold prints with --json. Scripts read them, so they are
// a contract: each is a type here, and a renamed key fails to compile
// where it is filled in. Fields are in the order keyhold has always
// printed them (the documents began as maps, which encoding/json writes
// with their keys sorted), and cmd/keyhold/testdata/json holds each
// document as printed: keep both when adding a key.

// kdfJSON is the key derivation settings in init, status and account show.
type kdfJSON struct {
	Algorithm string `json:"algorithm"`
	MemoryMiB uint32 `json:"memory_mib"`
	Threads   uint8  `json:"threads"`
	Time      uint32 `json:"time"`
}

func newKDFJSON(p keys.KDFParams) kdfJSON {
	return kdfJSON{Algorithm: "argon2id", Time: p.Time, MemoryMiB: p.MemoryKiB / 1024, Threads: p.Threads}
}

// initJSON is init's document.
type initJSON struct {
	AccountID string  `json:"account_id"`
	KDF       kdfJSON `json:"kdf"`
	SecretKey string  `json:"secret_key"`
	Server    string  `json:"server"`
	Vault     string  `json:"vault"`
}

// statusJSON is status's document: only vault, exists and locked when
// there is no vault.
type statusJSON struct {
	AccountID     string           `json:"account_id,omitempty"`
	Agent         *statusAgentJSON `json:"agent,omitempty"`
	Exists        bool             `json:"exists"`
	KDF           *kdfJSON         `json:"kdf,omitempty"`
	KeyVersion    *uint32          `json:"key_version,omitempty"`
	Keystore      string           `json:"keystore,omitempty"`
	KeystoreEntry string           `json:"keystore_entry,omitempty"`
	Locked        bool             `json:"locked"`
	Mailer        string           `json:"mailer,omitempty"`
	// Sync is a *statusServerJSON or a *statusFolderJSON, or nil.
	Sync  statusSyncJSON `json:"sync,omitempty"`
	Vault string         `json:"vault"`
}

// statusSyncJSON is status's "sync" object: one of two shapes.
type statusSyncJSON interface{ statusSync() }

type statusAgentJSON struct {
	ExpiresAt   string `json:"expires_at"`
	IdleTimeout string `json:"idle_timeout"`
	PID         int    `json:"pid"`
}

// statusServerJSON is status's "sync" with a server.
type statusServerJSON struct {
	Cursor   uint64 `json:"cursor"`
	DeviceID string `json:"device_id"`
	Pending  int    `json:"pending"`
	Server   string `json:"server"`
	Verified uint64 `json:"verified"`
}

func (*statusServerJSON) statusSync() {}

// statusFolderJSON is status's "sync" with a folder.
type statusFolderJSON struct {
	Clock    uint64 `json:"clock"`
	DeviceID string `json:"device_id"`
	Devices  int    `json:"devices"`
	Folder   string `json:"folder"`
	Pending  int    `json:"pending"`
}

func (*statusFolderJSON) statusSync() {}

// rotateKeyJSON is rotate-key's document.
type rotateKeyJSON struct {
	AccountID  string `json:"account_id"`
	KeyVersion uint32 `json:"key_version"`
	SecretKey  string `json:"secret_key"`
}

// accountJSON is account show's document. The folder keys are there for a
// vault that syncs through a folder, the server keys for one with a
// server account.
type accountJSON struct {
	AccountID    string            `json:"account_id"`
	Created      *time.Time        `json:"created,omitempty"`
	DeviceID     string            `json:"device_id,omitempty"`
	Devices      *int              `json:"devices,omitempty"`
	Email        string            `json:"email"`
	Folder       string            `json:"folder,omitempty"`
	Head         *uint64           `json:"head,omitempty"`
	Items        *int              `json:"items,omitempty"`
	KDF          kdfJSON           `json:"kdf"`
	KeyVersion   uint32            `json:"key_version"`
	Plan         *api.Plan         `json:"plan,omitempty"`
	Server       string            `json:"server,omitempty"`
	Stored       []storedJSON      `json:"stored"`
	Sync         string            `json:"sync"`
	SyncSettings *api.SyncSettings `json:"sync_settings,omitempty"`
}

// storedJSON is one place account show says something is kept.
type storedJSON struct {
	What  string `json:"what"`
	Where string `json:"where"`
}

// itemJSON is an item in full: show, add, edit, history, attachment add.
// Values are included: JSON is for scripts, which ask for it explicitly.
type itemJSON struct {
	Attachments []attachmentJSON `json:"attachments"`
	Created     string           `json:"created"`
	Favorite    bool             `json:"favorite"`
	Fields      []fieldJSON      `json:"fields"`
	ID          string           `json:"id"`
	Match       string           `json:"match,omitempty"`
	Modified    string           `json:"modified"`
	Notes       string           `json:"notes"`
	Revision    uint64           `json:"revision"`
	Tags        []string         `json:"tags"`
	Title       string           `json:"title"`
	Trashed     string           `json:"trashed,omitempty"`
	Type        item.Type        `json:"type"`
	URLs        []string         `json:"urls"`
}

// itemSummaryJSON is an item in list and search: never a hidden value.
type itemSummaryJSON struct {
	Created  string    `json:"created"`
	Favorite bool      `json:"favorite"`
	ID       string    `json:"id"`
	Modified string    `json:"modified"`
	Revision uint64    `json:"revision"`
	Tags     []string  `json:"tags"`
	Title    string    `json:"title"`
	Trashed  string    `json:"trashed,omitempty"`
	Type     item.Type `json:"type"`
	URLs     []string  `json:"urls"`
	Username string    `json:"username"`
}

type fieldJSON struct {
	Custom bool      `json:"custom"`
	Kind   item.Kind `json:"kind"`
	Name   string    `json:"name"`
	Value  string    `json:"value"`
}

// attachmentJSON is an attachment's name and size (attachment list
// prints a list of them).
type attachmentJSON struct {
	Name string `json:"name"`
	Size int    `json:"size"`
}

func newItemSummaryJSON(e *vault.Entry) itemSummaryJSON {
	it := e.Item
	s := itemSummaryJSON{ID: e.ID.String(), Revision: e.Revision, Type: it.Type, Title: it.Title,
		URLs: nonNil(it.URLs), Tags: nonNil(it.Tags), Favorite: it.Favorite,
		Created: it.Created.Format(time.RFC3339Nano), Modified: it.Modified.Format(time.RFC3339Nano),
		Username: it.Username()}
	if it.Trashed != nil {
		s.Trashed = it.Trashed.Format(time.RFC3339Nano)
	}
	return s
}

func newItemJSON(e *vault.Entry) itemJSON {
	it := e.Item
	j := itemJSON{ID: e.ID.String(), Revision: e.Revision, Type: it.Type, Title: it.Title,
		URLs: nonNil(it.URLs), Tags: nonNil(it.Tags), Favorite: it.Favorite,
		Created: it.Created.Format(time.RFC3339Nano), Modified: it.Modified.Format(time.RFC3339Nano),
		Notes: it.Notes, Match: it.Match, Fields: make([]fieldJSON, 0, len(it.Fields)), Attachments: attachmentsJSON(it)}
	if it.Trashed != nil {
		j.Trashed = it.Trashed.Format(time.RFC3339Nano)
	}
	for _, f := range it.Fields {
		j.Fields = append(j.Fields, fieldJSON{Name: f.Name, Kind: f.Kind, Value: f.Value, Custom: f.Custom})
	}
	return j
}

func attachmentsJSON(it *item.Item) []attachmentJSON {
	atts := make([]attachmentJSON, 0, len(it.Attachments))
	for _, a := range it.Attachments {
		atts = append(atts, attachmentJSON{Name: a.Name, Size: len(a.Data)})
	}
	return atts
}

// fieldChangeJSON is one entry of history --field: Value is absent where
// the field was removed.
type fieldChangeJSON struct {
	Modified string  `json:"modified"`
	Present  bool    `json:"present"`
	Revision uint64  `json:"revision"`
	Value    *string `json:"value,omitempty"`
}

// kitJSON is kit's document.
type kitJSON struct {
	AccountID string `json:"account_id"`
	Kit       string `json:"kit"`
	SecretKey string `json:"secret_key"`
}

// kitMailJSON is kit --email's document.
type kitMailJSON struct {
	Encrypted string `json:"encrypted"`
	ID        string `json:"id"`
	Mailer    string `json:"mailer"`
	Queued    bool   `json:"queued"`
	To        string `json:"to"`
}

// conflictJSON is an item merged with a conflict, in sync's document.
type conflictJSON struct {
	Fields []conflictFieldJSON `json:"fields"`
	ID     string              `json:"id"`
	Title  string              `json:"title"`
}

type conflictFieldJSON struct {
	Field string `json:"field"`
	Kept  string `json:"kept"`
}

func conflictsJSON(cs []vault.MergeConflict) []conflictJSON {
	out := make([]conflictJSON, 0, len(cs))
	for _, mc := range cs {
		out = append(out, conflictJSON{ID: mc.ID.String(), Title: mc.Title, Fields: conflictFieldsJSON(mc.Fields)})
	}
	return out
}

func conflictFieldsJSON(fs []merge.Conflict) []conflictFieldJSON {
	out := make([]conflictFieldJSON, 0, len(fs))
	for _, f := range fs {
		out = append(out, conflictFieldJSON{Field: f.Field, Kept: f.Winner})
	}
	return out
}

// syncJSON is sync's document with a server.
type syncJSON struct {
	Added           int            `json:"added"`
	Conflicts       []conflictJSON `json:"conflicts"`
	Head            uint64         `json:"head"`
	KeyRotated      bool           `json:"key_rotated"`
	Merged          int            `json:"merged"`
	PasswordChanged bool           `json:"password_changed"`
	Pulled          int            `json:"pulled"`
	Pushed          int            `json:"pushed"`
	Updated         int            `json:"updated"`
	Verified        bool           `json:"verified"`
}

// folderSyncJSON is sync's document with a folder ("folder" is always
// true, telling it from a server's).
type folderSyncJSON struct {
	Added                 int            `json:"added"`
	Compacted             int            `json:"compacted"`
	Conflicts             []conflictJSON `json:"conflicts"`
	Devices               int            `json:"devices"`
	Folder                bool           `json:"folder"`
	KeyRotated            bool           `json:"key_rotated"`
	PasswordChangeDropped bool           `json:"password_change_dropped"`
	PasswordChanged       bool           `json:"password_changed"`
	Relogged              int            `json:"relogged"`
	Replayed              int            `json:"replayed"`
	RotationLost          bool           `json:"rotation_lost"`
	Skipped               int            `json:"skipped"`
	Snapshot              bool           `json:"snapshot"`
	UnknownKeyVersion     uint32         `json:"unknown_key_version"`
	Updated               int            `json:"updated"`
	Waiting               bool           `json:"waiting"`
	Written               int            `json:"written"`
}

// folderSetupJSON is setup's document for a device set up from a folder.
type folderSetupJSON struct {
	AccountID string `json:"account_id"`
	Folder    string `json:"folder"`
	Items     int    `json:"items"`
	Vault     string `json:"vault"`
}

// syncDisableJSON is sync disable's document for a vault that did not sync.
type syncDisableJSON struct {
	Disabled bool `json:"disabled"`
}

// syncDisableServerJSON is sync disable's document for a server.
type syncDisableServerJSON struct {
	DeviceID     string `json:"device_id"`
	Disabled     bool   `json:"disabled"`
	Pending      int    `json:"pending"`
	Server       string `json:"server"`
	SessionEnded bool   `json:"session_ended"`
}

// syncDisableFolderJSON is sync disable's document for a folder.
type syncDisableFolderJSON struct {
	DeviceID string `json:"device_id"`
	Disabled bool   `json:"disabled"`
	Folder   string `json:"folder"`
	Pending  int    `json:"pending"`
}

// generateJSON is generate's document.
type generateJSON struct {
	EntropyBits float64 `json:"entropy_bits"`
	Password    string  `json:"password"`
}

// otpJSON is otp's document.
type otpJSON struct {
	Code             string `json:"code"`
	RemainingSeconds int    `json:"remaining_seconds"`
}

// importDryRunJSON is import --dry-run's document for the formats read
// item by item (not CSV, not keyhold).
type importDryRunJSON struct {
	DryRun         bool             `json:"dry_run"`
	Duplicates     int              `json:"duplicates"`
	RepeatedInFile int              `json:"repeated_in_file"`
	SkippedEmpty   int              `json:"skipped_empty"`
	Unmapped       []string         `json:"unmapped"`
	WouldAdd       []importItemJSON `json:"would_add"`
}

type importItemJSON struct {
	Attachments int       `json:"attachments"`
	History     int       `json:"history"`
	Source      string    `json:"source"`
	Title       string    `json:"title"`
	Type        item.Type `json:"type"`
}

// importJSON is import's document for those formats.
type importJSON struct {
	Added          int      `json:"added"`
	Duplicates     int      `json:"duplicates"`
	RepeatedInFile int      `json:"repeated_in_file"`
	SkippedEmpty   int      `json:"skipped_empty"`
	Unmapped       []string `json:"unmapped"`
}

// importCSVJSON is import --format csv's document.
type importCSVJSON struct {
	Added        int      `json:"added"`
	Duplicates   int      `json:"duplicates"`
	SkippedEmpty int      `json:"skipped_empty"`
	Warnings     []string `json:"warnings"`
}

// importKeyholdJSON is import --format keyhold's document.
type importKeyholdJSON struct {
	Added      int `json:"added"`
	Duplicates int `json:"duplicates"`
}

// webVerifyJSON is web verify's document: the build keyhold expects
// (expected), the one the server's page names (served, "" if none), and
// one verdict per file of the expected build.
type webVerifyJSON struct {
	Expected string        `json:"expected"`
	Files    []webFileJSON `json:"files"`
	Match    bool          `json:"match"`
	Served   string        `json:"served"`
	Server   string        `json:"server"`
	Warnings []string      `json:"warnings"`
}

// webFileJSON is one file in web verify's document.
type webFileJSON struct {
	Detail string `json:"detail,omitempty"`
	Path   string `json:"path"`
	Status string `json:"status"`
}
