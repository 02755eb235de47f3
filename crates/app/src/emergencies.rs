//! Medical emergencies: open (from a space, after-care, a visit, or anywhere
//! on site, for a person who may not be registered), record timeline
//! entries as they happen, amend a time, close with the outcome.

use haven_domain::{
    Invalid,
    audit::AuditAction,
    auth::Action,
    emergency::{
        Amendment, Derived, EntryData, EntryDraft, Location, StoredEntry, TimelineEntry, derive, parse_fatal_criteria,
        prepare_amendment, prepare_close, prepare_entry, prepare_start, timeline,
    },
};
use haven_store::{CloseEmergencyRecord, EmergencyRow, NewEmergencyRecord, Store};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::{AppError, AppResult, Ctx, clients::settings_of};

/// Raw input to open an emergency. Give at most one of `space_id`,
/// `aftercare_id`, `visit_id`; with none, `site_id` says where.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenDraft {
    /// Site, when nothing else places the emergency.
    #[serde(default)]
    pub site_id: Option<String>,
    /// The space, when it happens during an episode.
    #[serde(default)]
    pub space_id: Option<String>,
    /// The after-care stay.
    #[serde(default)]
    pub aftercare_id: Option<String>,
    /// A checked-in visit (anywhere on site).
    #[serde(default)]
    pub visit_id: Option<String>,
    /// Where exactly ("toilet 2", "front door").
    #[serde(default)]
    pub location_detail: Option<String>,
    /// For someone not registered: a short description.
    #[serde(default)]
    pub person_description: Option<String>,
    /// When it began; defaults to now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
}

/// An emergency with its timeline and derived fields.
#[derive(Debug, Clone)]
pub struct EmergencyView {
    /// The record.
    pub row: EmergencyRow,
    /// Entries by effective time.
    pub timeline: Vec<TimelineEntry>,
    /// Derived in the domain from the timeline.
    pub derived: Derived,
}

fn text(v: Option<&String>, field: &str, max: usize, inv: &mut Invalid) -> String {
    let t = v.map(|s| s.trim().to_string()).unwrap_or_default();
    if t.chars().count() > max {
        inv.push(field, format!("at most {max} characters"));
    }
    t
}

async fn check_site(store: &Store, ctx: &Ctx, site_id: &str) -> AppResult<()> {
    if ctx.actor.role_at(site_id).is_none() {
        return Err(AppError::NotFound);
    }
    store.site(site_id).await?;
    Ok(())
}

/// Opens an emergency. It shows on every board and page of the site until closed.
pub async fn open(store: &Store, ctx: &Ctx, draft: &OpenDraft) -> AppResult<EmergencyRow> {
    let given = [&draft.space_id, &draft.aftercare_id, &draft.visit_id]
        .iter()
        .filter(|x| x.is_some())
        .count();
    if given > 1 {
        return Err(Invalid::one("space_id", "give one of space_id, aftercare_id or visit_id").into());
    }
    let mut inv = Invalid::default();
    let detail = text(draft.location_detail.as_ref(), "location_detail", 200, &mut inv);
    let person = text(draft.person_description.as_ref(), "person_description", 500, &mut inv);
    let started_at = match prepare_start(draft.started_at, haven_domain::clock::now()) {
        Ok(t) => t,
        Err(e) => {
            inv.0.extend(e.0);
            haven_domain::clock::now()
        }
    };
    let not_found = |f: &str| AppError::Invalid(Invalid::one(f, "not found at a site where you have a role"));
    let (site_id, rec) = if let Some(space_id) = &draft.space_id {
        let site_id = store.space_site(space_id).await.map_err(|_| not_found("space_id"))?;
        check_site(store, ctx, &site_id)
            .await
            .map_err(|_| not_found("space_id"))?;
        let b = store
            .board_spaces(&site_id)
            .await?
            .into_iter()
            .find(|b| &b.id == space_id)
            .ok_or_else(|| not_found("space_id"))?;
        let (visit_id, client_id, episode_id, substances) = match &b.episode_id {
            Some(eid) => {
                let e = store.episode(&site_id, eid).await?;
                (
                    Some(e.visit_id.clone()),
                    Some(e.client_id.clone()),
                    Some(e.id.clone()),
                    e.substance_list(),
                )
            }
            None => (None, None, None, Vec::new()),
        };
        (
            site_id,
            NewEmergencyRecord {
                visit_id,
                episode_id,
                space_id: Some(b.id.clone()),
                client_id,
                location: Location::Space.as_str().into(),
                location_detail: if detail.is_empty() { b.label.clone() } else { detail },
                person_description: person,
                substances,
                started_at,
            },
        )
    } else if let Some(aid) = &draft.aftercare_id {
        let site_id = store.aftercare_site(aid).await.map_err(|_| not_found("aftercare_id"))?;
        check_site(store, ctx, &site_id)
            .await
            .map_err(|_| not_found("aftercare_id"))?;
        let a = store.aftercare(&site_id, aid).await?;
        let v = store.visit(&site_id, &a.visit_id).await?;
        (
            site_id,
            NewEmergencyRecord {
                visit_id: Some(v.id.clone()),
                episode_id: None,
                space_id: None,
                client_id: Some(v.client_id.clone()),
                location: Location::Aftercare.as_str().into(),
                location_detail: if detail.is_empty() { "after-care".into() } else { detail },
                person_description: person,
                substances: v.substance_list(),
                started_at,
            },
        )
    } else if let Some(vid) = &draft.visit_id {
        let site_id = store.visit_site(vid).await.map_err(|_| not_found("visit_id"))?;
        check_site(store, ctx, &site_id)
            .await
            .map_err(|_| not_found("visit_id"))?;
        let v = store.visit(&site_id, vid).await?;
        (
            site_id,
            NewEmergencyRecord {
                visit_id: Some(v.id.clone()),
                episode_id: None,
                space_id: None,
                client_id: Some(v.client_id.clone()),
                location: Location::Elsewhere.as_str().into(),
                location_detail: detail,
                person_description: person,
                substances: v.substance_list(),
                started_at,
            },
        )
    } else {
        let site_id = draft
            .site_id
            .clone()
            .ok_or_else(|| Invalid::one("site_id", "say where: a space, after-care, a visit or a site"))?;
        check_site(store, ctx, &site_id)
            .await
            .map_err(|_| not_found("site_id"))?;
        if person.is_empty() && detail.is_empty() {
            inv.push("person_description", "describe the person or the place");
        }
        (
            site_id,
            NewEmergencyRecord {
                visit_id: None,
                episode_id: None,
                space_id: None,
                client_id: None,
                location: Location::Elsewhere.as_str().into(),
                location_detail: detail,
                person_description: person,
                substances: Vec::new(),
                started_at,
            },
        )
    };
    let audit = ctx.allow(store, Action::RecordEmergency, &site_id).await?;
    inv.into_result()?;
    let id = store.open_emergency(&audit, &site_id, &rec).await?;
    Ok(store.emergency(&site_id, &id).await?)
}

async fn site_of(store: &Store, ctx: &Ctx, id: &str) -> AppResult<String> {
    let site_id = store.emergency_site(id).await?;
    if ctx.actor.role_at(&site_id).is_none() {
        return Err(AppError::NotFound);
    }
    Ok(site_id)
}

async fn build(store: &Store, site_id: &str, row: EmergencyRow) -> AppResult<EmergencyView> {
    let entries: Vec<StoredEntry> = store
        .emergency_entries(site_id, &row.id)
        .await?
        .into_iter()
        .map(|e| {
            let data: EntryData = serde_json::from_str(&e.data)
                .map_err(|err| AppError::Internal(format!("entry {} does not parse: {err}", e.id)))?;
            Ok(StoredEntry {
                id: e.id,
                at: e.at,
                data,
                recorded_at: e.recorded_at,
                recorded_by: e.recorded_by,
            })
        })
        .collect::<AppResult<_>>()?;
    let amendments: Vec<Amendment> = store
        .emergency_amendments(&row.id)
        .await?
        .into_iter()
        .map(|a| Amendment {
            entry_id: a.entry_id,
            new_at: a.new_at,
            reason: a.reason,
            recorded_at: a.recorded_at,
            recorded_by: a.recorded_by,
        })
        .collect();
    let tl = timeline(&entries, &amendments);
    let site = store.site(site_id).await?;
    let criteria = parse_fatal_criteria(&settings_of(&site).potentially_fatal)
        .unwrap_or_else(|_| haven_domain::emergency::default_fatal_criteria());
    let derived = derive(row.started_at, &row.substance_list(), &tl, &criteria);
    Ok(EmergencyView {
        row,
        timeline: tl,
        derived,
    })
}

/// An emergency with its timeline (audited: it is a clinical record).
pub async fn view(store: &Store, ctx: &Ctx, id: &str) -> AppResult<EmergencyView> {
    let site_id = site_of(store, ctx, id).await?;
    let audit = ctx.allow(store, Action::ViewFloor, &site_id).await?;
    let row = store.emergency(&site_id, id).await?;
    let v = build(store, &site_id, row).await?;
    store
        .audit(&audit, AuditAction::Read, "emergency", Some(id.to_string()))
        .await?;
    Ok(v)
}

/// Emergencies that began on a local date at a site, with derived fields.
pub async fn on_date(store: &Store, ctx: &Ctx, site_id: &str, date: time::Date) -> AppResult<Vec<EmergencyView>> {
    let audit = ctx.allow(store, Action::ViewFloor, site_id).await?;
    let site = store.site(site_id).await?;
    let (from, to) = haven_domain::clock::local_day_bounds(&site.timezone, date)
        .ok_or_else(|| AppError::Internal(format!("bad time zone {}", site.timezone)))?;
    let mut out = Vec::new();
    for row in store.emergencies_between(site_id, from, to).await? {
        out.push(build(store, site_id, row).await?);
    }
    store
        .audit(&audit, AuditAction::Read, "emergency_list", Some(date.to_string()))
        .await?;
    Ok(out)
}

/// Appends a timeline entry ("naloxone 0.4 mg IM now" is one call).
pub async fn add_entry(store: &Store, ctx: &Ctx, id: &str, draft: &EntryDraft) -> AppResult<String> {
    let site_id = site_of(store, ctx, id).await?;
    let audit = ctx.allow(store, Action::RecordEmergency, &site_id).await?;
    let row = store.emergency(&site_id, id).await?;
    if row.closed_at.is_some() {
        return Err(AppError::Conflict(
            "this emergency is closed; correct times with an amendment".into(),
        ));
    }
    let (at, data) = prepare_entry(draft, row.started_at, haven_domain::clock::now())?;
    let json = serde_json::to_string(&data).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(store
        .add_emergency_entry(&audit, &site_id, id, at, data.kind(), &json)
        .await?)
}

/// Corrects an entry's time; the original stays on the record.
pub async fn amend(
    store: &Store,
    ctx: &Ctx,
    id: &str,
    entry_id: &str,
    new_at: OffsetDateTime,
    reason: &str,
) -> AppResult<String> {
    let site_id = site_of(store, ctx, id).await?;
    let audit = ctx.allow(store, Action::RecordEmergency, &site_id).await?;
    let row = store.emergency(&site_id, id).await?;
    let v = build(store, &site_id, row).await?;
    let current = v
        .timeline
        .iter()
        .find(|e| e.id == entry_id)
        .ok_or_else(|| Invalid::one("entry_id", "no such entry in this emergency"))?;
    let (new_at, reason) = prepare_amendment(current.at, new_at, reason, v.row.started_at, haven_domain::clock::now())?;
    Ok(store
        .amend_emergency_entry(&audit, &site_id, id, entry_id, new_at, &reason)
        .await?)
}

/// Raw input to close an emergency.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseDraft {
    /// Outcome code.
    #[serde(default)]
    pub outcome: String,
    /// Debrief note.
    #[serde(default)]
    pub debrief: String,
    /// Staff involved (names).
    #[serde(default)]
    pub staff_involved: Vec<String>,
    /// Closed at; defaults to now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
}

/// Closes an emergency with its outcome, debrief and staff involved.
pub async fn close(store: &Store, ctx: &Ctx, id: &str, draft: &CloseDraft) -> AppResult<EmergencyView> {
    let site_id = site_of(store, ctx, id).await?;
    let audit = ctx.allow(store, Action::RecordEmergency, &site_id).await?;
    let row = store.emergency(&site_id, id).await?;
    if row.closed_at.is_some() {
        return Err(AppError::Conflict("this emergency is already closed".into()));
    }
    let v = build(store, &site_id, row).await?;
    let last = v.timeline.iter().map(|e| e.at).max();
    let c = prepare_close(
        &draft.outcome,
        &draft.debrief,
        &draft.staff_involved,
        draft.closed_at,
        v.row.started_at,
        last,
        haven_domain::clock::now(),
    )?;
    store
        .close_emergency(
            &audit,
            &site_id,
            id,
            &CloseEmergencyRecord {
                closed_at: c.closed_at,
                outcome: c.outcome.as_str().to_string(),
                debrief: c.debrief,
                staff_involved: c.staff_involved,
            },
        )
        .await?;
    let row = store.emergency(&site_id, id).await?;
    build(store, &site_id, row).await
}
