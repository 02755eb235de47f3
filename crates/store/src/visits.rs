//! Visits: check-in, refusal, check-out, void. Nothing is deleted.

use haven_domain::audit::AuditAction;
use time::OffsetDateTime;

use crate::{
    AuditCtx, Result, Store, StoreError, audit::append_audit, is_unique_violation, new_id, read, ts::Ts, write_tx,
};

/// A visit, with its client's code.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct VisitRow {
    /// Id.
    pub id: String,
    /// Site.
    pub site_id: String,
    /// Client.
    pub client_id: String,
    /// The client's code.
    pub client_code: String,
    /// `attended` or `refused`.
    pub status: String,
    /// Arrival.
    pub arrived_at: OffsetDateTime,
    /// Departure.
    pub left_at: Option<OffsetDateTime>,
    /// Substances as a JSON array.
    pub substances: String,
    /// Route.
    pub route: Option<String>,
    /// Counterfactual place.
    pub otherwise_place: Option<String>,
    /// Refusal reason code.
    pub refusal_reason: Option<String>,
    /// Recorded by (user id).
    pub created_by: String,
    /// Voided.
    pub voided_at: Option<OffsetDateTime>,
    /// Why voided.
    pub void_reason: Option<String>,
    /// Every eligibility rule's result, as JSON (dcr-practice §4.2).
    pub eligibility: Option<String>,
    /// Why a failing rule was overridden.
    pub override_reason: Option<String>,
}

impl VisitRow {
    /// Substances as a list.
    pub fn substance_list(&self) -> Vec<String> {
        serde_json::from_str(&self.substances).unwrap_or_default()
    }

    /// What the day's figures need.
    pub fn summary(&self) -> haven_domain::visit::VisitSummary {
        haven_domain::visit::VisitSummary {
            client_id: self.client_id.clone(),
            refused: self.status == "refused",
            voided: self.voided_at.is_some(),
            route: self.route.clone(),
            open: self.left_at.is_none(),
        }
    }

    /// State for the domain's check-out and void rules.
    pub fn state(&self) -> haven_domain::visit::VisitState {
        haven_domain::visit::VisitState {
            arrived_at: self.arrived_at,
            left_at: self.left_at,
            refused: self.status == "refused",
            voided: self.voided_at.is_some(),
        }
    }
}

/// What the store needs to record a visit or refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVisitRecord {
    /// Client.
    pub client_id: String,
    /// `attended` or `refused`.
    pub status: &'static str,
    /// Arrival.
    pub arrived_at: OffsetDateTime,
    /// Substances.
    pub substances: Vec<String>,
    /// Route.
    pub route: Option<String>,
    /// Counterfactual place.
    pub otherwise_place: Option<String>,
    /// Refusal reason.
    pub refusal_reason: Option<String>,
    /// Idempotency key from the API client.
    pub idempotency_key: Option<String>,
    /// Eligibility results as JSON.
    pub eligibility: Option<String>,
    /// Override reason (the actor is recorded as the overrider).
    pub override_reason: Option<String>,
}

const VISIT_SELECT: &str = "SELECT v.id, v.site_id, v.client_id, c.code AS client_code, v.status, v.arrived_at, \
     v.left_at, v.substances, v.route, v.otherwise_place, v.refusal_reason, v.created_by, v.voided_at, v.void_reason, \
     v.eligibility, v.override_reason \
     FROM visits v JOIN clients c ON c.id = v.client_id";

/// Whether a visit was newly created or an earlier one with the same
/// idempotency key was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// Written now.
    New,
    /// Returned from an earlier request with the same key.
    Replayed,
}

impl Store {
    /// Records a visit (or refusal) for a client of `site_id`. With an
    /// idempotency key, a retry returns the first visit instead of a second.
    pub async fn create_visit(
        &self,
        ctx: &AuditCtx,
        site_id: &str,
        rec: &NewVisitRecord,
    ) -> Result<(VisitRow, Created)> {
        let actor = ctx.actor_id.clone().unwrap_or_default();
        if let Some(key) = &rec.idempotency_key
            && let Some(v) = self.visit_by_key(&actor, key).await?
        {
            return Ok((v, Created::Replayed));
        }
        let id = new_id();
        let substances = serde_json::to_string(&rec.substances).unwrap_or_else(|_| "[]".into());
        let r: Result<String> = async {
            Ok(write_tx!(self, |tx, pg| {
                // The client must belong to this site and not be merged away.
                let code: Option<String> = sqlx::query_scalar(
                    "SELECT code FROM clients WHERE id = $1 AND site_id = $2 AND merged_into IS NULL",
                )
                .bind(&rec.client_id)
                .bind(site_id)
                .fetch_optional(&mut **tx)
                .await?;
                let Some(code) = code else {
                    return Err(StoreError::NotFound);
                };
                sqlx::query(
                    "INSERT INTO visits (id, site_id, client_id, status, arrived_at, substances, route, \
                     otherwise_place, refusal_reason, created_by, created_at, idempotency_key, eligibility, override_reason, \
                     override_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                )
                .bind(&id)
                .bind(site_id)
                .bind(&rec.client_id)
                .bind(rec.status)
                .bind(Ts(rec.arrived_at))
                .bind(&substances)
                .bind(&rec.route)
                .bind(&rec.otherwise_place)
                .bind(&rec.refusal_reason)
                .bind(&actor)
                .bind(Ts(haven_domain::clock::now()))
                .bind(&rec.idempotency_key)
                .bind(&rec.eligibility)
                .bind(&rec.override_reason)
                .bind(rec.override_reason.as_ref().map(|_| actor.clone()))
                .execute(&mut **tx)
                .await?;
                append_audit!(tx, pg, ctx, AuditAction::Create, "visit", Some(id.clone()));
                code
            }))
        }
        .await;
        match r {
            // Two requests with one key raced: the loser returns the winner's visit.
            Err(StoreError::Database(e)) if is_unique_violation(&e) && rec.idempotency_key.is_some() => {
                let key = rec.idempotency_key.as_deref().unwrap_or_default();
                let v = self.visit_by_key(&actor, key).await?.ok_or(StoreError::Database(e))?;
                Ok((v, Created::Replayed))
            }
            Err(e) => Err(e),
            // Built from what was written: no read-back on the hot path.
            Ok(client_code) => Ok((
                VisitRow {
                    id,
                    site_id: site_id.to_string(),
                    client_id: rec.client_id.clone(),
                    client_code,
                    status: rec.status.to_string(),
                    arrived_at: rec.arrived_at,
                    left_at: None,
                    substances,
                    route: rec.route.clone(),
                    otherwise_place: rec.otherwise_place.clone(),
                    refusal_reason: rec.refusal_reason.clone(),
                    created_by: actor,
                    voided_at: None,
                    void_reason: None,
                    eligibility: rec.eligibility.clone(),
                    override_reason: rec.override_reason.clone(),
                },
                Created::New,
            )),
        }
    }

    async fn visit_by_key(&self, user_id: &str, key: &str) -> Result<Option<VisitRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, VisitRow>(sqlx::AssertSqlSafe(
            format!("{VISIT_SELECT} WHERE v.created_by = $1 AND v.idempotency_key = $2")
        ))
        .bind(user_id.to_string())
        .bind(key.to_string())
        .fetch_optional(c)
        .await?))
    }

    /// A visit of a site.
    pub async fn visit(&self, site_id: &str, id: &str) -> Result<VisitRow> {
        read!(self, |c| sqlx::query_as::<_, VisitRow>(sqlx::AssertSqlSafe(format!(
            "{VISIT_SELECT} WHERE v.site_id = $1 AND v.id = $2"
        )))
        .bind(site_id.to_string())
        .bind(id.to_string())
        .fetch_optional(c)
        .await?
        .ok_or(StoreError::NotFound))
    }

    /// A visit by id with its site, for callers that then check access to that site.
    pub async fn visit_site(&self, id: &str) -> Result<String> {
        read!(self, |c| sqlx::query_scalar::<_, String>(
            "SELECT site_id FROM visits WHERE id = $1"
        )
        .bind(id.to_string())
        .fetch_optional(c)
        .await?
        .ok_or(StoreError::NotFound))
    }

    /// Records departure. The caller has validated the time against the
    /// visit's state; the `left_at IS NULL` guard makes a racing second
    /// check-out fail instead of overwriting the first.
    pub async fn check_out(&self, ctx: &AuditCtx, site_id: &str, id: &str, left_at: OffsetDateTime) -> Result<()> {
        write_tx!(self, |tx, pg| {
            let n = sqlx::query(
                "UPDATE visits SET left_at = $3 WHERE id = $1 AND site_id = $2 AND left_at IS NULL AND voided_at IS NULL",
            )
            .bind(id)
            .bind(site_id)
            .bind(Ts(left_at))
            .execute(&mut **tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Err(StoreError::Conflict(
                    "the visit is already checked out or voided".into(),
                ));
            }
            append_audit!(tx, pg, ctx, AuditAction::Update, "visit", Some(id.to_string()));
        });
        Ok(())
    }

    /// Voids a visit with a reason; it stays stored and visible to managers.
    pub async fn void_visit(&self, ctx: &AuditCtx, site_id: &str, id: &str, reason: &str) -> Result<()> {
        write_tx!(self, |tx, pg| {
            let n = sqlx::query(
                "UPDATE visits SET voided_at = $3, voided_by = $4, void_reason = $5 \
                 WHERE id = $1 AND site_id = $2 AND voided_at IS NULL",
            )
            .bind(id)
            .bind(site_id)
            .bind(Ts(haven_domain::clock::now()))
            .bind(&ctx.actor_id)
            .bind(reason)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Err(StoreError::Conflict("the visit is already voided".into()));
            }
            append_audit!(tx, pg, ctx, AuditAction::Void, "visit", Some(id.to_string()));
        });
        Ok(())
    }

    /// A site's visits that arrived in `[from, to)`, newest first, optionally
    /// only those whose client code starts with `code_prefix`.
    pub async fn visits_between(
        &self,
        site_id: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
        code_prefix: Option<&str>,
        limit: i64,
    ) -> Result<Vec<VisitRow>> {
        let prefix = format!(
            "{}%",
            code_prefix
                .unwrap_or("")
                .trim()
                .to_uppercase()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect::<String>()
        );
        read!(self, |c| Ok(sqlx::query_as::<_, VisitRow>(sqlx::AssertSqlSafe(
            format!(
                "{VISIT_SELECT} WHERE v.site_id = $1 AND v.arrived_at >= $2 AND v.arrived_at < $3 AND c.code LIKE $4 \
             ORDER BY v.arrived_at DESC LIMIT $5"
            )
        ))
        .bind(site_id.to_string())
        .bind(Ts(from))
        .bind(Ts(to))
        .bind(prefix)
        .bind(limit)
        .fetch_all(c)
        .await?))
    }

    /// Visits of some clients (a client and those merged into it), newest first.
    pub async fn visits_of_clients(&self, site_id: &str, client_ids: &[String], limit: i64) -> Result<Vec<VisitRow>> {
        let mut out = Vec::new();
        for cid in client_ids {
            let mut rows = read!(self, |c| sqlx::query_as::<_, VisitRow>(sqlx::AssertSqlSafe(format!(
                "{VISIT_SELECT} WHERE v.site_id = $1 AND v.client_id = $2 ORDER BY v.arrived_at DESC LIMIT $3"
            )))
            .bind(site_id.to_string())
            .bind(cid.clone())
            .bind(limit)
            .fetch_all(c)
            .await?);
            out.append(&mut rows);
        }
        out.sort_by_key(|v| std::cmp::Reverse(v.arrived_at));
        out.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(out)
    }

    /// Number of visits at a site (all time, including voided).
    pub async fn visit_count(&self, site_id: &str) -> Result<i64> {
        read!(self, |c| Ok(sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM visits WHERE site_id = $1"
        )
        .bind(site_id.to_string())
        .fetch_one(c)
        .await?))
    }
}
