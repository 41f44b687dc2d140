//! SMS text: the GSM 7-bit alphabet, Hungarian transliteration and segment counting.
//!
//! An SMS is coded either in the GSM 7-bit default alphabet (3GPP TS 23.038 §6.2.1, 160
//! characters in one message) or, as soon as one character is outside it, in UCS-2 (70
//! characters). Hungarian has á í ó ő ú ű outside the GSM alphabet but é ö ü inside it, so
//! one "á" in a link message would cost the whole text its 160-character room. The daemon
//! therefore transliterates by default (á→a, í→i, ó→o, ő→ö, ú→u, ű→ü, and the capitals)
//! and counts segments before sending.
//!
//! Concatenated messages carry a 6-octet user data header (3GPP TS 23.040 §9.2.3.24.1), so
//! each part holds 153 GSM-7 septets or 67 UCS-2 characters. A character from the GSM-7
//! extension table (`€ [ ] { } \ ^ ~ |` and form feed) is sent as ESC + code and costs two
//! septets (3GPP TS 23.038 §6.2.1.1).

use std::borrow::Cow;

/// The GSM 7-bit default alphabet (3GPP TS 23.038 §6.2.1), in code order; `\u{1b}` (ESC)
/// stands for the escape to the extension table and is not a character of its own.
const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u{1b}ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// The default extension table (3GPP TS 23.038 §6.2.1.1): each costs ESC + one septet.
const EXTENSION: &str = "\u{c}^{}\\[~]|€";

/// How an SMS text is coded on the air interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// GSM 7-bit default alphabet with its extension table.
    Gsm7,
    /// UCS-2: two octets per character.
    Ucs2,
}

/// How many segments a text needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segments {
    pub encoding: Encoding,
    /// Septets (GSM-7, extension characters count 2) or UTF-16 code units (UCS-2).
    pub units: usize,
    /// Messages the network will bill for; 0 for the empty text.
    pub count: usize,
}

/// Whether `c` is in the GSM-7 basic character set (one septet).
pub fn is_gsm7_basic(c: char) -> bool {
    c != '\u{1b}' && BASIC.contains(c)
}

/// Whether `c` is in the GSM-7 extension table (two septets: ESC + code).
pub fn is_gsm7_extension(c: char) -> bool {
    EXTENSION.contains(c)
}

/// Septets `c` costs in GSM-7, or `None` when it cannot be coded in GSM-7 at all.
pub fn gsm7_septets(c: char) -> Option<usize> {
    if is_gsm7_basic(c) {
        Some(1)
    } else if is_gsm7_extension(c) {
        Some(2)
    } else {
        None
    }
}

/// Whether the whole text can go as GSM-7.
pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(|c| gsm7_septets(c).is_some())
}

/// Replaces the Hungarian letters outside GSM-7 with their nearest GSM-7 letters:
/// á→a, í→i, ó→o, ú→u, ő→ö, ű→ü (and the capitals). é, ö, ü are GSM-7 and stay. Other
/// characters are left alone (they may still force UCS-2; [`segments`] tells).
/// Borrows when nothing changes.
pub fn transliterate(text: &str) -> Cow<'_, str> {
    fn map(c: char) -> Option<char> {
        Some(match c {
            'á' => 'a',
            'í' => 'i',
            'ó' => 'o',
            'ú' => 'u',
            'ő' => 'ö',
            'ű' => 'ü',
            'Á' => 'A',
            'Í' => 'I',
            'Ó' => 'O',
            'Ú' => 'U',
            'Ő' => 'Ö',
            'Ű' => 'Ü',
            _ => return None,
        })
    }
    if !text.chars().any(|c| map(c).is_some()) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().map(|c| map(c).unwrap_or(c)).collect())
}

/// Counts the segments `text` needs as it stands (no transliteration).
///
/// GSM-7: one message holds 160 septets, each part of a longer one 153. UCS-2: 70
/// characters, 67 per part; characters outside the Basic Multilingual Plane take two
/// UTF-16 units.
pub fn segments(text: &str) -> Segments {
    let gsm: Option<usize> = text.chars().map(gsm7_septets).sum();
    let (encoding, units, single, part) = match gsm {
        Some(septets) => (Encoding::Gsm7, septets, 160, 153),
        None => (Encoding::Ucs2, text.encode_utf16().count(), 70, 67),
    };
    let count = match units {
        0 => 0,
        u if u <= single => 1,
        u => u.div_ceil(part),
    };
    Segments {
        encoding,
        units,
        count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hungarian_letters_split_between_gsm7_and_ucs2_as_the_standard_says() {
        for c in [
            'é', 'É', 'ö', 'Ö', 'ü', 'Ü', 'a', 'Z', '0', '@', '£', '\n', ' ', '§',
        ] {
            assert!(is_gsm7_basic(c), "{c:?} is in the basic set");
        }
        for c in [
            'á', 'Á', 'í', 'Í', 'ó', 'Ó', 'ő', 'Ő', 'ú', 'Ú', 'ű', 'Ű', '\u{1b}', '`',
        ] {
            assert_eq!(gsm7_septets(c), None, "{c:?} is not GSM-7");
        }
        for c in ['€', '[', ']', '{', '}', '\\', '^', '~', '|', '\u{c}'] {
            assert!(!is_gsm7_basic(c), "{c:?} not basic");
            assert_eq!(gsm7_septets(c), Some(2), "{c:?} is ESC + code");
        }
        assert_eq!(
            BASIC.chars().count(),
            128,
            "the basic table has 128 positions"
        );
    }

    #[test]
    fn transliteration_maps_exactly_the_six_letters_and_their_capitals() {
        let cases = [
            ("árvíztűrő tükörfúrógép", "arviztürö tükörfurogép"),
            ("ÁRVÍZTŰRŐ TÜKÖRFÚRÓGÉP", "ARVIZTÜRÖ TÜKÖRFUROGÉP"),
            ("Lakcímbejelentés", "Lakcimbejelentés"),
            ("ő ű Ő Ű", "ö ü Ö Ü"),
            ("éöü ÉÖÜ", "éöü ÉÖÜ"),
        ];
        for (input, want) in cases {
            let got = transliterate(input);
            assert_eq!(got, want, "{input}");
            assert!(is_gsm7(&got), "{got} is GSM-7 after transliteration");
        }
        assert!(matches!(transliterate("Kérem"), Cow::Borrowed("Kérem")));
    }

    #[test]
    fn segment_counts_follow_the_160_153_and_70_67_limits() {
        let a = |n: usize| "a".repeat(n);
        let ő = |n: usize| "ő".repeat(n);
        let cases: Vec<(String, Encoding, usize, usize)> = vec![
            (String::new(), Encoding::Gsm7, 0, 0),
            (a(1), Encoding::Gsm7, 1, 1),
            (a(160), Encoding::Gsm7, 160, 1),
            (a(161), Encoding::Gsm7, 161, 2),
            (a(306), Encoding::Gsm7, 306, 2),
            (a(307), Encoding::Gsm7, 307, 3),
            (format!("{}€", a(158)), Encoding::Gsm7, 160, 1),
            (format!("{}€", a(159)), Encoding::Gsm7, 161, 2),
            ("{}".repeat(40), Encoding::Gsm7, 160, 1),
            (ő(70), Encoding::Ucs2, 70, 1),
            (ő(71), Encoding::Ucs2, 71, 2),
            (ő(134), Encoding::Ucs2, 134, 2),
            (ő(135), Encoding::Ucs2, 135, 3),
            (format!("{}á", a(69)), Encoding::Ucs2, 70, 1),
            (format!("{}á", a(70)), Encoding::Ucs2, 71, 2),
            ("😀".repeat(35), Encoding::Ucs2, 70, 1),
        ];
        for (text, enc, units, count) in cases {
            let s = segments(&text);
            assert_eq!(
                (s.encoding, s.units, s.count),
                (enc, units, count),
                "{} chars",
                text.chars().count()
            );
        }
    }

    #[test]
    fn one_accented_letter_costs_the_message_its_gsm7_room_until_transliterated() {
        let text = "Az Ön által kért nyomtatvány (Lakcímbejelentés) letölthető 72 óráig: \
                    https://ugyelet.example.hu/f/AQAAAABnmF8kAAAAAAAAAAdsYWtjaW0.Wq1dYd0rC2rT";
        assert_eq!(segments(text).encoding, Encoding::Ucs2);
        assert_eq!(segments(text).count, 3);
        let safe = transliterate(text);
        assert_eq!(segments(&safe).encoding, Encoding::Gsm7);
        assert_eq!(segments(&safe).count, 1);
    }
}
