//! Transaction routing: which transaction a message belongs to, and where what a
//! transaction sends goes.
//!
//! Every message in or out passes through a transaction (RFC 3261 §17), except the ACK for
//! a 2xx and the 2xx's retransmissions, which belong to the dialog (RFC 3261 §13.3.1.4,
//! §13.2.2.4), and the stateless answer to a malformed request. This file holds the table
//! of live transactions and the rules that find one:
//!
//! - a request matches a server transaction by top Via branch, sent-by and method
//!   (RFC 3261 §17.2.3), with ACK looked up as the INVITE it acknowledges;
//! - a response matches a client transaction by branch and CSeq method (RFC 3261
//!   §17.1.3);
//! - a response goes back over the connection it came on, or over UDP to the source
//!   address (RFC 3261 §18.2.2, RFC 3581 §4).
//!
//! After any input the endpoint drains the transaction it touched ([`SipEndpoint::drain_tx`]):
//! its bytes become [`Transmit`]s to its peer, its events become dialog and call events,
//! its next deadline goes on the endpoint's timer heap, and a terminated transaction is
//! dropped. The table hands out every kind of machine as a [`Transaction`], so that step
//! is written once.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use super::dialog::DialogState;
use super::keys::{ServerKey, TxKey};
use super::{DialogId, EndReason, SipEndpoint, SipEvent, TimerOwner, Transmit, Transport};
use crate::sip::msg::{Request, Via};
use crate::sip::transaction::{
    ClientInvite, ClientNonInvite, ServerInvite, ServerNonInvite, Transaction, TxError, TxEvent,
};

/// A server transaction; an INVITE one knows its dialog (0: the INVITE was refused
/// before a dialog was made).
pub(super) enum ServerTx {
    Invite { tx: ServerInvite, dialog: DialogId },
    NonInvite(ServerNonInvite),
}

/// A server transaction and where its responses go (RFC 3261 §18.2.2).
pub(super) struct ServerEntry {
    pub(super) tx: ServerTx,
    pub(super) dst: SocketAddr,
    pub(super) transport: Transport,
}

/// A client non-INVITE transaction, where its request goes, and its dialog (0: none).
pub(super) struct ClientEntry {
    pub(super) tx: ClientNonInvite,
    pub(super) dst: SocketAddr,
    pub(super) transport: Transport,
    pub(super) dialog: DialogId,
}

/// An INVITE of ours in progress.
pub(super) struct UacInvite {
    pub(super) tx: ClientInvite,
    pub(super) dialog: DialogId,
    pub(super) dst: SocketAddr,
    pub(super) transport: Transport,
    pub(super) request: Request,
    pub(super) provisional: bool,
    pub(super) cancel_pending: bool,
    pub(super) cancelled: bool,
    pub(super) answered: bool,
    /// Credentials to answer a 401/407 to this INVITE with (calls through a trunk), and
    /// how many challenges this dialog's INVITEs have answered so far.
    pub(super) auth: Option<(std::sync::Arc<super::types::UacCredentials>, u8)>,
    /// A challenge to this INVITE was answered by a new one: the dialog lives on there.
    pub(super) superseded: bool,
}

/// Where a transaction's output goes, and the dialog its events concern (0: none).
#[derive(Debug, Clone, Copy)]
pub(super) struct Peer {
    pub(super) dst: SocketAddr,
    pub(super) transport: Transport,
    pub(super) dialog: DialogId,
}

/// Every live transaction, by kind. The kinds are kept apart because their inputs differ
/// (a server transaction takes our responses, a client one the peer's); timers and output
/// are the same for all and go through [`Transaction`] (see [`Transactions::get_mut`]).
#[derive(Default)]
pub(super) struct Transactions {
    pub(super) servers: HashMap<ServerKey, ServerEntry>,
    pub(super) clients: HashMap<String, ClientEntry>,
    pub(super) invites: HashMap<String, UacInvite>,
}

impl Transactions {
    /// The machine behind `key`, whatever its kind, and where its output goes.
    pub(super) fn get_mut(&mut self, key: &TxKey) -> Option<(&mut dyn Transaction, Peer)> {
        match key {
            TxKey::Server(k) => {
                let e = self.servers.get_mut(k)?;
                let (tx, dialog): (&mut dyn Transaction, DialogId) = match &mut e.tx {
                    ServerTx::Invite { tx, dialog } => (tx, *dialog),
                    ServerTx::NonInvite(tx) => (tx, 0),
                };
                let peer = Peer {
                    dst: e.dst,
                    transport: e.transport,
                    dialog,
                };
                Some((tx, peer))
            }
            TxKey::Client(k) => {
                let e = self.clients.get_mut(k)?;
                let peer = Peer {
                    dst: e.dst,
                    transport: e.transport,
                    dialog: e.dialog,
                };
                Some((&mut e.tx, peer))
            }
            TxKey::Invite(k) => {
                let e = self.invites.get_mut(k)?;
                let peer = Peer {
                    dst: e.dst,
                    transport: e.transport,
                    dialog: e.dialog,
                };
                Some((&mut e.tx, peer))
            }
        }
    }
}

impl SipEndpoint {
    /// Takes a new server transaction into the table and sends what it has queued.
    pub(super) fn insert_server(
        &mut self,
        now: Instant,
        key: ServerKey,
        tx: ServerTx,
        dst: SocketAddr,
        transport: Transport,
    ) {
        self.txs
            .servers
            .insert(key.clone(), ServerEntry { tx, dst, transport });
        self.drain_tx(now, TxKey::Server(key));
    }

    /// Drains a transaction's transmissions and events and re-arms its timer.
    pub(super) fn drain_tx(&mut self, now: Instant, key: TxKey) {
        let Some((tx, peer)) = self.txs.get_mut(&key) else {
            return;
        };
        let events = pump(tx, peer.dst, peer.transport, &mut self.transmits);
        let next = tx.poll_timeout();
        let terminated = tx.is_terminated();
        let dialog = peer.dialog;
        for ev in events {
            match ev {
                // Timer B, or the transport failed, before any final response.
                TxEvent::Timeout | TxEvent::TransportError if matches!(key, TxKey::Invite(_)) => {
                    let answered = match &key {
                        TxKey::Invite(b) => self.txs.invites.get(b).is_some_and(|e| e.answered),
                        _ => false,
                    };
                    if !answered
                        && self
                            .dialogs
                            .get(&dialog)
                            .is_some_and(|d| d.state != DialogState::Terminated)
                    {
                        self.terminate(dialog);
                        self.events.push_back(SipEvent::OutgoingFailed {
                            dialog,
                            status: 408,
                        });
                    }
                }
                TxEvent::AckTimeout | TxEvent::TransportError if dialog != 0 => {
                    if let TxKey::Server(_) = key
                        && self
                            .dialogs
                            .get(&dialog)
                            .is_some_and(|d| d.state != DialogState::Terminated)
                    {
                        self.terminate(dialog);
                        self.events.push_back(SipEvent::Ended {
                            dialog,
                            reason: EndReason::Failed,
                        });
                    }
                }
                _ => {}
            }
        }
        if terminated {
            match &key {
                TxKey::Server(k) => {
                    self.txs.servers.remove(k);
                }
                TxKey::Client(b) => {
                    // A dialog that ended while requests of ours in it were still in
                    // flight (a BYE, the CANCEL of a ring) is forgotten with the last of them.
                    if let Some(e) = self.txs.clients.remove(b)
                        && self
                            .dialogs
                            .get(&e.dialog)
                            .is_some_and(|d| d.state == DialogState::Terminated)
                        && !self.txs.clients.values().any(|c| c.dialog == e.dialog)
                    {
                        self.forget_dialog(e.dialog);
                    }
                    // Terminated without a final response: Timer F or a transport error.
                    if let Some(probe) = self.probes.remove(b) {
                        self.events.push_back(SipEvent::ProbeResult {
                            probe,
                            status: None,
                        });
                    }
                    if let Some(id) = self.requests.remove(b) {
                        self.events
                            .push_back(SipEvent::Answered { id, response: None });
                    }
                }
                TxKey::Invite(b) => {
                    self.txs.invites.remove(b);
                }
            }
            return;
        }
        if let Some(at) = next {
            self.arm(at.max(now), TimerOwner::Tx(key));
        }
    }
}

/// Moves everything `tx` has queued to send onto `out`, addressed to `dst`, and returns
/// its events.
pub(super) fn pump(
    tx: &mut dyn Transaction,
    dst: SocketAddr,
    transport: Transport,
    out: &mut VecDeque<Transmit>,
) -> Vec<TxEvent> {
    while let Some(bytes) = tx.poll_transmit() {
        out.push_back(Transmit {
            transport,
            dst,
            bytes,
        });
    }
    std::iter::from_fn(|| tx.poll_event()).collect()
}

/// A response the transaction refused is a bug in the endpoint (it asked for a transition
/// the RFC forbids); it is logged, and the transaction keeps its last valid state.
pub(super) fn refused(r: Result<(), TxError>) {
    if let Err(e) = r {
        tracing::warn!("SIP transaction refused a response: {e}");
    }
}

/// RFC 3261 §18.2.2 with RFC 3581 §4: where a response goes. Over TCP it goes back on the
/// connection; over UDP to `received`:`rport` when the client asked for rport, else to the
/// source address and the sent-by port.
pub(super) fn response_destination(
    top: Option<&Via>,
    src: SocketAddr,
    transport: Transport,
) -> SocketAddr {
    if transport.reliable() {
        return src;
    }
    match top {
        Some(v) if v.rport().is_some() => src,
        Some(v) => SocketAddr::new(src.ip(), v.port.unwrap_or(5060)),
        None => src,
    }
}
