//! Drug checking: samples, results, concern rules and site-wide alerts.
//!
//! FTIR names about 4–6 components with a limit of detection of about 5–10 %;
//! immunoassay strips give presence/absence only (dcr-practice §5.6 \[dc-bc\],
//! \[dc-how\], \[dc-limits\]). Linking a sample to a visit and to alerts is what no
//! existing system does (§5.6 \[S51\], \[S52\], \[S71\]), so the link needs consent.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::Invalid;

/// Sample forms (dcr-practice §5.6 design recommendation, field `form`).
pub const FORMS: [&str; 6] = ["powder", "rock", "pill", "liquid", "paper", "other"];
/// Most components an FTIR result may list: the source says about 4–6
/// (dcr-practice §5.6 \[dc-bc\]); 10 leaves headroom \[U\].
pub const MAX_FTIR_COMPONENTS: usize = 10;
/// Most components a laboratory result may list (guards against runaway input).
pub const MAX_LAB_COMPONENTS: usize = 50;
/// Longest an alert may run before it must be renewed \[U\].
pub const ALERT_MAX_LIFETIME: Duration = Duration::days(30);
/// Shortest and longest alert text, in characters.
pub const ALERT_TEXT_CHARS: (usize, usize) = (3, 500);
/// Longest substance name or expected-substance text, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// How a sample was checked (dcr-practice §5.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Fourier-transform infrared spectroscopy: components with approximate %.
    Ftir,
    /// Fentanyl immunoassay strip: presence/absence.
    FentanylStrip,
    /// Benzodiazepine immunoassay strip: presence/absence.
    BenzodiazepineStrip,
    /// Xylazine strip: presence/absence.
    XylazineStrip,
    /// Nitazene strip: presence/absence.
    NitazeneStrip,
    /// Confirmatory laboratory analysis: components, % when quantified.
    Laboratory,
}

impl Method {
    /// Every method, in display order.
    pub const ALL: [Method; 6] = [
        Method::Ftir,
        Method::FentanylStrip,
        Method::BenzodiazepineStrip,
        Method::XylazineStrip,
        Method::NitazeneStrip,
        Method::Laboratory,
    ];

    /// Stable code, as stored and sent in JSON.
    pub fn code(self) -> &'static str {
        match self {
            Method::Ftir => "ftir",
            Method::FentanylStrip => "fentanyl_strip",
            Method::BenzodiazepineStrip => "benzodiazepine_strip",
            Method::XylazineStrip => "xylazine_strip",
            Method::NitazeneStrip => "nitazene_strip",
            Method::Laboratory => "laboratory",
        }
    }

    /// Parses a stored code.
    pub fn parse(code: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.code() == code)
    }

    /// The substance a strip detects; `None` for FTIR and laboratory.
    pub fn strip_substance(self) -> Option<&'static str> {
        match self {
            Method::FentanylStrip => Some("fentanyl"),
            Method::BenzodiazepineStrip => Some("benzodiazepine"),
            Method::XylazineStrip => Some("xylazine"),
            Method::NitazeneStrip => Some("nitazene"),
            Method::Ftir | Method::Laboratory => None,
        }
    }

    /// Whether the method is a strip (presence/absence only).
    pub fn is_strip(self) -> bool {
        self.strip_substance().is_some()
    }
}

/// A strip reading (dcr-practice §5.6: "pos / neg / invalid").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StripResult {
    /// The target substance is present.
    Positive,
    /// Not detected (which is not proof of absence).
    Negative,
    /// The control line failed; the strip says nothing.
    Invalid,
}

impl StripResult {
    /// Stable code, as stored and sent in JSON.
    pub fn code(self) -> &'static str {
        match self {
            StripResult::Positive => "positive",
            StripResult::Negative => "negative",
            StripResult::Invalid => "invalid",
        }
    }

    /// Parses a code.
    pub fn parse(code: &str) -> Option<StripResult> {
        match code {
            "positive" => Some(StripResult::Positive),
            "negative" => Some(StripResult::Negative),
            "invalid" => Some(StripResult::Invalid),
            _ => None,
        }
    }
}

/// One component named by FTIR or a laboratory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    /// Substance name as the library or laboratory gives it.
    pub substance: String,
    /// Approximate share, 0 < p ≤ 100; FTIR gives it only when several
    /// components are found (dcr-practice §5.6 \[dc-limits\]).
    #[serde(default)]
    pub percent: Option<f64>,
}

/// Raw sample input.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleDraft {
    /// What the person believes the sample is.
    #[serde(default)]
    pub expected: String,
    /// One of [`FORMS`].
    #[serde(default)]
    pub form: String,
    /// The visit to link the sample to, only with the person's consent.
    #[serde(default)]
    pub visit_id: Option<String>,
    /// The person agreed to link the sample to their visit.
    #[serde(default)]
    pub consent_linked: bool,
}

/// A validated sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSample {
    /// Expected substance, trimmed.
    pub expected: String,
    /// Form code.
    pub form: String,
    /// Linked visit (present only with consent).
    pub visit_id: Option<String>,
}

/// Validates a sample.
pub fn prepare_sample(draft: &SampleDraft) -> Result<NewSample, Invalid> {
    let mut inv = Invalid::default();
    let expected = draft.expected.trim();
    if expected.is_empty() {
        inv.push("expected", "say what the sample is expected to be (or \"unknown\")");
    } else if expected.chars().count() > MAX_NAME_CHARS {
        inv.push("expected", format!("at most {MAX_NAME_CHARS} characters"));
    }
    if !FORMS.contains(&draft.form.as_str()) {
        inv.push("form", format!("choose one of: {}", FORMS.join(", ")));
    }
    let visit_id = draft
        .visit_id
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string);
    // Linking a result to a person's visit is their choice (dcr-practice §5.6).
    if visit_id.is_some() && !draft.consent_linked {
        inv.push("visit_id", "link to a visit only with the person's consent");
    }
    inv.into_result()?;
    Ok(NewSample {
        expected: expected.to_string(),
        form: draft.form.clone(),
        visit_id,
    })
}

/// Raw result input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultDraft {
    /// How the sample was checked.
    pub method: Method,
    /// Strip reading code (`positive`, `negative`, `invalid`); strips only.
    #[serde(default)]
    pub strip: Option<String>,
    /// Components; FTIR and laboratory only. Empty means "no library match".
    #[serde(default)]
    pub components: Vec<Component>,
    /// When the result was read; defaults to now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub at: Option<OffsetDateTime>,
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Finding {
    /// A strip reading.
    Strip {
        /// The reading.
        result: StripResult,
    },
    /// Named components (FTIR or laboratory).
    Components {
        /// In the order given.
        components: Vec<Component>,
    },
    /// FTIR "no library match" (dcr-practice §5.6 \[dc-limits\]), or a
    /// laboratory naming nothing. Below the 5–10 % limit of detection a
    /// substance can still be present (§5.6 \[dc-bc\]).
    NoMatch,
}

/// A validated result.
#[derive(Debug, Clone, PartialEq)]
pub struct NewResult {
    /// How the sample was checked.
    pub method: Method,
    /// What it found.
    pub finding: Finding,
    /// When it was read, UTC, microseconds.
    pub at: OffsetDateTime,
}

/// Validates a result: strips need a reading and no components; FTIR and
/// laboratory take components (none = no match) and no strip reading.
pub fn prepare_result(draft: &ResultDraft, now: OffsetDateTime) -> Result<NewResult, Invalid> {
    let mut inv = Invalid::default();
    let at = crate::clock::truncate_micros(draft.at.unwrap_or(now));
    if at > now + crate::visit::FUTURE_TOLERANCE {
        inv.push("at", "cannot be in the future");
    }
    let strip = draft.strip.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let finding = if draft.method.is_strip() {
        if !draft.components.is_empty() {
            inv.push("components", "a strip gives presence or absence only, not components");
        }
        match strip.map(|s| (s, StripResult::parse(s))) {
            Some((_, Some(result))) => Some(Finding::Strip { result }),
            Some((s, None)) => {
                inv.push(
                    "strip",
                    format!("unknown reading `{s}`; choose positive, negative or invalid"),
                );
                None
            }
            None => {
                inv.push("strip", "record the strip reading: positive, negative or invalid");
                None
            }
        }
    } else {
        if strip.is_some() {
            inv.push("strip", "only strips have a reading");
        }
        check_components(&mut inv, draft.method, &draft.components);
        Some(if draft.components.is_empty() {
            Finding::NoMatch
        } else {
            Finding::Components {
                components: draft
                    .components
                    .iter()
                    .map(|c| Component {
                        substance: c.substance.trim().to_string(),
                        percent: c.percent,
                    })
                    .collect(),
            }
        })
    };
    inv.into_result()?;
    match finding {
        Some(finding) => Ok(NewResult {
            method: draft.method,
            finding,
            at,
        }),
        None => Err(Invalid::one("strip", "record the strip reading")),
    }
}

fn check_components(inv: &mut Invalid, method: Method, components: &[Component]) {
    let max = if method == Method::Ftir {
        MAX_FTIR_COMPONENTS
    } else {
        MAX_LAB_COMPONENTS
    };
    if components.len() > max {
        inv.push("components", format!("at most {max} components"));
    }
    let mut seen: Vec<String> = Vec::new();
    for (i, c) in components.iter().enumerate() {
        let name = c.substance.trim();
        let field = format!("components[{i}].substance");
        if name.is_empty() {
            inv.push(field, "name the substance");
        } else if name.chars().count() > MAX_NAME_CHARS {
            inv.push(field, format!("at most {MAX_NAME_CHARS} characters"));
        } else if seen.contains(&name.to_lowercase()) {
            inv.push(field, "listed twice");
        } else {
            seen.push(name.to_lowercase());
        }
        if let Some(p) = c.percent {
            // NaN fails both comparisons, so it is refused too.
            if !(p > 0.0 && p <= 100.0) {
                inv.push(
                    format!("components[{i}].percent"),
                    "must be more than 0 and at most 100",
                );
            }
        }
    }
}

/// A substance that raises a concern, unless the person expected it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConcernRule {
    /// Lower-case name fragment; a component matches when its name contains it
    /// (so `nitazene` matches isotonitazene and protonitazene).
    pub substance: String,
    /// Expected substances (fragments, lower case) for which this one is not a
    /// surprise; empty means always a concern.
    #[serde(default)]
    pub unless_expected: Vec<String>,
}

/// Checks a site's concern rules: each substance and excuse a non-empty
/// lower-case fragment of at most 60 characters, no substance twice.
pub fn validate_concerns(rules: &[ConcernRule]) -> Result<(), Invalid> {
    let mut inv = Invalid::default();
    let ok = |s: &str| !s.trim().is_empty() && s.chars().count() <= 60 && s == s.to_lowercase();
    for (i, r) in rules.iter().enumerate() {
        if !ok(&r.substance) {
            inv.push("concerns", format!("`{}`: use 1–60 lower-case characters", r.substance));
        } else if rules[..i].iter().any(|x| x.substance == r.substance) {
            inv.push("concerns", format!("`{}` is listed twice", r.substance));
        }
        for u in &r.unless_expected {
            if !ok(u) {
                inv.push(
                    "concerns",
                    format!("`{}` unless `{u}`: use 1–60 lower-case characters", r.substance),
                );
            }
        }
    }
    inv.into_result()
}

/// Default concern rules, a configurable starting point \[U\]: nitazenes and
/// xylazine always; fentanyl unless an opioid was expected ("fentanyl in a
/// stimulant").
pub fn default_concerns() -> Vec<ConcernRule> {
    let opioids = [
        "opioid",
        "heroin",
        "fentanyl",
        "morphine",
        "oxycodone",
        "hydromorphone",
        "methadone",
        "diamorphine",
    ];
    vec![
        ConcernRule {
            substance: "nitazene".into(),
            unless_expected: Vec::new(),
        },
        ConcernRule {
            substance: "xylazine".into(),
            unless_expected: Vec::new(),
        },
        ConcernRule {
            substance: "fentanyl".into(),
            unless_expected: opioids.iter().map(|s| (*s).to_string()).collect(),
        },
    ]
}

/// Rule substances found in the results that the expected substance does not
/// excuse, in rule order, without repeats. A positive strip counts as its
/// substance found; negative and invalid strips find nothing.
pub fn concerns_found(expected: &str, results: &[NewResult], rules: &[ConcernRule]) -> Vec<String> {
    let expected = expected.to_lowercase();
    let mut found: Vec<String> = Vec::new();
    for r in results {
        match &r.finding {
            Finding::Strip {
                result: StripResult::Positive,
            } => found.extend(r.method.strip_substance().map(str::to_string)),
            Finding::Components { components } => {
                found.extend(components.iter().map(|c| c.substance.to_lowercase()));
            }
            Finding::Strip { .. } | Finding::NoMatch => {}
        }
    }
    let mut out: Vec<String> = Vec::new();
    for rule in rules {
        let needle = rule.substance.to_lowercase();
        if needle.is_empty() || out.contains(&rule.substance) {
            continue;
        }
        let present = found.iter().any(|f| f.contains(&needle));
        let excused = rule
            .unless_expected
            .iter()
            .map(|u| u.to_lowercase())
            .any(|u| !u.is_empty() && expected.contains(&u));
        if present && !excused {
            out.push(rule.substance.clone());
        }
    }
    out
}

/// Raw alert input.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertDraft {
    /// What staff and clients need to know.
    #[serde(default)]
    pub text: String,
    /// When the alert stops showing; required.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Show the alert at every site of the installation, not just this one.
    #[serde(default)]
    pub share_with_installation: bool,
}

/// A validated alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    /// Text, trimmed.
    pub text: String,
    /// Expiry, UTC, microseconds.
    pub expires_at: OffsetDateTime,
    /// Shared with the installation.
    pub share_with_installation: bool,
}

/// Validates an alert. Every alert needs an expiry so stale warnings do not
/// linger and train staff to ignore them.
pub fn prepare_alert(draft: &AlertDraft, now: OffsetDateTime) -> Result<NewAlert, Invalid> {
    let mut inv = Invalid::default();
    let text = draft.text.trim();
    let (min, max) = ALERT_TEXT_CHARS;
    let n = text.chars().count();
    if n < min || n > max {
        inv.push("text", format!("write {min} to {max} characters"));
    }
    let expires_at = draft.expires_at.map(crate::clock::truncate_micros);
    match expires_at {
        None => inv.push("expires_at", "give an expiry"),
        Some(t) if t <= now => inv.push("expires_at", "the expiry is already past"),
        Some(t) if t > now + ALERT_MAX_LIFETIME => inv.push("expires_at", "at most 30 days ahead; renew it if needed"),
        Some(_) => {}
    }
    inv.into_result()?;
    match expires_at {
        Some(expires_at) => Ok(NewAlert {
            text: text.to_string(),
            expires_at,
            share_with_installation: draft.share_with_installation,
        }),
        None => Err(Invalid::one("expires_at", "give an expiry")),
    }
}

/// Whether an alert shows now: before its expiry and not withdrawn.
pub fn alert_active(expires_at: OffsetDateTime, withdrawn_at: Option<OffsetDateTime>, now: OffsetDateTime) -> bool {
    now < expires_at && withdrawn_at.is_none_or(|w| now < w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2025-06-01 12:00 UTC);

    fn fields(e: &Invalid) -> Vec<&str> {
        e.0.iter().map(|x| x.field.as_str()).collect()
    }

    fn sample(form: &str, visit: Option<&str>, consent: bool) -> SampleDraft {
        SampleDraft {
            expected: "cocaine".into(),
            form: form.into(),
            visit_id: visit.map(Into::into),
            consent_linked: consent,
        }
    }

    fn comp(s: &str, p: Option<f64>) -> Component {
        Component {
            substance: s.into(),
            percent: p,
        }
    }

    fn ftir(components: Vec<Component>) -> ResultDraft {
        ResultDraft {
            method: Method::Ftir,
            strip: None,
            components,
            at: None,
        }
    }

    fn strip(method: Method, reading: &str) -> ResultDraft {
        ResultDraft {
            method,
            strip: Some(reading.into()),
            components: Vec::new(),
            at: None,
        }
    }

    #[test]
    fn sample_link_to_visit_needs_consent_dcr_practice_5_6() {
        let e = prepare_sample(&sample("powder", Some("v1"), false)).unwrap_err();
        assert_eq!(fields(&e), ["visit_id"]);
        let s = prepare_sample(&sample("powder", Some("v1"), true)).unwrap();
        assert_eq!(s.visit_id.as_deref(), Some("v1"));
        assert!(
            prepare_sample(&sample("powder", None, false))
                .unwrap()
                .visit_id
                .is_none()
        );
    }

    #[test]
    fn sample_form_and_expected_are_named_dcr_practice_5_6() {
        let e = prepare_sample(&sample("gas", None, false)).unwrap_err();
        assert_eq!(fields(&e), ["form"]);
        let e = prepare_sample(&SampleDraft {
            form: "rock".into(),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(fields(&e), ["expected"]);
    }

    #[test]
    fn ftir_components_with_percent_dcr_practice_5_6_dc_limits() {
        let r = prepare_result(
            &ftir(vec![comp("Cocaine HCl", Some(70.0)), comp("Levamisole", None)]),
            NOW,
        )
        .unwrap();
        assert_eq!(r.at, NOW);
        assert!(matches!(r.finding, Finding::Components { ref components } if components.len() == 2));
    }

    #[test]
    fn ftir_no_library_match_is_representable_dcr_practice_5_6_dc_limits() {
        let r = prepare_result(&ftir(Vec::new()), NOW).unwrap();
        assert_eq!(r.finding, Finding::NoMatch);
    }

    #[test]
    fn percent_out_of_range_names_the_component() {
        for p in [0.0, -1.0, 100.5, f64::NAN] {
            let e =
                prepare_result(&ftir(vec![comp("cocaine", Some(50.0)), comp("caffeine", Some(p))]), NOW).unwrap_err();
            assert_eq!(fields(&e), ["components[1].percent"]);
        }
        assert!(prepare_result(&ftir(vec![comp("cocaine", Some(100.0))]), NOW).is_ok());
        let e = prepare_result(&ftir(vec![comp(" ", None)]), NOW).unwrap_err();
        assert_eq!(fields(&e), ["components[0].substance"]);
    }

    #[test]
    fn ftir_lists_at_most_ten_components_dcr_practice_5_6_u() {
        let many: Vec<_> = (0..11).map(|i| comp(&format!("s{i}"), None)).collect();
        let e = prepare_result(&ftir(many.clone()), NOW).unwrap_err();
        assert_eq!(fields(&e), ["components"]);
        let lab = ResultDraft {
            method: Method::Laboratory,
            ..ftir(many)
        };
        assert!(prepare_result(&lab, NOW).is_ok());
    }

    #[test]
    fn strips_give_presence_or_absence_only_dcr_practice_5_6() {
        let r = prepare_result(&strip(Method::FentanylStrip, "positive"), NOW).unwrap();
        assert_eq!(
            r.finding,
            Finding::Strip {
                result: StripResult::Positive
            }
        );
        let e = prepare_result(&strip(Method::FentanylStrip, "maybe"), NOW).unwrap_err();
        assert_eq!(fields(&e), ["strip"]);
        let mut d = strip(Method::XylazineStrip, "negative");
        d.components = vec![comp("xylazine", None)];
        assert_eq!(fields(&prepare_result(&d, NOW).unwrap_err()), ["components"]);
        d.strip = None;
        d.components.clear();
        assert_eq!(fields(&prepare_result(&d, NOW).unwrap_err()), ["strip"]);
        let mut f = ftir(Vec::new());
        f.strip = Some("positive".into());
        assert_eq!(fields(&prepare_result(&f, NOW).unwrap_err()), ["strip"]);
    }

    #[test]
    fn result_in_the_future_is_refused() {
        let mut d = ftir(Vec::new());
        d.at = Some(NOW + Duration::minutes(5));
        assert_eq!(fields(&prepare_result(&d, NOW).unwrap_err()), ["at"]);
    }

    #[test]
    fn method_codes_round_trip() {
        for m in Method::ALL {
            assert_eq!(Method::parse(m.code()), Some(m));
            assert_eq!(serde_json::to_value(m).unwrap(), m.code());
        }
    }

    fn results(drafts: &[ResultDraft]) -> Vec<NewResult> {
        drafts.iter().map(|d| prepare_result(d, NOW).unwrap()).collect()
    }

    #[test]
    fn fentanyl_in_cocaine_is_a_concern_fentanyl_in_a_stimulant() {
        let rs = results(&[ftir(vec![
            comp("Cocaine HCl", Some(80.0)),
            comp("Fentanyl HCl", Some(10.0)),
        ])]);
        assert_eq!(concerns_found("cocaine", &rs, &default_concerns()), ["fentanyl"]);
        let rs = results(&[strip(Method::FentanylStrip, "positive")]);
        assert_eq!(concerns_found("Crack cocaine", &rs, &default_concerns()), ["fentanyl"]);
    }

    #[test]
    fn fentanyl_in_heroin_is_no_concern() {
        let rs = results(&[
            strip(Method::FentanylStrip, "positive"),
            ftir(vec![comp("Heroin", None), comp("Fentanyl", None)]),
        ]);
        assert!(concerns_found("heroin", &rs, &default_concerns()).is_empty());
    }

    #[test]
    fn nitazene_and_xylazine_are_always_a_concern() {
        let rs = results(&[
            ftir(vec![comp("Heroin", None), comp("Protonitazene", None)]),
            strip(Method::XylazineStrip, "positive"),
        ]);
        assert_eq!(
            concerns_found("heroin", &rs, &default_concerns()),
            ["nitazene", "xylazine"]
        );
        let rs = results(&[strip(Method::NitazeneStrip, "positive")]);
        assert_eq!(concerns_found("nitazene", &rs, &default_concerns()), ["nitazene"]);
    }

    #[test]
    fn negative_and_invalid_strips_find_nothing() {
        let rs = results(&[
            strip(Method::FentanylStrip, "negative"),
            strip(Method::NitazeneStrip, "invalid"),
            ftir(Vec::new()),
        ]);
        assert!(concerns_found("cocaine", &rs, &default_concerns()).is_empty());
    }

    #[test]
    fn concern_rules_validate_as_a_site_setting() {
        assert!(validate_concerns(&default_concerns()).is_ok());
        let bad = vec![
            ConcernRule {
                substance: "Xylazine".into(),
                unless_expected: vec![],
            },
            ConcernRule {
                substance: "nitazene".into(),
                unless_expected: vec![" ".into()],
            },
            ConcernRule {
                substance: "nitazene".into(),
                unless_expected: vec![],
            },
        ];
        assert_eq!(validate_concerns(&bad).unwrap_err().0.len(), 3);
        // An empty list is allowed: a site that raises alerts by hand only.
        assert!(validate_concerns(&[]).is_ok());
    }

    fn alert(text: &str, expires: Option<OffsetDateTime>) -> AlertDraft {
        AlertDraft {
            text: text.into(),
            expires_at: expires,
            share_with_installation: false,
        }
    }

    #[test]
    fn alert_without_expiry_is_refused_issue_4_bad_inputs() {
        let e = prepare_alert(&alert("Nitazene found in brown powder", None), NOW).unwrap_err();
        assert_eq!(fields(&e), ["expires_at"]);
        assert_eq!(e.0[0].message, "give an expiry");
    }

    #[test]
    fn alert_expiry_past_or_beyond_30_days_is_refused_u() {
        for t in [
            NOW,
            NOW - Duration::hours(1),
            NOW + Duration::days(30) + Duration::seconds(1),
        ] {
            let e = prepare_alert(&alert("Strong batch", Some(t)), NOW).unwrap_err();
            assert_eq!(fields(&e), ["expires_at"]);
        }
        let a = prepare_alert(&alert("  Strong batch  ", Some(NOW + Duration::days(30))), NOW).unwrap();
        assert_eq!(a.text, "Strong batch");
    }

    #[test]
    fn alert_text_length_is_named() {
        let later = Some(NOW + Duration::days(1));
        assert_eq!(
            fields(&prepare_alert(&alert(" ab ", later), NOW).unwrap_err()),
            ["text"]
        );
        assert_eq!(
            fields(&prepare_alert(&alert(&"x".repeat(501), later), NOW).unwrap_err()),
            ["text"]
        );
        assert!(prepare_alert(&alert(&"é".repeat(500), later), NOW).is_ok());
    }

    #[test]
    fn alert_active_until_expiry_or_withdrawal() {
        let exp = NOW + Duration::days(1);
        assert!(alert_active(exp, None, NOW));
        assert!(!alert_active(exp, None, exp));
        assert!(!alert_active(exp, Some(NOW - Duration::minutes(1)), NOW));
        assert!(alert_active(exp, Some(NOW + Duration::minutes(1)), NOW));
    }

    proptest! {
        #[test]
        fn accepted_percents_are_in_range(p in any::<f64>()) {
            if let Ok(r) = prepare_result(&ftir(vec![comp("cocaine", Some(p))]), NOW) {
                let ok = matches!(r.finding, Finding::Components { ref components }
                    if components[0].percent.is_some_and(|x| x > 0.0 && x <= 100.0));
                prop_assert!(ok);
            }
        }
    }
}
