//! Supplies: equipment transactions, stock levels and discrepancies (dcr-practice §5.5).
//!
//! Store contract on both backends (`contract_test!`): a hand-out beyond
//! stock is saved with its shortfall and the level clamped at 0 (issue 4,
//! bad input: warn and record, never block), returns leave stock alone, a
//! count sets the level, concurrent hand-outs lose no update, and the ledger
//! is append-only. Over HTTP: negative counts refused at the field with
//! nothing written, deliveries only for stock managers, the low-stock and
//! shortfall warnings on the page, and the API round trip.

use std::collections::BTreeMap;

use haven_domain::{
    site::{SiteInput, validate_site},
    supply::{DiscrepancyKind, NewTx, StockSettings, TxDraft, TxLine, prepare_tx},
};
use haven_store::{AuditCtx, NewClientRecord, NewVisitRecord, SiteRow, Store, StoreError};
use serde_json::{Value, json};
use time::Duration;

use crate::{
    common::server::TestServer,
    contract::{assert_chain, assert_last_event, audited, head},
};

/// A syntactically valid Argon2id PHC string; the store never checks it.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";

// ---------------------------------------------------------------- helpers

fn system() -> AuditCtx {
    AuditCtx {
        actor_id: None,
        actor_name: "system:test".into(),
        role: None,
        site_id: None,
        request_id: None,
    }
}

fn site_input(code: &str) -> SiteInput {
    validate_site(code, &format!("Site {code}"), "Europe/London", "09:00", "21:00", "site").expect("valid site")
}

/// A site with one nurse, a client and a visit of that client.
struct Fx {
    site: SiteRow,
    ctx: AuditCtx,
    visit: String,
}

async fn fixture(store: &Store, code: &str) -> Fx {
    let site = store
        .create_site(&system(), &site_input(code), "{}")
        .await
        .expect("create site");
    let username = format!("nurse-{}", code.to_lowercase());
    let user = store
        .create_user(&system(), &username, "Nurse", DUMMY_HASH, Some((&site.id, "nurse")))
        .await
        .expect("create user");
    let ctx = AuditCtx {
        actor_id: Some(user),
        actor_name: username,
        role: Some("nurse".into()),
        site_id: Some(site.id.clone()),
        request_id: Some(format!("req-{code}")),
    };
    let client = store
        .create_client(
            &ctx,
            &site.id,
            &NewClientRecord {
                code: None,
                year_of_birth: 1985,
                gender: "male".into(),
                home_area: "G1".into(),
                alias: None,
                flags: vec![],
                identity: None,
            },
        )
        .await
        .expect("client");
    let (v, _) = store
        .create_visit(
            &ctx,
            &site.id,
            &NewVisitRecord {
                client_id: client.id.clone(),
                status: "attended",
                arrived_at: haven_domain::clock::now() - Duration::minutes(10),
                substances: vec!["heroin".into()],
                route: Some("injection".into()),
                otherwise_place: Some("public".into()),
                refusal_reason: None,
                idempotency_key: None,
                eligibility: None,
                override_reason: None,
            },
        )
        .await
        .expect("visit");
    Fx { site, ctx, visit: v.id }
}

/// A transaction validated by the domain against the default items.
fn tx(kind: &str, lines: &[(&str, i64)], visit: Option<&str>) -> NewTx {
    let draft = TxDraft {
        kind: kind.into(),
        lines: lines
            .iter()
            .map(|(i, q)| TxLine {
                item: (*i).into(),
                quantity: *q,
            })
            .collect(),
        visit_id: visit.map(str::to_string),
        anonymous: visit.is_none() && matches!(kind, "given" | "returned"),
        reason: (kind == "adjustment").then(|| "weekly count".to_string()),
        at: None,
    };
    prepare_tx(&draft, &StockSettings::default().items, haven_domain::clock::now()).expect("valid transaction")
}

async fn levels(store: &Store, site: &str) -> BTreeMap<String, i64> {
    store
        .stock_levels(site)
        .await
        .expect("stock")
        .into_iter()
        .map(|r| (r.item, i64::from(r.level)))
        .collect()
}

async fn record(store: &Store, fx: &Fx, t: &NewTx) -> (String, haven_domain::supply::StockOutcome) {
    audited(store, 1, store.record_supplies(&fx.ctx, &fx.site.id, t))
        .await
        .expect("record supplies")
}

// ---------------------------------------------------------------- store contract

crate::contract_test!(
    hand_out_beyond_stock_is_saved_with_shortfall_and_level_0_issue_4_bad_input,
    |store| {
        let fx = fixture(store, "SUA").await;
        record(store, &fx, &tx("received", &[("needle_27g", 3)], None)).await;
        let (id, out) = record(
            store,
            &fx,
            &tx("given", &[("needle_27g", 10), ("swab", 2)], Some(&fx.visit)),
        )
        .await;
        assert_last_event(store, haven_domain::audit::AuditAction::Create, "supply_tx", &id).await;
        // Warn and record, do not block: both lines are saved, levels clamp at 0.
        assert_eq!(out.discrepancies.len(), 2);
        assert_eq!(
            (out.discrepancies[0].item.as_str(), out.discrepancies[0].shortfall()),
            ("needle_27g", 7)
        );
        let l = levels(store, &fx.site.id).await;
        assert_eq!((l["needle_27g"], l["swab"]), (0, 0));
        let found = store
            .supply_discrepancies(&fx.site.id, 10)
            .await
            .expect("discrepancies");
        let mut short: Vec<(&str, &str, i32, i32, i64)> = found
            .iter()
            .map(|d| (d.item.as_str(), d.kind.as_str(), d.wanted, d.available, d.shortfall()))
            .collect();
        short.sort();
        assert_eq!(
            short,
            [("needle_27g", "shortfall", 10, 3, 7), ("swab", "shortfall", 2, 0, 2)]
        );
        assert!(found.iter().all(|d| d.tx_id == id));
        // The hand-out is on the visit, with the client's code.
        let of_visit = store.supplies_of_visit(&fx.visit).await.expect("of visit");
        assert_eq!(of_visit.len(), 1);
        assert_eq!(of_visit[0].row.id, id);
        assert!(of_visit[0].row.client_code.is_some());
        let lines: Vec<(&str, i32)> = of_visit[0]
            .lines
            .iter()
            .map(|l| (l.item.as_str(), l.quantity))
            .collect();
        assert_eq!(lines, [("needle_27g", 10), ("swab", 2)]);
        let now = haven_domain::clock::now();
        let day = store
            .supply_txs_between(&fx.site.id, now - Duration::hours(1), now + Duration::minutes(1), 100)
            .await
            .expect("day");
        assert_eq!(day.len(), 2);
        assert_eq!(day[0].row.kind, "given", "newest first");
        assert_chain(store).await;
    }
);

crate::contract_test!(returned_equipment_does_not_change_stock_dcr_practice_5_5, |store| {
    let fx = fixture(store, "SUB").await;
    record(store, &fx, &tx("received", &[("needle_27g", 50)], None)).await;
    let (_, out) = record(
        store,
        &fx,
        &tx("returned", &[("needle_27g", 40), ("sharps_bin", 1)], Some(&fx.visit)),
    )
    .await;
    assert_eq!(out.returned.get("needle_27g"), Some(&40));
    assert!(out.discrepancies.is_empty());
    let l = levels(store, &fx.site.id).await;
    assert_eq!(l.get("needle_27g"), Some(&50));
    assert_eq!(l.get("sharps_bin"), None, "a return creates no stock row");
    assert_chain(store).await;
});

crate::contract_test!(
    count_sets_level_and_records_count_discrepancy_dcr_practice_5_5,
    |store| {
        let fx = fixture(store, "SUC").await;
        record(store, &fx, &tx("received", &[("foil", 105), ("pipe", 4)], None)).await;
        let (id, out) = record(store, &fx, &tx("adjustment", &[("foil", 100), ("pipe", 4)], None)).await;
        assert_eq!(out.discrepancies.len(), 1, "pipe agrees with the records");
        assert_eq!(out.discrepancies[0].kind, DiscrepancyKind::Count);
        let l = levels(store, &fx.site.id).await;
        assert_eq!((l["foil"], l["pipe"]), (100, 4));
        let d = store.supply_discrepancies_of_tx(&id).await.expect("of tx");
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].item.as_str(), d[0].kind.as_str(), d[0].wanted, d[0].available),
            ("foil", "count", 105, 100)
        );
        // A count of zero empties the shelf.
        record(store, &fx, &tx("adjustment", &[("pipe", 0)], None)).await;
        assert_eq!(levels(store, &fx.site.id).await["pipe"], 0);
        let t = store.supply_tx(&id).await.expect("tx");
        assert_eq!(t.row.reason.as_deref(), Some("weekly count"));
        assert_chain(store).await;
    }
);

crate::contract_test!(concurrent_hand_outs_lose_no_update, |store| {
    let fx = fixture(store, "SUD").await;
    record(store, &fx, &tx("received", &[("swab", 1_000), ("filter", 100)], None)).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let store = store.clone();
        let ctx = fx.ctx.clone();
        let site = fx.site.id.clone();
        tasks.push(tokio::spawn(async move {
            let t = tx("given", &[("filter", 7), ("swab", 7)], None);
            store.record_supplies(&ctx, &site, &t).await
        }));
    }
    let mut short = 0;
    for t in tasks {
        let (_, out) = t.await.expect("task").expect("hand-out");
        short += out
            .discrepancies
            .iter()
            .map(haven_domain::supply::Discrepancy::shortfall)
            .sum::<i64>();
    }
    let l = levels(store, &fx.site.id).await;
    assert_eq!(l["swab"], 1_000 - 20 * 7, "no hand-out lost");
    // Filters ran out: 140 handed out of 100, the 40 short recorded.
    assert_eq!((l["filter"], short), (0, 40));
    let recorded: i64 = store
        .supply_discrepancies(&fx.site.id, 100)
        .await
        .expect("discrepancies")
        .iter()
        .map(haven_store::DiscrepancyRow::shortfall)
        .sum();
    assert_eq!(recorded, 40);
    assert_chain(store).await;
});

crate::contract_test!(supply_ledger_is_append_only_and_visits_must_be_the_sites, |store| {
    let fx = fixture(store, "SUE").await;
    let other = fixture(store, "SUF").await;
    record(store, &fx, &tx("given", &[("foil", 3)], Some(&fx.visit))).await;
    for sql in [
        "UPDATE supply_tx SET kind = 'returned'",
        "DELETE FROM supply_tx",
        "UPDATE supply_lines SET quantity = 1",
        "DELETE FROM supply_lines",
        "UPDATE supply_discrepancies SET wanted = 0",
        "DELETE FROM supply_discrepancies",
    ] {
        assert!(store.execute_raw_for_tests(sql).await.is_err(), "{sql} was allowed");
    }
    // Another site's visit, or a voided one, takes no supplies; nothing written.
    let r = audited(
        store,
        0,
        store.record_supplies(&fx.ctx, &fx.site.id, &tx("given", &[("foil", 1)], Some(&other.visit))),
    )
    .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    store
        .void_visit(&fx.ctx, &fx.site.id, &fx.visit, "entered twice")
        .await
        .expect("void");
    let r = audited(
        store,
        0,
        store.record_supplies(&fx.ctx, &fx.site.id, &tx("given", &[("foil", 1)], Some(&fx.visit))),
    )
    .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    assert_eq!(levels(store, &fx.site.id).await["foil"], 0);
    assert_eq!(store.supplies_of_visit(&fx.visit).await.expect("of visit").len(), 1);
    assert_chain(store).await;
});

// ---------------------------------------------------------------- HTTP

async fn call(s: &TestServer, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = match method {
        "GET" => s.client().get(s.url(path)),
        _ => s.client().post(s.url(path)),
    }
    .bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

fn fields(p: &Value) -> Vec<String> {
    p["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn ledger_size(s: &TestServer) -> usize {
    let site = s.db.store.site_by_code("GLA").await.unwrap();
    let now = haven_domain::clock::now();
    s.db.store
        .supply_txs_between(&site.id, now - Duration::days(400), now + Duration::days(1), 100_000)
        .await
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_count_is_refused_at_the_field_and_nothing_is_written_issue_4_bad_input() {
    let s = TestServer::start().await;
    let worker = s.token("demo-worker").await;
    let before = ledger_size(&s).await;

    // API: 422 naming the line's quantity; no audit event at all.
    let head0 = head(&s.db.store).await;
    let (st, p) = call(
        &s,
        &worker,
        "POST",
        "/api/v1/supplies",
        Some(json!({"site": "GLA", "kind": "given", "anonymous": true,
                    "lines": [{"item": "swab", "quantity": 5}, {"item": "needle_27g", "quantity": -5}]})),
    )
    .await;
    assert_eq!((st, fields(&p)), (422, vec!["lines[1].quantity".to_string()]), "{p}");
    assert!(p.to_string().contains("cannot be negative"), "{p}");
    assert_eq!(head(&s.db.store).await, head0, "nothing written");

    // Page: 422, the message at the box, the input kept; no transaction and
    // no create event (the re-rendered page only records its reads).
    let creates = s.db.store.audit_count("create").await.unwrap();
    let (c, csrf) = s.login("demo-worker").await;
    let r = c
        .post(s.url("/supplies"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("form", "handout"),
            ("kind", "given"),
            ("anonymous", "1"),
            ("q_swab", "5"),
            ("q_needle_27g", "-5"),
            ("note", "for a friend"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains(r#"<p class="field-error" id="handout-q_needle_27g-error">Error: cannot be negative</p>"#),
        "{html}"
    );
    assert!(html.contains(r#"name="q_needle_27g" type="number""#));
    assert!(
        html.contains(r#"value="-5""#) && html.contains(r#"value="for a friend""#),
        "input kept"
    );
    assert_eq!(s.db.store.audit_count("create").await.unwrap(), creates);
    assert_eq!(ledger_size(&s).await, before);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_cannot_record_a_delivery_or_count_only_stock_managers_can() {
    let s = TestServer::start().await;
    let worker = s.token("demo-worker").await;
    let before = ledger_size(&s).await;
    for body in [
        json!({"site": "GLA", "kind": "received", "lines": [{"item": "swab", "quantity": 500}]}),
        json!({"site": "GLA", "kind": "adjustment", "reason": "count", "lines": [{"item": "swab", "quantity": 5}]}),
    ] {
        let (st, p) = call(&s, &worker, "POST", "/api/v1/supplies", Some(body)).await;
        assert_eq!(st, 403, "{p}");
    }
    let (c, csrf) = s.login("demo-worker").await;
    let page = c.get(s.url("/supplies")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"id="handout-form""#));
    assert!(!page.contains(r#"id="delivery-form""#) && !page.contains(r#"id="count-form""#));
    let r = c
        .post(s.url("/supplies"))
        .form(&[("csrf", csrf.as_str()), ("form", "delivery"), ("q_swab", "500")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(ledger_size(&s).await, before);

    let nurse = s.token("demo-nurse").await;
    let (st, p) = call(
        &s,
        &nurse,
        "POST",
        "/api/v1/supplies",
        Some(json!({"site": "GLA", "kind": "received", "lines": [{"item": "swab", "quantity": 500}]})),
    )
    .await;
    assert_eq!(st, 201, "{p}");
    // A count needs a reason.
    let (st, p) = call(
        &s,
        &nurse,
        "POST",
        "/api/v1/supplies",
        Some(json!({"site": "GLA", "kind": "adjustment", "lines": [{"item": "swab", "quantity": 5}]})),
    )
    .await;
    assert_eq!((st, fields(&p)), (422, vec!["reason".to_string()]), "{p}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_warns_of_low_stock_and_names_the_shortfall_after_a_hand_out() {
    let s = TestServer::start().await;
    let (n, ncsrf) = s.login("demo-nurse").await;
    // A count without a reason is refused at the reason box, input kept.
    let r = n
        .post(s.url("/supplies"))
        .form(&[("csrf", ncsrf.as_str()), ("form", "count"), ("q_needle_30g", "3")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"id="count-reason-error""#), "{html}");
    let r = n
        .post(s.url("/supplies"))
        .form(&[
            ("csrf", ncsrf.as_str()),
            ("form", "count"),
            ("q_needle_30g", "3"),
            ("reason", "shelf check"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);

    let (w, csrf) = s.login("demo-worker").await;
    let page = w.get(s.url("/supplies")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"id="low-stock-warning""#), "{page}");
    assert!(page.contains(r#"<tr id="stock-needle_30g" class="low-stock"><td>Needle 30G</td><td>3</td><td>200</td>"#));

    let r = w
        .post(s.url("/supplies"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("form", "handout"),
            ("kind", "given"),
            ("anonymous", "1"),
            ("q_needle_30g", "10"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_string();
    assert!(to.starts_with("/supplies?saved="), "{to}");
    let page = w.get(s.url(&to)).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("Saved: Given 10 × Needle 30G (anonymous / bulk)."),
        "{page}"
    );
    assert!(
        page.contains("Needle 30G: 10 handed out but stock showed 3: 7 short, recorded as a discrepancy"),
        "{page}"
    );
    assert!(page.contains(r#"<tr id="stock-needle_30g" class="low-stock"><td>Needle 30G</td><td>0</td>"#));
    assert!(page.contains(r#"id="discrepancies""#));
    // A bad date filter says so and shows today.
    let r = w.get(s.url("/supplies?date=26/11/2026")).send().await.unwrap();
    assert_eq!(r.status(), 422);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supplies_api_round_trip_dcr_practice_5_5() {
    let s = TestServer::start().await;
    let worker = s.token("demo-worker").await;
    let nurse = s.token("demo-nurse").await;
    let (st, c) = call(
        &s,
        &worker,
        "POST",
        "/api/v1/clients",
        Some(json!({"site": "GLA", "year_of_birth": 1984, "gender": "female", "home_area": "G2"})),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    let (st, v) = call(
        &s,
        &worker,
        "POST",
        "/api/v1/visits",
        Some(json!({"client_id": c["id"]})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let visit = v["id"].as_str().unwrap().to_string();

    let (st, r) = call(
        &s,
        &nurse,
        "POST",
        "/api/v1/supplies",
        Some(json!({"site": "GLA", "kind": "adjustment", "reason": "start of test",
                    "lines": [{"item": "naloxone_kit_nasal", "quantity": 4}]})),
    )
    .await;
    assert_eq!(st, 201, "{r}");
    let (st, r) = call(
        &s,
        &worker,
        "POST",
        "/api/v1/supplies",
        Some(json!({"site": "GLA", "kind": "given", "visit_id": visit,
                    "lines": [{"item": "naloxone_kit_nasal", "quantity": 1}]})),
    )
    .await;
    assert_eq!(st, 201, "{r}");
    assert_eq!(r["client_code"], c["code"]);
    assert_eq!(r["stock"]["naloxone_kit_nasal"], 3);
    assert_eq!(r["discrepancies"], json!([]));
    assert!(
        r["low_stock"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["item"] == "naloxone_kit_nasal" && l["level"] == 3),
        "{r}"
    );
    let id = r["id"].as_str().unwrap().to_string();

    let (st, list) = call(&s, &worker, "GET", "/api/v1/supplies?site=GLA", None).await;
    assert_eq!(st, 200, "{list}");
    let t = list["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .cloned()
        .expect("listed");
    assert_eq!(t["lines"], json!([{"item": "naloxone_kit_nasal", "quantity": 1}]));
    assert_eq!(t["recorded_by"], "demo-worker");

    let (st, stock) = call(&s, &worker, "GET", "/api/v1/stock?site=GLA", None).await;
    assert_eq!(st, 200, "{stock}");
    let kit = stock["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item"] == "naloxone_kit_nasal")
        .cloned()
        .unwrap();
    assert_eq!((kit["level"].clone(), kit["low"].clone()), (json!(3), json!(true)));

    // Problems name the field; nothing is written.
    let head0 = head(&s.db.store).await;
    for (body, field) in [
        (
            json!({"site": "GLA", "kind": "given", "visit_id": visit, "lines": [{"item": "spoon", "quantity": 1}]}),
            "lines[0].item",
        ),
        (
            json!({"site": "GLA", "kind": "given", "lines": [{"item": "swab", "quantity": 1}]}),
            "visit_id",
        ),
        (
            json!({"site": "GLA", "kind": "given", "visit_id": "nope", "lines": [{"item": "swab", "quantity": 1}]}),
            "visit_id",
        ),
        (
            json!({"site": "NOPE", "kind": "given", "anonymous": true, "lines": [{"item": "swab", "quantity": 1}]}),
            "site",
        ),
    ] {
        let (st, p) = call(&s, &worker, "POST", "/api/v1/supplies", Some(body.clone())).await;
        assert_eq!((st, fields(&p)), (422, vec![field.to_string()]), "{body}: {p}");
    }
    let (st, p) = call(
        &s,
        &worker,
        "POST",
        "/api/v1/supplies",
        Some(
            json!({"site": "GLA", "kind": "given", "anonymous": true, "colour": "red",
                    "lines": [{"item": "swab", "quantity": 1}]}),
        ),
    )
    .await;
    assert_eq!((st, fields(&p)), (400, vec!["colour".to_string()]), "{p}");
    let (st, p) = call(&s, &worker, "GET", "/api/v1/supplies?site=GLA&date=yesterday", None).await;
    assert_eq!((st, fields(&p)), (422, vec!["date".to_string()]), "{p}");
    assert_eq!(head(&s.db.store).await, head0, "nothing written");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_site_has_stock_and_recent_hand_outs() {
    let s = TestServer::start().await;
    let site = s.db.store.site_by_code("GLA").await.unwrap();
    let l = levels(&s.db.store, &site.id).await;
    assert!(l.get("swab").is_some_and(|v| *v > 0), "{l:?}");
    assert!(ledger_size(&s).await > 5);
    assert_chain(&s.db.store).await;
    s.stop().await;
}

/// A standard pack fills in the hand-out form in the browser: two taps give
/// two packs, a box changed by hand keeps its value, and what is saved is
/// what the form showed (site setting `supplies.packs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_a_standard_pack_fills_the_hand_out_form() {
    let s = TestServer::start().await;
    let d = match crate::common::webdriver::Driver::start().await {
        Ok(d) => d,
        Err(e) => {
            s.stop().await;
            panic!("{e:#}");
        }
    };
    let result = pack_hand_out(&d, &s).await;
    let artefacts = if result.is_err() {
        d.save_artifacts("browser_pack").await
    } else {
        String::new()
    };
    d.quit().await;
    if let Err(e) = result {
        s.stop().await;
        panic!("browser pack failed: {e:#}\n{artefacts}");
    }
    // Saved: 2 packs of the default injecting kit, swabs changed to 3.
    let site = s.db.store.site_by_code("GLA").await.unwrap();
    let now = haven_domain::clock::now();
    let txs =
        s.db.store
            .supply_txs_between(&site.id, now - Duration::minutes(5), now + Duration::minutes(1), 10)
            .await
            .unwrap();
    let tx = txs.iter().find(|t| t.row.anonymous).expect("the anonymous hand-out");
    let lines: BTreeMap<&str, i32> = tx.lines.iter().map(|l| (l.item.as_str(), l.quantity)).collect();
    assert_eq!(
        lines,
        BTreeMap::from([
            ("citric_acid", 10),
            ("filter", 10),
            ("needle_27g", 10),
            ("sterile_water", 10),
            ("swab", 3),
            ("syringe_1ml", 10),
        ])
    );
    s.stop().await;
}

async fn pack_hand_out(d: &crate::common::webdriver::Driver, s: &TestServer) -> anyhow::Result<()> {
    use anyhow::{Context, ensure};
    let page = std::time::Duration::from_secs(10);
    d.goto(&s.url("/login")).await?;
    d.fill("#username", "demo-worker").await?;
    d.fill("#password", crate::common::server::PASSWORD).await?;
    d.click_on("button[type=submit]").await?;
    d.wait_for("#fig-visits", page).await.context("home page")?;
    d.goto(&s.url("/supplies")).await?;
    d.wait_for("#pack-injecting", page).await.context("the pack button")?;
    d.click_on("#pack-injecting").await?;
    d.click_on("#pack-injecting").await?;
    let value = |id: &'static str| async move {
        let el = d.find(&format!("#handout-q_{id}")).await?;
        anyhow::Ok(d.property(&el, "value").await?.as_str().unwrap_or_default().to_string())
    };
    ensure!(value("needle_27g").await? == "10", "two packs: 10 needles");
    ensure!(value("foil").await?.is_empty(), "the smoking kit was not added");
    d.fill("#handout-q_swab", "3").await?;
    d.click_on("#handout-anonymous").await?;
    d.click_on("#handout-form button[type=submit]").await?;
    d.wait_url(page, |u| u.contains("/supplies?saved="))
        .await
        .context("saved")?;
    Ok(())
}
