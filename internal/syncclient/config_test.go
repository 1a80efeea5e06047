package syncclient

import (
	"errors"
	"net/http"
	"testing"
)

// A caller's HTTP client cannot pin a certificate: settings with a pin
// are refused, never used without it.
func TestClientHTTPRefusesPin(t *testing.T) {
	c := &Config{Server: "https://keyhold.example.org", Fingerprint: "sha256:" + "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"}
	if _, err := c.ClientHTTP(&http.Client{}); !errors.Is(err, ErrPinUnsupported) {
		t.Fatalf("ClientHTTP with a pin: %v, want ErrPinUnsupported", err)
	}
	c.Fingerprint = ""
	if _, err := c.ClientHTTP(&http.Client{}); err != nil {
		t.Fatalf("ClientHTTP without a pin: %v", err)
	}
}
