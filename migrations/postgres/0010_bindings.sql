-- Which Telegram users have proved themselves for which accounts, beyond
-- holding the phone: a phone match from anyone else needs a second proof
-- (NEW_BINDING_POLICY) before anything that grants access.

CREATE TABLE telegram_bindings (
    tg_user_id          BIGINT  NOT NULL,
    account_id          BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- recovery (a finished recovery before bindings existed) | email_code
    source              TEXT    NOT NULL,
    bound_at            BIGINT  NOT NULL,
    PRIMARY KEY (tg_user_id, account_id)
);
CREATE INDEX telegram_bindings_account ON telegram_bindings (account_id);

-- A Telegram user who completed a recovery of an account counts as bound.
INSERT INTO telegram_bindings (tg_user_id, account_id, source, bound_at)
    SELECT tg_user_id, account_id, 'recovery', MIN(used_at)
    FROM reset_tokens WHERE used_at IS NOT NULL
    GROUP BY tg_user_id, account_id;

-- Six-digit codes mailed to the account's address as the second proof. The
-- code is made when its mail is sent; only a salted SHA-256 is kept (a
-- six-digit code lives ten minutes and allows five tries).
CREATE TABLE binding_codes (
    id                  BIGSERIAL PRIMARY KEY,
    account_id          BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    tg_user_id          BIGINT  NOT NULL,
    code_hash           TEXT,
    created_at          BIGINT  NOT NULL,
    expires_at          BIGINT  NOT NULL,
    attempts            BIGINT  NOT NULL DEFAULT 0,
    used_at             BIGINT,
    revoked_at          BIGINT
);
CREATE INDEX binding_codes_account ON binding_codes (account_id, created_at);
