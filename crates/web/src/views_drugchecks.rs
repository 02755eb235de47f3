//! The drug-checking pages: recording a sample, adding strip, FTIR and
//! laboratory results to it, and raising an alert when the results show a
//! substance of concern. Every open board of the affected sites redraws at
//! once when an alert is raised.

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect},
};
use haven_app::{AppError, alerts, drugchecks};
use haven_domain::{
    FieldError,
    auth::Action,
    drugcheck::{AlertDraft, Component, FORMS, Finding, Method, ResultDraft, SampleDraft},
};
use serde::Deserialize;
use time::{Date, macros::format_description};

use crate::{
    AppState,
    form::FormData,
    security::Staff,
    views::{Chrome, Errors, PageResult, chrome, local_datetime, render, site_of},
    views_emergency::with_banner,
};

/// The new-sample form's input, kept on error.
#[derive(Debug, Clone, Default)]
pub struct SampleForm {
    expected: String,
    form: String,
    /// The visit offered for linking (from the visit's page).
    visit_id: String,
    /// The person agreed to the link.
    consent: bool,
}

/// The visit a new sample may be linked to, as shown on the form.
#[derive(Debug, Clone)]
pub struct VisitOffer {
    client_code: String,
    arrived: String,
}

/// A sample as a row of the day's list.
#[derive(Debug, Clone)]
pub struct SampleLine {
    id: String,
    received: String,
    expected: String,
    form: String,
    results: usize,
    concerns: String,
    linked: bool,
}

/// `?visit=` (offer a link) and `?date=` (the list's day).
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    visit: String,
    #[serde(default)]
    date: String,
}

/// The add-result form's input, kept on error.
#[derive(Debug, Clone, Default)]
pub struct ResultForm {
    method: String,
    strip: String,
    components: String,
}

/// The raise-alert form's input, kept on error.
#[derive(Debug, Clone, Default)]
pub struct AlertForm {
    text: String,
    hours: String,
    shared: bool,
}

/// A method as a select option.
#[derive(Debug, Clone)]
pub struct MethodOption {
    code: &'static str,
    label: &'static str,
}

/// One component of a result, ready to show.
#[derive(Debug, Clone)]
pub struct ComponentItem {
    substance: String,
    percent: Option<String>,
}

/// One result of a sample, ready to show.
#[derive(Debug, Clone)]
pub struct ResultItem {
    id: String,
    method: &'static str,
    at: String,
    /// The strip reading, for strips.
    reading: Option<&'static str>,
    /// Named components, for FTIR and laboratory.
    components: Vec<ComponentItem>,
    /// FTIR "no library match", or a laboratory naming nothing.
    no_match: bool,
}

#[derive(Template)]
#[template(path = "drugchecks.html")]
struct DrugChecksPage {
    chrome: Chrome,
    form: SampleForm,
    errors: Errors,
    forms: &'static [&'static str],
    can_record: bool,
    offer: Option<VisitOffer>,
    date: String,
    date_error: Option<String>,
    samples: Vec<SampleLine>,
    can_list: bool,
}

#[derive(Template)]
#[template(path = "drugcheck.html")]
struct DrugCheckPage {
    chrome: Chrome,
    id: String,
    expected: String,
    sample_form: String,
    received: String,
    linked: bool,
    results: Vec<ResultItem>,
    concerns: Vec<String>,
    can_record: bool,
    can_alert: bool,
    methods: Vec<MethodOption>,
    result_form: ResultForm,
    result_errors: Errors,
    alert_form: AlertForm,
    alert_errors: Errors,
}

/// `?done=` after a successful post to the sample page.
#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

/// How a method reads on the page.
fn method_label(m: Method) -> &'static str {
    match m {
        Method::Ftir => "FTIR",
        Method::FentanylStrip => "Fentanyl strip",
        Method::BenzodiazepineStrip => "Benzodiazepine strip",
        Method::XylazineStrip => "Xylazine strip",
        Method::NitazeneStrip => "Nitazene strip",
        Method::Laboratory => "Laboratory",
    }
}

fn methods() -> Vec<MethodOption> {
    Method::ALL
        .into_iter()
        .map(|m| MethodOption {
            code: m.code(),
            label: method_label(m),
        })
        .collect()
}

/// `12.5` → "12.5 %", `70.0` → "70 %".
fn percent_text(p: f64) -> String {
    format!("{p} %")
}

/// The text a raised alert starts with, e.g. "Nitazene found in a sample sold
/// as heroin: use less, go slow, never alone".
fn suggested_alert(concerns: &[String], expected: &str) -> String {
    let what = concerns.join(" and ");
    let mut chars = what.chars();
    let what = match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect::<String>(),
        None => "A substance of concern".to_string(),
    };
    format!("{what} found in a sample sold as {expected}: use less, go slow, never alone")
}

/// Parses the components textarea: one component a line, `substance, percent`
/// with the percent optional (a trailing `%` is allowed). A comma followed by
/// a space separates the percent; a comma inside a name (`1,4-butanediol`)
/// does not. Returns the components and, for each, its line number (1-based)
/// so that domain errors can name the line.
fn parse_components(text: &str) -> Result<(Vec<Component>, Vec<usize>), FieldError> {
    let mut out = Vec::new();
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let n = i + 1;
        let (substance, percent) = match line.rsplit_once(',') {
            Some((head, tail)) if tail.trim().is_empty() => (head.trim(), None),
            Some((head, tail)) => {
                let num = tail.trim().trim_end_matches('%').trim();
                match num.parse::<f64>() {
                    Ok(p) => (head.trim(), Some(p)),
                    // "1,4-butanediol": the comma belongs to the name.
                    Err(_) if !tail.starts_with(char::is_whitespace) => (line, None),
                    Err(_) => {
                        return Err(FieldError::new(
                            "components",
                            format!("line {n}: after the comma give the percent as a number, e.g. \"cocaine, 70\""),
                        ));
                    }
                }
            }
            None => (line, None),
        };
        if substance.is_empty() {
            return Err(FieldError::new("components", format!("line {n}: name the substance")));
        }
        out.push(Component {
            substance: substance.to_string(),
            percent,
        });
        lines.push(n);
    }
    Ok((out, lines))
}

/// Domain errors about one component (`components[2].percent`) are shown at
/// the textarea, naming the line.
fn component_errors(errors: Vec<FieldError>, lines: &[usize]) -> Vec<FieldError> {
    errors
        .into_iter()
        .map(|e| {
            let Some(rest) = e.field.strip_prefix("components[") else {
                return e;
            };
            let idx = rest.split(']').next().and_then(|i| i.parse::<usize>().ok());
            let what = if rest.ends_with(".percent") { "percent: " } else { "" };
            match idx.and_then(|i| lines.get(i)) {
                Some(n) => FieldError::new("components", format!("line {n}: {what}{}", e.message)),
                None => FieldError::new("components", e.message),
            }
        })
        .collect()
}

async fn list_render(
    state: &AppState,
    staff: &Staff,
    form: SampleForm,
    errors: Errors,
    date: &str,
    status: StatusCode,
) -> PageResult {
    let site = site_of(state, staff).await?;
    let today = haven_app::visits::today(&state.store, &site.id).await?;
    let (day, date_error) = if date.trim().is_empty() {
        (today, None)
    } else {
        match Date::parse(date.trim(), format_description!("[year]-[month]-[day]")) {
            Ok(d) => (d, None),
            Err(_) => (
                today,
                Some(format!("“{date}” is not a date (YYYY-MM-DD); showing today")),
            ),
        }
    };
    // A link is offered only for a visit of this site that can still take it.
    let offer = if form.visit_id.is_empty() || !staff.ctx.can(Action::RecordVisit, &site.id) {
        None
    } else {
        let v = haven_app::visits::get(&state.store, &staff.ctx, &form.visit_id).await?;
        (v.site_id == site.id && v.voided_at.is_none() && v.status != "refused").then(|| VisitOffer {
            client_code: v.client_code.clone(),
            arrived: local_datetime(&site, v.arrived_at),
        })
    };
    // Roles that see no visits (evaluator, admin) get the page without the list.
    let views = if staff.ctx.can(Action::ViewVisits, &site.id) {
        drugchecks::on_date(&state.store, &staff.ctx, &site.id, day).await?
    } else {
        Vec::new()
    };
    let samples = views
        .into_iter()
        .map(|v| SampleLine {
            id: v.sample.id.clone(),
            received: local_datetime(&site, v.sample.received_at),
            expected: v.sample.expected.clone(),
            form: v.sample.form.clone(),
            results: v.results.len(),
            concerns: v.concerns.join(", "),
            linked: v.sample.visit_id.is_some(),
        })
        .collect();
    let staff = with_banner(state, staff).await;
    Ok(render(
        if date_error.is_some() && status == StatusCode::OK {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            status
        },
        &DrugChecksPage {
            chrome: chrome(&staff, &site, "drug_checks", None),
            can_record: staff.ctx.can(Action::RecordVisit, &site.id),
            forms: &FORMS,
            form,
            errors,
            offer,
            date: day.to_string(),
            date_error,
            samples,
            can_list: staff.ctx.can(Action::ViewVisits, &site.id),
        },
    ))
}

/// `GET /drug-checks`: the new-sample form (offering a link to `?visit=`)
/// and the samples of a day (`?date=`, default today).
pub async fn drugchecks_page(State(state): State<AppState>, staff: Staff, Query(q): Query<ListQuery>) -> PageResult {
    let form = SampleForm {
        visit_id: q.visit.trim().to_string(),
        ..SampleForm::default()
    };
    list_render(&state, &staff, form, Errors::default(), &q.date, StatusCode::OK).await
}

/// `POST /drug-checks`: records a sample, then shows it.
pub async fn drugcheck_create(State(state): State<AppState>, staff: Staff, f: FormData) -> PageResult {
    let site = site_of(&state, &staff).await?;
    let form = SampleForm {
        expected: f.get("expected").to_string(),
        form: f.get("form").to_string(),
        visit_id: f.get("visit_id").trim().to_string(),
        consent: !f.get("consent_linked").is_empty(),
    };
    // Without the person's consent the sample is recorded, unlinked.
    let draft = SampleDraft {
        expected: form.expected.clone(),
        form: form.form.clone(),
        visit_id: Some(form.visit_id.clone()).filter(|v| form.consent && !v.is_empty()),
        consent_linked: form.consent,
    };
    match drugchecks::record_sample(&state.store, &staff.ctx, &site.id, &draft).await {
        Ok(v) => Ok(Redirect::to(&format!("/drug-checks/{}", v.sample.id)).into_response()),
        Err(AppError::Invalid(inv)) => {
            list_render(
                &state,
                &staff,
                form,
                Errors(inv.0),
                "",
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// What the sample page shows besides the sample: the forms' input and errors.
#[derive(Debug, Default)]
struct Forms {
    result: Option<ResultForm>,
    result_errors: Errors,
    alert: Option<AlertForm>,
    alert_errors: Errors,
    notice: Option<String>,
}

async fn sample_render(state: &AppState, staff: &Staff, id: &str, forms: Forms, status: StatusCode) -> PageResult {
    let site = site_of(state, staff).await?;
    let v = drugchecks::view(&state.store, &staff.ctx, id).await?;
    // Times in the sample's own site time (it may differ from the current site).
    let sample_site = if v.sample.site_id == site.id {
        site.clone()
    } else {
        state.store.site(&v.sample.site_id).await.map_err(AppError::from)?
    };
    let staff = with_banner(state, staff).await;
    let results = v
        .results
        .iter()
        .map(|(row, r)| {
            let (reading, components, no_match) = match &r.finding {
                Finding::Strip { result } => (Some(result.code()), Vec::new(), false),
                Finding::Components { components } => (
                    None,
                    components
                        .iter()
                        .map(|c| ComponentItem {
                            substance: c.substance.clone(),
                            percent: c.percent.map(percent_text),
                        })
                        .collect(),
                    false,
                ),
                Finding::NoMatch => (None, Vec::new(), true),
            };
            ResultItem {
                id: row.id.clone(),
                method: method_label(r.method),
                at: local_datetime(&sample_site, r.at),
                reading,
                components,
                no_match,
            }
        })
        .collect();
    let alert_form = forms.alert.unwrap_or_else(|| AlertForm {
        text: suggested_alert(&v.concerns, &v.sample.expected),
        hours: "24".into(),
        shared: false,
    });
    Ok(render(
        status,
        &DrugCheckPage {
            chrome: chrome(&staff, &site, "drug_checks", forms.notice),
            id: v.sample.id.clone(),
            expected: v.sample.expected.clone(),
            sample_form: v.sample.form.clone(),
            received: local_datetime(&sample_site, v.sample.received_at),
            linked: v.sample.visit_id.is_some(),
            results,
            can_record: staff.ctx.can(Action::RecordVisit, &v.sample.site_id),
            can_alert: staff.ctx.can(Action::ManageAlerts, &v.sample.site_id),
            concerns: v.concerns,
            methods: methods(),
            result_form: forms.result.unwrap_or_default(),
            result_errors: forms.result_errors,
            alert_form,
            alert_errors: forms.alert_errors,
        },
    ))
}

/// `GET /drug-checks/{id}`: the sample, its results, concerns and forms.
pub async fn drugcheck_page(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> PageResult {
    let notice = match q.done.as_deref() {
        Some("result") => Some("Result added.".to_string()),
        Some("alert") => Some("Alert raised: it shows on the board and on every page.".to_string()),
        _ => None,
    };
    let forms = Forms {
        notice,
        ..Default::default()
    };
    sample_render(&state, &staff, &id, forms, StatusCode::OK).await
}

/// `POST /drug-checks/{id}/results`: adds a strip, FTIR or laboratory result.
pub async fn drugcheck_result(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    f: FormData,
) -> PageResult {
    let form = ResultForm {
        method: f.get("method").to_string(),
        strip: f.get("strip").trim().to_string(),
        components: f.get("components").to_string(),
    };
    let again = |form: ResultForm, errors: Vec<FieldError>| Forms {
        result: Some(form),
        result_errors: Errors(errors),
        ..Default::default()
    };
    let Some(method) = Method::parse(&form.method) else {
        let e = FieldError::new("method", "choose how the sample was checked");
        return sample_render(
            &state,
            &staff,
            &id,
            again(form, vec![e]),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let (components, lines) = match parse_components(&form.components) {
        Ok(c) => c,
        Err(e) => {
            return sample_render(
                &state,
                &staff,
                &id,
                again(form, vec![e]),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let draft = ResultDraft {
        method,
        // A radio cannot be unticked, so a reading left over from choosing a
        // strip first is ignored for FTIR and laboratory results.
        strip: (method.is_strip() && !form.strip.is_empty()).then(|| form.strip.clone()),
        components,
        at: None,
    };
    match drugchecks::add_result(&state.store, &staff.ctx, &id, &draft).await {
        Ok(v) => Ok(Redirect::to(&format!("/drug-checks/{}?done=result", v.sample.id)).into_response()),
        Err(AppError::Invalid(inv)) => {
            let errors = component_errors(inv.0, &lines);
            sample_render(
                &state,
                &staff,
                &id,
                again(form, errors),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /drug-checks/{id}/alert`: raises an alert from the sample for the
/// next N hours (nurses and managers).
pub async fn drugcheck_alert(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    f: FormData,
) -> PageResult {
    let form = AlertForm {
        text: f.get("text").to_string(),
        hours: f.get("hours").trim().to_string(),
        shared: f.get("shared") == "on",
    };
    let again = |form: AlertForm, errors: Vec<FieldError>| Forms {
        alert: Some(form),
        alert_errors: Errors(errors),
        ..Default::default()
    };
    let now = haven_domain::clock::now();
    // Blank hours means no expiry: the domain refuses that, naming the field.
    let expires_at = match form.hours.as_str() {
        "" => None,
        h => match h.parse::<u32>() {
            Ok(n) => Some(now + time::Duration::hours(i64::from(n))),
            Err(_) => {
                let e = FieldError::new("expires_at", "give the number of hours the alert shows");
                return sample_render(
                    &state,
                    &staff,
                    &id,
                    again(form, vec![e]),
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await;
            }
        },
    };
    let draft = AlertDraft {
        text: form.text.clone(),
        expires_at,
        share_with_installation: form.shared,
    };
    match drugchecks::raise_alert(&state.store, &staff.ctx, &id, &draft).await {
        Ok(a) => {
            for s in alerts::affected_sites(&state.store, &a).await? {
                state.board.changed(&s);
            }
            let sample = a.drug_sample_id.as_deref().unwrap_or(id.as_str());
            Ok(Redirect::to(&format!("/drug-checks/{sample}?done=alert")).into_response())
        }
        Err(AppError::Invalid(inv)) => {
            sample_render(
                &state,
                &staff,
                &id,
                again(form, inv.0),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_parse_with_and_without_percent() {
        let (c, lines) = parse_components("Cocaine HCl, 70\n\nLevamisole\ncaffeine, 12.5 %\n1,4-butanediol\n").unwrap();
        assert_eq!(lines, [1, 3, 4, 5]);
        assert_eq!(c[0].substance, "Cocaine HCl");
        assert_eq!(c[0].percent, Some(70.0));
        assert_eq!(c[1].percent, None);
        assert_eq!(c[2].percent, Some(12.5));
        assert_eq!(c[3].substance, "1,4-butanediol");
        assert!(parse_components("").unwrap().0.is_empty());
    }

    #[test]
    fn bad_component_line_is_named() {
        let e = parse_components("cocaine, 70\ncaffeine, lots").unwrap_err();
        assert_eq!(e.field, "components");
        assert!(e.message.starts_with("line 2:"));
        let e = parse_components(", 50").unwrap_err();
        assert_eq!(e.field, "components");
    }

    #[test]
    fn component_errors_point_at_lines() {
        let errs = vec![FieldError::new(
            "components[1].percent",
            "must be more than 0 and at most 100",
        )];
        let out = component_errors(errs, &[1, 3]);
        assert_eq!(out[0].field, "components");
        assert_eq!(out[0].message, "line 3: percent: must be more than 0 and at most 100");
    }

    #[test]
    fn suggested_alert_names_concerns_and_expected() {
        assert_eq!(
            suggested_alert(&["nitazene".into()], "heroin"),
            "Nitazene found in a sample sold as heroin: use less, go slow, never alone"
        );
        assert_eq!(
            suggested_alert(&["fentanyl".into(), "xylazine".into()], "cocaine"),
            "Fentanyl and xylazine found in a sample sold as cocaine: use less, go slow, never alone"
        );
    }
}
