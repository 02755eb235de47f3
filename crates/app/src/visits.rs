//! Check-in, refusal, check-out, void, and the day's list and figures.

use haven_domain::{
    Invalid,
    auth::Action,
    visit::{CheckInDraft, check_out_time, check_void, prepare_check_in, prepare_refusal},
};
use haven_store::{Created, NewVisitRecord, Store, VisitRow};
use time::OffsetDateTime;

use crate::{AppError, AppResult, Ctx, clients::settings_of};

/// Checks a client in at their site. With an idempotency key, a retried
/// request returns the first visit (and `Created::Replayed`).
pub async fn check_in(
    store: &Store,
    ctx: &Ctx,
    client_id: &str,
    draft: &CheckInDraft,
    idempotency_key: Option<&str>,
) -> AppResult<(VisitRow, Created)> {
    let site_id = client_site_for_visit(store, ctx, client_id).await?;
    let audit = ctx.allow(store, Action::RecordVisit, &site_id).await?;
    let site = store.site(&site_id).await?;
    let settings = settings_of(&site);
    let now = haven_domain::clock::now();
    let v = prepare_check_in(draft, &settings, now)?;
    let (eligibility, override_reason) = match &v.route {
        // A visit without consumption (wound care, a shower) is not checked
        // against the consumption rules.
        None => (None, None),
        Some(route) => {
            let a = assess_eligibility(store, &site, &settings, client_id, draft, &v.substances, route, now).await?;
            let over = haven_domain::eligibility::check_override(&a, draft.override_reason.as_deref())?;
            if over.is_some() {
                ctx.allow(store, Action::OverrideEligibility, &site_id).await?;
            }
            (Some(a.to_json()), over)
        }
    };
    let key = match idempotency_key.map(str::trim) {
        Some(k) if k.is_empty() || k.len() > 200 => {
            return Err(Invalid::one("Idempotency-Key", "must be 1–200 characters").into());
        }
        other => other.map(str::to_string),
    };
    Ok(store
        .create_visit(
            &audit,
            &site_id,
            &NewVisitRecord {
                client_id: client_id.to_string(),
                status: "attended",
                arrived_at: v.arrived_at,
                substances: v.substances,
                route: v.route,
                otherwise_place: v.otherwise_place,
                refusal_reason: None,
                idempotency_key: key,
                eligibility,
                override_reason,
            },
        )
        .await?)
}

/// Runs the site's eligibility rules for a consumption check-in (also used
/// by the check-in page to name each failing rule). Records nothing.
#[allow(clippy::too_many_arguments)]
pub async fn assess_eligibility(
    store: &Store,
    site: &haven_store::SiteRow,
    settings: &haven_domain::site::SiteSettings,
    client_id: &str,
    draft: &CheckInDraft,
    substances: &[String],
    route: &str,
    now: OffsetDateTime,
) -> AppResult<haven_domain::eligibility::Assessment> {
    use haven_domain::site::SpaceKind;
    let client = store.client(&site.id, client_id).await?;
    let mut kinds: Vec<SpaceKind> = Vec::new();
    for s in store.spaces(&site.id).await? {
        if let Some(k) = SpaceKind::parse(&s.kind)
            && !kinds.contains(&k)
        {
            kinds.push(k);
        }
    }
    // A site without spaces yet is not blocked here; starting an episode checks the space.
    if kinds.is_empty() {
        kinds = vec![SpaceKind::Injecting, SpaceKind::Inhalation];
    }
    let year = haven_domain::clock::local_date(&site.timezone, now).map_or(now.year(), |d| d.year());
    Ok(haven_domain::eligibility::assess(
        &settings.eligibility,
        &draft.eligibility,
        &haven_domain::eligibility::Subject {
            year_of_birth: client.year_of_birth,
            home_area: &client.home_area,
            substances,
            route,
            year,
        },
        &kinds,
    ))
}

/// Records a refusal with its reason (dcr-practice §4.2: refusals counted by reason).
pub async fn refuse(
    store: &Store,
    ctx: &Ctx,
    client_id: &str,
    reason: &str,
    at: Option<OffsetDateTime>,
) -> AppResult<VisitRow> {
    let site_id = client_site_for_visit(store, ctx, client_id).await?;
    let audit = ctx.allow(store, Action::RecordVisit, &site_id).await?;
    let site = store.site(&site_id).await?;
    let (reason, at) = prepare_refusal(reason, at, &settings_of(&site), haven_domain::clock::now())?;
    let (row, _) = store
        .create_visit(
            &audit,
            &site_id,
            &NewVisitRecord {
                client_id: client_id.to_string(),
                status: "refused",
                arrived_at: at,
                substances: Vec::new(),
                route: None,
                otherwise_place: None,
                refusal_reason: Some(reason),
                idempotency_key: None,
                eligibility: None,
                override_reason: None,
            },
        )
        .await?;
    Ok(row)
}

/// A client not at any of the actor's sites: the error names the field.
async fn client_site_for_visit(store: &Store, ctx: &Ctx, client_id: &str) -> AppResult<String> {
    match crate::clients::client_site(store, ctx, client_id).await {
        Err(AppError::NotFound) => {
            Err(Invalid::one("client_id", "no such client at a site where you have a role").into())
        }
        other => other,
    }
}

async fn visit_site(store: &Store, ctx: &Ctx, visit_id: &str) -> AppResult<String> {
    let site_id = store.visit_site(visit_id).await?;
    // A visit at a site where the actor has no role is simply not found.
    if ctx.actor.role_at(&site_id).is_none() {
        return Err(AppError::NotFound);
    }
    Ok(site_id)
}

/// Checks a visit out.
pub async fn check_out(
    store: &Store,
    ctx: &Ctx,
    visit_id: &str,
    left_at: Option<OffsetDateTime>,
) -> AppResult<VisitRow> {
    let site_id = visit_site(store, ctx, visit_id).await?;
    let audit = ctx.allow(store, Action::RecordVisit, &site_id).await?;
    let v = store.visit(&site_id, visit_id).await?;
    let t = check_out_time(&v.state(), left_at, haven_domain::clock::now())?;
    let episodes = store.episodes_of_visit(&site_id, visit_id).await?;
    if episodes.iter().any(|e| e.ended_at.is_none()) {
        return Err(Invalid::one("visit", "end the episode in the space first").into());
    }
    // Leaving the building ends after-care.
    for a in store.aftercare_of_visit(&site_id, visit_id).await? {
        if a.left_at.is_none() {
            store
                .leave_aftercare(&audit, &site_id, &a.id, t.max(a.entered_at), "")
                .await?;
        }
    }
    store.check_out(&audit, &site_id, visit_id, t).await?;
    Ok(store.visit(&site_id, visit_id).await?)
}

/// Voids a mistaken visit with a reason.
pub async fn void(store: &Store, ctx: &Ctx, visit_id: &str, reason: &str) -> AppResult<VisitRow> {
    let site_id = visit_site(store, ctx, visit_id).await?;
    let audit = ctx.allow(store, Action::VoidVisit, &site_id).await?;
    let v = store.visit(&site_id, visit_id).await?;
    let reason = check_void(&v.state(), reason)?;
    store.void_visit(&audit, &site_id, visit_id, &reason).await?;
    Ok(store.visit(&site_id, visit_id).await?)
}

/// A site's visits on a local date (the site's time zone), optionally
/// filtered by client code prefix. Voided visits only for managers.
pub async fn on_date(
    store: &Store,
    ctx: &Ctx,
    site_id: &str,
    date: time::Date,
    code_prefix: Option<&str>,
) -> AppResult<Vec<VisitRow>> {
    let audit = ctx.allow(store, Action::ViewVisits, site_id).await?;
    let site = store.site(site_id).await?;
    let (from, to) = haven_domain::clock::local_day_bounds(&site.timezone, date)
        .ok_or_else(|| AppError::Internal(format!("bad time zone {}", site.timezone)))?;
    let show_void = ctx.can(Action::ViewAccessLog, site_id);
    let rows = store
        .visits_between(site_id, from, to, code_prefix, 1_000)
        .await?
        .into_iter()
        .filter(|v| show_void || v.voided_at.is_none())
        .collect();
    // The list shows client codes and substances: its reading is recorded
    // too (the day, not the search text).
    store
        .audit(
            &audit,
            haven_domain::audit::AuditAction::Read,
            "visit_list",
            Some(date.to_string()),
        )
        .await?;
    Ok(rows)
}

/// Today's local date at a site.
pub async fn today(store: &Store, site_id: &str) -> AppResult<time::Date> {
    let site = store.site(site_id).await?;
    haven_domain::clock::local_date(&site.timezone, haven_domain::clock::now())
        .ok_or_else(|| AppError::Internal(format!("bad time zone {}", site.timezone)))
}

/// Today's aggregate figures for the home page (any role at the site).
pub async fn today_figures(store: &Store, ctx: &Ctx, site_id: &str) -> AppResult<haven_domain::visit::DayFigures> {
    ctx.allow(store, Action::ViewSiteFigures, site_id).await?;
    let site = store.site(site_id).await?;
    let date = today(store, site_id).await?;
    let (from, to) = haven_domain::clock::local_day_bounds(&site.timezone, date)
        .ok_or_else(|| AppError::Internal(format!("bad time zone {}", site.timezone)))?;
    let rows = store.visits_between(site_id, from, to, None, 100_000).await?;
    let summaries: Vec<_> = rows.iter().map(|v| v.summary()).collect();
    Ok(haven_domain::visit::day_figures(&summaries))
}

/// One visit, for linking another record to it (e.g. a drug check with the
/// person's consent). It shows a client code, so the read is audited.
pub async fn get(store: &Store, ctx: &Ctx, visit_id: &str) -> AppResult<VisitRow> {
    let site_id = visit_site(store, ctx, visit_id).await?;
    let audit = ctx.allow(store, Action::ViewVisits, &site_id).await?;
    let v = store.visit(&site_id, visit_id).await?;
    if v.voided_at.is_some() && !ctx.can(Action::ViewAccessLog, &site_id) {
        return Err(AppError::NotFound);
    }
    store
        .audit(
            &audit,
            haven_domain::audit::AuditAction::Read,
            "visit",
            Some(visit_id.to_string()),
        )
        .await?;
    Ok(v)
}
