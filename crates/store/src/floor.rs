//! The floor: episodes, observation checks, after-care, space cleaning and
//! service state, the board, and handover notes. Emergencies are in
//! `emergencies.rs`. Nothing here is deleted.

use haven_domain::audit::AuditAction;
use time::OffsetDateTime;

use crate::{
    AuditCtx, Result, Store, StoreError, audit::append_audit, emergencies::NewEmergencyRecord, is_unique_violation,
    new_id, read, ts::Ts, write_tx,
};

/// One space on the board, with its running episode if any.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BoardSpaceRow {
    /// Space id.
    pub id: String,
    /// Label.
    pub label: String,
    /// `injecting` or `inhalation`.
    pub kind: String,
    /// Wheelchair accessible.
    pub wheelchair: bool,
    /// In service.
    pub in_service: bool,
    /// Used and not yet cleaned.
    pub needs_cleaning: bool,
    /// Running episode.
    pub episode_id: Option<String>,
    /// Its visit.
    pub visit_id: Option<String>,
    /// The client's code (never a name).
    pub client_code: Option<String>,
    /// Substances as JSON.
    pub substances: Option<String>,
    /// Route.
    pub route: Option<String>,
    /// Episode start.
    pub started_at: Option<OffsetDateTime>,
    /// Last observation check.
    pub last_check_at: Option<OffsetDateTime>,
    /// An open emergency at this space.
    pub emergency_id: Option<String>,
}

/// A person checked in for consumption and not yet given a space.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WaitingRow {
    /// Visit.
    pub visit_id: String,
    /// Client code.
    pub client_code: String,
    /// Substances as JSON.
    pub substances: String,
    /// Route.
    pub route: String,
    /// Arrival.
    pub arrived_at: OffsetDateTime,
}

/// A stay in after-care.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AftercareRow {
    /// Id.
    pub id: String,
    /// Site.
    pub site_id: String,
    /// Visit.
    pub visit_id: String,
    /// Client code.
    pub client_code: String,
    /// Entered.
    pub entered_at: OffsetDateTime,
    /// Left.
    pub left_at: Option<OffsetDateTime>,
    /// Observation note.
    pub observation: String,
}

/// An episode with its space and client code.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EpisodeRow {
    /// Id.
    pub id: String,
    /// Site.
    pub site_id: String,
    /// Visit.
    pub visit_id: String,
    /// Client.
    pub client_id: String,
    /// Client code.
    pub client_code: String,
    /// Space.
    pub space_id: String,
    /// Space label.
    pub space_label: String,
    /// Space kind.
    pub space_kind: String,
    /// Substances as JSON.
    pub substances: String,
    /// Route.
    pub route: String,
    /// Start.
    pub started_at: OffsetDateTime,
    /// End.
    pub ended_at: Option<OffsetDateTime>,
    /// Equipment left in the space at the end.
    pub equipment_left: Option<bool>,
}

impl EpisodeRow {
    /// Substances as a list.
    pub fn substance_list(&self) -> Vec<String> {
        serde_json::from_str(&self.substances).unwrap_or_default()
    }
}

/// An observation check.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CheckRow {
    /// Id.
    pub id: String,
    /// Episode.
    pub episode_id: String,
    /// When.
    pub at: OffsetDateTime,
    /// `responsive`, `drowsy`, `unresponsive`.
    pub status: String,
    /// Breaths per minute.
    pub resp_rate: Option<i32>,
    /// SpO2 %.
    pub spo2: Option<i32>,
    /// Sedation score.
    pub sedation: Option<i32>,
    /// Recorded by (user id).
    pub recorded_by: String,
}

/// What the store needs to start an episode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEpisodeRecord {
    /// Visit.
    pub visit_id: String,
    /// Client.
    pub client_id: String,
    /// Space.
    pub space_id: String,
    /// Substances.
    pub substances: Vec<String>,
    /// Route.
    pub route: String,
    /// Start.
    pub started_at: OffsetDateTime,
}

/// What the store needs to record an observation check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCheckRecord {
    /// When.
    pub at: OffsetDateTime,
    /// Responsiveness code.
    pub status: String,
    /// Breaths per minute.
    pub resp_rate: Option<u16>,
    /// SpO2 %.
    pub spo2: Option<u16>,
    /// Sedation score.
    pub sedation: Option<u16>,
}

/// A change to a space made from the floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpaceMark {
    /// Cleaned: ready for the next person.
    Cleaned,
    /// Taken out of service.
    OutOfService,
    /// Back in service.
    InService,
}

impl SpaceMark {
    /// Parses the wire code (`cleaned`, `out_of_service`, `in_service`).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "cleaned" => SpaceMark::Cleaned,
            "out_of_service" => SpaceMark::OutOfService,
            "in_service" => SpaceMark::InService,
            _ => return None,
        })
    }
}

/// A handover note.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct HandoverNoteRow {
    /// Id.
    pub id: String,
    /// Text.
    pub text: String,
    /// Author's display name.
    pub author: String,
    /// Written.
    pub written_at: OffsetDateTime,
}

const EPISODE_SELECT: &str = "SELECT e.id, e.site_id, e.visit_id, e.client_id, c.code AS client_code, e.space_id, \
     s.label AS space_label, s.kind AS space_kind, e.substances, e.route, e.started_at, e.ended_at, e.equipment_left \
     FROM episodes e JOIN clients c ON c.id = e.client_id JOIN spaces s ON s.id = e.space_id";

const AFTERCARE_SELECT: &str = "SELECT a.id, a.site_id, a.visit_id, c.code AS client_code, a.entered_at, a.left_at, \
     a.observation FROM aftercare a JOIN visits v ON v.id = a.visit_id JOIN clients c ON c.id = v.client_id";

fn to_i32(v: Option<u16>) -> Option<i32> {
    v.map(i32::from)
}

impl Store {
    /// The board of a site: every space with its running episode, last
    /// check and open emergency.
    pub async fn board_spaces(&self, site_id: &str) -> Result<Vec<BoardSpaceRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, BoardSpaceRow>(
            "SELECT s.id, s.label, s.kind, s.wheelchair, s.in_service, s.needs_cleaning, \
             e.id AS episode_id, e.visit_id, c.code AS client_code, e.substances, e.route, e.started_at, \
             (SELECT MAX(o.at) FROM observation_checks o WHERE o.episode_id = e.id) AS last_check_at, \
             (SELECT m.id FROM emergencies m WHERE m.space_id = s.id AND m.closed_at IS NULL \
              ORDER BY m.started_at LIMIT 1) AS emergency_id \
             FROM spaces s LEFT JOIN episodes e ON e.space_id = s.id AND e.ended_at IS NULL \
             LEFT JOIN clients c ON c.id = e.client_id \
             WHERE s.site_id = $1 ORDER BY s.label"
        )
        .bind(site_id.to_string())
        .fetch_all(c)
        .await?))
    }

    /// People checked in to consume since `since` who have no episode yet
    /// and are not in after-care, first come first.
    pub async fn waiting(&self, site_id: &str, since: OffsetDateTime) -> Result<Vec<WaitingRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, WaitingRow>(
            "SELECT v.id AS visit_id, c.code AS client_code, v.substances, v.route, v.arrived_at \
             FROM visits v JOIN clients c ON c.id = v.client_id \
             WHERE v.site_id = $1 AND v.arrived_at >= $2 AND v.status = 'attended' AND v.left_at IS NULL \
             AND v.voided_at IS NULL AND v.route IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM episodes e WHERE e.visit_id = v.id) \
             AND NOT EXISTS (SELECT 1 FROM aftercare a WHERE a.visit_id = v.id) \
             ORDER BY v.arrived_at, v.id"
        )
        .bind(site_id.to_string())
        .bind(Ts(since))
        .fetch_all(c)
        .await?))
    }

    /// People in after-care now.
    pub async fn in_aftercare(&self, site_id: &str) -> Result<Vec<AftercareRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, AftercareRow>(sqlx::AssertSqlSafe(
            format!("{AFTERCARE_SELECT} WHERE a.site_id = $1 AND a.left_at IS NULL ORDER BY a.entered_at")
        ))
        .bind(site_id.to_string())
        .fetch_all(c)
        .await?))
    }

    /// Starts an episode. The space must be in service, cleaned and free; a
    /// racing second start on the same space (or visit) hits the partial
    /// unique index and becomes a conflict.
    pub async fn start_episode(&self, ctx: &AuditCtx, site_id: &str, rec: &NewEpisodeRecord) -> Result<String> {
        let id = new_id();
        let substances = serde_json::to_string(&rec.substances).unwrap_or_else(|_| "[]".into());
        let r: Result<()> = async {
            write_tx!(self, |tx, pg| {
                let space: Option<(String, bool, bool)> = sqlx::query_as(
                    "SELECT label, in_service, needs_cleaning FROM spaces WHERE id = $1 AND site_id = $2",
                )
                .bind(&rec.space_id)
                .bind(site_id)
                .fetch_optional(&mut **tx)
                .await?;
                let Some((label, in_service, needs_cleaning)) = space else {
                    return Err(StoreError::NotFound);
                };
                if !in_service {
                    return Err(StoreError::Conflict(format!("space {label} is out of service")));
                }
                if needs_cleaning {
                    return Err(StoreError::Conflict(format!("space {label} needs cleaning first")));
                }
                sqlx::query(
                    "INSERT INTO episodes (id, site_id, visit_id, client_id, space_id, substances, route, started_at, \
                     started_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&id)
                .bind(site_id)
                .bind(&rec.visit_id)
                .bind(&rec.client_id)
                .bind(&rec.space_id)
                .bind(&substances)
                .bind(&rec.route)
                .bind(Ts(rec.started_at))
                .bind(&ctx.actor_id)
                .execute(&mut **tx)
                .await?;
                append_audit!(tx, pg, ctx, AuditAction::Create, "episode", Some(id.clone()));
            });
            Ok(())
        }
        .await;
        match r {
            Err(StoreError::Database(e)) if is_unique_violation(&e) => Err(StoreError::Conflict(
                "that space was just taken, or this person already has a space; the board has been updated".into(),
            )),
            other => other.map(|_| id),
        }
    }

    /// An episode of a site.
    pub async fn episode(&self, site_id: &str, id: &str) -> Result<EpisodeRow> {
        read!(self, |c| sqlx::query_as::<_, EpisodeRow>(sqlx::AssertSqlSafe(format!(
            "{EPISODE_SELECT} WHERE e.site_id = $1 AND e.id = $2"
        )))
        .bind(site_id.to_string())
        .bind(id.to_string())
        .fetch_optional(c)
        .await?
        .ok_or(StoreError::NotFound))
    }

    /// The site of a space, for access checks.
    pub async fn space_site(&self, id: &str) -> Result<String> {
        read!(self, |c| sqlx::query_scalar::<_, String>(
            "SELECT site_id FROM spaces WHERE id = $1"
        )
        .bind(id.to_string())
        .fetch_optional(c)
        .await?
        .ok_or(StoreError::NotFound))
    }

    /// The site of an episode, for access checks.
    pub async fn episode_site(&self, id: &str) -> Result<String> {
        read!(self, |c| sqlx::query_scalar::<_, String>(
            "SELECT site_id FROM episodes WHERE id = $1"
        )
        .bind(id.to_string())
        .fetch_optional(c)
        .await?
        .ok_or(StoreError::NotFound))
    }

    /// The episodes of a visit, oldest first.
    pub async fn episodes_of_visit(&self, site_id: &str, visit_id: &str) -> Result<Vec<EpisodeRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, EpisodeRow>(sqlx::AssertSqlSafe(
            format!("{EPISODE_SELECT} WHERE e.site_id = $1 AND e.visit_id = $2 ORDER BY e.started_at")
        ))
        .bind(site_id.to_string())
        .bind(visit_id.to_string())
        .fetch_all(c)
        .await?))
    }

    /// The episodes running at a site.
    pub async fn open_episodes(&self, site_id: &str) -> Result<Vec<EpisodeRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, EpisodeRow>(sqlx::AssertSqlSafe(
            format!("{EPISODE_SELECT} WHERE e.site_id = $1 AND e.ended_at IS NULL ORDER BY s.label")
        ))
        .bind(site_id.to_string())
        .fetch_all(c)
        .await?))
    }

    /// Observation checks of an episode, oldest first.
    pub async fn checks(&self, site_id: &str, episode_id: &str) -> Result<Vec<CheckRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, CheckRow>(
            "SELECT id, episode_id, at, status, resp_rate, spo2, sedation, recorded_by FROM observation_checks \
             WHERE site_id = $1 AND episode_id = $2 ORDER BY at, id"
        )
        .bind(site_id.to_string())
        .bind(episode_id.to_string())
        .fetch_all(c)
        .await?))
    }

    /// Records an observation check. With `emergency`, an emergency opens in
    /// the same transaction (an unresponsive person); its id is returned.
    pub async fn add_check(
        &self,
        ctx: &AuditCtx,
        site_id: &str,
        episode_id: &str,
        rec: &NewCheckRecord,
        emergency: Option<&NewEmergencyRecord>,
    ) -> Result<(String, Option<String>)> {
        let id = new_id();
        let emergency_id = write_tx!(self, |tx, pg| {
            let running: Option<bool> =
                sqlx::query_scalar("SELECT (ended_at IS NULL) FROM episodes WHERE id = $1 AND site_id = $2")
                    .bind(episode_id)
                    .bind(site_id)
                    .fetch_optional(&mut **tx)
                    .await?;
            match running {
                None => return Err(StoreError::NotFound),
                Some(false) => return Err(StoreError::Conflict("this episode has ended".into())),
                Some(true) => {}
            }
            sqlx::query(
                "INSERT INTO observation_checks (id, site_id, episode_id, at, status, resp_rate, spo2, sedation, \
                 recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&id)
            .bind(site_id)
            .bind(episode_id)
            .bind(Ts(rec.at))
            .bind(&rec.status)
            .bind(to_i32(rec.resp_rate))
            .bind(to_i32(rec.spo2))
            .bind(to_i32(rec.sedation))
            .bind(&ctx.actor_id)
            .bind(Ts(haven_domain::clock::now()))
            .execute(&mut **tx)
            .await?;
            append_audit!(tx, pg, ctx, AuditAction::Create, "observation_check", Some(id.clone()));
            match emergency {
                Some(e) => Some(crate::emergencies::insert_emergency!(tx, pg, ctx, site_id, e)),
                None => None,
            }
        });
        Ok((id, emergency_id))
    }

    /// Ends an episode; the space then needs cleaning. A second end fails.
    pub async fn end_episode(
        &self,
        ctx: &AuditCtx,
        site_id: &str,
        episode_id: &str,
        ended_at: OffsetDateTime,
        equipment_left: bool,
    ) -> Result<()> {
        write_tx!(self, |tx, pg| {
            let space: Option<String> = sqlx::query_scalar(
                "UPDATE episodes SET ended_at = $3, ended_by = $4, equipment_left = $5 \
                 WHERE id = $1 AND site_id = $2 AND ended_at IS NULL RETURNING space_id",
            )
            .bind(episode_id)
            .bind(site_id)
            .bind(Ts(ended_at))
            .bind(&ctx.actor_id)
            .bind(equipment_left)
            .fetch_optional(&mut **tx)
            .await?;
            let Some(space) = space else {
                return Err(StoreError::Conflict("this episode has already ended".into()));
            };
            sqlx::query("UPDATE spaces SET needs_cleaning = $2 WHERE id = $1")
                .bind(&space)
                .bind(true)
                .execute(&mut **tx)
                .await?;
            append_audit!(
                tx,
                pg,
                ctx,
                AuditAction::Update,
                "episode",
                Some(episode_id.to_string())
            );
        });
        Ok(())
    }

    /// Marks a space cleaned, out of service or back in service.
    pub async fn mark_space(&self, ctx: &AuditCtx, site_id: &str, space_id: &str, mark: SpaceMark) -> Result<()> {
        let sql = match mark {
            SpaceMark::Cleaned => "UPDATE spaces SET needs_cleaning = $3 WHERE id = $1 AND site_id = $2",
            SpaceMark::OutOfService => "UPDATE spaces SET in_service = $3 WHERE id = $1 AND site_id = $2",
            SpaceMark::InService => "UPDATE spaces SET in_service = $3 WHERE id = $1 AND site_id = $2",
        };
        let value = matches!(mark, SpaceMark::InService);
        write_tx!(self, |tx, pg| {
            let n = sqlx::query(sql)
                .bind(space_id)
                .bind(site_id)
                .bind(value)
                .execute(&mut **tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            append_audit!(tx, pg, ctx, AuditAction::Update, "space", Some(space_id.to_string()));
        });
        Ok(())
    }

    /// Enters after-care. A second open stay for the visit is a conflict.
    pub async fn enter_aftercare(
        &self,
        ctx: &AuditCtx,
        site_id: &str,
        visit_id: &str,
        at: OffsetDateTime,
    ) -> Result<String> {
        let id = new_id();
        let r: Result<()> = async {
            write_tx!(self, |tx, pg| {
                sqlx::query(
                    "INSERT INTO aftercare (id, site_id, visit_id, entered_at, entered_by) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&id)
                .bind(site_id)
                .bind(visit_id)
                .bind(Ts(at))
                .bind(&ctx.actor_id)
                .execute(&mut **tx)
                .await?;
                append_audit!(tx, pg, ctx, AuditAction::Create, "aftercare", Some(id.clone()));
            });
            Ok(())
        }
        .await;
        match r {
            Err(StoreError::Database(e)) if is_unique_violation(&e) => {
                Err(StoreError::Conflict("already in after-care".into()))
            }
            other => other.map(|_| id),
        }
    }

    /// Leaves after-care with an observation note. A second leave fails.
    pub async fn leave_aftercare(
        &self,
        ctx: &AuditCtx,
        site_id: &str,
        id: &str,
        at: OffsetDateTime,
        observation: &str,
    ) -> Result<()> {
        write_tx!(self, |tx, pg| {
            let n = sqlx::query(
                "UPDATE aftercare SET left_at = $3, left_by = $4, observation = $5 \
                 WHERE id = $1 AND site_id = $2 AND left_at IS NULL",
            )
            .bind(id)
            .bind(site_id)
            .bind(Ts(at))
            .bind(&ctx.actor_id)
            .bind(observation)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Err(StoreError::Conflict("already left after-care".into()));
            }
            append_audit!(tx, pg, ctx, AuditAction::Update, "aftercare", Some(id.to_string()));
        });
        Ok(())
    }

    /// A stay in after-care.
    pub async fn aftercare(&self, site_id: &str, id: &str) -> Result<AftercareRow> {
        read!(self, |c| sqlx::query_as::<_, AftercareRow>(sqlx::AssertSqlSafe(
            format!("{AFTERCARE_SELECT} WHERE a.site_id = $1 AND a.id = $2")
        ))
        .bind(site_id.to_string())
        .bind(id.to_string())
        .fetch_optional(c)
        .await?
        .ok_or(StoreError::NotFound))
    }

    /// The site of an after-care stay, for access checks.
    pub async fn aftercare_site(&self, id: &str) -> Result<String> {
        read!(self, |c| sqlx::query_scalar::<_, String>(
            "SELECT site_id FROM aftercare WHERE id = $1"
        )
        .bind(id.to_string())
        .fetch_optional(c)
        .await?
        .ok_or(StoreError::NotFound))
    }

    /// After-care stays of a visit, oldest first.
    pub async fn aftercare_of_visit(&self, site_id: &str, visit_id: &str) -> Result<Vec<AftercareRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, AftercareRow>(sqlx::AssertSqlSafe(
            format!("{AFTERCARE_SELECT} WHERE a.site_id = $1 AND a.visit_id = $2 ORDER BY a.entered_at")
        ))
        .bind(site_id.to_string())
        .bind(visit_id.to_string())
        .fetch_all(c)
        .await?))
    }

    /// Adds a handover note.
    pub async fn add_handover_note(&self, ctx: &AuditCtx, site_id: &str, text: &str) -> Result<String> {
        let id = new_id();
        write_tx!(self, |tx, pg| {
            sqlx::query(
                "INSERT INTO handover_notes (id, site_id, text, written_by, written_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&id)
            .bind(site_id)
            .bind(text)
            .bind(&ctx.actor_id)
            .bind(Ts(haven_domain::clock::now()))
            .execute(&mut **tx)
            .await?;
            append_audit!(tx, pg, ctx, AuditAction::Create, "handover_note", Some(id.clone()));
        });
        Ok(id)
    }

    /// Handover notes written since `since`, newest first.
    pub async fn handover_notes(&self, site_id: &str, since: OffsetDateTime) -> Result<Vec<HandoverNoteRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, HandoverNoteRow>(
            "SELECT h.id, h.text, u.display_name AS author, h.written_at FROM handover_notes h \
             JOIN users u ON u.id = h.written_by WHERE h.site_id = $1 AND h.written_at >= $2 \
             ORDER BY h.written_at DESC LIMIT 200"
        )
        .bind(site_id.to_string())
        .bind(Ts(since))
        .fetch_all(c)
        .await?))
    }

    /// Refusals by reason and eligibility overrides by rule, for `[from, to)`
    /// (dcr-practice §4.2: refusals and overrides counted by reason).
    pub async fn refusals_by_reason(
        &self,
        site_id: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<(String, i64)>> {
        read!(self, |c| Ok(sqlx::query_as::<_, (String, i64)>(
            "SELECT refusal_reason, COUNT(*) FROM visits WHERE site_id = $1 AND status = 'refused' \
             AND voided_at IS NULL AND arrived_at >= $2 AND arrived_at < $3 AND refusal_reason IS NOT NULL \
             GROUP BY refusal_reason ORDER BY COUNT(*) DESC, refusal_reason"
        )
        .bind(site_id.to_string())
        .bind(Ts(from))
        .bind(Ts(to))
        .fetch_all(c)
        .await?))
    }

    /// Visits in `[from, to)` checked in with an eligibility override:
    /// (eligibility JSON, override reason).
    pub async fn overrides_between(
        &self,
        site_id: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<(String, String)>> {
        read!(self, |c| Ok(sqlx::query_as::<_, (String, String)>(
            "SELECT eligibility, override_reason FROM visits WHERE site_id = $1 AND override_reason IS NOT NULL \
             AND eligibility IS NOT NULL AND voided_at IS NULL AND arrived_at >= $2 AND arrived_at < $3"
        )
        .bind(site_id.to_string())
        .bind(Ts(from))
        .bind(Ts(to))
        .fetch_all(c)
        .await?))
    }
}
