-- Companies and the account fields the CRM syncs (PUT /api/v1/accounts,
-- the CSV's new columns).
--
-- A company is its name as written in accounts.company; its licence expiry
-- moves here from the accounts, where each row had its own copy. Where an
-- import left rows of one company disagreeing, the latest expiry is kept.

CREATE TABLE companies (
    name                TEXT    PRIMARY KEY,
    license_expires_at  BIGINT,
    updated_at          BIGINT  NOT NULL
);

INSERT INTO companies (name, license_expires_at, updated_at)
SELECT company, MAX(license_expires_at), MAX(updated_at) FROM accounts GROUP BY company;

ALTER TABLE accounts DROP COLUMN license_expires_at;

-- 0/1: sqlx's Any driver reads SQLite booleans as integers.
ALTER TABLE accounts ADD COLUMN company_admin BIGINT NOT NULL DEFAULT 0;
-- (accounts.blocked_at, the administrative block, came with 0004.)
-- Set while the account is deactivated (DELETE, or active=false): the bot
-- finds no account for it, as for an unknown one.
ALTER TABLE accounts ADD COLUMN deactivated_at BIGINT;
