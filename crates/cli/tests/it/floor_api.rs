//! Floor operations through the JSON API on a real server: the whole flow
//! from check-in to check-out, an emergency's timeline and derived fields,
//! eligibility with refusal and override, and the bad input the issue
//! lists — each a 4xx naming the field, with nothing written.

use serde_json::{Value, json};

use crate::common::server::TestServer;

async fn call(c: &reqwest::Client, method: &str, url: String, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = match method {
        "GET" => c.get(url),
        _ => c.post(url),
    }
    .bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn fields(v: &Value) -> Vec<String> {
    v["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

struct Floor {
    s: TestServer,
    c: reqwest::Client,
    token: String,
}

impl Floor {
    async fn start() -> Floor {
        let s = TestServer::start().await;
        let token = s.token("demo-nurse").await;
        let c = s.client();
        Floor { s, c, token }
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        call(
            &self.c,
            "POST",
            self.s.url(&format!("/api/v1{path}")),
            &self.token,
            Some(body),
        )
        .await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        call(&self.c, "GET", self.s.url(&format!("/api/v1{path}")), &self.token, None).await
    }

    async fn audit_head(&self) -> i64 {
        self.s.db.store.audit_head().await.unwrap().0
    }

    /// A new client, checked in for injection; returns the visit id.
    async fn visit(&self, yob: i32) -> String {
        let (st, c) = self
            .post(
                "/clients",
                json!({"site": "GLA", "year_of_birth": yob, "gender": "male", "home_area": "G4"}),
            )
            .await;
        assert_eq!(st, 201, "{c}");
        let (st, v) = self
            .post(
                "/visits",
                json!({"client_id": c["id"], "substances": ["heroin"], "route": "injection"}),
            )
            .await;
        assert_eq!(st, 201, "{v}");
        v["id"].as_str().unwrap().to_string()
    }

    async fn free_space(&self) -> String {
        let (st, b) = self.get("/board?site=GLA").await;
        assert_eq!(st, 200, "{b}");
        b["spaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["state"] == "free")
            .expect("a free space")["id"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_floor_flow_from_check_in_to_check_out() {
    let f = Floor::start().await;
    let visit = f.visit(1985).await;
    let space = f.free_space().await;
    let (st, e) = f.post("/episodes", json!({"visit_id": visit, "space_id": space})).await;
    assert_eq!(st, 201, "{e}");
    assert_eq!(
        (e["route"].as_str(), e["substances"][0].as_str()),
        (Some("injection"), Some("heroin"))
    );
    let ep = e["id"].as_str().unwrap().to_string();

    let (st, b) = f.get("/board?site=GLA").await;
    assert_eq!(st, 200);
    let card = b["spaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == space.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (card["state"].as_str(), card["alarm"].as_str()),
        (Some("in_use"), Some("normal"))
    );
    assert_eq!(
        (card["check_minutes"].as_u64(), card["limit_minutes"].as_u64()),
        (Some(5), Some(30))
    );

    let (st, chk) = f
        .post(
            &format!("/episodes/{ep}/checks"),
            json!({"status": "drowsy", "resp_rate": 10, "spo2": 94}),
        )
        .await;
    assert_eq!(st, 201, "{chk}");
    assert!(chk["emergency_id"].is_null());
    let (st, e) = f
        .post(&format!("/episodes/{ep}/end"), json!({"equipment_left": true}))
        .await;
    assert_eq!(st, 200, "{e}");
    assert_eq!(e["equipment_left"], json!(true));
    let (st, a) = f.post(&format!("/visits/{visit}/aftercare"), json!({})).await;
    assert_eq!(st, 201, "{a}");
    let (st, a) = f
        .post(
            &format!("/aftercare/{}/leave", a["id"].as_str().unwrap()),
            json!({"observation": "alert, left with a friend"}),
        )
        .await;
    assert_eq!(st, 200, "{a}");
    assert_eq!(a["observation"], "alert, left with a friend");

    // The space needs cleaning until someone says it is clean.
    let (_, b) = f.get("/board?site=GLA").await;
    let card = b["spaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == space.as_str())
        .unwrap()
        .clone();
    assert_eq!(card["state"], "needs_cleaning");
    let (st, _) = f
        .post(&format!("/spaces/{space}/state"), json!({"mark": "cleaned"}))
        .await;
    assert_eq!(st, 204);
    let (_, b) = f.get("/board?site=GLA").await;
    let card = b["spaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == space.as_str())
        .unwrap()
        .clone();
    assert_eq!(card["state"], "free");
    let (st, v) = f.post(&format!("/visits/{visit}/checkout"), json!({})).await;
    assert_eq!(st, 200, "{v}");
    assert!(haven_store::verify_audit(&f.s.db.store).await.unwrap().is_ok());
    f.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_floor_bad_input_is_a_4xx_naming_the_field_and_writes_nothing() {
    let f = Floor::start().await;
    let v1 = f.visit(1980).await;
    let v2 = f.visit(1981).await;
    let space = f.free_space().await;
    let (st, e) = f.post("/episodes", json!({"visit_id": v1, "space_id": space})).await;
    assert_eq!(st, 201, "{e}");
    let ep = e["id"].as_str().unwrap().to_string();

    let head = f.audit_head().await;
    // An occupied space.
    let (st, p) = f.post("/episodes", json!({"visit_id": v2, "space_id": space})).await;
    assert_eq!((st, fields(&p)), (422, vec!["space_id".to_string()]), "{p}");
    // Vitals outside physiological range.
    let (st, p) = f
        .post(
            &format!("/episodes/{ep}/checks"),
            json!({"status": "responsive", "spo2": 130}),
        )
        .await;
    assert_eq!((st, fields(&p)), (422, vec!["spo2".to_string()]), "{p}");
    let (st, p) = f
        .post(&format!("/episodes/{ep}/checks"), json!({"status": "asleep"}))
        .await;
    assert_eq!((st, fields(&p)), (422, vec!["status".to_string()]), "{p}");
    assert_eq!(f.audit_head().await, head, "refused input wrote nothing");

    // An out-of-service space.
    let other = f.free_space().await;
    let (st, _) = f
        .post(&format!("/spaces/{other}/state"), json!({"mark": "out_of_service"}))
        .await;
    assert_eq!(st, 204);
    let head = f.audit_head().await;
    let (st, p) = f.post("/episodes", json!({"visit_id": v2, "space_id": other})).await;
    assert_eq!((st, fields(&p)), (422, vec!["space_id".to_string()]), "{p}");
    assert!(p["detail"].as_str().unwrap_or("").contains("out of service") || p.to_string().contains("out of service"));
    let (st, p) = f
        .post(&format!("/spaces/{other}/state"), json!({"mark": "broken"}))
        .await;
    assert_eq!((st, fields(&p)), (422, vec!["mark".to_string()]), "{p}");

    // Ending twice.
    let (st, _) = f.post(&format!("/episodes/{ep}/end"), json!({})).await;
    assert_eq!(st, 200);
    let head2 = f.audit_head().await;
    let (st, p) = f.post(&format!("/episodes/{ep}/end"), json!({})).await;
    assert!(st == 409 || st == 422, "{st} {p}");
    assert_eq!(f.audit_head().await, head2);
    assert!(head2 > head);

    // An emergency: entries before it began, doses out of range, vitals out of range.
    let (st, em) = f.post("/emergencies", json!({"site_id": f.s.db.store.site_by_code("GLA").await.unwrap().id, "person_description": "man at the door, not registered"})).await;
    assert_eq!(st, 201, "{em}");
    let id = em["id"].as_str().unwrap().to_string();
    let began = em["started_at"].as_str().unwrap().to_string();
    let before = time::OffsetDateTime::parse(&began, &time::format_description::well_known::Rfc3339).unwrap()
        - time::Duration::minutes(2);
    let before = before.format(&time::format_description::well_known::Rfc3339).unwrap();
    let head = f.audit_head().await;
    for (body, field) in [
        (json!({"kind": "naloxone", "dose_mg": 10.5, "route": "IM"}), "dose_mg"),
        (json!({"kind": "naloxone", "dose_mg": -0.4, "route": "IM"}), "dose_mg"),
        (
            json!({"kind": "naloxone", "dose_mg": 0.4, "route": "IM", "at": before}),
            "at",
        ),
        (json!({"kind": "vitals", "spo2": 120}), "spo2"),
        (json!({"kind": "vitals", "resp_rate": 200}), "resp_rate"),
        (json!({"kind": "vitals", "gcs": 2}), "gcs"),
    ] {
        let (st, p) = f.post(&format!("/emergencies/{id}/entries"), body.clone()).await;
        assert!(st == 422 || st == 400, "{body}: {st} {p}");
        assert_eq!(fields(&p), vec![field.to_string()], "{body}: {p}");
    }
    assert_eq!(f.audit_head().await, head, "no refused entry was written");
    let (_, em) = f.get(&format!("/emergencies/{id}")).await;
    assert_eq!(
        em["timeline"].as_array().unwrap().len(),
        1,
        "only the recognition entry: {em}"
    );
    f.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_emergency_timeline_and_derived_fields_milloy_2008_default() {
    let f = Floor::start().await;
    let visit = f.visit(1979).await;
    let space = f.free_space().await;
    let (_, e) = f.post("/episodes", json!({"visit_id": visit, "space_id": space})).await;
    let ep = e["id"].as_str().unwrap().to_string();
    // Unresponsive at a check opens the emergency at the space at once.
    let (st, chk) = f
        .post(&format!("/episodes/{ep}/checks"), json!({"status": "unresponsive"}))
        .await;
    assert_eq!(st, 201, "{chk}");
    let id = chk["emergency_id"].as_str().expect("an emergency opened").to_string();
    let (_, b) = f.get("/board?site=GLA").await;
    let card = b["spaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == space.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (card["alarm"].as_str(), card["emergency_id"].as_str()),
        (Some("red"), Some(id.as_str()))
    );

    for body in [
        json!({"kind": "sign", "sign": "pinpoint_pupils"}),
        json!({"kind": "vitals", "resp_rate": 4, "spo2": 78}),
        json!({"kind": "oxygen", "flow_l_min": 15}),
        json!({"kind": "naloxone", "dose_mg": 0.4, "route": "IM"}),
        json!({"kind": "naloxone", "dose_mg": 0.4, "route": "IN"}),
        json!({"kind": "ambulance_called"}),
    ] {
        let (st, p) = f.post(&format!("/emergencies/{id}/entries"), body.clone()).await;
        assert_eq!(st, 201, "{body}: {p}");
    }
    let (st, em) = f.get(&format!("/emergencies/{id}")).await;
    assert_eq!(st, 200, "{em}");
    let kinds: Vec<&str> = em["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "recognition",
            "sign",
            "vitals",
            "oxygen",
            "naloxone",
            "naloxone",
            "ambulance_called"
        ]
    );
    let d = &em["derived"];
    assert_eq!(d["event_type"], "opioid_overdose", "{d}");
    assert_eq!(
        (d["naloxone_given"].as_bool(), d["naloxone_doses"].as_u64()),
        (Some(true), Some(2))
    );
    assert!((d["naloxone_total_mg"].as_f64().unwrap() - 0.8).abs() < 1e-9);
    assert_eq!(
        (d["ambulance_called"].as_bool(), d["potentially_fatal"].as_bool()),
        (Some(true), Some(true))
    );
    assert!(d["first_intervention_after_s"].as_u64().is_some());

    // A time corrected by amendment keeps the original.
    let oxygen = em["timeline"][3]["id"].as_str().unwrap().to_string();
    let orig = em["timeline"][3]["at"].as_str().unwrap().to_string();
    let began = em["started_at"].as_str().unwrap().to_string();
    let (st, p) = f
        .post(
            &format!("/emergencies/{id}/entries/{oxygen}/amend"),
            json!({"at": began, "reason": "oxygen was first, entered late"}),
        )
        .await;
    assert_eq!(st, 201, "{p}");
    let (_, em) = f.get(&format!("/emergencies/{id}")).await;
    let o = em["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == oxygen.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (o["amended"].as_bool(), o["original_at"].as_str()),
        (Some(true), Some(orig.as_str()))
    );

    let (st, closed) = f
        .post(
            &format!("/emergencies/{id}/close"),
            json!({"outcome": "transferred", "debrief": "went well", "staff_involved": ["A", "B"]}),
        )
        .await;
    assert_eq!(st, 200, "{closed}");
    assert_eq!(closed["outcome"], "transferred");
    let (st, _) = f
        .post(&format!("/emergencies/{id}/close"), json!({"outcome": "died"}))
        .await;
    assert_eq!(st, 409);
    let (_, b) = f.get("/board?site=GLA").await;
    assert!(
        b["emergencies"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["id"] != id.as_str())
    );
    f.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_eligibility_blocks_then_a_nurse_overrides_with_a_reason_dcr_practice_4_2() {
    let f = Floor::start().await;
    let (_, c) = f
        .post(
            "/clients",
            json!({"site": "GLA", "year_of_birth": 1990, "gender": "female", "home_area": "G1"}),
        )
        .await;
    let body = json!({"client_id": c["id"], "substances": ["heroin"], "route": "injection",
                      "eligibility": {"intoxicated": true}});
    let head = f.audit_head().await;
    let (st, p) = f.post("/visits", body.clone()).await;
    assert_eq!((st, fields(&p)), (422, vec!["eligibility".to_string()]), "{p}");
    assert!(p.to_string().contains("intoxicated"), "{p}");
    assert_eq!(f.audit_head().await, head);

    // A worker may not override.
    let worker = f.s.token("demo-worker").await;
    let mut over = body.clone();
    over["override_reason"] = json!("mildly affected, will be watched closely");
    let (st, _) = call(&f.c, "POST", f.s.url("/api/v1/visits"), &worker, Some(over.clone())).await;
    assert_eq!(st, 403);
    // A nurse may, and the results and reason are kept.
    let (st, v) = f.post("/visits", over).await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["override_reason"], "mildly affected, will be watched closely");
    let failed: Vec<&str> = v["eligibility"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "fail")
        .map(|r| r["rule"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["intoxicated"]);
    f.s.stop().await;
}
