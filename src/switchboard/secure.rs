//! `require_secure` for an operator's own calls: how a call falls short of TLS with SRTP,
//! judged only once the caller has authenticated as the account (a refusal before that
//! would tell anyone which names are teleworkers').

use tracing::info;

use std::net::SocketAddr;
use std::time::Instant;

use super::{Feature, Switchboard};
use crate::sip::auth::{Attempt, CredentialStore, Verdict};
use crate::sip::msg::Request;

/// What an operator's phone sees in the `Warning` of a plain call refused for
/// `require_secure`.
pub const CALL_WARNING: &str = "ez a fiók csak titkosított hívást (TLS és SRTP) indíthat";

/// How an operator's own call falls short of `require_secure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insecure {
    /// It came over this plain transport (UDP, TCP): 403.
    Transport(&'static str),
    /// It came over TLS but offered plain RTP: 488.
    PlainRtp,
}

impl Insecure {
    /// The status of the refusal.
    pub fn status(self) -> u16 {
        match self {
            Insecure::Transport(_) => 403,
            Insecure::PlainRtp => 488,
        }
    }
}

impl std::fmt::Display for Insecure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Insecure::Transport(t) => write!(f, "came over {t}"),
            Insecure::PlainRtp => f.write_str("offered plain RTP"),
        }
    }
}

impl Switchboard {
    /// Checks the Digest credentials of an operator's own INVITE (a feature code, a call to
    /// a colleague); an authenticated `require_secure` account whose call falls short
    /// (`insecure`) is refused here, as `Err` with what to answer.
    pub(super) fn verify_own_call(
        &mut self,
        now: Instant,
        request: &Request,
        source: SocketAddr,
        insecure: Option<Insecure>,
    ) -> Result<Verdict, Feature> {
        let ruri = request.uri.to_string();
        let attempt = Attempt {
            method: "INVITE",
            request_uri: &ruri,
            authorization: request.headers.get("Authorization"),
            source: source.ip(),
        };
        let verdict = self
            .registrar
            .auth_mut()
            .verify(now, &attempt, &self.accounts);
        match &verdict {
            Verdict::Ok { username, .. } => match self.not_secure(username, insecure) {
                Some(why) => Err(Feature::NotSecure(why.status())),
                None => Ok(verdict),
            },
            _ => Ok(verdict),
        }
    }

    /// How `username`'s own call falls short of their account's `require_secure`, logged.
    fn not_secure(&self, username: &str, insecure: Option<Insecure>) -> Option<Insecure> {
        let why = insecure.filter(|_| self.accounts.requires_secure(username))?;
        info!(operator = %username, "call from account {username} refused: require_secure, {why}");
        Some(why)
    }
}
