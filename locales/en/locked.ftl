# "My account is locked" in the bot: why, since when, until when.

locked-ask-phone = I'll check why your account is locked. To confirm it's you, share your phone number with the button below.
locked-temporarily = Your account { $login } is locked after { $failures } failed sign-in { $failures ->
        [one] attempt
       *[other] attempts
    } in a row, since { $since }.

    It unlocks by itself at { $until }, in { $minutes } { $minutes ->
        [one] minute
       *[other] minutes
    }. A new password unlocks it at once.
locked-permanently = Your account { $login } is locked since { $since } after repeated failed sign-ins, and it will not unlock by itself.

    Contact your company's CRM administrator: they can have it unlocked.
locked-blocked = Your account { $login } has been blocked by your company's CRM administrator since { $since }.

    Only they can lift the block: please contact them.
locked-not-locked = Nothing is blocking your account { $login } right now.

    If you still can't sign in:
    • check Caps Lock and the keyboard layout;
    • try another browser or device;
    • wait a few minutes and try again;
    • or set a new password.
locked-licence-ended = Also, your company's subscription ended on { $date }: nobody in the company can work until it is renewed. Ask your company's CRM administrator or accounting to renew it.
locked-will-notify = I'll send you a message as soon as the account unlocks, at { $until }.
locked-nothing-to-wait-for = There is no lock to wait for now: try to sign in again.
locked-unlocked-now = Your account { $login } is unlocked: you can sign in again.
button-notify-unlock = 🔔 Notify me when it unlocks
button-reset-now = 🔑 Reset the password now
