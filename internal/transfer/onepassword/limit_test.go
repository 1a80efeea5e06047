package onepassword

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"strings"
	"testing"

	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/transfertest"
)

// A .1pux whose export.data declares 2 GiB is refused before it is
// inflated: the reader allocates a small part of the (real, inflating)
// entry's content, with the default limits.
func Test1PUXDeclaredSizeRefusedBeforeInflating(t *testing.T) {
	var deflated bytes.Buffer
	fw, _ := flate.NewWriter(&deflated, flate.BestSpeed)
	chunk := make([]byte, 1<<20)
	for range 64 {
		fw.Write(chunk)
	}
	fw.Close()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	raw, err := w.CreateRaw(&zip.FileHeader{Name: "export.data", Method: zip.Deflate,
		UncompressedSize64: 2 << 30, CompressedSize64: uint64(deflated.Len()), CRC32: 0})
	if err != nil {
		t.Fatal(err)
	}
	raw.Write(deflated.Bytes())
	w.Close()
	var res *transfer.ImportResult
	n := transfertest.Allocated(func() { res, err = read1PUXBytes(t, buf.Bytes()) })
	if !errors.Is(err, transfer.ErrSourceFormat) || res != nil || !strings.Contains(err.Error(), "declares 2048.0 MiB") {
		t.Fatalf("got %v, %v; want a refusal naming the declared size", res, err)
	}
	if n > 8<<20 {
		t.Errorf("allocated %d bytes refusing it", n)
	}
}
