//! The SIP task's side of the SIP/UDP socket: each batch that `sip_socket::Inbound` reads
//! is handled datagram by datagram, and before each one the overload detector
//! (`sip::overload`) hears how long it waited and what the kernel dropped, and tells the
//! endpoint whether new calls are to be refused (`SipEndpoint::set_overloaded`).
//!
//! Each datagram is handled as a lone one was before batching: rate limit, endpoint,
//! then everything the endpoint and the switchboard have to do about it (`drain`), so a
//! batch changes how often the task asks the kernel, not what it does with a message. What
//! is to be sent goes out once the batch is done (`flush`, in the task's loop).

use std::time::{Duration, Instant, SystemTime};

use tracing::{debug, warn};

use super::super::sip_socket::{BATCH, Inbound};
use super::{SipTask, admit_source};
use crate::config::SipConfig;
use crate::pii::{Security, security};
use crate::sip::endpoint::Transport;
use crate::sip::overload::{Overload, OverloadEvent, Settings};

/// Batch buffers and the overload detector of the SIP socket.
pub(in crate::driver) struct UdpInput {
    inbound: Inbound,
    overload: Overload,
    /// `Retry-After` (at least) of the 503s; `None`: refusing is turned off.
    retry_after: Option<u32>,
}

impl UdpInput {
    pub(in crate::driver) fn new(cfg: &SipConfig) -> Self {
        let settings = cfg.udp.overload();
        UdpInput {
            inbound: Inbound::new(cfg.max_message_bytes),
            // Refusing off: the detector still tells (and logs) when the task is behind.
            overload: Overload::new(settings.unwrap_or(Settings {
                shed_after: Duration::MAX,
                quiet: Duration::from_secs(1),
            })),
            retry_after: settings.map(|_| cfg.udp.retry_after_s),
        }
    }

    /// When the detector wants [`SipTask::overload_timeout`].
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.overload.poll_timeout()
    }
}

impl SipTask {
    /// The SIP socket is readable: reads a batch and handles it.
    pub(super) fn on_readable(&mut self) {
        let read = match self.inbound.inbound.receive(&self.udp) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            // ICMP port unreachable from an earlier send shows up here on Linux; it says
            // nothing about this socket's health.
            Err(e) => {
                debug!("SIP/UDP receive: {e}");
                return;
            }
        };
        for i in 0..self.inbound.inbound.len() {
            let now = Instant::now();
            let Some((d, _)) = self.inbound.inbound.get(i) else {
                break;
            };
            let refused = self.endpoint.refused_overload();
            let waited = d.waited(SystemTime::now());
            let shed = self
                .inbound
                .overload
                .handle_datagram(now, waited, d.dropped, refused);
            self.endpoint
                .set_overloaded(self.inbound.retry_after.filter(|_| shed));
            if d.oversized {
                security(
                    Security::Malformed,
                    d.src,
                    "action=dropped error=\"datagram over sip.max_message_bytes\"",
                );
                continue;
            }
            if admit_source(&mut self.limiter, now, d.src) {
                let local = self.locals.for_peer(d.src.ip());
                if let Some((_, bytes)) = self.inbound.inbound.get(i) {
                    self.endpoint
                        .handle_message(now, d.src, local, Transport::Udp, bytes);
                }
            }
            self.drain(now);
        }
        if read < BATCH {
            self.inbound.overload.handle_drained(Instant::now());
            self.endpoint.set_overloaded(None);
        }
        self.overload_news();
    }

    /// Ends an overload episode once the task has kept up for a while.
    pub(super) fn overload_timeout(&mut self, now: Instant) {
        let refused = self.endpoint.refused_overload();
        self.inbound.overload.handle_timeout(now, refused);
        self.overload_news();
    }

    /// Logs the detector's events (one line at each end of an episode) and publishes its
    /// counters.
    fn overload_news(&mut self) {
        let refusing = self.inbound.retry_after.is_some();
        while let Some(ev) = self.inbound.overload.poll_event() {
            match ev {
                OverloadEvent::Started { waited, dropped } if refusing => warn!(
                    waited_ms = waited.as_millis(),
                    kernel_drops = dropped,
                    "SIP overload: the daemon is behind its SIP socket; new calls get 503 \
                     with Retry-After until it catches up"
                ),
                OverloadEvent::Started { waited, dropped } => warn!(
                    waited_ms = waited.as_millis(),
                    kernel_drops = dropped,
                    "SIP overload: the daemon is behind its SIP socket (refusing new calls is \
                     off: sip.udp.shed_after_ms = 0)"
                ),
                OverloadEvent::Ended {
                    lasted,
                    refused,
                    dropped,
                    datagrams,
                    max_waited,
                } => warn!(
                    lasted_ms = lasted.as_millis(),
                    calls_refused = refused,
                    kernel_drops = dropped,
                    datagrams,
                    max_waited_ms = max_waited.as_millis(),
                    "SIP overload over: the daemon has caught up with its SIP socket"
                ),
            }
        }
        let o = &self.inbound.overload;
        let m = &self.shared.metrics;
        use std::sync::atomic::Ordering::Relaxed;
        m.sip_udp_dropped.store(o.dropped(), Relaxed);
        m.sip_udp_wait_max_us.store(
            u64::try_from(o.max_waited().as_micros()).unwrap_or(u64::MAX),
            Relaxed,
        );
        m.sip_overloaded.store(u64::from(o.shedding()), Relaxed);
        m.sip_overload_episodes.store(o.episodes(), Relaxed);
    }
}
