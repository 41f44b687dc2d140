//! Starting the switchboard: the accounts file, a fresh Digest secret from the OS, the
//! operator states and the registrations kept from the last run; and the thread that
//! keeps registrations in the store. What the switchboard decides is in
//! [`crate::switchboard`]; the SIP task carries it out.
//!
//! Registrations are written by a thread of their own, not the SIP task: each save is a
//! durable commit (a disk sync), which must not hold up SIP. The SIP task sends the whole
//! set of bindings whenever it changed; the thread writes the newest set it has and drops
//! the ones it overtook, so a burst of REGISTERs costs one commit and what is on disk is
//! always the latest complete picture. The REGISTER's 200 goes out before the commit: a
//! crash in between loses one registration, which the phone repeats at its next refresh.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::forms::Forms;
use crate::acd::{Acd, SavedAgents};
use crate::config::Config;
use crate::operators::Operators;
use crate::registrar::{Registrar, RegistrarConfig, SavedBinding};
use crate::sip::auth::{Algorithm, DigestAuth, DigestConfig};
use crate::switchboard::{Switchboard, acd_config};

/// Where operator states (logged in, paused) are kept across restarts.
pub(super) fn saved_path(cfg: &Config) -> PathBuf {
    cfg.state.dir.join("operators.json")
}

/// Loads the accounts, sets up registrar and queue, and restores saved operator states.
pub(super) fn build(cfg: &Config, now: Instant) -> Result<Switchboard, Vec<String>> {
    let path = &cfg.sip.operators;
    // A missing file is reported by `preflight` (as `ugyelet check` reports it).
    let accounts = Operators::load(path)?;
    let o = &cfg.operators;
    // Nonces are signed with it: a new one each start invalidates old nonces, which phones
    // handle with one more challenge.
    let secret: [u8; 32] = rand::random();
    let auth = DigestAuth::new(
        DigestConfig {
            realm: cfg.sip.realm.clone(),
            algorithms: cfg
                .sip
                .digest_algorithms
                .iter()
                .filter_map(|a| Algorithm::parse(a))
                .collect(),
            ..DigestConfig::default()
        },
        &secret,
        now,
    );
    let registrar = Registrar::new(
        RegistrarConfig {
            min_expires: o.min_expires_s,
            max_expires: o.max_expires_s,
            default_expires: o.max_expires_s,
            keepalive_udp: Duration::from_secs(o.keepalive_udp_s.max(1)),
            ..RegistrarConfig::default()
        },
        auth,
        now,
    );
    let mut acd = Acd::new(acd_config(o), accounts.specs(), now);
    match std::fs::read(saved_path(cfg)) {
        Ok(bytes) => match serde_json::from_slice::<SavedAgents>(&bytes) {
            Ok(saved) => acd.restore(now, &saved),
            Err(e) => warn!("saved operator states unreadable, starting fresh: {e}"),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => warn!("saved operator states unreadable, starting fresh: {e}"),
    }
    info!(
        operators = accounts.specs().len(),
        "operator accounts loaded"
    );
    Ok(Switchboard::new(registrar, accounts, acd))
}

/// Gives the switchboard back the registrations kept at the last run (see
/// `registrar/saved.rs`): their operators can be rung at once.
pub(super) fn restore_bindings(board: &mut Switchboard, forms: &Forms) {
    let saved = match forms.bindings_blocking() {
        Ok(saved) => saved,
        Err(e) => {
            warn!("kept registrations unreadable, operators must register again: {e}");
            return;
        }
    };
    let r = board.restore_bindings(Instant::now(), crate::clock::unix_ms(), &saved);
    for why in &r.dropped {
        // An operator's name and a reason; no address.
        info!("kept registration not restored: {why}");
    }
    if r.bindings > 0 {
        info!(
            bindings = r.bindings,
            operators = %r.aors.join(", "),
            "registrations restored: these operators can be called before their phones register again"
        );
    }
}

/// Starts the thread that keeps registrations in the store. Dropping the sender makes it
/// write what it still has and stop; join the handle to wait for that.
pub(super) fn spawn_bindings_writer(
    forms: Arc<Forms>,
) -> Result<(mpsc::Sender<Vec<SavedBinding>>, JoinHandle<()>), String> {
    let (tx, rx) = mpsc::channel::<Vec<SavedBinding>>();
    let handle = std::thread::Builder::new()
        .name("bindings".to_owned())
        .spawn(move || {
            while let Ok(mut newest) = rx.recv() {
                // Only the newest set matters.
                while let Ok(newer) = rx.try_recv() {
                    newest = newer;
                }
                if let Err(e) = forms.replace_bindings_blocking(&newest) {
                    warn!("registrations not kept for a restart: {e}");
                }
            }
        })
        .map_err(|e| format!("cannot start the bindings writer: {e}"))?;
    Ok((tx, handle))
}
