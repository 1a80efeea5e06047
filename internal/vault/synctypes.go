package vault

import (
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/vaultsync"
)

// What the vault and a sync client exchange lives in package vaultsync,
// which clients without this package's storage share; the vault's API
// names those types through these aliases.
type (
	ItemID           = vaultsync.ItemID
	SyncState        = vaultsync.SyncState
	OutRev           = vaultsync.OutRev
	Outgoing         = vaultsync.Outgoing
	Pushed           = vaultsync.Pushed
	Incoming         = vaultsync.Incoming
	MergeConflict    = vaultsync.MergeConflict
	ApplyReport      = vaultsync.ApplyReport
	RotatedKeys      = vaultsync.RotatedKeys
	Rotation         = vaultsync.Rotation
	Join             = vaultsync.Join
	OldEnvelopeError = vaultsync.OldEnvelopeError
	DownloadCheck    = vaultsync.DownloadCheck
	Created          = vaultsync.Created
)

// Errors of sync, shared with package vaultsync (errors.Is matches
// either name).
var (
	ErrServerMismatch   = vaultsync.ErrServerMismatch
	ErrServerRollback   = vaultsync.ErrServerRollback
	ErrNotSynced        = vaultsync.ErrNotSynced
	ErrOldEnvelope      = vaultsync.ErrOldEnvelope
	ErrDownloadTooLarge = vaultsync.ErrDownloadTooLarge
)

// MaxDownloadBytes is vaultsync.MaxDownloadBytes.
const MaxDownloadBytes = vaultsync.MaxDownloadBytes

// NewDownloadCheck is vaultsync.NewDownloadCheck.
func NewDownloadCheck(id keys.AccountID, ak *keys.AccountKey, kv uint32) *DownloadCheck {
	return vaultsync.NewDownloadCheck(id, ak, kv)
}
