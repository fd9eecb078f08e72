-- Pre-links: a signed-in CRM user opens https://t.me/<bot>?start=link-<token>
-- and confirms in the bot; that Telegram user is then bound to the account.
-- Only the token's SHA-256 is kept; single use, 10 minutes.

CREATE TABLE telegram_prelinks (
    id                  BIGSERIAL PRIMARY KEY,
    token_hash          TEXT    NOT NULL UNIQUE,
    account_id          BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at          BIGINT  NOT NULL,
    expires_at          BIGINT  NOT NULL,
    used_at             BIGINT,
    used_by             BIGINT
);
