package keyholdcsv

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/keyhold/keyhold/internal/transfer/transfertest"
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
		res, err := Read(bytes.NewReader(in), Options{Now: transfertest.Now})
		if err != nil || len(res.Items) != 10_000 {
			b.Fatal(err)
		}
	}
}
