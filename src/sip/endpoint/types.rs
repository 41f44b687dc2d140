//! The endpoint's vocabulary: the types its user sends in and gets back.
//!
//! Kept apart from the machinery so that a reader of the driver, the switchboard or the
//! call layer finds here everything they exchange with [`SipEndpoint`] (where bytes go,
//! what happened, what to call, what was counted) without reading how transactions and
//! dialogs work. Everything here is re-exported from `crate::sip::endpoint`.

use std::net::SocketAddr;
use std::sync::Arc;

#[cfg(doc)] // the docs below link to the methods that take and give these types
use super::SipEndpoint;
use crate::sip::msg::{Headers, Method, NameAddr, Request, Response, Uri};
use crate::sip::transaction::TimerConfig;

/// Methods this endpoint serves, for `Allow` (RFC 3261 §20.5).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER";

/// `Allow` of an endpoint that also serves as the operators' registrar.
pub const ALLOW_WITH_REGISTER: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, REGISTER";

/// RFC 3261 §8.1.1.7: "The branch ID inserted by an element compliant with this
/// specification MUST always begin with the characters "z9hG4bK"."
pub const BRANCH_MAGIC: &str = "z9hG4bK";

/// Which way a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// A UDP datagram socket.
    Udp,
    /// A TCP connection, by the driver's id for it. Responses go back on the same
    /// connection (RFC 3261 §18.2.2).
    Tcp(u64),
    /// A TLS connection (RFC 3261 §26.2), by the driver's id for it (one numbering with
    /// TCP's). Like TCP, responses and requests to a phone registered over it reuse it.
    Tls(u64),
}

impl Transport {
    pub(super) fn reliable(self) -> bool {
        matches!(self, Transport::Tcp(_) | Transport::Tls(_))
    }

    /// The driver's connection, for stream transports.
    pub fn connection(self) -> Option<u64> {
        match self {
            Transport::Udp => None,
            Transport::Tcp(c) | Transport::Tls(c) => Some(c),
        }
    }

    /// Whether the signalling is encrypted (what SDES keys in SDP may travel over).
    pub fn secure(self) -> bool {
        matches!(self, Transport::Tls(_))
    }

    pub fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp(_) => "TCP",
            Transport::Tls(_) => "TLS",
        }
    }
}

/// Bytes for the driver to send.
#[derive(Debug, Clone)]
pub struct Transmit {
    pub transport: Transport,
    pub dst: SocketAddr,
    pub bytes: Arc<[u8]>,
}

/// A dialog (and its call) inside the endpoint.
pub type DialogId = u64;

/// Why a dialog ended without the local side asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The peer sent BYE.
    PeerBye,
    /// The peer cancelled before we answered.
    Cancelled,
    /// Our 2xx was never acknowledged (RFC 3261 §13.3.1.4); we sent BYE.
    AckTimeout,
    /// Our final error response was never acknowledged (Timer H) or the transport failed.
    Failed,
}

/// What happened, for the endpoint's user.
#[derive(Debug)]
pub enum SipEvent {
    /// A new INVITE. Answer it with [`SipEndpoint::ringing`], [`SipEndpoint::answer`] or
    /// [`SipEndpoint::reject`].
    IncomingCall {
        dialog: DialogId,
        request: Box<Request>,
        source: SocketAddr,
        local: SocketAddr,
        /// What it came over: SRTP keys may only be taken from an offer over TLS.
        transport: Transport,
    },
    /// The ACK for our 2xx arrived: the call is established.
    Confirmed { dialog: DialogId },
    /// A re-INVITE (e.g. hold). Answer it with [`SipEndpoint::answer`] or `reject`.
    ReInvite {
        dialog: DialogId,
        request: Box<Request>,
    },
    /// An INFO request inside the dialog (already answered 200).
    Info {
        dialog: DialogId,
        content_type: String,
        body: Vec<u8>,
    },
    /// A REFER inside the dialog (a transfer, RFC 3515). Answer it with
    /// [`SipEndpoint::respond`] (202 to accept, an error to refuse); report progress with
    /// NOTIFYs sent by [`SipEndpoint::request_in_dialog`].
    Refer {
        dialog: DialogId,
        id: RequestId,
        request: Box<Request>,
    },
    /// The dialog ended from the far side or by a timeout.
    Ended { dialog: DialogId, reason: EndReason },
    /// Our INVITE (see [`SipEndpoint::invite`]) got a provisional response.
    OutgoingProgress { dialog: DialogId, status: u16 },
    /// Our INVITE was answered (the ACK is already sent); the body is the answer SDP.
    OutgoingAnswered { dialog: DialogId, sdp: Vec<u8> },
    /// Our INVITE failed: a final error, a timeout (408), or our own CANCEL (487).
    OutgoingFailed { dialog: DialogId, status: u16 },
    /// A REGISTER (only with [`EndpointConfig::registrar`]). Answer it with
    /// [`SipEndpoint::respond`]; its server transaction absorbs retransmissions meanwhile.
    Register {
        id: RequestId,
        request: Box<Request>,
        /// Where it really came from (the NAT binding to reach the softphone at).
        source: SocketAddr,
        transport: Transport,
    },
    /// The answer to a keep-alive OPTIONS sent with [`SipEndpoint::probe`]: `Some(status)`
    /// for any response (the path is open), `None` when none came (Timer F).
    ProbeResult { probe: u64, status: Option<u16> },
    /// The final response to a request sent with [`SipEndpoint::request`] or
    /// [`SipEndpoint::request_in_dialog`], or `None` when none came (Timer F or a transport
    /// error).
    Answered {
        id: u64,
        response: Option<Box<Response>>,
    },
}

/// An out-of-dialog request of the daemon's own (see [`SipEndpoint::request`]).
#[derive(Debug, Clone)]
pub struct OutRequest {
    /// Comes back in [`SipEvent::Answered`].
    pub id: u64,
    pub method: Method,
    pub uri: Uri,
    pub from: NameAddr,
    pub to: NameAddr,
    pub call_id: String,
    pub cseq: u32,
    /// Headers beyond Via, From, To, Call-ID, CSeq, Max-Forwards and User-Agent.
    pub headers: Headers,
    pub dst: SocketAddr,
    pub transport: Transport,
    /// Our address as `dst` sees it.
    pub local: SocketAddr,
}

/// A request handed to the endpoint's user to answer.
pub type RequestId = u64;

/// An INVITE the daemon sends (the operator leg of a bridged call, or a call out through
/// the trunk).
#[derive(Debug, Clone)]
pub struct OutgoingCall {
    /// Request-URI: the Contact the operator's softphone registered.
    pub request_uri: Uri,
    /// Where to send it: the address the REGISTER really came from (its NAT binding).
    pub dst: SocketAddr,
    pub transport: Transport,
    /// Our address as `dst` sees it.
    pub local: SocketAddr,
    /// The operator's address of record.
    pub to: NameAddr,
    /// Who the operator sees calling (display name and user: the caller's number).
    pub from: NameAddr,
    /// Extra headers, e.g. `X-Ugyelet-Path`.
    pub headers: Vec<(String, String)>,
    pub sdp: Vec<u8>,
}

/// A user name and password for a provider's Digest challenge to our INVITE (see
/// [`SipEndpoint::invite_with_credentials`]). `Debug` does not show the password.
#[derive(Clone)]
pub struct UacCredentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for UacCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UacCredentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Counters for metrics and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub requests: u64,
    /// Requests by method, in the order of [`STATS_METHODS`] (last: any other).
    pub requests_by_method: [u64; 8],
    pub responses: u64,
    /// Responses received, by class (1xx … 6xx).
    pub responses_by_class: [u64; 6],
    /// New calls refused with 503 while the daemon drains for shutdown.
    pub refused_draining: u64,
    /// New calls refused with a stateless 503 while the SIP task was behind (`shed.rs`).
    pub refused_overload: u64,
    pub malformed_answered: u64,
    pub malformed_dropped: u64,
    pub retransmissions_absorbed: u64,
    /// Requests the endpoint refused by itself (RFC 3261 §8.2 checks, requests their
    /// dialog does not allow, and the stateless answers to broken requests), by the status
    /// sent, in the order of [`REFUSED_STATUSES`].
    pub refused_by_status: [u64; 11],
}

/// The statuses counted in [`Stats::refused_by_status`]: everything the endpoint refuses a
/// request with without asking the call layer or the registrar.
pub const REFUSED_STATUSES: [u16; 11] = [400, 405, 406, 415, 416, 420, 481, 491, 500, 501, 505];

/// Methods counted one by one in [`Stats::requests_by_method`]; others share the last slot.
pub const STATS_METHODS: [&str; 8] = [
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "REGISTER", "other",
];

/// Endpoint settings.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    pub timers: TimerConfig,
    pub user_agent: String,
    /// User part of our Contact URI.
    pub contact_user: String,
    /// Serve REGISTER (as [`SipEvent::Register`]); without it REGISTER gets 405.
    pub registrar: bool,
}
