package api

import "time"

// Recovery kit email (docs/MAILER.md). The device renders the kit and
// seals it (internal/kitmail) before anything leaves it; then it asks its
// server for a ticket (POST /v1/mail/ticket, authenticated) that binds the
// sealed payload's SHA-256, its kind, the recipient key and the address.
// The server signs it and records "kit email requested" in the audit log;
// the device sends ticket and payload to the keyhold-mailer it chose
// (POST /v1/send), which verifies the ticket with the server's public key,
// checks that the payload and address are the ticket's, wraps the payload
// with outer headers and relays it.

// MaxMailBody bounds a POST /v1/send body: a sealed kit (a PDF and a QR
// code PNG, base64 inside armor inside JSON) is some tens of kilobytes.
const MaxMailBody = 1 << 20

// MailTicketRequest asks the server for a mail ticket to one address for
// one sealed payload. Kind is "pgp", "age" or "plain"; PayloadSHA256 is
// the SHA-256 of the payload the device will hand the mailer; RecipientKey
// is the key id the payload was sealed to (the OpenPGP primary key's
// fingerprint, or SHA-256 of the age recipient; empty for plain).
type MailTicketRequest struct {
	To            string `json:"to"`
	Kind          string `json:"kind"`
	PayloadSHA256 []byte `json:"payload_sha256"`
	RecipientKey  []byte `json:"recipient_key,omitempty"`
}

// MailTicketResponse carries the signed ticket (internal/mailticket) and
// the mailer the server's operator configured, if any. The device never
// sends to a mailer only because the server named it: a named mailer that
// differs from the device's own choice is refused (docs/MAILER.md).
type MailTicketResponse struct {
	Ticket    []byte    `json:"ticket"`
	Expires   time.Time `json:"expires"`
	MailerURL string    `json:"mailer_url,omitempty"`
}

// MailSendRequest is POST /v1/send on keyhold-mailer: the signed ticket,
// the address and kind it names, and the sealed payload whose SHA-256 it
// binds. The mailer reads nothing of the kit from it (except a plain
// payload, which is the kit PDF itself).
type MailSendRequest struct {
	Ticket  []byte `json:"ticket"`
	To      string `json:"to"`
	Kind    string `json:"kind"`
	Payload []byte `json:"payload"`
}

// MailSendResponse says the mail was queued; delivery is asynchronous.
type MailSendResponse struct {
	Queued bool   `json:"queued"`
	ID     string `json:"id"` // a random id for the operator's logs, nothing else
}
