//! `ugyelet check`: load everything `run` would load and report every problem.
//!
//! The systemd unit runs it before each start (`ExecStartPre`), so it must refuse exactly
//! what the daemon would refuse: it uses the same loader, [`live::load`] (which reads the
//! knowledge base too). Diagnostics go to standard error as `file:line:col: message`; the
//! one-line summary of a good installation goes to standard output.

use std::path::Path;
use std::process::ExitCode;

use ugyelet::config::Config;
use ugyelet::driver::{live, preflight};

/// Checks the configuration's prompts, dial plan (or `plan` instead), calendar, forms and
/// knowledge base. Warnings alone exit 0.
pub fn check(cfg: &Config, plan: Option<&Path>) -> ExitCode {
    // `live::load` is what `run` and a reload do: prompts, catalog, calendar, plan and the
    // knowledge base (articles checked against the catalog), every error at once.
    let live = live::load(cfg, plan, super::today(), 1);
    let pre = preflight::check(cfg, live.as_ref().ok().map(|l| l.plan.as_ref()));
    match live {
        Ok(l) if pre.errors.is_empty() => {
            for w in l.warnings.iter().chain(&pre.warnings) {
                eprintln!("{w}");
            }
            println!(
                "ok: {} ({} nodes), {} prompts, {} forms, {} articles, schedules: {}, {} warning(s)",
                l.plan.source,
                l.plan.nodes.len(),
                l.prompts.len(),
                l.catalog.forms().len(),
                l.knowledge.len(),
                l.calendar.schedule_names().join(", "),
                l.warnings.len() + pre.warnings.len()
            );
            ExitCode::SUCCESS
        }
        live => {
            let mut errors = live.err().unwrap_or_default();
            errors.extend(pre.errors);
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("{} error(s)", errors.len());
            ExitCode::FAILURE
        }
    }
}
