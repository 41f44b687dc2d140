//! Tests whose messages name foreign addresses (RFC 4475's 192.0.2.x and example.com in
//! Via, Contact and SDP) run inside a network namespace of their own, where only loopback
//! exists: whatever the daemon might send there cannot leave the machine
//! (/work/shared/TESTING.md, "Keep every packet on this machine").
//!
//! A test calls [`inside`] first. Outside a namespace it runs the same test of the same
//! test binary again under `unshare -n` (as root, as CI runs), with loopback up and
//! [`TEST_NET`] on it so the test can send from 192.0.2.x, checks that it passed there,
//! and returns `false`; inside, it returns `true` and the test goes on.

use std::process::Command;

/// Put on the namespace's loopback: RFC 5737 TEST-NET-1, the vectors' own range.
pub const TEST_NET: &str = "192.0.2.0/24";

const MARK: &str = "UGYELET_TEST_IN_NETNS";

/// `true` inside the namespace (go on with the test); outside, runs `test` (its full
/// name, as libtest prints it) inside one, passes its output through, panics unless it
/// passed there, and returns `false`.
pub fn inside(test: &str) -> bool {
    if std::env::var_os(MARK).is_some() {
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let script =
        format!("ip link set lo up && ip addr add {TEST_NET} dev lo && exec \"$0\" \"$@\"");
    let out = Command::new("unshare")
        .args(["--net", "--", "sh", "-c", &script])
        .arg(&exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(MARK, "1")
        .output()
        .unwrap_or_else(|e| panic!("unshare (util-linux) for {test}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("--- {test} in its network namespace ---\n{stderr}\n{stdout}");
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{test} failed in its network namespace (exit {:?}); needs root, unshare and ip",
        out.status.code()
    );
    false
}
