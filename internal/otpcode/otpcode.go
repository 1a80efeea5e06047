// Package otpcode computes the one-time codes of an item's TOTP field
// (RFC 6238), for every client: the command line's `keyhold otp` and the
// web vault compute them the same way.
package otpcode

import (
	"errors"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// Errors about a stored secret. They never show the secret.
var (
	ErrBadURI    = errors.New("the stored TOTP URI is invalid")
	ErrBadSecret = errors.New("the stored TOTP secret is invalid")
)

// Code returns the code for a stored TOTP value at now: a bare base32
// secret (30 s, 6 digits, SHA-1, the common defaults) or an otpauth://
// URI with its own parameters; the period, and the seconds the code has
// left.
func Code(stored string, now time.Time) (code string, period, remaining int, err error) {
	opts := totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	secret := stored
	if strings.HasPrefix(strings.ToLower(stored), "otpauth://") {
		k, err := otp.NewKeyFromURL(stored)
		if err != nil {
			return "", 0, 0, ErrBadURI
		}
		secret = k.Secret()
		if p := k.Period(); p > 0 {
			opts.Period = uint(p)
		}
		opts.Digits = k.Digits()
		opts.Algorithm = k.Algorithm()
	}
	code, err = totp.GenerateCodeCustom(secret, now, opts)
	if err != nil {
		return "", 0, 0, ErrBadSecret
	}
	period = int(opts.Period)
	return code, period, period - int(now.Unix()%int64(period)), nil
}
