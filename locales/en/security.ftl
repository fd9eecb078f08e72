# Security notifications to Telegram users bound to an account, and the
# "My security" screen.

security-signed-in = 🔐 Someone signed in to your CRM account { $login } { $day ->
        [today] at { $time }
       *[other] on { $time }
    }.
security-new-device = 🆕 Your CRM account { $login } was signed in to from a new device { $day ->
        [today] at { $time }
       *[other] on { $time }
    }.
security-password-changed = 🔑 The password of your CRM account { $login } was changed { $day ->
        [today] at { $time }
       *[other] on { $time }
    }.
security-locked-until = 🔒 Your CRM account { $login } was locked after too many failed sign-in attempts. It unlocks by itself at { $until }.
security-locked-permanently = 🔒 Your CRM account { $login } was locked after too many failed sign-in attempts. An administrator has to unlock it.
security-ip = IP address: { $ip }
security-device = Device: { $device }
security-not-you = If this wasn't you, press “It wasn't me”: password recovery for the account stops, and you can tell our support team what happened.

security-ask-phone = To show what protects your account, I first need to confirm it's you: share your phone number with the button below.
security-summary = 🛡 <b>Security of { $login }</b>

    Two-factor authentication: { $two_factor }
    Recovery contacts on file: e-mail { $email }, phone { $phone }. If they're out of date, ask your company's CRM administrator to update them.
    Notifications here: sign-ins { $sign_ins }, new devices { $new_devices }. Password changes and lockouts are always told.

    💡 A password manager remembers long passwords for you, so you won't need to reset them.
security-2fa-on = on since { $since }; { $count ->
        [0] no backup codes left — make new ones
        [one] one backup code left
       *[other] { $count } backup codes left
    }
security-2fa-off = off. Turn it on: a code from your phone protects the account even if the password leaks.
security-2fa-unavailable = not available on this server.
security-on = on
security-off = off
security-needs-binding = First link this Telegram account to the CRM account: recover the password here once, or use the link from your CRM profile.
security-saved = Saved
security-new-codes = Here are your { $count } new backup codes; the old ones no longer work. Save this file somewhere safe (a password manager, or printed and locked away).
button-set-up-2fa = 🔐 Turn on 2FA
button-new-backup-codes = 🔄 New backup codes
button-sign-ins-on = 🔔 Tell me about every sign-in
button-sign-ins-off = 🔕 Stop sign-in notifications
button-new-devices-on = 🔔 Tell me about new devices
button-new-devices-off = 🔕 Stop new-device notifications
