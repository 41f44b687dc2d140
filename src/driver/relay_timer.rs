//! How long a relayed RTP packet spends in the daemon, for the relay-delay histogram.
//!
//! The start is the kernel's receive time stamp of the datagram, not the moment the media
//! receiver read it: the wait for the thread to wake (the larger part under load) is part
//! of the delay a caller hears. The stamp is asked for with `SIOCGSTAMPNS` right after the
//! read (socket(7): the time stamp of the last packet passed to the user); the first ask
//! on a socket turns stamping on for it, so its first sample is skipped. One relayed
//! packet in [`EVERY`] is sampled: an ioctl per packet would cost a system call on the
//! hottest path, and 50 packets a second per leg leave plenty of samples. Nothing here
//! allocates.

use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::metrics::histogram::Histogram;

/// One relayed packet in this many is timed.
pub(super) const EVERY: u32 = 16;

/// `SIOCGSTAMPNS` (linux/sockios.h, `SIOCGSTAMPNS_OLD`, the same number on 64-bit
/// targets); the libc crate does not name it.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
const SIOCGSTAMPNS: libc::c_ulong = 0x8907;

/// The sampler and the histogram it feeds.
pub(super) struct RelayTimer {
    histogram: Arc<Histogram>,
    seen: u32,
}

impl RelayTimer {
    pub(super) fn new(histogram: Arc<Histogram>) -> Self {
        RelayTimer { histogram, seen: 0 }
    }

    /// A datagram to relay was just read from `socket`: its receive time, for one packet
    /// in [`EVERY`].
    pub(super) fn arrived(&mut self, socket: &impl AsRawFd) -> Option<SystemTime> {
        self.seen = self.seen.wrapping_add(1);
        if !self.seen.is_multiple_of(EVERY) {
            return None;
        }
        receive_stamp(socket)
    }

    /// The copy of a datagram that [`RelayTimer::arrived`] timed has been sent.
    pub(super) fn sent(&self, arrived: Option<SystemTime>) {
        // A wall clock stepped back between the two reads gives no sample.
        if let Some(d) = arrived.and_then(|a| SystemTime::now().duration_since(a).ok()) {
            self.histogram.observe(d);
        }
    }
}

/// The kernel's receive time of the last datagram read from `socket`.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn receive_stamp(socket: &impl AsRawFd) -> Option<SystemTime> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: the descriptor is open (borrowed from a live socket) and `ts` is a valid,
    // writable timespec, which is what SIOCGSTAMPNS writes.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), SIOCGSTAMPNS, &mut ts) };
    if rc != 0 || ts.tv_sec <= 0 {
        return None;
    }
    let secs = u64::try_from(ts.tv_sec).ok()?;
    let nanos = u32::try_from(ts.tv_nsec).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn receive_stamp(_socket: &impl AsRawFd) -> Option<SystemTime> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn a_sampled_packet_is_timed_from_its_kernel_receive_stamp() {
        let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let to = rx.local_addr().expect("addr");
        let mut buf = [0u8; 16];
        // The first ask turns stamping on for the socket; the kernel switches receive time
        // stamps on for the whole host a moment later (a deferred work item), and until
        // then answers with the time of the ask. So a few packets may pass unstamped.
        tx.send_to(b"a", to).expect("send");
        rx.recv_from(&mut buf).expect("recv");
        let _ = receive_stamp(&rx);
        let mut ages = Vec::new();
        for _ in 0..20 {
            tx.send_to(b"b", to).expect("send");
            std::thread::sleep(Duration::from_millis(30));
            rx.recv_from(&mut buf).expect("recv");
            let stamp = receive_stamp(&rx).expect("a receive stamp");
            let age = SystemTime::now()
                .duration_since(stamp)
                .expect("stamp in the past");
            ages.push(age);
            // Stamped on arrival, not on reading: the 30 ms in the queue are part of it.
            if age >= Duration::from_millis(30) {
                break;
            }
        }
        let last = ages.last().copied().unwrap_or_default();
        assert!(last >= Duration::from_millis(30), "{ages:?}");
        assert!(last < Duration::from_secs(5), "{ages:?}");

        let h = Arc::new(Histogram::new(crate::metrics::histogram::RELAY_BOUNDS));
        let mut t = RelayTimer::new(Arc::clone(&h));
        for _ in 0..EVERY {
            tx.send_to(b"c", to).expect("send");
            rx.recv_from(&mut buf).expect("recv");
            let at = t.arrived(&rx);
            t.sent(at);
        }
        assert_eq!(h.count(), 1, "one packet in {EVERY} is timed");
    }
}
