//! The staff group's side of the support desk: replies relayed to users,
//! the buttons on a card (checked against who pressed them), the reason for
//! a rejection, the group's commands, and following the group when Telegram
//! upgrades it. No dialogue here: the group's members would share one, so a
//! ticket's state lives in its own tables.

use teloxide::{
    prelude::*,
    types::{ForceReply, Me, MessageId, ReplyParameters, ThreadId},
    utils::command::BotCommands,
};

use super::{
    BotSettings, BotT, HandlerResult,
    callbacks::StaffPress,
    desk::{self, Desk},
    escape,
    identity::Reply,
    reset,
    support::{full_name, relayed_kind},
    telegram_user,
};
use crate::{
    domain::{AuditEvent, AuditOutcome, StaffAction, Ticket, TicketStatus},
    i18n::{arg, t, t_args},
    recovery::{Recovery, SecondProof, StaffMember, StaffOutcome, VerifiedAccount},
    store::AuditEntry,
};

/// Commands in the staff group.
#[derive(BotCommands, Clone, Debug, PartialEq)]
#[command(rename_rule = "lowercase")]
pub enum StaffCommand {
    Tickets,
    Ticket(String),
    Find(String),
    Chatid,
}

/// Text that starts so stays in the group as a note between staff.
const INTERNAL_NOTE: &str = "//";
/// Tickets `/tickets` and `/find` list at most.
const LIST_LIMIT: i64 = 30;

/// Any message in a group chat. Only the staff group is served (and
/// `/chatid` anywhere, so operators can find a group's id).
pub async fn on_group_message(
    bot: BotT,
    msg: Message,
    me: Me,
    recovery: Recovery,
    desk: Desk,
) -> HandlerResult {
    if let Some(members) = msg.new_chat_members()
        && members.iter().any(|member| member.id == me.id)
    {
        tracing::info!(
            chat_id = msg.chat.id.0,
            title = msg.chat.title().unwrap_or_default(),
            "the bot was added to a group; set SUPPORT_CHAT_ID to this id to make it the staff group"
        );
        return Ok(());
    }
    if let Some(text) = msg.text()
        && let Ok(command) = StaffCommand::parse(text, me.username())
    {
        return on_command(&bot, &msg, command, &recovery, &desk).await;
    }
    if !desk.is_staff_chat(msg.chat.id) {
        return Ok(());
    }
    if let Some(new) = msg.migrate_to_chat_id() {
        desk.moved(&recovery, msg.chat.id.0, new.0).await?;
        return Ok(());
    }
    let Some(from) = msg.from.as_ref().filter(|from| !from.is_bot) else { return Ok(()) };
    let Some(kind) = relayed_kind(&msg) else { return Ok(()) };
    // Notes between staff, and commands meant for other bots, stay here.
    if msg.text().is_some_and(|text| {
        let text = text.trim_start();
        text.starts_with(INTERNAL_NOTE) || text.starts_with('/')
    }) {
        return Ok(());
    }
    let chat = msg.chat.id.0;
    let lang = desk.language;
    // A reply to one of the ticket's messages, or any message in its topic.
    let mut ticket = None;
    if let Some(replied) = msg.reply_to_message()
        && let Some(mapped) = recovery.store.group_message(chat, i64::from(replied.id.0)).await?
    {
        if mapped.role == "reject_prompt" {
            if mapped.staff_id != Some(telegram_user(from)) {
                return Ok(());
            }
            let reason = msg.text().unwrap_or_default().trim().to_owned();
            let staff = StaffMember { id: telegram_user(from), name: full_name(from) };
            if reason.is_empty() {
                return Ok(());
            }
            let r = recovery.reject_ticket(mapped.ticket_id, &staff, &reason).await;
            if r?.is_some() {
                close_topic(&bot, &recovery, mapped.ticket_id).await;
            }
            return Ok(());
        }
        ticket = recovery.store.ticket(mapped.ticket_id).await?;
    }
    if ticket.is_none()
        && msg.is_topic_message
        && let Some(thread) = msg.thread_id
    {
        ticket = recovery.store.ticket_by_topic(chat, i64::from(thread.0.0)).await?;
    }
    let Some(ticket) = ticket else { return Ok(()) };
    if ticket.status != TicketStatus::Open {
        let text = t_args(lang, "desk-ticket-not-open", &[("ticket", arg(ticket.label()))]);
        let mut request = bot
            .send_message(msg.chat.id, text)
            .reply_parameters(ReplyParameters::new(msg.id).allow_sending_without_reply());
        if let Some(thread) = msg.thread_id.filter(|_| msg.is_topic_message) {
            request = request.message_thread_id(thread);
        }
        request.await?;
        return Ok(());
    }
    recovery.relay_from_staff(&ticket, chat, i64::from(msg.id.0), &kind).await?;
    Ok(())
}

async fn on_command(
    bot: &BotT,
    msg: &Message,
    command: StaffCommand,
    recovery: &Recovery,
    desk: &Desk,
) -> HandlerResult {
    let lang = desk.language;
    let chat = msg.chat.id;
    if command == StaffCommand::Chatid {
        tracing::info!(chat_id = chat.0, "/chatid asked in a group");
        let text = t_args(lang, "desk-chat-id", &[("id", arg(chat.0.to_string()))]);
        reply_in_place(bot, msg, text).await?;
        return Ok(());
    }
    if !desk.is_staff_chat(chat) {
        return Ok(());
    }
    let now = recovery.now();
    let text = match command {
        StaffCommand::Tickets => {
            let tickets = recovery.store.open_tickets(LIST_LIMIT).await?;
            list(lang, &tickets, now, "desk-tickets-title", "desk-tickets-none")
        }
        StaffCommand::Find(login) if !login.trim().is_empty() => {
            let tickets = recovery.store.tickets_about_login(login.trim(), LIST_LIMIT).await?;
            list(lang, &tickets, now, "desk-find-title", "desk-find-none")
        }
        StaffCommand::Ticket(number) => match number.trim().trim_start_matches('#').parse() {
            Ok(number) => match recovery.store.ticket_by_number(number).await? {
                Some(ticket) => history(desk, recovery, &ticket).await?,
                None => t(lang, "desk-ticket-unknown"),
            },
            Err(_) => t(lang, "desk-ticket-usage"),
        },
        StaffCommand::Find(_) => t(lang, "desk-find-usage"),
        StaffCommand::Chatid => return Ok(()),
    };
    reply_in_place(bot, msg, text).await
}

/// Answers in the same place (topic) as the command.
async fn reply_in_place(bot: &BotT, msg: &Message, text: String) -> HandlerResult {
    let mut request = bot
        .send_message(msg.chat.id, text)
        .reply_parameters(ReplyParameters::new(msg.id).allow_sending_without_reply());
    if let Some(thread) = msg.thread_id.filter(|_| msg.is_topic_message) {
        request = request.message_thread_id(thread);
    }
    request.await?;
    Ok(())
}

fn list(
    lang: crate::domain::Lang,
    tickets: &[Ticket],
    now: chrono::DateTime<chrono::Utc>,
    title: &str,
    none: &str,
) -> String {
    if tickets.is_empty() {
        return t(lang, none);
    }
    let mut lines = vec![t(lang, title)];
    for ticket in tickets {
        let since = ticket.submitted_at.unwrap_or(ticket.created_at);
        let minutes = (now - since).num_minutes().max(0);
        let who = match (&ticket.status, &ticket.taken_by_name) {
            (TicketStatus::Open, Some(name)) => escape(name),
            (TicketStatus::Open, None) => t(lang, "desk-list-untaken"),
            (TicketStatus::Closed, _) => t(lang, "desk-list-closed"),
            (TicketStatus::Rejected, _) => t(lang, "desk-list-rejected"),
            (TicketStatus::Draft, _) => t(lang, "desk-list-untaken"),
        };
        lines.push(t_args(
            lang,
            "desk-list-line",
            &[
                ("ticket", arg(ticket.label())),
                ("category", arg(t(lang, &format!("desk-category-{}", ticket.category.as_str())))),
                ("name", arg(escape(&desk::reporter(ticket, lang)))),
                ("age", arg(age(lang, minutes))),
                ("who", arg(who)),
            ],
        ));
    }
    lines.join("\n")
}

/// "25 min", "3 h 10 min", "2 d 4 h".
fn age(lang: crate::domain::Lang, minutes: i64) -> String {
    let (days, hours, mins) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    t_args(
        lang,
        "desk-age",
        &[("days", days.into()), ("hours", hours.into()), ("minutes", mins.into())],
    )
}

/// `/ticket N`: the card's text and the ticket's history.
async fn history(desk: &Desk, recovery: &Recovery, ticket: &Ticket) -> anyhow::Result<String> {
    let lang = desk.language;
    let now = recovery.now();
    let card = desk::render_card(desk, recovery, ticket).await.map_err(|error| match error {
        desk::RelayError::Store(error) => anyhow::Error::from(error),
        desk::RelayError::Telegram(error) => anyhow::Error::from(error),
    })?;
    let mut lines = vec![card, String::new(), t(lang, "desk-history-title")];
    for event in recovery.store.ticket_events(ticket.id).await? {
        let who =
            event.actor_name.as_deref().map(escape).unwrap_or_else(|| t(lang, "desk-history-user"));
        let mut line =
            format!("{} · {who} · {}", desk::desk_time(desk, event.at, now), escape(&event.event));
        if let Some(detail) = event.detail {
            line.push_str(&format!(": {}", escape(&detail)));
        }
        lines.push(line);
    }
    // The card alone is within the limit; a long history is cut, oldest kept.
    let mut text = lines.join("\n");
    if super::text::utf16_len(&text) > super::text::MAX_TEXT {
        text = text.chars().take(3900).collect();
        text.push('…');
    }
    Ok(text)
}

/// A press on a card's button: only staff, only on that ticket's card, and
/// the privileged actions only for staff admins.
pub async fn on_staff_button(
    bot: BotT,
    query: CallbackQuery,
    StaffPress(ticket_id, action): StaffPress,
    recovery: Recovery,
    desk: Desk,
    settings: BotSettings,
) -> HandlerResult {
    let lang = desk.language;
    let presser = telegram_user(&query.from);
    let staff = StaffMember { id: presser, name: full_name(&query.from) };
    let ticket = recovery.store.ticket(ticket_id).await?;
    let on_its_card = match (&query.message, &ticket) {
        (Some(message), Some(ticket)) => {
            desk.is_staff_chat(message.chat().id)
                && ticket.group_chat_id == Some(message.chat().id.0)
                && ticket.card_message_id == Some(i64::from(message.id().0))
        }
        _ => false,
    };
    let (Some(ticket), true) = (ticket, on_its_card) else {
        return refuse(
            &bot,
            &query,
            &recovery,
            &staff,
            action,
            "not the ticket's card",
            "desk-refused-foreign",
            lang,
        )
        .await;
    };
    let chat = ticket.group_chat_id.unwrap_or_default();
    let (member, admin) = desk::staff_rights(&bot, &desk, chat, presser).await;
    if !member {
        return refuse(
            &bot,
            &query,
            &recovery,
            &staff,
            action,
            "not a member of the staff group",
            "desk-refused-not-staff",
            lang,
        )
        .await;
    }
    if action.needs_admin() && !admin {
        return refuse(
            &bot,
            &query,
            &recovery,
            &staff,
            action,
            "not a staff admin",
            "desk-refused-not-admin",
            lang,
        )
        .await;
    }
    let notice = match action {
        StaffAction::SendLink => {
            send_link(&bot, &recovery, &settings, &ticket, &staff, lang).await?
        }
        StaffAction::Reject => {
            ask_reason(&bot, &recovery, &desk, &ticket, &staff).await?;
            None
        }
        action => match recovery.staff_act(ticket_id, action, &staff).await? {
            StaffOutcome::Done(ticket) => {
                if action == StaffAction::Close {
                    close_topic(&bot, &recovery, ticket.id).await;
                }
                None
            }
            StaffOutcome::TakenBy(name) => {
                Some(t_args(lang, "desk-taken-by", &[("name", arg(name))]))
            }
            StaffOutcome::NotApplicable => Some(t(lang, "desk-not-applicable")),
            StaffOutcome::TwoFactorAlreadyOff => Some(t(lang, "desk-two-factor-already-off")),
        },
    };
    let mut answer = bot.answer_callback_query(query.id.clone());
    if let Some(text) = notice {
        answer = answer.text(text).show_alert(true);
    }
    if let Err(error) = answer.await {
        tracing::info!(%error, "staff button press not answered (too old?)");
    }
    Ok(())
}

/// Refuses a press with an alert, audited.
#[allow(clippy::too_many_arguments)]
async fn refuse(
    bot: &BotT,
    query: &CallbackQuery,
    recovery: &Recovery,
    staff: &StaffMember,
    action: StaffAction,
    why: &str,
    key: &str,
    lang: crate::domain::Lang,
) -> HandlerResult {
    tracing::warn!(user = %staff.id, action = action.code(), why, "staff button refused");
    recovery
        .audit_entry(
            AuditEntry::new(AuditEvent::StaffActionRefused, AuditOutcome::Refused)
                .user(staff.id)
                .detail(format!("{}: {why}", action.code())),
        )
        .await;
    let answer = bot.answer_callback_query(query.id.clone()).text(t(lang, key)).show_alert(true);
    if let Err(error) = answer.await {
        tracing::info!(%error, "refusal not answered (too old?)");
    }
    Ok(())
}

/// "Send reset link": a fresh link for the ticket's verified account,
/// through the normal rules, straight to the user (a link is a secret and
/// never waits in the outbox); staff see the outcome.
async fn send_link(
    bot: &BotT,
    recovery: &Recovery,
    settings: &BotSettings,
    ticket: &Ticket,
    staff: &StaffMember,
    staff_lang: crate::domain::Lang,
) -> anyhow::Result<Option<String>> {
    let lang = ticket.lang;
    let Some(account) = recovery.ticket_account(ticket).await?.filter(|a| a.is_active()) else {
        return Ok(Some(t(staff_lang, "desk-not-applicable")));
    };
    if ticket.status != TicketStatus::Open {
        return Ok(Some(t(staff_lang, "desk-not-applicable")));
    }
    // A user not yet bound gives the second proof themselves, in the bot.
    if recovery.second_proof(ticket.user, &account).await? != SecondProof::None {
        return Ok(Some(t(staff_lang, "desk-link-needs-proof")));
    }
    let verified = VerifiedAccount {
        tg_user_id: ticket.user,
        phone: account.phone.clone(),
        verified_at: recovery.now(),
        account,
    };
    let reply = Reply::New(ChatId(ticket.user.0));
    match reset::send_link(bot, reply, lang, recovery, settings, verified).await {
        Ok(true) => {
            recovery.link_sent_by_staff(ticket, staff).await?;
            Ok(None)
        }
        Ok(false) => Ok(Some(t(staff_lang, "desk-link-not-sent"))),
        Err(error) => {
            tracing::info!(%error, ticket = ticket.label(), "reset link not delivered");
            if error
                .downcast_ref::<teloxide::RequestError>()
                .is_some_and(|error| desk::says(error, desk::says::USER_GONE))
            {
                recovery.user_unreachable(ticket).await?;
            }
            Ok(Some(t(staff_lang, "desk-link-not-delivered")))
        }
    }
}

/// "Reject": asks the staff member for the reason with a forced reply; their
/// reply rejects the ticket.
async fn ask_reason(
    bot: &BotT,
    recovery: &Recovery,
    desk: &Desk,
    ticket: &Ticket,
    staff: &StaffMember,
) -> HandlerResult {
    let lang = desk.language;
    let Some(chat) = ticket.group_chat_id else { return Ok(()) };
    let text = t_args(
        lang,
        "desk-reject-ask",
        &[
            ("ticket", arg(ticket.label())),
            (
                "name",
                arg(format!("<a href=\"tg://user?id={}\">{}</a>", staff.id, escape(&staff.name))),
            ),
        ],
    );
    let mut request =
        bot.send_message(ChatId(chat), text).reply_markup(ForceReply::new().selective());
    match ticket.topic_id {
        Some(topic) => request = request.message_thread_id(ThreadId(MessageId(topic as i32))),
        None => {
            if let Some(card) = ticket.card_message_id {
                request = request.reply_parameters(
                    ReplyParameters::new(MessageId(card as i32)).allow_sending_without_reply(),
                );
            }
        }
    }
    let prompt = request.await?;
    recovery
        .store
        .map_group_message(
            chat,
            i64::from(prompt.id.0),
            ticket.id,
            "reject_prompt",
            Some(staff.id),
            recovery.now(),
        )
        .await?;
    Ok(())
}

/// In a forum, a closed ticket's topic is closed too; best effort.
async fn close_topic(bot: &BotT, recovery: &Recovery, id: crate::domain::TicketId) {
    let Ok(Some(ticket)) = recovery.store.ticket(id).await else { return };
    let (Some(chat), Some(topic)) = (ticket.group_chat_id, ticket.topic_id) else { return };
    if let Err(error) = bot.close_forum_topic(ChatId(chat), ThreadId(MessageId(topic as i32))).await
        && !desk::says(&error, desk::says::NOT_MODIFIED)
    {
        tracing::warn!(%error, ticket = ticket.label(), "the ticket's topic could not be closed");
    }
}

#[cfg(test)]
mod tests {
    use super::super::callbacks::Callback;
    use super::*;
    use crate::domain::TicketId;

    /// "Reset 2FA" on the card of the largest ticket id fits Telegram's
    /// 64 bytes and comes back as the same press.
    #[test]
    fn reset_two_factor_presses_round_trip() {
        for id in [1, i64::MAX] {
            let press = Callback::Staff(StaffPress(TicketId(id), StaffAction::ResetTwoFactor));
            let data = press.encode();
            assert!(data.len() <= 64, "{data}");
            assert_eq!(Callback::parse(&data), Some(press));
        }
        assert_eq!(Callback::parse("st:1:reset_2fa:x"), None);
        assert_eq!(Callback::parse("st:x:reset_2fa"), None);
        assert_eq!(Callback::parse("st:1:reset-2fa"), None);
    }
}
