//! Whole-plan checks, once every node has been built: what a single node cannot show.
//!
//! - A node no path from `start` reaches is a warning: it is probably a leftover, but it
//!   harms nobody.
//! - A cycle through nodes that never wait for the caller is an error: the call would spin
//!   without end.
//! - A menu (or collect) from which no path ever ends the call is an error: the caller
//!   could only hang up.
//! - A node without a `label` whose name an operator would read in a caller's menu path is
//!   a warning (see [`Plan::path_label`]).

use std::ops::Range;

use toml::Spanned;

use super::{Severity, Validator};
use crate::dialplan::syntax::RawPlan;
use crate::dialplan::{NodeId, NodeKind, Plan};

impl Validator<'_> {
    /// Whole-plan checks: unreachable nodes and nodes operators would read without a label
    /// (warnings); loops that never wait for the caller
    /// (error: the call would spin); menus from which the call can never end (error).
    pub(super) fn check_graph(&mut self, plan: &Plan, raw: &RawPlan) {
        let spans: Vec<Range<usize>> = raw.nodes.keys().map(Spanned::span).collect();
        let reach = |from: NodeId| -> Vec<bool> {
            let mut seen = vec![false; plan.nodes.len()];
            let mut stack = vec![from];
            while let Some(id) = stack.pop() {
                if !std::mem::replace(&mut seen[id], true) {
                    stack.extend(plan.nodes[id].kind.successors());
                }
            }
            seen
        };
        for (id, reached) in reach(plan.start).iter().enumerate() {
            if !reached {
                self.push(
                    spans[id].clone(),
                    Severity::Warning,
                    format!(
                        "node \"{}\" cannot be reached from \"start\"",
                        plan.nodes[id].name
                    ),
                );
            }
        }
        // Operators read the menu path of the callers put through to them; a node on that
        // way without a label would show them its name.
        for id in plan.unlabelled_for_operators() {
            let name = &plan.nodes[id].name;
            self.push(
                spans[id].clone(),
                Severity::Warning,
                format!(
                    "node \"{name}\" has no label, so operators read \"{name}\" in the menu path of callers put through to them; add label = \"…\""
                ),
            );
        }
        // A cycle through nodes that never wait for the caller spins forever.
        for (id, node) in plan.nodes.iter().enumerate() {
            if waits_for_caller(&node.kind) {
                continue;
            }
            let mut seen = vec![false; plan.nodes.len()];
            let mut stack: Vec<NodeId> = node.kind.successors();
            while let Some(n) = stack.pop() {
                if n == id {
                    self.error(
                        spans[id].clone(),
                        format!(
                            "node \"{}\" loops back to itself without ever waiting for a key",
                            node.name
                        ),
                    );
                    break;
                }
                if std::mem::replace(&mut seen[n], true) || waits_for_caller(&plan.nodes[n].kind) {
                    continue;
                }
                stack.extend(plan.nodes[n].kind.successors());
            }
        }
        // Every menu must lead somewhere the call can end (hang-up, queue, transfer).
        for (id, node) in plan.nodes.iter().enumerate() {
            if !matches!(node.kind, NodeKind::Menu(_) | NodeKind::Collect(_)) {
                continue;
            }
            let ends = reach(id).iter().enumerate().any(|(n, r)| {
                *r && matches!(
                    plan.nodes[n].kind,
                    NodeKind::Hangup | NodeKind::Queue { .. } | NodeKind::Transfer { .. }
                )
            });
            if !ends {
                self.error(
                    spans[id].clone(),
                    format!(
                        "menu \"{}\" has no way out: no key or retry path ever ends the call",
                        node.name
                    ),
                );
            }
        }
    }
}

/// Nodes where time passes only when the caller acts (or a timeout says they did not).
fn waits_for_caller(kind: &NodeKind) -> bool {
    matches!(
        kind,
        NodeKind::Menu(_)
            | NodeKind::Collect(_)
            | NodeKind::Voicemail { .. }
            | NodeKind::Queue { .. }
    )
}
