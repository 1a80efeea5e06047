package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/webui/dist"
	"github.com/keyhold/keyhold/internal/webui/manifest"
	"github.com/keyhold/keyhold/internal/webui/verify"
)

// The web vault: keyhold web verify. keyhold embeds only the manifest of
// its own version's web vault (package dist), never the WebAssembly.

// errWebNotBuilt means this keyhold carries no web vault manifest.
var errWebNotBuilt = errors.New("this keyhold was built without the web vault, so it has no manifest to compare with; build keyhold from a tree where `go generate ./internal/webui` has run")

// errWebMismatch means the server serves other files than this version's
// web vault.
var errWebMismatch = errors.New("the server does not serve this version's web vault")

func (c *cmdEnv) webCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "web", Short: "The web vault a keyhold-server serves"}
	var fingerprint string
	v := &cobra.Command{
		Use:   "verify https://HOST [--server-fingerprint FP]",
		Short: "Check, file by file, that a server serves this version's web vault",
		Long: `Fetch every file of this keyhold version's web vault from the server (the
page and everything it loads, uncompressed and in each compressed form a
browser may get) and compare their SHA-256 with the manifest built into
keyhold. Exit 0 when all match, 6 when any file differs or is missing.

This proves what the server sent to this command, now: a server could
still send other code to others, or later. docs/WEB.md says what remains
to trust.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.webVerify(args[0], fingerprint)
		},
	}
	v.Flags().StringVar(&fingerprint, "server-fingerprint", os.Getenv("KEYHOLD_SERVER_FINGERPRINT"),
		"trust the server's certificate only if its SHA-256 is this (sha256:HEX, as keyhold-server --dev-tls prints; env KEYHOLD_SERVER_FINGERPRINT)")
	cmd.AddCommand(v)
	return cmd
}

func (c *cmdEnv) webVerify(server, fingerprint string) error {
	mb := dist.Manifest()
	if mb == nil {
		return exitError{errWebNotBuilt, ExitUnavailable}
	}
	m, err := manifest.Parse(mb)
	if err != nil {
		return fmt.Errorf("the web vault manifest built into keyhold: %w", err)
	}
	cl, err := api.NewClient(server, fingerprint)
	if err != nil {
		return usageError{err}
	}
	cl.UserAgent = "keyhold web verify"
	r, err := verify.Verify(c.ctx, cl, m)
	if err != nil {
		return err
	}
	if c.jsonOut {
		doc := webVerifyJSON{Expected: r.Expected, Served: r.Served, Server: cl.URL(), Match: r.OK(),
			Files: []webFileJSON{}, Warnings: []string{}}
		for _, f := range r.Files {
			doc.Files = append(doc.Files, webFileJSON{Path: f.Path, Status: f.Status, Detail: f.Detail})
		}
		doc.Warnings = append(doc.Warnings, r.Warnings...)
		if err := c.printJSON(doc); err != nil {
			return err
		}
	} else {
		c.printWebReport(cl.URL(), r)
	}
	for _, w := range r.Warnings {
		c.warnf("%s", w)
	}
	if !r.OK() {
		bad := 0
		for _, f := range r.Files {
			if f.Status != verify.OK {
				bad++
			}
		}
		return exitError{fmt.Errorf("%w: %d of %d files do not match", errWebMismatch, bad, len(r.Files)), ExitDamaged}
	}
	return nil
}

func (c *cmdEnv) printWebReport(server string, r *verify.Report) {
	served := r.Served
	if served == "" {
		served = "(none named: the page is not a web vault build)"
	}
	fmt.Fprintf(c.stdout, "server:   %s\nexpected: %s (this keyhold)\nserved:   %s\n", server, r.Expected, served)
	for _, f := range r.Files {
		line := fmt.Sprintf("%-8s %s", f.Status, f.Path)
		if f.Detail != "" {
			line += ": " + f.Detail
		}
		fmt.Fprintln(c.stdout, line)
	}
	if r.OK() {
		fmt.Fprintf(c.stdout, "ok: all %d files match this version's web vault\n", len(r.Files))
	}
}
