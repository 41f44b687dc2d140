//! Secure legs: SRTP keys (SDES, RFC 4568) offered and accepted only over SIP/TLS, and the
//! accounts that may use nothing else (`require_secure`).
//!
//! ```text
//!   operator rung over TLS:  our offer ─► RTP/SAVP + a=crypto (fresh keys, GCM and CM_80)
//!                            their 200 ─► our key ⨯ theirs = srtp::Session ─► the bridge
//!                            (an answer without a usable a=crypto: the leg is hung up)
//!   call arriving over TLS:  RTP/SAVP offer ─► plain to admission, our key in the answer,
//!                            the session on the caller leg (prompts and relay alike)
//!   plain transport:         SDES is never offered nor accepted (the keys would be readable)
//!   require_secure account:  plain REGISTER ─► 403; a call over UDP/TCP or with plain RTP ─► 403/488
//! ```
//!
//! The keys come from the OS random number generator here, in the driver; the transform
//! (`crate::srtp`) and the SDP wrapping (`crate::sdp::sdes`) are pure.

use std::collections::HashMap;

use tracing::{info, warn};

use crate::operators::Operators;
use crate::pii::Pii;
use crate::sdp::sdes::{self, Opened};
use crate::sip::endpoint::{DialogId, Transport};
use crate::sip::msg::{Request, Response, reason_phrase};
use crate::srtp::{MasterKey, Session, Suite};

/// What an operator sees in the `Warning` of a refused REGISTER.
pub const REGISTER_WARNING: &str =
    "ez a fiók csak titkosított kapcsolaton (TLS: sips: vagy transport=tls) regisztrálhat";

/// What a caller's phone sees in the `Warning` of a refused plain call.
pub const CALL_WARNING: &str = "ez a fiók csak titkosított hívást (TLS és SRTP) indíthat";

/// A fresh master key of `suite` from the OS random number generator.
fn fresh(suite: Suite) -> MasterKey {
    MasterKey::from_random(suite, rand::random())
}

/// Per-leg SRTP state of the SIP task's operator legs.
#[derive(Default)]
pub(super) struct SecureLegs {
    /// Operator legs rung over TLS: the keys we offered, by tag (tag = index + 1).
    offered: HashMap<DialogId, Vec<MasterKey>>,
    /// Legs whose answer agreed SRTP: the session, until the bridge takes it.
    ready: HashMap<DialogId, Box<Session>>,
}

impl SecureLegs {
    /// Our offer to a phone reached over TLS, made secure; the keys are remembered for the
    /// leg once `leg` is known (see [`SecureLegs::offered`]).
    pub(super) fn offer(sdp: &[u8]) -> Result<(Vec<u8>, Vec<MasterKey>), String> {
        let keys: Vec<MasterKey> = Suite::ALL.into_iter().map(fresh).collect();
        let body = sdes::secure_offer(sdp, &keys).map_err(|e| e.to_string())?;
        Ok((body, keys))
    }

    pub(super) fn offered(&mut self, leg: DialogId, keys: Vec<MasterKey>) {
        self.offered.insert(leg, keys);
    }

    /// An operator leg's answer: `Ok(body)` for the switchboard (RTP/AVP when it was
    /// secure), or `Err` when we offered SRTP and the answer has no usable key for it.
    pub(super) fn answered(&mut self, leg: DialogId, sdp: Vec<u8>) -> Result<Vec<u8>, String> {
        let Some(keys) = self.offered.remove(&leg) else {
            return Ok(sdp);
        };
        let opened = sdes::open(&sdp).map_err(|e| e.to_string())?;
        let Opened {
            plain,
            secure,
            crypto,
        } = opened;
        if !secure {
            return Err("expected an RTP/SAVP answer to our SRTP offer, found plain RTP".into());
        }
        let Some(theirs) = crypto else {
            return Err("expected an a=crypto line in the answer, found none we can use".into());
        };
        let Some(ours) = sdes::accepted(&theirs, &keys) else {
            return Err(format!(
                "expected the answer's a=crypto to take one of our tags, found tag {} with {}",
                theirs.tag,
                theirs.key.suite().sdes_name()
            ));
        };
        info!(
            leg,
            suite = ours.suite().sdes_name(),
            "operator leg: SRTP agreed"
        );
        self.ready
            .insert(leg, Box::new(Session::new(ours, &theirs.key)));
        Ok(plain)
    }

    /// The leg's SRTP session, for the bridge (`None`: plain RTP).
    pub(super) fn take(&mut self, leg: DialogId) -> Option<Box<Session>> {
        self.offered.remove(&leg);
        self.ready.remove(&leg)
    }
}

/// An incoming call's offer as admission should see it, and what makes the answer secure.
pub(super) struct CallerOffer {
    /// The offer for admission (RTP/AVP).
    pub plain: Vec<u8>,
    /// The accepted tag and our key, when the offer was SRTP over TLS.
    secure: Option<(u32, MasterKey, MasterKey)>,
}

/// Why a call or a registration is refused here.
pub(super) struct Refusal {
    pub status: u16,
    pub warning: &'static str,
    pub log: String,
}

impl CallerOffer {
    /// Reads an incoming INVITE's offer. SDES is taken only over TLS; an account that
    /// requires security calling over a plain transport or with plain RTP is refused.
    pub(super) fn read(
        accounts: &Operators,
        request: &Request,
        transport: Transport,
    ) -> Result<CallerOffer, Refusal> {
        let user = request.from.uri.user().unwrap_or("");
        let required = accounts.get(user).is_some_and(|o| o.require_secure);
        if required && !transport.secure() {
            return Err(Refusal {
                status: 403,
                warning: CALL_WARNING,
                log: format!(
                    "call from account {user} refused: require_secure, came over {}",
                    transport_name(transport)
                ),
            });
        }
        if !transport.secure() || request.body.is_empty() {
            return Ok(CallerOffer {
                plain: request.body.clone(),
                secure: None,
            });
        }
        let opened = match sdes::open(&request.body) {
            Ok(o) => o,
            // Admission answers malformed SDP with its own error.
            Err(_) => {
                return Ok(CallerOffer {
                    plain: request.body.clone(),
                    secure: None,
                });
            }
        };
        match (opened.secure, opened.crypto) {
            (true, Some(c)) => {
                let ours = fresh(c.key.suite());
                Ok(CallerOffer {
                    plain: opened.plain,
                    secure: Some((c.tag, ours, c.key)),
                })
            }
            (true, None) => Err(Refusal {
                status: 488,
                warning: "nincs használható a=crypto sor (AES_CM_128_HMAC_SHA1_80 vagy AEAD_AES_128_GCM)",
                log: "SRTP offer without a usable a=crypto line (expected AES_CM_128_HMAC_SHA1_80 or AEAD_AES_128_GCM)".to_owned(),
            }),
            (false, _) if required => Err(Refusal {
                status: 488,
                warning: CALL_WARNING,
                log: format!("call from account {user} refused: require_secure, offered plain RTP"),
            }),
            (false, _) => Ok(CallerOffer {
                plain: opened.plain,
                secure: None,
            }),
        }
    }

    /// Our answer, made secure when the offer was; and the caller leg's session.
    pub(super) fn answer(
        self,
        answer_sdp: Vec<u8>,
    ) -> Result<(Vec<u8>, Option<Box<Session>>), String> {
        let Some((tag, ours, theirs)) = self.secure else {
            return Ok((answer_sdp, None));
        };
        let body = sdes::secure_answer(&answer_sdp, tag, &ours).map_err(|e| e.to_string())?;
        info!(suite = ours.suite().sdes_name(), "caller leg: SRTP agreed");
        Ok((body, Some(Box::new(Session::new(&ours, &theirs)))))
    }
}

/// A REGISTER of an account that requires TLS, arriving otherwise: the 403 to send.
pub(super) fn register_refusal(
    accounts: &Operators,
    request: &Request,
    transport: Transport,
    source: std::net::SocketAddr,
) -> Option<Response> {
    if transport.secure() {
        return None;
    }
    let user = request.to.uri.user()?;
    if !accounts.get(user).is_some_and(|o| o.require_secure) {
        return None;
    }
    warn!(
        account = user,
        source = %Pii(source),
        transport = transport_name(transport),
        "REGISTER refused: the account has require_secure and must register over TLS"
    );
    let mut r = Response::from_request(request, 403, reason_phrase(403), Some("ugyelet-tls"));
    r.headers
        .set("Warning", format!("399 ugyelet \"{REGISTER_WARNING}\""));
    Some(r)
}

fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "UDP",
        Transport::Tcp(_) => "TCP",
        Transport::Tls(_) => "TLS",
    }
}
