package kittext

import "time"

// Sheet is what the printable kit shows. AccountID and SecretKey are in
// their display forms (as the user sees them elsewhere); KitText is
// Kit.Text(), drawn as a QR code and printed under it.
type Sheet struct {
	KitText      string
	AccountID    string
	SecretKey    string
	Email        string
	SyncLocation string
	Created      time.Time
}

// Sheet returns what the printable kit shows for k: its text, account id,
// the Secret Key in the display form the caller gives (keys.SecretKey's
// Display, SPEC §2: the kit package does not import the key packages),
// email and sync location. The client and keyhold-mailer both make their
// PDF from it, so a mailed kit and a printed one are the same page.
func (k Kit) Sheet(email string, created time.Time, secretKey string) Sheet {
	return Sheet{
		KitText:      k.Text(),
		AccountID:    k.accountString(),
		SecretKey:    secretKey,
		Email:        email,
		SyncLocation: k.SyncLocation,
		Created:      created,
	}
}
