package server

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/server/store"
)

// writeJSON answers with v as JSON. The body is encoded before the status
// is sent, so an encoding failure can still become a 500.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, api.CodeInternal, "internal server error", 0)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// writeError answers with an api.Error. msg is written by this package,
// never copied from the request.
func writeError(w http.ResponseWriter, status int, code, msg string, retryAfter int) {
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	writeJSON(w, status, api.Error{Error: api.ErrorBody{Code: code, Message: msg, RetryAfter: retryAfter}})
}

func noContent(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// internal logs err (store and PAKE errors name what failed, never a
// secret or a request's content) and answers 500.
func (s *Server) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("internal error", "method", r.Method, "route", r.Pattern, "error", err.Error())
	writeError(w, http.StatusInternalServerError, api.CodeInternal, "internal server error; the server's log says more", 0)
}

// decode reads the request body into v (see api.Decode) and answers the
// failure itself; it reports whether the handler should go on.
func decode[T any](s *Server, w http.ResponseWriter, r *http.Request, max int64, v *T) bool {
	err := api.Decode(r.Body, max, v)
	if err == nil {
		return true
	}
	var tl *api.TooLargeError
	var br *api.BadRequestError
	switch {
	case errors.As(err, &tl):
		writeError(w, http.StatusRequestEntityTooLarge, api.CodeTooLarge, tl.Error(), 0)
	case errors.As(err, &br):
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, br.Msg, 0)
	case errors.Is(err, io.ErrUnexpectedEOF):
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, "the request body ended early", 0)
	default:
		writeError(w, http.StatusBadRequest, api.CodeBadRequest, "could not read the request body", 0)
	}
	return false
}

// storeError answers the store's sentinel errors with their API codes and
// anything else with 500.
func (s *Server) storeError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, api.CodeNotFound, "not found", 0)
	case errors.Is(err, store.ErrStale):
		writeError(w, http.StatusConflict, api.CodeStale, "the account changed since this device last pulled; pull and try again", 0)
	case errors.Is(err, store.ErrRevoked):
		writeError(w, http.StatusForbidden, api.CodeRevoked, "this device was revoked; it cannot log in to this account again", 0)
	case errors.Is(err, store.ErrPlanLimit):
		writeError(w, http.StatusForbidden, api.CodePlanLimit, "the account's plan allows no more devices; revoke one first", 0)
	case errors.Is(err, store.ErrExists):
		writeError(w, http.StatusConflict, api.CodeExists, "an account with this id already exists", 0)
	default:
		s.internal(w, r, err)
	}
}

func badRequest(w http.ResponseWriter, msg string) {
	writeError(w, http.StatusBadRequest, api.CodeBadRequest, msg, 0)
}
