// Package syncclient syncs a vault with keyhold-server: it logs in with
// the PAKE (the server never sees the password or the Secret Key), pulls
// and pushes sealed revisions, merges concurrent edits field by field,
// checks the server against the manifest the devices sign, and follows
// password changes and key rotations made on other devices. The protocol
// is in docs/SYNC.md; the wire types in internal/api.
package syncclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/google/uuid"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/atomicfile"
)

// ConfigFile is the name, in the vault directory, of this device's server
// settings and session token. Like device.json it is 0600 and never
// synced. The token lets this device sync; it cannot decrypt anything.
const ConfigFile = "sync.json"

// ErrNotEnabled means the vault is not synced with a server.
var ErrNotEnabled = errors.New("this vault is not synced with a server (keyhold sync enable --server URL)")

// Config is this device's server settings.
type Config struct {
	Version     int       `json:"version"`
	Server      string    `json:"server"`
	Fingerprint string    `json:"fingerprint,omitempty"`
	DeviceID    string    `json:"device_id"`
	DeviceName  string    `json:"device_name"`
	Token       string    `json:"token,omitempty"`
	Expires     time.Time `json:"token_expires,omitzero"`
	// MailerURL is the keyhold-mailer the user chose for kit mail (with
	// --mailer-url, or by confirming the server's suggestion once). A
	// server that later names another mailer is refused: the server does
	// not decide where a kit goes.
	MailerURL string `json:"mailer_url,omitempty"`
}

// NewConfig makes the settings of a device new to a server.
func NewConfig(server, fingerprint string) (*Config, error) {
	u, err := api.CheckURL(server)
	if err != nil {
		return nil, err
	}
	if fingerprint != "" {
		if _, err := api.ParseFingerprint(fingerprint); err != nil {
			return nil, err
		}
	}
	id, err := uuid.NewRandom()
	if err != nil {
		return nil, err
	}
	name, _ := os.Hostname()
	if name == "" {
		name = "device"
	}
	return &Config{Version: 1, Server: u.String(), Fingerprint: fingerprint, DeviceID: id.String(), DeviceName: name}, nil
}

// Load reads the settings from the vault directory.
func Load(dir string) (*Config, error) {
	b, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotEnabled
	}
	if err != nil {
		return nil, err
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil || c.Version != 1 || c.Server == "" || c.DeviceID == "" {
		return nil, fmt.Errorf("%s is damaged; run keyhold sync enable --server URL again", filepath.Join(dir, ConfigFile))
	}
	return &c, nil
}

// Save writes the settings (0600, atomically).
func (c *Config) Save(dir string) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Replace(filepath.Join(dir, ConfigFile), append(b, '\n'), 0o600)
}

// Device describes this device to the server.
func (c *Config) Device() api.DeviceInfo {
	return api.DeviceInfo{ID: c.DeviceID, Name: c.DeviceName, Platform: runtime.GOOS + "/" + runtime.GOARCH}
}

// Client returns an API client for the server, with the session token.
func (c *Config) Client() (*api.Client, error) {
	cl, err := api.NewClient(c.Server, c.Fingerprint)
	if err != nil {
		return nil, err
	}
	cl.SetToken(c.Token)
	return cl, nil
}

// ClientHTTP is Client over the caller's HTTP client (api.NewClientHTTP),
// for a program that brings its own: the fingerprint pin is then the
// caller's to apply.
func (c *Config) ClientHTTP(hc *http.Client) (*api.Client, error) {
	cl, err := api.NewClientHTTP(c.Server, hc)
	if err != nil {
		return nil, err
	}
	cl.SetToken(c.Token)
	return cl, nil
}
