package mailticket

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	testAccount = [16]byte{0x01, 0x93, 0x5c, 0x1e, 0x7a, 0x00, 0x70, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01}
	testNow     = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	testPayload = sha256.Sum256([]byte("a sealed kit"))
	testFPR     = bytes.Repeat([]byte{0xfb}, 20) // an OpenPGP v4 fingerprint
)

// addrLenAt is where the address length (two bytes) of tk's encoding
// starts.
func addrLenAt(tk *Ticket) int { return fixedSize + len(tk.Key) }

func testKey(b byte) ed25519.PrivateKey {
	seed := bytes.Repeat([]byte{b}, ed25519.SeedSize)
	k, err := KeyFromSeed(seed)
	if err != nil {
		panic(err)
	}
	return k
}

func pubOf(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// signed makes and signs a ticket to alice valid for ten minutes from
// testNow.
func signed(t *testing.T, k ed25519.PrivateKey) (*Ticket, []byte) {
	t.Helper()
	tk, err := New(testAccount, "alice@example.org", KindPGP, testPayload, testFPR, testNow.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Sign(k, tk)
	if err != nil {
		t.Fatal(err)
	}
	return tk, b
}

func TestRoundTrip(t *testing.T) {
	k := testKey(1)
	tk, b := signed(t, k)
	if len(b) != fixedSize+len(tk.Key)+2+len(tk.To)+ed25519.SignatureSize {
		t.Fatalf("ticket of %d bytes", len(b))
	}
	got, err := Verify(pubOf(k), b, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(tk) {
		t.Fatalf("verified %+v, signed %+v", got, tk)
	}
	// A second ticket for the same account and address differs in its
	// nonce, so a mailer accepting each nonce once accepts both.
	tk2, b2 := signed(t, k)
	if tk2.Nonce == tk.Nonce || bytes.Equal(b, b2) {
		t.Fatal("two tickets share a nonce")
	}
}

// TestPayloadBinding: a ticket matches the payload it was signed for and
// no other, and New refuses a key id that does not fit the kind.
func TestPayloadBinding(t *testing.T) {
	k := testKey(1)
	tk, b := signed(t, k)
	got, err := Verify(pubOf(k), b, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Matches([]byte("a sealed kit")) {
		t.Fatal("the ticket does not match its own payload")
	}
	if got.Matches([]byte("a sealed kit.")) || got.Matches(nil) {
		t.Fatal("the ticket matches another payload")
	}
	if got.Kind != KindPGP || !bytes.Equal(got.Key, testFPR) || got.Payload != tk.Payload {
		t.Fatalf("kind %v key %x", got.Kind, got.Key)
	}
	for _, tc := range []struct {
		kind Kind
		key  []byte
	}{
		{KindPlain, testFPR}, {KindPGP, nil}, {KindPGP, make([]byte, 21)}, {KindAge, testFPR}, {0, nil}, {4, nil},
	} {
		if _, err := New(testAccount, "alice@example.org", tc.kind, testPayload, tc.key, testNow); !errors.Is(err, ErrKind) {
			t.Errorf("New(%v, %d-byte key): %v, want ErrKind", tc.kind, len(tc.key), err)
		}
	}
	for _, name := range []string{"plain", "pgp", "age"} {
		if k, err := ParseKind(name); err != nil || k.String() != name {
			t.Errorf("ParseKind(%q) = %v, %v", name, k, err)
		}
	}
	if _, err := ParseKind("none"); !errors.Is(err, ErrKind) {
		t.Errorf("ParseKind(none): %v", err)
	}
}

func TestNewTruncatesExpiry(t *testing.T) {
	tk, err := New(testAccount, "alice@example.org", KindPGP, testPayload, testFPR, testNow.Add(10*time.Minute+700*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if !tk.Expires.Equal(testNow.Add(10 * time.Minute)) {
		t.Fatalf("expires %v", tk.Expires)
	}
}

// TestEveryBitFlipRefused: no single-bit change to a ticket verifies.
func TestEveryBitFlipRefused(t *testing.T) {
	k := testKey(1)
	_, b := signed(t, k)
	for i := range len(b) * 8 {
		c := bytes.Clone(b)
		c[i/8] ^= 1 << (i % 8)
		if _, err := Verify(pubOf(k), c, testNow); err == nil {
			t.Fatalf("flipping bit %d of byte %d verifies", i%8, i/8)
		} else if i/8 >= 5 && i/8 < fixedSize-1 && !errors.Is(err, ErrForged) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrKind) {
			// Account, expiry, nonce, kind and payload bytes are signed: a flip there is
			// a forgery (or an expiry out of range), not some other error.
			t.Fatalf("flipping a bit of byte %d: %v", i/8, err)
		}
	}
}

func TestExpiry(t *testing.T) {
	k := testKey(1)
	tk, b := signed(t, k)
	for _, tc := range []struct {
		name string
		now  time.Time
		want error
	}{
		{"issued", testNow, nil},
		{"a second before expiry", tk.Expires.Add(-time.Second), nil},
		{"a nanosecond before expiry", tk.Expires.Add(-time.Nanosecond), nil},
		{"at expiry", tk.Expires, ErrExpired},
		{"a day later", tk.Expires.Add(24 * time.Hour), ErrExpired},
		{"the mailer's clock an hour behind", tk.Expires.Add(-MaxLifetime), nil},
		{"the mailer's clock more than an hour behind", tk.Expires.Add(-MaxLifetime - time.Second), ErrTooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Verify(pubOf(k), b, tc.now); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestTooLongLifetime(t *testing.T) {
	k := testKey(1)
	for _, life := range []time.Duration{MaxLifetime + time.Second, 24 * time.Hour, 100 * 365 * 24 * time.Hour} {
		tk, err := New(testAccount, "alice@example.org", KindPGP, testPayload, testFPR, testNow.Add(life))
		if err != nil {
			t.Fatal(err)
		}
		b, err := Sign(k, tk)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(pubOf(k), b, testNow); !errors.Is(err, ErrTooLong) {
			t.Errorf("lifetime %v: %v, want ErrTooLong", life, err)
		}
	}
}

func TestWrongKey(t *testing.T) {
	_, b := signed(t, testKey(1))
	for _, pub := range []ed25519.PublicKey{pubOf(testKey(2)), nil, make(ed25519.PublicKey, 31), make(ed25519.PublicKey, ed25519.PublicKeySize)} {
		if _, err := Verify(pub, b, testNow); !errors.Is(err, ErrForged) {
			t.Errorf("key %x: %v, want ErrForged", []byte(pub), err)
		}
	}
}

// TestContextBindsSignature: a plain Ed25519 signature of the server over
// the same bytes (made for some other purpose) is not a ticket signature.
func TestContextBindsSignature(t *testing.T) {
	k := testKey(1)
	tk, _ := signed(t, k)
	body := tk.body()
	b := append(bytes.Clone(body), ed25519.Sign(k, body)...)
	if _, err := Verify(pubOf(k), b, testNow); !errors.Is(err, ErrForged) {
		t.Fatalf("got %v, want ErrForged", err)
	}
}

func TestTruncatedAndTrailing(t *testing.T) {
	k := testKey(1)
	_, b := signed(t, k)
	for n := range len(b) {
		if _, err := Verify(pubOf(k), b[:n], testNow); !errors.Is(err, ErrMalformed) {
			t.Fatalf("first %d bytes: %v, want ErrMalformed", n, err)
		}
	}
	for _, extra := range [][]byte{{0}, {'x'}, b} {
		if _, err := Verify(pubOf(k), append(bytes.Clone(b), extra...), testNow); !errors.Is(err, ErrMalformed) {
			t.Fatalf("with %d trailing bytes: %v, want ErrMalformed", len(extra), err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	k := testKey(1)
	tk, b := signed(t, k)
	mod := func(f func(c []byte) []byte) []byte { return f(bytes.Clone(b)) }
	resign := func(tk Ticket) []byte { // signs even what Sign refuses
		body := tk.body()
		return append(body, ed25519.Sign(k, append([]byte(signContext), body...))...)
	}
	withTo := *tk
	withTo.To = "alice @example.org"
	farExpiry := *tk
	farExpiry.Expires = time.Unix(1<<62+1, 0)
	withKind := *tk
	withKind.Kind = 9
	withKey := *tk
	withKey.Key = bytes.Repeat([]byte{1}, 31)
	plainKey := *tk
	plainKey.Kind = KindPlain
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"magic only", []byte("KHMT"), ErrMalformed},
		{"wrong magic", mod(func(c []byte) []byte { c[3] = 'X'; return c }), ErrMalformed},
		{"version 0", mod(func(c []byte) []byte { c[4] = 0; return c }), ErrVersion},
		{"version 1 (bound no payload)", mod(func(c []byte) []byte { c[4] = 1; return c }), ErrVersion},
		{"version 3", mod(func(c []byte) []byte { c[4] = 3; return c }), ErrVersion},
		{"version 1, short", []byte("KHMT\x01"), ErrVersion},
		{"address length one more", mod(func(c []byte) []byte { c[addrLenAt(tk)+1]++; return c }), ErrMalformed},
		{"address length one less", mod(func(c []byte) []byte { c[addrLenAt(tk)+1]--; return c }), ErrMalformed},
		{"address length huge", mod(func(c []byte) []byte { c[addrLenAt(tk)] = 0xff; return c }), ErrMalformed},
		{"key length one more", mod(func(c []byte) []byte { c[fixedSize-1]++; return c }), ErrMalformed},
		{"key length beyond MaxKey", mod(func(c []byte) []byte { c[fixedSize-1] = MaxKey + 1; return c }), ErrMalformed},
		{"signed unknown kind", resign(withKind), ErrKind},
		{"signed pgp kind with an age-sized key", resign(withKey), ErrKind},
		{"signed plain kind with a key", resign(plainKey), ErrKind},
		{"signed address with a space", resign(withTo), ErrBadAddress},
		{"signed expiry beyond 2^62", resign(farExpiry), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, _, err := Parse(tc.b); !errors.Is(err, tc.want) {
				t.Errorf("Parse: %v, want %v", err, tc.want)
			}
			if _, err := Verify(pubOf(k), tc.b, testNow); !errors.Is(err, tc.want) {
				t.Errorf("Verify: %v, want %v", err, tc.want)
			}
		})
	}
}

// TestParseSlices: Parse hands back the signed body and the signature, so
// a verifier checks exactly the bytes it read.
func TestParseSlices(t *testing.T) {
	k := testKey(1)
	tk, b := signed(t, k)
	got, body, sig, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(tk) || !bytes.Equal(body, tk.body()) || !bytes.Equal(append(bytes.Clone(body), sig...), b) || len(sig) != ed25519.SignatureSize {
		t.Fatal("Parse does not split the ticket into body and signature")
	}
}

func TestCheckAddress(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"alice@example.org", true},
		{"a@b.co", true},
		{"alice.liddell+kit@mail.example.org", true},
		{"élodie@exemple.fr", true},
		{"用户@例子.中国", true},
		{"o'brien@example.ie", true},
		{strings.Repeat("a", MaxAddress-len("@example.org")) + "@example.org", true},

		{"", false},
		{strings.Repeat("a", MaxAddress-len("@example.org")+1) + "@example.org", false},
		{"alice", false},
		{"@example.org", false},
		{"alice@", false},
		{"alice@example", false},
		{"alice@.example.org", false},
		{"alice@example.org.", false},
		{"alice@@example.org", false},
		{"alice@bob@example.org", false},
		{"Alice <alice@example.org>", false},
		{"<alice@example.org>", false},
		{"alice@example.org (Alice)", false},
		{"alice@example.org,bob@example.org", false},
		{"alice@example.org;bob@example.org", false},
		{"\"alice\"@example.org", false},
		{"alice@[192.0.2.1]", false},
		{"alice\\@example.org", false},
		{"al:ice@example.org", false},
		{"alice @example.org", false},
		{"alice\t@example.org", false},
		{"alice@example.org\r\nBcc: eve@example.org", false},
		{"alice@example.org\n", false},
		{"alice\x00@example.org", false},
		{"alice\x7f@example.org", false},
		{"alice\u0085@example.org", false}, // C1 next line
		{"alice\u00a0@example.org", false}, // no-break space
		{"alice\u2028@example.org", false}, // line separator
		{"alice\u3000@example.org", false}, // ideographic space
		{"alice@exa\u202emple.org", false}, // right-to-left override
		{"alice\u2066@example.org", false}, // left-to-right isolate
		{"alice\xff@example.org", false},   // not UTF-8
	} {
		err := CheckAddress(tc.addr)
		if tc.ok && err != nil {
			t.Errorf("%q refused: %v", tc.addr, err)
		}
		if !tc.ok && !errors.Is(err, ErrBadAddress) {
			t.Errorf("%q: %v, want ErrBadAddress", tc.addr, err)
		}
		if !tc.ok {
			// Neither made nor signed nor read.
			if _, err := New(testAccount, tc.addr, KindPlain, testPayload, nil, testNow); !errors.Is(err, ErrBadAddress) {
				t.Errorf("New(%q): %v", tc.addr, err)
			}
			if _, err := Sign(testKey(1), &Ticket{AccountID: testAccount, To: tc.addr, Expires: testNow, Kind: KindPlain}); !errors.Is(err, ErrBadAddress) {
				t.Errorf("Sign(%q): %v", tc.addr, err)
			}
		}
	}
}

func TestPublicKeyText(t *testing.T) {
	pub := pubOf(testKey(1))
	s := FormatPublicKey(pub)
	if !strings.HasPrefix(s, PublicKeyPrefix) || len(s) != len(PublicKeyPrefix)+44 {
		t.Fatalf("FormatPublicKey = %q", s)
	}
	for _, ok := range []string{s, s + "\n", "  " + s + "\r\n"} {
		got, err := ParsePublicKey(ok)
		if err != nil || !got.Equal(pub) {
			t.Errorf("ParsePublicKey(%q) = %x, %v", ok, []byte(got), err)
		}
	}
	b64 := strings.TrimPrefix(s, PublicKeyPrefix)
	raw, _ := base64.StdEncoding.DecodeString(b64)
	for _, bad := range []string{
		"",
		b64,
		"keyhold-mail-key-v2:" + b64,
		"KEYHOLD-MAIL-KEY-V1:" + b64,
		PublicKeyPrefix,
		PublicKeyPrefix + strings.TrimSuffix(b64, "="),
		PublicKeyPrefix + base64.RawURLEncoding.EncodeToString(raw),
		PublicKeyPrefix + base64.StdEncoding.EncodeToString(raw[:31]),
		PublicKeyPrefix + base64.StdEncoding.EncodeToString(append(bytes.Clone(raw), 0)),
		PublicKeyPrefix + b64[:20] + " " + b64[20:],
		PublicKeyPrefix + b64[:42] + string(b64[42]+1) + "=", // non-zero padding bits
	} {
		if _, err := ParsePublicKey(bad); !errors.Is(err, ErrBadKey) {
			t.Errorf("ParsePublicKey(%q): %v, want ErrBadKey", bad, err)
		}
	}
}

func TestLoadPublicKey(t *testing.T) {
	pub := pubOf(testKey(1))
	s := FormatPublicKey(pub)
	dir := t.TempDir()
	good := filepath.Join(dir, "server.pub")
	os.WriteFile(good, []byte(s+"\n"), 0o644)
	junk := filepath.Join(dir, "junk.pub")
	os.WriteFile(junk, []byte("ssh-ed25519 AAAA…\n"), 0o644)
	for _, in := range []string{s, " " + s + "\n", good} {
		got, err := LoadPublicKey(in)
		if err != nil || !got.Equal(pub) {
			t.Errorf("LoadPublicKey(%q) = %x, %v", in, []byte(got), err)
		}
	}
	if _, err := LoadPublicKey(filepath.Join(dir, "missing.pub")); !errors.Is(err, ErrBadKeyFile) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := LoadPublicKey(junk); !errors.Is(err, ErrBadKey) {
		t.Errorf("junk file: %v", err)
	}
}

func TestKeyFromSeed(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	a, err := KeyFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := KeyFromSeed(seed)
	if !a.Equal(b) {
		t.Fatal("one seed, two keys")
	}
	for _, n := range []int{0, 31, 33, 64} {
		if _, err := KeyFromSeed(make([]byte, n)); err == nil {
			t.Errorf("a %d-byte seed was taken", n)
		}
	}
}
