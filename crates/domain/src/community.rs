//! Community impact: street audits and council needle-report counts.
//!
//! Audits follow the Wood 2004 design: walks of a route/zone counting
//! discarded syringes, other injection litter and people injecting, with
//! weather and police presence recorded as covariates (dcr-practice §9
//! \[wood2004\]). Council needle reports are a separate series, never added to
//! audit counts (§9 \[thistle-needles\]).

use serde::{Deserialize, Serialize};
use time::{Date, Time};

use crate::Invalid;

/// Weather codes: rainfall is an adjustment covariate (dcr-practice §9 \[wood2004\]).
pub const WEATHER: [&str; 4] = ["dry", "rain", "snow", "other"];
/// Longest observer name, in characters.
pub const MAX_OBSERVER_CHARS: usize = 100;
/// Longest quoted value echoed back in an import message, in characters.
const ECHO_CHARS: usize = 40;

/// Street-audit settings per site. Missing keys take the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommunitySettings {
    /// Zones or routes walked, also the zones of council needle reports.
    pub zones: Vec<String>,
}

impl Default for CommunitySettings {
    fn default() -> Self {
        // [U] a configurable default: areas around a Glasgow East End site
        // (the Thistle is in Calton); every site sets its own routes.
        let zones = ["calton", "city_centre_east", "merchant_city", "gallowgate", "trongate"];
        Self {
            zones: zones.iter().map(|z| (*z).to_string()).collect(),
        }
    }
}

impl CommunitySettings {
    /// Checks the zone list: at least one, plain codes (1–40 lower-case
    /// letters, digits or `_`), no repeats.
    pub fn validate(&self) -> Result<(), Invalid> {
        let mut inv = Invalid::default();
        if self.zones.is_empty() {
            inv.push("zones", "must list at least one zone");
        }
        for (i, z) in self.zones.iter().enumerate() {
            let plain = !z.is_empty()
                && z.len() <= 40
                && z.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !plain {
                inv.push("zones", format!("`{z}`: use 1–40 lower-case letters, digits or _"));
            } else if self.zones[..i].contains(z) {
                inv.push("zones", format!("`{z}` is listed twice"));
            }
        }
        inv.into_result()
    }
}

/// Raw audit walk input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditDraft {
    /// Day of the walk.
    pub date: Date,
    /// Start time, `HH:MM` local.
    #[serde(default)]
    pub start: String,
    /// Zone walked, from the site's configured list.
    #[serde(default)]
    pub zone: String,
    /// Who walked it.
    #[serde(default)]
    pub observer: String,
    /// One of [`WEATHER`].
    #[serde(default)]
    pub weather: String,
    /// Police seen during the walk (covariate, dcr-practice §9 \[wood2004\]).
    #[serde(default)]
    pub police_present: bool,
    /// Publicly discarded syringes counted.
    #[serde(default)]
    pub needles: i64,
    /// Other injection-related litter counted.
    #[serde(default)]
    pub other_litter: i64,
    /// People seen injecting in public.
    #[serde(default)]
    pub people_injecting: i64,
}

/// A validated audit walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAudit {
    /// Day of the walk.
    pub date: Date,
    /// Start time.
    pub start: Time,
    /// Zone, as configured.
    pub zone: String,
    /// Observer, trimmed.
    pub observer: String,
    /// Weather code.
    pub weather: String,
    /// Police seen.
    pub police_present: bool,
    /// Syringes.
    pub needles: u32,
    /// Other litter.
    pub other_litter: u32,
    /// People injecting.
    pub people_injecting: u32,
}

/// Parses `HH:MM` (24-hour).
pub fn parse_hhmm(s: &str) -> Option<Time> {
    let (h, m) = s.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    Time::from_hms(h.parse().ok()?, m.parse().ok()?, 0).ok()
}

fn count(inv: &mut Invalid, field: &str, n: i64) -> u32 {
    if n < 0 {
        inv.push(field, "cannot be negative");
        0
    } else {
        u32::try_from(n).unwrap_or_else(|_| {
            inv.push(field, "too large");
            0
        })
    }
}

/// Validates an audit walk: counts ≥ 0, zone in the configured list, weather
/// known, date not after `today` (the site's local date).
pub fn prepare_audit(draft: &AuditDraft, zones: &[String], today: Date) -> Result<NewAudit, Invalid> {
    let mut inv = Invalid::default();
    if draft.date > today {
        inv.push("date", "cannot be in the future");
    }
    let start = parse_hhmm(&draft.start);
    if start.is_none() {
        inv.push("start", "give the start time as HH:MM");
    }
    let zone = zones.iter().find(|z| z.as_str() == draft.zone.trim());
    if zone.is_none() {
        inv.push("zone", format!("choose one of: {}", zones.join(", ")));
    }
    let observer = draft.observer.trim();
    if observer.is_empty() {
        inv.push("observer", "say who walked the route");
    } else if observer.chars().count() > MAX_OBSERVER_CHARS {
        inv.push("observer", format!("at most {MAX_OBSERVER_CHARS} characters"));
    }
    if !WEATHER.contains(&draft.weather.as_str()) {
        inv.push("weather", format!("choose one of: {}", WEATHER.join(", ")));
    }
    let needles = count(&mut inv, "needles", draft.needles);
    let other_litter = count(&mut inv, "other_litter", draft.other_litter);
    let people_injecting = count(&mut inv, "people_injecting", draft.people_injecting);
    inv.into_result()?;
    match (start, zone) {
        (Some(start), Some(zone)) => Ok(NewAudit {
            date: draft.date,
            start,
            zone: zone.clone(),
            observer: observer.to_string(),
            weather: draft.weather.clone(),
            police_present: draft.police_present,
            needles,
            other_litter,
            people_injecting,
        }),
        _ => Err(Invalid::one("start", "give the start time as HH:MM")),
    }
}

/// One council discarded-needle report count (dcr-practice §9 \[thistle-needles\]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeedleReport {
    /// Day the reports were made.
    pub date: Date,
    /// Zone, spelled as configured.
    pub zone: String,
    /// Number of reports.
    pub count: u32,
}

/// A problem with one line of an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineError {
    /// 1-based line number in the file (the header is line 1).
    pub line: usize,
    /// What is wrong, safe to show to staff.
    pub message: String,
}

/// A successful import.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportOutcome {
    /// Valid rows, in file order.
    pub rows: Vec<NeedleReport>,
    /// Lines skipped as bad (only when the caller asked to skip them).
    pub skipped: Vec<LineError>,
}

/// A refused import: nothing was imported.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{} bad line(s) in the import", .errors.len())]
pub struct ImportErrors {
    /// Every bad line, in file order.
    pub errors: Vec<LineError>,
}

/// Parses a council needle-report CSV with a header naming the columns
/// `date` (`YYYY-MM-DD`), `zone` and `count`, in any order.
///
/// The CSV is a subset of RFC 4180: comma-separated, fields optionally in
/// double quotes with `""` for a quote, LF or CRLF line ends; a quoted field
/// may not span lines (council exports do not need it, and an unclosed quote
/// then costs one line, not the rest of the file). Blank lines are ignored.
///
/// Imports nothing while any line is bad unless `skip_bad` is set; then the
/// good rows come back with the skipped lines. A missing or wrong header is
/// always refused. Never panics.
pub fn parse_needle_reports(csv: &str, zones: &[String], skip_bad: bool) -> Result<ImportOutcome, ImportErrors> {
    // Spreadsheet exports often start with a byte-order mark.
    let csv = csv.strip_prefix('\u{feff}').unwrap_or(csv);
    let mut lines = csv.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).enumerate();
    let header = lines.find(|(_, l)| !l.trim().is_empty());
    let Some((hi, header)) = header else {
        return Err(ImportErrors {
            errors: vec![LineError {
                line: 1,
                message: "the file is empty; it needs a header row: date,zone,count".into(),
            }],
        });
    };
    let columns = header_columns(header).map_err(|message| ImportErrors {
        errors: vec![LineError { line: hi + 1, message }],
    })?;
    let mut rows: Vec<(usize, NeedleReport)> = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let line_no = i + 1;
        match parse_row(line, &columns, zones) {
            Ok(row) => {
                if let Some((first, _)) = rows.iter().find(|(_, r)| r.date == row.date && r.zone == row.zone) {
                    errors.push(LineError {
                        line: line_no,
                        message: format!("same date and zone as line {first}"),
                    });
                } else {
                    rows.push((line_no, row));
                }
            }
            Err(message) => errors.push(LineError { line: line_no, message }),
        }
    }
    if !errors.is_empty() && !skip_bad {
        return Err(ImportErrors { errors });
    }
    Ok(ImportOutcome {
        rows: rows.into_iter().map(|(_, r)| r).collect(),
        skipped: errors,
    })
}

/// Positions of date, zone and count.
struct Columns {
    date: usize,
    zone: usize,
    count: usize,
}

fn header_columns(line: &str) -> Result<Columns, String> {
    let names: Vec<String> = split_fields(line)?.iter().map(|f| f.trim().to_lowercase()).collect();
    let find = |n: &str| names.iter().position(|x| x == n);
    match (find("date"), find("zone"), find("count")) {
        (Some(date), Some(zone), Some(count)) if names.len() == 3 => Ok(Columns { date, zone, count }),
        _ => Err(format!(
            "the header must name the columns date, zone and count, found: {}",
            echo(&names.join(","))
        )),
    }
}

fn parse_row(line: &str, columns: &Columns, zones: &[String]) -> Result<NeedleReport, String> {
    let fields = split_fields(line)?;
    if fields.len() != 3 {
        return Err(format!("expected 3 columns, found {}", fields.len()));
    }
    let mut problems = Vec::new();
    let raw_date = fields[columns.date].trim();
    let date = parse_iso_date(raw_date);
    if date.is_none() {
        problems.push(format!("bad date {} (use YYYY-MM-DD)", echo(raw_date)));
    }
    let raw_zone = fields[columns.zone].trim();
    let zone = zones.iter().find(|z| z.trim().eq_ignore_ascii_case(raw_zone));
    if zone.is_none() {
        problems.push(format!("unknown zone {}", echo(raw_zone)));
    }
    let raw_count = fields[columns.count].trim();
    let count = match raw_count.parse::<i64>() {
        Ok(n) if n < 0 => {
            problems.push(format!("count cannot be negative, found {n}"));
            None
        }
        Ok(n) => match u32::try_from(n) {
            Ok(n) => Some(n),
            Err(_) => {
                problems.push(format!("count {n} is too large"));
                None
            }
        },
        Err(_) => {
            problems.push(format!("count must be a whole number, found {}", echo(raw_count)));
            None
        }
    };
    match (date, zone, count) {
        (Some(date), Some(zone), Some(count)) if problems.is_empty() => Ok(NeedleReport {
            date,
            zone: zone.clone(),
            count,
        }),
        _ => Err(problems.join("; ")),
    }
}

/// Splits one line into fields (RFC 4180 subset, see [`parse_needle_reports`]).
fn split_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("unterminated quote".into()),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(_) => return Err("unexpected text after a closing quote".into()),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

/// Parses `YYYY-MM-DD` strictly.
fn parse_iso_date(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !digits(0..4) || !digits(5..7) || !digits(8..10) {
        return None;
    }
    let year: i32 = s.get(0..4)?.parse().ok()?;
    let month: u8 = s.get(5..7)?.parse().ok()?;
    let day: u8 = s.get(8..10)?.parse().ok()?;
    Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()
}

/// Quotes a value for a message, shortened so a junk line cannot flood it.
fn echo(s: &str) -> String {
    let short: String = s.chars().take(ECHO_CHARS).collect();
    if short.len() < s.len() {
        format!("`{short}…`")
    } else {
        format!("`{short}`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::{date, time};

    const TODAY: Date = date!(2025 - 06 - 01);

    fn zones() -> Vec<String> {
        vec!["A".into(), "B".into(), "Trongate".into()]
    }

    fn audit() -> AuditDraft {
        AuditDraft {
            date: TODAY,
            start: "07:30".into(),
            zone: "A".into(),
            observer: "Outreach 1".into(),
            weather: "rain".into(),
            police_present: true,
            needles: 3,
            other_litter: 5,
            people_injecting: 1,
        }
    }

    fn fields(e: &Invalid) -> Vec<&str> {
        e.0.iter().map(|x| x.field.as_str()).collect()
    }

    #[test]
    fn audit_walk_records_wood_2004_counts_and_covariates_dcr_practice_9() {
        let a = prepare_audit(&audit(), &zones(), TODAY).unwrap();
        assert_eq!(a.start, time!(07:30));
        assert_eq!((a.needles, a.other_litter, a.people_injecting), (3, 5, 1));
        assert!(a.police_present);
        assert_eq!(a.weather, "rain");
    }

    #[test]
    fn negative_counts_are_named_dcr_practice_9() {
        let d = AuditDraft {
            needles: -1,
            other_litter: -2,
            people_injecting: -3,
            ..audit()
        };
        let e = prepare_audit(&d, &zones(), TODAY).unwrap_err();
        assert_eq!(fields(&e), ["needles", "other_litter", "people_injecting"]);
    }

    #[test]
    fn audit_refusals_name_their_fields() {
        let d = AuditDraft {
            date: date!(2025 - 06 - 02),
            start: "7.30".into(),
            zone: "Z".into(),
            observer: " ".into(),
            weather: "fog".into(),
            ..audit()
        };
        let e = prepare_audit(&d, &zones(), TODAY).unwrap_err();
        assert_eq!(fields(&e), ["date", "start", "zone", "observer", "weather"]);
        for bad in ["24:00", "12:60", "1230", "12:3", ":30", "+1:30"] {
            assert!(parse_hhmm(bad).is_none(), "{bad}");
        }
        assert_eq!(parse_hhmm("7:05"), Some(time!(07:05)));
    }

    const GOOD: &str = "date,zone,count\n2025-01-13,A,3\n2025-01-13,B,0\n2025-01-14,Trongate,12\n";

    #[test]
    fn council_needle_reports_import_as_a_separate_series_dcr_practice_9() {
        let out = parse_needle_reports(GOOD, &zones(), false).unwrap();
        assert!(out.skipped.is_empty());
        assert_eq!(out.rows.len(), 3);
        assert_eq!(
            out.rows[2],
            NeedleReport {
                date: date!(2025 - 01 - 14),
                zone: "Trongate".into(),
                count: 12
            }
        );
    }

    const TWO_BAD: &str = "date,zone,count\n2025-01-13,A,3\n13/01/2025,A,2\n2025-01-14,B,4\n2025-01-15,C,-1\n";

    #[test]
    fn two_bad_lines_are_both_reported_and_nothing_imported() {
        let e = parse_needle_reports(TWO_BAD, &zones(), false).unwrap_err();
        let lines: Vec<_> = e.errors.iter().map(|x| x.line).collect();
        assert_eq!(lines, [3, 5]);
        assert!(e.errors[0].message.contains("bad date"));
        assert!(e.errors[1].message.contains("unknown zone"));
        assert!(e.errors[1].message.contains("negative"));
    }

    #[test]
    fn skip_bad_returns_good_rows_and_the_skipped_lines() {
        let out = parse_needle_reports(TWO_BAD, &zones(), true).unwrap();
        assert_eq!(out.rows.iter().map(|r| r.count).collect::<Vec<_>>(), [3, 4]);
        assert_eq!(out.skipped.iter().map(|x| x.line).collect::<Vec<_>>(), [3, 5]);
    }

    #[test]
    fn each_kind_of_bad_line_has_a_message() {
        let csv = concat!(
            "date,zone,count\n2025-02-30,A,1\n2025-01-01,A,1.5\n2025-01-01,A\n\"2025-01-02,A,1\n",
            "2025-01-03,A,x,y\n2025-01-04,a,1\n2025-01-04,A,2\n",
        );
        let e = parse_needle_reports(csv, &zones(), false).unwrap_err();
        let got: Vec<_> = e.errors.iter().map(|x| (x.line, x.message.as_str())).collect();
        assert_eq!(got.len(), 6, "{got:?}");
        assert!(got[0].1.contains("bad date"));
        assert!(got[1].1.contains("whole number"));
        assert_eq!(got[2], (4, "expected 3 columns, found 2"));
        assert_eq!(got[3], (5, "unterminated quote"));
        assert_eq!(got[4], (6, "expected 3 columns, found 4"));
        // Zones match case-insensitively, so line 7 is zone A and line 8 repeats it.
        assert_eq!(got[5], (8, "same date and zone as line 7"));
    }

    #[test]
    fn quoted_fields_with_escaped_quotes_and_crlf() {
        let zones = vec!["Saltmarket, \"east\"".to_string()];
        let csv = "\u{feff}\"date\",\"zone\",\"count\"\r\n\"2025-01-13\",\"Saltmarket, \"\"east\"\"\",\"7\"\r\n";
        let out = parse_needle_reports(csv, &zones, false).unwrap();
        assert_eq!(out.rows.len(), 1);
        assert_eq!(out.rows[0].zone, zones[0]);
        assert_eq!(out.rows[0].count, 7);
        let e = parse_needle_reports("date,zone,count\r\n\"2025-01-13\"x,A,1\r\n", &zones, false).unwrap_err();
        assert_eq!(e.errors[0].line, 2);
    }

    #[test]
    fn header_is_required_and_columns_may_be_reordered() {
        assert_eq!(parse_needle_reports("", &zones(), true).unwrap_err().errors[0].line, 1);
        assert_eq!(
            parse_needle_reports("\n\n", &zones(), true).unwrap_err().errors.len(),
            1
        );
        let e = parse_needle_reports("2025-01-13,A,3\n", &zones(), true).unwrap_err();
        assert_eq!(e.errors[0].line, 1);
        let out = parse_needle_reports("date,zone,count", &zones(), false).unwrap();
        assert!(out.rows.is_empty() && out.skipped.is_empty());
        let out = parse_needle_reports("Count,Date,Zone\n4,2025-01-13,B\n", &zones(), false).unwrap();
        assert_eq!(out.rows[0].count, 4);
    }

    #[test]
    fn very_long_lines_give_short_messages() {
        let csv = format!("date,zone,count\n2025-01-13,{},1\n", "z".repeat(100_000));
        let e = parse_needle_reports(&csv, &zones(), false).unwrap_err();
        assert!(e.errors[0].message.len() < 200);
    }

    proptest! {
        #[test]
        fn parse_needle_reports_never_panics(s in any::<String>(), skip in any::<bool>()) {
            let _ = parse_needle_reports(&s, &zones(), skip);
        }

        #[test]
        fn parse_needle_reports_never_panics_on_csv_like_text(
            body in "[\"a-zA-Z0-9,\\-\r\n é]{0,300}",
            skip in any::<bool>(),
        ) {
            let csv = format!("date,zone,count\n{body}");
            match parse_needle_reports(&csv, &zones(), skip) {
                Ok(out) => prop_assert!(skip || out.skipped.is_empty()),
                Err(e) => prop_assert!(!skip && !e.errors.is_empty()),
            }
        }
    }

    #[test]
    fn community_settings_default_validates_and_refuses_bad_zones() {
        assert!(CommunitySettings::default().validate().is_ok());
        let bad = CommunitySettings {
            zones: vec!["Calton".into(), "a".into(), "a".into()],
        };
        let e = bad.validate().unwrap_err();
        assert_eq!(e.0.len(), 2);
        assert!(CommunitySettings { zones: vec![] }.validate().is_err());
    }
}
