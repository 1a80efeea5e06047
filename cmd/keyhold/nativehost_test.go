//go:build unix

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyhold/keyhold/internal/nativemsg"
)

// hostEnv is an isolated user for the native host: its own home, vault,
// runtime directory (agent socket) and no D-Bus session, as setup gives
// each script.
type hostEnv struct {
	t    *testing.T
	bin  string
	work string
	env  []string
}

func newHostEnv(t *testing.T) *hostEnv {
	bin, err := exec.LookPath("keyhold")
	if err != nil {
		t.Fatalf("the keyhold test binary is not on PATH: %v", err)
	}
	work := t.TempDir()
	for _, d := range []string{"run", "home"} {
		if err := os.Mkdir(filepath.Join(work, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	pwFile := filepath.Join(work, "password")
	if err := os.WriteFile(pwFile, []byte(testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "KEYHOLD_VAULT", "KEYHOLD_PASSWORD_FILE", "KEYHOLD_KEYSTORE", "XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_STATE_HOME",
			"XDG_CONFIG_HOME", "HOME", "DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "KEYHOLD_VAULT="+filepath.Join(work, "vault"), "XDG_RUNTIME_DIR="+filepath.Join(work, "run"),
		"HOME="+filepath.Join(work, "home"), "DBUS_SESSION_BUS_ADDRESS=")
	h := &hostEnv{t: t, bin: bin, work: work, env: env}
	t.Cleanup(func() {
		// No agent outlives the test.
		cmd := exec.Command(bin, "lock")
		cmd.Env = env
		cmd.Run()
	})
	return h
}

// keyhold runs a command with the password file and stdin, and fails the
// test unless it succeeds.
func (h *hostEnv) keyhold(stdin string, args ...string) string {
	h.t.Helper()
	cmd := exec.Command(h.bin, append([]string{"--password-file", filepath.Join(h.work, "password")}, args...)...)
	cmd.Env = h.env
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		h.t.Fatalf("keyhold %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return strings.TrimSpace(string(out))
}

// hostProc is a running `keyhold native-host`, spoken to as the browser
// does: framed JSON on its stdin and stdout.
type hostProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *nativemsg.Reader
	stderr bytes.Buffer
	id     int
}

func (h *hostEnv) startHost(extraEnv ...string) *hostProc {
	h.t.Helper()
	cmd := exec.Command(h.bin, "native-host", "chrome-extension://dcefochpojkbelobkomknnhojhpichcd/")
	cmd.Env = append(append([]string{}, h.env...), extraEnv...)
	p := &hostProc{t: h.t, cmd: cmd}
	cmd.Stderr = &p.stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		h.t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		h.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	p.in, p.out = in, nativemsg.NewReader(bufio.NewReader(out))
	h.t.Cleanup(func() { in.Close(); cmd.Process.Kill(); cmd.Wait() })
	return p
}

func (p *hostProc) call(req map[string]any) map[string]any {
	p.t.Helper()
	p.id++
	req["v"], req["id"] = 1, p.id
	b, _ := json.Marshal(req)
	if err := nativemsg.Write(p.in, b); err != nil {
		p.t.Fatalf("%v: writing to the host: %v (stderr: %s)", req["op"], err, p.stderr.Bytes())
	}
	msg, err := p.out.Read()
	if err != nil {
		p.t.Fatalf("%v: reading the host's answer: %v (stderr: %s)", req["op"], err, p.stderr.Bytes())
	}
	var resp map[string]any
	if err := json.Unmarshal(msg, &resp); err != nil {
		p.t.Fatalf("%v: the answer is not JSON: %q", req["op"], msg)
	}
	if resp["id"] != float64(p.id) || resp["v"] != float64(1) {
		p.t.Fatalf("%v: answer %v does not carry v 1 and id %d", req["op"], resp, p.id)
	}
	return resp
}

func (p *hostProc) ok(req map[string]any) map[string]any {
	p.t.Helper()
	resp := p.call(req)
	if resp["ok"] != true {
		p.t.Fatalf("%v: %v", req["op"], resp["error"])
	}
	return resp
}

func (p *hostProc) fails(kind string, req map[string]any) map[string]any {
	p.t.Helper()
	resp := p.call(req)
	if e, _ := resp["error"].(map[string]any); resp["ok"] != false || e["kind"] != kind {
		p.t.Fatalf("%v: %v, want an error of kind %s", req["op"], resp, kind)
	}
	return resp
}

// close closes the host's stdin, as the browser does when the extension
// disconnects, and checks that the host exits at once, successfully.
func (p *hostProc) close() {
	p.t.Helper()
	p.in.Close()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			p.t.Errorf("the host exited with %v on stdin EOF (stderr: %s)", err, p.stderr.Bytes())
		}
	case <-time.After(10 * time.Second):
		p.t.Error("the host did not exit within 10s of stdin EOF")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func itemsOf(resp map[string]any) []map[string]any {
	var out []map[string]any
	l, _ := resp["items"].([]any)
	for _, x := range l {
		out = append(out, x.(map[string]any))
	}
	return out
}

// TestNativeHost drives the real `keyhold native-host` through pipes, as
// the browser does, against a real vault and agent: from locked through
// unlock, candidates, fills (and refused ones), search, save and update,
// to lock.
func TestNativeHost(t *testing.T) {
	h := newHostEnv(t)
	h.keyhold("", "init", "--kdf-memory", "8", "--kdf-time", "1", "--kdf-threads", "1")
	h.keyhold("gh-Secret-77\n", "add", "login", "GitHub", "--username", "alice", "--url", "https://github.com", "--password-stdin")
	h.keyhold("bank-Secret-88\n", "add", "login", "Bank", "--username", "bob", "--url", "https://bank.example", "--password-stdin")

	p := h.startHost()
	if got := p.ok(map[string]any{"op": "status"}); got["state"] != "locked" {
		t.Fatalf("status: %v", got)
	}
	p.fails("locked", map[string]any{"op": "candidates", "origin": "https://github.com"})

	// A wrong password: the kind says so, and the vault stays locked.
	p.fails("wrong_password", map[string]any{"op": "unlock", "password": "wrong " + testPassword})
	if got := p.ok(map[string]any{"op": "status"}); got["state"] != "locked" {
		t.Fatalf("status after a wrong password: %v", got)
	}
	if got := h.keyhold("", "status", "--json"); !strings.Contains(got, `"locked": true`) {
		t.Fatalf("keyhold status after a wrong password: %s", got)
	}

	p.ok(map[string]any{"op": "unlock", "password": testPassword})
	if got := p.ok(map[string]any{"op": "status"}); got["state"] != "unlocked" || got["expires_at"] == nil {
		t.Fatalf("status after unlock: %v", got)
	}
	// The agent is the CLI's: keyhold sees the vault unlocked too.
	if got := h.keyhold("", "status", "--json"); !strings.Contains(got, `"locked": false`) {
		t.Fatalf("keyhold status after unlock through the host: %s", got)
	}

	got := p.ok(map[string]any{"op": "candidates", "origin": "https://github.com", "top_origin": "https://github.com", "exact": false})
	cs := itemsOf(got)
	if len(cs) != 1 || cs[0]["title"] != "GitHub" || cs[0]["username"] != "alice" || cs[0]["match"] != "host" {
		t.Fatalf("candidates: %v", got)
	}
	gh := cs[0]["id"].(string)
	if raw, _ := json.Marshal(got); bytes.Contains(raw, []byte("Secret")) {
		t.Fatalf("candidates carry a secret: %s", raw)
	}

	got = p.ok(map[string]any{"op": "fill", "item": gh, "origin": "https://github.com", "top_origin": "https://github.com", "exact": false})
	if got["username"] != "alice" || got["password"] != "gh-Secret-77" {
		t.Fatalf("fill: %v", got)
	}
	for _, page := range []string{"https://github.com.evil.test", "https://xn--gthub-n4a.com", "http://github.com", "https://bank.example", "data:text/html,x"} {
		resp := p.fails("origin", map[string]any{"op": "fill", "item": gh, "origin": page, "top_origin": page})
		if raw, _ := json.Marshal(resp); bytes.Contains(raw, []byte("gh-Secret-77")) {
			t.Fatalf("a refused fill carries the password: %s", raw)
		}
	}

	// The login page framed by another site's page: no fill.
	if resp := p.fails("origin", map[string]any{"op": "fill", "item": gh, "origin": "https://github.com", "top_origin": "https://evil.test"}); bytes.Contains(must(json.Marshal(resp)), []byte("gh-Secret-77")) {
		t.Fatalf("a refused framed fill carries the password: %v", resp)
	}

	got = p.ok(map[string]any{"op": "search", "query": "bank", "origin": "https://github.com"})
	if s := itemsOf(got); len(s) != 1 || s[0]["title"] != "Bank" || s[0]["fillable"] != false {
		t.Fatalf("search: %v", got)
	}

	got = p.ok(map[string]any{"op": "save", "origin": "https://www.shop.example", "username": "carol", "password": "shop-Secret-1"})
	shop, _ := got["item"].(string)
	if got["title"] != "shop.example" || shop == "" {
		t.Fatalf("save: %v", got)
	}
	got = p.ok(map[string]any{"op": "save_check", "origin": "https://www.shop.example", "username": "carol", "password": "shop-Secret-1"})
	if got["action"] != "none" {
		t.Fatalf("save_check of the saved login: %v", got)
	}
	got = p.ok(map[string]any{"op": "save_check", "origin": "https://www.shop.example", "username": "carol", "password": "shop-Secret-2"})
	if got["action"] != "update" || got["item"] != shop {
		t.Fatalf("save_check of a changed password: %v", got)
	}
	p.ok(map[string]any{"op": "update", "item": shop, "origin": "https://www.shop.example", "username": "carol", "password": "shop-Secret-2"})
	// The CLI sees the new password, and the old one in the history.
	if pw := h.keyhold("", "show", shop, "--field", "password"); pw != "shop-Secret-2" {
		t.Fatalf("after update keyhold shows %q", pw)
	}
	if hist := h.keyhold("", "history", shop, "--field", "password", "--reveal"); !strings.Contains(hist, "shop-Secret-1") {
		t.Fatalf("the old password is not in the history:\n%s", hist)
	}

	if got := p.ok(map[string]any{"op": "lock"}); got["state"] != "locked" {
		t.Fatalf("lock: %v", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.ok(map[string]any{"op": "status"})["state"] != "locked" {
		if time.Now().After(deadline) {
			t.Fatal("still unlocked 10s after lock")
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.fails("locked", map[string]any{"op": "fill", "item": gh, "origin": "https://github.com", "top_origin": "https://github.com"})
	p.close()
}

// TestNativeHostCopy copies through the real host into a real X clipboard
// (Xvfb and xclip, as internal/clip's tests do): the value lands on the
// clipboard, never in the answer.
func TestNativeHostCopy(t *testing.T) {
	display := startXvfb(t)
	h := newHostEnv(t)
	h.keyhold("", "init", "--kdf-memory", "8", "--kdf-time", "1", "--kdf-threads", "1")
	h.keyhold("copy-Secret-99\n", "add", "login", "Mail", "--username", "dave", "--url", "https://mail.example", "--password-stdin")
	h.keyhold("", "unlock")

	p := h.startHost("DISPLAY=" + display)
	id := itemsOf(p.ok(map[string]any{"op": "candidates", "origin": "https://mail.example"}))[0]["id"].(string)
	got := p.ok(map[string]any{"op": "copy", "item": id, "field": "password"})
	if got["clear_after_s"] != float64(45) {
		t.Errorf("copy: %v", got)
	}
	if raw, _ := json.Marshal(got); bytes.Contains(raw, []byte("copy-Secret-99")) {
		t.Errorf("copy's answer carries the password: %s", raw)
	}
	xclip := exec.Command("xclip", "-o", "-selection", "clipboard")
	xclip.Env = append(os.Environ(), "DISPLAY="+display)
	out, err := xclip.Output()
	if err != nil || string(out) != "copy-Secret-99" {
		t.Errorf("the clipboard holds %q (%v), want the password", out, err)
	}
	p.close()

	// Without a display there is no clipboard: kind unavailable.
	p = h.startHost()
	p.fails("unavailable", map[string]any{"op": "copy", "item": id, "field": "password"})
	p.close()
}

// startXvfb starts a virtual X server for the test and returns its
// DISPLAY; it skips the test when Xvfb or xclip is missing.
func startXvfb(t *testing.T) string {
	t.Helper()
	for _, prog := range []string{"Xvfb", "xclip"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Skipf("%s is not installed (scripts/deps.sh installs it)", prog)
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	xvfb := exec.Command("Xvfb", "-displayfd", "3", "-nolisten", "tcp")
	xvfb.ExtraFiles = []*os.File{w}
	if err := xvfb.Start(); err != nil {
		t.Fatalf("starting Xvfb: %v", err)
	}
	w.Close()
	t.Cleanup(func() { xvfb.Process.Kill(); xvfb.Wait() })
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(r).ReadString('\n')
		r.Close()
		line <- strings.TrimSpace(s)
	}()
	select {
	case n := <-line:
		if n == "" {
			t.Fatal("Xvfb did not report its display")
		}
		return ":" + n
	case <-time.After(20 * time.Second):
		t.Fatal("Xvfb did not start within 20s")
	}
	return ""
}

// TestNativeHostSyncsAfterSave: a login saved or updated from the browser
// reaches the vault's sync folder without the user running keyhold sync.
func TestNativeHostSyncsAfterSave(t *testing.T) {
	h := newHostEnv(t)
	folder := filepath.Join(h.work, "folder")
	if err := os.Mkdir(folder, 0o700); err != nil {
		t.Fatal(err)
	}
	h.keyhold("", "init", "--kdf-memory", "8", "--kdf-time", "1", "--kdf-threads", "1")
	h.keyhold("", "sync", "enable", "--folder", folder)
	h.keyhold("", "unlock")
	pending := func() int {
		var st struct {
			Sync struct {
				Folder  string `json:"folder"`
				Pending *int   `json:"pending"`
			} `json:"sync"`
		}
		if err := json.Unmarshal([]byte(h.keyhold("", "status", "--json")), &st); err != nil || st.Sync.Pending == nil || st.Sync.Folder != folder {
			t.Fatalf("keyhold status --json: no folder sync (%v)", err)
		}
		return *st.Sync.Pending
	}
	waitSynced := func(what string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for pending() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("20s after %s, it is still not written to the folder", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	p := h.startHost()
	got := p.ok(map[string]any{"op": "save", "origin": "https://shop.example", "username": "erin", "password": "sync-Secret-1"})
	waitSynced("a save")
	p.ok(map[string]any{"op": "update", "item": got["item"], "origin": "https://shop.example", "username": "erin", "password": "sync-Secret-2"})
	waitSynced("an update")
	p.close()
}
