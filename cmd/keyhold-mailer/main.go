// Command keyhold-mailer relays a Keyhold recovery kit mail, sealed on the
// user's device, to the address a mail ticket from keyhold-server names;
// the ticket binds the sealed payload, so nothing else is relayed. It is a
// process of its own, with its own configuration and no access to the
// account database: the server's public mail key is all it knows of the
// server. It cannot read an encrypted kit. See docs/MAILER.md.
//
//	keyhold-mailer serve --listen ADDR --server-key KEY|FILE --smtp-host H --smtp-port P [--smtp-implicit-tls]
//	    [--smtp-user U --smtp-password-file F] [--smtp-ca-file F] --from ADDR
//	    (--tls-cert F --tls-key F | --dev-tls | --insecure-http) …
//	keyhold-mailer --version
//
// Messages for the operator go to stderr: the "fingerprint:" and
// "listening on" lines, then JSON log lines.
package main

import (
	"context"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/keyhold/keyhold/internal/buildinfo"
	"github.com/keyhold/keyhold/internal/cobrausage"
	"github.com/keyhold/keyhold/internal/svc"
)

func main() { os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) }

// app is the state of one invocation.
type app struct {
	stdout, stderr io.Writer
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "keyhold-mailer",
		Short:         "Email Keyhold recovery kits on keyhold-server's tickets",
		Long:          "keyhold-mailer relays a recovery kit mail, sealed on the user's device, to the one address a ticket\nsigned by keyhold-server names; the ticket binds what was sealed. It cannot read an encrypted kit,\nkeeps nothing on disk and never logs a kit. See docs/MAILER.md.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildinfo.Read().String("keyhold-mailer"),
	}
	root.SetVersionTemplate("{{.Version}}")
	root.Flags().Bool("version", false, "print keyhold-mailer's version, commit and Go version, and exit")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(a.serveCmd())
	return svc.ExitCode(cobrausage.Execute(ctx, root, args), "keyhold-mailer", "run keyhold-mailer help serve for the flags", stderr)
}

// usagef is a command-line mistake: exit code 2.
func usagef(format string, a ...any) error { return svc.Usagef(format, a...) }
