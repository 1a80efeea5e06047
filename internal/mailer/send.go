package mailer

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/kitmail"
	"github.com/keyhold/keyhold/internal/mailticket"
	"github.com/keyhold/keyhold/internal/svc"
)

// Error codes of POST /v1/send beyond the common ones of internal/api
// (bad_request, too_large, throttled, internal).
const (
	// CodeTicketInvalid: the ticket is malformed, or not signed by the
	// server this mailer trusts. Ask the server for a new one.
	CodeTicketInvalid = "ticket_invalid"
	// CodeTicketExpired: the ticket's time is up. Ask for a new one.
	CodeTicketExpired = "ticket_expired"
	// CodeTicketUsed: this ticket was already used for a mail.
	CodeTicketUsed = "ticket_used"
	// CodeTicketMismatch: the payload, address or kind is not the one
	// the ticket binds. A ticket lets the mailer relay only what the
	// account's device sealed for that address.
	CodeTicketMismatch = "ticket_mismatch"
	// CodeBadPayload: the payload is not of its kind's shape (an armored
	// OpenPGP message, an age file, or a PDF).
	CodeBadPayload = "bad_payload"
	// CodeUnavailable: the queue is full or the mailer is stopping; try
	// again after Retry-After.
	CodeUnavailable = "unavailable"
)

// Field limits of a send request, far above what a well-formed value
// needs and far below api.MaxMailBody.
const (
	maxTicket = 1024 // a ticket is at most 79 + 32 + 2 + 254 + 64 bytes
	// maxPayload leaves room for base64 in the JSON body.
	maxPayload = api.MaxMailBody / 4 * 3 * 95 / 100
)

// refusal is a request the mailer answers with an error: status, code,
// message for the client, and the reason recorded in logs and metrics.
type refusal struct {
	status     int
	code, msg  string
	reason     string
	retryAfter int
}

func (r *refusal) Error() string { return r.msg }

func refuse(status int, code, reason, msg string) *refusal {
	return &refusal{status: status, code: code, msg: msg, reason: reason}
}

// decodeSend reads a send request body: strictly (api.Decode: no unknown
// or duplicate fields, UTF-8, one value), within api.MaxMailBody, then
// checks each field's shape. Errors are *refusal and never repeat the
// body.
func decodeSend(r io.Reader) (*api.MailSendRequest, error) {
	var req api.MailSendRequest
	err := api.Decode(r, api.MaxMailBody, &req)
	var tl *api.TooLargeError
	var br *api.BadRequestError
	switch {
	case errors.As(err, &tl):
		return nil, refuse(http.StatusRequestEntityTooLarge, api.CodeTooLarge, "too_large", tl.Error())
	case errors.As(err, &br):
		return nil, refuse(http.StatusBadRequest, api.CodeBadRequest, "bad_request", br.Msg)
	case err != nil:
		return nil, refuse(http.StatusBadRequest, api.CodeBadRequest, "bad_request", "could not read the request body")
	}
	if err := checkSend(&req); err != nil {
		return nil, err
	}
	return &req, nil
}

// checkSend checks the fields' presence, sizes and shapes.
func checkSend(r *api.MailSendRequest) error {
	bad := func(msg string) error { return refuse(http.StatusBadRequest, api.CodeBadRequest, "bad_request", msg) }
	switch {
	case len(r.Ticket) == 0:
		return bad("ticket is missing: ask the server for one (POST /v1/mail/ticket)")
	case len(r.Ticket) > maxTicket:
		return bad("ticket is longer than " + strconv.Itoa(maxTicket) + " bytes")
	case r.To == "":
		return bad("to is missing")
	case mailticket.CheckAddress(r.To) != nil:
		return bad("to must be one plain email address")
	case len(r.Payload) == 0:
		return bad("payload is missing")
	case len(r.Payload) > maxPayload:
		return bad("payload is longer than " + strconv.Itoa(maxPayload) + " bytes")
	}
	if _, err := mailticket.ParseKind(r.Kind); err != nil {
		return bad("kind must be pgp, age or plain")
	}
	return nil
}

// send is POST /v1/send: check, wrap, queue. The order matters: the
// cheap per-address limit first, the ticket before the payload is looked
// at, the per-account limit once the account is known, the payload's
// binding to the ticket, and the nonce last, so that a refused request
// does not use up its ticket.
func (s *Server) send(w http.ResponseWriter, r *http.Request) {
	id := newID()
	log := s.log.With("request", id)
	fail := func(rf *refusal, attrs ...any) {
		s.metrics.refused(rf.reason)
		log.Info("mail refused", append([]any{"reason", rf.reason}, attrs...)...)
		svc.WriteError(w, rf.status, rf.code, rf.msg, rf.retryAfter)
	}
	if s.closing.Load() {
		rf := refuse(http.StatusServiceUnavailable, CodeUnavailable, "shutting_down", "the mailer is shutting down; try again shortly")
		rf.retryAfter = 30
		fail(rf)
		return
	}
	now := s.now()
	if wait, ok := s.address.allow(addrKey(svc.ClientAddr(r, s.cfg.TrustProxy)), now); !ok {
		rf := refuse(http.StatusTooManyRequests, api.CodeThrottled, "throttled_address", "too many mail requests from this address; try again later")
		rf.retryAfter = retryAfterSeconds(wait)
		fail(rf)
		return
	}

	r.Body = http.MaxBytesReader(w, r.Body, api.MaxMailBody)
	req, err := decodeSend(r.Body)
	if err != nil {
		fail(err.(*refusal))
		return
	}

	t, err := mailticket.Verify(s.cfg.ServerKey, req.Ticket, now)
	if err != nil {
		fail(ticketRefusal(err))
		return
	}
	account := api.FormatID(t.AccountID)
	attrs := []any{"account", account, "to", redactAddress(t.To)}
	if wait, ok := s.account.allow("account:"+account, now); !ok {
		rf := refuse(http.StatusTooManyRequests, api.CodeThrottled, "throttled_account", "too many kit mails for this account; try again later")
		rf.retryAfter = retryAfterSeconds(wait)
		fail(rf, attrs...)
		return
	}

	// The ticket binds the payload, address and kind: a caller holding a
	// ticket for one sealed kit cannot have the mailer send another blob,
	// or send it elsewhere, or as another kind.
	if !t.Matches(req.Payload) || req.To != t.To || req.Kind != t.Kind.String() {
		fail(refuse(http.StatusForbidden, CodeTicketMismatch, "ticket_mismatch",
			"the payload, address or kind is not the one the ticket binds; the mailer relays only what the device sealed for that address"), attrs...)
		return
	}
	if err := kitmail.CheckPayload(req.Kind, req.Payload); err != nil {
		fail(refuse(http.StatusBadRequest, CodeBadPayload, "bad_payload", err.Error()), attrs...)
		return
	}
	attrs = append(attrs, "kind", req.Kind)

	release, err := s.nonces.use(t.Nonce, t.Expires, now)
	if err != nil {
		if errors.Is(err, errNoncesFull) {
			rf := refuse(http.StatusServiceUnavailable, CodeUnavailable, "busy", "the mailer is busy; try again later")
			rf.retryAfter = 60
			fail(rf, attrs...)
			return
		}
		fail(refuse(http.StatusConflict, CodeTicketUsed, "ticket_used", "this ticket was already used; ask the server for a new one"), attrs...)
		return
	}

	msg, err := s.compose(t.To, req.Kind, req.Payload, now)
	if err != nil {
		release()
		log.Error("composing the kit mail failed", append(attrs, "error", err.Error())...)
		s.metrics.refused("internal")
		svc.WriteError(w, http.StatusInternalServerError, api.CodeInternal, "the mailer could not make the mail; its log says more", 0)
		return
	}
	j := &job{id: id, to: t.To, account: account, msg: msg}
	if err := s.q.submit(j); err != nil {
		release()
		clear(msg)
		rf := refuse(http.StatusServiceUnavailable, CodeUnavailable, "queue_full", "the mailer's queue is full; try again later")
		rf.retryAfter = 60
		if errors.Is(err, errQueueClosed) {
			rf.reason, rf.msg, rf.retryAfter = "shutting_down", "the mailer is shutting down; try again shortly", 30
		}
		fail(rf, attrs...)
		return
	}
	s.metrics.accepted()
	log.Info("mail queued", attrs...)
	svc.WriteJSON(w, http.StatusAccepted, api.MailSendResponse{Queued: true, ID: id})
}

// ticketRefusal maps a mailticket error to an answer.
func ticketRefusal(err error) *refusal {
	switch {
	case errors.Is(err, mailticket.ErrExpired):
		return refuse(http.StatusForbidden, CodeTicketExpired, "ticket_expired", "the ticket has expired; ask the server for a new one")
	case errors.Is(err, mailticket.ErrForged):
		return refuse(http.StatusForbidden, CodeTicketInvalid, "ticket_forged", "the ticket is not signed by the server this mailer serves")
	case errors.Is(err, mailticket.ErrTooLong):
		return refuse(http.StatusForbidden, CodeTicketInvalid, "ticket_too_long", "the ticket is valid for longer than this mailer accepts (check the server's and the mailer's clocks)")
	case errors.Is(err, mailticket.ErrVersion):
		return refuse(http.StatusBadRequest, CodeTicketInvalid, "ticket_malformed", "the ticket's version is not one this mailer knows; upgrade keyhold-mailer")
	default:
		return refuse(http.StatusBadRequest, CodeTicketInvalid, "ticket_malformed", "the ticket is malformed")
	}
}

// newID is a random request id for the operator's logs.
func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// redactAddress keeps an address's domain, which tells an operator which
// provider refused a mail, and hides the mailbox: "…@example.org".
func redactAddress(a string) string {
	at := strings.LastIndexByte(a, '@')
	if at < 0 {
		return "…"
	}
	return "…" + a[at:]
}

// addrKey is the rate limit key of a source address: the address, or its
// /64 for IPv6, which one client usually holds whole.
func addrKey(a netip.Addr) string {
	if !a.IsValid() {
		return "addr:unknown"
	}
	if a.Is6() {
		p, _ := a.Prefix(64)
		return "addr:" + p.String()
	}
	return "addr:" + a.String()
}
