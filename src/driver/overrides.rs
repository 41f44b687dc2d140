//! The admins' manual override (open / closed / auto, optionally until a time), kept in
//! `<state.dir>/override.toml` so it survives restarts.
//!
//! Both the CLI (`ugyelet override …`, which works whether or not the daemon runs) and the
//! admin API write the same file; the daemon re-reads it whenever it changes. Writes go to
//! a temporary file renamed into place, so a reader never sees half a file.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::dialplan::calendar::manual::{parse_mode, parse_until};
use crate::dialplan::calendar::{ManualMode, ManualOverride, tz};

const FILE: &str = "override.toml";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    until: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// Where the override lives.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE)
}

/// Reads the stored override; a missing file means "auto".
pub fn load(state_dir: &Path) -> Result<Option<ManualOverride>, String> {
    let p = path(state_dir);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", p.display())),
    };
    let stored: Stored =
        toml::from_str(&text).map_err(|e| format!("{}: {}", p.display(), e.message()))?;
    let mode = match stored.mode.as_str() {
        "open" => ManualMode::Open,
        "closed" => ManualMode::Closed,
        other => {
            return Err(format!(
                "{}: mode: expected \"open\" or \"closed\", found \"{other}\"",
                p.display()
            ));
        }
    };
    let until = stored
        .until
        .as_deref()
        .map(parse_until)
        .transpose()
        .map_err(|e| format!("{}: until: {e}", p.display()))?;
    Ok(Some(ManualOverride {
        mode,
        until,
        reason: stored.reason,
    }))
}

/// Stores an override, or removes it (`None` = back to the calendar).
pub fn save(state_dir: &Path, value: Option<&ManualOverride>) -> Result<(), String> {
    let p = path(state_dir);
    let Some(m) = value else {
        return match std::fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("{}: {e}", p.display())),
        };
    };
    std::fs::create_dir_all(state_dir).map_err(|e| format!("{}: {e}", state_dir.display()))?;
    let stored = Stored {
        mode: match m.mode {
            ManualMode::Open => "open".to_owned(),
            ManualMode::Closed => "closed".to_owned(),
        },
        until: m.until.map(|t| {
            t.to_zoned_datetime(tz())
                .strftime("%Y-%m-%d %H:%M")
                .to_string()
        }),
        reason: m.reason.clone(),
    };
    let text = toml::to_string(&stored).map_err(|e| e.to_string())?;
    write_atomic(&p, text.as_bytes())
}

/// Writes a state file so that a reader (or a restart after a crash) sees the old
/// contents or the new, never half: a temporary file beside it, renamed into place.
pub fn write_atomic(p: &Path, bytes: &[u8]) -> Result<(), String> {
    let dir = p.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, p).map_err(|e| format!("{}: {e}", p.display()))
}

/// `PUT /api/override` on the admin API: the status and body, or why nothing answered.
pub fn put_through_api(
    addr: SocketAddr,
    token: Option<&str>,
    body: &str,
) -> std::io::Result<(u16, String)> {
    through_api(addr, token, "PUT", "/api/override", body)
}

/// One request to a running daemon's admin API at `addr` (the command line's way to act
/// on the daemon that answers calls): the status and body, or why nothing answered.
pub fn through_api(
    addr: SocketAddr,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut s = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let auth = token
        .filter(|t| !t.is_empty())
        .map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let status = resp
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("no HTTP status line"))?;
    let answer = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.trim().to_owned())
        .unwrap_or_default();
    Ok((status, answer))
}
