//! Call records from real calls: one row per call with the caller's normalised number, the
//! menu path and the right outcome (completed, closed, abandoned in the menu, cancelled),
//! exported with `ugyelet cdr export` after a graceful stop.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::Duration;

/// A copy of the shipped plan where key 3 says goodbye at once (keeps the test short).
fn short_plan(dir: &Path) -> std::path::PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("dialplans");
    let text = std::fs::read_to_string(src.join("main.toml")).expect("plan");
    let edited = text.replacen("\"3\" = \"office_hours\"", "\"3\" = \"goodbye\"", 1);
    assert_ne!(edited, text);
    std::fs::write(dir.join("main.toml"), edited).expect("write plan");
    std::fs::create_dir_all(dir.join("calendar")).expect("dir");
    for e in std::fs::read_dir(src.join("calendar")).expect("calendar") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "toml") {
            std::fs::copy(&p, dir.join("calendar").join(p.file_name().expect("name")))
                .expect("copy");
        }
    }
    dir.join("main.toml")
}

fn ugyelet(state: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ugyelet"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("UGYELET_STATE__DIR", state)
        .output()
        .expect("run ugyelet")
}

#[test]
fn each_outcome_of_real_calls_is_recorded_and_exported() {
    let dir = scratch_dir("records");
    let plan = short_plan(&dir);
    let state = dir.join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    std::fs::write(state.join("override.toml"), "mode = \"open\"\n").expect("override");
    let mut daemon = Daemon::start(&[
        ("UGYELET_STATE__DIR", state.to_str().expect("utf-8")),
        ("UGYELET_DIALPLAN__PATH", plan.to_str().expect("utf-8")),
        // Long enough to cancel in.
        ("UGYELET_CALL__ANSWER_DELAY_MS", "2500"),
    ]);
    let welcome_ms = (load_prompt("welcome").len() * 1000 / RATE) as u64 + 1000;

    let addr = daemon.addr();
    let runs: Vec<thread::JoinHandle<SippResult>> = [
        ("caller_cancels_before_answer.xml", None),
        ("caller_hangs_up_with_bye.xml", None),
        (
            "caller_hears_menu_presses_3_and_daemon_hangs_up.xml",
            Some(welcome_ms),
        ),
    ]
    .into_iter()
    .map(|(name, d)| {
        let addr = addr.clone();
        thread::spawn(move || {
            let d = d.map(|d| d.to_string());
            let mut args: Vec<&str> = vec!["-timeout", "40s"];
            if let Some(d) = &d {
                args.extend(["-d", d.as_str()]);
            }
            args.push(&addr);
            sipp(&scenario(name), &args)
        })
    })
    .collect();
    for r in runs {
        r.join().expect("sipp thread").assert_success();
    }

    // Closed by hand: a caller who hears that the line is closed, then hangs up.
    let out = ugyelet(&state, &["override", "closed"]);
    assert!(out.status.success());
    thread::sleep(Duration::from_millis(800));
    let stay = (welcome_ms + 1500).to_string();
    sipp(
        &scenario("caller_stays_on_the_line_then_hangs_up.xml"),
        &["-d", &stay, "-timeout", "30s", &addr],
    )
    .assert_success();

    // A graceful stop flushes the records.
    daemon.terminate();
    assert_eq!(daemon.wait_exit(Duration::from_secs(15)), Some(0));

    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date();
    let since = today.yesterday().expect("a day before").to_string();
    let out = ugyelet(&state, &["cdr", "export", "--since", &since]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8(out.stdout).expect("utf-8");
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 4, "{csv}");
    let mut outcomes: Vec<&str> = rows.iter().map(|r| r[5]).collect();
    outcomes.sort_unstable();
    assert_eq!(
        outcomes,
        ["abandoned_menu", "cancelled", "closed", "completed"],
        "{csv}"
    );
    for r in &rows {
        assert_eq!(r[3], "+36301234567", "caller normalised to E.164: {csv}");
    }
    let completed = rows
        .iter()
        .find(|r| r[5] == "completed")
        .expect("completed row");
    assert_eq!(completed[6], "welcome>check_open>main_menu>goodbye>hang_up");
    assert!(!completed[1].is_empty(), "answer time recorded");
    let cancelled = rows
        .iter()
        .find(|r| r[5] == "cancelled")
        .expect("cancelled row");
    assert!(
        cancelled[1].is_empty(),
        "a cancelled call was never answered"
    );
}
