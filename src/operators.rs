//! Operator accounts: `operators.toml`, the SIP accounts of the people who answer the queue.
//!
//! ```toml
//! [[operator]]
//! name = "anna"            # SIP user name, [a-z0-9._-]+
//! display = "Kovács Anna"  # optional
//! location = "on_site"     # or "remote" (teleworker: offered calls only as overflow)
//! queues = ["operators"]   # optional; absent or empty = every queue
//! role = "admin"           # optional; "operator" (default) or "admin" (web console)
//! ha1_md5 = "…"            # 32 hex digits: MD5(name:realm:password)
//! ha1_sha256 = "…"         # 64 hex digits: SHA-256(name:realm:password)
//! require_secure = true    # optional; only over TLS with SRTP (default false)
//! ```
//!
//! Only HA1 digests are stored (RFC 7616 §3.4.2 / RFC 2617 §3.2.2.2): they let the
//! registrar verify a Digest response without the password ever being on disk. They depend
//! on the realm, so changing `[sip] realm` means setting every password again. The web
//! console logs operators in with the same password: [`Operators::verify_password`] hashes
//! what was typed the same way and compares the HA1s.
//!
//! The role says what the account may do in the web console: an `operator` works the
//! worklist, an `admin` also manages accounts and the line. It plays no part in SIP.
//!
//! This module is pure: [`Operators::parse`] reads text, [`upsert`] edits text. Reading and
//! writing the file is done by the callers (`Operators::load` lives in the driver layer,
//! `ugyelet passwd` in `cli/passwd.rs`). Errors point at the value as `file:line:col: expected …,
//! found …`, like the dial plan's.

use std::collections::HashMap;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use crate::acd::{AgentSpec, Location};
use crate::dialplan::syntax::line_col;
use crate::sip::auth::{CredentialStore, Credentials};

/// What an account may do in the web console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Role {
    /// Works the worklist and the queue.
    #[default]
    Operator,
    /// Also manages accounts and the line.
    Admin,
}

impl Role {
    /// The file's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }

    /// Reads the file's (and the command line's) spelling.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "operator" => Some(Self::Operator),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// One operator account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub name: String,
    pub display: Option<String>,
    pub location: Location,
    /// Queues served; empty means every queue.
    pub queues: Vec<String>,
    /// What the account may do in the web console.
    pub role: Role,
    /// HA1 digests, lowercase hex.
    pub credentials: Credentials,
    /// Only over TLS with SRTP: a REGISTER over UDP or TCP, or a call with plain RTP,
    /// is refused (a teleworker's audio must not cross the internet in the clear).
    pub require_secure: bool,
}

/// Every operator account, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Operators {
    list: Vec<Operator>,
    by_name: HashMap<String, usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    operator: Vec<Spanned<RawOperator>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOperator {
    name: Spanned<String>,
    display: Option<Spanned<String>>,
    location: Option<Spanned<String>>,
    queues: Option<Vec<Spanned<String>>>,
    role: Option<Spanned<String>>,
    ha1_md5: Option<Spanned<String>>,
    ha1_sha256: Option<Spanned<String>>,
    require_secure: Option<bool>,
}

/// `[a-z0-9._-]+`: safe in a SIP URI user part without escaping, and one spelling per
/// person (no case variants of the same account).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

/// The shortest password an account may get, in characters (`ugyelet passwd` and the
/// console's accounts page both ask here). Every account registers a SIP phone, often
/// from the internet, where scanners try passwords online; and an HA1 that leaks (a
/// backup, a copied operators file) is brute-forced offline at billions of guesses a
/// second, since it is one unsalted MD5 of `name:realm:password`. Twelve characters keep
/// both out of reach; eight do not.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// A password shorter than [`MIN_PASSWORD_CHARS`]: how long it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooShort {
    pub chars: usize,
}

/// Checks a new password's length (in characters, not bytes: `ő` is one).
pub fn check_password(password: &str) -> Result<(), TooShort> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(TooShort { chars });
    }
    Ok(())
}

/// The file value of a location.
pub fn location_str(l: Location) -> &'static str {
    match l {
        Location::OnSite => "on_site",
        Location::Remote => "remote",
    }
}

/// Parses a location as written in the file or on the command line.
pub fn parse_location(s: &str) -> Option<Location> {
    match s {
        "on_site" => Some(Location::OnSite),
        "remote" => Some(Location::Remote),
        _ => None,
    }
}

struct Diags<'a> {
    file: &'a str,
    text: &'a str,
    out: Vec<String>,
}

impl Diags<'_> {
    fn error(&mut self, span: Range<usize>, message: String) {
        let (line, col) = line_col(self.text, span.start);
        self.out
            .push(format!("{}:{line}:{col}: {message}", self.file));
    }

    /// Lowercase hex of the given length, or an error naming the field (the value itself is
    /// a secret and is not echoed).
    fn ha1(&mut self, v: &Option<Spanned<String>>, digits: usize, what: &str) -> Option<String> {
        let v = v.as_ref()?;
        let s = v.get_ref();
        if s.len() != digits {
            self.error(
                v.span(),
                format!(
                    "expected {digits} hex digits ({what}), found {} characters",
                    s.chars().count()
                ),
            );
            return None;
        }
        if let Some(bad) = s.chars().find(|c| !c.is_ascii_hexdigit()) {
            self.error(
                v.span(),
                format!("expected {digits} hex digits ({what}), found the character {bad:?}"),
            );
            return None;
        }
        Some(s.to_ascii_lowercase())
    }
}

impl Operators {
    /// Parses and validates the text of an operators file, reporting every problem at once.
    /// `file` is only used in the messages.
    pub fn parse(text: &str, file: &str) -> Result<Operators, Vec<String>> {
        let mut d = Diags {
            file,
            text,
            out: Vec::new(),
        };
        let raw: RawFile = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                d.error(e.span().unwrap_or(0..0), e.message().trim_end().to_owned());
                return Err(d.out);
            }
        };
        let mut ops = Operators::default();
        let mut first_at: HashMap<String, usize> = HashMap::new();
        for entry in &raw.operator {
            let r = entry.get_ref();
            let name = r.name.get_ref();
            let mut ok = true;
            if !valid_name(name) {
                d.error(
                    r.name.span(),
                    format!("expected a user name of a-z, 0-9, '.', '_' and '-', found {name:?}"),
                );
                ok = false;
            } else if let Some(&line) = first_at.get(name) {
                d.error(
                    r.name.span(),
                    format!("expected a unique name, found {name:?} again (first on line {line})"),
                );
                ok = false;
            } else {
                first_at.insert(name.clone(), line_col(text, r.name.span().start).0);
            }
            let location = match &r.location {
                None => Location::OnSite,
                Some(l) => match parse_location(l.get_ref()) {
                    Some(loc) => loc,
                    None => {
                        d.error(
                            l.span(),
                            format!(
                                "expected \"on_site\" or \"remote\", found {:?}",
                                l.get_ref()
                            ),
                        );
                        ok = false;
                        Location::OnSite
                    }
                },
            };
            let role = match &r.role {
                None => Role::Operator,
                Some(v) => Role::parse(v.get_ref()).unwrap_or_else(|| {
                    d.error(
                        v.span(),
                        format!(
                            "expected \"operator\" or \"admin\", found {:?}",
                            v.get_ref()
                        ),
                    );
                    ok = false;
                    Role::Operator
                }),
            };
            let mut queues = Vec::new();
            for q in r.queues.iter().flatten() {
                if q.get_ref().trim().is_empty() {
                    d.error(
                        q.span(),
                        "expected a queue name, found an empty string".to_owned(),
                    );
                    ok = false;
                } else {
                    queues.push(q.get_ref().clone());
                }
            }
            let md5 = d.ha1(&r.ha1_md5, 32, "MD5 HA1");
            let sha256 = d.ha1(&r.ha1_sha256, 64, "SHA-256 HA1");
            if r.ha1_md5.is_none() && r.ha1_sha256.is_none() {
                d.error(
                    entry.span(),
                    format!(
                        "expected ha1_md5 or ha1_sha256 for operator {name:?}, found neither \
                         (set a password with `ugyelet passwd {name}`)"
                    ),
                );
                ok = false;
            }
            if r.ha1_md5.is_some() != md5.is_some() || r.ha1_sha256.is_some() != sha256.is_some() {
                ok = false;
            }
            if let Some(display) = &r.display
                && display.get_ref().contains(['\r', '\n', '"'])
            {
                d.error(
                    display.span(),
                    "expected a display name on one line without '\"', found one with such a character"
                        .to_owned(),
                );
                ok = false;
            }
            if ok {
                ops.by_name.insert(name.clone(), ops.list.len());
                ops.list.push(Operator {
                    name: name.clone(),
                    display: r.display.as_ref().map(|s| s.get_ref().clone()),
                    location,
                    queues,
                    role,
                    credentials: Credentials {
                        ha1_md5: md5,
                        ha1_sha256: sha256,
                    },
                    require_secure: r.require_secure.unwrap_or(false),
                });
            }
        }
        if d.out.is_empty() {
            Ok(ops)
        } else {
            Err(d.out)
        }
    }

    pub fn get(&self, name: &str) -> Option<&Operator> {
        self.by_name.get(name).map(|&i| &self.list[i])
    }

    pub fn iter(&self) -> impl Iterator<Item = &Operator> {
        self.list.iter()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The account `name`, when `password` is its password: the HA1s of
    /// `name:realm:password` equal every HA1 the account has (MD5, SHA-256 or both),
    /// compared in constant time. `realm` is `[sip] realm`, the one the HA1s were made
    /// with. An unknown name costs the same hashing as a wrong password, so the time taken
    /// does not tell which names exist.
    pub fn verify_password(&self, name: &str, realm: &str, password: &str) -> Option<&Operator> {
        let Some(op) = self.get(name) else {
            // The same work as a known account with both digests; the result is discarded.
            let dummy = Credentials {
                ha1_md5: Some("0".repeat(32)),
                ha1_sha256: Some("0".repeat(64)),
            };
            let _ = dummy.matches_password(name, realm, password);
            return None;
        };
        op.credentials
            .matches_password(name, realm, password)
            .then_some(op)
    }

    /// The router's view of the accounts.
    pub fn specs(&self) -> Vec<AgentSpec> {
        self.list
            .iter()
            .map(|o| AgentSpec {
                name: o.name.clone(),
                location: o.location,
                queues: o.queues.clone(),
            })
            .collect()
    }
}

impl CredentialStore for Operators {
    fn credentials(&self, username: &str) -> Option<&Credentials> {
        self.get(username).map(|o| &o.credentials)
    }

    fn requires_secure(&self, username: &str) -> bool {
        self.get(username).is_some_and(|o| o.require_secure)
    }
}

/// What `ugyelet passwd` changes in one account.
#[derive(Debug, Clone)]
pub struct Update<'a> {
    pub name: &'a str,
    /// Set the display name (`None`: keep it, or none for a new account).
    pub display: Option<&'a str>,
    /// Set the location (`None`: keep it, or `on_site` for a new account).
    pub location: Option<Location>,
    /// Set the role (`None`: keep it, or none written, meaning `operator`, for a new
    /// account).
    pub role: Option<Role>,
    pub credentials: &'a Credentials,
}

/// Whether [`upsert`] added an account or changed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    Added,
    Updated,
}

/// Adds the account or updates it in the text of an operators file, keeping every comment,
/// the other accounts and the layout; returns the new text, which is validated as a whole
/// (a file that was already broken is not rewritten: fix it first).
pub fn upsert(text: &str, file: &str, u: &Update<'_>) -> Result<(String, Upserted), Vec<String>> {
    use toml_edit::{ArrayOfTables, DocumentMut, Item, Table};

    if !valid_name(u.name) {
        return Err(vec![format!(
            "expected a user name of a-z, 0-9, '.', '_' and '-', found {:?}",
            u.name
        )]);
    }
    // Report the file's own problems with their locations before touching it.
    Operators::parse(text, file)?;
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| vec![format!("{file}: {}", e.message())])?;
    let had_tables = doc.contains_key("operator");
    let entry = doc
        .entry("operator")
        .or_insert(Item::ArrayOfTables(ArrayOfTables::new()));
    let Some(tables) = entry.as_array_of_tables_mut() else {
        return Err(vec![format!(
            "{file}: expected [[operator]] tables, found `operator` written as another kind of value"
        )]);
    };
    let existing = tables
        .iter_mut()
        .find(|t| t.get("name").and_then(Item::as_str) == Some(u.name));
    let outcome = match existing {
        Some(t) => {
            if let Some(display) = u.display {
                set_str(t, "display", display);
            }
            if let Some(loc) = u.location {
                set_str(t, "location", location_str(loc));
            }
            if let Some(role) = u.role {
                set_str(t, "role", role.as_str());
            }
            set_credentials(t, u.credentials);
            Upserted::Updated
        }
        None => {
            let mut t = Table::new();
            set_str(&mut t, "name", u.name);
            if let Some(display) = u.display {
                set_str(&mut t, "display", display);
            }
            set_str(
                &mut t,
                "location",
                location_str(u.location.unwrap_or(Location::OnSite)),
            );
            if let Some(role) = u.role {
                set_str(&mut t, "role", role.as_str());
            }
            set_credentials(&mut t, u.credentials);
            if tables.is_empty() && !text.is_empty() {
                t.decor_mut().set_prefix("\n");
            }
            tables.push(t);
            Upserted::Added
        }
    };
    // A file of comments only keeps them as the document's trailing text, which would print
    // after the first table; they belong above it.
    if !had_tables {
        let trailing = doc.trailing().as_str().unwrap_or("").to_owned();
        if !trailing.trim().is_empty() {
            if let Some(t) = doc
                .get_mut("operator")
                .and_then(Item::as_array_of_tables_mut)
                .and_then(|a| a.get_mut(0))
            {
                let sep = if trailing.ends_with("\n\n") { "" } else { "\n" };
                t.decor_mut().set_prefix(format!("{trailing}{sep}"));
            }
            doc.set_trailing("");
        }
    }
    let out = doc.to_string();
    Operators::parse(&out, file)?;
    Ok((out, outcome))
}

fn set_credentials(t: &mut toml_edit::Table, c: &Credentials) {
    for (key, v) in [("ha1_md5", &c.ha1_md5), ("ha1_sha256", &c.ha1_sha256)] {
        match v {
            Some(h) => set_str(t, key, h),
            // A password change must not leave an HA1 of the old password behind.
            None => {
                t.remove(key);
            }
        }
    }
}

/// Sets a string value, keeping the comment written after an existing one.
fn set_str(t: &mut toml_edit::Table, key: &str, v: &str) {
    match t.get_mut(key).and_then(toml_edit::Item::as_value_mut) {
        Some(old) => {
            let decor = old.decor().clone();
            *old = toml_edit::Value::from(v);
            *old.decor_mut() = decor;
        }
        None => {
            t.insert(key, toml_edit::value(v));
        }
    }
}

#[cfg(test)]
mod tests;
