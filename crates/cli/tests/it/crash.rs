//! Crash durability (security-reliability T1, scaled down for CI): the real
//! `haven` binary is killed with SIGKILL while clients check people in; after
//! a restart every acknowledged check-in is there exactly once, SQLite's
//! integrity check says `ok` and the audit chain verifies.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::{Value, json};

fn haven(data: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_haven"));
    c.arg("--data-dir")
        .arg(data)
        .env_remove("HAVEN_DATABASE_URL")
        .env("HAVEN_LOG", "warn");
    c
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn start(data: &std::path::Path, port: u16) -> Child {
    let mut child = haven(data)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start haven");
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok()
        {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("haven did not start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_check_ins_survive_kill_9_t1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let ok = haven(&data)
        .args(["demo", "generate", "--scale", "0.01"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("demo");
    assert!(ok.success());
    let out = haven(&data)
        .args(["token", "create", "--user", "demo-worker"])
        .stderr(Stdio::null())
        .output()
        .expect("token");
    let token = String::from_utf8(out.stdout).expect("utf8").trim().to_string();
    assert!(token.starts_with("hvn_"));

    let port = free_port();
    let mut acknowledged: Vec<(String, String)> = Vec::new(); // (idempotency key, visit id)
    let mut client_ids: Vec<String> = Vec::new();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    for round in 0..5u64 {
        let mut server = start(&data, port).await;
        if client_ids.is_empty() {
            for i in 0..4 {
                let r: Value = http
                    .post(format!("http://127.0.0.1:{port}/api/v1/clients"))
                    .bearer_auth(&token)
                    .json(&json!({"site": "GLA", "year_of_birth": 1980 + i, "gender": "male", "home_area": "G2", "confirm_new": true}))
                    .send()
                    .await
                    .expect("register")
                    .json()
                    .await
                    .expect("json");
                client_ids.push(r["id"].as_str().expect("id").to_string());
            }
        }
        // Two writers until the kill, which lands 300–1,300 ms in.
        let kill_after = Duration::from_millis(300 + (round * 250) % 1_000);
        let mut tasks = Vec::new();
        for w in 0..2 {
            let (http, token, clients) = (http.clone(), token.clone(), client_ids.clone());
            tasks.push(tokio::spawn(async move {
                let mut acks = Vec::new();
                for n in 0.. {
                    let key = format!("r{round}-w{w}-n{n}");
                    let body = json!({"client_id": clients[n % clients.len()], "substances": ["heroin"], "route": "injection"});
                    let sent = http
                        .post(format!("http://127.0.0.1:{port}/api/v1/visits"))
                        .bearer_auth(&token)
                        .header("Idempotency-Key", &key)
                        .json(&body)
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status() == 201 => {
                            let v: Value = match r.json().await {
                                Ok(v) => v,
                                Err(_) => break,
                            };
                            acks.push((key, v["id"].as_str().unwrap_or_default().to_string()));
                        }
                        _ => break, // the server died mid-request: not acknowledged
                    }
                }
                acks
            }));
        }
        tokio::time::sleep(kill_after).await;
        server.kill().expect("kill -9"); // SIGKILL
        let _ = server.wait();
        for t in tasks {
            acknowledged.extend(t.await.expect("writer"));
        }
    }
    assert!(
        acknowledged.len() > 20,
        "the writers made progress ({} acks)",
        acknowledged.len()
    );

    let store = haven_store::Store::open(&haven_store::Location::SqliteDir(data.clone()))
        .await
        .expect("reopen");
    assert_eq!(store.integrity_check().await.expect("integrity"), "ok");
    let site = store.site_by_code("GLA").await.expect("site");
    for (key, id) in &acknowledged {
        let v = store
            .visit(&site.id, id)
            .await
            .unwrap_or_else(|_| panic!("acknowledged visit {id} ({key}) lost"));
        assert_eq!(v.id, *id);
    }
    let (n, _) = haven_store::verify_audit(&store)
        .await
        .expect("verify")
        .expect("chain intact");
    assert!(n > acknowledged.len() as u64);
    store.close().await;
}
