// Command kat computes the core's known-answer outputs from the committed
// vector files (testdata/vectors/*.json): it opens every vector as the
// format's decoders do (key derivation with Argon2id, envelopes, item
// boxes, key checks, key files, manifests, rotation transitions, the
// OPAQUE server answer and a login), and seals the valid ones again from
// their inputs. It prints one JSON document.
//
// It is built twice by internal/browsertest's TestKnownAnswersInChromium:
// natively, and for js/wasm, run in Chromium. Both documents must be the
// same bytes, and match the vectors.
package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/pake"
)

// vector holds the fields of every kind of vector file.
type vector struct {
	Name          string   `json:"name"`
	Expect        string   `json:"expect"`
	Password      string   `json:"password"`
	SecretKey     string   `json:"secret_key"`
	AccountID     string   `json:"account_id"`
	AccountKey    string   `json:"account_key"`
	KeyVersion    uint32   `json:"key_version"`
	Epoch         uint32   `json:"epoch"`
	ItemID        string   `json:"item_id"`
	Revision      uint64   `json:"revision"`
	Plaintext     string   `json:"plaintext"`
	Encoded       string   `json:"encoded"`
	Boxes         []string `json:"boxes"`
	NewSecretKey  string   `json:"new_secret_key"`
	NewAccountKey string   `json:"new_account_key"`
	// login.json
	ServerKeys       string `json:"server_keys"`
	LoginKey         string `json:"login_key"`
	RegisterRequest  string `json:"register_request"`
	RegisterResponse string `json:"register_response"`
	Record           string `json:"record"`
}

// Result is what one vector gave.
type Result struct {
	File   string            `json:"file"`
	Name   string            `json:"name"`
	Result string            `json:"result"` // "ok" or the error's name
	Out    map[string]string `json:"out,omitempty"`
}

// Files are the vector files, in the order they are computed.
var Files = []string{"envelope.json", "envelope_header.json", "item.json", "keycheck.json", "keyfile.json", "manifest.json", "transition.json", "login.json"}

var errorNames = []struct {
	name string
	err  error
}{
	{"ErrWrongPassword", format.ErrWrongPassword},
	{"ErrWrongSecretKey", format.ErrWrongSecretKey},
	{"ErrMalformed", format.ErrMalformed},
	{"ErrVersion", format.ErrVersion},
	{"ErrWrongMagic", format.ErrWrongMagic},
	{"ErrTampered", format.ErrTampered},
	{"ErrWrongAcct", format.ErrWrongAcct},
	{"ErrOldKey", format.ErrOldKey},
	{"ErrWrongKey", format.ErrWrongKey},
	{"ErrKDFTooCostly", keys.ErrKDFTooCostly},
	{"ErrKDFTooWeak", keys.ErrKDFTooWeak},
	{"ErrOpen", keys.ErrOpen},
	{"ErrServerAuth", pake.ErrServerAuth},
}

func errName(err error) string {
	if err == nil {
		return "ok"
	}
	for _, e := range errorNames {
		if errors.Is(err, e.err) {
			return e.name
		}
	}
	return "unexpected error"
}

// seeded is the deterministic randomness the vectors were sealed with
// (internal/format's tests: seed byte n, then zeros).
func seeded(n byte) *rand.ChaCha8 {
	var seed [32]byte
	seed[0] = n
	return rand.NewChaCha8(seed)
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(fmt.Sprintf("bad hex in a vector: %v", err))
	}
	return b
}

func hx(b []byte) string { return hex.EncodeToString(b) }

// Compute runs every vector of files (name → contents) and returns the
// JSON document, with a derivation at larger parameters (16 MiB, 4 lanes)
// that has no committed vector but must agree between builds.
func Compute(files map[string][]byte) ([]byte, error) {
	var results []Result
	for _, f := range Files {
		var vs []vector
		if err := json.Unmarshal(files[f], &vs); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, v := range vs {
			r := Result{File: f, Name: v.Name, Out: map[string]string{}}
			var err error
			switch f {
			case "envelope.json":
				err = envelope(v, r.Out)
			case "envelope_header.json":
				err = envelopeHeader(v, r.Out)
			case "item.json":
				err = item(v, r.Out)
			case "keycheck.json":
				err = keyCheck(v, r.Out)
			case "keyfile.json":
				err = keyFile(v, r.Out)
			case "manifest.json":
				err = manifest(v, r.Out)
			case "transition.json":
				err = transition(v, r.Out)
			case "login.json":
				err = login(v, r.Out)
			}
			r.Result = errName(err)
			if len(r.Out) == 0 {
				r.Out = nil
			}
			results = append(results, r)
		}
	}
	results = append(results, bigDerive())
	return json.MarshalIndent(results, "", " ")
}

func parseSK(s string) *keys.SecretKey {
	sk, err := keys.ParseSecretKey(s)
	if err != nil {
		panic(err)
	}
	return sk
}

func parseID(s string) keys.AccountID {
	id, err := keys.ParseAccountID(s)
	if err != nil {
		panic(err)
	}
	return id
}

func accountKey(s string) *keys.AccountKey {
	var ak keys.AccountKey
	copy(ak[:], unhex(s))
	return &ak
}

func envelope(v vector, out map[string]string) error {
	enc := unhex(v.Encoded)
	env, err := format.ParseEnvelope(enc)
	if err != nil {
		return err
	}
	out["remarshal"] = hx(env.Marshal())
	out["epoch"] = fmt.Sprint(env.Epoch)
	sk := parseSK(v.SecretKey)
	ak, d, err := env.Open([]byte(v.Password), sk)
	if err != nil {
		return err
	}
	out["account_key"], out["wrap_key"], out["login_key"] = hx(ak[:]), hx(d.Wrap[:]), hx(d.Login[:])
	// Seal again from the inputs: the valid envelopes of both versions.
	kdf := keys.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}
	switch v.Name {
	case "valid envelope":
		e, _, err := format.NewEnvelopeWithRand(seeded(1), ak, env.AccountID, v.KeyVersion, v.Epoch, []byte(v.Password), sk, kdf)
		if err != nil {
			return err
		}
		out["sealed"] = hx(e.Marshal())
	case "previous version (no epoch)":
		e, _, err := format.NewEnvelopeV1WithRand(seeded(1), ak, env.AccountID, v.KeyVersion, []byte(v.Password), sk, kdf)
		if err != nil {
			return err
		}
		out["sealed"] = hx(e.Marshal())
	}
	return nil
}

func envelopeHeader(v vector, out map[string]string) error {
	h, err := format.ParseEnvelopeHeader(unhex(v.Encoded))
	if err != nil {
		return err
	}
	out["remarshal"] = hx(h.Header())
	d, err := h.Derive([]byte(v.Password), parseSK(v.SecretKey))
	if err != nil {
		return err
	}
	out["wrap_key"], out["login_key"] = hx(d.Wrap[:]), hx(d.Login[:])
	return nil
}

func item(v vector, out map[string]string) error {
	ref := format.ItemRef{AccountID: parseID(v.AccountID), ItemID: [16]byte(unhex(v.ItemID)), Revision: v.Revision}
	ak := accountKey(v.AccountKey)
	pt, err := format.OpenItem(ak, v.KeyVersion, ref, unhex(v.Encoded))
	if err != nil {
		return err
	}
	out["plaintext"] = hx(pt)
	if v.Name == "valid item" {
		box, err := format.SealItemWithRand(seeded(2), ak, v.KeyVersion, ref, pt)
		if err != nil {
			return err
		}
		out["sealed"] = hx(box)
	}
	return nil
}

func keyCheck(v vector, out map[string]string) error {
	kc, err := format.ParseKeyCheck(unhex(v.Encoded))
	if err != nil {
		return err
	}
	out["remarshal"] = hx(kc.Marshal())
	id, ak := parseID(v.AccountID), accountKey(v.AccountKey)
	if err := kc.Verify(ak, id, v.KeyVersion); err != nil {
		return err
	}
	if v.Name == "valid key check" {
		again, err := format.NewKeyCheckWithRand(seeded(3), ak, id, v.KeyVersion)
		if err != nil {
			return err
		}
		out["sealed"] = hx(again.Marshal())
	}
	return nil
}

func keyFile(v vector, out map[string]string) error {
	env, err := format.ParseKeyFile([]byte(v.Encoded))
	if err != nil {
		return err
	}
	ak, _, err := env.Open([]byte(v.Password), parseSK(v.SecretKey))
	if err != nil {
		return err
	}
	out["account_key"] = hx(ak[:])
	out["remarshal"] = string(format.MarshalKeyFile(env))
	return nil
}

func manifest(v vector, out map[string]string) error {
	m, err := format.ParseManifest(unhex(v.Encoded))
	if err != nil {
		return err
	}
	out["remarshal"] = hx(m.Marshal())
	ak, id := accountKey(v.AccountKey), parseID(v.AccountID)
	mk := format.ManifestKey(ak)
	if err := m.Verify(mk, id); err != nil {
		return err
	}
	// The accumulators of the rows the vectors declare: items 01… rev 1
	// and 02… rev 2, history 02… rev 1.
	var acc, hacc [32]byte
	if m.Version == format.Version1 {
		format.XorInto(&acc, format.EntryV1(mk, [16]byte{1}, 1))
		format.XorInto(&acc, format.EntryV1(mk, [16]byte{2}, 2))
		format.XorInto(&hacc, format.HistoryEntryV1(mk, [16]byte{2}, 1))
	} else {
		if len(v.Boxes) != 3 {
			return format.ErrTampered
		}
		format.XorInto(&acc, format.Entry(mk, [16]byte{1}, 1, unhex(v.Boxes[0])))
		format.XorInto(&acc, format.Entry(mk, [16]byte{2}, 2, unhex(v.Boxes[1])))
		format.XorInto(&hacc, format.HistoryEntry(mk, [16]byte{2}, 1, unhex(v.Boxes[2])))
	}
	out["acc"], out["hacc"] = hx(acc[:]), hx(hacc[:])
	if acc != m.Acc || hacc != m.HAcc || m.Count != 2 || m.HCount != 1 {
		return format.ErrTampered
	}
	// Sign a manifest of the same rows anew.
	again := &format.Manifest{Version: m.Version, KeyVersion: m.KeyVersion, Seq: m.Seq, Count: 2, HCount: 1, Acc: acc, HAcc: hacc}
	again.Sign(mk, id)
	out["sealed"] = hx(again.Marshal())
	return nil
}

func transition(v vector, out map[string]string) error {
	b := unhex(v.Encoded)
	id, prev := parseID(v.AccountID), accountKey(v.AccountKey)
	sk, ak, err := format.OpenTransition(b, prev, id, v.KeyVersion)
	if err != nil {
		return err
	}
	out["new_secret_key"], out["new_account_key"] = sk.Display(), hx(ak[:])
	if v.Name == "valid transition" {
		again, err := format.SealTransitionWithRand(seeded(5), prev, id, v.KeyVersion, sk, ak)
		if err != nil {
			return err
		}
		out["sealed"] = hx(again)
	}
	return nil
}

// login: the server's answer to the registration request (no fresh
// randomness), then a login against the recorded record with the login
// key (must pass) and with another key (must fail).
func login(v vector, out map[string]string) error {
	s, err := pake.NewServer(unhex(v.ServerKeys))
	if err != nil {
		return err
	}
	id := [16]byte(unhex(v.AccountID))
	resp, err := s.RegisterResponse(id, unhex(v.RegisterRequest))
	if err != nil {
		return err
	}
	out["register_response"] = hx(resp)
	try := func(key []byte) error {
		l, ke1, err := pake.LoginStart(key)
		if err != nil {
			return err
		}
		ke2, state, err := s.LoginStart(id, unhex(v.Record), ke1)
		if err != nil {
			return err
		}
		ke3, err := l.Finish(id, ke2)
		if err != nil {
			return err
		}
		return s.LoginFinish(state, ke3)
	}
	key := unhex(v.LoginKey)
	out["login"] = errName(try(key))
	other := slices.Clone(key)
	other[0] ^= 1
	out["login_other_key"] = errName(try(other))
	return nil
}

// bigDerive derives at 16 MiB with 4 lanes, closer to what accounts use,
// from fixed inputs.
func bigDerive() Result {
	r := Result{File: "(none)", Name: "derive t=1 m=16MiB p=4", Out: map[string]string{}}
	sk := keys.SecretKey{0: 0x5e, 1: 0xc7, 15: 0x09}
	id := keys.AccountID{0x01, 0x93, 15: 0x09}
	salt := bytes.Repeat([]byte{0x5a}, 16)
	d, err := keys.Derive([]byte("correct horse battery staple"), &sk, id, salt, keys.KDFParams{Time: 1, MemoryKiB: 16 << 10, Threads: 4})
	r.Result = errName(err)
	if err == nil {
		r.Out["wrap_key"], r.Out["login_key"] = hx(d.Wrap[:]), hx(d.Login[:])
	}
	return r
}
