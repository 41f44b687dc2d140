//! The only place with sockets, tasks and clocks.
//!
//! ```text
//!            ┌──────────── SIP task (one) ─────────────┐
//!  UDP ─────►│ SipEndpoint (transactions, dialogs)     │──── CallInput ────► call task (one per call)
//!  TCP conns►│ routes events to calls, sends Transmits │◄─── CallCommand ─── Call core + RTP socket
//!            └─────────────────────────────────────────┘
//! ```
//!
//! The SIP task owns the endpoint exclusively, so the endpoint needs no locks: everything that
//! wants to change SIP state (a call answering or hanging up) sends a message to it. Each call
//! task owns its [`Call`](crate::call::Call) core and its RTP socket, so media for different
//! calls never contends. Both loops have the same shape: wait for one input, make one
//! `handle_*` call, drain every `poll_*`, sleep until `poll_timeout()`.
//!
//! Reading the clock happens here and only here: each loop iteration takes one `now` and
//! hands it to the core.

mod call_task;
pub mod forms;
pub mod live;
mod media_clock;
mod media_rx;
mod notify;
pub mod operators_file;
pub mod outbox_worker;
pub mod overrides;
mod records;
mod rtp_ports;
mod switchboard;
mod tcp;
mod watch;

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use crate::call::{CallCommand, CallInput, CallSetup};
use crate::config::Config;
use crate::dialplan::interp::CallEnv;
use crate::phone;
use crate::pii::Pii;
use crate::sdp::offer_answer::{self, LocalMedia};
use crate::sip::endpoint::{DialogId, EndpointConfig, SipEndpoint, SipEvent, Transmit, Transport};
use crate::sip::ratelimit::{self, Limits, RateLimiter, Verdict};
use crate::sip::transaction::TimerConfig;
use call_task::ToCall;

/// Why the daemon could not start.
#[derive(Debug)]
pub enum StartError {
    /// Prompts, dial plan or calendar do not load; every problem is listed.
    Assets(Vec<String>),
    /// The stored manual override cannot be read.
    Override(String),
    /// The operator accounts file does not load; every problem is listed.
    Operators(Vec<String>),
    /// The call-record database cannot be opened.
    Records(String),
    /// The outbox, the forms catalog, the link secret or the public listener.
    Notify(String),
    /// The media clock or media receiver thread cannot be started.
    MediaThread(std::io::Error),
    Bind {
        what: &'static str,
        addr: SocketAddr,
        error: std::io::Error,
    },
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Assets(errs) => {
                write!(f, "prompts, dial plan or calendar do not load:")?;
                for e in errs {
                    write!(f, "\n  {e}")?;
                }
                Ok(())
            }
            StartError::Override(e) => write!(f, "manual override: {e}"),
            StartError::Operators(errs) => {
                write!(f, "operator accounts do not load:")?;
                for e in errs {
                    write!(f, "\n  {e}")?;
                }
                Ok(())
            }
            StartError::Records(e) => write!(f, "call records: {e}"),
            StartError::Notify(e) => write!(f, "forms and messages: {e}"),
            StartError::MediaThread(e) => write!(f, "media thread: {e}"),
            StartError::Bind { what, addr, error } => {
                write!(f, "cannot bind {what} on {addr}: {error}")
            }
        }
    }
}

impl std::error::Error for StartError {}

/// Where call tasks send what they produce: SIP commands, and their record when they end.
struct Outlets {
    to_sip: mpsc::UnboundedSender<ToSip>,
    records: std::sync::mpsc::Sender<crate::cdr::CallRecord>,
}

/// Messages into the SIP task from elsewhere.
pub enum ToSip {
    /// A call wants something done.
    Command(DialogId, CallCommand),
    /// A call task finished.
    CallGone(DialogId),
    /// A complete message read from a TCP connection.
    Tcp {
        conn: u64,
        src: SocketAddr,
        local: SocketAddr,
        bytes: Vec<u8>,
    },
    /// A TCP connection was accepted; its writer.
    TcpOpen {
        conn: u64,
        writer: mpsc::UnboundedSender<Arc<[u8]>>,
    },
    /// A TCP connection closed.
    TcpClosed { conn: u64 },
    /// The operator accounts file was read again.
    Accounts(crate::operators::Operators),
    /// An admin asks to change an operator's state.
    Agent {
        name: String,
        op: AgentOp,
        reply: tokio::sync::oneshot::Sender<Result<(), String>>,
    },
}

/// Operator state changes from the admin API.
#[derive(Debug, Clone)]
pub enum AgentOp {
    Login,
    Logout,
    Pause(String),
    Unpause,
}

/// Runs the daemon until `shutdown` completes.
pub async fn run(cfg: Config, shutdown: impl Future<Output = ()>) -> Result<(), StartError> {
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(crate::dialplan::calendar::tz())
        .date();
    let live = live::load(&cfg, None, today, 1).map_err(StartError::Assets)?;
    for w in &live.warnings {
        warn!("{w}");
    }
    info!(prompts = live.prompts.len(), plan = %live.plan.source, "prompts, dial plan and calendar loaded");
    let manual = overrides::load(&cfg.state.dir).map_err(StartError::Override)?;
    if manual.is_some() {
        info!(
            "manual override in force from {}",
            overrides::path(&cfg.state.dir).display()
        );
    }
    let forms = forms::start(&cfg, live.catalog.clone())
        .await
        .map_err(StartError::Notify)?;
    let shared = Arc::new(live::Shared {
        forms,
        cfg: cfg.clone(),
        metrics: crate::metrics::Metrics::default(),
        calls: std::sync::Mutex::new(std::collections::BTreeMap::new()),
        live: std::sync::RwLock::new(Arc::new(live)),
        reload: std::sync::Mutex::new(live::ReloadStatus::default()),
        manual: std::sync::RwLock::new(manual),
        operators: std::sync::Mutex::new(serde_json::Value::Null),
        to_sip: std::sync::Mutex::new(None),
        media: media_clock::MediaClock::start().map_err(StartError::MediaThread)?,
        media_rx: media_rx::MediaRx::start().map_err(StartError::MediaThread)?,
    });

    let listen = cfg.sip.listen;
    let udp = UdpSocket::bind(listen)
        .await
        .map_err(|error| StartError::Bind {
            what: "SIP/UDP",
            addr: listen,
            error,
        })?;
    let (to_sip, mut from_others) = mpsc::unbounded_channel::<ToSip>();
    if let Ok(mut g) = shared.to_sip.lock() {
        *g = Some(to_sip.clone());
    }
    if cfg.sip.tcp {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|error| StartError::Bind {
                what: "SIP/TCP",
                addr: listen,
                error,
            })?;
        tokio::spawn(tcp::accept_loop(
            listener,
            to_sip.clone(),
            cfg.sip.max_message_bytes,
        ));
    }
    info!(%listen, tcp = cfg.sip.tcp, "SIP listening");
    if !cfg.admin.listen.is_empty() {
        // Validation checked the address parses.
        let addr: SocketAddr = cfg.admin.listen.parse().map_err(|_| StartError::Bind {
            what: "admin API",
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            error: std::io::Error::other("bad address"),
        })?;
        let listener =
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|error| StartError::Bind {
                    what: "admin API",
                    addr,
                    error,
                })?;
        info!(%addr, "admin API listening");
        tokio::spawn(crate::http::serve(listener, Arc::clone(&shared)));
    }
    tokio::spawn(watch::run(Arc::clone(&shared)));
    shared
        .metrics
        .plan_version
        .store(1, std::sync::atomic::Ordering::Relaxed);
    let (records_tx, records_thread) = records::spawn(&cfg).map_err(StartError::Records)?;
    let mut board = switchboard::build(&cfg, Instant::now()).map_err(StartError::Operators)?;
    board.publish(&shared, Instant::now());
    let outlets = Outlets {
        to_sip: to_sip.clone(),
        records: records_tx,
    };
    notify::send("READY=1");
    let watchdog = notify::watchdog_interval();

    let (t1, t2, t4) = cfg.sip_timers();
    let mut endpoint = SipEndpoint::new(
        EndpointConfig {
            timers: TimerConfig { t1, t2, t4 },
            user_agent: cfg.sip.user_agent.clone(),
            contact_user: "ugyelet".to_owned(),
            registrar: true,
        },
        rand::random(),
    );
    let mut ports = rtp_ports::RtpPorts::new(cfg.rtp.port_min, cfg.rtp.port_max);
    let mut limiter = RateLimiter::new(Limits {
        source: ratelimit::Bucket::new(cfg.sip.rate_limit_per_s, cfg.sip.rate_limit_burst),
        address: ratelimit::Bucket::new(
            cfg.sip.rate_limit_per_address_s,
            cfg.sip.rate_limit_address_burst,
        ),
        block: Duration::from_secs(cfg.sip.block_s),
        exempt: cfg.sip.rate_limit_exempt.clone(),
    });
    if !cfg.sip.rate_limit_exempt.is_empty() {
        let exempt: Vec<String> = cfg
            .sip
            .rate_limit_exempt
            .iter()
            .map(|p| p.to_string())
            .collect();
        info!(exempt = %exempt.join(", "), "SIP rate limits do not apply to these addresses");
    }
    let mut calls: HashMap<DialogId, mpsc::UnboundedSender<ToCall>> = HashMap::new();
    let mut tcp_writers: HashMap<u64, mpsc::UnboundedSender<Arc<[u8]>>> = HashMap::new();
    let mut locals = LocalAddrs::new(listen, cfg.sip.public_addr);
    let mut buf = vec![0u8; cfg.sip.max_message_bytes.max(2048) + 1];
    let ctx = Arc::clone(&shared);
    // What the switchboard works with, borrowed afresh wherever it is called.
    macro_rules! switchboard_ctx {
        () => {
            switchboard::Ctx {
                endpoint: &mut endpoint,
                calls: &calls,
                ports: &mut ports,
                locals: &mut locals,
                tcp: &tcp_writers,
                listen_ip: listen.ip(),
            }
        };
    }

    tokio::pin!(shutdown);
    // Draining: after SIGTERM new calls get 503, calls in progress run to their end (or
    // until the drain timeout), then the daemon exits.
    let mut drain_until: Option<Instant> = None;
    let mut published = Instant::now();
    let mut petted = Instant::now();
    loop {
        let now = Instant::now();
        // `calls` forgets a call as soon as SIP ends it; the call's task may still be
        // finishing (its log line, its counters). Stop only when every task is done.
        let tasks = ctx
            .metrics
            .calls_active
            .load(std::sync::atomic::Ordering::Relaxed);
        if let Some(until) = drain_until
            && ((calls.is_empty() && tasks == 0) || now >= until)
        {
            break;
        }
        if now.duration_since(published) >= Duration::from_secs(1) {
            ctx.metrics.set_sip(endpoint.stats());
            ctx.metrics
                .rate_limited
                .store(limiter.dropped(), std::sync::atomic::Ordering::Relaxed);
            ctx.metrics
                .sources_blocked
                .store(limiter.blocks(), std::sync::atomic::Ordering::Relaxed);
            published = now;
        }
        if let Some(every) = watchdog
            && now.duration_since(petted) >= every
        {
            notify::send("WATCHDOG=1");
            petted = now;
        }
        let mut deadline = endpoint.poll_timeout();
        if let Some(b) = board.poll_timeout() {
            deadline = Some(deadline.map_or(b, |d| d.min(b)));
        }
        // Metrics once a second, and the watchdog on time even with a short period.
        let mut housekeeping = now + Duration::from_secs(1);
        if let Some(every) = watchdog {
            housekeeping = housekeeping.min(petted + every);
        }
        deadline = Some(deadline.map_or(housekeeping, |d| d.min(housekeeping)));
        if let Some(until) = drain_until {
            deadline = deadline.map(|d| d.min(until));
        }
        tokio::select! {
            r = udp.recv_from(&mut buf) => {
                let now = Instant::now();
                match r {
                    Ok((len, src)) if len < buf.len() => {
                        if admit(&mut limiter, now, src) {
                            let local = locals.for_peer(src.ip());
                            endpoint.handle_message(now, src, local, Transport::Udp, &buf[..len]);
                        }
                    }
                    Ok((_, src)) => {
                        debug!(src = %Pii(src), "oversized SIP datagram dropped");
                    }
                    // ICMP port unreachable from an earlier send shows up here on Linux;
                    // it says nothing about this socket's health.
                    Err(e) => debug!("SIP/UDP receive: {e}"),
                }
            }
            Some(msg) = from_others.recv() => {
                let now = Instant::now();
                match msg {
                    ToSip::Command(dialog, cmd) => match cmd {
                        CallCommand::Answer { sdp } => endpoint.answer(now, dialog, sdp),
                        CallCommand::Reject { status } => endpoint.reject(now, dialog, status),
                        CallCommand::Hangup => endpoint.hangup(now, dialog),
                        CallCommand::Enqueue { queue, path, caller, codec } => {
                            board.enqueue(now, dialog, &queue, caller, path, codec);
                        }
                        CallCommand::LeaveQueue => {
                            let mut cx = switchboard_ctx!();
                            board.call_gone(now, &mut cx, dialog);
                        }
                    },
                    ToSip::CallGone(dialog) => {
                        calls.remove(&dialog);
                        endpoint.hangup(now, dialog);
                        let mut cx = switchboard_ctx!();
                        board.call_gone(now, &mut cx, dialog);
                    }
                    ToSip::Accounts(ops) => board.set_accounts(now, ops),
                    ToSip::Agent { name, op, reply } => {
                        let _ = reply.send(board.agent_op(now, &name, op));
                    }
                    ToSip::Tcp { conn, src, local, bytes } => {
                        if admit(&mut limiter, now, src) {
                            endpoint.handle_message(now, src, local, Transport::Tcp(conn), &bytes);
                        }
                    }
                    ToSip::TcpOpen { conn, writer } => {
                        tcp_writers.insert(conn, writer);
                    }
                    ToSip::TcpClosed { conn } => {
                        tcp_writers.remove(&conn);
                        board.connection_closed(now, conn);
                    }
                }
            }
            () = sleep_until(deadline) => {
                let now = Instant::now();
                endpoint.handle_timeout(now);
                board.handle_timeout(now);
            }
            () = &mut shutdown, if drain_until.is_none() => {
                let timeout = Duration::from_secs(cfg.call.drain_timeout_s);
                info!(calls = calls.len(), timeout_s = timeout.as_secs(), "draining: new calls get 503, calls in progress may finish");
                notify::send("STOPPING=1");
                endpoint.set_draining(true);
                ctx.metrics.draining.store(1, std::sync::atomic::Ordering::Relaxed);
                drain_until = Some(Instant::now() + timeout);
            }
        }
        let now = Instant::now();
        loop {
            while let Some(ev) = endpoint.poll_event() {
                on_event(
                    now,
                    ev,
                    &mut endpoint,
                    &mut calls,
                    &mut ports,
                    &ctx,
                    &outlets,
                    &mut board,
                    &mut locals,
                    &tcp_writers,
                );
            }
            let mut cx = switchboard_ctx!();
            board.drain(now, &mut cx);
            if !endpoint.has_events() {
                break;
            }
        }
        board.publish(&ctx, now);
        while let Some(t) = endpoint.poll_transmit() {
            send(&udp, &tcp_writers, t).await;
        }
    }

    // Calls still up after the drain timeout are hung up; a short grace period lets their
    // BYEs (and retransmissions) go out and be answered.
    let remaining: Vec<DialogId> = calls.keys().copied().collect();
    info!(calls = remaining.len(), "shutting down");
    let now = Instant::now();
    for d in &remaining {
        endpoint.hangup(now, *d);
    }
    let grace = now + Duration::from_secs(if remaining.is_empty() { 0 } else { 2 });
    loop {
        while let Some(t) = endpoint.poll_transmit() {
            send(&udp, &tcp_writers, t).await;
        }
        let now = Instant::now();
        if now >= grace {
            break;
        }
        let wake = endpoint.poll_timeout().map_or(grace, |t| t.min(grace));
        tokio::select! {
            r = udp.recv_from(&mut buf) => {
                if let Ok((len, src)) = r && len < buf.len() {
                    let local = locals.for_peer(src.ip());
                    endpoint.handle_message(Instant::now(), src, local, Transport::Udp, &buf[..len]);
                }
            }
            () = tokio::time::sleep_until(wake.into()) => endpoint.handle_timeout(Instant::now()),
        }
        while endpoint.poll_event().is_some() {}
    }
    // Every call task has ended (or been hung up): let the record writer finish.
    drop(outlets);
    drop(ctx);
    if records_thread.join().is_err() {
        error!("the call-record writer panicked");
    }
    info!("stopped");
    Ok(())
}

#[allow(clippy::too_many_arguments)] // the SIP task's state, lent for one event
fn on_event(
    now: Instant,
    ev: SipEvent,
    endpoint: &mut SipEndpoint,
    calls: &mut HashMap<DialogId, mpsc::UnboundedSender<ToCall>>,
    ports: &mut rtp_ports::RtpPorts,
    ctx: &Arc<live::Shared>,
    out: &Outlets,
    board: &mut switchboard::Switchboard,
    locals: &mut LocalAddrs,
    tcp: &HashMap<u64, mpsc::UnboundedSender<Arc<[u8]>>>,
) {
    let listen_ip = ctx.cfg.sip.listen.ip();
    let leg = match &ev {
        SipEvent::OutgoingProgress { dialog, .. }
        | SipEvent::OutgoingAnswered { dialog, .. }
        | SipEvent::OutgoingFailed { dialog, .. }
        | SipEvent::Ended { dialog, .. }
        | SipEvent::ReInvite { dialog, .. }
        | SipEvent::Confirmed { dialog }
        | SipEvent::Info { dialog, .. } => board.owns(*dialog),
        _ => false,
    };
    if leg || matches!(ev, SipEvent::Register { .. } | SipEvent::ProbeResult { .. }) {
        let mut cx = switchboard::Ctx {
            endpoint,
            calls,
            ports,
            locals,
            tcp,
            listen_ip,
        };
        match ev {
            SipEvent::Register {
                id,
                request,
                source,
                transport,
            } => board.register(now, &mut cx, id, &request, source, transport),
            SipEvent::ProbeResult { probe, status } => board.probe_result(now, probe, status),
            SipEvent::OutgoingAnswered { dialog, sdp } => {
                board.answered(now, &mut cx, dialog, &sdp)
            }
            SipEvent::OutgoingFailed { dialog, status } => board.failed(now, dialog, status),
            SipEvent::Ended { dialog, .. } => board.ended(now, &mut cx, dialog),
            SipEvent::ReInvite { dialog, request } => {
                board.reinvite(now, &mut cx, dialog, &request.body);
            }
            _ => {}
        }
        return;
    }
    match ev {
        SipEvent::IncomingCall {
            dialog,
            request,
            source,
            local,
        } => {
            let feature_plan = match board.feature_code(now, &request, source) {
                switchboard::Feature::No => None,
                switchboard::Feature::Challenge(ch) => {
                    endpoint.challenge(now, dialog, ch);
                    return;
                }
                switchboard::Feature::Refuse(status) => {
                    endpoint.reject(now, dialog, status);
                    return;
                }
                switchboard::Feature::Done => Some(Arc::clone(&ctx.current().feature_plan)),
            };
            let caller = request.from.uri.user().unwrap_or("").to_owned();
            let start_ts = jiff::Timestamp::now();
            let bound = ports
                .bind(bind_ip(ctx.cfg.sip.listen.ip(), local.ip()))
                .and_then(|(s, port)| {
                    // One handle for the media receiver, one for the media clock.
                    let sender = s.try_clone()?;
                    Ok((s, sender, port))
                });
            let (socket, sender, port) = match bound {
                Ok(s) => s,
                Err(e) => {
                    error!(dialog, "no RTP port free: {e}");
                    endpoint.reject(now, dialog, 503);
                    return;
                }
            };
            let local_media = LocalMedia {
                addr: local.ip(),
                port,
                session_id: u64::from(rand::random::<u32>()),
                session_version: 1,
                username: "ugyelet".to_owned(),
            };
            let (negotiated, answer_sdp) = match offer_answer::answer(&request.body, &local_media) {
                Ok(ok) => ok,
                Err(e) => {
                    info!(dialog, status = e.status(), "call refused: {e}");
                    endpoint.reject_because(now, dialog, e.status(), &e.to_string());
                    return;
                }
            };
            endpoint.ringing(now, dialog);
            // The call is served from what is loaded now, to its end, whatever reloads
            // happen meanwhile.
            let served = ctx.current();
            let env = CallEnv {
                caller: phone::normalize(&caller),
                civil_start: jiff::Timestamp::now()
                    .to_zoned_datetime(crate::dialplan::calendar::tz()),
                schedules: Arc::new(live::CalendarSchedules {
                    calendar: Arc::clone(&served.calendar),
                    manual: ctx.manual(),
                }),
            };
            let (tx, rx) = mpsc::unbounded_channel();
            calls.insert(dialog, tx);
            let setup = CallSetup {
                dialog,
                caller,
                source,
                negotiated,
                answer_sdp,
                local_media,
                plan: feature_plan.unwrap_or_else(|| Arc::clone(&served.plan)),
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
            ctx.metrics
                .calls_active
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
                        sip_call_id: setup.sip_call_id.clone(),
                    },
                );
            }
            tokio::spawn(call_task::run(
                now,
                setup,
                call_task::CallerPort {
                    receive: socket,
                    send: sender,
                },
                rx,
                out.to_sip.clone(),
                Arc::clone(ctx),
                out.records.clone(),
            ));
        }
        SipEvent::Confirmed { dialog } => forward(calls, dialog, CallInput::Confirmed),
        SipEvent::ReInvite { dialog, request } => {
            forward(calls, dialog, CallInput::ReInvite { body: request.body });
        }
        SipEvent::Info {
            dialog,
            content_type,
            body,
        } => {
            forward(calls, dialog, CallInput::Info { content_type, body });
        }
        SipEvent::OutgoingProgress { dialog, .. }
        | SipEvent::OutgoingAnswered { dialog, .. }
        | SipEvent::OutgoingFailed { dialog, .. } => {
            debug!(dialog, "event for an operator leg already withdrawn");
        }
        SipEvent::Ended { dialog, reason } => {
            if let Some(tx) = calls.remove(&dialog) {
                let _ = tx.send(ToCall::Sip(CallInput::Ended(reason)));
            }
        }
        SipEvent::Register { .. } | SipEvent::ProbeResult { .. } => {}
    }
}

fn forward(
    calls: &HashMap<DialogId, mpsc::UnboundedSender<ToCall>>,
    dialog: DialogId,
    input: CallInput,
) {
    if let Some(tx) = calls.get(&dialog) {
        // A send error means the call task already ended; the endpoint hears of it through
        // `CallGone`.
        let _ = tx.send(ToCall::Sip(input));
    }
}

/// Applies the per-source rate limit; logs a source when it gets blocked.
fn admit(limiter: &mut RateLimiter, now: Instant, src: SocketAddr) -> bool {
    match limiter.check(now, src) {
        Verdict::Allow => true,
        Verdict::Drop => false,
        Verdict::Blocked { until, scope } => {
            let seconds = until.saturating_duration_since(now).as_secs();
            match scope {
                ratelimit::Scope::Source => warn!(
                    src = %Pii(src),
                    seconds,
                    "source keeps flooding: ignored for a while"
                ),
                ratelimit::Scope::Address => warn!(
                    address = %Pii(src.ip()),
                    seconds,
                    "address keeps flooding from many ports: all of it ignored for a while"
                ),
            }
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
        Transport::Tcp(conn) => {
            if let Some(w) = tcp.get(&conn) {
                let _ = w.send(t.bytes);
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
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
pub(crate) struct LocalAddrs {
    listen: SocketAddr,
    public: Option<IpAddr>,
    cache: HashMap<IpAddr, SocketAddr>,
}

impl LocalAddrs {
    fn new(listen: SocketAddr, public: Option<IpAddr>) -> Self {
        LocalAddrs {
            listen,
            public,
            cache: HashMap::new(),
        }
    }

    pub(crate) fn for_peer(&mut self, peer: IpAddr) -> SocketAddr {
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
            let ip = std::net::UdpSocket::bind(any)
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
