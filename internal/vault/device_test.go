package vault

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/keys"
)

// A device.json.next that does not fit the vault's envelope is either a
// rotation that never committed (old: removed) or one another process is
// committing right now while this one holds the envelope from before
// (young: it must survive, or that rotation would lose its Secret Key).
func TestLeftoverNextDeviceFile(t *testing.T) {
	dir, c := newVault(t)
	path := filepath.Join(dir, DeviceFile)
	other, err := keys.NewSecretKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := newOptions(testOpts()).sec.writeDevice(path+".next", &DeviceInfo{AccountID: c.AccountID, SecretKey: other, KDFFloor: testKDF}); err != nil {
		t.Fatal(err)
	}
	v, err := Open(dir, testOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()

	di, err := v.Device()
	if err != nil {
		t.Fatal(err)
	}
	if *di.SecretKey != *c.SecretKey {
		t.Fatal("a .next that does not fit the envelope replaced the Secret Key")
	}
	if _, err := os.Stat(path + ".next"); err != nil {
		t.Fatal("a young .next was removed; a rotation in progress would lose its Secret Key")
	}

	old := time.Now().Add(-staleNext - time.Minute)
	if err := os.Chtimes(path+".next", old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Device(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".next"); !os.IsNotExist(err) {
		t.Fatal("a stale .next was left behind")
	}
	if s := unlock(t, dir, "correct horse"); s == nil {
		t.Fatal("the vault no longer opens")
	}
}
