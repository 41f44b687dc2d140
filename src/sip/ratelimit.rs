//! Rate limiting of incoming SIP, so one flooding or scanning host cannot starve other
//! callers.
//!
//! Two token buckets count every message: one for its source (IP address and port: one
//! softphone, one trunk connection, one scanner socket) and one for its IP address as a
//! whole, so a host cannot escape the first by sending from many ports. Each allows `rate`
//! messages per second on average and bursts up to `burst`; the address's limits are the
//! larger ones, since one office behind NAT puts several phones behind one address.
//!
//! A message over either limit is dropped without an answer (an answer would only help a
//! scanner and cost us a send). A source or address that keeps going over its limit —
//! `strikes` dropped messages within one refill of its bucket — is blocked for `block`,
//! doubling on each repeat, and logged once per block. Everything is computed from the
//! `now` passed in; the tables forget quiet sources, so they cannot grow without bound.
//!
//! Addresses the admin names as exempt (the provider's trunk, the office SBC: one address
//! that carries every call) are not limited at all.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// One bucket's limits.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    pub rate: f64,
    pub burst: f64,
    pub strikes: u32,
}

impl Bucket {
    /// A bucket whose owner is blocked after dropping twice its burst within one refill:
    /// a phone that retransmits through a short burst never gets there, a flood soon does.
    pub fn new(rate: f64, burst: f64) -> Self {
        // Saturating float-to-int cast; config checks keep `burst` at 1 or more.
        let strikes = (burst * 2.0) as u32;
        Bucket {
            rate,
            burst,
            strikes,
        }
    }
}

/// Limits; see the module doc.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Per source (address and port).
    pub source: Bucket,
    /// Per IP address, all ports together.
    pub address: Bucket,
    pub block: Duration,
    /// Addresses never limited.
    pub exempt: Vec<Prefix>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            source: Bucket::new(50.0, 100.0),
            address: Bucket::new(200.0, 400.0),
            block: Duration::from_secs(60),
            exempt: Vec::new(),
        }
    }
}

/// An IP address or address prefix: `192.0.2.10`, `10.20.0.0/16`, `2001:db8::/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

impl Prefix {
    /// Whether `ip` lies in the prefix. An IPv4 address seen as IPv4-mapped IPv6 (on a
    /// dual-stack socket) is the same address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.addr.is_ipv4() && first_bits(ip, self.len) == self.addr
    }
}

/// `ip` with every bit after the first `len` cleared.
fn first_bits(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    }
}

impl FromStr for Prefix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let expected = || {
            format!(
                "expected an IP address or prefix such as 192.0.2.10 or 10.20.0.0/16, found {s:?}"
            )
        };
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr = addr
            .parse::<IpAddr>()
            .map_err(|_| expected())?
            .to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len.map(str::parse::<u8>) {
            None => max,
            Some(Ok(l)) if l <= max => l,
            Some(_) => return Err(expected()),
        };
        let network = first_bits(addr, len);
        if network != addr {
            return Err(format!(
                "{s:?} has bits set after its first {len}: the prefix is {network}/{len}"
            ));
        }
        Ok(Prefix { addr, len })
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl<'de> serde::Deserialize<'de> for Prefix {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What is blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The source (address and port).
    Source,
    /// Every port of the source's IP address.
    Address,
}

/// What to do with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Over the limit: drop it.
    Drop,
    /// Over the limit often enough: the source or its whole address is now blocked until
    /// the given instant (reported once, for the log).
    Blocked {
        until: Instant,
        scope: Scope,
    },
}

#[derive(Debug, Clone)]
struct State {
    tokens: f64,
    last: Instant,
    dropped: u32,
    blocked_until: Option<Instant>,
    blocks: u32,
}

/// One table of buckets, keyed by source or by address.
#[derive(Debug)]
struct Table<K> {
    limits: Bucket,
    block: Duration,
    entries: HashMap<K, State>,
}

impl<K: Hash + Eq + Copy> Table<K> {
    fn new(limits: Bucket, block: Duration) -> Self {
        Table {
            limits,
            block,
            entries: HashMap::new(),
        }
    }

    fn is_blocked(&self, now: Instant, key: K) -> bool {
        self.entries
            .get(&key)
            .and_then(|b| b.blocked_until)
            .is_some_and(|until| now < until)
    }

    /// Charges one message to `key`'s bucket; a block is reported with `scope`.
    fn take(&mut self, now: Instant, key: K, scope: Scope) -> Verdict {
        let limits = self.limits;
        let b = self.entries.entry(key).or_insert(State {
            tokens: limits.burst,
            last: now,
            dropped: 0,
            blocked_until: None,
            blocks: 0,
        });
        if let Some(until) = b.blocked_until {
            if now < until {
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
        b.dropped += 1;
        if b.dropped >= limits.strikes {
            let factor = 1u32 << b.blocks.min(6);
            let until = now + self.block * factor;
            b.blocked_until = Some(until);
            b.blocks += 1;
            return Verdict::Blocked { until, scope };
        }
        Verdict::Drop
    }

    fn sweep(&mut self, now: Instant) {
        self.entries.retain(|_, b| {
            b.blocked_until.is_some_and(|u| u > now) || now.saturating_duration_since(b.last) < IDLE
        });
    }
}

/// The limiter.
#[derive(Debug)]
pub struct RateLimiter {
    exempt: Vec<Prefix>,
    sources: Table<SocketAddr>,
    addresses: Table<IpAddr>,
    last_sweep: Option<Instant>,
    dropped_total: u64,
    blocks_total: u64,
}

/// Sources idle this long are forgotten (unless blocked).
const IDLE: Duration = Duration::from_secs(300);

impl RateLimiter {
    pub fn new(limits: Limits) -> Self {
        RateLimiter {
            exempt: limits.exempt,
            sources: Table::new(limits.source, limits.block),
            addresses: Table::new(limits.address, limits.block),
            last_sweep: None,
            dropped_total: 0,
            blocks_total: 0,
        }
    }

    /// One message from `src` at `now`.
    pub fn check(&mut self, now: Instant, src: SocketAddr) -> Verdict {
        if self.exempt.iter().any(|p| p.contains(src.ip())) {
            return Verdict::Allow;
        }
        self.sweep(now);
        // A blocked address costs no bucket work; a source's own flood, already capped by
        // its bucket, is not charged to its address, so it cannot block its neighbours.
        let verdict = if self.addresses.is_blocked(now, src.ip()) {
            Verdict::Drop
        } else {
            match self.sources.take(now, src, Scope::Source) {
                Verdict::Allow => self.addresses.take(now, src.ip(), Scope::Address),
                refused => refused,
            }
        };
        match verdict {
            Verdict::Allow => {}
            Verdict::Drop => self.dropped_total += 1,
            Verdict::Blocked { .. } => {
                self.dropped_total += 1;
                self.blocks_total += 1;
            }
        }
        verdict
    }

    /// Messages dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped_total
    }

    /// Sources and addresses blocked so far.
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
        self.sources.sweep(now);
        self.addresses.sweep(now);
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
            source: Bucket {
                rate: 10.0,
                burst: 5.0,
                strikes: 1000,
            },
            ..Limits::default()
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
            source: Bucket {
                rate: 1.0,
                burst: 1.0,
                strikes: 3,
            },
            ..Limits::default()
        };
        let mut rl = RateLimiter::new(limits);
        let src = addr("198.51.100.7:5060");
        assert_eq!(rl.check(t0, src), Verdict::Allow);
        assert_eq!(rl.check(t0, src), Verdict::Drop);
        assert_eq!(rl.check(t0, src), Verdict::Drop);
        assert_eq!(
            rl.check(t0, src),
            Verdict::Blocked {
                until: t0 + Duration::from_secs(60),
                scope: Scope::Source,
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
                until: t1 + Duration::from_secs(120),
                scope: Scope::Source,
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
        assert_eq!(rl.sources.entries.len(), 1);
        assert_eq!(rl.addresses.entries.len(), 1);
    }

    #[test]
    fn a_host_sweeping_from_many_ports_is_capped_then_blocked_as_a_whole() {
        let t0 = crate::clock::test_epoch();
        let mut rl = RateLimiter::new(Limits::default());
        let caller = addr("192.0.2.10:5060");
        let mut t = t0;
        let mut allowed = 0u32;
        let mut blocked = None;
        // 20,000 messages a second for 2 s, each port sending only 10 a second: under the
        // per-source limit, far over the address's.
        for i in 0..40_000u32 {
            let port = 10_000 + u16::try_from(i % 2000).expect("small");
            match rl.check(t, SocketAddr::from(([198, 51, 100, 9], port))) {
                Verdict::Allow => allowed += 1,
                Verdict::Drop => {}
                Verdict::Blocked { until, scope } => {
                    assert_eq!(scope, Scope::Address);
                    blocked.get_or_insert(until);
                }
            }
            if i % 1000 == 0 {
                assert_eq!(
                    rl.check(t, caller),
                    Verdict::Allow,
                    "another host is served"
                );
            }
            t += Duration::from_micros(50);
        }
        assert!(blocked.is_some(), "the sweeping host is blocked");
        // The burst plus at most 200/s until the block.
        assert!(allowed <= 400 + 400, "allowed {allowed}");
        assert_eq!(
            rl.check(t, addr("198.51.100.9:33333")),
            Verdict::Drop,
            "a fresh port of the blocked host is dropped too"
        );
    }

    #[test]
    fn one_flooding_phone_does_not_block_its_neighbours_behind_the_same_nat() {
        let t0 = crate::clock::test_epoch();
        let mut rl = RateLimiter::new(Limits::default());
        let flood = addr("203.0.113.5:40000");
        let neighbour = addr("203.0.113.5:5062");
        let mut t = t0;
        let mut blocked_flood = false;
        for i in 0..20_000u32 {
            if let Verdict::Blocked { scope, .. } = rl.check(t, flood) {
                assert_eq!(scope, Scope::Source);
                blocked_flood = true;
            }
            if i % 500 == 0 {
                assert_eq!(rl.check(t, neighbour), Verdict::Allow);
            }
            t += Duration::from_micros(100);
        }
        assert!(blocked_flood);
    }

    #[test]
    fn an_exempt_trunk_is_never_limited_and_its_neighbours_still_are() {
        let t0 = crate::clock::test_epoch();
        let mut rl = RateLimiter::new(Limits {
            exempt: vec![
                "192.0.2.10".parse().expect("literal"),
                "2001:db8:5::/48".parse().expect("literal"),
            ],
            ..Limits::default()
        });
        let mut t = t0;
        let mut neighbour_dropped = 0;
        // 10,000 messages a second for 2 s from each.
        for i in 0..20_000u16 {
            for trunk in [
                "192.0.2.10:5060",
                "[::ffff:192.0.2.10]:5060",
                "[2001:db8:5:1::7]:5060",
            ] {
                assert_eq!(rl.check(t, addr(trunk)), Verdict::Allow, "{trunk} at {i}");
            }
            if rl.check(t, addr("192.0.2.11:5060")) != Verdict::Allow {
                neighbour_dropped += 1;
            }
            t += Duration::from_micros(100);
        }
        assert!(neighbour_dropped > 15_000, "{neighbour_dropped}");
        assert!(
            rl.sources.entries.len() == 1,
            "exempt sources take no table entry"
        );
    }

    #[test]
    fn prefixes_parse_and_match_by_their_first_bits() {
        let p = |s: &str| s.parse::<Prefix>();
        let ip = |s: &str| s.parse::<IpAddr>().expect("literal");
        let net = p("10.20.0.0/16").expect("valid");
        assert!(net.contains(ip("10.20.255.1")));
        assert!(net.contains(ip("::ffff:10.20.0.9")), "IPv4-mapped");
        assert!(!net.contains(ip("10.21.0.1")));
        assert!(!net.contains(ip("2001:db8::1")));
        let all = p("0.0.0.0/0").expect("valid");
        assert!(all.contains(ip("203.0.113.1")) && !all.contains(ip("::1")));
        let host = p("2001:db8::7").expect("valid");
        assert!(host.contains(ip("2001:db8::7")) && !host.contains(ip("2001:db8::8")));
        assert_eq!(host.to_string(), "2001:db8::7/128");
        assert_eq!(
            p("::ffff:192.0.2.1").expect("valid").to_string(),
            "192.0.2.1/32",
            "a mapped address is the IPv4 address"
        );
        assert_eq!(
            p("10.20.1.0/16"),
            Err(
                "\"10.20.1.0/16\" has bits set after its first 16: the prefix is 10.20.0.0/16"
                    .to_owned()
            )
        );
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0/8",
            "example.com",
            "::/129",
            "10.0.0.0/-1",
        ] {
            let e = p(bad).expect_err(bad);
            assert!(
                e.starts_with("expected an IP address or prefix"),
                "{bad}: {e}"
            );
        }
    }
}
