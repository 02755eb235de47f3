//! API: Supplies: equipment transactions, stock levels and discrepancies (dcr-practice §5.5).

use axum::{
    Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
    routing::get,
};
use haven_app::{AppError, supplies};
use haven_domain::{
    clock::rfc3339,
    supply::{TxDraft, TxLine},
};
use haven_store::{DiscrepancyRow, SupplyTx};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    ApiBody, ApiResult, bad_query, parse_date, parse_json, parse_time, request, responses, schema_ref,
    site_by_id_or_code,
};
use crate::{AppState, error::ApiError, security::Staff};

/// Routes here, as (path under /api/v1 with the prefix, method) for the OpenAPI check.
pub(super) const ROUTES: &[(&str, &str)] = &[
    ("/api/v1/supplies", "post"),
    ("/api/v1/supplies", "get"),
    ("/api/v1/stock", "get"),
];

/// This module's API routes (mounted under /api/v1).
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/supplies", get(list_supplies).post(record_supplies))
        .route("/stock", get(get_stock))
}

/// `POST /api/v1/supplies` body: a transaction draft and its site.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSuppliesBody {
    site: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    lines: Vec<TxLine>,
    #[serde(default)]
    visit_id: Option<String>,
    #[serde(default)]
    anonymous: bool,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    at: Option<String>,
}

fn tx_json(t: &SupplyTx) -> Value {
    json!({
        "id": t.row.id, "site_id": t.row.site_id, "kind": t.row.kind, "visit_id": t.row.visit_id,
        "client_code": t.row.client_code, "anonymous": t.row.anonymous, "reason": t.row.reason,
        "at": rfc3339(t.row.at), "recorded_by": t.row.recorded_by_name,
        "lines": t.lines.iter().map(|l| json!({"item": l.item, "quantity": l.quantity})).collect::<Vec<_>>(),
    })
}

fn discrepancy_json(d: &DiscrepancyRow) -> Value {
    json!({
        "id": d.id, "tx_id": d.tx_id, "item": d.item, "kind": d.kind, "wanted": d.wanted,
        "available": d.available, "shortfall": d.shortfall(), "at": rfc3339(d.at),
    })
}

async fn record_supplies(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult {
    let b: NewSuppliesBody = match parse_json(&headers, &body) {
        Ok(b) => b,
        Err(r) => return Ok(*r),
    };
    let site = site_by_id_or_code(&state, &b.site).await?;
    let draft = TxDraft {
        kind: b.kind,
        lines: b.lines,
        visit_id: b.visit_id,
        anonymous: b.anonymous,
        reason: b.reason,
        at: parse_time("at", b.at.as_deref())?,
    };
    let r = supplies::record(&state.store, &staff.ctx, &site.id, &draft).await?;
    let mut out = tx_json(&r.tx);
    if let Some(obj) = out.as_object_mut() {
        obj.insert("site".into(), json!(site.code));
        obj.insert("stock".into(), json!(r.new_stock));
        obj.insert("returned".into(), json!(r.returned));
        obj.insert(
            "discrepancies".into(),
            r.discrepancies
                .iter()
                .map(|d| {
                    json!({"item": d.item, "kind": d.kind, "wanted": d.wanted, "available": d.available,
                           "shortfall": d.shortfall()})
                })
                .collect(),
        );
        obj.insert(
            "low_stock".into(),
            r.low_stock
                .iter()
                .map(|(item, level, threshold)| json!({"item": item, "level": level, "threshold": threshold}))
                .collect(),
        );
    }
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

/// `?site=&date=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    site: String,
    #[serde(default)]
    date: Option<String>,
}

async fn list_supplies(
    State(state): State<AppState>,
    staff: Staff,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return Ok(bad_query(&e, "give ?site= (and optionally &date=YYYY-MM-DD)")),
    };
    let site = site_by_id_or_code(&state, &q.site).await?;
    let date = match parse_date("date", q.date.as_deref())? {
        Some(d) => d,
        None => haven_app::visits::today(&state.store, &site.id).await?,
    };
    let rows = supplies::on_date(&state.store, &staff.ctx, &site.id, date).await?;
    Ok(Json(json!({
        "site": site.code, "date": date.to_string(),
        "transactions": rows.iter().map(tx_json).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// `?site=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StockQuery {
    site: String,
}

async fn get_stock(
    State(state): State<AppState>,
    staff: Staff,
    q: Result<Query<StockQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return Ok(bad_query(&e, "give ?site= (a site id or code)")),
    };
    let site = site_by_id_or_code(&state, &q.site).await?;
    if staff.ctx.actor.role_at(&site.id).is_none() {
        return Err(ApiError(AppError::NotFound));
    }
    let v = supplies::stock(&state.store, &staff.ctx, &site.id).await?;
    let d = supplies::discrepancies(&state.store, &staff.ctx, &site.id, 50).await?;
    Ok(Json(json!({
        "site": site.code,
        "items": v.lines.iter().map(|l| json!({
            "item": l.item, "label": l.label, "level": l.level, "threshold": l.threshold, "low": l.low,
        })).collect::<Vec<_>>(),
        "discrepancies": d.iter().map(discrepancy_json).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// OpenAPI paths for [`ROUTES`].
pub(super) fn paths() -> Value {
    let site_param = json!({"name": "site", "in": "query", "required": true, "schema": {"type": "string"},
                            "description": "Site id or code"});
    json!({
        "/api/v1/supplies": {
            "post": {
                "summary": "Record supplies: a hand-out (to a visit or anonymous / bulk), used equipment \
                            returned, a delivery or a stock count (deliveries and counts: nurses and managers). \
                            Stock going short never blocks a hand-out: it is recorded as a discrepancy.",
                "operationId": "recordSupplies",
                "requestBody": request("NewSupplies", true),
                "responses": responses(json!({"201": {"description": "Recorded", "content": {"application/json":
                    {"schema": schema_ref("SuppliesRecorded")}}}}))
            },
            "get": {
                "summary": "A site's supply transactions on a local date (default today)",
                "operationId": "listSupplies",
                "parameters": [site_param.clone(),
                    {"name": "date", "in": "query", "required": false,
                     "schema": {"type": "string", "format": "date"}}],
                "responses": responses(json!({"200": {"description": "The transactions", "content":
                    {"application/json": {"schema": {"type": "object", "properties": {
                        "site": {"type": "string"}, "date": {"type": "string", "format": "date"},
                        "transactions": {"type": "array", "items": schema_ref("SupplyTx")}}}}}}}))
            }
        },
        "/api/v1/stock": {
            "get": {
                "summary": "A site's stock levels with low-stock markers, and recent discrepancies",
                "operationId": "getStock",
                "parameters": [site_param],
                "responses": responses(json!({"200": {"description": "The stock", "content":
                    {"application/json": {"schema": schema_ref("Stock")}}}}))
            }
        }
    })
}

/// OpenAPI schemas used by [`paths`].
pub(super) fn schemas() -> Value {
    let time = json!({"type": "string", "format": "date-time"});
    let kind = json!({"type": "string", "enum": ["given", "returned", "received", "adjustment"]});
    let line = json!({"type": "object", "additionalProperties": false, "required": ["item", "quantity"],
    "properties": {
        "item": {"type": "string", "description": "A code from the site's supplies.items"},
        "quantity": {"type": "integer", "minimum": 0, "maximum": 10_000,
                     "description": "Units moved (at least 1); for an adjustment, the counted level"}
    }});
    let discrepancy = json!({"type": "object", "properties": {
        "item": {"type": "string"}, "kind": {"type": "string", "enum": ["shortfall", "count"]},
        "wanted": {"type": "integer"}, "available": {"type": "integer"}, "shortfall": {"type": "integer"}
    }});
    json!({
        "NewSupplies": {
            "type": "object", "additionalProperties": false, "required": ["site", "kind", "lines"],
            "properties": {
                "site": {"type": "string", "description": "Site id or code"},
                "kind": kind,
                "lines": {"type": "array", "items": line, "minItems": 1},
                "visit_id": {"type": "string", "format": "uuid",
                             "description": "The visit of a hand-out or return; not for deliveries or counts"},
                "anonymous": {"type": "boolean", "description": "A hand-out to no client (anonymous or bulk)"},
                "reason": {"type": "string", "maxLength": 200, "description": "Required for an adjustment"},
                "at": {"type": "string", "format": "date-time", "description": "Default: now; at most 7 days ago"}
            }
        },
        "SupplyTx": {"type": "object", "properties": {
            "id": {"type": "string", "format": "uuid"}, "site_id": {"type": "string"}, "kind": kind,
            "visit_id": {"type": ["string", "null"]}, "client_code": {"type": ["string", "null"]},
            "anonymous": {"type": "boolean"}, "reason": {"type": ["string", "null"]}, "at": time,
            "recorded_by": {"type": ["string", "null"]},
            "lines": {"type": "array", "items": {"type": "object", "properties": {
                "item": {"type": "string"}, "quantity": {"type": "integer"}}}}
        }},
        "SuppliesRecorded": {"allOf": [schema_ref("SupplyTx"), {"type": "object", "properties": {
            "site": {"type": "string"},
            "stock": {"type": "object", "additionalProperties": {"type": "integer"},
                      "description": "New level of each item moved (never below 0)"},
            "returned": {"type": "object", "additionalProperties": {"type": "integer"}},
            "discrepancies": {"type": "array", "items": discrepancy},
            "low_stock": {"type": "array", "items": {"type": "object", "properties": {
                "item": {"type": "string"}, "level": {"type": "integer"}, "threshold": {"type": "integer"}}}}
        }}]},
        "Stock": {"type": "object", "properties": {
            "site": {"type": "string"},
            "items": {"type": "array", "items": {"type": "object", "properties": {
                "item": {"type": "string"}, "label": {"type": "string"}, "level": {"type": "integer"},
                "threshold": {"type": ["integer", "null"]}, "low": {"type": "boolean"}}}},
            "discrepancies": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "string"}, "tx_id": {"type": "string"}, "item": {"type": "string"},
                "kind": {"type": "string"}, "wanted": {"type": "integer"}, "available": {"type": "integer"},
                "shortfall": {"type": "integer"}, "at": time}}}
        }}
    })
}
