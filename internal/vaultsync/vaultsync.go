// Package vaultsync holds what a local vault and a sync client exchange:
// revisions pulled and pushed, the report of a pull, a key rotation as a
// server applies it and as another device follows it, a new device's
// download, and the errors that blame the server. It is part of the core
// every client shares (it builds for js/wasm): the sync client works
// with these types and never with the vault's storage.
package vaultsync

import (
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/merge"
)

// ItemID names an item. It is public: stored in the clear as the row key.
type ItemID [16]byte

func (id ItemID) String() string { return uuid.UUID(id).String() }

// Errors of server sync a user must hear about.
var (
	// ErrServerMismatch means the server's items do not match the manifest
	// a device signed: it dropped, swapped, replayed or rolled back items.
	ErrServerMismatch = errors.New("the server's copy of the vault does not match what your devices signed: it dropped, swapped or rolled back items")
	// ErrServerRollback means the server's sequence went backwards: it was
	// restored from an older copy.
	ErrServerRollback = errors.New("the server has gone back in time (its data was restored from an older copy)")
	// ErrNotSynced means the operation needs every local change pushed first.
	ErrNotSynced = errors.New("this device has changes the server has not seen; run keyhold sync first")
)

// SyncState is how far this device has synced.
type SyncState struct {
	Cursor   uint64 // server sequence pulled to
	Verified uint64 // newest server sequence whose manifest verified
}

// OutRev is one revision to push.
type OutRev struct {
	Rev uint64
	Box []byte
}

// Outgoing is one item's revisions the server has not seen, made on top
// of BaseRev.
type Outgoing struct {
	ID      ItemID
	BaseRev uint64
	Revs    []OutRev
}

// Last is the revision the item will have on the server after the push.
func (o *Outgoing) Last() uint64 { return o.Revs[len(o.Revs)-1].Rev }

// Pushed is an item the server accepted, at revision Rev.
type Pushed struct {
	ID  ItemID
	Rev uint64
}

// Incoming is one revision pulled from the server.
type Incoming struct {
	ID  ItemID
	Rev uint64
	Box []byte
}

// MergeConflict reports an item edited on this device and another one,
// where both changed the same fields. Both versions are in its history.
type MergeConflict struct {
	ID     ItemID
	Title  string
	Fields []merge.Conflict
}

// ApplyReport says what a pull changed.
type ApplyReport struct {
	Added     int // new items
	Updated   int // items that moved forward
	Merged    int // items edited here and elsewhere, merged field by field
	Conflicts []MergeConflict
}

// RotatedKeys is what the server keeps after a key rotation made on
// another device.
type RotatedKeys struct {
	KeyVersion uint32
	Envelope   []byte
	KeyCheck   []byte
	Transition []byte
}

// Rotation is a key rotation as a sync server must apply it.
type Rotation struct {
	KeyVersion uint32
	Envelope   []byte
	KeyCheck   []byte
	// Transition seals the new Secret Key and account key under the
	// previous account key (SPEC §14).
	Transition []byte
	Login      *keys.Key32
	// AccountKey is the new account key, for a publisher that must seal
	// with it (folder sync). The publisher must not keep it.
	AccountKey *keys.AccountKey
	// Items holds every revision of every item, re-encrypted, oldest
	// first; revisions are 1, 2, … for each item.
	Items []Outgoing
	// Manifest returns the server manifest of the rotated state at
	// sequence seq.
	Manifest func(seq uint64) []byte
	// Head is set by the publisher: the server's head after the rotation.
	Head uint64
}

// Join is a new device's copy of an account fetched from a sync server:
// the envelope and key check, the account key already unwrapped with the
// password and the kit's Secret Key, and every revision the server holds.
type Join struct {
	AccountID  keys.AccountID
	SecretKey  *keys.SecretKey
	AccountKey *keys.AccountKey
	Envelope   []byte
	KeyCheck   []byte
	Email      string
	Server     string // the sync location written to the device file
	Revisions  []Incoming
	Head       uint64
	// Manifest, if not nil, is the server's manifest for Head; the
	// download must match it.
	Manifest []byte
	// Opened, if not nil, holds item revisions of Revisions that were
	// opened already with AccountKey as they arrived (DownloadCheck's
	// KeepOpened): joining takes what such a revision opened to rather
	// than opening the same box again, when id, revision and box bytes
	// are the same.
	Opened map[ItemID]Opened
}

// ErrOldEnvelope means a server or sync folder handed this device an
// account key envelope whose password epoch is lower than one the device
// already adopted: a replay of an older password. Match it with
// errors.Is; the error itself is an *OldEnvelopeError.
var ErrOldEnvelope = errors.New("account key envelope older than one this device already adopted")

// OldEnvelopeError is ErrOldEnvelope with the epochs and who sent it.
type OldEnvelopeError struct {
	From    string // "the server", "the sync folder"
	Epoch   uint32 // the envelope's
	Adopted uint32 // the highest this device adopted
	// Same is set when the envelope is another one of the same epoch
	// as the one this device holds: the server stores an envelope only
	// when its epoch rises, so it never honestly holds two of one epoch.
	Same bool
}

func (e *OldEnvelopeError) Error() string {
	if e.Same {
		return fmt.Sprintf("%s sent an account key envelope that differs from the one this device holds at the same password epoch (%d): a server never keeps two of one epoch, so it was forged or altered; nothing was changed",
			e.From, e.Epoch)
	}
	return fmt.Sprintf("%s sent an account key envelope older than one this device already adopted (epoch %d < %d): it may be replaying an old password; nothing was changed",
		e.From, e.Epoch, e.Adopted)
}

// Is makes errors.Is(err, ErrOldEnvelope) hold.
func (e *OldEnvelopeError) Is(target error) bool { return target == ErrOldEnvelope }

// Created is what Create returns: the new account's public id and the
// Secret Key the user must keep (it goes into the recovery kit).
type Created struct {
	AccountID keys.AccountID
	SecretKey *keys.SecretKey
	// Login is the login key derived with the new envelope (SPEC §3), for
	// registering with a sync server without a second derivation. The
	// caller wipes it.
	Login *keys.Key32
}
