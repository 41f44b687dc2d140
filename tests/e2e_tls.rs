//! SIP over TLS and SRTP end to end: the real `ugyelet` binary with a certificate of a
//! test CA made here with openssl; baresip as a teleworker registering over TLS with
//! `mediaenc=srtp-mand`, a plain baresip caller on UDP, a packet capture of the loopback
//! during the call, `openssl s_client` for the certificate's reload.
//!
//! What each side heard is judged on the audio it received (normalised cross-correlation
//! with the speech the other side sent); that the operator's leg carried no plain RTP is
//! judged on the captured packets: their payloads, decoded as the PCMA they would be if
//! they were plain, must not correlate with the speech that crossed them, while the plain
//! caller leg's do (the same check on a leg that is in the clear finds the speech).

mod common;

use common::operators::{operator_state, speech_file, wait_available, wait_heard_after};
use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use ugyelet::rtp::g711::decode;
use ugyelet::sdp::offer_answer::Codec;
use ugyelet::sip::auth::Credentials;

const SECOND: Duration = Duration::from_secs(1);

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A test CA and server certificates it signed, made with openssl.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new() -> Pki {
        let dir = scratch_dir("pki");
        run(Command::new("openssl").current_dir(&dir).args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=ugyelet test CA",
        ]));
        fs::write(
            dir.join("san.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .expect("write extensions");
        Pki { dir }
    }

    fn ca(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// A new key and a certificate for it with common name `cn`, as certbot leaves them:
    /// `NAME.fullchain.pem` (the server certificate, then the CA) and `NAME.key.pem`.
    fn issue(&self, name: &str, cn: &str) -> (PathBuf, PathBuf) {
        let key = self.dir.join(format!("{name}.key.pem"));
        let csr = self.dir.join(format!("{name}.csr"));
        let crt = self.dir.join(format!("{name}.crt"));
        run(Command::new("openssl")
            .current_dir(&self.dir)
            .args([
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
            ])
            .arg(&key)
            .arg("-out")
            .arg(&csr)
            .args(["-subj", &format!("/CN={cn}")]));
        run(Command::new("openssl")
            .current_dir(&self.dir)
            .args([
                "x509",
                "-req",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "san.ext",
                "-in",
            ])
            .arg(&csr)
            .arg("-out")
            .arg(&crt));
        let chain = self.dir.join(format!("{name}.fullchain.pem"));
        let mut pem = fs::read_to_string(&crt).expect("read certificate");
        pem.push_str(&fs::read_to_string(self.ca()).expect("read CA"));
        fs::write(&chain, pem).expect("write chain");
        (chain, key)
    }
}

/// Replaces `dst` with `src` in one step (a rename), as an ACME client's renewal does.
fn install(src: &Path, dst: &Path) {
    let tmp = dst.with_extension("new");
    fs::copy(src, &tmp).expect("copy");
    fs::rename(&tmp, dst).expect("rename");
}

/// Operators file: `erika` (teleworker, require_secure) and `anna` (on site, plain).
fn operators_file(dir: &Path) -> PathBuf {
    let mut text = String::new();
    for (name, location, password, secure) in [
        ("erika", "remote", "erika-jelszava-3", true),
        ("anna", "on_site", "anna-jelszava-7", false),
    ] {
        let c = Credentials::from_password(name, "ugyelet", password);
        text.push_str(&format!(
            "[[operator]]\nname = \"{name}\"\nlocation = \"{location}\"\nrequire_secure = {secure}\n\
             ha1_md5 = \"{}\"\n\n",
            c.ha1_md5.unwrap_or_default()
        ));
    }
    let p = dir.join("operators.toml");
    fs::write(&p, text).expect("write operators file");
    p
}

/// A daemon with a TLS listener serving `chain`/`key` (copied into its own files, which
/// the tests replace as a renewal would).
struct TlsDaemon {
    daemon: Daemon,
    tls_port: u16,
    chain: PathBuf,
    key: PathBuf,
}

fn start_daemon(dir: &Path, chain: &Path, key: &Path) -> TlsDaemon {
    let live_chain = dir.join("fullchain.pem");
    let live_key = dir.join("privkey.pem");
    install(chain, &live_chain);
    install(key, &live_key);
    let ops = operators_file(dir);
    let tls_port = free_ports(1);
    let listen = format!("127.0.0.1:{tls_port}");
    let (ops, c, k) = (
        ops.display().to_string(),
        live_chain.display().to_string(),
        live_key.display().to_string(),
    );
    let daemon = Daemon::start(&[
        ("UGYELET_SIP__OPERATORS", ops.as_str()),
        ("UGYELET_OPERATORS__RING_TIMEOUT_S", "10"),
        ("UGYELET_OPERATORS__OVERFLOW_AFTER_S", "1"),
        ("UGYELET_TLS__LISTEN", listen.as_str()),
        ("UGYELET_TLS__CERTIFICATE", c.as_str()),
        ("UGYELET_TLS__KEY", k.as_str()),
        ("UGYELET_TLS__RELOAD_CHECK_S", "1"),
    ]);
    TlsDaemon {
        daemon,
        tls_port,
        chain: live_chain,
        key: live_key,
    }
}

/// baresip trusting the test CA, with the SRTP module loaded.
fn tls_phone(pki: &Pki, account: String, source: Option<PathBuf>) -> Baresip {
    Baresip::start(BaresipConfig {
        source,
        account: Some(account),
        sip_trace: true,
        extra_config: vec![
            format!("sip_cafile {}", pki.ca().display()),
            "module srtp.so".to_owned(),
        ],
        ..BaresipConfig::default()
    })
}

/// tcpdump on the loopback, UDP only, written packet by packet.
struct Capture {
    child: Child,
    file: PathBuf,
}

impl Capture {
    fn start(dir: &Path) -> Capture {
        let file = dir.join("loopback.pcap");
        let child = Command::new("tcpdump")
            .args(["-i", "lo", "-U", "-n", "-s", "512", "-w"])
            .arg(&file)
            .arg("udp")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn tcpdump (apt-get install tcpdump): {e}"));
        let deadline = Instant::now() + 5 * SECOND;
        while fs::metadata(&file).map_or(true, |m| m.len() == 0) {
            assert!(Instant::now() < deadline, "tcpdump wrote no pcap header");
            std::thread::sleep(Duration::from_millis(50));
        }
        // The header is written when capturing starts.
        std::thread::sleep(Duration::from_millis(300));
        Capture { child, file }
    }

    /// Stops the capture (SIGTERM to the tcpdump this test started) and reads it back.
    fn finish(mut self) -> Vec<Udp> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        udp_packets(&fs::read(&self.file).expect("read capture"))
    }
}

/// One captured UDP datagram on 127.0.0.1.
struct Udp {
    src: u16,
    dst: u16,
    payload: Vec<u8>,
}

/// The UDP datagrams of a classic pcap file (loopback: Ethernet or Linux cooked headers).
fn udp_packets(pcap: &[u8]) -> Vec<Udp> {
    assert!(pcap.len() >= 24, "pcap shorter than its header");
    let magic = u32::from_le_bytes(pcap[0..4].try_into().expect("4"));
    assert!(
        magic == 0xa1b2_c3d4 || magic == 0xa1b2_3c4d,
        "expected a little-endian pcap, magic {magic:#x}"
    );
    let link = u32::from_le_bytes(pcap[20..24].try_into().expect("4"));
    let l2 = match link {
        1 => 14,
        113 => 16,
        276 => 20,
        0 => 4,
        other => panic!("unexpected link type {other}"),
    };
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let incl = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().expect("4")) as usize;
        let frame = &pcap[at + 16..(at + 16 + incl).min(pcap.len())];
        at += 16 + incl;
        let Some(ip) = frame.get(l2..) else { continue };
        if ip.len() < 28 || ip[0] >> 4 != 4 || ip[9] != 17 {
            continue;
        }
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let Some(udp) = ip.get(ihl..) else { continue };
        if udp.len() < 8 {
            continue;
        }
        out.push(Udp {
            src: u16::from_be_bytes([udp[0], udp[1]]),
            dst: u16::from_be_bytes([udp[2], udp[3]]),
            payload: udp[8..].to_vec(),
        });
    }
    out
}

/// What the packets of one direction of a leg look like.
struct Leg {
    packets: usize,
    /// Datagram lengths seen.
    lengths: Vec<usize>,
    /// The payloads (after a 12-octet RTP header), decoded as PCMA, laid end to end.
    audio: Vec<i16>,
}

fn leg(packets: &[Udp], from: impl Fn(u16) -> bool, to: impl Fn(u16) -> bool) -> Leg {
    let mut lengths = Vec::new();
    let mut audio = Vec::new();
    let mut pcm = [0i16; 512];
    let mut n = 0;
    for p in packets.iter().filter(|p| from(p.src) && to(p.dst)) {
        // RTP version 2, PCMA (the header is in the clear in SRTP too).
        if p.payload.len() < 12 + 160 || p.payload[0] >> 6 != 2 || p.payload[1] & 0x7f != 8 {
            continue;
        }
        n += 1;
        if !lengths.contains(&p.payload.len()) {
            lengths.push(p.payload.len());
        }
        let k = decode(Codec::Pcma, &p.payload[12..12 + 160], &mut pcm);
        audio.extend_from_slice(&pcm[..k]);
    }
    Leg {
        packets: n,
        lengths,
        audio,
    }
}

fn rtp_range_of(phone: &Baresip) -> (u16, u16) {
    let config = fs::read_to_string(phone.dir().join("config")).expect("baresip config");
    let range = config
        .lines()
        .find_map(|l| l.strip_prefix("rtp_ports "))
        .expect("rtp_ports line");
    let (lo, hi) = range.trim().split_once('-').expect("lo-hi");
    let lo: u16 = lo.parse().expect("lo");
    // baresip takes an even RTP port (RTCP on the odd one above it), rounding down: from
    // an odd lower bound it may use the even port just below the range.
    (lo & !1, hi.parse().expect("hi"))
}

#[test]
fn a_teleworker_on_tls_with_srtp_talks_to_a_udp_caller_and_no_plain_rtp_crosses_their_leg() {
    let dir = scratch_dir("tls");
    let pki = Pki::new();
    let (chain, key) = pki.issue("first", "localhost");
    let TlsDaemon {
        daemon, tls_port, ..
    } = start_daemon(&dir, &chain, &key);
    let (erika_wav, erika_speech) = speech_file(
        &dir,
        "erika.wav",
        "Jó estét, Szabó Erika vagyok, otthonról dolgozom, miben segíthetek?",
    );
    let (caller_wav, caller_speech) = speech_file(
        &dir,
        "caller.wav",
        "A lakcímkártyámat szeretném megújítani, mit kell vinnem?",
    );
    let erika = tls_phone(
        &pki,
        format!(
            "<sip:erika@127.0.0.1:{tls_port};transport=tls>;auth_pass=erika-jelszava-3;\
             regint=600;answermode=auto;audio_codecs=PCMA;mediaenc=srtp-mand"
        ),
        Some(erika_wav),
    );
    wait_available(&daemon, "erika");
    let capture = Capture::start(&dir);

    let caller = Baresip::start(BaresipConfig {
        source: Some(caller_wav),
        ..BaresipConfig::default()
    });
    caller.dial(&daemon.uri());
    caller.wait_event("CALL_ESTABLISHED", 10 * SECOND);
    wait_for_prompt(&caller, "main_menu", 0, 0, 30 * SECOND);
    caller.send_dtmf('1');
    erika.wait_event("CALL_ESTABLISHED", 30 * SECOND);
    let heard_erika = wait_heard_after(&caller, &erika_speech, 0, HEARD, 30 * SECOND);
    let erika_heard = wait_heard_after(&erika, &caller_speech, 0, HEARD, 30 * SECOND);
    let packets = capture.finish();
    eprintln!("caller heard erika: {heard_erika:.3}; erika heard the caller: {erika_heard:.3}");
    assert!(
        heard_erika > HEARD,
        "the caller must hear the teleworker through SRTP (ncc {heard_erika:.3})"
    );
    assert!(
        erika_heard > HEARD,
        "the teleworker must hear the caller through SRTP (ncc {erika_heard:.3})"
    );

    // The operator's leg, both ways: SRTP (a tag after the 160 octets of PCMA), and no
    // payload that decodes to the speech that crossed it.
    let (lo, hi) = daemon.rtp_ports;
    let ours = |p: u16| (lo..=hi).contains(&p);
    let (elo, ehi) = rtp_range_of(&erika);
    let hers = |p: u16| (elo..=ehi).contains(&p);
    let to_erika = leg(&packets, ours, hers);
    let from_erika = leg(&packets, hers, ours);
    for (what, l, speech) in [
        ("daemon to teleworker", &to_erika, &caller_speech),
        ("teleworker to daemon", &from_erika, &erika_speech),
    ] {
        assert!(
            l.packets > 100,
            "{what}: {} RTP packets captured",
            l.packets
        );
        assert!(
            l.lengths.iter().all(|&n| n == 172 + 10 || n == 172 + 16),
            "{what}: every packet is 172 octets of RTP plus an SRTP tag (10 or 16), found lengths {:?}",
            l.lengths
        );
        let ncc = find_prompt(&l.audio, speech).map_or(0.0, |(_, n)| n);
        eprintln!(
            "{what}: {} packets, lengths {:?}, ncc as plain PCMA {ncc:.3}",
            l.packets, l.lengths
        );
        assert!(
            ncc < 0.3,
            "{what}: the payloads read as plain PCMA correlate with the speech (ncc {ncc:.3})"
        );
    }
    // The same check on the caller's plain leg finds the teleworker's speech: the check
    // can see speech where it is in the clear.
    let (clo, chi) = rtp_range_of(&caller);
    let to_caller = leg(&packets, ours, |p| (clo..=chi).contains(&p));
    let plain = find_prompt(&to_caller.audio, &erika_speech).map_or(0.0, |(_, n)| n);
    assert!(
        plain > HEARD,
        "the plain caller leg carries the teleworker's speech in the clear (ncc {plain:.3}, {} packets)",
        to_caller.packets
    );
    assert!(
        daemon.stderr().contains("operator leg: SRTP agreed"),
        "the daemon logs the agreed SRTP"
    );

    // The INVITE reached the teleworker over the connection its REGISTER opened (baresip
    // has no TLS listener of its own here), offering SRTP keys, and baresip took one.
    let log = erika.log();
    let lines: Vec<&str> = log.lines().map(str::trim_end).collect();
    let hop = |first: &str| {
        lines
            .windows(2)
            .find(|w| w[1].starts_with(first))
            .map(|w| w[0].to_owned())
            .unwrap_or_else(|| panic!("no {first} in the teleworker's trace: {log}"))
    };
    let register = hop("REGISTER ");
    let phone_port = register
        .strip_prefix("TLS 127.0.0.1:")
        .and_then(|r| r.strip_suffix(&format!(" -> 127.0.0.1:{tls_port}")))
        .unwrap_or_else(|| panic!("REGISTER sent over TLS to the daemon: {register}"));
    assert_eq!(
        hop("INVITE "),
        format!("TLS 127.0.0.1:{tls_port} -> 127.0.0.1:{phone_port}"),
        "the INVITE comes back on the phone's own connection"
    );
    for offered in [
        format!("Via: SIP/2.0/TLS 127.0.0.1:{tls_port};"),
        "RTP/SAVP".to_owned(),
        "a=crypto:1 AEAD_AES_128_GCM inline:".to_owned(),
        "a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:".to_owned(),
        "SRTP is Enabled (cryptosuite=AEAD_AES_128_GCM)".to_owned(),
    ] {
        assert!(
            log.contains(&offered),
            "the teleworker's trace shows {offered:?}: {log}"
        );
    }
}

#[test]
fn a_require_secure_account_is_refused_over_udp_and_with_plain_rtp_over_tls() {
    let dir = scratch_dir("tls");
    let pki = Pki::new();
    let (chain, key) = pki.issue("first", "localhost");
    let TlsDaemon {
        daemon, tls_port, ..
    } = start_daemon(&dir, &chain, &key);

    // Registering over UDP: 403, with the reason in the Warning, and a log line.
    let over_udp = Baresip::start(BaresipConfig {
        account: Some(format!(
            "<sip:erika@{}>;auth_pass=erika-jelszava-3;regint=600",
            daemon.addr()
        )),
        sip_trace: true,
        ..BaresipConfig::default()
    });
    // (It registers before the harness listens to its events: its log says it.)
    let deadline = Instant::now() + 10 * SECOND;
    while !over_udp.log().contains("reg: sip:erika@") {
        assert!(
            Instant::now() < deadline,
            "no REGISTER answer: {}",
            over_udp.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        over_udp.log().contains(": 403 Forbidden"),
        "REGISTER over UDP refused with 403: {}",
        over_udp.log()
    );
    assert!(
        over_udp
            .log()
            .contains("Warning: 399 ugyelet \"ez a fiók csak titkosított kapcsolaton"),
        "the 403 says why: {}",
        over_udp.log()
    );
    assert!(
        daemon
            .wait_for_line(5 * SECOND, |l| l.contains("REGISTER refused")
                && l.contains("erika"))
            .is_some(),
        "the daemon logs the refused REGISTER"
    );
    // The same phone over TLS registers.
    let _over_tls = tls_phone(
        &pki,
        format!(
            "<sip:erika@127.0.0.1:{tls_port};transport=tls>;auth_pass=erika-jelszava-3;\
             regint=600;mediaenc=srtp-mand"
        ),
        None,
    );
    wait_available(&daemon, "erika");

    // The account's own calls (a feature code: *23, a pause), authenticated, over TLS but
    // with plain RTP: 488.
    let plain_call = tls_phone(
        &pki,
        format!(
            "<sip:erika@127.0.0.1:{tls_port};transport=tls>;auth_pass=erika-jelszava-3;\
             regint=0;audio_codecs=PCMA"
        ),
        None,
    );
    plain_call.dial(&format!("sip:*23@127.0.0.1:{tls_port};transport=tls"));
    let closed = plain_call.wait_event("CALL_CLOSED", 10 * SECOND);
    assert!(
        closed.raw.contains("488"),
        "plain RTP from erika refused with 488: {}",
        closed.raw
    );
    // Over UDP: 403.
    let udp_call = Baresip::start(BaresipConfig {
        account: Some(
            "<sip:erika@127.0.0.1>;auth_pass=erika-jelszava-3;regint=0;audio_codecs=PCMA"
                .to_owned(),
        ),
        ..BaresipConfig::default()
    });
    udp_call.dial(&format!("sip:*23@{}", daemon.addr()));
    let closed = udp_call.wait_event("CALL_CLOSED", 10 * SECOND);
    assert!(
        closed.raw.contains("403"),
        "erika's call over UDP refused with 403: {}",
        closed.raw
    );
    let refusals = daemon.stderr();
    assert!(
        refusals.contains("require_secure, offered plain RTP")
            && refusals.contains("require_secure, came over UDP"),
        "both refused calls are logged"
    );
    let (_, board) = http_get(daemon.admin_port, "/api/operators");
    assert_eq!(
        operator_state(&board, "erika").as_deref(),
        Some("available"),
        "neither refused call paused erika: {board}"
    );
    // A call to the line that only says it is from erika, without her password, is a
    // resident's like any other: a From proves nothing, and refusing it would tell a
    // scanner which names are teleworkers'.
    let unproven = Baresip::start(BaresipConfig {
        account: Some("<sip:erika@127.0.0.1>;regint=0;audio_codecs=PCMA".to_owned()),
        ..BaresipConfig::default()
    });
    unproven.dial(&daemon.uri());
    unproven.wait_event("CALL_ESTABLISHED", 10 * SECOND);
    unproven.hangup();
    // Over TLS with SRTP the same account is served: it hears the menu through SRTP
    // (the prompts are protected on their way out) and what it sends is taken in (the
    // call's received packets, counted when it ends, pass the unprotect first).
    let secure_call = tls_phone(
        &pki,
        format!(
            "<sip:erika@127.0.0.1:{tls_port};transport=tls>;regint=0;audio_codecs=PCMA;\
             mediaenc=srtp-mand"
        ),
        None,
    );
    secure_call.dial(&format!("sip:ugyelet@127.0.0.1:{tls_port};transport=tls"));
    secure_call.wait_event("CALL_ESTABLISHED", 10 * SECOND);
    let (_, menu_ncc, _) = wait_for_prompt(&secure_call, "main_menu", 0, 0, 30 * SECOND);
    assert!(
        menu_ncc > HEARD,
        "the menu heard through SRTP (ncc {menu_ncc:.3})"
    );
    secure_call.hangup();
    let deadline = Instant::now() + 10 * SECOND;
    let received = loop {
        let (_, metrics) = http_get(daemon.admin_port, "/metrics");
        let n: u64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix("ugyelet_rtp_packets_total{direction=\"received\"} "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if n > 100 || Instant::now() >= deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        received > 100,
        "the SRTP caller's packets were taken in: {received}"
    );
    assert!(
        daemon.stderr().contains("caller leg: SRTP agreed"),
        "the daemon logs the caller leg's SRTP"
    );

    // An account without require_secure still calls over UDP as before.
    let anna = Baresip::start(BaresipConfig {
        account: Some("<sip:anna@127.0.0.1>;regint=0;audio_codecs=PCMA".to_owned()),
        ..BaresipConfig::default()
    });
    anna.dial(&daemon.uri());
    anna.wait_event("CALL_ESTABLISHED", 10 * SECOND);
}

/// The SHA-256 fingerprint of the certificate a new TLS connection is served, and whether
/// the handshake worked, as `openssl s_client` sees it with `extra` arguments.
fn served(port: u16, pki: &Pki, extra: &[&str]) -> Option<String> {
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            "localhost",
        ])
        .arg("-CAfile")
        .arg(pki.ca())
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl s_client");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let begin = text.find("-----BEGIN CERTIFICATE-----")?;
    let end = text.find("-----END CERTIFICATE-----")? + "-----END CERTIFICATE-----".len();
    let pem = &text[begin..end];
    let mut child = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run openssl x509");
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), pem.as_bytes())
        .expect("write pem");
    let out = child.wait_with_output().expect("openssl x509");
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Sends `bytes` over a new TLS connection (`openssl s_client`) and returns what comes
/// back within 5 s, at most `want` octets.
fn tls_exchange(port: u16, pki: &Pki, bytes: &[u8], want: usize) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-ign_eof",
            "-connect",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("-CAfile")
        .arg(pki.ca())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run openssl s_client");
    let mut out = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while got.len() < want {
            match out.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let _ = tx.send(got);
    });
    // The handshake first: s_client sends what it reads once connected.
    std::thread::sleep(Duration::from_millis(500));
    child
        .stdin
        .as_mut()
        .expect("stdin")
        .write_all(bytes)
        .expect("write to s_client");
    let got = rx.recv_timeout(5 * SECOND).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    got
}

fn fingerprint(chain: &Path) -> String {
    run(Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(chain))
    .trim()
    .to_owned()
}

#[test]
fn a_renewed_certificate_is_served_to_new_connections_without_a_restart_and_a_mismatched_one_is_not()
 {
    let dir = scratch_dir("tls");
    let pki = Pki::new();
    let (first, first_key) = pki.issue("first", "localhost");
    let (second, second_key) = pki.issue("second", "localhost");
    let TlsDaemon {
        daemon,
        tls_port,
        chain,
        key,
    } = start_daemon(&dir, &first, &first_key);
    assert_eq!(served(tls_port, &pki, &[]), Some(fingerprint(&first)));
    assert_eq!(
        tls_exchange(tls_port, &pki, b"\r\n\r\n", 2),
        b"\r\n",
        "a CRLF ping over TLS gets a CRLF pong (RFC 5626 §4.4.1)"
    );
    // TLS 1.2 and 1.3 only: an older client gets no certificate.
    assert_eq!(
        served(tls_port, &pki, &["-tls1_1"]),
        None,
        "TLS 1.1 refused"
    );
    assert!(
        served(tls_port, &pki, &["-tls1_2"]).is_some(),
        "TLS 1.2 served"
    );

    // A renewal: key first, then the chain, as certbot swaps its links.
    install(&second_key, &key);
    install(&second, &chain);
    let deadline = Instant::now() + 10 * SECOND;
    while served(tls_port, &pki, &[]) != Some(fingerprint(&second)) {
        assert!(
            Instant::now() < deadline,
            "the renewed certificate is not served within 10 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        daemon
            .wait_for_line(2 * SECOND, |l| l.contains("TLS certificate reloaded"))
            .is_some(),
        "the reload is logged"
    );

    // A chain whose key is not the one installed: refused, the previous pair served on.
    let (third, _third_key) = pki.issue("third", "localhost");
    install(&third, &chain);
    assert!(
        daemon
            .wait_for_line(10 * SECOND, |l| l.contains("TLS certificate not reloaded")
                && l.contains("does not belong"))
            .is_some(),
        "the mismatched pair is logged as an error: {}",
        daemon.stderr()
    );
    assert_eq!(
        served(tls_port, &pki, &[]),
        Some(fingerprint(&second)),
        "the previous certificate is still served"
    );
}

#[test]
fn check_and_run_refuse_a_key_that_is_not_the_certificates_and_a_missing_file_naming_it() {
    let dir = scratch_dir("tls-check");
    let pki = Pki::new();
    let (chain, _) = pki.issue("first", "localhost");
    let (_, other_key) = pki.issue("second", "localhost");
    let missing = dir.join("nincs.pem");
    let ugyelet = |cmd: &str, key: &Path| {
        Command::new(env!("CARGO_BIN_EXE_ugyelet"))
            .arg(cmd)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("UGYELET_STATE__DIR", dir.join("state"))
            .env("UGYELET_SIP__LISTEN", "127.0.0.1:0")
            .env("UGYELET_ADMIN__LISTEN", "")
            .env("UGYELET_NOTIFY__PUBLIC_LISTEN", "")
            .env("UGYELET_TLS__LISTEN", "127.0.0.1:0")
            .env("UGYELET_TLS__CERTIFICATE", &chain)
            .env("UGYELET_TLS__KEY", key)
            .output()
            .expect("run ugyelet")
    };
    for cmd in ["check", "run"] {
        let out = ugyelet(cmd, &other_key);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{cmd}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "tls: {} does not belong to the first certificate of {}",
                other_key.display(),
                chain.display()
            )),
            "{cmd}: says which files do not match: {stderr}"
        );
        let out = ugyelet(cmd, &missing);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{cmd}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "tls: {}: expected a PEM private key",
                missing.display()
            )),
            "{cmd}: names the missing key file: {stderr}"
        );
    }
}
