//! A client and a server transaction talking over a simulated lossy network, on virtual
//! time, with a tiny fake endpoint and TU on each side.
//!
//! Messages are short byte strings ("INVITE", "180", "200", "ACK", ...): the machines never
//! look inside them. The network is seeded (xorshift) and can lose, duplicate and delay
//! packets; random delays reorder them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::test_util::{bytes, epoch, ms};
use super::*;

/// xorshift64: deterministic randomness for the network.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // Never zero; mix the seed so adjacent seeds diverge at once.
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// True with probability `pct` percent.
    fn chance(&mut self, pct: u64) -> bool {
        self.next_u64() % 100 < pct
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Uac,
    Uas,
}

#[derive(Debug, Clone, Copy)]
struct NetConfig {
    loss_pct: u64,
    dup_pct: u64,
    min_delay_ms: u64,
    max_delay_ms: u64,
}

impl NetConfig {
    const LOSSY: NetConfig = NetConfig {
        loss_pct: 30,
        dup_pct: 10,
        min_delay_ms: 5,
        max_delay_ms: 400,
    };
    const BLACK_HOLE: NetConfig = NetConfig {
        loss_pct: 100,
        dup_pct: 0,
        min_delay_ms: 10,
        max_delay_ms: 10,
    };
    const PERFECT: NetConfig = NetConfig {
        loss_pct: 0,
        dup_pct: 0,
        min_delay_ms: 10,
        max_delay_ms: 10,
    };
}

struct Packet {
    at: Instant,
    seq: u64,
    to: Side,
    bytes: Arc<[u8]>,
}

struct Net {
    rng: XorShift,
    cfg: NetConfig,
    in_flight: Vec<Packet>,
    seq: u64,
    /// Every send: (ms since t0, destination, message).
    trace: Vec<(u64, Side, String)>,
    t0: Instant,
}

impl Net {
    fn new(t0: Instant, seed: u64, cfg: NetConfig) -> Self {
        Self {
            rng: XorShift::new(seed),
            cfg,
            in_flight: Vec::new(),
            seq: 0,
            trace: Vec::new(),
            t0,
        }
    }

    fn send(&mut self, now: Instant, to: Side, bytes: Arc<[u8]>) {
        let since = u64::try_from((now - self.t0).as_millis()).expect("fits");
        self.trace
            .push((since, to, String::from_utf8_lossy(&bytes).into_owned()));
        if self.rng.chance(self.cfg.loss_pct) {
            return;
        }
        let copies = if self.rng.chance(self.cfg.dup_pct) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = self
                .rng
                .between(self.cfg.min_delay_ms, self.cfg.max_delay_ms);
            self.seq += 1;
            self.in_flight.push(Packet {
                at: now + ms(delay),
                seq: self.seq,
                to,
                bytes: Arc::clone(&bytes),
            });
        }
    }

    fn next_delivery(&self) -> Option<Instant> {
        self.in_flight.iter().map(|p| p.at).min()
    }

    fn pop_due(&mut self, now: Instant) -> Option<Packet> {
        let i = self
            .in_flight
            .iter()
            .enumerate()
            .filter(|(_, p)| p.at <= now)
            .min_by_key(|(_, p)| (p.at, p.seq))
            .map(|(i, _)| i)?;
        Some(self.in_flight.swap_remove(i))
    }
}

fn status_of(b: &[u8]) -> Option<u16> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

fn earliest(deadlines: &[Option<Instant>]) -> Option<Instant> {
    deadlines.iter().flatten().min().copied()
}

/// INVITE → (100) → 180 → final → ACK, with a UAS TU that rings after 300 ms and sends
/// `final_status` after 1 s.
struct InviteCall {
    t0: Instant,
    cfg: TimerConfig,
    net: Net,
    final_status: u16,
    uac: ClientInvite,
    uac_events: Vec<(Instant, TxEvent)>,
    /// Responses the UAC's TU saw (PassToTu), in order.
    uac_tu_responses: Vec<u16>,
    /// ACKs for 2xx sent by the UAC core (§13.2.2.4), one per 2xx passed up.
    uac_2xx_acks: usize,
    uas: Option<ServerInvite>,
    uas_events: Vec<(Instant, TxEvent)>,
    uas_requests_to_tu: usize,
    tu_plan: Vec<(Instant, u16)>,
    uas_2xx: Option<Uas2xxRetransmitter>,
    uas_2xx_events: Vec<(Instant, TxEvent)>,
    uas_acks_to_tu: usize,
}

impl InviteCall {
    fn new(seed: u64, net: NetConfig, final_status: u16) -> Self {
        let t0 = epoch();
        let cfg = TimerConfig::default();
        Self {
            t0,
            cfg,
            net: Net::new(t0, seed, net),
            final_status,
            uac: ClientInvite::new(t0, bytes("INVITE"), false, cfg),
            uac_events: Vec::new(),
            uac_tu_responses: Vec::new(),
            uac_2xx_acks: 0,
            uas: None,
            uas_events: Vec::new(),
            uas_requests_to_tu: 0,
            tu_plan: Vec::new(),
            uas_2xx: None,
            uas_2xx_events: Vec::new(),
            uas_acks_to_tu: 0,
        }
    }

    /// Drains every machine's output into the network and the event logs.
    fn flush(&mut self, now: Instant) {
        while let Some(b) = self.uac.poll_transmit() {
            self.net.send(now, Side::Uas, b);
        }
        while let Some(e) = self.uac.poll_event() {
            self.uac_events.push((now, e));
        }
        if let Some(uas) = &mut self.uas {
            while let Some(b) = uas.poll_transmit() {
                self.net.send(now, Side::Uac, b);
            }
            while let Some(e) = uas.poll_event() {
                self.uas_events.push((now, e));
            }
        }
        if let Some(r) = &mut self.uas_2xx {
            while let Some(b) = r.poll_transmit() {
                self.net.send(now, Side::Uac, b);
            }
            while let Some(e) = r.poll_event() {
                self.uas_2xx_events.push((now, e));
            }
        }
    }

    fn uac_receives(&mut self, now: Instant, msg: &[u8]) {
        let Some(status) = status_of(msg) else {
            panic!("UAC got a request: {msg:?}");
        };
        let ack = (status >= 300).then(|| bytes("ACK-non-2xx"));
        if self.uac.state() == State::Terminated {
            assert!(
                !(200..300).contains(&status),
                "a 2xx arrived after Timer M: the UAC could no longer match it"
            );
            return;
        }
        if self.uac.handle_response(now, status, ack) == Disposition::PassToTu {
            self.uac_tu_responses.push(status);
            if (200..300).contains(&status) {
                // RFC 3261 §13.2.2.4: the UAC core ACKs every 2xx the transaction passes
                // up, re-sending the same ACK for retransmissions.
                self.uac_2xx_acks += 1;
                self.net.send(now, Side::Uas, bytes("ACK"));
            }
        }
    }

    fn uas_receives(&mut self, now: Instant, msg: &[u8]) {
        match msg {
            b"INVITE" => match &mut self.uas {
                None => {
                    self.uas = Some(ServerInvite::new(now, false, self.cfg, bytes("100")));
                    self.uas_requests_to_tu += 1;
                    self.tu_plan = vec![(now + ms(300), 180), (now + ms(1_000), self.final_status)];
                }
                Some(uas) => {
                    assert_ne!(uas.state(), State::Terminated, "INVITE after Timer L/I/H");
                    uas.handle_request_retransmit(now);
                }
            },
            b"ACK" | b"ACK-non-2xx" => {
                let live = self
                    .uas
                    .as_mut()
                    .filter(|uas| uas.state() != State::Terminated);
                let to_core = match live {
                    Some(uas) => uas.handle_ack(now) == Disposition::PassToTu,
                    // No transaction matched: a 2xx ACK goes to the UAS core.
                    None => msg == b"ACK",
                };
                if to_core
                    && let Some(r) = &mut self.uas_2xx
                    && r.handle_ack(now) == Disposition::PassToTu
                {
                    self.uas_acks_to_tu += 1;
                }
            }
            other => panic!("UAS got {other:?}"),
        }
    }

    fn run(&mut self) {
        let mut now = self.t0;
        for _ in 0..1_000_000 {
            self.flush(now);
            let next = earliest(&[
                self.uac.poll_timeout(),
                self.uas.as_ref().and_then(ServerInvite::poll_timeout),
                self.uas_2xx
                    .as_ref()
                    .and_then(Uas2xxRetransmitter::poll_timeout),
                self.net.next_delivery(),
                self.tu_plan.first().map(|(at, _)| *at),
            ]);
            let Some(next) = next else { return };
            now = next;
            if let Some(p) = self.net.pop_due(now) {
                match p.to {
                    Side::Uac => self.uac_receives(now, &p.bytes),
                    Side::Uas => self.uas_receives(now, &p.bytes),
                }
            } else if self.tu_plan.first().is_some_and(|(at, _)| *at <= now) {
                let (_, status) = self.tu_plan.remove(0);
                let response = bytes(&status.to_string());
                let uas = self
                    .uas
                    .as_mut()
                    .expect("the TU answers an existing INVITE");
                uas.send_response(now, status, Arc::clone(&response))
                    .expect("TU responses are in order");
                if (200..300).contains(&status) {
                    self.uas_2xx = Some(Uas2xxRetransmitter::new(now, response, self.cfg));
                }
            } else {
                self.uac.handle_timeout(now);
                if let Some(uas) = &mut self.uas {
                    uas.handle_timeout(now);
                }
                if let Some(r) = &mut self.uas_2xx {
                    r.handle_timeout(now);
                }
            }
        }
        panic!("simulation did not settle");
    }

    fn since(&self, at: Instant) -> Duration {
        at - self.t0
    }
}

/// BYE → 200, with a UAS TU that answers after 50 ms.
struct ByeCall {
    t0: Instant,
    cfg: TimerConfig,
    net: Net,
    uac: ClientNonInvite,
    uac_events: Vec<(Instant, TxEvent)>,
    uac_tu_responses: Vec<u16>,
    uas: Option<ServerNonInvite>,
    uas_events: Vec<(Instant, TxEvent)>,
    uas_requests_to_tu: usize,
    tu_plan: Option<Instant>,
}

impl ByeCall {
    fn new(seed: u64, net: NetConfig) -> Self {
        let t0 = epoch();
        let cfg = TimerConfig::default();
        Self {
            t0,
            cfg,
            net: Net::new(t0, seed, net),
            uac: ClientNonInvite::new(t0, bytes("BYE"), false, cfg),
            uac_events: Vec::new(),
            uac_tu_responses: Vec::new(),
            uas: None,
            uas_events: Vec::new(),
            uas_requests_to_tu: 0,
            tu_plan: None,
        }
    }

    fn flush(&mut self, now: Instant) {
        while let Some(b) = self.uac.poll_transmit() {
            self.net.send(now, Side::Uas, b);
        }
        while let Some(e) = self.uac.poll_event() {
            self.uac_events.push((now, e));
        }
        if let Some(uas) = &mut self.uas {
            while let Some(b) = uas.poll_transmit() {
                self.net.send(now, Side::Uac, b);
            }
            while let Some(e) = uas.poll_event() {
                self.uas_events.push((now, e));
            }
        }
    }

    fn run(&mut self) {
        let mut now = self.t0;
        for _ in 0..1_000_000 {
            self.flush(now);
            let next = earliest(&[
                self.uac.poll_timeout(),
                self.uas.as_ref().and_then(ServerNonInvite::poll_timeout),
                self.net.next_delivery(),
                self.tu_plan,
            ]);
            let Some(next) = next else { return };
            now = next;
            if let Some(p) = self.net.pop_due(now) {
                match p.to {
                    Side::Uac => {
                        let status = status_of(&p.bytes).expect("UAC only gets responses");
                        if self.uac.state() != State::Terminated
                            && self.uac.handle_response(now, status) == Disposition::PassToTu
                        {
                            self.uac_tu_responses.push(status);
                        }
                    }
                    Side::Uas => match &mut self.uas {
                        None => {
                            self.uas = Some(ServerNonInvite::new(now, false, self.cfg));
                            self.uas_requests_to_tu += 1;
                            self.tu_plan = Some(now + ms(50));
                        }
                        Some(uas) => {
                            assert_ne!(uas.state(), State::Terminated, "BYE after Timer J");
                            uas.handle_request_retransmit(now);
                        }
                    },
                }
            } else if self.tu_plan.is_some_and(|at| at <= now) {
                self.tu_plan = None;
                let uas = self.uas.as_mut().expect("the TU answers an existing BYE");
                uas.send_response(now, 200, bytes("200"))
                    .expect("one final response");
            } else {
                self.uac.handle_timeout(now);
                if let Some(uas) = &mut self.uas {
                    uas.handle_timeout(now);
                }
            }
        }
        panic!("simulation did not settle");
    }
}

const SEEDS: u64 = 500;

#[test]
fn invite_200_ack_on_a_perfect_network_has_the_exact_message_flow() {
    let mut call = InviteCall::new(1, NetConfig::PERFECT, 200);
    call.run();
    let trace: Vec<(u64, Side, &str)> = call
        .net
        .trace
        .iter()
        .map(|(t, s, m)| (*t, *s, m.as_str()))
        .collect();
    assert_eq!(
        trace,
        [
            (0, Side::Uas, "INVITE"),
            (210, Side::Uac, "100"),
            (310, Side::Uac, "180"),
            (1_010, Side::Uac, "200"),
            (1_020, Side::Uas, "ACK"),
        ]
    );
    assert_eq!(call.uac_tu_responses, [100, 180, 200]);
    assert_eq!(call.uas_acks_to_tu, 1);
    // Timer M from 1.02 s, Timer L from 1.01 s, both 64*T1.
    assert_eq!(
        call.uac_events
            .iter()
            .map(|(t, e)| (call.since(*t), *e))
            .collect::<Vec<_>>(),
        [(ms(33_020), TxEvent::Terminated)]
    );
    assert_eq!(
        call.uas_events
            .iter()
            .map(|(t, e)| (call.since(*t), *e))
            .collect::<Vec<_>>(),
        [(ms(33_010), TxEvent::Terminated)]
    );
}

#[test]
fn invite_200_ack_completes_across_seeds_with_30_percent_loss() {
    let mut retransmitted_2xx = 0;
    for seed in 1..=SEEDS {
        let mut call = InviteCall::new(seed, NetConfig::LOSSY, 200);
        call.run();
        assert_eq!(
            call.uas_requests_to_tu, 1,
            "seed {seed}: one INVITE to the TU"
        );
        assert_eq!(
            call.uac_tu_responses.iter().filter(|s| **s >= 200).count(),
            call.uac_2xx_acks,
            "seed {seed}: every 2xx passed up was ACKed"
        );
        assert!(
            call.uac_tu_responses.contains(&200),
            "seed {seed}: UAC never saw the 200"
        );
        assert_eq!(
            call.uas_acks_to_tu, 1,
            "seed {seed}: the ACK reached the UAS TU"
        );
        let r = call.uas_2xx.as_ref().expect("the TU answered");
        assert_eq!(r.state(), Uas2xxState::Confirmed, "seed {seed}");
        assert_eq!(call.uac.state(), State::Terminated, "seed {seed}");
        let uas = call.uas.as_ref().expect("the INVITE arrived");
        assert_eq!(uas.state(), State::Terminated, "seed {seed}");
        assert!(
            !call.uac_events.iter().any(|(_, e)| *e == TxEvent::Timeout),
            "seed {seed}: no timeout"
        );
        assert!(
            call.uas_2xx_events
                .iter()
                .all(|(_, e)| *e != TxEvent::AckNotReceived),
            "seed {seed}: no BYE needed"
        );
        retransmitted_2xx += call
            .net
            .trace
            .iter()
            .filter(|(_, s, m)| *s == Side::Uac && m == "200")
            .count()
            - 1;
    }
    assert!(
        retransmitted_2xx > 0,
        "the loss actually exercised 2xx retransmission"
    );
}

#[test]
fn invite_486_ack_completes_across_seeds_with_30_percent_loss() {
    for seed in 1..=SEEDS {
        let mut call = InviteCall::new(seed, NetConfig::LOSSY, 486);
        call.run();
        assert_eq!(
            call.uac_tu_responses.iter().filter(|s| **s == 486).count(),
            1,
            "seed {seed}: exactly one 486 to the UAC TU"
        );
        let uas = call.uas.as_ref().expect("the INVITE arrived");
        assert_eq!(uas.state(), State::Terminated, "seed {seed}");
        assert!(
            call.uas_events
                .iter()
                .all(|(_, e)| *e != TxEvent::AckTimeout),
            "seed {seed}: the ACK reached the server transaction"
        );
        assert!(call.uas_2xx.is_none());
    }
}

#[test]
fn bye_200_completes_across_seeds_with_30_percent_loss() {
    let mut retransmitted_bye: u64 = 0;
    for seed in 1..=SEEDS {
        let mut call = ByeCall::new(seed, NetConfig::LOSSY);
        call.run();
        assert_eq!(call.uas_requests_to_tu, 1, "seed {seed}: one BYE to the TU");
        assert_eq!(
            call.uac_tu_responses,
            [200],
            "seed {seed}: one 200 to the TU"
        );
        assert_eq!(call.uac.state(), State::Terminated, "seed {seed}");
        assert!(
            !call.uac_events.iter().any(|(_, e)| *e == TxEvent::Timeout),
            "seed {seed}: no timeout"
        );
        let uas = call.uas.as_ref().expect("the BYE arrived");
        assert_eq!(uas.state(), State::Terminated, "seed {seed}");
        assert_eq!(
            call.uas_events.last().map(|(_, e)| *e),
            Some(TxEvent::Terminated)
        );
        retransmitted_bye += call
            .net
            .trace
            .iter()
            .filter(|(_, s, m)| *s == Side::Uas && m == "BYE")
            .count() as u64
            - 1;
    }
    assert!(retransmitted_bye > SEEDS, "loss forced BYE retransmissions");
}

#[test]
fn invite_times_out_at_exactly_64_t1_when_every_packet_is_lost() {
    let mut call = InviteCall::new(7, NetConfig::BLACK_HOLE, 200);
    call.run();
    let sends: Vec<u64> = call.net.trace.iter().map(|(t, _, _)| *t).collect();
    assert_eq!(sends, [0, 500, 1_500, 3_500, 7_500, 15_500, 31_500]);
    assert_eq!(
        call.uac_events
            .iter()
            .map(|(t, e)| (call.since(*t), *e))
            .collect::<Vec<_>>(),
        [
            (call.cfg.t1_x64(), TxEvent::Timeout),
            (ms(32_000), TxEvent::Terminated)
        ]
    );
    assert!(call.uas.is_none());
}

#[test]
fn bye_times_out_at_exactly_64_t1_when_every_packet_is_lost() {
    let mut call = ByeCall::new(7, NetConfig::BLACK_HOLE);
    call.run();
    let sends: Vec<u64> = call.net.trace.iter().map(|(t, _, _)| *t).collect();
    assert_eq!(
        sends,
        [
            0, 500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500
        ]
    );
    assert_eq!(
        call.uac_events
            .iter()
            .map(|(t, e)| (t.duration_since(call.t0), *e))
            .collect::<Vec<_>>(),
        [
            (ms(32_000), TxEvent::Timeout),
            (ms(32_000), TxEvent::Terminated)
        ]
    );
}

#[test]
fn xorshift_is_deterministic_per_seed() {
    let a: Vec<u64> = {
        let mut r = XorShift::new(42);
        (0..4).map(|_| r.next_u64()).collect()
    };
    let b: Vec<u64> = {
        let mut r = XorShift::new(42);
        (0..4).map(|_| r.next_u64()).collect()
    };
    let c = XorShift::new(43).next_u64();
    assert_eq!(a, b);
    assert_ne!(a[0], c);
}
