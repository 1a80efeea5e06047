package webcore

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/kit/kittext"
)

// KitInfo is what the page may show of a kit it read: never the Secret
// Key.
type KitInfo struct {
	AccountID string `json:"accountId"`
	Email     string `json:"email"`
	Server    string `json:"server"`
	// KDF is the account's key derivation as the server's login
	// parameters give it, so that the page can warn before deriving
	// (Heavy); nil when the server could not be asked.
	KDF *KDFInfo `json:"kdf,omitempty"`
}

// MaxKitFile bounds a kit file the page hands in: a kit PDF is a few
// kilobytes, a phone photo a few megabytes.
const MaxKitFile = 32 << 20

// MaxFramePixels bounds a camera frame: 4K is more than any camera
// preview the page asks for.
const MaxFramePixels = 3840 * 2160

// readKit reads a typed setup code (or the account id and Secret Key as
// printed), or a kit file (the PDF, or an image of its QR code) through
// the extras, which find the setup code in it.
func (c *Core) readKit(code string, file []byte) (kittext.Kit, error) {
	switch {
	case file != nil && code != "":
		return kittext.Kit{}, fmt.Errorf("%w: give the setup code or the kit file, not both", ErrInvalid)
	case file != nil:
		if len(file) > MaxKitFile {
			return kittext.Kit{}, fmt.Errorf("%w: the file is larger than %d MiB, too large to be a recovery kit", kittext.ErrNotKit, MaxKitFile>>20)
		}
		x, err := c.extras()
		if err != nil {
			return kittext.Kit{}, err
		}
		text, err := x.ReadKitFile(file)
		if err != nil {
			return kittext.Kit{}, err
		}
		return kittext.ParseTyped(text)
	case code != "":
		return kittext.ParseTyped(code)
	}
	return kittext.Kit{}, fmt.Errorf("%w: type the setup code or choose the kit file", ErrInvalid)
}

// readQRFrame looks for a kit's QR code in one camera frame given as
// luminance bytes, one per pixel, row by row. It reports found false when
// the frame holds no readable QR code, and an error when the frame is
// malformed or the code found is not a kit.
func (c *Core) readQRFrame(gray []byte, width, height int) (k kittext.Kit, found bool, err error) {
	if width <= 0 || height <= 0 || width*height > MaxFramePixels || len(gray) != width*height {
		return kittext.Kit{}, false, fmt.Errorf("%w: a camera frame of %d×%d pixels must have %d bytes", ErrInvalid, width, height, max(width*height, 0))
	}
	x, err := c.extras()
	if err != nil {
		return kittext.Kit{}, false, err
	}
	text, found, err := x.ReadQRFrame(gray, width, height)
	if err != nil || !found {
		return kittext.Kit{}, false, err
	}
	k, err = kittext.ParseTyped(text)
	return k, err == nil, err
}

// OtherServerError means a kit names a server other than the one that
// served the page. The page may talk to its own server alone (its
// Content-Security-Policy says connect-src 'self'), so such a kit is
// refused before anything is asked of either server: the user opens the
// web vault of the kit's server instead.
type OtherServerError struct {
	Kit  string // the kit's server
	Here string // the page's origin
}

func (e *OtherServerError) Error() string {
	return fmt.Sprintf("this recovery kit is for an account on %s, not on %s: open %s/ in the browser to use that account's web vault",
		api.PrintableText(e.Kit), api.PrintableText(e.Here), api.PrintableText(e.Kit))
}

// sameOrigin reports whether the server URL server is at the page's
// origin: the same scheme and host, default ports made explicit.
func sameOrigin(server, origin string) bool {
	a, errA := url.Parse(server)
	b, errB := url.Parse(origin)
	if errA != nil || errB != nil {
		return false
	}
	return strings.EqualFold(a.Scheme, b.Scheme) && hostPort(a) == hostPort(b)
}

func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[strings.ToLower(u.Scheme)]
	}
	return strings.ToLower(u.Hostname()) + ":" + port
}

func kitInfo(k kittext.Kit, server string) KitInfo {
	return KitInfo{AccountID: uuid.UUID(k.AccountID).String(), Server: server}
}

// kdfLookupTimeout bounds the question loginKDF asks: the warning it
// serves is advice, and sign-in asks the server again anyway.
const kdfLookupTimeout = 10 * time.Second

// loginKDF asks the kit's server for the account's login parameters
// (POST /v1/login/params, which syncclient.Setup asks before deriving)
// and returns their key derivation settings, or nil when the server
// cannot be reached or answers something unreadable: the page then warns
// nothing, and the sign-in reports the failure. A server answers
// parameters of the same shape for an account it does not know, so a
// foreign kit gets some settings here and is refused by the key check at
// sign-in.
func (c *Core) loginKDF(ctx context.Context, server string, id keys.AccountID) *KDFInfo {
	cl, err := api.NewClientHTTP(server, c.o.HTTP)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, kdfLookupTimeout)
	defer cancel()
	params, err := cl.LoginParams(ctx, uuid.UUID(id).String())
	if err != nil {
		return nil
	}
	hdr, err := format.ParseEnvelopeHeader(params.Header)
	if err != nil || hdr.AccountID != id {
		return nil
	}
	return kdfInfo(hdr.KDF)
}

func kdfInfo(p keys.KDFParams) *KDFInfo {
	return &KDFInfo{Time: p.Time, MemoryKiB: p.MemoryKiB, Threads: p.Threads, Heavy: p.MemoryKiB > heavyKiB}
}
