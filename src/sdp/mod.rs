//! SDP parse/print boundary (RFC 8866, formerly RFC 4566) and the RFC 3264 offer/answer model.
//!
//! Parsing and printing go through the `sdp-types` crate: it keeps every line it does not
//! understand, tolerates a missing `t=`, `o=` or `s=`, bare LF line ends and any line order
//! inside a section, which is what real softphones and trunks send (see the fixtures tested
//! below). Everything above the syntax (which stream, which codec, which address) is decided
//! in [`offer_answer`], which is where the project's rules live.
//!
//! The grammar accepted here is RFC 8866 §9, relaxed as `sdp-types` relaxes it:
//!
//! ```text
//! session-description = version-field          ; "v=0" first, required
//!                       [origin-field]         ; o= (required by the RFC, tolerated missing)
//!                       [session-name-field]   ; s= (idem)
//!                       *other-session-lines   ; i= u= e= p= c= b= t= r= z= k= a=, any order
//!                       *media-description     ; each starts at "m="
//! media-description   = media-field            ; m=<media> <port>[/<n>] <proto> 1*(SP <fmt>)
//!                       *(i= / c= / b= / k= / a=)
//! line                = type "=" value (CRLF / LF)
//! ```
//!
//! Errors say which line was wrong, what was expected there and what was found.
//!
//! [`sdes`] wraps the offer/answer for secure legs: SRTP keys in `a=crypto` (RFC 4568).

pub mod offer_answer;
pub mod sdes;

#[cfg(test)]
pub(crate) mod fixtures;

use std::fmt;

/// A parsed session description. The data model is `sdp-types`' own: it keeps unknown
/// attributes and lines, so printing a parsed description loses nothing we answer about.
pub type SessionDescription = sdp_types::Session;

/// Why an SDP body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdpError {
    /// The body was empty or only line ends.
    Empty,
    /// The first line was not `v=0`.
    NoVersion { found: String },
    /// A line did not match the grammar.
    Line {
        line: usize,
        expected: &'static str,
        found: String,
    },
    /// A unique line appeared twice (RFC 8866 §5: `o=`, `s=`, session `c=`, ...).
    Duplicate { line: usize, field: &'static str },
    /// The syntax was fine but the content cannot describe a usable session.
    Semantic {
        expected: &'static str,
        found: String,
    },
}

impl fmt::Display for SdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SdpError::Empty => {
                f.write_str("expected an SDP body starting with \"v=0\", found nothing")
            }
            SdpError::NoVersion { found } => {
                write!(f, "expected \"v=0\" as the first SDP line, found {found:?}")
            }
            SdpError::Line {
                line,
                expected,
                found,
            } => write!(f, "SDP line {line}: expected {expected}, found {found:?}"),
            SdpError::Duplicate { line, field } => {
                write!(
                    f,
                    "SDP line {line}: expected one {field} line, found a second one"
                )
            }
            SdpError::Semantic { expected, found } => {
                write!(f, "expected {expected}, found {found:?}")
            }
        }
    }
}

impl std::error::Error for SdpError {}

/// Longest excerpt of an offending line quoted in an error.
const EXCERPT_MAX: usize = 80;

/// Parses an SDP body (the body of an INVITE, 200 or ACK with `Content-Type: application/sdp`).
pub fn parse(body: &[u8]) -> Result<SessionDescription, SdpError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(SdpError::Empty);
    }
    sdp_types::Session::parse(body).map_err(|e| map_parser_error(body, e))
}

/// Prints a session description with CRLF line ends, as RFC 8866 §5 asks of senders.
/// A description without `t=` gets `t=0 0`.
pub fn print(session: &SessionDescription) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    session
        .write(&mut out)
        .expect("writing to a Vec<u8> cannot fail");
    out
}

/// The text of 1-based line `n` of `body`, numbered as `sdp-types` numbers lines (split at LF,
/// a CR before the LF dropped), shortened for an error message.
fn line_excerpt(body: &[u8], n: usize) -> String {
    let Some(line) = body.split(|&b| b == b'\n').nth(n.saturating_sub(1)) else {
        return String::new();
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut text = String::from_utf8_lossy(line).into_owned();
    if text.len() > EXCERPT_MAX {
        let mut cut = EXCERPT_MAX;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

fn map_parser_error(body: &[u8], e: sdp_types::ParserError) -> SdpError {
    use sdp_types::ParserError as P;
    let line = |n: usize, expected: &'static str| SdpError::Line {
        line: n,
        expected,
        found: line_excerpt(body, n),
    };
    #[expect(
        deprecated,
        reason = "sdp-types keeps variants it no longer returns; map them all"
    )]
    match e {
        P::NoVersion => SdpError::NoVersion {
            found: line_excerpt(body, first_nonempty_line(body)),
        },
        P::InvalidVersion(n, _) => line(n, "\"v=0\""),
        // A first line that is not even "<type>=<value>" is a body that is not SDP at all.
        P::InvalidLineFormat(n, _) if n == first_nonempty_line(body) => SdpError::NoVersion {
            found: line_excerpt(body, n),
        },
        P::InvalidLineFormat(n, _) | P::UnexpectedLine(n, _) => line(
            n,
            "a line <type>=<value> with a one-letter type and no NUL or bare CR",
        ),
        P::InvalidFieldEncoding(n, _) => line(n, "UTF-8 text"),
        P::InvalidFieldFormat(n, field)
        | P::MissingField(n, field)
        | P::FieldTrailingData(n, field) => line(n, field_grammar(field)),
        P::MultipleVersions(n) => SdpError::Duplicate {
            line: n,
            field: "v=",
        },
        P::MultipleOrigins(n) => SdpError::Duplicate {
            line: n,
            field: "o=",
        },
        P::MultipleSessionNames(n) => SdpError::Duplicate {
            line: n,
            field: "s=",
        },
        P::MultipleSessionDescription(n) => SdpError::Duplicate {
            line: n,
            field: "i=",
        },
        P::MultipleUris(n) => SdpError::Duplicate {
            line: n,
            field: "u=",
        },
        P::MultipleConnections(n) => SdpError::Duplicate {
            line: n,
            field: "session c=",
        },
        P::MultipleTimeZones(n) => SdpError::Duplicate {
            line: n,
            field: "z=",
        },
        P::MultipleMediaTitles(n) => SdpError::Duplicate {
            line: n,
            field: "media i=",
        },
        P::MultipleKeys(n) => SdpError::Duplicate {
            line: n,
            field: "k=",
        },
        P::RepeatWithoutTime(n) => line(n, "an r= line after a t= line"),
        P::NoOrigin => SdpError::Semantic {
            expected: "an o= line",
            found: String::new(),
        },
        P::NoSessionName => SdpError::Semantic {
            expected: "an s= line",
            found: String::new(),
        },
    }
}

fn first_nonempty_line(body: &[u8]) -> usize {
    body.split(|&b| b == b'\n')
        .position(|l| !l.is_empty() && l != b"\r")
        .map_or(1, |i| i + 1)
}

/// The RFC 8866 §9 rule for the field `sdp-types` names in its error.
fn field_grammar(field: &'static str) -> &'static str {
    if field.starts_with("Origin") {
        "o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>"
    } else if field.starts_with("Connection") {
        "c=<nettype> <addrtype> <connection-address>"
    } else if field.starts_with("Media") {
        "m=<media> <port>[/<number of ports>] <proto> <fmt> ..."
    } else if field.starts_with("Time") {
        "t=<start-time> <stop-time>"
    } else if field.starts_with("Bandwidth") {
        "b=<bwtype>:<bandwidth>"
    } else if field.starts_with("Repeat") {
        "r=<repeat interval> <active duration> <offsets from start-time>"
    } else if field.starts_with("TimeZone") {
        "z=<adjustment time> <offset> ..."
    } else if field.starts_with("Attribute") {
        "a=<attribute>[:<value>]"
    } else if field.starts_with("Key") {
        "k=<method>[:<encryption key>]"
    } else {
        field
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_softphone_and_trunk_fixture_parses() {
        for (name, body) in fixtures::ALL {
            let sdp = parse(body.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!sdp.medias.is_empty(), "{name} has media");
        }
    }

    #[test]
    fn baresip_offer_keeps_formats_and_attributes_in_order() {
        let sdp = parse(fixtures::BARESIP.as_bytes()).expect("test data is valid");
        assert_eq!(sdp.medias.len(), 1);
        let m = &sdp.medias[0];
        assert_eq!((m.media.as_str(), m.port), ("audio", 17024));
        assert_eq!(m.proto, "RTP/AVP");
        assert_eq!(m.fmt, "96 9 0 8 101");
        assert_eq!(
            m.get_first_attribute_value("fmtp"),
            Some(Some("96 stereo=1;sprop-stereo=1"))
        );
        assert_eq!(
            sdp.connection
                .as_ref()
                .map(|c| c.connection_address.as_str()),
            Some("192.0.2.2")
        );
    }

    #[test]
    fn missing_timing_line_and_bare_lf_are_tolerated() {
        let sdp = parse(fixtures::NO_TIMING_LF.as_bytes()).expect("test data is valid");
        assert!(sdp.times.is_empty());
        assert_eq!(sdp.medias[0].fmt, "97 96");
        assert_eq!(sdp.origin.username.as_deref(), Some("door"));
    }

    #[test]
    fn media_level_connection_is_kept_per_stream() {
        let sdp = parse(fixtures::MICROSIP.as_bytes()).expect("test data is valid");
        assert!(sdp.connection.is_none());
        assert_eq!(
            sdp.medias[0].connections[0].connection_address,
            "198.51.100.7"
        );
    }

    #[test]
    fn ipv6_connection_is_parsed() {
        let sdp = parse(fixtures::IPV6.as_bytes()).expect("test data is valid");
        let c = sdp.connection.expect("test data is valid");
        assert_eq!(c.addrtype.as_str(), "IP6");
        assert_eq!(
            c.connection_address
                .parse::<std::net::IpAddr>()
                .expect("test data is valid"),
            "2001:db8::20"
                .parse::<std::net::IpAddr>()
                .expect("test data is valid")
        );
    }

    #[test]
    fn print_writes_crlf_and_adds_timing_when_missing() {
        let sdp = parse(fixtures::NO_TIMING_LF.as_bytes()).expect("test data is valid");
        let text = String::from_utf8(print(&sdp)).expect("test data is valid");
        assert!(text.starts_with("v=0\r\no=door 1 1 IN IP4 192.0.2.77\r\ns=call\r\n"));
        assert!(text.contains("\r\nt=0 0\r\n"));
        assert!(text.contains("\r\nm=audio 5004 RTP/AVP 97 96\r\n"));
        assert!(!text.replace("\r\n", "").contains('\n'));
    }

    #[test]
    fn print_then_parse_is_identity_for_captured_offers() {
        for body in [fixtures::BARESIP, fixtures::SIPP_UAC, fixtures::LINPHONE] {
            let sdp = parse(body.as_bytes()).expect("test data is valid");
            assert_eq!(parse(&print(&sdp)).expect("test data is valid"), sdp);
        }
    }

    #[test]
    fn empty_body_is_refused_with_message() {
        let e = parse(b"\r\n").unwrap_err();
        assert_eq!(e, SdpError::Empty);
        assert_eq!(
            e.to_string(),
            "expected an SDP body starting with \"v=0\", found nothing"
        );
    }

    #[test]
    fn body_not_starting_with_version_names_the_first_line() {
        let e = parse(b"o=- 1 1 IN IP4 192.0.2.1\r\nv=0\r\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "expected \"v=0\" as the first SDP line, found \"o=- 1 1 IN IP4 192.0.2.1\""
        );
    }

    #[test]
    fn bad_media_port_names_line_and_grammar() {
        let body = b"v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 70000 RTP/AVP 0\r\n";
        let e = parse(body).unwrap_err();
        assert_eq!(
            e.to_string(),
            "SDP line 3: expected m=<media> <port>[/<number of ports>] <proto> <fmt> ..., \
             found \"m=audio 70000 RTP/AVP 0\""
        );
    }

    #[test]
    fn media_line_without_formats_is_refused() {
        let e = parse(b"v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP\r\n").unwrap_err();
        assert!(matches!(e, SdpError::Line { line: 3, .. }), "{e:?}");
    }

    #[test]
    fn second_origin_line_is_a_duplicate() {
        let body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\no=- 1 1 IN IP4 192.0.2.1\r\n";
        assert_eq!(
            parse(body).unwrap_err().to_string(),
            "SDP line 3: expected one o= line, found a second one"
        );
    }

    #[test]
    fn non_utf8_text_is_refused_not_panicking() {
        let body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=h\xe1z\r\nt=0 0\r\n";
        let e = parse(body).unwrap_err();
        assert!(
            matches!(
                e,
                SdpError::Line {
                    line: 3,
                    expected: "UTF-8 text",
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn long_offending_line_is_shortened_in_the_error() {
        let mut body = b"v=0\r\nm=audio x RTP/AVP ".to_vec();
        body.extend(std::iter::repeat_n(b'0', 300));
        let e = parse(&body).unwrap_err();
        let SdpError::Line { found, .. } = e else {
            panic!("{e:?}")
        };
        assert_eq!(found.chars().count(), EXCERPT_MAX + 1);
        assert!(found.ends_with('…'));
    }

    #[test]
    fn truncated_and_garbage_bodies_never_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for (_, body) in fixtures::ALL {
            let bytes = body.as_bytes();
            for cut in 0..bytes.len() {
                let _ = parse(&bytes[..cut]);
            }
            for _ in 0..200 {
                let mut mutated = bytes.to_vec();
                for _ in 0..4 {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let i = (seed as usize) % mutated.len();
                    mutated[i] = (seed >> 32) as u8;
                }
                let _ = parse(&mutated);
            }
        }
    }
}
