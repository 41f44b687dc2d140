//! INVITE server transaction: RFC 3261 §17.2.1 (Figure 7), with the "Accepted" state and
//! Timer L of RFC 6026 §7.1 and §8.7.
//!
//! ```text
//!                                | INVITE from the network (endpoint passes it to TU)
//!                                | Trying100 = 200 ms
//!     INVITE retransmission      V
//!     last 1xx re-sent      +------------+  1xx from TU / sent
//!     (100 if none yet)     |            |<-+
//!          +----------------| Proceeding |--+  Trying100 fires: 100 (Trying) sent
//!          +--------------->|            |
//!                           +------------+
//!          300-699 from TU     |      | 2xx from TU / sent; L = 64*T1
//!          sent; G = T1        |      +-------------------------------+
//!          (unreliable only),  |                                      |
//!          H = 64*T1           V                                      V
//!                         +-----------+                         +-----------+
//!     Timer G fires  +----|           |  Timer H fires          |           |--+ 2xx from TU
//!     final re-sent, |    | Completed |  AckTimeout to TU       |           |<-+ / sent
//!     G=min(2*G, T2) +--->|           |-----------+             | Accepted  |--+ ACK
//!     INVITE / final      +-----------+           |             |           |<-+ / to TU
//!     re-sent                   |                 |             |           |--+ INVITE
//!                               | ACK / absorbed  |             +-----------+<-+ / absorbed
//!                               V                 |                   |
//!                         +-----------+           |                   | Timer L fires
//!            ACK   +------|           |           |                   |
//!       absorbed   |      | Confirmed |           |                   |
//!                  +----->|           |           |                   |
//!                         +-----------+           |                   |
//!                               | Timer I fires   |                   |
//!                               | (T4; 0 s if     |                   |
//!                               |  reliable)      |                   |
//!                               V                 V                   V
//!                         +------------------------------------------------+
//!                         |                   Terminated                   |
//!                         +------------------------------------------------+
//!
//!     From every state but Terminated: transport error / TransportError to TU.
//! ```
//!
//! # 100 (Trying)
//!
//! RFC 3261 §17.2.1: "The server transaction MUST generate a 100 (Trying) response unless
//! it knows that the TU will generate a provisional or final response within 200 ms, in
//! which case it MAY generate a 100 (Trying) response." The machine cannot know what the
//! TU will do, so it arms `Timer::Trying100` for [`super::TRYING_DELAY`] (200 ms): if the
//! TU has sent no response by then, the machine sends the 100 itself. The endpoint builds
//! the 100's bytes up front (it has the request at hand) and passes them to
//! [`ServerInvite::new`]; a TU that answers within 200 ms never causes a 100 to be sent.
//! A request retransmission that arrives before any response also sends the 100 at once,
//! since it shows that the client is already retransmitting.
//!
//! # 2xx
//!
//! RFC 6026 §8.7: the 2xx is sent once by the transaction, which moves to "Accepted";
//! retransmissions of the 2xx are the UAS core's job ([`super::uas_2xx`]). The endpoint
//! may pass them through [`ServerInvite::send_response`] while the machine is in
//! "Accepted", or send them straight to the transport; either way this machine keeps no
//! retransmission timer of its own for a 2xx.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{
    Class, Core, Disposition, State, TRYING_DELAY, Timer, TimerConfig, Transaction, TxError,
    TxEvent,
};

/// An INVITE server transaction (RFC 3261 Figure 7 with RFC 6026 "Accepted").
#[derive(Debug)]
pub struct ServerInvite {
    core: Core,
    trying: Arc<[u8]>,
    /// The response re-sent for a request retransmission and by Timer G.
    last_response: Option<Arc<[u8]>>,
    /// The interval Timer G was last armed with.
    g_interval: Duration,
}

impl ServerInvite {
    /// Starts the transaction in "Proceeding" for an INVITE that has just arrived (the
    /// endpoint passes the request to the TU itself). `trying` is the encoded 100 (Trying)
    /// response to send if the TU stays silent for 200 ms.
    ///
    /// RFC 3261 §17.2.1: "When a server transaction is constructed for a request, it
    /// enters the "Proceeding" state."
    #[must_use]
    pub fn new(now: Instant, reliable: bool, cfg: TimerConfig, trying: Arc<[u8]>) -> Self {
        let mut core = Core::new(State::Proceeding, reliable, cfg);
        core.timers.arm(Timer::Trying100, now, TRYING_DELAY);
        Self {
            core,
            trying,
            last_response: None,
            g_interval: cfg.t1,
        }
    }

    /// The TU sends a response with status code `status`, encoded as `bytes`.
    ///
    /// # Errors
    ///
    /// [`TxError::InvalidStatus`] for a code outside 100–699, and
    /// [`TxError::ResponseNotAllowed`] for a response the state does not take: anything
    /// but a 2xx in "Accepted", anything at all after a 300–699 response. Nothing is sent
    /// and the state is unchanged.
    pub fn send_response(
        &mut self,
        now: Instant,
        status: u16,
        bytes: Arc<[u8]>,
    ) -> Result<(), TxError> {
        let class = Class::of(status);
        match (self.core.state, class) {
            (_, Class::Invalid) => return Err(TxError::InvalidStatus { status }),

            // RFC 3261 §17.2.1: "The TU passes any number of provisional responses to the
            // server transaction. So long as the server transaction is in the "Proceeding"
            // state, each of these MUST be passed to the transport layer for transmission."
            (State::Proceeding, Class::Provisional) => {
                self.core.timers.clear(Timer::Trying100);
                self.core.transmit(&bytes);
                self.last_response = Some(bytes);
            }

            // RFC 6026 §8.7: "If, while in the "Proceeding" state, the TU passes a 2xx
            // response to the server transaction, the server transaction MUST pass this
            // response to the transport layer for transmission. It is not retransmitted by
            // the server transaction; retransmissions of 2xx responses are handled by the
            // TU. The server transaction MUST then transition to the "Accepted" state."
            // "When the INVITE server transaction enters the "Accepted" state, Timer L
            // MUST be set to fire in 64*T1 for all transports."
            (State::Proceeding, Class::Success) => {
                self.core.timers.clear(Timer::Trying100);
                self.core.transmit(&bytes);
                self.last_response = Some(bytes);
                self.core.state = State::Accepted;
                self.core.timers.arm(Timer::L, now, self.core.cfg.t1_x64());
            }

            // RFC 3261 §17.2.1: "While in the "Proceeding" state, if the TU passes a
            // response with status code from 300 to 699 to the server transaction, the
            // response MUST be passed to the transport layer for transmission, and the
            // state machine MUST enter the "Completed" state. For unreliable transports,
            // timer G is set to fire in T1 seconds, and is not set to fire for reliable
            // transports." "When the "Completed" state is entered, timer H MUST be set to
            // fire in 64*T1 seconds for all transports."
            (State::Proceeding, Class::Failure) => {
                self.core.timers.clear(Timer::Trying100);
                self.core.transmit(&bytes);
                self.last_response = Some(bytes);
                self.core.state = State::Completed;
                if !self.core.reliable {
                    self.g_interval = self.core.cfg.t1;
                    self.core.timers.arm(Timer::G, now, self.g_interval);
                }
                self.core.timers.arm(Timer::H, now, self.core.cfg.t1_x64());
            }

            // RFC 6026 §8.7: "While in the "Accepted" state, if the TU passes a 2xx
            // response for an INVITE to the server transaction, the server transaction MUST
            // pass this response to the transport layer for transmission."
            (State::Accepted, Class::Success) => self.core.transmit(&bytes),

            (state @ State::Accepted, _) => {
                return Err(TxError::ResponseNotAllowed {
                    expected: "a 2xx retransmission",
                    state,
                    status,
                });
            }
            (state, _) => {
                return Err(TxError::ResponseNotAllowed {
                    expected: "no further response",
                    state,
                    status,
                });
            }
        }
        Ok(())
    }

    /// A retransmission of the INVITE arrived (the endpoint matched it to this
    /// transaction). It is never passed to the TU.
    pub fn handle_request_retransmit(&mut self, _now: Instant) {
        match self.core.state {
            // RFC 3261 §17.2.1: "If a request retransmission is received while in the
            // "Proceeding" state, the most recent provisional response that was received
            // from the TU MUST be passed to the transport layer for retransmission." With no
            // response yet, the 100 (Trying) is sent now rather than at 200 ms.
            State::Proceeding => match &self.last_response {
                Some(response) => self.core.transmit(response),
                None => self.send_trying(),
            },
            // RFC 3261 §17.2.1: "while in the "Completed" state, if a request
            // retransmission is received, the server SHOULD pass the response to the
            // transport for retransmission."
            State::Completed => {
                if let Some(response) = &self.last_response {
                    self.core.transmit(response);
                }
            }
            // RFC 6026 §8.7: "The purpose of the "Accepted" state is to absorb
            // retransmissions of an accepted INVITE request. Any such retransmissions are
            // absorbed entirely within the server transaction." "Confirmed" absorbs too.
            State::Accepted
            | State::Confirmed
            | State::Calling
            | State::Trying
            | State::Terminated => {}
        }
    }

    /// An ACK matched to this transaction arrived.
    pub fn handle_ack(&mut self, now: Instant) -> Disposition {
        match self.core.state {
            // RFC 3261 §17.2.1: "If an ACK is received while the server transaction is in
            // the "Completed" state, the server transaction MUST transition to the
            // "Confirmed" state. As Timer G is ignored in this state, any retransmissions of
            // the response will cease." "When this state is entered, timer I is set to fire
            // in T4 seconds for unreliable transports, and zero seconds for reliable
            // transports."
            State::Completed => {
                self.core.state = State::Confirmed;
                self.core.timers.clear(Timer::G);
                self.core.timers.clear(Timer::H);
                if self.core.reliable {
                    self.core.terminate(None);
                } else {
                    self.core.timers.arm(Timer::I, now, self.core.cfg.t4);
                }
                Disposition::Absorb
            }
            // RFC 6026 §8.7: "If an ACK is received while the INVITE server transaction is
            // in the "Accepted" state, then the ACK must be passed up to the TU."
            State::Accepted => Disposition::PassToTu,
            // RFC 3261 §17.2.1: "The purpose of the "Confirmed" state is to absorb any
            // additional ACK messages that arrive". An ACK before any final response
            // acknowledges nothing.
            _ => Disposition::Absorb,
        }
    }

    /// The transport failed to send a response (RFC 3261 §17.2.4).
    pub fn handle_transport_error(&mut self, _now: Instant) {
        self.core.transport_error();
    }

    fn send_trying(&mut self) {
        self.core.timers.clear(Timer::Trying100);
        self.core.transmit(&self.trying);
        self.last_response = Some(Arc::clone(&self.trying));
    }

    /// The current state.
    #[must_use]
    pub fn state(&self) -> State {
        self.core.state
    }
}

impl Transaction for ServerInvite {
    /// Fires every timer due at `now`.
    fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.core.timers.pop_expired(now) {
            match (self.core.state, timer) {
                // RFC 3261 §17.2.1: "The server transaction MUST generate a 100 (Trying)
                // response unless it knows that the TU will generate a provisional or
                // final response within 200 ms".
                (State::Proceeding, Timer::Trying100) if self.last_response.is_none() => {
                    self.send_trying();
                }
                // RFC 3261 §17.2.1: "If timer G fires, the response is passed to the
                // transport layer once more for retransmission, and timer G is set to fire
                // in MIN(2*T1, T2) seconds. From then on, when timer G fires, the response
                // is passed to the transport again for transmission, and timer G is reset
                // with a value that doubles, unless that value exceeds T2, in which case it
                // is reset with the value of T2."
                (State::Completed, Timer::G) => {
                    if let Some(response) = &self.last_response {
                        self.core.transmit(response);
                    }
                    self.g_interval = self.core.cfg.doubled_capped(self.g_interval);
                    self.core.timers.arm(Timer::G, now, self.g_interval);
                }
                // RFC 3261 §17.2.1: "If timer H fires while in the "Completed" state, it
                // implies that the ACK was never received. In this case, the server
                // transaction MUST transition to the "Terminated" state, and MUST indicate
                // to the TU that a transaction failure has occurred."
                (State::Completed, Timer::H) => self.core.terminate(Some(TxEvent::AckTimeout)),
                // RFC 3261 §17.2.1: "Once timer I fires, the server MUST transition to the
                // "Terminated" state."
                (State::Confirmed, Timer::I) => self.core.terminate(None),
                // RFC 6026 §8.7: "If Timer L fires while the INVITE server transaction is in
                // the "Accepted" state, the transaction MUST transition to the "Terminated"
                // state."
                (State::Accepted, Timer::L) => self.core.terminate(None),
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

    fn start(reliable: bool) -> (Instant, ServerInvite, Log) {
        let t0 = epoch();
        let tx = ServerInvite::new(t0, reliable, TimerConfig::default(), bytes("100"));
        (t0, tx, Log::default())
    }

    fn sent(log: &Log) -> Vec<(u64, &str)> {
        log.sent.iter().map(|(t, s)| (*t, s.as_str())).collect()
    }

    #[test]
    fn sends_100_trying_when_tu_is_silent_for_200_ms() {
        let (t0, mut tx, mut log) = start(false);
        assert_eq!(tx.poll_transmit(), None, "nothing before 200 ms");
        run_until(&mut tx, t0, t0 + ms(10_000), &mut log);
        assert_eq!(sent(&log), [(200, "100")]);
        assert_eq!(tx.state(), State::Proceeding);
        assert_eq!(tx.poll_timeout(), None);
        // The 100 is what a request retransmission now re-sends.
        tx.handle_request_retransmit(t0 + ms(500));
        drain(&mut tx, t0, t0 + ms(500), &mut log);
        assert_eq!(sent(&log), [(200, "100"), (500, "100")]);
    }

    #[test]
    fn no_100_trying_when_tu_responds_within_200_ms() {
        let (t0, mut tx, mut log) = start(false);
        tx.send_response(t0 + ms(150), 180, bytes("180"))
            .expect("test data is valid");
        drain(&mut tx, t0, t0 + ms(150), &mut log);
        run_until(&mut tx, t0, t0 + ms(10_000), &mut log);
        assert_eq!(sent(&log), [(150, "180")]);
    }

    #[test]
    fn request_retransmission_before_any_response_sends_100_at_once() {
        let (t0, mut tx, mut log) = start(false);
        tx.handle_request_retransmit(t0 + ms(100));
        drain(&mut tx, t0, t0 + ms(100), &mut log);
        run_until(&mut tx, t0, t0 + ms(10_000), &mut log);
        assert_eq!(sent(&log), [(100, "100")], "and not again at 200 ms");
    }

    #[test]
    fn request_retransmission_in_proceeding_resends_last_provisional() {
        let (t0, mut tx, mut log) = start(false);
        tx.send_response(t0 + ms(10), 180, bytes("180"))
            .expect("test data is valid");
        tx.send_response(t0 + ms(10), 183, bytes("183"))
            .expect("test data is valid");
        drain(&mut tx, t0, t0 + ms(10), &mut log);
        tx.handle_request_retransmit(t0 + ms(500));
        drain(&mut tx, t0, t0 + ms(500), &mut log);
        assert_eq!(sent(&log), [(10, "180"), (10, "183"), (500, "183")]);
    }

    #[test]
    fn failure_final_is_retransmitted_by_timer_g_capped_at_t2_until_timer_h() {
        let (t0, mut tx, mut log) = start(false);
        tx.send_response(t0, 486, bytes("486"))
            .expect("test data is valid");
        drain(&mut tx, t0, t0, &mut log);
        assert_eq!(tx.state(), State::Completed);
        run_until(&mut tx, t0, t0 + ms(60_000), &mut log);
        assert_eq!(
            log.sent_at(),
            [
                0, 500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500
            ],
            "RFC 3261 §17.2.1: G = T1, 2*T1, 4*T1, T2, ..."
        );
        assert!(log.sent.iter().all(|(_, b)| b == "486"));
        assert_eq!(
            log.events,
            [(32_000, TxEvent::AckTimeout), (32_000, TxEvent::Terminated)]
        );
    }

    #[test]
    fn request_retransmission_in_completed_resends_final() {
        let (t0, mut tx, mut log) = start(false);
        tx.send_response(t0, 603, bytes("603"))
            .expect("test data is valid");
        drain(&mut tx, t0, t0, &mut log);
        tx.handle_request_retransmit(t0 + ms(100));
        drain(&mut tx, t0, t0 + ms(100), &mut log);
        assert_eq!(sent(&log), [(0, "603"), (100, "603")]);
    }

    #[test]
    fn ack_in_completed_confirms_stops_timer_g_and_timer_i_is_t4() {
        let (t0, mut tx, mut log) = start(false);
        tx.send_response(t0, 486, bytes("486"))
            .expect("test data is valid");
        drain(&mut tx, t0, t0, &mut log);
        run_until(&mut tx, t0, t0 + ms(2_000), &mut log);
        assert_eq!(tx.handle_ack(t0 + ms(2_000)), Disposition::Absorb);
        assert_eq!(tx.state(), State::Confirmed);
        assert_eq!(tx.poll_timeout(), Some(t0 + ms(7_000)), "I = T4");
        // Further ACKs and INVITEs are absorbed silently.
        assert_eq!(tx.handle_ack(t0 + ms(3_000)), Disposition::Absorb);
        tx.handle_request_retransmit(t0 + ms(3_100));
        run_until(&mut tx, t0, t0 + ms(60_000), &mut log);
        assert_eq!(log.sent_at(), [0, 500, 1_500]);
        assert_eq!(log.events, [(7_000, TxEvent::Terminated)]);
    }

    #[test]
    fn reliable_transport_has_no_timer_g_and_timer_i_is_zero() {
        let (t0, mut tx, mut log) = start(true);
        tx.send_response(t0, 486, bytes("486"))
            .expect("test data is valid");
        drain(&mut tx, t0, t0, &mut log);
        assert_eq!(tx.poll_timeout(), Some(t0 + ms(32_000)), "only H is armed");
        assert_eq!(tx.handle_ack(t0 + ms(40)), Disposition::Absorb);
        assert_eq!(tx.state(), State::Terminated);
        assert_eq!(tx.poll_event(), Some(TxEvent::Terminated));
        assert_eq!(log.sent_at(), [0]);
    }

    #[test]
    fn reliable_transport_still_times_out_on_timer_h() {
        let (t0, mut tx, mut log) = start(true);
        tx.send_response(t0 + ms(1_000), 500, bytes("500"))
            .expect("test data is valid");
        drain(&mut tx, t0, t0 + ms(1_000), &mut log);
        run_until(&mut tx, t0, t0 + ms(60_000), &mut log);
        assert_eq!(log.sent_at(), [1_000]);
        assert_eq!(
            log.events,
            [(33_000, TxEvent::AckTimeout), (33_000, TxEvent::Terminated)]
        );
    }

    #[test]
    fn rfc6026_2xx_moves_to_accepted_absorbs_invite_and_passes_ack_until_timer_l() {
        let (t0, mut tx, mut log) = start(false);
        tx.send_response(t0 + ms(100), 180, bytes("180"))
            .expect("test data is valid");
        drain(&mut tx, t0, t0 + ms(100), &mut log);
        tx.send_response(t0 + ms(1_000), 200, bytes("200"))
            .expect("test data is valid");
        drain(&mut tx, t0, t0 + ms(1_000), &mut log);
        assert_eq!(tx.state(), State::Accepted);
        assert_eq!(tx.poll_timeout(), Some(t0 + ms(33_000)), "L = 64*T1");
        tx.handle_request_retransmit(t0 + ms(1_200));
        drain(&mut tx, t0, t0 + ms(1_200), &mut log);
        // A 2xx retransmission from the TU is sent; other classes are refused.
        tx.send_response(t0 + ms(1_500), 200, bytes("200"))
            .expect("test data is valid");
        drain(&mut tx, t0, t0 + ms(1_500), &mut log);
        assert_eq!(
            tx.send_response(t0 + ms(1_600), 486, bytes("486")),
            Err(TxError::ResponseNotAllowed {
                expected: "a 2xx retransmission",
                state: State::Accepted,
                status: 486
            })
        );
        assert_eq!(tx.handle_ack(t0 + ms(2_000)), Disposition::PassToTu);
        assert_eq!(tx.handle_ack(t0 + ms(2_100)), Disposition::PassToTu);
        assert_eq!(tx.state(), State::Accepted, "ACK does not end Accepted");
        run_until(&mut tx, t0, t0 + ms(60_000), &mut log);
        assert_eq!(
            sent(&log),
            [(100, "180"), (1_000, "200"), (1_500, "200")],
            "the transaction never retransmits a 2xx by itself"
        );
        assert_eq!(log.events, [(33_000, TxEvent::Terminated)]);
    }

    #[test]
    fn timer_l_applies_on_reliable_transport_too() {
        let (t0, mut tx, _) = start(true);
        tx.send_response(t0, 200, bytes("200"))
            .expect("test data is valid");
        assert_eq!(tx.poll_timeout(), Some(t0 + ms(32_000)));
    }

    #[test]
    fn responses_after_a_failure_final_are_refused() {
        let (t0, mut tx, _) = start(false);
        tx.send_response(t0, 486, bytes("486"))
            .expect("test data is valid");
        let err = tx.send_response(t0, 200, bytes("200")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected no further response in state Completed, found 200"
        );
        assert_eq!(
            tx.send_response(t0, 1_000, bytes("x")),
            Err(TxError::InvalidStatus { status: 1_000 })
        );
        assert_eq!(tx.poll_transmit().as_deref(), Some(&b"486"[..]));
        assert_eq!(tx.poll_transmit(), None);
    }

    #[test]
    fn ack_before_final_is_absorbed() {
        let (t0, mut tx, _) = start(false);
        assert_eq!(tx.handle_ack(t0), Disposition::Absorb);
        assert_eq!(tx.state(), State::Proceeding);
    }

    #[test]
    fn transport_error_terminates_and_informs_tu() {
        let (t0, mut tx, _) = start(false);
        tx.send_response(t0, 486, bytes("486"))
            .expect("test data is valid");
        tx.handle_transport_error(t0);
        assert_eq!(tx.state(), State::Terminated);
        assert_eq!(tx.poll_transmit(), None);
        assert_eq!(tx.poll_event(), Some(TxEvent::TransportError));
        assert_eq!(tx.poll_event(), Some(TxEvent::Terminated));
        assert_eq!(tx.poll_timeout(), None);
    }
}
