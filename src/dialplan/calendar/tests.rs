use std::path::Path;

use jiff::Timestamp;
use jiff::civil::{DateTime, Weekday};

use super::*;
use crate::dialplan::validate::Severity;

fn d(s: &str) -> Date {
    s.parse().expect("test date")
}

fn t(s: &str) -> Time {
    s.parse().expect("test time")
}

/// A Budapest wall-clock time, e.g. "2026-12-22T17:00" (gaps resolve as jiff's
/// "compatible" rule does: forward by the gap).
fn local(s: &str) -> Zoned {
    s.parse::<DateTime>()
        .expect("test datetime")
        .to_zoned_datetime(tz())
        .expect("in range")
}

/// An exact instant with its offset, e.g. "2026-10-25T02:30+02:00", shown in Budapest.
fn instant(s: &str) -> Zoned {
    s.parse::<Timestamp>()
        .expect("test instant")
        .to_zoned_datetime(tz())
}

fn shipped_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dialplans/calendar")
}

fn shipped() -> Calendar {
    let (cal, _) = load_dir(&shipped_dir(), d("2026-06-01")).expect("shipped data loads");
    cal
}

/// The shipped decree and schedule files plus the given closures and extra schedules.
fn with(closures: &str, extra_schedules: &str) -> Calendar {
    let read = |f: &str| std::fs::read_to_string(shipped_dir().join(f)).expect("shipped file");
    let schedules = format!("{}\n{extra_schedules}", read("schedules.toml"));
    let files = vec![
        ("hu-2025.toml".to_owned(), read("hu-2025.toml")),
        ("hu-2026.toml".to_owned(), read("hu-2026.toml")),
        ("hu-2027.toml".to_owned(), read("hu-2027.toml")),
        ("closures.toml".to_owned(), closures.to_owned()),
        ("schedules.toml".to_owned(), schedules),
    ];
    match load_files(&files, d("2026-06-01")) {
        Ok((cal, _)) => cal,
        Err(diags) => panic!("test data does not load: {diags:#?}"),
    }
}

fn rendered(diags: &[Diagnostic]) -> Vec<String> {
    diags.iter().map(ToString::to_string).collect()
}

#[test]
fn budapest_comes_from_the_bundled_database() {
    let db = jiff::tz::TimeZoneDatabase::bundled();
    assert!(db.get("Europe/Budapest").is_ok());
    assert_eq!(tz().iana_name(), Some("Europe/Budapest"));
    assert_eq!(local("2026-01-15T12:00").offset().seconds(), 3600);
    assert_eq!(local("2026-07-15T12:00").offset().seconds(), 7200);
}

#[test]
fn easter_sunday_matches_known_dates() {
    for (year, easter) in [
        (2024, "2024-03-31"),
        (2025, "2025-04-20"),
        (2026, "2026-04-05"),
        (2027, "2027-03-28"),
        (2038, "2038-04-25"),
        (2285, "2285-03-22"),
    ] {
        assert_eq!(easter_sunday(year), Some(d(easter)), "{year}");
    }
}

#[test]
fn statutory_holidays_of_2025_and_2026_labour_code_102_1() {
    let cal = shipped();
    let table = [
        ("2025-01-01", "Újév"),
        ("2025-03-15", "Nemzeti ünnep (március 15.)"),
        ("2025-04-18", "Nagypéntek"),
        ("2025-04-21", "Húsvéthétfő"),
        ("2025-05-01", "A munka ünnepe"),
        ("2025-06-09", "Pünkösdhétfő"),
        ("2025-08-20", "Államalapítás ünnepe"),
        ("2025-10-23", "Nemzeti ünnep (október 23.)"),
        ("2025-11-01", "Mindenszentek"),
        ("2025-12-25", "Karácsony"),
        ("2025-12-26", "Karácsony másnapja"),
        ("2026-01-01", "Újév"),
        ("2026-03-15", "Nemzeti ünnep (március 15.)"),
        ("2026-04-03", "Nagypéntek"),
        ("2026-04-06", "Húsvéthétfő"),
        ("2026-05-01", "A munka ünnepe"),
        ("2026-05-25", "Pünkösdhétfő"),
        ("2026-08-20", "Államalapítás ünnepe"),
        ("2026-10-23", "Nemzeti ünnep (október 23.)"),
        ("2026-11-01", "Mindenszentek"),
        ("2026-12-25", "Karácsony"),
        ("2026-12-26", "Karácsony másnapja"),
    ];
    for (date, name) in table {
        let day = cal.day(d(date));
        assert_eq!(day.kind, DayKind::Holiday, "{date}");
        assert_eq!(day.name.as_deref(), Some(name), "{date}");
    }
    for year in [2025, 2026] {
        let computed: Vec<Date> = statutory(year).into_iter().map(|(d, _)| d).collect();
        let expected: Vec<Date> = table
            .iter()
            .filter(|(s, _)| s.starts_with(&year.to_string()))
            .map(|(s, _)| d(s))
            .collect();
        assert_eq!(computed, expected, "{year}");
    }
    // Easter Sunday and Whit Sunday are Sundays, not extra holidays.
    assert_eq!(cal.day(d("2026-04-05")).kind, DayKind::Weekend);
    assert_eq!(cal.day(d("2026-04-04")).kind, DayKind::Weekend);
    assert_eq!(cal.day(d("2026-04-07")).kind, DayKind::Workday);
}

#[test]
fn decree_days_of_2025_and_2026() {
    let cal = shipped();
    for date in [
        "2025-05-02",
        "2025-10-24",
        "2025-12-24",
        "2026-01-02",
        "2026-08-21",
        "2026-12-24",
    ] {
        let day = cal.day(d(date));
        assert_eq!(day.kind, DayKind::MovedRestDay, "{date}");
        assert_eq!(day.name.as_deref(), Some("áthelyezett pihenőnap"), "{date}");
    }
    for (date, replaces) in [
        ("2025-05-17", "2025-05-02"),
        ("2025-10-18", "2025-10-24"),
        ("2025-12-13", "2025-12-24"),
        ("2026-01-10", "2026-01-02"),
        ("2026-08-08", "2026-08-21"),
        ("2026-12-12", "2026-12-24"),
    ] {
        let day = cal.day(d(date));
        assert_eq!(
            day.kind,
            DayKind::WorkedSaturday {
                replaces: d(replaces)
            },
            "{date}"
        );
        assert_eq!(day.name.as_deref(), Some("áthelyezett munkanap"));
    }
    assert_eq!(cal.day(d("2026-12-22")).kind, DayKind::Workday);
    assert_eq!(cal.day(d("2026-12-19")).kind, DayKind::Weekend);
    assert_eq!(cal.day(d("2026-12-19")).name, None);
}

#[test]
fn staffed_state_by_day_type_and_time() {
    let cal = shipped();
    // (local time, open, why)
    let table = [
        ("2026-12-22T17:00", true, "kedd, 16:00–19:00 ablak"),
        ("2026-12-22T19:00", false, "kedd, ablakon kívül"),
        ("2026-12-22T18:59:59", true, "kedd, 16:00–19:00 ablak"),
        ("2026-12-22T07:00", true, "kedd, 07:00–08:00 ablak"),
        ("2026-12-22T08:00", false, "kedd, ablakon kívül"),
        ("2026-12-21T16:30", false, "hétfő, ablakon kívül"),
        ("2026-12-21T07:30", true, "hétfő, 07:00–08:00 ablak"),
        ("2026-12-17T16:30", true, "csütörtök, 16:00–19:00 ablak"),
        ("2026-12-18T16:30", false, "péntek, ablakon kívül"),
        ("2026-12-19T07:30", false, "szombat, zárva"),
        ("2026-12-20T07:30", false, "vasárnap, zárva"),
        ("2026-12-24T07:30", false, "áthelyezett pihenőnap"),
        ("2026-12-25T07:30", false, "Karácsony (munkaszüneti nap)"),
        (
            "2026-12-26T07:30",
            false,
            "Karácsony másnapja (munkaszüneti nap)",
        ),
        ("2025-04-18T07:30", false, "Nagypéntek (munkaszüneti nap)"),
        ("2025-04-21T07:30", false, "Húsvéthétfő (munkaszüneti nap)"),
        ("2025-06-09T07:30", false, "Pünkösdhétfő (munkaszüneti nap)"),
        ("2026-04-03T07:30", false, "Nagypéntek (munkaszüneti nap)"),
        ("2026-04-06T07:30", false, "Húsvéthétfő (munkaszüneti nap)"),
        ("2026-05-25T07:30", false, "Pünkösdhétfő (munkaszüneti nap)"),
        ("2025-05-02T07:30", false, "áthelyezett pihenőnap"),
        ("2026-08-21T07:30", false, "áthelyezett pihenőnap"),
        // A worked Saturday works the replaced weekday's hours: Friday 2026-01-02 has only
        // the morning window, Thursday 2026-12-24 also the evening one.
        (
            "2026-01-10T07:30",
            true,
            "áthelyezett munkanap (2026-01-02 péntek helyett), 07:00–08:00 ablak",
        ),
        (
            "2026-01-10T16:30",
            false,
            "áthelyezett munkanap (2026-01-02 péntek helyett), ablakon kívül",
        ),
        (
            "2026-12-12T16:30",
            true,
            "áthelyezett munkanap (2026-12-24 csütörtök helyett), 16:00–19:00 ablak",
        ),
        (
            "2025-12-13T17:00",
            true,
            "áthelyezett munkanap (2025-12-24 szerda helyett), 16:00–19:00 ablak",
        ),
        (
            "2025-05-17T17:00",
            false,
            "áthelyezett munkanap (2025-05-02 péntek helyett), ablakon kívül",
        ),
    ];
    for (at, open, why) in table {
        let s = cal
            .state("staffed", &local(at), None)
            .expect("known schedule");
        assert_eq!((s.open, s.why.as_str()), (open, why), "{at}");
        assert_eq!(s.window.is_some(), open, "{at}");
    }
    let s = cal
        .state("staffed", &local("2026-12-22T17:00"), None)
        .expect("known schedule");
    assert_eq!(s.window, Some((t("16:00"), t("19:00"))));
    assert_eq!(s.day.date, d("2026-12-22"));
}

#[test]
fn state_is_evaluated_in_budapest_whatever_the_callers_zone() {
    let cal = shipped();
    let utc = "2026-12-22T15:30:00Z"
        .parse::<Timestamp>()
        .expect("instant")
        .to_zoned_datetime(jiff::tz::TimeZone::UTC);
    let s = cal.state("staffed", &utc, None).expect("known schedule");
    assert!(s.open, "15:30 UTC is 16:30 in Budapest");
    assert_eq!(s.why, "kedd, 16:00–19:00 ablak");
}

#[test]
fn windows_after_precedence() {
    let cal = shipped();
    let morning = vec![(t("07:00"), t("08:00"))];
    let both = vec![(t("07:00"), t("08:00")), (t("16:00"), t("19:00"))];
    assert_eq!(cal.windows("staffed", d("2026-12-21")), morning);
    assert_eq!(cal.windows("staffed", d("2026-12-22")), both);
    assert_eq!(cal.windows("staffed", d("2026-01-10")), morning);
    assert_eq!(cal.windows("staffed", d("2026-12-12")), both);
    assert_eq!(cal.windows("staffed", d("2026-12-24")), vec![]);
    assert_eq!(cal.windows("staffed", d("2026-12-19")), vec![]);
    assert_eq!(cal.windows("nope", d("2026-12-22")), vec![]);
}

#[test]
fn unknown_schedule_has_no_state() {
    let cal = shipped();
    assert_eq!(cal.schedule_names(), vec!["staffed"]);
    assert_eq!(cal.state("night", &local("2026-12-22T17:00"), None), None);
    assert_eq!(
        cal.next_opening("night", &local("2026-12-22T17:00"), None),
        None
    );
}

#[test]
fn next_opening_and_how_to_say_it() {
    let cal = shipped();
    let table = [
        // Monday after the morning window: Tuesday morning.
        ("2026-12-21T08:30", "2026-12-22T07:00", When::Tomorrow),
        ("2026-12-22T19:30", "2026-12-23T07:00", When::Tomorrow),
        ("2026-12-22T19:00", "2026-12-23T07:00", When::Tomorrow),
        ("2026-12-22T12:00", "2026-12-22T16:00", When::Today),
        ("2026-12-22T06:59", "2026-12-22T07:00", When::Today),
        (
            "2026-12-18T08:10",
            "2026-12-21T07:00",
            When::Weekday(Weekday::Monday),
        ),
        // 24 Dec rest day, 25-26 Dec holidays, then the weekend: Monday 28 Dec.
        (
            "2026-12-23T19:30",
            "2026-12-28T07:00",
            When::Weekday(Weekday::Monday),
        ),
        // 1 Jan holiday, 2 Jan rest day, weekend.
        (
            "2025-12-31T19:30",
            "2026-01-05T07:00",
            When::Weekday(Weekday::Monday),
        ),
        // Friday evening before the worked Saturday.
        ("2026-01-09T08:30", "2026-01-10T07:00", When::Tomorrow),
        // Open now: the opening is now.
        ("2026-12-17T16:30", "2026-12-17T16:30", When::Today),
    ];
    for (at, expected, how) in table {
        let now = local(at);
        let next = cal.next_opening("staffed", &now, None).expect("opens");
        assert_eq!(next, local(expected), "{at}");
        assert_eq!(when(&now, &next), how, "{at}");
    }
    let s = cal.state("staffed", &local("2026-12-17T16:30"), None);
    assert!(s.is_some_and(|s| s.open));
}

#[test]
fn when_counts_budapest_calendar_days() {
    let now = local("2026-12-21T23:30");
    assert_eq!(when(&now, &local("2026-12-21T23:59")), When::Today);
    assert_eq!(when(&now, &local("2026-12-22T00:00")), When::Tomorrow);
    assert_eq!(
        when(&now, &local("2026-12-23T07:00")),
        When::Weekday(Weekday::Wednesday)
    );
    assert_eq!(
        when(&now, &local("2026-12-27T07:00")),
        When::Weekday(Weekday::Sunday)
    );
    assert_eq!(
        when(&now, &local("2026-12-28T07:00")),
        When::Date(d("2026-12-28"))
    );
    // 22:30 UTC on 21 Dec is already 22 Dec in Budapest.
    let utc = "2026-12-21T23:30:00Z"
        .parse::<Timestamp>()
        .expect("instant")
        .to_zoned_datetime(jiff::tz::TimeZone::UTC);
    assert_eq!(when(&now, &utc), When::Tomorrow);
}

const NIGHT: &str = r#"
[night]
sunday = ["02:30-03:30"]

[early]
sunday = ["01:00-02:30"]

[repeat]
sunday = ["02:15-02:45"]
"#;

#[test]
fn dst_spring_night_window_opens_when_the_clock_jumps() {
    let cal = with("", NIGHT);
    // Last Sunday of March: 02:00 CET becomes 03:00 CEST at 01:00 UTC.
    for date in ["2026-03-29", "2025-03-30"] {
        let at = |hm: &str, off: &str| instant(&format!("{date}T{hm}{off}"));
        let open = |sched: &str, z: &Zoned| cal.state(sched, z, None).expect("known schedule").open;
        // 01:59 CET: before the night window, inside the early one.
        assert!(!open("night", &at("01:59", "+01:00")), "{date}");
        assert!(open("early", &at("01:59", "+01:00")), "{date}");
        // 02:30 does not exist; jiff reads it as 03:30 CEST, the night window's end.
        let nonexistent = local(&format!("{date}T02:30"));
        assert_eq!(nonexistent, at("03:30", "+02:00"), "{date}");
        assert!(!open("night", &nonexistent), "{date}");
        // 03:00 CEST, the instant of the jump: the night window is open, the early one
        // ended with the jump.
        let s = cal
            .state("night", &at("03:00", "+02:00"), None)
            .expect("known schedule");
        assert!(s.open, "{date}");
        assert_eq!(s.window, Some((t("02:30"), t("03:30"))));
        assert!(!open("early", &at("03:00", "+02:00")), "{date}");
        assert!(open("night", &at("03:29", "+02:00")), "{date}");
        // A window inside the gap never opens; it is skipped when looking ahead.
        assert!(!open("repeat", &at("03:00", "+02:00")), "{date}");
        // Next opening across the change.
        let next = cal
            .next_opening("night", &at("01:59", "+01:00"), None)
            .expect("opens");
        assert_eq!(next, at("03:00", "+02:00"), "{date}");
        assert_eq!(next.offset().seconds(), 7200);
        let next = cal
            .next_opening("repeat", &at("01:59", "+01:00"), None)
            .expect("opens");
        assert!(next.date() > d(date), "{date}: {next}");
    }
}

#[test]
fn dst_autumn_night_window_spans_the_repeated_hour() {
    let cal = with("", NIGHT);
    // Last Sunday of October: 03:00 CEST becomes 02:00 CET at 01:00 UTC.
    // The Sunday after 2026-10-25 is 1 November, a holiday: the window skips it.
    for (date, next_sunday) in [("2026-10-25", "2026-11-08"), ("2025-10-26", "2025-11-02")] {
        let at = |hm: &str, off: &str| instant(&format!("{date}T{hm}{off}"));
        let open = |sched: &str, z: &Zoned| cal.state(sched, z, None).expect("known schedule").open;
        assert!(!open("night", &at("01:59", "+02:00")), "{date}");
        assert!(open("early", &at("01:59", "+02:00")), "{date}");
        // 02:30 happens twice; jiff's compatible reading is the first (CEST) one.
        assert_eq!(local(&format!("{date}T02:30")), at("02:30", "+02:00"));
        assert!(open("night", &at("02:30", "+02:00")), "{date}");
        assert!(!open("early", &at("02:30", "+02:00")), "{date}");
        // After the clocks go back the window continues: 02:15 CET is inside it.
        assert!(open("night", &at("02:15", "+01:00")), "{date}");
        assert!(open("night", &at("02:30", "+01:00")), "{date}");
        assert!(open("night", &at("03:00", "+01:00")), "{date}");
        assert!(!open("night", &at("03:30", "+01:00")), "{date}");
        // The early window ended at the first 02:30; the repeated 02:xx stay closed.
        assert!(!open("early", &at("02:15", "+01:00")), "{date}");
        // A window inside the repeated hour runs once, in summer time.
        assert!(open("repeat", &at("02:15", "+02:00")), "{date}");
        assert!(!open("repeat", &at("02:45", "+02:00")), "{date}");
        assert!(!open("repeat", &at("02:20", "+01:00")), "{date}");
        let next = cal
            .next_opening("night", &at("01:59", "+02:00"), None)
            .expect("opens");
        assert_eq!(next, at("02:30", "+02:00"), "{date}");
        // After the night window: a week later, in winter time.
        let now = at("03:30", "+01:00");
        let next = cal.next_opening("night", &now, None).expect("opens");
        assert_eq!(next, instant(&format!("{next_sunday}T02:30+01:00")));
        assert_eq!(when(&now, &next), When::Date(d(next_sunday)));
    }
}

#[test]
fn staffed_next_opening_across_the_clock_changes() {
    let cal = shipped();
    let next = cal
        .next_opening("staffed", &local("2026-03-27T08:30"), None)
        .expect("opens");
    assert_eq!(next, instant("2026-03-30T07:00+02:00"));
    // Friday 23 Oct is a holiday; Monday after the change opens at 07:00 CET.
    let next = cal
        .next_opening("staffed", &local("2026-10-22T19:30"), None)
        .expect("opens");
    assert_eq!(next, instant("2026-10-26T07:00+01:00"));
}

#[test]
fn night_window_ending_at_24_00() {
    let cal = with("", "[late]\nfriday = [\"22:00-24:00\"]\n");
    let s = cal
        .state("late", &local("2026-12-18T23:59:59"), None)
        .expect("known schedule");
    assert!(s.open);
    assert_eq!(s.window, Some((t("22:00"), Time::MAX)));
    assert_eq!(s.why, "péntek, 22:00–24:00 ablak");
    let s = cal
        .state("late", &local("2026-12-19T00:00"), None)
        .expect("known schedule");
    assert!(!s.open);
}

const CLOSURES: &str = r#"
[[closure]]
from = "2026-12-28"
to = "2026-12-31"

[[closure]]
from = "2026-07-13"
to = "2026-07-17"
reason = "nyári karbantartás"

[[override]]
date = "2026-12-25"
windows = ["09:00-12:00"]
reason = "ünnepi ügyelet"

[[override]]
date = "2026-12-30"
windows = ["09:00-10:00"]

[[override]]
date = "2026-12-22"
closed = true
reason = "áramszünet"
"#;

#[test]
fn file_override_opens_a_holiday_and_beats_a_closure() {
    let cal = with(CLOSURES, "");
    let table = [
        (
            "2026-12-25T10:00",
            true,
            DayKind::Override,
            "egyedi nyitvatartás: ünnepi ügyelet, 09:00–12:00 ablak",
        ),
        (
            "2026-12-25T12:00",
            false,
            DayKind::Override,
            "egyedi nyitvatartás: ünnepi ügyelet, ablakon kívül",
        ),
        (
            "2026-12-22T17:00",
            false,
            DayKind::Override,
            "egyedi zárás: áramszünet",
        ),
        (
            "2026-12-29T07:30",
            false,
            DayKind::Closure,
            "igazgatási szünet",
        ),
        (
            "2026-12-30T09:30",
            true,
            DayKind::Override,
            "egyedi nyitvatartás, 09:00–10:00 ablak",
        ),
        (
            "2026-07-14T17:00",
            false,
            DayKind::Closure,
            "igazgatási szünet: nyári karbantartás",
        ),
        (
            "2026-07-20T07:30",
            true,
            DayKind::Workday,
            "hétfő, 07:00–08:00 ablak",
        ),
    ];
    for (at, open, kind, why) in table {
        let s = cal
            .state("staffed", &local(at), None)
            .expect("known schedule");
        assert_eq!(
            (s.open, s.day.kind, s.why.as_str()),
            (open, kind, why),
            "{at}"
        );
    }
    // From Wednesday evening the next opening is the Christmas override.
    let now = local("2026-12-23T19:30");
    let next = cal.next_opening("staffed", &now, None).expect("opens");
    assert_eq!(next, local("2026-12-25T09:00"));
    assert_eq!(when(&now, &next), When::Weekday(Weekday::Friday));
    // After it, the closure: next is the override inside it, then the new year.
    let next = cal
        .next_opening("staffed", &local("2026-12-25T12:00"), None)
        .expect("opens");
    assert_eq!(next, local("2026-12-30T09:00"));
    let next = cal
        .next_opening("staffed", &local("2026-12-30T10:00"), None)
        .expect("opens");
    assert_eq!(next, local("2027-01-04T07:00"));
}

#[test]
fn manual_closure_until_a_time_then_automatic_again() {
    let cal = shipped();
    let until = instant("2026-12-22T18:00+01:00").timestamp();
    let manual = ManualOverride {
        mode: ManualMode::Closed,
        until: Some(until),
        reason: None,
    };
    let s = cal
        .state("staffed", &local("2026-12-22T17:00"), Some(&manual))
        .expect("known schedule");
    assert!(!s.open);
    assert_eq!(s.why, "kézi zárás 2026-12-22 18:00-ig");
    assert_eq!(s.day.kind, DayKind::Workday);
    // From 18:00 the schedule rules again, and the Tuesday evening window is still on.
    let s = cal
        .state("staffed", &local("2026-12-22T18:00"), Some(&manual))
        .expect("known schedule");
    assert!(s.open);
    assert_eq!(s.why, "kedd, 16:00–19:00 ablak");
    let next = cal
        .next_opening("staffed", &local("2026-12-22T17:00"), Some(&manual))
        .expect("opens");
    assert_eq!(next, local("2026-12-22T18:00"));
    // A manual closure until the evening's end: next is Wednesday morning.
    let late = ManualOverride {
        until: Some(instant("2026-12-22T19:30+01:00").timestamp()),
        reason: Some("képzés".to_owned()),
        ..manual.clone()
    };
    let s = cal
        .state("staffed", &local("2026-12-22T17:00"), Some(&late))
        .expect("known schedule");
    assert_eq!(s.why, "kézi zárás 2026-12-22 19:30-ig: képzés");
    let next = cal
        .next_opening("staffed", &local("2026-12-22T17:00"), Some(&late))
        .expect("opens");
    assert_eq!(next, local("2026-12-23T07:00"));
    // Without an end there is no next opening.
    let forever = ManualOverride {
        until: None,
        ..manual
    };
    assert_eq!(
        cal.next_opening("staffed", &local("2026-12-22T17:00"), Some(&forever)),
        None
    );
}

#[test]
fn manual_open_on_a_sunday() {
    let cal = shipped();
    let manual = ManualOverride {
        mode: ManualMode::Open,
        until: None,
        reason: Some("rendkívüli helyzet".to_owned()),
    };
    let now = local("2026-12-20T11:00");
    let s = cal
        .state("staffed", &now, Some(&manual))
        .expect("known schedule");
    assert!(s.open);
    assert_eq!(s.why, "kézi nyitás: rendkívüli helyzet");
    assert_eq!(s.day.kind, DayKind::Weekend);
    assert_eq!(s.window, None);
    assert_eq!(
        cal.next_opening("staffed", &now, Some(&manual)),
        Some(now.clone())
    );
    // An expired manual override changes nothing.
    let expired = ManualOverride {
        until: Some(instant("2026-12-20T10:00+01:00").timestamp()),
        ..manual
    };
    let s = cal
        .state("staffed", &now, Some(&expired))
        .expect("known schedule");
    assert_eq!((s.open, s.why.as_str()), (false, "vasárnap, zárva"));
}

#[test]
fn shipped_2027_loads_with_a_decree_missing_warning() {
    let (cal, warnings) = load_dir(&shipped_dir(), d("2026-11-28")).expect("loads");
    let text = rendered(&warnings);
    let dir = shipped_dir().display().to_string();
    assert_eq!(
        text,
        vec![format!(
            "{dir}/hu-2027.toml:5:18: warning: no decree data for 2027 yet: only statutory \
             holidays apply; add the moved rest days and worked Saturdays when the decree is \
             published"
        )]
    );
    assert!(warnings.iter().all(|w| w.severity == Severity::Warning));
    // Said once, by the loader with its position; the date check does not repeat it.
    assert_eq!(cal.warnings(d("2026-11-28")), Vec::<String>::new());
    // Before September, next year's decree is not expected yet.
    assert_eq!(cal.warnings(d("2026-03-01")), Vec::<String>::new());
    // 2027 still knows its statutory holidays.
    assert_eq!(cal.day(d("2027-03-26")).kind, DayKind::Holiday);
    assert_eq!(cal.day(d("2027-03-26")).name.as_deref(), Some("Nagypéntek"));
    assert_eq!(cal.day(d("2027-12-24")).kind, DayKind::Workday);
}

#[test]
fn missing_year_file_is_a_warning() {
    let files = vec![
        (
            "cal/hu-2026.toml".to_owned(),
            "year = 2026\ndecree_missing = false\n".to_owned(),
        ),
        (
            "cal/schedules.toml".to_owned(),
            "[staffed]\nmonday = [\"07:00-08:00\"]\n".to_owned(),
        ),
    ];
    let (cal, warnings) = load_files(&files, d("2026-11-28")).expect("loads");
    assert_eq!(
        rendered(&warnings),
        vec![
            "cal/hu-2027.toml:1:1: warning: no decree data for 2027: moved rest days and worked \
             Saturdays are unknown, only statutory holidays apply; add hu-2027.toml"
        ]
    );
    assert_eq!(
        cal.warnings(d("2026-11-28")),
        vec![
            "no decree data for 2027 (hu-2027.toml): moved rest days and worked Saturdays are \
             unknown, only statutory holidays apply"
        ]
    );
    assert_eq!(cal.warnings(d("2026-08-31")), Vec::<String>::new());
    assert_eq!(cal.warnings(d("2028-01-05")).len(), 1);
}

#[test]
fn every_mistake_of_every_file_is_reported_with_its_position() {
    let files = [
        (
            "cal/hu-2026.toml",
            r#"year = 2026
rest_days = [
    { date = "2026-02-30" },
    { date = "2025-12-24" },
    { date = "2026-01-03" },
    { date = "2026-12-25" },
    { day = "2026-08-21" },
]
worked_saturdays = [
    { date = "2026-01-09", replaces = "2026-01-02" },
    { date = "2026-08-08", replaces = "2026-08-09" },
]
holidays = []
"#,
        ),
        ("cal/hu-2026-b.toml", "year = 2026\n"),
        ("cal/hu-2028.toml", "year = 2029\n"),
        (
            "cal/closures.toml",
            r#"[[closure]]
from = "2026-12-28"
to = "2026-12-20"

[[closure]]
from = "2026-07-01"
to = "2026-07-10"

[[closure]]
from = "2026-07-05"
to = "2026-07-12"

[[override]]
date = "2026-12-24"
closed = true

[[override]]
date = "2026-12-24"
windows = ["09:00-12:00"]

[[override]]
date = "2026-12-23"
"#,
        ),
        (
            "cal/schedules.toml",
            r#"[staffed]
mondy = ["07:00-08:00"]
tuesday = ["19:00-16:00", "7-8", "07:00-07:60"]
wednesday = ["07:00-08:00", "07:30-09:00"]
thursday = "07:00-08:00"
"#,
        ),
        ("cal/notes.toml", ""),
    ];
    let files: Vec<(String, String)> = files
        .iter()
        .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
        .collect();
    let diags = load_files(&files, d("2026-06-01")).expect_err("refused");
    assert_eq!(
        rendered(&diags),
        vec![
            r#"cal/hu-2026.toml:3:14: expected a date YYYY-MM-DD, found "2026-02-30""#,
            r#"cal/hu-2026.toml:4:14: expected a date in 2026 (the year of this file), found "2025-12-24""#,
            r#"cal/hu-2026.toml:5:14: expected a weekday (Monday to Friday) for a moved rest day, found "2026-01-03" (Saturday)"#,
            r#"cal/hu-2026.toml:6:14: expected a workday for a moved rest day, found "2026-12-25", a statutory holiday (Karácsony)"#,
            r#"cal/hu-2026.toml:7:5: missing `date = "YYYY-MM-DD"` in a rest day"#,
            r#"cal/hu-2026.toml:7:7: unknown key "day" in a rest day (expected: date, name)"#,
            r#"cal/hu-2026.toml:10:14: expected a Saturday, found "2026-01-09" (Friday)"#,
            r#"cal/hu-2026.toml:11:39: expected `replaces` to be a weekday (Monday to Friday), found "2026-08-09" (Sunday)"#,
            r#"cal/hu-2026.toml:13:1: unknown key "holidays" (expected: year, decree, decree_missing, rest_days, worked_saturdays)"#,
            r#"cal/hu-2026-b.toml:1:8: year 2026 is already defined in cal/hu-2026.toml"#,
            r#"cal/hu-2028.toml:1:8: expected year = 2028 (as the file name says), found 2029"#,
            r#"cal/closures.toml:3:6: expected `to` on or after `from` (2026-12-28), found "2026-12-20""#,
            r#"cal/closures.toml:10:8: closure 2026-07-05–2026-07-12 overlaps the closure 2026-07-01–2026-07-10 at cal/closures.toml:6"#,
            r#"cal/closures.toml:18:8: override for 2026-12-24 is already defined at cal/closures.toml:14"#,
            r#"cal/closures.toml:21:1: expected `closed = true` or `windows = ["HH:MM-HH:MM"]` in an [[override]], found neither"#,
            r#"cal/schedules.toml:2:1: unknown key "mondy" in schedule "staffed" (expected: monday, tuesday, wednesday, thursday, friday, saturday, sunday, worked_saturday, holiday)"#,
            r#"cal/schedules.toml:3:12: expected a window that ends after it starts, found "19:00-16:00""#,
            r#"cal/schedules.toml:3:27: expected a time window HH:MM-HH:MM, found "7-8""#,
            r#"cal/schedules.toml:3:34: expected a time window HH:MM-HH:MM, found "07:00-07:60""#,
            r#"cal/schedules.toml:4:29: window "07:30-09:00" overlaps "07:00-08:00" on wednesday"#,
            r#"cal/schedules.toml:5:12: expected a list of windows like ["07:00-08:00"], found "07:00-08:00""#,
            r#"cal/notes.toml:1:1: unknown calendar file "notes.toml" (expected hu-YYYY.toml, closures.toml or schedules.toml)"#,
            r#"cal/hu-2026.toml:10:39: warning: 2026-01-02 is not a rest day in this file; a worked Saturday usually makes up for one"#,
        ]
    );
}

#[test]
fn toml_syntax_errors_are_located() {
    let files = vec![(
        "cal/schedules.toml".to_owned(),
        "[staffed]\nmonday = [\"07:00-08:00\"\n".to_owned(),
    )];
    let diags = load_files(&files, d("2026-06-01")).expect_err("refused");
    assert_eq!(
        rendered(&diags),
        vec![
            "cal/schedules.toml:2:24: unclosed array, expected `]`",
            "cal/hu-2026.toml:1:1: warning: no decree data for 2026: moved rest days and worked \
             Saturdays are unknown, only statutory holidays apply; add hu-2026.toml",
        ]
    );
    assert_eq!(diags[0].severity, Severity::Error);
}

#[test]
fn sweep_of_december_2026() {
    let cal = shipped();
    let lines = sweep(&cal, "staffed", d("2026-12-01"), d("2026-12-31"));
    let expected = [
        "2026-12-01 kedd  nyitva 07:00–08:00, 16:00–19:00",
        "2026-12-02 szerda  nyitva 07:00–08:00, 16:00–19:00",
        "2026-12-03 csütörtök  nyitva 07:00–08:00, 16:00–19:00",
        "2026-12-04 péntek  nyitva 07:00–08:00",
        "2026-12-05 szombat  zárva",
        "2026-12-06 vasárnap  zárva",
        "2026-12-07 hétfő  nyitva 07:00–08:00",
        "2026-12-08 kedd  nyitva 07:00–08:00, 16:00–19:00",
        "2026-12-09 szerda  nyitva 07:00–08:00, 16:00–19:00",
        "2026-12-10 csütörtök  nyitva 07:00–08:00, 16:00–19:00",
        "2026-12-11 péntek  nyitva 07:00–08:00",
        "2026-12-12 szombat  nyitva 07:00–08:00, 16:00–19:00  áthelyezett munkanap (2026-12-24 csütörtök helyett)",
        "2026-12-13 vasárnap  zárva",
        "2026-12-14 hétfő  nyitva 07:00–08:00",
        "2026-12-15 kedd  nyitva 07:00–08:00, 16:00–19:00",
        "2026-12-16 szerda  nyitva 07:00–08:00, 16:00–19:00",
        "2026-12-17 csütörtök  nyitva 07:00–08:00, 16:00–19:00",
        "2026-12-18 péntek  nyitva 07:00–08:00",
        "2026-12-19 szombat  zárva",
        "2026-12-20 vasárnap  zárva",
        "2026-12-21 hétfő  nyitva 07:00–08:00",
        "2026-12-22 kedd  nyitva 07:00–08:00, 16:00–19:00",
        "2026-12-23 szerda  nyitva 07:00–08:00, 16:00–19:00",
        "2026-12-24 csütörtök  zárva  áthelyezett pihenőnap",
        "2026-12-25 péntek  zárva  Karácsony (munkaszüneti nap)",
        "2026-12-26 szombat  zárva  Karácsony másnapja (munkaszüneti nap)",
        "2026-12-27 vasárnap  zárva",
        "2026-12-28 hétfő  nyitva 07:00–08:00",
        "2026-12-29 kedd  nyitva 07:00–08:00, 16:00–19:00",
        "2026-12-30 szerda  nyitva 07:00–08:00, 16:00–19:00",
        "2026-12-31 csütörtök  nyitva 07:00–08:00, 16:00–19:00",
    ];
    assert_eq!(lines, expected);
    assert_eq!(
        sweep(&cal, "night", d("2026-12-01"), d("2026-12-01")),
        vec!["unknown schedule \"night\" (known: staffed)"]
    );
}

#[test]
fn sweep_shows_closures_and_overrides() {
    let cal = with(CLOSURES, "");
    let lines = sweep(&cal, "staffed", d("2026-12-28"), d("2026-12-30"));
    assert_eq!(
        lines,
        vec![
            "2026-12-28 hétfő  zárva  igazgatási szünet",
            "2026-12-29 kedd  zárva  igazgatási szünet",
            "2026-12-30 szerda  nyitva 09:00–10:00  egyedi nyitvatartás",
        ]
    );
}

#[test]
fn dates_may_be_bare_toml_dates() {
    let files = vec![
        (
            "hu-2026.toml".to_owned(),
            "year = 2026\nrest_days = [{ date = 2026-01-02 }]\n\
             worked_saturdays = [{ date = 2026-01-10, replaces = 2026-01-02 }]\n"
                .to_owned(),
        ),
        (
            "schedules.toml".to_owned(),
            "[staffed]\nfriday = [\"07:00-08:00\"]\n".to_owned(),
        ),
    ];
    let (cal, _) = load_files(&files, d("2026-06-01")).expect("loads");
    assert_eq!(cal.day(d("2026-01-02")).kind, DayKind::MovedRestDay);
    assert_eq!(
        cal.windows("staffed", d("2026-01-10")),
        vec![(t("07:00"), t("08:00"))]
    );
}

#[test]
fn calendar_can_be_shared_between_calls() {
    fn shared<T: Send + Sync + Clone + 'static>() {}
    shared::<Calendar>();
}

/// The admin guide's examples are real files: they load and mean what the guide says.
#[test]
fn readme_examples_load() {
    let readme =
        std::fs::read_to_string(shipped_dir().join("README.md")).expect("README.md present");
    let blocks: Vec<&str> = readme
        .split("```toml\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect();
    let pick = |needle: &str| {
        blocks
            .iter()
            .find(|b| b.contains(needle))
            .map(|b| (*b).to_owned())
            .expect("example present")
    };
    let files = vec![
        ("hu-2026.toml".to_owned(), pick("year = 2026")),
        ("hu-2027.toml".to_owned(), pick("year = 2027")),
        ("closures.toml".to_owned(), pick("[[closure]]")),
        ("schedules.toml".to_owned(), pick("[staffed]")),
    ];
    let (cal, warnings) = load_files(&files, d("2026-06-01")).expect("examples load");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(cal.day(d("2026-07-01")).kind, DayKind::Override);
    assert_eq!(cal.day(d("2026-12-28")).kind, DayKind::Closure);
    assert_eq!(
        cal.windows("staffed", d("2026-12-29")),
        vec![(t("09:00"), t("12:00"))]
    );
    assert_eq!(
        cal.windows("staffed", d("2026-01-10")),
        vec![(t("07:00"), t("08:00"))]
    );
}

/// The commented examples in the shipped closures.toml work when uncommented.
#[test]
fn shipped_closures_examples_load_when_uncommented() {
    let text = std::fs::read_to_string(shipped_dir().join("closures.toml")).expect("present");
    let uncommented: String = text
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest) if rest.starts_with("[[") || rest.contains(" = ") => rest,
            _ => l,
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let cal = with(&uncommented, "");
    assert_eq!(cal.day(d("2026-12-28")).kind, DayKind::Closure);
    assert_eq!(cal.day(d("2026-07-01")).kind, DayKind::Override);
    assert_eq!(
        cal.windows("staffed", d("2026-12-29")),
        vec![(t("09:00"), t("12:00"))]
    );
}
