//! Hostile input: one source floods the daemon with garbage and valid OPTIONS as fast as it
//! can while a resident's call goes through the menu untouched; and a host that sweeps from
//! many ports, each one slow, is limited as a whole. And a burst of honest callers at once
//! (a trunk after an outage): each is answered or refused with 503 and Retry-After, none is
//! left unheard.

mod common;

use common::*;
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

/// A baresip call that hears the welcome and the main menu; their correlation with the
/// prompts.
fn call_through_the_menu(daemon: &Daemon) -> (f64, f64) {
    let phone = Baresip::caller();
    phone.dial(&daemon.uri());
    phone.wait_event("CALL_ESTABLISHED", 10 * SECOND);
    let (w_at, w_ncc, _) = wait_for_prompt(&phone, "welcome", 0, 0, 20 * SECOND);
    let end = w_at + load_prompt("welcome").len();
    let (_, m_ncc, _) = wait_for_prompt(&phone, "main_menu", end, 0, 30 * SECOND);
    phone.hangup();
    (w_ncc, m_ncc)
}

#[test]
fn a_flooding_source_is_limited_and_a_call_still_hears_its_menu() {
    let daemon = Daemon::start(&[]);
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, answered) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let flood = {
        let (stop, sent, answered) = (Arc::clone(&stop), Arc::clone(&sent), Arc::clone(&answered));
        let port = daemon.sip_port;
        thread::spawn(move || {
            let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
            sock.set_nonblocking(true).expect("nonblocking");
            let me = sock.local_addr().expect("addr");
            let mut buf = [0u8; 4096];
            let mut n: u32 = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let msg = if n.is_multiple_of(2) {
                    options_request(me, port, n).into_bytes()
                } else {
                    format!("GARBAGE {n} \u{1}\u{2}\r\n\r\n").into_bytes()
                };
                if sock.send_to(&msg, ("127.0.0.1", port)).is_ok() {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                while sock.recv_from(&mut buf).is_ok() {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
                if n.is_multiple_of(64) {
                    // Leave the loopback queue some room; still thousands per second.
                    thread::sleep(Duration::from_millis(1));
                }
            }
        })
    };
    thread::sleep(SECOND);

    let (w_ncc, m_ncc) = call_through_the_menu(&daemon);
    stop.store(true, Ordering::Relaxed);
    flood.join().expect("flood thread");

    let (sent, answered) = (
        sent.load(Ordering::Relaxed),
        answered.load(Ordering::Relaxed),
    );
    eprintln!(
        "flood: {sent} sent, {answered} answered; welcome ncc {w_ncc:.4}, menu ncc {m_ncc:.4}"
    );
    assert!(
        w_ncc > HEARD && m_ncc > HEARD,
        "the caller's audio is intact"
    );
    assert!(sent > 20_000, "the flood was a flood: {sent}");
    assert!(
        answered < sent / 20,
        "the flooding source is mostly ignored: {answered} of {sent}"
    );
    let log = daemon.stderr();
    assert!(
        log.lines().any(
            |l| l.contains("ugyelet::security: flood_blocked ip=127.0.0.1 ")
                && l.contains(" scope=source ")
        ),
        "the block is logged as a security line with the source's full address"
    );
}

#[test]
fn a_host_sweeping_from_many_ports_is_blocked_as_a_whole_and_a_call_still_hears_its_menu() {
    let daemon = Daemon::start(&[]);
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, answered) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    // Another loopback address than the caller's, as a scanner would be another host.
    let sweep = {
        let (stop, sent, answered) = (Arc::clone(&stop), Arc::clone(&sent), Arc::clone(&answered));
        let port = daemon.sip_port;
        thread::spawn(move || {
            let socks: Vec<UdpSocket> = (0..500)
                .map(|_| {
                    let s = UdpSocket::bind("127.0.0.2:0").expect("bind 127.0.0.2");
                    s.set_nonblocking(true).expect("nonblocking");
                    s
                })
                .collect();
            let mut buf = [0u8; 4096];
            let mut n: u32 = 0;
            while !stop.load(Ordering::Relaxed) {
                // Each port sends one OPTIONS per round: a few per second per port, far
                // under the per-source limit, thousands per second from the address.
                for sock in &socks {
                    n += 1;
                    let me = sock.local_addr().expect("addr");
                    if sock
                        .send_to(options_request(me, port, n).as_bytes(), ("127.0.0.1", port))
                        .is_ok()
                    {
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                    while sock.recv_from(&mut buf).is_ok() {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                }
                thread::sleep(Duration::from_millis(100));
            }
        })
    };
    thread::sleep(3 * SECOND);

    let (w_ncc, m_ncc) = call_through_the_menu(&daemon);
    stop.store(true, Ordering::Relaxed);
    sweep.join().expect("sweep thread");

    let (sent, answered) = (
        sent.load(Ordering::Relaxed),
        answered.load(Ordering::Relaxed),
    );
    eprintln!(
        "sweep: {sent} sent, {answered} answered; welcome ncc {w_ncc:.4}, menu ncc {m_ncc:.4}"
    );
    assert!(
        w_ncc > HEARD && m_ncc > HEARD,
        "the caller's audio is intact"
    );
    assert!(sent > 20_000, "the sweep was a flood: {sent}");
    // Without the address limit every OPTIONS would be answered (each port is slow).
    assert!(
        answered < sent / 10,
        "the sweeping host is mostly ignored: {answered} of {sent}"
    );
    let log = daemon.stderr();
    assert!(
        log.lines().any(
            |l| l.contains("ugyelet::security: flood_blocked ip=127.0.0.2 ")
                && l.contains(" scope=address ")
        ),
        "the block of the whole address is logged as a security line"
    );
}

/// Sends `count` OPTIONS from a socket on `ip` over about two seconds; returns how many were
/// answered.
fn options_burst(ip: &'static str, sip_port: u16, count: u32) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        let sock = UdpSocket::bind((ip, 0)).expect("bind");
        sock.set_nonblocking(true).expect("nonblocking");
        let me = sock.local_addr().expect("addr");
        let mut buf = [0u8; 4096];
        let mut answered = 0u64;
        let drain = |answered: &mut u64, buf: &mut [u8]| {
            while sock.recv_from(buf).is_ok() {
                *answered += 1;
            }
        };
        for n in 1..=count {
            sock.send_to(
                options_request(me, sip_port, n).as_bytes(),
                ("127.0.0.1", sip_port),
            )
            .expect("send");
            drain(&mut answered, &mut buf);
            if n.is_multiple_of(20) {
                thread::sleep(Duration::from_millis(10));
            }
        }
        let until = std::time::Instant::now() + SECOND;
        while std::time::Instant::now() < until {
            drain(&mut answered, &mut buf);
            thread::sleep(Duration::from_millis(10));
        }
        answered
    })
}

#[test]
fn an_exempt_trunk_address_is_never_limited_while_other_hosts_are() {
    let daemon = Daemon::start(&[("UGYELET_SIP__RATE_LIMIT_EXEMPT", "127.0.0.3,127.0.9.0/24")]);
    // About 2,000 OPTIONS a second for two seconds from each: a busy trunk's share, and
    // eight times what one source may send.
    let trunk = options_burst("127.0.0.3", daemon.sip_port, 4000);
    let other = options_burst("127.0.0.4", daemon.sip_port, 4000);
    let (trunk, other) = (
        trunk.join().expect("trunk thread"),
        other.join().expect("other thread"),
    );
    eprintln!("answered: trunk {trunk} of 4000, other host {other} of 4000");
    assert!(trunk >= 3960, "the trunk is answered: {trunk} of 4000");
    // The burst of 100 plus 50 a second until it is blocked.
    assert!(other < 400, "another host is limited: {other} of 4000");
    let log = daemon.stderr();
    assert!(
        log.contains("SIP rate limits do not apply to these addresses")
            && log.contains("127.0.0.3/32, 127.0.9.0/24"),
        "the exemption is logged at start"
    );
    let blocked: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("flood_blocked ") && l.contains(" scope=source "))
        .collect();
    assert_eq!(blocked.len(), 1, "one source is blocked: {blocked:?}");
    assert!(
        blocked[0].contains("flood_blocked ip=127.0.0.4 port="),
        "the other host's: {blocked:?}"
    );
}

/// A column of SIPp's `-trace_counts` file (e.g. `"4_503_Recv"`), last row.
fn sipp_count(dir: &std::path::Path, column: &str) -> u64 {
    let file = std::fs::read_dir(dir)
        .expect("sipp dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("_counts.csv"))
        .expect("a -trace_counts file");
    let text = std::fs::read_to_string(&file).expect("counts file");
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(';').collect())
        .collect();
    let i = rows[0]
        .iter()
        .position(|h| *h == column)
        .unwrap_or_else(|| panic!("no column {column} in {}", file.display()));
    rows.last().expect("a row")[i]
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{column}: {e}"))
}

/// A sample of `/metrics` by its full name (with labels).
fn metric(daemon: &Daemon, name: &str) -> f64 {
    let (_, body) = http_get(daemon.admin_port, "/metrics");
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics:\n{body}"))
}

/// Datagrams the kernel dropped at a local UDP port, as `/proc/net/udp` shows them.
fn kernel_drops(port: u16) -> u64 {
    let table = std::fs::read_to_string("/proc/net/udp").expect("/proc/net/udp");
    let local = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|a| a.ends_with(&local))
        })
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn a_burst_of_callers_at_once_is_answered_or_refused_with_503_and_none_is_left_unheard() {
    const CALLERS: u64 = 300;
    // A small receive buffer and a low threshold, so that 300 INVITEs at once overflow the
    // one and pass the other: the daemon must refuse, and the kernel may drop.
    let rtp = free_ports(2 * CALLERS as u16 + 100);
    let (rtp_min, rtp_max) = (rtp + rtp % 2, rtp + 2 * CALLERS as u16 + 98);
    let daemon = Daemon::start(&[
        ("UGYELET_SIP__RATE_LIMIT_EXEMPT", "127.0.0.1"),
        ("UGYELET_SIP__UDP__RECEIVE_BUFFER_BYTES", "65536"),
        ("UGYELET_SIP__UDP__SHED_AFTER_MS", "10"),
        ("UGYELET_SIP__UDP__RETRY_AFTER_S", "1"),
        ("UGYELET_CALL__ANSWER_DELAY_MS", "0"),
        ("UGYELET_RTP__PORT_MIN", &rtp_min.to_string()),
        ("UGYELET_RTP__PORT_MAX", &rtp_max.to_string()),
    ]);
    let callers = CALLERS.to_string();
    let run = sipp(
        &scenario("caller_refused_with_503_retries_after_until_answered.xml"),
        &[
            &daemon.addr(),
            "-s",
            "ugyelet",
            "-users",
            &callers,
            "-m",
            &callers,
            "-d",
            "1000",
            "-trace_counts",
            "-max_socket",
            "2000",
            "-timeout",
            "45",
        ],
    );
    // Every INVITE sent got a final answer: 200, or 503 (with Retry-After: the scenario
    // fails a call whose 503 lacks it) after which the caller tried again.
    let invites = sipp_count(&run.dir, "1_INVITE_Sent");
    let refused = sipp_count(&run.dir, "4_503_Recv");
    let answered = sipp_count(&run.dir, "5_200_Recv");
    eprintln!(
        "burst: {invites} INVITEs for {CALLERS} callers, {answered} answered, {refused} refused, \
         {} retransmitted; files in {}",
        sipp_count(&run.dir, "1_INVITE_Retrans"),
        run.dir.display()
    );
    run.assert_success();
    assert_eq!(run.stat("SuccessfulCall(C)"), Some(callers.as_str()));
    assert_eq!(
        run.stat("FailedMaxUDPRetrans(C)"),
        Some("0"),
        "no INVITE left unanswered until the caller gave up"
    );
    assert_eq!(answered, CALLERS, "every caller got through in the end");
    assert_eq!(
        invites,
        answered + refused,
        "each INVITE got one final answer"
    );
    assert!(
        refused > 0,
        "the burst was refused in part: shedding happened"
    );

    // One more datagram, so the daemon has read the kernel's latest drop count.
    let probe = UdpSocket::bind("127.0.0.1:0").expect("bind");
    probe.set_read_timeout(Some(5 * SECOND)).expect("timeout");
    let me = probe.local_addr().expect("addr");
    probe
        .send_to(
            options_request(me, daemon.sip_port, 1).as_bytes(),
            daemon.addr(),
        )
        .expect("send");
    let mut buf = [0u8; 4096];
    probe.recv_from(&mut buf).expect("OPTIONS answered");
    assert_eq!(
        metric(&daemon, "ugyelet_calls_refused_overload_total") as u64,
        refused,
        "the daemon counts the calls it refused"
    );
    assert_eq!(
        metric(&daemon, "ugyelet_sip_udp_dropped_total") as u64,
        kernel_drops(daemon.sip_port),
        "the daemon's drop count is the kernel's"
    );
    // The kernel reports twice the buffer it granted (the rest is its bookkeeping).
    assert_eq!(
        metric(&daemon, "ugyelet_sip_udp_receive_buffer_bytes"),
        131_072.0
    );

    // Logged once per episode, start and end, not per refused call; the last episode ends
    // a second after the daemon caught up.
    let starts = |log: &str| log.matches("SIP overload: the daemon is behind").count();
    let ends = |log: &str| log.matches("SIP overload over").count();
    let until = std::time::Instant::now() + 5 * SECOND;
    let mut log = daemon.stderr();
    while ends(&log) < starts(&log) && std::time::Instant::now() < until {
        thread::sleep(Duration::from_millis(100));
        log = daemon.stderr();
    }
    let episodes = metric(&daemon, "ugyelet_sip_overload_episodes_total") as usize;
    assert!(episodes >= 1);
    assert_eq!((starts(&log), ends(&log)), (episodes, episodes), "{log}");
    assert!(
        episodes < refused as usize,
        "fewer log lines than refusals: {episodes} episodes, {refused} refused"
    );
    let total: u64 = log
        .lines()
        .filter(|l| l.contains("SIP overload over"))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("calls_refused="))?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert_eq!(total, refused, "the episodes' counts add up: {log}");
    assert_eq!(metric(&daemon, "ugyelet_sip_overloaded"), 0.0);
}
