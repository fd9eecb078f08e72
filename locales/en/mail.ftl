# E-mail: the second channel. Plain text; the HTML part is built from the
# same messages.

mail-reset-link-subject = A password reset link was requested for { $login }
mail-password-changed-subject = The password of { $login } was changed
mail-reset-link-body = A link to reset the password of your CRM account { $login } was sent in Telegram at { $time }, to the Telegram account { $telegram }.
mail-password-changed-body = The password of your CRM account { $login } was changed at { $time }, through the Telegram account { $telegram }.
mail-not-me = If this wasn't you, open the link below within 7 days and confirm: password recovery for the account stops at once, every link sent so far stops working, and our support team is told.
mail-not-me-link = This wasn't me
mail-footer = This message was sent automatically by the CRM account recovery bot. You don't need to reply.
mail-telegram-unnamed = without a name

dispute-title = Was this you?
dispute-ask = Confirm that you did not ask to reset the password of { $login } and did not change it. Password recovery for the account will stop, every link sent so far will stop working, and our support team will be told.
dispute-confirm-button = This wasn't me
dispute-done-title = Thank you
dispute-done = Password recovery for the account is stopped and our support team has been told. They will contact you.
dispute-dead-title = This link does not work
dispute-dead = This link has already been used or has expired. If something is still wrong with your account, contact your company's CRM administrator or our support team.

mail-code-subject = Your confirmation code for { $login }
mail-code-body = At { $time } the Telegram account { $telegram } asked to recover your CRM account { $login }. If that was you, type this code in the bot: { $code }

    It works for 10 minutes. Never tell it to anyone, not even to our support team.

mail-bound-subject = A Telegram account was linked to { $login }
mail-bound-body = At { $time } the Telegram account { $telegram } was linked to your CRM account { $login } from a signed-in CRM session. It can now recover the account's password in the bot.

mail-contact-subject = The contact details of { $login } were changed
mail-contact-body = At { $time } the phone number or e-mail address of your CRM account { $login } was changed in the CRM. Telegram accounts linked to it were unlinked, and links sent earlier stopped working.

mail-hold-subject = A new Telegram account asked to recover { $login }
mail-hold-body = At { $time } the Telegram account { $telegram } asked to recover your CRM account { $login }. It is new to this account, so it must wait: unless the request is cancelled, it will be able to get a password reset link after { $until }.
mail-hold-not-me = If this wasn't you, open the link below and cancel the request: that Telegram account will get nothing.
mail-hold-cancel-link = Cancel the request
mail-hold-ended-subject = A Telegram account was linked to { $login }
mail-hold-ended-body = At { $time } the Telegram account { $telegram } waited out the waiting period and was linked to your CRM account { $login }. It can now recover the account's password in the bot.

hold-page-title = Cancel the request?
hold-page-ask = Cancel the request of a new Telegram account to recover { $login }? That Telegram account will not get a reset link.
hold-page-button = Cancel the request
hold-page-done-title = Request cancelled
hold-page-done = The request is cancelled, and that Telegram account has been told. If you think someone is trying to take over your account, contact our support team.
hold-page-dead-title = This link does not work
hold-page-dead = This request has already been cancelled, withdrawn or completed, or the link was never issued.

mail-2fa-off-subject = Two-factor authentication was turned off for { $login }
mail-2fa-off-body = At { $time } two-factor authentication of your CRM account { $login } was turned off, at the request of the Telegram account { $telegram }. Until it is set up again, the password alone signs in: set it up again under “My security” in the bot.
