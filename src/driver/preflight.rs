//! What `run` checks before it serves, as one function that `ugyelet check` calls too, so
//! the unit's `ExecStartPre` refuses exactly what the daemon would refuse (and warns about
//! what it would only warn about).
//!
//! Beyond the files [`super::live::load`] reads: the outgoing mail and SMS settings as the
//! senders would build them (including trusted CA certificates for their TLS), the address
//! the links in them point at, the state directory (it must be writable), the operator
//! accounts file, the SIP/TLS certificate and key (they load and belong together), and
//! dial-plan features the configuration cannot serve.

use std::collections::BTreeSet;

use crate::config::Config;
use crate::dialplan::{Channel, NodeKind, Plan};

/// Every problem `run` would stop at, and every warning it would log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Preflight {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

/// Checks `cfg` (and `plan`, when it loaded) as `run` does.
pub fn check(cfg: &Config, plan: Option<&Plan>) -> Preflight {
    let mut p = Preflight::default();
    if let Some(smtp) = cfg.notify.smtp.sender_config()
        && let Err(e) = crate::notify::email::EmailSender::check(&smtp)
    {
        p.errors.push(format!("notify.smtp: {e}"));
    }
    if let Some(gateway) = super::forms::sms_gateway(&cfg.notify)
        && let Err(e) = crate::notify::sms::SmsSender::new(
            gateway,
            std::time::Duration::from_secs(cfg.notify.sms.timeout_s),
        )
    {
        p.errors.push(format!("notify.sms: {e}"));
    }
    state_dir_writable(cfg, &mut p);
    public_links(cfg, &mut p);
    if cfg.tls.enabled()
        && let Err(e) = super::tls::load_pair(
            &cfg.tls.certificate,
            &cfg.tls.key,
            &rustls::crypto::ring::default_provider(),
        )
    {
        p.errors.push(format!("tls: {e}"));
    }
    if !cfg.sip.operators.exists() {
        p.warnings.push(format!(
            "{}: warning: no operator accounts file: nobody can register, and every caller \
             who asks for an operator gets the plan's no-operator branch",
            cfg.sip.operators.display()
        ));
    }
    if let Some(plan) = plan {
        let sms = cfg.notify.sms.kind != crate::config::SmsKind::None;
        let email = cfg.notify.smtp.sender_config().is_some();
        let mut told = BTreeSet::new();
        for node in &plan.nodes {
            if let NodeKind::SendForm { channel, .. } = &node.kind {
                let (ready, what) = match channel {
                    Channel::Sms => (
                        sms,
                        "no SMS gateway is configured (notify.sms.kind = \"none\")",
                    ),
                    Channel::Email => (
                        email,
                        "no SMTP server is configured (notify.smtp.host is empty)",
                    ),
                };
                if !ready && told.insert(node.name.clone()) {
                    p.warnings.push(format!(
                        "{}: warning: node \"{}\" sends a form by {}, but {what}: callers who \
                         reach it hear that sending failed",
                        plan.source,
                        node.name,
                        channel.as_str()
                    ));
                }
            }
        }
    }
    p
}

/// The state directory exists (or can be made) and a file can be written in it.
fn state_dir_writable(cfg: &Config, p: &mut Preflight) {
    let dir = &cfg.state.dir;
    if let Err(e) = std::fs::create_dir_all(dir) {
        p.errors.push(format!(
            "state.dir: expected a directory the daemon can write, found {}: {e}",
            dir.display()
        ));
        return;
    }
    let probe = dir.join(format!(".ugyelet-check-{}", std::process::id()));
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
        }
        Err(e) => p.errors.push(format!(
            "state.dir: expected a directory the daemon can write, found {}: {e}",
            dir.display()
        )),
    }
}

/// Messages to residents carry links to `notify.public_base_url` (form downloads; with
/// Twilio or Infobip also the delivery-report webhooks). The default is loopback, right for
/// trying the daemon out and wrong the moment a real gateway or mail server is configured:
/// every SMS would then carry a link nobody can open. Plain http to another host works but
/// lets anyone on the way read the link's token.
fn public_links(cfg: &Config, p: &mut Preflight) {
    let sms = cfg.notify.sms.kind != crate::config::SmsKind::None;
    let email = cfg.notify.smtp.sender_config().is_some();
    let (channels, senders) = match (sms, email) {
        (false, false) => return,
        (true, false) => ("SMS", "an SMS gateway is"),
        (false, true) => ("email", "an SMTP server is"),
        (true, true) => ("SMS and email", "an SMS gateway and an SMTP server are"),
    };
    let url = cfg.notify.public_base_url.trim();
    let host = url_host(url);
    if host.is_empty() || is_local_host(host) {
        p.warnings.push(format!(
            "notify.public_base_url: warning: \"{url}\" is this machine only, but {senders} \
             configured: the links in messages to residents (and the gateway's \
             delivery reports) would point here and nobody else can open them; expected the \
             address residents reach the public listener at, e.g. \"https://ugyelet.example.hu\""
        ));
    } else if url.starts_with("http://") && !is_private_host(host) {
        p.warnings.push(format!(
            "notify.public_base_url: warning: \"{url}\" is plain http: the links sent by \
             {channels} carry a token anyone on the way can read; expected https (e.g. a reverse \
             proxy in front of notify.public_listen)"
        ));
    }
}

/// The host of `scheme://host[:port]/…`, without brackets for IPv6; `""` when there is none.
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    authority.split(':').next().unwrap_or("")
}

/// Loopback, unspecified or `localhost`: reachable from this machine only.
fn is_local_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified())
}

/// An address of a private network (RFC 1918, IPv6 unique local): plain http stays inside.
fn is_private_host(host: &str) -> bool {
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => v4.is_private() || v4.is_link_local(),
        Ok(std::net::IpAddr::V6(v6)) => (v6.segments()[0] & 0xfe00) == 0xfc00,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(sms: bool, smtp: bool, url: &str) -> Vec<String> {
        let mut cfg = Config::default();
        if sms {
            cfg.notify.sms.kind = crate::config::SmsKind::Generic;
        }
        if smtp {
            cfg.notify.smtp.host = "mail.example.hu".to_owned();
            cfg.notify.smtp.from = "ugyelet@example.hu".to_owned();
        }
        cfg.notify.public_base_url = url.to_owned();
        let mut p = Preflight::default();
        public_links(&cfg, &mut p);
        p.warnings
    }

    #[test]
    fn a_loopback_link_address_is_a_warning_once_messages_go_out() {
        assert_eq!(
            with(false, false, "http://127.0.0.1:8081"),
            Vec::<String>::new()
        );
        let w = with(true, false, "http://127.0.0.1:8081");
        assert_eq!(w.len(), 1);
        assert!(
            w[0].starts_with(
                "notify.public_base_url: warning: \"http://127.0.0.1:8081\" is this machine only, but an SMS gateway is configured"
            ),
            "{w:?}"
        );
        for url in [
            "http://localhost:8081/",
            "https://[::1]:8443",
            "http://0.0.0.0",
        ] {
            assert_eq!(with(true, true, url).len(), 1, "{url}");
        }
        assert!(
            with(false, true, "http://127.0.0.1:8081")[0]
                .contains("but an SMTP server is configured")
        );
    }

    #[test]
    fn plain_http_to_a_public_host_is_a_warning_and_https_or_a_private_network_is_not() {
        let w = with(true, false, "http://ugyelet.example.hu");
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("is plain http"), "{w:?}");
        assert_eq!(
            with(true, false, "https://ugyelet.example.hu/"),
            Vec::<String>::new()
        );
        assert_eq!(
            with(true, false, "http://10.20.1.5:8081"),
            Vec::<String>::new()
        );
        assert_eq!(url_host("https://u:p@host.hu:8443/x?y"), "host.hu");
    }
}
