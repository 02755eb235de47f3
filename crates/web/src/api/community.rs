//! API: Community impact: street audits and council needle-report imports (dcr-practice §9).

use axum::{
    Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
};
use haven_app::{AppError, community};
use haven_domain::{
    Invalid,
    community::{AuditDraft, LineError, WEATHER},
};
use haven_store::{CommunityAuditRow, CommunityFilter, NeedleReportRow};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiBody, ApiResult, bad_query, malformed, parse_date, parse_json, site_by_id_or_code};
use crate::{
    AppState,
    error::{ApiError, problem, problem_with},
    security::Staff,
};

/// Routes here, as (path under /api/v1 with the prefix, method) for the OpenAPI check.
pub(super) const ROUTES: &[(&str, &str)] = &[
    ("/api/v1/community-audits", "post"),
    ("/api/v1/community-audits", "get"),
    ("/api/v1/needle-reports", "post"),
    ("/api/v1/needle-reports", "get"),
];

/// This module's API routes (mounted under /api/v1).
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/community-audits", get(list_audits).post(record_audit))
        .route("/needle-reports", get(list_reports).post(import_reports))
}

/// The list filter: `?site=&zone=&from=&to=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    site: String,
    #[serde(default)]
    zone: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

/// The import's query: `?site=&skip_bad=&filename=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportQuery {
    site: String,
    #[serde(default)]
    skip_bad: bool,
    #[serde(default)]
    filename: Option<String>,
}

/// `POST /api/v1/community-audits` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAuditBody {
    site: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    start: String,
    #[serde(default)]
    zone: String,
    #[serde(default)]
    observer: String,
    #[serde(default)]
    weather: String,
    #[serde(default)]
    police_present: bool,
    #[serde(default)]
    needles: i64,
    #[serde(default)]
    other_litter: i64,
    #[serde(default)]
    people_injecting: i64,
}

fn audit_json(a: &CommunityAuditRow) -> Value {
    json!({
        "id": a.id, "site_id": a.site_id, "date": a.on_date.to_string(), "start": a.start_time,
        "zone": a.zone, "observer": a.observer, "weather": a.weather, "police_present": a.police_present,
        "needles": a.needles, "other_litter": a.other_litter, "people_injecting": a.people_injecting,
        "recorded_at": haven_domain::clock::rfc3339(a.recorded_at),
    })
}

fn report_json(r: &NeedleReportRow) -> Value {
    json!({"date": r.on_date.to_string(), "zone": r.zone, "count": r.count, "import_id": r.import_id})
}

fn lines_json(lines: &[LineError]) -> Value {
    lines
        .iter()
        .map(|e| json!({"line": e.line, "message": e.message}))
        .collect()
}

async fn record_audit(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult {
    let b: NewAuditBody = match parse_json(&headers, &body) {
        Ok(b) => b,
        Err(r) => return Ok(*r),
    };
    let site = site_by_id_or_code(&state, &b.site).await?;
    let Some(date) = parse_date("date", Some(b.date.trim()).filter(|d| !d.is_empty()))? else {
        return Err(ApiError(AppError::Invalid(Invalid::one(
            "date",
            "give the date of the walk",
        ))));
    };
    let draft = AuditDraft {
        date,
        start: b.start,
        zone: b.zone,
        observer: b.observer,
        weather: b.weather,
        police_present: b.police_present,
        needles: b.needles,
        other_litter: b.other_litter,
        people_injecting: b.people_injecting,
    };
    let a = community::record_audit(&state.store, &staff.ctx, &site.id, &draft).await?;
    Ok((StatusCode::CREATED, Json(audit_json(&a))).into_response())
}

/// The site and filter of a list request, or the problem response.
async fn list_params(
    state: &AppState,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<(String, CommunityFilter), Response> {
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => {
            return Err(bad_query(
                &e,
                "give ?site= (a site id or code), optionally zone, from and to",
            ));
        }
    };
    let site = site_by_id_or_code(state, &q.site)
        .await
        .map_err(IntoResponse::into_response)?;
    let from = parse_date("from", q.from.as_deref()).map_err(IntoResponse::into_response)?;
    let to = parse_date("to", q.to.as_deref()).map_err(IntoResponse::into_response)?;
    let zone = q.zone.map(|z| z.trim().to_string()).filter(|z| !z.is_empty());
    Ok((site.id, CommunityFilter { zone, from, to }))
}

async fn list_audits(
    State(state): State<AppState>,
    staff: Staff,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let (site_id, filter) = match list_params(&state, q).await {
        Ok(p) => p,
        Err(r) => return Ok(r),
    };
    let rows = community::audits(&state.store, &staff.ctx, &site_id, &filter).await?;
    Ok(Json(rows.iter().map(audit_json).collect::<Vec<_>>()).into_response())
}

async fn list_reports(
    State(state): State<AppState>,
    staff: Staff,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let (site_id, filter) = match list_params(&state, q).await {
        Ok(p) => p,
        Err(r) => return Ok(r),
    };
    let rows = community::needle_reports(&state.store, &staff.ctx, &site_id, &filter).await?;
    Ok(Json(rows.iter().map(report_json).collect::<Vec<_>>()).into_response())
}

async fn import_reports(
    State(state): State<AppState>,
    staff: Staff,
    q: Result<Query<ImportQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult {
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => {
            return Ok(bad_query(
                &e,
                "give ?site= (a site id or code), optionally skip_bad and filename",
            ));
        }
    };
    let is_csv = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/csv"));
    if !is_csv {
        return Ok(problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            "send the CSV with Content-Type: text/csv",
            &[],
        ));
    }
    let Ok(csv) = std::str::from_utf8(&body) else {
        return Ok(*malformed("body".into(), "the CSV must be UTF-8 text"));
    };
    let site = site_by_id_or_code(&state, &q.site).await?;
    let filename = q.filename.unwrap_or_default();
    match community::import_needle_reports(&state.store, &staff.ctx, &site.id, csv, &filename, q.skip_bad).await? {
        Ok(done) => Ok((
            StatusCode::CREATED,
            Json(json!({"imported": done.imported, "skipped": lines_json(&done.skipped)})),
        )
            .into_response()),
        Err(bad) => {
            let mut extra = serde_json::Map::new();
            // RFC 9457 extension member: one entry per bad line.
            extra.insert("errors".into(), lines_json(&bad.errors));
            Ok(problem_with(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid CSV",
                &format!("{} bad line(s); nothing was imported", bad.errors.len()),
                &[],
                extra,
            ))
        }
    }
}

/// OpenAPI paths for [`ROUTES`].
pub(super) fn paths() -> Value {
    let q = |name: &str, required: bool, format: Option<&str>, description: &str| {
        let mut schema = json!({"type": "string"});
        if let Some(f) = format {
            schema["format"] = json!(f);
        }
        json!({"name": name, "in": "query", "required": required, "schema": schema, "description": description})
    };
    let list_params = json!([
        q("site", true, None, "Site id or code"),
        q("zone", false, None, "One of the site's zones"),
        q("from", false, Some("date"), "From this day (inclusive)"),
        q("to", false, Some("date"), "To this day (inclusive)"),
    ]);
    let array = |name: &str, description: &str| {
        json!({"description": description, "content": {"application/json":
            {"schema": {"type": "array", "items": super::schema_ref(name)}}}})
    };
    json!({
        "/api/v1/community-audits": {
            "post": {
                "summary": "Record a street audit walk (dcr-practice §9, Wood 2004 design)",
                "operationId": "recordCommunityAudit",
                "requestBody": super::request("NewCommunityAudit", true),
                "responses": super::responses(json!({"201": super::reply("Recorded", "CommunityAudit")}))
            },
            "get": {
                "summary": "Audit walks of a site, newest first (at most 2,000)",
                "operationId": "listCommunityAudits",
                "parameters": list_params,
                "responses": super::responses(json!({"200": array("CommunityAudit", "The walks")}))
            }
        },
        "/api/v1/needle-reports": {
            "post": {
                "summary": "Import council needle-report counts from CSV (managers)",
                "description": "The body is CSV (Content-Type: text/csv) with a header naming date (YYYY-MM-DD), \
                    zone and count. Any bad line, or a date and zone already imported, means nothing is imported \
                    and every bad line is listed in the problem's `errors` as {line, message}; with \
                    skip_bad=true the good rows are imported and the bad lines listed in `skipped`.",
                "operationId": "importNeedleReports",
                "parameters": [
                    q("site", true, None, "Site id or code"),
                    {"name": "skip_bad", "in": "query", "required": false,
                     "schema": {"type": "boolean", "default": false},
                     "description": "Import the good rows and skip the bad ones"},
                    q("filename", false, None, "Name kept with the import")
                ],
                "requestBody": {"required": true, "content": {"text/csv": {"schema": {"type": "string"}}}},
                "responses": super::responses(json!({
                    "201": super::reply("Imported", "NeedleReportImport"),
                    "422": {"description": "Bad lines; nothing imported", "content": {"application/problem+json":
                        {"schema": super::schema_ref("NeedleImportProblem")}}}
                }))
            },
            "get": {
                "summary": "Council needle-report counts of a site, oldest first (at most 2,000)",
                "operationId": "listNeedleReports",
                "parameters": list_params,
                "responses": super::responses(json!({"200": array("NeedleReport", "The counts")}))
            }
        }
    })
}

/// OpenAPI schemas used by [`paths`].
pub(super) fn schemas() -> Value {
    let date = json!({"type": "string", "format": "date"});
    let count = json!({"type": "integer", "minimum": 0});
    let line = json!({"type": "object", "properties": {
        "line": {"type": "integer", "minimum": 0, "description": "1-based; the header is line 1"},
        "message": {"type": "string"}}});
    json!({
        "NewCommunityAudit": {
            "type": "object", "additionalProperties": false,
            "required": ["site", "date", "start", "zone", "observer", "weather"],
            "properties": {
                "site": {"type": "string", "description": "Site id or code"},
                "date": {"type": "string", "format": "date", "description": "Not after today at the site"},
                "start": {"type": "string", "pattern": "^[0-9]{1,2}:[0-9]{2}$", "description": "HH:MM local"},
                "zone": {"type": "string", "description": "One of the site's community.zones"},
                "observer": {"type": "string", "maxLength": 100},
                "weather": {"type": "string", "enum": WEATHER},
                "police_present": {"type": "boolean", "default": false},
                "needles": count, "other_litter": count, "people_injecting": count
            }
        },
        "CommunityAudit": {"type": "object", "properties": {
            "id": {"type": "string", "format": "uuid"}, "site_id": {"type": "string", "format": "uuid"},
            "date": date, "start": {"type": "string"}, "zone": {"type": "string"},
            "observer": {"type": "string"}, "weather": {"type": "string", "enum": WEATHER},
            "police_present": {"type": "boolean"}, "needles": count, "other_litter": count,
            "people_injecting": count, "recorded_at": {"type": "string", "format": "date-time"}
        }},
        "NeedleReport": {"type": "object", "properties": {
            "date": date, "zone": {"type": "string"}, "count": count,
            "import_id": {"type": "string", "format": "uuid"}
        }},
        "NeedleReportImport": {"type": "object", "properties": {
            "imported": {"type": "integer", "minimum": 0},
            "skipped": {"type": "array", "items": line}
        }},
        "NeedleImportProblem": {"type": "object", "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {"type": "array", "items": line}
        }}
    })
}
