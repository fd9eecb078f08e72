//! The support desk's tables: `tickets`, their relayed items, the staff
//! group's messages that belong to them, their history, and the desk's
//! learned settings.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{AnyConnection, Row, any::AnyRow};

use super::{
    AuditEntry, Store, StoreResult, audit::insert_audit, from_unix, outbox::insert_delivery,
    to_unix,
};
use crate::domain::{
    AccountId, Category, Direction, Lang, NewDelivery, Phone, TelegramUserId, Ticket, TicketId,
    TicketStatus,
};

const COLUMNS: &str = "id, number, tg_user_id, user_name, username, lang, category, status, \
     urgent, account_id, verified_phone, claimed_login, claimed_company, claimed_sign_in, \
     description, group_chat_id, card_message_id, topic_id, card_version, card_shown_version, \
     taken_by, taken_by_name, user_unreachable_at, closed_by_name, close_reason, rating, \
     rating_comment, created_at, submitted_at, closed_at";

const LIVE: &str = "status IN ('draft', 'open')";

/// A ticket to open.
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub user: TelegramUserId,
    pub user_name: String,
    pub username: Option<String>,
    pub lang: Lang,
    pub category: Category,
    pub urgent: bool,
    pub account_id: Option<AccountId>,
    pub verified_phone: Option<Phone>,
}

/// What opening a ticket came to.
#[derive(Debug, Clone)]
pub enum Opened {
    New(Ticket),
    /// The user already has a live one; a second request continues it.
    Existing(Ticket),
}

/// A draft's answer to one question.
#[derive(Debug, Clone)]
pub enum DraftAnswer {
    Login(String),
    Company(String),
    LastSignIn(NaiveDate),
    Description(String),
}

/// One message or notice to relay.
#[derive(Debug, Clone)]
pub struct NewItem {
    pub direction: Direction,
    /// `text`, `edit`, `copy`, `copy_plain` (no caption allowed) or `notice`.
    pub kind: &'static str,
    pub source_chat_id: Option<i64>,
    pub source_message_id: Option<i64>,
    pub media_group_id: Option<String>,
    pub body: Option<String>,
    /// Held until the ticket is submitted.
    pub held: bool,
}

/// An item waiting to be relayed.
#[derive(Debug, Clone)]
pub struct TicketItem {
    pub id: i64,
    pub kind: String,
    pub source_chat_id: Option<i64>,
    pub source_message_id: Option<i64>,
    pub media_group_id: Option<String>,
    pub body: Option<String>,
}

/// A staff-group message that belongs to a ticket.
#[derive(Debug, Clone)]
pub struct GroupMessage {
    pub ticket_id: TicketId,
    pub role: String,
    pub staff_id: Option<TelegramUserId>,
}

/// One line of a ticket's history.
#[derive(Debug, Clone)]
pub struct TicketEvent {
    pub at: DateTime<Utc>,
    pub actor_name: Option<String>,
    pub event: String,
    pub detail: Option<String>,
}

/// A value a change sets.
#[derive(Debug, Clone)]
pub enum Field {
    Text(Option<String>),
    Int(Option<i64>),
    /// The change's time.
    Now,
}

/// A change to a ticket by staff or by its user, with its history line,
/// audit row, relayed items and deliveries, committed together.
#[derive(Debug, Clone, Default)]
pub struct TicketChange {
    pub set: Vec<(&'static str, Field)>,
    /// The ticket must be in one of these states; empty: any.
    pub from_status: Vec<TicketStatus>,
    /// A further condition on the row, such as `taken_by IS NULL`.
    pub condition: Option<&'static str>,
    pub event: Option<ChangeEvent>,
    pub audit: Option<AuditEntry>,
    pub items: Vec<NewItem>,
    pub deliveries: Vec<NewDelivery>,
    /// Bump the card's version: it is edited to show the change.
    pub refresh_card: bool,
}

/// The history line of a change.
#[derive(Debug, Clone)]
pub struct ChangeEvent {
    pub actor: Option<TelegramUserId>,
    pub actor_name: Option<String>,
    pub event: &'static str,
    pub detail: Option<String>,
}

impl Store {
    /// Opens a draft for the user, unless they have a live ticket.
    pub async fn open_ticket(&self, new: &NewTicket, now: DateTime<Utc>) -> StoreResult<Opened> {
        if let Some(existing) = self.live_ticket(new.user).await? {
            return Ok(Opened::Existing(existing));
        }
        let inserted = sqlx::query(
            "INSERT INTO tickets (tg_user_id, user_name, username, lang, category, status, urgent, \
                 account_id, verified_phone, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'draft', $6, $7, $8, $9, $9) RETURNING id",
        )
        .bind(new.user.0)
        .bind(&new.user_name)
        .bind(new.username.as_deref())
        .bind(new.lang.code())
        .bind(new.category.as_str())
        .bind(i64::from(new.urgent))
        .bind(new.account_id.map(|id| id.0))
        .bind(new.verified_phone.as_ref().map(Phone::as_str))
        .bind(to_unix(now))
        .fetch_one(&self.pool)
        .await;
        match inserted {
            Ok(row) => {
                let id = TicketId(row.try_get("id")?);
                Ok(Opened::New(self.ticket(id).await?.ok_or(sqlx::Error::RowNotFound)?))
            }
            // Another request of the same user won the race.
            Err(error) => match self.live_ticket(new.user).await? {
                Some(existing) => Ok(Opened::Existing(existing)),
                None => Err(error),
            },
        }
    }

    /// The user's draft or open ticket.
    pub async fn live_ticket(&self, user: TelegramUserId) -> StoreResult<Option<Ticket>> {
        let sql = format!("SELECT {COLUMNS} FROM tickets WHERE tg_user_id = $1 AND {LIVE}");
        let row =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user.0).fetch_optional(&self.pool).await?;
        row.as_ref().map(ticket_from_row).transpose()
    }

    pub async fn ticket(&self, id: TicketId) -> StoreResult<Option<Ticket>> {
        let sql = format!("SELECT {COLUMNS} FROM tickets WHERE id = $1");
        let row =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.0).fetch_optional(&self.pool).await?;
        row.as_ref().map(ticket_from_row).transpose()
    }

    pub async fn ticket_by_number(&self, number: i64) -> StoreResult<Option<Ticket>> {
        let sql = format!("SELECT {COLUMNS} FROM tickets WHERE number = $1");
        let row =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(number).fetch_optional(&self.pool).await?;
        row.as_ref().map(ticket_from_row).transpose()
    }

    /// The ticket whose forum topic this is.
    pub async fn ticket_by_topic(&self, chat: i64, topic: i64) -> StoreResult<Option<Ticket>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM tickets WHERE group_chat_id = $1 AND topic_id = $2 \
             ORDER BY id DESC LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(chat)
            .bind(topic)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(ticket_from_row).transpose()
    }

    /// Open tickets, oldest first.
    pub async fn open_tickets(&self, limit: i64) -> StoreResult<Vec<Ticket>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM tickets WHERE status = 'open' ORDER BY submitted_at, id LIMIT $1"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(ticket_from_row).collect()
    }

    /// A user's submitted tickets, newest first.
    pub async fn tickets_of_user(
        &self,
        user: TelegramUserId,
        limit: i64,
    ) -> StoreResult<Vec<Ticket>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM tickets WHERE tg_user_id = $1 AND status <> 'draft' \
             ORDER BY id DESC LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user.0)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(ticket_from_row).collect()
    }

    /// Submitted tickets about a login: its verified account's, or those
    /// whose user typed it (case-insensitively), newest first.
    pub async fn tickets_about_login(&self, login: &str, limit: i64) -> StoreResult<Vec<Ticket>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM tickets WHERE status <> 'draft' AND \
                 (LOWER(claimed_login) = LOWER($1) OR account_id IN \
                     (SELECT id FROM accounts WHERE LOWER(login) = LOWER($1))) \
             ORDER BY id DESC LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(login)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(ticket_from_row).collect()
    }

    /// Stores a draft's answer; false if the ticket is no longer a draft.
    pub async fn answer_draft(
        &self,
        id: TicketId,
        answer: &DraftAnswer,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (column, value) = match answer {
            DraftAnswer::Login(login) => ("claimed_login", login.clone()),
            DraftAnswer::Company(company) => ("claimed_company", company.clone()),
            DraftAnswer::LastSignIn(date) => ("claimed_sign_in", date.to_string()),
            DraftAnswer::Description(text) => ("description", text.clone()),
        };
        let sql = format!(
            "UPDATE tickets SET {column} = $1, updated_at = $2 WHERE id = $3 AND status = 'draft'"
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .bind(to_unix(now))
            .bind(id.0)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Items held for a draft (its attachments so far).
    pub async fn held_items(&self, id: TicketId) -> StoreResult<i64> {
        let row =
            sqlx::query("SELECT COUNT(*) AS n FROM ticket_items WHERE ticket_id = $1 AND held = 1")
                .bind(id.0)
                .fetch_one(&self.pool)
                .await?;
        row.try_get("n")
    }

    /// Submits a draft: it gets the next number, its held items are let go,
    /// and its deliveries are queued, in one transaction. `None` if it was
    /// not a draft.
    pub async fn submit_ticket(
        &self,
        id: TicketId,
        now: DateTime<Utc>,
        audit: AuditEntry,
        deliveries: &[NewDelivery],
    ) -> StoreResult<Option<Ticket>> {
        let mut tx = self.pool.begin().await?;
        let claimed = sqlx::query(
            "UPDATE tickets SET status = 'open', updated_at = $2 WHERE id = $1 AND status = 'draft'",
        )
        .bind(id.0)
        .bind(to_unix(now))
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() != 1 {
            return Ok(None);
        }
        let number = next_counter(&mut tx, "ticket_number").await?;
        sqlx::query(
            "UPDATE tickets SET number = $2, submitted_at = $3, card_version = card_version + 1 \
             WHERE id = $1",
        )
        .bind(id.0)
        .bind(number)
        .bind(to_unix(now))
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE ticket_items SET held = 0 WHERE ticket_id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        insert_event(&mut tx, id, now, None, None, "opened", None).await?;
        insert_audit(&mut tx, now, &audit.detail(format!("#{number}"))).await?;
        for delivery in deliveries {
            insert_delivery(&mut tx, delivery, now).await?;
        }
        tx.commit().await?;
        self.ticket(id).await
    }

    /// Applies a change to a ticket if it is in one of the expected states;
    /// the updated ticket, or `None` if it was not.
    pub async fn change_ticket(
        &self,
        id: TicketId,
        change: TicketChange,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Ticket>> {
        let mut tx = self.pool.begin().await?;
        let mut set = vec!["updated_at = $2".to_owned()];
        for (n, (column, _)) in change.set.iter().enumerate() {
            set.push(format!("{column} = ${}", n + 3));
        }
        if change.refresh_card {
            set.push("card_version = card_version + 1".to_owned());
        }
        let mut condition: String = change
            .from_status
            .iter()
            .map(|status| format!("'{}'", status.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        if !condition.is_empty() {
            condition = format!(" AND status IN ({condition})");
        }
        if let Some(extra) = change.condition {
            condition.push_str(&format!(" AND {extra}"));
        }
        let sql = format!("UPDATE tickets SET {} WHERE id = $1{condition}", set.join(", "));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.0).bind(to_unix(now));
        for (_, value) in &change.set {
            query = match value {
                Field::Text(text) => query.bind(text.clone()),
                Field::Int(number) => query.bind(*number),
                Field::Now => query.bind(Some(to_unix(now))),
            };
        }
        if query.execute(&mut *tx).await?.rows_affected() != 1 {
            return Ok(None);
        }
        if let Some(event) = &change.event {
            insert_event(
                &mut tx,
                id,
                now,
                event.actor,
                event.actor_name.as_deref(),
                event.event,
                event.detail.as_deref(),
            )
            .await?;
        }
        if let Some(audit) = &change.audit {
            insert_audit(&mut tx, now, audit).await?;
        }
        for item in &change.items {
            insert_item(&mut tx, id, item, now).await?;
        }
        for delivery in &change.deliveries {
            insert_delivery(&mut tx, delivery, now).await?;
        }
        tx.commit().await?;
        self.ticket(id).await
    }

    /// Adds items to relay and queues the job that relays them.
    pub async fn add_items(
        &self,
        id: TicketId,
        items: &[NewItem],
        delivery: Option<&NewDelivery>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for item in items {
            insert_item(&mut tx, id, item, now).await?;
        }
        if let Some(delivery) = delivery {
            insert_delivery(&mut tx, delivery, now).await?;
        }
        tx.commit().await
    }

    /// Items waiting to go one way, in order.
    pub async fn pending_items(
        &self,
        id: TicketId,
        direction: Direction,
    ) -> StoreResult<Vec<TicketItem>> {
        let rows = sqlx::query(
            "SELECT id, kind, source_chat_id, source_message_id, media_group_id, body \
             FROM ticket_items WHERE ticket_id = $1 AND direction = $2 AND held = 0 \
                 AND delivered_at IS NULL AND failed_at IS NULL ORDER BY id",
        )
        .bind(id.0)
        .bind(direction.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(TicketItem {
                    id: row.try_get("id")?,
                    kind: row.try_get("kind")?,
                    source_chat_id: row.try_get("source_chat_id")?,
                    source_message_id: row.try_get("source_message_id")?,
                    media_group_id: row.try_get("media_group_id")?,
                    body: row.try_get("body")?,
                })
            })
            .collect()
    }

    /// Records an item as relayed; in the staff group its copy is
    /// remembered as belonging to the ticket (a reply to it reaches the user).
    pub async fn item_delivered(
        &self,
        id: TicketId,
        item_id: i64,
        group_copies: &[(i64, i64)],
        first_message_id: Option<i64>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE ticket_items SET delivered_at = $2, delivered_message_id = $3 WHERE id = $1",
        )
        .bind(item_id)
        .bind(to_unix(now))
        .bind(first_message_id)
        .execute(&mut *tx)
        .await?;
        for &(chat, message) in group_copies {
            insert_group_message(&mut tx, chat, message, id, "relayed", None, now).await?;
        }
        tx.commit().await
    }

    /// Gives an item up (the source message is gone, or Telegram refuses it
    /// for good).
    pub async fn item_failed(
        &self,
        item_id: i64,
        why: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE ticket_items SET failed_at = $2, failure = $3 WHERE id = $1")
            .bind(item_id)
            .bind(to_unix(now))
            .bind(why)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The group message id a user's message was relayed as, for an edit.
    pub async fn relayed_copy(
        &self,
        user_chat: i64,
        user_message: i64,
    ) -> StoreResult<Option<i64>> {
        let row = sqlx::query(
            "SELECT delivered_message_id FROM ticket_items WHERE source_chat_id = $1 \
                 AND source_message_id = $2 AND direction = 'to_group' \
                 AND delivered_message_id IS NOT NULL ORDER BY id LIMIT 1",
        )
        .bind(user_chat)
        .bind(user_message)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(row) => row.try_get("delivered_message_id")?,
            None => None,
        })
    }

    /// Remembers a message in the staff group as belonging to a ticket.
    pub async fn map_group_message(
        &self,
        chat: i64,
        message: i64,
        id: TicketId,
        role: &str,
        staff: Option<TelegramUserId>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.pool
            .run(async |conn| insert_group_message(conn, chat, message, id, role, staff, now).await)
            .await
    }

    pub async fn group_message(
        &self,
        chat: i64,
        message: i64,
    ) -> StoreResult<Option<GroupMessage>> {
        let row = sqlx::query(
            "SELECT ticket_id, role, staff_id FROM ticket_messages \
             WHERE chat_id = $1 AND message_id = $2",
        )
        .bind(chat)
        .bind(message)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(GroupMessage {
                ticket_id: TicketId(row.try_get("ticket_id")?),
                role: row.try_get("role")?,
                staff_id: row.try_get::<Option<i64>, _>("staff_id")?.map(TelegramUserId),
            })
        })
        .transpose()
    }

    /// Records where the card was posted and which version it shows.
    pub async fn card_posted(
        &self,
        id: TicketId,
        chat: i64,
        message: i64,
        version: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE tickets SET group_chat_id = $2, card_message_id = $3, \
                 card_shown_version = $4 WHERE id = $1",
        )
        .bind(id.0)
        .bind(chat)
        .bind(message)
        .bind(version)
        .execute(&mut *tx)
        .await?;
        insert_group_message(&mut tx, chat, message, id, "card", None, now).await?;
        tx.commit().await
    }

    /// The card is gone with its topic: post it again.
    pub async fn card_lost(&self, id: TicketId) -> StoreResult<()> {
        sqlx::query("UPDATE tickets SET card_message_id = NULL WHERE id = $1")
            .bind(id.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn card_shown(&self, id: TicketId, version: i64) -> StoreResult<()> {
        sqlx::query("UPDATE tickets SET card_shown_version = $2 WHERE id = $1")
            .bind(id.0)
            .bind(version)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records the ticket's forum topic (`None`: it has none any more).
    pub async fn set_topic(&self, id: TicketId, chat: i64, topic: Option<i64>) -> StoreResult<()> {
        sqlx::query("UPDATE tickets SET group_chat_id = $2, topic_id = $3 WHERE id = $1")
            .bind(id.0)
            .bind(chat)
            .bind(topic)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks the ticket's user as unreachable; true the first time.
    pub async fn mark_user_unreachable(
        &self,
        id: TicketId,
        notice: &NewItem,
        delivery: &NewDelivery,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let marked = sqlx::query(
            "UPDATE tickets SET user_unreachable_at = $2, card_version = card_version + 1 \
             WHERE id = $1 AND user_unreachable_at IS NULL",
        )
        .bind(id.0)
        .bind(to_unix(now))
        .execute(&mut *tx)
        .await?;
        if marked.rows_affected() != 1 {
            return Ok(false);
        }
        insert_event(&mut tx, id, now, None, None, "user_unreachable", None).await?;
        insert_item(&mut tx, id, notice, now).await?;
        insert_delivery(&mut tx, delivery, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The user wrote again: deliveries to them may work again.
    pub async fn clear_user_unreachable(&self, user: TelegramUserId) -> StoreResult<()> {
        sqlx::query(
            "UPDATE tickets SET user_unreachable_at = NULL WHERE tg_user_id = $1 \
                 AND user_unreachable_at IS NOT NULL",
        )
        .bind(user.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn ticket_events(&self, id: TicketId) -> StoreResult<Vec<TicketEvent>> {
        let rows = sqlx::query(
            "SELECT at, actor_name, event, detail FROM ticket_events \
             WHERE ticket_id = $1 ORDER BY id",
        )
        .bind(id.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(TicketEvent {
                    at: from_unix(row.try_get("at")?),
                    actor_name: row.try_get("actor_name")?,
                    event: row.try_get("event")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect()
    }

    /// The staff group's id as last learned (a group upgraded to a
    /// supergroup has a new one).
    pub async fn learned_support_chat(&self) -> StoreResult<Option<i64>> {
        let row = sqlx::query("SELECT value FROM desk_settings WHERE name = 'support_chat_id'")
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => row.try_get::<String, _>("value")?.parse().ok(),
            None => None,
        })
    }

    /// Remembers the staff group's new id, and moves the tickets there: the
    /// old chat's messages cannot be edited any more, so cards are posted
    /// anew.
    pub async fn support_chat_moved(
        &self,
        from: i64,
        to: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO desk_settings (name, value, updated_at) VALUES ('support_chat_id', $1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(to.to_string())
        .bind(to_unix(now))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE tickets SET group_chat_id = $2, card_message_id = NULL, topic_id = NULL, \
                 card_version = card_version + 1 WHERE group_chat_id = $1",
        )
        .bind(from)
        .bind(to)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Lifts the recovery block; false if there was none.
    pub async fn lift_recovery_block(
        &self,
        account: AccountId,
        now: DateTime<Utc>,
        audit: &AuditEntry,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let lifted = sqlx::query(
            "UPDATE accounts SET recovery_blocked_at = NULL \
             WHERE id = $1 AND recovery_blocked_at IS NOT NULL",
        )
        .bind(account.0)
        .execute(&mut *tx)
        .await?;
        if lifted.rows_affected() == 1 {
            insert_audit(&mut tx, now, audit).await?;
        }
        tx.commit().await?;
        Ok(lifted.rows_affected() == 1)
    }
}

async fn next_counter(conn: &mut AnyConnection, name: &str) -> StoreResult<i64> {
    let row = sqlx::query("UPDATE counters SET value = value + 1 WHERE name = $1 RETURNING value")
        .bind(name)
        .fetch_one(conn)
        .await?;
    row.try_get("value")
}

async fn insert_item(
    conn: &mut AnyConnection,
    id: TicketId,
    item: &NewItem,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO ticket_items (ticket_id, direction, kind, source_chat_id, source_message_id, \
             media_group_id, body, held, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id.0)
    .bind(item.direction.as_str())
    .bind(item.kind)
    .bind(item.source_chat_id)
    .bind(item.source_message_id)
    .bind(item.media_group_id.as_deref())
    .bind(item.body.as_deref())
    .bind(i64::from(item.held))
    .bind(to_unix(now))
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_group_message(
    conn: &mut AnyConnection,
    chat: i64,
    message: i64,
    id: TicketId,
    role: &str,
    staff: Option<TelegramUserId>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO ticket_messages (chat_id, message_id, ticket_id, role, staff_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (chat_id, message_id) DO NOTHING",
    )
    .bind(chat)
    .bind(message)
    .bind(id.0)
    .bind(role)
    .bind(staff.map(|s| s.0))
    .bind(to_unix(now))
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_event(
    conn: &mut AnyConnection,
    id: TicketId,
    now: DateTime<Utc>,
    actor: Option<TelegramUserId>,
    actor_name: Option<&str>,
    event: &str,
    detail: Option<&str>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO ticket_events (ticket_id, at, actor_id, actor_name, event, detail) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id.0)
    .bind(to_unix(now))
    .bind(actor.map(|a| a.0))
    .bind(actor_name)
    .bind(event)
    .bind(detail)
    .execute(conn)
    .await?;
    Ok(())
}

fn ticket_from_row(row: &AnyRow) -> StoreResult<Ticket> {
    let time = |name: &str| -> StoreResult<Option<DateTime<Utc>>> {
        Ok(row.try_get::<Option<i64>, _>(name)?.map(from_unix))
    };
    let category: String = row.try_get("category")?;
    let status: String = row.try_get("status")?;
    let lang: String = row.try_get("lang")?;
    Ok(Ticket {
        id: TicketId(row.try_get("id")?),
        number: row.try_get("number")?,
        user: TelegramUserId(row.try_get("tg_user_id")?),
        user_name: row.try_get("user_name")?,
        username: row.try_get("username")?,
        lang: Lang::parse(&lang).unwrap_or_default(),
        category: Category::parse(&category).unwrap_or(Category::Other),
        status: TicketStatus::parse(&status).unwrap_or(TicketStatus::Closed),
        urgent: row.try_get::<i64, _>("urgent")? != 0,
        account_id: row.try_get::<Option<i64>, _>("account_id")?.map(AccountId),
        verified_phone: row.try_get::<Option<String>, _>("verified_phone")?.map(Phone::from_stored),
        claimed_login: row.try_get("claimed_login")?,
        claimed_company: row.try_get("claimed_company")?,
        claimed_sign_in: row
            .try_get::<Option<String>, _>("claimed_sign_in")?
            .and_then(|date| date.parse().ok()),
        description: row.try_get("description")?,
        group_chat_id: row.try_get("group_chat_id")?,
        card_message_id: row.try_get("card_message_id")?,
        topic_id: row.try_get("topic_id")?,
        card_version: row.try_get("card_version")?,
        card_shown_version: row.try_get("card_shown_version")?,
        taken_by: row.try_get::<Option<i64>, _>("taken_by")?.map(TelegramUserId),
        taken_by_name: row.try_get("taken_by_name")?,
        user_unreachable_at: time("user_unreachable_at")?,
        closed_by_name: row.try_get("closed_by_name")?,
        close_reason: row.try_get("close_reason")?,
        rating: row.try_get::<Option<i64>, _>("rating")?.and_then(|r| u8::try_from(r).ok()),
        rating_comment: row.try_get("rating_comment")?,
        created_at: from_unix(row.try_get("created_at")?),
        submitted_at: time("submitted_at")?,
        closed_at: time("closed_at")?,
    })
}
