//! Per-site eligibility rules, checked at check-in for a consumption visit.
//!
//! One configurable rule set per site, each rule on or off with its parameters
//! (dcr-practice §4.1). Every check keeps the result of every rule, and a failing
//! check can only be overridden with a reason (dcr-practice §4.2).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Invalid, site::SpaceKind};

/// Rule codes, in the order [`assess`] reports them.
pub const RULE_CODES: [&str; 9] = [
    "under_age",
    "intoxicated",
    "pregnant",
    "accompanied_by_child",
    "first_time_user",
    "residency",
    "on_ost",
    "substance_not_allowed",
    "route_not_allowed",
];

/// Message of the `on_ost` result when the person is on OST and the site counts
/// it; [`Assessment::counted_ost`] looks for it.
pub const OST_COUNTED_MESSAGE: &str = "on OST (counted)";

/// Message of a rule that is switched off at the site.
const OFF_MESSAGE: &str = "not checked at this site";

/// Human label for a rule code (see [`RULE_CODES`]).
pub fn rule_label(code: &str) -> &'static str {
    match code {
        "under_age" => "Minimum age",
        "intoxicated" => "Visible intoxication",
        "pregnant" => "Pregnancy",
        "accompanied_by_child" => "Accompanied by a child",
        "first_time_user" => "First-time or occasional use",
        "residency" => "Residency",
        "on_ost" => "Opioid substitution treatment (OST)",
        "substance_not_allowed" => "Allowed substances",
        "route_not_allowed" => "Allowed routes",
        _ => "Unknown rule",
    }
}

/// A rule that is simply on or off. Written as `{}` it is off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Toggle {
    /// Whether the rule is checked.
    pub enabled: bool,
}

impl Toggle {
    /// A toggle that is on.
    pub const ON: Toggle = Toggle { enabled: true };
    /// A toggle that is off.
    pub const OFF: Toggle = Toggle { enabled: false };
}

/// Minimum age. Written as `{}` it is on with 18 years.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MinAge {
    /// Whether the rule is checked.
    pub enabled: bool,
    /// Age that must be reached this year (10–30).
    pub years: u8,
}

impl Default for MinAge {
    fn default() -> Self {
        // 18 at MSIC, Melbourne, Zurich, Paris, Strasbourg [msic-inside]; 16 in Niedersachsen [nds-vo].
        Self {
            enabled: true,
            years: 18,
        }
    }
}

/// Residency: only people whose home area is one of `areas` are admitted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Residency {
    /// Whether the rule is checked.
    pub enabled: bool,
    /// Area codes; a code ending in `*` is a prefix (`G1*` covers `G12`).
    pub areas: Vec<String>,
}

impl Residency {
    /// Whether `home_area` is one of the areas: equal ignoring case and spaces,
    /// or starting with a `*` area's prefix. An empty home area is never covered.
    pub fn covers(&self, home_area: &str) -> bool {
        let home = normalise_area(home_area);
        !home.is_empty()
            && self.areas.iter().map(|a| a.trim()).any(|a| match a.strip_suffix('*') {
                Some(prefix) => home.starts_with(&normalise_area(prefix)),
                None => home == normalise_area(a),
            })
    }
}

/// Upper case without spaces, so "g1 2" and "G12" compare equal.
fn normalise_area(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// How people on opioid substitution treatment (OST) are handled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OstMode {
    /// Admitted and not counted; the rule reports off.
    #[default]
    Admit,
    /// Excluded.
    Exclude,
    /// Admitted and counted.
    AdmitAndCount,
}

/// OST rule. Written as `{}` it admits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ost {
    /// What happens to a person on OST.
    pub mode: OstMode,
}

/// Per-site rules. Missing keys take the defaults; unknown keys are rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EligibilityRules {
    /// Minimum age (default on, 18).
    pub min_age: MinAge,
    /// Exclude the visibly intoxicated (default on).
    pub intoxicated: Toggle,
    /// Exclude pregnant people (default off).
    pub pregnant: Toggle,
    /// Exclude people accompanied by a child (default on).
    pub accompanied_by_child: Toggle,
    /// Exclude first-time or occasional users (default off; mandatory in Germany).
    pub first_time_user: Toggle,
    /// Residency (default off).
    pub residency: Residency,
    /// OST handling (default admit).
    pub ost: Ost,
    /// Space kind code → allowed routes. A kind missing takes its default
    /// (`injecting` → `injection`, `inhalation` → `inhalation`); an empty list allows none.
    pub routes_by_kind: BTreeMap<String, Vec<String>>,
    /// Space kind code → allowed substances. A kind missing allows every site substance.
    pub substances_by_kind: BTreeMap<String, Vec<String>>,
}

impl Default for EligibilityRules {
    fn default() -> Self {
        Self {
            min_age: MinAge::default(),
            // Visible intoxication excluded at MSIC [msic-inside], NRW [nrw-vo], Niedersachsen [nds-vo].
            intoxicated: Toggle::ON,
            // MSIC excludes pregnancy [msic-inside]; most sites do not, so off.
            pregnant: Toggle::OFF,
            // MSIC excludes people with children [msic-inside].
            accompanied_by_child: Toggle::ON,
            // Mandatory only in Germany, §10a(2) BtMG [btmg10a].
            first_time_user: Toggle::OFF,
            residency: Residency::default(),
            ost: Ost::default(),
            routes_by_kind: [SpaceKind::Injecting, SpaceKind::Inhalation]
                .into_iter()
                .map(|k| (k.as_str().to_string(), vec![default_route(k).to_string()]))
                .collect(),
            substances_by_kind: BTreeMap::new(),
        }
    }
}

/// The route a kind of space is built for.
fn default_route(kind: SpaceKind) -> &'static str {
    match kind {
        SpaceKind::Injecting => "injection",
        SpaceKind::Inhalation => "inhalation",
    }
}

impl EligibilityRules {
    /// Parses rules JSON (empty or `{}` gives the defaults); unknown keys are rejected.
    pub fn from_json(s: &str) -> Result<Self, Invalid> {
        if s.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_json::from_str(s).map_err(|e| Invalid::one("eligibility", e.to_string()))
    }

    /// Serialises for storage.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// Whether a space of `kind` allows `route`.
    pub fn route_allowed_in(&self, kind: SpaceKind, route: &str) -> bool {
        match self.routes_by_kind.get(kind.as_str()) {
            Some(routes) => routes.iter().any(|r| r == route),
            None => default_route(kind) == route,
        }
    }

    /// Whether a space of `kind` allows `substance`.
    pub fn substance_allowed_in(&self, kind: SpaceKind, substance: &str) -> bool {
        self.substances_by_kind
            .get(kind.as_str())
            .is_none_or(|subs| subs.iter().any(|s| s == substance))
    }

    /// Validates against the site's substance and route codes, collecting every
    /// error: years 10–30, residency areas present when on and well formed, map
    /// keys space kind codes, listed routes and substances known at the site.
    pub fn validate(&self, site_substances: &[String], site_routes: &[String]) -> Result<(), Invalid> {
        let mut inv = Invalid::default();
        if !(10..=30).contains(&self.min_age.years) {
            inv.push("eligibility.min_age.years", "enter an age from 10 to 30");
        }
        let areas_field = "eligibility.residency.areas";
        if self.residency.enabled && self.residency.areas.is_empty() {
            inv.push(areas_field, "list at least one area when the residency rule is on");
        }
        for area in &self.residency.areas {
            let body = area.trim().strip_suffix('*').unwrap_or(area.trim());
            // A bare `*` would admit everyone, and a `*` inside a code would never match.
            if body.trim().is_empty() || body.contains('*') {
                inv.push(
                    areas_field,
                    format!("`{area}`: write an area code, optionally ending in * for a prefix"),
                );
            }
        }
        check_kind_map(
            &mut inv,
            "eligibility.routes_by_kind",
            "route",
            &self.routes_by_kind,
            site_routes,
        );
        check_kind_map(
            &mut inv,
            "eligibility.substances_by_kind",
            "substance",
            &self.substances_by_kind,
            site_substances,
        );
        inv.into_result()
    }
}

/// Keys must be space kind codes and values codes the site knows.
fn check_kind_map(inv: &mut Invalid, field: &str, what: &str, map: &BTreeMap<String, Vec<String>>, known: &[String]) {
    for (kind, codes) in map {
        if SpaceKind::parse(kind).is_none() {
            inv.push(
                field,
                format!("`{kind}` is not a space kind; use injecting or inhalation"),
            );
        }
        for code in codes.iter().filter(|c| !known.contains(c)) {
            inv.push(field, format!("{kind}: unknown {what} `{code}`"));
        }
    }
}

/// Staff answers at check-in (staff judgement, recorded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Answers {
    /// Visibly intoxicated.
    pub intoxicated: bool,
    /// Pregnant.
    pub pregnant: bool,
    /// Accompanied by a child.
    pub accompanied_by_child: bool,
    /// Obviously a first-time or occasional user.
    pub first_time_user: bool,
    /// Visibly on opioid substitution treatment.
    pub on_ost: bool,
}

/// What the rules look at.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// Year of birth (the only date of birth part kept).
    pub year_of_birth: i32,
    /// Home area as recorded (may be empty).
    pub home_area: &'a str,
    /// Declared substance codes.
    pub substances: &'a [String],
    /// Declared route code.
    pub route: &'a str,
    /// Current year at the site.
    pub year: i32,
}

/// Result of one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The person meets the rule.
    Pass,
    /// The person does not meet the rule.
    Fail,
    /// The rule is switched off at the site.
    Off,
}

/// One rule's result, stored on the visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleResult {
    /// Rule code from [`RULE_CODES`].
    pub rule: String,
    /// Outcome.
    pub outcome: Outcome,
    /// Staff-readable explanation, e.g. "under 18 (born 2010)".
    pub message: String,
}

impl RuleResult {
    fn new(rule: &str, outcome: Outcome, message: impl Into<String>) -> Self {
        Self {
            rule: rule.to_string(),
            outcome,
            message: message.into(),
        }
    }
}

/// Results of every rule for one check-in, stored on the visit as JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    /// One result per rule, in [`RULE_CODES`] order.
    pub results: Vec<RuleResult>,
}

impl Assessment {
    /// No rule failed.
    pub fn eligible(&self) -> bool {
        self.results.iter().all(|r| r.outcome != Outcome::Fail)
    }

    /// The failing rules, in order.
    pub fn failed(&self) -> Vec<&RuleResult> {
        self.results.iter().filter(|r| r.outcome == Outcome::Fail).collect()
    }

    /// Serialises for storage.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"results":[]}"#.into())
    }

    /// Parses stored JSON.
    pub fn from_json(s: &str) -> Option<Self> {
        serde_json::from_str(s).ok()
    }

    /// The person was on OST and the site counts it: an `on_ost` result that
    /// passed with [`OST_COUNTED_MESSAGE`] (kept in the message so stored JSON needs no extra field).
    pub fn counted_ost(&self) -> bool {
        self.results
            .iter()
            .any(|r| r.rule == "on_ost" && r.outcome == Outcome::Pass && r.message == OST_COUNTED_MESSAGE)
    }
}

/// A yes/no rule: off when disabled, else fails when the answer is yes.
fn toggle_rule(code: &str, rule: Toggle, answer: bool, yes: &str, no: &str) -> RuleResult {
    match (rule.enabled, answer) {
        (false, _) => RuleResult::new(code, Outcome::Off, OFF_MESSAGE),
        (true, true) => RuleResult::new(code, Outcome::Fail, yes),
        (true, false) => RuleResult::new(code, Outcome::Pass, no),
    }
}

/// "a", "a and b", "a, b and c".
fn and_list(items: &[&str]) -> String {
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// Evaluates every rule; disabled rules give [`Outcome::Off`].
///
/// Age: only the year of birth is known, so the age is the one reached this
/// year (`year − year_of_birth`); someone who turns 18 later this year passes
/// an 18 rule. `kinds` are the kinds of space the site has: the route fails when
/// no kind allows it, and the substances fail when no kind allowing the route
/// allows them all (with no such kind, every kind is tried, so the message still
/// names the substances).
pub fn assess(rules: &EligibilityRules, answers: &Answers, subject: &Subject, kinds: &[SpaceKind]) -> Assessment {
    let mut results = Vec::with_capacity(RULE_CODES.len());

    // Minimum age 18 [msic-inside]; sites may set e.g. 16 [nds-vo] or switch it off
    // for NRW's guardian-consent / individual-review path [nrw-vo].
    let age = i64::from(subject.year) - i64::from(subject.year_of_birth);
    let (min, born) = (rules.min_age.years, subject.year_of_birth);
    results.push(if !rules.min_age.enabled {
        RuleResult::new("under_age", Outcome::Off, OFF_MESSAGE)
    } else if age < i64::from(min) {
        RuleResult::new("under_age", Outcome::Fail, format!("under {min} (born {born})"))
    } else {
        RuleResult::new(
            "under_age",
            Outcome::Pass,
            format!("{min} or over this year (born {born})"),
        )
    });

    // Visible intoxication: MSIC [msic-inside], NRW [nrw-vo], Niedersachsen [nds-vo].
    results.push(toggle_rule(
        "intoxicated",
        rules.intoxicated,
        answers.intoxicated,
        "visibly intoxicated",
        "not visibly intoxicated",
    ));
    // Pregnancy and accompanying child: MSIC [msic-inside].
    results.push(toggle_rule(
        "pregnant",
        rules.pregnant,
        answers.pregnant,
        "pregnant",
        "not pregnant",
    ));
    results.push(toggle_rule(
        "accompanied_by_child",
        rules.accompanied_by_child,
        answers.accompanied_by_child,
        "accompanied by a child",
        "not accompanied by a child",
    ));
    // Obvious first-time or occasional users excluded in Germany, §10a(2) BtMG [btmg10a].
    results.push(toggle_rule(
        "first_time_user",
        rules.first_time_user,
        answers.first_time_user,
        "first-time or occasional user",
        "not a first-time or occasional user",
    ));

    // Residency: Zurich admits city residents only [zh].
    let home = subject.home_area.trim();
    results.push(if !rules.residency.enabled {
        RuleResult::new("residency", Outcome::Off, OFF_MESSAGE)
    } else if home.is_empty() {
        RuleResult::new("residency", Outcome::Fail, "no home area recorded")
    } else if rules.residency.covers(home) {
        RuleResult::new("residency", Outcome::Pass, format!("home area {home} is served"))
    } else {
        RuleResult::new(
            "residency",
            Outcome::Fail,
            format!("home area {home} is not served here"),
        )
    });

    // OST: NRW once excluded [nrw-vo], opened from about 2015–16 [nrw-2017], now counts [nrw-2024].
    results.push(match (rules.ost.mode, answers.on_ost) {
        (OstMode::Admit, _) => RuleResult::new("on_ost", Outcome::Off, OFF_MESSAGE),
        (OstMode::Exclude, true) => RuleResult::new("on_ost", Outcome::Fail, "on OST (excluded here)"),
        (OstMode::AdmitAndCount, true) => RuleResult::new("on_ost", Outcome::Pass, OST_COUNTED_MESSAGE),
        (_, false) => RuleResult::new("on_ost", Outcome::Pass, "not on OST"),
    });

    // Allowed substances and routes per kind of space: NRW [nrw-vo], Niedersachsen [nds-vo];
    // an injecting-only site admits only people who inject [msic-inside].
    let route = subject.route.trim();
    let route_kinds: Vec<SpaceKind> = kinds
        .iter()
        .copied()
        .filter(|k| rules.route_allowed_in(*k, route))
        .collect();
    let candidates = if route_kinds.is_empty() {
        kinds
    } else {
        &route_kinds[..]
    };
    let all_fit = candidates
        .iter()
        .any(|k| subject.substances.iter().all(|s| rules.substance_allowed_in(*k, s)));
    results.push(if subject.substances.is_empty() || all_fit {
        RuleResult::new("substance_not_allowed", Outcome::Pass, "substances allowed")
    } else {
        let place = if route_kinds.is_empty() {
            "in any space".to_string()
        } else {
            format!("for {route}")
        };
        let mut nowhere: Vec<&str> = Vec::new();
        for s in subject.substances {
            if !nowhere.contains(&s.as_str()) && candidates.iter().all(|k| !rules.substance_allowed_in(*k, s)) {
                nowhere.push(s);
            }
        }
        let msg = if nowhere.is_empty() {
            // Each is allowed somewhere, but no one kind takes the combination.
            let all: Vec<&str> = subject.substances.iter().map(String::as_str).collect();
            format!("{} not allowed together {place}", all.join(" + "))
        } else {
            format!("{} not allowed {place}", and_list(&nowhere))
        };
        RuleResult::new("substance_not_allowed", Outcome::Fail, msg)
    });
    results.push(if route.is_empty() {
        RuleResult::new("route_not_allowed", Outcome::Fail, "no route given")
    } else if route_kinds.is_empty() {
        RuleResult::new(
            "route_not_allowed",
            Outcome::Fail,
            format!("route {route} not offered in any space"),
        )
    } else {
        RuleResult::new("route_not_allowed", Outcome::Pass, format!("route {route} offered"))
    });

    Assessment { results }
}

/// Per-space check at episode start: the space's kind allows the route and
/// every substance. Errors name `space_id` (or `route` when none is given).
pub fn allowed_in_kind(
    rules: &EligibilityRules,
    kind: SpaceKind,
    space_label: &str,
    route: &str,
    substances: &[String],
) -> Result<(), Invalid> {
    let route = route.trim();
    if route.is_empty() {
        return Err(Invalid::one("route", "choose a route"));
    }
    let place = match kind {
        SpaceKind::Injecting => "an injecting booth",
        SpaceKind::Inhalation => "an inhalation place",
    };
    let mut inv = Invalid::default();
    if !rules.route_allowed_in(kind, route) {
        inv.push(
            "space_id",
            format!("space {space_label} is {place}; route {route} is not allowed there"),
        );
    }
    let mut bad: Vec<&str> = Vec::new();
    for s in substances {
        if !bad.contains(&s.as_str()) && !rules.substance_allowed_in(kind, s) {
            bad.push(s);
        }
    }
    if !bad.is_empty() {
        let verb = if bad.len() == 1 { "is" } else { "are" };
        inv.push(
            "space_id",
            format!(
                "space {space_label} is {place}; {} {verb} not allowed there",
                and_list(&bad)
            ),
        );
    }
    inv.into_result()
}

/// Checks an override (dcr-practice §4.2: overrides need a reason).
///
/// Eligible → `Ok(None)` (any reason is ignored). Not eligible without a reason
/// (blank counts as none) → error on `eligibility` listing every failing rule's
/// message. With a reason: trimmed, 3–500 characters (else `override_reason`) →
/// `Ok(Some(reason))`. Who may override is decided elsewhere.
pub fn check_override(a: &Assessment, reason: Option<&str>) -> Result<Option<String>, Invalid> {
    if a.eligible() {
        return Ok(None);
    }
    let Some(reason) = reason.map(str::trim).filter(|r| !r.is_empty()) else {
        let msgs: Vec<&str> = a.failed().iter().map(|r| r.message.as_str()).collect();
        return Err(Invalid::one(
            "eligibility",
            format!("not eligible: {}", msgs.join("; ")),
        ));
    };
    if !(3..=500).contains(&reason.chars().count()) {
        return Err(Invalid::one("override_reason", "give a reason of 3–500 characters"));
    }
    Ok(Some(reason.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BOTH: [SpaceKind; 2] = [SpaceKind::Injecting, SpaceKind::Inhalation];

    fn strings(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| (*s).to_string()).collect()
    }

    /// Runs the rules for a person born `yob`, in 2026, from area "G12".
    fn run(rules: &EligibilityRules, answers: Answers, yob: i32, subs: &[&str], route: &str) -> Assessment {
        run_at(rules, answers, yob, "G12", subs, route, &BOTH)
    }

    fn run_at(
        rules: &EligibilityRules,
        answers: Answers,
        yob: i32,
        home: &str,
        subs: &[&str],
        route: &str,
        kinds: &[SpaceKind],
    ) -> Assessment {
        let subs = strings(subs);
        let subject = Subject {
            year_of_birth: yob,
            home_area: home,
            substances: &subs,
            route,
            year: 2026,
        };
        assess(rules, &answers, &subject, kinds)
    }

    fn result<'a>(a: &'a Assessment, code: &str) -> &'a RuleResult {
        a.results.iter().find(|r| r.rule == code).expect("every rule reports")
    }

    fn adult(rules: &EligibilityRules, answers: Answers) -> Assessment {
        run(rules, answers, 1990, &["heroin"], "injection")
    }

    fn all_off() -> EligibilityRules {
        EligibilityRules {
            min_age: MinAge {
                enabled: false,
                years: 18,
            },
            intoxicated: Toggle::OFF,
            pregnant: Toggle::OFF,
            accompanied_by_child: Toggle::OFF,
            first_time_user: Toggle::OFF,
            residency: Residency::default(),
            ost: Ost { mode: OstMode::Admit },
            ..EligibilityRules::default()
        }
    }

    fn on_everything() -> EligibilityRules {
        EligibilityRules {
            pregnant: Toggle::ON,
            first_time_user: Toggle::ON,
            residency: Residency {
                enabled: true,
                areas: strings(&["G1*"]),
            },
            ost: Ost { mode: OstMode::Exclude },
            ..EligibilityRules::default()
        }
    }

    #[test]
    fn results_follow_rule_codes_and_default_adult_is_eligible() {
        let a = adult(&EligibilityRules::default(), Answers::default());
        let codes: Vec<_> = a.results.iter().map(|r| r.rule.as_str()).collect();
        assert_eq!(codes, RULE_CODES);
        assert!(a.eligible(), "{a:?}");
        assert!(RULE_CODES.iter().all(|c| rule_label(c) != "Unknown rule"));
        assert_eq!(rule_label("nope"), "Unknown rule");
    }

    // Minimum age [msic-inside], [nds-vo], [nrw-vo].

    #[test]
    fn min_age_18_msic_fails_for_born_2010_in_2026() {
        let a = run(
            &EligibilityRules::default(),
            Answers::default(),
            2010,
            &["heroin"],
            "injection",
        );
        let r = result(&a, "under_age");
        assert_eq!(r.outcome, Outcome::Fail);
        assert_eq!(r.message, "under 18 (born 2010)");
        assert!(!a.eligible());
    }

    #[test]
    fn min_age_18_msic_passes_for_person_turning_18_later_this_year() {
        let a = run(
            &EligibilityRules::default(),
            Answers::default(),
            2008,
            &["heroin"],
            "injection",
        );
        assert_eq!(result(&a, "under_age").outcome, Outcome::Pass);
    }

    #[test]
    fn min_age_16_nds_vo_admits_born_2010_in_2026() {
        let rules = EligibilityRules {
            min_age: MinAge {
                enabled: true,
                years: 16,
            },
            ..EligibilityRules::default()
        };
        let a = run(&rules, Answers::default(), 2010, &["heroin"], "injection");
        assert_eq!(result(&a, "under_age").outcome, Outcome::Pass);
        let a = run(&rules, Answers::default(), 2011, &["heroin"], "injection");
        assert_eq!(result(&a, "under_age").message, "under 16 (born 2011)");
    }

    #[test]
    fn min_age_off_for_nrw_vo_individual_review() {
        let a = run(&all_off(), Answers::default(), 2012, &["heroin"], "injection");
        assert_eq!(result(&a, "under_age").outcome, Outcome::Off);
        assert!(a.eligible());
    }

    // Visible intoxication [msic-inside], [nrw-vo], [nds-vo].

    #[test]
    fn intoxicated_excluded_msic_nrw_vo_nds_vo_fails() {
        let a = adult(
            &EligibilityRules::default(),
            Answers {
                intoxicated: true,
                ..Answers::default()
            },
        );
        let r = result(&a, "intoxicated");
        assert_eq!((r.outcome, r.message.as_str()), (Outcome::Fail, "visibly intoxicated"));
    }

    #[test]
    fn intoxicated_msic_nrw_vo_nds_vo_passes_when_sober() {
        let a = adult(&EligibilityRules::default(), Answers::default());
        assert_eq!(result(&a, "intoxicated").outcome, Outcome::Pass);
    }

    #[test]
    fn intoxicated_msic_rule_off_when_disabled() {
        let a = adult(
            &all_off(),
            Answers {
                intoxicated: true,
                ..Answers::default()
            },
        );
        assert_eq!(result(&a, "intoxicated").outcome, Outcome::Off);
    }

    // Pregnancy and accompanying child [msic-inside].

    #[test]
    fn pregnant_excluded_msic_inside_fails() {
        let a = adult(
            &on_everything(),
            Answers {
                pregnant: true,
                ..Answers::default()
            },
        );
        assert_eq!(result(&a, "pregnant").outcome, Outcome::Fail);
    }

    #[test]
    fn pregnant_msic_inside_passes_when_not_pregnant() {
        let a = adult(&on_everything(), Answers::default());
        assert_eq!(result(&a, "pregnant").outcome, Outcome::Pass);
    }

    #[test]
    fn pregnant_msic_inside_rule_off_by_default() {
        let a = adult(
            &EligibilityRules::default(),
            Answers {
                pregnant: true,
                ..Answers::default()
            },
        );
        assert_eq!(result(&a, "pregnant").outcome, Outcome::Off);
        assert!(a.eligible());
    }

    #[test]
    fn accompanied_by_child_excluded_msic_inside_fails() {
        let a = adult(
            &EligibilityRules::default(),
            Answers {
                accompanied_by_child: true,
                ..Answers::default()
            },
        );
        let r = result(&a, "accompanied_by_child");
        assert_eq!(
            (r.outcome, r.message.as_str()),
            (Outcome::Fail, "accompanied by a child")
        );
    }

    #[test]
    fn accompanied_by_child_msic_inside_passes_alone() {
        let a = adult(&EligibilityRules::default(), Answers::default());
        assert_eq!(result(&a, "accompanied_by_child").outcome, Outcome::Pass);
    }

    #[test]
    fn accompanied_by_child_msic_inside_rule_off_when_disabled() {
        let a = adult(
            &all_off(),
            Answers {
                accompanied_by_child: true,
                ..Answers::default()
            },
        );
        assert_eq!(result(&a, "accompanied_by_child").outcome, Outcome::Off);
    }

    // First-time or occasional use, §10a(2) BtMG [btmg10a].

    #[test]
    fn first_time_user_excluded_btmg_10a() {
        let a = adult(
            &on_everything(),
            Answers {
                first_time_user: true,
                ..Answers::default()
            },
        );
        assert_eq!(result(&a, "first_time_user").outcome, Outcome::Fail);
    }

    #[test]
    fn first_time_user_btmg_10a_passes_experienced_user() {
        let a = adult(&on_everything(), Answers::default());
        assert_eq!(result(&a, "first_time_user").outcome, Outcome::Pass);
    }

    #[test]
    fn first_time_user_btmg_10a_rule_off_by_default_outside_germany() {
        let a = adult(
            &EligibilityRules::default(),
            Answers {
                first_time_user: true,
                ..Answers::default()
            },
        );
        assert_eq!(result(&a, "first_time_user").outcome, Outcome::Off);
    }

    // Residency, Zurich city residents only [zh].

    fn residency(areas: &[&str]) -> EligibilityRules {
        EligibilityRules {
            residency: Residency {
                enabled: true,
                areas: strings(areas),
            },
            ..EligibilityRules::default()
        }
    }

    fn residency_outcome(rules: &EligibilityRules, home: &str) -> Outcome {
        result(
            &run_at(rules, Answers::default(), 1990, home, &["heroin"], "injection", &BOTH),
            "residency",
        )
        .outcome
    }

    #[test]
    fn residency_zh_passes_equal_code_ignoring_case_and_spaces() {
        let rules = residency(&["G1", "G 2"]);
        assert_eq!(residency_outcome(&rules, "g1"), Outcome::Pass);
        assert_eq!(residency_outcome(&rules, " g2 "), Outcome::Pass);
    }

    #[test]
    fn residency_zh_fails_outside_areas_and_whole_code_must_match() {
        let rules = residency(&["G1"]);
        assert_eq!(residency_outcome(&rules, "G12"), Outcome::Fail);
        let a = run_at(&rules, Answers::default(), 1990, "EH1", &["heroin"], "injection", &BOTH);
        assert_eq!(result(&a, "residency").message, "home area EH1 is not served here");
        let a = run_at(&rules, Answers::default(), 1990, "  ", &["heroin"], "injection", &BOTH);
        assert_eq!(result(&a, "residency").message, "no home area recorded");
    }

    #[test]
    fn residency_zh_star_means_prefix() {
        let rules = residency(&["G1*"]);
        assert_eq!(residency_outcome(&rules, "g12"), Outcome::Pass);
        assert_eq!(residency_outcome(&rules, "G2"), Outcome::Fail);
    }

    #[test]
    fn residency_zh_rule_off_by_default() {
        assert_eq!(residency_outcome(&EligibilityRules::default(), ""), Outcome::Off);
    }

    // OST [nrw-vo], [nrw-2017], [nrw-2024].

    fn ost(mode: OstMode, on_ost: bool) -> Assessment {
        let rules = EligibilityRules {
            ost: Ost { mode },
            ..EligibilityRules::default()
        };
        adult(
            &rules,
            Answers {
                on_ost,
                ..Answers::default()
            },
        )
    }

    #[test]
    fn ost_exclude_nrw_vo_fails() {
        let a = ost(OstMode::Exclude, true);
        assert_eq!(result(&a, "on_ost").outcome, Outcome::Fail);
        assert!(!a.counted_ost());
        assert_eq!(result(&ost(OstMode::Exclude, false), "on_ost").outcome, Outcome::Pass);
    }

    #[test]
    fn ost_admit_nrw_2017_is_off_and_not_counted() {
        let a = ost(OstMode::Admit, true);
        assert_eq!(result(&a, "on_ost").outcome, Outcome::Off);
        assert!(a.eligible() && !a.counted_ost());
    }

    #[test]
    fn ost_admit_and_count_nrw_2024_passes_and_counts() {
        let a = ost(OstMode::AdmitAndCount, true);
        assert_eq!(result(&a, "on_ost").outcome, Outcome::Pass);
        assert!(a.eligible() && a.counted_ost());
        let again = Assessment::from_json(&a.to_json()).expect("round trip");
        assert!(again.counted_ost());
        let not_on = ost(OstMode::AdmitAndCount, false);
        assert!(not_on.eligible() && !not_on.counted_ost());
    }

    // Routes and substances per kind of space [msic-inside], [nrw-vo], [nds-vo].

    #[test]
    fn route_not_allowed_msic_inside_injecting_only_site() {
        let rules = EligibilityRules::default();
        let inj = [SpaceKind::Injecting];
        let a = run_at(&rules, Answers::default(), 1990, "G12", &["crack"], "inhalation", &inj);
        let r = result(&a, "route_not_allowed");
        assert_eq!(r.outcome, Outcome::Fail);
        assert_eq!(r.message, "route inhalation not offered in any space");
        assert_eq!(result(&a, "substance_not_allowed").outcome, Outcome::Pass);
        let a = run_at(&rules, Answers::default(), 1990, "G12", &["heroin"], "injection", &inj);
        assert_eq!(result(&a, "route_not_allowed").outcome, Outcome::Pass);
        let a = run_at(&rules, Answers::default(), 1990, "G12", &["heroin"], "injection", &[]);
        assert_eq!(result(&a, "route_not_allowed").outcome, Outcome::Fail);
    }

    #[test]
    fn route_allowed_nds_vo_nasal_and_oral_when_configured() {
        let mut rules = EligibilityRules::default();
        rules
            .routes_by_kind
            .insert("injecting".into(), strings(&["injection", "intranasal", "oral"]));
        let a = run(&rules, Answers::default(), 1990, &["cocaine"], "intranasal");
        assert_eq!(result(&a, "route_not_allowed").outcome, Outcome::Pass);
        // Inhalation keeps its default when only injecting is configured.
        assert!(rules.route_allowed_in(SpaceKind::Inhalation, "inhalation"));
        rules.routes_by_kind.remove("inhalation");
        assert!(rules.route_allowed_in(SpaceKind::Inhalation, "inhalation"));
        assert!(!rules.route_allowed_in(SpaceKind::Inhalation, "oral"));
    }

    fn nrw_substances() -> EligibilityRules {
        let mut rules = EligibilityRules::default();
        rules
            .substances_by_kind
            .insert("injecting".into(), strings(&["heroin", "cocaine", "amphetamine"]));
        rules
            .substances_by_kind
            .insert("inhalation".into(), strings(&["crack", "heroin"]));
        rules
    }

    #[test]
    fn substance_not_allowed_nrw_vo_fails_for_the_route() {
        let a = run(
            &nrw_substances(),
            Answers::default(),
            1990,
            &["heroin", "crack"],
            "injection",
        );
        let r = result(&a, "substance_not_allowed");
        assert_eq!(r.outcome, Outcome::Fail);
        assert_eq!(r.message, "crack not allowed for injection");
    }

    #[test]
    fn substance_not_allowed_nrw_vo_combination_needs_one_kind() {
        let rules = nrw_substances();
        // Each is allowed somewhere, but no kind with the route takes both.
        let a = run(&rules, Answers::default(), 1990, &["cocaine", "crack"], "inhalation");
        assert_eq!(
            result(&a, "substance_not_allowed").message,
            "cocaine not allowed for inhalation"
        );
        let mut rules = rules;
        rules
            .routes_by_kind
            .insert("inhalation".into(), strings(&["inhalation", "injection"]));
        let a = run(&rules, Answers::default(), 1990, &["cocaine", "crack"], "injection");
        assert_eq!(
            result(&a, "substance_not_allowed").message,
            "cocaine + crack not allowed together for injection"
        );
    }

    #[test]
    fn substance_nrw_vo_passes_and_missing_kind_allows_every_substance() {
        let a = run(
            &nrw_substances(),
            Answers::default(),
            1990,
            &["heroin", "cocaine"],
            "injection",
        );
        assert_eq!(result(&a, "substance_not_allowed").outcome, Outcome::Pass);
        let a = run(
            &EligibilityRules::default(),
            Answers::default(),
            1990,
            &["methadone"],
            "injection",
        );
        assert_eq!(result(&a, "substance_not_allowed").outcome, Outcome::Pass);
    }

    #[test]
    fn allowed_in_kind_nrw_vo_errors_name_space_id() {
        let rules = nrw_substances();
        let e = allowed_in_kind(&rules, SpaceKind::Inhalation, "B3", "injection", &[]).unwrap_err();
        assert_eq!(e.0[0].field, "space_id");
        assert_eq!(
            e.0[0].message,
            "space B3 is an inhalation place; route injection is not allowed there"
        );
        let subs = strings(&["crack", "benzodiazepine", "crack"]);
        let e = allowed_in_kind(&rules, SpaceKind::Injecting, "A1", "injection", &subs).unwrap_err();
        assert_eq!(e.0.len(), 1);
        assert_eq!(e.0[0].field, "space_id");
        assert_eq!(
            e.0[0].message,
            "space A1 is an injecting booth; crack and benzodiazepine are not allowed there"
        );
        assert!(allowed_in_kind(&rules, SpaceKind::Inhalation, "C2", "inhalation", &strings(&["crack"])).is_ok());
        assert_eq!(
            allowed_in_kind(&rules, SpaceKind::Inhalation, "C2", " ", &[])
                .unwrap_err()
                .0[0]
                .field,
            "route"
        );
    }

    // Recording and overrides (dcr-practice §4.2).

    #[test]
    fn override_without_reason_lists_every_failing_rule_dcr_practice_4_2() {
        let a = run(
            &EligibilityRules::default(),
            Answers {
                intoxicated: true,
                ..Answers::default()
            },
            2010,
            &["heroin"],
            "injection",
        );
        let e = check_override(&a, None).unwrap_err();
        assert_eq!(e.0[0].field, "eligibility");
        assert_eq!(
            e.0[0].message,
            "not eligible: under 18 (born 2010); visibly intoxicated"
        );
        assert_eq!(check_override(&a, Some("   ")).unwrap_err().0[0].field, "eligibility");
    }

    #[test]
    fn override_with_reason_dcr_practice_4_2() {
        let a = adult(
            &EligibilityRules::default(),
            Answers {
                intoxicated: true,
                ..Answers::default()
            },
        );
        assert_eq!(
            check_override(&a, Some("  mildly drunk, nurse assessed  ")).unwrap(),
            Some("mildly drunk, nurse assessed".to_string())
        );
        assert_eq!(
            check_override(&a, Some("ok")).unwrap_err().0[0].field,
            "override_reason"
        );
        let long = "x".repeat(501);
        assert_eq!(
            check_override(&a, Some(&long)).unwrap_err().0[0].field,
            "override_reason"
        );
        let fine = adult(&EligibilityRules::default(), Answers::default());
        assert_eq!(check_override(&fine, Some("not needed")).unwrap(), None);
    }

    #[test]
    fn assessment_json_round_trip_dcr_practice_4_2() {
        let a = run(
            &on_everything(),
            Answers {
                on_ost: true,
                ..Answers::default()
            },
            2012,
            &["x"],
            "oral",
        );
        let json = a.to_json();
        assert!(json.contains(r#""outcome":"fail""#), "{json}");
        assert_eq!(Assessment::from_json(&json), Some(a));
        assert_eq!(Assessment::from_json("nonsense"), None);
    }

    // Configuration.

    #[test]
    fn default_rules_json_round_trip_and_empty_object_gives_defaults() {
        let d = EligibilityRules::default();
        assert_eq!(EligibilityRules::from_json(&d.to_json()).unwrap(), d);
        assert_eq!(serde_json::from_str::<EligibilityRules>("{}").unwrap(), d);
        assert_eq!(EligibilityRules::from_json("").unwrap(), d);
        assert!(d.min_age.enabled && d.min_age.years == 18);
        assert!(d.intoxicated.enabled && d.accompanied_by_child.enabled);
        assert!(!d.pregnant.enabled && !d.first_time_user.enabled && !d.residency.enabled);
        assert_eq!(d.ost.mode, OstMode::Admit);
        assert_eq!(d.routes_by_kind["injecting"], ["injection"]);
        assert_eq!(d.routes_by_kind["inhalation"], ["inhalation"]);
        assert!(d.substances_by_kind.is_empty());
        let r = EligibilityRules::from_json(r#"{"ost":{"mode":"admit_and_count"},"min_age":{"years":16}}"#).unwrap();
        assert_eq!(r.ost.mode, OstMode::AdmitAndCount);
        assert_eq!(
            r.min_age,
            MinAge {
                enabled: true,
                years: 16
            }
        );
    }

    #[test]
    fn unknown_keys_rejected() {
        assert_eq!(
            EligibilityRules::from_json(r#"{"max_age":{}}"#).unwrap_err().0[0].field,
            "eligibility"
        );
        assert!(EligibilityRules::from_json(r#"{"pregnant":{"enabled":true,"why":1}}"#).is_err());
        assert!(EligibilityRules::from_json(r#"{"ost":{"mode":"sometimes"}}"#).is_err());
        assert!(serde_json::from_str::<Answers>(r#"{"drunk":true}"#).is_err());
        assert_eq!(serde_json::from_str::<Answers>("{}").unwrap(), Answers::default());
    }

    #[test]
    fn validate_catches_unknown_route_code() {
        let site = crate::site::SiteSettings::default();
        assert!(
            EligibilityRules::default()
                .validate(&site.substances, &site.routes)
                .is_ok()
        );
        let mut r = EligibilityRules::default();
        r.routes_by_kind
            .insert("injecting".into(), strings(&["injection", "rectal"]));
        let e = r.validate(&site.substances, &site.routes).unwrap_err();
        assert_eq!(e.0.len(), 1);
        assert_eq!(e.0[0].field, "eligibility.routes_by_kind");
        assert!(e.0[0].message.contains("rectal"));
    }

    #[test]
    fn validate_names_every_bad_field() {
        let site = crate::site::SiteSettings::default();
        let mut r = EligibilityRules {
            min_age: MinAge {
                enabled: true,
                years: 9,
            },
            residency: Residency {
                enabled: true,
                areas: vec![],
            },
            ..EligibilityRules::default()
        };
        r.substances_by_kind
            .insert("booth".into(), strings(&["heroin", "glue"]));
        let e = r.validate(&site.substances, &site.routes).unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "eligibility.min_age.years",
                "eligibility.residency.areas",
                "eligibility.substances_by_kind",
                "eligibility.substances_by_kind"
            ]
        );
        r.min_age.years = 31;
        r.residency.areas = strings(&["*", "G*1", "G1*"]);
        r.substances_by_kind.clear();
        let e = r.validate(&site.substances, &site.routes).unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "eligibility.min_age.years",
                "eligibility.residency.areas",
                "eligibility.residency.areas"
            ]
        );
    }

    fn any_rules() -> impl Strategy<Value = EligibilityRules> {
        (any::<[bool; 6]>(), 10u8..=30, 0usize..3, any::<bool>()).prop_map(|(on, years, mode, limit)| {
            let mut rules = EligibilityRules {
                min_age: MinAge { enabled: on[0], years },
                intoxicated: Toggle { enabled: on[1] },
                pregnant: Toggle { enabled: on[2] },
                accompanied_by_child: Toggle { enabled: on[3] },
                first_time_user: Toggle { enabled: on[4] },
                residency: Residency {
                    enabled: on[5],
                    areas: strings(&["G1*", "EH1"]),
                },
                ost: Ost {
                    mode: [OstMode::Admit, OstMode::Exclude, OstMode::AdmitAndCount][mode],
                },
                ..EligibilityRules::default()
            };
            if limit {
                rules
                    .substances_by_kind
                    .insert("injecting".into(), strings(&["heroin", "cocaine"]));
            }
            rules
        })
    }

    fn answers_from(b: [bool; 5]) -> Answers {
        Answers {
            intoxicated: b[0],
            pregnant: b[1],
            accompanied_by_child: b[2],
            first_time_user: b[3],
            on_ost: b[4],
        }
    }

    proptest! {
        #[test]
        fn with_every_rule_off_and_route_offered_always_eligible(
            answers in any::<[bool; 5]>(),
            yob in any::<i32>(),
            year in any::<i32>(),
            home in "[A-Za-z0-9 ]{0,6}",
            subs in proptest::sample::subsequence(crate::site::SiteSettings::default().substances, 0..4),
            inhale in any::<bool>(),
        ) {
            let answers = answers_from(answers);
            let route = if inhale { "inhalation" } else { "injection" };
            let subject = Subject { year_of_birth: yob, home_area: &home, substances: &subs, route, year };
            let a = assess(&all_off(), &answers, &subject, &BOTH);
            prop_assert!(a.eligible(), "{:?}", a);
            prop_assert_eq!(check_override(&a, None), Ok(None));
        }

        #[test]
        fn eligible_iff_nothing_failed_and_override_lists_failures(
            rules in any_rules(),
            answers in any::<[bool; 5]>(),
            yob in 1900i32..2030,
            home in "[A-Za-z0-9 ]{0,6}",
            subs in proptest::sample::subsequence(crate::site::SiteSettings::default().substances, 0..4),
            route in proptest::sample::select(crate::site::SiteSettings::default().routes),
        ) {
            let answers = answers_from(answers);
            let route = route.as_str();
            let subject = Subject { year_of_birth: yob, home_area: &home, substances: &subs, route, year: 2026 };
            let a = assess(&rules, &answers, &subject, &BOTH);
            prop_assert_eq!(a.results.len(), RULE_CODES.len());
            prop_assert_eq!(a.eligible(), a.failed().is_empty());
            prop_assert_eq!(Assessment::from_json(&a.to_json()), Some(a.clone()));
            match check_override(&a, None) {
                Ok(None) => prop_assert!(a.eligible()),
                Err(e) => {
                    prop_assert!(!a.eligible());
                    for f in a.failed() {
                        prop_assert!(e.0[0].message.contains(&f.message));
                    }
                }
                Ok(Some(_)) => prop_assert!(false, "no reason was given"),
            }
        }
    }
}
