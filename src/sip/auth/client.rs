//! HTTP Digest authentication for SIP, client side: answering a provider's challenge when
//! the daemon registers with (or calls through) a SIP trunk.
//!
//! RFC 3261 §22.2: a UAC that receives 401 (`WWW-Authenticate`) or 407
//! (`Proxy-Authenticate`) "SHOULD re-originate the request with the proper credentials".
//! RFC 8760 §2.4: with several challenges, the client uses the first one whose algorithm it
//! supports (servers list them most preferred first). With `qop=auth` (RFC 7616 §3.4) each
//! request carries a fresh `cnonce` and the next nonce-count; without `qop` the RFC 2069
//! form `response = KD(HA1, nonce ":" HA2)` applies, which older providers still send.

use super::{Algorithm, AuthError, digest_params, ha1, params, response};

/// One `Digest` challenge, unquoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub algorithm: Algorithm,
    /// The server offered `qop=auth` (alone or among others).
    pub qop_auth: bool,
    pub opaque: Option<String>,
    /// RFC 7616 §3.3: the nonce expired but the credentials were right: retry with the new
    /// nonce rather than treating the answer as a refusal.
    pub stale: bool,
}

/// Parses a `WWW-Authenticate` or `Proxy-Authenticate` value.
///
/// ```text
/// challenge  = ("Digest" LWS digest-cln *(COMMA digest-cln)) / other-challenge
/// digest-cln = realm / domain / nonce / opaque / stale / algorithm / qop-options / auth-param
/// ```
pub fn parse_challenge(value: &str) -> Result<Challenge, AuthError> {
    let list = digest_params(value)?;
    let (mut realm, mut nonce) = (None, None);
    let mut algorithm = Algorithm::Md5;
    let (mut qop_auth, mut opaque, mut stale) = (false, None, false);
    for item in params(list) {
        let (name, val) = item?;
        match name.to_ascii_lowercase().as_str() {
            "realm" => realm = Some(val),
            "nonce" => nonce = Some(val),
            "opaque" => opaque = Some(val),
            "stale" => stale = val.eq_ignore_ascii_case("true"),
            "algorithm" => {
                algorithm = Algorithm::parse(&val)
                    .ok_or_else(|| AuthError::new("algorithm MD5 or SHA-256", &val))?;
            }
            // qop-options = "qop" EQUAL LDQUOT qop-value *("," qop-value) RDQUOT
            "qop" => {
                qop_auth = val
                    .split(',')
                    .any(|q| q.trim().eq_ignore_ascii_case("auth"))
            }
            _ => {}
        }
    }
    Ok(Challenge {
        realm: realm.ok_or_else(|| AuthError::new("realm parameter", ""))?,
        nonce: nonce.ok_or_else(|| AuthError::new("nonce parameter", ""))?,
        algorithm,
        qop_auth,
        opaque,
        stale,
    })
}

/// The first challenge of `values` the daemon can answer (RFC 8760 §2.4), if any.
pub fn choose<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Challenge> {
    values.into_iter().find_map(|v| parse_challenge(v).ok())
}

/// What a request needs to answer a challenge.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub method: &'a str,
    /// The Request-URI, as sent.
    pub uri: &'a str,
    /// Nonce-count: 1 for the first request with this nonce, then 2, 3 …
    pub nc: u32,
    /// A fresh client nonce (only used with `qop=auth`).
    pub cnonce: &'a str,
}

/// The `Authorization` (or `Proxy-Authorization`) value answering `ch`.
pub fn authorization(ch: &Challenge, a: &Answer<'_>) -> String {
    let secret = ha1(ch.algorithm, a.username, &ch.realm, a.password);
    let mut out = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", algorithm={}",
        quote(a.username),
        quote(&ch.realm),
        quote(&ch.nonce),
        quote(a.uri),
        ch.algorithm
    );
    if ch.qop_auth {
        let nc = format!("{:08x}", a.nc);
        let r = response(
            ch.algorithm,
            &secret,
            &ch.nonce,
            &nc,
            a.cnonce,
            "auth",
            a.method,
            a.uri,
        );
        out.push_str(&format!(
            ", response=\"{r}\", qop=auth, nc={nc}, cnonce=\"{}\"",
            quote(a.cnonce)
        ));
    } else {
        // RFC 2069 (RFC 2617 §3.2.2.1 without qop): KD(H(A1), nonce ":" H(A2)).
        let ha2 = ch.algorithm.hash_hex(&[a.method, a.uri]);
        let r = ch.algorithm.hash_hex(&[&secret, &ch.nonce, &ha2]);
        out.push_str(&format!(", response=\"{r}\""));
    }
    if let Some(o) = &ch.opaque {
        out.push_str(&format!(", opaque=\"{}\"", quote(o)));
    }
    out
}

/// A quoted-string's content: `"` and `\` escaped (RFC 3261 §25.1 quoted-pair).
fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::net::{IpAddr, Ipv4Addr};

    use crate::sip::auth::{
        Attempt, Credentials, DigestAuth, DigestConfig, Verdict, parse_authorization,
    };

    #[test]
    fn the_first_supported_challenge_is_taken_in_the_servers_order() {
        let ch = choose([
            "Basic realm=\"x\"",
            "Digest realm=\"prov.example\", nonce=\"n1\", algorithm=SHA-256, qop=\"auth,auth-int\"",
            "Digest realm=\"prov.example\", nonce=\"n1\", algorithm=MD5, qop=\"auth\"",
        ])
        .expect("one is answerable");
        assert_eq!(ch.algorithm, Algorithm::Sha256);
        assert!(ch.qop_auth && !ch.stale);
        let err = parse_challenge("Digest nonce=\"n\"").expect_err("no realm");
        assert!(
            err.to_string()
                .ends_with("expected realm parameter, found end of value"),
            "{err}"
        );
        assert!(
            parse_challenge("Digest realm=\"r\", nonce=\"n\", algorithm=MD7").is_err(),
            "an algorithm we cannot compute is not answered"
        );
    }

    #[test]
    fn our_answer_passes_our_own_server_verification_with_qop_and_without() {
        // The server side is tested against RFC vectors and real phones; a client whose
        // answers it accepts computes the same formula.
        let t0 = crate::clock::test_epoch();
        let cfg = DigestConfig {
            realm: "prov.example".into(),
            ..DigestConfig::default()
        };
        let mut server = DigestAuth::new(cfg, b"0123456789abcdef", t0);
        let challenge = server.challenge(t0, false).remove(0);
        let ch = parse_challenge(&challenge).expect("our challenge parses");
        assert!(ch.qop_auth);
        let value = authorization(
            &ch,
            &Answer {
                username: "budaors",
                password: "trunk secret",
                method: "REGISTER",
                uri: "sip:prov.example",
                nc: 1,
                cnonce: "c0ffee",
            },
        );
        let parsed = parse_authorization(&value).expect("well-formed");
        assert_eq!(parsed.nc_text.as_deref(), Some("00000001"));
        let store: HashMap<String, Credentials> = HashMap::from([(
            "budaors".to_owned(),
            Credentials::from_password("budaors", "prov.example", "trunk secret"),
        )]);
        let attempt = Attempt {
            method: "REGISTER",
            request_uri: "sip:prov.example",
            authorization: Some(&value),
            source: IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        let verdict = server.verify(t0, &attempt, &store);
        assert!(matches!(verdict, Verdict::Ok { .. }), "{verdict:?}");

        let old = Challenge {
            qop_auth: false,
            ..ch
        };
        let value = authorization(
            &old,
            &Answer {
                username: "a\"b",
                password: "p",
                method: "INVITE",
                uri: "sip:+3611@prov.example",
                nc: 1,
                cnonce: "x",
            },
        );
        assert!(value.starts_with("Digest username=\"a\\\"b\""), "{value}");
        assert!(
            !value.contains("qop") && !value.contains("cnonce"),
            "{value}"
        );
        let parsed = parse_authorization(&value).expect("well-formed");
        let ha1 = ha1(Algorithm::Md5, "a\"b", "prov.example", "p");
        let ha2 = Algorithm::Md5.hash_hex(&["INVITE", "sip:+3611@prov.example"]);
        assert_eq!(
            parsed.response,
            Algorithm::Md5.hash_hex(&[&ha1, &old.nonce, &ha2])
        );
    }
}
