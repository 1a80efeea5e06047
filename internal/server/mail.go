package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/mailticket"
	"github.com/keyhold/keyhold/internal/server/store"
	"github.com/keyhold/keyhold/internal/svc"
)

// Recovery kit mail (docs/API.md, SPEC §15). keyhold-mailer has no access
// to the accounts: it sends a kit only with a ticket this server signed,
// naming the account, the one address and an expiry, and it accepts each
// ticket's nonce once. The server's part is to sign for the session's
// account only, to say so in the account's audit log, and to bound how
// many tickets an account can get. A ticket also needs a fresh proof of
// the password (docs/LOGIN.md "Fresh proof"): with a token alone, a thief
// could have the mailer send a file of their own, under the recovery kit's
// subject and from the operator's address, to anyone.
const (
	// mailKeyName is the store secret holding the Ed25519 seed tickets are
	// signed with, so that every replica signs with the same key and the
	// mailer needs only one public key.
	mailKeyName = "mail-ticket-key"
	// mailTicketTTL is how long a ticket is valid: enough for a device to
	// hand it to the mailer at once, short enough that a ticket that leaks
	// later is useless.
	mailTicketTTL = 10 * time.Minute
	// mailTicketsFree tickets may be issued to an account before it must
	// pause; the count is forgotten after mailQuotaQuiet without a ticket.
	// So no account gets more than mailTicketsFree in any hour.
	mailTicketsFree = 5
	mailQuotaQuiet  = time.Hour
)

func newMailKeySeed() ([]byte, error) {
	seed := make([]byte, ed25519.SeedSize)
	_, err := rand.Read(seed)
	return seed, err
}

// loadMailKey returns the ticket signing key, creating its seed in the
// database on first use.
func loadMailKey(ctx context.Context, st store.Store) (ed25519.PrivateKey, error) {
	seed, err := st.Secret(ctx, mailKeyName, newMailKeySeed)
	if err != nil {
		return nil, fmt.Errorf("loading the mail ticket key from the database: %w", err)
	}
	defer clear(seed)
	return mailticket.KeyFromSeed(seed)
}

// MailPublicKey returns the public key the mail tickets of servers on st's
// database are signed with (creating the key if there is none yet), for
// `keyhold-server admin mail-key`. mailticket.FormatPublicKey gives the
// text form keyhold-mailer's configuration takes.
func MailPublicKey(ctx context.Context, st store.Store) (ed25519.PublicKey, error) {
	priv, err := loadMailKey(ctx, st)
	if err != nil {
		return nil, err
	}
	pub := priv.Public().(ed25519.PublicKey)
	clear(priv)
	return pub, nil
}

// mailTicket signs a ticket for the session's account to the requested
// address. The address is never logged: the audit log gets a masked form,
// and the request log line only the route.
func (s *Server) mailTicket(w http.ResponseWriter, r *http.Request, a *authed) {
	if !s.needProof(w, a) {
		return
	}
	var req api.MailTicketRequest
	if !decode(s, w, r, api.MaxBody, &req) {
		return
	}
	if mailticket.CheckAddress(req.To) != nil {
		badRequest(w, "to must be one plain email address like name@example.com (no display name, spaces or control characters)")
		return
	}
	kind, err := mailticket.ParseKind(req.Kind)
	if err != nil {
		badRequest(w, "kind must be pgp, age or plain: how the device sealed the kit")
		return
	}
	if len(req.PayloadSHA256) != sha256.Size {
		badRequest(w, "payload_sha256 must be the 32-byte SHA-256 of the sealed kit")
		return
	}
	if mailticket.CheckKey(kind, req.RecipientKey) != nil {
		badRequest(w, "recipient_key must be the OpenPGP key's fingerprint (20 or 32 bytes), the SHA-256 of the age recipient, or empty for plain")
		return
	}
	ctx := r.Context()
	wait, err := s.mailQuota(ctx, a.account.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if wait > 0 {
		s.metrics.mailTickets.WithLabelValues("throttled").Inc()
		ra := retryAfter(wait)
		svc.WriteError(w, http.StatusTooManyRequests, api.CodeThrottled,
			fmt.Sprintf("this account has asked for %d kit emails within an hour; try again in %d minutes", mailTicketsFree, (ra+59)/60), ra)
		return
	}
	if !s.useProof(w, r, a) {
		return
	}
	now := s.now()
	t, err := mailticket.New([16]byte(a.account.ID), req.To, kind, [sha256.Size]byte(req.PayloadSHA256), req.RecipientKey, now.Add(mailTicketTTL))
	if err != nil {
		s.internal(w, r, err)
		return
	}
	b, err := mailticket.Sign(s.mailKey, t)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	// The audit event is what tells the account's owner a kit was mailed:
	// without it, no ticket.
	err = s.st.AddEvent(ctx, a.account.ID, &store.Event{
		Time:     now.UTC(),
		Kind:     api.EventKitEmailed,
		DeviceID: a.session.DeviceID,
		Source:   s.source(r),
		Detail:   "to " + maskAddress(req.To) + ", " + sealedDetail(kind, req.RecipientKey),
	})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.metrics.mailTickets.WithLabelValues("issued").Inc()
	svc.WriteJSON(w, http.StatusOK, api.MailTicketResponse{Ticket: b, Expires: t.Expires.UTC(), MailerURL: s.cfg.MailerURL})
}

// mailQuota counts one ticket for account, unless the account has had
// mailTicketsFree tickets with no quiet hour since; then wait is how long
// until the quiet hour is over. The count lives in the database (the
// throttle table, under its own key), so replicas share it; concurrent
// requests are counted atomically, so a burst gets no more through than a
// sequence. The stored time is an hour after the latest ticket: the moment
// the count is forgotten.
func (s *Server) mailQuota(ctx context.Context, account store.ID) (wait time.Duration, err error) {
	key := "mail:" + api.FormatID(account)
	now := s.now()
	count, forget, err := s.st.Failures(ctx, key)
	if err != nil {
		return 0, err
	}
	if count > 0 && !now.Before(forget) {
		if err := s.st.ClearFailures(ctx, key); err != nil {
			return 0, err
		}
		count = 0
	}
	if count >= mailTicketsFree {
		return forget.Sub(now), nil
	}
	n, err := s.st.RecordFailure(ctx, key, now.Add(mailQuotaQuiet))
	if err != nil {
		return 0, err
	}
	if n > mailTicketsFree {
		// Another request took the last slot between our read and our count.
		return mailQuotaQuiet, nil
	}
	return 0, nil
}

// maskAddress is the form of an address the audit log shows: enough for
// the owner to recognise it (first character and domain), not enough for
// a reader of the log to learn it.
func maskAddress(a string) string {
	local, domain, ok := strings.Cut(a, "@")
	if !ok || local == "" {
		return "***"
	}
	_, n := utf8.DecodeRuneInString(local)
	return local[:n] + "***@" + domain
}

// sealedDetail says in the audit log how the kit was sealed: the OpenPGP
// key's fingerprint (which the owner can recognise as theirs), the start
// of the age recipient's hash, or that it was not encrypted.
func sealedDetail(kind mailticket.Kind, key []byte) string {
	switch kind {
	case mailticket.KindPGP:
		return "encrypted to OpenPGP key " + strings.ToUpper(hex.EncodeToString(key))
	case mailticket.KindAge:
		return "encrypted to an age recipient (SHA-256 " + hex.EncodeToString(key[:8]) + "…)"
	}
	return "NOT encrypted"
}
