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
//! actions out. The dial-plan layer knows nothing of SIP or RTP.

pub mod calendar;
pub mod interp;
pub mod syntax;
pub mod validate;

use std::collections::HashMap;
use std::time::Duration;

pub use validate::{Diagnostic, load, load_str};

/// Index of a node inside a [`Plan`].
pub type NodeId = usize;

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
    /// What the node does.
    pub kind: NodeKind,
}

/// The node types.
#[derive(Debug, Clone)]
pub enum NodeKind {
    /// Play prompts, then continue at `next`. With `barge_in`, a key press cuts the prompts
    /// short and is handed to the next node (type-ahead into a menu).
    Play {
        prompts: Vec<String>,
        barge_in: bool,
        next: NodeId,
    },
    /// Play a menu and wait for one key.
    Menu(Menu),
    /// End the call: the daemon sends BYE.
    Hangup,
}

/// A one-key menu.
#[derive(Debug, Clone)]
pub struct Menu {
    pub prompts: Vec<String>,
    pub barge_in: bool,
    /// Key (`0`–`9`, `*`, `#`, `A`–`D`) to node.
    pub keys: Vec<(char, NodeId)>,
    /// Silence after the prompt before it counts as "no input".
    pub timeout: Duration,
    /// How many invalid keys or timeouts are forgiven before `on_max_retries`.
    pub max_retries: u32,
    pub invalid_prompts: Vec<String>,
    pub timeout_prompts: Vec<String>,
    pub on_max_retries: NodeId,
}

impl Menu {
    /// Where a key leads, if anywhere.
    pub fn target(&self, key: char) -> Option<NodeId> {
        self.keys.iter().find(|(k, _)| *k == key).map(|(_, n)| *n)
    }
}
