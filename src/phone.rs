//! Hungarian phone numbers.
//!
//! Caller IDs arrive in every shape trunks and softphones produce: `06301234567` (national
//! trunk prefix), `+36301234567`, `0036301234567`, `36301234567`, and `301234567` (no prefix
//! at all). They all mean the E.164 number `+36301234567`; [`normalize`] makes them so.
//!
//! Hungarian mobile numbers are `+36 (20|30|31|50|70) NNNNNNN`; only those can receive an
//! SMS ([`is_mobile`]). Operators read numbers grouped as people write them
//! ([`for_people`]): `+36 30 123 4567`, `+36 1 234 5678`, `+36 23 444 555`.

/// Mobile network codes (area codes of mobile operators).
const MOBILE_PREFIXES: &[&str] = &["20", "30", "31", "50", "70"];

/// Normalises a caller ID or keyed-in number to E.164 (`+36…` for Hungarian numbers).
///
/// Spaces, dashes, dots, slashes and parentheses are ignored. A number that is not
/// Hungarian but starts with `+` or `00` is kept as international E.164. Returns `None`
/// for anything that is not a plausible phone number (letters, too short, too long).
pub fn normalize(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    let plus = trimmed.starts_with('+');
    let mut digits = String::with_capacity(trimmed.len());
    for (i, c) in trimmed.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => {}
            ' ' | '-' | '.' | '/' | '(' | ')' => {}
            _ => return None,
        }
    }
    let national = if plus {
        match digits.strip_prefix("36") {
            Some(rest) => rest.to_owned(),
            None => return international(&digits),
        }
    } else if let Some(rest) = digits.strip_prefix("0036") {
        rest.to_owned()
    } else if let Some(rest) = digits.strip_prefix("00") {
        return international(rest);
    } else if let Some(rest) = digits.strip_prefix("06") {
        rest.to_owned()
    } else if digits.len() == 11 && digits.starts_with("36") {
        digits[2..].to_owned()
    } else {
        digits
    };
    // Hungarian national significant numbers: 8 digits (Budapest 1 + 7, other areas 2 + 6)
    // or 9 digits (mobile and some services: 2 + 7).
    if !(8..=9).contains(&national.len()) || national.starts_with('0') {
        return None;
    }
    Some(format!("+36{national}"))
}

fn international(digits: &str) -> Option<String> {
    (8..=15)
        .contains(&digits.len())
        .then(|| format!("+{digits}"))
}

/// Whether an E.164 number is a Hungarian mobile (`+36 20/30/31/50/70` + 7 digits).
pub fn is_mobile(e164: &str) -> bool {
    e164.strip_prefix("+36").is_some_and(|n| {
        n.len() == 9
            && MOBILE_PREFIXES.iter().any(|p| n.starts_with(p))
            && n.bytes().all(|b| b.is_ascii_digit())
    })
}

/// A number as people write it, for operators' screens: `+36 30 123 4567`.
///
/// Hungarian numbers are grouped the way they are printed in Hungary: mobiles
/// `+36 30 123 4567`, Budapest `+36 1 234 5678`, other areas `+36 23 123 456` (two-digit
/// area code, then 3 + 3 digits), and other 9-digit numbers like mobiles. A foreign number
/// only gets a space after its country code (its own grouping is that country's business;
/// the country code's length is fixed by ITU-T E.164). What is not E.164 (`+` and 8 to 15
/// digits) comes back unchanged, so nothing a trunk sent is hidden; no caller ID (empty, or
/// SIP's `anonymous`) reads "rejtett szám".
pub fn for_people(e164: &str) -> String {
    let n = e164.trim();
    if n.is_empty() || n.eq_ignore_ascii_case("anonymous") {
        return "rejtett szám".to_owned();
    }
    let Some(digits) = n.strip_prefix('+') else {
        return e164.to_owned();
    };
    if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return e164.to_owned();
    }
    if let Some(national) = digits.strip_prefix("36") {
        // ASCII digits only (checked above), so byte offsets are character boundaries.
        let (a, b, c) = match national.len() {
            8 if national.starts_with('1') => (1, 4, 8),
            8 => (2, 5, 8),
            9 => (2, 5, 9),
            _ => return e164.to_owned(),
        };
        return format!(
            "+36 {} {} {}",
            &national[..a],
            &national[a..b],
            &national[b..c]
        );
    }
    let cc = country_code_len(digits);
    format!("+{} {}", &digits[..cc], &digits[cc..])
}

/// How many digits the country code at the start of an international number has
/// (ITU-T E.164 assignments): 1 for zones 1 and 7, 2 for the codes listed, 3 for the rest.
fn country_code_len(digits: &str) -> usize {
    const TWO_DIGIT: &[&str] = &[
        "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
        "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
        "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
    ];
    if digits.starts_with(['1', '7']) {
        1
    } else if TWO_DIGIT.iter().any(|cc| digits.starts_with(cc)) {
        2
    } else {
        3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_common_form_of_a_mobile_number_is_one_e164_number() {
        for raw in [
            "06301234567",
            "+36301234567",
            "36301234567",
            "301234567",
            "0036301234567",
            "+36 30 123 4567",
            "06-30/123-4567",
        ] {
            assert_eq!(normalize(raw).as_deref(), Some("+36301234567"), "{raw}");
        }
    }

    #[test]
    fn landlines_and_foreign_numbers_normalise_too() {
        assert_eq!(
            normalize("0623444555").as_deref(),
            Some("+3623444555"),
            "Budaörs area 23"
        );
        assert_eq!(
            normalize("+3614567890").as_deref(),
            Some("+3614567890"),
            "Budapest"
        );
        assert_eq!(normalize("+43 1 234 5678").as_deref(), Some("+4312345678"));
        assert_eq!(normalize("0049301234567").as_deref(), Some("+49301234567"));
    }

    #[test]
    fn non_numbers_are_refused() {
        for raw in [
            "",
            "anonymous",
            "12",
            "0612",
            "06301234567890",
            "+36 30 abc",
        ] {
            assert_eq!(normalize(raw), None, "{raw}");
        }
    }

    #[test]
    fn only_hungarian_mobile_networks_count_as_mobile() {
        for m in [
            "+36201234567",
            "+36301234567",
            "+36311234567",
            "+36501234567",
            "+36701234567",
        ] {
            assert!(is_mobile(m), "{m}");
        }
        for n in [
            "+3623444555",
            "+3614567890",
            "+36401234567",
            "+4312345678",
            "+3630123456",
        ] {
            assert!(!is_mobile(n), "{n}");
        }
    }

    #[test]
    fn hungarian_numbers_are_grouped_as_people_write_them() {
        for (e164, shown) in [
            ("+36301234567", "+36 30 123 4567"),
            ("+36201234567", "+36 20 123 4567"),
            ("+36311234567", "+36 31 123 4567"),
            ("+36501234567", "+36 50 123 4567"),
            ("+36701234567", "+36 70 123 4567"),
            // Budapest: one-digit area code, then 3 + 4.
            ("+3612345678", "+36 1 234 5678"),
            // Budaörs (area 23) and Debrecen (52): two-digit area code, then 3 + 3.
            ("+3623444555", "+36 23 444 555"),
            ("+3652123456", "+36 52 123 456"),
            // A 9-digit number that is not a mobile (corporate VoIP, area 21).
            ("+36211234567", "+36 21 123 4567"),
        ] {
            assert_eq!(for_people(e164), shown, "{e164}");
        }
    }

    #[test]
    fn foreign_numbers_get_a_space_after_the_country_code_only() {
        assert_eq!(for_people("+4312345678"), "+43 12345678", "Vienna");
        assert_eq!(for_people("+491701234567"), "+49 1701234567");
        assert_eq!(for_people("+12025550123"), "+1 2025550123");
        assert_eq!(for_people("+421212345678"), "+421 212345678", "Slovakia");
        assert_eq!(for_people("+40212345678"), "+40 212345678", "Romania");
        assert_eq!(for_people("+381111234567"), "+381 111234567", "Serbia");
    }

    #[test]
    fn hidden_numbers_read_rejtett_szam_and_what_is_not_a_number_stays_as_it_came() {
        assert_eq!(for_people(""), "rejtett szám");
        assert_eq!(for_people("anonymous"), "rejtett szám");
        assert_eq!(for_people("Anonymous"), "rejtett szám");
        for raw in [
            "anon-0123456789abcdef",
            "1001",
            "06301234567",
            "+36 30 123 4567",
            "+3630123",
            "+3630123456789",
            "+36301234567x",
            "+1234567890123456",
        ] {
            assert_eq!(for_people(raw), raw);
        }
    }

    #[test]
    fn a_normalised_caller_id_reads_back_grouped() {
        let e164 = normalize("06 23 444 555").expect("Budaörs landline");
        assert_eq!(for_people(&e164), "+36 23 444 555");
    }
}
