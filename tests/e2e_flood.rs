//! Hostile input: one source floods the daemon with garbage and valid OPTIONS as fast as it
//! can while a resident's call goes through the menu untouched; and a host that sweeps from
//! many ports, each one slow, is limited as a whole.

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
