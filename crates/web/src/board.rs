//! The live booth board: one page per site, updated by Server-Sent Events.
//!
//! After every committed change on the floor a handler calls
//! [`BoardHub::changed`]. One renderer task reads the site's board once,
//! renders the fragment once and broadcasts the HTML to every open board of
//! that site, so the cost of a change does not grow with the number of
//! viewers. A viewer that falls behind skips to the newest fragment (each
//! fragment is the whole board). Streams end when the server shuts down.

use std::{
    collections::{HashMap, HashSet},
    convert::Infallible,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use askama::Template;
use axum::{
    extract::State,
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use haven_app::floor::{Board, board_unaudited};
use haven_domain::{auth::Action, floor::SpaceState};
use haven_store::{SiteRow, Store};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::AppState;

/// A rendered board fragment, with the time it was committed-and-rendered
/// for (used by the fan-out benchmark to measure delivery delay).
#[derive(Debug, Clone)]
pub struct Fragment {
    /// The HTML of `#board`.
    pub html: Arc<str>,
    /// Sequence number per hub.
    pub seq: u64,
}

/// Per-site broadcast of board fragments.
pub struct BoardHub {
    store: Store,
    sites: Mutex<HashMap<String, broadcast::Sender<Fragment>>>,
    renderer: OnceLock<mpsc::UnboundedSender<String>>,
    seq: std::sync::atomic::AtomicU64,
    /// Cancelled at shutdown: every open stream ends.
    pub shutdown: CancellationToken,
}

impl std::fmt::Debug for BoardHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoardHub").finish_non_exhaustive()
    }
}

/// How many fragments a slow viewer may be behind before it skips ahead.
const CHANNEL_DEPTH: usize = 16;

impl BoardHub {
    /// A hub over a store.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            sites: Mutex::new(HashMap::new()),
            renderer: OnceLock::new(),
            seq: std::sync::atomic::AtomicU64::new(0),
            shutdown: CancellationToken::new(),
        }
    }

    fn sender(&self, site_id: &str) -> broadcast::Sender<Fragment> {
        let mut map = self.sites.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(site_id.to_string())
            .or_insert_with(|| broadcast::channel(CHANNEL_DEPTH).0)
            .clone()
    }

    /// Subscribes to a site's fragments.
    pub fn subscribe(&self, site_id: &str) -> broadcast::Receiver<Fragment> {
        self.sender(site_id).subscribe()
    }

    /// Number of open boards of a site.
    pub fn viewers(&self, site_id: &str) -> usize {
        let map = self.sites.lock().unwrap_or_else(|p| p.into_inner());
        map.get(site_id).map_or(0, broadcast::Sender::receiver_count)
    }

    /// Tells the open boards of a site that something changed. Cheap and
    /// non-blocking: the renderer coalesces bursts.
    pub fn changed(self: &Arc<Self>, site_id: &str) {
        let tx = self.renderer.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let hub = Arc::clone(self);
            tokio::spawn(async move { hub.render_loop(rx).await });
            tx
        });
        let _ = tx.send(site_id.to_string());
    }

    async fn render_loop(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<String>) {
        loop {
            let first = tokio::select! {
                () = self.shutdown.cancelled() => return,
                m = rx.recv() => match m { Some(s) => s, None => return },
            };
            // Everything queued meanwhile is served by the same render.
            let mut due: HashSet<String> = HashSet::from([first]);
            while let Ok(s) = rx.try_recv() {
                due.insert(s);
            }
            for site_id in due {
                if self.viewers(&site_id) == 0 {
                    continue;
                }
                match render_fragment(&self.store, &site_id).await {
                    Ok(html) => {
                        let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                        let _ = self.sender(&site_id).send(Fragment { html: html.into(), seq });
                    }
                    Err(e) => tracing::warn!(site = %site_id, error = %e, "board render failed"),
                }
            }
        }
    }
}

/// A space as the board shows it.
#[derive(Debug, Clone)]
pub struct SpaceCard {
    id: String,
    label: String,
    kind: String,
    wheelchair: bool,
    state: &'static str,
    state_label: &'static str,
    alarm: &'static str,
    episode_id: String,
    client_code: String,
    substances: String,
    route: String,
    started_at: String,
    last_check_at: String,
    check_secs: u32,
    limit_secs: u32,
    emergency_id: String,
}

/// A waiting person.
#[derive(Debug, Clone)]
pub struct WaitingLine {
    visit_id: String,
    client_code: String,
    substances: String,
    route: String,
    arrived_at: String,
    arrived: String,
    /// Free spaces that allow this route: (id, label).
    spaces: Vec<(String, String)>,
}

/// A person in after-care.
#[derive(Debug, Clone)]
pub struct AftercareLine {
    id: String,
    client_code: String,
    entered_at: String,
    entered: String,
}

/// An open emergency.
#[derive(Debug, Clone)]
pub struct EmergencyLine {
    pub(crate) id: String,
    pub(crate) place: String,
    pub(crate) who: String,
    pub(crate) since: String,
    pub(crate) started_at: String,
}

/// An alert as boards and banners show it.
#[derive(Debug, Clone)]
pub struct AlertLine {
    pub(crate) id: String,
    pub(crate) text: String,
    pub(crate) from: String,
    pub(crate) until: String,
    pub(crate) expires_at: String,
}

/// An alert for the board and the banner on every page.
pub fn alert_line(site: &SiteRow, a: &haven_store::AlertRow) -> AlertLine {
    AlertLine {
        id: a.id.clone(),
        text: a.text.clone(),
        from: if a.site_id == site.id {
            String::new()
        } else {
            a.site_code.clone()
        },
        until: haven_domain::clock::local_hhmm(&site.timezone, a.expires_at),
        expires_at: rfc(a.expires_at),
    }
}

/// The `#board` fragment.
#[derive(Template)]
#[template(path = "_board.html")]
pub struct BoardFragment {
    spaces: Vec<SpaceCard>,
    waiting: Vec<WaitingLine>,
    aftercare: Vec<AftercareLine>,
    emergencies: Vec<EmergencyLine>,
    alerts: Vec<AlertLine>,
    free: usize,
    rendered_at: String,
}

fn rfc(t: time::OffsetDateTime) -> String {
    haven_domain::clock::rfc3339(t)
}

fn join(xs: &[String]) -> String {
    xs.join(" + ")
}

/// Builds the fragment's data from a board.
pub fn fragment(site: &SiteRow, b: &Board) -> BoardFragment {
    let settings = haven_app::clients::settings_of(site);
    let hhmm = |t| haven_domain::clock::local_hhmm(&site.timezone, t);
    let spaces: Vec<SpaceCard> = b
        .spaces
        .iter()
        .map(|s| SpaceCard {
            id: s.row.id.clone(),
            label: s.row.label.clone(),
            kind: s.row.kind.clone(),
            wheelchair: s.row.wheelchair,
            state: s.state.as_str(),
            state_label: s.state.label(),
            alarm: s.alarm.as_str(),
            episode_id: s.row.episode_id.clone().unwrap_or_default(),
            client_code: s.row.client_code.clone().unwrap_or_default(),
            substances: join(&s.substances),
            route: s.row.route.clone().unwrap_or_default(),
            started_at: s.row.started_at.map(rfc).unwrap_or_default(),
            last_check_at: s.row.last_check_at.map(rfc).unwrap_or_default(),
            check_secs: s.timers.check_minutes * 60,
            limit_secs: s.timers.limit_minutes * 60,
            emergency_id: s.row.emergency_id.clone().unwrap_or_default(),
        })
        .collect();
    let free: Vec<&haven_app::floor::BoardSpace> = b.spaces.iter().filter(|s| s.state == SpaceState::Free).collect();
    let waiting = b
        .waiting
        .iter()
        .map(|w| {
            let subs: Vec<String> = serde_json::from_str(&w.substances).unwrap_or_default();
            let fits = free
                .iter()
                .filter(|s| {
                    let kind = haven_domain::site::SpaceKind::parse(&s.row.kind)
                        .unwrap_or(haven_domain::site::SpaceKind::Injecting);
                    haven_domain::eligibility::allowed_in_kind(
                        &settings.eligibility,
                        kind,
                        &s.row.label,
                        &w.route,
                        &subs,
                    )
                    .is_ok()
                })
                .map(|s| (s.row.id.clone(), s.row.label.clone()))
                .collect();
            WaitingLine {
                visit_id: w.visit_id.clone(),
                client_code: w.client_code.clone(),
                substances: join(&subs),
                route: w.route.clone(),
                arrived_at: rfc(w.arrived_at),
                arrived: hhmm(w.arrived_at),
                spaces: fits,
            }
        })
        .collect();
    BoardFragment {
        spaces,
        waiting,
        aftercare: b
            .aftercare
            .iter()
            .map(|a| AftercareLine {
                id: a.id.clone(),
                client_code: a.client_code.clone(),
                entered_at: rfc(a.entered_at),
                entered: hhmm(a.entered_at),
            })
            .collect(),
        emergencies: b.emergencies.iter().map(|e| emergency_line(site, e)).collect(),
        alerts: b.alerts.iter().map(|a| alert_line(site, a)).collect(),
        free: free.len(),
        rendered_at: rfc(b.now),
    }
}

/// An open emergency for banners and the board.
pub fn emergency_line(site: &SiteRow, e: &haven_store::EmergencyRow) -> EmergencyLine {
    EmergencyLine {
        id: e.id.clone(),
        place: if e.location_detail.is_empty() {
            e.location.replace('_', " ")
        } else {
            e.location_detail.clone()
        },
        who: e
            .client_code
            .clone()
            .unwrap_or_else(|| "unregistered person".to_string()),
        since: haven_domain::clock::local_hhmm(&site.timezone, e.started_at),
        started_at: rfc(e.started_at),
    }
}

/// Renders the fragment for the live feed. Forms in it carry no CSRF token:
/// htmx adds the viewer's token as a header (haven.js).
pub async fn render_fragment(store: &Store, site_id: &str) -> Result<String, String> {
    let site = store.site(site_id).await.map_err(|e| e.to_string())?;
    let b = board_unaudited(store, site_id).await.map_err(|e| e.to_string())?;
    fragment(&site, &b).render().map_err(|e| e.to_string())
}

/// How often an open board re-checks its session.
const SESSION_RECHECK: Duration = Duration::from_secs(30);

/// Re-checks the session behind an open stream.
struct SessionGuard {
    store: Store,
    id_hash: Option<String>,
    ends_at: Option<time::OffsetDateTime>,
    tick: tokio::time::Interval,
}

impl SessionGuard {
    async fn still_valid(&self) -> bool {
        let (Some(id), Some(ends)) = (&self.id_hash, self.ends_at) else {
            return false;
        };
        haven_domain::clock::now() < ends && self.store.session(id).await.is_ok()
    }
}

/// `GET /board/events`: the site's live feed. The first event is the board
/// as it is now, so a reconnecting viewer resyncs at once.
pub async fn events(State(state): State<AppState>, staff: crate::Staff) -> Result<Response, crate::error::PageError> {
    let Some(site_id) = staff.site_id.clone() else {
        return Err(crate::error::PageError(haven_app::AppError::NotFound));
    };
    staff.ctx.allow(&state.store, Action::ViewFloor, &site_id).await?;
    let rx = state.board.subscribe(&site_id);
    let first = render_fragment(&state.store, &site_id)
        .await
        .map_err(|e| crate::error::PageError(haven_app::AppError::Internal(e)))?;
    let stop = state.board.shutdown.clone();
    // The stream was authorised when it opened; it ends when the session
    // does (logout, disabled account, password change, absolute timeout),
    // checked every 30 seconds, so a forgotten screen stops showing codes.
    let guard = SessionGuard {
        store: state.store.clone(),
        id_hash: staff.session.as_ref().map(|s| s.id_hash.clone()),
        ends_at: staff
            .session
            .as_ref()
            .map(|s| s.created_at + state.config.sessions.absolute),
        tick: tokio::time::interval_at(tokio::time::Instant::now() + SESSION_RECHECK, SESSION_RECHECK),
    };
    let stream = futures_util::stream::unfold(
        (Some(first), rx, stop, guard),
        |(first, mut rx, stop, mut guard)| async move {
            if let Some(html) = first {
                let ev = Event::default().event("board").data(html);
                return Some((Ok::<Event, Infallible>(ev), (None, rx, stop, guard)));
            }
            loop {
                tokio::select! {
                    () = stop.cancelled() => return None,
                    _ = guard.tick.tick() => {
                        if !guard.still_valid().await {
                            return None;
                        }
                    }
                    m = rx.recv() => match m {
                        Ok(f) => {
                            let ev = Event::default().event("board").id(f.seq.to_string()).data(f.html.as_ref());
                            return Some((Ok(ev), (None, rx, stop, guard)));
                        }
                        // Behind: the next fragment is the whole, newer board.
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return None,
                    },
                }
            }
        },
    );
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}
