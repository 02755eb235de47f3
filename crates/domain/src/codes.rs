//! Pseudonymous client code schemes.
//!
//! Clients of a drug consumption room are identified by codes, not names
//! (dcr-practice §2). Haven supports three schemes per deployment
//! (dcr-practice §2.3 design recommendation):
//!
//! * [`CodeScheme::Site`]: a site-defined prefix plus a sequence number;
//! * [`CodeScheme::Onhrdb`]: Ontario ONHRDB-style gender + 4 letters + year of
//!   birth (dcr-practice §2.1 \[onhrdb-mds\]);
//! * [`CodeScheme::Slk581`]: the Australian statistical linkage key SLK-581
//!   (dcr-practice §2.2 \[slk581\]).
//!
//! Everything here is pure: no I/O, no clock. Callers pass the current year
//! where a rule needs it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::{Date, Month};

/// Error raised when a client code cannot be built or does not fit its scheme.
///
/// `field` names the input field at fault so a form can show the message next
/// to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct CodeError {
    /// Name of the offending input field (for example `letters`).
    pub field: &'static str,
    /// Human-readable explanation of what is wrong.
    pub message: String,
}

impl CodeError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// The client code schemes a deployment can use (dcr-practice §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeScheme {
    /// Site-defined code: `PREFIX-` followed by at least six digits.
    Site,
    /// ONHRDB-style code: gender letter, 4 letters, 4-digit year of birth
    /// (dcr-practice §2.1).
    Onhrdb,
    /// SLK-581 statistical linkage key, 14 characters (dcr-practice §2.2).
    Slk581,
}

impl CodeScheme {
    /// Stable lower-case name, identical to the serde representation.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Site => "site",
            Self::Onhrdb => "onhrdb",
            Self::Slk581 => "slk581",
        }
    }
}

impl fmt::Display for CodeScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CodeScheme {
    type Err = CodeError;

    /// Parses `site`, `onhrdb` or `slk581` (the [`CodeScheme::as_str`] names).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "site" => Ok(Self::Site),
            "onhrdb" => Ok(Self::Onhrdb),
            "slk581" => Ok(Self::Slk581),
            other => Err(CodeError::new(
                "scheme",
                format!("unknown code scheme {other:?}; expected site, onhrdb or slk581"),
            )),
        }
    }
}

/// Builds a site-defined client code: `PREFIX-` plus the sequence number
/// zero-padded to six digits.
///
/// Numbers wider than six digits are written in full, never truncated, so
/// codes stay unique after the millionth registration.
///
/// ```
/// # use haven_domain::codes::site_code;
/// assert_eq!(site_code("GLA", 123), "GLA-000123");
/// assert_eq!(site_code("GLA", 1_234_567), "GLA-1234567");
/// ```
pub fn site_code(prefix: &str, seq: u64) -> String {
    format!("{prefix}-{seq:06}")
}

/// Input for an ONHRDB-style client code (dcr-practice §2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnhrdbInput {
    /// Haven gender value: `female`, `male`, `non_binary`, `other` or
    /// `not_stated` (case-insensitive, surrounding whitespace ignored).
    pub gender: String,
    /// Exactly four ASCII letters chosen with the client; upper-cased in the
    /// code.
    pub letters: String,
    /// Four-digit year of birth, 1901 to the current year.
    pub year_of_birth: i32,
}

// dcr-practice §2.1 [onhrdb-mds]: ONHRDB itself lists Male, Female, Trans
// Male, Trans Female and "Other gender not listed" but does not say how gender
// is written into the code. The one-letter prefixes below are a Haven
// convention over Haven's own gender values, so keep them in one place.
fn onhrdb_gender_letter(gender: &str) -> Option<char> {
    match gender.trim().to_ascii_lowercase().as_str() {
        "female" => Some('F'),
        "male" => Some('M'),
        "non_binary" => Some('N'),
        "other" => Some('O'),
        "not_stated" => Some('U'),
        _ => None,
    }
}

// dcr-practice §2.1 [onhrdb-mds]: year of birth runs from 1901 to the current
// year.
const ONHRDB_MIN_YEAR: i32 = 1901;

/// Builds an ONHRDB-style client code: gender letter, the four letters
/// upper-cased, then the four-digit year of birth (dcr-practice §2.1).
///
/// Gender maps to `F` (female), `M` (male), `N` (non_binary), `O` (other) or
/// `U` (not_stated).
///
/// # Errors
///
/// Returns a [`CodeError`] naming `gender` for an unknown gender value,
/// `letters` unless `letters` is exactly four ASCII letters, and
/// `year_of_birth` unless the year lies in `1901..=current_year` (and has four
/// digits).
///
/// ```
/// # use haven_domain::codes::{onhrdb_code, OnhrdbInput};
/// let input = OnhrdbInput {
///     gender: "female".into(),
///     letters: "abcd".into(),
///     year_of_birth: 1984,
/// };
/// assert_eq!(onhrdb_code(&input, 2025).as_deref(), Ok("FABCD1984"));
/// ```
pub fn onhrdb_code(input: &OnhrdbInput, current_year: i32) -> Result<String, CodeError> {
    let gender = onhrdb_gender_letter(&input.gender).ok_or_else(|| {
        CodeError::new(
            "gender",
            format!(
                "unknown gender {:?}; expected female, male, non_binary, other or not_stated",
                input.gender
            ),
        )
    })?;

    // dcr-practice §2.1 [onhrdb-mds]: "exactly 4 alphabetic characters". ASCII
    // only, so the code stays within A-Z and survives every export format.
    let letters = &input.letters;
    if letters.len() != 4 || !letters.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(CodeError::new("letters", "must be exactly 4 letters A-Z"));
    }

    // dcr-practice §2.1 [onhrdb-mds]: 4-digit year, 1901 to the current year.
    // The 9999 cap keeps the code at exactly four year digits even if a caller
    // passes a nonsensical current year.
    let year = input.year_of_birth;
    if !(ONHRDB_MIN_YEAR..=current_year).contains(&year) || year > 9999 {
        return Err(CodeError::new(
            "year_of_birth",
            format!("must be between {ONHRDB_MIN_YEAR} and {current_year}"),
        ));
    }

    Ok(format!("{gender}{}{year:04}", letters.to_ascii_uppercase()))
}

/// Sex as recorded in the last character of an SLK-581 key (dcr-practice §2.2
/// step 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Slk581Sex {
    /// Code `1` \[slk581\].
    Male,
    /// Code `2` \[slk581\].
    Female,
    /// Code `3` ("another term"); unverified \[U\] in dcr-practice §2.2.
    Other,
    /// Code `9` (not stated); unverified \[U\] in dcr-practice §2.2.
    NotStated,
}

impl Slk581Sex {
    /// The single digit written into the key: `1`, `2`, `3` or `9`.
    pub fn digit(self) -> char {
        // dcr-practice §2.2 step 4 [slk581]: 1 = male, 2 = female are verified;
        // 3 = another term and 9 = not stated are marked [U] (unverified) in the
        // reference, so check the METeOR source before relying on them.
        match self {
            Self::Male => '1',
            Self::Female => '2',
            Self::Other => '3',
            Self::NotStated => '9',
        }
    }
}

/// Maps a Haven gender value to the SLK-581 sex code.
///
/// `male` → [`Slk581Sex::Male`], `female` → [`Slk581Sex::Female`],
/// `not_stated` → [`Slk581Sex::NotStated`], anything else (including
/// `non_binary` and `other`) → [`Slk581Sex::Other`]. Matching ignores case and
/// surrounding whitespace.
pub fn gender_to_slk_sex(gender: &str) -> Slk581Sex {
    match gender.trim().to_ascii_lowercase().as_str() {
        "male" => Slk581Sex::Male,
        "female" => Slk581Sex::Female,
        "not_stated" => Slk581Sex::NotStated,
        _ => Slk581Sex::Other,
    }
}

/// Input for an SLK-581 key (dcr-practice §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slk581Input {
    /// Family name; `None` or a name without letters gives `999`.
    pub family_name: Option<String>,
    /// Given name; `None` or a name without letters gives `99`.
    pub given_name: Option<String>,
    /// Date of birth, written as `DDMMYYYY`.
    pub date_of_birth: Date,
    /// Sex, written as one digit.
    pub sex: Slk581Sex,
}

/// Builds the 14-character SLK-581 key `XXXXXDDMMYYYYS` (dcr-practice §2.2).
///
/// 1. Family name letters 2, 3 and 5; non-letters (hyphens, apostrophes,
///    spaces, …) are ignored; `2` stands for each letter the name is too short
///    to supply; no family name gives `999`.
/// 2. Given name letters 2 and 3 under the same rules; no given name gives
///    `99`.
/// 3. Date of birth as `DDMMYYYY`.
/// 4. Sex digit (see [`Slk581Sex::digit`]).
///
/// Letters are upper case. Common Latin diacritics are folded to their base
/// letter (`Ł` → `L`, `Æ` → `AE`); other non-ASCII letters cannot be written in
/// the key and are skipped like punctuation.
///
/// The key is 14 characters for every date of birth in years 0–9999; earlier
/// (negative) years cannot be written as `YYYY`.
///
/// ```
/// # use haven_domain::codes::{slk581, Slk581Input, Slk581Sex};
/// let input = Slk581Input {
///     family_name: Some("Smith".into()),
///     given_name: Some("John".into()),
///     date_of_birth: time::macros::date!(1980 - 02 - 01),
///     sex: Slk581Sex::Male,
/// };
/// assert_eq!(slk581(&input), "MIHOH010219801");
/// ```
pub fn slk581(input: &Slk581Input) -> String {
    let mut key = String::with_capacity(14);

    // dcr-practice §2.2 step 1 [slk581]: family name letters 2, 3, 5; 999 if none.
    key.push_str(&name_part(input.family_name.as_deref(), &[2, 3, 5]));
    // dcr-practice §2.2 step 2 [slk581]: given name letters 2, 3; 99 if none [U].
    key.push_str(&name_part(input.given_name.as_deref(), &[2, 3]));

    // dcr-practice §2.2 step 3 [slk581]: DDMMYYYY.
    let dob = input.date_of_birth;
    key.push_str(&format!(
        "{:02}{:02}{:04}",
        dob.day(),
        u8::from(dob.month()),
        dob.year()
    ));

    // dcr-practice §2.2 step 4 [slk581]: sex digit.
    key.push(input.sex.digit());
    key
}

/// Picks the letters at the given 1-based `positions` of `name`, using `2` for
/// positions past the end, or all `9`s when the name has no letters at all.
fn name_part(name: Option<&str>, positions: &[usize]) -> String {
    // dcr-practice §2.2 step 1 [slk581]: non-letters are ignored, so positions
    // count letters only ("O'Brien-Smith" → OBRIENSMITH).
    let letters: Vec<char> = name.map(key_letters).unwrap_or_default();
    if letters.is_empty() {
        // A missing name and a name with nothing usable in it are the same to
        // the key: both mean "not known" → all 9s.
        return positions.iter().map(|_| '9').collect();
    }
    positions
        .iter()
        .map(|&pos| pos.checked_sub(1).and_then(|i| letters.get(i)).copied().unwrap_or('2'))
        .collect()
}

/// Upper-case A-Z letters of `name`, in order, after folding diacritics.
fn key_letters(name: &str) -> Vec<char> {
    let mut out = Vec::with_capacity(name.len());
    for c in name.chars().filter(|c| c.is_alphabetic()) {
        // to_uppercase can expand (ß → SS), so fold each resulting char.
        for upper in c.to_uppercase() {
            if let Some(folded) = fold_to_ascii(upper) {
                out.extend(folded.chars());
            }
        }
    }
    out
}

/// ASCII spelling of an upper-case letter, for the Latin-1 and Latin
/// Extended-A letters found in European names; `None` if there is none.
///
/// The SLK-581 key only holds A-Z, so a Polish `Ł` must become `L` rather than
/// be dropped (dropping it would shift every later letter position).
fn fold_to_ascii(c: char) -> Option<&'static str> {
    let s = match c {
        'A' => "A",
        'B' => "B",
        'C' => "C",
        'D' => "D",
        'E' => "E",
        'F' => "F",
        'G' => "G",
        'H' => "H",
        'I' => "I",
        'J' => "J",
        'K' => "K",
        'L' => "L",
        'M' => "M",
        'N' => "N",
        'O' => "O",
        'P' => "P",
        'Q' => "Q",
        'R' => "R",
        'S' => "S",
        'T' => "T",
        'U' => "U",
        'V' => "V",
        'W' => "W",
        'X' => "X",
        'Y' => "Y",
        'Z' => "Z",
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' | 'Ā' | 'Ă' | 'Ą' => "A",
        'Æ' => "AE",
        'Ç' | 'Ć' | 'Ĉ' | 'Ċ' | 'Č' => "C",
        'Ð' | 'Ď' | 'Đ' => "D",
        'È' | 'É' | 'Ê' | 'Ë' | 'Ē' | 'Ĕ' | 'Ė' | 'Ę' | 'Ě' => "E",
        'Ĝ' | 'Ğ' | 'Ġ' | 'Ģ' => "G",
        'Ĥ' | 'Ħ' => "H",
        'Ì' | 'Í' | 'Î' | 'Ï' | 'Ĩ' | 'Ī' | 'Ĭ' | 'Į' | 'İ' => "I",
        'Ĳ' => "IJ",
        'Ĵ' => "J",
        'Ķ' | 'ĸ' => "K",
        'Ĺ' | 'Ļ' | 'Ľ' | 'Ŀ' | 'Ł' => "L",
        'Ñ' | 'Ń' | 'Ņ' | 'Ň' | 'Ŋ' => "N",
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' | 'Ō' | 'Ŏ' | 'Ő' => "O",
        'Œ' => "OE",
        'Ŕ' | 'Ŗ' | 'Ř' => "R",
        'Ś' | 'Ŝ' | 'Ş' | 'Š' => "S",
        'Ţ' | 'Ť' | 'Ŧ' => "T",
        'Þ' => "TH",
        'Ù' | 'Ú' | 'Û' | 'Ü' | 'Ũ' | 'Ū' | 'Ŭ' | 'Ů' | 'Ű' | 'Ų' => "U",
        'Ŵ' => "W",
        'Ý' | 'Ŷ' | 'Ÿ' => "Y",
        'Ź' | 'Ż' | 'Ž' => "Z",
        _ => return None,
    };
    Some(s)
}

/// Checks that `code` has the shape of `scheme`.
///
/// * [`CodeScheme::Site`]: `prefix`, a hyphen, then at least six ASCII digits.
/// * [`CodeScheme::Onhrdb`]: one of `F M N O U`, four upper-case letters A-Z,
///   four digits (dcr-practice §2.1).
/// * [`CodeScheme::Slk581`]: five characters each `A`-`Z`, `2` or `9`, eight
///   digits forming a real `DDMMYYYY` date, then one of `1 2 3 9`
///   (dcr-practice §2.2).
///
/// `prefix` is only used by the site scheme. This checks shape only: it does
/// not know the current year, so it cannot reject a future ONHRDB birth year.
///
/// # Errors
///
/// Returns a [`CodeError`] with `field` `code` describing the first mismatch.
pub fn validate_code(scheme: CodeScheme, prefix: &str, code: &str) -> Result<(), CodeError> {
    match scheme {
        CodeScheme::Site => validate_site(prefix, code),
        CodeScheme::Onhrdb => validate_onhrdb(code),
        CodeScheme::Slk581 => validate_slk581(code),
    }
}

fn bad_code(message: impl Into<String>) -> CodeError {
    CodeError::new("code", message)
}

fn validate_site(prefix: &str, code: &str) -> Result<(), CodeError> {
    let digits = code
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .ok_or_else(|| bad_code(format!("site code must start with \"{prefix}-\"")))?;
    // Mirrors site_code: at least six digits, more once the sequence outgrows
    // the padding.
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_code(format!(
            "site code must be \"{prefix}-\" followed by at least 6 digits"
        )));
    }
    Ok(())
}

fn validate_onhrdb(code: &str) -> Result<(), CodeError> {
    // dcr-practice §2.1 [onhrdb-mds]: gender, 4 letters, 4-digit year. Working
    // on bytes is safe: any non-ASCII byte fails every class check below.
    let bytes = code.as_bytes();
    let shape_ok = bytes.len() == 9
        && matches!(bytes[0], b'F' | b'M' | b'N' | b'O' | b'U')
        && bytes[1..5].iter().all(u8::is_ascii_uppercase)
        && bytes[5..9].iter().all(u8::is_ascii_digit);
    if shape_ok {
        Ok(())
    } else {
        Err(bad_code(
            "ONHRDB code must be F, M, N, O or U, then 4 letters A-Z and a 4-digit year",
        ))
    }
}

fn validate_slk581(code: &str) -> Result<(), CodeError> {
    let bytes = code.as_bytes();
    if bytes.len() != 14 {
        return Err(bad_code("SLK-581 key must be exactly 14 characters"));
    }
    // dcr-practice §2.2 steps 1-2 [slk581]: letters, 2 for a missing letter,
    // 9 for a missing name.
    if !bytes[..5]
        .iter()
        .all(|&b| b.is_ascii_uppercase() || b == b'2' || b == b'9')
    {
        return Err(bad_code("SLK-581 key must start with 5 characters, each A-Z, 2 or 9"));
    }
    // dcr-practice §2.2 step 3 [slk581]: DDMMYYYY must be a real date.
    if !bytes[5..13].iter().all(u8::is_ascii_digit) || parse_ddmmyyyy(&bytes[5..13]).is_none() {
        return Err(bad_code(
            "SLK-581 characters 6-13 must be a valid date of birth as DDMMYYYY",
        ));
    }
    // dcr-practice §2.2 step 4 [slk581]: 1 and 2 verified, 3 and 9 [U].
    if !matches!(bytes[13], b'1' | b'2' | b'3' | b'9') {
        return Err(bad_code("SLK-581 key must end with a sex code 1, 2, 3 or 9"));
    }
    Ok(())
}

/// Parses eight ASCII digits `DDMMYYYY` into a date, if it exists.
fn parse_ddmmyyyy(digits: &[u8]) -> Option<Date> {
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        digits.get(range)?.iter().try_fold(0u32, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
        })
    };
    let day = u8::try_from(num(0..2)?).ok()?;
    let month = Month::try_from(u8::try_from(num(2..4)?).ok()?).ok()?;
    let year = i32::try_from(num(4..8)?).ok()?;
    Date::from_calendar_date(year, month, day).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    fn slk(family: Option<&str>, given: Option<&str>, dob: Date, sex: Slk581Sex) -> String {
        slk581(&Slk581Input {
            family_name: family.map(str::to_owned),
            given_name: given.map(str::to_owned),
            date_of_birth: dob,
            sex,
        })
    }

    fn onhrdb(gender: &str, letters: &str, year: i32) -> OnhrdbInput {
        OnhrdbInput {
            gender: gender.to_owned(),
            letters: letters.to_owned(),
            year_of_birth: year,
        }
    }

    // --- CodeScheme ---------------------------------------------------------

    #[test]
    fn code_scheme_round_trips_through_str_and_serde() {
        for scheme in [CodeScheme::Site, CodeScheme::Onhrdb, CodeScheme::Slk581] {
            assert_eq!(scheme.as_str().parse::<CodeScheme>(), Ok(scheme));
            let json = serde_json::to_string(&scheme).expect("serialise scheme");
            assert_eq!(json, format!("\"{}\"", scheme.as_str()));
            let back: CodeScheme = serde_json::from_str(&json).expect("deserialise scheme");
            assert_eq!(back, scheme);
        }
    }

    #[test]
    fn code_scheme_rejects_unknown_name() {
        let err = "SLK581".parse::<CodeScheme>().expect_err("case matters");
        assert_eq!(err.field, "scheme");
    }

    // --- Site codes ---------------------------------------------------------

    #[test]
    fn site_code_pads_to_six_digits() {
        assert_eq!(site_code("GLA", 123), "GLA-000123");
        assert_eq!(site_code("GLA", 0), "GLA-000000");
    }

    #[test]
    fn site_code_does_not_truncate_wide_numbers() {
        assert_eq!(site_code("GLA", 1_234_567), "GLA-1234567");
        assert_eq!(validate_code(CodeScheme::Site, "GLA", "GLA-1234567"), Ok(()));
    }

    #[test]
    fn site_code_validation_rejects_wrong_prefix_and_short_numbers() {
        for bad in ["EDI-000123", "GLA000123", "GLA-12345", "GLA-00012a", "GLA-", ""] {
            let err = validate_code(CodeScheme::Site, "GLA", bad).expect_err(bad);
            assert_eq!(err.field, "code");
        }
    }

    // --- ONHRDB -------------------------------------------------------------

    #[test]
    fn onhrdb_dcr_practice_2_1_example_female_abcd_1984() {
        // dcr-practice §2.1 [onhrdb-mds]: gender, 4 letters, year of birth.
        let code = onhrdb_code(&onhrdb("female", "abcd", 1984), 2025);
        assert_eq!(code.as_deref(), Ok("FABCD1984"));
    }

    #[test]
    fn onhrdb_dcr_practice_2_1_gender_prefixes() {
        for (gender, letter) in [
            ("female", 'F'),
            ("male", 'M'),
            ("non_binary", 'N'),
            ("other", 'O'),
            ("not_stated", 'U'),
            (" Male ", 'M'),
        ] {
            let code = onhrdb_code(&onhrdb(gender, "WXYZ", 1990), 2025).expect(gender);
            assert_eq!(code, format!("{letter}WXYZ1990"));
        }
    }

    #[test]
    fn onhrdb_dcr_practice_2_1_unknown_gender_is_error() {
        let err = onhrdb_code(&onhrdb("trans_male", "ABCD", 1990), 2025).expect_err("unknown");
        assert_eq!(err.field, "gender");
    }

    #[test]
    fn onhrdb_dcr_practice_2_1_letters_must_be_exactly_four_ascii_letters() {
        for bad in ["ABC", "ABCDE", "AB1D", "AB D", "ABÇD", "", " ABCD"] {
            let err = onhrdb_code(&onhrdb("male", bad, 1990), 2025).expect_err(bad);
            assert_eq!(err.field, "letters", "{bad:?}");
        }
    }

    #[test]
    fn onhrdb_dcr_practice_2_1_year_of_birth_1901_to_current_year() {
        assert!(onhrdb_code(&onhrdb("male", "ABCD", 1901), 2025).is_ok());
        assert!(onhrdb_code(&onhrdb("male", "ABCD", 2025), 2025).is_ok());
        for bad in [1900, 2026, 0, -1984, 12_000] {
            let err = onhrdb_code(&onhrdb("male", "ABCD", bad), 2025).expect_err("year");
            assert_eq!(err.field, "year_of_birth", "{bad}");
        }
        // A silly current year must not let a 5-digit year through.
        let err = onhrdb_code(&onhrdb("male", "ABCD", 10_000), 20_000).expect_err("5 digits");
        assert_eq!(err.field, "year_of_birth");
    }

    #[test]
    fn onhrdb_dcr_practice_2_1_validation_shape() {
        assert_eq!(validate_code(CodeScheme::Onhrdb, "", "UWXYZ2001"), Ok(()));
        for bad in [
            "XABCD1984",
            "Fabcd1984",
            "FABCD84",
            "FABCD19840",
            "FAB1D1984",
            "FABCD198X",
        ] {
            assert!(validate_code(CodeScheme::Onhrdb, "", bad).is_err(), "{bad}");
        }
    }

    // --- SLK-581 ------------------------------------------------------------

    #[test]
    fn slk581_dcr_practice_2_2_example_smith_john() {
        // dcr-practice §2.2 [slk581]: S-M-I-T-H → M, I, H; J-O-H-N → O, H.
        let key = slk(Some("Smith"), Some("John"), date!(1980 - 02 - 01), Slk581Sex::Male);
        assert_eq!(key, "MIHOH010219801");
    }

    #[test]
    fn slk581_dcr_practice_2_2_example_li_ann() {
        // dcr-practice §2.2 [slk581]: "Li" has no 3rd or 5th letter → 2, 2.
        let key = slk(Some("Li"), Some("Ann"), date!(1975 - 07 - 15), Slk581Sex::Female);
        assert_eq!(key, "I22NN150719752");
    }

    #[test]
    fn slk581_dcr_practice_2_2_example_obrien_smith_jo() {
        // dcr-practice §2.2 [slk581]: punctuation ignored → OBRIENSMITH; "Jo" has
        // no 3rd letter → 2.
        let key = slk(
            Some("O'Brien-Smith"),
            Some("Jo"),
            date!(1990 - 11 - 03),
            Slk581Sex::Male,
        );
        assert_eq!(key, "BREO2031119901");
    }

    #[test]
    fn slk581_dcr_practice_2_2_example_no_family_name_kim() {
        // dcr-practice §2.2 [slk581]: no family name → 999.
        let key = slk(None, Some("Kim"), date!(1985 - 06 - 20), Slk581Sex::Female);
        assert_eq!(key, "999IM200619852");
    }

    #[test]
    fn slk581_dcr_practice_2_2_no_given_name_is_99() {
        // dcr-practice §2.2 step 2: 99 for no given name is [U] in the reference.
        let key = slk(Some("Smith"), None, date!(1980 - 02 - 01), Slk581Sex::Male);
        assert_eq!(key, "MIH99010219801");
    }

    #[test]
    fn slk581_dcr_practice_2_2_empty_or_letterless_names_count_as_missing() {
        let dob = date!(1980 - 02 - 01);
        assert_eq!(slk(Some(""), Some("  "), dob, Slk581Sex::Male), "99999010219801");
        assert_eq!(slk(Some("-'"), Some("."), dob, Slk581Sex::Male), "99999010219801");
    }

    #[test]
    fn slk581_dcr_practice_2_2_single_letter_names() {
        // dcr-practice §2.2 step 1: a one-letter name supplies no 2nd letter.
        let key = slk(Some("O"), Some("A"), date!(2000 - 01 - 01), Slk581Sex::Male);
        assert_eq!(key, "22222010120001");
    }

    #[test]
    fn slk581_dcr_practice_2_2_letters_are_upper_case() {
        let key = slk(Some("smith"), Some("john"), date!(1980 - 02 - 01), Slk581Sex::Male);
        assert_eq!(key, "MIHOH010219801");
    }

    #[test]
    fn slk581_dcr_practice_2_2_sex_codes() {
        // 1 and 2 are verified [slk581]; 3 and 9 are [U] in dcr-practice §2.2.
        let dob = date!(1980 - 02 - 01);
        for (sex, digit) in [
            (Slk581Sex::Male, '1'),
            (Slk581Sex::Female, '2'),
            (Slk581Sex::Other, '3'),
            (Slk581Sex::NotStated, '9'),
        ] {
            assert_eq!(slk(Some("Smith"), Some("John"), dob, sex).chars().last(), Some(digit));
        }
    }

    #[test]
    fn slk581_folds_latin_diacritics() {
        // Haven decision (not in the source): fold diacritics so positions
        // are not shifted. W-Ó-J-C-I-K → O, J, I; Ł-U-K-A-S-Z → U, K.
        let key = slk(Some("Wójcik"), Some("Łukasz"), date!(1988 - 03 - 09), Slk581Sex::Male);
        assert_eq!(key, "OJIUK090319881");
        // ß upper-cases to SS: S-T-R-A-U-S-S → T, R, U.
        let key = slk(Some("Strauß"), Some("Ann"), date!(1988 - 03 - 09), Slk581Sex::Female);
        assert_eq!(key, "TRUNN090319882");
    }

    #[test]
    fn gender_to_slk_sex_maps_haven_genders() {
        assert_eq!(gender_to_slk_sex("male"), Slk581Sex::Male);
        assert_eq!(gender_to_slk_sex("female"), Slk581Sex::Female);
        assert_eq!(gender_to_slk_sex("not_stated"), Slk581Sex::NotStated);
        assert_eq!(gender_to_slk_sex("non_binary"), Slk581Sex::Other);
        assert_eq!(gender_to_slk_sex("other"), Slk581Sex::Other);
        assert_eq!(gender_to_slk_sex("something else"), Slk581Sex::Other);
    }

    #[test]
    fn slk581_dcr_practice_2_2_validation_shape() {
        for good in [
            "MIHOH010219801",
            "I22NN150719752",
            "BREO2031119901",
            "999IM200619852",
            "99999290220009",
        ] {
            assert_eq!(validate_code(CodeScheme::Slk581, "", good), Ok(()), "{good}");
        }
        for bad in [
            "MIHOH01021980",   // 13 chars
            "MIHOH0102198011", // 15 chars
            "MiHOH010219801",  // lower case
            "MI3OH010219801",  // 3 is not a filler digit
            "MIHOH320119801",  // 32 January
            "MIHOH290219001",  // 29 Feb 1900 (not a leap year)
            "MIHOH000119801",  // day 0
            "MIHOH011319801",  // month 13
            "MIHOH010219804",  // sex 4
            "MIHOH01O219801",  // letter O in the date
            "MIHOHé10219801",  // non-ASCII, 14 bytes
        ] {
            assert!(validate_code(CodeScheme::Slk581, "", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn code_error_display_names_field() {
        let err = CodeError::new("letters", "must be exactly 4 letters A-Z");
        assert_eq!(err.to_string(), "letters: must be exactly 4 letters A-Z");
    }

    // --- Properties ---------------------------------------------------------

    fn any_date() -> impl Strategy<Value = Date> {
        // Years 0-9999: the range DDMMYYYY can express.
        (0i32..=9999, 1u8..=12, 1u8..=31).prop_filter_map("real date", |(y, m, d)| {
            let month = Month::try_from(m).ok()?;
            Date::from_calendar_date(y, month, d).ok()
        })
    }

    fn any_sex() -> impl Strategy<Value = Slk581Sex> {
        prop_oneof![
            Just(Slk581Sex::Male),
            Just(Slk581Sex::Female),
            Just(Slk581Sex::Other),
            Just(Slk581Sex::NotStated),
        ]
    }

    proptest! {
        #[test]
        fn slk581_dcr_practice_2_2_always_14_chars_and_valid(
            family in proptest::option::of(any::<String>()),
            given in proptest::option::of(any::<String>()),
            dob in any_date(),
            sex in any_sex(),
        ) {
            let key = slk581(&Slk581Input {
                family_name: family,
                given_name: given,
                date_of_birth: dob,
                sex,
            });
            prop_assert_eq!(key.chars().count(), 14);
            prop_assert_eq!(key.len(), 14);
            prop_assert_eq!(validate_code(CodeScheme::Slk581, "", &key), Ok(()));
        }

        #[test]
        fn onhrdb_dcr_practice_2_1_output_always_validates(
            gender in prop_oneof![
                Just("female"), Just("male"), Just("non_binary"),
                Just("other"), Just("not_stated"), Just("unknown"),
            ],
            letters in prop_oneof!["[a-zA-Z]{4}", any::<String>()],
            year in -10_000i32..=12_000,
            current_year in 1901i32..=2100,
        ) {
            let input = OnhrdbInput { gender: gender.to_owned(), letters, year_of_birth: year };
            if let Ok(code) = onhrdb_code(&input, current_year) {
                prop_assert_eq!(validate_code(CodeScheme::Onhrdb, "", &code), Ok(()));
            }
        }

        #[test]
        fn onhrdb_dcr_practice_2_1_well_formed_input_always_builds(
            gender in prop_oneof![
                Just("female"), Just("male"), Just("non_binary"),
                Just("other"), Just("not_stated"),
            ],
            letters in "[a-zA-Z]{4}",
            (year, current_year) in (1901i32..=2100).prop_flat_map(|c| (1901..=c, Just(c))),
        ) {
            let input = OnhrdbInput { gender: gender.to_owned(), letters, year_of_birth: year };
            let code = onhrdb_code(&input, current_year);
            prop_assert!(code.is_ok(), "{:?}", code);
        }

        #[test]
        fn site_code_always_validates(prefix in "[A-Z]{0,6}", seq in any::<u64>()) {
            let code = site_code(&prefix, seq);
            prop_assert_eq!(validate_code(CodeScheme::Site, &prefix, &code), Ok(()));
        }

        #[test]
        fn validate_code_never_panics(
            prefix in prop_oneof![any::<String>(), "[A-Z]{3}"],
            // Mix arbitrary text with near-misses of each shape so the
            // slicing paths are exercised, not just the length check.
            code in prop_oneof![
                any::<String>(),
                "[A-Z]{3}-[0-9a-z]{5,8}",
                "[A-Z][A-Za-z]{4}[0-9a]{4}",
                "[A-Z29]{5}[0-9]{8}[0-9]",
                ".{14}",
            ],
        ) {
            for scheme in [CodeScheme::Site, CodeScheme::Onhrdb, CodeScheme::Slk581] {
                let _ = validate_code(scheme, &prefix, &code);
            }
        }
    }
}
