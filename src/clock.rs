//! Time, in one place.
//!
//! Cores never read a clock: every `handle_*` takes `now: Instant` from its driver (see
//! `tests/architecture.rs`, which allows clocks only in the I/O layer and here). Civil time
//! in Europe/Budapest (office hours, holidays, DST nights) is read by the driver through
//! [`civil_now`] and handed to the dial plan the same way. The wall clock as Unix time,
//! for stored records and signed links, is [`unix_ms`] / [`unix_seconds`].

use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use jiff::tz::TimeZone;

#[cfg(test)]
use std::time::Instant;

static BUDAPEST: LazyLock<TimeZone> = LazyLock::new(|| {
    jiff::tz::TimeZoneDatabase::bundled()
        .get("Europe/Budapest")
        // The bundled database always has the zone; the POSIX rule (EU summer time since
        // 1996) is the same answer for every date the line will ever see.
        .or_else(|_| TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3"))
        .expect("the POSIX rule for Central European Time is well-formed")
});

/// Europe/Budapest, from the time-zone database compiled into the binary.
pub fn tz() -> TimeZone {
    BUDAPEST.clone()
}

/// Now in Europe/Budapest.
pub fn civil_now() -> jiff::ZonedDateTime {
    jiff::Timestamp::now().to_zoned_datetime(tz())
}

/// Milliseconds since the Unix epoch (0 if the system clock is before it).
pub fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Seconds since the Unix epoch (0 if the system clock is before it).
pub fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The origin of virtual time in unit tests. `Instant` has no constructor other than
/// `now()`; tests take one instant here and move forward from it by adding durations, so no
/// test depends on how fast the machine runs.
#[cfg(test)]
pub(crate) fn test_epoch() -> Instant {
    Instant::now()
}
