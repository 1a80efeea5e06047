package folder

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
)

// Entry is one change in a device's log: an item as the device last had
// it from the folder (Base, nil for an item it created) and as it is now
// (New). Replaying it merges New into the replayed item field by field
// against Base, as server sync merges two heads.
type Entry struct {
	ID   [16]byte
	Base *item.Item
	New  *item.Item
	// Hist are the device's revisions between Base and New (oldest
	// first), which replay keeps in the item's history as they are.
	Hist []*item.Item
}

// Log is a decoded change log file.
type Log struct {
	Header
	// Prev is the number of the writer's log this one follows: normally
	// Seq-1. A lower number declares the logs in between void: the writer
	// found them gone from the folder (a sync client's rewind, a
	// deletion), covered by no snapshot, and wrote their changes again in
	// this log. Numbers are never reused.
	Prev    uint64
	Entries []Entry
}

// LogHead is the public part of a log file: its header and Prev, with a
// MAC under a key derived from the folder key, so that a reader can tell
// which numbers a device declared void without opening every log.
type LogHead struct {
	Header
	Prev   uint64
	mac    []byte
	signed []byte
}

// logHeadSize is the header, Prev (8) and the head MAC.
const logHeadSize = headerSize + 8 + headMACSize

const labelLogHead = "keyhold v1 folder log head"

// ParseLogHead reads a log file's head without checking its MAC.
func ParseLogHead(b []byte) (*LogHead, error) {
	h, err := parseHeader(b, LogMagic)
	if err != nil {
		return nil, err
	}
	if len(b) < logHeadSize {
		return nil, fmt.Errorf("%w: too short", ErrMalformed)
	}
	lh := &LogHead{Header: *h, Prev: binary.BigEndian.Uint64(b[headerSize:]),
		signed: b[: headerSize+8 : headerSize+8], mac: b[headerSize+8 : logHeadSize : logHeadSize]}
	if lh.Prev >= lh.Seq {
		return nil, fmt.Errorf("%w: a log follows a later one", ErrMalformed)
	}
	return lh, nil
}

// VerifyLogHead checks a log head found as device dev's log number seq:
// its place, and its MAC under the folder key of its key version.
func VerifyLogHead(lh *LogHead, ring Ring, acct keys.AccountID, dev DeviceID, seq uint64) error {
	if err := checkPlace(&lh.Header, acct, dev, seq); err != nil {
		return err
	}
	ak := ring[lh.KeyVersion]
	if ak == nil {
		return fmt.Errorf("%w %d", ErrNoKey, lh.KeyVersion)
	}
	if !hmac.Equal(macOf(ak, labelLogHead, lh.signed), lh.mac) {
		return fmt.Errorf("folder file: %w", keys.ErrOpen)
	}
	return nil
}

type wireEntry struct {
	ID   string            `json:"id"`
	Base json.RawMessage   `json:"base,omitempty"`
	New  json.RawMessage   `json:"new"`
	Hist []json.RawMessage `json:"hist,omitempty"`
}

type wireLog struct {
	Entries []wireEntry `json:"entries"`
}

type wireItem struct {
	ID   string            `json:"id"`
	Cur  json.RawMessage   `json:"cur"`
	Hist []json.RawMessage `json:"hist,omitempty"`
}

type wireSnapshot struct {
	Items []wireItem `json:"items"`
}

// SealLog encodes a change log file that follows the writer's log
// h.Seq-1. h.Magic is set here.
func SealLog(ak *keys.AccountKey, h Header, entries []Entry) ([]byte, error) {
	return SealLogAfter(ak, h, h.Seq-1, entries)
}

// SealLogAfter encodes a change log file that follows the writer's log
// prev, declaring the numbers between void (Log.Prev).
func SealLogAfter(ak *keys.AccountKey, h Header, prev uint64, entries []Entry) ([]byte, error) {
	if prev >= h.Seq {
		return nil, fmt.Errorf("a log cannot follow log %d: it is number %d", prev, h.Seq)
	}
	if len(entries) == 0 || len(entries) > MaxEntriesPerLog {
		return nil, fmt.Errorf("a log file holds 1 to %d entries, not %d", MaxEntriesPerLog, len(entries))
	}
	h.Magic = LogMagic
	var w wireLog
	for _, e := range entries {
		we := wireEntry{ID: uuid.UUID(e.ID).String()}
		var err error
		if e.Base != nil {
			if we.Base, err = e.Base.Marshal(); err != nil {
				return nil, err
			}
		}
		if we.New, err = e.New.Marshal(); err != nil {
			return nil, err
		}
		for _, h := range e.Hist {
			b, err := h.Marshal()
			if err != nil {
				return nil, err
			}
			we.Hist = append(we.Hist, b)
		}
		w.Entries = append(w.Entries, we)
	}
	pt, err := json.Marshal(&w)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	head := binary.BigEndian.AppendUint64(h.marshal(), prev)
	head = append(head, macOf(ak, labelLogHead, head)...)
	return seal(ak, labelLog, head, pt, MaxLogSize)
}

func seal(ak *keys.AccountKey, label string, hdr, pt []byte, limit int) ([]byte, error) {
	if len(hdr)+len(pt)+keys.SealOverhead > limit {
		return nil, fmt.Errorf("a folder file would exceed %d MiB", limit>>20)
	}
	fk := FolderKey(ak)
	defer fk.Wipe()
	box, err := keys.Seal(fk[:], label, hdr, pt)
	if err != nil {
		return nil, err
	}
	return append(hdr, box...), nil
}

// LogHeader reads a log file's public header without opening it.
func LogHeader(b []byte) (*Header, error) { return parseHeader(b, LogMagic) }

// OpenLog decodes a change log file found as device dev's log number seq.
// It refuses a file of another account or slot, a key version the ring
// lacks, and anything that does not open (a half-copied file included).
func OpenLog(b []byte, ring Ring, acct keys.AccountID, dev DeviceID, seq uint64) (*Log, error) {
	if len(b) > MaxLogSize {
		return nil, fmt.Errorf("%w: too large", ErrMalformed)
	}
	lh, err := ParseLogHead(b)
	if err != nil {
		return nil, err
	}
	if err := VerifyLogHead(lh, ring, acct, dev, seq); err != nil {
		return nil, err
	}
	h := &lh.Header
	pt, err := open(ring, h.KeyVersion, labelLog, b[:logHeadSize], b[logHeadSize:])
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	var w wireLog
	if err := strictJSON(pt, &w); err != nil {
		return nil, err
	}
	if len(w.Entries) == 0 || len(w.Entries) > MaxEntriesPerLog {
		return nil, fmt.Errorf("%w: %d entries", ErrMalformed, len(w.Entries))
	}
	l := &Log{Header: *h, Prev: lh.Prev}
	for _, we := range w.Entries {
		id, err := uuid.Parse(we.ID)
		if err != nil || len(we.ID) != 36 {
			return nil, fmt.Errorf("%w: bad item id", ErrMalformed)
		}
		e := Entry{ID: id}
		if len(we.Base) > 0 && !bytes.Equal(we.Base, []byte("null")) {
			if e.Base, err = item.Unmarshal(we.Base); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
			}
		}
		if e.New, err = item.Unmarshal(we.New); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		for _, hb := range we.Hist {
			h, err := item.Unmarshal(hb)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
			}
			e.Hist = append(e.Hist, h)
		}
		l.Entries = append(l.Entries, e)
	}
	return l, nil
}

func open(ring Ring, kv uint32, label string, ad, box []byte) ([]byte, error) {
	ak := ring[kv]
	if ak == nil {
		return nil, fmt.Errorf("%w %d", ErrNoKey, kv)
	}
	fk := FolderKey(ak)
	defer fk.Wipe()
	pt, err := keys.Open(fk[:], label, ad, box)
	if err != nil {
		return nil, fmt.Errorf("folder file: %w", err)
	}
	return pt, nil
}

func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data", ErrMalformed)
	}
	return nil
}

// Frontier says, per device, up to which log number (contiguous from 1) a
// snapshot or a replay has merged that device's changes.
type Frontier map[DeviceID]uint64

// Sum is the number of log files the frontier covers.
func (f Frontier) Sum() uint64 {
	var n uint64
	for _, s := range f {
		n += s
	}
	return n
}

// Clone copies the frontier.
func (f Frontier) Clone() Frontier {
	g := make(Frontier, len(f))
	for k, v := range f {
		g[k] = v
	}
	return g
}

// ItemState is one item of a replayed vault: its current content and
// every other value it has held that is not current (oldest first, each
// once), so that no value a device wrote is lost.
type ItemState struct {
	ID   [16]byte
	Cur  *item.Item
	Hist []*item.Item
}

// Snapshot is a decoded snapshot file: the vault as its writer replayed
// it, with the frontier of the changes it covers.
type Snapshot struct {
	Header
	Frontier Frontier
	Items    []*ItemState
}

// SnapshotHead is the public part of a snapshot: its header and frontier,
// readable without opening the snapshot, so that a reader can pick which
// snapshot to open. They are followed by a MAC under a key derived from
// the folder key (headMACSize bytes): a head is trusted — for choosing a
// snapshot, for the high-water marks of other devices' logs, for
// compaction — only once VerifySnapshotHead accepts it, which costs no
// more than reading the head.
type SnapshotHead struct {
	Header
	Frontier Frontier
	mac      []byte
	signed   []byte // header and frontier, as the MAC covers them
}

// headMACSize is the size of the snapshot head's MAC (HMAC-SHA256).
const headMACSize = 32

const labelSnapshotHead = "keyhold v1 folder snapshot head"

func headMAC(ak *keys.AccountKey, signed []byte) []byte {
	return macOf(ak, labelSnapshotHead, signed)
}

// macOf is HMAC-SHA256 of signed under SubKey(FolderKey(ak), label).
func macOf(ak *keys.AccountKey, label string, signed []byte) []byte {
	fk := FolderKey(ak)
	defer fk.Wipe()
	hk := keys.SubKey(fk[:], label)
	defer hk.Wipe()
	m := hmac.New(sha256.New, hk[:])
	m.Write(signed)
	return m.Sum(nil)
}

func marshalSnapshotHead(h Header, f Frontier) []byte {
	b := h.marshal()
	devs := make([]DeviceID, 0, len(f))
	for d := range f {
		devs = append(devs, d)
	}
	slices.SortFunc(devs, func(a, b DeviceID) int { return bytes.Compare(a[:], b[:]) })
	b = binary.BigEndian.AppendUint32(b, uint32(len(devs)))
	for _, d := range devs {
		b = append(b, d[:]...)
		b = binary.BigEndian.AppendUint64(b, f[d])
	}
	return b
}

// ParseSnapshotHead reads a snapshot's header, frontier and head MAC,
// without checking the MAC; it returns the number of bytes they take.
func ParseSnapshotHead(b []byte) (*SnapshotHead, int, error) {
	h, err := parseHeader(b, SnapshotMagic)
	if err != nil {
		return nil, 0, err
	}
	if len(b) < headerSize+4 {
		return nil, 0, fmt.Errorf("%w: too short", ErrMalformed)
	}
	n := binary.BigEndian.Uint32(b[headerSize:])
	if n > maxFrontier || uint64(len(b)) < uint64(headerSize+4)+uint64(n)*24+headMACSize {
		return nil, 0, fmt.Errorf("%w: bad frontier", ErrMalformed)
	}
	off := headerSize + 4
	f := make(Frontier, n)
	var prev []byte
	for range n {
		var d DeviceID
		copy(d[:], b[off:off+16])
		if prev != nil && bytes.Compare(prev, d[:]) >= 0 {
			return nil, 0, fmt.Errorf("%w: frontier not in order", ErrMalformed)
		}
		prev = b[off : off+16]
		f[d] = binary.BigEndian.Uint64(b[off+16 : off+24])
		off += 24
	}
	sh := &SnapshotHead{Header: *h, Frontier: f, signed: b[:off:off], mac: b[off : off+headMACSize : off+headMACSize]}
	return sh, off + headMACSize, nil
}

// VerifySnapshotHead checks a head read by ParseSnapshotHead (or
// ReadSnapshotHead) found as device dev's snapshot number seq: its place,
// and its MAC under the folder key of its key version, which ring must
// hold. A head that passes was written by a device holding the account
// key; the snapshot's items are still only trusted once OpenSnapshot
// opens them.
func VerifySnapshotHead(sh *SnapshotHead, ring Ring, acct keys.AccountID, dev DeviceID, seq uint64) error {
	if err := checkPlace(&sh.Header, acct, dev, seq); err != nil {
		return err
	}
	ak := ring[sh.KeyVersion]
	if ak == nil {
		return fmt.Errorf("%w %d", ErrNoKey, sh.KeyVersion)
	}
	if !hmac.Equal(headMAC(ak, sh.signed), sh.mac) {
		return fmt.Errorf("folder file: %w", keys.ErrOpen)
	}
	return nil
}

// SealSnapshot encodes a snapshot file. h.Magic is set here.
func SealSnapshot(ak *keys.AccountKey, h Header, f Frontier, items []*ItemState) ([]byte, error) {
	h.Magic = SnapshotMagic
	if len(f) > maxFrontier {
		return nil, fmt.Errorf("too many devices in the folder (%d)", len(f))
	}
	w := wireSnapshot{Items: make([]wireItem, 0, len(items))}
	for _, st := range items {
		wi := wireItem{ID: uuid.UUID(st.ID).String()}
		var err error
		if wi.Cur, err = st.Cur.Marshal(); err != nil {
			return nil, err
		}
		for _, h := range st.Hist {
			b, err := h.Marshal()
			if err != nil {
				return nil, err
			}
			wi.Hist = append(wi.Hist, b)
		}
		w.Items = append(w.Items, wi)
	}
	pt, err := json.Marshal(&w)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	head := marshalSnapshotHead(h, f)
	head = append(head, headMAC(ak, head)...)
	return seal(ak, labelSnapshot, head, pt, MaxSnapshotSize)
}

// OpenSnapshot decodes a snapshot file found as device dev's snapshot
// number seq.
func OpenSnapshot(b []byte, ring Ring, acct keys.AccountID, dev DeviceID, seq uint64) (*Snapshot, error) {
	if len(b) > MaxSnapshotSize {
		return nil, fmt.Errorf("%w: too large", ErrMalformed)
	}
	sh, n, err := ParseSnapshotHead(b)
	if err != nil {
		return nil, err
	}
	if err := VerifySnapshotHead(sh, ring, acct, dev, seq); err != nil {
		return nil, err
	}
	pt, err := open(ring, sh.KeyVersion, labelSnapshot, b[:n], b[n:])
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	var w wireSnapshot
	if err := strictJSON(pt, &w); err != nil {
		return nil, err
	}
	s := &Snapshot{Header: sh.Header, Frontier: sh.Frontier}
	seen := make(map[[16]byte]bool, len(w.Items))
	for _, wi := range w.Items {
		id, err := uuid.Parse(wi.ID)
		if err != nil || len(wi.ID) != 36 || seen[id] {
			return nil, fmt.Errorf("%w: bad or repeated item id", ErrMalformed)
		}
		seen[id] = true
		st := &ItemState{ID: id}
		if st.Cur, err = item.Unmarshal(wi.Cur); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		for _, hb := range wi.Hist {
			h, err := item.Unmarshal(hb)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
			}
			st.Hist = append(st.Hist, h)
		}
		s.Items = append(s.Items, st)
	}
	return s, nil
}

// KeyFile is a decoded key file: the account key envelope and key check
// of one key version (so a new device can set up from the folder alone),
// the rotation transition from the previous key version if known, and the
// sealed list of previous account keys. Its last part is a sealed box
// under the folder key of its key version whose associated data is every
// byte before it, so opening it authenticates the whole file.
type KeyFile struct {
	Header
	Envelope   *format.Envelope
	KeyCheck   *format.KeyCheck
	Transition []byte // SPEC §14.2, or nil
	raw        []byte
	boxAt      int
}

const keyCheckSize = 117

// SealKeyFile encodes a key file. prev are the account keys of earlier key
// versions the writer knows; they are sealed under ak's folder key.
func SealKeyFile(ak *keys.AccountKey, h Header, env *format.Envelope, kc *format.KeyCheck, transition []byte, prev Ring) ([]byte, error) {
	h.Magic = KeyFileMagic
	if env.AccountID != h.AccountID || kc.AccountID != h.AccountID || env.KeyVersion != h.KeyVersion || kc.KeyVersion != h.KeyVersion {
		return nil, fmt.Errorf("key file: the envelope, key check and header disagree")
	}
	b := h.marshal()
	b = append(b, env.Marshal()...)
	b = append(b, kc.Marshal()...)
	if transition != nil {
		if len(transition) != format.TransitionSize {
			return nil, fmt.Errorf("key file: bad transition")
		}
		b = append(b, 1)
		b = append(b, transition...)
	} else {
		b = append(b, 0)
	}
	vs := make([]uint32, 0, len(prev))
	for v := range prev {
		if v < h.KeyVersion {
			vs = append(vs, v)
		}
	}
	slices.Sort(vs)
	pt := binary.BigEndian.AppendUint32(nil, uint32(len(vs)))
	for _, v := range vs {
		pt = binary.BigEndian.AppendUint32(pt, v)
		pt = append(pt, prev[v][:]...)
	}
	defer clear(pt)
	return seal(ak, labelKeys, b, pt, MaxKeyFileSize)
}

// ParseKeyFile reads a key file found as device dev's key file number
// seq. Nothing in it is trusted until Open succeeds; the envelope is
// what a new device opens with the password and Secret Key first.
func ParseKeyFile(b []byte, dev DeviceID, seq uint64) (*KeyFile, error) {
	if len(b) > MaxKeyFileSize {
		return nil, fmt.Errorf("%w: too large", ErrMalformed)
	}
	h, err := parseHeader(b, KeyFileMagic)
	if err != nil {
		return nil, err
	}
	if h.Device != dev || h.Seq != seq {
		return nil, ErrMisplaced
	}
	off := headerSize
	// The envelope's own version byte says how long it is: a key file
	// written before password epochs carries a shorter one.
	envLen, err := format.EnvelopeLen(b[min(off, len(b)):])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(b) < off+envLen+keyCheckSize+1 {
		return nil, fmt.Errorf("%w: too short", ErrMalformed)
	}
	kf := &KeyFile{Header: *h, raw: b}
	if kf.Envelope, err = format.ParseEnvelope(b[off : off+envLen]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	off += envLen
	if kf.KeyCheck, err = format.ParseKeyCheck(b[off : off+keyCheckSize]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	off += keyCheckSize
	switch b[off] {
	case 0:
		off++
	case 1:
		off++
		if len(b) < off+format.TransitionSize {
			return nil, fmt.Errorf("%w: too short", ErrMalformed)
		}
		kf.Transition = b[off : off+format.TransitionSize]
		off += format.TransitionSize
	default:
		return nil, fmt.Errorf("%w: bad transition flag", ErrMalformed)
	}
	if len(b)-off < keys.SealOverhead+4 {
		return nil, fmt.Errorf("%w: too short", ErrMalformed)
	}
	e, k := kf.Envelope, kf.KeyCheck
	if e.AccountID != h.AccountID || k.AccountID != h.AccountID || e.KeyVersion != h.KeyVersion || k.KeyVersion != h.KeyVersion {
		return nil, ErrMisplaced
	}
	kf.boxAt = off
	return kf, nil
}

// Open authenticates the whole key file with the account key of its key
// version (checked against its key check first) and returns the previous
// account keys it carries, with ak itself, as a ring.
func (kf *KeyFile) Open(ak *keys.AccountKey) (Ring, error) {
	if err := kf.KeyCheck.Verify(ak, kf.AccountID, kf.KeyVersion); err != nil {
		return nil, err
	}
	pt, err := open(Ring{kf.KeyVersion: ak}, kf.KeyVersion, labelKeys, kf.raw[:kf.boxAt], kf.raw[kf.boxAt:])
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	n := binary.BigEndian.Uint32(pt)
	if n > maxPrevKeys || uint64(len(pt)) != 4+uint64(n)*36 {
		return nil, fmt.Errorf("%w: bad key list", ErrMalformed)
	}
	r := Ring{}
	cur := new(keys.AccountKey)
	*cur = *ak
	r[kf.KeyVersion] = cur
	for i := range int(n) {
		p := pt[4+i*36:]
		v := binary.BigEndian.Uint32(p)
		if v >= kf.KeyVersion || r[v] != nil {
			r.Wipe()
			return nil, fmt.Errorf("%w: bad key list", ErrMalformed)
		}
		k := new(keys.AccountKey)
		copy(k[:], p[4:36])
		r[v] = k
	}
	return r, nil
}

// Newer reports whether key file a supersedes b: a higher key version,
// then a later Lamport clock, then the larger device id and number. Every
// device decides the same.
func Newer(a, b *Header) bool {
	if a.KeyVersion != b.KeyVersion {
		return a.KeyVersion > b.KeyVersion
	}
	if a.Lamport != b.Lamport {
		return a.Lamport > b.Lamport
	}
	if c := bytes.Compare(a.Device[:], b.Device[:]); c != 0 {
		return c > 0
	}
	return a.Seq > b.Seq
}
