//! Placeholder until the real module lands (being written beside this).

use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub struct SupportHours;

pub fn sla_deadline(
    _hours: Option<&SupportHours>,
    start: DateTime<Utc>,
    sla: chrono::Duration,
) -> DateTime<Utc> {
    start + sla
}
