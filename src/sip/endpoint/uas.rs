//! The user agent server: requests we receive, and our answers to them.
//!
//! Every parsed request arrives at [`SipEndpoint::handle_request`]. A retransmission, or
//! the ACK for a final error, goes to the server transaction it matches (the key is in
//! `routing.rs`). A new request is checked (method, URI scheme, `Require`, body type,
//! `Accept`: RFC 3261 §8.2) and answered by the endpoint itself unless it is a call:
//! OPTIONS, CANCEL, BYE and INFO need no decision from the call layer. A new INVITE
//! creates a dialog and becomes
//! [`SipEvent::IncomingCall`]; the call layer then rings, answers, rejects, challenges or
//! hangs up through the methods here, which turn its decision into the response the
//! pending INVITE's server transaction sends. A 2xx is then retransmitted by the UAS core
//! until its ACK arrives (RFC 3261 §13.3.1.4), which is also handled here.
//!
//! REGISTER is passed on as [`SipEvent::Register`] when the endpoint serves as registrar,
//! and a REFER inside a dialog as [`SipEvent::Refer`]; both are answered through
//! [`SipEndpoint::respond`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use super::dialog::{Dialog, DialogState};
use super::keys::{ServerKey, TxKey, server_key};
use super::routing::{ServerEntry, ServerTx, pump, refused, response_destination};
use super::{DialogId, EndReason, RequestId, SipEndpoint, SipEvent, TimerOwner, Transport};
use crate::sip::msg::{self, Host, Method, Request, Response, Uri};
use crate::sip::transaction::{
    Disposition, ServerInvite, ServerNonInvite, Transaction, TxEvent, Uas2xxRetransmitter,
};

impl SipEndpoint {
    /// Answers a request handed out as [`SipEvent::Register`]. The response is sent as
    /// given, with our `Server` header; a second answer to the same request is ignored.
    pub fn respond(&mut self, now: Instant, id: RequestId, mut resp: Response) {
        let Some(key) = self.pending_requests.remove(&id) else {
            return;
        };
        resp.headers.set("Server", self.cfg.user_agent.clone());
        let status = resp.status;
        if let Some(entry) = self.txs.servers.get_mut(&key)
            && let ServerTx::NonInvite(tx) = &mut entry.tx
        {
            refused(tx.send_response(now, status, resp.to_bytes().into()));
        }
        self.drain_tx(now, TxKey::Server(key));
    }

    /// Sends 180 Ringing for a new call.
    pub fn ringing(&mut self, now: Instant, dialog: DialogId) {
        self.respond_invite(now, dialog, 180, None);
    }

    /// Answers the pending INVITE (initial or re-INVITE) with 200 and this SDP body.
    pub fn answer(&mut self, now: Instant, dialog: DialogId, sdp: Vec<u8>) {
        self.respond_invite(now, dialog, 200, Some(sdp));
    }

    /// Refuses the pending INVITE with a final error (e.g. 488). For the initial INVITE
    /// this ends the dialog; for a re-INVITE the call goes on as before (RFC 3261 §14.2).
    pub fn reject(&mut self, now: Instant, dialog: DialogId, status: u16) {
        debug_assert!(status >= 300, "reject takes a final error status");
        self.respond_invite(now, dialog, status.max(300), None);
    }

    /// As [`SipEndpoint::reject`], with a `Warning` header saying why (RFC 3261 §20.43,
    /// code 399: "Miscellaneous warning"), e.g. what was wrong with the offered SDP.
    pub fn reject_because(&mut self, now: Instant, dialog: DialogId, status: u16, why: &str) {
        if let Some(d) = self.dialogs.get_mut(&dialog) {
            d.warning = Some(why.replace(['"', '\\', '\r', '\n'], "'"));
        }
        self.reject(now, dialog, status);
    }

    /// Refuses a new INVITE with 401 and these `WWW-Authenticate` challenges (RFC 3261
    /// §22.3: a UAS may challenge); the phone sends the INVITE again with credentials.
    pub fn challenge(&mut self, now: Instant, dialog: DialogId, challenges: Vec<String>) {
        if let Some(d) = self.dialogs.get_mut(&dialog) {
            d.challenges = challenges;
        }
        self.respond_invite(now, dialog, 401, None);
    }

    /// Ends the call from our side: BYE when answered, 480 when still ringing.
    pub fn hangup(&mut self, now: Instant, dialog: DialogId) {
        let Some(d) = self.dialogs.get_mut(&dialog) else {
            return;
        };
        match d.state {
            DialogState::Early if d.pending_invite.is_none() => self.cancel(now, dialog),
            DialogState::Early => self.respond_invite(now, dialog, 480, None),
            DialogState::Answered => d.bye_pending = true,
            DialogState::Confirmed => self.send_bye(now, dialog),
            DialogState::Terminated => {}
        }
    }

    /// A request from the network, parsed; `src` is where it came from.
    pub(super) fn handle_request(
        &mut self,
        now: Instant,
        src: SocketAddr,
        local: SocketAddr,
        transport: Transport,
        mut req: Request,
    ) {
        // RFC 3261 §18.2.1: "the server MUST add a "received" parameter to that Via header
        // field value" when sent-by differs from the source; RFC 3581 §4: with "rport" and
        // no value, fill in the source port.
        if let Some(top) = req.via.first_mut() {
            let differs = match &top.host {
                Host::V4(a) => IpAddr::V4(*a) != src.ip(),
                Host::V6(a) => IpAddr::V6(*a) != src.ip(),
                Host::Domain(_) => true,
            };
            if differs {
                top.set_received(src.ip());
            }
            if top.rport() == Some(None) {
                top.set_rport(src.port());
            }
        }
        let Some(key) = server_key(&req) else {
            self.stats.malformed_dropped += 1;
            return;
        };
        let dst = response_destination(req.via.first(), src, transport);

        // Retransmission or ACK of an existing server transaction?
        let lookup = ServerKey {
            method: if req.method == Method::Ack {
                Method::Invite
            } else {
                req.method.clone()
            },
            ..key.clone()
        };
        if let Some(entry) = self.txs.servers.get_mut(&lookup) {
            let tx_key = TxKey::Server(lookup.clone());
            match (&mut entry.tx, &req.method) {
                (ServerTx::Invite { tx, dialog }, Method::Ack) => {
                    let dialog = *dialog;
                    if tx.handle_ack(now) == Disposition::PassToTu {
                        self.drain_tx(now, tx_key);
                        self.dialog_ack(now, dialog);
                    } else {
                        self.stats.retransmissions_absorbed += 1;
                        self.drain_tx(now, tx_key);
                    }
                }
                (ServerTx::Invite { tx, .. }, _) => {
                    tx.handle_request_retransmit(now);
                    self.stats.retransmissions_absorbed += 1;
                    self.drain_tx(now, tx_key);
                }
                (ServerTx::NonInvite(tx), _) => {
                    tx.handle_request_retransmit(now);
                    self.stats.retransmissions_absorbed += 1;
                    self.drain_tx(now, tx_key);
                }
            }
            return;
        }
        // RFC 3261 §8.2 checks: INVITE and non-INVITE handlers refuse with this status;
        // ACK gets no answer and CANCEL is not checked.
        if !matches!(req.method, Method::Ack | Method::Cancel)
            && let Some(status) = self.precheck(&req)
        {
            self.note_refusal(src, &req, status);
        }

        match req.method {
            // An ACK matching no transaction is the ACK for a 2xx: it belongs to a dialog
            // (RFC 3261 §17.2.3, §13.3.1.4). Otherwise it is dropped: ACKs get no response.
            Method::Ack => {
                if let Some(d) = self.find_dialog(&req) {
                    self.dialog_ack(now, d);
                }
            }
            Method::Cancel => self.handle_cancel(now, key, dst, transport, &req),
            Method::Invite => self.handle_invite(now, key, src, local, dst, transport, req),
            Method::Register if self.cfg.registrar && self.precheck(&req).is_none() => {
                let tx = ServerNonInvite::new(now, transport.reliable(), self.cfg.timers);
                // RFC 3261 §8.2.6.1: a non-INVITE server transaction sends no 100 on
                // its own; the registrar answers within the same loop turn.
                let id = self.next_request;
                self.next_request += 1;
                self.insert_server(now, key.clone(), ServerTx::NonInvite(tx), dst, transport);
                self.pending_requests.insert(id, key);
                self.events.push_back(SipEvent::Register {
                    id,
                    request: Box::new(req),
                    source: src,
                    transport,
                });
            }
            Method::Refer if req.to.tag().is_some() && self.precheck(&req).is_none() => {
                self.handle_refer(now, key, dst, transport, req);
            }
            _ => self.handle_non_invite(now, key, dst, transport, req),
        }
    }

    /// A REFER inside a dialog (RFC 3515 §2.4.2) is handed to the endpoint's user, who
    /// accepts or refuses it; its server transaction absorbs retransmissions meanwhile.
    fn handle_refer(
        &mut self,
        now: Instant,
        key: ServerKey,
        dst: SocketAddr,
        transport: Transport,
        req: Request,
    ) {
        let mut tx = ServerNonInvite::new(now, transport.reliable(), self.cfg.timers);
        let dialog = self.find_dialog(&req);
        let refusal = match dialog {
            None => Some(481),
            Some(d) => self.check_cseq(d, &req),
        };
        match (dialog, refusal) {
            (Some(dialog), None) => {
                let id = self.next_request;
                self.next_request += 1;
                self.insert_server(now, key.clone(), ServerTx::NonInvite(tx), dst, transport);
                self.pending_requests.insert(id, key);
                self.events.push_back(SipEvent::Refer {
                    dialog,
                    id,
                    request: Box::new(req),
                });
            }
            (_, status) => {
                let status = status.unwrap_or(481);
                let resp = self.response(&req, status, None);
                refused(tx.send_response(now, status, resp.to_bytes().into()));
                self.insert_server(now, key, ServerTx::NonInvite(tx), dst, transport);
            }
        }
    }

    #[allow(clippy::too_many_arguments)] // one call site; bundling would only rename them
    fn handle_invite(
        &mut self,
        now: Instant,
        key: ServerKey,
        src: SocketAddr,
        local: SocketAddr,
        dst: SocketAddr,
        transport: Transport,
        req: Request,
    ) {
        if req.to.tag().is_none() && self.shed_invite(now, &key, &req, dst, transport) {
            return;
        }
        let trying = self.response(&req, 100, None).to_bytes();
        let mut tx = ServerInvite::new(now, transport.reliable(), self.cfg.timers, trying.into());
        if let Some(status) = self.precheck(&req) {
            let resp = self.error_response(&req, status);
            refused(tx.send_response(now, status, resp.to_bytes().into()));
            self.insert_server(now, key, ServerTx::Invite { tx, dialog: 0 }, dst, transport);
            return;
        }
        if self.draining && req.to.tag().is_none() {
            self.stats.refused_draining += 1;
            let mut resp = self.response(&req, 503, None);
            resp.headers.set("Retry-After", "120");
            refused(tx.send_response(now, 503, resp.to_bytes().into()));
            self.insert_server(now, key, ServerTx::Invite { tx, dialog: 0 }, dst, transport);
            return;
        }
        if req.to.tag().is_some() {
            // re-INVITE
            let Some(dialog) = self.find_dialog(&req) else {
                self.note_refusal(src, &req, 481);
                let resp = self.response(&req, 481, None);
                refused(tx.send_response(now, 481, resp.to_bytes().into()));
                self.insert_server(now, key, ServerTx::Invite { tx, dialog: 0 }, dst, transport);
                return;
            };
            let status = self.check_cseq(dialog, &req);
            let busy = self
                .dialogs
                .get(&dialog)
                .is_some_and(|d| d.pending_invite.is_some() || d.state != DialogState::Confirmed);
            let status = status.or(if busy { Some(491) } else { None });
            if let Some(status) = status {
                self.note_refusal(src, &req, status);
                let tag = self.dialogs.get(&dialog).map(|d| d.local_tag.clone());
                let resp = self.response(&req, status, tag.as_deref());
                refused(tx.send_response(now, status, resp.to_bytes().into()));
                self.insert_server(now, key, ServerTx::Invite { tx, dialog }, dst, transport);
                return;
            }
            let tag = self.dialogs.get(&dialog).map(|d| d.local_tag.clone());
            let trying = self.response(&req, 100, tag.as_deref());
            refused(tx.send_response(now, 100, trying.to_bytes().into()));
            if let Some(d) = self.dialogs.get_mut(&dialog) {
                d.pending_invite = Some((key.clone(), Box::new(req.clone())));
                if let Some(target) = first_contact_uri(&req) {
                    d.remote_target = target;
                }
            }
            self.insert_server(now, key, ServerTx::Invite { tx, dialog }, dst, transport);
            self.events.push_back(SipEvent::ReInvite {
                dialog,
                request: Box::new(req),
            });
            return;
        }

        let dialog = self.next_dialog;
        self.next_dialog += 1;
        let local_tag = self.token(10);
        let remote_tag = req.from.tag().unwrap_or_default().to_owned();
        let mut local_na = req.to.clone();
        local_na.set_tag(&local_tag);
        let remote_target = first_contact_uri(&req).unwrap_or_else(|| req.from.uri.clone());
        let route_set = req
            .headers
            .get_all("Record-Route")
            .map(str::to_owned)
            .collect();
        let d = Dialog {
            call_id: req.call_id.clone(),
            local_tag: local_tag.clone(),
            remote_tag: remote_tag.clone(),
            local: local_na,
            remote: req.from.clone(),
            remote_target,
            route_set,
            remote_cseq: req.cseq.seq,
            local_cseq: 0,
            peer: src,
            retransmit_to: src,
            local_addr: local,
            transport,
            state: DialogState::Early,
            pending_invite: Some((key.clone(), Box::new(req.clone()))),
            retransmit_2xx: None,
            warning: None,
            challenges: Vec::new(),
            use_flow: false,
            ack_2xx: None,
            bye_pending: false,
        };
        self.by_tags
            .insert((req.call_id.clone(), local_tag, remote_tag), dialog);
        self.dialogs.insert(dialog, d);
        // Send 100 at once rather than after 200 ms: the call layer needs a few ms to set up
        // media and the caller's retransmissions stop sooner.
        let trying = self.response(&req, 100, None);
        refused(tx.send_response(now, 100, trying.to_bytes().into()));
        self.insert_server(now, key, ServerTx::Invite { tx, dialog }, dst, transport);
        self.events.push_back(SipEvent::IncomingCall {
            dialog,
            request: Box::new(req),
            source: src,
            local,
            transport,
        });
    }

    fn handle_cancel(
        &mut self,
        now: Instant,
        key: ServerKey,
        dst: SocketAddr,
        transport: Transport,
        req: &Request,
    ) {
        // RFC 3261 §9.2: the CANCEL matches the INVITE's server transaction by branch and
        // sent-by. "If the UAS did not find a matching transaction for the CANCEL request,
        // it SHOULD respond to the CANCEL with a 481".
        let invite_key = ServerKey {
            method: Method::Invite,
            ..key.clone()
        };
        let target = match self.txs.servers.get(&invite_key) {
            Some(ServerEntry {
                tx: ServerTx::Invite { dialog, .. },
                ..
            }) => Some(*dialog),
            _ => None,
        };
        let status = if target.is_some() { 200 } else { 481 };
        if status == 481 {
            self.note_refusal(dst, req, status);
        }
        let tag = target
            .and_then(|d| self.dialogs.get(&d))
            .map(|d| d.local_tag.clone());
        let resp = self.response(req, status, tag.as_deref());
        let mut tx = ServerNonInvite::new(now, transport.reliable(), self.cfg.timers);
        refused(tx.send_response(now, status, resp.to_bytes().into()));
        self.insert_server(now, key, ServerTx::NonInvite(tx), dst, transport);
        if let Some(dialog) = target
            && self
                .dialogs
                .get(&dialog)
                .is_some_and(|d| d.state == DialogState::Early)
        {
            // "the UAS SHOULD immediately respond to the INVITE with a 487"
            self.respond_invite(now, dialog, 487, None);
            self.events.push_back(SipEvent::Ended {
                dialog,
                reason: EndReason::Cancelled,
            });
        }
    }

    fn handle_non_invite(
        &mut self,
        now: Instant,
        key: ServerKey,
        dst: SocketAddr,
        transport: Transport,
        req: Request,
    ) {
        let mut tx = ServerNonInvite::new(now, transport.reliable(), self.cfg.timers);
        let mut event = None;
        let checked = self.precheck(&req);
        let (status, tag) = if let Some(status) = checked {
            (status, None)
        } else if req.to.tag().is_some() && req.method != Method::Options {
            match self.find_dialog(&req) {
                None => (481, None),
                Some(dialog) => {
                    let tag = self.dialogs.get(&dialog).map(|d| d.local_tag.clone());
                    match self.check_cseq(dialog, &req) {
                        Some(status) => (status, tag),
                        None => match req.method {
                            Method::Bye => {
                                self.terminate(dialog);
                                event = Some(SipEvent::Ended {
                                    dialog,
                                    reason: EndReason::PeerBye,
                                });
                                (200, tag)
                            }
                            Method::Info => {
                                event = Some(SipEvent::Info {
                                    dialog,
                                    content_type: req.content_type().unwrap_or("").to_owned(),
                                    body: req.body.clone(),
                                });
                                (200, tag)
                            }
                            _ => (405, tag),
                        },
                    }
                }
            }
        } else {
            match req.method {
                Method::Options => (200, None),
                // Out of a dialog, BYE and INFO have nothing to act on.
                Method::Bye | Method::Info => (481, None),
                // A transfer is only ever asked for inside the operator's call: a REFER out
                // of any dialog would make the daemon call someone for a stranger.
                Method::Refer => {
                    tracing::info!(src = %crate::pii::Pii(dst), "REFER outside a call refused");
                    (403, None)
                }
                _ => (405, None),
            }
        };
        // The §8.2 refusals were noted on arrival; the dialog's own (481, 500, 405) here.
        if status >= 300 && checked.is_none() {
            self.note_refusal(dst, &req, status);
        }
        let mut resp = if status >= 300 && status != 481 {
            self.error_response(&req, status)
        } else {
            self.response(&req, status, tag.as_deref())
        };
        if req.method == Method::Options && status == 200 {
            resp.headers.set("Allow", self.allow());
            resp.headers.set("Accept", "application/sdp");
            resp.headers.set("Accept-Language", "hu");
            resp.headers.set("Supported", "");
        }
        refused(tx.send_response(now, status, resp.to_bytes().into()));
        self.insert_server(now, key, ServerTx::NonInvite(tx), dst, transport);
        if let Some(ev) = event {
            self.events.push_back(ev);
        }
    }

    /// Checks every request must pass before it is served; returns the error status.
    fn precheck(&self, req: &Request) -> Option<u16> {
        // RFC 3261 §8.2.1: unknown method → 501 (405 when known but not allowed).
        if let Method::Extension(_) = req.method {
            return Some(501);
        }
        let served = matches!(
            req.method,
            Method::Invite
                | Method::Ack
                | Method::Cancel
                | Method::Bye
                | Method::Options
                | Method::Info
                | Method::Refer
        ) || (req.method == Method::Register && self.cfg.registrar);
        if !served {
            return Some(405);
        }
        // RFC 3261 §8.2.2.1: "If the Request-URI uses a scheme not supported by the UAS, it
        // SHOULD reject the request with a 416 (Unsupported URI Scheme) response."
        if !matches!(req.uri, Uri::Sip(_) | Uri::Tel(_)) {
            return Some(416);
        }
        // RFC 3261 §8.2.2.3: an unsupported option tag in Require → 420 Bad Extension.
        if req.method != Method::Ack
            && req.method != Method::Cancel
            && req.headers.get_all("Require").any(|t| !t.trim().is_empty())
        {
            return Some(420);
        }
        // RFC 3261 §8.2.3: "If a UAS does not understand the body's content type ... the
        // UAS MUST reject the request with a 415 (Unsupported Media Type) response." An
        // INVITE's body is its session description; SDP is the only kind served.
        if req.method == Method::Invite
            && !req.body.is_empty()
            && req
                .content_type()
                .is_some_and(|ct| !media_type_is(ct, "application/sdp"))
        {
            return Some(415);
        }
        // RFC 3261 §20.1: "If no Accept header field is present, the server SHOULD assume a
        // default value of application/sdp"; one that rules SDP out leaves no answer to send,
        // and RFC 4475 §3.3.15 has such an INVITE refused with 406 (Not Acceptable).
        if req.method == Method::Invite
            && req.headers.get("Accept").is_some()
            && !req
                .headers
                .get_all("Accept")
                .flat_map(|v| v.split(','))
                .any(|range| {
                    ["application/sdp", "application/*", "*/*"]
                        .iter()
                        .any(|t| media_type_is(range, t))
                })
        {
            return Some(406);
        }
        None
    }

    /// The ACK for our 2xx arrived (RFC 3261 §13.3.1.4): retransmissions stop, the call is
    /// confirmed, and a hang-up that waited for the ACK goes out now.
    fn dialog_ack(&mut self, now: Instant, dialog: DialogId) {
        let Some(d) = self.dialogs.get_mut(&dialog) else {
            return;
        };
        if let Some(r) = d.retransmit_2xx.as_mut() {
            // Later ACKs (one per retransmitted 2xx) are absorbed by the state check below.
            let _ = r.handle_ack(now);
        }
        d.retransmit_2xx = None;
        if d.state == DialogState::Answered {
            d.state = DialogState::Confirmed;
            let bye = d.bye_pending;
            self.events.push_back(SipEvent::Confirmed { dialog });
            if bye {
                self.send_bye(now, dialog);
            }
        }
    }

    /// Sends `status` (and an SDP body) as the response to the dialog's pending INVITE,
    /// initial or re-INVITE, and moves the dialog on; nothing happens without one.
    fn respond_invite(
        &mut self,
        now: Instant,
        dialog: DialogId,
        status: u16,
        sdp: Option<Vec<u8>>,
    ) {
        let Some(d) = self.dialogs.get(&dialog) else {
            return;
        };
        let Some((key, req)) = d.pending_invite.clone() else {
            return;
        };
        let initial = d.state == DialogState::Early;
        let tag = d.local_tag.clone();
        let contact = self.contact(d.local_addr, d.transport);
        let warning = d.warning.clone();
        let challenges = d.challenges.clone();
        let mut resp = if status >= 300 {
            let mut r = self.error_response(&req, status);
            r.to.set_tag(&tag);
            if let Some(w) = warning {
                r.headers.set("Warning", format!("399 ugyelet \"{w}\""));
            }
            if status == 401 {
                for c in challenges {
                    r.headers.push("WWW-Authenticate", c);
                }
            }
            r
        } else {
            self.response(&req, status, Some(&tag))
        };
        if (101..300).contains(&status) {
            resp.headers.set("Contact", contact);
        }
        if status == 200 {
            resp.headers.set("Allow", self.allow());
            resp.headers.set("Supported", "");
        }
        if let Some(body) = sdp {
            resp.headers.set("Content-Type", "application/sdp");
            resp.body = body;
        }
        let bytes: Arc<[u8]> = resp.to_bytes().into();
        if let Some(entry) = self.txs.servers.get_mut(&key)
            && let ServerTx::Invite { tx, .. } = &mut entry.tx
        {
            refused(tx.send_response(now, status, Arc::clone(&bytes)));
        }
        self.drain_tx(now, TxKey::Server(key));
        let Some(d) = self.dialogs.get_mut(&dialog) else {
            return;
        };
        if status >= 200 {
            d.pending_invite = None;
        }
        match status {
            200..=299 => {
                if initial {
                    d.state = DialogState::Answered;
                }
                // RFC 3261 §13.3.1.4: the UAS core retransmits the 2xx until the ACK,
                // "independent of the transport protocol used".
                d.retransmit_2xx = Some(Uas2xxRetransmitter::new(now, bytes, self.cfg.timers));
                // Retransmissions go where the first 2xx went (RFC 3261 §18.2.2).
                d.retransmit_to = response_destination(req.via.first(), d.peer, d.transport);
                self.drain_2xx(now, dialog);
            }
            300.. if initial => self.terminate(dialog),
            _ => {}
        }
    }

    /// A response to `req` with the mandatory headers copied (RFC 3261 §8.2.6.2: "if the
    /// To header field in the request did not contain a tag, ... the UAS MUST add a tag to
    /// the To header field in the response (with the exception of the 100 (Trying)
    /// response"). Without a dialog tag a fresh one is drawn; the transaction resends these
    /// same bytes to retransmissions.
    fn response(&mut self, req: &Request, status: u16, to_tag: Option<&str>) -> Response {
        let fresh =
            (to_tag.is_none() && status > 100 && req.to.tag().is_none()).then(|| self.token(10));
        let to_tag = to_tag.or(fresh.as_deref());
        let mut r = Response::from_request(req, status, msg::reason_phrase(status), to_tag);
        r.headers.set("Server", self.cfg.user_agent.clone());
        r
    }

    fn error_response(&mut self, req: &Request, status: u16) -> Response {
        let mut r = self.response(req, status, None);
        match status {
            405 | 501 => r.headers.set("Allow", self.allow()),
            // RFC 3261 §8.2.3: the 415 "MUST contain an Accept header field listing the
            // types of all bodies it understands".
            415 => r.headers.set("Accept", "application/sdp"),
            420 => {
                let tags: Vec<&str> = req.headers.get_all("Require").map(str::trim).collect();
                r.headers.set("Unsupported", tags.join(", "));
            }
            _ => {}
        }
        r
    }

    /// Sends what the dialog's 2xx retransmitter has due and re-arms it. When it gives up
    /// without an ACK the call is ended with a BYE (RFC 3261 §13.3.1.4).
    pub(super) fn drain_2xx(&mut self, now: Instant, dialog: DialogId) {
        let Some(d) = self.dialogs.get_mut(&dialog) else {
            return;
        };
        let Some(r) = d.retransmit_2xx.as_mut() else {
            return;
        };
        let (dst, transport) = (d.retransmit_to, d.transport);
        let gave_up =
            pump(r, dst, transport, &mut self.transmits).contains(&TxEvent::AckNotReceived);
        let next = r.poll_timeout();
        if gave_up {
            d.retransmit_2xx = None;
            // RFC 3261 §13.3.1.4: "If the server retransmits the 2xx response for 64*T1
            // seconds without receiving an ACK, the dialog is confirmed, but the session
            // SHOULD be terminated. This is accomplished with a BYE".
            d.state = DialogState::Confirmed;
            self.events.push_back(SipEvent::Ended {
                dialog,
                reason: EndReason::AckTimeout,
            });
            self.send_bye(now, dialog);
            return;
        }
        if let Some(at) = next {
            self.arm(at.max(now), TimerOwner::Retransmit2xx(dialog));
        }
    }
}

/// `value` (a Content-Type or one Accept media range, parameters allowed) names the media
/// type `ty`; RFC 3261 §7.3.1: media types compare case-insensitively.
fn media_type_is(value: &str, ty: &str) -> bool {
    value
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(ty))
}

/// The URI of the request's first Contact: the remote target (RFC 3261 §12.1.1).
fn first_contact_uri(req: &Request) -> Option<Uri> {
    req.contacts().ok()?.into_iter().next().map(|c| c.uri)
}
