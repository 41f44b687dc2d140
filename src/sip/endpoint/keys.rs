//! How transactions are named: the keys the transaction table, the timer heap and the
//! dialogs use to find one (RFC 3261 §17.1.3, §17.2.3).

use super::BRANCH_MAGIC;
use crate::sip::msg::{Method, Request};

/// RFC 3261 §17.2.3: a server transaction is matched by the top Via's branch, its
/// sent-by, and the method (ACK and CANCEL match the INVITE's by branch; CANCEL has its own
/// transaction, keyed with its own method).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct ServerKey {
    pub(super) branch: String,
    pub(super) sent_by: String,
    pub(super) method: Method,
}

/// Names one transaction in [`Transactions`], and the timer heap's entries for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum TxKey {
    Server(ServerKey),
    /// Non-INVITE client transactions by [`client_key`].
    Client(String),
    /// Our INVITEs by branch.
    Invite(String),
}

/// The key of a client non-INVITE transaction: its branch and method. RFC 3261 §17.1.3
/// matches a response by both, since a CANCEL shares its INVITE's branch (RFC 3261 §9.1).
pub(super) fn client_key(branch: &str, method: &Method) -> String {
    format!("{branch} {}", method.as_str())
}

/// RFC 3261 §17.2.3 matching key of a request; `None` when it has no Via.
pub(super) fn server_key(req: &Request) -> Option<ServerKey> {
    let top = req.via.first()?;
    let sent_by = match top.port {
        Some(p) => format!("{}:{p}", top.host),
        None => top.host.to_string(),
    };
    let branch = match top.branch() {
        Some(b) if b.starts_with(BRANCH_MAGIC) => b.to_owned(),
        // RFC 2543 peers: no magic cookie. Fall back on the request's identity (§17.2.3
        // lists the full RFC 2543 rule; Call-ID, From tag and CSeq number identify it well
        // enough for retransmission absorption).
        _ => format!(
            "2543|{}|{}|{}",
            req.call_id,
            req.from.tag().unwrap_or_default(),
            req.cseq.seq
        ),
    };
    Some(ServerKey {
        branch,
        sent_by,
        method: req.method.clone(),
    })
}
