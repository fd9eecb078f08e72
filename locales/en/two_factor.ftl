# "I lost my 2FA device": a backup code resets 2FA; setting it up again.

two-factor-ask-phone = To reset two-factor authentication, I first need to confirm it's you: share your phone number with the button below. Then you'll need one of the backup codes you got when you turned 2FA on.
two-factor-not-on = Two-factor authentication is not turned on for { $login }, so there is nothing to reset. If you can't sign in, one of these may help:
two-factor-ask-backup = Type one of the backup codes of { $login } (they look like ABCD-EFGH-JKMN-PQRS; case, spaces and dashes don't matter). Each code works once.
two-factor-backup-expected = Please type one of your backup codes as text.
two-factor-backup-wrong = That backup code is not right, or was used already. Tries left this hour: { $left }.
two-factor-backup-too-many = Too many wrong backup codes for this account. You can try again after { $time }, or ask our support team to help.
two-factor-reset-done = Done: two-factor authentication is turned off for { $login }, and that backup code is used up. Sign in with your password, then set 2FA up again: it takes a minute, and I can do it right here.
button-no-backup-code = 🆘 I have no backup codes
button-set-up-2fa-again = 🔐 Set up 2FA again
two-factor-already-on = Two-factor authentication is already on for this account.
two-factor-scan = Scan this QR code with your authenticator app (Google Authenticator, Microsoft Authenticator, Aegis, 1Password…).
two-factor-setup-key = Can't scan it? Add the account by hand with this setup key:
    <code>{ $key }</code>

    Then type the 6-digit code the app shows. For safety, the QR code and this key will be deleted from the chat once 2FA is on.
two-factor-code-expected = Please type the 6-digit code from your authenticator app.
two-factor-enrol-wrong = That code doesn't match. Check that the app's clock is right and type the current code.
two-factor-enrol-expired = The setup took too long and was cancelled. Start it again from “My security”.
two-factor-on = Two-factor authentication is on. Here are your { $count } new backup codes: each works once if you lose your phone. Save this file somewhere safe (a password manager, or printed and locked away), and don't keep it only on this phone.
two-factor-codes-file = Backup codes for the CRM account { $login }. Each code works once. Keep them somewhere safe.
