//! Parse errors of the SIP message layer.

use std::fmt;

use super::{BareReply, Response};

/// What went wrong, coarsely; the status code a UAS answers with follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// Nothing but CRLFs (a keep-alive) or no bytes at all: not a message.
    Empty,
    /// The text does not match the RFC 3261 §25 grammar.
    Syntax,
    /// SIP-Version other than `SIP/2.0` (answered with 505).
    UnsupportedVersion,
    /// A mandatory header field is absent.
    MissingHeader,
    /// A header field that may appear once appears more than once.
    DuplicateHeader,
    /// The CSeq method differs from the request method.
    MethodMismatch,
    /// Content-Length announces more octets than the datagram holds.
    BodyTruncated,
    /// `Contact: *` — valid in a REGISTER (RFC 3261 §10.2.2), but not a list of
    /// addresses; returned by `Request::contacts`.
    ContactWildcard,
}

/// A message (or part of one) that could not be parsed.
///
/// Display reads `<where>: expected <what>, found "<text>"`.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    kind: ParseErrorKind,
    context: &'static str,
    expected: &'static str,
    found: String,
    pub(super) reply: Option<Box<Response>>,
    pub(super) bare: Option<Box<BareReply>>,
}

/// Longest excerpt of the offending text kept in an error.
const FOUND_MAX: usize = 40;

impl ParseError {
    pub(crate) fn new(
        kind: ParseErrorKind,
        context: &'static str,
        expected: &'static str,
        found: &str,
    ) -> ParseError {
        let mut f = String::new();
        for (n, c) in found.chars().enumerate() {
            if n == FOUND_MAX {
                f.push('…');
                break;
            }
            if c.is_control() {
                f.extend(c.escape_default());
            } else {
                f.push(c);
            }
        }
        ParseError {
            kind,
            context,
            expected,
            found: f,
            reply: None,
            bare: None,
        }
    }

    pub(crate) fn syntax(context: &'static str, expected: &'static str, found: &str) -> ParseError {
        ParseError::new(ParseErrorKind::Syntax, context, expected, found)
    }

    /// The coarse kind of the error.
    pub fn kind(&self) -> ParseErrorKind {
        self.kind
    }

    /// Where in the message the error was found (e.g. `"Via header"`).
    pub fn context(&self) -> &'static str {
        self.context
    }

    /// The status code a UAS answers a broken request with: 505 for a wrong
    /// SIP-Version (RFC 3261 §8.2.6.2 / §21.5.7), 400 otherwise.
    pub fn status(&self) -> u16 {
        match self.kind {
            ParseErrorKind::UnsupportedVersion => 505,
            _ => 400,
        }
    }

    /// A stateless reply (400 / 505 with a Warning header explaining) when the broken
    /// message was a request (not ACK) whose Via, From, To, Call-ID and CSeq could be
    /// salvaged; None otherwise (then the message is dropped and counted by the caller).
    ///
    /// RFC 3261 §17.1.1.3: an ACK never gets a response, so none is built for one.
    pub fn stateless_reply(&self) -> Option<Response> {
        self.reply.as_deref().cloned()
    }

    /// When [`ParseError::stateless_reply`] has none: the answer to a broken request (not
    /// ACK) whose Via parsed but whose From, To, Call-ID or CSeq is missing or unreadable,
    /// copying what there is (see [`BareReply`]). None when the Via itself is broken (then
    /// nothing can be routed, RFC 3261 §18.2.2) or the message was no request.
    pub fn bare_reply(&self) -> Option<BareReply> {
        self.bare.as_deref().cloned()
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: expected {}, found \"{}\"",
            self.context, self.expected, self.found
        )
    }
}

impl std::error::Error for ParseError {}
