package mailer

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"testing"

	"github.com/keyhold/keyhold/internal/mailticket"
)

// FuzzDecodeSend checks that the request decoder never panics, refuses
// only with 400 or 413, and that what it accepts means one thing:
// encoding an accepted request and decoding it again gives it back.
func FuzzDecodeSend(f *testing.F) {
	f.Add([]byte(`{"ticket":"S0hNVAI=","to":"a@example.org","kind":"plain","payload":"JVBERi0="}`))
	f.Add([]byte(`{"ticket":"S0hNVAI=","to":"a@example.org","kind":"age","payload":"YWdl"}`))
	f.Add([]byte(`{"ticket":"S0hNVAI=","to":"a@example.org","kind":"pgp","payload":"LS0tLS0="}`))
	f.Add([]byte(`{"ticket":"S0hNVAI=","to":"a@example.org","kind":"none","payload":"eA=="}`))
	f.Add([]byte(`{"ticket":"S0hNVAI=","to":"a@example.org","To":"b@example.org"}`))
	f.Add([]byte(`{"ticket":null,"payload":"eA=="}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := decodeSend(bytes.NewReader(data))
		if err != nil {
			var rf *refusal
			if !errors.As(err, &rf) || (rf.status != http.StatusBadRequest && rf.status != http.StatusRequestEntityTooLarge) {
				t.Fatalf("error %v is not a 400 or 413 refusal", err)
			}
			if req != nil {
				t.Fatal("a refused request was returned")
			}
			return
		}
		if len(req.Ticket) == 0 || len(req.Payload) == 0 || mailticket.CheckAddress(req.To) != nil || (req.Kind != "plain" && req.Kind != "pgp" && req.Kind != "age") {
			t.Fatalf("accepted an incomplete or contradictory request: %+v", req)
		}
		again, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeSend(bytes.NewReader(again))
		if err != nil {
			t.Fatalf("re-encoded request refused: %v", err)
		}
		if !reflect.DeepEqual(req, back) {
			t.Fatalf("decode(encode(r)) = %+v, want %+v", back, req)
		}
	})
}
