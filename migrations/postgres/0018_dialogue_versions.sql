-- Each chat's dialogue state counts its writes. A replica keeps the states
-- of the chats it is handling in memory and writes them together with the
-- "handled" marks of their updates; the count tells it whether a state it
-- reads back from the database is newer than the one it holds.

ALTER TABLE dialogues ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
