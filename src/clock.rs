//! Time.
//!
//! Cores never read a clock: every `handle_*` takes `now: Instant` from its driver, which is
//! the only code that calls `Instant::now()` (see `tests/architecture.rs`). Civil time in
//! Europe/Budapest (for office hours and holidays) will be read here too, and handed to the
//! dial plan the same way.

#[cfg(test)]
use std::time::Instant;

/// The origin of virtual time in unit tests. `Instant` has no constructor other than
/// `now()`; tests take one instant here and move forward from it by adding durations, so no
/// test depends on how fast the machine runs.
#[cfg(test)]
pub(crate) fn test_epoch() -> Instant {
    Instant::now()
}
