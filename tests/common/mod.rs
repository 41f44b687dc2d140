//! Harness shared by the integration tests: the daemon under test, real peers (a scripted
//! baresip softphone and SIPp) and the audio checks that tell which prompt a caller heard.
//!
//! Everything here talks to 127.0.0.1 only, picks its own free ports, writes into its own
//! directory under `CARGO_TARGET_TMPDIR`, and bounds every wait, so tests run in parallel
//! and a broken daemon fails a test instead of hanging it. Files a failing test leaves
//! behind (daemon stderr, baresip log and audio dumps, SIPp traces) are kept and their
//! paths printed; a passing test removes them.
//!
//! Audio matching: a prompt is recognised in what a caller received by normalised
//! cross-correlation (NCC) over every lag, computed with an FFT so a 30 s recording is
//! searched in well under a second even in a debug build. G.711 coding noise keeps a true
//! match above about 0.9; an unrelated sentence stays far below (`tests/harness.rs` checks
//! both on real synthesised speech coded through A-law).

// Each integration test binary compiles this module and uses a different part of it.
#![allow(dead_code)]

/// Headless Chromium over WebDriver, with axe-core, for the web console's tests.
pub mod browser;
/// Running a test inside a network namespace of its own.
pub mod netns;
/// Operator accounts, softphones and speech for the tests of operators and transfers.
pub mod operators;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// Sample rate of prompts and of every recording the harness handles.
pub const RATE: usize = 8000;

/// Samples in `ms` milliseconds at [`RATE`].
pub fn ms(ms: u64) -> usize {
    (ms as usize) * RATE / 1000
}

// ---------------------------------------------------------------------------------------
// Scratch directories
// ---------------------------------------------------------------------------------------

/// A fresh directory for one daemon, softphone or SIPp run, unique across the threads of
/// this process and across concurrent test processes (the pid is in the name).
pub fn scratch_dir(what: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("e2e")
        .join(format!("{what}-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// Removes a scratch directory unless the thread is panicking (then it is kept for the
/// post-mortem and its path printed).
fn finish_dir(dir: &Path, what: &str) {
    if thread::panicking() {
        eprintln!("[harness] {what} files kept in {}", dir.display());
    } else {
        let _ = fs::remove_dir_all(dir);
    }
}

// ---------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------

/// Ports are handed out from 10000..32000: below Linux's ephemeral range (32768–60999),
/// so an outgoing socket of another process cannot take one between our check and use.
const PORT_LO: u32 = 10_000;
const PORT_HI: u32 = 32_000;

/// `n` consecutive ports on 127.0.0.1, each free for both UDP and TCP when checked.
///
/// Threads of one test process never get overlapping blocks (one atomic cursor); separate
/// test processes start at different pid-derived offsets and skip anything already bound.
pub fn free_ports(n: u16) -> u16 {
    static CURSOR: OnceLock<AtomicU32> = OnceLock::new();
    let n = u32::from(n.max(1));
    let span = PORT_HI - PORT_LO;
    let cursor = CURSOR.get_or_init(|| {
        // Spread processes over the range in 1000-port strides.
        let start = (std::process::id() * 1000) % span;
        AtomicU32::new(start)
    });
    for _ in 0..2000 {
        let at = cursor.fetch_add(n, Ordering::Relaxed) % span;
        if at + n > span {
            continue;
        }
        let base = PORT_LO + at;
        if (base..base + n).all(|p| port_is_free(p as u16)) {
            return base as u16;
        }
    }
    panic!("no block of {n} free ports in {PORT_LO}..{PORT_HI}");
}

fn port_is_free(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let any = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
    UdpSocket::bind(addr).is_ok()
        && TcpListener::bind(addr).is_ok()
        && UdpSocket::bind(any).is_ok()
        && TcpListener::bind(any).is_ok()
}

// ---------------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------------

/// Waits for `child` for at most `timeout`, killing it after that. Returns its exit code
/// (`None` if it was killed or ended by a signal).
fn wait_bounded(child: &mut Child, timeout: Duration) -> Option<i32> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.code(),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

fn signal(child: &Child, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .stderr(Stdio::null())
        .status();
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// ---------------------------------------------------------------------------------------
// The daemon under test
// ---------------------------------------------------------------------------------------

/// A running `ugyelet run` on its own SIP port and RTP range. Killed on drop; if the test
/// panicked, the path and tail of its stderr are printed.
pub struct Daemon {
    child: Child,
    /// SIP port, UDP and TCP, on 127.0.0.1.
    pub sip_port: u16,
    /// RTP port range given to the daemon (inclusive).
    pub rtp_ports: (u16, u16),
    /// Admin HTTP API port on 127.0.0.1.
    pub admin_port: u16,
    /// Public HTTP port (form downloads, delivery webhooks) on 127.0.0.1.
    pub public_port: u16,
    /// The daemon's state directory (manual override).
    pub state_dir: PathBuf,
    dir: PathBuf,
    stderr_path: PathBuf,
    /// Every setting the process got, for [`Daemon::restart`].
    env: Vec<(String, String)>,
    /// Processes started so far.
    runs: u32,
}

/// One `ugyelet run` with `env`, its output in `dir`.
fn spawn_daemon(
    dir: &Path,
    stderr_path: &Path,
    env: &[(String, String)],
    umask: Option<&str>,
) -> Child {
    let stderr = fs::File::create(stderr_path).expect("create daemon stderr file");
    let stdout = fs::File::create(dir.join("stdout.log")).expect("create daemon stdout file");
    let mut cmd = match umask {
        None => Command::new(env!("CARGO_BIN_EXE_ugyelet")),
        Some(m) => {
            let mut sh = Command::new("sh");
            sh.args(["-c", &format!("umask {m} && exec \"$0\" \"$@\"")])
                .arg(env!("CARGO_BIN_EXE_ugyelet"));
            sh
        }
    };
    cmd.arg("run")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        // The daemon finds the system's CA certificates by itself, as under systemd;
        // a developer's shell may point these elsewhere. A test sets them in `env`.
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", env!("CARGO_BIN_EXE_ugyelet")))
}

impl Daemon {
    /// Starts the daemon with fresh ports and waits until it answers OPTIONS with 200
    /// (at most 10 s). `env` comes after the harness's own settings, so it can override
    /// them (e.g. `("UGYELET_CALL__ANSWER_DELAY_MS", "5000")`).
    pub fn start(env: &[(&str, &str)]) -> Daemon {
        Daemon::start_with_umask(None, env)
    }

    /// As [`Daemon::start`], started by a shell with `umask` (e.g. "000") when given, as an
    /// admin starting it by hand from their own shell would.
    pub fn start_with_umask(umask: Option<&str>, env: &[(&str, &str)]) -> Daemon {
        let dir = scratch_dir("daemon");
        let sip_port = free_ports(1);
        // RTP ports are even (RFC 3550 §11); the daemon refuses an odd `rtp.port_min`.
        let block = free_ports(41);
        let rtp_min = block + block % 2;
        let rtp_ports = (rtp_min, rtp_min + 39);
        let admin_port = free_ports(1);
        let public_port = free_ports(1);
        // The line is staffed only a few hours a week: unless a test says otherwise, it is
        // opened by hand (the manual override), so calls reach the main menu at any hour.
        let state_dir = dir.join("state");
        fs::create_dir_all(&state_dir).expect("create state dir");
        fs::write(
            state_dir.join("override.toml"),
            "mode = \"open\"\nreason = \"test\"\n",
        )
        .expect("write override");
        let mut all: Vec<(String, String)> = vec![
            (
                "UGYELET_SIP__LISTEN".into(),
                format!("127.0.0.1:{sip_port}"),
            ),
            ("UGYELET_RTP__PORT_MIN".into(), rtp_ports.0.to_string()),
            ("UGYELET_RTP__PORT_MAX".into(), rtp_ports.1.to_string()),
            ("UGYELET_CALL__ANSWER_DELAY_MS".into(), "200".into()),
            (
                "UGYELET_ADMIN__LISTEN".into(),
                format!("127.0.0.1:{admin_port}"),
            ),
            ("UGYELET_STATE__DIR".into(), state_dir.display().to_string()),
            ("UGYELET_DIALPLAN__WATCH_INTERVAL_MS".into(), "200".into()),
            (
                "UGYELET_NOTIFY__PUBLIC_LISTEN".into(),
                format!("127.0.0.1:{public_port}"),
            ),
            (
                "UGYELET_NOTIFY__PUBLIC_BASE_URL".into(),
                format!("http://127.0.0.1:{public_port}"),
            ),
        ];
        all.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let stderr_path = dir.join("stderr.log");
        let child = spawn_daemon(&dir, &stderr_path, &all, umask);
        let mut daemon = Daemon {
            child,
            sip_port,
            rtp_ports,
            admin_port,
            public_port,
            state_dir,
            dir,
            stderr_path,
            env: all,
            runs: 1,
        };
        daemon.wait_ready(Duration::from_secs(10));
        daemon
    }

    /// Starts the daemon again, as after a reboot or `systemctl restart`: same ports,
    /// settings and state directory, a new process. The previous one must have exited
    /// ([`Daemon::kill`], or [`Daemon::terminate`] and [`Daemon::wait_exit`]). Its stderr
    /// goes to a new file, which [`Daemon::stderr`] reads from now on.
    pub fn restart(&mut self) {
        assert!(
            !self.is_running(),
            "restart: the daemon's previous process still runs"
        );
        self.runs += 1;
        self.stderr_path = self.dir.join(format!("stderr-{}.log", self.runs));
        self.child = spawn_daemon(&self.dir, &self.stderr_path, &self.env, None);
        self.wait_ready(Duration::from_secs(10));
    }

    fn wait_ready(&mut self, timeout: Duration) {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind probe socket");
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("set probe timeout");
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        let mut n = 0;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "daemon exited with {status} before answering OPTIONS; stderr ({}):\n{}",
                    self.stderr_path.display(),
                    tail(&self.stderr(), 40)
                );
            }
            n += 1;
            let options = options_request(sock.local_addr().expect("probe addr"), self.sip_port, n);
            let _ = sock.send_to(options.as_bytes(), ("127.0.0.1", self.sip_port));
            if let Ok((len, _)) = sock.recv_from(&mut buf)
                && buf[..len].starts_with(b"SIP/2.0 200")
            {
                return;
            }
        }
        panic!(
            "daemon did not answer OPTIONS with 200 within {timeout:?}; stderr ({}):\n{}",
            self.stderr_path.display(),
            tail(&self.stderr(), 40)
        );
    }

    /// The SIP URI a caller dials.
    pub fn uri(&self) -> String {
        format!("sip:ugyelet@127.0.0.1:{}", self.sip_port)
    }

    /// `127.0.0.1:<sip port>`, the remote host argument for SIPp.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.sip_port)
    }

    /// Everything the daemon wrote to stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn stderr_path(&self) -> &Path {
        &self.stderr_path
    }

    /// Waits (at most `timeout`) for a stderr line satisfying `pred` and returns it.
    pub fn wait_for_line(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.stderr().lines().find(|l| pred(l)) {
                return Some(line.to_string());
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The daemon's process still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGKILL (a crash, a power cut for everything not yet on disk) and reaps it.
    pub fn kill(&mut self) {
        signal(&self.child, "-KILL");
        let _ = wait_bounded(&mut self.child, Duration::from_secs(5));
    }

    /// Sends SIGTERM, as `systemctl stop` does.
    pub fn terminate(&self) {
        signal(&self.child, "-TERM");
    }

    /// Waits up to `timeout` for the daemon to exit by itself; its exit code, or `None` if
    /// it had to be killed.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        wait_bounded(&mut self.child, timeout)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        signal(&self.child, "-TERM");
        if wait_bounded(&mut self.child, Duration::from_secs(3)).is_none() {
            let _ = self.child.kill();
        }
        if thread::panicking() {
            eprintln!(
                "[harness] daemon stderr: {}\n--- last lines ---\n{}\n---",
                self.stderr_path.display(),
                tail(&self.stderr(), 30)
            );
        }
        finish_dir(&self.dir, "daemon");
    }
}

/// A minimal out-of-dialog OPTIONS from `from` to the daemon's port.
pub fn options_request(from: SocketAddr, port: u16, n: u32) -> String {
    format!(
        "OPTIONS sip:ugyelet@127.0.0.1:{port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK-probe-{pid}-{n};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@{from}>;tag=probe{n}\r\n\
         To: <sip:ugyelet@127.0.0.1:{port}>\r\n\
         Call-ID: probe-{pid}-{n}@127.0.0.1\r\n\
         CSeq: {n} OPTIONS\r\n\
         Accept: application/sdp\r\n\
         Content-Length: 0\r\n\r\n",
        pid = std::process::id()
    )
}

// ---------------------------------------------------------------------------------------
// baresip, a scripted softphone
// ---------------------------------------------------------------------------------------

/// One message from baresip's ctrl_tcp: an event (`CALL_ESTABLISHED`, `CALL_CLOSED`,
/// `CALL_DTMF_START`, …) or a command response (`kind == "response"`).
#[derive(Clone, Debug)]
pub struct BaresipEvent {
    pub kind: String,
    pub param: String,
    pub raw: String,
    pub at: Instant,
}

/// How a [`Baresip`] behaves.
#[derive(Clone, Debug)]
pub struct BaresipConfig {
    /// The account's user part.
    pub user: String,
    /// Answer incoming calls at once (a callee) instead of ringing until told.
    pub auto_answer: bool,
    /// Ring without answering (a callee that never picks up).
    pub manual_answer: bool,
    /// WAV (8 kHz mono 16-bit) sent to the far end; the call ends when it ends, so it must
    /// outlast the test. Defaults to 60 s of silence.
    pub source: Option<PathBuf>,
    /// Codecs offered, in order.
    pub codecs: String,
    /// Register with the daemon at this `host:port` with this password (an operator's
    /// softphone), instead of a caller's account that never registers.
    pub register: Option<(String, String)>,
    /// Write every SIP message sent and received to the log (`baresip -s`), for tests
    /// that check headers; [`Baresip::log`] reads it.
    pub sip_trace: bool,
    /// A whole `accounts` line (e.g. one the README gives), used as it is instead of the
    /// one made from `user`, `codecs`, `register` and the answer mode.
    pub account: Option<String>,
    /// Lines added to baresip's `config` (e.g. `sip_cafile …`, `module srtp.so`).
    pub extra_config: Vec<String>,
}

impl Default for BaresipConfig {
    fn default() -> Self {
        BaresipConfig {
            user: "36301234567".to_string(),
            auto_answer: false,
            manual_answer: false,
            source: None,
            codecs: "PCMA,PCMU".to_string(),
            register: None,
            sip_trace: false,
            account: None,
            extra_config: Vec::new(),
        }
    }
}

struct Inbox {
    events: Mutex<Vec<BaresipEvent>>,
    changed: Condvar,
}

/// A baresip process in its own config directory, driven over ctrl_tcp (netstrings of
/// JSON). Quit (then killed, if need be) on drop.
pub struct Baresip {
    child: Child,
    dir: PathBuf,
    snd_dir: PathBuf,
    /// SIP port on 127.0.0.1 (UDP).
    pub sip_port: u16,
    ctrl: Mutex<TcpStream>,
    inbox: Arc<Inbox>,
    token: AtomicU32,
}

impl Baresip {
    /// A caller: `sip:36301234567@127.0.0.1`, PCMA then PCMU, sending silence.
    pub fn caller() -> Baresip {
        Baresip::start(BaresipConfig::default())
    }

    /// A callee that answers at once, as `user`.
    pub fn auto_answer(user: &str) -> Baresip {
        Baresip::start(BaresipConfig {
            user: user.to_string(),
            auto_answer: true,
            ..BaresipConfig::default()
        })
    }

    pub fn start(cfg: BaresipConfig) -> Baresip {
        let dir = scratch_dir("baresip");
        let snd_dir = dir.join("snd");
        fs::create_dir_all(&snd_dir).expect("create snd dir");
        // baresip listens for SIP on UDP and TCP at the port and for SIP over TLS at the
        // port + 1, so ctrl_tcp goes to the port + 2.
        let ports = free_ports(3);
        let (sip_port, ctrl_port) = (ports, ports + 2);
        let rtp = free_ports(10);
        let source = cfg.source.clone().unwrap_or_else(silence_60s);

        let config = format!(
            "poll_method epoll\n\
             sip_listen 127.0.0.1:{sip_port}\n\
             sip_trans_def udp\n\
             net_interface 127.0.0.1\n\
             call_local_timeout 120\n\
             call_max_calls 4\n\
             audio_player aufile,{play}\n\
             audio_source aufile,{src}\n\
             audio_alert aufile,{alert}\n\
             ausrc_srate 8000\n\
             auplay_srate 8000\n\
             ausrc_channels 1\n\
             auplay_channels 1\n\
             audio_buffer 20-160\n\
             rtp_ports {rtp_lo}-{rtp_hi}\n\
             rtp_timeout 0\n\
             jitter_buffer_delay 5-10\n\
             module_path /usr/lib/baresip/modules\n\
             module g711.so\n\
             module aufile.so\n\
             module sndfile.so\n\
             module uuid.so\n\
             snd_path {snd}\n\
             module_app account.so\n\
             module_app menu.so\n\
             module ctrl_tcp.so\n\
             ctrl_tcp_listen 127.0.0.1:{ctrl_port}\n",
            play = dir.join("played.wav").display(),
            src = source.display(),
            alert = dir.join("alert.wav").display(),
            rtp_lo = rtp,
            rtp_hi = rtp + 9,
            snd = snd_dir.display(),
        );
        let config = cfg
            .extra_config
            .iter()
            .fold(config, |c, line| format!("{c}{line}\n"));
        fs::write(dir.join("config"), config).expect("write baresip config");
        let answermode = if cfg.auto_answer {
            ";answermode=auto"
        } else if cfg.manual_answer {
            ";answermode=manual"
        } else {
            ""
        };
        let account = match (&cfg.account, &cfg.register) {
            (Some(line), _) => format!("{line}\n"),
            (None, None) => format!(
                "<sip:{}@127.0.0.1>;regint=0{answermode};audio_codecs={}\n",
                cfg.user, cfg.codecs
            ),
            (None, Some((registrar, password))) => format!(
                "<sip:{}@{registrar}>;auth_pass={password};regint=600{answermode};audio_codecs={}\n",
                cfg.user, cfg.codecs
            ),
        };
        fs::write(dir.join("accounts"), account).expect("write baresip accounts");

        let log = fs::File::create(dir.join("baresip.log")).expect("create baresip log");
        let mut child = Command::new("baresip")
            .arg("-f")
            .arg(&dir)
            .args(cfg.sip_trace.then_some("-s"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup baresip log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn baresip (apt-get install baresip): {e}"));

        let deadline = Instant::now() + Duration::from_secs(10);
        let ctrl = loop {
            match TcpStream::connect(("127.0.0.1", ctrl_port)) {
                Ok(s) => break s,
                Err(e) => {
                    if Instant::now() > deadline || matches!(child.try_wait(), Ok(Some(_))) {
                        let _ = child.kill();
                        let log = fs::read_to_string(dir.join("baresip.log")).unwrap_or_default();
                        panic!("baresip ctrl_tcp on {ctrl_port} not reachable: {e}\n{log}");
                    }
                    thread::sleep(Duration::from_millis(50));
                }
            }
        };
        let inbox = Arc::new(Inbox {
            events: Mutex::new(Vec::new()),
            changed: Condvar::new(),
        });
        let reader = ctrl.try_clone().expect("clone ctrl stream");
        let inbox2 = Arc::clone(&inbox);
        thread::spawn(move || read_netstrings(reader, &inbox2));
        Baresip {
            child,
            dir,
            snd_dir,
            sip_port,
            ctrl: Mutex::new(ctrl),
            inbox,
            token: AtomicU32::new(1),
        }
    }

    /// `sip:<user>@127.0.0.1:<port>`, for dialling this softphone.
    pub fn uri(&self, user: &str) -> String {
        format!("sip:{user}@127.0.0.1:{}", self.sip_port)
    }

    /// Sends one ctrl_tcp command and waits (5 s) for its response; panics unless ok.
    pub fn command(&self, command: &str, params: Option<&str>) -> BaresipEvent {
        let token = self.token.fetch_add(1, Ordering::Relaxed).to_string();
        let mut json = format!("{{\"command\":\"{command}\"");
        if let Some(p) = params {
            let _ = write!(json, ",\"params\":\"{}\"", json_escape(p));
        }
        let _ = write!(json, ",\"token\":\"{token}\"}}");
        let frame = format!("{}:{json},", json.len());
        self.ctrl
            .lock()
            .expect("ctrl lock")
            .write_all(frame.as_bytes())
            .unwrap_or_else(|e| panic!("write {command} to baresip: {e}"));
        let resp = self.wait_for(Duration::from_secs(5), |e| {
            e.kind == "response" && json_field(&e.raw, "token").as_deref() == Some(token.as_str())
        });
        let resp = resp.unwrap_or_else(|| {
            panic!(
                "baresip did not answer {command}; events: {:?}",
                self.kinds()
            )
        });
        assert_eq!(
            json_field(&resp.raw, "ok").as_deref(),
            Some("true"),
            "baresip refused {command}: {}",
            resp.raw
        );
        resp
    }

    pub fn dial(&self, uri: &str) {
        self.command("dial", Some(uri));
    }

    /// Sends one key (RFC 4733 events by default; baresip sends the release itself).
    pub fn send_dtmf(&self, digit: char) {
        self.command("sndcode", Some(&digit.to_string()));
    }

    pub fn accept(&self) {
        self.command("accept", None);
    }

    pub fn hangup(&self) {
        self.command("hangup", None);
    }

    /// Asks baresip to quit and waits (5 s) for it to exit, killing it if need be. The
    /// audio dumps are complete afterwards.
    pub fn quit(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let json = "{\"command\":\"quit\"}";
            let frame = format!("{}:{json},", json.len());
            let _ = self
                .ctrl
                .lock()
                .expect("ctrl lock")
                .write_all(frame.as_bytes());
            wait_bounded(&mut self.child, Duration::from_secs(5));
        }
    }

    /// All messages received so far.
    pub fn events(&self) -> Vec<BaresipEvent> {
        self.inbox.events.lock().expect("inbox lock").clone()
    }

    fn kinds(&self) -> Vec<String> {
        self.events()
            .iter()
            .map(|e| format!("{}({})", e.kind, e.param))
            .collect()
    }

    /// The first message (already received or arriving within `timeout`) matching `pred`.
    pub fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&BaresipEvent) -> bool,
    ) -> Option<BaresipEvent> {
        let deadline = Instant::now() + timeout;
        let mut events = self.inbox.events.lock().expect("inbox lock");
        loop {
            if let Some(e) = events.iter().find(|e| pred(e)) {
                return Some(e.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            events = self
                .inbox
                .changed
                .wait_timeout(events, left)
                .expect("inbox lock")
                .0;
        }
    }

    /// Waits for an event of type `kind` (e.g. `CALL_ESTABLISHED`); panics with the
    /// events seen so far if none comes within `timeout`.
    pub fn wait_event(&self, kind: &str, timeout: Duration) -> BaresipEvent {
        self.wait_for(timeout, |e| e.kind == kind)
            .unwrap_or_else(|| {
                panic!(
                    "baresip saw no {kind} within {timeout:?}; events: {:?}; log: {}",
                    self.kinds(),
                    self.dir.join("baresip.log").display()
                )
            })
    }

    /// Path of the newest `dump-*-dec.wav` (audio received from the far end), if any.
    pub fn received_path(&self) -> Option<PathBuf> {
        latest_dump(&self.snd_dir, "-dec.wav")
    }

    /// Audio received from the far end so far (the dump is written as packets arrive, so
    /// this works during the call too).
    pub fn received_wav(&self) -> Vec<i16> {
        self.received_path()
            .map(|p| read_wav_lenient(&p))
            .unwrap_or_default()
    }

    /// Audio this softphone sent.
    pub fn sent_wav(&self) -> Vec<i16> {
        latest_dump(&self.snd_dir, "-enc.wav")
            .map(|p| read_wav_lenient(&p))
            .unwrap_or_default()
    }

    /// Waits until at least `samples` samples were received; returns what was received
    /// (possibly fewer, if `timeout` passed first or the call closed).
    pub fn wait_received(&self, samples: usize, timeout: Duration) -> Vec<i16> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received_wav();
            let closed = self.events().iter().any(|e| e.kind == "CALL_CLOSED");
            if got.len() >= samples || closed || Instant::now() >= deadline {
                return got;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What baresip wrote so far (with [`BaresipConfig::sip_trace`], every SIP message).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("baresip.log")).unwrap_or_default()
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        self.quit();
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!(
                "[harness] baresip events: {:?}\n[harness] baresip log: {}",
                self.kinds(),
                self.dir.join("baresip.log").display()
            );
        }
        finish_dir(&self.dir, "baresip");
    }
}

fn latest_dump(dir: &Path, suffix: &str) -> Option<PathBuf> {
    let mut dumps: Vec<PathBuf> = fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("dump-") && n.ends_with(suffix))
        })
        .collect();
    dumps.sort();
    dumps.pop()
}

/// Reads ctrl_tcp netstrings (`<len>:<json>,`) until the connection closes.
fn read_netstrings(stream: TcpStream, inbox: &Inbox) {
    let mut r = BufReader::new(stream);
    loop {
        let mut len = Vec::new();
        if r.read_until(b':', &mut len).unwrap_or(0) == 0 {
            return;
        }
        let Some(n) = std::str::from_utf8(&len[..len.len() - 1])
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
        else {
            return;
        };
        let mut body = vec![0u8; n + 1];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let raw = String::from_utf8_lossy(&body[..n]).into_owned();
        let kind = if json_field(&raw, "response").as_deref() == Some("true") {
            "response".to_string()
        } else {
            json_field(&raw, "type").unwrap_or_default()
        };
        let param = json_field(&raw, "param").unwrap_or_default();
        let event = BaresipEvent {
            kind,
            param,
            raw,
            at: Instant::now(),
        };
        inbox.events.lock().expect("inbox lock").push(event);
        inbox.changed.notify_all();
    }
}

/// The value of top-level `"key":` in a flat JSON object: a string's contents or a bare
/// literal (`true`, `42`). Enough for baresip's ctrl_tcp messages.
pub fn json_field(json: &str, key: &str) -> Option<String> {
    let pat = format!("\"{key}\":");
    let rest = json[json.find(&pat)? + pat.len()..].trim_start();
    if let Some(s) = rest.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(out),
                '\\' => match chars.next()? {
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    other => out.push(other),
                },
                c => out.push(c),
            }
        }
        None
    } else {
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        Some(rest[..end].trim().to_string())
    }
}

fn json_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

// ---------------------------------------------------------------------------------------
// SIPp
// ---------------------------------------------------------------------------------------

/// What one SIPp run left behind.
#[derive(Debug)]
pub struct SippResult {
    /// 0 all calls succeeded, 1 some failed, 97 global timeout, 99 no calls, 255 (−2)
    /// bind failure; −1 when the harness had to kill it.
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
    /// `-trace_err` output (unexpected messages), empty if none.
    pub errors: String,
    /// Header of the `-trace_stat` CSV.
    pub stat_header: Vec<String>,
    /// Rows of the `-trace_stat` CSV (one per `-fd` period, and a final one).
    pub stat_rows: Vec<Vec<String>>,
    pub dir: PathBuf,
}

impl SippResult {
    /// A column of the last statistics row, by header name (e.g. `"SuccessfulCall(C)"`).
    pub fn stat(&self, column: &str) -> Option<&str> {
        let i = self.stat_header.iter().position(|h| h == column)?;
        self.stat_rows.last()?.get(i).map(String::as_str)
    }

    /// Panics with everything useful unless SIPp exited with 0.
    pub fn assert_success(&self) {
        assert_eq!(
            self.exit_code,
            0,
            "SIPp failed (exit {}); files in {}\n--- errors ---\n{}\n--- stderr ---\n{}\n--- stdout (tail) ---\n{}",
            self.exit_code,
            self.dir.display(),
            tail(&self.errors, 60),
            tail(&self.stderr, 20),
            tail(&self.stdout, 40),
        );
    }
}

/// Runs `sipp -sf <scenario> <args>` for one call (unless `args` has `-m`) with its own
/// SIP, media and control ports, in a fresh working directory, and waits for it (its
/// `-timeout`, default 30 s, plus 10 s; then it is killed). `args` must include the
/// remote host, e.g. `daemon.addr()`.
pub fn sipp(scenario: &Path, args: &[&str]) -> SippResult {
    sipp_with_files(scenario, args, &[])
}

/// [`sipp`], with `files` (name in the working directory, source path) linked into the
/// working directory first, for scenarios that name media files relatively.
pub fn sipp_with_files(scenario: &Path, args: &[&str], files: &[(&str, &Path)]) -> SippResult {
    let scenario = scenario.to_str().expect("scenario path is UTF-8");
    let mut all = vec!["-sf", scenario];
    all.extend_from_slice(args);
    sipp_run(&all, files)
}

/// Runs `sipp <args>` as [`sipp_with_files`] does, without adding `-sf`: for built-in
/// scenarios (`-sn uas`). `-p` in `args` replaces the harness's own SIP port (the control
/// port is then `-p` + 1).
pub fn sipp_run(args: &[&str], files: &[(&str, &Path)]) -> SippResult {
    let dir = scratch_dir("sipp");
    for (name, src) in files {
        std::os::unix::fs::symlink(src, dir.join(name))
            .unwrap_or_else(|e| panic!("link {} into {}: {e}", src.display(), dir.display()));
    }
    let has = |flag: &str| args.contains(&flag);
    let sip_port = match args.iter().position(|a| *a == "-p") {
        Some(i) => args
            .get(i + 1)
            .and_then(|p| p.parse().ok())
            .expect("-p takes a port number"),
        None => free_ports(2),
    };
    // SIPp binds -mp and -mp+2 for echo and more for rtp_stream; keep a block of 10.
    let media_port = free_ports(10);
    let mut cmd = Command::new("sipp");
    cmd.current_dir(&dir)
        .args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
        .args(["-cp", &(sip_port + 1).to_string()])
        .args(["-mp", &media_port.to_string()])
        .args(["-nostdin", "-trace_err", "-timeout_error"])
        .args(["-trace_stat", "-stf", "stat.csv", "-fd", "1"])
        .args(["-error_file", "errors.log"]);
    if !has("-p") {
        cmd.args(["-p", &sip_port.to_string()]);
    }
    if !has("-m") {
        cmd.args(["-m", "1"]);
    }
    let timeout_s: u64 = match args.iter().position(|a| *a == "-timeout") {
        Some(i) => args
            .get(i + 1)
            .and_then(|t| t.trim_end_matches('s').parse().ok())
            .unwrap_or(30),
        None => {
            cmd.args(["-timeout", "30s"]);
            30
        }
    };
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(fs::File::create(dir.join("stdout.log")).expect("create sipp stdout"))
        .stderr(fs::File::create(dir.join("stderr.log")).expect("create sipp stderr"));
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn sipp (apt-get install sip-tester): {e}"));
    let exit_code = wait_bounded(&mut child, Duration::from_secs(timeout_s + 10)).unwrap_or(-1);

    let read = |name: &str| fs::read_to_string(dir.join(name)).unwrap_or_default();
    let stat = read("stat.csv");
    let mut lines = stat.lines().filter(|l| !l.trim().is_empty());
    let split = |l: &str| {
        l.split(';')
            .map(|c| c.trim().to_string())
            .collect::<Vec<_>>()
    };
    let stat_header = lines.next().map(split).unwrap_or_default();
    let stat_rows = lines.map(split).collect();
    SippResult {
        exit_code,
        stdout: read("stdout.log"),
        stderr: read("stderr.log"),
        errors: read("errors.log"),
        stat_header,
        stat_rows,
        dir,
    }
}

/// Path of a scenario in `tests/sipp/`.
pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(name)
}

// ---------------------------------------------------------------------------------------
// Prompts and audio
// ---------------------------------------------------------------------------------------

/// `prompts/hu` of the repository.
pub fn prompts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts/hu")
}

/// The file a prompt id names in `prompts/hu/manifest.toml`. Accepts the shapes a
/// manifest may take: `[prompts.<id>] file = …`, `[<id>] file = …`, `<id> = "file"`, or
/// an array of tables with `id = "<id>"` and `file = …`.
pub fn prompt_path(id: &str) -> PathBuf {
    let manifest = prompts_dir().join("manifest.toml");
    let text = fs::read_to_string(&manifest)
        .unwrap_or_else(|e| panic!("read {}: {e}", manifest.display()));
    let value: toml::Table =
        toml::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", manifest.display()));
    let file = find_prompt_file(&toml::Value::Table(value), id)
        .unwrap_or_else(|| panic!("prompt {id:?} not in {}", manifest.display()));
    prompts_dir().join(file)
}

fn find_prompt_file(v: &toml::Value, id: &str) -> Option<String> {
    match v {
        toml::Value::Table(t) => {
            match t.get(id) {
                Some(toml::Value::String(f)) => return Some(f.clone()),
                Some(toml::Value::Table(p)) if p.get("file").is_some_and(|f| f.is_str()) => {
                    return p.get("file").and_then(|f| f.as_str()).map(str::to_string);
                }
                _ => {}
            }
            if t.get("id").and_then(|i| i.as_str()) == Some(id)
                && let Some(f) = t.get("file").and_then(|f| f.as_str())
            {
                return Some(f.to_string());
            }
            t.values().find_map(|v| find_prompt_file(v, id))
        }
        toml::Value::Array(a) => a.iter().find_map(|v| find_prompt_file(v, id)),
        _ => None,
    }
}

/// Samples of a prompt, by id, from the repository's manifest. Panics unless the file is
/// 8 kHz mono 16-bit.
pub fn load_prompt(id: &str) -> Vec<i16> {
    read_wav_8k(&prompt_path(id))
}

/// Samples of an 8 kHz mono 16-bit WAV; panics on any other format.
pub fn read_wav_8k(path: &Path) -> Vec<i16> {
    let mut r =
        hound::WavReader::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let s = r.spec();
    assert!(
        s.sample_rate == 8000
            && s.channels == 1
            && s.bits_per_sample == 16
            && s.sample_format == hound::SampleFormat::Int,
        "{}: expected 8000 Hz mono 16-bit PCM, found {s:?}",
        path.display()
    );
    r.samples::<i16>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Samples of a 16-bit mono WAV that may still be being written: the `data` chunk's
/// declared size is ignored and everything after its header is taken.
pub fn read_wav_lenient(path: &Path) -> Vec<i16> {
    let bytes = fs::read(path).unwrap_or_default();
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]])
            as usize;
        if id == b"data" {
            return bytes[at + 8..]
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
        }
        at += 8 + size + (size & 1);
    }
    Vec::new()
}

/// Writes 8 kHz mono 16-bit samples to `path`.
pub fn write_wav_8k(path: &Path, samples: &[i16]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec)
        .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    for &s in samples {
        w.write_sample(s).expect("write sample");
    }
    w.finalize().expect("finalize wav");
}

/// Directory for media the harness generates once per test process.
fn media_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("e2e-media")
        .join(std::process::id().to_string());
    fs::create_dir_all(&dir).expect("create media dir");
    dir
}

/// 60 s of silence, the default audio a [`Baresip`] sends.
pub fn silence_60s() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let path = media_dir().join("silence_60s.wav");
        write_wav_8k(&path, &vec![0; 60 * RATE]);
        path
    })
    .clone()
}

/// `ms` milliseconds of the DTMF pair `low`+`high` Hz, each at −12 dBFS.
pub fn dtmf_tone(low: f64, high: f64, ms_len: u64) -> Vec<i16> {
    (0..ms(ms_len))
        .map(|i| {
            let t = i as f64 / RATE as f64;
            let v = 0.25 * (2.0 * std::f64::consts::PI * low * t).sin()
                + 0.25 * (2.0 * std::f64::consts::PI * high * t).sin();
            (v * 32767.0) as i16
        })
        .collect()
}

/// Raw A-law (what SIPp's `rtp_stream` plays) of `lead_ms` silence, a 200 ms DTMF '3'
/// (697 Hz + 1477 Hz) and 1.5 s of silence, made with sox from a WAV. Cached per length.
pub fn inband_dtmf_3_alaw(lead_ms: u64) -> PathBuf {
    let dir = media_dir();
    let al = dir.join(format!("dtmf_3_inband_{lead_ms}.al"));
    if al.exists() {
        return al;
    }
    let mut pcm = vec![0i16; ms(lead_ms)];
    pcm.extend(dtmf_tone(697.0, 1477.0, 200));
    pcm.extend(vec![0i16; ms(1500)]);
    let wav = dir.join(format!("dtmf_3_inband_{lead_ms}.{}.wav", thread_tag()));
    write_wav_8k(&wav, &pcm);
    let tmp = dir.join(format!("dtmf_3_inband_{lead_ms}.{}.al", thread_tag()));
    sox(&[
        wav.as_os_str(),
        "-r".as_ref(),
        "8000".as_ref(),
        "-c".as_ref(),
        "1".as_ref(),
        "-t".as_ref(),
        "al".as_ref(),
        tmp.as_os_str(),
    ]);
    fs::rename(&tmp, &al).expect("publish A-law file");
    al
}

fn thread_tag() -> String {
    format!("{:?}", thread::current().id())
        .chars()
        .filter(char::is_ascii_digit)
        .collect()
}

/// Runs sox with `args`; panics with its stderr on failure.
pub fn sox(args: &[&std::ffi::OsStr]) {
    let out = Command::new("sox")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run sox (apt-get install sox): {e}"));
    assert!(
        out.status.success(),
        "sox {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `samples` encoded to A-law and decoded back by sox, i.e. what a G.711 A-law leg
/// delivers.
pub fn through_alaw(samples: &[i16]) -> Vec<i16> {
    let dir = media_dir();
    let tag = format!("{}-{}", thread_tag(), samples.len());
    let wav = dir.join(format!("alaw-in-{tag}.wav"));
    let al = dir.join(format!("alaw-{tag}.al"));
    let back = dir.join(format!("alaw-out-{tag}.wav"));
    write_wav_8k(&wav, samples);
    sox(&[
        wav.as_os_str(),
        "-t".as_ref(),
        "al".as_ref(),
        al.as_os_str(),
    ]);
    sox(&[
        "-t".as_ref(),
        "al".as_ref(),
        "-r".as_ref(),
        "8000".as_ref(),
        "-c".as_ref(),
        "1".as_ref(),
        al.as_os_str(),
        "-b".as_ref(),
        "16".as_ref(),
        back.as_os_str(),
    ]);
    let out = read_wav_8k(&back);
    for p in [wav, al, back] {
        let _ = fs::remove_file(p);
    }
    out
}

/// Hungarian speech from espeak-ng at 8 kHz mono 16-bit.
pub fn espeak_hu(text: &str) -> Vec<i16> {
    let dir = media_dir();
    let tag = format!("{}-{}", thread_tag(), text.len());
    let raw = dir.join(format!("espeak-{tag}.wav"));
    let wav = dir.join(format!("espeak8k-{tag}.wav"));
    let out = Command::new("espeak-ng")
        .args(["-v", "hu", "-w"])
        .arg(&raw)
        .arg(text)
        .output()
        .unwrap_or_else(|e| panic!("run espeak-ng (apt-get install espeak-ng): {e}"));
    assert!(
        out.status.success(),
        "espeak-ng: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    sox(&[
        raw.as_os_str(),
        "-r".as_ref(),
        "8000".as_ref(),
        "-c".as_ref(),
        "1".as_ref(),
        "-b".as_ref(),
        "16".as_ref(),
        wav.as_os_str(),
    ]);
    let s = read_wav_8k(&wav);
    let _ = fs::remove_file(raw);
    let _ = fs::remove_file(wav);
    s
}

/// Where `prompt` best matches inside `received`: `(offset in samples, NCC)`, where NCC
/// is `Σ r[k+i]·p[i] / √(Σ r[k+i]² · Σ p[i]²)` maximised over every lag `k`. `None` when
/// `received` is shorter than `prompt`, `prompt` is silent, or `received` has no window
/// with at least 1/1000 of the prompt's energy.
///
/// A true match of G.711-coded speech scores above ~0.9; unrelated speech stays far below.
/// Cost: two complex FFTs of the next power of two above `received.len() + prompt.len()`.
pub fn find_prompt(received: &[i16], prompt: &[i16]) -> Option<(usize, f64)> {
    let (n, m) = (received.len(), prompt.len());
    if m == 0 || n < m {
        return None;
    }
    let pe: f64 = prompt.iter().map(|&x| f64::from(x).powi(2)).sum();
    if pe == 0.0 {
        return None;
    }
    let corr = cross_correlate(received, prompt);
    // Energy of each length-m window of `received`, from a running sum.
    let mut best: Option<(usize, f64)> = None;
    let mut we: f64 = received[..m].iter().map(|&x| f64::from(x).powi(2)).sum();
    for k in 0..=n - m {
        if k > 0 {
            we += f64::from(received[k + m - 1]).powi(2) - f64::from(received[k - 1]).powi(2);
        }
        if we > pe * 1e-3 {
            let ncc = corr[k] / (pe * we.max(0.0)).sqrt();
            if best.is_none_or(|(_, b)| ncc > b) {
                best = Some((k, ncc));
            }
        }
    }
    best
}

/// `c[k] = Σ_i r[k+i]·p[i]` for `k` in `0..=r.len()-p.len()`.
fn cross_correlate(r: &[i16], p: &[i16]) -> Vec<f64> {
    let size = (r.len() + p.len()).next_power_of_two();
    // Both real signals in one complex FFT: z = r + i·p.
    let mut z: Vec<(f64, f64)> = (0..size)
        .map(|i| {
            (
                r.get(i).map_or(0.0, |&x| f64::from(x)),
                p.get(i).map_or(0.0, |&x| f64::from(x)),
            )
        })
        .collect();
    fft(&mut z, false);
    // R[k] = (Z[k] + conj Z[-k]) / 2, P[k] = (Z[k] - conj Z[-k]) / 2i; C = R · conj P.
    let mut c = vec![(0.0, 0.0); size];
    for k in 0..size {
        let (a, b) = z[k];
        let (c2, d2) = z[(size - k) % size];
        let rk = ((a + c2) / 2.0, (b - d2) / 2.0);
        let pk = ((b + d2) / 2.0, (c2 - a) / 2.0);
        c[k] = (rk.0 * pk.0 + rk.1 * pk.1, rk.1 * pk.0 - rk.0 * pk.1);
    }
    fft(&mut c, true);
    c.iter()
        .take(r.len() - p.len() + 1)
        .map(|&(re, _)| re / size as f64)
        .collect()
}

/// In-place iterative radix-2 FFT (inverse without the 1/N scale). `a.len()` must be a
/// power of two.
fn fft(a: &mut [(f64, f64)], inverse: bool) {
    let n = a.len();
    let mut j = 0;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            a.swap(i, j);
        }
    }
    let sign = if inverse { 1.0 } else { -1.0 };
    let mut len = 2;
    while len <= n {
        let ang = sign * 2.0 * std::f64::consts::PI / len as f64;
        let half = len / 2;
        let tw: Vec<(f64, f64)> = (0..half)
            .map(|k| ((ang * k as f64).cos(), (ang * k as f64).sin()))
            .collect();
        for start in (0..n).step_by(len) {
            for k in 0..half {
                let (ur, ui) = a[start + k];
                let (vr, vi) = a[start + k + half];
                let (wr, wi) = tw[k];
                let (tr, ti) = (vr * wr - vi * wi, vr * wi + vi * wr);
                a[start + k] = (ur + tr, ui + ti);
                a[start + k + half] = (ur - tr, ui - ti);
            }
        }
        len <<= 1;
    }
}

/// Goertzel share of the energy of `x` at `freq` Hz: a pure tone scores ~1, each tone
/// of an equal-level pair ~0.5, anything else near 0.
pub fn tone_share(x: &[i16], freq: f64) -> f64 {
    let n = x.len() as f64;
    let w = 2.0 * std::f64::consts::PI * freq / RATE as f64;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    let mut energy = 0.0;
    for &v in x {
        let v = f64::from(v);
        energy += v * v;
        let s0 = v + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    if energy == 0.0 {
        return 0.0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power / (n * energy)
}

/// Sample offset of the first 40 ms window holding the DTMF pair `low`+`high`, if any.
pub fn find_dtmf(x: &[i16], low: f64, high: f64) -> Option<usize> {
    let win = ms(40);
    (0..x.len().saturating_sub(win))
        .step_by(win / 2)
        .find(|&at| {
            let w = &x[at..at + win];
            let loud = w.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / win as f64 > 1e5;
            loud && tone_share(w, low) > 0.3 && tone_share(w, high) > 0.3
        })
}

/// Map of `KEY=value` pairs in a log line (`outcome=caller_hangup`, `dur_ms=1234`).
pub fn log_fields(line: &str) -> HashMap<String, String> {
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

/// A prompt counts as heard above this NCC (G.711 keeps true matches above ~0.99 here).
pub const HEARD: f64 = 0.9;

/// Polls what `phone` received until `prompt` is found in it (from `from` on) and
/// `after` more samples arrived behind the prompt's end. Returns the prompt's offset and
/// NCC and the received audio. Panics after `timeout`.
pub fn wait_for_prompt(
    phone: &Baresip,
    id: &str,
    from: usize,
    after: usize,
    timeout: Duration,
) -> (usize, f64, Vec<i16>) {
    let prompt = load_prompt(id);
    let deadline = Instant::now() + timeout;
    let mut best = None;
    loop {
        let got = phone.received_wav();
        if got.len() > from
            && let Some((at, ncc)) = find_prompt(&got[from..], &prompt)
        {
            best = Some((from + at, ncc));
            if ncc > HEARD && got.len() >= from + at + prompt.len() + after {
                return (from + at, ncc, got);
            }
        }
        let closed = phone.events().iter().any(|e| e.kind == "CALL_CLOSED");
        assert!(
            Instant::now() < deadline && !closed,
            "prompt {id} not heard after sample {from} within {timeout:?} (call closed: \
             {closed}); best match {best:?} in {} received samples",
            got.len()
        );
        thread::sleep(Duration::from_millis(200));
    }
}

/// One HTTP/1.1 request to the admin API; returns status code and body.
pub fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("admin API reachable");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("send request");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read response");
    let status = resp
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// `GET path` on the admin API.
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    http(port, "GET", path, None)
}

// ---------------------------------------------------------------------------------------
// HTTP: a stand-in SMS gateway and a minimal client
// ---------------------------------------------------------------------------------------

/// One request as [`HttpStub`] saw it.
#[derive(Clone, Debug)]
pub struct HttpSeen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpSeen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A real HTTP/1.1 server on 127.0.0.1 standing in for an SMS gateway: records every
/// request and answers from a script (then 200 `{}`), closing each connection. Stops on
/// drop.
pub struct HttpStub {
    pub port: u16,
    seen: Arc<Mutex<Vec<HttpSeen>>>,
    script: Arc<Mutex<std::collections::VecDeque<(u16, String)>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl HttpStub {
    /// On a free port.
    pub fn start(script: &[(u16, &str)]) -> HttpStub {
        HttpStub::start_on(free_ports(1), script)
    }

    /// On `port` (e.g. one chosen earlier, so a daemon could be pointed at it while
    /// nothing listened there).
    pub fn start_on(port: u16, script: &[(u16, &str)]) -> HttpStub {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind HTTP stub");
        listener.set_nonblocking(true).expect("nonblocking");
        let stub = HttpStub {
            port,
            seen: Arc::default(),
            script: Arc::new(Mutex::new(
                script.iter().map(|(s, b)| (*s, (*b).to_owned())).collect(),
            )),
            stop: Arc::default(),
        };
        let (seen, script, stop) = (
            Arc::clone(&stub.seen),
            Arc::clone(&stub.script),
            Arc::clone(&stub.stop),
        );
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let _ = conn.set_nonblocking(false);
                        let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                        if let Some(req) = read_http_request(&conn) {
                            seen.lock().expect("lock").push(req);
                            let (status, body) = script
                                .lock()
                                .expect("lock")
                                .pop_front()
                                .unwrap_or((200, "{}".to_owned()));
                            let mut conn = conn;
                            let _ = write!(
                                conn,
                                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                                body.len()
                            );
                        }
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        stub
    }

    pub fn requests(&self) -> Vec<HttpSeen> {
        self.seen.lock().expect("lock").clone()
    }

    /// Waits (at most `timeout`) until at least `n` requests arrived; returns them all.
    pub fn wait_requests(&self, n: usize, timeout: Duration) -> Vec<HttpSeen> {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.requests();
            if seen.len() >= n || Instant::now() >= deadline {
                return seen;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for HttpStub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn read_http_request(conn: &TcpStream) -> Option<HttpSeen> {
    let mut r = BufReader::new(conn);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).ok()?;
    Some(HttpSeen {
        method,
        path,
        headers,
        body,
    })
}

/// One HTTP/1.1 request to 127.0.0.1:`port` (`Connection: close`); the status and body.
/// `bearer` adds an `Authorization` header.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
    bearer: Option<&str>,
) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("HTTP server reachable");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let body = body.unwrap_or("");
    let auth = bearer.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response has a header end");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    (status, raw[split + 4..].to_vec())
}

// ---------------------------------------------------------------------------------------
// SMTP: a real server that keeps what it receives
// ---------------------------------------------------------------------------------------

/// A Python that has aiosmtpd: Debian's first (pyenv shims may shadow it on PATH).
pub fn python_with_aiosmtpd() -> &'static str {
    for p in ["/usr/bin/python3", "python3"] {
        let ok = Command::new(p)
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return p;
        }
    }
    panic!("aiosmtpd is missing: apt-get install -y python3-aiosmtpd");
}

/// `python3 -m aiosmtpd` on 127.0.0.1 with `tests/support/smtp_sink.py` saving every
/// message as JSON (subject, body, attachments in base64). Killed on drop.
pub struct SmtpSink {
    child: Child,
    dir: PathBuf,
    pub port: u16,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        SmtpSink::start_with(&[])
    }

    /// With `tls_args` for aiosmtpd: `--tlscert C --tlskey K` (STARTTLS required) or
    /// `--smtpscert C --smtpskey K` (implicit TLS).
    pub fn start_with(tls_args: &[&std::ffi::OsStr]) -> SmtpSink {
        let dir = scratch_dir("smtp");
        let port = free_ports(1);
        let child = Command::new(python_with_aiosmtpd())
            .env(
                "PYTHONPATH",
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support"),
            )
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(tls_args)
            .args(["-c", "smtp_sink.Saver"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not start on {port}"
            );
            thread::sleep(Duration::from_millis(50));
        }
        SmtpSink { child, dir, port }
    }

    /// Daemon settings that send through this server (plain SMTP on loopback).
    pub fn daemon_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("UGYELET_NOTIFY__SMTP__HOST", "127.0.0.1".into()),
            ("UGYELET_NOTIFY__SMTP__PORT", self.port.to_string()),
            ("UGYELET_NOTIFY__SMTP__SECURITY", "none".into()),
            (
                "UGYELET_NOTIFY__SMTP__FROM",
                "Polgármesteri Hivatal <ugyelet@example.hu>".into(),
            ),
            (
                "UGYELET_NOTIFY__SMTP__OFFICE",
                "ugyfelszolgalat@example.hu".into(),
            ),
        ]
    }

    /// Every message received so far, in order.
    pub fn messages(&self) -> Vec<serde_json::Value> {
        let mut names: Vec<_> = fs::read_dir(&self.dir)
            .expect("mail dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| serde_json::from_slice(&fs::read(p).expect("read")).expect("JSON"))
            .collect()
    }

    /// Waits (at most `timeout`) for `n` messages; returns what arrived.
    pub fn wait_messages(&self, n: usize, timeout: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.messages();
            if got.len() >= n || Instant::now() >= deadline {
                return got;
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        finish_dir(&self.dir, "SMTP sink");
    }
}

/// The bytes of a saved message's attachment number `i`.
pub fn attachment_bytes(mail: &serde_json::Value, i: usize) -> Vec<u8> {
    use base64::Engine as _;
    let data = mail["attachments"][i]["data"]
        .as_str()
        .expect("attachment data");
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .expect("base64")
}

/// The call records exported by `ugyelet cdr export` from the daemon's state, as rows of
/// fields (outcome is field 5, queue wait 7, operator 8), once `pred` holds for them (10 s).
pub fn cdr_rows_when(daemon: &Daemon, pred: impl Fn(&[Vec<String>]) -> bool) -> Vec<Vec<String>> {
    let since = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date()
        .yesterday()
        .expect("a day before")
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ugyelet"))
            .args(["cdr", "export", "--since", &since])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("UGYELET_STATE__DIR", &daemon.state_dir)
            .output()
            .expect("run ugyelet cdr export");
        let csv = String::from_utf8_lossy(&out.stdout).into_owned();
        let rows: Vec<Vec<String>> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').map(str::to_owned).collect())
            .collect();
        if pred(&rows) {
            return rows;
        }
        assert!(Instant::now() < deadline, "call records: {csv}");
        std::thread::sleep(Duration::from_millis(300));
    }
}
