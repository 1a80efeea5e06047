package kitmail

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

func TestBodyText(t *testing.T) {
	for _, kind := range []string{KindPlain, KindAge, KindPGP} {
		b := BodyFor(kind)
		for _, line := range strings.Split(b.Text(), "\n") {
			if len([]rune(line)) > 72 && !strings.HasPrefix(line, "    ") {
				t.Errorf("%s: line longer than 72 columns: %q", kind, line)
			}
		}
		html := b.HTML()
		if strings.Count(html, "<ul>") != strings.Count(html, "</ul>") || !strings.HasSuffix(html, "</body></html>\n") {
			t.Errorf("%s: malformed HTML", kind)
		}
	}
	// Each kind's text says what the user holds, and only the plain one
	// says the mail was not encrypted.
	for kind, want := range map[string]string{
		KindPlain: "This email is NOT encrypted",
		KindAge:   "age --decrypt -i YOUR-IDENTITY-FILE -o kit.pdf kit.pdf.age",
		KindPGP:   "encrypted to your OpenPGP key on your device",
	} {
		text := BodyFor(kind).Text()
		if !strings.Contains(strings.Join(strings.Fields(text), " "), want) {
			t.Errorf("%s: the text does not say %q", kind, want)
		}
		if kind != KindPlain && strings.Contains(text, "NOT encrypted") {
			t.Errorf("%s: the text says it is not encrypted", kind)
		}
	}
}

func testKey(t *testing.T, cfg *packet.Config) (*openpgp.Entity, []byte, []byte) {
	t.Helper()
	e, err := openpgp.NewEntity("Alice", "", "alice@example.org", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var armored, binary bytes.Buffer
	w, _ := armor.Encode(&armored, openpgp.PublicKeyType, nil)
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := e.Serialize(&binary); err != nil {
		t.Fatal(err)
	}
	return e, armored.Bytes(), binary.Bytes()
}

func TestReadPGPKey(t *testing.T) {
	now := time.Now()
	k1, pub, bin := testKey(t, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	k2, pub2, _ := testKey(t, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	_, _, expired := testKey(t, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA,
		KeyLifetimeSecs: 60, Time: func() time.Time { return now.Add(-time.Hour) }})
	var oneBlock bytes.Buffer
	w, _ := armor.Encode(&oneBlock, openpgp.PublicKeyType, nil)
	k1.Serialize(w)
	k2.Serialize(w)
	w.Close()
	var priv bytes.Buffer
	w, _ = armor.Encode(&priv, openpgp.PrivateKeyType, nil)
	k1.SerializePrivate(w, nil)
	w.Close()
	for _, tc := range []struct {
		name string
		b    []byte
		ok   bool
	}{
		{"armored", pub, true},
		{"binary", bin, true},
		{"two blocks", append(bytes.Clone(pub), pub2...), false},
		{"two keys in one block", oneBlock.Bytes(), false},
		{"expired", expired, false},
		{"private key", priv.Bytes(), false},
		{"garbage", []byte("hello"), false},
		{"too large", bytes.Repeat([]byte{0x99}, MaxPGPKey+1), false},
	} {
		e, err := ReadPGPKey(tc.b, now)
		if tc.ok != (err == nil) {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if err == nil && !bytes.Equal(Fingerprint(e), k1.PrimaryKey.Fingerprint) {
			t.Errorf("%s: fingerprint %x", tc.name, Fingerprint(e))
		}
		if err == nil && len(Fingerprint(e)) != 20 {
			t.Errorf("%s: a v4 fingerprint of %d bytes", tc.name, len(Fingerprint(e)))
		}
	}
}

// TestSeal: what the device seals opens only with the recipient's key, to
// the kit files, and passes CheckPayload for its kind only.
func TestSeal(t *testing.T) {
	pdf := []byte("%PDF-1.4 a kit KH1-SECRET")
	png := []byte("\x89PNG a QR code")
	e, _, _ := testKey(t, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	p, err := SealPGP(e, pdf, png)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(p, []byte("KH1-SECRET")) {
		t.Fatal("the sealed payload holds the kit")
	}
	block, err := armor.Decode(bytes.NewReader(p))
	if err != nil {
		t.Fatal(err)
	}
	md, err := openpgp.ReadMessage(block.Body, openpgp.EntityList{e}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	inner, _ := io.ReadAll(md.UnverifiedBody)
	for _, want := range []string{"multipart/mixed", "multipart/alternative", "text/plain", "text/html", `filename=kit.pdf`, `filename=kit.png`, "JVBERi0xLjQ"} {
		if !bytes.Contains(inner, []byte(want)) {
			t.Errorf("the inner body has no %q", want)
		}
	}

	id, _ := age.GenerateX25519Identity()
	a, err := SealAge(id.Recipient(), pdf)
	if err != nil {
		t.Fatal(err)
	}
	r, err := age.Decrypt(bytes.NewReader(a), id)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(r); !bytes.Equal(got, pdf) {
		t.Fatal("the age file does not open to the PDF")
	}
	// A hybrid post-quantum recipient (age1pq1…) seals the same way.
	pq, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	apq, err := SealAge(pq.Recipient(), pdf)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := age.Decrypt(bytes.NewReader(apq), pq); err != nil {
		t.Fatal(err)
	} else if got, _ := io.ReadAll(r); !bytes.Equal(got, pdf) || CheckPayload(KindAge, apq) != nil {
		t.Fatal("the hybrid age file does not open to the PDF, or is not an age payload")
	}

	for kind, payload := range map[string][]byte{KindPGP: p, KindAge: a, KindPlain: pdf} {
		for other := range map[string]bool{KindPGP: true, KindAge: true, KindPlain: true} {
			err := CheckPayload(other, payload)
			if (other == kind) != (err == nil) {
				t.Errorf("CheckPayload(%s) of a %s payload: %v", other, kind, err)
			}
			if err != nil && !errors.Is(err, ErrPayload) {
				t.Errorf("error %v is not ErrPayload", err)
			}
		}
	}
	for _, bad := range [][]byte{
		[]byte("-----BEGIN PGP MESSAGE-----\n\x1b]0;title\x07\n-----END PGP MESSAGE-----\n"),
		[]byte("-----BEGIN PGP MESSAGE-----\n" + strings.Repeat("A", 77) + "\n-----END PGP MESSAGE-----\n"),
		[]byte("-----BEGIN PGP MESSAGE-----\nContent-Type: text/html\n"),
	} {
		if CheckPayload(KindPGP, bad) == nil {
			t.Errorf("accepted %q as an armored message", bad)
		}
	}
	if CheckPayload("none", pdf) == nil {
		t.Error("accepted an unknown kind")
	}
}

// FuzzCheckPayload: the mailer's shape check never panics, and an
// accepted OpenPGP payload holds only printable ASCII lines.
func FuzzCheckPayload(f *testing.F) {
	f.Add("pgp", []byte("-----BEGIN PGP MESSAGE-----\n\nwcBMA\n-----END PGP MESSAGE-----\n"))
	f.Add("age", []byte("age-encryption.org/v1\n-> X25519 x\n"))
	f.Add("plain", []byte("%PDF-1.4\n"))
	f.Add("pgp", []byte("-----BEGIN PGP MESSAGE-----\r\n\x00\r\n-----END PGP MESSAGE-----"))
	f.Fuzz(func(t *testing.T, kind string, b []byte) {
		if CheckPayload(kind, b) != nil || kind != KindPGP {
			return
		}
		for _, c := range b {
			if c != '\r' && c != '\n' && (c < ' ' || c > '~') {
				t.Fatalf("accepted byte %#x in an armored payload", c)
			}
		}
	})
}
