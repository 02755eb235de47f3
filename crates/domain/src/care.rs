//! Care beyond supervision: services given on site during a visit (wound care,
//! blood-borne virus tests, naloxone, showers…) and referrals to services
//! elsewhere, whose status is followed over time.
//!
//! Sources: dcr-practice §5.4 (ONHRDB coded services and referral types, MSIC
//! and Thistle services and referral targets, Health Canada's definition of a
//! referral) and §6.6 (EMCDDA typical services). Both lists are per-site
//! settings; the defaults below are a starting point, not a rule.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::{Invalid, visit::FUTURE_TOLERANCE};

/// Longest free-text note on a service or a referral update.
pub const NOTE_MAX_CHARS: usize = 1000;

/// Default services given on site. Sources, dcr-practice §5.4 unless stated:
/// wound care, shower, laundry, clothing (Thistle \[thistle-data\]); vein care
/// advice (MSIC, 49% of occasions of service \[msic-6m\]); BBV tests offered /
/// taken (ONHRDB "tests provided" \[onhrdb-mds\]; Thistle on-site BBV clinic);
/// naloxone training and kits (§5.5 \[onhrdb-faq\]; §6.6 \[emcdda-mg\]); sexual
/// health (Thistle on-site clinic); mental health check (ONHRDB "brief
/// counselling"); housing / benefits advice and food (ONHRDB "practical
/// support"; food itself is not named in the sources \[U\]); peer support
/// (Thistle planned evaluation, §6.2 \[thistle-pq\]).
pub const DEFAULT_SERVICES: [&str; 14] = [
    "wound_care",
    "vein_care_advice",
    "bbv_test_offered",
    "bbv_test_taken",
    "naloxone_training",
    "naloxone_kit",
    "sexual_health",
    "mental_health_check",
    "housing_benefits_advice",
    "shower",
    "laundry",
    "clothing",
    "food",
    "peer_support",
];

/// Service codes that carry a list of blood-borne virus tests.
pub const BBV_SERVICES: [&str; 2] = ["bbv_test_offered", "bbv_test_taken"];

/// Default referral categories. Sources, dcr-practice §5.4: drug treatment /
/// OST (MSIC 42% \[msic-6m\]; Thistle addiction care 13.3% \[thistle-9m\]);
/// housing (Thistle 46%); BBV treatment (Thistle BBV team ~10%); sexual and
/// reproductive health (Thistle ~4%); primary care (MSIC 33%); social work
/// (MSIC social welfare 25%); heroin-assisted treatment (EMCDDA OAT, §6.6
/// \[emcdda-mg\]); mental health, hospital and legal fall under Health Canada's
/// "health or social services … onsite or offsite" \[hc-understand\] but are not
/// named as categories in the sources \[U\].
pub const DEFAULT_REFERRAL_CATEGORIES: [&str; 10] = [
    "drug_treatment_ost",
    "heroin_assisted_treatment",
    "housing",
    "mental_health",
    "bbv_treatment",
    "sexual_reproductive_health",
    "primary_care",
    "hospital",
    "social_work",
    "legal",
];

/// Days without news after which an open referral goes on the follow-up list.
/// \[U\] unverified: the sources give no interval; a per-site setting.
pub const DEFAULT_FOLLOW_UP_DAYS: u32 = 14;

/// `a, b or c`, for messages.
fn or_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// `wound_care` → `Wound care`, for codes a site added itself.
fn humanise(code: &str) -> String {
    let text = code.replace('_', " ");
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Label for staff of a service code; codes a site added are humanised.
pub fn service_label(code: &str) -> String {
    let known = match code {
        "wound_care" => "Wound care",
        "vein_care_advice" => "Vein care and injecting advice",
        "bbv_test_offered" => "BBV test offered",
        "bbv_test_taken" => "BBV test taken",
        "naloxone_training" => "Naloxone training",
        "naloxone_kit" => "Naloxone kit given",
        "sexual_health" => "Sexual health",
        "mental_health_check" => "Mental health check",
        "housing_benefits_advice" => "Housing and benefits advice",
        "shower" => "Shower",
        "laundry" => "Laundry",
        "clothing" => "Clothing",
        "food" => "Food",
        "peer_support" => "Peer support",
        _ => return humanise(code),
    };
    known.to_string()
}

/// Label for staff of a referral category; codes a site added are humanised.
pub fn referral_category_label(code: &str) -> String {
    let known = match code {
        "drug_treatment_ost" => "Drug treatment / OST",
        "heroin_assisted_treatment" => "Heroin-assisted treatment",
        "housing" => "Housing",
        "mental_health" => "Mental health",
        "bbv_treatment" => "BBV treatment",
        "sexual_reproductive_health" => "Sexual and reproductive health",
        "primary_care" => "Primary care (GP)",
        "hospital" => "Hospital",
        "social_work" => "Social work",
        "legal" => "Legal advice",
        _ => return humanise(code),
    };
    known.to_string()
}

/// Whether a service code carries BBV tests.
pub fn is_bbv_service(code: &str) -> bool {
    BBV_SERVICES.contains(&code)
}

/// A blood-borne virus test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BbvTest {
    /// HIV.
    Hiv,
    /// Hepatitis C.
    Hcv,
    /// Hepatitis B.
    Hbv,
}

impl BbvTest {
    /// Every test, in display order.
    pub const ALL: [BbvTest; 3] = [BbvTest::Hiv, BbvTest::Hcv, BbvTest::Hbv];

    /// Stored / wire code.
    pub fn as_str(self) -> &'static str {
        match self {
            BbvTest::Hiv => "hiv",
            BbvTest::Hcv => "hcv",
            BbvTest::Hbv => "hbv",
        }
    }

    /// Label for staff.
    pub fn label(self) -> &'static str {
        match self {
            BbvTest::Hiv => "HIV",
            BbvTest::Hcv => "Hepatitis C (HCV)",
            BbvTest::Hbv => "Hepatitis B (HBV)",
        }
    }

    /// Parses a stored code.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// The result of a BBV test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestResult {
    /// Sent off; no result yet.
    Pending,
    /// Negative.
    Negative,
    /// Positive (reactive).
    Positive,
    /// The test failed and gave no usable result.
    Invalid,
    /// The sample was never collected or never reached the lab.
    NotCollected,
}

impl TestResult {
    /// Every result, in display order.
    pub const ALL: [TestResult; 5] = [
        TestResult::Pending,
        TestResult::Negative,
        TestResult::Positive,
        TestResult::Invalid,
        TestResult::NotCollected,
    ];

    /// Stored / wire code.
    pub fn as_str(self) -> &'static str {
        match self {
            TestResult::Pending => "pending",
            TestResult::Negative => "negative",
            TestResult::Positive => "positive",
            TestResult::Invalid => "invalid",
            TestResult::NotCollected => "not_collected",
        }
    }

    /// Label for staff.
    pub fn label(self) -> &'static str {
        match self {
            TestResult::Pending => "Pending",
            TestResult::Negative => "Negative",
            TestResult::Positive => "Positive",
            TestResult::Invalid => "Invalid",
            TestResult::NotCollected => "Not collected",
        }
    }

    /// Parses a stored code.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Trims a note; empty becomes `None`, over [`NOTE_MAX_CHARS`] is an error.
fn check_note(inv: &mut Invalid, note: Option<&str>) -> Option<String> {
    let n = note.map(str::trim).filter(|n| !n.is_empty())?;
    if n.chars().count() > NOTE_MAX_CHARS {
        inv.push("note", format!("at most {NOTE_MAX_CHARS} characters"));
        return None;
    }
    Some(n.to_string())
}

/// Raw input for a service given during a visit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceDraft {
    /// Service code from the site's list.
    pub code: String,
    /// When it was given; defaults to now (or the departure, if the visit is over).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub at: Option<OffsetDateTime>,
    /// BBV test codes (`hiv`, `hcv`, `hbv`), only for the `bbv_test_*` services.
    #[serde(default)]
    pub tests: Vec<String>,
    /// Free-text note.
    #[serde(default)]
    pub note: Option<String>,
}

/// A validated service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewService {
    /// Service code.
    pub code: String,
    /// When it was given, UTC, microseconds.
    pub at: OffsetDateTime,
    /// BBV tests, in the order given, without repeats; empty for other services.
    pub tests: Vec<BbvTest>,
    /// Trimmed note.
    pub note: Option<String>,
}

/// Validates a service against the site's list and the visit's times: given
/// not before arrival, not after departure and not in the future.
pub fn prepare_service(
    draft: &ServiceDraft,
    allowed: &[String],
    visit_arrived_at: OffsetDateTime,
    visit_left_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<NewService, Invalid> {
    let mut inv = Invalid::default();
    let code = draft.code.trim();
    if !allowed.iter().any(|a| a == code) {
        let names: Vec<&str> = allowed.iter().map(String::as_str).collect();
        inv.push(
            "code",
            format!("unknown service `{code}`; choose one of: {}", names.join(", ")),
        );
    }
    // A service recorded after check-out happened during the visit, so the departure is the latest default.
    let default_at = visit_left_at.map_or(now, |l| l.min(now));
    let at = crate::clock::truncate_micros(draft.at.unwrap_or(default_at));
    if at > now + FUTURE_TOLERANCE {
        inv.push("at", "cannot be in the future");
    } else if at < visit_arrived_at {
        inv.push(
            "at",
            format!(
                "cannot be before the visit began ({})",
                crate::clock::rfc3339(visit_arrived_at)
            ),
        );
    } else if let Some(left) = visit_left_at.filter(|l| at > *l) {
        inv.push(
            "at",
            format!("cannot be after the visit ended ({})", crate::clock::rfc3339(left)),
        );
    }
    let mut tests = Vec::new();
    if is_bbv_service(code) {
        for t in &draft.tests {
            match BbvTest::parse(t.trim()) {
                Some(test) if !tests.contains(&test) => tests.push(test),
                Some(_) => {}
                None => inv.push("tests", format!("unknown test `{t}`; use hiv, hcv or hbv")),
            }
        }
        // Results are recorded per test, so a test taken must say which.
        if code == "bbv_test_taken" && draft.tests.is_empty() {
            inv.push("tests", "name at least one test taken (hiv, hcv or hbv)");
        }
    } else if !draft.tests.is_empty() {
        inv.push("tests", "tests belong only to the BBV test services");
    }
    let note = check_note(&mut inv, draft.note.as_deref());
    inv.into_result()?;
    Ok(NewService {
        code: code.to_string(),
        at,
        tests,
        note,
    })
}

/// A validated BBV test result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewTestResult {
    /// The test.
    pub test: BbvTest,
    /// Its result.
    pub result: TestResult,
    /// When the result was recorded, UTC, microseconds.
    pub result_at: OffsetDateTime,
}

/// Validates a result for a test taken at `taken_at`: a known test and result,
/// dated not before the test was taken and not in the future.
pub fn prepare_test_result(
    test: &str,
    result: &str,
    recorded_at: Option<OffsetDateTime>,
    taken_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<NewTestResult, Invalid> {
    let mut inv = Invalid::default();
    let test = BbvTest::parse(test.trim());
    if test.is_none() {
        inv.push("test", "use hiv, hcv or hbv");
    }
    let result = TestResult::parse(result.trim());
    if result.is_none() {
        let names: Vec<&str> = TestResult::ALL.iter().map(|r| r.as_str()).collect();
        inv.push("result", format!("use {}", or_list(&names)));
    }
    let result_at = crate::clock::truncate_micros(recorded_at.unwrap_or(now));
    if result_at > now + FUTURE_TOLERANCE {
        inv.push("result_at", "cannot be in the future");
    } else if result_at < taken_at {
        inv.push(
            "result_at",
            format!(
                "cannot be before the test was taken ({})",
                crate::clock::rfc3339(taken_at)
            ),
        );
    }
    inv.into_result()?;
    match (test, result) {
        (Some(test), Some(result)) => Ok(NewTestResult {
            test,
            result,
            result_at,
        }),
        // Unreachable: a missing test or result pushed an error above.
        _ => Err(Invalid::one("test", "use hiv, hcv or hbv")),
    }
}

/// Status of a referral. A referral starts `made`; the outcome follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferralStatus {
    /// Referral made by staff.
    Made,
    /// The receiving service accepted the person.
    Accepted,
    /// The receiving service or the person declined.
    Declined,
    /// The person attended.
    Attended,
    /// The person did not attend.
    NotAttended,
    /// Nothing more to follow up.
    Closed,
}

impl ReferralStatus {
    /// Every status, in display order.
    pub const ALL: [ReferralStatus; 6] = [
        ReferralStatus::Made,
        ReferralStatus::Accepted,
        ReferralStatus::Declined,
        ReferralStatus::Attended,
        ReferralStatus::NotAttended,
        ReferralStatus::Closed,
    ];

    /// Stored / wire code.
    pub fn as_str(self) -> &'static str {
        match self {
            ReferralStatus::Made => "made",
            ReferralStatus::Accepted => "accepted",
            ReferralStatus::Declined => "declined",
            ReferralStatus::Attended => "attended",
            ReferralStatus::NotAttended => "not_attended",
            ReferralStatus::Closed => "closed",
        }
    }

    /// Label for staff.
    pub fn label(self) -> &'static str {
        match self {
            ReferralStatus::Made => "Made",
            ReferralStatus::Accepted => "Accepted",
            ReferralStatus::Declined => "Declined",
            ReferralStatus::Attended => "Attended",
            ReferralStatus::NotAttended => "Did not attend",
            ReferralStatus::Closed => "Closed",
        }
    }

    /// Parses a stored code.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Statuses this one may move to. Attendance needs an acceptance first, so
    /// `made` cannot go straight to `attended`; any open referral may be closed.
    pub fn allowed_next(self) -> &'static [ReferralStatus] {
        use ReferralStatus::*;
        match self {
            Made => &[Accepted, Declined, Closed],
            Accepted => &[Attended, NotAttended, Closed],
            Declined | Attended | NotAttended => &[Closed],
            Closed => &[],
        }
    }

    /// Whether this status may move to `next`.
    pub fn can_become(self, next: ReferralStatus) -> bool {
        self.allowed_next().contains(&next)
    }
}

/// One dated step in a referral's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferralEvent {
    /// Status from this date.
    pub status: ReferralStatus,
    /// Date of the step (a local calendar date at the site).
    pub on: Date,
    /// Trimmed note.
    pub note: Option<String>,
}

/// A validated new referral: its category and its first event (`made`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReferral {
    /// Category code from the site's list.
    pub category: String,
    /// The `made` event.
    pub made: ReferralEvent,
}

/// Validates a new referral: a category from the site's list, made today or earlier.
pub fn prepare_referral(
    category: &str,
    made_on: Date,
    allowed_categories: &[String],
    today: Date,
) -> Result<NewReferral, Invalid> {
    let mut inv = Invalid::default();
    let category = category.trim();
    if !allowed_categories.iter().any(|c| c == category) {
        let names: Vec<&str> = allowed_categories.iter().map(String::as_str).collect();
        inv.push(
            "category",
            format!("unknown category `{category}`; choose one of: {}", names.join(", ")),
        );
    }
    if made_on > today {
        inv.push("made_on", "cannot be in the future");
    }
    inv.into_result()?;
    Ok(NewReferral {
        category: category.to_string(),
        made: ReferralEvent {
            status: ReferralStatus::Made,
            on: made_on,
            note: None,
        },
    })
}

/// The status now: the last event's, or `made` for an empty history.
pub fn current_status(history: &[ReferralEvent]) -> ReferralStatus {
    history.last().map_or(ReferralStatus::Made, |e| e.status)
}

/// Validates the next step of a referral whose events, oldest first, are
/// `history`: an allowed transition, dated not before the referral or its
/// last step, and not in the future.
pub fn prepare_status_change(
    history: &[ReferralEvent],
    new_status: &str,
    on: Date,
    today: Date,
    note: Option<&str>,
) -> Result<ReferralEvent, Invalid> {
    let (Some(first), Some(last)) = (history.first(), history.last()) else {
        return Err(Invalid::one("referral", "no referral was made"));
    };
    let mut inv = Invalid::default();
    let current = last.status;
    let status = ReferralStatus::parse(new_status.trim());
    match status {
        None => {
            let names: Vec<&str> = ReferralStatus::ALL.iter().map(|s| s.as_str()).collect();
            inv.push(
                "status",
                format!("unknown status `{new_status}`; use {}", or_list(&names)),
            );
        }
        Some(_) if current == ReferralStatus::Closed => {
            inv.push("status", "the referral is closed; it cannot change");
        }
        Some(next) if !current.can_become(next) => {
            let names: Vec<&str> = current.allowed_next().iter().map(|s| s.as_str()).collect();
            inv.push(
                "status",
                format!(
                    "cannot go from {} to {}; next can be: {}",
                    current.as_str(),
                    next.as_str(),
                    or_list(&names)
                ),
            );
        }
        Some(_) => {}
    }
    if on > today {
        inv.push("on", "cannot be in the future");
    } else if on < first.on {
        inv.push("on", format!("cannot be before the referral was made ({})", first.on));
    } else if on < last.on {
        inv.push(
            "on",
            format!(
                "cannot be before the last update ({}, {})",
                last.on,
                last.status.as_str()
            ),
        );
    }
    let note = check_note(&mut inv, note);
    inv.into_result()?;
    match status {
        Some(status) => Ok(ReferralEvent { status, on, note }),
        // Unreachable: an unknown status pushed an error above.
        None => Err(Invalid::one("status", "unknown status")),
    }
}

/// Follow-up list rule: an open (not closed) referral whose last event is more
/// than `days` days before `today`. An empty history has nothing to follow.
pub fn needs_follow_up(history: &[ReferralEvent], today: Date, days: u32) -> bool {
    match history.last() {
        Some(last) if last.status != ReferralStatus::Closed => (today - last.on).whole_days() > i64::from(days),
        _ => false,
    }
}

/// Per-site services, referral categories and follow-up interval. Missing keys
/// take the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CareSettings {
    /// Service codes offered (see [`DEFAULT_SERVICES`]).
    pub services: Vec<String>,
    /// Referral category codes (see [`DEFAULT_REFERRAL_CATEGORIES`]).
    pub referral_categories: Vec<String>,
    /// Days without news before an open referral needs follow-up (see [`DEFAULT_FOLLOW_UP_DAYS`]).
    pub follow_up_days: u32,
}

impl Default for CareSettings {
    fn default() -> Self {
        let v = |xs: &[&str]| xs.iter().map(|s| (*s).to_string()).collect();
        Self {
            services: v(&DEFAULT_SERVICES),
            referral_categories: v(&DEFAULT_REFERRAL_CATEGORIES),
            follow_up_days: DEFAULT_FOLLOW_UP_DAYS,
        }
    }
}

impl CareSettings {
    /// Parses settings JSON (empty or `{}` gives the defaults); unknown keys are rejected.
    pub fn from_json(s: &str) -> Result<Self, Invalid> {
        if s.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_json::from_str(s).map_err(|e| Invalid::one("settings", e.to_string()))
    }

    /// Serialises for storage.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// Checks the lists (non-empty, plain codes as in site settings: 1–40
    /// lower-case letters, digits or `_`, no repeats) and a follow-up of 1–365 days.
    pub fn validate(&self) -> Result<(), Invalid> {
        let mut inv = Invalid::default();
        for (name, list) in [
            ("services", &self.services),
            ("referral_categories", &self.referral_categories),
        ] {
            if list.is_empty() {
                inv.push(name, "must list at least one code");
            }
            for (i, code) in list.iter().enumerate() {
                let plain = !code.is_empty()
                    && code.len() <= 40
                    && code
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                if !plain {
                    inv.push(name, format!("`{code}`: use 1–40 lower-case letters, digits or _"));
                } else if list[..i].contains(code) {
                    inv.push(name, format!("`{code}` is listed twice"));
                }
            }
        }
        if !(1..=365).contains(&self.follow_up_days) {
            inv.push("follow_up_days", "use 1–365 days");
        }
        inv.into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReferralStatus::*;
    use proptest::prelude::*;
    use time::Duration;
    use time::macros::{date, datetime};

    const NOW: OffsetDateTime = datetime!(2026-11-02 12:00 UTC);
    const TODAY: Date = date!(2026 - 11 - 20);

    fn fields(e: &Invalid) -> Vec<&str> {
        e.0.iter().map(|f| f.field.as_str()).collect()
    }

    fn allowed() -> Vec<String> {
        CareSettings::default().services
    }

    fn categories() -> Vec<String> {
        CareSettings::default().referral_categories
    }

    fn draft(code: &str, tests: &[&str]) -> ServiceDraft {
        ServiceDraft {
            code: code.into(),
            tests: tests.iter().map(|t| (*t).to_string()).collect(),
            ..Default::default()
        }
    }

    fn ev(status: ReferralStatus, on: Date) -> ReferralEvent {
        ReferralEvent { status, on, note: None }
    }

    #[test]
    fn default_services_follow_dcr_practice_5_4_thistle_msic_onhrdb() {
        for code in [
            "wound_care",
            "shower",
            "laundry",
            "clothing",
            "vein_care_advice",
            "bbv_test_taken",
        ] {
            assert!(DEFAULT_SERVICES.contains(&code), "{code}");
        }
        assert_eq!(DEFAULT_SERVICES.len(), 14);
        assert!(CareSettings::default().validate().is_ok());
        assert_eq!(service_label("wound_care"), "Wound care");
        assert_eq!(service_label("needle_exchange"), "Needle exchange");
    }

    #[test]
    fn default_referral_categories_follow_dcr_practice_5_4_msic_thistle() {
        for code in [
            "drug_treatment_ost",
            "housing",
            "bbv_treatment",
            "sexual_reproductive_health",
            "primary_care",
        ] {
            assert!(DEFAULT_REFERRAL_CATEGORIES.contains(&code), "{code}");
        }
        assert_eq!(referral_category_label("housing"), "Housing");
    }

    #[test]
    fn codes_round_trip() {
        for t in BbvTest::ALL {
            assert_eq!(BbvTest::parse(t.as_str()), Some(t));
        }
        for r in TestResult::ALL {
            assert_eq!(TestResult::parse(r.as_str()), Some(r));
        }
        for s in ReferralStatus::ALL {
            assert_eq!(ReferralStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(BbvTest::parse("HIV"), None);
        assert_eq!(TestResult::parse("maybe"), None);
    }

    #[test]
    fn a_service_during_the_visit_is_accepted() {
        let mut d = draft("bbv_test_taken", &["hiv", "hcv", "hiv"]);
        d.at = Some(NOW - Duration::minutes(10));
        d.note = Some("  dry blood spot  ".into());
        let s = prepare_service(&d, &allowed(), NOW - Duration::hours(1), None, NOW).unwrap();
        assert_eq!(s.tests, [BbvTest::Hiv, BbvTest::Hcv]);
        assert_eq!(s.note.as_deref(), Some("dry blood spot"));
        let s = prepare_service(&draft("shower", &[]), &allowed(), NOW - Duration::hours(1), None, NOW).unwrap();
        assert_eq!(s.at, NOW);
    }

    #[test]
    fn a_service_after_check_out_defaults_to_the_departure() {
        let left = NOW - Duration::minutes(30);
        let s = prepare_service(
            &draft("food", &[]),
            &allowed(),
            NOW - Duration::hours(1),
            Some(left),
            NOW,
        )
        .unwrap();
        assert_eq!(s.at, left);
    }

    #[test]
    fn a_service_not_on_the_site_list_names_code() {
        let e = prepare_service(&draft("massage", &[]), &allowed(), NOW, None, NOW).unwrap_err();
        assert_eq!(fields(&e), ["code"]);
    }

    #[test]
    fn a_service_outside_the_visit_names_at() {
        let arrived = NOW - Duration::hours(2);
        let left = NOW - Duration::hours(1);
        for at in [
            arrived - Duration::minutes(1),
            left + Duration::minutes(1),
            NOW + Duration::minutes(5),
        ] {
            let mut d = draft("wound_care", &[]);
            d.at = Some(at);
            let e = prepare_service(&d, &allowed(), arrived, Some(left), NOW).unwrap_err();
            assert_eq!(fields(&e), ["at"], "{at}");
        }
        let mut d = draft("wound_care", &[]);
        d.at = Some(NOW + Duration::minutes(5));
        let e = prepare_service(&d, &allowed(), arrived, None, NOW).unwrap_err();
        assert_eq!(e.0[0].message, "cannot be in the future");
        // Device clock drift within the tolerance is accepted.
        d.at = Some(NOW + Duration::seconds(30));
        assert!(prepare_service(&d, &allowed(), arrived, None, NOW).is_ok());
    }

    #[test]
    fn tests_only_on_bbv_services_and_known_names_tests() {
        let e = prepare_service(&draft("shower", &["hiv"]), &allowed(), NOW, None, NOW).unwrap_err();
        assert_eq!(fields(&e), ["tests"]);
        let e = prepare_service(
            &draft("bbv_test_offered", &["hiv", "syphilis"]),
            &allowed(),
            NOW,
            None,
            NOW,
        )
        .unwrap_err();
        assert_eq!(fields(&e), ["tests"]);
        let e = prepare_service(&draft("bbv_test_taken", &[]), &allowed(), NOW, None, NOW).unwrap_err();
        assert_eq!(fields(&e), ["tests"]);
        assert!(prepare_service(&draft("bbv_test_offered", &[]), &allowed(), NOW, None, NOW).is_ok());
    }

    #[test]
    fn a_long_note_names_note() {
        let mut d = draft("food", &[]);
        d.note = Some("x".repeat(NOTE_MAX_CHARS + 1));
        let e = prepare_service(&d, &allowed(), NOW, None, NOW).unwrap_err();
        assert_eq!(fields(&e), ["note"]);
        d.note = Some("é".repeat(NOTE_MAX_CHARS));
        assert!(prepare_service(&d, &allowed(), NOW, None, NOW).is_ok());
    }

    #[test]
    fn service_draft_rejects_unknown_fields() {
        let d: ServiceDraft = serde_json::from_str(r#"{"code":"shower","at":"2026-11-02T11:00:00Z"}"#).unwrap();
        assert_eq!(d.at, Some(datetime!(2026-11-02 11:00 UTC)));
        assert!(serde_json::from_str::<ServiceDraft>(r#"{"code":"shower","colour":"red"}"#).is_err());
    }

    #[test]
    fn test_result_dated_before_the_test_names_result_at() {
        let taken = NOW - Duration::days(3);
        let r = prepare_test_result("hcv", "negative", Some(NOW - Duration::days(1)), taken, NOW).unwrap();
        assert_eq!((r.test, r.result), (BbvTest::Hcv, TestResult::Negative));
        let e = prepare_test_result("hcv", "negative", Some(taken - Duration::hours(1)), taken, NOW).unwrap_err();
        assert_eq!(fields(&e), ["result_at"]);
        assert!(e.0[0].message.contains("before the test was taken"));
        let e = prepare_test_result("hcv", "negative", Some(NOW + Duration::hours(1)), taken, NOW).unwrap_err();
        assert_eq!(fields(&e), ["result_at"]);
        let e = prepare_test_result("flu", "maybe", None, taken, NOW).unwrap_err();
        assert_eq!(fields(&e), ["test", "result"]);
    }

    #[test]
    fn referral_needs_a_known_category_and_a_past_date() {
        let r = prepare_referral("housing", TODAY, &categories(), TODAY).unwrap();
        assert_eq!(r.made, ev(Made, TODAY));
        let e = prepare_referral("astrology", TODAY, &categories(), TODAY).unwrap_err();
        assert_eq!(fields(&e), ["category"]);
        let e = prepare_referral("housing", TODAY + Duration::days(1), &categories(), TODAY).unwrap_err();
        assert_eq!(fields(&e), ["made_on"]);
    }

    #[test]
    fn every_transition_pair_is_allowed_or_refused_as_in_the_issue() {
        // (from, to, allowed): the full 6 × 6 table.
        let table: [(ReferralStatus, [bool; 6]); 6] = [
            // Columns in ReferralStatus::ALL order: made, accepted, declined, attended, not_attended, closed.
            (Made, [false, true, true, false, false, true]),
            (Accepted, [false, false, false, true, true, true]),
            (Declined, [false, false, false, false, false, true]),
            (Attended, [false, false, false, false, false, true]),
            (NotAttended, [false, false, false, false, false, true]),
            (Closed, [false, false, false, false, false, false]),
        ];
        let made_on = date!(2026 - 11 - 02);
        for (from, row) in table {
            let history = if from == Made {
                vec![ev(Made, made_on)]
            } else {
                vec![ev(Made, made_on), ev(from, made_on)]
            };
            for (to, ok) in ReferralStatus::ALL.into_iter().zip(row) {
                assert_eq!(from.can_become(to), ok, "{from:?} -> {to:?}");
                let r = prepare_status_change(&history, to.as_str(), TODAY, TODAY, None);
                match r {
                    Ok(e) => {
                        assert!(ok, "{from:?} -> {to:?} accepted");
                        assert_eq!(e.status, to);
                    }
                    Err(e) => {
                        assert!(!ok, "{from:?} -> {to:?} refused");
                        assert_eq!(fields(&e), ["status"]);
                    }
                }
            }
        }
    }

    #[test]
    fn a_refused_transition_names_the_allowed_next_statuses() {
        let h = [ev(Made, date!(2026 - 11 - 02))];
        let e = prepare_status_change(&h, "attended", TODAY, TODAY, None).unwrap_err();
        assert_eq!(
            e.0[0].message,
            "cannot go from made to attended; next can be: accepted, declined or closed"
        );
        let e = prepare_status_change(&h, "lost", TODAY, TODAY, None).unwrap_err();
        assert_eq!(fields(&e), ["status"]);
    }

    #[test]
    fn an_outcome_dated_before_the_referral_is_refused_issue_4_bad_input() {
        let h = [ev(Made, date!(2026 - 11 - 02))];
        let e = prepare_status_change(&h, "accepted", date!(2026 - 11 - 01), TODAY, None).unwrap_err();
        assert_eq!(fields(&e), ["on"]);
        assert_eq!(e.0[0].message, "cannot be before the referral was made (2026-11-02)");
        let h = [ev(Made, date!(2026 - 11 - 02)), ev(Accepted, date!(2026 - 11 - 10))];
        let e = prepare_status_change(&h, "attended", date!(2026 - 11 - 05), TODAY, None).unwrap_err();
        assert_eq!(fields(&e), ["on"]);
        assert!(e.0[0].message.contains("last update (2026-11-10, accepted)"));
        // Same day as the last event is fine.
        assert!(prepare_status_change(&h, "attended", date!(2026 - 11 - 10), TODAY, None).is_ok());
    }

    #[test]
    fn an_outcome_in_the_future_names_on() {
        let h = [ev(Made, date!(2026 - 11 - 02))];
        let e = prepare_status_change(&h, "accepted", TODAY + Duration::days(1), TODAY, None).unwrap_err();
        assert_eq!(fields(&e), ["on"]);
    }

    #[test]
    fn status_change_collects_every_error_and_needs_a_referral() {
        let h = [ev(Made, date!(2026 - 11 - 02))];
        let long = "n".repeat(NOTE_MAX_CHARS + 1);
        let e = prepare_status_change(&h, "attended", date!(2026 - 11 - 01), TODAY, Some(&long)).unwrap_err();
        assert_eq!(fields(&e), ["status", "on", "note"]);
        let e = prepare_status_change(&[], "accepted", TODAY, TODAY, None).unwrap_err();
        assert_eq!(fields(&e), ["referral"]);
        let ok = prepare_status_change(&h, "accepted", TODAY, TODAY, Some("  GP booked ")).unwrap();
        assert_eq!(ok.note.as_deref(), Some("GP booked"));
    }

    #[test]
    fn current_status_is_the_last_event() {
        assert_eq!(current_status(&[]), Made);
        let h = [ev(Made, date!(2026 - 11 - 02)), ev(Declined, date!(2026 - 11 - 03))];
        assert_eq!(current_status(&h), Declined);
    }

    #[test]
    fn follow_up_after_more_than_14_days_boundary_unverified_default() {
        let last = date!(2026 - 11 - 02);
        let h = [ev(Made, last)];
        assert!(!needs_follow_up(&h, last + Duration::days(14), DEFAULT_FOLLOW_UP_DAYS));
        assert!(needs_follow_up(&h, last + Duration::days(15), DEFAULT_FOLLOW_UP_DAYS));
        assert!(needs_follow_up(&h, last + Duration::days(4), 3));
        let closed = [ev(Made, last), ev(Closed, last)];
        assert!(!needs_follow_up(
            &closed,
            last + Duration::days(400),
            DEFAULT_FOLLOW_UP_DAYS
        ));
        assert!(!needs_follow_up(
            &[],
            last + Duration::days(400),
            DEFAULT_FOLLOW_UP_DAYS
        ));
    }

    #[test]
    fn care_settings_default_from_empty_json_and_reject_unknown_keys() {
        assert_eq!(CareSettings::from_json("").unwrap(), CareSettings::default());
        assert_eq!(CareSettings::from_json("{}").unwrap(), CareSettings::default());
        let s = CareSettings::from_json(r#"{"follow_up_days":7}"#).unwrap();
        assert_eq!((s.follow_up_days, s.services.len()), (7, 14));
        assert_eq!(CareSettings::from_json(&s.to_json()).unwrap(), s);
        let e = CareSettings::from_json(r#"{"colour":"red"}"#).unwrap_err();
        assert_eq!(fields(&e), ["settings"]);
    }

    #[test]
    fn care_settings_validation_names_each_field() {
        let bad = CareSettings {
            services: vec!["Shower".into(), "food".into(), "food".into()],
            referral_categories: vec![],
            follow_up_days: 0,
        };
        let e = bad.validate().unwrap_err();
        assert_eq!(
            fields(&e),
            ["services", "services", "referral_categories", "follow_up_days"]
        );
        let long = CareSettings {
            referral_categories: vec!["a".repeat(41)],
            follow_up_days: 366,
            ..Default::default()
        };
        assert_eq!(
            fields(&long.validate().unwrap_err()),
            ["referral_categories", "follow_up_days"]
        );
        let edge = CareSettings {
            follow_up_days: 365,
            ..Default::default()
        };
        assert!(edge.validate().is_ok());
    }

    /// A referral history built only from allowed transitions: choices pick the
    /// next status, gaps the days between events.
    fn walk(start: Date, steps: &[(usize, u8)]) -> Vec<ReferralEvent> {
        let mut h = vec![ev(Made, start)];
        for (pick, gap) in steps {
            let last = &h[h.len() - 1];
            let next = last.status.allowed_next();
            if next.is_empty() {
                break;
            }
            let on = last.on + Duration::days(i64::from(*gap));
            h.push(ev(next[pick % next.len()], on));
        }
        h
    }

    proptest! {
        #[test]
        fn allowed_walks_are_accepted_event_by_event(
            start in 0i64..3000,
            steps in proptest::collection::vec((0usize..6, 0u8..40), 0..6),
        ) {
            let start = date!(2020 - 01 - 01) + Duration::days(start);
            let full = walk(start, &steps);
            let today = full[full.len() - 1].on;
            for i in 1..full.len() {
                let e = prepare_status_change(&full[..i], full[i].status.as_str(), full[i].on, today, None);
                prop_assert_eq!(e, Ok(full[i].clone()));
                prop_assert_eq!(current_status(&full[..=i]), full[i].status);
            }
            prop_assert_eq!(current_status(&full), full[full.len() - 1].status);
        }

        #[test]
        fn a_change_is_accepted_exactly_when_allowed_dated_and_not_future(
            from in 0usize..6,
            to in 0usize..6,
            offset in -20i64..20,
            today_offset in 0i64..20,
        ) {
            let made = date!(2026 - 11 - 02);
            let from = ReferralStatus::ALL[from];
            let to = ReferralStatus::ALL[to];
            let history = if from == Made { vec![ev(Made, made)] } else { vec![ev(Made, made), ev(from, made)] };
            let on = made + Duration::days(offset);
            let today = made + Duration::days(today_offset);
            let ok = from.can_become(to) && on >= made && on <= today;
            prop_assert_eq!(prepare_status_change(&history, to.as_str(), on, today, None).is_ok(), ok);
        }
    }
}
