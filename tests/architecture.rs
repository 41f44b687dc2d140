//! The house rules that a reader would otherwise have to trust: cores do no I/O, read no
//! clock and use no OS randomness; nothing outside tests calls `unwrap()`.

use std::fs;
use std::path::{Path, PathBuf};

/// Files and directories allowed to own sockets, tasks, clocks and OS randomness.
const IO_ALLOWED: &[&str] = &[
    "driver/",
    "main.rs",
    "cli/",
    "clock.rs",
    "http/",
    "store/",
    "notify/email.rs",
    "notify/sms.rs",
];

/// What only the I/O layer may use.
const IO_ONLY: &[&str] = &[
    "Instant::now()",
    "SystemTime::now()",
    "tokio::",
    "UdpSocket",
    "TcpStream",
    "TcpListener",
    "thread_rng",
    "rand::random",
    "std::thread::spawn",
    "Timestamp::now()",
    "Zoned::now()",
    "ZonedDateTime::now()",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&src)
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            let text = fs::read_to_string(&p).expect("source is UTF-8");
            (rel, text)
        })
        .collect()
}

#[test]
fn cores_use_no_sockets_tasks_clocks_or_os_randomness() {
    let mut found = Vec::new();
    for (rel, text) in sources() {
        if IO_ALLOWED.iter().any(|a| rel.starts_with(a)) {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for pat in IO_ONLY {
                if code.contains(pat) {
                    found.push(format!("src/{rel}:{}: {pat}", n + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "I/O outside the driver layer:\n{}",
        found.join("\n")
    );
}

#[test]
fn no_unwrap_outside_tests() {
    let mut found = Vec::new();
    for (rel, text) in sources() {
        // Unit tests kept in a file of their own (`tests.rs`, `sim_tests.rs`).
        if rel.ends_with("tests.rs") {
            continue;
        }
        for (n, line) in code_before_inline_tests(&text).lines().enumerate() {
            if line.split("//").next().unwrap_or("").contains(".unwrap()") {
                found.push(format!("src/{rel}:{}", n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "unwrap() in non-test code:\n{}",
        found.join("\n")
    );
}

/// The layer order written in `src/lib.rs` (`layer:` lines, top first).
fn layers() -> Vec<Vec<String>> {
    let lib = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
        .expect("lib.rs is readable");
    lib.lines()
        .filter_map(|l| l.trim_start_matches("//!").trim().strip_prefix("layer:"))
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

/// The part of a file that is not a unit test: an inline `#[cfg(test)] mod … {` ends it;
/// `#[cfg(test)] mod tests;` (a file of its own) does not.
fn code_before_inline_tests(text: &str) -> String {
    let mut out = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]"
            && lines.peek().is_some_and(|next| {
                let next = next.trim();
                let decl = next
                    .strip_prefix("pub(crate) ")
                    .or_else(|| next.strip_prefix("pub "))
                    .unwrap_or(next);
                decl.starts_with("mod ") && decl.ends_with('{')
            })
        {
            break;
        }
        out.push(line.split("//").next().unwrap_or(""));
    }
    out.join("\n")
}

/// Top-level modules a file names through `crate::…` paths (also inside `use crate::{…}`).
fn crate_paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                found.push(name);
            }
        } else {
            found.push(
                rest.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect(),
            );
        }
    }
    found.retain(|n| !n.is_empty() && n != "self");
    found
}

#[test]
fn every_crate_path_points_down_the_layer_order_of_lib_rs() {
    let layers = layers();
    assert!(layers.len() > 5, "lib.rs lists the layers: {layers:?}");
    let level = |m: &str| layers.iter().position(|l| l.iter().any(|n| n == m));
    let mut found = Vec::new();
    for (rel, text) in sources() {
        if rel == "lib.rs"
            || rel == "main.rs"
            || rel.starts_with("cli/")
            || rel.ends_with("tests.rs")
        {
            continue;
        }
        let module = rel.split('/').next().unwrap_or("").trim_end_matches(".rs");
        let Some(own) = level(module) else {
            found.push(format!(
                "src/{rel}: module {module} is missing from the layers in lib.rs"
            ));
            continue;
        };
        for used in crate_paths(&code_before_inline_tests(&text)) {
            if used == module {
                continue;
            }
            match level(&used) {
                Some(l) if l > own => {}
                Some(_) => found.push(format!(
                    "src/{rel}: {module} uses {used}, which is not below it"
                )),
                None => found.push(format!(
                    "src/{rel}: uses {used}, missing from the layers in lib.rs"
                )),
            }
        }
    }
    found.sort();
    found.dedup();
    assert!(
        found.is_empty(),
        "imports against the layer order:\n{}",
        found.join("\n")
    );
}

#[test]
fn layer_lines_name_every_top_level_module_once() {
    let layers = layers();
    let mut listed: Vec<&String> = layers.iter().flatten().collect();
    listed.sort();
    let lib = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
        .expect("lib.rs is readable");
    let mut declared: Vec<String> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';').to_owned())
        .collect();
    declared.sort();
    let listed: Vec<String> = listed.into_iter().cloned().collect();
    assert_eq!(listed, declared);
}

#[test]
fn no_source_file_has_over_a_thousand_lines_of_code_besides_its_tests() {
    let mut found = Vec::new();
    for (rel, text) in sources() {
        if rel.ends_with("tests.rs") {
            continue;
        }
        let lines = code_before_inline_tests(&text).lines().count();
        if lines > 1_000 {
            found.push(format!("src/{rel}: {lines} lines"));
        }
    }
    assert!(found.is_empty(), "files to split:\n{}", found.join("\n"));
}
