package server

import (
	"fmt"
	"net/http"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/server/store"
	"github.com/keyhold/keyhold/internal/svc"
)

// epochRises checks that env, the envelope a password change or key
// rotation would store, carries a higher password epoch than the
// account's envelope now: the server never goes back to an older
// password (a replayed request, or a device that missed a change), and
// every device that refuses envelopes older than one it adopted can rely
// on the server's envelope only rising. The epoch is read from the
// envelope's public header (api.EnvelopeEpoch); the device that opens the
// envelope authenticates the same bytes. It answers the request itself
// and returns false when the change must not go ahead.
func (s *Server) epochRises(w http.ResponseWriter, r *http.Request, id store.ID, env []byte) bool {
	next, ok := api.EnvelopeEpoch(env)
	if !ok {
		badRequest(w, "envelope is not an account key envelope of a known version")
		return false
	}
	k, err := s.st.Keys(r.Context(), id)
	if err != nil {
		s.storeError(w, r, err)
		return false
	}
	cur, _ := api.EnvelopeEpoch(k.Envelope) // 0 for an envelope from before epochs
	if next <= cur {
		svc.WriteError(w, http.StatusConflict, api.CodeOldEpoch,
			fmt.Sprintf("the envelope's password epoch %d is not above the account's %d: the password was changed or the key rotated meanwhile; sync first", next, cur), 0)
		return false
	}
	return true
}
