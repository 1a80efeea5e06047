package keyholdcsv

import (
	"bytes"
	"strings"
	"testing"

	"github.com/keyhold/keyhold/internal/transfer/transfertest"
)

// Commas inside quotes are not cells: a wide quoted value is fine.
func TestCSVCellLimiterQuotes(t *testing.T) {
	data := "title,notes\nA,\"" + strings.Repeat(",", 5000) + "\"\n"
	res, err := Read(strings.NewReader(data), Options{Now: transfertest.SrcNow})
	if err != nil || len(res.Items) != 1 || len(res.Items[0].Notes) != 5000 {
		t.Fatalf("%v %+v", err, res)
	}
}

// BenchmarkReadCSVWide reports what a wide, hostile line costs.
func BenchmarkReadCSVWide(b *testing.B) {
	data := []byte("title,password\nA,b" + strings.Repeat(",", 1_000_000) + "\n")
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		Read(bytes.NewReader(data), Options{Now: transfertest.SrcNow})
	}
}
