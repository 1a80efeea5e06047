package mailticket

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// The reader must never panic, and what it accepts must be the one
// encoding of its ticket (no malleability): re-encoding gives the same
// bytes. The seed corpus is the vectors (testdata/fuzz, and the vector
// file itself).

func seedVectors(f *testing.F) []vector {
	raw, err := os.ReadFile(vectorFile)
	if err != nil {
		f.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(raw, &vs); err != nil {
		f.Fatal(err)
	}
	return vs
}

func FuzzParse(f *testing.F) {
	for _, v := range seedVectors(f) {
		b, _ := hex.DecodeString(v.Encoded)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tk, body, sig, err := Parse(b)
		if err != nil {
			if tk != nil || body != nil || sig != nil {
				t.Fatal("Parse returned a ticket with an error")
			}
			return
		}
		if !bytes.Equal(tk.body(), body) || !bytes.Equal(append(bytes.Clone(body), sig...), b) {
			t.Fatal("re-encoding differs")
		}
		if len(sig) != ed25519.SignatureSize || CheckAddress(tk.To) != nil || CheckKey(tk.Kind, tk.Key) != nil || tk.Expires.Unix() < 0 {
			t.Fatalf("accepted %+v", tk)
		}
	})
}

// FuzzVerify verifies with the vectors' key at a fuzzed time: whatever is
// accepted must be exactly what that key signs for its fields, and valid
// at that time for at most MaxLifetime.
func FuzzVerify(f *testing.F) {
	for _, v := range seedVectors(f) {
		b, _ := hex.DecodeString(v.Encoded)
		now, _ := time.Parse(time.RFC3339, v.Now)
		f.Add(b, now.Unix())
	}
	k := vecKey(vecSeed)
	pub := k.Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, b []byte, nowUnix int64) {
		now := time.Unix(nowUnix, 0)
		tk, err := Verify(pub, b, now)
		if err != nil {
			if tk != nil {
				t.Fatal("Verify returned a ticket with an error")
			}
			return
		}
		again, err := Sign(k, tk)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatal("accepted bytes the key would not sign for these fields")
		}
		if !now.Before(tk.Expires) || tk.Expires.Sub(now) > MaxLifetime {
			t.Fatalf("accepted a ticket expiring %v at %v", tk.Expires, now)
		}
	})
}

// FuzzCheckAddress: an accepted address is one mailbox with nothing that
// could break or reorder a header line.
func FuzzCheckAddress(f *testing.F) {
	f.Add("alice@example.org")
	f.Add("Alice <alice@example.org>")
	f.Fuzz(func(t *testing.T, a string) {
		if CheckAddress(a) != nil {
			return
		}
		if len(a) > MaxAddress || !utf8.ValidString(a) || strings.Count(a, "@") != 1 {
			t.Fatalf("accepted %q", a)
		}
		for _, r := range a {
			if unicode.IsControl(r) || unicode.IsSpace(r) || unicode.Is(unicode.Bidi_Control, r) || strings.ContainsRune("<>,;\"", r) {
				t.Fatalf("accepted %q with %U", a, r)
			}
		}
	})
}
