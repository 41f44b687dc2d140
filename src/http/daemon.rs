//! What the admin API (and the console that will grow on it) needs from the running
//! daemon: a trait that `http` owns and the driver implements.
//!
//! The arrow points the right way: `http` knows nothing of the driver's tasks, channels or
//! locks, only these questions and commands; the driver answers them from its shared
//! state. Tests can serve the API from any value that implements the trait.

use std::future::Future;

use serde::Serialize;

use crate::acd::AgentOp;
use crate::cdr::TiedCall;
use crate::dialplan::calendar::ManualOverride;
use crate::notify::outbox::State;
use crate::store::{Channel, ClaimResult, ReleaseResult, Row, VoiceMessage, WorkItem};

/// A call in progress as the admin API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct LiveCall {
    pub id: u64,
    /// E.164 when it could be normalised, else as received.
    pub caller: String,
    pub started: String,
    /// Version of the dial plan the call runs on.
    pub plan_version: u64,
}

/// The outcome of the last reload attempt.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReloadStatus {
    pub attempts: u64,
    pub failures: u64,
    /// Errors of the last refused reload; empty once a reload succeeds.
    pub last_errors: Vec<String>,
}

/// What the daemon serves from now.
#[derive(Debug, Clone, Serialize)]
pub struct Serving {
    /// The dial plan file.
    pub source: String,
    /// Counts successful loads since start.
    pub version: u64,
    pub nodes: usize,
    pub prompts: usize,
    /// Warnings of the plan and the calendar.
    pub warnings: Vec<String>,
}

/// Which call a form an operator sends belongs to: its record will list the form (see
/// [`crate::cdr::CallTies`] for the rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormFor {
    /// The call with this id (the admin API's `/api/calls/{id}/forms`): in progress, or
    /// ended within [`crate::cdr::LATE_FORM_WINDOW`].
    Call(u64),
    /// The call this operator is on, or the last one they took if it ended within the
    /// window (the console's duty page, which names no call).
    Operator(String),
}

/// A form queued for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub id: u64,
    /// `false` when the same request was already queued (idempotent retry).
    pub created: bool,
}

/// Why a form was not queued: the HTTP status and a message for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub status: u16,
    pub message: String,
}

/// The operator state change could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentOpError {
    /// No such operator (the message lists the known ones).
    Unknown(String),
    /// The SIP task is not running (starting or stopping).
    Unavailable,
}

/// A console user: an operator account from `operators.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub display: Option<String>,
    /// Admins see the supervisor and admin pages too.
    pub admin: bool,
    /// Teleworker (`remote`) rather than on site.
    pub remote: bool,
}

/// How the console keeps people logged in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSettings {
    /// A session unused this long ends.
    pub idle_timeout_s: u64,
    /// A session ends this long after login however busy it was.
    pub max_age_s: u64,
    /// Mark cookies `Secure` (the console is reached over HTTPS through a proxy).
    pub secure_cookies: bool,
}

/// A console session as stored: only the hash of its token is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub account: String,
    /// The token every state-changing request must carry.
    pub csrf: String,
    pub created_ms: i64,
    pub last_seen_ms: i64,
}

/// An admin's change to an operator account (`None`: keep as it is; for a new account
/// a password is required).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountChange {
    pub name: String,
    pub display: Option<String>,
    pub remote: Option<bool>,
    pub admin: Option<bool>,
    pub password: Option<String>,
}

/// A prompt as the console lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptInfo {
    pub id: String,
    /// What the recording says (the manifest's text).
    pub text: String,
    pub seconds: f64,
    /// Still the synthesiser's voice (its file is one `generate.sh` made).
    pub synthetic: bool,
}

/// A form of the catalog, as the console offers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormChoice {
    pub id: String,
    pub title: String,
}

/// The running daemon, as the admin API sees it.
pub trait Daemon: Send + Sync + 'static {
    /// The bearer token every request must carry, when one is configured.
    fn admin_token(&self) -> Option<&str>;
    /// Whether the daemon is draining for shutdown.
    fn draining(&self) -> bool;
    fn serving(&self) -> Serving;
    fn reload_status(&self) -> ReloadStatus;
    /// Reloads prompts, plan and calendar; blocking work (prompt decoding, file reads).
    fn reload(&self, why: &str) -> Result<u64, Vec<String>>;
    /// The manual override in force (expired ones count as none).
    fn manual_override(&self) -> Option<ManualOverride>;
    /// Stores and applies a manual override (`None`: back to the calendar).
    fn set_manual_override(&self, value: Option<ManualOverride>) -> Result<(), String>;
    fn calls(&self) -> Vec<LiveCall>;
    /// Operators and waiting callers as last published (JSON for the API).
    fn operators(&self) -> serde_json::Value;
    /// The trunk registration (`null` when no trunk is configured).
    fn trunk(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
    fn agent_op(
        &self,
        name: String,
        op: AgentOp,
    ) -> impl Future<Output = Result<(), AgentOpError>> + Send;
    /// Calls since `since` that nobody took; blocking (reads the call records).
    fn to_call_back(&self, since: jiff::Timestamp) -> Result<Vec<serde_json::Value>, String>;
    /// Callback jobs: the open ones, and finished ones last changed since `since`.
    fn callback_jobs(
        &self,
        since: jiff::Timestamp,
    ) -> impl Future<Output = Result<Vec<crate::callback::Job>, String>> + Send {
        let _ = since;
        async { Ok(Vec::new()) }
    }
    /// Asks for a callback of `number` (E.164) on an operator's word; the job once kept.
    fn callback_request(
        &self,
        number: String,
    ) -> impl Future<Output = Result<crate::callback::Job, String>> + Send {
        let _ = number;
        async { Err("callbacks are not available".to_owned()) }
    }
    /// Withdraws a waiting callback job: `Ok(false)` when it is not waiting (unknown,
    /// finished, or being called right now).
    fn callback_cancel(&self, id: u64) -> impl Future<Output = Result<bool, AgentOpError>> + Send {
        let _ = id;
        async { Err(AgentOpError::Unavailable) }
    }
    /// The Prometheus text of every metric.
    fn metrics(&self) -> impl Future<Output = String> + Send;
    /// Where the HTTP listeners count what they refuse.
    fn http_refusals(&self) -> &crate::metrics::http::HttpRefusals;
    /// The call a form sent now would belong to, if any.
    fn form_call(&self, of: &FormFor) -> Option<TiedCall>;
    /// Queues a form; once it is queued (not for a repeated key), `call`'s record lists it.
    fn send_form(
        &self,
        key: String,
        form: &str,
        channel: Channel,
        to: &str,
        call: Option<TiedCall>,
    ) -> impl Future<Output = Result<Queued, Refused>> + Send;
    fn outbox(
        &self,
        state: Option<State>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Row>, String>> + Send;
    fn voice_messages(
        &self,
        all: bool,
    ) -> impl Future<Output = Result<Vec<VoiceMessage>, String>> + Send;
    fn voice_message_done(
        &self,
        id: u64,
    ) -> impl Future<Output = Result<Option<bool>, String>> + Send;
    /// Now, as the daemon's clock says.
    fn now(&self) -> jiff::Timestamp;

    // The console (web pages for operators and admins).

    fn console_settings(&self) -> ConsoleSettings;
    /// The account whose HA1 matches `password`, if any (no other password store exists).
    fn check_password(&self, name: &str, password: &str) -> Option<Account>;
    /// The account as `operators.toml` has it now (a removed account ends its sessions).
    fn account(&self, name: &str) -> Option<Account>;
    /// Stores a new session (created now) under its token's hash.
    fn session_create(
        &self,
        token_hash: String,
        account: &Account,
        csrf: String,
    ) -> impl Future<Output = Result<(), String>> + Send;
    fn session(
        &self,
        token_hash: String,
    ) -> impl Future<Output = Result<Option<SessionRecord>, String>> + Send;
    /// Records that the session was used now.
    fn session_touch(&self, token_hash: String) -> impl Future<Output = Result<(), String>> + Send;
    fn session_delete(&self, token_hash: String)
    -> impl Future<Output = Result<(), String>> + Send;
    /// Ends sessions idle or old beyond the console settings.
    fn sessions_expire(&self) -> impl Future<Output = Result<usize, String>> + Send;
    /// Callbacks and voice messages to deal with (open first, oldest first).
    fn worklist(
        &self,
        include_done: bool,
    ) -> impl Future<Output = Result<Vec<WorkItem>, String>> + Send;
    fn work_claim(
        &self,
        id: u64,
        owner: String,
    ) -> impl Future<Output = Result<ClaimResult, String>> + Send;
    fn work_release(
        &self,
        id: u64,
        by: String,
    ) -> impl Future<Output = Result<ReleaseResult, String>> + Send;
    fn work_note(
        &self,
        id: u64,
        note: String,
        by: String,
    ) -> impl Future<Output = Result<bool, String>> + Send;
    fn work_done(
        &self,
        id: u64,
        by: String,
    ) -> impl Future<Output = Result<Option<bool>, String>> + Send;
    fn work_open_count(&self) -> impl Future<Output = Result<u64, String>> + Send;
    /// A call's menu path (node names joined as calls record them) in readable Hungarian.
    fn path_label(&self, path: &str) -> String;
    /// Every prompt served now, in manifest order; blocking (reads the files' digests).
    fn prompts(&self) -> Vec<PromptInfo>;
    /// The WAV file a prompt is played from now.
    fn prompt_file(&self, id: &str) -> Option<std::path::PathBuf>;
    /// Replaces a prompt's recording with `wav` (any rate; checked before it replaces
    /// anything) and reloads; `Err` says why it was refused.
    fn prompt_upload(
        &self,
        id: String,
        wav: Vec<u8>,
    ) -> impl Future<Output = Result<(), String>> + Send;
    /// Every operator account, in file order.
    fn accounts(&self) -> Vec<Account>;
    /// Adds or changes an account in `operators.toml` as `ugyelet passwd` does (HA1s
    /// only), reloads the accounts, and after a new password ends the account's console
    /// sessions. `Ok(true)`: added.
    fn account_save(
        &self,
        change: AccountChange,
    ) -> impl Future<Output = Result<bool, String>> + Send;
    /// The operators' knowledge base served now.
    fn knowledge(&self) -> std::sync::Arc<crate::knowledge::KnowledgeBase>;
    /// The call-record database (blocking: opens it).
    fn records(&self) -> Result<crate::cdr::Records, String>;
    /// The forms an operator can send.
    fn form_choices(&self) -> Vec<FormChoice>;
    /// The simulator's transcript of a call on the plan served now (`at`: civil time in
    /// Budapest, "2026-12-24 16:30", empty for now); blocking (runs the interpreter).
    fn simulate(&self, at: &str, from: &str, keys: &str) -> Result<Vec<String>, String>;
}
