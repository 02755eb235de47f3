//! Site-wide alerts over real HTTP: an alert reaches boards that are
//! already open within a second, a shared one reaches every site, one
//! without an expiry is refused naming the field, and withdrawing it takes
//! it off the boards.

use std::time::Duration;

use haven_domain::{codes::CodeScheme, site::validate_site};
use serde_json::{Value, json};

use crate::common::server::{PASSWORD, TestServer};
use crate::floor_http::{open_board, wait_for};

async fn post(s: &TestServer, token: &str, path: &str, body: Value) -> (u16, Value) {
    let r = s
        .client()
        .post(s.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

fn in_hours(h: i64) -> String {
    haven_domain::clock::rfc3339(haven_domain::clock::now() + time::Duration::hours(h))
}

/// A second site with one nurse, so sharing can be seen.
async fn other_site(s: &TestServer) {
    let store = &s.db.store;
    let sys = haven_app::system_ctx("test");
    let input = validate_site(
        "OTH",
        "Other site",
        "Europe/London",
        "09:00",
        "21:00",
        CodeScheme::Site.as_str(),
    )
    .unwrap();
    let other = store.create_site(&sys, &input, "{}").await.unwrap();
    store
        .add_space(&sys, &other.id, "Other 1", "injecting", false)
        .await
        .unwrap();
    let hash = haven_app::auth::hash_password(PASSWORD).unwrap();
    store
        .create_user(&sys, "other-nurse", "Other nurse", &hash, Some((&other.id, "nurse")))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_reaches_open_boards_and_a_shared_one_every_site() {
    let s = TestServer::start().await;
    other_site(&s).await;
    let (gla, _) = s.login("demo-worker").await;
    let (oth, _) = s.login("other-nurse").await;
    let mut mine = open_board(&s, &gla).await;
    let mut theirs = open_board(&s, &oth).await;
    assert!(wait_for(&mut mine, Duration::from_secs(5), |_| true).await);
    assert!(wait_for(&mut theirs, Duration::from_secs(5), |_| true).await);
    let manager = s.token("demo-manager").await;

    // A local alert: this site's board within a second, not the other site's.
    let (st, a) = post(
        &s,
        &manager,
        "/api/v1/alerts",
        json!({"site": "GLA", "text": "Xylazine found in heroin: wounds, long sedation", "expires_at": in_hours(6)}),
    )
    .await;
    assert_eq!(st, 201, "{a}");
    assert!(
        wait_for(&mut mine, Duration::from_secs(1), |d| d
            .contains("Xylazine found in heroin"))
        .await
    );
    assert!(!wait_for(&mut theirs, Duration::from_millis(1500), |d| d.contains("Xylazine")).await);

    // A shared alert reaches the other site too, marked with where it came from.
    let (st, shared) = post(
        &s,
        &manager,
        "/api/v1/alerts",
        json!({"site": "GLA", "text": "Nitazenes in circulation", "expires_at": in_hours(6),
               "share_with_installation": true}),
    )
    .await;
    assert_eq!(st, 201, "{shared}");
    assert!(
        wait_for(&mut theirs, Duration::from_secs(1), |d| d
            .contains("Nitazenes in circulation")
            && d.contains("from GLA"))
        .await
    );
    // Every page of the other site shows it too.
    let page = oth.get(s.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("alert-banner") && page.contains("Nitazenes in circulation"));

    // Withdrawn: gone from both boards.
    let id = shared["id"].as_str().unwrap();
    let (st, w) = post(&s, &manager, &format!("/api/v1/alerts/{id}/withdraw"), json!({})).await;
    assert_eq!(st, 200, "{w}");
    assert!(wait_for(&mut theirs, Duration::from_secs(1), |d| !d.contains("Nitazenes")).await);
    assert!(
        wait_for(&mut mine, Duration::from_secs(1), |d| !d.contains("Nitazenes")
            && d.contains("Xylazine"))
        .await
    );
    let (st, _) = post(&s, &manager, &format!("/api/v1/alerts/{id}/withdraw"), json!({})).await;
    assert_eq!(st, 409);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_without_an_expiry_is_refused_naming_the_field_and_writes_nothing() {
    let s = TestServer::start().await;
    let manager = s.token("demo-manager").await;
    let head = s.db.store.audit_head().await.unwrap().0;
    for (body, field) in [
        (json!({"site": "GLA", "text": "Bad batch of crack"}), "expires_at"),
        (
            json!({"site": "GLA", "text": "Bad batch", "expires_at": in_hours(-1)}),
            "expires_at",
        ),
        (
            json!({"site": "GLA", "text": "Bad batch", "expires_at": in_hours(24 * 40)}),
            "expires_at",
        ),
        (json!({"site": "GLA", "text": "x", "expires_at": in_hours(2)}), "text"),
    ] {
        let (st, p) = post(&s, &manager, "/api/v1/alerts", body.clone()).await;
        assert_eq!(st, 422, "{body}: {p}");
        let fields: Vec<&str> = p["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, [field], "{body}: {p}");
    }
    assert_eq!(s.db.store.audit_head().await.unwrap().0, head, "nothing written");

    // The page keeps the text and names the field.
    let (c, csrf) = s.login("demo-nurse").await;
    let r = c
        .post(s.url("/alerts"))
        .form(&[("csrf", csrf.as_str()), ("text", "Benzos in the heroin"), ("hours", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Benzos in the heroin") && html.contains("expires_at-error"),
        "{html}"
    );

    // A worker may see alerts but not raise them.
    let worker = s.token("demo-worker").await;
    let (st, _) = post(
        &s,
        &worker,
        "/api/v1/alerts",
        json!({"site": "GLA", "text": "Bad batch", "expires_at": in_hours(2)}),
    )
    .await;
    assert_eq!(st, 403);
    s.stop().await;
}

async fn get(s: &TestServer, token: &str, path: &str) -> (u16, Value) {
    let r = s.client().get(s.url(path)).bearer_auth(token).send().await.unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drug_check_finding_a_nitazene_raises_an_alert_on_the_open_board_dcr_practice_5_6() {
    let s = TestServer::start().await;
    let nurse = s.token("demo-nurse").await;
    let site = s.db.store.site_by_code("GLA").await.unwrap();
    let visit =
        s.db.store
            .visits_between(
                &site.id,
                haven_domain::clock::now() - time::Duration::hours(2),
                haven_domain::clock::now() + time::Duration::minutes(1),
                None,
                1,
            )
            .await
            .unwrap()
            .remove(0);
    let (c, _) = s.login("demo-worker").await;
    let mut board = open_board(&s, &c).await;
    assert!(wait_for(&mut board, Duration::from_secs(5), |_| true).await);

    // A visit link needs the person's consent; nothing is written without it.
    let head = s.db.store.audit_head().await.unwrap().0;
    let (st, p) = post(
        &s,
        &nurse,
        "/api/v1/drug-checks",
        json!({"site": "GLA", "expected": "heroin", "form": "powder", "visit_id": visit.id}),
    )
    .await;
    assert_eq!((st, fields(&p)), (422, vec!["visit_id".to_string()]), "{p}");
    assert_eq!(s.db.store.audit_head().await.unwrap().0, head);

    let (st, sample) = post(
        &s,
        &nurse,
        "/api/v1/drug-checks",
        json!({"site": "GLA", "expected": "heroin", "form": "powder", "visit_id": visit.id, "consent_linked": true}),
    )
    .await;
    assert_eq!(st, 201, "{sample}");
    let id = sample["id"].as_str().unwrap().to_string();

    // Bad results name the field and write nothing.
    let head = s.db.store.audit_head().await.unwrap().0;
    for (body, field) in [
        (
            json!({"method": "ftir", "components": [{"substance": "heroin", "percent": 120.0}]}),
            "components[0].percent",
        ),
        (json!({"method": "fentanyl_strip"}), "strip"),
    ] {
        let (st, p) = post(&s, &nurse, &format!("/api/v1/drug-checks/{id}/results"), body.clone()).await;
        assert_eq!((st, fields(&p)), (422, vec![field.to_string()]), "{body}: {p}");
    }
    assert_eq!(s.db.store.audit_head().await.unwrap().0, head);

    // FTIR finds a nitazene in the heroin: a substance of concern.
    let (st, v) = post(
        &s,
        &nurse,
        &format!("/api/v1/drug-checks/{id}/results"),
        json!({"method": "ftir", "components": [{"substance": "heroin", "percent": 80.0},
                                                {"substance": "protonitazene", "percent": 5.0}]}),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["concerns"], json!(["nitazene"]), "{v}");
    // An alert from the sample needs an expiry.
    let (st, p) = post(
        &s,
        &nurse,
        &format!("/api/v1/drug-checks/{id}/alert"),
        json!({"text": "Protonitazene found in heroin"}),
    )
    .await;
    assert_eq!((st, fields(&p)), (422, vec!["expires_at".to_string()]), "{p}");
    let (st, a) = post(
        &s,
        &nurse,
        &format!("/api/v1/drug-checks/{id}/alert"),
        json!({"text": "Protonitazene found in heroin: use less, go slow, never alone", "expires_at": in_hours(12)}),
    )
    .await;
    assert_eq!(st, 201, "{a}");
    assert_eq!(a["drug_sample_id"], json!(id));
    assert!(
        wait_for(&mut board, Duration::from_secs(1), |d| d
            .contains("Protonitazene found in heroin"))
        .await
    );
    let (st, v) = get(&s, &nurse, &format!("/api/v1/drug-checks/{id}")).await;
    assert_eq!((st, v["results"].as_array().map(Vec::len)), (200, Some(1)));

    // Results are append-only in the database.
    assert!(
        s.db.store
            .execute_raw_for_tests("UPDATE drug_results SET method = 'laboratory'")
            .await
            .is_err()
    );
    assert!(
        s.db.store
            .execute_raw_for_tests("DELETE FROM drug_results")
            .await
            .is_err()
    );
    assert!(
        s.db.store
            .execute_raw_for_tests("DELETE FROM drug_samples")
            .await
            .is_err()
    );
    s.stop().await;
}
