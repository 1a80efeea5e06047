package kdbx

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/transfertest"
)

// A database whose password is set and empty opens only when the empty
// password is given as such: KeePass hashes the empty string into the
// key, so "no password" is a different key.
func TestReadKDBXEmptyPassword(t *testing.T) {
	needKeePassXC(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "empty.kdbx")
	// keepassxc-cli asks to confirm an empty password.
	kpx(t, "\ny\n", "db-create", "-q", "-p", "-t", "100", db)
	kpx(t, "\nentry secret\n", "add", "-q", "-u", "bob", "-p", db, "Entry")

	res, err := readKDBXFile(t, db, transfer.ImportOptions{EmptyPassword: true})
	if err != nil {
		t.Fatalf("with the empty password: %v", err)
	}
	kdbxWantField(t, transfertest.ByTitle(t, res, "Entry").Item, "password", item.Hidden, "entry secret")

	for name, o := range map[string]transfer.ImportOptions{
		"no password":    {},
		"wrong password": {Password: []byte("x")},
	} {
		if res, err := readKDBXFile(t, db, o); !errors.Is(err, transfer.ErrSourcePassword) || res != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	// With a key file: the empty password and the key file together.
	keyed := filepath.Join(dir, "keyed.kdbx")
	key := filepath.Join(dir, "db.key")
	kpx(t, "\ny\n", "db-create", "-q", "-p", "-t", "100", "--set-key-file", key, keyed)
	kpx(t, "\n", "add", "-q", "-k", key, "-u", "kim", keyed, "Keyed")
	keyData := transfertest.File(t, key)
	if res, err := readKDBXFile(t, keyed, transfer.ImportOptions{EmptyPassword: true, KeyFile: keyData}); err != nil {
		t.Fatalf("empty password and key file: %v", err)
	} else {
		kdbxWantField(t, transfertest.ByTitle(t, res, "Keyed").Item, "username", item.Text, "kim")
	}
	if _, err := readKDBXFile(t, keyed, transfer.ImportOptions{KeyFile: keyData}); !errors.Is(err, transfer.ErrSourcePassword) {
		t.Errorf("key file alone opened a database that also has an empty password: %v", err)
	}
}

// The composite key follows KeePass: SHA-256 of the hashes of the parts
// present, so an empty password differs from none.
func TestKDBXCompositeKeyEmptyPassword(t *testing.T) {
	empty, err := kdbxCompositeKey(kdbxCreds{passwordSet: true})
	if err != nil {
		t.Fatal(err)
	}
	// SHA-256(SHA-256("")).
	const want = "5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456"
	if got := hex.EncodeToString(empty); got != want {
		t.Errorf("composite key of the empty password %s, want %s", got, want)
	}
	if _, err := kdbxCompositeKey(kdbxCreds{}); !errors.Is(err, transfer.ErrSourcePassword) {
		t.Errorf("no credentials: %v", err)
	}
}

// A zero-byte attachment in a KDBX 3.1 file (KeePassXC writes an empty,
// "compressed" element) is kept as an empty file, not reported damaged.
func TestReadKDBX31EmptyAttachment(t *testing.T) {
	needKeePassXC(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "db.kdbx")
	empty := filepath.Join(dir, "empty.bin")
	full := filepath.Join(dir, "full.txt")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte("content\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kpx(t, "pw\npw\n", "db-create", "-q", "-p", "-t", "100", db)
	kpx(t, "pw\nx\n", "add", "-q", "-u", "u", "-p", db, "E")
	kpx(t, "pw\n", "attachment-import", "-q", db, "E", "empty.bin", empty)
	kpx(t, "pw\n", "attachment-import", "-q", db, "E", "full.txt", full)
	if data, err := os.ReadFile(db); err != nil || data[10] != 3 {
		t.Fatalf("keepassxc-cli did not write KDBX 3.1 (%v)", err)
	}
	res, err := readKDBXFile(t, db, transfer.ImportOptions{Password: []byte("pw")})
	if err != nil {
		t.Fatal(err)
	}
	e := transfertest.ByTitle(t, res, "E").Item
	if len(res.Unmapped) != 0 || len(e.Attachments) != 2 {
		t.Fatalf("attachments %d, unmapped %q", len(e.Attachments), res.Unmapped)
	}
	got := map[string]string{}
	for _, a := range e.Attachments {
		got[a.Name] = string(a.Data)
	}
	if v, ok := got["empty.bin"]; !ok || v != "" || got["full.txt"] != "content\n" {
		t.Errorf("attachments %q", got)
	}
	if err := e.Validate(); err != nil {
		t.Error(err)
	}
}
