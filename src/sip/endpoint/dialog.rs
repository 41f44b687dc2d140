//! Dialogs (RFC 3261 §12): the state both sides of a call keep between transactions.
//!
//! A dialog is created by an INVITE we receive (the UAS side) or send (the UAC side) and
//! is identified by Call-ID and the two tags (RFC 3261 §12). It remembers what requests
//! inside it need: the route set, the remote target, both CSeq counters, the address and
//! transport the call runs over, and where the call is in its life. The transactions of a
//! call come and go while the dialog stays; it is dropped when the call ends, or, when we
//! sent a BYE, once that BYE's transaction has ended.
//!
//! Both sides share one [`Dialog`] type because what a request inside the dialog needs is
//! the same whichever side sent the INVITE; the fields only one side uses say so.

use std::net::SocketAddr;
use std::sync::Arc;

use super::keys::ServerKey;
use super::{DialogId, SipEndpoint, Transport};
use crate::sip::msg::{NameAddr, Request, Uri};
use crate::sip::transaction::Uas2xxRetransmitter;

/// Where a dialog is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DialogState {
    /// INVITE received, no final response yet.
    Early,
    /// 2xx sent; waiting for its ACK.
    Answered,
    /// ACK received.
    Confirmed,
    /// BYE sent or received, or the INVITE failed.
    Terminated,
}

/// One dialog, keyed in the endpoint by [`DialogId`] and by Call-ID and tags.
pub(super) struct Dialog {
    pub(super) call_id: String,
    pub(super) local_tag: String,
    pub(super) remote_tag: String,
    /// Our side as it appears in From of our requests (the INVITE's To plus our tag).
    pub(super) local: NameAddr,
    /// The peer as it appears in To of our requests (the INVITE's From).
    pub(super) remote: NameAddr,
    pub(super) remote_target: Uri,
    pub(super) route_set: Vec<String>,
    pub(super) remote_cseq: u32,
    pub(super) local_cseq: u32,
    pub(super) peer: SocketAddr,
    pub(super) local_addr: SocketAddr,
    pub(super) transport: Transport,
    pub(super) state: DialogState,
    /// The INVITE (initial or re-INVITE) awaiting our final response.
    pub(super) pending_invite: Option<(ServerKey, Box<Request>)>,
    pub(super) retransmit_2xx: Option<Uas2xxRetransmitter>,
    /// Where our 2xx and its retransmissions go: the INVITE's response address.
    pub(super) retransmit_to: SocketAddr,
    /// Why the pending INVITE is refused, for a `Warning` header.
    pub(super) warning: Option<String>,
    /// `WWW-Authenticate` challenges for a 401 to the pending INVITE.
    pub(super) challenges: Vec<String>,
    /// In-dialog requests go to `peer` (the flow the dialog was set up on) rather than to
    /// the Contact: true for dialogs we started towards registered softphones behind NAT.
    pub(super) use_flow: bool,
    /// The ACK we sent for our INVITE's 2xx, re-sent for each retransmitted 2xx
    /// (RFC 3261 §13.2.2.4).
    pub(super) ack_2xx: Option<Arc<[u8]>>,
    /// Hang-up requested before the ACK arrived: RFC 3261 §15 "the callee's UA MUST NOT
    /// send a BYE on a confirmed dialog until it has received an ACK for its 2xx response
    /// or until the server transaction times out".
    pub(super) bye_pending: bool,
}

impl SipEndpoint {
    /// The dialog a request inside one belongs to: Call-ID, our tag in To, theirs in From
    /// (RFC 3261 §12.2.2).
    pub(super) fn find_dialog(&self, req: &Request) -> Option<DialogId> {
        let local = req.to.tag()?;
        let remote = req.from.tag().unwrap_or_default();
        self.by_tags
            .get(&(req.call_id.clone(), local.to_owned(), remote.to_owned()))
            .copied()
    }

    /// The dialog with this Call-ID whose tags are `a` and `b`, in either order: a
    /// Replaces header (RFC 3891 §3) names them from the point of view of whoever is to
    /// be replaced, which may be either side of ours.
    pub fn dialog_by_ids(&self, call_id: &str, a: &str, b: &str) -> Option<DialogId> {
        let key = |l: &str, r: &str| (call_id.to_owned(), l.to_owned(), r.to_owned());
        self.by_tags
            .get(&key(a, b))
            .or_else(|| self.by_tags.get(&key(b, a)))
            .copied()
    }

    pub(super) fn check_cseq(&mut self, dialog: DialogId, req: &Request) -> Option<u16> {
        let d = self.dialogs.get_mut(&dialog)?;
        // RFC 3261 §12.2.2: "If the remote sequence number is not empty, but the sequence
        // number of the request is lower than the remote sequence number, the request is out
        // of order and MUST be rejected with a 500 (Server Internal Error) response."
        if req.cseq.seq < d.remote_cseq {
            return Some(500);
        }
        d.remote_cseq = req.cseq.seq;
        None
    }

    pub(super) fn terminate(&mut self, dialog: DialogId) {
        if let Some(d) = self.dialogs.get_mut(&dialog) {
            d.state = DialogState::Terminated;
            d.retransmit_2xx = None;
        }
        // Keep the dialog while a request of ours in it (a BYE, a CANCEL) is still in
        // flight: its responses must still find it. The last of them forgets it (see
        // `drain_tx`).
        if !self.txs.clients.values().any(|c| c.dialog == dialog) {
            self.forget_dialog(dialog);
        }
    }

    pub(super) fn forget_dialog(&mut self, dialog: DialogId) {
        if let Some(d) = self.dialogs.remove(&dialog) {
            self.by_tags.remove(&(d.call_id, d.local_tag, d.remote_tag));
        }
    }
}
