//! `ugyelet override`: open or close the line by hand, or hand it back to the calendar.
//!
//! The override is a file in the state directory ([`overrides::path`]): it survives
//! restarts, and a running daemon picks it up without a reload. The admin API sets the same
//! file, so the two never disagree about which one is in force.
//!
//! The command goes through the running daemon's admin API when one answers at
//! `[admin] listen`: then it acts on the daemon that answers calls, whatever directory it
//! was typed in. With no daemon answering it writes the file into the configured state
//! directory, but only if that directory exists (a daemon has run with it); otherwise it
//! refuses, rather than leave a file that no daemon will ever read.

use std::net::SocketAddr;
use std::process::ExitCode;

use ugyelet::config::Config;
use ugyelet::dialplan::calendar;
use ugyelet::driver::overrides;

/// Stores `mode` (`open`, `closed`, or `auto` to remove the override), until `until` in
/// Budapest time if given, with `reason` for the logs and the status page.
pub fn set(cfg: &Config, mode: &str, until: Option<&str>, reason: Option<String>) -> ExitCode {
    let now = ugyelet::clock::civil_now().timestamp();
    let parsed = overrides::parse_mode(mode).and_then(|m| {
        let until = until
            .map(|u| {
                let t = overrides::parse_until(u).map_err(|e| format!("--until: {e}"))?;
                calendar::manual::until_after(t, now).map_err(|e| format!("--until: {e}"))?;
                Ok::<_, String>(t)
            })
            .transpose()?;
        Ok(m.map(|mode| calendar::ManualOverride {
            mode,
            until,
            reason,
        }))
    });
    let value = match parsed {
        Ok(v) => v,
        Err(e) => {
            eprintln!("ugyelet override: {e}");
            return ExitCode::from(2);
        }
    };
    let addr = cfg.admin.listen.parse::<SocketAddr>().ok();
    if let Some(addr) = addr {
        let body = serde_json::json!({ "mode": mode, "until": until, "reason": value.as_ref().and_then(|v| v.reason.clone()) });
        match overrides::put_through_api(addr, cfg.admin.token.as_deref(), &body.to_string()) {
            Ok((200, _)) => {
                println!("override {mode} applied by the daemon answering on {addr}");
                return ExitCode::SUCCESS;
            }
            Ok((status, answer)) => {
                eprintln!("ugyelet override: the daemon on {addr} refused it ({status}): {answer}");
                return ExitCode::FAILURE;
            }
            // No daemon there: the file, below.
            Err(_) => {}
        }
    }
    let dir = std::path::absolute(&cfg.state.dir).unwrap_or_else(|_| cfg.state.dir.clone());
    if !dir.is_dir() {
        eprintln!(
            "ugyelet override: no daemon answers on {}, and the state directory {} does not \
             exist, so no daemon uses it: nothing was changed. Run it with the daemon's \
             configuration (--config FILE, e.g. /etc/ugyelet/ugyelet.toml).",
            cfg.admin.listen,
            dir.display()
        );
        return ExitCode::FAILURE;
    }
    match overrides::save(&dir, value.as_ref()) {
        Ok(()) => {
            println!(
                "override {mode} stored in {} (no daemon answers on {}; a daemon started \
                 with this configuration applies it)",
                overrides::path(&dir).display(),
                cfg.admin.listen
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ugyelet override: {e}");
            ExitCode::FAILURE
        }
    }
}
