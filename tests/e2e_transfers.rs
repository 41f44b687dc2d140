//! Transfers end to end: real baresip softphones (operators that register with digest
//! passwords and answer by themselves, a caller who chose "operator" in the menu), the
//! transfer asked for from the first operator's softphone (`/transfer`, a REFER), and
//! what each side heard judged on the audio it received (normalised cross-correlation
//! with the speech the other side sent), not on the daemon's logs.

mod common;

use common::operators::*;
use common::*;
use std::path::PathBuf;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

/// Three people who say different things: a caller, the first operator, a colleague.
struct Voices {
    caller: (std::path::PathBuf, Vec<i16>),
    anna: (std::path::PathBuf, Vec<i16>),
    bela: (std::path::PathBuf, Vec<i16>),
}

fn voices() -> Voices {
    let dir = scratch_dir("voices");
    Voices {
        caller: speech_file(
            &dir,
            "caller.wav",
            "Az építési engedélyről szeretnék érdeklődni, köszönöm szépen.",
        ),
        anna: speech_file(
            &dir,
            "anna.wav",
            "Jó napot kívánok, Kovács Anna vagyok, miben segíthetek?",
        ),
        bela: speech_file(
            &dir,
            "bela.wav",
            "Szép estét, itt Nagy Béla, az építésügyi ügyintéző.",
        ),
    }
}

/// A caller talking with anna, the only operator logged in when the call queued.
fn caller_with_anna(daemon: &Daemon, v: &Voices) -> (Baresip, Baresip) {
    let anna = operator_phone(daemon, "anna", Some(v.anna.0.clone()));
    wait_available(daemon, "anna");
    let caller = call_and_ask_for_operator(daemon, Some(v.caller.0.clone()));
    anna.wait_event("CALL_ESTABLISHED", 20 * SECOND);
    let heard = wait_heard_after(&caller, &v.anna.1, 0, HEARD, 30 * SECOND);
    assert!(
        heard > HEARD,
        "the caller talks with anna first (ncc {heard:.3})"
    );
    (caller, anna)
}

/// anna's softphone transfers its call (baresip's `/transfer`: a REFER).
fn transfer(anna: &Baresip, daemon: &Daemon, to: &str) {
    anna.command("transfer", Some(&format!("sip:{to}@{}", daemon.addr())));
}

/// Checks that the caller and bela hear each other from `from` (samples of the caller's
/// recording) on.
fn caller_and_bela_talk(caller: &Baresip, bela: &Baresip, v: &Voices, from: usize) {
    let caller_heard = wait_heard_after(caller, &v.bela.1, from, HEARD, 30 * SECOND);
    let bela_heard = wait_heard_after(bela, &v.caller.1, 0, HEARD, 30 * SECOND);
    eprintln!("caller heard bela: {caller_heard:.3}; bela heard the caller: {bela_heard:.3}");
    assert!(
        caller_heard > HEARD,
        "after the transfer the caller must hear bela (ncc {caller_heard:.3})"
    );
    assert!(
        bela_heard > HEARD,
        "bela must hear the caller (ncc {bela_heard:.3})"
    );
}

#[test]
fn a_blind_transfer_from_the_softphone_hands_the_caller_to_the_colleague_named() {
    let v = voices();
    let daemon = start_daemon(&on_site(&["anna", "bela"]), &[]);
    let (caller, anna) = caller_with_anna(&daemon, &v);
    // bela logs in only now, so the queue could not have given the call to him.
    let bela = operator_phone(&daemon, "bela", Some(v.bela.0.clone()));
    wait_available(&daemon, "bela");
    let before = caller.received_wav().len();
    transfer(&anna, &daemon, "bela");
    bela.wait_event("CALL_ESTABLISHED", 20 * SECOND);
    // The daemon NOTIFYs "200 OK" (RFC 3515); anna's softphone then closes its call.
    anna.wait_event("CALL_CLOSED", 20 * SECOND);
    caller_and_bela_talk(&caller, &bela, &v, before);
    let (_, body) = http_get(daemon.admin_port, "/api/operators");
    let board: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let bela_row = board["operators"]
        .as_array()
        .and_then(|ops| ops.iter().find(|o| o["name"] == "bela"))
        .expect("bela on the board");
    assert_eq!(bela_row["current_call"]["caller"], "+36301234567", "{body}");
    // The caller hangs up: bela's call ends too, and the record names bela.
    caller.hangup();
    bela.wait_event("CALL_CLOSED", 10 * SECOND);
    let rows = cdr_rows_when(&daemon, |rows| {
        rows.iter()
            .any(|r| r.get(5).map(String::as_str) == Some("operator"))
    });
    let row = rows
        .iter()
        .find(|r| r.get(5).map(String::as_str) == Some("operator"))
        .expect("the call's record");
    assert_eq!(row[8], "bela", "{rows:?}");
}

#[test]
fn a_transfer_naming_the_queue_gives_the_caller_to_the_next_free_operator() {
    let v = voices();
    let daemon = start_daemon(&on_site(&["anna", "bela"]), &[]);
    let (caller, anna) = caller_with_anna(&daemon, &v);
    let bela = operator_phone(&daemon, "bela", Some(v.bela.0.clone()));
    wait_available(&daemon, "bela");
    let before = caller.received_wav().len();
    transfer(&anna, &daemon, "operators");
    anna.wait_event("CALL_CLOSED", 20 * SECOND);
    bela.wait_event("CALL_ESTABLISHED", 20 * SECOND);
    caller_and_bela_talk(&caller, &bela, &v, before);
}

#[test]
fn a_transfer_to_a_number_the_plan_does_not_allow_is_refused_with_403_and_logged_masked() {
    let v = voices();
    let daemon = start_daemon(&on_site(&["anna", "bela"]), &[]);
    let (caller, anna) = caller_with_anna(&daemon, &v);
    // Nothing is dialled: the REFER gets 403 at once and the daemon says why.
    transfer(&anna, &daemon, "+36301111111");
    let failed = anna.wait_event("TRANSFER_FAILED", 10 * SECOND);
    assert!(failed.raw.contains("403"), "{}", failed.raw);
    let logged = daemon.wait_for_line(5 * SECOND, |l| {
        l.contains("REFER refused") && l.contains("not in [transfer] allowed")
    });
    assert!(
        logged.is_some(),
        "the refusal is logged:\n{}",
        daemon.stderr()
    );
    assert!(
        !daemon.stderr().contains("+36301111111"),
        "the number is masked in the log"
    );
    assert!(
        daemon
            .stderr()
            .lines()
            .all(|l| !l.contains("operator transfers the call")),
        "no transfer was started"
    );
    // baresip 1.0 ends its own call after a failed transfer (its log says "transfer
    // failure", then BYE): that is the operator hanging up, and the caller's call ends
    // with it, as after any operator's hang-up.
    caller.wait_event("CALL_CLOSED", 10 * SECOND);
    drop(anna);
}

/// A dial plan whose calls go straight from the welcome to `node` (a `transfer` node's
/// fields), and to the "no operator" prompt and a hang-up on its `on_error`. `top` goes
/// before the nodes (e.g. `[transfer] allowed`).
fn transfer_plan(top: &str, node: &str) -> PathBuf {
    let dir = scratch_dir("plan");
    let calendar = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dialplans/calendar");
    let text = format!(
        "start = \"welcome\"\ncalendar = \"{}\"\n{top}\n\
         [nodes.welcome]\ntype = \"play\"\nprompts = [\"welcome\"]\nbarge_in = false\nnext = \"pass_on\"\n\n\
         [nodes.pass_on]\ntype = \"transfer\"\nlabel = \"Ügyeletes\"\n{node}\non_error = \"sorry\"\n\n\
         [nodes.sorry]\ntype = \"play\"\nlabel = \"Nem sikerült\"\nprompts = [\"no_operator\", \"pause\", \"pause\", \"pause\"]\nbarge_in = false\nnext = \"bye\"\n\n\
         [nodes.bye]\ntype = \"hangup\"\n",
        calendar.display()
    );
    let p = dir.join("transfer.toml");
    std::fs::write(&p, text).expect("write plan");
    p
}

#[test]
fn the_plans_transfer_node_rings_the_operator_it_names_and_falls_back_to_on_error() {
    let v = voices();
    let plan = transfer_plan("", "operator = \"bela\"");
    let plan_env = plan.display().to_string();
    let daemon = start_daemon(
        &on_site(&["anna", "bela"]),
        &[("UGYELET_DIALPLAN__PATH", plan_env.as_str())],
    );
    // Nobody named bela is logged in: the plan's on_error tells the caller.
    let caller = Baresip::caller();
    caller.dial(&daemon.uri());
    caller.wait_event("CALL_ESTABLISHED", 10 * SECOND);
    wait_for_prompt(&caller, "no_operator", 0, 0, 30 * SECOND);
    caller.wait_event("CALL_CLOSED", 20 * SECOND);
    // anna is free, but the node names bela: only bela rings, and talks with the caller.
    let anna = operator_phone(&daemon, "anna", None);
    let bela = operator_phone(&daemon, "bela", Some(v.bela.0.clone()));
    wait_available(&daemon, "anna");
    wait_available(&daemon, "bela");
    let caller = Baresip::start(BaresipConfig {
        source: Some(v.caller.0.clone()),
        ..BaresipConfig::default()
    });
    caller.dial(&daemon.uri());
    bela.wait_event("CALL_ESTABLISHED", 20 * SECOND);
    caller_and_bela_talk(&caller, &bela, &v, 0);
    assert!(
        anna.events().iter().all(|e| e.kind != "CALL_INCOMING"),
        "anna must not ring"
    );
}

#[test]
fn the_plans_transfer_node_calls_an_allowed_number_through_the_trunk_answering_its_challenge() {
    let v = voices();
    // SIPp plays the provider: it challenges the INVITE, checks the credentials, answers
    // and echoes back whatever it receives.
    let port = free_ports(2);
    let p = port.to_string();
    let trunk = std::thread::spawn(move || {
        sipp(
            &scenario("trunk_challenges_the_invite_then_answers_and_echoes.xml"),
            &["-p", &p, "-rtp_echo", "-timeout", "90s"],
        )
    });
    std::thread::sleep(SECOND / 2);
    let plan = transfer_plan(
        "[transfer]\nallowed = [\"06 23 444 555\"]\n",
        "to = \"+36 23 444 555\"",
    );
    let plan_env = plan.display().to_string();
    let registrar = format!("127.0.0.1:{port}");
    let daemon = start_daemon(
        &on_site(&["anna"]),
        &[
            ("UGYELET_DIALPLAN__PATH", plan_env.as_str()),
            ("UGYELET_TRUNK__REGISTRAR", registrar.as_str()),
            // The provider knows the line by address; it still challenges calls out.
            ("UGYELET_TRUNK__REGISTER", "false"),
            ("UGYELET_TRUNK__USERNAME", "budaors"),
            ("UGYELET_TRUNK__PASSWORD", "trunk secret"),
        ],
    );
    let caller = Baresip::start(BaresipConfig {
        source: Some(v.caller.0.clone()),
        ..BaresipConfig::default()
    });
    caller.dial(&daemon.uri());
    caller.wait_event("CALL_ESTABLISHED", 10 * SECOND);
    // What the caller says crosses the daemon, the trunk and back: the caller hears it.
    let heard = wait_heard_after(&caller, &v.caller.1, 0, HEARD, 60 * SECOND);
    assert!(
        heard > HEARD,
        "the caller's own words come back through the trunk (ncc {heard:.3})"
    );
    caller.hangup();
    let sipp = trunk.join().expect("SIPp thread");
    sipp.assert_success();
    let log = daemon.stderr();
    assert!(
        log.contains("calling out through the trunk"),
        "the call out is logged:\n{log}"
    );
    assert!(
        !log.contains("3623444555") && !log.contains("trunk secret"),
        "neither the number nor the password is in the log:\n{log}"
    );
    let rows = cdr_rows_when(&daemon, |rows| {
        rows.iter()
            .any(|r| r.get(5).map(String::as_str) == Some("operator"))
    });
    assert!(
        rows.iter()
            .any(|r| r.get(8).map(String::as_str) == Some("+3623444555")),
        "the record names the number that took the call: {rows:?}"
    );
}

#[test]
fn an_attended_transfer_with_replaces_hands_the_caller_to_the_colleague_consulted() {
    let v = voices();
    let daemon = start_daemon(
        &on_site(&["anna", "bela"]),
        // No keep-alive OPTIONS into the SIPp phone's scenario during the test.
        &[("UGYELET_OPERATORS__KEEPALIVE_UDP_S", "3600")],
    );
    // anna's phone is SIPp (baresip 1.0 has no attended transfer): it registers from its
    // port, then the same port takes the caller, calls bela and hands the caller over.
    let port = free_ports(2).to_string();
    let password = password_of("anna");
    sipp(
        &scenario("operator_registers_and_stays_registered.xml"),
        &[
            "-p",
            &port,
            daemon.addr().as_str(),
            "-s",
            "anna",
            "-au",
            "anna",
            "-ap",
            &password,
        ],
    )
    .assert_success();
    wait_available(&daemon, "anna");
    let addr = daemon.addr();
    // The digest answer must name the INVITE's Request-URI (RFC 2617 §3.2.2.5).
    let auth_uri = format!("bela@{addr}");
    let anna = std::thread::spawn(move || {
        sipp(
            &scenario("operator_consults_a_colleague_then_hands_the_caller_over.xml"),
            &[
                "-p",
                &port,
                &addr,
                "-au",
                "anna",
                "-ap",
                &password,
                "-auth_uri",
                &auth_uri,
                "-rtp_echo",
                "-trace_msg",
                "-timeout",
                "120s",
            ],
        )
    });
    let caller = call_and_ask_for_operator(&daemon, Some(v.caller.0.clone()));
    wait_state(&daemon, "anna", "on_call");
    // bela logs in only now (anna's phone calls him 8 s after taking the caller).
    let bela = operator_phone(&daemon, "bela", Some(v.bela.0.clone()));
    wait_available(&daemon, "bela");
    bela.wait_event("CALL_ESTABLISHED", 30 * SECOND);
    let incoming = bela
        .events()
        .into_iter()
        .find(|e| e.kind == "CALL_ESTABLISHED")
        .expect("established");
    assert!(
        incoming.raw.contains("anna"),
        "bela sees anna calling: {}",
        incoming.raw
    );
    let before = caller.received_wav().len();
    let sipp = anna.join().expect("SIPp thread");
    sipp.assert_success();
    caller_and_bela_talk(&caller, &bela, &v, before);
    assert!(
        bela.events().iter().all(|e| e.kind != "CALL_CLOSED"),
        "bela's call went on with the caller"
    );
    let (_, body) = http_get(daemon.admin_port, "/api/operators");
    let board: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let row = |name: &str| {
        board["operators"]
            .as_array()
            .and_then(|ops| ops.iter().find(|o| o["name"] == name))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        row("bela")["current_call"]["caller"],
        "+36301234567",
        "{body}"
    );
    assert_eq!(
        row("anna")["current_call"],
        serde_json::Value::Null,
        "{body}"
    );
}

/// Waits until the daemon's admin API lists `name` in `state`.
fn wait_state(daemon: &Daemon, name: &str, state: &str) {
    let deadline = std::time::Instant::now() + 60 * SECOND;
    loop {
        let (_, body) = http_get(daemon.admin_port, "/api/operators");
        if operator_state(&body, name).as_deref() == Some(state) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} not {state} within 60 s: {body}"
        );
        std::thread::sleep(SECOND / 10);
    }
}
