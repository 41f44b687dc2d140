//! Dial plans: what the line does, as text admins edit.
//!
//! A plan is a TOML file of named nodes (`dialplans/README.md` is the admin's guide):
//!
//! ```toml
//! start = "welcome"
//!
//! [nodes.welcome]
//! type = "play"
//! prompts = ["welcome"]
//! next = "main_menu"
//!
//! [nodes.main_menu]
//! type = "menu"
//! prompts = ["main_menu"]
//! keys = { "3" = "office_hours", "*" = "main_menu" }
//! on_max_retries = "goodbye"
//! ```
//!
//! Loading has two stages. [`syntax`] reads the file keeping the byte span of every value;
//! [`validate`] turns it into an immutable [`Plan`] or into *every* problem, each rendered
//! as `dialplans/main.toml:12:5: unknown prompt "menu_2" (known: ...)`. A plan that does not
//! validate never replaces the one serving calls. [`interp`] runs a plan for one call as a
//! sans-IO state machine: digits, playback completions and timeouts in; play/stop/hang-up
//! actions out. [`label`] turns a call's menu path (node names) into what operators read
//! (`Főmenü › Nyomtatványok › Ügyintéző`). The dial-plan layer knows nothing of SIP or RTP.

pub mod calendar;
pub mod channel;
pub mod interp;
pub mod label;
pub mod simulate;
pub mod syntax;
pub mod validate;

use std::collections::HashMap;
use std::time::Duration;

/// Where a form goes (`channel = "sms" | "email"` of a `send_form` node): the one
/// channel type the outbox stores, shared from `notify`.
pub use channel::Channel;
pub use validate::{Diagnostic, FormChoice, Known, Severity, load, load_str};

/// Index of a node inside a [`Plan`].
pub type NodeId = usize;

/// Where a call is passed on to: by a `transfer` node, or by an operator's phone (REFER).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferTarget {
    /// Back into an operator queue.
    Queue(String),
    /// One operator, by account name.
    Operator(String),
    /// A number outside (E.164), through the SIP trunk; only numbers of `[transfer]
    /// allowed` are ever dialled.
    Number(String),
}

impl std::fmt::Display for TransferTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransferTarget::Queue(q) => write!(f, "queue {q}"),
            TransferTarget::Operator(o) => write!(f, "operator {o}"),
            TransferTarget::Number(n) => write!(f, "number {}", crate::pii::Pii(n)),
        }
    }
}

/// A validated, immutable dial plan. Calls hold an `Arc<Plan>` for their whole life.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Where the plan was read from (for messages).
    pub source: String,
    /// Entry node of every call.
    pub start: NodeId,
    /// Nodes, addressed by [`NodeId`].
    pub nodes: Vec<Node>,
    /// Node names to ids.
    pub by_name: HashMap<String, NodeId>,
    /// The calendar directory named by the plan (relative to the plan file).
    pub calendar_dir: String,
    /// E.164 numbers `transfer` nodes may call; nothing else is ever dialled.
    pub transfer_allowed: Vec<String>,
}

impl Plan {
    /// The id of a node by name.
    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.by_name.get(name).copied()
    }
}

/// One step of a call.
#[derive(Debug, Clone)]
pub struct Node {
    /// The node's name in the file (used in the call's menu path).
    pub name: String,
    /// What operators read for this node (`label = "…"`), e.g. "Főmenü"; see
    /// [`Plan::path_label`].
    pub label: Option<String>,
    /// What the node does.
    pub kind: NodeKind,
}

/// Something to say: a recorded prompt, or words the daemon composes at call time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A prompt id from the manifest.
    Prompt(String),
    /// `@next_opening:SCHEDULE`: "A vonal legközelebb holnap hét órakor nyit."
    NextOpening(String),
    /// `@var:NAME`: the digits kept in a variable, read in groups (a phone number).
    Var(String),
    /// `@caller`: the caller's number, read in groups.
    Caller,
}

/// Which form a `send_form` node sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormRef {
    /// A catalog form by id.
    Id(String),
    /// The form id kept in a variable (set by a `form_menu`).
    Var(String),
}

/// Who a form goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// The number the caller calls from.
    Caller,
    /// A number or address kept in a variable (e.g. keyed in with `collect`).
    Var(String),
}

/// What a `caller` rule matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerMatch {
    /// Any of these E.164 numbers.
    Numbers(Vec<String>),
    /// A Hungarian mobile number (can receive SMS).
    Mobile,
    /// A number that is not a Hungarian mobile.
    Landline,
    /// No usable caller ID.
    Anonymous,
}

/// The node types.
#[derive(Debug, Clone)]
pub enum NodeKind {
    /// Play prompts, then continue at `next`. With `barge_in`, a key press cuts the prompts
    /// short and is handed to the next node (type-ahead into a menu).
    Play {
        items: Vec<Item>,
        barge_in: bool,
        next: NodeId,
    },
    /// Play a menu and wait for one key.
    Menu(Menu),
    /// Collect several digits into a variable, optionally read them back and confirm.
    Collect(Collect),
    /// Branch on whether a schedule is open now (calendar, holidays, overrides included).
    Schedule {
        schedule: String,
        open: NodeId,
        closed: NodeId,
    },
    /// Branch on the caller's number.
    Caller {
        rules: Vec<(CallerMatch, NodeId)>,
        default: NodeId,
    },
    /// Set variables, then continue.
    Set {
        vars: Vec<(String, String)>,
        next: NodeId,
    },
    /// Continue elsewhere.
    Goto { next: NodeId },
    /// Wait for an operator of a queue; `no_agents` when nobody can take the call; a key
    /// of `keys` leaves the queue for its node. When the operator hangs up first the call
    /// ends, or goes on at `after_operator` (e.g. a `survey`).
    Queue {
        queue: String,
        no_agents: NodeId,
        keys: Vec<(char, NodeId)>,
        after_operator: Option<NodeId>,
    },
    /// Record a voice message.
    Voicemail { next: NodeId, on_error: NodeId },
    /// Send a form by SMS link or email.
    SendForm {
        form: FormRef,
        channel: Channel,
        to: Address,
        next: NodeId,
        on_error: NodeId,
    },
    /// Ask for a callback of a number (the caller's, or one they keyed in): a durable job
    /// that the daemon calls back through the trunk.
    Callback {
        to: Address,
        next: NodeId,
        on_error: NodeId,
    },
    /// Hand the call to an operator queue, one operator, or a number the plan allows.
    Transfer {
        to: TransferTarget,
        on_error: NodeId,
        after_operator: Option<NodeId>,
    },
    /// End the call: the daemon sends BYE.
    Hangup,
}

impl NodeKind {
    /// The nodes this one can lead to (every key, branch and error path).
    pub fn successors(&self) -> Vec<NodeId> {
        match self {
            NodeKind::Play { next, .. } | NodeKind::Set { next, .. } | NodeKind::Goto { next } => {
                vec![*next]
            }
            NodeKind::Menu(m) => m
                .keys
                .iter()
                .map(|(_, t)| *t)
                .chain(m.choice.as_ref().map(|c| c.next))
                .chain([m.on_max_retries])
                .collect(),
            NodeKind::Collect(c) => vec![c.next, c.on_max_retries],
            NodeKind::Schedule { open, closed, .. } => vec![*open, *closed],
            NodeKind::Caller { rules, default } => {
                rules.iter().map(|(_, t)| *t).chain([*default]).collect()
            }
            NodeKind::Queue {
                no_agents,
                keys,
                after_operator,
                ..
            } => std::iter::once(*no_agents)
                .chain(keys.iter().map(|(_, t)| *t))
                .chain(*after_operator)
                .collect(),
            NodeKind::Voicemail { next, on_error }
            | NodeKind::SendForm { next, on_error, .. }
            | NodeKind::Callback { next, on_error, .. } => vec![*next, *on_error],
            NodeKind::Transfer {
                on_error,
                after_operator,
                ..
            } => std::iter::once(*on_error).chain(*after_operator).collect(),
            NodeKind::Hangup => Vec::new(),
        }
    }
}

/// A one-key menu.
#[derive(Debug, Clone)]
pub struct Menu {
    pub prompts: Vec<Item>,
    pub barge_in: bool,
    /// Key (`0`–`9`, `*`, `#`, `A`–`D`) to node.
    pub keys: Vec<(char, NodeId)>,
    /// Silence after the prompt before it counts as "no input".
    pub timeout: Duration,
    /// How many invalid keys or timeouts are forgiven before `on_max_retries`.
    pub max_retries: u32,
    pub invalid_prompts: Vec<Item>,
    pub timeout_prompts: Vec<Item>,
    pub on_max_retries: NodeId,
    /// Keys that choose a value rather than a node (a `form_menu`: the catalog's forms).
    pub choice: Option<Choice>,
}

/// The variable a `survey` node keeps the caller's rating (`1`–`5`) in; the call record
/// takes it from there.
pub const RATING_VAR: &str = "rating";

/// A menu's keys that each keep a value in a variable, then all continue at `next`.
#[derive(Debug, Clone)]
pub struct Choice {
    pub var: String,
    /// Key to the value it keeps (a form id).
    pub values: Vec<(char, String)>,
    pub next: NodeId,
}

impl Menu {
    /// Where a key leads, if anywhere.
    pub fn target(&self, key: char) -> Option<NodeId> {
        self.keys.iter().find(|(k, _)| *k == key).map(|(_, n)| *n)
    }
}

/// What collected digits must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigitCheck {
    /// Anything of the right length.
    Any,
    /// A Hungarian mobile number (`06 30 …`); stored as E.164.
    HuMobile,
    /// Any Hungarian phone number (`06 23 …`, `06 1 …`, `06 30 …`); stored as E.164.
    HuPhone,
}

/// A multi-digit entry.
#[derive(Debug, Clone)]
pub struct Collect {
    pub prompts: Vec<Item>,
    pub barge_in: bool,
    /// Variable that receives the digits (E.164 for `HuMobile`).
    pub var: String,
    pub min_digits: usize,
    pub max_digits: usize,
    /// Key that ends the entry early (usually `#`).
    pub terminator: Option<char>,
    /// Silence before the first digit.
    pub timeout: Duration,
    /// Silence between digits that ends the entry.
    pub inter_digit_timeout: Duration,
    /// Read the entry back and ask for confirmation (`1` yes, `2` again).
    pub readback: bool,
    pub confirm_prompts: Vec<Item>,
    pub check: DigitCheck,
    pub max_retries: u32,
    pub invalid_prompts: Vec<Item>,
    pub timeout_prompts: Vec<Item>,
    pub next: NodeId,
    pub on_max_retries: NodeId,
}
