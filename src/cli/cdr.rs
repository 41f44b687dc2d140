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
            .parse()
            .map_err(|_| format!("expected a date YYYY-MM-DD, found \"{s}\""))?;
        d.to_zoned_datetime(calendar::tz())
            .map(|z| z.timestamp())
            .map_err(|e| e.to_string())
    };
    let range = day(since).and_then(|from| {
        let to = match until {
            Some(u) => day(u)?,
            None => day(&today.tomorrow().map_err(|e| e.to_string())?.to_string())?,
        };
        Ok((from, to))
    });
    let (from, to) = match range {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ugyelet cdr export: {e}");
            return ExitCode::from(2);
        }
    };
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
