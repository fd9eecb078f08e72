-- One sequence of send turns for the whole bot. Telegram's overall limit
-- (about 30 messages a second) is the bot token's, however many replicas
-- run: on PostgreSQL each replica reserves its messages' turns here, one
-- every 1/30 s in the order they are asked for, so that together they
-- keep the pace and the order of one bot. `next_at` is the first free
-- turn, in microseconds since the Unix epoch by the database's clock.
-- (SQLite runs one process, which paces itself in memory.)

CREATE TABLE send_clock (
    id       SMALLINT  PRIMARY KEY,
    next_at  BIGINT    NOT NULL
);

INSERT INTO send_clock (id, next_at) VALUES (1, 0);
