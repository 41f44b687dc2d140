//! The Hungarian calendar and the line's opening schedules, as a pure value.
//!
//! A [`Calendar`] answers "is the line staffed at this instant, and if not, when next?" from
//! data admins edit in `dialplans/calendar/` (the admin's guide is the `README.md` there):
//!
//! ```text
//! hu-2026.toml      the year's ministry decree: moved rest days, worked Saturdays
//! closures.toml     administrative closures (igazgatási szünet) and one-off overrides
//! schedules.toml    named weekly schedules ("staffed"), written against day types
//! ```
//!
//! Statutory holidays (Munka törvénykönyve §102(1)) are computed, Easter included, so a year
//! without a decree file still knows them; [`Calendar::warnings`] says when the decree data
//! for the current year (or, from 1 September, the next) is missing.
//!
//! # What kind of day is it
//!
//! Each date gets exactly one [`DayKind`]; the first rule that applies wins:
//!
//! ```text
//! manual override (ManualOverride, from the admin API; whole instants, not days)
//!   > file override        [[override]] in closures.toml: closed, or its own windows
//!   > closure              [[closure]] from..=to: closed
//!   > statutory holiday    closed, unless the schedule has `holiday` windows
//!   > moved rest day       decree: closed, unless the schedule has `holiday` windows
//!   > worked Saturday      decree: `worked_saturday` windows, else those of the weekday
//!                          it replaces (2026-01-10 works Friday 2026-01-02's hours)
//!   > weekly schedule      monday ..= sunday
//! ```
//!
//! # Time
//!
//! Everything is evaluated in Europe/Budapest ([`tz`]), whatever zone the caller's [`Zoned`]
//! is in. The zone comes from the time-zone database compiled into the binary, so a host
//! without `/usr/share/zoneinfo` answers the same as one with it. Nothing here reads a clock:
//! the instant is always an argument.
//!
//! A window `HH:MM-HH:MM` on a date is one stretch of real time: it opens at the first
//! instant the wall clock shows the start time on that date and closes at the first instant
//! it shows the end time. The end is exclusive (19:00 is closed for 16:00–19:00), and an end
//! of `24:00` means the next midnight. On the two DST nights this reads as people who work
//! by the wall clock expect:
//!
//! ```text
//! last Sunday of March, 02:00 -> 03:00 (02:xx never happens)
//!   02:30-03:30  open 03:00-03:30 local (30 real minutes: opens when the clock jumps)
//!   01:00-02:30  open 01:00-02:00 local, then the clock jumps past the end
//!   02:00-03:00  never open (empty)
//! last Sunday of October, 03:00 -> 02:00 (02:xx happens twice, CEST then CET)
//!   02:30-03:30  open from the first 02:30 (CEST) to 03:30 CET: two real hours,
//!                including 02:00-02:30 CET, because the window had already begun
//!   02:15-02:45  open 02:15-02:45 CEST only; the repeated half hour stays closed
//! ```

mod holidays;
mod load;
pub mod manual;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

pub use holidays::{easter_sunday, statutory, weekday_name};
/// jiff 1.x calls it `ZonedDateTime`; the calendar API keeps the short name.
pub use jiff::ZonedDateTime as Zoned;
pub use jiff::civil::{Date, Time};

use jiff::Timestamp;
use jiff::civil::Weekday;
use jiff::tz::{AmbiguousOffset, TimeZone};

use super::Diagnostic;

/// How far [`Calendar::next_opening`] looks ahead.
pub const LOOKAHEAD_DAYS: usize = 60;

pub use crate::clock::tz;

/// What kind of day a date is, after precedence (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayKind {
    /// Monday to Friday, nothing special.
    Workday,
    /// A Saturday the decree makes a workday, in exchange for the weekday `replaces`.
    WorkedSaturday { replaces: Date },
    /// Saturday or Sunday.
    Weekend,
    /// A statutory holiday (munkaszüneti nap).
    Holiday,
    /// A weekday the decree makes a rest day (áthelyezett pihenőnap).
    MovedRestDay,
    /// Inside an administrative closure (igazgatási szünet).
    Closure,
    /// A one-off override from `closures.toml`.
    Override,
}

/// One date and what kind of day it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    pub date: Date,
    pub kind: DayKind,
    /// Hungarian name: "Karácsony", "Nagypéntek", "áthelyezett pihenőnap",
    /// "áthelyezett munkanap", "igazgatási szünet" or the file's reason text.
    pub name: Option<String>,
}

/// The direction of a manual override.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManualMode {
    Open,
    Closed,
}

/// An override set by hand (admin API), stronger than every file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManualOverride {
    pub mode: ManualMode,
    /// Until this instant (exclusive); `None` until it is lifted.
    pub until: Option<Timestamp>,
    pub reason: Option<String>,
}

/// The answer to "is the line open now, and why".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineState {
    pub open: bool,
    /// The Budapest date of the instant asked about.
    pub day: Day,
    /// Human explanation in Hungarian, e.g. "kedd, 16:00–19:00 ablak",
    /// "Karácsony (munkaszüneti nap)", "kézi zárás 2026-12-24 18:00-ig".
    pub why: String,
    /// The window the instant is in, when open by schedule. An end of 24:00 is given as
    /// [`Time::MAX`].
    pub window: Option<(Time, Time)>,
}

/// Relation of an opening to now, for saying it: "ma", "holnap", "hétfőn", or a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Today,
    Tomorrow,
    /// Within the next 2..=6 days: the weekday is unambiguous.
    Weekday(Weekday),
    Date(Date),
}

/// Where `opening` falls relative to `now`, by Budapest calendar dates.
pub fn when(now: &Zoned, opening: &Zoned) -> When {
    let tz = tz();
    let today = now.timestamp().to_zoned_datetime(tz.clone()).date();
    let day = opening.timestamp().to_zoned_datetime(tz).date();
    let days = today.until(day).map_or(i32::MAX, |s| s.get_days());
    match days {
        0 => When::Today,
        1 => When::Tomorrow,
        2..=6 => When::Weekday(day.weekday()),
        _ => When::Date(day),
    }
}

/// A window of one day in minutes since midnight; `end` may be 1440 (24:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Window {
    start: u16,
    end: u16,
}

impl Window {
    fn time(minute: u16) -> Time {
        if minute >= 24 * 60 {
            return Time::MAX;
        }
        let h = i8::try_from(minute / 60).expect("hour below 24");
        let m = i8::try_from(minute % 60).expect("minute below 60");
        Time::new(h, m, 0, 0).expect("hour < 24 and minute < 60 is a valid time")
    }

    fn times(self) -> (Time, Time) {
        (Self::time(self.start), Self::time(self.end))
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}:{:02}–{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }
}

/// One year's decree data.
#[derive(Debug, Clone)]
struct DecreeYear {
    rest_days: BTreeMap<Date, String>,
    /// Worked Saturday -> the weekday it replaces.
    worked_saturdays: BTreeMap<Date, Date>,
}

#[derive(Debug, Clone)]
struct Closure {
    from: Date,
    to: Date,
    reason: Option<String>,
}

#[derive(Debug, Clone)]
struct Override {
    /// `None`: closed all day.
    windows: Option<Vec<Window>>,
    reason: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct Schedule {
    /// Monday first.
    weekly: [Vec<Window>; 7],
    worked_saturday: Option<Vec<Window>>,
    holiday: Vec<Window>,
}

/// The validated calendar: decree years, closures, overrides and schedules. Immutable; a
/// reload builds a new one and swaps the `Arc`.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    years: BTreeMap<i16, DecreeYear>,
    /// Sorted by `from`, never overlapping.
    closures: Vec<Closure>,
    overrides: BTreeMap<Date, Override>,
    schedules: BTreeMap<String, Schedule>,
}

/// Reads every `*.toml` file of `dir` (decree years, `closures.toml`, `schedules.toml`).
///
/// On success returns the calendar and its warnings; on failure every diagnostic.
pub fn load_dir(dir: &Path, today: Date) -> Result<(Calendar, Vec<Diagnostic>), Vec<Diagnostic>> {
    load::load_dir(dir, today)
}

/// As [`load_dir`], from `(name shown in messages, text)` pairs already in memory. Files are
/// recognised by their last path component: `hu-YYYY.toml`, `closures.toml`,
/// `schedules.toml`.
pub fn load_files(
    files: &[(String, String)],
    today: Date,
) -> Result<(Calendar, Vec<Diagnostic>), Vec<Diagnostic>> {
    load::load_files(files, today)
}

const DEFAULT_CLOSURE: &str = "igazgatási szünet";
const DEFAULT_REST_DAY: &str = "áthelyezett pihenőnap";
const WORKED_SATURDAY: &str = "áthelyezett munkanap";

impl Calendar {
    /// The names of the schedules, sorted.
    pub fn schedule_names(&self) -> Vec<&str> {
        self.schedules.keys().map(String::as_str).collect()
    }

    /// What kind of day `date` is, after precedence (manual overrides aside).
    pub fn day(&self, date: Date) -> Day {
        let day = |kind, name: Option<&str>| Day {
            date,
            kind,
            name: name.map(str::to_owned),
        };
        if let Some(o) = self.overrides.get(&date) {
            return day(DayKind::Override, o.reason.as_deref());
        }
        if let Some(c) = self.closure(date) {
            return day(
                DayKind::Closure,
                Some(c.reason.as_deref().unwrap_or(DEFAULT_CLOSURE)),
            );
        }
        if let Some(name) = holidays::holiday_name(date) {
            return day(DayKind::Holiday, Some(name));
        }
        if let Some(year) = self.years.get(&date.year()) {
            if let Some(name) = year.rest_days.get(&date) {
                return day(DayKind::MovedRestDay, Some(name));
            }
            if let Some(&replaces) = year.worked_saturdays.get(&date) {
                return day(DayKind::WorkedSaturday { replaces }, Some(WORKED_SATURDAY));
            }
        }
        if holidays::is_weekend(date) {
            day(DayKind::Weekend, None)
        } else {
            day(DayKind::Workday, None)
        }
    }

    /// The effective windows of `date` for `schedule`, after precedence, sorted. Empty for
    /// an unknown schedule. An end of 24:00 is given as [`Time::MAX`].
    pub fn windows(&self, schedule: &str, date: Date) -> Vec<(Time, Time)> {
        let Some(sched) = self.schedules.get(schedule) else {
            return Vec::new();
        };
        self.day_windows(sched, &self.day(date))
            .iter()
            .map(|w| w.times())
            .collect()
    }

    /// Whether the line runs by `schedule` at `at`; `None` for an unknown schedule.
    pub fn state(
        &self,
        schedule: &str,
        at: &Zoned,
        manual: Option<&ManualOverride>,
    ) -> Option<LineState> {
        let sched = self.schedules.get(schedule)?;
        let tz = tz();
        let ts = at.timestamp();
        let date = ts.to_zoned_datetime(tz.clone()).date();
        let day = self.day(date);
        if let Some(m) = manual.filter(|m| m.until.is_none_or(|u| ts < u)) {
            return Some(LineState {
                open: m.mode == ManualMode::Open,
                day,
                why: manual_why(m),
                window: None,
            });
        }
        let windows = self.day_windows(sched, &day);
        let label = label(&day);
        for w in windows {
            if let Some((s, e)) = span(&tz, date, *w)
                && s <= ts
                && ts < e
            {
                return Some(LineState {
                    open: true,
                    why: format!("{label}, {w} ablak"),
                    day,
                    window: Some(w.times()),
                });
            }
        }
        let why = closed_why(&day, &label, windows.is_empty());
        Some(LineState {
            open: false,
            day,
            why,
            window: None,
        })
    }

    /// When the line next opens by `schedule`: `at` itself if it is open at `at`, else the
    /// first opening strictly after `at`, looking [`LOOKAHEAD_DAYS`] days ahead. `None` for
    /// an unknown schedule, a manual closure without end, or nothing open in the look-ahead.
    /// A manual closure with an end makes the search start at that end.
    pub fn next_opening(
        &self,
        schedule: &str,
        at: &Zoned,
        manual: Option<&ManualOverride>,
    ) -> Option<Zoned> {
        let sched = self.schedules.get(schedule)?;
        let tz = tz();
        let ts = at.timestamp();
        let mut from = ts;
        if let Some(m) = manual.filter(|m| m.until.is_none_or(|u| ts < u)) {
            match (m.mode, m.until) {
                (ManualMode::Open, _) => return Some(ts.to_zoned_datetime(tz)),
                (ManualMode::Closed, None) => return None,
                (ManualMode::Closed, Some(until)) => from = until,
            }
        }
        let mut date = from.to_zoned_datetime(tz.clone()).date();
        for _ in 0..=LOOKAHEAD_DAYS {
            let day = self.day(date);
            for w in self.day_windows(sched, &day) {
                if let Some((s, e)) = span(&tz, date, *w)
                    && s < e
                    && e > from
                {
                    return Some(s.max(from).to_zoned_datetime(tz));
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    /// Problems with the data for `today`: no file for the current year, or for the next
    /// year from 1 September (the decree is usually out by then). A file that says
    /// `decree_missing = true` is not repeated here: loading it already warned, with the
    /// file, line and column.
    pub fn warnings(&self, today: Date) -> Vec<String> {
        self.years_to_check(today)
            .into_iter()
            .filter(|year| !self.years.contains_key(year))
            .map(|year| {
                format!(
                    "no decree data for {year} (hu-{year}.toml): moved rest days and worked \
                     Saturdays are unknown, only statutory holidays apply"
                )
            })
            .collect()
    }

    fn years_to_check(&self, today: Date) -> Vec<i16> {
        let mut years = vec![today.year()];
        if today.month() >= 9 && today.year() < i16::MAX {
            years.push(today.year() + 1);
        }
        years
    }

    fn closure(&self, date: Date) -> Option<&Closure> {
        // Closures are sorted and disjoint: the candidate is the last one starting on or
        // before `date`.
        let i = self.closures.partition_point(|c| c.from <= date);
        self.closures
            .get(i.checked_sub(1)?)
            .filter(|c| date <= c.to)
    }

    fn day_windows<'a>(&'a self, sched: &'a Schedule, day: &Day) -> &'a [Window] {
        match day.kind {
            DayKind::Override => self
                .overrides
                .get(&day.date)
                .and_then(|o| o.windows.as_deref())
                .unwrap_or(&[]),
            DayKind::Closure => &[],
            DayKind::Holiday | DayKind::MovedRestDay => &sched.holiday,
            DayKind::WorkedSaturday { replaces } => sched
                .worked_saturday
                .as_deref()
                .unwrap_or(&sched.weekly[holidays::weekday_index(replaces.weekday())]),
            DayKind::Workday | DayKind::Weekend => {
                &sched.weekly[holidays::weekday_index(day.date.weekday())]
            }
        }
    }
}

/// The first instant at which the Budapest wall clock shows `minute` on `date`: inside the
/// spring gap that is the moment of the jump, inside the autumn fold the first (summer
/// time) pass.
fn first_instant(tz: &TimeZone, date: Date, minute: u16) -> Option<Timestamp> {
    let (date, minute) = if minute >= 24 * 60 {
        (date.tomorrow().ok()?, minute - 24 * 60)
    } else {
        (date, minute)
    };
    let dt = date.to_datetime(Window::time(minute));
    match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).ok(),
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(dt).ok(),
        AmbiguousOffset::Gap { before, .. } => {
            // Read with the offset before the jump, the wall time lies just after the
            // transition; the transition itself is the first instant past the gap.
            let after_jump = before.to_timestamp(dt).ok()?;
            tz.preceding(after_jump)
                .next()
                .map(|t| t.timestamp())
                .or(Some(after_jump))
        }
    }
}

/// A window of `date` as real instants `[open, close)`.
fn span(tz: &TimeZone, date: Date, w: Window) -> Option<(Timestamp, Timestamp)> {
    Some((
        first_instant(tz, date, w.start)?,
        first_instant(tz, date, w.end)?,
    ))
}

/// What a day is called in explanations.
fn label(day: &Day) -> String {
    let name = day.name.as_deref();
    match day.kind {
        DayKind::Workday | DayKind::Weekend => weekday_name(day.date.weekday()).to_owned(),
        DayKind::WorkedSaturday { replaces } => format!(
            "{WORKED_SATURDAY} ({replaces} {} helyett)",
            weekday_name(replaces.weekday())
        ),
        DayKind::Holiday => format!("{} (munkaszüneti nap)", name.unwrap_or("ünnep")),
        DayKind::MovedRestDay => match name {
            None | Some(DEFAULT_REST_DAY) => DEFAULT_REST_DAY.to_owned(),
            Some(n) => format!("{n} ({DEFAULT_REST_DAY})"),
        },
        DayKind::Closure => match name {
            None | Some(DEFAULT_CLOSURE) => DEFAULT_CLOSURE.to_owned(),
            Some(n) => format!("{DEFAULT_CLOSURE}: {n}"),
        },
        DayKind::Override => match name {
            None => "egyedi nyitvatartás".to_owned(),
            Some(n) => format!("egyedi nyitvatartás: {n}"),
        },
    }
}

fn closed_why(day: &Day, label: &str, no_windows: bool) -> String {
    match day.kind {
        DayKind::Override if no_windows => match day.name.as_deref() {
            None => "egyedi zárás".to_owned(),
            Some(n) => format!("egyedi zárás: {n}"),
        },
        DayKind::Workday | DayKind::Weekend | DayKind::WorkedSaturday { .. } if no_windows => {
            format!("{label}, zárva")
        }
        _ if no_windows => label.to_owned(),
        _ => format!("{label}, ablakon kívül"),
    }
}

fn manual_why(m: &ManualOverride) -> String {
    let mut why = match m.mode {
        ManualMode::Open => "kézi nyitás".to_owned(),
        ManualMode::Closed => "kézi zárás".to_owned(),
    };
    if let Some(until) = m.until {
        let local = until.to_zoned_datetime(tz());
        why.push_str(&format!(" {}-ig", local.strftime("%Y-%m-%d %H:%M")));
    }
    if let Some(reason) = &m.reason {
        why.push_str(&format!(": {reason}"));
    }
    why
}

/// One line per day from `from` to `to` inclusive, for `ugyelet simulate --sweep`:
///
/// ```text
/// 2026-12-22 kedd  nyitva 07:00–08:00, 16:00–19:00
/// 2026-12-24 csütörtök  zárva  áthelyezett pihenőnap
/// ```
pub fn sweep(cal: &Calendar, schedule: &str, from: Date, to: Date) -> Vec<String> {
    let Some(sched) = cal.schedules.get(schedule) else {
        return vec![format!(
            "unknown schedule \"{schedule}\" (known: {})",
            cal.schedule_names().join(", ")
        )];
    };
    let mut out = Vec::new();
    let mut date = from;
    while date <= to {
        let day = cal.day(date);
        let windows = cal.day_windows(sched, &day);
        let mut line = format!("{date} {}  ", weekday_name(date.weekday()));
        if windows.is_empty() {
            line.push_str("zárva");
        } else {
            line.push_str("nyitva ");
            let list: Vec<String> = windows.iter().map(Window::to_string).collect();
            line.push_str(&list.join(", "));
        }
        if !matches!(day.kind, DayKind::Workday | DayKind::Weekend) {
            line.push_str("  ");
            line.push_str(&label(&day));
        }
        out.push(line);
        match date.tomorrow() {
            Ok(next) => date = next,
            Err(_) => break,
        }
    }
    out
}

#[cfg(test)]
mod tests;
