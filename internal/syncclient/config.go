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
	"net/http"
	"runtime"
	"time"

	"github.com/google/uuid"

	"github.com/keyhold/keyhold/internal/api"
)

// ConfigFile is the name, in the vault directory, of this device's server
// settings and session token (Config; package syncfile reads and writes
// it). Like device.json it is 0600 and never synced. The token lets this
// device sync; it cannot decrypt anything.
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

// NewConfig makes the settings of a device new to a server, named name
// in its list of devices (the command line uses the host name).
func NewConfig(server, fingerprint, name string) (*Config, error) {
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
	if name == "" {
		name = "device"
	}
	return &Config{Version: 1, Server: u.String(), Fingerprint: fingerprint, DeviceID: id.String(), DeviceName: name}, nil
}

// ErrBadConfig means stored settings do not decode to usable ones.
var ErrBadConfig = errors.New("the sync settings are damaged")

// ParseConfig decodes settings stored by Marshal.
func ParseConfig(b []byte) (*Config, error) {
	var c Config
	if err := json.Unmarshal(b, &c); err != nil || c.Version != 1 || c.Server == "" || c.DeviceID == "" {
		return nil, ErrBadConfig
	}
	return &c, nil
}

// Marshal encodes the settings for storing (the command line keeps them
// in ConfigFile).
func (c *Config) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Device describes this device to the server.
func (c *Config) Device() api.DeviceInfo {
	return api.DeviceInfo{ID: c.DeviceID, Name: c.DeviceName, Platform: runtime.GOOS + "/" + runtime.GOARCH}
}

// ErrPinUnsupported is returned by ClientHTTP for settings that pin the
// server's certificate, which a caller's HTTP client cannot be made to do.
var ErrPinUnsupported = errors.New("this server is reached with a pinned certificate (--server-fingerprint), which this client cannot check; use a server with a certificate the system trusts")

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
// for a program that brings its own, such as a browser's fetch. Such a
// client cannot apply a certificate pin, so settings that pin the
// server's certificate are refused rather than silently not pinned.
func (c *Config) ClientHTTP(hc *http.Client) (*api.Client, error) {
	if c.Fingerprint != "" {
		return nil, ErrPinUnsupported
	}
	cl, err := api.NewClientHTTP(c.Server, hc)
	if err != nil {
		return nil, err
	}
	cl.SetToken(c.Token)
	return cl, nil
}
