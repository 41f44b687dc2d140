//! Whole-plan checks, once every node has been built: what a single node cannot show.
//!
//! - A node no path from `start` reaches is a warning: it is probably a leftover, but it
//!   harms nobody.
//! - A cycle through nodes that never wait for the caller is an error: the call would spin
//!   without end.
//! - A menu (or collect) from which no path ever ends the call is an error: the caller
//!   could only hang up.

use std::ops::Range;

use toml::Spanned;

use super::{Severity, Validator};
use crate::dialplan::syntax::RawPlan;
use crate::dialplan::{NodeId, NodeKind, Plan};

impl Validator<'_> {
    /// Whole-plan checks: unreachable nodes (warning); loops that never wait for the caller
    /// (error: the call would spin); menus from which the call can never end (error).
    pub(super) fn check_graph(&mut self, plan: &Plan, raw: &RawPlan) {
        let spans: Vec<Range<usize>> = raw.nodes.keys().map(Spanned::span).collect();
        let reach = |from: NodeId| -> Vec<bool> {
            let mut seen = vec![false; plan.nodes.len()];
            let mut stack = vec![from];
            while let Some(id) = stack.pop() {
                if !std::mem::replace(&mut seen[id], true) {
                    stack.extend(successors(&plan.nodes[id].kind));
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
        // A cycle through nodes that never wait for the caller spins forever.
        for (id, node) in plan.nodes.iter().enumerate() {
            if waits_for_caller(&node.kind) {
                continue;
            }
            let mut seen = vec![false; plan.nodes.len()];
            let mut stack: Vec<NodeId> = successors(&node.kind);
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
                stack.extend(successors(&plan.nodes[n].kind));
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

/// Nodes a node can lead to.
fn successors(kind: &NodeKind) -> Vec<NodeId> {
    match kind {
        NodeKind::Play { next, .. } | NodeKind::Set { next, .. } | NodeKind::Goto { next } => {
            vec![*next]
        }
        NodeKind::Menu(m) => m
            .keys
            .iter()
            .map(|(_, t)| *t)
            .chain([m.on_max_retries])
            .collect(),
        NodeKind::Collect(c) => vec![c.next, c.on_max_retries],
        NodeKind::Schedule { open, closed, .. } => vec![*open, *closed],
        NodeKind::Caller { rules, default } => {
            rules.iter().map(|(_, t)| *t).chain([*default]).collect()
        }
        NodeKind::Queue {
            no_agents, keys, ..
        } => std::iter::once(*no_agents)
            .chain(keys.iter().map(|(_, t)| *t))
            .collect(),
        NodeKind::Voicemail { next, on_error } | NodeKind::SendForm { next, on_error, .. } => {
            vec![*next, *on_error]
        }
        NodeKind::Transfer { on_error, .. } => vec![*on_error],
        NodeKind::Hangup => Vec::new(),
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
