//! The demo site: synthetic data shaped like the published first year of
//! Glasgow's Thistle (dcr-practice §8.1 \[thistle-y1\], \[thistle-sl\]): 8 booths,
//! open 09:00–21:00 every day, ~575 clients (448 men, 127 women), ~11,300
//! accesses of which ~7,800 injecting, substances cocaine, heroin or both.
//! Every injecting visit has a booth episode with observation checks, about
//! half go on to after-care, and medical emergencies happen at Thistle's rate
//! with timelines shaped by the published responses (dcr-practice §7, §8.1,
//! §8.2). The first site also gets a live floor (people in booths, one
//! waiting, one in after-care) so the board is not empty.
//! Nothing here is real data; the generator is deterministic for a seed
//! (record ids are UUIDv7 and so differ between runs).

use haven_domain::{
    auth::Role,
    codes::{CodeScheme, site_code},
    emergency::{EntryData, NaloxoneRoute, Vitals},
    site::{SiteSettings, validate_site},
};
use haven_store::{
    AuditCtx, BulkAftercare, BulkCheck, BulkClient, BulkEmergency, BulkEmergencyEntry, BulkEpisode, BulkHandoverNote,
    BulkVisit, NewCheckRecord, NewEpisodeRecord, NewVisitRecord, Store, StoreError, new_id,
};
use time::{Duration, OffsetDateTime};

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
    /// Medical emergencies per injection: Thistle year 1, 93 per 7,827
    /// injections = 11.9 per 1,000 (dcr-practice §8.1 \[thistle-y1\]).
    pub emergencies_per_injection: f64,
    /// Share of emergencies given naloxone: national Canadian SCS totals,
    /// about 26% of overdoses required naloxone (dcr-practice §8.2 \[hc-dash\]).
    pub naloxone_share: f64,
    /// Share of emergencies with bag-valve-mask ventilation, the severity
    /// marker of dcr-practice §7.1–7.2 \[sc-nurse\] \[U: share is a default\].
    pub bvm_share: f64,
    /// Share of emergencies with an ambulance called: Thistle, first 9
    /// months, 12 of 60 (dcr-practice §7.2 \[thistle-9m\]).
    pub ambulance_share: f64,
    /// Share of emergencies transferred to hospital: 8 of 60 (dcr-practice
    /// §7.2 \[thistle-9m\]).
    pub transfer_share: f64,
    /// Share of episodes followed by an after-care stay \[U\].
    pub aftercare_share: f64,
}

impl Default for DemoShape {
    fn default() -> Self {
        Self {
            clients_per_year: 575,
            visits_per_year: 11_348,
            injecting_share: 7_827.0 / 11_348.0,
            male_share: 448.0 / 575.0,
            refusal_share: 0.01,
            emergencies_per_injection: 93.0 / 7_827.0,
            naloxone_share: 0.26,
            bvm_share: 0.10,
            ambulance_share: 12.0 / 60.0,
            transfer_share: 8.0 / 60.0,
            aftercare_share: 0.5,
        }
    }
}

/// 09:00 local time on the site's local day of `t` (UTC midnight + 9 h if
/// the time zone is unknown).
fn local_opening(tz: &str, t: OffsetDateTime) -> OffsetDateTime {
    haven_domain::clock::local_date(tz, t)
        .and_then(|d| haven_domain::clock::local_day_bounds(tz, d))
        .map_or_else(|| t.replace_time(time::Time::MIDNIGHT), |(start, _)| start)
        + Duration::hours(9)
}

/// Every client's stays so far, by client and UTC day, so that a new
/// arrival is checked only against the stays of its own and adjacent days.
#[derive(Debug, Default)]
struct Stays(std::collections::HashMap<(usize, time::Date), Vec<(OffsetDateTime, OffsetDateTime)>>);

impl Stays {
    fn push(&mut self, client: usize, stay: (OffsetDateTime, OffsetDateTime)) {
        self.0.entry((client, stay.0.date())).or_default().push(stay);
    }

    /// A stay of `client` that an arrival at `t` (staying up to
    /// [`FloorGen::MAX_STAY`]) would come within `gap` of.
    fn clash(&self, client: usize, t: OffsetDateTime, gap: Duration) -> Option<(OffsetDateTime, OffsetDateTime)> {
        [-1i64, 0, 1].into_iter().find_map(|d| {
            self.0
                .get(&(client, t.date() + Duration::days(d)))?
                .iter()
                .copied()
                .find(|(s, e)| t < *e + gap && t + FloorGen::MAX_STAY + gap > *s)
        })
    }
}

/// An arrival near `t` whose longest possible stay ([`FloorGen::MAX_STAY`])
/// clears the client's other stays by 10 minutes, within opening hours
/// (arrivals 09:00–20:00 local) and within `[earliest, latest]`: first later
/// on the same day, then earlier, then on the nearest other day; `None` when
/// two months around `t` are full. Uses no randomness, so the demo's random
/// stream does not change.
fn free_slot(
    stays: &Stays,
    client: usize,
    tz: &str,
    t: OffsetDateTime,
    earliest: OffsetDateTime,
    latest: OffsetDateTime,
) -> Option<OffsetDateTime> {
    let gap = Duration::minutes(10);
    if t >= earliest && t <= latest && stays.clash(client, t, gap).is_none() {
        return Some(t);
    }
    for k in 0..60i64 {
        // 0, +1, −1, +2, −2 … days.
        let shift = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        let base = t + Duration::days(shift);
        let open = local_opening(tz, base);
        let (first, last) = (open.max(earliest), (open + Duration::hours(11)).min(latest));
        if first > last {
            continue;
        }
        let base = base.clamp(first, last);
        let mut later = base;
        while let Some((_, e)) = stays.clash(client, later, gap) {
            later = e + gap;
        }
        if later <= last {
            return Some(later);
        }
        let mut earlier = base;
        while let Some((s, _)) = stays.clash(client, earlier, gap) {
            earlier = s - FloorGen::MAX_STAY - gap;
        }
        if earlier >= first {
            return Some(earlier);
        }
    }
    None
}

/// One naloxone dose as the demo gives it: the default one-tap dose of the
/// route (0.4 mg IM, 1.8 mg IN; see `NaloxoneDoses`).
fn demo_dose_mg(route: NaloxoneRoute) -> f64 {
    haven_domain::emergency::NaloxoneDoses::default()
        .mg(route)
        .unwrap_or(0.4)
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
    /// Booth episodes inserted (all ended but the live ones at the first site).
    pub episodes: u64,
    /// Observation checks inserted.
    pub checks: u64,
    /// After-care stays inserted.
    pub aftercare: u64,
    /// Medical emergencies inserted (all closed).
    pub emergencies: u64,
    /// Services given at visits.
    pub services: u64,
    /// Referrals made.
    pub referrals: u64,
    /// Drug-checking samples.
    pub samples: u64,
    /// Demo usernames (each with [`DEMO_PASSWORD`]).
    pub users: Vec<String>,
}

/// Progress callback: (visits written so far, total planned).
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

fn site_code_for(i: u32) -> String {
    if i == 0 { "GLA".into() } else { format!("DM{}", i + 1) }
}

/// Fictional staff names for emergency records (demo only).
const STAFF_NAMES: [&str; 10] = [
    "Aileen M.",
    "Craig D.",
    "Fiona R.",
    "Iain S.",
    "Kirsty B.",
    "Morag T.",
    "Ross K.",
    "Shona W.",
    "Stuart L.",
    "Eilidh C.",
];
const DEBRIEF_CODAS: [&str; 4] = [
    "",
    " Response went well.",
    " Oxygen cylinder swapped afterwards.",
    " Team debriefed at the end of the shift.",
];
const AFTERCARE_NOTES: [&str; 6] = [
    "Tea and a chat; left well.",
    "Settled, talking, walking steadily on leaving.",
    "Wound dressing checked; left well.",
    "Chatted with the support worker about housing; left well.",
    "Quiet, alert; left with a friend.",
    "",
];

/// A booth of a demo site.
#[derive(Debug, Clone)]
struct DemoSpace {
    id: String,
    label: String,
}

/// Users recorded on floor rows (user ids).
#[derive(Debug, Clone)]
struct Staff {
    worker: String,
    nurse: String,
}

/// Floor rows for one batch of visits.
#[derive(Debug, Default)]
struct FloorRows {
    episodes: Vec<BulkEpisode>,
    checks: Vec<BulkCheck>,
    aftercare: Vec<BulkAftercare>,
    emergencies: Vec<BulkEmergency>,
    entries: Vec<BulkEmergencyEntry>,
}

impl FloorRows {
    fn clear(&mut self) {
        self.episodes.clear();
        self.checks.clear();
        self.aftercare.clear();
        self.emergencies.clear();
        self.entries.clear();
    }
}

/// Systematic sampling with a random start: over `n` items offered, exactly
/// ⌊share·n + offset⌋ are taken (when enough are eligible), so the demo's
/// shares match the cited figures instead of drifting with the seed. The
/// items arrive in random time order, so which ones are taken is random in
/// time. An ineligible item that was due passes its turn to the next
/// eligible one.
#[derive(Debug, Clone)]
struct Quota {
    share: f64,
    offset: f64,
    seen: u64,
    taken: u64,
}

impl Quota {
    fn new(share: f64, rng: &mut Rng) -> Self {
        Self {
            share,
            offset: rng.f64(),
            seen: 0,
            taken: 0,
        }
    }

    fn take(&mut self, eligible: bool) -> bool {
        self.seen += 1;
        let due = (self.share * self.seen as f64 + self.offset).floor() as u64;
        if eligible && self.taken < due {
            self.taken += 1;
            true
        } else {
            false
        }
    }
}

fn mins(rng: &mut Rng, lo: u64, hi: u64) -> Duration {
    Duration::minutes((lo + rng.below(hi - lo + 1)) as i64)
}

fn secs(rng: &mut Rng, lo: u64, hi: u64) -> Duration {
    Duration::seconds((lo + rng.below(hi - lo + 1)) as i64)
}

fn in_range(rng: &mut Rng, lo: u16, hi: u16) -> u16 {
    lo + rng.below(u64::from(hi - lo) + 1) as u16
}

/// What an emergency leaves for the rest of the visit.
struct EmergencyEnd {
    episode_end: OffsetDateTime,
    /// After-care stay, when not transferred.
    aftercare: Option<Duration>,
    /// Departure with the ambulance crew.
    left: Option<OffsetDateTime>,
}

/// Generates the floor history of one site: episodes, checks, after-care,
/// emergencies. Quotas run over the whole site history.
struct FloorGen<'a> {
    shape: DemoShape,
    spaces: &'a [DemoSpace],
    staff: &'a Staff,
    emergency: Quota,
    naloxone: Quota,
    bvm: Quota,
    ambulance: Quota,
    transfer: Quota,
}

impl<'a> FloorGen<'a> {
    fn new(shape: DemoShape, spaces: &'a [DemoSpace], staff: &'a Staff, rng: &mut Rng) -> Self {
        Self {
            shape,
            spaces,
            staff,
            emergency: Quota::new(shape.emergencies_per_injection, rng),
            naloxone: Quota::new(shape.naloxone_share, rng),
            bvm: Quota::new(shape.bvm_share, rng),
            ambulance: Quota::new(shape.ambulance_share, rng),
            transfer: Quota::new(shape.transfer_share, rng),
        }
    }

    /// The longest stay this generator makes, arrival to departure (an
    /// emergency observed in after-care after naloxone): historic arrivals
    /// lie further back than this so that nothing ends in the future.
    const MAX_STAY: Duration = Duration::minutes(160);

    /// Adds the episode (and after-care, emergency) of an injecting visit
    /// and sets its departure so that arrival < start < end < departure.
    fn injecting_visit(&mut self, rng: &mut Rng, v: &mut BulkVisit, out: &mut FloorRows) -> AppResult<()> {
        let opioid = v.substances.contains("heroin");
        let space = rng.pick(self.spaces);
        let episode_id = new_id();
        // Into a booth 2–15 min after arrival; 15–35 min in the booth
        // (dcr-practice §1.1 step 5: Insite average 20 min [insite-fact],
        // MSIC ~30 min [msic-6m]).
        let start = v.arrived_at + mins(rng, 2, 15);
        let mut end = start + mins(rng, 15, 35);
        let mut aftercare = None;
        let mut left = None;
        let mut observation = *rng.pick(&AFTERCARE_NOTES);
        if self.emergency.take(true) {
            let t0 = start + mins(rng, 3, 12);
            let n = 1 + rng.below(2) as i64;
            self.checks(rng, &episode_id, start, t0, n, opioid, out);
            let e = self.emergency(rng, v, &episode_id, space, t0, opioid, out)?;
            end = e.episode_end;
            aftercare = e.aftercare;
            left = e.left;
            observation = "Observed after the emergency; alert, walking and talking on leaving.";
        } else {
            let n = 1 + rng.below(4) as i64;
            self.checks(rng, &episode_id, start, end, n, opioid, out);
            if rng.f64() < self.shape.aftercare_share {
                aftercare = Some(mins(rng, 10, 40));
            }
        }
        out.episodes.push(BulkEpisode {
            id: episode_id,
            visit_id: v.id.clone(),
            client_id: v.client_id.clone(),
            space_id: space.id.clone(),
            substances: v.substances.clone(),
            route: "injection",
            started_at: start,
            started_by: self.staff.worker.clone(),
            ended_at: end,
            ended_by: self.staff.worker.clone(),
            equipment_left: rng.below(100) < 4,
        });
        let left_at = match (left, aftercare) {
            (Some(l), _) => l,
            (None, Some(stay)) => {
                let entered = end + mins(rng, 0, 2);
                let out_at = entered + stay;
                out.aftercare.push(BulkAftercare {
                    id: new_id(),
                    visit_id: v.id.clone(),
                    entered_at: entered,
                    entered_by: self.staff.worker.clone(),
                    left_at: out_at,
                    left_by: self.staff.worker.clone(),
                    observation: observation.to_string(),
                });
                out_at + mins(rng, 1, 3)
            }
            (None, None) => end + mins(rng, 1, 5),
        };
        v.left_at = Some(left_at);
        Ok(())
    }

    /// `n` checks spread evenly through (from, to): mostly responsive, some
    /// drowsy (more often after opioids) \[U: shares\].
    #[allow(clippy::too_many_arguments)]
    fn checks(
        &self,
        rng: &mut Rng,
        episode_id: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
        n: i64,
        opioid: bool,
        out: &mut FloorRows,
    ) {
        let span = (to - from).whole_seconds();
        for k in 1..=n {
            let at = from + Duration::seconds(span * k / (n + 1)) + secs(rng, 0, 40) - Duration::seconds(20);
            let drowsy = rng.f64() < if opioid { 0.15 } else { 0.04 };
            let (status, resp_rate, spo2, sedation) = if drowsy {
                (
                    "drowsy",
                    Some(i32::from(in_range(rng, 10, 14))),
                    Some(i32::from(in_range(rng, 92, 97))),
                    Some(i32::from(in_range(rng, 1, 2))),
                )
            } else if rng.below(10) < 3 {
                (
                    "responsive",
                    Some(i32::from(in_range(rng, 12, 20))),
                    Some(i32::from(in_range(rng, 95, 99))),
                    Some(0),
                )
            } else {
                ("responsive", None, None, None)
            };
            out.checks.push(BulkCheck {
                id: new_id(),
                episode_id: episode_id.to_string(),
                at,
                status,
                resp_rate,
                spo2,
                sedation,
                recorded_by: if rng.below(10) < 3 {
                    self.staff.nurse.clone()
                } else {
                    self.staff.worker.clone()
                },
            });
        }
    }

    /// An emergency recognised at `t0` in the booth, with its timeline,
    /// closed with an outcome.
    #[allow(clippy::too_many_arguments)]
    fn emergency(
        &mut self,
        rng: &mut Rng,
        v: &BulkVisit,
        episode_id: &str,
        space: &DemoSpace,
        t0: OffsetDateTime,
        opioid: bool,
        out: &mut FloorRows,
    ) -> AppResult<EmergencyEnd> {
        // Every quota sees every emergency, so each share is over all of them.
        // Naloxone and rescue breathing only for opioids (dcr-practice §7.2:
        // MSIC managed most heroin overdoses with oxygen, naloxone in 8 of 50).
        let naloxone = self.naloxone.take(opioid);
        let bvm_candidate = opioid && (naloxone || rng.below(5) == 0);
        let bvm = self.bvm.take(bvm_candidate);
        let doses = if naloxone {
            1 + u32::from(rng.below(100) < 35)
        } else {
            0
        };
        let mut tl: Vec<(OffsetDateTime, EntryData)> = vec![(t0, EntryData::Recognition)];
        let mut t = t0;
        // Signs (dcr-practice §7.1 [od-form]; stimulant signs per the domain list).
        let pool: &[&str] = if opioid {
            &["unresponsive", "slow_breathing", "snoring"]
        } else {
            &["agitation", "chest_pain", "seizure", "hyperthermia", "vomiting"]
        };
        let first = *rng.pick(pool);
        let mut signs = vec![first];
        if rng.below(2) == 0 {
            let second = if opioid {
                *rng.pick(&["pinpoint_pupils", "cyanosis"])
            } else {
                *rng.pick(pool)
            };
            if second != first {
                signs.push(second);
            }
        }
        for s in &signs {
            t += secs(rng, 10, 40);
            tl.push((t, EntryData::Sign { sign: (*s).to_string() }));
        }
        let serious_stimulant = !opioid && signs.iter().any(|s| matches!(*s, "seizure" | "chest_pain"));
        let ambulance = self
            .ambulance
            .take(bvm || doses == 2 || serious_stimulant || rng.below(100) < 15);
        let transfer = self.transfer.take(ambulance);
        if opioid {
            t += secs(rng, 10, 40);
            tl.push((t, EntryData::Stimulation));
            // Low respiratory rate and saturation: RR < 12 is the best
            // predictor of opioid overdose, hypoxia SaO2 < 90% (§7.1 [od-form]).
            let (rr, spo2) = if bvm {
                (in_range(rng, 0, 4), in_range(rng, 65, 79))
            } else {
                (in_range(rng, 3, 9), in_range(rng, 75, 89))
            };
            // The booth check that found the person.
            out.checks.push(BulkCheck {
                id: new_id(),
                episode_id: episode_id.to_string(),
                at: t0,
                status: "unresponsive",
                resp_rate: Some(i32::from(rr)),
                spo2: Some(i32::from(spo2)),
                sedation: Some(3),
                recorded_by: self.staff.worker.clone(),
            });
            t += secs(rng, 20, 60);
            tl.push((
                t,
                EntryData::Vitals(Vitals {
                    resp_rate: Some(rr),
                    spo2: Some(spo2),
                    pulse: Some(in_range(rng, 50, 89)),
                    gcs: Some(in_range(rng, 3, 8)),
                    sedation: Some(3),
                }),
            ));
        } else {
            if signs.contains(&"seizure") {
                t += secs(rng, 10, 40);
                tl.push((t, EntryData::RecoveryPosition));
            }
            t += secs(rng, 20, 60);
            tl.push((
                t,
                EntryData::Vitals(Vitals {
                    resp_rate: Some(in_range(rng, 18, 28)),
                    spo2: Some(in_range(rng, 93, 99)),
                    pulse: Some(in_range(rng, 110, 159)),
                    ..Vitals::default()
                }),
            ));
        }
        // Oxygen in most events (§8.2: "most events are managed with oxygen,
        // with or without naloxone") [U: shares].
        let oxygen = naloxone || bvm || rng.below(100) < if opioid { 90 } else { 60 };
        if oxygen {
            let flow = if bvm {
                15.0
            } else if opioid {
                *rng.pick(&[6.0, 10.0, 15.0])
            } else {
                *rng.pick(&[2.0, 4.0])
            };
            t += secs(rng, 20, 60);
            tl.push((t, EntryData::Oxygen { flow_l_min: flow }));
        }
        if bvm {
            t += secs(rng, 10, 40);
            tl.push((t, EntryData::BagValveMask));
        }
        let mut total_mg = 0.0;
        for dose in 0..doses {
            // Each dose its own entry; repeat after 2–3 min without response
            // (dcr-practice §7.2 [od-or]). Route IM or IN [U: 70/30].
            t += if dose == 0 {
                secs(rng, 30, 90)
            } else {
                secs(rng, 120, 180)
            };
            let route = if rng.below(10) < 7 {
                NaloxoneRoute::Im
            } else {
                NaloxoneRoute::In
            };
            tl.push((
                t,
                EntryData::Naloxone {
                    dose_mg: demo_dose_mg(route),
                    route,
                },
            ));
            total_mg += demo_dose_mg(route);
        }
        let mut transfer_at = None;
        if ambulance {
            // Ambulance times [U].
            let called = t0 + mins(rng, 2, 6);
            let arrived = called + mins(rng, 8, 20);
            tl.push((called, EntryData::AmbulanceCalled));
            tl.push((arrived, EntryData::AmbulanceArrived));
            if transfer {
                let at = arrived + mins(rng, 5, 15);
                tl.push((arrived + mins(rng, 1, 3), self.recovery_vitals(rng, opioid, true)));
                tl.push((at, EntryData::Transfer));
                transfer_at = Some(at);
            } else {
                tl.push((
                    arrived + mins(rng, 5, 12),
                    EntryData::Note {
                        text: "Assessed by paramedics; declined transfer to hospital. Observed in after-care.".into(),
                    },
                ));
            }
        }
        if transfer_at.is_none() {
            t += mins(rng, 3, 8);
            tl.push((t, self.recovery_vitals(rng, opioid, false)));
        }
        // Staff record afterwards (§7.3): in time order, one second apart at least.
        tl.sort_by_key(|(at, _)| *at);
        for i in 1..tl.len() {
            if tl[i].0 <= tl[i - 1].0 {
                tl[i].0 = tl[i - 1].0 + Duration::seconds(1);
            }
        }
        let last = tl.last().map_or(t0, |(at, _)| *at);
        let id = new_id();
        for (at, data) in &tl {
            out.entries.push(BulkEmergencyEntry {
                id: new_id(),
                emergency_id: id.clone(),
                at: *at,
                kind: data.kind(),
                data: serde_json::to_string(data).map_err(|e| AppError::Internal(e.to_string()))?,
                recorded_by: self.staff.nurse.clone(),
                recorded_at: *at + Duration::minutes(1),
            });
        }
        let outcome = match (ambulance, transfer) {
            (_, true) => "transferred",
            (true, false) => "refused_transfer",
            (false, false) => "recovered_on_site",
        };
        let mut debrief = if opioid {
            format!("Opioid overdose in {}, found on the booth check.", space.label)
        } else {
            format!("Stimulant toxicity in {} after cocaine.", space.label)
        };
        if bvm {
            debrief.push_str(" Rescue breaths with bag-valve-mask until breathing recovered.");
        }
        if doses > 0 {
            debrief.push_str(&format!(" Naloxone × {doses}, {total_mg:.1} mg in all."));
        }
        if oxygen {
            debrief.push_str(" Oxygen given.");
        }
        debrief.push_str(match outcome {
            "transferred" => " Ambulance called; transferred to hospital.",
            "refused_transfer" => " Ambulance called; declined transfer, observed in after-care.",
            _ => " Recovered on site; observed in after-care.",
        });
        let coda = rng.pick(&DEBRIEF_CODAS);
        debrief.push_str(coda);
        let a = rng.below(STAFF_NAMES.len() as u64) as usize;
        let b = (a + 1 + rng.below(STAFF_NAMES.len() as u64 - 1) as usize) % STAFF_NAMES.len();
        let staff =
            serde_json::to_string(&[STAFF_NAMES[a], STAFF_NAMES[b]]).map_err(|e| AppError::Internal(e.to_string()))?;
        out.emergencies.push(BulkEmergency {
            id,
            visit_id: Some(v.id.clone()),
            episode_id: Some(episode_id.to_string()),
            space_id: Some(space.id.clone()),
            client_id: Some(v.client_id.clone()),
            location: "space",
            location_detail: space.label.clone(),
            person_description: String::new(),
            substances: v.substances.clone(),
            started_at: t0,
            opened_by: self.staff.nurse.clone(),
            closed_at: last + mins(rng, 5, 20),
            closed_by: self.staff.nurse.clone(),
            outcome,
            debrief,
            staff_involved: staff,
        });
        Ok(match transfer_at {
            // Leaves the booth with the crew.
            Some(at) => EmergencyEnd {
                episode_end: at,
                aftercare: None,
                left: Some(at + Duration::minutes(1)),
            },
            // Naloxone wears off in 30–90 min, so observe after reversal
            // (dcr-practice §7.2 [od-nd]).
            None => EmergencyEnd {
                episode_end: last + mins(rng, 1, 3),
                aftercare: Some(if naloxone { mins(rng, 30, 60) } else { mins(rng, 20, 40) }),
                left: None,
            },
        })
    }

    fn recovery_vitals(&self, rng: &mut Rng, opioid: bool, partial: bool) -> EntryData {
        EntryData::Vitals(if opioid {
            Vitals {
                resp_rate: Some(if partial {
                    in_range(rng, 9, 13)
                } else {
                    in_range(rng, 12, 17)
                }),
                spo2: Some(in_range(rng, 93, 99)),
                pulse: Some(in_range(rng, 60, 99)),
                gcs: Some(if partial {
                    in_range(rng, 10, 14)
                } else {
                    in_range(rng, 14, 15)
                }),
                sedation: Some(if partial { 2 } else { in_range(rng, 0, 1) }),
            }
        } else {
            Vitals {
                resp_rate: Some(in_range(rng, 14, 20)),
                spo2: Some(in_range(rng, 96, 99)),
                pulse: Some(if partial {
                    in_range(rng, 110, 139)
                } else {
                    in_range(rng, 85, 109)
                }),
                ..Vitals::default()
            }
        })
    }
}

/// Writes one batch: visits first (in time order), then what refers to them.
async fn flush(
    store: &Store,
    ctx: &AuditCtx,
    site_id: &str,
    visits: &mut [BulkVisit],
    floor: &mut FloorRows,
    created_by: &str,
    summary: &mut DemoSummary,
) -> AppResult<()> {
    // In time order, so the (site, time) indexes grow at their end.
    visits.sort_by_key(|v| v.arrived_at);
    floor.episodes.sort_by_key(|e| e.started_at);
    store.bulk_insert_visits(ctx, site_id, visits, created_by).await?;
    store.bulk_insert_episodes(ctx, site_id, &floor.episodes).await?;
    store.bulk_insert_checks(ctx, site_id, &floor.checks).await?;
    store.bulk_insert_aftercare(ctx, site_id, &floor.aftercare).await?;
    store.bulk_insert_emergencies(ctx, site_id, &floor.emergencies).await?;
    store
        .bulk_insert_emergency_entries(ctx, site_id, &floor.entries)
        .await?;
    summary.visits += visits.len() as u64;
    summary.episodes += floor.episodes.len() as u64;
    summary.checks += floor.checks.len() as u64;
    summary.aftercare += floor.aftercare.len() as u64;
    summary.emergencies += floor.emergencies.len() as u64;
    floor.clear();
    Ok(())
}

/// Visits the live floor adds at the first site.
const LIVE_VISITS: u64 = 5;

/// The floor right now at the first site, written through the ordinary store
/// functions as the demo nurse: three booths in use (started 2, 7 and 27
/// minutes ago: normal, amber with no check yet, and near the 30-minute
/// limit though checked a minute ago), one booth waiting to be cleaned after
/// a person who is now in after-care, one person waiting for a booth, and two
/// handover notes from earlier in the shift.
async fn live_floor(
    store: &Store,
    site_id: &str,
    spaces: &[DemoSpace],
    clients: &[BulkClient],
    staff: &Staff,
    rng: &mut Rng,
    summary: &mut DemoSummary,
) -> AppResult<()> {
    if spaces.len() < 8 || clients.is_empty() {
        return Ok(());
    }
    let ctx = AuditCtx {
        actor_id: Some(staff.nurse.clone()),
        actor_name: "demo-nurse".into(),
        role: Some(Role::Nurse.as_str().into()),
        site_id: Some(site_id.to_string()),
        ..system_ctx("demo")
    };
    // Distinct clients where there are enough.
    let mut people: Vec<&BulkClient> = Vec::new();
    for _ in 0..100 {
        if people.len() as u64 == LIVE_VISITS {
            break;
        }
        let c = rng.pick(clients);
        if !people.iter().any(|p| p.id == c.id) || clients.len() < LIVE_VISITS as usize {
            people.push(c);
        }
    }
    let now = haven_domain::clock::now();
    let ago = |m: i64| now - Duration::minutes(m);
    // (arrived, substances, booth index, started, checks (minutes ago, drowsy), ended)
    type Plan = (
        i64,
        &'static [&'static str],
        Option<usize>,
        i64,
        &'static [(i64, bool)],
        Option<i64>,
    );
    let plans: [Plan; 5] = [
        // Booth 7: ended 12 minutes ago, not yet cleaned; now in after-care.
        (
            45,
            &["heroin"],
            Some(6),
            40,
            &[(35, false), (29, false), (22, true)],
            Some(12),
        ),
        // Booth 6: 27 minutes in, last check a minute ago.
        (
            31,
            &["heroin", "cocaine"],
            Some(5),
            27,
            &[(21, false), (14, false), (7, true), (1, false)],
            None,
        ),
        // Booth 4: 7 minutes in, no check yet (amber).
        (10, &["cocaine"], Some(3), 7, &[], None),
        // Booth 2: just started.
        (6, &["cocaine"], Some(1), 2, &[], None),
        // Waiting for a booth.
        (3, &["heroin", "cocaine"], None, 0, &[], None),
    ];
    for (i, (arrived, subs, booth, started, checks, ended)) in plans.into_iter().enumerate() {
        let client = people[i % people.len()];
        let substances: Vec<String> = subs.iter().map(|s| (*s).to_string()).collect();
        let (visit, _) = store
            .create_visit(
                &ctx,
                site_id,
                &NewVisitRecord {
                    client_id: client.id.clone(),
                    status: "attended",
                    arrived_at: ago(arrived),
                    substances: substances.clone(),
                    route: Some("injection".into()),
                    otherwise_place: Some((*rng.pick(&["public", "semi_public", "private"])).into()),
                    refusal_reason: None,
                    idempotency_key: None,
                    eligibility: None,
                    override_reason: None,
                },
            )
            .await?;
        summary.visits += 1;
        let Some(b) = booth else { continue };
        let episode = store
            .start_episode(
                &ctx,
                site_id,
                &NewEpisodeRecord {
                    visit_id: visit.id.clone(),
                    client_id: client.id.clone(),
                    space_id: spaces[b].id.clone(),
                    substances,
                    route: "injection".into(),
                    started_at: ago(started),
                },
            )
            .await?;
        summary.episodes += 1;
        for (at, drowsy) in checks {
            let rec = if *drowsy {
                NewCheckRecord {
                    at: ago(*at),
                    status: "drowsy".into(),
                    resp_rate: Some(13),
                    spo2: Some(95),
                    sedation: Some(1),
                }
            } else {
                NewCheckRecord {
                    at: ago(*at),
                    status: "responsive".into(),
                    resp_rate: None,
                    spo2: None,
                    sedation: None,
                }
            };
            store.add_check(&ctx, site_id, &episode, &rec, None).await?;
            summary.checks += 1;
        }
        if let Some(end) = ended {
            store.end_episode(&ctx, site_id, &episode, ago(end), false).await?;
            store.enter_aftercare(&ctx, site_id, &visit.id, ago(end - 1)).await?;
            summary.aftercare += 1;
        }
    }
    let notes = [
        (
            190,
            &staff.worker,
            "Booth 3 extractor fan is noisy; estates booked for tomorrow morning. Booth still fine to use.",
        ),
        (
            50,
            &staff.nurse,
            "Oxygen and naloxone checked at handover: all in date, spare cylinder full. Sharps bins in booths 1-4 swapped.",
        ),
    ];
    let notes: Vec<BulkHandoverNote> = notes
        .into_iter()
        .map(|(m, by, text)| BulkHandoverNote {
            id: new_id(),
            text: text.into(),
            written_by: by.clone(),
            written_at: ago(m),
        })
        .collect();
    store.bulk_insert_handover_notes(&ctx, site_id, &notes).await?;
    Ok(())
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
    let mut worker: Option<String> = None;
    let mut nurse: Option<String> = None;
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
        let mut spaces = Vec::with_capacity(8);
        for b in 1..=8 {
            let label = format!("Booth {b}");
            let id = store.add_space(&ctx, &site.id, &label, "injecting", b <= 2).await?;
            spaces.push(DemoSpace { id, label });
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
                match role {
                    Role::Worker => worker = Some(id),
                    Role::Nurse => nurse = Some(id),
                    _ => {}
                }
                summary.users.push(username);
            }
        } else if let Some(u) = &worker {
            store.set_role(&ctx, u, &site.id, Role::Worker.as_str()).await?;
        }
        let created_by = worker
            .clone()
            .ok_or_else(|| AppError::Internal("no demo user".into()))?;
        // Other sites have only the worker on their staff.
        let staff = Staff {
            worker: created_by.clone(),
            nurse: if i == 0 {
                nurse
                    .clone()
                    .ok_or_else(|| AppError::Internal("no demo nurse".into()))?
            } else {
                created_by.clone()
            },
        };

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
        // The live floor's visits come out of the first site's budget.
        let historic = if i == 0 {
            per_site_visits.saturating_sub(LIVE_VISITS)
        } else {
            per_site_visits
        };
        let mut floor_gen = FloorGen::new(shape, &spaces, &staff, &mut rng);
        let mut floor = FloorRows::default();
        let mut batch = Vec::with_capacity(20_000);
        // Each client's stays so far: one person is never in two visits at once.
        let mut stays = Stays::default();
        for _ in 0..historic {
            let target = rng.f64() * acc;
            let drawn = cumulative.partition_point(|c| *c < target).min(clients.len() - 1);
            let client = &clients[drawn];
            let span = (now - client.registered_at).whole_minutes().max(1);
            // Arrivals from opening (09:00 local) until 11 hours later, so every
            // stay ends by closing (21:00).
            let day = (rng.below(span as u64) / 1440) as i64;
            let opening = local_opening(&site.timezone, client.registered_at + Duration::days(day));
            let mut arrived = opening + Duration::minutes(rng.below(11 * 60) as i64);
            // History ends before anyone still on the floor arrived, and
            // every historic stay is over by now. The jitter is drawn either
            // way, so the random stream (and every count) does not depend on
            // the time of day the demo is generated.
            let jitter = Duration::minutes(rng.below(600) as i64);
            if arrived > now - FloorGen::MAX_STAY {
                arrived = now - FloorGen::MAX_STAY - jitter;
            }
            // Moved clear of the client's other stays, within opening hours; a
            // client with no room left hands the visit to the next one. No
            // drawing again, so the random stream (and every count) is as it was.
            let (idx, arrived) = (0..clients.len())
                .map(|k| (drawn + k) % clients.len())
                .find_map(|i| {
                    free_slot(
                        &stays,
                        i,
                        &site.timezone,
                        arrived,
                        clients[i].registered_at,
                        now - FloorGen::MAX_STAY,
                    )
                    .map(|t| (i, t))
                })
                .unwrap_or((drawn, arrived));
            let client = &clients[idx];
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
                let mut v = BulkVisit {
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
                };
                if injecting {
                    floor_gen.injecting_visit(&mut rng, &mut v, &mut floor)?;
                }
                v
            };
            stays.push(
                idx,
                (v.arrived_at, v.left_at.unwrap_or(v.arrived_at + Duration::minutes(15))),
            );
            batch.push(v);
            if batch.len() == batch.capacity() {
                flush(store, &ctx, &site.id, &mut batch, &mut floor, &created_by, &mut summary).await?;
                written += batch.len() as u64;
                batch.clear();
                progress(written, total);
            }
        }
        if !batch.is_empty() {
            flush(store, &ctx, &site.id, &mut batch, &mut floor, &created_by, &mut summary).await?;
            written += batch.len() as u64;
            progress(written, total);
        }
        if i == 0 {
            live_floor(store, &site.id, &spaces, &clients, &staff, &mut rng, &mut summary).await?;
        }
        let care_staff = crate::demo_care::CareStaff {
            worker: staff.worker.clone(),
            nurse: staff.nurse.clone(),
        };
        let (services, referrals, samples) =
            crate::demo_care::generate(store, &ctx, &site.id, &care_staff, seed ^ u64::from(i)).await?;
        summary.services += services as u64;
        summary.referrals += referrals as u64;
        summary.samples += samples as u64;
        crate::supplies::demo_supplies(store, &ctx, &site.id, &created_by, seed ^ u64::from(i)).await?;
        crate::community::demo_history(store, &site.id, &created_by, seed ^ u64::from(i)).await?;
        summary.sites.push(code);
        summary.clients += n_clients;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary_start() -> OffsetDateTime {
        haven_domain::clock::now() - Duration::days(800)
    }

    #[test]
    fn free_slot_moves_clear_of_other_stays_within_opening_hours() {
        let tz = "Europe/London";
        // 2026-03-02 is in winter: local time is UTC.
        let t0 = time::macros::datetime!(2026-03-02 10:00 UTC);
        let from = t0 - Duration::days(30);
        let to = t0 + Duration::days(30);
        let mut stays = Stays::default();
        stays.push(0, (t0, t0 + Duration::minutes(40)));
        // Clear already: unchanged.
        let far = t0 + Duration::hours(5);
        assert_eq!(free_slot(&stays, 0, tz, far, from, to), Some(far));
        // Clashing: moved to after the stay, with a gap.
        assert_eq!(
            free_slot(&stays, 0, tz, t0 + Duration::minutes(10), from, to),
            Some(t0 + Duration::minutes(50))
        );
        // A day full from opening to the last arrival: the next day.
        let mut full = Stays::default();
        for h in 0..5 {
            let s = t0 - Duration::hours(1) + Duration::hours(3 * h);
            full.push(0, (s, s + Duration::minutes(100)));
        }
        let t = free_slot(&full, 0, tz, t0, from, to).unwrap();
        assert_eq!(t.date(), t0.date() + Duration::days(1), "{t}");
        assert_eq!(t.time(), t0.time());
        // Never after the limit.
        let t = free_slot(
            &stays,
            0,
            tz,
            t0 + Duration::minutes(10),
            from,
            t0 + Duration::minutes(30),
        )
        .unwrap();
        assert!(t <= t0 + Duration::minutes(30) && t.hour() >= 9, "{t}");
        // No room at all: none.
        assert_eq!(free_slot(&stays, 0, tz, t0, t0, t0 + Duration::minutes(20)), None);
    }

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

    // dcr-practice §8.1 [thistle-y1]: 93 emergencies per 7,827 injections =
    // 11.9 per 1,000; §7.2 [thistle-9m]: 60 emergencies → 12 ambulances → 8
    // hospital transfers; §8.2 [hc-dash]: about 26% required naloxone.
    #[test]
    fn default_shape_matches_thistle_emergency_figures() {
        let s = DemoShape::default();
        assert!((s.emergencies_per_injection * 7_827.0 - 93.0).abs() < 1e-9);
        assert!((s.emergencies_per_injection * 1_000.0 - 11.9).abs() < 0.05);
        assert!((s.ambulance_share * 60.0 - 12.0).abs() < 1e-9);
        assert!((s.transfer_share * 60.0 - 8.0).abs() < 1e-9);
        assert!((s.naloxone_share - 0.26).abs() < 1e-9);
        assert!(s.transfer_share <= s.ambulance_share);
    }

    #[test]
    fn quota_takes_exactly_its_share_and_waits_for_an_eligible_item() {
        let mut rng = Rng::new(3);
        let mut q = Quota::new(0.2, &mut rng);
        let taken = (0..1_000).filter(|i| q.take(i % 2 == 0)).count();
        assert!((199..=201).contains(&taken), "{taken}");
    }

    fn synthetic_floor(n: usize, seed: u64) -> (Vec<BulkVisit>, FloorRows) {
        let spaces: Vec<DemoSpace> = (1..=8)
            .map(|b| DemoSpace {
                id: format!("s{b}"),
                label: format!("Booth {b}"),
            })
            .collect();
        let staff = Staff {
            worker: "w".into(),
            nurse: "n".into(),
        };
        let mut rng = Rng::new(seed);
        let mut floor_gen = FloorGen::new(DemoShape::default(), &spaces, &staff, &mut rng);
        let mut out = FloorRows::default();
        let t = time::macros::datetime!(2025-03-01 10:00 UTC);
        let visits = (0..n)
            .map(|i| {
                let subs = match rng.below(100) {
                    0..=49 => r#"["cocaine"]"#,
                    50..=79 => r#"["heroin","cocaine"]"#,
                    _ => r#"["heroin"]"#,
                };
                let mut v = BulkVisit {
                    id: format!("v{i}"),
                    client_id: "c".into(),
                    status: "attended",
                    arrived_at: t + Duration::minutes(i as i64),
                    left_at: None,
                    substances: subs.into(),
                    route: Some("injection"),
                    otherwise_place: None,
                    refusal_reason: None,
                };
                floor_gen.injecting_visit(&mut rng, &mut v, &mut out).expect("visit");
                v
            })
            .collect();
        (visits, out)
    }

    #[test]
    fn floor_history_matches_the_cited_shares() {
        let shape = DemoShape::default();
        let n = 4 * 7_827;
        let (_, f) = synthetic_floor(n, 11);
        assert_eq!(f.episodes.len(), n, "one episode per injecting visit");
        let e = f.emergencies.len() as f64;
        assert!(
            (e - n as f64 * shape.emergencies_per_injection).abs() <= 1.0,
            "{e} emergencies"
        );
        let with = |kind: &str| {
            f.emergencies
                .iter()
                .filter(|m| f.entries.iter().any(|x| x.emergency_id == m.id && x.kind == kind))
                .count() as f64
        };
        for (kind, share) in [
            ("ambulance_called", shape.ambulance_share),
            ("transfer", shape.transfer_share),
            ("naloxone", shape.naloxone_share),
            ("bag_valve_mask", shape.bvm_share),
        ] {
            let got = with(kind);
            assert!(
                (got - e * share).abs() <= 2.0,
                "{kind}: {got} of {e}, expected {}",
                e * share
            );
        }
        let oxygen = with("oxygen") / e;
        assert!(oxygen > 0.6, "oxygen in most events: {oxygen}");
        let transferred = f.emergencies.iter().filter(|m| m.outcome == "transferred").count() as f64;
        assert!((transferred - with("transfer")).abs() < 0.5);
        let refused = f.emergencies.iter().filter(|m| m.outcome == "refused_transfer").count() as f64;
        assert!((refused - (with("ambulance_called") - with("transfer"))).abs() < 0.5);
        // After-care: about half of the ordinary episodes, plus everyone not transferred.
        let expected = (n as f64 - e) * shape.aftercare_share + (e - transferred);
        let got = f.aftercare.len() as f64;
        assert!(
            (got - expected).abs() < 0.03 * n as f64,
            "{got} after-care stays, expected {expected}"
        );
    }

    #[test]
    fn floor_history_keeps_every_time_in_order_and_every_entry_valid() {
        use std::collections::HashMap;
        let (visits, f) = synthetic_floor(20_000, 5);
        let visit: HashMap<&str, &BulkVisit> = visits.iter().map(|v| (v.id.as_str(), v)).collect();
        let episode_of: HashMap<&str, &BulkEpisode> = f.episodes.iter().map(|e| (e.visit_id.as_str(), e)).collect();
        let episode: HashMap<&str, &BulkEpisode> = f.episodes.iter().map(|e| (e.id.as_str(), e)).collect();
        let mut checks: HashMap<&str, Vec<&BulkCheck>> = HashMap::new();
        for c in &f.checks {
            checks.entry(c.episode_id.as_str()).or_default().push(c);
        }
        for ep in &f.episodes {
            let v = visit[ep.visit_id.as_str()];
            let left = v.left_at.expect("departure");
            assert!(v.arrived_at < ep.started_at && ep.started_at < ep.ended_at && ep.ended_at < left);
            assert!(left - v.arrived_at <= FloorGen::MAX_STAY, "{}", left - v.arrived_at);
            let cs = checks.get(ep.id.as_str()).map_or(&[][..], |c| &c[..]);
            assert!((1..=4).contains(&cs.len()), "{} checks", cs.len());
            for c in cs {
                assert!(ep.started_at <= c.at && c.at <= ep.ended_at);
            }
        }
        for a in &f.aftercare {
            let v = visit[a.visit_id.as_str()];
            let ep = episode_of[a.visit_id.as_str()];
            assert!(ep.ended_at <= a.entered_at && a.entered_at < a.left_at);
            assert!(a.left_at < v.left_at.expect("departure"));
        }
        for m in &f.emergencies {
            let ep = episode[m.episode_id.as_deref().expect("episode")];
            assert!(ep.started_at < m.started_at && m.started_at <= ep.ended_at);
            let staff: Vec<String> = serde_json::from_str(&m.staff_involved).expect("staff");
            assert_eq!(staff.len(), 2);
            assert_ne!(staff[0], staff[1]);
            assert!(!m.debrief.is_empty() && m.location == "space" && m.location_detail.starts_with("Booth"));
            let entries: Vec<&BulkEmergencyEntry> = f.entries.iter().filter(|x| x.emergency_id == m.id).collect();
            assert_eq!(entries[0].kind, "recognition");
            assert_eq!(entries[0].at, m.started_at);
            assert!(entries.windows(2).all(|w| w[0].at < w[1].at));
            assert!(m.closed_at > entries.last().expect("entries").at);
            let opioid = m.substances.contains("heroin");
            let mut doses = 0;
            for x in &entries {
                let data: EntryData = serde_json::from_str(&x.data).expect("entry JSON");
                assert_eq!(data.kind(), x.kind);
                let mut inv = haven_domain::Invalid::default();
                haven_domain::emergency::validate_entry_data(&data, &mut inv);
                assert!(inv.0.is_empty(), "{inv}");
                match data {
                    EntryData::Naloxone { dose_mg, route } => {
                        assert!((dose_mg - demo_dose_mg(route)).abs() < 1e-9);
                        assert!(opioid, "naloxone only for opioids");
                        doses += 1;
                    }
                    EntryData::BagValveMask => assert!(opioid),
                    _ => {}
                }
            }
            assert!(doses <= 2);
            if opioid {
                // Respiratory depression recorded (dcr-practice §7.1 [od-form]: RR < 12).
                assert!(entries.iter().any(|x| {
                    x.kind == "vitals"
                        && serde_json::from_str::<EntryData>(&x.data)
                            .is_ok_and(|d| matches!(d, EntryData::Vitals(v) if v.resp_rate.is_some_and(|r| r < 12)))
                }));
            }
        }
    }

    #[test]
    fn floor_history_is_deterministic_for_a_seed() {
        let shape_of = |f: &FloorRows| {
            (
                f.episodes
                    .iter()
                    .map(|e| (e.started_at, e.ended_at, e.space_id.clone()))
                    .collect::<Vec<_>>(),
                f.entries.iter().map(|x| (x.at, x.data.clone())).collect::<Vec<_>>(),
                f.checks.len(),
                f.aftercare.len(),
            )
        };
        let (_, a) = synthetic_floor(3_000, 9);
        let (_, b) = synthetic_floor(3_000, 9);
        assert_eq!(shape_of(&a), shape_of(&b));
    }

    /// The whole generator on SQLite: the live floor at GLA reads as the
    /// brief says, no historic episode or emergency is left open, and the
    /// audit chain holds.
    #[tokio::test]
    async fn demo_builds_a_live_floor_at_the_first_site() {
        use haven_domain::floor::{Alarm, SpaceState};
        let dir = std::env::temp_dir().join(format!("haven-demo-test-{}", new_id()));
        let store = Store::open(&haven_store::Location::SqliteDir(dir.clone()))
            .await
            .expect("store");
        let summary = generate(&store, 1, 1, 0.1, 42, &mut |_, _| {}).await.expect("demo");
        let site = store.site_by_code("GLA").await.expect("GLA");
        assert_eq!(summary.visits, 1_135);
        assert_eq!(store.visit_count(&site.id).await.expect("visits"), 1_135);
        // Nobody is in two visits at once, and arrivals fall within opening
        // hours (09:00–21:00 local), but for the few moved back from the last
        // hours or clear of another stay.
        let all = store
            .visits_between(&site.id, summary_start(), haven_domain::clock::now(), None, 100_000)
            .await
            .expect("visits");
        assert_eq!(all.len(), 1_135);
        let mut by_client: std::collections::HashMap<&str, Vec<(OffsetDateTime, OffsetDateTime)>> =
            std::collections::HashMap::new();
        let mut outside = 0;
        for v in &all {
            // A refusal is a moment; a visit still open lasts until now.
            let end = match (v.left_at, v.status.as_str()) {
                (Some(l), _) => l,
                (None, "refused") => v.arrived_at,
                (None, _) => haven_domain::clock::now(),
            };
            by_client
                .entry(v.client_id.as_str())
                .or_default()
                .push((v.arrived_at, end));
            let local = haven_domain::clock::local_hhmm(&site.timezone, v.arrived_at);
            if !("09:00".."21:00").contains(&local.as_str()) {
                outside += 1;
            }
        }
        assert!(
            outside * 100 <= all.len(),
            "{outside} of {} arrive outside opening hours",
            all.len()
        );
        for (client, mut stays) in by_client {
            stays.sort();
            for w in stays.windows(2) {
                assert!(w[0].1 <= w[1].0, "client {client}: {:?} overlaps {:?}", w[0], w[1]);
            }
        }
        assert!(summary.episodes > 700 && summary.emergencies >= 8, "{summary:?}");
        let board = crate::floor::board_unaudited(&store, &site.id).await.expect("board");
        let in_use: Vec<_> = board.spaces.iter().filter(|s| s.state == SpaceState::InUse).collect();
        assert_eq!(in_use.len(), 3);
        assert_eq!(
            board
                .spaces
                .iter()
                .filter(|s| s.state == SpaceState::NeedsCleaning)
                .count(),
            1
        );
        let alarms: Vec<Alarm> = in_use.iter().map(|s| s.alarm).collect();
        assert_eq!(alarms.iter().filter(|a| **a == Alarm::Amber).count(), 1, "{alarms:?}");
        assert!(in_use.iter().any(|s| {
            s.row
                .last_check_at
                .is_some_and(|t| board.now - t < Duration::minutes(2))
        }));
        assert_eq!(board.waiting.len(), 1);
        assert_eq!(board.aftercare.len(), 1);
        assert!(board.emergencies.is_empty());
        assert_eq!(store.open_episodes(&site.id).await.expect("open").len(), 3);
        let notes = store
            .handover_notes(&site.id, board.now - Duration::hours(24))
            .await
            .expect("notes");
        assert_eq!(notes.len(), 2);
        let recent = store
            .emergencies_between(&site.id, board.now - Duration::days(400), board.now)
            .await
            .expect("emergencies");
        assert_eq!(recent.len() as u64, summary.emergencies);
        assert!(recent.iter().all(|m| m.closed_at.is_some() && m.outcome.is_some()));
        let first = &recent[0];
        let entries = store.emergency_entries(&site.id, &first.id).await.expect("entries");
        assert_eq!(entries[0].kind, "recognition");
        assert!(haven_store::verify_audit(&store).await.expect("verify").is_ok());
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
