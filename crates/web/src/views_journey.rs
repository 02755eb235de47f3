//! The client journey: one client's whole record as a timeline, and the subject access export.
//!
//! `/clients/{id}/journey` filters with a GET form (kinds, from, to), so a
//! filtered view is a link that can be shared or reloaded. The export comes as
//! JSON (a download) and as a readable, printable document; both are audited.

use askama::Template;
use axum::{
    Router,
    extract::{Path, RawQuery, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use haven_app::{
    AppError,
    journey::{self, AccessEntry, JourneyView, SubjectAccessExport},
};
use haven_domain::{
    FieldError,
    auth::Action,
    clock::{local_hhmm, rfc3339},
    journey::{Entry, EntryKind, Filter, by_day, parse_filter},
};
use haven_store::SiteRow;

use crate::{
    AppState,
    form::FormData,
    security::Staff,
    views::{Chrome, Errors, PageResult, chrome, local_datetime, render, site_of},
    views_emergency::with_banner,
};

/// This module's pages.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/clients/{id}/journey", get(journey_page))
        .route("/clients/{id}/export", get(export_page))
        .route("/clients/{id}/export.json", get(export_json))
}

/// A filter checkbox.
#[derive(Debug, Clone)]
pub struct KindBox {
    code: &'static str,
    label: &'static str,
    checked: bool,
}

/// One timeline line as shown.
#[derive(Debug, Clone)]
pub struct EntryLine {
    time: String,
    kind: &'static str,
    kind_label: &'static str,
    title: String,
    detail: String,
    link: Option<String>,
}

/// One day of the timeline.
#[derive(Debug, Clone)]
pub struct DayGroup {
    date: String,
    entries: Vec<EntryLine>,
}

/// One access-log row as shown.
#[derive(Debug, Clone)]
pub struct AccessLine {
    when: String,
    who: String,
    role: String,
    what: String,
}

#[derive(Template)]
#[template(path = "journey.html")]
struct JourneyPage {
    chrome: Chrome,
    id: String,
    code: String,
    kinds: Vec<KindBox>,
    from: String,
    to: String,
    errors: Errors,
    filtered: bool,
    days: Vec<DayGroup>,
    access_log: Option<Vec<AccessLine>>,
    can_export: bool,
}

fn lines(site: &SiteRow, entries: &[Entry]) -> Vec<DayGroup> {
    by_day(entries)
        .into_iter()
        .map(|(d, es)| DayGroup {
            date: d.to_string(),
            entries: es
                .into_iter()
                .map(|e| EntryLine {
                    time: local_hhmm(&site.timezone, e.at),
                    kind: e.kind.as_str(),
                    kind_label: e.kind.label(),
                    title: e.title.clone(),
                    detail: e.detail.clone(),
                    link: e.link.clone(),
                })
                .collect(),
        })
        .collect()
}

fn access_lines(site: &SiteRow, log: &[AccessEntry]) -> Vec<AccessLine> {
    log.iter()
        .map(|a| AccessLine {
            when: local_datetime(site, a.at),
            who: a.who.clone(),
            role: a.role.clone().unwrap_or_default(),
            what: a.what.clone(),
        })
        .collect()
}

/// `GET /clients/{id}/journey?kinds=…&from=…&to=…`: the timeline, filtered.
/// A bad filter shows the page again with the input kept and the message at
/// the field (422), and the unfiltered timeline.
pub async fn journey_page(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> PageResult {
    let f = FormData::parse(q.unwrap_or_default().as_bytes());
    let raw_kinds = f.all("kinds");
    let (from, to) = (f.get("from").trim().to_string(), f.get("to").trim().to_string());
    let (filter, errors) = match parse_filter(&raw_kinds, &from, &to) {
        Ok(filter) => (filter, Vec::<FieldError>::new()),
        Err(inv) => (Filter::default(), inv.0),
    };
    let site = site_of(&state, &staff).await?;
    let v: JourneyView = journey::journey(&state.store, &staff.ctx, &id, &filter).await?;
    let staff = with_banner(&state, &staff).await;
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    // Checked as the person left them: an unknown code is simply not a box.
    let ticked = |k: EntryKind| raw_kinds.is_empty() || raw_kinds.iter().any(|r| r.split(',').any(|c| c == k.as_str()));
    Ok(render(
        status,
        &JourneyPage {
            chrome: chrome(&staff, &site, "clients", None),
            id: v.client.id.clone(),
            code: v.client.code.clone(),
            kinds: EntryKind::ALL
                .iter()
                .map(|k| KindBox {
                    code: k.as_str(),
                    label: k.label(),
                    checked: ticked(*k),
                })
                .collect(),
            filtered: v.filter != Filter::default(),
            from,
            to,
            errors: Errors(errors),
            days: lines(&v.site, &v.entries),
            access_log: v.access_log.as_deref().map(|l| access_lines(&v.site, l)),
            can_export: staff.ctx.can(Action::ExportSubjectAccess, &v.site.id),
        },
    ))
}

/// A profile field of the export document.
#[derive(Debug, Clone)]
pub struct Pair {
    label: &'static str,
    value: String,
}

/// A section of the export document: a heading and a table.
#[derive(Debug, Clone)]
pub struct Section {
    id: &'static str,
    title: &'static str,
    head: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

#[derive(Template)]
#[template(path = "journey_export.html")]
struct ExportPage {
    chrome: Chrome,
    id: String,
    code: String,
    generated: String,
    generated_by: String,
    site_name: String,
    profile: Vec<Pair>,
    sections: Vec<Section>,
}

fn opt_time(site: &SiteRow, t: Option<time::OffsetDateTime>) -> String {
    t.map(|t| local_datetime(site, t)).unwrap_or_default()
}

fn sections(site: &SiteRow, x: &SubjectAccessExport) -> Vec<Section> {
    let t = |at| local_datetime(site, at);
    vec![
        Section {
            id: "visits",
            title: "Visits",
            head: vec!["Arrived", "Left", "Record", "Status", "Substances", "Route", "Voided"],
            rows: x
                .visits
                .iter()
                .map(|v| {
                    vec![
                        t(v.arrived_at),
                        opt_time(site, v.left_at),
                        v.client_code.clone(),
                        match &v.refusal_reason {
                            Some(r) => format!("{} ({r})", v.status),
                            None => v.status.clone(),
                        },
                        v.substances.join(" + "),
                        v.route.clone().unwrap_or_default(),
                        v.void_reason.clone().unwrap_or_default(),
                    ]
                })
                .collect(),
        },
        Section {
            id: "episodes",
            title: "Episodes",
            head: vec!["Started", "Ended", "Space", "Substances", "Route", "Observation checks"],
            rows: x
                .episodes
                .iter()
                .map(|e| {
                    vec![
                        t(e.started_at),
                        opt_time(site, e.ended_at),
                        e.space.clone(),
                        e.substances.join(" + "),
                        e.route.clone(),
                        e.checks
                            .iter()
                            .map(|c| format!("{} {}", local_hhmm(&site.timezone, c.at), c.status))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ]
                })
                .collect(),
        },
        Section {
            id: "aftercare",
            title: "After-care",
            head: vec!["Entered", "Left", "Observation"],
            rows: x
                .aftercare
                .iter()
                .map(|a| vec![t(a.entered_at), opt_time(site, a.left_at), a.observation.clone()])
                .collect(),
        },
        Section {
            id: "emergencies",
            title: "Emergencies",
            head: vec!["Began", "Closed", "Where", "Outcome", "Timeline entries"],
            rows: x
                .emergencies
                .iter()
                .map(|m| {
                    vec![
                        t(m.started_at),
                        opt_time(site, m.closed_at),
                        format!("{} {}", m.location, m.location_detail).trim().to_string(),
                        m.outcome.clone().unwrap_or_else(|| "open".into()),
                        m.timeline.iter().map(|e| e.kind.clone()).collect::<Vec<_>>().join(", "),
                    ]
                })
                .collect(),
        },
        Section {
            id: "services",
            title: "Services",
            head: vec!["When", "Service", "Tests", "Results", "Note"],
            rows: x
                .services
                .iter()
                .map(|s| {
                    vec![
                        t(s.at),
                        s.label.clone(),
                        s.tests.join(", ").to_uppercase(),
                        s.results
                            .iter()
                            .map(|r| format!("{}: {} ({})", r.test.to_uppercase(), r.result, t(r.result_at)))
                            .collect::<Vec<_>>()
                            .join("; "),
                        s.note.clone().unwrap_or_default(),
                    ]
                })
                .collect(),
        },
        Section {
            id: "referrals",
            title: "Referrals",
            head: vec!["Made on", "Referred to", "Steps"],
            rows: x
                .referrals
                .iter()
                .map(|r| {
                    vec![
                        r.made_on.clone(),
                        r.label.clone(),
                        r.steps
                            .iter()
                            .map(|s| format!("{} {}", s.on, s.status.replace('_', " ")))
                            .collect::<Vec<_>>()
                            .join("; "),
                    ]
                })
                .collect(),
        },
        Section {
            id: "drug_checks",
            title: "Drug checks",
            head: vec!["Received", "Expected", "Form", "Results"],
            rows: x
                .drug_checks
                .iter()
                .map(|d| {
                    vec![
                        t(d.received_at),
                        d.expected.clone(),
                        d.form.clone(),
                        d.results
                            .iter()
                            .map(|r| r.summary.clone())
                            .collect::<Vec<_>>()
                            .join("; "),
                    ]
                })
                .collect(),
        },
        Section {
            id: "supplies",
            title: "Supplies",
            head: vec!["When", "Kind", "Items"],
            rows: x
                .supplies
                .iter()
                .map(|s| {
                    vec![
                        t(s.at),
                        s.kind.clone(),
                        s.lines
                            .iter()
                            .map(|l| format!("{} × {}", l.quantity, l.label))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ]
                })
                .collect(),
        },
        Section {
            id: "access_log",
            title: "Who accessed this record",
            head: vec!["When", "Who", "Role", "What"],
            rows: x
                .access_log
                .iter()
                .map(|a| {
                    vec![
                        t(a.at),
                        a.who.clone(),
                        a.role.clone().unwrap_or_default(),
                        a.what.clone(),
                    ]
                })
                .collect(),
        },
    ]
}

/// `GET /clients/{id}/export`: everything held about the client as a
/// readable, printable document (managers; audited as an export).
pub async fn export_page(State(state): State<AppState>, staff: Staff, Path(id): Path<String>) -> PageResult {
    let site = site_of(&state, &staff).await?;
    let x = journey::export(&state.store, &staff.ctx, &id).await?;
    let csite = if x.site_code == site.code {
        site.clone()
    } else {
        state
            .store
            .site(&state.store.client_site_id(&id).await.map_err(AppError::from)?)
            .await
            .map_err(AppError::from)?
    };
    let c = &x.client;
    let mut profile = vec![
        Pair {
            label: "Client code",
            value: c.code.clone(),
        },
        Pair {
            label: "Alias",
            value: c.alias.clone().unwrap_or_default(),
        },
        Pair {
            label: "Year of birth",
            value: c.year_of_birth.to_string(),
        },
        Pair {
            label: "Gender",
            value: c.gender.clone(),
        },
        Pair {
            label: "Home area",
            value: c.home_area.clone(),
        },
        Pair {
            label: "Flags",
            value: c.flags.join(", "),
        },
        Pair {
            label: "Registered",
            value: local_datetime(&csite, c.registered_at),
        },
        Pair {
            label: "Records merged into this one",
            value: x.merged_records.join(", "),
        },
    ];
    if let Some(i) = &x.identity {
        profile.push(Pair {
            label: "Name",
            value: i.name.clone().unwrap_or_default(),
        });
        profile.push(Pair {
            label: "CHI number",
            value: i.chi.clone().unwrap_or_default(),
        });
        profile.push(Pair {
            label: "Other health number",
            value: i.other_number.clone().unwrap_or_default(),
        });
    }
    let staff = with_banner(&state, &staff).await;
    let mut res = render(
        StatusCode::OK,
        &ExportPage {
            chrome: chrome(&staff, &site, "clients", None),
            id: c.id.clone(),
            code: c.code.clone(),
            generated: local_datetime(&csite, x.generated_at),
            generated_by: x.generated_by.clone(),
            site_name: x.site_name.clone(),
            profile,
            sections: sections(&csite, &x),
        },
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// `GET /clients/{id}/export.json`: everything held about the client as a
/// JSON download (managers; audited as an export). Never cached.
pub async fn export_json(State(state): State<AppState>, staff: Staff, Path(id): Path<String>) -> PageResult {
    let x = journey::export(&state.store, &staff.ctx, &id).await?;
    Ok(json_download(&x))
}

/// The export as an attachment named after the client code and the time.
pub(crate) fn json_download(x: &SubjectAccessExport) -> Response {
    let body = match serde_json::to_vec_pretty(x) {
        Ok(b) => b,
        Err(e) => return crate::error::PageError(AppError::Internal(e.to_string())).into_response(),
    };
    // Codes are letters, digits and dashes; anything else is dropped from the name.
    let code: String = x
        .client
        .code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let stamp: String = rfc3339(x.generated_at)
        .chars()
        .filter(char::is_ascii_digit)
        .take(14)
        .collect();
    let disposition = format!("attachment; filename=\"subject-access-{code}-{stamp}.json\"");
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}
