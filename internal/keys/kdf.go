package keys

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"
	"unicode"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// KDFParams are the Argon2id cost parameters. They are stored beside every
// envelope and authenticated with it, so a reader knows what to run and a
// tampered set is detected.
type KDFParams struct {
	Time      uint32 // passes over memory
	MemoryKiB uint32 // memory in KiB
	Threads   uint8  // lanes
}

// Default and bounding parameters.
//
// The defaults follow the issue that specified them: t=3, p=4, and memory
// calibrated on the device to about half a second, never below 64 MiB.
// MaxKDF bounds what a reader will run, so that a hostile file cannot demand
// gigabytes of memory or minutes of work; no calibration goes above it.
var (
	DefaultTime    uint32 = 3
	DefaultThreads uint8  = 4
	MinDefaultMiB  uint32 = 64
	MaxKDF                = KDFParams{Time: 16, MemoryKiB: 1 << 20, Threads: 16} // 1 GiB
	// MinKDF is the weakest set accepted at all. It is far below the
	// defaults so that tests and known-answer vectors can run quickly; a
	// user gets below the defaults only with explicit flags and a warning.
	MinKDF = KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}
)

// Errors about KDF parameters.
var (
	ErrKDFTooCostly = errors.New("key derivation parameters exceed what keyhold will run")
	ErrKDFTooWeak   = errors.New("key derivation parameters are below the minimum")
	ErrKDFDowngrade = errors.New("key derivation parameters are weaker than the ones this device last used")
)

// Check reports whether p lies within [MinKDF, MaxKDF].
func (p KDFParams) Check() error {
	if p.Time > MaxKDF.Time || p.MemoryKiB > MaxKDF.MemoryKiB || p.Threads > MaxKDF.Threads {
		return fmt.Errorf("%w (t=%d, m=%d MiB, p=%d; at most t=%d, m=%d MiB, p=%d)", ErrKDFTooCostly,
			p.Time, p.MemoryKiB/1024, p.Threads, MaxKDF.Time, MaxKDF.MemoryKiB/1024, MaxKDF.Threads)
	}
	if p.Time < MinKDF.Time || p.MemoryKiB < MinKDF.MemoryKiB || p.Threads < MinKDF.Threads ||
		p.MemoryKiB < 8*uint32(p.Threads) {
		return fmt.Errorf("%w (t=%d, m=%d KiB, p=%d)", ErrKDFTooWeak, p.Time, p.MemoryKiB, p.Threads)
	}
	return nil
}

// Weaker reports whether p costs less than floor in any dimension that
// matters to an attacker (time or memory). Threads are not a cost.
func (p KDFParams) Weaker(floor KDFParams) bool {
	return p.Time < floor.Time || p.MemoryKiB < floor.MemoryKiB
}

// BelowDefaults reports whether p is weaker than what init would choose.
func (p KDFParams) BelowDefaults() bool {
	return p.Time < DefaultTime || p.MemoryKiB < MinDefaultMiB*1024
}

func (p KDFParams) String() string {
	return fmt.Sprintf("argon2id t=%d m=%dMiB p=%d", p.Time, p.MemoryKiB/1024, p.Threads)
}

// CalibrateMaxMiB caps the memory Calibrate picks. A browser derives
// Argon2id t=3, p=4 at 256 MiB in about 2 s (Go compiled to WebAssembly,
// measured in Chromium), and 512 MiB or 1 GiB takes 3.4–8 s and more
// memory than a phone gives a tab: an account calibrated above the cap on
// a fast desktop could not be opened in the web vault. A user who wants
// more asks for it explicitly (keyhold init --kdf-memory).
const CalibrateMaxMiB uint32 = 256

// Calibrate picks the default parameters for this device: t=3, p=4, and
// memory doubled from 64 MiB for as long as one derivation would stay
// within limit, but never above CalibrateMaxMiB. Doubling memory about
// doubles the time, so with a limit of 1 s the result takes 0.5–1 s on a
// device slower than the cap, as docs/SPEC.md §3 asks; a faster device
// gets the cap and derives faster than that.
func Calibrate(limit time.Duration) KDFParams {
	p := KDFParams{Time: DefaultTime, MemoryKiB: MinDefaultMiB * 1024, Threads: DefaultThreads}
	salt := make([]byte, 16)
	pw := []byte("calibration")
	for {
		// Doubling memory roughly doubles the time. At the cap there is
		// nothing left to measure.
		next := p.MemoryKiB * 2
		if next > CalibrateMaxMiB*1024 || next > MaxKDF.MemoryKiB {
			return p
		}
		// The faster of two runs: a busy machine makes a run slower,
		// never faster, and one slow run would cost a doubling.
		took := time.Duration(1<<63 - 1)
		for range 2 {
			start := time.Now()
			argon2.IDKey(pw, salt, p.Time, p.MemoryKiB, p.Threads, 32)
			took = min(took, time.Since(start))
		}
		if took*2 > limit {
			return p
		}
		p.MemoryKiB = next
	}
}

// NormalizePassword returns the password in the form that is derived:
// Unicode NFKD, with leading and trailing white space removed, so that the
// same password typed on two keyboards or platforms derives the same key.
func NormalizePassword(pw []byte) ([]byte, error) {
	// Append to a fresh slice: Bytes may return pw itself, which must not
	// be cleared under the caller.
	n := norm.NFKD.Append(nil, pw...)
	t := bytes.TrimFunc(n, unicode.IsSpace)
	if len(t) == 0 {
		clear(n)
		return nil, errors.New("the password is empty")
	}
	out := append([]byte(nil), t...)
	clear(n)
	return out, nil
}

// Labels for HKDF. Each names its purpose and the format version, so that
// no two keys can coincide.
const (
	labelSecretKey      = "keyhold v1 secret key"
	labelSecretKeyCheck = "keyhold v1 secret key check"
	labelWrap           = "keyhold v1 wrap key"
	labelLogin          = "keyhold v1 login key"
)

// Derived holds the keys derived from the two secrets.
type Derived struct {
	Wrap  Key32 // wraps the account key (the envelope)
	Login Key32 // the input to the server login protocol
}

// Wipe clears both keys.
func (d *Derived) Wipe() { d.Wrap.Wipe(); d.Login.Wipe() }

// Argon2 computes Argon2id(pw, salt, time, memoryKiB, threads) with a
// 32-byte output, exactly as golang.org/x/crypto/argon2.IDKey does. The
// key schedule takes it as a parameter (DeriveWith) so that a client can
// run this one step elsewhere: the web vault runs it in a Web Worker that
// is terminated afterwards, since a WebAssembly instance's memory never
// shrinks. The rest of the schedule (normalisation, HKDF with the Secret
// Key) stays in DeriveWith. An implementation must not keep pw.
type Argon2 func(pw, salt []byte, time, memoryKiB uint32, threads uint8) ([]byte, error)

// Argon2ID is the Argon2 of golang.org/x/crypto, which Derive uses.
func Argon2ID(pw, salt []byte, time, memoryKiB uint32, threads uint8) ([]byte, error) {
	return argon2.IDKey(pw, salt, time, memoryKiB, threads, 32), nil
}

// Derive runs the two-secret key derivation:
//
//	A  = Argon2id(NormalizePassword(pw), salt, t, m, p, 32)
//	S  = HKDF-SHA256(ikm=SecretKey, salt=AccountID, info="keyhold v1 secret key", 32)
//	M  = HKDF-Extract-SHA256(salt=S, ikm=A)
//	Wrap  = HKDF-Expand(M, "keyhold v1 wrap key", 32)
//	Login = HKDF-Expand(M, "keyhold v1 login key", 32)
//
// Neither secret alone determines M. Parameters are checked against
// MinKDF/MaxKDF first.
func Derive(pw []byte, sk *SecretKey, id AccountID, salt []byte, p KDFParams) (*Derived, error) {
	return DeriveWith(Argon2ID, pw, sk, id, salt, p)
}

// DeriveWith is Derive with A computed by h (nil: Argon2ID). Its result
// must be the 32 bytes Argon2ID gives, or an error; anything else is
// refused rather than derived from.
func DeriveWith(h Argon2, pw []byte, sk *SecretKey, id AccountID, salt []byte, p KDFParams) (*Derived, error) {
	if h == nil {
		h = Argon2ID
	}
	if err := p.Check(); err != nil {
		return nil, err
	}
	if len(salt) != 16 {
		return nil, errors.New("the key derivation salt must be 16 bytes")
	}
	np, err := NormalizePassword(pw)
	if err != nil {
		return nil, err
	}
	a, err := h(np, salt, p.Time, p.MemoryKiB, p.Threads)
	clear(np)
	if err != nil {
		return nil, err
	}
	if len(a) != 32 {
		clear(a)
		return nil, fmt.Errorf("the key derivation returned %d bytes, not 32", len(a))
	}
	s, err := hkdf.Key(sha256.New, sk[:], id[:], labelSecretKey, 32)
	if err != nil {
		return nil, err
	}
	m, err := hkdf.Extract(sha256.New, a, s)
	clear(a)
	clear(s)
	if err != nil {
		return nil, err
	}
	d := new(Derived)
	w, err := hkdf.Expand(sha256.New, m, labelWrap, 32)
	if err != nil {
		return nil, err
	}
	l, err := hkdf.Expand(sha256.New, m, labelLogin, 32)
	if err != nil {
		return nil, err
	}
	copy(d.Wrap[:], w)
	copy(d.Login[:], l)
	clear(m)
	clear(w)
	clear(l)
	return d, nil
}

// SecretKeyCheck is a 16-byte value stored in the envelope that tells a
// wrong Secret Key apart from a wrong password:
//
//	HKDF-SHA256(ikm=SecretKey, salt=AccountID, info="keyhold v1 secret key check", 16)
//
// It reveals nothing about the password, and finding a Secret Key that
// matches it means searching 2^128 keys.
func SecretKeyCheck(sk *SecretKey, id AccountID) [16]byte {
	b, err := hkdf.Key(sha256.New, sk[:], id[:], labelSecretKeyCheck, 16)
	if err != nil {
		panic(err) // only for lengths out of range, which these are not
	}
	var out [16]byte
	copy(out[:], b)
	return out
}
