//! `[tls]`: SIP over TLS (RFC 3261 §26) for operators who register across the internet.

use std::path::PathBuf;

use serde::Deserialize;

/// `[tls]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// Address of the SIP/TLS listener (`"0.0.0.0:5061"`); empty: no TLS.
    pub listen: String,
    /// The certificate chain in PEM, the server's own certificate first (certbot's
    /// `fullchain.pem`).
    pub certificate: PathBuf,
    /// The certificate's private key in PEM (PKCS#8, PKCS#1 or SEC1; certbot's `privkey.pem`).
    pub key: PathBuf,
    /// How often the two files are looked at for a renewal, in seconds. A changed pair is
    /// served to new connections without a restart; connections already open keep theirs.
    pub reload_check_s: u64,
    /// Seconds a client has to finish the TLS handshake.
    pub handshake_timeout_s: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            listen: String::new(),
            certificate: PathBuf::from("/etc/ugyelet/tls/fullchain.pem"),
            key: PathBuf::from("/etc/ugyelet/tls/privkey.pem"),
            reload_check_s: 60,
            handshake_timeout_s: 10,
        }
    }
}

impl TlsConfig {
    /// Whether a TLS listener is configured.
    pub fn enabled(&self) -> bool {
        !self.listen.trim().is_empty()
    }

    /// The listener's address, once validated.
    pub fn listen_addr(&self) -> Option<std::net::SocketAddr> {
        self.listen.trim().parse().ok()
    }

    /// Every problem, as `tls.key: expected …, found …`. The files themselves are read by
    /// the daemon's preflight (they may not exist where the configuration is checked).
    pub fn validate(&self, sip_listen: std::net::SocketAddr, p: &mut Vec<String>) {
        if !self.enabled() {
            return;
        }
        match self.listen_addr() {
            None => p.push(format!(
                "tls.listen: expected an address and port such as \"0.0.0.0:5061\", found {:?}",
                self.listen
            )),
            Some(a)
                if a.port() != 0 && a.port() == sip_listen.port() && a.ip() == sip_listen.ip() =>
            {
                p.push(format!(
                    "tls.listen: expected another port than sip.listen's (SIP over TCP \
                     listens there), found {a}"
                ));
            }
            Some(_) => {}
        }
        if self.certificate.as_os_str().is_empty() {
            p.push("tls.certificate: expected the path of a PEM certificate chain, found an empty string".to_owned());
        }
        if self.key.as_os_str().is_empty() {
            p.push(
                "tls.key: expected the path of a PEM private key, found an empty string".to_owned(),
            );
        }
        if !(1..=86_400).contains(&self.reload_check_s) {
            p.push(format!(
                "tls.reload_check_s: expected 1 to 86400 seconds, found {}",
                self.reload_check_s
            ));
        }
        if !(1..=120).contains(&self.handshake_timeout_s) {
            p.push(format!(
                "tls.handshake_timeout_s: expected 1 to 120 seconds, found {}",
                self.handshake_timeout_s
            ));
        }
    }
}
