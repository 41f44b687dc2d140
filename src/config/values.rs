//! Reading single values with messages for people: log levels by their common names,
//! socket addresses that echo what was found, and where a bad value came from.

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

use super::ENV_PREFIX;

/// The `tracing` filter for `level`, with the level names people use elsewhere accepted
/// (`warning`, `notice`, `verbose`, `critical`…): a bare word the filter does not know as a
/// level would otherwise be read as a module name, and turn every log line off.
pub fn log_filter(level: &str) -> Result<String, String> {
    fn level_name(word: &str) -> Option<&'static str> {
        Some(match word.trim().to_ascii_lowercase().as_str() {
            "trace" => "trace",
            "debug" | "verbose" => "debug",
            "info" | "information" | "notice" => "info",
            "warn" | "warning" => "warn",
            "error" | "err" | "critical" | "crit" | "fatal" | "alert" | "emerg" => "error",
            "off" | "none" => "off",
            _ => return None,
        })
    }
    let expected = "expected a level (trace, debug, info, warn, error, off; also warning, \
                    notice, verbose, critical) or target=level directives such as \
                    \"info,ugyelet::driver=debug\"";
    let mut out = Vec::new();
    for directive in level.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        match directive.rsplit_once('=') {
            None => match level_name(directive) {
                Some(l) => out.push(l.to_owned()),
                None => return Err(format!("{expected}, found \"{directive}\"")),
            },
            Some((target, lvl)) => match level_name(lvl) {
                Some(l) if !target.trim().is_empty() => out.push(format!("{}={l}", target.trim())),
                _ => return Err(format!("{expected}, found \"{directive}\"")),
            },
        }
    }
    if out.is_empty() {
        return Err(format!("{expected}, found \"{level}\""));
    }
    Ok(out.join(","))
}

/// A socket address from text (or, from the environment, a bare number), with a message
/// that shows what was found.
pub(super) fn socket_addr<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Number(i64),
    }
    let found = match Raw::deserialize(d)? {
        Raw::Text(t) => t,
        Raw::Number(n) => n.to_string(),
    };
    found.trim().parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "expected an address and port such as 0.0.0.0:5060 or [::]:5060, found \"{found}\""
        ))
    })
}

/// Where a key's bad value came from, for a load error that names the key: the
/// environment variable that set it, else the file.
pub(super) fn value_source(
    message: &str,
    env: &std::collections::HashMap<String, String>,
    file: Option<&Path>,
) -> String {
    let key = message
        .split("for key `")
        .nth(1)
        .and_then(|rest| rest.split('`').next());
    let Some(key) = key else {
        return String::new();
    };
    let var = format!(
        "{ENV_PREFIX}_{}",
        key.to_ascii_uppercase().replace('.', "__")
    );
    let secret = ["token", "password", "secret", "key"]
        .iter()
        .any(|w| key.contains(w));
    match (env.get(&var), file) {
        (Some(_), _) if secret => format!(" (set by {var})"),
        (Some(v), _) => format!(" (set by {var}=\"{v}\")"),
        (None, Some(f)) => format!(" (in {})", f.display()),
        (None, None) => String::new(),
    }
}
