//! Starting the switchboard: the accounts file, a fresh Digest secret from the OS, and the
//! operator states saved at the last run. What the switchboard decides is in
//! [`crate::switchboard`]; the SIP task carries it out.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::acd::{Acd, SavedAgents};
use crate::config::Config;
use crate::operators::Operators;
use crate::registrar::{Registrar, RegistrarConfig};
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
