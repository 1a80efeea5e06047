package folder

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/keys"
)

// The readers of folder files take what a sync client (or anyone with
// write access to the folder) put there: they must never panic, and
// must never accept what they did not authenticate. The seed corpora
// under testdata/fuzz are valid files made by seedFiles.

func seedFiles(t testing.TB) (logFile, snapFile, keyFile []byte) {
	it := login("Site", "alice", "one", t0)
	next := edited(it, t0.Add(time.Minute), func(it *item.Item) { it.Notes = "n" })
	var err error
	if logFile, err = SealLog(testAK, hdr(devA, 1, 1), []Entry{{ID: [16]byte{7}, Base: it, New: next, Hist: []*item.Item{it}}}); err != nil {
		t.Fatal(err)
	}
	if snapFile, err = SealSnapshot(testAK, hdr(devA, 1, 1), Frontier{devA: 1, devB: 3}, []*ItemState{{ID: [16]byte{7}, Cur: next, Hist: []*item.Item{it}}}); err != nil {
		t.Fatal(err)
	}
	sk := &keys.SecretKey{5}
	env, d, err := format.NewEnvelope(testAK, testAcct, 1, 1, []byte("pw"), sk, keys.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	d.Wipe()
	kc, _ := format.NewKeyCheck(testAK, testAcct, 1)
	if keyFile, err = SealKeyFile(testAK, hdr(devA, 1, 1), env, kc, nil, Ring{}); err != nil {
		t.Fatal(err)
	}
	return
}

// TestWriteFuzzCorpus rewrites the seed corpora when
// KEYHOLD_WRITE_FUZZ_CORPUS is set.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("KEYHOLD_WRITE_FUZZ_CORPUS") == "" {
		t.Skip("set KEYHOLD_WRITE_FUZZ_CORPUS=1 to rewrite testdata/fuzz")
	}
	l, s, k := seedFiles(t)
	for name, seeds := range map[string][][]byte{
		"FuzzOpenLog":           {l, l[:headerSize], l[:len(l)-1]},
		"FuzzOpenSnapshot":      {s, s[:headerSize+4]},
		"FuzzParseSnapshotHead": {s[:headerSize+4+48+headMACSize], s[:headerSize]},
		"FuzzParseLogHead":      {l[:logHeadSize], l[:headerSize+3]},
		"FuzzKeyFile":           {k, k[:headerSize+10]},
		"FuzzParseFileName":     {[]byte("log-0000000000000001.khfl"), []byte("snap-00000000000000ff.khfs"), []byte("log-0000000000000001 (1).khfl")},
	} {
		dir := filepath.Join("testdata", "fuzz", name)
		os.MkdirAll(dir, 0o755)
		for i, b := range seeds {
			v := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if name == "FuzzParseFileName" {
				v = fmt.Sprintf("go test fuzz v1\nstring(%q)\n", b)
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%d", i)), []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func FuzzOpenLog(f *testing.F) {
	l, _, _ := seedFiles(f)
	f.Add(l)
	f.Fuzz(func(t *testing.T, b []byte) {
		lg, err := OpenLog(b, ring(), testAcct, devA, 1)
		if err != nil {
			return
		}
		// Only sealed files open (the seeds): what opens is whole, and a
		// change to any byte of it is refused.
		for _, e := range lg.Entries {
			if e.New == nil || e.New.Validate() != nil {
				t.Fatal("accepted an invalid entry")
			}
		}
		c := bytes.Clone(b)
		c[len(c)/2] ^= 0x80
		if _, err := OpenLog(c, ring(), testAcct, devA, 1); err == nil {
			t.Fatal("accepted a changed file")
		}
	})
}

func FuzzOpenSnapshot(f *testing.F) {
	_, s, _ := seedFiles(f)
	f.Add(s)
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := OpenSnapshot(b, ring(), testAcct, devA, 1); err == nil {
			c := bytes.Clone(b)
			c[len(c)/2] ^= 0x80
			if _, err := OpenSnapshot(c, ring(), testAcct, devA, 1); err == nil {
				t.Fatal("accepted a changed snapshot")
			}
		}
	})
}

func FuzzParseSnapshotHead(f *testing.F) {
	_, s, _ := seedFiles(f)
	f.Add(s)
	f.Fuzz(func(t *testing.T, b []byte) {
		sh, n, err := ParseSnapshotHead(b)
		if err != nil {
			return
		}
		if n > len(b) || n != headerSize+4+24*len(sh.Frontier)+headMACSize {
			t.Fatalf("head length %d of %d bytes, %d devices", n, len(b), len(sh.Frontier))
		}
		if !bytes.Equal(marshalSnapshotHead(sh.Header, sh.Frontier), b[:n-headMACSize]) {
			t.Fatal("the head does not encode back to its bytes")
		}
	})
}

func FuzzParseLogHead(f *testing.F) {
	l, _, _ := seedFiles(f)
	f.Add(l)
	f.Fuzz(func(t *testing.T, b []byte) {
		lh, err := ParseLogHead(b)
		if err != nil {
			return
		}
		if lh.Prev >= lh.Seq {
			t.Fatalf("a log %d that follows log %d", lh.Seq, lh.Prev)
		}
		// A head accepted by the parser verifies only with the MAC it
		// carries: flipping Prev must make it fail.
		if len(b) >= logHeadSize && VerifyLogHead(lh, ring(), lh.AccountID, lh.Device, lh.Seq) == nil {
			c := bytes.Clone(b)
			c[headerSize+7] ^= 1
			if lh2, err := ParseLogHead(c); err == nil && VerifyLogHead(lh2, ring(), lh2.AccountID, lh2.Device, lh2.Seq) == nil {
				t.Fatal("a changed Prev still verifies")
			}
		}
	})
}

func FuzzKeyFile(f *testing.F) {
	_, _, k := seedFiles(f)
	f.Add(k)
	f.Fuzz(func(t *testing.T, b []byte) {
		kf, err := ParseKeyFile(b, devA, 1)
		if err != nil {
			return
		}
		if r, err := kf.Open(testAK); err == nil {
			r.Wipe()
			c := bytes.Clone(b)
			c[len(c)/2] ^= 0x80
			if kf2, err := ParseKeyFile(c, devA, 1); err == nil {
				if _, err := kf2.Open(testAK); err == nil {
					t.Fatal("accepted a changed key file")
				}
			}
		}
	})
}

func FuzzParseFileName(f *testing.F) {
	f.Add("log-0000000000000001.khfl")
	f.Fuzz(func(t *testing.T, name string) {
		k, seq, ok := ParseFileName(name)
		if ok && FileName(k, seq) != name {
			t.Fatalf("%q parses as %q %d, which names %q", name, k, seq, FileName(k, seq))
		}
	})
}
