//! The shipped `config/ugyelet.toml` is the admins' reference: every key the daemon reads
//! is in it, in its section, set to its built-in default or shown commented out, with the
//! text above saying what it does. The keys are taken from the configuration the daemon
//! builds from its defaults, so a key added to the code and not to the file fails here.
//! (That the values set in the file equal the defaults is pinned in `src/config.rs`.)

use std::collections::BTreeMap;

/// `(section, key)` for every field of the `Debug` form of a configuration value: a field
/// whose value is a `Name { … }` struct is a section (`notify.sms`), any other is a key.
fn keys_of(debug: &str) -> Vec<(String, String)> {
    let b = debug.as_bytes();
    let mut out = Vec::new();
    // One entry per open brace: the section it opened, or None for any other brace.
    let mut braces: Vec<Option<String>> = Vec::new();
    let mut pending: Option<String> = None;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' => braces.push(pending.take()),
            b'}' => {
                braces.pop();
            }
            c if c.is_ascii_lowercase() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                let word = &debug[start..i];
                if debug[i..].starts_with(": ") {
                    // Inside the top struct or a section, not inside a map or a list item.
                    let inside: Option<Vec<&str>> =
                        braces.iter().skip(1).map(|s| s.as_deref()).collect();
                    let rest = &debug[i + 2..];
                    let is_struct = rest.starts_with(|c: char| c.is_ascii_uppercase())
                        && rest.split_once(' ').is_some_and(|(name, after)| {
                            name.chars().all(char::is_alphanumeric) && after.starts_with('{')
                        });
                    if let Some(path) = inside.filter(|_| !braces.is_empty()) {
                        if is_struct {
                            pending = Some(word.to_owned());
                        } else {
                            out.push((path.join("."), word.to_owned()));
                        }
                    }
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Section name → its text, for every `[section]` of a TOML file.
fn sections(text: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') && !t.starts_with("[[") && t.ends_with(']') {
            current = t.trim_matches(['[', ']']).to_owned();
            map.entry(current.clone()).or_insert_with(String::new);
            continue;
        }
        map.entry(current.clone())
            .or_insert_with(String::new)
            .push_str(&format!("{line}\n"));
    }
    map
}

/// `key = …` set, or `# key = …` shown commented out, on a line of its own.
fn mentions(section: &str, key: &str) -> bool {
    section.lines().any(|l| {
        let l = l.trim_start().trim_start_matches('#').trim_start();
        l.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    })
}

#[test]
fn every_key_of_the_configuration_is_in_the_shipped_file_in_its_section() {
    let defaults = ugyelet::config::Config::load_with_env(None, Vec::<(String, String)>::new())
        .expect("the built-in defaults are valid");
    let keys = keys_of(&format!("{defaults:?}"));
    assert!(
        keys.iter()
            .any(|(s, k)| s == "operators" && k == "wrap_up_s")
            && keys
                .iter()
                .any(|(s, k)| s == "notify.sms" && k == "id_field"),
        "the Debug walk finds nested keys: {keys:?}"
    );
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/ugyelet.toml"))
        .expect("shipped config");
    let file = sections(&text);
    let missing: Vec<String> = keys
        .iter()
        .filter(|(s, k)| !file.get(s).is_some_and(|body| mentions(body, k)))
        .map(|(s, k)| format!("[{s}] {k}"))
        .collect();
    assert_eq!(
        missing,
        Vec::<String>::new(),
        "keys the shipped file does not document"
    );
}

#[test]
fn every_operators_key_has_a_comment_above_it() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/ugyelet.toml"))
        .expect("shipped config");
    let operators = sections(&text).remove("operators").expect("[operators]");
    let mut explained = false;
    for line in operators.lines() {
        let t = line.trim();
        if t.starts_with('#') {
            explained = true;
        } else if let Some((key, _)) = t.split_once('=') {
            assert!(
                explained,
                "[operators] {} has no comment above it",
                key.trim()
            );
            explained = false;
        }
    }
}
