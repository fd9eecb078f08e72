-- The processes running the bot on this database, each seen every few
-- seconds. Telegram's send limits are the bot's, however many processes
-- run: the replicas seen lately share them, each taking its part.

CREATE TABLE replicas (
    name     TEXT    PRIMARY KEY,
    seen_at  BIGINT  NOT NULL
);
