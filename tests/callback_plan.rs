//! The shipped plan's callback paths, driven through the interpreter as a live call drives
//! it: a caller whose number shows is promised a callback on that number; a caller whose
//! number is hidden is asked for one, hears it read back, confirms it, and only then hears
//! the promise, for the number they keyed in.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ugyelet::config::Config;
use ugyelet::dialplan::calendar;
use ugyelet::dialplan::interp::{Action, ActionResult, CallEnv, Interp, PlayItem};
use ugyelet::driver::live::{self, Live};

fn shipped() -> Live {
    let cfg = Config::load_with_env(None, std::iter::empty()).expect("default configuration");
    let today: jiff::civil::Date = "2026-12-01".parse().expect("date");
    live::load(&cfg, None, today, 1).expect("the shipped configuration loads")
}

/// Tuesday 17:00, a staffed hour; `caller` as the caller ID shows it.
fn call(l: &Live, caller: Option<&str>) -> Interp {
    let at: jiff::civil::DateTime = "2026-12-01 17:00".parse().expect("civil time");
    Interp::new(
        Arc::clone(&l.plan),
        CallEnv {
            caller: caller.map(str::to_owned),
            civil_start: at.to_zoned_datetime(calendar::tz()).expect("Budapest"),
            schedules: Arc::new(live::CalendarSchedules {
                calendar: Arc::clone(&l.calendar),
                manual: None,
            }),
        },
    )
}

/// Everything the interpreter asks for now; every prompt it plays is heard to its end.
/// Returns the prompt ids played and the other actions.
fn listen(i: &mut Interp, now: Instant) -> (Vec<String>, Vec<Action>) {
    let mut prompts = Vec::new();
    let mut other = Vec::new();
    loop {
        let mut played = false;
        while let Some(a) = i.poll_action() {
            match a {
                Action::Play { items, .. } => {
                    played = true;
                    prompts.extend(items.into_iter().filter_map(|p| match p {
                        PlayItem::Prompt(id) => Some(id),
                        PlayItem::Pause(_) => None,
                    }));
                }
                Action::StopPlayback => {}
                a => other.push(a),
            }
        }
        if !played {
            return (prompts, other);
        }
        i.handle_playback_finished(now);
    }
}

/// Through the menu into the operator queue, then 1 for a callback.
fn ask_for_callback(i: &mut Interp, now: Instant) -> (Vec<String>, Vec<Action>) {
    i.start(now);
    let (heard, _) = listen(i, now);
    assert!(heard.contains(&"main_menu".to_owned()), "{heard:?}");
    i.handle_digit(now, '1');
    let (heard, acts) = listen(i, now);
    assert!(heard.contains(&"callback_offer".to_owned()), "{heard:?}");
    assert!(
        matches!(acts.as_slice(), [Action::Queue { .. }]),
        "waiting for an operator: {acts:?}"
    );
    i.handle_digit(now, '1');
    listen(i, now)
}

#[test]
fn a_caller_whose_number_shows_is_promised_a_callback_on_it_once_it_is_kept() {
    let l = shipped();
    let now = Instant::now();
    let mut i = call(&l, Some("+36301234567"));
    let (heard, acts) = ask_for_callback(&mut i, now);
    assert!(
        heard.is_empty(),
        "nothing promised before the request is kept: {heard:?}"
    );
    assert_eq!(
        acts,
        vec![
            Action::LeaveQueue,
            Action::Callback {
                number: "+36301234567".into()
            }
        ]
    );
    i.handle_result(now, ActionResult::Done);
    let (heard, _) = listen(&mut i, now);
    assert_eq!(
        heard.first().map(String::as_str),
        Some("callback_confirmed")
    );
}

#[test]
fn a_hidden_caller_keys_in_a_number_hears_it_read_back_and_is_promised_that_number() {
    let l = shipped();
    let now = Instant::now();
    let mut i = call(&l, None);
    let (heard, acts) = ask_for_callback(&mut i, now);
    assert_eq!(
        acts,
        vec![Action::LeaveQueue],
        "no callback without a number"
    );
    assert_eq!(heard, ["enter_callback_number"]);
    // A number from abroad is refused and asked for again.
    for d in "0049301234#".chars() {
        i.handle_digit(now, d);
    }
    let (heard, _) = listen(&mut i, now);
    assert_eq!(heard, ["callback_number_invalid", "enter_callback_number"]);
    for d in "0623444555#".chars() {
        i.handle_digit(now, d);
    }
    let (heard, acts) = listen(&mut i, now);
    assert_eq!(heard.first().map(String::as_str), Some("readback_intro"));
    assert_eq!(heard.last().map(String::as_str), Some("confirm_number"));
    assert!(acts.is_empty(), "confirmation first: {acts:?}");
    i.handle_digit(now + Duration::from_secs(1), '1');
    let (heard, acts) = listen(&mut i, now);
    assert!(heard.is_empty(), "{heard:?}");
    assert_eq!(
        acts,
        vec![Action::Callback {
            number: "+3623444555".into()
        }]
    );
    i.handle_result(now, ActionResult::Done);
    let (heard, _) = listen(&mut i, now);
    assert_eq!(
        heard.first().map(String::as_str),
        Some("callback_confirmed_number"),
        "not \"ezen a számon\": the number they gave"
    );
}
