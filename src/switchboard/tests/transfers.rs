//! Transfers on virtual time: an operator's phone sends REFER on its leg (the test builds
//! the request as a softphone would), or the dial plan asks; the test plays the driver
//! and the other phones.

use super::*;
use crate::dialplan::TransferTarget;

/// A REFER from the operator's phone naming `target` (`sip:…`, `tel:…`).
fn refer_request(target: &str, cseq: u32) -> Request {
    let text = format!(
        "REFER sip:ugyelet@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKr{cseq}\r\n\
         From: <sip:anna@127.0.0.1>;tag=p1\r\nTo: <sip:+36301234567@127.0.0.1>;tag=d1\r\n\
         Call-ID: leg@127.0.0.1\r\nCSeq: {cseq} REFER\r\nRefer-To: {target}\r\n\
         Content-Length: 0\r\n\r\n"
    );
    match parse(text.as_bytes()) {
        Ok(Message::Request(r)) => r,
        other => panic!("test REFER must parse: {other:?}"),
    }
}

/// The number the tests' plan allows.
const OFFICER: &str = "+3623444555";

impl Room {
    /// The phone on `leg` sends a REFER to `target`; what the switchboard then does.
    fn refer(&mut self, leg: DialogId, target: &str) -> Vec<Seen> {
        self.refer_with(leg, target, false)
    }

    /// As [`Room::refer`], with or without a trunk configured.
    fn refer_with(&mut self, leg: DialogId, target: &str, trunk: bool) -> Vec<Seen> {
        self.refer_replacing(leg, target, trunk, None)
    }

    /// As [`Room::refer`]; a Replaces in `target` names dialog `replaced` (or none known).
    fn refer_replacing(
        &mut self,
        leg: DialogId,
        target: &str,
        trunk: bool,
        replaced: Option<DialogId>,
    ) -> Vec<Seen> {
        let queues = vec!["default".to_owned()];
        let allowed = vec![OFFICER.to_owned()];
        let reach = Reach {
            queues: &queues,
            allowed: &allowed,
            trunk,
        };
        let request = refer_request(target, 3);
        self.sb
            .handle_refer(self.now, leg, 7, &request, &reach, |_| replaced);
        self.take()
    }

    /// The dial plan passes `call` on to `to`, the plan allowing [`OFFICER`].
    fn transfer(&mut self, call: DialogId, to: TransferTarget, trunk: bool) -> Vec<Seen> {
        let queues = vec!["default".to_owned()];
        let allowed = vec![OFFICER.to_owned()];
        let reach = Reach {
            queues: &queues,
            allowed: &allowed,
            trunk,
        };
        let caller = Caller {
            number: "+36301234567".to_owned(),
            path: "welcome>pass_on".to_owned(),
            path_label: "Ügyeletes".to_owned(),
            topic: "Ügyeletes".to_owned(),
        };
        self.sb
            .handle_transfer(self.now, call, to, caller, Codec::Pcma, &reach);
        self.take()
    }

    /// A caller connected to `agent` on leg 100 (the only free operator when it queues).
    fn bridged_to_anna(ops: &[(&str, &str)]) -> Room {
        let mut room = Room::staffed(quiet(), ops);
        assert_eq!(room.enqueue(CALLER_1), vec![ring("anna", 100)]);
        room.sb.answered(room.now, 100, &phone_answer("sendrecv"));
        assert_eq!(room.take(), vec![bridge(CALLER_1, 100, "anna")]);
        room
    }

    /// The NOTIFY sent last was answered by the phone.
    fn notify_answered(&mut self) -> Vec<Seen> {
        let id = *self.notifies.last().expect("a NOTIFY was sent");
        self.sb.notify_answered(id);
        self.take()
    }

    fn state(&self, name: &str) -> String {
        let v = board_json(self);
        operator(&v, name)["state"]
            .as_str()
            .expect("state")
            .to_owned()
    }
}

#[test]
fn blind_refer_to_a_colleague_rings_them_bridges_the_caller_and_ends_the_first_leg() {
    let mut room = Room::bridged_to_anna(&[("anna", "on_site"), ("bela", "on_site")]);
    room.now += 30 * S;
    // RFC 3515: 202, a NOTIFY with "100 Trying", the caller on hold, the colleague rings.
    assert_eq!(
        room.refer(100, "<sip:bela@127.0.0.1>"),
        vec![
            Seen::Respond(202),
            Seen::Notify(100, 100),
            Seen::Held(CALLER_1),
            ring("bela", 101),
        ]
    );
    let invite = &room.invites[&101];
    assert!(
        invite
            .from
            .display
            .as_deref()
            .is_some_and(|d| d.ends_with("+36 30 123 4567"))
            && invite.from.to_string().contains("<sip:+36301234567@"),
        "the colleague sees the caller: {}",
        invite.from
    );
    assert_eq!(room.state("anna"), "on_call", "until the transfer is done");
    room.now += 4 * S;
    room.sb.answered(room.now, 101, &phone_answer("sendrecv"));
    assert_eq!(
        room.take(),
        vec![bridge(CALLER_1, 101, "bela"), Seen::Notify(100, 200)]
    );
    assert!(!room.sb.owns(100), "the first leg left the call");
    // The phone answers the final NOTIFY: then (if it has not hung up itself) BYE.
    assert_eq!(room.notify_answered(), vec![Seen::Hangup(100)]);
    let v = board_json(&room);
    assert_eq!(operator(&v, "bela")["current_call"]["call"], CALLER_1);
    assert_eq!(operator(&v, "anna")["state"], "wrap_up");
    // The caller's call now ends with the colleague's.
    room.sb.ended(room.now, 101);
    assert_eq!(room.take(), vec![Seen::OperatorHungUp(CALLER_1)]);
}

#[test]
fn refer_naming_the_queue_puts_the_caller_back_in_it_and_frees_the_operator() {
    let mut room = Room::bridged_to_anna(&[("anna", "on_site"), ("bela", "on_site")]);
    room.now += 30 * S;
    assert_eq!(
        room.refer(100, "<sip:default@127.0.0.1>"),
        vec![
            Seen::Respond(202),
            Seen::Notify(100, 100),
            Seen::Held(CALLER_1),
            Seen::Notify(100, 200),
            ring("bela", 101),
        ]
    );
    assert_eq!(room.notify_answered(), vec![Seen::Hangup(100)]);
    room.sb.answered(room.now, 101, &phone_answer("sendrecv"));
    assert_eq!(room.take(), vec![bridge(CALLER_1, 101, "bela")]);
}

#[test]
fn refers_the_daemon_cannot_or_may_not_carry_out_are_refused_and_change_nothing() {
    let mut room = Room::bridged_to_anna(&[("anna", "on_site"), ("bela", "on_site")]);
    // bela busy with a second caller.
    assert_eq!(room.enqueue(CALLER_2), vec![ring("bela", 101)]);
    room.sb.answered(room.now, 101, &phone_answer("sendrecv"));
    room.take();
    for (leg, target, status) in [
        // A resident's leg (the caller's own dialog) may not transfer.
        (CALLER_1, "<sip:bela@127.0.0.1>", 403),
        // Nobody of that name, a number outside [transfer] allowed, an allowed one
        // with no trunk to call through, oneself.
        (100, "<sip:zoltan@127.0.0.1>", 403),
        (100, "<sip:+36301111111@127.0.0.1>", 403),
        (100, "<tel:+3623444555>", 403),
        (100, "<sip:anna@127.0.0.1>", 403),
        // An attended transfer naming a dialog (not yet supported).
        (
            100,
            "<sip:bela@127.0.0.1?Replaces=x%3Bto-tag%3D1%3Bfrom-tag%3D2>",
            403,
        ),
        // The colleague is on a call.
        (100, "<sip:bela@127.0.0.1>", 486),
        // No Refer-To that can be read.
        (100, "not a uri", 400),
    ] {
        assert_eq!(
            room.refer(leg, target),
            vec![Seen::Respond(status)],
            "REFER on {leg} to {target}"
        );
    }
    let v = board_json(&room);
    assert_eq!(operator(&v, "anna")["current_call"]["call"], CALLER_1);
    assert_eq!(operator(&v, "bela")["current_call"]["call"], CALLER_2);
}

#[test]
fn a_colleague_who_does_not_answer_gives_the_caller_back_to_the_first_operator() {
    let mut room = Room::bridged_to_anna(&[("anna", "on_site"), ("bela", "on_site")]);
    room.refer(100, "<sip:bela@127.0.0.1>");
    // The ring timeout (20 s): CANCEL, the failure reported, the caller back with anna.
    assert_eq!(room.advance(Duration::from_millis(19_999)), vec![]);
    assert_eq!(
        room.advance(Duration::from_millis(1)),
        vec![
            Seen::Cancel(101),
            Seen::Notify(100, 408),
            bridge(CALLER_1, 100, "anna")
        ]
    );
    assert!(
        room.notify_answered().is_empty(),
        "a failed transfer leaves the first operator's leg up"
    );
    assert_eq!(room.state("anna"), "on_call");
    // A second try, refused at once by the phone: the caller comes back again.
    room.refer(100, "<sip:bela@127.0.0.1>");
    room.sb.failed(room.now, 102, 603);
    assert_eq!(
        room.take(),
        vec![Seen::Notify(100, 603), bridge(CALLER_1, 100, "anna")]
    );
}

#[test]
fn the_transfer_goes_on_when_the_first_operator_hangs_up_and_a_failure_requeues_the_caller() {
    let mut room = Room::bridged_to_anna(&[("anna", "on_site"), ("bela", "on_site")]);
    room.refer(100, "<sip:bela@127.0.0.1>");
    // Blind transfer: the phone hangs up at once.
    room.sb.ended(room.now, 100);
    assert_eq!(room.take(), vec![], "the caller is not hung up");
    assert_eq!(room.state("anna"), "wrap_up");
    room.sb.failed(room.now, 101, 603);
    // Back in the queue like any waiting caller: offered to whoever is free (bela again,
    // since anna is in her wrap-up), then to anna after her wrap-up (10 s).
    assert_eq!(room.take(), vec![ring("bela", 102)]);
    room.sb.failed(room.now, 102, 603);
    assert_eq!(room.take(), vec![]);
    assert_eq!(room.sb.acd().waiting(room.now).len(), 1);
    assert_eq!(room.advance(10 * S), vec![ring("anna", 103)]);
}

#[test]
fn the_caller_hanging_up_during_a_transfer_ends_both_operator_legs() {
    let mut room = Room::bridged_to_anna(&[("anna", "on_site"), ("bela", "on_site")]);
    room.refer(100, "<sip:bela@127.0.0.1>");
    room.sb.call_gone(room.now, CALLER_1);
    assert_eq!(room.take(), vec![Seen::Hangup(100), Seen::Cancel(101)]);
    assert!(room.ports.is_empty(), "{:?}", room.ports);
    assert_eq!(room.state("bela"), "available");
}

#[test]
fn the_plan_transfers_to_an_operator_by_name_and_gets_the_call_back_when_that_fails() {
    let mut room = Room::staffed(quiet(), &[("anna", "on_site"), ("bela", "on_site")]);
    let transfer = |room: &mut Room, call, to: TransferTarget| room.transfer(call, to, false);
    assert_eq!(
        transfer(&mut room, CALLER_1, TransferTarget::Operator("bela".into())),
        vec![ring("bela", 100)]
    );
    room.sb.answered(room.now, 100, &phone_answer("sendrecv"));
    assert_eq!(room.take(), vec![bridge(CALLER_1, 100, "bela")]);
    // Unknown or busy operators, and no answer, give the call back to the plan.
    assert_eq!(
        transfer(
            &mut room,
            CALLER_2,
            TransferTarget::Operator("zoltan".into())
        ),
        vec![Seen::Failed(CALLER_2)]
    );
    assert_eq!(
        transfer(&mut room, CALLER_2, TransferTarget::Operator("bela".into())),
        vec![Seen::Failed(CALLER_2)]
    );
    assert_eq!(
        transfer(&mut room, 3, TransferTarget::Operator("anna".into())),
        vec![ring("anna", 101)]
    );
    assert_eq!(
        room.advance(20 * S),
        vec![Seen::Cancel(101), Seen::Failed(3)]
    );
    // A queue works as a queue node does.
    assert_eq!(
        transfer(&mut room, 4, TransferTarget::Queue("default".into())),
        vec![ring("anna", 102)]
    );
}

fn dial(number: &str, leg: DialogId) -> Seen {
    Seen::CallOut {
        number: number.to_owned(),
        leg,
    }
}

#[test]
fn the_plan_calls_an_allowed_number_through_the_trunk_and_nothing_else() {
    let mut room = Room::staffed(quiet(), &[("anna", "on_site")]);
    let officer = || TransferTarget::Number(OFFICER.to_owned());
    // Not allowed (any more), or no trunk: nothing is dialled, the plan's on_error.
    let other = TransferTarget::Number("+36301111111".to_owned());
    assert_eq!(
        room.transfer(CALLER_1, other, true),
        vec![Seen::Failed(CALLER_1)]
    );
    assert_eq!(
        room.transfer(CALLER_1, officer(), false),
        vec![Seen::Failed(CALLER_1)]
    );
    assert_eq!(
        room.transfer(CALLER_1, officer(), true),
        vec![dial(OFFICER, 100)]
    );
    room.now += 5 * S;
    room.sb.answered(room.now, 100, &phone_answer("sendrecv"));
    assert_eq!(room.take(), vec![bridge(CALLER_1, 100, OFFICER)]);
    // The number is nobody on the operators' board.
    let v = board_json(&room);
    assert_eq!(
        operator(&v, "anna")["current_call"],
        serde_json::Value::Null
    );
    assert_eq!(room.state("anna"), "available");
    // The far end hangs up: so does the caller's leg.
    room.sb.ended(room.now, 100);
    assert_eq!(room.take(), vec![Seen::OperatorHungUp(CALLER_1)]);
    assert!(room.ports.is_empty());
}

#[test]
fn a_call_out_nobody_answers_is_cancelled_after_the_ring_timeout_or_when_the_caller_leaves() {
    let mut room = Room::staffed(quiet(), &[("anna", "on_site")]);
    let officer = || TransferTarget::Number(OFFICER.to_owned());
    assert_eq!(
        room.transfer(CALLER_1, officer(), true),
        vec![dial(OFFICER, 100)]
    );
    assert_eq!(room.advance(Duration::from_millis(19_999)), vec![]);
    assert_eq!(
        room.advance(Duration::from_millis(1)),
        vec![Seen::Cancel(100), Seen::Failed(CALLER_1)]
    );
    // Its 487 later changes nothing.
    room.sb.failed(room.now, 100, 487);
    assert_eq!(room.take(), vec![]);
    assert_eq!(
        room.transfer(CALLER_2, officer(), true),
        vec![dial(OFFICER, 101)]
    );
    room.sb.call_gone(room.now, CALLER_2);
    assert_eq!(room.take(), vec![Seen::Cancel(101)]);
    // A refusal by the far end gives the call back at once.
    assert_eq!(room.transfer(3, officer(), true), vec![dial(OFFICER, 102)]);
    room.sb.failed(room.now, 102, 486);
    assert_eq!(room.take(), vec![Seen::Failed(3)]);
    assert!(room.ports.is_empty(), "{:?}", room.ports);
}

#[test]
fn an_operator_transfers_to_an_allowed_number_when_a_trunk_is_there() {
    let mut room = Room::bridged_to_anna(&[("anna", "on_site")]);
    assert_eq!(
        room.refer_with(100, "<tel:06-23-444-555>", true),
        vec![
            Seen::Respond(202),
            Seen::Notify(100, 100),
            Seen::Held(CALLER_1),
            dial(OFFICER, 101),
        ]
    );
    room.sb.answered(room.now, 101, &phone_answer("sendrecv"));
    assert_eq!(
        room.take(),
        vec![bridge(CALLER_1, 101, OFFICER), Seen::Notify(100, 200)]
    );
    assert_eq!(room.notify_answered(), vec![Seen::Hangup(100)]);
    assert_eq!(room.state("anna"), "wrap_up");
}

/// anna's own call to bela (her consultation before an attended transfer).
const CONSULT: DialogId = 50;
/// What anna's phone sends for an attended transfer: Replaces names the other call.
const ATTENDED: &str = "<sip:bela@127.0.0.1?Replaces=c%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>";

/// A caller with anna on leg 100, and anna's call to bela answered on leg 101.
fn consulting() -> Room {
    let mut room = Room::bridged_to_anna(&[("anna", "on_site"), ("bela", "on_site")]);
    room.sb.colleague_call(CONSULT, "anna");
    assert_eq!(
        room.transfer(CONSULT, TransferTarget::Operator("bela".into()), false),
        vec![ring("bela", 101)]
    );
    room.sb.answered(room.now, 101, &phone_answer("sendrecv"));
    assert_eq!(room.take(), vec![bridge(CONSULT, 101, "bela")]);
    room
}

#[test]
fn attended_transfer_from_the_callers_leg_hands_the_colleagues_leg_to_the_caller() {
    let mut room = consulting();
    room.now += 20 * S;
    assert_eq!(
        room.refer_replacing(100, ATTENDED, false, Some(CONSULT)),
        vec![
            Seen::Respond(202),
            Seen::Notify(100, 200),
            bridge(CALLER_1, 101, "bela"),
            Seen::Released(CONSULT),
        ]
    );
    assert_eq!(room.notify_answered(), vec![Seen::Hangup(100)]);
    // anna's call to bela ends without taking bela's leg with it.
    room.sb.call_gone(room.now, CONSULT);
    assert_eq!(room.take(), vec![]);
    let v = board_json(&room);
    assert_eq!(operator(&v, "bela")["current_call"]["call"], CALLER_1);
    assert_eq!(operator(&v, "anna")["state"], "wrap_up");
    room.sb.ended(room.now, 101);
    assert_eq!(room.take(), vec![Seen::OperatorHungUp(CALLER_1)]);
}

#[test]
fn attended_transfer_asked_on_the_call_to_the_colleague_works_the_same() {
    let mut room = consulting();
    assert_eq!(
        room.refer_replacing(CONSULT, ATTENDED, false, Some(100)),
        vec![
            Seen::Respond(202),
            Seen::Notify(CONSULT, 200),
            Seen::Hangup(100),
            bridge(CALLER_1, 101, "bela"),
            Seen::Released(CONSULT),
        ]
    );
}

#[test]
fn attended_transfers_that_name_no_fitting_pair_of_calls_are_refused() {
    let mut room = consulting();
    // The named dialog is unknown, is the same call, or is not anna's consultation.
    assert_eq!(
        room.refer_replacing(100, ATTENDED, false, None),
        vec![Seen::Respond(403)]
    );
    assert_eq!(
        room.refer_replacing(100, ATTENDED, false, Some(100)),
        vec![Seen::Respond(403)]
    );
    room.sb.colleague_call(51, "bela");
    assert_eq!(
        room.refer_replacing(100, ATTENDED, false, Some(51)),
        vec![Seen::Respond(403)]
    );
    // A resident's own leg may never transfer.
    assert_eq!(
        room.refer_replacing(CALLER_1, ATTENDED, false, Some(CONSULT)),
        vec![Seen::Respond(403)]
    );
    // bela may not pass anna's own call to him on as if she were a caller.
    assert_eq!(
        room.refer(101, "<sip:default@127.0.0.1>"),
        vec![Seen::Respond(403)]
    );
    let v = board_json(&room);
    assert_eq!(operator(&v, "anna")["current_call"]["call"], CALLER_1);
    assert_eq!(operator(&v, "bela")["current_call"]["call"], CONSULT);
}

#[test]
fn only_an_authenticated_operator_calls_a_colleague_by_name() {
    let mut room = Room::staffed(quiet(), &[("anna", "on_site"), ("bela", "on_site")]);
    let text = "INVITE sip:bela@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKc1\r\n\
                From: <sip:anna@127.0.0.1>;tag=a\r\nTo: <sip:bela@127.0.0.1>\r\nCall-ID: c1\r\n\
                CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    let Ok(Message::Request(invite)) = parse(text.as_bytes()) else {
        panic!("test INVITE must parse")
    };
    let src = SocketAddr::from(([127, 0, 0, 1], 5070));
    assert!(
        matches!(
            room.sb.feature_code(room.now, &invite, src, None),
            Feature::Challenge(_)
        ),
        "no credentials: challenged like a feature code"
    );
}
