use super::*;
use crate::sip::auth::{Algorithm, ha1};

const FILE: &str = "operators.toml";

fn creds(name: &str, pw: &str) -> Credentials {
    Credentials::from_password(name, "ugyelet", pw)
}

fn account(name: &str, location: &str) -> String {
    let c = creds(name, "titok");
    format!(
        "[[operator]]\nname = \"{name}\"\nlocation = \"{location}\"\nha1_md5 = \"{}\"\nha1_sha256 = \"{}\"\n",
        c.ha1_md5.expect("md5"),
        c.ha1_sha256.expect("sha256")
    )
}

#[test]
fn parses_accounts_into_specs_and_credentials() {
    let text = format!(
        "{}\n{}queues = [\"operators\"]\ndisplay = \"Tele Péter\"\n",
        account("anna", "on_site"),
        account("tele.peter", "remote")
    );
    let ops = Operators::parse(&text, FILE).expect("valid");
    assert_eq!(ops.len(), 2);
    assert_eq!(
        ops.specs(),
        vec![
            AgentSpec {
                name: "anna".into(),
                location: Location::OnSite,
                queues: vec![]
            },
            AgentSpec {
                name: "tele.peter".into(),
                location: Location::Remote,
                queues: vec!["operators".into()]
            },
        ]
    );
    let c = ops.credentials("anna").expect("account");
    assert_eq!(
        c.ha1(Algorithm::Md5),
        Some(ha1(Algorithm::Md5, "anna", "ugyelet", "titok").as_str())
    );
    assert_eq!(
        ops.get("tele.peter").and_then(|o| o.display.as_deref()),
        Some("Tele Péter")
    );
    assert!(ops.credentials("nobody").is_none());
}

#[test]
fn empty_file_and_comments_only_mean_no_operators() {
    assert!(Operators::parse("", FILE).expect("valid").is_empty());
    assert!(
        Operators::parse("# [[operator]]\n# name = \"anna\"\n", FILE)
            .expect("valid")
            .is_empty()
    );
}

#[test]
fn errors_name_file_line_and_column_with_expected_and_found() {
    let text = "\
[[operator]]
name = \"Anna\"
ha1_md5 = \"abc\"

[[operator]]
name = \"bela\"
location = \"office\"
ha1_sha256 = \"zz00000000000000000000000000000000000000000000000000000000000000\"

[[operator]]
name = \"cili\"

[[operator]]
name = \"bela\"
ha1_md5 = \"0123456789abcdef0123456789ABCDEF\"
";
    let errors = Operators::parse(text, FILE).expect_err("invalid");
    assert_eq!(
        errors,
        vec![
            "operators.toml:2:8: expected a user name of a-z, 0-9, '.', '_' and '-', found \"Anna\"",
            "operators.toml:3:11: expected 32 hex digits (MD5 HA1), found 3 characters",
            "operators.toml:7:12: expected \"on_site\" or \"remote\", found \"office\"",
            "operators.toml:8:14: expected 64 hex digits (SHA-256 HA1), found the character 'z'",
            "operators.toml:10:1: expected ha1_md5 or ha1_sha256 for operator \"cili\", found neither (set a password with `ugyelet passwd cili`)",
            "operators.toml:14:8: expected a unique name, found \"bela\" again (first on line 6)",
        ]
    );
}

#[test]
fn toml_syntax_and_unknown_keys_are_reported_with_their_location() {
    let errors = Operators::parse("[[operator]]\nname = \"anna\"\npassword = \"x\"\n", FILE)
        .expect_err("unknown key");
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with("operators.toml:3:1: unknown field `password`"),
        "{errors:?}"
    );
    let errors = Operators::parse("[[operator]\n", FILE).expect_err("syntax");
    assert!(errors[0].starts_with("operators.toml:1:"), "{errors:?}");
}

#[test]
fn upsert_adds_a_new_account_below_the_comments_of_a_fresh_file() {
    let text = "# Operator accounts.\n# realm must equal [sip] realm\n";
    let c = creds("anna", "jelszo");
    let (out, how) = upsert(
        text,
        FILE,
        &Update {
            name: "anna",
            display: Some("Kovács Anna"),
            location: None,
            role: None,
            credentials: &c,
        },
    )
    .expect("edits");
    assert_eq!(how, Upserted::Added);
    assert!(out.starts_with(text), "{out}");
    let ops = Operators::parse(&out, FILE).expect("valid");
    let anna = ops.get("anna").expect("added");
    assert_eq!(anna.credentials, c);
    assert_eq!(anna.location, Location::OnSite);
    assert_eq!(anna.display.as_deref(), Some("Kovács Anna"));
}

#[test]
fn upsert_updates_an_existing_account_and_keeps_comments_and_other_accounts() {
    let text = format!(
        "# header comment\n\n{}\n# about bela\n{}queues = [\"operators\"] # evenings only\n",
        account("anna", "on_site"),
        account("bela", "on_site")
    );
    let new = creds("bela", "uj-jelszo");
    let (out, how) = upsert(
        &text,
        FILE,
        &Update {
            name: "bela",
            display: None,
            location: Some(Location::Remote),
            role: None,
            credentials: &new,
        },
    )
    .expect("edits");
    assert_eq!(how, Upserted::Updated);
    for kept in [
        "# header comment",
        "# about bela",
        "# evenings only",
        &account("anna", "on_site"),
    ] {
        assert!(out.contains(kept), "lost {kept:?} in:\n{out}");
    }
    let ops = Operators::parse(&out, FILE).expect("valid");
    let bela = ops.get("bela").expect("kept");
    assert_eq!(bela.credentials, new);
    assert_eq!(bela.location, Location::Remote);
    assert_eq!(bela.queues, vec!["operators".to_owned()]);
    assert_eq!(ops.len(), 2);
    // Only bela's HA1s and location changed.
    let changed: Vec<&str> = text
        .lines()
        .zip(out.lines())
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a.split(" =").next().unwrap_or(a))
        .collect();
    assert_eq!(changed, vec!["location", "ha1_md5", "ha1_sha256"]);
    assert_eq!(text.lines().count(), out.lines().count());
}

#[test]
fn upsert_refuses_a_bad_name_and_a_broken_file() {
    let c = creds("x", "y");
    let u = |name| Update {
        name,
        display: None,
        location: None,
        role: None,
        credentials: &c,
    };
    assert_eq!(
        upsert("", FILE, &u("Anna")).expect_err("bad name"),
        vec!["expected a user name of a-z, 0-9, '.', '_' and '-', found \"Anna\""]
    );
    let errors = upsert("[[operator]]\nname = \"anna\"\n", FILE, &u("bela")).expect_err("broken");
    assert!(
        errors[0].starts_with("operators.toml:1:1: expected ha1_md5"),
        "{errors:?}"
    );
}

#[test]
fn shipped_operators_file_is_valid_and_has_no_accounts() {
    let text = include_str!("../../config/operators.toml");
    let ops = Operators::parse(text, "config/operators.toml").expect("valid");
    assert!(ops.is_empty(), "the repository ships no real accounts");
}

#[test]
fn role_defaults_to_operator_and_a_wrong_one_is_reported_with_its_location() {
    let text = format!(
        "{}role = \"admin\"\n\n{}",
        account("anna", "on_site"),
        account("bela", "remote")
    );
    let ops = Operators::parse(&text, FILE).expect("valid");
    assert_eq!(ops.get("anna").map(|o| o.role), Some(Role::Admin));
    assert_eq!(ops.get("bela").map(|o| o.role), Some(Role::Operator));
    let text = format!("{}role = \"boss\"\n", account("anna", "on_site"));
    assert_eq!(
        Operators::parse(&text, FILE).expect_err("invalid"),
        vec!["operators.toml:6:8: expected \"operator\" or \"admin\", found \"boss\""]
    );
}

/// An operators file with one account, written by the code `ugyelet passwd` runs.
fn file_with(name: &str, password: &str, role: Option<Role>) -> String {
    let c = Credentials::from_password(name, "budaors", password);
    let u = Update {
        name,
        display: None,
        location: None,
        role,
        credentials: &c,
    };
    upsert("", FILE, &u).expect("written").0
}

#[test]
fn the_right_password_logs_in_and_a_wrong_one_an_unknown_name_or_realm_do_not() {
    let ops = Operators::parse(
        &file_with("anna", "Titkos-jelszó-1", Some(Role::Admin)),
        FILE,
    )
    .expect("valid");
    let anna = ops
        .verify_password("anna", "budaors", "Titkos-jelszó-1")
        .expect("right password");
    assert_eq!((anna.name.as_str(), anna.role), ("anna", Role::Admin));
    assert!(
        ops.verify_password("anna", "budaors", "titkos-jelszó-1")
            .is_none()
    );
    assert!(ops.verify_password("anna", "budaors", "").is_none());
    assert!(
        ops.verify_password("anna", "ugyelet", "Titkos-jelszó-1")
            .is_none(),
        "the HA1s belong to the realm they were made with"
    );
    assert!(
        ops.verify_password("bela", "budaors", "Titkos-jelszó-1")
            .is_none()
    );
}

#[test]
fn an_account_with_one_digest_is_checked_against_it_and_every_digest_must_match() {
    let md5_only = |name: &str, pw: &str| {
        let c = Credentials::from_password(name, "budaors", pw);
        format!(
            "[[operator]]\nname = \"{name}\"\nha1_md5 = \"{}\"\n",
            c.ha1_md5.expect("md5")
        )
    };
    let ops = Operators::parse(&md5_only("anna", "jelszo"), FILE).expect("valid");
    assert!(ops.verify_password("anna", "budaors", "jelszo").is_some());
    assert!(ops.verify_password("anna", "budaors", "masik").is_none());
    // A hand-edited file whose SHA-256 digest is still the old password's.
    let old = Credentials::from_password("anna", "budaors", "regi");
    let text = format!(
        "{}ha1_sha256 = \"{}\"\n",
        md5_only("anna", "uj"),
        old.ha1_sha256.expect("sha256")
    );
    let ops = Operators::parse(&text, FILE).expect("valid");
    assert!(ops.verify_password("anna", "budaors", "uj").is_none());
    assert!(ops.verify_password("anna", "budaors", "regi").is_none());
}

#[test]
fn upsert_writes_the_role_and_a_password_reset_without_one_keeps_it() {
    let text = file_with("anna", "elso", Some(Role::Admin));
    assert!(text.contains("role = \"admin\""), "{text}");
    let c = Credentials::from_password("anna", "budaors", "masodik");
    let reset = Update {
        name: "anna",
        display: None,
        location: None,
        role: None,
        credentials: &c,
    };
    let (text, _) = upsert(&text, FILE, &reset).expect("reset");
    let ops = Operators::parse(&text, FILE).expect("valid");
    let anna = ops
        .verify_password("anna", "budaors", "masodik")
        .expect("new password");
    assert_eq!(anna.role, Role::Admin, "the role is kept");
    let demote = Update {
        role: Some(Role::Operator),
        ..reset
    };
    let (text, _) = upsert(&text, FILE, &demote).expect("demote");
    let ops = Operators::parse(&text, FILE).expect("valid");
    assert_eq!(ops.get("anna").map(|o| o.role), Some(Role::Operator));
    assert_eq!(text.matches("role =").count(), 1, "{text}");
    // A new account without a role gets none written: operator by default.
    let plain = file_with("bela", "x", None);
    assert!(!plain.contains("role"), "{plain}");
}
