package main

import (
	"database/sql"
	"path/filepath"

	"github.com/google/uuid"
	"github.com/rogpeppe/go-internal/testscript"
)

// swapbox VAULTDIR OTHERDIR ID
// puts the current box of item ID from OTHERDIR/vault.db into the row of
// the same item in VAULTDIR/vault.db, which must be at the same revision:
// another genuine box of that item and revision (a copy of the vault
// where that revision was another edit), through SQLite itself, so the
// database stays well-formed and every box opens.
func cmdSwapBox(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: swapbox VAULTDIR OTHERDIR ID")
	}
	id, err := uuid.Parse(args[2])
	if err != nil {
		ts.Fatalf("swapbox: %q is not an item id", args[2])
	}
	open := func(dir string) *sql.DB {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(ts.MkAbs(dir), "vault.db")+"?_pragma=busy_timeout(10000)")
		ts.Check(err)
		return db
	}
	src, dst := open(args[1]), open(args[0])
	defer src.Close()
	defer dst.Close()
	var rev int64
	var box []byte
	if err := src.QueryRow(`SELECT rev, box FROM items WHERE id = ?`, id[:]).Scan(&rev, &box); err != nil {
		ts.Fatalf("swapbox: reading %s from %s: %v", id, args[1], err)
	}
	res, err := dst.Exec(`UPDATE items SET box = ? WHERE id = ? AND rev = ?`, box, id[:], rev)
	ts.Check(err)
	if n, _ := res.RowsAffected(); n != 1 {
		ts.Fatalf("swapbox: %s holds item %s at another revision than %d", args[0], id, rev)
	}
	ts.Check(dst.Close())
}
