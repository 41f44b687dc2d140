//! The daemon's registration with its SIP trunk provider, as a sans-IO state machine.
//!
//! ```text
//!            due                 401/407 (new nonce, or stale)
//!  ┌──────┐ ─────► ┌─────────┐ ◄───────────────┐
//!  │ idle │        │ sending │ ────────────────┘
//!  └──────┘        └─────────┘
//!      ▲              │   │ 2xx                 ┌────────────┐
//!      │ retry_at     │   └───────────────────► │ registered │ ─ refresh (before expiry) ─► sending
//!      │              │ 403, 5xx, timeout,      └────────────┘
//!  ┌────────┐ ◄───────┘ 401 to our credentials
//!  │ failed │  (back-off doubles: retry_initial … retry_max)
//!  └────────┘
//! ```
//!
//! RFC 3261 §10.2: every REGISTER of one registration keeps its Call-ID and raises its
//! CSeq; §10.2.1 "The UAC MUST NOT send a REGISTER with an Expires below" a registrar's
//! `Min-Expires` (423, §10.3 step 7); §10.2.4: refresh before the expiry the registrar
//! granted (the `expires` of our Contact in the 2xx, else its `Expires` header). Digest
//! answers are [`crate::sip::auth::client`]'s; a challenge is remembered, so a refresh
//! carries credentials at once (nonce-count raised) and the provider may skip the 401.
//!
//! The driver turns each [`Register`] into a request and hands back the response (or its
//! absence) with [`Registration::handle_response`].

use std::time::{Duration, Instant};

use crate::rng::Rng;
use crate::sip::auth::client::{self, Answer, Challenge};

/// What the registration needs to know.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Digest user name and password.
    pub auth_user: String,
    pub password: String,
    /// The Request-URI, as sent (`sip:DOMAIN`): digest hashes it.
    pub request_uri: String,
    pub expires: u32,
    pub retry_initial: Duration,
    pub retry_max: Duration,
}

/// One REGISTER to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Register {
    pub cseq: u32,
    pub expires: u32,
    /// `Authorization` (or, after a 407, `Proxy-Authorization`) and its value.
    pub authorization: Option<(&'static str, String)>,
}

/// The registrar's answer, as much of it as the registration uses.
#[derive(Debug, Clone, Default)]
pub struct Answered {
    pub status: u16,
    pub reason: String,
    /// `WWW-Authenticate` (401) or `Proxy-Authenticate` (407) values.
    pub challenges: Vec<String>,
    /// The lifetime granted: our Contact's `expires`, else the `Expires` header.
    pub expires: Option<u32>,
    /// `Min-Expires` of a 423.
    pub min_expires: Option<u32>,
}

/// Where the registration stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Not yet tried, or a REGISTER is on its way.
    Registering,
    Registered {
        until: Instant,
    },
    Failed {
        reason: String,
        retry_at: Instant,
    },
}

/// The registration with the trunk.
#[derive(Debug)]
pub struct Registration {
    settings: Settings,
    state: State,
    cseq: u32,
    expires: u32,
    /// The last challenge, whether from a proxy (407), and its nonce-count so far.
    challenge: Option<(Challenge, bool)>,
    nc: u32,
    /// Our last REGISTER answered the challenge that came just before it.
    answered_fresh: bool,
    due: Option<Instant>,
    in_flight: bool,
    backoff: Duration,
    outbox: Option<Register>,
    rng: Rng,
    /// REGISTERs sent and registrations that failed, since start.
    pub sent: u64,
    pub failures: u64,
}

impl Registration {
    /// A registration whose first REGISTER is due at `now`.
    pub fn new(settings: Settings, now: Instant, seed: u64) -> Self {
        Registration {
            expires: settings.expires,
            backoff: settings.retry_initial,
            settings,
            state: State::Registering,
            cseq: 0,
            challenge: None,
            nc: 0,
            answered_fresh: false,
            due: Some(now),
            in_flight: false,
            outbox: None,
            rng: Rng::new(seed),
            sent: 0,
            failures: 0,
        }
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Time passed: a REGISTER that is due is made.
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.in_flight && self.due.is_some_and(|d| d <= now) {
            self.send();
        }
        if let State::Registered { until } = self.state
            && until <= now
        {
            // The refresh has not been answered by the time the registration ran out.
            self.state = State::Registering;
        }
    }

    /// The answer to our last REGISTER; `None` when none came (a transaction timeout).
    pub fn handle_response(&mut self, now: Instant, answer: Option<Answered>) {
        self.in_flight = false;
        let Some(a) = answer else {
            self.fail(now, "no answer from the registrar (timeout)".to_owned());
            return;
        };
        match a.status {
            200..=299 => {
                let granted = a.expires.unwrap_or(self.expires).max(1);
                self.state = State::Registered {
                    until: now + Duration::from_secs(u64::from(granted)),
                };
                self.due = Some(now + refresh_after(granted));
                self.backoff = self.settings.retry_initial;
            }
            401 | 407 => {
                let proxy = a.status == 407;
                let Some(ch) = client::choose(a.challenges.iter().map(String::as_str)) else {
                    self.fail(
                        now,
                        format!("{} without a Digest challenge we can answer", a.status),
                    );
                    return;
                };
                // Credentials made for the challenge just received and refused again (not
                // as stale) are wrong; pre-emptive ones of a refresh may have met a nonce the
                // provider dropped, so those get one fresh try.
                if self.answered_fresh && !ch.stale {
                    self.challenge = None;
                    self.fail(
                        now,
                        format!(
                            "{} {}: the provider refused our credentials (trunk.username, \
                             trunk.auth_username, trunk.password)",
                            a.status, a.reason
                        ),
                    );
                    return;
                }
                self.challenge = Some((ch, proxy));
                self.nc = 0;
                self.send();
                self.answered_fresh = true;
            }
            423 if a.min_expires.is_some_and(|m| m > self.expires) => {
                self.expires = a.min_expires.unwrap_or(self.expires);
                self.send();
            }
            _ => self.fail(now, format!("{} {}", a.status, a.reason)),
        }
    }

    /// The REGISTER could not be sent (the provider's name has no address): a failure,
    /// retried with the same back-off.
    pub fn handle_error(&mut self, now: Instant, reason: String) {
        self.in_flight = false;
        self.fail(now, reason);
    }

    /// The REGISTER to send now, if any.
    pub fn poll_register(&mut self) -> Option<Register> {
        self.outbox.take()
    }

    /// When [`Registration::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let refresh = self.due.filter(|_| !self.in_flight);
        match self.state {
            State::Registered { until } => Some(refresh.map_or(until, |d| d.min(until))),
            _ => refresh,
        }
    }

    fn send(&mut self) {
        self.cseq += 1;
        self.sent += 1;
        let authorization = self.challenge.as_ref().map(|(ch, proxy)| {
            self.nc += 1;
            let cnonce = self.rng.token(16);
            let value = client::authorization(
                ch,
                &Answer {
                    username: &self.settings.auth_user,
                    password: &self.settings.password,
                    method: "REGISTER",
                    uri: &self.settings.request_uri,
                    nc: self.nc,
                    cnonce: &cnonce,
                },
            );
            let name = if *proxy {
                "Proxy-Authorization"
            } else {
                "Authorization"
            };
            (name, value)
        });
        self.answered_fresh = false;
        self.outbox = Some(Register {
            cseq: self.cseq,
            expires: self.expires,
            authorization,
        });
        self.in_flight = true;
        self.due = None;
        if !matches!(self.state, State::Registered { .. }) {
            self.state = State::Registering;
        }
    }

    fn fail(&mut self, now: Instant, reason: String) {
        self.failures += 1;
        let retry_at = now + self.backoff;
        self.due = Some(retry_at);
        self.backoff = (self.backoff * 2).min(self.settings.retry_max);
        self.state = State::Failed { reason, retry_at };
    }
}

/// When to refresh a registration granted for `granted` seconds: with a tenth of it (at
/// most a minute, at least half a second) to spare, so a lost refresh can still be
/// retransmitted (RFC 3261 Timer F: 32 s) within the larger grants.
fn refresh_after(granted: u32) -> Duration {
    let granted = Duration::from_secs(u64::from(granted));
    let margin = (granted / 10)
        .clamp(Duration::from_millis(500), Duration::from_secs(60))
        .min(granted / 2);
    granted - margin
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::auth::{
        Attempt, Credentials, DigestAuth, DigestConfig, Verdict, parse_authorization,
    };
    use std::collections::HashMap;
    use std::net::{IpAddr, Ipv4Addr};

    const SECOND: Duration = Duration::from_secs(1);

    fn settings() -> Settings {
        Settings {
            auth_user: "budaors".into(),
            password: "trunk secret".into(),
            request_uri: "sip:prov.example".into(),
            expires: 600,
            retry_initial: 30 * SECOND,
            retry_max: 120 * SECOND,
        }
    }

    /// A registrar made of the daemon's own digest server, for the formula.
    struct Registrar {
        auth: DigestAuth,
        store: HashMap<String, Credentials>,
    }

    impl Registrar {
        fn new(t0: Instant, password: &str) -> Self {
            let cfg = DigestConfig {
                realm: "prov.example".into(),
                ..DigestConfig::default()
            };
            Registrar {
                auth: DigestAuth::new(cfg, b"0123456789abcdef", t0),
                store: HashMap::from([(
                    "budaors".to_owned(),
                    Credentials::from_password("budaors", "prov.example", password),
                )]),
            }
        }

        fn answer(&mut self, now: Instant, r: &Register) -> Answered {
            let attempt = Attempt {
                method: "REGISTER",
                request_uri: "sip:prov.example",
                authorization: r.authorization.as_ref().map(|(_, v)| v.as_str()),
                source: IpAddr::V4(Ipv4Addr::LOCALHOST),
            };
            match self.auth.verify(now, &attempt, &self.store) {
                Verdict::Ok { .. } => Answered {
                    status: 200,
                    reason: "OK".into(),
                    expires: Some(r.expires.min(300)),
                    ..Answered::default()
                },
                Verdict::Challenge {
                    www_authenticate, ..
                } => Answered {
                    status: 401,
                    reason: "Unauthorized".into(),
                    challenges: www_authenticate,
                    ..Answered::default()
                },
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn a_challenge_is_answered_then_the_grant_is_refreshed_with_the_same_nonce_and_a_higher_count()
    {
        let t0 = crate::clock::test_epoch();
        let mut reg = Registration::new(settings(), t0, 7);
        let mut registrar = Registrar::new(t0, "trunk secret");
        assert_eq!(reg.poll_timeout(), Some(t0));
        reg.handle_timeout(t0);
        let first = reg.poll_register().expect("due at once");
        assert_eq!(
            (first.cseq, first.expires, &first.authorization),
            (1, 600, &None)
        );
        assert_eq!(
            reg.poll_timeout(),
            None,
            "nothing is due while it is in flight"
        );
        reg.handle_response(t0, Some(registrar.answer(t0, &first)));
        let second = reg.poll_register().expect("answered at once");
        assert_eq!(second.cseq, 2);
        let (name, value) = second.authorization.clone().expect("credentials");
        assert_eq!(name, "Authorization");
        assert_eq!(parse_authorization(&value).expect("valid").nc, Some(1));
        reg.handle_response(t0, Some(registrar.answer(t0, &second)));
        assert_eq!(
            reg.state(),
            &State::Registered {
                until: t0 + 300 * SECOND
            },
            "the registrar granted 300 s of the 600 asked"
        );
        assert_eq!(reg.poll_timeout(), Some(t0 + 270 * SECOND));
        let t1 = t0 + 270 * SECOND;
        reg.handle_timeout(t1);
        let refresh = reg.poll_register().expect("refresh due");
        assert_eq!(refresh.cseq, 3);
        let (_, value) = refresh.authorization.clone().expect("credentials at once");
        assert_eq!(parse_authorization(&value).expect("valid").nc, Some(2));
        let a = registrar.answer(t1, &refresh);
        assert_eq!(a.status, 200, "no second 401 for a refresh");
        reg.handle_response(t1, Some(a));
        assert!(matches!(reg.state(), State::Registered { .. }));
        assert_eq!((reg.sent, reg.failures), (3, 0));
    }

    #[test]
    fn refused_credentials_fail_once_and_retry_with_a_doubling_back_off() {
        let t0 = crate::clock::test_epoch();
        let mut reg = Registration::new(settings(), t0, 7);
        let mut registrar = Registrar::new(t0, "another password");
        reg.handle_timeout(t0);
        let r = reg.poll_register().expect("first");
        reg.handle_response(t0, Some(registrar.answer(t0, &r)));
        let r = reg.poll_register().expect("with credentials");
        let a = registrar.answer(t0, &r);
        assert_eq!(a.status, 401);
        reg.handle_response(t0, Some(a));
        assert!(
            reg.poll_register().is_none(),
            "the same answer is not sent twice"
        );
        let State::Failed { reason, retry_at } = reg.state().clone() else {
            panic!("failed expected: {:?}", reg.state());
        };
        assert!(reason.starts_with("401 Unauthorized: the provider refused our credentials"));
        assert_eq!(retry_at, t0 + 30 * SECOND);
        let mut t = t0;
        let mut waits = Vec::new();
        for _ in 0..4 {
            let due = reg.poll_timeout().expect("a retry is due");
            waits.push((due - t).as_secs());
            t = due;
            reg.handle_timeout(t);
            assert!(reg.poll_register().is_some());
            reg.handle_response(t, None);
        }
        assert_eq!(waits, [30, 60, 120, 120], "doubling up to retry_max");
        assert!(matches!(reg.state(), State::Failed { reason, .. } if reason.contains("timeout")));
        assert_eq!(reg.failures, 5);
    }

    #[test]
    fn interval_too_brief_is_retried_with_the_registrars_minimum() {
        let t0 = crate::clock::test_epoch();
        let mut reg = Registration::new(settings(), t0, 7);
        reg.handle_timeout(t0);
        reg.poll_register();
        reg.handle_response(
            t0,
            Some(Answered {
                status: 423,
                reason: "Interval Too Brief".into(),
                min_expires: Some(3600),
                ..Answered::default()
            }),
        );
        assert_eq!(reg.poll_register().map(|r| r.expires), Some(3600));
    }
}
