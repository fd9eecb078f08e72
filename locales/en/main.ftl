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
menu-my-security = 🛡 My security
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

    For anything else, I pass your request to our support team, and their answers come here.

    Commands:
    /start – the menu
    /cancel – stop the current step
    /status – your requests to support and your account's state
    /privacy – what is stored about you
    /language – English or Russian
    /help – this message

language-prompt = Choose your language:
language-name = 🇬🇧 English
language-set = Done, I'll speak English from now on.

not-me-recorded = I've blocked password recovery for this account and recorded that the change wasn't yours. No reset links will be sent for it until the block is lifted.

    Contact your company's CRM administrator right away and tell them your password was changed without you. Don't share any codes or links with anyone.

internal-error = Sorry, something went wrong on our side. Please try again in a minute.
