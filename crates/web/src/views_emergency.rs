//! Emergency records and the shift handover. The record page is used on a
//! tablet while someone is being resuscitated: one tap per action, times
//! optional (blank = now), and every form keeps its input on error.

use std::{
    collections::HashMap,
    sync::{Mutex, OnceLock},
    time::Instant,
};

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use haven_app::{
    AppError,
    emergencies::{self, CloseDraft, EmergencyView, OpenDraft},
    floor, visits,
};
use haven_domain::{
    FieldError, Invalid,
    auth::Action,
    clock::{local_date, local_day_bounds, rfc3339},
    eligibility::{RULE_CODES, rule_label},
    emergency::{
        ENTRY_KINDS, EntryDraft, FatalCriterion, Location, NALOXONE_ROUTES, OUTCOMES, Outcome, SIGNS,
        default_fatal_criteria, parse_fatal_criteria,
    },
    visit::FUTURE_TOLERANCE,
};
use haven_store::{EmergencyRow, SiteRow};
use serde::Deserialize;
use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};

use crate::{
    AppState,
    error::PageError,
    form::FormData,
    security::Staff,
    views::{Chrome, PageResult, chrome, hhmm, local_datetime, render, site_of},
};

// ---------- shared helpers ----------

pub(crate) fn is_htmx(headers: &HeaderMap) -> bool {
    headers
        .get("hx-request")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// After a successful write: 303 back to `to` (post/redirect/get), or for
/// an htmx request 200 with `HX-Redirect`, since htmx follows that header
/// with a full page load rather than swapping a redirected body.
pub(crate) fn done(headers: &HeaderMap, to: &str) -> Response {
    if is_htmx(headers) {
        let mut r = StatusCode::OK.into_response();
        if let Ok(v) = HeaderValue::from_str(to) {
            r.headers_mut().insert("HX-Redirect", v);
        }
        r
    } else {
        Redirect::to(to).into_response()
    }
}

/// The staff member with the emergency and alert banners filled in: the
/// authentication layer fills them only for GET pages, and a form shown
/// again after a POST should look the same.
pub(crate) async fn with_banner(state: &AppState, staff: &Staff) -> Staff {
    let mut s = staff.clone();
    if let Some(site_id) = &s.site_id {
        if s.emergencies.is_empty() {
            s.emergencies = floor::open_emergencies(&state.store, &s.ctx, site_id)
                .await
                .unwrap_or_default();
        }
        if s.alerts.is_empty() {
            s.alerts = haven_app::alerts::active(&state.store, &s.ctx, site_id)
                .await
                .unwrap_or_default();
        }
    }
    s
}

/// Local wall-clock "HH:MM:SS". Zone offsets are whole minutes, so the
/// seconds are the same as in UTC.
fn hhmmss(site: &SiteRow, t: OffsetDateTime) -> String {
    let hm = hhmm(site, t);
    if hm.is_empty() {
        return hm;
    }
    format!("{hm}:{:02}", t.second())
}

/// Local date and "HH:MM:SS".
fn local_datetime_s(site: &SiteRow, t: OffsetDateTime) -> String {
    let d = local_date(&site.timezone, t).map(|d| d.to_string()).unwrap_or_default();
    format!("{d} {}", hhmmss(site, t))
}

/// "HH:MM" or "HH:MM:SS" → seconds after midnight.
fn parse_clock(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.trim().split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return None;
    }
    let mut vals = [0i64; 3];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        vals[i] = p.parse().ok()?;
    }
    let [h, m, s] = vals;
    (h < 24 && m < 60 && s < 60).then_some(h * 3600 + m * 60 + s)
}

/// Seconds after local midnight of an instant.
fn local_secs(site: &SiteRow, t: OffsetDateTime) -> Option<i64> {
    Some(parse_clock(&hhmm(site, t))? + i64::from(t.second()))
}

/// The instant showing local clock time `secs` on `date` at the site.
fn at_local(site: &SiteRow, date: time::Date, secs: i64) -> Option<OffsetDateTime> {
    let (start, _) = local_day_bounds(&site.timezone, date)?;
    let mut t = start + Duration::seconds(secs);
    // A day with a daylight-saving change is not 24 hours long: correct by
    // what the clock shows (two rounds settle either direction of change).
    for _ in 0..2 {
        let mut diff = local_secs(site, t)? - secs;
        if diff > 43_200 {
            diff -= 86_400;
        } else if diff < -43_200 {
            diff += 86_400;
        }
        if diff == 0 {
            break;
        }
        t -= Duration::seconds(diff);
    }
    Some(t)
}

const TIME_HINT: &str = "enter a time as HH:MM or HH:MM:SS, e.g. 14:05";

/// A clock time typed on a page (the site's clock); blank is `None` (now).
///
/// Only the time of day is typed, so the date is chosen: of the days from
/// `since`'s to today, the instant that is neither before `since` nor in the
/// future and lies nearest to `near` (now for a new entry, the start of the
/// emergency for a correction). An emergency that ran past midnight thus
/// gets yesterday's 23:55 the morning after. With no such instant, the one
/// nearest to `near` is taken and the rules explain what is wrong with it.
fn typed_time(
    site: &SiteRow,
    raw: &str,
    since: OffsetDateTime,
    near: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<Option<OffsetDateTime>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let secs = parse_clock(raw).ok_or_else(|| TIME_HINT.to_string())?;
    let bad_zone = || format!("the site's time zone {} is not known", site.timezone);
    let today = local_date(&site.timezone, now).ok_or_else(bad_zone)?;
    let first = local_date(&site.timezone, since)
        .ok_or_else(bad_zone)?
        .max(today - Duration::days(7));
    let nearer = |t: OffsetDateTime, b: Option<OffsetDateTime>| b.is_none_or(|b| (t - near).abs() < (b - near).abs());
    let (mut best, mut nearest) = (None, None);
    let mut day = first;
    while day <= today {
        if let Some(t) = at_local(site, day, secs) {
            if t >= since && t <= now + FUTURE_TOLERANCE && nearer(t, best) {
                best = Some(t);
            }
            if nearer(t, nearest) {
                nearest = Some(t);
            }
        }
        match day.next_day() {
            Some(d) => day = d,
            None => break,
        }
    }
    match best.or(nearest) {
        Some(t) => Ok(Some(t)),
        None => Err(bad_zone()),
    }
}

/// Messages from the rules name times in UTC (RFC 3339, in brackets at the
/// end); staff read the site's clock.
fn local_messages(site: &SiteRow, errors: Vec<FieldError>) -> Vec<FieldError> {
    errors
        .into_iter()
        .map(|mut e| {
            if let Some(open) = e.message.rfind('(')
                && e.message.ends_with(')')
                && let Some(t) = haven_domain::clock::parse_rfc3339(&e.message[open + 1..e.message.len() - 1])
            {
                e.message = format!("{}({})", &e.message[..open], local_datetime_s(site, t));
            }
            e
        })
        .collect()
}

/// `0.8000000000000002` → "0.8", `15.0` → "15".
fn mg(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn minutes_seconds(d: Duration) -> String {
    let s = d.whole_seconds().max(0);
    if s < 60 {
        format!("{s} s")
    } else {
        format!("{} min {:02} s", s / 60, s % 60)
    }
}

fn criterion_label(c: FatalCriterion) -> &'static str {
    match c {
        FatalCriterion::Naloxone => "naloxone given",
        FatalCriterion::Ambulance => "an ambulance called (or arrived)",
        FatalCriterion::BagValveMask => "bag-valve-mask ventilation",
        FatalCriterion::Airway => "an airway inserted",
        FatalCriterion::Cpr => "CPR given",
        FatalCriterion::Transfer => "transferred to hospital",
    }
}

/// The site's definition of "potentially fatal", as a sentence part.
fn fatal_definition(site: &SiteRow) -> String {
    let settings = haven_app::clients::settings_of(site);
    let criteria = parse_fatal_criteria(&settings.potentially_fatal).unwrap_or_else(|_| default_fatal_criteria());
    let labels: Vec<&str> = criteria.into_iter().map(criterion_label).collect();
    match labels.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{}, or {last}", rest.join(", ")),
    }
}

fn outcome_label(code: &str) -> String {
    Outcome::parse(code).map_or_else(|| code.replace('_', " "), |o| o.label().to_string())
}

fn sign_label(code: &str) -> String {
    let s = code.replace('_', " ");
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// Human names of form fields, for the error summary.
fn field_label(field: &str) -> &'static str {
    match field {
        "dose_mg" => "Dose",
        "route" => "Route",
        "at" => "Time",
        "resp_rate" => "Breathing rate",
        "spo2" => "SpO2",
        "pulse" => "Pulse",
        "gcs" => "GCS",
        "sedation" => "Sedation score",
        "vitals" => "Vital signs",
        "text" => "Note",
        "sign" => "Sign",
        "flow_l_min" => "Oxygen flow",
        "kind" => "Entry",
        "reason" => "Reason",
        "entry_id" => "Entry",
        "outcome" => "Outcome",
        "debrief" => "Debrief",
        "staff_involved" => "Staff involved",
        "closed_at" => "Time closed",
        "location_detail" => "Where",
        "person_description" => "Person",
        "started_at" => "Began at",
        "space_id" | "aftercare_id" | "visit_id" | "site_id" => "Place",
        _ => "Problem",
    }
}

/// One message of the error summary, linking to its field.
#[derive(Debug, Clone)]
pub struct SummaryLine {
    /// Element id of the field (empty: no link).
    pub anchor: String,
    /// Text.
    pub text: String,
}

/// The input of the one form that was sent, kept with its errors, so the
/// page shows the errors at that form and leaves the other forms empty.
#[derive(Debug, Clone, Default)]
pub struct Kept {
    /// Which form: `quick`, `naloxone`, `vitals`, `note`, `earlier`,
    /// `amend-<entry id>`, `close`, or `open` (the new-emergency form).
    pub form: String,
    fields: Vec<(String, String)>,
    errors: Vec<FieldError>,
}

impl Kept {
    fn new(form: impl Into<String>, f: &FormData, errors: Vec<FieldError>) -> Self {
        Self {
            form: form.into(),
            fields: f.0.iter().filter(|(k, _)| k != "csrf").cloned().collect(),
            errors,
        }
    }

    /// The sent value of a field of `form`, or "".
    pub fn val(&self, form: &str, name: &str) -> &str {
        if self.form != form {
            return "";
        }
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The error at a field of `form`.
    pub fn err(&self, form: &str, name: &str) -> Option<&str> {
        if self.form != form {
            return None;
        }
        self.errors.iter().find(|e| e.field == name).map(|e| e.message.as_str())
    }

    /// Whether a field of `form` was sent with this value (radio buttons, selects).
    pub fn is(&self, form: &str, name: &str, value: &str) -> bool {
        self.val(form, name) == value
    }

    /// Any errors at all.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// The error summary: every message, linked to its field's element
    /// (ids are `<form>-<field>`) where the form has one.
    pub fn summary(&self) -> Vec<SummaryLine> {
        let linked = anchored_fields(&self.form);
        self.errors
            .iter()
            .map(|e| SummaryLine {
                anchor: if linked.contains(&e.field.as_str()) {
                    format!("{}-{}", self.form, e.field)
                } else {
                    String::new()
                },
                text: if e.field.is_empty() {
                    e.message.clone()
                } else {
                    format!("{}: {}", field_label(&e.field), e.message)
                },
            })
            .collect()
    }
}

/// The fields of a form that have an element `<form>-<field>` to link to.
fn anchored_fields(form: &str) -> &'static [&'static str] {
    match form {
        "naloxone" => &["dose_mg", "route", "at"],
        "vitals" => &["resp_rate", "spo2", "pulse", "gcs", "sedation", "at"],
        "note" => &["text", "at"],
        "earlier" => &["kind", "at"],
        "close" => &["outcome", "debrief", "staff_involved", "closed_at"],
        "open" => &["location_detail", "person_description", "started_at"],
        f if f.starts_with("amend-") => &["at", "reason"],
        _ => &[],
    }
}

// ---------- double-tap guard ----------

/// Form tokens seen recently. Every rendering of the record page carries a
/// fresh token; a second identical POST with the same token within a minute
/// is a double tap on a tablet, and two naloxone doses recorded for one
/// would be wrong. Memory only: a restart forgets, which is harmless.
fn recent() -> &'static Mutex<HashMap<String, Instant>> {
    static RECENT: OnceLock<Mutex<HashMap<String, Instant>>> = OnceLock::new();
    RECENT.get_or_init(|| Mutex::new(HashMap::new()))
}

const REPEAT_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

/// Claims a submission; false when the same one was claimed within the window.
fn claim(key: &str) -> bool {
    let mut map = recent().lock().unwrap_or_else(|p| p.into_inner());
    map.retain(|_, t| t.elapsed() < REPEAT_WINDOW);
    if map.contains_key(key) {
        return false;
    }
    map.insert(key.to_string(), Instant::now());
    true
}

/// Gives a claim back after a failed write, so a corrected resend is taken.
fn release(key: &str) {
    let mut map = recent().lock().unwrap_or_else(|p| p.into_inner());
    map.remove(key);
}

/// The submission's identity: its token and every field but the CSRF token.
fn submission_key(emergency_id: &str, f: &FormData) -> Option<String> {
    let once = f.opt("once")?;
    let mut fields: Vec<String> =
        f.0.iter()
            .filter(|(k, _)| k != "csrf" && k != "once")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
    fields.sort();
    Some(format!("{emergency_id}|{once}|{}", fields.join("&")))
}

// ---------- the record page ----------

/// The header of a record.
#[derive(Debug, Clone)]
pub struct Header {
    /// Id.
    pub id: String,
    /// Where.
    pub place: String,
    /// Location kind label.
    pub location: String,
    /// Client code, if registered.
    pub client_code: String,
    /// Description of an unregistered person.
    pub person: String,
    /// Substances declared for the visit.
    pub substances: String,
    /// Began (local date and time with seconds).
    pub started: String,
    /// Began, RFC 3339 (for the elapsed timer).
    pub started_at: String,
    /// Closed (local), if closed.
    pub closed: Option<String>,
    /// Outcome label.
    pub outcome: String,
    /// Debrief note.
    pub debrief: String,
    /// Staff involved.
    pub staff: Vec<String>,
}

fn header(site: &SiteRow, r: &EmergencyRow) -> Header {
    let location = Location::parse(&r.location).map_or_else(|| r.location.clone(), |l| l.label().to_string());
    Header {
        id: r.id.clone(),
        place: if r.location_detail.is_empty() {
            location.clone()
        } else {
            r.location_detail.clone()
        },
        location,
        client_code: r.client_code.clone().unwrap_or_default(),
        person: r.person_description.clone(),
        substances: r.substance_list().join(" + "),
        started: local_datetime_s(site, r.started_at),
        started_at: rfc3339(r.started_at),
        closed: r.closed_at.map(|t| local_datetime_s(site, t)),
        outcome: r.outcome.as_deref().map(outcome_label).unwrap_or_default(),
        debrief: r.debrief.clone(),
        staff: r.staff_list(),
    }
}

/// Derived figures, ready to show.
#[derive(Debug, Clone)]
pub struct DerivedView {
    /// Event type label.
    pub event_type: &'static str,
    /// Naloxone given.
    pub naloxone_given: bool,
    /// Number of doses.
    pub doses: u32,
    /// Total mg.
    pub total_mg: String,
    /// Time to first intervention, or "".
    pub first_intervention: String,
    /// Bag-valve-mask used.
    pub bvm: bool,
    /// Ambulance called.
    pub ambulance: bool,
    /// Transferred.
    pub transferred: bool,
    /// Potentially fatal.
    pub potentially_fatal: bool,
    /// The site's definition of potentially fatal.
    pub definition: String,
}

fn derived_view(site: &SiteRow, v: &EmergencyView) -> DerivedView {
    let d = &v.derived;
    DerivedView {
        event_type: d.event_type.label(),
        naloxone_given: d.naloxone_given,
        doses: d.naloxone_doses,
        total_mg: mg(d.naloxone_total_mg),
        first_intervention: d.first_intervention_after.map(minutes_seconds).unwrap_or_default(),
        bvm: d.bvm_used,
        ambulance: d.ambulance_called,
        transferred: d.transferred,
        potentially_fatal: d.potentially_fatal,
        definition: fatal_definition(site),
    }
}

/// One correction of an entry's time.
#[derive(Debug, Clone)]
pub struct AmendLine {
    /// Corrected to.
    pub to: String,
    /// Why.
    pub reason: String,
    /// Who.
    pub by: String,
}

/// One timeline line.
#[derive(Debug, Clone)]
pub struct Line {
    /// Entry id.
    pub id: String,
    /// Effective time, local "HH:MM:SS".
    pub time: String,
    /// Effective time, RFC 3339.
    pub at: String,
    /// Original time when amended.
    pub original: String,
    /// Amended.
    pub amended: bool,
    /// Corrections, oldest first.
    pub amendments: Vec<AmendLine>,
    /// Label.
    pub label: String,
    /// Kind code (a CSS hook).
    pub kind: &'static str,
    /// Something staff did to the person.
    pub intervention: bool,
    /// Who recorded it.
    pub by: String,
    /// Name of its correction form, `amend-<id>`.
    pub amend_form: String,
}

fn lines(site: &SiteRow, v: &EmergencyView) -> Vec<Line> {
    v.timeline
        .iter()
        .map(|e| Line {
            id: e.id.clone(),
            time: hhmmss(site, e.at),
            at: rfc3339(e.at),
            original: hhmmss(site, e.original_at),
            amended: e.amended,
            amendments: e
                .amendments
                .iter()
                .map(|a| AmendLine {
                    to: hhmmss(site, a.new_at),
                    reason: a.reason.clone(),
                    by: a.recorded_by.clone(),
                })
                .collect(),
            label: e.data.label(),
            kind: e.data.kind(),
            intervention: e.data.is_intervention(),
            by: e.recorded_by.clone(),
            amend_form: format!("amend-{}", e.id),
        })
        .collect()
}

/// A one-tap button: a small form with hidden fields.
#[derive(Debug, Clone)]
pub struct Quick {
    /// Button element id.
    pub id: String,
    /// Button text.
    pub label: String,
    /// Hidden fields.
    pub fields: Vec<(&'static str, String)>,
    /// Extra CSS class.
    pub class: &'static str,
}

fn quick(id: &str, label: &str, class: &'static str, fields: &[(&'static str, &str)]) -> Quick {
    Quick {
        id: format!("quick-{id}"),
        label: label.to_string(),
        fields: fields.iter().map(|(k, v)| (*k, (*v).to_string())).collect(),
        class,
    }
}

/// The one-tap buttons; naloxone doses are the site's (`naloxone_doses`).
fn quick_actions(doses: &haven_domain::emergency::NaloxoneDoses) -> Vec<Quick> {
    use haven_domain::emergency::NaloxoneRoute;
    let naloxone = |id: &str, route: NaloxoneRoute| {
        let mg = doses.mg(route).unwrap_or_default();
        quick(
            id,
            &format!("Naloxone {mg} mg {} now", route.as_str()),
            "em-naloxone",
            &[
                ("kind", "naloxone"),
                ("dose_mg", &mg.to_string()),
                ("route", route.as_str()),
            ],
        )
    };
    vec![
        naloxone("naloxone-im", NaloxoneRoute::Im),
        naloxone("naloxone-in", NaloxoneRoute::In),
        quick("stimulation", "Stimulation", "", &[("kind", "stimulation")]),
        quick(
            "recovery_position",
            "Recovery position",
            "",
            &[("kind", "recovery_position")],
        ),
        quick(
            "oxygen",
            "Oxygen 15 L/min",
            "",
            &[("kind", "oxygen"), ("flow_l_min", "15")],
        ),
        quick("bag_valve_mask", "Bag-valve-mask", "", &[("kind", "bag_valve_mask")]),
        quick("airway", "Airway", "", &[("kind", "airway")]),
        quick("cpr", "CPR", "em-critical", &[("kind", "cpr")]),
        quick(
            "defibrillator",
            "Defibrillator (AED)",
            "em-critical",
            &[("kind", "defibrillator")],
        ),
        quick(
            "ambulance_called",
            "Ambulance called",
            "em-ambulance",
            &[("kind", "ambulance_called")],
        ),
        quick(
            "ambulance_arrived",
            "Ambulance arrived",
            "em-ambulance",
            &[("kind", "ambulance_arrived")],
        ),
        quick(
            "transfer",
            "Transfer to hospital",
            "em-ambulance",
            &[("kind", "transfer")],
        ),
    ]
}

/// Options of the "something earlier" select: `kind`, or `kind:value` for
/// a kind with one field (a sign, an oxygen flow).
fn earlier_options() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = [
        ("recognition", "Emergency recognised"),
        ("stimulation", "Stimulation"),
        ("recovery_position", "Recovery position"),
        ("oxygen:15", "Oxygen 15 L/min"),
        ("bag_valve_mask", "Bag-valve-mask"),
        ("airway", "Airway"),
        ("cpr", "CPR"),
        ("defibrillator", "Defibrillator (AED)"),
        ("ambulance_called", "Ambulance called"),
        ("ambulance_arrived", "Ambulance arrived"),
        ("transfer", "Transfer to hospital"),
    ]
    .iter()
    .map(|(v, l)| ((*v).to_string(), (*l).to_string()))
    .collect();
    out.extend(
        SIGNS
            .iter()
            .map(|s| (format!("sign:{s}"), format!("Sign: {}", sign_label(s)))),
    );
    out
}

#[derive(Template)]
#[template(path = "emergency.html")]
struct EmergencyPage {
    chrome: Chrome,
    e: Header,
    d: DerivedView,
    timeline: Vec<Line>,
    open: bool,
    can_record: bool,
    quick: Vec<Quick>,
    signs: Vec<(&'static str, String)>,
    earlier: Vec<(String, String)>,
    routes: Vec<&'static str>,
    outcomes: Vec<(&'static str, &'static str)>,
    kept: Kept,
    summary: Vec<SummaryLine>,
    /// Fresh per rendering: see [`claim`].
    once: String,
}

async fn emergency_render(state: &AppState, staff: &Staff, id: &str, status: StatusCode, kept: Kept) -> PageResult {
    let site = site_of(state, staff).await?;
    let v = emergencies::view(&state.store, &staff.ctx, id).await?;
    // Times are shown in the emergency's own site's zone.
    let esite = if v.row.site_id == site.id {
        site.clone()
    } else {
        state.store.site(&v.row.site_id).await.map_err(AppError::from)?
    };
    let staff = if kept.has_errors() {
        with_banner(state, staff).await
    } else {
        staff.clone()
    };
    Ok(render(
        status,
        &EmergencyPage {
            chrome: chrome(&staff, &site, "emergencies", None),
            e: header(&esite, &v.row),
            d: derived_view(&esite, &v),
            timeline: lines(&esite, &v),
            open: v.row.closed_at.is_none(),
            can_record: staff.ctx.can(Action::RecordEmergency, &v.row.site_id),
            quick: quick_actions(&haven_app::clients::settings_of(&esite).naloxone_doses),
            signs: SIGNS.iter().map(|s| (*s, sign_label(s))).collect(),
            earlier: earlier_options(),
            routes: NALOXONE_ROUTES.to_vec(),
            outcomes: OUTCOMES
                .iter()
                .filter_map(|c| Outcome::parse(c).map(|o| (*c, o.label())))
                .collect(),
            summary: kept.summary(),
            kept,
            once: uuid::Uuid::now_v7().to_string(),
        },
    ))
}

/// The record of one emergency.
pub async fn emergency_page(State(state): State<AppState>, staff: Staff, Path(id): Path<String>) -> PageResult {
    emergency_render(&state, &staff, &id, StatusCode::OK, Kept::default()).await
}

const INT_FIELDS: [&str; 5] = ["resp_rate", "spo2", "pulse", "gcs", "sedation"];
const DEC_FIELDS: [&str; 2] = ["dose_mg", "flow_l_min"];
const TEXT_FIELDS: [&str; 3] = ["route", "sign", "text"];

/// Builds the entry from form fields. `EntryDraft` reads JSON, where numbers
/// must be numbers, so the form's text is parsed here and a value that is not
/// a number gets its message at its field.
fn entry_draft(
    f: &FormData,
    site: &SiteRow,
    started_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<EntryDraft, Invalid> {
    let mut inv = Invalid::default();
    let raw_kind = f.get("kind").trim();
    let (kind, preset) = match raw_kind.split_once(':') {
        Some((k, p)) => (k, Some(p)),
        None => (raw_kind, None),
    };
    if !ENTRY_KINDS.contains(&kind) {
        return Err(Invalid::one("kind", "choose what happened"));
    }
    let mut map = Map::new();
    map.insert("kind".into(), Value::from(kind));
    let mut given: Vec<(&str, String)> = INT_FIELDS
        .iter()
        .chain(DEC_FIELDS.iter())
        .chain(TEXT_FIELDS.iter())
        .filter_map(|name| f.opt(name).map(|v| (*name, v)))
        .collect();
    match (kind, preset) {
        ("sign", Some(p)) => given.push(("sign", p.to_string())),
        ("oxygen", Some(p)) => given.push(("flow_l_min", p.to_string())),
        _ => {}
    }
    for (name, raw) in given {
        let value = if INT_FIELDS.contains(&name) {
            match raw.parse::<i64>() {
                Ok(n) if n < 0 => {
                    inv.push(name, "cannot be negative");
                    continue;
                }
                Ok(n) if n > i64::from(u16::MAX) => {
                    inv.push(name, "is far too large");
                    continue;
                }
                Ok(n) => Value::from(n),
                Err(_) => {
                    inv.push(name, "enter a whole number");
                    continue;
                }
            }
        } else if DEC_FIELDS.contains(&name) {
            // A decimal comma is common on tablets set to many European locales.
            match raw.replace(',', ".").parse::<f64>() {
                Ok(x) if x.is_finite() => Value::from(x),
                _ => {
                    inv.push(name, "enter a number, e.g. 0.4");
                    continue;
                }
            }
        } else if name == "route" {
            let r = raw.to_ascii_uppercase();
            if !NALOXONE_ROUTES.contains(&r.as_str()) {
                inv.push("route", format!("choose one of: {}", NALOXONE_ROUTES.join(", ")));
                continue;
            }
            Value::from(r)
        } else {
            Value::from(raw)
        };
        map.insert(name.into(), value);
    }
    let required: &[(&str, &str)] = match kind {
        "naloxone" => &[("dose_mg", "enter the dose in mg"), ("route", "choose a route")],
        "oxygen" => &[("flow_l_min", "enter the flow in L/min")],
        "sign" => &[("sign", "choose a sign")],
        "note" => &[("text", "write a note")],
        _ => &[],
    };
    for (field, msg) in required {
        if !map.contains_key(*field) && !inv.0.iter().any(|e| e.field == *field) {
            inv.push(*field, *msg);
        }
    }
    match typed_time(site, f.get("at"), started_at, now, now) {
        Ok(Some(t)) => {
            map.insert("at".into(), Value::from(rfc3339(t)));
        }
        Ok(None) => {}
        Err(m) => inv.push("at", m),
    }
    inv.into_result()?;
    serde_json::from_value::<EntryDraft>(Value::Object(map))
        .map_err(|e| Invalid::one("kind", format!("this entry could not be read ({e})")))
}

/// The record's site and row, to read the times typed on its forms. Not
/// audited as a read: the write that follows is, and a form shown again
/// goes through `emergencies::view`.
async fn basics(state: &AppState, staff: &Staff, id: &str) -> Result<(SiteRow, EmergencyRow), PageError> {
    let site_id = state.store.emergency_site(id).await.map_err(AppError::from)?;
    if staff.ctx.actor.role_at(&site_id).is_none() {
        return Err(PageError(AppError::NotFound));
    }
    let site = state.store.site(&site_id).await.map_err(AppError::from)?;
    let row = state.store.emergency(&site_id, id).await.map_err(AppError::from)?;
    Ok((site, row))
}

/// Records a timeline entry from a one-tap button or one of the forms.
pub async fn emergency_entry(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    Path(id): Path<String>,
    f: FormData,
) -> PageResult {
    let form = match f.get("form") {
        "naloxone" | "vitals" | "note" | "earlier" => f.get("form").to_string(),
        _ => "quick".to_string(),
    };
    let (esite, row) = basics(&state, &staff, &id).await?;
    let again = |errors: Vec<FieldError>, status| {
        let kept = Kept::new(form.clone(), &f, local_messages(&esite, errors));
        emergency_render(&state, &staff, &id, status, kept)
    };
    let draft = match entry_draft(&f, &esite, row.started_at, haven_domain::clock::now()) {
        Ok(d) => d,
        Err(inv) => return again(inv.0, StatusCode::UNPROCESSABLE_ENTITY).await,
    };
    let key = submission_key(&id, &f);
    if let Some(k) = &key
        && !claim(k)
    {
        // The same tap arrived twice: the first one is recorded.
        return Ok(done(&headers, &format!("/emergencies/{id}")));
    }
    match emergencies::add_entry(&state.store, &staff.ctx, &id, &draft).await {
        Ok(_) => {
            state.board.changed(&row.site_id);
            Ok(done(&headers, &format!("/emergencies/{id}")))
        }
        Err(e) => {
            if let Some(k) = &key {
                release(k);
            }
            match e {
                AppError::Invalid(inv) => again(inv.0, StatusCode::UNPROCESSABLE_ENTITY).await,
                AppError::Conflict(m) => again(vec![FieldError::new("", m)], StatusCode::CONFLICT).await,
                e => Err(e.into()),
            }
        }
    }
}

/// Corrects the time of a timeline entry, with a reason.
pub async fn emergency_amend(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    Path((id, entry)): Path<(String, String)>,
    f: FormData,
) -> PageResult {
    let (esite, row) = basics(&state, &staff, &id).await?;
    let again = |errors: Vec<FieldError>| {
        let kept = Kept::new(format!("amend-{entry}"), &f, local_messages(&esite, errors));
        emergency_render(&state, &staff, &id, StatusCode::UNPROCESSABLE_ENTITY, kept)
    };
    // A correction is usually of minutes: nearest the start picks the right day.
    let now = haven_domain::clock::now();
    let new_at = match typed_time(&esite, f.get("at"), row.started_at, row.started_at, now) {
        Ok(Some(t)) => t,
        Ok(None) => return again(vec![FieldError::new("at", "enter the corrected time")]).await,
        Err(m) => return again(vec![FieldError::new("at", m)]).await,
    };
    match emergencies::amend(&state.store, &staff.ctx, &id, &entry, new_at, f.get("reason")).await {
        Ok(_) => {
            state.board.changed(&row.site_id);
            Ok(done(&headers, &format!("/emergencies/{id}")))
        }
        Err(AppError::Invalid(inv)) => again(inv.0).await,
        Err(e) => Err(e.into()),
    }
}

/// Closes an emergency with its outcome, debrief and staff involved.
pub async fn emergency_close(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    Path(id): Path<String>,
    f: FormData,
) -> PageResult {
    let (esite, row) = basics(&state, &staff, &id).await?;
    let again = |errors: Vec<FieldError>, status| {
        let kept = Kept::new("close", &f, local_messages(&esite, errors));
        emergency_render(&state, &staff, &id, status, kept)
    };
    // The close time may not precede the last entry, which may itself be yesterday.
    let now = haven_domain::clock::now();
    let closed_at = match typed_time(&esite, f.get("closed_at"), row.started_at, now, now) {
        Ok(t) => t,
        Err(m) => return again(vec![FieldError::new("closed_at", m)], StatusCode::UNPROCESSABLE_ENTITY).await,
    };
    let draft = CloseDraft {
        outcome: f.get("outcome").trim().to_string(),
        debrief: f.get("debrief").to_string(),
        staff_involved: f
            .get("staff_involved")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        closed_at,
    };
    match emergencies::close(&state.store, &staff.ctx, &id, &draft).await {
        Ok(_) => {
            state.board.changed(&row.site_id);
            Ok(done(&headers, &format!("/emergencies/{id}")))
        }
        Err(AppError::Invalid(inv)) => again(inv.0, StatusCode::UNPROCESSABLE_ENTITY).await,
        Err(AppError::Conflict(m)) => again(vec![FieldError::new("", m)], StatusCode::CONFLICT).await,
        Err(e) => Err(e.into()),
    }
}

// ---------- list and opening ----------

/// An emergency as a list line.
#[derive(Debug, Clone)]
pub struct ListLine {
    /// Id.
    pub id: String,
    /// Began (local).
    pub started: String,
    /// Where.
    pub place: String,
    /// Client code or description.
    pub who: String,
    /// Event type label.
    pub event_type: &'static str,
    /// Naloxone summary, e.g. "0.8 mg (2 doses)", or "".
    pub naloxone: String,
    /// Potentially fatal.
    pub potentially_fatal: bool,
    /// Still open.
    pub open: bool,
    /// Outcome label.
    pub outcome: String,
}

fn who(r: &EmergencyRow) -> String {
    match (&r.client_code, r.person_description.trim()) {
        (Some(c), _) => c.clone(),
        (None, "") => "unregistered person".into(),
        (None, d) => d.to_string(),
    }
}

fn list_line(site: &SiteRow, v: &EmergencyView, with_date: bool) -> ListLine {
    let h = header(site, &v.row);
    let d = &v.derived;
    ListLine {
        id: v.row.id.clone(),
        started: if with_date {
            local_datetime(site, v.row.started_at)
        } else {
            hhmm(site, v.row.started_at)
        },
        place: h.place,
        who: who(&v.row),
        event_type: d.event_type.label(),
        naloxone: if d.naloxone_given {
            let n = d.naloxone_doses;
            format!(
                "{} mg ({n} dose{})",
                mg(d.naloxone_total_mg),
                if n == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        },
        potentially_fatal: d.potentially_fatal,
        open: v.row.closed_at.is_none(),
        outcome: h.outcome,
    }
}

#[derive(Template)]
#[template(path = "emergencies.html")]
struct EmergenciesPage {
    chrome: Chrome,
    date: String,
    is_today: bool,
    open: Vec<ListLine>,
    day: Vec<ListLine>,
    error: Option<String>,
    can_record: bool,
    definition: String,
}

/// `?date=YYYY-MM-DD`.
#[derive(Deserialize, Default)]
pub struct DateQuery {
    #[serde(default)]
    date: String,
}

/// Open emergencies, then those of a day.
pub async fn emergencies_page(State(state): State<AppState>, staff: Staff, Query(q): Query<DateQuery>) -> PageResult {
    let site = site_of(&state, &staff).await?;
    staff.ctx.allow(&state.store, Action::ViewFloor, &site.id).await?;
    let today = visits::today(&state.store, &site.id).await?;
    let (date, error) = if q.date.trim().is_empty() {
        (today, None)
    } else {
        match time::Date::parse(q.date.trim(), time::macros::format_description!("[year]-[month]-[day]")) {
            Ok(d) => (d, None),
            Err(_) => (
                today,
                Some(format!("“{}” is not a date (YYYY-MM-DD); showing today", q.date)),
            ),
        }
    };
    let day = emergencies::on_date(&state.store, &staff.ctx, &site.id, date).await?;
    let mut open = Vec::new();
    for row in floor::open_emergencies(&state.store, &staff.ctx, &site.id).await? {
        match day.iter().find(|v| v.row.id == row.id) {
            Some(v) => open.push(list_line(&site, v, true)),
            None => {
                let v = emergencies::view(&state.store, &staff.ctx, &row.id).await?;
                open.push(list_line(&site, &v, true));
            }
        }
    }
    Ok(render(
        if error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        &EmergenciesPage {
            chrome: chrome(&staff, &site, "emergencies", None),
            date: date.to_string(),
            is_today: date == today,
            open,
            day: day.iter().map(|v| list_line(&site, v, false)).collect(),
            error,
            can_record: staff.ctx.can(Action::RecordEmergency, &site.id),
            definition: fatal_definition(&site),
        },
    ))
}

/// Prefill of the open form, from a board or visit button.
#[derive(Deserialize, Default)]
pub struct NewQuery {
    #[serde(default)]
    visit_id: String,
    #[serde(default)]
    aftercare_id: String,
    #[serde(default)]
    space_id: String,
    #[serde(default)]
    failed: Option<String>,
}

#[derive(Template)]
#[template(path = "emergency_new.html")]
struct EmergencyNewPage {
    chrome: Chrome,
    kept: Kept,
    summary: Vec<SummaryLine>,
    /// Hidden link fields, as (name, value).
    links: Vec<(&'static str, String)>,
    /// What the link means, for the person filling the form.
    linked_to: String,
    failed: bool,
}

fn link_fields(visit_id: &str, aftercare_id: &str, space_id: &str) -> Vec<(&'static str, String)> {
    [
        ("visit_id", visit_id),
        ("aftercare_id", aftercare_id),
        ("space_id", space_id),
    ]
    .into_iter()
    .filter(|(_, v)| !v.trim().is_empty())
    .map(|(k, v)| (k, v.trim().to_string()))
    .collect()
}

fn linked_to(links: &[(&'static str, String)]) -> String {
    match links.first().map(|(k, _)| *k) {
        Some("space_id") => "the person in the space".into(),
        Some("aftercare_id") => "the person in after-care".into(),
        Some("visit_id") => "the checked-in visit".into(),
        _ => String::new(),
    }
}

fn new_page(
    staff: &Staff,
    site: &SiteRow,
    kept: Kept,
    links: Vec<(&'static str, String)>,
    failed: bool,
) -> EmergencyNewPage {
    EmergencyNewPage {
        chrome: chrome(staff, site, "emergencies", None),
        summary: kept.summary(),
        kept,
        linked_to: linked_to(&links),
        links,
        failed,
    }
}

/// The form to open an emergency anywhere on site.
pub async fn emergency_new_page(State(state): State<AppState>, staff: Staff, Query(q): Query<NewQuery>) -> PageResult {
    let site = site_of(&state, &staff).await?;
    staff.ctx.allow(&state.store, Action::RecordEmergency, &site.id).await?;
    let links = link_fields(&q.visit_id, &q.aftercare_id, &q.space_id);
    Ok(render(
        StatusCode::OK,
        &new_page(&staff, &site, Kept::default(), links, q.failed.is_some()),
    ))
}

/// An open emergency already recorded for the same space or visit: a second
/// tap on a board button (or a colleague's) goes to that one instead of
/// opening a duplicate record.
async fn already_open(state: &AppState, staff: &Staff, site_id: &str, draft: &OpenDraft) -> Option<String> {
    let open = floor::open_emergencies(&state.store, &staff.ctx, site_id).await.ok()?;
    let visit_id = match (&draft.visit_id, &draft.aftercare_id) {
        (Some(v), _) => Some(v.clone()),
        (None, Some(a)) => state
            .store
            .in_aftercare(site_id)
            .await
            .ok()?
            .into_iter()
            .find(|x| &x.id == a)
            .map(|x| x.visit_id),
        _ => None,
    };
    open.into_iter()
        .find(|e| {
            (draft.space_id.is_some() && e.space_id == draft.space_id) || (visit_id.is_some() && e.visit_id == visit_id)
        })
        .map(|e| e.id)
}

/// Opens an emergency, from the form or a board button (htmx).
pub async fn emergency_open(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    f: FormData,
) -> PageResult {
    let site = site_of(&state, &staff).await?;
    let links = link_fields(f.get("visit_id"), f.get("aftercare_id"), f.get("space_id"));
    let link = |name: &str| links.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone());
    let now = haven_domain::clock::now();
    let started_at = match typed_time(
        &site,
        f.get("started_at"),
        now - haven_domain::emergency::START_BACKDATE_LIMIT,
        now,
        now,
    ) {
        Ok(t) => t,
        Err(m) => {
            let staff = with_banner(&state, &staff).await;
            let kept = Kept::new("open", &f, vec![FieldError::new("started_at", m)]);
            return Ok(render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &new_page(&staff, &site, kept, links, false),
            ));
        }
    };
    let draft = OpenDraft {
        site_id: links.is_empty().then(|| site.id.clone()),
        space_id: link("space_id"),
        aftercare_id: link("aftercare_id"),
        visit_id: link("visit_id"),
        location_detail: f.opt("location_detail"),
        person_description: f.opt("person_description"),
        started_at,
    };
    if !links.is_empty()
        && let Some(existing) = already_open(&state, &staff, &site.id, &draft).await
    {
        return Ok(done(&headers, &format!("/emergencies/{existing}")));
    }
    match emergencies::open(&state.store, &staff.ctx, &draft).await {
        Ok(row) => {
            state.board.changed(&row.site_id);
            Ok(done(&headers, &format!("/emergencies/{}", row.id)))
        }
        Err(AppError::Invalid(inv)) if is_htmx(&headers) => {
            // A board button cannot show field messages: go to the full form.
            tracing::info!(errors = %inv, "emergency from a board button refused");
            let mut ser = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &links {
                ser.append_pair(k, v);
            }
            ser.append_pair("failed", "1");
            Ok(done(&headers, &format!("/emergencies/new?{}", ser.finish())))
        }
        Err(AppError::Invalid(inv)) => {
            let staff = with_banner(&state, &staff).await;
            let kept = Kept::new("open", &f, inv.0);
            Ok(render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &new_page(&staff, &site, kept, links, false),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

// ---------- handover ----------

/// A running episode.
#[derive(Debug, Clone)]
pub struct EpisodeLine {
    /// Space label.
    pub space: String,
    /// Client code.
    pub client_code: String,
    /// Started (local HH:MM).
    pub since: String,
    /// Started, RFC 3339.
    pub started_at: String,
    /// Substances.
    pub substances: String,
    /// Route.
    pub route: String,
}

/// A simple line: (main text, detail, time).
#[derive(Debug, Clone)]
pub struct PlainLine {
    /// Id (link target where there is one).
    pub id: String,
    /// Main text.
    pub main: String,
    /// Detail.
    pub detail: String,
    /// Local time.
    pub time: String,
}

/// A handover note.
#[derive(Debug, Clone)]
pub struct NoteLine {
    /// Author.
    pub author: String,
    /// Written (local).
    pub written: String,
    /// Text.
    pub text: String,
}

/// One line of today's eligibility figures: a refusal reason or a rule.
#[derive(Debug, Clone)]
pub struct EligibilityLine {
    /// Label.
    pub label: String,
    /// Reason or rule code.
    pub code: String,
    /// Refusals with this reason.
    pub refused: i64,
    /// Check-ins that went ahead by override with this rule failing.
    pub overridden: i64,
}

/// Refusals by reason and overrides by rule, one line per code (a failing
/// rule is also a refusal reason, so the two share lines).
fn eligibility_lines(refusals: Vec<(String, i64)>, overrides: Vec<(String, i64)>) -> Vec<EligibilityLine> {
    let mut out: Vec<EligibilityLine> = refusals
        .into_iter()
        .map(|(code, n)| EligibilityLine {
            label: reason_label(&code),
            code,
            refused: n,
            overridden: 0,
        })
        .collect();
    for (code, n) in overrides {
        match out.iter_mut().find(|l| l.code == code) {
            Some(l) => l.overridden += n,
            None => out.push(EligibilityLine {
                label: reason_label(&code),
                code,
                refused: 0,
                overridden: n,
            }),
        }
    }
    out
}

#[derive(Template)]
#[template(path = "handover.html")]
struct HandoverPage {
    chrome: Chrome,
    episodes: Vec<EpisodeLine>,
    aftercare: Vec<PlainLine>,
    emergencies: Vec<PlainLine>,
    spaces: Vec<PlainLine>,
    waiting: Vec<PlainLine>,
    notes: Vec<NoteLine>,
    eligibility: Option<Vec<EligibilityLine>>,
    text: String,
    error: Option<String>,
    date: String,
}

fn reason_label(code: &str) -> String {
    if RULE_CODES.contains(&code) {
        rule_label(code).to_string()
    } else {
        code.replace('_', " ")
    }
}

async fn handover_render(state: &AppState, staff: &Staff, text: String, error: Option<String>) -> PageResult {
    let site = site_of(state, staff).await?;
    let h = floor::handover(&state.store, &staff.ctx, &site.id).await?;
    let today = visits::today(&state.store, &site.id).await?;
    let eligibility = match local_day_bounds(&site.timezone, today) {
        Some((from, to)) => match floor::eligibility_counts(&state.store, &staff.ctx, &site.id, from, to).await {
            Ok((refusals, overrides)) => Some(eligibility_lines(refusals, overrides)),
            // Figures are an extra here: a role without them still gets the handover.
            Err(AppError::Denied(_)) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let join = |s: &str| -> String { serde_json::from_str::<Vec<String>>(s).unwrap_or_default().join(" + ") };
    let staff = if error.is_some() {
        with_banner(state, staff).await
    } else {
        staff.clone()
    };
    Ok(render(
        if error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        &HandoverPage {
            chrome: chrome(&staff, &site, "handover", None),
            episodes: h
                .episodes
                .iter()
                .map(|e| EpisodeLine {
                    space: e.space_label.clone(),
                    client_code: e.client_code.clone(),
                    since: hhmm(&site, e.started_at),
                    started_at: rfc3339(e.started_at),
                    substances: e.substance_list().join(" + "),
                    route: e.route.clone(),
                })
                .collect(),
            aftercare: h
                .aftercare
                .iter()
                .map(|a| PlainLine {
                    id: a.id.clone(),
                    main: a.client_code.clone(),
                    detail: String::new(),
                    time: hhmm(&site, a.entered_at),
                })
                .collect(),
            emergencies: h
                .emergencies
                .iter()
                .map(|e| PlainLine {
                    id: e.id.clone(),
                    main: header(&site, e).place,
                    detail: who(e),
                    time: hhmm(&site, e.started_at),
                })
                .collect(),
            spaces: h
                .spaces
                .iter()
                .map(|s| PlainLine {
                    id: s.id.clone(),
                    main: s.label.clone(),
                    detail: if s.in_service {
                        "needs cleaning".into()
                    } else {
                        "out of service".into()
                    },
                    time: String::new(),
                })
                .collect(),
            waiting: h
                .waiting
                .iter()
                .map(|w| PlainLine {
                    id: w.visit_id.clone(),
                    main: w.client_code.clone(),
                    detail: format!("{} · {}", join(&w.substances), w.route),
                    time: hhmm(&site, w.arrived_at),
                })
                .collect(),
            notes: h
                .notes
                .iter()
                .map(|n| NoteLine {
                    author: n.author.clone(),
                    written: local_datetime(&site, n.written_at),
                    text: n.text.clone(),
                })
                .collect(),
            eligibility,
            text,
            error,
            date: today.to_string(),
        },
    ))
}

/// The shift handover.
pub async fn handover_page(State(state): State<AppState>, staff: Staff) -> PageResult {
    handover_render(&state, &staff, String::new(), None).await
}

/// Adds a handover note.
pub async fn handover_note(State(state): State<AppState>, staff: Staff, headers: HeaderMap, f: FormData) -> PageResult {
    let site = site_of(&state, &staff).await?;
    let text = f.get("text").to_string();
    match floor::add_handover_note(&state.store, &staff.ctx, &site.id, &text).await {
        Ok(_) => {
            state.board.changed(&site.id);
            Ok(done(&headers, "/handover"))
        }
        Err(AppError::Invalid(inv)) => {
            let msg = inv.0.first().map(|e| e.message.clone()).unwrap_or_default();
            handover_render(&state, &staff, text, Some(msg)).await
        }
        Err(e) => Err(PageError(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use haven_domain::emergency::EntryData;

    fn site(tz: &str) -> SiteRow {
        SiteRow {
            id: "s".into(),
            code: "GLA".into(),
            name: "Glasgow".into(),
            timezone: tz.into(),
            opens: "09:00".into(),
            closes: "21:00".into(),
            code_scheme: "site".into(),
            settings: "{}".into(),
            created_at: time::macros::datetime!(2025-01-01 00:00 UTC),
        }
    }

    #[test]
    fn clock_times_parse() {
        assert_eq!(parse_clock("14:05"), Some(14 * 3600 + 5 * 60));
        assert_eq!(parse_clock("09:05:07"), Some(9 * 3600 + 5 * 60 + 7));
        for bad in ["", "24:00", "12:60", "1205", "12:05:61", "a:b", "-1:00", "12:05:07:01"] {
            assert_eq!(parse_clock(bad), None, "{bad}");
        }
    }

    #[test]
    fn local_time_today_becomes_utc_across_summer_time() {
        let s = site("Europe/London");
        let now = time::macros::datetime!(2025-07-01 12:00 UTC);
        let t = typed_time(&s, "12:30:15", now - Duration::hours(1), now, now).unwrap();
        assert_eq!(t, Some(time::macros::datetime!(2025-07-01 11:30:15 UTC)));
        assert_eq!(typed_time(&s, " ", now, now, now).unwrap(), None);
        assert!(typed_time(&s, "25:00", now, now, now).is_err());
        // The day the clocks go forward: 03:30 local is 02:30 UTC.
        let now = time::macros::datetime!(2025-03-30 10:00 UTC);
        let t = typed_time(&s, "03:30", now - Duration::hours(9), now, now).unwrap();
        assert_eq!(t, Some(time::macros::datetime!(2025-03-30 02:30 UTC)));
    }

    #[test]
    fn a_time_before_midnight_after_midnight_is_yesterday_when_the_record_began_then() {
        let s = site("Europe/London");
        let now = time::macros::datetime!(2025-07-01 23:10 UTC); // 00:10 local, 2 July
        let began = time::macros::datetime!(2025-07-01 22:50 UTC); // 23:50 local
        let t = typed_time(&s, "23:55", began, now, now).unwrap();
        assert_eq!(t, Some(time::macros::datetime!(2025-07-01 22:55 UTC)));
        // Began today: a later clock time stays today's (and is refused as future).
        let t = typed_time(&s, "23:55", now, now, now).unwrap();
        assert_eq!(t, Some(time::macros::datetime!(2025-07-02 22:55 UTC)));
        // Before the start: the nearest, which the rules refuse as before the start.
        let t = typed_time(&s, "23:40", began, now, now).unwrap();
        assert_eq!(t, Some(time::macros::datetime!(2025-07-01 22:40 UTC)));
    }

    #[test]
    fn a_correction_the_next_day_lands_near_the_emergency() {
        let s = site("Europe/London");
        let began = time::macros::datetime!(2025-07-01 08:00 UTC); // 09:00 local
        let now = time::macros::datetime!(2025-07-02 09:00 UTC); // 10:00 local next day
        let t = typed_time(&s, "09:05", began, began, now).unwrap();
        assert_eq!(t, Some(time::macros::datetime!(2025-07-01 08:05 UTC)));
        // A new entry typed the same way is today's.
        let t = typed_time(&s, "09:05", began, now, now).unwrap();
        assert_eq!(t, Some(time::macros::datetime!(2025-07-02 08:05 UTC)));
    }

    fn form(pairs: &[(&str, &str)]) -> FormData {
        FormData(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        )
    }

    #[test]
    fn form_fields_become_an_entry_with_numbers() {
        let s = site("UTC");
        let now = time::macros::datetime!(2025-07-01 12:00 UTC);
        let d = entry_draft(
            &form(&[("kind", "naloxone"), ("dose_mg", "0,4"), ("route", "im"), ("csrf", "x")]),
            &s,
            now,
            now,
        )
        .unwrap();
        assert_eq!(
            d.data,
            EntryData::Naloxone {
                dose_mg: 0.4,
                route: haven_domain::emergency::NaloxoneRoute::Im
            }
        );
        let d = entry_draft(&form(&[("kind", "sign:seizure")]), &s, now, now).unwrap();
        assert_eq!(d.data, EntryData::Sign { sign: "seizure".into() });
        let d = entry_draft(
            &form(&[("kind", "vitals"), ("spo2", "88"), ("pulse", "")]),
            &s,
            now,
            now,
        )
        .unwrap();
        assert!(matches!(d.data, EntryData::Vitals(v) if v.spo2 == Some(88) && v.pulse.is_none()));
        let e = entry_draft(
            &form(&[("kind", "vitals"), ("spo2", "lots"), ("gcs", "-3"), ("at", "7pm")]),
            &s,
            now,
            now,
        )
        .unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(fields, ["spo2", "gcs", "at"]);
        let e = entry_draft(&form(&[("kind", "naloxone"), ("dose_mg", "NaN")]), &s, now, now).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(fields, ["dose_mg", "route"]);
        assert!(entry_draft(&form(&[("kind", "dance")]), &s, now, now).is_err());
    }

    #[test]
    fn a_repeated_tap_is_claimed_once() {
        let f = form(&[("once", "t1"), ("kind", "cpr"), ("csrf", "a")]);
        let g = form(&[("once", "t1"), ("kind", "cpr"), ("csrf", "b")]);
        let k1 = submission_key("e-test", &f).unwrap();
        let k2 = submission_key("e-test", &g).unwrap();
        assert_eq!(k1, k2);
        assert!(claim(&k1));
        assert!(!claim(&k2));
        release(&k1);
        assert!(claim(&k2));
        let other = submission_key("e-test", &form(&[("once", "t1"), ("kind", "airway")])).unwrap();
        assert!(claim(&other));
        assert!(submission_key("e-test", &form(&[("kind", "cpr")])).is_none());
    }

    #[test]
    fn utc_times_in_messages_are_shown_on_the_site_clock() {
        let s = site("Europe/London");
        let e = local_messages(
            &s,
            vec![FieldError::new(
                "at",
                "cannot be before the emergency began (2025-07-01T11:30:15Z)",
            )],
        );
        assert_eq!(
            e[0].message,
            "cannot be before the emergency began (2025-07-01 12:30:15)"
        );
        let e = local_messages(&s, vec![FieldError::new("x", "choose one (a or b)")]);
        assert_eq!(e[0].message, "choose one (a or b)");
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(mg(0.1 + 0.2 + 0.5), "0.8");
        assert_eq!(mg(15.0), "15");
        assert_eq!(minutes_seconds(Duration::seconds(125)), "2 min 05 s");
        assert_eq!(minutes_seconds(Duration::seconds(40)), "40 s");
        assert_eq!(sign_label("not_breathing"), "Not breathing");
    }
}
