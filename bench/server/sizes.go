//go:build linux

package main

import (
	"context"
	"database/sql"

	"github.com/jackc/pgx/v5"
)

// Table sizes

var tables = []string{"accounts", "devices", "sessions", "login_states", "failures", "events", "revisions", "sync_settings"}

// pgSizes measures each table with its indexes and TOAST data.
func pgSizes(ctx context.Context, url string) ([]tableSize, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	// Statistics and the visibility map as a running server would have
	// them; the sizes are what the rows take, bloat from updates included.
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE"); err != nil {
		return nil, err
	}
	var out []tableSize
	for _, t := range tables {
		var s tableSize
		s.Table = t
		err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM `+pgx.Identifier{t}.Sanitize()+`),
			pg_table_size($1::regclass), pg_indexes_size($1::regclass), pg_total_relation_size($1::regclass)`, t).
			Scan(&s.Rows, &s.Data, &s.Index, &s.Total)
		if err != nil {
			return nil, err
		}
		if s.Rows > 0 {
			s.PerRow = float64(s.Total) / float64(s.Rows)
		}
		out = append(out, s)
	}
	if _, err := conn.Exec(ctx, "VACUUM FULL"); err != nil {
		return nil, err
	}
	for i := range out {
		s := &out[i]
		if err := conn.QueryRow(ctx, `SELECT pg_total_relation_size($1::regclass)`, s.Table).Scan(&s.Packed); err != nil {
			return nil, err
		}
		if s.Rows > 0 {
			s.PackedPerRow = float64(s.Packed) / float64(s.Rows)
		}
	}
	return out, nil
}

// sqliteSizes measures each table and its indexes with the dbstat virtual
// table (pages in use, free space inside pages included).
func sqliteSizes(path string) ([]tableSize, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	owner := map[string]string{}
	rows, err := db.Query(`SELECT name, tbl_name FROM sqlite_schema WHERE type IN ('table', 'index')`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var n, t string
		if err := rows.Scan(&n, &t); err != nil {
			rows.Close()
			return nil, err
		}
		owner[n] = t
	}
	rows.Close()
	byName := map[string]*tableSize{}
	var out []tableSize
	for _, t := range tables {
		out = append(out, tableSize{Table: t})
	}
	for i := range out {
		byName[out[i].Table] = &out[i]
	}
	rows, err = db.Query(`SELECT name, SUM(pgsize) FROM dbstat GROUP BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var n string
		var size int64
		if err := rows.Scan(&n, &size); err != nil {
			return nil, err
		}
		s := byName[owner[n]]
		if s == nil {
			continue
		}
		if n == s.Table {
			s.Data += size
		} else {
			s.Index += size
		}
		s.Total += size
	}
	for i := range out {
		if err := db.QueryRow(`SELECT count(*) FROM ` + out[i].Table).Scan(&out[i].Rows); err != nil {
			return nil, err
		}
		if out[i].Rows > 0 {
			out[i].PerRow = float64(out[i].Total) / float64(out[i].Rows)
		}
	}
	return out, nil
}
