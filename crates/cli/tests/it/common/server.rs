//! A real Haven server on a random loopback port, over a fresh database
//! holding a small demo site (GLA) with one account per role.

use haven_web::{AppState, WebConfig};
use tokio::sync::oneshot;

use super::db::{Backend, TestDb};

/// Password of every demo account.
pub const PASSWORD: &str = haven_app::demo::DEMO_PASSWORD;

/// A running server.
pub struct TestServer {
    pub base: String,
    pub db: TestDb,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    /// Starts on SQLite with default settings.
    pub async fn start() -> TestServer {
        Self::start_with(Backend::Sqlite, WebConfig::default()).await
    }

    /// Starts on a backend with given settings.
    pub async fn start_with(backend: Backend, config: WebConfig) -> TestServer {
        let db = TestDb::new(backend).await;
        haven_app::demo::generate(&db.store, 1, 1, 0.01, 7, &mut |_, _| {})
            .await
            .expect("demo data");
        Self::serve(db, config).await
    }

    /// Serves an existing store as it is (no demo data is generated), with
    /// default settings; `stop` closes the store but drops no database.
    pub async fn start_on(store: haven_store::Store) -> TestServer {
        Self::serve(TestDb::wrap(store), WebConfig::default()).await
    }

    async fn serve(db: TestDb, config: WebConfig) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let state = AppState::new(db.store.clone(), config);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = haven_web::serve(state, listener, async {
                let _ = rx.await;
            })
            .await;
        });
        TestServer {
            base,
            db,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A client with a cookie jar that does not follow redirects.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// Logs in as `user` and returns the client and the page's CSRF token.
    pub async fn login(&self, user: &str) -> (reqwest::Client, String) {
        let c = self.client();
        let r = c
            .post(self.url("/login"))
            .form(&[("username", user), ("password", PASSWORD), ("next", "/")])
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), 303, "login as {user} failed");
        let csrf = self.csrf(&c).await;
        (c, csrf)
    }

    /// The CSRF token from a page's meta tag.
    pub async fn csrf(&self, c: &reqwest::Client) -> String {
        let html = c
            .get(self.url("/"))
            .send()
            .await
            .expect("home")
            .text()
            .await
            .expect("body");
        csrf_from(&html).expect("csrf meta tag")
    }

    /// An API token for `user`.
    pub async fn token(&self, user: &str) -> String {
        haven_app::auth::create_token_system(&self.db.store, user, "test")
            .await
            .expect("token")
            .1
    }

    /// Stops the server and drops the database.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), t).await;
        }
        self.db.cleanup().await;
    }
}

/// Extracts `<meta name="csrf-token" content="…">`.
pub fn csrf_from(html: &str) -> Option<String> {
    let i = html.find("name=\"csrf-token\" content=\"")? + "name=\"csrf-token\" content=\"".len();
    let rest = &html[i..];
    Some(rest[..rest.find('"')?].to_string())
}

/// The `Location` header of a redirect ("" when there is none).
pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}
