//! Operators for end-to-end tests: an accounts file of HA1 digests, softphones that
//! register and answer, speech for each side to say, and waits on what the admin API and
//! the phones report.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ugyelet::sip::auth::Credentials;

use super::{
    Baresip, BaresipConfig, Daemon, RATE, espeak_hu, find_prompt, http_get, ms, scratch_dir,
    wait_for_prompt, write_wav_8k,
};

/// An operator account for the accounts file.
pub struct Account<'a> {
    pub name: &'a str,
    pub location: &'a str,
    pub password: &'a str,
}

/// Writes an operators file holding only HA1 digests, as `ugyelet passwd` would.
pub fn operators_file(dir: &Path, accounts: &[Account<'_>]) -> PathBuf {
    let mut text = String::new();
    for a in accounts {
        let c = Credentials::from_password(a.name, "ugyelet", a.password);
        text.push_str(&format!(
            "[[operator]]\nname = \"{}\"\nlocation = \"{}\"\nha1_md5 = \"{}\"\nha1_sha256 = \"{}\"\n\n",
            a.name,
            a.location,
            c.ha1_md5.unwrap_or_default(),
            c.ha1_sha256.unwrap_or_default()
        ));
    }
    let p = dir.join("operators.toml");
    fs::write(&p, text).expect("write operators file");
    p
}

/// The password of each test operator: their name and a fixed tail.
pub fn password_of(name: &str) -> String {
    format!("{name}-jelszava-77")
}

/// An accounts file with these on-site operators, each with [`password_of`].
pub fn on_site(names: &[&str]) -> PathBuf {
    let passwords: Vec<String> = names.iter().map(|n| password_of(n)).collect();
    let accounts: Vec<Account<'_>> = names
        .iter()
        .zip(&passwords)
        .map(|(name, password)| Account {
            name,
            location: "on_site",
            password,
        })
        .collect();
    operators_file(&scratch_dir("operators"), &accounts)
}

/// Speech followed by silence, said again and again two seconds apart for two minutes
/// (baresip ends the call when its source file ends): whenever a bridge starts, whole
/// copies cross it. Returns the file and one copy of the speech.
pub fn speech_file(dir: &Path, name: &str, text: &str) -> (PathBuf, Vec<i16>) {
    let speech = espeak_hu(text);
    let mut samples = Vec::with_capacity(RATE * 130);
    while samples.len() < RATE * 120 {
        samples.extend_from_slice(&speech);
        samples.extend(std::iter::repeat_n(0i16, ms(2000)));
    }
    let p = dir.join(name);
    write_wav_8k(&p, &samples);
    (p, speech)
}

/// The daemon with this accounts file and short ring, overflow and wrap-up times.
pub fn start_daemon(ops: &Path, extra: &[(&str, &str)]) -> Daemon {
    let file = ops.display().to_string();
    let mut env: Vec<(&str, &str)> = vec![
        ("UGYELET_SIP__OPERATORS", file.as_str()),
        ("UGYELET_OPERATORS__RING_TIMEOUT_S", "10"),
        ("UGYELET_OPERATORS__OVERFLOW_AFTER_S", "3"),
        ("UGYELET_OPERATORS__WRAP_UP_S", "1"),
    ];
    env.extend_from_slice(extra);
    Daemon::start(&env)
}

/// An operator's softphone that registers with [`password_of`] and answers by itself.
pub fn operator_phone(daemon: &Daemon, user: &str, source: Option<PathBuf>) -> Baresip {
    Baresip::start(BaresipConfig {
        user: user.to_owned(),
        auto_answer: true,
        source,
        register: Some((daemon.addr(), password_of(user))),
        ..BaresipConfig::default()
    })
}

/// The `state` of operator `name` in the `/api/operators` JSON.
pub fn operator_state(body: &str, name: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v["operators"]
        .as_array()?
        .iter()
        .find(|o| o["name"] == name)
        .and_then(|o| o["state"].as_str().map(str::to_owned))
}

/// Waits until the daemon's admin API lists `name` as available.
pub fn wait_available(daemon: &Daemon, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = http_get(daemon.admin_port, "/api/operators");
        if status == 200 && operator_state(&body, name).as_deref() == Some("available") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "operator {name} not available within 10 s: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Calls the line, goes through the welcome, presses 1 (operator).
pub fn call_and_ask_for_operator(daemon: &Daemon, source: Option<PathBuf>) -> Baresip {
    let caller = Baresip::start(BaresipConfig {
        source,
        ..BaresipConfig::default()
    });
    caller.dial(&daemon.uri());
    caller.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    wait_for_prompt(&caller, "main_menu", 0, 0, Duration::from_secs(30));
    caller.send_dtmf('1');
    caller
}

/// How well `expected` appears in `received` (normalised cross-correlation, 0 if absent).
pub fn ncc(received: &[i16], expected: &[i16]) -> f64 {
    find_prompt(received, expected).map_or(0.0, |(_, n)| n)
}

/// Waits until `phone` has received `speech` from sample `from` on (NCC above `min`),
/// returning the best NCC.
pub fn wait_heard_after(
    phone: &Baresip,
    speech: &[i16],
    from: usize,
    min: f64,
    timeout: Duration,
) -> f64 {
    heard_where(phone, speech, from, min, timeout).0
}

/// Waits until `phone` has received `speech` from sample `from` on (NCC above `min`, at
/// most `timeout`): the best NCC and where it was found (an offset in the whole
/// recording).
pub fn heard_where(
    phone: &Baresip,
    speech: &[i16],
    from: usize,
    min: f64,
    timeout: Duration,
) -> (f64, usize) {
    let deadline = Instant::now() + timeout;
    loop {
        let got = phone.received_wav();
        let (at, n) = got
            .get(from..)
            .and_then(|tail| find_prompt(tail, speech))
            .unwrap_or((0, 0.0));
        if n > min || Instant::now() >= deadline {
            return (n, from + at);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
