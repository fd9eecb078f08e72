//! The day a user says they last signed in successfully, as they type it:
//! a word (`вчера`, `yesterday`) or a date (`03.02.2026`, `2026-02-03`).
//!
//! Numeric dates are day first (`03.02.2026` is 3 February), as written in
//! Russia and most of Europe; only the ISO form puts the year first.

use chrono::{Days, Months, NaiveDate};

/// Sign-ins further back than this are not believed (a typo in the year).
pub const MAX_YEARS_BACK: u32 = 10;

/// Why a typed sign-in date was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignInDateError {
    #[error("not a date (like 03.02.2026 or yesterday)")]
    Unreadable,
    #[error("the date is after today")]
    InFuture,
    #[error("the date is more than {MAX_YEARS_BACK} years ago")]
    TooOld,
}

/// Reads `text` relative to `today`, the user's local date. Accepted,
/// trimmed, in any case, with trailing `.` or `!` ignored: `сегодня`,
/// `вчера`, `позавчера`, `today`, `yesterday`, `dd.mm.yyyy` (or `d.m.yyyy`),
/// `dd.mm.yy` (20yy), `dd/mm/yyyy` and ISO `yyyy-mm-dd`. A day that does not
/// exist (31.02.2026) is unreadable.
pub fn parse_sign_in_date(text: &str, today: NaiveDate) -> Result<NaiveDate, SignInDateError> {
    let text = text.trim().trim_end_matches(['.', '!']).trim_end().to_lowercase();
    let date = match text.as_str() {
        "сегодня" | "today" => Some(today),
        "вчера" | "yesterday" => today.pred_opt(),
        "позавчера" => today.checked_sub_days(Days::new(2)),
        numeric => numeric_date(numeric),
    }
    .ok_or(SignInDateError::Unreadable)?;
    if date > today {
        return Err(SignInDateError::InFuture);
    }
    // Chrono clamps 29 February back to the 28th in a year without one.
    let earliest = today.checked_sub_months(Months::new(MAX_YEARS_BACK * 12));
    if earliest.is_some_and(|earliest| date < earliest) {
        return Err(SignInDateError::TooOld);
    }
    Ok(date)
}

/// `d.m.yyyy`, `d.m.yy`, the same with `/`, or `yyyy-m-d`.
fn numeric_date(text: &str) -> Option<NaiveDate> {
    let number = |part: &str, lengths: std::ops::RangeInclusive<usize>| {
        (lengths.contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse::<u32>().ok())
            .flatten()
    };
    let separator = ['.', '/', '-'].into_iter().find(|&sep| text.contains(sep))?;
    let parts: Vec<&str> = text.split(separator).collect();
    let [first, second, third] = parts.as_slice() else {
        return None;
    };
    let (year, month, day) = if separator == '-' {
        (number(first, 4..=4)?, number(second, 1..=2)?, number(third, 1..=2)?)
    } else {
        let year = match third.len() {
            2 => 2000 + number(third, 2..=2)?,
            _ => number(third, 4..=4)?,
        };
        (year, number(second, 1..=2)?, number(first, 1..=2)?)
    };
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(raw: &str) -> NaiveDate {
        NaiveDate::parse_from_str(raw, "%Y-%m-%d").unwrap()
    }

    const TODAY: &str = "2026-03-02";

    fn parse(text: &str) -> Result<NaiveDate, SignInDateError> {
        parse_sign_in_date(text, day(TODAY))
    }

    #[test]
    fn words_count_back_from_the_users_today() {
        for (text, expected) in [
            ("сегодня", "2026-03-02"),
            ("Сегодня!", "2026-03-02"),
            ("today", "2026-03-02"),
            ("вчера", "2026-03-01"),
            ("Вчера", "2026-03-01"),
            ("  ВЧЕРА.  ", "2026-03-01"),
            ("Yesterday", "2026-03-01"),
            ("позавчера", "2026-02-28"),
            ("ПОЗАВЧЕРА!!", "2026-02-28"),
        ] {
            assert_eq!(parse(text), Ok(day(expected)), "{text}");
        }
        // Across a leap day.
        assert_eq!(parse_sign_in_date("позавчера", day("2028-03-01")), Ok(day("2028-02-28")));
        assert_eq!(parse_sign_in_date("вчера", day("2028-03-01")), Ok(day("2028-02-29")));
    }

    #[test]
    fn numeric_dates_are_day_first_except_iso() {
        for (text, expected) in [
            ("03.02.2026", "2026-02-03"),
            ("3.2.2026", "2026-02-03"),
            ("03.02.26", "2026-02-03"),
            ("3.2.26.", "2026-02-03"),
            ("03/02/2026", "2026-02-03"),
            ("3/2/26", "2026-02-03"),
            ("2026-02-03", "2026-02-03"),
            (" 2026-2-3 ", "2026-02-03"),
            ("02.03.2026", "2026-03-02"),
            ("29.02.2024", "2024-02-29"),
            ("2024-02-29", "2024-02-29"),
        ] {
            assert_eq!(parse(text), Ok(day(expected)), "{text}");
        }
    }

    #[test]
    fn unreadable_text_and_impossible_days_are_refused() {
        for text in [
            "",
            "  ",
            "давно",
            "на прошлой неделе",
            "31.02.2026",
            "29.02.2025",
            "2025-02-29",
            "32.01.2026",
            "01.13.2026",
            "00.01.2026",
            "03.02",
            "03.02.026",
            "03.02.202",
            "03-02-2026",
            "2026/02/03",
            "03.02/2026",
            "+3.02.2026",
            "03.02.2026 10:00",
            "２０２６-02-03",
        ] {
            assert_eq!(parse(text), Err(SignInDateError::Unreadable), "{text:?}");
        }
    }

    #[test]
    fn future_and_very_old_dates_are_refused() {
        assert_eq!(parse("03.03.2026"), Err(SignInDateError::InFuture));
        assert_eq!(parse("2027-01-01"), Err(SignInDateError::InFuture));
        assert_eq!(parse("02.03.2026"), Ok(day("2026-03-02")));
        // Exactly ten years back is believed, a day more is not.
        assert_eq!(parse("02.03.2016"), Ok(day("2016-03-02")));
        assert_eq!(parse("01.03.2016"), Err(SignInDateError::TooOld));
        assert_eq!(parse("01.01.99"), Err(SignInDateError::InFuture));
        assert_eq!(parse_sign_in_date("28.02.2018", day("2028-02-29")), Ok(day("2018-02-28")));
        assert_eq!(
            parse_sign_in_date("27.02.2018", day("2028-02-29")),
            Err(SignInDateError::TooOld)
        );
    }
}
