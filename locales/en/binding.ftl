# The second proof: a code mailed to the account's address.

button-new-code = ✉️ Send a new code
binding-code-sent = This Telegram account is new to this CRM account, so I need one more proof: I've e-mailed a 6-digit code to { $email }. Type it here; it works until { $until }.
binding-code-too-many = Three codes have been sent for this account in the last hour. You can ask for a new one after { $time }.
binding-code-expected = Please type the 6-digit code from the e-mail.
binding-code-wrong = That code is not right. Tries left: { $left }.
binding-code-expired = This code no longer works (it expired, or was tried too many times). Ask for a new one.

button-confirm-link = 🔗 Link this Telegram account
prelink-ask = Link this Telegram account to the CRM account { $login } ({ $company })? Then you can recover its password here without an extra code.
prelink-done = Done: this Telegram account is linked to { $login }.
prelink-invalid = This link doesn't work: it was already used, has expired, or was never issued. Ask for a new one in the CRM.

contact-changed = The phone number or e-mail address of the CRM account { $login } was changed, so this Telegram account is no longer linked to it. If you still need to recover it, start again from the menu.
binding-needs-prelink = The phone number or e-mail of this account changed recently, so the phone alone can't confirm it's you for a few days. Sign in to the CRM and link this Telegram account from there, or ask our support team.

# NEW_BINDING_POLICY=hold: the new Telegram user waits instead of typing a code.
button-withdraw-hold = ✖️ Withdraw the request
button-hold-ask-again = 🔑 Get the reset link
hold-started = This Telegram account is new to this CRM account, so for your safety the reset link comes only after a waiting period, until { $until }. I've told the account's e-mail address, { $email }; its owner can cancel the request from there. I'll message you here when the wait is over.
hold-waiting = The waiting period for this Telegram account lasts until { $until }. I'll message you here when it's over.
hold-ended = The waiting period is over. Confirm your phone number once more and you'll get the reset link straight away.
hold-withdrawn = Request withdrawn. Nothing more will happen with it.
hold-cancelled-by-owner = The request to link this Telegram account was cancelled from the account's e-mail address, so I can't send a reset link here. If this is your account, please contact our support team.
hold-too-many = This account has had too many requests from new Telegram accounts today. You can try again after { $time }, or contact our support team.
