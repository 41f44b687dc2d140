//! From [`RawPlan`] to [`Plan`], or to every problem at once.
//!
//! Each problem is a [`Diagnostic`] that renders as `file:line:col: message`, pointing at the
//! value that is wrong. Errors refuse the plan; warnings (an unreachable node) do not. Checks
//! report what they find and carry on, so one pass over the file yields every problem.
//!
//! The work is split three ways:
//!
//! ```text
//! mod.rs     the entry points, the validator, and checks of single values shared by node
//!            types: prompt items, node references, keys, numbers, durations
//! nodes.rs   RawKind (a node's `type`, owning the fields that type takes) and one method per
//!            type that turns the flat RawNode into a NodeKind
//! graph.rs   whole-plan checks once every node is known: reachability, loops that never
//!            wait for the caller, menus with no way out
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::syntax::{self, RawItems, RawPlan, RawRef};
use super::{Item, Node, NodeId, Plan};
use crate::phone;

mod graph;
mod nodes;
#[cfg(test)]
mod tests;

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

/// The ids a plan may refer to, from outside the plan file.
#[derive(Debug, Clone, Copy, Default)]
pub struct Known<'a> {
    pub prompts: &'a [&'a str],
    /// The prompt set did not load (its own error says why): prompt names are not
    /// checked, rather than every one reported unknown after the real cause.
    pub skip_prompts: bool,
    pub queues: &'a [&'a str],
    pub forms: &'a [&'a str],
    /// The catalog's forms that a `form_menu` offers (those with a key and a prompt), in
    /// catalog order.
    pub form_choices: &'a [FormChoice<'a>],
    pub schedules: &'a [&'a str],
}

/// A form the form-choice menu offers: the key that picks it and the prompt that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormChoice<'a> {
    pub id: &'a str,
    pub key: char,
    pub prompt: &'a str,
}

/// Reads and validates a plan file.
///
/// On success returns the plan and its warnings; on failure every diagnostic (errors first).
pub fn load(path: &Path, known: &Known<'_>) -> Result<(Plan, Vec<Diagnostic>), Vec<Diagnostic>> {
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
    load_str(&file, &text, known)
}

/// As [`load`], from text already in memory.
pub fn load_str(
    file: &str,
    text: &str,
    known: &Known<'_>,
) -> Result<(Plan, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut v = Validator {
        file,
        text,
        known,
        diags: Vec::new(),
        names: Vec::new(),
        by_name: HashMap::new(),
        vars_set: HashSet::new(),
        transfer_allowed: Vec::new(),
    };
    let raw = match syntax::parse(text) {
        Ok(raw) => raw,
        Err((msg, span)) => {
            v.error(span.unwrap_or(0..0), msg.trim_end().to_owned());
            return Err(v.diags);
        }
    };
    let plan = v.build(&raw);
    let has_error = v.diags.iter().any(|d| d.severity == Severity::Error);
    v.diags
        .sort_by_key(|d| (d.severity == Severity::Warning, d.line, d.col));
    match plan {
        Some(plan) if !has_error => Ok((plan, v.diags)),
        _ => Err(v.diags),
    }
}

/// The DTMF keys a menu, a queue or a collect terminator may name.
const KEYS: &str = "0123456789*#ABCD";

/// One validation under way: the text (for positions), the problems found so far, and the
/// plan-wide facts the node checks need.
struct Validator<'a> {
    file: &'a str,
    text: &'a str,
    known: &'a Known<'a>,
    diags: Vec<Diagnostic>,
    /// Node names in file order; a node's index is its [`NodeId`].
    names: Vec<String>,
    by_name: HashMap<String, NodeId>,
    /// Variables some `collect` or `set` node sets, wherever it stands in the plan.
    vars_set: HashSet<String>,
    /// `[transfer] allowed`, as E.164.
    transfer_allowed: Vec<String>,
}

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

    fn build(&mut self, raw: &RawPlan) -> Option<Plan> {
        self.names = raw.nodes.keys().map(|k| k.get_ref().clone()).collect();
        self.by_name = self
            .names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();

        let start = self.node_ref(&raw.start);
        if let Some(t) = &raw.transfer {
            self.transfer_allowed = self.phone_numbers(&t.get_ref().allowed);
        }
        self.vars_set = raw
            .nodes
            .values()
            .flat_map(|n| {
                let n = n.get_ref();
                let mut v: Vec<String> = n.var.iter().map(|s| s.get_ref().clone()).collect();
                v.extend(
                    n.vars
                        .iter()
                        .flat_map(|m| m.get_ref().keys().map(|k| k.get_ref().clone())),
                );
                v
            })
            .collect();
        let mut nodes = Vec::with_capacity(raw.nodes.len());
        for (name, node) in &raw.nodes {
            let kind = self.node(name, node);
            let label = self.label(&node.get_ref().label);
            nodes.push(kind.map(|kind| Node {
                name: name.get_ref().clone(),
                label,
                kind,
            }));
        }
        let nodes: Option<Vec<Node>> = nodes.into_iter().collect();
        let (start, nodes) = (start?, nodes?);
        let calendar_dir = raw
            .calendar
            .as_ref()
            .map_or_else(|| "calendar".to_owned(), |c| c.get_ref().clone());
        let plan = Plan {
            source: self.file.to_owned(),
            start,
            nodes,
            by_name: self.by_name.clone(),
            calendar_dir,
            transfer_allowed: std::mem::take(&mut self.transfer_allowed),
        };
        self.check_graph(&plan, raw);
        Some(plan)
    }

    fn error_count(&self) -> usize {
        self.diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    fn node_ref(&mut self, target: &RawRef) -> Option<NodeId> {
        let id = self.by_name.get(target.get_ref()).copied();
        if id.is_none() {
            let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
            let known = suggest(target.get_ref(), &names);
            self.error(
                target.span(),
                format!("unknown node \"{}\" (known: {known})", target.get_ref()),
            );
        }
        id
    }

    /// `key = "node"` pairs of a menu or a queue; a pair with a bad key or target is left out.
    fn key_targets(&mut self, keys: &BTreeMap<Spanned<String>, RawRef>) -> Vec<(char, NodeId)> {
        let mut out = Vec::new();
        for (key, target) in keys {
            if let (Some(c), Some(t)) = (self.key(key), self.node_ref(target)) {
                out.push((c, t));
            }
        }
        out
    }

    /// Phone numbers in any common form, as E.164; one that is not a number is reported.
    fn phone_numbers(&mut self, list: &[Spanned<String>]) -> Vec<String> {
        let mut out = Vec::new();
        for n in list {
            match phone::normalize(n.get_ref()) {
                Some(e164) => out.push(e164),
                None => self.error(
                    n.span(),
                    format!("expected a phone number, found \"{}\"", n.get_ref()),
                ),
            }
        }
        out
    }

    /// Prompt items: ids from the manifest, or `@next_opening:SCHEDULE`, `@var:NAME`, `@caller`.
    fn items(&mut self, list: &Option<RawItems>) -> Vec<Item> {
        let mut out = Vec::new();
        for p in list.iter().flat_map(|l| l.get_ref()) {
            let text = p.get_ref().as_str();
            if let Some(schedule) = text.strip_prefix("@next_opening:") {
                if self.known.schedules.contains(&schedule) {
                    out.push(Item::NextOpening(schedule.to_owned()));
                } else {
                    self.error(
                        p.span(),
                        format!(
                            "unknown schedule \"{schedule}\" (known: {})",
                            suggest(schedule, self.known.schedules)
                        ),
                    );
                }
            } else if let Some(var) = text.strip_prefix("@var:") {
                if self.set_var(p.span(), var) {
                    out.push(Item::Var(var.to_owned()));
                }
            } else if text == "@caller" {
                out.push(Item::Caller);
            } else if text.starts_with('@') {
                self.error(
                    p.span(),
                    format!(
                        "expected @next_opening:SCHEDULE, @var:NAME or @caller, found \"{text}\""
                    ),
                );
            } else if self.known.skip_prompts || self.known.prompts.contains(&text) {
                out.push(Item::Prompt(text.to_owned()));
            } else {
                self.error(
                    p.span(),
                    format!(
                        "unknown prompt \"{text}\" (known: {})",
                        suggest(text, self.known.prompts)
                    ),
                );
            }
        }
        out
    }

    /// A node's `label`: one line of text, trimmed. An empty one is an error: leaving the
    /// field out is how a node goes without a label.
    fn label(&mut self, label: &Option<Spanned<String>>) -> Option<String> {
        let l = label.as_ref()?;
        let text = l.get_ref().trim();
        if text.is_empty() {
            self.error(
                l.span(),
                "label: expected a text for operators to read, found an empty one".to_owned(),
            );
            return None;
        }
        if text.contains(['\n', '\r']) {
            self.error(
                l.span(),
                format!(
                    "label: expected one line, found a line break in \"{}\"",
                    text.escape_debug()
                ),
            );
            return None;
        }
        Some(text.to_owned())
    }

    /// Whether some node sets variable `name`; if none does, says so at `span`.
    fn set_var(&mut self, span: Range<usize>, name: &str) -> bool {
        let set = self.vars_set.contains(name);
        if !set {
            self.error(
                span,
                format!("variable \"{name}\" is never set by a collect, form_menu or set node"),
            );
        }
        set
    }

    fn var_name(&mut self, v: &Spanned<String>) -> String {
        let name = v.get_ref();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            self.error(
                v.span(),
                format!("expected a variable name of letters, digits and _, found \"{name}\""),
            );
        }
        name.clone()
    }

    fn seconds(
        &mut self,
        v: &Option<Spanned<f64>>,
        field: &str,
        default: f64,
        min: f64,
        max: f64,
    ) -> Duration {
        match v {
            None => Duration::from_secs_f64(default),
            Some(t) if (min..=max).contains(t.get_ref()) => Duration::from_secs_f64(*t.get_ref()),
            Some(t) => {
                self.error(
                    t.span(),
                    format!(
                        "{field}: expected seconds between {min} and {max}, found {}",
                        t.get_ref()
                    ),
                );
                Duration::from_secs_f64(default)
            }
        }
    }

    fn count(
        &mut self,
        v: &Option<Spanned<i64>>,
        field: &str,
        default: usize,
        min: i64,
        max: i64,
    ) -> usize {
        match v {
            None => default,
            Some(r) if (min..=max).contains(r.get_ref()) => {
                usize::try_from(*r.get_ref()).unwrap_or(default)
            }
            Some(r) => {
                self.error(
                    r.span(),
                    format!(
                        "{field}: expected a number from {min} to {max}, found {}",
                        r.get_ref()
                    ),
                );
                default
            }
        }
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
}

use crate::suggest::closest as suggest;
