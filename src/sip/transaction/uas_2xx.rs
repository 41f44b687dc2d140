//! The UAS core's 2xx retransmitter: RFC 3261 §13.3.1.4, as amended by RFC 6026.
//!
//! A 2xx to an INVITE is not retransmitted by the server transaction (which moves to
//! "Accepted" and leaves it to the TU, RFC 6026 §8.7). The UAS core does it:
//!
//! RFC 3261 §13.3.1.4: "The 2xx response is passed to the transport with an interval that
//! starts at T1 seconds and doubles for each retransmission until it reaches T2 seconds
//! [...]. Response retransmissions cease when an ACK request for the response is received.
//! This is independent of the transport protocol used to send the response." and "If the
//! server retransmits the 2xx response for 64*T1 seconds without receiving an ACK, the
//! dialog is confirmed, but the session SHOULD be terminated. This is accomplished with a
//! BYE".
//!
//! ```text
//!              | 2xx sent by the server INVITE transaction
//!              | Retransmit2xx = T1, GiveUp2xx = 64*T1
//!              V
//!     +----------------+  Retransmit2xx fires: 2xx re-sent,
//!     |                |--+ Retransmit2xx = min(2*interval, T2)
//!     | Retransmitting |<-+
//!     |                |
//!     +----------------+
//!       |            |
//!       | ACK        | GiveUp2xx fires
//!       | to TU      | AckNotReceived to TU (send BYE)
//!       V            V
//!  +-----------+ +---------+
//!  | Confirmed | | GaveUp  |    both: Terminated event; later ACKs absorbed
//!  +-----------+ +---------+
//! ```
//!
//! With the default timers the 2xx goes out at 0 (by the transaction), then at 0.5, 1.5,
//! 3.5, 7.5, 11.5, 15.5, ..., 31.5 s, and the retransmitter gives up at 32 s. Because the
//! RFC makes this independent of the transport, there is no `reliable` flag: a 2xx sent
//! over TCP may still cross a UDP hop further on.
//!
//! # How the endpoint uses it
//!
//! 1. The TU's 2xx goes out once through [`super::ServerInvite::send_response`]; then the
//!    endpoint starts [`Uas2xxRetransmitter::new`] with the same bytes and `now`, keyed by
//!    the dialog (Call-ID, tags) and CSeq number of the INVITE.
//! 2. Bytes from [`Uas2xxRetransmitter::poll_transmit`] go to the same destination as the
//!    2xx (RFC 3261 §18.2.2). While the server transaction is "Accepted" the endpoint may
//!    route them through `ServerInvite::send_response(now, status, bytes)`, which only
//!    passes them on; after Timer L the transaction is gone and they go straight to the
//!    transport. Both give the same bytes on the wire.
//! 3. An ACK whose dialog and CSeq number match goes to [`Uas2xxRetransmitter::handle_ack`]
//!    whether the server transaction passed it up ("Accepted", RFC 6026 §8.7) or no
//!    transaction matched it. The first ACK is passed to the TU (it may carry the SDP
//!    answer); ACKs for later retransmissions are absorbed.
//! 4. On [`super::TxEvent::AckNotReceived`] the TU sends BYE.
//!
//! # The UAC side: an ACK for every 2xx (RFC 3261 §13.2.2.4)
//!
//! RFC 3261 §13.2.2.4: "The UAC core MUST generate an ACK request for each 2xx received
//! from the transaction layer." and "The ACK MUST be passed to the client transport
//! every time a retransmission of the 2xx final response that triggered the ACK arrives."
//! That ACK is not part of any transaction, so no machine here stores it. The endpoint:
//!
//! - builds the ACK for the first 2xx of a dialog and keeps its bytes with the dialog,
//!   keyed by the INVITE's CSeq number;
//! - while [`super::ClientInvite`] is "Accepted" it passes every 2xx up
//!   ([`super::Disposition::PassToTu`], RFC 6026 §8.4); the endpoint sees that the dialog
//!   already has an ACK for that CSeq and re-sends the kept bytes to the transport instead
//!   of giving the TU a second "answered" (a 2xx from a different fork makes a new dialog
//!   and gets its own ACK);
//! - keeps the ACK bytes at least until Timer M (64*T1) ends the client transaction, which
//!   is the whole window in which this retransmitter can send the 2xx.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Disposition, Timer, TimerConfig, TimerTable, Transaction, TxEvent};

/// Where a [`Uas2xxRetransmitter`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Uas2xxState {
    /// Re-sending the 2xx until an ACK arrives.
    Retransmitting,
    /// The ACK arrived; nothing more to send.
    Confirmed,
    /// 64*T1 passed without an ACK; the TU was told to send BYE.
    GaveUp,
}

/// Retransmits a 2xx to an INVITE until its ACK arrives (RFC 3261 §13.3.1.4).
#[derive(Debug)]
pub struct Uas2xxRetransmitter {
    state: Uas2xxState,
    cfg: TimerConfig,
    response: Arc<[u8]>,
    timers: TimerTable,
    /// The interval Timer Retransmit2xx was last armed with.
    interval: Duration,
    pending: Option<Arc<[u8]>>,
    events: [Option<TxEvent>; 2],
}

impl Uas2xxRetransmitter {
    /// Starts retransmitting `response`, a 2xx that was sent once at `now` by the server
    /// INVITE transaction. Nothing is queued now; the first retransmission is at `now + T1`.
    #[must_use]
    pub fn new(now: Instant, response: Arc<[u8]>, cfg: TimerConfig) -> Self {
        let mut timers = TimerTable::default();
        timers.arm(Timer::Retransmit2xx, now, cfg.t1);
        timers.arm(Timer::GiveUp2xx, now, cfg.t1_x64());
        Self {
            state: Uas2xxState::Retransmitting,
            cfg,
            response,
            timers,
            interval: cfg.t1,
            pending: None,
            events: [None, None],
        }
    }

    /// An ACK for the 2xx arrived. The first is passed to the TU and stops the
    /// retransmissions; later ones (the UAC acknowledges every copy it gets) are absorbed.
    ///
    /// RFC 3261 §13.3.1.4: "Response retransmissions cease when an ACK request for the
    /// response is received."
    pub fn handle_ack(&mut self, _now: Instant) -> Disposition {
        if self.state != Uas2xxState::Retransmitting {
            return Disposition::Absorb;
        }
        self.state = Uas2xxState::Confirmed;
        self.timers.clear_all();
        self.pending = None;
        self.events = [Some(TxEvent::Terminated), None];
        Disposition::PassToTu
    }

    /// The current state.
    #[must_use]
    pub fn state(&self) -> Uas2xxState {
        self.state
    }
}

impl Transaction for Uas2xxRetransmitter {
    /// Fires every timer due at `now`.
    fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_expired(now) {
            match timer {
                Timer::Retransmit2xx => {
                    self.pending = Some(Arc::clone(&self.response));
                    self.interval = self.cfg.doubled_capped(self.interval);
                    self.timers.arm(Timer::Retransmit2xx, now, self.interval);
                }
                Timer::GiveUp2xx => {
                    self.state = Uas2xxState::GaveUp;
                    self.timers.clear_all();
                    self.events = [Some(TxEvent::AckNotReceived), Some(TxEvent::Terminated)];
                }
                _ => {}
            }
        }
    }

    /// The 2xx bytes to send again, if a retransmission is due.
    fn poll_transmit(&mut self) -> Option<Arc<[u8]>> {
        self.pending.take()
    }

    /// [`TxEvent::AckNotReceived`] (then [`TxEvent::Terminated`]) on giving up;
    /// [`TxEvent::Terminated`] alone after the ACK.
    fn poll_event(&mut self) -> Option<TxEvent> {
        let first = self.events[0].take();
        self.events = [self.events[1].take(), None];
        first
    }

    /// When [`Self::handle_timeout`] must next be called.
    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// Confirmed or gave up: either way nothing is retransmitted any more.
    fn is_terminated(&self) -> bool {
        self.state != Uas2xxState::Retransmitting
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{Log, bytes, drain, epoch, ms, run_until};
    use super::*;

    fn start(cfg: TimerConfig) -> (Instant, Uas2xxRetransmitter, Log) {
        let t0 = epoch();
        let mut r = Uas2xxRetransmitter::new(t0, bytes("200"), cfg);
        let mut log = Log::default();
        drain(&mut r, t0, t0, &mut log);
        (t0, r, log)
    }

    #[test]
    fn retransmits_2xx_from_t1_doubling_capped_at_t2_and_gives_up_at_64_t1() {
        let (t0, mut r, mut log) = start(TimerConfig::default());
        assert!(log.sent.is_empty(), "the first 2xx is the transaction's");
        run_until(&mut r, t0, t0 + ms(100_000), &mut log);
        assert_eq!(
            log.sent_at(),
            [
                500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500
            ],
            "RFC 3261 §13.3.1.4: T1, 2*T1, 4*T1, T2, T2, ..."
        );
        assert!(log.sent.iter().all(|(_, b)| b == "200"));
        assert_eq!(
            log.events,
            [
                (32_000, TxEvent::AckNotReceived),
                (32_000, TxEvent::Terminated)
            ]
        );
        assert_eq!(r.state(), Uas2xxState::GaveUp);
        assert_eq!(r.poll_timeout(), None);
        assert_eq!(r.handle_ack(t0 + ms(33_000)), Disposition::Absorb);
    }

    #[test]
    fn schedule_follows_configured_t1_and_t2() {
        let cfg = TimerConfig {
            t1: ms(100),
            t2: ms(1_000),
            t4: ms(5_000),
        };
        let (t0, mut r, mut log) = start(cfg);
        run_until(&mut r, t0, t0 + ms(100_000), &mut log);
        assert_eq!(
            log.sent_at(),
            [100, 300, 700, 1_500, 2_500, 3_500, 4_500, 5_500]
        );
        assert_eq!(log.events[0], (6_400, TxEvent::AckNotReceived));
    }

    #[test]
    fn stops_on_ack_and_absorbs_later_acks() {
        let (t0, mut r, mut log) = start(TimerConfig::default());
        run_until(&mut r, t0, t0 + ms(2_000), &mut log);
        assert_eq!(r.handle_ack(t0 + ms(2_000)), Disposition::PassToTu);
        drain(&mut r, t0, t0 + ms(2_000), &mut log);
        assert_eq!(r.state(), Uas2xxState::Confirmed);
        assert_eq!(r.poll_timeout(), None);
        assert_eq!(r.handle_ack(t0 + ms(2_100)), Disposition::Absorb);
        run_until(&mut r, t0, t0 + ms(100_000), &mut log);
        assert_eq!(log.sent_at(), [500, 1_500]);
        assert_eq!(log.events, [(2_000, TxEvent::Terminated)]);
    }

    #[test]
    fn ack_cancels_a_retransmission_that_was_due_but_not_yet_sent() {
        let (t0, mut r, _) = start(TimerConfig::default());
        r.handle_timeout(t0 + ms(500));
        assert_eq!(r.handle_ack(t0 + ms(500)), Disposition::PassToTu);
        assert_eq!(r.poll_transmit(), None);
    }
}
