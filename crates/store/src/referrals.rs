//! Referrals to services elsewhere and their dated status steps
//! (append-only: a step is never rewritten).

use haven_domain::audit::AuditAction;
use time::{Date, OffsetDateTime};

use crate::{AuditCtx, Result, Store, StoreError, audit::append_audit, new_id, read, ts::Ts, write_tx};

/// A referral with its client's code and current status.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReferralRow {
    /// Id.
    pub id: String,
    /// Site.
    pub site_id: String,
    /// Client.
    pub client_id: String,
    /// Client code.
    pub client_code: String,
    /// Visit it was made at, if any.
    pub visit_id: Option<String>,
    /// Category code.
    pub category: String,
    /// Made on.
    pub made_on: Date,
}

/// One dated step of a referral.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReferralEventRow {
    /// Id.
    pub id: String,
    /// Referral.
    pub referral_id: String,
    /// Status code.
    pub status: String,
    /// Date of the step.
    pub on_date: Date,
    /// Note.
    pub note: Option<String>,
    /// Written.
    pub recorded_at: OffsetDateTime,
}

const REFERRAL_SELECT: &str = "SELECT r.id, r.site_id, r.client_id, c.code AS client_code, r.visit_id, r.category, \
     r.made_on FROM referrals r JOIN clients c ON c.id = r.client_id";

impl Store {
    /// Makes a referral for a client of the site, with its `made` step.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_referral(
        &self,
        ctx: &AuditCtx,
        site_id: &str,
        client_id: &str,
        visit_id: Option<&str>,
        category: &str,
        made_on: Date,
        note: Option<&str>,
    ) -> Result<String> {
        let id = new_id();
        write_tx!(self, |tx, pg| {
            let found: Option<String> = sqlx::query_scalar("SELECT id FROM clients WHERE id = $1 AND site_id = $2")
                .bind(client_id)
                .bind(site_id)
                .fetch_optional(&mut **tx)
                .await?;
            if found.is_none() {
                return Err(StoreError::NotFound);
            }
            let now = haven_domain::clock::now();
            sqlx::query(
                "INSERT INTO referrals (id, site_id, client_id, visit_id, category, made_on, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&id)
            .bind(site_id)
            .bind(client_id)
            .bind(visit_id)
            .bind(category)
            .bind(made_on)
            .bind(&ctx.actor_id)
            .bind(Ts(now))
            .execute(&mut **tx)
            .await?;
            sqlx::query(
                "INSERT INTO referral_events (id, referral_id, status, on_date, note, recorded_by, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(new_id())
            .bind(&id)
            .bind("made")
            .bind(made_on)
            .bind(note)
            .bind(&ctx.actor_id)
            .bind(Ts(now))
            .execute(&mut **tx)
            .await?;
            append_audit!(tx, pg, ctx, AuditAction::Create, "referral", Some(id.clone()));
        });
        Ok(id)
    }

    /// Adds a dated step to a referral of the site. The caller has checked
    /// the transition against the history it read; `expected_steps` (that
    /// history's length) makes a racing second update fail instead of
    /// skipping a step.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_referral_event(
        &self,
        ctx: &AuditCtx,
        site_id: &str,
        referral_id: &str,
        expected_steps: i64,
        status: &str,
        on: Date,
        note: Option<&str>,
    ) -> Result<String> {
        let id = new_id();
        write_tx!(self, |tx, pg| {
            let steps: Option<i64> = sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM referral_events e WHERE e.referral_id = r.id) \
                 FROM referrals r WHERE r.id = $1 AND r.site_id = $2",
            )
            .bind(referral_id)
            .bind(site_id)
            .fetch_optional(&mut **tx)
            .await?;
            match steps {
                None => return Err(StoreError::NotFound),
                Some(n) if n != expected_steps => {
                    return Err(StoreError::Conflict(
                        "the referral was updated meanwhile; look again".into(),
                    ));
                }
                Some(_) => {}
            }
            sqlx::query(
                "INSERT INTO referral_events (id, referral_id, status, on_date, note, recorded_by, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&id)
            .bind(referral_id)
            .bind(status)
            .bind(on)
            .bind(note)
            .bind(&ctx.actor_id)
            .bind(Ts(haven_domain::clock::now()))
            .execute(&mut **tx)
            .await?;
            append_audit!(
                tx,
                pg,
                ctx,
                AuditAction::Update,
                "referral",
                Some(referral_id.to_string())
            );
        });
        Ok(id)
    }

    /// A referral by id.
    pub async fn referral(&self, id: &str) -> Result<ReferralRow> {
        read!(self, |c| sqlx::query_as::<_, ReferralRow>(sqlx::AssertSqlSafe(
            format!("{REFERRAL_SELECT} WHERE r.id = $1")
        ))
        .bind(id.to_string())
        .fetch_optional(c)
        .await?
        .ok_or(StoreError::NotFound))
    }

    /// The steps of a referral, oldest first.
    pub async fn referral_events(&self, referral_id: &str) -> Result<Vec<ReferralEventRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, ReferralEventRow>(
            "SELECT id, referral_id, status, on_date, note, recorded_at FROM referral_events \
             WHERE referral_id = $1 ORDER BY on_date, recorded_at, id"
        )
        .bind(referral_id.to_string())
        .fetch_all(c)
        .await?))
    }

    /// Referrals of a site not yet closed, oldest first (the follow-up list
    /// is chosen from these by the domain's rule).
    pub async fn open_referrals(&self, site_id: &str) -> Result<Vec<ReferralRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, ReferralRow>(sqlx::AssertSqlSafe(
            format!(
                "{REFERRAL_SELECT} WHERE r.site_id = $1 AND NOT EXISTS \
             (SELECT 1 FROM referral_events e WHERE e.referral_id = r.id AND e.status = 'closed') \
             ORDER BY r.made_on, r.id LIMIT 2000"
            )
        ))
        .bind(site_id.to_string())
        .fetch_all(c)
        .await?))
    }
}
