//! The media clock: one thread that runs every call's timers and sends its paced frames.
//!
//! A call's outgoing stream is a packet every 20 ms. With a timer per call task, 1,000 calls
//! meant 50,000 task wake-ups a second on the runtime's worker threads, each rounded up to
//! the runtime's 1 ms timer tick and served whenever a worker got to it, so frames left in
//! late bunches under load. Here one thread does the paced work for every call instead:
//!
//! ```text
//!   grid: BASE + k × 1 ms                 (absolute; a late wake never shifts the grid)
//!   each tick k:   t = BASE + k ms        (the grid instant, the same for every call)
//!     for every call whose next deadline ≤ t:
//!        lock the call, handle_timeout(t), send its frames from the call's own RTP port,
//!        publish its next deadline, wake its task only if SIP or plan work came out
//!     sleep until BASE + (k+1) ms
//! ```
//!
//! A call is answered inside a tick, and its stream starts inside a later one: the first
//! tick after its task handed the 200 OK to SIP, with frame 0 due one frame interval after
//! that tick, so the 200 OK leaves first (see `call.rs`). Its pacer's epoch (and every later
//! frame deadline, epoch + n × 20 ms) therefore lies on the grid, and the frame is sent at
//! the tick it is due: the inter-packet gap at the receiver is 20 ms plus only this thread's
//! wake-up jitter.
//!
//! Received RTP and relaying are the media receiver's (`media_rx.rs`); the call task
//! (`call_task.rs`) keeps SIP inputs and the results of forms. All three share the [`Call`]
//! through a mutex that none holds for more than one step of the core, and each publishes
//! the call's next deadline after its step, so an earlier deadline (a new prompt after a
//! key press) is seen by the next tick.
//!
//! Frames go out with a non-blocking `send_to` on a clone of the call's socket (music on
//! hold for a held operator on a clone of the operator leg's): each call
//! sends from its own port (symmetric RTP), so there is no batch to hand to `sendmmsg`,
//! which sends on one socket. A full socket buffer drops the frame, as a late frame would be.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::call::Call;

/// The grid step. Frame deadlines are whole milliseconds apart from the epoch, so a 1 ms grid
/// sends each frame at the tick it falls due.
const TICK_MS: u64 = 1;

/// Where the grid starts; deadlines are stored as nanoseconds after it.
static BASE: LazyLock<Instant> = LazyLock::new(Instant::now);

/// No deadline.
const NEVER: u64 = u64::MAX;

/// The largest frame the clock protects with SRTP, tag included (a 20 ms G.711 frame is
/// 172 octets).
const SEALED_MAX: usize = 1500;

fn to_nanos(t: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(*BASE).as_nanos()).unwrap_or(NEVER - 1)
}

/// A bridged call's operator leg as the media clock and the media receiver share it.
#[derive(Default)]
pub struct OperatorLeg {
    /// A clone of the socket the media receiver reads: music on hold goes out from it when
    /// the caller holds the call.
    pub socket: Option<UdpSocket>,
    /// The leg's SRTP (an operator rung over TLS): relayed packets and music alike are
    /// protected with it, so its packet index runs on across both.
    pub srtp: Option<Box<crate::srtp::Session>>,
}

/// One call as both its task and the media clock see it.
pub struct CallSlot {
    call: Mutex<Call>,
    /// The call's next deadline in nanoseconds after [`BASE`], [`NEVER`] for none.
    deadline: AtomicU64,
    /// The caller leg's RTP socket (a clone of the one the call task reads).
    socket: UdpSocket,
    /// The caller leg's SRTP (a call over TLS with SDES keys): frames are protected before
    /// they leave, by this clock and by the media receiver's relay alike. Only ever locked
    /// with the call held, so never contended.
    srtp: Mutex<Option<Box<crate::srtp::Session>>>,
    /// The operator leg while bridged, for music on hold when the caller holds the call;
    /// its SRTP serves the media receiver's relay too. Locked only with the call held,
    /// after `srtp`.
    operator: Mutex<OperatorLeg>,
    /// Wakes the call task when a tick left SIP commands, log events, requests or an outcome.
    pub wake: Notify,
}

impl CallSlot {
    /// The call, for one step of the core. A panic while it was held cannot leave the
    /// core half-updated in a way worse than ending the call, which the task then does.
    pub fn lock(&self) -> MutexGuard<'_, Call> {
        match self.call.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Sends the call's queued frames and publishes its next deadline; call after every
    /// step of the core, with the guard still held. The published deadline is therefore
    /// exact for whoever holds the lock.
    pub fn flush(&self, call: &mut Call) {
        let mut srtp = self.srtp();
        // Room for a frame and its tag, on the stack: protecting allocates nothing.
        let mut sealed = [0u8; SEALED_MAX];
        while let Some((dst, frame)) = call.poll_rtp() {
            let bytes: &[u8] = match srtp.as_mut() {
                Some(s) => match s.send(&frame, &mut sealed) {
                    Some(b) => b,
                    None => continue,
                },
                None => &frame,
            };
            // A failed send (buffer full, ICMP unreachable reported late) must not end the
            // call: the caller may be behind a NAT that is still opening.
            let _ = self.socket.send_to(bytes, dst);
        }
        if let Some(first) = call.poll_operator_rtp() {
            let mut operator = self.operator();
            let leg = &mut *operator;
            let mut next = Some(first);
            while let Some((dst, frame)) = next {
                let bytes: Option<&[u8]> = match leg.srtp.as_mut() {
                    Some(s) => s.send(&frame, &mut sealed),
                    None => Some(&frame),
                };
                if let (Some(socket), Some(bytes)) = (&leg.socket, bytes) {
                    let _ = socket.send_to(bytes, dst);
                }
                next = call.poll_operator_rtp();
            }
        }
        let next = call.poll_timeout().map_or(NEVER, to_nanos);
        self.deadline.store(next, Ordering::Release);
    }

    /// The caller leg's SRTP; lock it only with the call held.
    pub fn srtp(&self) -> MutexGuard<'_, Option<Box<crate::srtp::Session>>> {
        match self.srtp.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The operator leg, once an operator answered (the default, none, once the relay
    /// stops).
    pub fn set_operator(&self, leg: OperatorLeg) {
        *self.operator() = leg;
    }

    /// The operator leg; lock it only with the call held, after [`CallSlot::srtp`].
    pub fn operator(&self) -> MutexGuard<'_, OperatorLeg> {
        match self.operator.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Runs the call's deadline if it is still due at `at` (`due` in nanoseconds).
    fn tick(&self, at: Instant, due: u64) {
        let mut call = self.lock();
        // Read again under the lock: the call task may have stepped the core meanwhile.
        if self.deadline.load(Ordering::Acquire) <= due {
            call.handle_timeout(at);
        }
        self.flush(&mut call);
        if call.has_pending() {
            self.wake.notify_one();
        }
    }
}

struct Inner {
    /// Slots added since the clock last looked.
    inbox: Mutex<Vec<Arc<CallSlot>>>,
}

/// The clock thread's handle; the thread stops once the last handle is dropped.
pub struct MediaClock {
    inner: Arc<Inner>,
}

impl MediaClock {
    /// Starts the clock thread.
    pub fn start() -> std::io::Result<MediaClock> {
        LazyLock::force(&BASE);
        let inner = Arc::new(Inner {
            inbox: Mutex::new(Vec::new()),
        });
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("media-clock".to_owned())
            .spawn(move || run(&weak))?;
        Ok(MediaClock { inner })
    }

    /// Hands a call to the clock; its deadlines are served from the next tick on.
    pub fn add(
        &self,
        call: Call,
        socket: UdpSocket,
        srtp: Option<Box<crate::srtp::Session>>,
    ) -> Arc<CallSlot> {
        let slot = Arc::new(CallSlot {
            call: Mutex::new(call),
            deadline: AtomicU64::new(NEVER),
            socket,
            srtp: Mutex::new(srtp),
            operator: Mutex::new(OperatorLeg::default()),
            wake: Notify::new(),
        });
        {
            let mut call = slot.lock();
            slot.flush(&mut call);
        }
        match self.inner.inbox.lock() {
            Ok(mut g) => g.push(Arc::clone(&slot)),
            Err(p) => p.into_inner().push(Arc::clone(&slot)),
        }
        slot
    }
}

fn run(inner: &Weak<Inner>) {
    let mut calls: Vec<Arc<CallSlot>> = Vec::new();
    let mut k = tick_index(Instant::now());
    loop {
        {
            let Some(inner) = inner.upgrade() else {
                return;
            };
            match inner.inbox.lock() {
                Ok(mut g) => calls.append(&mut g),
                Err(p) => calls.append(&mut p.into_inner()),
            }
        }
        let at = grid(k);
        let due = to_nanos(at);
        // A call whose task has ended (and dropped its handle) is forgotten.
        calls.retain(|slot| Arc::strong_count(slot) > 1);
        for slot in &calls {
            if slot.deadline.load(Ordering::Acquire) <= due {
                slot.tick(at, due);
            }
        }
        // Sleep to the next grid instant. After a late wake-up the missed ticks are not run
        // one by one: the latest grid instant serves everything that fell due meanwhile.
        let next = k + 1;
        let now = Instant::now();
        if tick_index(now) < next {
            std::thread::sleep(grid(next).saturating_duration_since(now));
        }
        k = next.max(tick_index(Instant::now()));
    }
}

/// The grid instant of tick `k`.
fn grid(k: u64) -> Instant {
    *BASE + Duration::from_millis(k.saturating_mul(TICK_MS))
}

/// The last grid tick at or before `t`.
fn tick_index(t: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(*BASE).as_millis())
        .map_or(u64::MAX, |ms| ms / TICK_MS)
}
