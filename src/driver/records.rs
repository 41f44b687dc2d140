//! The call-record writer: one thread that owns the SQLite connection, so no call ever
//! waits for the disk. It also applies the retention rules once an hour, and puts every
//! call that someone should return ([`crate::outcome::Outcome::needs_callback`]) on the
//! worklist, which lives in the other database, the store (a durable commit: done here, on
//! this thread, for the same reason).
//!
//! Forms operators send come here too ([`ToRecords::Form`], tied to a call by
//! [`crate::cdr::CallTies`]). One thread takes both in order, so there is no race between a
//! call ending and a form for it: a form for a call whose record is stored is added to the
//! stored row; one for a call still going on waits here and goes into the record when it
//! arrives. A form waiting for a record that never comes (the call never became one, e.g.
//! an operator's feature-code call) is dropped a day later with a warning.
//!
//! Such a call with a number to ring also becomes a callback job (asked for explicitly,
//! or with `[callbacks] automatic`), which the SIP task is told of.

use std::collections::HashMap;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::cdr::{CallRecord, Records};
use crate::config::Config;
use crate::outcome::Outcome;

use super::forms::Forms;
use super::messages::ToSip;

/// What the writer is given.
pub enum ToRecords {
    /// A call ended: its record.
    Call(CallRecord),
    /// An operator sent `form` for the call with this SIP Call-ID.
    Form { call_id: String, form: String },
}

/// How long a form waits for its call's record.
const FORM_WAITS: Duration = Duration::from_secs(24 * 3600);

/// Starts the writer. Dropping every sender makes it flush and stop; join the handle to
/// wait for that.
pub(super) fn spawn(
    cfg: &Config,
    forms: std::sync::Arc<Forms>,
    to_sip: tokio::sync::mpsc::UnboundedSender<ToSip>,
) -> Result<(mpsc::Sender<ToRecords>, JoinHandle<()>), String> {
    let automatic = cfg.callbacks.automatic;
    let records = Records::open(&cfg.state.dir)?;
    let salt = match &cfg.records.salt {
        Some(s) if !s.is_empty() => s.clone(),
        _ => stored_salt(&cfg.state.dir)?,
    };
    let pseudo = Duration::from_secs(cfg.records.pseudonymize_after_days * 86_400);
    let delete = Duration::from_secs(cfg.records.retention_days * 86_400);
    let (tx, rx) = mpsc::channel::<ToRecords>();
    let handle = std::thread::Builder::new()
        .name("call-records".to_owned())
        .spawn(move || {
            let retention = || {
                let now = jiff::Timestamp::now();
                let before = |d: Duration| {
                    jiff::SignedDuration::try_from(d)
                        .ok()
                        .and_then(|d| now.checked_sub(d).ok())
                };
                if let (Some(p), Some(d)) = (before(pseudo), before(delete)) {
                    match records.apply_retention(p, d, &salt) {
                        Ok((0, 0)) => {}
                        Ok((p, d)) => tracing::info!(
                            pseudonymized = p,
                            deleted = d,
                            "call-record retention applied"
                        ),
                        Err(e) => tracing::error!("call-record retention: {e}"),
                    }
                }
            };
            retention();
            // SIP Call-ID → when the first one came, and the forms sent for that call
            // before its record arrived.
            let mut waiting: HashMap<String, (Instant, Vec<String>)> = HashMap::new();
            loop {
                match rx.recv_timeout(Duration::from_secs(3600)) {
                    Ok(ToRecords::Call(mut r)) => {
                        if let Some((_, late)) = waiting.remove(&r.call_id) {
                            r.forms.extend(late);
                        }
                        if let Err(e) = records.insert(&r) {
                            tracing::error!("{e}");
                        }
                        if r.outcome.needs_callback()
                            && let Err(e) = forms.add_callback_blocking(&r)
                        {
                            tracing::error!("call not put on the worklist: {e}");
                        }
                        if let Some(job) = callback_job(&forms, &r, automatic) {
                            let _ = to_sip.send(ToSip::Callback(job));
                        }
                    }
                    Ok(ToRecords::Form { call_id, form }) => {
                        match records.add_form(&call_id, &form) {
                            Ok(true) => {}
                            Ok(false) => {
                                waiting
                                    .entry(call_id)
                                    .or_insert_with(|| (Instant::now(), Vec::new()))
                                    .1
                                    .push(form);
                            }
                            Err(e) => tracing::error!("{e}"),
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        retention();
                        waiting.retain(|_, (since, forms)| {
                            let keep = since.elapsed() < FORM_WAITS;
                            if !keep {
                                tracing::warn!(
                                    forms = %forms.join(" "),
                                    "forms sent for a call that left no record: not recorded"
                                );
                            }
                            keep
                        });
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
        })
        .map_err(|e| format!("cannot start the call-record writer: {e}"))?;
    Ok((tx, handle))
}

/// The callback job a finished call asks for: an explicit request (`callback`) always, the
/// other outcomes that need returning only with `automatic`; never for a hidden number.
fn callback_job(forms: &Forms, r: &CallRecord, automatic: bool) -> Option<crate::callback::Job> {
    let wanted = r.outcome == Outcome::Callback || (automatic && r.outcome.needs_callback());
    let number = crate::phone::normalize(&r.caller).filter(|_| wanted)?;
    forms
        .callback_request_blocking(&number, r.outcome.as_str(), Some(&r.call_id))
        .map_err(|e| tracing::error!("callback job not kept: {e}"))
        .ok()
}

/// A random salt created once per installation.
fn stored_salt(dir: &std::path::Path) -> Result<String, String> {
    let path = dir.join("pseudonym.salt");
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        _ => {
            let salt = format!("{:032x}", rand::random::<u128>());
            std::fs::write(&path, &salt).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(salt)
        }
    }
}
