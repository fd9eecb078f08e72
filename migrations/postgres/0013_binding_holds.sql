-- NEW_BINDING_POLICY=hold: a Telegram user not yet bound to an account waits
-- (NEW_BINDING_HOLD_HOURS) before the phone alone binds it. The account's
-- address is told at once with a cancel link made when that mail is sent
-- (only its SHA-256 is kept); the user may withdraw the request in the bot.

CREATE TABLE binding_holds (
    id                  BIGSERIAL PRIMARY KEY,
    account_id          BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    tg_user_id          BIGINT  NOT NULL,
    lang                TEXT    NOT NULL,
    created_at          BIGINT  NOT NULL,
    ends_at             BIGINT  NOT NULL,
    cancel_hash         TEXT    UNIQUE,
    -- 'user' (withdrawn in the bot) or 'email' (cancelled by the address)
    cancelled_by        TEXT,
    cancelled_at        BIGINT,
    used_at             BIGINT
);

CREATE INDEX binding_holds_by_user ON binding_holds (tg_user_id, account_id);
CREATE INDEX binding_holds_by_account ON binding_holds (account_id, created_at);
