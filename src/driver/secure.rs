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
//!   require_secure account:  once authenticated (the registrar, the switchboard's feature
//!                            codes and colleague calls): plain REGISTER ─► 403; its call over
//!                            UDP/TCP or with plain RTP ─► 403/488 (`CallerOffer::insecure`)
//! ```
//!
//! The keys come from the OS random number generator here, in the driver; the transform
//! (`crate::srtp`) and the SDP wrapping (`crate::sdp::sdes`) are pure.

use std::collections::HashMap;

use tracing::info;

use crate::sdp::sdes::{self, Opened};
use crate::sip::endpoint::{DialogId, Transport};
use crate::sip::msg::Request;
use crate::srtp::{MasterKey, Session, Suite};
use crate::switchboard::Insecure;

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
    /// Reads an incoming INVITE's offer. SDES is taken only over TLS. Whether the call is
    /// secure enough for a `require_secure` account is [`CallerOffer::insecure`]'s to say,
    /// asked only once the caller has authenticated as that account.
    pub(super) fn read(request: &Request, transport: Transport) -> Result<CallerOffer, Refusal> {
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
            (false, _) => Ok(CallerOffer {
                plain: opened.plain,
                secure: None,
            }),
        }
    }

    /// How this call, over `transport`, falls short of TLS with SRTP.
    pub(super) fn insecure(&self, transport: Transport) -> Option<Insecure> {
        if !transport.secure() {
            Some(Insecure::Transport(transport.via_name()))
        } else if self.secure.is_none() {
            Some(Insecure::PlainRtp)
        } else {
            None
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::msg::{Message, parse};

    fn sdp(proto: &str, crypto: &str) -> String {
        format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio 4000 {proto} 8\r\na=rtpmap:8 PCMA/8000\r\n{crypto}"
        )
    }

    fn request(method: &str, from: &str, body: &str) -> Request {
        let text = format!(
            "{method} sip:ugyelet@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/TLS 127.0.0.1:5000;branch=z9hG4bK1\r\n\
             From: <sip:{from}@127.0.0.1>;tag=1\r\nTo: <sip:{from}@127.0.0.1>\r\n\
             Call-ID: c1\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        match parse(text.as_bytes()) {
            Ok(Message::Request(r)) => r,
            other => panic!("test request does not parse: {other:?}"),
        }
    }

    const KEY: &str =
        "a=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:5Y0pFC5Lmsd0DT2xRkAaXiSyMj0T0ZibwfyzJ3sl\r\n";

    #[test]
    fn sdes_is_taken_over_tls_only_and_our_answer_echoes_the_tag() {
        let savp = sdp("RTP/SAVP", KEY);
        let offer = CallerOffer::read(&request("INVITE", "36301234567", &savp), Transport::Tls(1))
            .unwrap_or_else(|r| panic!("refused: {}", r.log));
        assert_eq!(offer.insecure(Transport::Tls(1)), None);
        assert!(String::from_utf8_lossy(&offer.plain).contains("RTP/AVP 8"));
        let plain_answer = sdp("RTP/AVP", "");
        let (answer, session) = offer
            .answer(plain_answer.into_bytes())
            .expect("secure answer");
        let answer = String::from_utf8(answer).expect("utf-8");
        assert!(answer.contains("RTP/SAVP"), "{answer}");
        assert!(
            answer.contains("a=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:"),
            "{answer}"
        );
        assert!(session.is_some());
        // The same offer over UDP is left to admission as it is (which refuses RTP/SAVP).
        let offer = CallerOffer::read(&request("INVITE", "36301234567", &savp), Transport::Udp)
            .unwrap_or_else(|r| panic!("refused: {}", r.log));
        assert_eq!(
            offer.insecure(Transport::Udp),
            Some(Insecure::Transport("UDP"))
        );
        assert_eq!(offer.plain, savp.as_bytes());
        let (_, session) = offer.answer(Vec::new()).expect("plain");
        assert!(session.is_none(), "no keys taken over UDP");
    }

    #[test]
    fn an_srtp_offer_without_a_usable_key_is_refused_and_a_plain_one_is_judged_by_its_transport() {
        let no_key = sdp(
            "RTP/SAVP",
            "a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:AAAA\r\n",
        );
        let r = CallerOffer::read(&request("INVITE", "anna", &no_key), Transport::Tls(1))
            .err()
            .expect("refused");
        assert_eq!(r.status, 488);
        // Plain offers are read whoever the From names (it proves nothing): how they fall
        // short is for the switchboard to weigh once the caller has authenticated.
        let plain = sdp("RTP/AVP", "");
        for (transport, insecure) in [
            (Transport::Tls(1), Insecure::PlainRtp),
            (Transport::Tcp(2), Insecure::Transport("TCP")),
            (Transport::Udp, Insecure::Transport("UDP")),
        ] {
            let offer = CallerOffer::read(&request("INVITE", "erika", &plain), transport)
                .unwrap_or_else(|r| panic!("refused: {}", r.log));
            assert_eq!(offer.insecure(transport), Some(insecure));
        }
        assert_eq!(Insecure::PlainRtp.status(), 488);
        assert_eq!(Insecure::Transport("UDP").status(), 403);
    }

    #[test]
    fn an_operator_answer_must_take_one_of_our_keys() {
        let mut legs = SecureLegs::default();
        let (offer, keys) = SecureLegs::offer(sdp("RTP/AVP", "").as_bytes()).expect("offer");
        assert!(String::from_utf8_lossy(&offer).contains("a=crypto:2 AES_CM_128_HMAC_SHA1_80"));
        legs.offered(1, keys.clone());
        let theirs = "a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:5Y0pFC5Lmsd0DT2xRkAaXiSyMj0T0ZibwfyzJ3sl\r\n";
        let body = legs
            .answered(1, sdp("RTP/SAVP", theirs).into_bytes())
            .expect("agreed");
        assert!(String::from_utf8_lossy(&body).contains("RTP/AVP 8"));
        assert!(legs.take(1).is_some());
        // Plain RTP, or a tag we did not offer under that suite: refused.
        legs.offered(2, keys.clone());
        assert_eq!(
            legs.answered(2, sdp("RTP/AVP", "").into_bytes()),
            Err("expected an RTP/SAVP answer to our SRTP offer, found plain RTP".to_owned())
        );
        legs.offered(3, keys);
        let wrong = theirs.replace("crypto:2", "crypto:1");
        assert_eq!(
            legs.answered(3, sdp("RTP/SAVP", &wrong).into_bytes()),
            Err(
                "expected the answer's a=crypto to take one of our tags, found tag 1 with \
                 AES_CM_128_HMAC_SHA1_80"
                    .to_owned()
            )
        );
        // A leg we rang over UDP passes as it is.
        let plain = sdp("RTP/AVP", "").into_bytes();
        assert_eq!(legs.answered(9, plain.clone()), Ok(plain));
    }
}
