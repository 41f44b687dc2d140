//! Requests per client address on the public listener: a token bucket per address.
//!
//! Residents open a link a few times; a delivery-report webhook comes a few times per
//! message. A client over its bucket gets 429 with `Retry-After` (RFC 6585 §4): the time
//! until one request's worth of tokens has refilled. Pure: the caller passes the time and
//! keeps the value behind a lock.
//!
//! The table holds at most [`MAX_ADDRS`] addresses; when full, the ones whose buckets have
//! refilled (they would start afresh anyway) are forgotten first, and if none has, the
//! newcomer is let through unmetered rather than letting a scan of many addresses grow
//! memory without bound: the daemon's other limits (header timeout, body size) still hold.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Addresses kept at most.
pub const MAX_ADDRS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
    /// Whether the last request from here was refused (only the first refusal of a run is
    /// logged).
    refusing: bool,
}

/// A refusal: how long until the next request would be let through, and whether this is
/// the first refusal since the address was last let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: Duration,
    pub first: bool,
}

/// The limiter.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: HashMap<IpAddr, Bucket>,
}

impl RateLimiter {
    /// `rate` requests per second on average, bursts of `burst` (both at least 1; config
    /// validation sees to it, and smaller values are raised to it here).
    pub fn new(rate: f64, burst: f64) -> Self {
        RateLimiter {
            rate: rate.max(0.001),
            burst: burst.max(1.0),
            buckets: HashMap::new(),
        }
    }

    /// Whether a request from `addr` at `now` may be served.
    pub fn check(&mut self, addr: IpAddr, now: Instant) -> Result<(), Limited> {
        if !self.buckets.contains_key(&addr) && self.buckets.len() >= MAX_ADDRS {
            self.forget_full(now);
            if self.buckets.len() >= MAX_ADDRS {
                return Ok(());
            }
        }
        let (rate, burst) = (self.rate, self.burst);
        let b = self.buckets.entry(addr).or_insert(Bucket {
            tokens: burst,
            at: now,
            refusing: false,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            b.refusing = false;
            return Ok(());
        }
        let first = !b.refusing;
        b.refusing = true;
        let wait = (1.0 - b.tokens) / rate;
        // Retry-After is whole seconds: round up so a client that obeys it is let in.
        let retry_after = Duration::from_secs(wait.ceil().max(1.0) as u64);
        Err(Limited { retry_after, first })
    }

    fn forget_full(&mut self, now: Instant) {
        let (rate, burst) = (self.rate, self.burst);
        self.buckets.retain(|_, b| {
            b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < burst
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn a_burst_is_served_then_refused_with_the_time_to_the_next_token() {
        let mut r = RateLimiter::new(0.5, 3.0);
        let t0 = Instant::now();
        let a = ip("198.51.100.7");
        for _ in 0..3 {
            assert_eq!(r.check(a, t0), Ok(()));
        }
        let refused = r.check(a, t0).expect_err("over the burst");
        assert_eq!(refused.retry_after, Duration::from_secs(2));
        assert!(refused.first);
        assert!(!r.check(a, t0).expect_err("still over").first);
        // Another address has its own bucket.
        assert_eq!(r.check(ip("198.51.100.8"), t0), Ok(()));
        // After the advertised wait, one request is let through.
        assert_eq!(r.check(a, t0 + Duration::from_secs(2)), Ok(()));
        assert!(r.check(a, t0 + Duration::from_secs(2)).is_err());
    }

    #[test]
    fn the_table_stays_bounded_and_forgets_refilled_addresses_first() {
        let mut r = RateLimiter::new(1.0, 2.0);
        let t0 = Instant::now();
        for i in 0..MAX_ADDRS {
            let a = IpAddr::from([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
            assert_eq!(r.check(a, t0), Ok(()));
        }
        assert_eq!(r.buckets.len(), MAX_ADDRS);
        // Full, nobody refilled yet: a newcomer passes unmetered and is not kept.
        assert_eq!(r.check(ip("192.0.2.1"), t0), Ok(()));
        assert_eq!(r.buckets.len(), MAX_ADDRS);
        // A second later every bucket has refilled: they make room.
        assert_eq!(
            r.check(ip("192.0.2.1"), t0 + Duration::from_secs(1)),
            Ok(())
        );
        assert_eq!(r.buckets.len(), 1);
    }
}
