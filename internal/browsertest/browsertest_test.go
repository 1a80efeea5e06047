//go:build unix

package browsertest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"github.com/chromedp/chromedp"
	"image"
	"image/color"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const indexHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>test</title><link rel="icon" href="data:,"><script src="/app.js" defer></script></head>
<body>
<label for="name">Your name</label> <input id="name" type="text">
<label><input id="remember" type="checkbox"> Remember me</label>
<button id="greet" type="button">Greet</button>
<label for="kit">Recovery kit</label> <input id="kit" type="file">
<label for="colour">Colour</label> <select id="colour"><option value="r">Red</option><option value="g">Green</option></select>
<button type="button" hidden>Hidden button</button>
<p role="status" id="status"></p>
<video id="cam" hidden></video>
</body></html>`

const appJS = `document.getElementById("greet").addEventListener("click", async () => {
  const name = document.getElementById("name").value;
  const remember = document.getElementById("remember").checked;
  await navigator.clipboard.writeText("copied " + name);
  document.getElementById("status").textContent = "Hello " + name + (remember ? " (remembered)" : "");
});
document.getElementById("kit").addEventListener("change", async (e) => {
  const f = e.target.files[0];
  document.getElementById("status").textContent = "chose " + f.name + " " + (await f.arrayBuffer()).byteLength;
});
document.getElementById("colour").addEventListener("change", (e) => {
  document.getElementById("status").textContent = "colour " + e.target.value;
});
if (location.hash === "#camera") {
  (async () => {
    const stream = await navigator.mediaDevices.getUserMedia({video: true});
    const v = document.getElementById("cam");
    v.srcObject = stream;
    await v.play();
    await new Promise(r => setTimeout(r, 300));
    const c = document.createElement("canvas");
    c.width = v.videoWidth; c.height = v.videoHeight;
    const g = c.getContext("2d");
    g.drawImage(v, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let left = 0, right = 0, n = 0;
    for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) {
      const i = (y * c.width + x) * 4;
      if (x < c.width / 2) left += d[i]; else right += d[i];
      n++;
    }
    document.getElementById("status").textContent = "camera " + c.width + "x" + c.height +
      " left " + Math.round(2 * left / n) + " right " + Math.round(2 * right / n);
  })();
}
`

// testServer serves the test pages with the web vault's CSP.
func testServer(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	page := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Security-Policy", WebVaultCSP)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, body)
		}
	}
	mux.HandleFunc("/{$}", page(indexHTML))
	mux.HandleFunc("/app.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		fmt.Fprint(w, appJS)
	})
	// A page breaking its own policy twice: inline script, foreign image.
	mux.HandleFunc("/bad", page(`<!doctype html><title>bad</title><link rel="icon" href="data:,"><script>document.title = "ran"</script>`+
		`<img src="https://third-party.example/pixel.png" alt="">`))
	mux.HandleFunc("/throws.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		fmt.Fprint(w, `console.error("something broke"); throw new Error("uncaught on purpose");`)
	})
	mux.HandleFunc("/v1/denied", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusUnauthorized) })
	mux.HandleFunc("/fetch401.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		fmt.Fprint(w, `fetch("/v1/denied").then((r) => { document.title = "status " + r.status; });`)
	})
	mux.HandleFunc("/fetch401", page(`<!doctype html><title>api</title><link rel="icon" href="data:,"><script src="/fetch401.js"></script>`))
	// A worker without a policy of its own fetching from another origin:
	// the page's events do not see it, the proxy does.
	mux.HandleFunc("/leaky-worker.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		fmt.Fprint(w, `fetch("https://third-party.example/beacon").catch(() => {}).finally(() => postMessage("done"));`)
	})
	mux.HandleFunc("/start-worker.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		fmt.Fprint(w, `new Worker("/leaky-worker.js").onmessage = () => { document.title = "worker done"; };`)
	})
	mux.HandleFunc("/worker", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>worker</title><link rel="icon" href="data:,"><script src="/start-worker.js"></script>`)
	})
	mux.HandleFunc("/throws", page(`<!doctype html><title>throws</title><link rel="icon" href="data:,"><script src="/throws.js"></script>`))
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// ownCertServer is testServer with a certificate of its own (httptest's
// servers all share one).
func ownCertServer(t *testing.T) *httptest.Server {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(testServer(t).Config.Handler)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// A page is driven by role and accessible name: fill, tick, click, read the
// status region and the clipboard; a clean page reports nothing.
func TestDriveByRoleAndName(t *testing.T) {
	srv := testServer(t)
	b := Start(t, Options{TrustSPKI: []string{SPKIHash(srv.Certificate())}})
	for _, vp := range []Viewport{Desktop, Phone} {
		t.Run(fmt.Sprintf("%dx%d", vp.Width, vp.Height), func(t *testing.T) {
			p := b.NewPage(t, vp)
			p.Navigate(srv.URL + "/")
			p.Find("textbox", "Your name").Fill("Ada")
			box := p.Find("checkbox", "Remember me")
			box.Click()
			if !box.Checked() {
				t.Error("the checkbox is not ticked after a click")
			}
			if p.Has("button", "Hidden button") {
				t.Error("a hidden button was found: hidden elements must not be")
			}
			p.Find("button", "Greet").Click()
			p.WaitText("Hello Ada (remembered)")
			if got := p.Find("status", "").Text(); got != "Hello Ada (remembered)" {
				t.Errorf("status %q", got)
			}
			if got := p.Clipboard(); got != "copied Ada" {
				t.Errorf("clipboard %q, want %q", got, "copied Ada")
			}
			p.Find("textbox", "Your name").Type("!")
			if got := p.Find("textbox", "Your name").Value(); got != "Ada!" {
				t.Errorf("typed into the field: %q", got)
			}
			kit := filepath.Join(t.TempDir(), "kit.txt")
			if err := os.WriteFile(kit, []byte("12345"), 0o600); err != nil {
				t.Fatal(err)
			}
			p.FileInput("Recovery kit").SetFiles(kit)
			p.WaitText("chose kit.txt 5")
			p.Find("combobox", "Colour").Select("Green")
			p.WaitText("colour g")
			shot := filepath.Join(t.TempDir(), "shot.png")
			p.Screenshot(shot)
			if fi, err := os.Stat(shot); err != nil || fi.Size() < 100 {
				t.Errorf("screenshot: %v", err)
			}
			if m := p.Metrics(); m["JSHeapUsedSize"] <= 0 {
				t.Errorf("no JS heap metric: %v", m)
			}
			p.ExpectClean(t, srv.URL, func(path string) bool { return path == "/" || path == "/app.js" })
			if f := b.ForeignHosts(strings.TrimPrefix(srv.URL, "https://")); len(f) > 0 {
				t.Errorf("the browser connected to %q", f)
			}
			if len(p.StoredData(srv.URL)) != 0 {
				t.Error("the test page stored something in IndexedDB")
			}
		})
	}
}

// The collectors see what they must: an inline script and a foreign image
// are CSP violations, the image a foreign request; console.error and an
// uncaught exception are reported.
func TestCollectorsSeeViolations(t *testing.T) {
	srv := testServer(t)
	b := Start(t, Options{TrustSPKI: []string{SPKIHash(srv.Certificate())}})
	p := b.NewPage(t, Desktop)
	p.Navigate(srv.URL + "/bad")
	p.Navigate(srv.URL + "/throws")
	// Give the late reports (issues) a moment: wait for the exception.
	waitFor(t, func() bool { return len(p.Exceptions()) > 0 && len(p.CSPViolations()) >= 2 })
	v := strings.Join(p.CSPViolations(), "\n")
	for _, want := range []string{"script-src", "img-src"} {
		if !strings.Contains(v, want) {
			t.Errorf("no %s violation reported; got:\n%s", want, v)
		}
	}
	if !slices.ContainsFunc(p.ConsoleErrors(), func(s string) bool { return strings.Contains(s, "something broke") }) {
		t.Errorf("console.error not reported: %q", p.ConsoleErrors())
	}
	if !strings.Contains(strings.Join(p.Exceptions(), "\n"), "uncaught on purpose") {
		t.Errorf("exception not reported: %q", p.Exceptions())
	}
	foreign := p.ForeignRequests(srv.URL)
	if !slices.Contains(foreign, "https://third-party.example/pixel.png") {
		// A CSP-blocked request never starts; the violation is what shows it.
		t.Logf("foreign requests: %q", foreign)
	}
	ft := &recordingTB{TB: t}
	p.ExpectClean(ft, srv.URL, nil)
	if !ft.failed {
		t.Error("ExpectClean accepted a page with violations")
	}
	if got := title(t, p); got == "ran" {
		t.Error("the inline script ran despite the policy")
	}
}

// An error status of the API is an answer, not a broken page, once the
// page says where its API lives; otherwise it counts as a console error.
func TestAPIErrorsAreAnswers(t *testing.T) {
	srv := testServer(t)
	b := Start(t, Options{TrustSPKI: []string{SPKIHash(srv.Certificate())}})
	for _, prefix := range []string{"/v1/", ""} {
		p := b.NewPage(t, Desktop)
		p.SetAPIPrefix(prefix)
		p.Navigate(srv.URL + "/fetch401")
		waitFor(t, func() bool { return title(t, p) == "status 401" })
		waitFor(t, func() bool { return len(p.APIErrors())+len(p.ConsoleErrors()) > 0 })
		if prefix != "" && (len(p.APIErrors()) != 1 || len(p.ConsoleErrors()) != 0) {
			t.Errorf("with an API prefix: API errors %q, console errors %q", p.APIErrors(), p.ConsoleErrors())
		}
		if prefix == "" && (len(p.APIErrors()) != 0 || len(p.ConsoleErrors()) != 1) {
			t.Errorf("without an API prefix: API errors %q, console errors %q", p.APIErrors(), p.ConsoleErrors())
		}
	}
}

// The proxy sees what a worker fetches, which the page's events miss.
func TestProxySeesWorkers(t *testing.T) {
	srv := testServer(t)
	b := Start(t, Options{TrustSPKI: []string{SPKIHash(srv.Certificate())}})
	p := b.NewPage(t, Desktop)
	p.Navigate(srv.URL + "/worker")
	waitFor(t, func() bool { return title(t, p) == "worker done" })
	if !slices.Contains(b.ForeignHosts(strings.TrimPrefix(srv.URL, "https://")), "third-party.example:443") {
		t.Errorf("the proxy did not record the worker's request; hosts %q", b.Hosts())
	}
}

func title(t *testing.T, p *Page) string { return Eval[string](p, "document.title") }

// A browser that was not told to trust the server's certificate refuses
// it: the trust is for that certificate only.
func TestTrustIsPrecise(t *testing.T) {
	trusted := testServer(t)
	other := ownCertServer(t)
	b := Start(t, Options{TrustSPKI: []string{SPKIHash(trusted.Certificate())}})
	p := b.NewPage(t, Desktop)
	p.Navigate(trusted.URL + "/")
	p.Find("button", "Greet")
	p2 := b.NewPage(t, Desktop)
	ctx, cancel := context.WithTimeout(p2.Ctx, 20*time.Second)
	defer cancel()
	_ = chromedp.Do(ctx, chromedp.Navigate(other.URL+"/"))
	if p2.Has("button", "Greet") {
		t.Fatal("a browser trusting another certificate loaded the page")
	}
	if !slices.Contains(p2.Requests(), other.URL+"/") {
		t.Fatalf("the browser did not even try: %q", p2.Requests())
	}
}

// Closing the browser leaves no process and no profile directory.
func TestCloseLeavesNothing(t *testing.T) {
	b, err := Launch(Program(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := b.ProfileDir()
	// The browser, its zygotes, GPU, network and storage services and
	// the crash handlers: all of them are found.
	if n := len(ProcessesUsing(dir)); n < 5 {
		t.Fatalf("%d chromium processes found for the profile directory, want the browser and its children", n)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if left := ProcessesUsing(dir); len(left) > 0 {
		t.Errorf("processes left: %v", left)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("profile directory left: %v", err)
	}
}

// The fake camera plays a Y4M video made from a picture: left half black,
// right half white arrive as such in the page.
func TestFakeCamera(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 200, 150))
	for y := 0; y < 150; y++ {
		for x := 0; x < 200; x++ {
			if x >= 100 {
				img.SetGray(x, y, color.Gray{255})
			}
		}
	}
	video := filepath.Join(t.TempDir(), "cam.y4m")
	// 160x120 exactly: the picture fills 80% in the middle, white around.
	if err := WriteY4MFile(video, img, 160, 120, 5, 10); err != nil {
		t.Fatal(err)
	}
	srv := testServer(t)
	b := Start(t, Options{TrustSPKI: []string{SPKIHash(srv.Certificate())}, Camera: video})
	p := b.NewPage(t, Desktop)
	p.Navigate(srv.URL + "/#camera")
	p.WaitText("camera 160x120")
	var w, h, left, right int
	if _, err := fmt.Sscanf(p.Find("status", "").Text(), "camera %dx%d left %d right %d", &w, &h, &left, &right); err != nil {
		t.Fatal(err)
	}
	// Left: a white margin of 16 px and 64 px of black; right: all white.
	if left > 120 || right < 235 {
		t.Errorf("camera frame luma left %d right %d; want the left half dark and the right half white", left, right)
	}
	p.ExpectClean(t, srv.URL, nil)
}

func TestWriteY4MHeader(t *testing.T) {
	var sb strings.Builder
	if err := WriteY4M(&sb, image.NewGray(image.Rect(0, 0, 4, 4)), 4, 2, 2, 5); err != nil {
		t.Fatal(err)
	}
	want := "YUV4MPEG2 W4 H2 F5:1 Ip A1:1 C420jpeg XYSCSS=420JPEG\n"
	if !strings.HasPrefix(sb.String(), want) {
		t.Fatalf("header %q", sb.String()[:len(want)])
	}
	frame := len("FRAME\n") + 4*2 + 2*(2*1)
	if sb.Len() != len(want)+2*frame {
		t.Errorf("length %d, want %d", sb.Len(), len(want)+2*frame)
	}
	if err := WriteY4M(&sb, image.NewGray(image.Rect(0, 0, 4, 4)), 3, 2, 1, 5); err == nil {
		t.Error("an odd width was accepted")
	}
}

// recordingTB records failures instead of reporting them, to show that a
// check can fail.
type recordingTB struct {
	testing.TB
	failed bool
}

func (r *recordingTB) Helper()                      {}
func (r *recordingTB) Error(args ...any)            { r.failed = true }
func (r *recordingTB) Errorf(f string, args ...any) { r.failed = true }
func (r *recordingTB) Fatal(args ...any)            { r.failed = true; panic(r) }
func (r *recordingTB) Fatalf(f string, args ...any) { r.failed = true; panic(r) }

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
	}
}
