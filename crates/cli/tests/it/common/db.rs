//! Test databases: a fresh SQLite file in a temporary directory, or a fresh
//! PostgreSQL database on the server at `HAVEN_TEST_PG_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`).
//!
//! PostgreSQL is required: when it does not answer the test fails (it is
//! never skipped), with a message saying how to start it (`scripts/test`).

use haven_store::{Location, Store};

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// A fresh, migrated store; dropped databases are cleaned up by `cleanup`.
pub struct TestDb {
    pub store: Store,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

pub fn pg_admin_url() -> String {
    std::env::var("HAVEN_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let location = Location::SqliteDir(dir.path().to_path_buf());
                let store = Store::open(&location).await.expect("open sqlite");
                TestDb {
                    store,
                    _dir: Some(dir),
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                let admin_url = pg_admin_url();
                let admin = Store::open_postgres(&admin_url).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL does not answer at {admin_url} ({e}). The contract suite runs on both \
                         backends and never skips one: run scripts/test, which installs and starts PostgreSQL, \
                         or point HAVEN_TEST_PG_URL at a server."
                    )
                });
                let name = format!("haven_t_{}", uuid::Uuid::now_v7().simple());
                admin
                    .create_database_for_tests(&name)
                    .await
                    .expect("create test database");
                admin.close().await;
                let url = replace_db_name(&admin_url, &name);
                let location = Location::Postgres(url);
                let store = Store::open(&location).await.expect("open postgres");
                TestDb {
                    store,
                    _dir: None,
                    pg_name: Some(name),
                }
            }
        }
    }

    /// Wraps a store opened elsewhere (e.g. as another role); `cleanup`
    /// then only closes it and leaves the database to its owner.
    pub fn wrap(store: Store) -> TestDb {
        TestDb {
            store,
            _dir: None,
            pg_name: None,
        }
    }

    /// The PostgreSQL test database's name (`None` on SQLite).
    pub fn pg_name(&self) -> Option<&str> {
        self.pg_name.as_deref()
    }

    /// Closes the store and drops a PostgreSQL test database.
    pub async fn cleanup(self) {
        self.store.close().await;
        if let Some(name) = self.pg_name
            && let Ok(admin) = Store::open_postgres(&pg_admin_url()).await
        {
            let _ = admin.drop_database_for_tests(&name).await;
            admin.close().await;
        }
    }
}

/// Replaces the database name in a PostgreSQL URL.
pub fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Runs the same async test body on both backends.
#[macro_export]
macro_rules! contract_test {
    ($name:ident, |$store:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($store: &haven_store::Store) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::common::db::TestDb::new($crate::common::db::Backend::Sqlite).await;
                run(&db.store).await;
                db.cleanup().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = $crate::common::db::TestDb::new($crate::common::db::Backend::Postgres).await;
                run(&db.store).await;
                db.cleanup().await;
            }
        }
    };
}
