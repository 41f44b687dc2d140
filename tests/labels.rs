//! The shipped dial plan as operators read it: every way to an operator is labelled in
//! Hungarian, and the menu paths the simulator walks read as the caller's choices.

use std::sync::Arc;

use ugyelet::config::Config;
use ugyelet::dialplan::calendar;
use ugyelet::dialplan::interp::CallEnv;
use ugyelet::dialplan::simulate;
use ugyelet::driver::live::{self, Live};

fn shipped() -> Live {
    let cfg = Config::load_with_env(None, std::iter::empty()).expect("default configuration");
    let today: jiff::civil::Date = "2026-12-01".parse().expect("date");
    live::load(&cfg, None, today, 1).expect("the shipped configuration loads")
}

/// The menu path of a simulated call at `at` pressing `keys`, cut after `upto` (the node
/// where the caller would wait for an operator).
fn path(l: &Live, at: &str, keys: &str, upto: &str) -> String {
    let at: jiff::civil::DateTime = at.parse().expect("civil time");
    let env = CallEnv {
        caller: Some("+3623444555".to_owned()),
        civil_start: at
            .to_zoned_datetime(calendar::tz())
            .expect("a Budapest time"),
        schedules: Arc::new(live::CalendarSchedules {
            calendar: Arc::clone(&l.calendar),
            manual: None,
        }),
    };
    let lines = simulate::run(
        Arc::clone(&l.plan),
        simulate::Script {
            env,
            keys: keys.chars().collect(),
            channels: simulate::Channels {
                sms: true,
                email: true,
            },
        },
        &|_| Some(String::new()),
        std::time::Instant::now(),
    );
    let full = lines
        .last()
        .and_then(|l| l.strip_prefix("path: "))
        .expect("the simulated call ends with its path");
    let end = full.find(upto).expect("the call reaches the node") + upto.len();
    full[..end].to_owned()
}

#[test]
fn shipped_plan_has_no_unlabelled_node_on_the_way_to_an_operator() {
    let l = shipped();
    let unlabelled: Vec<&String> = l
        .warnings
        .iter()
        .filter(|w| w.contains("has no label"))
        .collect();
    assert!(unlabelled.is_empty(), "{unlabelled:?}");
    assert!(l.plan.unlabelled_for_operators().is_empty());
}

#[test]
fn ways_to_an_operator_read_as_the_callers_choices() {
    let l = shipped();
    // Tuesday 17:00 is staffed; a landline caller.
    let cases = [
        ("1", "Főmenü › Ügyintéző"),
        (
            "22",
            "Főmenü › Nyomtatványok › Nyomtatvány e-mailben › Ügyintéző",
        ),
        (
            "2112",
            "Főmenü › Nyomtatványok › Nyomtatvány választása › SMS-t kért vezetékesről › Ügyintéző",
        ),
        ("", "Főmenü › Nem tudott választani › Ügyintéző"),
        ("*1", "Főmenü › Ügyintéző"),
    ];
    for (keys, want) in cases {
        let p = path(&l, "2026-12-01 17:00", keys, "operator_queue");
        assert_eq!(l.plan.path_label(&p), want, "keys {keys:?}: {p}");
    }
}

#[test]
fn a_closed_line_voice_message_reads_as_what_the_caller_heard() {
    let l = shipped();
    let p = path(&l, "2026-12-24 16:30", "2", "hang_up");
    assert_eq!(
        l.plan.path_label(&p),
        "Zárt vonal › Üzenethagyás › Üzenet rögzítve › Elköszönés",
        "{p}"
    );
}
