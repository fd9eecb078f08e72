# The menu, commands and messages shared by every flow.

start-greeting = Hello, { $name }! I help employees get back into their CRM accounts after a forgotten password, a locked account, a lost two-factor authentication (2FA) device, a lost phone or e-mail, or an expired subscription.

    What happened?
menu-prompt = What happened? Choose below.
unknown-command = I don't know that command. Choose what happened below, or send /help.
cancelled = Cancelled. Back to the menu.

menu-forgot-password = 🔑 I forgot my password
menu-account-locked = 🔒 My account is locked
menu-lost-2fa = 📱 I lost my 2FA device
menu-lost-contact = ✉️ I lost my e-mail or phone
menu-subscription-expired = ⏳ My subscription has expired
menu-other = ❓ Something else

button-back-to-menu = ⬅️ Back to menu
button-stale = This button is out of date. Please use the menu.

command-start = Start over and show the menu
command-help = What this bot can do
command-cancel = Cancel the current step
command-language = Change the language

help-text = I restore access to your CRM account.

    • <b>Forgot password</b>: share your phone number with the button I show, and I'll send you a one-time link to set a new password.
    • <b>Subscription expired</b>: share your phone number and I'll tell you what the CRM has on file for your company's subscription.
    • Your phone must be the one your company has on file for your account.
    • The link works once and for a short time; never share it.

    For anything else, contact your company's CRM administrator.

    Commands:
    /start – the menu
    /cancel – stop the current step
    /language – English or Russian
    /help – this message

language-prompt = Choose your language:
language-name = 🇬🇧 English
language-set = Done, I'll speak English from now on.

topic-lost-2fa = If you saved backup codes when you turned on two-factor authentication (2FA), sign in to the CRM with one of them instead of the code from the app.

    No codes? Contact your company's CRM administrator: they can confirm who you are and ask the CRM support team to reset 2FA for you.
topic-lost-contact = If you lost the e-mail or phone your account is linked to:

    • restore the mailbox through its provider (Gmail, Outlook…);
    • get a replacement SIM card from your mobile operator;
    • ask your company's CRM administrator to update your contacts in the CRM.
topic-other = For anything I can't do here, contact your company's CRM administrator: they can reach the CRM support team for you.

not-me-recorded = I've recorded in the audit log that you didn't change this password. Nothing else happens: the account is not blocked, and nobody is notified automatically.

    Contact your company's CRM administrator right away and tell them your password was changed without you. Don't share any codes or links with anyone.

internal-error = Sorry, something went wrong on our side. Please try again in a minute.
