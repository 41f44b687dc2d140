//! SIP messages: parsing from one datagram or framed message, and printing.
//!
//! Written from the RFC 3261 §25 grammar:
//!
//! ```text
//! SIP-message    = Request / Response
//! Request        = Request-Line *( message-header ) CRLF [ message-body ]
//! Request-Line   = Method SP Request-URI SP SIP-Version CRLF
//! Status-Line    = SIP-Version SP Status-Code SP Reason-Phrase CRLF
//! SIP-Version    = "SIP" "/" 1*DIGIT "." 1*DIGIT
//! Status-Code    = 3DIGIT
//! Reason-Phrase  = *(reserved / unreserved / escaped / UTF8-NONASCII / UTF8-CONT / SP / HTAB)
//! ```
//!
//! Lenient where the RFC asks for it: header names in any case and in compact form
//! (§7.3.3), folded header lines (§7.3.1), whitespace around `:` `;` `=` `/`
//! (HCOLON, SEMI, EQUAL, SLASH), CRLFs before the start line (§7.5), unknown headers
//! and methods kept verbatim. Strict where the RFC says reject: exactly one SP
//! between start-line elements, SIP-Version `SIP/2.0`, one From/To/Call-ID/CSeq,
//! CSeq method equal to the request method, Content-Length not beyond the datagram.
//!
//! The typed headers (Via, From, To, Call-ID, CSeq, Max-Forwards, Content-Length)
//! live in fields; every other header stays raw in [`Headers`], order kept.
//! Printing writes Content-Length from the body, so it is never stored.
//!
//! A broken request carries the answer it may get: a full stateless 400/505 when its Via,
//! From, To, Call-ID and CSeq parse ([`ParseError::stateless_reply`]), else a bare one when
//! at least the Via does ([`ParseError::bare_reply`], `bare.rs`).

mod addr;
mod bare;
mod error;
mod header;
mod uri;

use std::fmt::{self, Write as _};

pub use addr::{CSeq, Method, NameAddr, Via};
pub use bare::BareReply;
pub use error::{ParseError, ParseErrorKind};
pub use header::{Headers, canonical_name, split_commas};
pub use uri::{Host, SipUri, TelUri, Uri};

use addr::is_token;
use header::trim_ws;

/// A SIP request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: Method,
    pub uri: Uri,
    pub via: Vec<Via>,
    pub from: NameAddr,
    pub to: NameAddr,
    pub call_id: String,
    pub cseq: CSeq,
    pub max_forwards: Option<u32>,
    /// Every other header, raw, order kept. Content-Length is never stored here.
    pub headers: Headers,
    pub body: Vec<u8>,
}

/// A SIP response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub via: Vec<Via>,
    pub from: NameAddr,
    pub to: NameAddr,
    pub call_id: String,
    pub cseq: CSeq,
    /// Every other header, raw, order kept. Content-Length is never stored here.
    pub headers: Headers,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Request(Request),
    Response(Response),
}

/// Result of `Request::contact_list`.
#[derive(Debug, Clone, PartialEq)]
pub enum Contacts {
    /// `Contact: *` (RFC 3261 §10.2.2: only in a REGISTER with `Expires: 0`).
    Wildcard,
    List(Vec<NameAddr>),
}

/// A `fmt::Write` sink over the output buffer.
struct Out<'a>(&'a mut Vec<u8>);

impl fmt::Write for Out<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Writes one header line. The sink never fails and our Display impls only fail when
/// the sink does, so the result carries no information.
fn line(out: &mut Vec<u8>, name: &str, value: fmt::Arguments<'_>) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    let start = out.len();
    let _ = Out(out).write_fmt(value);
    // A value set by code could hold CR or LF; on the wire it would end the line.
    for b in &mut out[start..] {
        if *b == b'\r' || *b == b'\n' {
            *b = b' ';
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// Headers printed from fields, never from `headers`.
fn is_field_header(name: &str) -> bool {
    matches!(
        name,
        "Via" | "From" | "To" | "Call-ID" | "CSeq" | "Max-Forwards" | "Content-Length"
    )
}

/// The parts of a message printed after its start line.
struct Fields<'a> {
    via: &'a [Via],
    from: &'a NameAddr,
    to: &'a NameAddr,
    call_id: &'a str,
    cseq: &'a CSeq,
    max_forwards: Option<u32>,
    headers: &'a Headers,
    body: &'a [u8],
}

fn encode_common(out: &mut Vec<u8>, m: Fields<'_>) {
    let Fields {
        via,
        from,
        to,
        call_id,
        cseq,
        max_forwards,
        headers,
        body,
    } = m;
    for v in via {
        line(out, "Via", format_args!("{v}"));
    }
    line(out, "From", format_args!("{from}"));
    line(out, "To", format_args!("{to}"));
    line(out, "Call-ID", format_args!("{call_id}"));
    line(out, "CSeq", format_args!("{cseq}"));
    if let Some(mf) = max_forwards {
        line(out, "Max-Forwards", format_args!("{mf}"));
    }
    for (n, v) in headers.iter() {
        if n != "Content-Length" && !(max_forwards.is_some() && n == "Max-Forwards") {
            line(out, n, format_args!("{v}"));
        }
    }
    line(out, "Content-Length", format_args!("{}", body.len()));
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

impl Request {
    pub fn encode(&self, out: &mut Vec<u8>) {
        let _ = write!(Out(out), "{} {} SIP/2.0\r\n", self.method, self.uri);
        encode_common(
            out,
            Fields {
                via: &self.via,
                from: &self.from,
                to: &self.to,
                call_id: &self.call_id,
                cseq: &self.cseq,
                max_forwards: self.max_forwards,
                headers: &self.headers,
                body: &self.body,
            },
        );
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512 + self.body.len());
        self.encode(&mut out);
        out
    }

    /// The Contact addresses, in order; empty when there is no Contact.
    ///
    /// `Contact: *` is not a list of addresses: it yields an error of kind
    /// [`ParseErrorKind::ContactWildcard`] (use [`Request::contact_list`] to get it
    /// as a value). `*` mixed with addresses is a syntax error.
    pub fn contacts(&self) -> Result<Vec<NameAddr>, ParseError> {
        match self.contact_list()? {
            Contacts::List(l) => Ok(l),
            Contacts::Wildcard => Err(ParseError::new(
                ParseErrorKind::ContactWildcard,
                "Contact header",
                "name-addr",
                "*",
            )),
        }
    }

    /// ```text
    /// Contact = ("Contact" / "m") HCOLON ( STAR / (contact-param *(COMMA contact-param)))
    /// ```
    pub fn contact_list(&self) -> Result<Contacts, ParseError> {
        let mut list = Vec::new();
        let mut star = false;
        for v in self.headers.get_all("Contact") {
            if v == "*" {
                star = true;
            } else {
                list.push(NameAddr::parse(v)?);
            }
        }
        match (star, list.is_empty()) {
            (false, _) => Ok(Contacts::List(list)),
            (true, true) => Ok(Contacts::Wildcard),
            (true, false) => Err(ParseError::syntax("Contact header", "\"*\" alone", "*")),
        }
    }

    pub fn content_type(&self) -> Option<&str> {
        self.headers.get("Content-Type")
    }
}

impl Response {
    pub fn encode(&self, out: &mut Vec<u8>) {
        let _ = write!(Out(out), "SIP/2.0 {:03} {}\r\n", self.status, self.reason);
        encode_common(
            out,
            Fields {
                via: &self.via,
                from: &self.from,
                to: &self.to,
                call_id: &self.call_id,
                cseq: &self.cseq,
                max_forwards: None,
                headers: &self.headers,
                body: &self.body,
            },
        );
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512 + self.body.len());
        self.encode(&mut out);
        out
    }

    /// RFC 3261 §8.2.6.2: copy Via (all, in order), From, To, Call-ID, CSeq; add the
    /// To tag if given and absent. "The From field of the response MUST equal the From
    /// header field of the request. The Call-ID header field of the response MUST
    /// equal the Call-ID header field of the request. The CSeq header field of the
    /// response MUST equal the CSeq field of the request. The Via header field values
    /// in the response MUST equal the Via header field values in the request and MUST
    /// maintain the same ordering."
    pub fn from_request(
        req: &Request,
        status: u16,
        reason: &str,
        to_tag: Option<&str>,
    ) -> Response {
        let mut to = req.to.clone();
        if let (Some(tag), None) = (to_tag, to.tag()) {
            to.set_tag(tag);
        }
        Response {
            status,
            reason: reason.to_owned(),
            via: req.via.clone(),
            from: req.from.clone(),
            to,
            call_id: req.call_id.clone(),
            cseq: req.cseq.clone(),
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    pub fn content_type(&self) -> Option<&str> {
        self.headers.get("Content-Type")
    }
}

impl Message {
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Message::Request(r) => r.to_bytes(),
            Message::Response(r) => r.to_bytes(),
        }
    }
}

/// The default reason phrase of a status code (RFC 3261 §21 and extensions).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        199 => "Early Dialog Terminated",
        200 => "OK",
        202 => "Accepted",
        204 => "No Notification",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        305 => "Use Proxy",
        380 => "Alternative Service",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        412 => "Conditional Request Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        421 => "Extension Required",
        422 => "Session Interval Too Small",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        485 => "Ambiguous",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        493 => "Undecipherable",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        580 => "Precondition Failure",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        // RFC 3261 §21: an unknown code is treated as the x00 of its class.
        _ => match status / 100 {
            1 => "Trying",
            2 => "OK",
            3 => "Redirection",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}

const SIP_VERSION: &str = "SIP/2.0";

/// `SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT` — well-formed but maybe not 2.0.
fn is_version_like(s: &str) -> bool {
    let Some(v) = s
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("SIP/"))
        .map(|_| &s[4..])
    else {
        return false;
    };
    match v.split_once('.') {
        Some((a, b)) => {
            !a.is_empty() && !b.is_empty() && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

/// RFC 3261 §7.1: "SIP-Version ... the string is case-insensitive, but
/// implementations MUST send upper-case."
fn check_version(v: &str, ctx: &'static str) -> Result<(), ParseError> {
    if v.eq_ignore_ascii_case(SIP_VERSION) {
        Ok(())
    } else if is_version_like(v) {
        Err(ParseError::new(
            ParseErrorKind::UnsupportedVersion,
            ctx,
            "SIP-Version \"SIP/2.0\"",
            v,
        ))
    } else {
        Err(ParseError::syntax(
            ctx,
            "SP SIP-Version \"SIP/2.0\" CRLF",
            v,
        ))
    }
}

enum StartLine<'a> {
    Request(Method, Uri),
    Response(u16, &'a str),
}

fn parse_start_line(line: &str) -> Result<StartLine<'_>, ParseError> {
    if line
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("SIP/"))
    {
        const CTX: &str = "Status-Line";
        let (version, rest) = line
            .split_once(' ')
            .ok_or_else(|| ParseError::syntax(CTX, "SP after SIP-Version", line))?;
        check_version(version, CTX)?;
        let code = rest
            .get(..3)
            .filter(|c| c.bytes().all(|b| b.is_ascii_digit()));
        let (Some(code), Some(b' ')) = (code, rest.as_bytes().get(3).copied()) else {
            return Err(ParseError::syntax(
                CTX,
                "Status-Code = 3DIGIT followed by SP",
                rest,
            ));
        };
        let status: u16 = code
            .parse()
            .map_err(|_| ParseError::syntax(CTX, "Status-Code", code))?;
        if !(100..=699).contains(&status) {
            return Err(ParseError::syntax(CTX, "Status-Code 100-699", code));
        }
        let reason = &rest[4..];
        if reason.chars().any(|c| c.is_control() && c != '\t') {
            return Err(ParseError::syntax(CTX, "Reason-Phrase text", reason));
        }
        return Ok(StartLine::Response(status, reason));
    }
    const CTX: &str = "Request-Line";
    let mut parts = line.splitn(3, ' ');
    let method = parts.next().unwrap_or_default();
    if !is_token(method) {
        return Err(ParseError::syntax(CTX, "Method token", method));
    }
    let (Some(ruri), Some(version)) = (parts.next(), parts.next()) else {
        return Err(ParseError::syntax(
            CTX,
            "Method SP Request-URI SP SIP-Version",
            line,
        ));
    };
    if ruri.is_empty() {
        return Err(ParseError::syntax(
            CTX,
            "Request-URI after a single SP",
            line,
        ));
    }
    check_version(version, CTX)?;
    let uri = Uri::parse(ruri)?;
    // RFC 3261 §19.1.1 (table): headers are not allowed in a Request-URI; RFC 4475
    // §3.1.2.11 finds rejecting such a request with 400 acceptable.
    if let Uri::Sip(u) = &uri
        && !u.headers.is_empty()
    {
        return Err(ParseError::syntax(CTX, "Request-URI without headers", ruri));
    }
    Ok(StartLine::Request(Method::from_token(method), uri))
}

/// Position of the first `\r\n\r\n` in `b`.
fn find_blank_line(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + 3 < b.len() {
        match b[i + 3] {
            b'\n' if &b[i..i + 3] == b"\r\n\r" => return Some(i),
            b'\r' | b'\n' => i += 1,
            _ => i += 4,
        }
    }
    None
}

/// Splits the header block into unfolded header lines, appended to `headers`.
/// Returns the first malformed line's error, after collecting every good line (so a
/// stateless reply can still be built from them).
fn parse_header_lines(block: &str, headers: &mut Headers) -> Result<(), ParseError> {
    const CTX: &str = "header field";
    let mut first_err = None;
    let mut lines = block.split("\r\n").peekable();
    while let Some(l) = lines.next() {
        if l.starts_with([' ', '\t']) {
            // A continuation with nothing to continue: only after the start line.
            first_err.get_or_insert_with(|| ParseError::syntax(CTX, "header-name", l));
            continue;
        }
        let Some(colon) = l.find(':') else {
            first_err.get_or_insert_with(|| ParseError::syntax(CTX, "HCOLON after header-name", l));
            continue;
        };
        // HCOLON = *( SP / HTAB ) ":" SWS
        let name = l[..colon].trim_end_matches([' ', '\t']);
        if !is_token(name) {
            first_err.get_or_insert_with(|| ParseError::syntax(CTX, "header-name token", l));
            continue;
        }
        let first = trim_ws(&l[colon + 1..]);
        let mut parts: [&str; 16] = [""; 16];
        let mut n = 0;
        if !first.is_empty() {
            parts[0] = first;
            n = 1;
        }
        let mut bad = l.contains(['\r', '\n']);
        // RFC 3261 §7.3.1: a line starting with SP or HTAB continues the previous one.
        while let Some(next) = lines.next_if(|n| n.starts_with([' ', '\t'])) {
            bad |= next.contains(['\r', '\n']);
            let t = trim_ws(next);
            if t.is_empty() {
                continue;
            }
            if n + 2 > parts.len() {
                first_err.get_or_insert_with(|| {
                    ParseError::syntax(CTX, "at most 8 continuation lines", l)
                });
                bad = true;
                break;
            }
            if n > 0 {
                parts[n] = " ";
                n += 1;
            }
            parts[n] = t;
            n += 1;
        }
        if bad {
            first_err.get_or_insert_with(|| ParseError::syntax(CTX, "CRLF line ends", l));
            continue;
        }
        headers.push_parts(name, &parts[..n]);
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The single value of a header that may appear only once.
fn single<'h>(
    headers: &'h Headers,
    name: &'static str,
    ctx: &'static str,
) -> Result<Option<&'h str>, ParseError> {
    if headers.count(name) > 1 {
        return Err(ParseError::new(
            ParseErrorKind::DuplicateHeader,
            ctx,
            "a single header field",
            name,
        ));
    }
    Ok(headers.get(name))
}

fn required<'h>(
    headers: &'h Headers,
    name: &'static str,
    ctx: &'static str,
) -> Result<&'h str, ParseError> {
    single(headers, name, ctx)?
        .ok_or_else(|| ParseError::new(ParseErrorKind::MissingHeader, ctx, ctx, "nothing"))
}

fn parse_vias(headers: &Headers, strict: bool) -> Result<Vec<Via>, ParseError> {
    let mut via = Vec::with_capacity(2);
    for line in headers.iter().filter(|(n, _)| *n == "Via").map(|(_, v)| v) {
        for v in split_commas(line) {
            via.push(Via::parse_version(v, strict)?);
        }
    }
    if via.is_empty() {
        return Err(ParseError::new(
            ParseErrorKind::MissingHeader,
            "Via header",
            "Via header",
            "nothing",
        ));
    }
    Ok(via)
}

fn parse_call_id(v: &str) -> Result<String, ParseError> {
    // callid = word [ "@" word ]
    if v.is_empty() || v.contains([' ', '\t']) {
        return Err(ParseError::syntax(
            "Call-ID header",
            "callid = word [ \"@\" word ]",
            v,
        ));
    }
    Ok(v.to_owned())
}

/// The typed fields common to requests and responses.
struct Common {
    via: Vec<Via>,
    from: NameAddr,
    to: NameAddr,
    call_id: String,
    cseq: CSeq,
    content_length: Option<usize>,
}

fn parse_common(h: &Headers) -> Result<Common, ParseError> {
    let via = parse_vias(h, true)?;
    let from = NameAddr::parse(required(h, "From", "From header")?)?;
    let to = NameAddr::parse(required(h, "To", "To header")?)?;
    let call_id = parse_call_id(required(h, "Call-ID", "Call-ID header")?)?;
    let cseq = CSeq::parse(required(h, "CSeq", "CSeq header")?)?;
    // Content-Length = ( "Content-Length" / "l" ) HCOLON 1*DIGIT
    let content_length = match single(h, "Content-Length", "Content-Length header")? {
        None => None,
        Some(v) => {
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ParseError::syntax("Content-Length header", "1*DIGIT", v));
            }
            Some(v.parse::<usize>().unwrap_or(usize::MAX))
        }
    };
    Ok(Common {
        via,
        from,
        to,
        call_id,
        cseq,
        content_length,
    })
}

/// RFC 3261 §18.3: "If a message is received over UDP with a Content-Length longer
/// than the body, it MUST be discarded... a 400 response MAY be sent"; "If the
/// Content-Length is less than the datagram body, the excess octets are ignored";
/// without Content-Length on a datagram, the body runs to the end of the packet.
fn take_body(rest: &[u8], content_length: Option<usize>) -> Result<Vec<u8>, ParseError> {
    match content_length {
        None => Ok(rest.to_vec()),
        Some(n) if n <= rest.len() => Ok(rest[..n].to_vec()),
        Some(n) => Err(ParseError::new(
            ParseErrorKind::BodyTruncated,
            "message body",
            "as many octets as Content-Length",
            &format!("{} of {n}", rest.len()),
        )),
    }
}

/// What is known of a message that failed, for a stateless reply.
struct Salvage {
    /// The request method, when the start line looks like a request.
    method: Option<String>,
    headers: Headers,
}

/// Parses one complete datagram or framed message.
pub fn parse(buf: &[u8]) -> Result<Message, ParseError> {
    let mut salvage = Salvage {
        method: None,
        headers: Headers::new(),
    };
    parse_inner(buf, &mut salvage).map_err(|mut e| {
        e.reply = stateless(&salvage, &e).map(Box::new);
        if e.reply.is_none() {
            e.bare = bare::reply(&salvage, &e).map(Box::new);
        }
        e
    })
}

fn parse_inner(buf: &[u8], salvage: &mut Salvage) -> Result<Message, ParseError> {
    // RFC 3261 §7.5: CRLFs before the start-line are ignored.
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let buf = &buf[start..];
    if buf.is_empty() {
        return Err(ParseError::new(
            ParseErrorKind::Empty,
            "message",
            "a start-line",
            "",
        ));
    }
    let head_len = find_blank_line(buf).ok_or_else(|| {
        let tail = &buf[buf.len().saturating_sub(20)..];
        ParseError::syntax(
            "message",
            "CRLF CRLF ending the header section",
            &String::from_utf8_lossy(tail),
        )
    })?;
    let head = std::str::from_utf8(&buf[..head_len]).map_err(|e| {
        ParseError::syntax(
            "header section",
            "UTF-8 text",
            &String::from_utf8_lossy(&buf[e.valid_up_to()..head_len.min(e.valid_up_to() + 20)]),
        )
    })?;
    let rest = &buf[head_len + 4..];
    let (start_line, block) = head.split_once("\r\n").unwrap_or((head, ""));
    if let Some((m, _)) = start_line.split_once(' ')
        && is_token(m)
        && !start_line
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("SIP/"))
    {
        salvage.method = Some(m.to_owned());
    }
    // The headers live in `salvage` until the message is known good, so an error
    // can still build a stateless reply from them without a copy.
    salvage.headers = Headers::with_capacity(block.len(), 16);
    let lines = parse_header_lines(block, &mut salvage.headers);
    let start = parse_start_line(start_line)?;
    lines?;
    let common = parse_common(&salvage.headers)?;
    match start {
        StartLine::Request(method, uri) => {
            // RFC 3261 §8.1.1.5: "The method MUST match that of the request."
            if common.cseq.method != method {
                return Err(ParseError::new(
                    ParseErrorKind::MethodMismatch,
                    "CSeq header",
                    "the Request-Line method",
                    common.cseq.method.as_str(),
                ));
            }
            // Max-Forwards = "Max-Forwards" HCOLON 1*DIGIT; RFC 3261 §20.22: "an
            // integer in the range 0-255".
            let max_forwards =
                match single(&salvage.headers, "Max-Forwards", "Max-Forwards header")? {
                    None => None,
                    Some(v) => match v.parse::<u32>() {
                        Ok(n) if n <= 255 && v.bytes().all(|b| b.is_ascii_digit()) => Some(n),
                        _ => {
                            return Err(ParseError::syntax(
                                "Max-Forwards header",
                                "1*DIGIT in 0-255",
                                v,
                            ));
                        }
                    },
                };
            let body = take_body(rest, common.content_length)?;
            let mut headers = std::mem::take(&mut salvage.headers);
            headers.retain_names(|n| !is_field_header(n));
            Ok(Message::Request(Request {
                method,
                uri,
                via: common.via,
                from: common.from,
                to: common.to,
                call_id: common.call_id,
                cseq: common.cseq,
                max_forwards,
                headers,
                body,
            }))
        }
        StartLine::Response(status, reason) => {
            let body = take_body(rest, common.content_length)?;
            let mut headers = std::mem::take(&mut salvage.headers);
            headers.retain_names(|n| n == "Max-Forwards" || !is_field_header(n));
            Ok(Message::Response(Response {
                status,
                reason: reason.to_owned(),
                via: common.via,
                from: common.from,
                to: common.to,
                call_id: common.call_id,
                cseq: common.cseq,
                headers,
                body,
            }))
        }
    }
}

/// 64-bit FNV-1a, for a deterministic To tag on stateless replies.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in p.as_bytes().iter().chain(b"\x00") {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// Builds the 400/505 for a broken request, when routable.
///
/// RFC 3261 §8.2.6.2: the UAS "MUST add a tag to the To header field in the response";
/// "the same tag MUST be used for all responses to that request", so the tag is a
/// hash of the request's identifying fields (stable across retransmissions).
fn stateless(s: &Salvage, e: &ParseError) -> Option<Response> {
    let method = s.method.as_deref()?;
    if method == "ACK" || e.kind() == ParseErrorKind::Empty {
        return None;
    }
    let h = &s.headers;
    // A 505 goes back to a sender of another SIP version, whose Via says so.
    let via = parse_vias(h, e.kind() != ParseErrorKind::UnsupportedVersion).ok()?;
    let from = NameAddr::parse(h.get("From")?).ok()?;
    let mut to = NameAddr::parse(h.get("To")?).ok()?;
    let call_id = parse_call_id(h.get("Call-ID")?).ok()?;
    let cseq = CSeq::parse(h.get("CSeq")?).ok()?;
    if to.tag().is_none() {
        let tag = fnv1a(&[
            &call_id,
            from.tag().unwrap_or(""),
            via[0].branch().unwrap_or(""),
            h.get("CSeq")?,
        ]);
        to.set_tag(&format!("sl{tag:016x}"));
    }
    let status = e.status();
    let mut headers = Headers::new();
    // Warning: warn-code SP warn-agent SP warn-text; 399 = miscellaneous warning.
    let text = e.to_string().replace(['\\', '"'], "'");
    headers.push_parts("Warning", &["399 ugyelet \"", &text, "\""]);
    Some(Response {
        status,
        reason: reason_phrase(status).to_owned(),
        via,
        from,
        to,
        call_id,
        cseq,
        headers,
        body: Vec::new(),
    })
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

#[cfg(test)]
mod tests;
