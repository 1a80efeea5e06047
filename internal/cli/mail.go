package cli

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/kit"
	"github.com/keyhold/keyhold/internal/kitmail"
	"github.com/keyhold/keyhold/internal/mailticket"
	"github.com/keyhold/keyhold/internal/syncclient"
	"github.com/keyhold/keyhold/internal/syncfile"
)

// mailFlags are kit --email's options. Emailing is off unless asked for,
// and then the user must say how the kit travels: sealed on this device
// (--encrypt-to) or, as a separately named choice, readable on the way
// (--unencrypted). --yes never makes that choice.
type mailFlags struct {
	email             bool
	to                string
	encryptTo         string
	unencrypted       bool
	mailerURL         string
	mailerFingerprint string
	yes               bool
}

// errNoMailChoice: kit --email was given neither --encrypt-to nor
// --unencrypted.
var errNoMailChoice = errors.New("choose how the kit travels: --encrypt-to KEYFILE|age1… seals it on this device " +
	"so only that key's holder can read it (the mailer cannot), or --unencrypted sends it readable by the mailer " +
	"and every mail server on the way")

// OtherMailerError is a server's ticket answer naming another mailer than
// the one this device uses: the server does not decide where a kit goes.
type OtherMailerError struct {
	Named, Chosen string
}

func (e *OtherMailerError) Error() string {
	return fmt.Sprintf("the server named another mailer (%s) than the one this device uses (%s); nothing was sent. "+
		"If you trust the new one, give --mailer-url with it; otherwise the server may be trying to read your kit",
		api.Printable(e.Named), e.Chosen)
}

// plainRisk is shown (and, without --yes, confirmed on a terminal) before
// an unencrypted kit mail.
const plainRisk = `THIS KIT MAIL IS NOT ENCRYPTED (--unencrypted). The mailer at %s
and every mail server on the way to %s can read it, and it stays in a
mailbox: anyone who reads it has your Secret Key and needs only your
password to open the vault. With --encrypt-to (an OpenPGP public key file
or an age recipient, age1…) the kit is sealed on this device and only that
key's holder can read it. Printing it (keyhold kit --pdf) sends nothing.`

// sealedKit is a kit sealed on this device, ready for the mailer.
type sealedKit struct {
	kind    string
	payload []byte
	key     []byte // the recipient key id the ticket binds
	desc    string // how it was sealed, for the user
}

// sealKit renders the kit (PDF with its QR code, and the QR code alone
// for PGP/MIME) and seals it as mf says. Nothing leaves the device here.
func sealKit(mf *mailFlags, sheet kit.Sheet) (*sealedKit, error) {
	if err := mf.checkMailChoice(); err != nil {
		return nil, err
	}
	e := strings.TrimSpace(mf.encryptTo)
	pdf, err := kit.PDF(sheet)
	if err != nil {
		return nil, err
	}
	defer clear(pdf)
	switch {
	case mf.unencrypted:
		return &sealedKit{kind: kitmail.KindPlain, payload: append([]byte(nil), pdf...), desc: "NOT encrypted: the mailer and every mail server on the way can read it"}, nil
	case strings.HasPrefix(e, "age1"):
		// X25519 (age1…) and hybrid post-quantum (age1pq1…) recipients;
		// age.ParseRecipients refuses plugin recipients, which would need
		// a plugin on this device.
		rs, err := age.ParseRecipients(strings.NewReader(e))
		if err != nil || len(rs) != 1 || strings.ContainsAny(e, " \t\r\n") {
			return nil, usageError{fmt.Errorf("--encrypt-to: %q is not an age recipient (age1…; age-keygen -y prints it)", api.Printable(e))}
		}
		p, err := kitmail.SealAge(rs[0], pdf)
		if err != nil {
			return nil, err
		}
		return &sealedKit{kind: kitmail.KindAge, payload: p, key: mailticket.AgeRecipientID(e),
			desc: "encrypted on this device to age recipient " + e}, nil
	default:
		b, err := os.ReadFile(e)
		if err != nil {
			return nil, exitError{fmt.Errorf("--encrypt-to: %w", err), ExitNotFound}
		}
		ent, err := kitmail.ReadPGPKey(b, time.Now())
		if err != nil {
			return nil, usageError{fmt.Errorf("--encrypt-to %s: %w", e, err)}
		}
		png, err := kit.QRPNG(sheet.KitText, kit.QRImageSize)
		if err != nil {
			return nil, err
		}
		defer clear(png)
		p, err := kitmail.SealPGP(ent, pdf, png)
		if err != nil {
			return nil, err
		}
		fpr := kitmail.Fingerprint(ent)
		return &sealedKit{kind: kitmail.KindPGP, payload: p, key: fpr,
			desc: fmt.Sprintf("encrypted on this device to OpenPGP key %X (PGP/MIME)", fpr)}, nil
	}
}

// mailerHost is the host (and port) of a mailer URL, as the prompt shows it.
func mailerHost(u string) string {
	if p, err := url.Parse(u); err == nil && p.Host != "" {
		return p.Host
	}
	return u
}

// sameMailer compares two mailer URLs as the client uses them.
func sameMailer(a, b string) bool {
	ua, err1 := api.CheckURL(a)
	ub, err2 := api.CheckURL(b)
	if err1 != nil || err2 != nil {
		return false
	}
	return ua.Scheme == ub.Scheme && strings.EqualFold(ua.Host, ub.Host) && strings.TrimRight(ua.Path, "/") == strings.TrimRight(ub.Path, "/")
}

// haveTTY reports whether a terminal is there to ask on.
func haveTTY() bool {
	f, err := openTTY()
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// checkMailChoice refuses kit --email without a choice of how the kit
// travels, before anything is opened or asked.
func (mf *mailFlags) checkMailChoice() error {
	e := strings.TrimSpace(mf.encryptTo)
	switch {
	case e == "" && !mf.unencrypted:
		return usageError{errNoMailChoice}
	case e != "" && mf.unencrypted:
		return usageError{errors.New("give either --encrypt-to or --unencrypted, not both")}
	}
	return nil
}

// suggestedMailer asks the server which mailer it suggests and has the
// user confirm it on a terminal; it is then used for this mail and, once
// the mail is sent, kept for this device.
func (c *cmdEnv) suggestedMailer() (string, error) {
	var suggested string
	err := c.withServer(func(cl *api.Client, cfg *syncclient.Config) error {
		a, err := cl.Account(c.ctx)
		if err != nil {
			return err
		}
		suggested = a.MailerURL
		return nil
	})
	if err != nil {
		return "", err
	}
	if suggested == "" {
		return "", usageError{errors.New("the server suggests no mailer: give --mailer-url URL")}
	}
	u, err := api.CheckURL(suggested)
	if err != nil {
		return "", exitError{fmt.Errorf("the server suggests a mailer that is not a usable URL: %w", err), ExitServer}
	}
	use := u.String()
	fmt.Fprintf(c.stderr, "The server suggests the mailer %s (%s). This device has no mailer of its own yet;\n"+
		"if you confirm, it is kept for this device and a server that later names another is refused.\n", api.Printable(mailerHost(use)), api.Printable(use))
	ok, err := confirmTTY("Use this mailer for kit mail from this device?")
	if err != nil {
		return "", exitError{fmt.Errorf("%w; give --mailer-url URL", err), ExitNoInput}
	}
	if !ok {
		return "", usageError{errors.New("not sent: give --mailer-url URL to choose a mailer")}
	}
	return use, nil
}

// emailKit seals the kit on this device, proves the password to the
// server (login, the login key of the unlock this command made), asks it
// for a ticket binding the sealed payload to the address, and hands both
// to the mailer this device chose. deviceEmail is the address this device
// recorded for the account.
func (c *cmdEnv) emailKit(mf *mailFlags, sheet kit.Sheet, deviceEmail string, id keys.AccountID, login *keys.Key32) error {
	sealed, err := sealKit(mf, sheet)
	if err != nil {
		return err
	}
	defer clear(sealed.payload)
	cfg, err := syncfile.Load(c.vaultDir)
	if err != nil {
		return exitError{errors.New("emailing the kit needs a sync server account: the server vouches for the mail (keyhold sync enable --server URL)"), ExitUnavailable}
	}

	// The address: --to, else the one this device recorded for the
	// account; never one the server names at send time.
	to := mf.to
	if to == "" {
		to = deviceEmail
	}
	if to == "" {
		return usageError{errors.New("no address: give --to ADDR")}
	}
	if mailticket.CheckAddress(to) != nil {
		return usageError{fmt.Errorf("--to: %q is not one plain email address like name@example.org", api.Printable(to))}
	}

	// The mailer: --mailer-url, else the one pinned for this device.
	// With neither, the server's suggestion is taken only once the user
	// has confirmed it on a terminal (then, once sent, it is pinned). It
	// is settled before anything else is shown, so that the warning and
	// the question to send name the real mailer.
	mailer, pin := "", false
	switch {
	case mf.mailerURL != "":
		u, err := api.CheckURL(mf.mailerURL)
		if err != nil {
			return usageError{fmt.Errorf("--mailer-url: %w", err)}
		}
		mailer = u.String()
		pin = mailer != cfg.MailerURL
	case cfg.MailerURL != "":
		mailer = cfg.MailerURL
	case !haveTTY():
		return usageError{errors.New("no mailer is chosen for this device: give --mailer-url URL (it is then kept in " +
			syncclient.ConfigFile + " and shown by keyhold status), or run on a terminal to confirm the server's suggestion")}
	default:
		if mailer, err = c.suggestedMailer(); err != nil {
			return err
		}
		pin = true
	}

	c.infof("kit mail to: %s", to)
	c.infof("through:     mailer %s (%s)", mailerHost(mailer), mailer)
	c.infof("sealed:      %s", sealed.desc)
	if sealed.kind == kitmail.KindPlain {
		fmt.Fprintf(c.stderr, plainRisk+"\n", mailerHost(mailer), to)
	}
	if !mf.yes {
		ok, err := confirmTTY("Send the recovery kit by email?")
		if err != nil {
			return noTerminalToAsk("whether to send the kit", "add --yes to send without asking")
		}
		if !ok {
			return usageError{errors.New("not sent")}
		}
	}

	sum := sha256.Sum256(sealed.payload)
	var resp *api.MailSendResponse
	err = c.withServer(func(cl *api.Client, cfg *syncclient.Config) error {
		// A ticket needs a fresh proof of the password, so that a stolen
		// session token cannot have the mailer send anything.
		if err := c.prover(cl, cfg, id, login)(c.ctx); err != nil {
			return err
		}
		cl.SetToken(cfg.Token) // proving may have logged in again
		t, err := cl.MailTicket(c.ctx, &api.MailTicketRequest{To: to, Kind: sealed.kind, PayloadSHA256: sum[:], RecipientKey: sealed.key})
		if err != nil {
			return err
		}
		if t.MailerURL != "" && !sameMailer(mailer, t.MailerURL) {
			return exitError{&OtherMailerError{Named: t.MailerURL, Chosen: mailer}, ExitServer}
		}
		mc, err := api.NewPeerClient(mailer, mf.mailerFingerprint, "mailer")
		if err != nil {
			return usageError{err}
		}
		resp, err = mc.SendKit(c.ctx, &api.MailSendRequest{Ticket: t.Ticket, To: to, Kind: sealed.kind, Payload: sealed.payload})
		if err != nil {
			return err
		}
		if pin {
			prev := cfg.MailerURL
			cfg.MailerURL = mailer
			if err := syncfile.Save(c.vaultDir, cfg); err != nil {
				return fmt.Errorf("the kit was sent, but keeping the mailer in %s failed: %w", syncclient.ConfigFile, err)
			}
			if prev != "" {
				c.infof("kit mail from this device now goes through %s (was %s)", mailer, prev)
			} else {
				c.infof("kit mail from this device goes through %s from now on (keyhold status shows it)", mailer)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if c.jsonOut {
		encrypted := sealed.kind
		if encrypted == kitmail.KindPlain {
			encrypted = "none"
		}
		return c.printJSON(kitMailJSON{Queued: resp.Queued, ID: resp.ID, To: to, Encrypted: encrypted, Mailer: mailerHost(mailer)})
	}
	c.infof("the mailer accepted the kit for %s (request %s); it is sent over TLS and not kept", to, api.Printable(resp.ID))
	if sealed.kind == kitmail.KindPlain {
		c.warnf("the mail is not end-to-end encrypted: delete it once you have printed or stored the kit")
	}
	c.infof("hint: `keyhold account log` shows the request; if you did not ask for it, revoke unknown devices and run keyhold rotate-key")
	return nil
}
