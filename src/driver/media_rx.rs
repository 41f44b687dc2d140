//! The media receiver: one thread that takes in every call's RTP.
//!
//! Received RTP used to wake the call's task on the runtime: 50 wake-ups a second per leg,
//! each a task switch on a worker that SIP and the other calls' packets also wanted, which
//! at 500 bridged calls put 1.4 ms (median) between an operator's packet reaching the daemon
//! and its relayed copy leaving. Here one thread waits on every call's RTP sockets with
//! `epoll` (through `mio`) and, for each socket that is readable:
//!
//! ```text
//!   lock the call
//!   read datagrams until the socket is empty:
//!     caller leg:   bridged → relay to the operator, else → the core (DTMF, latching, stats)
//!     operator leg: relay to the caller
//!   publish the call's next deadline for the media clock (a key may start a prompt)
//!   unlock; wake the call's task only if SIP or plan work came out
//! ```
//!
//! With the media clock (`media_clock.rs`), which sends the paced frames, no RTP work is
//! left to the runtime: call tasks wake for SIP, the plan's results and the clock's or this
//! thread's news. The thread holds only weak references to the calls; a call whose task
//! ended is forgotten and its sockets closed at the latest one sweep later.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::UdpSocket;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use mio::net::UdpSocket as MioSocket;
use mio::{Events, Interest, Poll, Registry, Token, Waker};

use super::media_clock::CallSlot;
use super::relay_timer::RelayTimer;
use crate::media::bridge::{Relayed, Side};

/// The token of the waker that announces new sockets.
const WAKER: Token = Token(usize::MAX);

/// How often calls whose tasks ended are looked for when no packet comes.
const SWEEP: Duration = Duration::from_millis(200);

/// A datagram larger than this is not RTP we relay (a 20 ms G.711 packet is 172 bytes).
const MAX_DATAGRAM: usize = 2048;

/// What a call task hands the receiver.
enum Msg {
    /// A call's caller leg.
    Call {
        id: usize,
        slot: Weak<CallSlot>,
        socket: UdpSocket,
    },
    /// The operator leg of call `id`, once an operator answered (replacing the one before,
    /// after a transfer); its SRTP, if any, is in the call's slot.
    Operator { id: usize, socket: UdpSocket },
    /// Call `id` no longer relays (its operator passes it on): stop reading that leg.
    DropOperator { id: usize },
}

struct Inbox {
    msgs: Mutex<Vec<Msg>>,
    waker: Waker,
}

/// The receiver thread's handle; the thread stops once the last handle is dropped.
pub struct MediaRx {
    inbox: Arc<Inbox>,
    next_id: std::sync::atomic::AtomicUsize,
}

/// A call's registration with the receiver: names the call for its operator leg.
pub struct RxCall {
    id: usize,
}

impl MediaRx {
    /// Starts the receiver thread.
    /// Relay delays are observed into `relay` (see `relay_timer.rs`).
    pub fn start(relay: Arc<crate::metrics::histogram::Histogram>) -> std::io::Result<MediaRx> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let inbox = Arc::new(Inbox {
            msgs: Mutex::new(Vec::new()),
            waker,
        });
        let weak = Arc::downgrade(&inbox);
        std::thread::Builder::new()
            .name("media-rx".to_owned())
            .spawn(move || run(poll, &weak, RelayTimer::new(relay)))?;
        Ok(MediaRx {
            inbox,
            next_id: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// From now on the caller leg's RTP (`socket`, non-blocking) goes to `slot`'s call.
    pub fn add(&self, slot: &Arc<CallSlot>, socket: UdpSocket) -> RxCall {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.send(Msg::Call {
            id,
            slot: Arc::downgrade(slot),
            socket,
        });
        RxCall { id }
    }

    /// The call's operator leg (`socket`, non-blocking): relayed both ways from now on.
    pub fn add_operator(&self, call: &RxCall, socket: UdpSocket) {
        self.send(Msg::Operator {
            id: call.id,
            socket,
        });
    }

    /// The call's operator leg is no longer relayed (the caller is on hold for a transfer).
    pub fn drop_operator(&self, call: &RxCall) {
        self.send(Msg::DropOperator { id: call.id });
    }

    fn send(&self, msg: Msg) {
        match self.inbox.msgs.lock() {
            Ok(mut g) => g.push(msg),
            Err(p) => p.into_inner().push(msg),
        }
        // Only fails if the thread's poll is gone, and then there is nobody to tell.
        let _ = self.inbox.waker.wake();
    }
}

/// One call as the receiver holds it.
struct Entry {
    slot: Weak<CallSlot>,
    caller: MioSocket,
    /// The operator leg's socket; both legs' SRTP is in the slot, shared with the media
    /// clock.
    operator: Option<MioSocket>,
}

/// A leg's token: the call's id, times two, plus one for the operator leg.
fn token(id: usize, side: Side) -> Token {
    Token(id.wrapping_mul(2) | usize::from(side == Side::Operator))
}

/// The call and leg a token names.
fn leg(token: Token) -> (usize, Side) {
    let side = if token.0 & 1 == 0 {
        Side::Caller
    } else {
        Side::Operator
    };
    (token.0 / 2, side)
}

fn run(mut poll: Poll, inbox: &Weak<Inbox>, mut relay: RelayTimer) {
    let mut events = Events::with_capacity(1024);
    let mut calls: HashMap<usize, Entry> = HashMap::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut out = vec![0u8; MAX_DATAGRAM];
    let mut swept = Instant::now();
    // Legs with datagrams left after a full batch: read again before the next wait.
    let mut again: Vec<(usize, Side)> = Vec::new();
    let mut legs: Vec<(usize, Side)> = Vec::new();
    loop {
        let wait = if again.is_empty() {
            SWEEP
        } else {
            Duration::ZERO
        };
        if let Err(e) = poll.poll(&mut events, Some(wait)) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            tracing::error!("media receiver stopped: {e}");
            return;
        }
        // The legs to read this pass, in a buffer kept across passes (no allocation per wake).
        legs.clear();
        legs.append(&mut again);
        legs.extend(
            events
                .iter()
                .map(|e| e.token())
                .filter(|t| *t != WAKER)
                .map(leg),
        );
        for &(id, side) in &legs {
            let Some(entry) = calls.get_mut(&id) else {
                continue;
            };
            match take_in(entry, side, &mut buf, &mut out, &mut relay) {
                Taken::Drained => {}
                Taken::More => again.push((id, side)),
                Taken::Ended => forget(poll.registry(), &mut calls, id),
            }
        }
        // New sockets come with a wake-up; a pass without events (the sweep's timeout)
        // also finds out whether the daemon has let go of the receiver.
        if events.is_empty() || events.iter().any(|e| e.token() == WAKER) {
            let Some(inbox) = inbox.upgrade() else {
                return;
            };
            let msgs = match inbox.msgs.lock() {
                Ok(mut g) => std::mem::take(&mut *g),
                Err(p) => std::mem::take(&mut *p.into_inner()),
            };
            for msg in msgs {
                register(poll.registry(), &mut calls, msg);
            }
        }
        if swept.elapsed() >= SWEEP {
            swept = Instant::now();
            let ended: Vec<usize> = calls
                .iter()
                .filter(|(_, e)| e.slot.strong_count() == 0)
                .map(|(id, _)| *id)
                .collect();
            for id in ended {
                forget(poll.registry(), &mut calls, id);
            }
        }
    }
}

fn register(registry: &Registry, calls: &mut HashMap<usize, Entry>, msg: Msg) {
    match msg {
        Msg::Call { id, slot, socket } => {
            let mut caller = MioSocket::from_std(socket);
            if let Err(e) =
                registry.register(&mut caller, token(id, Side::Caller), Interest::READABLE)
            {
                tracing::error!("RTP socket not watched: {e}");
                return;
            }
            calls.insert(
                id,
                Entry {
                    slot,
                    caller,
                    operator: None,
                },
            );
        }
        Msg::Operator { id, socket } => {
            let Some(entry) = calls.get_mut(&id) else {
                return;
            };
            // The SIP task keeps a handle of the same socket: epoll forgets a socket only
            // when every descriptor of it is closed, so the old leg is taken out by hand.
            if let Some(mut old) = entry.operator.take() {
                let _ = registry.deregister(&mut old);
            }
            let mut op = MioSocket::from_std(socket);
            if let Err(e) =
                registry.register(&mut op, token(id, Side::Operator), Interest::READABLE)
            {
                tracing::error!("operator RTP socket not watched: {e}");
                return;
            }
            entry.operator = Some(op);
        }
        Msg::DropOperator { id } => {
            if let Some(mut old) = calls.get_mut(&id).and_then(|e| e.operator.take()) {
                let _ = registry.deregister(&mut old);
            }
        }
    }
}

fn forget(registry: &Registry, calls: &mut HashMap<usize, Entry>, id: usize) {
    if let Some(mut e) = calls.remove(&id) {
        let _ = registry.deregister(&mut e.caller);
        if let Some(op) = e.operator.as_mut() {
            let _ = registry.deregister(op);
        }
    }
}

/// What reading a socket came to.
enum Taken {
    /// The socket is empty: its next datagram brings a new readiness event.
    Drained,
    /// A full batch was read and more may wait: read again before sleeping.
    More,
    /// The call has ended.
    Ended,
}

/// Protects a relayed packet in place for a secure leg (`out` has room for the tag);
/// the length to send, `None` when it cannot be protected.
fn seal(srtp: Option<&mut crate::srtp::Session>, out: &mut [u8], len: usize) -> Option<usize> {
    match srtp {
        Some(s) => s.send.protect(out, len).ok(),
        None => Some(len),
    }
}

/// Datagrams read from one socket in one go, so one flooded port cannot hold up the
/// others (a call's own stream is one datagram per 20 ms).
const BATCH: usize = 64;

/// Reads what waits on one leg's socket (up to [`BATCH`]) and hands it to the call under
/// one lock.
fn take_in(
    entry: &mut Entry,
    side: Side,
    buf: &mut [u8],
    out: &mut [u8],
    relay: &mut RelayTimer,
) -> Taken {
    let Some(slot) = entry.slot.upgrade() else {
        return Taken::Ended;
    };
    let socket = match side {
        Side::Caller => &entry.caller,
        Side::Operator => match &entry.operator {
            Some(s) => s,
            None => return Taken::Drained,
        },
    };
    let mut call = slot.lock();
    // Taken with the call held, as the media clock does: never contended.
    let mut caller_srtp = slot.srtp();
    let mut operator = slot.operator();
    let mut taken = Taken::More;
    for _ in 0..BATCH {
        let (len, src) = match socket.recv_from(buf) {
            Ok(r) => r,
            // Readiness is edge-triggered: the socket is empty, the next datagram brings a
            // new event.
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                taken = Taken::Drained;
                break;
            }
            // An ICMP error for an earlier send (the far end's port closed): the datagrams
            // behind it still want reading.
            Err(_) => continue,
        };
        let now = Instant::now();
        // A secure leg's packets are checked and decrypted in place; a refused one (forged,
        // replayed, not SRTP) is dropped as if it never came.
        let receiving = match side {
            Side::Caller => caller_srtp.as_deref_mut(),
            Side::Operator => operator.srtp.as_deref_mut(),
        };
        let datagram: &[u8] = match receiving {
            Some(s) => match s.receive(&mut buf[..len]) {
                Some(d) => d,
                None => continue,
            },
            None => &buf[..len],
        };
        match side {
            Side::Caller if !call.is_bridged() => call.handle_rtp(now, src, datagram),
            Side::Caller => {
                let arrived = relay.arrived(socket);
                if let Relayed::Forward { dst, len } =
                    call.relay_rtp(now, Side::Caller, src, datagram, out)
                    && let Some(op) = &entry.operator
                    && let Some(len) = seal(operator.srtp.as_deref_mut(), out, len)
                {
                    // Non-blocking: a full buffer drops the datagram, as the network would.
                    let _ = op.send_to(&out[..len], dst);
                    relay.sent(arrived);
                }
            }
            Side::Operator => {
                let arrived = relay.arrived(socket);
                if let Relayed::Forward { dst, len } =
                    call.relay_rtp(now, Side::Operator, src, datagram, out)
                    && let Some(len) = seal(caller_srtp.as_deref_mut(), out, len)
                {
                    let _ = entry.caller.send_to(&out[..len], dst);
                    relay.sent(arrived);
                }
            }
        }
    }
    // `flush` takes the SRTP locks itself (it sends the call's own frames and music).
    drop(operator);
    drop(caller_srtp);
    slot.flush(&mut call);
    if call.has_pending() {
        slot.wake.notify_one();
    }
    taken
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::media_clock::MediaClock;

    fn rtp(seq: u16) -> Vec<u8> {
        let mut p = vec![0x80, 8];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
        p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
        p.extend_from_slice(&[0xD5; 160]);
        p
    }

    fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let until = Instant::now() + Duration::from_secs(5);
        while !done() {
            assert!(Instant::now() < until, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn rtp_reaches_the_call_and_an_ended_calls_port_is_released() {
        let clock = MediaClock::start().expect("clock");
        let media_rx = MediaRx::start(Arc::new(crate::metrics::histogram::Histogram::new(
            crate::metrics::histogram::RELAY_BOUNDS,
        )))
        .expect("receiver");
        let (call, _) = crate::call::tests::call(Instant::now(), None);
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket.set_nonblocking(true).expect("nonblocking");
        let port = socket.local_addr().expect("addr");
        let slot = clock.add(call, socket.try_clone().expect("clone"), None);
        let _registered = media_rx.add(&slot, socket);

        // Answered 500 ms in, by the clock; the answer is taken as the call's task would
        // hand it to SIP, and its frames start.
        wait_for("the call to be answered", || {
            let mut call = slot.lock();
            while let Some(cmd) = call.poll_command() {
                if matches!(cmd, crate::call::CallCommand::Answer { .. }) {
                    call.handle_input(Instant::now(), crate::call::CallInput::AnswerSent);
                }
            }
            slot.flush(&mut call);
            call.media_counts().sent > 0
        });
        let phone = UdpSocket::bind("127.0.0.1:0").expect("bind phone");
        for seq in 0..10 {
            phone.send_to(&rtp(seq), port).expect("send");
        }
        wait_for("10 packets counted by the call", || {
            slot.lock().media_counts().received == 10
        });

        // The call's task ends: its handle goes, and with it the clock's and the
        // receiver's hold on the socket, so the port can serve a later call.
        drop(slot);
        wait_for("the port to be free again", || {
            UdpSocket::bind(port).is_ok()
        });
    }
}
