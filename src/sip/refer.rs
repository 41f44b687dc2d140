//! REFER (RFC 3515) with Replaces (RFC 3891): what an operator's phone sends to pass a call
//! on, read into what the switchboard needs, and the NOTIFY that reports how it went.
//!
//! ```text
//!   REFER sip:ugyelet@… (inside the operator's call)
//!   Refer-To: <sip:bela@ugyelet.example>                          blind: ring bela
//!   Refer-To: <sip:bela@…?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>   attended:
//!             the caller takes the place of the operator in dialog abc@h (tags 1, 2)
//! ```
//!
//! RFC 3515 §2.4.1: "A REFER request MUST contain exactly one Refer-To header field value";
//! one that does not, or one that is not a URI, is answered with 400. The URI's headers
//! (`?Replaces=…`) are already unescaped by the URI parser; RFC 3891 §6.1 gives the grammar
//! read here:
//!
//! ```text
//! Replaces        = "Replaces" HCOLON callid *(SEMI replaces-param)
//! replaces-param  = to-tag / from-tag / early-flag / generic-param
//! to-tag          = "to-tag" EQUAL token
//! from-tag        = "from-tag" EQUAL token
//! early-flag      = "early-only"
//! ```

use std::fmt;

use super::msg::{NameAddr, Request, Uri};

/// A REFER, as far as the daemon acts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refer {
    /// The Refer-To URI without its headers: whom the call goes to.
    pub target: Uri,
    /// The dialog the referred call is to replace (attended transfer).
    pub replaces: Option<Replaces>,
    /// The REFER's CSeq number: the `id` of the `refer` event its NOTIFYs carry.
    pub cseq: u32,
}

/// A dialog named by a Replaces header (RFC 3891 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaces {
    pub call_id: String,
    pub to_tag: String,
    pub from_tag: String,
    /// RFC 3891 §3: replace the dialog only while it is early.
    pub early_only: bool,
}

/// Why a REFER cannot be read; answered with 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferError(String);

impl fmt::Display for ReferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Refer {
    /// Reads the REFER's Refer-To (and the Replaces inside it).
    pub fn parse(req: &Request) -> Result<Refer, ReferError> {
        let values: Vec<&str> = req.headers.get_all("Refer-To").collect();
        let [value] = values.as_slice() else {
            return Err(ReferError(format!(
                "Refer-To: expected exactly one value, found {}",
                values.len()
            )));
        };
        let addr = NameAddr::parse(value).map_err(|e| ReferError(format!("Refer-To: {e}")))?;
        let mut target = addr.uri;
        let mut replaces = None;
        if let Uri::Sip(u) = &mut target {
            for (name, v) in std::mem::take(&mut u.headers) {
                if name.eq_ignore_ascii_case("Replaces") {
                    replaces = Some(Replaces::parse(&v)?);
                }
            }
        }
        Ok(Refer {
            target,
            replaces,
            cseq: req.cseq.seq,
        })
    }
}

impl Replaces {
    /// Parses a Replaces value: `callid;to-tag=…;from-tag=…[;early-only]`.
    pub fn parse(value: &str) -> Result<Replaces, ReferError> {
        let mut parts = value.split(';').map(str::trim);
        let call_id = parts.next().unwrap_or_default().to_owned();
        if call_id.is_empty() || call_id.contains(char::is_whitespace) {
            return Err(ReferError(format!(
                "Replaces: expected a Call-ID, found \"{value}\""
            )));
        }
        let (mut to_tag, mut from_tag, mut early_only) = (None, None, false);
        for p in parts {
            let (name, v) = p.split_once('=').unwrap_or((p, ""));
            match name.trim().to_ascii_lowercase().as_str() {
                "to-tag" => to_tag = Some(v.trim().to_owned()),
                "from-tag" => from_tag = Some(v.trim().to_owned()),
                "early-only" => early_only = true,
                _ => {}
            }
        }
        match (to_tag, from_tag) {
            (Some(to_tag), Some(from_tag)) if !to_tag.is_empty() && !from_tag.is_empty() => {
                Ok(Replaces {
                    call_id,
                    to_tag,
                    from_tag,
                    early_only,
                })
            }
            _ => Err(ReferError(format!(
                "Replaces: expected to-tag and from-tag, found \"{value}\""
            ))),
        }
    }
}

/// The body of a NOTIFY of the `refer` event (RFC 3515 §2.4.5): a `message/sipfrag`
/// holding the status line of the referred call's progress, e.g. `SIP/2.0 200 OK`.
pub fn sipfrag(status: u16) -> Vec<u8> {
    format!("SIP/2.0 {status} {}\r\n", super::msg::reason_phrase(status)).into_bytes()
}

/// Headers of a NOTIFY reporting `status` for the REFER with CSeq `refer_cseq`: RFC 3515
/// §2.4.4 (the `refer` event, the REFER's CSeq as its `id`), §2.4.7 (the subscription
/// ends with the final status).
pub fn notify_headers(refer_cseq: u32, status: u16) -> Vec<(&'static str, String)> {
    let state = if status >= 200 {
        "terminated;reason=noresource".to_owned()
    } else {
        "active;expires=60".to_owned()
    };
    vec![
        ("Event", format!("refer;id={refer_cseq}")),
        ("Subscription-State", state),
        ("Content-Type", "message/sipfrag;version=2.0".to_owned()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::msg::{self, Message};

    fn refer(refer_to: &[&str]) -> Request {
        let mut text = String::from(
            "REFER sip:ugyelet@127.0.0.1:5060 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKr1\r\n\
             From: <sip:anna@127.0.0.1>;tag=a1\r\n\
             To: <sip:+36301234567@127.0.0.1>;tag=u1\r\n\
             Call-ID: leg1@127.0.0.1\r\n\
             CSeq: 7 REFER\r\n",
        );
        for r in refer_to {
            text.push_str(&format!("Refer-To: {r}\r\n"));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        match msg::parse(text.as_bytes()) {
            Ok(Message::Request(r)) => r,
            other => panic!("a REFER expected: {other:?}"),
        }
    }

    #[test]
    fn blind_refer_names_the_target_and_keeps_the_cseq_for_the_event_id() {
        let r = Refer::parse(&refer(&["<sip:bela@127.0.0.1>"])).expect("valid");
        assert_eq!(r.target.user(), Some("bela"));
        assert_eq!((r.replaces, r.cseq), (None, 7));
        let r = Refer::parse(&refer(&["tel:+3623444555"])).expect("valid");
        assert_eq!(r.target.user(), Some("+3623444555"));
    }

    #[test]
    fn attended_refer_carries_the_escaped_replaces_dialog() {
        let r = Refer::parse(&refer(&[
            "<sip:bela@127.0.0.1?Replaces=abc%40host%3Bto-tag%3D11%3Bfrom-tag%3D22%3Bearly-only>",
        ]))
        .expect("valid");
        assert_eq!(r.target.user(), Some("bela"));
        assert_eq!(
            r.replaces,
            Some(Replaces {
                call_id: "abc@host".into(),
                to_tag: "11".into(),
                from_tag: "22".into(),
                early_only: true
            })
        );
        assert!(
            !r.target.to_string().contains('?'),
            "the target has no headers left: {}",
            r.target
        );
    }

    #[test]
    fn refer_without_exactly_one_target_or_with_a_broken_replaces_is_refused() {
        let e = Refer::parse(&refer(&[])).expect_err("none");
        assert_eq!(
            e.to_string(),
            "Refer-To: expected exactly one value, found 0"
        );
        let e = Refer::parse(&refer(&["<sip:a@h>", "<sip:b@h>"])).expect_err("two");
        assert_eq!(
            e.to_string(),
            "Refer-To: expected exactly one value, found 2"
        );
        let e = Refer::parse(&refer(&["<sip:bela@h?Replaces=abc%3Bto-tag%3D1>"]))
            .expect_err("no from-tag");
        assert_eq!(
            e.to_string(),
            "Replaces: expected to-tag and from-tag, found \"abc;to-tag=1\""
        );
    }

    #[test]
    fn notify_reports_progress_then_ends_the_subscription_with_the_final_status() {
        assert_eq!(sipfrag(100), b"SIP/2.0 100 Trying\r\n");
        assert_eq!(sipfrag(486), b"SIP/2.0 486 Busy Here\r\n");
        let h = notify_headers(7, 100);
        assert_eq!(h[0], ("Event", "refer;id=7".to_owned()));
        assert_eq!(h[1].1, "active;expires=60");
        assert_eq!(notify_headers(7, 200)[1].1, "terminated;reason=noresource");
    }
}
