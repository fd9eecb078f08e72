# The user's side of the support desk: tickets, their questions, /status
# and /privacy.

button-talk-to-support = 💬 Talk to support
button-skip = Skip ⏭
button-submit-ticket = ✅ Send to support
button-cancel-ticket = ✖️ Cancel
button-close-ticket = ✅ My problem is solved: close the ticket
button-reopen-ticket = ↩️ Reopen the ticket

command-status = My requests and account status
command-privacy = What is stored about me

support-unavailable = Our support team can't be reached through this bot yet. Please contact your company's CRM administrator: they can reach the CRM support team for you.
support-unavailable-contact = Our support team can't be reached through this bot yet. Please contact them directly: { $contact }

ticket-intro-lost-contact = If you lost the e-mail or phone your account is linked to, our support team can confirm who you are and update your contacts. A few questions first, so they can help you faster.
ticket-intro-lost-2fa = No backup codes at hand? Our support team can reset two-factor authentication once they have confirmed who you are. A few questions first.
ticket-intro-no-account = I'll pass your request to our support team: they can find your account even if it has another phone number on file. A few questions first.
ticket-intro-locked = I'll pass your request to our support team, with what I know about the lock. A few questions first.
ticket-intro-other = I'll pass your request to our support team. A few questions first, so they can help you faster.
ticket-draft-resumed = You have started writing a request to support; let's finish it.

ticket-ask-login = What is the login or e-mail of your CRM account?
ticket-ask-company = Which company do you work for (as it is named in the CRM)?
ticket-ask-sign-in = When did you last sign in to the CRM successfully? For example “today”, “yesterday” or 21.11.2026.
ticket-ask-description = Describe the problem in a few words: what you tried and what you see (the error message, if there is one).
ticket-ask-attachments = If you have screenshots of the error or documents that help, send them now (up to { $max }), then press “Send to support”.
ticket-attachment-received = Got it ({ $count } of { $max }). Send more, or press “Send to support”.
ticket-attachments-hint = Send screenshots or documents as photos or files, or press “Send to support”.
ticket-need-text = Please answer with a text message.
ticket-answer-too-long = That's too long for this question; please keep it under 200 characters.
ticket-date-unreadable = I didn't understand that date. Write it like 21.11.2026, “today” or “yesterday”, or press Skip.
ticket-date-in-future = That date is in the future. When did you last sign in successfully?
ticket-date-too-old = That's more than ten years ago. Please check the date, or press Skip.

ticket-submitted = Your request { $ticket } is with our support team. Expect an answer by { $due }.

    Everything you send here now goes to them: write, or send screenshots. Their answers come here, signed “Support”.
ticket-continues = You already have an open request, { $ticket }. Everything you send here goes to it: just write what else happened.
ticket-closed-by-you = Request { $ticket } is closed. If the problem comes back, you can reopen it within 7 days.
ticket-reopened = Request { $ticket } is open again. Write here what happened; everything you send goes to our support team.
ticket-cannot-reopen = This request can't be reopened any more (it was closed more than 7 days ago, or you have another open one). Start a new one from the menu if you still need help.
ticket-closed-by-staff = Our support team has closed your request { $ticket }. How did we do? Rate it from 1 to 5.
ticket-rated = Thank you! If you'd like to tell us more, write a comment, or press Skip.
ticket-thanks = Thank you for your feedback!
ticket-rejected = Our support team can't take request { $ticket } further: { $reason }
ticket-unlocked = Good news about request { $ticket }: our support team has unlocked your account. You can sign in now.
ticket-recovery-unblocked = About request { $ticket }: our support team has lifted the hold on password recovery for your account. You can reset your password from the menu again.
ticket-two-factor-reset = About request { $ticket }: our support team has turned off two-factor authentication (2FA) for your account, and its old backup codes no longer work. You can set up 2FA again under “My security” in the menu.
ticket-update = There is news about your request { $ticket }.

not-me-ticket = I've blocked password recovery for this account and opened an urgent request for our support team: { $ticket }. They will contact you here.

    Until then, don't share any codes or links with anyone. Anything you send here goes to the support team.

ticket-category-no_account = no account on my phone
ticket-category-lost_contact = lost e-mail or phone
ticket-category-lost_2fa = lost 2FA device
ticket-category-locked = account locked
ticket-category-not_me = a change I didn't make
ticket-category-other = other question

status-title = <b>Your requests</b>
status-no-tickets = You have no requests to support.
status-ticket = { $ticket } · { $category } · { $state } (since { $since })
status-ticket-open = waiting for support
status-ticket-taken = support is on it
status-ticket-closed = closed
status-ticket-rejected = declined
status-locked-until = Account { $login } is locked until { $until }.
status-blocked = Account { $login } is blocked; only support can lift it.
status-not-locked = Account { $login } is not locked.
status-recovery-blocked = Password recovery for { $login } is on hold until support lifts it.

privacy-text = <b>What this bot stores about you</b>

    • Your Telegram id, your language, and the last phone number you shared and had verified, with the time: to find your CRM account. Kept until you share another phone number or ask us to delete them.
    • Your requests to support and the messages you sent in them, with their history. Kept until you ask us to delete them.
    • A security log of what happened (for example “a reset link was sent”), without passwords, codes or links. Kept for as long as the security policy of the company running this bot requires.

    Passwords are stored only as a one-way hash, and reset links only as a hash of the link.

    To have your data deleted, send a request to support with the button below.
