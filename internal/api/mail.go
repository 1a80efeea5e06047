package api

import "time"

// Recovery kit email (docs/MAILER.md). The device asks its server for a
// ticket (POST /v1/mail/ticket, authenticated); the server signs it and
// records "kit email requested" in the audit log; the device sends ticket
// and kit to keyhold-mailer (POST /v1/send), which verifies the ticket
// with the server's public key, renders the kit and mails it.

// MaxMailBody bounds a POST /v1/send body (an armored OpenPGP key can be
// some kilobytes).
const MaxMailBody = 128 << 10

// MailTicketRequest asks the server for a mail ticket to one address.
type MailTicketRequest struct {
	To string `json:"to"`
}

// MailTicketResponse carries the signed ticket (internal/mailticket) and
// the mailer the server's operator configured, if any.
type MailTicketResponse struct {
	Ticket    []byte    `json:"ticket"`
	Expires   time.Time `json:"expires"`
	MailerURL string    `json:"mailer_url,omitempty"`
}

// MailSendRequest is POST /v1/send on keyhold-mailer. Kit is the kit's
// setup code (KH1-…), whose account must be the ticket's. At most one of
// PGPKey (an armored OpenPGP public key: the mail is PGP/MIME encrypted to
// it) and AgeRecipient (age1…: the attachments are age-encrypted to it).
type MailSendRequest struct {
	Ticket       []byte `json:"ticket"`
	Kit          string `json:"kit"`
	Email        string `json:"email,omitempty"` // printed on the PDF
	PGPKey       string `json:"pgp_key,omitempty"`
	AgeRecipient string `json:"age_recipient,omitempty"`
}

// MailSendResponse says the mail was queued; delivery is asynchronous.
type MailSendResponse struct {
	Queued bool   `json:"queued"`
	ID     string `json:"id"` // a random id for the operator's logs, nothing else
}
