//! INVITE client transaction: RFC 3261 §17.1.1 (Figure 5), with the "Accepted" state and
//! Timer M of RFC 6026 §7.2 and §8.4.
//!
//! ```text
//!                               | INVITE from TU
//!        Timer A fires          | INVITE sent; A = T1 (unreliable only), B = 64*T1
//!        INVITE re-sent         V
//!        A = 2*A          +-----------+  Timer B fires        / Timeout to TU
//!          +--------------|           |---------------------------------------------+
//!          |              |  Calling  |                                             |
//!          +------------->|           |---------------------------+                 |
//!                         +-----------+  2xx / to TU              |                 |
//!          300-699           |     |                              |                 |
//!          ACK sent, to TU   |     | 1xx / to TU                  |                 |
//!          +-----------------+     V                              V                 |
//!          |              +------------+  2xx / to TU       +-----------+           |
//!          |              | Proceeding |------------------->|           |--+ 2xx    |
//!          |              |            |--+ 1xx / to TU     | Accepted  |  | to TU  |
//!          |              +------------+<-+                 |           |<-+        |
//!          |  300-699        |    (no timer: the TU decides |           |           |
//!          |  ACK sent,      |     when to CANCEL)          +-----------+           |
//!          |  to TU          |                                    |                 |
//!          V                 V                                    | Timer M fires   |
//!     +-----------+ <--------+                                    | (64*T1)         |
//!  +--|           |                                               |                 |
//!  |  | Completed |  300-699 retransmitted / ACK re-sent, absorbed  |                 |
//!  +->|           |                                               |                 |
//!     +-----------+                                               |                 |
//!           | Timer D fires (max(32 s, 64*T1); 0 s if reliable)   |                 |
//!           V                                                     V                 |
//!     +-------------------------------------------------------------------+         |
//!     |                            Terminated                             |<--------+
//!     +-------------------------------------------------------------------+
//!
//!     From every state but Terminated: transport error / TransportError to TU.
//! ```
//!
//! The ACK for a 300–699 response belongs to this transaction (RFC 3261 §17.1.1.3) but is
//! built by the endpoint, which passes its bytes with the response; the machine re-sends
//! exactly those bytes for every retransmission of the final response. The ACK for a 2xx
//! is the UAC core's, not the transaction's: see [`super::uas_2xx`] for how the endpoint
//! re-sends it for each retransmitted 2xx that this machine passes up in "Accepted".

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Class, Core, Disposition, State, Timer, TimerConfig, Transaction, TxEvent};

/// An INVITE client transaction (RFC 3261 Figure 5 with RFC 6026 "Accepted").
#[derive(Debug)]
pub struct ClientInvite {
    core: Core,
    request: Arc<[u8]>,
    ack: Option<Arc<[u8]>>,
    /// The interval Timer A was last armed with.
    a_interval: Duration,
}

impl ClientInvite {
    /// Starts the transaction in "Calling" and queues the first transmission of `request`.
    ///
    /// RFC 3261 §17.1.1.2: "The client transaction MUST pass the request to the transport
    /// layer for transmission [...]. If an unreliable transport is being used, the client
    /// transaction MUST start timer A with a value of T1. If a reliable transport is being
    /// used, the client transaction SHOULD NOT start timer A [...]. For any transport, the
    /// client transaction MUST start timer B with a value of 64*T1 seconds".
    #[must_use]
    pub fn new(now: Instant, request: Arc<[u8]>, reliable: bool, cfg: TimerConfig) -> Self {
        let mut core = Core::new(State::Calling, reliable, cfg);
        core.transmit(&request);
        if !reliable {
            core.timers.arm(Timer::A, now, cfg.t1);
        }
        core.timers.arm(Timer::B, now, cfg.t1_x64());
        Self {
            core,
            request,
            ack: None,
            a_interval: cfg.t1,
        }
    }

    /// A response matched to this transaction arrived with status code `status`.
    ///
    /// For a 300–699 response `ack` carries the ACK the endpoint built for it (RFC 3261
    /// §17.1.1.3); the first one is kept and sent, and re-sent for each retransmission of
    /// the final response. With `None` the machine still moves to "Completed" but has
    /// nothing to send. `ack` is ignored for 1xx and 2xx. Status codes outside 100–699
    /// are absorbed without a state change.
    pub fn handle_response(
        &mut self,
        now: Instant,
        status: u16,
        ack: Option<Arc<[u8]>>,
    ) -> Disposition {
        let class = Class::of(status);
        match (self.core.state, class) {
            (_, Class::Invalid) | (State::Terminated, _) => Disposition::Absorb,

            // RFC 3261 §17.1.1.2: "If the client transaction receives a provisional
            // response while in the "Calling" state, it transitions to the "Proceeding"
            // state. In the "Proceeding" state, the client transaction SHOULD NOT
            // retransmit the request any longer. Furthermore, the provisional response
            // MUST be passed to the TU."
            (State::Calling | State::Proceeding, Class::Provisional) => {
                self.core.state = State::Proceeding;
                self.core.timers.clear(Timer::A);
                self.core.timers.clear(Timer::B);
                Disposition::PassToTu
            }

            // RFC 6026 §8.4: "If a 2xx response is received while the client INVITE state
            // machine is in the "Calling" or "Proceeding" states, it MUST transition to the
            // "Accepted" state, pass the 2xx response to the TU, and set Timer M to 64*T1."
            (State::Calling | State::Proceeding, Class::Success) => {
                self.core.state = State::Accepted;
                self.core.timers.clear(Timer::A);
                self.core.timers.clear(Timer::B);
                self.core.timers.arm(Timer::M, now, self.core.cfg.t1_x64());
                Disposition::PassToTu
            }

            // RFC 3261 §17.1.1.2: "When in either the "Calling" or "Proceeding" states,
            // reception of a response with status code from 300-699 MUST cause the client
            // transaction to transition to "Completed". The client transaction MUST pass
            // the received response up to the TU, and the client transaction MUST
            // generate an ACK request". Timer D: "at least 32 seconds for unreliable
            // transports, and a value of zero seconds for reliable transports".
            (State::Calling | State::Proceeding, Class::Failure) => {
                self.core.state = State::Completed;
                self.core.timers.clear(Timer::A);
                self.core.timers.clear(Timer::B);
                self.ack = ack;
                if let Some(ack) = &self.ack {
                    self.core.transmit(ack);
                }
                if self.core.reliable {
                    self.core.terminate(None);
                } else {
                    self.core.timers.arm(Timer::D, now, self.core.cfg.timer_d());
                }
                Disposition::PassToTu
            }

            // RFC 3261 §17.1.1.2: "Any retransmissions of the final response that are
            // received while in the "Completed" state MUST cause the ACK to be re-passed to
            // the transport layer for retransmission, but the newly received response MUST
            // NOT be passed up to the TU."
            (State::Completed, Class::Failure) => {
                if let Some(ack) = &self.ack {
                    self.core.transmit(ack);
                }
                Disposition::Absorb
            }

            // RFC 6026 §8.4: "Any 2xx responses that match this client transaction and that
            // are received while in the "Accepted" state MUST be passed up to the TU. The
            // client transaction MUST NOT generate an ACK to the 2xx response -- its
            // handling is delegated to the TU."
            (State::Accepted, Class::Success) => Disposition::PassToTu,

            // Anything else (a 1xx or 2xx after a 300-699, a 1xx or 300-699 after a 2xx)
            // contradicts the final response already delivered.
            _ => Disposition::Absorb,
        }
    }

    /// The transport failed to send the request or an ACK (RFC 3261 §17.1.4).
    pub fn handle_transport_error(&mut self, _now: Instant) {
        self.core.transport_error();
    }

    /// The current state.
    #[must_use]
    pub fn state(&self) -> State {
        self.core.state
    }
}

impl Transaction for ClientInvite {
    /// Fires every timer due at `now`.
    fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.core.timers.pop_expired(now) {
            match (self.core.state, timer) {
                // RFC 3261 §17.1.1.2: "When timer A fires, the client transaction MUST
                // retransmit the request by passing it to the transport layer, and MUST
                // reset the timer with a value of 2*T1." (and 4*T1, ... at each firing).
                (State::Calling, Timer::A) => {
                    self.core.transmit(&self.request);
                    self.a_interval = self.a_interval.saturating_mul(2);
                    self.core.timers.arm(Timer::A, now, self.a_interval);
                }
                // RFC 3261 §17.1.1.2: "If the client transaction is still in the "Calling"
                // state when timer B fires, the client transaction SHOULD inform the TU
                // that a timeout has occurred."
                (State::Calling, Timer::B) => self.core.terminate(Some(TxEvent::Timeout)),
                // RFC 3261 §17.1.1.2: "If timer D fires while the client transaction is in
                // the "Completed" state, the client transaction MUST move to the
                // "Terminated" state."
                (State::Completed, Timer::D) => self.core.terminate(None),
                // RFC 6026 §8.4: "If Timer M fires while the client INVITE transaction is
                // in the "Accepted" state, the client MUST transition to the "Terminated"
                // state."
                (State::Accepted, Timer::M) => self.core.terminate(None),
                // Transitions disarm the timers of the state they leave.
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

    fn start(reliable: bool) -> (Instant, ClientInvite, Log) {
        let t0 = epoch();
        let mut tx = ClientInvite::new(t0, bytes("INVITE"), reliable, TimerConfig::default());
        let mut log = Log::default();
        drain(&mut tx, t0, t0, &mut log);
        (t0, tx, log)
    }

    #[test]
    fn timer_a_doubles_from_t1_until_timer_b_times_out_at_64_t1() {
        let (t0, mut tx, mut log) = start(false);
        run_until(&mut tx, t0, t0 + ms(60_000), &mut log);
        assert_eq!(
            log.sent_at(),
            [0, 500, 1_500, 3_500, 7_500, 15_500, 31_500],
            "RFC 3261 §17.1.1.2: A = T1, 2*T1, 4*T1, ... until B"
        );
        assert!(log.sent.iter().all(|(_, b)| b == "INVITE"));
        assert_eq!(
            log.events,
            [(32_000, TxEvent::Timeout), (32_000, TxEvent::Terminated)]
        );
        assert_eq!(tx.state(), State::Terminated);
        assert_eq!(tx.poll_timeout(), None);
    }

    #[test]
    fn timer_a_scales_with_configured_t1() {
        let t0 = epoch();
        let cfg = TimerConfig {
            t1: ms(100),
            ..TimerConfig::default()
        };
        let mut tx = ClientInvite::new(t0, bytes("INVITE"), false, cfg);
        let mut log = Log::default();
        drain(&mut tx, t0, t0, &mut log);
        run_until(&mut tx, t0, t0 + ms(60_000), &mut log);
        assert_eq!(log.sent_at(), [0, 100, 300, 700, 1_500, 3_100, 6_300]);
        assert_eq!(log.events[0], (6_400, TxEvent::Timeout));
    }

    #[test]
    fn reliable_transport_sends_once_and_times_out_at_64_t1() {
        let (t0, mut tx, mut log) = start(true);
        run_until(&mut tx, t0, t0 + ms(60_000), &mut log);
        assert_eq!(
            log.sent_at(),
            [0],
            "RFC 3261 §17.1.1.2: no Timer A on reliable"
        );
        assert_eq!(
            log.events,
            [(32_000, TxEvent::Timeout), (32_000, TxEvent::Terminated)]
        );
    }

    #[test]
    fn provisional_stops_retransmissions_and_disarms_timer_b() {
        let (t0, mut tx, mut log) = start(false);
        run_until(&mut tx, t0, t0 + ms(700), &mut log);
        assert_eq!(
            tx.handle_response(t0 + ms(700), 100, None),
            Disposition::PassToTu
        );
        assert_eq!(tx.state(), State::Proceeding);
        assert_eq!(
            tx.handle_response(t0 + ms(900), 180, None),
            Disposition::PassToTu
        );
        assert_eq!(tx.poll_timeout(), None, "no timer in Proceeding");
        run_until(&mut tx, t0, t0 + ms(100_000), &mut log);
        assert_eq!(log.sent_at(), [0, 500]);
        assert!(log.events.is_empty());
        assert_eq!(tx.state(), State::Proceeding);
    }

    #[test]
    fn failure_final_sends_ack_absorbs_retransmissions_and_timer_d_is_32_s() {
        let (t0, mut tx, mut log) = start(false);
        assert_eq!(
            tx.handle_response(t0 + ms(200), 180, None),
            Disposition::PassToTu
        );
        let now = t0 + ms(1_000);
        assert_eq!(
            tx.handle_response(now, 486, Some(bytes("ACK"))),
            Disposition::PassToTu
        );
        assert_eq!(tx.state(), State::Completed);
        drain(&mut tx, t0, now, &mut log);
        // A retransmitted 486 re-sends the same ACK; the endpoint supplies a fresh one
        // that must be ignored.
        assert_eq!(
            tx.handle_response(t0 + ms(2_000), 486, Some(bytes("OTHER"))),
            Disposition::Absorb
        );
        drain(&mut tx, t0, t0 + ms(2_000), &mut log);
        assert_eq!(
            tx.handle_response(t0 + ms(2_100), 200, None),
            Disposition::Absorb
        );
        assert_eq!(
            tx.handle_response(t0 + ms(2_200), 180, None),
            Disposition::Absorb
        );
        assert_eq!(tx.poll_timeout(), Some(now + ms(32_000)));
        run_until(&mut tx, t0, t0 + ms(100_000), &mut log);
        assert_eq!(
            log.sent,
            [
                (0, "INVITE".to_owned()),
                (1_000, "ACK".to_owned()),
                (2_000, "ACK".to_owned())
            ]
        );
        assert_eq!(log.events, [(33_000, TxEvent::Terminated)]);
    }

    #[test]
    fn failure_final_in_calling_also_completes() {
        let (t0, mut tx, _) = start(false);
        assert_eq!(
            tx.handle_response(t0 + ms(100), 503, Some(bytes("ACK"))),
            Disposition::PassToTu
        );
        assert_eq!(tx.state(), State::Completed);
        assert_eq!(tx.poll_transmit().as_deref(), Some(&b"ACK"[..]));
    }

    #[test]
    fn timer_d_is_zero_on_reliable_transport_but_the_ack_is_still_sent() {
        let (t0, mut tx, _) = start(true);
        assert_eq!(
            tx.handle_response(t0 + ms(300), 404, Some(bytes("ACK"))),
            Disposition::PassToTu
        );
        assert_eq!(tx.state(), State::Terminated);
        assert_eq!(tx.poll_transmit().as_deref(), Some(&b"ACK"[..]));
        assert_eq!(tx.poll_event(), Some(TxEvent::Terminated));
        assert_eq!(tx.poll_timeout(), None);
    }

    #[test]
    fn rfc6026_2xx_moves_to_accepted_and_passes_every_2xx_for_timer_m() {
        let (t0, mut tx, mut log) = start(false);
        run_until(&mut tx, t0, t0 + ms(600), &mut log);
        let now = t0 + ms(600);
        assert_eq!(
            tx.handle_response(now, 200, Some(bytes("IGNORED"))),
            Disposition::PassToTu
        );
        assert_eq!(tx.state(), State::Accepted);
        assert_eq!(
            tx.poll_transmit(),
            None,
            "the 2xx ACK is the TU's, not ours"
        );
        // Retransmitted 2xx and 2xx from another fork go up too.
        assert_eq!(
            tx.handle_response(t0 + ms(1_100), 200, None),
            Disposition::PassToTu
        );
        assert_eq!(
            tx.handle_response(t0 + ms(1_200), 202, None),
            Disposition::PassToTu
        );
        assert_eq!(
            tx.handle_response(t0 + ms(1_300), 180, None),
            Disposition::Absorb
        );
        assert_eq!(
            tx.handle_response(t0 + ms(1_400), 486, None),
            Disposition::Absorb
        );
        assert_eq!(tx.poll_transmit(), None);
        assert_eq!(tx.poll_timeout(), Some(now + ms(32_000)), "Timer M = 64*T1");
        run_until(&mut tx, t0, t0 + ms(100_000), &mut log);
        assert_eq!(log.sent_at(), [0, 500], "no retransmission after 2xx");
        assert_eq!(log.events, [(32_600, TxEvent::Terminated)]);
        assert_eq!(
            tx.handle_response(t0 + ms(40_000), 200, None),
            Disposition::Absorb
        );
    }

    #[test]
    fn timer_m_applies_on_reliable_transport_too() {
        let (t0, mut tx, _) = start(true);
        assert_eq!(tx.handle_response(t0, 200, None), Disposition::PassToTu);
        assert_eq!(tx.poll_timeout(), Some(t0 + ms(32_000)));
    }

    #[test]
    fn invalid_status_codes_are_absorbed_without_state_change() {
        let (t0, mut tx, _) = start(false);
        assert_eq!(tx.handle_response(t0, 99, None), Disposition::Absorb);
        assert_eq!(tx.handle_response(t0, 700, None), Disposition::Absorb);
        assert_eq!(tx.state(), State::Calling);
    }

    #[test]
    fn transport_error_terminates_and_informs_tu() {
        let t0 = epoch();
        let mut tx = ClientInvite::new(t0, bytes("INVITE"), false, TimerConfig::default());
        tx.handle_transport_error(t0);
        assert_eq!(tx.state(), State::Terminated);
        assert_eq!(tx.poll_transmit(), None, "queued bytes are dropped");
        assert_eq!(tx.poll_event(), Some(TxEvent::TransportError));
        assert_eq!(tx.poll_event(), Some(TxEvent::Terminated));
        assert_eq!(tx.poll_event(), None);
        assert_eq!(tx.poll_timeout(), None);
        tx.handle_transport_error(t0);
        assert_eq!(tx.poll_event(), None, "Terminated is reported once");
    }
}
