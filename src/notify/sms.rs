//! SMS through an HTTP gateway.
//!
//! A gateway is two pure functions — [`SmsGateway::request`] builds the exact HTTP request
//! for one message, [`SmsGateway::classify`] turns the answer into an [`Outcome`] — and
//! [`SmsSender`] does the I/O between them with `reqwest`. Three gateways ship:
//!
//! - [`GenericHttp`]: URL, method, headers and a body template with `{to}`, `{text}` and
//!   `{id}` (the idempotency key), escaped for the body's content type.
//! - [`Twilio`]: `POST {base}/2010-04-01/Accounts/{sid}/Messages.json`, form-encoded `To`,
//!   `From`, `Body` (and `StatusCallback`), HTTP Basic auth with the account SID and auth
//!   token; the answer's `sid` is the provider id.
//! - [`Infobip`]: `POST {base}/sms/2/text/advanced`, `Authorization: App {api key}`, JSON
//!   `{"messages":[{"destinations":[{"to":…,"messageId":…}],"from":…,"text":…}]}`; the
//!   idempotency key is sent as the `messageId`, so reports and retries name the same
//!   message.
//!
//! Classification: 2xx is sent; 408, 429 and 5xx, timeouts and connection failures are
//! transient (RFC 9110 §15.5.9, §15.6; RFC 6585 §4 for 429, whose `Retry-After` is
//! honoured); every other status is permanent. A timeout after the request left may mean
//! the SMS went out: the retry carries the same idempotency key, which only gateways that
//! deduplicate can use.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::notify::outbox::Outcome;

/// One SMS to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sms {
    /// E.164, e.g. `+36301234567`.
    pub to: String,
    /// GSM-7 safe text (see [`crate::notify::text`]).
    pub text: String,
    /// Idempotency key: the same on every attempt.
    pub key: String,
}

/// An HTTP request as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// An HTTP answer as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayResponse {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: String,
}

/// What an SMS gateway looks like to the daemon.
pub trait SmsGateway: Send + Sync {
    /// Short name for logs ("twilio", "infobip", "http").
    fn name(&self) -> &'static str;
    /// The exact request that sends `sms`.
    fn request(&self, sms: &Sms) -> GatewayRequest;
    /// What the answer means.
    fn classify(&self, resp: &GatewayResponse) -> Outcome {
        classify_status(resp, None)
    }
}

/// The shared status rules; `provider_id` is what the gateway found in a 2xx body.
pub fn classify_status(resp: &GatewayResponse, provider_id: Option<String>) -> Outcome {
    let snippet: String = resp.body.chars().take(200).collect();
    match resp.status {
        200..=299 => Outcome::Sent { provider_id },
        408 | 429 | 500..=599 => Outcome::Transient {
            reason: format!("HTTP {}: {snippet}", resp.status),
            retry_after: resp.retry_after,
        },
        s => Outcome::Permanent {
            reason: format!("HTTP {s}: {snippet}"),
        },
    }
}

fn json_field(body: &str, path: &[&str]) -> Option<String> {
    // Some gateways start their JSON with a byte-order mark, which JSON forbids (RFC 8259
    // §8.1: "MUST NOT add a byte order mark") but parsers may ignore; so do we.
    let body = body.trim_start_matches('\u{feff}');
    let root: serde_json::Value = serde_json::from_str(body).ok()?;
    let mut v = &root;
    for p in path {
        v = match p.parse::<usize>() {
            Ok(i) => v.get(i)?,
            Err(_) => v.get(*p)?,
        };
    }
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// What a gateway answer looks like without its values: the top-level field names of a JSON
/// object, or what else it is.
fn answer_shape(body: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(body.trim_start_matches('\u{feff}')) {
        Ok(serde_json::Value::Object(m)) => {
            format!(
                "a JSON object with fields {:?}",
                m.keys().collect::<Vec<_>>()
            )
        }
        Ok(serde_json::Value::Array(a)) => format!("a JSON array of {}", a.len()),
        Ok(_) => "a JSON value that is no object".to_owned(),
        Err(_) if body.trim().is_empty() => "empty".to_owned(),
        Err(_) => format!("not JSON ({} bytes)", body.len()),
    }
}

/// Percent-encoding for `application/x-www-form-urlencoded` (WHATWG URL §5.2: unreserved
/// characters stay, space becomes `+`, everything else `%XX` of its UTF-8 octets).
pub fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char);
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn form_body(pairs: &[(&str, &str)]) -> Vec<u8> {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

/// A gateway described entirely by configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct GenericHttp {
    /// May contain `{to}`, `{text}`, `{id}` (percent-encoded when substituted).
    pub url: String,
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The body, with `{to}`, `{text}`, `{id}` escaped for `content_type`: JSON string
    /// escaping when it mentions `json`, form encoding for
    /// `application/x-www-form-urlencoded`, verbatim otherwise.
    pub body_template: String,
    #[serde(default = "default_content_type")]
    pub content_type: String,
    /// JSON field of a 2xx answer that holds the gateway's message id: a top-level name
    /// (`id`), or a dotted path into nested objects and arrays (`data.id`,
    /// `messages.0.id`).
    #[serde(default)]
    pub id_field: Option<String>,
}

fn default_method() -> String {
    "POST".into()
}

fn default_content_type() -> String {
    "application/json".into()
}

impl GenericHttp {
    fn fill(template: &str, sms: &Sms, escape: impl Fn(&str) -> String) -> String {
        template
            .replace("{to}", &escape(&sms.to))
            .replace("{text}", &escape(&sms.text))
            .replace("{id}", &escape(&sms.key))
    }
}

impl SmsGateway for GenericHttp {
    fn name(&self) -> &'static str {
        "http"
    }

    fn request(&self, sms: &Sms) -> GatewayRequest {
        let ct = self.content_type.to_ascii_lowercase();
        let body = if ct.contains("json") {
            Self::fill(&self.body_template, sms, |v| {
                let quoted = serde_json::Value::String(v.to_owned()).to_string();
                quoted[1..quoted.len() - 1].to_owned()
            })
        } else if ct.starts_with("application/x-www-form-urlencoded") {
            Self::fill(&self.body_template, sms, form_encode)
        } else {
            Self::fill(&self.body_template, sms, str::to_owned)
        };
        let mut headers = vec![("Content-Type".to_owned(), self.content_type.clone())];
        headers.extend(self.headers.iter().cloned());
        headers.push(("Idempotency-Key".to_owned(), sms.key.clone()));
        GatewayRequest {
            method: self.method.to_ascii_uppercase(),
            url: Self::fill(&self.url, sms, form_encode),
            headers,
            body: body.into_bytes(),
        }
    }

    fn classify(&self, resp: &GatewayResponse) -> Outcome {
        let field = self
            .id_field
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty());
        let id = field.and_then(|f| json_field(&resp.body, &f.split('.').collect::<Vec<_>>()));
        if let Some(f) = field
            && id.is_none()
            && (200..300).contains(&resp.status)
        {
            // Sent, but a delivery report will never find this message, and the outbox
            // shows no provider id: say why. Only the answer's field names are logged (its
            // values may quote the recipient).
            tracing::warn!(
                id_field = f,
                answer = %answer_shape(&resp.body),
                "SMS sent, but the gateway's answer has no message id at notify.sms.id_field"
            );
        }
        classify_status(resp, id)
    }
}

/// Twilio's Messages resource.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Twilio {
    /// `https://api.twilio.com` in production.
    #[serde(default = "twilio_base")]
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: String,
    /// Sender number or alphanumeric sender id.
    pub from: String,
    /// Where Twilio posts status callbacks (`/hooks/twilio/{secret}` on our server).
    #[serde(default)]
    pub status_callback: Option<String>,
}

fn twilio_base() -> String {
    "https://api.twilio.com".into()
}

impl SmsGateway for Twilio {
    fn name(&self) -> &'static str {
        "twilio"
    }

    fn request(&self, sms: &Sms) -> GatewayRequest {
        let mut pairs = vec![
            ("To", sms.to.as_str()),
            ("From", self.from.as_str()),
            ("Body", sms.text.as_str()),
        ];
        if let Some(cb) = &self.status_callback {
            pairs.push(("StatusCallback", cb));
        }
        let auth = STANDARD.encode(format!("{}:{}", self.account_sid, self.auth_token));
        GatewayRequest {
            method: "POST".into(),
            url: format!(
                "{}/2010-04-01/Accounts/{}/Messages.json",
                self.base_url.trim_end_matches('/'),
                self.account_sid
            ),
            headers: vec![
                (
                    "Content-Type".into(),
                    "application/x-www-form-urlencoded".into(),
                ),
                ("Authorization".into(), format!("Basic {auth}")),
                ("Accept".into(), "application/json".into()),
            ],
            body: form_body(&pairs),
        }
    }

    fn classify(&self, resp: &GatewayResponse) -> Outcome {
        classify_status(resp, json_field(&resp.body, &["sid"]))
    }
}

/// Infobip's "send SMS message" (advanced) endpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Infobip {
    /// The account's personal base URL, `https://xxxxx.api.infobip.com`.
    pub base_url: String,
    pub api_key: String,
    pub from: String,
    /// Where Infobip posts delivery reports (`/hooks/infobip/{secret}` on our server).
    #[serde(default)]
    pub notify_url: Option<String>,
}

impl SmsGateway for Infobip {
    fn name(&self) -> &'static str {
        "infobip"
    }

    fn request(&self, sms: &Sms) -> GatewayRequest {
        // Infobip takes international format without the "+".
        let to = sms.to.trim_start_matches('+');
        let mut message = serde_json::json!({
            "destinations": [{ "to": to, "messageId": sms.key }],
            "from": self.from,
            "text": sms.text,
        });
        if let Some(url) = &self.notify_url {
            message["notifyUrl"] = serde_json::Value::String(url.clone());
            message["notifyContentType"] = "application/json".into();
        }
        let body = serde_json::json!({ "messages": [message] }).to_string();
        GatewayRequest {
            method: "POST".into(),
            url: format!(
                "{}/sms/2/text/advanced",
                self.base_url.trim_end_matches('/')
            ),
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("Authorization".into(), format!("App {}", self.api_key)),
                ("Accept".into(), "application/json".into()),
            ],
            body: body.into_bytes(),
        }
    }

    fn classify(&self, resp: &GatewayResponse) -> Outcome {
        let id = json_field(&resp.body, &["messages", "0", "messageId"]);
        // A 200 whose message is already REJECTED will never be delivered.
        if (200..300).contains(&resp.status)
            && json_field(&resp.body, &["messages", "0", "status", "groupName"]).as_deref()
                == Some("REJECTED")
        {
            let name =
                json_field(&resp.body, &["messages", "0", "status", "name"]).unwrap_or_default();
            return Outcome::Permanent {
                reason: format!("rejected by Infobip: {name}"),
            };
        }
        classify_status(resp, id)
    }
}

/// Installs ring as the process's TLS crypto provider (reqwest is built without one).
/// Calling it again does nothing.
pub fn install_crypto_provider() {
    let _already = rustls::crypto::ring::default_provider().install_default();
}

/// Checks that the system store has CA certificates to trust, read the way both TLS
/// clients read it: rustls-platform-verifier (under reqwest and lettre) loads them on Linux
/// with rustls-native-certs, from `SSL_CERT_FILE`/`SSL_CERT_DIR` when either is set, else
/// from OpenSSL's places (`/etc/ssl/certs` on Debian, where `update-ca-certificates` puts
/// the Debian package `ca-certificates` and the administrator's own CAs). The store is read
/// when a sender is built, so a CA added later counts after a restart.
///
/// Without any, the verifier cannot be built at all; this says so in words an
/// administrator can act on, with the first problem met while reading.
pub fn system_roots() -> Result<usize, String> {
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() {
        let why = found
            .errors
            .first()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        return Err(format!(
            "expected trusted CA certificates in the system store (/etc/ssl/certs, Debian \
             package ca-certificates), found none{why}"
        ));
    }
    Ok(found.certs.len())
}

/// `e` and every error under it, `: `-separated. reqwest's own message ("error sending
/// request for url …") leaves out the cause an administrator needs, such as
/// "invalid peer certificate: UnknownIssuer".
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let next = c.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = c.source();
    }
    text
}

/// Sends SMS through one gateway.
pub struct SmsSender {
    client: reqwest::Client,
    gateway: Box<dyn SmsGateway>,
}

/// Why a sender could not be built.
#[derive(Debug)]
pub struct SmsSetupError(String);

impl std::fmt::Display for SmsSetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SmsSetupError {}

impl SmsSender {
    /// A sender whose every attempt ends within `timeout`. The gateway's certificate is
    /// checked against the system store (see [`system_roots`]).
    pub fn new(gateway: Box<dyn SmsGateway>, timeout: Duration) -> Result<Self, SmsSetupError> {
        install_crypto_provider();
        system_roots().map_err(SmsSetupError)?;
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| SmsSetupError(format!("SMS gateway HTTP client: {}", with_causes(&e))))?;
        Ok(Self { client, gateway })
    }

    pub fn gateway(&self) -> &dyn SmsGateway {
        self.gateway.as_ref()
    }

    /// One attempt; never fails, every problem is an [`Outcome`].
    pub async fn send(&self, sms: &Sms) -> Outcome {
        let req = self.gateway.request(sms);
        let method = match reqwest::Method::from_bytes(req.method.as_bytes()) {
            Ok(m) => m,
            Err(_) => {
                return Outcome::Permanent {
                    reason: format!("expected an HTTP method, found {:?}", req.method),
                };
            }
        };
        let mut builder = self.client.request(method, &req.url).body(req.body);
        for (k, v) in &req.headers {
            builder = builder.header(k, v);
        }
        let resp = match builder.send().await {
            Ok(r) => r,
            Err(e) if e.is_builder() => {
                return Outcome::Permanent {
                    reason: format!("bad gateway request: {e}"),
                };
            }
            Err(e) => {
                return Outcome::Transient {
                    reason: format!("{} unreachable: {}", self.gateway.name(), with_causes(&e)),
                    retry_after: None,
                };
            }
        };
        let status = resp.status().as_u16();
        // RFC 9110 §10.2.3: Retry-After = HTTP-date / delay-seconds; only the seconds form
        // is used (a date would need the wall clock).
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = match resp.text().await {
            Ok(b) => b,
            Err(e) => {
                return Outcome::Transient {
                    reason: format!(
                        "{} answer unreadable: {}",
                        self.gateway.name(),
                        with_causes(&e)
                    ),
                    retry_after: None,
                };
            }
        };
        self.gateway.classify(&GatewayResponse {
            status,
            retry_after,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sms() -> Sms {
        Sms {
            to: "+36301234567".into(),
            text: "Kerem \"toltse\" le & hozza: https://x/f/AB_c".into(),
            key: "k-1".into(),
        }
    }

    fn resp(status: u16, body: &str) -> GatewayResponse {
        GatewayResponse {
            status,
            retry_after: None,
            body: body.into(),
        }
    }

    #[test]
    fn statuses_split_into_sent_transient_and_permanent() {
        let g = GenericHttp {
            url: "http://gw/send".into(),
            method: "POST".into(),
            headers: vec![],
            body_template: String::new(),
            content_type: "application/json".into(),
            id_field: Some("id".into()),
        };
        assert_eq!(
            g.classify(&resp(200, r#"{"id":"abc"}"#)),
            Outcome::Sent {
                provider_id: Some("abc".into())
            }
        );
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(
                matches!(g.classify(&resp(s, "")), Outcome::Transient { .. }),
                "{s}"
            );
        }
        for s in [400, 401, 403, 404, 422] {
            assert!(
                matches!(g.classify(&resp(s, "")), Outcome::Permanent { .. }),
                "{s}"
            );
        }
    }

    #[test]
    fn generic_id_field_reads_nested_paths_and_answers_with_a_byte_order_mark() {
        let with = |field: &str| GenericHttp {
            url: "http://gw/send".into(),
            method: "POST".into(),
            headers: vec![],
            body_template: String::new(),
            content_type: "application/json".into(),
            id_field: Some(field.into()),
        };
        let sent = |id: &str| Outcome::Sent {
            provider_id: Some(id.into()),
        };
        assert_eq!(
            with("id").classify(&resp(200, "\u{feff}{\"id\":\"gw-123\"}")),
            sent("gw-123")
        );
        assert_eq!(
            with("data.id").classify(&resp(201, r#"{"data":{"id":77}}"#)),
            sent("77")
        );
        assert_eq!(
            with("messages.0.id").classify(&resp(200, r#"{"messages":[{"id":"m-1"}]}"#)),
            sent("m-1")
        );
        assert_eq!(
            with("id").classify(&resp(200, r#"{"messageId":"x"}"#)),
            Outcome::Sent { provider_id: None },
            "a missing field leaves it empty (and is logged)"
        );
        assert_eq!(
            answer_shape(r#"{"messageId":"x","to":"+36301234567"}"#),
            r#"a JSON object with fields ["messageId", "to"]"#
        );
    }

    #[test]
    fn generic_template_escapes_for_json_and_form_bodies() {
        let mut g = GenericHttp {
            url: "http://gw/send?to={to}".into(),
            method: "post".into(),
            headers: vec![("X-Api-Key".into(), "secret".into())],
            body_template: r#"{"to":"{to}","msg":"{text}","ref":"{id}"}"#.into(),
            content_type: "application/json".into(),
            id_field: None,
        };
        let r = g.request(&sms());
        assert_eq!(r.method, "POST");
        assert_eq!(r.url, "http://gw/send?to=%2B36301234567");
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("valid JSON");
        assert_eq!(v["msg"], sms().text);
        assert_eq!(v["ref"], "k-1");
        g.content_type = "application/x-www-form-urlencoded".into();
        g.body_template = "to={to}&text={text}".into();
        let r = g.request(&sms());
        assert_eq!(
            String::from_utf8(r.body).expect("ASCII"),
            "to=%2B36301234567&text=Kerem+%22toltse%22+le+%26+hozza%3A+https%3A%2F%2Fx%2Ff%2FAB_c"
        );
    }

    #[test]
    fn infobip_rejected_in_a_200_is_permanent() {
        let g = Infobip {
            base_url: "http://gw".into(),
            api_key: "k".into(),
            from: "Hivatal".into(),
            notify_url: None,
        };
        let body = r#"{"messages":[{"messageId":"m1","status":{"groupName":"REJECTED","name":"REJECTED_DESTINATION"}}]}"#;
        assert_eq!(
            g.classify(&resp(200, body)),
            Outcome::Permanent {
                reason: "rejected by Infobip: REJECTED_DESTINATION".into()
            }
        );
        let ok = r#"{"messages":[{"messageId":"m1","status":{"groupName":"PENDING"}}]}"#;
        assert_eq!(
            g.classify(&resp(200, ok)),
            Outcome::Sent {
                provider_id: Some("m1".into())
            }
        );
    }
}
