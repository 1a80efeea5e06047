package bitwarden

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/build"
)

// This file opens Bitwarden's password-protected JSON export. The
// construction, as Bitwarden's clients write it:
//
//	salt   = base64 of 16 random bytes; the KDF takes the base64 TEXT as salt
//	key    = PBKDF2-HMAC-SHA256(password, salt, kdfIterations, 32 bytes)   kdfType 0
//	       | Argon2id(password, SHA-256(salt), kdfIterations,
//	                  kdfMemory MiB, kdfParallelism, 32 bytes)             kdfType 1
//	encKey = HKDF-Expand-SHA256(key, info "enc", 32)
//	macKey = HKDF-Expand-SHA256(key, info "mac", 32)
//	encKeyValidation_DO_NOT_EDIT = EncString of a random UUID
//	data   = EncString of the unencrypted .json export
//
// An EncString of type 2 is "2.<iv>|<ciphertext>|<mac>", each part base64:
// AES-256-CBC with PKCS#7 padding under encKey, and HMAC-SHA256 under
// macKey over iv || ciphertext. The MAC is checked, in constant time,
// before anything is decrypted. Other EncString types are refused: type 0
// has no MAC, and exports never use the rest.

// bwKDFLimits bounds the KDF cost a file may ask for, so that a hostile
// file cannot tie up the machine. The maxima are Bitwarden's own; the
// minima are Bitwarden's too, since it refuses weaker settings.
type bwKDFLimits struct {
	minPBKDF2, maxPBKDF2 int64
	minArgonTime         int64
	maxArgonTime         int64
	minArgonMiB          int64
	maxArgonMiB          int64
	maxArgonThreads      int64
}

var bwLimits = bwKDFLimits{
	minPBKDF2: 5000, maxPBKDF2: 2_000_000,
	minArgonTime: 2, maxArgonTime: 10,
	minArgonMiB: 16, maxArgonMiB: 1024,
	maxArgonThreads: 16,
}

// Bitwarden KDF types.
const (
	bwKDFPBKDF2   = 0
	bwKDFArgon2id = 1
)

// bwKeys are the two halves of a stretched Bitwarden key.
type bwKeys struct {
	enc, mac []byte
}

// bwDecryptExport checks the password against encKeyValidation and then
// decrypts the export's data.
func bwDecryptExport(exp *bwExport, password []byte) ([]byte, error) {
	if exp.KdfType == nil || exp.KdfIterations == nil || exp.Salt == "" {
		return nil, fmt.Errorf("%w: the password-protected export lacks its KDF settings (\"kdfType\", \"kdfIterations\", \"salt\"); the file is damaged", transfer.ErrSourceFormat)
	}
	validation, err := bwParseEncString(exp.EncKeyValidation)
	if err != nil {
		return nil, fmt.Errorf("%w: \"encKeyValidation_DO_NOT_EDIT\": %w", transfer.ErrSourceFormat, err)
	}
	payload, err := bwParseEncString(exp.Data)
	if err != nil {
		return nil, fmt.Errorf("%w: \"data\": %w", transfer.ErrSourceFormat, err)
	}
	if len(password) == 0 {
		return nil, fmt.Errorf("%w: this Bitwarden export is password-protected and needs its password", transfer.ErrSourcePassword)
	}
	keys, err := bwDeriveKeys(password, exp.Salt, *exp.KdfType, *exp.KdfIterations, exp.KdfMemory, exp.KdfParallelism)
	if err != nil {
		return nil, err
	}
	if _, err := validation.open(keys); err != nil {
		return nil, fmt.Errorf("%w: the password does not open this Bitwarden export", transfer.ErrSourcePassword)
	}
	plain, err := payload.open(keys)
	if err != nil {
		return nil, fmt.Errorf("%w: the password is right but the export's data does not decrypt; the file is damaged or was edited", transfer.ErrSourceFormat)
	}
	return plain, nil
}

// bwDeriveKeys derives the stretched key from the export's password.
func bwDeriveKeys(password []byte, salt string, kdfType int, iterations int64, memory, parallelism *int64) (bwKeys, error) {
	key, err := bwKDF(password, salt, kdfType, iterations, memory, parallelism)
	if err != nil {
		return bwKeys{}, err
	}
	return bwStretch(key)
}

// bwKDF runs the export's KDF within bwLimits and returns its 32 bytes.
func bwKDF(password []byte, salt string, kdfType int, iterations int64, memory, parallelism *int64) ([]byte, error) {
	var key []byte
	switch kdfType {
	case bwKDFPBKDF2:
		if iterations < bwLimits.minPBKDF2 || iterations > bwLimits.maxPBKDF2 {
			return nil, fmt.Errorf("%w: the export asks for %d PBKDF2 iterations; Bitwarden writes between %d and %d", transfer.ErrSourceFormat, iterations, bwLimits.minPBKDF2, bwLimits.maxPBKDF2)
		}
		k, err := pbkdf2.Key(sha256.New, string(password), []byte(salt), int(iterations), 32)
		if err != nil {
			return nil, fmt.Errorf("%w: PBKDF2: %v", transfer.ErrSourceFormat, err)
		}
		key = k
	case bwKDFArgon2id:
		if memory == nil || parallelism == nil {
			return nil, fmt.Errorf("%w: the export uses Argon2id but lacks \"kdfMemory\" or \"kdfParallelism\"; the file is damaged", transfer.ErrSourceFormat)
		}
		if iterations < bwLimits.minArgonTime || iterations > bwLimits.maxArgonTime ||
			*memory < bwLimits.minArgonMiB || *memory > bwLimits.maxArgonMiB ||
			*parallelism < 1 || *parallelism > bwLimits.maxArgonThreads {
			return nil, fmt.Errorf("%w: the export's Argon2id settings (%d iterations, %d MiB, %d threads) are outside what Bitwarden writes (%d-%d iterations, %d-%d MiB, 1-%d threads)",
				transfer.ErrSourceFormat, iterations, *memory, *parallelism, bwLimits.minArgonTime, bwLimits.maxArgonTime, bwLimits.minArgonMiB, bwLimits.maxArgonMiB, bwLimits.maxArgonThreads)
		}
		// Bitwarden hashes the salt text before handing it to Argon2id.
		saltHash := sha256.Sum256([]byte(salt))
		key = argon2.IDKey(password, saltHash[:], uint32(iterations), uint32(*memory)*1024, uint8(*parallelism), 32)
	default:
		return nil, fmt.Errorf("%w: the export uses KDF type %d; Keyhold knows 0 (PBKDF2) and 1 (Argon2id)", transfer.ErrSourceFormat, kdfType)
	}
	return key, nil
}

// bwStretch expands a 32-byte KDF output into the encryption and MAC keys
// with HKDF-Expand (no Extract step), as Bitwarden does.
func bwStretch(key []byte) (bwKeys, error) {
	enc, err := hkdf.Expand(sha256.New, key, "enc", 32)
	if err != nil {
		return bwKeys{}, err
	}
	mac, err := hkdf.Expand(sha256.New, key, "mac", 32)
	if err != nil {
		return bwKeys{}, err
	}
	return bwKeys{enc: enc, mac: mac}, nil
}

// bwEncString is a parsed type 2 EncString.
type bwEncString struct {
	iv, ct, mac []byte
}

// bwEncTypeAESCBCHMAC is EncString type 2, AesCbc256_HmacSha256_B64.
const bwEncTypeAESCBCHMAC = "2"

// bwParseEncString parses "2.iv|ct|mac".
func bwParseEncString(s string) (*bwEncString, error) {
	typ, rest, ok := strings.Cut(s, ".")
	if !ok {
		return nil, errors.New("not an encrypted value (expected \"2.iv|data|mac\")")
	}
	if typ != bwEncTypeAESCBCHMAC {
		return nil, fmt.Errorf("encryption type %q is not supported; Bitwarden exports use type 2", build.Clip(typ, 8))
	}
	parts := strings.Split(rest, "|")
	if len(parts) != 3 {
		return nil, errors.New("an encrypted value does not have three parts (iv|data|mac)")
	}
	var e bwEncString
	var err error
	if e.iv, err = base64.StdEncoding.DecodeString(parts[0]); err != nil || len(e.iv) != aes.BlockSize {
		return nil, errors.New("the IV of an encrypted value is not 16 bytes of base64")
	}
	if e.ct, err = base64.StdEncoding.DecodeString(parts[1]); err != nil || len(e.ct) == 0 || len(e.ct)%aes.BlockSize != 0 {
		return nil, errors.New("the ciphertext of an encrypted value is not whole AES blocks of base64")
	}
	if e.mac, err = base64.StdEncoding.DecodeString(parts[2]); err != nil || len(e.mac) != sha256.Size {
		return nil, errors.New("the MAC of an encrypted value is not 32 bytes of base64")
	}
	return &e, nil
}

var errBwMAC = errors.New("MAC mismatch")

// open checks the MAC and decrypts.
func (e *bwEncString) open(k bwKeys) ([]byte, error) {
	m := hmac.New(sha256.New, k.mac)
	m.Write(e.iv)
	m.Write(e.ct)
	if !hmac.Equal(m.Sum(nil), e.mac) {
		return nil, errBwMAC
	}
	block, err := aes.NewCipher(k.enc)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(e.ct))
	cipher.NewCBCDecrypter(block, e.iv).CryptBlocks(out, e.ct)
	n := int(out[len(out)-1])
	if n == 0 || n > aes.BlockSize {
		return nil, errors.New("bad padding")
	}
	for _, b := range out[len(out)-n:] {
		if int(b) != n {
			return nil, errors.New("bad padding")
		}
	}
	return out[:len(out)-n], nil
}
