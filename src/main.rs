//! The `ugyelet` command: parses the command line, loads the configuration and hands over to
//! the library.

use std::path::PathBuf;
use std::process::ExitCode;

use std::sync::Arc;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use ugyelet::config::{Config, LogFormat};
use ugyelet::dialplan::calendar;
use ugyelet::dialplan::interp::CallEnv;
use ugyelet::dialplan::simulate;
use ugyelet::driver::{live, overrides};

/// SIP/RTP daemon of the "Segít a hivatal" after-hours help line: answers calls, speaks
/// Hungarian voice menus and follows the dial plan.
#[derive(Parser)]
#[command(name = "ugyelet", version, about)]
struct Cli {
    /// Configuration file (TOML). Without it, built-in defaults and UGYELET_* environment
    /// variables apply.
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon until SIGINT or SIGTERM (SIGHUP reloads the dial plan).
    Run,
    /// Validate the configuration, the prompts, a dial plan and its calendar, and report
    /// every problem as file:line:col. Exit code 1 on errors; warnings alone exit 0.
    Check {
        /// Dial plan to check instead of the configured one.
        plan: Option<PathBuf>,
    },
    /// Walk the dial plan without a call and print what the caller would hear and why.
    Simulate {
        /// Civil time in Budapest, e.g. "2026-12-24 16:30" (default: now).
        #[arg(long)]
        at: Option<String>,
        /// Caller's number (any common form), or "anonymous".
        #[arg(long, default_value = "+36301234567")]
        from: String,
        /// Keys the caller presses, in order, e.g. "1,2" or "2#".
        #[arg(long, default_value = "")]
        keys: String,
        /// Instead of a call: print for each day of a month (YYYY-MM) or a range
        /// (YYYY-MM-DD..YYYY-MM-DD) whether the line is open, closed or on a holiday.
        #[arg(long)]
        sweep: Option<String>,
        /// Schedule for --sweep.
        #[arg(long, default_value = "staffed")]
        schedule: String,
        /// Dial plan to simulate instead of the configured one.
        plan: Option<PathBuf>,
    },
    /// Call records.
    Cdr {
        #[command(subcommand)]
        command: CdrCommand,
    },
    /// Add an operator account or set its password in the operators file. Only the HA1
    /// digests (MD5 and SHA-256 of name:realm:password, realm from [sip] realm) are written;
    /// the password is neither stored nor printed. The password comes from the environment
    /// variable UGYELET_PASSWORD if set (for scripts), else from standard input: asked twice
    /// without echo on a terminal, or the first line of piped input.
    Passwd {
        /// SIP user name of the operator: a-z, 0-9, '.', '_' and '-'.
        name: String,
        /// on_site, or remote for a teleworker (offered calls only as overflow). Default for a
        /// new account: on_site; an existing account keeps its own.
        #[arg(long, value_parser = ["on_site", "remote"])]
        location: Option<String>,
        /// Name shown to supervisors, e.g. "Kovács Anna".
        #[arg(long)]
        display: Option<String>,
        /// Operators file to edit (default: [sip] operators of the configuration).
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Open or close the line by hand, or return it to the calendar ("auto"). Stored in the
    /// state directory: it survives restarts and a running daemon picks it up.
    Override {
        /// open, closed or auto
        mode: String,
        /// Until when, in Budapest time ("2026-12-24 18:00"); then back to the calendar.
        #[arg(long)]
        until: Option<String>,
        /// Why (shown in logs, status and the simulator).
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Subcommand)]
enum CdrCommand {
    /// Write the calls that started in a period as CSV to standard output.
    Export {
        /// First day (Budapest time), e.g. 2026-11-01.
        #[arg(long)]
        since: String,
        /// Day after the last one (default: tomorrow).
        #[arg(long)]
        until: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cfg = match Config::load(cli.config.as_deref()) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("ugyelet: {e}");
            return ExitCode::from(2);
        }
    };
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(calendar::tz())
        .date();
    match cli.command {
        Command::Check { plan } => match live::load(&cfg, plan.as_deref(), today, 1) {
            Ok(l) => {
                for w in &l.warnings {
                    eprintln!("{w}");
                }
                println!(
                    "ok: {} ({} nodes), {} prompts, {} forms, schedules: {}, {} warning(s)",
                    l.plan.source,
                    l.plan.nodes.len(),
                    l.prompts.len(),
                    l.catalog.forms().len(),
                    l.calendar.schedule_names().join(", "),
                    l.warnings.len()
                );
                ExitCode::SUCCESS
            }
            Err(errors) => {
                for e in &errors {
                    eprintln!("{e}");
                }
                eprintln!("{} error(s)", errors.len());
                ExitCode::FAILURE
            }
        },
        Command::Simulate {
            at,
            from,
            keys,
            sweep,
            schedule,
            plan,
        } => simulate(&cfg, today, at, &from, &keys, sweep, &schedule, plan),
        Command::Cdr {
            command: CdrCommand::Export { since, until },
        } => cdr_export(&cfg, today, &since, until.as_deref()),
        Command::Passwd {
            name,
            location,
            display,
            file,
        } => passwd(&cfg, &name, location.as_deref(), display.as_deref(), file),
        Command::Override {
            mode,
            until,
            reason,
        } => {
            let parsed = overrides::parse_mode(&mode).and_then(|m| {
                let until = until.as_deref().map(overrides::parse_until).transpose()?;
                Ok(m.map(|mode| calendar::ManualOverride {
                    mode,
                    until,
                    reason,
                }))
            });
            let value = match parsed {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("ugyelet override: {e}");
                    return ExitCode::from(2);
                }
            };
            match overrides::save(&cfg.state.dir, value.as_ref()) {
                Ok(()) => {
                    println!(
                        "override {mode} stored in {}",
                        overrides::path(&cfg.state.dir).display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("ugyelet override: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Run => {
            init_logging(&cfg);
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("ugyelet: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(ugyelet::driver::run(cfg, shutdown_signal())) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    eprintln!("ugyelet: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)] // the simulate subcommand's flags, passed straight through
fn simulate(
    cfg: &Config,
    today: jiff::civil::Date,
    at: Option<String>,
    from: &str,
    keys: &str,
    sweep: Option<String>,
    schedule: &str,
    plan: Option<PathBuf>,
) -> ExitCode {
    let l = match live::load(cfg, plan.as_deref(), today, 1) {
        Ok(l) => l,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            return ExitCode::FAILURE;
        }
    };
    if let Some(range) = sweep {
        let Some((from_d, to_d)) = parse_range(&range) else {
            eprintln!(
                "ugyelet simulate: --sweep: expected YYYY-MM or YYYY-MM-DD..YYYY-MM-DD, found \"{range}\""
            );
            return ExitCode::from(2);
        };
        if !l.calendar.schedule_names().contains(&schedule) {
            eprintln!(
                "ugyelet simulate: unknown schedule \"{schedule}\" (known: {})",
                l.calendar.schedule_names().join(", ")
            );
            return ExitCode::from(2);
        }
        for line in calendar::sweep(&l.calendar, schedule, from_d, to_d) {
            println!("{line}");
        }
        return ExitCode::SUCCESS;
    }
    let civil_start = match at.as_deref() {
        None => jiff::Timestamp::now().to_zoned_datetime(calendar::tz()),
        Some(s) => match overrides::parse_until(s) {
            Ok(ts) => ts.to_zoned_datetime(calendar::tz()),
            Err(e) => {
                eprintln!("ugyelet simulate: --at: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let caller = if from == "anonymous" {
        None
    } else {
        ugyelet::phone::normalize(from)
    };
    let manual = overrides::load(&cfg.state.dir).unwrap_or_default();
    let env = CallEnv {
        caller,
        civil_start,
        schedules: Arc::new(live::CalendarSchedules {
            calendar: Arc::clone(&l.calendar),
            manual,
        }),
    };
    let keys: Vec<char> = keys.chars().filter(|c| !matches!(c, ',' | ' ')).collect();
    let prompts = Arc::clone(&l.prompts);
    let text_of = move |id: &str| prompts.get(id).map(|p| p.text.clone());
    for line in simulate::run(
        Arc::clone(&l.plan),
        simulate::Script { env, keys },
        &text_of,
        std::time::Instant::now(),
    ) {
        println!("{line}");
    }
    ExitCode::SUCCESS
}

/// `2026-12` or `2026-12-20..2027-01-05`.
fn parse_range(s: &str) -> Option<(jiff::civil::Date, jiff::civil::Date)> {
    if let Some((a, b)) = s.split_once("..") {
        return Some((a.trim().parse().ok()?, b.trim().parse().ok()?));
    }
    let first: jiff::civil::Date = format!("{s}-01").parse().ok()?;
    Some((first, first.last_of_month()))
}

fn cdr_export(
    cfg: &Config,
    today: jiff::civil::Date,
    since: &str,
    until: Option<&str>,
) -> ExitCode {
    let day = |s: &str| -> Result<jiff::Timestamp, String> {
        let d: jiff::civil::Date = s
            .parse()
            .map_err(|_| format!("expected a date YYYY-MM-DD, found \"{s}\""))?;
        d.to_zoned_datetime(calendar::tz())
            .map(|z| z.timestamp())
            .map_err(|e| e.to_string())
    };
    let range = day(since).and_then(|from| {
        let to = match until {
            Some(u) => day(u)?,
            None => day(&today.tomorrow().map_err(|e| e.to_string())?.to_string())?,
        };
        Ok((from, to))
    });
    let (from, to) = match range {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ugyelet cdr export: {e}");
            return ExitCode::from(2);
        }
    };
    let result = ugyelet::cdr::Records::open(&cfg.state.dir)
        .and_then(|r| r.export_csv(from, to, &mut std::io::stdout().lock()));
    match result {
        Ok(n) => {
            eprintln!("{n} call(s)");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ugyelet cdr export: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `ugyelet passwd`: read the password, compute both HA1s, edit the file in place.
fn passwd(
    cfg: &Config,
    name: &str,
    location: Option<&str>,
    display: Option<&str>,
    file: Option<PathBuf>,
) -> ExitCode {
    use ugyelet::driver::operators_file;
    use ugyelet::operators::{self, Update, Upserted};
    use ugyelet::sip::auth::Credentials;

    let path = file.unwrap_or_else(|| cfg.sip.operators.clone());
    if !operators::valid_name(name) {
        eprintln!(
            "ugyelet passwd: expected a user name of a-z, 0-9, '.', '_' and '-', found {name:?}"
        );
        return ExitCode::from(2);
    }
    let location = location.and_then(operators::parse_location);
    let text = match operators_file::read_or_empty(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ugyelet passwd: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    };
    let password = match read_password(name) {
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
        display,
        location,
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
    ExitCode::SUCCESS
}

/// The password: `UGYELET_PASSWORD`, else asked twice without echo on a terminal, else the
/// first line of standard input.
fn read_password(name: &str) -> Result<String, String> {
    use std::io::{BufRead, IsTerminal};

    let pw = if let Ok(pw) = std::env::var("UGYELET_PASSWORD") {
        pw
    } else if std::io::stdin().is_terminal() {
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
    Ok(pw)
}

fn init_logging(cfg: &Config) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cfg.log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match cfg.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
