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
