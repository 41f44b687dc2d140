//! Method, name-addr (From/To/Contact/Route), Via and CSeq.

use std::fmt::{self, Write as _};
use std::net::IpAddr;

use super::error::ParseError;
use super::header::trim_ws;
use super::uri::{Host, Uri};

/// A request method. Matching is case-sensitive (RFC 3261 §7.1: "The method token
/// is case-sensitive"), so `invite` is an extension method, not INVITE.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Register,
    Info,
    Prack,
    Update,
    Subscribe,
    Notify,
    Refer,
    Message,
    Publish,
    Extension(String),
}

impl Method {
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Info => "INFO",
            Method::Prack => "PRACK",
            Method::Update => "UPDATE",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Publish => "PUBLISH",
            Method::Extension(s) => s,
        }
    }

    /// Maps a method token; unknown tokens become `Extension`. The caller checks
    /// that `s` is a token (the parser does).
    pub fn from_token(s: &str) -> Method {
        match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "REGISTER" => Method::Register,
            "INFO" => Method::Info,
            "PRACK" => Method::Prack,
            "UPDATE" => Method::Update,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "REFER" => Method::Refer,
            "MESSAGE" => Method::Message,
            "PUBLISH" => Method::Publish,
            other => Method::Extension(other.to_owned()),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")`
pub(crate) fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// Byte cursor over a header value (already unfolded, so LWS is SP / HTAB only).
struct Cur<'a> {
    s: &'a str,
    i: usize,
    ctx: &'static str,
}

impl<'a> Cur<'a> {
    fn new(s: &'a str, ctx: &'static str) -> Cur<'a> {
        Cur { s, i: 0, ctx }
    }
    fn rest(&self) -> &'a str {
        &self.s[self.i..]
    }
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }
    fn ws(&mut self) -> bool {
        let start = self.i;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
        self.i > start
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn err(&self, expected: &'static str) -> ParseError {
        ParseError::syntax(self.ctx, expected, self.rest())
    }
    fn token(&mut self, expected: &'static str) -> Result<&'a str, ParseError> {
        let start = self.i;
        while self.peek().is_some_and(is_token_char) {
            self.i += 1;
        }
        if self.i == start {
            Err(self.err(expected))
        } else {
            Ok(&self.s[start..self.i])
        }
    }
    /// `quoted-string = SWS DQUOTE *(qdtext / quoted-pair ) DQUOTE`; returns the raw
    /// text including the quotes.
    fn quoted(&mut self) -> Result<&'a str, ParseError> {
        let start = self.i;
        if !self.eat(b'"') {
            return Err(self.err("DQUOTE"));
        }
        let b = self.s.as_bytes();
        while self.i < b.len() {
            match b[self.i] {
                b'"' => {
                    self.i += 1;
                    return Ok(&self.s[start..self.i]);
                }
                // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
                b'\\' => match b.get(self.i + 1) {
                    Some(&c) if c <= 0x7f && c != b'\r' && c != b'\n' => self.i += 2,
                    _ => return Err(self.err("quoted-pair")),
                },
                // qdtext = LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII
                c if c < 0x20 && c != b'\t' || c == 0x7f => return Err(self.err("qdtext")),
                _ => self.i += 1,
            }
        }
        Err(ParseError::syntax(
            self.ctx,
            "closing DQUOTE",
            &self.s[start..],
        ))
    }
    /// `*( SEMI generic-param )` with `generic-param = token [ EQUAL gen-value ]`,
    /// `gen-value = token / host / quoted-string`. Values are kept as written.
    fn params(&mut self) -> Result<Vec<(String, Option<String>)>, ParseError> {
        let mut out = Vec::new();
        loop {
            self.ws();
            if self.peek().is_none() {
                return Ok(out);
            }
            if !self.eat(b';') {
                return Err(self.err("\";\" or end of value"));
            }
            self.ws();
            let name = self.token("parameter name")?;
            self.ws();
            let value = if self.eat(b'=') {
                self.ws();
                if self.peek() == Some(b'"') {
                    Some(self.quoted()?)
                } else {
                    let start = self.i;
                    while self
                        .peek()
                        .is_some_and(|b| is_token_char(b) || matches!(b, b'[' | b']' | b':'))
                    {
                        self.i += 1;
                    }
                    if self.i == start {
                        return Err(self.err("parameter value"));
                    }
                    Some(&self.s[start..self.i])
                }
            } else {
                None
            };
            out.push((name.to_owned(), value.map(str::to_owned)));
        }
    }
}

fn unquote(raw: &str) -> String {
    let inner = &raw[1..raw.len() - 1];
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' | '\\' => write!(f, "\\{c}")?,
            // CR and LF cannot be carried even in a quoted-pair.
            '\r' | '\n' => f.write_char(' ')?,
            c if (c as u32) < 0x20 && c != '\t' || c == '\x7f' => write!(f, "\\{c}")?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

fn find_param<'p>(
    params: &'p [(String, Option<String>)],
    name: &str,
) -> Option<&'p Option<String>> {
    params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn set_param(params: &mut Vec<(String, Option<String>)>, name: &str, value: Option<String>) {
    match params
        .iter_mut()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
    {
        Some(p) => p.1 = value,
        None => params.push((name.to_owned(), value)),
    }
}

fn write_params(f: &mut fmt::Formatter<'_>, params: &[(String, Option<String>)]) -> fmt::Result {
    for (n, v) in params {
        write!(f, ";{n}")?;
        if let Some(v) = v {
            write!(f, "={v}")?;
        }
    }
    Ok(())
}

/// A From, To, Contact, Route or Record-Route value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name, unquoted and unescaped.
    pub display: Option<String>,
    pub uri: Uri,
    /// Header parameters (`;tag=...`, `;expires=...`), values as written.
    pub params: Vec<(String, Option<String>)>,
}

impl NameAddr {
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr {
            display: None,
            uri,
            params: Vec::new(),
        }
    }

    /// ```text
    /// ( name-addr / addr-spec ) *( SEMI generic-param )
    /// name-addr    = [ display-name ] LAQUOT addr-spec RAQUOT
    /// display-name = *(token LWS) / quoted-string
    /// ```
    /// RFC 3261 §20.10: without `<>`, every `;` parameter belongs to the header, and
    /// a URI containing a comma, question mark or semicolon MUST be enclosed in `<>`.
    pub fn parse(s: &str) -> Result<NameAddr, ParseError> {
        const CTX: &str = "name-addr";
        let s = trim_ws(s);
        let mut c = Cur::new(s, CTX);
        let mut display = None;
        if c.peek() == Some(b'"') {
            display = Some(unquote(c.quoted()?));
            c.ws();
            if c.peek() != Some(b'<') {
                return Err(c.err("\"<\" after display-name"));
            }
        } else if let Some(lt) = s.find('<') {
            let words = trim_ws(&s[..lt]);
            if !words.is_empty() {
                let mut d = String::with_capacity(words.len());
                for w in words.split([' ', '\t']).filter(|w| !w.is_empty()) {
                    if !is_token(w) {
                        return Err(ParseError::syntax(
                            CTX,
                            "display-name of tokens or a quoted-string",
                            words,
                        ));
                    }
                    if !d.is_empty() {
                        d.push(' ');
                    }
                    d.push_str(w);
                }
                display = Some(d);
            }
            c.i = lt;
        }
        let uri;
        if c.eat(b'<') {
            let inner = c.rest();
            let gt = inner.find('>').ok_or_else(|| c.err("\">\""))?;
            uri = Uri::parse(&inner[..gt])?;
            c.i += gt + 1;
        } else {
            // addr-spec: the URI ends at the first ";" after the userinfo.
            let rest = c.rest();
            let from = rest.find('@').unwrap_or(0);
            let end = rest[from..]
                .find([';', ' ', '\t'])
                .map_or(rest.len(), |e| e + from);
            let spec = &rest[..end];
            if spec.contains(['?', ',']) {
                return Err(ParseError::syntax(
                    CTX,
                    "URI with \"?\" or \",\" enclosed in <>",
                    spec,
                ));
            }
            uri = Uri::parse(spec)?;
            c.i += end;
        }
        let params = c.params()?;
        Ok(NameAddr {
            display,
            uri,
            params,
        })
    }

    pub fn tag(&self) -> Option<&str> {
        find_param(&self.params, "tag").and_then(|v| v.as_deref())
    }

    pub fn set_tag(&mut self, tag: &str) {
        set_param(&mut self.params, "tag", Some(tag.to_owned()));
    }

    /// A header parameter (case-insensitive name); `Some(None)` when valueless.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        find_param(&self.params, name).map(|v| v.as_deref())
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write_quoted(f, d)?;
            f.write_char(' ')?;
        }
        write!(f, "<{}>", self.uri)?;
        write_params(f, &self.params)
    }
}

/// One Via value (RFC 3261 §20.42).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// `UDP`, `TCP`, `TLS`, `SCTP`, `WS`, ... upper-cased.
    pub transport: String,
    pub host: Host,
    pub port: Option<u16>,
    /// Parameters in order, values as written.
    pub params: Vec<(String, Option<String>)>,
}

impl Via {
    pub fn new(transport: &str, host: Host, port: Option<u16>) -> Via {
        Via {
            transport: transport.to_ascii_uppercase(),
            host,
            port,
            params: Vec::new(),
        }
    }

    /// ```text
    /// via-parm      = sent-protocol LWS sent-by *( SEMI via-params )
    /// sent-protocol = protocol-name SLASH protocol-version SLASH transport
    /// sent-by       = host [ COLON port ]
    /// SLASH = SWS "/" SWS ; COLON = SWS ":" SWS
    /// ```
    pub fn parse(s: &str) -> Result<Via, ParseError> {
        Via::parse_version(s, true)
    }

    /// With `strict` false any protocol-version is read (to route a 505 back).
    pub(super) fn parse_version(s: &str, strict: bool) -> Result<Via, ParseError> {
        const CTX: &str = "Via header";
        let mut c = Cur::new(trim_ws(s), CTX);
        let name = c.token("protocol-name")?;
        c.ws();
        let slash1 = c.eat(b'/');
        c.ws();
        let version = c.token("protocol-version")?;
        if !slash1 || !name.eq_ignore_ascii_case("SIP") || (strict && version != "2.0") {
            return Err(ParseError::syntax(CTX, "sent-protocol \"SIP/2.0/\"", s));
        }
        c.ws();
        if !c.eat(b'/') {
            return Err(c.err("\"/\" before transport"));
        }
        c.ws();
        let transport = c.token("transport")?.to_ascii_uppercase();
        if !c.ws() {
            return Err(c.err("LWS before sent-by"));
        }
        let start = c.i;
        if c.peek() == Some(b'[') {
            while c.peek().is_some_and(|b| b != b']') {
                c.i += 1;
            }
            if !c.eat(b']') {
                return Err(c.err("\"]\""));
            }
        } else {
            while c
                .peek()
                .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
            {
                c.i += 1;
            }
        }
        let host = Host::parse(&c.s[start..c.i])?;
        let save = c.i;
        c.ws();
        let port = if c.eat(b':') {
            c.ws();
            let ps = c.i;
            while c.peek().is_some_and(|b| b.is_ascii_digit()) {
                c.i += 1;
            }
            let digits = &c.s[ps..c.i];
            if digits.is_empty() || digits.len() > 5 {
                return Err(ParseError::syntax(CTX, "port = 1*DIGIT", digits));
            }
            Some(
                digits
                    .parse::<u16>()
                    .map_err(|_| ParseError::syntax(CTX, "port 0-65535", digits))?,
            )
        } else {
            c.i = save;
            None
        };
        let params = c.params()?;
        Ok(Via {
            transport,
            host,
            port,
            params,
        })
    }

    fn param(&self, name: &str) -> Option<&Option<String>> {
        find_param(&self.params, name)
    }

    pub fn branch(&self) -> Option<&str> {
        self.param("branch").and_then(|v| v.as_deref())
    }

    pub fn received(&self) -> Option<&str> {
        self.param("received").and_then(|v| v.as_deref())
    }

    /// RFC 3581: `Some(None)` = present without value (a request asking for rport);
    /// `Some(Some(port))` = filled in. A value that is not a port reads as `Some(None)`.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.param("rport")
            .map(|v| v.as_deref().and_then(|p| p.parse().ok()))
    }

    /// RFC 3261 §18.2.1: the server transport adds `received` with the source address.
    /// `via-received = "received" EQUAL (IPv4address / IPv6address)`: no brackets.
    pub fn set_received(&mut self, ip: IpAddr) {
        set_param(&mut self.params, "received", Some(ip.to_string()));
    }

    /// RFC 3581 §4: fills in the source port.
    pub fn set_rport(&mut self, port: u16) {
        set_param(&mut self.params, "rport", Some(port.to_string()));
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write_params(f, &self.params)
    }
}

/// `CSeq = "CSeq" HCOLON 1*DIGIT LWS Method`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

impl CSeq {
    /// RFC 3261 §8.1.1.5: "The sequence number MUST be expressible as a 32-bit
    /// unsigned integer"; larger values are rejected.
    pub fn parse(s: &str) -> Result<CSeq, ParseError> {
        const CTX: &str = "CSeq header";
        let mut c = Cur::new(trim_ws(s), CTX);
        let start = c.i;
        while c.peek().is_some_and(|b| b.is_ascii_digit()) {
            c.i += 1;
        }
        let digits = &c.s[start..c.i];
        if digits.is_empty() {
            return Err(c.err("1*DIGIT sequence number"));
        }
        let seq = digits
            .parse::<u32>()
            .map_err(|_| ParseError::syntax(CTX, "sequence number below 2**32", digits))?;
        if !c.ws() {
            return Err(c.err("LWS before method"));
        }
        let m = c.token("Method")?;
        if !c.rest().is_empty() {
            return Err(c.err("end of CSeq"));
        }
        Ok(CSeq {
            seq,
            method: Method::from_token(m),
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}
