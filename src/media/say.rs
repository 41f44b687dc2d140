//! Hungarian numbers, times, keys and queue announcements as sequences of prompt ids.
//!
//! The synthesiser misreads digits, times and phone numbers, and a human speaker records
//! words, not numbers, so the daemon composes speech from word fragments in
//! `prompts/hu/manifest.toml` (ids `num_*`, `ord_*`, `word_*`, `day_*`, `key_*`, `art_*`).
//! Every id returned here exists in that manifest; a test checks it.
//!
//! Grammar followed:
//!
//! - Before a noun the number two is *két*, alone it is *kettő* ([`Form`]): "két perc",
//!   "tizenkét óra", but "huszonkettő" when counting. Inside compounds the multiplier is
//!   always *két*: "kétszáz", "kétezer".
//! - 100 is *száz* and 1000 is *ezer* without *egy*; 1 000 000 is *egymillió*.
//! - 11–19 are whole words (tizenegy … tizenkilenc), 21–29 are *huszon* + unit, and from 30
//!   the tens word is followed by the unit (harmincegy).
//! - Ordinals: *első, második* alone, but *-egyedik, -kettedik* at the end of a compound
//!   (tizenegyedik, huszonkettedik, százegyedik); round tens have their own forms
//!   (huszadik, harmincadik, negyvenedik …).
//! - The definite article is *az* before a vowel sound, *a* before a consonant: "az egyes
//!   gomb", "a kettes gomb", "az első", "a második", "az öt".
//! - Time of day uses the 24-hour clock: "tizenhat óra", "hét óra harminc perc"; the case
//!   suffix goes on the last noun: "hét órától", "hét óra harminc perctől".
//! - Phone numbers ([`phone_number_groups`]): Hungarian numbers are read as "nulla hat",
//!   the area code as a number (harminc, egy, huszonhárom), then the subscriber number in
//!   groups of three and two digits (7 digits 3-2-2, 6 digits 3-3): "+36301234567" is
//!   "nulla hat | harminc | százhuszonhárom | negyvenöt | hatvanhét". Groups with leading
//!   zeros read each leading zero as "nulla".

/// Which form the number two takes at the end of a cardinal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Before a noun: *két* ("két perc", "tizenkét óra").
    Attributive,
    /// Alone, when counting or reading digits: *kettő* ("huszonkettő").
    Standalone,
}

/// Case of the time-of-day noun.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSuffix {
    /// "hét óra", "hét óra harminc perc".
    None,
    /// "hét órától", "hét óra harminc perctől".
    From,
    /// "hét óráig", "hét óra harminc percig".
    Until,
    /// "hét órakor", "hét óra harminc perckor".
    At,
}

/// A day relative to today, as the line announces it ("A vonal legközelebb kedden …").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Day {
    Today,
    Tomorrow,
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

/// Text of every word fragment the composer uses, as in the manifest. Used to choose
/// articles and by tests to check the manifest.
pub const FRAGMENTS: &[(&str, &str)] = &[
    ("art_a", "a"),
    ("art_az", "az"),
    ("num_0", "nulla"),
    ("num_1", "egy"),
    ("num_2", "kettő"),
    ("num_2_att", "két"),
    ("num_3", "három"),
    ("num_4", "négy"),
    ("num_5", "öt"),
    ("num_6", "hat"),
    ("num_7", "hét"),
    ("num_8", "nyolc"),
    ("num_9", "kilenc"),
    ("num_10", "tíz"),
    ("num_11", "tizenegy"),
    ("num_12", "tizenkettő"),
    ("num_12_att", "tizenkét"),
    ("num_13", "tizenhárom"),
    ("num_14", "tizennégy"),
    ("num_15", "tizenöt"),
    ("num_16", "tizenhat"),
    ("num_17", "tizenhét"),
    ("num_18", "tizennyolc"),
    ("num_19", "tizenkilenc"),
    ("num_20", "húsz"),
    ("num_tizen", "tizen"),
    ("num_huszon", "huszon"),
    ("num_30", "harminc"),
    ("num_40", "negyven"),
    ("num_50", "ötven"),
    ("num_60", "hatvan"),
    ("num_70", "hetven"),
    ("num_80", "nyolcvan"),
    ("num_90", "kilencven"),
    ("num_100", "száz"),
    ("num_1000", "ezer"),
    ("num_1000000", "millió"),
    ("ord_0", "nulladik"),
    ("ord_1", "első"),
    ("ord_2", "második"),
    ("ord_3", "harmadik"),
    ("ord_4", "negyedik"),
    ("ord_5", "ötödik"),
    ("ord_6", "hatodik"),
    ("ord_7", "hetedik"),
    ("ord_8", "nyolcadik"),
    ("ord_9", "kilencedik"),
    ("ord_10", "tizedik"),
    ("ord_11", "tizenegyedik"),
    ("ord_12", "tizenkettedik"),
    ("ord_13", "tizenharmadik"),
    ("ord_14", "tizennegyedik"),
    ("ord_15", "tizenötödik"),
    ("ord_16", "tizenhatodik"),
    ("ord_17", "tizenhetedik"),
    ("ord_18", "tizennyolcadik"),
    ("ord_19", "tizenkilencedik"),
    ("ord_20", "huszadik"),
    ("ord_1_comp", "egyedik"),
    ("ord_2_comp", "kettedik"),
    ("ord_30", "harmincadik"),
    ("ord_40", "negyvenedik"),
    ("ord_50", "ötvenedik"),
    ("ord_60", "hatvanadik"),
    ("ord_70", "hetvenedik"),
    ("ord_80", "nyolcvanadik"),
    ("ord_90", "kilencvenedik"),
    ("ord_100", "századik"),
    ("word_ora", "óra"),
    ("word_oratol", "órától"),
    ("word_oraig", "óráig"),
    ("word_orakor", "órakor"),
    ("word_perc", "perc"),
    ("word_perctol", "perctől"),
    ("word_percig", "percig"),
    ("word_perckor", "perckor"),
    ("word_gomb", "gomb"),
    ("word_gombot", "gombot"),
    ("word_nyomja_meg", "nyomja meg"),
    ("word_plusz", "plusz"),
    ("word_reggel", "reggel"),
    ("word_delelott", "délelőtt"),
    ("word_delutan", "délután"),
    ("word_este", "este"),
    ("day_ma", "ma"),
    ("day_holnap", "holnap"),
    ("day_hetfon", "hétfőn"),
    ("day_kedden", "kedden"),
    ("day_szerdan", "szerdán"),
    ("day_csutortokon", "csütörtökön"),
    ("day_penteken", "pénteken"),
    ("day_szombaton", "szombaton"),
    ("day_vasarnap", "vasárnap"),
    ("key_0", "nullás"),
    ("key_1", "egyes"),
    ("key_2", "kettes"),
    ("key_3", "hármas"),
    ("key_4", "négyes"),
    ("key_5", "ötös"),
    ("key_6", "hatos"),
    ("key_7", "hetes"),
    ("key_8", "nyolcas"),
    ("key_9", "kilences"),
    ("key_star", "csillag"),
    ("key_hash", "kettős kereszt"),
];

/// Sentence prompts the composer uses around the fragments.
pub const QUEUE_POSITION_A: &str = "queue_position_a"; // "Ön jelenleg a"
pub const QUEUE_POSITION_AZ: &str = "queue_position_az"; // "Ön jelenleg az"
pub const QUEUE_IN_LINE: &str = "queue_in_line"; // "a sorban."
pub const QUEUE_NEXT: &str = "queue_next"; // "Ön a következő a sorban."
pub const QUEUE_WAIT_ABOUT: &str = "queue_wait_about"; // "A várható várakozási idő körülbelül"
pub const QUEUE_WAIT_UNDER_MINUTE: &str = "queue_wait_under_minute";
pub const LINE_NEXT: &str = "line_next"; // "A vonal legközelebb"
pub const LINE_OPENS_AT_HOUR: &str = "line_opens_at_hour"; // "órakor nyit."
pub const LINE_OPENS: &str = "line_opens"; // "nyit."

/// The manifest text of a fragment id, if it is one of [`FRAGMENTS`].
#[must_use]
pub fn fragment_text(id: &str) -> Option<&'static str> {
    FRAGMENTS.iter().find(|(i, _)| *i == id).map(|(_, t)| *t)
}

const UNITS: [&str; 10] = [
    "num_0", "num_1", "num_2", "num_3", "num_4", "num_5", "num_6", "num_7", "num_8", "num_9",
];
const TEENS: [&str; 11] = [
    "num_10", "num_11", "num_12", "num_13", "num_14", "num_15", "num_16", "num_17", "num_18",
    "num_19", "num_20",
];
/// Tens words for 30..=90, indexed by tens digit.
const TENS: [&str; 10] = [
    "", "", "", "num_30", "num_40", "num_50", "num_60", "num_70", "num_80", "num_90",
];
const ORD_SIMPLE: [&str; 21] = [
    "ord_0", "ord_1", "ord_2", "ord_3", "ord_4", "ord_5", "ord_6", "ord_7", "ord_8", "ord_9",
    "ord_10", "ord_11", "ord_12", "ord_13", "ord_14", "ord_15", "ord_16", "ord_17", "ord_18",
    "ord_19", "ord_20",
];
const ORD_TENS: [&str; 10] = [
    "", "", "", "ord_30", "ord_40", "ord_50", "ord_60", "ord_70", "ord_80", "ord_90",
];

fn unit(d: u32, form: Form) -> &'static str {
    match (d, form) {
        (2, Form::Attributive) => "num_2_att",
        _ => UNITS[(d % 10) as usize],
    }
}

/// Appends 1..=999 (nothing for 0).
fn push_below_1000(out: &mut Vec<&'static str>, n: u32, form: Form) {
    let hundreds = n / 100;
    let rest = n % 100;
    match hundreds {
        0 => {}
        1 => out.push("num_100"),
        h => {
            out.push(unit(h, Form::Attributive));
            out.push("num_100");
        }
    }
    match rest {
        0 => {}
        1..=9 => out.push(unit(rest, form)),
        12 if form == Form::Attributive => out.push("num_12_att"),
        10..=20 => out.push(TEENS[(rest - 10) as usize]),
        21..=29 => {
            out.push("num_huszon");
            out.push(unit(rest - 20, form));
        }
        _ => {
            out.push(TENS[(rest / 10) as usize]);
            if !rest.is_multiple_of(10) {
                out.push(unit(rest % 10, form));
            }
        }
    }
}

/// A cardinal number as prompt ids, 0 ..= 999 999 999; larger numbers are read digit by
/// digit. `form` chooses *két*/*kettő* for a final two.
///
/// `cardinal(22, Form::Standalone)` is `["num_huszon", "num_2"]` (huszonkettő).
#[must_use]
pub fn cardinal(n: u32, form: Form) -> Vec<&'static str> {
    let mut out = Vec::with_capacity(8);
    if n == 0 {
        out.push("num_0");
        return out;
    }
    if n > 999_999_999 {
        return digits(&n.to_string());
    }
    let millions = n / 1_000_000;
    let thousands = (n / 1000) % 1000;
    let rest = n % 1000;
    if millions > 0 {
        push_below_1000(&mut out, millions, Form::Attributive);
        out.push("num_1000000");
    }
    if thousands == 1 && millions == 0 {
        out.push("num_1000");
    } else if thousands > 0 {
        push_below_1000(&mut out, thousands, Form::Attributive);
        out.push("num_1000");
    }
    push_below_1000(&mut out, rest, form);
    out
}

/// An ordinal number as prompt ids, 0 ..= 999 (nulladik, első … kilencszázkilencvenkilencedik).
/// Larger numbers fall back to the cardinal, which no announcement of this line needs.
#[must_use]
pub fn ordinal(n: u32) -> Vec<&'static str> {
    if n > 999 {
        return cardinal(n, Form::Standalone);
    }
    let mut out = Vec::with_capacity(5);
    let hundreds = n / 100;
    let rest = n % 100;
    if hundreds > 0 && rest == 0 {
        if hundreds > 1 {
            out.push(unit(hundreds, Form::Attributive));
        }
        out.push("ord_100");
        return out;
    }
    push_below_1000(&mut out, hundreds * 100, Form::Attributive);
    let compound = hundreds > 0;
    // Last element of a compound: -egyedik, -kettedik instead of első, második.
    let last_unit = |d: u32| match d {
        1 => "ord_1_comp",
        2 => "ord_2_comp",
        _ => ORD_SIMPLE[d as usize],
    };
    match rest {
        1 | 2 if compound => out.push(last_unit(rest)),
        0..=20 => out.push(ORD_SIMPLE[rest as usize]),
        21..=29 => {
            out.push("num_huszon");
            out.push(last_unit(rest - 20));
        }
        _ if rest.is_multiple_of(10) => out.push(ORD_TENS[(rest / 10) as usize]),
        _ => {
            out.push(TENS[(rest / 10) as usize]);
            out.push(last_unit(rest % 10));
        }
    }
    out
}

/// Whether a Hungarian word starts with a vowel sound.
fn starts_with_vowel(word: &str) -> bool {
    word.chars()
        .next()
        .is_some_and(|c| "aáeéiíoóöőuúüűAÁEÉIÍOÓÖŐUÚÜŰ".contains(c))
}

/// The article id (`art_az` or `art_a`) for the word that follows it: *az* before a vowel
/// sound, *a* before a consonant. A word written with digits is judged by how it is said
/// ("az 1", "az 5", "az 50", "a 2", "a 100").
#[must_use]
pub fn article_for(word: &str) -> &'static str {
    let word = word.trim_start();
    let digit_run: String = word.chars().take_while(char::is_ascii_digit).collect();
    let vowel = if digit_run.is_empty() {
        starts_with_vowel(word)
    } else {
        match digit_run.parse::<u32>() {
            Ok(n) => cardinal(n, Form::Standalone)
                .first()
                .and_then(|id| fragment_text(id))
                .is_some_and(starts_with_vowel),
            // Too long for u32: read by its first digit.
            Err(_) => digit_run.starts_with(['1', '5']),
        }
    };
    if vowel { "art_az" } else { "art_a" }
}

/// The article id for a sequence of fragment ids, judged by the first one's text.
#[must_use]
pub fn article_for_ids(ids: &[&str]) -> &'static str {
    ids.first()
        .and_then(|id| fragment_text(id))
        .map_or("art_a", article_for)
}

/// The fragment id naming a telephone key (egyes, kettes … csillag, kettős kereszt).
#[must_use]
pub fn key_name(digit: char) -> Option<&'static str> {
    Some(match digit {
        '0' => "key_0",
        '1' => "key_1",
        '2' => "key_2",
        '3' => "key_3",
        '4' => "key_4",
        '5' => "key_5",
        '6' => "key_6",
        '7' => "key_7",
        '8' => "key_8",
        '9' => "key_9",
        '*' => "key_star",
        '#' => "key_hash",
        _ => return None,
    })
}

/// A key with its article and noun: "az egyes gomb", "a kettes gomb", "a csillag gomb".
/// `None` for keys that ordinary telephones lack (A–D) and other characters.
#[must_use]
pub fn key(digit: char) -> Option<Vec<&'static str>> {
    let name = key_name(digit)?;
    Some(vec![article_for_ids(&[name]), name, "word_gomb"])
}

/// "nyomja meg az egyes gombot".
#[must_use]
pub fn press_key(digit: char) -> Option<Vec<&'static str>> {
    let name = key_name(digit)?;
    Some(vec![
        "word_nyomja_meg",
        article_for_ids(&[name]),
        name,
        "word_gombot",
    ])
}

/// Each decimal digit of `s` by name (nulla, egy, kettő …); other characters are skipped.
#[must_use]
pub fn digits(s: &str) -> Vec<&'static str> {
    s.chars()
        .filter_map(|c| c.to_digit(10))
        .map(|d| UNITS[d as usize])
        .collect()
}

/// One digit group: leading zeros as "nulla", the rest as a number ("045": nulla negyvenöt).
fn group(ds: &str) -> Vec<&'static str> {
    let zeros = ds.len() - ds.trim_start_matches('0').len();
    let mut out = vec!["num_0"; zeros];
    if let Ok(n) = ds[zeros..].parse::<u32>() {
        out.extend(cardinal(n, Form::Standalone));
    }
    out
}

/// Group sizes for `len` digits: threes, ending in two twos when a single digit would be
/// left (7: 3-2-2, 6: 3-3, 8: 3-3-2, 4: 2-2).
fn group_sizes(mut len: usize) -> Vec<usize> {
    let mut sizes = Vec::with_capacity(len / 2 + 1);
    while len > 0 {
        let take = match len {
            1..=3 => len,
            4 => 2,
            _ => 3,
        };
        sizes.push(take);
        len -= take;
    }
    sizes
}

fn push_groups(out: &mut Vec<Vec<&'static str>>, ds: &str) {
    let mut start = 0;
    for size in group_sizes(ds.len()) {
        out.push(group(&ds[start..start + size]));
        start += size;
    }
}

/// A telephone number read in natural Hungarian groups; the caller puts a short pause
/// between groups.
///
/// Hungarian numbers (`+36…`, `0036…`, `06…`, `36` + 9 digits) are read as "nulla hat",
/// the area code (1 for Budapest, otherwise two digits) as one number, then the subscriber
/// number in groups: `+36301234567` → nulla hat | harminc | százhuszonhárom | negyvenöt |
/// hatvanhét. Any other number is read as "plusz" (when written so) and its digits in groups
/// of three and two. Characters other than digits and a leading `+` are ignored.
#[must_use]
pub fn phone_number_groups(number: &str) -> Vec<Vec<&'static str>> {
    let trimmed = number.trim_start();
    let plus = trimmed.starts_with('+');
    let ds: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    let national = if plus {
        ds.strip_prefix("36")
    } else if let Some(rest) = ds.strip_prefix("0036").or_else(|| ds.strip_prefix("06")) {
        Some(rest)
    } else if ds.len() == 11 {
        ds.strip_prefix("36")
    } else {
        None
    };
    let mut out = Vec::new();
    match national {
        Some(n) if (8..=9).contains(&n.len()) && !n.starts_with('0') => {
            out.push(vec!["num_0", "num_6"]);
            let area_len = if n.starts_with('1') { 1 } else { 2 };
            out.push(group(&n[..area_len]));
            push_groups(&mut out, &n[area_len..]);
        }
        _ => {
            if plus {
                out.push(vec!["word_plusz"]);
            }
            push_groups(&mut out, &ds);
        }
    }
    out
}

/// Time of day, 24-hour clock, number before noun in the *két* form: `time_of_day(7, 30,
/// TimeSuffix::None)` is "hét óra harminc perc", `time_of_day(16, 0, TimeSuffix::From)` is
/// "tizenhat órától". Values out of range are read as given.
#[must_use]
pub fn time_of_day(hour: u32, minute: u32, suffix: TimeSuffix) -> Vec<&'static str> {
    let mut out = cardinal(hour, Form::Attributive);
    if minute == 0 {
        out.push(match suffix {
            TimeSuffix::None => "word_ora",
            TimeSuffix::From => "word_oratol",
            TimeSuffix::Until => "word_oraig",
            TimeSuffix::At => "word_orakor",
        });
    } else {
        out.push("word_ora");
        out.extend(cardinal(minute, Form::Attributive));
        out.push(match suffix {
            TimeSuffix::None => "word_perc",
            TimeSuffix::From => "word_perctol",
            TimeSuffix::Until => "word_percig",
            TimeSuffix::At => "word_perckor",
        });
    }
    out
}

/// The fragment id of a day as an adverb (ma, holnap, hétfőn, kedden …).
#[must_use]
pub fn day(day: Day) -> &'static str {
    match day {
        Day::Today => "day_ma",
        Day::Tomorrow => "day_holnap",
        Day::Monday => "day_hetfon",
        Day::Tuesday => "day_kedden",
        Day::Wednesday => "day_szerdan",
        Day::Thursday => "day_csutortokon",
        Day::Friday => "day_penteken",
        Day::Saturday => "day_szombaton",
        Day::Sunday => "day_vasarnap",
    }
}

/// "Ön a következő a sorban." for position 1 (and 0: being connected), otherwise
/// "Ön jelenleg a harmadik a sorban." / "Ön jelenleg az ötödik a sorban."
#[must_use]
pub fn queue_position(position: u32) -> Vec<&'static str> {
    if position <= 1 {
        return vec![QUEUE_NEXT];
    }
    let ord = ordinal(position);
    let lead = if article_for_ids(&ord) == "art_az" {
        QUEUE_POSITION_AZ
    } else {
        QUEUE_POSITION_A
    };
    let mut out = Vec::with_capacity(ord.len() + 2);
    out.push(lead);
    out.extend(ord);
    out.push(QUEUE_IN_LINE);
    out
}

/// "A várható várakozási idő körülbelül két perc." ("… kevesebb, mint egy perc." for 0).
#[must_use]
pub fn wait_minutes(minutes: u32) -> Vec<&'static str> {
    if minutes == 0 {
        return vec![QUEUE_WAIT_UNDER_MINUTE];
    }
    let mut out = vec![QUEUE_WAIT_ABOUT];
    out.extend(cardinal(minutes, Form::Attributive));
    out.push("word_perc");
    out
}

/// "A vonal legközelebb kedden tizenhat órakor nyit." / "… hét óra harminc perckor nyit."
#[must_use]
pub fn line_opens_next(when: Day, hour: u32, minute: u32) -> Vec<&'static str> {
    let mut out = vec![LINE_NEXT, day(when)];
    if minute == 0 {
        out.extend(cardinal(hour, Form::Attributive));
        out.push(LINE_OPENS_AT_HOUR);
    } else {
        out.extend(time_of_day(hour, minute, TimeSuffix::At));
        out.push(LINE_OPENS);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeSet, HashMap};

    /// id -> text from the shipped manifest (parsed with toml, independent of the loader).
    fn manifest_texts() -> HashMap<String, String> {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts/hu/manifest.toml");
        let value: toml::Value =
            toml::from_str(&std::fs::read_to_string(path).expect("test data is valid"))
                .expect("test data is valid");
        value["prompt"]
            .as_array()
            .expect("test data is valid")
            .iter()
            .map(|p| {
                (
                    p["id"].as_str().expect("test data is valid").to_owned(),
                    p["text"].as_str().expect("test data is valid").to_owned(),
                )
            })
            .collect()
    }

    /// Renders ids as their manifest texts joined by spaces.
    fn said(ids: &[&str]) -> String {
        let texts = manifest_texts();
        ids.iter()
            .map(|id| {
                texts
                    .get(*id)
                    .unwrap_or_else(|| panic!("{id} not in manifest"))
                    .as_str()
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn said_groups(groups: &[Vec<&str>]) -> String {
        groups
            .iter()
            .map(|g| said(g))
            .collect::<Vec<_>>()
            .join(" | ")
    }

    #[test]
    fn table_of_composed_phrases() {
        use Form::{Attributive as A, Standalone as S};
        let table: Vec<(&str, Vec<&str>, &str)> = vec![
            ("0", cardinal(0, S), "nulla"),
            ("1", cardinal(1, S), "egy"),
            ("2 standalone", cardinal(2, S), "kettő"),
            ("2 attributive", cardinal(2, A), "két"),
            ("10", cardinal(10, S), "tíz"),
            ("11", cardinal(11, S), "tizenegy"),
            ("12 standalone", cardinal(12, S), "tizenkettő"),
            ("12 attributive", cardinal(12, A), "tizenkét"),
            ("20", cardinal(20, S), "húsz"),
            ("21", cardinal(21, S), "huszon egy"),
            ("22 standalone", cardinal(22, S), "huszon kettő"),
            ("22 attributive", cardinal(22, A), "huszon két"),
            ("30", cardinal(30, S), "harminc"),
            ("32 attributive", cardinal(32, A), "harminc két"),
            ("45", cardinal(45, S), "negyven öt"),
            ("99", cardinal(99, S), "kilencven kilenc"),
            ("100", cardinal(100, S), "száz"),
            ("101", cardinal(101, S), "száz egy"),
            ("112 attributive", cardinal(112, A), "száz tizenkét"),
            ("200", cardinal(200, S), "két száz"),
            ("222 standalone", cardinal(222, S), "két száz huszon kettő"),
            ("222 attributive", cardinal(222, A), "két száz huszon két"),
            ("999", cardinal(999, S), "kilenc száz kilencven kilenc"),
            ("1000", cardinal(1000, S), "ezer"),
            ("2026", cardinal(2026, S), "két ezer huszon hat"),
            ("1 000 000", cardinal(1_000_000, S), "egy millió"),
            (
                "2 001 002",
                cardinal(2_001_002, S),
                "két millió egy ezer kettő",
            ),
            ("ordinal 0", ordinal(0), "nulladik"),
            ("ordinal 1", ordinal(1), "első"),
            ("ordinal 2", ordinal(2), "második"),
            ("ordinal 3", ordinal(3), "harmadik"),
            ("ordinal 4", ordinal(4), "negyedik"),
            ("ordinal 5", ordinal(5), "ötödik"),
            ("ordinal 6", ordinal(6), "hatodik"),
            ("ordinal 7", ordinal(7), "hetedik"),
            ("ordinal 8", ordinal(8), "nyolcadik"),
            ("ordinal 9", ordinal(9), "kilencedik"),
            ("ordinal 10", ordinal(10), "tizedik"),
            ("ordinal 11", ordinal(11), "tizenegyedik"),
            ("ordinal 12", ordinal(12), "tizenkettedik"),
            ("ordinal 20", ordinal(20), "huszadik"),
            ("ordinal 21", ordinal(21), "huszon egyedik"),
            ("ordinal 22", ordinal(22), "huszon kettedik"),
            ("ordinal 30", ordinal(30), "harmincadik"),
            ("ordinal 33", ordinal(33), "harminc harmadik"),
            ("ordinal 42", ordinal(42), "negyven kettedik"),
            ("ordinal 100", ordinal(100), "századik"),
            ("ordinal 101", ordinal(101), "száz egyedik"),
            ("ordinal 111", ordinal(111), "száz tizenegyedik"),
            ("ordinal 200", ordinal(200), "két századik"),
            (
                "key 1",
                key('1').expect("test data is valid"),
                "az egyes gomb",
            ),
            (
                "key 2",
                key('2').expect("test data is valid"),
                "a kettes gomb",
            ),
            (
                "key 5",
                key('5').expect("test data is valid"),
                "az ötös gomb",
            ),
            (
                "key 0",
                key('0').expect("test data is valid"),
                "a nullás gomb",
            ),
            (
                "key *",
                key('*').expect("test data is valid"),
                "a csillag gomb",
            ),
            (
                "key #",
                key('#').expect("test data is valid"),
                "a kettős kereszt gomb",
            ),
            (
                "press 1",
                press_key('1').expect("test data is valid"),
                "nyomja meg az egyes gombot",
            ),
            ("7:00", time_of_day(7, 0, TimeSuffix::None), "hét óra"),
            (
                "16:00",
                time_of_day(16, 0, TimeSuffix::None),
                "tizenhat óra",
            ),
            (
                "19:00",
                time_of_day(19, 0, TimeSuffix::None),
                "tizenkilenc óra",
            ),
            (
                "7:30",
                time_of_day(7, 30, TimeSuffix::None),
                "hét óra harminc perc",
            ),
            (
                "12:02",
                time_of_day(12, 2, TimeSuffix::None),
                "tizenkét óra két perc",
            ),
            (
                "from 7:00",
                time_of_day(7, 0, TimeSuffix::From),
                "hét órától",
            ),
            (
                "until 8:00",
                time_of_day(8, 0, TimeSuffix::Until),
                "nyolc óráig",
            ),
            (
                "at 16:00",
                time_of_day(16, 0, TimeSuffix::At),
                "tizenhat órakor",
            ),
            (
                "from 7:30",
                time_of_day(7, 30, TimeSuffix::From),
                "hét óra harminc perctől",
            ),
            (
                "until 18:45",
                time_of_day(18, 45, TimeSuffix::Until),
                "tizennyolc óra negyven öt percig",
            ),
            ("queue 1", queue_position(1), "Ön a következő a sorban."),
            (
                "queue 2",
                queue_position(2),
                "Ön jelenleg a második a sorban.",
            ),
            (
                "queue 3",
                queue_position(3),
                "Ön jelenleg a harmadik a sorban.",
            ),
            (
                "queue 5",
                queue_position(5),
                "Ön jelenleg az ötödik a sorban.",
            ),
            (
                "queue 11",
                queue_position(11),
                "Ön jelenleg a tizenegyedik a sorban.",
            ),
            (
                "wait 2",
                wait_minutes(2),
                "A várható várakozási idő körülbelül két perc",
            ),
            (
                "wait 12",
                wait_minutes(12),
                "A várható várakozási idő körülbelül tizenkét perc",
            ),
            (
                "wait 0",
                wait_minutes(0),
                "A várható várakozási idő kevesebb, mint egy perc.",
            ),
            (
                "opens tue 16",
                line_opens_next(Day::Tuesday, 16, 0),
                "A vonal legközelebb kedden tizenhat órakor nyit.",
            ),
            (
                "opens tomorrow 7:30",
                line_opens_next(Day::Tomorrow, 7, 30),
                "A vonal legközelebb holnap hét óra harminc perckor nyit.",
            ),
            (
                "opens mon 7",
                line_opens_next(Day::Monday, 7, 0),
                "A vonal legközelebb hétfőn hét órakor nyit.",
            ),
            ("digits", digits("2-05"), "kettő nulla öt"),
        ];
        let mut failures = Vec::new();
        for (input, ids, expected) in &table {
            let got = said(ids);
            if got != *expected {
                failures.push(format!("{input}: expected {expected:?}, found {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn article_is_az_before_vowel_sound() {
        let cases = [
            ("egyes", "art_az"),
            ("kettes", "art_a"),
            ("első", "art_az"),
            ("második", "art_a"),
            ("öt", "art_az"),
            ("Ön", "art_az"),
            ("ügyintéző", "art_az"),
            ("hivatal", "art_a"),
            ("1", "art_az"),
            ("2", "art_a"),
            ("5", "art_az"),
            ("50", "art_az"),
            ("100", "art_a"),
            ("1000", "art_az"),
            ("12", "art_a"),
            ("", "art_a"),
        ];
        for (word, want) in cases {
            assert_eq!(article_for(word), want, "{word:?}");
        }
        assert_eq!(article_for_ids(&ordinal(5)), "art_az");
        assert_eq!(article_for_ids(&ordinal(50)), "art_az");
        assert_eq!(article_for_ids(&ordinal(3)), "art_a");
    }

    #[test]
    fn phone_numbers_are_read_in_hungarian_groups() {
        let cases = [
            (
                "+36301234567",
                "nulla hat | harminc | száz huszon három | negyven öt | hatvan hét",
            ),
            (
                "06301234567",
                "nulla hat | harminc | száz huszon három | negyven öt | hatvan hét",
            ),
            (
                "36301234567",
                "nulla hat | harminc | száz huszon három | negyven öt | hatvan hét",
            ),
            (
                "+36 1 234 5678",
                "nulla hat | egy | két száz harminc négy | ötven hat | hetven nyolc",
            ),
            (
                "+3623456789",
                "nulla hat | huszon három | négy száz ötven hat | hét száz nyolcvan kilenc",
            ),
            (
                "+36205000102",
                "nulla hat | húsz | öt száz | nulla egy | nulla kettő",
            ),
            (
                "+4420791234",
                "plusz | négy száz negyven kettő | nulla hetven kilenc | tizenkettő | harminc négy",
            ),
            ("112", "száz tizenkettő"),
            ("", ""),
            ("abc", ""),
        ];
        for (number, want) in cases {
            assert_eq!(said_groups(&phone_number_groups(number)), want, "{number}");
        }
    }

    #[test]
    fn fragment_table_matches_manifest_text() {
        let texts = manifest_texts();
        for (id, text) in FRAGMENTS {
            assert_eq!(texts.get(*id).map(String::as_str), Some(*text), "{id}");
        }
    }

    #[test]
    fn every_id_the_composer_can_return_is_in_the_manifest() {
        let texts = manifest_texts();
        let mut ids: BTreeSet<&str> = BTreeSet::new();
        let mut add = |v: Vec<&'static str>| ids.extend(v);
        for n in (0..=2000).chain([
            9999,
            10_000,
            12_345,
            999_999,
            1_000_000,
            2_002_002,
            999_999_999,
            u32::MAX,
        ]) {
            add(cardinal(n, Form::Standalone));
            add(cardinal(n, Form::Attributive));
            add(ordinal(n));
            add(queue_position(n));
            add(wait_minutes(n));
        }
        for h in 0..24 {
            for m in 0..60 {
                for s in [
                    TimeSuffix::None,
                    TimeSuffix::From,
                    TimeSuffix::Until,
                    TimeSuffix::At,
                ] {
                    add(time_of_day(h, m, s));
                }
            }
        }
        for d in [
            Day::Today,
            Day::Tomorrow,
            Day::Monday,
            Day::Tuesday,
            Day::Wednesday,
            Day::Thursday,
            Day::Friday,
            Day::Saturday,
            Day::Sunday,
        ] {
            add(line_opens_next(d, 7, 0));
            add(line_opens_next(d, 7, 30));
        }
        for c in "0123456789*#".chars() {
            add(key(c).expect("test data is valid"));
            add(press_key(c).expect("test data is valid"));
        }
        add(digits("0123456789"));
        for number in [
            "+36301234567",
            "+3612345678",
            "+3623456789",
            "+442079460000",
            "0036701234567",
        ] {
            for g in phone_number_groups(number) {
                add(g);
            }
        }
        let missing: Vec<&&str> = ids.iter().filter(|id| !texts.contains_key(**id)).collect();
        assert!(missing.is_empty(), "not in manifest: {missing:?}");
        assert!(ids.len() > 90, "sweep reached only {} ids", ids.len());
    }

    #[test]
    fn keys_a_to_d_and_other_characters_have_no_name() {
        for c in ['A', 'D', 'x', ' '] {
            assert_eq!(key(c), None);
            assert_eq!(press_key(c), None);
        }
    }
}
