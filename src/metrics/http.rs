//! HTTP requests refused, by listener and reason.
//!
//! Every refusal of the two HTTP listeners (the admin API with the console, and the public
//! one with form links, article pages and delivery webhooks) is counted here once, beside
//! its log line, so a graph shows a scan or a misconfigured webhook as it happens. Every
//! pair is exposed, zeros included, so a dashboard's series exist before the first refusal.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Which listener refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// The admin API and the web console.
    Admin,
    /// Form links, article pages, delivery webhooks.
    Public,
}

impl Listener {
    pub const ALL: [Listener; 2] = [Listener::Admin, Listener::Public];

    pub fn as_str(self) -> &'static str {
        match self {
            Listener::Admin => "admin",
            Listener::Public => "public",
        }
    }
}

/// Why a request was refused (the metric's `reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A path with `..`, `.`, a backslash, an encoded slash, NUL or another control
    /// character (400).
    Path,
    /// A body larger than the limit (413).
    BodyTooLarge,
    /// Too many header lines or too many header bytes (431).
    HeadersTooLarge,
    /// The request head did not arrive within the header timeout: the connection is cut.
    HeaderTimeout,
    /// Not a request hyper could parse as HTTP/1.x (400 from hyper itself).
    Malformed,
    /// The whole request (body included) did not arrive in time (408).
    RequestTimeout,
    /// The client's address sent too many requests (429).
    RateLimited,
    /// A webhook without a valid provider signature (403).
    BadSignature,
    /// A webhook to a wrong or unconfigured secret path (404).
    BadHookSecret,
    /// A JSON API request without the right bearer token (401).
    BadToken,
    /// A console form without its CSRF token, or from another site (403).
    Csrf,
    /// An admin page asked for by an operator's session (403).
    Forbidden,
    /// A console login with a wrong name or password (401).
    LoginFailed,
    /// A console login while the address or account is throttled (429).
    LoginThrottled,
    /// A download link that does not decode or whose signature is wrong (404).
    LinkInvalid,
    /// An authentic download link past its expiry (410).
    LinkExpired,
}

impl Refusal {
    pub const ALL: [Refusal; 16] = [
        Refusal::Path,
        Refusal::BodyTooLarge,
        Refusal::HeadersTooLarge,
        Refusal::HeaderTimeout,
        Refusal::Malformed,
        Refusal::RequestTimeout,
        Refusal::RateLimited,
        Refusal::BadSignature,
        Refusal::BadHookSecret,
        Refusal::BadToken,
        Refusal::Csrf,
        Refusal::Forbidden,
        Refusal::LoginFailed,
        Refusal::LoginThrottled,
        Refusal::LinkInvalid,
        Refusal::LinkExpired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Path => "path",
            Refusal::BodyTooLarge => "body_too_large",
            Refusal::HeadersTooLarge => "headers_too_large",
            Refusal::HeaderTimeout => "header_timeout",
            Refusal::Malformed => "malformed",
            Refusal::RequestTimeout => "request_timeout",
            Refusal::RateLimited => "rate_limited",
            Refusal::BadSignature => "bad_signature",
            Refusal::BadHookSecret => "bad_hook_secret",
            Refusal::BadToken => "bad_token",
            Refusal::Csrf => "csrf",
            Refusal::Forbidden => "forbidden",
            Refusal::LoginFailed => "login_failed",
            Refusal::LoginThrottled => "login_throttled",
            Refusal::LinkInvalid => "link_invalid",
            Refusal::LinkExpired => "link_expired",
        }
    }

    fn index(self) -> usize {
        Refusal::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// The counters, shared by both listeners (made before either starts).
#[derive(Default)]
pub struct HttpRefusals {
    admin: [AtomicU64; Refusal::ALL.len()],
    public: [AtomicU64; Refusal::ALL.len()],
}

impl HttpRefusals {
    /// Counts one refusal.
    pub fn count(&self, listener: Listener, why: Refusal) {
        self.table(listener)[why.index()].fetch_add(1, Relaxed);
    }

    /// Refusals so far of one kind.
    pub fn get(&self, listener: Listener, why: Refusal) -> u64 {
        self.table(listener)[why.index()].load(Relaxed)
    }

    fn table(&self, listener: Listener) -> &[AtomicU64; Refusal::ALL.len()] {
        match listener {
            Listener::Admin => &self.admin,
            Listener::Public => &self.public,
        }
    }

    /// `ugyelet_http_refused_total` in the text format.
    pub fn render(&self, out: &mut String) {
        out.push_str(
            "# HELP ugyelet_http_refused_total HTTP requests refused, by listener and reason.\n\
             # TYPE ugyelet_http_refused_total counter\n",
        );
        for listener in Listener::ALL {
            for why in Refusal::ALL {
                let _ = writeln!(
                    out,
                    "ugyelet_http_refused_total{{listener=\"{}\",reason=\"{}\"}} {}",
                    listener.as_str(),
                    why.as_str(),
                    self.get(listener, why)
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_is_counted_under_its_listener_and_reason() {
        let r = HttpRefusals::default();
        r.count(Listener::Public, Refusal::Path);
        r.count(Listener::Public, Refusal::Path);
        r.count(Listener::Admin, Refusal::Csrf);
        let mut out = String::new();
        r.render(&mut out);
        assert!(
            out.contains("ugyelet_http_refused_total{listener=\"public\",reason=\"path\"} 2\n")
        );
        assert!(out.contains("ugyelet_http_refused_total{listener=\"admin\",reason=\"csrf\"} 1\n"));
        assert!(out.contains("ugyelet_http_refused_total{listener=\"admin\",reason=\"path\"} 0\n"));
        assert_eq!(out.matches("listener=").count(), 2 * Refusal::ALL.len());
    }
}
