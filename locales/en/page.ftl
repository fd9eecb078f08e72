# The reset page served by the HTTP service.

page-title = CRM password reset
page-heading = Set a new password
page-account = Account: { $login }
page-rules = At least { $min } and at most { $max } characters. Make it hard to guess: a few unrelated words work well. Don't use your login or e-mail.
page-password = New password
page-confirm = Repeat the new password
page-submit = Save the password
page-done-heading = Password changed
page-done-text = Your new password is saved and you can sign in to the CRM now. The CRM will sign you out on your other devices.
page-invalid-heading = This link doesn't work
page-invalid-text = It may have expired, been used already, or been replaced by a newer one. Ask the Telegram bot for a new link.
page-error-heading = Something went wrong
page-error-text = We couldn't complete the request. Please try again in a few minutes.
