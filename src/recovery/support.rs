//! The support desk's rules: opening a ticket (one live ticket per user),
//! collecting what staff need, relaying messages both ways, and what staff
//! and the user may do with a ticket. Telegram stays in `bot/`: a message
//! here is a chat and a message id to copy, or a text.

use chrono::{DateTime, Duration, Utc};

use super::{Recovery, RecoveryResult, TwoFactorSource};
use crate::{
    domain::{
        AccountId, AuditEvent, AuditOutcome, Category, Delivery, Direction, Lang, NewDelivery,
        Notice, Phone, RelayedKind, StaffAction, TelegramUserId, Ticket, TicketId, TicketStatus,
        delivery::{relay_key, reminder_key},
        support_hours::{SupportHours, sla_deadline},
        ticket::CARD_DESCRIPTION_CHARS,
    },
    store::{
        AuditEntry, ChangeEvent, DraftAnswer, Field, NewItem, NewTicket, Opened, TicketChange,
    },
};

/// How fast staff are expected to answer.
#[derive(Debug, Clone)]
pub struct SupportPolicy {
    /// `SUPPORT_SLA_MINUTES`: the first reminder of an untaken ticket; the
    /// second comes after twice that.
    pub sla: Duration,
    /// `SUPPORT_HOURS`: the clock runs only inside them.
    pub hours: Option<SupportHours>,
}

impl Default for SupportPolicy {
    fn default() -> Self {
        Self { sla: Duration::minutes(30), hours: None }
    }
}

/// Who asks for help.
#[derive(Debug, Clone)]
pub struct TicketRequest {
    pub user: TelegramUserId,
    pub user_name: String,
    pub username: Option<String>,
    pub lang: Lang,
    pub category: Category,
    /// The account the identity step proved, if the path went through it.
    pub account_id: Option<AccountId>,
}

/// A staff member, as the group shows them.
#[derive(Debug, Clone)]
pub struct StaffMember {
    pub id: TelegramUserId,
    pub name: String,
}

/// What a staff action came to.
#[derive(Debug, Clone)]
pub enum StaffOutcome {
    Done(Box<Ticket>),
    /// Someone else has taken it.
    TakenBy(String),
    /// Not possible in the ticket's state (closed, nothing to unlock…).
    NotApplicable,
    /// Reset 2FA, but it was off already (turned off elsewhere meanwhile):
    /// nothing changed; the card is brought up to date.
    TwoFactorAlreadyOff,
}

/// A submitted ticket and when an answer is due.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub ticket: Ticket,
    pub answer_due: DateTime<Utc>,
}

impl Recovery {
    /// Opens a draft, or finds the user's live ticket: a second request
    /// continues the first, and staff are told that it was asked again.
    pub async fn open_ticket(&self, request: TicketRequest) -> RecoveryResult<Opened> {
        let now = self.now();
        let verified_phone = self.recent_phone(request.user).await?;
        let new = NewTicket {
            user: request.user,
            user_name: request.user_name,
            username: request.username,
            lang: request.lang,
            category: request.category,
            urgent: request.category == Category::NotMe,
            account_id: request.account_id,
            verified_phone,
        };
        let opened = self.store.open_ticket(&new, now).await?;
        // "It wasn't me" reposts the card as urgent instead, which says it.
        if let Opened::Existing(ticket) = &opened
            && ticket.status == TicketStatus::Open
            && new.category != Category::NotMe
        {
            let item =
                notice_item(Direction::ToGroup, &Notice::AskedAgain { category: new.category });
            self.relay(ticket.id, &[item], Direction::ToGroup).await?;
        }
        Ok(opened)
    }

    /// The phone this Telegram user proved last, if within the contact
    /// check's lifetime: staff see it on the card.
    async fn recent_phone(&self, user: TelegramUserId) -> RecoveryResult<Option<Phone>> {
        let proved = self.store.verified_phone(user).await?;
        Ok(proved.filter(|(_, at)| self.contact_still_valid(*at)).map(|(phone, _)| phone))
    }

    pub async fn answer_draft(&self, id: TicketId, answer: DraftAnswer) -> RecoveryResult<bool> {
        Ok(self.store.answer_draft(id, &answer, self.now()).await?)
    }

    /// Keeps a screenshot or document for the draft; how many it has now.
    pub async fn attach_to_draft(
        &self,
        id: TicketId,
        chat: i64,
        message: i64,
        kind: &RelayedKind,
    ) -> RecoveryResult<i64> {
        let item = relayed_item(Direction::ToGroup, chat, message, kind, true);
        self.store.add_items(id, &[item], None, self.now()).await?;
        Ok(self.store.held_items(id).await?)
    }

    pub async fn held_attachments(&self, id: TicketId) -> RecoveryResult<i64> {
        Ok(self.store.held_items(id).await?)
    }

    /// Submits a draft: its number, the card in the staff group, and the
    /// reminders if nobody takes it. `None` if it was no longer a draft.
    pub async fn submit_ticket(
        &self,
        id: TicketId,
        support: &SupportPolicy,
    ) -> RecoveryResult<Option<Submitted>> {
        let now = self.now();
        let Some(draft) = self.store.ticket(id).await? else { return Ok(None) };
        let answer_due = sla_deadline(support.hours.as_ref(), now, support.sla);
        let second = sla_deadline(support.hours.as_ref(), now, support.sla * 2);
        let deliveries = [
            relay_delivery(id, Direction::ToGroup, now),
            NewDelivery {
                payload: Delivery::TicketReminder { ticket_id: id, level: 1 },
                due_at: answer_due,
                key: Some(reminder_key(id, 1)),
            },
            NewDelivery {
                payload: Delivery::TicketReminder { ticket_id: id, level: 2 },
                due_at: second,
                key: Some(reminder_key(id, 2)),
            },
        ];
        let mut audit = AuditEntry::new(AuditEvent::TicketOpened, AuditOutcome::Ok)
            .user(draft.user)
            .detail(draft.category.as_str());
        if let Some(account) = draft.account_id {
            audit = audit.account(account);
        }
        // A description longer than the card shows follows it in full.
        if let Some(description) = draft.description.as_deref()
            && description.chars().count() > CARD_DESCRIPTION_CHARS
        {
            let item = relayed_item(
                Direction::ToGroup,
                draft.user.0,
                0,
                &RelayedKind::Text(description.to_owned()),
                true,
            );
            self.store.add_items(id, &[item], None, now).await?;
        }
        let submitted = self.store.submit_ticket(id, now, audit, &deliveries).await?;
        self.outbox.wake();
        if let Some(ticket) = &submitted {
            tracing::info!(ticket = ticket.label(), category = ticket.category.as_str(),
                user = %ticket.user, "ticket opened");
        }
        Ok(submitted.map(|ticket| Submitted { ticket, answer_due }))
    }

    /// "It wasn't me" under a password-changed notice: an urgent ticket at
    /// once (or the open one made urgent and its card posted again), and
    /// recovery of the account blocked. `None` unless this user was told
    /// of a change to that account.
    pub async fn report_not_me(
        &self,
        request: TicketRequest,
        account_id: AccountId,
        support: Option<&SupportPolicy>,
    ) -> RecoveryResult<Option<Option<Ticket>>> {
        if !self.record_dispute(request.user, account_id).await? {
            return Ok(None);
        }
        let now = self.now();
        // What the mailed link does: blocked, links revoked, sessions
        // dropped, bindings dropped.
        let audit = AuditEntry::new(AuditEvent::RecoveryBlocked, AuditOutcome::Ok)
            .user(request.user)
            .account(account_id)
            .detail("reported by the user in Telegram: a change was not theirs");
        self.store.stop_recovery(account_id, now, &audit).await?;
        tracing::warn!(%account_id, user = %request.user, "recovery blocked: 'it wasn't me'");
        let Some(support) = support else { return Ok(Some(None)) };
        let request =
            TicketRequest { category: Category::NotMe, account_id: Some(account_id), ..request };
        let ticket = match self.open_ticket(request).await? {
            Opened::New(draft) => self.submit_ticket(draft.id, support).await?.map(|s| s.ticket),
            Opened::Existing(ticket) if ticket.status == TicketStatus::Draft => {
                self.submit_ticket(ticket.id, support).await?.map(|s| s.ticket)
            }
            Opened::Existing(ticket) => {
                // Urgent now, and its card posted again where staff see it.
                let change = TicketChange {
                    set: vec![
                        ("urgent", Field::Int(Some(1))),
                        ("card_message_id", Field::Int(None)),
                        ("account_id", Field::Int(Some(account_id.0))),
                    ],
                    from_status: vec![TicketStatus::Open],
                    event: Some(event(None, "urgent", Some("it wasn't me".to_owned()))),
                    deliveries: vec![relay_delivery(ticket.id, Direction::ToGroup, now)],
                    refresh_card: true,
                    ..TicketChange::default()
                };
                let changed = self.change_ticket(ticket.id, change, now).await?;
                self.outbox.wake();
                changed
            }
        };
        Ok(Some(ticket))
    }

    /// A message of the user while their ticket is open goes into it; the
    /// ticket, or `None` if they have no open ticket.
    pub async fn relay_from_user(
        &self,
        user: TelegramUserId,
        chat: i64,
        message: i64,
        kind: &RelayedKind,
    ) -> RecoveryResult<Option<Ticket>> {
        let Some(ticket) = self.store.live_ticket(user).await? else { return Ok(None) };
        if ticket.status != TicketStatus::Open {
            return Ok(None);
        }
        // Writing to the bot again makes them reachable again.
        if ticket.user_unreachable_at.is_some() {
            self.store.clear_user_unreachable(user).await?;
        }
        let item = relayed_item(Direction::ToGroup, chat, message, kind, false);
        self.relay(ticket.id, &[item], Direction::ToGroup).await?;
        Ok(Some(ticket))
    }

    /// A staff message about an open ticket goes to its user. Parts of an
    /// album are gathered: the relay waits a moment for the rest.
    pub async fn relay_from_staff(
        &self,
        ticket: &Ticket,
        chat: i64,
        message: i64,
        kind: &RelayedKind,
    ) -> RecoveryResult<()> {
        let item = relayed_item(Direction::ToUser, chat, message, kind, false);
        let now = self.now();
        let mut delivery = relay_delivery(ticket.id, Direction::ToUser, now);
        if matches!(kind, RelayedKind::Copy { media_group_id: Some(_), .. }) {
            delivery.due_at = now + Duration::seconds(2);
        }
        self.store.add_items(ticket.id, &[item], Some(&delivery), now).await?;
        self.outbox.wake();
        Ok(())
    }

    /// Queues items and the relay that delivers them.
    async fn relay(
        &self,
        id: TicketId,
        items: &[NewItem],
        direction: Direction,
    ) -> RecoveryResult<()> {
        let now = self.now();
        let delivery = relay_delivery(id, direction, now);
        self.store.add_items(id, items, Some(&delivery), now).await?;
        self.outbox.wake();
        Ok(())
    }

    /// A staff member's action from the card (all but sending a link and
    /// rejecting, which the bot handles with the user and the group).
    pub async fn staff_act(
        &self,
        id: TicketId,
        action: StaffAction,
        staff: &StaffMember,
    ) -> RecoveryResult<StaffOutcome> {
        let Some(ticket) = self.store.ticket(id).await? else {
            return Ok(StaffOutcome::NotApplicable);
        };
        if ticket.status != TicketStatus::Open {
            return Ok(StaffOutcome::NotApplicable);
        }
        let now = self.now();
        let mut change = TicketChange {
            from_status: vec![TicketStatus::Open],
            event: Some(event(Some(staff), action.code(), None)),
            audit: Some(staff_audit(&ticket, staff, action.code())),
            refresh_card: true,
            ..TicketChange::default()
        };
        match action {
            StaffAction::Take => {
                if let Some(taker) = ticket.taken_by.filter(|taker| *taker != staff.id) {
                    let name = ticket.taken_by_name.clone().unwrap_or_else(|| taker.to_string());
                    return Ok(StaffOutcome::TakenBy(name));
                }
                change.set = vec![
                    ("taken_by", Field::Int(Some(staff.id.0))),
                    ("taken_by_name", Field::Text(Some(staff.name.clone()))),
                ];
                change.condition = Some("taken_by IS NULL");
            }
            StaffAction::Release => {
                if ticket.taken_by.is_none() {
                    return Ok(StaffOutcome::NotApplicable);
                }
                change.set =
                    vec![("taken_by", Field::Int(None)), ("taken_by_name", Field::Text(None))];
            }
            StaffAction::Close => {
                change.set = vec![
                    ("status", Field::Text(Some(TicketStatus::Closed.as_str().to_owned()))),
                    ("closed_at", Field::Now),
                    ("closed_by_name", Field::Text(Some(staff.name.clone()))),
                ];
                change.items = vec![notice_item(Direction::ToUser, &Notice::Closed)];
                change.deliveries = vec![relay_delivery(id, Direction::ToUser, now)];
            }
            StaffAction::Unlock => {
                let Some(account) = self.ticket_account(&ticket).await? else {
                    return Ok(StaffOutcome::NotApplicable);
                };
                let unlocked =
                    super::unlock_login(&self.store, account.login.as_str(), now).await?;
                if unlocked.lockout.is_none() && !unlocked.unblocked {
                    return Ok(StaffOutcome::NotApplicable);
                }
                change.items = vec![notice_item(Direction::ToUser, &Notice::Unlocked)];
                change.deliveries = vec![relay_delivery(id, Direction::ToUser, now)];
            }
            StaffAction::LiftBlock => {
                let Some(account) = ticket.account_id else {
                    return Ok(StaffOutcome::NotApplicable);
                };
                if !self.lift_recovery_block(account, Some(staff)).await? {
                    return Ok(StaffOutcome::NotApplicable);
                }
                change.items = vec![notice_item(Direction::ToUser, &Notice::RecoveryUnblocked)];
                change.deliveries = vec![relay_delivery(id, Direction::ToUser, now)];
            }
            StaffAction::ResetTwoFactor => {
                let Some(account) = ticket.account_id else {
                    return Ok(StaffOutcome::NotApplicable);
                };
                // The same rules as the user's own path: the secret, a
                // pending enrolment and the backup codes go, audited.
                if !self.turn_off_two_factor(account, TwoFactorSource::Staff).await? {
                    let refresh = TicketChange { refresh_card: true, ..TicketChange::default() };
                    self.change_ticket(id, refresh, now).await?;
                    tracing::info!(ticket = ticket.label(), staff = %staff.id,
                        "reset 2FA pressed, but it was off already");
                    return Ok(StaffOutcome::TwoFactorAlreadyOff);
                }
                self.mail_two_factor_off(account, ticket.user, ticket.lang).await?;
                change.items = vec![notice_item(Direction::ToUser, &Notice::TwoFactorReset)];
                change.deliveries = vec![relay_delivery(id, Direction::ToUser, now)];
                // It is off now: the audit, the card and the user's notice
                // follow even if the ticket was closed in the meantime.
                change.from_status = Vec::new();
            }
            StaffAction::SendLink | StaffAction::Reject => {
                change.audit = None;
            }
        }
        let changed = self.change_ticket(id, change, now).await?;
        self.outbox.wake();
        Ok(match changed {
            Some(ticket) => {
                tracing::info!(ticket = ticket.label(), action = action.code(), staff = %staff.id,
                    "staff action");
                StaffOutcome::Done(Box::new(ticket))
            }
            // Changed by someone else meanwhile.
            None => match self.store.ticket(id).await? {
                Some(Ticket { taken_by_name: Some(name), .. }) if action == StaffAction::Take => {
                    StaffOutcome::TakenBy(name)
                }
                _ => StaffOutcome::NotApplicable,
            },
        })
    }

    /// Records that staff sent the ticket's user a fresh link (the card
    /// shows it).
    pub async fn link_sent_by_staff(
        &self,
        ticket: &Ticket,
        staff: &StaffMember,
    ) -> RecoveryResult<()> {
        let change = TicketChange {
            event: Some(event(Some(staff), "link", None)),
            audit: Some(staff_audit(ticket, staff, "link")),
            items: vec![notice_item(
                Direction::ToGroup,
                &Notice::LinkSent { by: staff.name.clone() },
            )],
            deliveries: vec![relay_delivery(ticket.id, Direction::ToGroup, self.now())],
            ..TicketChange::default()
        };
        self.change_ticket(ticket.id, change, self.now()).await?;
        self.outbox.wake();
        Ok(())
    }

    /// Rejects an open ticket with the staff member's reason, which the
    /// user sees.
    pub async fn reject_ticket(
        &self,
        id: TicketId,
        staff: &StaffMember,
        reason: &str,
    ) -> RecoveryResult<Option<Ticket>> {
        let Some(ticket) = self.store.ticket(id).await? else { return Ok(None) };
        let now = self.now();
        let change = TicketChange {
            set: vec![
                ("status", Field::Text(Some(TicketStatus::Rejected.as_str().to_owned()))),
                ("closed_at", Field::Now),
                ("closed_by_name", Field::Text(Some(staff.name.clone()))),
                ("close_reason", Field::Text(Some(reason.to_owned()))),
            ],
            from_status: vec![TicketStatus::Open],
            event: Some(event(Some(staff), "reject", Some(reason.to_owned()))),
            audit: Some(staff_audit(&ticket, staff, "reject")),
            items: vec![notice_item(
                Direction::ToUser,
                &Notice::Rejected { reason: reason.to_owned() },
            )],
            deliveries: vec![relay_delivery(id, Direction::ToUser, now)],
            refresh_card: true,
            ..TicketChange::default()
        };
        let changed = self.change_ticket(id, change, now).await?;
        self.outbox.wake();
        Ok(changed)
    }

    /// The user closes their own ticket (or abandons a draft).
    pub async fn user_closes(
        &self,
        id: TicketId,
        user: TelegramUserId,
    ) -> RecoveryResult<Option<Ticket>> {
        let Some(ticket) = self.own_ticket(id, user).await? else { return Ok(None) };
        let now = self.now();
        let submitted = ticket.status == TicketStatus::Open;
        let change = TicketChange {
            set: vec![
                ("status", Field::Text(Some(TicketStatus::Closed.as_str().to_owned()))),
                ("closed_at", Field::Now),
            ],
            from_status: vec![TicketStatus::Draft, TicketStatus::Open],
            event: Some(event(None, "closed_by_user", None)),
            items: if submitted {
                vec![notice_item(Direction::ToGroup, &Notice::UserClosed)]
            } else {
                Vec::new()
            },
            deliveries: if submitted {
                vec![relay_delivery(id, Direction::ToGroup, now)]
            } else {
                Vec::new()
            },
            refresh_card: submitted,
            ..TicketChange::default()
        };
        let changed = self.change_ticket(id, change, now).await?;
        self.outbox.wake();
        Ok(changed)
    }

    /// The user reopens a ticket closed less than 7 days ago; `None` if it
    /// cannot be (too late, or they have another live ticket).
    pub async fn user_reopens(
        &self,
        id: TicketId,
        user: TelegramUserId,
    ) -> RecoveryResult<Option<Ticket>> {
        let Some(ticket) = self.own_ticket(id, user).await? else { return Ok(None) };
        let now = self.now();
        if !ticket.reopenable(now) || self.store.live_ticket(user).await?.is_some() {
            return Ok(None);
        }
        let change = TicketChange {
            set: vec![
                ("status", Field::Text(Some(TicketStatus::Open.as_str().to_owned()))),
                ("closed_at", Field::Int(None)),
                ("rating", Field::Int(None)),
            ],
            from_status: vec![TicketStatus::Closed],
            event: Some(event(None, "reopened_by_user", None)),
            items: vec![notice_item(Direction::ToGroup, &Notice::UserReopened)],
            deliveries: vec![relay_delivery(id, Direction::ToGroup, now)],
            refresh_card: true,
            ..TicketChange::default()
        };
        // Two tickets cannot be live at once: the unique index refuses it.
        let changed = self.change_ticket(id, change, now).await.ok().flatten();
        self.outbox.wake();
        Ok(changed)
    }

    /// The user's rating of a closed ticket (1–5); staff see it.
    pub async fn rate_ticket(
        &self,
        id: TicketId,
        user: TelegramUserId,
        rating: u8,
    ) -> RecoveryResult<Option<Ticket>> {
        if !(1..=5).contains(&rating) || self.own_ticket(id, user).await?.is_none() {
            return Ok(None);
        }
        let now = self.now();
        let change = TicketChange {
            set: vec![("rating", Field::Int(Some(i64::from(rating))))],
            from_status: vec![TicketStatus::Closed],
            condition: Some("rating IS NULL"),
            event: Some(event(None, "rated", Some(rating.to_string()))),
            items: vec![notice_item(Direction::ToGroup, &Notice::Rated { rating })],
            deliveries: vec![relay_delivery(id, Direction::ToGroup, now)],
            refresh_card: true,
            ..TicketChange::default()
        };
        let changed = self.change_ticket(id, change, now).await?;
        self.outbox.wake();
        Ok(changed)
    }

    /// The optional comment after a rating.
    pub async fn comment_rating(
        &self,
        id: TicketId,
        user: TelegramUserId,
        comment: &str,
    ) -> RecoveryResult<Option<Ticket>> {
        if self.own_ticket(id, user).await?.is_none() {
            return Ok(None);
        }
        let now = self.now();
        let change = TicketChange {
            set: vec![("rating_comment", Field::Text(Some(comment.to_owned())))],
            from_status: vec![TicketStatus::Closed],
            condition: Some("rating IS NOT NULL AND rating_comment IS NULL"),
            event: Some(event(None, "rating_comment", None)),
            items: vec![notice_item(
                Direction::ToGroup,
                &Notice::RatingComment { comment: comment.to_owned() },
            )],
            deliveries: vec![relay_delivery(id, Direction::ToGroup, now)],
            ..TicketChange::default()
        };
        let changed = self.change_ticket(id, change, now).await?;
        self.outbox.wake();
        Ok(changed)
    }

    /// Telegram refuses to deliver to the ticket's user (they blocked the
    /// bot): the ticket says so and staff are told, once.
    pub async fn user_unreachable(&self, ticket: &Ticket) -> RecoveryResult<()> {
        let now = self.now();
        let notice = notice_item(Direction::ToGroup, &Notice::UserUnreachable);
        let delivery = relay_delivery(ticket.id, Direction::ToGroup, now);
        if self.store.mark_user_unreachable(ticket.id, &notice, &delivery, now).await? {
            self.outbox.wake();
        }
        Ok(())
    }

    /// Lifts the recovery block "It wasn't me" set, audited; false if there
    /// was none. `staff` is `None` from the command line.
    pub async fn lift_recovery_block(
        &self,
        account: AccountId,
        staff: Option<&StaffMember>,
    ) -> RecoveryResult<bool> {
        let by = match staff {
            Some(staff) => format!("by staff admin {}", staff.id),
            None => "by an operator".to_owned(),
        };
        let mut audit = AuditEntry::new(AuditEvent::RecoveryUnblocked, AuditOutcome::Ok)
            .account(account)
            .detail(by);
        if let Some(staff) = staff {
            audit = audit.user(staff.id);
        }
        let lifted = self.store.lift_recovery_block(account, self.now(), &audit).await?;
        if lifted {
            tracing::info!(%account, "recovery block lifted");
        }
        Ok(lifted)
    }

    /// The accounts on the phone this Telegram user proved last (for
    /// /status).
    pub async fn accounts_of_user(
        &self,
        user: TelegramUserId,
    ) -> RecoveryResult<Vec<crate::domain::Account>> {
        let Some((phone, _)) = self.store.verified_phone(user).await? else {
            return Ok(Vec::new());
        };
        Ok(self.store.accounts_by_phone(&phone).await?)
    }

    /// The ticket, if it is this user's.
    async fn own_ticket(
        &self,
        id: TicketId,
        user: TelegramUserId,
    ) -> RecoveryResult<Option<Ticket>> {
        Ok(self.store.ticket(id).await?.filter(|ticket| ticket.user == user))
    }

    /// The ticket's verified account, if it has one.
    pub async fn ticket_account(
        &self,
        ticket: &Ticket,
    ) -> RecoveryResult<Option<crate::domain::Account>> {
        Ok(match ticket.account_id {
            Some(id) => self.store.account(id).await?,
            None => None,
        })
    }

    /// The account a user's claimed login or e-mail names, for staff to
    /// compare with what the user says.
    pub async fn claimed_account(
        &self,
        ticket: &Ticket,
    ) -> RecoveryResult<Option<crate::domain::Account>> {
        let Some(claimed) = ticket.claimed_login.as_deref() else { return Ok(None) };
        Ok(self.store.account_by_login_or_email(claimed.trim()).await?)
    }
}

impl Recovery {
    /// Applies a change to a ticket; a change the card shows queues the
    /// group's relay job, which edits the card.
    async fn change_ticket(
        &self,
        id: TicketId,
        mut change: TicketChange,
        now: DateTime<Utc>,
    ) -> Result<Option<Ticket>, crate::store::StoreError> {
        let to_group = relay_delivery(id, Direction::ToGroup, now);
        if change.refresh_card && !change.deliveries.iter().any(|d| d.key == to_group.key) {
            change.deliveries.push(to_group);
        }
        let changed = self.store.change_ticket(id, change, now).await?;
        self.outbox.wake();
        Ok(changed)
    }
}

/// The relay job of one ticket and direction; queued again, it is one job.
fn relay_delivery(id: TicketId, direction: Direction, now: DateTime<Utc>) -> NewDelivery {
    NewDelivery {
        payload: Delivery::TicketRelay { ticket_id: id, to_user: direction == Direction::ToUser },
        due_at: now,
        key: Some(relay_key(id, direction)),
    }
}

fn notice_item(direction: Direction, notice: &Notice) -> NewItem {
    NewItem {
        direction,
        kind: "notice",
        source_chat_id: None,
        source_message_id: None,
        media_group_id: None,
        body: serde_json::to_string(notice).ok(),
        held: false,
    }
}

fn relayed_item(
    direction: Direction,
    chat: i64,
    message: i64,
    kind: &RelayedKind,
    held: bool,
) -> NewItem {
    let (kind, body, media_group_id) = match kind {
        RelayedKind::Text(text) => ("text", Some(text.clone()), None),
        RelayedKind::Edit(text) => ("edit", Some(text.clone()), None),
        RelayedKind::Copy { captionable: true, caption, media_group_id } => {
            ("copy", caption.clone(), media_group_id.clone())
        }
        RelayedKind::Copy { captionable: false, caption, media_group_id } => {
            ("copy_plain", caption.clone(), media_group_id.clone())
        }
    };
    NewItem {
        direction,
        kind,
        source_chat_id: Some(chat),
        source_message_id: Some(message),
        media_group_id,
        body,
        held,
    }
}

fn event(staff: Option<&StaffMember>, name: &'static str, detail: Option<String>) -> ChangeEvent {
    ChangeEvent {
        actor: staff.map(|s| s.id),
        actor_name: staff.map(|s| s.name.clone()),
        event: name,
        detail,
    }
}

fn staff_audit(ticket: &Ticket, staff: &StaffMember, action: &str) -> AuditEntry {
    let entry = AuditEntry::new(AuditEvent::StaffAction, AuditOutcome::Ok)
        .user(staff.id)
        .detail(format!("{} {action}", ticket.label()));
    match ticket.account_id {
        Some(account) => entry.account(account),
        None => entry,
    }
}

/// Lifts the recovery block on the account with `login` from the command
/// line (`accounts unblock`), audited; false if there was none.
pub async fn unblock_recovery(
    store: &crate::store::Store,
    login: &str,
    now: DateTime<Utc>,
) -> RecoveryResult<bool> {
    let Some(account) = store.account_by_login(login.trim()).await? else { return Ok(false) };
    let audit = AuditEntry::new(AuditEvent::RecoveryUnblocked, AuditOutcome::Ok)
        .account(account.id)
        .detail("by an operator");
    let lifted = store.lift_recovery_block(account.id, now, &audit).await?;
    if lifted {
        tracing::info!(account = %account.id, "recovery block lifted by an operator");
    }
    Ok(lifted)
}
