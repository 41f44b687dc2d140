//! The admin API's view of the running daemon: the driver's answer to
//! [`crate::http::Daemon`], read from the shared state and the SIP task's inbox.

use std::sync::atomic::Ordering;

use super::live::Shared;
use super::messages::ToSip;
use crate::acd::AgentOp;
use crate::dialplan::calendar::ManualOverride;
use crate::http::daemon::{AgentOpError, Daemon, LiveCall, Queued, Refused, ReloadStatus, Serving};
use crate::notify::outbox::State;
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
}
