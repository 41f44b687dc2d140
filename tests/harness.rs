//! The end-to-end harness checked against real peers, without the daemon: the prompt
//! matcher on real speech coded through A-law, baresip talking to SIPp and to another
//! baresip, and every SIPp scenario in `tests/sipp/` played against a baresip far end
//! that stands in for the daemon (it answers, decodes DTMF, and hangs up when told).

mod common;

use common::*;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

const UNRELATED: &str = "Holnap délután esni fog az eső a Balaton északi partján.";
const SECOND: Duration = Duration::from_secs(1);

#[test]
fn find_prompt_locates_alaw_coded_speech_and_rejects_unrelated_speech() {
    let prompt = espeak_hu("Üdvözöljük! Ön a polgármesteri hivatal ügyeleti vonalát hívta.");
    let before = espeak_hu("Kérjük, várjon, hívását hamarosan fogadjuk.");
    let unrelated = espeak_hu(UNRELATED);

    // What a caller gets: other speech, 0.3 s of silence, the prompt at half volume,
    // more speech, all through an A-law encoder and decoder.
    let mut line: Vec<i16> = before.clone();
    line.extend(vec![0; ms(300)]);
    let at = line.len();
    line.extend(prompt.iter().map(|&s| s / 2));
    line.extend(&before);
    let line = through_alaw(&line);

    let started = Instant::now();
    let (offset, ncc) = find_prompt(&line, &prompt).expect("a match");
    let took = started.elapsed();
    eprintln!("true match: offset {offset} (inserted at {at}), ncc {ncc:.4}, {took:?}");
    assert_eq!(offset, at, "prompt found at the wrong place");
    assert!(ncc > 0.9, "A-law coded prompt scored only {ncc:.4}");

    let (_, wrong) = find_prompt(&line, &unrelated).expect("a best lag");
    eprintln!("unrelated sentence: best ncc {wrong:.4}");
    assert!(wrong < 0.5, "unrelated speech scored {wrong:.4}");

    // Not present at all once the prompt is cut out.
    let (_, gone) = find_prompt(&[&line[..at], &line[at + prompt.len()..]].concat(), &prompt)
        .expect("a best lag");
    eprintln!("prompt removed: best ncc {gone:.4}");
    assert!(gone < 0.5, "absent prompt scored {gone:.4}");
}

#[test]
fn repository_prompts_are_told_apart_by_find_prompt() {
    let ids = [
        "welcome",
        "main_menu",
        "invalid_key",
        "no_input",
        "office_hours",
        "goodbye",
    ];
    let prompts: Vec<Vec<i16>> = ids.iter().map(|id| load_prompt(id)).collect();
    let all: Vec<i16> = through_alaw(&prompts.concat());
    let mut at = 0;
    for (id, p) in ids.iter().zip(&prompts) {
        let (offset, ncc) = find_prompt(&all, p).expect("a match");
        eprintln!("{id}: offset {offset} (expected {at}), ncc {ncc:.4}");
        assert_eq!(offset, at, "{id} found at the wrong place");
        assert!(ncc > 0.9, "{id} scored {ncc:.4}");
        at += p.len();
    }
    // Each prompt against the line without it.
    for (i, (id, p)) in ids.iter().zip(&prompts).enumerate() {
        let others: Vec<i16> = prompts
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .flat_map(|(_, q)| q.iter().copied())
            .collect();
        if let Some((_, ncc)) = find_prompt(&through_alaw(&others), p) {
            eprintln!("{id} among the others: best ncc {ncc:.4}");
            assert!(ncc < 0.6, "{id} matched other prompts at {ncc:.4}");
        }
    }
}

#[test]
fn find_dtmf_sees_the_generated_tone_pair_after_alaw_coding() {
    let al = inband_dtmf_3_alaw(1000);
    let raw = std::fs::read(&al).expect("A-law file");
    assert_eq!(raw.len(), ms(1000 + 200 + 1500), "one byte per sample");
    let pcm = through_alaw(&decode_alaw_file(&al));
    let at = find_dtmf(&pcm, 697.0, 1477.0).expect("tone found");
    assert!((ms(980)..=ms(1020)).contains(&at), "tone at {at}");
    assert_eq!(
        find_dtmf(&pcm, 770.0, 1336.0),
        None,
        "'5' is not in the file"
    );
}

/// A-law bytes to linear PCM (ITU-T G.711), to read back what sox wrote.
fn decode_alaw_file(path: &Path) -> Vec<i16> {
    std::fs::read(path)
        .expect("read A-law")
        .into_iter()
        .map(|b| {
            let a = b ^ 0x55;
            let exp = (a >> 4) & 7;
            let mant = i32::from(a & 0x0f);
            let mag = if exp == 0 {
                (mant << 4) + 8
            } else {
                ((mant << 4) + 0x108) << (exp - 1)
            };
            (if a & 0x80 != 0 { mag } else { -mag }) as i16
        })
        .collect()
}

#[test]
fn baresip_hears_its_own_speech_echoed_by_sipp_uas() {
    let welcome = load_prompt("welcome");
    // A short second prompt keeps the call well inside SIPp's timeout.
    let menu = load_prompt("goodbye");
    let dir = scratch_dir("echo-source");
    let source = dir.join("source.wav");
    let mut speech = welcome.clone();
    speech.extend(&menu);
    speech.resize(60 * RATE, 0);
    write_wav_8k(&source, &speech);

    let port = free_ports(2);
    let port_s = port.to_string();
    let uas = thread::spawn(move || {
        sipp_run(
            &["-sn", "uas", "-rtp_echo", "-p", &port_s, "-timeout", "25s"],
            &[],
        )
    });
    thread::sleep(Duration::from_millis(300));

    let phone = Baresip::start(BaresipConfig {
        source: Some(source),
        ..BaresipConfig::default()
    });
    phone.dial(&format!("sip:service@127.0.0.1:{port}"));
    phone.wait_event("CALL_ESTABLISHED", 5 * SECOND);
    let got = phone.wait_received(welcome.len() + menu.len() + ms(500), 20 * SECOND);
    phone.hangup();
    phone.wait_event("CALL_CLOSED", 5 * SECOND);
    let result = uas.join().expect("sipp thread");
    result.assert_success();

    let (w_at, w_ncc) = find_prompt(&got, &welcome).expect("welcome echoed");
    let (m_at, m_ncc) = find_prompt(&got, &menu).expect("menu echoed");
    eprintln!(
        "echo via SIPp (PCMU): welcome at {w_at} ncc {w_ncc:.4}, menu at {m_at} ncc {m_ncc:.4}, \
         {} samples received",
        got.len()
    );
    assert!(w_ncc > 0.9 && m_ncc > 0.9);
    assert!(
        w_at < ms(1000),
        "echo starts with the welcome prompt, found at {w_at}"
    );
    assert!(
        m_at.abs_diff(w_at + welcome.len()) < ms(100),
        "menu follows welcome"
    );
}

#[test]
fn baresip_rfc4733_key_reaches_a_baresip_callee() {
    let callee = Baresip::auto_answer("ugyelet");
    let caller = Baresip::caller();
    caller.dial(&callee.uri("ugyelet"));
    caller.wait_event("CALL_ESTABLISHED", 5 * SECOND);
    callee.wait_event("CALL_ESTABLISHED", 5 * SECOND);
    caller.send_dtmf('3');
    let key = callee.wait_event("CALL_DTMF_START", 5 * SECOND);
    assert_eq!(key.param, "3");
    caller.send_dtmf('*');
    let star = callee
        .wait_for(5 * SECOND, |e| {
            e.kind == "CALL_DTMF_START" && e.param == "*"
        })
        .expect("callee decodes '*'");
    assert!(star.at > key.at);
    callee.hangup();
    caller.wait_event("CALL_CLOSED", 5 * SECOND);
}

/// Runs a scenario against a baresip far end in another thread; `far_end` drives the
/// baresip meanwhile (e.g. hangs up once a key arrived).
fn scenario_against_baresip(
    name: &str,
    callee: &Baresip,
    args: &[&str],
    files: &[(&str, &Path)],
    far_end: impl FnOnce(&Baresip),
) -> SippResult {
    let path = scenario(name);
    let target = format!("127.0.0.1:{}", callee.sip_port);
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    all.push(target);
    let files: Vec<(String, std::path::PathBuf)> = files
        .iter()
        .map(|(n, p)| (n.to_string(), p.to_path_buf()))
        .collect();
    let run = thread::spawn(move || {
        let args: Vec<&str> = all.iter().map(String::as_str).collect();
        let files: Vec<(&str, &Path)> = files
            .iter()
            .map(|(n, p)| (n.as_str(), p.as_path()))
            .collect();
        sipp_with_files(&path, &args, &files)
    });
    far_end(callee);
    run.join().expect("sipp thread")
}

#[test]
fn scenario_menu_key_3_runs_against_a_far_end_that_hangs_up_on_the_key() {
    let callee = Baresip::auto_answer("ugyelet");
    let result = scenario_against_baresip(
        "caller_hears_menu_presses_3_and_daemon_hangs_up.xml",
        &callee,
        &["-d", "1500", "-timeout", "20s"],
        &[],
        |b| {
            let key = b.wait_event("CALL_DTMF_START", 15 * SECOND);
            assert_eq!(key.param, "3", "the pcap carries key 3");
            b.hangup();
        },
    );
    result.assert_success();
    assert_eq!(result.stat("SuccessfulCall(C)"), Some("1"));
    let heard = callee.received_wav();
    assert!(
        heard.iter().any(|&s| s.unsigned_abs() > 1000),
        "far end received g711a.pcap speech ({} samples)",
        heard.len()
    );
}

#[test]
fn scenario_caller_hangs_up_with_bye_runs_against_baresip() {
    let callee = Baresip::auto_answer("ugyelet");
    let result = scenario_against_baresip(
        "caller_hangs_up_with_bye.xml",
        &callee,
        &["-timeout", "15s"],
        &[],
        |b| {
            b.wait_event("CALL_ESTABLISHED", 10 * SECOND);
            b.wait_event("CALL_CLOSED", 10 * SECOND);
        },
    );
    result.assert_success();
}

#[test]
fn scenario_caller_cancels_before_answer_runs_against_ringing_baresip() {
    let callee = Baresip::start(BaresipConfig {
        user: "ugyelet".into(),
        manual_answer: true,
        ..BaresipConfig::default()
    });
    let result = scenario_against_baresip(
        "caller_cancels_before_answer.xml",
        &callee,
        &["-timeout", "15s"],
        &[],
        |b| {
            b.wait_event("CALL_INCOMING", 10 * SECOND);
            b.wait_event("CALL_CLOSED", 10 * SECOND);
        },
    );
    result.assert_success();
    assert!(
        !callee.events().iter().any(|e| e.kind == "CALL_ESTABLISHED"),
        "a cancelled call is never established"
    );
}

#[test]
fn scenario_options_runs_against_baresip_and_fails_without_a_peer() {
    let callee = Baresip::auto_answer("ugyelet");
    let result = scenario_against_baresip(
        "options_gets_200_with_allow.xml",
        &callee,
        &["-timeout", "10s"],
        &[],
        |_| {},
    );
    result.assert_success();

    // Nobody listening: the scenario must be able to fail.
    let nobody = format!("127.0.0.1:{}", free_ports(1));
    let result = sipp(
        &scenario("options_gets_200_with_allow.xml"),
        &["-timeout", "6s", "-recv_timeout", "2000", &nobody],
    );
    assert_ne!(result.exit_code, 0, "OPTIONS to a closed port passed");
}

#[test]
fn scenario_info_dtmf_runs_against_a_far_end_that_hangs_up_on_the_key() {
    let callee = Baresip::auto_answer("ugyelet");
    let result = scenario_against_baresip(
        "caller_sends_info_dtmf.xml",
        &callee,
        &["-d", "1000", "-timeout", "20s"],
        &[],
        |b| {
            let key = b.wait_event("CALL_DTMF_START", 15 * SECOND);
            assert_eq!(key.param, "3", "INFO Signal=3 decoded as key 3");
            b.hangup();
        },
    );
    result.assert_success();
}

#[test]
fn scenario_inband_dtmf_delivers_a_real_tone_pair_to_the_far_end() {
    let callee = Baresip::auto_answer("ugyelet");
    let al = inband_dtmf_3_alaw(1500);
    let result = scenario_against_baresip(
        "caller_uses_inband_dtmf.xml",
        &callee,
        &["-timeout", "20s"],
        &[("dtmf_3_inband.al", &al)],
        |b| {
            b.wait_event("CALL_ESTABLISHED", 10 * SECOND);
            let deadline = Instant::now() + 15 * SECOND;
            let at = loop {
                if let Some(at) = find_dtmf(&b.received_wav(), 697.0, 1477.0) {
                    break at;
                }
                assert!(Instant::now() < deadline, "no 697+1477 Hz pair arrived");
                thread::sleep(Duration::from_millis(100));
            };
            eprintln!("tone '3' arrived at sample {at}");
            b.hangup();
        },
    );
    result.assert_success();
}
