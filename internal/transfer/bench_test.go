package transfer

import (
	"bytes"
	"fmt"
	"testing"
)

// csv10k is 10,000 rows like an everyday vault's export.
func csv10k() []byte {
	var b bytes.Buffer
	b.WriteString("title,username,password,url,notes\n")
	for i := range 10_000 {
		fmt.Fprintf(&b, "entry-%05d,user%05d@example.com,%020d,https://site%05d.example.com/login,note for entry %d\n",
			i+1, i, uint64(i)*7919+1_000_000_007, i, i)
	}
	return b.Bytes()
}

func BenchmarkReadCSV10k(b *testing.B) {
	in := csv10k()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		res, err := ReadCSV(bytes.NewReader(in), CSVOptions{Now: testNow})
		if err != nil || len(res.Items) != 10_000 {
			b.Fatal(err)
		}
	}
}

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
