//! The floor: the booth board, episodes, observation checks, after-care,
//! space cleaning and service, and the shift handover.

use haven_domain::{
    Invalid,
    audit::AuditAction,
    auth::Action,
    eligibility::allowed_in_kind,
    emergency::Location,
    floor::{
        Alarm, CheckDraft, EpisodeDraft, KindTimers, Responsiveness, SpaceState, VisitForEpisode, alarm,
        prepare_aftercare, prepare_check, prepare_end, prepare_episode, prepare_handover_note, prepare_leave_aftercare,
        space_state,
    },
    site::SpaceKind,
};
use haven_store::{
    AftercareRow, BoardSpaceRow, EmergencyRow, EpisodeRow, HandoverNoteRow, NewCheckRecord, NewEmergencyRecord,
    NewEpisodeRecord, SpaceMark, SpaceRow, Store, WaitingRow,
};
use time::{Duration, OffsetDateTime};

use crate::{AppError, AppResult, Ctx, clients::settings_of};

/// How far back the waiting list looks (a visit left open overnight is not "waiting").
const WAITING_WINDOW: Duration = Duration::hours(18);

/// One space on the board.
#[derive(Debug, Clone)]
pub struct BoardSpace {
    /// The stored row.
    pub row: BoardSpaceRow,
    /// Derived state.
    pub state: SpaceState,
    /// Colour now.
    pub alarm: Alarm,
    /// The kind's timers.
    pub timers: KindTimers,
    /// Substances as a list.
    pub substances: Vec<String>,
}

/// Everything the board shows.
#[derive(Debug, Clone)]
pub struct Board {
    /// Site id.
    pub site_id: String,
    /// Spaces, by label.
    pub spaces: Vec<BoardSpace>,
    /// People waiting for a space, first come first.
    pub waiting: Vec<WaitingRow>,
    /// People in after-care.
    pub aftercare: Vec<AftercareRow>,
    /// Open emergencies.
    pub emergencies: Vec<EmergencyRow>,
    /// Alerts showing at the site (its own and shared ones).
    pub alerts: Vec<haven_store::AlertRow>,
    /// When it was read.
    pub now: OffsetDateTime,
}

/// The board, audited as one read (the page open, not each live update).
pub async fn board(store: &Store, ctx: &Ctx, site_id: &str) -> AppResult<Board> {
    let audit = ctx.allow(store, Action::ViewFloor, site_id).await?;
    let b = board_unaudited(store, site_id).await?;
    store
        .audit(&audit, AuditAction::Read, "board", Some(site_id.to_string()))
        .await?;
    Ok(b)
}

/// The board for the live feed: the caller has authorised the viewer when
/// the feed was opened.
pub async fn board_unaudited(store: &Store, site_id: &str) -> AppResult<Board> {
    let site = store.site(site_id).await?;
    let settings = settings_of(&site);
    let now = haven_domain::clock::now();
    let rows = store.board_spaces(site_id).await?;
    let spaces = rows
        .into_iter()
        .map(|row| {
            let kind = SpaceKind::parse(&row.kind).unwrap_or(SpaceKind::Injecting);
            let timers = settings.timers.for_kind(kind);
            let state = space_state(row.in_service, row.episode_id.is_some(), row.needs_cleaning);
            let alarm = match row.started_at {
                Some(start) => alarm(now, start, row.last_check_at, timers, row.emergency_id.is_some()),
                None if row.emergency_id.is_some() => Alarm::Red,
                None => Alarm::Normal,
            };
            let substances = row
                .substances
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default();
            BoardSpace {
                row,
                state,
                alarm,
                timers,
                substances,
            }
        })
        .collect();
    Ok(Board {
        site_id: site_id.to_string(),
        spaces,
        waiting: store.waiting(site_id, now - WAITING_WINDOW).await?,
        aftercare: store.in_aftercare(site_id).await?,
        emergencies: store.open_emergencies(site_id).await?,
        alerts: store.active_alerts(site_id, now).await?,
        now,
    })
}

/// Open emergencies at a site, for the banner on every page (no client data
/// beyond the code and place).
pub async fn open_emergencies(store: &Store, ctx: &Ctx, site_id: &str) -> AppResult<Vec<EmergencyRow>> {
    if !ctx.can(Action::ViewFloor, site_id) {
        return Ok(Vec::new());
    }
    Ok(store.open_emergencies(site_id).await?)
}

async fn site_of_visit(store: &Store, ctx: &Ctx, visit_id: &str) -> AppResult<String> {
    let site_id = match store.visit_site(visit_id).await {
        Err(haven_store::StoreError::NotFound) => {
            return Err(Invalid::one("visit_id", "no such visit").into());
        }
        other => other?,
    };
    if ctx.actor.role_at(&site_id).is_none() {
        return Err(Invalid::one("visit_id", "no such visit").into());
    }
    Ok(site_id)
}

async fn site_of_episode(store: &Store, ctx: &Ctx, episode_id: &str) -> AppResult<String> {
    let site_id = store.episode_site(episode_id).await?;
    if ctx.actor.role_at(&site_id).is_none() {
        return Err(AppError::NotFound);
    }
    Ok(site_id)
}

fn space_kind(s: &SpaceRow) -> SpaceKind {
    SpaceKind::parse(&s.kind).unwrap_or(SpaceKind::Injecting)
}

/// Starts an episode: assigns a free space of the right kind to a checked-in
/// person. Two staff giving out the last free space at once: exactly one
/// succeeds, the other gets a conflict.
pub async fn start_episode(store: &Store, ctx: &Ctx, draft: &EpisodeDraft) -> AppResult<EpisodeRow> {
    let site_id = site_of_visit(store, ctx, &draft.visit_id).await?;
    let audit = ctx.allow(store, Action::RecordEpisode, &site_id).await?;
    let site = store.site(&site_id).await?;
    let settings = settings_of(&site);
    let visit = store.visit(&site_id, &draft.visit_id).await?;
    let space = store
        .spaces(&site_id)
        .await?
        .into_iter()
        .find(|s| s.id == draft.space_id)
        .ok_or_else(|| Invalid::one("space_id", "no such space at this site"))?;
    let episodes = store.episodes_of_visit(&site_id, &visit.id).await?;
    let running = store
        .board_spaces(&site_id)
        .await?
        .into_iter()
        .find(|b| b.id == space.id)
        .is_some_and(|b| b.episode_id.is_some());
    let state = space_state(space.in_service, running, space.needs_cleaning);
    let now = haven_domain::clock::now();
    let new = prepare_episode(
        draft,
        &VisitForEpisode {
            arrived_at: visit.arrived_at,
            left: visit.left_at.is_some(),
            refused: visit.status == "refused",
            voided: visit.voided_at.is_some(),
            has_open_episode: episodes.iter().any(|e| e.ended_at.is_none()),
            substances: visit.substance_list(),
            route: visit.route.clone(),
        },
        &space.label,
        state,
        &settings.substances,
        &settings.routes,
        now,
    )?;
    allowed_in_kind(
        &settings.eligibility,
        space_kind(&space),
        &space.label,
        &new.route,
        &new.substances,
    )?;
    let id = store
        .start_episode(
            &audit,
            &site_id,
            &NewEpisodeRecord {
                visit_id: visit.id.clone(),
                client_id: visit.client_id.clone(),
                space_id: space.id.clone(),
                substances: new.substances,
                route: new.route,
                started_at: new.started_at,
            },
        )
        .await?;
    Ok(store.episode(&site_id, &id).await?)
}

/// An episode (for its page and the API).
pub async fn episode(store: &Store, ctx: &Ctx, episode_id: &str) -> AppResult<EpisodeRow> {
    let site_id = site_of_episode(store, ctx, episode_id).await?;
    ctx.allow(store, Action::ViewFloor, &site_id).await?;
    Ok(store.episode(&site_id, episode_id).await?)
}

/// What an observation check produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    /// The check.
    pub check_id: String,
    /// The emergency opened because the person was unresponsive.
    pub emergency_id: Option<String>,
}

/// Records an observation check. "Unresponsive" opens an emergency at the
/// space at once, in the same transaction.
pub async fn record_check(store: &Store, ctx: &Ctx, episode_id: &str, draft: &CheckDraft) -> AppResult<CheckOutcome> {
    let site_id = site_of_episode(store, ctx, episode_id).await?;
    let audit = ctx.allow(store, Action::RecordEpisode, &site_id).await?;
    let e = store.episode(&site_id, episode_id).await?;
    let c = prepare_check(draft, e.started_at, e.ended_at.is_some(), haven_domain::clock::now())?;
    let emergency = (c.status == Responsiveness::Unresponsive).then(|| NewEmergencyRecord {
        visit_id: Some(e.visit_id.clone()),
        episode_id: Some(e.id.clone()),
        space_id: Some(e.space_id.clone()),
        client_id: Some(e.client_id.clone()),
        location: Location::Space.as_str().to_string(),
        location_detail: e.space_label.clone(),
        person_description: String::new(),
        substances: e.substance_list(),
        started_at: c.at,
    });
    let (check_id, emergency_id) = store
        .add_check(
            &audit,
            &site_id,
            episode_id,
            &NewCheckRecord {
                at: c.at,
                status: c.status.as_str().to_string(),
                resp_rate: c.vitals.resp_rate,
                spo2: c.vitals.spo2,
                sedation: c.vitals.sedation,
            },
            emergency.as_ref(),
        )
        .await?;
    Ok(CheckOutcome { check_id, emergency_id })
}

/// Observation checks of an episode.
pub async fn checks(store: &Store, ctx: &Ctx, episode_id: &str) -> AppResult<Vec<haven_store::CheckRow>> {
    let site_id = site_of_episode(store, ctx, episode_id).await?;
    ctx.allow(store, Action::ViewFloor, &site_id).await?;
    Ok(store.checks(&site_id, episode_id).await?)
}

/// Ends an episode; the space then needs cleaning.
pub async fn end_episode(
    store: &Store,
    ctx: &Ctx,
    episode_id: &str,
    at: Option<OffsetDateTime>,
    equipment_left: bool,
) -> AppResult<EpisodeRow> {
    let site_id = site_of_episode(store, ctx, episode_id).await?;
    let audit = ctx.allow(store, Action::RecordEpisode, &site_id).await?;
    let e = store.episode(&site_id, episode_id).await?;
    let at = prepare_end(e.started_at, e.ended_at.is_some(), at, haven_domain::clock::now())?;
    store
        .end_episode(&audit, &site_id, episode_id, at, equipment_left)
        .await?;
    Ok(store.episode(&site_id, episode_id).await?)
}

/// Marks a space cleaned, or takes it out of or back into service (a
/// broken door is found on the floor, not in the admin page).
pub async fn mark_space(store: &Store, ctx: &Ctx, site_id: &str, space_id: &str, mark: SpaceMark) -> AppResult<()> {
    let audit = ctx.allow(store, Action::RecordEpisode, site_id).await?;
    let space = store
        .spaces(site_id)
        .await?
        .into_iter()
        .find(|s| s.id == space_id)
        .ok_or(AppError::NotFound)?;
    if mark == SpaceMark::OutOfService {
        let busy = store
            .board_spaces(site_id)
            .await?
            .into_iter()
            .any(|b| b.id == space.id && b.episode_id.is_some());
        if busy {
            return Err(Invalid::one(
                "space_id",
                format!("space {} is in use; end the episode first", space.label),
            )
            .into());
        }
    }
    if mark == SpaceMark::Cleaned && !space.needs_cleaning {
        return Err(Invalid::one("space_id", format!("space {} does not need cleaning", space.label)).into());
    }
    Ok(store.mark_space(&audit, site_id, space_id, mark).await?)
}

/// Moves a person into after-care.
pub async fn enter_aftercare(
    store: &Store,
    ctx: &Ctx,
    visit_id: &str,
    at: Option<OffsetDateTime>,
) -> AppResult<AftercareRow> {
    let site_id = site_of_visit(store, ctx, visit_id).await?;
    let audit = ctx.allow(store, Action::RecordEpisode, &site_id).await?;
    let v = store.visit(&site_id, visit_id).await?;
    let episodes = store.episodes_of_visit(&site_id, visit_id).await?;
    let stays = store.aftercare_of_visit(&site_id, visit_id).await?;
    let open = v.status == "attended" && v.left_at.is_none() && v.voided_at.is_none();
    let at = prepare_aftercare(
        open,
        episodes.iter().any(|e| e.ended_at.is_none()),
        stays.iter().any(|a| a.left_at.is_none()),
        v.arrived_at,
        at,
        haven_domain::clock::now(),
    )?;
    let id = store.enter_aftercare(&audit, &site_id, visit_id, at).await?;
    Ok(store.aftercare(&site_id, &id).await?)
}

/// Records leaving after-care, with an observation note.
pub async fn leave_aftercare(
    store: &Store,
    ctx: &Ctx,
    aftercare_id: &str,
    observation: &str,
    at: Option<OffsetDateTime>,
) -> AppResult<AftercareRow> {
    let site_id = store.aftercare_site(aftercare_id).await?;
    if ctx.actor.role_at(&site_id).is_none() {
        return Err(AppError::NotFound);
    }
    let audit = ctx.allow(store, Action::RecordEpisode, &site_id).await?;
    let a = store.aftercare(&site_id, aftercare_id).await?;
    let (at, obs) = prepare_leave_aftercare(
        a.entered_at,
        a.left_at.is_some(),
        observation,
        at,
        haven_domain::clock::now(),
    )?;
    store.leave_aftercare(&audit, &site_id, aftercare_id, at, &obs).await?;
    Ok(store.aftercare(&site_id, aftercare_id).await?)
}

/// The shift handover: what the next shift must know.
#[derive(Debug, Clone)]
pub struct Handover {
    /// Running episodes.
    pub episodes: Vec<EpisodeRow>,
    /// People in after-care.
    pub aftercare: Vec<AftercareRow>,
    /// Open emergencies.
    pub emergencies: Vec<EmergencyRow>,
    /// Spaces out of service or waiting for cleaning.
    pub spaces: Vec<SpaceRow>,
    /// People waiting for a space.
    pub waiting: Vec<WaitingRow>,
    /// Notes from the last 24 hours, newest first.
    pub notes: Vec<HandoverNoteRow>,
}

/// The handover page's content (audited as one read).
pub async fn handover(store: &Store, ctx: &Ctx, site_id: &str) -> AppResult<Handover> {
    let audit = ctx.allow(store, Action::ViewFloor, site_id).await?;
    let now = haven_domain::clock::now();
    let h = Handover {
        episodes: store.open_episodes(site_id).await?,
        aftercare: store.in_aftercare(site_id).await?,
        emergencies: store.open_emergencies(site_id).await?,
        spaces: store
            .spaces(site_id)
            .await?
            .into_iter()
            .filter(|s| !s.in_service || s.needs_cleaning)
            .collect(),
        waiting: store.waiting(site_id, now - WAITING_WINDOW).await?,
        notes: store.handover_notes(site_id, now - Duration::hours(24)).await?,
    };
    store
        .audit(&audit, AuditAction::Read, "handover", Some(site_id.to_string()))
        .await?;
    Ok(h)
}

/// Adds a handover note.
pub async fn add_handover_note(store: &Store, ctx: &Ctx, site_id: &str, text: &str) -> AppResult<String> {
    let audit = ctx.allow(store, Action::ViewFloor, site_id).await?;
    let text = prepare_handover_note(text)?;
    Ok(store.add_handover_note(&audit, site_id, &text).await?)
}

/// Refusals by reason and overrides by failing rule for `[from, to)`
/// (dcr-practice §4.2).
pub async fn eligibility_counts(
    store: &Store,
    ctx: &Ctx,
    site_id: &str,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> AppResult<(Vec<(String, i64)>, Vec<(String, i64)>)> {
    ctx.allow(store, Action::ViewSiteFigures, site_id).await?;
    let refusals = store.refusals_by_reason(site_id, from, to).await?;
    let mut overrides: Vec<(String, i64)> = Vec::new();
    for (json, _) in store.overrides_between(site_id, from, to).await? {
        let Some(a) = haven_domain::eligibility::Assessment::from_json(&json) else {
            continue;
        };
        for r in a.failed() {
            match overrides.iter_mut().find(|(k, _)| *k == r.rule) {
                Some((_, n)) => *n += 1,
                None => overrides.push((r.rule.clone(), 1)),
            }
        }
    }
    overrides.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok((refusals, overrides))
}
