//! Time helpers. Times are UTC and kept to microseconds, the precision both
//! SQLite text and PostgreSQL `timestamptz` hold, so a value reads back equal
//! to what was written (the audit hash depends on it).

use time::OffsetDateTime;

/// Truncates to whole microseconds, in UTC.
pub fn truncate_micros(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    let nanos = t.nanosecond();
    t.replace_nanosecond(nanos - nanos % 1_000).unwrap_or(t)
}

/// Now, UTC, microsecond precision.
pub fn now() -> OffsetDateTime {
    truncate_micros(OffsetDateTime::now_utc())
}

/// Microseconds since the Unix epoch: the canonical form used in hashes.
pub fn unix_micros(t: OffsetDateTime) -> i128 {
    t.unix_timestamp_nanos() / 1_000
}

/// RFC 3339 text of a UTC time, for JSON and display.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Parses RFC 3339 text into a UTC time truncated to microseconds.
pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(truncate_micros)
}

/// Whether a time zone name is known to the system time-zone database.
pub fn valid_timezone(name: &str) -> bool {
    jiff::tz::TimeZone::get(name).is_ok()
}

/// The UTC instants bounding one local calendar day in a time zone: a site's
/// "today" runs from its local midnight to the next, which in UTC shifts with
/// daylight saving time.
pub fn local_day_bounds(tz: &str, date: time::Date) -> Option<(OffsetDateTime, OffsetDateTime)> {
    let zone = jiff::tz::TimeZone::get(tz).ok()?;
    let d = jiff::civil::Date::new(
        i16::try_from(date.year()).ok()?,
        i8::try_from(u8::from(date.month())).ok()?,
        i8::try_from(date.day()).ok()?,
    )
    .ok()?;
    let start = d.to_zoned(zone.clone()).ok()?;
    let end = d.tomorrow().ok()?.to_zoned(zone).ok()?;
    let to_time = |z: &jiff::Zoned| OffsetDateTime::from_unix_timestamp_nanos(z.timestamp().as_nanosecond()).ok();
    Some((to_time(&start)?, to_time(&end)?))
}

/// The local calendar date of an instant in a time zone.
pub fn local_date(tz: &str, t: OffsetDateTime) -> Option<time::Date> {
    let zone = jiff::tz::TimeZone::get(tz).ok()?;
    let ts = jiff::Timestamp::from_nanosecond(t.unix_timestamp_nanos()).ok()?;
    let d = ts.to_zoned(zone).date();
    time::Date::from_calendar_date(
        i32::from(d.year()),
        time::Month::try_from(u8::try_from(d.month()).ok()?).ok()?,
        u8::try_from(d.day()).ok()?,
    )
    .ok()
}

/// Local wall-clock time "HH:MM" of an instant in a time zone.
pub fn local_hhmm(tz: &str, t: OffsetDateTime) -> String {
    let Ok(zone) = jiff::tz::TimeZone::get(tz) else {
        return String::new();
    };
    let Ok(ts) = jiff::Timestamp::from_nanosecond(t.unix_timestamp_nanos()) else {
        return String::new();
    };
    let z = ts.to_zoned(zone);
    format!("{:02}:{:02}", z.hour(), z.minute())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn london_day_in_summer_starts_at_23_utc() {
        let (s, e) = local_day_bounds("Europe/London", date!(2025 - 07 - 01)).unwrap();
        assert_eq!(s, datetime!(2025-06-30 23:00 UTC));
        assert_eq!(e, datetime!(2025-07-01 23:00 UTC));
    }

    #[test]
    fn london_day_when_clocks_go_forward_is_23_hours() {
        let (s, e) = local_day_bounds("Europe/London", date!(2025 - 03 - 30)).unwrap();
        assert_eq!((e - s).whole_hours(), 23);
    }

    #[test]
    fn local_date_and_time_follow_the_zone() {
        let t = datetime!(2025-06-30 23:30 UTC);
        assert_eq!(local_date("Europe/London", t), Some(date!(2025 - 07 - 01)));
        assert_eq!(local_hhmm("Europe/London", t), "00:30");
    }

    #[test]
    fn unknown_zone_is_rejected() {
        assert!(!valid_timezone("Mars/Olympus"));
        assert!(valid_timezone("Europe/London"));
    }

    #[test]
    fn truncation_keeps_micros() {
        let t = datetime!(2025-01-01 00:00:00.123456789 UTC);
        assert_eq!(truncate_micros(t).nanosecond(), 123_456_000);
    }
}
