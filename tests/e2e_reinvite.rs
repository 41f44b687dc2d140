//! Re-INVITEs end to end: SIPp puts an answered call on hold and takes it off again, and
//! checks the SDP answers of the real `ugyelet` binary (RFC 3264 §8.4).

mod common;

use common::*;

#[test]
fn sipp_caller_holds_with_sendonly_gets_recvonly_then_resumes_with_sendrecv() {
    let mut daemon = Daemon::start(&[]);
    let result = sipp(
        &scenario("caller_holds_and_resumes_with_reinvite.xml"),
        &["-timeout", "20s", &daemon.addr()],
    );
    result.assert_success();
    assert_eq!(result.stat("SuccessfulCall(C)"), Some("1"));
    assert!(
        result.errors.trim().is_empty(),
        "SIPp saw unexpected messages:\n{}",
        result.errors
    );
    assert!(daemon.is_running(), "daemon survives hold and resume");
}
