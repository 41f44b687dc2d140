use super::*;
use std::net::Ipv4Addr;

// RFC 7616 §3.9.1 (with erratum 4495: "Circle of Life", lower-case "of").
const RFC_USER: &str = "Mufasa";
const RFC_PASS: &str = "Circle of Life";
const RFC_REALM: &str = "http-auth@example.org";
const RFC_URI: &str = "/dir/index.html";
const RFC_NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
const RFC_CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

#[test]
fn rfc7616_3_9_1_md5_response() {
    let h = ha1(Algorithm::Md5, RFC_USER, RFC_REALM, RFC_PASS);
    let r = response(
        Algorithm::Md5,
        &h,
        RFC_NONCE,
        "00000001",
        RFC_CNONCE,
        "auth",
        "GET",
        RFC_URI,
    );
    assert_eq!(r, "8ca523f5e9506fed4657c9700eebdbec");
}

#[test]
fn rfc7616_3_9_1_sha256_response() {
    let h = ha1(Algorithm::Sha256, RFC_USER, RFC_REALM, RFC_PASS);
    let r = response(
        Algorithm::Sha256,
        &h,
        RFC_NONCE,
        "00000001",
        RFC_CNONCE,
        "auth",
        "GET",
        RFC_URI,
    );
    assert_eq!(
        r,
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
}

/// HA1 and response for a SIP REGISTER, pinned from `md5sum`/`sha256sum` and Python's
/// hashlib rather than from this code.
#[test]
fn sip_register_vectors_md5_and_sha256() {
    assert_eq!(
        ha1(Algorithm::Md5, "alice", "ugyelet", "secret"),
        "6768448ec7580d998c796347f87ee725"
    );
    assert_eq!(
        ha1(Algorithm::Sha256, "alice", "ugyelet", "secret"),
        "c1893458d4cedeb2fea33dc8a54fc4d6b728ce14d9519ed7fdb7609bac21d992"
    );
    let cases = [
        (Algorithm::Md5, "f5a505b9446ab680bc179d928e4a1325"),
        (
            Algorithm::Sha256,
            "95dbcfa8f29f2fe48b457fd1fee2444496a2297bfc85a4cefe7d4dfc25f919b7",
        ),
    ];
    for (alg, want) in cases {
        let h = ha1(alg, "alice", "ugyelet", "secret");
        let r = response(
            alg,
            &h,
            "0123456789abcdef",
            "0000000a",
            "c1",
            "auth",
            "REGISTER",
            "sip:192.0.2.10",
        );
        assert_eq!(r, want, "{alg}");
    }
}

#[test]
fn parses_the_rfc7616_authorization_example() {
    let v = "Digest username=\"Mufasa\",\r\n realm=\"http-auth@example.org\", uri=\"/dir/index.html\", \
             algorithm=SHA-256, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, \
             cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, \
             response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\", \
             opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
        .replace("\r\n", "");
    let d = parse_authorization(&v).expect("the RFC example parses");
    assert_eq!(d.username, "Mufasa");
    assert_eq!(d.realm, "http-auth@example.org");
    assert_eq!(d.uri, "/dir/index.html");
    assert_eq!(d.algorithm.as_deref(), Some("SHA-256"));
    assert_eq!(d.nc, Some(1));
    assert_eq!(d.nc_text.as_deref(), Some("00000001"));
    assert_eq!(d.qop.as_deref(), Some("auth"));
    assert_eq!(
        d.opaque.as_deref(),
        Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")
    );
}

#[test]
fn nc_is_eight_hex_digits_not_decimal() {
    let base = "Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", response=\"0\"";
    let d = parse_authorization(&format!("{base}, nc=0000000a")).expect("hex nc");
    assert_eq!(d.nc, Some(10));
    let d = parse_authorization(&format!("{base}, nc=00000010")).expect("hex nc");
    assert_eq!(d.nc, Some(16));
    let d = parse_authorization(&format!("{base}, nc=FFFFFFFF")).expect("upper-case hex");
    assert_eq!(d.nc, Some(u32::MAX));
    let e = parse_authorization(&format!("{base}, nc=1")).expect_err("short nc");
    assert_eq!(
        e.to_string(),
        "Authorization header: expected nc = 8 hex digits, found \"1\""
    );
    assert!(parse_authorization(&format!("{base}, nc=0000000g")).is_err());
    assert!(parse_authorization(&format!("{base}, nc=000000001")).is_err());
}

#[test]
fn parser_keeps_commas_and_escapes_inside_quotes() {
    let d = parse_authorization(
        "digest USERNAME=\"a\\\"b\" ,realm=\"x, y\",,nonce=abc/def==,uri=sip:host;transport=tcp,\
         response=\"AB\",qop=\"auth\",x-ext=\"ignored, really\"",
    )
    .expect("lenient forms parse");
    assert_eq!(d.username, "a\"b");
    assert_eq!(d.realm, "x, y");
    assert_eq!(d.nonce, "abc/def==");
    assert_eq!(d.uri, "sip:host;transport=tcp");
    assert_eq!(d.response, "AB");
    assert_eq!(d.qop.as_deref(), Some("auth"));
}

#[test]
fn parser_rejects_malformed_values_with_located_messages() {
    let cases = [
        (
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
            "expected auth-scheme \"Digest\", found \"Basic\"",
        ),
        (
            "Digest username=\"a",
            "expected closing DQUOTE, found \"\"a\"",
        ),
        (
            "Digest username=\"a\", username=\"b\"",
            "expected each parameter once, found \"username\"",
        ),
        (
            "Digest realm=\"r\", nonce=\"n\", uri=\"u\", response=\"x\"",
            "expected username parameter, found end of value",
        ),
        (
            "Digest username \"a\"",
            "expected \"=\" after parameter name, found \"\"a\"\"",
        ),
        (
            "Digest username=\"a\" realm=\"b\"",
            "expected \",\" between parameters, found \"realm=\"b\"\"",
        ),
        ("Digest =x", "expected parameter name, found \"=x\""),
    ];
    for (input, want) in cases {
        let e = parse_authorization(input).expect_err(input);
        assert_eq!(e.to_string(), format!("Authorization header: {want}"));
        assert_eq!(e.status(), 400);
    }
}

// ---- the verifier ------------------------------------------------------------------------

const REALM: &str = "ugyelet";
const RURI: &str = "sip:192.0.2.10";

fn store() -> HashMap<String, Credentials> {
    let mut m = HashMap::new();
    m.insert(
        "op1".to_owned(),
        Credentials::from_password("op1", REALM, "jelszo-1"),
    );
    m
}

fn auth(t0: Instant) -> DigestAuth {
    DigestAuth::new(DigestConfig::default(), b"0123456789abcdef", t0)
}

fn param<'a>(challenge: &'a str, name: &str) -> &'a str {
    let key = format!("{name}=");
    let at = challenge.find(&key).expect("parameter present") + key.len();
    let rest = &challenge[at..];
    if let Some(q) = rest.strip_prefix('"') {
        &q[..q.find('"').expect("closing quote")]
    } else {
        &rest[..rest.find([',', ' ']).unwrap_or(rest.len())]
    }
}

/// What a softphone sends back for a challenge.
fn answer(challenge: &str, user: &str, password: &str, nc: u32) -> String {
    let alg = Algorithm::parse(param(challenge, "algorithm")).expect("known algorithm");
    let nonce = param(challenge, "nonce");
    let nc = format!("{nc:08x}");
    let h = ha1(alg, user, REALM, password);
    let r = response(alg, &h, nonce, &nc, "c0ffee", "auth", "REGISTER", RURI);
    format!(
        "Digest username=\"{user}\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{RURI}\", \
         response=\"{r}\", algorithm={alg}, cnonce=\"c0ffee\", qop=auth, nc={nc}"
    )
}

fn attempt(authorization: Option<&str>, ip: u8) -> Attempt<'_> {
    Attempt {
        method: "REGISTER",
        request_uri: RURI,
        authorization,
        source: IpAddr::V4(Ipv4Addr::new(198, 51, 100, ip)),
    }
}

fn first_challenge(a: &mut DigestAuth, now: Instant) -> Vec<String> {
    match a.verify(now, &attempt(None, 1), &store()) {
        Verdict::Challenge {
            www_authenticate,
            stale: false,
            failed: false,
        } => www_authenticate,
        v => panic!("expected a challenge, got {v:?}"),
    }
}

#[test]
fn challenge_offers_md5_then_sha256_with_one_nonce_and_qop_auth() {
    let t0 = crate::clock::test_epoch();
    let mut a = auth(t0);
    let ch = first_challenge(&mut a, t0);
    assert_eq!(ch.len(), 2);
    assert!(ch[0].starts_with("Digest realm=\"ugyelet\", nonce=\""));
    assert!(
        ch[0].ends_with(", algorithm=MD5, qop=\"auth\""),
        "{}",
        ch[0]
    );
    assert!(
        ch[1].ends_with(", algorithm=SHA-256, qop=\"auth\""),
        "{}",
        ch[1]
    );
    assert_eq!(param(&ch[0], "nonce"), param(&ch[1], "nonce"));
    assert_eq!(param(&ch[0], "nonce").len(), 52);
    let again = first_challenge(&mut a, t0);
    assert_ne!(param(&ch[0], "nonce"), param(&again[0], "nonce"));
}

#[test]
fn correct_answer_authenticates_with_either_algorithm() {
    let t0 = crate::clock::test_epoch();
    let mut a = auth(t0);
    let ch = first_challenge(&mut a, t0);
    // Both share one nonce, so the second answer counts on from the first.
    for (nc, c, alg) in [(1, &ch[0], Algorithm::Md5), (2, &ch[1], Algorithm::Sha256)] {
        let h = answer(c, "op1", "jelszo-1", nc);
        let v = a.verify(t0 + Duration::from_secs(1), &attempt(Some(&h), 1), &store());
        assert_eq!(
            v,
            Verdict::Ok {
                username: "op1".to_owned(),
                algorithm: alg
            }
        );
    }
}

#[test]
fn replayed_nonce_count_is_rejected() {
    let t0 = crate::clock::test_epoch();
    let mut a = auth(t0);
    let ch = first_challenge(&mut a, t0);
    let h1 = answer(&ch[0], "op1", "jelszo-1", 1);
    assert!(matches!(
        a.verify(t0, &attempt(Some(&h1), 1), &store()),
        Verdict::Ok { .. }
    ));
    // The same request again: same nonce, same nc.
    assert!(matches!(
        a.verify(t0, &attempt(Some(&h1), 1), &store()),
        Verdict::Challenge { stale: false, .. }
    ));
    // The next count on the same nonce is fine, and then a lower one is not.
    let h3 = answer(&ch[0], "op1", "jelszo-1", 3);
    assert!(matches!(
        a.verify(t0, &attempt(Some(&h3), 1), &store()),
        Verdict::Ok { .. }
    ));
    let h2 = answer(&ch[0], "op1", "jelszo-1", 2);
    assert!(matches!(
        a.verify(t0, &attempt(Some(&h2), 1), &store()),
        Verdict::Challenge { stale: false, .. }
    ));
}

#[test]
fn unknown_user_is_indistinguishable_from_wrong_password() {
    let t0 = crate::clock::test_epoch();
    let mut a = auth(t0);
    let ch = first_challenge(&mut a, t0);
    let unknown = answer(&ch[0], "nobody", "jelszo-1", 1);
    let wrong = answer(&ch[0], "op1", "rossz", 1);
    let strip = |v: Verdict| match v {
        Verdict::Challenge {
            www_authenticate,
            stale,
            failed,
        } => (
            (stale, failed),
            www_authenticate
                .iter()
                .map(|c| c.replace(param(c, "nonce"), "N"))
                .collect::<Vec<_>>(),
        ),
        v => panic!("expected a challenge, got {v:?}"),
    };
    let a1 = strip(a.verify(t0, &attempt(Some(&unknown), 1), &store()));
    let a2 = strip(a.verify(t0, &attempt(Some(&wrong), 2), &store()));
    assert_eq!(a1, a2);
    assert_eq!(a1.0, (false, true), "not stale, and a failure either way");
    // Even with an expired nonce: no `stale` hint for either.
    let later = t0 + Duration::from_secs(301);
    let b1 = strip(a.verify(later, &attempt(Some(&unknown), 3), &store()));
    let b2 = strip(a.verify(later, &attempt(Some(&wrong), 4), &store()));
    assert_eq!(b1, b2);
    assert_eq!(b1, a1);
}

#[test]
fn expired_nonce_with_right_password_is_stale_not_a_failure() {
    let t0 = crate::clock::test_epoch();
    let mut a = auth(t0);
    let ch = first_challenge(&mut a, t0);
    let h = answer(&ch[0], "op1", "jelszo-1", 1);
    // At exactly the lifetime the nonce still works...
    let ok_at = t0 + Duration::from_secs(300);
    assert!(matches!(
        a.verify(ok_at, &attempt(Some(&h), 1), &store()),
        Verdict::Ok { .. }
    ));
    // ...and a millisecond later it is stale.
    let h2 = answer(&ch[0], "op1", "jelszo-1", 2);
    let v = a.verify(
        ok_at + Duration::from_millis(1),
        &attempt(Some(&h2), 1),
        &store(),
    );
    let Verdict::Challenge {
        www_authenticate,
        stale: true,
        failed: false,
    } = v
    else {
        panic!("expected a stale challenge, got {v:?}");
    };
    assert!(www_authenticate[0].ends_with(", stale=true"));
    // Stale answers do not count towards throttling.
    for _ in 0..10 {
        assert!(matches!(
            a.verify(
                ok_at + Duration::from_secs(1),
                &attempt(Some(&h2), 1),
                &store()
            ),
            Verdict::Challenge { stale: true, .. }
        ));
    }
}

#[test]
fn nonce_signed_with_another_secret_is_stale_for_the_right_password() {
    let t0 = crate::clock::test_epoch();
    let mut before_restart = DigestAuth::new(DigestConfig::default(), b"old secret", t0);
    let ch = first_challenge(&mut before_restart, t0);
    let h = answer(&ch[0], "op1", "jelszo-1", 1);
    let mut a = auth(t0);
    assert!(matches!(
        a.verify(t0, &attempt(Some(&h), 1), &store()),
        Verdict::Challenge { stale: true, .. }
    ));
    let wrong = answer(&ch[0], "op1", "rossz", 1);
    assert!(matches!(
        a.verify(t0, &attempt(Some(&wrong), 1), &store()),
        Verdict::Challenge { stale: false, .. }
    ));
}

#[test]
fn five_failures_in_a_minute_block_the_address_for_a_growing_period() {
    let t0 = crate::clock::test_epoch();
    let mut a = auth(t0);
    let ch = first_challenge(&mut a, t0);
    let wrong = answer(&ch[0], "op1", "rossz", 1);
    let mut t = t0;
    for _ in 0..5 {
        assert!(matches!(
            a.verify(t, &attempt(Some(&wrong), 7), &store()),
            Verdict::Challenge { .. }
        ));
        t += Duration::from_secs(10);
    }
    // Blocked from the fifth failure (t0 + 40 s) for 60 s, even with the right password.
    let right = answer(&ch[0], "op1", "jelszo-1", 1);
    assert_eq!(
        a.verify(t, &attempt(Some(&right), 7), &store()),
        Verdict::Throttled {
            retry_after: Duration::from_secs(50)
        }
    );
    // Another address is not affected.
    assert!(matches!(
        a.verify(t, &attempt(Some(&right), 8), &store()),
        Verdict::Ok { .. }
    ));
    // After the block, five more failures block for twice as long.
    let mut t = t0 + Duration::from_secs(100);
    for _ in 0..5 {
        assert!(matches!(
            a.verify(t, &attempt(Some(&wrong), 7), &store()),
            Verdict::Challenge { .. }
        ));
        t += Duration::from_secs(1);
    }
    assert_eq!(
        a.verify(t, &attempt(None, 7), &store()),
        Verdict::Throttled {
            retry_after: Duration::from_secs(119)
        }
    );
}

#[test]
fn failures_spread_over_more_than_the_window_do_not_block() {
    let t0 = crate::clock::test_epoch();
    let mut a = auth(t0);
    let mut t = t0;
    for i in 0..20 {
        let ch = first_challenge(&mut a, t);
        let wrong = answer(&ch[0], "op1", "rossz", 1);
        let v = a.verify(t, &attempt(Some(&wrong), 9), &store());
        assert!(matches!(v, Verdict::Challenge { .. }), "attempt {i}: {v:?}");
        t += Duration::from_secs(16);
    }
}

#[test]
fn success_clears_the_failure_record() {
    let t0 = crate::clock::test_epoch();
    let mut a = auth(t0);
    let ch = first_challenge(&mut a, t0);
    let wrong = answer(&ch[0], "op1", "rossz", 1);
    for _ in 0..4 {
        let _ = a.verify(t0, &attempt(Some(&wrong), 7), &store());
    }
    let right = answer(&ch[0], "op1", "jelszo-1", 1);
    assert!(matches!(
        a.verify(t0, &attempt(Some(&right), 7), &store()),
        Verdict::Ok { .. }
    ));
    for _ in 0..4 {
        let _ = a.verify(t0, &attempt(Some(&wrong), 7), &store());
    }
    assert!(matches!(
        a.verify(t0, &attempt(None, 7), &store()),
        Verdict::Challenge { .. }
    ));
}

#[test]
fn forgotten_nonce_is_stale_so_eviction_reopens_no_replay() {
    let t0 = crate::clock::test_epoch();
    let cfg = DigestConfig {
        max_nonces: 2,
        ..DigestConfig::default()
    };
    let mut a = DigestAuth::new(cfg, b"k", t0);
    let mut t = t0;
    let mut first = Vec::new();
    for _ in 0..3 {
        let ch = first_challenge(&mut a, t);
        let h = answer(&ch[0], "op1", "jelszo-1", 1);
        assert!(matches!(
            a.verify(t, &attempt(Some(&h), 1), &store()),
            Verdict::Ok { .. }
        ));
        first.push(h);
        t += Duration::from_millis(5);
    }
    // The first nonce was evicted: its old request cannot be replayed.
    assert!(matches!(
        a.verify(t, &attempt(Some(&first[0]), 1), &store()),
        Verdict::Challenge { stale: true, .. }
    ));
    // The newest is still tracked: a replay is a failure.
    assert!(matches!(
        a.verify(t, &attempt(Some(&first[2]), 1), &store()),
        Verdict::Challenge { stale: false, .. }
    ));
}

#[test]
fn digest_uri_must_name_the_request_uri() {
    let t0 = crate::clock::test_epoch();
    let mut a = auth(t0);
    let ch = first_challenge(&mut a, t0);
    let h = answer(&ch[0], "op1", "jelszo-1", 1).replace(RURI, "sip:evil.example");
    let v = a.verify(t0, &attempt(Some(&h), 1), &store());
    let Verdict::BadRequest(e) = v else {
        panic!("expected 400, got {v:?}");
    };
    assert_eq!(
        e.to_string(),
        "Authorization header: expected uri equal to the Request-URI, found \"sip:evil.example\""
    );
}

#[test]
fn answer_without_qop_or_with_unoffered_algorithm_fails() {
    let t0 = crate::clock::test_epoch();
    let cfg = DigestConfig {
        algorithms: vec![Algorithm::Md5],
        ..DigestConfig::default()
    };
    let mut a = DigestAuth::new(cfg, b"k", t0);
    let ch = first_challenge(&mut a, t0);
    assert_eq!(ch.len(), 1);
    let sha = answer(&ch[0].replace("MD5", "SHA-256"), "op1", "jelszo-1", 1);
    assert!(matches!(
        a.verify(t0, &attempt(Some(&sha), 1), &store()),
        Verdict::Challenge { stale: false, .. }
    ));
    // RFC 2069 style: no qop, no nc, no cnonce.
    let nonce = param(&ch[0], "nonce");
    let h = ha1(Algorithm::Md5, "op1", REALM, "jelszo-1");
    let ha2 = Algorithm::Md5.hash_hex(&["REGISTER", RURI]);
    let r = Algorithm::Md5.hash_hex(&[&h, nonce, &ha2]);
    let old = format!(
        "Digest username=\"op1\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{RURI}\", response=\"{r}\""
    );
    assert!(matches!(
        a.verify(t0, &attempt(Some(&old), 1), &store()),
        Verdict::Challenge { stale: false, .. }
    ));
}

#[test]
fn malformed_authorization_is_a_bad_request_and_a_failure() {
    let t0 = crate::clock::test_epoch();
    let mut a = auth(t0);
    for _ in 0..5 {
        assert!(matches!(
            a.verify(t0, &attempt(Some("Digest username=\"x"), 5), &store()),
            Verdict::BadRequest(_)
        ));
    }
    assert!(matches!(
        a.verify(t0, &attempt(None, 5), &store()),
        Verdict::Throttled { .. }
    ));
}

#[test]
fn parser_never_panics_on_mutated_input() {
    let seed = "Digest username=\"op1\", realm=\"ugyelet\", nonce=\"abc\", uri=\"sip:x\", \
                response=\"00\", nc=00000001, qop=auth, cnonce=\"é\\\"\"";
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..5000 {
        let mut b = seed.as_bytes().to_vec();
        for _ in 0..(next() % 4 + 1) {
            let i = (next() as usize) % b.len();
            match next() % 3 {
                0 => b[i] = b"\",=\\ \t"[(next() % 6) as usize],
                1 => {
                    b.remove(i);
                }
                _ => b.truncate(i),
            }
            if b.is_empty() {
                break;
            }
        }
        let s = String::from_utf8_lossy(&b);
        let _ = parse_authorization(&s);
    }
}

#[test]
fn a_password_matches_its_own_ha1s_in_either_case_and_no_digest_matches_nothing() {
    let c = Credentials::from_password(RFC_USER, RFC_REALM, RFC_PASS);
    assert!(c.matches_password(RFC_USER, RFC_REALM, RFC_PASS));
    assert!(!c.matches_password(RFC_USER, RFC_REALM, "circle of life"));
    assert!(!c.matches_password("mufasa", RFC_REALM, RFC_PASS));
    let upper = Credentials {
        ha1_md5: c.ha1_md5.as_deref().map(str::to_ascii_uppercase),
        ha1_sha256: None,
    };
    assert!(upper.matches_password(RFC_USER, RFC_REALM, RFC_PASS));
    assert!(!Credentials::default().matches_password(RFC_USER, RFC_REALM, RFC_PASS));
}

#[test]
fn credentials_of_an_unknown_scheme_count_as_none_and_never_as_a_failure() {
    let t0 = crate::clock::test_epoch();
    let mut a = auth(t0);
    for value in [
        "NoOneKnowsThisScheme opaque-data=here",
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        "Digestive username=\"op1\"",
    ] {
        for _ in 0..10 {
            assert!(
                matches!(
                    a.verify(t0, &attempt(Some(value), 9), &store()),
                    Verdict::Challenge {
                        stale: false,
                        failed: false,
                        ..
                    }
                ),
                "{value}"
            );
        }
    }
    assert!(is_digest("  digest username=\"a\""));
    assert!(!is_digest("Digest"));
    assert_eq!(
        digest_credentials(["Basic x", "Digest username=\"a\"", "Digest b"].into_iter()),
        Some("Digest username=\"a\"")
    );
}
