//! The subcommands of the `ugyelet` binary, one file each.
//!
//! `main.rs` parses the command line and loads the configuration; the module of the command
//! does the rest and returns the exit code. This is the binary's edge: it prints, reads the
//! terminal, the environment and the clock, and starts the runtime, while the library does
//! the work. Every command uses the same exit codes:
//!
//! ```text
//! 0  done
//! 1  the work failed: a plan with errors, a file that cannot be read or written
//! 2  the command line (or the configuration) is wrong; nothing was done
//! ```

pub mod cdr;
pub mod check;
pub mod overrides;
pub mod passwd;
pub mod run;
pub mod simulate;

/// Today's date in Budapest, which is the line's calendar whatever the host's time zone.
fn today() -> jiff::civil::Date {
    ugyelet::clock::civil_now().date()
}
