//! What `run` checks before it serves, as one function that `ugyelet check` calls too, so
//! the unit's `ExecStartPre` refuses exactly what the daemon would refuse (and warns about
//! what it would only warn about).
//!
//! Beyond the files [`super::live::load`] reads: the outgoing mail and SMS settings as the
//! senders would build them (including trusted CA certificates for their TLS), the state directory (it must be writable), the operator
//! accounts file, and dial-plan features the configuration cannot serve.

use std::collections::BTreeSet;

use crate::config::Config;
use crate::dialplan::{Channel, NodeKind, Plan};

/// Every problem `run` would stop at, and every warning it would log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Preflight {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

/// Checks `cfg` (and `plan`, when it loaded) as `run` does.
pub fn check(cfg: &Config, plan: Option<&Plan>) -> Preflight {
    let mut p = Preflight::default();
    if let Some(smtp) = cfg.notify.smtp.sender_config()
        && let Err(e) = crate::notify::email::EmailSender::check(&smtp)
    {
        p.errors.push(format!("notify.smtp: {e}"));
    }
    if let Some(gateway) = super::forms::sms_gateway(&cfg.notify)
        && let Err(e) = crate::notify::sms::SmsSender::new(
            gateway,
            std::time::Duration::from_secs(cfg.notify.sms.timeout_s),
        )
    {
        p.errors.push(format!("notify.sms: {e}"));
    }
    state_dir_writable(cfg, &mut p);
    if !cfg.sip.operators.exists() {
        p.warnings.push(format!(
            "{}: warning: no operator accounts file: nobody can register, and every caller \
             who asks for an operator gets the plan's no-operator branch",
            cfg.sip.operators.display()
        ));
    }
    if let Some(plan) = plan {
        let sms = cfg.notify.sms.kind != crate::config::SmsKind::None;
        let email = cfg.notify.smtp.sender_config().is_some();
        let mut told = BTreeSet::new();
        for node in &plan.nodes {
            if let NodeKind::SendForm { channel, .. } = &node.kind {
                let (ready, what) = match channel {
                    Channel::Sms => (
                        sms,
                        "no SMS gateway is configured (notify.sms.kind = \"none\")",
                    ),
                    Channel::Email => (
                        email,
                        "no SMTP server is configured (notify.smtp.host is empty)",
                    ),
                };
                if !ready && told.insert(node.name.clone()) {
                    p.warnings.push(format!(
                        "{}: warning: node \"{}\" sends a form by {}, but {what}: callers who \
                         reach it hear that sending failed",
                        plan.source,
                        node.name,
                        channel.as_str()
                    ));
                }
            }
        }
    }
    p
}

/// The state directory exists (or can be made) and a file can be written in it.
fn state_dir_writable(cfg: &Config, p: &mut Preflight) {
    let dir = &cfg.state.dir;
    if let Err(e) = std::fs::create_dir_all(dir) {
        p.errors.push(format!(
            "state.dir: expected a directory the daemon can write, found {}: {e}",
            dir.display()
        ));
        return;
    }
    let probe = dir.join(format!(".ugyelet-check-{}", std::process::id()));
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
        }
        Err(e) => p.errors.push(format!(
            "state.dir: expected a directory the daemon can write, found {}: {e}",
            dir.display()
        )),
    }
}
