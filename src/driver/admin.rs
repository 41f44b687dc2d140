//! The admin API's view of the running daemon: the driver's answer to
//! [`crate::http::Daemon`], read from the shared state and the SIP task's inbox.

use std::sync::atomic::Ordering;

use super::live::Shared;
use super::messages::ToSip;
use crate::acd::AgentOp;
use crate::dialplan::calendar::ManualOverride;
use crate::http::daemon::{
    Account, AgentOpError, ConsoleSettings, Daemon, FormChoice, LiveCall, Queued, Refused,
    ReloadStatus, Serving, SessionRecord,
};
use crate::notify::outbox::State;
use crate::sip::auth::{Algorithm, ha1};
use crate::store::{Channel, Row, VoiceMessage};

impl Daemon for Shared {
    fn admin_token(&self) -> Option<&str> {
        self.cfg.admin.token.as_deref()
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

    fn call(&self, id: u64) -> Option<LiveCall> {
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    fn operators(&self) -> serde_json::Value {
        self.operators
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    async fn agent_op(&self, name: String, op: AgentOp) -> Result<(), AgentOpError> {
        let tx = self
            .to_sip
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let tx = tx.ok_or(AgentOpError::Unavailable)?;
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

    async fn metrics(&self) -> String {
        let mut body = self.metrics.render();
        body.push_str(&crate::metrics::render_operators(&Daemon::operators(self)));
        if let Ok(counts) = self.forms.counts().await {
            body.push_str(&crate::metrics::render_outbox(&counts));
        }
        body
    }

    async fn send_form(
        &self,
        key: String,
        form: &str,
        channel: Channel,
        to: &str,
    ) -> Result<Queued, Refused> {
        match self.forms.send_form(key, form, channel, to).await {
            Ok(e) => Ok(Queued {
                id: e.id,
                created: e.created,
            }),
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
        let accounts = self.accounts();
        let op = accounts.get(name)?;
        let realm = &self.cfg.sip.realm;
        let matches = |alg: Algorithm| {
            op.credentials
                .ha1(alg)
                .is_some_and(|stored| same(stored, &ha1(alg, name, realm, password)))
        };
        (matches(Algorithm::Sha256) || matches(Algorithm::Md5)).then(|| account(op))
    }

    fn account(&self, name: &str) -> Option<Account> {
        self.accounts().get(name).map(account)
    }

    async fn session_create(
        &self,
        token_hash: String,
        session: SessionRecord,
    ) -> Result<(), String> {
        self.sessions_lock().insert(token_hash, session);
        Ok(())
    }

    async fn session(&self, token_hash: String) -> Result<Option<SessionRecord>, String> {
        Ok(self.sessions_lock().get(&token_hash).cloned())
    }

    async fn session_touch(&self, token_hash: String, now_ms: i64) -> Result<(), String> {
        if let Some(s) = self.sessions_lock().get_mut(&token_hash) {
            s.last_seen_ms = now_ms;
        }
        Ok(())
    }

    async fn session_delete(&self, token_hash: String) -> Result<(), String> {
        self.sessions_lock().remove(&token_hash);
        Ok(())
    }

    fn path_label(&self, path: &str) -> String {
        path.split(['>', ',', ' '])
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(" › ")
    }

    fn simulate(&self, at: &str, from: &str, keys: &str) -> Result<Vec<String>, String> {
        super::live::transcript(&self.current(), self.manual(), Some(at), from, keys)
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

fn account(op: &crate::operators::Operator) -> Account {
    Account {
        name: op.name.clone(),
        display: op.display.clone(),
        admin: false,
        remote: op.location == crate::acd::Location::Remote,
    }
}

/// Equal without an early exit (the time taken says nothing about the stored hash).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Shared {
    fn accounts(&self) -> std::sync::Arc<crate::operators::Operators> {
        match self.accounts.read() {
            Ok(g) => std::sync::Arc::clone(&g),
            Err(p) => std::sync::Arc::clone(&p.into_inner()),
        }
    }

    fn sessions_lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, SessionRecord>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
