//! Supplies: equipment transactions, stock levels and discrepancies (dcr-practice §5.5).
//!
//! The ledger (`supply_tx`, `supply_lines`, `supply_discrepancies`) is
//! append-only; `stock` holds the running level per item and changes only in
//! the transaction that writes the ledger row, so it equals the ledger replayed.

use std::collections::BTreeMap;

use haven_domain::{
    audit::AuditAction,
    supply::{self, Discrepancy, DiscrepancyKind, NewTx, StockOutcome, TxKind, TxLine},
};
use time::OffsetDateTime;

use crate::{
    AuditCtx, Result, Store, StoreError,
    audit::append_audit,
    bulk::{ROWS_PER_STATEMENT, placeholders},
    new_id, read,
    ts::Ts,
    write_tx,
};

/// A supply transaction as stored, with the client code of its visit.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SupplyTxRow {
    /// Id.
    pub id: String,
    /// Site.
    pub site_id: String,
    /// `given`, `returned`, `received` or `adjustment`.
    pub kind: String,
    /// The visit a hand-out or return belongs to.
    pub visit_id: Option<String>,
    /// That visit's client code.
    pub client_code: Option<String>,
    /// Anonymous or bulk (no client).
    pub anonymous: bool,
    /// Reason (counts) or note.
    pub reason: Option<String>,
    /// When it happened.
    pub at: OffsetDateTime,
    /// Recorded by (user id).
    pub recorded_by: String,
    /// Recorded by (username).
    pub recorded_by_name: Option<String>,
    /// When it was written.
    pub recorded_at: OffsetDateTime,
}

/// One item line of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SupplyLineRow {
    /// Transaction.
    pub tx_id: String,
    /// Item code.
    pub item: String,
    /// Units moved; for a count, the counted level.
    pub quantity: i32,
}

/// A transaction with its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupplyTx {
    /// The transaction.
    pub row: SupplyTxRow,
    /// Its lines, by item code.
    pub lines: Vec<SupplyLineRow>,
}

/// The stock level of one item at a site.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StockRow {
    /// Item code.
    pub item: String,
    /// Units on the shelf (never below 0).
    pub level: i32,
    /// Last changed.
    pub updated_at: OffsetDateTime,
}

/// A recorded difference between the records and the shelf.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DiscrepancyRow {
    /// Id.
    pub id: String,
    /// The transaction that found it.
    pub tx_id: String,
    /// Site.
    pub site_id: String,
    /// Item code.
    pub item: String,
    /// `shortfall` or `count`.
    pub kind: String,
    /// Shortfall: units handed out. Count: the level the records showed.
    pub wanted: i32,
    /// Shortfall: units the records showed. Count: the counted level.
    pub available: i32,
    /// When.
    pub at: OffsetDateTime,
}

impl DiscrepancyRow {
    /// Units missing (negative when a count found a surplus).
    pub fn shortfall(&self) -> i64 {
        i64::from(self.wanted) - i64::from(self.available)
    }
}

/// A transaction for bulk loading (demo history); its discrepancies were
/// worked out by the caller with [`supply::apply`].
#[derive(Debug, Clone)]
pub struct BulkSupplyTx {
    /// Id.
    pub id: String,
    /// Kind.
    pub kind: TxKind,
    /// Visit.
    pub visit_id: Option<String>,
    /// Anonymous / bulk.
    pub anonymous: bool,
    /// Reason or note.
    pub reason: Option<String>,
    /// When.
    pub at: OffsetDateTime,
    /// Recorded by (user id).
    pub recorded_by: String,
    /// Lines (one per item).
    pub lines: Vec<TxLine>,
    /// Discrepancies found.
    pub discrepancies: Vec<Discrepancy>,
}

const TX_SELECT: &str = "SELECT t.id, t.site_id, t.kind, t.visit_id, c.code AS client_code, t.anonymous, t.reason, \
     t.at, t.recorded_by, u.username AS recorded_by_name, t.recorded_at FROM supply_tx t \
     LEFT JOIN visits v ON v.id = t.visit_id LEFT JOIN clients c ON c.id = v.client_id \
     LEFT JOIN users u ON u.id = t.recorded_by";

const DISCREPANCY_SELECT: &str =
    "SELECT id, tx_id, site_id, item, kind, wanted, available, at FROM supply_discrepancies";

fn discrepancy_kind(k: DiscrepancyKind) -> &'static str {
    match k {
        DiscrepancyKind::Shortfall => "shortfall",
        DiscrepancyKind::Count => "count",
    }
}

/// Quantities are at most 10,000 per line, but a level adds deliveries up.
fn to_i32(what: &str, v: i64) -> Result<i32> {
    i32::try_from(v).map_err(|_| StoreError::Conflict(format!("{what} {v} is out of range")))
}

/// Groups lines under their transactions, keeping the transactions' order.
fn attach(rows: Vec<SupplyTxRow>, lines: Vec<SupplyLineRow>) -> Vec<SupplyTx> {
    let mut by_tx: BTreeMap<String, Vec<SupplyLineRow>> = BTreeMap::new();
    for l in lines {
        by_tx.entry(l.tx_id.clone()).or_default().push(l);
    }
    rows.into_iter()
        .map(|row| SupplyTx {
            lines: by_tx.remove(&row.id).unwrap_or_default(),
            row,
        })
        .collect()
}

impl Store {
    /// Records a validated transaction at a site: the ledger rows, the new
    /// stock levels and any discrepancies, with one audit event, in one
    /// transaction. Stock rows of the items moved are locked first (in item
    /// order, so two hand-outs never deadlock) so that concurrent hand-outs
    /// on PostgreSQL never lose an update; SQLite has one writer.
    ///
    /// A visit, if given, must be a visit of the site that is not voided.
    pub async fn record_supplies(&self, ctx: &AuditCtx, site_id: &str, t: &NewTx) -> Result<(String, StockOutcome)> {
        let id = new_id();
        let now = haven_domain::clock::now();
        let out = write_tx!(self, |tx, pg| {
            if let Some(visit_id) = &t.visit_id {
                let found: Option<String> =
                    sqlx::query_scalar("SELECT id FROM visits WHERE id = $1 AND site_id = $2 AND voided_at IS NULL")
                        .bind(visit_id)
                        .bind(site_id)
                        .fetch_optional(&mut **tx)
                        .await?;
                if found.is_none() {
                    return Err(StoreError::NotFound);
                }
            }
            // Returns never touch stock (dcr-practice §5.5: waste, not supply).
            let mut items: Vec<&str> = if t.kind == TxKind::Returned {
                Vec::new()
            } else {
                t.lines.iter().map(|l| l.item.as_str()).collect()
            };
            items.sort_unstable();
            items.dedup();
            let lock = if pg { " FOR UPDATE" } else { "" };
            let mut levels = BTreeMap::new();
            for item in &items {
                sqlx::query(
                    "INSERT INTO stock (site_id, item, level, updated_at) VALUES ($1, $2, 0, $3) \
                     ON CONFLICT (site_id, item) DO NOTHING",
                )
                .bind(site_id)
                .bind(*item)
                .bind(Ts(now))
                .execute(&mut **tx)
                .await?;
                let level: i32 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT level FROM stock WHERE site_id = $1 AND item = $2{lock}"
                )))
                .bind(site_id)
                .bind(*item)
                .fetch_one(&mut **tx)
                .await?;
                levels.insert((*item).to_string(), i64::from(level));
            }
            let out = supply::apply(&levels, t);

            sqlx::query(
                "INSERT INTO supply_tx (id, site_id, kind, visit_id, anonymous, reason, at, recorded_by, recorded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&id)
            .bind(site_id)
            .bind(t.kind.as_str())
            .bind(&t.visit_id)
            .bind(t.anonymous)
            .bind(&t.reason)
            .bind(Ts(t.at))
            .bind(&ctx.actor_id)
            .bind(Ts(now))
            .execute(&mut **tx)
            .await?;
            for l in &t.lines {
                sqlx::query("INSERT INTO supply_lines (tx_id, item, quantity) VALUES ($1, $2, $3)")
                    .bind(&id)
                    .bind(&l.item)
                    .bind(to_i32("quantity", l.quantity)?)
                    .execute(&mut **tx)
                    .await?;
            }
            for item in &items {
                let level = out.new_stock.get(*item).copied().unwrap_or(0);
                sqlx::query(
                    "INSERT INTO stock (site_id, item, level, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (site_id, item) DO UPDATE SET level = excluded.level, updated_at = excluded.updated_at",
                )
                .bind(site_id)
                .bind(*item)
                .bind(to_i32("level", level)?)
                .bind(Ts(now))
                .execute(&mut **tx)
                .await?;
            }
            for d in &out.discrepancies {
                sqlx::query(
                    "INSERT INTO supply_discrepancies (id, tx_id, site_id, item, kind, wanted, available, at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(new_id())
                .bind(&id)
                .bind(site_id)
                .bind(&d.item)
                .bind(discrepancy_kind(d.kind))
                .bind(to_i32("wanted", d.wanted)?)
                .bind(to_i32("available", d.available)?)
                .bind(Ts(t.at))
                .execute(&mut **tx)
                .await?;
            }
            append_audit!(tx, pg, ctx, AuditAction::Create, "supply_tx", Some(id.clone()));
            out
        });
        Ok((id, out))
    }

    /// Stock levels of a site, by item code (items never moved have no row).
    pub async fn stock_levels(&self, site_id: &str) -> Result<Vec<StockRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, StockRow>(
            "SELECT item, level, updated_at FROM stock WHERE site_id = $1 ORDER BY item"
        )
        .bind(site_id.to_string())
        .fetch_all(c)
        .await?))
    }

    /// One transaction by id, with its lines.
    pub async fn supply_tx(&self, id: &str) -> Result<SupplyTx> {
        let row = read!(self, |c| sqlx::query_as::<_, SupplyTxRow>(sqlx::AssertSqlSafe(
            format!("{TX_SELECT} WHERE t.id = $1")
        ))
        .bind(id.to_string())
        .fetch_optional(c)
        .await?
        .ok_or(StoreError::NotFound))?;
        let lines = read!(self, |c| sqlx::query_as::<_, SupplyLineRow>(
            "SELECT tx_id, item, quantity FROM supply_lines WHERE tx_id = $1 ORDER BY item"
        )
        .bind(id.to_string())
        .fetch_all(c)
        .await?);
        Ok(SupplyTx { row, lines })
    }

    /// A site's transactions in `[from, to)`, newest first, with their lines.
    pub async fn supply_txs_between(
        &self,
        site_id: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<SupplyTx>> {
        let rows = read!(self, |c| {
            sqlx::query_as::<_, SupplyTxRow>(sqlx::AssertSqlSafe(format!(
                "{TX_SELECT} WHERE t.site_id = $1 AND t.at >= $2 AND t.at < $3 ORDER BY t.at DESC, t.id DESC LIMIT $4"
            )))
            .bind(site_id.to_string())
            .bind(Ts(from))
            .bind(Ts(to))
            .bind(limit)
            .fetch_all(c)
            .await?
        });
        let lines = read!(self, |c| sqlx::query_as::<_, SupplyLineRow>(
            "SELECT l.tx_id, l.item, l.quantity FROM supply_lines l JOIN supply_tx t ON t.id = l.tx_id \
             WHERE t.site_id = $1 AND t.at >= $2 AND t.at < $3 ORDER BY l.tx_id, l.item"
        )
        .bind(site_id.to_string())
        .bind(Ts(from))
        .bind(Ts(to))
        .fetch_all(c)
        .await?);
        Ok(attach(rows, lines))
    }

    /// The supplies of one visit, oldest first, with their lines.
    pub async fn supplies_of_visit(&self, visit_id: &str) -> Result<Vec<SupplyTx>> {
        let rows = read!(self, |c| sqlx::query_as::<_, SupplyTxRow>(sqlx::AssertSqlSafe(
            format!("{TX_SELECT} WHERE t.visit_id = $1 ORDER BY t.at, t.id")
        ))
        .bind(visit_id.to_string())
        .fetch_all(c)
        .await?);
        let lines = read!(self, |c| sqlx::query_as::<_, SupplyLineRow>(
            "SELECT l.tx_id, l.item, l.quantity FROM supply_lines l JOIN supply_tx t ON t.id = l.tx_id \
             WHERE t.visit_id = $1 ORDER BY l.tx_id, l.item"
        )
        .bind(visit_id.to_string())
        .fetch_all(c)
        .await?);
        Ok(attach(rows, lines))
    }

    /// A site's discrepancies, most recent first.
    pub async fn supply_discrepancies(&self, site_id: &str, limit: i64) -> Result<Vec<DiscrepancyRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, DiscrepancyRow>(sqlx::AssertSqlSafe(
            format!("{DISCREPANCY_SELECT} WHERE site_id = $1 ORDER BY at DESC, id DESC LIMIT $2")
        ))
        .bind(site_id.to_string())
        .bind(limit)
        .fetch_all(c)
        .await?))
    }

    /// The discrepancies one transaction found.
    pub async fn supply_discrepancies_of_tx(&self, tx_id: &str) -> Result<Vec<DiscrepancyRow>> {
        read!(self, |c| Ok(sqlx::query_as::<_, DiscrepancyRow>(sqlx::AssertSqlSafe(
            format!("{DISCREPANCY_SELECT} WHERE tx_id = $1 ORDER BY item")
        ))
        .bind(tx_id.to_string())
        .fetch_all(c)
        .await?))
    }

    /// Loads demo history of one site in one transaction (one audit event):
    /// the transactions, their lines and discrepancies, and the stock levels
    /// they end at (the caller replayed them with [`supply::apply`]).
    pub async fn bulk_insert_supplies(
        &self,
        ctx: &AuditCtx,
        site_id: &str,
        txs: &[BulkSupplyTx],
        stock: &BTreeMap<String, i64>,
    ) -> Result<()> {
        let now = haven_domain::clock::now();
        write_tx!(self, |tx, pg| {
            for chunk in txs.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO supply_tx (id, site_id, kind, visit_id, anonymous, reason, at, recorded_by, \
                     recorded_at) VALUES {}",
                    placeholders(chunk.len(), 9, pg)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for r in chunk {
                    q = q
                        .bind(r.id.clone())
                        .bind(site_id.to_string())
                        .bind(r.kind.as_str())
                        .bind(r.visit_id.clone())
                        .bind(r.anonymous)
                        .bind(r.reason.clone())
                        .bind(Ts(r.at))
                        .bind(r.recorded_by.clone())
                        .bind(Ts(r.at));
                }
                q.execute(&mut **tx).await?;
            }
            let lines: Vec<(&str, &TxLine)> = txs
                .iter()
                .flat_map(|t| t.lines.iter().map(move |l| (t.id.as_str(), l)))
                .collect();
            for chunk in lines.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO supply_lines (tx_id, item, quantity) VALUES {}",
                    placeholders(chunk.len(), 3, pg)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (tx_id, l) in chunk {
                    q = q
                        .bind(tx_id.to_string())
                        .bind(l.item.clone())
                        .bind(to_i32("quantity", l.quantity)?);
                }
                q.execute(&mut **tx).await?;
            }
            let found: Vec<(&BulkSupplyTx, &Discrepancy)> = txs
                .iter()
                .flat_map(|t| t.discrepancies.iter().map(move |d| (t, d)))
                .collect();
            for chunk in found.chunks(ROWS_PER_STATEMENT) {
                let sql = format!(
                    "INSERT INTO supply_discrepancies (id, tx_id, site_id, item, kind, wanted, available, at) VALUES {}",
                    placeholders(chunk.len(), 8, pg)
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (t, d) in chunk {
                    q = q
                        .bind(new_id())
                        .bind(t.id.clone())
                        .bind(site_id.to_string())
                        .bind(d.item.clone())
                        .bind(discrepancy_kind(d.kind))
                        .bind(to_i32("wanted", d.wanted)?)
                        .bind(to_i32("available", d.available)?)
                        .bind(Ts(t.at));
                }
                q.execute(&mut **tx).await?;
            }
            for (item, level) in stock {
                sqlx::query(
                    "INSERT INTO stock (site_id, item, level, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (site_id, item) DO UPDATE SET level = excluded.level, updated_at = excluded.updated_at",
                )
                .bind(site_id)
                .bind(item)
                .bind(to_i32("level", *level)?)
                .bind(Ts(now))
                .execute(&mut **tx)
                .await?;
            }
            append_audit!(
                tx,
                pg,
                ctx,
                AuditAction::Create,
                "supply_bulk",
                Some(site_id.to_string())
            );
        });
        Ok(())
    }
}
