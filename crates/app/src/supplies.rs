//! Supplies: equipment transactions, stock levels and discrepancies (dcr-practice §5.5).
//!
//! A hand-out or return is floor work (RecordSupplies); a delivery or a stock
//! count changes what the site holds (ManageStock). Stock going short never
//! blocks a hand-out: it is recorded as a discrepancy and warned about
//! (issue 4, bad input).

use std::collections::BTreeMap;

use haven_domain::{
    Invalid,
    audit::AuditAction,
    auth::Action,
    supply::{Discrepancy, StockSettings, TxDraft, TxKind, TxLine, apply, item_label, low_stock, prepare_tx},
};
use haven_store::{AuditCtx, BulkSupplyTx, DiscrepancyRow, Store, StoreError, SupplyTx};
use time::{Date, Duration};

use crate::{AppError, AppResult, Ctx, clients::settings_of};

/// What recording a transaction did.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The stored transaction with its lines.
    pub tx: SupplyTx,
    /// Level per item it moved, after it (never below 0).
    pub new_stock: BTreeMap<String, i64>,
    /// Shortfalls and count differences, recorded (the hand-out still stands).
    pub discrepancies: Vec<Discrepancy>,
    /// Used equipment returned, per item (waste, not stock).
    pub returned: BTreeMap<String, i64>,
    /// Items of the site at or below their threshold after it, as
    /// `(item, level, threshold)`.
    pub low_stock: Vec<(String, i64, i64)>,
}

/// One item of the stock table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockLine {
    /// Item code.
    pub item: String,
    /// Label for staff.
    pub label: String,
    /// Units on the shelf (0 when never stocked).
    pub level: i64,
    /// Warning threshold, if the site set one.
    pub threshold: Option<i64>,
    /// At or below the threshold.
    pub low: bool,
}

/// A site's stock: every item it offers, in its order, plus any item still
/// on the shelf that the site no longer offers.
#[derive(Debug, Clone)]
pub struct StockView {
    /// The lines.
    pub lines: Vec<StockLine>,
    /// Items it offers, in form order.
    pub items: Vec<String>,
}

/// Which permission a kind of transaction needs.
fn action_for(kind: Option<TxKind>) -> Action {
    match kind {
        Some(TxKind::Received | TxKind::Adjustment) => Action::ManageStock,
        _ => Action::RecordSupplies,
    }
}

fn levels_of(rows: &[haven_store::StockRow]) -> BTreeMap<String, i64> {
    rows.iter().map(|r| (r.item.clone(), i64::from(r.level))).collect()
}

fn stock_settings(site: &haven_store::SiteRow) -> StockSettings {
    settings_of(site).supplies
}

/// Records a transaction at a site: hand-out or return (floor staff), or a
/// delivery or count (nurses and managers). The items must be the site's
/// (`settings.supplies.items`); a visit must be one of the site's and not
/// voided. Returns the new levels, discrepancies and low-stock warnings.
pub async fn record(store: &Store, ctx: &Ctx, site_id: &str, draft: &TxDraft) -> AppResult<Recorded> {
    let audit = ctx
        .allow(store, action_for(TxKind::parse(&draft.kind)), site_id)
        .await?;
    let site = store.site(site_id).await?;
    let settings = stock_settings(&site);
    let t = prepare_tx(draft, &settings.items, haven_domain::clock::now())?;
    if let Some(visit_id) = &t.visit_id {
        match store.visit(site_id, visit_id).await {
            Ok(v) if v.voided_at.is_some() => {
                return Err(Invalid::one("visit_id", "this visit was voided; choose another").into());
            }
            Ok(_) => {}
            Err(StoreError::NotFound) => {
                return Err(Invalid::one("visit_id", "no such visit at this site").into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    let (id, out) = match store.record_supplies(&audit, site_id, &t).await {
        // Voided between the check and the write.
        Err(StoreError::NotFound) => {
            return Err(Invalid::one("visit_id", "no such visit at this site").into());
        }
        other => other?,
    };
    let levels = levels_of(&store.stock_levels(site_id).await?);
    let moved: BTreeMap<String, i64> = out
        .new_stock
        .iter()
        .filter(|(k, _)| t.lines.iter().any(|l| &l.item == *k))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    Ok(Recorded {
        tx: store.supply_tx(&id).await?,
        new_stock: moved,
        discrepancies: out.discrepancies,
        returned: out.returned,
        low_stock: low_stock(&levels, &settings),
    })
}

/// The stock table of a site (anyone who hands out supplies; aggregate
/// counts, so not an audited read).
pub async fn stock(store: &Store, ctx: &Ctx, site_id: &str) -> AppResult<StockView> {
    ctx.allow(store, Action::RecordSupplies, site_id).await?;
    let site = store.site(site_id).await?;
    let settings = stock_settings(&site);
    let levels = levels_of(&store.stock_levels(site_id).await?);
    let low: Vec<String> = low_stock(&levels, &settings).into_iter().map(|(i, _, _)| i).collect();
    let extra = levels
        .iter()
        .filter(|(k, v)| **v > 0 && !settings.items.contains(k))
        .map(|(k, _)| k.clone());
    let lines = settings
        .items
        .iter()
        .cloned()
        .chain(extra)
        .map(|item| StockLine {
            label: item_label(&item),
            level: levels.get(&item).copied().unwrap_or(0),
            threshold: settings.low_stock.get(&item).copied(),
            low: low.contains(&item),
            item,
        })
        .collect();
    Ok(StockView {
        lines,
        items: settings.items,
    })
}

/// A site's transactions on a local date, newest first. Audited: hand-outs
/// name the client of their visit.
pub async fn on_date(store: &Store, ctx: &Ctx, site_id: &str, date: Date) -> AppResult<Vec<SupplyTx>> {
    let audit = ctx.allow(store, Action::RecordSupplies, site_id).await?;
    let site = store.site(site_id).await?;
    let (from, to) = haven_domain::clock::local_day_bounds(&site.timezone, date)
        .ok_or_else(|| AppError::Internal(format!("bad time zone {}", site.timezone)))?;
    let rows = store.supply_txs_between(site_id, from, to, 1_000).await?;
    store
        .audit(&audit, AuditAction::Read, "supply_list", Some(date.to_string()))
        .await?;
    Ok(rows)
}

/// The supplies of one visit (audited: they belong to a client's record).
pub async fn of_visit(store: &Store, ctx: &Ctx, visit_id: &str) -> AppResult<Vec<SupplyTx>> {
    let site_id = store.visit_site(visit_id).await?;
    if ctx.actor.role_at(&site_id).is_none() {
        return Err(AppError::NotFound);
    }
    let audit = ctx.allow(store, Action::RecordSupplies, &site_id).await?;
    let rows = store.supplies_of_visit(visit_id).await?;
    store
        .audit(&audit, AuditAction::Read, "visit_supplies", Some(visit_id.to_string()))
        .await?;
    Ok(rows)
}

/// A visit of the site that can take supplies (not voided), for the
/// hand-out form's preselection; `None` when it is not one.
pub async fn visit_for_supplies(
    store: &Store,
    ctx: &Ctx,
    site_id: &str,
    visit_id: &str,
) -> AppResult<Option<haven_store::VisitRow>> {
    ctx.allow(store, Action::RecordSupplies, site_id).await?;
    match store.visit(site_id, visit_id).await {
        Ok(v) if v.voided_at.is_none() => Ok(Some(v)),
        Ok(_) | Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A site's recent discrepancies, most recent first (no client data).
pub async fn discrepancies(store: &Store, ctx: &Ctx, site_id: &str, limit: i64) -> AppResult<Vec<DiscrepancyRow>> {
    ctx.allow(store, Action::RecordSupplies, site_id).await?;
    Ok(store.supply_discrepancies(site_id, limit).await?)
}

/// The discrepancies one transaction of the site found (for the notice after saving).
pub async fn discrepancies_of_tx(
    store: &Store,
    ctx: &Ctx,
    site_id: &str,
    tx_id: &str,
) -> AppResult<Vec<DiscrepancyRow>> {
    ctx.allow(store, Action::RecordSupplies, site_id).await?;
    let rows = store.supply_discrepancies_of_tx(tx_id).await?;
    Ok(rows.into_iter().filter(|d| d.site_id == site_id).collect())
}

/// One transaction of the site (the notice after saving names its lines).
pub async fn transaction(store: &Store, ctx: &Ctx, site_id: &str, tx_id: &str) -> AppResult<SupplyTx> {
    ctx.allow(store, Action::RecordSupplies, site_id).await?;
    let t = store.supply_tx(tx_id).await?;
    if t.row.site_id != site_id {
        return Err(AppError::NotFound);
    }
    Ok(t)
}

/// A tiny deterministic generator for the demo (xorshift64*).
struct DemoRng(u64);

impl DemoRng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

/// Demo supplies for a site: a weekly delivery and ~60 days of hand-outs at
/// the site's demo visits (most injecting visits take a pack; some visits
/// return used needles; a few anonymous bulk packs), replayed through
/// [`apply`] so stock, discrepancies and the ledger agree. Bulk inserted.
pub async fn demo_supplies(
    store: &Store,
    ctx: &AuditCtx,
    site_id: &str,
    recorded_by: &str,
    seed: u64,
) -> AppResult<()> {
    let now = haven_domain::clock::now();
    let from = now - Duration::days(60);
    let mut rng = DemoRng(seed | 1);
    let mut visits = store.visits_between(site_id, from, now, None, 100_000).await?;
    visits.retain(|v| v.status == "attended" && v.voided_at.is_none());
    visits.sort_by_key(|v| v.arrived_at);
    // Weekly deliveries a little above the expected hand-outs per visit
    // (worked out from the shares below), so stock rarely runs dry.
    let per_week = visits.len() as f64 / (60.0 / 7.0);
    let delivery = |days_ago: i64| -> Vec<TxLine> {
        StockSettings::default()
            .items
            .into_iter()
            .map(|item| {
                let per_visit = match item.as_str() {
                    "syringe_1ml" | "swab" => 4.0,
                    "filter" | "sterile_water" => 3.5,
                    "needle_25g" | "needle_27g" | "citric_acid" | "foil" => 2.0,
                    "needle_29g" | "pipe" => 1.0,
                    "sharps_bin" => 0.08,
                    "naloxone_kit_nasal" => 0.05,
                    _ => 0.0,
                };
                let q = (per_week * per_visit * 1.2).round() as i64;
                TxLine {
                    item,
                    quantity: q.clamp(5, 10_000) + days_ago % 3,
                }
            })
            .collect()
    };
    let mut events: Vec<BulkSupplyTx> = Vec::new();
    let mut day = 60;
    while day > 0 {
        events.push(BulkSupplyTx {
            id: String::new(),
            kind: TxKind::Received,
            visit_id: None,
            anonymous: false,
            reason: Some("weekly delivery".into()),
            at: haven_domain::clock::truncate_micros(now - Duration::days(day) - Duration::hours(2)),
            recorded_by: recorded_by.to_string(),
            lines: delivery(day),
            discrepancies: Vec::new(),
        });
        day -= 7;
    }
    for v in &visits {
        let injecting = v.route.as_deref() == Some("injection");
        let roll = rng.below(100);
        let at = haven_domain::clock::truncate_micros(v.arrived_at + Duration::minutes(2));
        if roll < 70 {
            let lines = if injecting {
                let needle = ["needle_25g", "needle_25g", "needle_27g", "needle_29g"][rng.below(4) as usize];
                let n = 2 + rng.below(9) as i64;
                let mut l = vec![
                    TxLine {
                        item: needle.into(),
                        quantity: n,
                    },
                    TxLine {
                        item: "syringe_1ml".into(),
                        quantity: n,
                    },
                    TxLine {
                        item: "swab".into(),
                        quantity: n,
                    },
                    TxLine {
                        item: "citric_acid".into(),
                        quantity: n / 2 + 1,
                    },
                    TxLine {
                        item: "filter".into(),
                        quantity: n,
                    },
                    TxLine {
                        item: "sterile_water".into(),
                        quantity: n,
                    },
                ];
                if rng.below(15) == 0 {
                    l.push(TxLine {
                        item: "naloxone_kit_nasal".into(),
                        quantity: 1,
                    });
                }
                if rng.below(10) == 0 {
                    l.push(TxLine {
                        item: "sharps_bin".into(),
                        quantity: 1,
                    });
                }
                l
            } else {
                vec![
                    TxLine {
                        item: "foil".into(),
                        quantity: 2 + rng.below(8) as i64,
                    },
                    TxLine {
                        item: "pipe".into(),
                        quantity: rng.below(2) as i64 + 1,
                    },
                ]
            };
            events.push(BulkSupplyTx {
                id: String::new(),
                kind: TxKind::Given,
                visit_id: Some(v.id.clone()),
                anonymous: false,
                reason: None,
                at,
                recorded_by: recorded_by.to_string(),
                lines,
                discrepancies: Vec::new(),
            });
        }
        if injecting && rng.below(100) < 35 {
            events.push(BulkSupplyTx {
                id: String::new(),
                kind: TxKind::Returned,
                visit_id: Some(v.id.clone()),
                anonymous: false,
                reason: None,
                at: at + Duration::seconds(30),
                recorded_by: recorded_by.to_string(),
                lines: vec![TxLine {
                    item: "needle_25g".into(),
                    quantity: 5 + rng.below(40) as i64,
                }],
                discrepancies: Vec::new(),
            });
        }
        if rng.below(100) < 3 {
            events.push(BulkSupplyTx {
                id: String::new(),
                kind: TxKind::Given,
                visit_id: None,
                anonymous: true,
                reason: Some("bulk pack for a friend".into()),
                at: at + Duration::minutes(1),
                recorded_by: recorded_by.to_string(),
                lines: vec![
                    TxLine {
                        item: "needle_27g".into(),
                        quantity: 20,
                    },
                    TxLine {
                        item: "syringe_1ml".into(),
                        quantity: 20,
                    },
                    TxLine {
                        item: "swab".into(),
                        quantity: 20,
                    },
                ],
                discrepancies: Vec::new(),
            });
        }
    }
    events.sort_by_key(|e| e.at);
    let mut stock = BTreeMap::new();
    for e in &mut events {
        e.id = haven_store::new_id();
        let t = haven_domain::supply::NewTx {
            kind: e.kind,
            lines: e.lines.clone(),
            visit_id: e.visit_id.clone(),
            anonymous: e.anonymous,
            reason: e.reason.clone(),
            at: e.at,
        };
        let out = apply(&stock, &t);
        stock = out.new_stock;
        e.discrepancies = out.discrepancies;
    }
    store.bulk_insert_supplies(ctx, site_id, &events, &stock).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_and_counts_need_manage_stock_dcr_practice_5_5() {
        assert_eq!(action_for(TxKind::parse("given")), Action::RecordSupplies);
        assert_eq!(action_for(TxKind::parse("returned")), Action::RecordSupplies);
        assert_eq!(action_for(TxKind::parse("received")), Action::ManageStock);
        assert_eq!(action_for(TxKind::parse("adjustment")), Action::ManageStock);
        // An unknown kind is validated (422) after the floor-level check.
        assert_eq!(action_for(TxKind::parse("stolen")), Action::RecordSupplies);
    }
}
