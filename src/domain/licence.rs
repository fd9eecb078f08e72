//! The rules of a company's licence running out: when its administrators
//! are reminded (7, 3 and 1 days before the end), and the keys that keep
//! each reminder and each day's alert to one delivery.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::TelegramUserId;

/// Days before the licence's end on which administrators are reminded,
/// longest first.
pub const REMINDER_DAYS: [u32; 3] = [7, 3, 1];

/// A reminder that fell due longer ago than this when it is queued (the
/// licence was set late, the administrator linked late) is not sent.
pub fn reminder_grace() -> Duration {
    Duration::days(1)
}

/// One reminder for one administrator, as a licence end calls for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedReminder {
    pub days: u32,
    pub key: String,
    /// `None`: not to be sent (no end on file, or too late); a pending row
    /// of this key is cancelled.
    pub due_at: Option<DateTime<Utc>>,
}

/// The reminders `to` gets for a licence of `company` ending at `end`,
/// seen at `now`. The keys leave the date out, so a new end replaces the
/// pending reminders of the old one.
pub fn plan_reminders(
    company: &str,
    to: TelegramUserId,
    end: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Vec<PlannedReminder> {
    REMINDER_DAYS
        .into_iter()
        .map(|days| PlannedReminder {
            days,
            key: reminder_key(company, days, to),
            due_at: end
                .map(|end| end - Duration::days(days.into()))
                .filter(|due| now - *due <= reminder_grace()),
        })
        .collect()
}

pub fn reminder_key(company: &str, days: u32, to: TelegramUserId) -> String {
    format!("licence-reminder:{company}:{days}:{to}")
}

/// The key of one day's alert to one administrator: an alert is sent once.
pub fn admin_alert_key(company: &str, day: NaiveDate, to: TelegramUserId) -> String {
    format!("licence-admin:{company}:{day}:{to}")
}

/// Whole calendar days (UTC, the CRM's days) from `now` to `end`.
pub fn days_left(end: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (end.date_naive() - now.date_naive()).num_days()
}

/// Whether the `days` reminder for a licence ending at `end` is still worth
/// sending at `now` (it may be late, after an outage): not once the licence
/// has ended, and not once the next, shorter reminder is due as well, which
/// says the same thing closer to the date.
pub fn reminder_still_due(days: u32, end: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    let next = REMINDER_DAYS.into_iter().find(|&d| d < days).unwrap_or(0);
    now < end && days_left(end, now) > i64::from(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw).unwrap().to_utc()
    }

    #[test]
    fn reminders_fall_7_3_and_1_days_before_the_end() {
        let now = at("2026-11-25T09:00:00Z");
        let end = at("2026-12-05T09:00:00Z");
        let plan = plan_reminders("Acme", TelegramUserId(7), Some(end), now);
        let due: Vec<_> = plan.iter().map(|p| (p.days, p.due_at)).collect();
        assert_eq!(
            due,
            [
                (7, Some(at("2026-11-28T09:00:00Z"))),
                (3, Some(at("2026-12-02T09:00:00Z"))),
                (1, Some(at("2026-12-04T09:00:00Z")))
            ]
        );
        assert_eq!(plan[0].key, "licence-reminder:Acme:7:7");
    }

    #[test]
    fn reminders_due_over_a_day_ago_or_without_an_end_are_not_sent() {
        let now = at("2026-11-25T09:00:00Z");
        // Ends in 2.5 days: the 7-day one is long past, the 3-day one half a day.
        let plan = plan_reminders("Acme", TelegramUserId(7), Some(at("2026-11-27T21:00:00Z")), now);
        let due: Vec<_> = plan.iter().map(|p| p.due_at.is_some()).collect();
        assert_eq!(due, [false, true, true]);
        let none = plan_reminders("Acme", TelegramUserId(7), None, now);
        assert!(none.iter().all(|p| p.due_at.is_none()));
    }

    #[test]
    fn a_late_reminder_gives_way_to_the_next_one() {
        let end = at("2026-12-05T09:00:00Z");
        assert!(reminder_still_due(7, end, at("2026-11-28T09:00:00Z")));
        assert!(reminder_still_due(7, end, at("2026-12-01T09:00:00Z")), "4 days left");
        assert!(!reminder_still_due(7, end, at("2026-12-02T09:00:00Z")), "the 3-day one is due");
        assert!(reminder_still_due(1, end, at("2026-12-04T09:00:00Z")));
        assert!(!reminder_still_due(1, end, at("2026-12-05T09:00:01Z")), "ended");
    }
}
