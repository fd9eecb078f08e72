-- When the account's phone or e-mail last changed: for a while after, the
-- phone alone binds nobody (PHONE_CHANGE_COOLDOWN_DAYS).
ALTER TABLE accounts ADD COLUMN contact_changed_at BIGINT;
