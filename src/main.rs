//! The `ugyelet` command: parses the command line, loads the configuration and hands over to
//! the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use ugyelet::config::{Config, LogFormat};

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
    /// Run the daemon until SIGINT or SIGTERM.
    Run,
    /// Validate the configuration, the prompts and a dial plan, and report every problem as
    /// file:line:col. Exit code 1 on errors; warnings alone exit 0.
    Check {
        /// Dial plan to check instead of the configured one.
        plan: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut cfg = match Config::load(cli.config.as_deref()) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("ugyelet: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Check { plan } => {
            if let Some(plan) = plan {
                cfg.dialplan.path = plan;
            }
            match ugyelet::driver::load_assets(&cfg) {
                Ok(ugyelet::driver::Assets {
                    prompts,
                    plan,
                    warnings,
                }) => {
                    for w in &warnings {
                        eprintln!("{w}");
                    }
                    println!(
                        "ok: {} ({} nodes), {} prompts, {} warning(s)",
                        plan.source,
                        plan.nodes.len(),
                        prompts.len(),
                        warnings.len()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
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
