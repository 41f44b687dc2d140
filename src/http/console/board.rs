//! The operator board as the console reads it, and what each person may see of it.
//!
//! The switchboard publishes its board as JSON (the same the `/api/operators` scripts read);
//! the console reads the fields it shows into typed rows, tolerating fields it does not
//! know, so the API can grow without breaking the pages.

use serde::Deserialize;

/// Operators and waiting callers.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct Board {
    #[serde(default)]
    pub operators: Vec<OperatorRow>,
    #[serde(default)]
    pub waiting: Vec<WaitingRow>,
}

/// One operator.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct OperatorRow {
    pub name: String,
    #[serde(default)]
    pub location: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub pause_reason: Option<String>,
    /// The phone has a registration.
    #[serde(default)]
    pub reachable: bool,
    /// Registered and not logged out: takes calls unless busy or paused.
    #[serde(default)]
    pub logged_in: bool,
    /// Logged out (`*22`, the console) until logged in again.
    #[serde(default)]
    pub logged_out: bool,
    /// The call the operator is on, when on one.
    #[serde(default)]
    pub current_call: Option<CurrentCall>,
}

/// An operator's current call.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct CurrentCall {
    /// The call's id (its caller leg), as in `/api/calls` and the screen-pop link.
    #[serde(default)]
    pub call: Option<u64>,
    /// E.164, or as received.
    #[serde(default)]
    pub caller: String,
    /// Grouped for people ("+36 30 123 4567", "rejtett szám").
    #[serde(default)]
    pub caller_display: String,
    /// The menu path as node names.
    #[serde(default)]
    pub path: String,
    /// The menu path in readable Hungarian (from the plan the call ran on).
    #[serde(default)]
    pub path_label: String,
    #[serde(default)]
    pub on_call_s: Option<u64>,
}

/// One waiting caller.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct WaitingRow {
    #[serde(default)]
    pub call: Option<u64>,
    #[serde(default)]
    pub queue: String,
    #[serde(default)]
    pub position: usize,
    #[serde(default)]
    pub waited_s: u64,
    #[serde(default)]
    pub caller: String,
    #[serde(default)]
    pub caller_display: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub path_label: String,
    #[serde(default)]
    pub ringing: Vec<String>,
}

impl Board {
    /// Reads the published JSON; an unreadable board shows as empty rather than failing
    /// the page.
    pub fn from_json(v: &serde_json::Value) -> Board {
        Board::deserialize(v).unwrap_or_default()
    }

    pub fn operator(&self, name: &str) -> Option<&OperatorRow> {
        self.operators.iter().find(|o| o.name == name)
    }

    /// What the duty page says about the call an operator's phone linked to (the
    /// `Call-Info` screen-pop, `/ugyelet?hivas=ID`): nothing while the call is `me`'s or
    /// still waiting (the page shows it), else where it went.
    pub fn linked_call_notice(&self, me: &str, call: u64) -> Option<&'static str> {
        let on_call = |o: &OperatorRow| o.current_call.as_ref().and_then(|c| c.call) == Some(call);
        if self.waiting.iter().any(|w| w.call == Some(call)) {
            return None;
        }
        match self.operators.iter().find(|o| on_call(o)) {
            Some(o) if o.name == me => None,
            Some(_) => Some("Ezt a hívást egy kolléga vette fel."),
            None => Some("Ez a hívás már véget ért."),
        }
    }
}

/// An operator state in Hungarian, as the board shows it.
pub fn state_hu(state: &str) -> &'static str {
    match state {
        "offline" => "nem elérhető",
        "available" => "szabad",
        "ringing" => "cseng",
        "on_call" => "hívásban",
        "wrap_up" => "utómunka",
        "paused" => "szünetel",
        _ => "ismeretlen",
    }
}

/// Where an operator works, in Hungarian.
pub fn location_hu(location: &str) -> &'static str {
    match location {
        "remote" => "távmunka",
        _ => "helyszínen",
    }
}

/// Seconds as people say a wait: "45 mp", "3 perc 5 mp", "1 óra 2 perc".
pub fn wait_hu(s: u64) -> String {
    match s {
        0..=59 => format!("{s} mp"),
        60..=3599 if s.is_multiple_of(60) => format!("{} perc", s / 60),
        60..=3599 => format!("{} perc {} mp", s / 60, s % 60),
        _ => format!("{} óra {} perc", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_board_is_read_and_unknown_fields_are_ignored() {
        let v = serde_json::json!({
            "operators": [{"name": "anna", "location": "on_site", "state": "paused",
                           "pause_reason": "ebéd", "reachable": true, "logged_in": true, "logged_out": false,
                           "idle_s": null, "calls_taken": 3}],
            "waiting": [{"call": 7, "queue": "operators", "position": 1, "waited_s": 12,
                         "ringing": ["bela"], "caller": "+36301234567", "path": "main>queue",
                         "caller_display": "+36 30 123 4567", "path_label": "Főmenü › Ügyintéző"}]
        });
        let b = Board::from_json(&v);
        assert_eq!(b.operator("anna").map(|o| o.state.as_str()), Some("paused"));
        assert_eq!(b.waiting[0].caller, "+36301234567");
        assert_eq!(b.waiting[0].path_label, "Főmenü › Ügyintéző");
        assert_eq!(b.waiting[0].ringing, ["bela"]);
        assert_eq!(
            Board::from_json(&serde_json::json!("nonsense")),
            Board::default()
        );
    }

    #[test]
    fn a_linked_call_is_shown_while_it_is_mine_or_waiting_else_said_where_it_went() {
        let v = serde_json::json!({
            "operators": [
                {"name": "anna", "current_call": {"call": 7, "caller": "+36301234567"}},
                {"name": "bela", "current_call": {"call": 8, "caller": "+3612345678"}},
                {"name": "cili", "current_call": null}],
            "waiting": [{"call": 9, "ringing": ["cili"]}]
        });
        let b = Board::from_json(&v);
        assert_eq!(b.linked_call_notice("anna", 7), None);
        assert_eq!(b.linked_call_notice("cili", 9), None);
        assert_eq!(
            b.linked_call_notice("anna", 8),
            Some("Ezt a hívást egy kolléga vette fel.")
        );
        assert_eq!(
            b.linked_call_notice("anna", 10),
            Some("Ez a hívás már véget ért.")
        );
    }

    #[test]
    fn waits_read_as_people_say_them() {
        assert_eq!(wait_hu(45), "45 mp");
        assert_eq!(wait_hu(120), "2 perc");
        assert_eq!(wait_hu(185), "3 perc 5 mp");
        assert_eq!(wait_hu(3720), "1 óra 2 perc");
    }

    #[test]
    fn states_are_hungarian() {
        assert_eq!(state_hu("on_call"), "hívásban");
        assert_eq!(state_hu("paused"), "szünetel");
        assert_eq!(location_hu("remote"), "távmunka");
    }
}
