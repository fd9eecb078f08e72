-- The support desk: tickets, what goes between the user's chat and the
-- staff group for each, its history, and the staff group's current id.

CREATE TABLE tickets (
    id                  BIGSERIAL PRIMARY KEY,
    -- Shown as #N; given when the ticket is submitted (drafts have none).
    number              BIGINT  UNIQUE,
    tg_user_id          BIGINT  NOT NULL,
    user_name           TEXT    NOT NULL,
    username            TEXT,
    lang                TEXT    NOT NULL,
    category            TEXT    NOT NULL,
    -- draft | open | closed | rejected
    status              TEXT    NOT NULL,
    urgent              BIGINT  NOT NULL DEFAULT 0,
    -- What the identity step proved, if the ticket came through it.
    account_id          BIGINT,
    verified_phone      TEXT,
    -- What the user says.
    claimed_login       TEXT,
    claimed_company     TEXT,
    claimed_sign_in     TEXT,
    description         TEXT,
    -- Where its card is; the card is edited when card_version passes
    -- card_shown_version.
    group_chat_id       BIGINT,
    card_message_id     BIGINT,
    topic_id            BIGINT,
    card_version        BIGINT  NOT NULL DEFAULT 0,
    card_shown_version  BIGINT  NOT NULL DEFAULT 0,
    taken_by            BIGINT,
    taken_by_name       TEXT,
    user_unreachable_at BIGINT,
    closed_by_name      TEXT,
    close_reason        TEXT,
    rating              BIGINT,
    rating_comment      TEXT,
    created_at          BIGINT  NOT NULL,
    submitted_at        BIGINT,
    closed_at           BIGINT,
    updated_at          BIGINT  NOT NULL
);
-- One draft or open ticket per user: a second request continues it.
CREATE UNIQUE INDEX tickets_one_open_per_user ON tickets (tg_user_id)
    WHERE status IN ('draft', 'open');
CREATE INDEX tickets_status ON tickets (status, submitted_at);
CREATE INDEX tickets_account ON tickets (account_id);

-- What is relayed for a ticket, in order: to the staff group (the user's
-- messages, attachments, edits, notes for staff) or to the user (staff
-- replies and notices). A row is delivered once; the ticket's relay job
-- takes them in id order.
CREATE TABLE ticket_items (
    id                  BIGSERIAL PRIMARY KEY,
    ticket_id           BIGINT  NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    -- to_group | to_user
    direction           TEXT    NOT NULL,
    -- text | copy | notice
    kind                TEXT    NOT NULL,
    source_chat_id      BIGINT,
    source_message_id   BIGINT,
    media_group_id      TEXT,
    -- A text relayed, or a notice as JSON.
    body                TEXT,
    -- Held back until the ticket is submitted (attachments of a draft).
    held                BIGINT  NOT NULL DEFAULT 0,
    created_at          BIGINT  NOT NULL,
    delivered_at        BIGINT,
    delivered_message_id BIGINT,
    failed_at           BIGINT,
    failure             TEXT
);
CREATE INDEX ticket_items_pending ON ticket_items (ticket_id, direction, id)
    WHERE delivered_at IS NULL AND failed_at IS NULL;

-- Messages in the staff group and the tickets they belong to: a reply to
-- any of them reaches that ticket's user. A user's message relayed to the
-- group is remembered with its origin, so an edit can name it.
CREATE TABLE ticket_messages (
    chat_id             BIGINT  NOT NULL,
    message_id          BIGINT  NOT NULL,
    ticket_id           BIGINT  NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    -- card | relayed | reject_prompt | notice
    role                TEXT    NOT NULL,
    -- For reject_prompt: the staff member asked.
    staff_id            BIGINT,
    created_at          BIGINT  NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);
CREATE INDEX ticket_messages_ticket ON ticket_messages (ticket_id);

-- Each ticket's history, for `/ticket N`.
CREATE TABLE ticket_events (
    id                  BIGSERIAL PRIMARY KEY,
    ticket_id           BIGINT  NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    at                  BIGINT  NOT NULL,
    actor_id            BIGINT,
    actor_name          TEXT,
    event               TEXT    NOT NULL,
    detail              TEXT
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, id);

-- Counters that must not repeat (ticket numbers), one row each.
CREATE TABLE counters (
    name                TEXT    PRIMARY KEY,
    value               BIGINT  NOT NULL
);
INSERT INTO counters (name, value) VALUES ('ticket_number', 0);

-- Settings the bot learns while running: the staff group's id after
-- Telegram upgraded it to a supergroup.
CREATE TABLE desk_settings (
    name                TEXT    PRIMARY KEY,
    value               TEXT    NOT NULL,
    updated_at          BIGINT  NOT NULL
);

-- "It wasn't me": no recovery for the account until a staff admin lifts it.
ALTER TABLE accounts ADD COLUMN recovery_blocked_at BIGINT;
-- The last successful sign-in through the API, shown to staff beside the
-- date the user remembers.
ALTER TABLE accounts ADD COLUMN last_sign_in_at BIGINT;
