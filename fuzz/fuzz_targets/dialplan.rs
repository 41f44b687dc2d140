//! Fuzz target for the dial-plan loader: any text never panics, and every diagnostic points
//! into the file it names (line and column from 1, line at most one past the last).
//!
//! The known ids are the shipped prompt manifest's and forms catalog's, so the shipped plan
//! in the seed corpus validates and mutations of it reach the deep checks.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ugyelet::dialplan::{Known, load_str};

const MANIFEST: &str = include_str!("../../prompts/hu/manifest.toml");
const FORMS: &str = include_str!("../../config/forms.toml");

/// The `id = "..."` values of a simple TOML file such as the manifest or the forms catalog.
fn ids(text: &'static str) -> Vec<&'static str> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("id = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .collect()
}

fn known() -> &'static Known<'static> {
    static PROMPTS: OnceLock<Vec<&'static str>> = OnceLock::new();
    static FORM_IDS: OnceLock<Vec<&'static str>> = OnceLock::new();
    static KNOWN: OnceLock<Known<'static>> = OnceLock::new();
    KNOWN.get_or_init(|| Known {
        prompts: PROMPTS.get_or_init(|| ids(MANIFEST)),
        queues: &["operators"],
        forms: FORM_IDS.get_or_init(|| ids(FORMS)),
        schedules: &["staffed", "always"],
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let diags = match load_str("main.toml", text, known()) {
        Ok((plan, warnings)) => {
            assert!(plan.start < plan.nodes.len());
            warnings
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "a refused plan says why");
            errors
        }
    };
    let lines = text.lines().count() + 1;
    for d in &diags {
        assert_eq!(d.file, "main.toml");
        assert!(d.line >= 1 && d.col >= 1, "{d}");
        assert!(d.line <= lines, "{d} is past the last line ({lines})");
    }
});
