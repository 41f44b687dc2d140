//! HTTP Digest authentication for SIP, server side: challenges, verification, nonces,
//! replay protection and throttling of failed attempts.
//!
//! The rules come from RFC 3261 §22 (Digest in SIP), RFC 7616 (Digest with SHA-256,
//! obsoleting RFC 2617) and RFC 8760 (SHA-256 in SIP). Only `qop=auth` is offered and
//! accepted: without a quality of protection there is no nonce-count, and without a
//! nonce-count a captured request could be replayed for as long as its nonce lives.
//!
//! ```text
//!   H(data)  = MD5(data) or SHA-256(data), as lowercase hex
//!   HA1      = H(username ":" realm ":" password)          (stored, never the password)
//!   HA2      = H(Method ":" digest-uri)
//!   response = H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2)
//! ```
//!
//! # Nonces
//!
//! A nonce is stateless and signed: `ttttttttttttcccccccc` + 32 hex digits of
//! HMAC-SHA-256(secret, t ‖ c ‖ realm), where `t` is the issue time in milliseconds since
//! the verifier was built and `c` a counter that makes every nonce unique. The server
//! keeps no table of issued nonces: a nonce is genuine when its MAC verifies and fresh
//! while younger than [`DigestConfig::nonce_lifetime`]. The secret is meant to be drawn
//! at start-up, so nonces do not survive a restart; a client that answers an old nonce
//! correctly is told `stale=true` and retries silently.
//!
//! # Replay
//!
//! For every nonce in use the verifier remembers the highest nonce-count accepted and
//! refuses any count not above it. The table is bounded: when full it forgets the oldest
//! nonce and raises a floor; a fresh-looking nonce issued at or before the floor that is
//! no longer in the table is treated as stale, so forgetting never reopens a replay.
//!
//! # Failures look alike
//!
//! An unknown user, a wrong password, an unsupported algorithm for that user and a realm
//! mismatch all get the same fresh challenge. For an unknown user a response is still
//! computed against a per-user dummy HA1, and that dummy is computed for a known user too,
//! so the work done is the same. Credentials are looked at only after the challenge: a
//! request without them is answered before any account is looked up.
//!
//! # Throttling
//!
//! Per source IP: after [`DigestConfig::max_failures`] failures within
//! [`DigestConfig::failure_window`], the address is refused for
//! [`DigestConfig::block`]; each further block doubles, up to
//! [`DigestConfig::max_block`]. A success clears the record.
//!
//! ```text
//!             failure (< max in window)
//!              ┌───────┐
//!              ▼       │
//!   Clean ──failure──► Failing ──max failures in window──► Blocked(until)
//!     ▲                   │                                  │
//!     └────success────────┘◄────────── until passed ─────────┘ (strikes kept)
//! ```

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use sha2::{Digest, Sha256};

/// A digest algorithm.
///
/// RFC 8760 §2.1 registers SHA-256 and SHA-512-256 for SIP; SHA-512-256 is not offered
/// (no softphone in use supports it), and the `-sess` variants are not either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    /// The token as written in `algorithm=`.
    pub fn token(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// RFC 7616 §3.3: "algorithm ... a case-insensitive token". A missing `algorithm`
    /// means MD5 (RFC 3261 §25.1 `algorithm = "algorithm" EQUAL ( "MD5" / "MD5-sess"
    /// / token )`, MD5 being the default of RFC 2617 §3.2.1).
    pub fn parse(token: &str) -> Option<Algorithm> {
        if token.eq_ignore_ascii_case("MD5") {
            Some(Algorithm::Md5)
        } else if token.eq_ignore_ascii_case("SHA-256") {
            Some(Algorithm::Sha256)
        } else {
            None
        }
    }

    /// H(p0 ":" p1 ":" …) as lowercase hex.
    pub fn hash_hex(self, parts: &[&str]) -> String {
        fn go<D: Digest>(parts: &[&str]) -> String {
            let mut d = D::new();
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    d.update(b":");
                }
                d.update(p.as_bytes());
            }
            hex::encode(d.finalize())
        }
        match self {
            Algorithm::Md5 => go::<Md5>(parts),
            Algorithm::Sha256 => go::<Sha256>(parts),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.token())
    }
}

/// RFC 7616 §3.4.2: `A1 = unq(username) ":" unq(realm) ":" passwd`; HA1 = H(A1).
pub fn ha1(alg: Algorithm, username: &str, realm: &str, password: &str) -> String {
    alg.hash_hex(&[username, realm, password])
}

/// RFC 7616 §3.4.1 with `qop=auth`:
/// `response = KD(H(A1), unq(nonce) ":" nc ":" unq(cnonce) ":" unq(qop) ":" H(A2))`,
/// `KD(secret, data) = H(concat(secret, ":", data))`, and (§3.4.3)
/// `A2 = Method ":" request-uri`.
#[allow(clippy::too_many_arguments)] // the eight named inputs of the RFC formula
pub fn response(
    alg: Algorithm,
    ha1: &str,
    nonce: &str,
    nc: &str,
    cnonce: &str,
    qop: &str,
    method: &str,
    uri: &str,
) -> String {
    let ha2 = alg.hash_hex(&[method, uri]);
    alg.hash_hex(&[ha1, nonce, nc, cnonce, qop, &ha2])
}

/// The stored secrets of one account: an HA1 per algorithm, never a password.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub ha1_md5: Option<String>,
    pub ha1_sha256: Option<String>,
}

impl Credentials {
    /// Both HA1s of a password (for `ugyelet passwd` and tests).
    pub fn from_password(username: &str, realm: &str, password: &str) -> Credentials {
        Credentials {
            ha1_md5: Some(ha1(Algorithm::Md5, username, realm, password)),
            ha1_sha256: Some(ha1(Algorithm::Sha256, username, realm, password)),
        }
    }

    pub fn ha1(&self, alg: Algorithm) -> Option<&str> {
        match alg {
            Algorithm::Md5 => self.ha1_md5.as_deref(),
            Algorithm::Sha256 => self.ha1_sha256.as_deref(),
        }
    }

    /// Whether `password` is the one these HA1s were made from: the HA1 of
    /// `username:realm:password` equals every HA1 present (RFC 7616 §3.4.2), compared in
    /// constant time. False when there is none. Both are checked when both are present, so
    /// a file with one stale digest does not let the old password in.
    pub fn matches_password(&self, username: &str, realm: &str, password: &str) -> bool {
        let mut any = false;
        let mut all = true;
        for alg in [Algorithm::Md5, Algorithm::Sha256] {
            if let Some(stored) = self.ha1(alg) {
                any = true;
                let typed = ha1(alg, username, realm, password);
                // No early exit: `&=` after computing each comparison.
                all &= ct_eq(typed.as_bytes(), stored.to_ascii_lowercase().as_bytes());
            }
        }
        any && all
    }
}

/// Where the verifier looks up accounts.
pub trait CredentialStore {
    fn credentials(&self, username: &str) -> Option<&Credentials>;

    /// Whether the account may use nothing but TLS and SRTP (`require_secure`). Asked only
    /// once the user has authenticated, so the answer tells no one else the name exists.
    fn requires_secure(&self, _username: &str) -> bool {
        false
    }
}

impl CredentialStore for HashMap<String, Credentials> {
    fn credentials(&self, username: &str) -> Option<&Credentials> {
        self.get(username)
    }
}

/// Why an `Authorization` value could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError {
    expected: &'static str,
    found: String,
}

impl AuthError {
    fn new(expected: &'static str, found: &str) -> AuthError {
        let mut found: String = found.chars().take(40).collect();
        if found.is_empty() {
            found.push_str("end of value");
        } else {
            found.insert(0, '"');
            found.push('"');
        }
        AuthError { expected, found }
    }

    /// SIP status for a request carrying it: RFC 7616 §3.4 leaves malformed credentials to
    /// "400 (Bad Request)", as RFC 2617 §3.2.2 did.
    pub fn status(&self) -> u16 {
        400
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Authorization header: expected {}, found {}",
            self.expected, self.found
        )
    }
}

impl std::error::Error for AuthError {}

/// The parameters of a `Digest` `Authorization` value, unquoted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestResponse {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    /// `None` when absent (which means MD5).
    pub algorithm: Option<String>,
    pub cnonce: Option<String>,
    pub opaque: Option<String>,
    pub qop: Option<String>,
    /// The nonce-count as a number, and `nc_text` as written (it is hashed as written).
    pub nc: Option<u32>,
    pub nc_text: Option<String>,
}

/// Parses an `Authorization` (or `Proxy-Authorization`) header value.
///
/// ```text
/// credentials      = ("Digest" LWS digest-response) / other-response
/// digest-response  = dig-resp *(COMMA dig-resp)
/// dig-resp         = username / realm / nonce / digest-uri / dresponse / algorithm
///                    / cnonce / opaque / message-qop / nonce-count / auth-param
/// auth-param       = auth-param-name EQUAL ( token / quoted-string )
/// nonce-count      = "nc" EQUAL nc-value
/// nc-value         = 8LHEX
/// COMMA            = SWS "," SWS
/// ```
///
/// Lenient where clients differ: parameter names in any case, a value quoted or not
/// (RFC 7616 §3.4 asks senders to quote some and not others; receivers see both), empty
/// list elements (`a=1,,b=2`, RFC 7230 §7). Strict where the meaning would be unclear:
/// a duplicated parameter, an unterminated quoted string, an `nc` that is not exactly
/// eight hex digits, a missing `username`, `realm`, `nonce`, `uri` or `response`.
pub fn parse_authorization(value: &str) -> Result<DigestResponse, AuthError> {
    let list = digest_params(value)?;
    let mut out = DigestResponse::default();
    let mut seen: Vec<String> = Vec::with_capacity(10);
    let (mut username, mut realm, mut nonce, mut uri, mut resp) = (None, None, None, None, None);
    for item in params(list) {
        let (name, val) = item?;
        let lname = name.to_ascii_lowercase();
        if seen.contains(&lname) {
            return Err(AuthError::new("each parameter once", name));
        }
        seen.push(lname.clone());
        match lname.as_str() {
            "username" => username = Some(val),
            "realm" => realm = Some(val),
            "nonce" => nonce = Some(val),
            "uri" => uri = Some(val),
            "response" => resp = Some(val),
            "algorithm" => out.algorithm = Some(val),
            "cnonce" => out.cnonce = Some(val),
            "opaque" => out.opaque = Some(val),
            "qop" => out.qop = Some(val),
            "nc" => {
                // RFC 3261 §25.1 `nc-value = 8LHEX`: hexadecimal, not decimal.
                if val.len() != 8 || !val.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(AuthError::new("nc = 8 hex digits", &val));
                }
                out.nc = u32::from_str_radix(&val, 16).ok();
                out.nc_text = Some(val);
            }
            _ => {} // auth-param: extensions are ignored
        }
    }
    let need = |v: Option<String>, what: &'static str| v.ok_or_else(|| AuthError::new(what, ""));
    out.username = need(username, "username parameter")?;
    out.realm = need(realm, "realm parameter")?;
    out.nonce = need(nonce, "nonce parameter")?;
    out.uri = need(uri, "uri parameter")?;
    out.response = need(resp, "response parameter")?;
    Ok(out)
}

/// Whether a credentials value is of the `Digest` scheme (RFC 3261 §25.1 `credentials =
/// ("Digest" LWS digest-response) / other-response`; the scheme compares
/// case-insensitively).
pub fn is_digest(value: &str) -> bool {
    let v = value.trim_start_matches([' ', '\t']);
    v.get(..6).is_some_and(|s| s.eq_ignore_ascii_case("Digest")) && v[6..].starts_with([' ', '\t'])
}

/// The first `Digest` value among a request's `Authorization` (or `Proxy-Authorization`)
/// values: a client may send several, one per realm or scheme (RFC 3261 §22.3), and only
/// a Digest one can be checked here.
pub fn digest_credentials<'a>(mut values: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    values.find(|v| is_digest(v))
}

/// The parameter list of a `Digest` credentials or challenge value (what follows the
/// scheme); any other scheme is refused.
fn digest_params(value: &str) -> Result<&str, AuthError> {
    let v = value.trim_matches([' ', '\t']);
    let scheme_end = v.find([' ', '\t']).unwrap_or(v.len());
    let scheme = &v[..scheme_end];
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Err(AuthError::new("auth-scheme \"Digest\"", scheme));
    }
    Ok(&v[scheme_end..])
}

/// The comma-separated `name=value` list after the scheme; values unquoted.
fn params(s: &str) -> impl Iterator<Item = Result<(&str, String), AuthError>> + '_ {
    let b = s.as_bytes();
    let mut i = 0;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed {
            return None;
        }
        let ws = |i: &mut usize| {
            while *i < b.len() && matches!(b[*i], b' ' | b'\t') {
                *i += 1;
            }
        };
        // Skip separators (empty list elements included).
        loop {
            ws(&mut i);
            if i < b.len() && b[i] == b',' {
                i += 1;
            } else {
                break;
            }
        }
        if i >= b.len() {
            return None;
        }
        let mut fail = |e: AuthError| {
            failed = true;
            Some(Err(e))
        };
        let start = i;
        while i < b.len() && is_token_char(b[i]) {
            i += 1;
        }
        let name = &s[start..i];
        if name.is_empty() {
            return fail(AuthError::new("parameter name", &s[i..]));
        }
        ws(&mut i);
        if i >= b.len() || b[i] != b'=' {
            return fail(AuthError::new("\"=\" after parameter name", &s[i..]));
        }
        i += 1;
        ws(&mut i);
        let value = if i < b.len() && b[i] == b'"' {
            // quoted-string = SWS DQUOTE *(qdtext / quoted-pair ) DQUOTE
            let open = i;
            i += 1;
            let mut v = String::new();
            let mut closed = false;
            while i < b.len() {
                match b[i] {
                    b'"' => {
                        i += 1;
                        closed = true;
                        break;
                    }
                    b'\\' if i + 1 < b.len() => {
                        let c = s[i + 1..].chars().next().unwrap_or('\\');
                        v.push(c);
                        i += 1 + c.len_utf8();
                    }
                    _ => {
                        let c = s[i..].chars().next().unwrap_or('\0');
                        v.push(c);
                        i += c.len_utf8();
                    }
                }
            }
            if !closed {
                return fail(AuthError::new("closing DQUOTE", &s[open..]));
            }
            v
        } else {
            // Unquoted: a token in the grammar, but clients also leave URIs and base64
            // nonces unquoted, so take everything up to the next separator.
            let vs = i;
            while i < b.len() && !matches!(b[i], b',' | b' ' | b'\t' | b'"') {
                i += 1;
            }
            if i == vs {
                return fail(AuthError::new("token or quoted-string", &s[i..]));
            }
            s[vs..i].to_owned()
        };
        ws(&mut i);
        if i < b.len() && b[i] != b',' {
            return fail(AuthError::new("\",\" between parameters", &s[i..]));
        }
        Some(Ok((name, value)))
    })
}

/// `token` characters (RFC 3261 §25.1).
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// Settings of the verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestConfig {
    /// The protection space, shown by softphones and part of every HA1.
    pub realm: String,
    /// Algorithms offered, most preferred first. RFC 8760 §2.4: a server "MUST add one
    /// WWW-Authenticate header field for each algorithm it supports", most preferred first.
    pub algorithms: Vec<Algorithm>,
    /// How long a nonce may be used.
    pub nonce_lifetime: Duration,
    /// Nonces whose counts are remembered (the replay table's bound).
    pub max_nonces: usize,
    /// Failures from one address within `failure_window` that start a block.
    pub max_failures: u32,
    pub failure_window: Duration,
    /// First block; each further block doubles it.
    pub block: Duration,
    pub max_block: Duration,
    /// Source addresses remembered for throttling (bound).
    pub max_tracked_sources: usize,
}

impl Default for DigestConfig {
    fn default() -> Self {
        DigestConfig {
            realm: "ugyelet".to_owned(),
            // MD5 first: RFC 8760 §2.4 asks clients to take the first challenge they can
            // compute, but common softphones (baresip 1.0's libre, answering ENOSYS) give up
            // at a first challenge they do not know. SHA-256 is still offered and accepted.
            algorithms: vec![Algorithm::Md5, Algorithm::Sha256],
            nonce_lifetime: Duration::from_secs(300),
            max_nonces: 4096,
            max_failures: 5,
            failure_window: Duration::from_secs(60),
            block: Duration::from_secs(60),
            max_block: Duration::from_secs(3600),
            max_tracked_sources: 10_000,
        }
    }
}

/// What to do with a request after looking at its credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Authenticated as `username`.
    Ok {
        username: String,
        algorithm: Algorithm,
    },
    /// Answer 401 with one `WWW-Authenticate` per value (RFC 3261 §22.1). `stale` is set
    /// when only the nonce was wrong; `failed` when credentials were checked and were
    /// wrong (a failure counted against the source, worth a security log line), not when
    /// there were none to check.
    Challenge {
        www_authenticate: Vec<String>,
        stale: bool,
        failed: bool,
    },
    /// The `Authorization` value was malformed (answer 400) — counted as a failure.
    BadRequest(AuthError),
    /// This address failed too often; refuse (403) without looking at credentials.
    Throttled { retry_after: Duration },
}

/// The request facts the verifier needs.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    pub method: &'a str,
    /// The Request-URI as received (compared with the digest `uri`).
    pub request_uri: &'a str,
    /// The `Authorization` value, if any.
    pub authorization: Option<&'a str>,
    pub source: IpAddr,
}

#[derive(Debug, Clone)]
struct Failures {
    /// Failure times within the window, oldest first (at most `max_failures`).
    recent: VecDeque<Instant>,
    blocked_until: Option<Instant>,
    /// Blocks so far; the next lasts `block × 2^strikes`.
    strikes: u32,
    last: Instant,
}

/// The server side of Digest: issues challenges, verifies responses.
pub struct DigestAuth {
    cfg: DigestConfig,
    secret: Vec<u8>,
    epoch: Instant,
    counter: u32,
    /// nonce → highest nonce-count accepted.
    counts: HashMap<String, u32>,
    /// Nonces in `counts`, oldest issue first, for eviction.
    order: VecDeque<(u64, String)>,
    /// Nonces issued at or before this many ms are stale unless in `counts`.
    floor_ms: Option<u64>,
    failures: HashMap<IpAddr, Failures>,
}

type HmacSha256 = Hmac<Sha256>;

impl DigestAuth {
    /// `secret` signs nonces: draw it at start-up (at least 16 random bytes). `now`
    /// becomes the origin of nonce timestamps.
    pub fn new(cfg: DigestConfig, secret: &[u8], now: Instant) -> DigestAuth {
        DigestAuth {
            cfg,
            secret: secret.to_vec(),
            epoch: now,
            counter: 0,
            counts: HashMap::new(),
            order: VecDeque::new(),
            floor_ms: None,
            failures: HashMap::new(),
        }
    }

    pub fn config(&self) -> &DigestConfig {
        &self.cfg
    }

    fn ms(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    fn mac(&self, ms: u64, counter: u32) -> String {
        let mut m = <HmacSha256 as KeyInit>::new_from_slice(&self.secret)
            .expect("HMAC takes a key of any length");
        m.update(&ms.to_be_bytes());
        m.update(&counter.to_be_bytes());
        m.update(self.cfg.realm.as_bytes());
        let tag = m.finalize().into_bytes();
        hex::encode(&tag[..16])
    }

    /// A fresh signed nonce.
    pub fn nonce(&mut self, now: Instant) -> String {
        self.counter = self.counter.wrapping_add(1);
        let ms = self.ms(now);
        format!(
            "{ms:012x}{:08x}{}",
            self.counter,
            self.mac(ms, self.counter)
        )
    }

    /// `WWW-Authenticate` values, one per algorithm (RFC 8760 §2.4), sharing one nonce.
    ///
    /// ```text
    /// challenge = "Digest" LWS digest-cln *(COMMA digest-cln)
    /// digest-cln = realm / domain / nonce / opaque / stale / algorithm / qop-options
    /// ```
    pub fn challenge(&mut self, now: Instant, stale: bool) -> Vec<String> {
        let nonce = self.nonce(now);
        self.cfg
            .algorithms
            .iter()
            .map(|a| {
                let mut s = format!(
                    "Digest realm=\"{}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"",
                    self.cfg.realm.replace(['\\', '"'], ""),
                    a.token()
                );
                if stale {
                    s.push_str(", stale=true");
                }
                s
            })
            .collect()
    }

    /// Checks a nonce's signature; `Some(issue ms)` when genuine.
    fn nonce_time(&self, nonce: &str) -> Option<u64> {
        if nonce.len() != 52 || !nonce.is_ascii() {
            return None;
        }
        let ms = u64::from_str_radix(&nonce[..12], 16).ok()?;
        let counter = u32::from_str_radix(&nonce[12..20], 16).ok()?;
        ct_eq(&nonce.as_bytes()[20..], self.mac(ms, counter).as_bytes()).then_some(ms)
    }

    fn blocked(&self, now: Instant, ip: IpAddr) -> Option<Duration> {
        let f = self.failures.get(&ip)?;
        let until = f.blocked_until?;
        (until > now).then(|| until - now)
    }

    fn record_failure(&mut self, now: Instant, ip: IpAddr) {
        if !self.failures.contains_key(&ip) && self.failures.len() >= self.cfg.max_tracked_sources {
            self.sweep(now);
            if self.failures.len() >= self.cfg.max_tracked_sources
                && let Some(oldest) = self
                    .failures
                    .iter()
                    .min_by_key(|(_, f)| f.last)
                    .map(|(k, _)| *k)
            {
                self.failures.remove(&oldest);
            }
        }
        let cfg = &self.cfg;
        let f = self.failures.entry(ip).or_insert_with(|| Failures {
            recent: VecDeque::new(),
            blocked_until: None,
            strikes: 0,
            last: now,
        });
        f.last = now;
        while f
            .recent
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= cfg.failure_window)
        {
            f.recent.pop_front();
        }
        f.recent.push_back(now);
        if f.recent.len() >= cfg.max_failures.max(1) as usize {
            let factor = 1u32.checked_shl(f.strikes.min(20)).unwrap_or(u32::MAX);
            let block = cfg.block.saturating_mul(factor).min(cfg.max_block);
            f.blocked_until = Some(now + block);
            f.strikes = f.strikes.saturating_add(1);
            f.recent.clear();
        }
    }

    /// Forgets throttling records that no longer matter: not blocked, no failure in the
    /// window, and no block for ten windows (so strikes decay).
    pub fn sweep(&mut self, now: Instant) {
        let window = self.cfg.failure_window;
        self.failures.retain(|_, f| {
            f.blocked_until.is_some_and(|u| u > now)
                || now.saturating_duration_since(f.last) < window.saturating_mul(10)
        });
    }

    /// Remembers `nc` for `nonce`; false when it does not increase (a replay).
    ///
    /// RFC 7616 §3.4: "The nc value is the hexadecimal count of the number of requests
    /// (including the current request) that the client has sent with the nonce value in
    /// this request ... the server can detect request replays by maintaining its own copy
    /// of this count — if the same nc value is seen twice, then the request is a replay."
    fn accept_count(&mut self, nonce: &str, issued_ms: u64, nc: u32) -> CountCheck {
        if let Some(last) = self.counts.get_mut(nonce) {
            if nc <= *last {
                return CountCheck::Replay;
            }
            *last = nc;
            return CountCheck::Fresh;
        }
        if self.floor_ms.is_some_and(|f| issued_ms <= f) {
            return CountCheck::Forgotten;
        }
        while self.counts.len() >= self.cfg.max_nonces.max(1) {
            let Some((ms, old)) = self.order.pop_front() else {
                break;
            };
            self.counts.remove(&old);
            self.floor_ms = Some(self.floor_ms.map_or(ms, |f| f.max(ms)));
        }
        if self.floor_ms.is_some_and(|f| issued_ms <= f) {
            return CountCheck::Forgotten;
        }
        self.counts.insert(nonce.to_owned(), nc);
        // Keep `order` sorted by issue time (nonces arrive roughly in order).
        let pos = self.order.partition_point(|(t, _)| *t <= issued_ms);
        self.order.insert(pos, (issued_ms, nonce.to_owned()));
        CountCheck::Fresh
    }

    /// Drops replay records of expired nonces.
    pub fn expire_nonces(&mut self, now: Instant) {
        let now_ms = self.ms(now);
        let life = u64::try_from(self.cfg.nonce_lifetime.as_millis()).unwrap_or(u64::MAX);
        while let Some((ms, _)) = self.order.front() {
            if now_ms.saturating_sub(*ms) <= life {
                break;
            }
            if let Some((_, n)) = self.order.pop_front() {
                self.counts.remove(&n);
            }
        }
    }

    /// Verifies the credentials of one request.
    ///
    /// RFC 3261 §22.1: a server that wants credentials answers 401 with
    /// `WWW-Authenticate`; RFC 7616 §3.3: "stale ... the server SHOULD only set stale to
    /// true if it receives a request for which the nonce is invalid and the response is
    /// valid for that nonce".
    pub fn verify(
        &mut self,
        now: Instant,
        attempt: &Attempt<'_>,
        store: &dyn CredentialStore,
    ) -> Verdict {
        if let Some(retry_after) = self.blocked(now, attempt.source) {
            return Verdict::Throttled { retry_after };
        }
        // RFC 3261 §22.1 has a server challenge a request without credentials it can use;
        // credentials of another scheme are not ours to judge (RFC 4475 §3.3.7: a
        // registrar meeting an unknown scheme challenges with Digest), so they count as
        // none, and as no failure: nothing was checked.
        let Some(value) = attempt.authorization.filter(|v| is_digest(v)) else {
            return Verdict::Challenge {
                www_authenticate: self.challenge(now, false),
                stale: false,
                failed: false,
            };
        };
        let d = match parse_authorization(value) {
            Ok(d) => d,
            Err(e) => {
                self.record_failure(now, attempt.source);
                return Verdict::BadRequest(e);
            }
        };
        // RFC 2617 §3.2.2.5: "The authenticating server must assure that the resource
        // designated by the "uri" directive is the same as the resource specified in the
        // Request-Line; if they are not, the server SHOULD return a 400 Bad Request error."
        if !same_uri(&d.uri, attempt.request_uri) {
            self.record_failure(now, attempt.source);
            return Verdict::BadRequest(AuthError::new("uri equal to the Request-URI", &d.uri));
        }
        match self.check(now, attempt, store, &d) {
            Check::Ok(algorithm) => {
                self.failures.remove(&attempt.source);
                Verdict::Ok {
                    username: d.username,
                    algorithm,
                }
            }
            Check::Stale => Verdict::Challenge {
                www_authenticate: self.challenge(now, true),
                stale: true,
                failed: false,
            },
            Check::Fail => {
                self.record_failure(now, attempt.source);
                Verdict::Challenge {
                    www_authenticate: self.challenge(now, false),
                    stale: false,
                    failed: true,
                }
            }
        }
    }

    fn check(
        &mut self,
        now: Instant,
        attempt: &Attempt<'_>,
        store: &dyn CredentialStore,
        d: &DigestResponse,
    ) -> Check {
        let Some(alg) = Algorithm::parse(d.algorithm.as_deref().unwrap_or("MD5")) else {
            return Check::Fail;
        };
        if !self.cfg.algorithms.contains(&alg) || d.realm != self.cfg.realm {
            return Check::Fail;
        }
        // Only qop=auth: the nonce-count is what stops replays.
        let (Some(qop), Some(nc), Some(nc_text), Some(cnonce)) = (
            d.qop.as_deref(),
            d.nc,
            d.nc_text.as_deref(),
            d.cnonce.as_deref(),
        ) else {
            return Check::Fail;
        };
        if !qop.eq_ignore_ascii_case("auth") {
            return Check::Fail;
        }
        // An unknown user is checked against a dummy HA1 so the answer is identical to a
        // wrong password's; the dummy is computed for a known user too, so the work (and
        // the time it takes) does not tell a scanner which names exist.
        let dummy = alg.hash_hex(&[&d.username, &self.mac(0, 0)]);
        let (known, ha1) = match store.credentials(&d.username).and_then(|c| c.ha1(alg)) {
            Some(h) => (true, h.to_owned()),
            None => (false, dummy),
        };
        let expected = response(
            alg,
            &ha1,
            &d.nonce,
            nc_text,
            cnonce,
            qop,
            attempt.method,
            &d.uri,
        );
        let matches = ct_eq(
            expected.as_bytes(),
            d.response.to_ascii_lowercase().as_bytes(),
        );
        if !(known && matches) {
            return Check::Fail;
        }
        let Some(issued) = self.nonce_time(&d.nonce) else {
            // Right password, nonce not ours (e.g. from before a restart).
            return Check::Stale;
        };
        let age = self.ms(now).checked_sub(issued);
        let life = u64::try_from(self.cfg.nonce_lifetime.as_millis()).unwrap_or(u64::MAX);
        if age.is_none_or(|a| a > life) {
            return Check::Stale;
        }
        match self.accept_count(&d.nonce, issued, nc) {
            CountCheck::Fresh => Check::Ok(alg),
            CountCheck::Forgotten => Check::Stale,
            // A replayed count: the credentials are a copy of an earlier request's.
            CountCheck::Replay => Check::Fail,
        }
    }
}

enum Check {
    Ok(Algorithm),
    Stale,
    Fail,
}

enum CountCheck {
    Fresh,
    Replay,
    Forgotten,
}

/// Compares without an early exit, so timing does not tell how much matched.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The digest `uri` names the Request-URI: equal as text, or as parsed SIP URIs.
fn same_uri(digest_uri: &str, request_uri: &str) -> bool {
    if digest_uri == request_uri {
        return true;
    }
    use crate::sip::msg::Uri;
    matches!((Uri::parse(digest_uri), Uri::parse(request_uri)), (Ok(a), Ok(b)) if a == b)
}

pub mod client;

#[cfg(test)]
mod tests;
