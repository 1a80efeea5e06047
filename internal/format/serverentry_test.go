package format

import (
	"encoding/hex"
	"testing"

	"github.com/keyhold/keyhold/internal/keys"
)

// TestServerEntryKnownAnswer checks ServerEntry (SPEC §14.1) against a
// value computed independently (Python's hmac module):
// HMAC-SHA256(mk, "server entry" || id || u64(7) || boxHash) with mk =
// 00 01 … 1f, id = a0 … af, boxHash = 40 … 5f.
func TestServerEntryKnownAnswer(t *testing.T) {
	var mk keys.Key32
	for i := range mk {
		mk[i] = byte(i)
	}
	var id [16]byte
	for i := range id {
		id[i] = byte(0xa0 + i)
	}
	var h [32]byte
	for i := range h {
		h[i] = byte(0x40 + i)
	}
	e := ServerEntry(&mk, id, 7, h)
	if got, want := hex.EncodeToString(e[:]), "c2b1d60dce2d1737aff9ddb298a8ebf80f2bac40df68f05fd6fd175b7a3b5747"; got != want {
		t.Fatalf("ServerEntry = %s, want %s", got, want)
	}
	h[31] ^= 1
	if e2 := ServerEntry(&mk, id, 7, h); e2 == e {
		t.Fatal("ServerEntry ignores the box hash")
	}
}
