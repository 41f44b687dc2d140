//! From [`RawPlan`] to [`Plan`], or to every problem at once.
//!
//! Each problem is a [`Diagnostic`] that renders as `file:line:col: message`, pointing at the
//! value that is wrong. Errors refuse the plan; warnings (an unreachable node) do not.
//!
//! A node's `type` is read into a [`RawKind`], which knows the fields that type takes; each
//! type then has its own method that turns the flat [`RawNode`] into a [`NodeKind`]. A
//! validator method reports every problem it finds and carries on, so one pass over the file
//! yields all of them; a node with any error is left out of the plan.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::syntax::{self, RawCallerRule, RawItems, RawNode, RawPlan, RawRef};
use super::{
    Address, CallerMatch, Channel, Collect, DigitCheck, Item, Menu, Node, NodeId, NodeKind, Plan,
};
use crate::phone;

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
    pub queues: &'a [&'a str],
    pub forms: &'a [&'a str],
    pub schedules: &'a [&'a str],
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

/// A node's `type` as written, once it names a type the daemon has.
///
/// The flat [`RawNode`] accepts every field of every type (see [`syntax`] for why); this is
/// where a type says which of them it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RawKind {
    Play,
    Menu,
    Collect,
    Schedule,
    Caller,
    Set,
    Goto,
    Queue,
    Voicemail,
    SendForm,
    Transfer,
    Hangup,
}

impl RawKind {
    /// Every type, in the order an "unknown node type" error lists them.
    const ALL: [Self; 12] = [
        Self::Play,
        Self::Menu,
        Self::Collect,
        Self::Schedule,
        Self::Caller,
        Self::Set,
        Self::Goto,
        Self::Queue,
        Self::Voicemail,
        Self::SendForm,
        Self::Transfer,
        Self::Hangup,
    ];

    /// The type a `type = "…"` value names, if any.
    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The name as written in `type = "…"`.
    fn name(self) -> &'static str {
        match self {
            Self::Play => "play",
            Self::Menu => "menu",
            Self::Collect => "collect",
            Self::Schedule => "schedule",
            Self::Caller => "caller",
            Self::Set => "set",
            Self::Goto => "goto",
            Self::Queue => "queue",
            Self::Voicemail => "voicemail",
            Self::SendForm => "send_form",
            Self::Transfer => "transfer",
            Self::Hangup => "hangup",
        }
    }

    /// The fields a node of this type takes, besides `type`; any other is an error.
    fn fields(self) -> &'static [&'static str] {
        match self {
            Self::Play => &["prompts", "barge_in", "next"],
            Self::Menu => &[
                "prompts",
                "barge_in",
                "keys",
                "timeout_s",
                "max_retries",
                "invalid_prompts",
                "timeout_prompts",
                "on_max_retries",
            ],
            Self::Collect => &[
                "prompts",
                "barge_in",
                "var",
                "min_digits",
                "max_digits",
                "terminator",
                "timeout_s",
                "inter_digit_timeout_s",
                "readback",
                "confirm_prompts",
                "validate",
                "max_retries",
                "invalid_prompts",
                "timeout_prompts",
                "next",
                "on_max_retries",
            ],
            Self::Schedule => &["schedule", "open", "closed"],
            Self::Caller => &["rules", "default"],
            Self::Set => &["vars", "next"],
            Self::Goto => &["next"],
            Self::Queue => &["queue", "no_agents", "keys"],
            Self::Voicemail => &["next", "on_error"],
            Self::SendForm => &["form", "channel", "to", "next", "on_error"],
            Self::Transfer => &["to", "on_error"],
            Self::Hangup => &[],
        }
    }
}

/// The DTMF keys a menu, a queue or a collect terminator may name.
const KEYS: &str = "0123456789*#ABCD";

/// One node as written, with its name: what a message about it points at and names.
#[derive(Clone, Copy)]
struct NodeSrc<'r> {
    name: &'r Spanned<String>,
    node: &'r Spanned<RawNode>,
    kind: RawKind,
}

impl<'r> NodeSrc<'r> {
    fn raw(self) -> &'r RawNode {
        self.node.get_ref()
    }

    /// `barge_in` defaults to on: a key press cuts the prompts short.
    fn barge_in(self) -> bool {
        self.raw().barge_in.as_ref().is_none_or(|b| *b.get_ref())
    }
}

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
            nodes.push(kind.map(|kind| Node {
                name: name.get_ref().clone(),
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

    /// One node: its type, the fields that type does not take, then the type's own checks.
    /// `None` if the node has any error.
    fn node(&mut self, name: &Spanned<String>, node: &Spanned<RawNode>) -> Option<NodeKind> {
        let n = node.get_ref();
        let Some(kind) = RawKind::parse(n.kind.get_ref()) else {
            self.error(
                n.kind.span(),
                format!(
                    "unknown node type \"{}\" in node \"{}\" (known: {})",
                    n.kind.get_ref(),
                    name.get_ref(),
                    RawKind::ALL.map(RawKind::name).join(", ")
                ),
            );
            return None;
        };
        let errors_before = self.error_count();
        let allowed = kind.fields();
        for (field, span) in n.present_fields() {
            if !allowed.contains(&field) {
                self.error(
                    span,
                    format!("field \"{field}\" does not apply to a {} node", kind.name()),
                );
            }
        }
        let at = NodeSrc { name, node, kind };
        let built = match kind {
            RawKind::Play => self.play(at),
            RawKind::Menu => self.menu(at),
            RawKind::Collect => self.collect(at),
            RawKind::Schedule => self.schedule(at),
            RawKind::Caller => self.caller(at),
            RawKind::Set => self.set(at),
            RawKind::Goto => self.goto(at),
            RawKind::Queue => self.queue(at),
            RawKind::Voicemail => self.voicemail(at),
            RawKind::SendForm => self.send_form(at),
            RawKind::Transfer => self.transfer(at),
            RawKind::Hangup => Some(NodeKind::Hangup),
        };
        if self.error_count() > errors_before {
            None
        } else {
            built
        }
    }

    fn play(&mut self, at: NodeSrc<'_>) -> Option<NodeKind> {
        let n = at.raw();
        let items = self.required_items(at, &n.prompts);
        let next = self.required_ref(at, &n.next, "next");
        Some(NodeKind::Play {
            items,
            barge_in: at.barge_in(),
            next: next?,
        })
    }

    fn menu(&mut self, at: NodeSrc<'_>) -> Option<NodeKind> {
        let n = at.raw();
        let prompts = self.required_items(at, &n.prompts);
        let keys = match &n.keys {
            Some(k) if !k.get_ref().is_empty() => self.key_targets(k.get_ref()),
            Some(k) => {
                self.error(k.span(), "a menu needs at least one key".to_owned());
                Vec::new()
            }
            None => {
                self.missing(at, "keys");
                Vec::new()
            }
        };
        let timeout = self.seconds(&n.timeout_s, "timeout_s", 6.0, 0.5, 60.0);
        let max_retries = self.count(&n.max_retries, "max_retries", 3, 0, 10) as u32;
        let invalid_prompts = self.items(&n.invalid_prompts);
        let timeout_prompts = self.items(&n.timeout_prompts);
        let fail = self.required_ref(at, &n.on_max_retries, "on_max_retries");
        Some(NodeKind::Menu(Menu {
            prompts,
            barge_in: at.barge_in(),
            keys,
            timeout,
            max_retries,
            invalid_prompts,
            timeout_prompts,
            on_max_retries: fail?,
        }))
    }

    fn collect(&mut self, at: NodeSrc<'_>) -> Option<NodeKind> {
        let n = at.raw();
        let prompts = self.required_items(at, &n.prompts);
        let var = match &n.var {
            Some(v) => self.var_name(v),
            None => {
                self.missing(at, "var");
                String::new()
            }
        };
        let min_digits = self.count(&n.min_digits, "min_digits", 1, 1, 32);
        let max_digits = self.count(&n.max_digits, "max_digits", 15, 1, 32);
        if let Some(m) = &n.max_digits
            && max_digits < min_digits
        {
            self.error(
                m.span(),
                format!(
                    "max_digits: expected at least min_digits ({min_digits}), found {max_digits}"
                ),
            );
        }
        let terminator = match &n.terminator {
            None => Some('#'),
            Some(t) if t.get_ref().is_empty() => None,
            Some(t) => self.key(t),
        };
        let check = match n
            .validate
            .as_ref()
            .map(|v| (v.get_ref().as_str(), v.span()))
        {
            None => DigitCheck::Any,
            Some(("hu_mobile", _)) => DigitCheck::HuMobile,
            Some((other, span)) => {
                self.error(
                    span,
                    format!("validate: expected \"hu_mobile\", found \"{other}\""),
                );
                DigitCheck::Any
            }
        };
        // In this order: messages at one position (several missing fields point at the
        // node's name) keep the order they are found in.
        let timeout = self.seconds(&n.timeout_s, "timeout_s", 8.0, 0.5, 60.0);
        let inter_digit_timeout = self.seconds(
            &n.inter_digit_timeout_s,
            "inter_digit_timeout_s",
            4.0,
            0.5,
            30.0,
        );
        let confirm_prompts = match &n.confirm_prompts {
            Some(_) => self.items(&n.confirm_prompts),
            None => self.default_prompt(at, "confirm_number"),
        };
        let max_retries = self.count(&n.max_retries, "max_retries", 3, 0, 10) as u32;
        let invalid_prompts = self.items(&n.invalid_prompts);
        let timeout_prompts = self.items(&n.timeout_prompts);
        let next = self.required_ref(at, &n.next, "next");
        let fail = self.required_ref(at, &n.on_max_retries, "on_max_retries");
        Some(NodeKind::Collect(Collect {
            prompts,
            barge_in: at.barge_in(),
            var,
            min_digits,
            max_digits,
            terminator,
            timeout,
            inter_digit_timeout,
            readback: n.readback.as_ref().is_some_and(|r| *r.get_ref()),
            confirm_prompts,
            check,
            max_retries,
            invalid_prompts,
            timeout_prompts,
            next: next?,
            on_max_retries: fail?,
        }))
    }

    fn schedule(&mut self, at: NodeSrc<'_>) -> Option<NodeKind> {
        let n = at.raw();
        let schedule = self.known_id(at, &n.schedule, "schedule", self.known.schedules);
        let open = self.required_ref(at, &n.open, "open");
        let closed = self.required_ref(at, &n.closed, "closed");
        Some(NodeKind::Schedule {
            schedule: schedule?,
            open: open?,
            closed: closed?,
        })
    }

    fn caller(&mut self, at: NodeSrc<'_>) -> Option<NodeKind> {
        let n = at.raw();
        let mut rules = Vec::new();
        match &n.rules {
            Some(list) => {
                for rule in list.get_ref() {
                    if let Some(r) = self.caller_rule(rule) {
                        rules.push(r);
                    }
                }
            }
            None => self.missing(at, "rules"),
        }
        let default = self.required_ref(at, &n.default, "default");
        Some(NodeKind::Caller {
            rules,
            default: default?,
        })
    }

    /// One rule of a `caller` node: exactly one of `numbers` and `kind`, and where it leads.
    fn caller_rule(&mut self, rule: &Spanned<RawCallerRule>) -> Option<(CallerMatch, NodeId)> {
        let r = rule.get_ref();
        let m = match (&r.numbers, &r.kind) {
            (Some(nums), None) => Some(CallerMatch::Numbers(self.phone_numbers(nums.get_ref()))),
            (None, Some(k)) => match k.get_ref().as_str() {
                "mobile" => Some(CallerMatch::Mobile),
                "landline" => Some(CallerMatch::Landline),
                "anonymous" => Some(CallerMatch::Anonymous),
                other => {
                    self.error(
                        k.span(),
                        format!("kind: expected mobile, landline or anonymous, found \"{other}\""),
                    );
                    None
                }
            },
            _ => {
                self.error(
                    rule.span(),
                    "a caller rule needs exactly one of \"numbers\" and \"kind\"".to_owned(),
                );
                None
            }
        };
        // The target is checked even when the match is wrong: both mistakes are reported.
        let t = self.node_ref(&r.next);
        Some((m?, t?))
    }

    fn set(&mut self, at: NodeSrc<'_>) -> Option<NodeKind> {
        let n = at.raw();
        let mut vars = Vec::new();
        match &n.vars {
            Some(m) => {
                for (k, val) in m.get_ref() {
                    let key = self.var_name(k);
                    vars.push((key, val.get_ref().clone()));
                }
            }
            None => self.missing(at, "vars"),
        }
        let next = self.required_ref(at, &n.next, "next");
        Some(NodeKind::Set { vars, next: next? })
    }

    fn goto(&mut self, at: NodeSrc<'_>) -> Option<NodeKind> {
        Some(NodeKind::Goto {
            next: self.required_ref(at, &at.raw().next, "next")?,
        })
    }

    fn queue(&mut self, at: NodeSrc<'_>) -> Option<NodeKind> {
        let n = at.raw();
        let queue = self.known_id(at, &n.queue, "queue", self.known.queues);
        let no_agents = self.required_ref(at, &n.no_agents, "no_agents");
        // Keys that take a waiting caller out of the queue (e.g. to leave a message).
        let keys = n
            .keys
            .as_ref()
            .map_or_else(Vec::new, |k| self.key_targets(k.get_ref()));
        Some(NodeKind::Queue {
            queue: queue?,
            no_agents: no_agents?,
            keys,
        })
    }

    fn voicemail(&mut self, at: NodeSrc<'_>) -> Option<NodeKind> {
        let n = at.raw();
        let next = self.required_ref(at, &n.next, "next");
        let on_error = self.required_ref(at, &n.on_error, "on_error");
        Some(NodeKind::Voicemail {
            next: next?,
            on_error: on_error?,
        })
    }

    fn send_form(&mut self, at: NodeSrc<'_>) -> Option<NodeKind> {
        let n = at.raw();
        let form = self.known_id(at, &n.form, "form", self.known.forms);
        let channel = match n.channel.as_ref().map(|c| (c.get_ref().as_str(), c.span())) {
            Some(("sms", _)) => Some(Channel::Sms),
            Some(("email", _)) => Some(Channel::Email),
            Some((other, span)) => {
                self.error(
                    span,
                    format!("channel: expected \"sms\" or \"email\", found \"{other}\""),
                );
                None
            }
            None => {
                self.missing(at, "channel");
                None
            }
        };
        let to = match n.to.as_ref() {
            None => Some(Address::Caller),
            Some(t) if t.get_ref() == "@caller" => Some(Address::Caller),
            Some(t) => match t.get_ref().strip_prefix("@var:") {
                Some(v) if self.vars_set.contains(v) => Some(Address::Var(v.to_owned())),
                Some(v) => {
                    self.error(
                        t.span(),
                        format!("variable \"{v}\" is never set by a collect or set node"),
                    );
                    None
                }
                None => {
                    self.error(
                        t.span(),
                        format!(
                            "to: expected \"@caller\" or \"@var:NAME\", found \"{}\"",
                            t.get_ref()
                        ),
                    );
                    None
                }
            },
        };
        let next = self.required_ref(at, &n.next, "next");
        let on_error = self.required_ref(at, &n.on_error, "on_error");
        Some(NodeKind::SendForm {
            form: form?,
            channel: channel?,
            to: to?,
            next: next?,
            on_error: on_error?,
        })
    }

    fn transfer(&mut self, at: NodeSrc<'_>) -> Option<NodeKind> {
        let n = at.raw();
        let to = match &n.to {
            Some(t) => match phone::normalize(t.get_ref()) {
                Some(e) if self.transfer_allowed.contains(&e) => Some(e),
                Some(e) => {
                    let allowed = if self.transfer_allowed.is_empty() {
                        "none".to_owned()
                    } else {
                        self.transfer_allowed.join(", ")
                    };
                    self.error(
                        t.span(),
                        format!(
                            "transfer to {e} is not allowed: add it to [transfer] allowed (allowed: {allowed})"
                        ),
                    );
                    None
                }
                None => {
                    self.error(
                        t.span(),
                        format!("expected a phone number, found \"{}\"", t.get_ref()),
                    );
                    None
                }
            },
            None => {
                self.missing(at, "to");
                None
            }
        };
        let on_error = self.required_ref(at, &n.on_error, "on_error");
        Some(NodeKind::Transfer {
            to: to?,
            on_error: on_error?,
        })
    }

    fn error_count(&self) -> usize {
        self.diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    fn missing(&mut self, at: NodeSrc<'_>, field: &str) {
        self.error(
            at.name.span(),
            format!(
                "{} node \"{}\" needs the field \"{field}\"",
                at.kind.name(),
                at.name.get_ref()
            ),
        );
    }

    fn required_ref(
        &mut self,
        at: NodeSrc<'_>,
        field_value: &Option<RawRef>,
        field: &str,
    ) -> Option<NodeId> {
        match field_value {
            Some(target) => self.node_ref(target),
            None => {
                self.missing(at, field);
                None
            }
        }
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

    fn known_id(
        &mut self,
        at: NodeSrc<'_>,
        value: &Option<Spanned<String>>,
        what: &str,
        known: &[&str],
    ) -> Option<String> {
        let Some(v) = value else {
            self.missing(at, what);
            return None;
        };
        if known.contains(&v.get_ref().as_str()) {
            Some(v.get_ref().clone())
        } else {
            self.error(
                v.span(),
                format!(
                    "unknown {what} \"{}\" (known: {})",
                    v.get_ref(),
                    suggest(v.get_ref(), known)
                ),
            );
            None
        }
    }

    fn required_items(&mut self, at: NodeSrc<'_>, list: &Option<RawItems>) -> Vec<Item> {
        if list.is_none() {
            self.missing(at, "prompts");
        }
        self.items(list)
    }

    fn default_prompt(&mut self, at: NodeSrc<'_>, id: &str) -> Vec<Item> {
        if !self.known.prompts.contains(&id) {
            self.error(
                at.node.span(),
                format!(
                    "node \"{}\" uses the default prompt \"{id}\", which the prompt set lacks",
                    at.name.get_ref()
                ),
            );
        }
        vec![Item::Prompt(id.to_owned())]
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
                if self.vars_set.contains(var) {
                    out.push(Item::Var(var.to_owned()));
                } else {
                    self.error(
                        p.span(),
                        format!("variable \"{var}\" is never set by a collect or set node"),
                    );
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
            } else if self.known.prompts.contains(&text) {
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

    /// Whole-plan checks: unreachable nodes (warning); loops that never wait for the caller
    /// (error: the call would spin); menus from which the call can never end (error).
    fn check_graph(&mut self, plan: &Plan, raw: &RawPlan) {
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
pub(crate) fn successors(kind: &NodeKind) -> Vec<NodeId> {
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

    const PROMPTS: &[&str] = &[
        "welcome",
        "main_menu",
        "invalid_key",
        "no_input",
        "goodbye",
        "enter_mobile",
    ];
    const KNOWN: Known<'static> = Known {
        prompts: PROMPTS,
        queues: &["operators"],
        forms: &["tajekoztato", "lakcim"],
        schedules: &["staffed"],
    };

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
        match load_str("dialplans/main.toml", text, &KNOWN) {
            Ok(_) => Vec::new(),
            Err(d) => d.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn valid_plan_loads_with_defaults() {
        let (plan, warnings) = load_str("p.toml", GOOD, &KNOWN).expect("valid");
        assert!(warnings.is_empty(), "{warnings:?}");
        let NodeKind::Menu(m) = &plan.nodes[plan.node_id("menu").expect("exists")].kind else {
            panic!("menu node expected");
        };
        assert_eq!(m.timeout, Duration::from_secs(6));
        assert_eq!(m.max_retries, 3);
        assert_eq!(m.target('1'), plan.node_id("bye"));
        assert_eq!(plan.calendar_dir, "calendar");
    }

    #[test]
    fn unknown_prompt_is_reported_with_position_and_suggestions() {
        let text = GOOD.replace("prompts = [\"main_menu\"]", "prompts = [\"main_menu_2\"]");
        let errs = errors(&text);
        assert_eq!(
            errs,
            vec![
                "dialplans/main.toml:10:12: unknown prompt \"main_menu_2\" (known: main_menu, no_input, welcome, enter_mobile, goodbye, …)"
            ]
        );
    }

    #[test]
    fn five_different_mistakes_yield_five_located_errors() {
        let text = GOOD
            .replace("next = \"menu\"", "next = \"menuu\"")
            .replace("\"1\" = \"bye\"", "\"11\" = \"bye\"")
            .replace("prompts = [\"goodbye\"]", "prompts = [\"goodby\"]")
            .replace(
                "on_max_retries = \"bye\"",
                "on_max_retries = \"bye\"\ntimeout_s = 0",
            )
            .replace("type = \"hangup\"", "type = \"hangup\"\nnext = \"welcome\"");
        let errs = errors(&text);
        assert_eq!(
            errs,
            vec![
                "dialplans/main.toml:6:8: unknown node \"menuu\" (known: menu, end, bye, welcome)",
                "dialplans/main.toml:11:10: expected one key of 0-9, *, #, A-D, found \"11\"",
                "dialplans/main.toml:15:13: timeout_s: expected seconds between 0.5 and 60, found 0",
                "dialplans/main.toml:19:12: unknown prompt \"goodby\" (known: goodbye, no_input, welcome, invalid_key, main_menu, …)",
                "dialplans/main.toml:24:8: field \"next\" does not apply to a hangup node",
            ]
        );
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let errs = errors("start = \"welcome\"\n[nodes.welcome\ntype = \"play\"\n");
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("dialplans/main.toml:2:"), "{}", errs[0]);
    }

    #[test]
    fn play_loop_without_input_is_an_error() {
        let text = GOOD.replace("next = \"end\"", "next = \"bye\"");
        let errs = errors(&text);
        assert!(
            errs.iter()
                .any(|e| e
                    .contains("node \"bye\" loops back to itself without ever waiting for a key")),
            "{errs:?}"
        );
    }

    #[test]
    fn menu_with_no_way_out_is_an_error() {
        let text = GOOD
            .replace("\"1\" = \"bye\"", "\"1\" = \"menu\"")
            .replace("on_max_retries = \"bye\"", "on_max_retries = \"menu\"");
        let errs = errors(&text);
        assert!(
            errs.iter()
                .any(|e| e.contains("menu \"menu\" has no way out")),
            "{errs:?}"
        );
    }

    #[test]
    fn unreachable_node_is_a_warning_only() {
        let text = format!("{GOOD}\n[nodes.orphan]\ntype = \"hangup\"\n");
        let (_, warnings) = load_str("p.toml", &text, &KNOWN).expect("warnings do not refuse");
        assert_eq!(warnings.len(), 1);
        assert_eq!(
            warnings[0].to_string(),
            "p.toml:24:8: warning: node \"orphan\" cannot be reached from \"start\""
        );
    }

    #[test]
    fn unknown_schedule_queue_and_form_are_refused_with_suggestions() {
        let text = GOOD.replace(
            "[nodes.bye]",
            "[nodes.s]\ntype = \"schedule\"\nschedule = \"stafed\"\nopen = \"q\"\nclosed = \"f\"\n\n[nodes.q]\ntype = \"queue\"\nqueue = \"operator\"\nno_agents = \"bye\"\n\n[nodes.f]\ntype = \"send_form\"\nform = \"lakcm\"\nchannel = \"fax\"\nnext = \"bye\"\non_error = \"bye\"\n\n[nodes.bye]",
        );
        let errs = errors(&text);
        assert!(
            errs.iter()
                .any(|e| e.contains("unknown schedule \"stafed\" (known: staffed)")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.contains("unknown queue \"operator\" (known: operators)")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.contains("unknown form \"lakcm\" (known: lakcim, tajekoztato)")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.contains("channel: expected \"sms\" or \"email\", found \"fax\"")),
            "{errs:?}"
        );
    }

    #[test]
    fn transfer_only_to_numbers_the_plan_allows() {
        let plan = |allowed: &str| {
            GOOD.replace("start = \"welcome\"", &format!("start = \"welcome\"\n[transfer]\nallowed = [{allowed}]"))
                .replace("[nodes.bye]", "[nodes.t]\ntype = \"transfer\"\nto = \"06 23 444 555\"\non_error = \"bye\"\n\n[nodes.bye]")
        };
        let errs = errors(&plan("\"+36 1 111 2222\""));
        assert!(
            errs.iter().any(|e| e.contains("transfer to +3623444555 is not allowed: add it to [transfer] allowed (allowed: +3611112222)")),
            "{errs:?}"
        );
        assert!(errors(&plan("\"+3623444555\"")).is_empty());
    }

    #[test]
    fn undefined_variable_is_refused() {
        let text = GOOD.replace(
            "prompts = [\"goodbye\"]",
            "prompts = [\"goodbye\", \"@var:mobile\"]",
        );
        let errs = errors(&text);
        assert!(
            errs.iter()
                .any(|e| e.contains("variable \"mobile\" is never set by a collect or set node")),
            "{errs:?}"
        );
    }
}
