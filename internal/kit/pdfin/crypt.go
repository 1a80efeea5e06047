package pdfin

// Decryption of PDFs that open without a password. A PDF "protected"
// against printing or copying, but not against opening, is still
// encrypted, with a key derived from an empty user password; viewers open
// it silently, so a user expects keyhold to read it too. This is the
// standard security handler of ISO 32000 (7.6.4), revisions 2 to 6: RC4
// and AES-128 with MD5-derived keys, and AES-256.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"crypto/rc4"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"hash"
)

type pdfCryptMethod int

const (
	cryptNone pdfCryptMethod = iota
	cryptRC4
	cryptAESV2 // AES-128, per-object keys
	cryptAESV3 // AES-256, one key
)

// pdfPadding is the fixed string that pads passwords (Algorithm 2); the
// empty password is this string.
var pdfPadding = []byte("\x28\xbf\x4e\x5e\x4e\x75\x8a\x41\x64\x00\x4e\x56\xff\xfa\x01\x08" +
	"\x2e\x2e\x00\xb6\xd0\x68\x3e\x80\x2f\x0c\xa9\xfe\x64\x53\x69\x7a")

type pdfCrypt struct {
	key      []byte
	stm, str pdfCryptMethod
	metadata bool // whether /Type /Metadata streams are encrypted
}

// setupCrypt reads the trailer's /Encrypt dictionary, if any, derives the
// key of the empty user password, and decrypts the strings of every
// object found so far (streams are decrypted when decoded).
func (r *pdfReader) setupCrypt() error {
	encVal, ok := r.trailer["Encrypt"]
	if !ok {
		return nil
	}
	enc := r.dict(encVal)
	if enc == nil {
		return nil // a dangling reference: treat the file as plain
	}
	var id0 []byte
	if ids := r.array(r.trailer["ID"]); len(ids) > 0 {
		if s, ok := r.resolve(ids[0]).(pdfString); ok {
			id0 = []byte(s)
		}
	}
	c, err := newPDFCrypt(r, enc, id0)
	if err != nil {
		return err
	}
	r.crypt = c

	encNum := -1
	if ref, ok := encVal.(pdfRef); ok {
		encNum = ref.num
	}
	for num, o := range r.objs {
		if num == encNum {
			continue
		}
		var ok bool
		if o.value, ok = c.decryptStrings(o.value, num, o.gen, 0); ok {
			r.objs[num] = o
		}
	}
	return nil
}

// newPDFCrypt derives the file key for the empty user password, or
// returns errPDFPassword if that is not the password.
func newPDFCrypt(r *pdfReader, enc pdfDict, id0 []byte) (*pdfCrypt, error) {
	if r.name(enc["Filter"]) != "Standard" {
		return nil, errPDFPassword // certificates or a custom handler
	}
	v := r.intOr(enc, "V", 0)
	rev := r.intOr(enc, "R", 0)
	o, _ := r.resolve(enc["O"]).(pdfString)
	u, _ := r.resolve(enc["U"]).(pdfString)
	p := r.intOr(enc, "P", 0)
	c := &pdfCrypt{metadata: true}
	if b, ok := r.resolve(enc["EncryptMetadata"]).(bool); ok {
		c.metadata = b
	}

	switch v {
	case 1, 2:
		c.stm, c.str = cryptRC4, cryptRC4
	case 4, 5:
		cf := r.dict(enc["CF"])
		method := func(key pdfName) pdfCryptMethod {
			name := r.name(enc[key])
			if name == "" || name == "Identity" {
				return cryptNone
			}
			switch r.name(r.dict(cf[name])["CFM"]) {
			case "V2":
				return cryptRC4
			case "AESV2":
				return cryptAESV2
			case "AESV3":
				return cryptAESV3
			}
			return cryptNone
		}
		c.stm, c.str = method("StmF"), method("StrF")
	default:
		return nil, errPDFPassword
	}

	switch rev {
	case 2, 3, 4:
		n := 5
		if rev >= 3 {
			bits := int64(40)
			if rev == 4 {
				bits = 128 // AES-128 needs it; RC4 files say so
			}
			n = int(min(max(r.intOr(enc, "Length", bits)/8, 5), 16))
		}
		c.key = legacyKey(rev, n, []byte(o), p, id0, c.metadata)
		if !legacyCheck(rev, c.key, []byte(u), id0) {
			return nil, errPDFPassword
		}
	case 5, 6:
		ue, _ := r.resolve(enc["UE"]).(pdfString)
		if len(u) < 48 || len(ue) < 32 {
			return nil, errPDFPassword
		}
		hash := func(salt []byte) []byte {
			if rev == 5 {
				s := sha256.Sum256(salt)
				return s[:]
			}
			return hash2B(salt)
		}
		if !bytes.Equal(hash([]byte(u[32:40])), []byte(u[:32])) {
			return nil, errPDFPassword
		}
		block, err := aes.NewCipher(hash([]byte(u[40:48])))
		if err != nil {
			return nil, errPDFPassword
		}
		c.key = make([]byte, 32)
		cipher.NewCBCDecrypter(block, make([]byte, 16)).CryptBlocks(c.key, []byte(ue[:32]))
	default:
		return nil, errPDFPassword
	}
	return c, nil
}

// legacyKey is Algorithm 2 for the empty password: the n-byte file key.
func legacyKey(rev int64, n int, o []byte, p int64, id0 []byte, metadata bool) []byte {
	h := md5.New()
	h.Write(pdfPadding)
	h.Write(padTo(o, 32))
	h.Write(binary.LittleEndian.AppendUint32(nil, uint32(p)))
	h.Write(id0)
	if rev >= 4 && !metadata {
		h.Write([]byte{0xff, 0xff, 0xff, 0xff})
	}
	key := h.Sum(nil)
	if rev >= 3 {
		for range 50 {
			s := md5.Sum(key[:n])
			key = s[:]
		}
	}
	return key[:n]
}

// legacyCheck is Algorithms 4 and 5: whether key opens the file, that is,
// whether the user password is empty.
func legacyCheck(rev int64, key, u, id0 []byte) bool {
	if rev == 2 {
		got := rc4Crypt(key, pdfPadding)
		return len(u) >= 32 && bytes.Equal(got, u[:32])
	}
	h := md5.New()
	h.Write(pdfPadding)
	h.Write(id0)
	x := h.Sum(nil)
	k := make([]byte, len(key))
	for i := range 20 {
		for j := range key {
			k[j] = key[j] ^ byte(i)
		}
		x = rc4Crypt(k, x)
	}
	return len(u) >= 16 && bytes.Equal(x, u[:16])
}

// hash2B is Algorithm 2.B (revision 6) for the empty password.
func hash2B(salt []byte) []byte {
	s := sha256.Sum256(salt)
	k := s[:]
	for i := 0; ; {
		k1 := bytes.Repeat(k, 64)
		block, _ := aes.NewCipher(k[:16])
		e := make([]byte, len(k1))
		cipher.NewCBCEncrypter(block, k[16:32]).CryptBlocks(e, k1)
		var sum int
		for _, b := range e[:16] {
			sum += int(b)
		}
		var h hash.Hash
		switch sum % 3 {
		case 0:
			h = sha256.New()
		case 1:
			h = sha512.New384()
		default:
			h = sha512.New()
		}
		h.Write(e)
		k = h.Sum(nil)
		i++
		if i >= 64 && int(e[len(e)-1]) <= i-32 {
			break
		}
	}
	return k[:32]
}

func padTo(b []byte, n int) []byte {
	if len(b) >= n {
		return b[:n]
	}
	return append(bytes.Clone(b), pdfPadding[:n-len(b)]...)
}

func rc4Crypt(key, b []byte) []byte {
	c, err := rc4.NewCipher(key)
	if err != nil {
		return nil
	}
	out := make([]byte, len(b))
	c.XORKeyStream(out, b)
	return out
}

// objectKey is Algorithm 1: the key of one object.
func (c *pdfCrypt) objectKey(m pdfCryptMethod, num, gen int) []byte {
	if m == cryptAESV3 {
		return c.key
	}
	h := md5.New()
	h.Write(c.key)
	h.Write([]byte{byte(num), byte(num >> 8), byte(num >> 16), byte(gen), byte(gen >> 8)})
	if m == cryptAESV2 {
		h.Write([]byte("sAlT"))
	}
	return h.Sum(nil)[:min(len(c.key)+5, 16)]
}

func (c *pdfCrypt) decrypt(m pdfCryptMethod, num, gen int, b []byte) []byte {
	switch m {
	case cryptRC4:
		return rc4Crypt(c.objectKey(m, num, gen), b)
	case cryptAESV2, cryptAESV3:
		// The first block is the IV; the data is padded as in PKCS #5.
		if len(b) < 32 {
			return nil
		}
		block, err := aes.NewCipher(c.objectKey(m, num, gen))
		if err != nil {
			return nil
		}
		out := make([]byte, (len(b)-16)/16*16)
		cipher.NewCBCDecrypter(block, b[:16]).CryptBlocks(out, b[16:16+len(out)])
		if pad := int(out[len(out)-1]); pad >= 1 && pad <= 16 {
			out = out[:len(out)-pad]
		}
		return out
	}
	return b
}

func (c *pdfCrypt) decryptStream(s *pdfStream, b []byte) []byte {
	if !c.metadata && s.dict["Type"] == pdfName("Metadata") {
		return b
	}
	return c.decrypt(c.stm, s.num, s.gen, b)
}

// decryptStrings returns v with its strings decrypted, and whether it
// changed.
func (c *pdfCrypt) decryptStrings(v any, num, gen, depth int) (any, bool) {
	if depth > maxPDFDepth || c.str == cryptNone {
		return v, false
	}
	switch v := v.(type) {
	case pdfString:
		return pdfString(c.decrypt(c.str, num, gen, []byte(v))), true
	case pdfArray:
		for i := range v {
			v[i], _ = c.decryptStrings(v[i], num, gen, depth+1)
		}
	case pdfDict:
		if v["Type"] == pdfName("XRef") {
			return v, false
		}
		for k := range v {
			v[k], _ = c.decryptStrings(v[k], num, gen, depth+1)
		}
	case *pdfStream:
		c.decryptStrings(v.dict, num, gen, depth+1)
	}
	return v, false
}
