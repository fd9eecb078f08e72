//! Tickets of the support desk: what a user asks the staff for, the steps
//! that collect it, and what staff may do with it.

use std::fmt;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{AccountId, Lang, Phone, TelegramUserId};

/// The primary key of a ticket (not its number: drafts have none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TicketId(pub i64);

impl fmt::Display for TicketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The description on the card is cut here; the whole text follows the
/// card as a message of its own.
pub const CARD_DESCRIPTION_CHARS: usize = 1500;

/// Screenshots or documents a user may attach to one ticket.
pub const MAX_ATTACHMENTS: i64 = 5;
/// How long after closing a ticket its user may reopen it.
pub fn reopen_window() -> Duration {
    Duration::days(7)
}

/// Why a ticket was opened: the path that could not finish by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// The shared phone matches no account.
    NoAccount,
    /// The phone or e-mail on file is lost.
    LostContact,
    /// The authenticator is lost and no backup code is at hand.
    LostTwoFactor,
    /// Locked or blocked, and waiting is not an answer.
    Locked,
    /// "It wasn't me": urgent.
    NotMe,
    /// "Talk to support".
    Other,
}

impl Category {
    pub const ALL: [Category; 6] = [
        Category::NoAccount,
        Category::LostContact,
        Category::LostTwoFactor,
        Category::Locked,
        Category::NotMe,
        Category::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::NoAccount => "no_account",
            Category::LostContact => "lost_contact",
            Category::LostTwoFactor => "lost_2fa",
            Category::Locked => "locked",
            Category::NotMe => "not_me",
            Category::Other => "other",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|category| category.as_str() == raw)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketStatus {
    /// Being written by the user; staff do not see it yet.
    Draft,
    Open,
    Closed,
    Rejected,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Draft => "draft",
            TicketStatus::Open => "open",
            TicketStatus::Closed => "closed",
            TicketStatus::Rejected => "rejected",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [TicketStatus::Draft, TicketStatus::Open, TicketStatus::Closed, TicketStatus::Rejected]
            .into_iter()
            .find(|status| status.as_str() == raw)
    }
}

/// The questions a ticket asks, in order (seed section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DraftStep {
    /// Login or e-mail; asked only when no account was verified.
    Login,
    Company,
    LastSignIn,
    Description,
    Attachments,
}

impl DraftStep {
    /// The first question; a verified account makes login and company
    /// known already.
    pub fn first(account_known: bool) -> Self {
        if account_known { DraftStep::LastSignIn } else { DraftStep::Login }
    }

    /// The question after this one; `None` after the attachments.
    pub fn next(self) -> Option<Self> {
        match self {
            DraftStep::Login => Some(DraftStep::Company),
            DraftStep::Company => Some(DraftStep::LastSignIn),
            DraftStep::LastSignIn => Some(DraftStep::Description),
            DraftStep::Description => Some(DraftStep::Attachments),
            DraftStep::Attachments => None,
        }
    }

    /// Whether a Skip button is offered: the login is what staff look the
    /// person up by, and the description is what they act on.
    pub fn skippable(self) -> bool {
        !matches!(self, DraftStep::Login | DraftStep::Description)
    }
}

/// A ticket as stored.
#[derive(Debug, Clone)]
pub struct Ticket {
    pub id: TicketId,
    /// `#N`, given at submission.
    pub number: Option<i64>,
    pub user: TelegramUserId,
    pub user_name: String,
    pub username: Option<String>,
    pub lang: Lang,
    pub category: Category,
    pub status: TicketStatus,
    pub urgent: bool,
    /// The account the identity step proved, if the ticket came through it.
    pub account_id: Option<AccountId>,
    pub verified_phone: Option<Phone>,
    pub claimed_login: Option<String>,
    pub claimed_company: Option<String>,
    pub claimed_sign_in: Option<NaiveDate>,
    pub description: Option<String>,
    pub group_chat_id: Option<i64>,
    pub card_message_id: Option<i64>,
    pub topic_id: Option<i64>,
    pub card_version: i64,
    pub card_shown_version: i64,
    pub taken_by: Option<TelegramUserId>,
    pub taken_by_name: Option<String>,
    pub user_unreachable_at: Option<DateTime<Utc>>,
    pub closed_by_name: Option<String>,
    pub close_reason: Option<String>,
    pub rating: Option<u8>,
    pub rating_comment: Option<String>,
    pub created_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl Ticket {
    pub fn is_live(&self) -> bool {
        matches!(self.status, TicketStatus::Draft | TicketStatus::Open)
    }

    /// The number as shown, `#N`; a draft shows its id.
    pub fn label(&self) -> String {
        format!("#{}", self.number.unwrap_or(self.id.0))
    }

    /// Whether its user may reopen it now.
    pub fn reopenable(&self, now: DateTime<Utc>) -> bool {
        matches!(self.status, TicketStatus::Closed)
            && self.closed_at.is_some_and(|closed| now - closed <= reopen_window())
    }
}

/// What a staff member can do from a ticket's card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffAction {
    Take,
    Release,
    /// A fresh reset link for the ticket's verified account.
    SendLink,
    /// Lift a lock or an administrative block on the ticket's account.
    Unlock,
    /// Lift the recovery block that "It wasn't me" set.
    LiftBlock,
    /// Turn off 2FA on the ticket's account (lost device, no backup code).
    ResetTwoFactor,
    Close,
    /// Asks for the reason first.
    Reject,
}

impl StaffAction {
    pub const ALL: [StaffAction; 8] = [
        StaffAction::Take,
        StaffAction::Release,
        StaffAction::SendLink,
        StaffAction::Unlock,
        StaffAction::LiftBlock,
        StaffAction::ResetTwoFactor,
        StaffAction::Close,
        StaffAction::Reject,
    ];

    pub fn code(self) -> &'static str {
        match self {
            StaffAction::Take => "take",
            StaffAction::Release => "release",
            StaffAction::SendLink => "link",
            StaffAction::Unlock => "unlock",
            StaffAction::LiftBlock => "unblock",
            // Also names the action in the locales (`desk-action-reset_2fa`).
            StaffAction::ResetTwoFactor => "reset_2fa",
            StaffAction::Close => "close",
            StaffAction::Reject => "reject",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.code() == code)
    }

    /// Privileged: only staff admins.
    pub fn needs_admin(self) -> bool {
        matches!(self, StaffAction::Unlock | StaffAction::LiftBlock | StaffAction::ResetTwoFactor)
    }
}

/// Where an item of a ticket goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ToGroup,
    ToUser,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::ToGroup => "to_group",
            Direction::ToUser => "to_user",
        }
    }
}

/// Something said about a ticket, delivered in order with its relayed
/// messages, and rendered in the reader's language when it is sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum Notice {
    // To the staff group.
    /// The user asked for help again while this ticket was open.
    AskedAgain {
        category: Category,
    },
    UserClosed,
    UserReopened,
    Rated {
        rating: u8,
    },
    RatingComment {
        comment: String,
    },
    /// Telegram refuses to deliver to the user (they blocked the bot).
    UserUnreachable,
    /// A staff member sent the user a reset link.
    LinkSent {
        by: String,
    },
    // To the user.
    /// Closed by staff: rate it.
    Closed,
    Rejected {
        reason: String,
    },
    Unlocked,
    RecoveryUnblocked,
    /// Staff turned 2FA off on the ticket's account.
    TwoFactorReset,
}

/// What a user's message in a ticket is, for relaying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayedKind {
    /// A text, relayed as text with a header.
    Text(String),
    /// An edit of an earlier text.
    Edit(String),
    /// A photo, document, voice, video…: copied; `captionable` if Telegram
    /// allows a caption on it.
    Copy { captionable: bool, caption: Option<String>, media_group_id: Option<String> },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for category in Category::ALL {
            assert_eq!(Category::parse(category.as_str()), Some(category));
        }
        for action in StaffAction::ALL {
            assert_eq!(StaffAction::parse(action.code()), Some(action));
        }
        assert_eq!(StaffAction::parse("nope"), None);
    }

    #[test]
    fn resetting_two_factor_is_for_staff_admins() {
        assert_eq!(StaffAction::parse("reset_2fa"), Some(StaffAction::ResetTwoFactor));
        assert!(StaffAction::ResetTwoFactor.needs_admin());
        let admins_only: Vec<_> =
            StaffAction::ALL.into_iter().filter(|action| action.needs_admin()).collect();
        assert_eq!(
            admins_only,
            [StaffAction::Unlock, StaffAction::LiftBlock, StaffAction::ResetTwoFactor]
        );
    }

    /// A notice waiting in the outbox is read back by a later version.
    #[test]
    fn the_two_factor_notice_keeps_its_stored_form() {
        let stored = serde_json::to_string(&Notice::TwoFactorReset).unwrap();
        assert_eq!(stored, r#"{"notice":"two_factor_reset"}"#);
        assert_eq!(serde_json::from_str::<Notice>(&stored).unwrap(), Notice::TwoFactorReset);
    }

    #[test]
    fn steps_skip_what_a_verified_account_tells() {
        assert_eq!(DraftStep::first(true), DraftStep::LastSignIn);
        let mut step = DraftStep::first(false);
        let mut seen = vec![step];
        while let Some(next) = step.next() {
            seen.push(next);
            step = next;
        }
        assert_eq!(seen.len(), 5);
        assert!(!DraftStep::Description.skippable());
        assert!(DraftStep::Attachments.skippable());
    }
}
