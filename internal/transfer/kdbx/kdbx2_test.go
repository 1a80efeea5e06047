package kdbx

import (
	"bytes"
	"compress/gzip"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rc4"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tobischo/gokeepasslib/v3"

	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/transfer"
	"github.com/keyhold/keyhold/internal/transfer/transfertest"
)

// kdbx2Bytes writes a database to the KDBX 2.x layout KeePass 2.00 to 2.19
// wrote (as KeePass's KdbxFile and KeePassXC's Kdbx3Reader read it): the
// 3.x container with file version 2.x, no header hash in the XML, and the
// protected values masked with the given inner stream (1 = ArcFour
// variant, which the first KeePass 2 releases used, 2 = Salsa20). The
// password is "pw"; the AES key derivation runs 10 rounds.
func kdbx2Bytes(t testing.TB, minor uint16, streamID uint32) []byte {
	t.Helper()
	return kdbxLegacyBytes(t, 2, minor, streamID)
}

// kdbxLegacyBytes writes that database with the version given: 2.x or,
// in the same container, 3.x. It is deterministic, so fuzz seeds made
// from it stay valid.
func kdbxLegacyBytes(t testing.TB, major, minor uint16, streamID uint32) []byte {
	t.Helper()
	masterSeed := bytes.Repeat([]byte{1}, 32)
	transformSeed := bytes.Repeat([]byte{2}, 32)
	iv := bytes.Repeat([]byte{3}, 16)
	streamKey := bytes.Repeat([]byte{4}, 32)
	start := bytes.Repeat([]byte{5}, 32)
	const rounds = 10

	var hdr bytes.Buffer
	binary.Write(&hdr, binary.LittleEndian, []uint32{kdbxSig1, kdbxSig2})
	binary.Write(&hdr, binary.LittleEndian, []uint16{minor, major})
	field := func(id byte, data []byte) {
		hdr.WriteByte(id)
		binary.Write(&hdr, binary.LittleEndian, uint16(len(data)))
		hdr.Write(data)
	}
	field(kdbxHdrCipherID, gokeepasslib.CipherAES)
	field(kdbxHdrCompression, binary.LittleEndian.AppendUint32(nil, 1))
	field(kdbxHdrMasterSeed, masterSeed)
	field(kdbxHdrTransformSeed, transformSeed)
	field(kdbxHdrTransformRnds, binary.LittleEndian.AppendUint64(nil, rounds))
	field(kdbxHdrEncryptionIV, iv)
	field(kdbxHdrStreamKey, streamKey)
	field(kdbxHdrStreamStart, start)
	field(kdbxHdrStreamID, binary.LittleEndian.AppendUint32(nil, streamID))
	field(kdbxHdrEnd, []byte("\r\n\r\n"))

	// Protected values, masked in document order by one running stream.
	var stream interface{ XORKeyStream(dst, src []byte) }
	switch streamID {
	case kdbxStreamArcFour:
		stream = newKDBXArcFour(streamKey)
	case kdbxStreamSalsa20:
		stream = &kdbxSalsa{key: sha256.Sum256(streamKey)}
	default:
		t.Fatalf("stream %d", streamID)
	}
	mask := func(s string) string {
		b := []byte(s)
		stream.XORKeyStream(b, b)
		return base64.StdEncoding.EncodeToString(b)
	}
	var zbin bytes.Buffer
	zw := gzip.NewWriter(&zbin)
	zw.Write([]byte("a KeePass 2.0x attachment\n"))
	zw.Close()
	doc := `<?xml version="1.0" encoding="utf-8" standalone="yes"?>
<KeePassFile><Meta><Generator>KeePass</Generator><DatabaseName>Old</DatabaseName>
<Binaries><Binary ID="0" Compressed="True">` + base64.StdEncoding.EncodeToString(zbin.Bytes()) + `</Binary></Binaries></Meta>
<Root><Group><UUID>4A1KR6h9TiGtbHtdHtHdoA==</UUID><Name>Old</Name>
<Group><UUID>/NfknFI4TeaAZQ7EyaD/OA==</UUID><Name>eMail</Name>
<Entry><UUID>AAECAwQFBgcICQoLDA0ODw==</UUID>
<Times><LastModificationTime>2009-05-06T07:08:09Z</LastModificationTime><CreationTime>2008-05-06T07:08:09Z</CreationTime></Times>
<String><Key>Title</Key><Value>Mail</Value></String>
<String><Key>UserName</Key><Value>olduser</Value></String>
<String><Key>Password</Key><Value Protected="True">` + mask("old pässword") + `</Value></String>
<String><Key>URL</Key><Value>https://mail.example</Value></String>
<String><Key>PIN</Key><Value Protected="True">` + mask("2468") + `</Value></String>
<Binary><Key>note.txt</Key><Value Ref="0"/></Binary>
</Entry></Group></Group></Root></KeePassFile>`

	var payload bytes.Buffer
	zw = gzip.NewWriter(&payload)
	zw.Write([]byte(doc))
	zw.Close()
	var plain bytes.Buffer
	plain.Write(start)
	block := payload.Bytes()
	sum := sha256.Sum256(block)
	binary.Write(&plain, binary.LittleEndian, uint32(0))
	plain.Write(sum[:])
	binary.Write(&plain, binary.LittleEndian, uint32(len(block)))
	plain.Write(block)
	binary.Write(&plain, binary.LittleEndian, uint32(1))
	plain.Write(make([]byte, 32))
	binary.Write(&plain, binary.LittleEndian, uint32(0))
	pad := 16 - plain.Len()%16
	plain.Write(bytes.Repeat([]byte{byte(pad)}, pad))

	composite, err := kdbxCompositeKey(kdbxPassword("pw"))
	if err != nil {
		t.Fatal(err)
	}
	kdf := kdbxKDF{uuid: gokeepasslib.KdfAES3, rounds: rounds, seed: transformSeed}
	b, _ := aes.NewCipher(kdbxCipherKey(masterSeed, kdf.transform(composite)))
	ct := plain.Bytes()
	cipher.NewCBCEncrypter(b, iv).CryptBlocks(ct, ct)
	return append(hdr.Bytes(), ct...)
}

// KDBX 2.x databases (KeePass 2.00 to 2.19) are read, with either inner
// stream those versions wrote.
func TestReadKDBX2(t *testing.T) {
	for _, tc := range []struct {
		name   string
		minor  uint16
		stream uint32
	}{
		{"2.0 ArcFour", 0, kdbxStreamArcFour},
		{"2.1 Salsa20", 1, kdbxStreamSalsa20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := kdbx2Bytes(t, tc.minor, tc.stream)
			res, err := Read(data, transfer.ImportOptions{Password: []byte("pw"), Now: kdbxNow})
			if err != nil {
				t.Fatal(err)
			}
			m := transfertest.ByTitle(t, res, "Mail")
			kdbxWantField(t, m.Item, "username", item.Text, "olduser")
			kdbxWantField(t, m.Item, "password", item.Hidden, "old pässword")
			kdbxWantField(t, m.Item, "PIN", item.Hidden, "2468")
			if m.Source != "eMail/Mail" || len(m.Item.Attachments) != 1 || string(m.Item.Attachments[0].Data) != "a KeePass 2.0x attachment\n" {
				t.Errorf("source %q, attachments %+v, unmapped %q", m.Source, m.Item.Attachments, res.Unmapped)
			}
			if _, err := Read(data, transfer.ImportOptions{Password: []byte("not it"), Now: kdbxNow}); !errors.Is(err, transfer.ErrSourcePassword) {
				t.Errorf("wrong password: %v", err)
			}
		})
	}
	// A KeePass 2 pre-release's signature is named.
	pre := kdbx2Bytes(t, 0, kdbxStreamSalsa20)
	binary.LittleEndian.PutUint32(pre[4:], kdbxSig2Pre)
	if _, err := Read(pre, transfer.ImportOptions{Password: []byte("pw")}); !errors.Is(err, transfer.ErrSourceFormat) || !strings.Contains(err.Error(), "pre-release") {
		t.Errorf("pre-release signature: %v", err)
	}
	// Versions before 2 or after 4 are refused by name.
	data := kdbx2Bytes(t, 0, kdbxStreamSalsa20)
	binary.LittleEndian.PutUint16(data[10:], 5)
	if _, err := Read(data, transfer.ImportOptions{Password: []byte("pw")}); !errors.Is(err, transfer.ErrSourceFormat) || !strings.Contains(err.Error(), "version 5.0") {
		t.Errorf("KDBX 5: %v", err)
	}
}

// The KDBX 2.x sample is the shape KeePassXC reads: its reader (which
// knows 2.x but not the ArcFour stream) opens the Salsa20 one.
func TestKDBX2SampleOpensInKeePassXC(t *testing.T) {
	needKeePassXC(t)
	db := filepath.Join(t.TempDir(), "v2.kdbx")
	if err := os.WriteFile(db, kdbx2Bytes(t, 1, kdbxStreamSalsa20), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := kpx(t, "pw\n", "show", "-q", "-s", "-a", "Password", "-a", "PIN", db, "eMail/Mail"); out != "old pässword\n2468\n" {
		t.Errorf("keepassxc-cli shows %q", out)
	}
}

// A database the key does not open: the message names the password, the
// key file and a YubiKey, since the file cannot tell which is wrong.
func TestReadKDBXWrongKeyNamesAll(t *testing.T) {
	_, err := Read(kdbx2Bytes(t, 1, kdbxStreamSalsa20), transfer.ImportOptions{Password: []byte("x"), Now: kdbxNow})
	if !errors.Is(err, transfer.ErrSourcePassword) {
		t.Fatal(err)
	}
	for _, w := range []string{"password", "key file", "YubiKey"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q does not name %s", err, w)
		}
	}
}

// The ArcFour variant follows KeePass's CryptoRandomStream: its key setup
// differs from RC4's (the swap is with the first state byte), so its
// output must not be RC4's. The expected bytes come from a line-by-line
// transcription of KeePass's C# (key 00 01 02 03, as in its benchmark).
func TestKDBXArcFourVariant(t *testing.T) {
	key := []byte{0, 1, 2, 3}
	// KeePass's algorithm, transcribed independently of newKDBXArcFour.
	var st [256]byte
	for w := 0; w < 256; w++ {
		st[w] = byte(w)
	}
	var j, tmp byte
	inx := 0
	for w := 0; w < 256; w++ {
		j += byte(st[w] + key[inx])
		tmp = st[0]
		st[0] = st[j]
		st[j] = tmp
		inx++
		if inx >= len(key) {
			inx = 0
		}
	}
	var mi, mj byte
	next := func() byte {
		mi++
		mj += st[mi]
		tmp := st[mi]
		st[mi] = st[mj]
		st[mj] = tmp
		return st[byte(st[mi]+st[mj])]
	}
	for range 512 {
		next()
	}
	want := make([]byte, 64)
	for i := range want {
		want[i] = next()
	}
	got := make([]byte, 64)
	newKDBXArcFour(key).XORKeyStream(got, got)
	if !bytes.Equal(got, want) {
		t.Fatalf("stream %x, want %x", got, want)
	}
	c, _ := rc4.NewCipher(key)
	rc := make([]byte, 512+64)
	c.XORKeyStream(rc, rc)
	if bytes.Equal(got, rc[512:]) {
		t.Fatal("the ArcFour variant gives plain RC4's output")
	}
}
