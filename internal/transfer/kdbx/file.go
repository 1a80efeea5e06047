package kdbx

// The KDBX container: the outer header, the key derivation, the encrypted
// and authenticated payload and (KDBX 4) the inner header. KeePass
// documents it at https://keepass.info/help/kb/kdbx_4.html and in its
// source; KeePassXC reads and writes the same layout.
//
// This file reads and writes the container itself instead of calling
// gokeepasslib's decoder, for three reasons: the decoder trusts every
// length and parameter in the file (a truncated or hostile file makes it
// panic or allocate without bound), it skips the KDBX 3.1 block hashes,
// and it knows neither Argon2id, which KeePassXC uses by default, nor how
// to write it. gokeepasslib still parses key files and names the cipher
// and KDF identifiers, and its Argon2d implementation derives the key of
// files that use Argon2d (KeePass's default), which golang.org/x/crypto
// does not provide.

import (
	"bytes"
	"compress/gzip"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/tobischo/argon2"
	"github.com/tobischo/gokeepasslib/v3"
	xargon2 "golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20"
	"golang.org/x/crypto/salsa20/salsa"
	"golang.org/x/crypto/twofish"

	"github.com/keyhold/keyhold/internal/transfer"
)

// Limits on a KDBX file. They are far above any real database and keep a
// damaged or hostile file from exhausting memory or time.
const (
	// MaxSize caps the file itself.
	MaxSize = 256 << 20
	// MaxPayload caps the decrypted, decompressed content (the XML
	// and, in KDBX 4, the attachments).
	MaxPayload = 512 << 20
	// MaxArgon2Memory caps the memory the file's Argon2 setting may
	// ask for, in bytes.
	MaxArgon2Memory = 2 << 30
	// MaxArgon2Cost caps iterations times memory (in KiB): 64 GiB of
	// memory passes, about a minute on a laptop.
	MaxArgon2Cost = 64 << 20
	// MaxAESRounds caps the rounds of the older AES key derivation:
	// about a minute on a laptop.
	MaxAESRounds = 2_000_000_000
)

// The limits as variables, so that tests can lower them.
var (
	maxKDBXSize         = MaxSize
	maxKDBXPayload      = MaxPayload
	maxKDBXArgon2Memory = uint64(MaxArgon2Memory)
	maxKDBXArgon2Cost   = uint64(MaxArgon2Cost)
	maxKDBXAESRounds    = uint64(MaxAESRounds)
)

// kdbxSig1 and kdbxSig2 start every KDBX file; kdbxSig2Old marks the
// KeePass 1 format (.kdb), which is a different format altogether.
const (
	kdbxSig1    = 0x9AA2D903
	kdbxSig2    = 0xB54BFB67
	kdbxSig2Old = 0xB54BFB65
	// kdbxSig2Pre marks the files of KeePass 2 pre-releases, before KDBX
	// 2.0 was settled.
	kdbxSig2Pre = 0xB54BFB66
)

// Outer header field ids.
const (
	kdbxHdrEnd           = 0
	kdbxHdrComment       = 1
	kdbxHdrCipherID      = 2
	kdbxHdrCompression   = 3
	kdbxHdrMasterSeed    = 4
	kdbxHdrTransformSeed = 5
	kdbxHdrTransformRnds = 6
	kdbxHdrEncryptionIV  = 7
	kdbxHdrStreamKey     = 8
	kdbxHdrStreamStart   = 9
	kdbxHdrStreamID      = 10
	kdbxHdrKDFParameters = 11
	kdbxHdrPublicCustom  = 12
)

// Inner header field ids (KDBX 4).
const (
	kdbxInnerEnd       = 0
	kdbxInnerStreamID  = 1
	kdbxInnerStreamKey = 2
	kdbxInnerBinary    = 3
)

// Inner random stream ids: how protected values are masked in the XML.
const (
	kdbxStreamNone = 0
	// kdbxStreamArcFour is KeePass's "ArcFour variant" (kdbxArcFour).
	// The earliest KeePass 2 releases wrote it; only reading is
	// supported.
	kdbxStreamArcFour = 1
	kdbxStreamSalsa20 = 2
	kdbxStreamChaCha  = 3
)

// kdbxArgon2id is Argon2id's KDF id (KeePassXC's default for KDBX 4);
// gokeepasslib knows only Argon2d (KdfArgon2) and the AES KDF.
var kdbxArgon2id = []byte{0x9E, 0x29, 0x8B, 0x19, 0x56, 0xDB, 0x47, 0x73,
	0xB2, 0x3D, 0xFC, 0x3E, 0xC6, 0xF0, 0xA1, 0xE6}

// kdbxSalsaNonce is the fixed nonce of the Salsa20 inner stream.
var kdbxSalsaNonce = [8]byte{0xE8, 0x30, 0x09, 0x4B, 0x97, 0x20, 0x5D, 0x2A}

// kdbxFile is a decrypted KDBX container.
type kdbxFile struct {
	major uint16
	// header is the raw outer header; KDBX 3.1 files repeat its hash in
	// the XML.
	header []byte
	// xml is the decrypted document.
	xml []byte
	// stream unmasks protected values, in document order.
	stream kdbxStream
	// binaries are the KDBX 4 inner header's attachments, by index.
	binaries [][]byte
}

// kdbxKDF is the key derivation a file asks for.
type kdbxKDF struct {
	uuid        []byte
	rounds      uint64 // AES
	seed        []byte // AES seed or Argon2 salt
	memory      uint64 // Argon2, bytes
	iterations  uint64
	parallelism uint32
	version     uint32
}

// kdbxHeader is the parsed outer header.
type kdbxHeader struct {
	major, minor uint16
	cipherID     []byte
	compression  uint32
	masterSeed   []byte
	iv           []byte
	streamKey    []byte // 3.1
	streamStart  []byte // 3.1
	streamID     uint32 // 3.1
	kdf          kdbxKDF
	raw          []byte
}

func kdbxFormatErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", transfer.ErrSourceFormat, fmt.Sprintf(format, args...))
}

// errKDBXTruncated is the message for a file that ends too early.
var errKDBXTruncated = kdbxFormatErr("the KDBX file ends early (truncated or damaged); export it again from KeePass")

// isKDBX reports whether data starts like a KDBX file.
func isKDBX(data []byte) bool {
	return len(data) >= 8 && binary.LittleEndian.Uint32(data) == kdbxSig1 &&
		binary.LittleEndian.Uint32(data[4:]) == kdbxSig2
}

// parseKDBXHeader reads the outer header and checks every parameter
// before any work is done with it. It returns the offset just past it.
func parseKDBXHeader(data []byte) (*kdbxHeader, int, error) {
	if len(data) < 12 {
		if len(data) >= 4 && binary.LittleEndian.Uint32(data) == kdbxSig1 {
			return nil, 0, errKDBXTruncated
		}
		return nil, 0, kdbxFormatErr("this is not a KeePass database (.kdbx)")
	}
	if binary.LittleEndian.Uint32(data) != kdbxSig1 {
		return nil, 0, kdbxFormatErr("this is not a KeePass database (.kdbx)")
	}
	switch binary.LittleEndian.Uint32(data[4:]) {
	case kdbxSig2:
	case kdbxSig2Old:
		return nil, 0, kdbxFormatErr("this is a KeePass 1 database (.kdb); open it in KeePassXC or KeePass 2 and save it as .kdbx first")
	case kdbxSig2Pre:
		return nil, 0, kdbxFormatErr("this database was written by a KeePass 2 pre-release; open it in KeePass 2 and save it again first")
	default:
		return nil, 0, kdbxFormatErr("this is not a KeePass database (.kdbx)")
	}
	h := &kdbxHeader{
		minor: binary.LittleEndian.Uint16(data[8:]),
		major: binary.LittleEndian.Uint16(data[10:]),
	}
	// KDBX 2.x (KeePass 2.00 to 2.19) has the container of 3.x: KeePass
	// and KeePassXC read both with one reader.
	if h.major < 2 || h.major > 4 {
		return nil, 0, kdbxFormatErr("KDBX version %d.%d is not supported (Keyhold reads 2.x, 3.x and 4.x)", h.major, h.minor)
	}
	off := 12
	for {
		var id byte
		var n int
		if h.major == 4 {
			if len(data)-off < 5 {
				return nil, 0, errKDBXTruncated
			}
			id = data[off]
			n64 := binary.LittleEndian.Uint32(data[off+1:])
			off += 5
			if uint64(n64) > uint64(len(data)-off) {
				return nil, 0, errKDBXTruncated
			}
			n = int(n64)
		} else {
			if len(data)-off < 3 {
				return nil, 0, errKDBXTruncated
			}
			id = data[off]
			n = int(binary.LittleEndian.Uint16(data[off+1:]))
			off += 3
			if n > len(data)-off {
				return nil, 0, errKDBXTruncated
			}
		}
		v := data[off : off+n]
		off += n
		switch id {
		case kdbxHdrEnd:
			h.raw = data[:off]
			return h, off, h.check()
		case kdbxHdrComment, kdbxHdrPublicCustom:
		case kdbxHdrCipherID:
			h.cipherID = v
		case kdbxHdrCompression:
			if len(v) != 4 {
				return nil, 0, kdbxFormatErr("the KDBX header's compression field is damaged")
			}
			h.compression = binary.LittleEndian.Uint32(v)
		case kdbxHdrMasterSeed:
			h.masterSeed = v
		case kdbxHdrTransformSeed:
			h.kdf.seed = v
		case kdbxHdrTransformRnds:
			if len(v) != 8 {
				return nil, 0, kdbxFormatErr("the KDBX header's key derivation rounds are damaged")
			}
			h.kdf.rounds = binary.LittleEndian.Uint64(v)
		case kdbxHdrEncryptionIV:
			h.iv = v
		case kdbxHdrStreamKey:
			h.streamKey = v
		case kdbxHdrStreamStart:
			h.streamStart = v
		case kdbxHdrStreamID:
			if len(v) != 4 {
				return nil, 0, kdbxFormatErr("the KDBX header's inner stream field is damaged")
			}
			h.streamID = binary.LittleEndian.Uint32(v)
		case kdbxHdrKDFParameters:
			if err := h.kdf.parse(v); err != nil {
				return nil, 0, err
			}
		default:
			return nil, 0, kdbxFormatErr("the KDBX header holds an unknown field (%d); the file is damaged or from a newer KeePass", id)
		}
	}
}

// check validates what the header asks for.
func (h *kdbxHeader) check() error {
	if len(h.masterSeed) != 32 {
		return kdbxFormatErr("the KDBX header's master seed is missing or damaged")
	}
	switch {
	case bytes.Equal(h.cipherID, gokeepasslib.CipherAES), bytes.Equal(h.cipherID, gokeepasslib.CipherTwoFish):
		if len(h.iv) != 16 {
			return kdbxFormatErr("the KDBX header's encryption IV is missing or damaged")
		}
	case bytes.Equal(h.cipherID, gokeepasslib.CipherChaCha20):
		if len(h.iv) != 12 {
			return kdbxFormatErr("the KDBX header's encryption IV is missing or damaged")
		}
	default:
		return kdbxFormatErr("the database uses a cipher Keyhold does not know (it reads AES-256, ChaCha20 and Twofish)")
	}
	if h.compression > 1 {
		return kdbxFormatErr("the database uses an unknown compression (%d)", h.compression)
	}
	if h.major < 4 {
		h.kdf.uuid = gokeepasslib.KdfAES3
		if len(h.streamStart) != 32 || h.streamKey == nil {
			return kdbxFormatErr("the KDBX %d.%d header is incomplete", h.major, h.minor)
		}
		switch h.streamID {
		case kdbxStreamNone, kdbxStreamArcFour, kdbxStreamSalsa20, kdbxStreamChaCha:
		default:
			return kdbxFormatErr("the database masks protected fields with an unsupported stream (%d)", h.streamID)
		}
	}
	return h.kdf.check()
}

// parse reads the KDBX 4 KDF parameters (a KeePass "variant dictionary").
func (k *kdbxKDF) parse(v []byte) error {
	bad := kdbxFormatErr("the KDBX header's key derivation parameters are damaged")
	if len(v) < 2 || v[1] != 1 {
		return bad
	}
	v = v[2:]
	for {
		if len(v) < 1 {
			return bad
		}
		typ := v[0]
		v = v[1:]
		if typ == 0 {
			return nil
		}
		if len(v) < 4 {
			return bad
		}
		nl := binary.LittleEndian.Uint32(v)
		v = v[4:]
		if uint64(nl) > uint64(len(v)) {
			return bad
		}
		name := string(v[:nl])
		v = v[nl:]
		if len(v) < 4 {
			return bad
		}
		vl := binary.LittleEndian.Uint32(v)
		v = v[4:]
		if uint64(vl) > uint64(len(v)) {
			return bad
		}
		val := v[:vl]
		v = v[vl:]
		u64 := func() (uint64, error) {
			switch len(val) {
			case 4:
				return uint64(binary.LittleEndian.Uint32(val)), nil
			case 8:
				return binary.LittleEndian.Uint64(val), nil
			}
			return 0, bad
		}
		var err error
		var n uint64
		switch name {
		case "$UUID":
			k.uuid = val
		case "R":
			k.rounds, err = u64()
		case "S":
			k.seed = val
		case "M":
			k.memory, err = u64()
		case "I":
			k.iterations, err = u64()
		case "P":
			n, err = u64()
			k.parallelism = uint32(min(n, 1<<24))
		case "V":
			n, err = u64()
			k.version = uint32(min(n, 1<<24))
		case "K", "A":
			if len(val) > 0 {
				return kdbxFormatErr("the database's Argon2 setting uses a secret key or associated data, which Keyhold does not support")
			}
		}
		if err != nil {
			return err
		}
	}
}

// check refuses unknown or absurd key derivation settings before any
// time or memory is spent on them.
func (k *kdbxKDF) check() error {
	switch {
	case bytes.Equal(k.uuid, gokeepasslib.KdfAES3), bytes.Equal(k.uuid, gokeepasslib.KdfAES4):
		if len(k.seed) != 32 {
			return kdbxFormatErr("the database's AES key derivation seed is missing or damaged")
		}
		if k.rounds > maxKDBXAESRounds {
			return kdbxFormatErr("the database's key derivation asks for %d AES rounds; Keyhold opens files with up to %d. Lower the setting in KeePass (Database settings, Security) and try again", k.rounds, maxKDBXAESRounds)
		}
	case bytes.Equal(k.uuid, gokeepasslib.KdfArgon2), bytes.Equal(k.uuid, kdbxArgon2id):
		if len(k.seed) < 8 || len(k.seed) > 1024 {
			return kdbxFormatErr("the database's Argon2 salt is missing or damaged")
		}
		if k.version != 0x13 {
			return kdbxFormatErr("the database uses Argon2 version %#x; Keyhold supports version 0x13 (the one KeePass and KeePassXC write)", k.version)
		}
		if k.parallelism < 1 || k.parallelism > 255 || k.iterations < 1 || k.memory < 8<<10*uint64(k.parallelism) {
			return kdbxFormatErr("the database's Argon2 parameters are damaged")
		}
		if k.memory > maxKDBXArgon2Memory || k.iterations > maxKDBXArgon2Cost/(k.memory>>10) {
			return kdbxFormatErr("the database's Argon2 setting (%d MiB, %d iterations) is beyond what Keyhold opens (%d MiB, %d GiB of memory passes). Lower it in KeePass (Database settings, Security) and try again",
				k.memory>>20, k.iterations, maxKDBXArgon2Memory>>20, maxKDBXArgon2Cost>>20)
		}
	default:
		return kdbxFormatErr("the database uses a key derivation Keyhold does not know (it reads AES-KDF, Argon2d and Argon2id)")
	}
	return nil
}

// kdbxCreds are what opens a database: a password, which KeePass counts
// when it is set even if empty, and a key file.
type kdbxCreds struct {
	password []byte
	// passwordSet: the password is part of the key. A non-empty password
	// always is; an empty one only when the user says so.
	passwordSet bool
	keyFile     []byte
}

// kdbxPassword returns credentials of a password alone.
func kdbxPassword(pw string) kdbxCreds {
	return kdbxCreds{password: []byte(pw), passwordSet: true}
}

// kdbxCompositeKey combines the password and the key file as KeePass does:
// SHA-256 over the hash of each component present. An empty password that
// is set hashes the empty string, which gives a different key than no
// password at all.
func kdbxCompositeKey(c kdbxCreds) ([]byte, error) {
	hasPassword := c.passwordSet || len(c.password) > 0
	if !hasPassword && len(c.keyFile) == 0 {
		return nil, fmt.Errorf("%w: give the database's password (or key file)", transfer.ErrSourcePassword)
	}
	h := sha256.New()
	if hasPassword {
		p := sha256.Sum256(c.password)
		h.Write(p[:])
	}
	if len(c.keyFile) > 0 {
		k, err := gokeepasslib.ParseKeyData(c.keyFile)
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("%w: the key file is damaged or in an unknown format", transfer.ErrSourcePassword)
		}
		h.Write(k)
	}
	return h.Sum(nil), nil
}

// transform runs the key derivation.
func (k *kdbxKDF) transform(composite []byte) []byte {
	switch {
	case bytes.Equal(k.uuid, gokeepasslib.KdfArgon2):
		return argon2.DKey(composite, k.seed, uint32(k.iterations), uint32(k.memory>>10), uint8(k.parallelism), 32)
	case bytes.Equal(k.uuid, kdbxArgon2id):
		return xargon2.IDKey(composite, k.seed, uint32(k.iterations), uint32(k.memory>>10), uint8(k.parallelism), 32)
	}
	// AES-KDF: encrypt both halves of the key with AES-256-ECB, rounds
	// times, keyed by the seed; then hash.
	block, _ := aes.NewCipher(k.seed) // the seed's length is checked
	key := bytes.Clone(composite)
	for i := uint64(0); i < k.rounds; i++ {
		block.Encrypt(key[:16], key[:16])
		block.Encrypt(key[16:], key[16:])
	}
	s := sha256.Sum256(key)
	return s[:]
}

// kdbxHMACBase is the key from which KDBX 4's header and block MACs are
// derived.
func kdbxHMACBase(masterSeed, transformed []byte) []byte {
	h := sha512.New()
	h.Write(masterSeed)
	h.Write(transformed)
	h.Write([]byte{1})
	return h.Sum(nil)
}

// kdbxBlockMAC computes the MAC of KDBX 4 block index over its index, length
// and data; the header's MAC uses the index 2^64-1 for its key and covers
// the header bytes alone.
func kdbxBlockMAC(base []byte, index uint64, data []byte) []byte {
	var idx [8]byte
	binary.LittleEndian.PutUint64(idx[:], index)
	kh := sha512.New()
	kh.Write(idx[:])
	kh.Write(base)
	m := hmac.New(sha256.New, kh.Sum(nil))
	if index != ^uint64(0) {
		var n [4]byte
		binary.LittleEndian.PutUint32(n[:], uint32(len(data)))
		m.Write(idx[:])
		m.Write(n[:])
	}
	m.Write(data)
	return m.Sum(nil)
}

// kdbxCipherKey is the key of the payload cipher.
func kdbxCipherKey(masterSeed, transformed []byte) []byte {
	h := sha256.New()
	h.Write(masterSeed)
	h.Write(transformed)
	return h.Sum(nil)
}

// kdbxDecrypt decrypts with the header's cipher; a CBC payload with
// bad padding means a wrong key.
func kdbxDecrypt(h *kdbxHeader, key, ct []byte) ([]byte, error) {
	if bytes.Equal(h.cipherID, gokeepasslib.CipherChaCha20) {
		c, err := chacha20.NewUnauthenticatedCipher(key, h.iv)
		if err != nil {
			return nil, kdbxFormatErr("the database's cipher setting is damaged")
		}
		out := make([]byte, len(ct))
		c.XORKeyStream(out, ct)
		return out, nil
	}
	var b cipher.Block
	var err error
	if bytes.Equal(h.cipherID, gokeepasslib.CipherTwoFish) {
		b, err = twofish.NewCipher(key)
	} else {
		b, err = aes.NewCipher(key)
	}
	if err != nil {
		return nil, kdbxFormatErr("the database's cipher setting is damaged")
	}
	if len(ct) == 0 || len(ct)%16 != 0 {
		return nil, errKDBXTruncated
	}
	out := make([]byte, len(ct))
	cipher.NewCBCDecrypter(b, h.iv).CryptBlocks(out, ct)
	pad := int(out[len(out)-1])
	if pad < 1 || pad > 16 {
		return nil, errKDBXWrongKey
	}
	for _, p := range out[len(out)-pad:] {
		if int(p) != pad {
			return nil, errKDBXWrongKey
		}
	}
	return out[:len(out)-pad], nil
}

// errKDBXWrongKey is a database that the credentials given do not open.
// A KDBX file cannot tell a wrong password from a wrong key file, nor from
// a missing YubiKey challenge-response (KeePassXC mixes the response into
// the key and marks it nowhere in the file), so the message names all
// three.
var errKDBXWrongKey error = kdbxKeyError{}

// kdbxKeyError is ErrSourcePassword with a message that names every
// credential a KeePass database may need.
type kdbxKeyError struct{}

func (kdbxKeyError) Error() string {
	return "the database's password, key file or YubiKey is wrong or missing " +
		"(a database that also needs a YubiKey challenge-response cannot be imported: remove the YubiKey from its credentials in KeePassXC first)"
}

func (kdbxKeyError) Is(target error) bool { return target == transfer.ErrSourcePassword }

// kdbxDecompress gunzips a payload up to the payload limit.
func kdbxDecompress(h *kdbxHeader, p []byte) ([]byte, error) {
	if h.compression == 0 {
		return p, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(p))
	if err != nil {
		return nil, kdbxFormatErr("the database's compressed content is damaged")
	}
	out, err := io.ReadAll(io.LimitReader(zr, int64(maxKDBXPayload)+1))
	if err != nil {
		return nil, kdbxFormatErr("the database's compressed content is damaged")
	}
	if len(out) > maxKDBXPayload {
		return nil, kdbxFormatErr("the database's content is larger than %d MiB, more than Keyhold imports", maxKDBXPayload>>20)
	}
	return out, nil
}

// openKDBX checks, decrypts and authenticates a KDBX file.
func openKDBX(data []byte, creds kdbxCreds) (*kdbxFile, error) {
	return openKDBXWith(data, creds, (*kdbxKDF).transform)
}

// kdbxDeriver runs a file's key derivation on the composite key. The
// reader uses kdbxKDF.transform; the fuzz targets pass one that answers
// from a table, so that they explore the layers after the derivation at
// thousands of inputs a second instead of one.
type kdbxDeriver func(k *kdbxKDF, composite []byte) []byte

// openKDBXWith is openKDBX with the key derivation given.
func openKDBXWith(data []byte, creds kdbxCreds, derive kdbxDeriver) (*kdbxFile, error) {
	if len(data) > maxKDBXSize {
		return nil, kdbxFormatErr("the file is larger than %d MiB, more than Keyhold imports from KeePass", maxKDBXSize>>20)
	}
	h, off, err := parseKDBXHeader(data)
	if err != nil {
		return nil, err
	}
	composite, err := kdbxCompositeKey(creds)
	if err != nil {
		return nil, err
	}
	transform := func() []byte { return derive(&h.kdf, composite) }
	if h.major == 4 {
		return openKDBX4(h, data[off:], transform)
	}
	return openKDBX3(h, data[off:], transform)
}

func openKDBX4(h *kdbxHeader, rest []byte, transform func() []byte) (*kdbxFile, error) {
	if len(rest) < 64 {
		return nil, errKDBXTruncated
	}
	sum := sha256.Sum256(h.raw)
	if subtle.ConstantTimeCompare(sum[:], rest[:32]) != 1 {
		return nil, kdbxFormatErr("the KDBX header is damaged (its checksum does not match)")
	}
	transformed := transform()
	base := kdbxHMACBase(h.masterSeed, transformed)
	if !hmac.Equal(kdbxBlockMAC(base, ^uint64(0), h.raw), rest[32:64]) {
		return nil, errKDBXWrongKey
	}
	rest = rest[64:]
	var ct []byte
	for index := uint64(0); ; index++ {
		if len(rest) < 36 {
			return nil, errKDBXTruncated
		}
		mac := rest[:32]
		n := binary.LittleEndian.Uint32(rest[32:])
		rest = rest[36:]
		if uint64(n) > uint64(len(rest)) {
			return nil, errKDBXTruncated
		}
		block := rest[:n]
		rest = rest[n:]
		if !hmac.Equal(kdbxBlockMAC(base, index, block), mac) {
			return nil, kdbxFormatErr("the database is damaged (block %d fails its integrity check)", index)
		}
		if n == 0 {
			break
		}
		ct = append(ct, block...)
	}
	plain, err := kdbxDecrypt(h, kdbxCipherKey(h.masterSeed, transformed), ct)
	if errors.Is(err, transfer.ErrSourcePassword) {
		// The MACs passed, so the key is right: the file is damaged.
		return nil, kdbxFormatErr("the database's encrypted content is damaged")
	}
	if err != nil {
		return nil, err
	}
	return kdbx4Payload(h, plain)
}

// kdbx4Payload reads a KDBX 4 file's decrypted content: it decompresses
// it and reads the inner header ahead of the XML.
func kdbx4Payload(h *kdbxHeader, plain []byte) (*kdbxFile, error) {
	plain, err := kdbxDecompress(h, plain)
	if err != nil {
		return nil, err
	}
	f := &kdbxFile{major: 4, header: h.raw}
	// The inner header.
	var streamID uint32
	var streamKey []byte
	for {
		if len(plain) < 5 {
			return nil, kdbxFormatErr("the database's inner header is damaged")
		}
		typ := plain[0]
		n := binary.LittleEndian.Uint32(plain[1:])
		plain = plain[5:]
		if uint64(n) > uint64(len(plain)) {
			return nil, kdbxFormatErr("the database's inner header is damaged")
		}
		v := plain[:n]
		plain = plain[n:]
		if typ == kdbxInnerEnd {
			break
		}
		switch typ {
		case kdbxInnerStreamID:
			if len(v) != 4 {
				return nil, kdbxFormatErr("the database's inner header is damaged")
			}
			streamID = binary.LittleEndian.Uint32(v)
		case kdbxInnerStreamKey:
			streamKey = v
		case kdbxInnerBinary:
			if len(v) < 1 {
				return nil, kdbxFormatErr("the database's inner header holds a damaged attachment")
			}
			f.binaries = append(f.binaries, v[1:])
		}
	}
	f.stream, err = newKDBXStream(streamID, streamKey)
	if err != nil {
		return nil, err
	}
	f.xml = plain
	return f, nil
}

func openKDBX3(h *kdbxHeader, rest []byte, transform func() []byte) (*kdbxFile, error) {
	plain, err := kdbxDecrypt(h, kdbxCipherKey(h.masterSeed, transform()), rest)
	if err != nil {
		return nil, err
	}
	return kdbx3Payload(h, plain)
}

// kdbx3Payload reads a KDBX 2.x or 3.x file's decrypted content: the
// start bytes that tell a right key, the hashed blocks, and the
// compressed XML.
func kdbx3Payload(h *kdbxHeader, plain []byte) (*kdbxFile, error) {
	if len(plain) < 32 || subtle.ConstantTimeCompare(plain[:32], h.streamStart) != 1 {
		return nil, errKDBXWrongKey
	}
	plain = plain[32:]
	// Hashed blocks: index, SHA-256, length, data; a zero length ends.
	var payload []byte
	for index := uint32(0); ; index++ {
		if len(plain) < 40 {
			return nil, errKDBXTruncated
		}
		if binary.LittleEndian.Uint32(plain) != index {
			return nil, kdbxFormatErr("the database is damaged (block %d is out of order)", index)
		}
		hash := plain[4:36]
		n := binary.LittleEndian.Uint32(plain[36:])
		plain = plain[40:]
		if n == 0 {
			break
		}
		if uint64(n) > uint64(len(plain)) {
			return nil, errKDBXTruncated
		}
		block := plain[:n]
		plain = plain[n:]
		if s := sha256.Sum256(block); subtle.ConstantTimeCompare(s[:], hash) != 1 {
			return nil, kdbxFormatErr("the database is damaged (block %d fails its integrity check)", index)
		}
		payload = append(payload, block...)
	}
	payload, err := kdbxDecompress(h, payload)
	if err != nil {
		return nil, err
	}
	stream, err := newKDBXStream(h.streamID, h.streamKey)
	if err != nil {
		return nil, err
	}
	return &kdbxFile{major: h.major, header: h.raw, xml: payload, stream: stream}, nil
}

// kdbxStream unmasks (or masks) protected values: one key stream runs
// through the whole document, value after value.
type kdbxStream interface {
	XORKeyStream(dst, src []byte)
}

func newKDBXStream(id uint32, key []byte) (kdbxStream, error) {
	switch id {
	case kdbxStreamNone:
		return kdbxPlainStream{}, nil
	case kdbxStreamArcFour:
		if len(key) == 0 {
			return nil, kdbxFormatErr("the database's inner stream is damaged")
		}
		return newKDBXArcFour(key), nil
	case kdbxStreamSalsa20:
		k := sha256.Sum256(key)
		return &kdbxSalsa{key: k}, nil
	case kdbxStreamChaCha:
		h := sha512.Sum512(key)
		c, err := chacha20.NewUnauthenticatedCipher(h[:32], h[32:44])
		if err != nil {
			return nil, kdbxFormatErr("the database's inner stream is damaged")
		}
		return c, nil
	}
	return nil, kdbxFormatErr("the database masks protected fields with an unsupported stream (%d)", id)
}

type kdbxPlainStream struct{}

func (kdbxPlainStream) XORKeyStream(dst, src []byte) { copy(dst, src) }

// kdbxSalsa is Salsa20 with KeePass's fixed nonce, kept running across
// calls.
type kdbxSalsa struct {
	key     [32]byte
	counter uint64
	buf     [64]byte
	used    int // bytes of buf consumed; 64 (or 0 at start) means refill
	started bool
}

func (s *kdbxSalsa) XORKeyStream(dst, src []byte) {
	for i := range src {
		if !s.started || s.used == 64 {
			var in [16]byte
			copy(in[:8], kdbxSalsaNonce[:])
			binary.LittleEndian.PutUint64(in[8:], s.counter)
			var zero [64]byte
			salsa.XORKeyStream(s.buf[:], zero[:], &in, &s.key)
			s.counter++
			s.used = 0
			s.started = true
		}
		dst[i] = src[i] ^ s.buf[s.used]
		s.used++
	}
}

// kdbxArcFour is the "ArcFour variant" of KeePass's CryptoRandomStream,
// which masked protected values in the first KeePass 2 releases. It is
// not RC4: its key setup swaps each state byte with the first one
// (S[0] <-> S[j]) rather than with S[i]; the output is RC4's, keyed with
// the header's stream key as it is, after 512 bytes are dropped. Kept to
// read those files only: it protects nothing.
type kdbxArcFour struct {
	s    [256]byte
	i, j byte
}

func newKDBXArcFour(key []byte) *kdbxArcFour {
	a := &kdbxArcFour{}
	for w := range a.s {
		a.s[w] = byte(w)
	}
	var j byte
	k := 0
	for w := range a.s {
		j += a.s[w] + key[k]
		a.s[0], a.s[j] = a.s[j], a.s[0]
		if k++; k >= len(key) {
			k = 0
		}
	}
	var drop [512]byte
	a.XORKeyStream(drop[:], drop[:])
	return a
}

func (a *kdbxArcFour) XORKeyStream(dst, src []byte) {
	for n := range src {
		a.i++
		a.j += a.s[a.i]
		a.s[a.i], a.s[a.j] = a.s[a.j], a.s[a.i]
		dst[n] = src[n] ^ a.s[a.s[a.i]+a.s[a.j]]
	}
}
