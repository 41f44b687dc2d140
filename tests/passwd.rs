//! `ugyelet passwd` as an admin runs it: the real binary edits a copy of the shipped
//! operators file, and what it wrote is checked against the HA1 definition and read back by
//! the loader the daemon uses.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ugyelet::operators::{Operators, Role};
use ugyelet::sip::auth::{CredentialStore, Credentials};

fn scratch(what: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("passwd")
        .join(format!("{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Runs `ugyelet --config <dir>/ugyelet.toml passwd <args>`; the password comes from
/// `UGYELET_PASSWORD` when `env_pw` is set, else from piped standard input.
fn passwd(dir: &Path, args: &[&str], env_pw: Option<&str>, stdin: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ugyelet"));
    cmd.arg("--config")
        .arg(dir.join("ugyelet.toml"))
        .arg("passwd")
        .args(args)
        .arg("--file")
        .arg(dir.join("operators.toml"))
        .env_remove("UGYELET_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(pw) = env_pw {
        cmd.env("UGYELET_PASSWORD", pw);
    }
    let mut child = cmd.spawn().expect("ugyelet runs");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(stdin.as_bytes())
        .expect("stdin");
    child.wait_with_output().expect("ugyelet exits")
}

#[test]
fn passwd_writes_ha1s_of_the_configured_realm_and_keeps_the_file_loadable() {
    let dir = scratch("add-update");
    std::fs::write(dir.join("ugyelet.toml"), "[sip]\nrealm = \"budaors\"\n").expect("config");
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/operators.toml"),
    )
    .expect("shipped operators file");
    std::fs::write(dir.join("operators.toml"), &shipped).expect("copy");

    let out = passwd(
        &dir,
        &["anna", "--location", "remote", "--display", "Kovács Anna"],
        Some("Titkos-jelszó-1"),
        "",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("operator anna added"), "{stdout}");
    assert!(!stdout.contains("Titkos") && !stderr.contains("Titkos"));

    // A second account from piped standard input, then a new password for the first.
    let out = passwd(&dir, &["bela"], None, "masik jelszo\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = passwd(&dir, &["anna"], Some("Uj-jelszo-2026"), "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("operator anna updated"));

    let path = dir.join("operators.toml");
    let text = std::fs::read_to_string(&path).expect("written");
    assert!(
        text.starts_with(&shipped),
        "comments kept at the top:\n{text}"
    );
    assert!(!text.contains("Titkos") && !text.contains("Uj-jelszo") && !text.contains("masik"));
    let ops = Operators::load(&path).expect("the daemon's loader accepts the file");
    assert_eq!(ops.len(), 2);
    assert_eq!(
        ops.credentials("anna"),
        Some(&Credentials::from_password(
            "anna",
            "budaors",
            "Uj-jelszo-2026"
        ))
    );
    assert_eq!(
        ops.credentials("bela"),
        Some(&Credentials::from_password(
            "bela",
            "budaors",
            "masik jelszo"
        ))
    );
    let anna = ops.get("anna").expect("anna");
    assert_eq!(anna.location, ugyelet::acd::Location::Remote);
    assert_eq!(anna.display.as_deref(), Some("Kovács Anna"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn passwd_refuses_a_bad_name_and_an_empty_password_without_touching_the_file() {
    let dir = scratch("refuse");
    std::fs::write(dir.join("ugyelet.toml"), "").expect("config");
    let out = passwd(&dir, &["Anna"], Some("hosszu-jelszo-1"), "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("found \"Anna\""));
    let out = passwd(&dir, &["anna"], None, "\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty"));
    assert!(!dir.join("operators.toml").exists());
    // A missing file is no error for the loader: zero operators.
    let ops = Operators::load(&dir.join("operators.toml")).expect("missing is empty");
    assert!(ops.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn passwd_role_admin_is_written_kept_on_a_password_reset_and_the_console_login_accepts_it() {
    let dir = scratch("role");
    std::fs::write(dir.join("ugyelet.toml"), "[sip]\nrealm = \"budaors\"\n").expect("config");
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/operators.toml"),
    )
    .expect("shipped operators file");
    std::fs::write(dir.join("operators.toml"), &shipped).expect("copy");

    let out = passwd(
        &dir,
        &["anna", "--role", "admin"],
        Some("Titkos-jelszó-1"),
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A password reset from standard input: --password-stdin wins over the environment.
    let out = passwd(
        &dir,
        &["anna", "--password-stdin"],
        Some("not this one"),
        "Uj-jelszo-2026\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = passwd(&dir, &["bela"], Some("bela-jelszava"), "");
    assert!(out.status.success());

    let path = dir.join("operators.toml");
    let text = std::fs::read_to_string(&path).expect("written");
    assert!(text.starts_with(&shipped), "comments kept:\n{text}");
    assert_eq!(text.matches("role = \"admin\"").count(), 1, "{text}");
    let ops = Operators::load(&path).expect("the daemon's loader accepts the file");
    let anna = ops
        .verify_password("anna", "budaors", "Uj-jelszo-2026")
        .expect("the new password logs in");
    assert_eq!(anna.role, Role::Admin, "the reset kept the role");
    assert!(
        ops.verify_password("anna", "budaors", "Titkos-jelszó-1")
            .is_none()
    );
    assert!(
        ops.verify_password("anna", "budaors", "not this one")
            .is_none()
    );
    assert_eq!(ops.get("bela").map(|o| o.role), Some(Role::Operator));

    // Back to operator, and an unknown role is refused by the command line.
    let out = passwd(
        &dir,
        &["anna", "--role", "operator"],
        Some("Uj-jelszo-2026"),
        "",
    );
    assert!(out.status.success());
    let ops = Operators::load(&path).expect("loads");
    assert_eq!(ops.get("anna").map(|o| o.role), Some(Role::Operator));
    let before = std::fs::read_to_string(&path).expect("file");
    let out = passwd(&dir, &["anna", "--role", "boss"], Some("x"), "");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("boss"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&path).expect("file"), before);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `ugyelet passwd` from a directory of its own, with the configuration named by `--config`
/// (`with_config`) or none at all (built-in defaults, realm "ugyelet").
fn passwd_elsewhere(dir: &Path, with_config: bool, pw: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ugyelet"));
    if with_config {
        cmd.arg("--config").arg(dir.join("ugyelet.toml"));
    }
    cmd.args(["passwd", "anna", "--file"])
        .arg(dir.join("operators.toml"))
        .current_dir(dir)
        .env("UGYELET_PASSWORD", pw)
        .output()
        .expect("ugyelet runs")
}

#[test]
fn passwd_refuses_a_password_shorter_than_twelve_characters_and_says_why() {
    for with_config in [true, false] {
        let dir = scratch(&format!("short-{with_config}"));
        std::fs::write(dir.join("ugyelet.toml"), "[sip]\nrealm = \"budaors\"\n").expect("config");
        let realm = if with_config { "budaors" } else { "ugyelet" };
        for short in ["x", "elfogy-6789"] {
            let out = passwd_elsewhere(&dir, with_config, short);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{stderr}");
            let n = short.chars().count();
            assert!(
                stderr.ends_with(&format!(
                    "ugyelet passwd: expected a password of at least 12 characters, found {n}: \
                     the account registers a SIP phone, where scanners try passwords online, \
                     and its HA1 digest can be brute-forced offline if the operators file \
                     leaks; nothing changed\n"
                )),
                "{stderr}"
            );
            assert!(!dir.join("operators.toml").exists(), "nothing written");
        }
        // Twelve characters, one of them outside ASCII: counted as characters, accepted.
        let out = passwd_elsewhere(&dir, with_config, "hosszú-jelsz");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ops = Operators::load(&dir.join("operators.toml")).expect("loads");
        assert!(ops.verify_password("anna", realm, "hosszú-jelsz").is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
