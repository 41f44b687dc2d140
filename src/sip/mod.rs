//! SIP (RFC 3261): messages, framing, transactions and the endpoint.
//!
//! - [`auth`]: HTTP Digest (RFC 3261 §22, RFC 7616, RFC 8760), server side;
//! - [`msg`]: parsing and printing, our own (see DESIGN.md for why not rsip);
//! - [`framing`]: finding message boundaries on TCP streams;
//! - [`transaction`]: the four transaction state machines of RFC 3261 §17 (+ RFC 6026);
//! - [`endpoint`]: transaction matching, dialogs, the UAS side (calls and requests we
//!   receive) and the UAC side (operator legs, BYE, CANCEL, keep-alive OPTIONS);
//! - [`overload`]: whether the SIP task is behind its socket, so new calls get 503;
//! - [`ratelimit`]: per-source limits so one flooding source cannot starve the others;
//! - [`refer`]: REFER (RFC 3515) and Replaces (RFC 3891), read for transfers, and the
//!   NOTIFY that reports a transfer's progress.

pub mod auth;
pub mod endpoint;
pub mod framing;
pub mod msg;
pub mod overload;
pub mod ratelimit;
pub mod refer;
pub mod transaction;
