package kdbx

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/transfertest"
)

// kdbxDeriveTable answers key derivations from a table of the seeds' real
// results, and any other (a mutated header's) with a fixed function of
// the parameters: no input pays a derivation, and each seed still opens.
type kdbxDeriveTable map[string][]byte

func kdbxDeriveKey(k *kdbxKDF, composite []byte) string {
	return fmt.Sprintf("%x|%x|%d|%d|%d|%d|%d|%x", k.uuid, k.seed, k.rounds, k.memory, k.iterations, k.parallelism, k.version, composite)
}

func (t kdbxDeriveTable) derive(k *kdbxKDF, composite []byte) []byte {
	if v, ok := t[kdbxDeriveKey(k, composite)]; ok {
		return v
	}
	s := sha256.Sum256([]byte(kdbxDeriveKey(k, composite)))
	return s[:]
}

// record opens a seed with the real derivation and keeps its result.
func (t kdbxDeriveTable) record(tb testing.TB, data []byte) {
	tb.Helper()
	_, err := openKDBXWith(data, kdbxPassword("pw"), func(k *kdbxKDF, c []byte) []byte {
		v := k.transform(c)
		t[kdbxDeriveKey(k, c)] = v
		return v
	})
	if err != nil {
		tb.Fatalf("seed does not open: %v", err)
	}
}

// tryRecord records a file's derivations if it opens with "pw", paying
// the real derivation only for cheap settings.
func (t kdbxDeriveTable) tryRecord(data []byte) bool {
	h, _, err := parseKDBXHeader(data)
	if err != nil || h.kdf.rounds > 1000 || h.kdf.memory > 1<<20 || h.kdf.iterations > 4 {
		return false
	}
	rec := kdbxDeriveTable{}
	if _, err := openKDBXWith(data, kdbxPassword("pw"), func(k *kdbxKDF, c []byte) []byte {
		v := k.transform(c)
		rec[kdbxDeriveKey(k, c)] = v
		return v
	}); err != nil {
		return false
	}
	maps.Copy(t, rec)
	return true
}

// kdbxFuzzSeeds are real files of each version with the password "pw".
func kdbxFuzzSeeds(tb testing.TB) [][]byte {
	return [][]byte{
		writeKDBXBytes(tb, kdbxExportItems()[:2], "pw", kdbxCheap),
		kdbx31Bytes(tb, 1),
		kdbx2Bytes(tb, 1, kdbxStreamSalsa20),
		kdbx2Bytes(tb, 0, kdbxStreamArcFour),
	}
}

// FuzzKDBXContainer reads whole files, header to items, with the key
// derivation answered from a table: the header, the MACs or start bytes,
// the blocks, the decompression, the inner header and the XML.
func FuzzKDBXContainer(f *testing.F) {
	table := kdbxDeriveTable{}
	for _, s := range kdbxFuzzSeeds(f) {
		table.record(f, s)
		f.Add(s)
	}
	// The checked-in seeds were written with other random salts: record
	// their derivations too, so that they open.
	files, _ := filepath.Glob("testdata/fuzz/FuzzKDBXContainer/*")
	opened := 0
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		lines := strings.SplitN(string(data), "\n", 3)
		if len(lines) < 2 || !strings.HasPrefix(lines[1], "[]byte(") {
			f.Fatalf("%s: not a corpus file", name)
		}
		seed, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			f.Fatalf("%s: %v", name, err)
		}
		// Inputs the fuzzer kept (scripts/fuzz.sh) mostly do not open;
		// only those that do add a derivation.
		if table.tryRecord([]byte(seed)) {
			opened++
		}
	}
	// The checked-in seeds (one of each version, and a truncated one)
	// must open, or the table does not serve them.
	if opened < 4 {
		f.Fatalf("only %d checked-in seeds open", opened)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var res *transfer.ImportResult
		kf, err := openKDBXWith(data, kdbxPassword("pw"), table.derive)
		if err == nil {
			res, err = readKDBXOpened(kf, transfer.ImportOptions{Now: kdbxNow})
		}
		transfertest.Outcome(t, res, err)
	})
}

// kdbxDecrypted returns a seed's header and decrypted content.
func kdbxDecrypted(tb testing.TB, data []byte) (*kdbxHeader, []byte) {
	tb.Helper()
	h, off, err := parseKDBXHeader(data)
	if err != nil {
		tb.Fatal(err)
	}
	composite, _ := kdbxCompositeKey(kdbxPassword("pw"))
	transformed := h.kdf.transform(composite)
	rest := data[off:]
	if h.major == 4 {
		// Skip the header hash and MAC, then join the blocks.
		rest = rest[64:]
		var ct []byte
		for {
			n := binary.LittleEndian.Uint32(rest[32:])
			rest = rest[36:]
			if n == 0 {
				break
			}
			ct = append(ct, rest[:n]...)
			rest = rest[n:]
		}
		rest = ct
	}
	plain, err := kdbxDecrypt(h, kdbxCipherKey(h.masterSeed, transformed), rest)
	if err != nil {
		tb.Fatal(err)
	}
	return h, plain
}

// FuzzKDBX3Payload feeds the decrypted content of a KDBX 3.1 (or 2.x)
// file: start bytes, hashed blocks, compressed XML. The header is a real
// one, fixed; the fuzzer works on what authenticated decryption would
// hand on.
func FuzzKDBX3Payload(f *testing.F) {
	// A deterministic file, so that the checked-in seeds match its header.
	h, plain := kdbxDecrypted(f, kdbxLegacyBytes(f, 3, 1, kdbxStreamSalsa20))
	if _, err := kdbx3Payload(h, plain); err != nil {
		f.Fatalf("the seed does not read: %v", err)
	}
	f.Add(plain)
	f.Add(plain[:len(plain)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		var res *transfer.ImportResult
		kf, err := kdbx3Payload(h, data)
		if err == nil {
			res, err = readKDBXOpened(kf, transfer.ImportOptions{Now: kdbxNow})
		}
		transfertest.Outcome(t, res, err)
	})
}

// FuzzKDBX4Payload feeds the decrypted content of a KDBX 4 file: the
// inner header (stream key, attachments) and XML, compressed as the file
// says or, to reach past the gzip checksum, as if the header said none.
func FuzzKDBX4Payload(f *testing.F) {
	h, plain := kdbxDecrypted(f, writeKDBXBytes(f, kdbxExportItems()[:2], "pw", kdbxCheap))
	raw := *h
	raw.compression = 0
	inflated, err := kdbxDecompress(h, plain)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := kdbx4Payload(&raw, inflated); err != nil {
		f.Fatalf("the seed does not read: %v", err)
	}
	f.Add(plain, true)
	f.Add(inflated, false)
	f.Add(inflated[:len(inflated)/2], false)
	f.Add(bytes.Clone(inflated[:20]), false)
	f.Fuzz(func(t *testing.T, data []byte, compressed bool) {
		var res *transfer.ImportResult
		hdr := &raw
		if compressed {
			hdr = h
		}
		kf, err := kdbx4Payload(hdr, data)
		if err == nil {
			res, err = readKDBXOpened(kf, transfer.ImportOptions{Now: kdbxNow})
		}
		transfertest.Outcome(t, res, err)
	})
}
