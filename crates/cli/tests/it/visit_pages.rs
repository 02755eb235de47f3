//! The visit page (services on site with time and staff, BBV results later;
//! dcr-practice §5.4) and drug checking linked to a visit only with consent,
//! with the day's samples and the site's own concern rules.

use serde_json::json;

use crate::common::server::{TestServer, location};

/// A new client checked in at GLA through the API; returns (visit id, client code).
async fn checked_in(s: &TestServer) -> (String, String) {
    let token = s.token("demo-worker").await;
    let c = reqwest::Client::new();
    let client: serde_json::Value = c
        .post(s.url("/api/v1/clients"))
        .bearer_auth(&token)
        .json(&json!({"site": "GLA", "year_of_birth": 1979, "gender": "male", "home_area": "G4"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let visit: serde_json::Value = c
        .post(s.url("/api/v1/visits"))
        .bearer_auth(&token)
        .json(&json!({"client_id": client["id"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        visit["id"].as_str().unwrap().to_string(),
        client["code"].as_str().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_visit_page_records_services_with_staff_and_bbv_results_dcr_practice_5_4() {
    let s = TestServer::start().await;
    let (visit, code) = checked_in(&s).await;
    let (w, wcsrf) = s.login("demo-worker").await;
    let page = s.url(&format!("/visits/{visit}"));
    let html = w.get(&page).send().await.unwrap().text().await.unwrap();
    assert!(html.contains(&code) && html.contains("no-services"), "{html}");
    // Linked from today's visit list.
    let list = w.get(s.url("/visits")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains(&format!("/visits/{visit}\"")), "{list}");

    // No service chosen: 422, the note kept, the field named, nothing written
    // (the page shown again is an audited read, nothing else).
    let creates = s.db.store.audit_count("create").await.unwrap();
    let r = w
        .post(s.url(&format!("/visits/{visit}/services")))
        .form(&[("csrf", wcsrf.as_str()), ("code", ""), ("note", "keep this note")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("code-error") && html.contains("keep this note"), "{html}");
    assert!(
        s.db.store.services_of_visit(&visit).await.unwrap().is_empty(),
        "nothing written"
    );
    assert_eq!(s.db.store.audit_count("create").await.unwrap(), creates);

    // A BBV test taken (HIV and HCV), then wound care whose stray ticks are dropped.
    for form in [
        vec![("code", "bbv_test_taken"), ("tests", "hiv"), ("tests", "hcv")],
        vec![("code", "wound_care"), ("tests", "hiv"), ("note", "left forearm")],
    ] {
        let mut f = vec![("csrf", wcsrf.as_str())];
        f.extend(form);
        let r = w
            .post(s.url(&format!("/visits/{visit}/services")))
            .form(&f)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{f:?}");
        assert_eq!(location(&r), format!("/visits/{visit}?done=service"));
    }
    let html = w.get(&page).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("BBV test taken") && html.contains("Wound care") && html.contains("left forearm"));
    assert!(html.contains("demo-worker"), "staff shown: {html}");
    // A worker does not record results (nurses and managers do).
    assert!(!html.contains("result-form"), "{html}");
    let services = s.db.store.services_of_visit(&visit).await.unwrap();
    let bbv = services.iter().find(|x| x.code == "bbv_test_taken").unwrap();
    let wound = services.iter().find(|x| x.code == "wound_care").unwrap();
    assert_eq!(wound.tests, "[]");
    let r = w
        .post(s.url(&format!("/services/{}/results", bbv.id)))
        .form(&[("csrf", wcsrf.as_str()), ("test", "hiv"), ("result", "negative")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    let (n, ncsrf) = s.login("demo-nurse").await;
    // A test that was not taken: 422 at the field, the chosen result kept.
    let r = n
        .post(s.url(&format!("/services/{}/results", bbv.id)))
        .form(&[("csrf", ncsrf.as_str()), ("test", "hbv"), ("result", "negative")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("did not take") && html.contains("value=\"negative\" selected"),
        "{html}"
    );
    let r = n
        .post(s.url(&format!("/services/{}/results", bbv.id)))
        .form(&[("csrf", ncsrf.as_str()), ("test", "hcv"), ("result", "negative")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let html = n.get(&page).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Hepatitis C (HCV): Negative"), "{html}");

    // Opening the visit is an audited read; an evaluator sees no visit.
    let reads = s.db.store.audit_for_subject("visit", &visit, 100).await.unwrap();
    assert!(
        reads.iter().any(|e| e.action == "read"),
        "visit read audited: {reads:?}"
    );
    // … and shows in the client's access log (subject access, security-reliability §1.2).
    let v = s.db.store.visit_site(&visit).await.unwrap();
    let client_id = s.db.store.visit(&v, &visit).await.unwrap().client_id;
    let manager = s.token("demo-manager").await;
    let j: serde_json::Value = reqwest::Client::new()
        .get(s.url(&format!("/api/v1/clients/{client_id}/journey")))
        .bearer_auth(&manager)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let log = j["access_log"].as_array().unwrap();
    assert!(
        log.iter()
            .any(|a| a["subject"] == "visit" && a["who"] == "demo-nurse" && a["action"] == "read"),
        "{log:?}"
    );
    // The check-in itself is a record in the timeline, not an access.
    assert!(
        !log.iter().any(|a| a["subject"] == "visit" && a["action"] == "create"),
        "{log:?}"
    );
    let (e, _) = s.login("demo-evaluator").await;
    assert_eq!(e.get(&page).send().await.unwrap().status(), 403);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drug_check_links_to_the_visit_only_with_consent_and_the_day_lists_samples() {
    let s = TestServer::start().await;
    let (visit, code) = checked_in(&s).await;
    let (c, csrf) = s.login("demo-worker").await;
    let html = c
        .get(s.url(&format!("/drug-checks?visit={visit}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("consent_linked") && html.contains(&code), "{html}");
    for (consent, expected) in [(false, "cocaine"), (true, "heroin")] {
        let mut f = vec![
            ("csrf", csrf.as_str()),
            ("expected", expected),
            ("form", "powder"),
            ("visit_id", visit.as_str()),
        ];
        if consent {
            f.push(("consent_linked", "yes"));
        }
        let r = c.post(s.url("/drug-checks")).form(&f).send().await.unwrap();
        assert_eq!(r.status(), 303);
        let id = location(&r).trim_start_matches("/drug-checks/").to_string();
        let sample = s.db.store.sample(&id).await.unwrap();
        assert_eq!(sample.visit_id.is_some(), consent, "linked only with consent");
    }
    let html = c.get(s.url("/drug-checks")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("id=\"samples\"") && html.contains("cocaine") && html.contains("heroin"));
    let r = c.get(s.url("/drug-checks?date=tomorrow")).send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("date-error"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concern_rules_are_a_site_setting() {
    let s = TestServer::start().await;
    let site = s.db.store.site_by_code("GLA").await.unwrap();
    let mut settings = haven_domain::site::SiteSettings::from_json(&site.settings).unwrap();
    // This site treats only xylazine as a concern.
    settings.concerns = vec![haven_domain::drugcheck::ConcernRule {
        substance: "xylazine".into(),
        unless_expected: vec![],
    }];
    settings.validate().unwrap();
    s.db.store
        .update_site_settings(&haven_app::system_ctx("test"), &site.id, &settings.to_json())
        .await
        .unwrap();
    let (c, csrf) = s.login("demo-nurse").await;
    let r = c
        .post(s.url("/drug-checks"))
        .form(&[("csrf", csrf.as_str()), ("expected", "heroin"), ("form", "powder")])
        .send()
        .await
        .unwrap();
    let page = location(&r);
    let r = c
        .post(s.url(&format!("{page}/results")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("method", "ftir"),
            ("components", "heroin, 80\nprotonitazene, 5"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let html = c.get(s.url(&page)).send().await.unwrap().text().await.unwrap();
    assert!(
        !html.contains("id=\"concerns\""),
        "a nitazene is no concern here: {html}"
    );
    let r = c
        .post(s.url(&format!("{page}/results")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("method", "xylazine_strip"),
            ("strip", "positive"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let html = c.get(s.url(&page)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("id=\"concerns\"") && html.contains("xylazine"), "{html}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tap_naloxone_buttons_record_the_sites_own_product_doses() {
    let s = TestServer::start().await;
    let site = s.db.store.site_by_code("GLA").await.unwrap();
    let token = s.token("demo-nurse").await;
    let em: serde_json::Value = reqwest::Client::new()
        .post(s.url("/api/v1/emergencies"))
        .bearer_auth(&token)
        .json(&json!({"site_id": site.id, "person_description": "woman at the door"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let page = format!("/emergencies/{}", em["id"].as_str().unwrap());
    let (c, _) = s.login("demo-nurse").await;
    // Defaults: 0.4 mg IM and one 1.8 mg nasal spray.
    let html = c.get(s.url(&page)).send().await.unwrap().text().await.unwrap();
    assert!(
        html.contains("Naloxone 0.4 mg IM now") && html.contains("Naloxone 1.8 mg IN now"),
        "{html}"
    );
    // A site with 4 mg nasal spray says so.
    let mut settings = haven_domain::site::SiteSettings::from_json(&site.settings).unwrap();
    settings.naloxone_doses.intranasal_mcg = 4_000;
    settings.validate().unwrap();
    s.db.store
        .update_site_settings(&haven_app::system_ctx("test"), &site.id, &settings.to_json())
        .await
        .unwrap();
    let html = c.get(s.url(&page)).send().await.unwrap().text().await.unwrap();
    assert!(
        html.contains("Naloxone 4 mg IN now") && html.contains("value=\"4\""),
        "{html}"
    );
    s.stop().await;
}
