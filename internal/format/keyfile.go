package format

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
)

// Key file (.keyholdkey) armor: the envelope in base64 between two lines,
// as PEM does, so it survives email and copy-paste. It is useless without
// the Secret Key and the password.
const (
	keyFileBegin = "-----BEGIN KEYHOLD ACCOUNT KEY-----"
	keyFileEnd   = "-----END KEYHOLD ACCOUNT KEY-----"
	keyFileCols  = 64
)

// MarshalKeyFile armors an envelope.
func MarshalKeyFile(e *Envelope) []byte {
	enc := base64.StdEncoding.EncodeToString(e.Marshal())
	var b bytes.Buffer
	b.WriteString(keyFileBegin + "\n")
	for len(enc) > keyFileCols {
		b.WriteString(enc[:keyFileCols] + "\n")
		enc = enc[keyFileCols:]
	}
	b.WriteString(enc + "\n")
	b.WriteString(keyFileEnd + "\n")
	return b.Bytes()
}

// ParseKeyFile reads an armored key file. It accepts CRLF line ends and
// surrounding blank lines; the base64 must be canonical.
func ParseKeyFile(data []byte) (*Envelope, error) {
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, keyFileBegin+"\n") || !strings.HasSuffix(s, "\n"+keyFileEnd) {
		return nil, fmt.Errorf("key file: %w: missing the BEGIN/END KEYHOLD ACCOUNT KEY lines", ErrWrongMagic)
	}
	body := strings.TrimSuffix(strings.TrimPrefix(s, keyFileBegin+"\n"), "\n"+keyFileEnd)
	lines := strings.Split(body, "\n")
	for i, l := range lines {
		if len(l) > keyFileCols || (i < len(lines)-1 && len(l) != keyFileCols) || l == "" {
			return nil, fmt.Errorf("key file: %w: line %d has the wrong length (truncated or edited?)", ErrMalformed, i+2)
		}
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(strings.Join(lines, ""))
	if err != nil {
		return nil, fmt.Errorf("key file: %w: invalid base64 (truncated or edited?)", ErrMalformed)
	}
	return ParseEnvelope(raw)
}
