package extension

import (
	"encoding/json"
	"testing"
)

// TestFirefoxManifest: the Firefox copy has the gecko id the host manifest
// allows, no Chromium key, and its background as scripts.
func TestFirefoxManifest(t *testing.T) {
	b, err := FS.ReadFile("manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	ff, err := FirefoxManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Key        *string `json:"key"`
		Background struct {
			Scripts       []string `json:"scripts"`
			ServiceWorker string   `json:"service_worker"`
		} `json:"background"`
		BSS struct {
			Gecko struct {
				ID string `json:"id"`
			} `json:"gecko"`
		} `json:"browser_specific_settings"`
	}
	if err := json.Unmarshal(ff, &m); err != nil {
		t.Fatal(err)
	}
	if m.Key != nil || m.BSS.Gecko.ID != FirefoxID || m.Background.ServiceWorker != "" || len(m.Background.Scripts) != 2 {
		t.Errorf("Firefox manifest:\n%s", ff)
	}
	for _, s := range m.Background.Scripts {
		if _, err := FS.Open(s); err != nil {
			t.Errorf("background script %s: %v", s, err)
		}
	}
	if _, err := FirefoxManifest([]byte(`{"background":{}}`)); err == nil {
		t.Error("a manifest without a service worker was accepted")
	}
}
