//! Haven's HTTP layer: staff pages (server-rendered, htmx-enhanced) and the
//! JSON API under `/api/v1`. Handlers stay thin: they extract the current
//! staff member and the input, call one `haven_app` use case, and render.

pub mod api;
pub mod board;
mod error;
mod form;
mod security;
mod views;
mod views_alerts;
mod views_community;
mod views_drugchecks;
mod views_emergency;
mod views_floor;
mod views_journey;
mod views_referrals;
mod views_supplies;
mod views_visit;

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{HeaderValue, header},
    middleware,
    response::IntoResponse,
    routing::{get, post},
};
use haven_app::auth::SessionPolicy;
use haven_store::Store;

pub use security::Staff;

/// Server settings.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Session timeouts.
    pub sessions: SessionPolicy,
    /// Set when Haven is served over TLS (directly or behind a proxy): cookies
    /// get `Secure` and the `__Host-` prefix, and HSTS is sent.
    pub behind_tls: bool,
    /// Failed logins allowed per IP address and per username in one window.
    pub login_attempts: u32,
    /// The rate-limit window.
    pub login_window: Duration,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            sessions: SessionPolicy::default(),
            behind_tls: false,
            login_attempts: 10,
            login_window: Duration::from_secs(300),
        }
    }
}

/// Counts failures per key in a fixed window (ASVS 5.0 6.3.1 anti-brute-force).
#[derive(Debug, Default)]
pub struct RateLimiter {
    hits: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RateLimiter {
    /// Whether `key` has reached `max` failures in the current window.
    pub fn blocked(&self, key: &str, max: u32, window: Duration) -> bool {
        let Ok(map) = self.hits.lock() else { return true };
        map.get(key)
            .is_some_and(|(start, n)| start.elapsed() < window && *n >= max)
    }

    /// Records a failure for `key`.
    pub fn fail(&self, key: &str, window: Duration) {
        if let Ok(mut map) = self.hits.lock() {
            if map.len() > 100_000 {
                map.retain(|_, (start, _)| start.elapsed() < window);
            }
            let e = map.entry(key.to_string()).or_insert((Instant::now(), 0));
            if e.0.elapsed() >= window {
                *e = (Instant::now(), 0);
            }
            e.1 += 1;
        }
    }
}

/// Shared state of the server.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Store,
    /// Settings.
    pub config: Arc<WebConfig>,
    /// Login limiter.
    pub limiter: Arc<RateLimiter>,
    /// Live boards.
    pub board: Arc<board::BoardHub>,
}

impl AppState {
    /// New state.
    pub fn new(store: Store, config: WebConfig) -> Self {
        Self {
            board: Arc::new(board::BoardHub::new(store.clone())),
            store,
            config: Arc::new(config),
            limiter: Arc::new(RateLimiter::default()),
        }
    }

    /// The session cookie's name: `__Host-` prefixed when served over TLS
    /// (ASVS 5.0 3.3.1).
    pub fn cookie_name(&self) -> &'static str {
        if self.config.behind_tls {
            "__Host-haven"
        } else {
            "haven"
        }
    }
}

async fn static_file(axum::extract::Path(name): axum::extract::Path<String>) -> axum::response::Response {
    let (body, ctype): (&'static [u8], &'static str) = match name.as_str() {
        "haven.css" => (include_bytes!("../static/haven.css"), "text/css; charset=utf-8"),
        "haven.js" => (include_bytes!("../static/haven.js"), "text/javascript; charset=utf-8"),
        "emergency.css" => (include_bytes!("../static/emergency.css"), "text/css; charset=utf-8"),
        "favicon.svg" => (include_bytes!("../static/favicon.svg"), "image/svg+xml"),
        "favicon-alert.svg" => (include_bytes!("../static/favicon-alert.svg"), "image/svg+xml"),
        "htmx.min.js" => (
            include_bytes!("../static/htmx.min.js"),
            "text/javascript; charset=utf-8",
        ),
        "htmx-ext-sse.js" => (
            include_bytes!("../static/htmx-ext-sse.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return axum::http::StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(ctype)),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
        ],
        body,
    )
        .into_response()
}

/// Largest accepted request body (forms and JSON).
pub const MAX_BODY: usize = 64 * 1024;

/// The whole application router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/login", get(views::login_page).post(views::login_submit))
        .route("/logout", post(views::logout))
        .route("/account", get(views::account_page))
        .route("/account/password", post(views::account_password))
        .route("/", get(views::home))
        .route("/site", post(views::switch_site))
        .route("/clients", get(views::clients))
        .route("/clients/new", get(views::client_new).post(views::client_create))
        .route("/clients/{id}", get(views::client_page))
        .route("/clients/{id}/merge", post(views::client_merge))
        .route("/clients/{id}/unmerge", post(views::client_unmerge))
        .route("/checkin", get(views::checkin_page).post(views::checkin_submit))
        .route("/checkin/refuse", post(views::refuse_submit))
        .route("/visits", get(views::visits_page))
        .route("/visits/{id}/checkout", post(views::visit_checkout))
        .route("/visits/{id}/void", post(views::visit_void))
        .route("/board", get(views_floor::board_page))
        .route("/board/events", get(board::events))
        .route("/episodes", post(views_floor::episode_start))
        .route("/episodes/{id}", get(views_floor::episode_page))
        .route("/episodes/{id}/checks", post(views_floor::episode_check))
        .route("/episodes/{id}/end", post(views_floor::episode_end))
        .route("/spaces/{id}/mark", post(views_floor::space_mark))
        .route("/visits/{id}/aftercare", post(views_floor::aftercare_enter))
        .route("/aftercare/{id}/leave", post(views_floor::aftercare_leave))
        .route("/handover", get(views_emergency::handover_page))
        .route("/handover/notes", post(views_emergency::handover_note))
        .route(
            "/emergencies",
            get(views_emergency::emergencies_page).post(views_emergency::emergency_open),
        )
        .route("/emergencies/new", get(views_emergency::emergency_new_page))
        .route("/emergencies/{id}", get(views_emergency::emergency_page))
        .route("/emergencies/{id}/entries", post(views_emergency::emergency_entry))
        .route(
            "/emergencies/{id}/entries/{entry_id}/amend",
            post(views_emergency::emergency_amend),
        )
        .route("/emergencies/{id}/close", post(views_emergency::emergency_close))
        .route(
            "/alerts",
            get(views_alerts::alerts_page).post(views_alerts::alert_raise),
        )
        .route("/alerts/{id}/withdraw", post(views_alerts::alert_withdraw))
        .route(
            "/drug-checks",
            get(views_drugchecks::drugchecks_page).post(views_drugchecks::drugcheck_create),
        )
        .route("/drug-checks/{id}", get(views_drugchecks::drugcheck_page))
        .route("/drug-checks/{id}/results", post(views_drugchecks::drugcheck_result))
        .route("/drug-checks/{id}/alert", post(views_drugchecks::drugcheck_alert))
        .route(
            "/referrals",
            get(views_referrals::referrals_page).post(views_referrals::referral_make),
        )
        .route("/referrals/{id}", get(views_referrals::referral_page))
        .route("/referrals/{id}/events", post(views_referrals::referral_event))
        .route("/admin", get(views::admin_page))
        .route("/admin/site", post(views::admin_site))
        .route("/admin/sites", post(views::admin_create_site))
        .route("/admin/spaces", post(views::admin_add_space))
        .route("/admin/spaces/{id}", post(views::admin_update_space))
        .route("/admin/staff", post(views::admin_add_staff))
        .route("/admin/staff/{id}/{op}", post(views::admin_staff_state))
        .route("/static/{name}", get(static_file))
        .route("/healthz", get(|| async { "ok" }))
        .merge(views_supplies::routes())
        .merge(views_community::routes())
        .merge(views_journey::routes())
        .merge(views_visit::routes())
        .nest("/api/v1", api::router())
        .fallback(views::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), security::authenticate))
        .layer(middleware::from_fn_with_state(state.clone(), security::headers))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// Serves until `shutdown` completes, then drains for at most 10 seconds.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let store = state.store.clone();
    let policy = state.config.sessions;
    // Expired sessions are removed every ten minutes.
    let purge = tokio::spawn(async move {
        loop {
            let now = haven_domain::clock::now();
            if let Err(e) = store.purge_sessions(now - policy.idle, now - policy.absolute).await {
                tracing::warn!(error = %e, "session purge failed");
            }
            tokio::time::sleep(Duration::from_secs(600)).await;
        }
    });
    // Open board streams never end by themselves: end them when shutdown
    // starts, so the graceful drain is not held open by wall screens.
    let stop = state.board.shutdown.clone();
    let shutdown = async move {
        shutdown.await;
        stop.cancel();
    };
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let result = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    purge.abort();
    result
}
