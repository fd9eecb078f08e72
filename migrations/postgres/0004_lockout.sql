-- Failed sign-ins and locks, one row per login key (trimmed, NFKC,
-- lower-cased), for known and unknown logins alike: a lock must prove
-- nothing about whether a login exists. Supersedes accounts.failed_logins
-- and accounts.locked_until, which are no longer read.

CREATE TABLE sign_in_failures (
    login_key             TEXT    PRIMARY KEY,
    -- Consecutive failures since the last lock, success or quiet period.
    failures              BIGINT  NOT NULL DEFAULT 0,
    -- Temporary locks so far: each makes the next one longer.
    locks                 BIGINT  NOT NULL DEFAULT 0,
    locked_until          BIGINT,
    -- Set: locked until an operator runs `accounts unlock`.
    locked_permanently_at BIGINT,
    last_failure_at       BIGINT,
    updated_at            BIGINT  NOT NULL
);

-- An administrative block: no sign-in until lifted (`accounts unlock`).
ALTER TABLE accounts ADD COLUMN blocked_at BIGINT;
