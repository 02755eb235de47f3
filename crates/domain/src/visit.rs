//! Visits: check-in, refusal, check-out and void rules.
//!
//! A visit is one attendance for any service; a visit without consumption
//! (wound care, shower, supplies) is still a visit (dcr-practice §6.2, Thistle
//! "times service accessed" vs "injecting episodes").

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::{Invalid, site::SiteSettings};

/// How far ahead of the server clock a time may be (device clock drift).
pub const FUTURE_TOLERANCE: Duration = Duration::seconds(60);
/// How far back a check-in may be entered after the fact.
pub const BACKDATE_LIMIT: Duration = Duration::days(7);

/// "Where would you otherwise have used?" (dcr-practice §3 \[onpoint-jama\], §5.2).
pub const OTHERWISE_PLACES: [&str; 4] = ["private", "public", "semi_public", "declined"];

/// Raw check-in input.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckInDraft {
    /// Declared substances (several for combinations such as heroin + cocaine).
    #[serde(default)]
    pub substances: Vec<String>,
    /// Intended route; none for a visit without consumption.
    #[serde(default)]
    pub route: Option<String>,
    /// Where the person would otherwise have used.
    #[serde(default)]
    pub otherwise_place: Option<String>,
    /// Arrival time; defaults to now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub arrived_at: Option<OffsetDateTime>,
    /// Staff answers to the eligibility questions (dcr-practice §4.1).
    #[serde(default)]
    pub eligibility: crate::eligibility::Answers,
    /// Why a failing eligibility rule is overridden (nurse or manager).
    #[serde(default)]
    pub override_reason: Option<String>,
}

/// A validated check-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVisit {
    /// Arrival, UTC, microseconds.
    pub arrived_at: OffsetDateTime,
    /// Substance codes, in the order given, without repeats.
    pub substances: Vec<String>,
    /// Route code, if consuming.
    pub route: Option<String>,
    /// Counterfactual place of use.
    pub otherwise_place: Option<String>,
}

fn check_time(inv: &mut Invalid, field: &str, t: OffsetDateTime, now: OffsetDateTime) {
    if t > now + FUTURE_TOLERANCE {
        inv.push(field, "cannot be in the future");
    } else if t < now - BACKDATE_LIMIT {
        inv.push(field, "cannot be more than 7 days ago");
    }
}

/// Validates a check-in against the site's lists.
pub fn prepare_check_in(
    draft: &CheckInDraft,
    settings: &SiteSettings,
    now: OffsetDateTime,
) -> Result<NewVisit, Invalid> {
    let mut inv = Invalid::default();
    let arrived_at = crate::clock::truncate_micros(draft.arrived_at.unwrap_or(now));
    check_time(&mut inv, "arrived_at", arrived_at, now);
    let mut substances: Vec<String> = Vec::new();
    for s in &draft.substances {
        if !settings.substances.contains(s) {
            inv.push("substances", format!("unknown substance `{s}`"));
        } else if !substances.contains(s) {
            substances.push(s.clone());
        }
    }
    let route = match draft.route.as_deref().filter(|r| !r.is_empty()) {
        None => None,
        Some(r) if settings.routes.iter().any(|x| x == r) => Some(r.to_string()),
        Some(r) => {
            inv.push(
                "route",
                format!("unknown route `{r}`; choose one of: {}", settings.routes.join(", ")),
            );
            None
        }
    };
    if route.is_some() && draft.substances.is_empty() {
        inv.push("substances", "choose at least one substance for a consumption visit");
    }
    if route.is_none() && draft.route.is_none() && !draft.substances.is_empty() {
        inv.push("route", "choose how the substances will be used");
    }
    let otherwise_place = match draft.otherwise_place.as_deref().filter(|p| !p.is_empty()) {
        None => None,
        Some(p) if OTHERWISE_PLACES.contains(&p) => Some(p.to_string()),
        Some(p) => {
            inv.push(
                "otherwise_place",
                format!("unknown place `{p}`; choose private, public, semi_public or declined"),
            );
            None
        }
    };
    inv.into_result()?;
    Ok(NewVisit {
        arrived_at,
        substances,
        route,
        otherwise_place,
    })
}

/// Validates a refusal: a reason code from the site's list (dcr-practice §4.2).
pub fn prepare_refusal(
    reason: &str,
    at: Option<OffsetDateTime>,
    settings: &SiteSettings,
    now: OffsetDateTime,
) -> Result<(String, OffsetDateTime), Invalid> {
    let mut inv = Invalid::default();
    let at = crate::clock::truncate_micros(at.unwrap_or(now));
    check_time(&mut inv, "arrived_at", at, now);
    // A failing eligibility rule is itself a reason, so refusals count by rule (dcr-practice §4.2).
    if !settings.refusal_reasons.iter().any(|r| r == reason) && !crate::eligibility::RULE_CODES.contains(&reason) {
        inv.push(
            "reason",
            format!("choose one of: {}", settings.refusal_reasons.join(", ")),
        );
    }
    inv.into_result()?;
    Ok((reason.to_string(), at))
}

/// State of a stored visit, as the check-out and void rules need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitState {
    /// Arrival.
    pub arrived_at: OffsetDateTime,
    /// Departure, if checked out.
    pub left_at: Option<OffsetDateTime>,
    /// Whether it was a refusal.
    pub refused: bool,
    /// Whether it was voided.
    pub voided: bool,
}

/// Validates a check-out time.
pub fn check_out_time(
    visit: &VisitState,
    left_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<OffsetDateTime, Invalid> {
    if visit.voided {
        return Err(Invalid::one("visit", "this visit was voided"));
    }
    if visit.refused {
        return Err(Invalid::one("visit", "a refusal has no check-out"));
    }
    if visit.left_at.is_some() {
        return Err(Invalid::one("visit", "already checked out"));
    }
    let left_at = crate::clock::truncate_micros(left_at.unwrap_or(now));
    if left_at < visit.arrived_at {
        return Err(Invalid::one("left_at", "cannot be before the arrival time"));
    }
    if left_at > now + FUTURE_TOLERANCE {
        return Err(Invalid::one("left_at", "cannot be in the future"));
    }
    Ok(left_at)
}

/// Validates a void: a reason is required and the visit must not already be void.
pub fn check_void(visit: &VisitState, reason: &str) -> Result<String, Invalid> {
    if visit.voided {
        return Err(Invalid::one("visit", "already voided"));
    }
    let r = reason.trim();
    if r.is_empty() {
        return Err(Invalid::one("reason", "give a reason for voiding"));
    }
    if r.chars().count() > 200 {
        return Err(Invalid::one("reason", "at most 200 characters"));
    }
    Ok(r.to_string())
}

/// What the day's figures need to know about one visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitSummary {
    /// Client id.
    pub client_id: String,
    /// A refusal.
    pub refused: bool,
    /// Voided (never counted).
    pub voided: bool,
    /// Declared route, if consuming.
    pub route: Option<String>,
    /// Still on site (not checked out).
    pub open: bool,
}

/// A site's figures for one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DayFigures {
    /// Times the service was accessed: attended, non-voided visits of any kind
    /// (dcr-practice §6.2, Thistle "times service accessed").
    pub visits: usize,
    /// Distinct clients among those visits (§6.2 "service users"; §6.1
    /// Health Canada "unique clients" — never summed across periods).
    pub unique_clients: usize,
    /// Visits declaring consumption (any route).
    pub consumption_visits: usize,
    /// Visits declaring injection.
    pub injecting_visits: usize,
    /// Refusals (dcr-practice §4.2, NRW "abgewiesene Personen").
    pub refusals: usize,
    /// Checked in and not yet checked out.
    pub on_site_now: usize,
}

/// Computes the day's figures; voided visits count nowhere.
pub fn day_figures(visits: &[VisitSummary]) -> DayFigures {
    let live = visits.iter().filter(|v| !v.voided);
    let mut f = DayFigures::default();
    let mut clients = std::collections::HashSet::new();
    for v in live {
        if v.refused {
            f.refusals += 1;
            continue;
        }
        f.visits += 1;
        clients.insert(v.client_id.as_str());
        if v.route.is_some() {
            f.consumption_visits += 1;
        }
        if v.route.as_deref() == Some("injection") {
            f.injecting_visits += 1;
        }
        if v.open {
            f.on_site_now += 1;
        }
    }
    f.unique_clients = clients.len();
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2025-06-01 12:00 UTC);

    fn draft(subs: &[&str], route: Option<&str>) -> CheckInDraft {
        CheckInDraft {
            substances: subs.iter().map(|s| (*s).to_string()).collect(),
            route: route.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn combination_heroin_and_cocaine_is_one_visit() {
        let v = prepare_check_in(
            &draft(&["heroin", "cocaine", "heroin"], Some("injection")),
            &SiteSettings::default(),
            NOW,
        )
        .unwrap();
        assert_eq!(v.substances, ["heroin", "cocaine"]);
        assert_eq!(v.arrived_at, NOW);
    }

    #[test]
    fn a_visit_without_consumption_is_still_a_visit_dcr_practice_6_2() {
        let v = prepare_check_in(&draft(&[], None), &SiteSettings::default(), NOW).unwrap();
        assert!(v.route.is_none() && v.substances.is_empty());
    }

    #[test]
    fn arrival_in_the_future_is_refused() {
        let mut d = draft(&["heroin"], Some("injection"));
        d.arrived_at = Some(NOW + Duration::minutes(5));
        let e = prepare_check_in(&d, &SiteSettings::default(), NOW).unwrap_err();
        assert_eq!(e.0[0].field, "arrived_at");
    }

    #[test]
    fn unknown_codes_are_named() {
        let e = prepare_check_in(&draft(&["tea"], Some("osmosis")), &SiteSettings::default(), NOW).unwrap_err();
        let f: Vec<_> = e.0.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(f, ["substances", "route"]);
        let e = prepare_check_in(&draft(&["heroin"], None), &SiteSettings::default(), NOW).unwrap_err();
        assert_eq!(e.0[0].field, "route");
        let e = prepare_check_in(&draft(&[], Some("injection")), &SiteSettings::default(), NOW).unwrap_err();
        assert_eq!(e.0[0].field, "substances");
    }

    #[test]
    fn check_out_before_check_in_is_refused() {
        let st = VisitState {
            arrived_at: NOW,
            left_at: None,
            refused: false,
            voided: false,
        };
        let e = check_out_time(&st, Some(NOW - Duration::minutes(1)), NOW).unwrap_err();
        assert_eq!(e.0[0].field, "left_at");
        assert!(check_out_time(&st, None, NOW + Duration::minutes(20)).is_ok());
        let done = VisitState {
            left_at: Some(NOW),
            ..st.clone()
        };
        assert!(check_out_time(&done, None, NOW).is_err());
    }

    #[test]
    fn refusal_needs_a_known_reason_dcr_practice_4_2() {
        assert!(prepare_refusal("intoxicated", None, &SiteSettings::default(), NOW).is_ok());
        assert!(prepare_refusal("", None, &SiteSettings::default(), NOW).is_err());
    }

    #[test]
    fn void_needs_a_reason_and_happens_once() {
        let st = VisitState {
            arrived_at: NOW,
            left_at: None,
            refused: false,
            voided: false,
        };
        assert!(check_void(&st, "  ").is_err());
        assert_eq!(check_void(&st, " wrong client ").unwrap(), "wrong client");
        assert!(check_void(&VisitState { voided: true, ..st }, "x").is_err());
    }

    fn summary(client: &str, refused: bool, voided: bool, route: Option<&str>, open: bool) -> VisitSummary {
        VisitSummary {
            client_id: client.into(),
            refused,
            voided,
            route: route.map(Into::into),
            open,
        }
    }

    #[test]
    fn day_figures_follow_thistle_definitions_dcr_practice_6_2() {
        let f = day_figures(&[
            summary("a", false, false, Some("injection"), false),
            summary("a", false, false, None, true),
            summary("b", false, false, Some("inhalation"), true),
            summary("c", true, false, None, false),
            summary("d", false, true, Some("injection"), false),
        ]);
        assert_eq!(
            f,
            DayFigures {
                visits: 3,
                unique_clients: 2,
                consumption_visits: 2,
                injecting_visits: 1,
                refusals: 1,
                on_site_now: 2
            }
        );
    }

    proptest! {
        #[test]
        fn unique_clients_never_exceed_visits(n in proptest::collection::vec((0u8..5, any::<bool>(), any::<bool>()), 0..40)) {
            let vs: Vec<_> = n.iter().map(|(c, r, v)| summary(&c.to_string(), *r, *v, None, false)).collect();
            let f = day_figures(&vs);
            prop_assert!(f.unique_clients <= f.visits);
            prop_assert_eq!(f.visits + f.refusals, vs.iter().filter(|v| !v.voided).count());
        }

        #[test]
        fn checkout_is_never_before_arrival(arr in 0i64..10_000, left in 0i64..10_000) {
            let st = VisitState { arrived_at: NOW - Duration::seconds(arr), left_at: None, refused: false, voided: false };
            if let Ok(t) = check_out_time(&st, Some(NOW - Duration::seconds(left)), NOW) {
                prop_assert!(t >= st.arrived_at);
            }
        }
    }
}
