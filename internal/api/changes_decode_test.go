package api

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// changesSeeds are pages as the server writes them, and variations that
// encoding/json reads and decodeChangesFast must read alike or leave to
// it.
func changesSeeds(t testing.TB) [][]byte {
	page := ChangesResponse{Head: 9, More: true, KeyVersion: 2, Manifest: []byte("signed manifest"), ManifestSeq: 9}
	for i := range 3 {
		page.Changes = append(page.Changes, Change{ItemID: "0b5f4e6c-8a1d-4c3b-9e2f-1a2b3c4d5e6f", Seq: uint64(i + 1), Rev: uint64(i + 1), Box: bytes.Repeat([]byte{byte(i), 0xff, '<'}, 40)})
	}
	page.Changes = append(page.Changes, Change{ItemID: "x", Seq: 7, Rev: 1, Deleted: true})
	b, err := json.Marshal(&page)
	if err != nil {
		t.Fatal(err)
	}
	out := [][]byte{b}
	for _, s := range []string{
		`{"changes":[],"head":0,"more":false,"key_version":1,"manifest_seq":0}`,
		` { "changes" : [ { } , { "item_id" : "a" , "box" : "" } ] , "head" : 18446744073709551615 , "key_version" : 4294967295 } `,
		`{"changes":[],"key_version":4294967296}`,
		`{"Head":1}`, `{"head":1,"head":2}`, `{"head":1.0}`, `{"head":-1}`, `{"head":01}`,
		`{"head":1} trailing`, `{"head":1}{"head":2}`, `{"changes":null}`, `{"manifest":"YQ="}`,
		`{"manifest":"YQ==\n"}`, `{"manifest":"\u0059Q=="}`, `{"changes":[{"item_id":"\xff"}]}`, `{"unknown":true}`, `{}`, `[]`,
	} {
		out = append(out, []byte(s))
	}
	return out
}

// Whatever decodeChangesFast accepts, a json.Decoder (what the client
// used before) decodes to the same page.
func checkChangesFast(t *testing.T, b []byte) bool {
	var fast ChangesResponse
	if !decodeChangesFast(b, &fast) {
		return false
	}
	var ref ChangesResponse
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&ref); err != nil {
		t.Fatalf("decodeChangesFast accepted what encoding/json refuses (%v): %q", err, b)
	}
	if !reflect.DeepEqual(fast, ref) {
		t.Fatalf("decodeChangesFast and encoding/json differ on %q:\n%#v\n%#v", b, fast, ref)
	}
	return true
}

func TestDecodeChangesFast(t *testing.T) {
	seeds := changesSeeds(t)
	for i, b := range seeds {
		if ok := checkChangesFast(t, b); !ok && i < 3 {
			t.Errorf("decodeChangesFast left a page in the server's form to encoding/json: %s", b)
		}
	}
}

func FuzzDecodeChangesFast(f *testing.F) {
	for _, b := range changesSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkChangesFast(t, b) })
}
