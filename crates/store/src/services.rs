//! Services given on site at a visit, and BBV test results recorded later.

use haven_domain::audit::AuditAction;
use time::OffsetDateTime;

use crate::{AuditCtx, Result, Store, StoreError, audit::append_audit, new_id, read, ts::Ts, write_tx};

/// A service given at a visit.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ServiceRow {
    /// Id.
    pub id: String,
    /// Site.
    pub site_id: String,
    /// Visit.
    pub visit_id: String,
    /// Service code.
    pub code: String,
    /// Given at.
    pub at: OffsetDateTime,
    /// BBV tests taken or offered, as JSON.
    pub tests: String,
    /// Note.
    pub note: Option<String>,
    /// Username of the staff member who gave it ("each with time and staff", issue 4).
    pub staff: String,
}

/// A BBV test result.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TestResultRow {
    /// Id.
    pub id: String,
    /// Service (the test taken).
    pub service_id: String,
    /// `hiv`, `hcv` or `hbv`.
    pub test: String,
    /// Result code.
    pub result: String,
    /// When the result came.
    pub result_at: OffsetDateTime,
}

impl Store {
    /// Records a service given at a visit of the site.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_service(
        &self,
        ctx: &AuditCtx,
        site_id: &str,
        visit_id: &str,
        code: &str,
        at: OffsetDateTime,
        tests: &[String],
        note: Option<&str>,
    ) -> Result<String> {
        let id = new_id();
        let tests = serde_json::to_string(tests).unwrap_or_else(|_| "[]".into());
        write_tx!(self, |tx, pg| {
            let found: Option<String> = sqlx::query_scalar("SELECT id FROM visits WHERE id = $1 AND site_id = $2")
                .bind(visit_id)
                .bind(site_id)
                .fetch_optional(&mut **tx)
                .await?;
            if found.is_none() {
                return Err(StoreError::NotFound);
            }
            sqlx::query(
                "INSERT INTO services (id, site_id, visit_id, code, at, tests, note, recorded_by, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&id)
            .bind(site_id)
            .bind(visit_id)
            .bind(code)
            .bind(Ts(at))
            .bind(&tests)
            .bind(note)
            .bind(&ctx.actor_id)
            .bind(Ts(haven_domain::clock::now()))
            .execute(&mut **tx)
            .await?;
            append_audit!(tx, pg, ctx, AuditAction::Create, "service", Some(id.clone()));
        });
        Ok(id)
    }

    /// A service by id.
    pub async fn service(&self, id: &str) -> Result<ServiceRow> {
        read!(self, |c| sqlx::query_as::<_, ServiceRow>(
            "SELECT s.id, s.site_id, s.visit_id, s.code, s.at, s.tests, s.note, u.username AS staff \
             FROM services s JOIN users u ON u.id = s.recorded_by WHERE s.id = $1"
        )
        .bind(id.to_string())
        .fetch_optional(c)
        .await?
        .ok_or(StoreError::NotFound))
    }

    /// The services of a visit, in time order.
    pub async fn services_of_visit(&self, visit_id: &str) -> Result<Vec<ServiceRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, ServiceRow>(
            "SELECT s.id, s.site_id, s.visit_id, s.code, s.at, s.tests, s.note, u.username AS staff \
             FROM services s JOIN users u ON u.id = s.recorded_by WHERE s.visit_id = $1 ORDER BY s.at, s.id"
        )
        .bind(visit_id.to_string())
        .fetch_all(c)
        .await?))
    }

    /// Records a test result for a service of the site.
    pub async fn add_test_result(
        &self,
        ctx: &AuditCtx,
        site_id: &str,
        service_id: &str,
        test: &str,
        result: &str,
        result_at: OffsetDateTime,
    ) -> Result<String> {
        let id = new_id();
        write_tx!(self, |tx, pg| {
            let found: Option<String> = sqlx::query_scalar("SELECT id FROM services WHERE id = $1 AND site_id = $2")
                .bind(service_id)
                .bind(site_id)
                .fetch_optional(&mut **tx)
                .await?;
            if found.is_none() {
                return Err(StoreError::NotFound);
            }
            sqlx::query(
                "INSERT INTO test_results (id, service_id, test, result, result_at, recorded_by, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&id)
            .bind(service_id)
            .bind(test)
            .bind(result)
            .bind(Ts(result_at))
            .bind(&ctx.actor_id)
            .bind(Ts(haven_domain::clock::now()))
            .execute(&mut **tx)
            .await?;
            append_audit!(tx, pg, ctx, AuditAction::Create, "test_result", Some(id.clone()));
        });
        Ok(id)
    }

    /// The results of a service's tests, oldest first.
    pub async fn test_results(&self, service_id: &str) -> Result<Vec<TestResultRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, TestResultRow>(
            "SELECT id, service_id, test, result, result_at FROM test_results WHERE service_id = $1 \
             ORDER BY result_at, id"
        )
        .bind(service_id.to_string())
        .fetch_all(c)
        .await?))
    }
}
