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
//!
//! Every command but `passwd` creates its files private ([`private_files`]): at most 0640,
//! whatever the umask it was started with. `passwd` keeps an existing operators file's
//! permissions (see `driver::operators_file`) and leaves a new one to the admin's umask,
//! since the daemon may run as another user who must read it.

pub mod cdr;
pub mod check;
pub mod overrides;
pub mod passwd;
pub mod run;
pub mod simulate;

/// The permission bits no file or directory the commands create may have: write for the
/// group, anything for others. The state directory holds callers' numbers, their voice
/// messages, call records and the secrets that sign form links; the packaged unit sets
/// `UMask=0027` for the same reason, but a daemon (or `ugyelet override`) started by hand
/// inherits whatever umask the shell had, 0022 or even 0000.
pub const PRIVATE_UMASK: u32 = 0o027;

/// Adds [`PRIVATE_UMASK`] to the process's umask (a stricter one is kept), so every file
/// made from here on, by this code or by SQLite, is at most 0640 and every directory 0750.
/// Called first thing in `main`, before any thread exists: the umask is process-wide.
pub fn private_files() {
    let mask = PRIVATE_UMASK as libc::mode_t;
    // SAFETY: umask(2) cannot fail and touches nothing but the process's file mode
    // creation mask; no other thread runs yet that could create a file in between.
    unsafe {
        let old = libc::umask(mask);
        libc::umask(old | mask);
    }
}

/// Today's date in Budapest, which is the line's calendar whatever the host's time zone.
fn today() -> jiff::civil::Date {
    ugyelet::clock::civil_now().date()
}
