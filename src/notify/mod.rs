//! Sending forms and notices: the outbox core and its adapters.
//!
//! - [`text`]: GSM-7 classification, Hungarian transliteration, SMS segment counting.
//! - [`link`]: signed, expiring download links.
//! - [`outbox`]: the per-message state machine with retry timing (a core: no I/O).

pub mod link;
pub mod outbox;
pub mod text;
