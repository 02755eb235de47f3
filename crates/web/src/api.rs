//! The JSON API under `/api/v1`: the same use cases as the pages, bearer
//! token or session auth, RFC 9457 problem details on error, and an OpenAPI
//! document at `/api/v1/openapi.json`.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
mod community;
mod journey;
mod supplies;

use haven_app::{
    AppError, clients,
    emergencies::{self, CloseDraft, EmergencyView, OpenDraft},
    floor, visits,
};
use haven_domain::{
    FieldError, Invalid,
    client::{ClientDraft, IdentityDraft},
    clock::rfc3339,
    eligibility::{Answers, Assessment},
    emergency::{EntryDraft, TimelineEntry},
    floor::{CheckDraft, EpisodeDraft},
    visit::CheckInDraft,
};
use haven_store::{AftercareRow, CheckRow, ClientRow, Created, EmergencyRow, EpisodeRow, SpaceMark, VisitRow};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Value, json};

use crate::{
    AppState,
    error::{ApiError, problem, problem_with},
    security::Staff,
};

type ApiResult = Result<Response, ApiError>;

/// The API routes (nested under `/api/v1`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/clients", post(create_client).get(find_clients))
        .route("/clients/{id}", get(get_client))
        .route("/visits", post(create_visit).get(list_visits))
        .route("/visits/{id}/checkout", post(checkout))
        .route("/visits/{id}/aftercare", post(enter_aftercare))
        .route("/aftercare/{id}/leave", post(leave_aftercare))
        .route("/episodes", post(start_episode))
        .route("/episodes/{id}", get(get_episode))
        .route("/episodes/{id}/checks", post(record_check))
        .route("/episodes/{id}/end", post(end_episode))
        .route("/spaces/{id}/state", post(mark_space))
        .route("/board", get(board))
        .route("/alerts", get(list_alerts).post(raise_alert))
        .route("/alerts/{id}/withdraw", post(withdraw_alert))
        .route("/visits/{id}/services", post(add_service).get(visit_services))
        .route("/services/{id}/results", post(add_test_result))
        .route("/referrals", post(make_referral).get(follow_up_referrals))
        .route("/referrals/{id}", get(get_referral))
        .route("/referrals/{id}/events", post(update_referral))
        .route("/drug-checks", post(create_sample))
        .route("/drug-checks/{id}", get(get_sample))
        .route("/drug-checks/{id}/results", post(add_drug_result))
        .route("/drug-checks/{id}/alert", post(alert_from_sample))
        .route("/emergencies", post(open_emergency))
        .route("/emergencies/{id}", get(get_emergency))
        .route("/emergencies/{id}/entries", post(add_entry))
        .route("/emergencies/{id}/entries/{entry_id}/amend", post(amend_entry))
        .route("/emergencies/{id}/close", post(close_emergency))
        .merge(supplies::routes())
        .merge(community::routes())
        .merge(journey::routes())
        .route("/openapi.json", get(openapi))
        .fallback(|| async { problem(StatusCode::NOT_FOUND, "Not found", "no such API route", &[]) })
}

/// A request body whose rejection (too large, unreadable) is problem details.
pub struct ApiBody(pub Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for ApiBody {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state).await.map(ApiBody).map_err(|e| {
            let status = e.status();
            let detail = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("the body is larger than {} bytes", crate::MAX_BODY)
            } else {
                e.body_text()
            };
            problem(
                status,
                "Unreadable body",
                &detail,
                &[FieldError::new("body", detail.clone())],
            )
        })
    }
}

/// A malformed query string as problem details naming the failing parameter
/// (serde names a missing or unknown field in its message).
fn bad_query(e: &axum::extract::rejection::QueryRejection, hint: &str) -> Response {
    let msg = e.body_text();
    let field = msg
        .split('`')
        .nth(1)
        .map(str::to_string)
        .unwrap_or_else(|| "query".into());
    problem(
        StatusCode::BAD_REQUEST,
        "Malformed request",
        &format!("{msg}; {hint}"),
        &[FieldError::new(field, msg.clone())],
    )
}

/// A body that does not parse, as problem details naming `field`.
fn malformed(field: String, msg: &str) -> Box<Response> {
    Box::new(problem(
        StatusCode::BAD_REQUEST,
        "Malformed request",
        msg,
        &[FieldError::new(field, msg)],
    ))
}

/// The name in serde's "missing field `name`" message.
fn missing_field(msg: &str) -> Option<&str> {
    msg.split_once("missing field `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(f, _)| f)
}

/// The field a body failed on: the JSON path serde reached (unknown fields
/// included), extended by the name of a missing field; `body` for the whole.
fn failing_field(path: &str, msg: &str) -> String {
    match (path, missing_field(msg)) {
        (".", Some(f)) => f.to_string(),
        (".", None) => "body".to_string(),
        (p, Some(f)) => format!("{p}.{f}"),
        (p, None) => p.to_string(),
    }
}

/// Parses a JSON body strictly, naming the failing field (unknown fields,
/// wrong types, missing fields, malformed JSON) in problem details.
fn parse_json<T: DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> Result<T, Box<Response>> {
    let is_json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(Box::new(problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            "send Content-Type: application/json",
            &[],
        )));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let msg = e.into_inner().to_string();
        malformed(failing_field(&path, &msg), &msg)
    })
}

/// Like [`parse_json`], but an empty body is the default (every field optional).
fn parse_optional_json<T: DeserializeOwned + Default>(headers: &HeaderMap, body: &Bytes) -> Result<T, Box<Response>> {
    if body.is_empty() {
        Ok(T::default())
    } else {
        parse_json(headers, body)
    }
}

/// The parsed body, or an early return with its problem details.
macro_rules! json_body {
    ($parsed:expr) => {
        match $parsed {
            Ok(b) => b,
            Err(r) => return Ok(*r),
        }
    };
}

/// Names the field an [`EntryDraft`] failed on. Its hand-written
/// `Deserialize` reports every error at the top, so the field is found by
/// leaving out one member at a time until the error changes (`kind` last:
/// leaving it out changes every error).
fn entry_error_field(value: &Value, msg: &str) -> String {
    if let Some(f) = missing_field(msg) {
        return f.to_string();
    }
    let Some(obj) = value.as_object() else {
        return "body".into();
    };
    let keys = obj
        .keys()
        .filter(|k| *k != "kind")
        .chain(obj.keys().filter(|k| *k == "kind"));
    for key in keys {
        let mut rest = obj.clone();
        rest.remove(key);
        let changed = match EntryDraft::deserialize(&Value::Object(rest)) {
            Ok(_) => true,
            Err(e) => e.to_string() != msg,
        };
        if changed {
            return key.clone();
        }
    }
    "body".into()
}

fn parse_time(field: &str, s: Option<&str>) -> Result<Option<time::OffsetDateTime>, ApiError> {
    s.map(|t| parse_required_time(field, t)).transpose()
}

fn parse_required_time(field: &str, s: &str) -> Result<time::OffsetDateTime, ApiError> {
    haven_domain::clock::parse_rfc3339(s).ok_or_else(|| {
        ApiError(AppError::Invalid(Invalid::one(
            field,
            "use an RFC 3339 time, e.g. 2026-01-13T09:30:00Z",
        )))
    })
}

fn client_json(c: &ClientRow, site_code: &str) -> Value {
    json!({
        "id": c.id,
        "code": c.code,
        "site": site_code,
        "year_of_birth": c.year_of_birth,
        "gender": c.gender,
        "home_area": c.home_area,
        "alias": c.alias,
        "flags": c.flag_list(),
        "registered_at": rfc3339(c.registered_at),
        "merged_into": c.merged_into,
    })
}

fn visit_json(v: &VisitRow) -> Value {
    let eligibility = v
        .eligibility
        .as_deref()
        .and_then(Assessment::from_json)
        .map(|a| a.results);
    json!({
        "id": v.id,
        "client_id": v.client_id,
        "client_code": v.client_code,
        "status": v.status,
        "arrived_at": rfc3339(v.arrived_at),
        "left_at": v.left_at.map(rfc3339),
        "substances": v.substance_list(),
        "route": v.route,
        "otherwise_place": v.otherwise_place,
        "refusal_reason": v.refusal_reason,
        "voided": v.voided_at.is_some(),
        "eligibility": eligibility,
        "override_reason": v.override_reason,
    })
}

fn episode_json(e: &EpisodeRow) -> Value {
    json!({
        "id": e.id,
        "site_id": e.site_id,
        "visit_id": e.visit_id,
        "client_id": e.client_id,
        "client_code": e.client_code,
        "space_id": e.space_id,
        "space_label": e.space_label,
        "space_kind": e.space_kind,
        "substances": e.substance_list(),
        "route": e.route,
        "started_at": rfc3339(e.started_at),
        "ended_at": e.ended_at.map(rfc3339),
        "equipment_left": e.equipment_left,
    })
}

fn check_json(c: &CheckRow) -> Value {
    json!({
        "id": c.id,
        "episode_id": c.episode_id,
        "at": rfc3339(c.at),
        "status": c.status,
        "resp_rate": c.resp_rate,
        "spo2": c.spo2,
        "sedation": c.sedation,
        "recorded_by": c.recorded_by,
    })
}

fn aftercare_json(a: &AftercareRow) -> Value {
    json!({
        "id": a.id,
        "site_id": a.site_id,
        "visit_id": a.visit_id,
        "client_code": a.client_code,
        "entered_at": rfc3339(a.entered_at),
        "left_at": a.left_at.map(rfc3339),
        "observation": a.observation,
    })
}

/// An emergency's record without its timeline (the board lists these).
fn emergency_row_json(r: &EmergencyRow) -> Value {
    json!({
        "id": r.id,
        "site_id": r.site_id,
        "visit_id": r.visit_id,
        "episode_id": r.episode_id,
        "space_id": r.space_id,
        "client_id": r.client_id,
        "client_code": r.client_code,
        "location": r.location,
        "location_detail": r.location_detail,
        "person_description": r.person_description,
        "substances": r.substance_list(),
        "started_at": rfc3339(r.started_at),
        "opened_by": r.opened_by,
        "closed_at": r.closed_at.map(rfc3339),
        "outcome": r.outcome,
        "debrief": r.debrief,
        "staff_involved": r.staff_list(),
    })
}

/// A timeline entry as the domain serialises it, with the entry's content
/// (`kind` and its fields) lifted to the top and a human `label` added.
fn timeline_entry_json(e: &TimelineEntry) -> Result<Value, AppError> {
    let mut v = serde_json::to_value(e).map_err(|err| AppError::Internal(format!("timeline entry {}: {err}", e.id)))?;
    if let Some(obj) = v.as_object_mut() {
        if let Some(Value::Object(data)) = obj.remove("data") {
            obj.extend(data);
        }
        obj.insert("label".into(), Value::String(e.data.label()));
    }
    Ok(v)
}

fn emergency_json(v: &EmergencyView) -> Result<Value, ApiError> {
    let mut out = emergency_row_json(&v.row);
    let timeline = v
        .timeline
        .iter()
        .map(timeline_entry_json)
        .collect::<Result<Vec<_>, _>>()?;
    let derived = serde_json::to_value(&v.derived).map_err(|e| AppError::Internal(format!("derived: {e}")))?;
    if let Some(obj) = out.as_object_mut() {
        obj.insert("timeline".into(), Value::Array(timeline));
        obj.insert("derived".into(), derived);
    }
    Ok(out)
}

fn board_json(b: &floor::Board, site_code: &str) -> Value {
    let spaces: Vec<Value> = b
        .spaces
        .iter()
        .map(|s| {
            json!({
                "id": s.row.id,
                "label": s.row.label,
                "kind": s.row.kind,
                "wheelchair": s.row.wheelchair,
                "in_service": s.row.in_service,
                "needs_cleaning": s.row.needs_cleaning,
                "state": s.state.as_str(),
                "alarm": s.alarm.as_str(),
                "episode_id": s.row.episode_id,
                "visit_id": s.row.visit_id,
                "client_code": s.row.client_code,
                "substances": s.substances,
                "route": s.row.route,
                "started_at": s.row.started_at.map(rfc3339),
                "last_check_at": s.row.last_check_at.map(rfc3339),
                "check_minutes": s.timers.check_minutes,
                "limit_minutes": s.timers.limit_minutes,
                "emergency_id": s.row.emergency_id,
            })
        })
        .collect();
    let waiting: Vec<Value> = b
        .waiting
        .iter()
        .map(|w| {
            json!({
                "visit_id": w.visit_id,
                "client_code": w.client_code,
                "substances": serde_json::from_str::<Vec<String>>(&w.substances).unwrap_or_default(),
                "route": w.route,
                "arrived_at": rfc3339(w.arrived_at),
            })
        })
        .collect();
    json!({
        "site_id": b.site_id,
        "site": site_code,
        "now": rfc3339(b.now),
        "spaces": spaces,
        "waiting": waiting,
        "aftercare": b.aftercare.iter().map(aftercare_json).collect::<Vec<_>>(),
        "emergencies": b.emergencies.iter().map(emergency_row_json).collect::<Vec<_>>(),
    })
}

/// `POST /api/v1/clients` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewClientBody {
    site: String,
    year_of_birth: Option<i32>,
    #[serde(default)]
    gender: String,
    #[serde(default)]
    home_area: String,
    #[serde(default)]
    alias: Option<String>,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    letters: Option<String>,
    #[serde(default)]
    family_name: Option<String>,
    #[serde(default)]
    given_name: Option<String>,
    #[serde(default)]
    date_of_birth: Option<String>,
    #[serde(default)]
    identity: Option<IdentityDraft>,
    #[serde(default)]
    code: Option<String>,
    /// Register even though likely duplicates exist.
    #[serde(default)]
    confirm_new: bool,
}

async fn site_by_code(state: &AppState, code: &str) -> Result<haven_store::SiteRow, ApiError> {
    state.store.site_by_code(code).await.map_err(|_| {
        ApiError(AppError::Invalid(Invalid::one(
            "site",
            format!("no site with code {code}"),
        )))
    })
}

/// A site named by its id or its code.
/// The site named by `?site=` (an id or a code), for the site-wide lists;
/// a malformed query or an unknown site is the problem response.
async fn site_param(
    state: &AppState,
    q: Result<Query<BoardQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<haven_store::SiteRow, Box<Response>> {
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return Err(Box::new(bad_query(&e, "give ?site= (a site id or code)"))),
    };
    site_by_id_or_code(state, &q.site)
        .await
        .map_err(|e| Box::new(e.into_response()))
}

async fn site_by_id_or_code(state: &AppState, site: &str) -> Result<haven_store::SiteRow, ApiError> {
    match state.store.site(site).await {
        Ok(s) => Ok(s),
        Err(haven_store::StoreError::NotFound) => site_by_code(state, site).await,
        Err(e) => Err(ApiError(e.into())),
    }
}

async fn create_client(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult {
    let b: NewClientBody = json_body!(parse_json(&headers, &body));
    let site = site_by_code(&state, &b.site).await?;
    let date_of_birth = match b.date_of_birth.as_deref() {
        None => None,
        Some(d) => Some(
            time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]"))
                .map_err(|_| ApiError(AppError::Invalid(Invalid::one("date_of_birth", "use YYYY-MM-DD"))))?,
        ),
    };
    let draft = ClientDraft {
        year_of_birth: b.year_of_birth,
        gender: b.gender,
        home_area: b.home_area,
        alias: b.alias,
        flags: b.flags,
        letters: b.letters,
        family_name: b.family_name,
        given_name: b.given_name,
        date_of_birth,
        identity: b.identity,
        code: b.code,
    };
    match clients::register(&state.store, &staff.ctx, &site.id, &draft, b.confirm_new).await? {
        clients::Registration::Created(c) => {
            Ok((StatusCode::CREATED, Json(client_json(&c, &site.code))).into_response())
        }
        clients::Registration::PossibleDuplicates(s) => {
            let mut extra = serde_json::Map::new();
            extra.insert("possible_duplicates".into(), json!(s));
            Ok(problem_with(
                StatusCode::CONFLICT,
                "Possible duplicate",
                "likely existing records found; check them, or repeat with \"confirm_new\": true",
                &[],
                extra,
            ))
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FindClients {
    code: String,
    #[serde(default)]
    site: Option<String>,
}

async fn find_clients(
    State(state): State<AppState>,
    staff: Staff,
    q: Result<Query<FindClients>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return Ok(bad_query(&e, "give ?code= (and optionally &site=)")),
    };
    let sites: Vec<haven_store::SiteRow> = match &q.site {
        Some(code) => vec![site_by_code(&state, code).await?],
        None => haven_app::sites::my_sites(&state.store, &staff.ctx).await?,
    };
    let mut out = Vec::new();
    // A named site is checked (and a refusal audited) by the use case; without
    // one, only the actor's sites where client records may be read are searched.
    for site in sites
        .iter()
        .filter(|s| q.site.is_some() || staff.ctx.can(haven_domain::auth::Action::ViewClient, &s.id))
    {
        for c in clients::lookup_by_code(&state.store, &staff.ctx, &site.id, &q.code).await? {
            out.push(client_json(&c, &site.code));
        }
    }
    Ok(Json(json!({ "clients": out })).into_response())
}

async fn get_client(State(state): State<AppState>, staff: Staff, Path(id): Path<String>) -> ApiResult {
    let c = clients::get(&state.store, &staff.ctx, &id).await?;
    let site = state.store.site(&c.site_id).await.map_err(AppError::from)?;
    Ok(Json(client_json(&c, &site.code)).into_response())
}

/// `POST /api/v1/visits` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewVisitBody {
    client_id: String,
    #[serde(default)]
    substances: Vec<String>,
    #[serde(default)]
    route: Option<String>,
    #[serde(default)]
    otherwise_place: Option<String>,
    #[serde(default)]
    arrived_at: Option<String>,
    /// Staff answers to the eligibility questions (each defaults to false).
    #[serde(default)]
    eligibility: Answers,
    /// Why a failing eligibility rule is overridden (nurse or manager).
    #[serde(default)]
    override_reason: Option<String>,
}

async fn create_visit(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult {
    let b: NewVisitBody = json_body!(parse_json(&headers, &body));
    let arrived_at = parse_time("arrived_at", b.arrived_at.as_deref())?;
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    let draft = CheckInDraft {
        substances: b.substances,
        route: b.route,
        otherwise_place: b.otherwise_place,
        arrived_at,
        eligibility: b.eligibility,
        override_reason: b.override_reason,
    };
    let (v, created) = visits::check_in(&state.store, &staff.ctx, &b.client_id, &draft, key).await?;
    let status = if created == Created::New {
        state.board.changed(&v.site_id);
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(visit_json(&v))).into_response())
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CheckoutBody {
    #[serde(default)]
    left_at: Option<String>,
}

async fn checkout(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult {
    let b: CheckoutBody = json_body!(parse_optional_json(&headers, &body));
    let left_at = parse_time("left_at", b.left_at.as_deref())?;
    let v = visits::check_out(&state.store, &staff.ctx, &id, left_at).await?;
    state.board.changed(&v.site_id);
    Ok(Json(visit_json(&v)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListVisits {
    site: String,
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

async fn list_visits(
    State(state): State<AppState>,
    staff: Staff,
    q: Result<Query<ListVisits>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return Ok(bad_query(&e, "give ?site= (and optionally &date=YYYY-MM-DD, &code=)")),
    };
    let site = site_by_code(&state, &q.site).await?;
    let date = match q.date.as_deref() {
        None => visits::today(&state.store, &site.id).await?,
        Some(d) => time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]"))
            .map_err(|_| ApiError(AppError::Invalid(Invalid::one("date", "use YYYY-MM-DD"))))?,
    };
    let rows = visits::on_date(&state.store, &staff.ctx, &site.id, date, q.code.as_deref()).await?;
    let visits: Vec<Value> = rows.iter().map(visit_json).collect();
    Ok(Json(json!({ "site": site.code, "date": date.to_string(), "visits": visits })).into_response())
}

/// `POST /api/v1/episodes` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewEpisodeBody {
    visit_id: String,
    space_id: String,
    #[serde(default)]
    substances: Option<Vec<String>>,
    #[serde(default)]
    route: Option<String>,
    #[serde(default)]
    started_at: Option<String>,
}

async fn start_episode(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult {
    let b: NewEpisodeBody = json_body!(parse_json(&headers, &body));
    let draft = EpisodeDraft {
        started_at: parse_time("started_at", b.started_at.as_deref())?,
        visit_id: b.visit_id,
        space_id: b.space_id,
        substances: b.substances,
        route: b.route,
    };
    let e = floor::start_episode(&state.store, &staff.ctx, &draft).await?;
    state.board.changed(&e.site_id);
    Ok((StatusCode::CREATED, Json(episode_json(&e))).into_response())
}

async fn get_episode(State(state): State<AppState>, staff: Staff, Path(id): Path<String>) -> ApiResult {
    let e = floor::episode(&state.store, &staff.ctx, &id).await?;
    let checks = floor::checks(&state.store, &staff.ctx, &id).await?;
    let mut out = episode_json(&e);
    if let Some(obj) = out.as_object_mut() {
        obj.insert("checks".into(), checks.iter().map(check_json).collect());
    }
    Ok(Json(out).into_response())
}

/// `POST /api/v1/episodes/{id}/checks` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckBody {
    status: String,
    #[serde(default)]
    resp_rate: Option<u16>,
    #[serde(default)]
    spo2: Option<u16>,
    #[serde(default)]
    sedation: Option<u16>,
    #[serde(default)]
    at: Option<String>,
}

async fn record_check(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult {
    let b: CheckBody = json_body!(parse_json(&headers, &body));
    let draft = CheckDraft {
        at: parse_time("at", b.at.as_deref())?,
        status: b.status,
        resp_rate: b.resp_rate,
        spo2: b.spo2,
        sedation: b.sedation,
    };
    let out = floor::record_check(&state.store, &staff.ctx, &id, &draft).await?;
    // The check is saved; a failed look-up only delays the live board.
    if let Ok(site_id) = state.store.episode_site(&id).await {
        state.board.changed(&site_id);
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": out.check_id, "emergency_id": out.emergency_id })),
    )
        .into_response())
}

/// `POST /api/v1/episodes/{id}/end` body.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct EndEpisodeBody {
    #[serde(default)]
    ended_at: Option<String>,
    #[serde(default)]
    equipment_left: bool,
}

async fn end_episode(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult {
    let b: EndEpisodeBody = json_body!(parse_optional_json(&headers, &body));
    let at = parse_time("ended_at", b.ended_at.as_deref())?;
    let e = floor::end_episode(&state.store, &staff.ctx, &id, at, b.equipment_left).await?;
    state.board.changed(&e.site_id);
    Ok(Json(episode_json(&e)).into_response())
}

/// `POST /api/v1/spaces/{id}/state` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpaceStateBody {
    mark: String,
}

async fn mark_space(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult {
    let b: SpaceStateBody = json_body!(parse_json(&headers, &body));
    let Some(mark) = SpaceMark::parse(&b.mark) else {
        return Err(ApiError(AppError::Invalid(Invalid::one(
            "mark",
            "choose cleaned, out_of_service or in_service",
        ))));
    };
    let site_id = state.store.space_site(&id).await.map_err(AppError::from)?;
    // A space at a site where the actor has no role does not exist for them.
    if staff.ctx.actor.role_at(&site_id).is_none() {
        return Err(ApiError(AppError::NotFound));
    }
    floor::mark_space(&state.store, &staff.ctx, &site_id, &id, mark).await?;
    state.board.changed(&site_id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BoardQuery {
    site: String,
}

async fn board(
    State(state): State<AppState>,
    staff: Staff,
    q: Result<Query<BoardQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let site = match site_param(&state, q).await {
        Ok(site) => site,
        Err(r) => return Ok(*r),
    };
    let b = floor::board(&state.store, &staff.ctx, &site.id).await?;
    Ok(Json(board_json(&b, &site.code)).into_response())
}

/// `POST /api/v1/visits/{id}/aftercare` body.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct EnterAftercareBody {
    #[serde(default)]
    entered_at: Option<String>,
}

async fn enter_aftercare(
    State(state): State<AppState>,
    staff: Staff,
    Path(visit_id): Path<String>,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult {
    let b: EnterAftercareBody = json_body!(parse_optional_json(&headers, &body));
    let at = parse_time("entered_at", b.entered_at.as_deref())?;
    let a = floor::enter_aftercare(&state.store, &staff.ctx, &visit_id, at).await?;
    state.board.changed(&a.site_id);
    Ok((StatusCode::CREATED, Json(aftercare_json(&a))).into_response())
}

/// `POST /api/v1/aftercare/{id}/leave` body.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LeaveAftercareBody {
    #[serde(default)]
    left_at: Option<String>,
    #[serde(default)]
    observation: String,
}

async fn leave_aftercare(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult {
    let b: LeaveAftercareBody = json_body!(parse_optional_json(&headers, &body));
    let at = parse_time("left_at", b.left_at.as_deref())?;
    let a = floor::leave_aftercare(&state.store, &staff.ctx, &id, &b.observation, at).await?;
    state.board.changed(&a.site_id);
    Ok(Json(aftercare_json(&a)).into_response())
}

/// `POST /api/v1/emergencies` body ([`OpenDraft`] with a string time).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewEmergencyBody {
    #[serde(default)]
    site_id: Option<String>,
    #[serde(default)]
    space_id: Option<String>,
    #[serde(default)]
    aftercare_id: Option<String>,
    #[serde(default)]
    visit_id: Option<String>,
    #[serde(default)]
    location_detail: Option<String>,
    #[serde(default)]
    person_description: Option<String>,
    #[serde(default)]
    started_at: Option<String>,
}

async fn open_emergency(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult {
    let b: NewEmergencyBody = json_body!(parse_json(&headers, &body));
    let draft = OpenDraft {
        started_at: parse_time("started_at", b.started_at.as_deref())?,
        site_id: b.site_id,
        space_id: b.space_id,
        aftercare_id: b.aftercare_id,
        visit_id: b.visit_id,
        location_detail: b.location_detail,
        person_description: b.person_description,
    };
    let row = emergencies::open(&state.store, &staff.ctx, &draft).await?;
    state.board.changed(&row.site_id);
    // The emergency is saved: answer 201 even if reading it back fails, so a
    // client does not retry and open a second one.
    let body = match emergencies::view(&state.store, &staff.ctx, &row.id).await {
        Ok(v) => emergency_json(&v).unwrap_or_else(|_| emergency_row_json(&row)),
        Err(e) => {
            tracing::warn!(error = %e, "emergency opened; reading it back failed");
            emergency_row_json(&row)
        }
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn get_emergency(State(state): State<AppState>, staff: Staff, Path(id): Path<String>) -> ApiResult {
    let v = emergencies::view(&state.store, &staff.ctx, &id).await?;
    Ok(Json(emergency_json(&v)?).into_response())
}

async fn add_entry(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult {
    let value: Value = json_body!(parse_json(&headers, &body));
    let draft = match EntryDraft::deserialize(&value) {
        Ok(d) => d,
        Err(e) => {
            let msg = e.to_string();
            return Ok(*malformed(entry_error_field(&value, &msg), &msg));
        }
    };
    let entry_id = emergencies::add_entry(&state.store, &staff.ctx, &id, &draft).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": entry_id }))).into_response())
}

/// `POST /api/v1/emergencies/{id}/entries/{entry_id}/amend` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AmendBody {
    at: String,
    reason: String,
}

async fn amend_entry(
    State(state): State<AppState>,
    staff: Staff,
    Path((id, entry_id)): Path<(String, String)>,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult {
    let b: AmendBody = json_body!(parse_json(&headers, &body));
    let at = parse_required_time("at", &b.at)?;
    let amendment_id = emergencies::amend(&state.store, &staff.ctx, &id, &entry_id, at, &b.reason).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": amendment_id }))).into_response())
}

/// `POST /api/v1/emergencies/{id}/close` body ([`CloseDraft`] with a string time).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseBody {
    outcome: String,
    #[serde(default)]
    debrief: String,
    #[serde(default)]
    staff_involved: Vec<String>,
    #[serde(default)]
    closed_at: Option<String>,
}

async fn close_emergency(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult {
    let b: CloseBody = json_body!(parse_json(&headers, &body));
    let draft = CloseDraft {
        closed_at: parse_time("closed_at", b.closed_at.as_deref())?,
        outcome: b.outcome,
        debrief: b.debrief,
        staff_involved: b.staff_involved,
    };
    let v = emergencies::close(&state.store, &staff.ctx, &id, &draft).await?;
    state.board.changed(&v.row.site_id);
    Ok(Json(emergency_json(&v)?).into_response())
}

/// The paths and methods the API serves, as listed in the OpenAPI document
/// (a test checks the two agree).
pub fn api_routes() -> Vec<(&'static str, &'static str)> {
    let mut all = BASE_ROUTES.to_vec();
    all.extend_from_slice(supplies::ROUTES);
    all.extend_from_slice(community::ROUTES);
    all.extend_from_slice(journey::ROUTES);
    all
}

/// The routes defined in this file.
const BASE_ROUTES: [(&str, &str); 33] = [
    ("/api/v1/clients", "post"),
    ("/api/v1/clients", "get"),
    ("/api/v1/clients/{id}", "get"),
    ("/api/v1/visits", "post"),
    ("/api/v1/visits", "get"),
    ("/api/v1/visits/{id}/checkout", "post"),
    ("/api/v1/visits/{id}/aftercare", "post"),
    ("/api/v1/aftercare/{id}/leave", "post"),
    ("/api/v1/episodes", "post"),
    ("/api/v1/episodes/{id}", "get"),
    ("/api/v1/episodes/{id}/checks", "post"),
    ("/api/v1/episodes/{id}/end", "post"),
    ("/api/v1/spaces/{id}/state", "post"),
    ("/api/v1/board", "get"),
    ("/api/v1/emergencies", "post"),
    ("/api/v1/emergencies/{id}", "get"),
    ("/api/v1/emergencies/{id}/entries", "post"),
    ("/api/v1/emergencies/{id}/entries/{entry_id}/amend", "post"),
    ("/api/v1/emergencies/{id}/close", "post"),
    ("/api/v1/alerts", "get"),
    ("/api/v1/alerts", "post"),
    ("/api/v1/alerts/{id}/withdraw", "post"),
    ("/api/v1/visits/{id}/services", "post"),
    ("/api/v1/visits/{id}/services", "get"),
    ("/api/v1/services/{id}/results", "post"),
    ("/api/v1/referrals", "post"),
    ("/api/v1/referrals", "get"),
    ("/api/v1/referrals/{id}", "get"),
    ("/api/v1/referrals/{id}/events", "post"),
    ("/api/v1/drug-checks", "post"),
    ("/api/v1/drug-checks/{id}", "get"),
    ("/api/v1/drug-checks/{id}/results", "post"),
    ("/api/v1/drug-checks/{id}/alert", "post"),
];

fn alert_json(a: &haven_store::AlertRow) -> Value {
    json!({
        "id": a.id, "site_id": a.site_id, "site": a.site_code, "text": a.text,
        "expires_at": haven_domain::clock::rfc3339(a.expires_at), "shared": a.shared,
        "created_at": haven_domain::clock::rfc3339(a.created_at),
        "withdrawn_at": a.withdrawn_at.map(haven_domain::clock::rfc3339),
        "drug_sample_id": a.drug_sample_id,
    })
}

async fn list_alerts(
    State(state): State<AppState>,
    staff: Staff,
    q: Result<Query<BoardQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let site = match site_param(&state, q).await {
        Ok(site) => site,
        Err(r) => return Ok(*r),
    };
    if staff.ctx.actor.role_at(&site.id).is_none() {
        return Err(ApiError(AppError::NotFound));
    }
    let rows = haven_app::alerts::active(&state.store, &staff.ctx, &site.id).await?;
    Ok(Json(rows.iter().map(alert_json).collect::<Vec<_>>()).into_response())
}

/// `POST /api/v1/alerts` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAlertBody {
    site: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    share_with_installation: bool,
}

async fn raise_alert(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult {
    let b: NewAlertBody = json_body!(parse_json(&headers, &body));
    let expires_at = parse_time("expires_at", b.expires_at.as_deref())?;
    let site = site_by_id_or_code(&state, &b.site).await?;
    let draft = haven_domain::drugcheck::AlertDraft {
        text: b.text,
        expires_at,
        share_with_installation: b.share_with_installation,
    };
    let a = haven_app::alerts::raise(&state.store, &staff.ctx, &site.id, &draft).await?;
    for s in haven_app::alerts::affected_sites(&state.store, &a).await? {
        state.board.changed(&s);
    }
    Ok((StatusCode::CREATED, Json(alert_json(&a))).into_response())
}

async fn withdraw_alert(State(state): State<AppState>, staff: Staff, Path(id): Path<String>) -> ApiResult {
    let a = haven_app::alerts::withdraw(&state.store, &staff.ctx, &id).await?;
    for s in haven_app::alerts::affected_sites(&state.store, &a).await? {
        state.board.changed(&s);
    }
    Ok(Json(alert_json(&a)).into_response())
}

fn service_json(s: &haven_store::ServiceRow, results: &[haven_store::TestResultRow]) -> Value {
    let tests: Vec<String> = serde_json::from_str(&s.tests).unwrap_or_default();
    json!({
        "id": s.id, "visit_id": s.visit_id, "code": s.code, "at": haven_domain::clock::rfc3339(s.at),
        "tests": tests, "note": s.note, "staff": s.staff,
        "results": results.iter().map(test_result_json).collect::<Vec<_>>(),
    })
}

fn test_result_json(r: &haven_store::TestResultRow) -> Value {
    json!({"id": r.id, "test": r.test, "result": r.result, "result_at": haven_domain::clock::rfc3339(r.result_at)})
}

async fn add_service(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult {
    let draft: haven_domain::care::ServiceDraft = json_body!(parse_json(&headers, &body));
    let s = haven_app::services::add(&state.store, &staff.ctx, &id, &draft).await?;
    Ok((StatusCode::CREATED, Json(service_json(&s, &[]))).into_response())
}

async fn visit_services(State(state): State<AppState>, staff: Staff, Path(id): Path<String>) -> ApiResult {
    let rows = haven_app::services::of_visit(&state.store, &staff.ctx, &id).await?;
    Ok(Json(rows.iter().map(|(s, r)| service_json(s, r)).collect::<Vec<_>>()).into_response())
}

/// `POST /api/v1/services/{id}/results` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestResultBody {
    #[serde(default)]
    test: String,
    #[serde(default)]
    result: String,
    #[serde(default)]
    result_at: Option<String>,
}

async fn add_test_result(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult {
    let b: TestResultBody = json_body!(parse_json(&headers, &body));
    let at = parse_time("result_at", b.result_at.as_deref())?;
    let r = haven_app::services::add_result(&state.store, &staff.ctx, &id, &b.test, &b.result, at).await?;
    Ok((StatusCode::CREATED, Json(test_result_json(&r))).into_response())
}

fn referral_json(v: &haven_app::referrals::ReferralView) -> Value {
    json!({
        "id": v.referral.id, "site_id": v.referral.site_id, "client_id": v.referral.client_id,
        "client_code": v.referral.client_code, "category": v.referral.category,
        "made_on": v.referral.made_on.to_string(), "status": v.status.as_str(),
        "needs_follow_up": v.needs_follow_up,
        "events": v.events.iter().map(|e| json!({
            "status": e.status, "on": e.on_date.to_string(), "note": e.note,
        })).collect::<Vec<_>>(),
    })
}

fn parse_date(field: &str, s: Option<&str>) -> Result<Option<time::Date>, ApiError> {
    s.map(|d| {
        time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]"))
            .map_err(|_| ApiError(AppError::Invalid(Invalid::one(field, "use a date like 2026-11-26"))))
    })
    .transpose()
}

/// `POST /api/v1/referrals` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewReferralBody {
    client_id: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    made_on: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

async fn make_referral(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult {
    let b: NewReferralBody = json_body!(parse_json(&headers, &body));
    let made_on = parse_date("made_on", b.made_on.as_deref())?;
    let v = haven_app::referrals::make(
        &state.store,
        &staff.ctx,
        &b.client_id,
        &b.category,
        made_on,
        b.note.as_deref(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(referral_json(&v))).into_response())
}

async fn get_referral(State(state): State<AppState>, staff: Staff, Path(id): Path<String>) -> ApiResult {
    let v = haven_app::referrals::view(&state.store, &staff.ctx, &id).await?;
    Ok(Json(referral_json(&v)).into_response())
}

/// `POST /api/v1/referrals/{id}/events` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReferralStepBody {
    #[serde(default)]
    status: String,
    #[serde(default)]
    on: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

async fn update_referral(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult {
    let b: ReferralStepBody = json_body!(parse_json(&headers, &body));
    let on = parse_date("on", b.on.as_deref())?;
    let v = haven_app::referrals::update(&state.store, &staff.ctx, &id, &b.status, on, b.note.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(referral_json(&v))).into_response())
}

async fn follow_up_referrals(
    State(state): State<AppState>,
    staff: Staff,
    q: Result<Query<BoardQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let site = match site_param(&state, q).await {
        Ok(site) => site,
        Err(r) => return Ok(*r),
    };
    let rows = haven_app::referrals::follow_up(&state.store, &staff.ctx, &site.id).await?;
    Ok(Json(rows.iter().map(referral_json).collect::<Vec<_>>()).into_response())
}

fn sample_json(v: &haven_app::drugchecks::SampleView) -> Value {
    json!({
        "id": v.sample.id, "site_id": v.sample.site_id, "visit_id": v.sample.visit_id,
        "expected": v.sample.expected, "form": v.sample.form,
        "received_at": haven_domain::clock::rfc3339(v.sample.received_at),
        "results": v.results.iter().map(|(row, r)| json!({
            "id": row.id, "method": r.method.code(), "finding": r.finding,
            "at": haven_domain::clock::rfc3339(r.at),
        })).collect::<Vec<_>>(),
        "concerns": v.concerns,
    })
}

/// `POST /api/v1/drug-checks` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSampleBody {
    site: String,
    #[serde(default)]
    expected: String,
    #[serde(default)]
    form: String,
    #[serde(default)]
    visit_id: Option<String>,
    #[serde(default)]
    consent_linked: bool,
}

async fn create_sample(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult {
    let b: NewSampleBody = json_body!(parse_json(&headers, &body));
    let site = site_by_id_or_code(&state, &b.site).await?;
    let draft = haven_domain::drugcheck::SampleDraft {
        expected: b.expected,
        form: b.form,
        visit_id: b.visit_id,
        consent_linked: b.consent_linked,
    };
    let v = haven_app::drugchecks::record_sample(&state.store, &staff.ctx, &site.id, &draft).await?;
    Ok((StatusCode::CREATED, Json(sample_json(&v))).into_response())
}

async fn get_sample(State(state): State<AppState>, staff: Staff, Path(id): Path<String>) -> ApiResult {
    let v = haven_app::drugchecks::view(&state.store, &staff.ctx, &id).await?;
    Ok(Json(sample_json(&v)).into_response())
}

async fn add_drug_result(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult {
    let draft: haven_domain::drugcheck::ResultDraft = json_body!(parse_json(&headers, &body));
    let v = haven_app::drugchecks::add_result(&state.store, &staff.ctx, &id, &draft).await?;
    Ok((StatusCode::CREATED, Json(sample_json(&v))).into_response())
}

/// `POST /api/v1/drug-checks/{id}/alert` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SampleAlertBody {
    #[serde(default)]
    text: String,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    share_with_installation: bool,
}

async fn alert_from_sample(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult {
    let b: SampleAlertBody = json_body!(parse_json(&headers, &body));
    let draft = haven_domain::drugcheck::AlertDraft {
        text: b.text,
        expires_at: parse_time("expires_at", b.expires_at.as_deref())?,
        share_with_installation: b.share_with_installation,
    };
    let a = haven_app::drugchecks::raise_alert(&state.store, &staff.ctx, &id, &draft).await?;
    for s in haven_app::alerts::affected_sites(&state.store, &a).await? {
        state.board.changed(&s);
    }
    Ok((StatusCode::CREATED, Json(alert_json(&a))).into_response())
}

async fn openapi() -> Response {
    Json(openapi_document()).into_response()
}

/// The OpenAPI 3.1 document.
pub fn openapi_document() -> Value {
    let mut doc = base_document();
    merge(&mut doc["paths"], floor_paths());
    merge(&mut doc["paths"], emergency_paths());
    merge(&mut doc["components"]["schemas"], floor_schemas());
    merge(&mut doc["components"]["schemas"], emergency_schemas());
    merge(&mut doc["paths"], alert_paths());
    merge(&mut doc["components"]["schemas"], alert_schemas());
    merge(&mut doc["paths"], drug_check_paths());
    merge(&mut doc["components"]["schemas"], drug_check_schemas());
    merge(&mut doc["paths"], referral_paths());
    merge(&mut doc["components"]["schemas"], referral_schemas());
    merge(&mut doc["paths"], service_paths());
    merge(&mut doc["components"]["schemas"], service_schemas());
    merge(&mut doc["paths"], supplies::paths());
    merge(&mut doc["components"]["schemas"], supplies::schemas());
    merge(&mut doc["paths"], community::paths());
    merge(&mut doc["components"]["schemas"], community::schemas());
    merge(&mut doc["paths"], journey::paths());
    merge(&mut doc["components"]["schemas"], journey::schemas());
    doc
}

fn service_paths() -> Value {
    json!({
        "/api/v1/visits/{id}/services": {
            "post": {
                "summary": "Record a service given on site at a visit", "operationId": "addService",
                "parameters": path_params(&["id"]),
                "requestBody": request("NewService", true),
                "responses": responses(json!({"201": reply("Recorded", "Service")}))
            },
            "get": {
                "summary": "The services of a visit with their test results", "operationId": "visitServices",
                "parameters": path_params(&["id"]),
                "responses": responses(json!({"200": {"description": "The services", "content": {"application/json":
                    {"schema": {"type": "array", "items": schema_ref("Service")}}}}}))
            }
        },
        "/api/v1/services/{id}/results": {
            "post": {
                "summary": "Record a BBV test result (nurses and managers)", "operationId": "addTestResult",
                "parameters": path_params(&["id"]),
                "requestBody": request("NewTestResult", true),
                "responses": responses(json!({"201": reply("Recorded", "TestResult")}))
            }
        }
    })
}

fn service_schemas() -> Value {
    let time = json!({"type": "string", "format": "date-time"});
    let tests = json!({"type": "string", "enum": ["hiv", "hcv", "hbv"]});
    json!({
        "NewService": {
            "type": "object", "additionalProperties": false, "required": ["code"],
            "properties": {
                "code": {"type": "string", "description": "A code from the site's services"},
                "at": {"type": "string", "format": "date-time", "description": "Default: now (within the visit)"},
                "tests": {"type": "array", "items": tests, "description": "BBV services only"},
                "note": {"type": "string", "maxLength": 1000}
            }
        },
        "NewTestResult": {
            "type": "object", "additionalProperties": false, "required": ["test", "result"],
            "properties": {
                "test": tests,
                "result": {"type": "string", "enum": ["pending", "negative", "positive", "invalid", "not_collected"]},
                "result_at": {"type": "string", "format": "date-time"}
            }
        },
        "TestResult": {"type": "object", "properties": {
            "id": {"type": "string", "format": "uuid"}, "test": tests, "result": {"type": "string"},
            "result_at": time
        }},
        "Service": {"type": "object", "properties": {
            "id": {"type": "string", "format": "uuid"}, "visit_id": {"type": "string", "format": "uuid"},
            "code": {"type": "string"}, "at": time, "tests": {"type": "array", "items": tests},
            "note": {"type": ["string", "null"]},
            "staff": {"type": "string", "description": "Username of who gave it"},
            "results": {"type": "array", "items": schema_ref("TestResult")}
        }}
    })
}

fn referral_paths() -> Value {
    json!({
        "/api/v1/referrals": {
            "post": {
                "summary": "Make a referral to a service elsewhere", "operationId": "makeReferral",
                "requestBody": request("NewReferral", true),
                "responses": responses(json!({"201": reply("Made", "Referral")}))
            },
            "get": {
                "summary": "The follow-up list: open referrals with no news for the site's interval",
                "operationId": "followUpReferrals",
                "parameters": [{"name": "site", "in": "query", "required": true, "schema": {"type": "string"},
                                "description": "Site id or code"}],
                "responses": responses(json!({"200": {"description": "The referrals", "content": {"application/json":
                    {"schema": {"type": "array", "items": schema_ref("Referral")}}}}}))
            }
        },
        "/api/v1/referrals/{id}": {
            "get": {
                "summary": "A referral with its dated steps", "operationId": "getReferral",
                "parameters": path_params(&["id"]),
                "responses": responses(json!({"200": reply("The referral", "Referral")}))
            }
        },
        "/api/v1/referrals/{id}/events": {
            "post": {
                "summary": "Record the next step (accepted, declined, attended, not attended, closed)",
                "operationId": "updateReferral",
                "parameters": path_params(&["id"]),
                "requestBody": request("ReferralStep", true),
                "responses": responses(json!({"201": reply("Recorded", "Referral")}))
            }
        }
    })
}

fn referral_schemas() -> Value {
    let date = json!({"type": "string", "format": "date"});
    let statuses: Vec<&str> = haven_domain::care::ReferralStatus::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    json!({
        "NewReferral": {
            "type": "object", "additionalProperties": false, "required": ["client_id", "category"],
            "properties": {
                "client_id": {"type": "string", "format": "uuid"},
                "category": {"type": "string", "description": "A code from the site's referral categories"},
                "made_on": {"type": "string", "format": "date", "description": "Default: today"},
                "note": {"type": "string", "maxLength": 1000}
            }
        },
        "ReferralStep": {
            "type": "object", "additionalProperties": false, "required": ["status"],
            "properties": {
                "status": {"type": "string", "enum": statuses},
                "on": {"type": "string", "format": "date", "description": "Default: today"},
                "note": {"type": "string", "maxLength": 1000}
            }
        },
        "Referral": {"type": "object", "properties": {
            "id": {"type": "string", "format": "uuid"}, "site_id": {"type": "string", "format": "uuid"},
            "client_id": {"type": "string", "format": "uuid"}, "client_code": {"type": "string"},
            "category": {"type": "string"}, "made_on": date, "status": {"type": "string", "enum": statuses},
            "needs_follow_up": {"type": "boolean"},
            "events": {"type": "array", "items": {"type": "object", "properties": {
                "status": {"type": "string"}, "on": date, "note": {"type": ["string", "null"]}}}}
        }}
    })
}

fn drug_check_paths() -> Value {
    json!({
        "/api/v1/drug-checks": {
            "post": {
                "summary": "Record a drug-checking sample (linked to a visit only with consent)",
                "operationId": "createSample",
                "requestBody": request("NewSample", true),
                "responses": responses(json!({"201": reply("Recorded", "Sample")}))
            }
        },
        "/api/v1/drug-checks/{id}": {
            "get": {
                "summary": "A sample with its results and substances of concern", "operationId": "getSample",
                "parameters": path_params(&["id"]),
                "responses": responses(json!({"200": reply("The sample", "Sample")}))
            }
        },
        "/api/v1/drug-checks/{id}/results": {
            "post": {
                "summary": "Add a result (FTIR, test strip or laboratory)", "operationId": "addDrugResult",
                "parameters": path_params(&["id"]),
                "requestBody": request("NewDrugResult", true),
                "responses": responses(json!({"201": reply("Added", "Sample")}))
            }
        },
        "/api/v1/drug-checks/{id}/alert": {
            "post": {
                "summary": "Raise a site-wide alert from this sample", "operationId": "alertFromSample",
                "parameters": path_params(&["id"]),
                "requestBody": request("NewSampleAlert", true),
                "responses": responses(json!({"201": reply("Raised", "Alert")}))
            }
        }
    })
}

fn drug_check_schemas() -> Value {
    let time = json!({"type": "string", "format": "date-time"});
    let methods: Vec<&str> = haven_domain::drugcheck::Method::ALL.iter().map(|m| m.code()).collect();
    json!({
        "NewSample": {
            "type": "object", "additionalProperties": false, "required": ["site", "expected", "form"],
            "properties": {
                "site": {"type": "string", "description": "Site id or code"},
                "expected": {"type": "string"},
                "form": {"type": "string", "enum": haven_domain::drugcheck::FORMS},
                "visit_id": {"type": "string", "format": "uuid", "description": "Only with consent_linked"},
                "consent_linked": {"type": "boolean", "default": false}
            }
        },
        "NewDrugResult": {
            "type": "object", "additionalProperties": false, "required": ["method"],
            "properties": {
                "method": {"type": "string", "enum": methods},
                "strip": {"type": "string", "enum": ["positive", "negative", "invalid"]},
                "components": {"type": "array", "items": {"type": "object", "additionalProperties": false,
                    "required": ["substance"], "properties": {
                        "substance": {"type": "string"},
                        "percent": {"type": "number", "exclusiveMinimum": 0, "maximum": 100}}}},
                "at": time
            }
        },
        "NewSampleAlert": {
            "type": "object", "additionalProperties": false, "required": ["text", "expires_at"],
            "properties": {
                "text": {"type": "string", "minLength": 3, "maxLength": 500},
                "expires_at": {"type": "string", "format": "date-time"},
                "share_with_installation": {"type": "boolean", "default": false}
            }
        },
        "Sample": {"type": "object", "properties": {
            "id": {"type": "string", "format": "uuid"}, "site_id": {"type": "string", "format": "uuid"},
            "visit_id": {"type": ["string", "null"], "format": "uuid"}, "expected": {"type": "string"},
            "form": {"type": "string"}, "received_at": time,
            "results": {"type": "array", "items": {"type": "object"}},
            "concerns": {"type": "array", "items": {"type": "string"}}
        }}
    })
}

fn alert_paths() -> Value {
    json!({
        "/api/v1/alerts": {
            "get": {
                "summary": "Alerts showing at a site (its own and shared ones)", "operationId": "listAlerts",
                "parameters": [{"name": "site", "in": "query", "required": true, "schema": {"type": "string"},
                                "description": "Site id or code"}],
                "responses": responses(json!({"200": {"description": "The alerts", "content": {"application/json":
                    {"schema": {"type": "array", "items": schema_ref("Alert")}}}}}))
            },
            "post": {
                "summary": "Raise a site-wide alert (an expiry is required)", "operationId": "raiseAlert",
                "requestBody": request("NewAlert", true),
                "responses": responses(json!({"201": reply("Raised", "Alert")}))
            }
        },
        "/api/v1/alerts/{id}/withdraw": {
            "post": {
                "summary": "Withdraw an alert", "operationId": "withdrawAlert",
                "parameters": path_params(&["id"]),
                "responses": responses(json!({"200": reply("Withdrawn", "Alert")}))
            }
        }
    })
}

fn alert_schemas() -> Value {
    let time = json!({"type": "string", "format": "date-time"});
    json!({
        "NewAlert": {
            "type": "object", "additionalProperties": false, "required": ["site", "text", "expires_at"],
            "properties": {
                "site": {"type": "string", "description": "Site id or code"},
                "text": {"type": "string", "minLength": 3, "maxLength": 500},
                "expires_at": {"type": "string", "format": "date-time",
                               "description": "Required; at most 30 days ahead"},
                "share_with_installation": {"type": "boolean", "default": false}
            }
        },
        "Alert": {"type": "object", "properties": {
            "id": {"type": "string", "format": "uuid"}, "site_id": {"type": "string", "format": "uuid"},
            "site": {"type": "string"}, "text": {"type": "string"}, "expires_at": time,
            "shared": {"type": "boolean"}, "created_at": time,
            "withdrawn_at": {"type": ["string", "null"], "format": "date-time"},
            "drug_sample_id": {"type": ["string", "null"], "format": "uuid"}
        }}
    })
}

/// Adds the members of `from` to the object `into`.
fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        into.extend(from);
    }
}

/// The error responses every operation may give, plus `extra`.
fn responses(extra: Value) -> Value {
    let problem_ref = json!({"$ref": "#/components/responses/Problem"});
    let mut m = serde_json::Map::new();
    for code in ["400", "401", "403", "404", "409", "413", "415", "422"] {
        m.insert(code.into(), problem_ref.clone());
    }
    if let Value::Object(e) = extra {
        m.extend(e);
    }
    Value::Object(m)
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// A JSON request body of schema `name`.
fn request(name: &str, required: bool) -> Value {
    json!({"required": required, "content": {"application/json": {"schema": schema_ref(name)}}})
}

/// A JSON response of schema `name`.
fn reply(description: &str, name: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema_ref(name)}}})
}

/// Path parameters, each a UUID.
fn path_params(names: &[&str]) -> Value {
    names
        .iter()
        .map(|n| json!({"name": n, "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}))
        .collect()
}

/// An RFC 3339 time, nullable or not.
fn time_schema(nullable: bool) -> Value {
    if nullable {
        json!({"type": ["string", "null"], "format": "date-time"})
    } else {
        json!({"type": "string", "format": "date-time"})
    }
}

fn base_document() -> Value {
    let id_param = path_params(&["id"]);
    let query = |name: &str, required: bool, format: Option<&str>| {
        let mut schema = json!({"type": "string"});
        if let Some(f) = format {
            schema["format"] = json!(f);
        }
        json!({"name": name, "in": "query", "required": required, "schema": schema})
    };
    let list = |name: &str| json!({"type": "array", "items": schema_ref(name)});
    let str_or_null = json!({"type": ["string", "null"]});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Haven API", "version": "1",
            "description": "Pseudonymous client registry, visits, the floor (booth board, episodes, observation \
                checks, after-care) and medical emergencies of a supervised drug consumption facility. \
                Authenticate with `Authorization: Bearer <token>` from `haven token create`. Ids are UUID strings; \
                times are RFC 3339 UTC. Errors are RFC 9457 problem details naming the failing fields."
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/clients": {
                "post": {
                    "summary": "Register a client", "operationId": "createClient",
                    "requestBody": request("NewClient", true),
                    "responses": responses(json!({"201": reply("Registered", "Client")}))
                },
                "get": {
                    "summary": "Find clients by code prefix", "operationId": "findClients",
                    "parameters": [query("code", true, None), query("site", false, None)],
                    "responses": responses(json!({"200": {
                        "description": "Matches (each an audited read)",
                        "content": {"application/json": {"schema": {
                            "type": "object", "properties": {"clients": list("Client")}
                        }}}
                    }}))
                }
            },
            "/api/v1/clients/{id}": {
                "get": {
                    "summary": "Read a client (audited)", "operationId": "getClient",
                    "parameters": id_param,
                    "responses": responses(json!({"200": reply("The client", "Client")}))
                }
            },
            "/api/v1/visits": {
                "post": {
                    "summary": "Check a client in", "operationId": "checkIn",
                    "parameters": [{
                        "name": "Idempotency-Key", "in": "header", "required": false,
                        "schema": {"type": "string", "maxLength": 200},
                        "description": "A retry with the same key returns the first visit (200) instead of creating \
                            another."
                    }],
                    "requestBody": request("NewVisit", true),
                    "responses": responses(json!({
                        "201": reply("Checked in", "Visit"),
                        "200": reply("Replayed: the visit first created with this Idempotency-Key", "Visit")
                    }))
                },
                "get": {
                    "summary": "A site's visits on a local date", "operationId": "listVisits",
                    "parameters": [
                        query("site", true, None), query("date", false, Some("date")), query("code", false, None)
                    ],
                    "responses": responses(json!({"200": {
                        "description": "Visits, newest first",
                        "content": {"application/json": {"schema": {"type": "object", "properties": {
                            "site": {"type": "string"}, "date": {"type": "string", "format": "date"},
                            "visits": list("Visit")
                        }}}}
                    }}))
                }
            },
            "/api/v1/visits/{id}/checkout": {
                "post": {
                    "summary": "Check a visit out", "operationId": "checkOut",
                    "parameters": id_param,
                    "requestBody": {"required": false, "content": {"application/json": {"schema": {
                        "type": "object", "additionalProperties": false,
                        "properties": {"left_at": {"type": "string", "format": "date-time"}}
                    }}}},
                    "responses": responses(json!({"200": reply("Checked out", "Visit")}))
                }
            }
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {"Problem": {
                "description": "RFC 9457 problem details",
                "content": {"application/problem+json": {"schema": schema_ref("Problem")}}
            }},
            "schemas": {
                "Problem": {"type": "object", "properties": {
                    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                    "detail": {"type": "string"},
                    "errors": {"type": "array", "items": {"type": "object", "properties": {
                        "field": {"type": "string"}, "message": {"type": "string"}
                    }}}
                }},
                "NewClient": {
                    "type": "object", "additionalProperties": false, "required": ["site", "gender", "home_area"],
                    "properties": {
                        "site": {"type": "string", "description": "Site code, e.g. GLA"},
                        "year_of_birth": {"type": "integer", "minimum": 1901},
                        "gender": {
                            "type": "string",
                            "description": "Default codes: female, male, non_binary, other, not_stated"
                        },
                        "home_area": {"type": "string", "description": "Postcode district, no_fixed_abode or unknown"},
                        "alias": {"type": "string", "maxLength": 40},
                        "flags": {"type": "array", "items": {"type": "string"}},
                        "letters": {"type": "string", "description": "onhrdb scheme: 4 letters"},
                        "family_name": {"type": "string", "description": "slk581 scheme: builds the key, not stored"},
                        "given_name": {"type": "string", "description": "slk581 scheme: builds the key, not stored"},
                        "date_of_birth": {"type": "string", "format": "date", "description": "slk581 scheme"},
                        "code": {
                            "type": "string",
                            "description": "Optional explicit code (e.g. from paper records); must fit the \
                                site's scheme"
                        },
                        "identity": {"type": "object", "additionalProperties": false, "properties": {
                            "name": {"type": "string"}, "chi": {"type": "string", "pattern": "^[0-9 ]{10,13}$"},
                            "other_number": {"type": "string"}
                        }},
                        "confirm_new": {
                            "type": "boolean",
                            "description": "Register even though likely duplicates exist (otherwise 409 with \
                                possible_duplicates)"
                        }
                    }
                },
                "Client": {"type": "object", "required": ["id", "code"], "properties": {
                    "id": {"type": "string", "format": "uuid"}, "code": {"type": "string"}, "site": {"type": "string"},
                    "year_of_birth": {"type": "integer"}, "gender": {"type": "string"}, "home_area": {"type": "string"},
                    "alias": str_or_null, "flags": {"type": "array", "items": {"type": "string"}},
                    "registered_at": {"type": "string", "format": "date-time"}, "merged_into": str_or_null
                }},
                "NewVisit": {"type": "object", "additionalProperties": false, "required": ["client_id"], "properties": {
                    "client_id": {"type": "string", "format": "uuid"},
                    "substances": {
                        "type": "array", "items": {"type": "string"},
                        "description": "Default codes: heroin, cocaine, crack, benzodiazepine, methadone, fentanyl, \
                            methamphetamine, amphetamine, other"
                    },
                    "route": {
                        "type": "string",
                        "description": "injection, inhalation, intranasal, oral; omit for a visit without consumption"
                    },
                    "otherwise_place": {"type": "string", "enum": ["private", "public", "semi_public", "declined"]},
                    "arrived_at": {
                        "type": "string", "format": "date-time", "description": "Default now; not in the future"
                    },
                    "eligibility": schema_ref("Answers"),
                    "override_reason": {
                        "type": "string", "minLength": 3, "maxLength": 500,
                        "description": "Check in although an eligibility rule fails (nurse or manager); without it \
                            a failing rule gives 422 on eligibility"
                    }
                }},
                "Visit": {"type": "object", "required": ["id"], "properties": {
                    "id": {"type": "string", "format": "uuid"}, "client_id": {"type": "string"},
                    "client_code": {"type": "string"},
                    "status": {"type": "string", "enum": ["attended", "refused"]},
                    "arrived_at": time_schema(false), "left_at": time_schema(true),
                    "substances": {"type": "array", "items": {"type": "string"}}, "route": str_or_null,
                    "otherwise_place": str_or_null, "refusal_reason": str_or_null, "voided": {"type": "boolean"},
                    "eligibility": {
                        "type": ["array", "null"], "items": schema_ref("RuleResult"),
                        "description": "Every eligibility rule's result; null for a visit without consumption"
                    },
                    "override_reason": str_or_null
                }}
            }
        }
    })
}

fn floor_paths() -> Value {
    json!({
        "/api/v1/episodes": {
            "post": {
                "summary": "Start an episode: give a checked-in person a free space", "operationId": "startEpisode",
                "requestBody": request("NewEpisode", true),
                "responses": responses(json!({"201": reply("Started", "Episode")}))
            }
        },
        "/api/v1/episodes/{id}": {
            "get": {
                "summary": "An episode with its observation checks", "operationId": "getEpisode",
                "parameters": path_params(&["id"]),
                "responses": responses(json!({"200": reply("The episode", "EpisodeWithChecks")}))
            }
        },
        "/api/v1/episodes/{id}/checks": {
            "post": {
                "summary": "Record an observation check (unresponsive opens an emergency)",
                "operationId": "recordCheck",
                "parameters": path_params(&["id"]),
                "requestBody": request("NewCheck", true),
                "responses": responses(json!({"201": reply("Recorded", "CheckRecorded")}))
            }
        },
        "/api/v1/episodes/{id}/end": {
            "post": {
                "summary": "End an episode (the space then needs cleaning)", "operationId": "endEpisode",
                "parameters": path_params(&["id"]),
                "requestBody": request("EndEpisode", false),
                "responses": responses(json!({"200": reply("Ended", "Episode")}))
            }
        },
        "/api/v1/spaces/{id}/state": {
            "post": {
                "summary": "Mark a space cleaned, out of service or back in service", "operationId": "markSpace",
                "parameters": path_params(&["id"]),
                "requestBody": request("SpaceMark", true),
                "responses": responses(json!({"204": {"description": "Marked"}}))
            }
        },
        "/api/v1/board": {
            "get": {
                "summary": "The booth board of a site (audited read)", "operationId": "getBoard",
                "parameters": [{
                    "name": "site", "in": "query", "required": true, "schema": {"type": "string"},
                    "description": "Site id or code"
                }],
                "responses": responses(json!({"200": reply("The board", "Board")}))
            }
        },
        "/api/v1/visits/{id}/aftercare": {
            "post": {
                "summary": "Move a person into after-care", "operationId": "enterAftercare",
                "parameters": path_params(&["id"]),
                "requestBody": request("EnterAftercare", false),
                "responses": responses(json!({"201": reply("In after-care", "Aftercare")}))
            }
        },
        "/api/v1/aftercare/{id}/leave": {
            "post": {
                "summary": "Record leaving after-care", "operationId": "leaveAftercare",
                "parameters": path_params(&["id"]),
                "requestBody": request("LeaveAftercare", false),
                "responses": responses(json!({"200": reply("Left", "Aftercare")}))
            }
        }
    })
}

fn emergency_paths() -> Value {
    json!({
        "/api/v1/emergencies": {
            "post": {
                "summary": "Open a medical emergency", "operationId": "openEmergency",
                "requestBody": request("NewEmergency", true),
                "responses": responses(json!({"201": reply("Opened", "Emergency")}))
            }
        },
        "/api/v1/emergencies/{id}": {
            "get": {
                "summary": "An emergency with its timeline and derived figures (audited read)",
                "operationId": "getEmergency",
                "parameters": path_params(&["id"]),
                "responses": responses(json!({"200": reply("The emergency", "Emergency")}))
            }
        },
        "/api/v1/emergencies/{id}/entries": {
            "post": {
                "summary": "Add a timeline entry, e.g. naloxone 0.4 mg IM now", "operationId": "addEmergencyEntry",
                "parameters": path_params(&["id"]),
                "requestBody": request("NewEntry", true),
                "responses": responses(json!({"201": reply("Recorded", "Created")}))
            }
        },
        "/api/v1/emergencies/{id}/entries/{entry_id}/amend": {
            "post": {
                "summary": "Correct an entry's time (the original stays on the record)",
                "operationId": "amendEmergencyEntry",
                "parameters": path_params(&["id", "entry_id"]),
                "requestBody": request("Amend", true),
                "responses": responses(json!({"201": reply("Amended", "Created")}))
            }
        },
        "/api/v1/emergencies/{id}/close": {
            "post": {
                "summary": "Close an emergency with its outcome", "operationId": "closeEmergency",
                "parameters": path_params(&["id"]),
                "requestBody": request("CloseEmergency", true),
                "responses": responses(json!({"200": reply("Closed", "Emergency")}))
            }
        }
    })
}

fn floor_schemas() -> Value {
    let strings = json!({"type": "array", "items": {"type": "string"}});
    let id = json!({"type": "string", "format": "uuid"});
    let id_or_null = json!({"type": ["string", "null"], "format": "uuid"});
    let boolean = json!({"type": "boolean"});
    let int_or_null = json!({"type": ["integer", "null"]});
    let str_or_null = json!({"type": ["string", "null"]});
    let statuses = json!(["responsive", "drowsy", "unresponsive"]);
    let kinds = json!(["injecting", "inhalation"]);
    json!({
        "Answers": {
            "type": "object", "additionalProperties": false,
            "description": "Staff answers to the eligibility questions; each defaults to false",
            "properties": {
                "intoxicated": boolean, "pregnant": boolean, "accompanied_by_child": boolean,
                "first_time_user": boolean, "on_ost": boolean
            }
        },
        "RuleResult": {"type": "object", "properties": {
            "rule": {"type": "string", "enum": haven_domain::eligibility::RULE_CODES},
            "outcome": {"type": "string", "enum": ["pass", "fail", "off"]},
            "message": {"type": "string"}
        }},
        "NewEpisode": {
            "type": "object", "additionalProperties": false, "required": ["visit_id", "space_id"],
            "properties": {
                "visit_id": id, "space_id": id,
                "substances": {"type": "array", "items": {"type": "string"}, "description": "Default: as checked in"},
                "route": {"type": "string", "description": "Default: as checked in"},
                "started_at": {
                    "type": "string", "format": "date-time",
                    "description": "Default now; not before arrival, not in the future"
                }
            }
        },
        "Episode": {"type": "object", "required": ["id", "space_id", "started_at"], "properties": {
            "id": id, "site_id": id, "visit_id": id, "client_id": id, "client_code": {"type": "string"},
            "space_id": id, "space_label": {"type": "string"}, "space_kind": {"type": "string", "enum": kinds},
            "substances": strings, "route": {"type": "string"},
            "started_at": time_schema(false), "ended_at": time_schema(true),
            "equipment_left": {"type": ["boolean", "null"]}
        }},
        "EpisodeWithChecks": {"allOf": [
            {"$ref": "#/components/schemas/Episode"},
            {"type": "object", "properties": {
                "checks": {"type": "array", "items": {"$ref": "#/components/schemas/Check"}}
            }}
        ]},
        "Check": {"type": "object", "properties": {
            "id": id, "episode_id": id, "at": time_schema(false),
            "status": {"type": "string", "enum": statuses},
            "resp_rate": int_or_null, "spo2": int_or_null, "sedation": int_or_null,
            "recorded_by": {"type": "string"}
        }},
        "NewCheck": {"type": "object", "additionalProperties": false, "required": ["status"], "properties": {
            "status": {
                "type": "string", "enum": statuses,
                "description": "unresponsive opens an emergency at the space"
            },
            "resp_rate": {"type": "integer", "minimum": 0, "maximum": 60},
            "spo2": {"type": "integer", "minimum": 50, "maximum": 100},
            "sedation": {"type": "integer", "minimum": 0, "maximum": 3},
            "at": {
                "type": "string", "format": "date-time",
                "description": "Default now; not before the start, not in the future"
            }
        }},
        "CheckRecorded": {"type": "object", "required": ["id"], "properties": {"id": id, "emergency_id": id_or_null}},
        "EndEpisode": {"type": "object", "additionalProperties": false, "properties": {
            "ended_at": {"type": "string", "format": "date-time", "description": "Default now"},
            "equipment_left": {"type": "boolean", "description": "Equipment was left in the space (default false)"}
        }},
        "SpaceMark": {"type": "object", "additionalProperties": false, "required": ["mark"], "properties": {
            "mark": {"type": "string", "enum": ["cleaned", "out_of_service", "in_service"]}
        }},
        "Board": {"type": "object", "properties": {
            "site_id": id, "site": {"type": "string"}, "now": time_schema(false),
            "spaces": {"type": "array", "items": {"$ref": "#/components/schemas/BoardSpace"}},
            "waiting": {"type": "array", "items": {"$ref": "#/components/schemas/Waiting"}},
            "aftercare": {"type": "array", "items": {"$ref": "#/components/schemas/Aftercare"}},
            "emergencies": {"type": "array", "items": {"$ref": "#/components/schemas/EmergencySummary"}}
        }},
        "BoardSpace": {"type": "object", "properties": {
            "id": id, "label": {"type": "string"}, "kind": {"type": "string", "enum": kinds},
            "wheelchair": boolean, "in_service": boolean, "needs_cleaning": boolean,
            "state": {"type": "string", "enum": ["free", "in_use", "needs_cleaning", "out_of_service"]},
            "alarm": {
                "type": "string", "enum": ["normal", "amber", "red"],
                "description": "amber: check interval passed; red: time limit passed or emergency open"
            },
            "episode_id": id_or_null, "visit_id": id_or_null, "client_code": str_or_null,
            "substances": strings, "route": str_or_null,
            "started_at": time_schema(true), "last_check_at": time_schema(true),
            "check_minutes": {"type": "integer"}, "limit_minutes": {"type": "integer"},
            "emergency_id": id_or_null
        }},
        "Waiting": {"type": "object", "properties": {
            "visit_id": id, "client_code": {"type": "string"}, "substances": strings, "route": {"type": "string"},
            "arrived_at": time_schema(false)
        }},
        "EnterAftercare": {"type": "object", "additionalProperties": false, "properties": {
            "entered_at": {"type": "string", "format": "date-time", "description": "Default now"}
        }},
        "LeaveAftercare": {"type": "object", "additionalProperties": false, "properties": {
            "left_at": {"type": "string", "format": "date-time", "description": "Default now"},
            "observation": {"type": "string", "maxLength": 2000}
        }},
        "Aftercare": {"type": "object", "properties": {
            "id": id, "site_id": id, "visit_id": id, "client_code": {"type": "string"},
            "entered_at": time_schema(false), "left_at": time_schema(true), "observation": {"type": "string"}
        }}
    })
}

/// The schema of one entry kind's request body.
fn entry_schema(kind: &str) -> Value {
    use haven_domain::emergency::{MAX_NALOXONE_MG, MAX_NOTE_CHARS, NALOXONE_ROUTES, OXYGEN_FLOW_L_MIN, SIGNS};
    let mut properties = serde_json::Map::new();
    properties.insert("kind".into(), json!({"const": kind}));
    properties.insert(
        "at".into(),
        json!({"type": "string", "format": "date-time", "description": "Default now; not before the emergency began"}),
    );
    let (fields, required): (Value, Vec<&str>) = match kind {
        "sign" => (json!({"sign": {"type": "string", "enum": SIGNS}}), vec!["sign"]),
        "vitals" => (
            json!({
                "resp_rate": {"type": "integer", "minimum": 0, "maximum": 60},
                "spo2": {"type": "integer", "minimum": 50, "maximum": 100},
                "pulse": {"type": "integer", "minimum": 0, "maximum": 250},
                "gcs": {"type": "integer", "minimum": 3, "maximum": 15},
                "sedation": {"type": "integer", "minimum": 0, "maximum": 3}
            }),
            vec![],
        ),
        "oxygen" => (
            json!({"flow_l_min": {"type": "number", "minimum": OXYGEN_FLOW_L_MIN.0, "maximum": OXYGEN_FLOW_L_MIN.1}}),
            vec!["flow_l_min"],
        ),
        "naloxone" => (
            json!({
                "dose_mg": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_NALOXONE_MG},
                "route": {"type": "string", "enum": NALOXONE_ROUTES}
            }),
            vec!["dose_mg", "route"],
        ),
        "note" => (
            json!({"text": {"type": "string", "minLength": 1, "maxLength": MAX_NOTE_CHARS}}),
            vec!["text"],
        ),
        _ => (json!({}), vec![]),
    };
    if let Value::Object(f) = fields {
        properties.extend(f);
    }
    let mut required_all = vec!["kind"];
    required_all.extend(required);
    let mut schema = json!({
        "type": "object", "title": kind, "additionalProperties": false,
        "required": required_all, "properties": properties
    });
    if kind == "vitals" {
        schema["anyOf"] = ["resp_rate", "spo2", "pulse", "gcs", "sedation"]
            .iter()
            .map(|f| json!({"required": [f]}))
            .collect();
        schema["description"] = json!("At least one vital sign");
    }
    schema
}

fn emergency_schemas() -> Value {
    use haven_domain::emergency::{ENTRY_KINDS, LOCATIONS, MAX_DEBRIEF_CHARS, MAX_STAFF_INVOLVED, OUTCOMES};
    let strings = json!({"type": "array", "items": {"type": "string"}});
    let id = json!({"type": "string", "format": "uuid"});
    let id_or_null = json!({"type": ["string", "null"], "format": "uuid"});
    let boolean = json!({"type": "boolean"});
    let mut outcomes: Vec<Value> = OUTCOMES.iter().map(|o| json!(o)).collect();
    outcomes.push(Value::Null);
    let entries: Vec<Value> = ENTRY_KINDS.iter().copied().map(entry_schema).collect();
    json!({
        "NewEmergency": {
            "type": "object", "additionalProperties": false,
            "description": "Give at most one of space_id, aftercare_id, visit_id; with none, site_id says where \
                            (then describe the person or the place)",
            "properties": {
                "site_id": id, "space_id": id, "aftercare_id": id, "visit_id": id,
                "location_detail": {"type": "string", "maxLength": 200, "description": "Where exactly, e.g. toilet 2"},
                "person_description": {"type": "string", "maxLength": 500, "description": "For someone not registered"},
                "started_at": {
                    "type": "string", "format": "date-time", "description": "Default now; at most 24 hours back"
                }
            }
        },
        "EmergencySummary": {"type": "object", "required": ["id", "site_id", "location", "started_at"], "properties": {
            "id": id, "site_id": id, "visit_id": id_or_null, "episode_id": id_or_null, "space_id": id_or_null,
            "client_id": id_or_null, "client_code": {"type": ["string", "null"]},
            "location": {"type": "string", "enum": LOCATIONS}, "location_detail": {"type": "string"},
            "person_description": {"type": "string"}, "substances": strings,
            "started_at": time_schema(false), "opened_by": {"type": "string"}, "closed_at": time_schema(true),
            "outcome": {"type": ["string", "null"], "enum": outcomes},
            "debrief": {"type": "string"}, "staff_involved": strings
        }},
        "Emergency": {"allOf": [
            {"$ref": "#/components/schemas/EmergencySummary"},
            {"type": "object", "properties": {
                "timeline": {"type": "array", "items": {"$ref": "#/components/schemas/TimelineEntry"}},
                "derived": {"$ref": "#/components/schemas/Derived"}
            }}
        ]},
        "TimelineEntry": {
            "type": "object", "required": ["id", "at", "kind", "label"], "additionalProperties": true,
            "description": "Ordered by effective time. Carries the entry's own fields (see NewEntry), \
                            e.g. dose_mg and route for naloxone",
            "properties": {
                "id": id,
                "at": {
                    "type": "string", "format": "date-time",
                    "description": "Effective time: the latest amendment's, else the original"
                },
                "original_at": time_schema(false), "amended": boolean,
                "amendments": {"type": "array", "items": {"$ref": "#/components/schemas/Amendment"}},
                "kind": {"type": "string", "enum": ENTRY_KINDS},
                "label": {"type": "string", "description": "e.g. Naloxone 0.4 mg IM"},
                "recorded_by": {"type": "string"}
            }
        },
        "Amendment": {"type": "object", "properties": {
            "entry_id": id, "new_at": time_schema(false), "reason": {"type": "string"},
            "recorded_at": time_schema(false), "recorded_by": {"type": "string"}
        }},
        "Derived": {"type": "object", "description": "Derived from the timeline (dcr-practice §7.3)", "properties": {
            "event_type": {"type": "string", "enum": ["opioid_overdose", "stimulant_toxicity", "other"]},
            "naloxone_given": boolean, "naloxone_doses": {"type": "integer"}, "naloxone_total_mg": {"type": "number"},
            "first_intervention_after_s": {
                "type": ["integer", "null"], "description": "Seconds from recognition to the first intervention"
            },
            "bvm_used": boolean, "ambulance_called": boolean, "transferred": boolean,
            "potentially_fatal": {"type": "boolean", "description": "Under the site's criteria"}
        }},
        "NewEntry": {"oneOf": entries, "description": "One timeline entry, tagged by kind"},
        "Created": {"type": "object", "required": ["id"], "properties": {"id": id}},
        "Amend": {"type": "object", "additionalProperties": false, "required": ["at", "reason"], "properties": {
            "at": {"type": "string", "format": "date-time", "description": "The corrected time"},
            "reason": {"type": "string", "minLength": 3, "maxLength": 500}
        }},
        "CloseEmergency": {"type": "object", "additionalProperties": false, "required": ["outcome"], "properties": {
            "outcome": {"type": "string", "enum": OUTCOMES},
            "debrief": {"type": "string", "maxLength": MAX_DEBRIEF_CHARS},
            "staff_involved": {
                "type": "array", "maxItems": MAX_STAFF_INVOLVED,
                "items": {"type": "string", "minLength": 1, "maxLength": 100}
            },
            "closed_at": {
                "type": "string", "format": "date-time", "description": "Default now; not before the last entry"
            }
        }}
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use haven_domain::emergency::{Amendment, EntryData, NaloxoneRoute};

    #[test]
    fn openapi_lists_every_api_route() {
        let doc = openapi_document();
        for (path, method) in api_routes() {
            assert!(
                doc["paths"][path][method].is_object(),
                "{method} {path} missing from openapi.json"
            );
        }
        let listed: usize = doc["paths"]
            .as_object()
            .map_or(0, |p| p.values().map(|m| m.as_object().map_or(0, |o| o.len())).sum());
        assert_eq!(listed, api_routes().len());
    }

    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r);
                }
                m.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }

    #[test]
    fn openapi_refs_resolve() {
        let doc = openapi_document();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 20);
        for r in found {
            let pointer = r.strip_prefix('#').expect("local ref");
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
    }

    #[test]
    fn openapi_operations_declare_path_params_and_strict_bodies() {
        let doc = openapi_document();
        for (path, method) in api_routes() {
            let op = &doc["paths"][path][method];
            let params: Vec<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .collect();
            for p in params {
                let declared = op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|x| x["name"] == p && x["in"] == "path"));
                assert!(declared, "{method} {path}: path parameter {p} not declared");
            }
            let codes = op["responses"].as_object().expect("responses");
            assert!(codes.keys().any(|c| c.starts_with('2')), "{method} {path}: no 2xx");
            assert!(codes.contains_key("422"), "{method} {path}: no 422");
            let Some(schema) = op["requestBody"]["content"]["application/json"].get("schema") else {
                continue;
            };
            let schema = match schema["$ref"].as_str() {
                Some(r) => doc.pointer(r.trim_start_matches('#')).expect("ref"),
                None => schema,
            };
            let variants = match schema["oneOf"].as_array() {
                Some(v) => v.iter().collect(),
                None => vec![schema],
            };
            for s in variants {
                assert_eq!(
                    s["additionalProperties"],
                    Value::Bool(false),
                    "{method} {path}: request schema accepts unknown fields"
                );
            }
        }
    }

    #[test]
    fn new_entry_schema_has_every_kind() {
        let doc = openapi_document();
        let kinds: Vec<&str> = doc["components"]["schemas"]["NewEntry"]["oneOf"]
            .as_array()
            .expect("oneOf")
            .iter()
            .filter_map(|s| s["properties"]["kind"]["const"].as_str())
            .collect();
        assert_eq!(kinds, haven_domain::emergency::ENTRY_KINDS);
    }

    #[test]
    fn failing_field_names_missing_and_nested_fields() {
        assert_eq!(
            failing_field(".", "missing field `visit_id` at line 1 column 2"),
            "visit_id"
        );
        assert_eq!(failing_field(".", "expected value at line 1 column 1"), "body");
        assert_eq!(failing_field("shoe_size", "unknown field `shoe_size`"), "shoe_size");
        assert_eq!(failing_field("identity", "missing field `name`"), "identity.name");
    }

    #[test]
    fn visit_body_names_unknown_eligibility_answers() {
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            "application/json".parse().expect("header"),
        );
        let ok: NewVisitBody = parse_json(
            &headers,
            &Bytes::from_static(br#"{"client_id":"c","eligibility":{"pregnant":true}}"#),
        )
        .expect("parses");
        assert!(ok.eligibility.pregnant && !ok.eligibility.intoxicated);
        let err = parse_json::<NewVisitBody>(
            &headers,
            &Bytes::from_static(br#"{"client_id":"c","eligibility":{"drunk":true}}"#),
        )
        .expect_err("refused");
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }

    fn entry_field(body: &str) -> String {
        let v: Value = serde_json::from_str(body).expect("json");
        let msg = EntryDraft::deserialize(&v).expect_err("refused").to_string();
        entry_error_field(&v, &msg)
    }

    #[test]
    fn entry_parse_errors_name_the_field() {
        assert_eq!(
            entry_field(r#"{"kind":"naloxone","dose_mg":"0.4","route":"IM"}"#),
            "dose_mg"
        );
        assert_eq!(
            entry_field(r#"{"kind":"naloxone","dose_mg":0.4,"route":"XX"}"#),
            "route"
        );
        assert_eq!(entry_field(r#"{"kind":"naloxone","route":"IM"}"#), "dose_mg");
        assert_eq!(entry_field(r#"{"kind":"nalox","dose_mg":0.4}"#), "kind");
        assert_eq!(entry_field(r#"{"dose_mg":0.4}"#), "kind");
        assert_eq!(entry_field(r#"{"kind":"vitals","spo2":-1}"#), "spo2");
        assert_eq!(entry_field(r#"{"kind":"vitals","spo3":90}"#), "spo3");
        assert_eq!(entry_field(r#"{"kind":"cpr","foo":1}"#), "foo");
        assert_eq!(entry_field(r#"{"kind":"cpr","at":"yesterday"}"#), "at");
        assert_eq!(entry_field(r#"{"kind":"note","text":5}"#), "text");
        assert_eq!(entry_field("[1]"), "body");
    }

    #[test]
    fn timeline_entries_carry_their_fields_at_the_top() {
        let t = time::macros::datetime!(2026-11-26 10:00 UTC);
        let e = TimelineEntry {
            id: "e1".into(),
            at: t,
            original_at: t,
            amended: false,
            amendments: vec![Amendment {
                entry_id: "e1".into(),
                new_at: t,
                reason: "clock".into(),
                recorded_at: t,
                recorded_by: "u1".into(),
            }],
            data: EntryData::Naloxone {
                dose_mg: 0.4,
                route: NaloxoneRoute::Im,
            },
            recorded_by: "u1".into(),
        };
        let v = timeline_entry_json(&e).expect("serialises");
        assert_eq!(v["kind"], "naloxone");
        assert_eq!(v["dose_mg"], 0.4);
        assert_eq!(v["route"], "IM");
        assert_eq!(v["label"], "Naloxone 0.4 mg IM");
        assert_eq!(v["at"], "2026-11-26T10:00:00Z");
        assert_eq!(v["amendments"][0]["reason"], "clock");
        assert!(v.get("data").is_none());
    }
}
