//! Site-wide alerts: raise (with a required expiry), withdraw, and the
//! alerts showing at a site. Shown on the board, at check-in and on every
//! page until they expire or are withdrawn.

use haven_domain::{
    Invalid,
    auth::Action,
    drugcheck::{AlertDraft, prepare_alert},
};
use haven_store::{AlertRow, Store};

use crate::{AppError, AppResult, Ctx};

/// Raises an alert at a site (nurses and managers).
pub async fn raise(store: &Store, ctx: &Ctx, site_id: &str, draft: &AlertDraft) -> AppResult<AlertRow> {
    if ctx.actor.role_at(site_id).is_none() {
        return Err(Invalid::one("site_id", "no such site where you have a role").into());
    }
    let audit = ctx.allow(store, Action::ManageAlerts, site_id).await?;
    let a = prepare_alert(draft, haven_domain::clock::now())?;
    let id = store
        .create_alert(&audit, site_id, &a.text, a.expires_at, a.share_with_installation)
        .await?;
    Ok(store.alert(&id).await?)
}

/// Withdraws an alert raised at one of the actor's sites.
pub async fn withdraw(store: &Store, ctx: &Ctx, id: &str) -> AppResult<AlertRow> {
    let a = store.alert(id).await?;
    if ctx.actor.role_at(&a.site_id).is_none() {
        return Err(AppError::NotFound);
    }
    let audit = ctx.allow(store, Action::ManageAlerts, &a.site_id).await?;
    if a.withdrawn_at.is_some() {
        return Err(AppError::Conflict("the alert is already withdrawn".into()));
    }
    store
        .withdraw_alert(&audit, &a.site_id, id, haven_domain::clock::now())
        .await?;
    Ok(store.alert(id).await?)
}

/// Alerts showing at a site now (any role at the site: public-health
/// warnings, no client data).
pub async fn active(store: &Store, ctx: &Ctx, site_id: &str) -> AppResult<Vec<AlertRow>> {
    if ctx.actor.role_at(site_id).is_none() {
        return Ok(Vec::new());
    }
    Ok(store.active_alerts(site_id, haven_domain::clock::now()).await?)
}

/// The sites whose boards must redraw after an alert changes: its own
/// site, or every site when it is shared.
pub async fn affected_sites(store: &Store, a: &AlertRow) -> AppResult<Vec<String>> {
    if a.shared {
        Ok(store.sites().await?.into_iter().map(|s| s.id).collect())
    } else {
        Ok(vec![a.site_id.clone()])
    }
}
