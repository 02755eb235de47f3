//! Browser tests of the floor in headless Chromium against a real server:
//! two open boards follow a new episode at once, the browser's own timers
//! turn a space amber and then red, and an emergency is recorded by taps on
//! the record page, from the board's "Unresponsive" button to its close.
//!
//! The state is set up quickly through the JSON API with a bearer token;
//! everything asserted is what a browser shows. The tests here take turns
//! (one lock) so that the timing checks do not compete with each other for
//! the machine's cores.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde_json::{Value, json};

use crate::common::server::{PASSWORD, TestServer};
use crate::common::webdriver::Driver;

/// How long one page may take to show what a step expects.
const PAGE: Duration = Duration::from_secs(10);

/// The browser tests of this file run one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// ---------- set-up through the API ----------

/// The JSON API as one user, with a bearer token.
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

fn text_of(v: &Value, key: &str) -> Result<String> {
    v[key]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("no string `{key}` in {v}"))
}

impl Api {
    async fn new(server: &TestServer, user: &str) -> Result<Api> {
        Ok(Api {
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(20))
                .build()
                .context("API client")?,
            base: server.url("/api/v1"),
            token: server.token(user).await,
        })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.with_context(|| format!("API {method} {path}"))?;
        let status = r.status();
        let text = r.text().await.with_context(|| format!("API {method} {path}: body"))?;
        ensure!(status.is_success(), "API {method} {path}: HTTP {status}: {text}");
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).with_context(|| format!("API {method} {path}: not JSON: {text:.300}"))
    }

    /// Registers a new client at GLA: (id, code).
    async fn new_client(&self) -> Result<(String, String)> {
        let v = self
            .call(
                reqwest::Method::POST,
                "/clients",
                Some(json!({
                    "site": "GLA", "year_of_birth": 1984, "gender": "male", "home_area": "G2",
                    "confirm_new": true
                })),
            )
            .await?;
        Ok((text_of(&v, "id")?, text_of(&v, "code")?))
    }

    /// Checks a client in for injection, arrived `ago` before now: the visit id.
    async fn check_in(&self, client_id: &str, substances: &[&str], ago: time::Duration) -> Result<String> {
        let arrived = haven_domain::clock::rfc3339(haven_domain::clock::now() - ago);
        let v = self
            .call(
                reqwest::Method::POST,
                "/visits",
                Some(json!({
                    "client_id": client_id, "substances": substances, "route": "injection",
                    "otherwise_place": "public", "arrived_at": arrived
                })),
            )
            .await?;
        text_of(&v, "id")
    }

    /// Ids of the free spaces at GLA, in board order.
    async fn free_spaces(&self) -> Result<Vec<String>> {
        let v = self.call(reqwest::Method::GET, "/board?site=GLA", None).await?;
        let spaces = v["spaces"].as_array().ok_or_else(|| anyhow!("no spaces in {v}"))?;
        spaces
            .iter()
            .filter(|s| s["state"] == json!("free"))
            .map(|s| text_of(s, "id"))
            .collect()
    }

    /// Starts an episode that began `ago` before now: the episode id.
    async fn start_episode(&self, visit_id: &str, space_id: &str, ago: time::Duration) -> Result<String> {
        let started = haven_domain::clock::rfc3339(haven_domain::clock::now() - ago);
        let v = self
            .call(
                reqwest::Method::POST,
                "/episodes",
                Some(json!({"visit_id": visit_id, "space_id": space_id, "started_at": started})),
            )
            .await?;
        text_of(&v, "id")
    }
}

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

/// A space card as the browser shows it now.
#[derive(Debug, Clone, Default, PartialEq)]
struct Card {
    in_use: bool,
    code: String,
    alarm: String,
    emergency: bool,
    last_check: String,
}

impl Card {
    fn shows(&self, code: &str) -> bool {
        self.in_use && self.code == code
    }
}

const CARD_JS: &str = r#"
const el = document.getElementById('space-' + arguments[0]);
if (!el) return null;
const code = el.querySelector('.space-who .code');
return {
  in_use: el.classList.contains('state-in_use'),
  code: code ? code.textContent.trim() : '',
  alarm: el.getAttribute('data-alarm') || '',
  emergency: el.hasAttribute('data-emergency'),
  last_check: el.getAttribute('data-last-check') || ''
};
"#;

/// The card of a space (`None` when it is not on the page).
async fn card(d: &Driver, space_id: &str) -> Result<Option<Card>> {
    let v = d.execute(CARD_JS, vec![json!(space_id)]).await?;
    if v.is_null() {
        return Ok(None);
    }
    Ok(Some(Card {
        in_use: v["in_use"].as_bool().unwrap_or(false),
        code: v["code"].as_str().unwrap_or_default().to_string(),
        alarm: v["alarm"].as_str().unwrap_or_default().to_string(),
        emergency: v["emergency"].as_bool().unwrap_or(false),
        last_check: v["last_check"].as_str().unwrap_or_default().to_string(),
    }))
}

/// Polls (every 100 ms) until the card satisfies `pred`; returns it.
async fn wait_card(d: &Driver, space_id: &str, timeout: Duration, pred: impl Fn(&Card) -> bool) -> Result<Card> {
    let deadline = Instant::now() + timeout;
    loop {
        let c = card(d, space_id).await?;
        if let Some(c) = &c
            && pred(c)
        {
            return Ok(c.clone());
        }
        if Instant::now() > deadline {
            bail!("space card {space_id} not as expected within {timeout:?}; last seen: {c:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Clicks a button of a space card, found afresh.
async fn click_card_button(d: &Driver, space_id: &str, class: &str) -> Result<()> {
    d.click_on(&format!("#space-{space_id} .space-actions button.{class}"))
        .await
        .with_context(|| format!("clicking {class} on space {space_id}"))
}

/// Counts live-feed messages and marks the page, so that a later look can
/// tell whether the page was reloaded or the server sent anything.
const WATCH_JS: &str = r#"
window.__floorTest = {marker: arguments[0], sse: 0};
document.addEventListener('htmx:sseMessage', function () { window.__floorTest.sse += 1; });
return true;
"#;

/// (marker, live-feed messages since [`WATCH_JS`]), or `None` after a reload.
async fn watched(d: &Driver) -> Result<Option<(String, u64)>> {
    let v = d
        .execute(
            "return window.__floorTest ? [window.__floorTest.marker, window.__floorTest.sse] : null;",
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

// ---------- 1. two boards ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_two_boards_show_a_new_episode_within_a_second() {
    const NAME: &str = "browser_two_boards_show_a_new_episode_within_a_second";
    let rig = rig(NAME, 2).await;
    let result = two_boards(&rig.drivers[0], &rig.drivers[1], &rig.server).await;
    rig.finish(NAME, result).await;
}

async fn two_boards(nurse: &Driver, worker: &Driver, server: &TestServer) -> Result<()> {
    log_in(nurse, server, "demo-nurse").await?;
    log_in(worker, server, "demo-worker").await?;
    open_board(nurse, server).await.context("board 1 (nurse)")?;
    open_board(worker, server).await.context("board 2 (worker)")?;

    // A check-in through the API reaches both boards' waiting lists over
    // the live feed, which shows that both feeds are connected.
    let api = Api::new(server, "demo-nurse").await?;
    let (client_id, code) = api.new_client().await?;
    let visit = api
        .check_in(&client_id, &["heroin"], time::Duration::minutes(1))
        .await?;
    let waiting = format!("#waiting-{visit}");
    for (who, d) in [("nurse", nurse), ("worker", worker)] {
        d.wait_text(&waiting, PAGE, |t| t.contains(&code))
            .await
            .with_context(|| format!("{code} in the waiting list of the {who}'s board"))?;
    }

    // Board 1 assigns the space chosen in its select.
    let space = nurse
        .execute(
            "const s = document.querySelector(arguments[0]); return s ? s.value : null;",
            vec![json!(format!("{waiting} select[name=space_id]"))],
        )
        .await?
        .as_str()
        .map(str::to_string)
        .context("no space select for the waiting person")?;
    for (who, d) in [("nurse", nurse), ("worker", worker)] {
        let c = card(d, &space).await?;
        ensure!(
            c.as_ref().is_some_and(|c| !c.in_use),
            "space {space} is not free on the {who}'s board before assigning: {c:?}"
        );
    }
    nurse
        .click_on(&format!("{waiting} form.assign button[type=submit]"))
        .await
        .context("clicking Assign")?;
    let clicked = Instant::now();

    // Both boards show the person in the space within a second.
    let (mut seen_nurse, mut seen_worker) = (None, None);
    let mut last = (None, None);
    while seen_nurse.is_none() || seen_worker.is_none() {
        let (a, b) = tokio::join!(card(nurse, &space), card(worker, &space));
        let at = clicked.elapsed();
        let (a, b) = (a?, b?);
        if seen_nurse.is_none() && a.as_ref().is_some_and(|c| c.shows(&code)) {
            seen_nurse = Some(at);
        }
        if seen_worker.is_none() && b.as_ref().is_some_and(|c| c.shows(&code)) {
            seen_worker = Some(at);
        }
        last = (a, b);
        if at > Duration::from_secs(5) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "two boards: {code} shown in space {space} after {seen_nurse:?} (nurse's board, which clicked) and \
         {seen_worker:?} (worker's board)"
    );
    let (nurse_at, worker_at) = match (seen_nurse, seen_worker) {
        (Some(a), Some(b)) => (a, b),
        _ => bail!("not both boards showed {code} in space {space} within 5 s; last seen: {last:?}"),
    };
    ensure!(
        nurse_at <= Duration::from_secs(1) && worker_at <= Duration::from_secs(1),
        "a board took more than a second: nurse {nurse_at:?}, worker {worker_at:?}"
    );

    // The assignment was accepted (no problem shown) and the person has
    // left both waiting lists.
    let problem = nurse.text(&nurse.find("#board-problem").await?).await?;
    ensure!(problem.trim().is_empty(), "board 1 shows a problem: {problem:?}");
    for (who, d) in [("nurse", nurse), ("worker", worker)] {
        ensure!(
            d.find_all(&waiting).await?.is_empty(),
            "{code} is still waiting on the {who}'s board"
        );
        let c = card(d, &space).await?.context("card gone")?;
        ensure!(
            c.alarm == "normal",
            "a new episode is not normal on the {who}'s board: {c:?}"
        );
    }
    Ok(())
}

// ---------- 2. timers ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_space_turns_amber_then_red_as_timers_pass() {
    const NAME: &str = "browser_space_turns_amber_then_red_as_timers_pass";
    let rig = rig(NAME, 1).await;
    let result = timers(&rig.drivers[0], &rig.server).await;
    rig.finish(NAME, result).await;
}

async fn timers(d: &Driver, server: &TestServer) -> Result<()> {
    log_in(d, server, "demo-nurse").await?;
    open_board(d, server).await?;
    let api = Api::new(server, "demo-nurse").await?;
    let free = api.free_spaces().await?;
    ensure!(free.len() >= 2, "need two free spaces at GLA, found {}", free.len());
    let (first, second) = (free[0].clone(), free[1].clone());

    // An episode 4 min 55 s in: the check (every 5 min) falls due in 5 s.
    let (c1, code1) = api.new_client().await?;
    let v1 = api.check_in(&c1, &["heroin"], time::Duration::minutes(40)).await?;
    let due = Instant::now() + Duration::from_secs(5);
    api.start_episode(&v1, &first, time::Duration::seconds(4 * 60 + 55))
        .await?;
    let shown = wait_card(d, &first, PAGE, |c| c.shows(&code1))
        .await
        .context("the first episode reaches the board")?;
    let left = due.saturating_duration_since(Instant::now());
    ensure!(
        shown.alarm == "normal",
        "4 min 55 s in and never checked, the card should be normal ({left:?} before the check is due): {shown:?}"
    );
    d.execute(WATCH_JS, vec![json!("timers")]).await?;
    eprintln!("timers: {code1} normal with {left:?} to go before the check is due");

    // The browser's timer turns it amber: no reload, no server event.
    let amber = wait_card(d, &first, Duration::from_secs(10), |c| c.alarm != "normal")
        .await
        .context("the first space turning amber")?;
    let now = Instant::now();
    let late = now.saturating_duration_since(due);
    let early = due.saturating_duration_since(now);
    eprintln!("timers: amber {late:?} after the check fell due (early by {early:?})");
    ensure!(amber.alarm == "amber", "expected amber, got {amber:?}");
    ensure!(
        early < Duration::from_millis(1500),
        "amber {early:?} before the check fell due"
    );
    let w = watched(d).await?;
    ensure!(
        w == Some(("timers".to_string(), 0)),
        "amber should come from the browser's timer without a reload or a server event; page marker and \
         live-feed messages: {w:?}"
    );
    let text = d.text(&d.find(&format!("#space-{first} .alarm-text")).await?).await?;
    ensure!(text.contains("CHECK DUE"), "amber card says {text:?}");

    // An episode 29 min 55 s in, never checked: amber at once, red in 5 s.
    let (c2, code2) = api.new_client().await?;
    let v2 = api
        .check_in(&c2, &["heroin", "cocaine"], time::Duration::minutes(40))
        .await?;
    let limit = Instant::now() + Duration::from_secs(5);
    api.start_episode(&v2, &second, time::Duration::seconds(29 * 60 + 55))
        .await?;
    let shown = wait_card(d, &second, PAGE, |c| c.shows(&code2))
        .await
        .context("the second episode reaches the board")?;
    let left = limit.saturating_duration_since(Instant::now());
    ensure!(
        shown.alarm == "amber",
        "29 min 55 s in with no check, the card should be amber at once ({left:?} before the limit): {shown:?}"
    );
    let red = wait_card(d, &second, Duration::from_secs(10), |c| c.alarm == "red")
        .await
        .context("the second space turning red")?;
    eprintln!(
        "timers: red {:?} after the time limit passed",
        Instant::now().saturating_duration_since(limit)
    );
    ensure!(red.shows(&code2), "{red:?}");
    let title = d.title().await?;
    ensure!(
        title.starts_with('(') && title.contains("red"),
        "title does not warn of a red space: {title:?}"
    );
    eprintln!("timers: title {title:?}");
    let text = d.text(&d.find(&format!("#space-{second} .alarm-text")).await?).await?;
    ensure!(text.contains("TIME LIMIT"), "red card says {text:?}");

    // A check on the first space resets its interval: normal again after
    // the live update.
    let before = watched(d).await?.map_or(0, |(_, n)| n);
    click_card_button(d, &first, "check-ok").await?;
    let checked = wait_card(d, &first, PAGE, |c| c.alarm == "normal")
        .await
        .context("the first space back to normal after Responsive")?;
    ensure!(
        !checked.last_check.is_empty(),
        "the card has no last check: {checked:?}"
    );
    let w = watched(d).await?;
    ensure!(
        w.as_ref().is_some_and(|(_, n)| *n > before),
        "the check should arrive over the live feed without a reload: {w:?}"
    );
    let problem = d.text(&d.find("#board-problem").await?).await?;
    ensure!(problem.trim().is_empty(), "the board shows a problem: {problem:?}");
    // The second is still red: the limit counts from the start.
    let c = card(d, &second).await?.context("second card gone")?;
    ensure!(c.alarm == "red", "the second space should stay red: {c:?}");
    Ok(())
}

// ---------- 3. an emergency ----------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_emergency_with_two_naloxone_doses_and_an_ambulance() {
    const NAME: &str = "browser_emergency_with_two_naloxone_doses_and_an_ambulance";
    let rig = rig(NAME, 1).await;
    let result = emergency(&rig.drivers[0], &rig.server).await;
    rig.finish(NAME, result).await;
}

/// The `data-kind`s of the timeline, in order.
async fn timeline(d: &Driver) -> Result<Vec<String>> {
    let v = d
        .execute(
            "return Array.from(document.querySelectorAll('#timeline > li')).map(function (li) { \
             return li.getAttribute('data-kind'); });",
            vec![],
        )
        .await?;
    Ok(v.as_array()
        .context("timeline kinds")?
        .iter()
        .map(|k| k.as_str().unwrap_or_default().to_string())
        .collect())
}

/// Taps a one-tap button and waits for the page to come back with one more
/// timeline entry.
async fn tap(d: &Driver, id: &str) -> Result<()> {
    let before = timeline(d).await?.len();
    d.click_on(&format!("#{id}")).await?;
    let deadline = Instant::now() + PAGE;
    loop {
        if let Ok(kinds) = timeline(d).await
            && kinds.len() > before
        {
            ensure!(
                kinds.len() == before + 1,
                "one tap on {id} added {} entries: {kinds:?}",
                kinds.len() - before
            );
            // The fresh page (new one-tap token) is there once its buttons are.
            d.wait_for(&format!("#{id}"), PAGE).await?;
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("tapping {id} added no timeline entry within {PAGE:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// "40 s" or "2 min 05 s" as seconds.
fn shown_seconds(s: &str) -> Option<u64> {
    let rest = s.strip_suffix(" s")?;
    match rest.split_once(" min ") {
        Some((m, sec)) => Some(m.parse::<u64>().ok()? * 60 + sec.parse::<u64>().ok()?),
        None => rest.parse().ok(),
    }
}

async fn text_at(d: &Driver, css: &str) -> Result<String> {
    let el = d.find(css).await?;
    Ok(d.text(&el).await?.trim().to_string())
}

async fn emergency(d: &Driver, server: &TestServer) -> Result<()> {
    log_in(d, server, "demo-nurse").await?;
    let api = Api::new(server, "demo-nurse").await?;
    let (client_id, code) = api.new_client().await?;
    let visit = api
        .check_in(&client_id, &["heroin"], time::Duration::minutes(10))
        .await?;
    let space = api
        .free_spaces()
        .await?
        .into_iter()
        .next()
        .context("no free space at GLA")?;
    api.start_episode(&visit, &space, time::Duration::minutes(3)).await?;

    // "Unresponsive" on the board opens the record.
    open_board(d, server).await?;
    let c = wait_card(d, &space, PAGE, |c| c.shows(&code)).await?;
    ensure!(c.alarm == "normal" && !c.emergency, "before: {c:?}");
    ensure!(
        d.find_all(".emergency-banner, .board-emergency").await?.is_empty(),
        "an emergency is shown before one was opened"
    );
    click_card_button(d, &space, "check-unresponsive").await?;
    let recognised = Instant::now();
    let url = d
        .wait_url(PAGE, |u| u.contains("/emergencies/"))
        .await
        .context("the record page after Unresponsive")?;
    let id = url
        .split("/emergencies/")
        .nth(1)
        .unwrap_or_default()
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .to_string();
    ensure!(!id.is_empty() && id != "new", "landed on {url}");
    d.wait_text("#em-state", PAGE, |t| t == "Open").await?;
    let person = text_at(d, "#em-person").await?;
    ensure!(person.contains(&code), "record is for {person:?}, expected {code}");
    let link = format!(".emergency-banner a[href='/emergencies/{id}']");
    d.find(&link).await.context("the banner on the record page")?;
    ensure!(
        timeline(d).await? == ["recognition"],
        "a new record starts with recognition"
    );
    ensure!(text_at(d, "#derived-first").await? == "None yet", "no intervention yet");

    // Every page shows it: the board (its live emergency line and the red card; no
    // static banner there, which would go stale) and the other pages (banner).
    open_board(d, server).await?;
    ensure!(
        d.find_all(".emergency-banner").await?.is_empty(),
        "the board shows emergencies in its live part only"
    );
    d.find(&format!(".board-emergency[href='/emergencies/{id}']"))
        .await
        .context("the board's emergency line")?;
    let c = wait_card(d, &space, PAGE, |c| c.alarm == "red")
        .await
        .context("the space red while the emergency is open")?;
    ensure!(c.emergency && c.shows(&code), "{c:?}");
    let title = d.title().await?;
    ensure!(title.starts_with('(') && title.contains("red"), "board title {title:?}");
    d.goto(&server.url("/visits")).await?;
    d.find(&link).await.context("the banner on today's visits")?;

    // Two doses of naloxone and an ambulance, one tap each.
    d.goto(&server.url(&format!("/emergencies/{id}"))).await?;
    d.wait_for("#quick-naloxone-im", PAGE).await?;
    // At least two seconds after recognition, so the delay shown is not 0.
    tokio::time::sleep(Duration::from_secs(2).saturating_sub(recognised.elapsed())).await;
    let gap = recognised.elapsed();
    tap(d, "quick-naloxone-im").await?;
    tap(d, "quick-naloxone-im").await?;
    tap(d, "quick-ambulance_called").await?;
    let kinds = timeline(d).await?;
    ensure!(
        kinds == ["recognition", "naloxone", "naloxone", "ambulance_called"],
        "timeline: {kinds:?}"
    );
    let labels: Vec<String> = {
        let mut out = Vec::new();
        for el in d.find_all("#timeline > li .em-label").await? {
            out.push(d.text(&el).await?);
        }
        out
    };
    ensure!(
        labels
            .iter()
            .filter(|l| l.contains("0.4 mg") && l.contains("IM"))
            .count()
            == 2,
        "two doses of 0.4 mg IM in the timeline: {labels:?}"
    );
    let derived = [
        ("#derived-type", "Opioid overdose"),
        ("#derived-ambulance", "Yes"),
        ("#derived-fatal", "Yes"),
        ("#derived-bvm", "No"),
        ("#derived-transferred", "No"),
    ];
    for (css, want) in derived {
        let got = text_at(d, css).await?;
        ensure!(got == want, "{css} says {got:?}, expected {want:?}");
    }
    let naloxone = text_at(d, "#derived-naloxone").await?;
    ensure!(
        naloxone.starts_with("Yes") && naloxone.contains("2 doses") && naloxone.contains("0.8 mg"),
        "#derived-naloxone says {naloxone:?}"
    );
    let first = text_at(d, "#derived-first").await?;
    let secs = shown_seconds(&first).with_context(|| format!("#derived-first says {first:?}"))?;
    ensure!(
        (secs as f64 - gap.as_secs_f64()).abs() <= 1.5,
        "#derived-first says {first:?}, but the first dose was tapped {gap:?} after Unresponsive"
    );
    eprintln!("emergency: {naloxone}; first intervention after {first} (tapped after {gap:?})");

    // A dose over 10 mg is refused at the field, keeping what was typed.
    d.fill("#naloxone-dose_mg", "10.5").await?;
    d.click_on("#naloxone-route-IM").await?;
    d.click_on("#naloxone-submit").await?;
    let err = d
        .wait_text("#naloxone-dose_mg-error", PAGE, |t| !t.is_empty())
        .await
        .context("an error at the dose field")?;
    eprintln!("emergency: 10.5 mg refused: {err:?}");
    let input = d.find("#naloxone-dose_mg").await?;
    let kept = d.property(&input, "value").await?;
    ensure!(kept == json!("10.5"), "the dose field keeps {kept}, expected \"10.5\"");
    ensure!(
        d.attr(&input, "aria-invalid").await?.as_deref() == Some("true"),
        "the dose field is not marked invalid"
    );
    let im = d.find("#naloxone-route-IM").await?;
    ensure!(
        d.property(&im, "checked").await? == json!(true),
        "the route choice was not kept"
    );
    d.find("#error-summary").await.context("the error summary")?;
    let kinds = timeline(d).await?;
    ensure!(kinds.len() == 4, "the refused dose added an entry: {kinds:?}");
    let naloxone = text_at(d, "#derived-naloxone").await?;
    ensure!(naloxone.contains("2 doses"), "after the refusal: {naloxone:?}");

    // Close: transferred, with a debrief.
    let debrief = "Two doses IM two minutes apart, breathing came back; crew took them to hospital.";
    d.click_on("#close-outcome-transferred").await?;
    d.fill("#close-debrief", debrief).await?;
    d.fill("#close-staff_involved", "Demo Nurse").await?;
    d.click_on("#close-submit").await?;
    d.wait_text("#em-state", PAGE, |t| t == "Closed")
        .await
        .context("the record closed")?;
    let outcome = text_at(d, "#em-outcome").await?;
    ensure!(outcome == "Transferred to hospital", "outcome {outcome:?}");
    let said = text_at(d, "#em-debrief").await?;
    ensure!(said == debrief, "debrief {said:?}");
    ensure!(
        d.find_all("#close-form, #quick-naloxone-im").await?.is_empty(),
        "a closed record still offers recording"
    );
    ensure!(timeline(d).await?.len() == 4, "closing changed the timeline");

    // The banner is gone, and the space is no longer red for it.
    open_board(d, server).await?;
    ensure!(
        d.find_all(".emergency-banner, .board-emergency").await?.is_empty(),
        "the board still shows the closed emergency"
    );
    let c = card(d, &space).await?.context("the space's card after closing")?;
    ensure!(
        c.shows(&code) && !c.emergency && c.alarm != "red",
        "after closing, the episode goes on without the emergency's red: {c:?}"
    );
    Ok(())
}
