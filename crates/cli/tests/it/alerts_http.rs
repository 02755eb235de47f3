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
