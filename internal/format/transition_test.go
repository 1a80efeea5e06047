package format

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/keyhold/keyhold/internal/keys"
)

// The rotation transition (SPEC §14.2): the new Secret Key and account key
// sealed under the previous account key. Vectors in
// testdata/vectors/transition.json; the account key field of a vector is
// the previous account key, the one a device that missed the rotation
// still holds, and its key version is the new one the reader expects.

var (
	vecAK2  = keys.AccountKey{0: 0xb0, 1: 0xb1, 31: 0xbf} // the account key after the rotation
	vecNewV = uint32(2)
)

func makeTransitionVectors(t *testing.T) []Vector {
	tr, err := SealTransitionWithRand(seeded(5), &vecAK, vecID, vecNewV, &vecSK2, &vecAK2)
	if err != nil {
		t.Fatal(err)
	}
	base := Vector{AccountID: vecID.String(), AccountKey: hex.EncodeToString(vecAK[:]), KeyVersion: vecNewV,
		NewSecretKey: vecSK2.Display(), NewAccountKey: hex.EncodeToString(vecAK2[:]), Encoded: hex.EncodeToString(tr),
		Comment: "account_key is the previous account key; key_version the new one; new_secret_key and new_account_key what it holds"}
	v := func(name, expect string, mod func(*Vector)) Vector {
		x := base
		x.Name, x.Expect = name, expect
		if mod != nil {
			mod(&x)
		}
		return x
	}
	enc := func(b []byte) func(*Vector) { return func(x *Vector) { x.Encoded = hex.EncodeToString(b) } }
	set := func(i int, c byte) []byte { b := append([]byte(nil), tr...); b[i] = c; return b }
	otherAK := vecAK
	otherAK[7] ^= 1
	// The header says key version 3 and the reader expects 3: the header
	// checks pass, and only the authenticated data catches the change.
	kv3 := set(24, 3)
	// The header names the other account and the reader expects it.
	acct2 := append(append(append([]byte(nil), tr[:5]...), vecID2[:]...), tr[21:]...)
	return []Vector{
		v("valid transition", "ok", nil),
		v("wrong previous account key", "ErrOpen", func(x *Vector) { x.AccountKey = hex.EncodeToString(otherAK[:]) }),
		v("opened with the new account key instead of the previous one", "ErrOpen", func(x *Vector) { x.AccountKey = hex.EncodeToString(vecAK2[:]) }),
		v("transition of another account", "ErrWrongAcct", func(x *Vector) { x.AccountID = vecID2.String() }),
		v("transition to another key version", "ErrMalformed", func(x *Vector) { x.KeyVersion = 3 }),
		v("key version in the header changed to the one expected (authenticated header)", "ErrOpen", func(x *Vector) {
			x.KeyVersion = 3
			enc(kv3)(x)
		}),
		v("account id in the header changed to the one expected (authenticated header)", "ErrOpen", func(x *Vector) {
			x.AccountID = vecID2.String()
			enc(acct2)(x)
		}),
		v("flipped bit in the nonce", "ErrOpen", enc(flip(tr, transitionHeaderSize+3))),
		v("flipped bit in the commitment", "ErrOpen", enc(flip(tr, transitionHeaderSize+24+5))),
		v("flipped bit in the ciphertext", "ErrOpen", enc(flip(tr, transitionHeaderSize+56+10))),
		v("flipped bit in the Poly1305 tag", "ErrOpen", enc(flip(tr, len(tr)-1))),
		v("truncated", "ErrMalformed", enc(tr[:len(tr)-1])),
		v("trailing byte", "ErrMalformed", enc(append(append([]byte(nil), tr...), 0))),
		v("only magic and version", "ErrMalformed", enc(tr[:5])),
		v("shorter than magic and version", "ErrMalformed", enc(tr[:4])),
		v("wrong magic", "ErrWrongMagic", enc(flip(tr, 3))),
		v("unsupported version", "ErrVersion", enc(set(4, 2))),
	}
}

func checkTransitionVector(t *testing.T, x Vector) {
	b := mustHex(t, x.Encoded)
	id, err := keys.ParseAccountID(x.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	var prev keys.AccountKey
	copy(prev[:], mustHex(t, x.AccountKey))
	sk, ak, err := OpenTransition(b, &prev, id, x.KeyVersion)
	if err == nil {
		if sk.Display() != x.NewSecretKey || hex.EncodeToString(ak[:]) != x.NewAccountKey {
			t.Fatal("opened to another Secret Key or account key than the vector's")
		}
		// Both ways: sealing the same keys with the recorded nonce gives
		// back the recorded bytes.
		nonce := b[transitionHeaderSize : transitionHeaderSize+keys.NonceSize]
		again, err := SealTransitionWithRand(bytes.NewReader(nonce), &prev, id, x.KeyVersion, sk, ak)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, b) {
			t.Fatal("sealing the vector's keys does not reproduce its bytes")
		}
	} else if sk != nil || ak != nil {
		t.Fatal("a failed open returned keys")
	}
	if got := errName(err); got != x.Expect {
		t.Fatalf("got %s, want %s", got, x.Expect)
	}
}

func TestTransitionLayout(t *testing.T) {
	tr, err := SealTransition(&vecAK, vecID, 7, &vecSK2, &vecAK2)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr) != TransitionSize || TransitionSize != 145 {
		t.Fatalf("%d bytes (TransitionSize %d), SPEC §14.2 says 145", len(tr), TransitionSize)
	}
	want := append([]byte("KHRT\x01"), vecID[:]...)
	want = append(want, 0, 0, 0, 7)
	if !bytes.Equal(tr[:transitionHeaderSize], want) {
		t.Fatalf("header %x, want %x", tr[:transitionHeaderSize], want)
	}
	// The keys it carries are not in the clear.
	if bytes.Contains(tr, vecSK2[:]) || bytes.Contains(tr, vecAK2[:8]) {
		t.Fatal("the new keys appear in the transition")
	}
	// Fresh nonce each time.
	tr2, err := SealTransition(&vecAK, vecID, 7, &vecSK2, &vecAK2)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(tr, tr2) {
		t.Fatal("two transitions of the same keys are identical")
	}
	sk, ak, err := OpenTransition(tr2, &vecAK, vecID, 7)
	if err != nil || *sk != vecSK2 || *ak != vecAK2 {
		t.Fatalf("round trip: %v", err)
	}
}

// Every single-bit change anywhere in a transition is refused: nothing in
// it is unauthenticated.
func TestTransitionEveryBitMatters(t *testing.T) {
	tr, err := SealTransition(&vecAK, vecID, vecNewV, &vecSK2, &vecAK2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range tr {
		for bit := range 8 {
			c := append([]byte(nil), tr...)
			c[i] ^= 1 << bit
			if _, _, err := OpenTransition(c, &vecAK, vecID, vecNewV); err == nil {
				t.Fatalf("byte %d bit %d changed, still opens", i, bit)
			}
		}
	}
}

// A transition is not any other box: the label keeps a box sealed under
// the same key for another purpose from opening as a transition.
func TestTransitionLabelSeparation(t *testing.T) {
	h := transitionHeader(vecID, vecNewV)
	pt := append(append([]byte(nil), vecSK2[:]...), vecAK2[:]...)
	for _, label := range []string{labelEnvelope, labelKeyCheck, labelItem} {
		box, err := keys.Seal(vecAK[:], label, h, pt)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = OpenTransition(append(append([]byte(nil), h...), box...), &vecAK, vecID, vecNewV)
		if !errors.Is(err, keys.ErrOpen) {
			t.Fatalf("box with label %q: got %v, want ErrOpen", label, err)
		}
	}
}
