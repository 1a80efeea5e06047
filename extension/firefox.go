package extension

import (
	"encoding/json"
	"errors"
)

// FirefoxID is the extension's id in Firefox, set by the Firefox manifest's
// browser_specific_settings (Firefox has no manifest key to derive one
// from). The native host's Firefox manifest allows this id alone.
const FirefoxID = "keyhold@keyhold.app"

// FirefoxManifest derives Firefox's manifest from Chromium's manifest.json:
// Firefox runs the background as an event page (background.scripts, the
// injected function's file first, since it has no importScripts there),
// takes its id from browser_specific_settings instead of a key, and has no
// use for Chromium's minimum version. It is written once, here, for both
// the packaged zip and the unpacked copy `keyhold browser install` writes.
func FirefoxManifest(chromium []byte) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(chromium, &m); err != nil {
		return nil, err
	}
	bg, _ := m["background"].(map[string]any)
	sw, _ := bg["service_worker"].(string)
	if sw == "" {
		return nil, errors.New("the extension's manifest.json has no background service worker")
	}
	delete(m, "key")
	delete(m, "minimum_chrome_version")
	m["background"] = map[string]any{"scripts": []string{"inject.js", sw}}
	m["browser_specific_settings"] = map[string]any{
		"gecko": map[string]any{"id": FirefoxID, "strict_min_version": "128.0"},
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
