// Command keyhold-server is Keyhold's account and sync server. It stores
// only what clients have sealed (docs/SPEC.md) and serves the API of
// docs/API.md. See docs/SERVER.md for running it.
//
//	keyhold-server serve --listen ADDR [--data DIR | --db URL] [--dev-tls | --tls-cert F --tls-key F | --insecure-http] …
//	keyhold-server admin [--data DIR | --db URL] account list|show|disable|enable …
//	keyhold-server admin [--data DIR | --db URL] plan set ACCOUNT_ID --plan NAME …
//	keyhold-server admin [--data DIR | --db URL] backup FILE
//	keyhold-server admin [--data DIR | --db URL] mail-key [--json]
//	keyhold-server --version
//
// Messages for the operator go to stderr prefixed with the program name;
// results of admin commands go to stdout, as JSON with --json.
package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/keyhold/keyhold/internal/buildinfo"
	"github.com/keyhold/keyhold/internal/cobrausage"
	"github.com/keyhold/keyhold/internal/server/store"
	"github.com/keyhold/keyhold/internal/svc"
)

// envDB names the environment variable that may hold the database URL, so
// that a password in it need not appear in the process list.
const envDB = "KEYHOLD_SERVER_DB"

func main() { os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) }

// app is the state of one invocation.
type app struct {
	stdout, stderr io.Writer
	data           string
	db             string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "keyhold-server",
		Short:         "Keyhold's account and sync server",
		Long:          "keyhold-server stores Keyhold accounts and their sealed vault items and serves them to Keyhold clients.\nIt never sees a password or an item in the clear. See docs/SERVER.md.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildinfo.Read().String("keyhold-server"),
	}
	root.SetVersionTemplate("{{.Version}}")
	root.Flags().Bool("version", false, "print keyhold-server's version, commit and Go version, and exit")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(a.serveCmd(), a.adminCmd())
	return svc.ExitCode(cobrausage.Execute(ctx, root, args), "keyhold-server", "run keyhold-server help for the commands and flags", stderr)
}

// usagef is a command-line mistake: exit code 2.
func usagef(format string, a ...any) error { return svc.Usagef(format, a...) }

// addStoreFlags adds --data and --db.
func (a *app) addStoreFlags(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&a.data, "data", "", "data directory for the SQLite database (default $XDG_DATA_HOME/keyhold-server, or ~/.local/share/keyhold-server)")
	cmd.PersistentFlags().StringVar(&a.db, "db", "", "PostgreSQL database URL, postgres://… (or set "+envDB+", which keeps a password off the command line)")
}

// dbURL is the database URL in effect: --db, else $KEYHOLD_SERVER_DB.
func (a *app) dbURL() string {
	if a.db != "" {
		return a.db
	}
	return os.Getenv(envDB)
}

// dataDir is --data or the default data directory.
func (a *app) dataDir() (string, error) {
	if a.data != "" {
		return a.data, nil
	}
	return defaultDataDir()
}

func defaultDataDir() (string, error) {
	if x := os.Getenv("XDG_DATA_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "keyhold-server"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", errors.New("no home directory to keep the data in: give --data DIR or --db URL")
	}
	return filepath.Join(home, ".local", "share", "keyhold-server"), nil
}

// openStore opens the database the flags name, running its migrations.
func (a *app) openStore(ctx context.Context) (store.Store, error) {
	if url := a.dbURL(); url != "" {
		return store.Open(ctx, url, "")
	}
	dir, err := a.dataDir()
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, "", dir)
}
