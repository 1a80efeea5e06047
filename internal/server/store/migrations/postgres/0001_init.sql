-- The first schema. Times are microseconds since 1970 UTC, 0 when unset,
-- so that both dialects share one representation. Nothing here is
-- plaintext: boxes, envelopes, key checks and manifests are sealed by
-- clients, and sessions are stored by the SHA-256 of their token.

CREATE TABLE secrets (
	name  TEXT PRIMARY KEY,
	value BYTEA NOT NULL
);

CREATE TABLE accounts (
	id           BYTEA PRIMARY KEY,
	email        TEXT NOT NULL DEFAULT '',
	plan         TEXT NOT NULL,
	trial_ends   BIGINT NOT NULL DEFAULT 0,
	payment_date BIGINT NOT NULL DEFAULT 0,
	paid_until   BIGINT NOT NULL DEFAULT 0,
	plan_label   TEXT NOT NULL DEFAULT '',
	created      BIGINT NOT NULL,
	disabled     BOOLEAN NOT NULL DEFAULT FALSE,
	head         BIGINT NOT NULL DEFAULT 0,
	envelope     BYTEA NOT NULL,
	key_check    BYTEA NOT NULL,
	key_version  BIGINT NOT NULL,
	record       BYTEA NOT NULL,
	transition   BYTEA,
	manifest     BYTEA,
	manifest_seq BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE devices (
	account   BYTEA NOT NULL REFERENCES accounts (id),
	id        BYTEA NOT NULL,
	name      TEXT NOT NULL,
	platform  TEXT NOT NULL,
	added     BIGINT NOT NULL,
	last_seen BIGINT NOT NULL,
	revoked   BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (account, id)
);

CREATE TABLE sessions (
	token_hash BYTEA PRIMARY KEY,
	account    BYTEA NOT NULL,
	device     BYTEA NOT NULL,
	created    BIGINT NOT NULL,
	expires    BIGINT NOT NULL,
	FOREIGN KEY (account, device) REFERENCES devices (account, id)
);
CREATE INDEX sessions_device ON sessions (account, device);

CREATE TABLE login_states (
	id               BYTEA PRIMARY KEY,
	account          BYTEA NOT NULL,
	known            BOOLEAN NOT NULL,
	device_id        BYTEA NOT NULL,
	device_name      TEXT NOT NULL,
	device_platform  TEXT NOT NULL,
	device_added     BIGINT NOT NULL,
	device_last_seen BIGINT NOT NULL,
	state            BYTEA NOT NULL,
	expires          BIGINT NOT NULL
);
CREATE INDEX login_states_expires ON login_states (expires);

CREATE TABLE failures (
	throttle_key TEXT PRIMARY KEY,
	failed       BIGINT NOT NULL,
	locked_until BIGINT NOT NULL
);

-- Events of unknown accounts may be kept too, so no foreign key.
CREATE TABLE events (
	id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	account BYTEA NOT NULL,
	at      BIGINT NOT NULL,
	kind    TEXT NOT NULL,
	device  BYTEA,
	source  TEXT NOT NULL DEFAULT '',
	detail  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_account_at ON events (account, at);

-- The primary key serves the change feed (seq > since in seq order); the
-- unique key finds an item's current revision and forbids two copies of
-- one revision.
CREATE TABLE revisions (
	account BYTEA NOT NULL REFERENCES accounts (id),
	seq     BIGINT NOT NULL,
	item    BYTEA NOT NULL,
	rev     BIGINT NOT NULL,
	box     BYTEA,
	deleted BOOLEAN NOT NULL,
	PRIMARY KEY (account, seq),
	UNIQUE (account, item, rev)
);

CREATE TABLE sync_settings (
	account  BYTEA PRIMARY KEY REFERENCES accounts (id),
	method   TEXT NOT NULL,
	settings TEXT NOT NULL,
	secret   BYTEA,
	updated  BIGINT NOT NULL
);
