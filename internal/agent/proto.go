// Package agent keeps a vault unlocked for an idle timeout so that each
// command does not pay the key derivation again. The agent is a background
// process holding a vault.Session; commands talk to it over a unix socket
// in a 0700 directory, and it answers only peers running as the same user.
//
// The protocol is one JSON request and one JSON response per connection.
// It carries decrypted items between two processes of the same user on the
// same machine, never over a network.
package agent

import (
	"errors"
	"time"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/origin"
	"github.com/keyhold/keyhold/internal/syncclient"
	"github.com/keyhold/keyhold/internal/vault"
)

// Ops.
const (
	opStatus  = "status"
	opLock    = "lock"
	opList    = "list"
	opResolve = "resolve"
	opHistory = "history"
	opAdd     = "add"
	opPut     = "put"
	opTrash   = "trash"
	opRestore = "restore"
	opVerify  = "verify"
	opSync    = "sync"
	// opFolderSync syncs the vault with its shared folder
	// (vault.Session.FolderSync).
	opFolderSync = "folder_sync"
	// opSummaries is a search or list answered with a listing of item
	// summaries (listing.go) after the JSON response.
	opSummaries = "summaries"
	// opMatch answers with the logins that fill into a page origin
	// (match.go); opMatchSearch with the items a search finds, each
	// with how well it fills into the page.
	opMatch       = "match"
	opMatchSearch = "match_search"
)

type request struct {
	Op      string       `json:"op"`
	Query   string       `json:"q,omitempty"`
	Ref     string       `json:"ref,omitempty"`
	Filter  vault.Filter `json:"filter,omitempty"`
	Full    bool         `json:"full,omitempty"` // list: whole items, not summaries
	ID      string       `json:"id,omitempty"`
	BaseRev uint64       `json:"base_rev,omitempty"`
	Items   []*item.Item `json:"items,omitempty"`
	// Origin is the page origin of a match, as origin.Origin.String
	// writes it; the agent parses it again. Exact is the exact-host
	// default for items without their own setting.
	Origin string `json:"origin,omitempty"`
	Exact  bool   `json:"exact,omitempty"`
}

type wireEntry struct {
	ID       string     `json:"id"`
	Revision uint64     `json:"revision"`
	Item     *item.Item `json:"item"`
}

type wireError struct {
	Kind    string   `json:"kind"`
	Message string   `json:"message"`
	IDs     []string `json:"ids,omitempty"`
}

// Status describes a running agent.
type Status struct {
	AccountID string        `json:"account_id"`
	VaultDir  string        `json:"vault"`
	Started   time.Time     `json:"started"`
	Timeout   time.Duration `json:"timeout_ns"`
	ExpiresAt time.Time     `json:"expires_at"`
	PID       int           `json:"pid"`
}

type response struct {
	Entries   []wireEntry         `json:"entries,omitempty"`
	Revisions []vault.Revision    `json:"revisions,omitempty"`
	Report    *vault.Report       `json:"report,omitempty"`
	Status    *Status             `json:"status,omitempty"`
	Sync      *syncclient.Report  `json:"sync,omitempty"`
	Folder    *vault.FolderReport `json:"folder,omitempty"`
	Err       *wireError          `json:"error,omitempty"`
	// Listing is the length of the listing that follows the JSON
	// response (and its newline) on the connection (opSummaries).
	Listing int `json:"listing,omitempty"`
	// Candidates answer opMatch and opMatchSearch; More says that a
	// search found more than it sent.
	Candidates []wireCandidate `json:"candidates,omitempty"`
	More       bool            `json:"more,omitempty"`

	listing string // the listing itself, not part of the JSON
}

// Error kinds map to the vault's sentinel errors so that a command gets the
// same error (and exit code) with or without an agent.
var errKinds = []struct {
	kind string
	err  error
}{
	{"not_found", vault.ErrNotFound},
	{"ambiguous", vault.ErrAmbiguous},
	{"conflict", vault.ErrConflict},
	{"damaged", vault.ErrDamaged},
	{"invalid", item.ErrInvalid},
	{"rotated", vault.ErrRotated},
	{"login_needed", syncclient.ErrLoginNeeded},
	{"revoked", syncclient.ErrRevoked},
	{"disabled", syncclient.ErrDisabled},
	{"not_enabled", syncclient.ErrNotEnabled},
	{"server_mismatch", vault.ErrServerMismatch},
	{"server_rollback", vault.ErrServerRollback},
	{"old_envelope", vault.ErrOldEnvelope},
	{"folder_not_enabled", vault.ErrFolderNotEnabled},
	{"folder_account", vault.ErrFolderAccount},
	{"folder_waiting", vault.ErrFolderWaiting},
}

func encodeErr(err error) *wireError {
	if err == nil {
		return nil
	}
	w := &wireError{Kind: "other", Message: err.Error()}
	var ae *vault.AmbiguousError
	if errors.As(err, &ae) {
		w.IDs = ae.IDs
	}
	var nf *origin.NotFillableError
	if errors.As(err, &nf) {
		return &wireError{Kind: "not_fillable", Message: nf.Reason}
	}
	for _, k := range errKinds {
		if errors.Is(err, k.err) {
			w.Kind = k.kind
			break
		}
	}
	return w
}

// remoteError is an error returned by the agent. It unwraps to the
// matching sentinel.
type remoteError struct {
	msg  string
	kind error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.kind }

func decodeErr(w *wireError) error {
	if w == nil {
		return nil
	}
	if w.Kind == "not_fillable" {
		return &origin.NotFillableError{Reason: w.Message}
	}
	if w.Kind == "ambiguous" {
		ae := &vault.AmbiguousError{IDs: w.IDs}
		return &remoteError{msg: w.Message, kind: ae}
	}
	for _, k := range errKinds {
		if k.kind == w.Kind {
			return &remoteError{msg: w.Message, kind: k.err}
		}
	}
	return errors.New(w.Message)
}
