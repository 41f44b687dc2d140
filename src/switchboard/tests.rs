//! The switchboard on virtual time: operators register with real Digest REGISTERs, callers
//! queue, and the test plays the driver (binding "ports", numbering legs) and the phones
//! (answering, refusing, hanging up).

mod callbacks;
mod transfers;

use super::*;
use crate::clock::test_epoch;
use crate::registrar::RegistrarConfig;
use crate::sdp::offer_answer::LocalMedia;
use crate::sip::auth::DigestAuth;
use crate::sip::auth::{Algorithm, DigestConfig, ha1, response};
use crate::sip::endpoint::OutgoingCall;
use crate::sip::msg::NameAddr;
use crate::sip::msg::{Message, parse};

const REALM: &str = "ugyelet";
const S: Duration = Duration::from_secs(1);
const CALLER_1: DialogId = 1;
const CALLER_2: DialogId = 2;
/// A menu path as the shipped plan records it for "1: talk to an operator".
const OPERATOR_PATH: &str = "welcome>check_open>main_menu>operator>operator_queue";

/// What the test sees the driver do, in a form easy to compare.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Respond(u16),
    Ring {
        agent: String,
        leg: DialogId,
    },
    Cancel(DialogId),
    Hangup(DialogId),
    Answer(DialogId),
    Reject(DialogId, u16),
    Bridge {
        call: DialogId,
        leg: DialogId,
        agent: String,
    },
    NoAgents(DialogId),
    OperatorHungUp(DialogId),
    OperatorMedia(DialogId),
    Position(DialogId, u32),
    Probe,
    Crlf(u64),
    /// A callback's resident is called: the leg the "driver" gave the INVITE.
    Dial {
        number: String,
        leg: DialogId,
    },
    /// A transfer's call out through the trunk, on this leg.
    CallOut {
        number: String,
        leg: DialogId,
    },
    /// A NOTIFY of a transfer's progress to this leg, with the status it reports.
    Notify(DialogId, u16),
    /// The caller is put on hold while being passed on.
    Held(DialogId),
    /// The call goes back to its dial plan with `Failed`.
    Failed(DialogId),
    Released(DialogId),
    Relay {
        operator_leg: DialogId,
        resident_leg: DialogId,
    },
    RelayMedia(DialogId),
}

/// The switchboard with a virtual clock, playing the driver.
struct Room {
    sb: Switchboard,
    now: Instant,
    next_leg: DialogId,
    /// The INVITEs the "driver" built, by leg.
    invites: HashMap<DialogId, OutgoingCall>,
    /// Legs whose port is still held (released by `Action::Release` or handed over).
    ports: Vec<DialogId>,
    /// Operator names whose ring fails in the driver (e.g. no RTP port).
    no_port: bool,
    /// Digest nonce per operator, from the last challenge.
    cseq: u32,
    /// Ids of the NOTIFYs sent, oldest first.
    notifies: Vec<u64>,
    /// The SDP offers of resident legs, by leg.
    dial_offers: HashMap<DialogId, Vec<u8>>,
}

fn operators(list: &[(&str, &str)]) -> Operators {
    let mut text = String::new();
    for (name, location) in list {
        let h = ha1(Algorithm::Sha256, name, REALM, &password(name));
        text.push_str(&format!(
            "[[operator]]\nname = \"{name}\"\nlocation = \"{location}\"\nha1_sha256 = \"{h}\"\n\n"
        ));
    }
    Operators::parse(&text, "operators.toml").expect("test accounts parse")
}

fn password(name: &str) -> String {
    format!("jelszo-{name}")
}

fn media(port: u16) -> MediaSession {
    MediaSession::new(LocalMedia {
        addr: "127.0.0.1".parse().expect("literal"),
        port,
        session_id: 42,
        session_version: 1,
        username: "ugyelet".to_owned(),
    })
}

/// An answer from an operator's phone (PCMA, RFC 4733 on 101).
fn phone_answer(direction: &str) -> Vec<u8> {
    format!(
        "v=0\r\no=op 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio 30000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na={direction}\r\n"
    )
    .into_bytes()
}

impl Room {
    fn new(cfg: OperatorsConfig, ops: &[(&str, &str)]) -> Room {
        let t0 = test_epoch();
        let auth = DigestAuth::new(DigestConfig::default(), b"switchboard test key", t0);
        let registrar = Registrar::new(RegistrarConfig::default(), auth, t0);
        let accounts = operators(ops);
        let acd = Acd::new(acd_config(&cfg), accounts.specs(), t0);
        Room {
            sb: Switchboard::new(registrar, accounts, acd),
            now: t0,
            next_leg: 100,
            invites: HashMap::new(),
            ports: Vec::new(),
            no_port: false,
            cseq: 0,
            notifies: Vec::new(),
            dial_offers: HashMap::new(),
        }
    }

    /// Every operator in `ops` registers from its own port, answering the challenge.
    fn staffed(cfg: OperatorsConfig, ops: &[(&str, &str)]) -> Room {
        let mut room = Room::new(cfg, ops);
        for (i, (name, _)) in ops.iter().enumerate() {
            let port = 5070 + u16::try_from(i).expect("few operators");
            room.register(name, port);
            room.now += Duration::from_millis(10);
        }
        assert_eq!(room.take(), vec![], "registering alone rings nobody");
        room
    }

    fn register_request(&mut self, name: &str, port: u16, nonce: Option<&str>) -> Request {
        self.cseq += 1;
        let ruri = "sip:127.0.0.1";
        let auth = nonce.map_or(String::new(), |nonce| {
            let h = ha1(Algorithm::Sha256, name, REALM, &password(name));
            let r = response(
                Algorithm::Sha256,
                &h,
                nonce,
                "00000001",
                "cn",
                "auth",
                "REGISTER",
                ruri,
            );
            format!(
                "Authorization: Digest username=\"{name}\", realm=\"{REALM}\", nonce=\"{nonce}\", \
                 uri=\"{ruri}\", response=\"{r}\", algorithm=SHA-256, qop=auth, nc=00000001, cnonce=\"cn\"\r\n"
            )
        });
        let text = format!(
            "REGISTER {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{name}{c};rport\r\n\
             From: <sip:{name}@127.0.0.1>;tag=t{name}\r\nTo: <sip:{name}@127.0.0.1>\r\n\
             Call-ID: reg-{name}\r\nCSeq: {c} REGISTER\r\n\
             Contact: <sip:{name}@127.0.0.1:{port}>\r\n{auth}Content-Length: 0\r\n\r\n",
            c = self.cseq
        );
        match parse(text.as_bytes()) {
            Ok(Message::Request(r)) => r,
            other => panic!("test REGISTER must parse: {other:?}"),
        }
    }

    fn register(&mut self, name: &str, port: u16) {
        let src = Source {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            transport: Transport::Udp,
        };
        let req = self.register_request(name, port, None);
        self.sb.handle_register(self.now, 1, &req, src);
        let challenge = match self.sb.poll_action() {
            Some(Action::Respond { response, .. }) if response.status == 401 => response,
            other => panic!("expected a 401 challenge, found {other:?}"),
        };
        let ch = challenge
            .headers
            .get("WWW-Authenticate")
            .expect("401 carries a challenge");
        let at = ch.find("nonce=\"").expect("nonce") + 7;
        let end = ch[at..].find('"').expect("closing quote") + at;
        let nonce = ch[at..end].to_owned();
        let req = self.register_request(name, port, Some(&nonce));
        self.sb.handle_register(self.now, 2, &req, src);
        match self.sb.poll_action() {
            Some(Action::Respond { response, .. }) => {
                assert_eq!(response.status, 200, "{name} registers");
            }
            other => panic!("expected 200 to REGISTER, found {other:?}"),
        }
    }

    /// Carries out every action as the driver would; returns what it saw.
    fn take(&mut self) -> Vec<Seen> {
        let mut seen = Vec::new();
        while let Some(action) = self.sb.poll_action() {
            seen.push(match action {
                Action::Respond { response, .. } => Seen::Respond(response.status),
                Action::Crlf { conn } => Seen::Crlf(conn),
                Action::Probe { .. } => Seen::Probe,
                Action::Ring(ring) => {
                    if self.no_port {
                        self.sb
                            .ring_failed(self.now, &ring, "RTP port range exhausted");
                        continue;
                    }
                    let leg = self.next_leg;
                    self.next_leg += 1;
                    let m = media(40000 + u16::try_from(leg).expect("small"));
                    let invite = ring
                        .invite(
                            SocketAddr::from(([127, 0, 0, 1], 5060)),
                            &m,
                            Some("http://127.0.0.1:8080"),
                        )
                        .expect("an INVITE for a registered operator");
                    self.invites.insert(leg, invite);
                    self.ports.push(leg);
                    self.sb.ring_started(&ring, leg, m);
                    Seen::Ring {
                        agent: ring.agent,
                        leg,
                    }
                }
                Action::CallOut(out) => {
                    let leg = self.next_leg;
                    self.next_leg += 1;
                    let m = media(40000 + u16::try_from(leg).expect("small"));
                    self.ports.push(leg);
                    self.sb.call_out_started(self.now, &out, leg, m);
                    Seen::CallOut {
                        number: out.number,
                        leg,
                    }
                }
                Action::Cancel { leg } => Seen::Cancel(leg),
                Action::Hangup { leg } => Seen::Hangup(leg),
                Action::Answer { leg, .. } => Seen::Answer(leg),
                Action::Reject { leg, status } => Seen::Reject(leg, status),
                Action::Bridge {
                    call,
                    leg,
                    operator,
                    ..
                } => {
                    self.ports.retain(|p| *p != leg);
                    Seen::Bridge {
                        call,
                        leg,
                        agent: operator,
                    }
                }
                Action::Tell { call, news } => match news {
                    QueueNews::Left(ActionResult::NoAgents) => Seen::NoAgents(call),
                    QueueNews::OperatorHungUp => Seen::OperatorHungUp(call),
                    QueueNews::OperatorMedia(_) => Seen::OperatorMedia(call),
                    QueueNews::Position { position, .. } => Seen::Position(call, position),
                    QueueNews::Held => Seen::Held(call),
                    QueueNews::Left(ActionResult::Failed) => Seen::Failed(call),
                    QueueNews::Released => Seen::Released(call),
                    other => panic!("unexpected news {other:?}"),
                },
                Action::Release { leg } => {
                    self.ports.retain(|p| *p != leg);
                    continue;
                }
                Action::Notify {
                    leg, id, status, ..
                } => {
                    self.notifies.push(id);
                    Seen::Notify(leg, status)
                }
                Action::Dial(dial) => {
                    if self.no_port {
                        self.sb
                            .dial_failed(self.now, &dial, "RTP port range exhausted");
                        continue;
                    }
                    let leg = self.next_leg;
                    self.next_leg += 1;
                    let m = media(40000 + u16::try_from(leg).expect("small"));
                    self.dial_offers.insert(leg, dial.offer(&m));
                    self.ports.push(leg);
                    self.sb.dial_started(self.now, &dial, leg, m);
                    Seen::Dial {
                        number: dial.number,
                        leg,
                    }
                }
                Action::Relay {
                    operator_leg,
                    resident_leg,
                    ..
                } => {
                    self.ports
                        .retain(|p| *p != operator_leg && *p != resident_leg);
                    Seen::Relay {
                        operator_leg,
                        resident_leg,
                    }
                }
                Action::RelayMedia { leg, .. } => Seen::RelayMedia(leg),
            });
        }
        seen
    }

    /// Moves virtual time on by `d`, running every deadline on the way in order.
    fn advance(&mut self, d: Duration) -> Vec<Seen> {
        let until = self.now + d;
        let mut seen = Vec::new();
        while let Some(t) = self.sb.poll_timeout().filter(|t| *t <= until) {
            self.now = t.max(self.now);
            self.sb.handle_timeout(self.now);
            // Keep-alives have a test of their own.
            seen.extend(self.take().into_iter().filter(|s| *s != Seen::Probe));
        }
        self.now = until;
        seen
    }

    fn enqueue(&mut self, call: DialogId) -> Vec<Seen> {
        self.enqueue_from(
            call,
            "+36301234567",
            OPERATOR_PATH,
            "Főmenü › Ügyintéző",
            "Főmenü",
        )
    }

    fn enqueue_from(
        &mut self,
        call: DialogId,
        number: &str,
        path: &str,
        path_label: &str,
        topic: &str,
    ) -> Vec<Seen> {
        self.sb.handle_enqueue(
            self.now,
            call,
            "default",
            Caller {
                number: number.to_owned(),
                path: path.to_owned(),
                path_label: path_label.to_owned(),
                topic: topic.to_owned(),
            },
            Codec::Pcma,
        );
        self.take()
    }
}

fn ring(agent: &str, leg: DialogId) -> Seen {
    Seen::Ring {
        agent: agent.to_owned(),
        leg,
    }
}

fn bridge(call: DialogId, leg: DialogId, agent: &str) -> Seen {
    Seen::Bridge {
        call,
        leg,
        agent: agent.to_owned(),
    }
}

fn quiet() -> OperatorsConfig {
    OperatorsConfig {
        // No position announcements in the way of what a test looks at.
        announce_every_s: 10_000,
        ..OperatorsConfig::default()
    }
}

#[test]
fn waiting_call_rings_the_registered_operator_with_caller_and_path() {
    let mut room = Room::staffed(quiet(), &[("anna", "on_site")]);
    assert_eq!(room.enqueue(CALLER_1), vec![ring("anna", 100)]);
    let invite = &room.invites[&100];
    assert_eq!(invite.dst, SocketAddr::from(([127, 0, 0, 1], 5070)));
    assert_eq!(invite.request_uri.to_string(), "sip:anna@127.0.0.1:5070");
    assert_eq!(
        invite.from.display.as_deref(),
        Some("Főmenü · +36 30 123 4567")
    );
    assert_eq!(
        invite.from.uri.to_string(),
        "sip:+36301234567@127.0.0.1:5060"
    );
    assert_eq!(
        invite.headers,
        vec![
            ("X-Ugyelet-Path".to_owned(), OPERATOR_PATH.to_owned()),
            (
                "Call-Info".to_owned(),
                format!("<http://127.0.0.1:8080/ugyelet?hivas={CALLER_1}>;purpose=info")
            ),
        ]
    );
    let offer = String::from_utf8_lossy(&invite.sdp).into_owned();
    assert!(
        offer.contains("m=audio 40100 RTP/AVP 8 0 101"),
        "caller's codec first: {offer}"
    );
}

#[test]
fn operator_answer_bridges_the_call_and_hands_over_the_legs_port() {
    let mut room = Room::staffed(quiet(), &[("anna", "on_site")]);
    room.enqueue(CALLER_1);
    room.now += 3 * S;
    room.sb.answered(room.now, 100, &phone_answer("sendrecv"));
    assert_eq!(room.take(), vec![bridge(CALLER_1, 100, "anna")]);
    assert!(room.ports.is_empty(), "the port went to the call");
}

#[test]
fn no_answer_within_ring_timeout_cancels_and_rings_the_next_operator() {
    let mut room = Room::staffed(quiet(), &[("anna", "on_site"), ("bela", "on_site")]);
    assert_eq!(room.enqueue(CALLER_1), vec![ring("anna", 100)]);
    // 20 s of ringing (the default ring timeout) and not a moment less.
    assert_eq!(room.advance(Duration::from_millis(19_999)), vec![]);
    assert_eq!(
        room.advance(Duration::from_millis(1)),
        vec![Seen::Cancel(100), ring("bela", 101)]
    );
    assert_eq!(
        room.ports,
        vec![101],
        "the cancelled leg's port is released"
    );
    // The CANCEL's 487 arrives later: the queue already knows.
    room.sb.failed(room.now, 100, 487);
    assert_eq!(room.take(), vec![]);
}

#[test]
fn busy_operator_is_passed_over_at_once() {
    let mut room = Room::staffed(quiet(), &[("anna", "on_site"), ("bela", "on_site")]);
    room.enqueue(CALLER_1);
    room.now += S;
    room.sb.failed(room.now, 100, 486);
    assert_eq!(room.take(), vec![ring("bela", 101)]);
    assert_eq!(room.ports, vec![101]);
}

#[test]
fn on_site_operators_ring_first_and_teleworkers_on_overflow() {
    let mut room = Room::staffed(quiet(), &[("tele", "remote"), ("anna", "on_site")]);
    assert_eq!(room.enqueue(CALLER_1), vec![ring("anna", 100)]);
    room.sb.answered(room.now, 100, &phone_answer("sendrecv"));
    room.take();
    // The only on-site operator is on a call: the teleworker rings once the second caller
    // has waited the overflow time (30 s), not before.
    assert_eq!(room.enqueue(CALLER_2), vec![]);
    assert_eq!(room.advance(Duration::from_millis(29_999)), vec![]);
    assert_eq!(
        room.advance(Duration::from_millis(1)),
        vec![ring("tele", 101)]
    );
}

#[test]
fn silent_keepalive_makes_the_operator_unreachable() {
    let mut room = Room::staffed(quiet(), &[("anna", "on_site")]);
    // The UDP keep-alive period (25 s by default).
    room.now += Duration::from_secs(25);
    room.sb.handle_timeout(room.now);
    let probe = match room.sb.poll_action() {
        Some(Action::Probe { probe, target, .. }) => {
            assert_eq!(target.addr, SocketAddr::from(([127, 0, 0, 1], 5070)));
            probe
        }
        other => panic!("expected an OPTIONS keep-alive, found {other:?}"),
    };
    // No response (Timer F): the binding is gone, so a caller finds nobody.
    room.sb.probe_result(room.now, probe, None);
    assert_eq!(room.take(), vec![]);
    assert_eq!(room.enqueue(CALLER_1), vec![Seen::NoAgents(CALLER_1)]);
}

#[test]
fn caller_hanging_up_while_the_operator_rings_cancels_the_ring() {
    let mut room = Room::staffed(quiet(), &[("anna", "on_site")]);
    room.enqueue(CALLER_1);
    room.now += 2 * S;
    room.sb.call_gone(room.now, CALLER_1);
    assert_eq!(room.take(), vec![Seen::Cancel(100)]);
    assert!(room.ports.is_empty());
    // The phone answered at the same moment: too late, the leg is already gone.
    room.sb.answered(room.now, 100, &phone_answer("sendrecv"));
    assert_eq!(room.take(), vec![]);
}

#[test]
fn operator_hanging_up_ends_the_callers_leg_and_frees_the_operator() {
    let mut room = Room::staffed(quiet(), &[("anna", "on_site")]);
    room.enqueue(CALLER_1);
    room.sb.answered(room.now, 100, &phone_answer("sendrecv"));
    room.take();
    room.now += 60 * S;
    room.sb.ended(room.now, 100);
    assert_eq!(room.take(), vec![Seen::OperatorHungUp(CALLER_1)]);
    // After wrap-up (10 s) the operator takes the next caller.
    room.enqueue(CALLER_2);
    let seen = room.advance(Duration::from_secs(10));
    assert_eq!(seen, vec![ring("anna", 101)]);
}

#[test]
fn caller_hanging_up_while_bridged_sends_bye_to_the_operator() {
    let mut room = Room::staffed(quiet(), &[("anna", "on_site")]);
    room.enqueue(CALLER_1);
    room.sb.answered(room.now, 100, &phone_answer("sendrecv"));
    room.take();
    room.now += 30 * S;
    room.sb.call_gone(room.now, CALLER_1);
    assert_eq!(room.take(), vec![Seen::Hangup(100)]);
    assert!(!room.sb.owns(100));
}

#[test]
fn operator_hold_reinvite_is_answered_with_the_next_version_and_told_to_the_call() {
    let mut room = Room::staffed(quiet(), &[("anna", "on_site")]);
    room.enqueue(CALLER_1);
    room.sb.answered(room.now, 100, &phone_answer("sendrecv"));
    room.take();
    room.sb.reinvite(100, &phone_answer("sendonly"));
    let mut answered = None;
    let mut seen = Vec::new();
    while let Some(a) = room.sb.poll_action() {
        match a {
            Action::Answer { leg, sdp } => {
                answered = Some(String::from_utf8_lossy(&sdp).into_owned());
                seen.push(Seen::Answer(leg));
            }
            Action::Tell {
                call,
                news: QueueNews::OperatorMedia(n),
            } => {
                assert_eq!(n.direction, crate::sdp::offer_answer::Direction::RecvOnly);
                seen.push(Seen::OperatorMedia(call));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, vec![Seen::Answer(100), Seen::OperatorMedia(CALLER_1)]);
    let sdp = answered.expect("an answer");
    assert!(sdp.contains("o=ugyelet 42 2 IN IP4"), "version 2: {sdp}");
    assert!(sdp.contains("a=recvonly"), "{sdp}");
    assert!(sdp.contains("m=audio 40100 "), "same port: {sdp}");
}

#[test]
fn unusable_reinvite_from_the_operator_is_refused_and_keeps_the_session() {
    let mut room = Room::staffed(quiet(), &[("anna", "on_site")]);
    room.enqueue(CALLER_1);
    room.sb.answered(room.now, 100, &phone_answer("sendrecv"));
    room.take();
    room.sb.reinvite(100, b"v=0\r\nthis is not SDP");
    assert_eq!(room.take(), vec![Seen::Reject(100, 400)]);
    room.sb.reinvite(100, &phone_answer("sendrecv"));
    let sdp = match room.sb.poll_action() {
        Some(Action::Answer { sdp, .. }) => String::from_utf8_lossy(&sdp).into_owned(),
        other => panic!("expected an answer, found {other:?}"),
    };
    assert!(
        sdp.contains("o=ugyelet 42 2 IN IP4"),
        "a refused offer uses up no version: {sdp}"
    );
}

#[test]
fn rings_the_driver_cannot_place_leave_the_caller_waiting() {
    let mut room = Room::staffed(quiet(), &[("anna", "on_site"), ("bela", "on_site")]);
    room.no_port = true;
    // Both rings fail in the driver: nobody rings, nothing is held, the caller waits on.
    assert_eq!(room.enqueue(CALLER_1), vec![]);
    assert!(room.ports.is_empty());
    assert_eq!(room.sb.acd().waiting(room.now).len(), 1);
    // Ports free again: the next attempt reaches an operator.
    room.no_port = false;
    let seen = room.advance(Duration::from_secs(60));
    assert!(
        seen.iter().any(|s| matches!(s, Seen::Ring { .. })),
        "{seen:?}"
    );
}

#[test]
fn nobody_registered_gives_the_call_back_to_the_plan() {
    let mut room = Room::new(quiet(), &[("anna", "on_site")]);
    assert_eq!(room.enqueue(CALLER_1), vec![Seen::NoAgents(CALLER_1)]);
}

#[test]
fn paused_operator_is_not_rung_and_unpausing_rings_them() {
    let mut room = Room::staffed(quiet(), &[("anna", "on_site")]);
    room.sb
        .agent_op(room.now, "anna", AgentOp::Pause("ebéd".to_owned()))
        .expect("known operator");
    assert!(room.sb.take_changed());
    let seen = room.enqueue(CALLER_1);
    assert!(
        !seen.iter().any(|s| matches!(s, Seen::Ring { .. })),
        "{seen:?}"
    );
    room.sb
        .agent_op(room.now, "anna", AgentOp::Unpause)
        .expect("known operator");
    assert_eq!(room.take(), vec![ring("anna", 100)]);
    assert_eq!(
        room.sb.agent_op(room.now, "zoltan", AgentOp::Login),
        Err("expected an operator name (known: anna), found \"zoltan\"".to_owned())
    );
}

#[test]
fn waiting_caller_hears_its_position_on_the_announcement_period() {
    let cfg = OperatorsConfig {
        announce_every_s: 45,
        ..OperatorsConfig::default()
    };
    let mut room = Room::staffed(cfg, &[("anna", "on_site")]);
    room.enqueue(CALLER_1);
    room.enqueue(CALLER_2);
    let seen = room.advance(Duration::from_secs(45));
    assert!(seen.contains(&Seen::Position(CALLER_1, 1)), "{seen:?}");
    assert!(seen.contains(&Seen::Position(CALLER_2, 2)), "{seen:?}");
}

#[test]
fn shutdown_cancels_ringing_legs_and_hangs_up_bridged_ones() {
    let mut room = Room::staffed(quiet(), &[("anna", "on_site"), ("bela", "on_site")]);
    room.enqueue(CALLER_1);
    room.sb.answered(room.now, 100, &phone_answer("sendrecv"));
    room.take();
    assert_eq!(room.enqueue(CALLER_2), vec![ring("bela", 101)]);
    assert_eq!(room.sb.shutdown(room.now), 2);
    assert_eq!(room.take(), vec![Seen::Hangup(100), Seen::Cancel(101)]);
    assert!(room.ports.is_empty());
}

#[test]
fn operator_states_are_handed_out_for_saving_only_when_they_change() {
    let mut room = Room::staffed(quiet(), &[("anna", "on_site")]);
    assert_eq!(room.sb.states_to_save(), None);
    room.sb
        .agent_op(room.now, "anna", AgentOp::Logout)
        .expect("known operator");
    let saved = room.sb.states_to_save().expect("logout changed the state");
    assert_eq!(room.sb.states_to_save(), None);
    let json = serde_json::to_string(&saved).expect("serializes");
    assert!(json.contains("anna"), "{json}");
}

#[test]
fn feature_code_without_credentials_is_challenged_and_unknown_code_refused() {
    let mut room = Room::staffed(quiet(), &[("anna", "on_site")]);
    let invite = |user: &str| -> Request {
        let text = format!(
            "INVITE sip:{user}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKf1\r\n\
             From: <sip:anna@127.0.0.1>;tag=a\r\nTo: <sip:{user}@127.0.0.1>\r\nCall-ID: f1\r\n\
             CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        );
        match parse(text.as_bytes()) {
            Ok(Message::Request(r)) => r,
            other => panic!("test INVITE must parse: {other:?}"),
        }
    };
    let src = SocketAddr::from(([127, 0, 0, 1], 5070));
    assert!(matches!(
        room.sb.feature_code(room.now, &invite("*21"), src, None),
        Feature::Challenge(_)
    ));
    assert_eq!(
        room.sb.feature_code(room.now, &invite("*99"), src, None),
        Feature::Refuse(404)
    );
    assert_eq!(
        room.sb
            .feature_code(room.now, &invite("ugyelet"), src, None),
        Feature::No
    );
    // An operator's name is a colleague call, challenged, only from where an operator's
    // phone registered; from elsewhere it is dialled like any name, so it tells nothing.
    assert!(matches!(
        room.sb.feature_code(room.now, &invite("anna"), src, None),
        Feature::Challenge(_)
    ));
    let elsewhere = SocketAddr::from(([198, 51, 100, 7], 5060));
    assert_eq!(
        room.sb
            .feature_code(room.now, &invite("anna"), elsewhere, None),
        room.sb
            .feature_code(room.now, &invite("nincsilyen"), elsewhere, None),
    );
    assert_eq!(
        room.sb
            .feature_code(room.now, &invite("anna"), elsewhere, None),
        Feature::No
    );
}

#[test]
fn a_require_secure_operators_own_call_is_refused_when_plain_but_only_once_authenticated() {
    let mut room = Room::staffed(quiet(), &[("erika", "remote")]);
    let h = ha1(Algorithm::Sha256, "erika", REALM, &password("erika"));
    let text = format!(
        "[[operator]]\nname = \"erika\"\nlocation = \"remote\"\nrequire_secure = true\n\
         ha1_sha256 = \"{h}\"\n"
    );
    let accounts = Operators::parse(&text, "operators.toml").expect("accounts parse");
    room.sb.set_accounts(room.now, accounts);
    let ruri = "sip:*23@127.0.0.1";
    let invite = |auth: &str| -> Request {
        let text = format!(
            "INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKs1\r\n\
             From: <sip:erika@127.0.0.1>;tag=a\r\nTo: <{ruri}>\r\nCall-ID: s1\r\n\
             CSeq: 1 INVITE\r\n{auth}Content-Length: 0\r\n\r\n"
        );
        match parse(text.as_bytes()) {
            Ok(Message::Request(r)) => r,
            other => panic!("test INVITE must parse: {other:?}"),
        }
    };
    let src = SocketAddr::from(([127, 0, 0, 1], 5070));
    let udp = Some(Insecure::Transport("UDP"));
    // Without credentials: the challenge anyone gets, secure or not.
    let Feature::Challenge(ch) = room.sb.feature_code(room.now, &invite(""), src, udp) else {
        panic!("challenged first")
    };
    let c = ch
        .iter()
        .find(|c| c.contains("SHA-256"))
        .expect("a SHA-256 challenge");
    let at = c.find("nonce=\"").expect("nonce") + 7;
    let nonce = &c[at..at + c[at..].find('"').expect("nonce ends")];
    let auth = |nc: &str| {
        let r = response(
            Algorithm::Sha256,
            &h,
            nonce,
            nc,
            "cn",
            "auth",
            "INVITE",
            ruri,
        );
        format!(
            "Authorization: Digest username=\"erika\", realm=\"{REALM}\", nonce=\"{nonce}\", \
             uri=\"{ruri}\", response=\"{r}\", algorithm=SHA-256, qop=auth, nc={nc}, cnonce=\"cn\"\r\n"
        )
    };
    // Authenticated over UDP: 403; over TLS with plain RTP: 488; nothing done either time.
    assert_eq!(
        room.sb
            .feature_code(room.now, &invite(&auth("00000001")), src, udp),
        Feature::NotSecure(403)
    );
    assert_eq!(
        room.sb.feature_code(
            room.now,
            &invite(&auth("00000002")),
            src,
            Some(Insecure::PlainRtp)
        ),
        Feature::NotSecure(488)
    );
    assert_eq!(board_json(&room)["operators"][0]["state"], "available");
    // Over TLS with SRTP: the pause is taken.
    assert_eq!(
        room.sb
            .feature_code(room.now, &invite(&auth("00000003")), src, None),
        Feature::Done
    );
}

/// The operator board as the admin API serves it.
fn board_json(room: &Room) -> serde_json::Value {
    room.sb.view(room.now)
}

fn operator<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["operators"]
        .as_array()
        .and_then(|ops| ops.iter().find(|o| o["name"] == name))
        .unwrap_or_else(|| panic!("operator {name} on the board: {v}"))
}

#[test]
fn board_shows_each_waiting_caller_with_number_and_menu_path_beside_the_queue_fields() {
    let mut room = Room::staffed(quiet(), &[("anna", "on_site")]);
    room.enqueue(CALLER_1);
    room.now += 5 * S;
    room.enqueue_from(
        CALLER_2,
        "+3623444555",
        "welcome>check_open>main_menu>forms_menu>email_by_operator>operator>operator_queue",
        "Főmenü › Nyomtatványok › Nyomtatvány e-mailben › Ügyintéző",
        "Nyomtatvány e-mailben",
    );
    room.now += 2 * S;
    let v = board_json(&room);
    assert_eq!(
        v["waiting"],
        serde_json::json!([
            {
                "call": CALLER_1, "queue": "default", "position": 1, "waited_s": 7,
                "ringing": ["anna"],
                "caller": "+36301234567", "caller_display": "+36 30 123 4567",
                "path": OPERATOR_PATH, "path_label": "Főmenü › Ügyintéző",
            },
            {
                "call": CALLER_2, "queue": "default", "position": 2, "waited_s": 2,
                "ringing": [],
                "caller": "+3623444555", "caller_display": "+36 23 444 555",
                "path": "welcome>check_open>main_menu>forms_menu>email_by_operator>operator>operator_queue",
                "path_label": "Főmenü › Nyomtatványok › Nyomtatvány e-mailben › Ügyintéző",
            },
        ])
    );
    // The operator rows keep what scripts read; nobody is on a call yet.
    let anna = operator(&v, "anna");
    assert_eq!(anna["state"], "ringing");
    assert_eq!(anna["location"], "on_site");
    assert_eq!(anna["current_call"], serde_json::Value::Null);
}

#[test]
fn operator_on_a_call_shows_whose_call_it_is_and_for_how_long_until_it_ends() {
    let mut room = Room::staffed(quiet(), &[("anna", "on_site"), ("bela", "on_site")]);
    room.enqueue_from(CALLER_1, "", OPERATOR_PATH, "Főmenü › Ügyintéző", "Főmenü");
    let leg = room.invites.keys().copied().max().expect("a phone rings");
    room.now += 3 * S;
    room.sb.answered(room.now, leg, &phone_answer("sendrecv"));
    room.take();
    room.now += 42 * S;
    let v = board_json(&room);
    let who = v["operators"]
        .as_array()
        .expect("operators")
        .iter()
        .find(|o| o["state"] == "on_call")
        .expect("the operator who answered is on the call");
    assert_eq!(
        who["current_call"],
        serde_json::json!({
            "call": CALLER_1,
            "caller": "", "caller_display": "rejtett szám",
            "path": OPERATOR_PATH, "path_label": "Főmenü › Ügyintéző",
            "on_call_s": 42,
        })
    );
    assert_eq!(
        v["waiting"],
        serde_json::json!([]),
        "answered: no longer waiting"
    );
    let other = if who["name"] == "anna" {
        "bela"
    } else {
        "anna"
    };
    assert_eq!(operator(&v, other)["current_call"], serde_json::Value::Null);

    room.sb.ended(room.now, leg);
    room.take();
    let v = board_json(&room);
    let name = who["name"].as_str().expect("name");
    assert_eq!(operator(&v, name)["current_call"], serde_json::Value::Null);
}

#[test]
fn register_answers_are_counted_by_status_for_the_metrics() {
    let room = Room::staffed(quiet(), &[("anna", "on_site")]);
    let board = room.sb.board(room.now);
    // Room::staffed registered anna: one challenge, one 200.
    assert_eq!(board.register_responses.get(&401), Some(&1));
    assert_eq!(board.register_responses.get(&200), Some(&1));
    let text = crate::metrics::render_operators(&room.sb.view(room.now));
    assert!(
        text.contains("ugyelet_register_responses_total{status=\"401\"} 1\n"),
        "{text}"
    );
}

/// The From header of an INVITE built for this caller, as it goes on the wire.
fn from_header(topic: &str, number: &str, console: Option<&str>) -> (String, OutgoingCall) {
    let ring = Ring {
        call: 7,
        agent: "anna".to_owned(),
        target: Source {
            addr: SocketAddr::from(([127, 0, 0, 1], 5070)),
            transport: Transport::Udp,
        },
        contact: Uri::parse("sip:anna@127.0.0.1:5070").expect("uri"),
        codecs: [Codec::Pcma, Codec::Pcmu],
        caller: number.to_owned(),
        path: OPERATOR_PATH.to_owned(),
        topic: topic.to_owned(),
    };
    let invite = ring
        .invite(
            SocketAddr::from(([127, 0, 0, 1], 5060)),
            &media(40000),
            console,
        )
        .expect("an INVITE");
    (invite.from.to_string(), invite)
}

#[test]
fn display_name_is_topic_and_grouped_number_and_quotes_and_backslashes_are_escaped() {
    let (from, _) = from_header("Nyomtatványok", "+36301234567", None);
    assert_eq!(
        from,
        "\"Nyomtatványok · +36 30 123 4567\" <sip:+36301234567@127.0.0.1:5060>"
    );
    // A label with quotes and a backslash: each is a quoted-pair (RFC 3261 §25.1), and
    // the header reads back as the same text.
    let (from, invite) = from_header(r#"A "kék" \ B"#, "+3612345678", None);
    assert_eq!(
        from,
        r#""A \"kék\" \\ B · +36 1 234 5678" <sip:+3612345678@127.0.0.1:5060>"#
    );
    let back = NameAddr::parse(&from).expect("the printed From parses");
    assert_eq!(back.display, invite.from.display);
    assert_eq!(
        back.display.as_deref(),
        Some(r#"A "kék" \ B · +36 1 234 5678"#)
    );
}

#[test]
fn hidden_number_reads_rejtett_szam_and_its_user_is_anonymous() {
    let (from, _) = from_header("Főmenü", "", None);
    assert_eq!(
        from,
        "\"Főmenü · rejtett szám\" <sip:anonymous@127.0.0.1:5060>"
    );
    // Something that is not a number is shown, but not made a URI user.
    let (from, _) = from_header("", "Kovács \"Józsi\"", None);
    assert_eq!(from, r#""Kovács \"Józsi\"" <sip:anonymous@127.0.0.1:5060>"#);
}

#[test]
fn long_topic_is_cut_with_an_ellipsis_and_line_breaks_become_spaces() {
    let long = "Építési engedély, használatbavételi engedély és fakivágás";
    let name = operator_display_name(long, "+36301234567");
    let (topic, number) = name.split_once(TOPIC_SEPARATOR).expect("separator");
    assert_eq!(topic, "Építési engedély, használatbavé…");
    assert_eq!(topic.chars().count(), TOPIC_MAX_CHARS);
    assert_eq!(number, "+36 30 123 4567");
    // Exactly the limit is kept whole.
    let exact: String = "á".repeat(TOPIC_MAX_CHARS);
    assert_eq!(
        operator_display_name(&exact, ""),
        format!("{exact} · rejtett szám")
    );
    assert_eq!(
        operator_display_name("Első\r\nsor\t \u{7}vége ", "+36301234567"),
        "Első sor vége · +36 30 123 4567"
    );
    // A control character that reached the header would be a quoted-pair at best; CR/LF
    // cannot be carried at all, so none is left.
    let (from, _) = from_header("a\r\nVia: x", "+36301234567", None);
    assert!(!from.contains(['\r', '\n']), "{from:?}");
}

#[test]
fn call_info_points_at_the_console_page_of_the_call() {
    let (_, invite) = from_header(
        "Főmenü",
        "+36301234567",
        Some("https://ugyelet.example.hu/"),
    );
    assert_eq!(
        invite.headers.iter().find(|(k, _)| k == "Call-Info"),
        Some(&(
            "Call-Info".to_owned(),
            "<https://ugyelet.example.hu/ugyelet?hivas=7>;purpose=info".to_owned()
        ))
    );
    let (_, invite) = from_header("Főmenü", "+36301234567", None);
    assert!(invite.headers.iter().all(|(k, _)| k != "Call-Info"));
}

#[test]
fn after_a_restart_the_saved_binding_is_rung_without_a_new_register() {
    let mut room = Room::staffed(quiet(), &[("anna", "on_site")]);
    let wall = 1_793_984_400_000;
    let saved = room
        .sb
        .bindings_to_save(room.now, wall)
        .expect("a registration is to be saved");
    assert_eq!(room.sb.bindings_to_save(room.now, wall), None, "once");

    // The next run: nobody has registered with it.
    let mut next = Room::new(quiet(), &[("anna", "on_site"), ("bela", "remote")]);
    next.now += 30 * S;
    let mut with_stranger = saved.clone();
    with_stranger.push(SavedBinding {
        aor: "zoli".to_owned(),
        ..saved[0].clone()
    });
    let restored = next
        .sb
        .restore_bindings(next.now, wall + 30_000, &with_stranger);
    assert_eq!(restored.aors, ["anna"]);
    assert_eq!(restored.dropped, ["zoli: no such operator account"]);
    let board = board_json(&next);
    assert_eq!(operator(&board, "anna")["state"], "available", "{board}");
    assert_eq!(operator(&board, "bela")["state"], "offline", "{board}");
    assert_eq!(next.enqueue(CALLER_1), vec![ring("anna", 100)]);
    assert_eq!(
        next.invites[&100].dst,
        SocketAddr::from(([127, 0, 0, 1], 5070))
    );
    // The store forgets the stranger's binding.
    let again = next.sb.bindings_to_save(next.now, wall + 30_000);
    assert_eq!(
        again.map(|v| v.into_iter().map(|b| b.aor).collect::<Vec<_>>()),
        Some(vec!["anna".to_owned()])
    );
}
