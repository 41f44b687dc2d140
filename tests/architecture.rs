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
    "store.rs",
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

/// The part of a source file before its unit tests.
fn non_test_code(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |i| &text[..i])
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
        for (n, line) in non_test_code(&text).lines().enumerate() {
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
