//! The `haven` command line, run as a real process on a temporary data
//! directory: user and token management, site settings, and `audit verify`
//! exiting non-zero at the first altered event.

use std::{
    io::Write,
    process::{Command, Output, Stdio},
};

fn haven(data: &std::path::Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_haven"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("HAVEN_DATABASE_URL")
        .env("HAVEN_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run haven");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("wait")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_tokens_and_site_settings_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let o = haven(data, &["site", "add", "--code", "gla", "--name", "Glasgow"], None);
    assert!(o.status.success(), "{}", text(&o));
    // The password comes from standard input, never from the command line.
    let o = haven(
        data,
        &["user", "add", "alex", "--role", "manager", "--site", "GLA"],
        Some("a long passphrase\n"),
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = haven(
        data,
        &["user", "add", "sam", "--role", "worker", "--site", "GLA"],
        Some("short\n"),
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("password: must be at least 8 characters"),
        "{}",
        text(&o)
    );
    let o = haven(
        data,
        &["user", "add", "sam", "--role", "boss", "--site", "GLA"],
        Some("a long passphrase\n"),
    );
    assert!(!o.status.success() && text(&o).contains("unknown role"));

    let o = haven(data, &["token", "create", "--user", "alex"], None);
    assert!(o.status.success());
    let token = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(token.starts_with("hvn_") && token.len() > 60);
    let store = haven_store::Store::open(&haven_store::Location::SqliteDir(data.to_path_buf()))
        .await
        .unwrap();
    assert!(haven_app::auth::actor_for_token(&store, &token).await.is_ok());
    let id = String::from_utf8_lossy(&o.stderr)
        .split_whitespace()
        .nth(2)
        .unwrap()
        .to_string();
    let o = haven(data, &["token", "revoke", &id], None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(haven_app::auth::actor_for_token(&store, &token).await.is_err());

    // Site settings: print, edit, replace; bad settings are refused with the field named.
    let o = haven(data, &["site", "settings", "--site", "GLA"], None);
    let mut settings: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    settings["routes"] = serde_json::json!(["injection", "inhalation"]);
    let file = dir.path().join("settings.json");
    std::fs::write(&file, settings.to_string()).unwrap();
    let o = haven(
        data,
        &[
            "site",
            "configure",
            "--site",
            "GLA",
            "--settings",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let site = store.site_by_code("GLA").await.unwrap();
    assert_eq!(
        haven_domain::site::SiteSettings::from_json(&site.settings)
            .unwrap()
            .routes,
        ["injection", "inhalation"]
    );
    std::fs::write(&file, r#"{"routes": [], "colour": "red"}"#).unwrap();
    let o = haven(
        data,
        &[
            "site",
            "configure",
            "--site",
            "GLA",
            "--settings",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert!(!o.status.success() && text(&o).contains("colour"), "{}", text(&o));
    std::fs::write(&file, r#"{"routes": []}"#).unwrap();
    let o = haven(
        data,
        &[
            "site",
            "configure",
            "--site",
            "GLA",
            "--settings",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert!(!o.status.success() && text(&o).contains("routes"), "{}", text(&o));

    // Disabling ends sessions and stops tokens.
    let o = haven(data, &["user", "disable", "alex"], None);
    assert!(o.status.success());
    assert!(store.user_by_name("alex").await.unwrap().disabled);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_exits_non_zero_naming_the_first_altered_event() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let o = haven(data, &["demo", "generate", "--scale", "0.01"], None);
    assert!(o.status.success(), "{}", text(&o));
    let o = haven(data, &["audit", "verify"], None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("audit chain intact"));

    // Tamper as someone with the database file would: remove the guard, edit event 3.
    let store = haven_store::Store::open(&haven_store::Location::SqliteDir(data.to_path_buf()))
        .await
        .unwrap();
    store
        .execute_raw_for_tests("DROP TRIGGER audit_events_no_update")
        .await
        .unwrap();
    store
        .execute_raw_for_tests("UPDATE audit_events SET actor_name = 'someone else' WHERE seq = 3")
        .await
        .unwrap();
    store.close().await;
    let o = haven(data, &["audit", "verify"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("audit chain broken at event 3"), "{}", text(&o));
}
