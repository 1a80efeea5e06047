package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Each dialect has one SQL file per schema step, NNNN_name.sql, numbered
// from 1 without gaps; both dialects have the same steps. The versions
// applied are kept in schema_migrations.
//
//go:embed migrations
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations(dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("migration file %s/%s is not named NNNN_name.sql", dir, name)
		}
		b, err := migrationFiles.ReadFile(path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migrations/%s: expected step %d, found %s", dialect, i+1, m.name)
		}
	}
	return ms, nil
}

// migrate applies the missing steps, each in its own transaction that
// first checks, under the write lock, that no one applied it meanwhile.
// PostgreSQL callers hold an advisory lock around it as well, because
// concurrent DDL there can fail rather than wait.
func migrate(ctx context.Context, d *db) error {
	ms, err := loadMigrations(d.b.dialect())
	if err != nil {
		return err
	}
	if _, err := d.b.writes().exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		applied BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	var newest int64
	if err := d.b.writes().queryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	if newest > int64(len(ms)) {
		return fmt.Errorf("the database has schema version %d, newer than this keyhold-server knows (%d): run a newer keyhold-server", newest, len(ms))
	}
	for _, m := range ms {
		err := d.write(ctx, func(t tx) error {
			var one int64
			err := t.queryRow(ctx, `SELECT 1 FROM schema_migrations WHERE version = $1`, int64(m.version)).Scan(&one)
			if err == nil {
				return nil
			}
			if !errors.Is(err, errNoRows) {
				return err
			}
			if _, err := t.exec(ctx, m.sql); err != nil {
				return err
			}
			_, err = t.exec(ctx, `INSERT INTO schema_migrations (version, applied) VALUES ($1, $2)`, int64(m.version), ts(time.Now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("schema step %s: %w", m.name, err)
		}
	}
	return nil
}
