# Proving who you are: the shared contact and the account pick, for every flow.

button-share-phone = 📱 Share my phone number
button-cancel = Cancel

identity-contact-expected = Please tap “📱 Share my phone number” below; I can't accept a typed number or other messages here.
identity-contact-not-own = That is not your own contact. For your safety I can only accept your own number, shared with the button below.
identity-contact-no-user = This contact isn't linked to a Telegram account, so it can't confirm who you are. Please share your own number with the button below.
identity-contact-invalid = I couldn't read that phone number. Please share your number with the button below.
identity-contact-not-private = For your privacy, please do this in a private chat with me.
identity-contact-stale = It's been a while since you confirmed your number. For your safety, please share it again with the button below.
identity-no-account = I couldn't find a CRM account for this number that I can help with. If you think this is a mistake, contact your company's CRM administrator: they can check which phone number is on your account.
identity-choose-account = Your number is linked to several accounts. Which one?
identity-choose-account-hint = Please choose the account with one of the buttons above, or go back to the menu.
