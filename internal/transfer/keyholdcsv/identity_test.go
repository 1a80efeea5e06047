package keyholdcsv

import (
	"strings"
	"testing"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/transfer/transfertest"
)

// Keyhold's own CSV trims an identity's fields the same way.
func TestCSVIdentityFieldsTrimmed(t *testing.T) {
	data := "title,type,first_name,last_name,email,passport\nPadded,identity,\"  Jörg \",\"Müller  \", j@example.ch ,\"  \"\n"
	res, err := Read(strings.NewReader(data), Options{Now: transfertest.SrcNow})
	if err != nil || len(res.Items) != 1 {
		t.Fatalf("%v %+v", err, res)
	}
	it := res.Items[0]
	got := map[string]string{}
	for _, f := range it.Fields {
		got[f.Name] = f.Value
	}
	want := map[string]string{"first_name": "Jörg", "last_name": "Müller", "email": "j@example.ch"}
	if it.Type != item.Identity || len(got) != len(want) {
		t.Fatalf("%s with fields %q", it.Type, got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("field %q = %q, want %q", k, got[k], v)
		}
	}
}
