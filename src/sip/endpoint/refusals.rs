//! What the endpoint refuses by itself, counted and logged: broken requests (a stateless
//! 400/505 when it can be routed, else a drop), requests that fail the checks of RFC
//! 3261 §8.2 (405, 406, 415, 416, 420, 501), and those their dialog or transaction does
//! not allow (481, 491, 500).
//!
//! Every refusal leaves a counter ([`Stats::refused_by_status`], the malformed counters)
//! and a log line. A broken request is a security line with the sender's full address
//! ([`crate::pii::security`]), since a scanner or fuzzer sends them and a phone does not;
//! the others are ordinary lines with the address masked: a resident's phone that offers a
//! body type we do not take is no attacker.

use std::net::SocketAddr;

use super::routing::response_destination;
use super::{REFUSED_STATUSES, SipEndpoint, Transmit, Transport};
use crate::pii::{Pii, Security, security};
use crate::sip::msg::{ParseError, ParseErrorKind, Request};

impl SipEndpoint {
    /// A message that did not parse: answered statelessly when a reply can be routed
    /// (RFC 3261 §8.2.6.2, §18.2.2: by the Via; a full copy of the request's fields when
    /// they parse, else the [`crate::sip::msg::BareReply`]), dropped and counted otherwise.
    pub(super) fn handle_malformed(
        &mut self,
        src: SocketAddr,
        transport: Transport,
        err: &ParseError,
    ) {
        let answer = match err.stateless_reply() {
            Some(mut reply) => {
                reply.headers.set("Server", self.cfg.user_agent.clone());
                let dst = response_destination(reply.via.first(), src, transport);
                Some((reply.status, dst, reply.to_bytes()))
            }
            None => err.bare_reply().map(|mut reply| {
                reply.headers.set("Server", self.cfg.user_agent.clone());
                let dst = response_destination(reply.via.first(), src, transport);
                (reply.status, dst, reply.to_bytes())
            }),
        };
        let action = match answer {
            Some((status, dst, bytes)) => {
                self.stats.malformed_answered += 1;
                self.count_refusal(status);
                self.transmits.push_back(Transmit {
                    transport,
                    dst,
                    bytes: bytes.into(),
                });
                format!("action=answered status={status}")
            }
            None => {
                self.stats.malformed_dropped += 1;
                "action=dropped".to_owned()
            }
        };
        // A keep-alive (CRLFs, RFC 5626 §4.4.1) or an empty datagram is no message: counted
        // with the drops, but no phone is reported for keeping its NAT binding open.
        if err.kind() != ParseErrorKind::Empty {
            let error = err.to_string().replace('"', "'");
            security(
                Security::Malformed,
                src,
                &format!("{action} error=\"{error}\""),
            );
        }
    }

    /// A request is about to be refused with `status` by the endpoint itself: one that
    /// fails the checks every request must pass (RFC 3261 §8.2), or one its dialog or
    /// transaction does not allow (481, 491, 500): counted and logged. `peer` is where it
    /// came from (or where the answer goes: the same address).
    pub(super) fn note_refusal(&mut self, peer: SocketAddr, req: &Request, status: u16) {
        self.count_refusal(status);
        tracing::info!(
            status,
            method = %req.method,
            peer = %Pii(peer),
            "SIP request refused"
        );
    }

    fn count_refusal(&mut self, status: u16) {
        if let Some(i) = REFUSED_STATUSES.iter().position(|s| *s == status) {
            self.stats.refused_by_status[i] += 1;
        }
    }
}
