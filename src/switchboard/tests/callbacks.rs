//! Callbacks on the switchboard in virtual time: the operator's phone rings first, then the
//! resident is called through the trunk (the test plays the driver and both phones).

use super::*;
use crate::callback::{Callbacks, Job, JobState, Outcome, Priority, Settings};

const MIN: Duration = Duration::from_secs(60);
const T0_MS: i64 = 1_780_000_000_000;
const RESIDENT: &str = "+36301234567";

fn job(id: u64, number: &str) -> Job {
    Job {
        id,
        number: number.to_owned(),
        reason: "callback".to_owned(),
        requests: 1,
        state: JobState::Waiting,
        due_ms: T0_MS,
        created_ms: T0_MS,
        updated_ms: T0_MS,
        attempts: Vec::new(),
    }
}

/// Operators registered, callbacks enabled (3 attempts 10 minutes apart, the resident
/// rings 30 s) and open.
fn desk(ops: &[(&str, &str)], priority: Priority) -> Room {
    let cfg = OperatorsConfig {
        wrap_up_s: 10,
        ..quiet()
    };
    let mut room = Room::staffed(cfg, ops);
    let core = Callbacks::new(
        Settings {
            attempts: 3,
            retry_interval: 10 * MIN,
        },
        room.now,
        T0_MS,
    );
    room.sb.enable_callbacks(
        core,
        DeskSettings {
            queue: "default".to_owned(),
            priority,
            ring_timeout: 30 * S,
        },
    );
    room.sb.set_callbacks_open(room.now, true);
    assert_eq!(room.take(), vec![]);
    room
}

fn saved(room: &mut Room) -> Vec<(JobState, Vec<Option<Outcome>>)> {
    std::iter::from_fn(|| room.sb.poll_callback_save())
        .map(|j| (j.state, j.attempts.iter().map(|a| a.outcome).collect()))
        .collect()
}

/// The resident's phone answers (PCMA).
fn resident_answer() -> Vec<u8> {
    phone_answer("sendrecv")
}

#[test]
fn a_due_callback_rings_the_free_operator_as_visszahivas_then_calls_the_resident_and_relays() {
    let mut room = desk(&[("anna", "on_site")], Priority::CallersFirst);
    room.sb.callback_request(room.now, job(7, RESIDENT));
    assert_eq!(room.take(), vec![ring("anna", 100)]);
    let invite = &room.invites[&100];
    assert_eq!(
        invite.from.display.as_deref(),
        Some("Visszahívás · +36 30 123 4567"),
        "the operator sees it is a callback, and whom"
    );
    assert_eq!(invite.from.uri.user(), Some(RESIDENT));
    assert_eq!(
        invite.headers,
        vec![("X-Ugyelet-Path".to_owned(), "callback".to_owned())]
    );
    assert!(
        room.sb.board(room.now).waiting.is_empty(),
        "a job is no caller"
    );
    assert!(saved(&mut room).is_empty(), "nobody called yet: no attempt");

    // The operator answers: only now is the resident called, in the operator's codec.
    room.sb.answered(room.now, 100, &phone_answer("sendrecv"));
    assert_eq!(
        room.take(),
        vec![Seen::Dial {
            number: RESIDENT.to_owned(),
            leg: 101
        }]
    );
    let offer = String::from_utf8_lossy(&room.dial_offers[&101]).into_owned();
    assert!(offer.contains("RTP/AVP 8 0 101"), "{offer}");
    assert_eq!(saved(&mut room), vec![(JobState::Calling, vec![None])]);
    let board = room.sb.board(room.now);
    let current = board.operators[0].current_call.as_ref().expect("on a call");
    assert_eq!(
        (
            current.caller.path_label.as_str(),
            current.caller.caller.as_str()
        ),
        ("Visszahívás", RESIDENT)
    );
    assert!(room.sb.owns(101), "the resident's leg is the switchboard's");

    room.now += 5 * S;
    room.sb.answered(room.now, 101, &resident_answer());
    assert_eq!(
        room.take(),
        vec![Seen::Relay {
            operator_leg: 100,
            resident_leg: 101
        }]
    );
    assert_eq!(
        saved(&mut room),
        vec![(JobState::Reached, vec![Some(Outcome::Reached)])]
    );
    // They talk; the resident hangs up: the operator's leg ends, wrap-up, no retry.
    room.now += 2 * MIN;
    room.sb.ended(room.now, 101);
    assert_eq!(room.take(), vec![Seen::Hangup(100)]);
    assert!(
        room.ports.is_empty(),
        "both ports released: {:?}",
        room.ports
    );
    assert_eq!(
        room.sb.board(room.now).operators[0].status.state,
        crate::acd::AgentState::WrapUp
    );
    assert_eq!(room.advance(60 * MIN), vec![]);
    assert!(room.sb.callbacks().is_some_and(|c| c.jobs().count() == 0));
}

#[test]
fn no_answer_busy_and_failure_each_cost_an_attempt_free_the_operator_and_wait_the_back_off() {
    let mut room = desk(&[("anna", "on_site")], Priority::CallersFirst);
    room.sb.callback_request(room.now, job(1, RESIDENT));
    let mut attempts = Vec::new();
    let mut seen = room.take();
    for (round, outcome) in [Outcome::NoAnswer, Outcome::Busy, Outcome::Failed]
        .into_iter()
        .enumerate()
    {
        let op = match seen.as_slice() {
            [Seen::Ring { agent, leg }] if agent == "anna" => *leg,
            other => panic!("round {round}: the operator rings first, got {other:?}"),
        };
        room.sb.answered(room.now, op, &phone_answer("sendrecv"));
        let resident = match room.take().as_slice() {
            [Seen::Dial { leg, .. }] => *leg,
            other => panic!("round {round}: the resident is called, got {other:?}"),
        };
        match outcome {
            Outcome::NoAnswer => {
                // Rings 30 s: cancelled, and the 487 counts as no answer.
                assert_eq!(room.advance(30 * S), vec![Seen::Cancel(resident)]);
                room.sb.failed(room.now, resident, 487);
            }
            Outcome::Busy => room.sb.failed(room.now, resident, 486),
            _ => room.sb.failed(room.now, resident, 404),
        }
        assert_eq!(
            room.take(),
            vec![Seen::Hangup(op)],
            "the operator is let go"
        );
        attempts.push(Some(outcome));
        let s = saved(&mut room);
        let expected_state = if round < 2 {
            JobState::Waiting
        } else {
            JobState::GaveUp
        };
        assert_eq!(s.last(), Some(&(expected_state, attempts.clone())));
        // Wrap-up ends, but the next attempt waits ten minutes from this one's end.
        assert_eq!(room.advance(10 * MIN - S), vec![]);
        seen = room.advance(S);
    }
    assert_eq!(room.advance(60 * MIN), vec![], "given up: never again");
}

#[test]
fn an_operator_who_misses_the_callback_ring_costs_the_job_no_attempt() {
    let mut room = desk(
        &[("anna", "on_site"), ("bela", "on_site")],
        Priority::CallersFirst,
    );
    room.sb.callback_request(room.now, job(1, RESIDENT));
    assert_eq!(room.take(), vec![ring("anna", 100)]);
    room.sb.failed(room.now, 100, 480);
    assert_eq!(room.take(), vec![ring("bela", 101)], "the next operator");
    assert!(saved(&mut room).is_empty(), "the resident was not called");
    room.sb.answered(room.now, 101, &phone_answer("sendrecv"));
    assert!(matches!(room.take().as_slice(), [Seen::Dial { .. }]));
}

#[test]
fn the_operator_hanging_up_while_the_resident_rings_cancels_the_call_as_unanswered() {
    let mut room = desk(&[("anna", "on_site")], Priority::CallersFirst);
    room.sb.callback_request(room.now, job(1, RESIDENT));
    room.take();
    room.sb.answered(room.now, 100, &phone_answer("sendrecv"));
    room.take();
    let _ = saved(&mut room);
    room.now += 10 * S;
    room.sb.ended(room.now, 100);
    assert_eq!(room.take(), vec![Seen::Cancel(101)]);
    room.sb.failed(room.now, 101, 487);
    assert_eq!(room.take(), vec![], "the operator's leg is already over");
    assert_eq!(
        saved(&mut room),
        vec![(JobState::Waiting, vec![Some(Outcome::NoAnswer)])]
    );
    assert!(room.ports.is_empty(), "{:?}", room.ports);
}

#[test]
fn callers_on_hold_go_first_unless_callbacks_are_ranked_before_them() {
    for (priority, first) in [
        (Priority::CallersFirst, "caller"),
        (Priority::CallbacksFirst, "callback"),
    ] {
        let mut room = desk(&[("anna", "on_site")], priority);
        // anna is busy with a caller; another caller and a callback wait.
        assert_eq!(room.enqueue(CALLER_1), vec![ring("anna", 100)]);
        room.sb.answered(room.now, 100, &phone_answer("sendrecv"));
        room.take();
        room.sb.callback_request(room.now, job(1, RESIDENT));
        room.now += S;
        assert_eq!(room.enqueue(CALLER_2), vec![], "{priority:?}");
        assert_eq!(room.take(), vec![]);
        room.sb.call_gone(room.now, CALLER_1);
        room.take();
        let seen = room.advance(10 * S);
        let [Seen::Ring { leg, .. }] = seen.as_slice() else {
            panic!("{priority:?}: one ring after wrap-up, got {seen:?}")
        };
        let from = room.invites[leg].from.display.clone().unwrap_or_default();
        let got = if from.starts_with("Visszahívás") {
            "callback"
        } else {
            "caller"
        };
        assert_eq!(got, first, "{priority:?}");
    }
}

#[test]
fn a_closed_line_offers_no_callbacks_and_closing_takes_back_a_job_nobody_rings_for() {
    let mut room = desk(&[("anna", "on_site")], Priority::CallersFirst);
    room.sb.set_callbacks_open(room.now, false);
    room.sb.callback_request(room.now, job(1, RESIDENT));
    assert_eq!(room.take(), vec![], "closed: nobody rings");
    room.sb.set_callbacks_open(room.now, true);
    assert_eq!(room.take(), vec![ring("anna", 100)]);
    room.sb.answered(room.now, 100, &phone_answer("sendrecv"));
    room.take();
    // A second job waits for anna; the line closes: it is taken back, not dialled later.
    room.sb.callback_request(room.now, job(2, "+3623444555"));
    room.sb.set_callbacks_open(room.now, false);
    room.sb.answered(room.now, 101, &resident_answer());
    room.take();
    room.sb.ended(room.now, 100);
    room.take();
    assert_eq!(
        room.advance(5 * MIN),
        vec![],
        "closed: the second job waits"
    );
    room.sb.set_callbacks_open(room.now, true);
    assert_eq!(room.take(), vec![ring("anna", 102)]);
    assert!(
        !room.sb.cancel_callback(room.now, 2),
        "ringing: not withdrawn"
    );
}

#[test]
fn stopping_the_daemon_ends_both_legs_of_a_callback() {
    let mut room = desk(&[("anna", "on_site")], Priority::CallersFirst);
    room.sb.callback_request(room.now, job(1, RESIDENT));
    room.take();
    room.sb.answered(room.now, 100, &phone_answer("sendrecv"));
    room.take();
    assert_eq!(room.sb.shutdown(room.now), 2);
    let seen = room.take();
    assert!(seen.contains(&Seen::Hangup(100)), "{seen:?}");
    assert!(seen.contains(&Seen::Cancel(101)), "{seen:?}");
    let s = saved(&mut room);
    assert_eq!(
        s.last().map(|j| j.1.clone()),
        Some(vec![Some(Outcome::Failed)])
    );
}
