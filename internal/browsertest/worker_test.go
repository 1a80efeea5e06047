//go:build unix

package browsertest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/webui"
)

// workerArgon2JS runs one derivation in the web vault's own worker.js,
// given only hash-wasm's Argon2 in its assets (not keyhold.wasm), so
// that the Go fallback cannot stand in: a hash-wasm that does not load
// or run under the CSP is an error here.
const workerArgon2JS = `(async (table, pw, salt, time, memoryKiB, threads) => {
  const unhex = (s) => new Uint8Array(s.match(/../g).map((b) => parseInt(b, 16)));
  const w = new Worker(table["worker.js"].path);
  try {
    const key = await new Promise((resolve, reject) => {
      w.onmessage = (ev) => {
        const d = ev.data || {};
        if (d.key) resolve(new Uint8Array(d.key));
        else reject(new Error("the worker answered: " + JSON.stringify(d.error)));
      };
      w.onerror = (ev) => { ev.preventDefault(); reject(new Error("the worker failed: " + ev.message)); };
      w.postMessage({
        assets: { "argon2.umd.min.js": table["vendor/hash-wasm/argon2.umd.min.js"] },
        password: unhex(pw), salt: unhex(salt), time, memoryKiB, threads,
      });
    });
    return Array.from(key, (b) => b.toString(16).padStart(2, "0")).join("");
  } finally {
    w.terminate();
  }
})`

var assetTableRE = regexp.MustCompile(`<meta name="keyhold-assets" content='([^']*)'>`)

// TestWorkerArgon2InChromium checks the web vault's key derivation
// worker (worker.js running hash-wasm's Argon2id, as the embedded build
// serves it, under its Content-Security-Policy) against the key
// derivation vectors: for each valid envelope vector, the worker's
// Argon2id output must be byte for byte golang.org/x/crypto/argon2's,
// and the key schedule run on it must give the vector's wrap and login
// keys. A few parameters beyond the vectors' (several lanes, a memory
// size that is not a multiple of 4 × lanes) are compared too.
func TestWorkerArgon2InChromium(t *testing.T) {
	h, err := webui.New(webui.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !h.Built() {
		t.Skip("the web vault is not built (go generate ./internal/webui)")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	m := assetTableRE.FindSubmatch(rec.Body.Bytes())
	if m == nil {
		t.Fatal("the served index.html has no asset table")
	}
	var table map[string]any
	if err := json.Unmarshal(m[1], &table); err != nil {
		t.Fatal(err)
	}
	if _, ok := table["vendor/hash-wasm/argon2.umd.min.js"]; !ok {
		t.Fatal("the build serves no hash-wasm Argon2 (vendor/hash-wasm/argon2.umd.min.js)")
	}

	mux := http.NewServeMux()
	mux.Handle("/", h)
	// An empty page of the same origin, with the web vault's headers,
	// to start the worker from.
	mux.HandleFunc("/worker-test", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", WebVaultCSP)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>worker</title><link rel="icon" href="data:,"></head><body></body></html>`)
	})
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()
	b := Start(t, Options{TrustSPKI: []string{SPKIHash(srv.Certificate())}})
	p := b.NewPage(t, Desktop)
	p.Timeout = 3 * 60e9
	p.Navigate(srv.URL + "/worker-test")

	inWorker := func(pw, salt []byte, time, memoryKiB uint32, threads uint8) []byte {
		t.Helper()
		s := Eval[string](p, fmt.Sprintf("%s(%s, %q, %q, %d, %d, %d)", workerArgon2JS, m[1], hex.EncodeToString(pw), hex.EncodeToString(salt), time, memoryKiB, threads))
		out, err := hex.DecodeString(s)
		if err != nil {
			t.Fatalf("the worker gave %q", s)
		}
		if want := argon2.IDKey(pw, salt, time, memoryKiB, threads, 32); !bytes.Equal(out, want) {
			t.Errorf("Argon2id(t=%d m=%d p=%d) in the worker: %x, want %x", time, memoryKiB, threads, out, want)
		}
		return out
	}

	raw, err := os.ReadFile(filepath.Join(vectorDir, "envelope.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vs []struct {
		Name, Expect, Password, Encoded string
		SecretKey                       string `json:"secret_key"`
		WrapKey                         string `json:"wrap_key"`
		LoginKey                        string `json:"login_key"`
	}
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, v := range vs {
		if v.Expect != "ok" || v.WrapKey == "" {
			continue
		}
		enc, err := hex.DecodeString(v.Encoded)
		if err != nil {
			t.Fatal(err)
		}
		env, err := format.ParseEnvelope(enc)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		sk, err := keys.ParseSecretKey(v.SecretKey)
		if err != nil {
			t.Fatal(err)
		}
		d, err := env.DeriveWith(func(pw, salt []byte, time, memoryKiB uint32, threads uint8) ([]byte, error) {
			return inWorker(pw, salt, time, memoryKiB, threads), nil
		}, []byte(v.Password), sk)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		if got := hex.EncodeToString(d.Wrap[:]); got != v.WrapKey {
			t.Errorf("%s: wrap key %s, want %s", v.Name, got, v.WrapKey)
		}
		if got := hex.EncodeToString(d.Login[:]); got != v.LoginKey {
			t.Errorf("%s: login key %s, want %s", v.Name, got, v.LoginKey)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no envelope vector was derived")
	}
	for _, c := range []struct {
		time, memoryKiB uint32
		threads         uint8
	}{{1, 1023, 4}, {2, 64, 1}, {3, 16 << 10, 4}} {
		inWorker([]byte("correct horse battery staple"), bytes.Repeat([]byte{0xa5}, 16), c.time, c.memoryKiB, c.threads)
	}
	t.Logf("%d envelope vectors derived with the worker's Argon2id", checked)
	p.ExpectClean(t, srv.URL, nil)
}
