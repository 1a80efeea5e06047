package webcore

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/syncclient"
)

// What a remembered browser keeps (docs/WEB.md, "What the browser
// stores"): records under these names in keyholdHost.store, which
// encrypts every value with AES-GCM under a non-extractable WebCrypto
// key. This package parses them as untrusted input all the same: a
// damaged record is refused with ErrDamagedStore, never half read.
const (
	// RecordDevice holds the device's settings and keys (deviceRecord).
	RecordDevice = "device"
	// RecordVault holds the sealed vault: vaultMagic, the record's
	// generation, then the in-memory store's snapshot. The change records
	// (RecordChange) of the same generation follow it.
	RecordVault = "vault"
)

// RecordChange names the i-th change record (from 1): the store's
// changes committed after the vault record of its generation was
// written, so that an edit stores a few kilobytes rather than the whole
// vault again.
func RecordChange(i int) string { return fmt.Sprintf("vault-change-%d", i) }

const (
	// maxChangeRecords is how many change records follow a vault record
	// at most: the next write stores a whole snapshot again (a new
	// generation), which keeps unlocking a matter of a few reads.
	maxChangeRecords = 32
	// maxChangeBytes bounds one change record: larger changes (a sync
	// that brought many items) are stored as a whole snapshot instead.
	maxChangeBytes = 1 << 20
)

const (
	deviceFormat  = "keyhold-web-device"
	deviceVersion = 1
	// maxDeviceRecord bounds the device record: a few kilobytes honestly.
	maxDeviceRecord = 64 << 10
)

// vaultMagic starts the vault record: "KHWV", a version byte, a newline.
// Version 1 had no generation and no change records; it is still read.
var (
	vaultMagic   = []byte("KHWV\x02\n")
	vaultMagicV1 = []byte("KHWV\x01\n")
	changeMagic  = []byte("KHWC\x01\n")
)

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
		d.wipe() // a Secret Key decoded before the error
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

// vaultRecord wraps a store snapshot of generation gen for storing.
func vaultRecord(gen uint64, snapshot []byte) []byte {
	b := make([]byte, 0, len(vaultMagic)+8+len(snapshot))
	b = append(b, vaultMagic...)
	b = binary.BigEndian.AppendUint64(b, gen)
	return append(b, snapshot...)
}

// parseVaultRecord returns the generation and the store snapshot a vault
// record holds; a version 1 record has generation 0, which no change
// record has.
func parseVaultRecord(b []byte) (gen uint64, snapshot []byte, err error) {
	switch {
	case bytes.HasPrefix(b, vaultMagicV1):
		return 0, b[len(vaultMagicV1):], nil
	case bytes.HasPrefix(b, vaultMagic) && len(b) >= len(vaultMagic)+8:
		gen = binary.BigEndian.Uint64(b[len(vaultMagic):])
		if gen == 0 {
			return 0, nil, fmt.Errorf("%w (the vault record has generation 0)", ErrDamagedStore)
		}
		return gen, b[len(vaultMagic)+8:], nil
	case len(b) > 4 && string(b[:4]) == "KHWV" && b[4] > vaultMagic[4]:
		return 0, nil, fmt.Errorf("%w (a vault record of version %d, made by a newer web vault)", ErrDamagedStore, b[4])
	}
	return 0, nil, fmt.Errorf("%w (the vault record)", ErrDamagedStore)
}

// changeRecord encodes the i-th change record of generation gen: the
// store's batches (memstore.Batch.MarshalBinary, each with its own
// checksum) in the order they were committed.
func changeRecord(gen uint64, i int, batches [][]byte) []byte {
	n := len(changeMagic) + 16
	for _, bt := range batches {
		n += 4 + len(bt)
	}
	b := make([]byte, 0, n)
	b = append(b, changeMagic...)
	b = binary.BigEndian.AppendUint64(b, gen)
	b = binary.BigEndian.AppendUint32(b, uint32(i))
	b = binary.BigEndian.AppendUint32(b, uint32(len(batches)))
	for _, bt := range batches {
		b = binary.BigEndian.AppendUint32(b, uint32(len(bt)))
		b = append(b, bt...)
	}
	return b
}

// parseChangeRecord returns a change record's generation, its number
// and its batches (not decoded: memstore.FromSnapshot checks them).
func parseChangeRecord(b []byte) (gen uint64, i int, batches [][]byte, err error) {
	bad := func(what string) (uint64, int, [][]byte, error) {
		return 0, 0, nil, fmt.Errorf("%w (a change record: %s)", ErrDamagedStore, what)
	}
	if !bytes.HasPrefix(b, changeMagic) {
		if len(b) > 4 && string(b[:4]) == "KHWC" {
			return bad(fmt.Sprintf("version %d, made by a newer web vault", b[4]))
		}
		return bad("not a change record")
	}
	b = b[len(changeMagic):]
	if len(b) < 16 {
		return bad("truncated")
	}
	gen, i = binary.BigEndian.Uint64(b), int(binary.BigEndian.Uint32(b[8:]))
	n := binary.BigEndian.Uint32(b[12:])
	b = b[16:]
	if gen == 0 || i < 1 || i > maxChangeRecords {
		return bad("generation or number out of range")
	}
	if uint64(n) > uint64(len(b))/4 {
		return bad("more batches than bytes")
	}
	batches = make([][]byte, 0, n)
	for range n {
		if len(b) < 4 {
			return bad("truncated")
		}
		l := binary.BigEndian.Uint32(b)
		b = b[4:]
		if uint64(l) > uint64(len(b)) {
			return bad("truncated")
		}
		batches = append(batches, b[:l:l])
		b = b[l:]
	}
	if len(b) != 0 {
		return bad("trailing bytes")
	}
	return gen, i, batches, nil
}

// newGeneration returns a random generation other than 0 and old: a
// change record left behind by an earlier generation (one whose removal
// did not happen, or a sign-in's before this one) is never taken for
// one of the new vault record.
func newGeneration(old uint64) uint64 {
	for {
		var b [8]byte
		rand.Read(b[:])
		if g := binary.BigEndian.Uint64(b[:]); g != 0 && g != old {
			return g
		}
	}
}
