//! Per-number SMS limits: no number gets more than `per_hour` SMS in any rolling hour or
//! `per_day` in any rolling day, so the line cannot be used to flood someone.
//!
//! A pure decision over the send times the outbox already holds (every SMS ever enqueued
//! to the number is a row with its creation time), so the limit survives restarts without
//! state of its own. Times are Unix milliseconds passed in; this module reads no clock.

/// The configured limits; 0 means "no limit" for that window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsLimits {
    pub per_hour: u32,
    pub per_day: u32,
}

/// Which window is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitExceeded {
    Hour { limit: u32 },
    Day { limit: u32 },
}

impl std::fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Hour { limit } => write!(
                f,
                "this number already got {limit} SMS in the last hour (notify.sms_per_hour)"
            ),
            Self::Day { limit } => write!(
                f,
                "this number already got {limit} SMS in the last 24 hours (notify.sms_per_day)"
            ),
        }
    }
}

impl std::error::Error for LimitExceeded {}

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

impl SmsLimits {
    /// How far back [`SmsLimits::check`] needs send times.
    pub fn window_ms(&self) -> i64 {
        if self.per_day > 0 { DAY_MS } else { HOUR_MS }
    }

    /// May one more SMS go to a number that was sent SMS at `sent_ms` (any order, older
    /// times are ignored)?
    pub fn check(&self, sent_ms: &[i64], now_ms: i64) -> Result<(), LimitExceeded> {
        let within = |span: i64| {
            sent_ms
                .iter()
                .filter(|&&t| t > now_ms - span && t <= now_ms)
                .count()
        };
        if self.per_hour > 0 && within(HOUR_MS) >= self.per_hour as usize {
            return Err(LimitExceeded::Hour {
                limit: self.per_hour,
            });
        }
        if self.per_day > 0 && within(DAY_MS) >= self.per_day as usize {
            return Err(LimitExceeded::Day {
                limit: self.per_day,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_800_000_000_000;
    const MIN: i64 = 60_000;

    #[test]
    fn three_per_hour_then_refused_until_the_oldest_leaves_the_window() {
        let l = SmsLimits {
            per_hour: 3,
            per_day: 10,
        };
        let sent = [T, T + 10 * MIN, T + 20 * MIN];
        assert_eq!(l.check(&sent[..2], T + 30 * MIN), Ok(()));
        assert_eq!(
            l.check(&sent, T + 30 * MIN),
            Err(LimitExceeded::Hour { limit: 3 })
        );
        // Exactly one hour after the first the window no longer holds it.
        assert_eq!(l.check(&sent, T + 60 * MIN), Ok(()));
    }

    #[test]
    fn ten_per_day_counts_a_rolling_24_hours() {
        let l = SmsLimits {
            per_hour: 3,
            per_day: 10,
        };
        let sent: Vec<i64> = (0..10).map(|i| T + i * 2 * 60 * MIN).collect();
        let after_last = T + 19 * 60 * MIN;
        assert_eq!(
            l.check(&sent, after_last),
            Err(LimitExceeded::Day { limit: 10 })
        );
        assert_eq!(l.check(&sent, T + 24 * 60 * MIN), Ok(()));
        assert_eq!(l.window_ms(), DAY_MS);
    }

    #[test]
    fn zero_means_no_limit() {
        let l = SmsLimits {
            per_hour: 0,
            per_day: 0,
        };
        assert_eq!(l.check(&[T; 100], T), Ok(()));
        assert_eq!(l.window_ms(), HOUR_MS);
    }
}
