//! Fuzz target for the calendar loader: any set of calendar files never panics.
//!
//! Input layout: the first byte picks "today" (a day in 2024-2029, so the checks for missing
//! next-year data and the DST nights are reached); the rest is split at NUL bytes into up to
//! four files named `schedules.toml`, `closures.toml`, `hu-2026.toml` and `hu-2027.toml`,
//! in that order. The seed corpus is the shipped calendar in that layout.
#![no_main]

use jiff::civil::Date;
use libfuzzer_sys::fuzz_target;
use ugyelet::dialplan::calendar::{self, load_files};

const NAMES: [&str; 4] = [
    "calendar/schedules.toml",
    "calendar/closures.toml",
    "calendar/hu-2026.toml",
    "calendar/hu-2027.toml",
];

fuzz_target!(|data: &[u8]| {
    let Some((&day, rest)) = data.split_first() else {
        return;
    };
    let files: Vec<(String, String)> = rest
        .split(|&b| b == 0)
        .zip(NAMES)
        .map(|(bytes, name)| (name.to_owned(), String::from_utf8_lossy(bytes).into_owned()))
        .collect();
    let base = Date::new(2024, 1, 1).expect("a valid date");
    let today = base
        .checked_add(jiff::Span::new().days(i64::from(day) * 8))
        .expect("within jiff's range");
    match load_files(&files, today) {
        Ok((cal, _warnings)) => {
            // Every query a call makes answers, for every schedule, on today and on the
            // nights the clocks change in Budapest (02:00 skipped, 02:00-03:00 repeated).
            let tz = calendar::tz();
            let instants = [
                today.at(12, 0, 0, 0),
                Date::new(2026, 3, 29)
                    .expect("a valid date")
                    .at(2, 30, 0, 0),
                Date::new(2026, 10, 25)
                    .expect("a valid date")
                    .at(2, 30, 0, 0),
            ];
            let _ = cal.warnings(today);
            for name in cal.schedule_names() {
                for at in instants {
                    let Ok(ts) = tz.to_ambiguous_timestamp(at).compatible() else {
                        continue;
                    };
                    let at = ts.to_zoned_datetime(tz.clone());
                    let _ = cal.windows(name, at.date());
                    let _ = cal.state(name, &at, None);
                    let _ = cal.next_opening(name, &at, None);
                }
            }
        }
        Err(errors) => assert!(!errors.is_empty(), "a refused calendar says why"),
    }
});
