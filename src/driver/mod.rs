//! The only place with sockets, tasks and clocks: this module starts and stops them.
//!
//! ```text
//!   run ─► loads prompts, plan, calendar (live), the override, the forms service,
//!          the media threads (media_clock, media_rx), the record writer, the admin API,
//!          the file watcher, the TCP acceptor, the TLS acceptor and its certificate's
//!          reload (tls.rs) ─► SipTask::run until shutdown and drain
//! ```
//!
//! Who does what: the SIP task (`sip_task/`) owns the SIP endpoint and the switchboard, and
//! reads the SIP socket (`sip_socket.rs`: its buffer, batches, arrival times, drops);
//! one task per call (`call_task.rs`) owns its `Call` core; two threads do every call's RTP
//! (`media_clock.rs` paces and sends, `media_rx.rs` receives and relays); they talk through
//! the messages in `messages.rs`. Callbacks (`sip_task/callbacks.rs`) add a task that keeps job
//! changes and a relay task per callback. Each loop reads the clock once per turn and hands
//! `now` to its core; decisions are the cores' (`admission`, `switchboard`, `call`,
//! `callback`, `notify`). Legs over TLS carry SRTP: `secure.rs` makes and reads the SDES
//! keys, and the media threads protect and unprotect at the socket.

mod admin;
mod call_task;
pub mod forms;
pub mod knowledge;
pub mod live;
mod media_clock;
mod media_rx;
pub mod messages;
mod notify;
pub mod operators_file;
pub mod outbox_worker;
pub mod overrides;
pub mod preflight;
mod records;
mod relay_timer;
mod rtp_ports;
mod secure;
mod sip_socket;
mod sip_task;
mod switchboard;
mod tcp;
pub mod tls;
mod trunk;
mod watch;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::sip::endpoint::{EndpointConfig, SipEndpoint};
use crate::sip::ratelimit::{self, Limits, RateLimiter};
use crate::sip::transaction::TimerConfig;
pub use messages::ToSip;
use sip_task::sleep_until;
use sip_task::{LocalAddrs, Outlets, SipTask};

/// Why the daemon could not start.
#[derive(Debug)]
pub enum StartError {
    /// Prompts, dial plan or calendar do not load; every problem is listed.
    Assets(Vec<String>),
    /// Settings `run` cannot serve with (outgoing mail, state directory); every problem.
    Preflight(Vec<String>),
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
    /// The TLS certificate or key does not load.
    Tls(String),
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
            StartError::Preflight(errs) => {
                write!(f, "the configuration cannot be served:")?;
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
            StartError::Tls(e) => write!(f, "SIP over TLS: {e}"),
            StartError::Bind { what, addr, error } => {
                write!(f, "cannot bind {what} on {addr}: {error}")
            }
        }
    }
}

impl std::error::Error for StartError {}

/// Runs the daemon until `shutdown` completes.
pub async fn run(cfg: Config, shutdown: impl Future<Output = ()>) -> Result<(), StartError> {
    let today = crate::clock::civil_now().date();
    let live = live::load(&cfg, None, today, 1).map_err(StartError::Assets)?;
    // The same checks `ugyelet check` makes, so the two never disagree.
    let pre = preflight::check(&cfg, Some(&live.plan));
    if !pre.errors.is_empty() {
        return Err(StartError::Preflight(pre.errors));
    }
    for w in live.warnings.iter().chain(&pre.warnings) {
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
    // Made before the public listener starts, which counts its refusals in it.
    let metrics = crate::metrics::Metrics::default();
    let forms = forms::start(&cfg, live.catalog.clone(), Arc::clone(&metrics.http))
        .await
        .map_err(StartError::Notify)?;
    forms.set_knowledge(Arc::clone(&live.knowledge));
    let shared = Arc::new(live::Shared {
        forms,
        cfg: cfg.clone(),
        media_rx: media_rx::MediaRx::start(metrics.timings.relay_histogram())
            .map_err(StartError::MediaThread)?,
        metrics,
        calls: std::sync::Mutex::new(std::collections::BTreeMap::new()),
        live: std::sync::RwLock::new(Arc::new(live)),
        reload: std::sync::Mutex::new(live::ReloadStatus::default()),
        manual: std::sync::RwLock::new(manual),
        operators: std::sync::Mutex::new(serde_json::Value::Null),
        trunk: std::sync::Mutex::new(serde_json::Value::Null),
        to_sip: std::sync::Mutex::new(None),
        media: media_clock::MediaClock::start().map_err(StartError::MediaThread)?,
        accounts: std::sync::RwLock::new(Arc::new(
            crate::operators::Operators::load(&cfg.sip.operators).unwrap_or_default(),
        )),
        ties: std::sync::Mutex::new(crate::cdr::CallTies::new()),
        records: std::sync::Mutex::new(None),
    });

    let listen = cfg.sip.listen;
    let (udp, granted) =
        sip_socket::bind(listen, &cfg.sip.udp).map_err(|error| StartError::Bind {
            what: "SIP/UDP",
            addr: listen,
            error,
        })?;
    shared
        .metrics
        .sip_udp_receive_buffer
        .store(granted as u64, std::sync::atomic::Ordering::Relaxed);
    let (to_sip, from_others) = mpsc::unbounded_channel::<ToSip>();
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
    let tls_port = start_tls(&cfg, &to_sip).await?;
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
        let guard = crate::http::guard::Guard::admin(
            &cfg.http,
            cfg.admin.behind_https_proxy,
            Arc::clone(&shared.metrics.http),
        );
        tokio::spawn(crate::http::serve(
            listener,
            Arc::clone(&shared),
            Arc::new(guard),
        ));
    }
    tokio::spawn(watch::run(Arc::clone(&shared)));
    shared
        .metrics
        .plan_version
        .store(1, std::sync::atomic::Ordering::Relaxed);
    let (records_tx, records_thread) =
        records::spawn(&cfg, Arc::clone(&shared.forms), to_sip.clone())
            .map_err(StartError::Records)?;
    if let Ok(mut g) = shared.records.lock() {
        *g = Some(records_tx.clone());
    }
    let mut board = switchboard::build(&cfg, Instant::now()).map_err(StartError::Operators)?;
    {
        let forms = Arc::clone(&shared.forms);
        board = tokio::task::spawn_blocking(move || {
            switchboard::restore_bindings(&mut board, &forms);
            board
        })
        .await
        .map_err(|e| StartError::Notify(format!("restoring registrations: {e}")))?;
    }
    let (bindings, bindings_thread) = switchboard::spawn_bindings_writer(Arc::clone(&shared.forms))
        .map_err(StartError::Notify)?;
    let callbacks =
        sip_task::callbacks::attach(&cfg, &shared.forms, &mut board, Instant::now()).await;
    let outlets = Outlets {
        to_sip: to_sip.clone(),
        records: records_tx,
    };
    notify::send("READY=1");

    let (t1, t2, t4) = cfg.sip_timers();
    let endpoint = SipEndpoint::new(
        EndpointConfig {
            timers: TimerConfig { t1, t2, t4 },
            user_agent: cfg.sip.user_agent.clone(),
            contact_user: "ugyelet".to_owned(),
            registrar: true,
        },
        rand::random(),
    );
    let limiter = RateLimiter::new(Limits {
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
    let task = SipTask {
        endpoint,
        board,
        limiter,
        udp,
        inbound: sip_task::udp::UdpInput::new(&cfg.sip),
        shared: Arc::clone(&shared),
        outlets,
        ports: rtp_ports::RtpPorts::new(cfg.rtp.port_min, cfg.rtp.port_max),
        locals: LocalAddrs::new(listen, cfg.sip.public_addr),
        saved_path: switchboard::saved_path(&cfg),
        calls: HashMap::new(),
        tcp: HashMap::new(),
        leg_ports: HashMap::new(),
        answered: Vec::new(),
        tls_port,
        secure: Default::default(),
        trunk: trunk::TrunkLink::new(&cfg.trunk, Instant::now(), rand::random()),
        bindings,
        callbacks,
    };
    let stopping = Arc::clone(&shared);
    drop(shared);
    task.run(from_others, shutdown).await;
    // Every call task has ended (or been hung up): let the record writer finish. Forms
    // sent from now on still go out, but no longer reach a record.
    if let Ok(mut g) = stopping.records.lock() {
        g.take();
    }
    drop(stopping);
    if records_thread.join().is_err() {
        error!("the call-record writer panicked");
    }
    // The task (and the sender in it) is gone: the writer keeps what it has and stops.
    if bindings_thread.join().is_err() {
        error!("the bindings writer panicked");
    }
    info!("stopped");
    Ok(())
}

/// Starts the SIP/TLS listener and its certificate's reload when `[tls] listen` is set;
/// returns its port (our Via, Contact and SDP address towards phones on TLS use it).
async fn start_tls(
    cfg: &Config,
    to_sip: &mpsc::UnboundedSender<ToSip>,
) -> Result<Option<u16>, StartError> {
    if !cfg.tls.enabled() {
        return Ok(None);
    }
    // Validation checked the address parses.
    let addr = cfg
        .tls
        .listen_addr()
        .ok_or_else(|| StartError::Tls(format!("tls.listen: {:?}", cfg.tls.listen)))?;
    let tls = Arc::new(tls::Tls::new(&cfg.tls).map_err(StartError::Tls)?);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|error| StartError::Bind {
            what: "SIP/TLS",
            addr,
            error,
        })?;
    let port = listener.local_addr().map_or(addr.port(), |a| a.port());
    info!(%addr, certificate = %cfg.tls.certificate.display(), "SIP over TLS listening");
    tokio::spawn(tls::reload_loop(
        Arc::clone(&tls),
        cfg.tls.certificate.clone(),
        cfg.tls.key.clone(),
        Duration::from_secs(cfg.tls.reload_check_s),
    ));
    tokio::spawn(tls::accept_loop(
        listener,
        tls,
        to_sip.clone(),
        cfg.sip.max_message_bytes,
        Duration::from_secs(cfg.tls.handshake_timeout_s),
    ));
    Ok(Some(port))
}
