package kdbx

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/tobischo/gokeepasslib/v3"
	xargon2 "golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/transfer"
)

// The default key derivation of a KDBX export: Argon2id with 128 MiB,
// 16 passes and 2 lanes, about one second on a 2-core machine in 2026
// (docs/BENCHMARKS.md). gokeepasslib's own default (Argon2d, 1 MiB, 2
// passes) takes milliseconds to guess a password with; an export is a
// copy of the whole vault that may sit on a USB stick for years.
const (
	DefaultMemoryKiB   = 128 << 10
	DefaultIterations  = 16
	DefaultParallelism = 2
)

// Lower bounds for a KDBX export's key derivation; tests use them.
const (
	MinMemoryKiB = 64
)

// WriteOptions sets the key derivation of a KDBX export. Zero values mean
// the defaults above.
type WriteOptions struct {
	MemoryKiB   uint64
	Iterations  uint64
	Parallelism uint32
}

// ErrWrite reports items or options Write cannot write.
var ErrWrite = errors.New("cannot write the KeePass file")

// kdbxRecycleBinName names the group that holds trashed items.
const kdbxRecycleBinName = "Recycle Bin"

// Write writes items as a KeePass KDBX 4 database encrypted with
// password: ChaCha20 for the file, ChaCha20 for protected values, Argon2id
// for the key. Each item becomes an entry (its history the entry's
// history), its first tag the group it sits in and all its tags the
// entry's tags; trashed items go to the recycle bin. docs/IMPORT.md has
// the full mapping. Nothing is written to w unless the whole file is
// ready.
func Write(w io.Writer, items []transfer.ExportItem, password []byte, opts WriteOptions) error {
	if len(password) == 0 {
		return fmt.Errorf("%w: a passphrase is needed to encrypt it", ErrWrite)
	}
	if opts.MemoryKiB == 0 {
		opts.MemoryKiB = DefaultMemoryKiB
	}
	if opts.Iterations == 0 {
		opts.Iterations = DefaultIterations
	}
	if opts.Parallelism == 0 {
		opts.Parallelism = DefaultParallelism
	}
	if opts.Parallelism > 255 || opts.MemoryKiB < MinMemoryKiB || opts.MemoryKiB < 8*uint64(opts.Parallelism) ||
		opts.MemoryKiB > MaxArgon2Memory>>10 || opts.Iterations > MaxArgon2Cost/opts.MemoryKiB {
		return fmt.Errorf("%w: the Argon2 setting is out of range", ErrWrite)
	}
	for i, ei := range items {
		if ei.Current == nil {
			return fmt.Errorf("%w: item %d has no content", ErrWrite, i+1)
		}
		if err := ei.Current.Validate(); err != nil {
			return fmt.Errorf("%w: item %q: %v", ErrWrite, ei.Current.Title, err)
		}
		for _, h := range ei.History {
			if h.Item == nil || h.Item.Validate() != nil {
				return fmt.Errorf("%w: item %q has an invalid earlier version", ErrWrite, ei.Current.Title)
			}
		}
	}

	var streamKey [64]byte
	rand.Read(streamKey[:])
	sh := sha512.Sum512(streamKey[:])
	stream, err := chacha20.NewUnauthenticatedCipher(sh[:32], sh[32:44])
	if err != nil {
		return err
	}
	b := &kdbxBuilder{stream: stream, binIndex: map[[32]byte]int{}, now: time.Now().UTC()}
	doc := b.document(items)

	var payload bytes.Buffer
	// The inner header: the protected-value stream and the attachments.
	innerField := func(id byte, data ...[]byte) {
		n := 0
		for _, d := range data {
			n += len(d)
		}
		payload.WriteByte(id)
		binary.Write(&payload, binary.LittleEndian, uint32(n))
		for _, d := range data {
			payload.Write(d)
		}
	}
	innerField(kdbxInnerStreamID, binary.LittleEndian.AppendUint32(nil, kdbxStreamChaCha))
	innerField(kdbxInnerStreamKey, streamKey[:])
	for _, bin := range b.binaries {
		innerField(kdbxInnerBinary, []byte{0}, bin)
	}
	innerField(kdbxInnerEnd)
	payload.WriteString(xml.Header)
	enc := xml.NewEncoder(&payload)
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("%w: %v", ErrWrite, err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("%w: %v", ErrWrite, err)
	}

	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write(payload.Bytes())
	if err := zw.Close(); err != nil {
		return err
	}

	// The outer header.
	var masterSeed, salt [32]byte
	var iv [12]byte
	rand.Read(masterSeed[:])
	rand.Read(salt[:])
	rand.Read(iv[:])
	kdf := kdbxVariantDict(
		kdbxVariant{0x42, "$UUID", kdbxArgon2id},
		kdbxVariant{0x42, "S", salt[:]},
		kdbxVariant{0x04, "P", binary.LittleEndian.AppendUint32(nil, opts.Parallelism)},
		kdbxVariant{0x05, "M", binary.LittleEndian.AppendUint64(nil, opts.MemoryKiB<<10)},
		kdbxVariant{0x05, "I", binary.LittleEndian.AppendUint64(nil, opts.Iterations)},
		kdbxVariant{0x04, "V", binary.LittleEndian.AppendUint32(nil, 0x13)},
	)
	var hdr bytes.Buffer
	binary.Write(&hdr, binary.LittleEndian, []uint32{kdbxSig1, kdbxSig2})
	binary.Write(&hdr, binary.LittleEndian, []uint16{0, 4})
	field := func(id byte, data []byte) {
		hdr.WriteByte(id)
		binary.Write(&hdr, binary.LittleEndian, uint32(len(data)))
		hdr.Write(data)
	}
	field(kdbxHdrCipherID, gokeepasslib.CipherChaCha20)
	field(kdbxHdrCompression, binary.LittleEndian.AppendUint32(nil, 1))
	field(kdbxHdrMasterSeed, masterSeed[:])
	field(kdbxHdrEncryptionIV, iv[:])
	field(kdbxHdrKDFParameters, kdf)
	field(kdbxHdrEnd, []byte("\r\n\r\n"))

	composite, _ := kdbxCompositeKey(kdbxCreds{password: password, passwordSet: true})
	transformed := xargon2.IDKey(composite, salt[:], uint32(opts.Iterations), uint32(opts.MemoryKiB), uint8(opts.Parallelism), 32)
	c, err := chacha20.NewUnauthenticatedCipher(kdbxCipherKey(masterSeed[:], transformed), iv[:])
	if err != nil {
		return err
	}
	ct := zipped.Bytes()
	c.XORKeyStream(ct, ct)

	var out bytes.Buffer
	out.Write(hdr.Bytes())
	sum := sha256.Sum256(hdr.Bytes())
	out.Write(sum[:])
	base := kdbxHMACBase(masterSeed[:], transformed)
	out.Write(kdbxBlockMAC(base, ^uint64(0), hdr.Bytes()))
	const blockSize = 1 << 20
	for index := uint64(0); ; index++ {
		n := min(blockSize, len(ct))
		block := ct[:n]
		ct = ct[n:]
		out.Write(kdbxBlockMAC(base, index, block))
		binary.Write(&out, binary.LittleEndian, uint32(n))
		out.Write(block)
		if n == 0 {
			break
		}
	}
	_, err = w.Write(out.Bytes())
	return err
}

type kdbxVariant struct {
	typ   byte
	name  string
	value []byte
}

// kdbxVariantDict encodes a KeePass variant dictionary (version 1.0).
func kdbxVariantDict(items ...kdbxVariant) []byte {
	var b bytes.Buffer
	b.Write([]byte{0x00, 0x01})
	for _, it := range items {
		b.WriteByte(it.typ)
		binary.Write(&b, binary.LittleEndian, uint32(len(it.name)))
		b.WriteString(it.name)
		binary.Write(&b, binary.LittleEndian, uint32(len(it.value)))
		b.Write(it.value)
	}
	b.WriteByte(0)
	return b.Bytes()
}

// kdbxBuilder turns items into the KeePass document.
type kdbxBuilder struct {
	stream   kdbxStream
	binaries [][]byte
	binIndex map[[32]byte]int
	now      time.Time
}

// kdbxTree is a group while the document is built.
type kdbxTree struct {
	group    kxGroup
	children []*kdbxTree
	byName   map[string]*kdbxTree
}

func (b *kdbxBuilder) newTree(name, icon string) *kdbxTree {
	return &kdbxTree{group: kxGroup{UUID: kdbxNewUUID(), Name: name, IconID: icon, Times: b.times(b.now, b.now, nil)},
		byName: map[string]*kdbxTree{}}
}

func (t *kdbxTree) child(b *kdbxBuilder, name string) *kdbxTree {
	if c := t.byName[name]; c != nil {
		return c
	}
	c := b.newTree(name, "48")
	t.byName[name] = c
	t.children = append(t.children, c)
	return c
}

func (t *kdbxTree) build() kxGroup {
	g := t.group
	for _, c := range t.children {
		g.Groups = append(g.Groups, c.build())
	}
	return g
}

func (b *kdbxBuilder) document(items []transfer.ExportItem) *kxFile {
	root := b.newTree("Keyhold", "48")
	var bin *kdbxTree
	for _, ei := range items {
		it := ei.Current
		id := kdbxUUID(ei.ID)
		e := b.entry(id, it)
		e.History = &kxHistory{}
		for _, h := range ei.History {
			e.History.Entries = append(e.History.Entries, b.entry(id, h.Item))
		}
		var g *kdbxTree
		switch {
		case it.Trashed != nil:
			if bin == nil {
				bin = b.newTree(kdbxRecycleBinName, "43")
				root.children = append(root.children, bin)
			}
			g = bin
		default:
			g = root
			if len(it.Tags) > 0 {
				for _, part := range strings.Split(it.Tags[0], "/") {
					if part = strings.TrimSpace(part); part != "" {
						g = g.child(b, part)
					}
				}
			}
		}
		g.group.Entries = append(g.group.Entries, e)
	}
	binUUID := kdbxZeroUUID
	if bin != nil {
		binUUID = bin.group.UUID
	}
	rg := root.build()
	return &kxFile{
		Meta: kxMeta{
			Generator:         "Keyhold",
			DatabaseName:      "Keyhold export",
			MemoryProtection:  &kxMemProt{ProtectTitle: "False", ProtectUserName: "False", ProtectPassword: "True", ProtectURL: "False", ProtectNotes: "False"},
			RecycleBinEnabled: "True",
			RecycleBinUUID:    binUUID,
			// Keep every earlier version: KeePass would otherwise prune the
			// history to its defaults on the next save.
			HistoryMaxItems: "-1",
			HistoryMaxSize:  "-1",
		},
		Root: kxRoot{Group: &rg},
	}
}

func (b *kdbxBuilder) times(created, modified time.Time, moved *time.Time) kxTimes {
	loc := modified
	if moved != nil {
		loc = *moved
	}
	return kxTimes{
		CreationTime:         formatKXTime(created),
		LastModificationTime: formatKXTime(modified),
		LastAccessTime:       formatKXTime(modified),
		ExpiryTime:           formatKXTime(modified),
		Expires:              "False",
		UsageCount:           "0",
		LocationChanged:      formatKXTime(loc),
	}
}

// kdbxReserved are KeePass string keys with a meaning of their own; a
// custom field with such a name is renamed on export.
func kdbxReserved(key string) bool {
	switch key {
	case kpTitle, kpUserName, kpPassword, kpURL, kpNotes, kpOTP, "TOTP Seed", "TOTP Settings":
		return true
	}
	return kdbxExtraURL.MatchString(key) || strings.HasPrefix(key, "TimeOtp-")
}

// entry writes one revision of an item; id is the entry's UUID.
func (b *kdbxBuilder) entry(id string, it *item.Item) kxEntry {
	e := kxEntry{
		UUID:     id,
		IconID:   "0",
		Times:    b.times(it.Created, it.Modified, it.Trashed),
		AutoType: &kxAutoType{Enabled: "True", Obfuscation: "0"},
		Tags:     strings.Join(it.Tags, ";"),
	}
	used := map[string]bool{}
	add := func(key, value string, protected bool) {
		v := &kxValue{Text: value}
		if protected {
			v.stream = b.stream
		}
		used[key] = true
		e.Strings = append(e.Strings, kxString{Key: key, Value: v})
	}
	add(kpTitle, it.Title, false)
	var user, pass string
	var rest []item.Field
	for _, f := range it.Fields {
		switch {
		case it.Type == item.Login && !f.Custom && f.Name == "username":
			user = f.Value
		case it.Type == item.Login && !f.Custom && f.Name == "password":
			pass = f.Value
		default:
			rest = append(rest, f)
		}
	}
	add(kpUserName, user, false)
	add(kpPassword, pass, true)
	u := ""
	if len(it.URLs) > 0 {
		u = it.URLs[0]
	}
	add(kpURL, u, false)
	add(kpNotes, it.Notes, false)
	for i, extra := range it.URLs[min(1, len(it.URLs)):] {
		add(fmt.Sprintf("KP2A_URL_%d", i+1), extra, false)
	}
	for _, f := range rest {
		key := f.Name
		if it.Type == item.Login && !f.Custom && f.Name == "totp" {
			key = kpOTP
			if !strings.HasPrefix(strings.ToLower(f.Value), "otpauth://") {
				f.Value = kdbxOTPAuth(it.Title, kdbxSecret(f.Value), "30", "6", "", "")
			}
		} else if kdbxReserved(key) || used[key] {
			base := key
			for i := 2; kdbxReserved(key) || used[key]; i++ {
				key = fmt.Sprintf("%s (%d)", base, i)
			}
		}
		add(key, f.Value, f.Kind == item.Hidden || f.Kind == item.TOTP)
	}
	for _, a := range it.Attachments {
		e.Binaries = append(e.Binaries, kxString{Key: a.Name, Value: &kxValue{Ref: fmt.Sprint(b.binary(a.Data))}})
	}
	e.CustomData = append(e.CustomData, kxCustom{Key: kdbxTypeKey, Value: string(it.Type)})
	if it.Favorite {
		e.CustomData = append(e.CustomData, kxCustom{Key: kdbxFavoriteKey, Value: "true"})
	}
	if it.Match != item.MatchDefault {
		e.CustomData = append(e.CustomData, kxCustom{Key: kdbxMatchKey, Value: it.Match})
	}
	return e
}

// binary stores an attachment once however many revisions hold it.
func (b *kdbxBuilder) binary(data []byte) int {
	sum := sha256.Sum256(data)
	if i, ok := b.binIndex[sum]; ok {
		return i
	}
	b.binaries = append(b.binaries, data)
	b.binIndex[sum] = len(b.binaries) - 1
	return len(b.binaries) - 1
}

// kdbxUUID is the entry UUID for an item id; every revision of an item
// shares it, as KeePass's history requires.
func kdbxUUID(id string) string {
	u, err := uuid.Parse(id)
	if err != nil {
		return kdbxNewUUID()
	}
	return base64.StdEncoding.EncodeToString(u[:])
}

func kdbxNewUUID() string {
	u := uuid.New()
	return base64.StdEncoding.EncodeToString(u[:])
}
