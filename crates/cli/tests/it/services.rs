//! Services given at a visit and BBV test results over real HTTP, and the
//! database refusing to rewrite a result.

use serde_json::{Value, json};

use crate::common::server::TestServer;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_are_recorded_at_a_visit_and_bbv_results_follow_dcr_practice_5_4() {
    let s = TestServer::start().await;
    let nurse = s.token("demo-nurse").await;
    let worker = s.token("demo-worker").await;
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
    let arrived = v["arrived_at"].as_str().unwrap().to_string();
    let before = time::OffsetDateTime::parse(&arrived, &time::format_description::well_known::Rfc3339).unwrap()
        - time::Duration::minutes(5);
    let before = haven_domain::clock::rfc3339(before);
    let path = format!("/api/v1/visits/{visit}/services");

    let head = s.db.store.audit_head().await.unwrap().0;
    for (body, field) in [
        (json!({"code": "tarot"}), "code"),
        (json!({"code": "wound_care", "at": before}), "at"),
        (json!({"code": "wound_care", "tests": ["hiv"]}), "tests"),
    ] {
        let (st, p) = call(&s, &worker, "POST", &path, Some(body.clone())).await;
        assert_eq!((st, fields(&p)), (422, vec![field.to_string()]), "{body}: {p}");
    }
    assert_eq!(s.db.store.audit_head().await.unwrap().0, head, "nothing written");

    let (st, w) = call(
        &s,
        &worker,
        "POST",
        &path,
        Some(json!({"code": "wound_care", "note": "left forearm"})),
    )
    .await;
    assert_eq!(st, 201, "{w}");
    let (st, t) = call(
        &s,
        &worker,
        "POST",
        &path,
        Some(json!({"code": "bbv_test_taken", "tests": ["hiv", "hcv"]})),
    )
    .await;
    assert_eq!(st, 201, "{t}");
    let service = t["id"].as_str().unwrap().to_string();
    let results = format!("/api/v1/services/{service}/results");
    // A worker does not record clinical results; a nurse does, for a test that was taken.
    let (st, _) = call(
        &s,
        &worker,
        "POST",
        &results,
        Some(json!({"test": "hcv", "result": "negative"})),
    )
    .await;
    assert_eq!(st, 403);
    let (st, p) = call(
        &s,
        &nurse,
        "POST",
        &results,
        Some(json!({"test": "hbv", "result": "negative"})),
    )
    .await;
    assert_eq!((st, fields(&p)), (422, vec!["test".to_string()]), "{p}");
    let (st, p) = call(
        &s,
        &nurse,
        "POST",
        &results,
        Some(json!({"test": "hcv", "result": "negative", "result_at": before})),
    )
    .await;
    assert_eq!((st, fields(&p)), (422, vec!["result_at".to_string()]), "{p}");
    let (st, r) = call(
        &s,
        &nurse,
        "POST",
        &results,
        Some(json!({"test": "hcv", "result": "negative"})),
    )
    .await;
    assert_eq!(st, 201, "{r}");

    let (st, list) = call(&s, &worker, "GET", &path, None).await;
    assert_eq!(st, 200, "{list}");
    let codes: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["wound_care", "bbv_test_taken"]);
    assert_eq!(list[1]["results"][0]["result"], "negative");
    assert!(
        s.db.store
            .execute_raw_for_tests("UPDATE test_results SET result = 'positive'")
            .await
            .is_err()
    );
    assert!(s.db.store.execute_raw_for_tests("DELETE FROM services").await.is_err());
    s.stop().await;
}
