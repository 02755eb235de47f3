//! The client journey: one client's whole record as a timeline, and the subject access export.
//!
//! Over real HTTP on both backends: a client with a visit, an episode with a
//! check, a service and a BBV result, a referral with steps, a supply
//! hand-out and a drug check shows each on the journey (API and page);
//! filters work and bad ones name the field; only managers see the access
//! log and may export; the export holds every kind and the access log,
//! including the export itself; every read is audited. Then a browser test
//! in headless Chromium.

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use haven_web::WebConfig;
use serde_json::{Value, json};

use crate::common::db::Backend;
use crate::common::server::{PASSWORD, TestServer};
use crate::common::webdriver::Driver;

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

fn kinds(journey: &Value) -> Vec<String> {
    let mut k: Vec<String> = journey["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    k.sort();
    k.dedup();
    k
}

/// What the fixture made.
struct Made {
    client: String,
    episode: String,
    emergency: String,
    referral: String,
    sample: String,
}

/// A client with one record of every kind, made through the API.
async fn client_with_everything(s: &TestServer) -> Made {
    let worker = s.token("demo-worker").await;
    let nurse = s.token("demo-nurse").await;
    let (st, c) = call(
        s,
        &worker,
        "POST",
        "/api/v1/clients",
        Some(json!({"site": "GLA", "year_of_birth": 1983, "gender": "female", "home_area": "G1", "alias": "Journey"})),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    let client = c["id"].as_str().unwrap().to_string();
    let (st, v) = call(
        s,
        &worker,
        "POST",
        "/api/v1/visits",
        Some(json!({"client_id": client, "substances": ["heroin"], "route": "injection"})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let visit = v["id"].as_str().unwrap().to_string();

    let (st, b) = call(s, &nurse, "GET", "/api/v1/board?site=GLA", None).await;
    assert_eq!(st, 200, "{b}");
    let space = b["spaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["state"] == "free")
        .expect("a free space")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, e) = call(
        s,
        &nurse,
        "POST",
        "/api/v1/episodes",
        Some(json!({"visit_id": visit, "space_id": space})),
    )
    .await;
    assert_eq!(st, 201, "{e}");
    let episode = e["id"].as_str().unwrap().to_string();
    let (st, x) = call(
        s,
        &nurse,
        "POST",
        &format!("/api/v1/episodes/{episode}/checks"),
        Some(json!({"status": "responsive"})),
    )
    .await;
    assert_eq!(st, 201, "{x}");

    let (st, em) = call(
        s,
        &nurse,
        "POST",
        "/api/v1/emergencies",
        Some(json!({"space_id": space})),
    )
    .await;
    assert_eq!(st, 201, "{em}");
    let emergency = em["id"].as_str().unwrap().to_string();

    let (st, svc) = call(
        s,
        &worker,
        "POST",
        &format!("/api/v1/visits/{visit}/services"),
        Some(json!({"code": "bbv_test_taken", "tests": ["hcv"]})),
    )
    .await;
    assert_eq!(st, 201, "{svc}");
    let (st, r) = call(
        s,
        &nurse,
        "POST",
        &format!("/api/v1/services/{}/results", svc["id"].as_str().unwrap()),
        Some(json!({"test": "hcv", "result": "negative"})),
    )
    .await;
    assert_eq!(st, 201, "{r}");

    let (st, refl) = call(
        s,
        &worker,
        "POST",
        "/api/v1/referrals",
        Some(json!({"client_id": client, "category": "housing", "note": "council list"})),
    )
    .await;
    assert_eq!(st, 201, "{refl}");
    let referral = refl["id"].as_str().unwrap().to_string();
    let (st, r) = call(
        s,
        &worker,
        "POST",
        &format!("/api/v1/referrals/{referral}/events"),
        Some(json!({"status": "accepted"})),
    )
    .await;
    assert_eq!(st, 201, "{r}");

    let (st, sup) = call(
        s,
        &worker,
        "POST",
        "/api/v1/supplies",
        Some(json!({"site": "GLA", "kind": "given", "visit_id": visit,
                    "lines": [{"item": "needle_25g", "quantity": 10}, {"item": "swab", "quantity": 5}]})),
    )
    .await;
    assert_eq!(st, 201, "{sup}");

    let (st, smp) = call(
        s,
        &nurse,
        "POST",
        "/api/v1/drug-checks",
        Some(json!({"site": "GLA", "expected": "heroin", "form": "powder", "visit_id": visit, "consent_linked": true})),
    )
    .await;
    assert_eq!(st, 201, "{smp}");
    let sample = smp["id"].as_str().unwrap().to_string();
    let (st, r) = call(
        s,
        &nurse,
        "POST",
        &format!("/api/v1/drug-checks/{sample}/results"),
        Some(json!({"method": "ftir", "components": [{"substance": "heroin", "percent": 90.0}]})),
    )
    .await;
    assert_eq!(st, 201, "{r}");
    Made {
        client,
        episode,
        emergency,
        referral,
        sample,
    }
}

async fn journey_over_the_api(backend: Backend) {
    let s = TestServer::start_with(backend, WebConfig::default()).await;
    let m = client_with_everything(&s).await;
    let worker = s.token("demo-worker").await;
    let manager = s.token("demo-manager").await;
    let evaluator = s.token("demo-evaluator").await;
    let path = format!("/api/v1/clients/{}/journey", m.client);

    // Every kind shows, newest first, each with its own page where one exists.
    let reads = s.db.store.audit_count("read").await.unwrap();
    let (st, j) = call(&s, &worker, "GET", &path, None).await;
    assert_eq!(st, 200, "{j}");
    assert_eq!(
        kinds(&j),
        [
            "drug_checks",
            "emergencies",
            "episodes",
            "referrals",
            "services",
            "supplies",
            "tests",
            "visits"
        ],
        "{j}"
    );
    let entries = j["entries"].as_array().unwrap();
    let ats: Vec<&str> = entries.iter().map(|e| e["at"].as_str().unwrap()).collect();
    let mut sorted = ats.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(ats, sorted, "newest first");
    let links: Vec<&str> = entries.iter().filter_map(|e| e["link"].as_str()).collect();
    for want in [
        format!("/episodes/{}", m.episode),
        format!("/emergencies/{}", m.emergency),
        format!("/referrals/{}", m.referral),
        format!("/drug-checks/{}", m.sample),
    ] {
        assert!(links.contains(&want.as_str()), "{want} not linked: {links:?}");
    }
    let titles: Vec<&str> = entries.iter().map(|e| e["title"].as_str().unwrap()).collect();
    assert!(titles.contains(&"Referral made: Housing"), "{titles:?}");
    assert!(titles.contains(&"Referral accepted: Housing"), "{titles:?}");
    assert!(titles.contains(&"HCV test result: negative"), "{titles:?}");
    let supply = entries.iter().find(|e| e["kind"] == "supplies").unwrap();
    assert!(
        supply["detail"].as_str().unwrap().contains("10 × Needle 25G"),
        "{supply}"
    );
    let episode = entries.iter().find(|e| e["kind"] == "episodes").unwrap();
    assert!(
        episode["detail"].as_str().unwrap().contains("1 observation check"),
        "{episode}"
    );
    // A worker gets no access log; the read is one audited event.
    assert!(j.get("access_log").is_none(), "{j}");
    assert_eq!(s.db.store.audit_count("read").await.unwrap(), reads + 1);
    let log = s.db.store.client_access_log(&m.client, 10).await.unwrap();
    assert_eq!(
        (log[0].subject_type.as_str(), log[0].actor_name.as_str()),
        ("client_journey", "demo-worker")
    );

    // Filters: by kind (comma list or repeated) and by local day.
    let (st, f) = call(&s, &worker, "GET", &format!("{path}?kinds=referrals,tests"), None).await;
    assert_eq!(st, 200, "{f}");
    assert_eq!(kinds(&f), ["referrals", "tests"]);
    assert_eq!(f["entries"].as_array().unwrap().len(), 3, "{f}");
    let (st, f) = call(&s, &worker, "GET", &format!("{path}?kinds=supplies&kinds=visits"), None).await;
    assert_eq!((st, kinds(&f)), (200, vec!["supplies".into(), "visits".into()]));
    let (st, f) = call(
        &s,
        &worker,
        "GET",
        &format!("{path}?from=2001-01-01&to=2001-12-31"),
        None,
    )
    .await;
    assert_eq!((st, f["entries"].as_array().map(Vec::len)), (200, Some(0)), "{f}");
    let today = entries[0]["day"].as_str().unwrap();
    let (st, f) = call(&s, &worker, "GET", &format!("{path}?from={today}&to={today}"), None).await;
    assert_eq!((st, f["entries"].as_array().map(Vec::len)), (200, Some(entries.len())));
    // Bad filters name the field.
    for (q, st_want, field) in [
        ("kinds=tarot", 422, "kinds"),
        ("from=yesterday", 422, "from"),
        ("from=2026-02-02&to=2026-02-01", 422, "to"),
        ("colour=red", 400, "colour"),
    ] {
        let (st, p) = call(&s, &worker, "GET", &format!("{path}?{q}"), None).await;
        assert_eq!((st, fields(&p)), (st_want, vec![field.to_string()]), "{q}: {p}");
    }

    // A manager sees the access log, the worker's read in it.
    let (st, j) = call(&s, &manager, "GET", &path, None).await;
    assert_eq!(st, 200, "{j}");
    let log = j["access_log"].as_array().expect("access log for a manager");
    assert!(
        log.iter()
            .any(|a| a["who"] == "demo-worker" && a["subject"] == "client_journey"),
        "{log:?}"
    );

    // The evaluator sees no client record; a worker cannot export. Both audited refusals.
    let denied = s.db.store.audit_count("denied").await.unwrap();
    let (st, _) = call(&s, &evaluator, "GET", &path, None).await;
    assert_eq!(st, 403);
    let export = format!("/api/v1/clients/{}/export", m.client);
    let (st, _) = call(&s, &worker, "GET", &export, None).await;
    assert_eq!(st, 403);
    assert_eq!(s.db.store.audit_count("denied").await.unwrap(), denied + 2);

    // The export: every kind, and the access log with the export itself.
    let r = s
        .client()
        .get(s.url(&export))
        .bearer_auth(&manager)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert!(
        h["content-disposition"].to_str().unwrap().starts_with("attachment;"),
        "{h:?}"
    );
    assert_eq!(h["cache-control"], "no-store");
    let x: Value = r.json().await.unwrap();
    assert_eq!(x["format"], "haven-subject-access/1");
    assert_eq!(x["client"]["alias"], "Journey");
    assert_eq!(x["visits"].as_array().unwrap().len(), 1, "{x}");
    assert_eq!(x["episodes"][0]["checks"].as_array().unwrap().len(), 1, "{x}");
    assert_eq!(x["services"][0]["results"][0]["result"], "negative", "{x}");
    assert_eq!(x["referrals"][0]["steps"].as_array().unwrap().len(), 2, "{x}");
    assert_eq!(x["supplies"][0]["lines"].as_array().unwrap().len(), 2, "{x}");
    assert_eq!(x["drug_checks"][0]["results"][0]["method"], "ftir", "{x}");
    assert_eq!(x["emergencies"][0]["timeline"][0]["kind"], "recognition", "{x}");
    assert_eq!(kinds(&json!({"entries": x["timeline"]})).len(), 8, "{x}");
    let log = x["access_log"].as_array().unwrap();
    assert_eq!(
        (&log[0]["action"], &log[0]["who"]),
        (&json!("export"), &json!("demo-manager")),
        "the export is the newest access: {log:?}"
    );
    assert!(log.iter().any(|a| a["who"] == "demo-worker"), "{log:?}");
    // …and it is in every later access log.
    let (st, j) = call(&s, &manager, "GET", &path, None).await;
    assert_eq!(st, 200);
    assert!(
        j["access_log"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "export"),
        "{j}"
    );
    assert_eq!(s.db.store.audit_count("export").await.unwrap(), 1);
    assert!(haven_store::verify_audit(&s.db.store).await.unwrap().is_ok());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journey_api_shows_every_kind_filters_and_exports_subject_access_security_reliability_1_2_sqlite() {
    journey_over_the_api(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journey_api_shows_every_kind_filters_and_exports_subject_access_security_reliability_1_2_postgres() {
    journey_over_the_api(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journey_pages_filter_keep_input_access_log_for_managers_export_security_reliability_1_2() {
    let s = TestServer::start().await;
    let m = client_with_everything(&s).await;
    let page = format!("/clients/{}/journey", m.client);
    let get = |c: &reqwest::Client, p: String| {
        let c = c.clone();
        let url = s.url(&p);
        async move {
            let r = c.get(url).send().await.unwrap();
            let st = r.status().as_u16();
            let h = r.headers().clone();
            (st, h, r.text().await.unwrap())
        }
    };

    // The client page links to the journey (and, for managers, the export).
    let (worker, _) = s.login("demo-worker").await;
    let (st, _, html) = get(&worker, format!("/clients/{}", m.client)).await;
    assert_eq!(st, 200);
    assert!(html.contains(&format!("href=\"{page}\"")), "no journey link");
    assert!(!html.contains("id=\"export-link\""), "a worker is offered the export");

    let (st, _, html) = get(&worker, page.clone()).await;
    assert_eq!(st, 200);
    for want in [
        "id=\"timeline\"",
        "Referral made: Housing",
        "Referral accepted: Housing",
        "HCV test result: negative",
        "Supplies given",
        "Drug check: heroin (powder)",
        &format!("href=\"/episodes/{}\"", m.episode),
        &format!("href=\"/emergencies/{}\"", m.emergency),
        &format!("href=\"/referrals/{}\"", m.referral),
        &format!("href=\"/drug-checks/{}\"", m.sample),
        "data-print",
    ] {
        assert!(html.contains(want), "journey page lacks {want}");
    }
    assert!(!html.contains("id=\"access-log\""), "a worker sees the access log");
    assert!(!html.contains("id=\"export-link\""));

    // A kind filter keeps its boxes as left and hides the rest.
    let (st, _, html) = get(&worker, format!("{page}?kinds=referrals")).await;
    assert_eq!(st, 200);
    assert!(html.contains("Referral made: Housing"));
    assert!(!html.contains("Supplies given") && !html.contains("Episode in"));
    assert!(html.contains("value=\"referrals\" id=\"kind-referrals\" checked"));
    assert!(!html.contains("value=\"visits\" id=\"kind-visits\" checked"));
    // A bad date: 422, the input kept, the message at the field.
    let (st, _, html) = get(&worker, format!("{page}?from=soon&to=2026-01-01")).await;
    assert_eq!(st, 422);
    assert!(html.contains("id=\"from-error\""), "no message at the field");
    assert!(html.contains("value=\"soon\"") && html.contains("value=\"2026-01-01\""));

    // Not for a worker: the export; not for the evaluator: the journey.
    let (st, _, _) = get(&worker, format!("/clients/{}/export", m.client)).await;
    assert_eq!(st, 403);
    let (st, _, _) = get(&worker, format!("/clients/{}/export.json", m.client)).await;
    assert_eq!(st, 403);
    let (evaluator, _) = s.login("demo-evaluator").await;
    let (st, _, _) = get(&evaluator, page.clone()).await;
    assert_eq!(st, 403);

    // A manager: the access log, the export links, the document and the download.
    let (manager, _) = s.login("demo-manager").await;
    let (st, _, html) = get(&manager, page.clone()).await;
    assert_eq!(st, 200);
    assert!(html.contains("id=\"access-log\"") && html.contains("Viewed the client journey"));
    assert!(html.contains("id=\"export-link\""));
    let exports = s.db.store.audit_count("export").await.unwrap();
    let (st, h, doc) = get(&manager, format!("/clients/{}/export", m.client)).await;
    assert_eq!(st, 200);
    assert_eq!(h["cache-control"], "no-store");
    for want in [
        "section-visits",
        "section-episodes",
        "section-emergencies",
        "section-services",
        "section-referrals",
        "section-supplies",
        "section-drug_checks",
        "section-access_log",
        "Exported everything held (subject access)",
        "Journey",
    ] {
        assert!(doc.contains(want), "export document lacks {want}");
    }
    let (st, h, body) = get(&manager, format!("/clients/{}/export.json", m.client)).await;
    assert_eq!(st, 200);
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(h["cache-control"], "no-store");
    assert!(
        h["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"subject-access-")
    );
    let x: Value = serde_json::from_str(&body).unwrap();
    let exported: Vec<&Value> = x["access_log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "export")
        .collect();
    assert_eq!(exported.len(), 2, "the document export and this one");
    assert_eq!(s.db.store.audit_count("export").await.unwrap(), exports + 2);

    // The print stylesheet is served and hides the navigation.
    let (st, _, css) = get(&manager, "/static/haven.css".into()).await;
    assert_eq!(st, 200);
    let print = css.split("@media print").nth(1).expect("a print block");
    assert!(print.contains("header.top") && print.contains("display: none"));
    s.stop().await;
}

/// A new client with one visit (no consumption): (client id, code, visit id).
async fn client_with_a_visit(s: &TestServer, token: &str, yob: i32) -> (String, String, String) {
    let (st, c) = call(
        s,
        token,
        "POST",
        "/api/v1/clients",
        Some(json!({"site": "GLA", "year_of_birth": yob, "gender": "male", "home_area": "G3"})),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    let (st, v) = call(s, token, "POST", "/api/v1/visits", Some(json!({"client_id": c["id"]}))).await;
    assert_eq!(st, 201, "{v}");
    (
        c["id"].as_str().unwrap().to_string(),
        c["code"].as_str().unwrap().to_string(),
        v["id"].as_str().unwrap().to_string(),
    )
}

fn visit_details(j: &Value) -> Vec<String> {
    j["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "visits")
        .map(|e| e["detail"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journey_follows_merged_records_and_shows_voided_visits_only_to_managers() {
    let s = TestServer::start().await;
    let worker = s.token("demo-worker").await;
    let manager = s.token("demo-manager").await;
    let (a, _, visit_a) = client_with_a_visit(&s, &worker, 1970).await;
    let (_, b_code, _) = client_with_a_visit(&s, &worker, 1990).await;

    // The manager merges the duplicate into A: its visit shows on A's journey.
    let (mgr, csrf) = s.login("demo-manager").await;
    let r = mgr
        .post(s.url(&format!("/clients/{a}/merge")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("from_code", b_code.as_str()),
            ("reason", "same person"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let path = format!("/api/v1/clients/{a}/journey");
    let (st, j) = call(&s, &worker, "GET", &path, None).await;
    assert_eq!((st, visit_details(&j).len()), (200, 2), "{j}");

    // A voided visit leaves the worker's journey; the manager still sees it, marked.
    let (nurse, csrf) = s.login("demo-nurse").await;
    let r = nurse
        .post(s.url(&format!("/visits/{visit_a}/void")))
        .form(&[("csrf", csrf.as_str()), ("reason", "recorded for the wrong person")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let (_, j) = call(&s, &worker, "GET", &path, None).await;
    assert_eq!(visit_details(&j).len(), 1, "{j}");
    let (_, j) = call(&s, &manager, "GET", &path, None).await;
    let details = visit_details(&j);
    assert_eq!(details.len(), 2, "{j}");
    assert!(
        details
            .iter()
            .any(|d| d.contains("VOIDED: recorded for the wrong person")),
        "{details:?}"
    );
    // The merge is in the access log; the export carries the merged record's code.
    assert!(
        j["access_log"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["action"] == "merge"),
        "{j}"
    );
    let (st, x) = call(&s, &manager, "GET", &format!("/api/v1/clients/{a}/export"), None).await;
    assert_eq!(st, 200);
    assert_eq!(x["merged_records"], json!([b_code]));
    assert_eq!(x["visits"].as_array().unwrap().len(), 2);
    s.stop().await;
}

// ---------- browser ----------

const PAGE: Duration = Duration::from_secs(10);

const EVERY_KIND: [&str; 8] = [
    "visits",
    "episodes",
    "emergencies",
    "services",
    "referrals",
    "supplies",
    "tests",
    "drug_checks",
];

/// What the timeline shows: each entry's kind.
const ENTRY_KINDS_JS: &str = r#"
return Array.from(document.querySelectorAll('#timeline li.journey-entry'))
  .map(function (li) { return li.getAttribute('data-kind'); });
"#;

/// Whether a loaded stylesheet has a print rule that hides the header.
const PRINT_RULE_JS: &str = r#"
for (const sheet of Array.from(document.styleSheets)) {
  let rules;
  try { rules = sheet.cssRules; } catch (e) { continue; }
  for (const r of Array.from(rules)) {
    if (r.media && r.media.mediaText.indexOf('print') >= 0 && r.cssText.indexOf('header.top') >= 0) return true;
  }
}
return false;
"#;

async fn entry_kinds(d: &Driver) -> Result<Vec<String>> {
    let v = d.execute(ENTRY_KINDS_JS, vec![]).await?;
    Ok(v.as_array()
        .context("entry list")?
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect())
}

async fn browse_journey(d: &Driver, s: &TestServer, client: &str) -> Result<()> {
    d.goto(&s.url("/login")).await?;
    d.fill("#username", "demo-manager").await?;
    d.fill("#password", PASSWORD).await?;
    d.click_on("button[type=submit]").await?;
    d.wait_for("#fig-visits", PAGE).await.context("home after login")?;

    // From the client page to the journey.
    d.goto(&s.url(&format!("/clients/{client}"))).await?;
    d.wait_for("#journey-link", PAGE).await?;
    d.click_on("#journey-link").await?;
    d.wait_for("#timeline li.journey-entry", PAGE)
        .await
        .context("timeline entries")?;
    let all = entry_kinds(d).await?;
    for k in EVERY_KIND {
        ensure!(all.iter().any(|x| x == k), "no {k} entry on the journey: {all:?}");
    }
    ensure!(
        !d.find_all("#access-log").await?.is_empty(),
        "a manager sees no access log"
    );
    let print = d.find("#print-button[data-print]").await.context("the Print button")?;
    ensure!(d.text(&print).await?.trim() == "Print", "the Print button's text");
    ensure!(
        d.execute(PRINT_RULE_JS, vec![]).await? == json!(true),
        "no loaded print rule hides the navigation"
    );

    // Untick everything but referrals, apply: the other entries are hidden.
    for k in [
        "visits",
        "episodes",
        "emergencies",
        "services",
        "supplies",
        "tests",
        "drug_checks",
    ] {
        let b = d.find(&format!("#kind-{k}")).await?;
        if d.property(&b, "checked").await? == json!(true) {
            d.click(&b).await?;
        }
    }
    d.click_on("#filter-submit").await?;
    d.wait_url(PAGE, |u| u.contains("kinds=referrals")).await?;
    d.wait_for("#timeline li.journey-entry", PAGE).await?;
    let some = entry_kinds(d).await?;
    ensure!(
        !some.is_empty() && some.iter().all(|k| k == "referrals"),
        "after filtering: {some:?}"
    );
    ensure!(some.len() < all.len(), "nothing was hidden: {some:?} of {all:?}");
    let boxed = d.find("#kind-visits").await?;
    ensure!(
        d.property(&boxed, "checked").await? == json!(false),
        "the visits box did not stay unticked"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_journey_shows_the_timeline_filters_it_and_can_print() {
    let s = TestServer::start().await;
    let m = client_with_everything(&s).await;
    let d = match Driver::start().await {
        Ok(d) => d,
        Err(e) => {
            s.stop().await;
            panic!("{e:#}");
        }
    };
    let result = browse_journey(&d, &s, &m.client).await;
    let artefacts = if result.is_err() {
        d.save_artifacts("browser_journey").await
    } else {
        String::new()
    };
    d.quit().await;
    s.stop().await;
    if let Err(e) = result {
        panic!("browser journey failed: {e:#}\n{artefacts}");
    }
}
