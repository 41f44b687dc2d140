//! The Debian package, built and checked the way `packaging/README.md` says, as part of
//! `cargo test`: `packaging/build-deb.sh` once (a release build and `cargo deb`), then
//! `packaging/test-deb.sh` (contents, metadata, conffiles, the unit against
//! `systemd-analyze verify`, the packaged configuration passing `check`) and
//! `packaging/test-systemd.sh` (installed into a throwaway system booted by a real systemd:
//! started by dpkg, a call answered, watchdog, sandbox, reload, TLS peers trusted through
//! the system CA store, stop, purge, and this machine unchanged afterwards). The scripts
//! are the tests; this file runs them and shows their output when one fails.
//!
//! Needs root (namespaces, dpkg inside the test system) and the packages `.ci/run`
//! installs; fails, rather than skips, without them. The test system has a network of its
//! own, so nothing here competes for ports with the other tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Runs `script` with `args` from the repository; its output, or a panic with it.
fn run(script: &str, args: &[&str]) -> String {
    let started = Instant::now();
    let out = Command::new("bash")
        .arg(Path::new(ROOT).join(script))
        .args(args)
        .current_dir(ROOT)
        .output()
        .unwrap_or_else(|e| panic!("run {script}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} {args:?} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    eprintln!("{script}: {:.0?}", started.elapsed());
    stdout
}

/// The package, built once for both tests.
fn package() -> &'static Path {
    static DEB: OnceLock<PathBuf> = OnceLock::new();
    DEB.get_or_init(|| {
        let uid = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        assert_eq!(
            uid, "0",
            "the package tests need root (namespaces, dpkg in the test system), as CI runs"
        );
        let out = run("packaging/build-deb.sh", &[]);
        let deb = PathBuf::from(out.lines().last().unwrap_or_default().trim());
        assert!(
            deb.extension().is_some_and(|e| e == "deb") && deb.is_file(),
            "build-deb.sh printed no package path: {out}"
        );
        deb
    })
}

#[test]
fn the_package_holds_every_file_at_its_documented_place_and_the_unit_verifies() {
    let deb = package().display().to_string();
    let out = run("packaging/test-deb.sh", &["--deb", &deb]);
    assert!(out.lines().any(|l| l == "test-deb: ok"), "{out}");
}

#[test]
fn the_package_runs_under_a_real_systemd_and_leaves_this_machine_as_it_was() {
    let deb = package().display().to_string();
    let out = run("packaging/test-systemd.sh", &["--deb", &deb]);
    for step in [
        "installed and started by dpkg: active (READY=1)",
        "the office's CA: added with update-ca-certificates",
        "stop: drained and exited 0",
        "this machine: kernel settings, binfmt_misc, /dev, cgroups and modules as before, no process left",
    ] {
        assert!(out.contains(step), "no {step:?} in:\n{out}");
    }
    assert!(out.lines().any(|l| l == "test-systemd: ok"), "{out}");
}
