//! Supplies: equipment transactions, stock levels and discrepancies (dcr-practice §5.5).
//!
//! One page: the hand-out form (to a visit or anonymous / bulk, or used
//! equipment returned), the stock table with low-stock markers, a delivery
//! and a count form for those who manage stock, the day's transactions and
//! recent discrepancies. Stock going short never blocks a hand-out: it is
//! saved, and the page warns and names the shortfall (issue 4, bad input).

use askama::Template;
use axum::{
    Router,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect},
    routing::get,
};
use haven_app::{AppError, supplies, visits};
use haven_domain::{
    FieldError,
    auth::Action,
    supply::{TxDraft, TxKind, item_label},
};
use haven_store::{DiscrepancyRow, SiteRow, SupplyTx};
use serde::Deserialize;

use crate::{
    AppState,
    form::FormData,
    security::Staff,
    views::{Chrome, Errors, PageResult, chrome, hhmm, local_datetime, render, site_of},
    views_emergency::with_banner,
};

/// This module's pages.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/supplies", get(supplies_page).post(supplies_submit))
}

/// One number box of a form.
#[derive(Debug, Clone)]
pub struct QtyBox {
    /// Element id (unique on the page).
    id: String,
    /// Form field name.
    name: String,
    label: String,
    value: String,
    error: Option<String>,
}

/// Which form on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Handout,
    Delivery,
    Count,
}

impl Which {
    fn parse(s: &str) -> Self {
        match s {
            "delivery" => Which::Delivery,
            "count" => Which::Count,
            _ => Which::Handout,
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Which::Handout => "handout",
            Which::Delivery => "delivery",
            Which::Count => "count",
        }
    }
}

/// A transaction form's input, kept on error.
#[derive(Debug, Clone)]
pub struct TxForm {
    /// `handout`, `delivery` or `count` (ids are prefixed with it).
    form: &'static str,
    boxes: Vec<QtyBox>,
    /// `given` or `returned` (hand-out form).
    kind: String,
    visit_id: String,
    anonymous: bool,
    /// Note (hand-out, delivery) or reason (count).
    note: String,
    /// Errors not at a number box.
    errors: Errors,
}

impl TxForm {
    fn blank(which: Which, items: &[String]) -> Self {
        let form = which.as_str();
        TxForm {
            form,
            boxes: items
                .iter()
                .map(|code| QtyBox {
                    id: format!("{form}-q_{code}"),
                    name: format!("q_{code}"),
                    label: item_label(code),
                    value: String::new(),
                    error: None,
                })
                .collect(),
            kind: "given".into(),
            visit_id: String::new(),
            anonymous: false,
            note: String::new(),
            errors: Errors::default(),
        }
    }

    /// Any error on this form.
    fn has_errors(&self) -> bool {
        !self.errors.is_empty() || self.boxes.iter().any(|b| b.error.is_some())
    }

    /// Every error as (element id, message), for the summary.
    fn summary(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .boxes
            .iter()
            .filter_map(|b| b.error.as_ref().map(|e| (b.id.clone(), format!("{}: {e}", b.label))))
            .collect();
        out.extend(self.errors.0.iter().map(|e| {
            (
                format!("{}-{}", self.form, e.field),
                format!("{}: {}", e.field, e.message),
            )
        }));
        out
    }
}

/// A visit to choose in the hand-out form.
#[derive(Debug, Clone)]
pub struct VisitChoice {
    id: String,
    label: String,
}

/// A row of the stock table.
#[derive(Debug, Clone)]
pub struct StockItem {
    item: String,
    label: String,
    level: i64,
    threshold: String,
    low: bool,
}

/// A transaction as a row of the day's list.
#[derive(Debug, Clone)]
pub struct TxItem {
    time: String,
    kind: String,
    who: String,
    lines: String,
    reason: String,
    by: String,
}

/// A discrepancy as a row.
#[derive(Debug, Clone)]
pub struct DiscrepancyItem {
    when: String,
    item: String,
    kind: String,
    text: String,
}

#[derive(Template)]
#[template(path = "supplies.html")]
struct SuppliesPage {
    chrome: Chrome,
    warnings: Vec<String>,
    low_items: Vec<String>,
    visits: Vec<VisitChoice>,
    handout: TxForm,
    delivery: TxForm,
    count: TxForm,
    can_record: bool,
    can_manage: bool,
    stock: Vec<StockItem>,
    date: String,
    date_error: Option<String>,
    txs: Vec<TxItem>,
    discrepancies: Vec<DiscrepancyItem>,
    visit_supplies: Vec<TxItem>,
    visit_code: String,
    packs: Vec<PackButton>,
}

/// A standard-pack button on the hand-out form (site setting `supplies.packs`).
#[derive(Debug, Clone)]
pub struct PackButton {
    code: String,
    label: String,
    /// `item:qty item:qty`, read by haven.js to fill the number boxes.
    fill: String,
    /// In words, for the tooltip.
    contents: String,
}

fn pack_buttons(site: &SiteRow) -> Vec<PackButton> {
    haven_app::clients::settings_of(site)
        .supplies
        .packs()
        .into_iter()
        .map(|p| PackButton {
            fill: p
                .items
                .iter()
                .map(|(i, q)| format!("{i}:{q}"))
                .collect::<Vec<_>>()
                .join(" "),
            contents: p
                .items
                .iter()
                .map(|(i, q)| format!("{q} × {}", haven_domain::supply::item_label(i)))
                .collect::<Vec<_>>()
                .join(", "),
            code: p.code,
            label: p.label,
        })
        .collect()
}

/// `?date=`, `?visit=`, `?saved=`.
#[derive(Debug, Default, Deserialize)]
pub struct SuppliesQuery {
    #[serde(default)]
    date: String,
    #[serde(default)]
    visit: String,
    #[serde(default)]
    saved: String,
}

fn kind_label(kind: &str) -> &'static str {
    match TxKind::parse(kind) {
        Some(TxKind::Given) => "Given",
        Some(TxKind::Returned) => "Returned",
        Some(TxKind::Received) => "Delivery",
        Some(TxKind::Adjustment) => "Count",
        None => "Other",
    }
}

fn lines_text(t: &SupplyTx) -> String {
    t.lines
        .iter()
        .map(|l| format!("{} × {}", l.quantity, item_label(&l.item)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn who(t: &SupplyTx) -> String {
    match (&t.row.client_code, t.row.anonymous) {
        (Some(code), _) => code.clone(),
        (None, true) => "anonymous / bulk".into(),
        (None, false) => String::new(),
    }
}

fn tx_item(site: &SiteRow, t: &SupplyTx, with_date: bool) -> TxItem {
    TxItem {
        time: if with_date {
            local_datetime(site, t.row.at)
        } else {
            hhmm(site, t.row.at)
        },
        kind: kind_label(&t.row.kind).into(),
        who: who(t),
        lines: lines_text(t),
        reason: t.row.reason.clone().unwrap_or_default(),
        by: t.row.recorded_by_name.clone().unwrap_or_default(),
    }
}

/// What a discrepancy means, in words (the hand-out still stands).
fn discrepancy_text(d: &DiscrepancyRow) -> String {
    let label = item_label(&d.item);
    if d.kind == "count" {
        format!(
            "{label}: the records showed {}, the count found {} ({:+})",
            d.wanted,
            d.available,
            -d.shortfall()
        )
    } else {
        format!(
            "{label}: {} handed out but stock showed {}: {} short, recorded as a discrepancy",
            d.wanted,
            d.available,
            d.shortfall()
        )
    }
}

/// Today at the site, or the date asked for (`YYYY-MM-DD`) with an error
/// message when it does not parse.
async fn pick_date(state: &AppState, site: &SiteRow, asked: &str) -> Result<(time::Date, Option<String>), AppError> {
    let today = visits::today(&state.store, &site.id).await?;
    let asked = asked.trim();
    if asked.is_empty() {
        return Ok((today, None));
    }
    Ok(
        match time::Date::parse(asked, time::macros::format_description!("[year]-[month]-[day]")) {
            Ok(d) => (d, None),
            Err(_) => (
                today,
                Some(format!("“{asked}” is not a date (YYYY-MM-DD); showing today")),
            ),
        },
    )
}

async fn supplies_render(
    state: &AppState,
    staff: &Staff,
    q: SuppliesQuery,
    kept: Option<TxForm>,
    status: StatusCode,
) -> PageResult {
    let site = site_of(state, staff).await?;
    let ctx = &staff.ctx;
    let stock = supplies::stock(&state.store, ctx, &site.id).await?;
    let (date, date_error) = pick_date(state, &site, &q.date).await?;
    let today = visits::today(&state.store, &site.id).await?;

    // After saving: what was saved, and any shortfall it ran into.
    let mut notice = None;
    let mut warnings = Vec::new();
    if !q.saved.is_empty() {
        match supplies::transaction(&state.store, ctx, &site.id, &q.saved).await {
            Ok(t) => {
                let to = match who(&t).as_str() {
                    "" => String::new(),
                    w => format!(" ({w})"),
                };
                notice = Some(format!("Saved: {} {}{to}.", kind_label(&t.row.kind), lines_text(&t)));
                for d in supplies::discrepancies_of_tx(&state.store, ctx, &site.id, &t.row.id).await? {
                    warnings.push(discrepancy_text(&d));
                }
            }
            Err(AppError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }

    let mut visit_choices = Vec::new();
    if ctx.can(Action::ViewVisits, &site.id) {
        for v in visits::on_date(&state.store, ctx, &site.id, today, None).await? {
            if v.status != "attended" || v.voided_at.is_some() {
                continue;
            }
            let left = v
                .left_at
                .map_or_else(String::new, |t| format!(", left {}", hhmm(&site, t)));
            visit_choices.push(VisitChoice {
                label: format!("{} · arrived {}{left}", v.client_code, hhmm(&site, v.arrived_at)),
                id: v.id,
            });
        }
    }

    // A visit chosen by link (`?visit=`): preselected, with what it had
    // already; a visit of an earlier day is added to the choices.
    let mut visit_supplies = Vec::new();
    let mut visit_code = String::new();
    if !q.visit.is_empty()
        && !visit_choices.iter().any(|v| v.id == q.visit)
        && let Some(v) = supplies::visit_for_supplies(&state.store, ctx, &site.id, &q.visit).await?
    {
        visit_choices.insert(
            0,
            VisitChoice {
                label: format!("{} · arrived {}", v.client_code, local_datetime(&site, v.arrived_at)),
                id: v.id,
            },
        );
    }
    if !q.visit.is_empty() && visit_choices.iter().any(|v| v.id == q.visit) {
        let rows = supplies::of_visit(&state.store, ctx, &q.visit).await?;
        visit_supplies = rows.iter().map(|t| tx_item(&site, t, false)).collect();
        visit_code = visit_choices
            .iter()
            .find(|v| v.id == q.visit)
            .map(|v| v.label.clone())
            .unwrap_or_default();
    }

    let mut handout = TxForm::blank(Which::Handout, &stock.items);
    handout.visit_id = q.visit.clone();
    let mut delivery = TxForm::blank(Which::Delivery, &stock.items);
    let mut count = TxForm::blank(Which::Count, &stock.items);
    if let Some(k) = kept {
        match Which::parse(k.form) {
            Which::Handout => handout = k,
            Which::Delivery => delivery = k,
            Which::Count => count = k,
        }
    }

    let txs = supplies::on_date(&state.store, ctx, &site.id, date).await?;
    let discrepancies = supplies::discrepancies(&state.store, ctx, &site.id, 20).await?;
    let low_items = stock
        .lines
        .iter()
        .filter(|l| l.low)
        .map(|l| format!("{} ({} left)", l.label, l.level))
        .collect();
    let staff = with_banner(state, staff).await;
    Ok(render(
        status,
        &SuppliesPage {
            chrome: chrome(&staff, &site, "supplies", notice),
            warnings,
            low_items,
            visits: visit_choices,
            handout,
            delivery,
            count,
            can_record: staff.ctx.can(Action::RecordSupplies, &site.id),
            can_manage: staff.ctx.can(Action::ManageStock, &site.id),
            stock: stock
                .lines
                .iter()
                .map(|l| StockItem {
                    item: l.item.clone(),
                    label: l.label.clone(),
                    level: l.level,
                    threshold: l.threshold.map(|t| t.to_string()).unwrap_or_default(),
                    low: l.low,
                })
                .collect(),
            date: date.to_string(),
            date_error,
            txs: txs.iter().map(|t| tx_item(&site, t, false)).collect(),
            discrepancies: discrepancies
                .iter()
                .map(|d| DiscrepancyItem {
                    when: local_datetime(&site, d.at),
                    item: item_label(&d.item),
                    kind: if d.kind == "count" { "count" } else { "shortfall" }.into(),
                    text: discrepancy_text(d),
                })
                .collect(),
            visit_supplies,
            visit_code,
            packs: pack_buttons(&site),
        },
    ))
}

/// `GET /supplies`: the hand-out form, stock, the day's transactions
/// (`?date=YYYY-MM-DD`) and recent discrepancies; `?visit=` preselects a
/// visit, `?saved=` shows what was just saved.
pub async fn supplies_page(State(state): State<AppState>, staff: Staff, Query(q): Query<SuppliesQuery>) -> PageResult {
    let site = site_of(&state, &staff).await?;
    let bad_date = pick_date(&state, &site, &q.date).await?.1.is_some();
    let status = if bad_date {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    supplies_render(&state, &staff, q, None, status).await
}

/// Reads a form into the draft, keeping the input; number boxes that do not
/// parse get their error here, the rest is the domain's.
fn read_form(f: &FormData, items: &[String]) -> (TxForm, TxDraft, Vec<String>) {
    let which = Which::parse(f.get("form"));
    let mut form = TxForm::blank(which, items);
    let mut draft = TxDraft {
        kind: match which {
            Which::Handout => f.get("kind").trim().to_string(),
            Which::Delivery => TxKind::Received.as_str().into(),
            Which::Count => TxKind::Adjustment.as_str().into(),
        },
        ..Default::default()
    };
    form.kind = draft.kind.clone();
    // Which item each draft line came from, to put line errors at their box.
    let mut line_items = Vec::new();
    for b in &mut form.boxes {
        b.value = f.get(&b.name).trim().to_string();
        if b.value.is_empty() {
            continue;
        }
        match b.value.parse::<i64>() {
            // A zero box in a movement means nothing moved; in a count it is a level.
            Ok(0) if which != Which::Count => {}
            Ok(quantity) => {
                let item = b.name.trim_start_matches("q_").to_string();
                line_items.push(item.clone());
                draft.lines.push(haven_domain::supply::TxLine { item, quantity });
            }
            Err(_) => b.error = Some("give a whole number".into()),
        }
    }
    if which == Which::Handout {
        form.visit_id = f.get("visit_id").trim().to_string();
        form.anonymous = matches!(f.get("anonymous"), "1" | "on" | "true");
        draft.visit_id = Some(form.visit_id.clone()).filter(|v| !v.is_empty());
        draft.anonymous = form.anonymous;
    }
    form.note = f.get(if which == Which::Count { "reason" } else { "note" }).to_string();
    draft.reason = Some(form.note.clone());
    (form, draft, line_items)
}

/// Puts the domain's errors on the form: a line's error at its item's box,
/// `reason` at the note or reason box.
fn place_errors(form: &mut TxForm, errors: Vec<FieldError>, line_items: &[String]) {
    for mut e in errors {
        let line = e
            .field
            .strip_prefix("lines[")
            .and_then(|r| r.split_once(']'))
            .and_then(|(i, _)| i.parse::<usize>().ok())
            .and_then(|i| line_items.get(i));
        if let Some(item) = line {
            let name = format!("q_{item}");
            if let Some(b) = form.boxes.iter_mut().find(|b| b.name == name) {
                b.error.get_or_insert(e.message);
                continue;
            }
        }
        if e.field == "reason" && form.form != "count" {
            e.field = "note".into();
        }
        form.errors.0.push(e);
    }
}

/// `POST /supplies`: records a hand-out or return, a delivery or a count,
/// then shows the page with what was saved (and any shortfall). Bad input
/// shows the form again with the input kept (422); nothing is written.
pub async fn supplies_submit(State(state): State<AppState>, staff: Staff, f: FormData) -> PageResult {
    let site = site_of(&state, &staff).await?;
    let items = haven_app::clients::settings_of(&site).supplies.items;
    let (mut form, draft, line_items) = read_form(&f, &items);
    let back = |date: &str| SuppliesQuery {
        date: date.to_string(),
        visit: String::new(),
        saved: String::new(),
    };
    if form.has_errors() {
        return supplies_render(&state, &staff, back(""), Some(form), StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    match supplies::record(&state.store, &staff.ctx, &site.id, &draft).await {
        Ok(r) => Ok(Redirect::to(&format!("/supplies?saved={}", r.tx.row.id)).into_response()),
        Err(AppError::Invalid(inv)) => {
            place_errors(&mut form, inv.0, &line_items);
            supplies_render(&state, &staff, back(""), Some(form), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e.into()),
    }
}
