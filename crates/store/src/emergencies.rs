//! Medical emergencies: the record, its append-only timeline, amendments
//! that correct a time while keeping the original, and closing.

use haven_domain::audit::AuditAction;
use time::OffsetDateTime;

use crate::{AuditCtx, Result, Store, StoreError, audit::append_audit, new_id, read, ts::Ts, write_tx};

/// What the store needs to open an emergency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEmergencyRecord {
    /// Visit, when the person is checked in.
    pub visit_id: Option<String>,
    /// Episode, when opened from a space.
    pub episode_id: Option<String>,
    /// Space, when opened from a space.
    pub space_id: Option<String>,
    /// Client, when registered.
    pub client_id: Option<String>,
    /// `space`, `aftercare` or `elsewhere`.
    pub location: String,
    /// Where exactly (space label, "toilet", "front door").
    pub location_detail: String,
    /// For a person who is not registered: a short description.
    pub person_description: String,
    /// Substances used before the event.
    pub substances: Vec<String>,
    /// When the emergency began (recognition).
    pub started_at: OffsetDateTime,
}

/// An emergency with its client code.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EmergencyRow {
    /// Id.
    pub id: String,
    /// Site.
    pub site_id: String,
    /// Visit.
    pub visit_id: Option<String>,
    /// Episode.
    pub episode_id: Option<String>,
    /// Space.
    pub space_id: Option<String>,
    /// Client.
    pub client_id: Option<String>,
    /// Client code.
    pub client_code: Option<String>,
    /// Location code.
    pub location: String,
    /// Location detail.
    pub location_detail: String,
    /// Description of an unregistered person.
    pub person_description: String,
    /// Substances as JSON.
    pub substances: String,
    /// Began.
    pub started_at: OffsetDateTime,
    /// Opened by (user id).
    pub opened_by: String,
    /// Closed.
    pub closed_at: Option<OffsetDateTime>,
    /// Outcome code.
    pub outcome: Option<String>,
    /// Debrief note.
    pub debrief: String,
    /// Staff involved as JSON.
    pub staff_involved: String,
}

impl EmergencyRow {
    /// Substances as a list.
    pub fn substance_list(&self) -> Vec<String> {
        serde_json::from_str(&self.substances).unwrap_or_default()
    }

    /// Staff involved as a list.
    pub fn staff_list(&self) -> Vec<String> {
        serde_json::from_str(&self.staff_involved).unwrap_or_default()
    }
}

/// A stored timeline entry.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EntryRow {
    /// Id.
    pub id: String,
    /// When (as first recorded).
    pub at: OffsetDateTime,
    /// Kind code.
    pub kind: String,
    /// The entry as JSON (`haven_domain::emergency::EntryData`).
    pub data: String,
    /// Recorded by (display name).
    pub recorded_by: String,
    /// Written.
    pub recorded_at: OffsetDateTime,
}

/// A stored amendment of an entry's time.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AmendmentRow {
    /// Id.
    pub id: String,
    /// Entry amended.
    pub entry_id: String,
    /// Corrected time.
    pub new_at: OffsetDateTime,
    /// Why.
    pub reason: String,
    /// By (display name).
    pub recorded_by: String,
    /// Written.
    pub recorded_at: OffsetDateTime,
}

/// What closing writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseEmergencyRecord {
    /// Closed at.
    pub closed_at: OffsetDateTime,
    /// Outcome code.
    pub outcome: String,
    /// Debrief note.
    pub debrief: String,
    /// Staff involved.
    pub staff_involved: Vec<String>,
}

const EMERGENCY_SELECT: &str = "SELECT m.id, m.site_id, m.visit_id, m.episode_id, m.space_id, m.client_id, \
     c.code AS client_code, m.location, m.location_detail, m.person_description, m.substances, m.started_at, \
     m.opened_by, m.closed_at, m.outcome, m.debrief, m.staff_involved \
     FROM emergencies m LEFT JOIN clients c ON c.id = m.client_id";

/// Inserts an emergency and its first timeline entry (recognition) inside
/// an open transaction; shared with the observation check that finds a
/// person unresponsive. A macro because the transaction type differs per
/// backend (see `write_tx!`).
macro_rules! insert_emergency {
    ($tx:expr, $pg:expr, $ctx:expr, $site_id:expr, $e:expr) => {{
        let e: &$crate::emergencies::NewEmergencyRecord = $e;
        let ctx: &$crate::AuditCtx = $ctx;
        let site_id: &str = $site_id;
        let id = $crate::new_id();
        let substances = serde_json::to_string(&e.substances).unwrap_or_else(|_| "[]".into());
        sqlx::query(
            "INSERT INTO emergencies (id, site_id, visit_id, episode_id, space_id, client_id, location, \
             location_detail, person_description, substances, started_at, opened_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&id)
        .bind(site_id)
        .bind(&e.visit_id)
        .bind(&e.episode_id)
        .bind(&e.space_id)
        .bind(&e.client_id)
        .bind(&e.location)
        .bind(&e.location_detail)
        .bind(&e.person_description)
        .bind(substances)
        .bind($crate::ts::Ts(e.started_at))
        .bind(&ctx.actor_id)
        .execute(&mut **$tx)
        .await?;
        sqlx::query(
            "INSERT INTO emergency_entries (id, emergency_id, site_id, at, kind, data, recorded_by, recorded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind($crate::new_id())
        .bind(&id)
        .bind(site_id)
        .bind($crate::ts::Ts(e.started_at))
        .bind("recognition")
        .bind(r#"{"kind":"recognition"}"#)
        .bind(&ctx.actor_id)
        .bind($crate::ts::Ts(haven_domain::clock::now()))
        .execute(&mut **$tx)
        .await?;
        $crate::audit::append_audit!($tx, $pg, ctx, AuditAction::Create, "emergency", Some(id.clone()));
        id
    }};
}
pub(crate) use insert_emergency;

impl Store {
    /// Opens an emergency with its recognition entry.
    pub async fn open_emergency(&self, ctx: &AuditCtx, site_id: &str, e: &NewEmergencyRecord) -> Result<String> {
        Ok(write_tx!(self, |tx, pg| { insert_emergency!(tx, pg, ctx, site_id, e) }))
    }

    /// An emergency of a site.
    pub async fn emergency(&self, site_id: &str, id: &str) -> Result<EmergencyRow> {
        read!(self, |c| sqlx::query_as::<_, EmergencyRow>(sqlx::AssertSqlSafe(
            format!("{EMERGENCY_SELECT} WHERE m.site_id = $1 AND m.id = $2")
        ))
        .bind(site_id.to_string())
        .bind(id.to_string())
        .fetch_optional(c)
        .await?
        .ok_or(StoreError::NotFound))
    }

    /// The site of an emergency, for access checks.
    pub async fn emergency_site(&self, id: &str) -> Result<String> {
        read!(self, |c| sqlx::query_scalar::<_, String>(
            "SELECT site_id FROM emergencies WHERE id = $1"
        )
        .bind(id.to_string())
        .fetch_optional(c)
        .await?
        .ok_or(StoreError::NotFound))
    }

    /// Emergencies still open at a site, oldest first.
    pub async fn open_emergencies(&self, site_id: &str) -> Result<Vec<EmergencyRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, EmergencyRow>(sqlx::AssertSqlSafe(
            format!("{EMERGENCY_SELECT} WHERE m.site_id = $1 AND m.closed_at IS NULL ORDER BY m.started_at")
        ))
        .bind(site_id.to_string())
        .fetch_all(c)
        .await?))
    }

    /// Emergencies that began in `[from, to)`, newest first.
    pub async fn emergencies_between(
        &self,
        site_id: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<EmergencyRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, EmergencyRow>(sqlx::AssertSqlSafe(
            format!(
                "{EMERGENCY_SELECT} WHERE m.site_id = $1 AND m.started_at >= $2 AND m.started_at < $3 \
             ORDER BY m.started_at DESC LIMIT 500"
            )
        ))
        .bind(site_id.to_string())
        .bind(Ts(from))
        .bind(Ts(to))
        .fetch_all(c)
        .await?))
    }

    /// The timeline entries of an emergency, as recorded.
    pub async fn emergency_entries(&self, site_id: &str, emergency_id: &str) -> Result<Vec<EntryRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, EntryRow>(
            "SELECT e.id, e.at, e.kind, e.data, u.display_name AS recorded_by, e.recorded_at \
             FROM emergency_entries e JOIN users u ON u.id = e.recorded_by \
             WHERE e.site_id = $1 AND e.emergency_id = $2 ORDER BY e.recorded_at, e.id"
        )
        .bind(site_id.to_string())
        .bind(emergency_id.to_string())
        .fetch_all(c)
        .await?))
    }

    /// The amendments of an emergency's entries, oldest first.
    pub async fn emergency_amendments(&self, emergency_id: &str) -> Result<Vec<AmendmentRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, AmendmentRow>(
            "SELECT a.id, a.entry_id, a.new_at, a.reason, u.display_name AS recorded_by, a.recorded_at \
             FROM emergency_amendments a JOIN users u ON u.id = a.recorded_by \
             WHERE a.emergency_id = $1 ORDER BY a.recorded_at, a.id"
        )
        .bind(emergency_id.to_string())
        .fetch_all(c)
        .await?))
    }

    /// Appends a timeline entry to an open emergency.
    pub async fn add_emergency_entry(
        &self,
        ctx: &AuditCtx,
        site_id: &str,
        emergency_id: &str,
        at: OffsetDateTime,
        kind: &str,
        data_json: &str,
    ) -> Result<String> {
        let id = new_id();
        write_tx!(self, |tx, pg| {
            let open: Option<bool> =
                sqlx::query_scalar("SELECT (closed_at IS NULL) FROM emergencies WHERE id = $1 AND site_id = $2")
                    .bind(emergency_id)
                    .bind(site_id)
                    .fetch_optional(&mut **tx)
                    .await?;
            match open {
                None => return Err(StoreError::NotFound),
                Some(false) => {
                    return Err(StoreError::Conflict(
                        "this emergency is closed; correct times with an amendment".into(),
                    ));
                }
                Some(true) => {}
            }
            sqlx::query(
                "INSERT INTO emergency_entries (id, emergency_id, site_id, at, kind, data, recorded_by, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&id)
            .bind(emergency_id)
            .bind(site_id)
            .bind(Ts(at))
            .bind(kind)
            .bind(data_json)
            .bind(&ctx.actor_id)
            .bind(Ts(haven_domain::clock::now()))
            .execute(&mut **tx)
            .await?;
            append_audit!(tx, pg, ctx, AuditAction::Create, "emergency_entry", Some(id.clone()));
        });
        Ok(id)
    }

    /// Records a corrected time for an entry; the original stays.
    pub async fn amend_emergency_entry(
        &self,
        ctx: &AuditCtx,
        site_id: &str,
        emergency_id: &str,
        entry_id: &str,
        new_at: OffsetDateTime,
        reason: &str,
    ) -> Result<String> {
        let id = new_id();
        write_tx!(self, |tx, pg| {
            let found: Option<String> = sqlx::query_scalar(
                "SELECT id FROM emergency_entries WHERE id = $1 AND emergency_id = $2 AND site_id = $3",
            )
            .bind(entry_id)
            .bind(emergency_id)
            .bind(site_id)
            .fetch_optional(&mut **tx)
            .await?;
            if found.is_none() {
                return Err(StoreError::NotFound);
            }
            sqlx::query(
                "INSERT INTO emergency_amendments (id, entry_id, emergency_id, new_at, reason, recorded_by, \
                 recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&id)
            .bind(entry_id)
            .bind(emergency_id)
            .bind(Ts(new_at))
            .bind(reason)
            .bind(&ctx.actor_id)
            .bind(Ts(haven_domain::clock::now()))
            .execute(&mut **tx)
            .await?;
            append_audit!(
                tx,
                pg,
                ctx,
                AuditAction::Update,
                "emergency_entry",
                Some(entry_id.to_string())
            );
        });
        Ok(id)
    }

    /// Closes an emergency with its outcome. A second close fails.
    pub async fn close_emergency(
        &self,
        ctx: &AuditCtx,
        site_id: &str,
        id: &str,
        rec: &CloseEmergencyRecord,
    ) -> Result<()> {
        let staff = serde_json::to_string(&rec.staff_involved).unwrap_or_else(|_| "[]".into());
        write_tx!(self, |tx, pg| {
            let n = sqlx::query(
                "UPDATE emergencies SET closed_at = $3, closed_by = $4, outcome = $5, debrief = $6, \
                 staff_involved = $7 WHERE id = $1 AND site_id = $2 AND closed_at IS NULL",
            )
            .bind(id)
            .bind(site_id)
            .bind(Ts(rec.closed_at))
            .bind(&ctx.actor_id)
            .bind(&rec.outcome)
            .bind(&rec.debrief)
            .bind(&staff)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Err(StoreError::Conflict("this emergency is already closed".into()));
            }
            append_audit!(tx, pg, ctx, AuditAction::Update, "emergency", Some(id.to_string()));
        });
        Ok(())
    }
}
