//! Community impact: street audits and council needle-report imports (dcr-practice §9).
//!
//! Audit walks (Wood 2004 design) and council needle reports are two series,
//! shown side by side and never added together (dcr-practice §9
//! \[thistle-needles\]). Neither holds client data: lists are aggregates and
//! their reads are not audited; writes are.

use haven_domain::{
    Invalid,
    auth::Action,
    community::{AuditDraft, ImportErrors, LineError, NeedleReport, NewAudit, parse_needle_reports, prepare_audit},
};
use haven_store::{CommunityAuditRow, CommunityFilter, MonthlyZoneRow, NeedleReportRow, Store};
use time::{Date, Duration, Month};

use crate::{AppError, AppResult, Ctx, clients::settings_of, system_ctx};

/// Most rows a list returns.
pub const LIST_LIMIT: i64 = 2000;
/// Longest file name kept with an import, in characters.
const MAX_FILENAME_CHARS: usize = 200;

/// A successful import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    /// Report rows written.
    pub imported: usize,
    /// Lines skipped (bad, or already imported), in line order.
    pub skipped: Vec<LineError>,
}

/// The site's configured zones.
pub async fn zones(store: &Store, site_id: &str) -> AppResult<Vec<String>> {
    Ok(settings_of(&store.site(site_id).await?).community.zones)
}

/// Records a street audit walk (worker, nurse, manager). "Today" for the
/// future-date check is the site's local date.
pub async fn record_audit(store: &Store, ctx: &Ctx, site_id: &str, draft: &AuditDraft) -> AppResult<CommunityAuditRow> {
    let audit = ctx.allow(store, Action::RecordCommunityAudit, site_id).await?;
    let zones = zones(store, site_id).await?;
    let today = crate::visits::today(store, site_id).await?;
    let a = prepare_audit(draft, &zones, today)?;
    let id = store.add_community_audit(&audit, site_id, &a).await?;
    Ok(store.community_audit(&id).await?)
}

/// Checks a list filter: a zone of the site and `from` not after `to`.
async fn check_filter(store: &Store, site_id: &str, filter: &CommunityFilter) -> AppResult<()> {
    let mut inv = Invalid::default();
    if let Some(z) = &filter.zone
        && !zones(store, site_id).await?.contains(z)
    {
        inv.push("zone", "not a zone of this site");
    }
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && from > to
    {
        inv.push("to", "must be on or after the start of the range");
    }
    Ok(inv.into_result()?)
}

/// Audit walks of a site, newest first (aggregates: any role at the site).
pub async fn audits(
    store: &Store,
    ctx: &Ctx,
    site_id: &str,
    filter: &CommunityFilter,
) -> AppResult<Vec<CommunityAuditRow>> {
    ctx.allow(store, Action::ViewAggregates, site_id).await?;
    check_filter(store, site_id, filter).await?;
    Ok(store.community_audits(site_id, filter, LIST_LIMIT).await?)
}

/// Council needle-report counts of a site, oldest first.
pub async fn needle_reports(
    store: &Store,
    ctx: &Ctx,
    site_id: &str,
    filter: &CommunityFilter,
) -> AppResult<Vec<NeedleReportRow>> {
    ctx.allow(store, Action::ViewAggregates, site_id).await?;
    check_filter(store, site_id, filter).await?;
    Ok(store.needle_reports(site_id, filter, LIST_LIMIT).await?)
}

/// One month of both series, with its zones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonthTotals {
    /// `YYYY-MM`.
    pub month: String,
    /// Audit walks made.
    pub audits: i64,
    /// Discarded syringes counted in audit walks.
    pub audit_needles: i64,
    /// Council needle reports.
    pub council_reports: i64,
    /// Per zone, zones with neither left out.
    pub zones: Vec<MonthlyZoneRow>,
}

fn first_of_month(d: Date) -> Date {
    d.replace_day(1).unwrap_or(d)
}

/// The first day of the month `n` months before `d`'s month.
fn months_back(d: Date, n: u32) -> Date {
    let mut y = d.year();
    let mut m = u8::from(d.month()) as i32 - n as i32;
    while m < 1 {
        m += 12;
        y -= 1;
    }
    Month::try_from(m as u8)
        .ok()
        .and_then(|m| Date::from_calendar_date(y, m, 1).ok())
        .unwrap_or(d)
}

/// Every month from `from` to `to` as `YYYY-MM`.
fn month_keys(from: Date, to: Date) -> Vec<String> {
    let mut out = Vec::new();
    let mut d = first_of_month(from);
    while d <= to && out.len() < 1200 {
        out.push(format!("{:04}-{:02}", d.year(), u8::from(d.month())));
        let next = d + Duration::days(32);
        d = first_of_month(next);
    }
    out
}

/// Monthly totals of both series, every month in the range present (a month
/// with no data is a zero, not a gap). Without a range: the last 12 months
/// up to today at the site.
pub async fn monthly(
    store: &Store,
    ctx: &Ctx,
    site_id: &str,
    from: Option<Date>,
    to: Option<Date>,
) -> AppResult<Vec<MonthTotals>> {
    ctx.allow(store, Action::ViewAggregates, site_id).await?;
    let today = crate::visits::today(store, site_id).await?;
    let to = to.unwrap_or(today);
    let from = from.unwrap_or_else(|| months_back(to, 11));
    if from > to {
        return Err(Invalid::one("to", "must be on or after the start of the range").into());
    }
    let rows = store.community_monthly(site_id, from, to).await?;
    Ok(month_keys(from, to)
        .into_iter()
        .map(|month| {
            let zones: Vec<MonthlyZoneRow> = rows.iter().filter(|r| r.month == month).cloned().collect();
            MonthTotals {
                audits: zones.iter().map(|z| z.audits).sum(),
                audit_needles: zones.iter().map(|z| z.audit_needles).sum(),
                council_reports: zones.iter().map(|z| z.council_reports).sum(),
                month,
                zones,
            }
        })
        .collect())
}

/// Line numbers of the rows `parse_needle_reports` returned: it keeps file
/// order and returns every non-blank line after the header that is not in
/// `skipped`, so the n-th row is the n-th such line.
fn row_lines(csv: &str, skipped: &[LineError]) -> Vec<usize> {
    let csv = csv.strip_prefix('\u{feff}').unwrap_or(csv);
    let mut lines = csv
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let _header = lines.next();
    lines
        .map(|(i, _)| i + 1)
        .filter(|n| !skipped.iter().any(|e| e.line == *n))
        .collect()
}

/// Imports council needle-report counts from CSV text (managers). Every bad
/// line is reported by number and nothing is imported, unless `skip_bad`:
/// then the good rows are imported and the bad lines listed. A (date, zone)
/// imported before is a bad line ("already imported"), never counted twice.
/// The outer error is a fault or a refusal; the inner one the line errors.
pub async fn import_needle_reports(
    store: &Store,
    ctx: &Ctx,
    site_id: &str,
    csv: &str,
    filename: &str,
    skip_bad: bool,
) -> AppResult<Result<Imported, ImportErrors>> {
    let audit = ctx.allow(store, Action::ImportNeedleReports, site_id).await?;
    let filename = filename.trim();
    if filename.chars().count() > MAX_FILENAME_CHARS {
        return Err(Invalid::one("filename", format!("at most {MAX_FILENAME_CHARS} characters")).into());
    }
    let filename = if filename.is_empty() { "pasted" } else { filename };
    let zones = zones(store, site_id).await?;
    let parsed = match parse_needle_reports(csv, &zones, skip_bad) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    let lines = row_lines(csv, &parsed.skipped);
    if lines.len() != parsed.rows.len() {
        return Err(AppError::Internal(
            "needle-report line numbers do not match the rows".into(),
        ));
    }
    let rows: Vec<(usize, NeedleReport)> = lines.into_iter().zip(parsed.rows).collect();
    let out = store
        .import_needle_reports(&audit, site_id, filename, &rows, parsed.skipped.len(), skip_bad)
        .await?;
    let already = out.already.iter().map(|line| LineError {
        line: *line,
        message: "already imported: this date and zone are in an earlier import".into(),
    });
    if !skip_bad && !out.already.is_empty() {
        return Ok(Err(ImportErrors {
            errors: already.collect(),
        }));
    }
    let mut skipped: Vec<LineError> = parsed.skipped.into_iter().chain(already).collect();
    skipped.sort_by_key(|e| e.line);
    Ok(Ok(Imported {
        imported: out.imported,
        skipped,
    }))
}

/// Deterministic pseudo-random numbers for the demo (SplitMix64).
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Poisson-ish count with mean `mean` (sum of uniform draws; cheap and
    /// plausible for a demo, not a statistical model).
    fn count(&mut self, mean: f64) -> u32 {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        (mean * 2.0 * u).round().max(0.0) as u32
    }
}

/// Demo history for a site: a year of weekly audit walks over its zones and
/// a year of daily council needle-report counts, declining after the site
/// opened half-way through the year (the shape, not the numbers, of
/// dcr-practice §9 \[wood2004\], \[thistle-needles\]). `recorded_by` is a user id.
pub async fn demo_history(store: &Store, site_id: &str, recorded_by: &str, seed: u64) -> AppResult<()> {
    let ctx = system_ctx("demo");
    let zones = zones(store, site_id).await?;
    let today = crate::visits::today(store, site_id).await?;
    let start = today - Duration::days(364);
    let opened = today - Duration::days(182);
    let mut rng = Mix(seed ^ 0x00C0_FFEE);
    let factor = |d: Date| if d < opened { 1.0 } else { 0.6 };
    let mut walks = Vec::new();
    let mut d = start;
    while d <= today {
        for (i, zone) in zones.iter().enumerate() {
            let f = factor(d) / (1.0 + i as f64 * 0.3);
            let weather = ["dry", "dry", "rain", "rain", "other"][(rng.next() % 5) as usize];
            walks.push(NewAudit {
                date: d,
                start: time::macros::time!(07:30),
                zone: zone.clone(),
                observer: "Outreach team".into(),
                weather: weather.into(),
                police_present: rng.next().is_multiple_of(4),
                needles: rng.count(8.0 * f),
                other_litter: rng.count(12.0 * f),
                people_injecting: rng.count(1.5 * f),
            });
        }
        d += Duration::days(7);
    }
    let mut reports = Vec::new();
    let mut d = start;
    while d <= today {
        for (i, zone) in zones.iter().enumerate() {
            let f = factor(d) / (1.0 + i as f64 * 0.3);
            reports.push((
                reports.len() + 2,
                NeedleReport {
                    date: d,
                    zone: zone.clone(),
                    count: rng.count(1.4 * f),
                },
            ));
        }
        d += Duration::days(1);
    }
    store
        .bulk_insert_community_audits(&ctx, site_id, recorded_by, &walks)
        .await?;
    let demo = haven_store::AuditCtx {
        actor_id: Some(recorded_by.to_string()),
        ..ctx
    };
    store
        .import_needle_reports(&demo, site_id, "demo-council-reports.csv", &reports, 0, true)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn row_lines_skip_header_blanks_and_bad_lines() {
        let csv = "\u{feff}date,zone,count\r\n\r\n2025-01-01,a,1\nbad\n\n2025-01-02,a,2\n";
        let bad = [LineError {
            line: 4,
            message: "x".into(),
        }];
        assert_eq!(row_lines(csv, &bad), [3, 6]);
        assert_eq!(row_lines("\n\ndate,zone,count\n2025-01-01,a,1", &[]), [4]);
    }

    #[test]
    fn month_keys_cover_the_range_without_gaps() {
        assert_eq!(
            month_keys(date!(2025 - 11 - 30), date!(2026 - 02 - 01)),
            ["2025-11", "2025-12", "2026-01", "2026-02"]
        );
        assert_eq!(months_back(date!(2026 - 02 - 15), 11), date!(2025 - 03 - 01));
    }
}
