//! The PostgreSQL least-privilege grants of docs/operations.md ("Two roles"),
//! proved rather than trusted: the documented block is read from the docs at
//! test time and granted to a fresh LOGIN role; that role then generates the
//! demo and drives every writing flow over HTTP (a missing grant is a 500),
//! and is refused what the docs say it cannot do (security-reliability §1.7
//! and T7: the application's database role has no UPDATE or DELETE on
//! append-only records).

use haven_store::{Location, Store};
use serde_json::{Value, json};

use crate::common::{
    db::{Backend, TestDb, pg_admin_url, replace_db_name},
    server::{PASSWORD, TestServer},
};

const OPERATIONS_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/operations.md");

/// The ```sql block run "connected to `haven` as `haven_owner`", verbatim.
fn documented_grants() -> String {
    let doc = std::fs::read_to_string(OPERATIONS_MD).unwrap();
    let (_, section) = doc
        .split_once("### Two roles: an owner for migrations, a restricted one for the application")
        .expect("docs/operations.md has the two-roles section");
    let (_, after) = section
        .split_once("Then, connected to `haven` as `haven_owner`:")
        .expect("the grants are introduced as the owner's");
    let (_, block) = after.split_once("```sql\n").expect("a sql block follows");
    let (block, _) = block.split_once("\n```").expect("the sql block ends");
    assert!(block.contains("GRANT") && block.contains("haven_app"), "{block}");
    block.to_string()
}

/// `admin_url` logging in as `role` (password `pw`) to database `db`.
fn url_as(admin_url: &str, role: &str, pw: &str, db: &str) -> String {
    let url = replace_db_name(admin_url, db);
    let (scheme, rest) = url.split_once("://").unwrap();
    let host = rest.split_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{role}:{pw}@{host}")
}

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

/// POSTs `body` and asserts the status; returns the JSON answer.
async fn post_ok(s: &TestServer, token: &str, path: &str, body: Value, want: u16) -> Value {
    let (st, v) = call(s, token, "POST", path, Some(body)).await;
    assert_eq!(st, want, "POST {path}: {v}");
    v
}

async fn get_ok(s: &TestServer, token: &str, path: &str) -> Value {
    let (st, v) = call(s, token, "GET", path, None).await;
    assert_eq!(st, 200, "GET {path}: {v}");
    v
}

/// Submits a page form and asserts the redirect that means it was saved.
async fn form_ok(s: &TestServer, c: &reqwest::Client, path: &str, form: &[(&str, &str)]) {
    let r = c.post(s.url(path)).form(form).send().await.unwrap();
    let st = r.status().as_u16();
    assert_eq!(st, 303, "POST {path}: {}", r.text().await.unwrap_or_default());
}

fn in_hours(h: i64) -> String {
    haven_domain::clock::rfc3339(haven_domain::clock::now() + time::Duration::hours(h))
}

fn day(offset_days: i64) -> String {
    (haven_domain::clock::now() + time::Duration::days(offset_days))
        .date()
        .to_string()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_string()
}

/// Everything the restricted role does; `owner` is the migrating superuser.
async fn run_as_app_role(owner: Store, role: String, app_url: String) {
    owner
        .execute_script_for_tests(documented_grants().replace("haven_app", &role))
        .await
        .unwrap();
    // Connect only: the app role has no CREATE right, so it cannot migrate.
    let app = Store::connect(&Location::Postgres(app_url)).await.unwrap();

    // The demo writes nearly every table through the bulk paths.
    haven_app::demo::generate(&app, 1, 1, 0.01, 7, &mut |_, _| {})
        .await
        .unwrap();
    let s = TestServer::start_on(app.clone()).await;
    let site = s.db.store.site_by_code("GLA").await.unwrap();
    // Tokens: created, used (last-used is stamped) and revoked.
    let worker = s.token("demo-worker").await;
    let nurse = s.token("demo-nurse").await;
    let manager = s.token("demo-manager").await;
    let (spare, _) = haven_app::auth::create_token_system(&s.db.store, "demo-nurse", "spare")
        .await
        .unwrap();
    haven_app::auth::revoke_token_system(&s.db.store, &spare).await.unwrap();

    // Clients (one with identity details) and visits.
    let a = post_ok(
        &s,
        &nurse,
        "/api/v1/clients",
        json!({"site": "GLA", "year_of_birth": 1971, "gender": "female", "home_area": "G1",
               "identity": {"name": "Pat Example"}, "confirm_new": true}),
        201,
    )
    .await;
    let b = post_ok(
        &s,
        &worker,
        "/api/v1/clients",
        json!({"site": "GLA", "year_of_birth": 1992, "gender": "male", "home_area": "G4", "confirm_new": true}),
        201,
    )
    .await;
    let (a, b_code) = (id(&a), b["code"].as_str().unwrap().to_string());
    let visit_body = json!({"client_id": a, "substances": ["heroin"], "route": "injection"});
    let visit = id(&post_ok(&s, &nurse, "/api/v1/visits", visit_body.clone(), 201).await);
    let voided = id(&post_ok(&s, &nurse, "/api/v1/visits", json!({"client_id": b["id"]}), 201).await);

    // The floor: episode, check, end, space cleaned, aftercare, check-out.
    let board = get_ok(&s, &nurse, "/api/v1/board?site=GLA").await;
    let space = board["spaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["state"] == "free")
        .map(id)
        .expect("a free space");
    let ep = id(&post_ok(
        &s,
        &nurse,
        "/api/v1/episodes",
        json!({"visit_id": visit, "space_id": space}),
        201,
    )
    .await);
    post_ok(
        &s,
        &nurse,
        &format!("/api/v1/episodes/{ep}/checks"),
        json!({"status": "drowsy", "resp_rate": 10, "spo2": 94}),
        201,
    )
    .await;
    post_ok(
        &s,
        &nurse,
        &format!("/api/v1/episodes/{ep}/end"),
        json!({"equipment_left": true}),
        200,
    )
    .await;
    post_ok(
        &s,
        &nurse,
        &format!("/api/v1/spaces/{space}/state"),
        json!({"mark": "cleaned"}),
        204,
    )
    .await;
    let after = post_ok(&s, &nurse, &format!("/api/v1/visits/{visit}/aftercare"), json!({}), 201).await;
    post_ok(
        &s,
        &nurse,
        &format!("/api/v1/aftercare/{}/leave", id(&after)),
        json!({"observation": "alert, left with a friend"}),
        200,
    )
    .await;
    post_ok(&s, &nurse, &format!("/api/v1/visits/{visit}/checkout"), json!({}), 200).await;

    // An emergency: opened, an entry, an amended time, closed.
    let em = post_ok(
        &s,
        &nurse,
        "/api/v1/emergencies",
        json!({"site_id": site.id, "person_description": "man at the door, not registered"}),
        201,
    )
    .await;
    let (em_id, began) = (id(&em), em["started_at"].as_str().unwrap().to_string());
    let entry = post_ok(
        &s,
        &nurse,
        &format!("/api/v1/emergencies/{em_id}/entries"),
        json!({"kind": "naloxone", "dose_mg": 0.4, "route": "IM"}),
        201,
    )
    .await;
    post_ok(
        &s,
        &nurse,
        &format!("/api/v1/emergencies/{em_id}/entries/{}/amend", id(&entry)),
        json!({"at": began, "reason": "given first, entered late"}),
        201,
    )
    .await;
    post_ok(
        &s,
        &nurse,
        &format!("/api/v1/emergencies/{em_id}/close"),
        json!({"outcome": "transferred", "debrief": "went well", "staff_involved": ["A", "B"]}),
        200,
    )
    .await;

    // Alerts: raised and withdrawn; one raised from a drug-checking result.
    let alert = post_ok(
        &s,
        &manager,
        "/api/v1/alerts",
        json!({"site": "GLA", "text": "Xylazine found in heroin: wounds, long sedation", "expires_at": in_hours(6)}),
        201,
    )
    .await;
    post_ok(
        &s,
        &manager,
        &format!("/api/v1/alerts/{}/withdraw", id(&alert)),
        json!({}),
        200,
    )
    .await;
    let sample = post_ok(
        &s,
        &nurse,
        "/api/v1/drug-checks",
        json!({"site": "GLA", "expected": "heroin", "form": "powder"}),
        201,
    )
    .await;
    let sample = id(&sample);
    post_ok(
        &s,
        &nurse,
        &format!("/api/v1/drug-checks/{sample}/results"),
        json!({"method": "ftir", "components": [{"substance": "heroin", "percent": 80.0},
                                                {"substance": "protonitazene", "percent": 5.0}]}),
        201,
    )
    .await;
    post_ok(
        &s,
        &nurse,
        &format!("/api/v1/drug-checks/{sample}/alert"),
        json!({"text": "Protonitazene found in heroin: use less, go slow", "expires_at": in_hours(12)}),
        201,
    )
    .await;

    // A referral and a step; a service with a BBV test and its result.
    let referral = post_ok(
        &s,
        &nurse,
        "/api/v1/referrals",
        json!({"client_id": a, "category": "housing", "made_on": day(-20)}),
        201,
    )
    .await;
    post_ok(
        &s,
        &nurse,
        &format!("/api/v1/referrals/{}/events", id(&referral)),
        json!({"status": "accepted", "note": "housing officer"}),
        201,
    )
    .await;
    let service = post_ok(
        &s,
        &worker,
        &format!("/api/v1/visits/{visit}/services"),
        json!({"code": "bbv_test_taken", "tests": ["hiv", "hcv"]}),
        201,
    )
    .await;
    post_ok(
        &s,
        &nurse,
        &format!("/api/v1/services/{}/results", id(&service)),
        json!({"test": "hcv", "result": "negative"}),
        201,
    )
    .await;

    // Supplies (dcr-practice §5.5): a count, a delivery, and a hand-out beyond
    // stock, which is saved with its shortfall (stock upserted, a discrepancy).
    post_ok(
        &s,
        &nurse,
        "/api/v1/supplies",
        json!({"site": "GLA", "kind": "adjustment", "reason": "weekly count",
               "lines": [{"item": "naloxone_kit_nasal", "quantity": 2}]}),
        201,
    )
    .await;
    post_ok(
        &s,
        &nurse,
        "/api/v1/supplies",
        json!({"site": "GLA", "kind": "received", "lines": [{"item": "swab", "quantity": 500}]}),
        201,
    )
    .await;
    let given = post_ok(
        &s,
        &worker,
        "/api/v1/supplies",
        json!({"site": "GLA", "kind": "given", "visit_id": visit,
               "lines": [{"item": "naloxone_kit_nasal", "quantity": 3}, {"item": "swab", "quantity": 10}]}),
        201,
    )
    .await;
    assert_ne!(given["discrepancies"], json!([]), "a shortfall was recorded: {given}");

    // Community impact (dcr-practice §9): a street audit and a council CSV.
    post_ok(
        &s,
        &worker,
        "/api/v1/community-audits",
        json!({"site": "GLA", "date": "2018-03-05", "start": "08:00", "zone": "merchant_city",
               "observer": "Outreach 2", "weather": "dry", "needles": 4}),
        201,
    )
    .await;
    let r = s
        .client()
        .post(s.url("/api/v1/needle-reports?site=GLA&filename=march.csv"))
        .bearer_auth(&manager)
        .header("content-type", "text/csv")
        .body("date,zone,count\n2018-03-01,calton,2\n2018-03-02,gallowgate,5\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());

    // Pages: a handover note, a voided visit, a merge and its undoing.
    let (n, ncsrf) = s.login("demo-nurse").await;
    form_ok(
        &s,
        &n,
        "/handover/notes",
        &[("csrf", &ncsrf), ("text", "Booth 3 door sticks")],
    )
    .await;
    form_ok(
        &s,
        &n,
        &format!("/visits/{voided}/void"),
        &[("csrf", &ncsrf), ("reason", "recorded for the wrong person")],
    )
    .await;
    let (m, mcsrf) = s.login("demo-manager").await;
    form_ok(
        &s,
        &m,
        &format!("/clients/{a}/merge"),
        &[("csrf", &mcsrf), ("from_code", &b_code), ("reason", "same person")],
    )
    .await;
    let merge = s.db.store.merges_for(&a).await.unwrap().remove(0);
    form_ok(
        &s,
        &m,
        &format!("/clients/{a}/unmerge"),
        &[("csrf", &mcsrf), ("merge_id", &merge.id)],
    )
    .await;

    // The journey and the subject-access export (audited reads).
    get_ok(&s, &worker, &format!("/api/v1/clients/{a}/journey")).await;
    get_ok(&s, &manager, &format!("/api/v1/clients/{a}/export")).await;

    // Administration: site details and settings, a space, staff added and
    // disabled, a new site (its creator's role is replaced), a site switch.
    form_ok(
        &s,
        &m,
        "/admin/site",
        &[
            ("csrf", &mcsrf),
            ("name", "Glasgow demo (Hunter St)"),
            ("timezone", "Europe/London"),
            ("opens", "09:00"),
            ("closes", "21:00"),
            ("code_scheme", &site.code_scheme),
        ],
    )
    .await;
    s.db.store
        .update_site_settings(&haven_app::system_ctx("test"), &site.id, &site.settings)
        .await
        .unwrap();
    form_ok(
        &s,
        &m,
        &format!("/admin/spaces/{space}"),
        &[("csrf", &mcsrf), ("wheelchair", "1"), ("in_service", "1")],
    )
    .await;
    form_ok(
        &s,
        &m,
        "/admin/staff",
        &[
            ("csrf", &mcsrf),
            ("username", "relief-worker"),
            ("display_name", "Relief worker"),
            ("role", "worker"),
            ("password", "a long enough passphrase"),
        ],
    )
    .await;
    let relief = s.db.store.user_by_name("relief-worker").await.unwrap();
    form_ok(
        &s,
        &m,
        &format!("/admin/staff/{}/disable", relief.id),
        &[("csrf", &mcsrf)],
    )
    .await;
    let (adm, acsrf) = s.login("demo-admin").await;
    form_ok(
        &s,
        &adm,
        "/admin/sites",
        &[
            ("csrf", &acsrf),
            ("code", "EDN"),
            ("name", "Edinburgh"),
            ("timezone", "Europe/London"),
            ("opens", "10:00"),
            ("closes", "18:00"),
            ("code_scheme", "site"),
        ],
    )
    .await;
    let edn = s.db.store.site_by_code("EDN").await.unwrap();
    form_ok(&s, &adm, "/site", &[("csrf", &acsrf), ("site_id", &edn.id)]).await;

    // Sessions: a password change ends the others; logging out deletes one.
    let (p, pcsrf) = s.login("demo-pharmacist").await;
    form_ok(
        &s,
        &p,
        "/account/password",
        &[
            ("csrf", &pcsrf),
            ("current_password", PASSWORD),
            ("new_password", "a new passphrase"),
            ("confirm_password", "a new passphrase"),
        ],
    )
    .await;
    form_ok(&s, &n, "/logout", &[("csrf", &ncsrf)]).await;
    assert_eq!(n.get(s.url("/")).send().await.unwrap().status(), 303, "logged out");

    // What the docs promise the role cannot do. Each refusal must come from
    // the privilege system, not from a trigger that would refuse anyone.
    for sql in [
        "UPDATE audit_events SET action = 'x'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "DELETE FROM visits",
        "DELETE FROM clients",
        "DELETE FROM client_identities",
        "TRUNCATE visits",
        "UPDATE supply_lines SET quantity = 0",
        "DELETE FROM supply_tx",
        "UPDATE test_results SET result = 'positive'",
        "UPDATE referral_events SET note = 'x'",
        "DROP TABLE visits",
        "ALTER TABLE audit_events DISABLE TRIGGER ALL",
        "ALTER TABLE visits DISABLE TRIGGER ALL",
    ] {
        let err = s.db.store.execute_raw_for_tests(sql).await.expect_err(sql).to_string();
        assert!(
            err.contains("permission denied") || err.contains("must be owner"),
            "{sql} was refused for another reason: {err}"
        );
    }
    // The docs say the role needs no CREATE right. PostgreSQL 15 and later no
    // longer give CREATE on `public` to everyone, so check it there.
    let pg15 = "DO $$ BEGIN IF current_setting('server_version_num')::int < 150000 THEN \
                RAISE EXCEPTION 'before 15'; END IF; END $$";
    if s.db.store.execute_raw_for_tests(pg15).await.is_ok() {
        let err =
            s.db.store
                .execute_raw_for_tests("CREATE TABLE lp_probe (id int)")
                .await
                .expect_err("CREATE was allowed")
                .to_string();
        assert!(err.contains("permission denied"), "{err}");
    }

    // The harness notices a missing grant: without INSERT on handover_notes
    // the note is a server error, and nothing is written.
    owner
        .execute_script_for_tests(format!("REVOKE INSERT ON handover_notes FROM {role}"))
        .await
        .unwrap();
    let (n, ncsrf) = s.login("demo-nurse").await;
    let head = s.db.store.audit_head().await.unwrap().0;
    let r = n
        .post(s.url("/handover/notes"))
        .form(&[("csrf", ncsrf.as_str()), ("text", "never saved")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500, "a missing grant must show");
    assert_eq!(s.db.store.audit_head().await.unwrap().0, head, "nothing written");

    assert!(haven_store::verify_audit(&s.db.store).await.unwrap().is_ok());
    s.stop().await;
}

/// docs/operations.md's grants for `haven_app` are enough for every flow and
/// refuse rewriting the audit log, deleting visits and clients, rewriting
/// append-only records and changing the schema (security-reliability §1.7,
/// T7: "UPDATE/DELETE denied (role has no privilege)"). PostgreSQL only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_app_role_with_the_documented_grants_runs_every_flow_and_rewrites_nothing_security_reliability_t7() {
    let owner = TestDb::new(Backend::Postgres).await;
    let db_name = owner.pg_name().unwrap().to_string();
    // Roles are cluster-wide: a unique name, dropped below even on failure.
    let role = format!("haven_app_t_{}", uuid::Uuid::now_v7().simple());
    let pw = uuid::Uuid::now_v7().simple().to_string();
    let admin = Store::open_postgres(&pg_admin_url()).await.unwrap();
    admin
        .execute_script_for_tests(format!("CREATE ROLE {role} LOGIN PASSWORD '{pw}'"))
        .await
        .unwrap();
    let app_url = url_as(&pg_admin_url(), &role, &pw, &db_name);

    // Run in a task so a failed assertion still reaches the clean-up (a
    // local one: the demo generator's future is not Send).
    let body = run_as_app_role(owner.store.clone(), role.clone(), app_url);
    let outcome = tokio::task::LocalSet::new()
        .run_until(async { tokio::task::spawn_local(body).await })
        .await;

    let owned = owner
        .store
        .execute_script_for_tests(format!("DROP OWNED BY {role}"))
        .await;
    owner.cleanup().await;
    let dropped = admin
        .execute_script_for_tests(format!("DROP ROLE IF EXISTS {role}"))
        .await;
    admin.close().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
    owned.unwrap();
    dropped.unwrap();
}
