-- Fresh proof for account changes (docs/LOGIN.md "Fresh proof"). A
-- session may change the password, rotate the key or register a new login
-- record only until reauth_until, which a login finished in reauth mode
-- sets a few minutes ahead and the change itself clears (single use).
-- A session narrowed by another device's key rotation (narrowed = 1) may
-- only fetch what following the rotation needs, then must log in again.
ALTER TABLE sessions ADD COLUMN reauth_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN narrowed INTEGER NOT NULL DEFAULT 0;
