-- Two-factor authentication (TOTP, RFC 6238) and backup codes.

-- The length of the stored password in code points (NFKC), recorded when it
-- is set: a password set under 2FA's shorter minimum must be changed once
-- 2FA is turned off. NULL: set before this was recorded.
ALTER TABLE accounts ADD COLUMN password_length BIGINT;

-- An account's TOTP secret while 2FA is on. The secret is sealed with
-- XChaCha20-Poly1305 under SECRET_KEY (key_id names the key, never the key
-- itself), bound to the account; it is never stored in the clear.
CREATE TABLE two_factor (
    account_id          BIGINT  PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    key_id              TEXT    NOT NULL,
    nonce               BLOB    NOT NULL,
    secret_sealed       BLOB    NOT NULL,
    enabled_at          BIGINT  NOT NULL,
    -- The last TOTP time step accepted: a code of that step or an earlier
    -- one is refused (a code works once).
    last_step           BIGINT
);

-- An enrolment started (the QR code shown) but not yet confirmed with a
-- code: it takes effect only when confirmed, and lapses at expires_at.
CREATE TABLE two_factor_enrolments (
    account_id          BIGINT  PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    key_id              TEXT    NOT NULL,
    nonce               BLOB    NOT NULL,
    secret_sealed       BLOB    NOT NULL,
    started_at          BIGINT  NOT NULL,
    expires_at          BIGINT  NOT NULL
);

-- Ten single-use codes per set, argon2id-hashed. A new set (generation)
-- revokes the older ones.
CREATE TABLE backup_codes (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id          BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    generation          BIGINT  NOT NULL,
    code_hash           TEXT    NOT NULL,
    created_at          BIGINT  NOT NULL,
    used_at             BIGINT,
    revoked_at          BIGINT
);
CREATE INDEX backup_codes_account ON backup_codes (account_id, generation);

-- Every backup code typed for an account: at most five wrong ones an hour.
-- outcome: pending (being checked; counts as wrong) | wrong | right.
CREATE TABLE backup_code_attempts (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id          BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    at                  BIGINT  NOT NULL,
    outcome             TEXT    NOT NULL
);
CREATE INDEX backup_code_attempts_account ON backup_code_attempts (account_id, at);
