//! `[http]`: limits of the two HTTP listeners (the admin API with the console, and the
//! public one with form links, article pages and delivery webhooks).

use serde::Deserialize;

/// `[http]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Header lines a request may have (431 beyond).
    pub max_headers: usize,
    /// Bytes of a request's start line and headers together (431 beyond).
    pub max_header_bytes: usize,
    /// Bytes of a request body (413 beyond, before the body is read). The console's
    /// prompt upload has its own, larger limit.
    pub max_body_bytes: usize,
    /// A client must send a request's start line and headers within this many seconds;
    /// then the connection is closed (slowloris). Also how long an idle kept-alive
    /// connection stays open.
    pub header_timeout_s: u64,
    /// A request, body included, must be received and answered within this many seconds
    /// (408 otherwise). Live-update streams are not cut: their answer starts at once.
    pub request_timeout_s: u64,
    /// Public listener: requests per second per client address, on average ...
    pub public_rate_per_s: f64,
    /// ... and in a burst (429 with Retry-After beyond).
    pub public_rate_burst: f64,
    /// The public listener is reached through a reverse proxy on this host that terminates
    /// HTTPS: the client address (for the rate limit) comes from `X-Forwarded-For` when
    /// the peer is loopback, and pages carry `Strict-Transport-Security`.
    pub public_behind_https_proxy: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_headers: 64,
            max_header_bytes: 16 * 1024,
            max_body_bytes: 1024 * 1024,
            header_timeout_s: 10,
            request_timeout_s: 60,
            public_rate_per_s: 5.0,
            public_rate_burst: 50.0,
            public_behind_https_proxy: false,
        }
    }
}

impl HttpConfig {
    /// Every problem of the section.
    pub fn validate(&self, p: &mut Vec<String>) {
        if !(1..=1000).contains(&self.max_headers) {
            p.push(format!(
                "http.max_headers: expected 1 to 1000 header lines, found {}",
                self.max_headers
            ));
        }
        if !(1024..=1024 * 1024).contains(&self.max_header_bytes) {
            p.push(format!(
                "http.max_header_bytes: expected 1024 to 1048576 bytes, found {}",
                self.max_header_bytes
            ));
        }
        if self.max_body_bytes < 1024 {
            p.push(format!(
                "http.max_body_bytes: expected at least 1024 bytes, found {}",
                self.max_body_bytes
            ));
        }
        for (key, v) in [
            ("header_timeout_s", self.header_timeout_s),
            ("request_timeout_s", self.request_timeout_s),
        ] {
            if !(1..=3600).contains(&v) {
                p.push(format!("http.{key}: expected 1 to 3600 seconds, found {v}"));
            }
        }
        if !(self.public_rate_per_s > 0.0 && self.public_rate_per_s.is_finite()) {
            p.push(format!(
                "http.public_rate_per_s: expected a positive number of requests per second, found {}",
                self.public_rate_per_s
            ));
        }
        if !(self.public_rate_burst >= 1.0 && self.public_rate_burst.is_finite()) {
            p.push(format!(
                "http.public_rate_burst: expected at least 1 request, found {}",
                self.public_rate_burst
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_limits_are_reported_with_their_keys() {
        let c = HttpConfig {
            max_headers: 0,
            header_timeout_s: 0,
            public_rate_burst: 0.5,
            ..HttpConfig::default()
        };
        let mut p = Vec::new();
        c.validate(&mut p);
        assert_eq!(
            p,
            [
                "http.max_headers: expected 1 to 1000 header lines, found 0",
                "http.header_timeout_s: expected 1 to 3600 seconds, found 0",
                "http.public_rate_burst: expected at least 1 request, found 0.5",
            ]
        );
        let mut none = Vec::new();
        HttpConfig::default().validate(&mut none);
        assert!(none.is_empty(), "{none:?}");
    }
}
