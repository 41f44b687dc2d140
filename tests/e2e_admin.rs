//! The admin's levers on a running daemon: the manual override (API and CLI, persisted
//! across restarts, heard by callers), and reloads through the admin API, refused with
//! located errors when the plan is broken.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);

fn status(d: &Daemon) -> String {
    let (code, body) = http(d.admin_port, "GET", "/api/status", None);
    assert_eq!(code, 200, "{body}");
    body
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn override_closed_through_the_api_is_heard_persists_and_the_cli_returns_to_auto() {
    // A state directory of the test's own: it must outlive the first daemon.
    let state = scratch_dir("admin-state");
    std::fs::write(state.join("override.toml"), "mode = \"open\"\n").expect("write override");
    let state_env = [("UGYELET_STATE__DIR", state.to_str().expect("utf-8"))];
    let daemon = Daemon::start(&state_env);
    assert!(
        status(&daemon).contains(r#""mode":"open""#),
        "the line starts opened by hand"
    );

    let (code, body) = http(
        daemon.admin_port,
        "PUT",
        "/api/override",
        Some(r#"{"mode":"closed","until":"2099-12-31 23:00","reason":"áramszünet"}"#),
    );
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains(r#""mode":"closed""#) && body.contains("2099-12-31 23:00"),
        "{body}"
    );
    // An end that has passed would change nothing: refused, with the time it is now.
    let (code, body) = http(
        daemon.admin_port,
        "PUT",
        "/api/override",
        Some(r#"{"mode":"open","until":"2020-03-15 08:00"}"#),
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("until: 2020-03-15 08:00 is in the past: it is now ")
            && body.contains(" in Europe/Budapest; expected a later time"),
        "{body}"
    );
    assert!(status(&daemon).contains(r#""mode":"closed""#), "unchanged");
    let (code, body) = http(
        daemon.admin_port,
        "PUT",
        "/api/override",
        Some(r#"{"mode":"shut"}"#),
    );
    assert_eq!(code, 400);
    assert!(
        body.contains("expected open, closed or auto, found \\\"shut\\\""),
        "{body}"
    );

    // A caller now hears that the line is closed.
    let phone = Baresip::caller();
    phone.dial(&daemon.uri());
    phone.wait_event("CALL_ESTABLISHED", 10 * SECOND);
    let (at, _, _) = wait_for_prompt(&phone, "welcome", 0, 0, 20 * SECOND);
    wait_for_prompt(&phone, "line_closed_short", at, 0, 20 * SECOND);
    phone.hangup();

    // The override is in the state directory: a restarted daemon keeps it.
    drop(daemon);
    let again = Daemon::start(&state_env);
    assert!(
        status(&again).contains(r#""mode":"closed""#),
        "override survives a restart"
    );

    // The CLI writes the same file; the running daemon notices.
    let out = Command::new(env!("CARGO_BIN_EXE_ugyelet"))
        .args(["override", "auto"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("UGYELET_STATE__DIR", &state)
        .output()
        .expect("run ugyelet override");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until("the daemon to drop the override", 10 * SECOND, || {
        status(&again).contains(r#""mode":"auto""#)
    });
}

#[test]
fn reload_through_the_api_swaps_a_good_plan_and_refuses_a_broken_one_with_its_location() {
    let dir = scratch_dir("admin-plan");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("dialplans");
    std::fs::copy(src.join("main.toml"), dir.join("main.toml")).expect("copy plan");
    std::fs::create_dir_all(dir.join("calendar")).expect("dir");
    for e in std::fs::read_dir(src.join("calendar")).expect("calendar") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "toml") {
            std::fs::copy(&p, dir.join("calendar").join(p.file_name().expect("name")))
                .expect("copy");
        }
    }
    let plan = dir.join("main.toml");
    let daemon = Daemon::start(&[
        ("UGYELET_DIALPLAN__PATH", plan.to_str().expect("utf-8")),
        // Only explicit reloads in this test.
        ("UGYELET_DIALPLAN__WATCH_INTERVAL_MS", "0"),
    ]);
    assert!(status(&daemon).contains(r#""version":1"#));

    let (code, body) = http(daemon.admin_port, "POST", "/api/reload", None);
    assert_eq!((code, body.as_str()), (200, r#"{"version":2}"#));

    let text = std::fs::read_to_string(&plan).expect("plan");
    std::fs::write(
        &plan,
        text.replacen("schedule = \"staffed\"", "schedule = \"stafed\"", 1),
    )
    .expect("write");
    let (code, body) = http(daemon.admin_port, "POST", "/api/reload", None);
    assert_eq!(code, 422, "{body}");
    assert!(
        body.contains("main.toml:")
            && body.contains("unknown schedule \\\"stafed\\\" (known: staffed)"),
        "{body}"
    );
    let st = status(&daemon);
    assert!(
        st.contains(r#""version":2"#),
        "the last good plan keeps serving: {st}"
    );
    assert!(
        st.contains("unknown schedule"),
        "status shows the refused reload: {st}"
    );
}

#[test]
fn override_typed_in_another_directory_reaches_the_running_daemon_or_refuses_loudly() {
    let daemon = Daemon::start(&[]);
    let elsewhere = scratch_dir("override-elsewhere");
    let cli = |admin_listen: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ugyelet"))
            .args(args)
            .current_dir(&elsewhere)
            .env("UGYELET_ADMIN__LISTEN", admin_listen)
            .output()
            .expect("run ugyelet override")
    };
    // The daemon answers on its admin address: the override is its own at once.
    let out = cli(
        &format!("127.0.0.1:{}", daemon.admin_port),
        &["override", "closed", "--reason", "áramszünet"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("applied by the daemon answering on"),
        "{stdout}"
    );
    let s = status(&daemon);
    assert!(
        s.contains(r#""mode":"closed""#) && s.contains("áramszünet"),
        "{s}"
    );
    assert!(
        !elsewhere.join("state").exists(),
        "nothing written where it was typed"
    );

    // Nobody answers and ./state is no daemon's: refused, nothing written.
    let nobody = format!("127.0.0.1:{}", free_ports(1));
    let out = cli(&nobody, &["override", "open"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "must fail: {stderr}");
    assert!(
        stderr.contains(&format!("no daemon answers on {nobody}"))
            && stderr.contains("does not exist, so no daemon uses it: nothing was changed"),
        "{stderr}"
    );
    assert!(
        !elsewhere.join("state").exists(),
        "no stray state directory"
    );
}
