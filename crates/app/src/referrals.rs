//! Referrals to services elsewhere: made at a visit or later, each status
//! step dated (made → accepted or declined → attended or not → closed), and
//! the follow-up list of referrals with no news for N days.

use haven_domain::{
    Invalid,
    audit::AuditAction,
    auth::Action,
    care::{ReferralEvent, ReferralStatus, current_status, needs_follow_up, prepare_referral, prepare_status_change},
};
use haven_store::{ReferralEventRow, ReferralRow, Store};
use time::Date;

use crate::{AppError, AppResult, Ctx, clients::settings_of};

/// A referral with its steps and what they mean.
#[derive(Debug, Clone)]
pub struct ReferralView {
    /// The referral.
    pub referral: ReferralRow,
    /// Its steps, oldest first.
    pub events: Vec<ReferralEventRow>,
    /// Status now.
    pub status: ReferralStatus,
    /// No news for longer than the site's follow-up interval.
    pub needs_follow_up: bool,
}

fn history(events: &[ReferralEventRow]) -> AppResult<Vec<ReferralEvent>> {
    events
        .iter()
        .map(|e| {
            Ok(ReferralEvent {
                status: ReferralStatus::parse(&e.status)
                    .ok_or_else(|| AppError::Internal(format!("referral status {}", e.status)))?,
                on: e.on_date,
                note: e.note.clone(),
            })
        })
        .collect()
}

async fn today_at(store: &Store, site_id: &str) -> AppResult<Date> {
    crate::visits::today(store, site_id).await
}

async fn build(store: &Store, referral: ReferralRow) -> AppResult<ReferralView> {
    let site = store.site(&referral.site_id).await?;
    let days = settings_of(&site).care.follow_up_days;
    let events = store.referral_events(&referral.id).await?;
    let h = history(&events)?;
    let today = today_at(store, &referral.site_id).await?;
    Ok(ReferralView {
        status: current_status(&h),
        needs_follow_up: needs_follow_up(&h, today, days),
        referral,
        events,
    })
}

/// Makes a referral for a client (floor staff). `made_on` defaults to today.
pub async fn make(
    store: &Store,
    ctx: &Ctx,
    client_id: &str,
    category: &str,
    made_on: Option<Date>,
    note: Option<&str>,
) -> AppResult<ReferralView> {
    let site_id = match crate::clients::client_site(store, ctx, client_id).await {
        Err(AppError::NotFound) => {
            return Err(Invalid::one("client_id", "no such client at a site where you have a role").into());
        }
        other => other?,
    };
    let audit = ctx.allow(store, Action::RecordVisit, &site_id).await?;
    let site = store.site(&site_id).await?;
    let today = today_at(store, &site_id).await?;
    let r = prepare_referral(
        category,
        made_on.unwrap_or(today),
        &settings_of(&site).care.referral_categories,
        today,
    )?;
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > 1000) {
        return Err(Invalid::one("note", "at most 1,000 characters").into());
    }
    let id = store
        .create_referral(&audit, &site_id, client_id, None, &r.category, r.made.on, note)
        .await?;
    build(store, store.referral(&id).await?).await
}

async fn referral_of(store: &Store, ctx: &Ctx, id: &str) -> AppResult<ReferralRow> {
    let r = store.referral(id).await?;
    if ctx.actor.role_at(&r.site_id).is_none() {
        return Err(AppError::NotFound);
    }
    Ok(r)
}

/// A referral with its steps (audited: it names a client's care).
pub async fn view(store: &Store, ctx: &Ctx, id: &str) -> AppResult<ReferralView> {
    let r = referral_of(store, ctx, id).await?;
    let audit = ctx.allow(store, Action::ViewClient, &r.site_id).await?;
    let v = build(store, r).await?;
    store
        .audit(&audit, AuditAction::Read, "referral", Some(id.to_string()))
        .await?;
    Ok(v)
}

/// Records the next step; it may be recorded at any later visit. An
/// outcome dated before the referral is refused naming `on`.
pub async fn update(
    store: &Store,
    ctx: &Ctx,
    id: &str,
    status: &str,
    on: Option<Date>,
    note: Option<&str>,
) -> AppResult<ReferralView> {
    let r = referral_of(store, ctx, id).await?;
    let audit = ctx.allow(store, Action::RecordVisit, &r.site_id).await?;
    let events = store.referral_events(id).await?;
    let h = history(&events)?;
    let today = today_at(store, &r.site_id).await?;
    let e = prepare_status_change(&h, status, on.unwrap_or(today), today, note)?;
    let steps = i64::try_from(events.len()).unwrap_or(i64::MAX);
    store
        .add_referral_event(
            &audit,
            &r.site_id,
            id,
            steps,
            e.status.as_str(),
            e.on,
            e.note.as_deref(),
        )
        .await?;
    build(store, store.referral(id).await?).await
}

/// Open referrals of a site with no news for longer than its follow-up
/// interval (audited as one read of the list).
pub async fn follow_up(store: &Store, ctx: &Ctx, site_id: &str) -> AppResult<Vec<ReferralView>> {
    let audit = ctx.allow(store, Action::ViewClient, site_id).await?;
    let mut out = Vec::new();
    for r in store.open_referrals(site_id).await? {
        let v = build(store, r).await?;
        if v.needs_follow_up {
            out.push(v);
        }
    }
    store
        .audit(
            &audit,
            AuditAction::Read,
            "referral_follow_up",
            Some(site_id.to_string()),
        )
        .await?;
    Ok(out)
}
