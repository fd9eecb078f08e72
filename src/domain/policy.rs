//! The tunable rules of recovery, with the product's defaults. Read from the
//! environment by `config`, applied by `recovery`.

use chrono::Duration;

/// Rules for one-time reset links and the proof that precedes them.
#[derive(Debug, Clone)]
pub struct ResetPolicy {
    /// How long a link works (`RESET_LINK_TTL_MINUTES`, at most an hour).
    pub link_ttl: Duration,
    /// Links per account in any hour (`RESET_LINKS_PER_HOUR`).
    pub links_per_hour: u32,
    /// How long a shared contact proves the phone for the next step.
    pub contact_ttl: Duration,
    /// Refused submissions on the page after which the link is spent: a
    /// link holder must not get unlimited tries.
    pub max_refused_submissions: u32,
}

impl ResetPolicy {
    pub const MAX_LINK_TTL_MINUTES: i64 = 60;
}

impl Default for ResetPolicy {
    fn default() -> Self {
        Self {
            link_ttl: Duration::minutes(10),
            links_per_hour: 3,
            contact_ttl: Duration::minutes(10),
            max_refused_submissions: 5,
        }
    }
}

/// What a Telegram user who matches an account's phone but is not yet
/// bound to it must do before anything that grants access
/// (`NEW_BINDING_POLICY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BindingPolicy {
    /// Type a six-digit code mailed to the account's address.
    EmailCode,
    /// Wait: the account's address is told at once and may cancel; once
    /// `wait` has passed, the user asks again and gets the link.
    Hold { wait: Duration },
    /// Nothing: the phone alone is trusted (e-mail off).
    #[default]
    PhoneAlone,
}

impl BindingPolicy {
    /// `NEW_BINDING_HOLD_HOURS` by default.
    pub const DEFAULT_HOLD_HOURS: i64 = 24;
    /// Holds started for one account in any day, at most (each one mails
    /// its address).
    pub const HOLDS_PER_DAY: usize = 3;

    /// How long a hold that has ended still lets its user in: after that,
    /// asking again starts a new hold.
    pub fn hold_grace() -> Duration {
        Duration::days(7)
    }

    /// Codes mailed to one account in any hour, at most.
    pub const CODES_PER_HOUR: usize = 3;
    /// Tries per code.
    pub const ATTEMPTS_PER_CODE: i64 = 5;

    pub fn code_ttl() -> Duration {
        Duration::minutes(10)
    }
}
