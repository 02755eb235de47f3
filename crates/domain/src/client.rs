//! Clients: the pseudonymous registry's input rules.
//!
//! A client is a code, not a name (architecture principle 4). The name letters
//! that some schemes need (ONHRDB, SLK-581) build the code and are then
//! dropped unless the site keeps an identity record (dcr-practice §2.3).

use serde::{Deserialize, Serialize};
use time::Date;

use crate::{
    Invalid,
    codes::{self, CodeScheme, OnhrdbInput, Slk581Input},
    site::SiteSettings,
};

/// Raw registration input, as typed in a form or sent to the API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientDraft {
    /// Year of birth, 1901 to this year (dcr-practice §5.1 \[onhrdb-mds\]).
    pub year_of_birth: Option<i32>,
    /// Gender code from the site's list.
    pub gender: String,
    /// Postcode district, `no_fixed_abode` or `unknown`.
    pub home_area: String,
    /// Optional alias or street name the person goes by.
    #[serde(default)]
    pub alias: Option<String>,
    /// Flags from the site's list.
    #[serde(default)]
    pub flags: Vec<String>,
    /// ONHRDB scheme: the 4 letters.
    #[serde(default)]
    pub letters: Option<String>,
    /// SLK-581 scheme: family name (used for the key, then dropped).
    #[serde(default)]
    pub family_name: Option<String>,
    /// SLK-581 scheme: given name (used for the key, then dropped).
    #[serde(default)]
    pub given_name: Option<String>,
    /// SLK-581 scheme: date of birth.
    #[serde(default)]
    pub date_of_birth: Option<Date>,
    /// Optional identity record.
    #[serde(default)]
    pub identity: Option<IdentityDraft>,
    /// An explicit code (e.g. carried over from paper records); it must fit
    /// the site's scheme, and match the scheme's inputs when those are given.
    #[serde(default)]
    pub code: Option<String>,
}

/// Optional identity record: kept apart, shown only to roles that need it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityDraft {
    /// Full name.
    #[serde(default)]
    pub name: Option<String>,
    /// Scottish CHI number.
    #[serde(default)]
    pub chi: Option<String>,
    /// Another health number (e.g. NHS number, PHN), not validated.
    #[serde(default)]
    pub other_number: Option<String>,
}

/// How the client's code is obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeChoice {
    /// The store assigns the site's next sequence number.
    NextInSequence,
    /// The code is computed from the input.
    Computed(String),
}

/// A validated client ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClient {
    /// How to get the code.
    pub code: CodeChoice,
    /// Year of birth.
    pub year_of_birth: i32,
    /// Gender code.
    pub gender: String,
    /// Normalised home area.
    pub home_area: String,
    /// Alias.
    pub alias: Option<String>,
    /// Flags.
    pub flags: Vec<String>,
    /// Identity record, if any field was given.
    pub identity: Option<Identity>,
}

/// A validated identity record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// Full name.
    pub name: Option<String>,
    /// Normalised CHI number.
    pub chi: Option<String>,
    /// Other health number.
    pub other_number: Option<String>,
}

/// Special home-area values besides a postcode district.
pub const HOME_AREA_SPECIAL: [&str; 2] = ["no_fixed_abode", "unknown"];

/// Normalises a home area: `no_fixed_abode`, `unknown`, or a district in the
/// site's format (UK postcode district such as `G2` or `EH11`; Canadian FSA
/// such as `V6A`, dcr-practice §2.1 \[onhrdb-mds\]; or free text).
pub fn parse_home_area(raw: &str, format: &str) -> Result<String, String> {
    let lower = raw.trim().to_lowercase().replace([' ', '-'], "_");
    if HOME_AREA_SPECIAL.contains(&lower.as_str()) {
        return Ok(lower);
    }
    let s: String = raw
        .trim()
        .to_uppercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let c: Vec<char> = s.chars().collect();
    let ok = match format {
        // Outward code: A9, A99, AA9, AA99, A9A, AA9A.
        "uk_district" => {
            let letters = c.iter().take_while(|ch| ch.is_ascii_alphabetic()).count();
            let rest = &c[letters.min(c.len())..];
            (1..=2).contains(&letters)
                && !rest.is_empty()
                && rest.len() <= 2
                && rest[0].is_ascii_digit()
                && rest.iter().all(|ch| ch.is_ascii_alphanumeric())
        }
        "ca_fsa" => c.len() == 3 && c[0].is_ascii_alphabetic() && c[1].is_ascii_digit() && c[2].is_ascii_alphabetic(),
        _ => !c.is_empty() && c.len() <= 10 && c.iter().all(|ch| ch.is_ascii_alphanumeric()),
    };
    if ok {
        Ok(s)
    } else {
        Err(match format {
            "uk_district" => "enter a postcode district such as G2 or EH11, or choose no fixed abode / unknown".into(),
            "ca_fsa" => "enter a forward sortation area such as V6A, or choose no fixed abode / unknown".into(),
            _ => "enter up to 10 letters or digits, or choose no fixed abode / unknown".into(),
        })
    }
}

fn clean_text(s: &Option<String>, max: usize) -> Result<Option<String>, String> {
    match s.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) if t.chars().count() > max => Err(format!("at most {max} characters")),
        Some(t) if t.chars().any(char::is_control) => Err("contains control characters".into()),
        Some(t) => Ok(Some(t.to_string())),
    }
}

/// Validates a registration against the site's settings and code scheme,
/// collecting every error. `site_prefix` is the site code (for `site` codes).
pub fn prepare_client(
    draft: &ClientDraft,
    settings: &SiteSettings,
    scheme: CodeScheme,
    site_prefix: &str,
    current_year: i32,
) -> Result<NewClient, Invalid> {
    let mut inv = Invalid::default();
    // SLK-581 carries a full date of birth; the year must agree with it.
    let yob = match (draft.year_of_birth, draft.date_of_birth) {
        (Some(y), Some(d)) if scheme == CodeScheme::Slk581 && d.year() != y => {
            inv.push("year_of_birth", "does not match the date of birth");
            None
        }
        (Some(y), _) => Some(y),
        (None, Some(d)) if scheme == CodeScheme::Slk581 => Some(d.year()),
        (None, _) => {
            inv.push("year_of_birth", "enter the year of birth");
            None
        }
    };
    if let Some(y) = yob
        && !(1901..=current_year).contains(&y)
    {
        inv.push("year_of_birth", format!("must be between 1901 and {current_year}"));
    }
    if !settings.genders.iter().any(|g| g == &draft.gender) {
        inv.push("gender", format!("choose one of: {}", settings.genders.join(", ")));
    }
    let home_area = match parse_home_area(&draft.home_area, &settings.home_area_format) {
        Ok(a) => Some(a),
        Err(m) => {
            inv.push("home_area", m);
            None
        }
    };
    let alias = clean_text(&draft.alias, 40).unwrap_or_else(|m| {
        inv.push("alias", m);
        None
    });
    let mut flags = Vec::new();
    for f in &draft.flags {
        if !settings.client_flags.contains(f) {
            inv.push("flags", format!("unknown flag `{f}`"));
        } else if !flags.contains(f) {
            flags.push(f.clone());
        }
    }
    let identity = match &draft.identity {
        None => None,
        Some(id) => {
            let name = clean_text(&id.name, 120).unwrap_or_else(|m| {
                inv.push("identity.name", m);
                None
            });
            let chi = match id.chi.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(c) => match crate::chi::validate_chi(c) {
                    Ok(n) => Some(n),
                    Err(e) => {
                        inv.push("identity.chi", e.to_string());
                        None
                    }
                },
            };
            let other_number = clean_text(&id.other_number, 40).unwrap_or_else(|m| {
                inv.push("identity.other_number", m);
                None
            });
            (name.is_some() || chi.is_some() || other_number.is_some()).then_some(Identity {
                name,
                chi,
                other_number,
            })
        }
    };
    let explicit = draft
        .code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_uppercase);
    if let Some(c) = &explicit
        && let Err(e) = codes::validate_code(scheme, site_prefix, c)
    {
        inv.push(
            "code",
            format!("does not fit the site's {} scheme: {}", scheme.as_str(), e.message),
        );
    }
    let has_inputs = match scheme {
        CodeScheme::Site => false,
        CodeScheme::Onhrdb => draft.letters.as_deref().is_some_and(|l| !l.trim().is_empty()),
        CodeScheme::Slk581 => draft.date_of_birth.is_some(),
    };
    let code = match (scheme, explicit) {
        (_, Some(c)) if !has_inputs => Some(CodeChoice::Computed(c)),
        (CodeScheme::Site, None) => Some(CodeChoice::NextInSequence),
        (CodeScheme::Site, Some(c)) => Some(CodeChoice::Computed(c)),
        (CodeScheme::Onhrdb, explicit) => {
            let input = OnhrdbInput {
                gender: draft.gender.clone(),
                letters: draft.letters.clone().unwrap_or_default(),
                year_of_birth: yob.unwrap_or(0),
            };
            match codes::onhrdb_code(&input, current_year) {
                Ok(c) if explicit.as_ref().is_some_and(|e| e != &c) => {
                    inv.push(
                        "code",
                        format!("does not match the code built from the letters, gender and year ({c})"),
                    );
                    None
                }
                Ok(c) => Some(CodeChoice::Computed(c)),
                Err(e) => {
                    // Gender and year are already reported above.
                    if e.field == "letters" {
                        inv.push("letters", e.message);
                    }
                    None
                }
            }
        }
        (CodeScheme::Slk581, explicit) => match draft.date_of_birth {
            None => {
                inv.push("date_of_birth", "the SLK-581 key needs the date of birth");
                None
            }
            Some(dob) => {
                let c = codes::slk581(&Slk581Input {
                    family_name: draft.family_name.clone(),
                    given_name: draft.given_name.clone(),
                    date_of_birth: dob,
                    sex: codes::gender_to_slk_sex(&draft.gender),
                });
                if explicit.as_ref().is_some_and(|e| e != &c) {
                    inv.push(
                        "code",
                        format!("does not match the key built from the names, date of birth and sex ({c})"),
                    );
                    None
                } else {
                    Some(CodeChoice::Computed(c))
                }
            }
        },
    };
    inv.into_result()?;
    match (code, yob, home_area) {
        (Some(code), Some(year_of_birth), Some(home_area)) => Ok(NewClient {
            code,
            year_of_birth,
            gender: draft.gender.clone(),
            home_area,
            alias,
            flags,
            identity,
        }),
        _ => Err(Invalid::one("client", "incomplete registration")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn draft() -> ClientDraft {
        ClientDraft {
            year_of_birth: Some(1984),
            gender: "male".into(),
            home_area: "g2".into(),
            ..Default::default()
        }
    }

    #[test]
    fn site_scheme_takes_the_next_number() {
        let c = prepare_client(&draft(), &SiteSettings::default(), CodeScheme::Site, "GLA", 2026).unwrap();
        assert_eq!(c.code, CodeChoice::NextInSequence);
        assert_eq!(c.home_area, "G2");
    }

    #[test]
    fn home_areas_uk_districts_and_specials() {
        for ok in ["G2", "g31", "EH11", "SW1A", "M1", "no fixed abode", "Unknown"] {
            assert!(parse_home_area(ok, "uk_district").is_ok(), "{ok}");
        }
        for bad in ["", "2G", "GGG1", "G", "G12345", "G2 1AB"] {
            assert!(parse_home_area(bad, "uk_district").is_err(), "{bad}");
        }
        assert_eq!(parse_home_area("v6a", "ca_fsa"), Ok("V6A".into()));
        assert!(parse_home_area("V6", "ca_fsa").is_err());
    }

    #[test]
    fn every_bad_field_is_named() {
        let d = ClientDraft {
            year_of_birth: Some(1800),
            gender: "robot".into(),
            home_area: "??".into(),
            alias: Some("x".repeat(41)),
            flags: vec!["nope".into()],
            identity: Some(IdentityDraft {
                chi: Some("1234567890".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let e = prepare_client(&d, &SiteSettings::default(), CodeScheme::Site, "GLA", 2026).unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        for f in ["year_of_birth", "gender", "home_area", "alias", "flags", "identity.chi"] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
    }

    #[test]
    fn future_year_of_birth_is_refused() {
        let mut d = draft();
        d.year_of_birth = Some(2027);
        assert!(prepare_client(&d, &SiteSettings::default(), CodeScheme::Site, "GLA", 2026).is_err());
    }

    #[test]
    fn slk581_scheme_builds_the_key_dcr_practice_2_2() {
        let d = ClientDraft {
            year_of_birth: None,
            gender: "male".into(),
            home_area: "G2".into(),
            family_name: Some("Smith".into()),
            given_name: Some("John".into()),
            date_of_birth: Some(date!(1980 - 02 - 01)),
            ..Default::default()
        };
        let c = prepare_client(&d, &SiteSettings::default(), CodeScheme::Slk581, "GLA", 2026).unwrap();
        assert_eq!(c.code, CodeChoice::Computed("MIHOH010219801".into()));
        assert_eq!(c.year_of_birth, 1980);
        // The names built the key and are not kept.
        assert!(c.identity.is_none());
    }

    #[test]
    fn an_explicit_code_must_fit_the_scheme() {
        let mut d = draft();
        d.code = Some("gla-000042".into());
        let c = prepare_client(&d, &SiteSettings::default(), CodeScheme::Site, "GLA", 2026).unwrap();
        assert_eq!(c.code, CodeChoice::Computed("GLA-000042".into()));
        d.code = Some("EDN-000042".into());
        let e = prepare_client(&d, &SiteSettings::default(), CodeScheme::Site, "GLA", 2026).unwrap_err();
        assert_eq!(e.0[0].field, "code");
        d.code = Some("MABCD1984".into());
        let e = prepare_client(&d, &SiteSettings::default(), CodeScheme::Slk581, "GLA", 2026).unwrap_err();
        assert!(e.0.iter().any(|f| f.field == "code"));
        // ONHRDB: a code that disagrees with the letters is refused.
        d.letters = Some("WXYZ".into());
        let e = prepare_client(&d, &SiteSettings::default(), CodeScheme::Onhrdb, "GLA", 2026).unwrap_err();
        assert_eq!(e.0[0].field, "code");
        d.letters = None;
        let c = prepare_client(&d, &SiteSettings::default(), CodeScheme::Onhrdb, "GLA", 2026).unwrap();
        assert_eq!(c.code, CodeChoice::Computed("MABCD1984".into()));
    }

    #[test]
    fn onhrdb_scheme_needs_four_letters() {
        let mut d = draft();
        d.letters = Some("AB1".into());
        let e = prepare_client(&d, &SiteSettings::default(), CodeScheme::Onhrdb, "GLA", 2026).unwrap_err();
        assert_eq!(e.0[0].field, "letters");
        d.letters = Some("abcd".into());
        let c = prepare_client(&d, &SiteSettings::default(), CodeScheme::Onhrdb, "GLA", 2026).unwrap();
        assert_eq!(c.code, CodeChoice::Computed("MABCD1984".into()));
    }
}
