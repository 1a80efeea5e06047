package format

import (
	"bytes"
	"errors"
	"testing"
)

// A previous-version envelope upgraded with the password that opened it
// is a current-version envelope at the given epoch that opens with the
// same password to the same account key, and derives the same login key
// (so the server's login record still matches); another password still
// fails.
func TestEnvelopeUpgrade(t *testing.T) {
	const pw = "correct horse"
	old, od, err := NewEnvelopeV1WithRand(seeded(7), &vecAK, vecID, 3, []byte(pw), &vecSK, vecKDF)
	if err != nil {
		t.Fatal(err)
	}
	u, err := old.Upgrade(&vecAK, od, 1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseEnvelope(u.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != Version2 || p.Epoch != 1 || p.KeyVersion != 3 || p.AccountID != vecID || p.Salt != old.Salt || p.KDF != old.KDF {
		t.Fatalf("upgraded envelope: %+v", p)
	}
	ak, d, err := p.Open([]byte(pw), &vecSK)
	if err != nil {
		t.Fatal(err)
	}
	if *ak != vecAK || d.Login != od.Login {
		t.Fatal("the upgraded envelope holds another key or derives another login key")
	}
	if _, _, err := p.Open([]byte("battery staple"), &vecSK); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("another password: %v, want ErrWrongPassword", err)
	}
	if bytes.Equal(p.Header(), old.Header()) {
		t.Fatal("the upgraded header equals the previous one")
	}
}
