//! Demo contact with care: services at visits (with BBV tests and their
//! results), referrals with dated steps, and drug-checking samples with
//! results, laid over a demo site's visit history. All shares here are \[U\]
//! illustrative defaults, not published rates; dcr-practice §5.4 lists the
//! services and categories.

use haven_domain::drugcheck::{Component, Finding, Method, StripResult};
use haven_store::{
    AuditCtx, BulkCare, BulkReferral, BulkReferralEvent, BulkSample, BulkService, BulkTestResult, Store, new_id,
};
use time::{Duration, OffsetDateTime};

use crate::{AppError, AppResult, demo::Rng};

/// Services and their share among services given \[U\].
const SERVICES: [(&str, u64); 13] = [
    ("vein_care_advice", 25),
    ("wound_care", 20),
    ("naloxone_kit", 10),
    ("food", 10),
    ("naloxone_training", 5),
    ("shower", 5),
    ("clothing", 5),
    ("housing_benefits_advice", 5),
    ("peer_support", 5),
    ("mental_health_check", 3),
    ("bbv_test_offered", 3),
    ("sexual_health", 2),
    ("bbv_test_taken", 2),
];

/// Referral categories and their shares \[U\].
const CATEGORIES: [(&str, u64); 10] = [
    ("drug_treatment_ost", 30),
    ("housing", 20),
    ("bbv_treatment", 10),
    ("mental_health", 10),
    ("primary_care", 10),
    ("heroin_assisted_treatment", 5),
    ("social_work", 5),
    ("hospital", 4),
    ("sexual_reproductive_health", 3),
    ("legal", 3),
];

fn weighted<'a>(rng: &mut Rng, xs: &'a [(&'a str, u64)]) -> &'a str {
    let total: u64 = xs.iter().map(|(_, w)| w).sum();
    let mut roll = rng.below(total);
    for (x, w) in xs {
        if roll < *w {
            return x;
        }
        roll -= w;
    }
    xs[0].0
}

/// Who does what in the demo.
#[derive(Debug, Clone)]
pub(crate) struct CareStaff {
    /// Harm-reduction worker (user id).
    pub worker: String,
    /// Nurse (user id): clinical services and results.
    pub nurse: String,
}

/// Lays services, referrals and drug checks over the site's finished
/// visits. Returns how many services, referrals and samples were written.
pub(crate) async fn generate(
    store: &Store,
    ctx: &AuditCtx,
    site_id: &str,
    staff: &CareStaff,
    seed: u64,
) -> AppResult<(usize, usize, usize)> {
    let now = haven_domain::clock::now();
    let today = now.date();
    let mut rng = Rng::new(seed ^ 0xCA5E);
    let visits = store
        .visits_between(site_id, now - Duration::days(3 * 366), now, None, 1_000_000)
        .await?;
    let mut care = BulkCare::default();
    for v in visits
        .iter()
        .filter(|v| v.status == "attended" && v.voided_at.is_none())
    {
        // Only finished stays: a service is given during the visit.
        let Some(left) = v.left_at else { continue };
        let stay = (left - v.arrived_at).whole_seconds().max(60) as u64;
        let services = match rng.below(100) {
            0..=21 => 1,
            22..=26 => 2,
            _ => 0,
        };
        for _ in 0..services {
            let code = weighted(&mut rng, &SERVICES);
            let at = haven_domain::clock::truncate_micros(v.arrived_at + Duration::seconds(rng.below(stay) as i64));
            let clinical = matches!(
                code,
                "wound_care" | "bbv_test_offered" | "bbv_test_taken" | "naloxone_training"
            );
            let tests: &[&str] = match code {
                "bbv_test_taken" if rng.below(3) == 0 => &["hiv", "hcv", "hbv"],
                "bbv_test_taken" | "bbv_test_offered" => &["hiv", "hcv"],
                _ => &[],
            };
            let id = new_id();
            if code == "bbv_test_taken" {
                for t in tests {
                    let result_at = at + Duration::days(7 + rng.below(8) as i64);
                    if result_at > now {
                        continue; // still pending
                    }
                    // Shares of positives [U], shaped by Glasgow's HIV outbreak
                    // among people who inject drugs and high HCV prevalence.
                    let positive = match *t {
                        "hcv" => 20,
                        "hiv" => 3,
                        _ => 1,
                    };
                    let result = if rng.below(100) < positive {
                        "positive"
                    } else {
                        "negative"
                    };
                    care.test_results.push(BulkTestResult {
                        id: new_id(),
                        service_id: id.clone(),
                        test: (*t).to_string(),
                        result: result.into(),
                        result_at,
                        recorded_by: staff.nurse.clone(),
                    });
                }
            }
            care.services.push(BulkService {
                id,
                visit_id: v.id.clone(),
                code: code.into(),
                at,
                tests: serde_json::to_string(tests).unwrap_or_else(|_| "[]".into()),
                recorded_by: if clinical { &staff.nurse } else { &staff.worker }.clone(),
            });
        }
        // About one visit in 25 leads to a referral [U].
        if rng.below(25) == 0 {
            referral(&mut rng, &mut care, v, today, staff);
        }
        // About one visit in 60 brings a sample to check [U].
        if rng.below(60) == 0 {
            care.samples
                .push(sample(&mut rng, v.id.clone(), v.arrived_at, &staff.worker));
        }
    }
    let counts = (care.services.len(), care.referrals.len(), care.samples.len());
    store
        .bulk_insert_care(ctx, site_id, &care)
        .await
        .map_err(AppError::from)?;
    Ok(counts)
}

fn referral(rng: &mut Rng, care: &mut BulkCare, v: &haven_store::VisitRow, today: time::Date, staff: &CareStaff) {
    let id = new_id();
    let made = v.arrived_at.date();
    let by = if rng.below(2) == 0 { &staff.worker } else { &staff.nurse };
    care.referrals.push(BulkReferral {
        id: id.clone(),
        client_id: v.client_id.clone(),
        visit_id: Some(v.id.clone()),
        category: weighted(rng, &CATEGORIES).into(),
        made_on: made,
        created_by: by.clone(),
    });
    let mut steps = vec![("made", made)];
    let mut on = made;
    // made → accepted (70%) or declined (15%), else no news; accepted →
    // attended (60%) or not (25%); a finished one is closed half the time.
    let mut push = |status: &'static str, days: u64, rng: &mut Rng, steps: &mut Vec<(&'static str, time::Date)>| {
        on += Duration::days(1 + rng.below(days) as i64);
        if on <= today {
            steps.push((status, on));
            true
        } else {
            false
        }
    };
    let roll = rng.below(100);
    let mut finished = false;
    if roll < 70 {
        if push("accepted", 10, rng, &mut steps) {
            let next = rng.below(100);
            if next < 60 {
                finished = push("attended", 20, rng, &mut steps);
            } else if next < 85 {
                finished = push("not_attended", 20, rng, &mut steps);
            }
        }
    } else if roll < 85 {
        finished = push("declined", 10, rng, &mut steps);
    }
    if finished && rng.below(2) == 0 {
        push("closed", 14, rng, &mut steps);
    }
    for (status, on_date) in steps {
        care.referral_events.push(BulkReferralEvent {
            referral_id: id.clone(),
            status,
            on_date,
            recorded_by: by.clone(),
        });
    }
}

fn finding_json(f: &Finding) -> String {
    serde_json::to_string(f).unwrap_or_else(|_| "{}".into())
}

fn sample(rng: &mut Rng, visit_id: String, at: OffsetDateTime, by: &str) -> BulkSample {
    let expected = *rng.pick(&["heroin", "heroin", "cocaine", "crack", "street benzo"]);
    let form = match expected {
        "crack" => "rock",
        "street benzo" => "pill",
        _ => "powder",
    };
    let comp = |s: &str, p: Option<f64>| Component {
        substance: s.into(),
        percent: p,
    };
    // FTIR components; adulterant shares are [U] illustrations.
    let roll = rng.below(100);
    let components = match expected {
        "heroin" if roll < 8 => vec![comp("heroin", Some(40.0)), comp("protonitazene", None)],
        "heroin" if roll < 11 => vec![comp("heroin", Some(35.0)), comp("xylazine", Some(10.0))],
        "heroin" => vec![
            comp("heroin", Some(30.0 + rng.below(40) as f64)),
            comp("caffeine", None),
        ],
        "cocaine" | "crack" if roll < 2 => vec![comp("cocaine", Some(60.0)), comp("fentanyl", None)],
        "cocaine" | "crack" => vec![
            comp("cocaine", Some(50.0 + rng.below(40) as f64)),
            comp("levamisole", None),
        ],
        _ => vec![comp("bromazolam", None)],
    };
    let read = at + Duration::minutes(10 + rng.below(20) as i64);
    let mut results = vec![(
        Method::Ftir.code().to_string(),
        finding_json(&Finding::Components { components }),
        read,
    )];
    if expected == "heroin" || expected == "cocaine" {
        let strip = if roll < 2 && expected == "cocaine" {
            StripResult::Positive
        } else {
            StripResult::Negative
        };
        results.push((
            Method::FentanylStrip.code().to_string(),
            finding_json(&Finding::Strip { result: strip }),
            read + Duration::minutes(5),
        ));
    }
    BulkSample {
        id: new_id(),
        // About four in ten people agree to link the sample to their visit [U].
        visit_id: (rng.below(10) < 4).then_some(visit_id),
        expected: expected.into(),
        form: form.into(),
        received_at: haven_domain::clock::truncate_micros(at + Duration::minutes(5)),
        recorded_by: by.into(),
        results,
    }
}
