//! The floor: spaces and their states, episodes (one supervised consumption
//! in a space), observation checks, after-care, and the board's timers.
//!
//! Sources: dcr-practice §1.1 (steps 3–7: place allocation, supervised
//! consumption, 15–30 min in the booth, after-care, exit) and §5.2 (episode
//! fields). The sources give no numeric check interval (§1.1 "Supervision
//! interval"), so the 5 minute default is a setting, not a rule.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::{
    Invalid,
    emergency::{Vitals, validate_vitals},
    site::SpaceKind,
    visit::FUTURE_TOLERANCE,
};

/// State of a space on the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpaceState {
    /// Ready for the next person.
    Free,
    /// An episode is running.
    InUse,
    /// Used; to be cleaned before the next person.
    NeedsCleaning,
    /// Taken out of service by a manager.
    OutOfService,
}

impl SpaceState {
    /// Stored / wire code.
    pub fn as_str(self) -> &'static str {
        match self {
            SpaceState::Free => "free",
            SpaceState::InUse => "in_use",
            SpaceState::NeedsCleaning => "needs_cleaning",
            SpaceState::OutOfService => "out_of_service",
        }
    }

    /// Label for staff.
    pub fn label(self) -> &'static str {
        match self {
            SpaceState::Free => "Free",
            SpaceState::InUse => "In use",
            SpaceState::NeedsCleaning => "Needs cleaning",
            SpaceState::OutOfService => "Out of service",
        }
    }

    /// Parses a stored code.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "free" => SpaceState::Free,
            "in_use" => SpaceState::InUse,
            "needs_cleaning" => SpaceState::NeedsCleaning,
            "out_of_service" => SpaceState::OutOfService,
            _ => return None,
        })
    }
}

/// A space's state from what is stored: the service flag wins, then an open
/// episode, then the cleaning flag.
pub fn space_state(in_service: bool, open_episode: bool, needs_cleaning: bool) -> SpaceState {
    if open_episode {
        SpaceState::InUse
    } else if !in_service {
        SpaceState::OutOfService
    } else if needs_cleaning {
        SpaceState::NeedsCleaning
    } else {
        SpaceState::Free
    }
}

/// Why a space cannot take a new episode, or `None` when it can.
pub fn why_not_assignable(label: &str, state: SpaceState) -> Option<String> {
    match state {
        SpaceState::Free => None,
        SpaceState::InUse => Some(format!("space {label} is occupied")),
        SpaceState::NeedsCleaning => Some(format!("space {label} needs cleaning first")),
        SpaceState::OutOfService => Some(format!("space {label} is out of service")),
    }
}

/// Timer settings for one space kind, in minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindTimers {
    /// Amber when this long passes without an observation check.
    pub check_minutes: u32,
    /// Red when the episode runs this long.
    pub limit_minutes: u32,
}

/// Per-site timers for each space kind. Defaults: check every 5 minutes,
/// 30 minute limit (dcr-practice §1.1 step 5: 15–30 min in the booth; BC OPS
/// uses 15 \[ops-rules\]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timers {
    /// Injecting booths.
    pub injecting: KindTimers,
    /// Inhalation places.
    pub inhalation: KindTimers,
}

impl Default for Timers {
    fn default() -> Self {
        let t = KindTimers {
            check_minutes: 5,
            limit_minutes: 30,
        };
        Self {
            injecting: t,
            inhalation: t,
        }
    }
}

impl Timers {
    /// Timers for a kind.
    pub fn for_kind(&self, kind: SpaceKind) -> KindTimers {
        match kind {
            SpaceKind::Injecting => self.injecting,
            SpaceKind::Inhalation => self.inhalation,
        }
    }

    /// Check interval 1–60 minutes, limit 1–240 and not shorter than the interval.
    pub fn validate(&self) -> Result<(), Invalid> {
        let mut inv = Invalid::default();
        for (name, t) in [("injecting", self.injecting), ("inhalation", self.inhalation)] {
            if !(1..=60).contains(&t.check_minutes) {
                inv.push(format!("timers.{name}.check_minutes"), "use 1–60 minutes");
            }
            if !(1..=240).contains(&t.limit_minutes) {
                inv.push(format!("timers.{name}.limit_minutes"), "use 1–240 minutes");
            } else if t.limit_minutes < t.check_minutes {
                inv.push(
                    format!("timers.{name}.limit_minutes"),
                    "cannot be shorter than the check interval",
                );
            }
        }
        inv.into_result()
    }
}

/// The board's colour for a space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Alarm {
    /// Nothing due.
    Normal,
    /// The check interval passed without an observation check.
    Amber,
    /// The time limit passed, or an emergency is open.
    Red,
}

impl Alarm {
    /// Wire code.
    pub fn as_str(self) -> &'static str {
        match self {
            Alarm::Normal => "normal",
            Alarm::Amber => "amber",
            Alarm::Red => "red",
        }
    }
}

/// A space's alarm at `now`: red once the time limit passes or while an
/// emergency is open; amber once the check interval passes since the last
/// check (or since the start when none was made). The browser repeats this
/// rule every second from the same timestamps (`haven.js`).
pub fn alarm(
    now: OffsetDateTime,
    started_at: OffsetDateTime,
    last_check_at: Option<OffsetDateTime>,
    timers: KindTimers,
    emergency_open: bool,
) -> Alarm {
    if emergency_open || now - started_at >= Duration::minutes(i64::from(timers.limit_minutes)) {
        return Alarm::Red;
    }
    let since = last_check_at.map_or(started_at, |c| c.max(started_at));
    if now - since >= Duration::minutes(i64::from(timers.check_minutes)) {
        Alarm::Amber
    } else {
        Alarm::Normal
    }
}

/// Raw input to start an episode. Substances and route default to the
/// visit's declaration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpisodeDraft {
    /// The visit (an open check-in).
    pub visit_id: String,
    /// The space to assign.
    pub space_id: String,
    /// Declared substances, if different from check-in.
    #[serde(default)]
    pub substances: Option<Vec<String>>,
    /// Route, if different from check-in.
    #[serde(default)]
    pub route: Option<String>,
    /// Start; defaults to now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
}

/// What the start rule needs to know about the visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitForEpisode {
    /// Arrival.
    pub arrived_at: OffsetDateTime,
    /// Checked out.
    pub left: bool,
    /// A refusal.
    pub refused: bool,
    /// Voided.
    pub voided: bool,
    /// Already has an episode running.
    pub has_open_episode: bool,
    /// Declared at check-in.
    pub substances: Vec<String>,
    /// Declared at check-in.
    pub route: Option<String>,
}

/// A validated episode start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEpisode {
    /// Start.
    pub started_at: OffsetDateTime,
    /// Substances.
    pub substances: Vec<String>,
    /// Route.
    pub route: String,
}

/// Validates an episode start against the visit and the space's state. The
/// per-kind route and substance rule is [`crate::eligibility::allowed_in_kind`].
pub fn prepare_episode(
    draft: &EpisodeDraft,
    visit: &VisitForEpisode,
    space_label: &str,
    state: SpaceState,
    site_substances: &[String],
    site_routes: &[String],
    now: OffsetDateTime,
) -> Result<NewEpisode, Invalid> {
    if visit.voided || visit.refused || visit.left {
        return Err(Invalid::one(
            "visit_id",
            "this visit is not open (refused, voided or checked out)",
        ));
    }
    if visit.has_open_episode {
        return Err(Invalid::one("visit_id", "this person already has an episode running"));
    }
    if let Some(why) = why_not_assignable(space_label, state) {
        return Err(Invalid::one("space_id", why));
    }
    let mut inv = Invalid::default();
    let started_at = crate::clock::truncate_micros(draft.started_at.unwrap_or(now));
    if started_at > now + FUTURE_TOLERANCE {
        inv.push("started_at", "cannot be in the future");
    } else if started_at < visit.arrived_at {
        inv.push("started_at", "cannot be before the person arrived");
    }
    let substances = draft.substances.clone().unwrap_or_else(|| visit.substances.clone());
    let mut seen: Vec<String> = Vec::new();
    for s in &substances {
        if !site_substances.contains(s) {
            inv.push("substances", format!("unknown substance `{s}`"));
        } else if !seen.contains(s) {
            seen.push(s.clone());
        }
    }
    if seen.is_empty() && inv.0.iter().all(|e| e.field != "substances") {
        inv.push("substances", "declare at least one substance");
    }
    let route = draft
        .route
        .clone()
        .filter(|r| !r.is_empty())
        .or_else(|| visit.route.clone());
    let route = match route {
        None => {
            inv.push("route", "declare how the substances will be used");
            String::new()
        }
        Some(r) if site_routes.contains(&r) => r,
        Some(r) => {
            inv.push("route", format!("unknown route `{r}`"));
            String::new()
        }
    };
    inv.into_result()?;
    Ok(NewEpisode {
        started_at,
        substances: seen,
        route,
    })
}

/// How a person responded at an observation check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Responsiveness {
    /// Awake and responding.
    Responsive,
    /// Drowsy but rousable.
    Drowsy,
    /// Not responding: an emergency opens at once.
    Unresponsive,
}

impl Responsiveness {
    /// Wire code.
    pub fn as_str(self) -> &'static str {
        match self {
            Responsiveness::Responsive => "responsive",
            Responsiveness::Drowsy => "drowsy",
            Responsiveness::Unresponsive => "unresponsive",
        }
    }

    /// Parses a code.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "responsive" => Responsiveness::Responsive,
            "drowsy" => Responsiveness::Drowsy,
            "unresponsive" => Responsiveness::Unresponsive,
            _ => return None,
        })
    }
}

/// Raw observation check input.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckDraft {
    /// `responsive`, `drowsy` or `unresponsive`.
    pub status: String,
    /// Breaths per minute.
    #[serde(default)]
    pub resp_rate: Option<u16>,
    /// Oxygen saturation, %.
    #[serde(default)]
    pub spo2: Option<u16>,
    /// Sedation score 0–3.
    #[serde(default)]
    pub sedation: Option<u16>,
    /// When; defaults to now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub at: Option<OffsetDateTime>,
}

/// A validated observation check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCheck {
    /// When.
    pub at: OffsetDateTime,
    /// Responsiveness.
    pub status: Responsiveness,
    /// Vitals (respiratory rate, SpO2, sedation).
    pub vitals: Vitals,
}

/// Validates a check during a running episode.
pub fn prepare_check(
    draft: &CheckDraft,
    started_at: OffsetDateTime,
    ended: bool,
    now: OffsetDateTime,
) -> Result<NewCheck, Invalid> {
    if ended {
        return Err(Invalid::one("episode", "this episode has ended"));
    }
    let mut inv = Invalid::default();
    let status = Responsiveness::parse(&draft.status);
    if status.is_none() {
        inv.push("status", "choose responsive, drowsy or unresponsive");
    }
    let at = crate::clock::truncate_micros(draft.at.unwrap_or(now));
    if at < started_at {
        inv.push("at", "cannot be before the episode started");
    } else if at > now + FUTURE_TOLERANCE {
        inv.push("at", "cannot be in the future");
    }
    let vitals = Vitals {
        resp_rate: draft.resp_rate,
        spo2: draft.spo2,
        pulse: None,
        gcs: None,
        sedation: draft.sedation,
    };
    validate_vitals(&vitals, &mut inv);
    inv.into_result()?;
    Ok(NewCheck {
        at,
        status: status.unwrap_or(Responsiveness::Responsive),
        vitals,
    })
}

/// Validates the end of an episode (ending twice is refused).
pub fn prepare_end(
    started_at: OffsetDateTime,
    ended: bool,
    at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<OffsetDateTime, Invalid> {
    if ended {
        return Err(Invalid::one("episode", "this episode has already ended"));
    }
    let at = crate::clock::truncate_micros(at.unwrap_or(now));
    if at < started_at {
        return Err(Invalid::one("ended_at", "cannot be before the episode started"));
    }
    if at > now + FUTURE_TOLERANCE {
        return Err(Invalid::one("ended_at", "cannot be in the future"));
    }
    Ok(at)
}

/// Validates entering after-care: the visit must be open, with no episode
/// running and not already in after-care.
pub fn prepare_aftercare(
    visit_open: bool,
    episode_running: bool,
    in_aftercare: bool,
    arrived_at: OffsetDateTime,
    at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<OffsetDateTime, Invalid> {
    if !visit_open {
        return Err(Invalid::one("visit_id", "this visit is not open"));
    }
    if episode_running {
        return Err(Invalid::one("visit_id", "end the episode first"));
    }
    if in_aftercare {
        return Err(Invalid::one("visit_id", "already in after-care"));
    }
    let at = crate::clock::truncate_micros(at.unwrap_or(now));
    if at < arrived_at {
        return Err(Invalid::one("entered_at", "cannot be before the person arrived"));
    }
    if at > now + FUTURE_TOLERANCE {
        return Err(Invalid::one("entered_at", "cannot be in the future"));
    }
    Ok(at)
}

/// Validates leaving after-care with an observation note (at most 2,000 characters).
pub fn prepare_leave_aftercare(
    entered_at: OffsetDateTime,
    left: bool,
    observation: &str,
    at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<(OffsetDateTime, String), Invalid> {
    if left {
        return Err(Invalid::one("aftercare", "already left after-care"));
    }
    let mut inv = Invalid::default();
    let at = crate::clock::truncate_micros(at.unwrap_or(now));
    if at < entered_at {
        inv.push("left_at", "cannot be before entering after-care");
    } else if at > now + FUTURE_TOLERANCE {
        inv.push("left_at", "cannot be in the future");
    }
    let obs = observation.trim();
    if obs.chars().count() > 2000 {
        inv.push("observation", "at most 2,000 characters");
    }
    inv.into_result()?;
    Ok((at, obs.to_string()))
}

/// Validates a handover note: 1–4,000 characters.
pub fn prepare_handover_note(text: &str) -> Result<String, Invalid> {
    let t = text.trim();
    if t.is_empty() {
        return Err(Invalid::one("text", "write the note"));
    }
    if t.chars().count() > 4000 {
        return Err(Invalid::one("text", "at most 4,000 characters"));
    }
    Ok(t.to_string())
}

/// One person waiting for a space, for the board's waiting list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// Visit.
    pub visit_id: String,
    /// Arrival.
    pub arrived_at: OffsetDateTime,
}

/// Orders the waiting list first come, first served.
pub fn waiting_order(mut w: Vec<Waiting>) -> Vec<Waiting> {
    w.sort_by(|a, b| {
        a.arrived_at
            .cmp(&b.arrived_at)
            .then_with(|| a.visit_id.cmp(&b.visit_id))
    });
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-26 10:00 UTC);

    fn timers() -> KindTimers {
        Timers::default().injecting
    }

    #[test]
    fn space_state_precedence() {
        assert_eq!(space_state(true, false, false), SpaceState::Free);
        assert_eq!(space_state(true, true, false), SpaceState::InUse);
        assert_eq!(space_state(false, true, false), SpaceState::InUse);
        assert_eq!(space_state(false, false, true), SpaceState::OutOfService);
        assert_eq!(space_state(true, false, true), SpaceState::NeedsCleaning);
        for s in ["free", "in_use", "needs_cleaning", "out_of_service"] {
            assert_eq!(SpaceState::parse(s).map(SpaceState::as_str), Some(s));
        }
    }

    #[test]
    fn alarm_defaults_amber_after_5_minutes_red_after_30_dcr_practice_1_1() {
        let t = timers();
        assert_eq!(alarm(T0 + Duration::minutes(4), T0, None, t, false), Alarm::Normal);
        assert_eq!(alarm(T0 + Duration::minutes(5), T0, None, t, false), Alarm::Amber);
        // A check resets the interval.
        let c = T0 + Duration::minutes(4);
        assert_eq!(alarm(T0 + Duration::minutes(8), T0, Some(c), t, false), Alarm::Normal);
        assert_eq!(alarm(T0 + Duration::minutes(9), T0, Some(c), t, false), Alarm::Amber);
        // The limit wins over a fresh check.
        let late = T0 + Duration::minutes(30);
        assert_eq!(alarm(late, T0, Some(late), t, false), Alarm::Red);
        // An open emergency is red at once.
        assert_eq!(alarm(T0, T0, None, t, true), Alarm::Red);
    }

    #[test]
    fn timers_validate() {
        assert!(Timers::default().validate().is_ok());
        let mut t = Timers::default();
        t.inhalation.limit_minutes = 3;
        let e = t.validate().unwrap_err();
        assert_eq!(e.0[0].field, "timers.inhalation.limit_minutes");
        t.injecting.check_minutes = 0;
        assert_eq!(t.validate().unwrap_err().0.len(), 2);
    }

    fn visit() -> VisitForEpisode {
        VisitForEpisode {
            arrived_at: T0,
            left: false,
            refused: false,
            voided: false,
            has_open_episode: false,
            substances: vec!["heroin".into()],
            route: Some("injection".into()),
        }
    }

    fn subs() -> Vec<String> {
        vec!["heroin".into(), "cocaine".into()]
    }

    fn routes() -> Vec<String> {
        vec!["injection".into(), "inhalation".into()]
    }

    #[test]
    fn episode_takes_visit_declaration_by_default() {
        let d = EpisodeDraft::default();
        let now = T0 + Duration::minutes(3);
        let e = prepare_episode(&d, &visit(), "B1", SpaceState::Free, &subs(), &routes(), now).unwrap();
        assert_eq!(e.route, "injection");
        assert_eq!(e.substances, vec!["heroin".to_string()]);
        assert_eq!(e.started_at, now);
    }

    #[test]
    fn episode_refused_on_occupied_or_out_of_service_space() {
        let d = EpisodeDraft::default();
        for (state, word) in [
            (SpaceState::InUse, "occupied"),
            (SpaceState::OutOfService, "out of service"),
            (SpaceState::NeedsCleaning, "cleaning"),
        ] {
            let e = prepare_episode(&d, &visit(), "B1", state, &subs(), &routes(), T0).unwrap_err();
            assert_eq!(e.0[0].field, "space_id");
            assert!(e.0[0].message.contains(word), "{}", e.0[0].message);
        }
    }

    #[test]
    fn episode_refused_for_closed_visit_or_second_episode() {
        let d = EpisodeDraft::default();
        let mut v = visit();
        v.left = true;
        let e = prepare_episode(&d, &v, "B1", SpaceState::Free, &subs(), &routes(), T0).unwrap_err();
        assert_eq!(e.0[0].field, "visit_id");
        let mut v = visit();
        v.has_open_episode = true;
        let e = prepare_episode(&d, &v, "B1", SpaceState::Free, &subs(), &routes(), T0).unwrap_err();
        assert_eq!(e.0[0].field, "visit_id");
    }

    #[test]
    fn episode_needs_route_and_known_substances() {
        let mut v = visit();
        v.route = None;
        v.substances = vec![];
        let d = EpisodeDraft {
            substances: Some(vec!["glue".into()]),
            ..Default::default()
        };
        let e = prepare_episode(&d, &v, "B1", SpaceState::Free, &subs(), &routes(), T0).unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["substances", "route"]);
        let d = EpisodeDraft {
            started_at: Some(T0 - Duration::minutes(1)),
            ..Default::default()
        };
        let e = prepare_episode(&d, &visit(), "B1", SpaceState::Free, &subs(), &routes(), T0).unwrap_err();
        assert_eq!(e.0[0].field, "started_at");
    }

    #[test]
    fn check_validates_status_time_and_vitals() {
        let d = CheckDraft {
            status: "asleep".into(),
            spo2: Some(130),
            at: Some(T0 - Duration::seconds(1)),
            ..Default::default()
        };
        let e = prepare_check(&d, T0, false, T0 + Duration::minutes(1)).unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["status", "at", "spo2"]);
        let d = CheckDraft {
            status: "drowsy".into(),
            resp_rate: Some(10),
            ..Default::default()
        };
        let c = prepare_check(&d, T0, false, T0 + Duration::minutes(1)).unwrap();
        assert_eq!(c.status, Responsiveness::Drowsy);
        assert_eq!(c.vitals.resp_rate, Some(10));
        assert_eq!(prepare_check(&d, T0, true, T0).unwrap_err().0[0].field, "episode");
    }

    #[test]
    fn ending_twice_is_refused() {
        assert!(prepare_end(T0, false, None, T0 + Duration::minutes(10)).is_ok());
        let e = prepare_end(T0, true, None, T0 + Duration::minutes(10)).unwrap_err();
        assert!(e.0[0].message.contains("already"));
        let e = prepare_end(T0, false, Some(T0 - Duration::seconds(1)), T0).unwrap_err();
        assert_eq!(e.0[0].field, "ended_at");
    }

    #[test]
    fn aftercare_rules() {
        let now = T0 + Duration::minutes(20);
        assert!(prepare_aftercare(true, false, false, T0, None, now).is_ok());
        assert!(prepare_aftercare(true, true, false, T0, None, now).is_err());
        assert!(prepare_aftercare(true, false, true, T0, None, now).is_err());
        assert!(prepare_aftercare(false, false, false, T0, None, now).is_err());
        let (at, obs) = prepare_leave_aftercare(T0, false, "  fine, left with friend ", None, now).unwrap();
        assert_eq!((at, obs.as_str()), (now, "fine, left with friend"));
        assert!(prepare_leave_aftercare(T0, true, "", None, now).is_err());
    }

    #[test]
    fn handover_note_limits() {
        assert!(prepare_handover_note("  ").is_err());
        assert!(prepare_handover_note(&"x".repeat(4001)).is_err());
        assert_eq!(prepare_handover_note(" B3 door sticks ").unwrap(), "B3 door sticks");
    }

    proptest! {
        /// Amber never comes before the check interval and red never before the limit
        /// (without an emergency): the alarm only rises with time.
        #[test]
        fn alarm_is_monotonic_in_time(a in 0i64..3600, b in 0i64..3600, check in 0i64..1800) {
            let (early, late) = (a.min(b), a.max(b));
            let last = Some(T0 + Duration::seconds(check));
            let t = timers();
            let x = alarm(T0 + Duration::seconds(early), T0, last, t, false);
            let y = alarm(T0 + Duration::seconds(late), T0, last, t, false);
            prop_assert!(x <= y);
        }

        #[test]
        fn waiting_order_is_by_arrival(offsets in proptest::collection::vec(0i64..10_000, 0..30)) {
            let w: Vec<Waiting> = offsets.iter().enumerate()
                .map(|(i, o)| Waiting { visit_id: format!("v{i:03}"), arrived_at: T0 + Duration::seconds(*o) })
                .collect();
            let sorted = waiting_order(w);
            prop_assert!(sorted.windows(2).all(|p| p[0].arrived_at <= p[1].arrived_at));
        }
    }
}
