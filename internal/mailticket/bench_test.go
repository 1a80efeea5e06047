package mailticket

import (
	"crypto/ed25519"
	"testing"
	"time"
)

// BenchmarkVerify is what the mailer pays per request before anything
// else: parse, Ed25519 verification, expiry.
func BenchmarkVerify(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	now := time.Now()
	t, err := New([16]byte{1}, "alice@example.org", KindAge, [32]byte{2}, AgeRecipientID("age1example"), now.Add(10*time.Minute))
	if err != nil {
		b.Fatal(err)
	}
	raw, err := Sign(priv, t)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(pub, raw, now); err != nil {
			b.Fatal(err)
		}
	}
}
