//! Readable menu paths: how a caller came through the menu, as operators read it.
//!
//! A call records its menu path as the names of the nodes it entered, joined by `>`:
//!
//! ```text
//! welcome>check_open>main_menu>forms_menu>email_by_operator>operator>operator_queue
//! ```
//!
//! That string travels with the call to the switchboard (`X-Ugyelet-Path` on the INVITE to
//! the operator's phone, `path` of a waiting call) and into the call record's `path`
//! column. Node names are the admin's identifiers; operators read the nodes' `label`s
//! instead, and [`Plan::path_label`] turns the path above into
//!
//! ```text
//! Főmenü › Nyomtatványok › Nyomtatvány e-mailben › Ügyintéző
//! ```
//!
//! Left out, so the text says what the caller chose and heard and nothing else:
//!
//! - the *opening*: the chain of `play`, `set` and `goto` nodes from `start` (the
//!   greeting). Every call goes through it, so it tells the operator nothing, labelled or
//!   not;
//! - *silent* nodes without a label: `schedule`, `caller`, `set`, `goto` and `hangup` only
//!   decide where the call goes, the caller hears nothing there. A label makes one show;
//! - a text equal to the one just before it: a menu repeated with `*`, or a node and the
//!   next one labelled alike (the "please hold" prompt before a queue and the queue).
//!
//! Any other node without a label shows its name. `ugyelet check` warns about each such
//! node on the way to an operator ([`Plan::unlabelled_for_operators`]), so on a plan that
//! checks clean an operator never reads a node name. A name the plan does not know (the
//! call started on a plan since reloaded) shows as it is. When everything is left out (a
//! caller who hung up during the greeting), the last node's label or name stands alone, so
//! a path is never shown as nothing.
//!
//! An operator's phone has room for one step, not the whole text: [`Plan::path_topic`]
//! picks the last step before the queue (`Nyomtatvány e-mailben`) for the display name
//! of the call it rings with.

use super::{NodeId, NodeKind, Plan};

/// What separates the steps of a readable path.
pub const SEPARATOR: &str = " › ";

/// Nodes where the caller hears nothing: they only decide where the call goes next.
fn is_silent(kind: &NodeKind) -> bool {
    matches!(
        kind,
        NodeKind::Schedule { .. }
            | NodeKind::Caller { .. }
            | NodeKind::Set { .. }
            | NodeKind::Goto { .. }
            | NodeKind::Hangup
    )
}

/// Nodes that hand the caller to a person: the operator queue, or a transfer.
fn reaches_a_person(kind: &NodeKind) -> bool {
    matches!(kind, NodeKind::Queue { .. } | NodeKind::Transfer { .. })
}

impl Plan {
    /// The call's menu path as operators read it: labels joined by " › ", e.g.
    /// `welcome>check_open>main_menu>operator>operator_queue` → `Főmenü › Ügyintéző`.
    ///
    /// `path` is the format calls record (node names joined by `>`); the module docs say
    /// which nodes are left out and why.
    pub fn path_label(&self, path: &str) -> String {
        self.steps(path).join(SEPARATOR)
    }

    /// What the caller came about, in one step of [`Plan::path_label`]: the last step
    /// before the operator queue (or transfer) that ends the path, e.g.
    /// `…>main_menu>forms_menu>email_by_operator>operator>operator_queue` →
    /// `Nyomtatvány e-mailben`. An operator's phone shows it beside the number, where the
    /// whole path would not fit; the console shows the whole path.
    ///
    /// The queue's own text is left out when something comes before it, since every call
    /// to an operator ends there; a caller put straight through reads as the queue.
    pub fn path_topic(&self, path: &str) -> String {
        let mut steps = self.steps(path);
        let person = path
            .rsplit('>')
            .find(|n| !n.is_empty())
            .and_then(|n| self.node_id(n))
            .map(|id| &self.nodes[id])
            .filter(|node| reaches_a_person(&node.kind))
            .map(|node| node.label.as_deref().unwrap_or(&node.name));
        if steps.len() > 1 && person.is_some() && steps.last().copied() == person {
            steps.pop();
        }
        steps.last().copied().unwrap_or_default().to_owned()
    }

    /// The steps of [`Plan::path_label`], before they are joined.
    fn steps<'a>(&'a self, path: &'a str) -> Vec<&'a str> {
        let opening = self.opening();
        let mut steps: Vec<&str> = Vec::new();
        let mut last: Option<&str> = None;
        for name in path.split('>').filter(|n| !n.is_empty()) {
            let Some(id) = self.node_id(name) else {
                last = Some(name);
                push_new(&mut steps, name);
                continue;
            };
            let node = &self.nodes[id];
            let text = node.label.as_deref().unwrap_or(&node.name);
            last = Some(text);
            if !opening.contains(&id) && (node.label.is_some() || !is_silent(&node.kind)) {
                push_new(&mut steps, text);
            }
        }
        match (steps.is_empty(), last) {
            (true, Some(last)) => vec![last],
            _ => steps,
        }
    }

    /// Nodes whose *name* an operator would read in a caller's menu path: nodes without a
    /// label that [`Plan::path_label`] shows, which some call can pass on its way to an
    /// operator queue or a transfer (the queue or transfer node included), by id.
    pub fn unlabelled_for_operators(&self) -> Vec<NodeId> {
        let opening = self.opening();
        let from_start = self.reachable_from(self.start);
        let to_person = self.leading_to_a_person();
        (0..self.nodes.len())
            .filter(|&id| {
                let node = &self.nodes[id];
                node.label.is_none()
                    && !is_silent(&node.kind)
                    && !opening.contains(&id)
                    && from_start[id]
                    && to_person[id]
            })
            .collect()
    }

    /// The opening every call goes through: from `start`, each `play`, `set` and `goto`
    /// node, up to the first node that waits for the caller or branches.
    fn opening(&self) -> Vec<NodeId> {
        let mut chain = Vec::new();
        let mut id = self.start;
        while !chain.contains(&id) {
            let next = match &self.nodes[id].kind {
                NodeKind::Play { next, .. }
                | NodeKind::Set { next, .. }
                | NodeKind::Goto { next } => *next,
                _ => break,
            };
            chain.push(id);
            id = next;
        }
        chain
    }

    /// Per node, whether a call can get there from `from`.
    fn reachable_from(&self, from: NodeId) -> Vec<bool> {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack = vec![from];
        while let Some(id) = stack.pop() {
            if !std::mem::replace(&mut seen[id], true) {
                stack.extend(self.nodes[id].kind.successors());
            }
        }
        seen
    }

    /// Per node, whether a queue or transfer node can be reached from it (itself included).
    fn leading_to_a_person(&self) -> Vec<bool> {
        let mut leads: Vec<bool> = self
            .nodes
            .iter()
            .map(|n| reaches_a_person(&n.kind))
            .collect();
        // Grow the set backwards until nothing changes; each round adds at least one node
        // or ends, so there are at most as many rounds as nodes.
        let mut changed = true;
        while changed {
            changed = false;
            for (id, node) in self.nodes.iter().enumerate() {
                if !leads[id] && node.kind.successors().iter().any(|&s| leads[s]) {
                    leads[id] = true;
                    changed = true;
                }
            }
        }
        leads
    }
}

/// Appends `text` unless it repeats the step before.
fn push_new<'a>(steps: &mut Vec<&'a str>, text: &'a str) {
    if steps.last() != Some(&text) {
        steps.push(text);
    }
}

#[cfg(test)]
mod tests {
    use crate::dialplan::{Known, Plan, Severity, load_str};

    const KNOWN: Known<'static> = Known {
        skip_prompts: false,
        prompts: &["hello", "menu", "wait", "bye"],
        queues: &["operators"],
        forms: &[],
        form_choices: &[],
        schedules: &["staffed"],
    };

    /// A greeting, a schedule, a main menu with a forms submenu, a queue behind a "please
    /// hold" prompt; `{labels}` are extra lines per node, by name.
    fn plan(labels: &[(&str, &str)]) -> Result<Plan, Vec<String>> {
        let label = |node: &str| {
            labels
                .iter()
                .find(|(n, _)| *n == node)
                .map_or(String::new(), |(_, l)| format!("label = \"{l}\"\n"))
        };
        let text = format!(
            r#"start = "welcome"

[nodes.welcome]
type = "play"
prompts = ["hello"]
{}next = "check_open"

[nodes.check_open]
type = "schedule"
{}schedule = "staffed"
open = "main_menu"
closed = "bye"

[nodes.main_menu]
type = "menu"
{}prompts = ["menu"]
keys = {{ "1" = "operator", "2" = "forms", "*" = "main_menu" }}
on_max_retries = "operator"

[nodes.forms]
type = "menu"
{}prompts = ["menu"]
keys = {{ "1" = "operator" }}
on_max_retries = "bye"

[nodes.operator]
type = "play"
{}prompts = ["wait"]
next = "queue"

[nodes.queue]
type = "queue"
{}queue = "operators"
no_agents = "bye"

[nodes.bye]
type = "play"
{}prompts = ["bye"]
next = "end"

[nodes.end]
type = "hangup"
"#,
            label("welcome"),
            label("check_open"),
            label("main_menu"),
            label("forms"),
            label("operator"),
            label("queue"),
            label("bye"),
        );
        load_str("dialplans/main.toml", &text, &KNOWN)
            .map(|(plan, _)| plan)
            .map_err(|d| {
                d.iter()
                    .filter(|d| d.severity == Severity::Error)
                    .map(ToString::to_string)
                    .collect()
            })
    }

    fn labelled() -> Plan {
        plan(&[
            ("welcome", "Köszöntés"),
            ("main_menu", "Főmenü"),
            ("forms", "Nyomtatványok"),
            ("operator", "Ügyintéző"),
            ("queue", "Ügyintéző"),
            ("bye", "Elköszönés"),
        ])
        .expect("valid plan")
    }

    #[test]
    fn path_reads_as_labels_without_the_greeting_the_schedule_or_a_repeat() {
        let p = labelled();
        assert_eq!(
            p.path_label("welcome>check_open>main_menu>forms>operator>queue"),
            "Főmenü › Nyomtatványok › Ügyintéző"
        );
        // `*` repeats the main menu: the operator reads it once.
        assert_eq!(
            p.path_label("welcome>check_open>main_menu>main_menu>operator>queue"),
            "Főmenü › Ügyintéző"
        );
    }

    #[test]
    fn topic_is_the_last_step_before_the_queue() {
        let p = labelled();
        assert_eq!(
            p.path_topic("welcome>check_open>main_menu>forms>operator>queue"),
            "Nyomtatványok"
        );
        assert_eq!(
            p.path_topic("welcome>check_open>main_menu>operator>queue"),
            "Főmenü"
        );
        // A "please hold" prompt labelled apart from the queue is the last thing heard.
        let p = plan(&[
            ("main_menu", "Főmenü"),
            ("operator", "Várakozás"),
            ("queue", "Ügyintéző"),
        ])
        .expect("valid plan");
        assert_eq!(
            p.path_topic("welcome>check_open>main_menu>operator>queue"),
            "Várakozás"
        );
    }

    #[test]
    fn topic_of_a_path_that_is_only_the_queue_or_ends_elsewhere() {
        let p = labelled();
        // Nothing but the queue to say (a plan that queues right after the greeting).
        assert_eq!(p.path_topic("welcome>queue"), "Ügyintéző");
        // Not ending at a queue: the last step stands.
        assert_eq!(
            p.path_topic("welcome>check_open>main_menu>forms"),
            "Nyomtatványok"
        );
        assert_eq!(p.path_topic(""), "");
        // Names the plan does not know show as they are.
        assert_eq!(p.path_topic("welcome>old_menu>queue"), "old_menu");
    }

    #[test]
    fn node_without_a_label_shows_its_name() {
        let p = plan(&[("main_menu", "Főmenü")]).expect("valid plan");
        assert_eq!(
            p.path_label("welcome>check_open>main_menu>forms>operator>queue"),
            "Főmenü › forms › operator › queue"
        );
    }

    #[test]
    fn a_labelled_decision_node_shows_and_a_call_that_only_heard_the_greeting_keeps_it() {
        let p =
            plan(&[("check_open", "Nyitvatartás"), ("welcome", "Köszöntés")]).expect("valid plan");
        assert_eq!(
            p.path_label("welcome>check_open>bye>end"),
            "Nyitvatartás › bye"
        );
        assert_eq!(p.path_label("welcome"), "Köszöntés");
        assert_eq!(p.path_label(""), "");
    }

    #[test]
    fn names_the_plan_no_longer_has_show_as_they_are() {
        let p = labelled();
        assert_eq!(
            p.path_label("welcome>check_open>old_menu>operator>queue"),
            "old_menu › Ügyintéző"
        );
    }

    #[test]
    fn empty_or_multi_line_label_is_refused_with_its_position() {
        let errs = plan(&[("forms", "  ")]).expect_err("refused");
        assert_eq!(
            errs,
            vec![
                "dialplans/main.toml:22:9: label: expected a text for operators to read, found an empty one"
            ]
        );
        let errs = plan(&[("forms", "Nyomtat-\\nványok")]).expect_err("refused");
        assert_eq!(
            errs,
            vec![
                "dialplans/main.toml:22:9: label: expected one line, found a line break in \"Nyomtat-\\nványok\""
            ]
        );
    }

    #[test]
    fn every_node_a_caller_passes_on_the_way_to_an_operator_needs_a_label() {
        let p = plan(&[("main_menu", "Főmenü")]).expect("valid plan");
        let names: Vec<&str> = p
            .unlabelled_for_operators()
            .into_iter()
            .map(|id| p.nodes[id].name.as_str())
            .collect();
        // Not the greeting (left out of every path), not the schedule (silent), not
        // "bye" (no operator after it), not "main_menu" (labelled).
        assert_eq!(names, ["forms", "operator", "queue"]);
        assert!(labelled().unlabelled_for_operators().is_empty());
    }
}
