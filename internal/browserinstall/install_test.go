package browserinstall

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/keyhold/keyhold/extension"
)

// TestDefaultExtensionIDIsTheManifests: the id the host allows is the one
// Chromium derives from the key in the extension's manifest.json, so an
// unpacked copy of the extension and the installed host agree.
func TestDefaultExtensionIDIsTheManifests(t *testing.T) {
	b, err := extension.FS.ReadFile("manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	id, err := ExtensionID(m.Key)
	if err != nil {
		t.Fatal(err)
	}
	if id != DefaultExtensionID {
		t.Errorf("the manifest's key makes the id %s; DefaultExtensionID is %s", id, DefaultExtensionID)
	}
	if !ValidExtensionID(id) {
		t.Errorf("%s is not a valid id", id)
	}
}

func TestExtensionID(t *testing.T) {
	for _, bad := range []string{"", "not base64!"} {
		if _, err := ExtensionID(bad); err == nil {
			t.Errorf("ExtensionID(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"", "dcefochpojkbelobkomknnhojhpichc", "dcefochpojkbelobkomknnhojhpichcq", "DCEFOCHPOJKBELOBKOMKNNHOJHPICHCD"} {
		if ValidExtensionID(bad) {
			t.Errorf("ValidExtensionID(%q)", bad)
		}
	}
}

// TestTargets: every browser's place on each system.
func TestTargets(t *testing.T) {
	linux := Env{GOOS: "linux", Home: "/home/u"}
	mac := Env{GOOS: "darwin", Home: "/Users/u"}
	win := Env{GOOS: "windows", Home: `C:\Users\u`, LocalAppData: `C:\Users\u\AppData\Local`}
	cases := []struct {
		env           Env
		browser, udd  string
		dir, registry string
	}{
		{linux, "chromium", "", "/home/u/.config/chromium/NativeMessagingHosts", ""},
		{linux, "chrome", "", "/home/u/.config/google-chrome/NativeMessagingHosts", ""},
		{linux, "edge", "", "/home/u/.config/microsoft-edge/NativeMessagingHosts", ""},
		{linux, "brave", "", "/home/u/.config/BraveSoftware/Brave-Browser/NativeMessagingHosts", ""},
		{linux, "firefox", "", "/home/u/.mozilla/native-messaging-hosts", ""},
		{Env{GOOS: "linux", Home: "/home/u", ConfigHome: "/xdg"}, "chrome", "", "/xdg/google-chrome/NativeMessagingHosts", ""},
		{linux, "chromium", "/tmp/prof", "/tmp/prof/NativeMessagingHosts", ""},
		{linux, "brave", "/tmp/prof", "/tmp/prof/NativeMessagingHosts", ""},
		{mac, "chrome", "", "/Users/u/Library/Application Support/Google/Chrome/NativeMessagingHosts", ""},
		{mac, "chromium", "", "/Users/u/Library/Application Support/Chromium/NativeMessagingHosts", ""},
		{mac, "edge", "", "/Users/u/Library/Application Support/Microsoft Edge/NativeMessagingHosts", ""},
		{mac, "brave", "", "/Users/u/Library/Application Support/BraveSoftware/Brave-Browser/NativeMessagingHosts", ""},
		{mac, "firefox", "", "/Users/u/Library/Application Support/Mozilla/NativeMessagingHosts", ""},
		{win, "chrome", "", filepath.Join(`C:\Users\u\AppData\Local`, "Keyhold", "NativeMessagingHosts", "chrome"), `Software\Google\Chrome\NativeMessagingHosts\app.keyhold.host`},
		{win, "edge", "", filepath.Join(`C:\Users\u\AppData\Local`, "Keyhold", "NativeMessagingHosts", "edge"), `Software\Microsoft\Edge\NativeMessagingHosts\app.keyhold.host`},
		{win, "firefox", "", filepath.Join(`C:\Users\u\AppData\Local`, "Keyhold", "NativeMessagingHosts", "firefox"), `Software\Mozilla\NativeMessagingHosts\app.keyhold.host`},
	}
	for _, c := range cases {
		tg, err := TargetFor(c.env, c.browser, c.udd)
		if err != nil {
			t.Errorf("%s %s %s: %v", c.env.GOOS, c.browser, c.udd, err)
			continue
		}
		if tg.Dir != c.dir || tg.RegistryKey != c.registry {
			t.Errorf("%s %s %s: %q %q, want %q %q", c.env.GOOS, c.browser, c.udd, tg.Dir, tg.RegistryKey, c.dir, c.registry)
		}
	}
	if _, err := TargetFor(linux, "firefox", "/tmp/prof"); err == nil {
		t.Error("a user data directory for Firefox was accepted")
	}
	if _, err := TargetFor(linux, "netscape", ""); err == nil {
		t.Error("an unknown browser was accepted")
	}
	if _, err := TargetFor(Env{GOOS: "windows", Home: `C:\Users\u`}, "chrome", ""); err == nil {
		t.Error("Windows without LOCALAPPDATA was accepted (the manifest would go to a relative directory)")
	}
}

// TestTargetsDetect: without --browser, every browser whose profile
// exists; chromium when none does.
func TestTargetsDetect(t *testing.T) {
	home := t.TempDir()
	env := Env{GOOS: "linux", Home: home}
	ts, err := Targets(env, "", "")
	if err != nil || len(ts) != 1 || ts[0].Browser != "chromium" {
		t.Fatalf("no browser used: %+v, %v", ts, err)
	}
	os.MkdirAll(filepath.Join(home, ".config", "google-chrome"), 0o700)
	os.MkdirAll(filepath.Join(home, ".mozilla"), 0o700)
	ts, err = Targets(env, "", "")
	if err != nil || len(ts) != 2 || ts[0].Browser != "chrome" || ts[1].Browser != "firefox" {
		t.Fatalf("chrome and firefox used: %+v, %v", ts, err)
	}
}

// TestInstallFiles: the manifest names the wrapper and allows only the
// extension; the wrapper runs this keyhold for this vault, even with
// quotes and spaces in the paths.
func TestInstallFiles(t *testing.T) {
	dir := t.TempDir()
	tg, _ := TargetFor(Env{GOOS: "linux", Home: "/h"}, "chromium", filepath.Join(dir, "prof"))
	exe := "/opt/it's here/keyhold"
	if err := Install(tg, "linux", exe, "/v a/ult", "abcdefghijklmnopabcdefghijklmnop"); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	b, _ := os.ReadFile(tg.Manifest())
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["name"] != HostName || m["type"] != "stdio" || m["path"] != tg.Wrapper("linux") ||
		strings.Join(toStrings(m["allowed_origins"]), ",") != "chrome-extension://abcdefghijklmnopabcdefghijklmnop/" || m["allowed_extensions"] != nil {
		t.Errorf("manifest: %s", b)
	}
	w, _ := os.ReadFile(tg.Wrapper("linux"))
	if !strings.HasPrefix(string(w), "#!/bin/sh\n") ||
		!strings.Contains(string(w), `exec '/opt/it'\''s here/keyhold' '--vault' '/v a/ult' 'native-host' '--extension-id' 'abcdefghijklmnopabcdefghijklmnop' "$@"`) {
		t.Errorf("wrapper:\n%s", w)
	}
	for p, mode := range map[string]os.FileMode{tg.Wrapper("linux"): 0o700, tg.Manifest(): 0o644} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", p, st.Mode().Perm(), mode)
		}
	}
	removed, err := Uninstall(tg, "linux")
	if err != nil || !removed {
		t.Fatalf("uninstall: %v %v", removed, err)
	}
	if _, err := os.Stat(tg.Dir); !os.IsNotExist(err) {
		t.Errorf("the empty NativeMessagingHosts directory is left: %v", err)
	}
	if removed, err := Uninstall(tg, "linux"); removed || err != nil {
		t.Errorf("second uninstall: %v %v", removed, err)
	}

	ff, _ := TargetFor(Env{GOOS: "linux", Home: dir}, "firefox", "")
	if err := Install(ff, "linux", "/usr/bin/keyhold", "", "ignored"); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(ff.Manifest())
	m = nil
	json.Unmarshal(b, &m)
	if strings.Join(toStrings(m["allowed_extensions"]), ",") != FirefoxExtensionID || m["allowed_origins"] != nil {
		t.Errorf("firefox manifest: %s", b)
	}
	w, _ = os.ReadFile(ff.Wrapper("linux"))
	if !strings.Contains(string(w), `exec '/usr/bin/keyhold' 'native-host' "$@"`) {
		t.Errorf("firefox wrapper:\n%s", w)
	}
	bat := Wrapper(tg, "windows", `C:\Program Files\Keyhold\keyhold.exe`, `C:\v`, DefaultExtensionID)
	if want := `"C:\Program Files\Keyhold\keyhold.exe" "--vault" "C:\v" "native-host" "--extension-id" "` + DefaultExtensionID + `" %*` + "\r\n"; !strings.HasSuffix(string(bat), want) {
		t.Errorf("windows wrapper:\n%s", bat)
	}
}

func toStrings(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func TestCheckExecutable(t *testing.T) {
	if err := CheckExecutable("/tmp/go-build123456/b001/exe/keyhold"); err == nil {
		t.Error("a go run binary was accepted")
	}
	for _, ok := range []string{"/usr/bin/keyhold", "/home/u/go/bin/keyhold"} {
		if err := CheckExecutable(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// TestWriteExtension: the copy has every file, and a second install
// replaces the first, leaving no stale file.
func TestWriteExtension(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keyhold-extension", "chromium")
	v1 := fstest.MapFS{"manifest.json": {Data: []byte("{1}")}, "old.js": {Data: []byte("x")}, "icons/a.png": {Data: []byte("png")}}
	if err := WriteExtension(v1, dir, nil); err != nil {
		t.Fatal(err)
	}
	v2 := fstest.MapFS{"manifest.json": {Data: []byte("{2}")}, "icons/a.png": {Data: []byte("png")}}
	if err := WriteExtension(v2, dir, []byte("{firefox}")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "manifest.json")); string(b) != "{firefox}" {
		t.Errorf("manifest %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "old.js")); !os.IsNotExist(err) {
		t.Errorf("a file of the old copy is left: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "icons", "a.png")); string(b) != "png" {
		t.Errorf("icon %q", b)
	}
	if st, err := os.Stat(filepath.Dir(dir)); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("keyhold's data directory (the default vault directory) was made %v, want 0700", st.Mode().Perm())
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), ".browser-extension-*"))
	if len(left) != 0 {
		t.Errorf("temporary directories left: %q", left)
	}
}

// TestInstallRefusesOthersDirectories: the wrapper receives the vault
// password, so install refuses to write it where another user could
// replace it: a symlinked, foreign or group/other-writable directory.
func TestInstallRefusesOthersDirectories(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "real")
	os.MkdirAll(filepath.Join(real, "NativeMessagingHosts"), 0o700)
	link := filepath.Join(base, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(base, "shared")
	os.MkdirAll(filepath.Join(shared, "NativeMessagingHosts"), 0o700)
	os.Chmod(filepath.Join(shared, "NativeMessagingHosts"), 0o777)
	hostsLink := filepath.Join(base, "hostslink")
	os.Mkdir(hostsLink, 0o700)
	os.Symlink(filepath.Join(real, "NativeMessagingHosts"), filepath.Join(hostsLink, "NativeMessagingHosts"))
	for _, udd := range []string{link, shared, hostsLink} {
		tg, err := TargetFor(Env{GOOS: "linux", Home: base}, "chromium", udd)
		if err != nil {
			t.Fatal(err)
		}
		if err := Install(tg, "linux", "/usr/bin/keyhold", "", DefaultExtensionID); err == nil {
			t.Errorf("installed into %s", tg.Dir)
		}
		if _, err := os.Stat(filepath.Join(real, "NativeMessagingHosts", HostName+".sh")); err == nil {
			t.Fatalf("a wrapper was written through %s", udd)
		}
	}
}
