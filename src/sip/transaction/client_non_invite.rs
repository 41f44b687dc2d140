//! Non-INVITE client transaction: RFC 3261 §17.1.2 (Figure 6).
//!
//! ```text
//!                               | request from TU
//!                               | request sent; E = T1 (unreliable only), F = 64*T1
//!        Timer E fires          V
//!        request re-sent  +-----------+  Timer F fires / Timeout to TU
//!        E = min(2*E, T2) |           |---------------------------------------+
//!          +--------------|  Trying   |                                       |
//!          +------------->|           |                                       |
//!                         +-----------+                                       |
//!          200-699 / to TU   |     | 1xx / to TU                              |
//!          +-----------------+     V                                          |
//!          |              +------------+  Timer F fires / Timeout to TU       |
//!          |              |            |------------------------------------->|
//!          |              | Proceeding |--+ Timer E fires: request re-sent,   |
//!          |              |            |<-+ E = T2;  1xx / to TU              |
//!          |              +------------+                                      |
//!          |  200-699 / to TU  |                                              |
//!          V                   V                                              |
//!     +-----------+ <----------+                                              |
//!  +--|           |                                                           |
//!  |  | Completed |  any response (retransmission) / absorbed                 |
//!  +->|           |                                                           |
//!     +-----------+                                                           |
//!           | Timer K fires (T4; 0 s if reliable)                             |
//!           V                                                                 |
//!     +-----------------------------------------------------------------+     |
//!     |                           Terminated                            |<----+
//!     +-----------------------------------------------------------------+
//!
//!     From every state but Terminated: transport error / TransportError to TU.
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Class, Core, Disposition, State, Timer, TimerConfig, Transaction, TxEvent};

/// A non-INVITE client transaction (RFC 3261 Figure 6).
#[derive(Debug)]
pub struct ClientNonInvite {
    core: Core,
    request: Arc<[u8]>,
    /// The interval Timer E was last armed with.
    e_interval: Duration,
}

impl ClientNonInvite {
    /// Starts the transaction in "Trying" and queues the first transmission of `request`.
    ///
    /// RFC 3261 §17.1.2.2: "The "Trying" state is entered when the TU initiates a new
    /// client transaction with a request. When entering this state, the client transaction
    /// SHOULD set timer F to fire in 64*T1 seconds. The request MUST be passed to the
    /// transport layer for transmission. If an unreliable transport is in use, the client
    /// transaction MUST set timer E to fire in T1 seconds."
    #[must_use]
    pub fn new(now: Instant, request: Arc<[u8]>, reliable: bool, cfg: TimerConfig) -> Self {
        let mut core = Core::new(State::Trying, reliable, cfg);
        core.transmit(&request);
        if !reliable {
            core.timers.arm(Timer::E, now, cfg.t1);
        }
        core.timers.arm(Timer::F, now, cfg.t1_x64());
        Self {
            core,
            request,
            e_interval: cfg.t1,
        }
    }

    /// A response matched to this transaction arrived with status code `status`. Status
    /// codes outside 100–699 are absorbed without a state change.
    pub fn handle_response(&mut self, now: Instant, status: u16) -> Disposition {
        match (self.core.state, Class::of(status)) {
            (_, Class::Invalid) => Disposition::Absorb,
            // RFC 3261 §17.1.2.2: "If a provisional response is received while in the
            // "Trying" state, the response MUST be passed to the TU, and then the client
            // transaction SHOULD move to the "Proceeding" state." Provisional responses in
            // "Proceeding" are passed up too (Figure 6: "1xx / resp. to TU").
            (State::Trying | State::Proceeding, Class::Provisional) => {
                self.core.state = State::Proceeding;
                Disposition::PassToTu
            }
            // RFC 3261 §17.1.2.2: "If a final response (status codes 200-699) is received
            // while in the "Trying" state [or the "Proceeding" state], the response MUST be
            // passed to the TU, and the client transaction MUST transition to the
            // "Completed" state." "Once the client transaction enters the "Completed"
            // state, it MUST set Timer K to fire in T4 seconds for unreliable transports,
            // and zero seconds for reliable transports."
            (State::Trying | State::Proceeding, Class::Success | Class::Failure) => {
                self.core.state = State::Completed;
                self.core.timers.clear(Timer::E);
                self.core.timers.clear(Timer::F);
                if self.core.reliable {
                    self.core.terminate(None);
                } else {
                    self.core.timers.arm(Timer::K, now, self.core.cfg.t4);
                }
                Disposition::PassToTu
            }
            // RFC 3261 §17.1.2.2: "The "Completed" state exists to buffer any additional
            // response retransmissions that may be received".
            _ => Disposition::Absorb,
        }
    }

    /// The transport failed to send the request (RFC 3261 §17.1.4).
    pub fn handle_transport_error(&mut self, _now: Instant) {
        self.core.transport_error();
    }

    /// The current state.
    #[must_use]
    pub fn state(&self) -> State {
        self.core.state
    }
}

impl Transaction for ClientNonInvite {
    /// Fires every timer due at `now`.
    fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.core.timers.pop_expired(now) {
            match (self.core.state, timer) {
                // RFC 3261 §17.1.2.2: "If timer E fires while still in this state, the
                // timer is reset, but this time with a value of MIN(2*T1, T2). When the
                // timer fires again, it is reset to a MIN(4*T1, T2)."
                (State::Trying, Timer::E) => {
                    self.core.transmit(&self.request);
                    self.e_interval = self.core.cfg.doubled_capped(self.e_interval);
                    self.core.timers.arm(Timer::E, now, self.e_interval);
                }
                // RFC 3261 §17.1.2.2: "If Timer E fires while in the "Proceeding" state,
                // the request MUST be passed to the transport layer for retransmission, and
                // Timer E MUST be reset with a value of T2 seconds."
                (State::Proceeding, Timer::E) => {
                    self.core.transmit(&self.request);
                    self.e_interval = self.core.cfg.t2;
                    self.core.timers.arm(Timer::E, now, self.e_interval);
                }
                // RFC 3261 §17.1.2.2: "If Timer F fires while the client transaction is
                // still in the "Trying" state, the client transaction SHOULD inform the TU
                // about the timeout, and then it SHOULD enter the "Terminated" state." The
                // same holds in "Proceeding".
                (State::Trying | State::Proceeding, Timer::F) => {
                    self.core.terminate(Some(TxEvent::Timeout));
                }
                // RFC 3261 §17.1.2.2: "If Timer K fires while in this state, the client
                // transaction MUST transition to the "Terminated" state."
                (State::Completed, Timer::K) => self.core.terminate(None),
                _ => {}
            }
        }
    }

    /// The next bytes to send to the transaction's peer.
    fn poll_transmit(&mut self) -> Option<Arc<[u8]>> {
        self.core.poll_transmit()
    }

    /// The next event for the TU.
    fn poll_event(&mut self) -> Option<TxEvent> {
        self.core.poll_event()
    }

    /// When [`Self::handle_timeout`] must next be called.
    fn poll_timeout(&self) -> Option<Instant> {
        self.core.poll_timeout()
    }

    fn is_terminated(&self) -> bool {
        self.core.state == State::Terminated
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{Log, bytes, drain, epoch, ms, run_until};
    use super::*;

    fn start(reliable: bool) -> (Instant, ClientNonInvite, Log) {
        let t0 = epoch();
        let mut tx = ClientNonInvite::new(t0, bytes("BYE"), reliable, TimerConfig::default());
        let mut log = Log::default();
        drain(&mut tx, t0, t0, &mut log);
        (t0, tx, log)
    }

    #[test]
    fn timer_e_doubles_capped_at_t2_until_timer_f_times_out_at_64_t1() {
        let (t0, mut tx, mut log) = start(false);
        run_until(&mut tx, t0, t0 + ms(60_000), &mut log);
        assert_eq!(
            log.sent_at(),
            [
                0, 500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500
            ],
            "RFC 3261 §17.1.2.2: E = T1, 2*T1, 4*T1, T2, T2, ..."
        );
        assert_eq!(
            log.events,
            [(32_000, TxEvent::Timeout), (32_000, TxEvent::Terminated)]
        );
        assert_eq!(tx.state(), State::Terminated);
    }

    #[test]
    fn in_proceeding_timer_e_fires_at_t2() {
        let (t0, mut tx, mut log) = start(false);
        run_until(&mut tx, t0, t0 + ms(600), &mut log);
        assert_eq!(tx.handle_response(t0 + ms(600), 100), Disposition::PassToTu);
        assert_eq!(tx.state(), State::Proceeding);
        run_until(&mut tx, t0, t0 + ms(60_000), &mut log);
        // The E armed in Trying (due at 1.5 s) fires in Proceeding and is reset to T2.
        assert_eq!(
            log.sent_at(),
            [
                0, 500, 1_500, 5_500, 9_500, 13_500, 17_500, 21_500, 25_500, 29_500
            ]
        );
        assert_eq!(
            log.events,
            [(32_000, TxEvent::Timeout), (32_000, TxEvent::Terminated)]
        );
    }

    #[test]
    fn provisional_then_final_completes_and_timer_k_is_t4() {
        let (t0, mut tx, mut log) = start(false);
        assert_eq!(tx.handle_response(t0 + ms(100), 180), Disposition::PassToTu);
        assert_eq!(tx.handle_response(t0 + ms(200), 183), Disposition::PassToTu);
        // Timer E (due at T1) still fires in Proceeding.
        run_until(&mut tx, t0, t0 + ms(1_000), &mut log);
        assert_eq!(tx.poll_timeout(), Some(t0 + ms(4_500)), "E reset to T2");
        assert_eq!(
            tx.handle_response(t0 + ms(1_000), 200),
            Disposition::PassToTu
        );
        assert_eq!(tx.state(), State::Completed);
        assert_eq!(tx.poll_timeout(), Some(t0 + ms(6_000)), "K = T4");
        // Retransmitted finals and late provisionals are absorbed.
        assert_eq!(tx.handle_response(t0 + ms(1_500), 200), Disposition::Absorb);
        assert_eq!(tx.handle_response(t0 + ms(1_600), 180), Disposition::Absorb);
        assert_eq!(tx.handle_response(t0 + ms(1_700), 500), Disposition::Absorb);
        run_until(&mut tx, t0, t0 + ms(60_000), &mut log);
        assert_eq!(log.sent_at(), [0, 500], "no retransmission after the final");
        assert_eq!(log.events, [(6_000, TxEvent::Terminated)]);
    }

    #[test]
    fn timer_k_is_zero_on_reliable_transport() {
        let (t0, mut tx, _) = start(true);
        assert_eq!(tx.poll_timeout(), Some(t0 + ms(32_000)), "only F is armed");
        assert_eq!(tx.handle_response(t0 + ms(50), 481), Disposition::PassToTu);
        assert_eq!(tx.state(), State::Terminated);
        assert_eq!(tx.poll_event(), Some(TxEvent::Terminated));
        assert_eq!(tx.poll_timeout(), None);
    }

    #[test]
    fn reliable_transport_has_no_timer_e_and_times_out_at_64_t1() {
        let (t0, mut tx, mut log) = start(true);
        run_until(&mut tx, t0, t0 + ms(60_000), &mut log);
        assert_eq!(log.sent_at(), [0]);
        assert_eq!(
            log.events,
            [(32_000, TxEvent::Timeout), (32_000, TxEvent::Terminated)]
        );
    }

    #[test]
    fn transport_error_terminates_and_informs_tu() {
        let (t0, mut tx, _) = start(false);
        tx.handle_transport_error(t0 + ms(10));
        assert_eq!(tx.state(), State::Terminated);
        assert_eq!(tx.poll_event(), Some(TxEvent::TransportError));
        assert_eq!(tx.poll_event(), Some(TxEvent::Terminated));
        assert_eq!(tx.handle_response(t0 + ms(20), 200), Disposition::Absorb);
    }
}
