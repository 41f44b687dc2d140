//! Refusing new calls while the SIP task is behind its socket (`sip::overload` decides
//! when): a new INVITE gets `503 Service Unavailable` with `Retry-After` (RFC 3261
//! §21.5.4) and nothing else happens: no transaction, no dialog, no timer, no event for
//! the call layer. That is the point: a refusal must cost far less than a call set-up, so
//! that the task catches up while it refuses.
//!
//! Only an INVITE that opens a call is refused. Everything else is served as ever:
//! retransmissions of transactions we have (matched before this is asked), ACK, BYE,
//! CANCEL, re-INVITEs and every other request inside a dialog, REGISTER and OPTIONS.
//!
//! Stateless, but not forgetful: the INVITEs refused in the last 64·T1 (the time a caller
//! retransmits an INVITE, RFC 3261 §17.1.1.2 Timer B) are remembered by transaction key,
//! so a retransmission of one gets the same 503 (the same To tag and Retry-After), even if
//! the task has caught up meanwhile. Otherwise a caller who already heard 503 and is
//! waiting to try again could see its earlier retransmission answered with a call. The ACK
//! for the 503 matches nothing and is dropped, as ACKs are.
//!
//! `Retry-After` is a random whole number of seconds from the configured value to twice
//! that, so callers turned away in the same moment do not all come back in the same second.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use super::keys::ServerKey;
use super::{SipEndpoint, Transmit, Transport};
use crate::sip::msg::{self, Request, Response};

/// INVITEs remembered at most, whatever their age (a flood cannot grow the table further).
const REMEMBERED: usize = 100_000;

/// The endpoint's shedding state.
#[derive(Debug, Default)]
pub(super) struct Shedding {
    /// Seconds of `Retry-After` (at least; up to twice), while new calls are refused.
    retry_after: Option<u32>,
    /// Refused INVITEs by transaction key: the To tag and `Retry-After` they got.
    recent: HashMap<ServerKey, (String, u32)>,
    /// The same keys, oldest first, with the moment they are forgotten.
    order: VecDeque<(Instant, ServerKey)>,
}

impl SipEndpoint {
    /// While `Some(seconds)`, new calls are refused with 503 and a `Retry-After` of
    /// `seconds` to twice that; `None` serves them again. The driver sets it before each
    /// message from what `sip::overload` says.
    pub fn set_overloaded(&mut self, retry_after_s: Option<u32>) {
        self.shed.retry_after = retry_after_s.map(|s| s.max(1));
    }

    /// A new INVITE (no To tag, no transaction of ours): refuses it with a stateless 503
    /// when shedding, or when it retransmits one refused so; says whether it did.
    pub(super) fn shed_invite(
        &mut self,
        now: Instant,
        key: &ServerKey,
        req: &Request,
        dst: SocketAddr,
        transport: Transport,
    ) -> bool {
        while let Some((until, _)) = self.shed.order.front()
            && (*until <= now || self.shed.order.len() > REMEMBERED)
        {
            if let Some((_, old)) = self.shed.order.pop_front() {
                self.shed.recent.remove(&old);
            }
        }
        let (tag, retry_after) = if let Some((tag, secs)) = self.shed.recent.get(key) {
            self.stats.retransmissions_absorbed += 1;
            (tag.clone(), *secs)
        } else if let Some(base) = self.shed.retry_after {
            self.stats.refused_overload += 1;
            let tag = self.token(10);
            // Uniform in base..=2·base (the remainder is below base + 1, so it fits).
            let secs = base + (self.rng.next_u64() % (u64::from(base) + 1)) as u32;
            self.shed.recent.insert(key.clone(), (tag.clone(), secs));
            let forget = now + self.cfg.timers.t1 * 64;
            self.shed.order.push_back((forget, key.clone()));
            (tag, secs)
        } else {
            return false;
        };
        let mut resp = Response::from_request(req, 503, msg::reason_phrase(503), Some(&tag));
        resp.headers.set("Server", self.cfg.user_agent.clone());
        resp.headers.set("Retry-After", retry_after.to_string());
        self.transmits.push_back(Transmit {
            transport,
            dst,
            bytes: resp.to_bytes().into(),
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::{EndpointConfig, SipEvent};
    use super::*;
    use crate::sip::msg::Message;
    use crate::sip::transaction::TimerConfig;

    const CALLER: &str = "127.0.0.1:5062";

    fn ep() -> SipEndpoint {
        SipEndpoint::new(
            EndpointConfig {
                timers: TimerConfig::default(),
                user_agent: "ugyelet-test".into(),
                contact_user: "ugyelet".into(),
                registrar: false,
            },
            7,
        )
    }

    /// A request from the caller; `to_tag` makes it one inside a dialog.
    fn request(method: &str, call: &str, branch: &str, to_tag: Option<&str>, cseq: u32) -> String {
        let tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
        let body = if method == "INVITE" {
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8\r\n"
        } else {
            ""
        };
        let ctype = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/sdp\r\n"
        };
        format!(
            "{method} sip:ugyelet@127.0.0.1:5060 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5062;branch={branch};rport\r\n\
             From: <sip:+36301234567@127.0.0.1>;tag=caller1\r\n\
             To: <sip:ugyelet@127.0.0.1>{tag}\r\n\
             Call-ID: {call}\r\n\
             CSeq: {cseq} {method}\r\n\
             Contact: <sip:caller@127.0.0.1:5062>\r\n\
             Max-Forwards: 70\r\n{ctype}\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    fn feed(e: &mut SipEndpoint, now: Instant, text: &str) {
        let caller: SocketAddr = CALLER.parse().expect("literal");
        let local: SocketAddr = "127.0.0.1:5060".parse().expect("literal");
        e.handle_message(now, caller, local, Transport::Udp, text.as_bytes());
    }

    fn responses(e: &mut SipEndpoint) -> Vec<Response> {
        std::iter::from_fn(|| e.poll_transmit())
            .map(|t| match msg::parse(&t.bytes) {
                Ok(Message::Response(r)) => r,
                other => panic!("a response, found {other:?}"),
            })
            .collect()
    }

    fn statuses(e: &mut SipEndpoint) -> Vec<u16> {
        responses(e).iter().map(|r| r.status).collect()
    }

    #[test]
    fn while_shedding_a_new_call_gets_one_stateless_503_with_retry_after() {
        let t0 = crate::clock::test_epoch();
        let mut e = ep();
        e.set_overloaded(Some(2));
        feed(&mut e, t0, &request("INVITE", "c1", "z9hG4bK-a", None, 1));
        let out = responses(&mut e);
        assert_eq!(out.len(), 1, "no 100 Trying before the refusal: {out:?}");
        let r = &out[0];
        assert_eq!((r.status, r.reason.as_str()), (503, "Service Unavailable"));
        let secs: u32 = r
            .headers
            .get("Retry-After")
            .and_then(|v| v.parse().ok())
            .expect("a Retry-After in seconds");
        assert!((2..=4).contains(&secs), "Retry-After {secs}");
        assert!(r.to.tag().is_some(), "a final response carries a To tag");
        assert!(e.poll_event().is_none(), "no call is started");
        assert_eq!(e.poll_timeout(), None, "stateless: no timer");
        assert_eq!(e.stats().refused_overload, 1);
        // The ACK for the 503 matches nothing and gets nothing.
        feed(
            &mut e,
            t0,
            &request("ACK", "c1", "z9hG4bK-a", r.to.tag(), 1),
        );
        assert!(responses(&mut e).is_empty());
        assert!(e.poll_event().is_none());
    }

    #[test]
    fn retry_after_is_spread_from_the_setting_to_twice_it() {
        let t0 = crate::clock::test_epoch();
        let mut e = ep();
        e.set_overloaded(Some(3));
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..200 {
            feed(
                &mut e,
                t0,
                &request("INVITE", &format!("c{i}"), &format!("z9hG4bK-{i}"), None, 1),
            );
            for r in responses(&mut e) {
                seen.insert(r.headers.get("Retry-After").map(str::to_owned));
            }
        }
        let expected: std::collections::BTreeSet<_> = ["3", "4", "5", "6"]
            .iter()
            .map(|s| Some((*s).to_owned()))
            .collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn a_retransmission_of_a_refused_invite_gets_the_same_503_after_shedding_ends() {
        let t0 = crate::clock::test_epoch();
        let mut e = ep();
        let invite = request("INVITE", "c1", "z9hG4bK-a", None, 1);
        e.set_overloaded(Some(2));
        feed(&mut e, t0, &invite);
        let first = responses(&mut e);
        e.set_overloaded(None);
        feed(&mut e, t0 + Duration::from_millis(500), &invite);
        let again = responses(&mut e);
        assert_eq!(again, first, "the same 503, To tag and Retry-After");
        assert!(e.poll_event().is_none(), "still no call");
        assert_eq!(e.stats().refused_overload, 1, "one call refused");
        assert_eq!(e.stats().retransmissions_absorbed, 1);
        // After 64·T1 the caller has given up on that INVITE; the same key is new again.
        feed(&mut e, t0 + Duration::from_secs(32), &invite);
        assert_eq!(statuses(&mut e), vec![100]);
        assert!(matches!(
            e.poll_event(),
            Some(SipEvent::IncomingCall { .. })
        ));
    }

    #[test]
    fn while_shedding_calls_in_progress_are_served_as_ever() {
        let t0 = crate::clock::test_epoch();
        let mut e = ep();
        let invite = request("INVITE", "c1", "z9hG4bK-a", None, 1);
        feed(&mut e, t0, &invite);
        assert_eq!(statuses(&mut e), vec![100]);
        let Some(SipEvent::IncomingCall { dialog, .. }) = e.poll_event() else {
            panic!("a call")
        };
        e.set_overloaded(Some(2));
        // A retransmission of the INVITE belongs to its transaction.
        feed(&mut e, t0 + Duration::from_millis(500), &invite);
        assert_eq!(statuses(&mut e), vec![100]);
        e.answer(t0, dialog, b"v=0\r\n".to_vec());
        let ok = responses(&mut e);
        assert_eq!(ok.iter().map(|r| r.status).collect::<Vec<_>>(), vec![200]);
        let tag = ok[0].to.tag().expect("tag").to_owned();
        // The ACK, a re-INVITE, and the BYE: all inside the dialog.
        feed(
            &mut e,
            t0,
            &request("ACK", "c1", "z9hG4bK-b", Some(&tag), 1),
        );
        assert!(matches!(e.poll_event(), Some(SipEvent::Confirmed { .. })));
        feed(
            &mut e,
            t0,
            &request("INVITE", "c1", "z9hG4bK-c", Some(&tag), 2),
        );
        assert_eq!(statuses(&mut e), vec![100]);
        assert!(matches!(e.poll_event(), Some(SipEvent::ReInvite { .. })));
        e.reject(t0, dialog, 488);
        assert_eq!(statuses(&mut e), vec![488]);
        feed(
            &mut e,
            t0,
            &request("BYE", "c1", "z9hG4bK-d", Some(&tag), 3),
        );
        assert_eq!(statuses(&mut e), vec![200]);
        assert!(matches!(e.poll_event(), Some(SipEvent::Ended { .. })));
        // A CANCEL for nothing we know is answered as ever, not refused.
        feed(&mut e, t0, &request("CANCEL", "c9", "z9hG4bK-e", None, 1));
        assert_eq!(statuses(&mut e), vec![481]);
        // A new call in the meantime is refused.
        feed(&mut e, t0, &request("INVITE", "c2", "z9hG4bK-f", None, 1));
        assert_eq!(statuses(&mut e), vec![503]);
        assert_eq!(e.stats().refused_overload, 1);
    }
}
