use super::*;
use crate::sip::auth::{Algorithm, DigestConfig, ha1, response};
use crate::sip::msg::{Message, parse};
use std::collections::HashMap;

const REALM: &str = "ugyelet";
const RURI: &str = "sip:192.0.2.10";

fn accounts() -> HashMap<String, Credentials> {
    let mut m = HashMap::new();
    for (u, p) in [("op1", "jelszo-1"), ("tele1", "jelszo-t1")] {
        m.insert(u.to_owned(), Credentials::from_password(u, REALM, p));
    }
    m
}

fn registrar(t0: Instant) -> Registrar {
    let auth = DigestAuth::new(DigestConfig::default(), b"registrar test key", t0);
    Registrar::new(RegistrarConfig::default(), auth, t0)
}

fn udp(addr: &str) -> Source {
    Source {
        addr: addr.parse().expect("socket address"),
        transport: Transport::Udp,
    }
}

/// A softphone: keeps its Call-ID, CSeq, nonce and nonce-count like a real one.
struct Phone {
    user: &'static str,
    password: &'static str,
    call_id: String,
    cseq: u32,
    nonce: Option<String>,
    nc: u32,
}

impl Phone {
    fn new(user: &'static str, password: &'static str) -> Phone {
        Phone {
            user,
            password,
            call_id: format!("reg-{user}"),
            cseq: 0,
            nonce: None,
            nc: 0,
        }
    }

    fn request(&mut self, headers: &str) -> Request {
        self.cseq += 1;
        let mut auth = String::new();
        if let Some(nonce) = &self.nonce {
            self.nc += 1;
            let nc = format!("{:08x}", self.nc);
            let h = ha1(Algorithm::Sha256, self.user, REALM, self.password);
            let r = response(
                Algorithm::Sha256,
                &h,
                nonce,
                &nc,
                "cn",
                "auth",
                "REGISTER",
                RURI,
            );
            auth = format!(
                "Authorization: Digest username=\"{}\", realm=\"{REALM}\", nonce=\"{nonce}\", \
                 uri=\"{RURI}\", response=\"{r}\", algorithm=SHA-256, qop=auth, nc={nc}, cnonce=\"cn\"\r\n",
                self.user
            );
        }
        let text = format!(
            "REGISTER {RURI} SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK{}{};rport\r\n\
             From: <sip:{u}@192.0.2.10>;tag=ph\r\nTo: <sip:{u}@192.0.2.10>\r\nCall-ID: {}\r\n\
             CSeq: {} REGISTER\r\nUser-Agent: baresip\r\n{auth}{headers}Content-Length: 0\r\n\r\n",
            self.call_id,
            self.cseq,
            self.call_id,
            self.cseq,
            u = self.user,
        );
        match parse(text.as_bytes()) {
            Ok(Message::Request(r)) => r,
            other => panic!("test REGISTER must parse: {other:?}\n{text}"),
        }
    }

    /// Sends a REGISTER, answering one challenge if needed; returns the final response.
    fn register(
        &mut self,
        reg: &mut Registrar,
        now: Instant,
        src: Source,
        headers: &str,
    ) -> Response {
        let req = self.request(headers);
        let out = reg.handle_register(now, &req, src, &accounts());
        if out.response.status != 401 {
            return out.response;
        }
        let ch = out
            .response
            .headers
            .get("WWW-Authenticate")
            .expect("401 carries a challenge");
        let at = ch.find("nonce=\"").expect("nonce") + 7;
        self.nonce = Some(ch[at..at + 52].to_owned());
        self.nc = 0;
        let req = self.request(headers);
        reg.handle_register(now, &req, src, &accounts()).response
    }
}

fn events(reg: &mut Registrar) -> Vec<RegistrarEvent> {
    std::iter::from_fn(|| reg.poll_event()).collect()
}

fn contacts(r: &Response) -> Vec<&str> {
    r.headers.get_all("Contact").collect()
}

#[test]
fn register_without_credentials_gets_401_with_both_challenges_and_a_to_tag() {
    let t0 = crate::clock::test_epoch();
    let mut reg = registrar(t0);
    let mut p = Phone::new("op1", "jelszo-1");
    let req = p.request("Contact: <sip:op1@10.0.0.5:5060>\r\n");
    let out = reg.handle_register(t0, &req, udp("203.0.113.7:40000"), &accounts());
    assert_eq!(out.response.status, 401);
    let ch: Vec<_> = out.response.headers.get_all("WWW-Authenticate").collect();
    assert_eq!(ch.len(), 2);
    assert!(ch[0].contains("algorithm=MD5"));
    assert!(ch[1].contains("algorithm=SHA-256"));
    assert!(out.response.to.tag().is_some());
    assert!(events(&mut reg).is_empty());
    assert!(!reg.is_registered("op1"));
}

#[test]
fn binding_records_the_real_source_address_for_nat() {
    let t0 = crate::clock::test_epoch();
    let mut reg = registrar(t0);
    let mut p = Phone::new("tele1", "jelszo-t1");
    let src = udp("203.0.113.7:40000");
    let r = p.register(
        &mut reg,
        t0,
        src,
        "Contact: <sip:tele1@192.168.1.20:5060>\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(contacts(&r), ["<sip:tele1@192.168.1.20:5060>;expires=3600"]);
    let b: Vec<Binding> = reg.lookup("tele1").cloned().collect();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].source, src);
    assert_eq!(b[0].user_agent.as_deref(), Some("baresip"));
    let ev = events(&mut reg);
    assert_eq!(
        ev,
        [RegistrarEvent::Registered {
            aor: "tele1".to_owned(),
            binding: b[0].id,
            contact: b[0].contact.uri.clone(),
            source: src,
            expires: Duration::from_secs(3600),
            refreshed: false,
        }]
    );
}

#[test]
fn contact_expires_param_wins_and_long_requests_are_shortened_to_the_maximum() {
    let t0 = crate::clock::test_epoch();
    let mut reg = registrar(t0);
    let mut p = Phone::new("op1", "jelszo-1");
    let src = udp("192.0.2.50:5060");
    let r = p.register(
        &mut reg,
        t0,
        src,
        "Expires: 7200\r\nContact: <sip:op1@192.0.2.50>;expires=120, <sip:op1@192.0.2.51>\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        contacts(&r),
        [
            "<sip:op1@192.0.2.50>;expires=120",
            "<sip:op1@192.0.2.51>;expires=3600"
        ]
    );
}

#[test]
fn too_brief_expiry_gets_423_with_min_expires_and_binds_nothing() {
    let t0 = crate::clock::test_epoch();
    let mut reg = registrar(t0);
    let mut p = Phone::new("op1", "jelszo-1");
    let r = p.register(
        &mut reg,
        t0,
        udp("192.0.2.50:5060"),
        "Contact: <sip:op1@192.0.2.50>;expires=30\r\n",
    );
    assert_eq!(r.status, 423);
    assert_eq!(r.reason, "Interval Too Brief");
    assert_eq!(r.headers.get("Min-Expires"), Some("60"));
    assert!(!reg.is_registered("op1"));
}

#[test]
fn refresh_updates_the_binding_and_expires_zero_removes_it() {
    let t0 = crate::clock::test_epoch();
    let mut reg = registrar(t0);
    let mut p = Phone::new("op1", "jelszo-1");
    let src = udp("192.0.2.50:5060");
    let c = "Contact: <sip:op1@192.0.2.50>\r\nExpires: 600\r\n";
    assert_eq!(p.register(&mut reg, t0, src, c).status, 200);
    let id = reg.lookup("op1").next().expect("bound").id;
    let _ = events(&mut reg);
    let t1 = t0 + Duration::from_secs(300);
    assert_eq!(p.register(&mut reg, t1, src, c).status, 200);
    let b: Vec<_> = reg.lookup("op1").collect();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].id, id);
    assert_eq!(b[0].expires_at, t1 + Duration::from_secs(600));
    assert!(matches!(
        &events(&mut reg)[..],
        [RegistrarEvent::Registered {
            refreshed: true,
            ..
        }]
    ));
    let r = p.register(
        &mut reg,
        t1,
        src,
        "Contact: <sip:op1@192.0.2.50>\r\nExpires: 0\r\n",
    );
    assert_eq!(r.status, 200);
    assert!(contacts(&r).is_empty());
    assert_eq!(
        events(&mut reg),
        [RegistrarEvent::Unregistered {
            aor: "op1".to_owned(),
            binding: id
        }]
    );
    assert!(!reg.is_registered("op1"));
}

#[test]
fn wildcard_with_expires_zero_removes_every_binding() {
    let t0 = crate::clock::test_epoch();
    let mut reg = registrar(t0);
    let mut p = Phone::new("op1", "jelszo-1");
    let src = udp("192.0.2.50:5060");
    let c = "Contact: <sip:op1@192.0.2.50>, <sip:op1@192.0.2.51>\r\n";
    assert_eq!(p.register(&mut reg, t0, src, c).status, 200);
    assert_eq!(reg.lookup("op1").count(), 2);
    let r = p.register(&mut reg, t0, src, "Contact: *\r\n");
    assert_eq!(r.status, 400, "Contact: * needs Expires: 0");
    assert_eq!(reg.lookup("op1").count(), 2);
    let _ = events(&mut reg);
    let r = p.register(&mut reg, t0, src, "Contact: *\r\nExpires: 0\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(reg.lookup("op1").count(), 0);
    assert_eq!(events(&mut reg).len(), 2);
}

#[test]
fn same_call_id_with_old_cseq_is_refused_and_changes_nothing() {
    let t0 = crate::clock::test_epoch();
    let mut reg = registrar(t0);
    let mut p = Phone::new("op1", "jelszo-1");
    let src = udp("192.0.2.50:5060");
    let c = "Contact: <sip:op1@192.0.2.50>\r\n";
    assert_eq!(p.register(&mut reg, t0, src, c).status, 200);
    p.cseq = 0; // a reordered, older request of the same registration
    let r = p.register(
        &mut reg,
        t0,
        src,
        "Contact: <sip:op1@192.0.2.50>;expires=0\r\n",
    );
    assert_eq!(r.status, 500);
    assert_eq!(reg.lookup("op1").count(), 1);
}

#[test]
fn an_operator_cannot_register_another_operators_aor() {
    let t0 = crate::clock::test_epoch();
    let mut reg = registrar(t0);
    let mut p = Phone::new("op1", "jelszo-1");
    let req = p.request("Contact: <sip:x@192.0.2.50>\r\n");
    // Authenticate as op1 but put tele1 in To.
    let mut text = req.to_string();
    text = text.replace("To: <sip:op1@", "To: <sip:tele1@");
    let Ok(Message::Request(req)) = parse(text.as_bytes()) else {
        panic!("parses");
    };
    let out = reg.handle_register(t0, &req, udp("192.0.2.50:5060"), &accounts());
    assert_eq!(out.response.status, 401);
    let ch = out
        .response
        .headers
        .get("WWW-Authenticate")
        .expect("challenge");
    let at = ch.find("nonce=\"").expect("nonce") + 7;
    p.nonce = Some(ch[at..at + 52].to_owned());
    let req = p.request("Contact: <sip:x@192.0.2.50>\r\n");
    let text = req.to_string().replace("To: <sip:op1@", "To: <sip:tele1@");
    let Ok(Message::Request(req)) = parse(text.as_bytes()) else {
        panic!("parses");
    };
    let out = reg.handle_register(t0, &req, udp("192.0.2.50:5060"), &accounts());
    assert_eq!(out.response.status, 403);
    assert_eq!(
        out.error.map(|e| e.to_string()).as_deref(),
        Some("expected the authenticated user \"op1\" to register itself, found \"tele1\"")
    );
}

#[test]
fn binding_expires_exactly_at_its_deadline() {
    let t0 = crate::clock::test_epoch();
    let cfg = RegistrarConfig {
        keepalive_udp: Duration::from_secs(1000),
        ..RegistrarConfig::default()
    };
    let auth = DigestAuth::new(DigestConfig::default(), b"k", t0);
    let mut reg = Registrar::new(cfg, auth, t0);
    let mut p = Phone::new("op1", "jelszo-1");
    let src = udp("192.0.2.50:5060");
    let r = p.register(
        &mut reg,
        t0,
        src,
        "Contact: <sip:op1@192.0.2.50>;expires=120\r\n",
    );
    assert_eq!(r.status, 200);
    let id = reg.lookup("op1").next().expect("bound").id;
    let _ = events(&mut reg);
    let deadline = t0 + Duration::from_secs(120);
    assert_eq!(reg.poll_timeout(), Some(deadline));
    reg.handle_timeout(deadline - Duration::from_millis(1));
    assert!(reg.is_registered("op1"));
    reg.handle_timeout(deadline);
    assert!(!reg.is_registered("op1"));
    assert_eq!(
        events(&mut reg),
        [RegistrarEvent::Expired {
            aor: "op1".to_owned(),
            binding: id
        }]
    );
}

#[test]
fn keepalives_are_options_over_udp_and_crlf_over_tcp_on_schedule() {
    let t0 = crate::clock::test_epoch();
    let mut reg = registrar(t0);
    let mut a = Phone::new("op1", "jelszo-1");
    let mut b = Phone::new("tele1", "jelszo-t1");
    let u = udp("203.0.113.7:40000");
    let t = Source {
        addr: "203.0.113.8:50000".parse().expect("addr"),
        transport: Transport::Tcp(42),
    };
    assert_eq!(
        a.register(&mut reg, t0, u, "Contact: <sip:op1@10.0.0.5>\r\n")
            .status,
        200
    );
    assert_eq!(
        b.register(
            &mut reg,
            t0,
            t,
            "Contact: <sip:tele1@10.0.0.6;transport=tcp>\r\n"
        )
        .status,
        200
    );
    assert_eq!(reg.poll_timeout(), Some(t0 + Duration::from_secs(25)));
    let mut sent = Vec::new();
    while let Some(now) = reg.poll_timeout() {
        if now >= t0 + Duration::from_secs(100) {
            break;
        }
        reg.handle_timeout(now);
        while let Some(k) = reg.poll_keepalive() {
            sent.push((now.duration_since(t0).as_secs(), k.aor, k.kind, k.target));
        }
    }
    assert_eq!(
        sent,
        [
            (25, "op1".to_owned(), KeepAliveKind::Options, u),
            (50, "op1".to_owned(), KeepAliveKind::Options, u),
            (75, "op1".to_owned(), KeepAliveKind::Options, u),
            (90, "tele1".to_owned(), KeepAliveKind::Crlf, t),
        ]
    );
}

#[test]
fn failed_keepalive_and_closed_connection_drop_bindings() {
    let t0 = crate::clock::test_epoch();
    let mut reg = registrar(t0);
    let mut a = Phone::new("op1", "jelszo-1");
    let mut b = Phone::new("tele1", "jelszo-t1");
    let t = Source {
        addr: "203.0.113.8:50000".parse().expect("addr"),
        transport: Transport::Tcp(42),
    };
    assert_eq!(
        a.register(
            &mut reg,
            t0,
            udp("203.0.113.7:4000"),
            "Contact: <sip:op1@10.0.0.5>\r\n"
        )
        .status,
        200
    );
    assert_eq!(
        b.register(&mut reg, t0, t, "Contact: <sip:tele1@10.0.0.6>\r\n")
            .status,
        200
    );
    let _ = events(&mut reg);
    reg.handle_connection_closed(t0, 41);
    assert!(reg.is_registered("tele1"));
    reg.handle_connection_closed(t0, 42);
    assert!(!reg.is_registered("tele1"));
    let id = reg.lookup("op1").next().expect("bound").id;
    reg.handle_keepalive_failed(t0, id);
    assert!(!reg.is_registered("op1"));
    let ev = events(&mut reg);
    assert_eq!(ev.len(), 2);
    assert!(ev.iter().all(|e| matches!(e, RegistrarEvent::Lost { .. })));
}

#[test]
fn same_instance_from_a_new_address_replaces_its_binding() {
    let t0 = crate::clock::test_epoch();
    let mut reg = registrar(t0);
    let mut p = Phone::new("tele1", "jelszo-t1");
    let inst = ";+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"";
    let c1 = format!("Contact: <sip:tele1@192.168.1.20:5060>{inst}\r\n");
    let c2 = format!("Contact: <sip:tele1@192.168.1.20:5062>{inst}\r\n");
    assert_eq!(
        p.register(&mut reg, t0, udp("203.0.113.7:40000"), &c1)
            .status,
        200
    );
    p.call_id = "after-reboot".to_owned();
    let src2 = udp("203.0.113.7:40100");
    assert_eq!(p.register(&mut reg, t0, src2, &c2).status, 200);
    let b: Vec<_> = reg.lookup("tele1").collect();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].source, src2);
}

#[test]
fn a_binding_beyond_the_limit_replaces_the_oldest() {
    let t0 = crate::clock::test_epoch();
    let mut reg = registrar(t0);
    let mut p = Phone::new("op1", "jelszo-1");
    let src = udp("192.0.2.50:5060");
    for port in 5060..5065 {
        let c = format!("Contact: <sip:op1@192.0.2.50:{port}>\r\n");
        assert_eq!(p.register(&mut reg, t0, src, &c).status, 200);
    }
    let ports: Vec<_> = reg
        .lookup("op1")
        .map(|b| match &b.contact.uri {
            Uri::Sip(u) => u.port,
            _ => None,
        })
        .collect();
    assert_eq!(ports, [Some(5064), Some(5063), Some(5062), Some(5061)]);
}

#[test]
fn register_without_contact_lists_current_bindings() {
    let t0 = crate::clock::test_epoch();
    let mut reg = registrar(t0);
    let mut p = Phone::new("op1", "jelszo-1");
    let src = udp("192.0.2.50:5060");
    assert_eq!(
        p.register(&mut reg, t0, src, "Contact: <sip:op1@192.0.2.50>\r\n")
            .status,
        200
    );
    let r = p.register(&mut reg, t0 + Duration::from_secs(100), src, "");
    assert_eq!(r.status, 200);
    assert_eq!(contacts(&r), ["<sip:op1@192.0.2.50>;expires=3500"]);
}

#[test]
fn wrong_passwords_from_one_address_are_throttled_with_403() {
    let t0 = crate::clock::test_epoch();
    let mut reg = registrar(t0);
    let mut p = Phone::new("op1", "rossz");
    let src = udp("198.51.100.9:5060");
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(
            p.register(&mut reg, t0, src, "Contact: <sip:op1@10.0.0.1>\r\n")
                .status,
        );
    }
    // Failures: round 1 answers once (1), rounds 2 and 3 send stale credentials and
    // answer the new challenge (2-3, 4-5); the fifth failure starts the block.
    assert_eq!(statuses, [401, 401, 401, 403, 403, 403]);
    assert_eq!(
        Phone::new("op1", "jelszo-1")
            .register(&mut reg, t0, src, "Contact: <sip:op1@10.0.0.1>\r\n")
            .status,
        403
    );
}

/// Unix time of `t0` in these tests: 2026-11-05 17:00 UTC.
const WALL_T0: i64 = 1_793_984_400_000;

#[test]
fn udp_binding_survives_a_restart_with_its_nat_source_and_remaining_time() {
    let t0 = crate::clock::test_epoch();
    let mut reg = registrar(t0);
    let mut p = Phone::new("tele1", "jelszo-t1");
    // Behind a home router: a private Contact, a public source.
    let src = udp("203.0.113.7:40000");
    let c = "Contact: <sip:tele1@192.168.1.20:5060>;+sip.instance=\"<urn:uuid:1>\"\r\nExpires: 3600\r\n";
    assert_eq!(p.register(&mut reg, t0, src, c).status, 200);
    let saved = reg.saved_bindings(t0 + Duration::from_secs(100), WALL_T0 + 100_000);
    assert_eq!(
        saved,
        [SavedBinding {
            aor: "tele1".to_owned(),
            contact: "<sip:tele1@192.168.1.20:5060>;+sip.instance=\"<urn:uuid:1>\"".to_owned(),
            instance: Some("<urn:uuid:1>".to_owned()),
            source: "203.0.113.7:40000".parse().expect("addr"),
            call_id: "reg-tele1".to_owned(),
            cseq: 2,
            registered_ms: WALL_T0,
            expires_ms: WALL_T0 + 3_600_000,
            user_agent: Some("baresip".to_owned()),
        }]
    );

    // The next process, ten minutes later by the wall clock, on a clock of its own.
    let t1 = t0 + Duration::from_secs(50_000);
    let mut next = registrar(t1);
    let restored = next.restore(t1, WALL_T0 + 600_000, &saved, &|_| true);
    assert_eq!(
        restored,
        Restored {
            aors: vec!["tele1".to_owned()],
            bindings: 1,
            dropped: vec![],
        }
    );
    let b: Vec<Binding> = next.lookup("tele1").cloned().collect();
    assert_eq!(b.len(), 1);
    assert_eq!(
        b[0].source, src,
        "calls go to the NAT mapping, not the Contact"
    );
    assert_eq!(b[0].contact.uri.to_string(), "sip:tele1@192.168.1.20:5060");
    assert_eq!(b[0].expires_at, t1 + Duration::from_secs(3000));
    assert!(events(&mut next).is_empty(), "restoring is not registering");
    // The restored path is checked at once with a keep-alive.
    assert_eq!(next.poll_timeout(), Some(t1));
    next.handle_timeout(t1);
    let k = next.poll_keepalive().expect("a keep-alive");
    assert_eq!((k.kind, k.target), (KeepAliveKind::Options, src));
    // The phone's next refresh (same Call-ID, next CSeq) updates that binding.
    assert_eq!(p.register(&mut next, t1, src, c).status, 200);
    assert_eq!(next.lookup("tele1").count(), 1);
    assert!(matches!(
        &events(&mut next)[..],
        [RegistrarEvent::Registered {
            refreshed: true,
            ..
        }]
    ));
}

#[test]
fn restored_cseq_still_refuses_an_old_register() {
    let t0 = crate::clock::test_epoch();
    let mut reg = registrar(t0);
    let mut p = Phone::new("op1", "jelszo-1");
    let src = udp("192.0.2.50:5060");
    let c = "Contact: <sip:op1@192.0.2.50>\r\n";
    assert_eq!(p.register(&mut reg, t0, src, c).status, 200);
    let mut saved = reg.saved_bindings(t0, WALL_T0);
    // As if the phone had counted far ahead before the restart.
    saved[0].cseq = 50;
    let mut next = registrar(t0);
    next.restore(t0, WALL_T0, &saved, &|_| true);
    assert_eq!(p.register(&mut next, t0, src, c).status, 500);
}

#[test]
fn bindings_that_expired_while_the_daemon_was_down_or_do_not_read_are_not_restored() {
    let t0 = crate::clock::test_epoch();
    let saved = |aor: &str, contact: &str, expires_ms: i64| SavedBinding {
        aor: aor.to_owned(),
        contact: contact.to_owned(),
        instance: None,
        source: "192.0.2.50:5060".parse().expect("addr"),
        call_id: format!("c-{aor}"),
        cseq: 1,
        registered_ms: WALL_T0 - 3_600_000,
        expires_ms,
        user_agent: None,
    };
    let mut reg = registrar(t0);
    let r = reg.restore(
        t0,
        WALL_T0,
        &[
            saved("op1", "<sip:op1@192.0.2.50>", WALL_T0 - 1_000),
            saved("tele1", "<sip:tele1@192.0.2.51>", WALL_T0 + 1),
            saved("op2", "not a contact", WALL_T0 + 60_000),
            // A setting lowered meanwhile shortens what is left.
            saved("op3", "<sip:op3@192.0.2.52>", WALL_T0 + 86_400_000),
            // Garbage times do not panic.
            SavedBinding {
                registered_ms: i64::MIN,
                ..saved("op4", "<sip:op4@192.0.2.53>", i64::MAX)
            },
            // An account removed from the accounts file meanwhile.
            saved("gone", "<sip:gone@192.0.2.54>", WALL_T0 + 60_000),
        ],
        &|aor| aor != "gone",
    );
    // Oldest registration first.
    assert_eq!(r.aors, ["op4", "tele1", "op3"]);
    assert_eq!(
        r.dropped,
        [
            "op1: expired 1 s before the start",
            "op2: expected a Contact name-addr, found one that does not parse",
            "gone: no such operator account",
        ]
    );
    assert!(!reg.is_registered("op1"));
    let max = Duration::from_secs(u64::from(reg.config().max_expires));
    assert_eq!(reg.lookup("op3").next().expect("op3").expires_at, t0 + max);
    // One millisecond left: it expires on the first timeout.
    reg.handle_timeout(t0 + Duration::from_millis(1));
    assert!(!reg.is_registered("tele1"));
}

#[test]
fn tcp_bindings_are_not_saved_their_connection_ends_with_the_process() {
    let t0 = crate::clock::test_epoch();
    let mut reg = registrar(t0);
    let mut a = Phone::new("op1", "jelszo-1");
    let mut b = Phone::new("tele1", "jelszo-t1");
    let tcp = Source {
        addr: "203.0.113.8:50000".parse().expect("addr"),
        transport: Transport::Tcp(42),
    };
    let c1 = "Contact: <sip:op1@10.0.0.5>\r\n";
    assert_eq!(
        a.register(&mut reg, t0, udp("203.0.113.7:4000"), c1).status,
        200
    );
    let c2 = "Contact: <sip:tele1@10.0.0.6;transport=tcp>\r\n";
    assert_eq!(b.register(&mut reg, t0, tcp, c2).status, 200);
    let saved = reg.saved_bindings(t0, WALL_T0);
    let aors: Vec<&str> = saved.iter().map(|s| s.aor.as_str()).collect();
    assert_eq!(aors, ["op1"]);
}

#[test]
fn every_binding_change_is_flagged_for_saving_and_keepalives_are_not() {
    let t0 = crate::clock::test_epoch();
    let mut reg = registrar(t0);
    assert!(!reg.take_changed());
    let mut p = Phone::new("op1", "jelszo-1");
    let src = udp("192.0.2.50:5060");
    let c = "Contact: <sip:op1@192.0.2.50>\r\nExpires: 600\r\n";
    // A challenge changes nothing.
    let _ = reg.handle_register(t0, &p.request(c), src, &accounts());
    assert!(!reg.take_changed());
    assert_eq!(p.register(&mut reg, t0, src, c).status, 200);
    assert!(reg.take_changed());
    assert!(!reg.take_changed(), "the flag clears");
    reg.handle_timeout(t0 + Duration::from_secs(30));
    assert!(reg.poll_keepalive().is_some());
    assert!(!reg.take_changed(), "a keep-alive changes no binding");
    assert_eq!(
        p.register(&mut reg, t0 + Duration::from_secs(60), src, c)
            .status,
        200
    );
    assert!(reg.take_changed(), "a refresh moves the expiry");
    reg.handle_timeout(t0 + Duration::from_secs(700));
    assert!(!reg.is_registered("op1"));
    assert!(reg.take_changed(), "an expiry removes it");
}

#[test]
fn unknown_authorization_scheme_is_ignored_and_challenged_with_digest_not_refused() {
    // RFC 4475 §3.3.7: "NoOneKnowsThisScheme" credentials; a registrar challenges.
    let t0 = crate::clock::test_epoch();
    let mut reg = registrar(t0);
    let mut p = Phone::new("op1", "jelszo-1");
    let src = udp("203.0.113.7:40000");
    // Far more often than the failures that block an address: none of these is one.
    for _ in 0..12 {
        let req = p.request(
            "Authorization: NoOneKnowsThisScheme opaque-data=here\r\n\
             Contact: <sip:op1@10.0.0.5:5060>\r\n",
        );
        let out = reg.handle_register(t0, &req, src, &accounts());
        assert_eq!(out.response.status, 401);
        assert!(
            out.response
                .headers
                .get("WWW-Authenticate")
                .is_some_and(|c| c.starts_with("Digest realm=\"ugyelet\"")),
            "{:?}",
            out.response
        );
        assert_eq!(out.auth, AuthNote::Clean, "nothing was checked");
    }
    // A phone sending the unknown scheme first and Digest after: the Digest is checked.
    let first = p.request("Contact: <sip:op1@10.0.0.5:5060>\r\n");
    let ch = reg.handle_register(t0, &first, src, &accounts()).response;
    let ch = ch.headers.get("WWW-Authenticate").expect("challenge");
    let at = ch.find("nonce=\"").expect("nonce") + 7;
    p.nonce = Some(ch[at..at + 52].to_owned());
    let mut req = p.request("Contact: <sip:op1@10.0.0.5:5060>\r\n");
    let digest = req
        .headers
        .get("Authorization")
        .expect("digest credentials")
        .to_owned();
    req.headers.remove("Authorization");
    req.headers
        .push("Authorization", "NoOneKnowsThisScheme opaque-data=here");
    req.headers.push("Authorization", digest);
    let out = reg.handle_register(t0, &req, src, &accounts());
    assert_eq!(out.response.status, 200, "{:?}", out.response);
    assert!(reg.is_registered("op1"));
}

#[test]
fn wrong_password_is_a_failed_check_and_the_block_after_it_is_throttled() {
    let t0 = crate::clock::test_epoch();
    let mut reg = registrar(t0);
    let mut p = Phone::new("op1", "nem-ez");
    let src = udp("203.0.113.8:40000");
    let mut notes = Vec::new();
    for _ in 0..7 {
        let req = p.request("Contact: <sip:op1@10.0.0.5:5060>\r\n");
        let out = reg.handle_register(t0, &req, src, &accounts());
        notes.push(out.auth.clone());
        if let Some(ch) = out.response.headers.get("WWW-Authenticate") {
            let at = ch.find("nonce=\"").expect("nonce") + 7;
            p.nonce = Some(ch[at..at + 52].to_owned());
            p.nc = 0;
        }
    }
    // No credentials yet, five wrong answers (the default limit), then refused unchecked.
    use AuthNote::*;
    assert_eq!(
        notes,
        [Clean, Failed, Failed, Failed, Failed, Failed, Throttled]
    );
}

#[test]
fn a_binding_over_tls_is_kept_alive_with_crlf_and_lost_with_its_connection() {
    let t0 = crate::clock::test_epoch();
    let mut reg = registrar(t0);
    let mut e = Phone::new("tele1", "jelszo-t1");
    let tls = Source {
        addr: "203.0.113.9:50001".parse().expect("addr"),
        transport: Transport::Tls(43),
    };
    assert_eq!(
        e.register(
            &mut reg,
            t0,
            tls,
            "Contact: <sip:tele1@10.0.0.7;transport=tls>\r\n"
        )
        .status,
        200
    );
    let _ = events(&mut reg);
    // Kept alive like TCP: a CRLF on the connection, every keepalive_tcp (90 s).
    let now = reg.poll_timeout().expect("a keep-alive is due");
    assert_eq!(now, t0 + Duration::from_secs(90));
    reg.handle_timeout(now);
    let k = reg.poll_keepalive().expect("keep-alive");
    assert_eq!((k.kind, k.target), (KeepAliveKind::Crlf, tls));
    // The INVITE goes where the REGISTER came from: this connection.
    assert_eq!(
        reg.lookup("tele1").next().expect("bound").source.transport,
        Transport::Tls(43)
    );
    // A TCP connection with another id leaves it; its own closing drops it.
    reg.handle_connection_closed(now, 42);
    assert!(reg.is_registered("tele1"));
    reg.handle_connection_closed(now, 43);
    assert!(!reg.is_registered("tele1"));
}

/// `tele1` with `require_secure`, as an operators file would say.
struct SecureTele1(HashMap<String, Credentials>);

impl CredentialStore for SecureTele1 {
    fn credentials(&self, username: &str) -> Option<&Credentials> {
        self.0.get(username)
    }
    fn requires_secure(&self, username: &str) -> bool {
        username == "tele1"
    }
}

#[test]
fn a_require_secure_account_is_refused_over_udp_only_after_it_authenticates() {
    let t0 = crate::clock::test_epoch();
    let mut reg = registrar(t0);
    let store = SecureTele1(accounts());
    let src = udp("203.0.113.7:40000");
    let contact = "Contact: <sip:tele1@10.0.0.7:5060>\r\n";
    // Without credentials it gets the challenge everyone gets, a made-up name included:
    // nothing tells a scanner that the account exists or that it needs TLS.
    let mut p = Phone::new("tele1", "jelszo-t1");
    let first = reg.handle_register(t0, &p.request(contact), src, &store);
    let mut stranger = Phone::new("nincsilyen", "x");
    let other = reg.handle_register(t0, &stranger.request(contact), src, &store);
    assert_eq!((first.response.status, other.response.status), (401, 401));
    assert_eq!(first.response.headers.get("Warning"), None);
    // With the right password over UDP: 403, and the Warning says why.
    let ch = first
        .response
        .headers
        .get("WWW-Authenticate")
        .expect("challenge");
    let at = ch.find("nonce=\"").expect("nonce") + 7;
    p.nonce = Some(ch[at..at + 52].to_owned());
    let out = reg.handle_register(t0, &p.request(contact), src, &store);
    assert_eq!(out.response.status, 403);
    assert_eq!(
        out.response.headers.get("Warning"),
        Some(format!("399 ugyelet \"{}\"", REGISTER_WARNING).as_str())
    );
    assert_eq!(
        out.error,
        Some(RegisterError::NotSecure { transport: "UDP" })
    );
    assert!(!reg.is_registered("tele1"));
    // Over TLS the same phone registers; op1 (no require_secure) over UDP as ever.
    let tls = Source {
        addr: "203.0.113.7:40001".parse().expect("addr"),
        transport: Transport::Tls(7),
    };
    let mut p = Phone::new("tele1", "jelszo-t1");
    let first = reg.handle_register(t0, &p.request(contact), tls, &store);
    let ch = first
        .response
        .headers
        .get("WWW-Authenticate")
        .expect("challenge");
    let at = ch.find("nonce=\"").expect("nonce") + 7;
    p.nonce = Some(ch[at..at + 52].to_owned());
    let out = reg.handle_register(t0, &p.request(contact), tls, &store);
    assert_eq!(out.response.status, 200, "{:?}", out.response);
    assert!(reg.is_registered("tele1"));
    let mut op1 = Phone::new("op1", "jelszo-1");
    assert_eq!(
        op1.register(
            &mut reg,
            t0,
            udp("203.0.113.8:40000"),
            contact.replace("tele1", "op1").as_str()
        )
        .status,
        200
    );
}
