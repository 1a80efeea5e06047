package kit

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/keys"
)

func TestSheetAccountID(t *testing.T) {
	for range 50 {
		var k Kit
		rand.Read(k.AccountID[:])
		if got, want := k.Sheet("", time.Unix(0, 0), "").AccountID, keys.AccountID(k.AccountID).String(); got != want {
			t.Fatalf("Sheet's account id %q, keys.AccountID.String %q", got, want)
		}
	}
}

func TestSheetMakesTheClientsPDF(t *testing.T) {
	k := Kit{AccountID: [16]byte{1, 2, 3}, SecretKey: [16]byte{4, 5, 6}, SyncLocation: "https://sync.example.org"}
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	sk := keys.SecretKey(k.SecretKey)
	client := Sheet{KitText: k.Text(), AccountID: keys.AccountID(k.AccountID).String(), SecretKey: sk.Display(),
		Email: "alice@example.org", SyncLocation: k.SyncLocation, Created: created}
	a, err := PDF(client)
	if err != nil {
		t.Fatal(err)
	}
	b, err := PDF(k.Sheet("alice@example.org", created, sk.Display()))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("the PDF of Kit.Sheet differs from the one made from the key packages' display forms")
	}
}
