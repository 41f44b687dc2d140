//! Typed configuration.
//!
//! Sources, later ones winning:
//!
//! 1. built-in defaults (the [`Default`] impls below): with no file at all the daemon listens on
//!    `0.0.0.0:5060`, answers every call and speaks the menu from `prompts/hu`;
//! 2. the TOML file given with `--config` (`config/ugyelet.toml` documents every key);
//! 3. the environment: `UGYELET_<SECTION>__<KEY>`, e.g. `UGYELET_SIP__LISTEN=127.0.0.1:5080`.
//!
//! A configuration is an immutable value. [`Config::validate`] reports every problem at once,
//! each naming its key, so an admin fixes a file in one pass rather than one error per restart.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

mod callbacks;
mod http;
mod sip_udp;
mod tls;
mod trunk;
mod values;
pub use callbacks::CallbacksConfig;
pub use http::HttpConfig;
pub use sip_udp::SipUdpConfig;
use std::path::{Path, PathBuf};
use std::time::Duration;
pub use tls::TlsConfig;
pub use trunk::{NumberFormat, TrunkConfig};
pub use values::log_filter;
use values::{socket_addr, value_source};

use serde::Deserialize;

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub sip: SipConfig,
    pub rtp: RtpConfig,
    pub call: CallConfig,
    pub prompts: PromptsConfig,
    pub dialplan: DialplanConfig,
    pub admin: AdminConfig,
    pub state: StateConfig,
    pub forms: FormsConfig,
    pub knowledge: KnowledgeConfig,
    pub operators: OperatorsConfig,
    pub notify: NotifyConfig,
    pub records: RecordsConfig,
    pub log: LogConfig,
    pub trunk: TrunkConfig,
    pub callbacks: CallbacksConfig,
    pub http: HttpConfig,
    pub tls: TlsConfig,
}

/// `[sip]`: signalling.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SipConfig {
    /// Address for both UDP and TCP.
    #[serde(deserialize_with = "socket_addr")]
    pub listen: SocketAddr,
    /// Serve SIP over TCP as well as UDP.
    pub tcp: bool,
    /// Address written into Via, Contact and SDP when `listen` is a wildcard address and the
    /// address towards the peer should not be guessed (e.g. behind 1:1 NAT).
    pub public_addr: Option<IpAddr>,
    /// RFC 3261 §17.1.1.1 T1, in milliseconds (RTT estimate).
    pub t1_ms: u64,
    /// RFC 3261 §17.1.2.2 T2, in milliseconds (maximum retransmit interval).
    pub t2_ms: u64,
    /// RFC 3261 §17.1.2.2 T4, in milliseconds (maximum time a message stays in the network).
    pub t4_ms: u64,
    /// Largest SIP message accepted, in bytes; bigger ones are refused before parsing.
    pub max_message_bytes: usize,
    /// `User-Agent` / `Server` header value.
    pub user_agent: String,
    /// Messages per second one source (address and port) may send on average.
    pub rate_limit_per_s: f64,
    /// Messages one source may send in a burst.
    pub rate_limit_burst: f64,
    /// Messages per second one IP address may send on average, all its ports together
    /// (several phones behind one office NAT share it; a trunk needs it raised).
    pub rate_limit_per_address_s: f64,
    /// Messages one IP address may send in a burst.
    pub rate_limit_address_burst: f64,
    /// Seconds a source that keeps flooding is ignored (doubling on each repeat).
    pub block_s: u64,
    /// Addresses or prefixes never rate-limited: the provider's trunk or the office SBC,
    /// which carry every call from one address (`["192.0.2.10", "10.20.0.0/16"]`).
    pub rate_limit_exempt: Vec<crate::sip::ratelimit::Prefix>,
    /// Digest authentication realm (RFC 3261 §22.1). Stored HA1s are hashes of
    /// `name:realm:password`, so changing it means setting every operator password again.
    pub realm: String,
    /// Digest algorithms challenged with, most preferred first: "MD5", "SHA-256".
    pub digest_algorithms: Vec<String>,
    /// Operator accounts (`ugyelet passwd` writes it; HA1 digests only, no passwords).
    pub operators: PathBuf,
    /// `[sip.udp]`: the socket's receive buffer, and refusing calls when behind it.
    pub udp: SipUdpConfig,
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 5060)),
            tcp: true,
            public_addr: None,
            t1_ms: 500,
            t2_ms: 4000,
            t4_ms: 5000,
            max_message_bytes: 16 * 1024,
            user_agent: concat!("ugyelet/", env!("CARGO_PKG_VERSION")).to_owned(),
            rate_limit_per_s: 50.0,
            rate_limit_burst: 100.0,
            rate_limit_per_address_s: 200.0,
            rate_limit_address_burst: 400.0,
            block_s: 60,
            rate_limit_exempt: Vec::new(),
            realm: "ugyelet".to_owned(),
            // baresip 1.x (libre) refuses a 401 as soon as any of its challenges is not
            // MD5, so SHA-256 is opt-in until every operator phone handles it.
            digest_algorithms: vec!["MD5".to_owned()],
            operators: PathBuf::from("config/operators.toml"),
            udp: SipUdpConfig::default(),
        }
    }
}

/// `[rtp]`: media ports.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RtpConfig {
    /// Lowest RTP port (even). The default range stays below Linux's ephemeral ports
    /// (32768–60999) so outgoing connections never take a media port.
    pub port_min: u16,
    /// Highest RTP port.
    pub port_max: u16,
    /// Hang up when no RTP arrives for this many seconds on an answered call (0 = never).
    pub inactivity_timeout_s: u64,
    /// Send media to an SDP address on another host than the call's signalling before any
    /// media arrived from it. Off: such calls get media only once the far end sends some
    /// (so the line cannot be used to reflect prompts at a third party).
    pub trust_sdp_address: bool,
}

impl Default for RtpConfig {
    fn default() -> Self {
        RtpConfig {
            port_min: 16384,
            port_max: 32766,
            inactivity_timeout_s: 60,
            trust_sdp_address: false,
        }
    }
}

/// `[call]`: per-call behaviour.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallConfig {
    /// How long the caller hears ringing (after 180) before the line answers.
    pub answer_delay_ms: u64,
    /// Hard limit on one call, in seconds.
    pub max_duration_s: u64,
    /// On SIGTERM, how long calls in progress may go on (new calls get 503 meanwhile).
    pub drain_timeout_s: u64,
}

impl Default for CallConfig {
    fn default() -> Self {
        CallConfig {
            answer_delay_ms: 500,
            max_duration_s: 3600,
            drain_timeout_s: 300,
        }
    }
}

/// `[prompts]`: the voice.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PromptsConfig {
    /// Directory holding `manifest.toml` and the WAV files it names.
    pub dir: PathBuf,
}

impl Default for PromptsConfig {
    fn default() -> Self {
        PromptsConfig {
            dir: PathBuf::from("prompts/hu"),
        }
    }
}

/// `[dialplan]`: what the line does.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DialplanConfig {
    /// The dial plan file. Its `calendar` key names the calendar directory next to it.
    pub path: PathBuf,
    /// How often to look for edited plan, calendar and prompt files, in milliseconds
    /// (0: only on SIGHUP or the admin API's reload).
    pub watch_interval_ms: u64,
    /// Operator queues `queue` nodes may name (and operators' transfers, by name).
    pub queues: Vec<String>,
}

impl Default for DialplanConfig {
    fn default() -> Self {
        DialplanConfig {
            path: PathBuf::from("dialplans/main.toml"),
            watch_interval_ms: 2000,
            queues: vec!["operators".to_owned()],
        }
    }
}

/// `[admin]`: the HTTP admin API.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Address of the admin API and the web console; empty string to disable both.
    /// Loopback by default: anything else requires `token`, and `behind_https_proxy`
    /// (the console's passwords and cookies must not cross a network in clear text).
    pub listen: String,
    /// Bearer token required on every JSON API request (set it with `UGYELET_ADMIN__TOKEN`).
    /// The console's pages use logins instead.
    pub token: Option<String>,
    /// The listener is reached only through a reverse proxy that terminates HTTPS on this
    /// host: cookies are marked `Secure` and the client address is taken from the proxy's
    /// `X-Forwarded-For` (trusted from loopback peers only).
    pub behind_https_proxy: bool,
    /// A console session unused this many minutes ends.
    pub session_idle_minutes: u64,
    /// A console session ends this many hours after login, however busy.
    pub session_max_hours: u64,
    /// The console's address as operators' browsers reach it (`https://ugyelet.example.hu`),
    /// for the screen-pop link in calls to operators; empty: see
    /// [`AdminConfig::console_base`].
    pub console_url: String,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: "127.0.0.1:8080".to_owned(),
            token: None,
            behind_https_proxy: false,
            session_idle_minutes: 30,
            session_max_hours: 12,
            console_url: String::new(),
        }
    }
}

/// `[state]`: what the daemon keeps across restarts.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StateConfig {
    /// Directory for the manual override and (later) the call records and outbox.
    pub dir: PathBuf,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            dir: PathBuf::from("state"),
        }
    }
}

/// `[records]`: call records (CDR) and how long personal data is kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordsConfig {
    /// After this many days the caller's number in a record becomes a pseudonym.
    pub pseudonymize_after_days: u64,
    /// After this many days a record is deleted.
    pub retention_days: u64,
    /// Salt of the pseudonyms; unset: a random one kept in the state directory.
    pub salt: Option<String>,
}

impl Default for RecordsConfig {
    fn default() -> Self {
        RecordsConfig {
            pseudonymize_after_days: 90,
            retention_days: 730,
            salt: None,
        }
    }
}

/// `[forms]`: the forms catalog.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FormsConfig {
    /// The catalog file (`[[form]]` entries with `id` and `title`).
    pub catalog: PathBuf,
}

impl Default for FormsConfig {
    fn default() -> Self {
        FormsConfig {
            catalog: PathBuf::from("config/forms.toml"),
        }
    }
}

/// `[knowledge]`: the operators' knowledge base.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KnowledgeConfig {
    /// Directory of the articles (`*.md`, see `knowledge/README.md`); empty: no knowledge
    /// base. A directory that does not exist gives an empty one and a warning.
    pub dir: PathBuf,
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        KnowledgeConfig {
            dir: PathBuf::from("knowledge"),
        }
    }
}

/// How the operator queue offers calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueStrategy {
    /// One operator at a time, the longest idle first.
    LongestIdle,
    /// Every free operator at once; the first to answer takes the call.
    RingAll,
}

/// `[operators]`: registration and the operator queue (the accounts file is `sip.operators`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OperatorsConfig {
    pub strategy: QueueStrategy,
    /// How long an operator's phone rings before the next operator is tried.
    pub ring_timeout_s: u64,
    /// How long a caller waits for an on-site operator before teleworkers are rung too.
    pub overflow_after_s: u64,
    /// Pause after each call before the operator gets the next one.
    pub wrap_up_s: u64,
    /// Calls missed in a row after which an operator is paused.
    pub max_missed: u32,
    /// Longest wait in the queue; then the queue node's `no_agents` branch.
    pub max_wait_s: u64,
    /// How often a waiting caller hears their position and the expected wait.
    pub announce_every_s: u64,
    /// Expected length of a call before any has been measured (for the wait estimate).
    pub handle_time_s: u64,
    /// Registration lifetimes granted (seconds).
    pub min_expires_s: u32,
    pub max_expires_s: u32,
    /// Keep-alive interval towards registered phones over UDP (OPTIONS), seconds.
    pub keepalive_udp_s: u64,
}

impl Default for OperatorsConfig {
    fn default() -> Self {
        OperatorsConfig {
            strategy: QueueStrategy::LongestIdle,
            ring_timeout_s: 20,
            overflow_after_s: 30,
            wrap_up_s: 10,
            max_missed: 3,
            max_wait_s: 600,
            announce_every_s: 45,
            handle_time_s: 180,
            min_expires_s: 60,
            max_expires_s: 3600,
            keepalive_udp_s: 25,
        }
    }
}

/// `[notify]`: forms by SMS link and email, the durable outbox, the public HTTP listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// The outbox database; unset: `outbox.db` in `state.dir`.
    pub db: Option<PathBuf>,
    /// Secret the download links are signed with (at least 32 bytes). Unset: a random one
    /// is made once and kept in `state.dir/link.secret` (mode 0600), so links survive
    /// restarts.
    pub link_secret: Option<String>,
    /// Start of every download link, as residents' phones reach the public listener.
    pub public_base_url: String,
    /// Address of the public listener (form downloads, delivery webhooks); empty: none.
    pub public_listen: String,
    /// Hours a download link stays valid.
    pub link_ttl_h: u64,
    /// Secret path segment of the delivery-report webhooks; unset: webhooks refused.
    pub hook_secret: Option<String>,
    /// First retry delay after a transient failure, in milliseconds (doubles each time).
    pub retry_initial_ms: u64,
    /// Longest retry delay, in seconds.
    pub retry_max_s: u64,
    /// Attempts before a message is marked failed.
    pub max_attempts: u32,
    /// Spread of the retry delays, as a fraction (0.0 to 1.0).
    pub retry_jitter: f64,
    /// SMS to one number at most this many per rolling hour ...
    pub sms_per_hour: u32,
    /// ... and this many per rolling day (0: no limit).
    pub sms_per_day: u32,
    /// Days after which finished messages (sent, delivered, failed) and handled voice
    /// messages with their recordings are deleted (0: kept for ever).
    pub retention_days: u64,
    pub sms: SmsConfig,
    pub smtp: SmtpSection,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            db: None,
            link_secret: None,
            public_base_url: "http://127.0.0.1:8081".to_owned(),
            public_listen: "127.0.0.1:8081".to_owned(),
            link_ttl_h: 72,
            hook_secret: None,
            retry_initial_ms: 10_000,
            retry_max_s: 1800,
            max_attempts: 12,
            retry_jitter: 0.2,
            sms_per_hour: 3,
            sms_per_day: 10,
            retention_days: 90,
            sms: SmsConfig::default(),
            smtp: SmtpSection::default(),
        }
    }
}

impl NotifyConfig {
    /// Where the outbox database lives.
    pub fn db_path(&self, state_dir: &Path) -> PathBuf {
        self.db
            .clone()
            .unwrap_or_else(|| state_dir.join("outbox.db"))
    }
}

/// Which SMS gateway adapter sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsKind {
    /// No gateway: SMS requests fail at once and the caller is told so.
    None,
    /// Any HTTP gateway: `url`, `method`, `headers`, `body_template`, `content_type`.
    Generic,
    Twilio,
    Infobip,
}

impl SmsKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SmsKind::None => "none",
            SmsKind::Generic => "generic",
            SmsKind::Twilio => "twilio",
            SmsKind::Infobip => "infobip",
        }
    }
}

/// `[notify.sms]`: the SMS gateway. Which keys matter depends on `kind`. Its `Debug`
/// hides the token and the extra headers' values (an API key is often one).
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsConfig {
    pub kind: SmsKind,
    /// Every attempt ends within this many seconds.
    pub timeout_s: u64,
    /// generic: URL, may contain `{to}`, `{text}`, `{id}`.
    pub url: String,
    /// generic: HTTP method.
    pub method: String,
    /// generic: extra headers, e.g. `[["X-Api-Key", "..."]]`.
    pub headers: Vec<(String, String)>,
    /// generic: body with `{to}`, `{text}`, `{id}` escaped for `content_type`.
    pub body_template: String,
    /// generic: the body's content type.
    pub content_type: String,
    /// generic: JSON field of the answer with the gateway's message id (`id`, or a dotted
    /// path such as `data.id`).
    pub id_field: Option<String>,
    /// twilio, infobip: API base URL (twilio defaults to `https://api.twilio.com`).
    pub base_url: String,
    /// twilio: account SID.
    pub account_sid: String,
    /// twilio: auth token (also checks the webhooks' signatures); infobip: API key. Better
    /// from the environment or `token_file`.
    pub token: Option<String>,
    /// A file whose first line is the token (a systemd credential, say); wins over `token`.
    pub token_file: Option<PathBuf>,
    /// twilio, infobip: sender number or alphanumeric sender id.
    pub from: String,
}

impl fmt::Debug for SmsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, _)| (name.as_str(), "***"))
            .collect();
        f.debug_struct("SmsConfig")
            .field("kind", &self.kind)
            .field("timeout_s", &self.timeout_s)
            .field("url", &self.url)
            .field("method", &self.method)
            .field("headers", &headers)
            .field("content_type", &self.content_type)
            .field("id_field", &self.id_field)
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("token_file", &self.token_file)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl Default for SmsConfig {
    fn default() -> Self {
        SmsConfig {
            kind: SmsKind::None,
            timeout_s: 10,
            url: String::new(),
            method: "POST".to_owned(),
            headers: Vec::new(),
            body_template: String::new(),
            content_type: "application/json".to_owned(),
            id_field: None,
            base_url: String::new(),
            account_sid: String::new(),
            token: None,
            token_file: None,
            from: String::new(),
        }
    }
}

/// `[notify.smtp]`: outgoing email. An empty `host` means no email.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpSection {
    pub host: String,
    pub port: u16,
    /// `starttls`, `tls` (implicit) or `none` (only to a relay on loopback).
    pub security: crate::notify::email::Security,
    pub username: Option<String>,
    /// Better from the environment: `UGYELET_NOTIFY__SMTP__PASSWORD`.
    pub password: Option<String>,
    /// `From:` mailbox.
    pub from: String,
    /// Right-hand side of Message-IDs; empty: the domain of `from`.
    pub message_id_domain: String,
    /// The office mailbox that voice messages and callback requests go to.
    pub office: Option<String>,
    pub timeout_s: u64,
    /// A PEM file with an extra trusted root certificate.
    pub ca_file: Option<PathBuf>,
    /// Forms larger than this are linked, not attached.
    pub attach_limit_bytes: usize,
}

impl Default for SmtpSection {
    fn default() -> Self {
        SmtpSection {
            host: String::new(),
            port: 587,
            security: crate::notify::email::Security::Starttls,
            username: None,
            password: None,
            from: String::new(),
            message_id_domain: String::new(),
            office: None,
            timeout_s: 30,
            ca_file: None,
            attach_limit_bytes: 5 * 1024 * 1024,
        }
    }
}

impl SmtpSection {
    /// The sender's settings, when email is configured.
    pub fn sender_config(&self) -> Option<crate::notify::email::SmtpConfig> {
        if self.host.is_empty() {
            return None;
        }
        let domain = if self.message_id_domain.is_empty() {
            self.from
                .rsplit('@')
                .next()
                .unwrap_or("localhost")
                .trim_end_matches('>')
                .to_owned()
        } else {
            self.message_id_domain.clone()
        };
        Some(crate::notify::email::SmtpConfig {
            host: self.host.clone(),
            port: self.port,
            security: self.security,
            username: self.username.clone(),
            password: self.password.clone(),
            from: self.from.clone(),
            message_id_domain: domain,
            timeout_s: self.timeout_s,
            ca_file: self.ca_file.clone(),
            attach_limit_bytes: self.attach_limit_bytes,
        })
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum LogFormat {
    Text,
    Json,
}

impl TryFrom<String> for LogFormat {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("expected \"text\" or \"json\", found \"{s}\"")),
        }
    }
}

/// `[log]`: logging.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter such as `info` or `ugyelet=debug`; `RUST_LOG` wins when set.
    pub level: String,
    /// `text` (human-readable) or `json`.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug)]
pub enum ConfigError {
    /// The file or the environment could not be read or did not fit the schema.
    Load(String),
    /// Values that parsed but make no sense together; every problem is listed.
    Invalid(Vec<String>),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Load(msg) => write!(f, "configuration: {msg}"),
            ConfigError::Invalid(problems) => {
                write!(f, "configuration has {} problem(s):", problems.len())?;
                for p in problems {
                    write!(f, "\n  {p}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// Environment variable prefix: `UGYELET_SIP__LISTEN` sets `sip.listen`.
pub const ENV_PREFIX: &str = "UGYELET";

impl Config {
    /// Loads defaults, then `file` (required when given), then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with_env(file, std::env::vars())
    }

    /// As [`Config::load`] with an explicit environment, so tests need not touch the process's.
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            builder = builder.add_source(
                config::File::from(path)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        // Every key is in a section, so a configuration variable always has `__`; others
        // with the prefix (`UGYELET_PASSWORD` of `ugyelet passwd`) are not configuration.
        let env_map: std::collections::HashMap<String, String> = env
            .into_iter()
            .filter(|(k, _)| {
                k.strip_prefix(ENV_PREFIX)
                    .and_then(|rest| rest.strip_prefix('_'))
                    .is_some_and(|rest| rest.contains("__"))
            })
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                // `UGYELET_SIP__RATE_LIMIT_EXEMPT=192.0.2.10,10.20.0.0/16`
                .list_separator(",")
                .with_list_parse_key("sip.rate_limit_exempt")
                .source(Some(env_map.clone())),
        );
        let load_error = |e: config::ConfigError| {
            let m = e.to_string();
            let from = value_source(&m, &env_map, file);
            ConfigError::Load(format!("{m}{from}"))
        };
        let raw = builder.build().map_err(load_error)?;
        let cfg: Config = raw.try_deserialize().map_err(load_error)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks values that are individually well-typed but wrong together. Reports all at once.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut p = Vec::new();
        self.trunk.validate(&mut p);
        self.callbacks.validate(&self.dialplan.queues, &mut p);
        self.http.validate(&mut p);
        self.sip.udp.validate(&mut p);
        self.tls.validate(self.sip.listen, &mut p);
        if let Err(e) = log_filter(&self.log.level) {
            p.push(format!("log.level: {e}"));
        }
        if self.rtp.port_min == 0 || !self.rtp.port_min.is_multiple_of(2) {
            p.push(format!(
                "rtp.port_min: expected an even port above 0, found {}",
                self.rtp.port_min
            ));
        }
        if self.rtp.port_max < self.rtp.port_min.saturating_add(1) {
            p.push(format!(
                "rtp.port_max: expected a port above rtp.port_min ({}), found {}",
                self.rtp.port_min, self.rtp.port_max
            ));
        }
        if self.operators.ring_timeout_s == 0 || self.operators.announce_every_s == 0 {
            p.push(
                "operators.ring_timeout_s, operators.announce_every_s: expected positive seconds, found 0"
                    .to_owned(),
            );
        }
        if self.operators.min_expires_s == 0
            || self.operators.max_expires_s < self.operators.min_expires_s
        {
            p.push(format!(
                "operators.max_expires_s: expected at least operators.min_expires_s ({}) and both above 0, found {}",
                self.operators.min_expires_s, self.operators.max_expires_s
            ));
        }
        if self.sip.t1_ms == 0 {
            p.push("sip.t1_ms: expected a positive number of milliseconds, found 0".to_owned());
        }
        if self.sip.t2_ms < self.sip.t1_ms {
            p.push(format!(
                "sip.t2_ms: expected at least sip.t1_ms ({}), found {}",
                self.sip.t1_ms, self.sip.t2_ms
            ));
        }
        if self.sip.max_message_bytes < 1024 {
            p.push(format!(
                "sip.max_message_bytes: expected at least 1024, found {}",
                self.sip.max_message_bytes
            ));
        }
        for (rate, burst, names) in [
            (
                self.sip.rate_limit_per_s,
                self.sip.rate_limit_burst,
                "sip.rate_limit_per_s / sip.rate_limit_burst",
            ),
            (
                self.sip.rate_limit_per_address_s,
                self.sip.rate_limit_address_burst,
                "sip.rate_limit_per_address_s / sip.rate_limit_address_burst",
            ),
        ] {
            if rate.is_nan() || rate <= 0.0 || burst < 1.0 {
                p.push(format!(
                    "{names}: expected a positive rate and a burst of at least 1, found {rate} and {burst}"
                ));
            }
        }
        if self.sip.digest_algorithms.is_empty()
            || self
                .sip
                .digest_algorithms
                .iter()
                .any(|a| crate::sip::auth::Algorithm::parse(a).is_none())
        {
            p.push(format!(
                "sip.digest_algorithms: expected one or more of \"MD5\", \"SHA-256\", found {:?}",
                self.sip.digest_algorithms
            ));
        }
        if self.sip.realm.is_empty()
            || !self
                .sip
                .realm
                .chars()
                .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
        {
            p.push(format!(
                "sip.realm: expected a non-empty realm of printable ASCII without quotes, found {:?}",
                self.sip.realm
            ));
        }
        if self.sip.user_agent.trim().is_empty() || self.sip.user_agent.contains(['\r', '\n']) {
            p.push("sip.user_agent: expected one non-empty line".to_owned());
        }
        if !self.admin.listen.is_empty() {
            match self.admin.listen.parse::<SocketAddr>() {
                Err(_) => p.push(format!(
                    "admin.listen: expected an address such as 127.0.0.1:8080, found \"{}\"",
                    self.admin.listen
                )),
                Ok(a)
                    if !a.ip().is_loopback()
                        && self.admin.token.as_deref().is_none_or(str::is_empty) =>
                {
                    p.push(format!(
                        "admin.token: required when admin.listen ({a}) is not a loopback address"
                    ));
                }
                Ok(a) if !a.ip().is_loopback() && !self.admin.behind_https_proxy => {
                    p.push(format!(
                        "admin.behind_https_proxy: required when admin.listen ({a}) is not a \
                         loopback address: the console's passwords and cookies must reach it \
                         over HTTPS (put a TLS-terminating reverse proxy in front, see README)"
                    ));
                }
                Ok(_) => {}
            }
        }
        if let Err(e) = values::console_url(&self.admin.console_url) {
            p.push(format!("admin.console_url: {e}"));
        }
        if self.admin.session_idle_minutes == 0 || self.admin.session_max_hours == 0 {
            p.push(
                "admin.session_idle_minutes, admin.session_max_hours: expected at least 1"
                    .to_owned(),
            );
        }
        if self.records.retention_days < self.records.pseudonymize_after_days {
            p.push(format!(
                "records.retention_days: expected at least records.pseudonymize_after_days ({}), found {}",
                self.records.pseudonymize_after_days, self.records.retention_days
            ));
        }
        self.validate_notify(&mut p);
        if self.call.max_duration_s == 0 {
            p.push(
                "call.max_duration_s: expected a positive number of seconds, found 0".to_owned(),
            );
        }
        if p.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(p))
        }
    }

    fn validate_notify(&self, p: &mut Vec<String>) {
        let n = &self.notify;
        if let Some(s) = n.link_secret.as_deref().filter(|s| !s.is_empty())
            && s.len() < crate::notify::link::MIN_SECRET_LEN
        {
            p.push(format!(
                "notify.link_secret: expected at least {} bytes, found {}",
                crate::notify::link::MIN_SECRET_LEN,
                s.len()
            ));
        }
        if !n.public_listen.is_empty() && n.public_listen.parse::<SocketAddr>().is_err() {
            p.push(format!(
                "notify.public_listen: expected an address such as 127.0.0.1:8081, found \"{}\"",
                n.public_listen
            ));
        }
        if !(n.public_base_url.starts_with("http://") || n.public_base_url.starts_with("https://"))
        {
            p.push(format!(
                "notify.public_base_url: expected a URL starting with http:// or https://, found \"{}\"",
                n.public_base_url
            ));
        }
        if n.link_ttl_h == 0 {
            p.push("notify.link_ttl_h: expected a positive number of hours, found 0".to_owned());
        }
        if n.retry_initial_ms == 0 || n.max_attempts == 0 {
            p.push(format!(
                "notify.retry_initial_ms / notify.max_attempts: expected positive values, found {} and {}",
                n.retry_initial_ms, n.max_attempts
            ));
        }
        if !(0.0..=1.0).contains(&n.retry_jitter) {
            p.push(format!(
                "notify.retry_jitter: expected a fraction from 0.0 to 1.0, found {}",
                n.retry_jitter
            ));
        }
        let sms = &n.sms;
        let mut need = |key: &str, value: &str| {
            if value.trim().is_empty() {
                p.push(format!(
                    "notify.sms.{key}: required when notify.sms.kind = \"{}\"",
                    sms.kind.as_str()
                ));
            }
        };
        match sms.kind {
            SmsKind::None => {}
            SmsKind::Generic => {
                need("url", &sms.url);
                need("body_template", &sms.body_template);
            }
            SmsKind::Twilio => {
                need("account_sid", &sms.account_sid);
                need("token", &sms.secret_token().unwrap_or_default());
                need("from", &sms.from);
            }
            SmsKind::Infobip => {
                need("base_url", &sms.base_url);
                need("token", &sms.secret_token().unwrap_or_default());
                need("from", &sms.from);
            }
        }
        if let Err(e) = sms.secret_token() {
            p.push(e);
        }
        if sms.kind != SmsKind::None && sms.timeout_s == 0 {
            p.push(
                "notify.sms.timeout_s: expected a positive number of seconds, found 0".to_owned(),
            );
        }
        let smtp = &n.smtp;
        if !smtp.host.is_empty() {
            if smtp.from.parse::<lettre::message::Mailbox>().is_err() {
                p.push(format!(
                    "notify.smtp.from: expected a mailbox such as \"Hivatal <ugyelet@example.hu>\", found \"{}\"",
                    smtp.from
                ));
            }
            if let Some(office) = &smtp.office
                && office.parse::<lettre::message::Mailbox>().is_err()
            {
                p.push(format!(
                    "notify.smtp.office: expected an email address, found \"{office}\""
                ));
            }
        }
    }

    /// The RFC 3261 timer values.
    pub fn sip_timers(&self) -> (Duration, Duration, Duration) {
        (
            Duration::from_millis(self.sip.t1_ms),
            Duration::from_millis(self.sip.t2_ms),
            Duration::from_millis(self.sip.t4_ms),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sms_gateways_secrets_stay_out_of_debug_output() {
        let env = vec![
            ("UGYELET_NOTIFY__SMS__KIND".to_owned(), "twilio".to_owned()),
            (
                "UGYELET_NOTIFY__SMS__TOKEN".to_owned(),
                "tok-3f9a1c".to_owned(),
            ),
            (
                "UGYELET_NOTIFY__SMS__ACCOUNT_SID".to_owned(),
                "AC0001".to_owned(),
            ),
            (
                "UGYELET_NOTIFY__SMS__FROM".to_owned(),
                "+3623000000".to_owned(),
            ),
        ];
        let mut cfg = Config::load_with_env(None, env).expect("loads");
        cfg.notify
            .sms
            .headers
            .push(("X-Api-Key".to_owned(), "key-77b2e0".to_owned()));
        let shown = format!("{cfg:?}");
        assert!(shown.contains("X-Api-Key"), "{shown}");
        assert!(
            shown.contains("twilio") || shown.contains("Twilio"),
            "{shown}"
        );
        for secret in ["tok-3f9a1c", "key-77b2e0"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }

    #[test]
    fn a_bad_value_is_shown_with_what_was_expected_and_where_it_came_from() {
        let env = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        let err = |e: Result<Config, ConfigError>| match e {
            Err(ConfigError::Load(m)) => m,
            other => panic!("expected a load error, got {other:?}"),
        };
        let m = err(Config::load_with_env(
            None,
            env("UGYELET_LOG__FORMAT", "xml"),
        ));
        assert_eq!(
            m,
            "expected \"text\" or \"json\", found \"xml\" for key `log.format` (set by UGYELET_LOG__FORMAT=\"xml\")"
        );
        let m = err(Config::load_with_env(
            None,
            env("UGYELET_SIP__LISTEN", "5060"),
        ));
        assert!(
            m.starts_with(
                "expected an address and port such as 0.0.0.0:5060 or [::]:5060, found \"5060\""
            ) && m.ends_with("(set by UGYELET_SIP__LISTEN=\"5060\")"),
            "{m}"
        );
    }

    #[test]
    fn log_levels_by_their_common_names_are_accepted_and_unknown_words_refused() {
        assert_eq!(log_filter("warning").as_deref(), Ok("warn"));
        assert_eq!(log_filter("NOTICE").as_deref(), Ok("info"));
        assert_eq!(log_filter("verbose").as_deref(), Ok("debug"));
        assert_eq!(
            log_filter("info, ugyelet::driver=warning").as_deref(),
            Ok("info,ugyelet::driver=warn")
        );
        let e = log_filter("loud").expect_err("not a level");
        assert!(
            e.starts_with("expected a level (trace, debug, info, warn, error, off"),
            "{e}"
        );
        assert!(e.ends_with("found \"loud\""), "{e}");
        assert!(log_filter("ugyelet=chatty").is_err());
        assert!(log_filter("").is_err());
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_answer_on_all_interfaces_port_5060() {
        let cfg = Config::load_with_env(None, env(&[])).expect("defaults are valid");
        assert_eq!(cfg.sip.listen, "0.0.0.0:5060".parse().expect("literal"));
        assert_eq!(cfg.prompts.dir, PathBuf::from("prompts/hu"));
        assert!(
            cfg.rtp.port_max < 32768,
            "default RTP range must avoid ephemeral ports"
        );
    }

    #[test]
    fn environment_overrides_section_keys() {
        let cfg = Config::load_with_env(
            None,
            env(&[
                ("UGYELET_SIP__LISTEN", "127.0.0.1:5080"),
                ("UGYELET_CALL__ANSWER_DELAY_MS", "1500"),
                ("UGYELETX_SIP__LISTEN", "127.0.0.1:1"),
                ("UGYELET_PASSWORD", "for ugyelet passwd, not a key"),
                ("UGYELET_SIP__REALM", "budaors"),
            ]),
        )
        .expect("valid overrides");
        assert_eq!(cfg.sip.realm, "budaors");
        assert_eq!(cfg.sip.listen, "127.0.0.1:5080".parse().expect("literal"));
        assert_eq!(cfg.call.answer_delay_ms, 1500);
    }

    #[test]
    fn bad_value_error_names_the_key() {
        let err = Config::load_with_env(None, env(&[("UGYELET_SIP__LISTEN", "nowhere")]))
            .expect_err("not an address");
        let text = err.to_string();
        assert!(text.contains("sip.listen"), "{text}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = Config::load_with_env(
            None,
            env(&[
                ("UGYELET_RTP__PORT_MIN", "3001"),
                ("UGYELET_SIP__T1_MS", "0"),
            ]),
        )
        .expect_err("invalid");
        let text = err.to_string();
        assert!(
            text.contains("rtp.port_min: expected an even port"),
            "{text}"
        );
        assert!(text.contains("sip.t1_ms"), "{text}");
    }

    #[test]
    fn the_shipped_file_says_what_the_built_in_defaults_are() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/ugyelet.toml");
        let file = Config::load_with_env(Some(&path), env(&[])).expect("shipped file loads");
        let defaults = Config::load_with_env(None, env(&[])).expect("defaults");
        assert_eq!(format!("{file:?}"), format!("{defaults:?}"));
    }

    #[test]
    fn shipped_config_file_matches_the_schema() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/ugyelet.toml");
        let cfg = Config::load_with_env(Some(&path), env(&[])).expect("shipped file loads");
        assert_eq!(cfg.sip.t1_ms, 500);
    }

    #[test]
    fn notify_defaults_have_no_gateway_and_a_local_public_listener() {
        let cfg = Config::load_with_env(None, env(&[])).expect("defaults are valid");
        assert_eq!(cfg.notify.sms.kind, SmsKind::None);
        assert_eq!(cfg.notify.public_listen, "127.0.0.1:8081");
        assert!(cfg.notify.smtp.sender_config().is_none());
        assert_eq!(
            cfg.notify.db_path(Path::new("/var/lib/ugyelet")),
            PathBuf::from("/var/lib/ugyelet/outbox.db")
        );
    }

    #[test]
    fn notify_gateway_keys_come_from_the_environment_and_missing_ones_are_named() {
        let cfg = Config::load_with_env(
            None,
            env(&[
                ("UGYELET_NOTIFY__SMS__KIND", "generic"),
                ("UGYELET_NOTIFY__SMS__URL", "http://127.0.0.1:9/send"),
                ("UGYELET_NOTIFY__SMS__BODY_TEMPLATE", "to={to}"),
                ("UGYELET_NOTIFY__SMTP__HOST", "127.0.0.1"),
                ("UGYELET_NOTIFY__SMTP__FROM", "Hivatal <ugyelet@example.hu>"),
            ]),
        )
        .expect("valid");
        assert_eq!(cfg.notify.sms.kind, SmsKind::Generic);
        let smtp = cfg.notify.smtp.sender_config().expect("configured");
        assert_eq!(smtp.message_id_domain, "example.hu");
        let err = Config::load_with_env(
            None,
            env(&[
                ("UGYELET_NOTIFY__SMS__KIND", "twilio"),
                ("UGYELET_NOTIFY__LINK_SECRET", "short"),
            ]),
        )
        .expect_err("incomplete");
        let text = err.to_string();
        for want in [
            "notify.sms.account_sid: required when notify.sms.kind = \"twilio\"",
            "notify.sms.token: required",
            "notify.sms.from: required",
            "notify.link_secret: expected at least 32 bytes, found 5",
        ] {
            assert!(text.contains(want), "{want} in {text}");
        }
    }

    #[test]
    fn rate_limit_exemptions_come_from_the_file_or_the_environment() {
        let dir = std::env::temp_dir().join(format!("ugyelet-cfg-ex-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let path = dir.join("trunk.toml");
        std::fs::write(
            &path,
            "[sip]\nrate_limit_exempt = [\"192.0.2.10\", \"10.20.0.0/16\"]\n",
        )
        .expect("write");
        let cfg = Config::load_with_env(Some(&path), env(&[])).expect("valid");
        let shown: Vec<String> = cfg
            .sip
            .rate_limit_exempt
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(shown, ["192.0.2.10/32", "10.20.0.0/16"]);
        let cfg = Config::load_with_env(
            None,
            env(&[("UGYELET_SIP__RATE_LIMIT_EXEMPT", "192.0.2.10,2001:db8::/32")]),
        )
        .expect("valid");
        assert_eq!(cfg.sip.rate_limit_exempt.len(), 2);
        std::fs::write(&path, "[sip]\nrate_limit_exempt = [\"10.20.1.0/16\"]\n").expect("write");
        let err = Config::load_with_env(Some(&path), env(&[])).expect_err("host bits");
        let text = err.to_string();
        assert!(
            text.contains("the prefix is 10.20.0.0/16") && text.contains("rate_limit_exempt"),
            "{text}"
        );
        let err = Config::load_with_env(None, env(&[("UGYELET_SIP__RATE_LIMIT_EXEMPT", "trunk")]))
            .expect_err("not an address");
        assert!(
            err.to_string().contains("expected an IP address or prefix"),
            "{err}"
        );
    }

    #[test]
    fn unknown_key_in_file_is_refused() {
        let dir = std::env::temp_dir().join(format!("ugyelet-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let path = dir.join("bad.toml");
        std::fs::write(&path, "[sip]\nlisen = \"127.0.0.1:5060\"\n").expect("write");
        let err = Config::load_with_env(Some(&path), env(&[])).expect_err("typo");
        assert!(err.to_string().contains("lisen"), "{err}");
    }
}
