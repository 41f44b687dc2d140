//! `[trunk]`: the provider's SIP trunk that the daemon registers with and, for callbacks and
//! transfers, calls out through.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// `[trunk]`. An empty `registrar` means no trunk.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrunkConfig {
    /// The provider's registrar and domain: `host` or `host:port` (5060 by default).
    pub registrar: String,
    /// Where requests are sent instead of the registrar (`host:port`), when the provider
    /// names an outbound proxy.
    pub outbound_proxy: String,
    /// Register (digest) with the provider; false when it authenticates us by address.
    pub register: bool,
    /// The user part of our address at the provider (often the main number).
    pub username: String,
    /// The digest user name, when it differs from `username`.
    pub auth_username: String,
    /// The digest password. Better from the environment (`UGYELET_TRUNK__PASSWORD`) or
    /// `password_file`; never logged.
    pub password: String,
    /// A file whose first line is the password (e.g. a systemd credential).
    pub password_file: Option<PathBuf>,
    /// Registration lifetime asked for.
    pub expires_s: u32,
    /// After a failed registration, the first wait before the next try; it doubles up to
    /// `retry_max_s`.
    pub retry_initial_s: u64,
    pub retry_max_s: u64,
    /// The caller ID presented on calls out (E.164, e.g. "+3623444555").
    pub caller_id: String,
    /// How numbers are written in calls out: "e164" (+3630…) or "national" (0630…).
    pub number_format: NumberFormat,
}

/// How a number is dialled through the trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NumberFormat {
    E164,
    National,
}

impl Default for TrunkConfig {
    fn default() -> Self {
        TrunkConfig {
            registrar: String::new(),
            outbound_proxy: String::new(),
            register: true,
            username: String::new(),
            auth_username: String::new(),
            password: String::new(),
            password_file: None,
            expires_s: 600,
            retry_initial_s: 30,
            retry_max_s: 600,
            caller_id: String::new(),
            number_format: NumberFormat::E164,
        }
    }
}

impl std::fmt::Debug for TrunkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrunkConfig")
            .field("registrar", &self.registrar)
            .field("outbound_proxy", &self.outbound_proxy)
            .field("register", &self.register)
            .field("username", &self.username)
            .field("auth_username", &self.auth_username)
            .field(
                "password",
                &if self.password.is_empty() { "" } else { "***" },
            )
            .field("password_file", &self.password_file)
            .field("expires_s", &self.expires_s)
            .field("caller_id", &self.caller_id)
            .field("number_format", &self.number_format)
            .finish_non_exhaustive()
    }
}

impl TrunkConfig {
    /// Whether a trunk is configured.
    pub fn enabled(&self) -> bool {
        !self.registrar.trim().is_empty()
    }

    /// The provider's domain (the registrar without its port).
    pub fn domain(&self) -> &str {
        host_of(self.registrar.trim())
    }

    /// Where to send: the outbound proxy if set, else the registrar, with the default port.
    pub fn next_hop(&self) -> String {
        let hop = if self.outbound_proxy.trim().is_empty() {
            self.registrar.trim()
        } else {
            self.outbound_proxy.trim()
        };
        with_port(hop)
    }

    /// The digest user name.
    pub fn auth_user(&self) -> &str {
        if self.auth_username.is_empty() {
            &self.username
        } else {
            &self.auth_username
        }
    }

    /// The password from `password_file` when set, else `password`.
    pub fn secret(&self) -> Result<String, String> {
        match &self.password_file {
            Some(p) => std::fs::read_to_string(p)
                .map(|s| s.lines().next().unwrap_or_default().to_owned())
                .map_err(|e| {
                    format!(
                        "trunk.password_file: expected a readable file, found {}: {e}",
                        p.display()
                    )
                }),
            None => Ok(self.password.clone()),
        }
    }

    /// Every problem of the section (none when no trunk is configured).
    pub fn validate(&self, p: &mut Vec<String>) {
        if !self.enabled() {
            return;
        }
        let hop = self.next_hop();
        let host = host_of(&hop);
        if host.is_empty() || host.contains(['/', ' ', '@']) || hop.rsplit_once(':').is_none() {
            p.push(format!(
                "trunk.registrar / trunk.outbound_proxy: expected host or host:port, found \"{hop}\""
            ));
        }
        if self.register && self.username.is_empty() {
            p.push(
                "trunk.username: expected the account name at the provider, found nothing \
                 (or set trunk.register = false for a trunk that knows us by address)"
                    .to_owned(),
            );
        }
        if self.register {
            match self.secret() {
                Ok(s) if s.is_empty() => p.push(
                    "trunk.password: expected a password (UGYELET_TRUNK__PASSWORD or \
                     trunk.password_file), found none"
                        .to_owned(),
                ),
                Ok(_) => {}
                Err(e) => p.push(e),
            }
        }
        if !(60..=86_400).contains(&self.expires_s) {
            p.push(format!(
                "trunk.expires_s: expected 60 to 86400 seconds, found {}",
                self.expires_s
            ));
        }
        if self.retry_initial_s == 0 || self.retry_max_s < self.retry_initial_s {
            p.push(format!(
                "trunk.retry_max_s: expected at least trunk.retry_initial_s ({}) and both above 0, found {}",
                self.retry_initial_s, self.retry_max_s
            ));
        }
        if !self.caller_id.is_empty() && crate::phone::normalize(&self.caller_id).is_none() {
            p.push(format!(
                "trunk.caller_id: expected a phone number such as +3623444555, found \"{}\"",
                self.caller_id
            ));
        }
    }
}

/// `host` of `host`, `host:port` or `[v6]:port`.
fn host_of(hop: &str) -> &str {
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    hop.split(':').next().unwrap_or_default()
}

/// `hop` with port 5060 added when it has none.
fn with_port(hop: &str) -> String {
    let has_port = if hop.starts_with('[') {
        hop.contains("]:")
    } else {
        hop.contains(':')
    };
    if has_port || hop.parse::<SocketAddr>().is_ok() {
        hop.to_owned()
    } else {
        format!("{hop}:5060")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trunk() -> TrunkConfig {
        TrunkConfig {
            registrar: "sip.provider.example".into(),
            username: "3623444555".into(),
            password: "s3cret-trunk".into(),
            ..TrunkConfig::default()
        }
    }

    #[test]
    fn the_next_hop_is_the_proxy_else_the_registrar_with_the_default_port() {
        let t = trunk();
        assert_eq!(t.next_hop(), "sip.provider.example:5060");
        assert_eq!(t.domain(), "sip.provider.example");
        let t = TrunkConfig {
            outbound_proxy: "[2001:db8::1]:5070".into(),
            ..trunk()
        };
        assert_eq!(t.next_hop(), "[2001:db8::1]:5070");
        assert_eq!(t.auth_user(), "3623444555");
    }

    #[test]
    fn a_registering_trunk_needs_a_user_and_a_password_and_never_shows_it() {
        let mut p = Vec::new();
        trunk().validate(&mut p);
        assert!(p.is_empty(), "{p:?}");
        let t = TrunkConfig {
            password: String::new(),
            username: String::new(),
            expires_s: 5,
            caller_id: "hivatal".into(),
            ..trunk()
        };
        t.validate(&mut p);
        assert_eq!(p.len(), 4, "{p:?}");
        assert!(
            p[1].starts_with("trunk.password: expected a password"),
            "{p:?}"
        );
        assert!(!format!("{:?}", trunk()).contains("s3cret"));
        let mut none = Vec::new();
        TrunkConfig::default().validate(&mut none);
        assert!(none.is_empty(), "no trunk, nothing to check");
    }
}
