//! Form downloads and delivery-report webhooks (the public side of the HTTP server).
//!
//! | method | path                      | what                                             |
//! |--------|---------------------------|--------------------------------------------------|
//! | GET    | `/f/{token}`              | the form file for a valid signed link; a Hungarian page for expired (410) or invalid (404) links; counts downloads |
//! | POST   | `/hooks/twilio/{secret}`  | Twilio status callback (form-encoded `MessageSid`, `MessageStatus`, `ErrorCode`) |
//! | POST   | `/hooks/infobip/{secret}` | Infobip delivery report (JSON `{"results":[{"messageId","status":{"groupName"}}]}`) |
//!
//! Webhooks are authenticated by a secret path segment (compared in constant time): the
//! configured callback URLs carry it; a wrong one is 404, as for any unknown path. Twilio
//! also signs its requests (`X-Twilio-Signature`, [`super::twilio`]): an unsigned or
//! wrongly signed report is refused with 403 and changes nothing. Infobip does not sign
//! its delivery reports, so for it the secret path is the only proof. Every refusal is
//! logged and counted (`ugyelet_http_refused_total`). Reports move a message's state only forward
//! ([`crate::store::Store::report`]); unknown or stale reports are acknowledged with 200
//! so providers stop retrying them.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use crate::metrics::http::{Listener, Refusal};
use crate::notify::catalog::LiveCatalog;
use crate::notify::link::{LinkError, LinkKey};
use crate::notify::outbox::Report;
use crate::store::Store;

const PUBLIC: Listener = Listener::Public;

/// What the routes need.
#[derive(Clone)]
pub struct FormsState {
    pub store: Arc<Mutex<Store>>,
    /// Swapped by a reload; a link for a form no longer in it gets a Hungarian page.
    pub catalog: LiveCatalog,
    /// Articles sent as links (form id `cikk:SLUG`) are rendered from it.
    pub knowledge: crate::knowledge::LiveKnowledge,
    pub link_key: LinkKey,
    /// The secret path segment of the webhook URLs.
    pub hook_secret: String,
    /// Twilio's auth token, which signs its webhooks (empty: Twilio's reports are refused).
    pub twilio_token: String,
    /// `notify.public_base_url` without a trailing slash: the start of the URLs Twilio was
    /// given, and signs.
    pub public_base_url: String,
    /// Refusals are counted here.
    pub refusals: Arc<crate::metrics::http::HttpRefusals>,
    /// Unix seconds now (the system clock in production; fixed in tests).
    pub unix_now: Arc<dyn Fn() -> u64 + Send + Sync>,
}

/// The system clock as Unix seconds.
pub fn system_unix_now() -> u64 {
    crate::clock::unix_seconds()
}

fn system_unix_ms() -> i64 {
    crate::clock::unix_ms()
}

/// The routes, ready to be merged into the public server.
pub fn router(state: FormsState) -> Router {
    Router::new()
        .route("/f/{token}", get(download))
        .route("/hooks/twilio/{secret}", post(twilio_hook))
        .route("/hooks/infobip/{secret}", post(infobip_hook))
        .with_state(state)
}

fn lock(store: &Mutex<Store>) -> std::sync::MutexGuard<'_, Store> {
    // Every write is its own transaction, so the connection is sound after a panic.
    store
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A short Hungarian page for residents (also the guard's refusals).
pub(super) fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"hu\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title></head><body><h1>{t}</h1><p>{x}</p></body></html>\n",
        t = escape_html(title),
        x = escape_html(text),
    );
    (status, Html(html)).into_response()
}

/// A knowledge-base article as a page a resident reads on their phone: large text, no
/// script, links to other articles and forms shown as plain text (they need a link of
/// their own).
async fn article_page(st: &FormsState, slug: &str, message_id: u64) -> Response {
    let kb = st.knowledge.get();
    let (Some(article), Some(body)) = (kb.get(slug), kb.render_html(slug, |_| "#".to_owned()))
    else {
        return page(
            StatusCode::NOT_FOUND,
            "A tájékoztató már nem érhető el",
            "A kért tájékoztatót időközben visszavonták. Kérjük, hívja az ügyeleti vonalat.",
        );
    };
    let store = st.store.clone();
    let _ = tokio::task::spawn_blocking(move || {
        if let Err(e) = lock(&store).count_download(message_id) {
            tracing::warn!("read count for message {message_id}: {e}");
        }
    })
    .await;
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"hu\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>{ARTICLE_STYLE}</style></head><body><header><p>Budaörsi \
         Polgármesteri Hivatal – Segít a hivatal</p></header><main><h1>{t}</h1>{body}</main>\
         </body></html>\n",
        t = escape_html(&article.title),
    );
    let mut r = (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "private, no-store")],
        Html(html),
    )
        .into_response();
    if let Ok(v) = header::HeaderValue::from_str(&article_csp()) {
        r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r
}

/// The article page's only style: inline, so the page is one request on a slow phone.
const ARTICLE_STYLE: &str = "body{font:1.15rem/1.6 system-ui,sans-serif;max-width:40rem;\
                             margin:1rem auto;padding:0 1rem;color:#1a1a1a}a{color:#0b4f8a}";

/// The article page's policy: nothing loads, and the one inline style is allowed by its
/// hash (CSP Level 2 `'sha256-…'`), not by `'unsafe-inline'`, so markup that slipped into
/// an article could not style (or overlay) the page either.
fn article_csp() -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let hash = base64::engine::general_purpose::STANDARD
        .encode(sha2::Sha256::digest(ARTICLE_STYLE.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    )
}

fn expired_page() -> Response {
    page(
        StatusCode::GONE,
        "A letöltési link lejárt",
        "Ez a link már nem érvényes. Kérjük, hívja újra az ügyeleti vonalat, és küldünk \
         újat, vagy töltse le a nyomtatványt a hivatal honlapjáról.",
    )
}

fn invalid_page() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Érvénytelen link",
        "Ez a letöltési link hibás vagy hiányos. Kérjük, ellenőrizze, hogy a teljes linket \
         nyitotta-e meg az SMS-ből.",
    )
}

async fn download(State(st): State<FormsState>, Path(token): Path<String>) -> Response {
    let link = match st.link_key.verify(&token, (st.unix_now)()) {
        Ok(l) => l,
        Err(LinkError::Expired { expired_at }) => {
            st.refusals.count(PUBLIC, Refusal::LinkExpired);
            tracing::info!(expired_at, "download link refused with 410: expired");
            return expired_page();
        }
        Err(e) => {
            st.refusals.count(PUBLIC, Refusal::LinkInvalid);
            tracing::warn!("download link refused with 404: {e}");
            return invalid_page();
        }
    };
    if let Some(slug) = link
        .form_id
        .strip_prefix(crate::notify::compose::PAGE_PREFIX)
    {
        return article_page(&st, slug, link.message_id).await;
    }
    let Some(file) = st
        .catalog
        .get()
        .get(&link.form_id)
        .and_then(|f| f.file.clone())
    else {
        return page(
            StatusCode::NOT_FOUND,
            "A nyomtatvány már nem érhető el",
            "A kért nyomtatványt időközben visszavonták. Kérjük, hívja az ügyeleti vonalat.",
        );
    };
    let store = st.store.clone();
    let id = link.message_id;
    let path = file.clone();
    let read = tokio::task::spawn_blocking(move || {
        let bytes = std::fs::read(&path)?;
        if let Err(e) = lock(&store).count_download(id) {
            tracing::warn!("download count for message {id}: {e}");
        }
        Ok::<_, std::io::Error>(bytes)
    })
    .await;
    let bytes = match read {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            tracing::error!("form file {}: {e}", file.display());
            return unavailable_page();
        }
        Err(e) => {
            tracing::error!("form download task: {e}");
            return unavailable_page();
        }
    };
    let name = file.file_name().map_or_else(
        || "nyomtatvany.pdf".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    let disposition = format!(
        "attachment; filename=\"{}\"",
        name.replace(|c: char| !c.is_ascii_graphic() || c == '"', "_")
    );
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        bytes,
    )
        .into_response()
}

fn unavailable_page() -> Response {
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Átmeneti hiba",
        "A nyomtatványt most nem tudjuk kiszolgálni. Kérjük, próbálja újra később.",
    )
}

fn secret_ok(expected: &str, given: &str) -> bool {
    !expected.is_empty() && super::console::auth::same(expected, given)
}

/// Decodes `application/x-www-form-urlencoded` (WHATWG URL §5.1): `+` is a space,
/// `%XX` an octet; malformed escapes are kept literally.
pub fn parse_form(body: &str) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < b.len() => {
                    let hex = |c: u8| (c as char).to_digit(16);
                    match (hex(b[i + 1]), hex(b[i + 2])) {
                        (Some(h), Some(l)) => {
                            out.push((h * 16 + l) as u8);
                            i += 2;
                        }
                        _ => out.push(b'%'),
                    }
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

async fn apply_report(st: &FormsState, provider_id: String, report: Report) {
    let store = st.store.clone();
    let res = tokio::task::spawn_blocking(move || {
        let mut s = lock(&store);
        match s.by_provider_id(&provider_id)? {
            Some(row) => s.report(row.id, &report, system_unix_ms()),
            None => Ok(None),
        }
    })
    .await;
    match res {
        Ok(Ok(Some(state))) => tracing::info!("delivery report moved a message to {state}"),
        Ok(Ok(None)) => tracing::debug!("delivery report changed nothing"),
        Ok(Err(e)) => tracing::error!("delivery report: {e}"),
        Err(e) => tracing::error!("delivery report task: {e}"),
    }
}

/// A webhook to a wrong secret path: 404, as for any path that does not exist.
fn wrong_hook_secret(st: &FormsState, provider: &str) -> StatusCode {
    st.refusals.count(PUBLIC, Refusal::BadHookSecret);
    // The path is not logged: a near miss would put most of the secret in the log.
    tracing::warn!(
        provider,
        "delivery report refused with 404: wrong or unconfigured webhook secret"
    );
    StatusCode::NOT_FOUND
}

async fn twilio_hook(
    State(st): State<FormsState>,
    Path(secret): Path<String>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: String,
) -> StatusCode {
    if !secret_ok(&st.hook_secret, &secret) {
        return wrong_hook_secret(&st, "twilio");
    }
    let form = parse_form(&body);
    // The URL Twilio was given (and signs): ours, as configured, with the path and query
    // the request came to.
    let url = format!(
        "{}{}",
        st.public_base_url,
        uri.path_and_query().map_or(uri.path(), |pq| pq.as_str())
    );
    let signature = headers
        .get(super::twilio::HEADER)
        .and_then(|v| v.to_str().ok());
    let signed =
        signature.is_some_and(|sig| super::twilio::verify(&st.twilio_token, &url, &form, sig));
    if !signed {
        st.refusals.count(PUBLIC, Refusal::BadSignature);
        let why = if st.twilio_token.is_empty() {
            "no Twilio auth token is configured (notify.sms.token)"
        } else if signature.is_none() {
            "no X-Twilio-Signature header"
        } else {
            "X-Twilio-Signature does not match the request"
        };
        // Not the URL: its path holds the webhook secret.
        tracing::warn!("Twilio delivery report refused with 403, nothing changed: {why}");
        return StatusCode::FORBIDDEN;
    }
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let (Some(sid), Some(status)) = (field("MessageSid"), field("MessageStatus")) else {
        return StatusCode::BAD_REQUEST;
    };
    let report = match status.as_str() {
        "sent" => Report::Sent,
        "delivered" | "read" => Report::Delivered,
        "undelivered" | "failed" => Report::Undelivered {
            reason: format!(
                "Twilio {status}, error {}",
                field("ErrorCode").unwrap_or_else(|| "?".into())
            ),
        },
        _ => return StatusCode::OK,
    };
    apply_report(&st, sid, report).await;
    StatusCode::OK
}

async fn infobip_hook(
    State(st): State<FormsState>,
    Path(secret): Path<String>,
    body: String,
) -> StatusCode {
    if !secret_ok(&st.hook_secret, &secret) {
        return wrong_hook_secret(&st, "infobip");
    }
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let Some(results) = v.get("results").and_then(|r| r.as_array()) else {
        return StatusCode::BAD_REQUEST;
    };
    for r in results {
        let Some(id) = r.get("messageId").and_then(|m| m.as_str()) else {
            continue;
        };
        let group = r
            .pointer("/status/groupName")
            .and_then(|g| g.as_str())
            .unwrap_or("");
        let report = match group {
            "DELIVERED" => Report::Delivered,
            "UNDELIVERABLE" | "EXPIRED" | "REJECTED" => Report::Undelivered {
                reason: format!(
                    "Infobip {group}: {}",
                    r.pointer("/status/name")
                        .and_then(|n| n.as_str())
                        .unwrap_or("")
                ),
            },
            _ => continue,
        };
        apply_report(&st, id.to_owned(), report).await;
    }
    StatusCode::OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_decode_plus_and_percent_escapes() {
        assert_eq!(
            parse_form("MessageSid=SM1&MessageStatus=delivered&X=a+b%2Bc%C3%A1&bad=%zz&e"),
            [
                ("MessageSid".into(), "SM1".into()),
                ("MessageStatus".into(), "delivered".into()),
                ("X".into(), "a b+cá".into()),
                ("bad".into(), "%zz".into()),
                ("e".into(), String::new()),
            ]
        );
        assert_eq!(parse_form("a=%4"), [("a".into(), "%4".into())]);
    }

    #[test]
    fn html_pages_escape_text() {
        assert_eq!(
            escape_html("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn webhook_secret_must_match_exactly_and_be_set() {
        assert!(secret_ok("abc", "abc"));
        assert!(!secret_ok("abc", "abd"));
        assert!(!secret_ok("abc", "ab"));
        assert!(!secret_ok("", ""));
    }
}
