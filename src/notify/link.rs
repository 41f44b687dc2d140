//! Signed, expiring download links for forms sent by SMS.
//!
//! A link is `{base}/f/{token}`. The token is URL-safe base64 (RFC 4648 §5, no padding) of
//!
//! ```text
//!   version (1 octet, = 1) | expiry (u32, Unix seconds, big-endian)
//!   | message id (u64, big-endian) | form id (UTF-8) | tag (16 octets)
//! ```
//!
//! where the tag is HMAC-SHA256 (RFC 2104) over everything before it, truncated to its
//! left-most 128 bits. RFC 2104 §5: truncation is fine as long as the output length is "not
//! less than half the length of the hash output" — 128 of 256 bits is exactly that, and it
//! keeps the SMS in one segment. The tag is checked in constant time (`Mac::verify_*`), so
//! the time taken says nothing about how many octets of a forged tag were right.
//!
//! Verification answers in a fixed order: a token that does not decode is
//! [`LinkError::Malformed`], one whose tag does not match is [`LinkError::Forged`], and only
//! an authentic one can be [`LinkError::Expired`] — so nobody learns anything about a
//! forged token's expiry.
//!
//! Time is passed in as Unix seconds: this module reads no clock.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Environment variable read by [`LinkKey::from_config`] when the config has no secret.
pub const SECRET_ENV: &str = "UGYELET_LINK_SECRET";

/// Shortest secret accepted, in octets (the HMAC-SHA256 output length; RFC 2104 §3
/// discourages keys shorter than the hash output).
pub const MIN_SECRET_LEN: usize = 32;

const VERSION: u8 = 1;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + 4 + 8;

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub form_id: String,
    /// Unix seconds after which the link no longer serves the form.
    pub expires_at: u64,
    /// The outbox message that carried the link (downloads are counted against it).
    pub message_id: u64,
}

/// Why a token was refused, or a key could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkError {
    /// The token is not one this daemon could have made.
    Malformed(&'static str),
    /// The token decodes but its tag is wrong: edited or invented.
    Forged,
    /// Authentic but too old.
    Expired { expired_at: u64 },
    /// The configured secret is too short (or missing).
    WeakSecret { found: usize },
    /// The expiry does not fit the token's 32-bit field.
    ExpiryOutOfRange { found: u64 },
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "malformed link token: {why}"),
            Self::Forged => write!(f, "link token signature does not match"),
            Self::Expired { expired_at } => {
                write!(f, "link expired at Unix time {expired_at}")
            }
            Self::WeakSecret { found } => write!(
                f,
                "expected a link secret of at least {MIN_SECRET_LEN} bytes (config \
                 notify.link_secret or ${SECRET_ENV}), found {found}"
            ),
            Self::ExpiryOutOfRange { found } => write!(
                f,
                "expected a link expiry before 2106 (u32 Unix seconds), found {found}"
            ),
        }
    }
}

impl std::error::Error for LinkError {}

/// The secret links are signed with.
#[derive(Clone)]
pub struct LinkKey {
    secret: Vec<u8>,
}

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(..)")
    }
}

impl LinkKey {
    /// A key from raw secret bytes; refuses secrets shorter than [`MIN_SECRET_LEN`].
    pub fn new(secret: &[u8]) -> Result<Self, LinkError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(LinkError::WeakSecret {
                found: secret.len(),
            });
        }
        Ok(Self {
            secret: secret.to_vec(),
        })
    }

    /// The configured secret, or else the one in [`SECRET_ENV`].
    pub fn from_config(configured: Option<&str>) -> Result<Self, LinkError> {
        match configured.filter(|s| !s.is_empty()) {
            Some(s) => Self::new(s.as_bytes()),
            None => {
                let env = std::env::var(SECRET_ENV).unwrap_or_default();
                Self::new(env.as_bytes())
            }
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret)
            .expect("HMAC accepts keys of any length")
    }

    /// Makes the token for `link`.
    pub fn sign(&self, link: &Link) -> Result<String, LinkError> {
        let expiry = u32::try_from(link.expires_at).map_err(|_| LinkError::ExpiryOutOfRange {
            found: link.expires_at,
        })?;
        let mut raw = Vec::with_capacity(HEADER_LEN + link.form_id.len() + TAG_LEN);
        raw.push(VERSION);
        raw.extend_from_slice(&expiry.to_be_bytes());
        raw.extend_from_slice(&link.message_id.to_be_bytes());
        raw.extend_from_slice(link.form_id.as_bytes());
        let mut mac = self.mac();
        mac.update(&raw);
        let tag = mac.finalize().into_bytes();
        raw.extend_from_slice(&tag[..TAG_LEN]);
        Ok(URL_SAFE_NO_PAD.encode(raw))
    }

    /// Checks `token` at `now_unix` (seconds). A link is valid up to and including its
    /// expiry second.
    pub fn verify(&self, token: &str, now_unix: u64) -> Result<Link, LinkError> {
        let raw = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| LinkError::Malformed("expected URL-safe base64"))?;
        if raw.len() < HEADER_LEN + 1 + TAG_LEN {
            return Err(LinkError::Malformed("too short"));
        }
        if raw[0] != VERSION {
            return Err(LinkError::Malformed("unknown token version"));
        }
        let (body, tag) = raw.split_at(raw.len() - TAG_LEN);
        let mut mac = self.mac();
        mac.update(body);
        mac.verify_truncated_left(tag)
            .map_err(|_| LinkError::Forged)?;
        let expiry = u32::from_be_bytes(body[1..5].try_into().expect("4 octets by length check"));
        let message_id =
            u64::from_be_bytes(body[5..13].try_into().expect("8 octets by length check"));
        let form_id = std::str::from_utf8(&body[HEADER_LEN..])
            .map_err(|_| LinkError::Malformed("form id is not UTF-8"))?
            .to_owned();
        let expires_at = u64::from(expiry);
        if now_unix > expires_at {
            return Err(LinkError::Expired {
                expired_at: expires_at,
            });
        }
        Ok(Link {
            form_id,
            expires_at,
            message_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> LinkKey {
        LinkKey::new(b"0123456789abcdef0123456789abcdef").expect("32 bytes")
    }

    fn link() -> Link {
        Link {
            form_id: "lakcim".into(),
            expires_at: 1_800_000_000,
            message_id: 42,
        }
    }

    #[test]
    fn a_signed_link_verifies_until_and_including_its_expiry_second() {
        let token = key().sign(&link()).expect("in range");
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{token} is URL-safe"
        );
        assert_eq!(token.len(), 47, "1+4+8+6+16 = 35 octets, unpadded base64");
        assert_eq!(key().verify(&token, 1_700_000_000), Ok(link()));
        assert_eq!(key().verify(&token, 1_800_000_000), Ok(link()));
        assert_eq!(
            key().verify(&token, 1_800_000_001),
            Err(LinkError::Expired {
                expired_at: 1_800_000_000
            })
        );
    }

    #[test]
    fn any_changed_octet_or_another_key_makes_the_link_forged() {
        let token = key().sign(&link()).expect("in range");
        let raw = URL_SAFE_NO_PAD.decode(&token).expect("own token decodes");
        // Every octet after the version: expiry, message id, form id and tag.
        for i in 1..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x01;
            let forged = URL_SAFE_NO_PAD.encode(&bad);
            assert_eq!(
                key().verify(&forged, 0),
                Err(LinkError::Forged),
                "octet {i}"
            );
        }
        let other = LinkKey::new(b"another secret that is long enough!").expect("long");
        assert_eq!(other.verify(&token, 0), Err(LinkError::Forged));
    }

    #[test]
    fn a_forged_expired_link_is_reported_as_forged_not_expired() {
        let mut l = link();
        l.expires_at = 10;
        let token = LinkKey::new(&[7; 32])
            .expect("long")
            .sign(&l)
            .expect("in range");
        assert_eq!(key().verify(&token, 1_000), Err(LinkError::Forged));
    }

    #[test]
    fn garbage_is_malformed_with_a_reason() {
        let v2 = URL_SAFE_NO_PAD.encode([2u8; 40]);
        let cases = [
            ("", "too short"),
            ("!!!!", "expected URL-safe base64"),
            ("AQID", "too short"),
            (v2.as_str(), "unknown token version"),
        ];
        for (token, why) in cases {
            assert_eq!(
                key().verify(token, 0),
                Err(LinkError::Malformed(why)),
                "{token:?}"
            );
        }
        assert_eq!(
            LinkError::Malformed("too short").to_string(),
            "malformed link token: too short"
        );
    }

    #[test]
    fn short_secrets_and_far_expiries_are_refused() {
        assert_eq!(
            LinkKey::new(b"short").map(|_| ()),
            Err(LinkError::WeakSecret { found: 5 })
        );
        let mut l = link();
        l.expires_at = u64::from(u32::MAX) + 1;
        assert_eq!(
            key().sign(&l),
            Err(LinkError::ExpiryOutOfRange {
                found: 4_294_967_296
            })
        );
        assert_eq!(
            LinkError::WeakSecret { found: 5 }.to_string(),
            "expected a link secret of at least 32 bytes (config notify.link_secret or \
             $UGYELET_LINK_SECRET), found 5"
        );
    }
}
