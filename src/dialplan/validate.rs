//! From [`RawPlan`] to [`Plan`], or to every problem at once.
//!
//! Each problem is a [`Diagnostic`] that renders as `file:line:col: message`, pointing at the
//! value that is wrong. Errors refuse the plan; warnings (an unreachable node) do not.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::syntax::{self, RawNode, RawPlan};
use super::{Menu, Node, NodeId, NodeKind, Plan};

/// How bad a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in a dial-plan file, with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub severity: Severity,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
        };
        write!(
            f,
            "{}:{}:{}: {}{}",
            self.file, self.line, self.col, sev, self.message
        )
    }
}

/// Reads and validates a plan file against the prompt ids that exist.
///
/// On success returns the plan and its warnings; on failure every diagnostic (errors first).
pub fn load(path: &Path, prompt_ids: &[&str]) -> Result<(Plan, Vec<Diagnostic>), Vec<Diagnostic>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![Diagnostic {
            file: file.clone(),
            line: 1,
            col: 1,
            severity: Severity::Error,
            message: format!("cannot read the dial plan: {e}"),
        }]
    })?;
    load_str(&file, &text, prompt_ids)
}

/// As [`load`], from text already in memory.
pub fn load_str(
    file: &str,
    text: &str,
    prompt_ids: &[&str],
) -> Result<(Plan, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut v = Validator {
        file,
        text,
        diags: Vec::new(),
    };
    let raw = match syntax::parse(text) {
        Ok(raw) => raw,
        Err((msg, span)) => {
            v.error(span.unwrap_or(0..0), msg.trim_end().to_owned());
            return Err(v.diags);
        }
    };
    let plan = v.build(&raw, prompt_ids);
    let has_error = v.diags.iter().any(|d| d.severity == Severity::Error);
    v.diags
        .sort_by_key(|d| (d.severity == Severity::Warning, d.line, d.col));
    match plan {
        Some(plan) if !has_error => Ok((plan, v.diags)),
        _ => Err(v.diags),
    }
}

struct Validator<'a> {
    file: &'a str,
    text: &'a str,
    diags: Vec<Diagnostic>,
}

const NODE_TYPES: &[&str] = &["play", "menu", "hangup"];
const KEYS: &str = "0123456789*#ABCD";

impl Validator<'_> {
    fn push(&mut self, span: Range<usize>, severity: Severity, message: String) {
        let (line, col) = syntax::line_col(self.text, span.start);
        self.diags.push(Diagnostic {
            file: self.file.to_owned(),
            line,
            col,
            severity,
            message,
        });
    }

    fn error(&mut self, span: Range<usize>, message: String) {
        self.push(span, Severity::Error, message);
    }

    fn build(&mut self, raw: &RawPlan, prompt_ids: &[&str]) -> Option<Plan> {
        let names: Vec<&str> = raw.nodes.keys().map(|k| k.get_ref().as_str()).collect();
        let by_name: HashMap<String, NodeId> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_string(), i))
            .collect();
        let prompts: HashSet<&str> = prompt_ids.iter().copied().collect();

        let start = self.node_ref(&raw.start, &by_name, &names);
        let mut nodes = Vec::with_capacity(raw.nodes.len());
        for (name, node) in &raw.nodes {
            let kind = self.node(name, node, &by_name, &names, &prompts, prompt_ids);
            nodes.push(kind.map(|kind| Node {
                name: name.get_ref().clone(),
                kind,
            }));
        }
        let nodes: Option<Vec<Node>> = nodes.into_iter().collect();
        let (start, nodes) = (start?, nodes?);
        let plan = Plan {
            source: self.file.to_owned(),
            start,
            nodes,
            by_name,
        };
        self.check_graph(&plan, raw);
        Some(plan)
    }

    fn node(
        &mut self,
        name: &Spanned<String>,
        node: &Spanned<RawNode>,
        by_name: &HashMap<String, NodeId>,
        names: &[&str],
        prompts: &HashSet<&str>,
        prompt_ids: &[&str],
    ) -> Option<NodeKind> {
        let n = node.get_ref();
        let kind = n.kind.get_ref().as_str();
        let allowed: &[&str] = match kind {
            "play" => &["prompts", "barge_in", "next"],
            "menu" => &[
                "prompts",
                "barge_in",
                "keys",
                "timeout_s",
                "max_retries",
                "invalid_prompts",
                "timeout_prompts",
                "on_max_retries",
            ],
            "hangup" => &[],
            other => {
                self.error(
                    n.kind.span(),
                    format!(
                        "unknown node type \"{other}\" in node \"{}\" (known: {})",
                        name.get_ref(),
                        NODE_TYPES.join(", ")
                    ),
                );
                return None;
            }
        };
        let present: [(&str, Option<Range<usize>>); 9] = [
            ("prompts", n.prompts.as_ref().map(Spanned::span)),
            ("barge_in", n.barge_in.as_ref().map(Spanned::span)),
            ("next", n.next.as_ref().map(Spanned::span)),
            ("keys", n.keys.as_ref().map(Spanned::span)),
            ("timeout_s", n.timeout_s.as_ref().map(Spanned::span)),
            ("max_retries", n.max_retries.as_ref().map(Spanned::span)),
            (
                "invalid_prompts",
                n.invalid_prompts.as_ref().map(Spanned::span),
            ),
            (
                "timeout_prompts",
                n.timeout_prompts.as_ref().map(Spanned::span),
            ),
            (
                "on_max_retries",
                n.on_max_retries.as_ref().map(Spanned::span),
            ),
        ];
        let mut ok = true;
        for (field, span) in present {
            if let Some(span) = span
                && !allowed.contains(&field)
            {
                self.error(
                    span,
                    format!("field \"{field}\" does not apply to a {kind} node"),
                );
                ok = false;
            }
        }
        let mut prompt_list = |v: &mut Self, list: &Option<Spanned<Vec<Spanned<String>>>>| {
            let mut out = Vec::new();
            for p in list.iter().flat_map(|l| l.get_ref()) {
                if prompts.contains(p.get_ref().as_str()) {
                    out.push(p.get_ref().clone());
                } else {
                    v.error(
                        p.span(),
                        format!(
                            "unknown prompt \"{}\" (known: {})",
                            p.get_ref(),
                            suggest(p.get_ref(), prompt_ids)
                        ),
                    );
                    ok = false;
                }
            }
            out
        };
        let main_prompts = prompt_list(self, &n.prompts);
        let invalid_prompts = prompt_list(self, &n.invalid_prompts);
        let timeout_prompts = prompt_list(self, &n.timeout_prompts);
        let barge_in = n.barge_in.as_ref().is_none_or(|b| *b.get_ref());
        let built = match kind {
            "play" => {
                if n.prompts.is_none() {
                    self.missing(node, name, "prompts");
                }
                let next = self.required_ref(node, name, &n.next, "next", by_name, names);
                next.map(|next| NodeKind::Play {
                    prompts: main_prompts,
                    barge_in,
                    next,
                })
            }
            "menu" => {
                if n.prompts.is_none() {
                    self.missing(node, name, "prompts");
                }
                let mut keys = Vec::new();
                match &n.keys {
                    Some(k) if !k.get_ref().is_empty() => {
                        for (key, target) in k.get_ref() {
                            let key_char = self.key(key);
                            let target = self.node_ref(target, by_name, names);
                            if let (Some(c), Some(t)) = (key_char, target) {
                                keys.push((c, t));
                            } else {
                                ok = false;
                            }
                        }
                    }
                    Some(k) => {
                        self.error(k.span(), "a menu needs at least one key".to_owned());
                        ok = false;
                    }
                    None => {
                        self.missing(node, name, "keys");
                        ok = false;
                    }
                }
                let timeout = match &n.timeout_s {
                    None => Duration::from_secs(6),
                    Some(t) if (0.5..=60.0).contains(t.get_ref()) => {
                        Duration::from_secs_f64(*t.get_ref())
                    }
                    Some(t) => {
                        self.error(
                            t.span(),
                            format!(
                                "timeout_s: expected seconds between 0.5 and 60, found {}",
                                t.get_ref()
                            ),
                        );
                        ok = false;
                        Duration::ZERO
                    }
                };
                let max_retries = match &n.max_retries {
                    None => 3,
                    Some(r) if (0..=10).contains(r.get_ref()) => {
                        u32::try_from(*r.get_ref()).unwrap_or(3)
                    }
                    Some(r) => {
                        self.error(
                            r.span(),
                            format!(
                                "max_retries: expected a number from 0 to 10, found {}",
                                r.get_ref()
                            ),
                        );
                        ok = false;
                        0
                    }
                };
                let fail = self.required_ref(
                    node,
                    name,
                    &n.on_max_retries,
                    "on_max_retries",
                    by_name,
                    names,
                );
                fail.map(|on_max_retries| {
                    NodeKind::Menu(Menu {
                        prompts: main_prompts,
                        barge_in,
                        keys,
                        timeout,
                        max_retries,
                        invalid_prompts,
                        timeout_prompts,
                        on_max_retries,
                    })
                })
            }
            _ => Some(NodeKind::Hangup),
        };
        if ok { built } else { None }
    }

    fn missing(&mut self, node: &Spanned<RawNode>, name: &Spanned<String>, field: &str) {
        let kind = node.get_ref().kind.get_ref();
        self.error(
            name.span(),
            format!(
                "{kind} node \"{}\" needs the field \"{field}\"",
                name.get_ref()
            ),
        );
    }

    fn required_ref(
        &mut self,
        node: &Spanned<RawNode>,
        name: &Spanned<String>,
        field_value: &Option<Spanned<String>>,
        field: &str,
        by_name: &HashMap<String, NodeId>,
        names: &[&str],
    ) -> Option<NodeId> {
        match field_value {
            Some(target) => self.node_ref(target, by_name, names),
            None => {
                self.missing(node, name, field);
                None
            }
        }
    }

    fn node_ref(
        &mut self,
        target: &Spanned<String>,
        by_name: &HashMap<String, NodeId>,
        names: &[&str],
    ) -> Option<NodeId> {
        let id = by_name.get(target.get_ref()).copied();
        if id.is_none() {
            self.error(
                target.span(),
                format!(
                    "unknown node \"{}\" (known: {})",
                    target.get_ref(),
                    suggest(target.get_ref(), names)
                ),
            );
        }
        id
    }

    fn key(&mut self, key: &Spanned<String>) -> Option<char> {
        let mut chars = key.get_ref().chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if KEYS.contains(c) => Some(c),
            _ => {
                self.error(
                    key.span(),
                    format!(
                        "expected one key of 0-9, *, #, A-D, found \"{}\"",
                        key.get_ref().escape_debug()
                    ),
                );
                None
            }
        }
    }

    /// Whole-plan checks: unreachable nodes (warning) and `play` chains that loop forever
    /// without ever waiting for a key (error: the caller could never leave).
    fn check_graph(&mut self, plan: &Plan, raw: &RawPlan) {
        let spans: Vec<Range<usize>> = raw.nodes.keys().map(Spanned::span).collect();
        let mut seen = vec![false; plan.nodes.len()];
        let mut stack = vec![plan.start];
        while let Some(id) = stack.pop() {
            if std::mem::replace(&mut seen[id], true) {
                continue;
            }
            match &plan.nodes[id].kind {
                NodeKind::Play { next, .. } => stack.push(*next),
                NodeKind::Menu(m) => {
                    stack.extend(m.keys.iter().map(|(_, t)| *t));
                    stack.push(m.on_max_retries);
                }
                NodeKind::Hangup => {}
            }
        }
        for (id, reached) in seen.iter().enumerate() {
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
        for (id, node) in plan.nodes.iter().enumerate() {
            let mut cur = id;
            for _ in 0..=plan.nodes.len() {
                match &plan.nodes[cur].kind {
                    NodeKind::Play { next, .. } => cur = *next,
                    _ => break,
                }
                if cur == id {
                    self.error(
                        spans[id].clone(),
                        format!(
                            "node \"{}\" loops through play nodes back to itself without ever waiting for a key",
                            node.name
                        ),
                    );
                    break;
                }
            }
        }
    }
}

/// Up to five known names, closest first, for "unknown X" messages.
fn suggest(wrong: &str, known: &[&str]) -> String {
    let mut scored: Vec<(usize, &str)> = known
        .iter()
        .map(|k| (edit_distance(wrong, k), *k))
        .collect();
    scored.sort();
    let mut out: Vec<&str> = scored.iter().take(5).map(|(_, k)| *k).collect();
    if known.len() > 5 {
        out.push("…");
    }
    if out.is_empty() {
        "none".to_owned()
    } else {
        out.join(", ")
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMPTS: &[&str] = &["welcome", "main_menu", "invalid_key", "no_input", "goodbye"];

    const GOOD: &str = r#"start = "welcome"

[nodes.welcome]
type = "play"
prompts = ["welcome"]
next = "menu"

[nodes.menu]
type = "menu"
prompts = ["main_menu"]
keys = { "1" = "bye", "*" = "menu" }
invalid_prompts = ["invalid_key"]
timeout_prompts = ["no_input"]
on_max_retries = "bye"

[nodes.bye]
type = "play"
prompts = ["goodbye"]
next = "end"

[nodes.end]
type = "hangup"
"#;

    fn errors(text: &str) -> Vec<String> {
        match load_str("dialplans/main.toml", text, PROMPTS) {
            Ok(_) => Vec::new(),
            Err(d) => d.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn valid_plan_loads_with_defaults() {
        let (plan, warnings) = load_str("p.toml", GOOD, PROMPTS).expect("valid");
        assert!(warnings.is_empty(), "{warnings:?}");
        let NodeKind::Menu(m) = &plan.nodes[plan.node_id("menu").expect("exists")].kind else {
            panic!("menu node expected");
        };
        assert_eq!(m.timeout, Duration::from_secs(6));
        assert_eq!(m.max_retries, 3);
        assert_eq!(m.target('1'), plan.node_id("bye"));
    }

    #[test]
    fn unknown_prompt_is_reported_with_position_and_suggestions() {
        let text = GOOD.replace("prompts = [\"main_menu\"]", "prompts = [\"main_menu_2\"]");
        let errs = errors(&text);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].starts_with(
                "dialplans/main.toml:10:12: unknown prompt \"main_menu_2\" (known: main_menu,"
            ),
            "{}",
            errs[0]
        );
    }

    #[test]
    fn every_problem_is_reported_not_just_the_first() {
        let text = GOOD
            .replace("next = \"menu\"", "next = \"menuu\"")
            .replace("\"1\" = \"bye\"", "\"11\" = \"bye\"")
            .replace("prompts = [\"goodbye\"]", "prompts = [\"goodby\"]");
        let errs = errors(&text);
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(
            errs[0].starts_with("dialplans/main.toml:6:8: unknown node \"menuu\" (known: menu,")
        );
        assert!(errs[1].contains(":11:10: expected one key of 0-9, *, #, A-D, found \"11\""));
        assert!(errs[2].contains(":18:12: unknown prompt \"goodby\""));
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let errs = errors("start = \"welcome\"\n[nodes.welcome\ntype = \"play\"\n");
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("dialplans/main.toml:2:"), "{}", errs[0]);
    }

    #[test]
    fn field_of_another_node_type_is_refused() {
        let text = GOOD.replace(
            "next = \"end\"",
            "next = \"end\"\nkeys = { \"1\" = \"end\" }",
        );
        let errs = errors(&text);
        assert!(
            errs.iter()
                .any(|e| e.contains("field \"keys\" does not apply to a play node")),
            "{errs:?}"
        );
    }

    #[test]
    fn play_loop_without_input_is_an_error() {
        let text = GOOD.replace("next = \"end\"", "next = \"bye\"");
        let errs = errors(&text);
        assert!(
            errs.iter().any(|e| e.contains("loops through play nodes")),
            "{errs:?}"
        );
    }

    #[test]
    fn unreachable_node_is_a_warning_only() {
        let text = format!("{GOOD}\n[nodes.orphan]\ntype = \"hangup\"\n");
        let (_, warnings) = load_str("p.toml", &text, PROMPTS).expect("warnings do not refuse");
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0]
                .to_string()
                .contains("warning: node \"orphan\" cannot be reached")
        );
    }

    #[test]
    fn menu_timeout_out_of_range_is_refused() {
        let text = GOOD.replace(
            "on_max_retries = \"bye\"",
            "on_max_retries = \"bye\"\ntimeout_s = 0",
        );
        let errs = errors(&text);
        assert!(
            errs.iter()
                .any(|e| e.contains("timeout_s: expected seconds between 0.5 and 60, found 0")),
            "{errs:?}"
        );
    }
}
