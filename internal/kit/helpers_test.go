package kit

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/keyhold/keyhold/internal/kit/kittext"
)

// alphabet is the text form's alphabet, for the tests of reading kits.
const alphabet = kittext.Alphabet

// randomKit returns a kit with random keys and the given sync location.
func randomKit(r *rand.Rand, sync string) Kit {
	var k Kit
	for i := range k.AccountID {
		k.AccountID[i] = byte(r.Uint32())
		k.SecretKey[i] = byte(r.Uint32())
	}
	k.SyncLocation = sync
	return k
}

// assertNoSecret fails if msg repeats any group of the kit text.
func assertNoSecret(t testing.TB, msg, kitText string) {
	t.Helper()
	for _, g := range strings.Split(strings.TrimPrefix(kitText, "KH1-"), "-") {
		if len(g) < 5 {
			continue
		}
		if strings.Contains(msg, g) || strings.Contains(msg, strings.ToLower(g)) {
			t.Fatalf("message %q contains kit group %q", msg, g)
		}
	}
}
