//! What becomes of a new INVITE to the line: a feature code, an operator's call to a
//! colleague, a call, or a refusal.
//!
//! A pure decision, taken in one place so its order is visible and tested: feature codes
//! first (an operator's `*21` must be challenged before any port is spent on it), then an
//! RTP port, then the offer. Binding the port is the driver's I/O, handed in as a closure
//! that is only called when the call gets that far. A daemon that drains for shutdown never
//! gets this far: the SIP endpoint itself answers new INVITEs with 503 and `Retry-After`
//! (RFC 3261 §21.5.4) before any dialog exists.

use crate::sdp::offer_answer::{LocalMedia, MediaSession, Negotiated};
use crate::switchboard::{Colleague, Feature};

/// The decision on one INVITE.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// 401 with these challenges (a feature code without credentials).
    Challenge(Vec<String>),
    /// A final error response; `reason` goes into a `Warning` header where it helps the
    /// caller's administrator (a codec mismatch).
    Refuse { status: u16, reason: Option<String> },
    /// Take the call: ring, then answer with `answer_sdp`.
    Accept(Accepted),
}

/// An accepted call's media.
#[derive(Debug, PartialEq, Eq)]
pub struct Accepted {
    /// An operator's own call: a feature code carried out (the call only confirms it with
    /// a tone), or a call to a colleague.
    pub feature: bool,
    /// An operator's call to a colleague: who calls whom.
    pub colleague: Option<Colleague>,
    pub negotiated: Negotiated,
    pub answer_sdp: Vec<u8>,
    pub media: MediaSession,
}

/// Decides on one INVITE.
///
/// `bind` reserves an RTP port and returns our media description for it (or why none is
/// free); it is called only for calls that pass the earlier checks.
pub fn admit(
    feature: Feature,
    offer: &[u8],
    bind: impl FnOnce() -> Result<LocalMedia, String>,
) -> Admission {
    let (is_feature, colleague) = match feature {
        Feature::No => (false, None),
        Feature::Done => (true, None),
        Feature::Colleague(c) => (true, Some(c)),
        Feature::Challenge(ch) => return Admission::Challenge(ch),
        Feature::Refuse(status) => {
            return Admission::Refuse {
                status,
                reason: None,
            };
        }
        Feature::NotSecure(status) => {
            return Admission::Refuse {
                status,
                reason: Some(crate::switchboard::CALL_WARNING.to_owned()),
            };
        }
    };
    let media = match bind() {
        Ok(local) => MediaSession::new(local),
        Err(why) => {
            tracing::error!("no RTP port free: {why}");
            return Admission::Refuse {
                status: 503,
                reason: None,
            };
        }
    };
    match media.answer(offer) {
        Ok((negotiated, answer_sdp)) => Admission::Accept(Accepted {
            feature: is_feature,
            colleague,
            negotiated,
            answer_sdp,
            media,
        }),
        Err(e) => Admission::Refuse {
            status: e.status(),
            reason: Some(e.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::fixtures;

    fn local() -> LocalMedia {
        LocalMedia {
            addr: "127.0.0.1".parse().expect("literal"),
            port: 40000,
            session_id: 7,
            session_version: 1,
            username: "ugyelet".to_owned(),
        }
    }

    fn refused(a: &Admission) -> Option<u16> {
        match a {
            Admission::Refuse { status, .. } => Some(*status),
            _ => None,
        }
    }

    #[test]
    fn offer_without_g711_is_refused_with_488_and_says_what_was_offered() {
        let a = admit(
            Feature::No,
            fixtures::ONLY_OPUS_AND_VIDEO.as_bytes(),
            || Ok(local()),
        );
        match a {
            Admission::Refuse {
                status: 488,
                reason: Some(r),
            } => assert!(r.contains("PCMA/8000"), "{r}"),
            other => panic!("expected 488, found {other:?}"),
        }
    }

    #[test]
    fn no_free_rtp_port_is_refused_with_503() {
        let a = admit(Feature::No, fixtures::SIPP_UAC.as_bytes(), || {
            Err("RTP port range exhausted".to_owned())
        });
        assert_eq!(refused(&a), Some(503));
    }

    #[test]
    fn feature_code_without_credentials_is_challenged_before_binding_a_port() {
        let a = admit(
            Feature::Challenge(vec!["Digest realm=\"x\"".to_owned()]),
            fixtures::SIPP_UAC.as_bytes(),
            || panic!("no port for a challenge"),
        );
        assert_eq!(
            a,
            Admission::Challenge(vec!["Digest realm=\"x\"".to_owned()])
        );
    }

    #[test]
    fn unknown_or_throttled_feature_code_is_refused_with_its_status() {
        for status in [404, 403, 400] {
            let a = admit(
                Feature::Refuse(status),
                fixtures::SIPP_UAC.as_bytes(),
                || panic!("no port for a refusal"),
            );
            assert_eq!(refused(&a), Some(status));
        }
    }

    #[test]
    fn feature_code_done_is_accepted_as_a_feature_call() {
        let a = admit(Feature::Done, fixtures::SIPP_UAC.as_bytes(), || Ok(local()));
        match a {
            Admission::Accept(acc) => {
                assert!(acc.feature);
                assert_eq!(acc.media.local().port, 40000);
            }
            other => panic!("expected a call, found {other:?}"),
        }
    }

    #[test]
    fn an_operators_call_to_a_colleague_is_their_own_call_and_says_whom_it_is_for() {
        let colleague = Colleague {
            from: "anna".into(),
            to: "bela".into(),
        };
        let a = admit(
            Feature::Colleague(colleague.clone()),
            fixtures::SIPP_UAC.as_bytes(),
            || Ok(local()),
        );
        match a {
            Admission::Accept(acc) => {
                assert!(acc.feature, "not a resident's call");
                assert_eq!(acc.colleague, Some(colleague));
            }
            other => panic!("expected a call, found {other:?}"),
        }
    }

    #[test]
    fn ordinary_call_is_accepted_with_an_answer_on_the_bound_port() {
        let a = admit(Feature::No, fixtures::SIPP_UAC.as_bytes(), || Ok(local()));
        match a {
            Admission::Accept(acc) => {
                assert!(!acc.feature);
                let text = String::from_utf8_lossy(&acc.answer_sdp).into_owned();
                assert!(text.contains("m=audio 40000 RTP/AVP 0"), "{text}");
                assert_eq!(acc.negotiated.codec, crate::sdp::offer_answer::Codec::Pcmu);
            }
            other => panic!("expected a call, found {other:?}"),
        }
    }
}
