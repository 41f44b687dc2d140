//! The forms service: the durable outbox, the thread that sends from it (started here,
//! written in [`super::outbox_worker`]), and the public HTTP listener for form downloads
//! and delivery webhooks.
//!
//! ```text
//!   call task / admin API ──send_form──► Composer::accept (form, channel, address)
//!       spawn_blocking: send times, Composer::compose, INSERT, COMMIT ──► "Done"
//!                                                               │ wake
//!                                                               ▼
//!   "outbox" thread (own current-thread runtime): Worker::run_due ──► SMS gateway / SMTP
//!   public listener: GET /f/{token}, POST /hooks/… ──► the same store
//! ```
//!
//! Concurrency: one SQLite connection behind a `std::sync::Mutex`. Every use of it is
//! blocking (WAL with full sync: each commit waits for the disk), so it never runs on the
//! async threads that pace RTP: enqueueing goes through `spawn_blocking`, and the worker
//! runs on a thread of its own, where a slow fsync or a slow gateway delays only other
//! messages. A call waiting for its row hears silence for the few milliseconds of the
//! commit; the caller is told "elküldtük" only after the commit returned.
//!
//! The same store holds the worklist and the console's sessions; the async methods here
//! run those calls the same way (on a blocking thread, the time read here), except the
//! callbacks the call-record writer adds from its own thread ([`Forms::add_callback_blocking`]).
//!
//! What a form message says and whether it may go is decided by
//! [`crate::notify::compose`]; this module only reads the store, the clock and the form's
//! file for it, and writes what it returns.
//!
//! Shutdown: the worker thread is not joined. Whatever it was doing when the process
//! exits is exactly the crash case the store is built for: a row left `sending` is sent
//! again with its idempotency key after the next start.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::{debug, error, info, warn};

use crate::cdr::CallRecord;
use crate::config::{Config, NotifyConfig, SmsKind};
use crate::knowledge::LiveKnowledge;
use crate::notify::catalog::{Catalog, Form, LiveCatalog};
use crate::notify::compose::PAGE_PREFIX;
use crate::notify::compose::{self, ComposeError, Composer};
use crate::notify::email::EmailSender;
use crate::notify::limit::SmsLimits;
use crate::notify::link::LinkKey;
use crate::notify::outbox::{RetryPolicy, State};
use crate::notify::sms::{GenericHttp, Infobip, SmsGateway, SmsSender, Twilio};
use crate::registrar::SavedBinding;
use crate::store::{
    Channel, ClaimResult, Enqueued, NewMessage, OfficeMail, ReleaseResult, Row, SessionRow, Store,
    StoreError, VoiceMessage, WorkItem, WorkKind,
};

/// Why a form was not queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Unknown form, channel not configured, bad address or SMS limit reached.
    Refused(ComposeError),
    Store(String),
}

impl SendError {
    /// The HTTP status the admin API answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::Refused(ComposeError::UnknownForm { .. } | ComposeError::BadAddress { .. }) => {
                400
            }
            Self::Refused(ComposeError::Limited(_)) => 429,
            Self::Refused(ComposeError::NotConfigured(_)) => 503,
            Self::Store(_) => 500,
        }
    }
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(e) => e.fmt(f),
            Self::Store(e) => write!(f, "outbox: {e}"),
        }
    }
}

impl std::error::Error for SendError {}

/// The forms service, shared by call tasks and the admin API.
pub struct Forms {
    store: Arc<Mutex<Store>>,
    catalog: LiveCatalog,
    /// Articles can be sent as links too (form id `cikk:SLUG`).
    knowledge: LiveKnowledge,
    /// Decides and writes form messages (links, limits, which channels are configured).
    composer: Composer,
    cfg: NotifyConfig,
    wake: Arc<tokio::sync::Notify>,
    /// Where voice messages are kept (`state.dir/messages`).
    messages_dir: PathBuf,
}

/// A voice message handed over by a call.
pub struct VoiceMessageIn {
    pub key: String,
    pub caller: Option<String>,
    pub menu_path: String,
    /// 8 kHz 16-bit mono.
    pub audio: Vec<i16>,
}

fn lock(store: &Mutex<Store>) -> std::sync::MutexGuard<'_, Store> {
    // Every write is its own transaction, so the connection is sound after a panic.
    store
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Forms {
    /// Queues `form` for `to` by `channel` under idempotency key `key` and returns once the
    /// row is committed. The same key again returns the first message and sends nothing.
    pub async fn send_form(
        &self,
        key: String,
        form_id: &str,
        channel: Channel,
        to: &str,
    ) -> Result<Enqueued, SendError> {
        let accepted = match form_id.strip_prefix(PAGE_PREFIX) {
            Some(slug) => {
                let kb = self.knowledge.get();
                let Some(article) = kb.get(slug) else {
                    return Err(SendError::Refused(ComposeError::UnknownForm {
                        found: form_id.to_owned(),
                        known: kb
                            .articles()
                            .iter()
                            .map(|a| format!("{PAGE_PREFIX}{}", a.slug))
                            .collect(),
                    }));
                };
                let page = Form {
                    id: form_id.to_owned(),
                    title: article.title.clone(),
                    file: None,
                    prompt: None,
                    key: None,
                };
                self.composer.accept_form(page, channel, to)
            }
            None => self
                .composer
                .accept(&self.catalog.get(), form_id, channel, to),
        }
        .map_err(SendError::Refused)?;
        let store = Arc::clone(&self.store);
        let composer = self.composer.clone();
        let res = tokio::task::spawn_blocking(move || {
            let now_ms = crate::clock::unix_ms();
            let mut s = lock(&store);
            if let Some(id) = s.id_for_key(&key)? {
                return Ok(Ok(Enqueued { id, created: false }));
            }
            let (sent, form_file) = match accepted.channel() {
                Channel::Sms => {
                    let since = now_ms - composer.limit_window_ms();
                    (s.sms_times_since(accepted.recipient(), since)?, Vec::new())
                }
                Channel::Email => (Vec::new(), form_file(accepted.form())),
            };
            let m = match composer.compose(accepted, &sent, now_ms, form_file) {
                Ok(m) => m,
                Err(e) => return Ok(Err(SendError::Refused(e))),
            };
            let new = NewMessage {
                key,
                channel: m.channel,
                recipient: m.recipient,
                form_id: Some(m.form_id),
                subject: m.subject,
            };
            let body = m.body;
            let enqueued = s.enqueue(&new, now_ms, move |id| {
                let text = body.write(id);
                if let Some(seg) = text.segments {
                    debug!(segments = seg.count, "form SMS text");
                }
                text.text
            })?;
            Ok(Ok(enqueued))
        })
        .await;
        let out = match res {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(SendError::Store(crate::store::StoreError::to_string(&e))),
            Err(e) => Err(SendError::Store(format!("outbox task: {e}"))),
        };
        if let Ok(e) = &out {
            info!(
                id = e.id,
                channel = channel.as_str(),
                form = form_id,
                created = e.created,
                "form queued"
            );
            self.wake.notify_one();
        }
        out
    }

    /// Keeps a voice message: the WAV on disk (synced), the row listed in the admin API and,
    /// when email and the office mailbox are configured, the email to the office with the
    /// WAV attached, queued in the same transaction. Returns the message id once all of
    /// it is on disk. A message with no voice in it is a callback request.
    pub async fn save_voice_message(&self, msg: VoiceMessageIn) -> Result<u64, String> {
        let store = Arc::clone(&self.store);
        let dir = self.messages_dir.clone();
        let office = self
            .cfg
            .smtp
            .office
            .clone()
            .filter(|o| self.composer.email_ready && !o.is_empty());
        if office.is_none() {
            warn!(
                "voice message kept, but no email goes out (notify.smtp.host or notify.smtp.office unset)"
            );
        }
        let res = tokio::task::spawn_blocking(move || {
            let now = jiff::Timestamp::now();
            let created_ms = now.as_millisecond();
            let local = now.to_zoned_datetime(crate::dialplan::calendar::tz());
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let stamp = local.strftime("%Y%m%d-%H%M%S").to_string();
            let file = dir.join(format!("{stamp}-{}.wav", &msg.key[..msg.key.len().min(8)]));
            write_wav(&file, &msg.audio).map_err(|e| format!("{}: {e}", file.display()))?;
            let seconds = msg.audio.len() as f64 / 8000.0;
            let voiced = msg.audio.chunks(160).any(crate::call::is_voice);
            let mail = office.map(|to| {
                let text = compose::office_mail(
                    msg.caller.as_deref(),
                    &msg.menu_path,
                    voiced,
                    seconds,
                    local.datetime(),
                );
                OfficeMail {
                    to,
                    subject: text.subject,
                    body: text.body,
                }
            });
            let row = VoiceMessage {
                id: 0,
                key: msg.key,
                caller: msg.caller,
                created_ms,
                menu_path: msg.menu_path,
                file: file.display().to_string(),
                seconds,
                outbox_id: None,
                done_ms: None,
            };
            lock(&store)
                .add_voice_message(&row, mail.as_ref())
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| format!("voice message task: {e}"))?;
        if let Ok(id) = &res {
            info!(id, "voice message kept");
            self.wake.notify_one();
        }
        res
    }

    /// Voice messages for the admin API (only those not yet done unless `all`).
    pub async fn voice_messages(&self, all: bool) -> Result<Vec<VoiceMessage>, String> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || lock(&store).voice_messages(all))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }

    /// Marks a voice message handled (see [`Store::voice_message_done`]).
    pub async fn voice_message_done(&self, id: u64) -> Result<Option<bool>, String> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || {
            lock(&store).voice_message_done(id, crate::clock::unix_ms())
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
    }

    /// Serves `kb` from now on (article links and pages).
    pub fn set_knowledge(&self, kb: Arc<crate::knowledge::KnowledgeBase>) {
        self.knowledge.set(kb);
    }

    /// The knowledge base served now.
    pub fn knowledge(&self) -> Arc<crate::knowledge::KnowledgeBase> {
        self.knowledge.get()
    }

    /// The catalog served now.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.get()
    }

    /// Serves `catalog` from now on (the one a reloaded plan was checked against); returns
    /// how many forms it has.
    pub fn set_catalog(&self, catalog: Catalog) -> usize {
        let n = catalog.forms().len();
        self.catalog.set(catalog);
        n
    }

    /// Outbox messages per channel and state.
    pub async fn counts(&self) -> Result<Vec<(String, String, u64)>, String> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || lock(&store).counts())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }

    /// Messages for the admin API, newest `limit`, in `state` when given.
    pub async fn list(&self, state: Option<State>, limit: u32) -> Result<Vec<Row>, String> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || lock(&store).list(state, limit))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }

    /// Runs `f` on the store on a blocking thread (every store call waits for the disk).
    async fn with_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, String> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || f(&mut lock(&store)))
            .await
            .map_err(|e| format!("store task: {e}"))?
            .map_err(|e| e.to_string())
    }

    /// Puts a finished call on the worklist as a callback (its caller, start time and
    /// path). Blocking, a durable commit: for the call-record writer's own thread, never
    /// for async code.
    pub(super) fn add_callback_blocking(&self, r: &CallRecord) -> Result<u64, String> {
        lock(&self.store)
            .work_add(
                &r.caller,
                WorkKind::Callback,
                r.start.as_millisecond(),
                &r.path,
                None,
            )
            .map_err(|e| e.to_string())
    }

    /// The operators' registrations kept at the last run. Blocking: for the start, before
    /// the SIP task runs.
    pub(super) fn bindings_blocking(&self) -> Result<Vec<SavedBinding>, String> {
        lock(&self.store).bindings().map_err(|e| e.to_string())
    }

    /// Replaces the kept registrations. Blocking, a durable commit: for the bindings
    /// writer's own thread, never for async code.
    pub(super) fn replace_bindings_blocking(&self, b: &[SavedBinding]) -> Result<(), String> {
        lock(&self.store)
            .replace_bindings(b)
            .map_err(|e| e.to_string())
    }

    /// Asks for a callback of `number` (E.164): the number's open job with this request
    /// counted, or a new one (see [`Store::callback_request`]). Blocking, a durable commit:
    /// for the call-record writer's own thread, never for async code.
    pub(super) fn callback_request_blocking(
        &self,
        number: &str,
        reason: &str,
        call: Option<&str>,
    ) -> Result<crate::callback::Job, String> {
        lock(&self.store)
            .callback_request(number, reason, call, crate::clock::unix_ms())
            .map_err(|e| e.to_string())
    }

    /// [`Forms::callback_request_blocking`] on a blocking thread; returns once committed.
    pub async fn callback_request(
        &self,
        number: String,
        reason: &'static str,
        call: Option<String>,
    ) -> Result<crate::callback::Job, String> {
        self.with_store(move |s| {
            s.callback_request(&number, reason, call.as_deref(), crate::clock::unix_ms())
        })
        .await
    }

    /// Keeps what the callback core decided about a job.
    pub(super) async fn callback_save(&self, job: crate::callback::Job) -> Result<bool, String> {
        self.with_store(move |s| s.callback_save(&job)).await
    }

    /// Withdraws a waiting job in the store alone (no callback core holds it).
    pub(super) async fn callback_cancel(&self, id: u64) -> Result<bool, String> {
        self.with_store(move |s| s.callback_cancel(id, crate::clock::unix_ms()))
            .await
    }

    /// The open callback jobs (at start).
    pub(super) async fn callback_open(&self) -> Result<Vec<crate::callback::Job>, String> {
        self.with_store(|s| s.callback_open()).await
    }

    /// Open callback jobs, and finished ones changed since `since_ms`.
    pub async fn callback_jobs(&self, since_ms: i64) -> Result<Vec<crate::callback::Job>, String> {
        self.with_store(move |s| s.callback_jobs(since_ms)).await
    }

    /// The worklist, open entries first (see [`Store::worklist`]).
    pub async fn worklist(&self, include_done: bool) -> Result<Vec<WorkItem>, String> {
        self.with_store(move |s| s.worklist(include_done)).await
    }

    /// One worklist entry, open or done.
    pub async fn work_item(&self, id: u64) -> Result<Option<WorkItem>, String> {
        self.with_store(move |s| s.work_item(id)).await
    }

    /// `owner` claims entry `id` now (see [`Store::work_claim`]).
    pub async fn work_claim(&self, id: u64, owner: String) -> Result<ClaimResult, String> {
        self.with_store(move |s| s.work_claim(id, &owner, crate::clock::unix_ms()))
            .await
    }

    /// Gives entry `id` to `owner` whoever holds it (an admin's decision, checked by the
    /// caller; see [`Store::work_reassign`]).
    pub async fn work_reassign(&self, id: u64, owner: String) -> Result<ClaimResult, String> {
        self.with_store(move |s| s.work_reassign(id, &owner, crate::clock::unix_ms()))
            .await
    }

    /// `by` gives entry `id` back (see [`Store::work_release`]).
    pub async fn work_release(&self, id: u64, by: String) -> Result<ReleaseResult, String> {
        self.with_store(move |s| s.work_release(id, &by)).await
    }

    /// Replaces entry `id`'s note; false for an unknown id.
    pub async fn work_note(&self, id: u64, note: String, by: String) -> Result<bool, String> {
        self.with_store(move |s| s.work_note(id, &note, &by, crate::clock::unix_ms()))
            .await
    }

    /// Closes entry `id` and its voice messages (see [`Store::work_done`]).
    pub async fn work_done(&self, id: u64, by: String) -> Result<Option<bool>, String> {
        self.with_store(move |s| s.work_done(id, &by, crate::clock::unix_ms()))
            .await
    }

    /// How many worklist entries are open.
    pub async fn work_open_count(&self) -> Result<u64, String> {
        self.with_store(|s| s.work_open_count()).await
    }

    /// Stores a console session under its token's hash, created now (see
    /// [`crate::store::sessions`]: the caller hashes, the token itself is never stored).
    pub async fn create_session(
        &self,
        token_hash: String,
        account: String,
        role: String,
        csrf: String,
    ) -> Result<(), String> {
        self.with_store(move |s| {
            s.create_session(&token_hash, &account, &role, &csrf, crate::clock::unix_ms())
        })
        .await
    }

    /// The session stored under `token_hash`, whatever its age.
    pub async fn session(&self, token_hash: String) -> Result<Option<SessionRow>, String> {
        self.with_store(move |s| s.session(&token_hash)).await
    }

    /// Records that the session was used now; false when there is no such session.
    pub async fn touch_session(&self, token_hash: String) -> Result<bool, String> {
        self.with_store(move |s| s.touch_session(&token_hash, crate::clock::unix_ms()))
            .await
    }

    /// Logs one session out; false when there was none.
    pub async fn delete_session(&self, token_hash: String) -> Result<bool, String> {
        self.with_store(move |s| s.delete_session(&token_hash))
            .await
    }

    /// Logs every session of `account` out; returns how many.
    pub async fn delete_sessions_of(&self, account: String) -> Result<usize, String> {
        self.with_store(move |s| s.delete_sessions_of(&account))
            .await
    }

    /// Deletes sessions idle for longer than `idle` or older than `max_age`, counted from
    /// now; returns how many.
    pub async fn expire_sessions(
        &self,
        idle: Duration,
        max_age: Duration,
    ) -> Result<usize, String> {
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        self.with_store(move |s| {
            let now = crate::clock::unix_ms();
            s.expire_sessions(
                now.saturating_sub(ms(idle)),
                now.saturating_sub(ms(max_age)),
            )
        })
        .await
    }
}

/// Writes 8 kHz 16-bit mono PCM as a WAV file and syncs it to disk.
fn write_wav(path: &Path, pcm: &[i16]) -> Result<(), String> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(|e| e.to_string())?;
    for s in pcm {
        w.write_sample(*s).map_err(|e| e.to_string())?;
    }
    w.finalize().map_err(|e| e.to_string())?;
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| e.to_string())
}

/// The form's file as it is on disk; empty when it has none or it cannot be read (the
/// composer then says it is attached, and the worker reads it again when sending and
/// attaches or links it).
fn form_file(form: &Form) -> Vec<u8> {
    form.file
        .as_ref()
        .and_then(|path| std::fs::read(path).ok())
        .unwrap_or_default()
}

/// The link secret: configured, else `UGYELET_LINK_SECRET`, else the one kept in the
/// state directory (made on first start, mode 0600).
fn link_key(cfg: &Config) -> Result<LinkKey, String> {
    let configured = cfg.notify.link_secret.as_deref().filter(|s| !s.is_empty());
    let env = std::env::var(crate::notify::link::SECRET_ENV).unwrap_or_default();
    if configured.is_some() || !env.is_empty() {
        return LinkKey::from_config(configured).map_err(|e| e.to_string());
    }
    let path = cfg.state.dir.join("link.secret");
    let secret = match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= crate::notify::link::MIN_SECRET_LEN => s.trim().to_owned(),
        Ok(_) => return Err(format!("{}: shorter than 32 bytes", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let s: String = (0..2)
                .map(|_| format!("{:032x}", rand::random::<u128>()))
                .collect();
            write_private(&path, &s).map_err(|e| format!("{}: {e}", path.display()))?;
            info!(path = %path.display(), "made a new link secret");
            s
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    LinkKey::new(secret.as_bytes()).map_err(|e| e.to_string())
}

/// Writes a new file readable by the owner only, and syncs it.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

pub(super) fn sms_gateway(cfg: &NotifyConfig) -> Option<Box<dyn SmsGateway>> {
    let s = &cfg.sms;
    let hook = |provider: &str| {
        cfg.hook_secret
            .as_deref()
            .filter(|h| !h.is_empty())
            .map(|h| {
                format!(
                    "{}/hooks/{provider}/{h}",
                    cfg.public_base_url.trim_end_matches('/')
                )
            })
    };
    // Validation checked the file reads; a file gone since leaves the token empty.
    let token = s.secret_token().unwrap_or_default();
    match s.kind {
        SmsKind::None => None,
        SmsKind::Generic => Some(Box::new(GenericHttp {
            url: s.url.clone(),
            method: s.method.clone(),
            headers: s.headers.clone(),
            body_template: s.body_template.clone(),
            content_type: s.content_type.clone(),
            id_field: s.id_field.clone(),
        })),
        SmsKind::Twilio => Some(Box::new(Twilio {
            base_url: if s.base_url.is_empty() {
                "https://api.twilio.com".to_owned()
            } else {
                s.base_url.clone()
            },
            account_sid: s.account_sid.clone(),
            auth_token: token,
            from: s.from.clone(),
            status_callback: hook("twilio"),
        })),
        SmsKind::Infobip => Some(Box::new(Infobip {
            base_url: s.base_url.clone(),
            api_key: token,
            from: s.from.clone(),
            notify_url: hook("infobip"),
        })),
    }
}

/// Opens the outbox, starts the send worker and the public listener; serves `catalog`
/// (loaded and checked with the dial plan).
pub(super) async fn start(
    cfg: &Config,
    catalog: Catalog,
    refusals: Arc<crate::metrics::http::HttpRefusals>,
) -> Result<Arc<Forms>, String> {
    let n = &cfg.notify;
    std::fs::create_dir_all(&cfg.state.dir)
        .map_err(|e| format!("{}: {e}", cfg.state.dir.display()))?;
    if !cfg.forms.catalog.exists() {
        warn!(path = %cfg.forms.catalog.display(), "no forms catalog: no forms can be sent");
    }
    let catalog = LiveCatalog::from(catalog);
    let link_key = link_key(cfg)?;
    let db: PathBuf = n.db_path(&cfg.state.dir);
    let store = {
        let path = db.clone();
        tokio::task::spawn_blocking(move || Store::open(&path))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("{}: {e}", db.display()))?
    };
    let store = Arc::new(Mutex::new(store));

    let sms = match sms_gateway(n) {
        None => {
            warn!(
                "no SMS gateway configured (notify.sms.kind = \"none\"): forms by SMS cannot be sent"
            );
            None
        }
        Some(g) => {
            info!(gateway = g.name(), "SMS gateway configured");
            Some(
                SmsSender::new(g, Duration::from_secs(n.sms.timeout_s))
                    .map_err(|e| e.to_string())?,
            )
        }
    };
    let smtp = n.smtp.sender_config();
    match &smtp {
        None => {
            warn!("no SMTP server configured (notify.smtp.host is empty): no email can be sent")
        }
        // Checked here so a bad setting stops the start; the worker builds its own sender
        // on its own runtime, where the pooled connections live.
        Some(c) => EmailSender::check(c).map_err(|e| format!("notify.smtp: {e}"))?,
    }
    let knowledge = LiveKnowledge::default();
    let forms = Arc::new(Forms {
        store: Arc::clone(&store),
        catalog: catalog.clone(),
        knowledge: knowledge.clone(),
        composer: Composer {
            link_key: link_key.clone(),
            base_url: n.public_base_url.trim_end_matches('/').to_owned(),
            link_ttl_s: n.link_ttl_h.saturating_mul(3600),
            limits: SmsLimits {
                per_hour: n.sms_per_hour,
                per_day: n.sms_per_day,
            },
            attach_limit_bytes: n.smtp.attach_limit_bytes,
            sms_ready: sms.is_some(),
            email_ready: smtp.is_some(),
        },
        cfg: n.clone(),
        wake: Arc::new(tokio::sync::Notify::new()),
        messages_dir: cfg.state.dir.join("messages"),
    });
    let policy = RetryPolicy {
        initial: Duration::from_millis(n.retry_initial_ms),
        max: Duration::from_secs(n.retry_max_s).max(Duration::from_millis(n.retry_initial_ms)),
        max_attempts: n.max_attempts,
        jitter: n.retry_jitter,
    };
    super::outbox_worker::spawn(
        Arc::clone(&store),
        sms,
        smtp,
        catalog.clone(),
        n.smtp.attach_limit_bytes,
        policy,
        Arc::clone(&forms.wake),
    )?;
    info!(db = %db.display(), "outbox open, send worker started");
    if n.retention_days > 0 {
        spawn_retention(Arc::clone(&store), n.retention_days);
    }

    if !n.public_listen.is_empty() {
        let addr: std::net::SocketAddr = n
            .public_listen
            .parse()
            .map_err(|_| format!("notify.public_listen {:?}", n.public_listen))?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot bind the public listener on {addr}: {e}"))?;
        let twilio_token = match n.sms.kind {
            crate::config::SmsKind::Twilio => n.sms.secret_token().unwrap_or_default(),
            _ => String::new(),
        };
        let state = crate::http::forms::FormsState {
            store,
            catalog,
            knowledge,
            link_key,
            hook_secret: n.hook_secret.clone().unwrap_or_default(),
            twilio_token,
            public_base_url: n.public_base_url.trim_end_matches('/').to_owned(),
            refusals: Arc::clone(&refusals),
            unix_now: Arc::new(crate::http::forms::system_unix_now),
        };
        let guard = crate::http::guard::Guard::public(&cfg.http, refusals);
        info!(%addr, "public listener (form downloads, delivery webhooks) listening");
        tokio::spawn(crate::http::serve::serve(
            listener,
            crate::http::forms::router(state),
            Arc::new(guard),
        ));
    }
    Ok(forms)
}

/// Applies `notify.retention_days` once an hour: finished messages and handled voice
/// messages older than that go, with their recordings.
fn spawn_retention(store: Arc<Mutex<Store>>, days: u64) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(3600));
        loop {
            every.tick().await;
            let age_ms = i64::try_from(days.saturating_mul(86_400_000)).unwrap_or(i64::MAX);
            let before = crate::clock::unix_ms().saturating_sub(age_ms);
            let store = Arc::clone(&store);
            let done = tokio::task::spawn_blocking(move || {
                let (n, files) = lock(&store).apply_retention(before)?;
                for f in &files {
                    if let Err(e) = std::fs::remove_file(f)
                        && e.kind() != std::io::ErrorKind::NotFound
                    {
                        warn!("retention: cannot delete a recording: {e}");
                    }
                }
                Ok::<_, crate::store::StoreError>((n, files.len()))
            })
            .await;
            match done {
                Ok(Ok((0, 0))) => {}
                Ok(Ok((messages, recordings))) => {
                    info!(messages, recordings, "outbox retention applied");
                }
                Ok(Err(e)) => error!("outbox retention: {e}"),
                Err(e) => error!("outbox retention: {e}"),
            }
        }
    });
}
