//! The store contract for site-wide alerts (migration 0003): raised at a
//! site, showing there (and, when shared, at every site) until they expire
//! or are withdrawn, withdrawn once, never deleted. Every test runs on a
//! fresh SQLite file and a fresh PostgreSQL database (`contract_test!`);
//! every write is checked to append exactly one audit event (a refused write
//! appends none), and the chain is verified at the end of each test.

use haven_domain::{
    audit::AuditAction,
    clock,
    site::{SiteInput, validate_site},
};
use haven_store::{AlertRow, AuditCtx, SiteRow, Store, StoreError};
use time::{Duration, OffsetDateTime, macros::datetime};

use crate::contract::{assert_chain, assert_last_event, audited, is_conflict, is_not_found, last_event};

/// A syntactically valid Argon2id PHC string; the store never checks it.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";

const NITAZENE: &str = "Nitazene found in heroin sample: use less, go slow, never alone";

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

/// A site with one nurse, and that nurse's audit context.
struct Fx {
    site: SiteRow,
    ctx: AuditCtx,
}

impl Fx {
    fn site(&self) -> &str {
        &self.site.id
    }
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
    Fx { site, ctx }
}

/// Raises an alert, asserting it appends exactly one audit event naming it.
async fn raise(store: &Store, fx: &Fx, text: &str, expires_at: OffsetDateTime, shared: bool) -> String {
    let id = audited(
        store,
        1,
        store.create_alert(&fx.ctx, fx.site(), text, expires_at, shared),
    )
    .await
    .expect("create alert");
    assert_last_event(store, AuditAction::Create, "alert", &id).await;
    id
}

/// Ids of the alerts showing at a site at `now`, in the store's order; a
/// read appends no audit event.
async fn showing(store: &Store, site_id: &str, now: OffsetDateTime) -> Vec<String> {
    audited(store, 0, store.active_alerts(site_id, now))
        .await
        .expect("active alerts")
        .into_iter()
        .map(|a| a.id)
        .collect()
}

async fn alert(store: &Store, id: &str) -> AlertRow {
    audited(store, 0, store.alert(id)).await.expect("alert by id")
}

fn refused<T: std::fmt::Debug>(r: &Result<T, StoreError>) -> bool {
    is_conflict(r) || is_not_found(r)
}

// ------------------------------------------------- 1. raise, own site only

crate::contract_test!(an_alert_shows_at_its_own_site_and_not_at_another, |store| {
    let gla = fixture(store, "GLA").await;
    let edi = fixture(store, "EDI").await;
    let now = clock::now();
    let expires_at = now + Duration::hours(4);

    let id = raise(store, &gla, NITAZENE, expires_at, false).await;
    let ev = last_event(store).await;
    assert_eq!(
        (ev.site_id.as_deref(), ev.actor_id.as_deref()),
        (Some(gla.site()), gla.ctx.actor_id.as_deref()),
        "the event names the site and the nurse who raised the alert"
    );

    let a = alert(store, &id).await;
    assert_eq!(
        (
            a.id.as_str(),
            a.site_id.as_str(),
            a.site_code.as_str(),
            a.text.as_str(),
            a.expires_at,
            a.shared,
            a.withdrawn_at
        ),
        (id.as_str(), gla.site(), "GLA", NITAZENE, expires_at, false, None)
    );
    assert!(
        a.created_at >= now - Duration::seconds(5) && a.created_at <= clock::now(),
        "created_at is the time of raising: {} (test started {now})",
        a.created_at
    );

    assert_eq!(
        showing(store, gla.site(), now).await,
        [id.as_str()],
        "shows at its own site"
    );
    assert_eq!(
        showing(store, gla.site(), expires_at - Duration::minutes(1)).await,
        [id.as_str()],
        "still shows a minute before it expires"
    );
    assert!(
        showing(store, edi.site(), now).await.is_empty(),
        "an alert that is not shared does not show at another site"
    );

    // The active list carries the same row as the read by id.
    let rows = store.active_alerts(gla.site(), now).await.expect("active");
    assert_eq!(rows, [a]);

    assert!(is_not_found(&store.alert("no-such-alert").await));
    assert!(showing(store, "no-such-site", now).await.is_empty());

    // Raising at a site that does not exist is refused and appends nothing.
    let bad = audited(
        store,
        0,
        store.create_alert(&gla.ctx, "no-such-site", NITAZENE, expires_at, false),
    )
    .await;
    assert!(bad.is_err(), "an alert at an unknown site: {bad:?}");

    assert_chain(store).await;
});

// --------------------------------------------------------- 2. shared alerts

crate::contract_test!(a_shared_alert_shows_at_every_site, |store| {
    let gla = fixture(store, "GLA").await;
    let edi = fixture(store, "EDI").await;
    let dun = fixture(store, "DUN").await;
    let now = clock::now();
    let until = now + Duration::hours(24);

    let own_gla = raise(store, &gla, "Strong batch of street benzos", until, false).await;
    let shared = raise(store, &gla, NITAZENE, until, true).await;
    let own_edi = raise(store, &edi, "Xylazine wounds: ask a nurse", until, false).await;

    let a = alert(store, &shared).await;
    assert!(a.shared);
    assert_eq!((a.site_id.as_str(), a.site_code.as_str()), (gla.site(), "GLA"));

    // Newest first; a site sees its own alerts and every shared one.
    assert_eq!(
        showing(store, gla.site(), now).await,
        [shared.as_str(), own_gla.as_str()]
    );
    assert_eq!(
        showing(store, edi.site(), now).await,
        [own_edi.as_str(), shared.as_str()]
    );
    assert_eq!(showing(store, dun.site(), now).await, [shared.as_str()]);

    // Another site's reading names where the shared alert came from.
    let at_edi = store.active_alerts(edi.site(), now).await.expect("active at EDI");
    let row = at_edi
        .iter()
        .find(|r| r.id == shared)
        .expect("the shared alert shows at EDI");
    assert_eq!(
        (row.site_id.as_str(), row.site_code.as_str(), row.text.as_str()),
        (gla.site(), "GLA", NITAZENE)
    );

    // A shared alert expires everywhere at once.
    assert!(showing(store, dun.site(), until).await.is_empty());
    assert!(!showing(store, edi.site(), until).await.contains(&shared));

    assert_chain(store).await;
});

// ------------------------------------------------------------ 3. expiry

crate::contract_test!(an_expired_alert_does_not_show, |store| {
    let gla = fixture(store, "GLA").await;
    let edi = fixture(store, "EDI").await;
    let t0 = datetime!(2025-03-10 14:00:00.123456 UTC);

    // The store takes the time to compare with from its caller: an alert
    // whose expiry is before that time does not show, shared or not.
    let past = raise(store, &gla, "Old warning", t0 - Duration::hours(1), false).await;
    let past_shared = raise(store, &gla, "Old shared warning", t0 - Duration::seconds(1), true).await;
    assert!(showing(store, gla.site(), t0).await.is_empty());
    assert!(showing(store, edi.site(), t0).await.is_empty());
    // Before their expiry they showed.
    assert_eq!(
        showing(store, gla.site(), t0 - Duration::hours(2)).await,
        [past_shared.as_str(), past.as_str()]
    );

    // Exactly at its expiry an alert stops showing; a microsecond before, it shows.
    let exp = t0 + Duration::minutes(30) + Duration::microseconds(1);
    let id = raise(store, &gla, NITAZENE, exp, true).await;
    for site in [gla.site(), edi.site()] {
        assert_eq!(
            showing(store, site, exp - Duration::microseconds(1)).await,
            [id.as_str()]
        );
        assert!(showing(store, site, exp).await.is_empty(), "at the expiry");
        assert!(showing(store, site, exp + Duration::microseconds(1)).await.is_empty());
    }

    // Expiry hides an alert but does not withdraw it.
    assert_eq!(alert(store, &past).await.withdrawn_at, None);

    assert_chain(store).await;
});

// ---------------------------------------------------------- 4. withdrawal

crate::contract_test!(a_withdrawn_alert_no_longer_shows_and_is_withdrawn_once, |store| {
    let gla = fixture(store, "GLA").await;
    let edi = fixture(store, "EDI").await;
    let now = clock::now();
    let until = now + Duration::hours(4);
    let own = raise(store, &gla, "Strong batch of street benzos", until, false).await;
    let shared = raise(store, &gla, NITAZENE, until, true).await;
    let before = alert(store, &shared).await;

    // Another site cannot withdraw it: refused, nothing written.
    let head_before = store.audit_head().await.expect("head");
    let wrong = audited(store, 0, store.withdraw_alert(&edi.ctx, edi.site(), &shared, now)).await;
    assert!(refused(&wrong), "withdrawal naming another site: {wrong:?}");
    let unknown = audited(
        store,
        0,
        store.withdraw_alert(&gla.ctx, gla.site(), "no-such-alert", now),
    )
    .await;
    assert!(refused(&unknown), "withdrawal of an unknown alert: {unknown:?}");
    assert_eq!(store.audit_head().await.expect("head"), head_before);
    assert_eq!(alert(store, &shared).await, before, "the alert is untouched");
    assert_eq!(showing(store, edi.site(), now).await, [shared.as_str()]);

    // Its own site withdraws it: one event, and it shows nowhere.
    let at = now + Duration::minutes(3) + Duration::microseconds(7);
    audited(store, 1, store.withdraw_alert(&gla.ctx, gla.site(), &shared, at))
        .await
        .expect("withdraw");
    assert_last_event(store, AuditAction::Update, "alert", &shared).await;
    let after = alert(store, &shared).await;
    assert_eq!(
        after.withdrawn_at,
        Some(at),
        "withdrawn_at is stored to the microsecond"
    );
    assert_eq!(
        AlertRow {
            withdrawn_at: None,
            ..after.clone()
        },
        before,
        "withdrawal changes nothing else"
    );
    assert_eq!(showing(store, gla.site(), now).await, [own.as_str()]);
    assert!(showing(store, edi.site(), now).await.is_empty());

    // A second withdrawal is a conflict and writes nothing.
    let twice = audited(
        store,
        0,
        store.withdraw_alert(&gla.ctx, gla.site(), &shared, at + Duration::minutes(1)),
    )
    .await;
    assert!(is_conflict(&twice), "second withdrawal: {twice:?}");
    assert_eq!(alert(store, &shared).await, after, "the first withdrawal stands");

    // The other alert is unaffected, and can be withdrawn on its own.
    assert_eq!(alert(store, &own).await.withdrawn_at, None);
    audited(store, 1, store.withdraw_alert(&gla.ctx, gla.site(), &own, at))
        .await
        .expect("withdraw the other");
    assert!(showing(store, gla.site(), now).await.is_empty());

    assert_chain(store).await;
});

// ------------------------------------------------------- 5. never deleted

crate::contract_test!(alerts_are_never_deleted_by_the_database, |store| {
    let gla = fixture(store, "GLA").await;
    let now = clock::now();
    let id = raise(store, &gla, NITAZENE, now + Duration::hours(4), true).await;
    let withdrawn = raise(store, &gla, "Old warning", now + Duration::hours(1), false).await;
    store
        .withdraw_alert(&gla.ctx, gla.site(), &withdrawn, now)
        .await
        .expect("withdraw");
    let (a, w) = (alert(store, &id).await, alert(store, &withdrawn).await);
    let head_before = store.audit_head().await.expect("head");

    for sql in [
        "DELETE FROM alerts",
        "DELETE FROM alerts WHERE withdrawn_at IS NOT NULL",
        "DELETE FROM alerts WHERE shared = TRUE",
    ] {
        let r = store.execute_raw_for_tests(sql).await;
        let err = r.expect_err(sql).to_string();
        assert!(err.contains("never deleted"), "{sql}: {err}");
    }

    assert_eq!(alert(store, &id).await, a);
    assert_eq!(alert(store, &withdrawn).await, w);
    assert_eq!(showing(store, gla.site(), now).await, [id.as_str()]);
    assert_eq!(store.audit_head().await.expect("head"), head_before);
    assert_chain(store).await;
});

// -------------------------------------------------- 6. times round-trip

crate::contract_test!(alert_times_round_trip_to_the_microsecond, |store| {
    let gla = fixture(store, "GLA").await;
    for (i, expires_at) in [
        datetime!(2031-07-04 09:15:30.000001 UTC),
        datetime!(2031-07-04 09:15:30.999999 UTC),
        datetime!(2031-12-31 23:59:59.123456 UTC),
        // Another offset: stored and read back as the same instant.
        datetime!(2031-07-04 11:15:30.654321 +02:00),
    ]
    .into_iter()
    .enumerate()
    {
        let id = raise(store, &gla, &format!("Alert {i}"), expires_at, false).await;
        let a = alert(store, &id).await;
        assert_eq!(a.expires_at, expires_at, "alert {i}");
        assert_eq!(
            clock::unix_micros(a.expires_at),
            clock::unix_micros(expires_at),
            "alert {i}"
        );
        assert_eq!(a.created_at, clock::truncate_micros(a.created_at), "alert {i}");
        assert!(
            showing(store, gla.site(), expires_at - Duration::microseconds(1))
                .await
                .contains(&id),
            "alert {i} shows a microsecond before its expiry"
        );
        assert!(
            !showing(store, gla.site(), expires_at).await.contains(&id),
            "alert {i} does not show at its expiry"
        );
    }
    assert_chain(store).await;
});

crate::contract_test!(
    drug_check_results_are_append_only_and_an_alert_keeps_its_sample,
    |store| {
        let gla = fixture(store, "GLA").await;
        let edi = fixture(store, "EDI").await;
        let now = clock::now();
        let sample = audited(
            store,
            1,
            store.create_sample(&gla.ctx, gla.site(), None, "cocaine", "powder", now),
        )
        .await
        .expect("sample");
        let finding = r#"{"kind":"strip","result":"positive"}"#;
        audited(
            store,
            1,
            store.add_drug_result(&gla.ctx, gla.site(), &sample, "fentanyl_strip", finding, now),
        )
        .await
        .expect("result");
        let results = store.drug_results(&sample).await.expect("results");
        assert_eq!(
            (results.len(), results[0].finding.as_str(), results[0].at),
            (1, finding, now)
        );
        // Another site can neither add to the sample nor raise an alert from it.
        let r = audited(
            store,
            0,
            store.add_drug_result(&edi.ctx, edi.site(), &sample, "ftir", "{}", now),
        )
        .await;
        assert!(is_not_found(&r), "{r:?}");
        let r = audited(
            store,
            0,
            store.create_alert_for_sample(
                &edi.ctx,
                edi.site(),
                Some(&sample),
                "x",
                now + Duration::hours(1),
                false,
            ),
        )
        .await;
        assert!(is_not_found(&r), "{r:?}");
        let alert = audited(
            store,
            1,
            store.create_alert_for_sample(
                &gla.ctx,
                gla.site(),
                Some(&sample),
                NITAZENE,
                now + Duration::hours(1),
                false,
            ),
        )
        .await
        .expect("alert");
        assert_eq!(
            store.alert(&alert).await.expect("alert").drug_sample_id.as_deref(),
            Some(sample.as_str())
        );
        // The database refuses to rewrite or remove them.
        let before = crate::contract::head(store).await;
        for sql in [
            "UPDATE drug_results SET method = 'laboratory'",
            "DELETE FROM drug_results",
            "DELETE FROM drug_samples",
        ] {
            assert!(store.execute_raw_for_tests(sql).await.is_err(), "{sql} was allowed");
        }
        assert_eq!(store.drug_results(&sample).await.expect("results").len(), 1);
        assert_eq!(crate::contract::head(store).await, before);
        assert_chain(store).await;
    }
);
