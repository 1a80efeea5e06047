package mailticket

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
)

// The known-answer vectors in testdata/vectors/mailticket.json are checked
// both ways: the fixed inputs must produce the recorded bytes, and the
// recorded bytes must verify (or fail) as each vector declares. `go test
// ./internal/mailticket -run Vectors -update` rewrites them and the seed
// corpus files from the code; review the diff, since a change means the
// format changed.
var update = flag.Bool("update", false, "rewrite the known-answer vectors and the fuzz seed corpus")

const vectorFile = "../../testdata/vectors/mailticket.json"

// vector is one case. Expect is "ok" or the name of the error Verify must
// return (see errorNames). Seed is the signing key's seed (hex) for the
// vectors it signed, so a reader can check that signing reproduces them
// (Ed25519 signatures are deterministic).
type vector struct {
	Name      string `json:"name"`
	Expect    string `json:"expect"`
	PublicKey string `json:"public_key"`     // text form
	Seed      string `json:"seed,omitempty"` // hex
	Now       string `json:"now"`            // RFC 3339, the verifier's clock
	AccountID string `json:"account_id,omitempty"`
	To        string `json:"to,omitempty"`
	Expires   string `json:"expires,omitempty"`        // RFC 3339
	Nonce     string `json:"nonce,omitempty"`          // hex
	Kind      string `json:"kind,omitempty"`           // plain, pgp or age
	Payload   string `json:"payload_sha256,omitempty"` // hex
	Key       string `json:"recipient_key,omitempty"`  // hex
	Encoded   string `json:"encoded"`                  // hex
	Comment   string `json:"comment,omitempty"`
}

var errorNames = map[string]error{
	"ErrMalformed":  ErrMalformed,
	"ErrVersion":    ErrVersion,
	"ErrForged":     ErrForged,
	"ErrExpired":    ErrExpired,
	"ErrTooLong":    ErrTooLong,
	"ErrBadAddress": ErrBadAddress,
	"ErrKind":       ErrKind,
}

func errName(err error) string {
	if err == nil {
		return "ok"
	}
	for n, e := range errorNames {
		if errors.Is(err, e) {
			return n
		}
	}
	return "unexpected: " + err.Error()
}

// The fixed inputs.
var (
	vecSeed    = []byte("keyhold mail ticket test seed 01") // 32 bytes
	vecSeed2   = []byte("keyhold mail ticket test seed 02")
	vecAccount = uuid.MustParse("01935c1e-7a00-7000-8000-000000000001")
	vecNonce   = [16]byte{0x6e, 0x6f, 0x6e, 0x63, 0x65, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
	vecExpires = time.Date(2026, 3, 1, 12, 10, 0, 0, time.UTC)
	vecNow     = vecExpires.Add(-10 * time.Minute) // issued now
	// vecPayload is the SHA-256 of the payload "sealed kit".
	vecPayload = sha256.Sum256([]byte("sealed kit"))
	// vecFPR is an OpenPGP v4 fingerprint, vecFPR6 a v6 one.
	vecFPR  = mustHex("8e2b0fd3b1a3c9e4f0a61f0c7d2b3a4c5d6e7f80")
	vecFPR6 = mustHex("c0ffee00112233445566778899aabbccddeeff00112233445566778899aabbcc")
	vecAge  = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// v1Body is a version 1 ticket's body (SPEC §15 before payload binding),
// to show that such a ticket is refused even when validly signed.
func v1Body(tk *Ticket) []byte {
	b := []byte(Magic)
	b = append(b, 1)
	b = append(b, tk.AccountID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(tk.Expires.Unix()))
	b = append(b, tk.Nonce[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(tk.To)))
	return append(b, tk.To...)
}

func vecKey(seed []byte) ed25519.PrivateKey {
	k, err := KeyFromSeed(seed)
	if err != nil {
		panic(err)
	}
	return k
}

// rawSign signs the ticket's body without Sign's check of the address, to
// make tickets only a broken or hostile signer would.
func rawSign(k ed25519.PrivateKey, t *Ticket) []byte {
	body := t.body()
	return append(body, ed25519.Sign(k, append([]byte(signContext), body...))...)
}

func makeVectors(t *testing.T) []vector {
	k, k2 := vecKey(vecSeed), vecKey(vecSeed2)
	pub := FormatPublicKey(k.Public().(ed25519.PublicKey))
	base := Ticket{AccountID: vecAccount, To: "alice@example.org", Expires: vecExpires, Nonce: vecNonce,
		Kind: KindPGP, Payload: vecPayload, Key: vecFPR}
	sign := func(tk Ticket) []byte {
		b, err := Sign(k, &tk)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := sign(base)
	mod := func(f func(c []byte) []byte) []byte { return f(bytes.Clone(good)) }
	var out []vector
	add := func(name, expect string, tk *Ticket, seed []byte, pubKey string, now time.Time, b []byte, comment string) {
		v := vector{Name: name, Expect: expect, PublicKey: pubKey, Now: now.UTC().Format(time.RFC3339), Encoded: hex.EncodeToString(b), Comment: comment}
		if tk != nil {
			v.AccountID = uuid.UUID(tk.AccountID).String()
			v.To = tk.To
			v.Expires = tk.Expires.UTC().Format(time.RFC3339)
			v.Nonce = hex.EncodeToString(tk.Nonce[:])
			v.Kind = tk.Kind.String()
			v.Payload = hex.EncodeToString(tk.Payload[:])
			v.Key = hex.EncodeToString(tk.Key)
		}
		if seed != nil {
			v.Seed = hex.EncodeToString(seed)
		}
		out = append(out, v)
	}
	add("valid ticket, OpenPGP v4 key", "ok", &base, vecSeed, pub, vecNow, good, "")
	v6 := base
	v6.Key = vecFPR6
	add("valid ticket, OpenPGP v6 key", "ok", &v6, vecSeed, pub, vecNow, sign(v6), "")
	ag := base
	ag.Kind, ag.Key = KindAge, AgeRecipientID(vecAge)
	add("valid ticket, age", "ok", &ag, vecSeed, pub, vecNow, sign(ag), "recipient_key is SHA-256(\""+vecAge+"\")")
	pl := base
	pl.Kind, pl.Key = KindPlain, []byte{}
	add("valid ticket, plain", "ok", &pl, vecSeed, pub, vecNow, sign(pl), "an unencrypted kit: no recipient key")
	utf := base
	utf.To = "élodie@exemple.fr"
	add("valid ticket, UTF-8 address", "ok", &utf, vecSeed, pub, vecNow, sign(utf), "")
	add("valid a second before expiry", "ok", &base, vecSeed, pub, vecExpires.Add(-time.Second), good, "")
	add("expired", "ErrExpired", &base, vecSeed, pub, vecExpires, good, "at the expiry second the ticket is expired")
	add("verifier's clock over an hour behind", "ErrTooLong", &base, vecSeed, pub, vecExpires.Add(-MaxLifetime-time.Second), good,
		"expiry more than MaxLifetime after now")
	long := base
	long.Expires = vecNow.Add(2 * time.Hour)
	add("signed for two hours", "ErrTooLong", &long, vecSeed, pub, vecNow, sign(long), "")
	add("another server's key", "ErrForged", &base, vecSeed, FormatPublicKey(k2.Public().(ed25519.PublicKey)), vecNow, good,
		"verified with a key that did not sign it")
	other := base
	other.AccountID[15] = 2
	add("account id changed after signing", "ErrForged", nil, nil, pub, vecNow,
		append(other.body(), good[len(good)-ed25519.SignatureSize:]...), "")
	swapped := base
	swapped.Payload[0] ^= 1
	add("payload hash changed after signing", "ErrForged", nil, nil, pub, vecNow,
		append(swapped.body(), good[len(good)-ed25519.SignatureSize:]...), "a caller cannot reuse a ticket for another payload")
	rekind := base
	rekind.Kind = KindPlain
	rekind.Key = nil
	add("sealed kind and key changed after signing", "ErrForged", nil, nil, pub, vecNow,
		append(rekind.body(), good[len(good)-ed25519.SignatureSize:]...), "")
	add("flipped signature bit", "ErrForged", nil, nil, pub, vecNow, mod(func(c []byte) []byte { c[len(c)-1] ^= 1; return c }), "")
	add("signature without the context", "ErrForged", nil, nil, pub, vecNow,
		append(base.body(), ed25519.Sign(k, base.body())...), `an Ed25519 signature over the body alone, without "keyhold mail ticket v2\x00"`)
	add("version 1, validly signed", "ErrVersion", nil, nil, pub, vecNow,
		append(v1Body(&base), ed25519.Sign(k, append([]byte("keyhold mail ticket v1\x00"), v1Body(&base)...))...),
		"version 1 bound no payload; a verifier refuses it")
	add("wrong magic", "ErrMalformed", nil, nil, pub, vecNow, mod(func(c []byte) []byte { c[0] = 'X'; return c }), "")
	add("version 3", "ErrVersion", nil, nil, pub, vecNow, mod(func(c []byte) []byte { c[4] = 3; return c }), "")
	add("truncated", "ErrMalformed", nil, nil, pub, vecNow, good[:len(good)-1], "")
	add("trailing byte", "ErrMalformed", nil, nil, pub, vecNow, append(bytes.Clone(good), 0), "")
	add("address length too long", "ErrMalformed", nil, nil, pub, vecNow, mod(func(c []byte) []byte { c[fixedSize+len(base.Key)+1]++; return c }), "")
	add("key length too long", "ErrMalformed", nil, nil, pub, vecNow, mod(func(c []byte) []byte { c[fixedSize-1]++; return c }), "")
	badKind := base
	badKind.Kind = 0
	add("signed kind 0", "ErrKind", nil, nil, pub, vecNow, rawSign(k, &badKind), "a validly signed ticket that names no kind")
	add("empty", "ErrMalformed", nil, nil, pub, vecNow, nil, "")
	bad := base
	bad.To = "Alice <alice@example.org>"
	add("signed display name", "ErrBadAddress", nil, nil, pub, vecNow, rawSign(k, &bad),
		"a validly signed ticket whose address is not a plain address: the reader refuses it anyway")
	far := base
	far.Expires = time.Unix(1<<62+1, 0).UTC()
	add("signed expiry beyond 2^62", "ErrMalformed", nil, nil, pub, vecNow, rawSign(k, &far), "")
	return out
}

func TestVectors(t *testing.T) {
	made := makeVectors(t)
	if *update {
		b, err := json.MarshalIndent(made, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		writeCorpus(t, made)
	}
	raw, err := os.ReadFile(vectorFile)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/mailticket -run Vectors -update to create)", err)
	}
	var stored []vector
	if err := json.Unmarshal(raw, &stored); err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(made)
	b, _ := json.Marshal(stored)
	if !bytes.Equal(a, b) {
		t.Errorf("the code no longer produces %s: the format changed (or run -update after a deliberate change)", vectorFile)
	}
	if len(stored) < 10 {
		t.Fatalf("only %d vectors", len(stored))
	}
	for _, v := range stored {
		t.Run(v.Name, func(t *testing.T) { checkVector(t, v) })
	}
}

// checkVector checks one stored vector from its text alone.
func checkVector(t *testing.T, v vector) {
	if _, ok := errorNames[v.Expect]; !ok && v.Expect != "ok" {
		t.Fatalf("unknown expectation %q", v.Expect)
	}
	pub, err := ParsePublicKey(v.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	now, err := time.Parse(time.RFC3339, v.Now)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := hex.DecodeString(v.Encoded)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(pub, enc, now)
	if errName(err) != v.Expect {
		t.Fatalf("Verify: %v, want %s", err, v.Expect)
	}
	if v.AccountID == "" {
		return
	}
	// The declared fields: for an accepted ticket they are what Verify
	// read, and for every vector with a seed, signing them gives exactly
	// the recorded bytes.
	kind, err := ParseKind(v.Kind)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := hex.DecodeString(v.Payload)
	if err != nil || len(payload) != sha256.Size {
		t.Fatalf("payload %q", v.Payload)
	}
	key, err := hex.DecodeString(v.Key)
	if err != nil {
		t.Fatal(err)
	}
	want := Ticket{AccountID: uuid.MustParse(v.AccountID), To: v.To, Kind: kind, Payload: [32]byte(payload), Key: key}
	want.Expires, err = time.Parse(time.RFC3339, v.Expires)
	if err != nil {
		t.Fatal(err)
	}
	nonce, err := hex.DecodeString(v.Nonce)
	if err != nil || len(nonce) != 16 {
		t.Fatalf("nonce %q", v.Nonce)
	}
	copy(want.Nonce[:], nonce)
	if got != nil && !got.Equal(&want) {
		t.Errorf("verified %+v, declared %+v", *got, want)
	}
	if parsed, _, _, err := Parse(enc); err != nil || !parsed.Equal(&want) {
		t.Errorf("parsed %+v (%v), declared %+v", parsed, err, want)
	}
	if v.Seed != "" {
		seed, err := hex.DecodeString(v.Seed)
		if err != nil {
			t.Fatal(err)
		}
		k, err := KeyFromSeed(seed)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Sign(k, &want)
		if err != nil || !bytes.Equal(b, enc) {
			t.Errorf("signing the declared fields gives %x (%v), recorded %x", b, err, enc)
		}
	}
}

// writeCorpus writes the fuzz seed corpus from the vectors, in the format
// of go test's testdata/fuzz.
func writeCorpus(t *testing.T, vs []vector) {
	for _, target := range []string{"FuzzParse", "FuzzVerify"} {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, v := range vs {
			enc, _ := hex.DecodeString(v.Encoded)
			now, _ := time.Parse(time.RFC3339, v.Now)
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", enc)
			if target == "FuzzVerify" {
				body += fmt.Sprintf("int64(%d)\n", now.Unix())
			}
			name := filepath.Join(dir, fmt.Sprintf("vector-%02d", i))
			if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzCheckAddress")
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, a := range []string{"alice@example.org", "élodie@exemple.fr", "Alice <alice@example.org>", "a@b", "alice@exa\u202emple.org", "alice\u0085@example.org"} {
		body := fmt.Sprintf("go test fuzz v1\nstring(%q)\n", a)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
