//! When support staff work (`SUPPORT_HOURS`, like `Mon-Fri 09:00-18:00
//! Europe/Moscow`), and the arithmetic that lets a reply deadline count only
//! working time.
//!
//! The hours are read off the zone's wall clock. On each listed day the desk
//! opens at the first instant the clock reads the opening time (or later) and
//! closes at the first instant it reads the closing time (or later). So a
//! daylight-saving change inside the hours makes that day an hour shorter or
//! longer; an opening time the clock skips happens when the clock jumps past
//! it; and when the clock repeats an hour, the desk closes the first time the
//! clock reads the closing time.
//!
//! Day ranges may wrap around the end of the week: `Fri-Mon` is Friday,
//! Saturday, Sunday and Monday (as `Sun-Thu` is for a week that starts on
//! Sunday). Overnight hours (`22:00-06:00`) are refused: one window per day,
//! ending the same day (`24:00` is the midnight at its end).

use std::fmt;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc,
};
use chrono_tz::Tz;

const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const EXAMPLE: &str = "Mon-Fri 09:00-18:00 Europe/Moscow";
const MINUTES_PER_DAY: u16 = 24 * 60;
/// Closed days in a row after which the search for an opening gives up. A
/// valid schedule opens every week, and a clock change can swallow at most
/// one opening (Samoa skipped a whole day once), so this is never reached.
const MAX_CLOSED_DAYS: u32 = 31;

/// A weekly schedule in one time zone; cannot be empty.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SupportHours {
    /// Bit `n` is set when the desk works on the weekday `n` days after Monday.
    days: u8,
    /// Minutes after local midnight, `open < close <= 24:00`.
    open: u16,
    close: u16,
    zone: Tz,
}

impl SupportHours {
    /// Reads `DAYS HH:MM-HH:MM ZONE`. Days are English three-letter names in
    /// any case, as ranges and lists (`Mon-Fri`, `Mon,Wed,Fri`, `Mon-Fri,Sun`);
    /// spaces inside the day list are ignored. The zone is an IANA name.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let tokens: Vec<&str> = raw.split_whitespace().collect();
        let [days @ .., window, zone] = tokens.as_slice() else {
            return Err(shape_error(raw));
        };
        if days.is_empty() {
            return Err(shape_error(raw));
        }
        let days = parse_days(&days.concat())?;
        let (open, close) = parse_window(window)?;
        let zone = zone.parse::<Tz>().map_err(|_| {
            format!("{zone:?} is not an IANA time zone name (like Europe/Moscow or UTC)")
        })?;
        Ok(Self { days, open, close, zone })
    }

    /// The zone the hours are kept in.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        self.openings_after(at).next().is_some_and(|(open, _)| open <= at)
    }

    /// `at` itself if the desk is open then, else when it next opens.
    pub fn next_opening(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        self.openings_after(at).next().map_or(DateTime::<Utc>::MAX_UTC, |(open, _)| open.max(at))
    }

    /// The instant by which `working` time inside the hours has passed since
    /// `start`; outside the hours the clock starts at the next opening. Zero
    /// (or negative) time gives the next opening. A deadline that falls on a
    /// closing time is that closing time, not the next opening.
    ///
    /// The work grows with the number of openings spanned: fine for SLAs.
    pub fn add_working_time(&self, start: DateTime<Utc>, working: Duration) -> DateTime<Utc> {
        let mut left = working.max(Duration::zero());
        for (open, close) in self.openings_after(start) {
            let from = open.max(start);
            let span = close - from;
            if left <= span {
                return from + left;
            }
            left -= span;
        }
        DateTime::<Utc>::MAX_UTC
    }

    /// Working time inside the hours between `from` and `to`; zero when `to`
    /// is not after `from`.
    pub fn working_time_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        let mut total = Duration::zero();
        if to <= from {
            return total;
        }
        for (open, close) in self.openings_after(from) {
            if open >= to {
                break;
            }
            total += close.min(to) - open.max(from);
        }
        total
    }

    /// The openings (as `[open, close)` instants) that end after `at`, in
    /// order. Starts a day early: an instant's local date is never earlier
    /// than the opening it falls in, but a repeated midnight could make it so.
    fn openings_after(
        &self,
        at: DateTime<Utc>,
    ) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        let local_date = at.with_timezone(&self.zone).date_naive();
        let first = local_date.pred_opt().unwrap_or(local_date);
        std::iter::successors(Some(first), |date| date.succ_opt())
            .map(|date| self.opening_on(date))
            .scan(0u32, |closed_days, opening| {
                if opening.is_some() {
                    *closed_days = 0;
                } else {
                    *closed_days += 1;
                }
                (*closed_days <= MAX_CLOSED_DAYS).then_some(opening)
            })
            .flatten()
            .skip_while(move |&(_, close)| close <= at)
    }

    /// The opening on a local date, if the desk works that day and the clock
    /// does not skip the whole window.
    fn opening_on(&self, date: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if self.days & (1 << date.weekday().num_days_from_monday()) == 0 {
            return None;
        }
        let midnight = date.and_hms_opt(0, 0, 0)?;
        let reading = |minutes: u16| {
            let local = midnight.checked_add_signed(Duration::minutes(minutes.into()))?;
            first_instant_reading(self.zone, local)
        };
        let (open, close) = (reading(self.open)?, reading(self.close)?);
        (open < close).then_some((open, close))
    }
}

impl fmt::Display for SupportHours {
    /// The canonical form, which [`SupportHours::parse`] reads back:
    /// `Mon-Fri,Sun 09:00-18:00 Europe/Moscow`, days in week order from Monday.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let works = |day: usize| self.days & (1 << day) != 0;
        let mut day = 0;
        let mut first = true;
        while day < 7 {
            if works(day) {
                let start = day;
                while day + 1 < 7 && works(day + 1) {
                    day += 1;
                }
                if !first {
                    f.write_str(",")?;
                }
                first = false;
                f.write_str(DAY_NAMES[start])?;
                if day > start {
                    write!(f, "-{}", DAY_NAMES[day])?;
                }
            }
            day += 1;
        }
        write!(f, " {}-{} {}", clock(self.open), clock(self.close), self.zone.name())
    }
}

/// The canonical form, readable in `Config`'s debug output.
impl fmt::Debug for SupportHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SupportHours({self})")
    }
}

/// The deadline for a reply: `sla` of working time from `start`, or of plain
/// time when there are no hours (the clock always runs).
pub fn sla_deadline(
    hours: Option<&SupportHours>,
    start: DateTime<Utc>,
    sla: Duration,
) -> DateTime<Utc> {
    match hours {
        Some(hours) => hours.add_working_time(start, sla),
        None => {
            start.checked_add_signed(sla.max(Duration::zero())).unwrap_or(DateTime::<Utc>::MAX_UTC)
        }
    }
}

fn shape_error(raw: &str) -> String {
    format!("{:?}: expected days, hours and a time zone, like {EXAMPLE:?}", raw.trim())
}

fn parse_days(list: &str) -> Result<u8, String> {
    let mut days = 0u8;
    for item in list.split(',') {
        if item.is_empty() {
            return Err(format!(
                "{list:?} has an empty item: expected days like Mon-Fri or Mon,Wed,Fri"
            ));
        }
        if let Some((first, last)) = item.split_once('-') {
            let (mut day, last) = (day_index(first)?, day_index(last)?);
            // Wraps past Sunday: Fri-Mon is Fri, Sat, Sun, Mon.
            loop {
                days |= 1 << day;
                if day == last {
                    break;
                }
                day = (day + 1) % 7;
            }
        } else {
            days |= 1 << day_index(item)?;
        }
    }
    Ok(days)
}

fn day_index(name: &str) -> Result<usize, String> {
    DAY_NAMES.iter().position(|day| day.eq_ignore_ascii_case(name)).ok_or_else(|| {
        format!("{name:?} is not a day: expected Mon, Tue, Wed, Thu, Fri, Sat or Sun")
    })
}

fn parse_window(window: &str) -> Result<(u16, u16), String> {
    let Some((open, close)) = window.split_once('-') else {
        return Err(format!("{window:?}: expected working hours as HH:MM-HH:MM, like 09:00-18:00"));
    };
    let (open, close) = (minutes_of(open, false)?, minutes_of(close, true)?);
    if open == close {
        return Err(format!(
            "{window:?} opens and closes at the same time (for the whole day write 00:00-24:00)"
        ));
    }
    if open > close {
        return Err(format!(
            "{window:?}: overnight hours are not supported; the hours must end later the same \
             day (24:00 is midnight at its end)"
        ));
    }
    Ok((open, close))
}

/// `H:MM` or `HH:MM` as minutes after midnight; `24:00` only as an end.
fn minutes_of(time: &str, is_end: bool) -> Result<u16, String> {
    let invalid = || {
        format!(
            "{time:?} is not a time of day: expected HH:MM from 00:00 to 23:59 (24:00 as the end)"
        )
    };
    let (hours, minutes) = time.split_once(':').ok_or_else(invalid)?;
    let digits = |s: &str, lengths: std::ops::RangeInclusive<usize>| {
        (lengths.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u16>().ok())
            .flatten()
    };
    let (hours, minutes) =
        (digits(hours, 1..=2).ok_or_else(invalid)?, digits(minutes, 2..=2).ok_or_else(invalid)?);
    let total = hours * 60 + minutes;
    if minutes < 60 && (total < MINUTES_PER_DAY || (is_end && total == MINUTES_PER_DAY)) {
        Ok(total)
    } else {
        Err(invalid())
    }
}

fn clock(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// The first instant at which `zone`'s clock reads `local` or later.
fn first_instant_reading(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(at) => Some(at.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Some(a.min(b).with_timezone(&Utc)),
        LocalResult::None => skipped_until(zone, local),
    }
}

/// When the clock jumps over `local` (a time it skips), the instant of the
/// jump: the first one whose reading is past `local`.
fn skipped_until(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let offset = |seconds: i64| {
        DateTime::from_timestamp(seconds, 0).map(|at| {
            i64::from(zone.offset_from_utc_datetime(&at.naive_utc()).fix().local_minus_utc())
        })
    };
    let target = local.and_utc().timestamp();
    // A day either side the clock is on its old and its new offset: zones
    // change offsets weeks apart.
    let (before, after) = (offset(target - 86_400)?, offset(target + 86_400)?);
    // The jump is at some T with target - after < T <= target - before; the
    // clock reads t + offset(t), below target before T and past it from T.
    let (mut below, mut past) = (target - after, target - before);
    while past - below > 1 {
        let mid = below + (past - below) / 2;
        if mid + offset(mid)? >= target {
            past = mid;
        } else {
            below = mid;
        }
    }
    DateTime::from_timestamp(past, 0)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveTime;

    use super::*;

    fn hours(raw: &str) -> SupportHours {
        SupportHours::parse(raw).unwrap()
    }

    /// A local wall-clock time in `zone` (the earlier one if repeated).
    fn local(zone: Tz, date: &str, time: &str) -> DateTime<Utc> {
        let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
        let time = NaiveTime::parse_from_str(time, "%H:%M").unwrap();
        zone.from_local_datetime(&date.and_time(time)).earliest().unwrap().with_timezone(&Utc)
    }

    fn utc(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw).unwrap().with_timezone(&Utc)
    }

    const MSK: Tz = chrono_tz::Europe::Moscow;
    const BERLIN: Tz = chrono_tz::Europe::Berlin;

    #[test]
    fn day_ranges_lists_and_case_are_read() {
        let cases = [
            ("Mon-Fri 09:00-18:00 Europe/Moscow", "Mon-Fri 09:00-18:00 Europe/Moscow"),
            ("mon,WED,fri 9:00-18:00 Europe/Moscow", "Mon,Wed,Fri 09:00-18:00 Europe/Moscow"),
            ("Mon-Fri,Sun 09:00-18:00 UTC", "Mon-Fri,Sun 09:00-18:00 UTC"),
            ("Mon-Fri, Sun 09:00-18:00 UTC", "Mon-Fri,Sun 09:00-18:00 UTC"),
            ("sat 10:00-14:30 Europe/Berlin", "Sat 10:00-14:30 Europe/Berlin"),
            ("Fri-Mon 10:00-24:00 UTC", "Mon,Fri-Sun 10:00-24:00 UTC"),
            ("Sun-Sat 00:00-24:00 UTC", "Mon-Sun 00:00-24:00 UTC"),
            ("Tue,Mon,Tue 08:00-09:00 UTC", "Mon-Tue 08:00-09:00 UTC"),
            ("  Mon   09:00-18:00   UTC ", "Mon 09:00-18:00 UTC"),
        ];
        for (raw, canonical) in cases {
            let parsed = hours(raw);
            assert_eq!(parsed.to_string(), canonical, "{raw}");
            assert_eq!(hours(canonical), parsed, "{raw} round trip");
            assert_eq!(format!("{parsed:?}"), format!("SupportHours({canonical})"));
        }
    }

    #[test]
    fn bad_hours_say_what_was_expected() {
        let cases = [
            ("", "expected days, hours and a time zone"),
            ("Mon-Fri 09:00-18:00", "expected days, hours and a time zone"),
            ("Mon-Fri Europe/Moscow", "expected days, hours and a time zone"),
            ("Mo-Fr 09:00-18:00 UTC", "\"Mo\" is not a day"),
            ("Monday 09:00-18:00 UTC", "\"Monday\" is not a day"),
            ("Mon,,Fri 09:00-18:00 UTC", "empty item"),
            ("Mon-Fri 0900-1800 UTC", "not a time of day"),
            ("Mon-Fri 09:00 UTC", "expected working hours as HH:MM-HH:MM"),
            ("Mon-Fri 09:60-18:00 UTC", "\"09:60\" is not a time of day"),
            ("Mon-Fri 25:00-26:00 UTC", "\"25:00\" is not a time of day"),
            ("Mon-Fri 24:00-24:00 UTC", "\"24:00\" is not a time of day"),
            ("Mon-Fri 09:00-24:01 UTC", "\"24:01\" is not a time of day"),
            ("Mon-Fri 22:00-06:00 UTC", "overnight hours are not supported"),
            ("Mon-Fri 09:00-09:00 UTC", "opens and closes at the same time"),
            ("Mon-Fri 09:00-18:00 Europe/Moskow", "\"Europe/Moskow\" is not an IANA time zone"),
            ("Mon-Fri 09:00-18:00 MSK+3", "is not an IANA time zone"),
        ];
        for (raw, expected) in cases {
            let err = SupportHours::parse(raw).unwrap_err();
            assert!(err.contains(expected), "{raw:?}: {err}");
            assert!(!err.contains('\n'), "{raw:?}: {err}");
        }
    }

    #[test]
    fn open_from_the_opening_minute_until_just_before_closing() {
        let h = hours("Mon-Fri 09:00-18:00 Europe/Moscow");
        // 2026-03-06 is a Friday.
        assert!(!h.is_open(local(MSK, "2026-03-06", "08:59")));
        assert!(h.is_open(local(MSK, "2026-03-06", "09:00")));
        assert!(h.is_open(local(MSK, "2026-03-06", "17:59")));
        assert!(!h.is_open(local(MSK, "2026-03-06", "18:00")));
        assert!(!h.is_open(local(MSK, "2026-03-07", "12:00")));
        assert!(!h.is_open(local(MSK, "2026-03-08", "12:00")));
        // Moscow is UTC+3 all year: 06:00 UTC is 09:00 there.
        assert!(h.is_open(utc("2026-03-09T06:00:00Z")));
        assert!(!h.is_open(utc("2026-03-09T05:59:59Z")));
    }

    #[test]
    fn next_opening_is_now_when_open() {
        let h = hours("Mon-Fri 09:00-18:00 Europe/Moscow");
        let open = local(MSK, "2026-03-04", "12:34");
        assert_eq!(h.next_opening(open), open);
        assert_eq!(
            h.next_opening(local(MSK, "2026-03-06", "18:00")),
            local(MSK, "2026-03-09", "09:00")
        );
        assert_eq!(
            h.next_opening(local(MSK, "2026-03-04", "03:00")),
            local(MSK, "2026-03-04", "09:00")
        );
    }

    #[test]
    fn friday_evening_plus_half_an_hour_is_monday_morning() {
        let h = hours("Mon-Fri 09:00-18:00 Europe/Moscow");
        let friday_evening = local(MSK, "2026-03-06", "19:00");
        let deadline = h.add_working_time(friday_evening, Duration::minutes(30));
        assert_eq!(deadline, local(MSK, "2026-03-09", "09:30"));
        assert_eq!(h.working_time_between(friday_evening, deadline), Duration::minutes(30));
    }

    #[test]
    fn working_time_runs_across_closing_and_days() {
        let h = hours("Mon-Fri 09:00-18:00 Europe/Moscow");
        let at = |date, time| local(MSK, date, time);
        let add = |start, minutes| h.add_working_time(start, Duration::minutes(minutes));
        // Within the day.
        assert_eq!(add(at("2026-03-03", "10:00"), 120), at("2026-03-03", "12:00"));
        // Ending exactly at closing: that closing, not the next opening.
        assert_eq!(add(at("2026-03-06", "17:30"), 30), at("2026-03-06", "18:00"));
        assert_eq!(add(at("2026-03-06", "17:30"), 31), at("2026-03-09", "09:01"));
        // Monday 17:00 + 11 h: 1 h on Monday, 9 h on Tuesday, 1 h on Wednesday.
        assert_eq!(add(at("2026-03-02", "17:00"), 11 * 60), at("2026-03-04", "10:00"));
        // Zero starts the clock only: the next opening.
        assert_eq!(add(at("2026-03-07", "12:00"), 0), at("2026-03-09", "09:00"));
        assert_eq!(add(at("2026-03-04", "12:00"), 0), at("2026-03-04", "12:00"));
        assert_eq!(add(at("2026-03-07", "12:00"), -5), at("2026-03-09", "09:00"));
        // A whole week of working time is five days.
        assert_eq!(add(at("2026-03-02", "09:00"), 45 * 60), at("2026-03-06", "18:00"));
    }

    #[test]
    fn working_time_between_counts_only_the_hours() {
        let h = hours("Mon-Fri 09:00-18:00 Europe/Moscow");
        let at = |date, time| local(MSK, date, time);
        let between = |from, to| h.working_time_between(from, to).num_minutes();
        assert_eq!(between(at("2026-03-06", "17:00"), at("2026-03-09", "10:00")), 120);
        assert_eq!(between(at("2026-03-07", "00:00"), at("2026-03-08", "23:59")), 0);
        assert_eq!(between(at("2026-03-02", "00:00"), at("2026-03-09", "00:00")), 45 * 60);
        assert_eq!(between(at("2026-03-03", "10:00"), at("2026-03-03", "10:00")), 0);
        assert_eq!(between(at("2026-03-03", "12:00"), at("2026-03-03", "10:00")), 0);
    }

    #[test]
    fn wrapped_day_ranges_work_across_the_weekend() {
        let h = hours("Fri-Mon 10:00-12:00 UTC");
        // 2026-03-07 is a Saturday, 2026-03-10 a Tuesday.
        assert!(h.is_open(utc("2026-03-07T11:00:00Z")));
        assert!(h.is_open(utc("2026-03-09T11:00:00Z")));
        assert!(!h.is_open(utc("2026-03-10T11:00:00Z")));
        assert_eq!(h.next_opening(utc("2026-03-10T11:00:00Z")), utc("2026-03-13T10:00:00Z"));
    }

    #[test]
    fn berlin_days_keep_their_wall_clock_hours_across_clock_changes() {
        let h = hours("Mon-Fri 09:00-18:00 Europe/Berlin");
        // Friday 2026-03-27 17:00 CET (UTC+1); clocks go forward on Sunday
        // the 29th; Monday 10:00 CEST is 08:00 UTC.
        let deadline = h.add_working_time(utc("2026-03-27T16:00:00Z"), Duration::hours(2));
        assert_eq!(deadline, utc("2026-03-30T08:00:00Z"));
        // Friday 2026-10-23 17:00 CEST (UTC+2); clocks go back on the 25th;
        // Monday 10:00 CET is 09:00 UTC.
        let deadline = h.add_working_time(utc("2026-10-23T15:00:00Z"), Duration::hours(2));
        assert_eq!(deadline, utc("2026-10-26T09:00:00Z"));
    }

    #[test]
    fn a_clock_change_inside_the_hours_shortens_or_lengthens_the_day() {
        let h = hours("Mon-Sun 00:00-24:00 Europe/Berlin");
        let day = |date: &str| {
            let start = local(BERLIN, date, "00:00");
            let next = NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap().succ_opt().unwrap();
            let end = local(BERLIN, &next.to_string(), "00:00");
            h.working_time_between(start, end)
        };
        assert_eq!(day("2026-03-28"), Duration::hours(24));
        assert_eq!(day("2026-03-29"), Duration::hours(23));
        assert_eq!(day("2026-10-25"), Duration::hours(25));
        // Always open: adding is plain addition, through both changes.
        let start = utc("2026-03-28T12:00:00Z");
        assert_eq!(h.add_working_time(start, Duration::days(2)), start + Duration::days(2));
        let start = utc("2026-10-24T12:00:00Z");
        assert_eq!(h.add_working_time(start, Duration::days(2)), start + Duration::days(2));
        assert!(h.is_open(utc("2026-10-25T00:30:00Z")));
        assert!(h.is_open(utc("2026-10-25T01:30:00Z")));
    }

    #[test]
    fn an_opening_the_clock_skips_happens_when_it_jumps() {
        // 2026-03-29: Berlin's clocks jump from 02:00 CET to 03:00 CEST at
        // 01:00 UTC.
        let h = hours("Sun 02:30-04:00 Europe/Berlin");
        assert_eq!(h.next_opening(utc("2026-03-29T00:00:00Z")), utc("2026-03-29T01:00:00Z"));
        assert!(!h.is_open(utc("2026-03-29T00:59:59Z")));
        assert!(h.is_open(utc("2026-03-29T01:00:00Z")));
        assert_eq!(
            h.working_time_between(utc("2026-03-29T00:00:00Z"), utc("2026-03-30T00:00:00Z")),
            Duration::hours(1)
        );
        // A window wholly skipped is no opening that day.
        let skipped = hours("Sun 02:00-03:00 Europe/Berlin");
        assert_eq!(
            skipped.next_opening(utc("2026-03-28T12:00:00Z")),
            utc("2026-04-05T00:00:00Z") // 02:00 CEST a week later
        );
        assert_eq!(
            skipped.add_working_time(utc("2026-03-28T12:00:00Z"), Duration::minutes(90)),
            utc("2026-04-12T00:30:00Z")
        );
    }

    #[test]
    fn a_repeated_hour_opens_at_its_first_reading() {
        // 2026-10-25: Berlin's clocks go back from 03:00 CEST to 02:00 CET at
        // 01:00 UTC, so 02:00-03:00 happens twice.
        let h = hours("Sun 02:00-04:00 Europe/Berlin");
        assert_eq!(h.next_opening(utc("2026-10-24T12:00:00Z")), utc("2026-10-25T00:00:00Z"));
        assert_eq!(
            h.working_time_between(utc("2026-10-24T12:00:00Z"), utc("2026-10-26T00:00:00Z")),
            Duration::hours(3)
        );
        // Closing inside the repeated hour: at its first reading.
        let h = hours("Sun 01:00-02:30 Europe/Berlin");
        assert_eq!(
            h.working_time_between(utc("2026-10-24T12:00:00Z"), utc("2026-10-26T00:00:00Z")),
            Duration::minutes(90)
        );
        assert!(!h.is_open(utc("2026-10-25T01:15:00Z"))); // 02:15 CET, the second time
    }

    #[test]
    fn adding_then_measuring_gives_the_time_back() {
        let schedules = [
            "Mon-Fri 09:00-18:00 Europe/Berlin",
            "Mon,Wed,Sun 02:30-03:30 Europe/Berlin",
            "Sat-Mon 00:00-24:00 America/New_York",
            "Sun 01:45-02:45 Australia/Lord_Howe",
            "Mon-Fri 09:00-18:00 Europe/Moscow",
        ];
        let first = utc("2026-03-20T00:00:00Z");
        for raw in schedules {
            let h = hours(raw);
            for step in 0..300 {
                let start = first + Duration::minutes(step * 97);
                for minutes in [1, 29, 30, 61, 600, 2 * 24 * 60 + 7] {
                    let working = Duration::minutes(minutes);
                    let end = h.add_working_time(start, working);
                    assert_eq!(h.working_time_between(start, end), working, "{raw} {start}");
                    assert!(end > start);
                    let opened = h.next_opening(start);
                    assert!(opened >= start && h.is_open(opened), "{raw} {start}");
                    assert!(h.is_open(end - Duration::seconds(1)), "{raw} {start} {minutes}");
                }
            }
        }
    }

    #[test]
    fn a_rare_short_window_still_ends() {
        // One minute a week: a week of working time spans about 190 years.
        let h = hours("Wed 12:00-12:01 UTC");
        let start = utc("2026-01-01T00:00:00Z");
        let end = h.add_working_time(start, Duration::minutes(10_080));
        assert_eq!(h.working_time_between(start, end), Duration::minutes(10_080));
        assert!(end.year() > 2200);
    }

    #[test]
    fn without_hours_the_sla_clock_always_runs() {
        let start = utc("2026-03-06T16:00:00Z"); // Friday 19:00 in Moscow
        let sla = Duration::minutes(30);
        assert_eq!(sla_deadline(None, start, sla), utc("2026-03-06T16:30:00Z"));
        let h = hours("Mon-Fri 09:00-18:00 Europe/Moscow");
        assert_eq!(sla_deadline(Some(&h), start, sla), local(MSK, "2026-03-09", "09:30"));
    }
}
