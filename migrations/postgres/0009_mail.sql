-- E-mail as the second channel: every notice mailed carries a one-click
-- "This wasn't me" link; the token is made when the mail is sent and only
-- its SHA-256 is kept. Single use, valid 7 days.

CREATE TABLE disputes (
    id                  BIGSERIAL PRIMARY KEY,
    token_hash          TEXT    NOT NULL UNIQUE,
    account_id          BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- What the mail told of: reset_link_issued | password_changed
    event               TEXT    NOT NULL,
    lang                TEXT    NOT NULL,
    created_at          BIGINT  NOT NULL,
    expires_at          BIGINT  NOT NULL,
    used_at             BIGINT
);

-- The Telegram user's name as they showed it when proving their phone:
-- a mail says through which Telegram account something happened.
ALTER TABLE telegram_users ADD COLUMN display_name TEXT;
