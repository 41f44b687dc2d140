//! Message framing on stream transports (TCP, TLS).
//!
//! RFC 3261 §18.3: "In the case of stream-oriented transports such as TCP, the
//! Content-Length header field indicates the size of the body. All SIP
//! implementations MUST be able to process messages... the Content-Length header
//! field MUST be used with stream oriented transports." A stream is cut into:
//!
//! ```text
//! stream  = *( keepalive / message )
//! keepalive = CRLF CRLF (ping) / CRLF (pong)      ; RFC 5626 §4.4.1
//! message = start-line *message-header CRLF body  ; body = Content-Length octets
//! ```
//!
//! [`next_frame`] looks at the front of the receive buffer and says how many bytes
//! the next frame spans; the driver parses `buf[..n]` with `msg::parse` and drains it.

use std::fmt;

/// What the front of a stream buffer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// More bytes are needed.
    Incomplete,
    /// CRLF (pong) or CRLFCRLF (ping) bytes to skip (RFC 5626 §4.4.1). A ping is
    /// answered with a pong by the driver.
    KeepAlive(usize),
    /// Length of one complete message at the front of the buffer.
    Message(usize),
    /// The stream cannot be framed any further; close the connection.
    Invalid(FramingError),
}

/// Why a stream cannot be framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FramingError {
    /// No CRLFCRLF within `max_len` bytes.
    HeadersTooLarge { max_len: usize },
    /// Headers plus Content-Length exceed `max_len`.
    MessageTooLarge { len: usize, max_len: usize },
    /// RFC 3261 §18.3: Content-Length is mandatory on streams.
    MissingContentLength,
    /// Content-Length that is not `1*DIGIT`.
    BadContentLength(String),
    /// Two Content-Length headers.
    DuplicateContentLength,
}

impl fmt::Display for FramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FramingError::HeadersTooLarge { max_len } => {
                write!(f, "expected CRLF CRLF within {max_len} bytes, found none")
            }
            FramingError::MessageTooLarge { len, max_len } => {
                write!(
                    f,
                    "expected a message of at most {max_len} bytes, found {len}"
                )
            }
            FramingError::MissingContentLength => {
                f.write_str("expected a Content-Length header on a stream transport, found none")
            }
            FramingError::BadContentLength(v) => {
                write!(f, "expected Content-Length 1*DIGIT, found \"{v}\"")
            }
            FramingError::DuplicateContentLength => {
                f.write_str("expected one Content-Length header, found several")
            }
        }
    }
}

impl std::error::Error for FramingError {}

/// Frames the front of `buf`; messages longer than `max_len` bytes are `Invalid`.
pub fn next_frame(buf: &[u8], max_len: usize) -> Frame {
    if buf.starts_with(b"\r\n\r\n") {
        return Frame::KeepAlive(4);
    }
    if buf == b"\r\n" || (buf.starts_with(b"\r\n") && buf.get(2) != Some(&b'\r')) {
        return Frame::KeepAlive(2);
    }
    if buf.is_empty() || buf == b"\r" || buf == b"\r\n\r" {
        return Frame::Incomplete;
    }
    let window = &buf[..buf.len().min(max_len)];
    let Some(end) = window.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() >= max_len {
            Frame::Invalid(FramingError::HeadersTooLarge { max_len })
        } else {
            Frame::Incomplete
        };
    };
    let head_len = end + 4;
    let cl = match content_length(&buf[..end]) {
        Ok(cl) => cl,
        Err(e) => return Frame::Invalid(e),
    };
    let total = head_len.saturating_add(cl);
    if total > max_len {
        return Frame::Invalid(FramingError::MessageTooLarge {
            len: total,
            max_len,
        });
    }
    if buf.len() >= total {
        Frame::Message(total)
    } else {
        Frame::Incomplete
    }
}

/// Finds the Content-Length (or `l`) header in a header block, folding included.
fn content_length(head: &[u8]) -> Result<usize, FramingError> {
    let mut found: Option<usize> = None;
    let mut lines = head.split(|&b| b == b'\n').skip(1).peekable();
    while let Some(line) = lines.next() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii_end();
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let mut value: Vec<u8> = line[colon + 1..].trim_ascii().to_vec();
        while let Some(next) = lines.next_if(|n| n.starts_with(b" ") || n.starts_with(b"\t")) {
            let next = next.strip_suffix(b"\r").unwrap_or(next);
            value.extend_from_slice(next.trim_ascii());
        }
        if found.is_some() {
            return Err(FramingError::DuplicateContentLength);
        }
        let text = String::from_utf8_lossy(&value).into_owned();
        if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
            return Err(FramingError::BadContentLength(text));
        }
        found = Some(
            text.parse()
                .map_err(|_| FramingError::BadContentLength(text.clone()))?,
        );
    }
    found.ok_or(FramingError::MissingContentLength)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:a@b SIP/2.0\r\nl: 4\r\n\r\nbody";

    #[test]
    fn complete_message_is_framed_by_content_length() {
        let mut buf = INVITE.to_vec();
        buf.extend_from_slice(b"NEXT");
        assert_eq!(next_frame(&buf, 4096), Frame::Message(INVITE.len()));
    }

    #[test]
    fn every_strict_prefix_of_a_message_is_incomplete() {
        for n in 1..INVITE.len() {
            let f = next_frame(&INVITE[..n], 4096);
            assert!(
                f == Frame::Incomplete || f == Frame::KeepAlive(2),
                "prefix {n}: {f:?}"
            );
        }
        assert_eq!(next_frame(&INVITE[..5], 4096), Frame::Incomplete);
    }

    #[test]
    fn rfc5626_ping_and_pong_are_keepalives() {
        assert_eq!(next_frame(b"\r\n\r\nINVITE", 4096), Frame::KeepAlive(4));
        assert_eq!(next_frame(b"\r\n", 4096), Frame::KeepAlive(2));
        assert_eq!(next_frame(b"\r\nINVITE", 4096), Frame::KeepAlive(2));
        assert_eq!(next_frame(b"\r\n\r", 4096), Frame::Incomplete);
        assert_eq!(next_frame(b"", 4096), Frame::Incomplete);
    }

    #[test]
    fn rfc3261_18_3_missing_content_length_on_stream_is_invalid() {
        let f = next_frame(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n", 4096);
        assert_eq!(f, Frame::Invalid(FramingError::MissingContentLength));
        assert_eq!(
            FramingError::MissingContentLength.to_string(),
            "expected a Content-Length header on a stream transport, found none"
        );
    }

    #[test]
    fn folded_and_spaced_content_length_is_read() {
        let m = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length  :\r\n  3\r\n\r\nabc";
        assert_eq!(next_frame(m, 4096), Frame::Message(m.len()));
    }

    #[test]
    fn bad_and_duplicate_content_length_are_invalid() {
        let neg = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -999\r\n\r\n";
        assert_eq!(
            next_frame(neg, 4096),
            Frame::Invalid(FramingError::BadContentLength("-999".into()))
        );
        let dup = b"OPTIONS sip:a@b SIP/2.0\r\nl: 1\r\nContent-Length: 1\r\n\r\nx";
        assert_eq!(
            next_frame(dup, 4096),
            Frame::Invalid(FramingError::DuplicateContentLength)
        );
    }

    #[test]
    fn oversized_headers_and_bodies_are_invalid() {
        let big = vec![b'a'; 100];
        assert_eq!(
            next_frame(&big, 100),
            Frame::Invalid(FramingError::HeadersTooLarge { max_len: 100 })
        );
        assert_eq!(next_frame(&big, 101), Frame::Incomplete);
        let m = b"OPTIONS sip:a@b SIP/2.0\r\nl: 99999999\r\n\r\n";
        assert_eq!(
            next_frame(m, 4096),
            Frame::Invalid(FramingError::MessageTooLarge {
                len: m.len() + 99_999_999,
                max_len: 4096
            })
        );
    }
}
