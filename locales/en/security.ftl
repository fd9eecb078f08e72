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
