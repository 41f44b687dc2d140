//! `ugyelet simulate` on the shipped dial plan and calendar, at moments that tell whether
//! the line knows Hungary: a Tuesday evening, a worked Saturday, Christmas Eve (a moved rest
//! day), Christmas Day, and a Monday after the morning window. The same transcripts are
//! shown in the README.

use std::path::Path;
use std::process::Command;

/// Runs the simulator with no manual override in force.
fn simulate(args: &[&str]) -> String {
    let state = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("simulate-state-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_ugyelet"))
        .arg("simulate")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("UGYELET_STATE__DIR", &state)
        .output()
        .expect("run ugyelet simulate");
    assert!(
        out.status.success(),
        "simulate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[test]
fn tuesday_evening_is_staffed_and_key_3_reads_the_office_hours() {
    let out = simulate(&["--at", "2026-12-01 17:00", "--keys", "3"]);
    let expected = "\
(simulated with this configuration: SMS gateway not configured, SMTP server not configured; no operator phones)
2026-12-01 17:00 (kedd), caller +36301234567
  play: \"Üdvözöljük! Ön Budaörs Város Polgármesteri Hivatalának Segít a hivatal ügyeleti vonalát hívta.\"
  check_open: staffed at 2026-12-01 17:00: open (kedd, 16:00–19:00 ablak) → main_menu
  play: \"Ügyintézővel szeretne beszélni, nyomja meg az egyes gombot. Nyomtatványt kér SMS-ben vagy e-mailben: kettes gomb. Ügyfélfogadási és ügyeleti idő: hármas gomb. A menü megismétléséhez nyomja meg a csillag gombot.\"
  caller presses 3
  main_menu: key 3 → office_hours
  play: \"Az ügyeleti vonal hétköznap reggel hét órától nyolc óráig hívható. Kedden, szerdán és csütörtökön délután tizenhat órától tizenkilenc óráig is hívhat minket. A személyes ügyfélfogadás rendjéről a hivatal honlapján tájékozódhat.\"
  play: \"Köszönjük a hívását. Viszonthallásra!\"
  hang up
path: welcome>check_open>main_menu>office_hours>goodbye>hang_up
";
    assert_eq!(out, expected);
}

#[test]
fn worked_saturday_follows_the_weekday_it_replaces() {
    let out = simulate(&["--at", "2026-12-12 07:30", "--keys", "3"]);
    assert!(
        out.contains("staffed at 2026-12-12 07:30: open (áthelyezett munkanap (2026-12-24 csütörtök helyett), 07:00–08:00 ablak) → main_menu"),
        "{out}"
    );
    let sunday = simulate(&["--at", "2026-12-13 07:30", "--keys", "3"]);
    assert!(sunday.contains("closed (vasárnap"), "{sunday}");
}

#[test]
fn christmas_eve_is_closed_and_the_next_opening_is_spoken() {
    let out = simulate(&["--at", "2026-12-24 16:30", "--keys", "2"]);
    assert!(
        out.contains("staffed at 2026-12-24 16:30: closed (áthelyezett pihenőnap) → closed_info"),
        "{out}"
    );
    assert!(
        out.contains("play: \"Az ügyeleti vonal most zárva van. A vonal legközelebb hétfőn reggel hét órakor nyit.\""),
        "{out}"
    );
    // Key 2 leaves a message, which the daemon keeps and mails to the office.
    assert!(out.contains("closed_menu: key 2 → leave_message"), "{out}");
    assert!(out.ends_with("path: welcome>check_open>closed_info>closed_menu>leave_message>record>message_saved>goodbye>hang_up\n"), "{out}");
}

#[test]
fn christmas_day_is_a_holiday() {
    let out = simulate(&["--at", "2026-12-25 10:00"]);
    assert!(
        out.contains("closed (Karácsony (munkaszüneti nap)) → closed_info"),
        "{out}"
    );
}

#[test]
fn monday_after_the_morning_window_opens_tomorrow_morning() {
    let out = simulate(&["--at", "2026-11-30 08:30"]);
    assert!(
        out.contains("A vonal legközelebb holnap reggel hét órakor nyit."),
        "{out}"
    );
}

#[test]
fn landline_caller_keys_a_mobile_number_which_is_read_back_in_groups() {
    let out = simulate(&[
        "--at",
        "2026-12-24 16:30",
        "--from",
        "06 23 444 555",
        "--keys",
        "1,4,1,06301234567#,1",
    ]);
    assert!(
        out.contains("sms_to_whom: caller +3623444555: Landline → landline_no_sms"),
        "{out}"
    );
    assert!(
        out.contains("play: \"Ezt a számot adta meg: nulla hat – harminc – száz huszon három – negyven öt – hatvan hét – Ha a szám helyes"),
        "{out}"
    );
    assert!(
        out.contains("Ha ügyintézővel beszélne, nyomja meg a kettes gombot."),
        "a landline caller is offered a person: {out}"
    );
    assert!(
        out.contains("ask_mobile: confirmed mobile = +36301234567"),
        "{out}"
    );
    assert!(
        out.contains("choose_form: key 4: form = epitesi → sms_to_whom"),
        "the fourth form of the catalog: {out}"
    );
    assert!(
        out.contains("send form epitesi by sms to +36301234567"),
        "{out}"
    );
}

#[test]
fn without_a_gateway_the_simulated_sms_fails_as_a_live_call_would_and_says_why() {
    let out = simulate(&["--at", "2026-12-08 20:30", "--keys", "1,1"]);
    assert!(
        out.starts_with("(simulated with this configuration: SMS gateway not configured"),
        "{out}"
    );
    assert!(
        out.contains(
            "send form tajekoztato by sms to +36301234567: not sent: no SMS gateway is configured (notify.sms.kind = \"none\")"
        ),
        "{out}"
    );
    assert!(out.contains("sms_to_caller: result: failed"), "{out}");
    assert!(
        out.contains("Sajnos az SMS küldése nem sikerült"),
        "the caller hears the failure, as on a live call: {out}"
    );
    assert!(
        !out.contains("elküldtük") && !out.contains("Some("),
        "{out}"
    );
}

#[test]
fn sweep_of_december_2026_shows_holidays_moved_days_and_worked_saturday() {
    let out = simulate(&["--sweep", "2026-12"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 31);
    assert_eq!(lines[0], "2026-12-01 kedd  nyitva 07:00–08:00, 16:00–19:00");
    assert_eq!(lines[4], "2026-12-05 szombat  zárva");
    assert!(
        lines[11].starts_with("2026-12-12 szombat  nyitva"),
        "{}",
        lines[11]
    );
    assert!(
        lines[23].starts_with("2026-12-24 csütörtök  zárva"),
        "{}",
        lines[23]
    );
    assert!(lines[24].contains("Karácsony"), "{}", lines[24]);
    assert!(lines[25].contains("Karácsony"), "{}", lines[25]);
}
