//go:build !unix

package agent

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/keyhold/keyhold/internal/vault"
)

// Server is not available on this platform: the agent listens on a unix
// socket and checks its peer's user id, which this build does not do yet.
type Server struct{}

// NewServer returns a server whose Serve fails.
func NewServer(*vault.Session, time.Duration, *slog.Logger) *Server { return &Server{} }

// Serve reports that the agent is unsupported here.
func (*Server) Serve(context.Context, string, func()) error {
	return errors.New("the unlock agent is not supported on this platform yet; commands ask for the password each time")
}

func dirOf(sock string) string { return sock }

func checkOwnDir(string) error { return nil }

func checkPeer(any) error { return nil }
