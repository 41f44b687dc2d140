//! Sending forms and notices: the outbox core and its adapters.
//!
//! - [`Channel`], SMS or email: the one channel type, defined by the dial plan (the lowest
//!   layer that names it) and re-exported here.
//! - [`catalog`]: the forms catalog (`config/forms.toml`).
//! - [`text`]: GSM-7 classification, Hungarian transliteration, SMS segment counting.
//! - [`link`]: signed, expiring download links.
//! - [`limit`]: per-number SMS limits (a pure decision over the outbox's send times).
//! - [`compose`]: what a form message says and whether it may go (address checks,
//!   limits, link, GSM-7 text, email body), and the office's voice-message email.
//! - [`outbox`]: the per-message state machine with retry timing (a core: no I/O).
//! - [`sms`], [`email`]: adapters that send one message and classify the answer.
//!
//! Nothing here touches the store: the send loop that joins the store, the outbox core and
//! the adapters is the driver's (`driver::outbox_worker`).

pub mod catalog;
pub mod compose;
pub mod email;
pub mod limit;
pub mod link;
pub mod outbox;
pub mod sms;
pub mod text;

pub use crate::dialplan::Channel;
