// Package store keeps everything keyhold-server knows, in SQLite (the
// embedded default) or PostgreSQL, behind one interface that one test suite
// checks against both. It holds no plaintext: item boxes, envelopes, key
// checks and manifests are opaque bytes sealed by clients.
//
// Every method is safe to call from several server processes sharing one
// PostgreSQL database: state that matters (pending logins, throttles,
// sessions, sequences) lives in the database, never only in memory.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors a Store returns; callers test them with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrStale    = errors.New("stale: the account changed since the given cursor or key version")
	ErrRevoked  = errors.New("device revoked")
	// ErrOldEpoch refuses a password change or key rotation whose
	// envelope's password epoch is not above the envelope the account
	// holds when the write takes place (SPEC §6): the server's envelope
	// only ever rises, even when two changes race.
	ErrOldEpoch = errors.New("the envelope's password epoch is not above the account's")
)

// ID is a 16-byte identifier (account, device, item, pending login).
type ID [16]byte

// Plan names.
const (
	PlanFree    = "free"
	PlanTrial   = "trial"
	PlanPremium = "premium"
	PlanOther   = "other"
)

// Plan is what an operator sets with `keyhold-server admin plan set`.
// Dates are calendar dates (UTC midnight); a zero time means unset.
type Plan struct {
	Name        string
	TrialEnds   time.Time
	PaymentDate time.Time
	PaidUntil   time.Time
	Label       string
}

// Account is one account's row.
type Account struct {
	ID         ID
	Email      string
	Plan       Plan
	Created    time.Time
	Disabled   bool
	KeyVersion uint32
	Head       uint64 // the account's change sequence
}

// Keys are the account's sealed key material and PAKE record.
type Keys struct {
	Envelope   []byte
	KeyCheck   []byte
	KeyVersion uint32
	Record     []byte // the PAKE registration record
	Transition []byte // after a rotation; nil before the first
}

// Device is one device of an account.
type Device struct {
	ID        ID
	AccountID ID
	Name      string
	Platform  string
	Added     time.Time
	LastSeen  time.Time
	Revoked   time.Time // zero if active
}

// Session is a login session. Only the SHA-256 of the token is stored.
type Session struct {
	TokenHash [32]byte
	AccountID ID
	DeviceID  ID
	Created   time.Time
	Expires   time.Time
	// ReauthUntil is the end of the session's fresh proof of the login
	// key (zero: none): until then it may make one account change.
	ReauthUntil time.Time
	// Narrowed means another device rotated the account key: the session
	// may only fetch what following the rotation needs.
	Narrowed bool
}

// LoginState is a pending login between its two messages, so that the
// second may reach another replica. It is taken (read and deleted) once.
type LoginState struct {
	ID        ID
	AccountID ID
	Known     bool // false for an unknown account (a fake record was used)
	Device    Device
	State     []byte // the PAKE server state
	Expires   time.Time
}

// Event is one audit log entry.
type Event struct {
	Time     time.Time
	Kind     string
	DeviceID ID // zero if none
	Source   string
	Detail   string
}

// Revision is one sealed revision of one item.
type Revision struct {
	ItemID  ID
	Rev     uint64
	Seq     uint64 // assigned by the store
	Box     []byte
	Deleted bool
}

// PushItem is the new revisions of one item made on top of BaseRev.
type PushItem struct {
	ItemID  ID
	BaseRev uint64
	Revs    []Revision // Rev = BaseRev+1, BaseRev+2, …
}

// Accepted and Rejected report a push item by item.
type Accepted struct {
	ItemID ID
	Rev    uint64
	Seq    uint64
}

type Rejected struct {
	ItemID     ID
	CurrentRev uint64
}

// PushResult is the outcome of Push.
type PushResult struct {
	Head           uint64
	Accepted       []Accepted
	Rejected       []Rejected
	ManifestStored bool
}

// Manifest is the latest manifest a device stored, and the head it describes.
type Manifest struct {
	Seq  uint64
	Blob []byte
}

// SyncSettings are the account's sync method and settings (Secret sealed by
// the client).
type SyncSettings struct {
	Method   string
	Settings map[string]string
	Secret   []byte
	Updated  time.Time
}

// Store is the server's database.
type Store interface {
	// Dialect is "sqlite" or "postgres".
	Dialect() string
	Ping(ctx context.Context) error
	Close() error

	// Secret returns the server secret called name, creating it with gen
	// in one transaction if it does not exist yet, so that every replica
	// gets the same value (PAKE server keys, the mail ticket key).
	// With gen nil a missing secret gives ErrNotFound and nothing is
	// created.
	Secret(ctx context.Context, name string, gen func() ([]byte, error)) ([]byte, error)
	// DeleteSecret removes the server secret called name (nothing if it
	// does not exist): for secrets moved to a file of their own.
	DeleteSecret(ctx context.Context, name string) error

	// CreateAccount stores a new account with its keys and first device
	// (ErrExists if the id is taken) and records EventAccountCreated and
	// EventDeviceAdded.
	CreateAccount(ctx context.Context, a *Account, k *Keys, d *Device) error
	Account(ctx context.Context, id ID) (*Account, error)
	ListAccounts(ctx context.Context) ([]*Account, error)
	SetPlan(ctx context.Context, id ID, p Plan) error
	SetDisabled(ctx context.Context, id ID, disabled bool) error
	// CountItems counts the account's current (non-deleted) items.
	CountItems(ctx context.Context, id ID) (int, error)

	Keys(ctx context.Context, id ID) (*Keys, error)
	// SetPassword replaces envelope and record if keyVersion is current
	// (else ErrStale) and logs EventPasswordChanged.
	SetPassword(ctx context.Context, id ID, keyVersion uint32, envelope, record []byte, dev ID) error
	// Rotate replaces keys, every revision and the manifest in one
	// transaction if cursor is the head (else ErrStale). The new revisions
	// get fresh sequence numbers, so head moves past every old one. Logs
	// EventKeyRotated.
	Rotate(ctx context.Context, id ID, cursor uint64, k *Keys, items []PushItem, manifest []byte, dev ID) (head uint64, err error)

	// PutDevice adds the device, or updates its name, platform and
	// last-seen time; added reports a new device. A revoked device gives
	// ErrRevoked. maxDevices > 0 refuses a new device beyond that many
	// active ones with ErrPlanLimit.
	PutDevice(ctx context.Context, d *Device, maxDevices int) (added bool, err error)
	Devices(ctx context.Context, account ID) ([]*Device, error)
	// RevokeDevice marks the device revoked and deletes its sessions in
	// the same transaction.
	RevokeDevice(ctx context.Context, account, device ID) error
	TouchDevice(ctx context.Context, account, device ID, t time.Time) error

	CreateSession(ctx context.Context, s *Session) error
	// Session returns an unexpired session whose device is not revoked,
	// else ErrNotFound.
	Session(ctx context.Context, tokenHash [32]byte, now time.Time) (*Session, error)
	DeleteSession(ctx context.Context, tokenHash [32]byte) error
	// SetReauth records a fresh proof of the login key on the session,
	// good until until (ErrNotFound if there is no such session).
	SetReauth(ctx context.Context, tokenHash [32]byte, until time.Time) error
	// TakeReauth uses up the session's fresh proof: it succeeds once per
	// proof, and gives ErrNotFound if there is none or it ended by now.
	TakeReauth(ctx context.Context, tokenHash [32]byte, now time.Time) error
	// EndOtherSessions deletes every session of the account but keep's,
	// and announces the account's head again to its subscribers (on
	// every replica), so that their streams re-check their sessions.
	EndOtherSessions(ctx context.Context, account ID, keep [32]byte) error
	// NarrowOtherSessions narrows every session of the account but
	// keep's (Session.Narrowed) and clears their fresh proofs.
	NarrowOtherSessions(ctx context.Context, account ID, keep [32]byte) error

	PutLoginState(ctx context.Context, l *LoginState) error
	// TakeLoginState returns and deletes the pending login, so it can be
	// finished once; an expired or unknown one gives ErrNotFound.
	TakeLoginState(ctx context.Context, id ID, now time.Time) (*LoginState, error)

	// Failures returns the number of recent failures recorded under key
	// and the time before which no attempt is allowed.
	Failures(ctx context.Context, key string) (count int, until time.Time, err error)
	// RecordFailure increments key's count and sets its lock-out time.
	RecordFailure(ctx context.Context, key string, until time.Time) (count int, err error)
	ClearFailures(ctx context.Context, key string) error
	// ExpireFailures deletes every count whose lock-out ended before
	// before, and returns how many it deleted. The server calls it now
	// and then, so that keys an attacker makes up (random addresses,
	// random account ids) do not pile up in the table.
	ExpireFailures(ctx context.Context, before time.Time) (int64, error)

	AddEvent(ctx context.Context, account ID, e *Event) error
	// Events returns the newest limit events, newest first.
	Events(ctx context.Context, account ID, limit int) ([]*Event, error)

	// Changes returns revisions with seq > since, in seq order, at most
	// limit, the head, and the latest manifest.
	Changes(ctx context.Context, account ID, since uint64, limit int) (revs []Revision, head uint64, m *Manifest, err error)
	// Push stores each item whose BaseRev is the current revision (0 for
	// new) in one transaction, giving each revision the next sequence
	// number, and refuses the others item by item. The manifest is stored
	// (as describing the new head) only if nothing was refused and cursor
	// was the head. A successful push notifies subscribers.
	Push(ctx context.Context, account ID, cursor uint64, items []PushItem, manifest []byte) (*PushResult, error)

	SyncSettings(ctx context.Context, account ID) (*SyncSettings, error)
	PutSyncSettings(ctx context.Context, account ID, s *SyncSettings) error

	// Subscribe delivers the account's new head after every change, from
	// any replica (PostgreSQL LISTEN/NOTIFY; in-process for SQLite). The
	// channel is closed when ctx ends. Slow readers miss intermediate
	// values, never the latest.
	Subscribe(ctx context.Context, account ID) (<-chan uint64, error)

	// Backup writes an online, consistent copy to path (SQLite: VACUUM
	// INTO; PostgreSQL: pg_dump in one snapshot).
	Backup(ctx context.Context, path string) error
}

// ErrPlanLimit means the plan does not allow another device.
var ErrPlanLimit = errors.New("the plan's device limit is reached")
