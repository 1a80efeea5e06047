package api

import (
	"bytes"
	"testing"
)

// The server reads an envelope's public header with these few lines:
// whatever a client sends, they do not panic, and what they accept is
// long enough to hold the header they report.
func FuzzEnvelopeEpoch(f *testing.F) {
	v2 := append([]byte("KHEK\x02"), bytes.Repeat([]byte{0}, 170)...)
	v2[28] = 7
	f.Add(v2)
	f.Add(append([]byte("KHEK\x01"), bytes.Repeat([]byte{0}, 166)...))
	f.Add(v2[:EnvelopeHeaderSize-1])
	f.Add([]byte("KHEK\x03"))
	f.Fuzz(func(t *testing.T, b []byte) {
		epoch, ok := EnvelopeEpoch(b)
		n := EnvelopeHeaderLen(b)
		if ok && (n == 0 || len(b) < n) {
			t.Fatalf("accepted %d bytes as a %d-byte header", len(b), n)
		}
		if ok && b[4] == envelopeV1 && epoch != 0 {
			t.Fatal("a previous-version envelope has an epoch")
		}
		if ok != (checkEnvelope("envelope", b) == nil) && len(b) <= maxKeyBlob && len(b) > 0 {
			t.Fatalf("EnvelopeEpoch ok=%v but the request check says %v", ok, checkEnvelope("envelope", b))
		}
	})
}

func TestEnvelopeEpoch(t *testing.T) {
	v2 := append([]byte("KHEK\x02"), bytes.Repeat([]byte{0}, 170)...)
	v2[27], v2[28] = 1, 2
	if e, ok := EnvelopeEpoch(v2); !ok || e != 0x0102 {
		t.Fatalf("epoch %#x, %v", e, ok)
	}
	if e, ok := EnvelopeEpoch(v2[:EnvelopeHeaderSize]); !ok || e != 0x0102 {
		t.Fatalf("header alone: epoch %#x, %v", e, ok)
	}
	if _, ok := EnvelopeEpoch(v2[:EnvelopeHeaderSize-1]); ok {
		t.Fatal("a truncated header was read")
	}
	v1 := append([]byte("KHEK\x01"), bytes.Repeat([]byte{9}, 166)...)
	if e, ok := EnvelopeEpoch(v1); !ok || e != 0 || EnvelopeHeaderLen(v1) != EnvelopeHeaderSizeV1 {
		t.Fatalf("previous version: epoch %d, %v", e, ok)
	}
	if _, ok := EnvelopeEpoch(append([]byte("KHEK\x03"), v2[5:]...)); ok {
		t.Fatal("an unknown version was read")
	}
}
