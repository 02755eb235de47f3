//! Community impact: street audits and council needle-report imports (dcr-practice §9).
//!
//! In the store (both backends): an audit walk round trip with filters, an
//! import with a bad line that writes nothing, skip-bad importing the good
//! rows, a re-import refused line by line, and rows the database never
//! deletes. Over HTTP: the page keeps input and names fields, lists every
//! malformed CSV line, refuses a worker's import, and the API imports CSV.

use haven_app::{Ctx, community};
use haven_domain::{
    auth::{Actor, Grant, Role},
    community::AuditDraft,
};
use haven_store::{CommunityFilter, Store};
use serde_json::{Value, json};
use time::macros::date;

use crate::common::server::TestServer;

/// A site with default zones and a manager, as an app context.
async fn site_and_manager(store: &Store) -> (String, Ctx) {
    let sys = haven_app::system_ctx("test");
    let input =
        haven_domain::site::validate_site("CMY", "Community", "Europe/London", "09:00", "21:00", "site").unwrap();
    let site = store.create_site(&sys, &input, "{}").await.unwrap();
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
    let user = store
        .create_user(&sys, "cmy-manager", "Manager", hash, Some((&site.id, "manager")))
        .await
        .unwrap();
    let ctx = Ctx {
        actor: Actor {
            user_id: user,
            username: "cmy-manager".into(),
            grants: vec![Grant {
                site_id: site.id.clone(),
                role: Role::Manager,
            }],
        },
        request_id: "test".into(),
    };
    (site.id, ctx)
}

fn walk(day: time::Date, zone: &str, needles: i64) -> AuditDraft {
    AuditDraft {
        date: day,
        start: "7:30".into(),
        zone: zone.into(),
        observer: "Outreach 1".into(),
        weather: "rain".into(),
        police_present: true,
        needles,
        other_litter: 4,
        people_injecting: 1,
    }
}

async fn all_reports(store: &Store, site: &str) -> Vec<(time::Date, String, i32)> {
    store
        .needle_reports(site, &CommunityFilter::default(), 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.on_date, r.zone, r.count))
        .collect()
}

crate::contract_test!(
    audit_walk_round_trip_with_zone_and_date_filters_dcr_practice_9,
    |store| {
        let (site, ctx) = site_and_manager(store).await;
        for (day, zone, n) in [
            (date!(2025 - 03 - 01), "calton", 3),
            (date!(2025 - 03 - 08), "trongate", 0),
            (date!(2025 - 03 - 15), "calton", 7),
        ] {
            community::record_audit(store, &ctx, &site, &walk(day, zone, n))
                .await
                .unwrap();
        }
        let all = community::audits(store, &ctx, &site, &CommunityFilter::default())
            .await
            .unwrap();
        let got: Vec<_> = all.iter().map(|a| (a.on_date, a.zone.as_str(), a.needles)).collect();
        assert_eq!(
            got,
            [
                (date!(2025 - 03 - 15), "calton", 7),
                (date!(2025 - 03 - 08), "trongate", 0),
                (date!(2025 - 03 - 01), "calton", 3),
            ],
            "newest first"
        );
        let a = &all[0];
        assert_eq!(
            (
                a.start_time.as_str(),
                a.observer.as_str(),
                a.weather.as_str(),
                a.police_present
            ),
            ("07:30", "Outreach 1", "rain", true)
        );
        assert_eq!((a.other_litter, a.people_injecting), (4, 1));
        let calton = CommunityFilter {
            zone: Some("calton".into()),
            from: Some(date!(2025 - 03 - 02)),
            to: Some(date!(2025 - 03 - 31)),
        };
        let rows = community::audits(store, &ctx, &site, &calton).await.unwrap();
        assert_eq!(rows.iter().map(|a| a.needles).collect::<Vec<_>>(), [7]);
        // Bad input names its field and writes nothing (dcr-practice §9 counts are never negative).
        let head = store.audit_head().await.unwrap().0;
        let e = community::record_audit(store, &ctx, &site, &walk(date!(2025 - 03 - 02), "calton", -1))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, haven_app::AppError::Invalid(i) if i.0[0].field == "needles"),
            "{e:?}"
        );
        assert_eq!(store.audit_head().await.unwrap().0, head);
        let bad_range = CommunityFilter {
            from: Some(date!(2025 - 04 - 01)),
            to: Some(date!(2025 - 03 - 01)),
            ..Default::default()
        };
        assert!(community::audits(store, &ctx, &site, &bad_range).await.is_err());
        // Monthly totals keep the two series apart.
        let months = community::monthly(
            store,
            &ctx,
            &site,
            Some(date!(2025 - 02 - 01)),
            Some(date!(2025 - 03 - 31)),
        )
        .await
        .unwrap();
        assert_eq!(
            months
                .iter()
                .map(|m| (m.month.as_str(), m.audits, m.audit_needles, m.council_reports))
                .collect::<Vec<_>>(),
            [("2025-02", 0, 0, 0), ("2025-03", 3, 10, 0)]
        );
    }
);

const WITH_BAD_LINE: &str = "date,zone,count\n2020-01-13,calton,3\n2020-01-13,nowhere,2\n2020-01-14,trongate,5\n";

crate::contract_test!(needle_import_with_a_bad_line_writes_nothing_dcr_practice_9, |store| {
    let (site, ctx) = site_and_manager(store).await;
    let head = store.audit_head().await.unwrap().0;
    let r = community::import_needle_reports(store, &ctx, &site, WITH_BAD_LINE, "council.csv", false)
        .await
        .unwrap();
    let errors = r.unwrap_err().errors;
    assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), [3]);
    assert!(errors[0].message.contains("unknown zone"), "{errors:?}");
    assert!(all_reports(store, &site).await.is_empty());
    assert_eq!(store.audit_head().await.unwrap().0, head, "nothing written");
});

crate::contract_test!(needle_import_skip_bad_imports_the_good_rows_dcr_practice_9, |store| {
    let (site, ctx) = site_and_manager(store).await;
    let done = community::import_needle_reports(store, &ctx, &site, WITH_BAD_LINE, "council.csv", true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.imported, 2);
    assert_eq!(done.skipped.iter().map(|e| e.line).collect::<Vec<_>>(), [3]);
    assert_eq!(
        all_reports(store, &site).await,
        [
            (date!(2020 - 01 - 13), "calton".to_string(), 3),
            (date!(2020 - 01 - 14), "trongate".to_string(), 5)
        ]
    );
    // Council reports are their own series: never added to audit needles.
    let months = community::monthly(
        store,
        &ctx,
        &site,
        Some(date!(2020 - 01 - 01)),
        Some(date!(2020 - 01 - 31)),
    )
    .await
    .unwrap();
    assert_eq!((months[0].council_reports, months[0].audit_needles), (8, 0));
});

crate::contract_test!(
    needle_reimport_reports_every_line_already_imported_and_writes_nothing,
    |store| {
        let (site, ctx) = site_and_manager(store).await;
        let csv = "date,zone,count\n2020-02-01,calton,1\n\n2020-02-02,calton,2\n2020-02-02,gallowgate,0\n";
        let done = community::import_needle_reports(store, &ctx, &site, csv, "feb.csv", false)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((done.imported, done.skipped.len()), (3, 0));
        let before = all_reports(store, &site).await;
        let head = store.audit_head().await.unwrap().0;
        let errors = community::import_needle_reports(store, &ctx, &site, csv, "feb.csv", false)
            .await
            .unwrap()
            .unwrap_err()
            .errors;
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), [2, 4, 5]);
        assert!(
            errors.iter().all(|e| e.message.contains("already imported")),
            "{errors:?}"
        );
        assert_eq!(all_reports(store, &site).await, before);
        assert_eq!(store.audit_head().await.unwrap().0, head, "nothing written");
        // With skip_bad, only the new day goes in; the old ones are listed.
        let more = format!("{csv}2020-02-03,calton,9\n");
        let done = community::import_needle_reports(store, &ctx, &site, &more, "feb.csv", true)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(done.imported, 1);
        assert_eq!(done.skipped.iter().map(|e| e.line).collect::<Vec<_>>(), [2, 4, 5]);
        assert_eq!(all_reports(store, &site).await.len(), 4);
    }
);

crate::contract_test!(community_rows_refuse_delete_and_reports_refuse_update, |store| {
    let (site, ctx) = site_and_manager(store).await;
    community::record_audit(store, &ctx, &site, &walk(date!(2025 - 03 - 01), "calton", 2))
        .await
        .unwrap();
    community::import_needle_reports(store, &ctx, &site, "date,zone,count\n2020-01-01,calton,1\n", "", false)
        .await
        .unwrap()
        .unwrap();
    for sql in [
        "DELETE FROM community_audits",
        "DELETE FROM needle_reports",
        "UPDATE needle_reports SET count = 0",
    ] {
        assert!(store.execute_raw_for_tests(sql).await.is_err(), "{sql} was allowed");
    }
    assert_eq!(all_reports(store, &site).await.len(), 1);
    let n = community::audits(store, &ctx, &site, &CommunityFilter::default())
        .await
        .unwrap()
        .len();
    assert_eq!(n, 1);
});

crate::contract_test!(
    demo_history_gives_a_year_of_both_series_declining_after_opening,
    |store| {
        let (site, ctx) = site_and_manager(store).await;
        community::demo_history(store, &site, &ctx.actor.user_id, 7)
            .await
            .unwrap();
        let months = community::monthly(store, &ctx, &site, None, None).await.unwrap();
        assert_eq!(months.len(), 12);
        let walks: i64 = months.iter().map(|m| m.audits).sum();
        assert!((50 * 5..=54 * 5).contains(&walks), "{walks} weekly walks over 5 zones");
        // Each series declines on its own; they are never added together.
        let sum = |ms: &[community::MonthTotals], f: fn(&community::MonthTotals) -> i64| ms.iter().map(f).sum::<i64>();
        let series: [fn(&community::MonthTotals) -> i64; 2] = [|m| m.council_reports, |m| m.audit_needles];
        for series in series {
            let (first, last) = (sum(&months[1..5], series), sum(&months[7..11], series));
            assert!(last < first, "a decline after opening: {first} then {last}");
        }
        let reports = all_reports(store, &site).await;
        assert!(reports.len() >= 364 * 5, "{} daily counts", reports.len());
    }
);

fn today() -> String {
    haven_domain::clock::now().date().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_form_with_a_negative_count_is_422_naming_the_field_and_keeping_input() {
    let s = TestServer::start().await;
    let (c, csrf) = s.login("demo-worker").await;
    let r = c.get(s.url("/community")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("audit-form") && html.contains("<svg") && html.contains("id=\"monthly\""));
    assert!(!html.contains("import-form"), "a worker sees no import form");
    let day = today();
    let form = |needles: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("date", day.clone()),
            ("start", "07:45".to_string()),
            ("zone", "trongate".to_string()),
            ("observer", "Keep this observer".to_string()),
            ("weather", "rain".to_string()),
            ("police_present", "1".to_string()),
            ("needles", needles.to_string()),
            ("other_litter", "2".to_string()),
            ("people_injecting", "0".to_string()),
        ]
    };
    let head = s.db.store.audit_head().await.unwrap().0;
    let r = c
        .post(s.url("/community/audits"))
        .form(&form("-3"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"needles-error\""), "{html}");
    assert!(html.contains("cannot be negative"));
    assert!(html.contains("Keep this observer") && html.contains("value=\"-3\""));
    assert!(html.contains("value=\"trongate\" selected"));
    assert_eq!(s.db.store.audit_head().await.unwrap().0, head, "nothing written");
    // A good walk is recorded and listed.
    let r = c
        .post(s.url("/community/audits"))
        .form(&form("6"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = c
        .get(s.url(&format!("/community?zone=trongate&from={day}&to={day}&recorded=1")))
        .send()
        .await
        .unwrap();
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Audit walk recorded") && html.contains("Keep this observer"),
        "{html}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_import_page_lists_each_malformed_line_by_number_and_imports_nothing() {
    let s = TestServer::start().await;
    let (c, csrf) = s.login("demo-manager").await;
    let site = s.db.store.site_by_code("GLA").await.unwrap();
    let before = all_reports(&s.db.store, &site.id).await.len();
    let csv = "date,zone,count\n2019-05-01,calton,4\n01/05/2019,calton,1\n2019-05-02,calton,-2\n2019-05-03,calton\n";
    let r = c
        .post(s.url("/community/import"))
        .form(&[("csrf", csrf.as_str()), ("csv", csv), ("filename", "may.csv")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    for line in ["Line 3:", "Line 4:", "Line 5:"] {
        assert!(html.contains(line), "{line} missing: {html}");
    }
    assert!(!html.contains("Line 2:"));
    assert!(html.contains("01/05/2019,calton,1"), "the pasted text is kept");
    assert_eq!(
        all_reports(&s.db.store, &site.id).await.len(),
        before,
        "nothing imported"
    );
    // Asked to skip bad rows: the good one goes in and the others are listed.
    let r = c
        .post(s.url("/community/import"))
        .form(&[("csrf", csrf.as_str()), ("csv", csv), ("skip_bad", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("Imported 1 council report count;"), "{html}");
    assert!(html.contains("import-skipped") && html.contains("Line 4:"));
    assert_eq!(all_reports(&s.db.store, &site.id).await.len(), before + 1);
    // The monthly table (the chart's text alternative) shows it, per zone when filtered.
    for (zone, council) in [("calton", 4), ("trongate", 0)] {
        let url = format!("/community?zone={zone}&from=2019-05-01&to=2019-05-31");
        let html = c.get(s.url(&url)).send().await.unwrap().text().await.unwrap();
        let row = format!("<th scope=\"row\">2019-05</th><td>0</td><td>0</td><td>{council}</td>");
        assert!(html.contains(&row), "{zone}: {html}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_cannot_import_needle_reports() {
    let s = TestServer::start().await;
    let site = s.db.store.site_by_code("GLA").await.unwrap();
    let before = all_reports(&s.db.store, &site.id).await.len();
    let (c, csrf) = s.login("demo-worker").await;
    let csv = "date,zone,count\n2019-06-01,calton,4\n";
    let r = c
        .post(s.url("/community/import"))
        .form(&[("csrf", csrf.as_str()), ("csv", csv)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let token = s.token("demo-worker").await;
    let r = s
        .client()
        .post(s.url("/api/v1/needle-reports?site=GLA"))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(all_reports(&s.db.store, &site.id).await.len(), before);
    s.stop().await;
}

async fn get(s: &TestServer, token: &str, path: &str) -> (u16, Value) {
    let r = s.client().get(s.url(path)).bearer_auth(token).send().await.unwrap();
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

async fn post_csv(s: &TestServer, token: &str, path: &str, ctype: &str, body: &str) -> (u16, Value) {
    let r = s
        .client()
        .post(s.url(path))
        .bearer_auth(token)
        .header("content-type", ctype)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    (st, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_imports_csv_and_lists_reports_and_audits() {
    let s = TestServer::start().await;
    let manager = s.token("demo-manager").await;
    let csv = "date,zone,count\r\n2018-03-01,calton,2\r\n2018-03-02,gallowgate,5\r\n";
    let (st, p) = post_csv(&s, &manager, "/api/v1/needle-reports?site=GLA", "application/json", csv).await;
    assert_eq!(st, 415, "{p}");
    let bad = "date,zone,count\n2018-03-01,calton,x\n2018-03-02,calton,1\n2018-13-01,calton,1\n";
    let (st, p) = post_csv(&s, &manager, "/api/v1/needle-reports?site=GLA", "text/csv", bad).await;
    assert_eq!(st, 422, "{p}");
    let lines: Vec<i64> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_i64().unwrap())
        .collect();
    assert_eq!(lines, [2, 4], "{p}");
    assert!(p["errors"][0]["message"].as_str().unwrap().contains("whole number"));
    let (st, r) = post_csv(
        &s,
        &manager,
        "/api/v1/needle-reports?site=GLA&filename=march.csv",
        "text/csv; charset=utf-8",
        csv,
    )
    .await;
    assert_eq!((st, r["imported"].as_i64()), (201, Some(2)), "{r}");
    let (st, again) = post_csv(&s, &manager, "/api/v1/needle-reports?site=GLA", "text/csv", csv).await;
    assert_eq!(st, 422, "{again}");
    assert_eq!(again["errors"].as_array().unwrap().len(), 2);
    let (st, list) = get(
        &s,
        &manager,
        "/api/v1/needle-reports?site=GLA&from=2018-03-01&to=2018-03-31",
    )
    .await;
    assert_eq!(st, 200);
    let got: Vec<(&str, &str, i64)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["date"].as_str().unwrap(),
                r["zone"].as_str().unwrap(),
                r["count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, [("2018-03-01", "calton", 2), ("2018-03-02", "gallowgate", 5)]);

    // Audit walks: recorded by a worker, refused naming the field, listed with filters.
    let worker = s.token("demo-worker").await;
    let body = json!({"site": "GLA", "date": "2018-03-05", "start": "08:00", "zone": "merchant_city",
                      "observer": "Outreach 2", "weather": "dry", "needles": 4});
    let r = s
        .client()
        .post(s.url("/api/v1/community-audits"))
        .bearer_auth(&worker)
        .json(&body)
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    let a: Value = r.json().await.unwrap();
    assert_eq!(
        (st, a["needles"].as_i64(), a["start"].as_str()),
        (201, Some(4), Some("08:00")),
        "{a}"
    );
    let mut neg = body.clone();
    neg["people_injecting"] = json!(-1);
    let r = s
        .client()
        .post(s.url("/api/v1/community-audits"))
        .bearer_auth(&worker)
        .json(&neg)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "people_injecting", "{p}");
    let undated = json!({"site": "GLA", "start": "08:00", "zone": "calton", "observer": "O", "weather": "dry"});
    let r = s
        .client()
        .post(s.url("/api/v1/community-audits"))
        .bearer_auth(&worker)
        .json(&undated)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["errors"][0]["field"], "date", "{p}");
    let (st, list) = get(
        &s,
        &worker,
        "/api/v1/community-audits?site=GLA&zone=merchant_city&from=2018-01-01&to=2018-12-31",
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["observer"], "Outreach 2");
    let (st, p) = get(&s, &worker, "/api/v1/community-audits?site=GLA&from=2018-02-30").await;
    assert_eq!((st, p["errors"][0]["field"].as_str()), (422, Some("from")), "{p}");
    let (st, _) = get(&s, &worker, "/api/v1/community-audits?site=GLA&colour=red").await;
    assert_eq!(st, 400);
    s.stop().await;
}

/// In headless Chromium: a manager chooses a CSV file, haven.js reads it into
/// the textarea (no inline script: CSP), and the import shows its counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_a_chosen_csv_file_fills_the_textarea_and_imports() {
    use crate::common::{server::PASSWORD, webdriver::Driver};
    use std::time::Duration;
    let s = TestServer::start().await;
    let d = match Driver::start().await {
        Ok(d) => d,
        Err(e) => {
            s.stop().await;
            panic!("{e:#}");
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("council-2017.csv");
    std::fs::write(&file, "date,zone,count\n2017-04-01,calton,3\n2017-04-02,trongate,1\n").unwrap();
    let run = async {
        let page = Duration::from_secs(10);
        d.goto(&s.url("/login")).await?;
        d.fill("#username", "demo-manager").await?;
        d.fill("#password", PASSWORD).await?;
        d.click_on("button[type=submit]").await?;
        d.wait_for("#fig-visits", page).await?;
        d.goto(&s.url("/community")).await?;
        let input = d.wait_for("#csv-file", page).await?;
        d.send_keys(&input, &file.display().to_string()).await?;
        d.wait_script(
            "return document.getElementById('csv').value.indexOf('2017-04-02,trongate,1') >= 0 \
             && document.getElementById('import-filename').value === 'council-2017.csv';",
            vec![],
            page,
        )
        .await?;
        d.click_on("#import-submit").await?;
        let text = d.wait_text("#import-done", page, |t| t.contains("Imported 2")).await?;
        anyhow::ensure!(text.contains("Imported 2"), "{text}");
        anyhow::Ok(())
    };
    let result = run.await;
    let artefacts = if result.is_err() {
        d.save_artifacts("community-import").await
    } else {
        String::new()
    };
    d.quit().await;
    let site = s.db.store.site_by_code("GLA").await.unwrap();
    let imported =
        s.db.store
            .needle_reports(
                &site.id,
                &CommunityFilter {
                    from: Some(date!(2017 - 01 - 01)),
                    to: Some(date!(2017 - 12 - 31)),
                    ..Default::default()
                },
                100,
            )
            .await
            .unwrap();
    s.stop().await;
    if let Err(e) = result {
        panic!("{e:#}\n{artefacts}");
    }
    assert_eq!(imported.len(), 2);
}
