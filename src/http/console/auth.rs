//! Who is asking: session cookies, CSRF tokens and the cross-site check.
//!
//! A session is a random 256-bit token in an `HttpOnly; SameSite=Strict` cookie (`Secure`
//! when the console is reached over HTTPS). The store keeps only its SHA-256, so a copy of
//! the database logs nobody in. Each session has its own CSRF token, embedded in every form
//! of its pages; a state-changing request without it is refused even if the cookie came
//! along. The login form, before any session exists, uses a double-submit token: a cookie
//! and a hidden field that must match.
//!
//! Decisions that can be made without I/O are plain functions with unit tests.

use axum::http::{HeaderMap, header};
use base64::Engine;
use sha2::{Digest, Sha256};

/// The session cookie.
pub const SESSION_COOKIE: &str = "ugyelet_munkamenet";
/// The login form's double-submit cookie.
pub const LOGIN_COOKIE: &str = "ugyelet_belepes";

/// A fresh random token (256 bits, URL-safe base64).
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the store keeps of a session token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Equal in constant time, so the time taken says nothing about where they differ (only
/// whether the lengths do, and every token of a kind has one length).
///
/// `subtle`'s comparison, not a hand-written fold: the optimiser may turn an OR-fold over
/// the bytes into a loop that stops at the first difference, and `subtle` is written to
/// stop it (its result passes through an optimisation barrier).
pub fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The value of cookie `name` in the request, if any.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value; `max_age_s` 0 deletes the cookie.
pub fn set_cookie(name: &str, value: &str, max_age_s: u64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; Max-Age={max_age_s}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Whether a state-changing request comes from a page of another site.
///
/// Browsers send `Sec-Fetch-Site` and `Origin` on POSTs; a request that names another
/// origin than the host it was sent to is refused whatever token it carries. Scripts that
/// send neither (curl) are judged by the token alone.
pub fn cross_site(headers: &HeaderMap) -> bool {
    let get = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    if get("sec-fetch-site").is_some_and(|s| s == "cross-site" || s == "same-site") {
        return true;
    }
    match (get("origin"), get("host")) {
        (Some("null"), _) => true,
        (Some(origin), Some(host)) => {
            let origin_host = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                .unwrap_or(origin);
            origin_host != host
        }
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// Whether a session last used at `last_seen_ms`, created at `created_ms`, is still valid
/// at `now_ms`.
pub fn session_alive(
    created_ms: i64,
    last_seen_ms: i64,
    now_ms: i64,
    idle_timeout_s: u64,
    max_age_s: u64,
) -> bool {
    let idle_ms = i64::try_from(idle_timeout_s.saturating_mul(1000)).unwrap_or(i64::MAX);
    let max_ms = i64::try_from(max_age_s.saturating_mul(1000)).unwrap_or(i64::MAX);
    now_ms.saturating_sub(last_seen_ms) <= idle_ms && now_ms.saturating_sub(created_ms) <= max_ms
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn cookie_is_found_among_others() {
        let h = headers(&[("cookie", "a=1; ugyelet_munkamenet=xyz; b=2")]);
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, "c"), None);
    }

    #[test]
    fn session_cookie_is_http_only_strict_and_secure_when_asked() {
        let c = set_cookie(SESSION_COOKIE, "t", 60, true);
        assert_eq!(
            c,
            "ugyelet_munkamenet=t; Path=/; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
        assert!(!set_cookie(SESSION_COOKIE, "t", 60, false).contains("Secure"));
    }

    #[test]
    fn a_post_from_another_origin_is_cross_site() {
        assert!(cross_site(&headers(&[
            ("origin", "http://evil.example"),
            ("host", "127.0.0.1:8080")
        ])));
        assert!(cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!cross_site(&headers(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080")
        ])));
        assert!(!cross_site(&headers(&[("host", "127.0.0.1:8080")])));
    }

    #[test]
    fn sessions_end_when_idle_or_old() {
        assert!(session_alive(0, 0, 1_800_000, 1800, 43_200));
        assert!(!session_alive(0, 0, 1_800_001, 1800, 43_200));
        assert!(!session_alive(0, 43_200_000, 43_200_001, 1800, 43_200));
    }

    #[test]
    fn tokens_are_random_and_only_their_hash_is_kept() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
        assert!(same(&a, &a.clone()) && !same(&a, &b));
    }
}
