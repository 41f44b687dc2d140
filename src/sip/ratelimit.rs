//! Per-source rate limiting of incoming SIP, so one flooding or scanning source cannot
//! starve other callers.
//!
//! Each source (IP address and port: one softphone, one trunk connection, one scanner
//! socket) has a token bucket: `rate` messages per second on average, bursts up to `burst`.
//! A message over the limit is dropped without an answer (an answer would only help a
//! scanner and cost us a send). A source that keeps going over the limit — `strikes`
//! dropped messages within one refill of its bucket — is blocked for `block`, doubling on
//! each repeat, and logged once per block. Everything is computed from the `now` passed
//! in; the table forgets quiet sources, so it cannot grow without bound.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Limits; see the module doc.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub rate: f64,
    pub burst: f64,
    pub strikes: u32,
    pub block: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            rate: 50.0,
            burst: 100.0,
            strikes: 200,
            block: Duration::from_secs(60),
        }
    }
}

/// What to do with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Over the limit: drop it.
    Drop,
    /// Over the limit often enough: the source is now blocked until the given instant
    /// (reported once, for the log).
    Blocked {
        until: Instant,
    },
}

#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    last: Instant,
    dropped: u32,
    blocked_until: Option<Instant>,
    blocks: u32,
}

/// The limiter.
#[derive(Debug)]
pub struct RateLimiter {
    limits: Limits,
    sources: HashMap<SocketAddr, Bucket>,
    last_sweep: Option<Instant>,
    dropped_total: u64,
    blocks_total: u64,
}

/// Sources idle this long are forgotten (unless blocked).
const IDLE: Duration = Duration::from_secs(300);

impl RateLimiter {
    pub fn new(limits: Limits) -> Self {
        RateLimiter {
            limits,
            sources: HashMap::new(),
            last_sweep: None,
            dropped_total: 0,
            blocks_total: 0,
        }
    }

    /// One message from `src` at `now`.
    pub fn check(&mut self, now: Instant, src: SocketAddr) -> Verdict {
        self.sweep(now);
        let limits = self.limits;
        let b = self.sources.entry(src).or_insert(Bucket {
            tokens: limits.burst,
            last: now,
            dropped: 0,
            blocked_until: None,
            blocks: 0,
        });
        if let Some(until) = b.blocked_until {
            if now < until {
                self.dropped_total += 1;
                return Verdict::Drop;
            }
            b.blocked_until = None;
            b.tokens = limits.burst;
            b.dropped = 0;
        }
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.last = now;
        b.tokens = (b.tokens + elapsed * limits.rate).min(limits.burst);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            // A source that behaves again is forgiven bit by bit.
            b.dropped = b.dropped.saturating_sub(1);
            return Verdict::Allow;
        }
        self.dropped_total += 1;
        b.dropped += 1;
        if b.dropped >= limits.strikes {
            let factor = 1u32 << b.blocks.min(6);
            let until = now + limits.block * factor;
            b.blocked_until = Some(until);
            b.blocks += 1;
            self.blocks_total += 1;
            return Verdict::Blocked { until };
        }
        Verdict::Drop
    }

    /// Messages dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped_total
    }

    /// Sources blocked so far.
    pub fn blocks(&self) -> u64 {
        self.blocks_total
    }

    fn sweep(&mut self, now: Instant) {
        if self
            .last_sweep
            .is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(10))
        {
            return;
        }
        self.last_sweep = Some(now);
        self.sources.retain(|_, b| {
            b.blocked_until.is_some_and(|u| u > now) || now.saturating_duration_since(b.last) < IDLE
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("literal")
    }

    #[test]
    fn burst_passes_then_the_average_rate_is_enforced() {
        let t0 = crate::clock::test_epoch();
        let mut rl = RateLimiter::new(Limits {
            rate: 10.0,
            burst: 5.0,
            strikes: 1000,
            block: Duration::from_secs(60),
        });
        let src = addr("192.0.2.1:5060");
        let allowed = (0..8)
            .filter(|_| rl.check(t0, src) == Verdict::Allow)
            .count();
        assert_eq!(allowed, 5, "the burst");
        assert_eq!(
            rl.check(t0 + Duration::from_millis(100), src),
            Verdict::Allow,
            "one token per 100 ms"
        );
        assert_eq!(
            rl.check(t0 + Duration::from_millis(100), src),
            Verdict::Drop
        );
        assert_eq!(rl.dropped(), 4);
    }

    #[test]
    fn a_flooding_source_does_not_affect_another() {
        let t0 = crate::clock::test_epoch();
        let mut rl = RateLimiter::new(Limits::default());
        let flood = addr("127.0.0.1:40000");
        let caller = addr("127.0.0.1:5062");
        let mut t = t0;
        for i in 0..20_000u32 {
            let _ = rl.check(t, flood);
            if i % 1000 == 0 {
                assert_eq!(rl.check(t, caller), Verdict::Allow);
            }
            t += Duration::from_micros(50);
        }
    }

    #[test]
    fn repeat_offender_is_blocked_for_a_doubling_time() {
        let t0 = crate::clock::test_epoch();
        let limits = Limits {
            rate: 1.0,
            burst: 1.0,
            strikes: 3,
            block: Duration::from_secs(60),
        };
        let mut rl = RateLimiter::new(limits);
        let src = addr("198.51.100.7:5060");
        assert_eq!(rl.check(t0, src), Verdict::Allow);
        assert_eq!(rl.check(t0, src), Verdict::Drop);
        assert_eq!(rl.check(t0, src), Verdict::Drop);
        assert_eq!(
            rl.check(t0, src),
            Verdict::Blocked {
                until: t0 + Duration::from_secs(60)
            }
        );
        assert_eq!(
            rl.check(t0 + Duration::from_secs(59), src),
            Verdict::Drop,
            "blocked even when it slows down"
        );
        let t1 = t0 + Duration::from_secs(60);
        assert_eq!(rl.check(t1, src), Verdict::Allow, "the block ends");
        rl.check(t1, src);
        rl.check(t1, src);
        assert_eq!(
            rl.check(t1, src),
            Verdict::Blocked {
                until: t1 + Duration::from_secs(120)
            },
            "twice as long"
        );
        assert_eq!(rl.blocks(), 2);
    }

    #[test]
    fn quiet_sources_are_forgotten() {
        let t0 = crate::clock::test_epoch();
        let mut rl = RateLimiter::new(Limits::default());
        for p in 0..1000u16 {
            rl.check(t0, SocketAddr::from(([10, 0, 0, 1], 1000 + p)));
        }
        rl.check(t0 + Duration::from_secs(400), addr("10.0.0.2:5060"));
        assert_eq!(rl.sources.len(), 1);
    }
}
