//! Hungarian phone numbers.
//!
//! Caller IDs arrive in every shape trunks and softphones produce: `06301234567` (national
//! trunk prefix), `+36301234567`, `0036301234567`, `36301234567`, and `301234567` (no prefix
//! at all). They all mean the E.164 number `+36301234567`; [`normalize`] makes them so.
//!
//! Hungarian mobile numbers are `+36 (20|30|31|50|70) NNNNNNN`; only those can receive an
//! SMS ([`is_mobile`]).

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
}
