//! The README's softphone recipes, run as written, so they cannot quietly stop working.
//!
//! The account lines, the number dialled and the `ugyelet passwd` command are read out of
//! README.md itself. Two things change on the way, and only these: the daemon under test
//! listens on a port of its own, so `@127.0.0.1` becomes `@127.0.0.1:<port>` in the account
//! and the address dialled (the README relies on the default port 5060); and baresip gets
//! the harness's configuration around the account (audio from and to files, a control
//! socket, loopback only) where the README lets baresip write its default one for a sound
//! card. What each phone heard is judged on the audio it received.

mod common;

use common::*;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);

fn readme() -> String {
    fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md")
}

/// The text between the single quotes of the README line that writes `accounts_file`:
/// `echo '<line>' > <accounts_file>`.
fn account_line(readme: &str, accounts_file: &str) -> String {
    let lines: Vec<&str> = readme
        .lines()
        .filter(|l| l.trim_end().ends_with(&format!("> {accounts_file}")))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one README line writing {accounts_file}, found {lines:?}"
    );
    let line = lines[0].trim();
    let quoted = line
        .strip_prefix("echo '")
        .and_then(|rest| rest.split_once("' > "))
        .map(|(q, _)| q)
        .unwrap_or_else(|| panic!("expected `echo '…' > {accounts_file}`, found {line:?}"));
    quoted.to_owned()
}

/// The address in the README's `baresip -f <dir> -e '/dial <uri>'`.
fn dialled(readme: &str, dir: &str) -> String {
    let prefix = format!("baresip -f {dir} -e '/dial ");
    let uri = readme
        .lines()
        .find_map(|l| l.trim().strip_prefix(&prefix))
        .and_then(|rest| rest.strip_suffix('\''))
        .unwrap_or_else(|| panic!("expected a README line `{prefix}…'`"));
    uri.to_owned()
}

/// `text` with its one `@127.0.0.1` (the daemon on the default port) pointed at `port`.
fn on_port(text: &str, port: u16) -> String {
    let at = "@127.0.0.1";
    assert_eq!(text.matches(at).count(), 1, "expected one {at} in {text:?}");
    let after = &text[text.find(at).expect("found") + at.len()..];
    assert!(
        after.is_empty() || after.starts_with('>'),
        "expected the default port (nothing after the address) in {text:?}"
    );
    text.replace(at, &format!("{at}:{port}"))
}

/// The value of `;key=` in a baresip account line.
fn param<'a>(line: &'a str, key: &str) -> &'a str {
    let pat = format!(";{key}=");
    let start = line
        .find(&pat)
        .unwrap_or_else(|| panic!("expected {pat} in {line:?}"))
        + pat.len();
    line[start..].split(';').next().expect("value")
}

/// The arguments of the README's `cargo run --release -- passwd …` (double quotes group).
fn passwd_args(readme: &str) -> Vec<String> {
    let line = readme
        .lines()
        .find_map(|l| {
            let at = l.find("cargo run --release -- passwd ")?;
            let rest = &l[at + "cargo run --release -- ".len()..];
            Some(rest.split('`').next().unwrap_or(rest).to_owned())
        })
        .expect("a README line with `cargo run --release -- passwd …`");
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !cur.is_empty() {
                    args.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        args.push(cur);
    }
    args
}

/// Speech, then silence, for two minutes (baresip ends the call when its file ends).
fn speech_file(dir: &Path, name: &str, text: &str) -> (std::path::PathBuf, Vec<i16>) {
    let speech = espeak_hu(text);
    let mut samples = Vec::new();
    while samples.len() < RATE * 120 {
        samples.extend_from_slice(&speech);
        samples.extend(std::iter::repeat_n(0i16, ms(2000)));
    }
    let p = dir.join(name);
    write_wav_8k(&p, &samples);
    (p, speech)
}

#[test]
fn the_readme_resident_account_dials_the_line_and_hears_the_menu() {
    let text = readme();
    let account = account_line(&text, "~/ugyelet-lakos/accounts");
    let uri = dialled(&text, "~/ugyelet-lakos");
    assert_eq!(
        param(&account, "regint"),
        "0",
        "a caller that never registers"
    );
    let daemon = Daemon::start(&[]);
    let phone = Baresip::start(BaresipConfig {
        account: Some(account),
        ..BaresipConfig::default()
    });
    phone.dial(&on_port(&uri, daemon.sip_port));
    phone.wait_event("CALL_ESTABLISHED", 10 * SECOND);
    let (at, _, _) = wait_for_prompt(&phone, "welcome", 0, 0, 20 * SECOND);
    wait_for_prompt(&phone, "main_menu", at, 0, 30 * SECOND);
    // The README: 3 plays the office hours.
    phone.send_dtmf('3');
    wait_for_prompt(&phone, "office_hours", at, 0, 30 * SECOND);
    // The caller ID the README promises: the made-up mobile number, in E.164.
    let (status, body) = http_get(daemon.admin_port, "/api/calls");
    assert_eq!(status, 200);
    assert!(body.contains("+36301234567"), "{body}");
    phone.hangup();
}

#[test]
fn the_readme_operator_account_registers_with_the_passwd_account_and_answers_a_caller() {
    let text = readme();
    let operator_line = account_line(&text, "~/ugyelet-anna/accounts");
    let password = param(&operator_line, "auth_pass").to_owned();
    assert_eq!(param(&operator_line, "answermode"), "auto");
    let args = passwd_args(&text);
    assert_eq!(args[..2], ["passwd", "anna"], "{args:?}");
    assert_eq!(param(&operator_line, "auth_user"), "anna");

    // The daemon runs, with the shipped operators file (no accounts) and the shipped
    // file-watch interval, as when an administrator follows the README.
    let dir = scratch_dir("readme-operator");
    let ops = dir.join("operators.toml");
    fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/config/operators.toml"),
        &ops,
    )
    .expect("copy operators.toml");
    let (anna_wav, anna_speech) = speech_file(
        &dir,
        "anna.wav",
        "Jó napot kívánok, Kovács Anna vagyok, miben segíthetek?",
    );
    let file = ops.display().to_string();
    let daemon = Daemon::start(&[
        ("UGYELET_SIP__OPERATORS", file.as_str()),
        ("UGYELET_DIALPLAN__WATCH_INTERVAL_MS", "2000"),
    ]);
    // `ugyelet passwd` as the README gives it, typing the password of the account line,
    // with the daemon's configuration. It has the daemon read the account at once: a
    // phone that registered before the daemon noticed the file would fail its digest
    // and get the account throttled.
    let out = Command::new(env!("CARGO_BIN_EXE_ugyelet"))
        .args(&args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("UGYELET_PASSWORD", &password)
        .env("UGYELET_SIP__OPERATORS", &ops)
        .env(
            "UGYELET_ADMIN__LISTEN",
            format!("127.0.0.1:{}", daemon.admin_port),
        )
        .output()
        .expect("run ugyelet passwd");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "the daemon answering on 127.0.0.1:{} reloaded it: anna's phone can register now",
            daemon.admin_port
        )),
        "{stdout}"
    );

    // The phone, started right away.
    let anna = Baresip::start(BaresipConfig {
        account: Some(on_port(&operator_line, daemon.sip_port)),
        source: Some(anna_wav),
        ..BaresipConfig::default()
    });
    let deadline = Instant::now() + 10 * SECOND;
    loop {
        let (status, body) = http_get(daemon.admin_port, "/api/operators");
        let ops: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let state = ops["operators"]
            .as_array()
            .and_then(|a| a.iter().find(|o| o["name"] == "anna"))
            .map(|o| o["state"].clone());
        if status == 200 && state == Some(serde_json::json!("available")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "anna did not become available: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let caller = Baresip::start(BaresipConfig {
        account: Some(account_line(&text, "~/ugyelet-lakos/accounts")),
        ..BaresipConfig::default()
    });
    caller.dial(&on_port(
        &dialled(&text, "~/ugyelet-lakos"),
        daemon.sip_port,
    ));
    caller.wait_event("CALL_ESTABLISHED", 10 * SECOND);
    wait_for_prompt(&caller, "main_menu", 0, 0, 30 * SECOND);
    caller.send_dtmf('1');
    // answermode=auto: the phone answers by itself, and the caller hears anna.
    anna.wait_event("CALL_ESTABLISHED", 30 * SECOND);
    let deadline = Instant::now() + 30 * SECOND;
    let heard = loop {
        let n = find_prompt(&caller.received_wav(), &anna_speech).map_or(0.0, |(_, n)| n);
        if n > HEARD || Instant::now() >= deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(
        heard > HEARD,
        "the caller hears the operator (ncc {heard:.3})"
    );
    caller.hangup();
    anna.wait_event("CALL_CLOSED", 10 * SECOND);
    let _ = fs::remove_dir_all(&dir);
}
