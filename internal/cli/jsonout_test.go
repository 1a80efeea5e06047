package cli

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The --json documents began as maps, which encoding/json prints with
// sorted keys; their types must keep that order (a field added out of
// order would move a key in every script's output). The golden files in
// cmd/keyhold/testdata/json check the documents a script prints; this
// checks every field, printed in those scripts or not.
func TestJSONDocumentKeysSorted(t *testing.T) {
	for _, v := range []any{
		kdfJSON{}, initJSON{}, statusJSON{}, statusAgentJSON{}, statusServerJSON{}, statusFolderJSON{},
		rotateKeyJSON{}, accountJSON{}, storedJSON{}, itemJSON{}, itemSummaryJSON{}, fieldJSON{},
		attachmentJSON{}, fieldChangeJSON{}, kitJSON{}, kitMailJSON{}, conflictJSON{}, conflictFieldJSON{},
		syncJSON{}, folderSyncJSON{}, folderSetupJSON{}, syncDisableJSON{}, syncDisableServerJSON{},
		syncDisableFolderJSON{}, generateJSON{}, otpJSON{}, importDryRunJSON{}, importItemJSON{},
		importJSON{}, importCSVJSON{}, importKeyholdJSON{},
	} {
		typ := reflect.TypeOf(v)
		var keys []string
		for i := range typ.NumField() {
			tag, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			if tag == "" || tag == "-" {
				t.Errorf("%s.%s has no JSON key", typ.Name(), typ.Field(i).Name)
			}
			keys = append(keys, tag)
		}
		if !slices.IsSorted(keys) {
			t.Errorf("%s: keys %v are not in the order keyhold prints them (sorted)", typ.Name(), keys)
		}
	}
}
