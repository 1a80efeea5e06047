package onepassword

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"testing"
	"testing/iotest"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/csvtable"
	"github.com/keyhold/keyhold/internal/transfer/transfertest"
)

// A 1Password 7 for Mac export too large to be parsed twice is streamed
// with its \" read as a quote, picked from the start of the file: it
// imports as the same file does when small.
func Test1PasswordCSV7MacStreamed(t *testing.T) {
	data := transfertest.File(t, "testdata/onepassword/1password7-mac.csv")
	header, _, _ := bytes.Cut(data, []byte("\n"))
	var big bytes.Buffer
	big.Write(data)
	if !bytes.HasSuffix(data, []byte("\n")) {
		big.WriteByte('\n')
	}
	for i := 0; big.Len() <= csvtable.PrefixSize; i++ {
		fmt.Fprintf(&big, "Login %d", i)
		for range bytes.Count(header, []byte(",")) {
			big.WriteString(",")
		}
		big.WriteString("\n")
	}
	small, err := StreamCSV(bytes.NewReader(data), transfer.ImportOptions{Now: transfertest.SrcNow})
	if err != nil {
		t.Fatal(err)
	}
	res, err := StreamCSV(iotest.OneByteReader(bytes.NewReader(big.Bytes())), transfer.ImportOptions{Now: transfertest.SrcNow})
	if err != nil {
		t.Fatal(err)
	}
	v := transfertest.ByTitle(t, res, "My Visa").Item
	if v.Notes != `paid off "monthly"` || v.Type != item.Card {
		t.Errorf("My Visa: %s, notes %q", v.Type, v.Notes)
	}
	for i, im := range small.Items {
		if got, want := fmt.Sprint(res.Items[i].Item), fmt.Sprint(im.Item); got != want {
			t.Errorf("item %d streamed:\n%s\nwant\n%s", i, got, want)
		}
	}
}

// The streamed \" rewrite gives what the whole-file one does, however the
// stream is cut, and the dialect check never panics.
func FuzzOpUnescapeReader(f *testing.F) {
	for _, s := range []string{`a,"b \"c\" d",e` + "\n", `"\"",""""`, `"a\`, `\"x"`, "\"a\\\"\n\"", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want := opUnescape(data)
		for _, r := range []io.Reader{bytes.NewReader(data), iotest.OneByteReader(bytes.NewReader(data))} {
			got, err := io.ReadAll(&csvtable.StagedReader{R: &opUnescapeReader{r: bufio.NewReaderSize(r, 16)}})
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("streamed %q, whole %q (%v)", got, want, err)
			}
		}
		opMacDialect(data)
	})
}
