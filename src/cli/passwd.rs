//! `ugyelet passwd`: add an operator account or set its password in the operators file.
//!
//! Only the HA1 digests of `name:realm:password` (MD5 and SHA-256, RFC 7616 §3.4.2) are
//! written, which is why the realm comes from the configuration; the password itself is
//! neither stored nor printed. The file is edited as text, keeping its comments and the other
//! accounts ([`operators::upsert`]), and replaced atomically: a running daemon reloading it
//! sees the old file or the new one, never half of it.
//!
//! When the file is the one the configuration names, a daemon answering on `[admin]
//! listen` is asked to reload at once (`POST /api/reload`), so the operator's phone can
//! register straight away instead of failing its digest (and getting throttled) until the
//! daemon's file watch notices.
//!
//! `--role admin` lets the account manage the line in the web console; a password reset
//! without `--role` keeps the role the account has.

use std::path::PathBuf;
use std::process::ExitCode;

use ugyelet::config::Config;
use ugyelet::driver::{operators_file, overrides};
use ugyelet::operators::{self, Role, Update, Upserted};
use ugyelet::sip::auth::Credentials;

/// The flags of `ugyelet passwd`.
#[derive(clap::Args)]
pub struct Options {
    /// SIP user name of the operator: a-z, 0-9, '.', '_' and '-'.
    pub name: String,
    /// on_site, or remote for a teleworker (offered calls only as overflow). Default for a
    /// new account: on_site; an existing account keeps its own.
    #[arg(long, value_parser = ["on_site", "remote"])]
    pub location: Option<String>,
    /// Name shown to supervisors, e.g. "Kovács Anna".
    #[arg(long)]
    pub display: Option<String>,
    /// operator, or admin (may also manage accounts and the line in the web console).
    /// Default for a new account: operator; an existing account keeps its own.
    #[arg(long, value_parser = ["operator", "admin"])]
    pub role: Option<String>,
    /// Read the password from the first line of standard input, even on a terminal and
    /// even when UGYELET_PASSWORD is set.
    #[arg(long)]
    pub password_stdin: bool,
    /// Operators file to edit (default: [sip] operators of the configuration).
    #[arg(long)]
    pub file: Option<PathBuf>,
}

/// Reads the password (at least [`operators::MIN_PASSWORD_CHARS`] characters), computes both HA1s and writes the account into `file` (default:
/// `[sip] operators`). Location, display name and role change only when given.
pub fn passwd(cfg: &Config, opts: Options) -> ExitCode {
    let Options {
        name,
        location,
        display,
        role,
        password_stdin,
        file,
    } = opts;
    let name = name.as_str();
    let path = file.unwrap_or_else(|| cfg.sip.operators.clone());
    if !operators::valid_name(name) {
        eprintln!(
            "ugyelet passwd: expected a user name of a-z, 0-9, '.', '_' and '-', found {name:?}"
        );
        return ExitCode::from(2);
    }
    let location = location.as_deref().and_then(operators::parse_location);
    let role = role.as_deref().and_then(Role::parse);
    let text = match operators_file::read_or_empty(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ugyelet passwd: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    let password = match read_password(name, password_stdin) {
        Ok(pw) => pw,
        Err(e) => {
            eprintln!("ugyelet passwd: {e}");
            return ExitCode::FAILURE;
        }
    };
    let credentials = Credentials::from_password(name, &cfg.sip.realm, &password);
    let file_name = path.display().to_string();
    let update = Update {
        name,
        display: display.as_deref(),
        location,
        role,
        credentials: &credentials,
    };
    let (new_text, how) = match operators::upsert(&text, &file_name, &update) {
        Ok(r) => r,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("ugyelet passwd: {} left unchanged", path.display());
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = operators_file::write_atomically(&path, &new_text) {
        eprintln!("ugyelet passwd: cannot write {}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    let verb = match how {
        Upserted::Added => "added",
        Upserted::Updated => "updated",
    };
    println!(
        "operator {name} {verb} in {} (realm \"{}\")",
        path.display(),
        cfg.sip.realm
    );
    if same_file(&path, &cfg.sip.operators) {
        tell_the_daemon(cfg, name);
    }
    ExitCode::SUCCESS
}

fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Asks a daemon running with this configuration to read the accounts now (`POST
/// /api/reload`), so the phone can register at once. Left to itself the daemon notices the
/// file within a few seconds; a phone that tries before that fails its digest, and a few
/// failures throttle the account for half a minute and more. No daemon answering is fine:
/// one started later reads the file.
fn tell_the_daemon(cfg: &Config, name: &str) {
    let Ok(addr) = cfg.admin.listen.parse::<std::net::SocketAddr>() else {
        return;
    };
    match overrides::through_api(addr, cfg.admin.token.as_deref(), "POST", "/api/reload", "") {
        Ok((200, _)) => {
            println!("the daemon answering on {addr} reloaded it: {name}'s phone can register now");
        }
        Ok((status, answer)) => eprintln!(
            "ugyelet passwd: the daemon on {addr} did not reload ({status}): {answer}; it reads \
             the accounts with the next reload that succeeds"
        ),
        Err(_) => {}
    }
}

/// The password: the first line of standard input with `--password-stdin`, else
/// `UGYELET_PASSWORD`, else asked twice without echo on a terminal, else the first line of
/// standard input.
fn read_password(name: &str, from_stdin: bool) -> Result<String, String> {
    use std::io::{BufRead, IsTerminal};

    let env = if from_stdin {
        None
    } else {
        std::env::var("UGYELET_PASSWORD").ok()
    };
    let pw = if let Some(pw) = env {
        pw
    } else if !from_stdin && std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("Password for {name}: "))
            .map_err(|e| format!("cannot read the password: {e}"))?;
        let again = rpassword::prompt_password("Again: ")
            .map_err(|e| format!("cannot read the password: {e}"))?;
        if first != again {
            return Err("the two passwords differ; nothing changed".to_owned());
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if pw.is_empty() {
        return Err("expected a password, found an empty one; nothing changed".to_owned());
    }
    if let Err(short) = operators::check_password(&pw) {
        return Err(format!(
            "expected a password of at least {} characters, found {}: the account registers \
             a SIP phone, where scanners try passwords online, and its HA1 digest can be \
             brute-forced offline if the operators file leaks; nothing changed",
            operators::MIN_PASSWORD_CHARS,
            short.chars
        ));
    }
    Ok(pw)
}
