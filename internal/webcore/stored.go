package webcore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/syncclient"
)

// What a remembered browser keeps (docs/WEB.md, "What the browser
// stores"): two records under these names in keyholdHost.store, which
// encrypts every value with AES-GCM under a non-extractable WebCrypto
// key. This package parses them as untrusted input all the same: a
// damaged record is refused with ErrDamagedStore, never half read.
const (
	// RecordDevice holds the device's settings and keys (deviceRecord).
	RecordDevice = "device"
	// RecordVault holds the sealed vault: vaultMagic, then the in-memory
	// store's snapshot.
	RecordVault = "vault"
)

const (
	deviceFormat  = "keyhold-web-device"
	deviceVersion = 1
	// maxDeviceRecord bounds the device record: a few kilobytes honestly.
	maxDeviceRecord = 64 << 10
)

// vaultMagic starts the vault record: "KHWV", a version byte, a newline.
var vaultMagic = []byte("KHWV\x01\n")

// ErrDamagedStore means what the browser stored does not parse. The
// page's answer is to sign in again, which downloads the vault anew.
var ErrDamagedStore = errors.New("what this browser stored is damaged; sign in again with your recovery kit")

// deviceRecord is the device record, JSON (bytes as base64).
type deviceRecord struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Email   string `json:"email,omitempty"`
	// Sync is the device's server settings and session token, as the
	// command line keeps them in sync.json.
	Sync      *syncclient.Config `json:"sync"`
	AccountID string             `json:"account_id"`
	SecretKey []byte             `json:"secret_key"` // 16 bytes
	Envelope  []byte             `json:"envelope"`   // the working envelope (SPEC §6)
	// Pending is a newer envelope of the same key version the server
	// sent (a password change elsewhere), kept until a password opens
	// it (docs/SYNC.md).
	Pending    []byte         `json:"pending_envelope,omitempty"`
	KeyCheck   []byte         `json:"key_check"`
	KeyVersion uint32         `json:"key_version"`
	KDFFloor   keys.KDFParams `json:"kdf_floor"`
}

func (d *deviceRecord) marshal() ([]byte, error) {
	d.Format, d.Version = deviceFormat, deviceVersion
	return json.Marshal(d)
}

func (d *deviceRecord) wipe() {
	if d != nil {
		clear(d.SecretKey)
	}
}

// parseDevice decodes and checks a device record.
func parseDevice(b []byte) (*deviceRecord, error) {
	if len(b) > maxDeviceRecord {
		return nil, fmt.Errorf("%w (the device record is %d bytes)", ErrDamagedStore, len(b))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var d deviceRecord
	if err := dec.Decode(&d); err != nil || dec.More() {
		return nil, fmt.Errorf("%w (the device record does not decode)", ErrDamagedStore)
	}
	bad := func(what string) (*deviceRecord, error) {
		d.wipe()
		return nil, fmt.Errorf("%w (the device record's %s)", ErrDamagedStore, what)
	}
	if d.Format != deviceFormat {
		return bad("format")
	}
	if d.Version != deviceVersion {
		return bad(fmt.Sprintf("version %d", d.Version))
	}
	id, err := uuid.Parse(d.AccountID)
	if err != nil {
		return bad("account id")
	}
	if len(d.SecretKey) != len(keys.SecretKey{}) {
		return bad("Secret Key")
	}
	if d.Sync == nil {
		return bad("sync settings")
	}
	cb, err := json.Marshal(d.Sync)
	if err != nil {
		return bad("sync settings")
	}
	if _, err := syncclient.ParseConfig(cb); err != nil {
		return bad("sync settings")
	}
	env, err := format.ParseEnvelope(d.Envelope)
	if err != nil || env.AccountID != keys.AccountID(id) || env.KeyVersion != d.KeyVersion {
		return bad("envelope")
	}
	if d.Pending != nil {
		p, err := format.ParseEnvelope(d.Pending)
		if err != nil || p.AccountID != env.AccountID || p.KeyVersion != env.KeyVersion {
			return bad("pending envelope")
		}
	}
	if _, err := format.ParseKeyCheck(d.KeyCheck); err != nil {
		return bad("key check")
	}
	if d.KDFFloor.Check() != nil {
		return bad("key derivation floor")
	}
	return &d, nil
}

func (d *deviceRecord) accountID() keys.AccountID {
	return keys.AccountID(uuid.MustParse(d.AccountID))
}

func (d *deviceRecord) secretKey() *keys.SecretKey {
	sk := new(keys.SecretKey)
	copy(sk[:], d.SecretKey)
	return sk
}

func (d *deviceRecord) envelope() *format.Envelope {
	e, err := format.ParseEnvelope(d.Envelope)
	if err != nil {
		panic("webcore: a checked device record's envelope does not parse")
	}
	return e
}

// vaultRecord wraps a store snapshot for storing.
func vaultRecord(snapshot []byte) []byte {
	return append(append(make([]byte, 0, len(vaultMagic)+len(snapshot)), vaultMagic...), snapshot...)
}

// parseVaultRecord returns the store snapshot a vault record holds.
func parseVaultRecord(b []byte) ([]byte, error) {
	if !bytes.HasPrefix(b, vaultMagic) {
		if len(b) > 4 && string(b[:4]) == "KHWV" {
			return nil, fmt.Errorf("%w (a vault record of version %d, made by a newer web vault)", ErrDamagedStore, b[4])
		}
		return nil, fmt.Errorf("%w (the vault record)", ErrDamagedStore)
	}
	return b[len(vaultMagic):], nil
}
