//! Browser tests: headless Chromium (Debian's, via chromedriver) against a
//! real server. A worker logs in, registers a client, checks them in, and
//! finds the visit in today's list.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};

use crate::common::server::{PASSWORD, TestServer};
use crate::common::webdriver::Driver;

/// How long one page may take to show what a step expects.
const PAGE: Duration = Duration::from_secs(10);

/// `GLA-` and six digits: the site scheme's codes at the demo site.
fn is_site_code(code: &str) -> bool {
    code.strip_prefix("GLA-")
        .is_some_and(|d| d.len() == 6 && d.bytes().all(|b| b.is_ascii_digit()))
}

/// The texts of the rows of the `#visits` table.
async fn visit_rows(d: &Driver) -> Result<Vec<String>> {
    let mut rows = Vec::new();
    for el in d.find_all("#visits tbody tr").await? {
        rows.push(d.text(&el).await?);
    }
    Ok(rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_worker_registers_checks_in_and_finds_the_visit() {
    let t0 = Instant::now();
    let server = TestServer::start().await;
    let driver = match Driver::start().await {
        Ok(d) => d,
        Err(e) => {
            server.stop().await;
            panic!("{e:#}");
        }
    };
    eprintln!("browser: server and Chromium up in {:?}", t0.elapsed());

    // Assertions run in here and return errors, so the driver is always
    // quit below (and `Drop` still ends chromedriver if something panics).
    let result = worker_flow(&driver, &server).await;
    let artefacts = match &result {
        Err(_) => Some(
            driver
                .save_artifacts("browser_worker_registers_checks_in_and_finds_the_visit")
                .await,
        ),
        Ok(_) => None,
    };
    driver.quit().await;
    server.stop().await;
    eprintln!("browser: done in {:?}", t0.elapsed());
    if let Err(e) = result {
        panic!("browser flow failed: {e:#}\n{}", artefacts.unwrap_or_default());
    }
}

async fn worker_flow(d: &Driver, server: &TestServer) -> Result<()> {
    // Log in.
    d.goto(&server.url("/login")).await?;
    d.fill("#username", "demo-worker").await?;
    d.fill("#password", PASSWORD).await?;
    d.click_on("button[type=submit]").await?;
    d.wait_for("#fig-visits", PAGE)
        .await
        .context("home page after logging in")?;

    // Register a client. (The page header holds a Log out button too, so
    // the submit button is looked up inside the registration form.)
    let register = "form[action='/clients/new'] button[type=submit]";
    d.goto(&server.url("/clients/new")).await?;
    d.fill("#year_of_birth", "1984").await?;
    d.click_on("#gender option[value='male']").await?;
    d.fill("#home_area", "G2").await?;
    d.fill("#alias", "Browser Test").await?;
    d.click_on(register).await?;
    // Either the client page, or similar records to rule out first.
    let deadline = Instant::now() + PAGE;
    loop {
        if d.find("#client-code").await.is_ok() {
            break;
        }
        if let Ok(confirm) = d.find("input[name=confirm]").await {
            eprintln!("browser: registration suggested possible duplicates; confirming a new client");
            d.click(&confirm).await?;
            d.click_on(register).await?;
            d.wait_for("#client-code", PAGE)
                .await
                .context("client page after confirming")?;
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "neither the client page nor suggestions after registering"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let code = d
        .wait_text("#client-code", PAGE, is_site_code)
        .await
        .context("client code")?;
    let notice = d
        .text(&d.find("p.notice").await.context("notice after registering")?)
        .await?;
    eprintln!("browser: registered {code} ({notice})");

    // Check them in from the client page.
    d.click_on("a.button.primary[href^='/checkin?client=']").await?;
    d.wait_for("#checkin-form", PAGE).await.context("check-in form")?;
    let selected = d.text(&d.find("#selected-code").await?).await?;
    ensure!(selected == code, "check-in form is for {selected}, expected {code}");
    d.click_on("input[name=substances][value=heroin]").await?;
    d.click_on("input[name=substances][value=cocaine]").await?;
    d.click_on("input[name=route][value=injection]").await?;
    d.click_on("input[name=otherwise_place][value=public]").await?;
    d.click_on("#checkin-submit").await?;
    let expected = format!("Checked in {code}");
    d.wait_text("p.notice", PAGE, |t| t.contains(&expected))
        .await
        .context("notice after checking in")?;
    eprintln!("browser: checked in {code}");

    // The fast path: typing an exact code goes straight to the form.
    d.goto(&server.url("/checkin")).await?;
    d.fill("form.search #q", &code).await?;
    d.click_on("form.search button[type=submit]").await?;
    let selected = d
        .wait_text("#selected-code", PAGE, |t| !t.is_empty())
        .await
        .context("fast path to the form")?;
    ensure!(
        selected == code,
        "fast path opened the form for {selected}, expected {code}"
    );
    d.find("#checkin-form")
        .await
        .context("fast path shows the check-in form")?;
    let url = d.current_url().await?;
    ensure!(url.contains("/checkin?client="), "fast path landed on {url}");
    eprintln!("browser: fast path to the form for {code}");

    // Someone else comes in too (another service, no consumption), so the
    // filter below has a row to leave out.
    d.goto(&server.url("/checkin?q=GLA-")).await?;
    d.wait_for("#matches", PAGE).await.context("search results for GLA-")?;
    let mut other = None;
    for a in d.find_all("#matches a").await? {
        let t = d.text(&a).await?;
        if !t.contains(&code) {
            other = Some((a, t));
            break;
        }
    }
    let (link, label) = other.context("no other client to check in")?;
    let other_code = label.split_whitespace().next().unwrap_or_default().to_string();
    ensure!(is_site_code(&other_code), "unexpected match label {label:?}");
    d.click(&link).await?;
    d.wait_text("#selected-code", PAGE, |t| t == other_code)
        .await
        .context("form for the other client")?;
    d.click_on("#checkin-submit").await?;
    let expected = format!("Checked in {other_code}");
    d.wait_text("p.notice", PAGE, |t| t.contains(&expected))
        .await
        .context("notice after checking in the other client")?;

    // Today's visits list shows the visit; filtering by code shows only it.
    d.goto(&server.url("/visits")).await?;
    d.wait_for("#visits", PAGE).await?;
    let rows = visit_rows(d).await?;
    ensure!(
        rows.iter()
            .any(|r| r.contains(&code) && r.contains("heroin + cocaine") && r.contains("injection")),
        "no row for {code} with heroin + cocaine, injection among {} row(s): {rows:#?}",
        rows.len()
    );
    ensure!(
        rows.iter().any(|r| r.contains(&other_code)),
        "no row for {other_code}: {rows:#?}"
    );
    let all = rows.len();
    d.fill("form.search #q", &code).await?;
    d.click_on("form.search button[type=submit]").await?;
    d.wait_url(PAGE, |u| u.contains("q=GLA-"))
        .await
        .context("visits filtered by code")?;
    d.wait_for("#visits", PAGE).await?;
    let rows = visit_rows(d).await?;
    ensure!(
        rows.len() == 1,
        "filtering by {code} shows {} row(s), expected its one visit: {rows:#?}",
        rows.len()
    );
    ensure!(
        rows.iter().all(|r| r.contains(&code)),
        "filtering by {code} shows other clients: {rows:#?}"
    );
    eprintln!("browser: today's list has {all} visit(s); filtered by {code}: 1");

    // An invalid field is reported, and what was typed is kept.
    d.goto(&server.url("/clients/new")).await?;
    d.fill("#year_of_birth", "19x4").await?;
    d.fill("#home_area", "G31").await?;
    d.click_on(register).await?;
    d.wait_for(".field-error", PAGE)
        .await
        .context("field error for a bad year")?;
    let mut errors = Vec::new();
    for el in d.find_all(".field-error").await? {
        errors.push(d.text(&el).await?);
    }
    ensure!(
        errors.iter().any(|e| e.to_lowercase().contains("year")),
        "no field error mentions the year: {errors:?}"
    );
    let home_area = d.attr(&d.find("#home_area").await?, "value").await?;
    ensure!(
        home_area.as_deref() == Some("G31"),
        "home area not kept after the error: {home_area:?}"
    );
    let year = d.attr(&d.find("#year_of_birth").await?, "value").await?;
    ensure!(
        year.as_deref() == Some("19x4"),
        "year of birth not kept after the error: {year:?}"
    );
    eprintln!("browser: bad year reported ({errors:?}), input kept");
    Ok(())
}
