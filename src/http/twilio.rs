//! Twilio's webhook signature, `X-Twilio-Signature`.
//!
//! Twilio signs every request it makes to a callback URL ("Webhooks security" in its
//! documentation): take the full URL it was given, with its query string; if the request
//! is a form POST, append each parameter's name immediately followed by its value, the
//! names sorted (and equal names by value); HMAC-SHA1 (RFC 2104) that string with the
//! account's auth token as the key; base64 (RFC 4648 §4) the 20 octets. The daemon gave
//! Twilio the callback URL itself (`notify.public_base_url` + `/hooks/twilio/SECRET`), so
//! it rebuilds the same URL from its configuration, not from the request's `Host`, which
//! a proxy in between may have rewritten.
//!
//! The comparison is the HMAC crate's `verify_slice`, in constant time: the time taken says
//! nothing about how many octets of a forged signature were right.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// The header Twilio puts its signature in.
pub const HEADER: &str = "x-twilio-signature";

fn mac(auth_token: &str, url: &str, params: &[(String, String)]) -> Hmac<Sha1> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut m = <Hmac<Sha1> as KeyInit>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC accepts keys of any length");
    m.update(url.as_bytes());
    for (k, v) in sorted {
        m.update(k.as_bytes());
        m.update(v.as_bytes());
    }
    m
}

/// The signature Twilio would send for a POST of `params` to `url`.
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(mac(auth_token, url, params).finalize().into_bytes())
}

/// Whether `signature` (the header's value) is Twilio's for this request. An empty token
/// verifies nothing.
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    if auth_token.is_empty() {
        return false;
    }
    let Ok(given) = STANDARD.decode(signature.trim()) else {
        return false;
    };
    mac(auth_token, url, params).verify_slice(&given).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(caller: &str) -> Vec<(String, String)> {
        [
            ("To", "+18005551212"),
            ("From", caller),
            ("CallSid", "CA1234567890ABCDE"),
            ("Digits", "1234"),
            ("Caller", caller),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    /// The example of Twilio's "Webhooks security" page: auth token 12345.
    #[test]
    fn twilio_documented_example_verifies() {
        let p = params("+12349013030");
        assert_eq!(sign("12345", URL, &p), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert!(verify("12345", URL, &p, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
    }

    #[test]
    fn a_changed_parameter_url_token_or_signature_fails() {
        let p = params("+12349013030");
        let good = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";
        assert!(!verify("12345", URL, &params("+12349013031"), good));
        assert!(!verify(
            "12345",
            "https://mycompany.com/myapp.php?foo=1",
            &p,
            good
        ));
        assert!(!verify("12346", URL, &p, good));
        assert!(!verify("12345", URL, &p, "0/KCTR6DLpKmkAf8muzZqo1nDgA="));
        assert!(!verify("12345", URL, &p, ""));
        assert!(!verify("12345", URL, &p, "not base64!"));
        assert!(!verify("", URL, &p, &sign("", URL, &p)));
    }
}
