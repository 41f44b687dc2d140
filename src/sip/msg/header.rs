//! The ordered header list of a message, with RFC 3261 §7.3.3 compact forms.
//!
//! ```text
//! message-header = header-name HCOLON header-value *(COMMA header-value) CRLF
//! HCOLON         = *( SP / HTAB ) ":" SWS
//! ```
//!
//! Values are stored unfolded (RFC 3261 §7.3.1: a CRLF followed by whitespace is
//! equivalent to a single SP) and trimmed, all in one `String`, so a parsed message
//! costs one allocation for its whole header block.

use std::fmt;
use std::ops::Range;

/// Canonical header names: (long form, compact form, value is a comma list).
///
/// The compact forms are from RFC 3261 §7.3.3 (i m e l c f s k t v), RFC 6665 (o u),
/// RFC 3515 (r), RFC 3892 (b), RFC 4028 (x), RFC 3841 (a j d), RFC 8224 (y) and
/// RFC 4474 (n). Only headers whose grammar is `#element` are split on commas;
/// WWW-Authenticate, Authorization and the like never are (their parameters are
/// comma-separated), nor are unknown headers (their grammar is unknown).
const KNOWN: &[(&str, Option<u8>, bool)] = &[
    ("Accept", None, true),
    ("Accept-Contact", Some(b'a'), true),
    ("Accept-Encoding", None, true),
    ("Accept-Language", None, true),
    ("Alert-Info", None, true),
    ("Allow", None, true),
    ("Allow-Events", Some(b'u'), true),
    ("Authentication-Info", None, false),
    ("Authorization", None, false),
    ("Call-ID", Some(b'i'), false),
    ("Call-Info", None, true),
    ("Contact", Some(b'm'), true),
    ("Content-Disposition", None, false),
    ("Content-Encoding", Some(b'e'), true),
    ("Content-Language", None, true),
    ("Content-Length", Some(b'l'), false),
    ("Content-Type", Some(b'c'), false),
    ("CSeq", None, false),
    ("Date", None, false),
    ("Error-Info", None, true),
    ("Event", Some(b'o'), false),
    ("Expires", None, false),
    ("From", Some(b'f'), false),
    ("History-Info", None, true),
    ("Identity", Some(b'y'), false),
    ("Identity-Info", Some(b'n'), false),
    ("In-Reply-To", None, true),
    ("Max-Forwards", None, false),
    ("MIME-Version", None, false),
    ("Min-Expires", None, false),
    ("Min-SE", None, false),
    ("Organization", None, false),
    ("P-Asserted-Identity", None, true),
    ("P-Preferred-Identity", None, true),
    ("Path", None, true),
    ("Priority", None, false),
    ("Privacy", None, false),
    ("Proxy-Authenticate", None, false),
    ("Proxy-Authorization", None, false),
    ("Proxy-Require", None, true),
    ("RAck", None, false),
    ("Reason", None, true),
    ("Record-Route", None, true),
    ("Refer-To", Some(b'r'), false),
    ("Referred-By", Some(b'b'), false),
    ("Reject-Contact", Some(b'j'), true),
    ("Replaces", None, false),
    ("Reply-To", None, false),
    ("Request-Disposition", Some(b'd'), true),
    ("Require", None, true),
    ("Retry-After", None, false),
    ("Route", None, true),
    ("RSeq", None, false),
    ("Server", None, false),
    ("Service-Route", None, true),
    ("Session-Expires", Some(b'x'), false),
    ("Subject", Some(b's'), false),
    ("Subscription-State", None, false),
    ("Supported", Some(b'k'), true),
    ("Timestamp", None, false),
    ("To", Some(b't'), false),
    ("Unsupported", None, true),
    ("User-Agent", None, false),
    ("Via", Some(b'v'), true),
    ("Warning", None, true),
    ("WWW-Authenticate", None, false),
];

/// Index into `KNOWN` for a header name in any case, long or compact.
fn known(name: &str) -> Option<usize> {
    let b = name.as_bytes();
    if b.len() == 1 {
        let c = b[0].to_ascii_lowercase();
        return KNOWN.iter().position(|(_, compact, _)| *compact == Some(c));
    }
    KNOWN
        .iter()
        .position(|(long, _, _)| long.len() == b.len() && long.eq_ignore_ascii_case(name))
}

/// The canonical long form of a known header name (`"v"` → `"Via"`), if known.
pub fn canonical_name(name: &str) -> Option<&'static str> {
    known(name).map(|i| KNOWN[i].0)
}

#[derive(Debug, Clone, Copy)]
enum Name {
    Known(u8),
    Custom(u32, u32),
}

#[derive(Debug, Clone)]
struct Entry {
    name: Name,
    value: (u32, u32),
}

/// Ordered `(canonical name, raw value)` pairs.
#[derive(Clone, Default)]
pub struct Headers {
    buf: String,
    entries: Vec<Entry>,
}

fn range(r: (u32, u32)) -> Range<usize> {
    r.0 as usize..r.1 as usize
}

impl Headers {
    pub fn new() -> Headers {
        Headers::default()
    }

    pub(crate) fn with_capacity(bytes: usize, headers: usize) -> Headers {
        Headers {
            buf: String::with_capacity(bytes),
            entries: Vec::with_capacity(headers),
        }
    }

    fn name_of(&self, e: &Entry) -> &str {
        match e.name {
            Name::Known(i) => KNOWN[i as usize].0,
            Name::Custom(a, b) => &self.buf[range((a, b))],
        }
    }

    fn value_of(&self, e: &Entry) -> &str {
        &self.buf[range(e.value)]
    }

    /// Does entry `e` carry the header `q` (`known(q)` precomputed)?
    fn matches(&self, e: &Entry, q: &str, k: Option<usize>) -> bool {
        match (e.name, k) {
            (Name::Known(i), Some(k)) => i as usize == k,
            (Name::Custom(a, b), None) => self.buf[range((a, b))].eq_ignore_ascii_case(q),
            _ => false,
        }
    }

    fn offset(&self) -> u32 {
        // Headers never reach 4 GiB: a parsed message is one datagram or one framed
        // message bounded by the framing limit.
        u32::try_from(self.buf.len()).unwrap_or(u32::MAX)
    }

    /// Appends a header built from pieces, without an intermediate `String`.
    pub(crate) fn push_parts(&mut self, name: &str, parts: &[&str]) {
        let name = match known(name) {
            Some(i) => Name::Known(i as u8),
            None => {
                let a = self.offset();
                self.buf.push_str(name);
                Name::Custom(a, self.offset())
            }
        };
        let a = self.offset();
        for p in parts {
            self.buf.push_str(p);
        }
        self.entries.push(Entry {
            name,
            value: (a, self.offset()),
        });
    }

    /// The first value of a header (case-insensitive; compact forms accepted).
    pub fn get(&self, name: &str) -> Option<&str> {
        let k = known(name);
        self.entries
            .iter()
            .find(|e| self.matches(e, name, k))
            .map(|e| self.value_of(e))
    }

    /// Every value of a header, in order. Values of list headers (Via, Contact, Route,
    /// Allow, Supported, ...) are split at commas outside quoted strings and `<...>`;
    /// empty elements are skipped. Other headers yield one value per header line.
    pub fn get_all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + use<'a> {
        let k = known(name);
        let list = k.is_some_and(|i| KNOWN[i].2);
        let q = name.to_owned();
        self.entries
            .iter()
            .filter(move |e| self.matches(e, &q, k))
            .flat_map(move |e| {
                let v = self.value_of(e);
                let whole = (!list).then_some(v);
                let parts = list.then(|| split_commas(v).filter(|p| !p.is_empty()));
                whole.into_iter().chain(parts.into_iter().flatten())
            })
    }

    /// Number of header lines named `name`.
    pub fn count(&self, name: &str) -> usize {
        let k = known(name);
        self.entries
            .iter()
            .filter(|e| self.matches(e, name, k))
            .count()
    }

    /// Appends a header line.
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        let v: String = value.into();
        self.push_parts(name, &[&v]);
    }

    /// Replaces the first line of `name` in place (removing later ones), or appends.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let v: String = value.into();
        let k = known(name);
        match self.entries.iter().position(|e| self.matches(e, name, k)) {
            None => self.push_parts(name, &[&v]),
            Some(first) => {
                let a = self.offset();
                self.buf.push_str(&v);
                let value = (a, self.offset());
                self.entries[first].value = value;
                let mut i = 0;
                let buf = &self.buf;
                self.entries.retain(|e| {
                    let keep = i <= first || !matches_entry(buf, e, name, k);
                    i += 1;
                    keep
                });
            }
        }
    }

    /// Removes every line of `name`.
    pub fn remove(&mut self, name: &str) {
        let k = known(name);
        let buf = &self.buf;
        self.entries.retain(|e| !matches_entry(buf, e, name, k));
    }

    /// `(canonical name, value)` for each header line, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|e| (self.name_of(e), self.value_of(e)))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keeps only lines for which `keep(canonical name)` holds.
    pub(crate) fn retain_names(&mut self, mut keep: impl FnMut(&str) -> bool) {
        let buf = &self.buf;
        self.entries.retain(|e| {
            let n = match e.name {
                Name::Known(i) => KNOWN[i as usize].0,
                Name::Custom(a, b) => &buf[range((a, b))],
            };
            keep(n)
        });
    }
}

fn matches_entry(buf: &str, e: &Entry, q: &str, k: Option<usize>) -> bool {
    match (e.name, k) {
        (Name::Known(i), Some(k)) => i as usize == k,
        (Name::Custom(a, b), None) => buf[range((a, b))].eq_ignore_ascii_case(q),
        _ => false,
    }
}

impl PartialEq for Headers {
    fn eq(&self, other: &Headers) -> bool {
        self.iter().eq(other.iter())
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Splits a header value at top-level commas (not inside `"..."` or `<...>`),
/// trimming each element. Empty elements are yielded (callers decide).
pub fn split_commas(v: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(v);
    std::iter::from_fn(move || {
        let s = rest?;
        let b = s.as_bytes();
        let (mut quoted, mut angle, mut i) = (false, false, 0);
        while i < b.len() {
            match b[i] {
                b'\\' if quoted => i += 1,
                b'"' if !angle => quoted = !quoted,
                b'<' if !quoted => angle = true,
                b'>' if !quoted => angle = false,
                b',' if !quoted && !angle => {
                    rest = Some(&s[i + 1..]);
                    return Some(trim_ws(&s[..i]));
                }
                _ => {}
            }
            i += 1;
        }
        rest = None;
        Some(trim_ws(s))
    })
}

pub(crate) fn trim_ws(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}
