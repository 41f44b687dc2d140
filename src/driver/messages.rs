//! What the driver's tasks say to each other. Imports nothing else from the driver, so any
//! task (and the admin API, through the driver's implementation of its trait) can name
//! these without pulling in the others.
//!
//! ```text
//!   call task ── ToSip::Command / CallGone ──►  SIP task  ── ToCall ──► call task
//!   TCP or TLS connection ── ToSip::Tcp / TcpOpen / TcpClosed ──► SIP task
//!   file watcher, admin API ── ToSip::Accounts / Agent ──► SIP task
//!   call tasks, call-record writer, admin API ── ToSip::Callback ──► SIP task
//! ```

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::acd::AgentOp;
use crate::call::{CallCommand, CallInput};
use crate::operators::Operators;
use crate::sdp::offer_answer::Negotiated;
use crate::sip::endpoint::DialogId;

/// Messages into the SIP task from elsewhere.
pub enum ToSip {
    /// A call wants something done.
    Command(DialogId, CallCommand),
    /// A call task finished.
    CallGone(DialogId),
    /// A complete message read from a TCP or TLS connection.
    Tcp {
        conn: u64,
        src: SocketAddr,
        local: SocketAddr,
        bytes: Vec<u8>,
        /// The connection is TLS (`driver/tls.rs`).
        secure: bool,
    },
    /// A TCP or TLS connection was accepted; its writer.
    TcpOpen {
        conn: u64,
        writer: mpsc::UnboundedSender<Arc<[u8]>>,
    },
    /// A TCP or TLS connection closed.
    TcpClosed { conn: u64 },
    /// The operator accounts file was read again.
    Accounts(Operators),
    /// The trunk provider's address was looked up (or could not be).
    TrunkResolved(Result<SocketAddr, String>),
    /// An admin asks to change an operator's state.
    Agent {
        name: String,
        op: AgentOp,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// A callback job the store just wrote (a new request, or one merged into an open job).
    Callback(crate::callback::Job),
    /// An operator withdraws a waiting callback job; the answer says whether it was.
    CallbackCancel {
        id: crate::callback::JobId,
        reply: oneshot::Sender<bool>,
    },
}

/// What the SIP task tells a call task.
pub enum ToCall {
    Sip(CallInput),
    /// An operator answered: from now on the call also owns the operator leg's RTP socket.
    Bridge {
        socket: UdpSocket,
        operator: String,
        negotiated: Negotiated,
        /// The operator leg's SRTP, when it was rung over TLS.
        srtp: Option<Box<crate::srtp::Session>>,
    },
}
