//! Ringing an operator: the INVITE a waiting call (or a due callback) sends to the phone,
//! and what the phone shows of the caller (display name, `Call-Info` for screen-pop,
//! `X-Ugyelet-Path` for scripts).

use std::net::SocketAddr;

use super::{TELEPHONE_EVENT_PT, job_of};
use crate::phone;
use crate::registrar::Source;
use crate::sdp::offer_answer::{Codec, MediaSession};
use crate::sip::endpoint::{DialogId, OutgoingCall};
use crate::sip::msg::{NameAddr, Uri};

/// An operator to ring for a waiting call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ring {
    pub call: DialogId,
    pub agent: String,
    /// Where the operator's newest binding is reached (its NAT binding, its connection).
    pub target: Source,
    /// The Contact the phone registered: the INVITE's Request-URI.
    pub contact: Uri,
    /// The caller leg's codec first, so no transcoding is needed.
    pub codecs: [Codec; 2],
    /// The caller's number (E.164 when known, else as received; empty: hidden).
    pub caller: String,
    /// The menu path, for `X-Ugyelet-Path`.
    pub path: String,
    /// What the caller came about (one step of the readable path, or "Visszahívás" for a
    /// callback), for the display name.
    pub topic: String,
}

impl Ring {
    /// The INVITE for this ring, from our address as the phone sees it and the RTP port the
    /// driver bound for the leg. `console` is the web console's base URL as the operator's
    /// browser reaches it (no trailing slash), for the screen-pop link in `Call-Info`;
    /// `None` leaves the header out.
    ///
    /// The From display name is [`operator_display_name`] (`"Nyomtatványok · +36 30 123
    /// 4567"`); the From user is the caller's number when it is one (a phone's call list
    /// can call back), else `anonymous`.
    pub fn invite(
        &self,
        local: SocketAddr,
        media: &MediaSession,
        console: Option<&str>,
    ) -> Result<OutgoingCall, String> {
        let host = host_port(local);
        let to = NameAddr::parse(&format!("<sip:{}@{host}>", self.agent))
            .map_err(|e| format!("operator name as URI: {e}"))?;
        let user = sip_user(&self.caller);
        let mut from = NameAddr::parse(&format!("<sip:{user}@{host}>"))
            .map_err(|e| format!("caller as URI: {e}"))?;
        // Printed as a quoted-string, escaped there (RFC 3261 §25.1).
        from.display = Some(operator_display_name(&self.topic, &self.caller));
        let mut headers = vec![("X-Ugyelet-Path".to_owned(), self.path.clone())];
        // A callback has no call of the console to point at (its id is the job's).
        if let Some(base) = console.filter(|_| job_of(self.call).is_none()) {
            headers.push(("Call-Info".to_owned(), call_info(base, self.call)));
        }
        Ok(OutgoingCall {
            request_uri: self.contact.clone(),
            dst: self.target.addr,
            transport: self.target.transport,
            local,
            to,
            from,
            headers,
            sdp: media.offer(&self.codecs, TELEPHONE_EVENT_PT),
        })
    }
}

/// The longest topic an operator's phone is shown, in characters: desk phones show 20 to
/// 30 characters of a caller's name, and the number after it must not be pushed off.
pub const TOPIC_MAX_CHARS: usize = 32;

/// What separates the topic from the number in the display name.
pub const TOPIC_SEPARATOR: &str = " · ";

/// The display name of a call to an operator: what the caller came about, then who calls,
/// as the console writes the number (`Nyomtatványok · +36 30 123 4567`; a hidden number
/// reads `rejtett szám`). Without a topic, the number alone.
///
/// A topic longer than [`TOPIC_MAX_CHARS`] is cut there and ends in `…`. Control
/// characters (a line break could not even be escaped in a quoted-string, RFC 3261 §25.1)
/// become spaces and runs of white space one space; quotes and backslashes stay, escaped
/// when the header is printed. Non-ASCII letters are sent as UTF-8, which quoted-string
/// allows (`UTF8-NONASCII`).
pub fn operator_display_name(topic: &str, number: &str) -> String {
    let topic = shorten(&one_line(topic), TOPIC_MAX_CHARS);
    let number = shorten(&one_line(&phone::for_people(number)), TOPIC_MAX_CHARS);
    if topic.is_empty() {
        number
    } else {
        format!("{topic}{TOPIC_SEPARATOR}{number}")
    }
}

/// `Call-Info` of a call to an operator (RFC 3261 §20.9): the console page of the call, for
/// phones that open it when the call rings (screen-pop). `purpose=info` says the URI
/// "describes the caller"; the page is the duty page with the call's id
/// (`/ugyelet?hivas=7`), where the operator sees the caller's whole path and history.
pub fn call_info(console: &str, call: DialogId) -> String {
    format!(
        "<{}/ugyelet?hivas={call}>;purpose=info",
        console.trim_end_matches('/')
    )
}

/// `s` on one line: control characters as spaces, white space runs as one space, trimmed.
fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `s` cut to at most `max` characters, the last of them `…` when something was cut.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.truncate(out.trim_end().len());
    out.push('…');
    out
}

fn host_port(a: SocketAddr) -> String {
    match a {
        SocketAddr::V4(v) => format!("{}:{}", v.ip(), v.port()),
        SocketAddr::V6(v) => format!("[{}]:{}", v.ip(), v.port()),
    }
}

/// A caller number as a SIP URI user part: digits and `+` pass, anything else becomes
/// `anonymous` (the number is still shown as the display name).
fn sip_user(caller: &str) -> &str {
    if !caller.is_empty() && caller.chars().all(|c| c.is_ascii_digit() || c == '+') {
        caller
    } else {
        "anonymous"
    }
}
