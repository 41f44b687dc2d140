//! ugyelet: the SIP/RTP daemon behind the "Segít a hivatal" after-hours help line.
//!
//! # Layers
//!
//! ```text
//!   main.rs ─► driver/ ───────────── sockets, tasks, clocks (the only I/O)
//!                 │  └──────────────► notify/ (outbox, links, SMS limits, SMS and SMTP
//!                 │                   adapters), store (SQLite), http/ (admin API,
//!                 │                   form downloads, delivery webhooks)
//!                 ▼
//!              call.rs ───────────── one call: SIP/RTP events ⇄ dial-plan actions
//!              │   │   │
//!     ┌────────┘   │   └──────────┐
//!     ▼            ▼              ▼
//!   sip/        media/         dialplan/
//!   endpoint    player, say,   syntax, validate,
//!   transaction prompts        interp
//!   msg, framing   │
//!     │            ▼
//!     │          rtp/ (packet, g711, pacer, stream, dtmf/{rfc4733, goertzel})
//!     ▼
//!   sdp/ (parse, offer_answer)
//! ```
//!
//! Layers point down only: `sip` knows nothing of dial plans, `dialplan` nothing of SIP or
//! RTP; `call` translates between them; `driver` wires them to the network. The operator
//! queue router `acd` knows operators by name and calls by id only: the driver feeds it the
//! registrar's bindings and the operator legs' outcomes, and turns its `Ring`/`CancelRing`
//! into INVITEs and CANCELs.
//!
//! # The run-loop contract
//!
//! Every core (endpoint, transactions, call, interpreter, player, pacer) is a plain value
//! with `&mut self` methods. The driver loop is always the same: wait for one input (a
//! datagram, a message from another task, or the core's deadline), make one `handle_*`
//! call, drain every `poll_*` until it returns `None`, sleep until `poll_timeout()`.
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
pub mod cdr;
pub mod clock;
pub mod config;
pub mod dialplan;
pub mod driver;
pub mod http;
pub mod media;
pub mod metrics;
pub mod notify;
pub mod operators;
pub mod phone;
pub mod pii;
pub mod registrar;
pub mod rtp;
pub mod sdp;
pub mod sip;
pub mod store;
pub mod switchboard;
