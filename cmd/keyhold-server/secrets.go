package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/keyhold/keyhold/internal/atomicfile"
	"github.com/keyhold/keyhold/internal/server"
	"github.com/keyhold/keyhold/internal/server/store"
)

// envSecrets names the environment variable that may hold the server
// secrets, in the file's text form, instead of --secrets FILE.
const envSecrets = "KEYHOLD_SERVER_SECRETS"

// loadSecrets reads --secrets FILE, else $KEYHOLD_SERVER_SECRETS; nil if
// neither is given (the secrets are then in the database).
func loadSecrets(path string) (*server.Secrets, error) {
	env := os.Getenv(envSecrets)
	switch {
	case path != "" && env != "":
		return nil, usagef("give the server secrets with --secrets or %s, not both", envSecrets)
	case path != "":
		return server.ReadSecretsFile(path)
	case env != "":
		s, err := server.ParseSecrets([]byte(env))
		if err != nil {
			return nil, fmt.Errorf("server secrets: %s: %w", envSecrets, err)
		}
		return s, nil
	}
	return nil, nil
}

// writeSecretsFile writes s to a new file readable by this user only,
// synced before it is reported written.
func writeSecretsFile(path string, s *server.Secrets) error {
	data := s.Marshal()
	defer clear(data)
	err := atomicfile.WriteNew(path, data, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists; choose a new file (secrets are never overwritten)", path)
	}
	return err
}

func (a *app) secretsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secrets",
		Short: "Keep the server's long-term secrets in a file instead of the database",
		Long: `The server's long-term secrets (the OPAQUE server keys, the key fake login
answers are derived from, the mail ticket signing key) are kept in the database
unless serve is given them with --secrets FILE (or ` + envSecrets + `). Kept
outside, a copy of the database alone does not hold them (docs/SERVER.md).

  generate FILE          new secrets for a new installation (the database is not touched)
  export FILE [--remove] the database's secrets into FILE; --remove then deletes them
                         from the database, after which every server needs FILE
  remove --secrets FILE  delete the secrets from the database, if FILE holds the same`,
	}
	cmd.AddCommand(a.secretsGenerateCmd(), a.secretsExportCmd(), a.secretsRemoveCmd())
	return cmd
}

func (a *app) secretsGenerateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "generate FILE",
		Short: "Write new server secrets to a new FILE (mode 0600)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := server.GenerateSecrets()
			if err != nil {
				return err
			}
			defer s.Clear()
			if err := writeSecretsFile(args[0], s); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "server secrets written to %s; start every server with --secrets %s\n", args[0], args[0])
			return nil
		},
	}
}

func (a *app) secretsExportCmd() *cobra.Command {
	var remove bool
	cmd := &cobra.Command{
		Use:   "export FILE [--remove]",
		Short: "Write the database's server secrets to a new FILE (mode 0600), and with --remove delete them from the database",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return a.withStore(ctx, func(st store.Store) error {
				// Made if missing, as the first start of serve would.
				s, err := server.DatabaseSecrets(ctx, st, true)
				if err != nil {
					return err
				}
				defer s.Clear()
				if err := writeSecretsFile(args[0], s); err != nil {
					return err
				}
				if !remove {
					fmt.Fprintf(a.stdout, "server secrets written to %s (the database still holds them)\n", args[0])
					return nil
				}
				return a.removeSecrets(cmd, st, args[0])
			})
		},
	}
	cmd.Flags().BoolVar(&remove, "remove", false, "then delete the secrets from the database")
	return cmd
}

func (a *app) secretsRemoveCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "remove --secrets FILE",
		Short: "Delete the server secrets from the database, once FILE holds the same",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return usagef("remove needs --secrets FILE: the file that holds the secrets from now on")
			}
			return a.withStore(cmd.Context(), func(st store.Store) error { return a.removeSecrets(cmd, st, path) })
		},
	}
	cmd.Flags().StringVar(&path, "secrets", "", "the secrets file that replaces the database's secrets")
	return cmd
}

// removeSecrets deletes the database's secrets after checking that the
// file at path holds the same: never a moment without a working copy.
func (a *app) removeSecrets(cmd *cobra.Command, st store.Store, path string) error {
	ctx := cmd.Context()
	file, err := server.ReadSecretsFile(path)
	if err != nil {
		return err
	}
	defer file.Clear()
	db, err := server.DatabaseSecrets(ctx, st, false)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("the database holds no server secrets (already removed?)")
	} else if err != nil {
		return err
	}
	defer db.Clear()
	if !file.Equal(db) {
		return fmt.Errorf("%s does not hold this database's server secrets; nothing was removed", path)
	}
	if err := server.RemoveDatabaseSecrets(ctx, st); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "server secrets removed from the database; every server on it now needs --secrets %s\n", path)
	return nil
}

// mailPublicKey is the mail ticket public key: from the secrets file or
// variable if given, else from the database (made there on first use,
// unless the database's secrets were moved out of it).
func (a *app) mailPublicKey(ctx context.Context, st store.Store, path string) (ed25519.PublicKey, error) {
	s, err := loadSecrets(path)
	if err != nil {
		return nil, err
	}
	if s == nil {
		s, err = server.DatabaseSecrets(ctx, st, true)
		if errors.Is(err, server.ErrSecretsElsewhere) {
			return nil, fmt.Errorf("%w; give them with --secrets FILE", err)
		}
		if err != nil {
			return nil, err
		}
	}
	defer s.Clear()
	return server.MailPublicKeyOf(s)
}
