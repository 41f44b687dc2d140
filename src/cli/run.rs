//! `ugyelet run`: the daemon, until SIGINT or SIGTERM.
//!
//! Sets up logging from `[log]` (a `RUST_LOG` filter wins, for debugging one module), starts
//! the multi-threaded tokio runtime and hands over to [`ugyelet::driver::run`] with a future
//! that completes on the first shutdown signal. SIGHUP is the driver's: it reloads the plan.

use std::process::ExitCode;

use tracing_subscriber::EnvFilter;
use ugyelet::config::{Config, LogFormat};

/// Runs the daemon; returns once it has shut down.
pub fn daemon(cfg: Config, source: &str) -> ExitCode {
    init_logging(&cfg);
    tracing::info!("{source}");
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
            // Once: in the log (standard error, the journal), or on standard error when
            // the log level hides errors.
            if tracing::enabled!(tracing::Level::ERROR) {
                tracing::error!("{e}");
            } else {
                eprintln!("ugyelet: {e}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Logs go to standard error (the journal under systemd), as text or JSON lines; colours
/// only on a terminal.
fn init_logging(cfg: &Config) {
    // `validate` refused a level `log_filter` cannot read, so the fallback is never used.
    let level = ugyelet::config::log_filter(&cfg.log.level).unwrap_or_else(|_| "info".to_owned());
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&level))
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

/// Completes on SIGINT or SIGTERM. If the SIGTERM handler cannot be installed, SIGINT alone
/// still stops the daemon.
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
