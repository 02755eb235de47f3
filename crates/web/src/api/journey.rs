//! API: The client journey: one client's whole record as a timeline, and the subject access export.

use axum::{
    Json, Router,
    extract::{Path, RawQuery, State},
    http::StatusCode,
    response::IntoResponse,
    routing::get,
};
use haven_app::journey;
use haven_domain::{FieldError, journey::parse_filter};
use serde_json::{Value, json};

use super::{ApiResult, path_params, reply, responses, schema_ref};
use crate::{AppState, error::problem, form::FormData, security::Staff};

/// Routes here, as (path under /api/v1 with the prefix, method) for the OpenAPI check.
pub(super) const ROUTES: &[(&str, &str)] = &[
    ("/api/v1/clients/{id}/journey", "get"),
    ("/api/v1/clients/{id}/export", "get"),
];

/// This module's API routes (mounted under /api/v1).
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/clients/{id}/journey", get(get_journey))
        .route("/clients/{id}/export", get(get_export))
}

/// `GET /api/v1/clients/{id}/journey?kinds=visits,referrals&from=YYYY-MM-DD&to=YYYY-MM-DD`.
/// `kinds` may also repeat. An unknown parameter is a 400 naming it; a bad
/// value a 422 naming it.
async fn get_journey(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let f = FormData::parse(q.unwrap_or_default().as_bytes());
    if let Some((k, _)) = f.0.iter().find(|(k, _)| !matches!(k.as_str(), "kinds" | "from" | "to")) {
        let msg = format!("unknown parameter `{k}`; use kinds, from and to");
        return Ok(problem(
            StatusCode::BAD_REQUEST,
            "Malformed request",
            &msg,
            &[FieldError::new(k.clone(), msg.clone())],
        ));
    }
    let filter = parse_filter(&f.all("kinds"), f.get("from"), f.get("to")).map_err(haven_app::AppError::from)?;
    let v = journey::journey(&state.store, &staff.ctx, &id, &filter).await?;
    let mut body = json!({
        "client_id": v.client.id,
        "client_code": v.client.code,
        "site": v.site.code,
        "kinds": filter.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        "from": filter.from.map(|d| d.to_string()),
        "to": filter.to.map(|d| d.to_string()),
        "entries": v.entries,
    });
    if let Some(log) = v.access_log {
        body["access_log"] = json!(log);
    }
    Ok(Json(body).into_response())
}

/// `GET /api/v1/clients/{id}/export`: everything held about the client
/// (managers), audited as an export. Sent as a download, never cached.
async fn get_export(State(state): State<AppState>, staff: Staff, Path(id): Path<String>) -> ApiResult {
    let x = journey::export(&state.store, &staff.ctx, &id).await?;
    Ok(crate::views_journey::json_download(&x))
}

/// OpenAPI paths for [`ROUTES`].
pub(super) fn paths() -> Value {
    let mut params = path_params(&["id"]);
    if let Value::Array(a) = &mut params {
        let kinds: Vec<&str> = haven_domain::journey::EntryKind::ALL
            .iter()
            .map(|k| k.as_str())
            .collect();
        a.push(json!({"name": "kinds", "in": "query", "required": false,
            "description": "Kinds to show, comma-separated or repeated; default all",
            "schema": {"type": "string"}, "examples": {"some": {"value": kinds[..2].join(",")}}}));
        a.push(json!({"name": "from", "in": "query", "required": false,
            "description": "First local day shown", "schema": {"type": "string", "format": "date"}}));
        a.push(json!({"name": "to", "in": "query", "required": false,
            "description": "Last local day shown (inclusive)", "schema": {"type": "string", "format": "date"}}));
    }
    json!({
        "/api/v1/clients/{id}/journey": {
            "get": {
                "summary": "A client's journey: visits, episodes, emergencies, services, referrals, supplies, \
                            tests and drug checks as one timeline, newest first (audited read; the access log \
                            for managers)",
                "operationId": "getJourney",
                "parameters": params,
                "responses": responses(json!({"200": reply("The timeline", "Journey")}))
            }
        },
        "/api/v1/clients/{id}/export": {
            "get": {
                "summary": "Subject access export: everything held about a client, with the full access log \
                            (managers; audited as an export)",
                "operationId": "exportClient",
                "parameters": path_params(&["id"]),
                "responses": responses(json!({"200": reply("The export (a download)", "SubjectAccessExport")}))
            }
        }
    })
}

/// OpenAPI schemas used by [`paths`].
pub(super) fn schemas() -> Value {
    let time = json!({"type": "string", "format": "date-time"});
    let kinds: Vec<&str> = haven_domain::journey::EntryKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect();
    let list = |name: &str| json!({"type": "array", "items": schema_ref(name)});
    let any_list = json!({"type": "array", "items": {"type": "object"}});
    json!({
        "JourneyEntry": {"type": "object", "properties": {
            "at": time, "day": {"type": "string", "format": "date", "description": "Local day at the site"},
            "kind": {"type": "string", "enum": kinds}, "title": {"type": "string"}, "detail": {"type": "string"},
            "link": {"type": ["string", "null"], "description": "The record's own page, where one exists"}
        }},
        "AccessEntry": {"type": "object", "properties": {
            "at": time, "who": {"type": "string"}, "role": {"type": ["string", "null"]},
            "action": {"type": "string"}, "subject": {"type": "string"}, "what": {"type": "string"}
        }},
        "Journey": {"type": "object", "properties": {
            "client_id": {"type": "string", "format": "uuid"}, "client_code": {"type": "string"},
            "site": {"type": "string"}, "kinds": {"type": "array", "items": {"type": "string", "enum": kinds}},
            "from": {"type": ["string", "null"], "format": "date"}, "to": {"type": ["string", "null"], "format": "date"},
            "entries": list("JourneyEntry"),
            "access_log": {"type": "array", "items": schema_ref("AccessEntry"), "description": "Managers only"}
        }},
        "SubjectAccessExport": {"type": "object", "properties": {
            "format": {"type": "string", "const": "haven-subject-access/1"},
            "generated_at": time, "generated_by": {"type": "string"},
            "site_code": {"type": "string"}, "site_name": {"type": "string"},
            "client": {"type": "object"}, "merged_records": {"type": "array", "items": {"type": "string"}},
            "identity": {"type": ["object", "null"]},
            "visits": any_list, "episodes": any_list, "aftercare": any_list, "emergencies": any_list,
            "services": any_list, "referrals": any_list, "drug_checks": any_list, "supplies": any_list,
            "timeline": list("JourneyEntry"), "access_log": list("AccessEntry")
        }}
    })
}
