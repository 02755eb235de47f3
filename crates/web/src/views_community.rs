//! Community impact: street audits and council needle-report imports (dcr-practice §9).
//!
//! One page: the audit-walk form, the list of walks with zone and date
//! filters, a monthly chart of the two series (audit needles and council
//! reports, side by side, never summed: dcr-practice §9 \[thistle-needles\])
//! with a table alternative, and the CSV import for managers.

use askama::Template;
use axum::{
    Router,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect},
    routing::{get, post},
};
use haven_app::{
    AppError,
    community::{self, MonthTotals},
};
use haven_domain::{
    FieldError,
    auth::Action,
    community::{AuditDraft, LineError, WEATHER, prepare_audit},
};
use haven_store::{CommunityAuditRow, CommunityFilter, SiteRow};
use serde::Deserialize;
use time::Date;

use crate::{
    AppState,
    form::FormData,
    security::Staff,
    views::{Chrome, Errors, PageResult, chrome, render, site_of},
    views_emergency::with_banner,
};

/// This module's pages.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/community", get(community_page))
        .route("/community/audits", post(audit_submit))
        .route("/community/import", post(import_submit))
}

/// Most walks listed on the page (the API gives more).
const PAGE_ROWS: usize = 200;
/// Most months in the chart.
const CHART_MONTHS: usize = 36;

/// A choice in a select: code and label.
#[derive(Debug, Clone)]
pub struct Choice {
    code: String,
    label: String,
}

/// The audit form's input, kept on error.
#[derive(Debug, Clone, Default)]
pub struct AuditForm {
    date: String,
    start: String,
    zone: String,
    observer: String,
    weather: String,
    police_present: bool,
    needles: String,
    other_litter: String,
    people_injecting: String,
}

/// The list filter's input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct FilterQuery {
    zone: String,
    from: String,
    to: String,
    recorded: String,
}

/// The import form's input, kept on error.
#[derive(Debug, Clone, Default)]
pub struct ImportForm {
    csv: String,
    filename: String,
    skip_bad: bool,
}

/// One walk as a row of the list.
#[derive(Debug, Clone)]
pub struct AuditItem {
    id: String,
    date: String,
    start: String,
    zone: String,
    observer: String,
    weather: String,
    police: bool,
    needles: i32,
    other_litter: i32,
    people_injecting: i32,
}

/// One bar of the chart, in SVG user units.
#[derive(Debug, Clone)]
pub struct Bar {
    x: i64,
    y: i64,
    w: i64,
    h: i64,
    class: &'static str,
    title: String,
}

/// A month label under the bars, with the year on a second line in January
/// and on the first month.
#[derive(Debug, Clone)]
pub struct Tick {
    x: i64,
    label: String,
    year: String,
}

/// The monthly chart, made on the server (no script).
#[derive(Debug, Clone, Default)]
pub struct Chart {
    width: i64,
    height: i64,
    base: i64,
    left: i64,
    max: i64,
    mid: i64,
    top: i64,
    mid_y: i64,
    bars: Vec<Bar>,
    ticks: Vec<Tick>,
}

/// A month of the table alternative.
#[derive(Debug, Clone)]
pub struct MonthItem {
    month: String,
    audits: i64,
    audit_needles: i64,
    council_reports: i64,
}

/// What a successful import did.
#[derive(Debug, Clone)]
pub struct ImportedItem {
    imported: usize,
    skipped: Vec<LineError>,
}

#[derive(Template)]
#[template(path = "community.html")]
struct CommunityPage {
    chrome: Chrome,
    zones: Vec<Choice>,
    weathers: Vec<Choice>,
    can_record: bool,
    form: AuditForm,
    errors: Errors,
    filter: FilterQuery,
    filter_errors: Errors,
    audits: Vec<AuditItem>,
    more: bool,
    chart: Chart,
    months: Vec<MonthItem>,
    range: String,
    can_import: bool,
    import: ImportForm,
    import_errors: Vec<LineError>,
    imported: Option<ImportedItem>,
}

/// A code as words: `city_centre_east` → `City centre east`.
fn as_words(code: &str) -> String {
    let words = code.replace('_', " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn parse_date(field: &str, s: &str) -> Result<Option<Date>, FieldError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .map(Some)
        .map_err(|_| FieldError::new(field, "give a date as YYYY-MM-DD"))
}

fn parse_count(field: &str, s: &str, errors: &mut Vec<FieldError>) -> i64 {
    let s = s.trim();
    if s.is_empty() {
        errors.push(FieldError::new(field, "give a number (0 if none were seen)"));
        return 0;
    }
    s.parse::<i64>().unwrap_or_else(|_| {
        errors.push(FieldError::new(field, "give a whole number"));
        0
    })
}

fn filter_of(q: &FilterQuery) -> (CommunityFilter, Vec<FieldError>) {
    let mut errors = Vec::new();
    let mut date = |field: &str, s: &str| {
        parse_date(field, s).unwrap_or_else(|e| {
            errors.push(e);
            None
        })
    };
    let from = date("from", &q.from);
    let to = date("to", &q.to);
    let zone = Some(q.zone.trim().to_string()).filter(|z| !z.is_empty());
    (CommunityFilter { zone, from, to }, errors)
}

fn item(a: &CommunityAuditRow) -> AuditItem {
    AuditItem {
        id: a.id.clone(),
        date: a.on_date.to_string(),
        start: a.start_time.clone(),
        zone: as_words(&a.zone),
        observer: a.observer.clone(),
        weather: a.weather.clone(),
        police: a.police_present,
        needles: a.needles,
        other_litter: a.other_litter,
        people_injecting: a.people_injecting,
    }
}

/// Short month name of `YYYY-MM`, and its year in January or on the first bar.
fn month_label(key: &str, first: bool) -> (String, String) {
    const NAMES: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m) = key.split_once('-').unwrap_or((key, "01"));
    let i = m.parse::<usize>().unwrap_or(1).clamp(1, 12) - 1;
    let year = if first || i == 0 { y.to_string() } else { String::new() };
    (NAMES[i].to_string(), year)
}

/// Grouped bars: per month, audit needles then council reports, one scale.
fn chart(months: &[MonthTotals]) -> Chart {
    let (width, height, left, base) = (720i64, 262i64, 48i64, 220i64);
    let plot = base - 20;
    let max = months
        .iter()
        .map(|m| m.audit_needles.max(m.council_reports))
        .max()
        .unwrap_or(0)
        .max(1);
    let n = i64::try_from(months.len()).unwrap_or(1).max(1);
    let group = (width - left - 8) / n;
    let bar = (group * 2 / 5).max(2);
    let scale = |v: i64| v * plot / max;
    let mut bars = Vec::new();
    let mut ticks = Vec::new();
    for (i, m) in months.iter().enumerate() {
        let x0 = left + i64::try_from(i).unwrap_or(0) * group + (group - 2 * bar) / 2;
        for (k, (v, class, what)) in [
            (m.audit_needles, "bar-audit", "needles counted in audit walks"),
            (m.council_reports, "bar-council", "council needle reports"),
        ]
        .into_iter()
        .enumerate()
        {
            let h = scale(v);
            bars.push(Bar {
                x: x0 + i64::try_from(k).unwrap_or(0) * bar,
                y: base - h,
                w: bar,
                h,
                class,
                title: format!("{}: {v} {what}", m.month),
            });
        }
        let (label, year) = month_label(&m.month, i == 0);
        ticks.push(Tick {
            x: x0 + bar,
            label,
            year,
        });
    }
    Chart {
        width,
        height,
        base,
        left,
        max,
        mid: max / 2,
        top: base - scale(max),
        mid_y: base - scale(max / 2),
        bars,
        ticks,
    }
}

/// What the page shows besides the forms.
#[derive(Default)]
struct Extra {
    notice: Option<String>,
    import: ImportForm,
    import_errors: Vec<LineError>,
    imported: Option<ImportedItem>,
}

#[allow(clippy::too_many_arguments)]
async fn page_render(
    state: &AppState,
    staff: &Staff,
    site: &SiteRow,
    filter: FilterQuery,
    form: AuditForm,
    errors: Errors,
    extra: Extra,
    status: StatusCode,
) -> PageResult {
    let store = &state.store;
    let ctx = &staff.ctx;
    let zones = community::zones(store, &site.id).await?;
    let (f, mut filter_errors) = filter_of(&filter);
    let mut rows = Vec::new();
    if filter_errors.is_empty() {
        match community::audits(store, ctx, &site.id, &f).await {
            Ok(r) => rows = r,
            Err(AppError::Invalid(inv)) => filter_errors.extend(inv.0),
            Err(e) => return Err(e.into()),
        }
    }
    let mut months = Vec::new();
    if filter_errors.is_empty() {
        match community::monthly(store, ctx, &site.id, f.from, f.to).await {
            Ok(m) => months = m,
            Err(AppError::Invalid(inv)) => filter_errors.extend(inv.0),
            Err(e) => return Err(e.into()),
        }
    }
    if !filter_errors.is_empty() {
        months = community::monthly(store, ctx, &site.id, None, None).await?;
    }
    // The zone filter applies to the chart too.
    if let (Some(zone), true) = (&f.zone, filter_errors.is_empty()) {
        for m in &mut months {
            m.zones.retain(|z| &z.zone == zone);
            m.audits = m.zones.iter().map(|z| z.audits).sum();
            m.audit_needles = m.zones.iter().map(|z| z.audit_needles).sum();
            m.council_reports = m.zones.iter().map(|z| z.council_reports).sum();
        }
    }
    // A long range shows its last months: bars stay readable.
    let cut = months.len().saturating_sub(CHART_MONTHS);
    let months = months.split_off(cut);
    let status = if filter_errors.is_empty() {
        status
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let range = match (months.first(), months.last()) {
        (Some(a), Some(b)) => match &f.zone {
            Some(z) if filter_errors.is_empty() => format!("{} to {}, {}", a.month, b.month, as_words(z)),
            _ => format!("{} to {}", a.month, b.month),
        },
        _ => String::new(),
    };
    let staff = with_banner(state, staff).await;
    let page = CommunityPage {
        chrome: chrome(&staff, site, "community", extra.notice),
        zones: zones
            .iter()
            .map(|z| Choice {
                code: z.clone(),
                label: as_words(z),
            })
            .collect(),
        weathers: WEATHER
            .iter()
            .map(|w| Choice {
                code: (*w).to_string(),
                label: as_words(w),
            })
            .collect(),
        can_record: staff.ctx.can(Action::RecordCommunityAudit, &site.id),
        form,
        errors,
        filter,
        filter_errors: Errors(filter_errors),
        more: rows.len() > PAGE_ROWS,
        audits: rows.iter().take(PAGE_ROWS).map(item).collect(),
        chart: chart(&months),
        months: months
            .iter()
            .map(|m| MonthItem {
                month: m.month.clone(),
                audits: m.audits,
                audit_needles: m.audit_needles,
                council_reports: m.council_reports,
            })
            .collect(),
        range,
        can_import: staff.ctx.can(Action::ImportNeedleReports, &site.id),
        import: extra.import,
        import_errors: extra.import_errors,
        imported: extra.imported,
    };
    Ok(render(status, &page))
}

/// `GET /community`: the audit form, the filtered list, the chart and the import.
pub async fn community_page(State(state): State<AppState>, staff: Staff, Query(q): Query<FilterQuery>) -> PageResult {
    let site = site_of(&state, &staff).await?;
    let form = AuditForm {
        date: haven_app::visits::today(&state.store, &site.id)
            .await
            .map(|d| d.to_string())
            .unwrap_or_default(),
        weather: "dry".into(),
        ..Default::default()
    };
    let extra = Extra {
        notice: (q.recorded == "1").then(|| "Audit walk recorded.".to_string()),
        ..Default::default()
    };
    page_render(&state, &staff, &site, q, form, Errors::default(), extra, StatusCode::OK).await
}

/// `POST /community/audits`: records an audit walk.
pub async fn audit_submit(State(state): State<AppState>, staff: Staff, f: FormData) -> PageResult {
    let site = site_of(&state, &staff).await?;
    let form = AuditForm {
        date: f.get("date").trim().to_string(),
        start: f.get("start").trim().to_string(),
        zone: f.get("zone").trim().to_string(),
        observer: f.get("observer").to_string(),
        weather: f.get("weather").trim().to_string(),
        police_present: !f.get("police_present").is_empty(),
        needles: f.get("needles").trim().to_string(),
        other_litter: f.get("other_litter").trim().to_string(),
        people_injecting: f.get("people_injecting").trim().to_string(),
    };
    let mut errors = Vec::new();
    let today = haven_app::visits::today(&state.store, &site.id).await?;
    let date = match parse_date("date", &form.date) {
        Ok(Some(d)) => Some(d),
        Ok(None) => {
            errors.push(FieldError::new("date", "give the day of the walk"));
            None
        }
        Err(e) => {
            errors.push(e);
            None
        }
    };
    let draft = AuditDraft {
        date: date.unwrap_or(today),
        start: form.start.clone(),
        zone: form.zone.clone(),
        observer: form.observer.clone(),
        weather: form.weather.clone(),
        police_present: form.police_present,
        needles: parse_count("needles", &form.needles, &mut errors),
        other_litter: parse_count("other_litter", &form.other_litter, &mut errors),
        people_injecting: parse_count("people_injecting", &form.people_injecting, &mut errors),
    };
    let result = if errors.is_empty() {
        community::record_audit(&state.store, &staff.ctx, &site.id, &draft).await
    } else {
        // Also name every other bad field, so one round trip shows them all.
        let zones = community::zones(&state.store, &site.id).await?;
        if let Err(inv) = prepare_audit(&draft, &zones, today) {
            for e in inv.0 {
                if !errors.iter().any(|x| x.field == e.field) {
                    errors.push(e);
                }
            }
        }
        Err(AppError::Invalid(haven_domain::Invalid(errors)))
    };
    match result {
        Ok(_) => Ok(Redirect::to("/community?recorded=1").into_response()),
        Err(AppError::Invalid(inv)) => {
            page_render(
                &state,
                &staff,
                &site,
                FilterQuery::default(),
                form,
                Errors(inv.0),
                Extra::default(),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /community/import`: imports council needle-report counts (managers).
pub async fn import_submit(State(state): State<AppState>, staff: Staff, f: FormData) -> PageResult {
    let site = site_of(&state, &staff).await?;
    let import = ImportForm {
        csv: f.get("csv").to_string(),
        filename: f.get("filename").trim().to_string(),
        skip_bad: !f.get("skip_bad").is_empty(),
    };
    let result = community::import_needle_reports(
        &state.store,
        &staff.ctx,
        &site.id,
        &import.csv,
        &import.filename,
        import.skip_bad,
    )
    .await;
    let today = AuditForm {
        date: haven_app::visits::today(&state.store, &site.id)
            .await
            .map(|d| d.to_string())
            .unwrap_or_default(),
        weather: "dry".into(),
        ..Default::default()
    };
    let (extra, status) = match result {
        Ok(Ok(done)) => {
            let notice = format!(
                "Imported {} council report count{}; {} line{} skipped.",
                done.imported,
                if done.imported == 1 { "" } else { "s" },
                done.skipped.len(),
                if done.skipped.len() == 1 { "" } else { "s" },
            );
            (
                Extra {
                    notice: Some(notice),
                    imported: Some(ImportedItem {
                        imported: done.imported,
                        skipped: done.skipped,
                    }),
                    ..Default::default()
                },
                StatusCode::OK,
            )
        }
        Ok(Err(bad)) => (
            Extra {
                import_errors: bad.errors,
                import,
                ..Default::default()
            },
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(AppError::Invalid(inv)) => (
            Extra {
                import_errors: inv
                    .0
                    .into_iter()
                    .map(|e| LineError {
                        line: 0,
                        message: format!("{}: {}", e.field, e.message),
                    })
                    .collect(),
                import,
                ..Default::default()
            },
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(e) => return Err(e.into()),
    };
    page_render(
        &state,
        &staff,
        &site,
        FilterQuery::default(),
        today,
        Errors::default(),
        extra,
        status,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_and_month_labels_read_as_words() {
        assert_eq!(as_words("city_centre_east"), "City centre east");
        let l = |k: &str, first: bool| {
            let (m, y) = month_label(k, first);
            format!("{m} {y}").trim().to_string()
        };
        assert_eq!(l("2026-01", false), "Jan 2026");
        assert_eq!(l("2026-03", false), "Mar");
        assert_eq!(l("2026-03", true), "Mar 2026");
    }

    #[test]
    fn chart_bars_share_one_scale_and_stay_inside_the_plot() {
        let months = vec![
            MonthTotals {
                month: "2026-01".into(),
                audit_needles: 10,
                council_reports: 40,
                ..Default::default()
            },
            MonthTotals {
                month: "2026-02".into(),
                ..Default::default()
            },
        ];
        let c = chart(&months);
        assert_eq!(c.bars.len(), 4);
        assert_eq!(c.max, 40);
        assert_eq!(c.bars[1].h, 4 * c.bars[0].h);
        assert!(
            c.bars
                .iter()
                .all(|b| b.y >= 0 && b.y + b.h == c.base && b.x + b.w <= c.width)
        );
        assert_eq!(c.bars[2].h, 0);
    }
}
