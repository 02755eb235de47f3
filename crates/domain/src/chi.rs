//! Scottish Community Health Index (CHI) number validation.
//!
//! Source: NHS Scotland CHI number format
//! (<https://www.ndc.scot.nhs.uk/Data-Dictionary/SMR-Datasets//Patient-Identification-and-Demographic-Information/Community-Health-Index-Number/>):
//! ten digits, the first six the date of birth as `DDMMYY`, the tenth a
//! modulus-11 check digit. The check digit algorithm is the same as the NHS
//! number's (<https://www.datadictionary.nhs.uk/attributes/nhs_number.html>).
//!
//! A CHI number is an optional health number for a client (dcr-practice §2.3
//! design recommendation); this module only checks its form.

use time::{Date, Month};

/// Why a CHI number was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChiError {
    /// Something other than digits (and ignored whitespace) was entered.
    #[error("CHI number must contain only digits")]
    NonDigit,
    /// The number does not have ten digits; holds the digit count found.
    #[error("CHI number must be exactly 10 digits (found {0})")]
    WrongLength(usize),
    /// The first six digits are not a real `DDMMYY` date.
    #[error("CHI number does not start with a valid date of birth (DDMMYY)")]
    BadDate,
    /// The tenth digit is not the modulus-11 check digit of the first nine,
    /// or the first nine digits have no valid check digit at all.
    #[error("CHI number check digit does not match")]
    BadCheckDigit,
}

/// Validates a CHI number and returns it as a normalised 10-digit string.
///
/// Whitespace anywhere in the input is ignored, so `"010180 1238"` and
/// `"0101801238"` are the same number. The rules, checked in this order:
///
/// 1. exactly ten ASCII digits;
/// 2. the first six digits are a real date `DDMMYY` in either 19YY or 20YY
///    (so `290200` is valid: 2000 is a leap year);
/// 3. the tenth digit is the modulus-11 check digit of the first nine.
///
/// # Errors
///
/// [`ChiError::NonDigit`] or [`ChiError::WrongLength`] for a malformed input,
/// [`ChiError::BadDate`] for an impossible date, [`ChiError::BadCheckDigit`]
/// when the check digit is wrong.
///
/// ```
/// # use haven_domain::chi::validate_chi;
/// assert_eq!(validate_chi("010180 1238").as_deref(), Ok("0101801238"));
/// assert!(validate_chi("0101801239").is_err());
/// ```
pub fn validate_chi(input: &str) -> Result<String, ChiError> {
    // Staff copy numbers from letters and systems that group them with spaces.
    let chi: String = input.chars().filter(|c| !c.is_whitespace()).collect();

    if !chi.chars().all(|c| c.is_ascii_digit()) {
        return Err(ChiError::NonDigit);
    }
    // All ASCII now, so byte length is the digit count.
    if chi.len() != 10 {
        return Err(ChiError::WrongLength(chi.len()));
    }

    let mut digits = [0u8; 10];
    for (slot, b) in digits.iter_mut().zip(chi.bytes()) {
        *slot = b - b'0';
    }

    if !is_chi_date(&digits) {
        return Err(ChiError::BadDate);
    }

    let [first_nine @ .., given] = digits;
    if check_digit(&first_nine) != Some(given) {
        return Err(ChiError::BadCheckDigit);
    }

    Ok(chi)
}

/// Whether digits 1-6 form a real `DDMMYY` date in 19YY or 20YY.
///
/// The CHI number does not say which century, so accept the date if it exists
/// in either; only 29 February differs (2000 is a leap year, 1900 is not).
fn is_chi_date(digits: &[u8; 10]) -> bool {
    let two = |i: usize| digits[i] * 10 + digits[i + 1];
    let (day, month, yy) = (two(0), two(2), i32::from(two(4)));
    let Ok(month) = Month::try_from(month) else {
        return false;
    };
    [1900, 2000]
        .iter()
        .any(|century| Date::from_calendar_date(century + yy, month, day).is_ok())
}

/// Modulus-11 check digit of the first nine digits, or `None` when the
/// algorithm yields 10 (no such CHI number can exist).
///
/// NHS number algorithm: weights 10, 9, …, 2; `check = 11 - (sum % 11)`;
/// 11 becomes 0; 10 is invalid. With the check digit weighted 1, the weighted
/// sum of all ten digits is then a multiple of 11, which is why any single
/// wrong digit is caught (11 is prime and no weight is a multiple of it).
fn check_digit(first_nine: &[u8; 9]) -> Option<u8> {
    let sum: u32 = first_nine
        .iter()
        .zip((2..=10u32).rev())
        .map(|(&d, w)| u32::from(d) * w)
        .sum();
    match 11 - sum % 11 {
        11 => Some(0),
        10 => None,
        // 1..=9 here, so the narrowing cannot lose anything.
        check => u8::try_from(check).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Independent check-digit computation for building test numbers, written
    /// out longhand so the tests do not just re-run the code under test.
    fn test_check_digit(nine: &str) -> Option<u32> {
        let weights = [10, 9, 8, 7, 6, 5, 4, 3, 2];
        let sum: u32 = nine
            .chars()
            .zip(weights)
            .map(|(c, w)| c.to_digit(10).expect("digit") * w)
            .sum();
        let check = 11 - (sum % 11);
        match check {
            11 => Some(0),
            10 => None,
            c => Some(c),
        }
    }

    fn with_check(nine: &str) -> String {
        let check = test_check_digit(nine).expect("test number has a check digit");
        format!("{nine}{check}")
    }

    #[test]
    fn chi_valid_number_with_computed_check_digit() {
        // 0*10 + 1*9 + 0*8 + 1*7 + 8*6 + 0*5 + 1*4 + 2*3 + 3*2 = 80;
        // 80 % 11 = 3; 11 - 3 = 8.
        let number = with_check("010180123");
        assert_eq!(number, "0101801238");
        assert_eq!(validate_chi(&number).as_deref(), Ok("0101801238"));
    }

    #[test]
    fn chi_remainder_zero_gives_check_digit_zero() {
        // Find a serial whose sum is a multiple of 11 and check it ends in 0.
        let nine = (0..1000)
            .map(|serial| format!("150690{serial:03}"))
            .find(|nine| test_check_digit(nine) == Some(0))
            .expect("some serial has check digit 0");
        let number = format!("{nine}0");
        assert_eq!(validate_chi(&number).as_deref(), Ok(number.as_str()));
    }

    #[test]
    fn chi_check_digit_of_ten_is_always_invalid() {
        // No tenth digit can rescue nine digits whose check would be 10.
        let nine = (0..1000)
            .map(|serial| format!("150690{serial:03}"))
            .find(|nine| test_check_digit(nine).is_none())
            .expect("some serial has check value 10");
        for last in 0..=9 {
            assert_eq!(validate_chi(&format!("{nine}{last}")), Err(ChiError::BadCheckDigit));
        }
    }

    #[test]
    fn chi_wrong_check_digit_is_rejected() {
        assert_eq!(validate_chi("0101801239"), Err(ChiError::BadCheckDigit));
        assert_eq!(
            ChiError::BadCheckDigit.to_string(),
            "CHI number check digit does not match"
        );
    }

    #[test]
    fn chi_bad_date_is_rejected() {
        // 32 January does not exist in any century.
        let number = format!("320180123{}", test_check_digit("320180123").unwrap_or(0));
        assert_eq!(validate_chi(&number), Err(ChiError::BadDate));
        assert_eq!(validate_chi("0113801238"), Err(ChiError::BadDate)); // month 13
        assert_eq!(validate_chi("0001801238"), Err(ChiError::BadDate)); // day 0
    }

    #[test]
    fn chi_29_february_valid_when_either_century_is_leap() {
        // 2000 is a leap year, so YY=00 allows 29 Feb.
        assert!(validate_chi(&with_check("290200123")).is_ok());
        // 1901 and 2001 are not leap years.
        assert_eq!(
            validate_chi(&format!("290201123{}", test_check_digit("290201123").unwrap_or(0))),
            Err(ChiError::BadDate)
        );
    }

    #[test]
    fn chi_wrong_length_is_rejected() {
        assert_eq!(validate_chi("010180123"), Err(ChiError::WrongLength(9)));
        assert_eq!(validate_chi("01018012380"), Err(ChiError::WrongLength(11)));
        assert_eq!(validate_chi(""), Err(ChiError::WrongLength(0)));
    }

    #[test]
    fn chi_letters_are_rejected() {
        assert_eq!(validate_chi("01018O1238"), Err(ChiError::NonDigit));
        assert_eq!(validate_chi("0101-801238"), Err(ChiError::NonDigit));
        // Non-ASCII digits are not CHI digits.
        assert_eq!(validate_chi("010180123٨"), Err(ChiError::NonDigit));
    }

    #[test]
    fn chi_spaces_are_accepted_and_removed() {
        assert_eq!(validate_chi("010180 1238").as_deref(), Ok("0101801238"));
        assert_eq!(validate_chi(" 01 01 80 12 38 ").as_deref(), Ok("0101801238"));
        assert_eq!(validate_chi("010 180 1238").as_deref(), Ok("0101801238"));
    }

    /// Any `DDMMYY` that is a real date in 1900s or 2000s.
    fn chi_date() -> impl Strategy<Value = String> {
        (1u8..=31, 1u8..=12, 0u8..=99).prop_filter_map("real date", |(d, m, yy)| {
            let month = Month::try_from(m).ok()?;
            let exists = [1900, 2000]
                .iter()
                .any(|c| Date::from_calendar_date(c + i32::from(yy), month, d).is_ok());
            exists.then(|| format!("{d:02}{m:02}{yy:02}"))
        })
    }

    proptest! {
        #[test]
        fn chi_any_valid_date_and_serial_validates(date in chi_date(), serial in 0u32..1000) {
            let nine = format!("{date}{serial:03}");
            let check = test_check_digit(&nine);
            prop_assume!(check.is_some());
            let number = format!("{nine}{}", check.unwrap_or_default());
            prop_assert_eq!(validate_chi(&number), Ok(number.clone()));
        }

        #[test]
        fn chi_any_single_digit_change_is_detected(
            date in chi_date(),
            serial in 0u32..1000,
            position in 0usize..10,
            delta in 1u8..=9,
        ) {
            let nine = format!("{date}{serial:03}");
            let check = test_check_digit(&nine);
            prop_assume!(check.is_some());
            let number = format!("{nine}{}", check.unwrap_or_default());

            let mut bytes = number.into_bytes();
            bytes[position] = b'0' + (bytes[position] - b'0' + delta) % 10;
            let changed = String::from_utf8(bytes).expect("ascii");

            let result = validate_chi(&changed);
            prop_assert!(result.is_err(), "{} validated", changed);
            // Mod 11 with weights 10..2 (and 1 for the check digit) catches every
            // single-digit change: if the date still parses, the check digit
            // must be what fails.
            if result != Err(ChiError::BadDate) {
                prop_assert_eq!(result, Err(ChiError::BadCheckDigit));
            }
        }

        #[test]
        fn chi_arbitrary_input_never_panics(input in any::<String>()) {
            let _ = validate_chi(&input);
        }
    }
}
