//! `ugyelet simulate`: walk the dial plan without a call and print what the caller would
//! hear and why, or with `--sweep`, whether the line is open on each day of a period.
//!
//! It loads the plan, prompts and calendar as the daemon does and honours the manual override
//! stored in the state directory, so its answer is the one a real call would get. The walk
//! itself is [`simulate::run`]; this file turns the flags into its inputs.

use std::path::PathBuf;
use std::process::ExitCode;
use ugyelet::config::Config;
use ugyelet::dialplan::calendar;
use ugyelet::driver::{live, overrides};

/// The flags of `ugyelet simulate`, as given.
#[derive(clap::Args)]
pub struct Options {
    /// Civil time in Budapest, e.g. "2026-12-24 16:30" (default: now).
    #[arg(long)]
    pub at: Option<String>,
    /// Caller's number (any common form), or "anonymous".
    #[arg(long, default_value = "+36301234567")]
    pub from: String,
    /// Keys the caller presses, in order: 0-9, * and #, optionally separated by commas or
    /// spaces, e.g. "1,2" or "2#".
    #[arg(long, default_value = "")]
    pub keys: String,
    /// Instead of a call: print for each day of a month (YYYY-MM) or a range
    /// (YYYY-MM-DD..YYYY-MM-DD) whether the line is open, closed or on a holiday.
    #[arg(long)]
    pub sweep: Option<String>,
    /// Schedule for --sweep.
    #[arg(long, default_value = "staffed")]
    pub schedule: String,
    /// Dial plan to simulate instead of the configured one.
    pub plan: Option<PathBuf>,
}

pub fn simulate(cfg: &Config, opts: Options) -> ExitCode {
    // The flags first: a wrong one is refused before the plan is even read (exit 2).
    let what = match opts.sweep.clone() {
        Some(range) => What::Sweep(range),
        None => match live::simulated_call(opts.at.as_deref(), &opts.from, &opts.keys) {
            Ok(c) => What::Call(c),
            Err((flag, e)) => {
                eprintln!("ugyelet simulate: --{flag}: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let l = match live::load(cfg, opts.plan.as_deref(), super::today(), 1) {
        Ok(l) => l,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            return ExitCode::FAILURE;
        }
    };
    match what {
        What::Sweep(range) => sweep(&l, &range, &opts.schedule),
        What::Call(c) => {
            let manual = overrides::load(&cfg.state.dir).unwrap_or_default();
            for line in live::transcript(cfg, &l, manual, c) {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
    }
}

/// What the command was asked for.
enum What {
    Sweep(String),
    Call(live::SimulatedCall),
}

/// One line per day: open, closed or a holiday, and why.
fn sweep(l: &live::Live, range: &str, schedule: &str) -> ExitCode {
    let Some((from_d, to_d)) = parse_range(range) else {
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
