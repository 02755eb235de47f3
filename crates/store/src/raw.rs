//! The benchmark's floor: visit INSERTs without the app layer, the audit
//! event or any read-back. Not for application code.

use crate::{BulkVisit, Result, Store, ts::Ts, write_tx};

impl Store {
    /// Inserts `rows` as visits of `site_id` with one single-row `INSERT` per
    /// row, all inside ONE write transaction (SQLite: the writer connection
    /// with `BEGIN IMMEDIATE`). Writes no audit event: this measures the raw
    /// cost of the statements that a check-in also makes. Called with one
    /// row at a time it gives the cost of one durable commit per row.
    #[doc(hidden)]
    pub async fn raw_insert_visits_one_tx(&self, site_id: &str, rows: &[BulkVisit], created_by: &str) -> Result<()> {
        write_tx!(self, |tx, _pg| {
            for r in rows {
                sqlx::query(
                    "INSERT INTO visits (id, site_id, client_id, status, arrived_at, left_at, substances, route, \
                     otherwise_place, refusal_reason, created_by, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(&r.id)
                .bind(site_id)
                .bind(&r.client_id)
                .bind(r.status)
                .bind(Ts(r.arrived_at))
                .bind(r.left_at.map(Ts))
                .bind(&r.substances)
                .bind(r.route)
                .bind(r.otherwise_place)
                .bind(r.refusal_reason)
                .bind(created_by)
                .bind(Ts(haven_domain::clock::now()))
                .execute(&mut **tx)
                .await?;
            }
        });
        Ok(())
    }

    /// Runs a script of several statements in one round trip, for tests only:
    /// fixtures such as a role's grants. Not used by the application.
    #[doc(hidden)]
    pub async fn execute_script_for_tests(&self, sql: String) -> Result<()> {
        let script = sqlx::raw_sql(sqlx::AssertSqlSafe(sql));
        match self {
            Store::Sqlite(db) => {
                script.execute(&db.writer).await?;
            }
            Store::Postgres(db) => {
                script.execute(&db.pool).await?;
            }
        }
        Ok(())
    }
}
