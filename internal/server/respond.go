package server

import (
	"errors"
	"io"
	"net/http"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/server/store"
	"github.com/keyhold/keyhold/internal/svc"
)

func noContent(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// internal logs err (store and PAKE errors name what failed, never a
// secret or a request's content) and answers 500.
func (s *Server) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("internal error", "method", r.Method, "route", r.Pattern, "error", err.Error())
	svc.WriteError(w, http.StatusInternalServerError, api.CodeInternal, "internal server error; the server's log says more", 0)
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
		svc.WriteError(w, http.StatusRequestEntityTooLarge, api.CodeTooLarge, tl.Error(), 0)
	case errors.As(err, &br):
		svc.WriteError(w, http.StatusBadRequest, api.CodeBadRequest, br.Msg, 0)
	case errors.Is(err, io.ErrUnexpectedEOF):
		svc.WriteError(w, http.StatusBadRequest, api.CodeBadRequest, "the request body ended early", 0)
	default:
		svc.WriteError(w, http.StatusBadRequest, api.CodeBadRequest, "could not read the request body", 0)
	}
	return false
}

// storeError answers the store's sentinel errors with their API codes and
// anything else with 500.
func (s *Server) storeError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		svc.WriteError(w, http.StatusNotFound, api.CodeNotFound, "not found", 0)
	case errors.Is(err, store.ErrStale):
		svc.WriteError(w, http.StatusConflict, api.CodeStale, "the account changed since this device last pulled; pull and try again", 0)
	case errors.Is(err, store.ErrRevoked):
		svc.WriteError(w, http.StatusForbidden, api.CodeRevoked, "this device was revoked; it cannot log in to this account again", 0)
	case errors.Is(err, store.ErrPlanLimit):
		svc.WriteError(w, http.StatusForbidden, api.CodePlanLimit, "the account's plan allows no more devices; revoke one first", 0)
	case errors.Is(err, store.ErrOldEpoch):
		svc.WriteError(w, http.StatusConflict, api.CodeOldEpoch, "the envelope's password epoch is not above the account's: the password was changed or the key rotated meanwhile; sync first", 0)
	case errors.Is(err, store.ErrExists):
		svc.WriteError(w, http.StatusConflict, api.CodeExists, "an account with this id already exists", 0)
	default:
		s.internal(w, r, err)
	}
}

func badRequest(w http.ResponseWriter, msg string) {
	svc.WriteError(w, http.StatusBadRequest, api.CodeBadRequest, msg, 0)
}
