//! The demo site: synthetic data shaped like the published first year of
//! Glasgow's Thistle (dcr-practice §8.1 [thistle-y1], [thistle-sl]): 8 booths,
//! open 09:00–21:00 every day, ~575 clients (448 men, 127 women), ~11,300
//! accesses of which ~7,800 injecting, substances cocaine, heroin or both.
//! Nothing here is real data; the generator is deterministic for a seed.

use haven_domain::{
    auth::Role,
    codes::{CodeScheme, site_code},
    site::{SiteSettings, validate_site},
};
use haven_store::{BulkClient, BulkVisit, Store, StoreError};
use time::Duration;

use crate::{AppError, AppResult, auth::hash_password, system_ctx};

/// Password of every demo account (printed at start; demo only).
pub const DEMO_PASSWORD: &str = "haven-demo";

/// Shape of one demo site-year.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DemoShape {
    /// New clients per year.
    pub clients_per_year: u32,
    /// Accesses (visits) per year.
    pub visits_per_year: u32,
    /// Share of visits that are injecting episodes (7,827 / 11,348).
    pub injecting_share: f64,
    /// Share of clients who are men (448 / 575).
    pub male_share: f64,
    /// Share of visits refused.
    pub refusal_share: f64,
}

impl Default for DemoShape {
    fn default() -> Self {
        Self {
            clients_per_year: 575,
            visits_per_year: 11_348,
            injecting_share: 7_827.0 / 11_348.0,
            male_share: 448.0 / 575.0,
            refusal_share: 0.01,
        }
    }
}

/// A small deterministic generator (SplitMix64): the demo must be
/// reproducible and needs no dependency for it.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
    /// One item of a slice.
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

const GLASGOW_DISTRICTS: [&str; 16] = [
    "G1", "G2", "G3", "G4", "G5", "G11", "G12", "G20", "G21", "G31", "G32", "G33", "G40", "G42", "G51", "G52",
];
const FAR_DISTRICTS: [&str; 6] = ["PA1", "ML1", "KA1", "EH1", "G66", "G72"];
const ALIASES: [&str; 12] = [
    "Shug", "Tam", "Wee Jo", "Big Mo", "Rab", "Jinty", "Senga", "Boaby", "Deek", "Ina", "Jakey", "Mags",
];

/// What was created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoSummary {
    /// Site codes created.
    pub sites: Vec<String>,
    /// Clients inserted.
    pub clients: u64,
    /// Visits inserted.
    pub visits: u64,
    /// Demo usernames (each with [`DEMO_PASSWORD`]).
    pub users: Vec<String>,
}

/// Progress callback: (visits written so far, total planned).
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

fn site_code_for(i: u32) -> String {
    if i == 0 { "GLA".into() } else { format!("DM{}", i + 1) }
}

/// Creates `sites` demo sites with `years` of history each, at `scale` times
/// the Glasgow volume, plus one demo account per role (at the first site).
pub async fn generate(
    store: &Store,
    sites: u32,
    years: u32,
    scale: f64,
    seed: u64,
    progress: Progress<'_>,
) -> AppResult<DemoSummary> {
    let shape = DemoShape::default();
    let mut rng = Rng::new(seed);
    let ctx = system_ctx("demo");
    let now = haven_domain::clock::now();
    let per_site_visits = (f64::from(shape.visits_per_year) * f64::from(years) * scale).round() as u64;
    let total = per_site_visits * u64::from(sites);
    let mut summary = DemoSummary::default();
    let mut written = 0u64;
    let mut first_user: Option<String> = None;
    for i in 0..sites {
        let code = site_code_for(i);
        let name = if i == 0 {
            "Glasgow demo (Hunter Street)".to_string()
        } else {
            format!("Demo site {}", i + 1)
        };
        let input = validate_site(
            &code,
            &name,
            "Europe/London",
            "09:00",
            "21:00",
            CodeScheme::Site.as_str(),
        )?;
        let site = match store
            .create_site(&ctx, &input, &SiteSettings::default().to_json())
            .await
        {
            Ok(s) => s,
            Err(StoreError::Conflict(_)) => {
                return Err(AppError::Conflict(format!(
                    "site {code} exists already: demo data goes into an empty database"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        // dcr-practice §1.2: 8 booths, 2 of them wheelchair-accessible.
        for b in 1..=8 {
            store
                .add_space(&ctx, &site.id, &format!("Booth {b}"), "injecting", b <= 2)
                .await?;
        }
        if i == 0 {
            let hash = hash_password(DEMO_PASSWORD)?;
            for role in Role::ALL {
                let username = format!("demo-{}", role.as_str());
                let id = store
                    .create_user(
                        &ctx,
                        &username,
                        &format!("Demo {}", role.as_str()),
                        &hash,
                        Some((&site.id, role.as_str())),
                    )
                    .await?;
                if role == Role::Worker {
                    first_user = Some(id);
                }
                summary.users.push(username);
            }
        } else if let Some(u) = &first_user {
            store.set_role(&ctx, u, &site.id, Role::Worker.as_str()).await?;
        }
        let created_by = first_user
            .clone()
            .ok_or_else(|| AppError::Internal("no demo user".into()))?;

        // Clients: registered through the period, more in the first weeks.
        let start = now - Duration::days(i64::from(years) * 365);
        let n_clients = ((f64::from(shape.clients_per_year) * f64::from(years) * scale).round() as u64).max(1);
        let mut clients = Vec::with_capacity(n_clients as usize);
        for c in 0..n_clients {
            let u = rng.f64();
            let offset_days = (u * u * f64::from(years) * 365.0) as i64;
            let area = match rng.below(100) {
                0..=14 => "no_fixed_abode".to_string(),
                15..=19 => "unknown".to_string(),
                20..=27 => rng.pick(&FAR_DISTRICTS).to_string(),
                _ => rng.pick(&GLASGOW_DISTRICTS).to_string(),
            };
            clients.push(BulkClient {
                id: haven_store::new_id(),
                code: site_code(&code, c + 1),
                year_of_birth: 1970 + rng.below(30) as i32,
                gender: if rng.f64() < shape.male_share {
                    "male".into()
                } else {
                    "female".into()
                },
                home_area: area,
                alias: (rng.below(4) == 0).then(|| rng.pick(&ALIASES).to_string()),
                registered_at: start
                    + Duration::days(offset_days)
                    + Duration::hours(9)
                    + Duration::minutes(rng.below(600) as i64),
            });
        }
        for chunk in clients.chunks(50_000) {
            store
                .bulk_insert_clients(&ctx, &site.id, chunk, &created_by, n_clients as i64 + 1)
                .await?;
        }
        // Heavy-tailed attendance: a few clients come most days (dcr-practice §8.1, range 1–335).
        let weights: Vec<f64> = (0..clients.len()).map(|_| 1.0 / (rng.f64() + 0.02).powf(1.5)).collect();
        let mut cumulative = Vec::with_capacity(weights.len());
        let mut acc = 0.0;
        for w in &weights {
            acc += w;
            cumulative.push(acc);
        }
        let mut batch = Vec::with_capacity(20_000);
        for _ in 0..per_site_visits {
            let target = rng.f64() * acc;
            let idx = cumulative.partition_point(|c| *c < target).min(clients.len() - 1);
            let client = &clients[idx];
            let span = (now - client.registered_at).whole_minutes().max(1);
            // Opening hours 09:00–21:00 local; approximated in UTC+0/+1 by 08:00–20:00 UTC.
            let day = (rng.below(span as u64) / 1440) as i64;
            let mut arrived = client.registered_at.replace_time(time::Time::MIDNIGHT)
                + Duration::days(day)
                + Duration::hours(8)
                + Duration::minutes(rng.below(11 * 60) as i64);
            if arrived > now - Duration::minutes(90) {
                arrived = now - Duration::minutes(90 + rng.below(600) as i64);
            }
            let arrived = haven_domain::clock::truncate_micros(arrived);
            let roll = rng.f64();
            let v = if roll < shape.refusal_share {
                BulkVisit {
                    id: haven_store::new_id(),
                    client_id: client.id.clone(),
                    status: "refused",
                    arrived_at: arrived,
                    left_at: None,
                    substances: "[]".into(),
                    route: None,
                    otherwise_place: None,
                    refusal_reason: Some(*rng.pick(&["intoxicated", "behaviour", "full"])),
                }
            } else {
                let injecting = roll < shape.refusal_share + shape.injecting_share;
                // Substance mix: cocaine most often, then heroin + cocaine, then heroin [U: shares].
                let subs = match rng.below(100) {
                    0..=49 => r#"["cocaine"]"#,
                    50..=79 => r#"["heroin","cocaine"]"#,
                    _ => r#"["heroin"]"#,
                };
                BulkVisit {
                    id: haven_store::new_id(),
                    client_id: client.id.clone(),
                    status: "attended",
                    arrived_at: arrived,
                    left_at: Some(arrived + Duration::minutes(15 + rng.below(60) as i64)),
                    substances: if injecting { subs.into() } else { "[]".into() },
                    route: injecting.then_some("injection"),
                    otherwise_place: injecting
                        .then(|| *rng.pick(&["public", "public", "semi_public", "private", "declined"])),
                    refusal_reason: None,
                }
            };
            batch.push(v);
            if batch.len() == batch.capacity() {
                // In time order, so the (site, arrival) index grows at its end.
                batch.sort_by_key(|v| v.arrived_at);
                store.bulk_insert_visits(&ctx, &site.id, &batch, &created_by).await?;
                written += batch.len() as u64;
                batch.clear();
                progress(written, total);
            }
        }
        if !batch.is_empty() {
            store.bulk_insert_visits(&ctx, &site.id, &batch, &created_by).await?;
            written += batch.len() as u64;
            progress(written, total);
        }
        summary.sites.push(code);
        summary.clients += n_clients;
    }
    summary.visits = written;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic_and_uniform_enough() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<f64> = (0..10_000).map(|_| a.f64()).collect();
        assert_eq!(xs[..5], (0..5).map(|_| b.f64()).collect::<Vec<_>>()[..]);
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "mean {mean}");
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
    }

    #[test]
    fn default_shape_matches_thistle_year_one() {
        let s = DemoShape::default();
        assert_eq!(s.clients_per_year, 575);
        assert!((s.injecting_share * 11_348.0 - 7_827.0).abs() < 1.0);
    }
}
