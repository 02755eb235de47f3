//! Check-in and search at scale, on a SQLite store (WAL, `synchronous=FULL`,
//! the store's own settings) in a temporary directory.
//!
//! ```text
//! cargo bench -p haven --bench checkin                          # 1,000,000 visits
//! HAVEN_BENCH_VISITS=20000 cargo bench -p haven --bench checkin # quick smoke run
//! ```
//!
//! Prints figures next to their targets (check-in p99 < 20 ms; app check-in
//! rate ≥ half the raw INSERT rate; search p99 < 10 ms) with PASS/FAIL, and
//! exits 0 either way: the figures are for the report, not a gate.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use haven_app::{
    Ctx,
    auth::load_actor,
    demo::{self, Rng},
    system_ctx,
    visits::check_in,
};
use haven_domain::{
    codes::{CodeScheme, site_code},
    site::{SiteSettings, validate_site},
    visit::CheckInDraft,
};
use haven_store::{BulkClient, BulkVisit, Location, Store};

/// Visits per year of the demo site at scale 1 (`DemoShape::default()`).
const DEMO_VISITS_PER_YEAR: f64 = 11_348.0;
/// Check-ins per measured run.
const CHECKINS: usize = 2_000;
/// Concurrent tasks in the second check-in run.
const TASKS: usize = 4;
/// Unmeasured check-ins first (statement caches, page cache).
const WARMUP: usize = 20;
/// Rows for the raw INSERT floor.
const RAW_ROWS: usize = 2_000;
/// Clients at the search site.
const SEARCH_CLIENTS: u64 = 100_000;
/// Searches per run.
const SEARCHES: usize = 2_000;
/// Rows a search returns at most (the check-in form's list).
const SEARCH_LIMIT: i64 = 25;

const TARGET_CHECKIN_P99_MS: f64 = 20.0;
const TARGET_APP_VS_RAW: f64 = 0.5;
const TARGET_SEARCH_P99_MS: f64 = 10.0;

fn main() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    runtime.block_on(run())
}

/// Latency figures of one run.
struct Figures {
    n: usize,
    wall: Duration,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

impl Figures {
    fn of(mut latencies: Vec<Duration>, wall: Duration) -> Figures {
        latencies.sort_unstable();
        Figures {
            n: latencies.len(),
            wall,
            p50: percentile(&latencies, 0.50),
            p99: percentile(&latencies, 0.99),
            max: latencies.last().copied().unwrap_or_default(),
        }
    }

    fn per_second(&self) -> f64 {
        rate(self.n, self.wall)
    }

    fn print(&self, what: &str) {
        println!(
            "  {what:<34} n={:<6} p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms   {:>8.0}/s",
            self.n,
            ms(self.p50),
            ms(self.p99),
            ms(self.max),
            self.per_second()
        );
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

fn rate(n: usize, wall: Duration) -> f64 {
    n as f64 / wall.as_secs_f64().max(1e-9)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}

fn requested_visits() -> Result<u64> {
    match std::env::var("HAVEN_BENCH_VISITS") {
        Ok(v) => {
            let n: u64 = v
                .trim()
                .replace('_', "")
                .parse()
                .with_context(|| format!("HAVEN_BENCH_VISITS={v:?} is not a number"))?;
            anyhow::ensure!(n >= 1_000, "HAVEN_BENCH_VISITS must be at least 1000");
            Ok(n)
        }
        Err(_) => Ok(1_000_000),
    }
}

fn draft() -> CheckInDraft {
    CheckInDraft {
        substances: vec!["heroin".into(), "cocaine".into()],
        route: Some("injection".into()),
        otherwise_place: None,
        ..Default::default()
    }
}

/// `n` ids of random existing clients of a site whose codes run
/// `PREFIX-000001` ..= `PREFIX-{clients}`.
async fn random_client_ids(
    store: &Store,
    site_id: &str,
    prefix: &str,
    clients: u64,
    n: usize,
    rng: &mut Rng,
) -> Result<Vec<String>> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let code = site_code(prefix, rng.below(clients) + 1);
        let c = store
            .client_by_code(site_id, &code)
            .await
            .with_context(|| format!("client {code}"))?;
        ids.push(c.id);
    }
    Ok(ids)
}

fn raw_rows(client_ids: &[String]) -> Vec<BulkVisit> {
    let now = haven_domain::clock::truncate_micros(haven_domain::clock::now());
    client_ids
        .iter()
        .map(|cid| BulkVisit {
            id: haven_store::new_id(),
            client_id: cid.clone(),
            status: "attended",
            arrived_at: now,
            left_at: None,
            substances: r#"["heroin","cocaine"]"#.into(),
            route: Some("injection"),
            otherwise_place: None,
            refusal_reason: None,
        })
        .collect()
}

fn dir_size(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

async fn run() -> Result<()> {
    let visits = requested_visits()?;
    let scale = visits as f64 / DEMO_VISITS_PER_YEAR;
    let tmp = tempfile::tempdir().context("temporary directory")?;
    println!("Haven check-in benchmark");
    println!(
        "  store: SQLite in {} (WAL, synchronous=FULL: the store's settings)",
        tmp.path().display()
    );
    println!(
        "  cores: {}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let store = Store::open(&Location::SqliteDir(tmp.path().to_path_buf()))
        .await
        .context("opening the store")?;

    // 1. Load: the demo generator at GLA.
    println!();
    println!("1. Load: demo::generate(1 site, 1 year, scale {scale:.2}, seed 1), target {visits} visits");
    let t = Instant::now();
    let mut last_report = Instant::now();
    let summary = demo::generate(&store, 1, 1, scale, 1, &mut |done, total| {
        if last_report.elapsed() >= Duration::from_secs(10) {
            println!("  ... {done} / {total} visits");
            last_report = Instant::now();
        }
    })
    .await
    .context("generating demo data")?;
    let load = t.elapsed();
    let rows = summary.visits + summary.clients;
    println!(
        "  {} visits + {} clients in {:.1} s: {:.0} visits/s, {:.0} rows/s (target: 1M visits well under a minute)",
        summary.visits,
        summary.clients,
        load.as_secs_f64(),
        rate(summary.visits as usize, load),
        rate(rows as usize, load)
    );
    println!("  database files: {:.0} MB", dir_size(tmp.path()) as f64 / 1e6);

    let site = store.site_by_code("GLA").await.context("site GLA")?;
    let user = store.user_by_name("demo-worker").await.context("user demo-worker")?;
    let actor = load_actor(&store, &user.id)
        .await?
        .ok_or_else(|| anyhow!("demo-worker has no active account"))?;
    let ctx = Ctx {
        actor,
        request_id: "bench".into(),
    };
    let mut rng = Rng::new(42);
    let draft = draft();

    // 2. Check-in through the app layer.
    println!();
    println!(
        "2. Check-in through the app layer: haven_app::visits::check_in (authorise, validate, one transaction: visit + audit event)"
    );
    let warm = random_client_ids(&store, &site.id, &site.code, summary.clients, WARMUP, &mut rng).await?;
    for cid in &warm {
        check_in(&store, &ctx, cid, &draft, None).await?;
    }
    let ids = random_client_ids(&store, &site.id, &site.code, summary.clients, CHECKINS, &mut rng).await?;
    let mut lat = Vec::with_capacity(CHECKINS);
    let t = Instant::now();
    for cid in &ids {
        let t1 = Instant::now();
        check_in(&store, &ctx, cid, &draft, None).await?;
        lat.push(t1.elapsed());
    }
    let seq = Figures::of(lat, t.elapsed());
    seq.print("sequential (1 task)");

    let ids = random_client_ids(&store, &site.id, &site.code, summary.clients, CHECKINS, &mut rng).await?;
    let t = Instant::now();
    let mut handles = Vec::with_capacity(TASKS);
    for part in ids.chunks(CHECKINS.div_ceil(TASKS)) {
        let store = store.clone();
        let ctx = ctx.clone();
        let draft = draft.clone();
        let part = part.to_vec();
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(part.len());
            for cid in &part {
                let t1 = Instant::now();
                check_in(&store, &ctx, cid, &draft, None).await?;
                lat.push(t1.elapsed());
            }
            anyhow::Ok(lat)
        }));
    }
    let mut lat = Vec::with_capacity(CHECKINS);
    for h in handles {
        lat.extend(h.await.context("check-in task")??);
    }
    let conc = Figures::of(lat, t.elapsed());
    conc.print(&format!("concurrent ({TASKS} tasks)"));

    // 3. The floor: the same INSERTs without the app layer.
    println!();
    println!("3. Floor: single-row INSERT INTO visits without the app layer (no audit event, no reads)");
    let ids = random_client_ids(&store, &site.id, &site.code, summary.clients, RAW_ROWS, &mut rng).await?;
    let rows = raw_rows(&ids);
    let t = Instant::now();
    store
        .raw_insert_visits_one_tx(&site.id, &rows, &user.id)
        .await
        .context("raw inserts in one transaction")?;
    let raw_one_tx = t.elapsed();
    let raw_one_tx_rate = rate(RAW_ROWS, raw_one_tx);
    println!(
        "  {RAW_ROWS} inserts in ONE transaction:      {:>8.1} ms total   {raw_one_tx_rate:>8.0} rows/s",
        ms(raw_one_tx)
    );
    let rows = raw_rows(&ids);
    let mut lat = Vec::with_capacity(RAW_ROWS);
    let t = Instant::now();
    for r in &rows {
        let t1 = Instant::now();
        store
            .raw_insert_visits_one_tx(&site.id, std::slice::from_ref(r), &user.id)
            .await
            .context("raw insert in its own transaction")?;
        lat.push(t1.elapsed());
    }
    let raw_each = Figures::of(lat, t.elapsed());
    raw_each.print("each in its own tx (fsync each)");

    // 4. Search by code prefix.
    println!();
    println!(
        "4. Search: Store::search_clients(site, prefix, {SEARCH_LIMIT}) over {SEARCH_CLIENTS} clients at site BEN"
    );
    let sys = system_ctx("bench");
    let input = validate_site(
        "BEN",
        "Bench site",
        "Europe/London",
        "09:00",
        "21:00",
        CodeScheme::Site.as_str(),
    )?;
    let ben = store
        .create_site(&sys, &input, &SiteSettings::default().to_json())
        .await
        .context("creating site BEN")?;
    let aliases = ["Shug", "Tam", "Wee Jo", "Big Mo", "Rab", "Jinty", "Senga", "Boaby"];
    let now = haven_domain::clock::now();
    let clients: Vec<BulkClient> = (1..=SEARCH_CLIENTS)
        .map(|n| BulkClient {
            id: haven_store::new_id(),
            code: site_code("BEN", n),
            year_of_birth: 1970 + rng.below(30) as i32,
            gender: if rng.below(4) == 0 {
                "female".into()
            } else {
                "male".into()
            },
            home_area: "G1".into(),
            alias: (rng.below(4) == 0).then(|| rng.pick(&aliases).to_string()),
            registered_at: now,
        })
        .collect();
    let t = Instant::now();
    for chunk in clients.chunks(50_000) {
        store
            .bulk_insert_clients(&sys, &ben.id, chunk, &user.id, SEARCH_CLIENTS as i64 + 1)
            .await
            .context("inserting search clients")?;
    }
    println!(
        "  inserted {SEARCH_CLIENTS} clients in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    // Prefixes as typed at the desk: "BEN-01" .. "BEN-012345" (2 to 6 digits).
    let queries: Vec<String> = (0..SEARCHES)
        .map(|_| {
            let code = site_code("BEN", rng.below(SEARCH_CLIENTS) + 1);
            let digits = 2 + rng.below(5) as usize;
            code[..4 + digits].to_string()
        })
        .collect();
    for q in queries.iter().take(WARMUP) {
        store.search_clients(&ben.id, q, SEARCH_LIMIT).await?;
    }
    let mut lat = Vec::with_capacity(SEARCHES);
    let mut by_len: Vec<Vec<Duration>> = vec![Vec::new(); 7];
    let mut found = 0usize;
    let t = Instant::now();
    for q in &queries {
        let t1 = Instant::now();
        let hits = store.search_clients(&ben.id, q, SEARCH_LIMIT).await?;
        let d = t1.elapsed();
        anyhow::ensure!(!hits.is_empty(), "search {q:?} found nothing");
        found += hits.len();
        lat.push(d);
        by_len[q.len() - 4].push(d);
    }
    let search = Figures::of(lat, t.elapsed());
    search.print("all prefixes");
    for (digits, l) in by_len.into_iter().enumerate().filter(|(_, l)| !l.is_empty()) {
        let f = Figures::of(l, Duration::ZERO);
        println!(
            "    BEN-{:<8} n={:<5} p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms",
            "#".repeat(digits),
            f.n,
            ms(f.p50),
            ms(f.p99),
            ms(f.max)
        );
    }
    println!(
        "  ({:.1} rows returned per search on average)",
        found as f64 / SEARCHES as f64
    );

    // Summary against the targets.
    let app_rate = seq.per_second();
    let vs_one_tx = app_rate / raw_one_tx_rate;
    let vs_each = app_rate / raw_each.per_second();
    println!();
    println!("Targets ({} visits in the store)", summary.visits);
    println!(
        "  check-in p99 (sequential)   {:>8.2} ms   target < {TARGET_CHECKIN_P99_MS} ms   {}",
        ms(seq.p99),
        verdict(ms(seq.p99) < TARGET_CHECKIN_P99_MS)
    );
    println!(
        "  check-in p99 ({TASKS} tasks)      {:>8.2} ms   target < {TARGET_CHECKIN_P99_MS} ms   {}",
        ms(conc.p99),
        verdict(ms(conc.p99) < TARGET_CHECKIN_P99_MS)
    );
    println!(
        "  app vs raw, one tx          {:>8.0}/s vs {:>8.0}/s = {:>6.1}%   target >= {:.0}%   {}",
        app_rate,
        raw_one_tx_rate,
        vs_one_tx * 100.0,
        TARGET_APP_VS_RAW * 100.0,
        verdict(vs_one_tx >= TARGET_APP_VS_RAW)
    );
    println!(
        "  app vs raw, tx per row      {:>8.0}/s vs {:>8.0}/s = {:>6.1}%   target >= {:.0}%   {}",
        app_rate,
        raw_each.per_second(),
        vs_each * 100.0,
        TARGET_APP_VS_RAW * 100.0,
        verdict(vs_each >= TARGET_APP_VS_RAW)
    );
    println!(
        "  search p99                  {:>8.2} ms   target < {TARGET_SEARCH_P99_MS} ms   {}",
        ms(search.p99),
        verdict(ms(search.p99) < TARGET_SEARCH_P99_MS)
    );
    println!(
        "  load                        {:>8.1} s for {} visits ({:.0} visits/s)",
        load.as_secs_f64(),
        summary.visits,
        rate(summary.visits as usize, load)
    );
    println!(
        "  (the one-transaction floor shares one fsync among {RAW_ROWS} rows; a check-in commits, and so fsyncs, once per request)"
    );

    store.close().await;
    Ok(())
}
