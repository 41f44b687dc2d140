//! The registrar (RFC 3261 §10): where each operator's softphone can be reached.
//!
//! Sans-IO like every core: [`Registrar::handle_register`] takes a parsed REGISTER, the
//! address it really came from and `now`, and returns the response to send; what changed
//! comes out of [`Registrar::poll_event`], keep-alives to send out of
//! [`Registrar::poll_keepalive`], and [`Registrar::poll_timeout`] says when to call
//! [`Registrar::handle_timeout`] (binding expiry, keep-alive schedule, housekeeping).
//!
//! An address-of-record is an operator's name (the user part of the To URI), and only
//! that operator, authenticated by Digest ([`crate::sip::auth`]), may change its bindings.
//!
//! # NAT
//!
//! Teleworkers sit behind home routers. A binding records the address, port, transport
//! and TCP connection the REGISTER really arrived from ([`Source`]); calls to the
//! operator go there, not to the (often private) Contact address, in the spirit of the
//! flows of RFC 5626. To keep the router's pinhole open the registrar schedules a
//! keep-alive per binding: an OPTIONS over UDP, a CRLF over TCP.
//!
//! # A binding's life
//!
//! ```text
//!                 REGISTER (expires > 0)            REGISTER (refresh)
//!   (none) ───────────────────────────────► Bound ◄──────────────────┐
//!     ▲                                     │  │ └───────────────────┘
//!     │   REGISTER expires=0 / Contact: *   │  │  every keepalive interval:
//!     ├─────────────────────────────────────┘  │  poll_keepalive → OPTIONS / CRLF
//!     │   now ≥ expires_at (Expired)           │
//!     └────────────────────────────────────────┘
//!         keep-alive failed / TCP closed (Lost)
//! ```
//!
//! # Across restarts
//!
//! Bindings are kept in the store, so an operator is reachable right after a restart
//! instead of after their phone's next REGISTER (up to an hour). The registrar stays
//! sans-IO: it says when its bindings changed ([`Registrar::take_changed`]) and hands out
//! what to keep ([`Registrar::saved_bindings`], with absolute wall-clock expiry times the
//! caller's `unix_ms` anchors, since an `Instant` means nothing to the next process); the
//! driver writes them and, at start, gives them back to [`Registrar::restore`], which
//! drops those that expired meanwhile. Only UDP bindings are kept, with the address the
//! REGISTER really came from (the NAT mapping, received/rport), not only the Contact. A
//! TCP binding's flow is its connection, which dies with the process: like a closed
//! connection it loses the binding (see `saved.rs` for why).

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use crate::sip::auth::Credentials;
use crate::sip::auth::{Attempt, CredentialStore, DigestAuth, Verdict, digest_credentials};
use crate::sip::endpoint::Transport;
use crate::sip::msg::{Contacts, Method, NameAddr, Request, Response, Uri, reason_phrase};

/// Settings of the registrar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Shortest registration accepted (seconds); shorter ones get 423 with Min-Expires.
    pub min_expires: u32,
    /// Longest registration granted (seconds); longer requests are shortened.
    pub max_expires: u32,
    /// Granted when the REGISTER names no expiry.
    pub default_expires: u32,
    /// Bindings per operator; a further one replaces the oldest.
    pub max_bindings: usize,
    /// How often an OPTIONS goes to a binding over UDP (NAT pinholes often close after
    /// 30 s of silence).
    pub keepalive_udp: Duration,
    /// How often a CRLF goes down a TCP connection.
    pub keepalive_tcp: Duration,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_bindings: 4,
            keepalive_udp: Duration::from_secs(25),
            keepalive_tcp: Duration::from_secs(90),
        }
    }
}

/// Where a request really came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    pub addr: SocketAddr,
    /// UDP, or the TCP connection (by the driver's id) to send back on.
    pub transport: Transport,
}

/// A binding's number, unique for the registrar's life.
pub type BindingId = u64;

/// One registered contact of an operator.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub id: BindingId,
    /// The operator (address-of-record user part).
    pub aor: String,
    /// The Contact as registered, without its `expires` parameter.
    pub contact: NameAddr,
    /// RFC 5626 `+sip.instance`, when given: the same phone re-registering from a new
    /// address replaces its binding.
    pub instance: Option<String>,
    /// Where the REGISTER came from: requests to the operator go here.
    pub source: Source,
    pub call_id: String,
    pub cseq: u32,
    pub registered_at: Instant,
    pub expires_at: Instant,
    pub next_keepalive: Instant,
    pub user_agent: Option<String>,
}

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrarEvent {
    Registered {
        aor: String,
        binding: BindingId,
        contact: Uri,
        source: Source,
        expires: Duration,
        /// An existing binding was refreshed (or moved), not a new one added.
        refreshed: bool,
    },
    /// Removed by the phone (`expires=0`, `Contact: *`) or replaced by a newer one.
    Unregistered { aor: String, binding: BindingId },
    /// Not refreshed in time.
    Expired { aor: String, binding: BindingId },
    /// The driver reported it unreachable (keep-alive failed, TCP connection closed).
    Lost { aor: String, binding: BindingId },
}

/// How to keep a binding's path open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAliveKind {
    /// Send an OPTIONS to the contact via `target` (RFC 3261 §11); a 2xx or any
    /// response means the path is open; no response means call
    /// [`Registrar::handle_keepalive_failed`].
    Options,
    /// Send `\r\n\r\n` on the connection (RFC 5626 §4.4.1 ping; RFC 3261 §7.5 lets a
    /// receiver ignore CRLFs between messages).
    Crlf,
}

/// A keep-alive to send now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepAlive {
    pub binding: BindingId,
    pub aor: String,
    pub contact: Uri,
    pub target: Source,
    pub kind: KeepAliveKind,
}

/// What an operator's phone sees in the `Warning` of a REGISTER refused for
/// `require_secure`.
pub const REGISTER_WARNING: &str =
    "ez a fiók csak titkosított kapcsolaton (TLS: sips: vagy transport=tls) regisztrálhat";

/// Why a REGISTER was refused before any binding changed, for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterError {
    NotRegister(String),
    NoAor,
    NotYourAor {
        user: String,
        aor: String,
    },
    BadExpires(String),
    BadContact(String),
    WildcardMisuse,
    TooBrief {
        asked: u32,
        min: u32,
    },
    OutOfOrder {
        cseq: u32,
        bound: u32,
    },
    /// A `require_secure` account, authenticated, registering over UDP or TCP.
    NotSecure {
        transport: &'static str,
    },
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::NotRegister(m) => write!(f, "expected a REGISTER, found {m}"),
            RegisterError::NoAor => f.write_str("expected a To URI with a user part, found none"),
            RegisterError::NotYourAor { user, aor } => write!(
                f,
                "expected the authenticated user \"{user}\" to register itself, found \"{aor}\""
            ),
            RegisterError::BadExpires(v) => {
                write!(f, "expected expires as delta-seconds, found \"{v}\"")
            }
            RegisterError::BadContact(e) => write!(f, "expected a Contact name-addr: {e}"),
            RegisterError::WildcardMisuse => f.write_str(
                "expected \"Contact: *\" alone and with \"Expires: 0\", found it otherwise",
            ),
            RegisterError::TooBrief { asked, min } => {
                write!(f, "expected expires of at least {min} s, found {asked} s")
            }
            RegisterError::OutOfOrder { cseq, bound } => write!(
                f,
                "expected a CSeq above {bound} for this Call-ID, found {cseq}"
            ),
            RegisterError::NotSecure { transport } => write!(
                f,
                "the account has require_secure and must register over TLS, found {transport}"
            ),
        }
    }
}

/// The outcome of one REGISTER: the response, and what went wrong if it was refused.
#[derive(Debug, Clone)]
pub struct RegisterOutcome {
    pub response: Response,
    /// `None` on 200 and on a plain challenge.
    pub error: Option<RegisterError>,
    /// What the credentials showed, when that is worth a security log line.
    pub auth: AuthNote,
}

/// What a REGISTER's credentials showed: the events a jail (fail2ban) counts against the
/// source address. A challenge to a request without (Digest) credentials is none of them:
/// every phone gets one before it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthNote {
    /// Nothing to report: accepted, or challenged for credentials it did not send.
    Clean,
    /// Digest credentials were checked and were wrong (password, user, realm, replay).
    Failed,
    /// The Digest credentials could not be read (answered 400); counted as a failure.
    Malformed(String),
    /// The source failed too often and is refused without a check.
    Throttled,
}

/// The registrar.
pub struct Registrar {
    cfg: RegistrarConfig,
    auth: DigestAuth,
    /// Bindings per AoR, oldest registration first.
    bindings: BTreeMap<String, Vec<Binding>>,
    next_id: BindingId,
    events: VecDeque<RegistrarEvent>,
    keepalives: VecDeque<KeepAlive>,
    next_housekeeping: Instant,
    /// Bindings were added, refreshed or removed since the last [`Registrar::take_changed`].
    changed: bool,
}

/// One change computed before anything is committed (RFC 3261 §10.3 step 8: "The binding
/// updates MUST be committed ... if and only if all binding updates and additions
/// succeed").
struct Change {
    contact: NameAddr,
    instance: Option<String>,
    expires: u32,
}

impl Registrar {
    pub fn new(cfg: RegistrarConfig, auth: DigestAuth, now: Instant) -> Registrar {
        let next_housekeeping = now + auth.config().nonce_lifetime;
        Registrar {
            cfg,
            auth,
            bindings: BTreeMap::new(),
            next_id: 1,
            events: VecDeque::new(),
            keepalives: VecDeque::new(),
            next_housekeeping,
            changed: false,
        }
    }

    /// Whether bindings were added, refreshed or removed since the last call (they should
    /// be saved again, see [`Registrar::saved_bindings`]); clears the flag.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    pub fn config(&self) -> &RegistrarConfig {
        &self.cfg
    }

    /// The verifier, for other requests operators must authenticate (feature codes).
    pub fn auth_mut(&mut self) -> &mut DigestAuth {
        &mut self.auth
    }

    /// Processes a REGISTER (RFC 3261 §10.3) and returns the response to send back to
    /// `source` (the transaction layer sends it and absorbs retransmissions).
    pub fn handle_register(
        &mut self,
        now: Instant,
        req: &Request,
        source: Source,
        accounts: &dyn CredentialStore,
    ) -> RegisterOutcome {
        let to_tag = format!("r{:08x}", fnv1a(req.call_id.as_bytes()) as u32);
        let reply =
            |status: u16| Response::from_request(req, status, reason_phrase(status), Some(&to_tag));
        let refuse = |status: u16, e: RegisterError| RegisterOutcome {
            response: reply(status),
            error: Some(e),
            auth: AuthNote::Clean,
        };
        if req.method != Method::Register {
            return refuse(405, RegisterError::NotRegister(req.method.to_string()));
        }
        // A Contact that cannot be read makes the request malformed whoever sends it (RFC
        // 4475 §3.1.2.13 has a registrar answer 400): said before any challenge, it tells
        // nothing about accounts, and a phone learns what to fix without a password round.
        if let Err(e) = req.contact_list() {
            return refuse(400, RegisterError::BadContact(e.to_string()));
        }
        // RFC 3261 §10.3 step 3: "A registrar SHOULD authenticate the UAC."
        let ruri = req.uri.to_string();
        // A phone may send credentials of several schemes or realms (RFC 3261 §22.3); the
        // Digest one is checked, any other ignored (RFC 4475 §3.3.7).
        let attempt = Attempt {
            method: req.method.as_str(),
            request_uri: &ruri,
            authorization: digest_credentials(req.headers.get_all("Authorization")),
            source: source.addr.ip(),
        };
        let user = match self.auth.verify(now, &attempt, accounts) {
            Verdict::Ok { username, .. } => username,
            Verdict::Challenge {
                www_authenticate,
                failed,
                ..
            } => {
                let mut r = reply(401);
                for c in www_authenticate {
                    r.headers.push("WWW-Authenticate", c);
                }
                return RegisterOutcome {
                    response: r,
                    error: None,
                    auth: if failed {
                        AuthNote::Failed
                    } else {
                        AuthNote::Clean
                    },
                };
            }
            Verdict::BadRequest(e) => {
                let mut r = reply(400);
                let text = e.to_string().replace(['\\', '"'], "'");
                r.headers.push("Warning", format!("399 ugyelet \"{text}\""));
                return RegisterOutcome {
                    response: r,
                    error: None,
                    auth: AuthNote::Malformed(e.to_string()),
                };
            }
            Verdict::Throttled { .. } => {
                return RegisterOutcome {
                    response: reply(403),
                    error: None,
                    auth: AuthNote::Throttled,
                };
            }
        };
        // RFC 3261 §10.3 step 4: "The registrar extracts the address-of-record from the
        // To header field"; step 5: it "MUST determine if the authorized user is
        // authorized to modify registrations for this address-of-record" — here each
        // operator only their own.
        let Some(aor) = req.to.uri.user().map(str::to_owned) else {
            return refuse(400, RegisterError::NoAor);
        };
        if aor != user {
            return refuse(403, RegisterError::NotYourAor { user, aor });
        }
        // A teleworker's account that may use nothing but TLS: refused only now, once the
        // phone has proved it holds the password (digest sends none), so the refusal names
        // the account to no one else; its Warning says why, so the phone's owner knows.
        if accounts.requires_secure(&user) && !source.transport.secure() {
            let mut out = refuse(
                403,
                RegisterError::NotSecure {
                    transport: source.transport.via_name(),
                },
            );
            out.response
                .headers
                .set("Warning", format!("399 ugyelet \"{}\"", REGISTER_WARNING));
            return out;
        }
        let header_expires = match req.headers.get("Expires").map(parse_delta) {
            None => None,
            Some(Ok(v)) => Some(v),
            Some(Err(v)) => return refuse(400, RegisterError::BadExpires(v)),
        };
        let contacts = match req.contact_list() {
            Ok(c) => c,
            Err(e) => return refuse(400, RegisterError::BadContact(e.to_string())),
        };
        let cseq = req.cseq.seq;
        match contacts {
            Contacts::Wildcard => {
                // RFC 3261 §10.3 step 6: "If the request has additional Contact fields or
                // an expiration time other than zero, the request is invalid, and the
                // server MUST return a 400 (Invalid Request)."
                if header_expires != Some(0) {
                    return refuse(400, RegisterError::WildcardMisuse);
                }
                // "...removes all bindings only if the Call-ID ... differs or the CSeq
                // is higher than the one stored."
                let list = self.bindings.entry(aor.clone()).or_default();
                if let Some(b) = list
                    .iter()
                    .find(|b| b.call_id == req.call_id && cseq <= b.cseq)
                {
                    let bound = b.cseq;
                    return refuse(500, RegisterError::OutOfOrder { cseq, bound });
                }
                for b in list.drain(..) {
                    self.events.push_back(RegistrarEvent::Unregistered {
                        aor: aor.clone(),
                        binding: b.id,
                    });
                }
                self.bindings.remove(&aor);
                self.changed = true;
            }
            Contacts::List(list) => {
                let mut changes = Vec::with_capacity(list.len());
                for mut c in list {
                    // RFC 3261 §10.3 step 7: the contact's "expires" parameter, else the
                    // Expires header, else "a locally-configured default value".
                    let asked = match c.param("expires") {
                        Some(Some(v)) => match parse_delta(v) {
                            Ok(v) => v,
                            Err(v) => return refuse(400, RegisterError::BadExpires(v)),
                        },
                        Some(None) => {
                            return refuse(400, RegisterError::BadExpires(String::new()));
                        }
                        None => header_expires.unwrap_or(self.cfg.default_expires),
                    };
                    // RFC 3261 §10.3 step 7: "If and only if the requested expiration
                    // interval is greater than zero AND smaller than one hour AND less
                    // than a registrar-configured minimum, the registrar MAY reject the
                    // registration with a response of 423 (Interval Too Brief)."
                    if asked > 0 && asked < 3600 && asked < self.cfg.min_expires {
                        let mut r = reply(423);
                        r.headers
                            .push("Min-Expires", self.cfg.min_expires.to_string());
                        return RegisterOutcome {
                            response: r,
                            error: Some(RegisterError::TooBrief {
                                asked,
                                min: self.cfg.min_expires,
                            }),
                            auth: AuthNote::Clean,
                        };
                    }
                    let expires = asked.min(self.cfg.max_expires);
                    let instance = c
                        .param("+sip.instance")
                        .flatten()
                        .map(|s| s.trim_matches('"').to_owned());
                    c.params.retain(|(n, _)| !n.eq_ignore_ascii_case("expires"));
                    changes.push(Change {
                        contact: c,
                        instance,
                        expires,
                    });
                }
                if let Err(e) = self.apply(now, &aor, req, source, changes) {
                    return refuse(500, e);
                }
            }
        }
        // RFC 3261 §10.3 step 8: "The registrar returns a 200 (OK) response. The
        // response MUST contain Contact header field values enumerating all current
        // bindings. Each Contact value MUST feature an "expires" parameter indicating
        // its expiration interval chosen by the registrar."
        let mut r = reply(200);
        for b in self.bindings.get(&aor).into_iter().flatten() {
            let left = b.expires_at.saturating_duration_since(now).as_secs();
            r.headers
                .push("Contact", format!("{};expires={left}", b.contact));
        }
        RegisterOutcome {
            response: r,
            error: None,
            auth: AuthNote::Clean,
        }
    }

    /// Applies every change to a copy of the AoR's bindings, then commits the copy.
    fn apply(
        &mut self,
        now: Instant,
        aor: &str,
        req: &Request,
        source: Source,
        changes: Vec<Change>,
    ) -> Result<(), RegisterError> {
        let mut list = self.bindings.get(aor).cloned().unwrap_or_default();
        let mut events = Vec::new();
        let cseq = req.cseq.seq;
        let user_agent = req.headers.get("User-Agent").map(str::to_owned);
        for ch in changes {
            let found = list.iter().position(|b| match (&b.instance, &ch.instance) {
                (Some(a), Some(c)) => a == c,
                _ => same_contact(&b.contact.uri, &ch.contact.uri),
            });
            if let Some(i) = found {
                // RFC 3261 §10.3 step 7: "If the binding does exist, the registrar
                // checks the Call-ID value. If the Call-ID value in the existing binding
                // differs from the Call-ID value in the request, the binding MUST be
                // removed if the expiration time is zero and updated otherwise. If they
                // are the same, the registrar compares the CSeq value. If the value is
                // higher than that of the existing binding, it MUST update or remove the
                // binding as above. If not, the update MUST be aborted and the request
                // fails."
                let b = &list[i];
                if b.call_id == req.call_id && cseq <= b.cseq {
                    return Err(RegisterError::OutOfOrder {
                        cseq,
                        bound: b.cseq,
                    });
                }
                if ch.expires == 0 {
                    let b = list.remove(i);
                    events.push(RegistrarEvent::Unregistered {
                        aor: aor.to_owned(),
                        binding: b.id,
                    });
                    continue;
                }
                let b = &mut list[i];
                b.contact = ch.contact;
                b.source = source;
                b.call_id.clone_from(&req.call_id);
                b.cseq = cseq;
                b.expires_at = now + Duration::from_secs(u64::from(ch.expires));
                b.next_keepalive = now + self.keepalive_interval(source);
                b.user_agent.clone_from(&user_agent);
                events.push(RegistrarEvent::Registered {
                    aor: aor.to_owned(),
                    binding: b.id,
                    contact: b.contact.uri.clone(),
                    source,
                    expires: Duration::from_secs(u64::from(ch.expires)),
                    refreshed: true,
                });
            } else if ch.expires > 0 {
                if list.len() >= self.cfg.max_bindings.max(1) {
                    let old = list.remove(0);
                    events.push(RegistrarEvent::Unregistered {
                        aor: aor.to_owned(),
                        binding: old.id,
                    });
                }
                let id = self.next_id;
                self.next_id += 1;
                events.push(RegistrarEvent::Registered {
                    aor: aor.to_owned(),
                    binding: id,
                    contact: ch.contact.uri.clone(),
                    source,
                    expires: Duration::from_secs(u64::from(ch.expires)),
                    refreshed: false,
                });
                list.push(Binding {
                    id,
                    aor: aor.to_owned(),
                    contact: ch.contact,
                    instance: ch.instance,
                    source,
                    call_id: req.call_id.clone(),
                    cseq,
                    registered_at: now,
                    expires_at: now + Duration::from_secs(u64::from(ch.expires)),
                    next_keepalive: now + self.keepalive_interval(source),
                    user_agent: user_agent.clone(),
                });
            }
        }
        if list.is_empty() {
            self.bindings.remove(aor);
        } else {
            self.bindings.insert(aor.to_owned(), list);
        }
        self.changed |= !events.is_empty();
        self.events.extend(events);
        Ok(())
    }

    fn keepalive_interval(&self, source: Source) -> Duration {
        match source.transport {
            Transport::Udp => self.cfg.keepalive_udp,
            Transport::Tcp(_) | Transport::Tls(_) => self.cfg.keepalive_tcp,
        }
    }

    /// Expires bindings, schedules keep-alives and tidies the authentication tables.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut emptied = Vec::new();
        for (aor, list) in &mut self.bindings {
            list.retain(|b| {
                // RFC 3261 §10.2.1: a binding lasts for its expiration interval;
                // §10.3: the registrar removes it when that has passed.
                if b.expires_at <= now {
                    self.events.push_back(RegistrarEvent::Expired {
                        aor: aor.clone(),
                        binding: b.id,
                    });
                    self.changed = true;
                    false
                } else {
                    true
                }
            });
            for b in list.iter_mut() {
                if b.next_keepalive <= now {
                    let interval = match b.source.transport {
                        Transport::Udp => self.cfg.keepalive_udp,
                        Transport::Tcp(_) | Transport::Tls(_) => self.cfg.keepalive_tcp,
                    };
                    self.keepalives.push_back(KeepAlive {
                        binding: b.id,
                        aor: aor.clone(),
                        contact: b.contact.uri.clone(),
                        target: b.source,
                        kind: match b.source.transport {
                            Transport::Udp => KeepAliveKind::Options,
                            Transport::Tcp(_) | Transport::Tls(_) => KeepAliveKind::Crlf,
                        },
                    });
                    b.next_keepalive = now + interval.max(Duration::from_secs(1));
                }
            }
            if list.is_empty() {
                emptied.push(aor.clone());
            }
        }
        for aor in emptied {
            self.bindings.remove(&aor);
        }
        if self.next_housekeeping <= now {
            self.auth.expire_nonces(now);
            self.auth.sweep(now);
            self.next_housekeeping = now
                + self
                    .auth
                    .config()
                    .nonce_lifetime
                    .max(Duration::from_secs(1));
        }
    }

    /// A keep-alive OPTIONS got no response: the path is gone, drop the binding.
    pub fn handle_keepalive_failed(&mut self, _now: Instant, binding: BindingId) {
        self.remove_where(|b| b.id == binding);
    }

    /// A TCP or TLS connection closed: bindings that arrived over it cannot be reached.
    pub fn handle_connection_closed(&mut self, _now: Instant, conn: u64) {
        self.remove_where(|b| b.source.transport.connection() == Some(conn));
    }

    fn remove_where(&mut self, mut pred: impl FnMut(&Binding) -> bool) {
        for list in self.bindings.values_mut() {
            list.retain(|b| {
                if pred(b) {
                    self.events.push_back(RegistrarEvent::Lost {
                        aor: b.aor.clone(),
                        binding: b.id,
                    });
                    self.changed = true;
                    false
                } else {
                    true
                }
            });
        }
        self.bindings.retain(|_, l| !l.is_empty());
    }

    /// The bindings of an operator, most recent registration first (where to ring).
    pub fn lookup(&self, aor: &str) -> impl Iterator<Item = &Binding> {
        self.bindings.get(aor).into_iter().flatten().rev()
    }

    /// Whether some operator's phone is registered from `ip`.
    pub fn has_binding_from(&self, ip: std::net::IpAddr) -> bool {
        self.bindings
            .values()
            .flatten()
            .any(|b| b.source.addr.ip() == ip)
    }

    pub fn is_registered(&self, aor: &str) -> bool {
        self.bindings.contains_key(aor)
    }

    /// Every operator with at least one binding.
    pub fn registered(&self) -> impl Iterator<Item = &str> {
        self.bindings.keys().map(String::as_str)
    }

    #[must_use]
    pub fn poll_event(&mut self) -> Option<RegistrarEvent> {
        self.events.pop_front()
    }

    #[must_use]
    pub fn poll_keepalive(&mut self) -> Option<KeepAlive> {
        self.keepalives.pop_front()
    }

    /// The earliest binding expiry, keep-alive or housekeeping deadline. A linear scan:
    /// there are a dozen operators, not thousands.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.bindings
            .values()
            .flatten()
            .flat_map(|b| [b.expires_at, b.next_keepalive])
            .chain([self.next_housekeeping])
            .min()
    }
}

/// `delta-seconds = 1*DIGIT`; values beyond 2³²−1 are clamped (RFC 3261 §20.19: the
/// value is "between 0 and (2**32)-1"). `Err` carries the text found.
fn parse_delta(v: &str) -> Result<u32, String> {
    let v = v.trim_matches([' ', '\t']);
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(v.to_owned());
    }
    Ok(v.parse::<u64>()
        .map_or(u32::MAX, |n| u32::try_from(n).unwrap_or(u32::MAX)))
}

/// RFC 3261 §19.1.4 in the parts that matter for contacts: scheme, user, password, host
/// (case-insensitive), port and `transport` must be equal; other parameters are ignored.
fn same_contact(a: &Uri, b: &Uri) -> bool {
    match (a, b) {
        (Uri::Sip(a), Uri::Sip(b)) => {
            let host_eq = a.host.to_string().eq_ignore_ascii_case(&b.host.to_string());
            let tr = |u: &crate::sip::msg::SipUri| {
                u.param("transport").flatten().map(str::to_ascii_lowercase)
            };
            a.secure == b.secure
                && a.user == b.user
                && a.password == b.password
                && host_eq
                && a.port == b.port
                && tr(a) == tr(b)
        }
        _ => a == b,
    }
}

/// 64-bit FNV-1a, for a To tag that is the same on every retransmission.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

mod saved;
#[cfg(test)]
mod tests;

pub use saved::{Restored, SavedBinding};
