//! The user's side of the support desk: opening a ticket, the questions
//! staff need answered (seed section 3), the relay of the user's messages
//! while it is open, closing, reopening and rating it, and /status.

use teloxide::{prelude::*, types::User};

use super::{
    BotDialogue, BotT, HandlerResult, answer_button,
    callbacks::{SupportFor, TicketButton},
    desk::Desk,
    escape, keyboards,
    menu::send_menu,
    show_time,
    state::State,
    telegram_user,
};
use crate::{
    domain::{
        AccountId, Category, DraftStep, Lang, RelayedKind, SignInDateError, TicketId, TicketStatus,
        parse_sign_in_date, ticket::MAX_ATTACHMENTS,
    },
    i18n::{arg, t, t_args},
    recovery::{Recovery, TicketRequest},
    store::{DraftAnswer, Opened},
};

/// Longest answer to a short question (login, company).
const MAX_SHORT_ANSWER: usize = 200;

/// Opens a ticket of `category` (or continues the user's live one), and asks
/// the first question.
#[allow(clippy::too_many_arguments)]
pub async fn open(
    bot: &BotT,
    chat: ChatId,
    user: &User,
    lang: Lang,
    recovery: &Recovery,
    desk: &Desk,
    dialogue: &BotDialogue,
    category: Category,
    account_id: Option<AccountId>,
) -> HandlerResult {
    if desk.chat().is_none() {
        let text = match &desk.contact {
            Some(contact) => {
                t_args(lang, "support-unavailable-contact", &[("contact", arg(escape(contact)))])
            }
            None => t(lang, "support-unavailable"),
        };
        // Advice only: a step in progress (a contact keyboard on the
        // screen) stays open.
        bot.send_message(chat, text).reply_markup(keyboards::back_to_menu(lang)).await?;
        return Ok(());
    }
    let request = TicketRequest {
        user: telegram_user(user),
        user_name: full_name(user),
        username: user.username.clone(),
        lang,
        category,
        account_id,
    };
    match recovery.open_ticket(request).await? {
        Opened::New(draft) => {
            let step = DraftStep::first(draft.account_id.is_some());
            let intro = intro(lang, category);
            ask(bot, chat, lang, dialogue, draft.id, step, intro).await
        }
        Opened::Existing(ticket) if ticket.status == TicketStatus::Draft => {
            let step = DraftStep::first(ticket.account_id.is_some());
            let intro = Some(t(lang, "ticket-draft-resumed"));
            ask(bot, chat, lang, dialogue, ticket.id, step, intro).await
        }
        Opened::Existing(ticket) => {
            dialogue.update(State::Menu).await?;
            let text = t_args(lang, "ticket-continues", &[("ticket", arg(ticket.label()))]);
            bot.send_message(chat, text)
                .reply_markup(keyboards::open_ticket(lang, ticket.id))
                .await?;
            Ok(())
        }
    }
}

/// What a path's ticket starts with: why it came to support.
fn intro(lang: Lang, category: Category) -> Option<String> {
    let key = match category {
        Category::LostContact => "ticket-intro-lost-contact",
        Category::LostTwoFactor => "ticket-intro-lost-2fa",
        Category::NoAccount => "ticket-intro-no-account",
        Category::Locked => "ticket-intro-locked",
        Category::NotMe | Category::Other => "ticket-intro-other",
    };
    Some(t(lang, key))
}

/// Asks one question: one message, with Skip where it is optional.
async fn ask(
    bot: &BotT,
    chat: ChatId,
    lang: Lang,
    dialogue: &BotDialogue,
    ticket_id: TicketId,
    step: DraftStep,
    intro: Option<String>,
) -> HandlerResult {
    dialogue.update(State::TicketDraft { ticket_id, question: step }).await?;
    let question = match step {
        DraftStep::Login => t(lang, "ticket-ask-login"),
        DraftStep::Company => t(lang, "ticket-ask-company"),
        DraftStep::LastSignIn => t(lang, "ticket-ask-sign-in"),
        DraftStep::Description => t(lang, "ticket-ask-description"),
        DraftStep::Attachments => {
            t_args(lang, "ticket-ask-attachments", &[("max", MAX_ATTACHMENTS.into())])
        }
    };
    let text = match intro {
        Some(intro) => format!("{intro}\n\n{question}"),
        None => question,
    };
    let markup = match step {
        DraftStep::Attachments => keyboards::ticket_attachments(lang),
        step => keyboards::ticket_question(lang, step.skippable()),
    };
    bot.send_message(chat, text).reply_markup(markup).await?;
    Ok(())
}

/// A message while a ticket is being written: the answer to the current
/// question.
#[allow(clippy::too_many_arguments)]
pub async fn on_draft_message(
    bot: BotT,
    msg: Message,
    dialogue: BotDialogue,
    (ticket_id, step): (TicketId, DraftStep),
    lang: Lang,
    recovery: Recovery,
    desk: Desk,
) -> HandlerResult {
    let chat = msg.chat.id;
    let text = msg.text().map(str::trim).filter(|text| !text.is_empty());
    let answer = match (step, text) {
        (DraftStep::Attachments, _) => {
            return attach(&bot, &msg, &dialogue, ticket_id, lang, &recovery, &desk).await;
        }
        (DraftStep::Login | DraftStep::Company, Some(text))
            if text.chars().count() <= MAX_SHORT_ANSWER =>
        {
            if step == DraftStep::Login {
                DraftAnswer::Login(text.to_owned())
            } else {
                DraftAnswer::Company(text.to_owned())
            }
        }
        (DraftStep::LastSignIn, Some(text)) => {
            let today = recovery.now().with_timezone(&desk.default_time_zone).date_naive();
            match parse_sign_in_date(text, today) {
                Ok(date) => DraftAnswer::LastSignIn(date),
                Err(error) => {
                    let key = match error {
                        SignInDateError::Unreadable => "ticket-date-unreadable",
                        SignInDateError::InFuture => "ticket-date-in-future",
                        SignInDateError::TooOld => "ticket-date-too-old",
                    };
                    bot.send_message(chat, t(lang, key))
                        .reply_markup(keyboards::ticket_question(lang, true))
                        .await?;
                    return Ok(());
                }
            }
        }
        (DraftStep::Description, Some(text)) => DraftAnswer::Description(text.to_owned()),
        (DraftStep::Description, None) => {
            // A screenshot instead of words: its caption is the description.
            match msg.caption().map(str::trim).filter(|c| !c.is_empty()) {
                Some(caption) => {
                    if let Some(kind) = relayed_kind(&msg) {
                        let id = i64::from(msg.id.0);
                        recovery.attach_to_draft(ticket_id, chat.0, id, &kind).await?;
                    }
                    DraftAnswer::Description(caption.to_owned())
                }
                None => {
                    bot.send_message(chat, t(lang, "ticket-need-text"))
                        .reply_markup(keyboards::ticket_question(lang, false))
                        .await?;
                    return Ok(());
                }
            }
        }
        (_, Some(_)) => {
            bot.send_message(chat, t(lang, "ticket-answer-too-long"))
                .reply_markup(keyboards::ticket_question(lang, step.skippable()))
                .await?;
            return Ok(());
        }
        (_, None) => {
            bot.send_message(chat, t(lang, "ticket-need-text"))
                .reply_markup(keyboards::ticket_question(lang, step.skippable()))
                .await?;
            return Ok(());
        }
    };
    if !recovery.answer_draft(ticket_id, answer).await? {
        return abandoned(&bot, chat, lang, &dialogue).await;
    }
    next_step(&bot, chat, lang, &dialogue, ticket_id, step, &recovery, &desk).await
}

/// Goes to the question after `step`, or submits after the last one.
#[allow(clippy::too_many_arguments)]
async fn next_step(
    bot: &BotT,
    chat: ChatId,
    lang: Lang,
    dialogue: &BotDialogue,
    ticket_id: TicketId,
    step: DraftStep,
    recovery: &Recovery,
    desk: &Desk,
) -> HandlerResult {
    match step.next() {
        Some(next) => ask(bot, chat, lang, dialogue, ticket_id, next, None).await,
        None => submit(bot, chat, lang, dialogue, ticket_id, recovery, desk).await,
    }
}

/// A screenshot or document for the draft; the fifth submits it.
async fn attach(
    bot: &BotT,
    msg: &Message,
    dialogue: &BotDialogue,
    ticket_id: TicketId,
    lang: Lang,
    recovery: &Recovery,
    desk: &Desk,
) -> HandlerResult {
    let chat = msg.chat.id;
    let Some(kind) = relayed_kind(msg).filter(|kind| matches!(kind, RelayedKind::Copy { .. }))
    else {
        bot.send_message(chat, t(lang, "ticket-attachments-hint"))
            .reply_markup(keyboards::ticket_attachments(lang))
            .await?;
        return Ok(());
    };
    let held = recovery.held_attachments(ticket_id).await?;
    if held >= MAX_ATTACHMENTS {
        return submit(bot, chat, lang, dialogue, ticket_id, recovery, desk).await;
    }
    let count = recovery.attach_to_draft(ticket_id, chat.0, i64::from(msg.id.0), &kind).await?;
    if count >= MAX_ATTACHMENTS {
        return submit(bot, chat, lang, dialogue, ticket_id, recovery, desk).await;
    }
    let text = t_args(
        lang,
        "ticket-attachment-received",
        &[("count", count.into()), ("max", MAX_ATTACHMENTS.into())],
    );
    bot.send_message(chat, text).reply_markup(keyboards::ticket_attachments(lang)).await?;
    Ok(())
}

/// Submits the draft: the user learns its number and when to expect an
/// answer; staff get its card.
async fn submit(
    bot: &BotT,
    chat: ChatId,
    lang: Lang,
    dialogue: &BotDialogue,
    ticket_id: TicketId,
    recovery: &Recovery,
    desk: &Desk,
) -> HandlerResult {
    dialogue.update(State::Menu).await?;
    let Some(submitted) = recovery.submit_ticket(ticket_id, &desk.policy).await? else {
        return abandoned(bot, chat, lang, dialogue).await;
    };
    let now = recovery.now();
    let due = show_time(lang, submitted.answer_due, desk.default_time_zone, now);
    let text = t_args(
        lang,
        "ticket-submitted",
        &[("ticket", arg(submitted.ticket.label())), ("due", arg(due))],
    );
    bot.send_message(chat, text)
        .reply_markup(keyboards::open_ticket(lang, submitted.ticket.id))
        .await?;
    Ok(())
}

/// The draft is gone (closed meanwhile): back to the menu.
async fn abandoned(bot: &BotT, chat: ChatId, lang: Lang, dialogue: &BotDialogue) -> HandlerResult {
    dialogue.update(State::Menu).await?;
    send_menu(bot, chat, lang, t(lang, "button-stale")).await
}

/// Skip (an optional question) and Submit (after the attachments).
#[allow(clippy::too_many_arguments)]
pub async fn on_draft_button(
    bot: BotT,
    query: CallbackQuery,
    dialogue: BotDialogue,
    (ticket_id, step): (TicketId, DraftStep),
    button: TicketButton,
    lang: Lang,
    recovery: Recovery,
    desk: Desk,
) -> HandlerResult {
    let chat = dialogue.chat_id();
    match button {
        TicketButton::Skip if step.skippable() && step != DraftStep::Attachments => {
            answer_button(&bot, &query, None).await;
            next_step(&bot, chat, lang, &dialogue, ticket_id, step, &recovery, &desk).await
        }
        TicketButton::Submit | TicketButton::Skip if step == DraftStep::Attachments => {
            answer_button(&bot, &query, None).await;
            submit(&bot, chat, lang, &dialogue, ticket_id, &recovery, &desk).await
        }
        _ => {
            answer_button(&bot, &query, Some(t(lang, "button-stale"))).await;
            Ok(())
        }
    }
}

/// "Talk to support" from a path; in the lock explanation the account the
/// user proved goes on the card.
pub async fn on_support(
    bot: BotT,
    query: CallbackQuery,
    dialogue: BotDialogue,
    SupportFor(category): SupportFor,
    lang: Lang,
    recovery: Recovery,
    desk: Desk,
) -> HandlerResult {
    answer_button(&bot, &query, None).await;
    let chat = dialogue.chat_id();
    open(&bot, chat, &query.from, lang, &recovery, &desk, &dialogue, category, None).await
}

/// "Talk to support" under the lock explanation: with the account.
pub async fn on_support_locked(
    bot: BotT,
    query: CallbackQuery,
    dialogue: BotDialogue,
    (_, account_id, _): (crate::domain::Phone, AccountId, chrono::DateTime<chrono::Utc>),
    lang: Lang,
    recovery: Recovery,
    desk: Desk,
) -> HandlerResult {
    answer_button(&bot, &query, None).await;
    let chat = dialogue.chat_id();
    let account = Some(account_id);
    open(&bot, chat, &query.from, lang, &recovery, &desk, &dialogue, Category::Locked, account)
        .await
}

/// Close, reopen and rate: the user's own tickets only.
pub async fn on_ticket_button(
    bot: BotT,
    query: CallbackQuery,
    dialogue: BotDialogue,
    button: TicketButton,
    lang: Lang,
    recovery: Recovery,
) -> HandlerResult {
    let chat = dialogue.chat_id();
    let user = telegram_user(&query.from);
    let (text, markup) = match button {
        TicketButton::Close(id) => match recovery.user_closes(id, user).await? {
            Some(ticket) => (
                t_args(lang, "ticket-closed-by-you", &[("ticket", arg(ticket.label()))]),
                keyboards::closed_ticket(lang, id),
            ),
            None => return stale(&bot, &query, lang).await,
        },
        TicketButton::Reopen(id) => match recovery.user_reopens(id, user).await? {
            Some(ticket) => (
                t_args(lang, "ticket-reopened", &[("ticket", arg(ticket.label()))]),
                keyboards::open_ticket(lang, id),
            ),
            None => (t(lang, "ticket-cannot-reopen"), keyboards::back_to_menu(lang)),
        },
        TicketButton::Rate(id, rating) => match recovery.rate_ticket(id, user, rating).await? {
            Some(_) => {
                dialogue.update(State::RatingComment { ticket_id: id }).await?;
                (t(lang, "ticket-rated"), keyboards::skip_comment(lang))
            }
            None => return stale(&bot, &query, lang).await,
        },
        TicketButton::Skip | TicketButton::Submit => return stale(&bot, &query, lang).await,
    };
    answer_button(&bot, &query, None).await;
    bot.send_message(chat, text).reply_markup(markup).await?;
    Ok(())
}

async fn stale(bot: &BotT, query: &CallbackQuery, lang: Lang) -> HandlerResult {
    answer_button(bot, query, Some(t(lang, "button-stale"))).await;
    Ok(())
}

/// After a rating: the comment, or Skip.
pub async fn on_rating_comment(
    bot: BotT,
    msg: Message,
    dialogue: BotDialogue,
    ticket_id: TicketId,
    lang: Lang,
    recovery: Recovery,
) -> HandlerResult {
    let chat = msg.chat.id;
    let Some(comment) = msg.text().map(str::trim).filter(|text| !text.is_empty()) else {
        bot.send_message(chat, t(lang, "ticket-need-text"))
            .reply_markup(keyboards::skip_comment(lang))
            .await?;
        return Ok(());
    };
    let user = msg.from.as_ref().map(telegram_user);
    if let Some(user) = user {
        recovery.comment_rating(ticket_id, user, comment).await?;
    }
    dialogue.update(State::Menu).await?;
    send_menu(&bot, chat, lang, t(lang, "ticket-thanks")).await
}

pub async fn on_rating_skip(
    bot: BotT,
    query: CallbackQuery,
    dialogue: BotDialogue,
    lang: Lang,
) -> HandlerResult {
    answer_button(&bot, &query, None).await;
    dialogue.update(State::Menu).await?;
    send_menu(&bot, dialogue.chat_id(), lang, t(lang, "ticket-thanks")).await
}

/// A message outside any step: into the user's open ticket if they have
/// one (true), else not handled here (false).
pub async fn relay_if_open(msg: &Message, recovery: &Recovery) -> anyhow::Result<bool> {
    let (Some(user), Some(kind)) = (msg.from.as_ref(), relayed_kind(msg)) else {
        return Ok(false);
    };
    if matches!(kind, RelayedKind::Text(ref text) if text.starts_with('/')) {
        return Ok(false);
    }
    let relayed = recovery
        .relay_from_user(telegram_user(user), msg.chat.id.0, i64::from(msg.id.0), &kind)
        .await?;
    Ok(relayed.is_some())
}

/// An edit of a message the user sent into their open ticket: sent again,
/// marked as edited.
pub async fn on_edited_message(msg: Message, recovery: Recovery) -> HandlerResult {
    let (Some(user), Some(text)) = (msg.from.as_ref(), msg.text().or(msg.caption())) else {
        return Ok(());
    };
    let kind = RelayedKind::Edit(text.to_owned());
    recovery
        .relay_from_user(telegram_user(user), msg.chat.id.0, i64::from(msg.id.0), &kind)
        .await?;
    Ok(())
}

/// What a user's (or a staff member's) message is, for relaying: `None`
/// for service messages.
pub fn relayed_kind(msg: &Message) -> Option<RelayedKind> {
    if let Some(text) = msg.text() {
        return Some(RelayedKind::Text(text.to_owned()));
    }
    let captionable = msg.photo().is_some()
        || msg.document().is_some()
        || msg.video().is_some()
        || msg.audio().is_some()
        || msg.voice().is_some()
        || msg.animation().is_some();
    let plain = msg.sticker().is_some()
        || msg.video_note().is_some()
        || msg.contact().is_some()
        || msg.location().is_some();
    if !captionable && !plain {
        return None;
    }
    Some(RelayedKind::Copy {
        captionable,
        caption: msg.caption().map(str::to_owned),
        media_group_id: msg.media_group_id().map(|id| id.0.clone()),
    })
}

/// /status: the user's tickets, and any lock or recovery block on the
/// account their phone last proved.
pub async fn status(
    bot: &BotT,
    chat: ChatId,
    user: &User,
    lang: Lang,
    recovery: &Recovery,
    desk: &Desk,
) -> HandlerResult {
    let me = telegram_user(user);
    let now = recovery.now();
    let tickets = recovery.store.tickets_of_user(me, 10).await?;
    let mut lines = vec![t(lang, "status-title")];
    if tickets.is_empty() {
        lines.push(t(lang, "status-no-tickets"));
    }
    for ticket in &tickets {
        let state = match ticket.status {
            TicketStatus::Open if ticket.taken_by.is_some() => t(lang, "status-ticket-taken"),
            TicketStatus::Open | TicketStatus::Draft => t(lang, "status-ticket-open"),
            TicketStatus::Closed => t(lang, "status-ticket-closed"),
            TicketStatus::Rejected => t(lang, "status-ticket-rejected"),
        };
        let since = ticket.submitted_at.unwrap_or(ticket.created_at);
        lines.push(t_args(
            lang,
            "status-ticket",
            &[
                ("ticket", arg(ticket.label())),
                (
                    "category",
                    arg(t(lang, &format!("ticket-category-{}", ticket.category.as_str()))),
                ),
                ("state", arg(state)),
                ("since", arg(show_time(lang, since, desk.default_time_zone, now))),
            ],
        ));
    }
    for account in recovery.accounts_of_user(me).await? {
        let zone = account.zone_or(desk.default_time_zone);
        let diagnosis = recovery.diagnose_lock(&account).await?;
        let login = arg(escape(account.login.as_str()));
        let line = match diagnosis.status {
            crate::recovery::LockStatus::Temporary { until, .. } => t_args(
                lang,
                "status-locked-until",
                &[("login", login.clone()), ("until", arg(show_time(lang, until, zone, now)))],
            ),
            crate::recovery::LockStatus::Permanent { .. }
            | crate::recovery::LockStatus::Blocked { .. } => {
                t_args(lang, "status-blocked", &[("login", login.clone())])
            }
            crate::recovery::LockStatus::NotLocked => {
                t_args(lang, "status-not-locked", &[("login", login.clone())])
            }
        };
        lines.push(line);
        if account.recovery_blocked_at.is_some() {
            lines.push(t_args(lang, "status-recovery-blocked", &[("login", login)]));
        }
    }
    let markup = match tickets.iter().find(|ticket| ticket.status == TicketStatus::Open) {
        Some(open) => keyboards::open_ticket(lang, open.id),
        None => keyboards::back_to_menu(lang),
    };
    bot.send_message(chat, lines.join("\n")).reply_markup(markup).await?;
    Ok(())
}

/// A Telegram user's name as staff see it.
pub fn full_name(user: &User) -> String {
    match &user.last_name {
        Some(last) => format!("{} {last}", user.first_name),
        None => user.first_name.clone(),
    }
}
