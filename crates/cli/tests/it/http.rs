//! HTTP flows against the real server: login and sessions (ASVS V7), CSRF
//! (ASVS 3.5), security headers, authorisation per role (security-reliability
//! T8), the JSON API contract and its problem details, and audit events.

use std::time::Duration;

use haven_app::auth::SessionPolicy;
use haven_web::WebConfig;
use serde_json::{Value, json};

use crate::common::{
    db::Backend,
    server::{PASSWORD, TestServer, csrf_from},
};

async fn denied_count(s: &TestServer) -> i64 {
    s.db.store.audit_count("denied").await.expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_failures_look_the_same_and_are_audited_asvs_6_3() {
    let s = TestServer::start().await;
    let c = s.client();
    let mut bodies = Vec::new();
    for (user, pw) in [("demo-worker", "wrong password"), ("nobody-here", "wrong password")] {
        let r = c
            .post(s.url("/login"))
            .form(&[("username", user), ("password", pw)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert!(r.headers().get("set-cookie").is_none());
        let body = r.text().await.unwrap();
        assert!(body.contains("The username or password is not right."));
        bodies.push(body.replace(user, ""));
    }
    assert_eq!(
        bodies[0], bodies[1],
        "unknown user and wrong password must give the same page"
    );
    assert_eq!(s.db.store.audit_count("login_failed").await.unwrap(), 2);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cookie_is_httponly_samesite_strict_and_cycled_at_login_asvs_7_2_4() {
    let s = TestServer::start().await;
    let mut values = Vec::new();
    for _ in 0..2 {
        let r = s
            .client()
            .post(s.url("/login"))
            .form(&[("username", "demo-worker"), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let cookie = r.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        assert!(!cookie.contains("Secure"), "plain http must not set Secure");
        values.push(cookie.split(';').next().unwrap().to_string());
    }
    assert_ne!(values[0], values[1], "each login issues a new session id");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_tls_cookie_is_secure_with_host_prefix_and_hsts_asvs_3_3_1() {
    let s = TestServer::start_with(
        Backend::Sqlite,
        WebConfig {
            behind_tls: true,
            ..Default::default()
        },
    )
    .await;
    let r = s
        .client()
        .post(s.url("/login"))
        .form(&[("username", "demo-worker"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let cookie = r.headers().get("set-cookie").unwrap().to_str().unwrap().to_string();
    assert!(
        cookie.starts_with("__Host-haven=") && cookie.contains("; Secure"),
        "{cookie}"
    );
    assert!(r.headers().get("strict-transport-security").is_some());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_invalidates_the_session_server_side_asvs_7_4_1() {
    let s = TestServer::start().await;
    let (c, csrf) = s.login("demo-worker").await;
    // Keep a copy of the cookie to replay after logout.
    let home = c.get(s.url("/")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    let r = c
        .post(s.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let after = c.get(s.url("/")).send().await.unwrap();
    assert_eq!(after.status(), 303, "a logged-out session must not open pages");
    assert!(after.headers()["location"].to_str().unwrap().starts_with("/login"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_ends_the_session_asvs_7_3_1() {
    let config = WebConfig {
        sessions: SessionPolicy {
            idle: time::Duration::seconds(1),
            absolute: time::Duration::hours(1),
        },
        ..Default::default()
    };
    let s = TestServer::start_with(Backend::Sqlite, config).await;
    let (c, _) = s.login("demo-worker").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let r = c.get(s.url("/visits")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let loc = r.headers()["location"].to_str().unwrap();
    assert!(loc.starts_with("/login?expired=1&next=%2Fvisits"), "{loc}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absolute_timeout_ends_an_active_session_asvs_7_3_2() {
    let config = WebConfig {
        sessions: SessionPolicy {
            idle: time::Duration::hours(1),
            absolute: time::Duration::seconds(4),
        },
        ..Default::default()
    };
    let s = TestServer::start_with(Backend::Sqlite, config).await;
    // Measured from before the login, so the session is no older than this.
    let started = std::time::Instant::now();
    let (c, _) = s.login("demo-worker").await;
    // Active use while the session is young...
    while started.elapsed() < Duration::from_millis(1_500) {
        assert_eq!(c.get(s.url("/")).send().await.unwrap().status(), 200);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // ...does not extend it past the absolute limit.
    tokio::time::sleep(Duration::from_millis(4_500).saturating_sub(started.elapsed())).await;
    assert_eq!(c.get(s.url("/")).send().await.unwrap().status(), 303);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_a_user_ends_their_sessions_and_tokens_asvs_7_4_2() {
    let s = TestServer::start().await;
    let (c, _) = s.login("demo-nurse").await;
    let token = s.token("demo-nurse").await;
    let api = reqwest::Client::new();
    let ok = api
        .get(s.url("/api/v1/visits?site=GLA"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let (m, csrf) = s.login("demo-manager").await;
    let nurse = s.db.store.user_by_name("demo-nurse").await.unwrap();
    let r = m
        .post(s.url(&format!("/admin/staff/{}/disable", nurse.id)))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(s.db.store.session_count(&nurse.id).await.unwrap(), 0);
    assert_eq!(c.get(s.url("/")).send().await.unwrap().status(), 303);
    let gone = api
        .get(s.url("/api/v1/visits?site=GLA"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 401);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_rate_limited_per_username_asvs_6_3_1() {
    let s = TestServer::start_with(
        Backend::Sqlite,
        WebConfig {
            login_attempts: 3,
            ..Default::default()
        },
    )
    .await;
    let c = s.client();
    for _ in 0..3 {
        let r = c
            .post(s.url("/login"))
            .form(&[("username", "demo-admin"), ("password", "nope-nope")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    // Even the right password is refused while the limit holds.
    let r = c
        .post(s.url("/login"))
        .form(&[("username", "demo-admin"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_needs_the_csrf_token_asvs_3_5_1_wstg_sess_05() {
    let s = TestServer::start().await;
    let (c, csrf) = s.login("demo-worker").await;
    let client =
        s.db.store
            .search_clients(&s.db.store.site_by_code("GLA").await.unwrap().id, "GLA-", 1)
            .await
            .unwrap()
            .remove(0);
    let before = denied_count(&s).await;
    let visits_before = s.db.store.visit_count(&client.site_id).await.unwrap();
    let form = |token: &str| {
        vec![
            ("csrf", token.to_string()),
            ("client_id", client.id.clone()),
            ("route", String::new()),
        ]
    };
    // No token, a wrong token, and the right token from another site's page.
    let r = c.post(s.url("/checkin")).form(&form("")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = c
        .post(s.url("/checkin"))
        .form(&form(&"0".repeat(64)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = c
        .post(s.url("/checkin"))
        .header("sec-fetch-site", "cross-site")
        .form(&form(&csrf))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(denied_count(&s).await, before + 3, "each refusal is audited");
    assert_eq!(
        s.db.store.visit_count(&client.site_id).await.unwrap(),
        visits_before,
        "nothing written"
    );
    // Another session's token is not this session's.
    let (_, other_csrf) = s.login("demo-nurse").await;
    let r = c.post(s.url("/checkin")).form(&form(&other_csrf)).send().await.unwrap();
    assert_eq!(r.status(), 403);
    // The right token works, as a form field or as the htmx header.
    let r = c.post(s.url("/checkin")).form(&form(&csrf)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let r = c
        .post(s.url("/checkin"))
        .header("x-csrf-token", &csrf)
        .form(&form("")[1..])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        s.db.store.visit_count(&client.site_id).await.unwrap(),
        visits_before + 2
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_carry_security_headers_asvs_3_4() {
    let s = TestServer::start().await;
    let (c, _) = s.login("demo-worker").await;
    let r = c.get(s.url("/")).send().await.unwrap();
    let h = r.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline")
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["cache-control"], "no-store");
    assert!(h.get("x-request-id").is_some());
    let html = r.text().await.unwrap();
    assert!(!html.contains("<script>"), "no inline scripts");
    let js = c.get(s.url("/static/htmx.min.js")).send().await.unwrap();
    assert_eq!(js.status(), 200);
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    s.stop().await;
}

/// Route × role: which roles may open each page (security-reliability T8).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_access_follows_the_role_matrix_t8() {
    let s = TestServer::start().await;
    let site = s.db.store.site_by_code("GLA").await.unwrap();
    let client = s.db.store.search_clients(&site.id, "GLA-", 1).await.unwrap().remove(0);
    let client_page = format!("/clients/{}", client.id);
    let journey = format!("/clients/{}/journey", client.id);
    let export = format!("/clients/{}/export", client.id);
    let export_json = format!("/clients/{}/export.json", client.id);
    let today = haven_app::visits::today(&s.db.store, &site.id).await.unwrap();
    let (from, _) = haven_domain::clock::local_day_bounds(&site.timezone, today - time::Duration::days(30)).unwrap();
    let visit =
        s.db.store
            .visits_between(&site.id, from, haven_domain::clock::now(), None, 1)
            .await
            .unwrap()
            .remove(0);
    let visit_page = format!("/visits/{}", visit.id);
    let floor: &[&str] = &["worker", "nurse", "prescriber", "pharmacist", "manager"];
    let everyone: &[&str] = &[
        "worker",
        "nurse",
        "prescriber",
        "pharmacist",
        "manager",
        "evaluator",
        "admin",
    ];
    let routes: [(&str, &[&str]); 19] = [
        (
            "/",
            &[
                "worker",
                "nurse",
                "prescriber",
                "pharmacist",
                "manager",
                "evaluator",
                "admin",
            ],
        ),
        (
            "/clients?q=GLA",
            &["worker", "nurse", "prescriber", "pharmacist", "manager"],
        ),
        (
            &client_page,
            &["worker", "nurse", "prescriber", "pharmacist", "manager"],
        ),
        ("/checkin", &["worker", "nurse", "manager"]),
        ("/visits", &["worker", "nurse", "prescriber", "pharmacist", "manager"]),
        ("/admin", &["manager", "admin"]),
        ("/board", floor),
        ("/handover", floor),
        ("/emergencies", floor),
        ("/emergencies/new", floor),
        (
            "/referrals",
            &["worker", "nurse", "prescriber", "pharmacist", "manager"],
        ),
        // The new-sample form holds no data; roles that may not record see a note instead.
        (
            "/drug-checks",
            &[
                "worker",
                "nurse",
                "prescriber",
                "pharmacist",
                "manager",
                "evaluator",
                "admin",
            ],
        ),
        (
            "/alerts",
            &[
                "worker",
                "nurse",
                "prescriber",
                "pharmacist",
                "manager",
                "evaluator",
                "admin",
            ],
        ),
        (&visit_page, floor),
        // Supplies: the floor roles that hand out (issue 4); stock is no client data
        // but the page lists today's hand-outs by client code.
        ("/supplies", &["worker", "nurse", "manager"]),
        // Street audits and the chart are aggregates: every role (dcr-practice §9).
        ("/community", everyone),
        (&journey, floor),
        // Subject access export: managers only (UK GDPR Art. 15 requests go through them).
        (&export, &["manager"]),
        (&export_json, &["manager"]),
    ];
    for role in [
        "worker",
        "nurse",
        "prescriber",
        "pharmacist",
        "manager",
        "evaluator",
        "admin",
    ] {
        let (c, _) = s.login(&format!("demo-{role}")).await;
        for (path, allowed) in routes {
            let status = c.get(s.url(path)).send().await.unwrap().status().as_u16();
            let expected = if allowed.contains(&role) { 200 } else { 403 };
            assert_eq!(status, expected, "{role} GET {path}");
        }
    }
    // Anonymous: back to login.
    let r = s.client().get(s.url(&client_page)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_sees_who_looked_at_a_client() {
    let s = TestServer::start().await;
    let site = s.db.store.site_by_code("GLA").await.unwrap();
    let client = s.db.store.search_clients(&site.id, "GLA-", 1).await.unwrap().remove(0);
    let (w, _) = s.login("demo-worker").await;
    let page = w
        .get(s.url(&format!("/clients/{}", client.id)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains("Who looked at this client"),
        "workers do not see the access log"
    );
    let (m, _) = s.login("demo-manager").await;
    let page = m
        .get(s.url(&format!("/clients/{}", client.id)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Who looked at this client"));
    assert!(page.contains("demo-worker"), "the worker's read is listed");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_registration_form_keeps_its_input_and_names_the_field() {
    let s = TestServer::start().await;
    let (c, csrf) = s.login("demo-worker").await;
    let r = c
        .post(s.url("/clients/new"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("year_of_birth", "19x4"),
            ("gender", "female"),
            ("home_area", "G31"),
            ("alias", "Keepme"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"year_of_birth-error\""));
    assert!(html.contains("value=\"G31\"") && html.contains("value=\"Keepme\""));
    assert!(html.contains("<option value=\"female\" selected>"));
    // A bad CHI check digit is named at its field.
    let r = c
        .post(s.url("/clients/new"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("year_of_birth", "1980"),
            ("gender", "male"),
            ("home_area", "G2"),
            ("identity_chi", "0101801239"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("id=\"identity.chi-error\""));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn likely_duplicates_are_suggested_before_registering() {
    let s = TestServer::start().await;
    let (c, csrf) = s.login("demo-worker").await;
    let form = |alias: &str, confirm: bool| {
        let mut f = vec![
            ("csrf", csrf.clone()),
            ("year_of_birth", "1980".into()),
            ("gender", "male".into()),
            ("home_area", "G2".into()),
            ("alias", alias.into()),
        ];
        if confirm {
            f.push(("confirm", "1".into()));
        }
        f
    };
    let r = c
        .post(s.url("/clients/new"))
        .form(&form("Stevie Boy", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "first registration goes through");
    let r = c
        .post(s.url("/clients/new"))
        .form(&form("Stevie Boi", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("Is this someone already registered?") && html.contains("Stevie Boy"));
    let r = c
        .post(s.url("/clients/new"))
        .form(&form("Stevie Boi", true))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "confirmed registration goes through");
    s.stop().await;
}

// ---------- API ----------

async fn api_post(c: &reqwest::Client, url: String, token: &str, body: Value) -> (u16, Value, Option<String>) {
    let r = c.post(url).bearer_auth(token).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    let ctype = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
    (status, r.json().await.unwrap_or(Value::Null), ctype)
}

fn failing_fields(v: &Value) -> Vec<String> {
    v["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_contract_register_check_in_list_and_check_out() {
    let s = TestServer::start().await;
    let token = s.token("demo-worker").await;
    let c = reqwest::Client::new();
    let (st, client, _) = api_post(
        &c,
        s.url("/api/v1/clients"),
        &token,
        json!({"site": "GLA", "year_of_birth": 1984, "gender": "male", "home_area": "G2"}),
    )
    .await;
    assert_eq!(st, 201, "{client}");
    let id = client["id"].as_str().unwrap().to_string();
    let code = client["code"].as_str().unwrap().to_string();
    assert!(code.starts_with("GLA-") && code.len() == 10, "{code}");

    let found: Value = c
        .get(s.url(&format!("/api/v1/clients?code={code}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["clients"][0]["id"], id.as_str());
    let one: Value = c
        .get(s.url(&format!("/api/v1/clients/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["code"], code.as_str());

    let (st, visit, _) = api_post(
        &c,
        s.url("/api/v1/visits"),
        &token,
        json!({"client_id": id, "substances": ["heroin", "cocaine"], "route": "injection"}),
    )
    .await;
    assert_eq!(st, 201, "{visit}");
    let vid = visit["id"].as_str().unwrap().to_string();
    assert_eq!(visit["substances"], json!(["heroin", "cocaine"]));

    let today: Value = c
        .get(s.url("/api/v1/visits?site=GLA"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        today["visits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["id"] == vid.as_str())
    );

    let r = c
        .post(s.url(&format!("/api/v1/visits/{vid}/checkout")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let out: Value = r.json().await.unwrap();
    assert!(out["left_at"].is_string());
    // A second check-out is refused and names the visit.
    let r = c
        .post(s.url(&format!("/api/v1/visits/{vid}/checkout")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(failing_fields(&p), ["visit"]);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_idempotency_key_returns_the_first_check_in() {
    let s = TestServer::start().await;
    let token = s.token("demo-worker").await;
    let c = reqwest::Client::new();
    let (_, client, _) = api_post(
        &c,
        s.url("/api/v1/clients"),
        &token,
        json!({"site": "GLA", "year_of_birth": 1990, "gender": "female", "home_area": "no_fixed_abode"}),
    )
    .await;
    let body = json!({"client_id": client["id"], "substances": ["cocaine"], "route": "injection"});
    let site = s.db.store.site_by_code("GLA").await.unwrap();
    let before = s.db.store.visit_count(&site.id).await.unwrap();
    let mut ids = Vec::new();
    for expected in [201, 200, 200] {
        let r = c
            .post(s.url("/api/v1/visits"))
            .bearer_auth(&token)
            .header("Idempotency-Key", "retry-123")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), expected);
        ids.push(r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string());
    }
    assert!(ids.iter().all(|i| i == &ids[0]));
    assert_eq!(s.db.store.visit_count(&site.id).await.unwrap(), before + 1);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_bad_input_is_a_4xx_naming_the_field_and_writes_nothing() {
    let s = TestServer::start().await;
    let token = s.token("demo-worker").await;
    let c = reqwest::Client::new();
    let site = s.db.store.site_by_code("GLA").await.unwrap();
    let (head_before, _) = s.db.store.audit_head().await.unwrap();
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"site": "GLA", "year_of_birth": 1984, "gender": "male", "home_area": "G2", "shoe_size": 9}),
            400,
            "shoe_size",
        ),
        (
            json!({"site": "GLA", "year_of_birth": "nineteen", "gender": "male", "home_area": "G2"}),
            400,
            "year_of_birth",
        ),
        (
            json!({"site": "GLA", "year_of_birth": 1984, "gender": "robot", "home_area": "G2"}),
            422,
            "gender",
        ),
        (
            json!({"site": "GLA", "year_of_birth": 2999, "gender": "male", "home_area": "G2"}),
            422,
            "year_of_birth",
        ),
        (
            json!({"site": "GLA", "year_of_birth": 1984, "gender": "male", "home_area": "G2", "identity": {"chi": "0101801239"}}),
            422,
            "identity.chi",
        ),
        (
            json!({"site": "GLA", "year_of_birth": 1984, "gender": "male", "home_area": "G2", "identity": {"nickname": "x"}}),
            400,
            "identity.nickname",
        ),
        (
            json!({"site": "NOPE", "year_of_birth": 1984, "gender": "male", "home_area": "G2"}),
            422,
            "site",
        ),
        (
            json!({"site": "GLA", "year_of_birth": 1984, "gender": "male", "home_area": "G2", "code": "EDN-12"}),
            422,
            "code",
        ),
    ];
    for (body, status, field) in cases {
        let (st, p, ctype) = api_post(&c, s.url("/api/v1/clients"), &token, body.clone()).await;
        assert_eq!(st, status, "{body} → {p}");
        assert_eq!(ctype.as_deref(), Some("application/problem+json"));
        assert!(
            failing_fields(&p).contains(&field.to_string()),
            "{body}: expected field {field} in {p}"
        );
    }
    // Malformed JSON and oversize bodies.
    let r = c
        .post(s.url("/api/v1/clients"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"site\":")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let big = format!("{{\"site\":\"{}\"}}", "x".repeat(100_000));
    let r = c
        .post(s.url("/api/v1/clients"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(r.headers()["content-type"], "application/problem+json");

    // Impossible times.
    let (_, client, _) = api_post(
        &c,
        s.url("/api/v1/clients"),
        &token,
        json!({"site": "GLA", "year_of_birth": 1970, "gender": "male", "home_area": "G4"}),
    )
    .await;
    let (head_mid, _) = s.db.store.audit_head().await.unwrap();
    let future = haven_domain::clock::rfc3339(haven_domain::clock::now() + time::Duration::hours(1));
    let (st, p, _) = api_post(
        &c,
        s.url("/api/v1/visits"),
        &token,
        json!({"client_id": client["id"], "substances": ["heroin"], "route": "injection", "arrived_at": future}),
    )
    .await;
    assert_eq!(st, 422);
    assert_eq!(failing_fields(&p), ["arrived_at"]);
    let (_, v, _) = api_post(
        &c,
        s.url("/api/v1/visits"),
        &token,
        json!({"client_id": client["id"], "substances": ["heroin"], "route": "injection"}),
    )
    .await;
    let before = haven_domain::clock::rfc3339(haven_domain::clock::now() - time::Duration::hours(2));
    let (st, p, _) = api_post(
        &c,
        s.url(&format!("/api/v1/visits/{}/checkout", v["id"].as_str().unwrap())),
        &token,
        json!({"left_at": before}),
    )
    .await;
    assert_eq!(st, 422);
    assert_eq!(failing_fields(&p), ["left_at"]);
    let (st, p, _) = api_post(
        &c,
        s.url("/api/v1/visits"),
        &token,
        json!({"client_id": client["id"], "substances": ["tea"], "route": "osmosis"}),
    )
    .await;
    assert_eq!(st, 422);
    assert_eq!(failing_fields(&p), ["substances", "route"]);
    // Failed requests wrote nothing: only the successful client + visit added events.
    let (head_after, _) = s.db.store.audit_head().await.unwrap();
    assert_eq!(head_mid, head_before + 1, "only the one valid registration was written");
    assert_eq!(head_after, head_mid + 1, "only the one valid check-in was written");
    assert!(s.db.store.visit_count(&site.id).await.unwrap() > 0);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_roles_and_sites_are_enforced() {
    let s = TestServer::start().await;
    let worker = s.token("demo-worker").await;
    let evaluator = s.token("demo-evaluator").await;
    let c = reqwest::Client::new();
    let (_, client, _) = api_post(
        &c,
        s.url("/api/v1/clients"),
        &worker,
        json!({"site": "GLA", "year_of_birth": 1984, "gender": "male", "home_area": "G2"}),
    )
    .await;
    let id = client["id"].as_str().unwrap();
    // Evaluators see aggregates only, never a client record.
    let before = denied_count(&s).await;
    let r = c
        .get(s.url("/api/v1/clients?code=GLA&site=GLA"))
        .bearer_auth(&evaluator)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(denied_count(&s).await, before + 1);
    let r = c
        .get(s.url(&format!("/api/v1/clients/{id}")))
        .bearer_auth(&evaluator)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // A worker at another site cannot see or check in GLA's clients.
    let other =
        haven_domain::site::validate_site("EDN", "Edinburgh", "Europe/London", "10:00", "18:00", "site").unwrap();
    s.db.store
        .create_site(&haven_app::system_ctx("test"), &other, "{}")
        .await
        .unwrap();
    haven_app::auth::add_user_system(
        &s.db.store,
        "edn-worker",
        "edinburgh-pass",
        "EDN",
        haven_domain::auth::Role::Worker,
    )
    .await
    .unwrap();
    let edn = s.token("edn-worker").await;
    let r = c
        .get(s.url(&format!("/api/v1/clients/{id}")))
        .bearer_auth(&edn)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let (st, p, _) = api_post(
        &c,
        s.url("/api/v1/visits"),
        &edn,
        json!({"client_id": id, "substances": ["heroin"], "route": "injection"}),
    )
    .await;
    assert_eq!(st, 422);
    assert_eq!(failing_fields(&p), ["client_id"]);
    let r = c
        .get(s.url("/api/v1/visits?site=GLA"))
        .bearer_auth(&edn)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // No token, a wrong token.
    assert_eq!(
        c.get(s.url("/api/v1/visits?site=GLA")).send().await.unwrap().status(),
        401
    );
    assert_eq!(
        c.get(s.url("/api/v1/visits?site=GLA"))
            .bearer_auth("hvn_nope")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_with_a_session_cookie_needs_the_csrf_header() {
    let s = TestServer::start().await;
    let (c, csrf) = s.login("demo-worker").await;
    let body = json!({"site": "GLA", "year_of_birth": 1984, "gender": "male", "home_area": "G2"});
    let r = c.post(s.url("/api/v1/clients")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = c
        .post(s.url("/api/v1/clients"))
        .header("x-csrf-token", &csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_is_served_and_lists_the_routes() {
    let s = TestServer::start().await;
    let token = s.token("demo-worker").await;
    let doc: Value = reqwest::Client::new()
        .get(s.url("/api/v1/openapi.json"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for (path, method) in haven_web::api::api_routes() {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_chain_verifies_after_a_session_of_work() {
    let s = TestServer::start_with(Backend::Postgres, WebConfig::default()).await;
    let (c, csrf) = s.login("demo-worker").await;
    let r = c
        .post(s.url("/clients/new"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("year_of_birth", "1975"),
            ("gender", "female"),
            ("home_area", "G40"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let page = c.get(s.url(&loc)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Client registered."));
    assert!(csrf_from(&page).is_some());
    let (n, _) = haven_store::verify_audit(&s.db.store).await.unwrap().unwrap();
    let (head, _) = s.db.store.audit_head().await.unwrap();
    assert_eq!(n as i64, head);
    assert!(
        s.db.store.audit_count("read").await.unwrap() >= 1,
        "opening the client page is an audited read"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_ones_password_ends_every_session_asvs_7_4() {
    let s = TestServer::start().await;
    let (a, csrf) = s.login("demo-pharmacist").await;
    let (b, _) = s.login("demo-pharmacist").await;
    let form = |cur: &str, new: &str, again: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("current_password", cur.to_string()),
            ("new_password", new.to_string()),
            ("confirm_password", again.to_string()),
        ]
    };
    let r = a
        .post(s.url("/account/password"))
        .form(&form("wrong", "a new passphrase", "a new passphrase"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("id=\"current_password-error\""));
    let r = a
        .post(s.url("/account/password"))
        .form(&form(PASSWORD, "a new passphrase", "another"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = a
        .post(s.url("/account/password"))
        .form(&form(PASSWORD, "short", "short"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("id=\"new_password-error\""));
    let r = a
        .post(s.url("/account/password"))
        .form(&form(PASSWORD, "a new passphrase", "a new passphrase"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login?changed=1");
    assert_eq!(
        b.get(s.url("/")).send().await.unwrap().status(),
        303,
        "the other session ended too"
    );
    let r = s
        .client()
        .post(s.url("/login"))
        .form(&[("username", "demo-pharmacist"), ("password", "a new passphrase")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_is_audited() {
    let config = WebConfig {
        sessions: SessionPolicy {
            idle: time::Duration::seconds(1),
            absolute: time::Duration::hours(1),
        },
        ..Default::default()
    };
    let s = TestServer::start_with(Backend::Sqlite, config).await;
    let (c, _) = s.login("demo-worker").await;
    let before = denied_count(&s).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(c.get(s.url("/")).send().await.unwrap().status(), 303);
    assert_eq!(denied_count(&s).await, before + 1);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voiding_needs_a_reason_and_only_managers_then_see_the_voided_visit() {
    let s = TestServer::start().await;
    let token = s.token("demo-nurse").await;
    let api = reqwest::Client::new();
    let (_, client, _) = api_post(
        &api,
        s.url("/api/v1/clients"),
        &token,
        json!({"site": "GLA", "year_of_birth": 1966, "gender": "female", "home_area": "G1", "alias": "Voidtest Person"}),
    )
    .await;
    let (_, v, _) = api_post(
        &api,
        s.url("/api/v1/visits"),
        &token,
        json!({"client_id": client["id"]}),
    )
    .await;
    let vid = v["id"].as_str().unwrap().to_string();
    let (nurse, csrf) = s.login("demo-nurse").await;
    let r = nurse
        .post(s.url(&format!("/visits/{vid}/void")))
        .form(&[("csrf", csrf.as_str()), ("reason", "  ")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/visits?problem=")
    );
    let r = nurse
        .post(s.url(&format!("/visits/{vid}/void")))
        .form(&[("csrf", csrf.as_str()), ("reason", "wrong person")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/visits?notice=void");
    let worker = s.token("demo-worker").await;
    let list: Value = api
        .get(s.url("/api/v1/visits?site=GLA"))
        .bearer_auth(&worker)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !list["visits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == vid.as_str()),
        "hidden from workers"
    );
    let manager = s.token("demo-manager").await;
    let list: Value = api
        .get(s.url("/api/v1/visits?site=GLA"))
        .bearer_auth(&manager)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mine = list["visits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == vid.as_str())
        .cloned()
        .unwrap();
    assert_eq!(mine["voided"], true, "kept and visible to managers");
    s.stop().await;
}

/// Hidden inputs of a page, unescaped (enough for the values used here).
fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    let unescape = |s: &str| {
        s.replace("&#38;", "&")
            .replace("&amp;", "&")
            .replace("&#61;", "=")
            .replace("&#43;", "+")
    };
    html.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .filter_map(|rest| {
            let (name, rest) = rest.split_once('"')?;
            let rest = rest.strip_prefix(" value=\"")?;
            let (value, _) = rest.split_once('"')?;
            Some((unescape(name), unescape(value)))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_sent_after_the_session_ended_survives_the_login_wcag_2_2_5_t9() {
    let config = WebConfig {
        sessions: SessionPolicy {
            idle: time::Duration::seconds(1),
            absolute: time::Duration::hours(1),
        },
        ..Default::default()
    };
    let s = TestServer::start_with(Backend::Sqlite, config).await;
    let site = s.db.store.site_by_code("GLA").await.unwrap();
    let client = s.db.store.search_clients(&site.id, "GLA-", 1).await.unwrap().remove(0);
    let before = s.db.store.visit_count(&site.id).await.unwrap();
    let (c, csrf) = s.login("demo-worker").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let r = c
        .post(s.url("/checkin"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("client_id", client.id.as_str()),
            ("substances", "heroin"),
            ("substances", "cocaine"),
            ("route", "injection"),
            ("otherwise_place", "public"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the session had ended");
    let login_page = r.text().await.unwrap();
    assert!(login_page.contains("What you sent has been kept"));
    let mut fields = hidden_inputs(&login_page);
    assert!(
        fields
            .iter()
            .any(|(k, v)| k == "saved_form" && v.contains("substances=cocaine") && !v.contains("csrf"))
    );
    assert_eq!(
        s.db.store.visit_count(&site.id).await.unwrap(),
        before,
        "nothing saved yet"
    );
    fields.push(("username".into(), "demo-worker".into()));
    fields.push(("password".into(), PASSWORD.into()));
    let r = c.post(s.url("/login")).form(&fields).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let resume = r.text().await.unwrap();
    assert!(resume.contains("action=\"/checkin\""));
    let resend = hidden_inputs(&resume);
    assert_eq!(resend.iter().filter(|(k, _)| k == "substances").count(), 2);
    let r = c.post(s.url("/checkin")).form(&resend).send().await.unwrap();
    assert_eq!(r.status(), 303, "sent with the new session's token");
    assert_eq!(s.db.store.visit_count(&site.id).await.unwrap(), before + 1);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_create_sites_and_spaces_in_the_ui_managers_cannot_create_sites() {
    let s = TestServer::start().await;
    let (a, csrf) = s.login("demo-admin").await;
    let site = |code: &str, tz: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("code", code.to_string()),
            ("name", "Edinburgh".to_string()),
            ("timezone", tz.to_string()),
            ("opens", "10:00".to_string()),
            ("closes", "18:00".to_string()),
            ("code_scheme", "slk581".to_string()),
        ]
    };
    let r = a
        .post(s.url("/admin/sites"))
        .form(&site("EDN", "Mars/Olympus"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"new_timezone-error\"") && html.contains("value=\"Mars/Olympus\""));
    let r = a
        .post(s.url("/admin/sites"))
        .form(&site("EDN", "Europe/London"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let edn = s.db.store.site_by_code("EDN").await.unwrap();
    assert_eq!(edn.code_scheme, "slk581");
    let admin = s.db.store.user_by_name("demo-admin").await.unwrap();
    assert!(
        s.db.store
            .roles(&admin.id)
            .await
            .unwrap()
            .iter()
            .any(|r| r.site_id == edn.id && r.role == "admin")
    );
    let r = a
        .post(s.url("/admin/sites"))
        .form(&site("EDN", "Europe/London"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        422,
        "a second site with the same code is refused at the field"
    );
    // Spaces at the admin's current site.
    let r = a
        .post(s.url("/admin/spaces"))
        .form(&[("csrf", csrf.as_str()), ("label", "Inhale 1"), ("kind", "inhalation")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let gla = s.db.store.site_by_code("GLA").await.unwrap();
    assert!(
        s.db.store
            .spaces(&gla.id)
            .await
            .unwrap()
            .iter()
            .any(|sp| sp.label == "Inhale 1" && sp.kind == "inhalation")
    );
    let r = a
        .post(s.url("/admin/spaces"))
        .form(&[("csrf", csrf.as_str()), ("label", "Inhale 1"), ("kind", "inhalation")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "duplicate label named at the field");
    let (m, mcsrf) = s.login("demo-manager").await;
    let denied = denied_count(&s).await;
    let r = m
        .post(s.url("/admin/sites"))
        .form(&[
            ("csrf", mcsrf.as_str()),
            ("code", "XYZ"),
            ("name", "X"),
            ("timezone", "Europe/London"),
            ("opens", "09:00"),
            ("closes", "17:00"),
            ("code_scheme", "site"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(denied_count(&s).await, denied + 1, "the refusal is audited");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_possible_duplicate_is_a_409_listing_them_until_confirmed() {
    let s = TestServer::start().await;
    let token = s.token("demo-worker").await;
    let c = reqwest::Client::new();
    let body = |alias: &str, confirm: bool| json!({"site": "GLA", "year_of_birth": 1981, "gender": "male", "home_area": "G2", "alias": alias, "confirm_new": confirm});
    let (st, first, _) = api_post(&c, s.url("/api/v1/clients"), &token, body("Stevie Boy", false)).await;
    assert_eq!(st, 201);
    let (st, p, ctype) = api_post(&c, s.url("/api/v1/clients"), &token, body("Stevie Boi", false)).await;
    assert_eq!(st, 409);
    assert_eq!(ctype.as_deref(), Some("application/problem+json"));
    assert_eq!(p["possible_duplicates"][0]["code"], first["code"]);
    assert_eq!(p["status"], 409);
    let (st, _, _) = api_post(&c, s.url("/api/v1/clients"), &token, body("Stevie Boi", true)).await;
    assert_eq!(st, 201);
    s.stop().await;
}
