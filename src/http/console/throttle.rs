//! Login throttling for the console: per address and per account.
//!
//! A password guesser either tries many accounts from one address or one account from many
//! addresses; each key is throttled on its own. The first few failures cost nothing (people
//! mistype); past the free allowance every further failure doubles the wait before the next
//! attempt from that key is even checked, up to a ceiling. A success resets the account and
//! the address. Failures older than the window are forgotten.
//!
//! Pure: the caller passes the time in milliseconds and keeps the value behind a lock.

use std::collections::HashMap;
use std::net::IpAddr;

/// Failures allowed per key within [`WINDOW_MS`] before waits start.
pub const FREE_FAILURES: u32 = 5;
/// How long a failure is remembered.
pub const WINDOW_MS: u64 = 15 * 60 * 1000;
/// The first wait once the free failures are used up; doubles with each further failure.
pub const FIRST_WAIT_MS: u64 = 30 * 1000;
/// The longest wait.
pub const MAX_WAIT_MS: u64 = 15 * 60 * 1000;
/// Keys kept at most (oldest forgotten first), so a scan from many addresses cannot grow
/// the table without bound.
const MAX_KEYS: usize = 10_000;

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    failures: u32,
    last_failure_ms: u64,
    blocked_until_ms: u64,
}

/// Which key is blocked, and for how long more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocked {
    pub by_account: bool,
    pub wait_ms: u64,
}

/// Failed logins by address and by account.
#[derive(Debug, Default)]
pub struct Throttle {
    by_addr: HashMap<IpAddr, Entry>,
    by_account: HashMap<String, Entry>,
}

impl Throttle {
    /// Whether a login from `addr` to `account` may be checked now.
    pub fn check(&self, addr: IpAddr, account: &str, now_ms: u64) -> Result<(), Blocked> {
        let wait = |e: Option<&Entry>| {
            e.map(|e| e.blocked_until_ms.saturating_sub(now_ms))
                .filter(|w| *w > 0)
        };
        if let Some(w) = wait(self.by_account.get(account)) {
            return Err(Blocked {
                by_account: true,
                wait_ms: w,
            });
        }
        if let Some(w) = wait(self.by_addr.get(&addr)) {
            return Err(Blocked {
                by_account: false,
                wait_ms: w,
            });
        }
        Ok(())
    }

    /// Records a wrong name or password.
    pub fn failed(&mut self, addr: IpAddr, account: &str, now_ms: u64) {
        if self.by_addr.len() + self.by_account.len() >= MAX_KEYS {
            self.forget_before(now_ms.saturating_sub(WINDOW_MS));
        }
        bump(self.by_addr.entry(addr).or_default(), now_ms);
        // Unknown account names are throttled too: otherwise the answer time would tell
        // which names exist.
        bump(
            self.by_account.entry(account.to_owned()).or_default(),
            now_ms,
        );
    }

    /// Records a successful login: the account and the address start afresh.
    pub fn succeeded(&mut self, addr: IpAddr, account: &str) {
        self.by_addr.remove(&addr);
        self.by_account.remove(account);
    }

    fn forget_before(&mut self, before_ms: u64) {
        self.by_addr
            .retain(|_, e| e.last_failure_ms >= before_ms || e.blocked_until_ms > before_ms);
        self.by_account
            .retain(|_, e| e.last_failure_ms >= before_ms || e.blocked_until_ms > before_ms);
    }
}

fn bump(e: &mut Entry, now_ms: u64) {
    if now_ms.saturating_sub(e.last_failure_ms) > WINDOW_MS && e.blocked_until_ms <= now_ms {
        e.failures = 0;
    }
    e.failures += 1;
    e.last_failure_ms = now_ms;
    if e.failures > FREE_FAILURES {
        let doublings = (e.failures - FREE_FAILURES - 1).min(16);
        let wait = FIRST_WAIT_MS
            .saturating_mul(1 << doublings)
            .min(MAX_WAIT_MS);
        e.blocked_until_ms = now_ms + wait;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn five_mistakes_are_free_the_sixth_blocks_for_thirty_seconds() {
        let mut t = Throttle::default();
        let a = ip("192.0.2.1");
        for i in 0..FREE_FAILURES {
            assert_eq!(t.check(a, "anna", u64::from(i)), Ok(()));
            t.failed(a, "anna", u64::from(i));
        }
        assert_eq!(t.check(a, "anna", 10), Ok(()));
        t.failed(a, "anna", 10);
        assert_eq!(
            t.check(a, "anna", 11),
            Err(Blocked {
                by_account: true,
                wait_ms: FIRST_WAIT_MS - 1
            })
        );
        assert_eq!(t.check(a, "anna", 10 + FIRST_WAIT_MS), Ok(()));
        t.failed(a, "anna", 10 + FIRST_WAIT_MS);
        assert_eq!(
            t.check(a, "anna", 10 + FIRST_WAIT_MS)
                .map_err(|b| b.wait_ms),
            Err(2 * FIRST_WAIT_MS)
        );
    }

    #[test]
    fn guessing_one_account_from_many_addresses_is_blocked_by_account() {
        let mut t = Throttle::default();
        for i in 0..=FREE_FAILURES {
            t.failed(ip(&format!("198.51.100.{i}")), "anna", 0);
        }
        let b = t.check(ip("203.0.113.9"), "anna", 1).expect_err("blocked");
        assert!(b.by_account);
        assert_eq!(t.check(ip("203.0.113.9"), "bela", 1), Ok(()));
    }

    #[test]
    fn many_accounts_from_one_address_are_blocked_by_address() {
        let mut t = Throttle::default();
        let a = ip("192.0.2.7");
        for i in 0..=FREE_FAILURES {
            t.failed(a, &format!("user{i}"), 0);
        }
        let b = t.check(a, "somebody", 1).expect_err("blocked");
        assert!(!b.by_account);
        assert_eq!(t.check(ip("192.0.2.8"), "somebody", 1), Ok(()));
    }

    #[test]
    fn waits_stop_doubling_at_the_ceiling() {
        let mut t = Throttle::default();
        let a = ip("192.0.2.1");
        for _ in 0..40 {
            t.failed(a, "anna", 0);
        }
        assert_eq!(
            t.check(a, "anna", 0).map_err(|b| b.wait_ms),
            Err(MAX_WAIT_MS)
        );
    }

    #[test]
    fn success_resets_and_old_failures_are_forgotten() {
        let mut t = Throttle::default();
        let a = ip("192.0.2.1");
        for _ in 0..FREE_FAILURES {
            t.failed(a, "anna", 0);
        }
        t.succeeded(a, "anna");
        t.failed(a, "anna", 1);
        assert_eq!(t.check(a, "anna", 2), Ok(()));
        for _ in 0..FREE_FAILURES - 1 {
            t.failed(a, "bela", 0);
        }
        // Past the window the count starts again: one more failure does not block.
        t.failed(a, "bela", WINDOW_MS + 1);
        assert_eq!(t.check(a, "bela", WINDOW_MS + 2), Ok(()));
    }
}
