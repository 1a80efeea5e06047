package format

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyhold/keyhold/internal/keys"
)

// The known-answer vectors in testdata/vectors/ are checked both ways:
// inputs must produce the recorded bytes, and the recorded bytes must
// decode (or fail) as each vector declares. `go test -run Vectors
// -update` rewrites them from the code; review the diff before
// committing, since a change means the format changed.
var update = flag.Bool("update", false, "rewrite the known-answer vector files")

const vectorDir = "../../testdata/vectors"

// vecKDF is deliberately cheap: vectors test the construction, not cost.
var vecKDF = keys.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}

// Vector is one case. Expect is "ok" or the name of the error the
// decoder must return (see errorNames).
type Vector struct {
	Name       string `json:"name"`
	Expect     string `json:"expect"`
	Password   string `json:"password,omitempty"`
	SecretKey  string `json:"secret_key,omitempty"` // display form
	AccountID  string `json:"account_id,omitempty"`
	AccountKey string `json:"account_key,omitempty"` // hex
	KeyVersion uint32 `json:"key_version,omitempty"`
	Epoch      uint32 `json:"epoch,omitempty"`   // an envelope's password epoch
	ItemID     string `json:"item_id,omitempty"` // hex
	Revision   uint64 `json:"revision,omitempty"`
	Plaintext  string `json:"plaintext,omitempty"` // hex
	Encoded    string `json:"encoded"`             // hex (armored text for key files)
	WrapKey    string `json:"wrap_key,omitempty"`  // hex, expected derivation output
	LoginKey   string `json:"login_key,omitempty"` // hex
	// A rotation transition's contents: the new Secret Key (display form)
	// and account key (hex).
	NewSecretKey  string `json:"new_secret_key,omitempty"`
	NewAccountKey string `json:"new_account_key,omitempty"`
	// A manifest's rows' boxes (hex), in the order its comment names.
	Boxes   []string `json:"boxes,omitempty"`
	Comment string   `json:"comment,omitempty"`
}

var errorNames = map[string]error{
	"ErrWrongPassword":  ErrWrongPassword,
	"ErrWrongSecretKey": ErrWrongSecretKey,
	"ErrMalformed":      ErrMalformed,
	"ErrVersion":        ErrVersion,
	"ErrWrongMagic":     ErrWrongMagic,
	"ErrTampered":       ErrTampered,
	"ErrWrongAcct":      ErrWrongAcct,
	"ErrOldKey":         ErrOldKey,
	"ErrWrongKey":       ErrWrongKey,
	"ErrKDFTooCostly":   keys.ErrKDFTooCostly,
	"ErrKDFTooWeak":     keys.ErrKDFTooWeak,
	"ErrOpen":           keys.ErrOpen,
}

func errName(err error) string {
	if err == nil {
		return "ok"
	}
	for n, e := range errorNames {
		if errors.Is(err, e) {
			return n
		}
	}
	return "unexpected: " + err.Error()
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadVectors(t *testing.T, name string) []Vector {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorDir, name))
	if err != nil {
		t.Fatalf("%v (run go test ./internal/format -run Vectors -update to create)", err)
	}
	var vs []Vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	return vs
}

func saveVectors(t *testing.T, name string, vs []Vector) {
	t.Helper()
	b, err := json.MarshalIndent(vs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(vectorDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vectorDir, name), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func seeded(n uint64) *rand.ChaCha8 {
	var seed [32]byte
	seed[0] = byte(n)
	return rand.NewChaCha8(seed)
}

var (
	vecID  = keys.AccountID{0x01, 0x93, 0x5c, 0x1e, 0x7a, 0x00, 0x70, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01}
	vecID2 = keys.AccountID{0x01, 0x93, 0x5c, 0x1e, 0x7a, 0x00, 0x70, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02}
	vecAK  = keys.AccountKey{0: 0xa0, 1: 0xa1, 31: 0xaf}
	vecSK  = keys.SecretKey{0: 0x5e, 1: 0xc7, 15: 0x01}
	vecSK2 = keys.SecretKey{0: 0x5e, 1: 0xc7, 15: 0x02}
)

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x01
	return c
}

// makeEnvelopeVectors derives the envelope vectors from the code: the
// current version (with a password epoch) and the previous one (without,
// read as epoch 0).
func makeEnvelopeVectors(t *testing.T) []Vector {
	pw := "correct horse battery staple"
	env, d, err := NewEnvelopeWithRand(seeded(1), &vecAK, vecID, 1, 3, []byte(pw), &vecSK, vecKDF)
	if err != nil {
		t.Fatal(err)
	}
	good := env.Marshal()
	base := Vector{Password: pw, SecretKey: vecSK.Display(), AccountID: vecID.String(), AccountKey: hex.EncodeToString(vecAK[:]), KeyVersion: 1, Epoch: 3}
	v := func(name, expect string, enc []byte, mod func(*Vector)) Vector {
		x := base
		x.Name, x.Expect, x.Encoded = name, expect, hex.EncodeToString(enc)
		if mod != nil {
			mod(&x)
		}
		return x
	}
	ok := v("valid envelope", "ok", good, func(x *Vector) {
		x.WrapKey = hex.EncodeToString(d.Wrap[:])
		x.LoginKey = hex.EncodeToString(d.Login[:])
	})
	// NFKD: fullwidth "ｃ" (U+FF43) normalizes to "c"; surrounding white
	// space is trimmed.
	nfkd := v("password is NFKD-normalized and trimmed", "ok", good, func(x *Vector) { x.Password = "  \uff43orrect horse battery staple\t" })
	kdfHeavy := append([]byte(nil), good...)
	kdfHeavy[34], kdfHeavy[35], kdfHeavy[36], kdfHeavy[37] = 0x00, 0x20, 0x00, 0x00 // m = 2 GiB
	// An envelope of the previous version, as vaults made before password
	// epochs hold: it still opens, with epoch 0.
	old, od, err := NewEnvelopeV1WithRand(seeded(1), &vecAK, vecID, 1, []byte(pw), &vecSK, vecKDF)
	if err != nil {
		t.Fatal(err)
	}
	v1 := old.Marshal()
	// The same envelope migrated to the current version (SPEC §6): same
	// salt and parameters, so the same Wrap and Login keys.
	mig, err := old.UpgradeWithRand(seeded(2), &vecAK, od, 1)
	if err != nil {
		t.Fatal(err)
	}
	return []Vector{
		ok, nfkd,
		v("wrong password", "ErrWrongPassword", good, func(x *Vector) { x.Password = "correct horse battery stapler" }),
		v("wrong Secret Key", "ErrWrongSecretKey", good, func(x *Vector) { x.SecretKey = vecSK2.Display() }),
		v("flipped bit in the salt (authenticated header)", "ErrWrongPassword", flip(good, 40), nil),
		v("flipped bit in the key version", "ErrWrongPassword", flip(good, 24), nil),
		v("flipped bit in the password epoch", "ErrWrongPassword", flip(good, 28), func(x *Vector) { x.Epoch = 2 }),
		v("flipped bit in the ciphertext", "ErrWrongPassword", flip(good, len(good)-20), nil),
		v("flipped bit in the commitment", "ErrWrongPassword", flip(good, 71+24+3), nil),
		v("flipped bit in the Secret Key check", "ErrWrongSecretKey", flip(good, 60), nil),
		v("truncated", "ErrMalformed", good[:len(good)-1], nil),
		v("trailing byte", "ErrMalformed", append(append([]byte(nil), good...), 0), nil),
		v("unknown version", "ErrVersion", func() []byte { c := append([]byte(nil), good...); c[4] = 3; return c }(), nil),
		v("wrong magic", "ErrWrongMagic", flip(good, 0), nil),
		v("KDF memory above the cap", "ErrKDFTooCostly", kdfHeavy, nil),
		v("previous version (no epoch)", "ok", v1, func(x *Vector) {
			x.Epoch = 0
			x.WrapKey = hex.EncodeToString(od.Wrap[:])
			x.LoginKey = hex.EncodeToString(od.Login[:])
		}),
		v("previous version relabelled as the current one", "ErrMalformed", func() []byte { c := append([]byte(nil), v1...); c[4] = Version2; return c }(), func(x *Vector) { x.Epoch = 0 }),
		v("previous version, flipped bit in the key version", "ErrWrongPassword", flip(v1, 24), func(x *Vector) { x.Epoch = 0 }),
		v("current version relabelled as the previous one", "ErrMalformed", func() []byte { c := append([]byte(nil), good...); c[4] = Version1; return c }(), nil),
		v("previous version migrated to the current one at epoch 1 (same Wrap and Login keys)", "ok", mig.Marshal(), func(x *Vector) {
			x.Epoch = 1
			x.WrapKey = hex.EncodeToString(od.Wrap[:])
			x.LoginKey = hex.EncodeToString(od.Login[:])
		}),
	}
}

func checkEnvelopeVector(t *testing.T, x Vector) {
	enc := mustHex(t, x.Encoded)
	env, err := ParseEnvelope(enc)
	if err == nil {
		if string(env.Marshal()) != string(enc) {
			t.Fatal("re-encoding does not reproduce the input")
		}
		if env.Epoch != x.Epoch {
			t.Fatalf("epoch %d, want %d", env.Epoch, x.Epoch)
		}
		var sk *keys.SecretKey
		sk, err = keys.ParseSecretKey(x.SecretKey)
		if err != nil {
			t.Fatal(err)
		}
		var ak *keys.AccountKey
		var d *keys.Derived
		ak, d, err = env.Open([]byte(x.Password), sk)
		if err == nil {
			if hex.EncodeToString(ak[:]) != x.AccountKey {
				t.Fatal("opened to the wrong account key")
			}
			if x.WrapKey != "" && (hex.EncodeToString(d.Wrap[:]) != x.WrapKey || hex.EncodeToString(d.Login[:]) != x.LoginKey) {
				t.Fatal("derived keys differ from the vector")
			}
		}
	}
	if got := errName(err); got != x.Expect {
		t.Fatalf("got %s, want %s", got, x.Expect)
	}
}

func makeItemVectors(t *testing.T) []Vector {
	itemID := [16]byte{0x01, 0x93, 0x5c, 0x1f, 15: 0x07}
	pt := []byte(`{"v":1,"type":"login","title":"GitHub","fields":[{"name":"password","kind":"hidden","value":"hunter2"}],"created":"2026-01-02T03:04:05Z","modified":"2026-01-02T03:04:05Z"}`)
	ref := ItemRef{AccountID: vecID, ItemID: itemID, Revision: 3}
	box, err := SealItemWithRand(seeded(2), &vecAK, 1, ref, pt)
	if err != nil {
		t.Fatal(err)
	}
	base := Vector{AccountID: vecID.String(), AccountKey: hex.EncodeToString(vecAK[:]), KeyVersion: 1,
		ItemID: hex.EncodeToString(itemID[:]), Revision: 3, Plaintext: hex.EncodeToString(pt), Encoded: hex.EncodeToString(box)}
	v := func(name, expect string, mod func(*Vector)) Vector {
		x := base
		x.Name, x.Expect = name, expect
		if mod != nil {
			mod(&x)
		}
		return x
	}
	otherAK := vecAK
	otherAK[5] ^= 1
	return []Vector{
		v("valid item", "ok", nil),
		v("replayed as another revision", "ErrTampered", func(x *Vector) { x.Revision = 2 }),
		v("moved to another item", "ErrTampered", func(x *Vector) { x.ItemID = "01935c1f000000000000000000000008" }),
		v("moved to another account", "ErrTampered", func(x *Vector) { x.AccountID = vecID2.String() }),
		v("wrong account key", "ErrTampered", func(x *Vector) { x.AccountKey = hex.EncodeToString(otherAK[:]) }),
		v("flipped bit in the ciphertext", "ErrTampered", func(x *Vector) { x.Encoded = hex.EncodeToString(flip(box, len(box)-30)) }),
		v("flipped bit in the key version", "ErrOldKey", func(x *Vector) { x.Encoded = hex.EncodeToString(flip(box, 8)) }),
		v("sealed under another key version", "ErrOldKey", func(x *Vector) { x.KeyVersion = 2 }),
		v("truncated", "ErrMalformed", func(x *Vector) { x.Encoded = hex.EncodeToString(box[:20]) }),
		v("unknown version", "ErrVersion", func(x *Vector) { c := append([]byte(nil), box...); c[4] = 9; x.Encoded = hex.EncodeToString(c) }),
	}
}

func checkItemVector(t *testing.T, x Vector) {
	id, err := keys.ParseAccountID(x.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	var ak keys.AccountKey
	copy(ak[:], mustHex(t, x.AccountKey))
	var iid [16]byte
	copy(iid[:], mustHex(t, x.ItemID))
	pt, err := OpenItem(&ak, x.KeyVersion, ItemRef{AccountID: id, ItemID: iid, Revision: x.Revision}, mustHex(t, x.Encoded))
	if err == nil && hex.EncodeToString(pt) != x.Plaintext {
		t.Fatal("opened to the wrong plaintext")
	}
	if got := errName(err); got != x.Expect {
		t.Fatalf("got %s, want %s", got, x.Expect)
	}
}

func makeKeyCheckVectors(t *testing.T) []Vector {
	kc, err := NewKeyCheckWithRand(seeded(3), &vecAK, vecID, 1)
	if err != nil {
		t.Fatal(err)
	}
	enc := kc.Marshal()
	base := Vector{AccountID: vecID.String(), AccountKey: hex.EncodeToString(vecAK[:]), KeyVersion: 1, Encoded: hex.EncodeToString(enc)}
	v := func(name, expect string, mod func(*Vector)) Vector {
		x := base
		x.Name, x.Expect = name, expect
		if mod != nil {
			mod(&x)
		}
		return x
	}
	otherAK := vecAK
	otherAK[0] ^= 1
	return []Vector{
		v("valid key check", "ok", nil),
		v("key from another account", "ErrWrongAcct", func(x *Vector) { x.AccountID = vecID2.String() }),
		v("key of an older key version", "ErrOldKey", func(x *Vector) { x.KeyVersion = 2 }),
		v("another account key", "ErrWrongKey", func(x *Vector) { x.AccountKey = hex.EncodeToString(otherAK[:]) }),
		v("flipped bit in the box", "ErrWrongKey", func(x *Vector) { x.Encoded = hex.EncodeToString(flip(enc, len(enc)-1)) }),
		v("truncated", "ErrMalformed", func(x *Vector) { x.Encoded = hex.EncodeToString(enc[:len(enc)-1]) }),
	}
}

func checkKeyCheckVector(t *testing.T, x Vector) {
	enc := mustHex(t, x.Encoded)
	kc, err := ParseKeyCheck(enc)
	if err == nil {
		if string(kc.Marshal()) != string(enc) {
			t.Fatal("re-encoding does not reproduce the input")
		}
		var id keys.AccountID
		if id, err = keys.ParseAccountID(x.AccountID); err != nil {
			t.Fatal(err)
		}
		var ak keys.AccountKey
		copy(ak[:], mustHex(t, x.AccountKey))
		err = kc.Verify(&ak, id, x.KeyVersion)
	}
	if got := errName(err); got != x.Expect {
		t.Fatalf("got %s, want %s", got, x.Expect)
	}
}

func makeKeyFileVectors(t *testing.T) []Vector {
	env, _, err := NewEnvelopeWithRand(seeded(4), &vecAK, vecID, 1, 1, []byte("pw"), &vecSK, vecKDF)
	if err != nil {
		t.Fatal(err)
	}
	kf := string(MarshalKeyFile(env))
	base := Vector{Password: "pw", SecretKey: vecSK.Display(), AccountID: vecID.String(), AccountKey: hex.EncodeToString(vecAK[:]), KeyVersion: 1}
	v := func(name, expect, enc string) Vector {
		x := base
		x.Name, x.Expect, x.Encoded = name, expect, enc
		return x
	}
	lines := []byte(kf)
	return []Vector{
		v("valid key file", "ok", kf),
		v("CRLF line ends", "ok", string(replaceAll(lines, "\n", "\r\n"))),
		v("missing END line", "ErrWrongMagic", kf[:len(kf)-35]),
		v("a line cut short", "ErrMalformed", kf[:60]+kf[61:]),
		v("non-canonical base64", "ErrMalformed", kf[:len(kf)-37]+"!"+kf[len(kf)-36:]),
	}
}

func replaceAll(b []byte, old, new string) []byte {
	var out []byte
	for _, c := range string(b) {
		if string(c) == old {
			out = append(out, new...)
		} else {
			out = append(out, string(c)...)
		}
	}
	return out
}

func checkKeyFileVector(t *testing.T, x Vector) {
	env, err := ParseKeyFile([]byte(x.Encoded))
	if err == nil {
		var sk *keys.SecretKey
		if sk, err = keys.ParseSecretKey(x.SecretKey); err != nil {
			t.Fatal(err)
		}
		var ak *keys.AccountKey
		if ak, _, err = env.Open([]byte(x.Password), sk); err == nil && hex.EncodeToString(ak[:]) != x.AccountKey {
			t.Fatal("wrong account key")
		}
		if err == nil && x.Name == "valid key file" && string(MarshalKeyFile(env)) != x.Encoded {
			t.Fatal("re-encoding does not reproduce the input")
		}
	}
	if got := errName(err); got != x.Expect {
		t.Fatalf("got %s, want %s", got, x.Expect)
	}
}

// The rows a manifest vector authenticates: item 01… at revision 1,
// item 02… at revision 2, and item 02…'s revision 1 in the history (ids
// are the byte shown, then zeros), with these boxes (a manifest binds
// their hash, not their contents, so any bytes do).
var manifestBoxes = [][]byte{[]byte("box of item 01 revision 1"), []byte("box of item 02 revision 2"), []byte("box of item 02 revision 1")}

func manifestAccs(mk *keys.Key32, version byte, boxes [][]byte) (acc, hacc [32]byte) {
	if version == Version1 {
		XorInto(&acc, EntryV1(mk, [16]byte{1}, 1))
		XorInto(&acc, EntryV1(mk, [16]byte{2}, 2))
		XorInto(&hacc, HistoryEntryV1(mk, [16]byte{2}, 1))
		return
	}
	XorInto(&acc, Entry(mk, [16]byte{1}, 1, boxes[0]))
	XorInto(&acc, Entry(mk, [16]byte{2}, 2, boxes[1]))
	XorInto(&hacc, HistoryEntry(mk, [16]byte{2}, 1, boxes[2]))
	return
}

func makeManifestVectors(t *testing.T) []Vector {
	mk := ManifestKey(&vecAK)
	m := &Manifest{KeyVersion: 1, Seq: 5, Count: 2, HCount: 1}
	m.Acc, m.HAcc = manifestAccs(mk, Version2, manifestBoxes)
	m.Sign(mk, vecID)
	enc := m.Marshal()
	old := &Manifest{Version: Version1, KeyVersion: 1, Seq: 5, Count: 2, HCount: 1}
	old.Acc, old.HAcc = manifestAccs(mk, Version1, nil)
	old.Sign(mk, vecID)
	encV1 := old.Marshal()
	var boxes []string
	for _, b := range manifestBoxes {
		boxes = append(boxes, hex.EncodeToString(b))
	}
	base := Vector{AccountID: vecID.String(), AccountKey: hex.EncodeToString(vecAK[:]), KeyVersion: 1, Encoded: hex.EncodeToString(enc), Boxes: boxes,
		Comment: "items 01… rev 1 and 02… rev 2; history 02… rev 1 (ids are the byte shown, then zeros); boxes in that order"}
	v := func(name, expect string, enc []byte, mod func(*Vector)) Vector {
		x := base
		x.Name, x.Expect, x.Encoded = name, expect, hex.EncodeToString(enc)
		if mod != nil {
			mod(&x)
		}
		return x
	}
	swapped := func(i int) func(*Vector) {
		return func(x *Vector) {
			x.Boxes = append([]string(nil), boxes...)
			x.Boxes[i] = hex.EncodeToString([]byte("another genuine box, same item and revision"))
		}
	}
	return []Vector{
		v("valid manifest", "ok", enc, nil),
		v("flipped bit in the count", "ErrTampered", flip(enc, 24), nil),
		v("flipped bit in the history accumulator", "ErrTampered", flip(enc, 70), nil),
		v("flipped bit in the tag", "ErrTampered", flip(enc, len(enc)-1), nil),
		v("truncated", "ErrMalformed", enc[:len(enc)-1], nil),
		v("an item's box swapped for another of the same revision", "ErrTampered", enc, swapped(1)),
		v("a past revision's box swapped", "ErrTampered", enc, swapped(2)),
		v("unknown version", "ErrVersion", func() []byte { c := append([]byte(nil), enc...); c[4] = 3; return c }(), nil),
		v("previous version (boxes not bound)", "ok", encV1, func(x *Vector) { x.Boxes = nil }),
		v("previous version relabelled as the current one", "ErrTampered", func() []byte { c := append([]byte(nil), encV1...); c[4] = Version2; return c }(), nil),
		v("current version relabelled as the previous one", "ErrTampered", func() []byte { c := append([]byte(nil), enc...); c[4] = Version1; return c }(), func(x *Vector) { x.Boxes = nil }),
	}
}

func checkManifestVector(t *testing.T, x Vector) {
	m, err := ParseManifest(mustHex(t, x.Encoded))
	if err == nil {
		if hex.EncodeToString(m.Marshal()) != x.Encoded {
			t.Fatal("re-encoding does not reproduce the input")
		}
		var ak keys.AccountKey
		copy(ak[:], mustHex(t, x.AccountKey))
		id, _ := keys.ParseAccountID(x.AccountID)
		err = m.Verify(ManifestKey(&ak), id)
		if err == nil {
			// The accumulators are those of the declared rows.
			var boxes [][]byte
			for _, b := range x.Boxes {
				boxes = append(boxes, mustHex(t, b))
			}
			if m.Version == Version2 && len(boxes) != 3 {
				t.Fatal("a current-version vector must declare its boxes")
			}
			acc, hacc := manifestAccs(ManifestKey(&ak), m.Version, boxes)
			if acc != m.Acc || hacc != m.HAcc || m.Count != 2 || m.HCount != 1 {
				err = ErrTampered
			}
		}
	}
	if got := errName(err); got != x.Expect {
		t.Fatalf("got %s, want %s", got, x.Expect)
	}
}

// makeEnvelopeHeaderVectors cuts the header (SPEC §14.3) out of the valid
// envelope vector: what POST /v1/login/params serves.
func makeEnvelopeHeaderVectors(t *testing.T) []Vector {
	envs := makeEnvelopeVectors(t)
	env := envs[0]
	full := mustHex(t, env.Encoded)
	good := full[:EnvelopeHeaderSize]
	base := Vector{Password: env.Password, SecretKey: env.SecretKey, AccountID: env.AccountID, KeyVersion: env.KeyVersion, Epoch: env.Epoch,
		Comment: "bytes 0..71 of the valid vector of envelope.json"}
	v := func(name, expect string, enc []byte, mod func(*Vector)) Vector {
		x := base
		x.Name, x.Expect, x.Encoded = name, expect, hex.EncodeToString(enc)
		if mod != nil {
			mod(&x)
		}
		return x
	}
	set := func(i int, c ...byte) []byte { b := append([]byte(nil), good...); copy(b[i:], c); return b }
	return []Vector{
		v("valid header", "ok", good, func(x *Vector) { x.WrapKey, x.LoginKey = env.WrapKey, env.LoginKey }),
		v("wrong Secret Key", "ErrWrongSecretKey", good, func(x *Vector) { x.SecretKey = vecSK2.Display() }),
		v("a whole envelope", "ErrMalformed", full, nil),
		v("truncated", "ErrMalformed", good[:len(good)-1], nil),
		v("trailing byte", "ErrMalformed", append(append([]byte(nil), good...), 0), nil),
		v("empty", "ErrMalformed", nil, nil),
		v("wrong magic", "ErrWrongMagic", flip(good, 0), nil),
		v("unknown version", "ErrVersion", set(4, 3), nil),
		v("unknown key derivation", "ErrVersion", set(29, 2), nil),
		v("KDF memory above the cap", "ErrKDFTooCostly", set(34, 0x00, 0x20, 0x00, 0x00), nil),
		v("zero passes", "ErrKDFTooWeak", set(30, 0, 0, 0, 0), nil),
		v("previous version relabelled as the current one", "ErrMalformed", set(4, Version1), nil),
		func() Vector {
			var old Vector
			for _, e := range envs {
				if e.Name == "previous version (no epoch)" {
					old = e
				}
			}
			x := v("previous version's header (no epoch)", "ok", mustHex(t, old.Encoded)[:EnvelopeHeaderSizeV1], nil)
			x.Epoch, x.WrapKey, x.LoginKey = 0, old.WrapKey, old.LoginKey
			x.Comment = "bytes 0..67 of the previous-version vector of envelope.json"
			return x
		}(),
	}
}

func checkEnvelopeHeaderVector(t *testing.T, x Vector) {
	enc := mustHex(t, x.Encoded)
	h, err := ParseEnvelopeHeader(enc)
	if err == nil {
		if !bytes.Equal(h.Header(), enc) {
			t.Fatal("re-encoding does not reproduce the input")
		}
		if h.AccountID.String() != x.AccountID || h.KeyVersion != x.KeyVersion || h.Epoch != x.Epoch || h.Box != nil {
			t.Fatal("parsed to other fields than the vector's")
		}
		var sk *keys.SecretKey
		if sk, err = keys.ParseSecretKey(x.SecretKey); err != nil {
			t.Fatal(err)
		}
		var d *keys.Derived
		d, err = h.Derive([]byte(x.Password), sk)
		if err == nil && (hex.EncodeToString(d.Wrap[:]) != x.WrapKey || hex.EncodeToString(d.Login[:]) != x.LoginKey) {
			t.Fatal("derived keys differ from the vector")
		}
	}
	if got := errName(err); got != x.Expect {
		t.Fatalf("got %s, want %s", got, x.Expect)
	}
}

// The header served before login and the full envelope fetched after it
// are one object: the header parses to the envelope's fields, and keys
// derived from the header alone unwrap the envelope.
func TestEnvelopeHeaderMatchesEnvelope(t *testing.T) {
	ev := loadVectors(t, "envelope.json")[0]
	hv := loadVectors(t, "envelope_header.json")[0]
	if ev.Expect != "ok" || hv.Expect != "ok" {
		t.Fatal("the first vectors must be the valid ones")
	}
	full := mustHex(t, ev.Encoded)
	if !bytes.Equal(mustHex(t, hv.Encoded), full[:EnvelopeHeaderSize]) {
		t.Fatal("envelope_header.json does not hold the header of envelope.json")
	}
	env, err := ParseEnvelope(full)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseEnvelopeHeader(full[:EnvelopeHeaderSize])
	if err != nil {
		t.Fatal(err)
	}
	if h.AccountID != env.AccountID || h.KeyVersion != env.KeyVersion || h.Epoch != env.Epoch || h.KDF != env.KDF ||
		h.Salt != env.Salt || h.SecretKeyCheck != env.SecretKeyCheck || h.Box != nil {
		t.Fatal("the header parses to other fields than the envelope")
	}
	sk, err := keys.ParseSecretKey(ev.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	d, err := h.Derive([]byte(ev.Password), sk)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(d.Wrap[:]) != ev.WrapKey || hex.EncodeToString(d.Login[:]) != ev.LoginKey {
		t.Fatal("keys derived from the header differ from the envelope vector's")
	}
	ak, err := env.OpenDerived(d)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(ak[:]) != ev.AccountKey {
		t.Fatal("opened to the wrong account key")
	}
	// Keys derived with another password do not open it, with the same
	// answer as Open gives.
	d2, err := h.Derive([]byte("another password"), sk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.OpenDerived(d2); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("got %v, want ErrWrongPassword", err)
	}
}

func TestVectors(t *testing.T) {
	sets := []struct {
		file  string
		make  func(*testing.T) []Vector
		check func(*testing.T, Vector)
	}{
		{"envelope.json", makeEnvelopeVectors, checkEnvelopeVector},
		{"item.json", makeItemVectors, checkItemVector},
		{"keycheck.json", makeKeyCheckVectors, checkKeyCheckVector},
		{"keyfile.json", makeKeyFileVectors, checkKeyFileVector},
		{"manifest.json", makeManifestVectors, checkManifestVector},
		{"envelope_header.json", makeEnvelopeHeaderVectors, checkEnvelopeHeaderVector},
		{"transition.json", makeTransitionVectors, checkTransitionVector},
	}
	for _, s := range sets {
		t.Run(s.file, func(t *testing.T) {
			made := s.make(t)
			if *update {
				saveVectors(t, s.file, made)
			}
			stored := loadVectors(t, s.file)
			// The code must still produce exactly the stored vectors.
			a, _ := json.Marshal(made)
			b, _ := json.Marshal(stored)
			if string(a) != string(b) {
				t.Errorf("the code no longer produces %s: the format changed (or run -update after a deliberate change)", s.file)
			}
			for _, x := range stored {
				t.Run(x.Name, func(t *testing.T) { s.check(t, x) })
			}
		})
	}
}

func readVectorFile(name string) ([]byte, error) { return os.ReadFile(filepath.Join(vectorDir, name)) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
