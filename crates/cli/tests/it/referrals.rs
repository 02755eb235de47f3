//! Referrals over real HTTP and in the store: dated steps, the follow-up
//! list, an outcome dated before the referral refused naming the field
//! (issue 4 bad input), and steps that the database never rewrites.

use serde_json::{Value, json};
use time::Duration;

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

fn day(offset_days: i64) -> String {
    (haven_domain::clock::now() + Duration::days(offset_days))
        .date()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referrals_move_through_dated_steps_and_stale_ones_need_follow_up() {
    let s = TestServer::start().await;
    let nurse = s.token("demo-nurse").await;
    let site = s.db.store.site_by_code("GLA").await.unwrap();
    let client = s.db.store.search_clients(&site.id, "GLA-", 1).await.unwrap().remove(0);
    let head = s.db.store.audit_head().await.unwrap().0;
    for (body, field) in [
        (json!({"client_id": client.id, "category": "astrology"}), "category"),
        (
            json!({"client_id": client.id, "category": "housing", "made_on": "26/11/2026"}),
            "made_on",
        ),
        (
            json!({"client_id": client.id, "category": "housing", "made_on": day(3)}),
            "made_on",
        ),
        (json!({"client_id": "nobody", "category": "housing"}), "client_id"),
    ] {
        let (st, p) = call(&s, &nurse, "POST", "/api/v1/referrals", Some(body.clone())).await;
        assert_eq!((st, fields(&p)), (422, vec![field.to_string()]), "{body}: {p}");
    }
    assert_eq!(s.db.store.audit_head().await.unwrap().0, head, "nothing written");

    let (st, r) = call(
        &s,
        &nurse,
        "POST",
        "/api/v1/referrals",
        Some(json!({"client_id": client.id, "category": "housing", "made_on": day(-20)})),
    )
    .await;
    assert_eq!(st, 201, "{r}");
    assert_eq!(
        (r["status"].as_str(), r["needs_follow_up"].as_bool()),
        (Some("made"), Some(true))
    );
    let id = r["id"].as_str().unwrap().to_string();
    let (st, list) = call(&s, &nurse, "GET", "/api/v1/referrals?site=GLA", None).await;
    assert_eq!(st, 200);
    assert!(
        list.as_array().unwrap().iter().any(|x| x["id"] == id.as_str()),
        "{list}"
    );

    // An outcome dated before the referral, and a step that skips one, are refused.
    let path = format!("/api/v1/referrals/{id}/events");
    let head = s.db.store.audit_head().await.unwrap().0;
    let (st, p) = call(
        &s,
        &nurse,
        "POST",
        &path,
        Some(json!({"status": "accepted", "on": day(-21)})),
    )
    .await;
    assert_eq!((st, fields(&p)), (422, vec!["on".to_string()]), "{p}");
    assert!(p.to_string().contains("before the referral"), "{p}");
    let (st, p) = call(&s, &nurse, "POST", &path, Some(json!({"status": "attended"}))).await;
    assert_eq!((st, fields(&p)), (422, vec!["status".to_string()]), "{p}");
    assert_eq!(s.db.store.audit_head().await.unwrap().0, head, "nothing written");

    // Accepted today: news, so off the follow-up list; then attended and closed.
    let (st, r) = call(
        &s,
        &nurse,
        "POST",
        &path,
        Some(json!({"status": "accepted", "note": "housing officer"})),
    )
    .await;
    assert_eq!(
        (st, r["status"].as_str(), r["needs_follow_up"].as_bool()),
        (201, Some("accepted"), Some(false))
    );
    let (_, list) = call(&s, &nurse, "GET", "/api/v1/referrals?site=GLA", None).await;
    assert!(
        list.as_array().unwrap().iter().all(|x| x["id"] != id.as_str()),
        "{list}"
    );
    for status in ["attended", "closed"] {
        let (st, r) = call(&s, &nurse, "POST", &path, Some(json!({"status": status}))).await;
        assert_eq!((st, r["status"].as_str()), (201, Some(status)), "{r}");
    }
    let (st, p) = call(&s, &nurse, "POST", &path, Some(json!({"status": "accepted"}))).await;
    assert_eq!((st, fields(&p)), (422, vec!["status".to_string()]), "{p}");
    let (st, r) = call(&s, &nurse, "GET", &format!("/api/v1/referrals/{id}"), None).await;
    assert_eq!(st, 200);
    let steps: Vec<&str> = r["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["made", "accepted", "attended", "closed"]);
    // An evaluator never sees it.
    let ev = s.token("demo-evaluator").await;
    let (st, _) = call(&s, &ev, "GET", &format!("/api/v1/referrals/{id}"), None).await;
    assert_eq!(st, 403);
    s.stop().await;
}

crate::contract_test!(referral_steps_are_append_only_and_a_racing_step_is_refused, |store| {
    let sys = haven_app::system_ctx("test");
    let input =
        haven_domain::site::validate_site("RFL", "Referrals", "Europe/London", "09:00", "21:00", "site").unwrap();
    let site = store.create_site(&sys, &input, "{}").await.unwrap();
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
    let user = store
        .create_user(&sys, "rfl-nurse", "Nurse", hash, Some((&site.id, "nurse")))
        .await
        .unwrap();
    let ctx = haven_store::AuditCtx {
        actor_id: Some(user),
        actor_name: "rfl-nurse".into(),
        role: Some("nurse".into()),
        site_id: Some(site.id.clone()),
        request_id: None,
    };
    let client = store
        .create_client(
            &ctx,
            &site.id,
            &haven_store::NewClientRecord {
                code: None,
                year_of_birth: 1980,
                gender: "male".into(),
                home_area: "G1".into(),
                alias: None,
                flags: vec![],
                identity: None,
            },
        )
        .await
        .unwrap();
    let made = time::macros::date!(2026 - 11 - 01);
    let id = store
        .create_referral(&ctx, &site.id, &client.id, None, "housing", made, None)
        .await
        .unwrap();
    store
        .add_referral_event(&ctx, &site.id, &id, 1, "accepted", made, Some("ok"))
        .await
        .unwrap();
    // A second writer that read the history before that step is refused.
    let r = store
        .add_referral_event(&ctx, &site.id, &id, 1, "declined", made, None)
        .await;
    assert!(matches!(r, Err(haven_store::StoreError::Conflict(_))), "{r:?}");
    let steps = store.referral_events(&id).await.unwrap();
    assert_eq!(
        steps.iter().map(|e| (e.status.as_str(), e.on_date)).collect::<Vec<_>>(),
        [("made", made), ("accepted", made)]
    );
    for sql in [
        "UPDATE referral_events SET status = 'closed'",
        "DELETE FROM referral_events",
        "DELETE FROM referrals",
    ] {
        assert!(store.execute_raw_for_tests(sql).await.is_err(), "{sql} was allowed");
    }
    assert_eq!(store.open_referrals(&site.id).await.unwrap().len(), 1);
});
