//! The client journey: one client's contact with the service as a timeline
//! (issue 4 part 6), its filter and its day grouping. Pure: the app builds
//! the entries from stored records; this module orders, filters and groups.

use serde::Serialize;
use time::{Date, OffsetDateTime};

use crate::Invalid;

/// What a timeline entry is about. The codes are the filter's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A visit or a refusal at the door.
    Visits,
    /// A supervised consumption episode, and after-care.
    Episodes,
    /// A medical emergency.
    Emergencies,
    /// A service given on site.
    Services,
    /// A referral step (made, accepted, …, closed).
    Referrals,
    /// Equipment given out or returned.
    Supplies,
    /// A blood-borne virus test result.
    Tests,
    /// A drug-checking sample linked to a visit with consent.
    DrugChecks,
}

impl EntryKind {
    /// Every kind, in filter order.
    pub const ALL: [EntryKind; 8] = [
        EntryKind::Visits,
        EntryKind::Episodes,
        EntryKind::Emergencies,
        EntryKind::Services,
        EntryKind::Referrals,
        EntryKind::Supplies,
        EntryKind::Tests,
        EntryKind::DrugChecks,
    ];

    /// Wire and filter code.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Visits => "visits",
            EntryKind::Episodes => "episodes",
            EntryKind::Emergencies => "emergencies",
            EntryKind::Services => "services",
            EntryKind::Referrals => "referrals",
            EntryKind::Supplies => "supplies",
            EntryKind::Tests => "tests",
            EntryKind::DrugChecks => "drug_checks",
        }
    }

    /// Label for staff.
    pub fn label(self) -> &'static str {
        match self {
            EntryKind::Visits => "Visits",
            EntryKind::Episodes => "Episodes and after-care",
            EntryKind::Emergencies => "Emergencies",
            EntryKind::Services => "Services",
            EntryKind::Referrals => "Referrals",
            EntryKind::Supplies => "Supplies",
            EntryKind::Tests => "Test results",
            EntryKind::DrugChecks => "Drug checks",
        }
    }

    /// Parses a code.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s.trim())
    }
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// When, UTC.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The site's local calendar day of `at` (grouping and the date filter),
    /// sent as `YYYY-MM-DD`.
    #[serde(serialize_with = "day_text")]
    pub day: Date,
    /// What it is about.
    pub kind: EntryKind,
    /// One line, e.g. "Visit", "Referral made: Housing".
    pub title: String,
    /// More, e.g. substances and route; may be empty.
    pub detail: String,
    /// The record's own page, where one exists.
    pub link: Option<String>,
}

fn day_text<S: serde::Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(d)
}

/// Which entries to show. No kinds means every kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Kinds to show; empty = all.
    pub kinds: Vec<EntryKind>,
    /// First local day shown.
    pub from: Option<Date>,
    /// Last local day shown (inclusive).
    pub to: Option<Date>,
}

impl Filter {
    /// Whether a kind is shown.
    pub fn shows(&self, kind: EntryKind) -> bool {
        self.kinds.is_empty() || self.kinds.contains(&kind)
    }

    /// Whether an entry passes.
    pub fn keeps(&self, e: &Entry) -> bool {
        self.shows(e.kind) && self.from.is_none_or(|f| e.day >= f) && self.to.is_none_or(|t| e.day <= t)
    }
}

fn parse_day(field: &str, s: &str, inv: &mut Invalid) -> Option<Date> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    match Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")) {
        Ok(d) => Some(d),
        Err(_) => {
            inv.push(field, "give a date as YYYY-MM-DD");
            None
        }
    }
}

/// Parses the filter's raw input: kind codes (each may be a comma-separated
/// list, as the API takes them), and `from` / `to` dates (blank = open).
/// Every bad value is named: `kinds`, `from` or `to`.
pub fn parse_filter(kinds: &[String], from: &str, to: &str) -> Result<Filter, Invalid> {
    let mut inv = Invalid::default();
    let mut out = Vec::new();
    for code in kinds
        .iter()
        .flat_map(|k| k.split(','))
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        match EntryKind::parse(code) {
            Some(k) if !out.contains(&k) => out.push(k),
            Some(_) => {}
            None => inv.push(
                "kinds",
                format!(
                    "unknown kind {code:?}; use {}",
                    EntryKind::ALL.map(EntryKind::as_str).join(", ")
                ),
            ),
        }
    }
    out.sort();
    let from = parse_day("from", from, &mut inv);
    let to = parse_day("to", to, &mut inv);
    if let (Some(f), Some(t)) = (from, to)
        && t < f
    {
        inv.push("to", "the end date is before the start date");
    }
    inv.into_result()?;
    Ok(Filter { kinds: out, from, to })
}

/// The entries the filter keeps, newest first (ties: a stable order by kind
/// then title, so a page reads the same on every load).
pub fn timeline(mut entries: Vec<Entry>, filter: &Filter) -> Vec<Entry> {
    entries.retain(|e| filter.keeps(e));
    entries.sort_by(|a, b| {
        b.at.cmp(&a.at)
            .then_with(|| a.kind.cmp(&b.kind))
            .then_with(|| a.title.cmp(&b.title))
    });
    entries
}

/// Entries (already newest first) grouped by local day, newest day first.
pub fn by_day(entries: &[Entry]) -> Vec<(Date, Vec<&Entry>)> {
    let mut out: Vec<(Date, Vec<&Entry>)> = Vec::new();
    for e in entries {
        match out.last_mut() {
            Some((d, list)) if *d == e.day => list.push(e),
            _ => out.push((e.day, vec![e])),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn e(at: OffsetDateTime, kind: EntryKind, title: &str) -> Entry {
        Entry {
            at,
            day: at.date(),
            kind,
            title: title.into(),
            detail: String::new(),
            link: None,
        }
    }

    #[test]
    fn filter_names_each_bad_field() {
        let err = parse_filter(&["visits,tarot".into()], "yesterday", "").unwrap_err();
        let fields: Vec<&str> = err.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["kinds", "from"]);
        let err = parse_filter(&[], "2026-11-20", "2026-11-01").unwrap_err();
        assert_eq!(err.0[0].field, "to");
    }

    #[test]
    fn filter_takes_lists_and_repeats_and_blank_means_all() {
        let f = parse_filter(&["referrals,visits".into(), "visits".into(), "".into()], "", "").unwrap();
        assert_eq!(f.kinds, [EntryKind::Visits, EntryKind::Referrals]);
        let all = parse_filter(&[], " ", "").unwrap();
        assert!(EntryKind::ALL.iter().all(|k| all.shows(*k)));
    }

    #[test]
    fn timeline_is_newest_first_and_filtered_by_kind_and_inclusive_days() {
        let list = vec![
            e(datetime!(2026-11-01 10:00 UTC), EntryKind::Visits, "Visit"),
            e(datetime!(2026-11-03 09:00 UTC), EntryKind::Services, "Wound care"),
            e(datetime!(2026-11-03 11:00 UTC), EntryKind::Visits, "Visit"),
            e(datetime!(2026-11-05 08:00 UTC), EntryKind::Referrals, "Referral made"),
        ];
        let all = timeline(list.clone(), &Filter::default());
        let titles: Vec<&str> = all.iter().map(|x| x.title.as_str()).collect();
        assert_eq!(titles, ["Referral made", "Visit", "Wound care", "Visit"]);
        let f = parse_filter(&["visits".into()], "2026-11-03", "2026-11-03").unwrap();
        let some = timeline(list, &f);
        assert_eq!(some.len(), 1);
        assert_eq!(some[0].day, date!(2026 - 11 - 03));
        let days = by_day(&all);
        assert_eq!(days.len(), 3);
        assert_eq!(days[1].1.len(), 2);
    }
}
