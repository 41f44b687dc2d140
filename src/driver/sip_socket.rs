//! The SIP/UDP socket: a large receive buffer, datagrams read in batches, and for each one
//! how long it waited in the socket and how many the kernel had dropped there.
//!
//! ```text
//!   kernel ─► receive buffer (SO_RCVBUF / SO_RCVBUFFORCE, 8 MiB by default)
//!               │  each datagram stamped on arrival (SO_TIMESTAMPNS) and carrying the
//!               │  socket's drop count so far (SO_RXQ_OVFL)
//!               ▼
//!   Inbound::receive ─ one recvmmsg, up to BATCH datagrams ─► the SIP task handles them
//!                                                             one by one (sip_task/udp.rs)
//! ```
//!
//! A burst of callers queues in the receive buffer instead of being dropped, and the
//! overload detector (`sip::overload`) learns from the stamps and the drop count when the
//! SIP task has fallen behind. Everything is asked of the kernel once, at bind time; what
//! it refuses (a buffer above `net.core.rmem_max` without privileges, an option an old
//! kernel lacks) is logged and the socket serves anyway.
//!
//! The system calls go through `nix` (DESIGN.md, "Bursts and overload", says why).

use std::io;
use std::io::IoSliceMut;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::sys::socket::{
    self, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sockopt,
};
use nix::sys::time::TimeSpec;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tracing::{info, warn};

use crate::config::SipUdpConfig;

/// Datagrams read with one `recvmmsg`: enough to save most system calls in a burst, few
/// enough that the task turns to its other inputs (call tasks, timers) between batches.
pub(super) const BATCH: usize = 32;

/// Binds the SIP socket on `addr` with the receive buffer `cfg` asks for, and turns on the
/// control messages the overload detector reads. Logs what it got, and returns the
/// receive buffer as the kernel reports it (`SO_RCVBUF` read back: twice what it granted,
/// the other half being for its bookkeeping).
pub(super) fn bind(addr: SocketAddr, cfg: &SipUdpConfig) -> io::Result<(UdpSocket, usize)> {
    let std = std::net::UdpSocket::bind(addr)?;
    let want = cfg.receive_buffer_bytes;
    // Without privileges the kernel silently caps SO_RCVBUF at net.core.rmem_max; it
    // reports twice what it granted, so less than `2 × want` back means it was capped.
    let _ = socket::setsockopt(&std, sockopt::RcvBuf, &want);
    let mut granted = socket::getsockopt(&std, sockopt::RcvBuf).unwrap_or(0);
    let mut forced = false;
    if granted < want.saturating_mul(2)
        && socket::setsockopt(&std, sockopt::RcvBufForce, &want).is_ok()
    {
        forced = true;
        granted = socket::getsockopt(&std, sockopt::RcvBuf).unwrap_or(granted);
    }
    let stamps = socket::setsockopt(&std, sockopt::ReceiveTimestampns, &true).is_ok();
    let drop_count = socket::setsockopt(&std, sockopt::RxqOvfl, &1).is_ok();
    std.set_nonblocking(true)?;
    let udp = UdpSocket::from_std(std)?;
    if granted < want.saturating_mul(2) {
        warn!(
            asked = want,
            granted,
            "SIP/UDP receive buffer smaller than asked: the kernel caps it at \
             net.core.rmem_max for a process without CAP_NET_ADMIN; raise that sysctl to \
             absorb bursts of callers"
        );
    } else {
        info!(
            asked = want,
            granted,
            forced,
            "SIP/UDP receive buffer (the kernel counts its bookkeeping in it: twice the size asked)"
        );
    }
    if !stamps || !drop_count {
        warn!(
            stamps,
            drop_count,
            "the kernel does not tell how long SIP datagrams waited or how many it dropped: \
             overload is seen late"
        );
    }
    Ok((udp, granted))
}

/// One datagram of the batch last read.
#[derive(Debug, Clone, Copy)]
pub(super) struct Received {
    /// Which buffer of the batch holds it.
    slot: usize,
    pub len: usize,
    pub src: SocketAddr,
    /// Longer than the buffer: cut short by the kernel, to be dropped.
    pub oversized: bool,
    /// When the kernel queued it (`SO_TIMESTAMPNS`, the system clock).
    pub arrived: Option<SystemTime>,
    /// The socket's drop count when it was queued (`SO_RXQ_OVFL`; absent while 0).
    pub dropped: Option<u32>,
}

impl Received {
    /// How long it has waited since the kernel queued it (0 when the kernel did not say,
    /// or the system clock stepped back).
    pub fn waited(&self, now: SystemTime) -> Duration {
        self.arrived
            .and_then(|at| now.duration_since(at).ok())
            .unwrap_or_default()
    }
}

/// Receive buffers for one batch, reused from batch to batch.
pub(super) struct Inbound {
    slot: usize,
    bufs: Vec<u8>,
    got: Vec<Received>,
}

impl Inbound {
    /// Buffers for datagrams up to `max_message_bytes` (one byte more, to tell a longer one).
    pub fn new(max_message_bytes: usize) -> Self {
        let slot = max_message_bytes.max(2048) + 1;
        Inbound {
            slot,
            bufs: vec![0; slot * BATCH],
            got: Vec::with_capacity(BATCH),
        }
    }

    /// Reads what the socket has, up to [`BATCH`] datagrams, without waiting, and says how
    /// many it read (fewer than [`BATCH`]: the socket is now empty). `WouldBlock` when it
    /// had nothing (tokio's readiness is then cleared, so the next wait is real).
    pub fn receive(&mut self, udp: &UdpSocket) -> io::Result<usize> {
        let Inbound { slot, bufs, got } = self;
        got.clear();
        udp.try_io(Interest::READABLE, || {
            // Fresh headers for every call: nix 0.32 does not reset a header's control
            // length between calls, and the kernel shrinks it to what the last datagram
            // used, which would cut the drop count off the next one.
            let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(
                BATCH,
                Some(nix::cmsg_space!(TimeSpec, u32)),
            );
            let mut iovs: Vec<[IoSliceMut<'_>; 1]> = bufs
                .chunks_mut(*slot)
                .map(|b| [IoSliceMut::new(b)])
                .collect();
            let results = recvmmsg(
                udp.as_raw_fd(),
                &mut headers,
                iovs.iter_mut(),
                MsgFlags::MSG_DONTWAIT,
                None,
            )
            .map_err(io::Error::from)?;
            let mut n = 0;
            for r in results {
                let src = r.address.and_then(|a| {
                    a.as_sockaddr_in()
                        .map(|v4| SocketAddr::from(*v4))
                        .or_else(|| a.as_sockaddr_in6().map(|v6| SocketAddr::from(*v6)))
                });
                let mut d = Received {
                    slot: n,
                    len: r.bytes,
                    // Kept only with a source: one without cannot be answered.
                    src: src.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))),
                    oversized: r.flags.contains(MsgFlags::MSG_TRUNC) || r.bytes >= *slot,
                    arrived: None,
                    dropped: None,
                };
                if let Ok(cmsgs) = r.cmsgs() {
                    for c in cmsgs {
                        match c {
                            ControlMessageOwned::ScmTimestampns(ts) => {
                                d.arrived = u64::try_from(ts.tv_sec()).ok().map(|s| {
                                    UNIX_EPOCH
                                        + Duration::new(s, u32::try_from(ts.tv_nsec()).unwrap_or(0))
                                });
                            }
                            ControlMessageOwned::RxqOvfl(n) => d.dropped = Some(n),
                            _ => {}
                        }
                    }
                }
                if src.is_some() {
                    got.push(d);
                }
                n += 1;
            }
            Ok(n)
        })
    }

    /// Datagrams of the last batch that can be answered (they have a source address).
    pub fn len(&self) -> usize {
        self.got.len()
    }

    /// The `i`th of them, and its bytes.
    pub fn get(&self, i: usize) -> Option<(Received, &[u8])> {
        let d = *self.got.get(i)?;
        let start = d.slot * self.slot;
        let bytes = self.bufs.get(start..start + d.len.min(self.slot))?;
        Some((d, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(bytes: usize) -> SipUdpConfig {
        SipUdpConfig {
            receive_buffer_bytes: bytes,
            ..SipUdpConfig::default()
        }
    }

    #[tokio::test]
    async fn a_batch_brings_each_datagram_with_its_source_and_arrival() {
        let (udp, _) = bind("127.0.0.1:0".parse().expect("literal"), &cfg(1 << 20)).expect("bind");
        let to = udp.local_addr().expect("addr");
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind peer");
        let before = SystemTime::now();
        for i in 0..3 {
            peer.send_to(format!("datagram {i}").as_bytes(), to)
                .expect("send");
        }
        udp.readable().await.expect("readable");
        let mut inbound = Inbound::new(100);
        let mut got = Vec::new();
        while got.len() < 3 {
            match inbound.receive(&udp) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    udp.readable().await.expect("readable");
                    continue;
                }
                Err(e) => panic!("receive: {e}"),
            }
            for i in 0..inbound.len() {
                let (d, bytes) = inbound.get(i).expect("in the batch");
                got.push((String::from_utf8_lossy(bytes).into_owned(), d));
            }
        }
        let texts: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(texts, ["datagram 0", "datagram 1", "datagram 2"]);
        for (_, d) in &got {
            assert_eq!(d.src, peer.local_addr().expect("peer addr"));
            assert!(!d.oversized);
            assert_eq!(d.dropped, None, "nothing dropped");
            let at = d.arrived.expect("stamped by the kernel");
            assert!(
                at >= before - Duration::from_secs(1),
                "{at:?} vs {before:?}"
            );
        }
    }
}
