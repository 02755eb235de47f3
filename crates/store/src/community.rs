//! Community impact: street audits and council needle-report imports (dcr-practice §9).
//!
//! Audit walks and council reports are separate series: they are stored in
//! separate tables and never added together (dcr-practice §9 \[thistle-needles\]).

use std::collections::{BTreeMap, HashSet};

use haven_domain::{
    audit::AuditAction,
    community::{NeedleReport, NewAudit},
};
use time::{Date, OffsetDateTime};

use crate::{
    AuditCtx, Result, Store, StoreError,
    audit::append_audit,
    bulk::{ROWS_PER_STATEMENT, placeholders},
    is_unique_violation, new_id, read,
    ts::Ts,
    write_tx,
};

/// One street audit walk.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CommunityAuditRow {
    /// Id.
    pub id: String,
    /// Site.
    pub site_id: String,
    /// Day of the walk.
    pub on_date: Date,
    /// Start, `HH:MM` local.
    pub start_time: String,
    /// Zone walked.
    pub zone: String,
    /// Who walked it.
    pub observer: String,
    /// Weather code.
    pub weather: String,
    /// Police seen.
    pub police_present: bool,
    /// Discarded syringes counted.
    pub needles: i32,
    /// Other injection litter counted.
    pub other_litter: i32,
    /// People seen injecting in public.
    pub people_injecting: i32,
    /// Who recorded it.
    pub recorded_by: String,
    /// When it was recorded.
    pub recorded_at: OffsetDateTime,
}

/// One council needle-report count.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NeedleReportRow {
    /// Id.
    pub id: String,
    /// The import it came in.
    pub import_id: String,
    /// Site.
    pub site_id: String,
    /// Day of the reports.
    pub on_date: Date,
    /// Zone.
    pub zone: String,
    /// Number of reports.
    pub count: i32,
}

/// Which audits to list. `None` is no limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommunityFilter {
    /// Only this zone.
    pub zone: Option<String>,
    /// From this day (inclusive).
    pub from: Option<Date>,
    /// To this day (inclusive).
    pub to: Option<Date>,
}

/// The outcome of an import: written, or refused because some (date, zone)
/// pairs were imported before.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NeedleImport {
    /// The import row, when anything was written.
    pub import_id: Option<String>,
    /// Report rows written.
    pub imported: usize,
    /// Lines whose date and zone were already imported (skipped when asked
    /// to skip bad lines, otherwise the reason nothing was written).
    pub already: Vec<usize>,
}

/// Monthly totals for one zone, the two series kept apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonthlyZoneRow {
    /// `YYYY-MM`.
    pub month: String,
    /// Zone.
    pub zone: String,
    /// Audit walks made.
    pub audits: i64,
    /// Discarded syringes counted in audit walks.
    pub audit_needles: i64,
    /// Council needle reports.
    pub council_reports: i64,
}

/// `WHERE` conditions for a filter, numbered from `$2` (`$1` is the site).
fn conditions(filter: &CommunityFilter) -> (String, Vec<String>, Vec<Date>) {
    let mut sql = String::from("site_id = $1");
    let mut texts = Vec::new();
    let mut dates = Vec::new();
    let mut n = 1;
    if let Some(z) = &filter.zone {
        n += 1;
        sql.push_str(&format!(" AND zone = ${n}"));
        texts.push(z.clone());
    }
    for (d, op) in [(filter.from, ">="), (filter.to, "<=")] {
        if let Some(d) = d {
            n += 1;
            sql.push_str(&format!(" AND on_date {op} ${n}"));
            dates.push(d);
        }
    }
    (sql, texts, dates)
}

const AUDIT_COLUMNS: &str = "id, site_id, on_date, start_time, zone, observer, weather, police_present, needles, \
     other_litter, people_injecting, recorded_by, recorded_at";

impl Store {
    /// Records a street audit walk at a site.
    pub async fn add_community_audit(&self, ctx: &AuditCtx, site_id: &str, a: &NewAudit) -> Result<String> {
        let id = new_id();
        let start = format!("{:02}:{:02}", a.start.hour(), a.start.minute());
        write_tx!(self, |tx, pg| {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO community_audits ({AUDIT_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            )))
            .bind(&id)
            .bind(site_id)
            .bind(a.date)
            .bind(&start)
            .bind(&a.zone)
            .bind(&a.observer)
            .bind(&a.weather)
            .bind(a.police_present)
            .bind(i64::from(a.needles))
            .bind(i64::from(a.other_litter))
            .bind(i64::from(a.people_injecting))
            .bind(&ctx.actor_id)
            .bind(Ts(haven_domain::clock::now()))
            .execute(&mut **tx)
            .await?;
            append_audit!(tx, pg, ctx, AuditAction::Create, "community_audit", Some(id.clone()));
        });
        Ok(id)
    }

    /// Demo history: many audit walks in one transaction with one audit event.
    #[doc(hidden)]
    pub async fn bulk_insert_community_audits(
        &self,
        ctx: &AuditCtx,
        site_id: &str,
        recorded_by: &str,
        rows: &[NewAudit],
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let now = haven_domain::clock::now();
        write_tx!(self, |tx, pg| {
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO community_audits ({AUDIT_COLUMNS}) VALUES {}",
                    placeholders(chunk.len(), 13, pg)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for a in chunk {
                    q = q
                        .bind(new_id())
                        .bind(site_id.to_string())
                        .bind(a.date)
                        .bind(format!("{:02}:{:02}", a.start.hour(), a.start.minute()))
                        .bind(a.zone.clone())
                        .bind(a.observer.clone())
                        .bind(a.weather.clone())
                        .bind(a.police_present)
                        .bind(i64::from(a.needles))
                        .bind(i64::from(a.other_litter))
                        .bind(i64::from(a.people_injecting))
                        .bind(recorded_by.to_string())
                        .bind(Ts(now));
                }
                q.execute(&mut **tx).await?;
            }
            append_audit!(
                tx,
                pg,
                ctx,
                AuditAction::Create,
                "community_audit_bulk",
                Some(site_id.to_string())
            );
        });
        Ok(())
    }

    /// A street audit walk by id.
    pub async fn community_audit(&self, id: &str) -> Result<CommunityAuditRow> {
        read!(self, |c| sqlx::query_as::<_, CommunityAuditRow>(sqlx::AssertSqlSafe(
            format!("SELECT {AUDIT_COLUMNS} FROM community_audits WHERE id = $1")
        ))
        .bind(id.to_string())
        .fetch_optional(c)
        .await?
        .ok_or(StoreError::NotFound))
    }

    /// Audit walks of a site, newest first, at most `limit`.
    pub async fn community_audits(
        &self,
        site_id: &str,
        filter: &CommunityFilter,
        limit: i64,
    ) -> Result<Vec<CommunityAuditRow>> {
        let (cond, texts, dates) = conditions(filter);
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM community_audits WHERE {cond} \
             ORDER BY on_date DESC, start_time DESC, id DESC LIMIT {}",
            limit.max(0)
        );
        read!(self, |c| {
            let mut q =
                sqlx::query_as::<_, CommunityAuditRow>(sqlx::AssertSqlSafe(sql.clone())).bind(site_id.to_string());
            for t in &texts {
                q = q.bind(t.clone());
            }
            for d in &dates {
                q = q.bind(*d);
            }
            Ok(q.fetch_all(c).await?)
        })
    }

    /// Council needle-report counts of a site, oldest first, at most `limit`.
    pub async fn needle_reports(
        &self,
        site_id: &str,
        filter: &CommunityFilter,
        limit: i64,
    ) -> Result<Vec<NeedleReportRow>> {
        let (cond, texts, dates) = conditions(filter);
        let sql = format!(
            "SELECT id, import_id, site_id, on_date, zone, count FROM needle_reports WHERE {cond} \
             ORDER BY on_date, zone LIMIT {}",
            limit.max(0)
        );
        read!(self, |c| {
            let mut q =
                sqlx::query_as::<_, NeedleReportRow>(sqlx::AssertSqlSafe(sql.clone())).bind(site_id.to_string());
            for t in &texts {
                q = q.bind(t.clone());
            }
            for d in &dates {
                q = q.bind(*d);
            }
            Ok(q.fetch_all(c).await?)
        })
    }

    /// Imports council needle-report counts in ONE transaction: the import
    /// row and every report row, or nothing. `rows` are (line number, row).
    ///
    /// A (date, zone) already imported for the site is never counted twice:
    /// unless `skip_bad`, any such line means nothing is written and the
    /// lines come back in [`NeedleImport::already`]; with `skip_bad` those
    /// lines are skipped and the rest written. `skipped_before` counts lines
    /// the caller already skipped (bad rows), for the import record.
    #[allow(clippy::too_many_arguments)]
    pub async fn import_needle_reports(
        &self,
        ctx: &AuditCtx,
        site_id: &str,
        filename: &str,
        rows: &[(usize, NeedleReport)],
        skipped_before: usize,
        skip_bad: bool,
    ) -> Result<NeedleImport> {
        let (Some(min), Some(max)) = (
            rows.iter().map(|(_, r)| r.date).min(),
            rows.iter().map(|(_, r)| r.date).max(),
        ) else {
            return Ok(NeedleImport::default());
        };
        let import_id = new_id();
        let out = write_tx!(self, |tx, pg| {
            // Inside the write transaction, so a concurrent import of the
            // same days is either seen here or refused by the UNIQUE index.
            let existing: Vec<(Date, String)> = sqlx::query_as(
                "SELECT on_date, zone FROM needle_reports WHERE site_id = $1 AND on_date >= $2 AND on_date <= $3",
            )
            .bind(site_id)
            .bind(min)
            .bind(max)
            .fetch_all(&mut **tx)
            .await?;
            let existing: HashSet<(Date, String)> = existing.into_iter().collect();
            let already: Vec<usize> = rows
                .iter()
                .filter(|(_, r)| existing.contains(&(r.date, r.zone.clone())))
                .map(|(line, _)| *line)
                .collect();
            let fresh: Vec<&NeedleReport> = rows
                .iter()
                .filter(|(_, r)| !existing.contains(&(r.date, r.zone.clone())))
                .map(|(_, r)| r)
                .collect();
            if (!already.is_empty() && !skip_bad) || fresh.is_empty() {
                // Nothing to write: the transaction is dropped, so rolled back.
                return Ok(NeedleImport {
                    import_id: None,
                    imported: 0,
                    already,
                });
            }
            let skipped = skipped_before + already.len();
            sqlx::query(
                "INSERT INTO needle_report_imports (id, site_id, filename, row_count, skipped, imported_by, imported_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&import_id)
            .bind(site_id)
            .bind(filename)
            .bind(i64::try_from(fresh.len()).unwrap_or(i64::MAX))
            .bind(i64::try_from(skipped).unwrap_or(i64::MAX))
            .bind(&ctx.actor_id)
            .bind(Ts(haven_domain::clock::now()))
            .execute(&mut **tx)
            .await?;
            for chunk in fresh.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO needle_reports (id, import_id, site_id, on_date, zone, count) VALUES {}",
                    placeholders(chunk.len(), 6, pg)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for r in chunk {
                    q = q
                        .bind(new_id())
                        .bind(import_id.clone())
                        .bind(site_id.to_string())
                        .bind(r.date)
                        .bind(r.zone.clone())
                        .bind(i64::from(r.count));
                }
                if let Err(e) = q.execute(&mut **tx).await {
                    return Err(if is_unique_violation(&e) {
                        StoreError::Conflict("another import of the same days ran meanwhile; try again".into())
                    } else {
                        e.into()
                    });
                }
            }
            append_audit!(
                tx,
                pg,
                ctx,
                AuditAction::Create,
                "needle_report_import",
                Some(import_id.clone())
            );
            NeedleImport {
                import_id: Some(import_id.clone()),
                imported: fresh.len(),
                already,
            }
        });
        Ok(out)
    }

    /// Monthly totals per zone of both series between two days (inclusive),
    /// by month then zone. Aggregates only.
    pub async fn community_monthly(&self, site_id: &str, from: Date, to: Date) -> Result<Vec<MonthlyZoneRow>> {
        let month = match self {
            Store::Sqlite(_) => "substr(on_date, 1, 7)",
            Store::Postgres(_) => "to_char(on_date, 'YYYY-MM')",
        };
        let audits_sql = format!(
            "SELECT {month} AS m, zone, COUNT(*) AS n, CAST(SUM(needles) AS BIGINT) AS s FROM community_audits \
             WHERE site_id = $1 AND on_date >= $2 AND on_date <= $3 GROUP BY {month}, zone"
        );
        let reports_sql = format!(
            "SELECT {month} AS m, zone, COUNT(*) AS n, CAST(SUM(count) AS BIGINT) AS s FROM needle_reports \
             WHERE site_id = $1 AND on_date >= $2 AND on_date <= $3 GROUP BY {month}, zone"
        );
        let audits: Vec<(String, String, i64, i64)> = read!(self, |c| sqlx::query_as(sqlx::AssertSqlSafe(audits_sql))
            .bind(site_id.to_string())
            .bind(from)
            .bind(to)
            .fetch_all(c)
            .await?);
        let reports: Vec<(String, String, i64, i64)> =
            read!(self, |c| sqlx::query_as(sqlx::AssertSqlSafe(reports_sql))
                .bind(site_id.to_string())
                .bind(from)
                .bind(to)
                .fetch_all(c)
                .await?);
        let mut by: BTreeMap<(String, String), MonthlyZoneRow> = BTreeMap::new();
        for (m, zone, n, s) in audits {
            let row = by.entry((m.clone(), zone.clone())).or_insert_with(|| MonthlyZoneRow {
                month: m,
                zone,
                ..Default::default()
            });
            row.audits = n;
            row.audit_needles = s;
        }
        for (m, zone, _, s) in reports {
            let row = by.entry((m.clone(), zone.clone())).or_insert_with(|| MonthlyZoneRow {
                month: m,
                zone,
                ..Default::default()
            });
            row.council_reports = s;
        }
        Ok(by.into_values().collect())
    }
}
