//! Statutory holidays and the Hungarian names of days.
//!
//! Munka törvénykönyve (2012. évi I. törvény) §102(1): "Munkaszüneti nap: január 1.,
//! március 15., nagypéntek, húsvéthétfő, május 1., pünkösdhétfő, augusztus 20., október 23.,
//! november 1. és december 25–26." These are computed for every year, so a year without a
//! decree file still knows its holidays; only the decree's moved days are data.

use jiff::ToSpan;
use jiff::civil::{Date, Weekday};

/// Easter Sunday in the Gregorian calendar (the anonymous algorithm published by Meeus,
/// valid for every Gregorian year).
pub fn easter_sunday(year: i16) -> Option<Date> {
    let y = i32::from(year);
    let a = y % 19;
    let b = y / 100;
    let c = y % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    let month = i8::try_from(month).ok()?;
    let day = i8::try_from(day).ok()?;
    Date::new(year, month, day).ok()
}

/// The statutory holidays of a year with their Hungarian names, in date order.
pub fn statutory(year: i16) -> Vec<(Date, &'static str)> {
    let mut out = Vec::with_capacity(11);
    let mut fixed = |m: i8, d: i8, name: &'static str| {
        if let Ok(date) = Date::new(year, m, d) {
            out.push((date, name));
        }
    };
    fixed(1, 1, "Újév");
    fixed(3, 15, "Nemzeti ünnep (március 15.)");
    fixed(5, 1, "A munka ünnepe");
    fixed(8, 20, "Államalapítás ünnepe");
    fixed(10, 23, "Nemzeti ünnep (október 23.)");
    fixed(11, 1, "Mindenszentek");
    fixed(12, 25, "Karácsony");
    fixed(12, 26, "Karácsony másnapja");
    if let Some(easter) = easter_sunday(year) {
        let movable = [
            (-2, "Nagypéntek"),
            (1, "Húsvéthétfő"),
            // Whit Monday is 50 days after Easter Sunday.
            (50, "Pünkösdhétfő"),
        ];
        for (offset, name) in movable {
            if let Ok(date) = easter.checked_add(offset.days()) {
                out.push((date, name));
            }
        }
    }
    out.sort_by_key(|(d, _)| *d);
    out
}

/// The name of the statutory holiday on `date`, if it is one.
pub fn holiday_name(date: Date) -> Option<&'static str> {
    let fixed = match (date.month(), date.day()) {
        (1, 1) => Some("Újév"),
        (3, 15) => Some("Nemzeti ünnep (március 15.)"),
        (5, 1) => Some("A munka ünnepe"),
        (8, 20) => Some("Államalapítás ünnepe"),
        (10, 23) => Some("Nemzeti ünnep (október 23.)"),
        (11, 1) => Some("Mindenszentek"),
        (12, 25) => Some("Karácsony"),
        (12, 26) => Some("Karácsony másnapja"),
        _ => None,
    };
    if fixed.is_some() {
        return fixed;
    }
    // Movable holidays fall between 20 March (Good Friday) and 14 June (Whit Monday).
    if !(3..=6).contains(&date.month()) {
        return None;
    }
    statutory(date.year())
        .into_iter()
        .find(|(d, _)| *d == date)
        .map(|(_, name)| name)
}

/// The Hungarian name of a weekday, lower case as written mid-sentence.
pub fn weekday_name(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Monday => "hétfő",
        Weekday::Tuesday => "kedd",
        Weekday::Wednesday => "szerda",
        Weekday::Thursday => "csütörtök",
        Weekday::Friday => "péntek",
        Weekday::Saturday => "szombat",
        Weekday::Sunday => "vasárnap",
    }
}

/// Index of a weekday with Monday as 0, for arrays of seven.
pub fn weekday_index(weekday: Weekday) -> usize {
    usize::try_from(weekday.to_monday_zero_offset()).expect("0..=6 fits usize")
}

/// Saturday or Sunday.
pub fn is_weekend(date: Date) -> bool {
    matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday)
}
