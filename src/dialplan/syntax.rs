//! The dial plan as written: TOML read into structs that remember where each value stood.
//!
//! Every field is [`Spanned`], so validation can point at the exact line and column of a bad
//! value. Node fields are one flat struct rather than a tagged enum: serde's tagged enums
//! buffer their content and lose the spans on the way.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// A whole dial-plan file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlan {
    /// Name of the node every call starts in.
    pub start: Spanned<String>,
    /// Directory of the calendar files, relative to the plan file (default `calendar`).
    pub calendar: Option<Spanned<String>>,
    /// Numbers `transfer` nodes may call.
    pub transfer: Option<Spanned<RawTransfer>>,
    /// Nodes by name.
    #[serde(default)]
    pub nodes: BTreeMap<Spanned<String>, Spanned<RawNode>>,
}

/// `[transfer]`: the only destinations the plan may dial out to.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTransfer {
    pub allowed: Vec<Spanned<String>>,
}

/// A list of prompt items: prompt ids or `@…` dynamic items.
pub type RawItems = Spanned<Vec<Spanned<String>>>;

/// A node reference.
pub type RawRef = Spanned<String>;

/// One rule of a `caller` node.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCallerRule {
    /// Exact numbers (any common form; compared after normalisation).
    pub numbers: Option<Spanned<Vec<Spanned<String>>>>,
    /// `mobile`, `landline` or `anonymous`.
    pub kind: Option<Spanned<String>>,
    pub next: RawRef,
}

/// One node as written. Which fields apply depends on `type`; validation says which.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    /// What operators read for this node in the caller's menu path (every type takes it).
    pub label: Option<Spanned<String>>,
    // play, menu, collect
    pub prompts: Option<RawItems>,
    pub barge_in: Option<Spanned<bool>>,
    pub next: Option<RawRef>,
    // menu, collect
    pub keys: Option<Spanned<BTreeMap<Spanned<String>, RawRef>>>,
    pub timeout_s: Option<Spanned<f64>>,
    pub max_retries: Option<Spanned<i64>>,
    pub invalid_prompts: Option<RawItems>,
    pub timeout_prompts: Option<RawItems>,
    pub on_max_retries: Option<RawRef>,
    // collect
    pub var: Option<Spanned<String>>,
    pub min_digits: Option<Spanned<i64>>,
    pub max_digits: Option<Spanned<i64>>,
    pub terminator: Option<Spanned<String>>,
    pub inter_digit_timeout_s: Option<Spanned<f64>>,
    pub readback: Option<Spanned<bool>>,
    pub confirm_prompts: Option<RawItems>,
    pub validate: Option<Spanned<String>>,
    // schedule
    pub schedule: Option<Spanned<String>>,
    pub open: Option<RawRef>,
    pub closed: Option<RawRef>,
    // caller
    pub rules: Option<Spanned<Vec<Spanned<RawCallerRule>>>>,
    pub default: Option<RawRef>,
    // set
    pub vars: Option<Spanned<BTreeMap<Spanned<String>, Spanned<String>>>>,
    // queue
    pub queue: Option<Spanned<String>>,
    pub no_agents: Option<RawRef>,
    /// queue, transfer: where the caller goes when the operator hangs up first (a survey).
    pub after_operator: Option<RawRef>,
    // voicemail, send_form, transfer
    pub on_error: Option<RawRef>,
    pub form: Option<Spanned<String>>,
    pub channel: Option<Spanned<String>>,
    pub to: Option<Spanned<String>>,
    // transfer (or `queue`, or `to`)
    pub operator: Option<Spanned<String>>,
}

impl RawNode {
    /// Every type-specific field present, with its name and span (for "does not apply"
    /// errors); `type` and `label`, which every node takes, are not listed.
    pub fn present_fields(&self) -> Vec<(&'static str, std::ops::Range<usize>)> {
        fn span<T>(v: &Option<Spanned<T>>) -> Option<std::ops::Range<usize>> {
            v.as_ref().map(Spanned::span)
        }
        let all = [
            ("prompts", span(&self.prompts)),
            ("barge_in", span(&self.barge_in)),
            ("next", span(&self.next)),
            ("keys", span(&self.keys)),
            ("timeout_s", span(&self.timeout_s)),
            ("max_retries", span(&self.max_retries)),
            ("invalid_prompts", span(&self.invalid_prompts)),
            ("timeout_prompts", span(&self.timeout_prompts)),
            ("on_max_retries", span(&self.on_max_retries)),
            ("var", span(&self.var)),
            ("min_digits", span(&self.min_digits)),
            ("max_digits", span(&self.max_digits)),
            ("terminator", span(&self.terminator)),
            ("inter_digit_timeout_s", span(&self.inter_digit_timeout_s)),
            ("readback", span(&self.readback)),
            ("confirm_prompts", span(&self.confirm_prompts)),
            ("validate", span(&self.validate)),
            ("schedule", span(&self.schedule)),
            ("open", span(&self.open)),
            ("closed", span(&self.closed)),
            ("rules", span(&self.rules)),
            ("default", span(&self.default)),
            ("vars", span(&self.vars)),
            ("queue", span(&self.queue)),
            ("no_agents", span(&self.no_agents)),
            ("after_operator", span(&self.after_operator)),
            ("on_error", span(&self.on_error)),
            ("form", span(&self.form)),
            ("channel", span(&self.channel)),
            ("to", span(&self.to)),
            ("operator", span(&self.operator)),
        ];
        all.into_iter()
            .filter_map(|(n, s)| s.map(|s| (n, s)))
            .collect()
    }
}

/// Parses the text. On a syntax error returns the message and the byte span it refers to.
pub fn parse(text: &str) -> Result<RawPlan, (String, Option<std::ops::Range<usize>>)> {
    toml::from_str(text).map_err(|e: toml::de::Error| (e.message().to_owned(), e.span()))
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before
        .get(line_start..)
        .map_or(1, |s| s.chars().count() + 1);
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_not_bytes() {
        let text = "a = 1\n# ő\nbé = 2\n";
        let off = text.find("= 2").expect("present");
        assert_eq!(line_col(text, off), (3, 4));
        assert_eq!(line_col(text, 0), (1, 1));
    }
}
