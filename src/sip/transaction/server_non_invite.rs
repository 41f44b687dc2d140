//! Non-INVITE server transaction: RFC 3261 §17.2.2 (Figure 8).
//!
//! ```text
//!                               | request from the network (endpoint passes it to TU)
//!     request retransmission    V
//!     absorbed            +-----------+
//!          +--------------|           |
//!          |              |  Trying   |
//!          +------------->|           |
//!                         +-----------+
//!          200-699 from TU   |     | 1xx from TU / sent
//!          sent              |     V
//!          +-----------------+  +------------+  1xx from TU / sent
//!          |                    |            |<-+
//!          |                    | Proceeding |--+  request retransmission /
//!          |                    |            |     last 1xx re-sent
//!          |                    +------------+
//!          |  200-699 from TU / sent   |
//!          V                           |
//!     +-----------+ <------------------+
//!  +--|           |
//!  |  | Completed |  request retransmission / final re-sent
//!  +->|           |  (further responses from the TU are refused)
//!     +-----------+
//!           | Timer J fires (64*T1; 0 s if reliable)
//!           V
//!     +-----------+
//!     | Terminated|
//!     +-----------+
//!
//!     From every state but Terminated: transport error / TransportError to TU.
//! ```
//!
//! A non-INVITE server transaction never sends 100 (Trying) on its own: RFC 3261 §17.2.1
//! asks it only of INVITE server transactions, and RFC 4320 §4.1 says a 100 to a
//! non-INVITE request is to be sent only after Timer E would have reached T2.

use std::sync::Arc;
use std::time::Instant;

use super::{Class, Core, State, Timer, TimerConfig, Transaction, TxError, TxEvent};

/// A non-INVITE server transaction (RFC 3261 Figure 8).
#[derive(Debug)]
pub struct ServerNonInvite {
    core: Core,
    /// The response re-sent for a request retransmission.
    last_response: Option<Arc<[u8]>>,
}

impl ServerNonInvite {
    /// Starts the transaction in "Trying" for a request that has just arrived (the
    /// endpoint passes the request to the TU itself).
    ///
    /// RFC 3261 §17.2.2: "The state machine is initialized in the "Trying" state".
    #[must_use]
    pub fn new(_now: Instant, reliable: bool, cfg: TimerConfig) -> Self {
        Self {
            core: Core::new(State::Trying, reliable, cfg),
            last_response: None,
        }
    }

    /// The TU sends a response with status code `status`, encoded as `bytes`.
    ///
    /// # Errors
    ///
    /// [`TxError::InvalidStatus`] for a code outside 100–699, and
    /// [`TxError::ResponseNotAllowed`] once a final response has been sent (RFC 3261
    /// §17.2.2: "Any other final responses passed by the TU to the server transaction MUST
    /// be discarded while in the "Completed" state."). Nothing is sent.
    pub fn send_response(
        &mut self,
        now: Instant,
        status: u16,
        bytes: Arc<[u8]>,
    ) -> Result<(), TxError> {
        match (self.core.state, Class::of(status)) {
            (_, Class::Invalid) => return Err(TxError::InvalidStatus { status }),
            // RFC 3261 §17.2.2: "While in the "Trying" state, if the TU passes a
            // provisional response to the server transaction, the server transaction MUST
            // enter the "Proceeding" state. The response MUST be passed to the transport
            // layer for transmission. Any further provisional responses that are received
            // from the TU while in the "Proceeding" state MUST be passed to the transport
            // layer for transmission."
            (State::Trying | State::Proceeding, Class::Provisional) => {
                self.core.state = State::Proceeding;
                self.core.transmit(&bytes);
                self.last_response = Some(bytes);
            }
            // RFC 3261 §17.2.2: "If the TU passes a final response (status codes 200-699)
            // to the server while in the "Proceeding" [or "Trying"] state, the transaction
            // MUST enter the "Completed" state, and the response MUST be passed to the
            // transport layer for transmission." "When the server transaction enters the
            // "Completed" state, it MUST set Timer J to fire in 64*T1 seconds for
            // unreliable transports, and zero seconds for reliable transports."
            (State::Trying | State::Proceeding, Class::Success | Class::Failure) => {
                self.core.state = State::Completed;
                self.core.transmit(&bytes);
                self.last_response = Some(bytes);
                if self.core.reliable {
                    self.core.terminate(None);
                } else {
                    self.core.timers.arm(Timer::J, now, self.core.cfg.t1_x64());
                }
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

    /// A retransmission of the request arrived (the endpoint matched it to this
    /// transaction). It is never passed to the TU.
    pub fn handle_request_retransmit(&mut self, _now: Instant) {
        match self.core.state {
            // RFC 3261 §17.2.2: "Once in the "Trying" state, any further request
            // retransmissions are discarded." "If a retransmission of the request is
            // received while in the "Proceeding" state, the most recently sent provisional
            // response MUST be passed to the transport layer for retransmission." "While
            // in the "Completed" state, the server transaction MUST pass the final response
            // to the transport layer for retransmission whenever a retransmission of the
            // request is received."
            State::Proceeding | State::Completed => {
                if let Some(response) = &self.last_response {
                    self.core.transmit(response);
                }
            }
            _ => {}
        }
    }

    /// The transport failed to send a response (RFC 3261 §17.2.4).
    pub fn handle_transport_error(&mut self, _now: Instant) {
        self.core.transport_error();
    }

    /// The current state.
    #[must_use]
    pub fn state(&self) -> State {
        self.core.state
    }
}

impl Transaction for ServerNonInvite {
    /// Fires every timer due at `now`.
    fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.core.timers.pop_expired(now) {
            // RFC 3261 §17.2.2: "The server transaction remains in this state until Timer
            // J fires, at which point it MUST transition to the "Terminated" state."
            if (self.core.state, timer) == (State::Completed, Timer::J) {
                self.core.terminate(None);
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

    fn start(reliable: bool) -> (Instant, ServerNonInvite, Log) {
        let t0 = epoch();
        (
            t0,
            ServerNonInvite::new(t0, reliable, TimerConfig::default()),
            Log::default(),
        )
    }

    fn sent(log: &Log) -> Vec<(u64, &str)> {
        log.sent.iter().map(|(t, s)| (*t, s.as_str())).collect()
    }

    #[test]
    fn request_retransmissions_in_trying_are_absorbed_silently() {
        let (t0, mut tx, mut log) = start(false);
        tx.handle_request_retransmit(t0 + ms(500));
        tx.handle_request_retransmit(t0 + ms(1_500));
        drain(&mut tx, t0, t0 + ms(1_500), &mut log);
        run_until(&mut tx, t0, t0 + ms(60_000), &mut log);
        assert!(log.sent.is_empty());
        assert!(log.events.is_empty());
        assert_eq!(tx.state(), State::Trying);
        assert_eq!(
            tx.poll_timeout(),
            None,
            "no 100 (Trying) timer for non-INVITE"
        );
    }

    #[test]
    fn provisional_then_final_and_retransmissions_resend_the_last_response() {
        let (t0, mut tx, mut log) = start(false);
        tx.send_response(t0 + ms(100), 180, bytes("180"))
            .expect("test data is valid");
        assert_eq!(tx.state(), State::Proceeding);
        tx.handle_request_retransmit(t0 + ms(500));
        drain(&mut tx, t0, t0 + ms(500), &mut log);
        tx.send_response(t0 + ms(800), 200, bytes("200"))
            .expect("test data is valid");
        assert_eq!(tx.state(), State::Completed);
        drain(&mut tx, t0, t0 + ms(800), &mut log);
        tx.handle_request_retransmit(t0 + ms(1_500));
        drain(&mut tx, t0, t0 + ms(1_500), &mut log);
        assert_eq!(
            sent(&log),
            [(500, "180"), (500, "180"), (800, "200"), (1_500, "200")]
        );
    }

    #[test]
    fn timer_j_is_64_t1_on_unreliable_transport() {
        let (t0, mut tx, mut log) = start(false);
        tx.send_response(t0 + ms(1_000), 200, bytes("200"))
            .expect("test data is valid");
        drain(&mut tx, t0, t0 + ms(1_000), &mut log);
        assert_eq!(tx.poll_timeout(), Some(t0 + ms(33_000)));
        run_until(&mut tx, t0, t0 + ms(60_000), &mut log);
        assert_eq!(
            log.sent_at(),
            [1_000],
            "the final is not retransmitted by timer"
        );
        assert_eq!(log.events, [(33_000, TxEvent::Terminated)]);
    }

    #[test]
    fn timer_j_is_zero_on_reliable_transport() {
        let (t0, mut tx, _) = start(true);
        tx.send_response(t0, 404, bytes("404"))
            .expect("test data is valid");
        assert_eq!(tx.state(), State::Terminated);
        assert_eq!(tx.poll_transmit().as_deref(), Some(&b"404"[..]));
        assert_eq!(tx.poll_event(), Some(TxEvent::Terminated));
        assert_eq!(tx.poll_timeout(), None);
    }

    #[test]
    fn final_responses_after_completed_are_refused() {
        let (t0, mut tx, _) = start(false);
        tx.send_response(t0, 200, bytes("200"))
            .expect("test data is valid");
        assert_eq!(
            tx.send_response(t0, 500, bytes("500")),
            Err(TxError::ResponseNotAllowed {
                expected: "no further response",
                state: State::Completed,
                status: 500
            })
        );
        assert_eq!(
            tx.send_response(t0, 50, bytes("50")),
            Err(TxError::InvalidStatus { status: 50 })
        );
        assert_eq!(tx.poll_transmit().as_deref(), Some(&b"200"[..]));
        assert_eq!(tx.poll_transmit(), None);
    }

    #[test]
    fn transport_error_terminates_and_informs_tu() {
        let (t0, mut tx, _) = start(false);
        tx.send_response(t0, 200, bytes("200"))
            .expect("test data is valid");
        tx.handle_transport_error(t0);
        assert_eq!(tx.state(), State::Terminated);
        assert_eq!(tx.poll_transmit(), None);
        assert_eq!(tx.poll_event(), Some(TxEvent::TransportError));
        assert_eq!(tx.poll_event(), Some(TxEvent::Terminated));
        assert_eq!(tx.poll_timeout(), None);
    }
}
