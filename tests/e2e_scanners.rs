//! The SIPVicious scanners against the real daemon, as they run against any SIP server on
//! the open internet, and the fail2ban filter shipped in `packaging/fail2ban/` against the
//! lines the daemon wrote meanwhile.
//!
//! - `svmap` (finds SIP servers and what they are) sees nothing but the configured
//!   `user_agent`: no version.
//! - `svwar` (guesses account names from how REGISTER, OPTIONS and INVITE are answered)
//!   learns none: an operator's name and a made-up one get the same answers.
//! - `svcrack` (guesses passwords) gets five real checks; then its address is refused
//!   unchecked (and, as it keeps going, ignored for flooding), so the right password, tenth
//!   in its list, is never tried. The same tool finds a password it tries first, so the
//!   block, not the tool, is what stops it.
//! - `fail2ban-regex` with the shipped filter finds the scanners' address in every
//!   security line the daemon wrote and nothing in its ordinary lines, among them a real
//!   phone's registration from another address.
//!
//! The scanners run on loopback (/work/shared/TESTING.md): every message they send names
//! their own address, and the daemon answers only the source. SIPVicious 0.3.3 (Debian)
//! ignores `-b` in svcrack, so all scanners send from 127.0.0.1 (one attacking host); the
//! ordinary phone and the comparisons use other loopback addresses.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ugyelet::sip::auth::{Algorithm, Credentials, ha1, response};

/// The `user_agent` the daemon is given: a name, no version.
const USER_AGENT: &str = "ugyelet-ugyeleti-vonal";
const ACCOUNTS: [(&str, &str); 4] = [
    ("kati", "Kati-titka-42"),
    ("anna", "Anna-jelszava-7"),
    ("bela", "Bela-jelszava-9"),
    // A teleworker with require_secure (TLS and SRTP only).
    ("erika", "Erika-jelszava-3"),
];

/// The scanner's command: Debian names them `svmap`, the PyPI package `sipvicious_svmap`.
fn tool(name: &str) -> String {
    for candidate in [name.to_owned(), format!("sipvicious_{name}")] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {candidate}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if found {
            return candidate;
        }
    }
    panic!("{name} not found: apt-get install sipvicious (or pip install sipvicious)");
}

/// Runs a scanner to its end (at most 90 s); its standard output and error together.
fn scan(name: &str, args: &[&str]) -> String {
    let dir = scratch_dir(name);
    let started = Instant::now();
    let out = Command::new("timeout")
        .arg("90")
        .arg(tool(name))
        .args(args)
        .current_dir(&dir)
        // SIPVicious keeps its sessions under $HOME/.sipvicious.
        .env("HOME", &dir)
        .output()
        .unwrap_or_else(|e| panic!("run {name}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "--- {name} {} ({:?}) ---\n{text}",
        args.join(" "),
        started.elapsed()
    );
    let _ = std::fs::remove_dir_all(&dir);
    text
}

fn daemon_with_accounts() -> Daemon {
    let dir = scratch_dir("scanners");
    let file = dir.join("operators.toml");
    let mut text = String::new();
    for (name, password) in ACCOUNTS {
        let c = Credentials::from_password(name, "ugyelet", password);
        // erika works from home: TLS and SRTP only. A scanner must not learn that either.
        let secure = if name == "erika" {
            "location = \"remote\"\nrequire_secure = true\n"
        } else {
            ""
        };
        text.push_str(&format!(
            "[[operator]]\nname = \"{name}\"\n{secure}ha1_md5 = \"{}\"\n",
            c.ha1_md5.unwrap_or_default()
        ));
    }
    std::fs::write(&file, text).expect("write operators file");
    let file = file.display().to_string();
    Daemon::start(&[
        ("UGYELET_SIP__OPERATORS", file.as_str()),
        ("UGYELET_SIP__USER_AGENT", USER_AGENT),
    ])
}

/// A UDP socket on a loopback address of its own.
fn socket(ip: &str) -> UdpSocket {
    let s = UdpSocket::bind((ip, 0)).expect("bind");
    s.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    s
}

/// Sends `req` and returns what arrives within `wait`, as text.
fn exchange(sock: &UdpSocket, port: u16, req: &str, wait: Duration) -> Vec<String> {
    sock.send_to(req.as_bytes(), ("127.0.0.1", port))
        .expect("send");
    let deadline = Instant::now() + wait;
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    while Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    got
}

/// A request from `sock` for `user`; `id` makes its Call-ID, branch and tag.
fn request(sock: &UdpSocket, port: u16, method: &str, user: &str, id: &str, extra: &str) -> String {
    let me = sock.local_addr().expect("addr");
    format!(
        "{method} sip:{user}@127.0.0.1:{port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {me};branch=z9hG4bK-{id};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{user}@127.0.0.1:{port}>;tag=t-{id}\r\n\
         To: <sip:{user}@127.0.0.1:{port}>\r\n\
         Call-ID: c-{id}@127.0.0.1\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:{user}@{me}>\r\n\
         {extra}Content-Length: 0\r\n\r\n"
    )
}

/// `value` of `key="value"` (or `key=value`) in `text`.
fn param<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let at = text.find(&format!("{key}="))? + key.len() + 1;
    let rest = text[at..].trim_start_matches('"');
    let end = rest.find(['"', ',', ';', '\r', ' ']).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// An answer with everything that names the request or the moment masked: the user, the
/// request's id, To tags and nonces. What is left is what a scanner could compare.
fn masked(answer: &str, user: &str, id: &str) -> String {
    let mut out = answer.replace(user, "USER").replace(id, "ID");
    for key in ["tag=", "nonce="] {
        let mut from = 0;
        while let Some(at) = out[from..].find(key) {
            let mut start = from + at + key.len();
            let quoted = out[start..].starts_with('"');
            start += usize::from(quoted);
            let end = if quoted {
                out[start..].find('"')
            } else {
                out[start..].find([';', ',', ' ', '\r'])
            }
            .map_or(out.len(), |e| start + e);
            out.replace_range(start..end, "*");
            from = start + 1;
        }
    }
    out
}

/// REGISTER with Digest credentials for the challenge in `challenge`.
fn authorization(challenge: &str, user: &str, password: &str, port: u16) -> String {
    let nonce = param(challenge, "nonce").expect("nonce");
    let uri = format!("sip:{user}@127.0.0.1:{port}");
    let h = ha1(Algorithm::Md5, user, "ugyelet", password);
    let r = response(
        Algorithm::Md5,
        &h,
        nonce,
        "00000001",
        "cn0",
        "auth",
        "REGISTER",
        &uri,
    );
    format!(
        "Authorization: Digest username=\"{user}\", realm=\"ugyelet\", nonce=\"{nonce}\", \
         uri=\"{uri}\", response=\"{r}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"cn0\"\r\n"
    )
}

/// Lines of `log` that `fail2ban-regex` with the shipped filter matches: the addresses it
/// would ban, one per matched line.
fn fail2ban_matches(log: &Path) -> Vec<String> {
    let filter = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/packaging/fail2ban/filter.d/ugyelet.conf"
    );
    let out = Command::new("fail2ban-regex")
        .arg(log)
        .arg(filter)
        .args(["-o", "ip"])
        .output()
        .unwrap_or_else(|e| panic!("fail2ban-regex (apt-get install fail2ban): {e}"));
    assert!(
        out.status.success(),
        "fail2ban-regex failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn scanners_learn_no_version_no_account_and_no_password_and_fail2ban_reads_their_address_off_the_log()
 {
    let daemon = daemon_with_accounts();
    let port = daemon.sip_port.to_string();
    let target = "127.0.0.1";

    // svmap: the server is found, and all it tells is the configured name.
    let out = scan(
        "svmap",
        &["-p", &port, "-P", &free_ports(1).to_string(), target],
    );
    let row = out
        .lines()
        .find(|l| l.contains(&format!("127.0.0.1:{port}")))
        .unwrap_or_else(|| panic!("svmap found no SIP server:\n{out}"));
    let agent: Vec<&str> = row.split('|').map(str::trim).collect();
    assert_eq!(
        agent.get(2),
        Some(&USER_AGENT),
        "svmap's User Agent column: {row}"
    );
    assert!(
        !out.contains(env!("CARGO_PKG_VERSION")),
        "no version in what svmap saw:\n{out}"
    );

    // svwar: every name is answered alike, so it finds none, with every method.
    let names = scratch_dir("svwar-names").join("names.txt");
    std::fs::write(&names, "kati\nanna\nbela\nerika\nnincsilyen\n1000\nadmin\n").expect("names");
    let names = names.display().to_string();
    // Unforced, svwar first checks that a made-up name is answered differently from a
    // known one and gives up when it is not; forced, it goes through the list anyway.
    for (method, forces) in [
        ("REGISTER", &[false, true][..]),
        ("OPTIONS", &[true][..]),
        ("INVITE", &[true][..]),
    ] {
        for &force in forces {
            let local = free_ports(1).to_string();
            let mut args = vec!["-m", method, "-d", &names, "-p", &port, "-P", &local];
            if force {
                args.push("--force");
            }
            args.push(target);
            let out = scan("svwar", &args);
            assert!(
                out.contains("found nothing"),
                "svwar -m {method} (force {force}) found something:\n{out}"
            );
            for (name, _) in ACCOUNTS {
                assert!(
                    !out.lines().any(|l| l.starts_with('|') && l.contains(name)),
                    "svwar -m {method} listed {name}:\n{out}"
                );
            }
        }
    }

    // What svwar compares, checked directly: an operator's name and a made-up one get the
    // same answers, status and headers, to REGISTER (with and without a wrong password),
    // OPTIONS and INVITE; only the request's own ids and fresh nonces differ.
    let probe = socket("127.0.0.8");
    let p = daemon.sip_port;
    for (method, wrong_password) in [
        ("REGISTER", false),
        ("REGISTER", true),
        ("OPTIONS", false),
        ("INVITE", false),
    ] {
        let mut seen = Vec::new();
        for (user, id) in [
            ("kati", "aaaa1"),
            ("erika", "cccc1"),
            ("nincsilyen", "bbbb1"),
        ] {
            let id = format!("{id}{}", seen.len() + usize::from(wrong_password) * 7);
            let req = request(&probe, p, method, user, &id, "");
            let mut answers = exchange(&probe, p, &req, Duration::from_millis(300));
            if method == "INVITE" {
                // Acknowledge the final answer (RFC 3261 §17.1.1.3), or its retransmission
                // would fall into the next name's window.
                let fin = answers.last().expect("a final answer");
                let to = fin
                    .lines()
                    .find(|l| l.starts_with("To: "))
                    .expect("a To header");
                let ack = req
                    .replacen("INVITE sip:", "ACK sip:", 1)
                    .replace("CSeq: 1 INVITE", "CSeq: 1 ACK")
                    .replace(&format!("To: <sip:{user}@127.0.0.1:{p}>"), to);
                probe
                    .send_to(ack.as_bytes(), ("127.0.0.1", p))
                    .expect("send ACK");
            }
            if wrong_password {
                let challenge = answers.first().expect("a challenge").clone();
                let auth = authorization(&challenge, user, "talan-ez-az", p);
                let again = request(&probe, p, method, user, &id, &auth)
                    .replace("CSeq: 1 ", "CSeq: 2 ")
                    .replace(&format!("z9hG4bK-{id}"), &format!("z9hG4bK-{id}x"));
                answers = exchange(&probe, p, &again, Duration::from_millis(300));
            }
            let masked: Vec<String> = answers.iter().map(|a| masked(a, user, &id)).collect();
            seen.push((user, masked));
        }
        let a = &seen[0];
        assert!(!a.1.is_empty(), "{method}: answered");
        for b in &seen[1..] {
            assert_eq!(
                a.1, b.1,
                "{method} (wrong password: {wrong_password}): {} and {} are told apart",
                a.0, b.0
            );
        }
    }

    // A real phone on another address registers: ordinary log lines, never a ban.
    let phone = socket("127.0.0.9");
    let ch = exchange(
        &phone,
        p,
        &request(&phone, p, "REGISTER", "bela", "phone1", ""),
        Duration::from_millis(300),
    );
    let auth = authorization(&ch[0], "bela", ACCOUNTS[2].1, p);
    let ok = exchange(
        &phone,
        p,
        &request(&phone, p, "REGISTER", "bela", "phone2", &auth),
        Duration::from_millis(300),
    );
    assert!(
        ok[0].starts_with("SIP/2.0 200 "),
        "the phone registers: {ok:?}"
    );

    // A sender that writes a security line's text into an account name (escaped in the
    // URI, plain in the log) to have the filter ban someone else: its REGISTER is refused
    // for its Contact, an ordinary line with the forged text in `account`.
    let forger = socket("127.0.0.10");
    let user = "x%20WARN%20ugyelet%3A%3Asecurity%3A%20auth_failed%20ip%3D127.0.0.66%20port%3D1";
    let forged = request(&forger, p, "REGISTER", user, "forged1", "")
        .replace("Contact: <sip:", "Contact: sip:")
        .replace(">\r\nContent-Length", "?Route=x\r\nContent-Length");
    let got = exchange(&forger, p, &forged, Duration::from_millis(300));
    assert!(got[0].starts_with("SIP/2.0 400 "), "{got:?}");
    assert!(
        daemon
            .stderr()
            .contains("account=\"x WARN ugyelet::security: auth_failed ip=127.0.0.66 port=1\""),
        "the forged text is in the log"
    );

    // svcrack, control: the password it tries first is found (the tool works here).
    let dict = scratch_dir("svcrack-dict");
    let first = dict.join("first.txt");
    std::fs::write(&first, format!("{}\nrossz\n", ACCOUNTS[1].1)).expect("dict");
    let out = scan(
        "svcrack",
        &[
            "-u",
            "anna",
            "-d",
            &first.display().to_string(),
            "-p",
            &port,
            "-P",
            &free_ports(1).to_string(),
            "--maximumtime",
            "3",
            target,
        ],
    );
    assert!(
        out.lines()
            .any(|l| l.contains("| anna") && l.contains(ACCOUNTS[1].1)),
        "svcrack finds a password it tries first:\n{out}"
    );

    // svcrack, attack: the right password is tenth; five wrong ones are checked, then the
    // address is refused without a check and the rest never counts.
    let tenth = dict.join("tenth.txt");
    let mut words: Vec<String> = (1..=9).map(|i| format!("rossz-{i}")).collect();
    words.push(ACCOUNTS[0].1.to_owned());
    words.extend((1..=5).map(|i| format!("tovabb-{i}")));
    std::fs::write(&tenth, words.join("\n") + "\n").expect("dict");
    let out = scan(
        "svcrack",
        &[
            "-u",
            "kati",
            "-d",
            &tenth.display().to_string(),
            "-p",
            &port,
            "-P",
            &free_ports(1).to_string(),
            "--maximumtime",
            "3",
            target,
        ],
    );
    assert!(
        out.contains("found nothing") && !out.contains(ACCOUNTS[0].1),
        "svcrack must not find kati's password:\n{out}"
    );
    let log = daemon.stderr();
    let checked = log
        .lines()
        .filter(|l| {
            l.contains("ugyelet::security: auth_failed ip=127.0.0.1 ")
                && l.contains("account=\"kati\"")
        })
        .count();
    assert_eq!(
        checked, 5,
        "svcrack's guesses that got a real check: the daemon's limit, then it is throttled"
    );
    assert!(
        log.contains("ugyelet::security: auth_throttled ip=127.0.0.1 port="),
        "the refusals after the limit are logged"
    );
    assert!(
        !log.lines()
            .any(|l| l.contains("operator registered") && l.contains("operator=kati")),
        "kati's account was never registered"
    );

    // fail2ban: the shipped filter finds the attacker in each security line, and nothing
    // in the ordinary ones (calls refused, the phone registered, start-up).
    let dir = scratch_dir("fail2ban");
    // A security line is one whose target is `ugyelet::security` (not one that merely
    // contains the words, as the forged account above does).
    let is_security = |l: &&str| {
        l.split_once("Z  ")
            .is_some_and(|(_, rest)| rest.starts_with("WARN ugyelet::security: "))
    };
    let security: Vec<&str> = log.lines().filter(is_security).collect();
    let ordinary: Vec<&str> = log.lines().filter(|l| !is_security(l)).collect();
    assert!(
        ordinary
            .iter()
            .any(|l| l.contains("operator registered operator=bela"))
    );
    let (sec_file, ord_file) = (dir.join("security.log"), dir.join("ordinary.log"));
    std::fs::write(&sec_file, security.join("\n") + "\n").expect("write");
    std::fs::write(&ord_file, ordinary.join("\n") + "\n").expect("write");
    let banned = fail2ban_matches(daemon.stderr_path());
    let hosts: BTreeSet<&str> = banned.iter().map(String::as_str).collect();
    // 127.0.0.1: the scanners; 127.0.0.8: the comparison above, which also guessed a
    // password for each name. Not 127.0.0.9, the phone, nor 127.0.0.10, whose refusal is
    // an ordinary line, nor 127.0.0.66, named only in text that sender forged.
    assert_eq!(
        hosts,
        BTreeSet::from(["127.0.0.1", "127.0.0.8"]),
        "only the guessing addresses"
    );
    assert_eq!(banned.len(), security.len(), "every security line matches");
    assert_eq!(fail2ban_matches(&sec_file).len(), security.len());
    // As fail2ban reads them from the journal or syslog: "host ugyelet[pid]: " first.
    let journal = dir.join("journal.log");
    let prefixed: Vec<String> = log
        .lines()
        .map(|l| format!("tanacshaza ugyelet[4242]: {l}"))
        .collect();
    std::fs::write(&journal, prefixed.join("\n") + "\n").expect("write");
    assert_eq!(
        fail2ban_matches(&journal),
        banned,
        "the same through a syslog prefix"
    );
    assert!(
        fail2ban_matches(&ord_file).is_empty(),
        "no ordinary line matches"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
