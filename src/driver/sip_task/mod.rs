//! The SIP task: one task owns the SIP endpoint and the switchboard, and brings them the
//! network.
//!
//! ```text
//!            ┌──────────── SIP task (one) ──────────────┐
//!  UDP ─────►│ SipEndpoint (transactions, dialogs)      │──── ToCall ────► call task (one per call)
//!  TCP conns►│ Switchboard (registrar, queue, op. legs) │◄─── ToSip ───── call tasks, TCP, admin
//!            └──────────────────────────────────────────┘
//! ```
//!
//! The task owns both cores exclusively, so neither needs a lock: whatever wants to change
//! SIP state (a call answering or hanging up, an admin pausing an operator) sends a
//! [`ToSip`] message. The loop is the house's six steps: wait for one input (a batch of
//! datagrams, `udp.rs`; a message; the earliest deadline; shutdown), make the `handle_*`
//! calls, drain every `poll_*` of both cores, publish what the admin API reads, send what
//! is due, sleep again.
//!
//! What is decided here is only what needs I/O: binding RTP ports, reading the clock and
//! the OS random number generator, spawning call tasks. Whether to take a call is
//! [`admission::admit`]; what to do for operators is the [`Switchboard`]'s.

pub(super) mod callbacks;
mod timing;
pub(super) mod udp;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use super::live::{self, Shared};
use super::messages::{ToCall, ToSip};
use super::{call_task, notify, rtp_ports::RtpPorts};
use crate::admission::{self, Admission};
use crate::call::{CallCommand, CallInput, CallSetup};
use crate::dialplan::interp::CallEnv;
use crate::phone;
use crate::pii::{Pii, Security, security};
use crate::registrar::{SavedBinding, Source};
use crate::sdp::offer_answer::{LocalMedia, MediaSession};
use crate::sip::endpoint::{DialogId, SipEndpoint, SipEvent, Transmit, Transport};
use crate::sip::msg::{Method, Request};
use crate::sip::ratelimit::{self, RateLimiter, Verdict};
use crate::sip::refer;
use crate::switchboard::{Action, CallOut, Caller, Reach, Ring, Switchboard};

/// Where call tasks send what they produce: SIP commands, and their record when they end.
pub(super) struct Outlets {
    pub to_sip: mpsc::UnboundedSender<ToSip>,
    pub records: std::sync::mpsc::Sender<super::records::ToRecords>,
}

/// The SIP task's state.
pub(super) struct SipTask {
    pub endpoint: SipEndpoint,
    pub board: Switchboard,
    pub limiter: RateLimiter,
    pub udp: UdpSocket,
    /// Batches read from `udp`, and whether the task is behind it (`udp.rs`).
    pub inbound: udp::UdpInput,
    pub shared: Arc<Shared>,
    pub outlets: Outlets,
    pub ports: RtpPorts,
    pub locals: LocalAddrs,
    /// Where operator states are saved across restarts.
    pub saved_path: PathBuf,
    /// Call tasks by their caller leg.
    pub calls: HashMap<DialogId, mpsc::UnboundedSender<ToCall>>,
    /// Writers of accepted TCP connections.
    pub tcp: HashMap<u64, mpsc::UnboundedSender<Arc<[u8]>>>,
    /// RTP ports of operator legs, until the leg is released. A bridged call gets a
    /// handle of its own; this one stays, so a transfer can bridge the leg again (a failed
    /// transfer returns the caller to the operator who asked).
    pub leg_ports: HashMap<DialogId, StdUdpSocket>,
    /// Calls whose answer was given this turn: told once their 200 OK has been sent.
    pub answered: Vec<DialogId>,
    /// The provider's trunk, when one is configured.
    pub trunk: Option<super::trunk::TrunkLink>,
    /// Where changed registrations go to be kept across restarts.
    pub bindings: std::sync::mpsc::Sender<Vec<SavedBinding>>,
    /// Callback jobs' writer and relays (`callbacks.rs`).
    pub callbacks: callbacks::CallbackLink,
    /// The SIP/TLS listener's port, when there is one (our Via and Contact towards phones
    /// on TLS).
    pub tls_port: Option<u16>,
    /// SRTP keys of operator legs rung over TLS (`driver/secure.rs`).
    pub secure: super::secure::SecureLegs,
}

impl SipTask {
    /// Runs until `shutdown` completes and the calls in progress have ended (or the drain
    /// timeout passed).
    pub async fn run(
        mut self,
        mut inbox: mpsc::UnboundedReceiver<ToSip>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let cfg = self.shared.cfg.clone();
        let watchdog = notify::watchdog_interval();
        let mut buf = vec![0u8; cfg.sip.max_message_bytes.max(2048) + 1];
        tokio::pin!(shutdown);
        // Draining: after SIGTERM new calls get 503, calls in progress run to their end (or
        // until the drain timeout), then the daemon exits.
        let mut drain_until: Option<Instant> = None;
        let mut published = Instant::now();
        let mut petted = Instant::now();
        self.publish(Instant::now(), &mut published, true);
        loop {
            let now = Instant::now();
            // `calls` forgets a call as soon as SIP ends it; the call's task may still be
            // finishing (its log line, its counters). Stop only when every task is done.
            let tasks = self.shared.metrics.calls_active.load(Ordering::Relaxed);
            if let Some(until) = drain_until
                && ((self.calls.is_empty() && tasks == 0) || now >= until)
            {
                break;
            }
            if let Some(every) = watchdog
                && now.duration_since(petted) >= every
            {
                notify::send("WATCHDOG=1");
                petted = now;
            }
            let mut deadline = earliest(self.endpoint.poll_timeout(), self.board.poll_timeout());
            // Metrics once a second, and the watchdog on time even with a short period.
            let mut housekeeping = now + Duration::from_secs(1);
            if let Some(every) = watchdog {
                housekeeping = housekeeping.min(petted + every);
            }
            deadline = earliest(deadline, Some(housekeeping));
            deadline = earliest(deadline, drain_until);
            deadline = earliest(deadline, self.trunk.as_ref().and_then(|t| t.poll_timeout()));
            deadline = earliest(deadline, self.inbound.poll_timeout());
            tokio::select! {
                r = self.udp.readable() => match r {
                    Ok(()) => self.on_readable(),
                    Err(e) => debug!("SIP/UDP receive: {e}"),
                },
                Some(msg) = inbox.recv() => self.on_message(Instant::now(), msg),
                () = sleep_until(deadline) => {
                    let now = Instant::now();
                    self.endpoint.handle_timeout(now);
                    self.board.handle_timeout(now);
                    if let Some(t) = &mut self.trunk {
                        t.handle_timeout(now);
                    }
                    self.overload_timeout(now);
                }
                () = &mut shutdown, if drain_until.is_none() => {
                    let timeout = Duration::from_secs(cfg.call.drain_timeout_s);
                    info!(calls = self.calls.len(), timeout_s = timeout.as_secs(), "draining: new calls get 503, calls in progress may finish");
                    notify::send("STOPPING=1");
                    self.endpoint.set_draining(true);
                    self.shared.metrics.draining.store(1, Ordering::Relaxed);
                    drain_until = Some(Instant::now() + timeout);
                }
            }
            let now = Instant::now();
            self.drain(now);
            self.keep_bindings(now);
            self.publish(now, &mut published, false);
            self.flush().await;
        }
        self.stop(&mut buf).await;
    }

    /// Calls still up after the drain timeout are hung up, operator legs with them; a short
    /// grace period lets the BYEs and CANCELs (and their retransmissions) go out and be
    /// answered.
    async fn stop(mut self, buf: &mut [u8]) {
        let remaining: Vec<DialogId> = self.calls.keys().copied().collect();
        info!(calls = remaining.len(), "shutting down");
        let now = Instant::now();
        let legs = self.board.shutdown(now);
        self.carry_out(now);
        self.save_callbacks();
        for d in &remaining {
            self.endpoint.hangup(now, *d);
        }
        let busy = !remaining.is_empty() || legs > 0;
        let grace = now + Duration::from_secs(if busy { 2 } else { 0 });
        loop {
            self.flush().await;
            let now = Instant::now();
            if now >= grace {
                break;
            }
            let wake = self.endpoint.poll_timeout().map_or(grace, |t| t.min(grace));
            tokio::select! {
                r = self.udp.recv_from(buf) => {
                    if let Ok((len, src)) = r && len < buf.len() {
                        let local = self.locals.for_peer(src.ip());
                        self.endpoint.handle_message(Instant::now(), src, local, Transport::Udp, &buf[..len]);
                    }
                }
                () = tokio::time::sleep_until(wake.into()) => self.endpoint.handle_timeout(Instant::now()),
            }
            while self.endpoint.poll_event().is_some() {}
        }
    }

    fn on_message(&mut self, now: Instant, msg: ToSip) {
        self.time_message(now, &msg);
        match msg {
            ToSip::Command(dialog, cmd) => match cmd {
                CallCommand::Answer { sdp } => {
                    self.endpoint.answer(now, dialog, sdp);
                    self.answered.push(dialog);
                }
                CallCommand::Reject { status } => self.endpoint.reject(now, dialog, status),
                CallCommand::Hangup => self.endpoint.hangup(now, dialog),
                CallCommand::Enqueue {
                    queue,
                    path,
                    path_label,
                    topic,
                    caller,
                    codec,
                } => self.board.handle_enqueue(
                    now,
                    dialog,
                    &queue,
                    Caller {
                        number: caller,
                        path,
                        path_label,
                        topic,
                    },
                    codec,
                ),
                CallCommand::LeaveQueue => self.board.call_gone(now, dialog),
                CallCommand::Transfer {
                    to,
                    path,
                    path_label,
                    topic,
                    caller,
                    codec,
                } => {
                    let served = self.shared.current();
                    let reach = Reach {
                        queues: &self.shared.cfg.dialplan.queues,
                        allowed: &served.plan.transfer_allowed,
                        trunk: self.trunk.is_some(),
                    };
                    let caller = Caller {
                        number: caller,
                        path,
                        path_label,
                        topic,
                    };
                    self.board
                        .handle_transfer(now, dialog, to, caller, codec, &reach);
                }
            },
            ToSip::CallGone(dialog) => {
                self.calls.remove(&dialog);
                self.endpoint.hangup(now, dialog);
                self.board.call_gone(now, dialog);
            }
            ToSip::Accounts(ops) => self.board.set_accounts(now, ops),
            ToSip::Callback(job) => self.board.callback_request(now, job),
            ToSip::CallbackCancel { id, reply } => {
                let _ = reply.send(self.board.cancel_callback(now, id));
            }
            ToSip::TrunkResolved(found) => {
                if let Some(t) = &mut self.trunk {
                    t.resolved(now, found);
                }
            }
            ToSip::Agent { name, op, reply } => {
                let _ = reply.send(self.board.agent_op(now, &name, op));
            }
            ToSip::Tcp {
                conn,
                src,
                local,
                bytes,
                secure,
            } => {
                if admit_source(&mut self.limiter, now, src) {
                    let t = if secure {
                        Transport::Tls(conn)
                    } else {
                        Transport::Tcp(conn)
                    };
                    self.endpoint.handle_message(now, src, local, t, &bytes);
                }
            }
            ToSip::TcpOpen { conn, writer } => {
                self.tcp.insert(conn, writer);
            }
            ToSip::TcpClosed { conn } => {
                self.tcp.remove(&conn);
                self.board.connection_closed(now, conn);
            }
        }
    }

    /// Drains both cores until neither has anything left: an endpoint event can make the
    /// switchboard act on the endpoint, which can produce events again.
    fn drain(&mut self, now: Instant) {
        loop {
            while let Some(ev) = self.endpoint.poll_event() {
                self.on_event(now, ev);
            }
            self.carry_out(now);
            self.save_callbacks();
            if let Some(t) = &mut self.trunk {
                let locals = &mut self.locals;
                t.drive(
                    now,
                    &mut self.endpoint,
                    |dst| locals.for_peer(dst.ip()),
                    &self.outlets.to_sip,
                );
            }
            if !self.endpoint.has_events() {
                break;
            }
        }
    }

    fn on_event(&mut self, now: Instant, ev: SipEvent) {
        match ev {
            SipEvent::Register {
                id,
                request,
                source,
                transport,
            } => self.board.handle_register(
                now,
                id,
                &request,
                Source {
                    addr: source,
                    transport,
                },
            ),
            SipEvent::ProbeResult { probe, status } => self.board.probe_result(now, probe, status),
            SipEvent::Answered { id, response } => {
                let trunk = self
                    .trunk
                    .as_mut()
                    .is_some_and(|t| t.answered(now, id, response.as_deref()));
                if !trunk {
                    self.board.notify_answered(id);
                }
            }
            SipEvent::Refer {
                dialog,
                id,
                request,
            } => {
                let served = self.shared.current();
                let reach = Reach {
                    queues: &self.shared.cfg.dialplan.queues,
                    allowed: &served.plan.transfer_allowed,
                    trunk: self.trunk.is_some(),
                };
                let endpoint = &self.endpoint;
                let find = |r: &refer::Replaces| {
                    endpoint.dialog_by_ids(&r.call_id, &r.to_tag, &r.from_tag)
                };
                self.board
                    .handle_refer(now, dialog, id, &request, &reach, find);
            }
            SipEvent::IncomingCall {
                dialog,
                request,
                source,
                local,
                transport,
            } => self.incoming_call(now, dialog, request, source, (local, transport)),
            // Events of operator legs are the switchboard's.
            SipEvent::OutgoingAnswered { dialog, sdp } if self.board.owns(dialog) => {
                match self.secure.answered(dialog, sdp) {
                    Ok(sdp) => self.board.answered(now, dialog, &sdp),
                    Err(why) => {
                        warn!(leg = dialog, "operator leg hung up: {why}");
                        self.endpoint.hangup(now, dialog);
                        self.board.failed(now, dialog, 488);
                    }
                }
            }
            SipEvent::OutgoingFailed { dialog, status } if self.board.owns(dialog) => {
                self.board.failed(now, dialog, status);
            }
            SipEvent::Ended { dialog, .. } if self.board.owns(dialog) => {
                self.board.ended(now, dialog);
            }
            SipEvent::ReInvite { dialog, request } if self.board.owns(dialog) => {
                self.board.reinvite(dialog, &request.body);
            }
            SipEvent::Confirmed { dialog } | SipEvent::Info { dialog, .. }
                if self.board.owns(dialog) => {}
            SipEvent::OutgoingProgress { .. } => {}
            SipEvent::OutgoingAnswered { dialog, .. } | SipEvent::OutgoingFailed { dialog, .. } => {
                debug!(dialog, "event for an operator leg already withdrawn");
            }
            // Events of caller legs are their call's.
            SipEvent::Confirmed { dialog } => self.forward(dialog, CallInput::Confirmed),
            SipEvent::ReInvite { dialog, request } => {
                self.forward(dialog, CallInput::ReInvite { body: request.body });
            }
            SipEvent::Info {
                dialog,
                content_type,
                body,
            } => self.forward(dialog, CallInput::Info { content_type, body }),
            SipEvent::Ended { dialog, reason } => {
                if let Some(tx) = self.calls.remove(&dialog) {
                    let _ = tx.send(ToCall::Sip(CallInput::Ended(reason)));
                }
            }
        }
    }

    /// A new INVITE to the line: admission decides, then the call gets its task.
    fn incoming_call(
        &mut self,
        now: Instant,
        dialog: DialogId,
        request: Box<Request>,
        source: SocketAddr,
        (local, transport): (SocketAddr, Transport),
    ) {
        let offer = match super::secure::CallerOffer::read(&request, transport) {
            Ok(o) => o,
            Err(r) => {
                info!(dialog, status = r.status, "call refused: {}", r.log);
                return self
                    .endpoint
                    .reject_because(now, dialog, r.status, r.warning);
            }
        };
        let feature = self
            .board
            .feature_code(now, &request, source, offer.insecure(transport));
        let ports = &mut self.ports;
        let listen_ip = self.shared.cfg.sip.listen.ip();
        let mut caller_port = None;
        let decision = admission::admit(feature, &offer.plain, || {
            let (socket, port) = ports
                .bind(bind_ip(listen_ip, local.ip()))
                .map_err(|e| e.to_string())?;
            // One handle for the media receiver, one for the media clock.
            let sender = socket.try_clone().map_err(|e| e.to_string())?;
            caller_port = Some(call_task::CallerPort {
                receive: socket,
                send: sender,
                srtp: None,
            });
            Ok(local_media(local.ip(), port))
        });
        let accepted = match decision {
            Admission::Challenge(ch) => return self.endpoint.challenge(now, dialog, ch),
            Admission::Refuse {
                status,
                reason: Some(why),
            } => {
                info!(dialog, status, "call refused: {why}");
                self.shared.metrics.call_refused(status);
                return self.endpoint.reject_because(now, dialog, status, &why);
            }
            Admission::Refuse {
                status,
                reason: None,
            } => {
                info!(dialog, status, "call refused");
                self.shared.metrics.call_refused(status);
                return self.endpoint.reject(now, dialog, status);
            }
            Admission::Accept(a) => a,
        };
        let Some(mut port) = caller_port else {
            error!(dialog, "accepted call without an RTP port");
            return self.endpoint.reject(now, dialog, 500);
        };
        let mut accepted = accepted;
        match offer.answer(std::mem::take(&mut accepted.answer_sdp)) {
            Ok((sdp, srtp)) => {
                accepted.answer_sdp = sdp;
                port.srtp = srtp;
            }
            Err(why) => {
                error!(dialog, "cannot make the answer secure: {why}");
                return self.endpoint.reject(now, dialog, 500);
            }
        }
        // An operator's call to a colleague runs a plan of its own: pass it on to them.
        let colleague_plan = match &accepted.colleague {
            Some(c) => match live::colleague_plan(&c.to) {
                Ok(plan) => {
                    self.board.colleague_call(dialog, &c.from);
                    Some(Arc::new(plan))
                }
                Err(e) => {
                    error!(dialog, "no plan for a call to a colleague: {e}");
                    return self.endpoint.reject(now, dialog, 500);
                }
            },
            None => None,
        };
        self.endpoint.ringing(now, dialog);
        let ctx = &self.shared;
        // The call is served from what is loaded now, to its end, whatever reloads happen
        // meanwhile.
        let served = ctx.current();
        let caller = request.from.uri.user().unwrap_or("").to_owned();
        let start_ts = jiff::Timestamp::now();
        let env = CallEnv {
            caller: phone::normalize(&caller),
            civil_start: start_ts.to_zoned_datetime(crate::dialplan::calendar::tz()),
            schedules: Arc::new(live::CalendarSchedules {
                calendar: Arc::clone(&served.calendar),
                manual: ctx.manual(),
            }),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        self.calls.insert(dialog, tx);
        let setup = CallSetup {
            dialog,
            operator_call: accepted.feature,
            caller,
            source,
            negotiated: accepted.negotiated,
            answer_sdp: accepted.answer_sdp,
            media: accepted.media,
            plan: match colleague_plan {
                Some(plan) => plan,
                None if accepted.feature => Arc::clone(&served.feature_plan),
                None => Arc::clone(&served.plan),
            },
            prompts: Arc::clone(&served.prompts),
            answer_at: now + Duration::from_millis(ctx.cfg.call.answer_delay_ms),
            max_duration: Duration::from_secs(ctx.cfg.call.max_duration_s),
            inactivity: match ctx.cfg.rtp.inactivity_timeout_s {
                0 => None,
                s => Some(Duration::from_secs(s)),
            },
            seed: rand::random(),
            env,
            sip_call_id: request.call_id.clone(),
            called: request.uri.user().unwrap_or("").to_owned(),
            start_ts,
            trust_sdp_address: ctx.cfg.rtp.trust_sdp_address,
        };
        ctx.metrics.calls_active.fetch_add(1, Ordering::Relaxed);
        ctx.metrics.timings.invite_received(dialog, now);
        if let Ok(mut live) = ctx.calls.lock() {
            live.insert(
                dialog,
                live::LiveCall {
                    id: dialog,
                    caller: setup
                        .env
                        .caller
                        .clone()
                        .unwrap_or_else(|| setup.caller.clone()),
                    started: setup.start_ts.to_string(),
                    plan_version: served.version,
                },
            );
        }
        ctx.tie_started(dialog, &setup.sip_call_id);
        tokio::spawn(call_task::run(
            now,
            setup,
            port,
            rx,
            self.outlets.to_sip.clone(),
            Arc::clone(ctx),
            self.outlets.records.clone(),
        ));
    }

    /// Carries out what the switchboard decided.
    fn carry_out(&mut self, now: Instant) {
        while let Some(action) = self.board.poll_action() {
            self.time_action(now, &action);
            match action {
                Action::Respond { id, response } => self.endpoint.respond(now, id, *response),
                Action::Crlf { conn } => {
                    if let Some(w) = self.tcp.get(&conn) {
                        let _ = w.send(Arc::from(&b"\r\n\r\n"[..]));
                    }
                }
                Action::Probe {
                    probe,
                    target,
                    contact,
                } => {
                    let local = self.locals.for_peer(target.addr.ip());
                    self.endpoint
                        .probe(now, probe, target.addr, target.transport, local, contact);
                }
                Action::Ring(ring) => {
                    if let Err(why) = self.ring(now, &ring) {
                        self.board.ring_failed(now, &ring, &why);
                    }
                }
                Action::CallOut(out) => {
                    if let Err(why) = self.call_out(now, &out) {
                        self.board.call_out_failed(now, &out, &why);
                    }
                }
                Action::Cancel { leg } => self.endpoint.cancel(now, leg),
                Action::Hangup { leg } => self.endpoint.hangup(now, leg),
                Action::Answer { leg, sdp } => self.endpoint.answer(now, leg, sdp),
                Action::Reject { leg, status } => self.endpoint.reject(now, leg, status),
                Action::Bridge {
                    call,
                    leg,
                    operator,
                    negotiated,
                } => match self.leg_ports.get(&leg).map(StdUdpSocket::try_clone) {
                    Some(Ok(socket)) => {
                        let srtp = self.secure.take(leg);
                        self.tell(
                            call,
                            ToCall::Bridge {
                                socket,
                                operator,
                                negotiated,
                                srtp,
                            },
                        );
                    }
                    Some(Err(e)) => warn!(leg, "operator leg's RTP port not handed over: {e}"),
                    None => {}
                },
                Action::Tell { call, news } => self.tell(call, ToCall::Sip(CallInput::Queue(news))),
                Action::Release { leg } => {
                    self.leg_ports.remove(&leg);
                    self.secure.take(leg);
                    self.release_relay(leg);
                }
                Action::Dial(dial) => self.dial(now, &dial),
                Action::Relay {
                    operator_leg,
                    resident_leg,
                    operator,
                    resident,
                    ..
                } => self.relay(operator_leg, resident_leg, operator, resident),
                Action::RelayMedia { leg, negotiated } => self.relay_media(leg, negotiated),
                Action::Notify {
                    leg,
                    id,
                    refer_cseq,
                    status,
                } => {
                    let sent = self.endpoint.request_in_dialog(
                        now,
                        leg,
                        id,
                        Method::Notify,
                        refer::notify_headers(refer_cseq, status),
                        refer::sipfrag(status),
                    );
                    if !sent {
                        // The referrer's leg is already gone: nothing waits for an answer.
                        self.board.notify_answered(id);
                    }
                }
            }
        }
    }

    /// Binds the operator leg's RTP port and sends the INVITE.
    fn ring(&mut self, now: Instant, ring: &Ring) -> Result<(), String> {
        let mut local = self.locals.for_peer(ring.target.addr.ip());
        let tls = matches!(ring.target.transport, Transport::Tls(_));
        if let (true, Some(port)) = (tls, self.tls_port) {
            local.set_port(port);
        }
        let ip = bind_ip(self.shared.cfg.sip.listen.ip(), local.ip());
        let (socket, port) = self
            .ports
            .bind(ip)
            .map_err(|e| format!("no RTP port: {e}"))?;
        let media = MediaSession::new(local_media(local.ip(), port));
        let console = self.shared.cfg.admin.console_base(local.ip());
        let mut invite = ring.invite(local, &media, console.as_deref())?;
        // Over TLS the operator's audio is SRTP (keys in SDP are safe only there).
        let keys = if tls {
            let (sdp, keys) = super::secure::SecureLegs::offer(&invite.sdp)?;
            invite.sdp = sdp;
            Some(keys)
        } else {
            None
        };
        let leg = self.endpoint.invite(now, invite);
        if let Some(keys) = keys {
            self.secure.offered(leg, keys);
        }
        self.leg_ports.insert(leg, socket);
        self.board.ring_started(ring, leg, media);
        Ok(())
    }

    /// Binds the RTP port of a transfer's call out and sends its INVITE through the trunk.
    fn call_out(&mut self, now: Instant, out: &CallOut) -> Result<(), String> {
        let (leg, media) = self.call_through_trunk(now, &out.number, |m| out.offer(m))?;
        self.board.call_out_started(now, out, leg, media);
        Ok(())
    }

    fn forward(&self, dialog: DialogId, input: CallInput) {
        self.tell(dialog, ToCall::Sip(input));
    }

    fn tell(&self, call: DialogId, msg: ToCall) {
        if let Some(tx) = self.calls.get(&call) {
            // A send error means the call task already ended; the endpoint hears of it
            // through `CallGone`.
            let _ = tx.send(msg);
        }
    }

    /// Publishes SIP counters, operators and waiting callers for the admin API (at once
    /// when they changed, else once a second), and saves operator states when they changed.
    fn publish(&mut self, now: Instant, published: &mut Instant, force: bool) {
        self.callbacks_open(now);
        let changed = self.board.take_changed();
        if !force && !changed && now.saturating_duration_since(*published) < Duration::from_secs(1)
        {
            return;
        }
        *published = now;
        let m = &self.shared.metrics;
        m.set_sip(self.endpoint.stats());
        m.rate_limited
            .store(self.limiter.dropped(), Ordering::Relaxed);
        m.sources_blocked
            .store(self.limiter.blocks(), Ordering::Relaxed);
        if let Ok(mut g) = self.shared.operators.lock() {
            *g = self.board.view(now);
        }
        if let (Some(t), Ok(mut g)) = (&self.trunk, self.shared.trunk.lock()) {
            *g = t.view(now);
        }
        if let Some(saved) = changed.then(|| self.board.states_to_save()).flatten() {
            let written = serde_json::to_vec_pretty(&saved)
                .map_err(|e| e.to_string())
                .and_then(|bytes| {
                    super::overrides::write_atomic(&self.saved_path, &bytes)
                        .map_err(|e| e.to_string())
                });
            if let Err(e) = written {
                warn!("cannot save operator states: {e}");
            }
        }
    }

    /// Hands changed registrations to the writer thread (see `driver/switchboard.rs`).
    fn keep_bindings(&mut self, now: Instant) {
        if let Some(b) = self.board.bindings_to_save(now, crate::clock::unix_ms()) {
            // The writer only stops when this sender is dropped.
            let _ = self.bindings.send(b);
        }
    }

    /// Sends what the endpoint has for the wire, then tells the calls answered this turn
    /// that their 200 OK is out: only then may their media start, so the first RTP packet
    /// never overtakes the answer that tells the phone where it comes from.
    async fn flush(&mut self) {
        while let Some(t) = self.endpoint.poll_transmit() {
            send(&self.udp, &self.tcp, t).await;
        }
        let sent = Instant::now();
        for dialog in std::mem::take(&mut self.answered) {
            self.shared.metrics.timings.answer_sent(dialog, sent);
            self.tell(dialog, ToCall::Sip(CallInput::AnswerSent));
        }
    }
}

/// Our media description on a freshly bound port (a random session id, RFC 4566 §5.2).
pub(super) fn local_media(addr: IpAddr, port: u16) -> LocalMedia {
    LocalMedia {
        addr,
        port,
        session_id: u64::from(rand::random::<u32>()),
        session_version: 1,
        username: "ugyelet".to_owned(),
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Applies the per-source rate limit; logs a source when it gets blocked.
fn admit_source(limiter: &mut RateLimiter, now: Instant, src: SocketAddr) -> bool {
    match limiter.check(now, src) {
        Verdict::Allow => true,
        Verdict::Drop => false,
        Verdict::Blocked { until, scope } => {
            let seconds = until.saturating_duration_since(now).as_secs();
            // A security line (full address, for a jail): `scope=address` means every
            // port of the address is ignored, `scope=source` this one port.
            let scope = match scope {
                ratelimit::Scope::Source => "source",
                ratelimit::Scope::Address => "address",
            };
            security(
                Security::FloodBlocked,
                src,
                &format!("scope={scope} seconds={seconds}"),
            );
            false
        }
    }
}

async fn send(udp: &UdpSocket, tcp: &HashMap<u64, mpsc::UnboundedSender<Arc<[u8]>>>, t: Transmit) {
    match t.transport {
        Transport::Udp => {
            if let Err(e) = udp.send_to(&t.bytes, t.dst).await {
                debug!(dst = %Pii(t.dst), "SIP/UDP send failed: {e}");
            }
        }
        Transport::Tcp(conn) | Transport::Tls(conn) => {
            if let Some(w) = tcp.get(&conn) {
                let _ = w.send(t.bytes);
            }
        }
    }
}

pub(crate) async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// The RTP socket binds to the SIP listen address, or, when that is a wildcard, to the
/// address the peer reached us on.
fn bind_ip(listen: IpAddr, local: IpAddr) -> IpAddr {
    if listen.is_unspecified() {
        local
    } else {
        listen
    }
}

/// Our address as each peer sees it, for Via, Contact and SDP.
///
/// With a specific listen address that is the answer. With a wildcard, ask the kernel which
/// source address it would use towards the peer (a connected UDP socket sends nothing), and
/// cache it per peer address.
pub(super) struct LocalAddrs {
    listen: SocketAddr,
    public: Option<IpAddr>,
    cache: HashMap<IpAddr, SocketAddr>,
}

impl LocalAddrs {
    pub(super) fn new(listen: SocketAddr, public: Option<IpAddr>) -> Self {
        LocalAddrs {
            listen,
            public,
            cache: HashMap::new(),
        }
    }

    pub(super) fn for_peer(&mut self, peer: IpAddr) -> SocketAddr {
        if let Some(ip) = self.public {
            return SocketAddr::new(ip, self.listen.port());
        }
        if !self.listen.ip().is_unspecified() {
            return self.listen;
        }
        if self.cache.len() > 10_000 {
            self.cache.clear();
        }
        let port = self.listen.port();
        *self.cache.entry(peer).or_insert_with(|| {
            let any: SocketAddr = match peer {
                IpAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
                IpAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
            };
            let ip = StdUdpSocket::bind(any)
                .and_then(|s| {
                    s.connect(SocketAddr::new(peer, 9))?;
                    s.local_addr()
                })
                .map(|a| a.ip())
                .unwrap_or(peer);
            SocketAddr::new(ip, port)
        })
    }
}
