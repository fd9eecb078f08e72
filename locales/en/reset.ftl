# "Forgot password" in the bot: the contact check and the reset link.

reset-ask-phone = To confirm it's you, share your phone number with the button below. I'll look up the CRM account linked to it.
button-share-phone = 📱 Share my phone number
button-cancel = Cancel

reset-contact-expected = Please tap “📱 Share my phone number” below; I can't accept a typed number or other messages here.
reset-contact-not-own = That is not your own contact. For your safety I can only accept your own number, shared with the button below.
reset-contact-no-user = This contact isn't linked to a Telegram account, so it can't confirm who you are. Please share your own number with the button below.
reset-contact-invalid = I couldn't read that phone number. Please share your number with the button below.
reset-contact-not-private = For your privacy, please do this in a private chat with me.

reset-contact-stale = It's been a while since you confirmed your number. For your safety, please share it again.
reset-phone-verified = Thank you, your number is confirmed.
reset-no-account = I couldn't restore access automatically for this number. If you think this is a mistake, support will help you.
reset-choose-account = Several accounts are linked to your number. Which one do you want to recover?
reset-choose-account-hint = Please choose the account with one of the buttons above, or go back to the menu.

reset-link-sent = Here is your link to set a new password:
    { $url }

    It works once and expires at { $expires }. Never share it with anyone, support included. A new link cancels this one.
reset-rate-limited = Too many reset links have been requested for this account. Please try again at { $time }.

password-changed = The password of your CRM account { $login } has just been changed. You can sign in with the new one now.

    If you didn't do this, tap “It wasn't me” right away.
button-not-me = 🚨 It wasn't me
