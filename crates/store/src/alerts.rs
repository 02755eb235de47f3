//! Site-wide alerts: raised, shown until they expire or are withdrawn,
//! never deleted.

use haven_domain::audit::AuditAction;
use time::OffsetDateTime;

use crate::{AuditCtx, Result, Store, StoreError, audit::append_audit, new_id, read, ts::Ts, write_tx};

/// An alert with the code of the site that raised it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AlertRow {
    /// Id.
    pub id: String,
    /// Site that raised it.
    pub site_id: String,
    /// That site's code.
    pub site_code: String,
    /// Text.
    pub text: String,
    /// Shown until.
    pub expires_at: OffsetDateTime,
    /// Shown at every site of the installation.
    pub shared: bool,
    /// Raised.
    pub created_at: OffsetDateTime,
    /// Withdrawn.
    pub withdrawn_at: Option<OffsetDateTime>,
    /// The drug-checking sample that raised it, if any.
    pub drug_sample_id: Option<String>,
}

const ALERT_SELECT: &str = "SELECT a.id, a.site_id, s.code AS site_code, a.text, a.expires_at, a.shared, \
     a.created_at, a.withdrawn_at, a.drug_sample_id FROM alerts a JOIN sites s ON s.id = a.site_id";

impl Store {
    /// Raises an alert at a site.
    pub async fn create_alert(
        &self,
        ctx: &AuditCtx,
        site_id: &str,
        text: &str,
        expires_at: OffsetDateTime,
        shared: bool,
    ) -> Result<String> {
        self.create_alert_for_sample(ctx, site_id, None, text, expires_at, shared)
            .await
    }

    /// Raises an alert at a site, from a drug-checking sample of that site.
    pub async fn create_alert_for_sample(
        &self,
        ctx: &AuditCtx,
        site_id: &str,
        sample_id: Option<&str>,
        text: &str,
        expires_at: OffsetDateTime,
        shared: bool,
    ) -> Result<String> {
        let id = new_id();
        write_tx!(self, |tx, pg| {
            if let Some(sample) = sample_id {
                let found: Option<String> =
                    sqlx::query_scalar("SELECT id FROM drug_samples WHERE id = $1 AND site_id = $2")
                        .bind(sample)
                        .bind(site_id)
                        .fetch_optional(&mut **tx)
                        .await?;
                if found.is_none() {
                    return Err(StoreError::NotFound);
                }
            }
            sqlx::query(
                "INSERT INTO alerts (id, site_id, text, expires_at, shared, drug_sample_id, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&id)
            .bind(site_id)
            .bind(text)
            .bind(Ts(expires_at))
            .bind(shared)
            .bind(sample_id)
            .bind(&ctx.actor_id)
            .bind(Ts(haven_domain::clock::now()))
            .execute(&mut **tx)
            .await?;
            append_audit!(tx, pg, ctx, AuditAction::Create, "alert", Some(id.clone()));
        });
        Ok(id)
    }

    /// Withdraws an alert of a site; a second withdrawal is a conflict.
    pub async fn withdraw_alert(&self, ctx: &AuditCtx, site_id: &str, id: &str, at: OffsetDateTime) -> Result<()> {
        write_tx!(self, |tx, pg| {
            let n = sqlx::query(
                "UPDATE alerts SET withdrawn_at = $3, withdrawn_by = $4 \
                 WHERE id = $1 AND site_id = $2 AND withdrawn_at IS NULL",
            )
            .bind(id)
            .bind(site_id)
            .bind(Ts(at))
            .bind(&ctx.actor_id)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Err(StoreError::Conflict("the alert is already withdrawn".into()));
            }
            append_audit!(tx, pg, ctx, AuditAction::Update, "alert", Some(id.to_string()));
        });
        Ok(())
    }

    /// An alert by id.
    pub async fn alert(&self, id: &str) -> Result<AlertRow> {
        read!(self, |c| sqlx::query_as::<_, AlertRow>(sqlx::AssertSqlSafe(format!(
            "{ALERT_SELECT} WHERE a.id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(c)
        .await?
        .ok_or(StoreError::NotFound))
    }

    /// Alerts showing at a site at `now`: its own and those shared by any
    /// site, not expired and not withdrawn, newest first.
    pub async fn active_alerts(&self, site_id: &str, now: OffsetDateTime) -> Result<Vec<AlertRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, AlertRow>(sqlx::AssertSqlSafe(
            format!(
                "{ALERT_SELECT} WHERE (a.site_id = $1 OR a.shared = $2) AND a.withdrawn_at IS NULL \
             AND a.expires_at > $3 ORDER BY a.created_at DESC LIMIT 50"
            )
        ))
        .bind(site_id.to_string())
        .bind(true)
        .bind(Ts(now))
        .fetch_all(c)
        .await?))
    }
}
