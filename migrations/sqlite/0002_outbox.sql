-- Messages the bot sends on its own (notices), kept until Telegram accepts
-- them, so that a Telegram outage or a restart loses none.

CREATE TABLE outbox (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id             BIGINT  NOT NULL,
    text                TEXT    NOT NULL,
    reply_markup        TEXT,
    created_at          BIGINT  NOT NULL,
    next_attempt_at     BIGINT  NOT NULL,
    attempts            BIGINT  NOT NULL DEFAULT 0,
    sent_at             BIGINT,
    failed_at           BIGINT,
    last_error          TEXT
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
