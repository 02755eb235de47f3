//! One visit's page: what the visit was, the services given on site with
//! their time and staff (dcr-practice §5.4), a form for the next service, and
//! BBV test results recorded when they come back. Links lead to supplies, a
//! referral and a drug check for the same visit.

use askama::Template;
use axum::{
    Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect},
    routing::{get, post},
};
use haven_app::{AppError, services};
use haven_domain::{
    auth::Action,
    care::{BbvTest, ServiceDraft, TestResult, is_bbv_service, service_label},
};
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
    Router::new()
        .route("/visits/{id}", get(visit_page))
        .route("/visits/{id}/services", post(service_add))
        .route("/services/{id}/results", post(result_add))
}

/// The add-service form's input, kept on error.
#[derive(Debug, Clone, Default)]
pub struct ServiceForm {
    code: String,
    tests: Vec<String>,
    note: String,
}

impl ServiceForm {
    fn has_test(&self, t: &str) -> bool {
        self.tests.iter().any(|x| x == t)
    }
}

/// The add-result form's input, kept on error (for one service).
#[derive(Debug, Clone, Default)]
pub struct ResultForm {
    service_id: String,
    test: String,
    result: String,
}

/// A code and its label, for selects.
#[derive(Debug, Clone)]
pub struct Choice {
    code: String,
    label: String,
}

/// One service as a row.
#[derive(Debug, Clone)]
pub struct ServiceLine {
    id: String,
    at: String,
    label: String,
    staff: String,
    tests: Vec<Choice>,
    results: Vec<String>,
    note: String,
    /// A BBV test was taken, so results can follow.
    takes_results: bool,
}

#[derive(Template)]
#[template(path = "visit.html")]
struct VisitPage {
    chrome: Chrome,
    id: String,
    client_id: String,
    client_code: String,
    arrived: String,
    left: String,
    status: String,
    substances: String,
    route: String,
    voided: bool,
    services: Vec<ServiceLine>,
    service_choices: Vec<Choice>,
    test_choices: Vec<Choice>,
    result_choices: Vec<Choice>,
    can_record: bool,
    can_result: bool,
    can_supplies: bool,
    form: ServiceForm,
    errors: Errors,
    result_form: ResultForm,
    result_errors: Errors,
}

/// `?done=` after a successful post.
#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

#[derive(Debug, Default)]
struct Forms {
    service: ServiceForm,
    service_errors: Errors,
    result: ResultForm,
    result_errors: Errors,
    notice: Option<String>,
}

async fn page(state: &AppState, staff: &Staff, id: &str, forms: Forms, status: StatusCode) -> PageResult {
    let site = site_of(state, staff).await?;
    let v = services::visit_page(&state.store, &staff.ctx, id).await?;
    let visit = &v.visit;
    let visit_site = if visit.site_id == site.id {
        site.clone()
    } else {
        state.store.site(&visit.site_id).await.map_err(AppError::from)?
    };
    let settings = haven_app::clients::settings_of(&visit_site);
    let staff = with_banner(state, staff).await;
    let lines = v
        .services
        .iter()
        .map(|(s, results)| {
            let tests: Vec<String> = serde_json::from_str(&s.tests).unwrap_or_default();
            ServiceLine {
                id: s.id.clone(),
                at: hhmm(&visit_site, s.at),
                label: service_label(&s.code),
                staff: s.staff.clone(),
                takes_results: s.code == "bbv_test_taken" && !tests.is_empty(),
                tests: tests
                    .iter()
                    .map(|t| Choice {
                        code: t.clone(),
                        label: BbvTest::parse(t).map_or_else(|| t.clone(), |b| b.label().to_string()),
                    })
                    .collect(),
                results: results
                    .iter()
                    .map(|r| {
                        let test = BbvTest::parse(&r.test).map_or_else(|| r.test.clone(), |b| b.label().to_string());
                        let result =
                            TestResult::parse(&r.result).map_or_else(|| r.result.clone(), |x| x.label().to_string());
                        format!("{test}: {result} ({})", local_datetime(&visit_site, r.result_at))
                    })
                    .collect(),
                note: s.note.clone().unwrap_or_default(),
            }
        })
        .collect();
    let open = visit.voided_at.is_none() && visit.status != "refused";
    Ok(render(
        status,
        &VisitPage {
            chrome: chrome(&staff, &site, "visits", forms.notice),
            id: visit.id.clone(),
            client_id: visit.client_id.clone(),
            client_code: visit.client_code.clone(),
            arrived: local_datetime(&visit_site, visit.arrived_at),
            left: visit.left_at.map(|t| hhmm(&visit_site, t)).unwrap_or_default(),
            status: visit.status.clone(),
            substances: visit.substance_list().join(", "),
            route: visit.route.clone().unwrap_or_default(),
            voided: visit.voided_at.is_some(),
            services: lines,
            service_choices: settings
                .care
                .services
                .iter()
                .map(|c| Choice {
                    code: c.clone(),
                    label: service_label(c),
                })
                .collect(),
            test_choices: BbvTest::ALL
                .into_iter()
                .map(|t| Choice {
                    code: t.as_str().into(),
                    label: t.label().into(),
                })
                .collect(),
            result_choices: TestResult::ALL
                .into_iter()
                .map(|r| Choice {
                    code: r.as_str().into(),
                    label: r.label().into(),
                })
                .collect(),
            can_record: open && staff.ctx.can(Action::RecordVisit, &visit.site_id),
            can_result: staff.ctx.can(Action::RecordTestResult, &visit.site_id),
            can_supplies: open && staff.ctx.can(Action::RecordSupplies, &visit.site_id),
            form: forms.service,
            errors: forms.service_errors,
            result_form: forms.result,
            result_errors: forms.result_errors,
        },
    ))
}

/// `GET /visits/{id}`: the visit, its services and the forms.
pub async fn visit_page(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> PageResult {
    let notice = match q.done.as_deref() {
        Some("service") => Some("Service recorded.".to_string()),
        Some("result") => Some("Test result recorded.".to_string()),
        _ => None,
    };
    let forms = Forms {
        notice,
        ..Forms::default()
    };
    page(&state, &staff, &id, forms, StatusCode::OK).await
}

/// `POST /visits/{id}/services`: records a service given now.
pub async fn service_add(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    f: FormData,
) -> PageResult {
    let form = ServiceForm {
        code: f.get("code").to_string(),
        tests: f.all("tests"),
        note: f.get("note").to_string(),
    };
    // Tests only mean something for a BBV service; ticked boxes left over from
    // choosing one first are dropped rather than refused.
    let tests = if is_bbv_service(&form.code) {
        form.tests.clone()
    } else {
        Vec::new()
    };
    let draft = ServiceDraft {
        code: form.code.clone(),
        at: None,
        tests,
        note: Some(form.note.clone()).filter(|n| !n.trim().is_empty()),
    };
    match services::add(&state.store, &staff.ctx, &id, &draft).await {
        Ok(_) => Ok(Redirect::to(&format!("/visits/{id}?done=service")).into_response()),
        Err(AppError::Invalid(inv)) => {
            let forms = Forms {
                service: form,
                service_errors: Errors(inv.0),
                ..Forms::default()
            };
            page(&state, &staff, &id, forms, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /services/{id}/results`: records a BBV test result (nurses, managers).
pub async fn result_add(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    f: FormData,
) -> PageResult {
    let form = ResultForm {
        service_id: id.clone(),
        test: f.get("test").to_string(),
        result: f.get("result").to_string(),
    };
    let service = state.store.service(&id).await.map_err(AppError::from)?;
    if staff.ctx.actor.role_at(&service.site_id).is_none() {
        return Err(AppError::NotFound.into());
    }
    match services::add_result(&state.store, &staff.ctx, &id, &form.test, &form.result, None).await {
        Ok(_) => Ok(Redirect::to(&format!("/visits/{}?done=result", service.visit_id)).into_response()),
        Err(AppError::Invalid(inv)) => {
            let forms = Forms {
                result: form,
                result_errors: Errors(inv.0),
                ..Forms::default()
            };
            page(
                &state,
                &staff,
                &service.visit_id,
                forms,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
