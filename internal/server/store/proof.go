package store

import (
	"context"
	"fmt"
	"time"
)

// Fresh proof and the narrowing of sessions (docs/LOGIN.md "Fresh proof").

func (d *db) SetReauth(ctx context.Context, tokenHash [32]byte, until time.Time) error {
	return d.updateOne(ctx, "set reauth", `UPDATE sessions SET reauth_until = $2 WHERE token_hash = $1`, tokenHash[:], ts(until))
}

// TakeReauth clears the proof in the same statement that checks it, so two
// concurrent changes (on two replicas) cannot both use one proof.
func (d *db) TakeReauth(ctx context.Context, tokenHash [32]byte, now time.Time) error {
	return d.updateOne(ctx, "take reauth", `UPDATE sessions SET reauth_until = 0
		WHERE token_hash = $1 AND reauth_until > $2 AND narrowed = 0`, tokenHash[:], ts(now))
}

// EndOtherSessions also announces the account's current head again, so
// that every replica's event streams of the account wake up, re-check
// their session and end now rather than at their next heartbeat.
func (d *db) EndOtherSessions(ctx context.Context, account ID, keep [32]byte) error {
	if _, err := d.b.writes().exec(ctx, `DELETE FROM sessions WHERE account = $1 AND token_hash <> $2`, b16(account), keep[:]); err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	var head int64
	if err := d.b.writes().queryRow(ctx, `SELECT head FROM accounts WHERE id = $1`, b16(account)).Scan(&head); err == nil {
		d.b.notifyAfter(account, uint64(head))
	}
	return nil
}

func (d *db) NarrowOtherSessions(ctx context.Context, account ID, keep [32]byte) error {
	if _, err := d.b.writes().exec(ctx, `UPDATE sessions SET narrowed = 1, reauth_until = 0
		WHERE account = $1 AND token_hash <> $2`, b16(account), keep[:]); err != nil {
		return fmt.Errorf("narrow sessions: %w", err)
	}
	return nil
}
