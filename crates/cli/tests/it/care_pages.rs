//! The referral and drug-checking pages on a real server: forms keep their
//! input and name the field on error, and a drug check that finds a
//! substance of concern leads to an alert shown on other pages.

use crate::common::server::{TestServer, location};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_referral_pages_make_a_referral_and_refuse_a_step_dated_before_it() {
    let s = TestServer::start().await;
    let (c, csrf) = s.login("demo-nurse").await;
    let site = s.db.store.site_by_code("GLA").await.unwrap();
    let client = s.db.store.search_clients(&site.id, "GLA-", 1).await.unwrap().remove(0);
    // An unknown code: 422, the input kept, the message at the field.
    let r = c
        .post(s.url("/referrals"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("client_code", "GLA-999999"),
            ("category", "housing"),
            ("note", "keep me"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("client_code-error") && html.contains("keep me"), "{html}");

    let made = (haven_domain::clock::now() - time::Duration::days(3))
        .date()
        .to_string();
    let r = c
        .post(s.url("/referrals"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("client_code", client.code.as_str()),
            ("category", "housing"),
            ("made_on", made.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let page = location(&r);
    assert!(page.starts_with("/referrals/"), "{page}");

    let before = (haven_domain::clock::now() - time::Duration::days(5))
        .date()
        .to_string();
    let r = c
        .post(s.url(&format!("{page}/events")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("status", "accepted"),
            ("on", before.as_str()),
            ("note", "too early"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("on-error") && html.contains("before the referral"),
        "{html}"
    );
    let r = c
        .post(s.url(&format!("{page}/events")))
        .form(&[("csrf", csrf.as_str()), ("status", "accepted")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let html = c.get(s.url(&page)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("referral-steps") && html.contains("Accepted"), "{html}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drug_check_page_shows_a_concern_and_raises_an_alert_seen_on_other_pages() {
    let s = TestServer::start().await;
    let (c, csrf) = s.login("demo-nurse").await;
    let r = c
        .post(s.url("/drug-checks"))
        .form(&[("csrf", csrf.as_str()), ("expected", "heroin"), ("form", "powder")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let page = location(&r);
    assert!(page.starts_with("/drug-checks/"), "{page}");
    // A bad component line keeps the input and names the field.
    let r = c
        .post(s.url(&format!("{page}/results")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("method", "ftir"),
            ("components", "heroin, 80\nprotonitazene, 160"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("components-error") && html.contains("protonitazene, 160"),
        "{html}"
    );
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
        html.contains("id=\"concerns\"") && html.contains("alert-form"),
        "{html}"
    );
    // No expiry: refused at the field; then raised, it shows on other pages.
    let r = c
        .post(s.url(&format!("{page}/alert")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("text", "Nitazene in heroin: go slow"),
            ("hours", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("expires_at-error"));
    let r = c
        .post(s.url(&format!("{page}/alert")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("text", "Nitazene in heroin: go slow"),
            ("hours", "12"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let (w, _) = s.login("demo-worker").await;
    let visits = w.get(s.url("/visits")).send().await.unwrap().text().await.unwrap();
    assert!(visits.contains("alert-banner") && visits.contains("Nitazene in heroin: go slow"));
    s.stop().await;
}
