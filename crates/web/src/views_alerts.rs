//! The alerts page: the alerts showing at the site, raising one (an expiry
//! is required) and withdrawing one. Every open board of the affected sites
//! redraws at once.

use askama::Template;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect},
};
use haven_app::{AppError, alerts};
use haven_domain::{auth::Action, drugcheck::AlertDraft};

use crate::{
    AppState,
    form::FormData,
    security::Staff,
    views::{Chrome, Errors, PageResult, chrome, local_datetime, render, site_of},
    views_emergency::with_banner,
};

/// The raise form's input, kept on error.
#[derive(Debug, Clone, Default)]
pub struct AlertForm {
    text: String,
    hours: String,
    shared: bool,
}

/// An alert as a list row.
#[derive(Debug, Clone)]
pub struct AlertItem {
    id: String,
    text: String,
    from: String,
    until: String,
    shared: bool,
    own: bool,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    chrome: Chrome,
    alerts: Vec<AlertItem>,
    form: AlertForm,
    errors: Errors,
    can_manage: bool,
}

async fn alerts_render(
    state: &AppState,
    staff: &Staff,
    form: AlertForm,
    errors: Errors,
    status: StatusCode,
) -> PageResult {
    let site = site_of(state, staff).await?;
    let rows = alerts::active(&state.store, &staff.ctx, &site.id).await?;
    let staff = with_banner(state, staff).await;
    Ok(render(
        status,
        &AlertsPage {
            chrome: chrome(&staff, &site, "alerts", None),
            alerts: rows
                .iter()
                .map(|a| AlertItem {
                    id: a.id.clone(),
                    text: a.text.clone(),
                    from: a.site_code.clone(),
                    until: local_datetime(&site, a.expires_at),
                    shared: a.shared,
                    own: a.site_id == site.id,
                })
                .collect(),
            can_manage: staff.ctx.can(Action::ManageAlerts, &site.id),
            form,
            errors,
        },
    ))
}

/// `GET /alerts`.
pub async fn alerts_page(State(state): State<AppState>, staff: Staff) -> PageResult {
    let form = AlertForm {
        hours: "24".into(),
        ..Default::default()
    };
    alerts_render(&state, &staff, form, Errors::default(), StatusCode::OK).await
}

/// `POST /alerts`: raise an alert for the next N hours.
pub async fn alert_raise(State(state): State<AppState>, staff: Staff, f: FormData) -> PageResult {
    let site = site_of(&state, &staff).await?;
    let form = AlertForm {
        text: f.get("text").to_string(),
        hours: f.get("hours").trim().to_string(),
        shared: f.get("shared") == "on",
    };
    let now = haven_domain::clock::now();
    // Blank hours means no expiry: the domain refuses that, naming the field.
    let expires_at = match form.hours.as_str() {
        "" => None,
        h => match h.parse::<u32>() {
            Ok(n) => Some(now + time::Duration::hours(i64::from(n))),
            Err(_) => {
                let e = haven_domain::FieldError::new("expires_at", "give the number of hours the alert shows");
                return alerts_render(&state, &staff, form, Errors(vec![e]), StatusCode::UNPROCESSABLE_ENTITY).await;
            }
        },
    };
    let draft = AlertDraft {
        text: form.text.clone(),
        expires_at,
        share_with_installation: form.shared,
    };
    match alerts::raise(&state.store, &staff.ctx, &site.id, &draft).await {
        Ok(a) => {
            for s in alerts::affected_sites(&state.store, &a).await? {
                state.board.changed(&s);
            }
            Ok(Redirect::to("/alerts").into_response())
        }
        Err(AppError::Invalid(inv)) => {
            alerts_render(&state, &staff, form, Errors(inv.0), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /alerts/{id}/withdraw`.
pub async fn alert_withdraw(State(state): State<AppState>, staff: Staff, Path(id): Path<String>) -> PageResult {
    let a = alerts::withdraw(&state.store, &staff.ctx, &id).await?;
    for s in alerts::affected_sites(&state.store, &a).await? {
        state.board.changed(&s);
    }
    Ok(Redirect::to("/alerts").into_response())
}
