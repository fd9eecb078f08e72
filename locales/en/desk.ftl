# The staff group's side of the support desk (SUPPORT_LANGUAGE).

desk-category-no_account = no account on the phone
desk-category-lost_contact = lost e-mail or phone
desk-category-lost_2fa = lost 2FA device
desk-category-locked = account locked
desk-category-not_me = “it wasn't me”
desk-category-other = other

desk-card-title = 🆘 <b>Ticket { $ticket }</b> · { $category }
desk-card-title-urgent = 🚨 <b>URGENT ticket { $ticket }</b> · { $category }
desk-card-user = 👤 { $user } · id <code>{ $id }</code> · { $language }
desk-card-user-email = the account's e-mail (“This wasn't me” link)
desk-card-verified = <b>Verified by the bot</b>
desk-card-phone = Phone: <code>{ $phone }</code> (the user's own contact)
desk-card-phone-none = Phone: not verified
desk-card-account = Account: <code>{ $login }</code> · { $name } · { $company } · { $email }
desk-card-account-none = Account: none verified
desk-card-lock-temporary = Lock: { $failures } failed sign-ins, locked until { $until }
desk-card-lock-permanent = Lock: permanent since { $since }
desk-card-lock-blocked = Lock: blocked by an administrator since { $since }
desk-card-lock-none = Lock: none
desk-card-licence-ok = Subscription: active
desk-card-licence-ended = Subscription: ended { $date }
desk-card-two-factor-on = 2FA: on since { $since }, { $count ->
        [one] { $count } backup code left
       *[other] { $count } backup codes left
    }
desk-card-two-factor-off = 2FA: off
desk-card-recovery-blocked = ⛔ Recovery blocked since { $since } (“it wasn't me”)
desk-card-claimed = <b>What the user says</b>
desk-card-claimed-login-found = Login or e-mail: { $login } (matches account <code>{ $account }</code>)
desk-card-claimed-login-unknown = Login or e-mail: { $login } (no such account)
desk-card-claimed-company = Company: { $company }
desk-card-claimed-sign-in = Last sign-in: { $claimed } (the CRM's record: { $real })
desk-card-not-given = not given
desk-card-unknown = unknown
desk-card-description = Description: { $text }
desk-card-description-continued = … (the whole text follows)

desk-status-open = Status: waiting, nobody has taken it
desk-status-taken = Status: taken by { $name }
desk-status-closed = Status: closed by { $name }
desk-status-rejected = Status: rejected by { $name }: { $reason }
desk-status-rating = { " " }· rated { $rating }/5
desk-status-unreachable = { " " }· ⚠️ the user blocked the bot
desk-status-since = { " " }· opened { $time }

desk-card-last-action = Last action: { $action } by { $name }, { $time }
desk-action-take = taken
desk-action-release = released
desk-action-link = reset link sent
desk-action-unlock = unlocked
desk-action-unblock = recovery block lifted
desk-action-reset_2fa = 2FA turned off
desk-action-close = closed
desk-action-reject = rejected

desk-button-take = 🙋 Take
desk-button-release = ↩️ Release
desk-button-send-link = 🔑 Send reset link
desk-button-unlock = 🔓 Unlock
desk-button-lift-block = ✅ Lift recovery block
desk-button-reset-2fa = 📵 Reset 2FA
desk-button-close = ✅ Close
desk-button-reject = ⛔ Reject

desk-user-wrote = 💬 { $ticket } · { $name }:
desk-user-edited = ✏️ { $ticket } · { $name } edited a message:
desk-signature = <b>Support:</b>

desk-notice-asked-again = ↪️ { $ticket }: the user asked for help again ({ $category }).
desk-notice-user-closed = ✅ { $ticket }: the user closed the ticket.
desk-notice-user-reopened = ↩️ { $ticket }: the user reopened the ticket.
desk-notice-rated = ⭐ { $ticket }: the user rated the help { $rating }/5.
desk-notice-rating-comment = 💬 { $ticket }: the user's comment on the rating: { $text }
desk-notice-user-unreachable = ⚠️ { $ticket }: the user blocked the bot; replies can't reach them until they write again.
desk-notice-link-sent = 🔑 { $ticket }: { $name } sent the user a reset link.
desk-notice-unknown = { $ticket }: an update this version can't show.

desk-refused-foreign = This button doesn't belong to this ticket's card.
desk-refused-not-staff = Only members of the staff group can do this.
desk-refused-not-admin = Only staff admins can do this.
desk-taken-by = { $name } has already taken this ticket.
desk-not-applicable = Not possible in the ticket's current state.
desk-two-factor-already-off = 2FA is already off for this account: nothing was changed.
desk-link-needs-proof = The user is not yet confirmed for this account: ask them to choose “I forgot my password” in the bot; they will get a code by e-mail.
desk-link-not-sent = No link was sent: the account's limits or a recovery block stop it. The user was told why.
desk-link-not-delivered = The link could not be delivered to the user.
desk-reject-ask = { $name }, why is { $ticket } rejected? Reply to this message; the user will see your answer.
desk-ticket-not-open = { $ticket } is no longer open; your message was not sent to the user.

desk-reminder = ⏰ { $ticket } has waited { $minutes } min and nobody has taken it.
desk-reminder-admins = Staff admins: { $admins }

desk-chat-id = This chat's id: <code>{ $id }</code>. Set SUPPORT_CHAT_ID to it to make this the staff group.
desk-tickets-title = <b>Open tickets, oldest first</b>
desk-tickets-none = No open tickets.
desk-find-title = <b>Tickets about this login</b>
desk-find-none = No tickets about this login.
desk-find-usage = Usage: /find LOGIN
desk-ticket-usage = Usage: /ticket 123
desk-ticket-unknown = No such ticket.
desk-list-line = { $ticket } · { $category } · { $name } · { $age } · { $who }
desk-list-untaken = not taken
desk-list-closed = closed
desk-list-rejected = rejected
desk-age = { $days ->
        [0] { $hours ->
                [0] { $minutes } min
               *[other] { $hours } h { $minutes } min
            }
       *[other] { $days } d { $hours } h
    }
desk-history-title = <b>History</b>
desk-history-user = the user
