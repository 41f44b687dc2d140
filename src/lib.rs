//! ugyelet: the SIP/RTP daemon behind the "Segít a hivatal" after-hours help line.
//!
//! # Layers
//!
//! ```text
//!   main.rs, cli/ ─► driver/ ─────────── sockets, tasks, clocks, OS randomness (the only I/O)
//!                      │  │  └──────────► http/ (admin API, web console, form and article pages,
//!                      │  │               webhooks; asks the daemon through the `http::Daemon`
//!                      │  │               trait it owns)
//!                      │  └─────────────► admission (INVITE: feature code, colleague, call or refusal)
//!                      ▼
//!          switchboard ──────────────── registrar + acd + operator legs (ring, bridge, hold,
//!                      │                transfer: REFER, Replaces, calls out via the trunk)
//!                      │
//!                      ▼
//!                   call.rs ─────────── one call: SIP/RTP events ⇄ dial-plan actions
//!                   │  │  │
//!      ┌────────────┘  │  └──────────────────┐
//!      ▼               ▼                     ▼
//!    sip/           media/ ◄──────────── dialplan/ (syntax, validate, interp, calendar)
//!    endpoint,      player, say,
//!    transaction,   prompts, bridge
//!    msg, auth         │
//!                      ▼
//!                    rtp/ ──────────────► sdp/ (parse, offer_answer, MediaSession)
//!
//!   knowledge/ (articles, search) sits beside dialplan/; the console reads both.
//!   srtp (the RFC 3711 transform, sans-IO) sits at the bottom: the driver runs a secure
//!   leg's packets through it at the socket, so call/, media/ and rtp/ see plain RTP.
//!   callback (jobs: due times, attempts, back-off) sits beside acd/; the switchboard
//!   offers due jobs to operators and calls the resident once one answers.
//! ```
//!
//! Layers point down only. The order, top to bottom (a module may use those on lines
//! below its own, never those on its line or above; `tests/architecture.rs` reads this
//! block and checks every `crate::` path against it):
//!
//! ```text
//! layer: driver
//! layer: http
//! layer: admission
//! layer: switchboard
//! layer: metrics
//! layer: call
//! layer: config
//! layer: operators cdr store
//! layer: notify
//! layer: registrar acd dialplan knowledge trunk callback
//! layer: media
//! layer: rtp
//! layer: sdp sip
//! layer: phone pii clock rng suggest outcome srtp
//! ```
//!
//! `sip` knows nothing of dial plans, `dialplan` nothing of SIP or RTP; `call` translates
//! between them. The operator queue router `acd` knows operators by name and calls by id
//! only; the `switchboard` feeds it the registrar's bindings and the operator legs'
//! outcomes and turns its `Ring`/`CancelRing` into actions the driver carries out on the
//! SIP endpoint. `http` never names the driver: it asks through the `http::Daemon` trait,
//! which the driver implements. The operators' knowledge base (`knowledge`) is a value like
//! a dial plan: articles and their search index, checked against the form ids its caller
//! passes in, so it needs nothing of `notify`; `driver::knowledge` reads its directory.
//!
//! # The run-loop contract
//!
//! Every core (endpoint, transactions, switchboard, registrar, acd, callback jobs, call,
//! interpreter, player, pacer, outbox) is a plain value
//! with `&mut self` methods. The driver loop is always the same: wait for one input (a
//! datagram, a message from another task, or the core's deadline), make one `handle_*`
//! call, drain every `poll_*` until it returns `None`, sleep until `poll_timeout()`. (The
//! SIP task takes the datagrams waiting in its socket as one batch and does that for each
//! of them in turn, sending once the batch is done.)
//!
//! # Time
//!
//! Cores never read a clock: every `handle_*` takes `now: Instant`, so tests drive them in
//! virtual time (RFC 3261 timers are checked to the millisecond in microseconds of test
//! time) and a loaded machine cannot make a test flaky. RTP pacing deadlines are computed as
//! `epoch + n × 20 ms`, never as "last wake-up + 20 ms", so they cannot drift.
//!
//! # Panics
//!
//! A panic means a bug, never bad input: parsers return errors, malformed SIP gets a
//! stateless 400 or is dropped and counted, RTP that does not parse is ignored. There is no
//! `unwrap()` on anything that came from outside; each `expect` states its invariant.

pub mod acd;
pub mod admission;
pub mod call;
pub mod callback;
pub mod cdr;
pub mod clock;
pub mod config;
pub mod dialplan;
pub mod driver;
pub mod http;
pub mod knowledge;
pub mod media;
pub mod metrics;
pub mod notify;
pub mod operators;
pub mod outcome;
pub mod phone;
pub mod pii;
pub mod registrar;
pub mod rng;
pub mod rtp;
pub mod sdp;
pub mod sip;
pub mod srtp;
pub mod store;
pub mod suggest;
pub mod switchboard;
pub mod trunk;
