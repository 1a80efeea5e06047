-- The first schema (SQLite: STRICT tables; revisions clustered by
-- account and seq). Times are microseconds since 1970 UTC, 0 when unset,
-- so that both dialects share one representation. Nothing here is
-- plaintext: boxes, envelopes, key checks and manifests are sealed by
-- clients, and sessions are stored by the SHA-256 of their token.

CREATE TABLE secrets (
	name  TEXT PRIMARY KEY,
	value BLOB NOT NULL
) STRICT;

CREATE TABLE accounts (
	id           BLOB PRIMARY KEY,
	email        TEXT NOT NULL DEFAULT '',
	plan         TEXT NOT NULL,
	trial_ends   INTEGER NOT NULL DEFAULT 0,
	payment_date INTEGER NOT NULL DEFAULT 0,
	paid_until   INTEGER NOT NULL DEFAULT 0,
	plan_label   TEXT NOT NULL DEFAULT '',
	created      INTEGER NOT NULL,
	disabled     INTEGER NOT NULL DEFAULT 0,
	head         INTEGER NOT NULL DEFAULT 0,
	envelope     BLOB NOT NULL,
	key_check    BLOB NOT NULL,
	key_version  INTEGER NOT NULL,
	record       BLOB NOT NULL,
	transition   BLOB,
	manifest     BLOB,
	manifest_seq INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE devices (
	account   BLOB NOT NULL REFERENCES accounts (id),
	id        BLOB NOT NULL,
	name      TEXT NOT NULL,
	platform  TEXT NOT NULL,
	added     INTEGER NOT NULL,
	last_seen INTEGER NOT NULL,
	revoked   INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (account, id)
) STRICT;

CREATE TABLE sessions (
	token_hash BLOB PRIMARY KEY,
	account    BLOB NOT NULL,
	device     BLOB NOT NULL,
	created    INTEGER NOT NULL,
	expires    INTEGER NOT NULL,
	FOREIGN KEY (account, device) REFERENCES devices (account, id)
) STRICT;
CREATE INDEX sessions_device ON sessions (account, device);

CREATE TABLE login_states (
	id               BLOB PRIMARY KEY,
	account          BLOB NOT NULL,
	known            INTEGER NOT NULL,
	device_id        BLOB NOT NULL,
	device_name      TEXT NOT NULL,
	device_platform  TEXT NOT NULL,
	device_added     INTEGER NOT NULL,
	device_last_seen INTEGER NOT NULL,
	state            BLOB NOT NULL,
	expires          INTEGER NOT NULL
) STRICT;
CREATE INDEX login_states_expires ON login_states (expires);

CREATE TABLE failures (
	throttle_key TEXT PRIMARY KEY,
	failed       INTEGER NOT NULL,
	locked_until INTEGER NOT NULL
) STRICT;

-- Events of unknown accounts may be kept too, so no foreign key.
CREATE TABLE events (
	id      INTEGER PRIMARY KEY,
	account BLOB NOT NULL,
	at      INTEGER NOT NULL,
	kind    TEXT NOT NULL,
	device  BLOB,
	source  TEXT NOT NULL DEFAULT '',
	detail  TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX events_account_at ON events (account, at);

-- The primary key serves the change feed (seq > since in seq order); the
-- unique key finds an item's current revision and forbids two copies of
-- one revision.
CREATE TABLE revisions (
	account BLOB NOT NULL REFERENCES accounts (id),
	seq     INTEGER NOT NULL,
	item    BLOB NOT NULL,
	rev     INTEGER NOT NULL,
	box     BLOB,
	deleted INTEGER NOT NULL,
	PRIMARY KEY (account, seq),
	UNIQUE (account, item, rev)
) STRICT, WITHOUT ROWID;

CREATE TABLE sync_settings (
	account  BLOB PRIMARY KEY REFERENCES accounts (id),
	method   TEXT NOT NULL,
	settings TEXT NOT NULL,
	secret   BLOB,
	updated  INTEGER NOT NULL
) STRICT;
