package merge

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/keyhold/keyhold/internal/item"
)

// FuzzMerge merges three items decoded from JSON (base may be null) and
// checks that Merge does not panic and keeps every promise of
// docs/MERGE.md, on items item.Validate would refuse as well. The seed
// corpus is in testdata/fuzz/FuzzMerge.
func FuzzMerge(f *testing.F) {
	f.Fuzz(func(t *testing.T, baseJSON, localJSON, remoteJSON []byte) {
		var base *item.Item
		if !bytes.Equal(bytes.TrimSpace(baseJSON), []byte("null")) {
			base = new(item.Item)
			if json.Unmarshal(baseJSON, base) != nil {
				return
			}
		}
		local, remote := new(item.Item), new(item.Item)
		if json.Unmarshal(localJSON, local) != nil || json.Unmarshal(remoteJSON, remote) != nil {
			return
		}
		checkedMerge(t, base, local, remote)
		checkIdentities(t, base, local, remote)

		// Fields pair as strings.EqualFold pairs their names.
		var names []string
		for _, it := range []*item.Item{base, local, remote} {
			if it != nil {
				for _, f := range it.Fields {
					names = append(names, f.Name)
				}
			}
		}
		for _, x := range names {
			for _, y := range names {
				if (fold(x) == fold(y)) != strings.EqualFold(x, y) {
					t.Fatalf("fold and strings.EqualFold disagree on %q and %q", x, y)
				}
			}
		}
	})
}
