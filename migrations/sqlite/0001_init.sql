-- Accounts, reset links, Telegram users, audit and dialogue state.
-- Instants are unix seconds (UTC): sqlx's Any driver carries no date types.

CREATE TABLE accounts (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    login               TEXT    NOT NULL UNIQUE,
    email               TEXT    NOT NULL,
    phone               TEXT    NOT NULL,
    full_name           TEXT    NOT NULL,
    company             TEXT    NOT NULL,
    password_hash       TEXT,
    locale              TEXT,
    time_zone           TEXT,
    license_expires_at  BIGINT,
    credentials_version BIGINT  NOT NULL DEFAULT 0,
    failed_logins       BIGINT  NOT NULL DEFAULT 0,
    locked_until        BIGINT,
    created_at          BIGINT  NOT NULL,
    updated_at          BIGINT  NOT NULL
);
CREATE INDEX accounts_phone ON accounts (phone);

CREATE TABLE telegram_users (
    tg_user_id          BIGINT  PRIMARY KEY,
    language            TEXT,
    verified_phone      TEXT,
    verified_at         BIGINT,
    updated_at          BIGINT  NOT NULL
);

CREATE TABLE reset_tokens (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id          BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    token_hash          TEXT    NOT NULL UNIQUE,
    tg_user_id          BIGINT  NOT NULL,
    language            TEXT    NOT NULL,
    created_at          BIGINT  NOT NULL,
    expires_at          BIGINT  NOT NULL,
    used_at             BIGINT,
    revoked_at          BIGINT
);
CREATE INDEX reset_tokens_account_created ON reset_tokens (account_id, created_at);

CREATE TABLE audit_events (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    at                  BIGINT  NOT NULL,
    event               TEXT    NOT NULL,
    tg_user_id          BIGINT,
    account_id          BIGINT,
    outcome             TEXT    NOT NULL,
    detail              TEXT
);
CREATE INDEX audit_events_at ON audit_events (at);

CREATE TABLE dialogues (
    chat_id             BIGINT  PRIMARY KEY,
    state               TEXT    NOT NULL,
    updated_at          BIGINT  NOT NULL
);
