package otpcode

import (
	"errors"
	"testing"
	"time"
)

// RFC 6238 Appendix B: the SHA-1 secret "12345678901234567890" at
// T = 59 s gives 94287082 (8 digits), so 287082 with 6.
func TestRFC6238(t *testing.T) {
	const secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	at := time.Unix(59, 0)
	code, period, remaining, err := Code(secret, at)
	if err != nil || code != "287082" || period != 30 || remaining != 1 {
		t.Errorf("bare secret: %q %d %d %v", code, period, remaining, err)
	}
	code, period, _, err = Code("otpauth://totp/x?secret="+secret+"&digits=8&period=30", at)
	if err != nil || code != "94287082" || period != 30 {
		t.Errorf("URI: %q %d %v", code, period, err)
	}
	if _, _, _, err := Code("not base32 !", at); !errors.Is(err, ErrBadSecret) {
		t.Errorf("bad secret: %v", err)
	}
	if _, _, _, err := Code("otpauth://%zz", at); !errors.Is(err, ErrBadURI) {
		t.Errorf("bad URI: %v", err)
	}
}
