//! The trunk registration's I/O: finding the provider's address, turning the
//! [`Registration`] core's REGISTERs into requests on the SIP endpoint, and publishing where
//! the registration stands (`/api/status`, `/metrics`).
//!
//! It lives inside the SIP task, which owns the endpoint. A name lookup would block that
//! task, so it runs as its own small task that answers with [`ToSip::TrunkResolved`]; the
//! address is looked up again after any failure (the provider may have moved).
//!
//! Calls out (callbacks) go to the same next hop: [`TrunkLink::outgoing`] writes the
//! INVITE (`sip:NUMBER@domain` in the configured number format, our caller ID in From) and
//! hands out the credentials the endpoint answers the provider's challenge with.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::messages::ToSip;
use crate::config::{NumberFormat, TrunkConfig};
use crate::sip::endpoint::{OutRequest, OutgoingCall, SipEndpoint, Transport, UacCredentials};
use crate::sip::msg::{self, Method, NameAddr, Response, Uri};
use crate::trunk::{Answered, Registration, Settings, State};

/// The trunk, as the SIP task holds it.
pub(super) struct TrunkLink {
    /// `None`: the provider knows us by address (no REGISTER).
    reg: Option<Registration>,
    registrar: String,
    hop: String,
    username: String,
    dst: Option<SocketAddr>,
    resolving: bool,
    waiting: Option<crate::trunk::Register>,
    call_id: String,
    from_tag: String,
    request_uri: Uri,
    domain: String,
    next_id: u64,
    pending: Option<u64>,
    /// The state last logged, so a refresh every few minutes does not fill the log.
    logged: &'static str,
    /// For calls out: the caller ID (E.164, or empty for the account name), how numbers
    /// are written, and the digest credentials (none without a password).
    caller_id: String,
    number_format: NumberFormat,
    credentials: Option<UacCredentials>,
    /// After a failed lookup for a trunk that does not register: not before then.
    retry_lookup_at: Option<Instant>,
}

impl TrunkLink {
    /// The configured trunk; `None` when there is none.
    pub(super) fn new(cfg: &TrunkConfig, now: Instant, seed: u64) -> Option<Self> {
        if !cfg.enabled() {
            return None;
        }
        let domain = cfg.domain().to_owned();
        let request_uri = Uri::parse(&format!("sip:{domain}")).ok()?;
        let domain_for_reg = domain.clone();
        let reg = cfg.register.then(|| {
            Registration::new(
                Settings {
                    auth_user: cfg.auth_user().to_owned(),
                    password: cfg.secret().unwrap_or_default(),
                    request_uri: format!("sip:{domain_for_reg}"),
                    expires: cfg.expires_s,
                    retry_initial: Duration::from_secs(cfg.retry_initial_s),
                    retry_max: Duration::from_secs(cfg.retry_max_s),
                },
                now,
                seed,
            )
        });
        let mut rng = crate::rng::Rng::new(seed.rotate_left(17));
        Some(TrunkLink {
            reg,
            registrar: cfg.registrar.trim().to_owned(),
            hop: cfg.next_hop(),
            username: cfg.username.clone(),
            dst: None,
            resolving: false,
            waiting: None,
            call_id: format!("{}@ugyelet", rng.token(20)),
            from_tag: rng.token(10),
            request_uri,
            domain,
            next_id: 1,
            pending: None,
            logged: "",
            caller_id: cfg.caller_id.clone(),
            number_format: cfg.number_format,
            // Also for a trunk that knows us by address: providers may still challenge
            // calls out.
            credentials: Some(cfg.secret().unwrap_or_default())
                .filter(|p| !p.is_empty())
                .map(|password| UacCredentials {
                    username: cfg.auth_user().to_owned(),
                    password,
                }),
            retry_lookup_at: None,
        })
    }

    /// Whether calls can go out now: the provider's address is known and, for a
    /// registering trunk, the registration stands.
    pub(super) fn usable(&self) -> bool {
        self.dst.is_some()
            && self
                .reg
                .as_ref()
                .is_none_or(|r| matches!(r.state(), State::Registered { .. }))
    }

    /// The INVITE calling `number` (E.164) through the trunk, from our address `local`, and
    /// the credentials for the provider's challenge.
    pub(super) fn outgoing(
        &self,
        number: &str,
        local_for: impl FnOnce(SocketAddr) -> SocketAddr,
        sdp: impl FnOnce(SocketAddr) -> Result<Vec<u8>, String>,
    ) -> Result<(OutgoingCall, Option<UacCredentials>), String> {
        let dst = self
            .dst
            .ok_or_else(|| "the trunk's address is not known yet".to_owned())?;
        let local = local_for(dst);
        let dialled = dial_string(number, self.number_format)
            .ok_or_else(|| "expected an E.164 number to call".to_owned())?;
        let uri = Uri::parse(&format!("sip:{dialled}@{}", self.domain))
            .map_err(|e| format!("number as a SIP URI: {e}"))?;
        let from_user = match crate::phone::normalize(&self.caller_id) {
            Some(e164) => dial_string(&e164, self.number_format).unwrap_or(e164),
            None => self.username.clone(),
        };
        let from = NameAddr::parse(&format!("<sip:{from_user}@{}>", self.domain))
            .map_err(|e| format!("caller ID as a SIP URI: {e}"))?;
        Ok((
            OutgoingCall {
                request_uri: uri.clone(),
                dst,
                transport: Transport::Udp,
                local,
                to: NameAddr::new(uri),
                from,
                headers: Vec::new(),
                sdp: sdp(local)?,
            },
            self.credentials.clone(),
        ))
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.reg.as_ref().and_then(Registration::poll_timeout)
    }

    pub(super) fn handle_timeout(&mut self, now: Instant) {
        if let Some(reg) = &mut self.reg {
            reg.handle_timeout(now);
        }
    }

    /// Sends a REGISTER that is due, looking the provider up first when needed.
    pub(super) fn drive(
        &mut self,
        now: Instant,
        endpoint: &mut SipEndpoint,
        local_for: impl FnOnce(SocketAddr) -> SocketAddr,
        to_sip: &mpsc::UnboundedSender<ToSip>,
    ) {
        let Some(reg) = &mut self.reg else {
            // A trunk that knows us by address still needs its address for calls out.
            if self.dst.is_none()
                && !self.resolving
                && self.retry_lookup_at.is_none_or(|t| t <= now)
            {
                self.resolve(to_sip);
            }
            return;
        };
        if let Some(r) = reg.poll_register() {
            self.waiting = Some(r);
        }
        let Some(r) = self.waiting.take_if(|_| self.dst.is_some()) else {
            if self.waiting.is_some() && !self.resolving {
                self.resolve(to_sip);
            }
            return;
        };
        let Some(dst) = self.dst else { return };
        let local = local_for(dst);
        let mut headers = msg::Headers::default();
        headers.push(
            "Contact",
            format!("<sip:{}@{}>", self.username, host_port(local)),
        );
        headers.push("Expires", r.expires.to_string());
        if let Some((name, value)) = r.authorization {
            headers.push(name, value);
        }
        let aor = Uri::parse(&format!("sip:{}@{}", self.username, self.domain))
            .unwrap_or_else(|_| self.request_uri.clone());
        let mut from = NameAddr::new(aor.clone());
        from.set_tag(&self.from_tag);
        let id = self.next_id;
        self.next_id += 1;
        self.pending = Some(id);
        endpoint.request(
            now,
            OutRequest {
                id,
                method: Method::Register,
                uri: self.request_uri.clone(),
                from,
                to: NameAddr::new(aor),
                call_id: self.call_id.clone(),
                cseq: r.cseq,
                headers,
                dst,
                transport: Transport::Udp,
                local,
            },
        );
    }

    /// Looks the next hop up on a task of its own; the answer comes as
    /// [`ToSip::TrunkResolved`].
    fn resolve(&mut self, to_sip: &mpsc::UnboundedSender<ToSip>) {
        self.resolving = true;
        let hop = self.hop.clone();
        let tx = to_sip.clone();
        tokio::spawn(async move {
            let found = match tokio::net::lookup_host(hop.as_str()).await {
                Ok(mut addrs) => addrs
                    .next()
                    .ok_or_else(|| format!("{hop}: the name has no address")),
                Err(e) => Err(format!("cannot look up {hop}: {e}")),
            };
            let _ = tx.send(ToSip::TrunkResolved(found));
        });
    }

    /// The provider's address, or why it could not be found.
    pub(super) fn resolved(&mut self, now: Instant, found: Result<SocketAddr, String>) {
        self.resolving = false;
        match found {
            Ok(a) => self.dst = Some(a),
            Err(e) => {
                self.waiting = None;
                match &mut self.reg {
                    Some(reg) => reg.handle_error(now, e),
                    None => {
                        warn!(registrar = %self.registrar, "trunk address unknown: {e}");
                        self.retry_lookup_at = Some(now + Duration::from_secs(30));
                    }
                }
                self.log();
            }
        }
    }

    /// A final response to a request of ours (or none); `false` if it was not the trunk's.
    pub(super) fn answered(&mut self, now: Instant, id: u64, resp: Option<&Response>) -> bool {
        if self.pending != Some(id) {
            return false;
        }
        self.pending = None;
        let Some(reg) = &mut self.reg else {
            return true;
        };
        let answer = resp.map(|r| {
            let header = if r.status == 407 {
                "Proxy-Authenticate"
            } else {
                "WWW-Authenticate"
            };
            let number = |name: &str| r.headers.get(name).and_then(|v| v.trim().parse().ok());
            // RFC 3261 §10.2.4: the expiry of our binding is the `expires` of our Contact
            // in the 2xx, else the Expires header.
            let ours = format!("sip:{}@", self.username);
            let contact_expires = r
                .headers
                .get_all("Contact")
                .flat_map(msg::split_commas)
                .filter_map(|c| NameAddr::parse(c.trim()).ok())
                .find(|c| c.uri.to_string().starts_with(&ours))
                .and_then(|c| c.param("expires").flatten().and_then(|v| v.parse().ok()));
            Answered {
                status: r.status,
                reason: r.reason.clone(),
                challenges: r.headers.get_all(header).map(str::to_owned).collect(),
                expires: contact_expires.or_else(|| number("Expires")),
                min_expires: number("Min-Expires"),
            }
        });
        if answer.is_none() {
            // The provider may have moved: look it up again before the next try.
            self.dst = None;
        }
        reg.handle_response(now, answer);
        self.log();
        true
    }

    /// Logs a change of state (not every refresh).
    fn log(&mut self) {
        let Some(reg) = &self.reg else { return };
        let name = state_name(reg.state());
        if name == self.logged {
            return;
        }
        self.logged = name;
        match reg.state() {
            State::Registered { .. } => info!(registrar = %self.registrar, "trunk registered"),
            State::Failed { reason, retry_at } => warn!(
                registrar = %self.registrar,
                retry_in_s = retry_at.saturating_duration_since(Instant::now()).as_secs(),
                "trunk registration failed: {reason}"
            ),
            State::Registering => {}
        }
    }

    /// What `/api/status` shows under `trunk`.
    pub(super) fn view(&self, now: Instant) -> serde_json::Value {
        let Some(reg) = &self.reg else {
            return json!({
                "registrar": self.registrar,
                "state": "ip_auth",
            });
        };
        let mut v = json!({
            "registrar": self.registrar,
            "state": state_name(reg.state()),
            "register_sent": reg.sent,
            "failures": reg.failures,
        });
        match reg.state() {
            State::Registered { until } => {
                v["expires_in_s"] = until.saturating_duration_since(now).as_secs().into();
            }
            State::Failed { reason, retry_at } => {
                v["last_error"] = reason.as_str().into();
                v["retry_in_s"] = retry_at.saturating_duration_since(now).as_secs().into();
            }
            State::Registering => {}
        }
        v
    }
}

/// An E.164 number as the trunk wants it dialled: as it is, or nationally (`06…` for
/// Hungarian numbers, `00…` for others). `None` for anything that is not E.164.
fn dial_string(e164: &str, format: NumberFormat) -> Option<String> {
    let digits = e164.strip_prefix('+')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(match format {
        NumberFormat::E164 => e164.to_owned(),
        NumberFormat::National => match digits.strip_prefix("36") {
            Some(national) => format!("06{national}"),
            None => format!("00{digits}"),
        },
    })
}

fn state_name(s: &State) -> &'static str {
    match s {
        State::Registering => "registering",
        State::Registered { .. } => "registered",
        State::Failed { .. } => "failed",
    }
}

/// `ip:port`, IPv6 in brackets.
fn host_port(a: SocketAddr) -> String {
    match a {
        SocketAddr::V4(v) => v.to_string(),
        SocketAddr::V6(v) => format!("[{}]:{}", v.ip(), v.port()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_dialled_in_the_configured_format() {
        assert_eq!(
            dial_string("+36301234567", NumberFormat::E164).as_deref(),
            Some("+36301234567")
        );
        assert_eq!(
            dial_string("+36301234567", NumberFormat::National).as_deref(),
            Some("06301234567")
        );
        assert_eq!(
            dial_string("+4930123456", NumberFormat::National).as_deref(),
            Some("004930123456")
        );
        assert_eq!(dial_string("06301234567", NumberFormat::E164), None);
        assert_eq!(dial_string("+36 30", NumberFormat::E164), None);
    }
}
