//! Harm-reduction supplies: the item list, equipment transactions and stock.
//!
//! A transaction follows the ONHRDB syringe-programme record (dcr-practice
//! §5.5): supplies by type × quantity, needles returned, naloxone kits
//! (injectable / nasal). Stock problems never block a hand-out: the issue's
//! bad-input rule is "warn and record the discrepancy, do not block".

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::Invalid;
use crate::visit::{BACKDATE_LIMIT, FUTURE_TOLERANCE};

/// Largest quantity on one line (after merging repeats) \[U\]: catches a typo
/// such as an extra zero; a bigger delivery is entered as several transactions.
pub const MAX_LINE_QUANTITY: i64 = 10_000;

/// Longest reason or note, in characters (as for voiding a visit).
pub const MAX_REASON_CHARS: usize = 200;

/// One kind of supply that is handed out and counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// Stable code used in transactions and settings.
    pub code: String,
    /// Label shown to staff.
    pub label: String,
    /// What one unit is (piece, kit, sheet…), for counting.
    pub unit: String,
}

/// The default item list. Categories follow dcr-practice §5.5 (injection and
/// inhalation supplies, sharps return, naloxone kits injectable / nasal); the
/// particular gauges and sizes are \[U\], a configurable default: 25G (orange),
/// 27G, and 29G/30G fixed on 1 ml insulin-type syringes are the sizes UK and
/// Canadian programmes commonly stock.
pub fn default_items() -> Vec<Item> {
    let it = |code: &str, label: &str, unit: &str| Item {
        code: code.into(),
        label: label.into(),
        unit: unit.into(),
    };
    vec![
        it("needle_25g", "Needle 25G (orange)", "needle"),
        it("needle_27g", "Needle 27G", "needle"),
        it("needle_29g", "Needle 29G", "needle"),
        it("needle_30g", "Needle 30G", "needle"),
        it("syringe_1ml", "Syringe 1 ml", "syringe"),
        it("syringe_2ml", "Syringe 2 ml", "syringe"),
        it("foil", "Foil", "sheet"),
        it("pipe", "Pipe", "pipe"),
        it("sterile_water", "Sterile water", "ampoule"),
        it("swab", "Alcohol swab", "swab"),
        it("citric_acid", "Citric acid", "sachet"),
        it("filter", "Filter", "filter"),
        it("sharps_bin", "Sharps bin", "bin"),
        it("naloxone_kit_injectable", "Naloxone kit (injectable)", "kit"),
        it("naloxone_kit_nasal", "Naloxone kit (nasal)", "kit"),
    ]
}

/// What a transaction does to stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxKind {
    /// Handed out, to a visit or anonymously.
    Given,
    /// Used equipment brought back (waste, never stock).
    Returned,
    /// A stock delivery.
    Received,
    /// A stock count: each line is the counted level; needs a reason.
    Adjustment,
}

impl TxKind {
    /// All kinds, in form order.
    pub const ALL: [TxKind; 4] = [TxKind::Given, TxKind::Returned, TxKind::Received, TxKind::Adjustment];

    /// Stored code.
    pub fn as_str(self) -> &'static str {
        match self {
            TxKind::Given => "given",
            TxKind::Returned => "returned",
            TxKind::Received => "received",
            TxKind::Adjustment => "adjustment",
        }
    }

    /// Parses a stored code.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One item and how many.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxLine {
    /// Item code.
    pub item: String,
    /// Units moved; for an adjustment, the counted level.
    pub quantity: i64,
}

/// Raw transaction input.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxDraft {
    /// `given`, `returned`, `received` or `adjustment`.
    #[serde(default)]
    pub kind: String,
    /// Items and quantities.
    #[serde(default)]
    pub lines: Vec<TxLine>,
    /// The visit a hand-out or return belongs to.
    #[serde(default)]
    pub visit_id: Option<String>,
    /// No client: anonymous or bulk (e.g. collecting for others, dcr-practice §5.5).
    #[serde(default)]
    pub anonymous: bool,
    /// Why: required for an adjustment, an optional note otherwise.
    #[serde(default)]
    pub reason: Option<String>,
    /// When; defaults to now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub at: Option<OffsetDateTime>,
}

/// A validated transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTx {
    /// What it does to stock.
    pub kind: TxKind,
    /// One line per item, in first-seen order, quantities within limits.
    pub lines: Vec<TxLine>,
    /// The visit, if any (only for `Given` and `Returned`).
    pub visit_id: Option<String>,
    /// No client (only for `Given` and `Returned`).
    pub anonymous: bool,
    /// Trimmed reason or note.
    pub reason: Option<String>,
    /// When, UTC, microseconds.
    pub at: OffsetDateTime,
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim).filter(|s| !s.is_empty()).map(String::from)
}

/// Validates a transaction against the site's item codes.
///
/// Repeated items: for a movement (given, returned, received) the lines are
/// merged by adding quantities, since tapping an item twice means "that many
/// more"; for an adjustment they are refused, since two counts of one item
/// contradict each other. Quantities are never negative and at most
/// [`MAX_LINE_QUANTITY`] per item; zero is refused except as a counted level.
pub fn prepare_tx(draft: &TxDraft, items: &[String], now: OffsetDateTime) -> Result<NewTx, Invalid> {
    let mut inv = Invalid::default();
    let kind = TxKind::parse(&draft.kind);
    if kind.is_none() {
        inv.push("kind", "choose given, returned, received or adjustment");
    }
    let is_count = kind == Some(TxKind::Adjustment);

    if draft.lines.is_empty() {
        inv.push("lines", "add at least one item");
    }
    let mut lines: Vec<TxLine> = Vec::new();
    for (i, line) in draft.lines.iter().enumerate() {
        let item_field = format!("lines[{i}].item");
        let qty_field = format!("lines[{i}].quantity");
        let code = line.item.trim();
        let known = if code.is_empty() {
            inv.push(&item_field, "choose an item");
            false
        } else if !items.iter().any(|x| x == code) {
            inv.push(&item_field, format!("unknown item `{code}`"));
            false
        } else {
            true
        };
        let q = line.quantity;
        let qty_ok = if q < 0 {
            inv.push(&qty_field, "cannot be negative");
            false
        } else if q == 0 && !is_count {
            inv.push(&qty_field, "must be at least 1");
            false
        } else if q > MAX_LINE_QUANTITY {
            inv.push(&qty_field, format!("at most {MAX_LINE_QUANTITY}"));
            false
        } else {
            true
        };
        if !known {
            continue;
        }
        match lines.iter_mut().find(|l| l.item == code) {
            Some(_) if is_count => inv.push(&item_field, format!("`{code}` is counted twice")),
            Some(_) | None if !qty_ok => {}
            Some(prev) => {
                prev.quantity += q;
                if prev.quantity > MAX_LINE_QUANTITY {
                    inv.push(&qty_field, format!("`{code}` totals more than {MAX_LINE_QUANTITY}"));
                }
            }
            None => lines.push(TxLine {
                item: code.to_string(),
                quantity: q,
            }),
        }
    }

    let visit_id = non_empty(draft.visit_id.as_deref());
    match kind {
        Some(TxKind::Given | TxKind::Returned) => {
            if kind == Some(TxKind::Given) && visit_id.is_none() && !draft.anonymous {
                inv.push("visit_id", "choose the visit, or mark the hand-out anonymous");
            }
            if visit_id.is_some() && draft.anonymous {
                inv.push("anonymous", "either for a visit or anonymous, not both");
            }
        }
        Some(TxKind::Received | TxKind::Adjustment) => {
            // Stock movements belong to the site, never to a client.
            if visit_id.is_some() {
                inv.push("visit_id", "a delivery or count belongs to no visit");
            }
            if draft.anonymous {
                inv.push("anonymous", "a delivery or count belongs to no client");
            }
        }
        None => {}
    }

    let reason = non_empty(draft.reason.as_deref());
    match &reason {
        None if is_count => inv.push("reason", "give a reason for the count correction"),
        Some(r) if r.chars().count() > MAX_REASON_CHARS => {
            inv.push("reason", format!("at most {MAX_REASON_CHARS} characters"));
        }
        _ => {}
    }

    let at = crate::clock::truncate_micros(draft.at.unwrap_or(now));
    if at > now + FUTURE_TOLERANCE {
        inv.push("at", "cannot be in the future");
    } else if at < now - BACKDATE_LIMIT {
        inv.push("at", "cannot be more than 7 days ago");
    }

    inv.into_result()?;
    let kind = kind.ok_or_else(|| Invalid::one("kind", "choose a kind"))?;
    Ok(NewTx {
        kind,
        lines,
        visit_id,
        anonymous: draft.anonymous,
        reason,
        at,
    })
}

/// Why stock and records disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscrepancyKind {
    /// More was handed out than stock showed.
    Shortfall,
    /// A count found a level other than the records.
    Count,
}

/// A difference between what the records expect and what there is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discrepancy {
    /// Item code.
    pub item: String,
    /// Shortfall: units handed out. Count: the level the records showed.
    pub wanted: i64,
    /// Shortfall: units stock showed (never below 0). Count: the counted level.
    pub available: i64,
    /// Which of the two.
    pub kind: DiscrepancyKind,
}

impl Discrepancy {
    /// Units missing (`wanted − available`); negative when a count found a surplus.
    pub fn shortfall(&self) -> i64 {
        self.wanted - self.available
    }
}

/// Result of applying one transaction to stock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StockOutcome {
    /// Level per item after the transaction (never below 0).
    pub new_stock: BTreeMap<String, i64>,
    /// Differences to warn about and record.
    pub discrepancies: Vec<Discrepancy>,
    /// Used equipment returned by this transaction, per item: counted apart
    /// from stock because it is waste, not reusable supply (dcr-practice §5.5
    /// "needles returned").
    pub returned: BTreeMap<String, i64>,
}

/// Applies a validated transaction to stock (missing items are at 0).
///
/// A hand-out always applies (do not block); where it exceeds stock the level
/// is clamped at 0 and the shortfall recorded, because a negative level would
/// hide the real count and push the error onto the next delivery. Returns
/// leave stock unchanged. Deliveries add. A count sets the level and records
/// any difference from the records.
pub fn apply(stock: &BTreeMap<String, i64>, tx: &NewTx) -> StockOutcome {
    let mut out = StockOutcome {
        new_stock: stock.clone(),
        ..Default::default()
    };
    for line in &tx.lines {
        let level = stock.get(&line.item).copied().unwrap_or(0).max(0);
        let q = line.quantity;
        let new_level = match tx.kind {
            TxKind::Given => {
                if q > level {
                    out.discrepancies.push(Discrepancy {
                        item: line.item.clone(),
                        wanted: q,
                        available: level,
                        kind: DiscrepancyKind::Shortfall,
                    });
                }
                (level - q).max(0)
            }
            TxKind::Returned => {
                let r = out.returned.entry(line.item.clone()).or_insert(0);
                *r = r.saturating_add(q);
                continue;
            }
            TxKind::Received => level.saturating_add(q),
            TxKind::Adjustment => {
                if q != level {
                    out.discrepancies.push(Discrepancy {
                        item: line.item.clone(),
                        wanted: level,
                        available: q,
                        kind: DiscrepancyKind::Count,
                    });
                }
                q.max(0)
            }
        };
        out.new_stock.insert(line.item.clone(), new_level);
    }
    out
}

/// Stock settings per site. Missing keys take the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StockSettings {
    /// Item codes offered, in form order.
    pub items: Vec<String>,
    /// Warning threshold per item: warn when the level is at or below it.
    /// Items without a threshold never warn.
    pub low_stock: BTreeMap<String, i64>,
    /// Standard packs: one tap on the hand-out form fills in their counts.
    /// Unset: [`default_packs`], limited to the site's items (see [`StockSettings::packs`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packs: Option<Vec<Pack>>,
}

/// A standard pack handed out together (an injecting kit, a smoking kit):
/// a shortcut that fills in the hand-out form, which staff can still change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pack {
    /// Stable code.
    pub code: String,
    /// Button text.
    pub label: String,
    /// Units of each item in one pack.
    pub items: BTreeMap<String, i64>,
}

/// The default packs \[U\]: five of each injecting item with 27G needles and
/// 1 ml syringes, and a smoking kit; every site sets its own.
pub fn default_packs() -> Vec<Pack> {
    let pack = |code: &str, label: &str, items: &[(&str, i64)]| Pack {
        code: code.into(),
        label: label.into(),
        items: items.iter().map(|(i, q)| ((*i).to_string(), *q)).collect(),
    };
    vec![
        pack(
            "injecting",
            "Injecting kit",
            &[
                ("needle_27g", 5),
                ("syringe_1ml", 5),
                ("swab", 5),
                ("sterile_water", 5),
                ("citric_acid", 5),
                ("filter", 5),
            ],
        ),
        pack("smoking", "Smoking kit", &[("foil", 5), ("pipe", 1)]),
    ]
}

impl Default for StockSettings {
    fn default() -> Self {
        let items: Vec<String> = default_items().into_iter().map(|i| i.code).collect();
        // Thresholds are [U]: about a week's hand-outs at a small site; set per site.
        let low_stock = items
            .iter()
            .map(|code| {
                let t = match code.as_str() {
                    c if c.starts_with("needle_") || c.starts_with("syringe_") => 200,
                    "swab" | "sterile_water" | "citric_acid" | "filter" | "foil" => 200,
                    "pipe" => 50,
                    "sharps_bin" => 20,
                    _ => 10, // naloxone kits
                };
                (code.clone(), t)
            })
            .collect();
        Self {
            items,
            low_stock,
            packs: None,
        }
    }
}

impl StockSettings {
    /// The packs offered: the site's own, or the defaults without the items
    /// the site does not stock (a default pack left empty is dropped).
    pub fn packs(&self) -> Vec<Pack> {
        match &self.packs {
            Some(p) => p.clone(),
            None => default_packs()
                .into_iter()
                .filter_map(|mut p| {
                    p.items.retain(|item, _| self.items.contains(item));
                    (!p.items.is_empty()).then_some(p)
                })
                .collect(),
        }
    }

    /// Checks the lists: at least one item, plain codes (lower-case letters,
    /// digits, `_`), no repeats; thresholds only for listed items, 0 to
    /// 1,000,000.
    pub fn validate(&self) -> Result<(), Invalid> {
        let mut inv = Invalid::default();
        if self.items.is_empty() {
            inv.push("items", "must list at least one item");
        }
        for (i, code) in self.items.iter().enumerate() {
            let plain = !code.is_empty()
                && code.len() <= 40
                && code
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !plain {
                inv.push("items", format!("`{code}`: use 1–40 lower-case letters, digits or _"));
            } else if self.items[..i].contains(code) {
                inv.push("items", format!("`{code}` is listed twice"));
            }
        }
        let packs = self.packs.as_deref().unwrap_or_default();
        for (i, p) in packs.iter().enumerate() {
            let name = format!("packs[{i}]");
            let plain = !p.code.is_empty()
                && p.code.len() <= 40
                && p.code
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !plain {
                inv.push(&name, format!("`{}`: use 1–40 lower-case letters, digits or _", p.code));
            } else if packs[..i].iter().any(|x| x.code == p.code) {
                inv.push(&name, format!("`{}` is listed twice", p.code));
            }
            if p.label.trim().is_empty() || p.label.chars().count() > 40 {
                inv.push(&name, "give a label of 1–40 characters");
            }
            if p.items.is_empty() {
                inv.push(&name, "list at least one item");
            }
            for (item, q) in &p.items {
                if !self.items.contains(item) {
                    inv.push(&name, format!("`{item}` is not in the item list"));
                } else if !(1..=MAX_LINE_QUANTITY).contains(q) {
                    inv.push(&name, format!("`{item}`: use 1 to {MAX_LINE_QUANTITY}"));
                }
            }
        }
        for (code, t) in &self.low_stock {
            if !self.items.contains(code) {
                inv.push("low_stock", format!("`{code}` is not in the item list"));
            } else if !(0..=1_000_000).contains(t) {
                inv.push("low_stock", format!("`{code}`: use 0 to 1,000,000"));
            }
        }
        inv.into_result()
    }
}

/// Items at or below their threshold, in item-list order, as
/// `(item, level, threshold)`; a missing level counts as 0.
pub fn low_stock(stock: &BTreeMap<String, i64>, settings: &StockSettings) -> Vec<(String, i64, i64)> {
    settings
        .items
        .iter()
        .filter_map(|code| {
            let threshold = *settings.low_stock.get(code)?;
            let level = stock.get(code).copied().unwrap_or(0);
            (level <= threshold).then(|| (code.clone(), level, threshold))
        })
        .collect()
}

/// Label for staff of an item code: the default item's label, or the code
/// humanised for items a site added (`spoon_large` → "Spoon large").
pub fn item_label(code: &str) -> String {
    if let Some(i) = default_items().into_iter().find(|i| i.code == code) {
        return i.label;
    }
    let words = code.replace('_', " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::{Duration, macros::datetime};

    const NOW: OffsetDateTime = datetime!(2025-06-01 12:00 UTC);

    fn codes() -> Vec<String> {
        StockSettings::default().items
    }

    fn line(item: &str, quantity: i64) -> TxLine {
        TxLine {
            item: item.into(),
            quantity,
        }
    }

    fn draft(kind: &str, lines: &[(&str, i64)]) -> TxDraft {
        TxDraft {
            kind: kind.into(),
            lines: lines.iter().map(|(i, q)| line(i, *q)).collect(),
            ..Default::default()
        }
    }

    fn fields(e: &Invalid) -> Vec<&str> {
        e.0.iter().map(|x| x.field.as_str()).collect()
    }

    fn tx(kind: TxKind, lines: &[(&str, i64)]) -> NewTx {
        NewTx {
            kind,
            lines: lines.iter().map(|(i, q)| line(i, *q)).collect(),
            visit_id: None,
            anonymous: kind == TxKind::Given,
            reason: None,
            at: NOW,
        }
    }

    fn stock(xs: &[(&str, i64)]) -> BTreeMap<String, i64> {
        xs.iter().map(|(i, q)| ((*i).to_string(), *q)).collect()
    }

    #[test]
    fn default_items_cover_dcr_practice_5_5_categories() {
        let items = default_items();
        for c in [
            "needle_27g",
            "syringe_1ml",
            "foil",
            "sharps_bin",
            "naloxone_kit_injectable",
            "naloxone_kit_nasal",
        ] {
            assert!(items.iter().any(|i| i.code == c), "{c}");
        }
        assert!(StockSettings::default().validate().is_ok());
    }

    #[test]
    fn anonymous_hand_out_is_accepted_dcr_practice_5_5() {
        let mut d = draft("given", &[("needle_27g", 10), ("swab", 10)]);
        d.anonymous = true;
        let t = prepare_tx(&d, &codes(), NOW).unwrap();
        assert_eq!(t.kind, TxKind::Given);
        assert_eq!(t.at, NOW);
        assert_eq!(t.lines.len(), 2);
    }

    #[test]
    fn each_failing_field_is_named() {
        let e = prepare_tx(&draft("sold", &[]), &codes(), NOW).unwrap_err();
        assert_eq!(fields(&e), ["kind", "lines"]);

        let e = prepare_tx(&draft("given", &[("tea", 1), ("", 1)]), &codes(), NOW).unwrap_err();
        assert_eq!(fields(&e), ["lines[0].item", "lines[1].item", "visit_id"]);

        let mut d = draft("given", &[("foil", 0), ("foil", MAX_LINE_QUANTITY + 1)]);
        d.visit_id = Some("v1".into());
        d.anonymous = true;
        d.at = Some(NOW + Duration::minutes(5));
        let e = prepare_tx(&d, &codes(), NOW).unwrap_err();
        assert_eq!(
            fields(&e),
            ["lines[0].quantity", "lines[1].quantity", "anonymous", "at"]
        );

        let e = prepare_tx(&draft("adjustment", &[("foil", 3)]), &codes(), NOW).unwrap_err();
        assert_eq!(fields(&e), ["reason"]);

        let mut d = draft("received", &[("foil", 3)]);
        d.visit_id = Some("v1".into());
        d.reason = Some("x".repeat(201));
        d.at = Some(NOW - Duration::days(8));
        let e = prepare_tx(&d, &codes(), NOW).unwrap_err();
        assert_eq!(fields(&e), ["visit_id", "reason", "at"]);
    }

    #[test]
    fn negative_counts_are_refused_for_every_kind() {
        for k in ["given", "returned", "received", "adjustment"] {
            let mut d = draft(k, &[("needle_29g", -1)]);
            d.reason = Some("count".into());
            d.anonymous = k == "given";
            let e = prepare_tx(&d, &codes(), NOW).unwrap_err();
            assert_eq!(fields(&e), ["lines[0].quantity"], "{k}");
            assert_eq!(e.0[0].message, "cannot be negative");
        }
    }

    #[test]
    fn repeated_items_merge_for_movements_but_not_counts() {
        let mut d = draft("given", &[("foil", 5), ("pipe", 1), ("foil", 3)]);
        d.visit_id = Some(" v1 ".into());
        let t = prepare_tx(&d, &codes(), NOW).unwrap();
        assert_eq!(t.lines, [line("foil", 8), line("pipe", 1)]);
        assert_eq!(t.visit_id.as_deref(), Some("v1"));

        let mut d = draft("received", &[("foil", 6_000), ("foil", 6_000)]);
        d.reason = None;
        let e = prepare_tx(&d, &codes(), NOW).unwrap_err();
        assert_eq!(fields(&e), ["lines[1].quantity"]);

        let mut d = draft("adjustment", &[("foil", 5), ("foil", 3)]);
        d.reason = Some("weekly count".into());
        let e = prepare_tx(&d, &codes(), NOW).unwrap_err();
        assert_eq!(fields(&e), ["lines[1].item"]);
    }

    #[test]
    fn a_count_of_zero_is_a_valid_adjustment() {
        let mut d = draft("adjustment", &[("naloxone_kit_nasal", 0)]);
        d.reason = Some("shelf empty".into());
        let t = prepare_tx(&d, &codes(), NOW).unwrap();
        assert_eq!(t.lines, [line("naloxone_kit_nasal", 0)]);
    }

    #[test]
    fn draft_rejects_unknown_json_fields() {
        let ok: TxDraft =
            serde_json::from_str(r#"{"kind":"returned","lines":[{"item":"needle_27g","quantity":40}]}"#).unwrap();
        assert!(prepare_tx(&ok, &codes(), NOW).is_ok());
        assert!(serde_json::from_str::<TxDraft>(r#"{"kind":"given","client":"x"}"#).is_err());
        assert!(serde_json::from_str::<StockSettings>(r#"{"thresholds":{}}"#).is_err());
    }

    #[test]
    fn hand_out_beyond_stock_warn_and_record_do_not_block() {
        let out = apply(
            &stock(&[("needle_27g", 3)]),
            &tx(TxKind::Given, &[("needle_27g", 10), ("foil", 2)]),
        );
        assert_eq!(out.new_stock, stock(&[("needle_27g", 0), ("foil", 0)]));
        assert_eq!(out.discrepancies.len(), 2);
        let d = &out.discrepancies[0];
        assert_eq!(
            (d.item.as_str(), d.wanted, d.available, d.kind),
            ("needle_27g", 10, 3, DiscrepancyKind::Shortfall)
        );
        assert_eq!(d.shortfall(), 7);
        assert_eq!(out.discrepancies[1].shortfall(), 2);
    }

    #[test]
    fn hand_out_within_stock_has_no_discrepancy() {
        let out = apply(&stock(&[("swab", 10)]), &tx(TxKind::Given, &[("swab", 10)]));
        assert_eq!(out.new_stock, stock(&[("swab", 0)]));
        assert!(out.discrepancies.is_empty());
    }

    #[test]
    fn returned_equipment_does_not_change_stock_dcr_practice_5_5() {
        let before = stock(&[("needle_27g", 50)]);
        let out = apply(&before, &tx(TxKind::Returned, &[("needle_27g", 40), ("sharps_bin", 1)]));
        assert_eq!(out.new_stock, before);
        assert_eq!(out.returned, stock(&[("needle_27g", 40), ("sharps_bin", 1)]));
        assert!(out.discrepancies.is_empty());
    }

    #[test]
    fn received_adds_and_count_sets_level_with_discrepancy() {
        let out = apply(&stock(&[("foil", 5)]), &tx(TxKind::Received, &[("foil", 100)]));
        assert_eq!(out.new_stock, stock(&[("foil", 105)]));

        let out = apply(
            &stock(&[("foil", 105), ("pipe", 4)]),
            &tx(TxKind::Adjustment, &[("foil", 100), ("pipe", 4)]),
        );
        assert_eq!(out.new_stock, stock(&[("foil", 100), ("pipe", 4)]));
        assert_eq!(
            out.discrepancies,
            [Discrepancy {
                item: "foil".into(),
                wanted: 105,
                available: 100,
                kind: DiscrepancyKind::Count
            }]
        );
    }

    #[test]
    fn item_labels_come_from_the_defaults_or_are_humanised() {
        assert_eq!(item_label("needle_25g"), "Needle 25G (orange)");
        assert_eq!(item_label("spoon_large"), "Spoon large");
        assert_eq!(item_label(""), "");
    }

    #[test]
    fn low_stock_warns_at_or_below_threshold() {
        let s = StockSettings {
            items: vec!["foil".into(), "pipe".into(), "swab".into(), "filter".into()],
            low_stock: stock(&[("foil", 10), ("pipe", 10), ("swab", 10)]),
            packs: None,
        };
        assert!(s.validate().is_ok());
        let got = low_stock(&stock(&[("foil", 10), ("pipe", 11), ("filter", 0)]), &s);
        // foil at the threshold warns, pipe above does not, swab missing = 0, filter has no threshold.
        assert_eq!(got, [("foil".to_string(), 10, 10), ("swab".to_string(), 0, 10)]);
    }

    #[test]
    fn stock_settings_validate_names_fields() {
        let s = StockSettings {
            items: vec!["foil".into(), "foil".into(), "Bad Code".into()],
            low_stock: stock(&[("pipe", 1), ("foil", -1)]),
            packs: None,
        };
        let e = s.validate().unwrap_err();
        assert_eq!(fields(&e), ["items", "items", "low_stock", "low_stock"]);
        let e = StockSettings {
            items: vec![],
            low_stock: BTreeMap::new(),
            packs: None,
        }
        .validate()
        .unwrap_err();
        assert_eq!(fields(&e), ["items"]);
    }

    proptest! {
        #[test]
        fn stock_never_negative_and_balances(ops in proptest::collection::vec((any::<bool>(), 1i64..=200), 0..60)) {
            let mut s = BTreeMap::new();
            let (mut received, mut given, mut short) = (0i64, 0i64, 0i64);
            for (is_receive, q) in ops {
                let kind = if is_receive { TxKind::Received } else { TxKind::Given };
                let out = apply(&s, &tx(kind, &[("foil", q)]));
                if is_receive { received += q } else { given += q }
                short += out.discrepancies.iter().map(Discrepancy::shortfall).sum::<i64>();
                s = out.new_stock;
                prop_assert!(s.values().all(|v| *v >= 0));
            }
            // Shortfalls were handed out beyond stock, so they add back.
            prop_assert_eq!(received - given + short, s.get("foil").copied().unwrap_or(0));
        }

        #[test]
        fn valid_drafts_never_exceed_the_line_limit(qs in proptest::collection::vec(-5i64..6_000, 1..5)) {
            let lines: Vec<(&str, i64)> = qs.iter().map(|q| ("swab", *q)).collect();
            let mut d = draft("received", &lines);
            d.at = Some(NOW);
            if let Ok(t) = prepare_tx(&d, &codes(), NOW) {
                prop_assert!(t.lines.iter().all(|l| (1..=MAX_LINE_QUANTITY).contains(&l.quantity)));
            }
        }
    }

    #[test]
    fn packs_are_checked_against_the_item_list() {
        let mut s = StockSettings::default();
        assert!(s.validate().is_ok());
        assert_eq!(s.packs(), default_packs(), "default packs use default items");
        let mut packs = default_packs();
        packs.push(Pack {
            code: "injecting".into(),
            label: " ".into(),
            items: [("spoon".to_string(), 1), ("swab".to_string(), 0)]
                .into_iter()
                .collect(),
        });
        s.packs = Some(packs);
        let e = s.validate().unwrap_err();
        let msgs: Vec<&str> = e.0.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(e.0.len(), 4, "{msgs:?}");
        assert!(e.0.iter().all(|f| f.field == "packs[2]"));
        // A site's own items without packs: the defaults, cut to what it stocks.
        let own: StockSettings = serde_json::from_str(r#"{"items": ["swab", "foil"], "low_stock": {}}"#).unwrap();
        assert!(own.validate().is_ok());
        let cut = own.packs();
        assert_eq!(cut.len(), 2);
        assert_eq!(cut[0].items.keys().collect::<Vec<_>>(), ["swab"]);
        assert_eq!(cut[1].items.keys().collect::<Vec<_>>(), ["foil"]);
        // No packs at all: an empty list.
        let none: StockSettings = serde_json::from_str(r#"{"packs": []}"#).unwrap();
        assert!(none.packs().is_empty());
    }
}
