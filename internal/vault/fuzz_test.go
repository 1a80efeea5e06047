package vault

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func FuzzParseDevice(f *testing.F) {
	f.Add([]byte(`{"version":1,"account_id":"01935c1e-7a00-7000-8000-000000000001","secret_key":"K1-DV5J-2222-2222-2222-2222-2222-28FL","kdf_floor":{"Time":1,"MemoryKiB":1024,"Threads":1}}`))
	f.Add([]byte(`{"version":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		di, err := parseDevice(b)
		if err != nil {
			return
		}
		// What parses survives a write and a read.
		dir := t.TempDir()
		sc := newOptions([]Option{WithSecretKeyDir(dir + "/keys")}).sec
		if err := sc.writeDevice(dir+"/d", di); err != nil {
			t.Fatal(err)
		}
		di2, err := sc.readDevice(dir + "/d")
		if err != nil || di2.AccountID != di.AccountID || *di2.SecretKey != *di.SecretKey {
			t.Fatalf("device file does not round-trip: %v", err)
		}
	})
}

func FuzzParseBucket(f *testing.F) {
	pt := binary.BigEndian.AppendUint32(nil, 1)
	pt = append(pt, make([]byte, 32)...)
	pt = append(pt, bytes.Repeat([]byte{7}, 16)...)
	pt = binary.BigEndian.AppendUint64(pt, 3)
	pt = append(pt, 1, 0, 5)
	pt = append(pt, "title"...)
	f.Add(pt)
	f.Fuzz(func(t *testing.T, b []byte) {
		bk, err := parseBucket(b)
		if err != nil {
			return
		}
		if uint32(len(bk.entries)) != binary.BigEndian.Uint32(b) {
			t.Fatal("entry count differs from the header")
		}
	})
}
