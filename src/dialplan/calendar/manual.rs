//! The admins' words for a manual override, as the CLI and the admin API take them.

use super::{ManualMode, tz};

/// The forms of a time [`parse_until`] accepts, for messages.
pub const TIME_FORMATS: &str = "\"YYYY-MM-DD HH:MM\" in Budapest time (e.g. \"2026-12-24 18:00\") or RFC 3339 (e.g. \"2026-12-24T17:00:00Z\")";

/// A time in Budapest as admins write it (`2026-12-24 18:00`), or RFC 3339.
pub fn parse_until(s: &str) -> Result<jiff::Timestamp, String> {
    let s = s.trim();
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Ok(ts);
    }
    let civil = jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M", s)
        .map_err(|_| format!("expected a time as {TIME_FORMATS}, found \"{s}\""))?;
    civil
        .to_zoned_datetime(tz())
        .map(|z| z.timestamp())
        .map_err(|e| format!("{s}: {e}"))
}

/// An override's end that is not after `now`: such an override would end before it began
/// and change nothing, while the admin believes the line is closed (or open).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InThePast {
    /// The end asked for, `YYYY-MM-DD HH:MM` in Budapest.
    pub until: String,
    /// The time it was checked at, the same way.
    pub now: String,
}

impl std::fmt::Display for InThePast {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is in the past: it is now {} in Europe/Budapest; expected a later time",
            self.until, self.now
        )
    }
}

impl std::error::Error for InThePast {}

/// Refuses an `until` that is not after `now` (both instants; shown in Budapest time).
pub fn until_after(until: jiff::Timestamp, now: jiff::Timestamp) -> Result<(), InThePast> {
    if until > now {
        return Ok(());
    }
    let show = |t: jiff::Timestamp| {
        t.to_zoned_datetime(tz())
            .strftime("%Y-%m-%d %H:%M")
            .to_string()
    };
    Err(InThePast {
        until: show(until),
        now: show(now),
    })
}

/// Parses the CLI/API words `open`, `closed`, `auto`.
pub fn parse_mode(s: &str) -> Result<Option<ManualMode>, String> {
    match s {
        "open" => Ok(Some(ManualMode::Open)),
        "closed" => Ok(Some(ManualMode::Closed)),
        "auto" => Ok(None),
        other => Err(format!("expected open, closed or auto, found \"{other}\"")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_end_not_after_now_is_refused_and_both_are_shown_in_budapest_time() {
        let now: jiff::Timestamp = "2026-12-24T15:00:00Z".parse().expect("valid");
        let past = parse_until("2026-12-24 15:30").expect("valid");
        let e = until_after(past, now).expect_err("in the past");
        assert_eq!(
            e.to_string(),
            "2026-12-24 15:30 is in the past: it is now 2026-12-24 16:00 in Europe/Budapest; expected a later time"
        );
        assert!(until_after(now, now).is_err(), "now itself is not later");
        let later = parse_until("2026-12-24 18:00").expect("valid");
        assert_eq!(until_after(later, now), Ok(()));
    }

    #[test]
    fn a_time_in_another_shape_names_the_accepted_forms() {
        let e = parse_until("holnap").expect_err("not a time");
        assert!(e.contains("\"YYYY-MM-DD HH:MM\" in Budapest time"), "{e}");
        assert!(e.ends_with("found \"holnap\""), "{e}");
    }
}
