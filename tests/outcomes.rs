//! One vocabulary of call outcomes (`ugyelet::outcome::Outcome`): every word that the code,
//! the tests, the scripts, the dial plans and the docs give an outcome is one of its words,
//! and the README's table lists each word with the console's Hungarian label.
//!
//! Found by reading the files: after the word `outcome`, an `=`, `:` or `,` (a log field,
//! a metric label, a JSON key, a TOML key, an assertion on a JSON field), then a quoted
//! lower-case word.

use std::fs;
use std::path::{Path, PathBuf};

use ugyelet::outcome::Outcome;

/// Where outcome words are written, relative to the repository.
const SCANNED_DIRS: &[&str] = &[
    "src",
    "tests",
    "benches",
    "packaging",
    "dialplans",
    "config",
];
const SCANNED_EXTENSIONS: &[&str] = &["rs", "sh", "py", "toml", "md", "xml"];
const SCANNED_FILES: &[&str] = &["README.md", "DESIGN.md", "BENCHMARKS.md"];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            files(&path, out);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| SCANNED_EXTENSIONS.contains(&e))
        {
            out.push(path);
        }
    }
}

/// Every word given as an outcome in `text`, with its line number.
fn outcome_words(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("outcome") {
            let after = &rest[at + "outcome".len()..];
            rest = after;
            // `outcomes`, `outcome_hu`: another name.
            if after
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                continue;
            }
            // The separator: quotes, brackets, spaces, and one of = : , (not `==`-less
            // prose such as "the outcome is").
            let sep_len = after
                .find(|c: char| !matches!(c, '"' | '\\' | ']' | ' ' | '=' | ':' | ',' | '{'))
                .unwrap_or(after.len());
            let sep = &after[..sep_len];
            if !sep.contains(['=', ':', ',']) || !sep.ends_with('"') {
                continue;
            }
            let word: String = after[sep_len..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            let closes = after[sep_len + word.len()..].starts_with(['"', '\\']);
            if !word.is_empty() && closes {
                found.push((n + 1, word));
            }
        }
    }
    found
}

#[test]
fn the_scanner_finds_outcome_words_in_every_form_they_are_written() {
    let text = r#"info!(outcome = "abandoned_menu");
grep -c 'outcome="no_operator"' log
ugyelet_calls_total{outcome=\"closed\"} 1
assert_eq!(v["fields"]["outcome"], "voicemail");
json!({"outcome": "callback"})
vars = { outcome = "completed" }
the outcome of a call, the outcomes = "x", outcome_hu("y"), outcome = outcome.as_str()
"#;
    let words: Vec<String> = outcome_words(text).into_iter().map(|(_, w)| w).collect();
    assert_eq!(
        words,
        [
            "abandoned_menu",
            "no_operator",
            "closed",
            "voicemail",
            "callback",
            "completed"
        ]
    );
}

#[test]
fn every_outcome_word_in_code_tests_scripts_plans_and_docs_is_in_the_vocabulary() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths: Vec<PathBuf> = SCANNED_FILES.iter().map(|f| root.join(f)).collect();
    for d in SCANNED_DIRS {
        files(&root.join(d), &mut paths);
    }
    let known: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
    let mut seen = 0;
    let mut strangers = Vec::new();
    for p in &paths {
        let Ok(text) = fs::read_to_string(p) else {
            continue;
        };
        // This file's own examples of what the scanner reads are not uses.
        if p.ends_with("tests/outcomes.rs") {
            continue;
        }
        for (line, word) in outcome_words(&text) {
            seen += 1;
            if !known.contains(&word.as_str()) {
                let rel = p.strip_prefix(root).unwrap_or(p).display().to_string();
                strangers.push(format!("{rel}:{line}: \"{word}\""));
            }
        }
    }
    assert!(
        seen > 10,
        "the scan must find the outcome words the tests and scripts use ({seen} found)"
    );
    assert!(
        strangers.is_empty(),
        "outcome words outside the vocabulary (known: {}):\n{}",
        known.join(", "),
        strangers.join("\n")
    );
}

#[test]
fn the_readme_documents_every_outcome_with_its_hungarian_label() {
    let readme = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    // The outcome table: | outcome | console | meaning |, then | `word` | label | … |
    let mut lines = readme.lines().map(str::trim_start);
    lines
        .by_ref()
        .find(|l| l.starts_with("| outcome | console | meaning |"))
        .expect("README has the outcome table");
    let rows: Vec<(String, String)> = lines
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1].trim_matches('`').to_owned(), cells[2].to_owned())
        })
        .collect();
    let want: Vec<(String, String)> = Outcome::ALL
        .iter()
        .map(|o| (o.as_str().to_owned(), o.label_hu().to_owned()))
        .collect();
    assert_eq!(
        rows, want,
        "README's outcome table, in the vocabulary's order"
    );
}
