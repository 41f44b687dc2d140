//! Email through SMTP with `lettre` (async, pooled).
//!
//! Security per configuration: `starttls` (RFC 3207, port 587), `tls` (implicit TLS,
//! RFC 8314 §3.3, port 465) or `none` — refused unless the host is loopback, so a plain
//! connection can only be a local relay. The server's certificate must chain to a CA of
//! the system store (rustls-platform-verifier, as for the SMS gateway; see
//! [`crate::notify::sms::system_roots`]) or to `ca_file`. Mail is `multipart/mixed` with a UTF-8
//! `text/plain` part and, for forms, the PDF attached; a form larger than
//! `attach_limit_bytes` is linked instead. The `Message-ID` is derived from the outbox
//! idempotency key (`<key@domain>`, RFC 5322 §3.6.4), so a retry after a crash is the same
//! message to any server or client that deduplicates by it.
//!
//! Classification: SMTP 4yz replies are transient and 5yz permanent (RFC 5321 §4.2.1);
//! connection failures and timeouts are transient; a message that cannot be built (bad
//! address) is permanent.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::notify::outbox::Outcome;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Plain SMTP, then `STARTTLS` (required).
    Starttls,
    /// TLS from the first byte.
    Tls,
    /// No TLS: only for a relay on loopback.
    None,
}

/// `[notify.smtp]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: Security,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// `From:` mailbox, e.g. `"Polgármesteri Hivatal <ugyelet@example.hu>"`.
    pub from: String,
    /// Right-hand side of Message-IDs.
    pub message_id_domain: String,
    #[serde(default = "default_timeout_s")]
    pub timeout_s: u64,
    /// A PEM file with an extra trusted root (an internal CA, or a test certificate).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Forms larger than this are linked, not attached.
    #[serde(default = "default_attach_limit")]
    pub attach_limit_bytes: usize,
}

fn default_timeout_s() -> u64 {
    30
}

fn default_attach_limit() -> usize {
    5 * 1024 * 1024
}

/// A file attached to an email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAttachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// One email to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub body: String,
    pub attachment: Option<EmailAttachment>,
    /// Outbox idempotency key; becomes the Message-ID.
    pub key: String,
}

/// Builds the Hungarian mail for a requested form: attached when it is at most
/// `attach_limit` bytes, otherwise linked at `link`.
pub fn form_email(
    to: &str,
    key: &str,
    title: &str,
    file_name: &str,
    bytes: Vec<u8>,
    link: &str,
    attach_limit: usize,
) -> Email {
    let greeting = "Tisztelt Ügyfelünk!\n\n";
    let closing = "\n\nÜdvözlettel:\nPolgármesteri Hivatal – ügyeleti vonal\n\n\
                   Ez egy automatikus üzenet, kérjük, ne válaszoljon rá.\n";
    let (body, attachment) = if bytes.len() <= attach_limit {
        (
            format!(
                "{greeting}Telefonos kérésére mellékelten küldjük a(z) „{title}” \
                 nyomtatványt. Kérjük, töltse ki, és hozza magával ügyintézéskor.{closing}"
            ),
            Some(EmailAttachment {
                filename: file_name.to_owned(),
                content_type: "application/pdf".to_owned(),
                bytes,
            }),
        )
    } else {
        (
            format!(
                "{greeting}Telefonos kérésére küldjük a(z) „{title}” nyomtatványt. \
                 Mérete miatt nem csatoltuk; innen töltheti le:\n{link}{closing}"
            ),
            None,
        )
    };
    Email {
        to: to.to_owned(),
        subject: format!("Kért nyomtatvány: {title}"),
        body,
        attachment,
        key: key.to_owned(),
    }
}

/// Why an email sender could not be set up.
#[derive(Debug)]
pub enum EmailError {
    /// `security = "none"` for a host that is not loopback.
    PlainToRemote {
        host: String,
    },
    BadFrom {
        found: String,
        reason: String,
    },
    CaFile {
        path: PathBuf,
        reason: String,
    },
    /// TLS asked for, no `ca_file`, and the system store holds no CA certificate.
    NoTrustedRoots(String),
    Tls(String),
}

impl std::fmt::Display for EmailError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PlainToRemote { host } => write!(
                f,
                "expected security \"starttls\" or \"tls\" for SMTP host {host:?}; \"none\" is \
                 only for 127.0.0.1, ::1 or localhost"
            ),
            Self::BadFrom { found, reason } => {
                write!(f, "expected a From mailbox, found {found:?}: {reason}")
            }
            Self::CaFile { path, reason } => write!(f, "{}: {reason}", path.display()),
            Self::NoTrustedRoots(why) => f.write_str(why),
            Self::Tls(e) => write!(f, "SMTP TLS setup: {e}"),
        }
    }
}

impl std::error::Error for EmailError {}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Sends email through one SMTP server with a connection pool.
pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    message_id_domain: String,
}

/// The sender's From mailbox and TLS settings: everything [`EmailSender::new`] checks.
fn from_and_tls(cfg: &SmtpConfig) -> Result<(Mailbox, Tls), EmailError> {
    crate::notify::sms::install_crypto_provider();
    let from: Mailbox = cfg.from.parse().map_err(|e| EmailError::BadFrom {
        found: cfg.from.clone(),
        reason: format!("{e}"),
    })?;
    let tls_params = || -> Result<TlsParameters, EmailError> {
        // The server's certificate is checked against the system store (rustls-platform-
        // verifier: /etc/ssl/certs on Debian, read once here) plus `ca_file`.
        if cfg.ca_file.is_none() {
            crate::notify::sms::system_roots().map_err(EmailError::NoTrustedRoots)?;
        }
        let mut b = TlsParameters::builder(cfg.host.clone());
        if let Some(path) = &cfg.ca_file {
            let pem = std::fs::read(path).map_err(|e| EmailError::CaFile {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let cert = Certificate::from_pem(&pem).map_err(|e| EmailError::CaFile {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            b = b.add_root_certificate(cert);
        }
        b.build_rustls().map_err(|e| EmailError::Tls(e.to_string()))
    };
    let tls = match cfg.security {
        Security::Starttls => Tls::Required(tls_params()?),
        Security::Tls => Tls::Wrapper(tls_params()?),
        Security::None if is_loopback(&cfg.host) => Tls::None,
        Security::None => {
            return Err(EmailError::PlainToRemote {
                host: cfg.host.clone(),
            });
        }
    };
    Ok((from, tls))
}

impl EmailSender {
    /// Checks `cfg` as [`EmailSender::new`] would, without building the pooled transport
    /// (which needs a Tokio runtime): for `ugyelet check` and the start-up checks.
    pub fn check(cfg: &SmtpConfig) -> Result<(), EmailError> {
        from_and_tls(cfg).map(drop)
    }

    /// Must run inside a Tokio runtime: the connection pool starts a task.
    pub fn new(cfg: &SmtpConfig) -> Result<Self, EmailError> {
        let (from, tls) = from_and_tls(cfg)?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host)
            .port(cfg.port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(cfg.timeout_s)))
            .pool_config(PoolConfig::new().max_size(4));
        if let (Some(u), Some(p)) = (&cfg.username, &cfg.password) {
            builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            message_id_domain: cfg.message_id_domain.clone(),
        })
    }

    /// The Message-ID for an idempotency key.
    pub fn message_id(&self, key: &str) -> String {
        format!("<{key}@{}>", self.message_id_domain)
    }

    /// Builds the MIME message (public for tests and previews).
    pub fn build(&self, email: &Email) -> Result<Message, String> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|e| format!("expected an email address, found {:?}: {e}", email.to))?;
        let text = SinglePart::builder()
            .header(ContentType::TEXT_PLAIN)
            .body(email.body.clone());
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .message_id(Some(self.message_id(&email.key)));
        let built = match &email.attachment {
            None => builder.multipart(MultiPart::mixed().singlepart(text)),
            Some(a) => {
                let ct = ContentType::parse(&a.content_type)
                    .map_err(|e| format!("content type {:?}: {e}", a.content_type))?;
                builder.multipart(
                    MultiPart::mixed()
                        .singlepart(text)
                        .singlepart(Attachment::new(a.filename.clone()).body(a.bytes.clone(), ct)),
                )
            }
        };
        built.map_err(|e| format!("cannot build the message: {e}"))
    }

    /// One attempt; never fails, every problem is an [`Outcome`].
    pub async fn send(&self, email: &Email) -> Outcome {
        let msg = match self.build(email) {
            Ok(m) => m,
            Err(reason) => return Outcome::Permanent { reason },
        };
        match self.transport.send(msg).await {
            Ok(_) => Outcome::Sent {
                provider_id: Some(self.message_id(&email.key)),
            },
            Err(e) if e.is_permanent() => Outcome::Permanent {
                reason: format!("SMTP: {e}"),
            },
            Err(e) => Outcome::Transient {
                reason: format!("SMTP: {e}"),
                retry_after: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(host: &str, security: Security) -> SmtpConfig {
        SmtpConfig {
            host: host.into(),
            port: 25,
            security,
            username: None,
            password: None,
            from: "Hivatal <ugyelet@example.hu>".into(),
            message_id_domain: "ugyelet.example.hu".into(),
            timeout_s: 5,
            ca_file: None,
            attach_limit_bytes: 100,
        }
    }

    // The pooled transport needs a Tokio runtime even to be dropped.
    #[tokio::test]
    async fn plain_smtp_is_only_for_loopback() {
        for host in ["127.0.0.1", "::1", "[::1]", "localhost"] {
            assert!(
                EmailSender::new(&cfg(host, Security::None)).is_ok(),
                "{host}"
            );
        }
        let err = EmailSender::new(&cfg("mail.example.hu", Security::None))
            .err()
            .expect("refused");
        assert_eq!(
            err.to_string(),
            "expected security \"starttls\" or \"tls\" for SMTP host \"mail.example.hu\"; \
             \"none\" is only for 127.0.0.1, ::1 or localhost"
        );
    }

    #[test]
    fn large_forms_are_linked_small_ones_attached() {
        let small = form_email(
            "a@b.hu",
            "k",
            "Lakcímbejelentés",
            "l.pdf",
            vec![1; 100],
            "L",
            100,
        );
        assert!(small.attachment.is_some());
        assert!(!small.body.contains('L') || !small.body.contains("\nL"));
        let big = form_email(
            "a@b.hu",
            "k",
            "Lakcímbejelentés",
            "l.pdf",
            vec![1; 101],
            "https://x/f/T",
            100,
        );
        assert_eq!(big.attachment, None);
        assert!(big.body.contains("https://x/f/T"), "{}", big.body);
        assert_eq!(big.subject, "Kért nyomtatvány: Lakcímbejelentés");
    }

    #[tokio::test]
    async fn the_message_id_comes_from_the_idempotency_key() {
        let s = EmailSender::new(&cfg("127.0.0.1", Security::None)).expect("loopback");
        let mail = form_email(
            "lakos@example.hu",
            "abc123",
            "Lakcímbejelentés",
            "l.pdf",
            vec![],
            "",
            10,
        );
        let raw = String::from_utf8(s.build(&mail).expect("valid").formatted()).expect("ASCII");
        assert!(
            raw.contains("Message-ID: <abc123@ugyelet.example.hu>"),
            "{raw}"
        );
        let bad = Email {
            to: "nem cím".into(),
            ..mail
        };
        assert!(s.build(&bad).is_err());
    }
}
