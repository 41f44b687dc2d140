//! Reading single values with messages for people: log levels by their common names,
//! socket addresses that echo what was found, and where a bad value came from.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use serde::Deserialize;

use super::{AdminConfig, ENV_PREFIX, SmsConfig};

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

/// Checks `admin.console_url`: empty, or an http(s) URL that can stand inside `<…>` in a
/// SIP header (no white space, control characters, quotes or angle brackets).
pub(super) fn console_url(url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Ok(());
    }
    let scheme = url.starts_with("http://") || url.starts_with("https://");
    if !scheme || url.contains(|c: char| c.is_whitespace() || c.is_control() || "<>\"".contains(c))
    {
        return Err(format!(
            "expected a URL such as https://ugyelet.example.hu (http:// or https://, no spaces, \
             quotes or angle brackets), found \"{url}\""
        ));
    }
    Ok(())
}

impl SmsConfig {
    /// The gateway's token (Twilio's auth token, Infobip's API key): the first line of
    /// `token_file` when set, else `token`, else empty.
    pub fn secret_token(&self) -> Result<String, String> {
        match &self.token_file {
            Some(p) => std::fs::read_to_string(p)
                .map(|s| s.lines().next().unwrap_or_default().trim().to_owned())
                .map_err(|e| {
                    format!(
                        "notify.sms.token_file: expected a readable file, found {}: {e}",
                        p.display()
                    )
                }),
            None => Ok(self.token.clone().unwrap_or_default()),
        }
    }
}

impl AdminConfig {
    /// The console's base URL as an operator's browser reaches it, without a trailing
    /// slash: `console_url` when set; else `http://` and `listen`, where a wildcard
    /// listen address is replaced by `local`, the address the operator's phone reached
    /// the daemon at (the phone and its operator's browser usually share a network).
    /// `None` when the console is off (`listen` empty) or behind an HTTPS proxy whose
    /// public address only `console_url` can tell.
    pub fn console_base(&self, local: IpAddr) -> Option<String> {
        if !self.console_url.is_empty() {
            return Some(self.console_url.trim_end_matches('/').to_owned());
        }
        if self.behind_https_proxy {
            return None;
        }
        let listen: SocketAddr = self.listen.parse().ok()?;
        let ip = if listen.ip().is_unspecified() {
            local
        } else {
            listen.ip()
        };
        Some(format!("http://{}", SocketAddr::new(ip, listen.port())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin(listen: &str, url: &str, proxy: bool) -> AdminConfig {
        AdminConfig {
            listen: listen.to_owned(),
            console_url: url.to_owned(),
            behind_https_proxy: proxy,
            ..AdminConfig::default()
        }
    }

    #[test]
    fn console_base_is_the_configured_url_else_the_listen_address_the_phone_can_reach() {
        let phone_side: IpAddr = [192, 168, 1, 10].into();
        assert_eq!(
            admin("127.0.0.1:8080", "https://ugyelet.example.hu/", true).console_base(phone_side),
            Some("https://ugyelet.example.hu".to_owned())
        );
        assert_eq!(
            admin("127.0.0.1:8080", "", false).console_base(phone_side),
            Some("http://127.0.0.1:8080".to_owned())
        );
        assert_eq!(
            admin("0.0.0.0:8080", "", false).console_base(phone_side),
            Some("http://192.168.1.10:8080".to_owned())
        );
        assert_eq!(
            admin("[::]:8080", "", false).console_base("2001:db8::5".parse().expect("ip")),
            Some("http://[2001:db8::5]:8080".to_owned())
        );
        // Behind a proxy only the configured URL is known; no console, no link.
        assert_eq!(
            admin("127.0.0.1:8080", "", true).console_base(phone_side),
            None
        );
        assert_eq!(admin("", "", false).console_base(phone_side), None);
    }

    #[test]
    fn console_url_must_fit_a_sip_header() {
        assert_eq!(console_url(""), Ok(()));
        assert_eq!(console_url("https://ugyelet.example.hu/konzol"), Ok(()));
        for bad in [
            "ugyelet.example.hu",
            "https://a b",
            "https://x>;y",
            "https://\"x\"",
        ] {
            assert_eq!(
                console_url(bad),
                Err(format!(
                    "expected a URL such as https://ugyelet.example.hu (http:// or https://, no \
                     spaces, quotes or angle brackets), found \"{bad}\""
                )),
                "{bad}"
            );
        }
    }
}
