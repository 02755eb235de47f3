//! Services given on site at a visit (wound care, BBV tests, naloxone kit,
//! shower …, dcr-practice §5.4), each with its time and staff, and BBV test
//! results recorded when they come back.

use haven_domain::{
    Invalid,
    auth::Action,
    care::{ServiceDraft, prepare_service, prepare_test_result},
};
use haven_store::{ServiceRow, Store, TestResultRow};
use time::OffsetDateTime;

use crate::{AppError, AppResult, Ctx, clients::settings_of};

/// Records a service at a visit (floor staff).
pub async fn add(store: &Store, ctx: &Ctx, visit_id: &str, draft: &ServiceDraft) -> AppResult<ServiceRow> {
    let site_id = match store.visit_site(visit_id).await {
        Ok(s) if ctx.actor.role_at(&s).is_some() => s,
        Ok(_) | Err(haven_store::StoreError::NotFound) => {
            return Err(Invalid::one("visit_id", "no such visit at a site where you have a role").into());
        }
        Err(e) => return Err(e.into()),
    };
    let audit = ctx.allow(store, Action::RecordVisit, &site_id).await?;
    let site = store.site(&site_id).await?;
    let v = store.visit(&site_id, visit_id).await?;
    if v.voided_at.is_some() || v.status == "refused" {
        return Err(Invalid::one("visit_id", "a refused or voided visit takes no services").into());
    }
    let s = prepare_service(
        draft,
        &settings_of(&site).care.services,
        v.arrived_at,
        v.left_at,
        haven_domain::clock::now(),
    )?;
    let tests: Vec<String> = s.tests.iter().map(|t| t.as_str().to_string()).collect();
    let id = store
        .add_service(&audit, &site_id, visit_id, &s.code, s.at, &tests, s.note.as_deref())
        .await?;
    Ok(store.service(&id).await?)
}

/// The services of a visit.
pub async fn of_visit(store: &Store, ctx: &Ctx, visit_id: &str) -> AppResult<Vec<(ServiceRow, Vec<TestResultRow>)>> {
    let site_id = store.visit_site(visit_id).await?;
    if ctx.actor.role_at(&site_id).is_none() {
        return Err(AppError::NotFound);
    }
    ctx.allow(store, Action::ViewVisits, &site_id).await?;
    let mut out = Vec::new();
    for s in store.services_of_visit(visit_id).await? {
        let r = store.test_results(&s.id).await?;
        out.push((s, r));
    }
    Ok(out)
}

/// Records a BBV test's result, later than the test (nurses and managers,
/// who see identity-level clinical data).
pub async fn add_result(
    store: &Store,
    ctx: &Ctx,
    service_id: &str,
    test: &str,
    result: &str,
    at: Option<OffsetDateTime>,
) -> AppResult<TestResultRow> {
    let s = store.service(service_id).await?;
    if ctx.actor.role_at(&s.site_id).is_none() {
        return Err(AppError::NotFound);
    }
    let audit = ctx.allow(store, Action::RecordTestResult, &s.site_id).await?;
    let taken: Vec<String> = serde_json::from_str(&s.tests).unwrap_or_default();
    let r = prepare_test_result(test, result, at, s.at, haven_domain::clock::now())?;
    if !taken.iter().any(|t| t == r.test.as_str()) {
        return Err(Invalid::one("test", format!("this service did not take a {} test", r.test.as_str())).into());
    }
    let id = store
        .add_test_result(
            &audit,
            &s.site_id,
            service_id,
            r.test.as_str(),
            r.result.as_str(),
            r.result_at,
        )
        .await?;
    store
        .test_results(service_id)
        .await?
        .into_iter()
        .find(|x| x.id == id)
        .ok_or(AppError::NotFound)
}

/// A visit with its services, for the visit page.
#[derive(Debug, Clone)]
pub struct VisitServices {
    /// The visit.
    pub visit: haven_store::VisitRow,
    /// Its services, in time order, each with its test results.
    pub services: Vec<(ServiceRow, Vec<TestResultRow>)>,
}

/// A visit and its services (floor and clinical staff); the read of the
/// visit is audited by [`crate::visits::get`].
pub async fn visit_page(store: &Store, ctx: &Ctx, visit_id: &str) -> AppResult<VisitServices> {
    let visit = crate::visits::get(store, ctx, visit_id).await?;
    let mut services = Vec::new();
    for s in store.services_of_visit(visit_id).await? {
        let r = store.test_results(&s.id).await?;
        services.push((s, r));
    }
    Ok(VisitServices { visit, services })
}
