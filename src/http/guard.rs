//! What every request to either HTTP listener passes before its route runs, and what
//! every response gets on its way out.
//!
//! ```text
//!   request ─► path sane? ──no──► 400   (.., ., \, encoded / or \, NUL, controls)
//!             │
//!             ▼
//!   (public)  rate of the client's address ──over──► 429 + Retry-After
//!             │
//!             ▼
//!             Content-Length over the limit? ──yes──► 413 (the body is never read)
//!             │
//!             ▼
//!             the route, within the request timeout ──late──► 408
//!             │   (a chunked body over the limit: the extractor's 413)
//!             ▼
//!   response ◄─ security headers the route did not set itself
//! ```
//!
//! Each refusal is one warning in the log (a rate-limit run only at its start) and one
//! count in `ugyelet_http_refused_total{listener, reason}`. The routes never name a file
//! from the path (forms come from the catalog by a signed id, prompts and voice messages
//! by their ids), so the path check is a second wall, and a loud one: it shows a scan in
//! the log and on a graph.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use tracing::warn;

use super::ratelimit::RateLimiter;
use crate::config::HttpConfig;
use crate::metrics::http::{HttpRefusals, Listener, Refusal};
use crate::pii::Pii;

/// The limits of one listener, from `[http]`.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_headers: usize,
    pub max_header_bytes: usize,
    pub max_body_bytes: usize,
    pub header_timeout: Duration,
    pub request_timeout: Duration,
}

impl Limits {
    pub fn from_config(c: &HttpConfig) -> Self {
        Limits {
            max_headers: c.max_headers,
            max_header_bytes: c.max_header_bytes,
            max_body_bytes: c.max_body_bytes,
            header_timeout: Duration::from_secs(c.header_timeout_s),
            request_timeout: Duration::from_secs(c.request_timeout_s),
        }
    }
}

/// One listener's guard.
pub struct Guard {
    pub listener: Listener,
    pub limits: Limits,
    refusals: Arc<HttpRefusals>,
    rate: Option<Mutex<RateLimiter>>,
    /// Behind a reverse proxy on this host that terminates HTTPS: `X-Forwarded-For` from
    /// loopback peers names the client, and pages carry `Strict-Transport-Security`.
    behind_https_proxy: bool,
    /// Paths whose bodies may be larger than `max_body_bytes`, with their own limit.
    large_bodies: Vec<(&'static str, usize)>,
}

/// `Strict-Transport-Security` behind an HTTPS proxy: a year, the usual value.
const HSTS: &str = "max-age=31536000";

/// The policy for responses that set none: nothing loads, nothing frames them.
const DEFAULT_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

impl Guard {
    /// The admin API and console's guard: no rate limit (logins have their own throttle),
    /// the prompt upload may be as large as its own limit.
    pub fn admin(c: &HttpConfig, behind_https_proxy: bool, refusals: Arc<HttpRefusals>) -> Self {
        Guard {
            listener: Listener::Admin,
            limits: Limits::from_config(c),
            refusals,
            rate: None,
            behind_https_proxy,
            large_bodies: vec![("/hangok", super::console::prompts::MAX_UPLOAD)],
        }
    }

    /// The public listener's guard: a rate per client address.
    pub fn public(c: &HttpConfig, refusals: Arc<HttpRefusals>) -> Self {
        Guard {
            listener: Listener::Public,
            limits: Limits::from_config(c),
            refusals,
            rate: Some(Mutex::new(RateLimiter::new(
                c.public_rate_per_s,
                c.public_rate_burst,
            ))),
            behind_https_proxy: c.public_behind_https_proxy,
            large_bodies: Vec::new(),
        }
    }

    /// Counts a refusal of this listener.
    pub fn refused(&self, why: Refusal) {
        self.refusals.count(self.listener, why);
    }

    /// The client's address: the peer, or behind the proxy the last address it added.
    pub fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        client_addr(peer, headers, self.behind_https_proxy)
    }

    fn body_limit(&self, path: &str) -> usize {
        self.large_bodies
            .iter()
            .find(|(p, _)| *p == path)
            .map_or(self.limits.max_body_bytes, |(_, n)| *n)
    }

    /// The security headers a response did not set itself.
    fn harden(&self, mut r: Response) -> Response {
        let h = r.headers_mut();
        let mut set = |name: header::HeaderName, value: &'static str| {
            h.entry(name).or_insert(HeaderValue::from_static(value));
        };
        set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
        set(header::X_FRAME_OPTIONS, "DENY");
        set(header::REFERRER_POLICY, "no-referrer");
        set(header::CONTENT_SECURITY_POLICY, DEFAULT_CSP);
        // Everything either listener serves is about a resident or an operator, or is
        // small enough to fetch again; only the console's stylesheet and script say
        // otherwise themselves.
        set(header::CACHE_CONTROL, "no-store");
        if self.behind_https_proxy {
            set(header::STRICT_TRANSPORT_SECURITY, HSTS);
        }
        r
    }
}

/// `app` behind `guard`: the check below around every route, and the body limit for
/// extractors reading a body sent without a length (chunked).
pub fn wrap(app: Router, guard: Arc<Guard>) -> Router {
    let limit = guard.limits.max_body_bytes;
    app.layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(guard, check))
}

/// Why `path` (as sent, still percent-encoded) is refused, if it is: a path that names a
/// parent or the current directory, a backslash or an encoded separator, NUL or another
/// control character, invalid UTF-8, or an escape that decodes to another escape of these
/// (double encoding).
pub fn path_refusal(path: &str) -> Option<&'static str> {
    let decoded = match percent_decode(path.as_bytes()) {
        Some(d) => d,
        None => return Some("a malformed percent escape"),
    };
    let Ok(decoded) = String::from_utf8(decoded) else {
        return Some("invalid UTF-8");
    };
    let raw = path.to_ascii_lowercase();
    if raw.contains("%2f") || raw.contains("%5c") {
        return Some("an encoded slash or backslash");
    }
    if decoded.contains('\\') {
        return Some("a backslash");
    }
    if decoded.chars().any(char::is_control) {
        return Some("NUL or another control character");
    }
    if decoded.split('/').any(|seg| seg == "." || seg == "..") {
        return Some("a . or .. segment");
    }
    let twice = decoded.to_ascii_lowercase();
    if ["%2e", "%2f", "%5c", "%00", "%25"]
        .iter()
        .any(|e| twice.contains(e))
    {
        return Some("a double-encoded escape");
    }
    None
}

/// `%XX` decoded; `None` for a `%` not followed by two hex digits.
fn percent_decode(b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            let h = b.get(i + 1).copied().and_then(hex)?;
            let l = b.get(i + 2).copied().and_then(hex)?;
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// A short page for a refusal: people on the public side read it on a phone.
fn refusal_page(status: StatusCode, title: &str, text: &str) -> Response {
    super::forms::page(status, title, text)
}

/// What a path looks like in the log: escaped by `Debug`, cut short.
fn shown(path: &str) -> String {
    let cut: String = path.chars().take(120).collect();
    format!("{cut:?}")
}

async fn check(
    State(g): State<Arc<Guard>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let listener = g.listener.as_str();
    let client = g.client(peer, req.headers());
    let path = req.uri().path().to_owned();
    if let Some(why) = path_refusal(&path) {
        g.refused(Refusal::Path);
        warn!(listener, src = %Pii(client), path = %shown(&path), "HTTP request refused with 400: the path has {why}");
        let r = refusal_page(
            StatusCode::BAD_REQUEST,
            "Hibás kérés",
            "A kért cím érvénytelen.",
        );
        return g.harden(r);
    }
    if let Some(rate) = &g.rate {
        let verdict = rate
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .check(client, Instant::now());
        if let Err(limited) = verdict {
            g.refused(Refusal::RateLimited);
            if limited.first {
                warn!(listener, src = %Pii(client), retry_after_s = limited.retry_after.as_secs(),
                      "HTTP requests refused with 429: too many from this address (logged once per run)");
            }
            let mut r = refusal_page(
                StatusCode::TOO_MANY_REQUESTS,
                "Túl sok kérés",
                "Rövid idő alatt túl sok kérés érkezett erről a címről. Kérjük, próbálja újra néhány másodperc múlva.",
            );
            if let Ok(v) = HeaderValue::from_str(&limited.retry_after.as_secs().to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return g.harden(r);
        }
    }
    let limit = g.body_limit(&path);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(n) = declared.filter(|n| *n > limit as u64) {
        g.refused(Refusal::BodyTooLarge);
        warn!(listener, src = %Pii(client), path = %shown(&path), declared = n, limit,
              "HTTP request refused with 413: body larger than the limit (not read)");
        let r = refusal_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Túl nagy kérés",
            "A küldött adat nagyobb a megengedettnél.",
        );
        return g.harden(r);
    }
    // The route itself may raise the limit for its own body (the prompt upload).
    let res = match tokio::time::timeout(g.limits.request_timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => {
            g.refused(Refusal::RequestTimeout);
            warn!(listener, src = %Pii(client), path = %shown(&path),
                  timeout_s = g.limits.request_timeout.as_secs(),
                  "HTTP request answered with 408: not received and answered within the request timeout");
            let r = refusal_page(
                StatusCode::REQUEST_TIMEOUT,
                "Lejárt az idő",
                "A kérés nem érkezett meg időben. Kérjük, próbálja újra.",
            );
            return g.harden(r);
        }
    };
    if res.status() == StatusCode::PAYLOAD_TOO_LARGE {
        g.refused(Refusal::BodyTooLarge);
        warn!(listener, src = %Pii(client), path = %shown(&path), limit,
              "HTTP request refused with 413: a body without a length ran over the limit");
    }
    g.harden(res)
}

/// The client's address: the peer, or when behind a reverse proxy (which connects from
/// loopback) the last address it added to `X-Forwarded-For`.
pub(crate) fn client_addr(peer: SocketAddr, headers: &HeaderMap, behind_proxy: bool) -> IpAddr {
    if behind_proxy && peer.ip().is_loopback() {
        let forwarded = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok());
        if let Some(a) = forwarded {
            return a;
        }
    }
    peer.ip()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_in_any_spelling_is_refused() {
        for (path, why) in [
            ("/f/../../etc/passwd", "a . or .. segment"),
            ("/f/..%2f..%2fetc%2fpasswd", "an encoded slash or backslash"),
            ("/f/..%2F..%2Fetc%2Fpasswd", "an encoded slash or backslash"),
            ("/f/%2e%2e/%2e%2e/etc/passwd", "a . or .. segment"),
            ("/f/%2E%2E/x", "a . or .. segment"),
            ("/f/..\\..\\etc\\passwd", "a backslash"),
            ("/f/..%5c..%5cwin.ini", "an encoded slash or backslash"),
            ("/f/abc%00.pdf", "NUL or another control character"),
            (
                "/f/abc%0d%0aSet-Cookie:x",
                "NUL or another control character",
            ),
            ("/f/%252e%252e%252fetc", "a double-encoded escape"),
            ("/f/%c0%ae%c0%ae/etc", "invalid UTF-8"),
            ("/f/abc%zz", "a malformed percent escape"),
            ("/f/./x", "a . or .. segment"),
        ] {
            assert_eq!(path_refusal(path), Some(why), "{path}");
        }
    }

    #[test]
    fn the_routes_own_paths_pass() {
        for path in [
            "/",
            "/f/AQAAAAAAAAAAAAAqbGFrY2ltX8x1Yw-abc",
            "/hooks/twilio/s3cr3t-_x",
            "/tudasbazis/lakcim-bejelentes",
            "/hangok/main_menu.wav",
            "/hivasnaplo.csv",
            "/hangok/gepi-szovegek.txt",
            "/tudasbazis/%C3%A1rv%C3%ADz",
            "/f/..abc",
        ] {
            assert_eq!(path_refusal(path), None, "{path}");
        }
    }
}
