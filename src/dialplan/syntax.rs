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
    /// Nodes by name.
    #[serde(default)]
    pub nodes: BTreeMap<Spanned<String>, Spanned<RawNode>>,
}

/// One node as written. Which fields apply depends on `type`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    pub prompts: Option<Spanned<Vec<Spanned<String>>>>,
    pub barge_in: Option<Spanned<bool>>,
    pub next: Option<Spanned<String>>,
    pub keys: Option<Spanned<BTreeMap<Spanned<String>, Spanned<String>>>>,
    pub timeout_s: Option<Spanned<f64>>,
    pub max_retries: Option<Spanned<i64>>,
    pub invalid_prompts: Option<Spanned<Vec<Spanned<String>>>>,
    pub timeout_prompts: Option<Spanned<Vec<Spanned<String>>>>,
    pub on_max_retries: Option<Spanned<String>>,
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
