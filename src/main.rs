//! The `ugyelet` command: parses the command line, loads the configuration and hands the
//! subcommand to its module in [`cli`].
//!
//! The whole command line (every subcommand and flag, with the doc comments `--help` prints)
//! is declared here; what each command does lives in `cli/`, one file per command.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ugyelet::config::Config;

/// SIP/RTP daemon of the "Segít a hivatal" after-hours help line: answers calls, speaks
/// Hungarian voice menus and follows the dial plan.
#[derive(Parser)]
#[command(name = "ugyelet", version, about)]
struct Cli {
    /// Configuration file (TOML). Without it: config/ugyelet.toml in the working directory
    /// if there is one, else /etc/ugyelet/ugyelet.toml if there is one, else the built-in
    /// defaults. UGYELET_* environment variables win over the file.
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
    Simulate(cli::simulate::Options),
    /// Call records.
    Cdr {
        #[command(subcommand)]
        command: CdrCommand,
    },
    /// Add an operator account or set its password in the operators file. Only the HA1
    /// digests (MD5 and SHA-256 of name:realm:password, realm from [sip] realm) are written;
    /// the password is neither stored nor printed. The password comes from standard input
    /// with --password-stdin (its first line), else from the environment variable
    /// UGYELET_PASSWORD if set (for scripts), else from standard input: asked twice without
    /// echo on a terminal, or the first line of piped input.
    Passwd(cli::passwd::Options),
    /// Open or close the line by hand, or return it to the calendar ("auto"). Sent to the
    /// daemon answering on [admin] listen (it stores it in its state directory, so it
    /// survives restarts); with no daemon answering, written into the configured state
    /// directory if it exists, else refused.
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

/// Where the configuration is read from when `--config` is not given: the repository's
/// (or a copy's) `config/ugyelet.toml`, then the packaged `/etc/ugyelet/ugyelet.toml`.
const DEFAULT_FILES: [&str; 2] = ["config/ugyelet.toml", "/etc/ugyelet/ugyelet.toml"];

fn main() -> ExitCode {
    let args = Cli::parse();
    if !matches!(args.command, Command::Passwd(_)) {
        cli::private_files();
    }
    let file = args.config.clone().or_else(|| {
        DEFAULT_FILES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
    });
    // Every command says which file it read, so an edit that seems ignored is explained:
    // `run` in its log (JSON lines stay JSON), the others on standard error.
    let source = match &file {
        Some(f) => format!("configuration from {}", f.display()),
        None => format!(
            "no configuration file ({} not found): built-in defaults and UGYELET_* variables",
            DEFAULT_FILES.join(", ")
        ),
    };
    if !matches!(args.command, Command::Run) {
        eprintln!("ugyelet: {source}");
    }
    let cfg = match Config::load(file.as_deref()) {
        Ok(cfg) => cfg,
        Err(e) => {
            if matches!(args.command, Command::Run) {
                eprintln!("ugyelet: {source}");
            }
            eprintln!("ugyelet: {e}");
            return ExitCode::from(2);
        }
    };
    match args.command {
        Command::Run => cli::run::daemon(cfg, &source),
        Command::Check { plan } => cli::check::check(&cfg, plan.as_deref()),
        Command::Simulate(opts) => cli::simulate::simulate(&cfg, opts),
        Command::Cdr {
            command: CdrCommand::Export { since, until },
        } => cli::cdr::export(&cfg, &since, until.as_deref()),
        Command::Passwd(opts) => cli::passwd::passwd(&cfg, opts),
        Command::Override {
            mode,
            until,
            reason,
        } => cli::overrides::set(&cfg, &mode, until.as_deref(), reason),
    }
}
