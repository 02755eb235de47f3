//! The store contract: every test runs the same body on a fresh SQLite file
//! and a fresh PostgreSQL database (`contract_test!`), so the two backends
//! cannot drift apart. Each write is checked to append exactly one audit
//! event (reads none, audited reads one), and the chain is verified at the end
//! of every test that writes.

use std::{collections::BTreeSet, future::Future};

use haven_domain::{
    audit::AuditAction,
    client::Identity,
    clock,
    site::{SiteInput, SiteSettings, validate_site},
};
use haven_store::{
    AuditCtx, AuditRow, BulkClient, BulkVisit, ClientRow, Created, NewClientRecord, NewVisitRecord, SessionRow,
    SiteRow, Store, StoreError, VisitRow,
};
use time::{Duration, OffsetDateTime, macros::datetime};

use crate::common::db::{Backend, TestDb};

/// A syntactically valid Argon2id PHC string; the store never checks it.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";

// ---------------------------------------------------------------- helpers

/// The installation acting (CLI, set-up).
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

/// A site with one worker, and that worker's audit context.
struct Fx {
    site: SiteRow,
    user: String,
    ctx: AuditCtx,
}

async fn fixture(store: &Store, code: &str) -> Fx {
    let site = store
        .create_site(&system(), &site_input(code), "{}")
        .await
        .expect("create site");
    let username = format!("worker-{}", code.to_lowercase());
    let user = store
        .create_user(&system(), &username, "Worker", DUMMY_HASH, Some((&site.id, "worker")))
        .await
        .expect("create user");
    let ctx = AuditCtx {
        actor_id: Some(user.clone()),
        actor_name: username,
        role: Some("worker".into()),
        site_id: Some(site.id.clone()),
        request_id: Some(format!("req-{code}")),
    };
    Fx { site, user, ctx }
}

/// A second user at the fixture's site, with their own audit context.
async fn second_user(store: &Store, fx: &Fx, username: &str) -> AuditCtx {
    let id = store
        .create_user(&system(), username, "Second", DUMMY_HASH, Some((&fx.site.id, "nurse")))
        .await
        .expect("create second user");
    AuditCtx {
        actor_id: Some(id),
        actor_name: username.into(),
        role: Some("nurse".into()),
        site_id: Some(fx.site.id.clone()),
        request_id: None,
    }
}

fn client_rec(year_of_birth: i32, alias: Option<&str>) -> NewClientRecord {
    NewClientRecord {
        code: None,
        year_of_birth,
        gender: "male".into(),
        home_area: "G1".into(),
        alias: alias.map(str::to_string),
        flags: vec![],
        identity: None,
    }
}

async fn new_client(store: &Store, fx: &Fx, alias: Option<&str>) -> ClientRow {
    store
        .create_client(&fx.ctx, &fx.site.id, &client_rec(1985, alias))
        .await
        .expect("create client")
}

fn visit_rec(client_id: &str, arrived_at: OffsetDateTime) -> NewVisitRecord {
    NewVisitRecord {
        client_id: client_id.to_string(),
        status: "attended",
        arrived_at,
        substances: vec!["heroin".into(), "cocaine".into()],
        route: Some("injection".into()),
        otherwise_place: Some("public".into()),
        refusal_reason: None,
        idempotency_key: None,
        eligibility: None,
        override_reason: None,
    }
}

async fn new_visit(store: &Store, fx: &Fx, client_id: &str, arrived_at: OffsetDateTime) -> VisitRow {
    let (v, created) = store
        .create_visit(&fx.ctx, &fx.site.id, &visit_rec(client_id, arrived_at))
        .await
        .expect("create visit");
    assert_eq!(created, Created::New);
    v
}

pub(crate) async fn head(store: &Store) -> i64 {
    store.audit_head().await.expect("audit head").0
}

/// Runs `fut` and asserts it appended exactly `n` audit events.
pub(crate) async fn audited<T>(store: &Store, n: i64, fut: impl Future<Output = T>) -> T {
    let before = head(store).await;
    let out = fut.await;
    let after = head(store).await;
    assert_eq!(after - before, n, "audit events appended by this call");
    out
}

/// The newest audit event.
pub(crate) async fn last_event(store: &Store) -> AuditRow {
    let seq = head(store).await;
    let mut page = store.audit_page(seq - 1, 1).await.expect("audit page");
    assert_eq!(page.len(), 1, "the head event is stored");
    page.remove(0)
}

/// Asserts the newest event records `action` on `subject_type`/`subject_id`.
pub(crate) async fn assert_last_event(store: &Store, action: AuditAction, subject_type: &str, subject_id: &str) {
    let e = last_event(store).await;
    assert_eq!(
        (e.action.as_str(), e.subject_type.as_str(), e.subject_id.as_deref()),
        (action.as_str(), subject_type, Some(subject_id)),
        "newest audit event"
    );
}

/// The whole chain verifies and ends at the head row.
pub(crate) async fn assert_chain(store: &Store) {
    let (seq, hash) = store.audit_head().await.expect("audit head");
    let r = haven_store::verify_audit(store).await.expect("verify runs");
    assert_eq!(
        r,
        Ok((u64::try_from(seq).expect("seq >= 0"), hash)),
        "audit chain verifies"
    );
}

pub(crate) fn is_conflict<T: std::fmt::Debug>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict(_)))
}

pub(crate) fn is_not_found<T: std::fmt::Debug>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::NotFound))
}

fn codes(rows: &[ClientRow]) -> Vec<&str> {
    rows.iter().map(|r| r.code.as_str()).collect()
}

fn ids(rows: &[VisitRow]) -> Vec<&str> {
    rows.iter().map(|r| r.id.as_str()).collect()
}

// ---------------------------------------------------------------- 1. sites

crate::contract_test!(sites_are_created_read_by_id_and_code_and_unique, |store| {
    let sys = system();
    let input = validate_site("gla", " Glasgow ", "Europe/London", "09:00", "21:00", "site").expect("valid");
    let settings = SiteSettings::default().to_json();
    let site = audited(store, 1, store.create_site(&sys, &input, &settings))
        .await
        .expect("create site");
    assert_eq!(
        (
            site.code.as_str(),
            site.name.as_str(),
            site.timezone.as_str(),
            site.opens.as_str(),
            site.closes.as_str(),
            site.code_scheme.as_str(),
            site.settings.as_str()
        ),
        (
            "GLA",
            "Glasgow",
            "Europe/London",
            "09:00",
            "21:00",
            "site",
            settings.as_str()
        )
    );
    let ev = last_event(store).await;
    assert_eq!((ev.action.as_str(), ev.subject_type.as_str()), ("create", "site"));
    assert_eq!(ev.subject_id.as_deref(), Some(site.id.as_str()));
    assert_eq!(
        ev.site_id.as_deref(),
        Some(site.id.as_str()),
        "the event names the new site"
    );

    assert_eq!(audited(store, 0, store.site(&site.id)).await.expect("by id"), site);
    assert_eq!(
        audited(store, 0, store.site_by_code("GLA")).await.expect("by code"),
        site
    );
    assert_eq!(store.site_by_code("gla").await.expect("by lower-case code"), site);
    assert!(is_not_found(&store.site("no-such-id").await));
    assert!(is_not_found(&store.site_by_code("EDI").await));

    let dup = audited(store, 0, store.create_site(&sys, &site_input("GLA"), "{}")).await;
    assert!(is_conflict(&dup), "duplicate site code: {dup:?}");

    let edi = store
        .create_site(&sys, &site_input("EDI"), "{}")
        .await
        .expect("second site");
    let all = store.sites().await.expect("sites");
    assert_eq!(all.iter().map(|s| s.code.as_str()).collect::<Vec<_>>(), ["EDI", "GLA"]);

    let mut changed = site_input("GLA");
    changed.name = "Glasgow (Hunter Street)".into();
    changed.closes = "22:00".into();
    audited(store, 1, store.update_site(&sys, &site.id, &changed))
        .await
        .expect("update site");
    let after = store.site(&site.id).await.expect("site");
    assert_eq!(
        (after.name.as_str(), after.closes.as_str(), after.code.as_str()),
        ("Glasgow (Hunter Street)", "22:00", "GLA")
    );
    assert_eq!(
        store.site(&edi.id).await.expect("edi"),
        edi,
        "the other site is untouched"
    );
    assert!(is_not_found(
        &audited(store, 0, store.update_site(&sys, "no-such-id", &changed)).await
    ));
    assert_chain(store).await;
});

crate::contract_test!(spaces_are_listed_by_label_unique_per_site_and_updatable, |store| {
    let fx = fixture(store, "GLA").await;
    let other = fixture(store, "EDI").await;
    let site = fx.site.id.as_str();
    let b2 = audited(store, 1, store.add_space(&fx.ctx, site, "Booth 2", "injecting", false))
        .await
        .expect("booth 2");
    assert_last_event(store, AuditAction::Create, "space", &b2).await;
    let b1 = audited(store, 1, store.add_space(&fx.ctx, site, "Booth 1", "injecting", true))
        .await
        .expect("booth 1");
    let sm = audited(
        store,
        1,
        store.add_space(&fx.ctx, site, "Smoking 1", "inhalation", false),
    )
    .await
    .expect("smoking");

    let spaces = audited(store, 0, store.spaces(site)).await.expect("spaces");
    assert_eq!(
        spaces
            .iter()
            .map(|s| (
                s.id.as_str(),
                s.label.as_str(),
                s.kind.as_str(),
                s.wheelchair,
                s.in_service
            ))
            .collect::<Vec<_>>(),
        [
            (b1.as_str(), "Booth 1", "injecting", true, true),
            (b2.as_str(), "Booth 2", "injecting", false, true),
            (sm.as_str(), "Smoking 1", "inhalation", false, true),
        ]
    );
    assert!(spaces.iter().all(|s| s.site_id == site));

    let dup = audited(store, 0, store.add_space(&fx.ctx, site, "Booth 1", "injecting", false)).await;
    assert!(is_conflict(&dup), "duplicate label: {dup:?}");
    let bad_kind = audited(store, 0, store.add_space(&fx.ctx, site, "Sofa", "sofa", false)).await;
    assert!(bad_kind.is_err(), "kind outside the CHECK list is refused");
    // The same label at another site is fine.
    let other_b1 = store
        .add_space(&other.ctx, &other.site.id, "Booth 1", "injecting", false)
        .await
        .expect("other booth");

    audited(store, 1, store.update_space(&fx.ctx, site, &b2, true, false))
        .await
        .expect("update space");
    assert_last_event(store, AuditAction::Update, "space", &b2).await;
    let b2_row = store
        .spaces(site)
        .await
        .expect("spaces")
        .into_iter()
        .find(|s| s.id == b2)
        .expect("booth 2");
    assert_eq!((b2_row.wheelchair, b2_row.in_service), (true, false));
    audited(store, 1, store.update_space(&fx.ctx, site, &b2, true, true))
        .await
        .expect("back in service");
    assert!(store.spaces(site).await.expect("spaces").iter().all(|s| s.in_service));

    // Scoped by site: another site cannot change this site's space.
    let r = audited(
        store,
        0,
        store.update_space(&other.ctx, &other.site.id, &b2, false, false),
    )
    .await;
    assert!(is_not_found(&r), "{r:?}");
    assert!(is_not_found(
        &store.update_space(&fx.ctx, site, "no-such-space", false, false).await
    ));
    let other_spaces = store.spaces(&other.site.id).await.expect("other spaces");
    assert_eq!(
        other_spaces.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        [other_b1.as_str()]
    );
    assert_chain(store).await;
});

// ---------------------------------------------- 2. users, sessions, tokens

crate::contract_test!(users_have_unique_names_and_roles_per_site, |store| {
    let sys = system();
    let gla = store.create_site(&sys, &site_input("GLA"), "{}").await.expect("site");
    let edi = store.create_site(&sys, &site_input("EDI"), "{}").await.expect("site");
    let hash = haven_app::auth::hash_password("correct horse battery").expect("hash");
    let uid = audited(
        store,
        1,
        store.create_user(&sys, "alice", "Alice A", &hash, Some((&gla.id, "nurse"))),
    )
    .await
    .expect("create user");
    assert_last_event(store, AuditAction::Create, "user", &uid).await;
    let u = audited(store, 0, store.user(&uid)).await.expect("user");
    assert_eq!(
        (
            u.username.as_str(),
            u.display_name.as_str(),
            u.password_hash.as_str(),
            u.disabled
        ),
        ("alice", "Alice A", hash.as_str(), false)
    );
    assert!(haven_app::auth::verify_password(
        "correct horse battery",
        &u.password_hash
    ));
    assert_eq!(store.user_by_name("alice").await.expect("by name"), u);
    assert!(is_not_found(&store.user_by_name("Alice-not").await));
    assert!(is_not_found(&store.user("no-such-id").await));

    let roles = audited(store, 0, store.roles(&uid)).await.expect("roles");
    assert_eq!(roles.len(), 1);
    assert_eq!(
        (
            roles[0].user_id.as_str(),
            roles[0].site_id.as_str(),
            roles[0].role.as_str()
        ),
        (uid.as_str(), gla.id.as_str(), "nurse")
    );

    let dup = audited(store, 0, store.create_user(&sys, "alice", "Other", DUMMY_HASH, None)).await;
    assert!(is_conflict(&dup), "duplicate username: {dup:?}");

    // A failing grant leaves no user behind: one transaction.
    let bad = audited(
        store,
        0,
        store.create_user(&sys, "bob", "Bob", DUMMY_HASH, Some((&gla.id, "janitor"))),
    )
    .await;
    assert!(bad.is_err(), "role outside the CHECK list: {bad:?}");
    assert!(is_not_found(&store.user_by_name("bob").await), "nothing half-written");
    let bob = store
        .create_user(&sys, "bob", "Bob", DUMMY_HASH, None)
        .await
        .expect("bob without a grant");
    assert!(store.roles(&bob).await.expect("roles").is_empty());

    audited(store, 1, store.set_role(&sys, &uid, &edi.id, "manager"))
        .await
        .expect("grant at edi");
    audited(store, 1, store.set_role(&sys, &uid, &gla.id, "worker"))
        .await
        .expect("change at gla");
    let mut roles: Vec<(String, String)> = store
        .roles(&uid)
        .await
        .expect("roles")
        .into_iter()
        .map(|r| (r.site_id, r.role))
        .collect();
    roles.sort();
    let mut expected = vec![
        (gla.id.clone(), "worker".to_string()),
        (edi.id.clone(), "manager".to_string()),
    ];
    expected.sort();
    assert_eq!(roles, expected);

    let staff = store.users_at_site(&gla.id).await.expect("users at site");
    assert_eq!(
        staff
            .iter()
            .map(|(u, r)| (u.username.as_str(), r.as_str()))
            .collect::<Vec<_>>(),
        [("alice", "worker")]
    );
    assert_chain(store).await;
});

fn session(id_hash: &str, user_id: &str, site_id: Option<&str>, at: OffsetDateTime) -> SessionRow {
    SessionRow {
        id_hash: id_hash.into(),
        user_id: user_id.into(),
        site_id: site_id.map(str::to_string),
        csrf_token: format!("csrf-{id_hash}"),
        created_at: at,
        last_seen_at: at,
    }
}

crate::contract_test!(sessions_end_on_logout_password_change_and_disable, |store| {
    let fx = fixture(store, "GLA").await;
    let other = second_user(store, &fx, "bystander").await;
    let other_id = other.actor_id.clone().expect("id");
    let sys = system();
    let now = clock::now();
    let s1 = session("hash-1", &fx.user, Some(&fx.site.id), now);
    audited(store, 0, store.create_session(&s1))
        .await
        .expect("create session");
    assert_eq!(
        audited(store, 0, store.session("hash-1")).await.expect("session"),
        s1,
        "reads back equal"
    );
    let later = now + Duration::minutes(5);
    audited(store, 0, store.touch_session("hash-1", later))
        .await
        .expect("touch");
    let touched = store.session("hash-1").await.expect("session");
    assert_eq!((touched.created_at, touched.last_seen_at), (now, later));
    assert_eq!(store.session_count(&fx.user).await.expect("count"), 1);
    audited(store, 0, store.delete_session("hash-1")).await.expect("delete");
    assert!(is_not_found(&store.session("hash-1").await));
    assert_eq!(store.session_count(&fx.user).await.expect("count"), 0);

    // A password change ends every session of that user, and only theirs.
    store
        .create_session(&session("hash-2", &fx.user, None, now))
        .await
        .expect("s2");
    store
        .create_session(&session("hash-3", &fx.user, Some(&fx.site.id), now))
        .await
        .expect("s3");
    store
        .create_session(&session("hash-other", &other_id, None, now))
        .await
        .expect("other");
    audited(store, 1, store.set_password(&sys, &fx.user, "new-hash"))
        .await
        .expect("set password");
    assert_last_event(store, AuditAction::Update, "user_password", &fx.user).await;
    assert!(is_not_found(&store.session("hash-2").await));
    assert!(is_not_found(&store.session("hash-3").await));
    assert!(
        store.session("hash-other").await.is_ok(),
        "another user's session survives"
    );
    assert_eq!(store.user(&fx.user).await.expect("user").password_hash, "new-hash");
    assert!(is_not_found(
        &audited(store, 0, store.set_password(&sys, "no-such-user", "x")).await
    ));

    // Disabling ends sessions and stops the user's API tokens.
    store
        .create_session(&session("hash-4", &fx.user, None, now))
        .await
        .expect("s4");
    store
        .create_token(&sys, &fx.user, "tok-hash", "laptop")
        .await
        .expect("token");
    assert_eq!(store.token_user("tok-hash").await.expect("live token"), fx.user);
    audited(store, 1, store.set_disabled(&sys, &fx.user, true))
        .await
        .expect("disable");
    assert_last_event(store, AuditAction::Update, "user_disabled", &fx.user).await;
    assert!(store.user(&fx.user).await.expect("user").disabled);
    assert!(is_not_found(&store.session("hash-4").await));
    assert_eq!(store.session_count(&fx.user).await.expect("count"), 0);
    assert!(
        is_not_found(&store.token_user("tok-hash").await),
        "a disabled user's token does not resolve"
    );
    assert_eq!(store.session_count(&other_id).await.expect("count"), 1);
    audited(store, 1, store.set_disabled(&sys, &fx.user, false))
        .await
        .expect("re-enable");
    assert!(!store.user(&fx.user).await.expect("user").disabled);
    assert!(is_not_found(
        &audited(store, 0, store.set_disabled(&sys, "no-such-user", true)).await
    ));

    // Purge: idle or too old sessions go, fresh ones stay.
    store
        .create_session(&session("idle", &fx.user, None, now - Duration::hours(2)))
        .await
        .expect("idle");
    store
        .create_session(&session("fresh", &fx.user, None, now))
        .await
        .expect("fresh");
    let purged = audited(
        store,
        0,
        store.purge_sessions(now - Duration::minutes(30), now - Duration::hours(12)),
    )
    .await
    .expect("purge");
    assert_eq!(purged, 1);
    assert!(is_not_found(&store.session("idle").await));
    assert!(store.session("fresh").await.is_ok());
    assert!(store.session("hash-other").await.is_ok());
    assert_chain(store).await;
});

crate::contract_test!(api_tokens_resolve_until_revoked, |store| {
    let fx = fixture(store, "GLA").await;
    let sys = system();
    let id = audited(store, 1, store.create_token(&sys, &fx.user, "hash-a", "cli"))
        .await
        .expect("create token");
    assert_last_event(store, AuditAction::Create, "api_token", &id).await;
    assert_eq!(
        audited(store, 0, store.token_user("hash-a")).await.expect("token user"),
        fx.user
    );
    assert!(is_not_found(&store.token_user("hash-b").await));
    let dup = audited(store, 0, store.create_token(&sys, &fx.user, "hash-a", "again")).await;
    assert!(dup.is_err(), "a token hash is unique: {dup:?}");
    let id_b = store
        .create_token(&sys, &fx.user, "hash-b", "phone")
        .await
        .expect("second token");

    let tokens = store.tokens(&fx.user).await.expect("tokens");
    assert_eq!(
        tokens
            .iter()
            .map(|t| (t.id.as_str(), t.label.as_str(), t.revoked_at.is_none()))
            .collect::<Vec<_>>(),
        [(id.as_str(), "cli", true), (id_b.as_str(), "phone", true)]
    );

    audited(store, 1, store.revoke_token(&sys, &id)).await.expect("revoke");
    assert_last_event(store, AuditAction::Void, "api_token", &id).await;
    assert!(
        is_not_found(&store.token_user("hash-a").await),
        "a revoked token does not resolve"
    );
    assert_eq!(
        store.token_user("hash-b").await.expect("other token still live"),
        fx.user
    );
    let again = audited(store, 0, store.revoke_token(&sys, &id)).await;
    assert!(is_not_found(&again), "revoking twice: {again:?}");
    assert!(is_not_found(&store.revoke_token(&sys, "no-such-token").await));
    let tokens = store.tokens(&fx.user).await.expect("tokens");
    assert!(
        tokens.iter().find(|t| t.id == id).expect("kept").revoked_at.is_some(),
        "revoked, not deleted"
    );
    assert_chain(store).await;
});

// ---------------------------------------------------------------- 3. clients

crate::contract_test!(client_codes_are_numbered_per_site_in_sequence, |store| {
    let fx = fixture(store, "GLA").await;
    let edi = fixture(store, "EDI").await;
    let mut rec = client_rec(1979, Some("Shug"));
    rec.flags = vec!["history_of_overdose".into()];
    let c1 = audited(store, 1, store.create_client(&fx.ctx, &fx.site.id, &rec))
        .await
        .expect("first");
    assert_last_event(store, AuditAction::Create, "client", &c1.id).await;
    let c2 = audited(
        store,
        1,
        store.create_client(&fx.ctx, &fx.site.id, &client_rec(1990, None)),
    )
    .await
    .expect("second");
    assert_eq!((c1.code.as_str(), c2.code.as_str()), ("GLA-000001", "GLA-000002"));
    assert_eq!(
        (
            c1.site_id.as_str(),
            c1.year_of_birth,
            c1.gender.as_str(),
            c1.home_area.as_str(),
            c1.alias.as_deref()
        ),
        (fx.site.id.as_str(), 1979, "male", "G1", Some("Shug"))
    );
    assert_eq!(c1.flag_list(), ["history_of_overdose"]);
    assert_eq!(c1.merged_into, None);
    assert!((clock::now() - c1.registered_at).abs() < Duration::minutes(1));
    assert_eq!(store.client(&fx.site.id, &c1.id).await.expect("read back"), c1);
    assert_eq!(
        store.client_by_code(&fx.site.id, "gla-000002").await.expect("by code"),
        c2
    );

    // Each site has its own sequence.
    let e1 = store
        .create_client(&edi.ctx, &edi.site.id, &client_rec(1980, None))
        .await
        .expect("edi first");
    assert_eq!(e1.code, "EDI-000001");
    let c3 = new_client(store, &fx, None).await;
    assert_eq!(c3.code, "GLA-000003");
    assert_eq!(store.client_count(&fx.site.id).await.expect("count"), 3);

    let r = audited(
        store,
        0,
        store.create_client(&fx.ctx, "no-such-site", &client_rec(1980, None)),
    )
    .await;
    assert!(is_not_found(&r), "{r:?}");
    assert_chain(store).await;
});

crate::contract_test!(concurrent_registrations_get_distinct_codes, |store| {
    let fx = fixture(store, "GLA").await;
    let before = head(store).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = store.clone();
        let ctx = fx.ctx.clone();
        let site = fx.site.id.clone();
        tasks.push(tokio::spawn(async move {
            store.create_client(&ctx, &site, &client_rec(1970 + i, None)).await
        }));
    }
    let mut got = BTreeSet::new();
    for t in tasks {
        let row = t.await.expect("task").expect("every registration succeeds");
        got.insert(row.code);
    }
    let expected: BTreeSet<String> = (1..=20).map(|n| format!("GLA-{n:06}")).collect();
    assert_eq!(got, expected, "20 distinct codes, no gaps");
    assert_eq!(head(store).await - before, 20);
    assert_eq!(store.client_count(&fx.site.id).await.expect("count"), 20);
    assert_chain(store).await;
});

crate::contract_test!(duplicate_client_codes_conflict, |store| {
    let fx = fixture(store, "GLA").await;
    let other = fixture(store, "EDI").await;
    let mut computed = client_rec(1985, None);
    computed.code = Some("MSMIT1985".into());
    let c = audited(store, 1, store.create_client(&fx.ctx, &fx.site.id, &computed))
        .await
        .expect("computed code");
    assert_eq!(c.code, "MSMIT1985");
    let dup = audited(store, 0, store.create_client(&fx.ctx, &fx.site.id, &computed)).await;
    assert!(is_conflict(&dup), "same computed code again: {dup:?}");
    // The same code at another site is another person.
    store
        .create_client(&other.ctx, &other.site.id, &computed)
        .await
        .expect("same code, other site");

    // A code that the sequence would hand out next, already taken: the
    // sequence skips it instead of blocking every later registration.
    let a = new_client(store, &fx, None).await;
    assert_eq!(a.code, "GLA-000001");
    let mut taken = client_rec(1985, None);
    taken.code = Some("GLA-000002".into());
    store
        .create_client(&fx.ctx, &fx.site.id, &taken)
        .await
        .expect("explicit code");
    let next = audited(
        store,
        1,
        store.create_client(&fx.ctx, &fx.site.id, &client_rec(1990, None)),
    )
    .await
    .expect("the sequence skips a taken number");
    assert_eq!(next.code, "GLA-000003");
    assert_eq!(
        store.client_count(&fx.site.id).await.expect("count"),
        4,
        "one row per registration"
    );
    assert_chain(store).await;
});

crate::contract_test!(identity_lives_apart_and_every_read_is_audited, |store| {
    let fx = fixture(store, "GLA").await;
    let other = fixture(store, "EDI").await;
    let mut rec = client_rec(1985, Some("Jo"));
    rec.identity = Some(Identity {
        name: Some("Joanna Example".into()),
        chi: Some("0101851234".into()),
        other_number: None,
    });
    let c = audited(store, 1, store.create_client(&fx.ctx, &fx.site.id, &rec))
        .await
        .expect("create");
    let plain = new_client(store, &fx, None).await;
    let shown = format!("{:?}", store.client(&fx.site.id, &c.id).await.expect("client"));
    assert!(
        !shown.contains("Joanna") && !shown.contains("0101851234"),
        "the client record holds no identity: {shown}"
    );
    // Exactly one identity row exists, in its own table.
    assert_eq!(
        store
            .execute_raw_for_tests("UPDATE client_identities SET name = name")
            .await
            .expect("count"),
        1
    );

    let idn = audited(store, 1, store.identity_audited(&fx.ctx, &fx.site.id, &c.id))
        .await
        .expect("identity");
    let idn = idn.expect("identity stored");
    assert_eq!(
        (
            idn.client_id.as_str(),
            idn.name.as_deref(),
            idn.chi.as_deref(),
            idn.other_number.as_deref()
        ),
        (c.id.as_str(), Some("Joanna Example"), Some("0101851234"), None)
    );
    let ev = last_event(store).await;
    assert_eq!(
        (ev.action.as_str(), ev.subject_type.as_str()),
        ("read", "client_identity")
    );
    assert_eq!(ev.subject_id.as_deref(), Some(c.id.as_str()));
    assert_eq!(ev.actor_id, fx.ctx.actor_id, "who read it");

    // No identity: nothing returned, nothing read.
    assert_eq!(
        audited(store, 0, store.identity_audited(&fx.ctx, &fx.site.id, &plain.id))
            .await
            .expect("none"),
        None
    );
    // Another site cannot read it.
    assert_eq!(
        audited(store, 0, store.identity_audited(&other.ctx, &other.site.id, &c.id))
            .await
            .expect("scoped"),
        None
    );

    // Reading the client record itself is audited too.
    let read = audited(store, 1, store.client_audited(&fx.ctx, &fx.site.id, &c.id))
        .await
        .expect("read");
    assert_eq!(read, store.client(&fx.site.id, &c.id).await.expect("client"));
    assert_last_event(store, AuditAction::Read, "client", &c.id).await;
    assert_chain(store).await;
});

crate::contract_test!(search_finds_by_code_or_alias_prefix_ignoring_case_and_merged, |store| {
    let fx = fixture(store, "GLA").await;
    let shug = new_client(store, &fx, Some("Shug")).await;
    let shuggie = new_client(store, &fx, Some("Shuggie")).await;
    let tam = new_client(store, &fx, Some("Tam")).await;
    let _none = new_client(store, &fx, None).await;

    let r = audited(store, 0, store.search_clients(&fx.site.id, "gla-00000", 25))
        .await
        .expect("search");
    assert_eq!(
        codes(&r),
        ["GLA-000001", "GLA-000002", "GLA-000003", "GLA-000004"],
        "by code prefix, in code order"
    );
    assert_eq!(
        codes(
            &store
                .search_clients(&fx.site.id, "GLA-000003", 25)
                .await
                .expect("search")
        ),
        [tam.code.as_str()]
    );
    assert_eq!(
        store
            .search_clients(&fx.site.id, "gla-00000", 2)
            .await
            .expect("limit")
            .len(),
        2
    );
    for q in ["shu", "SHU", "Shu", " sHuG "] {
        let r = store.search_clients(&fx.site.id, q, 25).await.expect("search");
        assert_eq!(
            codes(&r),
            [shug.code.as_str(), shuggie.code.as_str()],
            "alias prefix {q:?}"
        );
    }
    assert_eq!(
        codes(&store.search_clients(&fx.site.id, "shugg", 25).await.expect("s")),
        [shuggie.code.as_str()]
    );
    assert!(
        store
            .search_clients(&fx.site.id, "hug", 25)
            .await
            .expect("s")
            .is_empty(),
        "prefix, not substring"
    );

    store
        .merge_clients(&fx.ctx, &fx.site.id, &shuggie.id, &shug.id, "same person")
        .await
        .expect("merge");
    let r = store.search_clients(&fx.site.id, "shu", 25).await.expect("search");
    assert_eq!(codes(&r), [shug.code.as_str()], "a merged-away record is not offered");
    assert!(
        store
            .search_clients(&fx.site.id, &shuggie.code, 25)
            .await
            .expect("s")
            .is_empty()
    );
});

crate::contract_test!(search_input_with_sql_or_like_metacharacters_matches_nothing, |store| {
    let fx = fixture(store, "GLA").await;
    new_client(store, &fx, Some("Shug")).await;
    new_client(store, &fx, Some("Tam")).await;
    new_client(store, &fx, None).await;
    for q in [
        "%",
        "_",
        "%%",
        "__________",
        "'",
        "\"",
        "\"; DROP TABLE clients; --",
        "'; DROP TABLE clients; --",
        "' OR '1'='1",
        "%-000001",
        "_LA-000001",
        "Sh%g",
        "_hug",
        "\\",
    ] {
        let r = audited(store, 0, store.search_clients(&fx.site.id, q, 25)).await;
        let r = r.unwrap_or_else(|e| panic!("search {q:?} errored: {e}"));
        assert!(r.is_empty(), "search {q:?} matched {:?}", codes(&r));
    }
    assert_eq!(
        store.client_count(&fx.site.id).await.expect("the table is still there"),
        3
    );
    assert_eq!(
        store
            .search_clients(&fx.site.id, "gla", 25)
            .await
            .expect("search")
            .len(),
        3
    );
});

crate::contract_test!(clients_born_between_is_inclusive_and_skips_merged, |store| {
    let fx = fixture(store, "GLA").await;
    let other = fixture(store, "EDI").await;
    let mut by_year = Vec::new();
    for y in [1979, 1980, 1985, 1990, 1991] {
        by_year.push(
            store
                .create_client(&fx.ctx, &fx.site.id, &client_rec(y, None))
                .await
                .expect("client"),
        );
    }
    store
        .create_client(&other.ctx, &other.site.id, &client_rec(1985, None))
        .await
        .expect("other site");
    let years = |rows: Vec<ClientRow>| {
        let mut y: Vec<i32> = rows.iter().map(|r| r.year_of_birth).collect();
        y.sort_unstable();
        y
    };
    let r = audited(store, 0, store.clients_born_between(&fx.site.id, 1980, 1990))
        .await
        .expect("between");
    assert!(r.iter().all(|c| c.site_id == fx.site.id), "only this site");
    assert_eq!(years(r), [1980, 1985, 1990]);
    store
        .merge_clients(&fx.ctx, &fx.site.id, &by_year[2].id, &by_year[1].id, "same")
        .await
        .expect("merge");
    assert_eq!(
        years(
            store
                .clients_born_between(&fx.site.id, 1980, 1990)
                .await
                .expect("between")
        ),
        [1980, 1990]
    );
    assert!(
        store
            .clients_born_between(&fx.site.id, 2000, 2010)
            .await
            .expect("between")
            .is_empty()
    );
});

crate::contract_test!(client_reads_are_scoped_by_site, |store| {
    let a = fixture(store, "GLA").await;
    let b = fixture(store, "EDI").await;
    let ca = new_client(store, &a, Some("Shug")).await;
    let cb = new_client(store, &b, Some("Shug")).await;
    let va = new_visit(store, &a, &ca.id, clock::now() - Duration::minutes(10)).await;

    assert!(is_not_found(&store.client(&b.site.id, &ca.id).await));
    assert!(is_not_found(
        &audited(store, 0, store.client_audited(&b.ctx, &b.site.id, &ca.id)).await
    ));
    assert!(is_not_found(&store.client_by_code(&b.site.id, &ca.code).await));
    let found = store.search_clients(&b.site.id, "shug", 25).await.expect("search");
    assert_eq!(
        found.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        [cb.id.as_str()]
    );
    assert!(
        store
            .search_clients(&b.site.id, "GLA", 25)
            .await
            .expect("search")
            .is_empty()
    );
    assert_eq!(store.client_count(&b.site.id).await.expect("count"), 1);

    assert!(is_not_found(&store.visit(&b.site.id, &va.id).await));
    assert_eq!(store.visit_site(&va.id).await.expect("visit site"), a.site.id);
    assert!(
        store
            .visits_of_clients(&b.site.id, std::slice::from_ref(&ca.id), 10)
            .await
            .expect("visits")
            .is_empty()
    );
    let day = (clock::now() - Duration::days(1), clock::now() + Duration::days(1));
    assert!(
        store
            .visits_between(&b.site.id, day.0, day.1, None, 100)
            .await
            .expect("visits")
            .is_empty()
    );
    assert_eq!(store.visit_count(&b.site.id).await.expect("count"), 0);
    // Writes through the wrong site change nothing.
    assert!(
        audited(store, 0, store.check_out(&b.ctx, &b.site.id, &va.id, clock::now()))
            .await
            .is_err()
    );
    assert!(
        audited(store, 0, store.void_visit(&b.ctx, &b.site.id, &va.id, "wrong site"))
            .await
            .is_err()
    );
    let v = store.visit(&a.site.id, &va.id).await.expect("visit");
    assert_eq!((v.left_at, v.voided_at), (None, None));
});

// --------------------------------------------------------- 4. merge/unmerge

crate::contract_test!(merge_hides_the_record_and_unmerge_restores_it, |store| {
    let fx = fixture(store, "GLA").await;
    let keep = new_client(store, &fx, Some("Tam")).await;
    let dup = new_client(store, &fx, Some("Tammy")).await;
    let merge_id = audited(
        store,
        1,
        store.merge_clients(&fx.ctx, &fx.site.id, &dup.id, &keep.id, "same person"),
    )
    .await
    .expect("merge");
    assert_last_event(store, AuditAction::Merge, "client", &dup.id).await;
    assert_eq!(
        store
            .client(&fx.site.id, &dup.id)
            .await
            .expect("still stored")
            .merged_into,
        Some(keep.id.clone())
    );
    assert_eq!(
        store.client(&fx.site.id, &keep.id).await.expect("keep").merged_into,
        None
    );
    assert_eq!(
        audited(store, 0, store.merged_ids(&keep.id)).await.expect("merged ids"),
        std::slice::from_ref(&dup.id)
    );
    assert!(store.merged_ids(&dup.id).await.expect("merged ids").is_empty());
    assert_eq!(
        codes(&store.search_clients(&fx.site.id, "tam", 25).await.expect("search")),
        [keep.code.as_str()]
    );
    assert_eq!(store.client_count(&fx.site.id).await.expect("count"), 1);

    for subject in [&keep.id, &dup.id] {
        let merges = audited(store, 0, store.merges_for(subject)).await.expect("merges");
        assert_eq!(merges.len(), 1);
        let m = &merges[0];
        assert_eq!(
            (
                m.id.as_str(),
                m.from_client_id.as_str(),
                m.from_code.as_str(),
                m.into_client_id.as_str(),
                m.into_code.as_str()
            ),
            (
                merge_id.as_str(),
                dup.id.as_str(),
                dup.code.as_str(),
                keep.id.as_str(),
                keep.code.as_str()
            )
        );
        assert_eq!((m.reason.as_str(), m.undone_at), ("same person", None));
    }
    // A merged-away client takes no new visits.
    let r = audited(
        store,
        0,
        store.create_visit(&fx.ctx, &fx.site.id, &visit_rec(&dup.id, clock::now())),
    )
    .await;
    assert!(is_not_found(&r), "{r:?}");

    audited(store, 1, store.unmerge(&fx.ctx, &fx.site.id, &merge_id))
        .await
        .expect("unmerge");
    assert_last_event(store, AuditAction::Unmerge, "client", &dup.id).await;
    assert_eq!(store.client(&fx.site.id, &dup.id).await.expect("dup").merged_into, None);
    assert!(store.merged_ids(&keep.id).await.expect("merged ids").is_empty());
    assert_eq!(
        store
            .search_clients(&fx.site.id, "tam", 25)
            .await
            .expect("search")
            .len(),
        2
    );
    let merges = store.merges_for(&dup.id).await.expect("merges");
    assert_eq!(merges.len(), 1, "the undone merge stays on record");
    assert!(merges[0].undone_at.is_some());
    let again = audited(store, 0, store.unmerge(&fx.ctx, &fx.site.id, &merge_id)).await;
    assert!(is_not_found(&again), "undoing twice: {again:?}");
    assert_chain(store).await;
});

crate::contract_test!(invalid_merges_conflict_and_change_nothing, |store| {
    let a = fixture(store, "GLA").await;
    let b = fixture(store, "EDI").await;
    let x = new_client(store, &a, None).await;
    let y = new_client(store, &a, None).await;
    let z = new_client(store, &a, None).await;
    let other = new_client(store, &b, None).await;

    let r = audited(store, 0, store.merge_clients(&a.ctx, &a.site.id, &x.id, &x.id, "self")).await;
    assert!(is_conflict(&r), "into itself: {r:?}");
    let r = audited(
        store,
        0,
        store.merge_clients(&a.ctx, &a.site.id, &x.id, &other.id, "across"),
    )
    .await;
    assert!(is_conflict(&r), "across sites, from A's side: {r:?}");
    let r = audited(
        store,
        0,
        store.merge_clients(&b.ctx, &b.site.id, &other.id, &x.id, "across"),
    )
    .await;
    assert!(is_conflict(&r), "across sites, from B's side: {r:?}");
    let r = audited(
        store,
        0,
        store.merge_clients(&a.ctx, &a.site.id, &x.id, "no-such-client", "missing"),
    )
    .await;
    assert!(is_conflict(&r), "missing target: {r:?}");
    assert_eq!(store.client(&a.site.id, &x.id).await.expect("x").merged_into, None);
    assert_eq!(
        store.client(&b.site.id, &other.id).await.expect("other").merged_into,
        None
    );

    let m = store
        .merge_clients(&a.ctx, &a.site.id, &x.id, &y.id, "dup")
        .await
        .expect("merge");
    let r = audited(store, 0, store.merge_clients(&a.ctx, &a.site.id, &x.id, &y.id, "again")).await;
    assert!(is_conflict(&r), "merging twice: {r:?}");
    let r = audited(
        store,
        0,
        store.merge_clients(&a.ctx, &a.site.id, &x.id, &z.id, "elsewhere"),
    )
    .await;
    assert!(is_conflict(&r), "merging a merged-away record again: {r:?}");
    let r = audited(
        store,
        0,
        store.merge_clients(&a.ctx, &a.site.id, &z.id, &x.id, "into merged"),
    )
    .await;
    assert!(is_conflict(&r), "merging into a merged-away record: {r:?}");
    assert_eq!(
        store.client(&a.site.id, &x.id).await.expect("x").merged_into,
        Some(y.id.clone())
    );
    assert_eq!(store.merges_for(&x.id).await.expect("merges").len(), 1);
    // Another site cannot undo this site's merge.
    let r = audited(store, 0, store.unmerge(&b.ctx, &b.site.id, &m)).await;
    assert!(is_not_found(&r), "{r:?}");
    assert_eq!(
        store.client(&a.site.id, &x.id).await.expect("x").merged_into,
        Some(y.id.clone())
    );
    assert_chain(store).await;
});

// ---------------------------------------------------------------- 5. visits

crate::contract_test!(visits_read_back_equal_to_the_microsecond, |store| {
    let fx = fixture(store, "GLA").await;
    let c = new_client(store, &fx, None).await;
    let arrived = datetime!(2025-03-04 10:11:12.123456 UTC);
    let rec = visit_rec(&c.id, arrived);
    let (v, created) = audited(store, 1, store.create_visit(&fx.ctx, &fx.site.id, &rec))
        .await
        .expect("visit");
    assert_eq!(created, Created::New);
    assert_last_event(store, AuditAction::Create, "visit", &v.id).await;
    assert_eq!(
        (
            v.site_id.as_str(),
            v.client_id.as_str(),
            v.client_code.as_str(),
            v.status.as_str(),
            v.route.as_deref(),
            v.otherwise_place.as_deref(),
            v.refusal_reason.as_deref(),
            v.created_by.as_str()
        ),
        (
            fx.site.id.as_str(),
            c.id.as_str(),
            "GLA-000001",
            "attended",
            Some("injection"),
            Some("public"),
            None,
            fx.user.as_str()
        )
    );
    assert_eq!(v.arrived_at, arrived, "exact to the microsecond");
    assert_eq!(v.arrived_at.nanosecond(), 123_456_000);
    assert_eq!(v.substance_list(), ["heroin", "cocaine"]);
    assert_eq!((v.left_at, v.voided_at, v.void_reason.as_deref()), (None, None, None));
    assert_eq!(
        audited(store, 0, store.visit(&fx.site.id, &v.id)).await.expect("read"),
        v
    );

    // Check-out time round-trips exactly as well.
    let left = datetime!(2025-03-04 10:41:00.000001 UTC);
    audited(store, 1, store.check_out(&fx.ctx, &fx.site.id, &v.id, left))
        .await
        .expect("check out");
    assert_eq!(store.visit(&fx.site.id, &v.id).await.expect("read").left_at, Some(left));

    // A refusal.
    let refused = NewVisitRecord {
        status: "refused",
        substances: vec![],
        route: None,
        otherwise_place: None,
        refusal_reason: Some("intoxicated".into()),
        ..visit_rec(&c.id, clock::now())
    };
    let (r, _) = audited(store, 1, store.create_visit(&fx.ctx, &fx.site.id, &refused))
        .await
        .expect("refusal");
    assert_eq!(
        (r.status.as_str(), r.refusal_reason.as_deref(), r.substance_list().len()),
        ("refused", Some("intoxicated"), 0)
    );
    assert_eq!(
        audited(store, 0, store.visit_count(&fx.site.id)).await.expect("count"),
        2
    );
    let mine = store
        .visits_of_clients(&fx.site.id, std::slice::from_ref(&c.id), 10)
        .await
        .expect("visits of client");
    assert_eq!(ids(&mine), [r.id.as_str(), v.id.as_str()], "newest first");
    // Audit times carry microseconds too, so the chain still verifies.
    assert_chain(store).await;
});

crate::contract_test!(an_idempotency_key_replays_the_first_visit, |store| {
    let fx = fixture(store, "GLA").await;
    let nurse = second_user(store, &fx, "nurse").await;
    let c = new_client(store, &fx, None).await;
    let mut rec = visit_rec(&c.id, clock::now());
    rec.idempotency_key = Some("key-1".into());
    let (first, created) = audited(store, 1, store.create_visit(&fx.ctx, &fx.site.id, &rec))
        .await
        .expect("first");
    assert_eq!(created, Created::New);
    let mut retry = rec.clone();
    retry.arrived_at = rec.arrived_at + Duration::seconds(3);
    let (second, created) = audited(store, 0, store.create_visit(&fx.ctx, &fx.site.id, &retry))
        .await
        .expect("retry");
    assert_eq!(created, Created::Replayed);
    assert_eq!(second, first, "the first visit, unchanged");
    assert_eq!(store.visit_count(&fx.site.id).await.expect("count"), 1);
    // Keys belong to the user who sent them.
    let (theirs, created) = store.create_visit(&nurse, &fx.site.id, &rec).await.expect("other user");
    assert_eq!(created, Created::New);
    assert_ne!(theirs.id, first.id);
    assert_eq!(store.visit_count(&fx.site.id).await.expect("count"), 2);
    assert_chain(store).await;
});

crate::contract_test!(concurrent_requests_with_one_key_make_one_visit, |store| {
    let fx = fixture(store, "GLA").await;
    let c = new_client(store, &fx, None).await;
    let mut rec = visit_rec(&c.id, clock::now());
    rec.idempotency_key = Some("same-key".into());
    let before = head(store).await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let store = store.clone();
        let ctx = fx.ctx.clone();
        let site = fx.site.id.clone();
        let rec = rec.clone();
        tasks.push(tokio::spawn(async move { store.create_visit(&ctx, &site, &rec).await }));
    }
    let mut new = 0;
    let mut ids = BTreeSet::new();
    for t in tasks {
        let (v, created) = t.await.expect("task").expect("every request succeeds");
        if created == Created::New {
            new += 1;
        }
        ids.insert(v.id);
    }
    assert_eq!(new, 1, "exactly one request wrote");
    assert_eq!(ids.len(), 1, "all got the same visit");
    assert_eq!(store.visit_count(&fx.site.id).await.expect("count"), 1);
    assert_eq!(head(store).await - before, 1);
    assert_chain(store).await;
});

crate::contract_test!(check_out_and_void_happen_once, |store| {
    let fx = fixture(store, "GLA").await;
    let c = new_client(store, &fx, None).await;
    let arrived = clock::now() - Duration::minutes(30);
    let v = new_visit(store, &fx, &c.id, arrived).await;
    let left = arrived + Duration::minutes(20);
    audited(store, 1, store.check_out(&fx.ctx, &fx.site.id, &v.id, left))
        .await
        .expect("check out");
    assert_last_event(store, AuditAction::Update, "visit", &v.id).await;
    assert_eq!(store.visit(&fx.site.id, &v.id).await.expect("read").left_at, Some(left));
    let again = audited(
        store,
        0,
        store.check_out(&fx.ctx, &fx.site.id, &v.id, left + Duration::minutes(5)),
    )
    .await;
    assert!(is_conflict(&again), "second check-out: {again:?}");
    assert_eq!(
        store.visit(&fx.site.id, &v.id).await.expect("read").left_at,
        Some(left),
        "first time kept"
    );

    audited(store, 1, store.void_visit(&fx.ctx, &fx.site.id, &v.id, "wrong client"))
        .await
        .expect("void");
    assert_last_event(store, AuditAction::Void, "visit", &v.id).await;
    let voided = store.visit(&fx.site.id, &v.id).await.expect("still stored");
    assert!(voided.voided_at.is_some());
    assert_eq!(voided.void_reason.as_deref(), Some("wrong client"));
    let again = audited(store, 0, store.void_visit(&fx.ctx, &fx.site.id, &v.id, "again")).await;
    assert!(is_conflict(&again), "second void: {again:?}");
    assert_eq!(
        store
            .visit(&fx.site.id, &v.id)
            .await
            .expect("read")
            .void_reason
            .as_deref(),
        Some("wrong client")
    );

    // An open visit that is voided cannot then be checked out.
    let open = new_visit(store, &fx, &c.id, clock::now()).await;
    store
        .void_visit(&fx.ctx, &fx.site.id, &open.id, "duplicate")
        .await
        .expect("void open");
    let r = audited(store, 0, store.check_out(&fx.ctx, &fx.site.id, &open.id, clock::now())).await;
    assert!(is_conflict(&r), "check-out of a voided visit: {r:?}");
    assert_eq!(store.visit(&fx.site.id, &open.id).await.expect("read").left_at, None);
    assert_eq!(
        store.visit_count(&fx.site.id).await.expect("count"),
        2,
        "voided visits stay stored"
    );
    assert_chain(store).await;
});

crate::contract_test!(visits_between_is_half_open_newest_first_and_filters_by_code, |store| {
    let fx = fixture(store, "GLA").await;
    let c1 = new_client(store, &fx, None).await;
    let c2 = new_client(store, &fx, None).await;
    let from = datetime!(2025-06-01 08:00:00 UTC);
    let to = datetime!(2025-06-01 20:00:00 UTC);
    let before = new_visit(store, &fx, &c1.id, from - Duration::microseconds(1)).await;
    let at_from = new_visit(store, &fx, &c1.id, from).await;
    let mid = new_visit(store, &fx, &c2.id, from + Duration::hours(3)).await;
    let last = new_visit(store, &fx, &c1.id, to - Duration::microseconds(1)).await;
    let at_to = new_visit(store, &fx, &c2.id, to).await;

    let r = audited(store, 0, store.visits_between(&fx.site.id, from, to, None, 100))
        .await
        .expect("between");
    assert_eq!(
        ids(&r),
        [last.id.as_str(), mid.id.as_str(), at_from.id.as_str()],
        "[from, to), newest first"
    );
    let all = store
        .visits_between(&fx.site.id, from - Duration::days(1), to + Duration::days(1), None, 100)
        .await
        .expect("all");
    assert_eq!(
        ids(&all),
        [
            at_to.id.as_str(),
            last.id.as_str(),
            mid.id.as_str(),
            at_from.id.as_str(),
            before.id.as_str()
        ]
    );
    assert_eq!(
        ids(&store
            .visits_between(&fx.site.id, from, to, None, 1)
            .await
            .expect("limit")),
        [last.id.as_str()]
    );

    let only2 = store
        .visits_between(&fx.site.id, from, to + Duration::hours(1), Some("gla-000002"), 100)
        .await
        .expect("prefix");
    assert_eq!(ids(&only2), [at_to.id.as_str(), mid.id.as_str()]);
    assert!(only2.iter().all(|v| v.client_code == c2.code));
    let prefixed = store
        .visits_between(&fx.site.id, from, to, Some("GLA-"), 100)
        .await
        .expect("prefix");
    assert_eq!(prefixed.len(), 3);
    assert!(
        store
            .visits_between(&fx.site.id, from, to, Some("EDI"), 100)
            .await
            .expect("prefix")
            .is_empty()
    );
    // LIKE wildcards in the prefix are not wildcards.
    assert!(
        store
            .visits_between(&fx.site.id, from, to, Some("_LA"), 100)
            .await
            .expect("prefix")
            .is_empty()
    );
    assert!(
        store
            .visits_between(&fx.site.id, to, from, None, 100)
            .await
            .expect("empty range")
            .is_empty()
    );
});

crate::contract_test!(visits_between_orders_and_bounds_sub_second_times, |store| {
    // Real arrival times carry microseconds while day bounds are whole seconds.
    let fx = fixture(store, "GLA").await;
    let c = new_client(store, &fx, None).await;
    let from = datetime!(2025-06-01 11:00:00 UTC);
    let to = datetime!(2025-06-01 12:00:00 UTC);
    let whole = new_visit(store, &fx, &c.id, datetime!(2025-06-01 11:30:00 UTC)).await;
    let half = new_visit(store, &fx, &c.id, datetime!(2025-06-01 11:30:00.5 UTC)).await;
    let late = new_visit(store, &fx, &c.id, datetime!(2025-06-01 11:59:59.25 UTC)).await;
    new_visit(store, &fx, &c.id, datetime!(2025-06-01 12:00:00.5 UTC)).await;
    new_visit(store, &fx, &c.id, datetime!(2025-06-01 10:59:59.999999 UTC)).await;
    new_visit(store, &fx, &c.id, datetime!(2025-06-01 12:30:00 UTC)).await;
    let newest = new_visit(store, &fx, &c.id, datetime!(2025-06-01 12:30:00.5 UTC)).await;
    let r = store
        .visits_between(&fx.site.id, from, to, None, 100)
        .await
        .expect("between");
    assert_eq!(
        r.iter().map(|v| v.arrived_at).collect::<Vec<_>>(),
        [late.arrived_at, half.arrived_at, whole.arrived_at],
        "visits in [11:00, 12:00), newest first"
    );
    let of_client = store
        .visits_of_clients(&fx.site.id, std::slice::from_ref(&c.id), 1)
        .await
        .expect("visits of client");
    assert_eq!(ids(&of_client), [newest.id.as_str()], "the newest visit of the client");
});

crate::contract_test!(a_failed_visit_writes_nothing, |store| {
    let a = fixture(store, "GLA").await;
    let b = fixture(store, "EDI").await;
    let ca = new_client(store, &a, None).await;
    let cb = new_client(store, &b, None).await;
    new_visit(store, &a, &ca.id, clock::now()).await;
    let count = |s: &str| {
        let s = s.to_string();
        async move { store.visit_count(&s).await.expect("count") }
    };
    let (na, nb) = (count(&a.site.id).await, count(&b.site.id).await);

    // A client of another site: NotFound, both through A's and B's eyes.
    let r = audited(
        store,
        0,
        store.create_visit(&a.ctx, &a.site.id, &visit_rec(&cb.id, clock::now())),
    )
    .await;
    assert!(is_not_found(&r), "{r:?}");
    let r = audited(
        store,
        0,
        store.create_visit(&a.ctx, &b.site.id, &visit_rec(&ca.id, clock::now())),
    )
    .await;
    assert!(is_not_found(&r), "{r:?}");
    let r = audited(
        store,
        0,
        store.create_visit(&a.ctx, &a.site.id, &visit_rec("no-such-client", clock::now())),
    )
    .await;
    assert!(is_not_found(&r), "{r:?}");
    // A value the schema refuses, and an unknown recording user: the database refuses, nothing stays.
    let mut bad = visit_rec(&ca.id, clock::now());
    bad.otherwise_place = Some("nowhere".into());
    bad.idempotency_key = Some("k-bad".into());
    let r = audited(store, 0, store.create_visit(&a.ctx, &a.site.id, &bad)).await;
    assert!(matches!(r, Err(StoreError::Database(_))), "{r:?}");
    let mut ghost = a.ctx.clone();
    ghost.actor_id = Some("no-such-user".into());
    let r = audited(
        store,
        0,
        store.create_visit(&ghost, &a.site.id, &visit_rec(&ca.id, clock::now())),
    )
    .await;
    assert!(matches!(r, Err(StoreError::Database(_))), "{r:?}");

    assert_eq!(
        (count(&a.site.id).await, count(&b.site.id).await),
        (na, nb),
        "no visit written"
    );
    // The failed keyed request did not reserve its key.
    let mut ok = visit_rec(&ca.id, clock::now());
    ok.idempotency_key = Some("k-bad".into());
    let (_, created) = store.create_visit(&a.ctx, &a.site.id, &ok).await.expect("key is free");
    assert_eq!(created, Created::New);
    assert_chain(store).await;
});

// ---------------------------------------------------------------- 6. audit

crate::contract_test!(reads_append_no_audit_events_and_audited_reads_one, |store| {
    let fx = fixture(store, "GLA").await;
    let c = new_client(store, &fx, Some("Shug")).await;
    let v = new_visit(store, &fx, &c.id, clock::now()).await;
    store
        .create_token(&system(), &fx.user, "tok", "cli")
        .await
        .expect("token");
    store
        .create_session(&session("sess", &fx.user, None, clock::now()))
        .await
        .expect("session");
    let site = fx.site.id.as_str();
    let now = clock::now();
    let before = head(store).await;
    store.site(site).await.expect("site");
    store.site_by_code("GLA").await.expect("site by code");
    store.sites().await.expect("sites");
    store.spaces(site).await.expect("spaces");
    store.user(&fx.user).await.expect("user");
    store.user_by_name("worker-gla").await.expect("user by name");
    store.roles(&fx.user).await.expect("roles");
    store.users_at_site(site).await.expect("users at site");
    store.session("sess").await.expect("session");
    store.session_count(&fx.user).await.expect("session count");
    store.tokens(&fx.user).await.expect("tokens");
    store.token_user("tok").await.expect("token user");
    store.client(site, &c.id).await.expect("client");
    store.client_by_code(site, &c.code).await.expect("client by code");
    store.search_clients(site, "shu", 10).await.expect("search");
    store
        .clients_born_between(site, 1900, 2100)
        .await
        .expect("born between");
    store.client_count(site).await.expect("client count");
    store.merged_ids(&c.id).await.expect("merged ids");
    store.merges_for(&c.id).await.expect("merges");
    store.visit(site, &v.id).await.expect("visit");
    store.visit_site(&v.id).await.expect("visit site");
    store
        .visits_between(site, now - Duration::days(1), now + Duration::days(1), None, 10)
        .await
        .expect("between");
    store
        .visits_of_clients(site, std::slice::from_ref(&c.id), 10)
        .await
        .expect("of clients");
    store.visit_count(site).await.expect("visit count");
    store.audit_page(0, 10).await.expect("audit page");
    store
        .audit_for_subject("client", &c.id, 10)
        .await
        .expect("audit for subject");
    store.audit_count("create").await.expect("audit count");
    haven_store::verify_audit(store).await.expect("verify").expect("chain");
    assert_eq!(head(store).await, before, "reads append nothing");

    audited(store, 1, store.client_audited(&fx.ctx, site, &c.id))
        .await
        .expect("audited read");
    let e = last_event(store).await;
    assert_eq!(
        (e.actor_id.as_deref(), e.actor_name.as_str(), e.role.as_deref()),
        (Some(fx.user.as_str()), "worker-gla", Some("worker"))
    );
    assert_eq!(
        (e.site_id.as_deref(), e.request_id.as_deref()),
        (Some(site), Some("req-GLA"))
    );
    assert!((clock::now() - e.at).abs() < Duration::minutes(1));
    assert!(is_not_found(
        &audited(store, 0, store.client_audited(&fx.ctx, site, "no-such-client")).await
    ));

    // store.audit appends exactly one event with what it was given.
    audited(store, 1, store.audit(&fx.ctx, AuditAction::Export, "visit_csv", None))
        .await
        .expect("audit");
    let e = last_event(store).await;
    assert_eq!(
        (e.action.as_str(), e.subject_type.as_str(), e.subject_id),
        ("export", "visit_csv", None)
    );
    assert_eq!(store.audit_count("export").await.expect("count"), 1);
    assert_chain(store).await;
});

crate::contract_test!(audit_chain_verifies_with_one_event_per_write, |store| {
    assert_eq!(head(store).await, 0, "a fresh database has an empty chain");
    assert_eq!(
        haven_store::verify_audit(store).await.expect("verify"),
        Ok((0, haven_domain::audit::GENESIS_HASH.to_string()))
    );
    let fx = fixture(store, "GLA").await; // site + user
    assert_eq!(head(store).await, 2);
    let c = new_client(store, &fx, None).await;
    let d = new_client(store, &fx, None).await;
    let v = new_visit(store, &fx, &c.id, clock::now()).await;
    store
        .check_out(&fx.ctx, &fx.site.id, &v.id, clock::now())
        .await
        .expect("check out");
    store
        .void_visit(&fx.ctx, &fx.site.id, &v.id, "test")
        .await
        .expect("void");
    let m = store
        .merge_clients(&fx.ctx, &fx.site.id, &d.id, &c.id, "dup")
        .await
        .expect("merge");
    store.unmerge(&fx.ctx, &fx.site.id, &m).await.expect("unmerge");
    assert_eq!(
        head(store).await,
        9,
        "2 + 2 clients + visit + check-out + void + merge + unmerge"
    );
    let (n, hash) = haven_store::verify_audit(store)
        .await
        .expect("verify")
        .expect("chain verifies");
    assert_eq!((n, hash), (9, store.audit_head().await.expect("head").1));
    let page = store.audit_page(0, 100).await.expect("page");
    assert_eq!(
        page.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=9).collect::<Vec<_>>()
    );
    assert_eq!(page[0].prev_hash, haven_domain::audit::GENESIS_HASH);
    for w in page.windows(2) {
        assert_eq!(w[1].prev_hash, w[0].hash, "each event names the one before");
    }
    assert_eq!(
        page.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        [
            "create", "create", "create", "create", "create", "update", "void", "merge", "unmerge"
        ]
    );
    assert_eq!(
        store
            .audit_page(5, 2)
            .await
            .expect("page")
            .iter()
            .map(|e| e.seq)
            .collect::<Vec<_>>(),
        [6, 7]
    );
});

crate::contract_test!(concurrent_audit_writers_keep_one_linear_chain, |store| {
    let fx = fixture(store, "GLA").await;
    let before = head(store).await;
    let mut tasks = Vec::new();
    for t in 0..16 {
        let store = store.clone();
        let mut ctx = fx.ctx.clone();
        ctx.actor_name = format!("writer-{t:02}");
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                store
                    .audit(&ctx, AuditAction::Read, "client_search", Some(format!("{t}-{i}")))
                    .await?;
            }
            Ok::<_, StoreError>(())
        }));
    }
    for t in tasks {
        t.await.expect("task").expect("every append succeeds");
    }
    assert_eq!(head(store).await - before, 160);
    let page = store.audit_page(before, 1_000).await.expect("page");
    assert_eq!(page.len(), 160);
    assert!(
        page.iter().zip(before + 1..).all(|(e, s)| e.seq == s),
        "no gaps, no repeats"
    );
    for t in 0..16 {
        let name = format!("writer-{t:02}");
        assert_eq!(page.iter().filter(|e| e.actor_name == name).count(), 10, "{name}");
    }
    let mut subjects: Vec<_> = page.iter().filter_map(|e| e.subject_id.clone()).collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects.len(), 160, "every event stored once");
    assert_chain(store).await;
});

crate::contract_test!(the_database_refuses_to_change_or_delete_history, |store| {
    let fx = fixture(store, "GLA").await;
    let c = new_client(store, &fx, None).await;
    new_visit(store, &fx, &c.id, clock::now()).await;
    let lone = new_client(store, &fx, None).await; // no visits referencing it
    let head_before = store.audit_head().await.expect("head");
    for sql in [
        "UPDATE audit_events SET actor_name = 'x'",
        "UPDATE audit_events SET hash = prev_hash WHERE seq = 1",
        "DELETE FROM audit_events",
        "DELETE FROM audit_events WHERE seq = (SELECT MAX(seq) FROM audit_events)",
    ] {
        let r = store.execute_raw_for_tests(sql).await;
        let err = r.expect_err(sql).to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    for sql in [
        "DELETE FROM visits",
        "DELETE FROM clients WHERE id NOT IN (SELECT client_id FROM visits)",
    ] {
        let r = store.execute_raw_for_tests(sql).await;
        let err = r.expect_err(sql).to_string();
        assert!(err.contains("never deleted"), "{sql}: {err}");
    }
    assert_eq!(store.audit_head().await.expect("head"), head_before);
    assert_eq!(store.visit_count(&fx.site.id).await.expect("count"), 1);
    assert_eq!(store.client(&fx.site.id, &lone.id).await.expect("still there"), lone);
    assert_eq!(store.client_count(&fx.site.id).await.expect("count"), 2);
    assert_eq!(
        store
            .audit_page(0, 100)
            .await
            .expect("page")
            .iter()
            .filter(|e| e.actor_name == "x")
            .count(),
        0
    );
    assert_chain(store).await;
});

crate::contract_test!(audit_for_subject_is_newest_first, |store| {
    let fx = fixture(store, "GLA").await;
    let c = new_client(store, &fx, None).await;
    let other = new_client(store, &fx, None).await;
    for _ in 0..3 {
        store.client_audited(&fx.ctx, &fx.site.id, &c.id).await.expect("read");
        store
            .client_audited(&fx.ctx, &fx.site.id, &other.id)
            .await
            .expect("read other");
    }
    let rows = audited(store, 0, store.audit_for_subject("client", &c.id, 100))
        .await
        .expect("for subject");
    assert_eq!(
        rows.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["read", "read", "read", "create"]
    );
    assert!(rows.windows(2).all(|w| w[0].seq > w[1].seq), "newest first");
    assert!(
        rows.iter()
            .all(|e| e.subject_id.as_deref() == Some(c.id.as_str()) && e.subject_type == "client")
    );
    let top = store.audit_for_subject("client", &c.id, 2).await.expect("limited");
    assert_eq!(top, rows[..2].to_vec());
    assert!(
        store
            .audit_for_subject("visit", &c.id, 10)
            .await
            .expect("other type")
            .is_empty()
    );
});

// ---------------------------------------------------------------- 7. bulk

crate::contract_test!(bulk_inserts_write_rows_with_one_audit_event_each, |store| {
    let fx = fixture(store, "GLA").await;
    let t0 = datetime!(2025-01-10 09:00:00.000123 UTC);
    let clients: Vec<BulkClient> = (1..=900u64)
        .map(|n| BulkClient {
            id: haven_store::new_id(),
            code: haven_domain::codes::site_code("GLA", n),
            year_of_birth: 1970 + i32::try_from(n % 30).expect("small"),
            gender: if n % 4 == 0 { "female".into() } else { "male".into() },
            home_area: "G2".into(),
            alias: (n % 10 == 0).then(|| format!("Alias{n}")),
            registered_at: t0 + Duration::minutes(i64::try_from(n).expect("small")),
        })
        .collect();
    audited(
        store,
        1,
        store.bulk_insert_clients(&fx.ctx, &fx.site.id, &clients, &fx.user, 901),
    )
    .await
    .expect("bulk clients");
    assert_last_event(store, AuditAction::Create, "client_bulk", &fx.site.id).await;
    assert_eq!(store.client_count(&fx.site.id).await.expect("count"), 900);
    let c450 = store.client_by_code(&fx.site.id, "GLA-000450").await.expect("by code");
    assert_eq!(
        (
            c450.id.as_str(),
            c450.year_of_birth,
            c450.gender.as_str(),
            c450.alias.as_deref(),
            c450.registered_at
        ),
        (
            clients[449].id.as_str(),
            1970,
            "male",
            Some("Alias450"),
            clients[449].registered_at
        )
    );
    // The sequence continues after the bulk load.
    assert_eq!(new_client(store, &fx, None).await.code, "GLA-000901");

    let visits: Vec<BulkVisit> = (0..1_000usize)
        .map(|i| {
            let at = t0 + Duration::days(1) + Duration::seconds(i64::try_from(i).expect("small") * 37);
            BulkVisit {
                id: haven_store::new_id(),
                client_id: clients[i % clients.len()].id.clone(),
                status: if i % 100 == 0 { "refused" } else { "attended" },
                arrived_at: at,
                left_at: (i % 100 != 0).then(|| at + Duration::minutes(20)),
                substances: if i % 100 == 0 {
                    "[]".into()
                } else {
                    r#"["heroin","cocaine"]"#.into()
                },
                route: (i % 100 != 0).then_some("injection"),
                otherwise_place: (i % 100 != 0).then_some("semi_public"),
                refusal_reason: (i % 100 == 0).then_some("full"),
            }
        })
        .collect();
    audited(
        store,
        1,
        store.bulk_insert_visits(&fx.ctx, &fx.site.id, &visits, &fx.user),
    )
    .await
    .expect("bulk visits");
    assert_last_event(store, AuditAction::Create, "visit_bulk", &fx.site.id).await;
    assert_eq!(store.visit_count(&fx.site.id).await.expect("count"), 1_000);
    let v = store.visit(&fx.site.id, &visits[101].id).await.expect("visit");
    assert_eq!(
        (
            v.client_id.as_str(),
            v.client_code.as_str(),
            v.status.as_str(),
            v.arrived_at,
            v.left_at,
            v.created_by.as_str()
        ),
        (
            clients[101].id.as_str(),
            "GLA-000102",
            "attended",
            visits[101].arrived_at,
            visits[101].left_at,
            fx.user.as_str()
        )
    );
    assert_eq!(v.substance_list(), ["heroin", "cocaine"]);
    let refused = store.visit(&fx.site.id, &visits[200].id).await.expect("refusal");
    assert_eq!(
        (refused.status.as_str(), refused.refusal_reason.as_deref()),
        ("refused", Some("full"))
    );
    let day = store
        .visits_between(
            &fx.site.id,
            t0 + Duration::days(1),
            t0 + Duration::days(2),
            None,
            10_000,
        )
        .await
        .expect("between");
    assert_eq!(day.len(), 1_000);
    assert_chain(store).await;
});

crate::contract_test!(demo_data_builds_the_glasgow_site, |store| {
    let summary = haven_app::demo::generate(store, 1, 1, 0.05, 42, &mut |_, _| {})
        .await
        .expect("demo");
    let site = store.site_by_code("GLA").await.expect("GLA");
    assert_eq!(summary.sites, ["GLA"]);
    let spaces = store.spaces(&site.id).await.expect("spaces");
    assert_eq!(spaces.len(), 8);
    assert_eq!(spaces.iter().filter(|s| s.wheelchair).count(), 2);
    let mut roles: Vec<String> = store
        .users_at_site(&site.id)
        .await
        .expect("staff")
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    roles.sort();
    let mut all: Vec<String> = haven_domain::auth::Role::ALL
        .iter()
        .map(|r| r.as_str().to_string())
        .collect();
    all.sort();
    assert_eq!(roles, all, "one demo user per role");
    let expected = 0.05 * 11_348.0;
    let visits = store.visit_count(&site.id).await.expect("visits");
    assert!(
        (visits as f64 - expected).abs() <= 1.0,
        "{visits} visits, expected about {expected}"
    );
    assert_eq!(u64::try_from(visits).expect("count"), summary.visits);
    assert_eq!(
        u64::try_from(store.client_count(&site.id).await.expect("clients")).expect("count"),
        summary.clients
    );
    assert!(summary.clients > 0);
    let again = haven_app::demo::generate(store, 1, 1, 0.05, 42, &mut |_, _| {}).await;
    assert!(again.is_err(), "demo data only goes into an empty database");
    assert_chain(store).await;
});

// ------------------------------------------------- 8. tamper detection

/// Writes five events, lifts the append-only guard (SQLite: drop the
/// triggers; PostgreSQL: disable the trigger, as the superuser the tests use),
/// then tampers and returns where verification says the chain breaks.
async fn tamper(backend: Backend, how: &'static str) -> haven_domain::audit::ChainBreak {
    let db = TestDb::new(backend).await;
    let store = &db.store;
    for i in 0..5 {
        store
            .audit(&system(), AuditAction::Login, "session", Some(format!("s{i}")))
            .await
            .expect("audit");
    }
    assert_chain(store).await;
    match backend {
        Backend::Sqlite => {
            store
                .execute_raw_for_tests("DROP TRIGGER audit_events_no_update")
                .await
                .expect("drop trigger");
            store
                .execute_raw_for_tests("DROP TRIGGER audit_events_no_delete")
                .await
                .expect("drop trigger");
        }
        Backend::Postgres => {
            store
                .execute_raw_for_tests("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update")
                .await
                .expect("disable trigger");
        }
    }
    let n = match how {
        "alter" => {
            store
                .execute_raw_for_tests("UPDATE audit_events SET actor_name = 'mallory' WHERE seq = 3")
                .await
        }
        "remove" => {
            store
                .execute_raw_for_tests("DELETE FROM audit_events WHERE seq = 2")
                .await
        }
        "truncate-tail" => {
            store
                .execute_raw_for_tests("DELETE FROM audit_events WHERE seq = 5")
                .await
        }
        other => panic!("unknown tampering {other}"),
    };
    assert_eq!(n.expect("tampering succeeds once the guard is lifted"), 1);
    let r = haven_store::verify_audit(store).await.expect("verify runs");
    db.cleanup().await;
    r.expect_err("verification must report the tampering")
}

async fn tamper_is_detected(backend: Backend) {
    let b = tamper(backend, "alter").await;
    assert_eq!(b.seq, 3, "{b}");
    assert!(b.reason.contains("altered"), "{b}");
    let b = tamper(backend, "remove").await;
    assert_eq!(b.seq, 3, "the event after the gap: {b}");
    assert!(b.reason.contains("missing"), "{b}");
    let b = tamper(backend, "truncate-tail").await;
    assert_eq!(b.seq, 5, "{b}");
    assert!(b.reason.contains("removed from the end"), "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_tampering_is_detected_sqlite() {
    tamper_is_detected(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_tampering_is_detected_postgres() {
    tamper_is_detected(Backend::Postgres).await;
}
