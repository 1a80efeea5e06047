package cli

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// A streamed import stops at its format's limit: a file of exactly the
// limit is read whole, one byte more is refused, however it is cut.
func TestLimitReader(t *testing.T) {
	for _, tc := range []struct {
		size int
		over bool
	}{{10, false}, {11, true}, {4000, true}, {0, false}} {
		for _, r := range []io.Reader{strings.NewReader(strings.Repeat("a", tc.size)), iotest.OneByteReader(strings.NewReader(strings.Repeat("a", tc.size)))} {
			l := &limitReader{r: r, max: 10}
			got, err := io.ReadAll(l)
			if tc.over {
				if !errors.Is(err, errInputTooLarge) || !l.over || len(got) > 10 {
					t.Errorf("%d bytes: read %d, %v, over %v; want refused", tc.size, len(got), err, l.over)
				}
			} else if err != nil || l.over || len(got) != tc.size {
				t.Errorf("%d bytes: read %d, %v, over %v", tc.size, len(got), err, l.over)
			}
		}
	}
}
