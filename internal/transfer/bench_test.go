package transfer

import (
	"bytes"
	"testing"
)

// The export benchmarks use scrypt work factor testWorkFactor (2^10)
// rather than age's default (2^18, about a second), so that they measure
// encoding, encryption and validation rather than the KDF.

func BenchmarkWriteExport10k(b *testing.B) {
	e := testExport(b, 10_000)
	r := passRecipient(b)
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := WriteExport(&buf, e, r); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
}

func BenchmarkReadExport10k(b *testing.B) {
	file := writeExport(b, testExport(b, 10_000), passRecipient(b))
	id := passIdentity(b, testPass)
	b.SetBytes(int64(len(file)))
	for b.Loop() {
		e, err := ReadExport(bytes.NewReader(file), id)
		if err != nil || len(e.Items) != 10_000 {
			b.Fatal(err)
		}
	}
}
