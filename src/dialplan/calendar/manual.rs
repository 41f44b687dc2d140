//! The admins' words for a manual override, as the CLI and the admin API take them.

use super::{ManualMode, tz};

/// A time in Budapest as admins write it (`2026-12-24 18:00`), or RFC 3339.
pub fn parse_until(s: &str) -> Result<jiff::Timestamp, String> {
    let s = s.trim();
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Ok(ts);
    }
    let civil = jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M", s)
        .map_err(|_| format!("expected a time like \"2026-12-24 18:00\", found \"{s}\""))?;
    civil
        .to_zoned_datetime(tz())
        .map(|z| z.timestamp())
        .map_err(|e| format!("{s}: {e}"))
}

/// Parses the CLI/API words `open`, `closed`, `auto`.
pub fn parse_mode(s: &str) -> Result<Option<ManualMode>, String> {
    match s {
        "open" => Ok(Some(ManualMode::Open)),
        "closed" => Ok(Some(ManualMode::Closed)),
        "auto" => Ok(None),
        other => Err(format!("expected open, closed or auto, found \"{other}\"")),
    }
}
