package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"filippo.io/age"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/syncclient"
)

// mailFlags are kit --email's options. Emailing is off unless asked for,
// and then explained and confirmed, because anyone who reads the mail
// gets the Secret Key.
type mailFlags struct {
	email             bool
	to                string
	encryptTo         string
	mailerURL         string
	mailerFingerprint string
	yes               bool
}

const mailRisk = `Emailing the recovery kit sends your Secret Key through the mailer, your
mail provider and every server in between, and leaves it in a mailbox.
Anyone who reads that mail has the Secret Key; they still need your
password to open the vault. With --encrypt-to (an OpenPGP public key file
or an age recipient) only the holder of that key can read the kit.
Printing it (keyhold kit --pdf) sends nothing anywhere.`

// emailKit asks the server for a ticket and hands the kit to the mailer.
func (c *cmdEnv) emailKit(mf *mailFlags, kitText, deviceEmail string) error {
	req := api.MailSendRequest{Kit: kitText, Email: deviceEmail}
	switch e := strings.TrimSpace(mf.encryptTo); {
	case e == "":
	case strings.HasPrefix(e, "age1"):
		if _, err := age.ParseX25519Recipient(e); err != nil {
			return usageError{fmt.Errorf("--encrypt-to: %q is not an age recipient (age1…)", e)}
		}
		req.AgeRecipient = e
	default:
		b, err := os.ReadFile(e)
		if err != nil {
			return exitError{fmt.Errorf("--encrypt-to: %w", err), ExitNotFound}
		}
		if !strings.Contains(string(b), "-----BEGIN PGP PUBLIC KEY BLOCK-----") {
			return usageError{fmt.Errorf("--encrypt-to: %s is not an armored OpenPGP public key (gpg --armor --export ADDR)", e)}
		}
		req.PGPKey = string(b)
	}
	if _, err := syncclient.Load(c.vaultDir); err != nil {
		return exitError{errors.New("emailing the kit needs a sync server account: the server vouches for the mail (keyhold sync enable --server URL)"), ExitUnavailable}
	}
	if !mf.yes {
		fmt.Fprintln(c.stderr, mailRisk)
		ok, err := confirmTTY("Send the recovery kit by email?")
		if err != nil {
			return fmt.Errorf("%w; add --yes to send without asking", err)
		}
		if !ok {
			return usageError{errors.New("not sent")}
		}
	}
	var resp *api.MailSendResponse
	var to string
	err := c.withServer(func(cl *api.Client, cfg *syncclient.Config) error {
		to = mf.to
		if to == "" {
			to = deviceEmail
		}
		if to == "" {
			acct, err := cl.Account(c.ctx)
			if err != nil {
				return err
			}
			to = acct.Email
		}
		if to == "" {
			return usageError{errors.New("no address: give --to ADDR (the account has no email)")}
		}
		t, err := cl.MailTicket(c.ctx, &api.MailTicketRequest{To: to})
		if err != nil {
			return err
		}
		mailer := mf.mailerURL
		if mailer == "" {
			mailer = t.MailerURL
		}
		if mailer == "" {
			return exitError{errors.New("the server names no mailer: give --mailer-url URL"), ExitUnavailable}
		}
		mc, err := api.NewClient(mailer, mf.mailerFingerprint)
		if err != nil {
			return usageError{err}
		}
		req.Ticket = t.Ticket
		resp, err = mc.SendKit(c.ctx, &req)
		return err
	})
	if err != nil {
		return err
	}
	encrypted := "none"
	switch {
	case req.PGPKey != "":
		encrypted = "pgp"
	case req.AgeRecipient != "":
		encrypted = "age"
	}
	if c.jsonOut {
		return c.printJSON(map[string]any{"queued": resp.Queued, "id": resp.ID, "to": to, "encrypted": encrypted})
	}
	c.infof("the mailer accepted the kit for %s (request %s); it is sent over TLS and not kept", to, resp.ID)
	if encrypted == "none" {
		c.warnf("the mail is not end-to-end encrypted: delete it once you have printed or stored the kit")
	}
	c.infof("hint: `keyhold account log` shows the request; if you did not ask for it, revoke unknown devices and run keyhold rotate-key")
	return nil
}
