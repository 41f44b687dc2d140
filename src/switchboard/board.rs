//! The operators' board: what the console and `GET /api/operators` show.
//!
//! The queue ([`Acd`](crate::acd::Acd)) knows operators by name and calls by id only; the
//! switchboard knows who each call is (number, menu path) and which operator leg is
//! bridged to which call. The board joins the two, so an operator's screen can show each
//! waiting caller and "my current call" without asking anything else:
//!
//! ```json
//! {
//!   "operators": [{ "name": "anna", "state": "on_call", …,
//!                   "current_call": { "call": 7, "caller": "+36301234567",
//!                                     "caller_display": "+36 30 123 4567",
//!                                     "path": "welcome>check_open>main_menu>operator>operator_queue",
//!                                     "path_label": "Főmenü › Ügyintéző", "on_call_s": 42 } }],
//!   "waiting":   [{ "call": 9, "queue": "operators", "position": 1, "waited_s": 12,
//!                   "ringing": ["bela"], "caller": "+3623444555",
//!                   "caller_display": "+36 23 444 555", "path": "…", "path_label": "…" }]
//! }
//! ```
//!
//! Every field the queue's own rows had stays where it was (scripts read them); what the
//! switchboard adds sits beside them. `current_call` is `null` for an operator on no call;
//! an operator on a callback has the resident there, with the path `callback` and the label
//! `Visszahívás`. Callback jobs waiting for an operator are not callers: `waiting` leaves
//! them out (`GET /api/callbacks` lists them).

use std::collections::HashMap;
use std::time::Instant;

use serde::Serialize;

use super::{Switchboard, Waiting};
use crate::acd::{AgentStatus, WaitingCall};
use crate::phone;
use crate::sip::endpoint::DialogId;

/// Operators and waiting callers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Board {
    /// In configuration order.
    pub operators: Vec<OperatorRow>,
    /// In order of arrival.
    pub waiting: Vec<WaitingRow>,
    /// REGISTER requests answered since start, by the status sent (200, 401 challenge,
    /// 403 refused or throttled, 400 …): a phone failing to log in shows up here.
    pub register_responses: std::collections::BTreeMap<u16, u64>,
}

/// Who a call is, as an operator reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallerView {
    /// E.164 when known, else as received (empty: no caller ID).
    pub caller: String,
    /// The number grouped for people (`+36 30 123 4567`, "rejtett szám").
    pub caller_display: String,
    /// The menu path as recorded (node names joined by `>`).
    pub path: String,
    /// The menu path as operators read it (`Főmenü › Nyomtatványok › Ügyintéző`).
    pub path_label: String,
}

/// One operator, and the call they are on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperatorRow {
    #[serde(flatten)]
    pub status: AgentStatus,
    /// The call bridged to this operator's phone, if any.
    pub current_call: Option<CurrentCall>,
}

/// The call an operator is on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CurrentCall {
    /// The caller leg's id (the `call` of the waiting row it was).
    pub call: DialogId,
    #[serde(flatten)]
    pub caller: CallerView,
    /// Seconds since the operator answered.
    pub on_call_s: u64,
}

/// One waiting caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaitingRow {
    #[serde(flatten)]
    pub queued: WaitingCall,
    #[serde(flatten)]
    pub caller: CallerView,
}

impl CallerView {
    fn of(w: Option<&Waiting>) -> CallerView {
        // Every call the queue holds was handed in with its caller (handle_enqueue), so
        // `None` does not happen; should it, the row still shows, as a hidden number.
        let (number, path, path_label) = w.map_or(("", "", ""), |w| {
            (
                w.caller.number.as_str(),
                w.caller.path.as_str(),
                w.caller.path_label.as_str(),
            )
        });
        CallerView {
            caller: number.to_owned(),
            caller_display: phone::for_people(number),
            path: path.to_owned(),
            path_label: path_label.to_owned(),
        }
    }
}

impl Board {
    pub(super) fn new(sb: &Switchboard, now: Instant) -> Board {
        // Operator name → the call bridged to their phone.
        let mut on_call: HashMap<&str, CurrentCall> = HashMap::new();
        for (&call, w) in &sb.waiting {
            if let Some((leg, since)) = w.connected
                && let Some(l) = sb.legs.get(&leg)
            {
                on_call.insert(
                    l.agent.as_str(),
                    CurrentCall {
                        call,
                        caller: CallerView::of(Some(w)),
                        on_call_s: now.saturating_duration_since(since).as_secs(),
                    },
                );
            }
        }
        if let Some(d) = &sb.callbacks {
            for c in d.on_callbacks() {
                on_call.insert(
                    c.agent,
                    CurrentCall {
                        call: super::job_ref(c.job),
                        caller: CallerView {
                            caller: c.number.to_owned(),
                            caller_display: phone::for_people(c.number),
                            path: "callback".to_owned(),
                            path_label: "Visszahívás".to_owned(),
                        },
                        on_call_s: now.saturating_duration_since(c.since).as_secs(),
                    },
                );
            }
        }
        let operators = sb
            .acd
            .agents(now)
            .into_iter()
            .map(|status| OperatorRow {
                current_call: on_call.remove(status.name.as_str()),
                status,
            })
            .collect();
        let waiting = sb
            .acd
            .waiting(now)
            .into_iter()
            .filter(|w| super::job_of(w.call).is_none())
            .map(|queued| WaitingRow {
                caller: CallerView::of(sb.waiting.get(&queued.call)),
                queued,
            })
            .collect();
        Board {
            operators,
            waiting,
            register_responses: sb.register_responses.clone(),
        }
    }
}
