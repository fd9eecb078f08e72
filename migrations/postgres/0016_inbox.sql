-- The inbox: every update Telegram delivers is kept here before it is
-- acknowledged (the next getUpdates offset, or the webhook's 200), handled
-- from here, and marked handled when its handler has finished. After a
-- crash the updates not marked handled are handled again, each chat's in
-- order. Several replicas claim a chat's pending updates all together, so
-- one chat is handled by one process at a time.

CREATE TABLE inbox (
    update_id           BIGINT  PRIMARY KEY,
    -- The chat (or user) the update belongs to; NULL for kinds without one.
    chat_id             BIGINT,
    -- The update as Telegram sent it (JSON).
    payload             TEXT    NOT NULL,
    received_at         BIGINT  NOT NULL,
    claimed_by          TEXT,
    claimed_until       BIGINT,
    handled_at          BIGINT
);

CREATE INDEX inbox_pending ON inbox (handled_at, update_id);
CREATE INDEX inbox_chat ON inbox (chat_id, handled_at);
