# The reset page served by the HTTP service.

page-title = { $brand }: new password
page-heading = Set a new password
page-account = Account: { $login }
page-password = New password
page-confirm = Repeat the new password
page-show-password = Show password
page-hide-password = Hide password
page-strength = Password strength
page-strength-ok = Strong enough.
page-submit = Save the password
page-back-to-sign-in = Back to { $brand } sign-in
page-done-heading = Password changed
page-done-text = Your new password is saved and you can sign in now. You will be signed out on your other devices.
page-invalid-heading = This link doesn't work
page-invalid-text = It may have expired, been used already, or been replaced by a newer one. Ask the Telegram bot for a new link.
page-spent-text = This link has been used up: it allows only a few tries. Ask the Telegram bot for a new link.
page-busy-heading = Too busy right now
page-busy-text = Many people are setting passwords at this moment. Your link still works: please try again in a minute.
page-too-many-heading = Too many attempts
page-too-many-text = Too many invalid links were opened from your network. Please wait a minute, then open the link from your latest Telegram message.
page-error-heading = Something went wrong
page-error-text = We couldn't complete the request. Please try again in a few minutes.
