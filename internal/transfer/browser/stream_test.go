package browser

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/transfertest"
)

// The text check names the line of a NUL byte or of invalid UTF-8 however
// the stream is cut, and a UTF-8 sequence split between two reads, in a
// cell longer than any buffer, is whole.
func TestCSVSourceStreamText(t *testing.T) {
	note := strings.Repeat("é€𝄞", 30000)
	file := "name,url,username,password,note\nA,https://a.example,u,p,\"" + note + "\"\n"
	for _, r := range []io.Reader{strings.NewReader(file), iotest.OneByteReader(strings.NewReader(file)), iotest.HalfReader(strings.NewReader(file))} {
		res, err := StreamChrome(r, transfer.ImportOptions{Now: transfertest.SrcNow})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Items) != 1 || res.Items[0].Item.Notes != note {
			t.Fatalf("the long note did not come through whole")
		}
	}
	for bad, want := range map[string]string{
		"B,https://b.example,u,p,x\x00y\n":  "line 3 contains a NUL byte",
		"B,https://b.example,u,p,x\xffy\n":  "line 3 is not valid UTF-8",
		"B,https://b.example,u,p,x\xe2\x82": "line 3 is not valid UTF-8",
	} {
		for _, r := range []io.Reader{strings.NewReader(file + bad), iotest.OneByteReader(strings.NewReader(file + bad))} {
			_, err := StreamChrome(r, transfer.ImportOptions{Now: transfertest.SrcNow})
			if !errors.Is(err, transfer.ErrSourceFormat) || !strings.Contains(err.Error(), want) {
				t.Errorf("%q: got %v, want %q", bad, err, want)
			}
		}
	}
}
