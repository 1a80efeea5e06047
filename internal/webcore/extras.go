package webcore

import (
	"errors"
	"fmt"

	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/kit/kittext"
)

// Extras are the parts of the web vault the page loads only when a screen
// needs them, as a second WebAssembly module (keyhold-kit.wasm; package
// webextras is their implementation): reading a kit file or a camera
// frame, rendering the kit PDF, the strength estimator and the password
// generator. Their libraries (PDF, QR, images, word lists) are about as
// large as the rest of the web vault, and the sign-in with a typed code,
// unlocking and the item list need none of them.
type Extras interface {
	// ReadKitFile returns the setup code found in a kit PDF or an image
	// of its QR code (unchecked: the caller parses it).
	ReadKitFile(file []byte) (string, error)
	// ReadQRFrame returns the text of a QR code found in a camera frame
	// (luminance bytes), or found false.
	ReadQRFrame(gray []byte, width, height int) (text string, found bool, err error)
	// KitPDF renders the printable recovery kit.
	KitPDF(s kittext.Sheet) ([]byte, error)
	// Strength estimates a password (strength.Evaluate) for an item
	// with these user inputs (its title, its username).
	Strength(pw []byte, userInputs ...string) (Strength, error)
	// Generate makes a password or passphrase (package gen).
	Generate(r GenerateRequest) (Generated, error)
}

// ErrNoExtras means the page did not provide the extras module.
var ErrNoExtras = errors.New("this part of the web vault did not load; reload the page and try again")

func (c *Core) extras() (Extras, error) {
	if c.o.Extras == nil {
		return nil, ErrNoExtras
	}
	return c.o.Extras, nil
}

// CodeError is an error the other module reported with one of the
// contract's codes (its message is the sentence the page shows).
type CodeError struct {
	Code string
	Msg  string
}

func (e *CodeError) Error() string { return e.Msg }

// GenerateRequest is what the page's generator asks for.
type GenerateRequest struct {
	Kind        string  `json:"kind"` // "password" (default) or "passphrase"
	Length      int     `json:"length"`
	Words       int     `json:"words"`
	Symbols     *bool   `json:"symbols"`
	Digits      *bool   `json:"digits"`
	Upper       *bool   `json:"upper"`
	Lower       *bool   `json:"lower"`
	NoAmbiguous bool    `json:"noAmbiguous"`
	Separator   *string `json:"separator"`
	Capitalize  bool    `json:"capitalize"`
	Digit       bool    `json:"digit"`
}

// Strength is the strength meter's reading.
type Strength struct {
	Score       int      `json:"score"`
	Guesses     float64  `json:"guesses"`
	CrackTime   string   `json:"crackTime"`
	Warning     string   `json:"warning"`
	Suggestions []string `json:"suggestions"`
	// OK is the estimator's verdict: strong enough for a new password
	// (strength.Estimate.OK); the health report calls the others weak.
	OK bool `json:"ok"`
}

// Generated is a new password with its strength.
type Generated struct {
	Value    string   `json:"value"`
	Strength Strength `json:"strength"`
}

// Generate makes a password or passphrase (through the extras).
func (c *Core) Generate(r GenerateRequest) (Generated, error) {
	x, err := c.extras()
	if err != nil {
		return Generated{}, err
	}
	return x.Generate(r)
}

// Estimate is the strength meter's reading of pw (through the extras).
func (c *Core) Estimate(pw []byte) (Strength, error) {
	x, err := c.extras()
	if err != nil {
		return Strength{}, err
	}
	return x.Strength(pw)
}

// KitPDF renders the account's recovery kit as the command line prints
// it (`keyhold kit`), from the Secret Key this browser holds.
func (c *Core) KitPDF() ([]byte, error) {
	if _, err := c.open(); err != nil {
		return nil, err
	}
	x, err := c.extras()
	if err != nil {
		return nil, err
	}
	sk, id, server, email, err := c.kitParts()
	if err != nil {
		return nil, err
	}
	defer sk.Wipe()
	k := kittext.Kit{AccountID: id, SecretKey: *sk, SyncLocation: server}
	defer k.Wipe()
	b, err := x.KitPDF(k.Sheet(email, c.o.Now(), sk.Display()))
	if err != nil {
		return nil, fmt.Errorf("rendering the kit: %w", err)
	}
	return b, nil
}

// kitParts returns what the kit holds, or why the browser no longer has
// it (signed out or locked since KitPDF began).
func (c *Core) kitParts() (sk *keys.SecretKey, id keys.AccountID, server, email string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.dev
	switch {
	case d == nil:
		return nil, id, "", "", ErrSignedOut
	case c.v == nil:
		return nil, id, "", "", ErrLocked
	}
	return d.secretKey(), d.accountID(), d.Sync.Server, d.Email, nil
}
