//! `[sip.udp]`: the SIP/UDP socket's receive buffer, and when new calls are refused
//! because the SIP task has fallen behind it (DESIGN.md, "Bursts and overload").

use std::time::Duration;

use serde::Deserialize;

use crate::sip::overload::Settings;

/// `[sip.udp]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SipUdpConfig {
    /// Receive buffer asked of the kernel for the SIP socket (`SO_RCVBUF`, and
    /// `SO_RCVBUFFORCE` where the process may go past `net.core.rmem_max`): what a burst
    /// of callers can queue before the kernel drops datagrams.
    pub receive_buffer_bytes: usize,
    /// New calls are refused with 503 once a datagram waited this long in the socket, or
    /// the kernel dropped some (0: never refuse; the kernel drops what does not fit).
    pub shed_after_ms: u64,
    /// `Retry-After` of those 503s: a random number of seconds from this to twice this.
    pub retry_after_s: u32,
}

impl Default for SipUdpConfig {
    fn default() -> Self {
        SipUdpConfig {
            receive_buffer_bytes: 8 * 1024 * 1024,
            shed_after_ms: 200,
            retry_after_s: 2,
        }
    }
}

impl SipUdpConfig {
    /// The overload detector's thresholds; `None` when refusing is turned off.
    pub fn overload(&self) -> Option<Settings> {
        (self.shed_after_ms > 0).then(|| Settings {
            shed_after: Duration::from_millis(self.shed_after_ms),
            quiet: Duration::from_secs(1),
        })
    }

    /// Every problem of the section.
    pub fn validate(&self, p: &mut Vec<String>) {
        // The kernel takes an int; below a few datagrams the socket is useless.
        if !(4096..=i32::MAX as usize / 2).contains(&self.receive_buffer_bytes) {
            p.push(format!(
                "sip.udp.receive_buffer_bytes: expected 4096 to {} bytes, found {}",
                i32::MAX / 2,
                self.receive_buffer_bytes
            ));
        }
        if self.shed_after_ms > 30_000 {
            p.push(format!(
                "sip.udp.shed_after_ms: expected 0 (never) to 30000 ms, found {}",
                self.shed_after_ms
            ));
        }
        if !(1..=3600).contains(&self.retry_after_s) {
            p.push(format!(
                "sip.udp.retry_after_s: expected 1 to 3600 seconds, found {}",
                self.retry_after_s
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_values_are_each_named() {
        let mut p = Vec::new();
        SipUdpConfig::default().validate(&mut p);
        assert!(p.is_empty(), "{p:?}");
        let bad = SipUdpConfig {
            receive_buffer_bytes: 100,
            shed_after_ms: 60_000,
            retry_after_s: 0,
        };
        bad.validate(&mut p);
        assert_eq!(
            p,
            [
                "sip.udp.receive_buffer_bytes: expected 4096 to 1073741823 bytes, found 100",
                "sip.udp.shed_after_ms: expected 0 (never) to 30000 ms, found 60000",
                "sip.udp.retry_after_s: expected 1 to 3600 seconds, found 0",
            ]
        );
    }

    #[test]
    fn zero_turns_refusing_off() {
        let off = SipUdpConfig {
            shed_after_ms: 0,
            ..SipUdpConfig::default()
        };
        assert_eq!(off.overload(), None);
        assert_eq!(
            SipUdpConfig::default().overload(),
            Some(Settings {
                shed_after: Duration::from_millis(200),
                quiet: Duration::from_secs(1),
            })
        );
    }
}
