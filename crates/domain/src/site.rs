//! Sites, spaces and the per-site vocabularies (genders, substances, routes,
//! refusal reasons). Defaults are the issue's API contract; every list is
//! configurable per site through the site's JSON settings.

use serde::{Deserialize, Serialize};

use crate::{Invalid, codes::CodeScheme};

/// Kind of space (booth or inhalation place).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpaceKind {
    /// An injecting booth.
    Injecting,
    /// An inhalation (smoking) place.
    Inhalation,
}

impl SpaceKind {
    /// Stored code.
    pub fn as_str(self) -> &'static str {
        match self {
            SpaceKind::Injecting => "injecting",
            SpaceKind::Inhalation => "inhalation",
        }
    }

    /// Parses the stored code.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "injecting" => Some(SpaceKind::Injecting),
            "inhalation" => Some(SpaceKind::Inhalation),
            _ => None,
        }
    }
}

/// Per-site lists of allowed values. Missing keys take the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SiteSettings {
    /// Gender codes offered at registration.
    pub genders: Vec<String>,
    /// Substance codes offered at check-in (several may be chosen).
    pub substances: Vec<String>,
    /// Routes of use offered at check-in.
    pub routes: Vec<String>,
    /// Refusal reason codes.
    pub refusal_reasons: Vec<String>,
    /// Client flags that may be set (e.g. history of overdose).
    pub client_flags: Vec<String>,
    /// How home areas are written: `uk_district`, `ca_fsa` or `free`.
    pub home_area_format: String,
    /// Eligibility rules checked at check-in (dcr-practice §4.1).
    pub eligibility: crate::eligibility::EligibilityRules,
    /// Board timers per space kind (check interval, time limit).
    pub timers: crate::floor::Timers,
    /// What makes an emergency "potentially fatal"; the default follows
    /// Milloy et al. 2008 (naloxone, or an ambulance): impact-methods §1.1.
    pub potentially_fatal: Vec<String>,
    /// Services, referral categories and the follow-up interval (dcr-practice §5.4).
    pub care: crate::care::CareSettings,
    /// Supply items offered and their low-stock thresholds (dcr-practice §5.5).
    pub supplies: crate::supply::StockSettings,
    /// Street-audit zones (dcr-practice §9).
    pub community: crate::community::CommunitySettings,
    /// Substances whose finding in a drug check is a concern (raise an alert).
    pub concerns: Vec<crate::drugcheck::ConcernRule>,
    /// The doses of the emergency page's one-tap naloxone buttons.
    pub naloxone_doses: crate::emergency::NaloxoneDoses,
}

impl Default for SiteSettings {
    fn default() -> Self {
        let v = |xs: &[&str]| xs.iter().map(|s| (*s).to_string()).collect();
        Self {
            genders: v(&["female", "male", "non_binary", "other", "not_stated"]),
            substances: v(&[
                "heroin",
                "cocaine",
                "crack",
                "benzodiazepine",
                "methadone",
                "fentanyl",
                "methamphetamine",
                "amphetamine",
                "other",
            ]),
            routes: v(&["injection", "inhalation", "intranasal", "oral"]),
            // dcr-practice §4.1 rule types; §4.2 asks for refusals counted by reason.
            refusal_reasons: v(&[
                "intoxicated",
                "under_age",
                "not_eligible",
                "behaviour",
                "capacity",
                "full",
                "other",
            ]),
            client_flags: v(&["history_of_overdose", "pregnant", "wound_care", "no_fixed_abode"]),
            home_area_format: "uk_district".into(),
            eligibility: crate::eligibility::EligibilityRules::default(),
            timers: crate::floor::Timers::default(),
            potentially_fatal: crate::emergency::default_fatal_criteria()
                .into_iter()
                .map(|c| c.as_str().to_string())
                .collect(),
            care: crate::care::CareSettings::default(),
            supplies: crate::supply::StockSettings::default(),
            community: crate::community::CommunitySettings::default(),
            concerns: crate::drugcheck::default_concerns(),
            naloxone_doses: crate::emergency::NaloxoneDoses::default(),
        }
    }
}

impl SiteSettings {
    /// Parses settings JSON (empty or `{}` gives the defaults); unknown keys are rejected.
    pub fn from_json(s: &str) -> Result<Self, Invalid> {
        if s.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_json::from_str(s).map_err(|e| Invalid::one("settings", e.to_string()))
    }

    /// Checks the lists make sense: none empty (but flags), codes plain
    /// (lower-case letters, digits, `_`), no repeats, a known home-area format.
    pub fn validate(&self) -> Result<(), Invalid> {
        let mut inv = Invalid::default();
        let lists: [(&str, &Vec<String>, bool); 5] = [
            ("genders", &self.genders, false),
            ("substances", &self.substances, false),
            ("routes", &self.routes, false),
            ("refusal_reasons", &self.refusal_reasons, false),
            ("client_flags", &self.client_flags, true),
        ];
        for (name, list, may_be_empty) in lists {
            if list.is_empty() && !may_be_empty {
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
        if !["uk_district", "ca_fsa", "free"].contains(&self.home_area_format.as_str()) {
            inv.push("home_area_format", "use uk_district, ca_fsa or free");
        }
        if let Err(e) = self.eligibility.validate(&self.substances, &self.routes) {
            inv.0.extend(e.0);
        }
        if let Err(e) = self.timers.validate() {
            inv.0.extend(e.0);
        }
        if let Err(e) = crate::emergency::parse_fatal_criteria(&self.potentially_fatal) {
            inv.0.extend(e.0);
        }
        if let Err(e) = self.care.validate() {
            inv.0.extend(e.0);
        }
        if let Err(e) = self.supplies.validate() {
            inv.0.extend(e.0);
        }
        if let Err(e) = self.community.validate() {
            inv.0.extend(e.0);
        }
        if let Err(e) = crate::drugcheck::validate_concerns(&self.concerns) {
            inv.0.extend(e.0);
        }
        if let Err(e) = self.naloxone_doses.validate() {
            inv.0.extend(e.0);
        }
        inv.into_result()
    }

    /// Serialises for storage.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

/// A validated new or edited site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteInput {
    /// Short code, 2–8 upper-case letters or digits, also the prefix of site-scheme client codes.
    pub code: String,
    /// Display name.
    pub name: String,
    /// IANA time zone, e.g. `Europe/London`.
    pub timezone: String,
    /// Opening time, `HH:MM` local.
    pub opens: String,
    /// Closing time, `HH:MM` local.
    pub closes: String,
    /// Client code scheme.
    pub code_scheme: CodeScheme,
}

/// Parses `HH:MM` (00:00–23:59, or 24:00 for closing at midnight).
pub fn parse_hhmm(s: &str) -> Option<(u8, u8)> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: u8 = h.parse().ok()?;
    let m: u8 = m.parse().ok()?;
    ((h < 24 && m < 60) || (h == 24 && m == 0)).then_some((h, m))
}

/// Validates site fields, collecting every error.
pub fn validate_site(
    code: &str,
    name: &str,
    timezone: &str,
    opens: &str,
    closes: &str,
    scheme: &str,
) -> Result<SiteInput, Invalid> {
    let mut inv = Invalid::default();
    let code = code.trim().to_uppercase();
    if !(2..=8).contains(&code.len()) || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
        inv.push("code", "use 2–8 letters or digits, e.g. GLA");
    }
    let name = name.trim().to_string();
    if name.is_empty() || name.chars().count() > 120 {
        inv.push("name", "enter a name of at most 120 characters");
    }
    if !crate::clock::valid_timezone(timezone.trim()) {
        inv.push("timezone", "enter a time zone such as Europe/London");
    }
    let o = parse_hhmm(opens.trim());
    let c = parse_hhmm(closes.trim());
    if o.is_none() {
        inv.push("opens", "enter a time as HH:MM");
    }
    if c.is_none() {
        inv.push("closes", "enter a time as HH:MM");
    }
    let scheme_parsed = scheme.parse::<CodeScheme>();
    if scheme_parsed.is_err() {
        inv.push("code_scheme", "choose site, onhrdb or slk581");
    }
    inv.into_result()?;
    Ok(SiteInput {
        code,
        name,
        timezone: timezone.trim().into(),
        opens: opens.trim().into(),
        closes: closes.trim().into(),
        code_scheme: scheme_parsed.map_err(|_| Invalid::one("code_scheme", "unknown scheme"))?,
    })
}

/// Validates a space label.
pub fn validate_space_label(label: &str) -> Result<String, Invalid> {
    let l = label.trim();
    if l.is_empty() || l.chars().count() > 40 {
        return Err(Invalid::one("label", "enter a label of at most 40 characters"));
    }
    Ok(l.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_vocabularies_match_the_api_contract() {
        let s = SiteSettings::default();
        assert!(s.substances.contains(&"heroin".to_string()));
        assert_eq!(s.routes, ["injection", "inhalation", "intranasal", "oral"]);
        assert_eq!(s.genders.len(), 5);
    }

    #[test]
    fn settings_json_rejects_unknown_keys_and_fills_defaults() {
        assert!(SiteSettings::from_json(r#"{"colour":"red"}"#).is_err());
        let s = SiteSettings::from_json(r#"{"routes":["injection"]}"#).unwrap();
        assert_eq!(s.routes, ["injection"]);
        assert_eq!(s.genders, SiteSettings::default().genders);
    }

    #[test]
    fn settings_lists_must_be_plain_codes_without_repeats() {
        assert!(SiteSettings::default().validate().is_ok());
        let mut s = SiteSettings::default();
        s.routes.clear();
        s.substances.push("Heroin!".into());
        s.genders.push("male".into());
        s.home_area_format = "zip".into();
        let e = s.validate().unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        // With no routes left, the eligibility rules' routes per space kind are unknown too.
        assert_eq!(
            fields,
            [
                "genders",
                "substances",
                "routes",
                "home_area_format",
                "eligibility.routes_by_kind",
                "eligibility.routes_by_kind"
            ]
        );
    }

    #[test]
    fn settings_validate_floor_timers_and_potentially_fatal_criteria() {
        let mut s = SiteSettings::default();
        s.timers.injecting.check_minutes = 0;
        s.potentially_fatal = vec!["naloxone".into(), "hiccups".into()];
        let e = s.validate().unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["timers.injecting.check_minutes", "potentially_fatal"]);
        // Stored settings from before these keys existed take the defaults.
        let old = SiteSettings::from_json(r#"{"routes":["injection","inhalation"]}"#).unwrap();
        assert_eq!(old.timers, crate::floor::Timers::default());
        assert_eq!(old.potentially_fatal, ["naloxone", "ambulance"]);
    }

    #[test]
    fn site_validation_names_every_bad_field() {
        let e = validate_site("g", "", "Nowhere", "9", "21:00", "x").unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["code", "name", "timezone", "opens", "code_scheme"]);
        let ok = validate_site("gla", "Glasgow", "Europe/London", "09:00", "21:00", "site").unwrap();
        assert_eq!(ok.code, "GLA");
    }

    #[test]
    fn hhmm_bounds() {
        assert_eq!(parse_hhmm("09:00"), Some((9, 0)));
        assert_eq!(parse_hhmm("24:00"), Some((24, 0)));
        assert_eq!(parse_hhmm("24:01"), None);
        assert_eq!(parse_hhmm("9:00"), None);
    }
}
