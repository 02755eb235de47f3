//! Floor pages: the booth board and the actions on it (assign a space,
//! observation checks, end an episode, cleaning, after-care), and the
//! episode page with the full check form.
//!
//! Board actions are htmx posts from the shared live fragment. Success
//! answers with an empty problem slot (the board itself updates through
//! the live feed); a refusal answers 422 with the message for the slot.

use askama::Template;
use axum::{
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use haven_app::{AppError, floor, visits};
use haven_domain::{
    auth::Action,
    floor::{CheckDraft, EpisodeDraft},
};
use haven_store::{CheckRow, EpisodeRow, SpaceMark};

use crate::{
    AppState,
    error::PageError,
    form::FormData,
    security::Staff,
    views::{Chrome, Errors, PageResult, chrome, hhmm, render, site_of},
    views_emergency::{done, is_htmx},
};

#[derive(Template)]
#[template(path = "board.html")]
struct BoardPage {
    chrome: Chrome,
    fragment: String,
    problem: Option<String>,
}

/// `?problem=` after a plain-form action was refused.
#[derive(Debug, Default, serde::Deserialize)]
pub struct BoardQuery {
    #[serde(default)]
    problem: Option<String>,
}

/// `GET /board`: the site's board; the live feed keeps it current.
pub async fn board_page(
    State(state): State<AppState>,
    staff: Staff,
    axum::extract::Query(q): axum::extract::Query<BoardQuery>,
) -> PageResult {
    let site = site_of(&state, &staff).await?;
    let b = floor::board(&state.store, &staff.ctx, &site.id).await?;
    let fragment = crate::board::fragment(&site, &b)
        .render()
        .map_err(|e| PageError(AppError::Internal(e.to_string())))?;
    Ok(render(
        StatusCode::OK,
        &BoardPage {
            chrome: chrome(&staff, &site, "board", None),
            fragment,
            problem: q.problem,
        },
    ))
}

/// The answer to a board action: clear or fill the problem slot (htmx), or
/// back to the board (plain form).
fn board_answer(headers: &HeaderMap, problem: Option<(StatusCode, String)>) -> Response {
    if !is_htmx(headers) {
        return match problem {
            None => Redirect::to("/board").into_response(),
            Some((_, msg)) => {
                let q: String = form_urlencoded::byte_serialize(msg.as_bytes()).collect();
                Redirect::to(&format!("/board?problem={q}")).into_response()
            }
        };
    }
    let (status, body) = match problem {
        None => (StatusCode::OK, String::new()),
        Some((status, msg)) => (status, format!("<p class=\"problem\">{}</p>", escape(&msg))),
    };
    let mut r = (status, axum::response::Html(body)).into_response();
    r.headers_mut()
        .insert("HX-Retarget", HeaderValue::from_static("#board-problem"));
    r.headers_mut()
        .insert("HX-Reswap", HeaderValue::from_static("innerHTML"));
    r
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Maps a use-case result to a board answer; expected refusals become a
/// message, faults stay errors.
fn answer<T>(state: &AppState, site_id: Option<&str>, headers: &HeaderMap, r: Result<T, AppError>) -> PageResult {
    match r {
        Ok(_) => {
            if let Some(site) = site_id {
                state.board.changed(site);
            }
            Ok(board_answer(headers, None))
        }
        Err(AppError::Invalid(inv)) => {
            let msg = inv.0.iter().map(|e| e.message.clone()).collect::<Vec<_>>().join("; ");
            Ok(board_answer(headers, Some((StatusCode::UNPROCESSABLE_ENTITY, msg))))
        }
        Err(AppError::Conflict(msg)) => Ok(board_answer(headers, Some((StatusCode::CONFLICT, msg)))),
        Err(e) => Err(e.into()),
    }
}

/// `POST /episodes`: assign a space to a waiting person.
pub async fn episode_start(State(state): State<AppState>, staff: Staff, headers: HeaderMap, f: FormData) -> PageResult {
    let draft = EpisodeDraft {
        visit_id: f.get("visit_id").to_string(),
        space_id: f.get("space_id").to_string(),
        ..Default::default()
    };
    let r = floor::start_episode(&state.store, &staff.ctx, &draft).await;
    let site = r.as_ref().ok().map(|e| e.site_id.clone());
    answer(&state, site.as_deref(), &headers, r)
}

fn num(f: &FormData, name: &str, errors: &mut Errors) -> Option<u16> {
    let v = f.get(name).trim();
    if v.is_empty() {
        return None;
    }
    match v.parse::<u16>() {
        Ok(n) => Some(n),
        Err(_) => {
            errors
                .0
                .push(haven_domain::FieldError::new(name, "enter a whole number"));
            None
        }
    }
}

/// `POST /episodes/{id}/checks`: an observation check. "Unresponsive"
/// opens an emergency and takes the worker to its record.
pub async fn episode_check(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    f: FormData,
) -> PageResult {
    let mut errors = Errors::default();
    let draft = CheckDraft {
        status: f.get("status").to_string(),
        resp_rate: num(&f, "resp_rate", &mut errors),
        spo2: num(&f, "spo2", &mut errors),
        sedation: num(&f, "sedation", &mut errors),
        at: None,
    };
    let from_page = f.get("from") == "episode";
    if !errors.is_empty() {
        return if from_page {
            episode_page_with(
                &state,
                &staff,
                &id,
                CheckForm::from(&f),
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        } else {
            answer::<()>(&state, None, &headers, Err(haven_domain::Invalid(errors.0).into()))
        };
    }
    let r = floor::record_check(&state.store, &staff.ctx, &id, &draft).await;
    if let Ok(out) = &r {
        // The episode's own site, which need not be the session's.
        if let Ok(site) = state.store.episode_site(&id).await {
            state.board.changed(&site);
        }
        if let Some(eid) = &out.emergency_id {
            return Ok(done(&headers, &format!("/emergencies/{eid}")));
        }
        if from_page {
            return Ok(Redirect::to(&format!("/episodes/{id}?checked=1")).into_response());
        }
        return Ok(board_answer(&headers, None));
    }
    match r {
        Err(AppError::Invalid(inv)) if from_page => {
            episode_page_with(
                &state,
                &staff,
                &id,
                CheckForm::from(&f),
                Errors(inv.0),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        other => answer(&state, None, &headers, other),
    }
}

/// `POST /episodes/{id}/end`: ends the episode, then after-care (default)
/// or the person leaves (`then=leave` checks the visit out).
pub async fn episode_end(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    f: FormData,
) -> PageResult {
    let equipment_left = f.get("equipment_left") == "on" || f.get("equipment_left") == "true";
    let r = floor::end_episode(&state.store, &staff.ctx, &id, None, equipment_left).await;
    let e = match r {
        Ok(e) => e,
        Err(e) => return answer::<()>(&state, None, &headers, Err(e)),
    };
    let then = if f.get("then") == "leave" {
        visits::check_out(&state.store, &staff.ctx, &e.visit_id, None)
            .await
            .map(|_| ())
    } else {
        floor::enter_aftercare(&state.store, &staff.ctx, &e.visit_id, None)
            .await
            .map(|_| ())
    };
    if f.get("from") == "episode" && then.is_ok() {
        state.board.changed(&e.site_id);
        return Ok(Redirect::to("/board").into_response());
    }
    // The episode has ended either way; the board must show it.
    state.board.changed(&e.site_id);
    answer(&state, Some(&e.site_id), &headers, then)
}

/// `POST /spaces/{id}/mark`: cleaned, out of service, back in service.
pub async fn space_mark(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    f: FormData,
) -> PageResult {
    let site = site_of(&state, &staff).await?;
    let Some(mark) = SpaceMark::parse(f.get("mark")) else {
        let inv = haven_domain::Invalid::one("mark", "choose cleaned, out_of_service or in_service");
        return answer::<()>(&state, None, &headers, Err(inv.into()));
    };
    let r = floor::mark_space(&state.store, &staff.ctx, &site.id, &id, mark).await;
    answer(&state, Some(&site.id), &headers, r)
}

/// `POST /visits/{id}/aftercare`: into after-care.
pub async fn aftercare_enter(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> PageResult {
    let r = floor::enter_aftercare(&state.store, &staff.ctx, &id, None).await;
    let site = r.as_ref().ok().map(|a| a.site_id.clone());
    answer(&state, site.as_deref(), &headers, r)
}

/// `POST /aftercare/{id}/leave`: leaves after-care and the building (the
/// visit is checked out), with an optional observation note.
pub async fn aftercare_leave(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    f: FormData,
) -> PageResult {
    let r = floor::leave_aftercare(&state.store, &staff.ctx, &id, f.get("observation"), None).await;
    let a = match r {
        Ok(a) => a,
        Err(e) => return answer::<()>(&state, None, &headers, Err(e)),
    };
    state.board.changed(&a.site_id);
    let out = visits::check_out(&state.store, &staff.ctx, &a.visit_id, None).await;
    answer(&state, Some(&a.site_id), &headers, out)
}

/// The check form's input, kept on error.
#[derive(Debug, Clone, Default)]
pub struct CheckForm {
    status: String,
    resp_rate: String,
    spo2: String,
    sedation: String,
}

impl From<&FormData> for CheckForm {
    fn from(f: &FormData) -> Self {
        Self {
            status: f.get("status").into(),
            resp_rate: f.get("resp_rate").into(),
            spo2: f.get("spo2").into(),
            sedation: f.get("sedation").into(),
        }
    }
}

/// A check as a table row.
#[derive(Debug, Clone)]
pub struct CheckLine {
    at: String,
    status: String,
    resp_rate: String,
    spo2: String,
    sedation: String,
}

fn check_line(site: &haven_store::SiteRow, c: &CheckRow) -> CheckLine {
    let opt = |v: Option<i32>| v.map(|n| n.to_string()).unwrap_or_default();
    CheckLine {
        at: hhmm(site, c.at),
        status: c.status.clone(),
        resp_rate: opt(c.resp_rate),
        spo2: opt(c.spo2),
        sedation: opt(c.sedation),
    }
}

#[derive(Template)]
#[template(path = "episode.html")]
struct EpisodePage {
    chrome: Chrome,
    e: EpisodeRow,
    started: String,
    ended: String,
    substances: String,
    checks: Vec<CheckLine>,
    form: CheckForm,
    errors: Errors,
    can_record: bool,
}

async fn episode_page_with(
    state: &AppState,
    staff: &Staff,
    id: &str,
    form: CheckForm,
    errors: Errors,
    status: StatusCode,
) -> PageResult {
    let site = site_of(state, staff).await?;
    let e = floor::episode(&state.store, &staff.ctx, id).await?;
    let checks = floor::checks(&state.store, &staff.ctx, id).await?;
    Ok(render(
        status,
        &EpisodePage {
            chrome: chrome(staff, &site, "board", None),
            started: hhmm(&site, e.started_at),
            ended: e.ended_at.map(|t| hhmm(&site, t)).unwrap_or_default(),
            substances: e.substance_list().join(" + "),
            checks: checks.iter().map(|c| check_line(&site, c)).collect(),
            can_record: staff.ctx.can(Action::RecordEpisode, &e.site_id),
            e,
            form,
            errors,
        },
    ))
}

/// `GET /episodes/{id}`: one episode with its checks and the full check form.
pub async fn episode_page(State(state): State<AppState>, staff: Staff, Path(id): Path<String>) -> PageResult {
    episode_page_with(
        &state,
        &staff,
        &id,
        CheckForm::default(),
        Errors::default(),
        StatusCode::OK,
    )
    .await
}
