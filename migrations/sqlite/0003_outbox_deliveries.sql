-- The outbox carries typed deliveries (a Telegram notice, the deletion of a
-- message holding a link, e-mail later) with a due time, an optional key that
-- replaces or cancels a pending one, and a claim with a lease, so that two
-- running instances never deliver the same row. Pending rows of the old
-- shape are kept as already-rendered messages.

ALTER TABLE outbox RENAME TO outbox_v1;

CREATE TABLE outbox (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    payload             TEXT    NOT NULL,
    dedupe_key          TEXT,
    created_at          BIGINT  NOT NULL,
    due_at              BIGINT  NOT NULL,
    attempts            BIGINT  NOT NULL DEFAULT 0,
    -- Bumped when a key replaces the payload: a worker that sent an older
    -- version does not record the newer one as sent.
    version             BIGINT  NOT NULL DEFAULT 0,
    claimed_by          TEXT,
    claimed_until       BIGINT,
    sent_at             BIGINT,
    failed_at           BIGINT,
    cancelled_at        BIGINT,
    last_error          TEXT
);
CREATE INDEX outbox_due ON outbox (due_at)
    WHERE sent_at IS NULL AND failed_at IS NULL AND cancelled_at IS NULL;
CREATE UNIQUE INDEX outbox_pending_key ON outbox (dedupe_key)
    WHERE sent_at IS NULL AND failed_at IS NULL AND cancelled_at IS NULL;

INSERT INTO outbox (payload, created_at, due_at, attempts, last_error)
SELECT json_object('kind', 'rendered_message', 'chat', chat_id, 'html', text, 'reply_markup', reply_markup),
       created_at, next_attempt_at, attempts, last_error
FROM outbox_v1 WHERE sent_at IS NULL AND failed_at IS NULL;

DROP TABLE outbox_v1;

-- The Telegram message that holds a link, so it can be deleted once the
-- link is used, revoked or expired; and the page's refused submissions,
-- after which the link is spent.
ALTER TABLE reset_tokens ADD COLUMN message_id BIGINT;
ALTER TABLE reset_tokens ADD COLUMN refused_submissions BIGINT NOT NULL DEFAULT 0;

-- Where a request on the reset page came from.
ALTER TABLE audit_events ADD COLUMN client_addr TEXT;
