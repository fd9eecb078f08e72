-- One alert to a company's administrators per company and UTC day, asked
-- for by an employee whose company's licence has lapsed ("Notify my
-- company administrator"); the primary key keeps it to one.

CREATE TABLE licence_admin_alerts (
    company             TEXT    NOT NULL,
    day                 TEXT    NOT NULL,
    tg_user_id          BIGINT  NOT NULL,
    account_id          BIGINT  NOT NULL,
    admins              BIGINT  NOT NULL,
    created_at          BIGINT  NOT NULL,
    PRIMARY KEY (company, day)
);

-- Company administrators are looked up by company, and their Telegram
-- users by the phone they verified.
CREATE INDEX accounts_company ON accounts (company);
CREATE INDEX telegram_users_verified_phone ON telegram_users (verified_phone);
