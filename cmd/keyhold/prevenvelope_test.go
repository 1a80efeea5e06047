package main

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"io"
	"os"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyhold/keyhold/internal/format"
	"github.com/keyhold/keyhold/internal/keys"
	"github.com/keyhold/keyhold/internal/kit"
	"github.com/keyhold/keyhold/internal/vault"
)

// envv1 KIT PWFILE VAULT OUT [OTHERPWFILE]
//
//	makes an account key envelope of the previous version (from before
//	password epochs, SPEC §6), as a vault and a server made then hold,
//	and writes it to OUT. The account key comes from VAULT's envelope,
//	opened with the password in PWFILE and the Secret Key of KIT (the
//	text of a kit). Without OTHERPWFILE it is the previous version of
//	VAULT's own envelope (same salt and parameters, so the server's
//	login record still matches), and it replaces VAULT's envelope; with
//	it, an envelope of that other password (a fresh salt), and VAULT is
//	left alone.
func cmdEnvV1(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 4 || len(args) > 5 {
		ts.Fatalf("usage: envv1 KIT PWFILE VAULT OUT [OTHERPWFILE]")
	}
	k, err := kit.Parse(args[0])
	ts.Check(err)
	sk := keys.SecretKey(k.SecretKey)
	pw := []byte(strings.TrimSpace(ts.ReadFile(args[1])))
	db, err := sql.Open("sqlite", "file:"+ts.MkAbs(args[2])+"/"+vault.DBFile+"?_pragma=busy_timeout(30000)")
	ts.Check(err)
	defer db.Close()
	var b []byte
	ts.Check(db.QueryRow(`SELECT v FROM meta WHERE k = 'envelope'`).Scan(&b))
	env, err := format.ParseEnvelope(b)
	ts.Check(err)
	ak, d, err := env.Open(pw, &sk)
	ts.Check(err)
	defer ak.Wipe()
	d.Wipe()
	salt := io.MultiReader(bytes.NewReader(env.Salt[:]), rand.Reader)
	if len(args) == 5 {
		pw, salt = []byte(strings.TrimSpace(ts.ReadFile(args[4]))), rand.Reader
	}
	old, od, err := format.NewEnvelopeV1WithRand(salt, ak, env.AccountID, env.KeyVersion, pw, &sk, env.KDF)
	ts.Check(err)
	od.Wipe()
	ts.Check(os.WriteFile(ts.MkAbs(args[3]), old.Marshal(), 0o600))
	if len(args) == 4 {
		_, err = db.Exec(`UPDATE meta SET v = ? WHERE k = 'envelope'`, old.Marshal())
		ts.Check(err)
	}
}

// srvenv DB FILE
//
//	puts the envelope in FILE into the SQLite server database DB for its
//	account, behind the server's back (as restoring an old copy of the
//	database would): the login record stays.
func cmdSrvEnv(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: srvenv DB FILE")
	}
	b, err := os.ReadFile(ts.MkAbs(args[1]))
	ts.Check(err)
	env, err := format.ParseEnvelope(b)
	ts.Check(err)
	db, err := sql.Open("sqlite", "file:"+ts.MkAbs(args[0])+"?_pragma=busy_timeout(30000)")
	ts.Check(err)
	defer db.Close()
	r, err := db.Exec(`UPDATE accounts SET envelope = ? WHERE id = ?`, b, env.AccountID[:])
	ts.Check(err)
	if n, _ := r.RowsAffected(); n != 1 {
		ts.Fatalf("srvenv: no account %x in %s", env.AccountID, args[0])
	}
}
