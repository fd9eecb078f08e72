# The menu, commands and messages shared by every flow.

start-greeting = Hello, { $name }! I help employees get back into their CRM accounts: a forgotten password, a locked account, a lost authenticator, a lost phone or e-mail, an expired subscription.

    What happened?
menu-prompt = What happened? Choose below.
unknown-command = I don't know that command. Choose what happened below, or send /help.
cancelled = Cancelled. Back to the menu.

menu-forgot-password = 🔑 I forgot my password
menu-account-locked = 🔒 My account is locked
menu-lost-2fa = 📱 I lost my 2FA device
menu-lost-contact = ✉️ I lost my e-mail or phone
menu-subscription-expired = ⏳ Subscription expired
menu-support = 💬 Talk to support

button-back-to-menu = ⬅️ Back to menu
button-stale = This button is out of date. Please use the menu.

command-start = Start over and show the menu
command-help = What this bot can do
command-cancel = Cancel the current step
command-language = Change the language

help-text = I restore access to your CRM account.

    • <b>Forgot password</b>: share your phone number with the button I show, and I'll send you a one-time link to set a new password.
    • Your phone must be the one your company has on file for your account.
    • The link works once and for a short time; never share it.

    Commands:
    /start – the menu
    /cancel – stop the current step
    /language – English or Russian
    /help – this message

language-prompt = Choose your language:
language-name = 🇬🇧 English
language-set = Done, I'll speak English from now on.

topic-account-locked = After several wrong passwords the CRM locks the account for a while (usually 10–30 minutes) and then unlocks it by itself.

    Don't want to wait? Setting a new password unlocks the account at once: choose “I forgot my password”.
topic-lost-2fa = If you saved backup codes when you turned on two-step verification, sign in with one of them.

    No codes? Support will confirm your identity and reset two-step verification.
topic-lost-contact = If you lost the e-mail or phone your account is linked to:

    • restore the mailbox through its provider (Gmail, Outlook…);
    • get a replacement SIM card from your mobile operator;
    • ask your company's IT department.

    Support can also help once they have confirmed who you are.
topic-subscription-expired = If the CRM says your company's subscription has expired:

    • check the payment status in your company's CRM account;
    • ask your company's administrator or accounting to renew it.

    Access comes back as soon as the licence is extended.
topic-support = Talking to support through this bot is not available yet. For now, please contact your company's CRM administrator: they can reach the CRM support team for you.

not-me-recorded = Thank you. We have recorded that you did not change this password, and support will be told. To secure your account right away, contact your company's CRM administrator, and don't share any codes or links with anyone.

internal-error = Sorry, something went wrong on our side. Please try again in a minute.
