//! `ugyelet override`: open or close the line by hand, or hand it back to the calendar.
//!
//! The override is a file in the state directory ([`overrides::path`]): it survives
//! restarts, and a running daemon picks it up without a reload. The admin API sets the same
//! file, so the two never disagree about which one is in force.

use std::process::ExitCode;

use ugyelet::config::Config;
use ugyelet::dialplan::calendar;
use ugyelet::driver::overrides;

/// Stores `mode` (`open`, `closed`, or `auto` to remove the override), until `until` in
/// Budapest time if given, with `reason` for the logs and the status page.
pub fn set(cfg: &Config, mode: &str, until: Option<&str>, reason: Option<String>) -> ExitCode {
    let parsed = overrides::parse_mode(mode).and_then(|m| {
        let until = until.map(overrides::parse_until).transpose()?;
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
    match overrides::save(&cfg.state.dir, value.as_ref()) {
        Ok(()) => {
            println!(
                "override {mode} stored in {}",
                overrides::path(&cfg.state.dir).display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ugyelet override: {e}");
            ExitCode::FAILURE
        }
    }
}
