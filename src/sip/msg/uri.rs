//! SIP, SIPS and tel URIs (RFC 3261 §19.1, §25.1; RFC 3966; RFC 5118 for IPv6).
//!
//! ```text
//! SIP-URI        = "sip:" [ userinfo ] hostport uri-parameters [ headers ]
//! SIPS-URI       = "sips:" [ userinfo ] hostport uri-parameters [ headers ]
//! userinfo       = ( user / telephone-subscriber ) [ ":" password ] "@"
//! user           = 1*( unreserved / escaped / user-unreserved )
//! user-unreserved= "&" / "=" / "+" / "$" / "," / ";" / "?" / "/"
//! password       = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
//! hostport       = host [ ":" port ]
//! host           = hostname / IPv4address / IPv6reference
//! uri-parameters = *( ";" uri-parameter )
//! uri-parameter  = pname [ "=" pvalue ]     ; paramchar = param-unreserved / unreserved / escaped
//! headers        = "?" header *( "&" header ) ; header = hname "=" hvalue
//! ```
//!
//! User, password, parameters and headers are stored unescaped (RFC 3261 §19.1.4:
//! an escaped and an unescaped character compare equal) and re-escaped on printing.

use std::fmt::{self, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr};

use super::error::ParseError;

/// The host part of a SIP URI or Via sent-by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A host name, kept as written (compare case-insensitively).
    Domain(String),
    /// A dotted-quad IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 reference; printed in `[brackets]` (RFC 5118 §4.1).
    V6(Ipv6Addr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

impl Host {
    /// Parses `hostname / IPv4address / IPv6reference`.
    pub fn parse(s: &str) -> Result<Host, ParseError> {
        const CTX: &str = "host";
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or_else(|| ParseError::syntax(CTX, "\"]\" closing IPv6reference", s))?;
            return inner
                .parse::<Ipv6Addr>()
                .map(Host::V6)
                .map_err(|_| ParseError::syntax(CTX, "IPv6 address", inner));
        }
        if s.is_empty() {
            return Err(ParseError::syntax(CTX, "hostname or IP address", s));
        }
        if let Ok(a) = s.parse::<Ipv4Addr>() {
            return Ok(Host::V4(a));
        }
        // hostname = *( domainlabel "." ) toplabel [ "." ]; "_" tolerated (seen in
        // the wild, harmless).
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        {
            return Err(ParseError::syntax(CTX, "hostname characters", s));
        }
        Ok(Host::Domain(s.to_owned()))
    }
}

/// A `sip:` or `sips:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// `sips:` rather than `sip:`.
    pub secure: bool,
    /// User part, unescaped.
    pub user: Option<String>,
    /// Password, unescaped (RFC 3261 §19.1.1: its use is NOT RECOMMENDED).
    pub password: Option<String>,
    pub host: Host,
    pub port: Option<u16>,
    /// URI parameters, unescaped, in order; `None` value for `;lr`-style parameters.
    pub params: Vec<(String, Option<String>)>,
    /// URI headers (`?name=value&...`), unescaped.
    pub headers: Vec<(String, String)>,
}

/// A `tel:` URI (RFC 3966), e.g. the caller ID of a trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelUri {
    /// The number as written, visual separators included (`+36-1-234-5678`).
    pub number: String,
    /// Parameters as written (`;phone-context=...`).
    pub params: Vec<(String, Option<String>)>,
}

/// A URI as found in a Request-URI, From, To or Contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uri {
    Sip(SipUri),
    Tel(TelUri),
    /// Any other absoluteURI (RFC 3261 §25.1), kept verbatim. A UAS answers a
    /// Request-URI of such a scheme with 416 (RFC 3261 §8.2.2.1).
    Other {
        scheme: String,
        rest: String,
    },
}

impl Uri {
    /// SIP user part or tel number.
    pub fn user(&self) -> Option<&str> {
        match self {
            Uri::Sip(u) => u.user.as_deref(),
            Uri::Tel(t) => Some(&t.number),
            Uri::Other { .. } => None,
        }
    }

    /// Parses an absolute URI; `sip`, `sips` and `tel` are parsed into parts.
    ///
    /// ```text
    /// absoluteURI = scheme ":" ( hier-part / opaque-part )
    /// scheme      = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
    /// ```
    pub fn parse(s: &str) -> Result<Uri, ParseError> {
        const CTX: &str = "URI";
        let colon = s
            .find(':')
            .ok_or_else(|| ParseError::syntax(CTX, "scheme \":\"", s))?;
        let (scheme, rest) = (&s[..colon], &s[colon + 1..]);
        let sb = scheme.as_bytes();
        if sb.is_empty()
            || !sb[0].is_ascii_alphabetic()
            || !sb
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            return Err(ParseError::syntax(CTX, "URI scheme", s));
        }
        if !rest.is_ascii() || rest.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(ParseError::syntax(
                CTX,
                "URI without whitespace, controls or non-ASCII",
                s,
            ));
        }
        if scheme.eq_ignore_ascii_case("sip") {
            parse_sip(rest, false).map(Uri::Sip)
        } else if scheme.eq_ignore_ascii_case("sips") {
            parse_sip(rest, true).map(Uri::Sip)
        } else if scheme.eq_ignore_ascii_case("tel") {
            parse_tel(rest).map(Uri::Tel)
        } else if rest.is_empty() || rest.bytes().any(|b| matches!(b, b'<' | b'>' | b'"')) {
            Err(ParseError::syntax(CTX, "hier-part or opaque-part", s))
        } else {
            Ok(Uri::Other {
                scheme: scheme.to_owned(),
                rest: rest.to_owned(),
            })
        }
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        )
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Unescapes `%HH` after checking every other octet against `allowed`.
fn unescape(
    s: &str,
    allowed: fn(u8) -> bool,
    ctx: &'static str,
    what: &'static str,
) -> Result<String, ParseError> {
    let b = s.as_bytes();
    if !b.contains(&b'%') {
        return if b.iter().all(|&c| allowed(c)) {
            Ok(s.to_owned())
        } else {
            Err(ParseError::syntax(ctx, what, s))
        };
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            let hi = b.get(i + 1).copied().and_then(hex);
            let lo = b.get(i + 2).copied().and_then(hex);
            match (hi, lo) {
                (Some(h), Some(l)) => out.push(h << 4 | l),
                _ => {
                    return Err(ParseError::syntax(
                        ctx,
                        "escaped = \"%\" HEXDIG HEXDIG",
                        &s[i..],
                    ));
                }
            }
            i += 3;
        } else if allowed(c) {
            out.push(c);
            i += 1;
        } else {
            return Err(ParseError::syntax(ctx, what, s));
        }
    }
    String::from_utf8(out).map_err(|_| ParseError::syntax(ctx, "UTF-8 after unescaping", s))
}

fn escape(out: &mut impl fmt::Write, s: &str, allowed: fn(u8) -> bool) -> fmt::Result {
    for &b in s.as_bytes() {
        if allowed(b) {
            out.write_char(b as char)?;
        } else {
            write!(out, "%{b:02X}")?;
        }
    }
    Ok(())
}

fn user_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/')
}
/// Lenient on input only: `#` appears unescaped in dial strings from real phones.
fn user_char_in(b: u8) -> bool {
    user_char(b) || b == b'#'
}
fn password_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',')
}
fn param_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$')
}
fn header_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$')
}

fn parse_sip(rest: &str, secure: bool) -> Result<SipUri, ParseError> {
    const CTX: &str = "SIP URI";
    // `@` cannot appear unescaped after the userinfo, so the first one ends it.
    let (userinfo, hostpart) = match rest.find('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let (user, password) = match userinfo {
        None => (None, None),
        Some(ui) => {
            let (u, p) = match ui.find(':') {
                Some(c) => (&ui[..c], Some(&ui[c + 1..])),
                None => (ui, None),
            };
            if u.is_empty() {
                return Err(ParseError::syntax(CTX, "user before \"@\"", rest));
            }
            let user = unescape(u, user_char_in, CTX, "user characters")?;
            let password = p
                .map(|p| unescape(p, password_char, CTX, "password characters"))
                .transpose()?;
            (Some(user), password)
        }
    };
    // hostport ends at the first ";" or "?" outside an IPv6 reference.
    let host_end = if hostpart.starts_with('[') {
        let close = hostpart
            .find(']')
            .ok_or_else(|| ParseError::syntax(CTX, "\"]\"", hostpart))?;
        close
            + 1
            + hostpart[close + 1..]
                .find([';', '?'])
                .unwrap_or(hostpart.len() - close - 1)
    } else {
        hostpart.find([';', '?']).unwrap_or(hostpart.len())
    };
    let hostport = &hostpart[..host_end];
    let (host_s, port) = split_hostport(hostport, CTX)?;
    let host = Host::parse(host_s)?;
    let mut tail = &hostpart[host_end..];
    let mut params = Vec::new();
    while let Some(t) = tail.strip_prefix(';') {
        let end = t.find([';', '?']).unwrap_or(t.len());
        let p = &t[..end];
        let (n, v) = match p.find('=') {
            Some(e) => (&p[..e], Some(&p[e + 1..])),
            None => (p, None),
        };
        if n.is_empty() {
            return Err(ParseError::syntax(CTX, "uri-parameter name", t));
        }
        let n = unescape(n, param_char, CTX, "paramchar")?;
        let v = v
            .map(|v| unescape(v, param_char, CTX, "paramchar"))
            .transpose()?;
        params.push((n, v));
        tail = &t[end..];
    }
    let mut headers = Vec::new();
    if let Some(h) = tail.strip_prefix('?') {
        for pair in h.split('&') {
            let e = pair
                .find('=')
                .ok_or_else(|| ParseError::syntax(CTX, "header = hname \"=\" hvalue", pair))?;
            let n = unescape(&pair[..e], header_char, CTX, "hname characters")?;
            if n.is_empty() {
                return Err(ParseError::syntax(CTX, "hname", pair));
            }
            let v = unescape(&pair[e + 1..], header_char, CTX, "hvalue characters")?;
            headers.push((n, v));
        }
    }
    Ok(SipUri {
        secure,
        user,
        password,
        host,
        port,
        params,
        headers,
    })
}

/// Splits `host [ ":" port ]`, the host possibly an IPv6 reference.
pub(super) fn split_hostport<'a>(
    s: &'a str,
    ctx: &'static str,
) -> Result<(&'a str, Option<u16>), ParseError> {
    let colon = if s.starts_with('[') {
        let close = s
            .find(']')
            .ok_or_else(|| ParseError::syntax(ctx, "\"]\"", s))?;
        match &s[close + 1..] {
            "" => None,
            r if r.starts_with(':') => Some(close + 1),
            _ => return Err(ParseError::syntax(ctx, "\":\" port after IPv6reference", s)),
        }
    } else {
        s.find(':')
    };
    match colon {
        None => Ok((s, None)),
        Some(c) => {
            let p = &s[c + 1..];
            if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ParseError::syntax(ctx, "port = 1*DIGIT", p));
            }
            let port = p
                .parse::<u16>()
                .map_err(|_| ParseError::syntax(ctx, "port 0-65535", p))?;
            Ok((&s[..c], Some(port)))
        }
    }
}

fn parse_tel(rest: &str) -> Result<TelUri, ParseError> {
    const CTX: &str = "tel URI";
    let mut parts = rest.split(';');
    let number = parts.next().unwrap_or_default();
    // global-number-digits / local-number-digits, visual-separator = "-" / "." / "(" / ")"
    let digits_ok = number.bytes().all(|b| {
        b.is_ascii_hexdigit() || matches!(b, b'*' | b'#' | b'+' | b'-' | b'.' | b'(' | b')')
    });
    if number.is_empty() || !digits_ok || number[1..].contains('+') {
        return Err(ParseError::syntax(
            CTX,
            "telephone-subscriber digits",
            number,
        ));
    }
    let mut params = Vec::new();
    for p in parts {
        let (n, v) = match p.find('=') {
            Some(e) => (&p[..e], Some(p[e + 1..].to_owned())),
            None => (p, None),
        };
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(ParseError::syntax(CTX, "parameter name", p));
        }
        params.push((n.to_owned(), v));
    }
    Ok(TelUri {
        number: number.to_owned(),
        params,
    })
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(u) = &self.user {
            escape(f, u, user_char)?;
            if let Some(p) = &self.password {
                f.write_char(':')?;
                escape(f, p, password_char)?;
            }
            f.write_char('@')?;
        }
        write!(f, "{}", self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        for (n, v) in &self.params {
            f.write_char(';')?;
            escape(f, n, param_char)?;
            if let Some(v) = v {
                f.write_char('=')?;
                escape(f, v, param_char)?;
            }
        }
        for (i, (n, v)) in self.headers.iter().enumerate() {
            f.write_char(if i == 0 { '?' } else { '&' })?;
            escape(f, n, header_char)?;
            f.write_char('=')?;
            escape(f, v, header_char)?;
        }
        Ok(())
    }
}

impl fmt::Display for TelUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tel:{}", self.number)?;
        for (n, v) in &self.params {
            write!(f, ";{n}")?;
            if let Some(v) = v {
                write!(f, "={v}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uri::Sip(u) => u.fmt(f),
            Uri::Tel(t) => t.fmt(f),
            Uri::Other { scheme, rest } => write!(f, "{scheme}:{rest}"),
        }
    }
}

impl SipUri {
    /// The value of a URI parameter (case-insensitive name); `Some(None)` when valueless.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref())
    }
}
