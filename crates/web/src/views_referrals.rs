//! The referrals pages: the follow-up list of referrals with no news for the
//! site's follow-up interval, making a referral by client code, and one
//! referral with its dated steps and a form for the next step.

use askama::Template;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect},
};
use haven_app::{
    AppError, clients,
    referrals::{self, ReferralView},
};
use haven_domain::{
    FieldError,
    auth::Action,
    care::{ReferralStatus, referral_category_label},
};
use haven_store::SiteRow;
use time::Date;

use crate::{
    AppState,
    form::FormData,
    security::Staff,
    views::{Chrome, Errors, PageResult, chrome, local_datetime, render, site_of},
    views_emergency::with_banner,
};

/// The make-a-referral form's input, kept on error.
#[derive(Debug, Clone, Default)]
pub struct ReferralForm {
    client_code: String,
    category: String,
    made_on: String,
    note: String,
}

/// The next-step form's input, kept on error.
#[derive(Debug, Clone, Default)]
pub struct StepForm {
    status: String,
    on: String,
    note: String,
}

/// A referral as a row of the follow-up list.
#[derive(Debug, Clone)]
pub struct FollowUpItem {
    id: String,
    client_code: String,
    category: String,
    made_on: String,
    status: String,
    last_step: String,
}

/// One dated step of a referral.
#[derive(Debug, Clone)]
pub struct StepItem {
    status: String,
    on: String,
    note: Option<String>,
    recorded: String,
}

/// A choice in a select or radio group: code and label.
#[derive(Debug, Clone)]
pub struct Choice {
    code: String,
    label: String,
}

#[derive(Template)]
#[template(path = "referrals.html")]
struct ReferralsPage {
    chrome: Chrome,
    follow_up: Vec<FollowUpItem>,
    follow_up_days: u32,
    categories: Vec<Choice>,
    form: ReferralForm,
    errors: Errors,
    can_make: bool,
}

#[derive(Template)]
#[template(path = "referral.html")]
struct ReferralPage {
    chrome: Chrome,
    id: String,
    client_id: String,
    client_code: String,
    category: String,
    made_on: String,
    status: String,
    needs_follow_up: bool,
    steps: Vec<StepItem>,
    next: Vec<Choice>,
    form: StepForm,
    errors: Errors,
    can_update: bool,
}

/// Parses a `YYYY-MM-DD` date input; blank is `None` (the app takes today).
fn parse_date(field: &str, s: &str) -> Result<Option<Date>, FieldError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .map(Some)
        .map_err(|_| FieldError::new(field, "give a date as YYYY-MM-DD"))
}

/// Today at the site as `YYYY-MM-DD`, or blank when the zone is bad (the app
/// then takes today itself).
async fn today_of(state: &AppState, site: &SiteRow) -> String {
    haven_app::visits::today(&state.store, &site.id)
        .await
        .map(|d| d.to_string())
        .unwrap_or_default()
}

fn status_label(code: &str) -> String {
    ReferralStatus::parse(code).map_or_else(|| code.to_string(), |s| s.label().to_string())
}

async fn referrals_render(
    state: &AppState,
    staff: &Staff,
    form: ReferralForm,
    errors: Errors,
    status: StatusCode,
) -> PageResult {
    let site = site_of(state, staff).await?;
    let rows = referrals::follow_up(&state.store, &staff.ctx, &site.id).await?;
    let care = clients::settings_of(&site).care;
    let staff = with_banner(state, staff).await;
    Ok(render(
        status,
        &ReferralsPage {
            chrome: chrome(&staff, &site, "referrals", None),
            follow_up: rows
                .iter()
                .map(|v| FollowUpItem {
                    id: v.referral.id.clone(),
                    client_code: v.referral.client_code.clone(),
                    category: referral_category_label(&v.referral.category),
                    made_on: v.referral.made_on.to_string(),
                    status: v.status.label().to_string(),
                    last_step: v
                        .events
                        .last()
                        .map_or_else(|| v.referral.made_on.to_string(), |e| e.on_date.to_string()),
                })
                .collect(),
            follow_up_days: care.follow_up_days,
            categories: care
                .referral_categories
                .iter()
                .map(|c| Choice {
                    code: c.clone(),
                    label: referral_category_label(c),
                })
                .collect(),
            can_make: staff.ctx.can(Action::RecordVisit, &site.id),
            form,
            errors,
        },
    ))
}

/// `?client=CODE`: the form starts with that client (from a visit's page).
#[derive(Debug, Default, serde::Deserialize)]
pub struct ReferralsQuery {
    #[serde(default)]
    client: String,
}

/// `GET /referrals`: the follow-up list and the form to make a referral.
pub async fn referrals_page(
    State(state): State<AppState>,
    staff: Staff,
    axum::extract::Query(q): axum::extract::Query<ReferralsQuery>,
) -> PageResult {
    let site = site_of(&state, &staff).await?;
    let form = ReferralForm {
        client_code: q.client.trim().to_string(),
        made_on: today_of(&state, &site).await,
        ..Default::default()
    };
    referrals_render(&state, &staff, form, Errors::default(), StatusCode::OK).await
}

/// `POST /referrals`: makes a referral for the client with the code given,
/// then shows it.
pub async fn referral_make(State(state): State<AppState>, staff: Staff, f: FormData) -> PageResult {
    let site = site_of(&state, &staff).await?;
    let form = ReferralForm {
        client_code: f.get("client_code").trim().to_string(),
        category: f.get("category").trim().to_string(),
        made_on: f.get("made_on").trim().to_string(),
        note: f.get("note").to_string(),
    };
    let mut errors = Vec::new();
    let made_on = parse_date("made_on", &form.made_on).unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    let client_id = if form.client_code.is_empty() {
        errors.push(FieldError::new("client_code", "give the client's code"));
        None
    } else {
        let found = clients::search(&state.store, &staff.ctx, &site.id, &form.client_code).await?;
        let hit = found
            .into_iter()
            .find(|c| c.code.eq_ignore_ascii_case(&form.client_code));
        match hit {
            Some(c) => Some(c.merged_into.unwrap_or(c.id)),
            None => {
                errors.push(FieldError::new(
                    "client_code",
                    format!("no client with code {} at this site", form.client_code),
                ));
                None
            }
        }
    };
    let Some(client_id) = client_id.filter(|_| errors.is_empty()) else {
        return referrals_render(&state, &staff, form, Errors(errors), StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    match referrals::make(
        &state.store,
        &staff.ctx,
        &client_id,
        &form.category,
        made_on,
        Some(form.note.as_str()),
    )
    .await
    {
        Ok(v) => Ok(Redirect::to(&format!("/referrals/{}", v.referral.id)).into_response()),
        Err(AppError::Invalid(inv)) => {
            let errors = inv
                .0
                .into_iter()
                .map(|mut e| {
                    if e.field == "client_id" {
                        e.field = "client_code".into();
                    }
                    e
                })
                .collect();
            referrals_render(&state, &staff, form, Errors(errors), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn referral_render(
    state: &AppState,
    staff: &Staff,
    id: &str,
    form: Option<StepForm>,
    errors: Errors,
    status: StatusCode,
) -> PageResult {
    let site = site_of(state, staff).await?;
    let v: ReferralView = referrals::view(&state.store, &staff.ctx, id).await?;
    // The referral may belong to another of the staff member's sites.
    let rsite = if v.referral.site_id == site.id {
        site.clone()
    } else {
        state.store.site(&v.referral.site_id).await.map_err(AppError::from)?
    };
    let form = match form {
        Some(f) => f,
        None => StepForm {
            on: today_of(state, &rsite).await,
            ..Default::default()
        },
    };
    let staff = with_banner(state, staff).await;
    Ok(render(
        status,
        &ReferralPage {
            chrome: chrome(&staff, &site, "referrals", None),
            id: v.referral.id.clone(),
            client_id: v.referral.client_id.clone(),
            client_code: v.referral.client_code.clone(),
            category: referral_category_label(&v.referral.category),
            made_on: v.referral.made_on.to_string(),
            status: v.status.label().to_string(),
            needs_follow_up: v.needs_follow_up,
            steps: v
                .events
                .iter()
                .map(|e| StepItem {
                    status: status_label(&e.status),
                    on: e.on_date.to_string(),
                    note: e.note.clone(),
                    recorded: local_datetime(&rsite, e.recorded_at),
                })
                .collect(),
            next: v
                .status
                .allowed_next()
                .iter()
                .map(|s| Choice {
                    code: s.as_str().to_string(),
                    label: s.label().to_string(),
                })
                .collect(),
            can_update: staff.ctx.can(Action::RecordVisit, &v.referral.site_id),
            form,
            errors,
        },
    ))
}

/// `GET /referrals/{id}`: one referral with its steps.
pub async fn referral_page(State(state): State<AppState>, staff: Staff, Path(id): Path<String>) -> PageResult {
    referral_render(&state, &staff, &id, None, Errors::default(), StatusCode::OK).await
}

/// `POST /referrals/{id}/events`: records the next step.
pub async fn referral_event(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    f: FormData,
) -> PageResult {
    let form = StepForm {
        status: f.get("status").trim().to_string(),
        on: f.get("on").trim().to_string(),
        note: f.get("note").to_string(),
    };
    let mut errors = Vec::new();
    if form.status.is_empty() {
        errors.push(FieldError::new("status", "choose the next step"));
    }
    let on = parse_date("on", &form.on).unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    if !errors.is_empty() {
        return referral_render(
            &state,
            &staff,
            &id,
            Some(form),
            Errors(errors),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    match referrals::update(
        &state.store,
        &staff.ctx,
        &id,
        &form.status,
        on,
        Some(form.note.as_str()),
    )
    .await
    {
        Ok(v) => Ok(Redirect::to(&format!("/referrals/{}", v.referral.id)).into_response()),
        Err(AppError::Invalid(inv)) => {
            referral_render(
                &state,
                &staff,
                &id,
                Some(form),
                Errors(inv.0),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
