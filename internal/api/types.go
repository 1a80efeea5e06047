// Package api defines the keyhold-server wire protocol: the JSON bodies of
// every /v1/ endpoint (docs/API.md), their size limits and their strict
// decoders. The server and the typed client both use these types, so the two
// cannot drift apart.
//
// Nothing here ever holds plaintext: item boxes, envelopes, key checks and
// manifests are opaque bytes sealed by the client (docs/SPEC.md). []byte
// fields travel as standard base64 (encoding/json's default).
package api

import "time"

// Version is the protocol version in every path (/v1/...).
const Version = "v1"

// Limits on request bodies. The server refuses a larger body with 413
// before reading it; decoders refuse anything longer too.
const (
	MaxBody       = 1 << 20   // ordinary requests
	MaxPushBody   = 64 << 20  // POST /v1/sync/push
	MaxRotateBody = 512 << 20 // POST /v1/account/rotate: every revision, re-encrypted
	MaxBox        = 1<<20 + 1024
	MaxPushItems  = 1000 // items in one push; more are sent in several pushes
	MaxPageSize   = 1000 // revisions in one page of changes
	MaxNameLen    = 200  // device name, platform
	MaxEmailLen   = 254
)

// DeviceInfo names the device a request comes from. The id is chosen by the
// device (a UUID) and kept in its vault directory.
type DeviceInfo struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Platform string `json:"platform"`
}

// RegisterStartRequest begins a PAKE registration (account creation and
// password change). Request is the client's first registration message.
type RegisterStartRequest struct {
	AccountID string `json:"account_id"`
	Request   []byte `json:"request"`
}

// RegisterStartResponse carries the server's registration response.
type RegisterStartResponse struct {
	Response []byte `json:"response"`
}

// CreateAccountRequest creates an account. Record is the final PAKE
// registration record; Envelope and KeyCheck are the sealed account key and
// its key check (SPEC §6, §8), safe on the server because of the Secret Key.
type CreateAccountRequest struct {
	AccountID    string        `json:"account_id"`
	Email        string        `json:"email,omitempty"`
	Record       []byte        `json:"record"`
	Envelope     []byte        `json:"envelope"`
	KeyCheck     []byte        `json:"keycheck"`
	KeyVersion   uint32        `json:"key_version"`
	Device       DeviceInfo    `json:"device"`
	SyncSettings *SyncSettings `json:"sync_settings,omitempty"`
}

// LoginStartRequest is the first login message (OPAQUE KE1).
type LoginStartRequest struct {
	AccountID string     `json:"account_id"`
	Device    DeviceInfo `json:"device"`
	Message   []byte     `json:"message"`
}

// LoginStartResponse carries KE2 and the id of the pending login, which may
// be finished on any replica. An unknown account gets the same shape.
type LoginStartResponse struct {
	LoginID string `json:"login_id"`
	Message []byte `json:"message"`
}

// LoginFinishRequest is the last login message (OPAQUE KE3). A pending
// login can be finished once.
//
// With Reauth and the session's bearer token, the login is a fresh proof
// of the login key for that session (docs/LOGIN.md "Fresh proof"): no new
// session is opened; the session may make one account change (password,
// key rotation, login record) until ReauthUntil.
type LoginFinishRequest struct {
	LoginID string `json:"login_id"`
	Message []byte `json:"message"`
	Reauth  bool   `json:"reauth,omitempty"`
}

// LoginFinishResponse returns the session token. The token is a secret:
// the server keeps only its SHA-256.
// A reauth login returns no token, only ReauthUntil.
type LoginFinishResponse struct {
	Token       string    `json:"token"`
	Expires     time.Time `json:"expires"`
	DeviceID    string    `json:"device_id"`
	ReauthUntil time.Time `json:"reauth_until,omitzero"`
}

// Plan is an account's plan as the server enforces it.
type Plan struct {
	// Name is free, trial, premium or other.
	Name string `json:"name"`
	// Effective is the plan in force now: a trial past its end is "free".
	Effective   string `json:"effective"`
	TrialEnds   string `json:"trial_ends,omitempty"`   // YYYY-MM-DD
	PaymentDate string `json:"payment_date,omitempty"` // YYYY-MM-DD, the licence payment date
	PaidUntil   string `json:"paid_until,omitempty"`   // YYYY-MM-DD
	Label       string `json:"label,omitempty"`        // for "other"
	MaxDevices  int    `json:"max_devices,omitempty"`  // 0: no limit
}

// Account is GET /v1/account.
type Account struct {
	AccountID    string        `json:"account_id"`
	Email        string        `json:"email,omitempty"`
	Plan         Plan          `json:"plan"`
	Created      time.Time     `json:"created"`
	KeyVersion   uint32        `json:"key_version"`
	Devices      int           `json:"devices"`
	Items        int           `json:"items"`
	Head         uint64        `json:"head"`
	SyncSettings *SyncSettings `json:"sync_settings,omitempty"`
	MailerURL    string        `json:"mailer_url,omitempty"`
}

// Keys is GET /v1/account/keys: what a new device needs, with the password
// and the Secret Key, to unwrap the account key. Transition is present after
// a key rotation (SPEC §14): the new Secret Key and account key sealed under
// the previous account key, so a device that missed the rotation can follow.
type Keys struct {
	Envelope   []byte `json:"envelope"`
	KeyCheck   []byte `json:"keycheck"`
	KeyVersion uint32 `json:"key_version"`
	Transition []byte `json:"transition,omitempty"`
}

// PasswordRequest replaces the envelope and PAKE record after a password
// change (PUT /v1/account/password). KeyVersion must be the current one.
type PasswordRequest struct {
	KeyVersion uint32 `json:"key_version"`
	Envelope   []byte `json:"envelope"`
	Record     []byte `json:"record"`
}

// RotateRequest replaces every revision, the envelope, key check, PAKE
// record and manifest in one transaction (POST /v1/account/rotate). It is
// refused with 409 unless Cursor is the account's head.
type RotateRequest struct {
	Cursor     uint64     `json:"cursor"`
	KeyVersion uint32     `json:"key_version"` // the new one: current + 1
	Envelope   []byte     `json:"envelope"`
	KeyCheck   []byte     `json:"keycheck"`
	Record     []byte     `json:"record"`
	Transition []byte     `json:"transition"`
	Items      []PushItem `json:"items"` // base_rev 0; every revision of every item
	Manifest   []byte     `json:"manifest"`
}

// SyncSettings tells a new device where the vault lives. Secret, if any, is
// sealed by the client with the account key; the server never reads it.
type SyncSettings struct {
	Method   string            `json:"method"` // "server", "folder", "none"
	Settings map[string]string `json:"settings,omitempty"`
	Secret   []byte            `json:"secret,omitempty"`
}

// Device is one entry of GET /v1/devices.
type Device struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Platform string     `json:"platform"`
	Added    time.Time  `json:"added"`
	LastSeen time.Time  `json:"last_seen"`
	Revoked  *time.Time `json:"revoked,omitempty"`
	Current  bool       `json:"current,omitempty"`
}

// Event is one entry of the audit log (GET /v1/account/log).
type Event struct {
	Time     time.Time `json:"time"`
	Kind     string    `json:"kind"`
	DeviceID string    `json:"device_id,omitempty"`
	Source   string    `json:"source,omitempty"`
	Detail   string    `json:"detail,omitempty"`
}

// Audit event kinds.
const (
	EventAccountCreated  = "account_created"
	EventLogin           = "login"
	EventLoginFailed     = "login_failed"
	EventLoginThrottled  = "login_throttled"
	EventReauth          = "reauth" // a fresh proof of the login key for an account change
	EventDeviceAdded     = "device_added"
	EventDeviceRevoked   = "device_revoked"
	EventPasswordChanged = "password_changed"
	EventKeyRotated      = "key_rotated"
	EventKitEmailed      = "kit_email_requested"
	EventPlanChanged     = "plan_changed"
	EventDisabled        = "account_disabled"
	EventEnabled         = "account_enabled"
)

// Revision is one sealed revision of one item as the server keeps it.
// Deleted marks a tombstone (no box).
type Revision struct {
	Rev     uint64 `json:"rev"`
	Box     []byte `json:"box,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
}

// Change is one revision in the change feed, with the sequence number the
// server gave it.
type Change struct {
	ItemID  string `json:"item_id"`
	Seq     uint64 `json:"seq"`
	Rev     uint64 `json:"rev"`
	Box     []byte `json:"box,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
}

// ChangesResponse is GET /v1/sync/changes?since=SEQ&limit=N: revisions with
// seq > since in seq order. Head is the account's sequence now; More says
// another page follows. Manifest is the latest manifest any device stored
// and ManifestSeq the head it describes (0 if none).
type ChangesResponse struct {
	Changes     []Change `json:"changes"`
	Head        uint64   `json:"head"`
	More        bool     `json:"more"`
	KeyVersion  uint32   `json:"key_version"`
	Manifest    []byte   `json:"manifest,omitempty"`
	ManifestSeq uint64   `json:"manifest_seq"`
}

// PushItem is the new revisions of one item, made on top of BaseRev (the
// server revision the device last saw; 0 for a new item). Revs must be
// BaseRev+1, BaseRev+2, … in order.
type PushItem struct {
	ItemID  string     `json:"item_id"`
	BaseRev uint64     `json:"base_rev"`
	Revs    []Revision `json:"revs"`
}

// PushRequest is POST /v1/sync/push. Cursor is the head the device had
// pulled to. Manifest, if given, describes the account after this push; the
// server stores it only if nothing was refused and Cursor was the head.
type PushRequest struct {
	Cursor uint64 `json:"cursor"`
	// KeyVersion is the key version the boxes are sealed under; a push
	// under an older one (a device that missed a rotation) is refused
	// with 409 stale. 0: not checked.
	KeyVersion uint32     `json:"key_version,omitempty"`
	Items      []PushItem `json:"items"`
	Manifest   []byte     `json:"manifest,omitempty"`
}

// Accepted is one item whose revisions were stored.
type Accepted struct {
	ItemID string `json:"item_id"`
	Rev    uint64 `json:"rev"` // the item's revision now
	Seq    uint64 `json:"seq"` // the seq of its last revision
}

// Rejected is one item refused because BaseRev is not the server's current
// revision: another device changed it first. The device pulls and merges.
type Rejected struct {
	ItemID     string `json:"item_id"`
	CurrentRev uint64 `json:"current_rev"`
}

// PushResponse is the outcome of a push, item by item.
type PushResponse struct {
	Head           uint64     `json:"head"`
	Accepted       []Accepted `json:"accepted"`
	Rejected       []Rejected `json:"rejected"`
	ManifestStored bool       `json:"manifest_stored"`
}

// HeadEvent is the data of a "head" server-sent event on
// GET /v1/sync/events: the account's sequence moved to Head.
type HeadEvent struct {
	Head       uint64 `json:"head"`
	KeyVersion uint32 `json:"key_version"`
}

// Error is the body of every 4xx and 5xx answer.
type Error struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody says what went wrong, in words for the user, with a stable code
// for programs.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// RetryAfter is set with code "throttled", in seconds.
	RetryAfter int `json:"retry_after,omitempty"`
}

// Error codes.
const (
	CodeBadRequest   = "bad_request"
	CodeTooLarge     = "too_large"
	CodeUnauthorized = "unauthorized"   // no, expired or revoked session
	CodeLoginFailed  = "login_failed"   // wrong login key, or unknown account
	CodeThrottled    = "throttled"      // too many failed logins
	CodeRevoked      = "device_revoked" // this device was revoked
	CodeDisabled     = "account_disabled"
	CodeExists       = "account_exists"
	CodeNotFound     = "not_found"
	CodeStale        = "stale"      // cursor or key version is behind: pull first
	CodePlanLimit    = "plan_limit" // e.g. too many devices for the plan
	CodeInternal     = "internal"
	// CodeReauth: an account change needs a fresh proof of the password.
	CodeReauth = "reauth_required"
)

// LoginParamsRequest asks, before login, for what a device needs to derive
// the login key: the envelope's header (SPEC §6 bytes 0..67: account id,
// key version, KDF parameters, salt, Secret Key check). POST
// /v1/login/params, unauthenticated. An unknown account gets a header of
// the same shape whose salt and check are derived from a server secret, so
// the answer does not say whether the account exists.
type LoginParamsRequest struct {
	AccountID string `json:"account_id"`
}

// LoginParamsResponse carries the envelope header.
type LoginParamsResponse struct {
	Header []byte `json:"header"`
}

// The length of LoginParamsResponse.Header: the header of an envelope of
// the current version (SPEC §6, bytes 0..71, with the password epoch), or
// of the previous version (bytes 0..67, no epoch) for an account whose
// password has not changed since.
const (
	EnvelopeHeaderSize   = 71
	EnvelopeHeaderSizeV1 = 67
)
