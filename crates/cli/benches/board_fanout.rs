//! Board fan-out: many open boards of one site while the floor changes at a
//! steady rate, on a real server over loopback (in-process) and a SQLite
//! store (WAL, `synchronous=FULL`, the store's own settings) in a temporary
//! directory.
//!
//! ```text
//! cargo bench -p haven --bench board_fanout                       # 10 minutes
//! HAVEN_BENCH_SECS=60 cargo bench -p haven --bench board_fanout   # quick run
//! HAVEN_BENCH_VIEWERS=50 HAVEN_BENCH_RATE=20 HAVEN_BENCH_SECS=600 cargo bench -p haven --bench board_fanout
//! ```
//!
//! `HAVEN_BENCH_VIEWERS` (default 50) viewers log in over HTTP and open
//! `GET /board/events`; a writer makes `HAVEN_BENCH_RATE` (default 20) real
//! floor changes per second through the app layer for `HAVEN_BENCH_SECS`
//! (default 600) seconds — check-in, start an episode, observation check,
//! end the episode, after-care, check-out, space cleaned — each followed by
//! `BoardHub::changed`, exactly as the handlers do.
//!
//! Delay of change *i* at a viewer = receipt time of the first fragment whose
//! `data-rendered-at` (when the board was read) is at or after the commit
//! time of change *i*, minus that commit time. One fragment may serve several
//! changes (the renderer coalesces). A change not delivered within 5 s counts
//! as lost, and ranks above every delivered one in the percentiles. Delays
//! are matched as fragments arrive and kept in a fixed histogram (0.1 ms
//! buckets), so the harness's own memory does not grow with the run.
//!
//! Prints the figures next to their targets (p99 < 250 ms; server memory
//! flat: last RSS ≤ RSS after warm-up × 1.2 + 5 MB) with PASS/FAIL, and exits
//! 0 either way. Bounded: everything stops within the run time + 10 s.

use std::{
    collections::{HashSet, VecDeque},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, Result, anyhow};
use haven_app::{
    AppError, AppResult, Ctx,
    auth::{add_user_system, load_actor},
    floor, system_ctx, visits,
};
use haven_domain::{
    auth::Role,
    codes::{CodeScheme, site_code},
    floor::{CheckDraft, EpisodeDraft},
    site::{SiteSettings, validate_site},
    visit::CheckInDraft,
};
use haven_store::{BulkClient, Location, SpaceMark, Store};
use haven_web::{AppState, WebConfig};
use tokio::sync::oneshot;

/// Spaces at the bench site.
const SPACES: usize = 12;
/// Clients at the bench site.
const CLIENTS: u64 = 300;
/// Site code.
const SITE: &str = "BFO";
const MANAGER: &str = "bench-manager";
const PASSWORD: &str = "fan-out-bench-password-1";
/// A change not delivered within this is lost.
const LOST_AFTER: Duration = Duration::from_secs(5);
/// RSS sampling period.
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// Histogram bucket width.
const BUCKET_NS: u64 = 100_000;
/// Buckets: 0 ..= 5 s, the last one also holds everything above.
const BUCKETS: usize = (5_000_000_000 / BUCKET_NS) as usize + 1;
/// Most running episodes before the writer ends one.
const RUNNING: usize = 8;
/// People kept waiting, in after-care and spaces kept dirty (so the board
/// shows every section).
const WAITING: usize = 3;
const IN_AFTERCARE: usize = 3;
const DIRTY: usize = 2;
/// Renders timed after the run.
const RENDERS: usize = 20;

const TARGET_P99_MS: f64 = 250.0;
/// RSS flat: last ≤ after-warm-up × this + `RSS_SLACK_KB`.
const RSS_FACTOR: f64 = 1.2;
const RSS_SLACK_KB: u64 = 5 * 1024;

fn main() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    runtime.block_on(run())
}

fn env_u64(name: &str, default: u64, min: u64, max: u64) -> Result<u64> {
    match std::env::var(name) {
        Ok(v) => {
            let n: u64 = v
                .trim()
                .replace('_', "")
                .parse()
                .with_context(|| format!("{name}={v:?} is not a number"))?;
            anyhow::ensure!((min..=max).contains(&n), "{name} must be {min}..={max}");
            Ok(n)
        }
        Err(_) => Ok(default),
    }
}

/// Wall-clock nanoseconds since the Unix epoch (the clock the board's
/// `data-rendered-at` is read from).
fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}

/// A latency histogram shared by all viewers: fixed size, allocated and
/// touched up front.
struct Histogram {
    buckets: Vec<AtomicU32>,
    count: AtomicU64,
    sum_ns: AtomicU64,
    max_ns: AtomicU64,
}

impl Histogram {
    fn new() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU32::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
            max_ns: AtomicU64::new(0),
        }
    }

    fn record(&self, ns: i64) {
        let ns = u64::try_from(ns).unwrap_or(0);
        let b = usize::try_from(ns / BUCKET_NS).map_or(BUCKETS - 1, |b| b.min(BUCKETS - 1));
        self.buckets[b].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
        self.max_ns.fetch_max(ns, Ordering::Relaxed);
    }

    fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn max_ns(&self) -> u64 {
        self.max_ns.load(Ordering::Relaxed)
    }

    fn mean_ns(&self) -> u64 {
        self.sum_ns.load(Ordering::Relaxed) / self.count().max(1)
    }

    /// Nearest-rank quantile, with `above` more samples ranked above every
    /// recorded one (lost changes). `None` when the rank falls among those.
    /// A bucket reports its upper edge (at most the maximum seen).
    fn quantile_ns(&self, q: f64, above: u64) -> Option<u64> {
        let total = self.count() + above;
        if total == 0 {
            return Some(0);
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut cum = 0u64;
        for (i, b) in self.buckets.iter().enumerate() {
            cum += u64::from(b.load(Ordering::Relaxed));
            if cum >= rank {
                return Some(((i as u64 + 1) * BUCKET_NS).min(self.max_ns()));
            }
        }
        None
    }
}

/// What the writer and the viewers share.
struct Shared {
    /// Commit times of the changes, in order (ns since the epoch).
    commits: Mutex<Vec<i64>>,
    /// Commit → delivery, per change and viewer.
    delays: Histogram,
    /// `data-rendered-at` → delivery, per fragment and viewer.
    fragment_age: Histogram,
    /// (change, viewer) pairs not delivered within `LOST_AFTER`.
    lost: AtomicU64,
    /// Viewers that have their first board.
    ready: AtomicUsize,
}

/// Matches a viewer's fragments to the changes as they arrive.
#[derive(Default)]
struct Matcher {
    /// Changes taken from `Shared::commits` so far.
    cursor: usize,
    /// Changes not yet delivered.
    pending: VecDeque<i64>,
    /// (receipt, rendered_at) of fragments that may still serve a change.
    fragments: VecDeque<(i64, i64)>,
    /// The newest commit seen: older fragments can serve nothing later.
    last_commit: i64,
}

impl Matcher {
    fn settle(&mut self, shared: &Shared, now: i64, final_pass: bool) {
        {
            let commits = shared.commits.lock().unwrap_or_else(|p| p.into_inner());
            if self.cursor < commits.len() {
                self.pending.extend(commits[self.cursor..].iter().copied());
                self.cursor = commits.len();
                self.last_commit = commits[commits.len() - 1];
            }
        }
        let lost_ns = i64::try_from(LOST_AFTER.as_nanos()).unwrap_or(i64::MAX);
        while let Some(&t) = self.pending.front() {
            while self.fragments.front().is_some_and(|f| f.1 < t) {
                self.fragments.pop_front();
            }
            if let Some(&(receipt, _)) = self.fragments.front() {
                let d = receipt - t;
                if d <= lost_ns {
                    shared.delays.record(d);
                } else {
                    shared.lost.fetch_add(1, Ordering::Relaxed);
                }
            } else if final_pass || now - t > lost_ns {
                shared.lost.fetch_add(1, Ordering::Relaxed);
            } else {
                break;
            }
            self.pending.pop_front();
        }
        while self.fragments.front().is_some_and(|f| f.1 < self.last_commit) {
            self.fragments.pop_front();
        }
    }
}

/// What one viewer saw.
#[derive(Debug, Default)]
struct ViewerReport {
    /// `board` events, the first (the board on connect) included.
    events: u64,
    /// Sequence numbers of the first and last broadcast fragment.
    first_seq: Option<u64>,
    last_seq: Option<u64>,
    bytes: u64,
    /// Board events without a readable `data-rendered-at`.
    unreadable: u64,
    /// How the stream ended, if not cleanly.
    error: Option<String>,
}

/// One parsed SSE event: (name, id, rendered_at ns).
fn parse_event(ev: &[u8]) -> (Option<&str>, Option<u64>, Option<i64>) {
    let Ok(text) = std::str::from_utf8(ev) else {
        return (None, None, None);
    };
    let mut name = None;
    let mut id = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            name = Some(v.trim());
        } else if let Some(v) = line.strip_prefix("id:") {
            id = v.trim().parse().ok();
        }
    }
    const MARK: &str = "data-rendered-at=\"";
    let rendered = text.find(MARK).and_then(|i| {
        let rest = &text[i + MARK.len()..];
        let value = &rest[..rest.find('"')?];
        let t = haven_domain::clock::parse_rfc3339(value)?;
        i64::try_from(t.unix_timestamp_nanos()).ok()
    });
    (name, id, rendered)
}

async fn viewer(client: reqwest::Client, url: String, shared: Arc<Shared>) -> Result<ViewerReport> {
    let mut resp = client.get(&url).send().await.context("opening the board feed")?;
    anyhow::ensure!(
        resp.status() == reqwest::StatusCode::OK,
        "GET /board/events answered {}",
        resp.status()
    );
    let mut rep = ViewerReport::default();
    let mut m = Matcher::default();
    let mut buf: Vec<u8> = Vec::with_capacity(128 * 1024);
    let mut scan = 0usize;
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                rep.error = Some(e.to_string());
                break;
            }
        };
        let receipt = now_ns();
        rep.bytes += chunk.len() as u64;
        buf.extend_from_slice(&chunk);
        let mut start = 0usize;
        while let Some(pos) = buf[scan..].windows(2).position(|w| w == b"\n\n") {
            let end = scan + pos;
            let (name, id, rendered) = parse_event(&buf[start..end]);
            if name == Some("board") {
                rep.events += 1;
                if let Some(id) = id {
                    rep.first_seq.get_or_insert(id);
                    rep.last_seq = Some(id);
                }
                match rendered {
                    Some(r) => {
                        if rep.events == 1 {
                            shared.ready.fetch_add(1, Ordering::Relaxed);
                        } else {
                            shared.fragment_age.record(receipt - r);
                        }
                        m.fragments.push_back((receipt, r));
                    }
                    None => rep.unreadable += 1,
                }
            }
            start = end + 2;
            scan = start;
        }
        buf.drain(..start);
        // A "\n\n" may straddle two chunks.
        scan = buf.len().saturating_sub(1);
        m.settle(&shared, receipt, false);
    }
    m.settle(&shared, now_ns(), true);
    Ok(rep)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    CheckIn,
    Start,
    Check,
    End,
    Aftercare,
    CheckOut,
    Clean,
}

const STEPS: [Step; 7] = [
    Step::CheckIn,
    Step::Start,
    Step::Check,
    Step::End,
    Step::Aftercare,
    Step::CheckOut,
    Step::Clean,
];

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::CheckIn => "check-in",
            Step::Start => "start episode",
            Step::Check => "observation check",
            Step::End => "end episode",
            Step::Aftercare => "enter after-care",
            Step::CheckOut => "check-out (ends after-care)",
            Step::Clean => "space cleaned",
        }
    }
}

struct Running {
    episode: String,
    visit: String,
    client: usize,
    space: String,
}

/// The writer's picture of the floor.
struct FloorSim {
    site_id: String,
    clients: Vec<String>,
    next_client: usize,
    busy: HashSet<usize>,
    waiting: VecDeque<(String, usize)>,
    running: VecDeque<Running>,
    ended: VecDeque<(String, usize)>,
    aftercare: VecDeque<(String, usize)>,
    free: VecDeque<String>,
    dirty: VecDeque<String>,
    check_rr: usize,
}

impl FloorSim {
    fn feasible(&self, s: Step) -> bool {
        match s {
            Step::CheckIn => self.waiting.len() < WAITING && self.busy.len() < self.clients.len(),
            Step::Start => !self.waiting.is_empty() && !self.free.is_empty(),
            Step::Check => !self.running.is_empty(),
            Step::End => self.running.len() >= RUNNING || (self.free.is_empty() && !self.running.is_empty()),
            Step::Aftercare => !self.ended.is_empty(),
            Step::CheckOut => self.aftercare.len() >= IN_AFTERCARE,
            Step::Clean => self.dirty.len() >= DIRTY || (self.free.is_empty() && !self.dirty.is_empty()),
        }
    }

    /// One real change through the app layer (committed when it returns).
    async fn perform(&mut self, s: Step, store: &Store, ctx: &Ctx) -> AppResult<()> {
        match s {
            Step::CheckIn => {
                let n = self.clients.len();
                let idx = (0..n)
                    .map(|k| (self.next_client + k) % n)
                    .find(|i| !self.busy.contains(i))
                    .ok_or_else(|| AppError::Internal("every client is on the floor".into()))?;
                let draft = CheckInDraft {
                    substances: vec!["heroin".into()],
                    route: Some("injection".into()),
                    otherwise_place: Some("public".into()),
                    ..Default::default()
                };
                let (v, _) = visits::check_in(store, ctx, &self.clients[idx], &draft, None).await?;
                self.next_client = (idx + 1) % n;
                self.busy.insert(idx);
                self.waiting.push_back((v.id, idx));
            }
            Step::Start => {
                let (Some((visit, client)), Some(space)) = (self.waiting.front(), self.free.front()) else {
                    return Err(AppError::Internal("start: nobody waiting or no free space".into()));
                };
                let draft = EpisodeDraft {
                    visit_id: visit.clone(),
                    space_id: space.clone(),
                    ..Default::default()
                };
                let e = floor::start_episode(store, ctx, &draft).await?;
                let client = *client;
                let visit = visit.clone();
                let space = space.clone();
                self.waiting.pop_front();
                self.free.pop_front();
                self.running.push_back(Running {
                    episode: e.id,
                    visit,
                    client,
                    space,
                });
            }
            Step::Check => {
                let i = self.check_rr % self.running.len().max(1);
                let Some(r) = self.running.get(i) else {
                    return Err(AppError::Internal("check: nothing running".into()));
                };
                let draft = CheckDraft {
                    status: "responsive".into(),
                    resp_rate: Some(14),
                    spo2: Some(97),
                    ..Default::default()
                };
                floor::record_check(store, ctx, &r.episode, &draft).await?;
                self.check_rr = self.check_rr.wrapping_add(1);
            }
            Step::End => {
                let Some(r) = self.running.front() else {
                    return Err(AppError::Internal("end: nothing running".into()));
                };
                floor::end_episode(store, ctx, &r.episode, None, false).await?;
                if let Some(r) = self.running.pop_front() {
                    self.dirty.push_back(r.space);
                    self.ended.push_back((r.visit, r.client));
                }
            }
            Step::Aftercare => {
                let Some((visit, _)) = self.ended.front() else {
                    return Err(AppError::Internal("after-care: nobody ended".into()));
                };
                floor::enter_aftercare(store, ctx, visit, None).await?;
                if let Some(x) = self.ended.pop_front() {
                    self.aftercare.push_back(x);
                }
            }
            Step::CheckOut => {
                let Some((visit, _)) = self.aftercare.front() else {
                    return Err(AppError::Internal("check-out: nobody in after-care".into()));
                };
                visits::check_out(store, ctx, visit, None).await?;
                if let Some((_, client)) = self.aftercare.pop_front() {
                    self.busy.remove(&client);
                }
            }
            Step::Clean => {
                let Some(space) = self.dirty.front() else {
                    return Err(AppError::Internal("clean: no dirty space".into()));
                };
                floor::mark_space(store, ctx, &self.site_id, space, SpaceMark::Cleaned).await?;
                if let Some(s) = self.dirty.pop_front() {
                    self.free.push_back(s);
                }
            }
        }
        Ok(())
    }
}

/// What the writer did.
struct WriterReport {
    elapsed: Duration,
    changes: u64,
    per_step: [u64; 7],
    /// Use-case latency (request to commit), per change.
    latencies: Vec<Duration>,
    failures: u64,
    first_failures: Vec<String>,
}

async fn writer(
    state: AppState,
    ctx: Ctx,
    mut sim: FloorSim,
    rate: u64,
    run_for: Duration,
    shared: Arc<Shared>,
) -> WriterReport {
    let expected = usize::try_from(rate.saturating_mul(run_for.as_secs() + 1)).unwrap_or(0);
    let mut rep = WriterReport {
        elapsed: Duration::ZERO,
        changes: 0,
        per_step: [0; 7],
        latencies: Vec::with_capacity(expected),
        failures: 0,
        first_failures: Vec::new(),
    };
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let start = Instant::now();
    let mut next = 0usize;
    loop {
        tick.tick().await;
        if start.elapsed() >= run_for {
            break;
        }
        let Some(k) = (0..STEPS.len())
            .map(|k| (next + k) % STEPS.len())
            .find(|&k| sim.feasible(STEPS[k]))
        else {
            rep.failures += 1;
            if rep.first_failures.len() < 5 {
                rep.first_failures.push("no feasible step".into());
            }
            continue;
        };
        next = (k + 1) % STEPS.len();
        let step = STEPS[k];
        let t0 = Instant::now();
        match sim.perform(step, &state.store, &ctx).await {
            Ok(()) => {
                let committed = now_ns();
                rep.latencies.push(t0.elapsed());
                shared.commits.lock().unwrap_or_else(|p| p.into_inner()).push(committed);
                state.board.changed(&sim.site_id);
                rep.changes += 1;
                rep.per_step[k] += 1;
            }
            Err(e) => {
                rep.failures += 1;
                if rep.first_failures.len() < 5 {
                    rep.first_failures.push(format!("{}: {e}", step.name()));
                }
            }
        }
    }
    rep.elapsed = start.elapsed();
    rep
}

/// One memory sample: seconds into the run, this process's `VmRSS`,
/// `RssAnon` and `RssFile` in kB (the server runs in-process), and the
/// bytes of the database files (database, WAL, shared memory).
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: u64,
    rss: u64,
    anon: u64,
    file: u64,
    db: u64,
}

fn sample(at: u64, dir: &std::path::Path) -> Sample {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    let db = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    Sample {
        at,
        rss: field("VmRSS:"),
        anon: field("RssAnon:"),
        file: field("RssFile:"),
        db,
    }
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// Sorted durations → nearest-rank percentile.
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Creates the bench site: spaces, clients and a manager. Returns (site id,
/// space ids, client ids, manager user id).
async fn setup(store: &Store) -> Result<(String, Vec<String>, Vec<String>, String)> {
    let sys = system_ctx("bench");
    let input = validate_site(
        SITE,
        "Fan-out bench site",
        "Europe/London",
        "00:00",
        "23:59",
        CodeScheme::Site.as_str(),
    )?;
    let site = store
        .create_site(&sys, &input, &SiteSettings::default().to_json())
        .await
        .context("creating the site")?;
    let mut spaces = Vec::with_capacity(SPACES);
    for b in 1..=SPACES {
        let id = store
            .add_space(&sys, &site.id, &format!("Booth {b:02}"), "injecting", b <= 2)
            .await
            .with_context(|| format!("adding booth {b}"))?;
        spaces.push(id);
    }
    let manager = add_user_system(store, MANAGER, PASSWORD, SITE, Role::Manager)
        .await
        .context("adding the manager")?;
    let now = haven_domain::clock::now();
    let clients: Vec<BulkClient> = (1..=CLIENTS)
        .map(|n| BulkClient {
            id: haven_store::new_id(),
            code: site_code(SITE, n),
            year_of_birth: 1970 + (n % 30) as i32,
            gender: if n % 4 == 0 { "female".into() } else { "male".into() },
            home_area: "G1".into(),
            alias: None,
            registered_at: now - time::Duration::days(30),
        })
        .collect();
    store
        .bulk_insert_clients(&sys, &site.id, &clients, &manager, CLIENTS as i64 + 1)
        .await
        .context("inserting clients")?;
    Ok((site.id, spaces, clients.into_iter().map(|c| c.id).collect(), manager))
}

async fn run() -> Result<()> {
    let viewers = usize::try_from(env_u64("HAVEN_BENCH_VIEWERS", 50, 1, 10_000)?)?;
    let rate = env_u64("HAVEN_BENCH_RATE", 20, 1, 1_000)?;
    let secs = env_u64("HAVEN_BENCH_SECS", 600, 10, 24 * 3600)?;
    let run_for = Duration::from_secs(secs);
    // RSS is compared from the end of warm-up: a minute, or a sixth of a
    // short run (whole sampling periods, at least one).
    let warmup_secs = ((secs / 6).clamp(10, 60) / 10) * 10;

    let tmp = tempfile::tempdir().context("temporary directory")?;
    println!("Haven board fan-out benchmark");
    println!(
        "  store: SQLite in {} (WAL, synchronous=FULL: the store's settings)",
        tmp.path().display()
    );
    println!(
        "  cores: {}; server, writer and viewers share one tokio runtime (in-process, loopback)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "  viewers {viewers} (HAVEN_BENCH_VIEWERS), rate {rate}/s (HAVEN_BENCH_RATE), run {secs} s (HAVEN_BENCH_SECS; 600 is the requirement, 60 a quick run)"
    );
    let store = Store::open(&Location::SqliteDir(tmp.path().to_path_buf()))
        .await
        .context("opening the store")?;
    let (site_id, spaces, clients, manager) = setup(&store).await?;
    let actor = load_actor(&store, &manager)
        .await?
        .ok_or_else(|| anyhow!("{MANAGER} has no active account"))?;
    let ctx = Ctx {
        actor,
        request_id: "bench-fanout".into(),
    };
    println!("  site {SITE}: {SPACES} injecting booths, {CLIENTS} clients, user {MANAGER} (manager)");

    // The server.
    let state = AppState::new(store.clone(), WebConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding a loopback port")?;
    let base = format!("http://{}", listener.local_addr().context("local address")?);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(haven_web::serve(state.clone(), listener, async {
        let _ = stop_rx.await;
    }));

    // Log in once; every viewer uses the session cookie.
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(viewers + 4)
        .build()
        .context("HTTP client")?;
    let r = client
        .post(format!("{base}/login"))
        .form(&[("username", MANAGER), ("password", PASSWORD), ("next", "/")])
        .send()
        .await
        .context("logging in")?;
    anyhow::ensure!(
        r.status() == reqwest::StatusCode::SEE_OTHER,
        "login answered {}",
        r.status()
    );

    let shared = Arc::new(Shared {
        commits: Mutex::new(Vec::with_capacity(
            usize::try_from(rate.saturating_mul(secs + 1)).unwrap_or(0),
        )),
        delays: Histogram::new(),
        fragment_age: Histogram::new(),
        lost: AtomicU64::new(0),
        ready: AtomicUsize::new(0),
    });
    let url = format!("{base}/board/events");
    let mut handles = Vec::with_capacity(viewers);
    for _ in 0..viewers {
        handles.push(tokio::spawn(viewer(client.clone(), url.clone(), Arc::clone(&shared))));
    }
    let connect = Instant::now();
    while shared.ready.load(Ordering::Relaxed) < viewers {
        if connect.elapsed() > Duration::from_secs(15) {
            anyhow::bail!(
                "only {} of {viewers} viewers got their first board within 15 s",
                shared.ready.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!(
        "  {viewers} viewers connected in {:.0} ms; hub counts {} open boards",
        connect.elapsed().as_secs_f64() * 1e3,
        state.board.viewers(&site_id)
    );

    let free = VecDeque::from(spaces);
    let sim = FloorSim {
        site_id: site_id.clone(),
        clients,
        next_client: 0,
        busy: HashSet::new(),
        waiting: VecDeque::new(),
        running: VecDeque::new(),
        ended: VecDeque::new(),
        aftercare: VecDeque::new(),
        free,
        dirty: VecDeque::new(),
        check_rr: 0,
    };

    // The measured run.
    println!();
    println!(
        "Running for {secs} s (RSS sampled every {} s) ...",
        SAMPLE_EVERY.as_secs()
    );
    let t0 = Instant::now();
    let hard_stop = t0 + run_for + Duration::from_secs(10);
    let db_dir = tmp.path().to_path_buf();
    let sampler = tokio::spawn(async move {
        let mut series: Vec<Sample> = Vec::with_capacity(usize::try_from(secs / 10 + 2).unwrap_or(0));
        let mut tick = tokio::time::interval(SAMPLE_EVERY);
        loop {
            tick.tick().await;
            let at = t0.elapsed();
            series.push(sample(at.as_secs(), &db_dir));
            if at + Duration::from_secs(1) >= run_for {
                return series;
            }
        }
    });
    let writer_task = tokio::spawn(writer(state.clone(), ctx, sim, rate, run_for, Arc::clone(&shared)));
    let wrote = match tokio::time::timeout(run_for + Duration::from_secs(2), writer_task).await {
        Ok(r) => r.context("writer task")?,
        Err(_) => anyhow::bail!("the writer did not stop within the run time + 2 s"),
    };
    let series = match tokio::time::timeout(Duration::from_secs(2), sampler).await {
        Ok(r) => r.context("RSS sampler")?,
        Err(_) => Vec::new(),
    };

    // Let the last changes arrive (or time out as lost).
    tokio::time::sleep(LOST_AFTER + Duration::from_millis(500)).await;

    // Render cost of the board as it now stands, for the diagnosis.
    let mut reads = Vec::with_capacity(RENDERS);
    let mut renders = Vec::with_capacity(RENDERS);
    let mut fragment_len = 0usize;
    for _ in 0..RENDERS {
        if Instant::now() + Duration::from_secs(3) > hard_stop {
            break;
        }
        let t = Instant::now();
        haven_app::floor::board_unaudited(&store, &site_id).await?;
        reads.push(t.elapsed());
        let t = Instant::now();
        let html = haven_web::board::render_fragment(&store, &site_id)
            .await
            .map_err(|e| anyhow!("render: {e}"))?;
        renders.push(t.elapsed());
        fragment_len = html.len();
    }
    reads.sort_unstable();
    renders.sort_unstable();

    // Shut down: serve() cancels the hub's token, every stream ends.
    let _ = stop_tx.send(());
    let wait = hard_stop
        .saturating_duration_since(Instant::now())
        .max(Duration::from_secs(1));
    let server_result = tokio::time::timeout(wait, server).await;
    let server_stopped = match &server_result {
        Ok(Ok(Ok(()))) => "returned".to_string(),
        Ok(Ok(Err(e))) => format!("returned an error: {e}"),
        Ok(Err(e)) => format!("task failed: {e}"),
        Err(_) => "did NOT return in time".to_string(),
    };
    let mut reports = Vec::with_capacity(viewers);
    let mut viewer_failures = Vec::new();
    let mut unfinished = 0usize;
    for h in handles {
        let wait = hard_stop
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(200));
        match tokio::time::timeout(wait, h).await {
            Ok(Ok(Ok(rep))) => reports.push(rep),
            Ok(Ok(Err(e))) => viewer_failures.push(format!("{e:#}")),
            Ok(Err(e)) => viewer_failures.push(e.to_string()),
            Err(_) => unfinished += 1,
        }
    }
    let total = t0.elapsed();

    // Figures.
    let changes = wrote.changes;
    let achieved = changes as f64 / wrote.elapsed.as_secs_f64().max(1e-9);
    println!();
    println!("Writer (one task, app layer, each change committed then BoardHub::changed)");
    println!(
        "  {changes} changes in {:.1} s = {achieved:.2}/s (target rate {rate}/s); {} failed",
        wrote.elapsed.as_secs_f64(),
        wrote.failures
    );
    for (k, s) in STEPS.iter().enumerate() {
        println!("    {:<28} {:>7}", s.name(), wrote.per_step[k]);
    }
    for f in &wrote.first_failures {
        println!("    failure: {f}");
    }
    let mut lat = wrote.latencies;
    lat.sort_unstable();
    println!(
        "  use case to commit: p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );

    println!();
    println!("Viewers");
    let events: Vec<u64> = reports.iter().map(|r| r.events.saturating_sub(1)).collect();
    let first_seq = reports.iter().filter_map(|r| r.first_seq).min();
    let last_seq = reports.iter().filter_map(|r| r.last_seq).max();
    let rendered = match (first_seq, last_seq) {
        (Some(a), Some(b)) => b - a + 1,
        _ => 0,
    };
    let bytes: u64 = reports.iter().map(|r| r.bytes).sum();
    println!(
        "  {} finished, {} failed, {} did not end; fragments rendered (broadcast) {rendered} = {:.2} per change",
        reports.len(),
        viewer_failures.len(),
        unfinished,
        rendered as f64 / changes.max(1) as f64
    );
    if !events.is_empty() {
        println!(
            "  fragments delivered per viewer (after the first board): min {}  mean {:.1}  max {}",
            events.iter().min().copied().unwrap_or(0),
            events.iter().sum::<u64>() as f64 / events.len() as f64,
            events.iter().max().copied().unwrap_or(0)
        );
    }
    println!(
        "  received {:.1} MB in all ({:.2} MB/s); fragment now {:.1} kB",
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / total.as_secs_f64().max(1e-9),
        fragment_len as f64 / 1e3
    );
    let unreadable: u64 = reports.iter().map(|r| r.unreadable).sum();
    if unreadable > 0 {
        println!("  {unreadable} board events had no readable data-rendered-at");
    }
    for r in reports.iter().filter_map(|r| r.error.as_ref()).take(3) {
        println!("  stream error: {r}");
    }
    for f in viewer_failures.iter().take(3) {
        println!("  viewer failed: {f}");
    }

    let lost = shared.lost.load(Ordering::Relaxed);
    let d = &shared.delays;
    let q = |p: f64| match d.quantile_ns(p, lost) {
        Some(ns) => format!("{:>8.1} ms", ms(ns)),
        None => format!("  > {} ms", LOST_AFTER.as_millis()),
    };
    println!();
    println!("Delay commit → delivery (per change and viewer; a fragment read at or after the commit)");
    println!(
        "  samples {} delivered + {lost} lost (> {} s or never) of {} expected",
        d.count(),
        LOST_AFTER.as_secs(),
        changes * reports.len() as u64
    );
    println!(
        "  p50 {}   p95 {}   p99 {}   max {:.1} ms   mean {:.1} ms",
        q(0.50),
        q(0.95),
        q(0.99),
        ms(d.max_ns()),
        ms(d.mean_ns())
    );
    let a = &shared.fragment_age;
    println!(
        "  of which board read → delivery, per fragment: p50 {:.1} ms   p99 {:.1} ms   max {:.1} ms",
        ms(a.quantile_ns(0.50, 0).unwrap_or(0)),
        ms(a.quantile_ns(0.99, 0).unwrap_or(0)),
        ms(a.max_ns())
    );
    if !renders.is_empty() {
        println!(
            "  render cost now (idle server, {} runs): board read p50 {:.2} ms, read + template p50 {:.2} ms, max {:.2} ms",
            renders.len(),
            percentile(&reads, 0.5).as_secs_f64() * 1e3,
            percentile(&renders, 0.5).as_secs_f64() * 1e3,
            renders.last().copied().unwrap_or_default().as_secs_f64() * 1e3
        );
    }

    println!();
    println!("Memory (VmRSS of this process: server, store, writer and viewers)");
    let line: Vec<String> = series.iter().map(|x| format!("{:.1}", mb(x.rss))).collect();
    println!("  MB every {} s: {}", SAMPLE_EVERY.as_secs(), line.join(" "));
    let first = series.first().map_or(0, |x| x.rss);
    let warm = series.iter().find(|x| x.at >= warmup_secs).or(series.last()).copied();
    let max = series.iter().map(|x| x.rss).max().unwrap_or(0);
    let last = series.last().copied();
    let flat = match (warm, last) {
        (Some(w), Some(l)) => {
            let (wt, wkb, lt, lkb) = (w.at, w.rss, l.at, l.rss);
            let limit = (wkb as f64 * RSS_FACTOR) as u64 + RSS_SLACK_KB;
            println!(
                "  start {:.1} MB; after warm-up (t={wt} s) {:.1} MB; max {:.1} MB; last (t={lt} s) {:.1} MB",
                mb(first),
                mb(wkb),
                mb(max),
                mb(lkb)
            );
            println!(
                "  growth t={wt} s → t={lt} s: {:+.1} MB ({:+.1}%); flat rule: last ≤ after-warm-up × {RSS_FACTOR} + {} MB = {:.1} MB",
                (lkb as f64 - wkb as f64) / 1024.0,
                (lkb as f64 / wkb.max(1) as f64 - 1.0) * 100.0,
                RSS_SLACK_KB / 1024,
                mb(limit)
            );
            let grown = |a: u64, b: u64| (b as f64 - a as f64) / 1024.0;
            println!(
                "  of which anonymous {:+.1} MB ({:.1} → {:.1}), file-backed {:+.1} MB; database files {:.1} → {:.1} MB ({:+.1} MB)",
                grown(w.anon, l.anon),
                mb(w.anon),
                mb(l.anon),
                grown(w.file, l.file),
                w.db as f64 / 1048576.0,
                l.db as f64 / 1048576.0,
                (l.db as f64 - w.db as f64) / 1048576.0
            );
            println!(
                "  (SQLite's page cache is up to 64 MiB per connection, filled as pages are touched: a store that starts empty grows with its database)"
            );
            Some((lkb, limit))
        }
        _ => None,
    };

    println!();
    println!(
        "Server shutdown: serve() {server_stopped}; run + drain + shutdown took {:.1} s (bound {} s)",
        total.as_secs_f64(),
        secs + 10
    );

    println!();
    println!("Targets ({viewers} viewers, {achieved:.1} changes/s, {secs} s)");
    let p99 = d.quantile_ns(0.99, lost);
    println!(
        "  delay p99                 {}   target < {TARGET_P99_MS} ms   {}",
        match p99 {
            Some(ns) => format!("{:>8.1} ms", ms(ns)),
            None => format!("  > {} ms", LOST_AFTER.as_millis()),
        },
        verdict(p99.is_some_and(|ns| ms(ns) < TARGET_P99_MS))
    );
    match flat {
        Some((lkb, limit)) => println!(
            "  RSS flat                  {:>8.1} MB   target ≤ {:.1} MB   {}",
            mb(lkb),
            mb(limit),
            verdict(lkb <= limit)
        ),
        None => println!("  RSS flat                  no samples   FAIL"),
    }
    if secs < 600 {
        println!("  (a {secs} s run: the requirement is 10 minutes, HAVEN_BENCH_SECS=600)");
    }

    store.close().await;
    Ok(())
}
