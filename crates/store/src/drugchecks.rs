//! Drug checking: samples and their results (append-only). A sample is
//! linked to a visit only with the person's consent (checked in the domain).

use haven_domain::audit::AuditAction;
use time::OffsetDateTime;

use crate::{AuditCtx, Result, Store, StoreError, audit::append_audit, new_id, read, ts::Ts, write_tx};

/// A sample.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SampleRow {
    /// Id.
    pub id: String,
    /// Site.
    pub site_id: String,
    /// Visit, when the person agreed to the link.
    pub visit_id: Option<String>,
    /// What the person believes it is.
    pub expected: String,
    /// Form code.
    pub form: String,
    /// Received.
    pub received_at: OffsetDateTime,
}

/// A result of a sample.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DrugResultRow {
    /// Id.
    pub id: String,
    /// Sample.
    pub sample_id: String,
    /// Method code.
    pub method: String,
    /// The finding as JSON (`haven_domain::drugcheck::Finding`).
    pub finding: String,
    /// Read at.
    pub at: OffsetDateTime,
}

impl Store {
    /// Records a sample at a site. A visit, when given, must be of this site.
    pub async fn create_sample(
        &self,
        ctx: &AuditCtx,
        site_id: &str,
        visit_id: Option<&str>,
        expected: &str,
        form: &str,
        received_at: OffsetDateTime,
    ) -> Result<String> {
        let id = new_id();
        write_tx!(self, |tx, pg| {
            if let Some(v) = visit_id {
                let found: Option<String> = sqlx::query_scalar("SELECT id FROM visits WHERE id = $1 AND site_id = $2")
                    .bind(v)
                    .bind(site_id)
                    .fetch_optional(&mut **tx)
                    .await?;
                if found.is_none() {
                    return Err(StoreError::NotFound);
                }
            }
            sqlx::query(
                "INSERT INTO drug_samples (id, site_id, visit_id, expected, form, received_at, recorded_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&id)
            .bind(site_id)
            .bind(visit_id)
            .bind(expected)
            .bind(form)
            .bind(Ts(received_at))
            .bind(&ctx.actor_id)
            .execute(&mut **tx)
            .await?;
            append_audit!(tx, pg, ctx, AuditAction::Create, "drug_sample", Some(id.clone()));
        });
        Ok(id)
    }

    /// Adds a result to a sample of a site.
    pub async fn add_drug_result(
        &self,
        ctx: &AuditCtx,
        site_id: &str,
        sample_id: &str,
        method: &str,
        finding_json: &str,
        at: OffsetDateTime,
    ) -> Result<String> {
        let id = new_id();
        write_tx!(self, |tx, pg| {
            let found: Option<String> =
                sqlx::query_scalar("SELECT id FROM drug_samples WHERE id = $1 AND site_id = $2")
                    .bind(sample_id)
                    .bind(site_id)
                    .fetch_optional(&mut **tx)
                    .await?;
            if found.is_none() {
                return Err(StoreError::NotFound);
            }
            sqlx::query(
                "INSERT INTO drug_results (id, sample_id, site_id, method, finding, at, recorded_by, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&id)
            .bind(sample_id)
            .bind(site_id)
            .bind(method)
            .bind(finding_json)
            .bind(Ts(at))
            .bind(&ctx.actor_id)
            .bind(Ts(haven_domain::clock::now()))
            .execute(&mut **tx)
            .await?;
            append_audit!(tx, pg, ctx, AuditAction::Create, "drug_result", Some(id.clone()));
        });
        Ok(id)
    }

    /// A sample by id.
    pub async fn sample(&self, id: &str) -> Result<SampleRow> {
        read!(self, |c| sqlx::query_as::<_, SampleRow>(
            "SELECT id, site_id, visit_id, expected, form, received_at FROM drug_samples WHERE id = $1"
        )
        .bind(id.to_string())
        .fetch_optional(c)
        .await?
        .ok_or(StoreError::NotFound))
    }

    /// A site's samples received in `[from, to)`, newest first, at most `limit`.
    pub async fn samples_between(
        &self,
        site_id: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<SampleRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, SampleRow>(
            "SELECT id, site_id, visit_id, expected, form, received_at FROM drug_samples \
             WHERE site_id = $1 AND received_at >= $2 AND received_at < $3 ORDER BY received_at DESC, id LIMIT $4"
        )
        .bind(site_id.to_string())
        .bind(Ts(from))
        .bind(Ts(to))
        .bind(limit)
        .fetch_all(c)
        .await?))
    }

    /// The results of a sample, oldest first.
    pub async fn drug_results(&self, sample_id: &str) -> Result<Vec<DrugResultRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, DrugResultRow>(
            "SELECT id, sample_id, method, finding, at FROM drug_results WHERE sample_id = $1 ORDER BY at, id"
        )
        .bind(sample_id.to_string())
        .fetch_all(c)
        .await?))
    }
}
