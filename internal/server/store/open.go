package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// SQLiteFile is the database file Open uses in the data directory when no
// database URL is given.
const SQLiteFile = "keyhold-server.db"

// Open opens the store the operator configured: PostgreSQL for a
// postgres:// or postgresql:// URL, else SQLite in dataDir/SQLiteFile
// (creating dataDir, mode 0700, if needed).
func Open(ctx context.Context, dbURL, dataDir string) (Store, error) {
	if dbURL == "" {
		if dataDir == "" {
			return nil, errors.New("no database: give a data directory (for SQLite) or a postgres:// database URL")
		}
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		return OpenSQLite(filepath.Join(dataDir, SQLiteFile))
	}
	scheme, _, found := strings.Cut(dbURL, "://")
	switch s := strings.ToLower(scheme); {
	case found && (s == "postgres" || s == "postgresql"):
		return OpenPostgres(ctx, dbURL)
	case found && !strings.ContainsAny(scheme, "@/:"):
		return nil, fmt.Errorf("database URL scheme %q is not supported: use postgres://… or no URL for SQLite in the data directory", scheme)
	default:
		// Do not echo it: it may hold a password.
		return nil, errors.New("the database URL is not a postgres://… URL: use postgres://user:password@host/dbname, or no URL for SQLite in the data directory")
	}
}
