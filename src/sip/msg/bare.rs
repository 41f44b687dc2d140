//! The stateless answer to a broken request that cannot be copied whole.
//!
//! A response is routed by its top Via alone (RFC 3261 §18.2.2) and matched by the client
//! on the Via branch and the CSeq method (RFC 3261 §17.1.3). When a request's Via parses
//! but its From, To, Call-ID or CSeq is missing or unreadable, no [`Response`] can be built
//! (RFC 3261 §8.2.6.2 has all four copied), yet the sender can still be told what was
//! wrong: RFC 4475 §3.3.1 (a request with no Call-ID, From or To) and §3.1.2.4, §3.1.2.6,
//! §3.1.2.14, §3.1.2.15 (an overlarge CSeq, a broken To or From) all ask for a 400.
//!
//! So the answer copies what there is: every Via, and each of From, To, Call-ID and CSeq
//! as the request had it (a parsed To gets our tag, RFC 3261 §8.2.6.2; one that does not
//! parse is copied verbatim, since "the same" is all the RFC asks); a missing one stays
//! missing. A `Warning` says what was wrong. A request whose Via does not parse gets
//! nothing: there is nowhere to send an answer.
//!
//! [`Response`]: super::Response

use super::{
    CSeq, Headers, NameAddr, ParseError, ParseErrorKind, Salvage, Via, fnv1a, line, parse_call_id,
    parse_vias, reason_phrase,
};

/// A stateless 400 (or 505) to a request whose Via parsed but whose From, To, Call-ID or
/// CSeq did not (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub struct BareReply {
    pub status: u16,
    pub via: Vec<Via>,
    /// From, To, Call-ID and CSeq as far as the request had them, then the `Warning`;
    /// the caller may add a `Server`.
    pub headers: Headers,
}

impl BareReply {
    /// The response on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(
            format!("SIP/2.0 {} {}\r\n", self.status, reason_phrase(self.status)).as_bytes(),
        );
        for v in &self.via {
            line(&mut out, "Via", format_args!("{v}"));
        }
        for (n, v) in self.headers.iter() {
            line(&mut out, n, format_args!("{v}"));
        }
        line(&mut out, "Content-Length", format_args!("0"));
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// The bare answer to the broken request `s` holds, when its Via parses. Called only when
/// no full stateless reply could be built.
pub(super) fn reply(s: &Salvage, e: &ParseError) -> Option<BareReply> {
    let method = s.method.as_deref()?;
    // RFC 3261 §17.1.1.3: an ACK never gets a response.
    if method == "ACK" || e.kind() == ParseErrorKind::Empty {
        return None;
    }
    let h = &s.headers;
    let via = parse_vias(h, e.kind() != ParseErrorKind::UnsupportedVersion).ok()?;
    let mut headers = Headers::new();
    if let Some(from) = h.get("From") {
        headers.push("From", from);
    }
    if let Some(to) = h.get("To") {
        match NameAddr::parse(to) {
            Ok(mut to) if to.tag().is_none() => {
                // As in the full stateless reply: a tag from the request's identifying
                // fields, the same for every retransmission (RFC 3261 §8.2.6.2).
                let tag = fnv1a(&[
                    h.get("Call-ID").unwrap_or(""),
                    h.get("From").unwrap_or(""),
                    via[0].branch().unwrap_or(""),
                    h.get("CSeq").unwrap_or(""),
                ]);
                to.set_tag(&format!("sl{tag:016x}"));
                headers.push("To", to.to_string());
            }
            _ => headers.push("To", to),
        }
    }
    if let Some(call_id) = h.get("Call-ID") {
        headers.push(
            "Call-ID",
            parse_call_id(call_id).unwrap_or_else(|_| call_id.into()),
        );
    }
    if let Some(cseq) = h.get("CSeq") {
        headers.push(
            "CSeq",
            CSeq::parse(cseq).map_or_else(|_| cseq.to_owned(), |c| c.to_string()),
        );
    }
    let text = e.to_string().replace(['\\', '"'], "'");
    headers.push("Warning", format!("399 ugyelet \"{text}\""));
    let status = e.status();
    Some(BareReply {
        status,
        via,
        headers,
    })
}
