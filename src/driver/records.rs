//! The call-record writer: one thread that owns the SQLite connection, so no call ever
//! waits for the disk. It also applies the retention rules once an hour, and puts every
//! call that someone should return ([`crate::cdr::needs_callback`]) on the worklist, which
//! lives in the other database, the store (a durable commit: done here, on this thread,
//! for the same reason). Such a call with a number to ring also becomes a callback job
//! (asked for explicitly, or with `[callbacks] automatic`), which the SIP task is told of.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::cdr::{CallRecord, Records};
use crate::config::Config;

use super::forms::Forms;
use super::messages::ToSip;

/// Starts the writer. Dropping every sender makes it flush and stop; join the handle to
/// wait for that.
pub(super) fn spawn(
    cfg: &Config,
    forms: std::sync::Arc<Forms>,
    to_sip: tokio::sync::mpsc::UnboundedSender<ToSip>,
) -> Result<(mpsc::Sender<CallRecord>, JoinHandle<()>), String> {
    let automatic = cfg.callbacks.automatic;
    let records = Records::open(&cfg.state.dir)?;
    let salt = match &cfg.records.salt {
        Some(s) if !s.is_empty() => s.clone(),
        _ => stored_salt(&cfg.state.dir)?,
    };
    let pseudo = Duration::from_secs(cfg.records.pseudonymize_after_days * 86_400);
    let delete = Duration::from_secs(cfg.records.retention_days * 86_400);
    let (tx, rx) = mpsc::channel::<CallRecord>();
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
            loop {
                match rx.recv_timeout(Duration::from_secs(3600)) {
                    Ok(r) => {
                        if let Err(e) = records.insert(&r) {
                            tracing::error!("{e}");
                        }
                        if crate::cdr::needs_callback(&r.outcome)
                            && let Err(e) = forms.add_callback_blocking(&r)
                        {
                            tracing::error!("call not put on the worklist: {e}");
                        }
                        if let Some(job) = callback_job(&forms, &r, automatic) {
                            let _ = to_sip.send(ToSip::Callback(job));
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => retention(),
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
    let wanted = r.outcome == "callback" || (automatic && crate::cdr::needs_callback(&r.outcome));
    let number = crate::phone::normalize(&r.caller).filter(|_| wanted)?;
    forms
        .callback_request_blocking(&number, &r.outcome, Some(&r.call_id))
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
