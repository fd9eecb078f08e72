# "Forgot password" in the bot: the reset link and what follows it.

reset-ask-phone = To confirm it's you, share your phone number with the button below. I'll find your CRM account by it and send you a link to reset your password.
button-open-reset-page = 🔑 Open the reset page

reset-link-sent = Here is your link to reset your password:
    { $url }

    It works once, until { $expires }. Never share it with anyone, CRM staff included. A new link cancels this one; once the link is used or expires, I'll delete this message.
reset-rate-limited = Too many reset links have been requested for this account. Please try again after { $time }.
reset-recovery-blocked = Password recovery for this account is on hold: you told us a change to it was not yours. Our support team has your request and will contact you here; until then no reset links are sent.
reset-link-retracted = This link to reset your password is no longer valid. If you still need one, choose “I forgot my password” in the menu.

password-changed = The password of your CRM account { $login } was changed { $day ->
        [today] at { $time }
       *[other] on { $time }
    }. You can sign in with the new one now.

    If you didn't do this, tap “It wasn't me” and contact your company's CRM administrator right away.
button-not-me = 🚨 It wasn't me
