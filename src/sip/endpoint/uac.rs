//! The user agent client: requests we send, and the responses to them.
//!
//! The daemon sends these requests: an INVITE to ring an operator's softphone (the second
//! leg of a bridged call) or to call a resident back through the trunk (answering the
//! provider's Digest challenge, [`SipEndpoint::invite_with_credentials`]), a CANCEL when
//! the caller leaves before the operator answers, a BYE to end a call from our side, an
//! out-of-dialog OPTIONS to keep a registered softphone's NAT binding open, a NOTIFY inside
//! a call to tell an operator's phone how the transfer it asked for goes, and a REGISTER to
//! the trunk. Each gets a fresh branch (RFC 3261 §8.1.1.7)
//! and a client transaction (RFC 3261 §17.1); the non-INVITE ones all start through
//! [`SipEndpoint::start_client_non_invite`].
//!
//! Responses to our INVITE drive the operator leg: a provisional one may release a CANCEL
//! that was waiting for it (RFC 3261 §9.1), a 2xx confirms the dialog and is ACKed by the
//! UAC core (RFC 3261 §13.2.2.4), and anything else ends the attempt.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use super::dialog::{Dialog, DialogState};
use super::keys::{TxKey, client_key};
use super::routing::{ClientEntry, UacInvite};
use super::{
    BRANCH_MAGIC, DialogId, OutRequest, OutgoingCall, SipEndpoint, SipEvent, Transmit, Transport,
    UacCredentials,
};
use crate::sip::auth::client;
use crate::sip::msg::{self, Host, Method, NameAddr, Request, Response, Uri, Via};
use crate::sip::transaction::{ClientInvite, ClientNonInvite, Disposition};

impl SipEndpoint {
    /// Sends an out-of-dialog OPTIONS to a registered contact to keep its NAT pinhole open
    /// (RFC 3261 §11). The outcome arrives as [`SipEvent::ProbeResult`] with `probe`.
    pub fn probe(
        &mut self,
        now: Instant,
        probe: u64,
        dst: SocketAddr,
        transport: Transport,
        local: SocketAddr,
        uri: Uri,
    ) {
        let branch = format!("{BRANCH_MAGIC}{}", self.token(16));
        let mut from = NameAddr::parse(&self.contact(local, transport))
            .unwrap_or_else(|_| NameAddr::new(uri.clone()));
        from.set_tag(&self.token(10));
        let mut headers = msg::Headers::default();
        headers.push("User-Agent", self.cfg.user_agent.clone());
        let req = Request {
            method: Method::Options,
            uri: uri.clone(),
            via: vec![our_via(local, transport, &branch)],
            from,
            to: NameAddr::new(uri),
            call_id: format!("{}@ugyelet", self.token(20)),
            cseq: msg::CSeq {
                seq: 1,
                method: Method::Options,
            },
            max_forwards: Some(70),
            headers,
            body: Vec::new(),
        };
        self.probes.insert(client_key(&branch, &req.method), probe);
        self.start_client_non_invite(now, &branch, &req, dst, transport, 0);
    }

    /// Sends an out-of-dialog request of the daemon's own (a REGISTER to the trunk) whose
    /// Call-ID, From tag and CSeq the caller keeps: RFC 3261 §10.2 wants them kept across a
    /// registration's refreshes. The final response (or none, Timer F) arrives as
    /// [`SipEvent::Answered`] with `out.id`.
    pub fn request(&mut self, now: Instant, out: OutRequest) {
        let branch = format!("{BRANCH_MAGIC}{}", self.token(16));
        let mut headers = out.headers;
        headers.push("User-Agent", self.cfg.user_agent.clone());
        let req = Request {
            method: out.method.clone(),
            uri: out.uri,
            via: vec![our_via(out.local, out.transport, &branch)],
            from: out.from,
            to: out.to,
            call_id: out.call_id,
            cseq: msg::CSeq {
                seq: out.cseq,
                method: out.method,
            },
            max_forwards: Some(70),
            headers,
            body: Vec::new(),
        };
        self.requests
            .insert(client_key(&branch, &req.method), out.id);
        self.start_client_non_invite(now, &branch, &req, out.dst, out.transport, 0);
    }

    /// Sends an INVITE (RFC 3261 §13.2.1) and returns the dialog it will create. What
    /// happens next arrives as [`SipEvent::OutgoingProgress`], [`SipEvent::OutgoingAnswered`]
    /// or [`SipEvent::OutgoingFailed`]; the daemon ACKs a 2xx by itself.
    pub fn invite(&mut self, now: Instant, call: OutgoingCall) -> DialogId {
        let dialog = self.next_dialog;
        self.next_dialog += 1;
        let branch = format!("{BRANCH_MAGIC}{}", self.token(16));
        let local_tag = self.token(10);
        let call_id = format!("{}@ugyelet", self.token(20));
        let mut from = call.from.clone();
        from.set_tag(&local_tag);
        let mut headers = msg::Headers::default();
        headers.push("Contact", self.contact(call.local, call.transport));
        headers.push("Allow", self.allow());
        headers.push("User-Agent", self.cfg.user_agent.clone());
        for (k, v) in &call.headers {
            headers.push(k, v.clone());
        }
        headers.push("Content-Type", "application/sdp");
        let req = Request {
            method: Method::Invite,
            uri: call.request_uri.clone(),
            via: vec![our_via(call.local, call.transport, &branch)],
            from: from.clone(),
            to: call.to.clone(),
            call_id: call_id.clone(),
            cseq: msg::CSeq {
                seq: 1,
                method: Method::Invite,
            },
            max_forwards: Some(70),
            headers,
            body: call.sdp,
        };
        let d = Dialog {
            call_id,
            local_tag,
            remote_tag: String::new(),
            local: from,
            remote: call.to,
            remote_target: call.request_uri,
            route_set: Vec::new(),
            remote_cseq: 0,
            local_cseq: 1,
            peer: call.dst,
            retransmit_to: call.dst,
            local_addr: call.local,
            transport: call.transport,
            state: DialogState::Early,
            pending_invite: None,
            retransmit_2xx: None,
            warning: None,
            challenges: Vec::new(),
            use_flow: true,
            ack_2xx: None,
            bye_pending: false,
        };
        self.dialogs.insert(dialog, d);
        let tx = ClientInvite::new(
            now,
            req.to_bytes().into(),
            call.transport.reliable(),
            self.cfg.timers,
        );
        self.txs.invites.insert(
            branch.clone(),
            UacInvite {
                tx,
                dialog,
                dst: call.dst,
                transport: call.transport,
                request: req,
                provisional: false,
                cancel_pending: false,
                cancelled: false,
                answered: false,
                auth: None,
                superseded: false,
            },
        );
        self.drain_tx(now, TxKey::Invite(branch));
        dialog
    }

    /// Sends an INVITE like [`SipEndpoint::invite`] that answers the provider's Digest
    /// challenge with `credentials` (a call out through a trunk).
    ///
    /// RFC 3261 §22.2: on a 401 or 407 the UAC "SHOULD re-originate the request with the
    /// proper credentials"; §8.1.3.5: the new request keeps the Call-ID, From tag and To,
    /// with the CSeq raised by one and a new branch. The dialog keeps its id, so the caller
    /// sees one call that ends in [`SipEvent::OutgoingAnswered`] or
    /// [`SipEvent::OutgoingFailed`]. A challenge to credentials just sent is a refusal (the
    /// status is reported), unless it says the nonce was stale (RFC 7616 §3.3); at most two
    /// challenges are answered.
    pub fn invite_with_credentials(
        &mut self,
        now: Instant,
        call: OutgoingCall,
        credentials: UacCredentials,
    ) -> DialogId {
        let dialog = self.invite(now, call);
        let creds = Arc::new(credentials);
        for e in self.txs.invites.values_mut().filter(|e| e.dialog == dialog) {
            e.auth = Some((Arc::clone(&creds), 0));
        }
        dialog
    }

    /// Re-sends the INVITE behind `branch` with credentials for the challenge in `resp`;
    /// `false` when there is nothing to answer it with (see
    /// [`SipEndpoint::invite_with_credentials`]).
    fn answer_challenge(&mut self, now: Instant, branch: &str, resp: &Response) -> bool {
        let proxy = resp.status == 407;
        let (offered, answer_name) = if proxy {
            ("Proxy-Authenticate", "Proxy-Authorization")
        } else {
            ("WWW-Authenticate", "Authorization")
        };
        let Some(ch) = client::choose(resp.headers.get_all(offered)) else {
            return false;
        };
        let Some(e) = self.txs.invites.get_mut(branch) else {
            return false;
        };
        let Some((creds, answered)) = e.auth.clone() else {
            return false;
        };
        if e.cancelled || e.cancel_pending || answered >= 2 || (answered > 0 && !ch.stale) {
            return false;
        }
        e.superseded = true;
        let (dst, transport, dialog) = (e.dst, e.transport, e.dialog);
        let mut req = e.request.clone();
        // The challenge is ACKed first (its transaction's own output), then the INVITE goes
        // again.
        self.drain_tx(now, TxKey::Invite(branch.to_owned()));
        let new_branch = format!("{BRANCH_MAGIC}{}", self.token(16));
        let cnonce = self.token(16);
        req.cseq.seq += 1;
        if let Some(via) = req.via.first_mut() {
            for (k, v) in &mut via.params {
                if k.eq_ignore_ascii_case("branch") {
                    *v = Some(new_branch.clone());
                }
            }
        }
        let uri = req.uri.to_string();
        let value = client::authorization(
            &ch,
            &client::Answer {
                username: &creds.username,
                password: &creds.password,
                method: "INVITE",
                uri: &uri,
                nc: 1,
                cnonce: &cnonce,
            },
        );
        req.headers.remove(answer_name);
        req.headers.push(answer_name, value);
        if let Some(d) = self.dialogs.get_mut(&dialog) {
            d.local_cseq = req.cseq.seq;
        }
        let tx = ClientInvite::new(
            now,
            req.to_bytes().into(),
            transport.reliable(),
            self.cfg.timers,
        );
        self.txs.invites.insert(
            new_branch.clone(),
            UacInvite {
                tx,
                dialog,
                dst,
                transport,
                request: req,
                provisional: false,
                cancel_pending: false,
                cancelled: false,
                answered: false,
                auth: Some((creds, answered + 1)),
                superseded: false,
            },
        );
        self.drain_tx(now, TxKey::Invite(new_branch));
        true
    }

    /// Withdraws our INVITE (the caller hung up while the operator's phone rang).
    ///
    /// RFC 3261 §9.1: "a CANCEL request SHOULD NOT be sent to cancel an INVITE unless a
    /// provisional response has been received"; before that the CANCEL waits for one.
    pub fn cancel(&mut self, now: Instant, dialog: DialogId) {
        let Some((branch, e)) = self
            .txs
            .invites
            .iter_mut()
            .find(|(_, e)| e.dialog == dialog && !e.superseded)
        else {
            return;
        };
        if e.answered || e.cancelled {
            return;
        }
        if !e.provisional {
            e.cancel_pending = true;
            return;
        }
        e.cancelled = true;
        let branch = branch.clone();
        self.send_cancel(now, &branch);
    }

    /// Sends the CANCEL for our INVITE with this branch.
    fn send_cancel(&mut self, now: Instant, branch: &str) {
        let Some(e) = self.txs.invites.get(branch) else {
            return;
        };
        let inv = &e.request;
        // RFC 3261 §9.1: same Request-URI, Call-ID, To, From, CSeq number and top Via
        // (branch included) as the INVITE; method CANCEL.
        let mut headers = msg::Headers::default();
        for r in inv.headers.get_all("Route") {
            headers.push("Route", r.to_owned());
        }
        headers.push("User-Agent", self.cfg.user_agent.clone());
        let cancel = Request {
            method: Method::Cancel,
            uri: inv.uri.clone(),
            via: inv.via.first().cloned().into_iter().collect(),
            from: inv.from.clone(),
            to: inv.to.clone(),
            call_id: inv.call_id.clone(),
            cseq: msg::CSeq {
                seq: inv.cseq.seq,
                method: Method::Cancel,
            },
            max_forwards: Some(70),
            headers,
            body: Vec::new(),
        };
        let (dst, transport, dialog) = (e.dst, e.transport, e.dialog);
        self.start_client_non_invite(now, branch, &cancel, dst, transport, dialog);
    }

    /// Ends the dialog from our side with a BYE (RFC 3261 §15.1.1).
    pub(super) fn send_bye(&mut self, now: Instant, dialog: DialogId) {
        let Some((req, dst, transport)) =
            self.in_dialog(dialog, Method::Bye, Vec::new(), Vec::new())
        else {
            return;
        };
        if let Some(d) = self.dialogs.get_mut(&dialog) {
            d.state = DialogState::Terminated;
        }
        let branch = req.via[0].branch().unwrap_or_default().to_owned();
        self.start_client_non_invite(now, &branch, &req, dst, transport, dialog);
    }

    /// Sends a request inside a dialog that goes on (a NOTIFY of a transfer's progress,
    /// RFC 3515 §2.4.4). Its final response, or none, arrives as [`SipEvent::Answered`]
    /// with `id`. Returns `false` when the dialog is gone or over.
    pub fn request_in_dialog(
        &mut self,
        now: Instant,
        dialog: DialogId,
        id: u64,
        method: Method,
        headers: Vec<(&str, String)>,
        body: Vec<u8>,
    ) -> bool {
        if self
            .dialogs
            .get(&dialog)
            .is_none_or(|d| d.state == DialogState::Terminated)
        {
            return false;
        }
        let Some((req, dst, transport)) = self.in_dialog(dialog, method, headers, body) else {
            return false;
        };
        let branch = req.via[0].branch().unwrap_or_default().to_owned();
        self.requests.insert(client_key(&branch, &req.method), id);
        self.start_client_non_invite(now, &branch, &req, dst, transport, dialog);
        true
    }

    /// A request inside `dialog` (RFC 3261 §12.2.1.1: the remote target as Request-URI,
    /// the route set, the next local CSeq), with where it goes.
    fn in_dialog(
        &mut self,
        dialog: DialogId,
        method: Method,
        extra: Vec<(&str, String)>,
        body: Vec<u8>,
    ) -> Option<(Request, SocketAddr, Transport)> {
        let branch = format!("{BRANCH_MAGIC}{}", self.token(16));
        let contact = {
            let d = self.dialogs.get(&dialog)?;
            self.contact(d.local_addr, d.transport)
        };
        let d = self.dialogs.get_mut(&dialog)?;
        d.local_cseq = d.local_cseq.max(1) + 1;
        let via = our_via(d.local_addr, d.transport, &branch);
        let mut headers = msg::Headers::default();
        for r in &d.route_set {
            headers.push("Route", r.clone());
        }
        headers.push("User-Agent", self.cfg.user_agent.clone());
        if method != Method::Bye {
            headers.push("Contact", contact);
        }
        for (name, value) in extra {
            headers.push(name, value);
        }
        let req = Request {
            method: method.clone(),
            uri: d.remote_target.clone(),
            via: vec![via],
            from: d.local.clone(),
            to: d.remote.clone(),
            call_id: d.call_id.clone(),
            cseq: msg::CSeq {
                seq: d.local_cseq,
                method,
            },
            max_forwards: Some(70),
            headers,
            body,
        };
        let dst = match &d.remote_target {
            _ if d.use_flow => d.peer,
            // Send to the peer's Contact when it is a literal address; otherwise (a name we
            // would have to resolve) back to where the INVITE came from.
            Uri::Sip(u)
                if d.route_set.is_empty() && matches!(u.host, Host::V4(_) | Host::V6(_)) =>
            {
                let ip = match u.host {
                    Host::V4(a) => IpAddr::V4(a),
                    Host::V6(a) => IpAddr::V6(a),
                    Host::Domain(_) => d.peer.ip(),
                };
                if d.transport.reliable() {
                    d.peer
                } else {
                    SocketAddr::new(ip, u.port.unwrap_or(5060))
                }
            }
            _ => d.peer,
        };
        Some((req, dst, d.transport))
    }

    /// Starts a client non-INVITE transaction (RFC 3261 §17.1.2) for `req`, a request of
    /// ours whose top Via carries `branch`, and sends it.
    /// `dialog` is the dialog it belongs to (0: none, as for a keep-alive OPTIONS).
    fn start_client_non_invite(
        &mut self,
        now: Instant,
        branch: &str,
        req: &Request,
        dst: SocketAddr,
        transport: Transport,
        dialog: DialogId,
    ) {
        let tx = ClientNonInvite::new(
            now,
            req.to_bytes().into(),
            transport.reliable(),
            self.cfg.timers,
        );
        let key = client_key(branch, &req.method);
        self.txs.clients.insert(
            key.clone(),
            ClientEntry {
                tx,
                dst,
                transport,
                dialog,
            },
        );
        self.drain_tx(now, TxKey::Client(key));
    }

    /// A response from the network, parsed: to our INVITE or to one of our non-INVITE
    /// requests (RFC 3261 §17.1.3); a response matching nothing is dropped.
    pub(super) fn handle_response(&mut self, now: Instant, resp: Response) {
        let Some(branch) = resp.via.first().and_then(Via::branch).map(str::to_owned) else {
            return;
        };
        // RFC 3261 §17.1.3: a response matches a client transaction by branch and CSeq
        // method.
        if resp.cseq.method == Method::Invite && self.txs.invites.contains_key(&branch) {
            self.handle_invite_response(now, branch, resp);
            return;
        }
        let branch = client_key(&branch, &resp.cseq.method);
        let Some(entry) = self.txs.clients.get_mut(&branch) else {
            return;
        };
        if entry.tx.handle_response(now, resp.status) == Disposition::Absorb {
            self.stats.retransmissions_absorbed += 1;
        } else if resp.status >= 200
            && let Some(probe) = self.probes.remove(&branch)
        {
            self.events.push_back(SipEvent::ProbeResult {
                probe,
                status: Some(resp.status),
            });
        } else if resp.status >= 200
            && let Some(id) = self.requests.remove(&branch)
        {
            self.events.push_back(SipEvent::Answered {
                id,
                response: Some(Box::new(resp)),
            });
        }
        self.drain_tx(now, TxKey::Client(branch));
    }

    /// A response to our INVITE: progress, answer (ACKed here) or failure for the call
    /// layer, and a CANCEL that was waiting for a provisional response.
    fn handle_invite_response(&mut self, now: Instant, branch: String, resp: Response) {
        let status = resp.status;
        let Some(e) = self.txs.invites.get(&branch) else {
            return;
        };
        // RFC 3261 §17.1.1.3: the ACK for a 300–699 is part of the transaction: same
        // Request-URI, top Via, From, Call-ID, CSeq number; To from the response.
        let ack = (300..700).contains(&status).then(|| {
            let mut headers = msg::Headers::default();
            for r in e.request.headers.get_all("Route") {
                headers.push("Route", r.to_owned());
            }
            Request {
                method: Method::Ack,
                uri: e.request.uri.clone(),
                via: e.request.via.first().cloned().into_iter().collect(),
                from: e.request.from.clone(),
                to: resp.to.clone(),
                call_id: e.request.call_id.clone(),
                cseq: msg::CSeq {
                    seq: e.request.cseq.seq,
                    method: Method::Ack,
                },
                max_forwards: Some(70),
                headers,
                body: Vec::new(),
            }
            .to_bytes()
            .into()
        });
        let Some(e) = self.txs.invites.get_mut(&branch) else {
            return;
        };
        let disposition = e.tx.handle_response(now, status, ack);
        let dialog = e.dialog;
        if disposition == Disposition::Absorb {
            self.stats.retransmissions_absorbed += 1;
            self.drain_tx(now, TxKey::Invite(branch));
            return;
        }
        match status {
            100..=199 => {
                let first = !e.provisional;
                e.provisional = true;
                let cancel_now = e.cancel_pending && !e.cancelled;
                if cancel_now {
                    e.cancelled = true;
                    self.send_cancel(now, &branch);
                } else if first || status != 100 {
                    self.events
                        .push_back(SipEvent::OutgoingProgress { dialog, status });
                }
            }
            200..=299 => {
                let was_answered = e.answered;
                e.answered = true;
                let withdrawn = e.cancelled || e.cancel_pending;
                if was_answered {
                    // A retransmitted 2xx: RFC 3261 §13.2.2.4, the ACK goes again.
                    if let Some(d) = self.dialogs.get(&dialog)
                        && let Some(ack) = d.ack_2xx.clone()
                    {
                        self.transmits.push_back(Transmit {
                            transport: d.transport,
                            dst: d.peer,
                            bytes: ack,
                        });
                    }
                } else {
                    let cseq = e.request.cseq.seq;
                    self.confirm_uac_dialog(dialog, &resp, cseq);
                    if withdrawn {
                        // The operator answered as we cancelled: RFC 3261 §15, ACK then BYE.
                        self.send_bye(now, dialog);
                        self.events.push_back(SipEvent::OutgoingFailed {
                            dialog,
                            status: 487,
                        });
                    } else {
                        self.events.push_back(SipEvent::OutgoingAnswered {
                            dialog,
                            sdp: resp.body.clone(),
                        });
                    }
                }
            }
            401 | 407 if self.answer_challenge(now, &branch, &resp) => {
                // The INVITE went again with credentials; this transaction only ACKs the
                // challenge and ends.
            }
            _ => {
                self.terminate(dialog);
                self.events
                    .push_back(SipEvent::OutgoingFailed { dialog, status });
            }
        }
        self.drain_tx(now, TxKey::Invite(branch));
    }

    /// A 2xx to our INVITE: the dialog takes the peer's tag, Contact and route set
    /// (RFC 3261 §12.1.2), and the ACK is sent (§13.2.2.4).
    fn confirm_uac_dialog(&mut self, dialog: DialogId, resp: &Response, invite_cseq: u32) {
        let branch = format!("{BRANCH_MAGIC}{}", self.token(16));
        let Some(d) = self.dialogs.get_mut(&dialog) else {
            return;
        };
        d.remote_tag = resp.to.tag().unwrap_or_default().to_owned();
        d.remote = resp.to.clone();
        if let Some(c) = resp
            .headers
            .get_all("Contact")
            .next()
            .and_then(|c| NameAddr::parse(c).ok())
        {
            d.remote_target = c.uri;
        }
        // RFC 3261 §12.1.2: "The route set MUST be set to the list of URIs in the
        // Record-Route header field from the response, taken in reverse order".
        d.route_set = resp
            .headers
            .get_all("Record-Route")
            .map(str::to_owned)
            .collect();
        d.route_set.reverse();
        d.state = DialogState::Confirmed;
        self.by_tags.insert(
            (d.call_id.clone(), d.local_tag.clone(), d.remote_tag.clone()),
            dialog,
        );
        let mut headers = msg::Headers::default();
        for r in &d.route_set {
            headers.push("Route", r.clone());
        }
        let ack = Request {
            method: Method::Ack,
            uri: d.remote_target.clone(),
            via: vec![our_via(d.local_addr, d.transport, &branch)],
            from: d.local.clone(),
            to: d.remote.clone(),
            call_id: d.call_id.clone(),
            // RFC 3261 §13.2.2.4: "The sequence number of the CSeq header field MUST be the
            // same as the INVITE being acknowledged".
            cseq: msg::CSeq {
                seq: invite_cseq,
                method: Method::Ack,
            },
            max_forwards: Some(70),
            headers,
            body: Vec::new(),
        };
        let bytes: Arc<[u8]> = ack.to_bytes().into();
        d.ack_2xx = Some(Arc::clone(&bytes));
        self.transmits.push_back(Transmit {
            transport: d.transport,
            dst: d.peer,
            bytes,
        });
    }
}

/// Our Via for a request we send: RFC 3261 §8.1.1.7 (a fresh branch with the magic
/// cookie) and RFC 3581 §3 (`rport`, so answers come back through NAT).
fn our_via(local: SocketAddr, transport: Transport, branch: &str) -> Via {
    let host = match local.ip() {
        IpAddr::V4(a) => Host::V4(a),
        IpAddr::V6(a) => Host::V6(a),
    };
    Via {
        transport: transport.via_name().to_owned(),
        host,
        port: Some(local.port()),
        params: vec![
            ("branch".to_owned(), Some(branch.to_owned())),
            ("rport".to_owned(), None),
        ],
    }
}
