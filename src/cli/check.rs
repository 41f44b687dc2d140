//! `ugyelet check`: load everything `run` would load and report every problem.
//!
//! The systemd unit runs it before each start (`ExecStartPre`), so it must refuse exactly
//! what the daemon would refuse: it uses the same loaders, [`live::load`] and
//! [`knowledge::load`]. Diagnostics go to standard error as `file:line:col: message`; the
//! one-line summary of a good installation goes to standard output.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;

use ugyelet::config::Config;
use ugyelet::driver::{knowledge, live};
use ugyelet::notify::catalog::Catalog;

/// Checks the configuration's prompts, dial plan (or `plan` instead), calendar, forms and
/// knowledge base. Warnings alone exit 0.
pub fn check(cfg: &Config, plan: Option<&Path>) -> ExitCode {
    let live = live::load(cfg, plan, super::today(), 1);
    // Articles are checked against the catalog the plan was checked against; when the plan
    // failed, against the catalog alone, so one run still reports both. A catalog that
    // does not load has reported its own errors: the articles' form names are then not
    // checked, rather than all reported as unknown.
    let forms: Option<BTreeSet<String>> = match &live {
        Ok(l) => Some(knowledge::known_forms(&l.catalog)),
        Err(_) if !cfg.forms.catalog.exists() => Some(BTreeSet::new()),
        Err(_) => Catalog::load(&cfg.forms.catalog)
            .ok()
            .map(|c| knowledge::known_forms(&c)),
    };
    let kb = forms.map(|forms| knowledge::load(&cfg.knowledge, &forms));
    match (live, kb) {
        (Ok(l), Some(Ok((kb, kb_warnings)))) => {
            for w in l.warnings.iter().chain(&kb_warnings) {
                eprintln!("{w}");
            }
            println!(
                "ok: {} ({} nodes), {} prompts, {} forms, {} articles, schedules: {}, {} warning(s)",
                l.plan.source,
                l.plan.nodes.len(),
                l.prompts.len(),
                l.catalog.forms().len(),
                kb.len(),
                l.calendar.schedule_names().join(", "),
                l.warnings.len() + kb_warnings.len()
            );
            ExitCode::SUCCESS
        }
        (live, kb) => {
            let mut errors = live.err().unwrap_or_default();
            if let Some(Err(kb_errors)) = kb {
                errors.extend(kb_errors);
            }
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("{} error(s)", errors.len());
            ExitCode::FAILURE
        }
    }
}
