//! The live board over real HTTP: Server-Sent Events reach every open board
//! of a site within a second, never another site's, and a reconnect starts
//! with the whole board. Board actions refuse bad input with a message.

use std::time::{Duration, Instant};

use haven_domain::{codes::CodeScheme, site::validate_site};
use tokio::sync::mpsc;

use crate::common::server::{PASSWORD, TestServer};

/// One SSE event: (event name, data).
pub(crate) type SseEvent = (String, String);

/// Opens `/board/events` and forwards parsed events until the stream ends.
pub(crate) async fn open_board(s: &TestServer, c: &reqwest::Client) -> mpsc::UnboundedReceiver<SseEvent> {
    let mut r = c.get(s.url("/board/events")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers().get("content-type").unwrap().to_str().unwrap(),
        "text/event-stream"
    );
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = String::new();
        while let Ok(Some(chunk)) = r.chunk().await {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let block: String = buf.drain(..end + 2).collect();
                let mut name = String::new();
                let mut data: Vec<&str> = Vec::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if !name.is_empty() && tx.send((name, data.join("\n"))).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// Waits until a board event whose data satisfies `pred` arrives.
pub(crate) async fn wait_for(
    rx: &mut mpsc::UnboundedReceiver<SseEvent>,
    within: Duration,
    pred: impl Fn(&str) -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some((name, data))) if name == "board" && pred(&data) => return true,
            Ok(Some(_)) => continue,
            _ => return false,
        }
    }
}

/// A client of the demo site, checked in for injection through the page.
async fn checked_in(s: &TestServer, c: &reqwest::Client, csrf: &str, n: usize) -> (String, String) {
    let site = s.db.store.site_by_code("GLA").await.unwrap();
    let client = s.db.store.search_clients(&site.id, "GLA-", 50).await.unwrap()[n].clone();
    let r = c
        .post(s.url("/checkin"))
        .form(&[
            ("csrf", csrf),
            ("client_id", client.id.as_str()),
            ("substances", "heroin"),
            ("route", "injection"),
            ("otherwise_place", "public"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        303,
        "check-in failed: {}",
        r.text().await.unwrap_or_default()
    );
    let visit =
        s.db.store
            .visits_of_clients(&site.id, std::slice::from_ref(&client.id), 1)
            .await
            .unwrap()
            .remove(0);
    (client.code, visit.id)
}

async fn free_space(s: &TestServer) -> (String, String) {
    let site = s.db.store.site_by_code("GLA").await.unwrap();
    let b = s.db.store.board_spaces(&site.id).await.unwrap();
    let free = b
        .iter()
        .find(|x| x.in_service && !x.needs_cleaning && x.episode_id.is_none())
        .expect("a free space");
    (free.id.clone(), free.label.clone())
}

async fn htmx_post(
    s: &TestServer,
    c: &reqwest::Client,
    csrf: &str,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, String) {
    let r = c
        .post(s.url(path))
        .header("HX-Request", "true")
        .header("X-CSRF-Token", csrf)
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_open_boards_both_show_a_new_episode_within_a_second() {
    let s = TestServer::start().await;
    let (nurse, csrf) = s.login("demo-nurse").await;
    let (worker, _) = s.login("demo-worker").await;
    let mut a = open_board(&s, &nurse).await;
    let mut b = open_board(&s, &worker).await;
    // The first event is the whole board as it is now.
    assert!(wait_for(&mut a, Duration::from_secs(5), |d| d.contains("class=\"spaces\"")).await);
    assert!(wait_for(&mut b, Duration::from_secs(5), |d| d.contains("class=\"spaces\"")).await);

    let (code, visit_id) = checked_in(&s, &nurse, &csrf, 0).await;
    // The check-in puts the person on the waiting list of both boards.
    assert!(
        wait_for(&mut a, Duration::from_secs(1), |d| d
            .contains(&format!("waiting-{visit_id}")))
        .await
    );
    assert!(
        wait_for(&mut b, Duration::from_secs(1), |d| d
            .contains(&format!("waiting-{visit_id}")))
        .await
    );

    let (space_id, _) = free_space(&s).await;
    let t = Instant::now();
    let (status, _) = htmx_post(
        &s,
        &nurse,
        &csrf,
        "/episodes",
        &[("visit_id", &visit_id), ("space_id", &space_id)],
    )
    .await;
    assert_eq!(status, 200);
    let in_space = |d: &str| {
        d.find(&format!("id=\"space-{space_id}\"")).is_some_and(|i| {
            let card = &d[i..d[i..].find("</li>").map_or(d.len(), |e| i + e)];
            card.contains(&code)
        })
    };
    assert!(
        wait_for(&mut a, Duration::from_secs(1), in_space).await,
        "board A did not update"
    );
    assert!(
        wait_for(&mut b, Duration::from_secs(1), in_space).await,
        "board B did not update"
    );
    eprintln!("both boards updated {:?} after the commit", t.elapsed());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_never_sees_another_sites_board_asvs_8_4_1() {
    let s = TestServer::start().await;
    let store = &s.db.store;
    let sys = haven_app::system_ctx("test");
    let other = store
        .create_site(
            &sys,
            &validate_site(
                "OTH",
                "Other site",
                "Europe/London",
                "09:00",
                "21:00",
                CodeScheme::Site.as_str(),
            )
            .unwrap(),
            "{}",
        )
        .await
        .unwrap();
    store
        .add_space(&sys, &other.id, "Other 1", "injecting", false)
        .await
        .unwrap();
    let hash = haven_app::auth::hash_password(PASSWORD).unwrap();
    store
        .create_user(&sys, "other-nurse", "Other nurse", &hash, Some((&other.id, "nurse")))
        .await
        .unwrap();

    let (gla, csrf) = s.login("demo-nurse").await;
    let (oth, _) = s.login("other-nurse").await;
    let mut mine = open_board(&s, &gla).await;
    let mut theirs = open_board(&s, &oth).await;
    assert!(
        wait_for(&mut theirs, Duration::from_secs(5), |d| d.contains("Other 1")
            && !d.contains("Booth 1"))
        .await
    );
    assert!(
        wait_for(&mut mine, Duration::from_secs(5), |d| d.contains("Booth 1")
            && !d.contains("Other 1"))
        .await
    );

    let (code, _) = checked_in(&s, &gla, &csrf, 0).await;
    assert!(wait_for(&mut mine, Duration::from_secs(1), |d| d.contains(&code)).await);
    // The other site's board hears nothing of it.
    assert!(!wait_for(&mut theirs, Duration::from_millis(1500), |_| true).await);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_board_starts_with_the_current_state() {
    let s = TestServer::start().await;
    let (nurse, csrf) = s.login("demo-nurse").await;
    let mut first = open_board(&s, &nurse).await;
    assert!(wait_for(&mut first, Duration::from_secs(5), |_| true).await);
    drop(first); // the connection drops
    let (code, _) = checked_in(&s, &nurse, &csrf, 0).await;
    // A new connection's first event already holds what changed meanwhile.
    let mut again = open_board(&s, &nurse).await;
    assert!(wait_for(&mut again, Duration::from_secs(2), |d| d.contains(&code)).await);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn board_actions_refuse_an_occupied_space_and_a_second_end_naming_why() {
    let s = TestServer::start().await;
    let (nurse, csrf) = s.login("demo-nurse").await;
    let (_, v1) = checked_in(&s, &nurse, &csrf, 0).await;
    let (_, v2) = checked_in(&s, &nurse, &csrf, 1).await;
    let (space_id, label) = free_space(&s).await;
    let (st, _) = htmx_post(
        &s,
        &nurse,
        &csrf,
        "/episodes",
        &[("visit_id", &v1), ("space_id", &space_id)],
    )
    .await;
    assert_eq!(st, 200);
    let audit_before = s.db.store.audit_head().await.unwrap().0;
    let (st, body) = htmx_post(
        &s,
        &nurse,
        &csrf,
        "/episodes",
        &[("visit_id", &v2), ("space_id", &space_id)],
    )
    .await;
    assert_eq!(st, 422, "{body}");
    assert!(body.contains(&format!("space {label} is occupied")), "{body}");
    assert_eq!(
        s.db.store.audit_head().await.unwrap().0,
        audit_before,
        "nothing written"
    );

    let site = s.db.store.site_by_code("GLA").await.unwrap();
    let ep = s.db.store.open_episodes(&site.id).await.unwrap();
    let ep = ep.iter().find(|e| e.visit_id == v1).unwrap();
    let path = format!("/episodes/{}/end", ep.id);
    let (st, _) = htmx_post(&s, &nurse, &csrf, &path, &[("then", "aftercare")]).await;
    assert_eq!(st, 200);
    let (st, body) = htmx_post(&s, &nurse, &csrf, &path, &[("then", "aftercare")]).await;
    assert_eq!(st, 422, "{body}");
    assert!(body.contains("already ended"), "{body}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_staff_assigning_the_last_free_space_at_once_one_wins() {
    let s = TestServer::start().await;
    let (a, csrf_a) = s.login("demo-nurse").await;
    let (b, csrf_b) = s.login("demo-worker").await;
    let site = s.db.store.site_by_code("GLA").await.unwrap();
    let sys = haven_app::system_ctx("test");
    // Take every space but one out of service.
    let spaces = s.db.store.board_spaces(&site.id).await.unwrap();
    let last = spaces
        .iter()
        .find(|x| x.in_service && !x.needs_cleaning && x.episode_id.is_none())
        .unwrap()
        .id
        .clone();
    for sp in spaces.iter().filter(|x| x.id != last && x.episode_id.is_none()) {
        s.db.store
            .mark_space(&sys, &site.id, &sp.id, haven_store::SpaceMark::OutOfService)
            .await
            .unwrap();
    }
    let (_, v1) = checked_in(&s, &a, &csrf_a, 0).await;
    let (_, v2) = checked_in(&s, &a, &csrf_a, 1).await;
    let fa = [("visit_id", v1.as_str()), ("space_id", last.as_str())];
    let fb = [("visit_id", v2.as_str()), ("space_id", last.as_str())];
    let (ra, rb) = tokio::join!(
        htmx_post(&s, &a, &csrf_a, "/episodes", &fa),
        htmx_post(&s, &b, &csrf_b, "/episodes", &fb),
    );
    let mut codes = [ra.0, rb.0];
    codes.sort_unstable();
    assert_eq!(codes[0], 200, "{ra:?} {rb:?}");
    assert!(codes[1] == 409 || codes[1] == 422, "the loser is told: {ra:?} {rb:?}");
    let loser = if ra.0 == 200 { &rb.1 } else { &ra.1 };
    assert!(loser.contains("occupied") || loser.contains("just taken"), "{loser}");
    let running = s.db.store.open_episodes(&site.id).await.unwrap();
    assert_eq!(running.iter().filter(|e| e.space_id == last).count(), 1);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_needs_a_floor_role_and_the_evaluator_has_none() {
    let s = TestServer::start().await;
    let (ev, _) = s.login("demo-evaluator").await;
    assert_eq!(ev.get(s.url("/board")).send().await.unwrap().status(), 403);
    assert_eq!(ev.get(s.url("/board/events")).send().await.unwrap().status(), 403);
    let (nurse, _) = s.login("demo-nurse").await;
    let page = nurse.get(s.url("/board")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("sse-connect=\"/board/events\""));
    assert!(html.contains("Booth 1"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_open_board_streams() {
    let s = TestServer::start().await;
    let (nurse, _) = s.login("demo-nurse").await;
    let mut rx = open_board(&s, &nurse).await;
    assert!(wait_for(&mut rx, Duration::from_secs(5), |_| true).await);
    let t = Instant::now();
    s.stop().await;
    // The stream ended (the forwarding task dropped its sender).
    let ended = tokio::time::timeout(Duration::from_secs(5), async { while rx.recv().await.is_some() {} }).await;
    assert!(ended.is_ok(), "the board stream outlived the server");
    assert!(
        t.elapsed() < Duration::from_secs(9),
        "shutdown waited on the stream: {:?}",
        t.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_out_ends_an_open_board_stream_asvs_7_4_1() {
    let s = TestServer::start().await;
    let (nurse, csrf) = s.login("demo-nurse").await;
    let mut rx = open_board(&s, &nurse).await;
    assert!(wait_for(&mut rx, Duration::from_secs(5), |_| true).await);
    let r = nurse
        .post(s.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    // The stream re-checks its session every 30 seconds and then ends.
    let ended = tokio::time::timeout(Duration::from_secs(40), async { while rx.recv().await.is_some() {} }).await;
    assert!(ended.is_ok(), "the board kept streaming after logout");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handover_lists_the_floor_and_keeps_a_note() {
    let s = TestServer::start().await;
    let (nurse, csrf) = s.login("demo-nurse").await;
    // An empty note is refused with the form shown again.
    let r = nurse
        .post(s.url("/handover/notes"))
        .form(&[("csrf", csrf.as_str()), ("text", "   ")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let note = "Booth 3 door sticks; maintenance called";
    let r = nurse
        .post(s.url("/handover/notes"))
        .form(&[("csrf", csrf.as_str()), ("text", note)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let html = nurse
        .get(s.url("/handover"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(note));
    // The demo's live floor: running episodes and the person waiting are listed.
    let site = s.db.store.site_by_code("GLA").await.unwrap();
    for e in s.db.store.open_episodes(&site.id).await.unwrap() {
        assert!(html.contains(&e.client_code), "episode of {} missing", e.client_code);
    }
    for w in
        s.db.store
            .waiting(&site.id, haven_domain::clock::now() - time::Duration::hours(18))
            .await
            .unwrap()
    {
        assert!(html.contains(&w.client_code), "waiting {} missing", w.client_code);
    }
    s.stop().await;
}
