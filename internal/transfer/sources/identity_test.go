package sources

import (
	"strings"
	"testing"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/transfertest"
)

// Every field of an identity is trimmed the same way, whichever source
// and whichever field (Bitwarden's address was trimmed, its names not).
func TestIdentityFieldsTrimmed(t *testing.T) {
	bw := `{"encrypted":false,"items":[{"type":4,"name":"Padded","identity":{
		"title":" Mr ","firstName":"  Jörg ","middleName":" K. ","lastName":"Müller  ",
		"address1":"  Bahnhofstrasse 1  ","city":" Zürich ","company":" Example AG ",
		"email":" jorg@example.ch ","phone":" +41 44 000 00 00 ","ssn":" 756 ",
		"username":" jm ","passportNumber":" X1 ","licenseNumber":"   "}}]}`
	op7 := "title,first name(firstname),last name(lastname),email(email),company(company)\n" +
		"Padded,\"  Jörg \",\"Müller  \",\" jorg@example.ch \",\" Example AG \"\n"
	for _, tc := range []struct {
		format, data string
		want         map[string]string
	}{
		{"bitwarden-json", bw, map[string]string{"salutation": "Mr", "first_name": "Jörg", "middle_name": "K.",
			"last_name": "Müller", "address": "Bahnhofstrasse 1", "city": "Zürich", "company": "Example AG",
			"email": "jorg@example.ch", "phone": "+41 44 000 00 00", "ssn": "756", "username": "jm", "passport": "X1"}},
		{"1password-csv", op7, map[string]string{"first_name": "Jörg", "last_name": "Müller", "email": "jorg@example.ch", "company": "Example AG"}},
	} {
		t.Run(tc.format, func(t *testing.T) {
			read, err := Source(tc.format)
			if err != nil {
				t.Fatal(err)
			}
			res, err := read([]byte(tc.data), transfer.ImportOptions{Now: transfertest.SrcNow})
			if err != nil {
				t.Fatal(err)
			}
			it := transfertest.ByTitle(t, res, "Padded").Item
			if it.Type != item.Identity {
				t.Fatalf("a %s", it.Type)
			}
			got := map[string]string{}
			for _, f := range it.Fields {
				got[f.Name] = f.Value
				if f.Value != strings.TrimSpace(f.Value) || f.Value == "" {
					t.Errorf("field %q is %q", f.Name, f.Value)
				}
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("field %q = %q, want %q", k, got[k], v)
				}
			}
			if _, ok := got["license"]; ok {
				t.Error("a blank field was kept")
			}
		})
	}
}
