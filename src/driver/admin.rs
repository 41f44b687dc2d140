//! The admin API's view of the running daemon: the driver's answer to
//! [`crate::http::Daemon`], read from the shared state and the SIP task's inbox.

use std::sync::atomic::Ordering;

use super::live::Shared;
use super::messages::ToSip;
use crate::acd::AgentOp;
use crate::dialplan::calendar::ManualOverride;
use sha2::{Digest, Sha256};

use crate::cdr::TiedCall;
use crate::http::daemon::{
    Account, AccountChange, AgentOpError, ConsoleSettings, Daemon, FormChoice, FormFor, LiveCall,
    PromptInfo, Queued, Refused, ReloadStatus, Serving, SessionRecord,
};
use crate::notify::outbox::State;
use crate::operators::Role;
use crate::store::{Channel, Row, VoiceMessage};
use crate::store::{ClaimResult, ReleaseResult, WorkItem};
use std::time::Duration;

impl Shared {
    /// Into the SIP task, once it runs.
    fn sip_task(&self) -> Result<tokio::sync::mpsc::UnboundedSender<ToSip>, AgentOpError> {
        self.to_sip
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .ok_or(AgentOpError::Unavailable)
    }
}

impl Daemon for Shared {
    fn admin_token(&self) -> Option<&str> {
        self.cfg.admin.token.as_deref()
    }

    fn http_refusals(&self) -> &crate::metrics::http::HttpRefusals {
        &self.metrics.http
    }

    fn draining(&self) -> bool {
        self.metrics.draining.load(Ordering::Relaxed) == 1
    }

    fn serving(&self) -> Serving {
        let live = self.current();
        Serving {
            source: live.plan.source.clone(),
            version: live.version,
            nodes: live.plan.nodes.len(),
            prompts: live.prompts.len(),
            warnings: live.warnings.clone(),
        }
    }

    fn reload_status(&self) -> ReloadStatus {
        self.reload
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn reload(&self, why: &str) -> Result<u64, Vec<String>> {
        Shared::reload(self, why)
    }

    fn manual_override(&self) -> Option<ManualOverride> {
        self.manual()
    }

    fn set_manual_override(&self, value: Option<ManualOverride>) -> Result<(), String> {
        super::overrides::save(&self.cfg.state.dir, value.as_ref())?;
        self.set_manual(value);
        Ok(())
    }

    fn calls(&self) -> Vec<LiveCall> {
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    fn operators(&self) -> serde_json::Value {
        self.operators
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    async fn agent_op(&self, name: String, op: AgentOp) -> Result<(), AgentOpError> {
        let tx = self.sip_task()?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        tx.send(ToSip::Agent { name, op, reply })
            .map_err(|_| AgentOpError::Unavailable)?;
        match answer.await {
            Ok(r) => r.map_err(AgentOpError::Unknown),
            Err(_) => Err(AgentOpError::Unavailable),
        }
    }

    fn to_call_back(&self, since: jiff::Timestamp) -> Result<Vec<serde_json::Value>, String> {
        crate::cdr::Records::open(&self.cfg.state.dir).and_then(|r| r.to_call_back(since))
    }

    async fn callback_jobs(
        &self,
        since: jiff::Timestamp,
    ) -> Result<Vec<crate::callback::Job>, String> {
        self.forms.callback_jobs(since.as_millisecond()).await
    }

    async fn callback_request(&self, number: String) -> Result<crate::callback::Job, String> {
        let job = self.forms.callback_request(number, "console", None).await?;
        if let Ok(tx) = self.sip_task() {
            let _ = tx.send(ToSip::Callback(job.clone()));
        }
        Ok(job)
    }

    async fn callback_cancel(&self, id: u64) -> Result<bool, AgentOpError> {
        if !(self.cfg.callbacks.enabled && self.cfg.trunk.enabled()) {
            // Nobody calls back: the job lives in the store only.
            return self
                .forms
                .callback_cancel(id)
                .await
                .map_err(|_| AgentOpError::Unavailable);
        }
        let tx = self.sip_task()?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        tx.send(ToSip::CallbackCancel { id, reply })
            .map_err(|_| AgentOpError::Unavailable)?;
        answer.await.map_err(|_| AgentOpError::Unavailable)
    }

    fn trunk(&self) -> serde_json::Value {
        self.trunk
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    async fn metrics(&self) -> String {
        let mut body = self.metrics.render();
        body.push_str(&crate::metrics::render_operators(&Daemon::operators(self)));
        body.push_str(&crate::metrics::render_trunk(&Daemon::trunk(self)));
        if let Ok(counts) = self.forms.counts().await {
            body.push_str(&crate::metrics::render_outbox(&counts));
        }
        body
    }

    fn form_call(&self, of: &FormFor) -> Option<TiedCall> {
        let ties = self
            .ties
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = std::time::Instant::now();
        match of {
            FormFor::Call(id) => ties.call(*id, now),
            FormFor::Operator(name) => ties.operators_call(name, now),
        }
    }

    async fn send_form(
        &self,
        key: String,
        form: &str,
        channel: Channel,
        to: &str,
        call: Option<TiedCall>,
    ) -> Result<Queued, Refused> {
        match self.forms.send_form(key, form, channel, to).await {
            Ok(e) => {
                // A repeated key is the same message: its call lists it already.
                if e.created
                    && let Some(call) = call
                {
                    self.record_form(call.sip_call_id, form.to_owned());
                }
                Ok(Queued {
                    id: e.id,
                    created: e.created,
                })
            }
            Err(e) => Err(Refused {
                status: e.status(),
                message: e.to_string(),
            }),
        }
    }

    async fn outbox(&self, state: Option<State>, limit: u32) -> Result<Vec<Row>, String> {
        self.forms.list(state, limit).await
    }

    async fn voice_messages(&self, all: bool) -> Result<Vec<VoiceMessage>, String> {
        self.forms.voice_messages(all).await
    }

    async fn voice_message_done(&self, id: u64) -> Result<Option<bool>, String> {
        self.forms.voice_message_done(id).await
    }

    fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::now()
    }

    fn console_settings(&self) -> ConsoleSettings {
        ConsoleSettings {
            idle_timeout_s: self.cfg.admin.session_idle_minutes.saturating_mul(60),
            max_age_s: self.cfg.admin.session_max_hours.saturating_mul(3600),
            secure_cookies: self.cfg.admin.behind_https_proxy,
        }
    }

    fn check_password(&self, name: &str, password: &str) -> Option<Account> {
        self.operator_accounts()
            .verify_password(name, &self.cfg.sip.realm, password)
            .map(account)
    }

    fn account(&self, name: &str) -> Option<Account> {
        self.operator_accounts().get(name).map(account)
    }

    async fn session_create(
        &self,
        token_hash: String,
        account: &Account,
        csrf: String,
    ) -> Result<(), String> {
        let role = if account.admin {
            Role::Admin
        } else {
            Role::Operator
        };
        self.forms
            .create_session(
                token_hash,
                account.name.clone(),
                role.as_str().to_owned(),
                csrf,
            )
            .await
    }

    async fn session(&self, token_hash: String) -> Result<Option<SessionRecord>, String> {
        Ok(self
            .forms
            .session(token_hash)
            .await?
            .map(|s| SessionRecord {
                account: s.account,
                csrf: s.csrf,
                created_ms: s.created_ms,
                last_seen_ms: s.last_seen_ms,
            }))
    }

    async fn session_touch(&self, token_hash: String) -> Result<(), String> {
        self.forms.touch_session(token_hash).await.map(|_| ())
    }

    async fn session_delete(&self, token_hash: String) -> Result<(), String> {
        self.forms.delete_session(token_hash).await.map(|_| ())
    }

    async fn sessions_expire(&self) -> Result<usize, String> {
        let s = self.console_settings();
        self.forms
            .expire_sessions(
                Duration::from_secs(s.idle_timeout_s),
                Duration::from_secs(s.max_age_s),
            )
            .await
    }

    async fn worklist(&self, include_done: bool) -> Result<Vec<WorkItem>, String> {
        self.forms.worklist(include_done).await
    }

    async fn work_claim(&self, id: u64, owner: String) -> Result<ClaimResult, String> {
        self.forms.work_claim(id, owner).await
    }

    async fn work_release(&self, id: u64, by: String) -> Result<ReleaseResult, String> {
        self.forms.work_release(id, by).await
    }

    async fn work_note(&self, id: u64, note: String, by: String) -> Result<bool, String> {
        self.forms.work_note(id, note, by).await
    }

    async fn work_done(&self, id: u64, by: String) -> Result<Option<bool>, String> {
        self.forms.work_done(id, by).await
    }

    async fn work_open_count(&self) -> Result<u64, String> {
        self.forms.work_open_count().await
    }

    fn path_label(&self, path: &str) -> String {
        self.current().plan.path_label(path)
    }

    fn simulate(&self, at: &str, from: &str, keys: &str) -> Result<Vec<String>, String> {
        let call = super::live::simulated_call(Some(at), from, keys)
            .map_err(|(input, e)| format!("{input}: {e}"))?;
        Ok(super::live::transcript(
            &self.cfg,
            &self.current(),
            self.manual(),
            call,
        ))
    }

    fn prompts(&self) -> Vec<PromptInfo> {
        let live = self.current();
        let synthetic = synthetic_digests(&self.cfg.prompts.dir);
        live.prompts
            .ids()
            .filter_map(|id| {
                let p = live.prompts.get(id)?;
                let digest = live
                    .prompts
                    .source(id)
                    .and_then(|path| std::fs::read(path).ok())
                    .map(|bytes| hex::encode(Sha256::digest(&bytes)));
                Some(PromptInfo {
                    id: id.to_owned(),
                    text: p.text.clone(),
                    seconds: p.pcm.len() as f64 / 8000.0,
                    synthetic: digest.is_some_and(|d| synthetic.contains(&d)),
                })
            })
            .collect()
    }

    fn prompt_file(&self, id: &str) -> Option<std::path::PathBuf> {
        self.current()
            .prompts
            .source(id)
            .map(std::path::Path::to_path_buf)
    }

    async fn prompt_upload(&self, id: String, wav: Vec<u8>) -> Result<(), String> {
        let live = self.current();
        let source = live
            .prompts
            .source(&id)
            .ok_or_else(|| format!("nincs ilyen hang: „{id}”"))?;
        let file = source
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .ok_or_else(|| "a hang fájlneve nem olvasható".to_owned())?;
        let dir = super::live::recordings_dir(&self.cfg);
        let target = crate::media::prompts::recording_path(&dir, &file)
            .ok_or_else(|| format!("érvénytelen fájlnév: {file}"))?;
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            // Checked as a file of its own first, then renamed over the old recording:
            // a bad upload never replaces a good prompt, and a call never reads half a file.
            let tmp = dir.join(format!(".{file}.feltoltes"));
            std::fs::write(&tmp, &wav).map_err(|e| format!("{}: {e}", tmp.display()))?;
            match crate::media::prompts::check_wav(&tmp) {
                Ok(samples) if samples >= 800 => {}
                Ok(_) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err("a felvétel rövidebb 0,1 másodpercnél".to_owned());
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(format!("nem lejátszható WAV: {e}"));
                }
            }
            std::fs::rename(&tmp, &target).map_err(|e| format!("{}: {e}", target.display()))
        })
        .await
        .map_err(|e| e.to_string())??;
        // Decoding every prompt is blocking work; the runtime has other threads for the
        // rest meanwhile.
        tokio::task::block_in_place(|| self.reload("prompt uploaded in the console"))
            .map(|_| ())
            .map_err(|errors| errors.join("; "))
    }

    fn accounts(&self) -> Vec<Account> {
        self.operator_accounts().iter().map(account).collect()
    }

    async fn account_save(&self, change: AccountChange) -> Result<bool, String> {
        let path = self.cfg.sip.operators.clone();
        let realm = self.cfg.sip.realm.clone();
        let existing = self.operator_accounts().get(&change.name).cloned();
        let new_password = change.password.is_some();
        let name = change.name.clone();
        let added = tokio::task::spawn_blocking(move || {
            save_account(&path, &realm, existing.as_ref(), &change)
        })
        .await
        .map_err(|e| e.to_string())??;
        self.reload_operators();
        if new_password {
            self.forms.delete_sessions_of(name).await?;
        }
        Ok(added)
    }

    fn knowledge(&self) -> std::sync::Arc<crate::knowledge::KnowledgeBase> {
        std::sync::Arc::clone(&self.current().knowledge)
    }

    fn records(&self) -> Result<crate::cdr::Records, String> {
        crate::cdr::Records::open(&self.cfg.state.dir)
    }

    fn form_choices(&self) -> Vec<FormChoice> {
        self.forms
            .catalog()
            .forms()
            .iter()
            .map(|f| FormChoice {
                id: f.id.clone(),
                title: f.title.clone(),
            })
            .collect()
    }
}

/// Writes `change` into the operators file at `path` (blocking).
fn save_account(
    path: &std::path::Path,
    realm: &str,
    existing: Option<&crate::operators::Operator>,
    change: &AccountChange,
) -> Result<bool, String> {
    use crate::operators::{Update, Upserted, upsert};
    let credentials = match (&change.password, existing) {
        (Some(pw), _) => match crate::operators::check_password(pw) {
            Ok(()) => crate::sip::auth::Credentials::from_password(&change.name, realm, pw),
            Err(short) => {
                return Err(format!(
                    "a jelszó legalább {} karakter legyen (ez {} karakteres): a telefonok \
                     az internet felől is regisztrálnak, ahol jelszópróbálgatók dolgoznak",
                    crate::operators::MIN_PASSWORD_CHARS,
                    short.chars
                ));
            }
        },
        (None, Some(op)) => op.credentials.clone(),
        (None, None) => return Err("új fiókhoz jelszó kell".to_owned()),
    };
    let text = super::operators_file::read_or_empty(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let update = Update {
        name: &change.name,
        display: change.display.as_deref(),
        location: change.remote.map(|r| {
            if r {
                crate::acd::Location::Remote
            } else {
                crate::acd::Location::OnSite
            }
        }),
        role: change
            .admin
            .map(|a| if a { Role::Admin } else { Role::Operator }),
        credentials: &credentials,
    };
    let file = path.display().to_string();
    let (new_text, how) = upsert(&text, &file, &update).map_err(|e| e.join("; "))?;
    super::operators_file::write_atomically(path, &new_text)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(how == Upserted::Added)
}

/// The digests `generate.sh` listed for the synthetic prompt files.
fn synthetic_digests(dir: &std::path::Path) -> std::collections::HashSet<String> {
    std::fs::read_to_string(dir.join(crate::media::prompts::SYNTHETIC_LIST))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

fn account(op: &crate::operators::Operator) -> Account {
    Account {
        name: op.name.clone(),
        display: op.display.clone(),
        admin: op.role == Role::Admin,
        remote: op.location == crate::acd::Location::Remote,
    }
}

impl Shared {
    fn operator_accounts(&self) -> std::sync::Arc<crate::operators::Operators> {
        match self.accounts.read() {
            Ok(g) => std::sync::Arc::clone(&g),
            Err(p) => std::sync::Arc::clone(&p.into_inner()),
        }
    }
}
