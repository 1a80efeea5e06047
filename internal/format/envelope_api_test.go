package format

import (
	"testing"

	"github.com/keyhold/keyhold/internal/api"
)

// The server reads an envelope's header length and password epoch with
// package api's few lines, since it may not import this package. Both
// must read every envelope vector alike.
func TestServerReadsEnvelopeLikeFormat(t *testing.T) {
	if api.EnvelopeHeaderSize != EnvelopeHeaderSize || api.EnvelopeHeaderSizeV1 != EnvelopeHeaderSizeV1 {
		t.Fatal("api's envelope header sizes differ from the format's")
	}
	for _, x := range loadVectors(t, "envelope.json") {
		b := mustHex(t, x.Encoded)
		env, err := ParseEnvelope(b)
		if err != nil {
			continue
		}
		epoch, ok := api.EnvelopeEpoch(b)
		if !ok || epoch != env.Epoch {
			t.Errorf("%s: api reads epoch %d (%v), the format %d", x.Name, epoch, ok, env.Epoch)
		}
		if n := api.EnvelopeHeaderLen(b); n != len(env.Header()) {
			t.Errorf("%s: api reads a %d-byte header, the format %d", x.Name, n, len(env.Header()))
		}
	}
	for _, x := range loadVectors(t, "envelope_header.json") {
		b := mustHex(t, x.Encoded)
		if h, err := ParseEnvelopeHeader(b); err == nil {
			if epoch, ok := api.EnvelopeEpoch(b); !ok || epoch != h.Epoch || api.EnvelopeHeaderLen(b) != len(b) {
				t.Errorf("%s: api reads the header otherwise", x.Name)
			}
		}
	}
}
