//! Browser test of site-wide alerts in headless Chromium against a real
//! server: a manager raises a drug-checking alert with the form on /alerts,
//! and a nurse's board that was already open shows it within a second, over
//! the live feed and without a reload; the nurse's check-in page shows it in
//! the banner; when the manager withdraws it, it leaves the open board
//! within a second.
//!
//! The lock of `browser_floor.rs` is private to that file, so the browser
//! tests here take turns on their own lock.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

use crate::common::server::{PASSWORD, TestServer};
use crate::common::webdriver::Driver;

/// How long one page may take to show what a step expects.
const PAGE: Duration = Duration::from_secs(10);

/// How soon an open board must follow a change.
const LIVE: Duration = Duration::from_secs(1);

/// How long to keep looking before reporting how late a board was.
const GIVE_UP: Duration = Duration::from_secs(5);

const TEXT: &str = "Nitazene found in heroin sample: use less, go slow, never alone";

/// The browser tests of this file run one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// ---------- server, browsers, clean-up ----------

/// A server with `n` browsers; [`Rig::finish`] quits them all, stops the
/// server and reports.
struct Rig {
    server: TestServer,
    drivers: Vec<Driver>,
    t0: Instant,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

async fn rig(name: &str, n: usize) -> Rig {
    let turn = ONE_AT_A_TIME.lock().await;
    let t0 = Instant::now();
    let server = TestServer::start().await;
    let mut drivers = Vec::with_capacity(n);
    for _ in 0..n {
        match Driver::start().await {
            Ok(d) => drivers.push(d),
            Err(e) => {
                for d in drivers {
                    d.quit().await;
                }
                server.stop().await;
                panic!("{e:#}");
            }
        }
    }
    eprintln!("{name}: server and {n} Chromium session(s) up in {:?}", t0.elapsed());
    Rig {
        server,
        drivers,
        t0,
        _turn: turn,
    }
}

impl Rig {
    /// Saves screenshots and sources on failure, quits the browsers, stops
    /// the server, and fails the test with the error.
    async fn finish(self, name: &str, result: Result<()>) {
        let mut artefacts = Vec::new();
        if result.is_err() {
            for (i, d) in self.drivers.iter().enumerate() {
                artefacts.push(format!(
                    "browser {}: {}",
                    i + 1,
                    d.save_artifacts(&format!("{name}-{}", i + 1)).await
                ));
            }
        }
        for d in self.drivers {
            d.quit().await;
        }
        self.server.stop().await;
        eprintln!("{name}: done in {:?}", self.t0.elapsed());
        if let Err(e) = result {
            panic!("{name} failed: {e:#}\n{}", artefacts.join("\n"));
        }
    }
}

// ---------- pages ----------

async fn log_in(d: &Driver, server: &TestServer, user: &str) -> Result<()> {
    d.goto(&server.url("/login")).await?;
    d.fill("#username", user).await?;
    d.fill("#password", PASSWORD).await?;
    d.click_on("button[type=submit]").await?;
    d.wait_for("#fig-visits", PAGE)
        .await
        .with_context(|| format!("home page after logging in as {user}"))?;
    Ok(())
}

async fn open_board(d: &Driver, server: &TestServer) -> Result<()> {
    d.goto(&server.url("/board")).await?;
    d.wait_for("#board ul.spaces li.space", PAGE)
        .await
        .context("the board's spaces")?;
    Ok(())
}

/// What the board fragment shows of alerts: the ids of its alert lines
/// (visible ones only) and the text of the alerts section.
const BOARD_ALERTS_JS: &str = r#"
const board = document.getElementById('board');
if (!board) return null;
const lines = Array.from(board.querySelectorAll('section.board-alerts p.alert-line'))
  .filter(function (p) { return !p.hidden; });
return {
  ids: lines.map(function (p) { return p.id; }),
  text: lines.map(function (p) { return p.textContent.replace(/\s+/g, ' ').trim(); }).join(' | ')
};
"#;

#[derive(Debug, Clone, Default, PartialEq)]
struct BoardAlerts {
    ids: Vec<String>,
    text: String,
}

async fn board_alerts(d: &Driver) -> Result<BoardAlerts> {
    let v = d.execute(BOARD_ALERTS_JS, vec![]).await?;
    ensure!(!v.is_null(), "no #board on the page");
    Ok(BoardAlerts {
        ids: v["ids"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default(),
        text: v["text"].as_str().unwrap_or_default().to_string(),
    })
}

/// Polls (every 50 ms) until the board's alerts satisfy `pred`; returns how
/// long after `since` that was, or fails after [`GIVE_UP`] with what was seen.
async fn wait_board(d: &Driver, since: Instant, what: &str, pred: impl Fn(&BoardAlerts) -> bool) -> Result<Duration> {
    loop {
        let b = board_alerts(d).await?;
        let at = since.elapsed();
        if pred(&b) {
            return Ok(at);
        }
        if at > GIVE_UP {
            bail!("the open board did not show {what} within {GIVE_UP:?}; last seen: {b:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether the board's live feed (htmx's EventSource on `#board`) is open:
/// the server subscribes the viewer before it answers, so every change from
/// then on reaches this page.
const FEED_OPEN_JS: &str = r#"
const el = document.getElementById('board');
const d = el && el['htmx-internal-data'];
return !!(d && d.sseEventSource && d.sseEventSource.readyState === 1);
"#;

/// Marks the page, so that a later look can tell whether it was reloaded,
/// and counts live-feed messages since.
const WATCH_JS: &str = r#"
window.__alertTest = {marker: arguments[0], sse: 0};
document.addEventListener('htmx:sseMessage', function () { window.__alertTest.sse += 1; });
return true;
"#;

/// (marker, live-feed messages since [`WATCH_JS`]), or `None` after a reload.
async fn watched(d: &Driver) -> Result<Option<(String, u64)>> {
    let v = d
        .execute(
            "return window.__alertTest ? [window.__alertTest.marker, window.__alertTest.sse] : null;",
            vec![],
        )
        .await?;
    Ok(v.as_array().map(|a| {
        (
            a[0].as_str().unwrap_or_default().to_string(),
            a[1].as_u64().unwrap_or(0),
        )
    }))
}

/// The text of the alert banner (`None` when the page has none).
async fn banner(d: &Driver) -> Result<Option<String>> {
    let v = d
        .execute(
            "const b = document.querySelector('.alert-banner'); \
             return b ? b.textContent.replace(/\\s+/g, ' ').trim() : null;",
            vec![],
        )
        .await?;
    Ok(v.as_str().map(str::to_string))
}

// ---------- the test ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_a_drug_checking_alert_appears_on_a_board_that_is_already_open() {
    const NAME: &str = "browser_a_drug_checking_alert_appears_on_a_board_that_is_already_open";
    let rig = rig(NAME, 3).await;
    let result = alert_on_open_board(&rig.drivers[0], &rig.drivers[1], &rig.drivers[2], &rig.server).await;
    rig.finish(NAME, result).await;
}

/// `nurse` keeps the board open throughout; `manager` raises and withdraws
/// the alert on /alerts; `desk` is the nurse at the check-in desk, in a
/// browser of their own so that the board never leaves the first one.
async fn alert_on_open_board(nurse: &Driver, manager: &Driver, desk: &Driver, server: &TestServer) -> Result<()> {
    log_in(nurse, server, "demo-nurse").await?;
    log_in(manager, server, "demo-manager").await?;
    log_in(desk, server, "demo-nurse").await?;

    // The nurse's board is open and shows no alert; its live feed is up.
    open_board(nurse, server).await.context("the nurse's board")?;
    let before = board_alerts(nurse).await?;
    ensure!(
        before.ids.is_empty(),
        "the board shows an alert before any was raised: {before:?}"
    );
    ensure!(
        nurse.find_all("#board section.board-alerts").await?.is_empty(),
        "an empty alerts section on the board"
    );
    ensure!(
        banner(nurse).await?.is_none(),
        "the board page has an alert banner before any alert"
    );
    nurse
        .wait_script(FEED_OPEN_JS, vec![], PAGE)
        .await
        .context("the board's live feed")?;
    nurse.execute(WATCH_JS, vec![json!("board-1")]).await?;

    // The manager raises the alert with the form.
    manager.goto(&server.url("/alerts")).await?;
    manager.wait_for("#alert-form", PAGE).await.context("the raise form")?;
    ensure!(
        manager.find_all("#no-alerts").await?.len() == 1,
        "/alerts lists an alert before any was raised"
    );
    manager.fill("#text", TEXT).await?;
    manager.fill("#hours", "4").await?;
    let shared = manager.find("#alert-form input[type=checkbox][name=shared]").await?;
    ensure!(
        manager.property(&shared, "checked").await? == json!(false),
        "the shared box starts unticked"
    );
    let button = manager.find("#alert-form button[type=submit]").await?;
    ensure!(
        manager.text(&button).await?.trim() == "Raise alert",
        "the form's button is not \"Raise alert\""
    );
    manager.click(&button).await.context("clicking Raise alert")?;
    let submitted = Instant::now();

    // The manager is back on /alerts, which lists the new alert.
    let raised = match wait_board(nurse, submitted, "the new alert", |b| b.text.contains(TEXT)).await {
        Ok(at) => at,
        Err(e) => {
            let page = manager.current_url().await.unwrap_or_default();
            let problem = manager
                .execute(
                    "const e = document.querySelector('.error-summary'); return e ? e.textContent : null;",
                    vec![],
                )
                .await
                .unwrap_or(Value::Null);
            return Err(e.context(format!("after raising (manager on {page}; form errors: {problem})")));
        }
    };
    eprintln!("alert shown on the open board {raised:?} after the form submit returned");
    ensure!(
        raised <= LIVE,
        "the open board took {raised:?} (more than {LIVE:?}) to show the alert"
    );
    let url = manager.wait_url(PAGE, |u| u.ends_with("/alerts")).await?;
    ensure!(
        manager.find_all(".error-summary").await?.is_empty(),
        "the form shows errors on {url}"
    );
    let row = manager
        .wait_for("#alerts tr[id^='alert-row-']", PAGE)
        .await
        .context("the new alert on /alerts")?;
    let row_id = manager.attr(&row, "id").await?.unwrap_or_default();
    let id = row_id.strip_prefix("alert-row-").context("alert row id")?.to_string();
    let row_text = manager.text(&row).await?;
    ensure!(row_text.contains(TEXT), "/alerts row: {row_text:?}");
    ensure!(
        banner(manager).await?.is_some_and(|b| b.contains(TEXT)),
        "the manager's /alerts page has no banner with the alert"
    );

    // The board shows exactly that alert, as `p.alert-line#alert-<id>`, and
    // was not reloaded: the live feed brought it.
    let shown = board_alerts(nurse).await?;
    ensure!(
        shown.ids == [format!("alert-{id}")],
        "the board's alert lines: {shown:?} (expected alert-{id})"
    );
    let line = nurse
        .text(
            &nurse
                .find(&format!("#board section.board-alerts p.alert-line#alert-{id}"))
                .await?,
        )
        .await?;
    ensure!(line.contains(TEXT), "the board's alert line: {line:?}");
    match watched(nurse).await? {
        Some((m, sse)) if m == "board-1" && sse > 0 => {}
        other => bail!("the board was reloaded or got no live message (marker, messages): {other:?}"),
    }

    // At the check-in desk the nurse sees the alert in the banner.
    desk.goto(&server.url("/checkin")).await?;
    let b = desk
        .wait_for(".alert-banner", PAGE)
        .await
        .context("the alert banner on /checkin")?;
    let b = desk.text(&b).await?;
    ensure!(b.contains(TEXT), "the /checkin banner: {b:?}");

    // The manager withdraws it. The Withdraw form asks to confirm; the
    // prompt is answered yes by the page's own `confirm`, replaced here.
    let form = manager
        .find(&format!("#alert-row-{id} form[action='/alerts/{id}/withdraw']"))
        .await
        .context("the Withdraw form")?;
    ensure!(
        manager.attr(&form, "data-confirm").await?.is_some(),
        "the Withdraw form does not ask to confirm"
    );
    manager
        .execute("window.confirm = function () { return true; }; return true;", vec![])
        .await?;
    let withdraw = manager
        .find(&format!("#alert-row-{id} form button[type=submit]"))
        .await?;
    ensure!(
        manager.text(&withdraw).await?.trim() == "Withdraw",
        "the row's button is not \"Withdraw\""
    );
    manager.click(&withdraw).await.context("clicking Withdraw")?;
    let withdrawn_at = Instant::now();

    let gone = wait_board(nurse, withdrawn_at, "the alert gone", |b| b.ids.is_empty()).await?;
    eprintln!("alert gone from the open board {gone:?} after the withdraw submit returned");
    ensure!(
        gone <= LIVE,
        "the open board took {gone:?} (more than {LIVE:?}) to drop the withdrawn alert"
    );
    ensure!(
        nurse.find_all("#board section.board-alerts").await?.is_empty(),
        "an empty alerts section is left on the board"
    );
    let page_text = nurse.execute("return document.body.innerText;", vec![]).await?;
    ensure!(
        !page_text.as_str().unwrap_or_default().contains(TEXT),
        "the withdrawn alert's text is still on the nurse's board page"
    );
    match watched(nurse).await? {
        Some((m, _)) if m == "board-1" => {}
        other => bail!("the board was reloaded: {other:?}"),
    }

    // /alerts lists no alert any more.
    manager
        .wait_for("#no-alerts", PAGE)
        .await
        .context("/alerts after withdrawing")?;
    ensure!(
        banner(manager).await?.is_none(),
        "the manager's /alerts page still has a banner"
    );

    // The check-in page no longer shows it either.
    desk.goto(&server.url("/checkin")).await?;
    desk.wait_for("main#main", PAGE).await?;
    ensure!(
        banner(desk).await?.is_none(),
        "/checkin still shows the withdrawn alert"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_an_alert_raised_from_a_drug_check_sample_reaches_an_open_board() {
    const NAME: &str = "browser_an_alert_raised_from_a_drug_check_sample_reaches_an_open_board";
    let rig = rig(NAME, 2).await;
    let result = sample_alert_on_open_board(&rig.drivers[0], &rig.drivers[1], &rig.server).await;
    rig.finish(NAME, result).await;
}

/// The issue's path end to end: a nurse records a sample and its FTIR result
/// on the drug-checking pages, the page names the nitazene as a concern, and
/// the alert raised from the sample reaches a board that was already open
/// (`board`, a worker) within a second, without a reload.
async fn sample_alert_on_open_board(board: &Driver, nurse: &Driver, server: &TestServer) -> Result<()> {
    log_in(board, server, "demo-worker").await?;
    log_in(nurse, server, "demo-nurse").await?;
    open_board(board, server).await.context("the worker's board")?;
    ensure!(
        board_alerts(board).await?.ids.is_empty(),
        "an alert before any was raised"
    );
    board
        .wait_script(FEED_OPEN_JS, vec![], PAGE)
        .await
        .context("the board's live feed")?;
    board.execute(WATCH_JS, vec![json!("board-2")]).await?;

    nurse.goto(&server.url("/drug-checks")).await?;
    nurse.wait_for("#sample-form", PAGE).await.context("the sample form")?;
    nurse.fill("#expected", "heroin").await?;
    nurse.click_on("#sample-form input[name=form][value=powder]").await?;
    nurse.click_on("#sample-form button[type=submit]").await?;
    nurse
        .wait_for("#result-form", PAGE)
        .await
        .context("the sample's page")?;
    nurse.click_on("#method option[value=ftir]").await?;
    nurse.fill("#components", "heroin, 60\nprotonitazene").await?;
    nurse.click_on("#result-form button[type=submit]").await?;
    let concerns = nurse
        .wait_text("#concerns", PAGE, |t| t.contains("nitazene"))
        .await
        .context("the concern on the sample's page")?;
    ensure!(concerns.contains("nitazene"), "{concerns:?}");
    // The alert form is pre-filled from the concern; only the hours change.
    let text = nurse.property(&nurse.find("#alert-text").await?, "value").await?;
    let text = text.as_str().unwrap_or_default().to_string();
    ensure!(
        text.starts_with("Nitazene found in a sample sold as heroin"),
        "pre-filled text: {text:?}"
    );
    nurse.fill("#hours", "6").await?;
    nurse.click_on("#alert-form button[type=submit]").await?;
    let submitted = Instant::now();
    let at = wait_board(board, submitted, "the alert from the sample", |b| {
        b.text.contains(&text)
    })
    .await?;
    eprintln!("alert from a sample shown on the open board {at:?} after the submit");
    ensure!(at <= LIVE, "the open board took {at:?} (more than {LIVE:?})");
    match watched(board).await? {
        Some((m, sse)) if m == "board-2" && sse > 0 => {}
        other => bail!("the board was reloaded or got no live message: {other:?}"),
    }
    Ok(())
}
