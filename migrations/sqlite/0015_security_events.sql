-- Security notifications: what the CRM reports (POST /api/v1/events), which
-- bound Telegram users asked to hear of which kinds, and the language each
-- Telegram user last read the bot in (for messages sent on their own).

ALTER TABLE telegram_users ADD COLUMN seen_language TEXT;

CREATE TABLE security_events (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id          BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- login_succeeded | new_device | password_changed
    kind                TEXT    NOT NULL,
    ip                  TEXT,
    user_agent          TEXT,
    occurred_at         BIGINT  NOT NULL,
    received_at         BIGINT  NOT NULL,
    -- The CRM sending one event twice (a retry) tells nobody twice.
    UNIQUE (account_id, kind, occurred_at)
);

-- Opt-in kinds per bound Telegram user and account (1 = on). Lockouts and
-- password changes are always told and need no row.
CREATE TABLE security_subscriptions (
    tg_user_id          BIGINT  NOT NULL,
    account_id          BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    sign_ins            BIGINT  NOT NULL DEFAULT 0,
    new_devices         BIGINT  NOT NULL DEFAULT 0,
    updated_at          BIGINT  NOT NULL,
    PRIMARY KEY (tg_user_id, account_id)
);
