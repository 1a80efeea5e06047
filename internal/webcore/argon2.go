package webcore

import (
	"math"

	"golang.org/x/crypto/argon2"

	"github.com/keyhold/keyhold/internal/keys"
)

// WorkerArgon2 is the key derivation the Argon2 Worker runs for the page
// (cmd/keyhold-web's worker role): the parameters come from JavaScript
// as numbers of any size, so they are checked against the limits every
// Keyhold client keeps (keys.KDFParams.Check) and the checked values,
// never the raw ones, go to Argon2id. Out of range, it refuses: a thread
// count of 256 would otherwise wrap to 0, which argon2 panics on.
func WorkerArgon2(pw, salt []byte, t, m, p int) ([]byte, error) {
	u32 := func(n int) uint32 { return uint32(min(max(int64(n), 0), math.MaxUint32)) }
	kp := keys.KDFParams{Time: u32(t), MemoryKiB: u32(m), Threads: uint8(min(max(p, 0), math.MaxUint8))}
	if err := kp.Check(); err != nil {
		return nil, err
	}
	return argon2.IDKey(pw, salt, kp.Time, kp.MemoryKiB, kp.Threads, 32), nil
}
