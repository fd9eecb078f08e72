-- The lockout lives in sign_in_failures (per login key) since 0004; the
-- account's own columns were written by resets and read by nothing.

ALTER TABLE accounts DROP COLUMN failed_logins;
ALTER TABLE accounts DROP COLUMN locked_until;
