//! Personal data in logs.
//!
//! Phone numbers, SIP URIs and IP addresses identify residents. At `info` and above they are
//! written through [`Pii`], which keeps just enough to tell two callers apart in one log
//! (the last two characters); at `debug` and below, where operators investigate a specific
//! problem, they appear in full.
//!
//! # The security log
//!
//! One exception: a line about something a jail should count against an address (a wrong
//! password, a source refused for failing too often or for flooding, a request too broken
//! to serve) carries that address in full, since a filter such as fail2ban can act on
//! nothing less. These lines come from [`security`] alone, in one greppable form, with the
//! `tracing` target `ugyelet::security` at `warn`:
//!
//! ```text
//! 2026-01-05T22:14:03.123456Z  WARN ugyelet::security: auth_failed ip=198.51.100.7 port=5060 method=REGISTER account="kati"
//! ```
//!
//! The message starts with the event's word, then `ip=` and `port=`, then details; in JSON
//! logs the same text is the `message` field, so one filter reads both formats. The address
//! is the sender's, not a resident's number: phone numbers and URIs stay masked even here
//! (the details go through [`scrub`]). `packaging/fail2ban/` holds the filter and a jail.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

/// Wraps a value whose `Display` is personal data.
pub struct Pii<T>(pub T);

impl<T: fmt::Display> fmt::Display for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if tracing::enabled!(tracing::Level::DEBUG) {
            return write!(f, "{}", self.0);
        }
        let s = self.0.to_string();
        let tail: String = s
            .chars()
            .rev()
            .take(2)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if s.chars().count() <= 4 {
            f.write_str("***")
        } else {
            write!(f, "***{tail}")
        }
    }
}

/// An event of the security log (see the module doc): what a jail counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Digest credentials were checked and were wrong.
    AuthFailed,
    /// Digest credentials that could not be read (answered 400).
    AuthMalformed,
    /// A request refused without a check: its address failed too often.
    AuthThrottled,
    /// A source (or a whole address) ignored for a while for flooding.
    FloodBlocked,
    /// A request too broken to serve: answered with a stateless 400/505, or dropped.
    Malformed,
}

impl Security {
    /// Every event, in the order of [`security_counts`].
    pub const ALL: [Security; 5] = [
        Security::AuthFailed,
        Security::AuthMalformed,
        Security::AuthThrottled,
        Security::FloodBlocked,
        Security::Malformed,
    ];

    /// The word a log line starts with; part of the filter's contract, never renamed.
    pub fn word(self) -> &'static str {
        match self {
            Security::AuthFailed => "auth_failed",
            Security::AuthMalformed => "auth_malformed",
            Security::AuthThrottled => "auth_throttled",
            Security::FloodBlocked => "flood_blocked",
            Security::Malformed => "sip_malformed",
        }
    }
}

/// `ip=<address> port=<port>`, the address in full (an IPv4 address a dual-stack socket
/// reports as IPv4-mapped IPv6 is written as IPv4, as a firewall needs it).
pub struct Offender(pub SocketAddr);

impl fmt::Display for Offender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ip={} port={}",
            self.0.ip().to_canonical(),
            self.0.port()
        )
    }
}

/// Security lines written so far, by event (the process's own count: a line and its
/// counter come from the same call, so `/metrics` and the log always agree).
static COUNTS: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];

/// Security lines written since the process started, by event, in the order of
/// [`Security::ALL`].
pub fn security_counts() -> [(Security, u64); 5] {
    Security::ALL.map(|e| (e, COUNTS[e as usize].load(Ordering::Relaxed)))
}

/// The one security log line of `event` from `src`, and its counter; `detail` is
/// `key=value` pairs, scrubbed of anything that looks like a phone number or an address
/// ([`scrub`]).
pub fn security(event: Security, src: SocketAddr, detail: &str) {
    COUNTS[event as usize].fetch_add(1, Ordering::Relaxed);
    tracing::warn!(
        target: "ugyelet::security",
        "{} {} {}",
        event.word(),
        Offender(src),
        scrub(detail)
    );
}

/// Free text (a gateway's or mail server's error) with what may be personal data masked:
/// words with an `@` (addresses) and words with six or more digits in a row (phone
/// numbers; a URL such as `http://127.0.0.1:8080/send` stays). The rest,
/// the reason an admin needs ("Connection refused", "550 mailbox unavailable"), stays.
pub fn scrub(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let mut run = 0;
        let mut longest = 0;
        for c in word.chars() {
            run = if c.is_ascii_digit() { run + 1 } else { 0 };
            longest = longest.max(run);
        }
        if word.contains('@') || longest >= 6 {
            out.push_str("***");
        } else {
            out.push_str(word);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubbed_errors_keep_the_reason_and_lose_addresses_and_numbers() {
        assert_eq!(
            scrub("Connection refused (os error 111)"),
            "Connection refused (os error 111)"
        );
        assert_eq!(
            scrub("550 5.1.1 <lakos@example.hu>: mailbox unavailable"),
            "550 5.1.1 *** mailbox unavailable"
        );
        assert_eq!(
            scrub("gateway 400: invalid number +36301234567"),
            "gateway 400: invalid number ***"
        );
        assert_eq!(
            scrub("error sending request for url (http://127.0.0.1:18080/send)"),
            "error sending request for url (http://127.0.0.1:18080/send)"
        );
    }

    #[test]
    fn offender_is_written_in_full_with_ipv4_mapped_addresses_as_ipv4() {
        let v4: SocketAddr = "198.51.100.7:5060".parse().expect("address");
        assert_eq!(Offender(v4).to_string(), "ip=198.51.100.7 port=5060");
        let mapped: SocketAddr = "[::ffff:198.51.100.7]:5062".parse().expect("address");
        assert_eq!(Offender(mapped).to_string(), "ip=198.51.100.7 port=5062");
        let v6: SocketAddr = "[2001:db8::7]:5060".parse().expect("address");
        assert_eq!(Offender(v6).to_string(), "ip=2001:db8::7 port=5060");
        assert_eq!(Security::AuthFailed.word(), "auth_failed");
    }

    #[test]
    fn each_security_line_is_counted_under_its_event() {
        let before = security_counts();
        let src: SocketAddr = "198.51.100.9:5060".parse().expect("address");
        security(Security::FloodBlocked, src, "scope=source seconds=60");
        let after = security_counts();
        for ((e, b), (_, a)) in before.iter().zip(after) {
            // Other tests of this process may log too: at least ours is counted.
            if *e == Security::FloodBlocked {
                assert!(a > *b, "{e:?}: {b} -> {a}");
            }
        }
        for (i, e) in Security::ALL.iter().enumerate() {
            assert_eq!(*e as usize, i, "ALL is in declaration order");
        }
    }

    #[test]
    fn phone_number_is_masked_without_debug_logging() {
        let shown = Pii("+36301234567").to_string();
        assert_eq!(shown, "***67");
        assert!(!shown.contains("3012"));
        assert_eq!(Pii("12").to_string(), "***");
    }
}
