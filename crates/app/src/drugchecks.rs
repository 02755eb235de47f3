//! Drug checking: a sample (linked to a visit only with consent), its
//! results, the substances of concern they show, and an alert raised from
//! the sample.

use haven_domain::{
    Invalid,
    auth::Action,
    drugcheck::{
        AlertDraft, Finding, Method, NewResult, ResultDraft, SampleDraft, concerns_found, prepare_alert,
        prepare_result, prepare_sample,
    },
};
use haven_store::{AlertRow, DrugResultRow, SampleRow, Store};

use crate::{AppError, AppResult, Ctx, clients::settings_of};

/// A sample with its results and what they mean.
#[derive(Debug, Clone)]
pub struct SampleView {
    /// The sample.
    pub sample: SampleRow,
    /// Its results, oldest first, as stored and as parsed.
    pub results: Vec<(DrugResultRow, NewResult)>,
    /// Substances of concern found (e.g. a nitazene, or fentanyl in a stimulant).
    pub concerns: Vec<String>,
}

/// Records a sample at a site (floor staff).
pub async fn record_sample(store: &Store, ctx: &Ctx, site_id: &str, draft: &SampleDraft) -> AppResult<SampleView> {
    if ctx.actor.role_at(site_id).is_none() {
        return Err(Invalid::one("site", "no such site where you have a role").into());
    }
    let audit = ctx.allow(store, Action::RecordVisit, site_id).await?;
    let s = prepare_sample(draft)?;
    let id = match store
        .create_sample(
            &audit,
            site_id,
            s.visit_id.as_deref(),
            &s.expected,
            &s.form,
            haven_domain::clock::now(),
        )
        .await
    {
        Err(haven_store::StoreError::NotFound) => {
            return Err(Invalid::one("visit_id", "no such visit at this site").into());
        }
        other => other?,
    };
    build(store, store.sample(&id).await?).await
}

async fn sample_of(store: &Store, ctx: &Ctx, id: &str) -> AppResult<SampleRow> {
    let s = store.sample(id).await?;
    if ctx.actor.role_at(&s.site_id).is_none() {
        return Err(AppError::NotFound);
    }
    Ok(s)
}

async fn build(store: &Store, sample: SampleRow) -> AppResult<SampleView> {
    let mut results = Vec::new();
    for r in store.drug_results(&sample.id).await? {
        let method = Method::parse(&r.method).ok_or_else(|| AppError::Internal(format!("method {}", r.method)))?;
        let finding: Finding = serde_json::from_str(&r.finding)
            .map_err(|e| AppError::Internal(format!("result {} does not parse: {e}", r.id)))?;
        let at = r.at;
        results.push((r, NewResult { method, finding, at }));
    }
    let parsed: Vec<NewResult> = results.iter().map(|(_, n)| n.clone()).collect();
    // The site's own rules (site settings `concerns`).
    let site = store.site(&sample.site_id).await?;
    let concerns = concerns_found(&sample.expected, &parsed, &settings_of(&site).concerns);
    Ok(SampleView {
        sample,
        results,
        concerns,
    })
}

/// A sample with its results.
pub async fn view(store: &Store, ctx: &Ctx, id: &str) -> AppResult<SampleView> {
    let s = sample_of(store, ctx, id).await?;
    ctx.allow(store, Action::ViewFloor, &s.site_id).await?;
    build(store, s).await
}

/// Adds a result; the view says which substances of concern it shows.
pub async fn add_result(store: &Store, ctx: &Ctx, id: &str, draft: &ResultDraft) -> AppResult<SampleView> {
    let s = sample_of(store, ctx, id).await?;
    let audit = ctx.allow(store, Action::RecordVisit, &s.site_id).await?;
    let r = prepare_result(draft, haven_domain::clock::now())?;
    let json = serde_json::to_string(&r.finding).map_err(|e| AppError::Internal(e.to_string()))?;
    store
        .add_drug_result(&audit, &s.site_id, id, r.method.code(), &json, r.at)
        .await?;
    build(store, s).await
}

/// Raises an alert from a sample (nurses and managers); the alert keeps the link.
pub async fn raise_alert(store: &Store, ctx: &Ctx, id: &str, draft: &AlertDraft) -> AppResult<AlertRow> {
    let s = sample_of(store, ctx, id).await?;
    let audit = ctx.allow(store, Action::ManageAlerts, &s.site_id).await?;
    let a = prepare_alert(draft, haven_domain::clock::now())?;
    let alert_id = store
        .create_alert_for_sample(
            &audit,
            &s.site_id,
            Some(&s.id),
            &a.text,
            a.expires_at,
            a.share_with_installation,
        )
        .await?;
    Ok(store.alert(&alert_id).await?)
}

/// A site's samples received on a local date, newest first, with their
/// results and concerns. Samples carry no client code, so the list is not a
/// read of client data.
pub async fn on_date(store: &Store, ctx: &Ctx, site_id: &str, date: time::Date) -> AppResult<Vec<SampleView>> {
    ctx.allow(store, Action::ViewVisits, site_id).await?;
    let site = store.site(site_id).await?;
    let (from, to) = haven_domain::clock::local_day_bounds(&site.timezone, date)
        .ok_or_else(|| AppError::Internal(format!("bad time zone {}", site.timezone)))?;
    let mut out = Vec::new();
    for s in store.samples_between(site_id, from, to, 200).await? {
        out.push(build(store, s).await?);
    }
    Ok(out)
}
