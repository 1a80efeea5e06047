package format

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/keyhold/keyhold/internal/keys"
)

// The parsers must never panic, and what they accept must re-encode to the
// same bytes: no two encodings of one value (no malleability).

func FuzzParseEnvelope(f *testing.F) {
	for _, x := range seedVectors(f, "envelope.json") {
		f.Add(x)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEnvelope(b)
		if err != nil {
			return
		}
		if !bytes.Equal(e.Marshal(), b) {
			t.Fatal("re-encoding differs")
		}
		if e.Version == Version1 && e.Epoch != 0 {
			t.Fatal("a previous-version envelope has an epoch")
		}
		if e.KDF.Check() != nil {
			t.Fatal("accepted out-of-range KDF parameters")
		}
	})
}

func FuzzParseKeyFile(f *testing.F) {
	for _, x := range seedStrings(f, "keyfile.json") {
		f.Add(x)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseKeyFile([]byte(s))
		if err != nil {
			return
		}
		e2, err := ParseKeyFile(MarshalKeyFile(e))
		if err != nil || !bytes.Equal(e2.Marshal(), e.Marshal()) {
			t.Fatal("key file does not round-trip")
		}
	})
}

func FuzzParseKeyCheck(f *testing.F) {
	for _, x := range seedVectors(f, "keycheck.json") {
		f.Add(x)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		kc, err := ParseKeyCheck(b)
		if err != nil {
			return
		}
		if !bytes.Equal(kc.Marshal(), b) {
			t.Fatal("re-encoding differs")
		}
		// Only the real key opens it.
		var ak keys.AccountKey
		if kc.Verify(&ak, kc.AccountID, kc.KeyVersion) == nil {
			t.Fatal("a zero key opened a fuzzed key check")
		}
	})
}

func FuzzParseManifest(f *testing.F) {
	m := &Manifest{KeyVersion: 1, Seq: 7, Count: 2}
	f.Add(m.Marshal())
	for _, x := range seedVectors(f, "manifest.json") {
		f.Add(x)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			return
		}
		if !bytes.Equal(m.Marshal(), b) {
			t.Fatal("re-encoding differs")
		}
		if m.Version != Version1 && m.Version != Version2 {
			t.Fatalf("accepted version %d", m.Version)
		}
	})
}

func FuzzOpenItem(f *testing.F) {
	for _, x := range seedVectors(f, "item.json") {
		f.Add(x, uint64(3))
	}
	var ak keys.AccountKey
	copy(ak[:], mustHexF(f, "a0a10000000000000000000000000000000000000000000000000000000000af"))
	f.Fuzz(func(t *testing.T, b []byte, rev uint64) {
		ref := ItemRef{AccountID: vecID, ItemID: [16]byte{0x01, 0x93, 0x5c, 0x1f, 15: 0x07}, Revision: rev}
		pt, err := OpenItem(&ak, 1, ref, b)
		if err != nil {
			return
		}
		// Anything that opens must be a box sealed by the key holder: the
		// fuzzer can only find the seeds themselves.
		if rev != 3 || len(pt) == 0 {
			t.Fatalf("opened a forged box (rev %d)", rev)
		}
	})
}

func FuzzOpenTransition(f *testing.F) {
	for _, x := range seedVectors(f, "transition.json") {
		f.Add(x)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sk, ak, err := OpenTransition(b, &vecAK, vecID, vecNewV)
		if err != nil {
			if sk != nil || ak != nil {
				t.Fatal("a refused transition returned keys")
			}
			return
		}
		if len(b) != TransitionSize {
			t.Fatalf("accepted %d bytes", len(b))
		}
		// Only the key holder can make one that opens: the fuzzer can only
		// find the vector's own transition, with its own keys.
		if *sk != vecSK2 || *ak != vecAK2 {
			t.Fatal("opened a forged transition")
		}
	})
}

func FuzzParseEnvelopeHeader(f *testing.F) {
	for _, x := range seedVectors(f, "envelope_header.json") {
		f.Add(x)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseEnvelopeHeader(b)
		if len(b) == EnvelopeHeaderSize || len(b) == EnvelopeHeaderSizeV1 {
			// A header is accepted exactly when an envelope starting with
			// it is.
			full := append(append([]byte(nil), b...), make([]byte, EnvelopeSize-EnvelopeHeaderSize)...)
			if _, fullErr := ParseEnvelope(full); (err == nil) != (fullErr == nil) {
				t.Fatalf("header: %v; envelope with this header: %v", err, fullErr)
			}
		}
		if err != nil {
			return
		}
		if !bytes.Equal(h.Header(), b) {
			t.Fatal("re-encoding differs")
		}
		if h.Box != nil {
			t.Fatal("a header has no box")
		}
		if h.KDF.Check() != nil {
			t.Fatal("accepted out-of-range KDF parameters")
		}
	})
}

func seedVectors(f *testing.F, name string) [][]byte {
	var out [][]byte
	for _, s := range seedStrings(f, name) {
		if b, err := hex.DecodeString(s); err == nil {
			out = append(out, b)
		}
	}
	return out
}

func seedStrings(f *testing.F, name string) []string {
	t := &testing.T{}
	var out []string
	for _, x := range loadVectorsF(f, name, t) {
		out = append(out, x.Encoded)
	}
	return out
}

func loadVectorsF(f *testing.F, name string, _ *testing.T) []Vector {
	f.Helper()
	var vs []Vector
	b, err := readVectorFile(name)
	if err != nil {
		f.Fatal(err)
	}
	if err := jsonUnmarshal(b, &vs); err != nil {
		f.Fatal(err)
	}
	return vs
}

func mustHexF(f *testing.F, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		f.Fatal(err)
	}
	return b
}
