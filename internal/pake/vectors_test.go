package pake

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"testing"
)

// The known-answer vectors in testdata/vectors/login.json pin the bytes of
// the parts of OPAQUE that involve no fresh randomness, so that every
// build of Keyhold — the desktop, the server, a browser client compiled to
// js/wasm — computes them alike: the server's answer to a registration
// request (the OPRF evaluation under the key derived from the server's
// seed and the account id), the fake record of an unknown account, and a
// login against a record registered earlier, which opens only if the
// client's OPRF and key derivation give the same bytes as the device that
// registered. A login's own messages are fresh each time, so they are not
// pinned.
//
// `go test ./internal/pake -run Vectors -update` makes new vectors (new
// random server keys, a new registration); review the diff, and commit a
// change only together with a deliberate change of the protocol.
var update = flag.Bool("update", false, "rewrite the login known-answer vectors")

const vectorFile = "../../testdata/vectors/login.json"

// vector is one registered account and what the server answers for it.
// Every byte string is hex.
type vector struct {
	Name             string `json:"name"`
	ServerKeys       string `json:"server_keys"`
	AccountID        string `json:"account_id"`
	LoginKey         string `json:"login_key"`
	RegisterRequest  string `json:"register_request"`
	RegisterResponse string `json:"register_response"`
	Record           string `json:"record"`
	// UnknownAccountID has no record; FakeRecord is what the server logs
	// it in against.
	UnknownAccountID string `json:"unknown_account_id"`
	FakeRecord       string `json:"fake_record"`
	Comment          string `json:"comment,omitempty"`
}

func makeVector(t *testing.T, name string) vector {
	t.Helper()
	s, keys := newServer(t)
	id, unknown, key := randomID(t), randomID(t), randomKey(t)
	reg, req, err := RegisterStart(key)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.RegisterResponse(id, req)
	if err != nil {
		t.Fatal(err)
	}
	record, err := reg.Finish(id, resp)
	if err != nil {
		t.Fatal(err)
	}
	fake, err := s.fakeRecord(unknown)
	if err != nil {
		t.Fatal(err)
	}
	return vector{
		Name: name, ServerKeys: hex.EncodeToString(keys), AccountID: hex.EncodeToString(id[:]),
		LoginKey: hex.EncodeToString(key), RegisterRequest: hex.EncodeToString(req),
		RegisterResponse: hex.EncodeToString(resp), Record: hex.EncodeToString(record),
		UnknownAccountID: hex.EncodeToString(unknown[:]), FakeRecord: hex.EncodeToString(fake),
		Comment: "register_response and fake_record are computed from server_keys and the ids; a login with login_key against record succeeds, with another key it fails",
	}
}

func TestVectors(t *testing.T) {
	if *update {
		vs := []vector{makeVector(t, "account 1"), makeVector(t, "account 2")}
		b, err := json.MarshalIndent(vs, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(vectorFile)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/pake -run Vectors -update to create)", err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) { checkVector(t, v) })
	}
}

func vecHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkVector(t *testing.T, v vector) {
	s, err := NewServer(vecHex(t, v.ServerKeys))
	if err != nil {
		t.Fatal(err)
	}
	id := [16]byte(vecHex(t, v.AccountID))
	unknown := [16]byte(vecHex(t, v.UnknownAccountID))
	key := vecHex(t, v.LoginKey)
	record := vecHex(t, v.Record)

	resp, err := s.RegisterResponse(id, vecHex(t, v.RegisterRequest))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(resp, vecHex(t, v.RegisterResponse)) {
		t.Errorf("the registration response is\n%x, want\n%s", resp, v.RegisterResponse)
	}
	fake, err := s.fakeRecord(unknown)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fake, vecHex(t, v.FakeRecord)) {
		t.Errorf("the fake record is\n%x, want\n%s", fake, v.FakeRecord)
	}

	// The record made at registration opens with the login key: the
	// client's side recomputes what the registering device computed.
	l := runLogin(t, s, id, record, key)
	if l.clientErr != nil {
		t.Fatalf("login against the recorded record: %v", l.clientErr)
	}
	if err := s.LoginFinish(l.state, l.ke3); err != nil {
		t.Fatalf("LoginFinish: %v", err)
	}
	other := bytes.Clone(key)
	other[0] ^= 1
	if l := runLogin(t, s, id, record, other); !errors.Is(l.clientErr, ErrServerAuth) {
		t.Errorf("login with another login key: %v, want ErrServerAuth", l.clientErr)
	}
	// The unknown account's login never finishes.
	if l := runLogin(t, s, unknown, nil, key); !errors.Is(l.clientErr, ErrServerAuth) {
		t.Errorf("login to an unknown account: %v, want ErrServerAuth", l.clientErr)
	}
}
