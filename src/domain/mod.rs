//! Pure types and rules of account recovery: no I/O, no Telegram, no SQL.

pub mod account;
pub mod audit;
pub mod company;
pub mod delivery;
pub mod ids;
pub mod lang;
pub mod licence;
pub mod links;
pub mod lockout;
pub mod password;
pub mod phone;
pub mod policy;
pub mod security;
pub mod sign_in_date;
pub mod support_hours;
pub mod ticket;
pub mod token;
pub mod two_factor;

pub use account::{Account, AccountUpdate, Email, Login};
pub use audit::{AuditEvent, AuditOutcome};
pub use company::{Company, CompanyName, parse_licence_end};
pub use delivery::{Delivery, MailEvent, MailNotice, NewDelivery};
pub use ids::{AccountId, TelegramUserId};
pub use lang::Lang;
pub use licence::{PlannedReminder, plan_reminders};
pub use links::PublicUrls;
pub use lockout::{FailureOutcome, Lock, LockoutPolicy, LockoutState, login_key};
pub use password::{NewPassword, PasswordContext, PasswordPolicy, PasswordRejection};
pub use phone::Phone;
pub use policy::{BindingPolicy, ResetPolicy};
pub use security::{CrmEvent, CrmEventKind, SecurityAlert, Subscriptions};
pub use sign_in_date::{SignInDateError, parse_sign_in_date};
pub use support_hours::{SupportHours, sla_deadline};
pub use ticket::{
    Category, Direction, DraftStep, Notice, RelayedKind, StaffAction, Ticket, TicketId,
    TicketStatus,
};
pub use token::{ResetToken, TokenHash};
pub use two_factor::{BackupCode, SecretBox, SecretKey, TotpSecret};
