//! Staff pages. Each handler: who is asking (from the session, never the
//! form), what they sent, one use case, then a page or a redirect. Forms that
//! fail validation are shown again with the input kept and the message at
//! the field (status 422).

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use haven_app::{AppError, clients, sites, visits};
use haven_domain::{
    FieldError, Invalid,
    auth::{Action, Role},
    client::{ClientDraft, IdentityDraft},
    visit::{CheckInDraft, OTHERWISE_PLACES},
};
use haven_store::{ClientRow, SiteRow, VisitRow};
use serde::Deserialize;

use crate::{
    AppState,
    error::{PageError, error_page},
    form::FormData,
    security::{ClientIp, RequestId, Staff, clear_cookie, session_cookie},
};

pub(crate) type PageResult = Result<Response, PageError>;

/// Renders a template with a status.
pub(crate) fn render<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => {
            let mut r = (status, Html(html)).into_response();
            r.headers_mut()
                .insert(header::VARY, HeaderValue::from_static("HX-Request, Cookie"));
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                error_page("Internal error", "the page could not be shown"),
            )
                .into_response()
        }
    }
}

/// Field errors as a template helper.
#[derive(Debug, Clone, Default)]
pub struct Errors(pub Vec<FieldError>);

impl Errors {
    /// The first message for a field.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.iter().find(|e| e.field == field).map(|e| e.message.as_str())
    }
    /// No errors.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What every page's frame shows.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub(crate) username: String,
    pub(crate) role: String,
    pub(crate) site_code: String,
    pub(crate) site_name: String,
    pub(crate) csrf: String,
    pub(crate) can_visit: bool,
    pub(crate) can_clients: bool,
    pub(crate) can_admin: bool,
    pub(crate) current: &'static str,
    pub(crate) notice: Option<String>,
    pub(crate) can_floor: bool,
    pub(crate) can_alerts: bool,
    /// Hand out supplies, see stock.
    pub(crate) can_supplies: bool,
    /// See street audits and needle reports (aggregates, no client data).
    pub(crate) can_community: bool,
    /// Open emergencies at the site: shown on every page until closed.
    pub(crate) emergencies: Vec<crate::board::EmergencyLine>,
    /// Alerts showing at the site: on every page until they expire or are withdrawn.
    pub(crate) alerts: Vec<crate::board::AlertLine>,
}

pub(crate) async fn site_of(state: &AppState, staff: &Staff) -> Result<SiteRow, PageError> {
    let Some(site_id) = &staff.site_id else {
        return Err(PageError(AppError::Conflict(
            "your account has no role at any site; ask a manager".into(),
        )));
    };
    Ok(state.store.site(site_id).await.map_err(AppError::from)?)
}

pub(crate) fn chrome(staff: &Staff, site: &SiteRow, current: &'static str, notice: Option<String>) -> Chrome {
    let ctx = &staff.ctx;
    Chrome {
        username: ctx.actor.username.clone(),
        role: ctx.actor.role_at(&site.id).map(Role::as_str).unwrap_or("").to_string(),
        site_code: site.code.clone(),
        site_name: site.name.clone(),
        csrf: staff.csrf(),
        can_visit: ctx.can(Action::RecordVisit, &site.id),
        can_clients: ctx.can(Action::ViewClient, &site.id),
        can_admin: ctx.can(Action::ManageSite, &site.id) || ctx.can(Action::ManageStaff, &site.id),
        current,
        notice,
        can_floor: ctx.can(Action::ViewFloor, &site.id),
        can_alerts: ctx.can(Action::ManageAlerts, &site.id),
        can_supplies: ctx.can(Action::RecordSupplies, &site.id) || ctx.can(Action::ManageStock, &site.id),
        can_community: ctx.can(Action::RecordCommunityAudit, &site.id) || ctx.can(Action::ViewAggregates, &site.id),
        emergencies: staff
            .emergencies
            .iter()
            .map(|e| crate::board::emergency_line(site, e))
            .collect(),
        alerts: staff.alerts.iter().map(|a| crate::board::alert_line(site, a)).collect(),
    }
}

pub(crate) fn hhmm(site: &SiteRow, t: time::OffsetDateTime) -> String {
    haven_domain::clock::local_hhmm(&site.timezone, t)
}

pub(crate) fn local_datetime(site: &SiteRow, t: time::OffsetDateTime) -> String {
    let d = haven_domain::clock::local_date(&site.timezone, t)
        .map(|d| d.to_string())
        .unwrap_or_default();
    format!("{d} {}", hhmm(site, t))
}

/// A visit as a table row.
#[derive(Debug, Clone)]
pub struct VisitLine {
    id: String,
    client_id: String,
    client_code: String,
    arrived: String,
    left: String,
    substances: String,
    route: String,
    status: String,
    voided: bool,
    void_reason: String,
    open: bool,
}

fn visit_line(site: &SiteRow, v: &VisitRow, with_date: bool) -> VisitLine {
    let fmt = |t| {
        if with_date {
            local_datetime(site, t)
        } else {
            hhmm(site, t)
        }
    };
    VisitLine {
        id: v.id.clone(),
        client_id: v.client_id.clone(),
        client_code: v.client_code.clone(),
        arrived: fmt(v.arrived_at),
        left: v.left_at.map(fmt).unwrap_or_default(),
        substances: v.substance_list().join(" + "),
        route: v.route.clone().unwrap_or_else(|| {
            if v.status == "refused" {
                String::new()
            } else {
                "no consumption".into()
            }
        }),
        status: match (&v.status[..], &v.refusal_reason) {
            ("refused", Some(r)) => format!("refused: {r}"),
            (s, _) => s.to_string(),
        },
        voided: v.voided_at.is_some(),
        void_reason: v.void_reason.clone().unwrap_or_default(),
        open: v.status == "attended" && v.left_at.is_none() && v.voided_at.is_none(),
    }
}

// ---------- login ----------

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    message: Option<String>,
    expired: bool,
    changed: bool,
    /// A form sent after the session ended, urlencoded, carried through the login.
    saved_form: String,
    next: String,
    username: String,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    next: String,
    #[serde(default)]
    expired: Option<String>,
    #[serde(default)]
    changed: Option<String>,
}

/// Only local paths are followed after login (no open redirect).
fn safe_next(next: &str) -> String {
    if next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\") && !next.starts_with("/logout") {
        next.to_string()
    } else {
        "/".to_string()
    }
}

pub async fn login_page(staff: Option<Staff>, Query(q): Query<LoginQuery>) -> Response {
    if staff.is_some() {
        return Redirect::to("/").into_response();
    }
    render(
        StatusCode::OK,
        &LoginPage {
            message: None,
            expired: q.expired.is_some(),
            changed: q.changed.is_some(),
            saved_form: String::new(),
            next: safe_next(&q.next),
            username: String::new(),
        },
    )
}

pub async fn login_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    RequestId(rid): RequestId,
    form: FormData,
) -> Response {
    let username = form.get("username").trim().to_string();
    let next = safe_next(form.get("next"));
    let saved_form = form.get("saved_form").to_string();
    let window = state.config.login_window;
    let max = state.config.login_attempts;
    let ip_key = format!("ip:{ip}");
    let user_key = format!("user:{}", username.to_lowercase());
    let again = |status, message: &str| {
        render(
            status,
            &LoginPage {
                message: Some(message.into()),
                expired: false,
                changed: false,
                saved_form: saved_form.clone(),
                next: next.clone(),
                username: username.clone(),
            },
        )
    };
    if state.limiter.blocked(&ip_key, max, window) || state.limiter.blocked(&user_key, max, window) {
        return again(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed attempts. Wait a few minutes and try again.",
        );
    }
    match haven_app::auth::login(&state.store, &username, form.get("password"), &rid).await {
        Ok(s) => {
            let mut r = if saved_form.is_empty() {
                Redirect::to(&next).into_response()
            } else {
                let fields = FormData::parse(saved_form.as_bytes()).0;
                render(
                    StatusCode::OK,
                    &ResumePage {
                        action: next.clone(),
                        fields,
                        csrf: s.row.csrf_token.clone(),
                    },
                )
            };
            if let Ok(v) = HeaderValue::from_str(&session_cookie(&state, &s.secret)) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Err(AppError::Unauthenticated) => {
            state.limiter.fail(&ip_key, window);
            state.limiter.fail(&user_key, window);
            again(StatusCode::UNAUTHORIZED, "The username or password is not right.")
        }
        Err(e) => PageError(e).into_response(),
    }
}

/// Fields never carried through a login: the old token and any password.
fn keepable(name: &str) -> bool {
    name != "csrf" && !name.contains("password")
}

/// The login page for a form that arrived after its session ended: the
/// fields ride along (hidden, escaped) and are offered back after login.
pub fn login_keeping_form(path: &str, body: &[u8]) -> Response {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in FormData::parse(body).0.iter().filter(|(k, _)| keepable(k)) {
        ser.append_pair(k, v);
    }
    render(
        StatusCode::UNAUTHORIZED,
        &LoginPage {
            message: None,
            expired: true,
            changed: false,
            saved_form: ser.finish(),
            next: safe_next(path),
            username: String::new(),
        },
    )
}

#[derive(Template)]
#[template(path = "resume.html")]
struct ResumePage {
    action: String,
    fields: Vec<(String, String)>,
    csrf: String,
}

pub async fn logout(State(state): State<AppState>, staff: Staff) -> PageResult {
    if let Some(secret) = &staff.secret {
        haven_app::auth::logout(&state.store, secret, &staff.ctx.actor, &staff.ctx.request_id).await?;
    }
    let mut r = Redirect::to("/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&clear_cookie(&state)) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(r)
}

// ---------- account ----------

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Chrome,
    errors: Errors,
}

pub async fn account_page(State(state): State<AppState>, staff: Staff) -> PageResult {
    let site = site_of(&state, &staff).await?;
    Ok(render(
        StatusCode::OK,
        &AccountPage {
            chrome: chrome(&staff, &site, "account", None),
            errors: Errors::default(),
        },
    ))
}

pub async fn account_password(State(state): State<AppState>, staff: Staff, f: FormData) -> PageResult {
    let site = site_of(&state, &staff).await?;
    let again = |errors: Vec<FieldError>| {
        render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &AccountPage {
                chrome: chrome(&staff, &site, "account", None),
                errors: Errors(errors),
            },
        )
    };
    if f.get("new_password") != f.get("confirm_password") {
        return Ok(again(vec![FieldError::new(
            "confirm_password",
            "does not match the new password",
        )]));
    }
    match haven_app::auth::change_own_password(
        &state.store,
        &staff.ctx.actor,
        f.get("current_password"),
        f.get("new_password"),
        &staff.ctx.request_id,
    )
    .await
    {
        Ok(()) => {
            let mut r = Redirect::to("/login?changed=1").into_response();
            if let Ok(v) = HeaderValue::from_str(&clear_cookie(&state)) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            Ok(r)
        }
        Err(AppError::Invalid(inv)) => Ok(again(inv.0)),
        Err(e) => Err(e.into()),
    }
}

// ---------- home ----------

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    date: String,
    opens: String,
    closes: String,
    timezone: String,
    figures: haven_domain::visit::DayFigures,
    sites: Vec<(String, String)>,
}

pub async fn home(State(state): State<AppState>, staff: Staff) -> PageResult {
    let site = site_of(&state, &staff).await?;
    let figures = visits::today_figures(&state.store, &staff.ctx, &site.id).await?;
    let date = visits::today(&state.store, &site.id).await?;
    let sites = sites::my_sites(&state.store, &staff.ctx)
        .await?
        .into_iter()
        .map(|s| (s.id, format!("{} {}", s.code, s.name)))
        .collect();
    Ok(render(
        StatusCode::OK,
        &HomePage {
            chrome: chrome(&staff, &site, "home", None),
            date: date.to_string(),
            opens: site.opens.clone(),
            closes: site.closes.clone(),
            timezone: site.timezone.clone(),
            figures,
            sites,
        },
    ))
}

pub async fn switch_site(State(state): State<AppState>, staff: Staff, form: FormData) -> PageResult {
    let site_id = form.get("site_id");
    let Some(session) = &staff.session else {
        return Ok(Redirect::to("/").into_response());
    };
    if staff.ctx.actor.role_at(site_id).is_none() {
        return Err(PageError(AppError::NotFound));
    }
    state
        .store
        .set_session_site(&session.id_hash, site_id)
        .await
        .map_err(AppError::from)?;
    Ok(Redirect::to("/").into_response())
}

// ---------- clients ----------

#[derive(Template)]
#[template(path = "clients.html")]
struct ClientsPage {
    chrome: Chrome,
    q: String,
    clients: Vec<ClientRow>,
    similar: Vec<clients::Suggestion>,
}

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

pub async fn clients(State(state): State<AppState>, staff: Staff, Query(q): Query<SearchQuery>) -> PageResult {
    let site = site_of(&state, &staff).await?;
    let found = clients::search(&state.store, &staff.ctx, &site.id, &q.q).await?;
    let similar = if found.is_empty() {
        clients::similar(&state.store, &staff.ctx, &site.id, &q.q).await?
    } else {
        Vec::new()
    };
    Ok(render(
        StatusCode::OK,
        &ClientsPage {
            chrome: chrome(&staff, &site, "clients", None),
            q: q.q,
            clients: found,
            similar,
        },
    ))
}

/// The registration form's fields, kept on error.
#[derive(Debug, Clone, Default)]
pub struct ClientForm {
    year_of_birth: String,
    gender: String,
    home_area: String,
    alias: String,
    flags: Vec<String>,
    letters: String,
    family_name: String,
    given_name: String,
    date_of_birth: String,
    identity_name: String,
    identity_chi: String,
}

#[derive(Template)]
#[template(path = "client_new.html")]
struct ClientNewPage {
    chrome: Chrome,
    form: ClientForm,
    errors: Errors,
    suggestions: Vec<clients::Suggestion>,
    scheme: String,
    genders: Vec<String>,
    flag_options: Vec<String>,
}

fn client_new_page(
    staff: &Staff,
    site: &SiteRow,
    form: ClientForm,
    errors: Errors,
    suggestions: Vec<clients::Suggestion>,
) -> ClientNewPage {
    let settings = clients::settings_of(site);
    ClientNewPage {
        chrome: chrome(staff, site, "clients", None),
        form,
        errors,
        suggestions,
        scheme: site.code_scheme.clone(),
        genders: settings.genders,
        flag_options: settings.client_flags,
    }
}

pub async fn client_new(State(state): State<AppState>, staff: Staff) -> PageResult {
    let site = site_of(&state, &staff).await?;
    staff.ctx.allow(&state.store, Action::RegisterClient, &site.id).await?;
    Ok(render(
        StatusCode::OK,
        &client_new_page(&staff, &site, ClientForm::default(), Errors::default(), Vec::new()),
    ))
}

pub async fn client_create(State(state): State<AppState>, staff: Staff, f: FormData) -> PageResult {
    let site = site_of(&state, &staff).await?;
    let form = ClientForm {
        year_of_birth: f.get("year_of_birth").trim().into(),
        gender: f.get("gender").into(),
        home_area: f.get("home_area").into(),
        alias: f.get("alias").into(),
        flags: f.all("flags"),
        letters: f.get("letters").into(),
        family_name: f.get("family_name").into(),
        given_name: f.get("given_name").into(),
        date_of_birth: f.get("date_of_birth").into(),
        identity_name: f.get("identity_name").into(),
        identity_chi: f.get("identity_chi").into(),
    };
    let mut pre = Invalid::default();
    let year_of_birth = match form.year_of_birth.parse::<i32>() {
        Ok(y) => Some(y),
        Err(_) if form.year_of_birth.is_empty() => None,
        Err(_) => {
            pre.push("year_of_birth", "enter a year as four digits, e.g. 1984");
            None
        }
    };
    let date_of_birth = match f.opt("date_of_birth") {
        None => None,
        Some(d) => match time::Date::parse(&d, time::macros::format_description!("[year]-[month]-[day]")) {
            Ok(d) => Some(d),
            Err(_) => {
                pre.push("date_of_birth", "enter a date as YYYY-MM-DD");
                None
            }
        },
    };
    if !pre.0.is_empty() {
        return Ok(render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &client_new_page(&staff, &site, form, Errors(pre.0), Vec::new()),
        ));
    }
    let identity = (f.opt("identity_name").is_some() || f.opt("identity_chi").is_some()).then(|| IdentityDraft {
        name: f.opt("identity_name"),
        chi: f.opt("identity_chi"),
        other_number: None,
    });
    let draft = ClientDraft {
        year_of_birth,
        gender: form.gender.clone(),
        home_area: form.home_area.clone(),
        alias: f.opt("alias"),
        flags: form.flags.clone(),
        letters: f.opt("letters"),
        family_name: f.opt("family_name"),
        given_name: f.opt("given_name"),
        date_of_birth,
        identity,
        code: None,
    };
    let confirmed = f.get("confirm") == "1";
    match clients::register(&state.store, &staff.ctx, &site.id, &draft, confirmed).await {
        Ok(clients::Registration::Created(c)) => {
            Ok(Redirect::to(&format!("/clients/{}?registered=1", c.id)).into_response())
        }
        Ok(clients::Registration::PossibleDuplicates(s)) => Ok(render(
            StatusCode::OK,
            &client_new_page(&staff, &site, form, Errors::default(), s),
        )),
        Err(AppError::Invalid(inv)) => Ok(render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &client_new_page(&staff, &site, form, Errors(inv.0), Vec::new()),
        )),
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "client.html")]
struct ClientPage {
    chrome: Chrome,
    client: ClientRow,
    registered: String,
    flags: Vec<String>,
    identity: Option<haven_store::IdentityRow>,
    visits: Vec<VisitLine>,
    merges: Vec<haven_store::MergeRow>,
    can_merge: bool,
    merge_form: (String, String),
    merge_error: Option<String>,
    access_log: Option<Vec<(String, String, String, String)>>,
}

#[derive(Deserialize, Default)]
pub struct ClientQuery {
    #[serde(default)]
    registered: Option<String>,
    #[serde(default)]
    merged: Option<String>,
}

async fn client_page_with(
    state: &AppState,
    staff: &Staff,
    id: &str,
    notice: Option<String>,
    merge_form: (String, String),
    merge_error: Option<String>,
) -> PageResult {
    let site = site_of(state, staff).await?;
    let view = clients::view(&state.store, &staff.ctx, &site.id, id).await?;
    let access_log = view.access_log.map(|rows| {
        rows.into_iter()
            .map(|a| {
                let when = haven_domain::clock::rfc3339(a.at);
                (
                    when,
                    a.actor_name,
                    a.role.unwrap_or_default(),
                    format!("{} {}", a.action, a.subject_type),
                )
            })
            .collect()
    });
    let status = if merge_error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(render(
        status,
        &ClientPage {
            chrome: chrome(staff, &site, "clients", notice),
            registered: local_datetime(&site, view.client.registered_at),
            flags: view.client.flag_list(),
            visits: view.visits.iter().map(|v| visit_line(&site, v, true)).collect(),
            client: view.client,
            identity: view.identity,
            merges: view.merges,
            can_merge: staff.ctx.can(Action::MergeClients, &site.id),
            merge_form,
            merge_error,
            access_log,
        },
    ))
}

pub async fn client_page(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    Query(q): Query<ClientQuery>,
) -> PageResult {
    let notice = if q.registered.is_some() {
        Some("Client registered.".to_string())
    } else if q.merged.is_some() {
        Some("Records merged.".to_string())
    } else {
        None
    };
    client_page_with(&state, &staff, &id, notice, Default::default(), None).await
}

pub async fn client_merge(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    f: FormData,
) -> PageResult {
    let site = site_of(&state, &staff).await?;
    let from_code = f.get("from_code").trim().to_string();
    let reason = f.get("reason").to_string();
    let from = match state.store.client_by_code(&site.id, &from_code).await {
        Ok(c) => c,
        Err(_) => {
            return client_page_with(
                &state,
                &staff,
                &id,
                None,
                (from_code.clone(), reason),
                Some(format!("no client with code {from_code} at this site")),
            )
            .await;
        }
    };
    match clients::merge(&state.store, &staff.ctx, &site.id, &from.id, &id, &reason).await {
        Ok(_) => Ok(Redirect::to(&format!("/clients/{id}?merged=1")).into_response()),
        Err(AppError::Invalid(inv)) => {
            let m = inv.0.first().map(|e| e.message.clone()).unwrap_or_default();
            client_page_with(&state, &staff, &id, None, (from_code, reason), Some(m)).await
        }
        Err(AppError::Conflict(m)) => client_page_with(&state, &staff, &id, None, (from_code, reason), Some(m)).await,
        Err(e) => Err(e.into()),
    }
}

pub async fn client_unmerge(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    f: FormData,
) -> PageResult {
    let site = site_of(&state, &staff).await?;
    clients::unmerge(&state.store, &staff.ctx, &site.id, f.get("merge_id")).await?;
    Ok(Redirect::to(&format!("/clients/{id}")).into_response())
}

// ---------- check-in ----------

/// The check-in form's fields, kept on error.
#[derive(Debug, Clone, Default)]
pub struct CheckInForm {
    substances: Vec<String>,
    route: String,
    otherwise_place: String,
    /// Eligibility questions answered yes (their form fields, `elig_<rule>`).
    answers: Vec<String>,
    override_reason: String,
}

impl CheckInForm {
    /// Whether the eligibility question `code` was answered yes.
    pub fn answered(&self, code: &str) -> bool {
        self.answers.iter().any(|a| a == code)
    }
}

/// A failing eligibility rule, as the "not eligible" box shows it.
#[derive(Debug, Clone)]
pub struct FailedRule {
    /// Rule code (also the refusal reason).
    code: String,
    /// Label.
    label: &'static str,
    /// Why it failed, e.g. "under 18 (born 2010)".
    message: String,
}

/// The staff-judgement questions, as (rule code, form field, question).
const ELIGIBILITY_QUESTIONS: [(&str, &str, &str); 5] = [
    ("intoxicated", "elig_intoxicated", "Visibly intoxicated"),
    ("pregnant", "elig_pregnant", "Pregnant"),
    (
        "accompanied_by_child",
        "elig_accompanied_by_child",
        "Accompanied by a child",
    ),
    (
        "first_time_user",
        "elig_first_time_user",
        "First-time or occasional user",
    ),
    ("on_ost", "elig_on_ost", "On opioid substitution treatment (OST)"),
];

/// The questions of the rules switched on at the site.
fn eligibility_questions(rules: &haven_domain::eligibility::EligibilityRules) -> Vec<(&'static str, &'static str)> {
    ELIGIBILITY_QUESTIONS
        .iter()
        .filter(|(code, _, _)| match *code {
            "intoxicated" => rules.intoxicated.enabled,
            "pregnant" => rules.pregnant.enabled,
            "accompanied_by_child" => rules.accompanied_by_child.enabled,
            "first_time_user" => rules.first_time_user.enabled,
            "on_ost" => rules.ost.mode != haven_domain::eligibility::OstMode::Admit,
            _ => false,
        })
        .map(|(_, field, question)| (*field, *question))
        .collect()
}

#[derive(Template)]
#[template(path = "checkin.html")]
struct CheckInPage {
    chrome: Chrome,
    q: String,
    matches: Vec<ClientRow>,
    similar: Vec<clients::Suggestion>,
    selected: Option<ClientRow>,
    form: CheckInForm,
    errors: Errors,
    substances: Vec<String>,
    routes: Vec<String>,
    places: Vec<&'static str>,
    refusal_reasons: Vec<String>,
    /// (form field, question) of the eligibility rules on at the site.
    questions: Vec<(&'static str, &'static str)>,
    /// Failing rules after a refused check-in.
    not_eligible: Vec<FailedRule>,
    can_override: bool,
}

impl CheckInPage {
    /// Errors for the summary at the top: the eligibility result has its own box.
    fn summary(&self) -> Vec<&FieldError> {
        self.errors
            .0
            .iter()
            .filter(|e| self.not_eligible.is_empty() || (e.field != "eligibility" && e.field != "override_reason"))
            .collect()
    }

    /// The failing rules' labels, for the heading of the box.
    fn not_eligible_labels(&self) -> String {
        self.not_eligible.iter().map(|r| r.label).collect::<Vec<_>>().join(", ")
    }
}

#[derive(Deserialize, Default)]
pub struct CheckInQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    client: Option<String>,
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    refused: Option<String>,
}

#[allow(clippy::too_many_arguments)]
fn checkin_page_for(
    staff: &Staff,
    site: &SiteRow,
    q: String,
    matches: Vec<ClientRow>,
    similar: Vec<clients::Suggestion>,
    selected: Option<ClientRow>,
    form: CheckInForm,
    errors: Errors,
    notice: Option<String>,
) -> CheckInPage {
    let settings = clients::settings_of(site);
    CheckInPage {
        chrome: chrome(staff, site, "checkin", notice),
        q,
        matches,
        similar,
        selected,
        form,
        errors,
        questions: eligibility_questions(&settings.eligibility),
        substances: settings.substances,
        routes: settings.routes,
        places: OTHERWISE_PLACES.to_vec(),
        refusal_reasons: settings.refusal_reasons,
        not_eligible: Vec::new(),
        can_override: staff.ctx.can(Action::OverrideEligibility, &site.id),
    }
}

pub async fn checkin_page(State(state): State<AppState>, staff: Staff, Query(q): Query<CheckInQuery>) -> PageResult {
    let site = site_of(&state, &staff).await?;
    staff.ctx.allow(&state.store, Action::RecordVisit, &site.id).await?;
    let notice = match (&q.done, &q.refused) {
        (Some(code), _) => Some(format!("Checked in {code}.")),
        (_, Some(code)) => Some(format!("Refusal recorded for {code}.")),
        _ => None,
    };
    if let Some(id) = &q.client {
        let c = clients::get(&state.store, &staff.ctx, id).await?;
        return Ok(render(
            StatusCode::OK,
            &checkin_page_for(
                &staff,
                &site,
                String::new(),
                Vec::new(),
                Vec::new(),
                Some(c),
                CheckInForm::default(),
                Errors::default(),
                notice,
            ),
        ));
    }
    let matches = clients::search(&state.store, &staff.ctx, &site.id, &q.q).await?;
    // An exact code match goes straight to the form: the fast path for a practised worker.
    if let Some(exact) = matches.iter().find(|c| c.code.eq_ignore_ascii_case(q.q.trim())) {
        return Ok(Redirect::to(&format!("/checkin?client={}", exact.id)).into_response());
    }
    let similar = if matches.is_empty() {
        clients::similar(&state.store, &staff.ctx, &site.id, &q.q).await?
    } else {
        Vec::new()
    };
    Ok(render(
        StatusCode::OK,
        &checkin_page_for(
            &staff,
            &site,
            q.q,
            matches,
            similar,
            None,
            CheckInForm::default(),
            Errors::default(),
            notice,
        ),
    ))
}

/// The failing rules of a refused check-in, for the "not eligible" box. The
/// use case reports them as one message; the box needs each rule's code for
/// its refusal button, so the same rules are run again on the same input.
async fn failing_rules(
    state: &AppState,
    site: &SiteRow,
    client: &ClientRow,
    draft: &CheckInDraft,
) -> Result<Vec<FailedRule>, PageError> {
    use haven_domain::eligibility;
    let Some(route) = draft.route.as_deref().filter(|r| !r.is_empty()) else {
        return Ok(Vec::new());
    };
    let mut substances: Vec<String> = Vec::new();
    for s in &draft.substances {
        if !substances.contains(s) {
            substances.push(s.clone());
        }
    }
    let settings = clients::settings_of(site);
    let now = haven_domain::clock::now();
    let a = visits::assess_eligibility(
        &state.store,
        site,
        &settings,
        &client.id,
        draft,
        &substances,
        route,
        now,
    )
    .await?;
    Ok(a.failed()
        .into_iter()
        .map(|r| FailedRule {
            code: r.rule.clone(),
            label: eligibility::rule_label(&r.rule),
            message: r.message.clone(),
        })
        .collect())
}

pub async fn checkin_submit(State(state): State<AppState>, staff: Staff, f: FormData) -> PageResult {
    let site = site_of(&state, &staff).await?;
    let client_id = f.get("client_id").to_string();
    let yes = |field: &str| f.get(field) == "1";
    let answers = haven_domain::eligibility::Answers {
        intoxicated: yes("elig_intoxicated"),
        pregnant: yes("elig_pregnant"),
        accompanied_by_child: yes("elig_accompanied_by_child"),
        first_time_user: yes("elig_first_time_user"),
        on_ost: yes("elig_on_ost"),
    };
    let form = CheckInForm {
        substances: f.all("substances"),
        route: f.get("route").into(),
        otherwise_place: f.get("otherwise_place").into(),
        answers: ELIGIBILITY_QUESTIONS
            .iter()
            .filter(|(_, field, _)| yes(field))
            .map(|(_, field, _)| (*field).to_string())
            .collect(),
        override_reason: f.get("override_reason").into(),
    };
    let draft = CheckInDraft {
        substances: form.substances.clone(),
        route: Some(form.route.clone()).filter(|r| !r.is_empty()),
        otherwise_place: f.opt("otherwise_place"),
        arrived_at: None,
        eligibility: answers,
        override_reason: f.opt("override_reason"),
    };
    match visits::check_in(&state.store, &staff.ctx, &client_id, &draft, None).await {
        Ok((v, _)) => {
            // A consumption check-in joins the board's waiting list.
            state.board.changed(&v.site_id);
            let code: String = form_urlencoded::byte_serialize(v.client_code.as_bytes()).collect();
            Ok(Redirect::to(&format!("/checkin?done={code}")).into_response())
        }
        Err(AppError::Invalid(inv)) => {
            let c = clients::get(&state.store, &staff.ctx, &client_id).await?;
            // The client's own site decides the rules (as in the use case).
            let csite = if c.site_id == site.id {
                site.clone()
            } else {
                state.store.site(&c.site_id).await.map_err(AppError::from)?
            };
            let eligibility_failed = inv
                .0
                .iter()
                .any(|e| e.field == "eligibility" || e.field == "override_reason");
            let not_eligible = if eligibility_failed {
                failing_rules(&state, &csite, &c, &draft).await?
            } else {
                Vec::new()
            };
            let mut page = checkin_page_for(
                &staff,
                &site,
                String::new(),
                Vec::new(),
                Vec::new(),
                Some(c),
                form,
                Errors(inv.0),
                None,
            );
            page.can_override = staff.ctx.can(Action::OverrideEligibility, &csite.id);
            page.not_eligible = not_eligible;
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn refuse_submit(State(state): State<AppState>, staff: Staff, f: FormData) -> PageResult {
    let client_id = f.get("client_id");
    match visits::refuse(&state.store, &staff.ctx, client_id, f.get("reason"), None).await {
        Ok(v) => {
            state.board.changed(&v.site_id);
            let code: String = form_urlencoded::byte_serialize(v.client_code.as_bytes()).collect();
            Ok(Redirect::to(&format!("/checkin?refused={code}")).into_response())
        }
        // Shown again at the refusal form, which opens with the message.
        Err(AppError::Invalid(inv)) if inv.0.iter().all(|e| e.field != "client_id") => {
            let site = site_of(&state, &staff).await?;
            let c = clients::get(&state.store, &staff.ctx, client_id).await?;
            Ok(render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &checkin_page_for(
                    &staff,
                    &site,
                    String::new(),
                    Vec::new(),
                    Vec::new(),
                    Some(c),
                    CheckInForm::default(),
                    Errors(inv.0),
                    None,
                ),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

// ---------- visits ----------

#[derive(Template)]
#[template(path = "visits.html")]
struct VisitsPage {
    chrome: Chrome,
    date: String,
    q: String,
    visits: Vec<VisitLine>,
    can_void: bool,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct VisitsQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    notice: Option<String>,
    #[serde(default)]
    problem: Option<String>,
}

pub async fn visits_page(State(state): State<AppState>, staff: Staff, Query(q): Query<VisitsQuery>) -> PageResult {
    let site = site_of(&state, &staff).await?;
    let today = visits::today(&state.store, &site.id).await?;
    let (date, error) = if q.date.is_empty() {
        (today, None)
    } else {
        match time::Date::parse(&q.date, time::macros::format_description!("[year]-[month]-[day]")) {
            Ok(d) => (d, None),
            Err(_) => (today, Some(format!("“{}” is not a date; showing today", q.date))),
        }
    };
    let error = error.or(q.problem.clone());
    let prefix = Some(q.q.as_str()).filter(|s| !s.trim().is_empty());
    let rows = visits::on_date(&state.store, &staff.ctx, &site.id, date, prefix).await?;
    let notice = q.notice.map(|n| match n.as_str() {
        "out" => "Checked out.".to_string(),
        "void" => "Visit voided.".to_string(),
        _ => String::new(),
    });
    Ok(render(
        if error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        &VisitsPage {
            chrome: chrome(&staff, &site, "visits", notice.filter(|n| !n.is_empty())),
            date: date.to_string(),
            q: q.q,
            visits: rows.iter().map(|v| visit_line(&site, v, false)).collect(),
            can_void: staff.ctx.can(Action::VoidVisit, &site.id),
            error,
        },
    ))
}

pub async fn visit_checkout(State(state): State<AppState>, staff: Staff, Path(id): Path<String>) -> PageResult {
    match visits::check_out(&state.store, &staff.ctx, &id, None).await {
        Ok(v) => {
            state.board.changed(&v.site_id);
            Ok(Redirect::to("/visits?notice=out").into_response())
        }
        Err(AppError::Invalid(inv)) => {
            let msg = inv
                .0
                .first()
                .map(|e| format!("Not checked out: {}", e.message))
                .unwrap_or_default();
            let q: String = form_urlencoded::byte_serialize(msg.as_bytes()).collect();
            Ok(Redirect::to(&format!("/visits?problem={q}")).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn visit_void(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    f: FormData,
) -> PageResult {
    match visits::void(&state.store, &staff.ctx, &id, f.get("reason")).await {
        Ok(v) => {
            // A voided visit leaves the waiting list.
            state.board.changed(&v.site_id);
            Ok(Redirect::to("/visits?notice=void").into_response())
        }
        // Back to the list with the message shown there.
        Err(AppError::Invalid(inv)) => {
            let msg = inv
                .0
                .first()
                .map(|e| format!("Not voided: {} {}", e.field, e.message))
                .unwrap_or_default();
            let q: String = form_urlencoded::byte_serialize(msg.as_bytes()).collect();
            Ok(Redirect::to(&format!("/visits?problem={q}")).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

// ---------- admin ----------

/// The staff form's fields, kept on error (never the password).
#[derive(Debug, Clone, Default)]
pub struct StaffForm {
    username: String,
    display_name: String,
    role: String,
}

/// A staff member as listed.
#[derive(Debug, Clone)]
pub struct StaffLine {
    id: String,
    username: String,
    display_name: String,
    role: String,
    disabled: bool,
    is_me: bool,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    chrome: Chrome,
    site: SiteRow,
    site_form: sites::SiteForm,
    spaces: Vec<haven_store::SpaceRow>,
    space_form: (String, String),
    staff: Vec<StaffLine>,
    staff_form: StaffForm,
    roles: Vec<&'static str>,
    errors: Errors,
    can_create_site: bool,
    new_site_form: sites::SiteForm,
}

#[derive(Default)]
struct AdminInput {
    site_form: Option<sites::SiteForm>,
    new_site_form: sites::SiteForm,
    space_form: (String, String),
    staff_form: StaffForm,
    errors: Vec<FieldError>,
    notice: Option<String>,
}

async fn admin_render(state: &AppState, staff: &Staff, input: AdminInput) -> PageResult {
    let site = site_of(state, staff).await?;
    staff.ctx.allow(&state.store, Action::ManageSite, &site.id).await?;
    let spaces = sites::spaces(&state.store, &staff.ctx, &site.id).await?;
    let people = sites::staff(&state.store, &staff.ctx, &site.id).await?;
    let status = if input.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let site_form = input.site_form.unwrap_or_else(|| sites::SiteForm {
        code: site.code.clone(),
        name: site.name.clone(),
        timezone: site.timezone.clone(),
        opens: site.opens.clone(),
        closes: site.closes.clone(),
        code_scheme: site.code_scheme.clone(),
    });
    Ok(render(
        status,
        &AdminPage {
            chrome: chrome(staff, &site, "admin", input.notice),
            site_form,
            spaces,
            space_form: input.space_form,
            staff: people
                .into_iter()
                .map(|(u, role)| StaffLine {
                    is_me: u.id == staff.ctx.actor.user_id,
                    id: u.id,
                    username: u.username,
                    display_name: u.display_name,
                    role,
                    disabled: u.disabled,
                })
                .collect(),
            staff_form: if input.staff_form.role.is_empty() {
                StaffForm {
                    role: "worker".into(),
                    ..input.staff_form
                }
            } else {
                input.staff_form
            },
            roles: Role::ALL.iter().map(|r| r.as_str()).collect(),
            errors: Errors(input.errors),
            can_create_site: haven_domain::auth::authorize(
                &staff.ctx.actor,
                Action::CreateSite,
                &haven_domain::auth::Resource::Installation,
            )
            .is_ok(),
            new_site_form: input.new_site_form,
            site,
        },
    ))
}

#[derive(Deserialize, Default)]
pub struct AdminQuery {
    #[serde(default)]
    saved: Option<String>,
}

pub async fn admin_page(State(state): State<AppState>, staff: Staff, Query(q): Query<AdminQuery>) -> PageResult {
    admin_render(
        &state,
        &staff,
        AdminInput {
            notice: q.saved.map(|_| "Saved.".to_string()),
            ..Default::default()
        },
    )
    .await
}

/// The site form's fields; `code` is the site's own when editing.
fn site_form(f: &FormData, code: &str) -> sites::SiteForm {
    sites::SiteForm {
        code: code.into(),
        name: f.get("name").into(),
        timezone: f.get("timezone").into(),
        opens: f.get("opens").into(),
        closes: f.get("closes").into(),
        code_scheme: f.get("code_scheme").into(),
    }
}

fn saved() -> PageResult {
    Ok(Redirect::to("/admin?saved=1").into_response())
}

pub async fn admin_site(State(state): State<AppState>, staff: Staff, f: FormData) -> PageResult {
    let site = site_of(&state, &staff).await?;
    let form = site_form(&f, &site.code);
    match sites::update_site(&state.store, &staff.ctx, &site.id, &form).await {
        Ok(()) => saved(),
        Err(AppError::Invalid(inv)) => {
            admin_render(
                &state,
                &staff,
                AdminInput {
                    site_form: Some(form),
                    errors: inv.0,
                    ..Default::default()
                },
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// Creates a new site (installation admins); the creator becomes its admin.
pub async fn admin_create_site(State(state): State<AppState>, staff: Staff, f: FormData) -> PageResult {
    let form = site_form(&f, f.get("code"));
    match sites::create_site(&state.store, &staff.ctx, &form).await {
        Ok(_) => saved(),
        Err(AppError::Invalid(inv)) => {
            let errors = inv
                .0
                .into_iter()
                .map(|e| FieldError::new(format!("new_{}", e.field), e.message))
                .collect();
            admin_render(
                &state,
                &staff,
                AdminInput {
                    new_site_form: form,
                    errors,
                    ..Default::default()
                },
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn admin_add_space(State(state): State<AppState>, staff: Staff, f: FormData) -> PageResult {
    let site = site_of(&state, &staff).await?;
    match sites::add_space(
        &state.store,
        &staff.ctx,
        &site.id,
        f.get("label"),
        f.get("kind"),
        f.get("wheelchair") == "1",
    )
    .await
    {
        Ok(_) => saved(),
        Err(AppError::Invalid(inv)) => {
            admin_render(
                &state,
                &staff,
                AdminInput {
                    space_form: (f.get("label").into(), f.get("kind").into()),
                    errors: inv.0,
                    ..Default::default()
                },
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn admin_update_space(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    f: FormData,
) -> PageResult {
    let site = site_of(&state, &staff).await?;
    sites::update_space(
        &state.store,
        &staff.ctx,
        &site.id,
        &id,
        f.get("wheelchair") == "1",
        f.get("in_service") == "1",
    )
    .await?;
    saved()
}

pub async fn admin_add_staff(State(state): State<AppState>, staff: Staff, f: FormData) -> PageResult {
    let site = site_of(&state, &staff).await?;
    let form = StaffForm {
        username: f.get("username").into(),
        display_name: f.get("display_name").into(),
        role: f.get("role").into(),
    };
    match sites::add_staff(
        &state.store,
        &staff.ctx,
        &site.id,
        &form.username,
        &form.display_name,
        &form.role,
        f.get("password"),
    )
    .await
    {
        Ok(_) => saved(),
        Err(AppError::Invalid(inv)) => {
            admin_render(
                &state,
                &staff,
                AdminInput {
                    staff_form: form,
                    errors: inv.0,
                    ..Default::default()
                },
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn admin_staff_state(
    State(state): State<AppState>,
    staff: Staff,
    Path((id, op)): Path<(String, String)>,
) -> PageResult {
    let site = site_of(&state, &staff).await?;
    let disabled = match op.as_str() {
        "disable" => true,
        "enable" => false,
        _ => return Err(PageError(AppError::NotFound)),
    };
    sites::set_staff_disabled(&state.store, &staff.ctx, &site.id, &id, disabled).await?;
    saved()
}

pub async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        error_page("Not found", "There is no page at this address."),
    )
        .into_response()
}
