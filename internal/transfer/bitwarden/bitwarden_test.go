package bitwarden

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/transfertest"
)

func TestBitwardenJSONFields(t *testing.T) {
	res := transfertest.MustRead(t, ReadJSON, "testdata/bitwarden/individual.json", nil)
	transfertest.CheckFields(t, res, []transfertest.FieldCase{
		{"Café Zürich Bank", "username", "jörg@example.ch", item.Text, false},
		{"Café Zürich Bank", "password", "correct hörse", item.Hidden, false},
		{"Café Zürich Bank", "totp", "otpauth://totp/Bank:j%C3%B6rg?secret=JBSWY3DPEHPK3PXP&issuer=Bank", item.TOTP, false},
		{"Café Zürich Bank", "Kundennummer", "12345", item.Text, true},
		{"Café Zürich Bank", "Security answer", "Grüße", item.Hidden, true},
		{"Café Zürich Bank", "Two-factor", "true", item.Text, true},
		// A custom field named like a standard one never overwrites it.
		{"Café Zürich Bank", "username (2)", "second-username", item.Text, true},
		{"Visa", "cardholder", "Jörg Müller", item.Text, false},
		{"Visa", "number", "4111111111111111", item.Hidden, false},
		{"Visa", "expiry", "01/2032", item.Text, false},
		{"Visa", "cvv", "123", item.Hidden, false},
		{"Visa", "brand", "Visa", item.Text, false},
		{"My identity", "salutation", "Mr", item.Text, true},
		{"My identity", "first_name", "Jörg", item.Text, false},
		{"My identity", "middle_name", "K.", item.Text, true},
		{"My identity", "last_name", "Müller", item.Text, false},
		{"My identity", "email", "jorg@example.ch", item.Text, false},
		{"My identity", "phone", "+41 44 000 00 00", item.Text, false},
		{"My identity", "address", "Bahnhofstrasse 1\nc/o Example AG", item.Text, false},
		{"My identity", "city", "Zürich", item.Text, true},
		{"My identity", "state", "ZH", item.Text, true},
		{"My identity", "postal_code", "8001", item.Text, true},
		{"My identity", "country", "CH", item.Text, true},
		{"My identity", "company", "Example AG", item.Text, false},
		{"My identity", "ssn", "756.1234.5678.97", item.Hidden, true},
		{"My identity", "username", "jmueller", item.Text, true},
		{"My identity", "passport", "X1234567", item.Hidden, false},
		{"My identity", "license", "DL-998877", item.Hidden, false},
		{"Server key", "private_key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n", item.Hidden, true},
		{"Server key", "public_key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI example", item.Text, true},
		{"Server key", "fingerprint", "SHA256:k1cXY3a8i2B2uvb2nu10Omy/MOd31YFbdhp6griUjC0", item.Text, true},
		// Steam's secret is not a TOTP Keyhold can generate: kept hidden.
		{"Steam", "one-time password", "steam://ABCDEFGHIJ", item.Hidden, true},
	})
}

func TestBitwardenJSONItems(t *testing.T) {
	res := transfertest.MustRead(t, ReadJSON, "testdata/bitwarden/individual.json", nil)
	if len(res.Items) != 6 {
		t.Fatalf("got %d items, want 6 (the unknown type is skipped)", len(res.Items))
	}
	bank := transfertest.ByTitle(t, res, "Café Zürich Bank")
	it := bank.Item
	if it.Type != item.Login || !it.Favorite || bank.Source != "Banking/Café Zürich Bank" {
		t.Errorf("bank: type %s favorite %v source %q", it.Type, it.Favorite, bank.Source)
	}
	if !slices.Equal(it.URLs, []string{"https://bank.example.ch/login", "https://app.bank.example.ch"}) {
		t.Errorf("bank URLs = %q", it.URLs)
	}
	if !slices.Equal(it.Tags, []string{"Banking"}) {
		t.Errorf("bank tags = %q", it.Tags)
	}
	if it.Notes != "Line one\nLine two, with a comma\n日本語のメモ" {
		t.Errorf("bank notes = %q", it.Notes)
	}
	if want := time.Date(2024, 1, 2, 11, 23, 54, 416e6, time.UTC); !it.Created.Equal(want) {
		t.Errorf("created = %v, want %v", it.Created, want)
	}
	if want := time.Date(2024, 1, 30, 14, 9, 33, 753e6, time.UTC); !it.Modified.Equal(want) {
		t.Errorf("modified = %v, want %v", it.Modified, want)
	}
	// Password history: older revisions differing only in the password.
	if len(bank.History) != 2 {
		t.Fatalf("bank history has %d revisions, want 2", len(bank.History))
	}
	for i, want := range []struct {
		pw   string
		when time.Time
	}{{"oldest-pässword", time.Date(2024, 1, 10, 8, 0, 0, 0, time.UTC)}, {"older-password", time.Date(2024, 1, 20, 8, 0, 0, 0, time.UTC)}} {
		h := bank.History[i]
		if p, _ := h.Get("password"); p != want.pw || !h.Modified.Equal(want.when) {
			t.Errorf("history %d: password %q at %v; want %q at %v", i, p, h.Modified, want.pw, want.when)
		}
		if h.Username() != it.Username() || h.Title != it.Title {
			t.Errorf("history %d differs in more than the password", i)
		}
	}
	if n := transfertest.ByTitle(t, res, "Wi-Fi \"Home\", upstairs").Item; n.Type != item.Note || n.Notes != "SSID: home\nKey: 8chars-long" {
		t.Errorf("note: %s %q", n.Type, n.Notes)
	}
	if id := transfertest.ByTitle(t, res, "My identity").Item; !slices.Equal(id.Tags, []string{"Work/Clients"}) || id.Type != item.Identity {
		t.Errorf("identity: type %s tags %q", id.Type, id.Tags)
	}
	if k := transfertest.ByTitle(t, res, "Server key").Item; k.Type != item.Note {
		t.Errorf("SSH key imported as %s, want note", k.Type)
	}
}

func TestBitwardenJSONUnmapped(t *testing.T) {
	res := transfertest.MustRead(t, ReadJSON, "testdata/bitwarden/individual.json", nil)
	for _, want := range [][]string{
		{`"Banking/Café Zürich Bank"`, "re-prompt"},
		{`"Banking/Café Zürich Bank"`, "linked custom field", "Linked user"},
		{`"Banking/Café Zürich Bank"`, "1 URL match"},
		{`"Future type"`, "type 9", "skipped"},
		{`"Steam"`, "passkey"},
		{`"Steam"`, "one-time password", "not an otpauth"},
	} {
		if !transfertest.HasLine(res.Unmapped, want...) {
			t.Errorf("no Unmapped line with %q in:\n%s", want, strings.Join(res.Unmapped, "\n"))
		}
	}
	// Lines name fields, never values.
	for _, secret := range []string{"correct hörse", "hunter2", "Grüße", "ABCDEFGHIJ", "oldest-pässword"} {
		for _, l := range res.Unmapped {
			if strings.Contains(l, secret) {
				t.Errorf("Unmapped line quotes a value: %q", l)
			}
		}
	}
}

func TestBitwardenJSONOrganization(t *testing.T) {
	res := transfertest.MustRead(t, ReadJSON, "testdata/bitwarden/org.json", nil)
	r := transfertest.ByTitle(t, res, "Router").Item
	if !slices.Equal(r.Tags, []string{"Shared/Infra", "Équipe"}) {
		t.Errorf("collections became tags %q", r.Tags)
	}
	if p, _ := r.Get("password"); p != "r0uter!" {
		t.Errorf("password = %q", p)
	}
}

func TestBitwardenJSONRefused(t *testing.T) {
	good := transfertest.File(t, "testdata/bitwarden/individual.json")
	account := transfertest.File(t, "testdata/bitwarden/account-encrypted.json")
	cases := []struct {
		name string
		in   []byte
		want error
		hint string
	}{
		{"empty", nil, transfer.ErrSourceFormat, "empty"},
		{"not json", []byte("folder,type,name\n"), transfer.ErrSourceFormat, "not valid JSON"},
		{"truncated", good[:len(good)/2], transfer.ErrSourceFormat, "truncated"},
		{"truncated end", good[:len(good)-2], transfer.ErrSourceFormat, "truncated"},
		{"no items", []byte(`{"encrypted":false,"folders":[]}`), transfer.ErrSourceFormat, "items"},
		{"wrong type", []byte(`{"encrypted":false,"items":{"a":1}}`), transfer.ErrSourceFormat, "wrong type"},
		{"trailing", append(slices.Clone(good), []byte(`{}`)...), transfer.ErrSourceFormat, "more data"},
		{"account restricted", account, transfer.ErrSourceFormat, "account-restricted"},
		{"binary", []byte{0x50, 0x4b, 0x03, 0x04, 0, 0, 0xff}, transfer.ErrSourceFormat, "UTF-8"},
	}
	r := ReadJSON
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := r(c.in, transfer.ImportOptions{Now: transfertest.SrcNow})
			if !errors.Is(err, c.want) || res != nil {
				t.Fatalf("got %v, %v; want %v and no result", res, err, c.want)
			}
			if !strings.Contains(err.Error(), c.hint) {
				t.Fatalf("error %q does not say %q", err, c.hint)
			}
		})
	}
}

// Published test vectors of Bitwarden's SDK (crates/bitwarden-crypto:
// kdf.rs test_master_key_derive_pbkdf2 and test_master_key_derive_argon2,
// utils.rs test_stretch_kdf_key). They pin the KDFs, Bitwarden's hashing
// of the salt for Argon2id, and the HKDF-Expand stretch.
func TestBitwardenKDFVectors(t *testing.T) {
	pbkdf2Out := []byte{31, 79, 104, 226, 150, 71, 177, 90, 194, 80, 172, 209, 17, 129, 132, 81, 138, 167,
		69, 167, 254, 149, 2, 27, 39, 197, 64, 42, 22, 195, 86, 75}
	got, err := bwKDF([]byte("67t9b5g67$%Dh89n"), "test_key", bwKDFPBKDF2, 10000, nil, nil)
	if err != nil || !bytes.Equal(got, pbkdf2Out) {
		t.Fatalf("PBKDF2 = %v, %v; want the published vector", got, err)
	}
	mem, par := int64(32), int64(2)
	got, err = bwKDF([]byte("67t9b5g67$%Dh89n"), "test_key", bwKDFArgon2id, 4, &mem, &par)
	want := []byte{207, 240, 225, 177, 162, 19, 163, 76, 98, 106, 179, 175, 224, 9, 17, 240, 20, 147,
		237, 47, 246, 150, 141, 184, 62, 225, 131, 242, 51, 53, 225, 242}
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Argon2id = %v, %v; want the published vector", got, err)
	}
	keys, err := bwStretch(pbkdf2Out)
	if err != nil {
		t.Fatal(err)
	}
	wantEnc := []byte{111, 31, 178, 45, 238, 152, 37, 114, 143, 215, 124, 83, 135, 173, 195, 23, 142,
		134, 120, 249, 61, 132, 163, 182, 113, 197, 189, 204, 188, 21, 237, 96}
	wantMac := []byte{221, 127, 206, 234, 101, 27, 202, 38, 86, 52, 34, 28, 78, 28, 185, 16, 48, 61, 127,
		166, 209, 247, 194, 87, 232, 26, 48, 85, 193, 249, 179, 155}
	if !bytes.Equal(keys.enc, wantEnc) || !bytes.Equal(keys.mac, wantMac) {
		t.Fatalf("stretch = %v / %v; want the published vector", keys.enc, keys.mac)
	}
}

// bwSeal writes a type 2 EncString: AES-256-CBC with PKCS#7 padding, then
// HMAC-SHA256 over iv || ciphertext, as Bitwarden's clients do.
func bwSeal(t testing.TB, k bwKeys, plain []byte) string {
	t.Helper()
	iv := make([]byte, aes.BlockSize)
	rand.Read(iv)
	n := aes.BlockSize - len(plain)%aes.BlockSize
	padded := append(slices.Clone(plain), bytes.Repeat([]byte{byte(n)}, n)...)
	block, err := aes.NewCipher(k.enc)
	if err != nil {
		t.Fatal(err)
	}
	ct := make([]byte, len(padded))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, padded)
	m := hmac.New(sha256.New, k.mac)
	m.Write(iv)
	m.Write(ct)
	b64 := base64.StdEncoding.EncodeToString
	return "2." + b64(iv) + "|" + b64(ct) + "|" + b64(m.Sum(nil))
}

// bwProtect builds a password-protected export of plain the way
// Bitwarden's clients do: a random base64 salt used as text, the KDF,
// HKDF stretch, a sealed UUID for encKeyValidation and the sealed export.
func bwProtect(t testing.TB, plain []byte, password string, kdfType int, iterations, memory, parallelism int64) []byte {
	t.Helper()
	rawSalt := make([]byte, 16)
	rand.Read(rawSalt)
	salt := base64.StdEncoding.EncodeToString(rawSalt)
	var mem, par *int64
	if kdfType == bwKDFArgon2id {
		mem, par = &memory, &parallelism
	}
	keys, err := bwDeriveKeys([]byte(password), salt, kdfType, iterations, mem, par)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{
		"encrypted":                    true,
		"passwordProtected":            true,
		"salt":                         salt,
		"kdfType":                      kdfType,
		"kdfIterations":                iterations,
		"kdfMemory":                    mem,
		"kdfParallelism":               par,
		"encKeyValidation_DO_NOT_EDIT": bwSeal(t, keys, []byte("9c2d6b3e-8f1a-4b7c-a3d5-0e9f8a7b6c5d")),
		"data":                         bwSeal(t, keys, plain),
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bwFixturePassword opens testdata/bitwarden/password-protected*.json.
const bwFixturePassword = "Kennwort mit Ümlaut"

func TestBitwardenPasswordProtected(t *testing.T) {
	plain := transfertest.File(t, "testdata/bitwarden/individual.json")
	r := ReadJSON
	want, err := r(plain, transfer.ImportOptions{Now: transfertest.SrcNow})
	if err != nil {
		t.Fatal(err)
	}
	pbkdf := bwProtect(t, plain, "pässwort", bwKDFPBKDF2, 5000, 0, 0)
	argon := bwProtect(t, plain, "pässwort", bwKDFArgon2id, 2, 16, 1)
	for _, c := range []struct {
		name string
		in   []byte
	}{{"pbkdf2", pbkdf}, {"argon2id", argon}} {
		t.Run(c.name, func(t *testing.T) {
			got, err := r(c.in, transfer.ImportOptions{Password: []byte("pässwort"), Now: transfertest.SrcNow})
			if err != nil {
				t.Fatal(err)
			}
			transfertest.Check(t, got)
			if len(got.Items) != len(want.Items) {
				t.Fatalf("got %d items, want %d", len(got.Items), len(want.Items))
			}
			for i := range got.Items {
				a, b := got.Items[i].Item, want.Items[i].Item
				if a.Title != b.Title || !slices.Equal(a.Fields, b.Fields) || a.Notes != b.Notes || len(got.Items[i].History) != len(want.Items[i].History) {
					t.Fatalf("item %d differs from the unencrypted export's", i)
				}
			}
			for _, bad := range []struct {
				name string
				pw   []byte
			}{{"none", nil}, {"wrong", []byte("passwort")}, {"empty", []byte{}}} {
				res, err := r(c.in, transfer.ImportOptions{Password: bad.pw, Now: transfertest.SrcNow})
				if !errors.Is(err, transfer.ErrSourcePassword) || res != nil {
					t.Fatalf("password %s: got %v, %v; want ErrSourcePassword and no result", bad.name, res, err)
				}
			}
		})
	}
}

func TestBitwardenPasswordProtectedDamaged(t *testing.T) {
	plain, _ := os.ReadFile("testdata/bitwarden/org.json")
	good := bwProtect(t, plain, "pw", bwKDFPBKDF2, 5000, 0, 0)
	var doc map[string]any
	if err := json.Unmarshal(good, &doc); err != nil {
		t.Fatal(err)
	}
	edit := func(k string, v any) []byte {
		d := map[string]any{}
		for k, v := range doc {
			d[k] = v
		}
		if v == nil {
			delete(d, k)
		} else {
			d[k] = v
		}
		b, _ := json.Marshal(d)
		return b
	}
	flip := func(enc string, part int) string {
		typ, rest, _ := strings.Cut(enc, ".")
		parts := strings.Split(rest, "|")
		b, _ := base64.StdEncoding.DecodeString(parts[part])
		b[len(b)-1] ^= 1
		parts[part] = base64.StdEncoding.EncodeToString(b)
		return typ + "." + strings.Join(parts, "|")
	}
	data := doc["data"].(string)
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"data ciphertext flipped", edit("data", flip(data, 1)), transfer.ErrSourceFormat},
		{"data mac flipped", edit("data", flip(data, 2)), transfer.ErrSourceFormat},
		{"data iv flipped", edit("data", flip(data, 0)), transfer.ErrSourceFormat},
		{"validation flipped", edit("encKeyValidation_DO_NOT_EDIT", flip(doc["encKeyValidation_DO_NOT_EDIT"].(string), 1)), transfer.ErrSourcePassword},
		{"type 0 enc string", edit("data", "0."+strings.SplitN(data, ".", 2)[1]), transfer.ErrSourceFormat},
		{"two parts", edit("data", data[:strings.LastIndex(data, "|")]), transfer.ErrSourceFormat},
		{"no data", edit("data", nil), transfer.ErrSourceFormat},
		{"no salt", edit("salt", nil), transfer.ErrSourceFormat},
		{"no kdf", edit("kdfType", nil), transfer.ErrSourceFormat},
		{"unknown kdf", edit("kdfType", 7), transfer.ErrSourceFormat},
		{"absurd iterations", edit("kdfIterations", 1e12), transfer.ErrSourceFormat},
		{"too few iterations", edit("kdfIterations", 1), transfer.ErrSourceFormat},
		{"absurd argon memory", func() []byte {
			d := edit("kdfType", 1)
			var m map[string]any
			json.Unmarshal(d, &m)
			m["kdfIterations"], m["kdfMemory"], m["kdfParallelism"] = 3, 1<<20, 4
			b, _ := json.Marshal(m)
			return b
		}(), transfer.ErrSourceFormat},
		{"truncated", good[:len(good)-20], transfer.ErrSourceFormat},
	}
	r := ReadJSON
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := r(c.in, transfer.ImportOptions{Password: []byte("pw"), Now: transfertest.SrcNow})
			if !errors.Is(err, c.want) || res != nil {
				t.Fatalf("got %v, %v; want %v and no result", res, err, c.want)
			}
		})
	}
}

// TestBitwardenPasswordProtectedFixture reads a committed export, so that
// a change to the reader that the generator shares cannot go unnoticed.
func TestBitwardenPasswordProtectedFixture(t *testing.T) {
	for _, file := range []string{"password-protected-pbkdf2.json", "password-protected-argon2id.json"} {
		t.Run(file, func(t *testing.T) {
			path := filepath.Join("testdata/bitwarden", file)
			if os.Getenv("KEYHOLD_WRITE_FIXTURES") != "" {
				plain, _ := os.ReadFile("testdata/bitwarden/individual.json")
				b := bwProtect(t, plain, bwFixturePassword, bwKDFPBKDF2, 5000, 0, 0)
				if strings.Contains(file, "argon") {
					b = bwProtect(t, plain, bwFixturePassword, bwKDFArgon2id, 2, 16, 2)
				}
				if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			res := transfertest.MustRead(t, ReadJSON, path, []byte(bwFixturePassword))
			if p, _ := transfertest.ByTitle(t, res, "Café Zürich Bank").Item.Get("password"); p != "correct hörse" {
				t.Fatalf("password = %q", p)
			}
			if _, err := transfertest.Read(t, ReadJSON, path, []byte("wrong")); !errors.Is(err, transfer.ErrSourcePassword) {
				t.Fatalf("wrong password: %v", err)
			}
		})
	}
}

func TestBitwardenCSV(t *testing.T) {
	res := transfertest.MustRead(t, ReadCSV, "testdata/bitwarden/individual.csv", nil)
	if len(res.Items) != 3 || res.Skipped != 1 {
		t.Fatalf("got %d items, %d skipped; want 3 and 1", len(res.Items), res.Skipped)
	}
	transfertest.CheckFields(t, res, []transfertest.FieldCase{
		{"Twitter", "username", "bob", item.Text, false},
		{"Twitter", "password", "tw-pass", item.Hidden, false},
		{"Twitter", "totp", "otpauth://totp/Twitter:bob?secret=JBSWY3DPEHPK3PXP", item.TOTP, false},
		{"Café, Zürich", "username", "jörg", item.Text, false},
		{"Café, Zürich", "password", "pässword", item.Hidden, false},
		{"Café, Zürich", "PIN", "1234", item.Text, true},
		// Bitwarden splits at the last ": ".
		{"Café, Zürich", "Memorable: Grüße", "ok", item.Text, true},
	})
	tw := transfertest.ByTitle(t, res, "Twitter").Item
	if !tw.Favorite || !slices.Equal(tw.Tags, []string{"Social"}) || !slices.Equal(tw.URLs, []string{"https://twitter.com"}) {
		t.Errorf("Twitter: favorite %v tags %q urls %q", tw.Favorite, tw.Tags, tw.URLs)
	}
	wifi := transfertest.ByTitle(t, res, "Wi-Fi").Item
	if wifi.Type != item.Note || wifi.Notes != "SSID: home\nkey: x, with comma" {
		t.Errorf("Wi-Fi: %s %q", wifi.Type, wifi.Notes)
	}
	cafe := transfertest.ByTitle(t, res, "Café, Zürich").Item
	if !slices.Equal(cafe.URLs, []string{"https://a.example", "https://b.example"}) {
		t.Errorf("multiple URIs: %q", cafe.URLs)
	}
	if cafe.Notes != "Multi\nline \"quoted\" notes" || cafe.Favorite {
		t.Errorf("notes %q favorite %v", cafe.Notes, cafe.Favorite)
	}
	if !transfertest.HasLine(res.Unmapped, `"Banking/Café, Zürich"`, "re-prompt") {
		t.Errorf("reprompt not reported: %q", res.Unmapped)
	}
	if len(cafe.Fields) != 4 {
		t.Errorf("fields: %+v (the empty NoValue field holds nothing)", cafe.Fields)
	}

	org := transfertest.MustRead(t, ReadCSV, "testdata/bitwarden/org.csv", nil)
	if r := transfertest.ByTitle(t, org, "Router").Item; !slices.Equal(r.Tags, []string{"Shared/Infra"}) {
		t.Errorf("collections column: tags %q", r.Tags)
	}
}

func TestBitwardenCSVRefused(t *testing.T) {
	good, _ := os.ReadFile("testdata/bitwarden/individual.csv")
	transfertest.Bad(t, ReadCSV, []transfertest.BadCase{
		{"empty", "", "empty"},
		{"other header", "title,username,password\nA,b,c\n", "\"name\" and \"type\""},
		{"truncated in quotes", string(good[:bytes.Index(good, []byte("SSID"))+6]), "not closed"},
		{"short row", "folder,favorite,type,name\n,,login\n", "line 2 has 3 cells"},
		{"bare quote", "type,name\nlogin,a\"b\n", "line 2"},
		{"latin1", "type,name\nlogin,Caf\xe9\n", "UTF-8"},
		{"json", `{"encrypted":false,"items":[]}`, ""},
	})
}

// bwLowKDFLimits lets fuzzing reach the decryption without spending
// seconds in a KDF the input asks for.
func bwLowKDFLimits(f *testing.F) {
	saved := bwLimits
	bwLimits.maxPBKDF2 = 5000
	bwLimits.maxArgonTime, bwLimits.maxArgonMiB, bwLimits.maxArgonThreads = 2, 16, 1
	f.Cleanup(func() { bwLimits = saved })
}

func FuzzReadBitwardenJSON(f *testing.F) {
	transfertest.AddFiles(f, "testdata/bitwarden/individual.json", "testdata/bitwarden/org.json", "testdata/bitwarden/account-encrypted.json", "testdata/bitwarden/password-protected-pbkdf2.json")
	f.Add([]byte(`{"encrypted":false,"items":[{"type":1,"name":"","login":{"uris":[{"uri":null}]}}]}`))
	bwLowKDFLimits(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		transfertest.Fuzz(t, ReadJSON, in, []byte(bwFixturePassword))
	})
}

func FuzzReadBitwardenCSV(f *testing.F) {
	transfertest.AddFiles(f, "testdata/bitwarden/individual.csv", "testdata/bitwarden/org.csv")
	f.Add([]byte("type,name,fields,login_uri\nlogin,a,\"x: y\nz\",\"\"\"a\"\",b\"\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		transfertest.Fuzz(t, ReadCSV, in, nil)
	})
}
