// Package folder is the byte format, the reading and the replay of folder
// sync: devices that share a vault through a directory that a file-sync
// client (Dropbox, iCloud Drive, OneDrive, Google Drive, Syncthing) copies
// between them.
//
// Every device writes only files of its own, each once, under a new name,
// in a directory only it writes to. A file-sync client therefore never sees
// two devices change one file, which is what makes it produce "conflicted
// copies". Readers take every device's files, and replay every device's
// changes in one total order with the field-by-field merge of server sync,
// so that every device that holds the same files computes the same vault.
// docs/FOLDER.md explains the design; docs/SPEC.md §16 the bytes.
//
// Every file is authenticated with a key derived from the account key, and
// every item value is encrypted; file names carry only random device ids
// and counters.
package folder

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/keyhold/keyhold/internal/atomicfile"
	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
)

// Magic numbers of the three kinds of file.
const (
	LogMagic      = "KHFL" // a change log: one device's edits
	SnapshotMagic = "KHFS" // a snapshot: the whole replayed vault
	KeyFileMagic  = "KHFK" // the account key envelope, key check, transition
)

// Seal labels (SPEC §4) and the sub-key label (SPEC §5).
const (
	labelFolderKey = "keyhold v1 folder key"
	labelLog       = "keyhold v1 folder log"
	labelSnapshot  = "keyhold v1 folder snapshot"
	labelKeys      = "keyhold v1 folder keys"
)

// Limits on what a reader accepts, so that a hostile or damaged file
// cannot exhaust memory.
const (
	MaxLogSize      = 64 << 20
	MaxSnapshotSize = 1 << 30
	MaxKeyFileSize  = headerSize + format.EnvelopeSize + 117 + 1 + format.TransitionSize + keys.SealOverhead + 4 + maxPrevKeys*36
	maxPrevKeys     = 4096
	maxFrontier     = 1 << 16
	// MaxEntriesPerLog bounds the entries one log file holds; a device
	// with more edits writes several files.
	MaxEntriesPerLog = 1000
)

// Errors of the readers. A file that fails to parse or to open is skipped
// for this round (a sync client may still be copying it), never deleted.
var (
	ErrMalformed = errors.New("malformed folder file")
	ErrMisplaced = errors.New("the folder file does not belong where it is (moved, renamed or from another account)")
	ErrNoKey     = errors.New("no key for this file's key version")
)

// DeviceID names a device in the folder: 16 random bytes, made when the
// device first writes there. It is unrelated to the server's device ids.
type DeviceID [16]byte

func (d DeviceID) String() string { return hex.EncodeToString(d[:]) }

// ParseDeviceID reads the 32 hexadecimal digits of a device id.
func ParseDeviceID(s string) (DeviceID, error) {
	var d DeviceID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		return d, fmt.Errorf("%q is not a folder device id (32 hexadecimal digits)", s)
	}
	copy(d[:], b)
	return d, nil
}

// Header is the public, authenticated start of every folder file.
type Header struct {
	Magic      string
	AccountID  keys.AccountID
	KeyVersion uint32
	Device     DeviceID
	Seq        uint64 // the file's number among its writer's files of this kind
	Lamport    uint64 // the writer's logical clock when writing it
}

// headerSize is magic (4), version (1), account id (16), key version (4),
// device id (16), seq (8), Lamport clock (8).
const headerSize = 4 + 1 + 16 + 4 + 16 + 8 + 8 // 57

func (h *Header) marshal() []byte {
	b := make([]byte, 0, headerSize)
	b = append(b, h.Magic...)
	b = append(b, format.Version1)
	b = append(b, h.AccountID[:]...)
	b = binary.BigEndian.AppendUint32(b, h.KeyVersion)
	b = append(b, h.Device[:]...)
	b = binary.BigEndian.AppendUint64(b, h.Seq)
	return binary.BigEndian.AppendUint64(b, h.Lamport)
}

func parseHeader(b []byte, magic string) (*Header, error) {
	if len(b) < 5 {
		return nil, fmt.Errorf("%w: too short", ErrMalformed)
	}
	if string(b[:4]) != magic {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, format.ErrWrongMagic)
	}
	if b[4] != format.Version1 {
		return nil, fmt.Errorf("%w (version %d)", format.ErrVersion, b[4])
	}
	if len(b) < headerSize {
		return nil, fmt.Errorf("%w: too short", ErrMalformed)
	}
	h := &Header{Magic: magic}
	copy(h.AccountID[:], b[5:21])
	h.KeyVersion = binary.BigEndian.Uint32(b[21:25])
	copy(h.Device[:], b[25:41])
	h.Seq = binary.BigEndian.Uint64(b[41:49])
	h.Lamport = binary.BigEndian.Uint64(b[49:57])
	if h.KeyVersion == 0 || h.Seq == 0 {
		return nil, fmt.Errorf("%w: zero key version or number", ErrMalformed)
	}
	return h, nil
}

// FolderKey is the key that seals and authenticates folder files of one
// key version: HKDF(account key, "keyhold v1 folder key").
func FolderKey(ak *keys.AccountKey) *keys.Key32 { return keys.SubKey(ak[:], labelFolderKey) }

// Ring holds the account keys a reader knows, by key version: the current
// one and the previous ones a key file hands on, so that files written
// before a key rotation stay readable until compaction removes them.
type Ring map[uint32]*keys.AccountKey

// Wipe wipes every key of the ring.
func (r Ring) Wipe() {
	for _, k := range r {
		k.Wipe()
	}
}

// File names. Each device writes only inside its own directory
// d-<device id>; a name is its kind and its number, 16 hexadecimal digits.
// Anything else — a sync client's temporary file, a "conflicted copy", a
// "(1)" duplicate — does not match and is ignored.
const (
	// Dir is the directory inside the shared folder that holds
	// everything keyhold writes there.
	Dir = "keyhold"
	// TempPrefix starts the temporary names files are written under
	// before they are renamed into place.
	TempPrefix = atomicfile.TempPrefix
)

var (
	deviceDirRE = regexp.MustCompile(`^d-([0-9a-f]{32})$`)
	fileRE      = regexp.MustCompile(`^(log|snap|keys)-([0-9a-f]{16})\.(khfl|khfs|khfk)$`)
)

// Kind is a kind of folder file.
type Kind string

// Kinds of folder file.
const (
	KindLog      Kind = "log"
	KindSnapshot Kind = "snap"
	KindKeys     Kind = "keys"
)

var kindExt = map[Kind]string{KindLog: "khfl", KindSnapshot: "khfs", KindKeys: "khfk"}
var kindMagic = map[Kind]string{KindLog: LogMagic, KindSnapshot: SnapshotMagic, KindKeys: KeyFileMagic}

// DeviceDir is the name of a device's directory.
func DeviceDir(d DeviceID) string { return "d-" + d.String() }

// FileName is the name of a device's file of kind k with number seq.
func FileName(k Kind, seq uint64) string {
	return fmt.Sprintf("%s-%016x.%s", k, seq, kindExt[k])
}

// ParseFileName reads a file name; ok is false for anything that is not
// exactly a folder file's name.
func ParseFileName(name string) (k Kind, seq uint64, ok bool) {
	m := fileRE.FindStringSubmatch(name)
	if m == nil || kindExt[Kind(m[1])] != m[3] {
		return "", 0, false
	}
	seq, err := strconv.ParseUint(m[2], 16, 64)
	if err != nil || seq == 0 {
		return "", 0, false
	}
	return Kind(m[1]), seq, true
}

// parseDeviceDir reads a device directory's name.
func parseDeviceDir(name string) (DeviceID, bool) {
	m := deviceDirRE.FindStringSubmatch(name)
	if m == nil {
		return DeviceID{}, false
	}
	d, err := ParseDeviceID(m[1])
	return d, err == nil
}

// checkPlace requires a file's header to name the account, device and
// number its place in the folder says: a file copied or renamed into
// another slot is refused.
func checkPlace(h *Header, acct keys.AccountID, dev DeviceID, seq uint64) error {
	if h.AccountID != acct || h.Device != dev || h.Seq != seq {
		return ErrMisplaced
	}
	return nil
}
