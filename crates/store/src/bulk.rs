//! Bulk loading for the demo site and benchmarks: multi-row INSERTs in large
//! transactions. Each call writes one audit event for the whole batch.

use haven_domain::audit::AuditAction;
use time::OffsetDateTime;

use crate::{AuditCtx, Result, Store, audit::append_audit, ts::Ts, write_tx};

/// A client row for bulk loading.
#[derive(Debug, Clone)]
pub struct BulkClient {
    /// Id.
    pub id: String,
    /// Code.
    pub code: String,
    /// Year of birth.
    pub year_of_birth: i32,
    /// Gender.
    pub gender: String,
    /// Home area.
    pub home_area: String,
    /// Alias.
    pub alias: Option<String>,
    /// Registered.
    pub registered_at: OffsetDateTime,
}

/// A visit row for bulk loading.
#[derive(Debug, Clone)]
pub struct BulkVisit {
    /// Id.
    pub id: String,
    /// Client.
    pub client_id: String,
    /// `attended` or `refused`.
    pub status: &'static str,
    /// Arrival.
    pub arrived_at: OffsetDateTime,
    /// Departure.
    pub left_at: Option<OffsetDateTime>,
    /// Substances JSON array.
    pub substances: String,
    /// Route.
    pub route: Option<&'static str>,
    /// Counterfactual place.
    pub otherwise_place: Option<&'static str>,
    /// Refusal reason.
    pub refusal_reason: Option<&'static str>,
}

/// Rows per INSERT statement (well under SQLite's 32,766 parameters).
const ROWS_PER_STATEMENT: usize = 400;

/// `($1,$2),($3,$4)` for PostgreSQL; `(?,?),(?,?)` for SQLite, whose named
/// parameters are looked up by a linear scan per bind (quadratic over a
/// 4,800-parameter statement: it dominated the demo load's profile).
fn placeholders(rows: usize, cols: usize, numbered: bool) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push(',');
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push(',');
            }
            if numbered {
                s.push('$');
                s.push_str(&(r * cols + c + 1).to_string());
            } else {
                s.push('?');
            }
        }
        s.push(')');
    }
    s
}

impl Store {
    /// Inserts clients of one site in one transaction and advances the site's
    /// code sequence past them.
    pub async fn bulk_insert_clients(
        &self,
        ctx: &AuditCtx,
        site_id: &str,
        rows: &[BulkClient],
        created_by: &str,
        next_seq: i64,
    ) -> Result<()> {
        write_tx!(self, |tx, pg| {
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO clients (id, site_id, code, year_of_birth, gender, home_area, alias, flags, registered_at, registered_by) VALUES {}",
                    placeholders(chunk.len(), 10, pg)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for r in chunk {
                    q = q
                        .bind(r.id.clone())
                        .bind(site_id.to_string())
                        .bind(r.code.clone())
                        .bind(r.year_of_birth)
                        .bind(r.gender.clone())
                        .bind(r.home_area.clone())
                        .bind(r.alias.clone())
                        .bind("[]")
                        .bind(Ts(r.registered_at))
                        .bind(created_by.to_string());
                }
                q.execute(&mut **tx).await?;
            }
            sqlx::query("UPDATE sites SET next_client_seq = $2 WHERE id = $1")
                .bind(site_id)
                .bind(next_seq)
                .execute(&mut **tx)
                .await?;
            append_audit!(
                tx,
                pg,
                ctx,
                AuditAction::Create,
                "client_bulk",
                Some(site_id.to_string())
            );
        });
        Ok(())
    }

    /// Inserts visits of one site in one transaction. This is also the
    /// benchmark's floor: the raw cost of the INSERTs without the app layer.
    pub async fn bulk_insert_visits(
        &self,
        ctx: &AuditCtx,
        site_id: &str,
        rows: &[BulkVisit],
        created_by: &str,
    ) -> Result<()> {
        write_tx!(self, |tx, pg| {
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO visits (id, site_id, client_id, status, arrived_at, left_at, substances, route, \
                     otherwise_place, refusal_reason, created_by, created_at) VALUES {}",
                    placeholders(chunk.len(), 12, pg)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for r in chunk {
                    q = q
                        .bind(r.id.clone())
                        .bind(site_id.to_string())
                        .bind(r.client_id.clone())
                        .bind(r.status)
                        .bind(Ts(r.arrived_at))
                        .bind(r.left_at.map(Ts))
                        .bind(r.substances.clone())
                        .bind(r.route)
                        .bind(r.otherwise_place)
                        .bind(r.refusal_reason)
                        .bind(created_by.to_string())
                        .bind(Ts(r.arrived_at));
                }
                q.execute(&mut **tx).await?;
            }
            append_audit!(
                tx,
                pg,
                ctx,
                AuditAction::Create,
                "visit_bulk",
                Some(site_id.to_string())
            );
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_number_every_column() {
        assert_eq!(super::placeholders(2, 2, true), "($1,$2),($3,$4)");
        assert_eq!(super::placeholders(2, 2, false), "(?,?),(?,?)");
    }
}
