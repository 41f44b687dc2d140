//! The files the daemon keeps hold callers' numbers, call records, voice messages and the
//! secrets that sign form links. Started by hand from a shell whose umask is 000, it must
//! still create every one of them private (at most 0640, directories 0750), as must
//! `ugyelet override` writing into the state directory with no daemon running.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Every file and directory under `dir` (not `dir` itself), with its permission bits.
fn modes_under(dir: &Path) -> Vec<(PathBuf, u32)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read state dir") {
            let p = e.expect("entry").path();
            let meta = std::fs::symlink_metadata(&p).expect("metadata");
            if meta.is_dir() {
                todo.push(p.clone());
            }
            out.push((p, meta.permissions().mode() & 0o777));
        }
    }
    out.sort();
    out
}

/// Those of `modes` that the group may write or others may touch at all.
fn too_open(modes: &[(PathBuf, u32)]) -> Vec<String> {
    modes
        .iter()
        .filter(|(_, m)| m & 0o027 != 0)
        .map(|(p, m)| format!("{} {m:04o}", p.display()))
        .collect()
}

#[test]
fn a_daemon_started_with_umask_000_creates_its_state_files_private() {
    let root = scratch_dir("state-files");
    // Not there yet: the daemon makes it, so its mode is the daemon's too.
    let state = root.join("state");
    let daemon = Daemon::start_with_umask(
        Some("000"),
        &[("UGYELET_STATE__DIR", state.to_str().expect("utf-8"))],
    );
    let (code, body) = http(
        daemon.admin_port,
        "PUT",
        "/api/override",
        Some(r#"{"mode":"open","reason":"próba"}"#),
    );
    assert_eq!(code, 200, "{body}");
    let expected = [
        "ugyelet.db",
        "outbox.db",
        "pseudonym.salt",
        "link.secret",
        "override.toml",
    ];
    let deadline = Instant::now() + Duration::from_secs(5);
    while !expected.iter().all(|f| state.join(f).exists()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let modes = modes_under(&state);
    for f in expected {
        assert!(
            modes.iter().any(|(p, _)| p.ends_with(f)),
            "{f} in the state directory: {modes:?}"
        );
    }
    let dir_mode = std::fs::metadata(&state)
        .expect("state dir")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode & 0o027, 0, "state dir {dir_mode:04o}");
    assert_eq!(too_open(&modes), Vec::<String>::new(), "all: {modes:?}");
}

#[test]
fn ugyelet_override_with_umask_000_writes_a_private_file() {
    let state = scratch_dir("override-file");
    let out = Command::new("sh")
        .args(["-c", "umask 000 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_ugyelet"))
        .args(["override", "closed", "--reason", "áramszünet"])
        .current_dir(&state)
        // Nothing answers there: the file is written.
        .env("UGYELET_ADMIN__LISTEN", "127.0.0.1:9")
        .env("UGYELET_STATE__DIR", &state)
        .output()
        .expect("run ugyelet override");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let modes = modes_under(&state);
    assert!(
        modes.iter().any(|(p, _)| p.ends_with("override.toml")),
        "{modes:?}"
    );
    assert_eq!(too_open(&modes), Vec::<String>::new());
}
