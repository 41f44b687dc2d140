//! `ugyelet cdr export`: the call records of a period as CSV on standard output.
//!
//! Days are Budapest days: a call belongs to the day on the office's calendar, whatever the
//! host's time zone. The count goes to standard error so the CSV can be piped as it is.

use std::process::ExitCode;

use ugyelet::config::Config;
use ugyelet::dialplan::calendar;

/// Writes the calls that started from `since` (a day) up to `until` (the day after the
/// last one; default tomorrow, so today is included).
pub fn export(cfg: &Config, since: &str, until: Option<&str>) -> ExitCode {
    let today = super::today();
    let day = |s: &str| -> Result<jiff::Timestamp, String> {
        let d: jiff::civil::Date = s
            .trim()
            .parse()
            .map_err(|_| format!("expected a date YYYY-MM-DD, found \"{s}\""))?;
        d.to_zoned_datetime(calendar::tz())
            .map(|z| z.timestamp())
            .map_err(|e| e.to_string())
    };
    let tomorrow = today.tomorrow().map(|d| d.to_string());
    let range = day(since)
        .map_err(|e| format!("--since: {e}"))
        .and_then(|from| {
            let (until_text, what) = match until {
                Some(u) => (u.to_owned(), "--until"),
                None => (
                    tomorrow.clone().map_err(|e| e.to_string())?,
                    "--until (default: tomorrow)",
                ),
            };
            let to = day(&until_text).map_err(|e| format!("--until: {e}"))?;
            if from >= to {
                return Err(format!(
                    "--since {} is not before {what} {until_text}: expected --since earlier \
                     than --until (the day after the last one exported)",
                    since.trim()
                ));
            }
            Ok((from, to))
        });
    let (from, to) = match range {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ugyelet cdr export: {e}");
            return ExitCode::from(2);
        }
    };
    // Opening the records would create an empty database: from the wrong directory (or
    // without the daemon's --config) that would print "0 call(s)" as if there were none.
    let dir = std::path::absolute(&cfg.state.dir).unwrap_or_else(|_| cfg.state.dir.clone());
    if !ugyelet::cdr::db_path(&dir).is_file() {
        eprintln!(
            "ugyelet cdr export: no call records at {}: no daemon has kept records with this \
             configuration's state directory. Run it with the daemon's configuration \
             (--config FILE, e.g. /etc/ugyelet/ugyelet.toml).",
            ugyelet::cdr::db_path(&dir).display()
        );
        return ExitCode::FAILURE;
    }
    let result = ugyelet::cdr::Records::open(&cfg.state.dir)
        .and_then(|r| r.export_csv(from, to, &mut std::io::stdout().lock()));
    match result {
        Ok(n) => {
            eprintln!("{n} call(s)");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ugyelet cdr export: {e}");
            ExitCode::FAILURE
        }
    }
}
