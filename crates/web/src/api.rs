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
use haven_app::{AppError, clients, visits};
use haven_domain::{
    FieldError, Invalid,
    client::{ClientDraft, IdentityDraft},
    visit::CheckInDraft,
};
use haven_store::{ClientRow, Created, VisitRow};
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

/// Parses a JSON body strictly, naming the failing field (unknown fields,
/// wrong types, malformed JSON) in problem details.
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
        let inner = e.into_inner();
        let msg = inner.to_string();
        // The path names the failing field, unknown fields included.
        let field = if path == "." { "body".to_string() } else { path };
        Box::new(problem(
            StatusCode::BAD_REQUEST,
            "Malformed request",
            &msg,
            &[FieldError::new(field, msg.clone())],
        ))
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
        "registered_at": haven_domain::clock::rfc3339(c.registered_at),
        "merged_into": c.merged_into,
    })
}

fn visit_json(v: &VisitRow) -> Value {
    json!({
        "id": v.id,
        "client_id": v.client_id,
        "client_code": v.client_code,
        "status": v.status,
        "arrived_at": haven_domain::clock::rfc3339(v.arrived_at),
        "left_at": v.left_at.map(haven_domain::clock::rfc3339),
        "substances": v.substance_list(),
        "route": v.route,
        "otherwise_place": v.otherwise_place,
        "refusal_reason": v.refusal_reason,
        "voided": v.voided_at.is_some(),
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

async fn create_client(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult {
    let b: NewClientBody = match parse_json(&headers, &body) {
        Ok(b) => b,
        Err(r) => return Ok(*r),
    };
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
}

fn parse_time(field: &str, s: Option<&str>) -> Result<Option<time::OffsetDateTime>, ApiError> {
    match s {
        None => Ok(None),
        Some(t) => haven_domain::clock::parse_rfc3339(t).map(Some).ok_or_else(|| {
            ApiError(AppError::Invalid(Invalid::one(
                field,
                "use an RFC 3339 time, e.g. 2026-01-13T09:30:00Z",
            )))
        }),
    }
}

async fn create_visit(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult {
    let b: NewVisitBody = match parse_json(&headers, &body) {
        Ok(b) => b,
        Err(r) => return Ok(*r),
    };
    let arrived_at = parse_time("arrived_at", b.arrived_at.as_deref())?;
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    let draft = CheckInDraft {
        substances: b.substances,
        route: b.route,
        otherwise_place: b.otherwise_place,
        arrived_at,

        ..Default::default()
    };
    let (v, created) = visits::check_in(&state.store, &staff.ctx, &b.client_id, &draft, key).await?;
    let status = if created == Created::New {
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
    let b: CheckoutBody = if body.is_empty() {
        CheckoutBody::default()
    } else {
        match parse_json(&headers, &body) {
            Ok(b) => b,
            Err(r) => return Ok(*r),
        }
    };
    let left_at = parse_time("left_at", b.left_at.as_deref())?;
    let v = visits::check_out(&state.store, &staff.ctx, &id, left_at).await?;
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
    Ok(Json(json!({ "site": site.code, "date": date.to_string(), "visits": rows.iter().map(visit_json).collect::<Vec<_>>() })).into_response())
}

/// The paths and methods the API serves, as listed in the OpenAPI document
/// (a test checks the two agree).
pub const API_ROUTES: [(&str, &str); 6] = [
    ("/api/v1/clients", "post"),
    ("/api/v1/clients", "get"),
    ("/api/v1/clients/{id}", "get"),
    ("/api/v1/visits", "post"),
    ("/api/v1/visits", "get"),
    ("/api/v1/visits/{id}/checkout", "post"),
];

async fn openapi() -> Response {
    Json(openapi_document()).into_response()
}

/// The OpenAPI 3.1 document.
pub fn openapi_document() -> Value {
    let problem_ref = json!({"$ref": "#/components/responses/Problem"});
    let errors = json!({
        "400": problem_ref, "401": problem_ref, "403": problem_ref, "404": problem_ref,
        "409": problem_ref, "413": problem_ref, "415": problem_ref, "422": problem_ref
    });
    let with = |extra: Value| {
        let mut m = errors.as_object().cloned().unwrap_or_default();
        if let Value::Object(e) = extra {
            m.extend(e);
        }
        Value::Object(m)
    };
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Haven API", "version": "1", "description": "Pseudonymous client registry and visits of a supervised drug consumption facility. Authenticate with `Authorization: Bearer <token>` from `haven token create`. Ids are UUID strings; times are RFC 3339 UTC. Errors are RFC 9457 problem details naming the failing fields."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/clients": {
                "post": {
                    "summary": "Register a client", "operationId": "createClient",
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewClient"}}}},
                    "responses": with(json!({"201": {"description": "Registered", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Client"}}}}}))
                },
                "get": {
                    "summary": "Find clients by code prefix", "operationId": "findClients",
                    "parameters": [
                        {"name": "code", "in": "query", "required": true, "schema": {"type": "string"}},
                        {"name": "site", "in": "query", "required": false, "schema": {"type": "string"}}
                    ],
                    "responses": with(json!({"200": {"description": "Matches (each an audited read)", "content": {"application/json": {"schema": {"type": "object", "properties": {"clients": {"type": "array", "items": {"$ref": "#/components/schemas/Client"}}}}}}}}))
                }
            },
            "/api/v1/clients/{id}": {
                "get": {
                    "summary": "Read a client (audited)", "operationId": "getClient",
                    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
                    "responses": with(json!({"200": {"description": "The client", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Client"}}}}}))
                }
            },
            "/api/v1/visits": {
                "post": {
                    "summary": "Check a client in", "operationId": "checkIn",
                    "parameters": [{"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "maxLength": 200}, "description": "A retry with the same key returns the first visit (200) instead of creating another."}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewVisit"}}}},
                    "responses": with(json!({
                        "201": {"description": "Checked in", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Visit"}}}},
                        "200": {"description": "Replayed: the visit first created with this Idempotency-Key", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Visit"}}}}
                    }))
                },
                "get": {
                    "summary": "A site's visits on a local date", "operationId": "listVisits",
                    "parameters": [
                        {"name": "site", "in": "query", "required": true, "schema": {"type": "string"}},
                        {"name": "date", "in": "query", "required": false, "schema": {"type": "string", "format": "date"}},
                        {"name": "code", "in": "query", "required": false, "schema": {"type": "string"}}
                    ],
                    "responses": with(json!({"200": {"description": "Visits, newest first", "content": {"application/json": {"schema": {"type": "object", "properties": {"site": {"type": "string"}, "date": {"type": "string", "format": "date"}, "visits": {"type": "array", "items": {"$ref": "#/components/schemas/Visit"}}}}}}}}))
                }
            },
            "/api/v1/visits/{id}/checkout": {
                "post": {
                    "summary": "Check a visit out", "operationId": "checkOut",
                    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
                    "requestBody": {"required": false, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false, "properties": {"left_at": {"type": "string", "format": "date-time"}}}}}},
                    "responses": with(json!({"200": {"description": "Checked out", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Visit"}}}}}))
                }
            }
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {"Problem": {"description": "RFC 9457 problem details", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}},
            "schemas": {
                "Problem": {"type": "object", "properties": {
                    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"},
                    "errors": {"type": "array", "items": {"type": "object", "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}
                }},
                "NewClient": {"type": "object", "additionalProperties": false, "required": ["site", "gender", "home_area"], "properties": {
                    "site": {"type": "string", "description": "Site code, e.g. GLA"},
                    "year_of_birth": {"type": "integer", "minimum": 1901},
                    "gender": {"type": "string", "description": "Default codes: female, male, non_binary, other, not_stated"},
                    "home_area": {"type": "string", "description": "Postcode district, no_fixed_abode or unknown"},
                    "alias": {"type": "string", "maxLength": 40},
                    "flags": {"type": "array", "items": {"type": "string"}},
                    "letters": {"type": "string", "description": "onhrdb scheme: 4 letters"},
                    "family_name": {"type": "string", "description": "slk581 scheme: builds the key, not stored"},
                    "given_name": {"type": "string", "description": "slk581 scheme: builds the key, not stored"},
                    "date_of_birth": {"type": "string", "format": "date", "description": "slk581 scheme"},
                    "code": {"type": "string", "description": "Optional explicit code (e.g. from paper records); must fit the site's scheme"},
                    "identity": {"type": "object", "additionalProperties": false, "properties": {"name": {"type": "string"}, "chi": {"type": "string", "pattern": "^[0-9 ]{10,13}$"}, "other_number": {"type": "string"}}},
                    "confirm_new": {"type": "boolean", "description": "Register even though likely duplicates exist (otherwise 409 with possible_duplicates)"}
                }},
                "Client": {"type": "object", "required": ["id", "code"], "properties": {
                    "id": {"type": "string", "format": "uuid"}, "code": {"type": "string"}, "site": {"type": "string"},
                    "year_of_birth": {"type": "integer"}, "gender": {"type": "string"}, "home_area": {"type": "string"},
                    "alias": {"type": ["string", "null"]}, "flags": {"type": "array", "items": {"type": "string"}},
                    "registered_at": {"type": "string", "format": "date-time"}, "merged_into": {"type": ["string", "null"]}
                }},
                "NewVisit": {"type": "object", "additionalProperties": false, "required": ["client_id"], "properties": {
                    "client_id": {"type": "string", "format": "uuid"},
                    "substances": {"type": "array", "items": {"type": "string"}, "description": "Default codes: heroin, cocaine, crack, benzodiazepine, methadone, fentanyl, methamphetamine, amphetamine, other"},
                    "route": {"type": "string", "description": "injection, inhalation, intranasal, oral; omit for a visit without consumption"},
                    "otherwise_place": {"type": "string", "enum": ["private", "public", "semi_public", "declined"]},
                    "arrived_at": {"type": "string", "format": "date-time", "description": "Default now; not in the future"}
                }},
                "Visit": {"type": "object", "required": ["id"], "properties": {
                    "id": {"type": "string", "format": "uuid"}, "client_id": {"type": "string"}, "client_code": {"type": "string"},
                    "status": {"type": "string", "enum": ["attended", "refused"]},
                    "arrived_at": {"type": "string", "format": "date-time"}, "left_at": {"type": ["string", "null"], "format": "date-time"},
                    "substances": {"type": "array", "items": {"type": "string"}}, "route": {"type": ["string", "null"]},
                    "otherwise_place": {"type": ["string", "null"]}, "refusal_reason": {"type": ["string", "null"]}, "voided": {"type": "boolean"}
                }}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_lists_every_api_route() {
        let doc = openapi_document();
        for (path, method) in API_ROUTES {
            assert!(
                doc["paths"][path][method].is_object(),
                "{method} {path} missing from openapi.json"
            );
        }
        let listed: usize = doc["paths"]
            .as_object()
            .map_or(0, |p| p.values().map(|m| m.as_object().map_or(0, |o| o.len())).sum());
        assert_eq!(listed, API_ROUTES.len());
    }
}
