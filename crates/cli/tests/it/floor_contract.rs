//! The store contract for floor operations (migration 0002): episodes on
//! spaces, observation checks, after-care, emergencies with their
//! append-only timeline, handover notes and the eligibility figures. Every
//! test runs on a fresh SQLite file and a fresh PostgreSQL database
//! (`contract_test!`); every write is checked to append exactly one audit
//! event per record it creates or changes (a refused write appends none), and
//! the chain is verified at the end of each test.
//!
//! The audit assertions are shared with `contract.rs`; the fixtures here
//! build the spaces and visits these tests need.

use std::sync::Arc;

use haven_domain::{
    audit::AuditAction,
    clock,
    site::{SiteInput, validate_site},
};
use haven_store::{
    AuditCtx, BoardSpaceRow, ClientRow, CloseEmergencyRecord, Created, NewCheckRecord, NewClientRecord,
    NewEmergencyRecord, NewEpisodeRecord, NewVisitRecord, SiteRow, SpaceMark, Store, StoreError, VisitRow,
};
use time::{Duration, OffsetDateTime, macros::datetime};

use crate::contract::{assert_chain, assert_last_event, audited, head, is_conflict, is_not_found};

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

/// A site with one worker (display name "Worker"), and that worker's audit context.
struct Fx {
    site: SiteRow,
    user: String,
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

/// A second user (display name "Second") at the fixture's site.
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

fn client_rec(year_of_birth: i32) -> NewClientRecord {
    NewClientRecord {
        code: None,
        year_of_birth,
        gender: "male".into(),
        home_area: "G1".into(),
        alias: None,
        flags: vec![],
        identity: None,
    }
}

async fn new_client(store: &Store, fx: &Fx) -> ClientRow {
    store
        .create_client(&fx.ctx, fx.site(), &client_rec(1985))
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
        .create_visit(&fx.ctx, fx.site(), &visit_rec(client_id, arrived_at))
        .await
        .expect("create visit");
    assert_eq!(created, Created::New);
    v
}

/// A fresh client checked in at `arrived_at`.
async fn arrival(store: &Store, fx: &Fx, arrived_at: OffsetDateTime) -> VisitRow {
    let c = new_client(store, fx).await;
    new_visit(store, fx, &c.id, arrived_at).await
}

fn episode_rec(v: &VisitRow, space_id: &str, started_at: OffsetDateTime) -> NewEpisodeRecord {
    NewEpisodeRecord {
        visit_id: v.id.clone(),
        client_id: v.client_id.clone(),
        space_id: space_id.to_string(),
        substances: vec!["heroin".into()],
        route: "injection".into(),
        started_at,
    }
}

fn check_rec(at: OffsetDateTime, status: &str, resp_rate: u16, spo2: u16, sedation: u16) -> NewCheckRecord {
    NewCheckRecord {
        at,
        status: status.into(),
        resp_rate: Some(resp_rate),
        spo2: Some(spo2),
        sedation: Some(sedation),
    }
}

/// An emergency found at a space, from its running episode.
fn space_emergency(v: &VisitRow, episode_id: &str, space_id: &str, started_at: OffsetDateTime) -> NewEmergencyRecord {
    NewEmergencyRecord {
        visit_id: Some(v.id.clone()),
        episode_id: Some(episode_id.to_string()),
        space_id: Some(space_id.to_string()),
        client_id: Some(v.client_id.clone()),
        location: "space".into(),
        location_detail: "Booth 1".into(),
        person_description: String::new(),
        substances: vec!["heroin".into()],
        started_at,
    }
}

/// An emergency of someone who is not checked in.
fn elsewhere_emergency(started_at: OffsetDateTime) -> NewEmergencyRecord {
    NewEmergencyRecord {
        visit_id: None,
        episode_id: None,
        space_id: None,
        client_id: None,
        location: "elsewhere".into(),
        location_detail: "toilet".into(),
        person_description: "man, about 40, red jacket".into(),
        substances: vec!["fentanyl".into()],
        started_at,
    }
}

/// The board row of one space.
async fn board_row(store: &Store, site_id: &str, space_id: &str) -> BoardSpaceRow {
    store
        .board_spaces(site_id)
        .await
        .expect("board")
        .into_iter()
        .find(|s| s.id == space_id)
        .expect("the space is on the board")
}

async fn waiting_ids(store: &Store, site_id: &str, since: OffsetDateTime) -> Vec<String> {
    store
        .waiting(site_id, since)
        .await
        .expect("waiting")
        .into_iter()
        .map(|w| w.visit_id)
        .collect()
}

// ------------------------------------------------------ 1. episodes, spaces

crate::contract_test!(an_episode_holds_its_space_until_ended_and_cleaned, |store| {
    let fx = fixture(store, "GLA").await;
    let other = fixture(store, "EDI").await;
    let site = fx.site();
    let b1 = store
        .add_space(&fx.ctx, site, "Booth 1", "injecting", false)
        .await
        .expect("booth 1");
    let b2 = store
        .add_space(&fx.ctx, site, "Booth 2", "injecting", true)
        .await
        .expect("booth 2");
    let since = clock::now() - Duration::hours(1);
    let v1 = arrival(store, &fx, clock::now() - Duration::minutes(10)).await;
    let v2 = arrival(store, &fx, clock::now() - Duration::minutes(5)).await;

    let waiting = audited(store, 0, store.waiting(site, since)).await.expect("waiting");
    assert_eq!(
        waiting
            .iter()
            .map(|w| (
                w.visit_id.as_str(),
                w.client_code.as_str(),
                w.substances.as_str(),
                w.route.as_str(),
                w.arrived_at
            ))
            .collect::<Vec<_>>(),
        [
            (
                v1.id.as_str(),
                "GLA-000001",
                r#"["heroin","cocaine"]"#,
                "injection",
                v1.arrived_at
            ),
            (
                v2.id.as_str(),
                "GLA-000002",
                r#"["heroin","cocaine"]"#,
                "injection",
                v2.arrived_at
            ),
        ],
        "first come first"
    );

    // An empty board: both spaces free, clean and in service.
    let board = audited(store, 0, store.board_spaces(site)).await.expect("board");
    assert_eq!(
        board
            .iter()
            .map(|s| (
                s.id.as_str(),
                s.label.as_str(),
                s.kind.as_str(),
                s.wheelchair,
                s.in_service,
                s.needs_cleaning,
                s.episode_id.is_none()
            ))
            .collect::<Vec<_>>(),
        [
            (b1.as_str(), "Booth 1", "injecting", false, true, false, true),
            (b2.as_str(), "Booth 2", "injecting", true, true, false, true),
        ]
    );

    let started = datetime!(2025-03-04 10:11:12.123456 UTC);
    let ep = audited(
        store,
        1,
        store.start_episode(&fx.ctx, site, &episode_rec(&v1, &b1, started)),
    )
    .await
    .expect("start episode");
    assert_last_event(store, AuditAction::Create, "episode", &ep).await;

    let row = board_row(store, site, &b1).await;
    assert_eq!(
        row,
        BoardSpaceRow {
            id: b1.clone(),
            label: "Booth 1".into(),
            kind: "injecting".into(),
            wheelchair: false,
            in_service: true,
            needs_cleaning: false,
            episode_id: Some(ep.clone()),
            visit_id: Some(v1.id.clone()),
            client_code: Some("GLA-000001".into()),
            substances: Some(r#"["heroin"]"#.into()),
            route: Some("injection".into()),
            started_at: Some(started),
            last_check_at: None,
            emergency_id: None,
        }
    );
    assert_eq!(board_row(store, site, &b2).await.episode_id, None, "booth 2 stays free");
    assert_eq!(
        waiting_ids(store, site, since).await,
        std::slice::from_ref(&v2.id),
        "the person with a space no longer waits"
    );
    let e = audited(store, 0, store.episode(site, &ep)).await.expect("episode");
    assert_eq!(
        (
            e.visit_id.as_str(),
            e.client_id.as_str(),
            e.client_code.as_str(),
            e.space_id.as_str(),
            e.space_label.as_str(),
            e.route.as_str(),
            e.started_at,
            e.ended_at,
            e.equipment_left
        ),
        (
            v1.id.as_str(),
            v1.client_id.as_str(),
            "GLA-000001",
            b1.as_str(),
            "Booth 1",
            "injection",
            started,
            None,
            None
        )
    );
    assert_eq!(e.substance_list(), ["heroin"]);
    assert_eq!(
        store.open_episodes(site).await.expect("open episodes"),
        std::slice::from_ref(&e)
    );
    assert_eq!(
        store.episodes_of_visit(site, &v1.id).await.expect("of visit"),
        std::slice::from_ref(&e)
    );
    assert!(
        is_not_found(&store.episode(&other.site.id, &ep).await),
        "scoped by site"
    );

    // The space is taken; the person already has a space.
    let r = audited(
        store,
        0,
        store.start_episode(&fx.ctx, site, &episode_rec(&v2, &b1, clock::now())),
    )
    .await;
    assert!(is_conflict(&r), "second start on an occupied space: {r:?}");
    let r = audited(
        store,
        0,
        store.start_episode(&fx.ctx, site, &episode_rec(&v1, &b2, clock::now())),
    )
    .await;
    assert!(is_conflict(&r), "a second running episode for one visit: {r:?}");
    let r = audited(
        store,
        0,
        store.start_episode(&fx.ctx, site, &episode_rec(&v2, "no-such-space", clock::now())),
    )
    .await;
    assert!(is_not_found(&r), "{r:?}");
    let r = audited(
        store,
        0,
        store.start_episode(&other.ctx, &other.site.id, &episode_rec(&v2, &b2, clock::now())),
    )
    .await;
    assert!(is_not_found(&r), "another site cannot use this site's space: {r:?}");

    // Out of service: no episode starts there until it is back.
    audited(store, 1, store.mark_space(&fx.ctx, site, &b2, SpaceMark::OutOfService))
        .await
        .expect("out of service");
    assert_last_event(store, AuditAction::Update, "space", &b2).await;
    assert!(!board_row(store, site, &b2).await.in_service);
    let r = audited(
        store,
        0,
        store.start_episode(&fx.ctx, site, &episode_rec(&v2, &b2, clock::now())),
    )
    .await;
    assert!(is_conflict(&r), "start on an out-of-service space: {r:?}");
    assert_eq!(board_row(store, site, &b2).await.episode_id, None);
    assert_eq!(waiting_ids(store, site, since).await, std::slice::from_ref(&v2.id));
    audited(store, 1, store.mark_space(&fx.ctx, site, &b2, SpaceMark::InService))
        .await
        .expect("back in service");
    assert_last_event(store, AuditAction::Update, "space", &b2).await;
    assert!(board_row(store, site, &b2).await.in_service);
    let ep2 = audited(
        store,
        1,
        store.start_episode(&fx.ctx, site, &episode_rec(&v2, &b2, clock::now())),
    )
    .await
    .expect("start on the space back in service");
    assert_eq!(board_row(store, site, &b2).await.episode_id, Some(ep2));
    assert!(waiting_ids(store, site, since).await.is_empty());
    let r = audited(
        store,
        0,
        store.mark_space(&fx.ctx, site, "no-such-space", SpaceMark::OutOfService),
    )
    .await;
    assert!(is_not_found(&r), "{r:?}");
    let r = audited(
        store,
        0,
        store.mark_space(&other.ctx, &other.site.id, &b1, SpaceMark::OutOfService),
    )
    .await;
    assert!(is_not_found(&r), "another site cannot mark this site's space: {r:?}");

    // Ending frees the space but leaves it to be cleaned.
    let ended = datetime!(2025-03-04 10:41:00.000001 UTC);
    audited(store, 1, store.end_episode(&fx.ctx, site, &ep, ended, false))
        .await
        .expect("end episode");
    assert_last_event(store, AuditAction::Update, "episode", &ep).await;
    let row = board_row(store, site, &b1).await;
    assert_eq!(
        (
            row.episode_id.as_deref(),
            row.client_code.as_deref(),
            row.started_at,
            row.needs_cleaning,
            row.in_service
        ),
        (None, None, None, true, true)
    );
    let e = store.episode(site, &ep).await.expect("episode");
    assert_eq!((e.ended_at, e.equipment_left), (Some(ended), Some(false)));
    assert_eq!(
        store
            .open_episodes(site)
            .await
            .expect("open")
            .iter()
            .map(|e| e.space_id.as_str())
            .collect::<Vec<_>>(),
        [b2.as_str()]
    );
    assert!(
        store
            .spaces(site)
            .await
            .expect("spaces")
            .iter()
            .any(|s| s.id == b1 && s.needs_cleaning),
        "spaces() shows the cleaning state too"
    );
    // An ended episode does not put the person back in the queue.
    assert!(waiting_ids(store, site, since).await.is_empty());

    let v3 = arrival(store, &fx, clock::now()).await;
    let r = audited(
        store,
        0,
        store.start_episode(&fx.ctx, site, &episode_rec(&v3, &b1, clock::now())),
    )
    .await;
    assert!(is_conflict(&r), "start on a space that needs cleaning: {r:?}");
    assert_eq!(board_row(store, site, &b1).await.episode_id, None);
    audited(store, 1, store.mark_space(&fx.ctx, site, &b1, SpaceMark::Cleaned))
        .await
        .expect("cleaned");
    assert_last_event(store, AuditAction::Update, "space", &b1).await;
    let row = board_row(store, site, &b1).await;
    assert_eq!((row.needs_cleaning, row.in_service), (false, true));
    let ep3 = audited(
        store,
        1,
        store.start_episode(&fx.ctx, site, &episode_rec(&v3, &b1, clock::now())),
    )
    .await
    .expect("start once cleaned");
    assert_eq!(board_row(store, site, &b1).await.episode_id, Some(ep3));
    assert_eq!(
        store.episodes_of_visit(site, &v1.id).await.expect("of visit").len(),
        1,
        "the ended episode is kept"
    );
    assert!(
        store.board_spaces(&other.site.id).await.expect("board").is_empty(),
        "the other site's board is its own"
    );
    assert_chain(store).await;
});

crate::contract_test!(two_racing_starts_on_the_last_free_space_give_it_once, |store| {
    let fx = fixture(store, "GLA").await;
    let site = fx.site().to_string();
    for round in 0..20 {
        // Every earlier space is occupied: the new one is the last free space.
        let space = store
            .add_space(&fx.ctx, &site, &format!("Booth {round:02}"), "injecting", false)
            .await
            .expect("space");
        let a = arrival(store, &fx, clock::now()).await;
        let b = arrival(store, &fx, clock::now()).await;
        let before = head(store).await;
        let gate = Arc::new(tokio::sync::Barrier::new(2));
        let mut tasks = Vec::new();
        for v in [&a, &b] {
            let store = store.clone();
            let ctx = fx.ctx.clone();
            let site = site.clone();
            let rec = episode_rec(v, &space, clock::now());
            let gate = Arc::clone(&gate);
            tasks.push(tokio::spawn(async move {
                gate.wait().await;
                store.start_episode(&ctx, &site, &rec).await
            }));
        }
        let mut won = Vec::new();
        let mut lost = 0;
        for t in tasks {
            match t.await.expect("task") {
                Ok(id) => won.push(id),
                Err(StoreError::Conflict(_)) => lost += 1,
                Err(e) => panic!("round {round}: the losing start must be a conflict, got {e:?}"),
            }
        }
        assert_eq!((won.len(), lost), (1, 1), "round {round}: exactly one start wins");
        assert_eq!(head(store).await - before, 1, "round {round}: one audit event");
        let board = store.board_spaces(&site).await.expect("board");
        let row = board.iter().find(|s| s.id == space).expect("space on board");
        assert_eq!(row.episode_id.as_ref(), Some(&won[0]), "round {round}");
        assert_eq!(
            board.iter().filter(|s| s.episode_id.is_some()).count(),
            round + 1,
            "round {round}: one episode per space"
        );
        let on_space = store
            .open_episodes(&site)
            .await
            .expect("open")
            .into_iter()
            .filter(|e| e.space_id == space)
            .count();
        assert_eq!(on_space, 1, "round {round}");
    }
    assert_chain(store).await;
});

crate::contract_test!(an_episode_ends_once, |store| {
    let fx = fixture(store, "GLA").await;
    let other = fixture(store, "EDI").await;
    let site = fx.site();
    let b1 = store
        .add_space(&fx.ctx, site, "Booth 1", "injecting", false)
        .await
        .expect("space");
    let v = arrival(store, &fx, clock::now()).await;
    let ep = store
        .start_episode(&fx.ctx, site, &episode_rec(&v, &b1, clock::now()))
        .await
        .expect("start");

    // Another site cannot end it.
    let r = audited(
        store,
        0,
        store.end_episode(&other.ctx, &other.site.id, &ep, clock::now(), true),
    )
    .await;
    assert!(r.is_err(), "{r:?}");
    assert_eq!(store.episode(site, &ep).await.expect("episode").ended_at, None);

    let ended = datetime!(2025-03-04 11:00:00.654321 UTC);
    audited(store, 1, store.end_episode(&fx.ctx, site, &ep, ended, true))
        .await
        .expect("end");
    assert_last_event(store, AuditAction::Update, "episode", &ep).await;
    let first = store.episode(site, &ep).await.expect("episode");
    assert_eq!((first.ended_at, first.equipment_left), (Some(ended), Some(true)));

    let r = audited(
        store,
        0,
        store.end_episode(&fx.ctx, site, &ep, ended + Duration::minutes(5), false),
    )
    .await;
    assert!(is_conflict(&r), "second end: {r:?}");
    assert_eq!(
        store.episode(site, &ep).await.expect("episode"),
        first,
        "ended_at and equipment unchanged"
    );
    let r = audited(
        store,
        0,
        store.end_episode(&fx.ctx, site, "no-such-episode", clock::now(), false),
    )
    .await;
    assert!(r.is_err(), "{r:?}");
    assert_chain(store).await;
});

// ------------------------------------------ 2. checks and space emergencies

crate::contract_test!(an_unresponsive_check_opens_an_emergency_at_the_space, |store| {
    let fx = fixture(store, "GLA").await;
    let site = fx.site();
    let b1 = store
        .add_space(&fx.ctx, site, "Booth 1", "injecting", false)
        .await
        .expect("space");
    let v = arrival(store, &fx, clock::now()).await;
    let t0 = datetime!(2025-03-04 10:00:00.000001 UTC);
    let ep = store
        .start_episode(&fx.ctx, site, &episode_rec(&v, &b1, t0))
        .await
        .expect("start");

    let t1 = t0 + Duration::minutes(5) + Duration::microseconds(250);
    let (c1, none) = audited(
        store,
        1,
        store.add_check(&fx.ctx, site, &ep, &check_rec(t1, "responsive", 14, 98, 0), None),
    )
    .await
    .expect("check");
    assert_eq!(none, None, "no emergency without one");
    assert_last_event(store, AuditAction::Create, "observation_check", &c1).await;
    assert_eq!(board_row(store, site, &b1).await.last_check_at, Some(t1));
    assert!(store.open_emergencies(site).await.expect("open").is_empty());

    // Found unresponsive: the check and the emergency are written together,
    // one audit event for each record.
    let t2 = t1 + Duration::minutes(5) + Duration::microseconds(7);
    let (c2, eid) = audited(
        store,
        2,
        store.add_check(
            &fx.ctx,
            site,
            &ep,
            &check_rec(t2, "unresponsive", 4, 81, 3),
            Some(&space_emergency(&v, &ep, &b1, t2)),
        ),
    )
    .await
    .expect("check with emergency");
    let eid = eid.expect("an emergency id is returned");
    assert_last_event(store, AuditAction::Create, "emergency", &eid).await;
    assert_eq!(
        store
            .audit_for_subject("observation_check", &c2, 10)
            .await
            .expect("audit")
            .len(),
        1
    );

    let open = audited(store, 0, store.open_emergencies(site)).await.expect("open");
    assert_eq!(open.len(), 1);
    let m = &open[0];
    assert_eq!(
        (
            m.id.as_str(),
            m.visit_id.as_deref(),
            m.episode_id.as_deref(),
            m.space_id.as_deref(),
            m.client_id.as_deref(),
            m.client_code.as_deref(),
            m.location.as_str(),
            m.location_detail.as_str(),
            m.started_at,
            m.opened_by.as_str(),
            m.closed_at,
            m.outcome.as_deref()
        ),
        (
            eid.as_str(),
            Some(v.id.as_str()),
            Some(ep.as_str()),
            Some(b1.as_str()),
            Some(v.client_id.as_str()),
            Some("GLA-000001"),
            "space",
            "Booth 1",
            t2,
            fx.user.as_str(),
            None,
            None
        )
    );
    assert_eq!(m.site_id, site);
    assert_eq!(m.substance_list(), ["heroin"]);
    assert_eq!(&store.emergency(site, &eid).await.expect("emergency"), m);
    assert_eq!(store.emergency_site(&eid).await.expect("site"), site);

    let row = board_row(store, site, &b1).await;
    assert_eq!(
        (
            row.emergency_id.as_deref(),
            row.last_check_at,
            row.episode_id.as_deref()
        ),
        (Some(eid.as_str()), Some(t2), Some(ep.as_str()))
    );

    let entries = audited(store, 0, store.emergency_entries(site, &eid))
        .await
        .expect("entries");
    assert_eq!(
        entries
            .iter()
            .map(|e| (e.kind.as_str(), e.at, e.data.as_str(), e.recorded_by.as_str()))
            .collect::<Vec<_>>(),
        [("recognition", t2, r#"{"kind":"recognition"}"#, "Worker")],
        "the recognition entry at the emergency's start"
    );

    let checks = audited(store, 0, store.checks(site, &ep)).await.expect("checks");
    assert_eq!(
        checks
            .iter()
            .map(|c| (
                c.id.as_str(),
                c.episode_id.as_str(),
                c.at,
                c.status.as_str(),
                c.resp_rate,
                c.spo2,
                c.sedation,
                c.recorded_by.as_str()
            ))
            .collect::<Vec<_>>(),
        [
            (
                c1.as_str(),
                ep.as_str(),
                t1,
                "responsive",
                Some(14),
                Some(98),
                Some(0),
                fx.user.as_str()
            ),
            (
                c2.as_str(),
                ep.as_str(),
                t2,
                "unresponsive",
                Some(4),
                Some(81),
                Some(3),
                fx.user.as_str()
            ),
        ]
    );

    // A check with no numbers.
    let t3 = t2 + Duration::minutes(1);
    let bare = NewCheckRecord {
        at: t3,
        status: "drowsy".into(),
        resp_rate: None,
        spo2: None,
        sedation: None,
    };
    let (c3, _) = audited(store, 1, store.add_check(&fx.ctx, site, &ep, &bare, None))
        .await
        .expect("bare check");
    let last = store.checks(site, &ep).await.expect("checks").pop().expect("a check");
    assert_eq!(
        (last.id.as_str(), last.resp_rate, last.spo2, last.sedation),
        (c3.as_str(), None, None, None)
    );
    let r = audited(
        store,
        0,
        store.add_check(&fx.ctx, site, &ep, &check_rec(t3, "asleep", 10, 95, 1), None),
    )
    .await;
    assert!(r.is_err(), "status outside the CHECK list: {r:?}");

    // No checks once the episode has ended, and no emergency from one.
    store
        .end_episode(&fx.ctx, site, &ep, t3 + Duration::minutes(1), false)
        .await
        .expect("end");
    let r = audited(
        store,
        0,
        store.add_check(
            &fx.ctx,
            site,
            &ep,
            &check_rec(clock::now(), "responsive", 14, 98, 0),
            None,
        ),
    )
    .await;
    assert!(is_conflict(&r), "check on an ended episode: {r:?}");
    let r = audited(
        store,
        0,
        store.add_check(
            &fx.ctx,
            site,
            &ep,
            &check_rec(clock::now(), "unresponsive", 2, 70, 3),
            Some(&space_emergency(&v, &ep, &b1, clock::now())),
        ),
    )
    .await;
    assert!(is_conflict(&r), "check with emergency on an ended episode: {r:?}");
    assert_eq!(store.checks(site, &ep).await.expect("checks").len(), 3);
    assert_eq!(
        store
            .open_emergencies(site)
            .await
            .expect("open")
            .iter()
            .map(|m| m.id.as_str())
            .collect::<Vec<_>>(),
        [eid.as_str()],
        "the refused check opened nothing"
    );
    let r = audited(
        store,
        0,
        store.add_check(
            &fx.ctx,
            site,
            "no-such-episode",
            &check_rec(t3, "responsive", 14, 98, 0),
            None,
        ),
    )
    .await;
    assert!(is_not_found(&r), "{r:?}");
    assert_chain(store).await;
});

// ------------------------------------------------- 3. emergency timeline

crate::contract_test!(the_emergency_timeline_is_appended_amended_and_closed, |store| {
    let fx = fixture(store, "GLA").await;
    let other = fixture(store, "EDI").await;
    let nurse = second_user(store, &fx, "nurse").await;
    let site = fx.site();
    let t0 = datetime!(2025-03-04 14:00:00.100001 UTC);
    let eid = audited(store, 1, store.open_emergency(&fx.ctx, site, &elsewhere_emergency(t0)))
        .await
        .expect("open emergency");
    assert_last_event(store, AuditAction::Create, "emergency", &eid).await;
    let m = store.emergency(site, &eid).await.expect("emergency");
    assert_eq!(
        (
            m.location.as_str(),
            m.location_detail.as_str(),
            m.person_description.as_str(),
            m.client_id.as_deref(),
            m.client_code.as_deref(),
            m.visit_id.as_deref(),
            m.started_at
        ),
        ("elsewhere", "toilet", "man, about 40, red jacket", None, None, None, t0)
    );
    assert!(
        is_not_found(&store.emergency(&other.site.id, &eid).await),
        "scoped by site"
    );

    let timeline: [(OffsetDateTime, &str, &str, &AuditCtx); 4] = [
        (
            t0 + Duration::seconds(20) + Duration::microseconds(1),
            "sign",
            r#"{"kind":"sign","sign":"pinpoint_pupils"}"#,
            &fx.ctx,
        ),
        (
            t0 + Duration::seconds(60) + Duration::microseconds(2),
            "naloxone",
            r#"{"kind":"naloxone","dose_mg":0.4,"route":"IM"}"#,
            &fx.ctx,
        ),
        (
            t0 + Duration::seconds(90) + Duration::microseconds(3),
            "ambulance_called",
            r#"{"kind":"ambulance_called"}"#,
            &nurse,
        ),
        (
            t0 + Duration::seconds(240) + Duration::microseconds(4),
            "note",
            r#"{"kind":"note","text":"breathing again, 12/min"}"#,
            &nurse,
        ),
    ];
    let mut entry_ids = Vec::new();
    for (at, kind, data, ctx) in timeline {
        let id = audited(store, 1, store.add_emergency_entry(ctx, site, &eid, at, kind, data))
            .await
            .expect("entry");
        assert_last_event(store, AuditAction::Create, "emergency_entry", &id).await;
        entry_ids.push(id);
    }
    let expected: Vec<(OffsetDateTime, &str, &str, &str)> =
        std::iter::once((t0, "recognition", r#"{"kind":"recognition"}"#, "Worker"))
            .chain(timeline.iter().map(|(at, kind, data, ctx)| {
                (
                    *at,
                    *kind,
                    *data,
                    if ctx.actor_id == fx.ctx.actor_id {
                        "Worker"
                    } else {
                        "Second"
                    },
                )
            }))
            .collect();
    let entries = audited(store, 0, store.emergency_entries(site, &eid))
        .await
        .expect("entries");
    assert_eq!(
        entries
            .iter()
            .map(|e| (e.at, e.kind.as_str(), e.data.as_str(), e.recorded_by.as_str()))
            .collect::<Vec<_>>(),
        expected,
        "every entry, as recorded, in recording order"
    );
    assert_eq!(
        entries[1..].iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        entry_ids.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert!(
        store
            .emergency_entries(&other.site.id, &eid)
            .await
            .expect("entries")
            .is_empty(),
        "scoped by site"
    );
    let r = audited(
        store,
        0,
        store.add_emergency_entry(&fx.ctx, site, "no-such-emergency", t0, "cpr", r#"{"kind":"cpr"}"#),
    )
    .await;
    assert!(is_not_found(&r), "{r:?}");
    let r = audited(
        store,
        0,
        store.add_emergency_entry(&other.ctx, &other.site.id, &eid, t0, "cpr", r#"{"kind":"cpr"}"#),
    )
    .await;
    assert!(is_not_found(&r), "another site cannot write to it: {r:?}");

    // The naloxone time was wrong: an amendment, the original stays.
    let naloxone = &entry_ids[1];
    let corrected = t0 + Duration::seconds(50) + Duration::microseconds(999_999);
    let aid = audited(
        store,
        1,
        store.amend_emergency_entry(
            &nurse,
            site,
            &eid,
            naloxone,
            corrected,
            "the wall clock was a minute fast",
        ),
    )
    .await
    .expect("amend");
    assert_last_event(store, AuditAction::Update, "emergency_entry", naloxone).await;
    assert_eq!(
        store.emergency_entries(site, &eid).await.expect("entries"),
        entries,
        "entries are unchanged by an amendment"
    );
    let amendments = audited(store, 0, store.emergency_amendments(&eid))
        .await
        .expect("amendments");
    assert_eq!(
        amendments
            .iter()
            .map(|a| (
                a.id.as_str(),
                a.entry_id.as_str(),
                a.new_at,
                a.reason.as_str(),
                a.recorded_by.as_str()
            ))
            .collect::<Vec<_>>(),
        [(
            aid.as_str(),
            naloxone.as_str(),
            corrected,
            "the wall clock was a minute fast",
            "Second"
        )]
    );
    let r = audited(
        store,
        0,
        store.amend_emergency_entry(&fx.ctx, site, &eid, "no-such-entry", corrected, "x"),
    )
    .await;
    assert!(is_not_found(&r), "{r:?}");
    let r = audited(
        store,
        0,
        store.amend_emergency_entry(&other.ctx, &other.site.id, &eid, naloxone, corrected, "x"),
    )
    .await;
    assert!(is_not_found(&r), "another site cannot amend it: {r:?}");
    // An entry of another emergency cannot be amended through this one.
    let eid2 = store
        .open_emergency(&fx.ctx, site, &elsewhere_emergency(t0 + Duration::minutes(30)))
        .await
        .expect("second emergency");
    let r = audited(
        store,
        0,
        store.amend_emergency_entry(&fx.ctx, site, &eid2, naloxone, corrected, "x"),
    )
    .await;
    assert!(is_not_found(&r), "{r:?}");
    assert_eq!(store.emergency_amendments(&eid).await.expect("amendments").len(), 1);
    assert!(store.emergency_amendments(&eid2).await.expect("amendments").is_empty());

    // Closing.
    let closed_at = t0 + Duration::minutes(20) + Duration::microseconds(5);
    let close = CloseEmergencyRecord {
        closed_at,
        outcome: "transferred".into(),
        debrief: "naloxone worked; handed to paramedics".into(),
        staff_involved: vec!["Worker".into(), "Second".into()],
    };
    audited(store, 1, store.close_emergency(&fx.ctx, site, &eid, &close))
        .await
        .expect("close");
    assert_last_event(store, AuditAction::Update, "emergency", &eid).await;
    let m = store.emergency(site, &eid).await.expect("emergency");
    assert_eq!(
        (m.closed_at, m.outcome.as_deref(), m.debrief.as_str()),
        (
            Some(closed_at),
            Some("transferred"),
            "naloxone worked; handed to paramedics"
        )
    );
    assert_eq!(m.staff_list(), ["Worker", "Second"]);

    let again = CloseEmergencyRecord {
        closed_at: closed_at + Duration::minutes(1),
        outcome: "recovered_on_site".into(),
        debrief: "overwritten".into(),
        staff_involved: vec![],
    };
    let r = audited(store, 0, store.close_emergency(&fx.ctx, site, &eid, &again)).await;
    assert!(is_conflict(&r), "second close: {r:?}");
    assert_eq!(store.emergency(site, &eid).await.expect("emergency"), m, "unchanged");

    let r = audited(
        store,
        0,
        store.add_emergency_entry(
            &fx.ctx,
            site,
            &eid,
            closed_at,
            "note",
            r#"{"kind":"note","text":"late"}"#,
        ),
    )
    .await;
    assert!(is_conflict(&r), "entry after close: {r:?}");
    assert_eq!(store.emergency_entries(site, &eid).await.expect("entries"), entries);

    // A time can still be corrected after closing.
    audited(
        store,
        1,
        store.amend_emergency_entry(&fx.ctx, site, &eid, &entry_ids[2], t0, "called at once"),
    )
    .await
    .expect("amend after close");
    assert_eq!(store.emergency_amendments(&eid).await.expect("amendments").len(), 2);

    // An outcome outside the list is refused and the emergency stays open.
    let bad = CloseEmergencyRecord {
        outcome: "fine".into(),
        ..close
    };
    let r = audited(store, 0, store.close_emergency(&fx.ctx, site, &eid2, &bad)).await;
    assert!(r.is_err(), "{r:?}");

    assert_eq!(
        store
            .open_emergencies(site)
            .await
            .expect("open")
            .iter()
            .map(|m| m.id.as_str())
            .collect::<Vec<_>>(),
        [eid2.as_str()],
        "the closed emergency is no longer open"
    );
    let all = store
        .emergencies_between(site, t0, t0 + Duration::hours(1))
        .await
        .expect("between");
    assert_eq!(
        all.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        [eid2.as_str(), eid.as_str()],
        "newest first"
    );
    assert!(
        store
            .emergencies_between(site, t0 + Duration::microseconds(1), t0 + Duration::minutes(30))
            .await
            .expect("between")
            .is_empty(),
        "half-open range"
    );
    assert_chain(store).await;
});

// ------------------------------------------------------ 4. append-only

crate::contract_test!(the_database_refuses_to_rewrite_floor_history, |store| {
    let fx = fixture(store, "GLA").await;
    let site = fx.site();
    let b1 = store
        .add_space(&fx.ctx, site, "Booth 1", "injecting", false)
        .await
        .expect("space");
    let v = arrival(store, &fx, clock::now()).await;
    let ep = store
        .start_episode(&fx.ctx, site, &episode_rec(&v, &b1, clock::now()))
        .await
        .expect("start");
    let now = clock::now();
    let (_, eid) = store
        .add_check(
            &fx.ctx,
            site,
            &ep,
            &check_rec(now, "unresponsive", 4, 80, 3),
            Some(&space_emergency(&v, &ep, &b1, now)),
        )
        .await
        .expect("check");
    let eid = eid.expect("emergency");
    let entry = store
        .add_emergency_entry(&fx.ctx, site, &eid, now, "cpr", r#"{"kind":"cpr"}"#)
        .await
        .expect("entry");
    store
        .amend_emergency_entry(&fx.ctx, site, &eid, &entry, now, "reason")
        .await
        .expect("amend");
    store
        .end_episode(&fx.ctx, site, &ep, clock::now(), false)
        .await
        .expect("end");

    let entries = store.emergency_entries(site, &eid).await.expect("entries");
    let amendments = store.emergency_amendments(&eid).await.expect("amendments");
    let checks = store.checks(site, &ep).await.expect("checks");
    let episode = store.episode(site, &ep).await.expect("episode");
    let emergency = store.emergency(site, &eid).await.expect("emergency");
    assert_eq!((entries.len(), amendments.len(), checks.len()), (2, 1, 1));
    let head_before = store.audit_head().await.expect("head");

    for sql in [
        "UPDATE emergency_entries SET at = recorded_at",
        "UPDATE emergency_entries SET data = '{}'",
        "DELETE FROM emergency_entries",
        "UPDATE emergency_amendments SET reason = 'x'",
        "DELETE FROM emergency_amendments",
        "UPDATE observation_checks SET status = 'responsive'",
        "DELETE FROM observation_checks",
    ] {
        let r = store.execute_raw_for_tests(sql).await;
        let err = r.expect_err(sql).to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    for sql in ["DELETE FROM episodes", "DELETE FROM emergencies"] {
        let r = store.execute_raw_for_tests(sql).await;
        let err = r.expect_err(sql).to_string();
        assert!(err.contains("never deleted"), "{sql}: {err}");
    }

    assert_eq!(store.emergency_entries(site, &eid).await.expect("entries"), entries);
    assert_eq!(store.emergency_amendments(&eid).await.expect("amendments"), amendments);
    assert_eq!(store.checks(site, &ep).await.expect("checks"), checks);
    assert_eq!(store.episode(site, &ep).await.expect("episode"), episode);
    assert_eq!(store.emergency(site, &eid).await.expect("emergency"), emergency);
    assert_eq!(store.audit_head().await.expect("head"), head_before);
    assert_chain(store).await;
});

// ------------------------------------------------------- 5. after-care

crate::contract_test!(aftercare_is_entered_and_left_once, |store| {
    let fx = fixture(store, "GLA").await;
    let other = fixture(store, "EDI").await;
    let site = fx.site();
    let since = clock::now() - Duration::hours(1);
    let v = arrival(store, &fx, clock::now()).await;
    let entered = datetime!(2025-03-04 10:30:00.000042 UTC);
    let ac = audited(store, 1, store.enter_aftercare(&fx.ctx, site, &v.id, entered))
        .await
        .expect("enter");
    assert_last_event(store, AuditAction::Create, "aftercare", &ac).await;
    assert!(
        waiting_ids(store, site, since).await.is_empty(),
        "a person in after-care is not waiting"
    );

    let r = audited(
        store,
        0,
        store.enter_aftercare(&fx.ctx, site, &v.id, entered + Duration::minutes(1)),
    )
    .await;
    assert!(is_conflict(&r), "second enter: {r:?}");

    let now_in = audited(store, 0, store.in_aftercare(site)).await.expect("in aftercare");
    assert_eq!(
        now_in
            .iter()
            .map(|a| (
                a.id.as_str(),
                a.site_id.as_str(),
                a.visit_id.as_str(),
                a.client_code.as_str(),
                a.entered_at,
                a.left_at,
                a.observation.as_str()
            ))
            .collect::<Vec<_>>(),
        [(ac.as_str(), site, v.id.as_str(), "GLA-000001", entered, None, "")]
    );
    assert_eq!(&store.aftercare(site, &ac).await.expect("aftercare"), &now_in[0]);
    assert_eq!(store.aftercare_site(&ac).await.expect("site"), site);
    assert!(store.in_aftercare(&other.site.id).await.expect("other").is_empty());
    assert!(is_not_found(&store.aftercare(&other.site.id, &ac).await));

    let left = entered + Duration::minutes(20) + Duration::microseconds(1);
    let r = audited(
        store,
        0,
        store.leave_aftercare(&other.ctx, &other.site.id, &ac, left, "x"),
    )
    .await;
    assert!(r.is_err(), "another site cannot close the stay: {r:?}");
    audited(
        store,
        1,
        store.leave_aftercare(&fx.ctx, site, &ac, left, "alert, walked out unaided"),
    )
    .await
    .expect("leave");
    assert_last_event(store, AuditAction::Update, "aftercare", &ac).await;
    let row = store.aftercare(site, &ac).await.expect("aftercare");
    assert_eq!(
        (row.entered_at, row.left_at, row.observation.as_str()),
        (entered, Some(left), "alert, walked out unaided")
    );
    assert!(store.in_aftercare(site).await.expect("in aftercare").is_empty());

    let r = audited(
        store,
        0,
        store.leave_aftercare(&fx.ctx, site, &ac, left + Duration::minutes(5), "again"),
    )
    .await;
    assert!(is_conflict(&r), "second leave: {r:?}");
    assert_eq!(store.aftercare(site, &ac).await.expect("aftercare"), row, "unchanged");

    // Once left, the same visit may come back to after-care.
    let back = audited(
        store,
        1,
        store.enter_aftercare(&fx.ctx, site, &v.id, left + Duration::minutes(10)),
    )
    .await
    .expect("re-enter after leaving");
    assert_eq!(
        store
            .aftercare_of_visit(site, &v.id)
            .await
            .expect("of visit")
            .iter()
            .map(|a| a.id.as_str())
            .collect::<Vec<_>>(),
        [ac.as_str(), back.as_str()]
    );
    assert_chain(store).await;
});

// ----------------------------------------------------- 6. handover notes

crate::contract_test!(handover_notes_are_newest_first_with_their_author, |store| {
    let fx = fixture(store, "GLA").await;
    let other = fixture(store, "EDI").await;
    let nurse = second_user(store, &fx, "nurse").await;
    let site = fx.site();
    let since = clock::now();
    let first = audited(
        store,
        1,
        store.add_handover_note(&fx.ctx, site, "Booth 3 tap is dripping"),
    )
    .await
    .expect("note");
    assert_last_event(store, AuditAction::Create, "handover_note", &first).await;
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    let second = audited(
        store,
        1,
        store.add_handover_note(&nurse, site, "GLA-000007 asked for wound care"),
    )
    .await
    .expect("note");
    assert_last_event(store, AuditAction::Create, "handover_note", &second).await;
    store
        .add_handover_note(&other.ctx, &other.site.id, "other site")
        .await
        .expect("other note");
    let after = clock::now();

    let notes = audited(store, 0, store.handover_notes(site, since))
        .await
        .expect("notes");
    assert_eq!(
        notes
            .iter()
            .map(|n| (n.id.as_str(), n.text.as_str(), n.author.as_str()))
            .collect::<Vec<_>>(),
        [
            (second.as_str(), "GLA-000007 asked for wound care", "Second"),
            (first.as_str(), "Booth 3 tap is dripping", "Worker"),
        ]
    );
    assert!(notes.iter().all(|n| n.written_at >= since && n.written_at <= after));
    assert!(notes[0].written_at > notes[1].written_at);
    let later = store.handover_notes(site, notes[0].written_at).await.expect("notes");
    assert_eq!(
        later.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(),
        [second.as_str()],
        "since is inclusive"
    );
    assert!(
        store
            .handover_notes(site, after + Duration::microseconds(1))
            .await
            .expect("notes")
            .is_empty()
    );
    assert_chain(store).await;
});

// ------------------------------------------- 7. refusals and overrides

crate::contract_test!(refusals_are_counted_by_reason_and_overrides_listed, |store| {
    let fx = fixture(store, "GLA").await;
    let site = fx.site();
    let c = new_client(store, &fx).await;
    let from = datetime!(2025-03-04 00:00 UTC);
    let to = datetime!(2025-03-05 00:00 UTC);
    let refusal = |reason: &str, at: OffsetDateTime| NewVisitRecord {
        status: "refused",
        substances: vec![],
        route: None,
        otherwise_place: None,
        refusal_reason: Some(reason.into()),
        ..visit_rec(&c.id, at)
    };
    for (reason, at) in [
        ("intoxicated", from),
        ("intoxicated", from + Duration::hours(3)),
        ("intoxicated", to - Duration::microseconds(1)),
        ("behaviour", from + Duration::hours(5)),
        ("full", from + Duration::hours(6)),
        ("full", from + Duration::hours(7)),
        ("under_age", from - Duration::microseconds(1)), // before the range
        ("under_age", to),                               // after the range
    ] {
        audited(store, 1, store.create_visit(&fx.ctx, site, &refusal(reason, at)))
            .await
            .expect("refusal");
    }
    // A voided refusal does not count, nor does an attendance.
    let (voided, _) = store
        .create_visit(&fx.ctx, site, &refusal("behaviour", from + Duration::hours(8)))
        .await
        .expect("refusal");
    store
        .void_visit(&fx.ctx, site, &voided.id, "wrong person")
        .await
        .expect("void");
    new_visit(store, &fx, &c.id, from + Duration::hours(9)).await;

    let counts = audited(store, 0, store.refusals_by_reason(site, from, to))
        .await
        .expect("refusals");
    assert_eq!(
        counts,
        [
            ("intoxicated".to_string(), 3),
            ("full".to_string(), 2),
            ("behaviour".to_string(), 1),
        ],
        "by count, then reason"
    );
    let other = fixture(store, "EDI").await;
    assert!(
        store
            .refusals_by_reason(&other.site.id, from, to)
            .await
            .expect("refusals")
            .is_empty()
    );

    // An attendance with an override keeps every rule's result and the reason.
    let eligibility = r#"{"results":[{"rule":"residency","passed":false,"message":"lives outside the area"},{"rule":"under_age","passed":true}]}"#;
    let rec = NewVisitRecord {
        eligibility: Some(eligibility.into()),
        override_reason: Some("known to outreach; manager agreed".into()),
        ..visit_rec(&c.id, from + Duration::hours(10) + Duration::microseconds(3))
    };
    let (v, _) = audited(store, 1, store.create_visit(&fx.ctx, site, &rec))
        .await
        .expect("visit with override");
    assert_last_event(store, AuditAction::Create, "visit", &v.id).await;
    assert_eq!(
        (v.eligibility.as_deref(), v.override_reason.as_deref()),
        (Some(eligibility), Some("known to outreach; manager agreed"))
    );
    assert_eq!(store.visit(site, &v.id).await.expect("read back"), v);
    // Assessed and passed: eligibility stored, no override.
    let passed = NewVisitRecord {
        eligibility: Some(r#"{"results":[]}"#.into()),
        ..visit_rec(&c.id, from + Duration::hours(11))
    };
    let (p, _) = store.create_visit(&fx.ctx, site, &passed).await.expect("visit");
    let p = store.visit(site, &p.id).await.expect("read back");
    assert_eq!(
        (p.eligibility.as_deref(), p.override_reason.as_deref()),
        (Some(r#"{"results":[]}"#), None)
    );
    // Outside the range.
    let late = NewVisitRecord {
        eligibility: Some("{}".into()),
        override_reason: Some("late".into()),
        ..visit_rec(&c.id, to)
    };
    store.create_visit(&fx.ctx, site, &late).await.expect("visit");

    let overrides = audited(store, 0, store.overrides_between(site, from, to))
        .await
        .expect("overrides");
    assert_eq!(
        overrides,
        [(eligibility.to_string(), "known to outreach; manager agreed".to_string())]
    );
    assert_chain(store).await;
});

// ------------------------------------------------------- 8. precision

crate::contract_test!(floor_times_read_back_to_the_microsecond, |store| {
    let fx = fixture(store, "GLA").await;
    let site = fx.site();
    let b1 = store
        .add_space(&fx.ctx, site, "Booth 1", "injecting", false)
        .await
        .expect("space");
    let v = arrival(store, &fx, clock::now()).await;
    // Written with a non-UTC offset: read back as the same instant.
    let started = datetime!(2025-07-01 11:22:33.000007 +01:00);
    let ep = store
        .start_episode(&fx.ctx, site, &episode_rec(&v, &b1, started))
        .await
        .expect("start");
    let e = store.episode(site, &ep).await.expect("episode");
    assert_eq!(e.started_at, started);
    assert_eq!(e.started_at.nanosecond(), 7_000);
    assert_eq!(board_row(store, site, &b1).await.started_at, Some(started));

    let check_at = datetime!(2025-07-01 10:30:00.999999 UTC);
    store
        .add_check(&fx.ctx, site, &ep, &check_rec(check_at, "drowsy", 9, 92, 2), None)
        .await
        .expect("check");
    assert_eq!(store.checks(site, &ep).await.expect("checks")[0].at, check_at);

    let recognised = datetime!(2025-07-01 10:31:00.000001 UTC);
    let eid = store
        .open_emergency(&fx.ctx, site, &space_emergency(&v, &ep, &b1, recognised))
        .await
        .expect("emergency");
    let at = datetime!(2025-07-01 10:31:30.123456 UTC);
    let entry = store
        .add_emergency_entry(
            &fx.ctx,
            site,
            &eid,
            at,
            "naloxone",
            r#"{"kind":"naloxone","dose_mg":0.4,"route":"IM"}"#,
        )
        .await
        .expect("entry");
    let entries = store.emergency_entries(site, &eid).await.expect("entries");
    assert_eq!(entries.iter().map(|e| e.at).collect::<Vec<_>>(), [recognised, at]);
    assert_eq!(entries[1].at.nanosecond(), 123_456_000);
    let new_at = datetime!(2025-07-01 10:31:29.000002 UTC);
    store
        .amend_emergency_entry(&fx.ctx, site, &eid, &entry, new_at, "typo")
        .await
        .expect("amend");
    assert_eq!(
        store.emergency_amendments(&eid).await.expect("amendments")[0].new_at,
        new_at
    );
    assert_eq!(
        store.emergency(site, &eid).await.expect("emergency").started_at,
        recognised
    );

    let ended = datetime!(2025-07-01 10:50:00.500001 UTC);
    store.end_episode(&fx.ctx, site, &ep, ended, false).await.expect("end");
    assert_eq!(store.episode(site, &ep).await.expect("episode").ended_at, Some(ended));
    assert_chain(store).await;
});
