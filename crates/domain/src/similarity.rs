//! Likely-duplicate suggestions for client registration and check-in.
//!
//! Pseudonymous codes collide and fragment: one person ends up with several
//! codes after a typo or a changed alias (dcr-practice §2.1 \[S9\], \[S23\]). The
//! reference recommends suggesting likely duplicates by fuzzy match at
//! check-in (dcr-practice §2.3 design recommendation, \[S30\], \[S56\]). This module
//! scores candidates with Jaro-Winkler similarity over codes and aliases,
//! gated on year of birth. It only suggests; merging is a staff decision.

/// Score at or above which an existing client is suggested as a likely
/// duplicate.
///
/// 0.85 catches a single transposition or typo in a 9-14 character code
/// (about 0.95) while leaving unrelated codes well below. It is a default:
/// sites may tune it.
pub const DUPLICATE_THRESHOLD: f64 = 0.85;

/// A client as seen by the duplicate check: code, optional alias, year of
/// birth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// Client code in any scheme (site, ONHRDB, SLK-581).
    pub code: &'a str,
    /// Name or nickname the client goes by, if recorded.
    pub alias: Option<&'a str>,
    /// Year of birth (stated or derived from the code).
    pub year_of_birth: i32,
}

/// Jaro-Winkler similarity of `a` and `b` after normalisation, in `0.0..=1.0`.
///
/// Both strings are upper-cased and stripped of everything that is not a
/// letter or digit, so `"gla-000123"` and `"GLA 000123"` score 1.0. If either
/// string is empty after normalisation the score is 0.0: a blank alias is no
/// evidence that two clients are the same person.
///
/// The result does not depend on argument order.
///
/// ```
/// # use haven_domain::similarity::similarity;
/// assert_eq!(similarity("gla-000123", "GLA 000123"), 1.0);
/// assert!((similarity("MARTHA", "MARHTA") - 0.961).abs() < 0.0005);
/// ```
pub fn similarity(a: &str, b: &str) -> f64 {
    let a = normalise(a);
    let b = normalise(b);
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    // The greedy matching pass scans one string against the other; fix the
    // order (shorter first, then lexical) so the score is exactly symmetric.
    let (a, b) = if (a.len(), &a) <= (b.len(), &b) { (a, b) } else { (b, a) };
    jaro_winkler(&a, &b).clamp(0.0, 1.0)
}

/// Upper-case letters and digits of `s`, in order.
fn normalise(s: &str) -> Vec<char> {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_uppercase)
        .collect()
}

/// Jaro similarity (Jaro 1989) of two non-empty sequences.
fn jaro(a: &[char], b: &[char]) -> f64 {
    // Characters match if equal and no further apart than this window.
    let window = (a.len().max(b.len()) / 2).saturating_sub(1);

    let mut a_matched = vec![false; a.len()];
    let mut b_matched = vec![false; b.len()];
    let mut matches = 0usize;
    for (i, &ca) in a.iter().enumerate() {
        let lo = i.saturating_sub(window);
        let hi = (i + window + 1).min(b.len());
        for j in lo..hi {
            if !b_matched[j] && b[j] == ca {
                a_matched[i] = true;
                b_matched[j] = true;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }

    // Half the number of matched characters that appear in a different order.
    let a_seq = a.iter().zip(&a_matched).filter(|(_, m)| **m).map(|(c, _)| c);
    let b_seq = b.iter().zip(&b_matched).filter(|(_, m)| **m).map(|(c, _)| c);
    let out_of_order = a_seq.zip(b_seq).filter(|(x, y)| x != y).count();

    let m = matches as f64;
    let t = (out_of_order / 2) as f64;
    (m / a.len() as f64 + m / b.len() as f64 + (m - t) / m) / 3.0
}

/// Jaro-Winkler (Winkler 1990): Jaro boosted for a common prefix of up to four
/// characters, scaling factor 0.1.
fn jaro_winkler(a: &[char], b: &[char]) -> f64 {
    let j = jaro(a, b);
    let prefix = a.iter().zip(b).take(4).take_while(|(x, y)| x == y).count();
    j + prefix as f64 * 0.1 * (1.0 - j)
}

/// Duplicate score of `existing` against `query`, or `None` if it is not a
/// likely duplicate.
///
/// `None` when the years of birth differ by more than one (a stated year is
/// often off by one, rarely by more). Otherwise the score is the highest of:
/// code vs code; alias vs alias (when both have one); the query's alias vs the
/// existing code; the query's code vs the existing alias (staff sometimes type
/// one into the other's field). `Some(score)` only when the score reaches
/// [`DUPLICATE_THRESHOLD`].
pub fn duplicate_score(query: &Candidate, existing: &Candidate) -> Option<f64> {
    // i64 so that extreme years cannot overflow the subtraction.
    let year_gap = (i64::from(query.year_of_birth) - i64::from(existing.year_of_birth)).abs();
    if year_gap > 1 {
        return None;
    }

    let mut score = similarity(query.code, existing.code);
    if let (Some(qa), Some(ea)) = (query.alias, existing.alias) {
        score = score.max(similarity(qa, ea));
    }
    if let Some(qa) = query.alias {
        score = score.max(similarity(qa, existing.code));
    }
    if let Some(ea) = existing.alias {
        score = score.max(similarity(query.code, ea));
    }

    (score >= DUPLICATE_THRESHOLD).then_some(score)
}

/// The likely duplicates of `query` among `existing`, best first, at most
/// `limit` of them.
///
/// Candidates scoring equally keep their input order, so the output is
/// deterministic for a given input.
pub fn rank_duplicates<'a>(
    query: &Candidate,
    existing: impl IntoIterator<Item = Candidate<'a>>,
    limit: usize,
) -> Vec<(Candidate<'a>, f64)> {
    let mut ranked: Vec<(Candidate<'a>, f64)> = existing
        .into_iter()
        .filter_map(|candidate| duplicate_score(query, &candidate).map(|s| (candidate, s)))
        .collect();
    // Stable sort: ties stay in input order.
    ranked.sort_by(|x, y| y.1.total_cmp(&x.1));
    ranked.truncate(limit);
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round3(x: f64) -> f64 {
        (x * 1000.0).round() / 1000.0
    }

    fn cand(code: &'static str, alias: Option<&'static str>, year: i32) -> Candidate<'static> {
        Candidate {
            code,
            alias,
            year_of_birth: year,
        }
    }

    // Known values from Winkler's and the usual textbook examples.
    #[test]
    fn jaro_winkler_martha_marhta() {
        assert_eq!(round3(similarity("MARTHA", "MARHTA")), 0.961);
    }

    #[test]
    fn jaro_winkler_dwayne_duane() {
        assert_eq!(round3(similarity("DWAYNE", "DUANE")), 0.84);
    }

    #[test]
    fn jaro_winkler_dixon_dicksonx() {
        assert_eq!(round3(similarity("DIXON", "DICKSONX")), 0.813);
    }

    #[test]
    fn similarity_ignores_case_and_punctuation() {
        assert_eq!(similarity("gla-000123", "GLA 000123"), 1.0);
        assert_eq!(similarity("O'Brien", "obrien"), 1.0);
    }

    #[test]
    fn similarity_of_empty_or_punctuation_only_is_zero() {
        assert_eq!(similarity("", ""), 0.0);
        assert_eq!(similarity("--", "ABC"), 0.0);
    }

    #[test]
    fn similarity_of_unrelated_strings_is_low() {
        assert_eq!(similarity("ABC", "XYZ"), 0.0);
        assert!(similarity("FABCD1984", "MWXYZ1962") < DUPLICATE_THRESHOLD);
    }

    #[test]
    fn duplicate_dcr_practice_2_3_year_within_one_matches() {
        // dcr-practice §2.3: suggest likely duplicates; a stated year is often
        // off by one.
        let query = cand("FABCD1984", None, 1984);
        for year in [1983, 1984, 1985] {
            let existing = cand("FABCD1984", None, year);
            assert_eq!(duplicate_score(&query, &existing), Some(1.0), "{year}");
        }
    }

    #[test]
    fn duplicate_dcr_practice_2_3_year_two_apart_does_not_match() {
        let query = cand("FABCD1984", None, 1984);
        for year in [1982, 1986] {
            let existing = cand("FABCD1984", None, year);
            assert_eq!(duplicate_score(&query, &existing), None, "{year}");
        }
    }

    #[test]
    fn duplicate_extreme_years_do_not_overflow() {
        let query = cand("FABCD1984", None, i32::MIN);
        let existing = cand("FABCD1984", None, i32::MAX);
        assert_eq!(duplicate_score(&query, &existing), None);
    }

    #[test]
    fn duplicate_dcr_practice_2_1_transposed_code_letters_match() {
        // dcr-practice §2.1 [S9]: one person, several codes (typos fragment).
        let query = cand("FBACD1984", None, 1984);
        let existing = cand("FABCD1984", None, 1984);
        let score = duplicate_score(&query, &existing).expect("transposition matches");
        assert!(score > 0.9 && score < 1.0, "{score}");

        let query = cand("MIHOH010219801", None, 1980);
        let existing = cand("MIHHO010219801", None, 1980);
        assert!(duplicate_score(&query, &existing).is_some());

        let query = cand("GLA-000132", None, 1980);
        let existing = cand("GLA-000123", None, 1980);
        assert!(duplicate_score(&query, &existing).is_some());
    }

    #[test]
    fn duplicate_different_codes_do_not_match() {
        let query = cand("FABCD1984", None, 1984);
        let existing = cand("MWXYZ1984", None, 1984);
        assert_eq!(duplicate_score(&query, &existing), None);
    }

    #[test]
    fn duplicate_aliases_match_when_codes_differ() {
        let query = cand("FABCD1984", Some("Shona"), 1984);
        let existing = cand("MWXYZ1984", Some("shona"), 1984);
        assert_eq!(duplicate_score(&query, &existing), Some(1.0));
    }

    #[test]
    fn duplicate_alias_against_code_matches_both_ways() {
        let query = cand("Shona", Some("FABCD1984"), 1984);
        let existing = cand("FABCD1984", None, 1984);
        assert_eq!(duplicate_score(&query, &existing), Some(1.0));

        let query = cand("FABCD1984", None, 1984);
        let existing = cand("MWXYZ1984", Some("FABCD1984"), 1984);
        assert_eq!(duplicate_score(&query, &existing), Some(1.0));
    }

    #[test]
    fn duplicate_blank_aliases_are_not_evidence() {
        let query = cand("FABCD1984", Some(""), 1984);
        let existing = cand("MWXYZ1984", Some(" - "), 1984);
        assert_eq!(duplicate_score(&query, &existing), None);
    }

    #[test]
    fn rank_duplicates_sorts_best_first_and_limits() {
        let query = cand("FABCD1984", None, 1984);
        let existing = [
            cand("MWXYZ1984", None, 1984), // unrelated
            cand("FBACD1984", None, 1984), // transposition: ~0.967
            cand("FABCD1984", None, 1985), // exact, year +1: 1.0
            cand("FABCD1984", None, 1990), // exact, year too far
            cand("FABXY1984", None, 1984), // two letters off: ~0.896
        ];
        let ranked = rank_duplicates(&query, existing, 10);
        let codes: Vec<(&str, i32)> = ranked.iter().map(|(c, _)| (c.code, c.year_of_birth)).collect();
        assert_eq!(
            codes,
            vec![("FABCD1984", 1985), ("FBACD1984", 1984), ("FABXY1984", 1984)]
        );
        assert!(ranked.windows(2).all(|w| w[0].1 >= w[1].1));

        let top = rank_duplicates(&query, existing, 1);
        assert_eq!(top.len(), 1);
        assert_eq!(top[0].0, existing[2]);
        assert!(rank_duplicates(&query, existing, 0).is_empty());
    }

    proptest! {
        #[test]
        fn similarity_is_symmetric_and_bounded(a in any::<String>(), b in any::<String>()) {
            let ab = similarity(&a, &b);
            let ba = similarity(&b, &a);
            prop_assert_eq!(ab.to_bits(), ba.to_bits());
            prop_assert!((0.0..=1.0).contains(&ab), "{}", ab);
        }

        #[test]
        fn similarity_is_symmetric_for_code_like_strings(
            a in "[A-E0-3]{1,14}",
            b in "[A-E0-3]{1,14}",
        ) {
            // Small alphabet: many repeated characters, the hard case for the
            // greedy matching pass.
            let ab = similarity(&a, &b);
            prop_assert_eq!(ab.to_bits(), similarity(&b, &a).to_bits());
            prop_assert!((0.0..=1.0).contains(&ab), "{}", ab);
        }

        #[test]
        fn similarity_of_string_with_itself_is_one(x in "[A-Za-z0-9]{1,30}") {
            prop_assert_eq!(similarity(&x, &x), 1.0);
        }

        #[test]
        fn rank_duplicates_output_is_sorted_and_bounded(
            codes in proptest::collection::vec("[A-C]{4}19[0-9]{2}", 0..20),
            limit in 0usize..8,
        ) {
            let query = Candidate { code: "ABCA1984", alias: None, year_of_birth: 1984 };
            let existing = codes.iter().map(|c| Candidate {
                code: c,
                alias: None,
                year_of_birth: 1984,
            });
            let ranked = rank_duplicates(&query, existing, limit);
            prop_assert!(ranked.len() <= limit);
            prop_assert!(ranked.windows(2).all(|w| w[0].1 >= w[1].1));
            prop_assert!(ranked.iter().all(|(_, s)| *s >= DUPLICATE_THRESHOLD));
        }
    }
}

/// Records whose code or alias resembles a typed search (no year of birth to
/// narrow by): "did you mean" when a search finds nothing (dcr-practice §2.3:
/// suggest likely duplicates in search). Best first, at most `limit`.
pub fn rank_similar_to_text<'a>(
    query: &str,
    existing: impl IntoIterator<Item = Candidate<'a>>,
    limit: usize,
) -> Vec<(Candidate<'a>, f64)> {
    let mut out: Vec<(Candidate<'a>, f64)> = existing
        .into_iter()
        .filter_map(|c| {
            let by_code = similarity(query, c.code);
            let by_alias = c.alias.map_or(0.0, |a| similarity(query, a));
            let score = by_code.max(by_alias);
            (score >= DUPLICATE_THRESHOLD).then_some((c, score))
        })
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    out.truncate(limit);
    out
}

#[cfg(test)]
mod text_search_tests {
    use super::*;

    #[test]
    fn a_mistyped_code_or_alias_is_suggested_dcr_practice_2_3() {
        let rows = [
            Candidate {
                code: "GLA-000123",
                alias: None,
                year_of_birth: 1980,
            },
            Candidate {
                code: "GLA-000999",
                alias: Some("Shuggie"),
                year_of_birth: 1975,
            },
            Candidate {
                code: "GLA-004567",
                alias: Some("Tam"),
                year_of_birth: 1990,
            },
        ];
        let by_code = rank_similar_to_text("GLA-000132", rows, 5);
        assert_eq!(by_code[0].0.code, "GLA-000123");
        let by_alias = rank_similar_to_text("Shugie", rows, 5);
        assert_eq!(by_alias.len(), 1);
        assert_eq!(by_alias[0].0.code, "GLA-000999");
        assert!(rank_similar_to_text("zzzz", rows, 5).is_empty());
    }
}
