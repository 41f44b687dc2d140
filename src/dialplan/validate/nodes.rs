//! One node at a time: its `type`, the fields that type takes, and what each field must be.
//!
//! [`RawNode`] is one flat struct with every field of every type (serde's tagged enums would
//! lose the spans, see [`syntax`](crate::dialplan::syntax)), so a node's `type` is parsed into a
//! [`RawKind`] first: it says which fields apply, and picks the method that builds the
//! [`NodeKind`]. Each method checks every field before giving up, so a node with three
//! mistakes gets three messages.

use toml::Spanned;

use super::{Validator, suggest};
use crate::dialplan::syntax::{RawCallerRule, RawItems, RawNode, RawRef};
use crate::dialplan::{
    Address, CallerMatch, Channel, Choice, Collect, DigitCheck, FormRef, Item, Menu, NodeId,
    NodeKind, RATING_VAR, TransferTarget,
};
use crate::outcome::PLAN_OUTCOMES;
use crate::{media::say, phone};

/// A node's `type` as written, once it names a type the daemon has. It owns the list of
/// fields that type takes: the flat [`RawNode`] accepts them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RawKind {
    Play,
    Menu,
    FormMenu,
    Collect,
    Schedule,
    Caller,
    Set,
    Goto,
    Queue,
    Voicemail,
    SendForm,
    Callback,
    Transfer,
    Survey,
    Hangup,
}

impl RawKind {
    /// Every type, in the order an "unknown node type" error lists them.
    const ALL: [Self; 15] = [
        Self::Play,
        Self::Menu,
        Self::FormMenu,
        Self::Collect,
        Self::Schedule,
        Self::Caller,
        Self::Set,
        Self::Goto,
        Self::Queue,
        Self::Voicemail,
        Self::SendForm,
        Self::Callback,
        Self::Transfer,
        Self::Survey,
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
            Self::FormMenu => "form_menu",
            Self::Collect => "collect",
            Self::Schedule => "schedule",
            Self::Caller => "caller",
            Self::Set => "set",
            Self::Goto => "goto",
            Self::Queue => "queue",
            Self::Voicemail => "voicemail",
            Self::SendForm => "send_form",
            Self::Callback => "callback",
            Self::Transfer => "transfer",
            Self::Survey => "survey",
            Self::Hangup => "hangup",
        }
    }

    /// The fields a node of this type takes, besides `type` and `label`; any other is an
    /// error.
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
            Self::FormMenu => &[
                "prompts",
                "barge_in",
                "var",
                "keys",
                "timeout_s",
                "max_retries",
                "invalid_prompts",
                "timeout_prompts",
                "next",
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
            Self::Queue => &["queue", "no_agents", "keys", "after_operator"],
            Self::Voicemail => &["next", "on_error"],
            Self::SendForm => &["form", "channel", "to", "next", "on_error"],
            Self::Callback => &["to", "next", "on_error"],
            Self::Transfer => &["to", "queue", "operator", "on_error", "after_operator"],
            Self::Survey => &[
                "prompts",
                "barge_in",
                "timeout_s",
                "max_retries",
                "invalid_prompts",
                "timeout_prompts",
                "next",
                "on_max_retries",
            ],
            Self::Hangup => &[],
        }
    }
}

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

impl Validator<'_> {
    /// One node: its type, the fields that type does not take, then the type's own checks.
    /// `None` if the node has any error.
    pub(super) fn node(
        &mut self,
        name: &Spanned<String>,
        node: &Spanned<RawNode>,
    ) -> Option<NodeKind> {
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
            RawKind::FormMenu => self.form_menu(at),
            RawKind::Collect => self.collect(at),
            RawKind::Schedule => self.schedule(at),
            RawKind::Caller => self.caller(at),
            RawKind::Set => self.set(at),
            RawKind::Goto => self.goto(at),
            RawKind::Queue => self.queue(at),
            RawKind::Voicemail => self.voicemail(at),
            RawKind::SendForm => self.send_form(at),
            RawKind::Callback => self.callback(at),
            RawKind::Transfer => self.transfer(at),
            RawKind::Survey => self.survey(at),
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
        self.menu_rest(at, prompts, keys, None)
    }

    /// The form-choice menu: the node's own prompts, then for each form the catalog offers
    /// its prompt and "nyomja meg az … gombot"; its key keeps the form's id in `var` and
    /// goes on to `next`. `keys` may add keys of its own (back to the main menu, say) that
    /// no form uses.
    fn form_menu(&mut self, at: NodeSrc<'_>) -> Option<NodeKind> {
        let n = at.raw();
        let mut prompts = self.required_items(at, &n.prompts);
        let offered = self.known.form_choices;
        if offered.is_empty() {
            self.error(
                at.name.span(),
                format!(
                    "form_menu node \"{}\" has nothing to offer: no form of the forms catalog \
                     has both a key and a prompt",
                    at.name.get_ref()
                ),
            );
        }
        // A prompt set without `pause` (one of an office's own) runs the entries together
        // rather than failing the plan.
        let pause = (self.known.skip_prompts || self.known.prompts.contains(&"pause"))
            .then(|| Item::Prompt("pause".to_owned()));
        for f in offered {
            prompts.push(Item::Prompt(f.prompt.to_owned()));
            let words = say::press_key(f.key).unwrap_or_default();
            prompts.extend(words.into_iter().map(|w| Item::Prompt(w.to_owned())));
            prompts.extend(pause.clone());
        }
        let mut keys = Vec::new();
        if let Some(k) = &n.keys {
            for key in k.get_ref().keys() {
                let taken = offered
                    .iter()
                    .find(|f| key.get_ref().chars().eq(std::iter::once(f.key)));
                if let Some(f) = taken {
                    self.error(
                        key.span(),
                        format!(
                            "key \"{}\" already picks form \"{}\" (its key in the forms catalog)",
                            f.key, f.id
                        ),
                    );
                }
            }
            keys = self.key_targets(k.get_ref());
        }
        let var = match &n.var {
            Some(v) => Some(self.var_name(v)),
            None => {
                self.missing(at, "var");
                None
            }
        };
        let next = self.required_ref(at, &n.next, "next");
        let choice = Choice {
            var: var?,
            values: offered.iter().map(|f| (f.key, f.id.to_owned())).collect(),
            next: next?,
        };
        self.menu_rest(at, prompts, keys, Some(choice))
    }

    /// What every menu has besides its prompts and keys.
    fn menu_rest(
        &mut self,
        at: NodeSrc<'_>,
        prompts: Vec<Item>,
        keys: Vec<(char, NodeId)>,
        choice: Option<Choice>,
    ) -> Option<NodeKind> {
        let n = at.raw();
        let timeout = self.seconds(&n.timeout_s, "timeout_s", 6.0, 0.5, 60.0);
        let max_retries = self.count(&n.max_retries, "max_retries", 3, 0, 10) as u32;
        let invalid_prompts = self.items(&n.invalid_prompts);
        let timeout_prompts = self.items(&n.timeout_prompts);
        let fail = match (&n.on_max_retries, at.kind, &choice) {
            // A survey nobody answers just goes on.
            (None, RawKind::Survey, Some(c)) => Some(c.next),
            _ => self.required_ref(at, &n.on_max_retries, "on_max_retries"),
        };
        Some(NodeKind::Menu(Menu {
            prompts,
            barge_in: at.barge_in(),
            keys,
            timeout,
            max_retries,
            invalid_prompts,
            timeout_prompts,
            on_max_retries: fail?,
            choice,
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
            Some(("hu_phone", _)) => DigitCheck::HuPhone,
            Some((other, span)) => {
                self.error(
                    span,
                    format!("validate: expected \"hu_mobile\" or \"hu_phone\", found \"{other}\""),
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
                    if key == "outcome" {
                        self.plan_outcome(val);
                    }
                    vars.push((key, val.get_ref().clone()));
                }
            }
            None => self.missing(at, "vars"),
        }
        let next = self.required_ref(at, &n.next, "next");
        Some(NodeKind::Set { vars, next: next? })
    }

    /// The variable `outcome` names what the call came to in its record, metrics and logs:
    /// only the outcomes a plan may name are allowed, so a typo cannot silently record
    /// something else.
    fn plan_outcome(&mut self, v: &Spanned<String>) {
        let words: Vec<&str> = PLAN_OUTCOMES.iter().map(|o| o.as_str()).collect();
        if !words.contains(&v.get_ref().as_str()) {
            self.error(
                v.span(),
                format!(
                    "unknown outcome \"{}\" for the call record (a plan may name: {})",
                    v.get_ref(),
                    suggest(v.get_ref(), &words)
                ),
            );
        }
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
        let after_operator = self.optional_ref(&n.after_operator);
        Some(NodeKind::Queue {
            queue: queue?,
            no_agents: no_agents?,
            keys,
            after_operator: after_operator?,
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
        let form = match n
            .form
            .as_ref()
            .map(|f| (f, f.get_ref().strip_prefix("@var:")))
        {
            Some((f, Some(v))) => self
                .set_var(f.span(), v)
                .then(|| FormRef::Var(v.to_owned())),
            _ => self
                .known_id(at, &n.form, "form", self.known.forms)
                .map(FormRef::Id),
        };
        let channel = match n.channel.as_ref() {
            Some(c) => match Channel::parse(c.get_ref()) {
                Some(channel) => Some(channel),
                None => {
                    self.error(
                        c.span(),
                        format!(
                            "channel: expected \"sms\" or \"email\", found \"{}\"",
                            c.get_ref()
                        ),
                    );
                    None
                }
            },
            None => {
                self.missing(at, "channel");
                None
            }
        };
        let to = self.address(&n.to);
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

    fn callback(&mut self, at: NodeSrc<'_>) -> Option<NodeKind> {
        let n = at.raw();
        let to = self.address(&n.to);
        let next = self.required_ref(at, &n.next, "next");
        let on_error = self.required_ref(at, &n.on_error, "on_error");
        Some(NodeKind::Callback {
            to: to?,
            next: next?,
            on_error: on_error?,
        })
    }

    /// `to = "@caller"` (also when left out) or `"@var:NAME"` of a variable the plan sets.
    fn address(&mut self, to: &Option<Spanned<String>>) -> Option<Address> {
        match to.as_ref() {
            None => Some(Address::Caller),
            Some(t) if t.get_ref() == "@caller" => Some(Address::Caller),
            Some(t) => match t.get_ref().strip_prefix("@var:") {
                Some(v) => self
                    .set_var(t.span(), v)
                    .then(|| Address::Var(v.to_owned())),
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
        }
    }

    fn transfer(&mut self, at: NodeSrc<'_>) -> Option<NodeKind> {
        let n = at.raw();
        let given: Vec<(&str, &Spanned<String>)> = [
            ("to", &n.to),
            ("queue", &n.queue),
            ("operator", &n.operator),
        ]
        .into_iter()
        .filter_map(|(field, v)| Some((field, v.as_ref()?)))
        .collect();
        if let [_, (_, second), ..] = given.as_slice() {
            let fields: Vec<&str> = given.iter().map(|(f, _)| *f).collect();
            self.error(
                second.span(),
                format!(
                    "transfer node \"{}\": expected one of \"to\", \"queue\" or \"operator\", found {}",
                    at.name.get_ref(),
                    fields.join(" and ")
                ),
            );
        }
        let to = match (&n.to, &n.queue, &n.operator) {
            (None, Some(_), _) => self
                .known_id(at, &n.queue, "queue", self.known.queues)
                .map(TransferTarget::Queue),
            (None, None, Some(o)) => {
                let name = o.get_ref();
                // Operator accounts are `[a-z0-9._-]+` (operators.toml); which exist is
                // known only at run time, since accounts come and go without a plan edit.
                let valid = !name.is_empty()
                    && name.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
                    });
                if !valid {
                    self.error(
                        o.span(),
                        format!(
                            "expected an operator name of a-z, 0-9, '.', '_' and '-', found \"{name}\""
                        ),
                    );
                }
                valid.then(|| TransferTarget::Operator(name.clone()))
            }
            (Some(t), ..) => match phone::normalize(t.get_ref()) {
                Some(e) if self.transfer_allowed.contains(&e) => Some(TransferTarget::Number(e)),
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
            (None, None, None) => {
                self.error(
                    at.name.span(),
                    format!(
                        "transfer node \"{}\" needs \"to\" (a number), \"queue\" or \"operator\"",
                        at.name.get_ref()
                    ),
                );
                None
            }
        };
        let on_error = self.required_ref(at, &n.on_error, "on_error");
        let after_operator = self.optional_ref(&n.after_operator);
        Some(NodeKind::Transfer {
            to: to?,
            on_error: on_error?,
            after_operator: after_operator?,
        })
    }

    /// `Some(None)` for a field not given, `None` for one naming an unknown node.
    fn optional_ref(&mut self, field_value: &Option<RawRef>) -> Option<Option<NodeId>> {
        match field_value {
            Some(target) => self.node_ref(target).map(Some),
            None => Some(None),
        }
    }

    /// A rating of the help, 1 to 5: a menu whose keys 1–5 keep the key in the variable
    /// [`RATING_VAR`] and go on at `next`; without a key the call goes on at
    /// `on_max_retries`, `next` when not given.
    fn survey(&mut self, at: NodeSrc<'_>) -> Option<NodeKind> {
        let n = at.raw();
        let prompts = self.required_items(at, &n.prompts);
        let next = self.required_ref(at, &n.next, "next")?;
        let choice = Choice {
            var: RATING_VAR.to_owned(),
            values: ('1'..='5').map(|k| (k, k.to_string())).collect(),
            next,
        };
        self.menu_rest(at, prompts, Vec::new(), Some(choice))
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
        if !self.known.skip_prompts && !self.known.prompts.contains(&id) {
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
}
