//! SDES: SRTP keys in SDP (RFC 4568 `a=crypto`), around the plain offer/answer.
//!
//! The offer/answer core (`offer_answer.rs`) speaks RTP/AVP. A secure leg is the same
//! negotiation wrapped: an incoming RTP/SAVP description is read for its `a=crypto` lines and
//! handed to the core as RTP/AVP ([`open`]); what the core writes is turned into RTP/SAVP
//! with our key ([`secure_offer`], [`secure_answer`]).
//!
//! ```text
//!   a=crypto:<tag> <crypto-suite> inline:<base64(key ‖ salt)>[|lifetime][|MKI:len] [<session-params>]
//! ```
//!
//! The keys travel in the clear inside SDP, so the caller of this module must only use it
//! on signalling that is itself encrypted (SIP over TLS): RFC 4568 §8.3: "the SDP MUST be
//! protected ... [it] MUST NOT be used with unsecured signaling".

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sdp_types::Attribute;

use super::SdpError;
use crate::srtp::{MasterKey, Suite};

/// One usable `a=crypto` line: its tag (echoed in the answer) and the sender's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crypto {
    pub tag: u32,
    pub key: MasterKey,
}

/// A description read for its SRTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The body with its audio stream turned RTP/AVP (unchanged when it was already).
    pub plain: Vec<u8>,
    /// The audio stream was offered or answered as RTP/SAVP.
    pub secure: bool,
    /// The first `a=crypto` line of the audio stream with a suite and key we can use.
    pub crypto: Option<Crypto>,
}

/// Reads an offer or an answer: which `a=crypto` of the (first) audio stream we take, and
/// the description as RTP/AVP for the offer/answer core.
///
/// RFC 4568 §7.1.2: the answerer "MUST select one of the crypto attributes ... [that it]
/// supports"; lines with a suite, key length, MKI or session parameter we do not implement
/// are passed over.
pub fn open(body: &[u8]) -> Result<Opened, SdpError> {
    let mut session = super::parse(body)?;
    let mut secure = false;
    let mut crypto = None;
    if let Some(media) = session
        .medias
        .iter_mut()
        .find(|m| m.media.eq_ignore_ascii_case("audio"))
        && media.proto.eq_ignore_ascii_case("RTP/SAVP")
    {
        secure = true;
        crypto = media
            .attributes
            .iter()
            .filter(|a| a.attribute.eq_ignore_ascii_case("crypto"))
            .find_map(|a| parse_crypto(a.value.as_deref().unwrap_or("")));
        media.proto = "RTP/AVP".to_owned();
        media
            .attributes
            .retain(|a| !a.attribute.eq_ignore_ascii_case("crypto"));
    }
    Ok(Opened {
        plain: if secure {
            super::print(&session)
        } else {
            body.to_vec()
        },
        secure,
        crypto,
    })
}

/// Turns our plain offer secure: the audio stream becomes RTP/SAVP with one `a=crypto` per
/// key, tags 1, 2, … in our order of preference (RFC 4568 §5.1).
pub fn secure_offer(body: &[u8], keys: &[MasterKey]) -> Result<Vec<u8>, SdpError> {
    let mut session = super::parse(body)?;
    for media in session
        .medias
        .iter_mut()
        .filter(|m| m.media.eq_ignore_ascii_case("audio"))
    {
        media.proto = "RTP/SAVP".to_owned();
        for (tag, key) in (1u32..).zip(keys) {
            media.attributes.push(crypto_attribute(tag, key));
        }
    }
    Ok(super::print(&session))
}

/// Turns our plain answer secure: RTP/SAVP with our key under the tag of the offer's line
/// we accepted (RFC 4568 §7.1.2: "the answerer ... MUST use the same tag value").
pub fn secure_answer(
    body: &[u8],
    accepted_tag: u32,
    ours: &MasterKey,
) -> Result<Vec<u8>, SdpError> {
    let mut session = super::parse(body)?;
    if let Some(media) = session
        .medias
        .iter_mut()
        .find(|m| m.media.eq_ignore_ascii_case("audio") && m.port != 0)
    {
        media.proto = "RTP/SAVP".to_owned();
        media.attributes.push(crypto_attribute(accepted_tag, ours));
    }
    Ok(super::print(&session))
}

/// In an answer to our offer: the answerer's line must carry one of our tags with the
/// suite we offered under it (RFC 4568 §7.1.3); returns which of `offered` it took.
pub fn accepted<'a>(crypto: &Crypto, offered: &'a [MasterKey]) -> Option<&'a MasterKey> {
    let i = usize::try_from(crypto.tag).ok()?.checked_sub(1)?;
    offered
        .get(i)
        .filter(|ours| ours.suite() == crypto.key.suite())
}

fn crypto_attribute(tag: u32, key: &MasterKey) -> Attribute {
    Attribute::with_value(
        "crypto",
        format!(
            "{tag} {} inline:{}",
            key.suite().sdes_name(),
            STANDARD.encode(key.key_and_salt())
        ),
    )
}

/// Session parameters that change nothing for us: the daemon sends no RTCP.
const HARMLESS_SESSION_PARAMS: [&str; 2] = ["UNENCRYPTED_SRTCP", "UNAUTHENTICATED_SRTCP"];

/// Parses the value of one `a=crypto` attribute; `None` when it is malformed or asks for
/// something we do not do.
///
/// RFC 4568 §9.1:
/// ```text
/// crypto-attribute = "crypto:" tag 1*WSP crypto-suite 1*WSP key-params *(1*WSP session-param)
/// key-params       = key-param *(";" key-param)
/// key-param        = key-method ":" key-info
/// srtp-key-info    = key-salt ["|" lifetime] ["|" mki]
/// ```
pub fn parse_crypto(value: &str) -> Option<Crypto> {
    let mut words = value.split_ascii_whitespace();
    let tag: u32 = words.next()?.parse().ok()?;
    // RFC 4568 §9.1: "tag = 1*9DIGIT".
    if tag == 0 || tag > 999_999_999 {
        return None;
    }
    let suite = Suite::from_sdes_name(words.next()?)?;
    let key_params = words.next()?;
    if words.any(|p| !HARMLESS_SESSION_PARAMS.contains(&p)) {
        return None;
    }
    // One key only: several keys need MKIs, which we do not implement.
    if key_params.contains(';') {
        return None;
    }
    let info = key_params.strip_prefix("inline:")?;
    let mut parts = info.split('|');
    let encoded = parts.next()?;
    for extra in parts {
        // A lifetime is fine (our calls are far shorter than 2^31 packets); an MKI is not.
        if extra.contains(':') {
            return None;
        }
    }
    let raw = STANDARD.decode(encoded).ok()?;
    let key = MasterKey::new(suite, &raw).ok()?;
    Some(Crypto { tag, key })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAVP_OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
        m=audio 4000 RTP/SAVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n\
        a=rtpmap:101 telephone-event/8000\r\n\
        a=crypto:1 AES_CM_256_HMAC_SHA1_80 inline:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\r\n\
        a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:5Y0pFC5Lmsd0DT2xRkAaXiSyMj0T0ZibwfyzJ3sl|2^31\r\n\
        a=crypto:3 AEAD_AES_128_GCM inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw==\r\n";

    #[test]
    fn an_savp_offer_yields_the_first_line_of_ours_and_a_plain_body_for_the_core() {
        let opened = open(SAVP_OFFER.as_bytes()).expect("parses");
        assert!(opened.secure);
        let c = opened.crypto.expect("a usable line");
        assert_eq!(c.tag, 2, "the AES-256 line is passed over");
        assert_eq!(c.key.suite(), Suite::AesCm128HmacSha1_80);
        let plain = String::from_utf8(opened.plain).expect("utf-8");
        assert!(plain.contains("m=audio 4000 RTP/AVP 8 0 101"), "{plain}");
        assert!(!plain.contains("crypto"), "{plain}");
    }

    #[test]
    fn a_plain_offer_is_left_as_it_is() {
        let body = SAVP_OFFER.replace("RTP/SAVP", "RTP/AVP");
        let opened = open(body.as_bytes()).expect("parses");
        assert!(!opened.secure);
        assert_eq!(opened.crypto, None);
        assert_eq!(opened.plain, body.as_bytes());
    }

    #[test]
    fn lines_with_an_mki_a_second_key_or_unknown_session_params_are_not_used() {
        let key = "5Y0pFC5Lmsd0DT2xRkAaXiSyMj0T0ZibwfyzJ3sl";
        assert!(parse_crypto(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{key}")).is_some());
        assert!(
            parse_crypto(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{key}|2^20|1:4")).is_none()
        );
        assert!(
            parse_crypto(&format!(
                "1 AES_CM_128_HMAC_SHA1_80 inline:{key};inline:{key}"
            ))
            .is_none()
        );
        assert!(
            parse_crypto(&format!(
                "1 AES_CM_128_HMAC_SHA1_80 inline:{key} UNENCRYPTED_SRTP"
            ))
            .is_none()
        );
        assert!(
            parse_crypto(&format!(
                "1 AES_CM_128_HMAC_SHA1_80 inline:{key} UNENCRYPTED_SRTCP"
            ))
            .is_some()
        );
        assert!(
            parse_crypto("1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=").is_none(),
            "short key"
        );
        assert!(parse_crypto(&format!("0 AES_CM_128_HMAC_SHA1_80 inline:{key}")).is_none());
        assert!(parse_crypto("").is_none());
    }

    #[test]
    fn our_offer_and_answer_carry_our_keys_under_their_tags() {
        let plain = SAVP_OFFER.replace("RTP/SAVP", "RTP/AVP");
        let plain: String = plain
            .lines()
            .filter(|l| !l.contains("crypto"))
            .map(|l| format!("{l}\r\n"))
            .collect();
        let gcm = MasterKey::from_random(Suite::AeadAes128Gcm, [1; 30]);
        let cm = MasterKey::from_random(Suite::AesCm128HmacSha1_80, [2; 30]);
        let offer = secure_offer(plain.as_bytes(), &[gcm.clone(), cm.clone()]).expect("offer");
        let reread = open(&offer).expect("parses");
        assert!(reread.secure);
        assert_eq!(
            reread.crypto,
            Some(Crypto {
                tag: 1,
                key: gcm.clone()
            })
        );
        let answer = secure_answer(plain.as_bytes(), 2, &cm).expect("answer");
        let back = open(&answer).expect("parses").crypto.expect("our line");
        assert_eq!(back.tag, 2);
        assert_eq!(accepted(&back, &[gcm.clone(), cm.clone()]), Some(&cm));
        let wrong_suite = Crypto {
            tag: 1,
            key: cm.clone(),
        };
        assert_eq!(accepted(&wrong_suite, &[gcm, cm]), None);
    }
}
