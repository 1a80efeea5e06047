package extension

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// wantID is the extension id the native host's manifest allows
// (allowed_origins). An unpacked copy gets it from the manifest's key.
const wantID = "dcefochpojkbelobkomknnhojhpichcd"

// wantCSP is the extension pages' policy: scripts only from the
// extension itself, no plugins, no <base>, no framing by anyone.
const wantCSP = "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

type manifest struct {
	ManifestVersion int    `json:"manifest_version"`
	Name            string `json:"name"`
	Key             string `json:"key"`
	Icons           map[string]string
	Action          struct {
		DefaultPopup string            `json:"default_popup"`
		DefaultIcon  map[string]string `json:"default_icon"`
	} `json:"action"`
	Background struct {
		ServiceWorker string   `json:"service_worker"`
		Scripts       []string `json:"scripts"`
	} `json:"background"`
	OptionsUI struct {
		Page string `json:"page"`
	} `json:"options_ui"`
	Permissions     []string `json:"permissions"`
	HostPermissions []string `json:"host_permissions"`
	ContentScripts  []struct {
		Matches []string `json:"matches"`
		JS      []string `json:"js"`
		CSS     []string `json:"css"`
	} `json:"content_scripts"`
	Commands map[string]struct {
		SuggestedKey map[string]string `json:"suggested_key"`
	} `json:"commands"`
	CSP                   map[string]string `json:"content_security_policy"`
	WebAccessible         json.RawMessage   `json:"web_accessible_resources"`
	ExternallyConnectable *struct {
		Matches []string `json:"matches"`
		IDs     []string `json:"ids"`
	} `json:"externally_connectable"`
}

func readManifest(t *testing.T) manifest {
	t.Helper()
	b, err := fs.ReadFile(FS, "manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	return m
}

// extensionID computes a Chromium extension id from the manifest's key:
// the SHA-256 of the DER public key, its first 16 bytes in hex, each hex
// digit 0-f written as a letter a-p.
func extensionID(key string) (string, error) {
	der, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		return "", err
	}
	if _, err := x509.ParsePKIXPublicKey(der); err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	h := []byte(hex.EncodeToString(sum[:16]))
	for i, c := range h {
		if c >= 'a' {
			h[i] = c - 'a' + 10 + 'a'
		} else {
			h[i] = c - '0' + 'a'
		}
	}
	return string(h), nil
}

func TestManifestKeyGivesTheInstalledID(t *testing.T) {
	m := readManifest(t)
	if m.ManifestVersion != 3 || m.Name != "Keyhold" {
		t.Errorf("manifest_version %d, name %q; want 3, Keyhold", m.ManifestVersion, m.Name)
	}
	id, err := extensionID(m.Key)
	if err != nil {
		t.Fatalf("manifest key: %v", err)
	}
	if id != wantID {
		t.Errorf("the manifest's key gives id %s, want %s: the installed native host would refuse the extension", id, wantID)
	}
}

func TestExtensionIDMapping(t *testing.T) {
	// A key that is not a public key is refused rather than given an id.
	if _, err := extensionID(base64.StdEncoding.EncodeToString([]byte("not a key"))); err == nil {
		t.Error("extensionID accepted a key that is not a DER public key")
	}
}

func TestPagesCannotReachTheExtension(t *testing.T) {
	m := readManifest(t)
	if got := m.CSP["extension_pages"]; got != wantCSP {
		t.Errorf("extension_pages CSP = %q, want %q", got, wantCSP)
	}
	if len(m.WebAccessible) != 0 {
		t.Errorf("web_accessible_resources = %s: a page could load the extension's files (and frame or fingerprint them)", m.WebAccessible)
	}
	if m.ExternallyConnectable != nil && len(m.ExternallyConnectable.Matches) > 0 {
		t.Errorf("externally_connectable matches %v: web pages could message the extension", m.ExternallyConnectable.Matches)
	}
	for _, cs := range m.ContentScripts {
		for _, p := range cs.Matches {
			if !strings.HasPrefix(p, "http://") && !strings.HasPrefix(p, "https://") {
				t.Errorf("content script matches %q: it runs only in http(s) pages", p)
			}
		}
		if len(cs.CSS) > 0 {
			t.Errorf("content script CSS %v: the extension shows nothing in pages", cs.CSS)
		}
	}
}

func TestPermissionsAreTheDesignedOnes(t *testing.T) {
	m := readManifest(t)
	want := []string{"activeTab", "alarms", "contextMenus", "nativeMessaging", "scripting", "storage", "tabs", "webNavigation"}
	got := slices.Clone(m.Permissions)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("permissions %v, want %v", got, want)
	}
	for _, p := range m.Permissions {
		if strings.HasPrefix(p, "clipboard") {
			t.Errorf("permission %q: the host copies, secrets never pass through the extension's clipboard", p)
		}
	}
}

func TestShortcuts(t *testing.T) {
	m := readManifest(t)
	for name, key := range map[string]string{"_execute_action": "Alt+Shift+K", "fill-login": "Alt+Shift+L"} {
		c, ok := m.Commands[name]
		if !ok {
			t.Errorf("command %s missing", name)
			continue
		}
		if got := c.SuggestedKey["default"]; got != key {
			t.Errorf("command %s: shortcut %q, want %q", name, got, key)
		}
	}
}

var importScriptsRE = regexp.MustCompile(`importScripts\('([^']+)'\)`)

// TestEveryFileIsReferencedAndExists checks both directions: every file
// the manifest, the pages and the service worker name is in the
// extension, and every file in it is named by one of them (a file nobody
// loads is dead code that would still be shipped and reviewed).
func TestEveryFileIsReferencedAndExists(t *testing.T) {
	m := readManifest(t)
	refs := map[string]string{} // file → who names it
	add := func(who string, files ...string) {
		for _, f := range files {
			if f != "" {
				refs[path.Clean(f)] = who
			}
		}
	}
	for _, f := range m.Icons {
		add("manifest icons", f)
	}
	for _, f := range m.Action.DefaultIcon {
		add("manifest action icon", f)
	}
	add("manifest action", m.Action.DefaultPopup)
	add("manifest background", m.Background.ServiceWorker)
	add("manifest background", m.Background.Scripts...)
	add("manifest options_ui", m.OptionsUI.Page)
	for _, cs := range m.ContentScripts {
		add("manifest content_scripts", cs.JS...)
	}
	if m.Background.ServiceWorker != "" {
		b, err := fs.ReadFile(FS, m.Background.ServiceWorker)
		if err != nil {
			t.Fatal(err)
		}
		for _, sub := range importScriptsRE.FindAllStringSubmatch(string(b), -1) {
			add(m.Background.ServiceWorker, sub[1])
		}
	}
	var pages []string
	for f := range refs {
		if strings.HasSuffix(f, ".html") {
			pages = append(pages, f)
		}
	}
	for _, p := range pages {
		add(p, htmlRefs(t, p)...)
	}
	for f, who := range refs {
		if _, err := fs.Stat(FS, f); err != nil {
			t.Errorf("%s names %s, which is not in the extension", who, f)
		}
	}
	err := fs.WalkDir(FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == "manifest.json" {
			return err
		}
		if _, ok := refs[p]; !ok {
			t.Errorf("%s is in the extension but nothing loads it", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// htmlRefs returns the local files a page loads, and fails the test on
// anything the extension's CSP forbids or that would hand the page's
// behaviour to its markup: inline scripts, style elements or attributes,
// event-handler attributes, javascript: URLs, and files from elsewhere.
func htmlRefs(t *testing.T, name string) []string {
	t.Helper()
	b, err := fs.ReadFile(FS, name)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var out []string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attrs := map[string]string{}
			for _, a := range n.Attr {
				attrs[strings.ToLower(a.Key)] = a.Val
				k := strings.ToLower(a.Key)
				if k == "style" {
					t.Errorf("%s: <%s style=…>: inline style", name, n.Data)
				}
				if strings.HasPrefix(k, "on") {
					t.Errorf("%s: <%s %s=…>: inline event handler", name, n.Data, a.Key)
				}
				if (k == "href" || k == "src" || k == "action") && strings.HasPrefix(strings.ToLower(strings.TrimSpace(a.Val)), "javascript:") {
					t.Errorf("%s: <%s %s=%q>", name, n.Data, a.Key, a.Val)
				}
			}
			switch n.Data {
			case "style":
				t.Errorf("%s: <style> element: inline style", name)
			case "script":
				src, ok := attrs["src"]
				if !ok {
					t.Errorf("%s: inline <script>", name)
				} else {
					out = append(out, src)
				}
			case "link":
				out = append(out, attrs["href"])
			case "img":
				out = append(out, attrs["src"])
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	for _, r := range out {
		if strings.Contains(r, ":") || strings.HasPrefix(r, "//") {
			t.Errorf("%s loads %q: the extension loads only its own files", name, r)
		}
	}
	return out
}

func TestHTMLHasNoInlineCode(t *testing.T) {
	pages, err := fs.Glob(FS, "*.html")
	if err != nil || len(pages) == 0 {
		t.Fatalf("no pages: %v", err)
	}
	for _, p := range pages {
		htmlRefs(t, p)
	}
}

// The scripts keep the rules the CSP cannot enforce by itself: no markup
// built from strings (a title or username is data, never HTML), no
// string evaluation.
func TestScriptsBuildNoMarkupFromStrings(t *testing.T) {
	scripts, err := fs.Glob(FS, "*.js")
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	bad := regexp.MustCompile(`\.innerHTML\b|\.outerHTML\b|insertAdjacentHTML|document\.write|\beval\(|new Function\(|setTimeout\('|setInterval\('`)
	for _, s := range scripts {
		b, err := fs.ReadFile(FS, s)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if m := bad.FindString(line); m != "" {
				t.Errorf("%s:%d: %s", s, i+1, m)
			}
		}
	}
}
