package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/keyhold/keyhold/internal/api"
)

const usageHint = "hint: run `keyhold help`"

// An error that comes back from a server or a mailer keeps its own exit
// code even when its text reads like one of cobra's usage errors: exit 2
// is decided by the error's type, never by its words.
func TestForeignErrorIsNotUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"mailer", &api.APIError{Status: 400, Code: "bad_request", Message: "invalid argument: accepts 1 recipient", Peer: "mailer"}, ExitServer},
		{"server", fmt.Errorf("sync: %w", &api.APIError{Status: 422, Code: "invalid", Message: "unknown flag in request; requires at least 1 item"}), ExitServer},
		{"plain", errors.New("the relay said: invalid argument (accepts only 7-bit mail); unknown command \"RCPT\""), ExitError},
		{"required", errors.New("required flag(s) \"x\" not set: if any flags in the group [a b] are set"), ExitError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			c := &cmdEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, ctx: context.Background()}
			root := c.rootCmd()
			root.AddCommand(&cobra.Command{Use: "fail", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error { return tc.err }})
			t.Setenv("KEYHOLD_KEYSTORE", "file")
			code := c.execute(root, []string{"--vault", filepath.Join(t.TempDir(), "vault"), "--keystore", "file", "fail"})
			if code != tc.want {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.want, errb.String())
			}
			if strings.Contains(errb.String(), usageHint) {
				t.Errorf("a foreign error got the usage hint: %q", errb.String())
			}
			if got := exitCode(tc.err); got != tc.want {
				t.Errorf("exitCode = %d, want %d", got, tc.want)
			}
		})
	}
}

// Every way of calling keyhold wrongly that cobra detects exits 2 with the
// help hint, as before usage errors were recognised by type.
func TestUsageErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(dir, "run"))
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	t.Setenv("HOME", dir)
	for _, args := range [][]string{
		{"no-such-command"},              // unknown command
		{"sync", "off"},                  // unknown subcommand (NoArgs)
		{"generate", "--no-such-flag"},   // unknown flag
		{"generate", "-Z"},               // unknown shorthand flag
		{"generate", "--length", "many"}, // invalid argument
		{"generate", "--length"},         // flag needs an argument
		{"otp"},                          // accepts 1 arg(s)
		{"lock", "now"},                  // unknown command for a NoArgs command
		{"show", "x", "y"},               // accepts 1 arg(s), received 2
		{"show", "x", "--clip", "--qr"},  // mutually exclusive flags
		{"kit", "--email", "--text"},     // mutually exclusive flags
		{"completion", "bash", "extra"},  // cobra's own completion command
		{"add", "login", "x", "--password-stdin", "--generate"}, // mutually exclusive
	} {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			var out, errb bytes.Buffer
			all := append([]string{"--vault", filepath.Join(dir, "vault"), "--keystore", "file"}, args...)
			code := run(context.Background(), all, strings.NewReader(""), &out, &errb)
			if code != ExitUsage {
				t.Errorf("keyhold %v: exit %d, want %d (stderr %q)", args, code, ExitUsage, errb.String())
			}
			if !strings.Contains(errb.String(), usageHint) {
				t.Errorf("keyhold %v: no usage hint in %q", args, errb.String())
			}
		})
	}
}

// A real command against a server that refuses with a message worded like
// a usage error: keyhold reports the server's refusal (exit 11), not a
// mistake in how it was called.
func TestServerMessageIsNotUsage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":{"code":"bad_request","message":"invalid argument: accepts 1 arg(s), requires at least 2; unknown flag: --x"}}`))
	}))
	defer srv.Close()
	kh := testVault(t)
	code, _, stderr := kh("", "sync", "enable", "--server", srv.URL)
	if code != ExitServer {
		t.Errorf("exit %d, want %d (stderr %q)", code, ExitServer, stderr)
	}
	if !strings.Contains(stderr, "invalid argument") || strings.Contains(stderr, usageHint) {
		t.Errorf("stderr %q: want the server's message and no usage hint", stderr)
	}
}
