//! Editing the dial plan under a running daemon: live calls keep the plan they started
//! with, new calls get the new one, and a broken edit is refused while the last good plan
//! keeps serving. Judged on the audio baresip callers receive.

mod common;

use common::*;
use std::fs;
use std::path::Path;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

/// Copies the shipped plan and its calendar into `dir`, so the test can edit them.
fn copy_dialplans(dir: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("dialplans");
    fs::copy(src.join("main.toml"), dir.join("main.toml")).expect("copy plan");
    fs::create_dir_all(dir.join("calendar")).expect("calendar dir");
    for entry in fs::read_dir(src.join("calendar")).expect("calendar exists") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            fs::copy(
                &path,
                dir.join("calendar").join(path.file_name().expect("file")),
            )
            .expect("copy");
        }
    }
}

/// Rewrites the plan file in one step (write a temporary file, rename it over the plan),
/// as editors do.
fn replace_plan(plan: &Path, text: &str) {
    let tmp = plan.with_extension("toml.new");
    fs::write(&tmp, text).expect("write new plan");
    fs::rename(&tmp, plan).expect("replace plan");
}

/// Calls, waits for the welcome and returns the phone and where the welcome ended.
fn call_until_after_welcome(daemon: &Daemon) -> (Baresip, usize) {
    let phone = Baresip::caller();
    phone.dial(&daemon.uri());
    phone.wait_event("CALL_ESTABLISHED", 10 * SECOND);
    let (at, _, _) = wait_for_prompt(&phone, "welcome", 0, 0, 20 * SECOND);
    (phone, at + load_prompt("welcome").len())
}

#[test]
fn live_call_keeps_its_plan_new_call_gets_the_edit_and_a_broken_edit_is_refused() {
    let dir = scratch_dir("plan");
    copy_dialplans(&dir);
    let plan = dir.join("main.toml");
    let original = fs::read_to_string(&plan).expect("plan");
    let daemon = Daemon::start(&[("UGYELET_DIALPLAN__PATH", plan.to_str().expect("utf-8 path"))]);

    // First call: in the main menu of the original plan.
    let (first, welcome_end) = call_until_after_welcome(&daemon);
    wait_for_prompt(&first, "main_menu", welcome_end, 0, 20 * SECOND);

    // The admin replaces the main menu's prompt.
    let edited = original.replacen("prompts = [\"main_menu\"]", "prompts = [\"forms_menu\"]", 1);
    assert_ne!(edited, original, "the edit must change the plan");
    replace_plan(&plan, &edited);
    daemon
        .wait_for_line(10 * SECOND, |l| l.contains("dial plan reloaded"))
        .expect("the edit is loaded");

    // The live call repeats its menu: still the old one.
    let key_at = first.received_wav().len();
    first.send_dtmf('*');
    let (_, ncc, _) = wait_for_prompt(&first, "main_menu", key_at, 0, 25 * SECOND);
    assert!(ncc > HEARD);
    first.hangup();

    // A new call hears the new menu.
    let (second, welcome_end) = call_until_after_welcome(&daemon);
    wait_for_prompt(&second, "forms_menu", welcome_end, 0, 20 * SECOND);
    second.hangup();

    // A broken edit: refused, with its place in the file, and the last good plan serves.
    replace_plan(
        &plan,
        &edited.replacen(
            "prompts = [\"forms_menu\"]",
            "prompts = [\"forms_menuu\"]",
            1,
        ),
    );
    let refused = daemon
        .wait_for_line(10 * SECOND, |l| l.contains("reload refused"))
        .expect("the broken edit is refused");
    assert!(
        refused.contains("main.toml:") && refused.contains("unknown prompt \"forms_menuu\""),
        "{refused}"
    );
    let (third, welcome_end) = call_until_after_welcome(&daemon);
    wait_for_prompt(&third, "forms_menu", welcome_end, 0, 20 * SECOND);
    third.hangup();
}
